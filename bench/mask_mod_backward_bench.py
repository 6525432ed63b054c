#!/usr/bin/env python3
"""mask_mod in the GPU backward (issue #16): attn-compile's prefix-lm
mask_mod (keep = kv_idx <= q_idx or kv_idx < 4) through the forward and
the backward kernels, checked against float64 autograd of the masked
attention (and torch flash has no mask_mod, so the bound is FlexAttention's
error on the same bf16 inputs, 2x), then forward + backward timed against
FlexAttention (torch.compile(flex_attention) with the same mask_mod as a
block mask) and SDPA's efficient backend with the mask as a bool operand.

  bench/mask_mod_backward_prepare.sh [build] [dest]   (here: compiles, stages)
  bash DEST/run.sh [--reps 20]                        (device, repo root)
"""

import argparse
import json
import math
import os

import torch

import attn_mlir

OPTIONS = {"chip": "sm_90", "features": "+ptx81", "cubin_archs": ["sm_90"], "gpu": "h200"}
PREFIX = 4  # attn-compile's prefix-lm: kv_idx <= q_idx || kv_idx < 4
# (name, spec, timed); mask "none": the mask_mod alone masks.
CASES = [
    ("gqa-tails-d64", dict(batch=2, heads_q=8, heads_kv=2, seq_q=300, seq_k=333,
                           head_dim=64), False),
    ("gqa-d128", dict(batch=1, heads_q=16, heads_kv=4, seq_q=1024, seq_k=1024,
                      head_dim=128), False),
    ("time-gqa-2k-d128", dict(batch=4, heads_q=32, heads_kv=8, seq_q=2048, seq_k=2048,
                              head_dim=128), True),
]


def common(spec):
    return dict(spec, mask="none", mask_mod="prefix-lm", lse=True)


def kernels(spec, deterministic):
    fwd = attn_mlir.compile(target="ptx", options=OPTIONS, **common(spec))
    bwd = attn_mlir.compile(target="ptx", options=dict(OPTIONS, deterministic=deterministic),
                            **dict(common(spec), backward=True))
    return fwd, bwd


def keep_mask(lq, lk, device):
    q = torch.arange(lq, device=device)[:, None]
    k = torch.arange(lk, device=device)[None, :]
    return (k <= q) | (k < PREFIX)


def inputs(spec, seed):
    g = torch.Generator().manual_seed(seed)
    b, hq, hkv, d = spec["batch"], spec["heads_q"], spec["heads_kv"], spec["head_dim"]
    shapes = [(b, hq, spec["seq_q"], d), (b, hkv, spec["seq_k"], d),
              (b, hkv, spec["seq_k"], d), (b, hq, spec["seq_q"], d)]
    return [torch.randn(s, generator=g).bfloat16().cuda() for s in shapes]


def reference_grads(q, k, v, do):
    g = q.shape[1] // k.shape[1]
    qs, ks, vs = (x.double().requires_grad_() for x in (q, k, v))
    s = qs @ ks.repeat_interleave(g, 1).transpose(-1, -2) / math.sqrt(q.shape[-1])
    s = s.masked_fill(~keep_mask(q.shape[2], k.shape[2], q.device), -math.inf)
    o = torch.softmax(s, -1) @ vs.repeat_interleave(g, 1)
    return torch.autograd.grad(o, (qs, ks, vs), do.double())


def flex_fn():
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = torch.compile(flex_attention)

    def call(q, k, v):
        mask = create_block_mask(lambda b, h, i, j: (j <= i) | (j < PREFIX), None, None,
                                 q.shape[2], k.shape[2], device="cuda")
        return flex(q, k, v, block_mask=mask, enable_gqa=q.shape[1] != k.shape[1])
    return call


def check(name, spec, deterministic, flex):
    fwd, bwd = kernels(spec, deterministic)
    q, k, v, do = inputs(spec, seed=21)
    o, lse = fwd(q, k, v, synchronize=True)
    got = bwd(q, k, v, o, do, lse, synchronize=True)
    ref = reference_grads(q, k, v, do)
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    want = torch.autograd.grad(flex(*leaves), leaves, do)
    errs = [(a.double() - r).abs().max().item() for a, r in zip(got, ref)]
    flex_errs = [(a.double() - r).abs().max().item() for a, r in zip(want, ref)]
    ok = all(e <= 2 * f for e, f in zip(errs, flex_errs))
    mode = "deterministic" if deterministic else "atomic"
    print(f"check {name} ({mode}): dq/dk/dv " + " ".join(f"{e:.3e}" for e in errs)
          + " flex " + " ".join(f"{e:.3e}" for e in flex_errs) + (" PASS" if ok else " FAIL"))
    return {"case": name, "deterministic": deterministic, "spec": spec, "max_err": errs,
            "flex_err": flex_errs, "ok": ok}


def timed(name, spec, flex, reps):
    from timing import time_ms
    fwd, bwd = kernels(spec, False)
    q, k, v, do = inputs(spec, seed=22)
    g = q.shape[1] // k.shape[1]

    def ours():
        o, lse = fwd(q, k, v)
        return bwd(q, k, v, o, do, lse)
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    rep = [q.detach().requires_grad_()] + [x.repeat_interleave(g, 1).detach().requires_grad_()
                                           for x in (k, v)]
    keep = keep_mask(q.shape[2], k.shape[2], q.device)

    def efficient():
        from torch.nn.attention import SDPBackend, sdpa_kernel
        with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
            out = torch.nn.functional.scaled_dot_product_attention(*rep, attn_mask=keep)
        return torch.autograd.grad(out, rep, do)
    paths = {"ours_fwd_bwd": ours,
             "flex_fwd_bwd": lambda: torch.autograd.grad(flex(*leaves), leaves, do),
             "sdpa_efficient_bool_mask_fwd_bwd": efficient}
    row = {"case": name, "spec": spec, "ms": {p: time_ms(fn, reps) for p, fn in paths.items()}}
    base = row["ms"]["ours_fwd_bwd"]
    print(f"time {name}: " + ", ".join(f"{p}={ms:.3f} ms ({ms / base:.2f}x)"
                                       for p, ms in row["ms"].items()))
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--out", default="/tmp/out")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    if args.prepare:
        for name, spec, _ in CASES:
            for deterministic in (False, True):
                kernels(spec, deterministic)
            print(f"mask_mod_backward_bench --prepare: {name} compiled")
        return
    os.makedirs(args.out, exist_ok=True)
    print(torch.cuda.get_device_name(), torch.__version__)
    flex = flex_fn()
    checks = [check(name, spec, det, flex) for name, spec, _ in CASES for det in (False, True)]
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "checks": checks, "timing": []}
    if all(c["ok"] for c in checks):
        result["timing"] = [timed(name, spec, flex, args.reps) for name, spec, t in CASES if t]
    else:
        print("a check failed: nothing is timed")
    with open(os.path.join(args.out, "mask_mod_backward.json"), "w") as f:
        json.dump(result, f, indent=1)
    raise SystemExit(0 if all(c["ok"] for c in checks) else 1)


if __name__ == "__main__":
    main()
