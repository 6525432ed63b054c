"""The score operands of the backward checks and timings (backward_bench.py):
the additive bias, the boolean mask and key_lengths of a variant's flags
(--bias, --bool-mask, --key-lengths), made on the device, and the timing of
our backward against torch's backends that take them.

Inputs (checks): a bias N(0, 1) in the inputs' dtype with every 13th query
row all -inf, a mask keeping ~70% of the keys with every 11th row all
False (fully masked rows: O = 0, LSE = -inf, every gradient 0, never NaN),
key lengths Lk - 37 b - (Lk / 3 on odd b), the last of 3+ sequences 0
(a sequence with no key), sinks (--sinks) f32 N(0, 2^2) per query head
with d_sinks checked too. Timings use the same operands without the fully
masked rows (SDPA's backends give NaN there).
"""
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def make_operands(spec, masked_rows=True):
    """{"bias", "mask", "key_lengths"}: the operands the spec's flags ask
    for, in the kernel argument order (after the LSE)."""
    dt = torch.bfloat16 if spec["dtype"] == "bf16" else torch.float16
    b, hq, lq, lk = (spec[x] for x in ("batch", "hq", "lq", "lk"))
    rows = torch.arange(lq, device="cuda")
    ops = {}
    if spec.get("bias"):
        axes = ("batch", "heads", "query", "key")
        shape = [1 if a in spec.get("bias_broadcast", []) else n
                 for a, n in zip(axes, (b, hq, lq, lk))]
        bias = torch.randn(*shape, device="cuda", dtype=dt)
        # -inf rows where the bias is a constant (their gradient's float64
        # reference would be 0 * inf).
        if masked_rows and shape[2] == lq and not spec.get("bias_grad"):
            bias[:, :, rows % 13 == 5, :] = float("-inf")
        ops["bias"] = bias
    if spec.get("bool_mask"):
        mask = torch.rand(b, hq, lq, lk, device="cuda") < 0.7
        if masked_rows:
            mask[:, :, rows % 11 == 3, :] = False
        ops["mask"] = mask
    if spec.get("key_lengths"):
        lens = [max(0, lk - 37 * i - (lk // 3) * (i % 2)) for i in range(b)]
        if b >= 3:
            lens[-1] = 0
        ops["key_lengths"] = torch.tensor(lens, dtype=torch.int32, device="cuda")
    if spec.get("sinks"):
        ops["sinks"] = 2 * torch.randn(hq, device="cuda", dtype=torch.float32)
    return ops


def key_offset(spec, ops, batch0, nbatch):
    """Lk - Lq, or len_b - Lq per batch [B', 1, 1, 1] with key_lengths (the
    bottom-right diagonal and the ALiBi distance use len_b)."""
    if "key_lengths" not in ops:
        return spec["lk"] - spec["lq"]
    lens = ops["key_lengths"][batch0:batch0 + nbatch].to(torch.float64)
    return lens.view(-1, 1, 1, 1) - spec["lq"]


def apply_operands(spec, ops, s, vis, batch0, head0):
    """Scores with the bias added (after ALiBi) and the visibility [..., Lq,
    Lk] narrowed by the mask and key_lengths, for the batches and query
    heads of `s` from batch0, head0."""
    nb, nh = s.shape[0], s.shape[1]
    if "bias" in ops:
        bias = ops["bias"]
        bs = slice(None) if bias.shape[0] == 1 else slice(batch0, batch0 + nb)
        hs = slice(None) if bias.shape[1] == 1 else slice(head0, head0 + nh)
        s = s + bias[bs, hs].to(s.dtype)
    if "mask" in ops:
        vis = vis & ops["mask"][batch0:batch0 + nb, head0:head0 + nh]
    if "key_lengths" in ops:
        lens = ops["key_lengths"][batch0:batch0 + nb].view(-1, 1, 1, 1)
        vis = vis & (torch.arange(spec["lk"], device=s.device) < lens)
    return s, vis


def kernel_operands(ops):
    """The operand tensors in the kernel's argument order."""
    return [ops[k] for k in ("bias", "mask", "key_lengths", "sinks") if k in ops]


def softmax_stats(s, sinks, head0):
    """(P, LSE) of scores s [B', G, Lq, Lk] (-inf: masked): with sinks the
    sink's logit joins every row's denominator (LSE includes it; a row
    that sees no key has P = 0 and LSE = the sink); without, a row that
    sees no key has P = 0 and LSE = -inf (its scores replaced before
    logsumexp, whose backward would give 0 * NaN there)."""
    if sinks is not None:
        sink = sinks[head0:head0 + s.shape[1]].to(s.dtype).view(1, -1, 1, 1)
        lse = torch.logsumexp(torch.cat([s, sink.expand(*s.shape[:3], 1)], dim=-1), dim=-1)
        return torch.exp(s - lse[..., None]), lse
    empty = ~(s > float("-inf")).any(dim=-1, keepdim=True)
    s = s.masked_fill(empty, 0.0)
    lse = torch.logsumexp(s, dim=-1)
    p = torch.exp(s - lse[..., None]).masked_fill(empty, 0.0)
    return p, lse.masked_fill(empty[..., 0], float("-inf"))


def time_operands(spec, row, q, k, v, do, ops, ours_ms, do_bench):
    """SDPA with the operand as attn_mask (efficient, cuDNN, math where they
    take it) and torch.compile(flex_attention) (score_mod adding the bias,
    or masking by the bool mask), backward only, on the same inputs."""
    causal = spec["mask"] == "causal"
    attn_mask = ops.get("bias", ops.get("mask"))
    lq, lk = spec["lq"], spec["lk"]
    if causal and attn_mask is not None:
        tri = torch.ones(lq, lk, dtype=torch.bool, device="cuda").tril(lk - lq)
        attn_mask = (attn_mask.masked_fill(~tri, float("-inf")) if attn_mask.dtype != torch.bool
                     else attn_mask & tri)

    def grad_time(fwd):
        qq, kk, vv = (t.detach().clone().requires_grad_() for t in (q, k, v))
        o = fwd(qq, kk, vv)
        fn = lambda: torch.autograd.grad(o, (qq, kk, vv), do, retain_graph=True)  # noqa: E731
        return do_bench(fn, warmup=10, rep=50, return_mode="median")

    for label, backend in (("efficient", SDPBackend.EFFICIENT_ATTENTION),
                           ("cudnn", SDPBackend.CUDNN_ATTENTION),
                           ("math", SDPBackend.MATH)):
        try:
            def fwd(qq, kk, vv, backend=backend):
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(qq, kk, vv, attn_mask=attn_mask)
            ms = grad_time(fwd)
            row[f"sdpa_{label}_ms"] = ms
            row[f"vs_sdpa_{label}"] = ms / ours_ms
        except Exception as e:  # a backend that does not take the mask
            row[f"sdpa_{label}_error"] = str(e).splitlines()[0][:200]
        torch.cuda.empty_cache()
    try:
        from torch.nn.attention.flex_attention import flex_attention
        flex = torch.compile(flex_attention)
        if "bias" in ops:
            bias = ops["bias"]

            def score_mod(score, b, h, qi, ki):
                s = score + bias[b, h, qi, ki]
                return torch.where(ki <= qi + (lk - lq), s, float("-inf")) if causal else s
        else:
            mask = ops["mask"]

            def score_mod(score, b, h, qi, ki):
                keep = mask[b, h, qi, ki]
                if causal:
                    keep = keep & (ki <= qi + (lk - lq))
                return torch.where(keep, score, float("-inf"))
        ms = grad_time(lambda qq, kk, vv: flex(qq, kk, vv, score_mod=score_mod))
        row["flex_ms"] = ms
        row["vs_flex"] = ms / ours_ms
    except Exception as e:
        row["flex_error"] = str(e).splitlines()[0][:200]


def summary(row):
    """One line of the operand timings."""
    parts = []
    for label in ("sdpa_efficient", "sdpa_cudnn", "sdpa_math", "flex"):
        if f"{label}_ms" in row:
            parts.append(f"{label} {row[f'{label}_ms']:.3f} ms ({row[f'vs_{label}']:.2f}x)")
        elif f"{label}_error" in row:
            parts.append(f"{label} n/a")
    return "; ".join(parts)
