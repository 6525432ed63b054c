#!/usr/bin/env python3
"""Device-side kernel durations (CUPTI, via torch.profiler) of decode kernels
next to SDPA cuDNN/flash on the same shape: separates kernel time from launch
and event overhead, which dominate at B=1.

Usage: decode_profile.py --lib libAttnRuntimeC.so --kernels DIR NAME...
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decode_bench as db  # noqa: E402
from device_bench import Runtime  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("names", nargs="+")
    a = ap.parse_args()
    rt = Runtime(a.lib)
    runs = []
    for name in a.names:
        with open(os.path.join(a.kernels, name + ".flags")) as f:
            spec = db.parse_flags(f.read())
        margs = db.load_manifest(a.kernels, name)
        image = os.path.join(a.kernels, name + ".sm_90.cubin")
        handle = rt.load(image, os.path.join(a.kernels, name + ".json"))
        lens = [spec["lk"]] * spec["batch"]
        sets = [db.make_set(spec, margs, lens, dense=False)[0] for _ in range(4)]
        fns = [db.ArgLauncher(rt, handle, margs, s) for s in sets]
        runs.append((name, fns))
    spec = db.parse_flags(open(os.path.join(a.kernels, a.names[0] + ".flags")).read())
    b, hq, hkv, lk, d = (spec[k] for k in ("batch", "hq", "hkv", "lk", "d"))
    q = torch.randn(b, hq, 1, d, device="cuda", dtype=torch.bfloat16)
    kvs = [(torch.randn(b, hkv, lk, d, device="cuda", dtype=torch.bfloat16),
            torch.randn(b, hkv, lk, d, device="cuda", dtype=torch.bfloat16)) for _ in range(4)]
    for backend in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION):
        def call(kv, backend=backend):
            with sdpa_kernel(backend):
                F.scaled_dot_product_attention(q, kv[0], kv[1], enable_gqa=True)
        runs.append((str(backend).split(".")[-1], [lambda kv=kv, c=call: c(kv) for kv in kvs]))
    for _, fns in runs:
        for fn in fns:
            fn()
    torch.cuda.synchronize()
    from torch.profiler import profile, ProfilerActivity
    for name, fns in runs:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for i in range(a.iters):
                fns[i % len(fns)]()
            torch.cuda.synchronize()
        durs = {}
        for e in prof.events():
            if e.device_type.name == "CUDA" and e.device_time > 0:
                durs.setdefault(e.name, []).append(e.device_time)
        for k, v in durs.items():
            v.sort()
            print(f"{name:40s} {k[:60]:60s} n={len(v):3d} median {v[len(v)//2]:8.2f} us  min {v[0]:8.2f}")


if __name__ == "__main__":
    main()
