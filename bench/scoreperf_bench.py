#!/usr/bin/env python3
"""Score operands, old vs new (issue #15, staged bias/mask tiles and mask_mod
block classification), in one device call (bench/scoreperf_run.sh).

1. float64 checks of the new kernels' check_op_* (operand_bench.check).
2. Per bench_op_* shape: old and new kernels on the same inputs (outputs
   compared), timed alternately (new, old, new, old; each the median of
   triton's do_bench), then SDPA with the attn_mask the shape implies.
3. FlexAttention (torch.compile) last, shape by shape, while the time budget
   lasts: each shape is a fresh compile.
Every step rewrites OUT/scoreperf.json, so a run cut short still reports.

Usage: scoreperf_bench.py --lib LIB --new DIR --old DIR --out DIR [--budget S]
"""
import argparse
import glob
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decode_bench as db  # noqa: E402
import operand_bench as ob  # noqa: E402

# Shapes in the order FlexAttention is compiled for (new shapes first).
ORDER = ["maskmod_window", "maskmod_document", "bias_l4096_causal", "maskmod_l4096_none",
         "bias_l4096_none", "maskmod_l4096_causal"]


def rank(name):
    for i, key in enumerate(ORDER):
        if key in name:
            return i
    return len(ORDER)


def sdpa_mask(pool, flags, keep):
    causal = flags["mask"] != "none"
    if "bias" in pool:
        return pool["bias"].masked_fill(~keep, float("-inf")) if causal else pool["bias"]
    if flags["mask_mod"] != "none":
        return keep
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--old", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=75.0,
                    help="seconds after which no FlexAttention compile starts")
    args = ap.parse_args()
    t0 = time.time()
    from triton.testing import do_bench
    from device_bench import Runtime
    torch.manual_seed(0)
    rt = Runtime(args.lib)
    report = dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, checks=[], rows=[])
    out = os.path.join(args.out, "scoreperf.json")

    def save():
        report["elapsed_s"] = round(time.time() - t0, 1)
        with open(out, "w") as f:
            json.dump(report, f, indent=1)

    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(args.new, "*.json")))
    for n in [n for n in names if n.startswith("check_op_")]:
        try:
            ob.check(rt, args.new, n, report["checks"])
        except Exception as e:  # report, never hide
            report["checks"].append(dict(name=n, ok=False, error=str(e)[:300]))
            print(f"check {n} ERROR {e}", flush=True)
    save()
    bad = [c["name"] for c in report["checks"] if not c["ok"]]
    print("FAILED CHECKS:", bad if bad else "none", f"({time.time() - t0:.0f} s)", flush=True)
    if bad:
        return 1

    bench = lambda fn: do_bench(fn, warmup=25, rep=100, return_mode="median")  # noqa: E731
    timed = sorted((n for n in names if n.startswith("bench_op_")), key=rank)
    pools = {}
    for name in timed:
        margs = db.load_manifest(args.new, name)
        flags = ob.harness_flags(args.new, name)
        pool = ob.make_pool(margs)
        new = db.ArgLauncher(rt, ob.load(rt, args.new, name), margs, pool)
        row = dict(shape=name, mask=flags["mask"], mask_mod=flags["mask_mod"], bias="bias" in pool)
        have_old = os.path.exists(os.path.join(args.old, name + ".json"))
        if have_old:
            old = db.ArgLauncher(rt, ob.load(rt, args.old, name), db.load_manifest(args.old, name), pool)
            old()
            torch.cuda.synchronize()
            o_old = pool["o"].clone()
        new()
        torch.cuda.synchronize()
        if have_old:
            row["max_abs_diff_new_old"] = (pool["o"].float() - o_old.float()).abs().max().item()
            del o_old
        t_new, t_old = [], []
        for _ in range(2):
            t_new.append(bench(new))
            if have_old:
                t_old.append(bench(old))
        row["ms_new"] = min(t_new)
        if t_old:
            row["ms_old"] = min(t_old)
            row["old_over_new"] = row["ms_old"] / row["ms_new"]
        q, k, v = pool["q"], pool["k"], pool["v"]
        keep = ob.keep_by_position(flags, q.shape[2], k.shape[2], q.device)
        mask = sdpa_mask(pool, flags, keep)
        try:
            row["ms_sdpa"] = bench(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
            row["sdpa_over_new"] = row["ms_sdpa"] / row["ms_new"]
        except RuntimeError as e:
            row["sdpa_error"] = str(e)[:200]
        del mask, keep
        print(json.dumps(row), flush=True)
        report["rows"].append(row)
        pools[name] = (pool, flags)
        save()
        torch.cuda.empty_cache()

    from torch import _dynamo
    _dynamo.config.cache_size_limit = 1000
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = torch.compile(flex_attention)
    for row in report["rows"]:
        if time.time() - t0 > args.budget:
            row["flex_skipped"] = "time budget"
            continue
        pool, flags = pools[row["shape"]]
        q, k, v = pool["q"], pool["k"], pool["v"]
        lq, lk = q.shape[2], k.shape[2]
        causal = flags["mask"] != "none"
        try:
            def mask_mod(bb, hh, qi, ki):
                vis = ki <= qi + (lk - lq) if causal else ki >= 0
                if flags["mask_mod"] != "none":
                    vis = vis & ob.mask_mod_keep(flags["mask_mod"], qi, ki)
                return vis
            block = None
            if causal or flags["mask_mod"] != "none":
                block = create_block_mask(mask_mod, None, None, lq, lk, device="cuda")
            score_mod = None
            if "bias" in pool:
                bias = pool["bias"]

                def score_mod(score, bb, hh, qi, ki):
                    return score + bias[bb, hh, qi, ki]
            fn = lambda: flex(q, k, v, score_mod=score_mod, block_mask=block)  # noqa: E731
            fn()
            row["ms_flex"] = bench(fn)
            row["flex_over_new"] = row["ms_flex"] / row["ms_new"]
        except Exception as e:  # report, never hide
            row["flex_error"] = str(e)[:200]
        print(json.dumps(row), flush=True)
        save()
    fmt = lambda r, k: f"{r[k]:.3f}" if k in r else "-"  # noqa: E731
    lines = ["| shape | mask | mask_mod | bias | new ms | old ms | old/new | SDPA ms | flex ms | new vs old max diff |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['shape']} | {r['mask']} | {r['mask_mod']} | {r['bias']} | {fmt(r, 'ms_new')} | "
                     f"{fmt(r, 'ms_old')} | {fmt(r, 'old_over_new')} | {fmt(r, 'ms_sdpa')} | "
                     f"{fmt(r, 'ms_flex')} | {r.get('max_abs_diff_new_old', '-')} |")
    report["table"] = lines
    save()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
