#!/usr/bin/env python3
"""Old-vs-new A/B of prefill kernels in one device run (a refactor proves
itself here): for every kernel staged in both DIR_A and DIR_B whose cubins
differ, both versions are checked against float64 on the same fresh inputs
(device_bench.check: outputs poisoned, bound 2x torch flash's error) and the
bench_* ones are timed alternately A, B, A, B on the same inputs (median of
triton do_bench each; the smaller median of each side counts), next to torch
SDPA flash and cuDNN. Kernels whose cubins are byte-identical are listed and
skipped: they are the same machine code.

Each side loads its kernels through its own runtime library, so manifests of
two schema versions can be compared.

Usage: ab_bench.py --lib-a A.so --kernels-a DIR_A --lib-b B.so --kernels-b DIR_B
                   --out DIR [--match REGEX]
"""
import argparse
import filecmp
import glob
import json
import os
import re
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode_bench import is_decode  # noqa: E402
from device_bench import Launcher, Runtime, check, make_inputs, parse_flags  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-a", required=True)
    ap.add_argument("--kernels-a", required=True)
    ap.add_argument("--lib-b", required=True)
    ap.add_argument("--kernels-b", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--match", default=None)
    args = ap.parse_args()
    from triton.testing import do_bench
    torch.manual_seed(0)
    rt_a, rt_b = Runtime(args.lib_a), Runtime(args.lib_b)
    dev = torch.cuda.get_device_name()
    print("device:", dev, "torch", torch.__version__, flush=True)

    def names(d):
        return {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(d, "*.json"))}

    common = sorted(n for n in names(args.kernels_a) & names(args.kernels_b)
                    if not is_decode(n) and (not args.match or re.search(args.match, n)))
    cubin = lambda d, n: os.path.join(d, n + ".sm_90.cubin")
    same = [n for n in common if filecmp.cmp(cubin(args.kernels_a, n), cubin(args.kernels_b, n), shallow=False)]
    changed = [n for n in common if n not in same]
    print(f"{len(common)} prefill kernels in both; {len(same)} byte-identical cubins, "
          f"{len(changed)} changed", flush=True)

    checks, rows = [], []
    bench = lambda fn: do_bench(fn, warmup=25, rep=100, return_mode="median")
    for n in changed:
        spec = parse_flags(open(os.path.join(args.kernels_b, n + ".flags")).read())
        res_a, res_b = [], []
        h_a, ok_a = check(rt_a, n, args.kernels_a, spec, res_a)
        h_b, ok_b = check(rt_b, n, args.kernels_b, spec, res_b)
        checks.append(dict(name=n, a=res_a[0], b=res_b[0]))
        if not n.startswith("bench_") or not (ok_a and ok_b):
            continue
        q, k, v = make_inputs(spec)
        o_a, o_b = torch.empty_like(q), torch.empty_like(q)
        la = Launcher(rt_a, h_a, [q, k, v, o_a])
        lb = Launcher(rt_b, h_b, [q, k, v, o_b])
        ta, tb = [], []
        for _ in range(2):
            ta.append(bench(la))
            tb.append(bench(lb))
        causal = spec["mask"] != "none"
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            t_flash = bench(lambda: F.scaled_dot_product_attention(
                q, k, v, is_causal=causal, enable_gqa=spec["hq"] != spec["hkv"]))
        same_out = bool(torch.equal(o_a, o_b))
        flops = 4 * spec["batch"] * spec["hq"] * spec["lq"] * spec["lk"] * spec["d"] * (0.5 if causal else 1)
        row = dict(name=n, ms_a=min(ta), ms_b=min(tb), ms_a_runs=ta, ms_b_runs=tb,
                   b_over_a=min(tb) / min(ta), tflops_b=flops / min(tb) / 1e9,
                   ms_flash=t_flash, b_vs_flash=t_flash / min(tb), identical_output=same_out)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del q, k, v, o_a, o_b
        torch.cuda.empty_cache()

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "ab.json"), "w") as f:
        json.dump(dict(device=dev, torch=torch.__version__, identical=same,
                       checks=checks, rows=rows), f, indent=1)
    print(f"\n| kernel | A ms | B ms | B/A | B TFLOP/s | B x flash | same O |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['ms_a']:.3f} | {r['ms_b']:.3f} | {r['b_over_a']:.3f} | "
              f"{r['tflops_b']:.0f} | {r['b_vs_flash']:.2f} | {r['identical_output']} |")
    bad = [c["name"] for c in checks if not (c["a"]["ok"] and c["b"]["ok"])]
    print("A/B FAILED CHECKS:", bad if bad else "none")
    worst = max((r["b_over_a"] for r in rows), default=1.0)
    print(f"worst B/A time ratio: {worst:.3f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
