#!/usr/bin/env python3
"""Where training accuracy goes: the gradient of train_smoke.py's Llama
model with each attention implementation against a float64 reference, and
the loss curves of more implementations than the smoke test's three.

train_smoke.py's verdict compares 20-step loss curves, one number per
seed, and a bf16 curve drifts from another chaotically once the two round
one value differently. This script asks two sharper questions:

1. Gradient accuracy. At fixed weights (the initial ones, and those after
   --steps float32 eager steps, where attention is less uniform), the
   whole model's parameter gradient on --batches batches with each
   implementation in the run's dtype, against eager attention with the
   model in float64: relative L2 error of the gradient (all parameters,
   and the attention projections alone) and |loss - loss64|.
2. Which half carries a difference: besides eager, sdpa and attn_mlir, on
   CUDA each of torch's SDPA backends alone (flash, efficient, cudnn: how
   far apart correct kernels land, the noise floor of the curve metric)
   and two hybrids, our forward with flash's backward and flash's forward
   (its O and LSE) with our backward.

    PYTHONPATH=build/python python3 examples/train_accuracy.py        # CUDA if present
    PYTHONPATH=build/python python3 examples/train_accuracy.py --device cpu --tiny \\
        --check 1e-5                                                   # the ctest

Writes train_accuracy.json and a Markdown table (train_accuracy.md) under
--out. --check TOL exits 1 unless attn_mlir's relative gradient error is
<= TOL (CPU float32 ctest) or, with --check-ratio R, unless it is <= R x
the sdpa run's. A machine without the compiler runs kernels from
$ATTN_MLIR_CACHE_DIR; --prepare compiles them (the same forward and
backward as train_smoke.py's; examples/train_accuracy_prepare.sh stages
the GPU run).
"""

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_smoke as ts  # noqa: E402

import attn_mlir.torch as at  # noqa: E402

MASK = "causal-top-left"  # the smoke's prompts: Lq = Lk, no padding


def _repeat_kv(q, k, v):
    g = q.shape[1] // k.shape[1]
    return k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)


def _check_call(attention_mask, q, k):
    if attention_mask is not None or q.shape[2] != k.shape[2]:
        raise ValueError("train_accuracy: expected causal prompts without padding "
                         "(no attention mask, Lq = Lk)")


def _sdpa_backend(backend):
    """Attention on one SDPA backend (torch.nn.attention.SDPBackend name),
    K and V repeated per query head as transformers' sdpa does."""
    def attention(module, q, k, v, attention_mask, dropout=0.0, scaling=None, **_):
        from torch.nn.attention import SDPBackend, sdpa_kernel
        _check_call(attention_mask, q, k)
        k, v = _repeat_kv(q, k, v)
        with sdpa_kernel(getattr(SDPBackend, backend)):
            out = torch.nn.functional.scaled_dot_product_attention(
                q, k, v, is_causal=True, scale=scaling)
        return out.transpose(1, 2).contiguous(), None
    return attention


def _flash(q, k, v, scale):
    return _sdpa_backend("FLASH_ATTENTION")(None, q, k, v, None, scaling=scale)[0] \
        .transpose(1, 2)


class _OursForwardFlashBackward(torch.autograd.Function):
    """O from attn_mlir's forward; dQ, dK, dV from flash's backward (which
    recomputes its own forward: flash's autograd has no entry for another
    kernel's O and LSE)."""

    @staticmethod
    def forward(ctx, q, k, v, scale):
        out, _ = torch.ops.attn_mlir.attention(q, k, v, None, MASK, 0, 0, scale, None, None)
        ctx.save_for_backward(q, k, v)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v = (t.detach().requires_grad_() for t in ctx.saved_tensors)
        with torch.enable_grad():
            out = _flash(q, k, v, ctx.scale)
            return torch.autograd.grad(out, (q, k, v), grad) + (None,)


class _FlashForwardOursBackward(torch.autograd.Function):
    """O and LSE from flash's forward; dQ, dK, dV from attn_mlir's backward
    on them (both LSEs are natural-log, [B, H, Lq], float32)."""

    @staticmethod
    def forward(ctx, q, k, v, scale):
        k2, v2 = _repeat_kv(q, k, v)
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention(
            q, k2, v2, 0.0, True, False, scale=scale)[:2]
        lse = lse[..., :q.shape[2]].contiguous()
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = torch.ops.attn_mlir.attention_backward(
            grad.contiguous(), None, q, k, v, out.contiguous(), lse, None, MASK, 0, 0,
            ctx.scale, None, None)
        return dq, dk, dv, None


def _hybrid(function):
    def attention(module, q, k, v, attention_mask, dropout=0.0, scaling=None, **_):
        _check_call(attention_mask, q, k)
        out = function.apply(q, k, v, scaling if scaling is not None else q.shape[3] ** -0.5)
        return out.transpose(1, 2).contiguous(), None
    return attention


# The CUDA-only implementations, by name (transformers reads a name with
# "flash" in it as a flash-attn kernel of the hub: hence "fa2").
CUDA_ATTENTION = {
    "torch_fa2": _sdpa_backend("FLASH_ATTENTION"),
    "torch_efficient": _sdpa_backend("EFFICIENT_ATTENTION"),
    "torch_cudnn": _sdpa_backend("CUDNN_ATTENTION"),
    "fwd_ours_bwd_fa2": _hybrid(_OursForwardFlashBackward),
    "fwd_fa2_bwd_ours": _hybrid(_FlashForwardOursBackward),
}


def register(kind, names):
    for name in names:
        function = CUDA_ATTENTION[name]
        if kind == "builtin":
            ts.BUILTIN_ATTENTION[name] = function
            continue
        from transformers import AttentionInterface
        AttentionInterface.register(name, function)
        try:
            from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
            AttentionMaskInterface.register(name, sdpa_mask)
        except ImportError:
            pass


def gradient(kind, c, implementation, state, device, dtype, ids):
    """(loss, {parameter: gradient in float64}) of one batch."""
    model = ts.make_model(kind, c, implementation).to(device=device, dtype=dtype)
    model.load_state_dict(state)
    model.train()
    loss = ts.loss_of(kind, model, ids)
    loss.backward()
    return float(loss.detach()), {n: p.grad.double() for n, p in model.named_parameters()}


def relative_error(grads, reference, keep=lambda name: True):
    num = sum(float((grads[n] - g).pow(2).sum()) for n, g in reference.items() if keep(n))
    den = sum(float(g.pow(2).sum()) for n, g in reference.items() if keep(n))
    return math.sqrt(num / den) if den else 0.0


def _attention_projection(name):
    return any(p in name for p in ("q_proj", "k_proj", "v_proj", "o_proj"))


def trained_state(kind, c, data, state, device, steps, seed):
    """The weights after `steps` float32 eager AdamW steps (train_smoke's
    loop and data)."""
    model = ts.make_model(kind, c, "eager").to(device=device, dtype=torch.float32)
    model.load_state_dict(state)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        ids = torch.randint(0, c["vocab_size"], (data["batch"], data["seq"]),
                            generator=gen).to(device)
        loss = ts.loss_of(kind, model, ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {n: t.detach().clone() for n, t in model.state_dict().items()}


def gradient_accuracy(kind, c, data, names, states, device, dtype, batches, seed):
    """{state: {implementation: {grad, grad_attention, loss}}}, each the mean
    over the batches of the error against float64 eager."""
    gen = torch.Generator().manual_seed(seed + 1000)
    results = {}
    for label, state in states.items():
        sums = {name: {"grad": 0.0, "grad_attention": 0.0, "loss": 0.0} for name in names}
        for _ in range(batches):
            ids = torch.randint(0, c["vocab_size"], (data["batch"], data["seq"]),
                                generator=gen).to(device)
            loss64, ref = gradient(kind, c, "eager", state, device, torch.float64, ids)
            for name in names:
                loss, grads = gradient(kind, c, name, state, device, dtype, ids)
                sums[name]["grad"] += relative_error(grads, ref)
                sums[name]["grad_attention"] += relative_error(grads, ref,
                                                               _attention_projection)
                sums[name]["loss"] += abs(loss - loss64)
        results[label] = {name: {k: v / batches for k, v in s.items()}
                          for name, s in sums.items()}
    return results


def curves(kind, c, data, names, state, device, dtype, steps, seeds):
    """{seed: {implementation: losses}} with train_smoke's loop; eager in
    float32 as "eager_f32"."""
    out = {}
    for seed in seeds:
        runs = {name: ts.train(kind, c, data, name, state, device, dtype, steps, seed)
                for name in names}
        if dtype != torch.float32:
            runs["eager_f32"] = ts.train(kind, c, data, "eager", state, device,
                                         torch.float32, steps, seed)
        out[seed] = runs
    return out


def _mean_abs(a, b):
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


def table(accuracy, trajectories):
    lines = ["| weights | implementation | rel. grad error | rel. grad error (attn proj) "
             "| loss error |", "|---|---|---|---|---|"]
    for label, rows in accuracy.items():
        for name, r in rows.items():
            lines.append(f"| {label} | {name} | {r['grad']:.3e} | {r['grad_attention']:.3e} "
                         f"| {r['loss']:.2e} |")
    lines += ["", "| seed | implementation | max vs eager | mean vs eager | mean vs eager f32 |",
              "|---|---|---|---|---|"]
    for seed, runs in trajectories.items():
        for name, losses in runs.items():
            if name in ("eager", "eager_f32"):
                continue
            m = max(abs(a - b) for a, b in zip(losses, runs["eager"]))
            f32 = (f"{_mean_abs(losses, runs['eager_f32']):.2e}" if "eager_f32" in runs
                   else "-")
            lines.append(f"| {seed} | {name} | {m:.2e} | "
                         f"{_mean_abs(losses, runs['eager']):.2e} | {f32} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="train_smoke's CPU ctest config")
    ap.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                    help="default: bfloat16 on CUDA, float32 on CPU")
    ap.add_argument("--model", choices=("auto", "transformers", "builtin"), default="auto")
    ap.add_argument("--steps", type=int, default=20,
                    help="AdamW steps: of each curve, and to the trained weights")
    ap.add_argument("--batches", type=int, default=4, help="batches per gradient mean")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the loss curves")
    ap.add_argument("--no-curves", action="store_true", help="gradient accuracy only")
    ap.add_argument("--out", default=os.environ.get("OUT", "train_accuracy_out"))
    ap.add_argument("--check", type=float, default=None, metavar="TOL",
                    help="exit 1 unless attn_mlir's relative gradient error <= TOL")
    ap.add_argument("--check-ratio", type=float, default=None, metavar="R",
                    help="exit 1 unless attn_mlir's relative gradient error <= R x sdpa's")
    ap.add_argument("--prepare", action="store_true",
                    help="compile the CUDA kernels of the run into $ATTN_MLIR_CACHE_DIR")
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    c, data = ts.config(args.tiny)
    if args.prepare:
        return ts.prepare(c, data, dtype)

    kind = ts.model_kind(args.model)
    names = ["eager", "attn_mlir"]
    if hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        names.insert(1, "sdpa")
    if device.type == "cuda":
        names += list(CUDA_ATTENTION)
        register(kind, CUDA_ATTENTION)
    torch.manual_seed(0)
    state = ts.make_model(kind, c, "eager").state_dict()
    states = {"init": state}
    if args.steps:
        states[f"after {args.steps} f32 steps"] = trained_state(kind, c, data, state, device,
                                                                args.steps, 0)
    accuracy = gradient_accuracy(kind, c, data, names, states, device, dtype, args.batches, 0)
    for label, rows in accuracy.items():
        for name, r in rows.items():
            print(f"train_accuracy: {label:18s} {name:24s} grad {r['grad']:.3e} "
                  f"attn-proj {r['grad_attention']:.3e} loss {r['loss']:.2e}")
    trajectories = {}
    if not args.no_curves:
        seeds = [int(s) for s in args.seeds.split(",") if s]
        trajectories = curves(kind, c, data, names, state, device, dtype, args.steps, seeds)
    md = table(accuracy, trajectories)
    print(md)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "train_accuracy.json"), "w") as f:
        json.dump({"model": kind, "config": c, "data": data, "device": str(device),
                   "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
                   "dtype": str(dtype), "torch": torch.__version__,
                   "gradient_accuracy": accuracy,
                   "curves": {str(k): v for k, v in trajectories.items()}}, f, indent=1)
    with open(os.path.join(args.out, "train_accuracy.md"), "w") as f:
        f.write(md)

    worst = max(rows["attn_mlir"]["grad"] for rows in accuracy.values())
    if args.check is not None and not worst <= args.check:
        print(f"train_accuracy: attn_mlir's relative gradient error {worst:.3e} is above "
              f"--check {args.check}", file=sys.stderr)
        return 1
    if args.check_ratio is not None and "sdpa" in names:
        sdpa = max(rows["sdpa"]["grad"] for rows in accuracy.values())
        if not worst <= args.check_ratio * sdpa:
            print(f"train_accuracy: attn_mlir's relative gradient error {worst:.3e} is above "
                  f"{args.check_ratio} x sdpa's {sdpa:.3e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
