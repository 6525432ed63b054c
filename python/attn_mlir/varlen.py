"""Varlen batches as FlashAttention's flash_attn_varlen_func takes them:
sequences packed as [total, H, D] with cu_seqlens_q / cu_seqlens_k.

    out = attn_mlir.varlen_attention(q, k, v, cu_q, cu_k, causal=True)

q [Tq, Hq, D], k [Tk, Hkv, D], v [Tk, Hkv, Dv] (numpy), cu_q / cu_k int32
[N+1]; sequence n owns query rows cu_q[n]:cu_q[n+1] and keys
cu_k[n]:cu_k[n+1], and is attended to as its own dense problem (causal and
window aligned bottom-right per sequence, as FlashAttention >= 2.1). The
CPU target runs it here (attn.attention with cu_seqlens operands, split
per sequence); the GPU kernel (attn-compile --target=ptx --varlen,
docs/Pipeline.md "Varlen kernels") runs torch CUDA tensors through
attn_mlir.torch.varlen_attention; this numpy helper refuses other targets. The kernel
takes the number of sequences and the packed totals as runtime lengths, so
one compile serves every batch of the same heads, head dims, dtype and mask.
"""

# numpy only when called: `import attn_mlir` needs none (as the rest of
# the package).
_DTYPES = {"float32": "f32", "float16": "f16", "float64": "f64", "uint16": "bf16"}


def _check_offsets(cu_q, cu_k, total_q, total_k, max_seqlen_q, max_seqlen_k):
    """The offsets' contract, checked on the host where they live (a device
    launch could only check their sizes)."""
    import numpy as np
    for name, cu in (("cu_seqlens_q", cu_q), ("cu_seqlens_k", cu_k)):
        if not isinstance(cu, np.ndarray) or cu.dtype != np.int32 or cu.ndim != 1 \
                or cu.size < 1:
            raise ValueError(f"attn_mlir: expected {name} as a 1-D int32 numpy "
                             "array of N+1 offsets")
    if cu_q.size != cu_k.size:
        raise ValueError(f"attn_mlir: expected cu_seqlens_q and cu_seqlens_k of one "
                         f"size N+1, got {cu_q.size} and {cu_k.size}")
    for name, cu, total, exact, bound in (
            ("cu_seqlens_q", cu_q, total_q, True, max_seqlen_q),
            ("cu_seqlens_k", cu_k, total_k, False, max_seqlen_k)):
        lengths = np.diff(cu)
        if cu[0] != 0 or (lengths < 0).any() or \
                (cu[-1] != total if exact else cu[-1] > total):
            raise ValueError(f"attn_mlir: expected {name} to rise from 0 to "
                             f"{'' if exact else 'at most '}{total} without "
                             f"decreasing, got {cu.tolist()}")
        if bound is not None and lengths.size and lengths.max() > bound:
            raise ValueError(f"attn_mlir: expected every sequence within the "
                             f"max_seqlen given ({bound}), got {lengths.max()}")


def _mask_of(causal, window_size, total_k, alibi_slopes=None):
    """flash_attn's (causal, window_size, alibi_slopes) as a spec's mask
    fields; -1 in window_size is an unbounded side. The ALiBi distance is per
    sequence: -slope * |i + Lk_n - Lq_n - j| with i, j counted from the
    sequence's first row."""
    alibi = {"alibi": [float(x) for x in alibi_slopes]} if alibi_slopes is not None \
        else {}
    left, right = window_size
    if left < 0 and right < 0:
        return {"mask": "causal" if causal else "none", **alibi}
    return {"mask": "sliding-window",
            "window_left": left if left >= 0 else total_k,
            "window_right": 0 if causal else (right if right >= 0 else total_k), **alibi}


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None,
                     max_seqlen_k=None, *, causal=False, softmax_scale=None,
                     window_size=(-1, -1), return_lse=False, dtype=None,
                     target="cpu", options=None, alibi_slopes=None):
    """Attention over packed sequences; returns out [Tq, Hq, Dv] (and, with
    return_lse, the LSE [Hq, Tq] as float32, FlashAttention's layout).
    alibi_slopes: one per query head (flash_attn's), the distance per
    sequence.
    max_seqlen_q/k are the GPU grid's bound in FlashAttention; here they
    are optional and, when given, checked against the offsets. bf16 arrays
    are uint16 bits (attn_mlir.float32_to_bf16), with dtype="bf16"."""
    import numpy as np
    from . import compile as compile_kernel
    if target != "cpu":
        raise ValueError("attn_mlir: varlen_attention runs on the CPU target only "
                         "(this numpy helper launches no GPU kernel: "
                         "attn_mlir.torch.varlen_attention runs CUDA tensors on "
                         "the GPU varlen kernel)")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, np.ndarray) or x.ndim != 3:
            raise ValueError(f"attn_mlir: expected {name} as a [total, H, D] numpy array")
    total_q, heads_q, head_dim = q.shape
    total_k, heads_kv, _ = k.shape
    _check_offsets(cu_seqlens_q, cu_seqlens_k, total_q, total_k, max_seqlen_q,
                   max_seqlen_k)
    dtype = dtype or _DTYPES.get(q.dtype.name)
    if dtype is None:
        raise ValueError(f"attn_mlir: no element type for {q.dtype} (give dtype=)")
    # A spec needs Lk >= 1: a batch with no keys at all gets one padding
    # row that no sequence owns.
    pad_k = total_k == 0
    if pad_k:
        k = np.zeros((1,) + k.shape[1:], k.dtype)
        v = np.zeros((1,) + v.shape[1:], v.dtype)
    kernel = compile_kernel(
        target="cpu", options=options, varlen=cu_seqlens_q.size - 1, dynamic=True,
        heads_q=heads_q, heads_kv=heads_kv, seq_q=total_q, seq_k=k.shape[0],
        head_dim=head_dim, value_head_dim=v.shape[2], dtype=dtype, lse=True,
        scale=softmax_scale, **_mask_of(causal, window_size, k.shape[0], alibi_slopes))
    # The kernel's totals are runtime lengths: its outputs are ours to size.
    out = np.empty((1, total_q, heads_q, v.shape[2]), q.dtype)
    lse = np.empty((1, heads_q, total_q), np.float64 if dtype == "f64" else np.float32)
    kernel(*(np.ascontiguousarray(x)[None] for x in (q, k, v)),
           np.ascontiguousarray(cu_seqlens_q), np.ascontiguousarray(cu_seqlens_k),
           out, lse)
    return (out[0], lse[0]) if return_lse else out[0]


def varlen_attention_backward(q, k, v, out, grad_out, lse, cu_seqlens_q, cu_seqlens_k,
                              *, causal=False, softmax_scale=None, window_size=(-1, -1),
                              dtype=None, options=None, alibi_slopes=None, grad_lse=None):
    """(dq, dk, dv) of varlen_attention on the CPU target: the backward
    attn.attention_backward defines for cu_seqlens (each sequence's dense
    backward, recomputed from its saved out and lse [Hq, Tq]; keys of no
    sequence get 0). Shapes as varlen_attention's; one kernel per (N,
    totals) (the backward's dims are static). `grad_lse` ([Hq, Tq], the
    LSE's): the loss reads the LSE too (the backward's grad_lse operand)."""
    import numpy as np
    from . import compile as compile_kernel
    total_q, heads_q, head_dim = q.shape
    total_k, heads_kv, _ = k.shape
    _check_offsets(cu_seqlens_q, cu_seqlens_k, total_q, total_k, None, None)
    dtype = dtype or _DTYPES.get(q.dtype.name)
    if dtype is None:
        raise ValueError(f"attn_mlir: no element type for {q.dtype} (give dtype=)")
    if total_q == 0:  # no query rows: no gradient flows anywhere
        return np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    # As the forward: a batch without keys gets one padding row no sequence
    # owns (its gradients are 0 and dropped).
    pad_k = total_k == 0
    if pad_k:
        k = np.zeros((1,) + k.shape[1:], k.dtype)
        v = np.zeros((1,) + v.shape[1:], v.dtype)
    # Lowered whole (each sequence's dense backward, S materialised per
    # sequence): attn-tile-backward tiles static shapes only, and the split
    # sequences have runtime lengths.
    options = dict(options or {}, flash=False)
    kernel = compile_kernel(
        target="cpu", options=options, varlen=cu_seqlens_q.size - 1, backward=True,
        heads_q=heads_q, heads_kv=heads_kv, seq_q=total_q, seq_k=k.shape[0],
        head_dim=head_dim, value_head_dim=v.shape[2], dtype=dtype, lse=True,
        lse_grad=grad_lse is not None, scale=softmax_scale,
        **_mask_of(causal, window_size, k.shape[0], alibi_slopes))
    tail = [] if grad_lse is None else [np.ascontiguousarray(grad_lse, lse.dtype)[None]]
    dq, dk, dv = kernel(*(np.ascontiguousarray(x)[None] for x in (q, k, v, out, grad_out)),
                        np.ascontiguousarray(lse)[None],
                        np.ascontiguousarray(cu_seqlens_q), np.ascontiguousarray(cu_seqlens_k),
                        *tail)
    if pad_k:
        return dq[0], dk[0, :0], dv[0, :0]
    return dq[0], dk[0], dv[0]
