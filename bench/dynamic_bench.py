#!/usr/bin/env python3
"""Runtime lengths (issue #15): ONE prefill kernel compiled with dynamic B,
Lq and Lk (--dynamic=batch,seq-q,seq-k; causal, GQA 32/8, D = 128) serves 10
random (B, Lq, Lk) draws, and ONE decode kernel with a dynamic Lk
(--dynamic=seq-k; one query, GQA 32/8, D = 128, B = 4) 10 random Lk, each
checked against float64 as device_bench's checks are (same reference, same
bounds); then each dynamic kernel is timed against the static kernels of two
shapes (target: within 3%).

Kernels come from bench/prepare.sh (the dynamic/ folder):
  dyn_prefill_lse  dynamic B, Lq, Lk with LSE (the checks)
  dyn_prefill      the same without LSE (timing, as the bench_* kernels)
  dyn_decode_lse   dynamic Lk, with LSE (the checks)
  dyn_decode       the same without LSE (timing)
  dynref_<tag>     static kernels of the timed shapes, same options
Run by device_run.sh; alone:
  python3 .device/dynamic_bench.py --lib /tmp/rt/lib/libAttnRuntimeC.so \
      --kernels .device/dynamic --out /tmp/out
"""

import argparse
import json
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from device_bench import Launcher, Runtime, bench, check, parse_flags  # noqa: E402

# (dynamic kernel, static kernel, B, Lq, Lk) of the timed shapes: a bench
# shape (BENCHMARKS.md: B * L = 16k) and one with tails; three decode caches
# (the dynamic kernel's split count is planned for 4096 keys: 32k shows
# what that costs a long context).
TIMED = [("dyn_prefill", "dynref_b4_l4096", 4, 4096, 4096),
         ("dyn_prefill", "dynref_b2_l1500", 2, 1500, 1500),
         ("dyn_decode", "dynref_decode_b4_l4096", 4, 1, 4096),
         ("dyn_decode", "dynref_decode_b4_l1000", 4, 1, 1000),
         ("dyn_decode", "dynref_decode_b4_l32768", 4, 1, 32768)]


def draws(n, seed=15):
    """(B, Lq, Lk): lengths off the 128/64 tiles, Lq != Lk, Lq > Lk too."""
    rng = random.Random(seed)
    out = [(1, 1, 1), (2, 129, 1000), (3, 1000, 129)]
    while len(out) < n:
        b = rng.randint(1, 4)
        lq, lk = rng.randint(1, 2500), rng.randint(1, 2500)
        if lq % 64 == 0 or lk % 64 == 0 or lq == lk:
            continue
        out.append((b, lq, lk))
    return out


def decode_draws(n, seed=16):
    """Lk of a growing cache: 1, a subtile tail, long and short ones."""
    rng = random.Random(seed)
    out = [1, 17, 4097]
    while len(out) < n:
        lk = rng.randint(2, 20000)
        if lk % 16:
            out.append(lk)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from triton.testing import do_bench
    torch.manual_seed(0)
    rt = Runtime(args.lib)
    kdir = args.kernels
    flags = open(os.path.join(kdir, "dyn_prefill_lse.flags")).read()
    base = parse_flags(flags)
    print(f"dynamic prefill kernel: {flags.strip()}", flush=True)
    results = []
    for b, lq, lk in draws(10):
        spec = dict(base, batch=b, lq=lq, lk=lk)
        check(rt, "dyn_prefill_lse", kdir, spec, results)
        results[-1].update(batch=b, lq=lq, lk=lk)
    if os.path.exists(os.path.join(kdir, "dyn_decode_lse.json")):
        flags = open(os.path.join(kdir, "dyn_decode_lse.flags")).read()
        base = parse_flags(flags)
        print(f"dynamic decode kernel: {flags.strip()}", flush=True)
        for lk in decode_draws(10):
            spec = dict(base, lk=lk)
            check(rt, "dyn_decode_lse", kdir, spec, results)
            results[-1].update(batch=spec["batch"], lq=spec["lq"], lk=lk)

    timings = []
    for dyn_name, name, b, lq, lk in TIMED:
        if not os.path.exists(os.path.join(kdir, dyn_name + ".json")):
            continue
        tag = name[len("dynref_"):]
        dyn = rt.load(os.path.join(kdir, dyn_name + ".sm_90.cubin"),
                      os.path.join(kdir, dyn_name + ".json"))
        spec = parse_flags(open(os.path.join(kdir, name + ".flags")).read())
        static = rt.load(os.path.join(kdir, name + ".sm_90.cubin"),
                         os.path.join(kdir, name + ".json"))
        dt = torch.bfloat16
        q = torch.randn(b, spec["hq"], lq, spec["d"], device="cuda", dtype=dt)
        k = torch.randn(b, spec["hkv"], lk, spec["d"], device="cuda", dtype=dt)
        v = torch.randn(b, spec["hkv"], lk, spec["d"], device="cuda", dtype=dt)
        o_static, o_dyn = torch.empty_like(q), torch.empty_like(q)
        run_static = Launcher(rt, static, [q, k, v, o_static])
        run_dyn = Launcher(rt, dyn, [q, k, v, o_dyn])
        # Alternate to share clocks and thermals; best of three each.
        ts, td = [], []
        for _ in range(3):
            ts.append(bench(run_static, do_bench))
            td.append(bench(run_dyn, do_bench))
        torch.cuda.synchronize()
        same = torch.equal(o_static, o_dyn)
        t_s, t_d = min(ts), min(td)
        ratio = t_d / t_s
        timings.append(dict(shape=tag, static_ms=t_s, dynamic_ms=t_d,
                            ratio=ratio, within_3pct=ratio <= 1.03,
                            bitwise_equal=same))
        print(f"time {tag:10s} static {t_s:.4f} ms dynamic {t_d:.4f} ms "
              f"ratio {ratio:.3f} {'OK' if ratio <= 1.03 else 'SLOWER'} "
              f"outputs {'bitwise equal' if same else 'DIFFER'}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "dynamic_lengths.json"), "w") as f:
        json.dump(dict(checks=results, timings=timings), f, indent=1)
    bad = [r for r in results if not r["ok"]]
    print(f"DYNAMIC LENGTHS: {len(results) - len(bad)}/{len(results)} checks OK; "
          f"timing within 3%: {sum(t['within_3pct'] for t in timings)}/{len(timings)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
