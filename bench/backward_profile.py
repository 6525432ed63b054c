"""One launch each of a backward variant's kernels from two folders (A, B)
and of torch's flash backward on the same inputs, for a profiler (ncu)
wrapped around this script: the main kernels of A and B are the 1st and
2nd launches named <variant>_bwd, flash's follows. Uses backward_bench.py's
loaders (same folder).
Usage: ncu ... python3 backward_profile.py --lib LIB --kernels-a DIR
       --kernels-b DIR --name VARIANT
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import backward_bench as bb  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--kernels-a", required=True)
    ap.add_argument("--kernels-b", required=True)
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    rt = bb.Runtime(args.lib)
    spec = bb.parse_flags(open(os.path.join(args.kernels_b, args.name + ".flags")).read())
    q, k, v, do = bb.make_inputs(spec)
    causal = spec["mask"] == "causal"
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal)[:2]
    lse = lse.float().contiguous()
    for kdir in (args.kernels_a, args.kernels_b):
        prog = bb.Program(rt, kdir, args.name)
        launch, _ = bb.run_ours(prog, q, k, v, out.contiguous(), do, lse, sync=True)
        launch()
        torch.cuda.synchronize()
        prog.close()
    qq, kk, vv = (t.detach().clone().requires_grad_() for t in (q, k, v))
    o = bb.sdpa_forward(qq, kk, vv, causal, bb.SDPBackend.FLASH_ATTENTION)
    torch.autograd.grad(o, (qq, kk, vv), do)
    torch.cuda.synchronize()
    print("profiled", args.name)


if __name__ == "__main__":
    main()
