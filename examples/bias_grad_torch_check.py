"""The gradient of a float attn_mask through attn_mlir.torch on CUDA
tensors (the GPU backward's d_bias): full-shape and broadcast masks
([B, Hq, Lq, Lk], [1, Hq, Lq, Lk], [Lq, Lk]), GQA, causal in both
alignments, bf16 and f16, checked with dQ, dK and dV against float64
autograd of the attention formula; the bound is 2x the error of torch's
memory-efficient SDPA backend on the same inputs (it differentiates a float
attn_mask too). Then one training-sized call timed (forward + backward)
against that backend, and against our own backward with the mask detached.

Here (with the compiler): python3 examples/bias_grad_torch_check.py --prepare
compiles the kernels into $ATTN_MLIR_CACHE_DIR (examples/bias_grad_torch_prepare.sh).
On the GPU machine: bash .device/bias_grad_torch/run.sh. Exit status 1 when a
check fails."""

import argparse
import json
import math
import os
import sys

import torch

import attn_mlir.torch as at

# (B, Hq, Hkv, Lq, Lk, D, dtype, mask, attn_mask shape)
CASES = (
    (2, 8, 2, 256, 256, 64, torch.bfloat16, "none", (2, 8, 256, 256)),
    (2, 8, 2, 200, 333, 128, torch.float16, "causal-bottom-right", (1, 8, 200, 333)),
    (1, 4, 4, 300, 300, 64, torch.bfloat16, "causal-top-left", (300, 300)),
    (3, 4, 1, 129, 257, 64, torch.bfloat16, "none", (3, 1, 129, 257)),
)
TIMED = (2, 16, 16, 2048, 2048, 128, torch.bfloat16, "none", (2, 16, 2048, 2048))


def visible(mask, lq, lk, device):
    i = torch.arange(lq, device=device).view(lq, 1)
    j = torch.arange(lk, device=device).view(1, lk)
    return {"none": torch.ones(lq, lk, dtype=torch.bool, device=device),
            "causal-top-left": j <= i, "causal-bottom-right": j <= i + lk - lq}[mask]


def formula(q, k, v, bias, mask):
    """O of attn.attention's definition in the inputs' dtype (float64 for
    the reference)."""
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1]) + bias
    s = s.masked_fill(~visible(mask, q.shape[2], k.shape[2], q.device), float("-inf"))
    return torch.softmax(s, -1) @ v


def efficient(q, k, v, bias, mask):
    """torch's memory-efficient SDPA backend with the mask folded into the
    float attn_mask (its gradient reaches `bias`)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    lq, lk = q.shape[2], k.shape[2]
    fill = torch.zeros(lq, lk, dtype=q.dtype, device=q.device).masked_fill(
        ~visible(mask, lq, lk, q.device), float("-inf"))
    with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v,
                                                                attn_mask=bias + fill)


def ours(q, k, v, bias, mask):
    return at.attention(q, k, v, attn_mask=bias, mask=mask, enable_gqa=q.shape[1] != k.shape[1])


def make(case, g, device="cuda"):
    b, hq, hkv, lq, lk, d, dtype, _, shape = case
    q = torch.randn(b, hq, lq, d, generator=g).to(device, dtype)
    k = torch.randn(b, hkv, lk, d, generator=g).to(device, dtype)
    v = torch.randn(b, hkv, lk, d, generator=g).to(device, dtype)
    bias = torch.randn(shape, generator=g).to(device, dtype)
    w = torch.randn(b, hq, lq, d, generator=g).to(device, dtype)
    return q, k, v, bias, w


def grads(fn, tensors, w, mask):
    leaves = [t.detach().clone().requires_grad_() for t in tensors]
    out = fn(*leaves, mask)
    return torch.autograd.grad(out, leaves, w.to(out.dtype))


def check(case, g):
    q, k, v, bias, w = make(case, g)
    mask = case[7]
    got = grads(ours, (q, k, v, bias), w, mask)
    ref = grads(formula, [t.double() for t in (q, k, v, bias)], w, mask)
    yard = grads(efficient, (q, k, v, bias), w, mask)
    row, ok = {}, True
    for name, a, r, y in zip(("dq", "dk", "dv", "d_attn_mask"), got, ref, yard):
        err = (a.double() - r).abs().max().item()
        yerr = (y.double() - r).abs().max().item()
        scale = r.abs().max().item()
        bound = max(2 * yerr, 1e-3 * max(scale, 1.0))
        good = a.shape == r.shape and a.dtype == q.dtype and math.isfinite(err) and err <= bound
        row[name] = dict(err=err, efficient_err=yerr, bound=bound, ok=good)
        ok &= good
    return ok, row


def timing(g):
    # bench/timing.py, staged beside this script (scripts/stage_torch_run.sh).
    from timing import time_ms
    q, k, v, bias, w = make(TIMED, g)
    mask = TIMED[7]

    def step(fn, bias_grad):
        leaves = [t.detach().clone().requires_grad_() for t in (q, k, v)]
        b = bias.detach().clone().requires_grad_(bias_grad)
        return lambda: torch.autograd.grad(fn(*leaves, b, mask), leaves + ([b] if bias_grad else []), w)
    return {"ours_ms": time_ms(step(ours, True), 10),
            "ours_constant_mask_ms": time_ms(step(ours, False), 10),
            "efficient_ms": time_ms(step(efficient, True), 10)}


def prepare():
    """The forward (bias operand, LSE) and the backward with d_bias of
    every case, and the timed call's backward without it."""
    for case in CASES + (TIMED,):
        b, hq, hkv, lq, lk, d, dtype, mask, shape = case
        q = torch.empty(b, hq, lq, d, dtype=dtype, device="meta")
        kv = torch.empty(b, hkv, lk, d, dtype=dtype, device="meta")
        bias = torch.empty(b, hq, lq, lk, dtype=dtype, device="meta")
        target, spec, options = at._autograd._spec(q, kv, kv, mask, 0, 0, None, None, None,
                                                   bias, False, True)
        print("bias_grad_torch --prepare: forward", at._kernel(target, spec, options).key)
        for bias_grad in (True, False) if case is TIMED else (True,):
            # Meta tensors have no values to classify: the operand's spec.
            target, spec, options = at._autograd._spec(q, kv, kv, mask, 0, 0, None, None,
                                                       None, bias, True, True,
                                                       bias_grad=bias_grad)
            print("bias_grad_torch --prepare: backward",
                  at._kernel(target, spec, options).key)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--out", default=os.environ.get("OUT", "bias_grad_out"))
    args = ap.parse_args()
    if args.prepare:
        return prepare()
    g = torch.Generator().manual_seed(0)
    rows, failed = [], 0
    for case in CASES:
        ok, row = check(case, g)
        failed += not ok
        label = "B{} H{}/{} L{}x{} D{} {} {} mask{}".format(
            *case[:6], str(case[6]).split(".")[-1], case[7], list(case[8]))
        rows.append(dict(case=label, ok=ok, **row))
        print(f"{'ok  ' if ok else 'FAIL'} {label}: " + " ".join(
            f"{n}={r['err']:.2e}/{r['bound']:.2e}" for n, r in row.items()))
    times = timing(g)
    label = "B{} H{}/{} L{}x{} D{} {} {} mask{}".format(
        *TIMED[:6], str(TIMED[6]).split(".")[-1], TIMED[7], list(TIMED[8]))
    print(f"timed {label}, forward + backward: ours {times['ours_ms']:.3f} ms "
          f"(constant mask {times['ours_constant_mask_ms']:.3f} ms), SDPA efficient "
          f"{times['efficient_ms']:.3f} ms: {times['efficient_ms'] / times['ours_ms']:.2f}x")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bias_grad_torch.json"), "w") as f:
        json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                   "checks": rows, "timed": dict(case=label, **times)}, f, indent=1)
    print(f"bias_grad_torch: {len(CASES) - failed}/{len(CASES)} checks pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main() or 0)
