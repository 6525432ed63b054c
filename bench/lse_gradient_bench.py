#!/usr/bin/env python3
"""The gradient through the returned LSE on CUDA tensors (issue #16): the
dense torch op `torch.ops.attn_mlir.attention` (out, lse) differentiated
through both outputs, loss = sum(out * do) + sum(lse * glse). The GPU
backward takes the LSE's gradient as attn.attention_backward's grad_lse
operand (Delta = rowsum(dO * O) - glse, in the preprocess kernel), its own
compile per shape; with ATTN_MLIR_GPU_CHIP=sm_90a both backwards run the
hopper main kernel.

Every variant is checked against torch's float64 autograd of an eager
attention on the same inputs: error within max(2x an eager bf16 / f16
implementation's, 1e-3 max|ref|); then one shape is timed, the backward
with and without the LSE's gradient (both ours), in one run.

  bench/lse_gradient_prepare.sh [build] [dest]   (here: stages the run)
  bash DEST/run.sh                               (device, from the repo root)
"""

import argparse
import json
import os

import torch

from timing import time_ms

# name, B, Hq, Hkv, Lq, Lk, D, dtype, mask, (window left, right)
VARIANTS = [
    ("gqa_d128_bf16_causal_br_tail", 2, 8, 2, 300, 333, 128, torch.bfloat16,
     "causal-bottom-right", (0, 0)),
    ("mha_d64_f16_none", 1, 4, 4, 256, 256, 64, torch.float16, "none", (0, 0)),
    ("mqa_d64_bf16_window_tail", 2, 4, 1, 200, 457, 64, torch.bfloat16, "sliding-window",
     (64, 8)),
    ("gqa_d128_f16_causal_tl_lq_gt_lk", 1, 4, 2, 333, 200, 128, torch.float16,
     "causal-top-left", (0, 0)),
]
TIMED = ("timed_d128_l4096_causal", 4, 16, 16, 4096, 4096, 128, torch.bfloat16,
         "causal-bottom-right", (0, 0))


def attention(q, k, v, mask, window, compute):
    """(out, lse) of an eager attention in `compute` (scores and P in f32
    unless compute is float64), GQA by repeating K and V."""
    group = q.shape[1] // k.shape[1]
    k, v = (t.repeat_interleave(group, 1) for t in (k, v))
    acc = torch.float64 if compute == torch.float64 else torch.float32
    s = (q.to(compute) @ k.to(compute).transpose(-1, -2)).to(acc) * q.shape[-1] ** -0.5
    lq, lk = s.shape[-2:]
    i = torch.arange(lq, device=q.device)[:, None]
    j = torch.arange(lk, device=q.device)[None, :]
    shift = 0 if mask == "causal-top-left" else lk - lq
    keep = torch.ones(lq, lk, dtype=torch.bool, device=q.device)
    if mask in ("causal-top-left", "causal-bottom-right"):
        keep = j <= i + shift
    elif mask == "sliding-window":
        keep = (j >= i + shift - window[0]) & (j <= i + shift + window[1])
    s = s.masked_fill(~keep, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    p = torch.softmax(s, dim=-1)
    return p.to(compute) @ v.to(compute), lse


def gradients(fn, q, k, v, do, glse):
    leaves = [t.detach().clone().requires_grad_(True) for t in (q, k, v)]
    out, lse = fn(*leaves)
    loss = (out.to(torch.float64) * do.to(torch.float64)).sum() + \
        (lse.to(torch.float64) * glse.to(torch.float64)).sum()
    return torch.autograd.grad(loss, leaves)


def ours(mask, window):
    def fn(q, k, v):
        return torch.ops.attn_mlir.attention(q, k, v, None, mask, window[0], window[1],
                                             None, None, None)
    return fn


def inputs(b, hq, hkv, lq, lk, d, dtype, device, seed):
    g = torch.Generator(device="cpu").manual_seed(seed)
    q, k, v, do = (torch.randn(b, h, l, d, generator=g).to(dtype).to(device)
                   for h, l in ((hq, lq), (hkv, lk), (hkv, lk), (hq, lq)))
    glse = torch.randn(b, hq, lq, generator=g).to(device)
    return q, k, v, do, glse


def prepare():
    """Here, with the compiler: each shape's forward, plain backward and
    grad_lse backward into $ATTN_MLIR_CACHE_DIR."""
    import attn_mlir.torch as at
    ag = at._autograd
    for _, b, hq, hkv, lq, lk, d, dtype, mask, window in VARIANTS + [TIMED]:
        q = torch.zeros(b, hq, lq, d, dtype=dtype)
        k = torch.zeros(b, hkv, lk, d, dtype=dtype)
        target, spec, options = ag._spec(q, k, k, mask, window[0], window[1], None, None,
                                         None, None, False, True)
        at._kernel(target, spec, options)
        ag.gpu_backward_kernel(q, k, k, None, mask, window[0], window[1])
        ag.gpu_backward_kernel(q, k, k, None, mask, window[0], window[1], lse_grad=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--prepare", action="store_true")
    args = ap.parse_args()
    if args.prepare:
        prepare()
        return 0
    import attn_mlir.torch  # noqa: F401  (registers torch.ops.attn_mlir)
    os.makedirs(args.out, exist_ok=True)
    dev = "cuda"
    rows, ok = [], True
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"chip {os.environ.get('ATTN_MLIR_GPU_CHIP', 'default')}", flush=True)
    for n, (name, b, hq, hkv, lq, lk, d, dtype, mask, window) in enumerate(VARIANTS):
        q, k, v, do, glse = inputs(b, hq, hkv, lq, lk, d, dtype, dev, seed=n)
        want = gradients(lambda *t: attention(*t, mask, window, torch.float64),
                         q, k, v, do, glse)
        eager = gradients(lambda *t: attention(*t, mask, window, dtype), q, k, v, do, glse)
        got = gradients(ours(mask, window), q, k, v, do, glse)
        err, bound, good = {}, {}, True
        for g, w, e, x in zip(("dq", "dk", "dv"), want, eager, got):
            err[g] = (x.double() - w).abs().max().item()
            bound[g] = max(2 * (e.double() - w).abs().max().item(),
                           1e-3 * w.abs().max().item())
            good &= bool(torch.isfinite(x).all()) and err[g] <= bound[g]
        ok &= good
        rows.append({"kind": "check", "name": name, "err": err, "bound": bound, "ok": good})
        print(f"check {name:36s} " + " ".join(f"{g}={err[g]:.2e}/{bound[g]:.2e}" for g in err)
              + (" OK" if good else " FAIL"), flush=True)
    if ok:
        name, b, hq, hkv, lq, lk, d, dtype, mask, window = TIMED
        q, k, v, do, glse = inputs(b, hq, hkv, lq, lk, d, dtype, dev, seed=99)
        fn = ours(mask, window)
        leaves = [t.detach().clone().requires_grad_(True) for t in (q, k, v)]
        out, lse = fn(*leaves)
        plain = time_ms(lambda: torch.autograd.grad(out, leaves, do, retain_graph=True),
                        args.reps)
        with_lse = time_ms(lambda: torch.autograd.grad((out, lse), leaves, (do, glse),
                                                       retain_graph=True), args.reps)
        rows.append({"kind": "time", "name": name, "plain_ms": plain, "lse_ms": with_lse})
        print(f"time  {name}: backward {plain:.3f} ms, with the LSE's gradient "
              f"{with_lse:.3f} ms ({with_lse / plain:.2f}x)", flush=True)
    with open(os.path.join(args.out, "lse_gradient.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print("all checks OK" if ok else "some checks FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
