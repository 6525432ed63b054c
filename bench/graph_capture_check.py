#!/usr/bin/env python3
"""A split-KV decode kernel (a workspace with zero_init counters) launched
inside a CUDA graph capture: the workspace comes from torch's allocator
and its zero_init slices are zero-filled by attnKernelInitWorkspace on the
capturing stream. Replays must equal the eager call.

  bench/graph_capture_prepare.sh [build] [dest]   (here: compiles, stages)
  bash DEST/run.sh                               (device, repo root)
"""
import argparse
import torch
import attn_mlir.torch as at

Q, K = (2, 16, 1, 128), (2, 8, 1001, 128)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--out", default="/tmp/out")
    args = ap.parse_args()
    if args.prepare:
        at.precompile(Q, K, device="cuda")
        return
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(s, generator=g).bfloat16().cuda() for s in (Q, K, K))
    kernel = at.precompile(Q, K, device="cuda")
    assert kernel.has_workspace, "expected a workspace kernel"
    eager = at.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    torch.cuda.synchronize()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            at.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = at.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    ok = True
    for i in range(5):
        graph.replay()
        torch.cuda.synchronize()
        same = torch.equal(out, eager)
        ok &= same
        print(f"replay {i}: equal to eager = {same}")
    print("PASS" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
