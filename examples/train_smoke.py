#!/usr/bin/env python3
"""Training smoke test: the same Llama-architecture model (random weights,
small config) trained for N AdamW steps from the same seed and the same
weights with three attention implementations, "attn_mlir" (attn_mlir.torch,
forward and backward on our kernels), "sdpa" and "eager" (the yardstick).
Writes the loss curves as JSON (and a PNG plot with matplotlib) and prints
max |loss - eager loss| for attn_mlir and sdpa; in bf16 / f16 also each
run's mean distance to eager with the model in float32 (--no-f32 skips it),
since bf16 eager carries rounding of its own.

    PYTHONPATH=build/python python3 examples/train_smoke.py            # CUDA if present
    PYTHONPATH=build/python python3 examples/train_smoke.py --device cpu --tiny \
        --steps 20 --check 1e-5                                         # the ctest

The model is transformers' LlamaForCausalLM (5.x) when transformers is
installed, else (Debian has no transformers, so the CPU ctest) a
Llama-architecture model of this file (RMSNorm, rotary embeddings, GQA
attention through the same attention-function interface, SwiGLU MLP).

On CUDA the attn_mlir run needs the GPU backward kernel. Until the
compiler has it (issue #16's GPU item) that run stops with
attn_mlir.torch.MissingGpuBackward, recorded in the JSON; the script then
exits with status 3 after writing the other two curves. A machine without
the compiler runs kernels from $ATTN_MLIR_CACHE_DIR: --prepare (where
attn-mlir is built) compiles the CUDA kernels of the run into it
(examples/train_smoke_prepare.sh stages everything for the GPU machine).
"""

import argparse
import copy
import json
import math
import os
import sys

import torch

import attn_mlir.torch as at

IMPLEMENTATIONS = ("eager", "sdpa", "attn_mlir")


def config(tiny):
    """(model fields, data fields): GPU-sized by default (head dim 64, the
    GPU kernels' smallest), a few hundred thousand parameters when tiny."""
    if tiny:
        model = dict(vocab_size=64, hidden_size=32, intermediate_size=64,
                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     head_dim=8)
        data = dict(batch=2, seq=16)
    else:
        model = dict(vocab_size=1024, hidden_size=512, intermediate_size=1024,
                     num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
                     head_dim=64)
        data = dict(batch=4, seq=128)
    # LlamaConfig's own defaults otherwise (rotary base 10000, untied
    # embeddings), which the built-in model mirrors.
    model.update(max_position_embeddings=max(256, data["seq"]), rms_norm_eps=1e-5)
    return model, data


# -- the built-in Llama (no transformers) -----------------------------------

def _eager(module, q, k, v, mask, scaling, **_):
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    s = (q @ k.transpose(-1, -2)) * scaling
    lq, lk = s.shape[-2:]
    causal = torch.ones(lq, lk, dtype=torch.bool, device=s.device).tril(lk - lq)
    s = s.masked_fill(~causal, float("-inf"))
    # Softmax in float32 as transformers' eager does (float64 stays float64:
    # train_accuracy.py's reference).
    p = torch.softmax(s if s.dtype == torch.float64 else s.float(), -1)
    return (p.to(q.dtype) @ v).transpose(1, 2), None


def _sdpa(module, q, k, v, mask, scaling, **_):
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                           scale=scaling)
    return out.transpose(1, 2), None


class _RMSNorm(torch.nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def _rotate(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class _Attention(torch.nn.Module):
    is_causal = True

    def __init__(self, c, attention):
        super().__init__()
        self.hq, self.hkv, self.d = (c["num_attention_heads"], c["num_key_value_heads"],
                                     c["head_dim"])
        self.num_key_value_groups = self.hq // self.hkv
        h = c["hidden_size"]
        self.q_proj = torch.nn.Linear(h, self.hq * self.d, bias=False)
        self.k_proj = torch.nn.Linear(h, self.hkv * self.d, bias=False)
        self.v_proj = torch.nn.Linear(h, self.hkv * self.d, bias=False)
        self.o_proj = torch.nn.Linear(self.hq * self.d, h, bias=False)
        self.attention = attention

    def forward(self, x, cos, sin):
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.hq, self.d).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.hkv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.hkv, self.d).transpose(1, 2)
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        out, _ = self.attention(self, q, k, v, None, scaling=self.d ** -0.5)
        return self.o_proj(out.reshape(b, n, self.hq * self.d))


class _Layer(torch.nn.Module):
    def __init__(self, c, attention):
        super().__init__()
        h, m = c["hidden_size"], c["intermediate_size"]
        self.input_layernorm = _RMSNorm(h, c["rms_norm_eps"])
        self.self_attn = _Attention(c, attention)
        self.post_attention_layernorm = _RMSNorm(h, c["rms_norm_eps"])
        self.gate_proj = torch.nn.Linear(h, m, bias=False)
        self.up_proj = torch.nn.Linear(h, m, bias=False)
        self.down_proj = torch.nn.Linear(m, h, bias=False)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(torch.nn.functional.silu(self.gate_proj(h)) * self.up_proj(h))


# The built-in model's attention functions by implementation name (the
# transformers AttentionInterface signature); train_accuracy.py adds its own.
BUILTIN_ATTENTION = {"eager": _eager, "sdpa": _sdpa, "attn_mlir": at.attention_forward}


class BuiltinLlama(torch.nn.Module):
    """A Llama decoder with a loss, for machines without transformers."""

    def __init__(self, c, implementation):
        super().__init__()
        attention = BUILTIN_ATTENTION[implementation]
        self.c = c
        self.embed_tokens = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = torch.nn.ModuleList(_Layer(c, attention)
                                          for _ in range(c["num_hidden_layers"]))
        self.norm = _RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = torch.nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, input_ids, labels):
        n, d = input_ids.shape[1], self.c["head_dim"]
        inv = 1.0 / 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
        angles = torch.outer(torch.arange(n, dtype=torch.float32), inv)
        angles = torch.cat((angles, angles), dim=-1).to(input_ids.device)
        cos, sin = (f(angles).to(self.lm_head.weight.dtype) for f in (torch.cos, torch.sin))
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits = self.lm_head(self.norm(x)).float()
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


# -- the runs ---------------------------------------------------------------

def model_kind(requested):
    """The model to run ("transformers" or "builtin") for --model; "auto"
    takes transformers where it is installed. Registers attn_mlir with
    transformers when that is the one."""
    kind = requested
    if kind == "auto":
        try:
            import transformers  # noqa: F401
            kind = "transformers"
        except ImportError:
            kind = "builtin"
            print("train_smoke: transformers is not installed; using the built-in "
                  "Llama-architecture model")
    if kind == "transformers":
        at.register_transformers()
    return kind


def make_model(kind, c, implementation):
    if kind == "transformers":
        from transformers import LlamaConfig, LlamaForCausalLM
        cfg = LlamaConfig(**c)
        # _from_config writes the implementation into the config: one copy each.
        return LlamaForCausalLM._from_config(copy.deepcopy(cfg),
                                             attn_implementation=implementation)
    return BuiltinLlama(c, implementation)


def loss_of(kind, model, ids):
    if kind == "transformers":
        return model(input_ids=ids, labels=ids).loss
    return model(ids, ids)


def train(kind, c, data, implementation, state, device, dtype, steps, seed):
    model = make_model(kind, c, implementation).to(device=device, dtype=dtype)
    model.load_state_dict(state)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        ids = torch.randint(0, c["vocab_size"], (data["batch"], data["seq"]),
                            generator=gen).to(device)
        loss = loss_of(kind, model, ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def plot(curves, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("train_smoke: matplotlib is not installed; no plot (the curves are in the JSON)")
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, losses in curves.items():
        ax.plot(range(1, len(losses) + 1), losses, marker="o", markersize=3, label=name)
    ax.set_xlabel("AdamW step")
    ax.set_ylabel("training loss")
    ax.set_title("Llama-architecture smoke test: loss per attention implementation")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def prepare(c, data, dtype):
    """Compiles the CUDA kernels of the attn_mlir run into the cache (here,
    with the compiler): the forward with LSE, then its backward, which
    reports MissingGpuBackward while the GPU backward does not exist."""
    b, n = data["batch"], data["seq"]
    q = torch.empty(b, c["num_attention_heads"], n, c["head_dim"], dtype=dtype, device="meta")
    kv = torch.empty(b, c["num_key_value_heads"], n, c["head_dim"], dtype=dtype,
                     device="meta")
    args = (q, kv, kv, None, "causal-top-left", 0, 0, c["head_dim"] ** -0.5, None, None)
    target, spec, options = at._autograd._spec(q, kv, kv, "causal-top-left", 0, 0,
                                               args[7], None, None, None, False, True)
    print("train_smoke --prepare: forward", at._kernel(target, spec, options).key)
    try:
        print("train_smoke --prepare: backward", at._autograd.gpu_backward_kernel(*args).key)
    except at.MissingGpuBackward as e:
        print(f"train_smoke --prepare: {e}")
        print("train_smoke --prepare: the device run will stop with this error")
    if os.environ.get("ATTN_MLIR_BACKWARD_BSHD", "0") == "1":
        # The copy-free path decides on CUDA tensors' strides, which meta
        # tensors cannot show it: compile its BSHD forward and backward here.
        for backward in (False, True):
            target, spec, options = at._autograd._spec(
                q, kv, kv, "causal-top-left", 0, 0, args[7], None, None, None,
                backward, True, bshd=True)
            print("train_smoke --prepare: BSHD", "backward" if backward else "forward",
                  at._kernel(target, spec, options).key)


def kernel_kinds():
    """The distinct kernels the attn_mlir run launched (attn_mlir.torch's
    kernels_used), by kind: forward or backward, BSHD or dense, so a log
    shows which path of the torch op trained."""
    used = at.kernels_used()
    kinds = {}
    for kernel in {k.key: k for k in at._kernels.values() if k.key in used}.values():
        spec = kernel.description["source"].get("spec", {})
        kind = ("backward" if spec.get("backward") else "forward") + \
            (" bshd" if spec.get("bshd") else "")
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="the CPU ctest's config")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                    help="default: bfloat16 on CUDA (the GPU kernels' type), float32 on CPU")
    ap.add_argument("--model", choices=("auto", "transformers", "builtin"), default="auto")
    ap.add_argument("--out", default=os.environ.get("OUT", "train_smoke_out"))
    ap.add_argument("--check", type=float, default=None, metavar="TOL",
                    help="exit 1 unless max |attn_mlir loss - eager loss| <= TOL")
    ap.add_argument("--no-f32", action="store_true",
                    help="skip the float32 eager run (the second yardstick of bf16/f16)")
    ap.add_argument("--prepare", action="store_true",
                    help="compile the CUDA kernels of the run into $ATTN_MLIR_CACHE_DIR")
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    c, data = config(args.tiny)
    if args.prepare:
        return prepare(c, data, dtype)

    kind = model_kind(args.model)
    torch.manual_seed(args.seed)
    state = make_model(kind, c, "eager").state_dict()  # one set of weights for all

    curves, errors = {}, {}
    for name in IMPLEMENTATIONS:
        if name == "sdpa" and not hasattr(torch.nn.functional,
                                          "scaled_dot_product_attention"):
            print(f"train_smoke: torch {torch.__version__} has no scaled_dot_product_attention; "
                  "skipping sdpa")
            continue
        try:
            curves[name] = train(kind, c, data, name, state, device, dtype, args.steps,
                                 args.seed)
        except at.MissingGpuBackward as e:
            errors[name] = str(e)
            print(f"train_smoke: {name}: {e}", file=sys.stderr)
            continue
        print(f"train_smoke: {name:9s} " + " ".join(f"{x:.4f}" for x in curves[name]))
    # A second yardstick for reduced precision: eager attention with the
    # whole model in float32 from the same weights and data. The bf16
    # eager curve carries eager's own rounding (bf16 scores and P), so how
    # close each bf16 run comes to float32 says which one is more accurate.
    f32 = None
    if dtype != torch.float32 and not args.no_f32:
        f32 = train(kind, c, data, "eager", state, device, torch.float32, args.steps,
                    args.seed)
        print(f"train_smoke: eager f32 " + " ".join(f"{x:.4f}" for x in f32))

    # A non-finite loss is an infinite difference (max() would skip a NaN).
    diffs = {name: max((abs(a - b) if math.isfinite(a) else math.inf)
                       for a, b in zip(losses, curves["eager"]))
             for name, losses in curves.items() if name != "eager"}
    means = {name: sum(abs(a - b) for a, b in zip(losses, curves["eager"])) / len(losses)
             for name, losses in curves.items() if name != "eager"}
    for name, d in diffs.items():
        print(f"train_smoke: max |loss - eager loss| over {args.steps} steps: {name} {d:.3g}"
              f" (mean {means[name]:.3g})")
    kinds = kernel_kinds()
    print("train_smoke: attn_mlir kernels used: " +
          (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"))
    if "attn_mlir" in diffs and "sdpa" in diffs:
        print("train_smoke: attn_mlir no further from eager than sdpa: "
              f"{'yes' if diffs['attn_mlir'] <= diffs['sdpa'] else 'no'}")
    to_f32 = {}
    if f32 is not None:
        to_f32 = {name: sum(abs(a - b) for a, b in zip(losses, f32)) / len(losses)
                  for name, losses in curves.items()}
        print("train_smoke: mean |loss - float32 eager loss|: " +
              ", ".join(f"{name} {d:.3g}" for name, d in to_f32.items()))

    os.makedirs(args.out, exist_ok=True)
    result = {"model": kind, "config": c, "data": data, "device": str(device),
              "dtype": str(dtype), "steps": args.steps, "seed": args.seed,
              "torch": torch.__version__, "curves": curves,
              "max_abs_diff_vs_eager": diffs, "mean_abs_diff_vs_eager": means,
              "eager_f32_curve": f32, "mean_abs_diff_vs_eager_f32": to_f32,
              "kernels_used": kinds, "errors": errors}
    path = os.path.join(args.out, "train_smoke.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    png = plot(curves, os.path.join(args.out, "train_smoke.png"))
    print(f"train_smoke: wrote {path}" + (f" and {png}" if png else ""))

    if errors:
        return 3
    if not all(math.isfinite(x) for losses in curves.values() for x in losses):
        print("train_smoke: a loss is not finite", file=sys.stderr)
        return 1
    if args.check is not None and diffs.get("attn_mlir", math.inf) > args.check:
        print(f"train_smoke: attn_mlir's curve is {diffs.get('attn_mlir')} from eager's, "
              f"above --check {args.check}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
