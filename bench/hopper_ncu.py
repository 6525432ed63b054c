#!/usr/bin/env python3
"""One launch of a staged hopper kernel, or of torch's cuDNN / flash SDPA
on the same shape, for Nsight Compute (issue #13's profiles).

From the repository root on the device, e.g.
  ncu --clock-control none --kernel-name attention_kernel --launch-count 1 \\
      --section SpeedOfLight --section WarpStateStats --section Occupancy \\
      python3 .device-hopper/hopper_ncu.py --kernels .device-hopper/kernels \\
      --name bench_d128_l16384_none_hov
  ncu ... --kernel-name regex:'(?i)cudnn|fmha|flash' --launch-skip 1 \\
      python3 .device-hopper/hopper_ncu.py ... --name ... --backend cudnn
The shape comes from the kernel's .flags; inputs are random (never zeros).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import device_bench as db  # noqa: E402
import hopper_bench as hb  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--backend", default="ours", choices=("ours", "cudnn", "flash"))
    ap.add_argument("--lib", default=None,
                    help="libAttnRuntimeC.so: launch through the runtime (TMA kernels need it)")
    args = ap.parse_args()
    if args.lib:
        hb.RUNTIME = db.Runtime(args.lib)
    spec = db.parse_flags(open(os.path.join(args.kernels, args.name + ".flags")).read())
    q, k, v = db.make_inputs(spec)
    if args.backend == "ours":
        o = torch.empty_like(q)
        tensors = [q, k, v, o]
        if spec["lse"]:
            tensors.append(torch.empty(spec["batch"], spec["hq"], spec["lq"],
                                       device="cuda", dtype=torch.float32))
        hb.Kernel(args.kernels, args.name).launcher(tensors)()
    else:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        import torch.nn.functional as F
        backend = (SDPBackend.CUDNN_ATTENTION if args.backend == "cudnn"
                   else SDPBackend.FLASH_ATTENTION)
        gqa = spec["hq"] != spec["hkv"]
        kx = k.repeat_interleave(spec["hq"] // spec["hkv"], 1) if gqa else k
        vx = v.repeat_interleave(spec["hq"] // spec["hkv"], 1) if gqa else v
        with sdpa_kernel(backend):
            for _ in range(2):  # the first call may build the plan
                F.scaled_dot_product_attention(q, kx, vx, is_causal=spec["mask"] != "none")
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
