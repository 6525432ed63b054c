"""attn_mlir.parallel: tensor-parallel (head-sharded) attention.

Megatron-style tensor parallelism for a Llama-architecture attention block:
the Q, K and V projections are column-parallel (rank r owns the rows of its
heads), every rank runs attention on its own heads, and the output
projection is row-parallel (rank r owns the columns of its heads) followed
by an all-reduce (SUM) over the group.

    import torch.distributed as dist
    from attn_mlir.parallel import LlamaAttention, TensorParallelAttention

    dense = LlamaAttention(hidden=4096, num_heads=32, num_kv_heads=8, alibi=True)
    shard = TensorParallelAttention.from_dense(dense, rank, world_size)
    y = shard(x)                    # == dense(x), up to the all-reduce's rounding

A shard computes the unsharded function only if what depends on a head's
identity sees the global head: the ALiBi slope and a score_mod's head
argument. `attention(..., head_offset=...)` passes that offset down; it is
attn.attention's `head_offset` / `num_heads_total` (docs/TensorParallel.md).
When there are more ranks than key/value heads, each KV head is replicated
on the ranks whose query heads share it; a rank never holds part of a KV
group.

Backends: "torch" is attention written with torch operations
(torch.nn.functional.scaled_dot_product_attention with the ALiBi and causal
terms as an additive mask where torch has it, the same math spelled out in
float32 on torch 1.13); "attn_mlir" is the attn_mlir.torch operator
(compiled kernels). "auto" picks attn_mlir for CUDA tensors when the
operator is importable and can express the call, else torch, and says so in
`last_backend()`.
"""

import inspect
import math
from typing import List, Optional, Sequence

import torch
import torch.distributed as dist

__all__ = ["alibi_slopes", "attention", "last_backend", "Unsupported",
           "LlamaAttention", "TensorParallelAttention", "shard_heads"]


class Unsupported(ValueError):
    """The requested backend cannot compute this call; the message says why."""


def alibi_slopes(num_heads: int) -> List[float]:
    """The geometric ALiBi slopes 2^(-8 (h + 1) / H) (attn-compile --alibi),
    one per head of the whole (unsharded) attention."""
    return [math.pow(2.0, -8.0 * (h + 1) / num_heads) for h in range(num_heads)]


def shard_heads(num_heads: int, num_kv_heads: int, rank: int, world_size: int):
    """(head_offset, local query heads, first global KV head, local KV heads)
    of `rank`: a contiguous block of whole KV groups, or, with more ranks
    than KV heads, a block of one group's query heads and a copy of its KV
    head."""
    if num_heads % world_size:
        raise Unsupported(f"attn_mlir.parallel: expected the {num_heads} query heads "
                          f"to divide among {world_size} ranks")
    if num_kv_heads % world_size and world_size % num_kv_heads:
        raise Unsupported(f"attn_mlir.parallel: expected {num_kv_heads} key/value heads "
                          f"and {world_size} ranks to divide one another")
    local = num_heads // world_size
    offset = rank * local
    group = num_heads // num_kv_heads
    kv_local = max(1, num_kv_heads // world_size)
    return offset, local, offset // group, kv_local


# ---------------------------------------------------------------------------
# Attention on (a shard of) the heads
# ---------------------------------------------------------------------------

_last_backend = None


def last_backend() -> Optional[str]:
    """The backend the last attention() call used (with the reason when
    "auto" fell back to torch)."""
    return _last_backend


def _score_bias(lq, lk, slopes, causal, device):
    """The additive [H, Lq, Lk] float32 term of attn.attention's scores:
    -slope[h] * |i + Lk - Lq - j| (ALiBi, slopes of the local heads' global
    heads) and -inf above the bottom-right causal diagonal."""
    i = torch.arange(lq, device=device).view(lq, 1)
    j = torch.arange(lk, device=device).view(1, lk)
    dist_ = (i + (lk - lq) - j)
    bias = torch.zeros(1, lq, lk, device=device, dtype=torch.float32)
    if slopes is not None:
        s = torch.tensor(slopes, device=device, dtype=torch.float32).view(-1, 1, 1)
        bias = -s * dist_.abs().to(torch.float32)
    if causal:
        bias = bias.masked_fill(dist_ < 0, float("-inf"))
    return bias


def _torch_attention(q, k, v, causal, slopes, scale):
    b, hq, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    if hq != hkv:  # GQA: query head h reads KV head h // (Hq / Hkv)
        k = k.repeat_interleave(hq // hkv, dim=1)
        v = v.repeat_interleave(hq // hkv, dim=1)
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    bias = _score_bias(lq, lk, slopes, causal, q.device)
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if sdpa is not None:
        mask = bias.to(q.dtype) if q.dtype != torch.float32 else bias
        try:
            return sdpa(q, k, v, attn_mask=mask.unsqueeze(0), scale=scale)
        except TypeError:  # torch 2.0: no `scale` argument
            pass
    # torch 1.13 (Debian): the same math, accumulated in float32.
    s = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale + bias
    p = torch.softmax(s, dim=-1)
    # A row whose keys are all masked gives 0, as attn.attention defines.
    p = torch.nan_to_num(p, nan=0.0)
    return torch.matmul(p, v.float()).to(q.dtype)


def _attn_mlir_op():
    """attn_mlir.torch.scaled_dot_product_attention, or None."""
    try:
        from attn_mlir import torch as attn_torch  # noqa: PLC0415
    except Exception:  # no package, or its libraries are not found
        return None
    return getattr(attn_torch, "scaled_dot_product_attention", None)


def _attn_mlir_attention(op, q, k, v, causal, slopes, head_offset,
                         num_heads_total, scale):
    params = inspect.signature(op).parameters
    kwargs = {"enable_gqa": True, "scale": scale}
    if slopes is not None:
        # ALiBi needs the global slopes and the shard's offset down to
        # attn.attention; an operator without them would compute another
        # function, so it is not asked. (Without ALiBi nothing here depends
        # on a head's identity, and the offset does not matter.)
        if not {"alibi_slopes", "head_offset", "num_heads_total"} <= params.keys():
            raise Unsupported("attn_mlir.parallel: attn_mlir.torch.scaled_dot_product_"
                              "attention takes no alibi_slopes/head_offset/"
                              "num_heads_total arguments")
        kwargs.update(alibi_slopes=slopes, head_offset=head_offset,
                      num_heads_total=num_heads_total)
    if causal:
        if q.shape[2] != k.shape[2]:
            # torch's is_causal is top-left aligned; attn.attention's ALiBi and
            # this module's mask are bottom-right: they agree only for Lq == Lk.
            raise Unsupported("attn_mlir.parallel: causal attention with Lq != Lk")
        kwargs["is_causal"] = True
    return op(q, k, v, **kwargs)


def attention(q, k, v, *, causal: bool = True,
              alibi: Optional[Sequence[float]] = None, head_offset: int = 0,
              scale: Optional[float] = None, backend: str = "auto"):
    """attn.attention on local heads: q [B, Hq, Lq, D], k/v [B, Hkv, Lk, D].

    `alibi` holds one slope per head of the whole attention; local head h
    uses alibi[h + head_offset] (its global head). Causal masks are
    bottom-right aligned (the last query sees every key)."""
    global _last_backend
    num_heads_total = len(alibi) if alibi is not None else None
    local = None
    if alibi is not None:
        if head_offset + q.shape[1] > len(alibi):
            raise ValueError(f"attn_mlir.parallel: expected one ALiBi slope per global "
                             f"head, got {len(alibi)} for heads [{head_offset}, "
                             f"{head_offset + q.shape[1]})")
        local = list(alibi[head_offset:head_offset + q.shape[1]])
    if backend not in ("auto", "torch", "attn_mlir"):
        raise ValueError(f"attn_mlir.parallel: unknown backend {backend!r}")
    if backend == "torch":
        _last_backend = "torch"
        return _torch_attention(q, k, v, causal, local, scale)
    if backend == "auto" and not q.is_cuda:
        _last_backend = "torch (CPU tensors: auto uses attn_mlir on CUDA)"
        return _torch_attention(q, k, v, causal, local, scale)
    op = _attn_mlir_op()
    if op is None:
        reason = "attn_mlir.torch is not importable"
    else:
        try:
            out = _attn_mlir_attention(op, q, k, v, causal,
                                       list(alibi) if alibi is not None else None,
                                       head_offset, num_heads_total, scale)
            _last_backend = "attn_mlir"
            return out
        except Exception as e:  # refused, or no compiler/kernel on this machine
            if backend == "attn_mlir":
                raise
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else e}"
    if backend == "attn_mlir":
        raise Unsupported(f"attn_mlir.parallel: backend attn_mlir: {reason}")
    # The fallback is reported, never silent: last_backend() carries why.
    _last_backend = f"torch ({reason})"
    return _torch_attention(q, k, v, causal, local, scale)


# ---------------------------------------------------------------------------
# The Llama attention block, dense and tensor-parallel
# ---------------------------------------------------------------------------

def _rope(x, positions, theta):
    """Rotary position embedding (Llama's rotate-half form) on [B, H, L, D]."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d))
    angles = positions.to(torch.float32).view(-1, 1) * inv.view(1, -1)
    cos = torch.cat([angles.cos(), angles.cos()], dim=-1).to(x.dtype)
    sin = torch.cat([angles.sin(), angles.sin()], dim=-1).to(x.dtype)
    half = d // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class LlamaAttention(torch.nn.Module):
    """The single-device block: q/k/v projections, RoPE (or ALiBi, as BLOOM
    and MPT use instead of RoPE), causal GQA attention, output projection.
    No biases, as in Llama."""

    def __init__(self, hidden: int, num_heads: int, num_kv_heads: int,
                 head_dim: Optional[int] = None, alibi: bool = False,
                 rope_theta: float = 10000.0, backend: str = "auto",
                 device=None, dtype=None):
        super().__init__()
        self.hidden, self.num_heads, self.num_kv_heads = hidden, num_heads, num_kv_heads
        self.head_dim = head_dim or hidden // num_heads
        self.alibi = alibi_slopes(num_heads) if alibi else None
        self.rope_theta, self.backend = rope_theta, backend
        self.head_offset = 0
        self.local_heads, self.local_kv_heads = num_heads, num_kv_heads
        f = dict(bias=False, device=device, dtype=dtype)
        self.q_proj = torch.nn.Linear(hidden, num_heads * self.head_dim, **f)
        self.k_proj = torch.nn.Linear(hidden, num_kv_heads * self.head_dim, **f)
        self.v_proj = torch.nn.Linear(hidden, num_kv_heads * self.head_dim, **f)
        self.o_proj = torch.nn.Linear(num_heads * self.head_dim, hidden, **f)
        self.last_attention = None

    def _heads(self, x, proj, heads):
        b, l, _ = x.shape
        return proj(x).view(b, l, heads, self.head_dim).transpose(1, 2)

    def attend(self, x):
        """The attention output of the local heads, [B, Hq_local, L, D]."""
        q = self._heads(x, self.q_proj, self.local_heads)
        k = self._heads(x, self.k_proj, self.local_kv_heads)
        v = self._heads(x, self.v_proj, self.local_kv_heads)
        if self.alibi is None:
            pos = torch.arange(x.shape[1], device=x.device)
            q, k = _rope(q, pos, self.rope_theta), _rope(k, pos, self.rope_theta)
        a = attention(q, k, v, causal=True, alibi=self.alibi,
                      head_offset=self.head_offset, backend=self.backend)
        self.last_attention = a
        return a

    def partial(self, x):
        """o_proj applied to the local heads only (the whole output when
        dense; one summand of it on a shard)."""
        a = self.attend(x)
        b, _, l, _ = a.shape
        return self.o_proj(a.transpose(1, 2).reshape(b, l, -1))

    def forward(self, x):
        return self.partial(x)


class TensorParallelAttention(LlamaAttention):
    """One rank's shard of a LlamaAttention: its query heads
    [head_offset, head_offset + Hq / world) and their KV heads; forward()
    all-reduces the row-parallel output projection over `group`."""

    def __init__(self, hidden, num_heads, num_kv_heads, rank, world_size,
                 group=None, head_dim=None, alibi=False, rope_theta=10000.0,
                 backend="auto", device=None, dtype=None):
        torch.nn.Module.__init__(self)
        self.hidden, self.num_heads, self.num_kv_heads = hidden, num_heads, num_kv_heads
        self.head_dim = head_dim or hidden // num_heads
        self.alibi = alibi_slopes(num_heads) if alibi else None
        self.rope_theta, self.backend = rope_theta, backend
        self.rank, self.world_size, self.group = rank, world_size, group
        (self.head_offset, self.local_heads, self.kv_head0,
         self.local_kv_heads) = shard_heads(num_heads, num_kv_heads, rank, world_size)
        d = self.head_dim
        f = dict(bias=False, device=device, dtype=dtype)
        self.q_proj = torch.nn.Linear(hidden, self.local_heads * d, **f)
        self.k_proj = torch.nn.Linear(hidden, self.local_kv_heads * d, **f)
        self.v_proj = torch.nn.Linear(hidden, self.local_kv_heads * d, **f)
        self.o_proj = torch.nn.Linear(self.local_heads * d, hidden, **f)
        self.last_attention = None

    @classmethod
    def from_dense(cls, dense: LlamaAttention, rank: int, world_size: int,
                   group=None, backend: Optional[str] = None):
        """The shard of `dense` that `rank` holds (weights copied, sliced)."""
        w = dense.q_proj.weight
        shard = cls(dense.hidden, dense.num_heads, dense.num_kv_heads, rank,
                    world_size, group=group, head_dim=dense.head_dim,
                    alibi=dense.alibi is not None, rope_theta=dense.rope_theta,
                    backend=backend or dense.backend, device=w.device, dtype=w.dtype)
        d = dense.head_dim
        q_rows = slice(shard.head_offset * d, (shard.head_offset + shard.local_heads) * d)
        kv_rows = slice(shard.kv_head0 * d, (shard.kv_head0 + shard.local_kv_heads) * d)
        with torch.no_grad():
            shard.q_proj.weight.copy_(dense.q_proj.weight[q_rows])
            shard.k_proj.weight.copy_(dense.k_proj.weight[kv_rows])
            shard.v_proj.weight.copy_(dense.v_proj.weight[kv_rows])
            shard.o_proj.weight.copy_(dense.o_proj.weight[:, q_rows])
        return shard

    def forward(self, x):
        y = self.partial(x)
        dist.all_reduce(y, op=dist.ReduceOp.SUM, group=self.group)
        return y
