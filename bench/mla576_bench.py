#!/usr/bin/env python3
"""The latent (MLA) decode kernel on the device (issue #15, branch mla576):
576/512 rows over one shared paged K/V cache (V = the first 512 columns of
K's rows), Hq query heads over the one latent head.

1. float64 checks: every check_decode_shared_* kernel through
   decode_bench.check_one (fresh random inputs, NaN-poisoned outputs,
   shuffled pages, ragged key lengths, an empty sequence where the name says
   "zero").
2. Timing: each mla_b<B>_l<L>_h<H> kernel (its lengths full) against torch
   SDPA's efficient backend on the same shape (flash and cuDNN refuse D >
   256), heads folded into the query rows and K/V materialized as
   mla_decode_torch.py does, both through decode_bench.time_rotated over
   enough input sets that each side's working set is >= 3x L2. Bandwidth:
   the bytes a shared-cache kernel must read (the cache once + q + o) per
   time, against the device copy bandwidth measured in the same call.

Usage: mla576_bench.py --lib libAttnRuntimeC.so --kernels DIR --out DIR
Writes <out>/mla576.{json,md}.
"""
import argparse
import json
import math
import os
import re
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decode_bench as db  # noqa: E402
from device_bench import Runtime  # noqa: E402
from mla_decode_torch import copy_tbps  # noqa: E402

TIMED = re.compile(r"^mla_b(\d+)_l(\d+)_h(\d+)$")


def sets_for(bytes_per_set, l2):
    return max(1, min(48, math.ceil(3 * l2 / max(1, bytes_per_set))))


def time_ours(rt, name, kdir, spec, l2):
    margs = db.load_manifest(kdir, name)
    handle = rt.load(os.path.join(kdir, name + ".sm_90.cubin"), os.path.join(kdir, name + ".json"))
    lens = [spec["lk"]] * spec["batch"]
    cache_bytes = spec["batch"] * spec["lk"] * spec["d"] * 2
    fns = []
    for _ in range(sets_for(cache_bytes, l2)):
        t, _, _ = db.make_set(spec, margs, lens, dense=False)
        fns.append(db.ArgLauncher(rt, handle, margs, t))
    r = db.time_rotated(fns)
    return r


def time_torch(spec, l2):
    b, h, lk, d, dv = spec["batch"], spec["hq"], spec["lk"], spec["d"], spec["dv"]
    scale = 1.0 / math.sqrt(d)
    per_set = b * lk * (d + dv) * 2
    fns = []
    for _ in range(sets_for(per_set, l2)):
        kv = torch.randn(b, 1, lk, d, device="cuda", dtype=torch.bfloat16)
        v = kv[..., :dv].contiguous()
        q = torch.randn(b, 1, h, d, device="cuda", dtype=torch.bfloat16)

        def fn(q=q, kv=kv, v=v):
            with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
                return F.scaled_dot_product_attention(q, kv, v, scale=scale)
        fns.append(fn)
    return db.time_rotated(fns)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    rt = Runtime(args.lib)
    kdir = args.kernels
    names = sorted(f[:-5] for f in os.listdir(kdir) if f.endswith(".json"))
    specs = {n: db.parse_flags(open(os.path.join(kdir, n + ".flags")).read()) for n in names}
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 0) or 60 * 2**20
    checks = []
    for n in names:
        if not n.startswith("check_decode_shared"):
            continue
        try:
            margs = db.load_manifest(kdir, n)
            handle = rt.load(os.path.join(kdir, n + ".sm_90.cubin"), os.path.join(kdir, n + ".json"))
            for ragged in (False, True):
                checks.append(db.check_one(rt, n, kdir, specs[n], handle, margs, ragged))
        except Exception as e:  # report, never hide
            checks.append(dict(name=n, ok=False, error=f"{type(e).__name__}: {e}"))
            print(f"FAIL {n} ERROR {type(e).__name__}: {e}", flush=True)
        torch.cuda.empty_cache()
    ok = {c["name"] for c in checks if c.get("ok")} - {c["name"] for c in checks if not c.get("ok")}
    # The timed kernels' own check first (full and ragged lengths).
    timed = [n for n in names if TIMED.match(n)]
    for n in timed:
        try:
            margs = db.load_manifest(kdir, n)
            handle = rt.load(os.path.join(kdir, n + ".sm_90.cubin"), os.path.join(kdir, n + ".json"))
            r = db.check_one(rt, "decode_" + n, kdir, specs[n], handle, margs, True)
            r["name"] = n
            checks.append(r)
            if r["ok"]:
                ok.add(n)
        except Exception as e:
            checks.append(dict(name=n, ok=False, error=f"{type(e).__name__}: {e}"))
            print(f"FAIL {n} ERROR {type(e).__name__}: {e}", flush=True)
        torch.cuda.empty_cache()
    rows = []
    copy = copy_tbps()
    print(f"copy bandwidth {copy:.3f} TB/s", flush=True)
    if not args.skip_timing:
        for n in timed:
            spec = specs[n]
            b, h, lk, d, dv = spec["batch"], spec["hq"], spec["lk"], spec["d"], spec["dv"]
            row = dict(name=n, B=b, Lk=lk, H=h, checked=n in ok)
            flops = 2.0 * b * h * lk * (d + dv)
            shared_bytes = b * lk * d * 2 + b * h * (d + dv) * 2
            for side, fn in (("ours", lambda: time_ours(rt, n, kdir, spec, l2)),
                             ("sdpa_efficient", lambda: time_torch(spec, l2))):
                if side == "ours" and n not in ok:
                    row[side] = dict(error="not timed: failed its check")
                    continue
                try:
                    r = fn()
                    us = r["ms"] * 1e3
                    r.update(us=us, tflops=flops / (us * 1e-6) / 1e12,
                             tbps_shared_bytes=shared_bytes / (us * 1e-6) / 1e12)
                    r["pct_copy"] = 100 * r["tbps_shared_bytes"] / copy
                    row[side] = r
                except Exception as e:
                    row[side] = dict(error=f"{type(e).__name__}: {str(e)[:160]}")
                torch.cuda.empty_cache()
            if "us" in row.get("ours", {}) and "us" in row.get("sdpa_efficient", {}):
                row["speedup"] = row["sdpa_efficient"]["us"] / row["ours"]["us"]
            print(json.dumps({k: (v if not isinstance(v, dict) else
                                  {x: v.get(x) for x in ("us", "tflops", "pct_copy", "error")})
                              for k, v in row.items()}), flush=True)
            rows.append(row)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "mla576.json"), "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                       copy_tbps=copy, l2=l2, checks=checks, rows=rows), f, indent=1)
    with open(os.path.join(args.out, "mla576.md"), "w") as f:
        f.write(f"# MLA latent decode 576/512, ours vs torch SDPA efficient "
                f"({torch.cuda.get_device_name()}, torch {torch.__version__}, copy {copy:.2f} TB/s)\n\n")
        f.write("Checks vs float64: %d/%d pass\n\n" % (sum(bool(c.get("ok")) for c in checks), len(checks)))
        f.write("| B | Lk | H | ours us | TFLOP/s | % copy | sdpa eff. us | TFLOP/s | % copy | speedup |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            o, s = r.get("ours", {}), r.get("sdpa_efficient", {})

            def cell(x, k, fmt):
                return fmt % x[k] if k in x else x.get("error", "-")[:40] if k == "us" else ""
            f.write(f"| {r['B']} | {r['Lk']} | {r['H']} | {cell(o, 'us', '%.1f')} | {cell(o, 'tflops', '%.1f')} | "
                    f"{cell(o, 'pct_copy', '%.0f')} | {cell(s, 'us', '%.1f')} | {cell(s, 'tflops', '%.1f')} | "
                    f"{cell(s, 'pct_copy', '%.0f')} | {('%.2fx' % r['speedup']) if 'speedup' in r else ''} |\n")
    bad = [c["name"] for c in checks if not c.get("ok")]
    print(f"checks {len(checks) - len(bad)}/{len(checks)} pass" + (f"; failing {bad}" if bad else ""), flush=True)


if __name__ == "__main__":
    main()
