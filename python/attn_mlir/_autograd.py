"""The differentiable attention operator behind attn_mlir.torch.

torch.ops.attn_mlir.attention(q, k, v, attn_mask, mask, window_left,
window_right, scale, softcap, alibi_slopes) -> (out, lse) runs the forward
with its log-sum-exp; torch.ops.attn_mlir.attention_backward takes the saved
(q, k, v, out, lse) and the incoming gradients and runs attn-mlir's own
backward (attn.attention_backward: recomputation from the LSE, GQA / MQA dK
and dV summed over each query group). Autograd connects the two with
torch.library.register_autograd where torch has it (2.4 and later, so
torch.compile traces forward and backward as two opaque ops) and with a
torch.autograd.Function on older torch (Debian's 1.13).

Gradients are computed by our kernels or not at all: with CUDA tensors the
backward needs the GPU backward kernel, and while the compiler cannot
generate it (or no cached one exists on a machine without the compiler)
a call that needs gradients raises MissingGpuBackward before the forward
runs. There is no fallback to another implementation.
"""

import os
from typing import List, Optional, Tuple

import torch

from . import torch as _at

# Mask kinds of the spec (attn-compile's --mask names).
MASKS = ("none", "causal-top-left", "causal-bottom-right", "sliding-window")


class MissingGpuBackward(_at.Unsupported):
    """Gradients were asked for on CUDA tensors and the GPU backward kernel
    (attn.attention_backward on target "ptx") is not available."""


# $ATTN_MLIR_BACKWARD_DQ: how the GPU backward reduces dQ (the compile
# option deterministic): auto (the compiler's default), atomic or
# deterministic.
_BACKWARD_DQ_MODES = {"auto": None, "atomic": False, "deterministic": True}
_DQ_REDUCTIONS = ("auto", "atom", "red-v2", "red-v4")


def backward_options():
    """The GPU backward's compile options from the environment:
    $ATTN_MLIR_BACKWARD_DQ (auto, atomic, deterministic; default auto, the
    compiler's choice) and $ATTN_MLIR_DQ_REDUCTION (auto, atom, red-v2,
    red-v4: the atomic path's reduction instruction; default auto). Read at
    every call, so a training script may switch between steps; each choice
    is its own cached kernel."""
    mode = os.environ.get("ATTN_MLIR_BACKWARD_DQ", "auto")
    if mode not in _BACKWARD_DQ_MODES:
        raise _at.Unsupported("attn_mlir: expected $ATTN_MLIR_BACKWARD_DQ to be one of "
                              f"{', '.join(_BACKWARD_DQ_MODES)}, got {mode!r}")
    reduction = os.environ.get("ATTN_MLIR_DQ_REDUCTION", "auto")
    if reduction not in _DQ_REDUCTIONS:
        raise _at.Unsupported("attn_mlir: expected $ATTN_MLIR_DQ_REDUCTION to be one of "
                              f"{', '.join(_DQ_REDUCTIONS)}, got {reduction!r}")
    options = {}
    if _BACKWARD_DQ_MODES[mode] is not None:
        options["deterministic"] = _BACKWARD_DQ_MODES[mode]
    if reduction != "auto":
        options["dq_reduction"] = reduction
    return options


def _bshd(query, key, value, attn_mask):
    """Whether a CUDA call runs the kernels compiled for the BSHD layout on
    the [B, L, H, D] buffers behind query, key and value (as transformers
    passes them, x.transpose(1, 2)) without copying them: the forward and
    the backward both, so O, the gradients and their buffers stay BSHD too.
    A shape and stride rule, so the fake kernels take the same decision.
    Off unless $ATTN_MLIR_BACKWARD_BSHD=1: this path has not run on a GPU
    yet (the CPU tests cannot reach it). Either side of a switch is correct:
    a dense O or grad_out is copied into the BSHD kernels' layout."""
    return os.environ.get("ATTN_MLIR_BACKWARD_BSHD", "0") == "1" and \
        query.is_cuda and attn_mask is None and \
        all(_at._is_bshd(t) for t in (query, key, value))


def _spec(query, key, value, mask, window_left, window_right, scale, softcap,
          alibi, operand, backward, gpu, bshd=False, bias_grad=False, lse_grad=False):
    b, hq, lq, d = query.shape
    hkv, lk, dv = key.shape[1], key.shape[2], value.shape[3]
    spec = {"batch": b, "heads_q": hq, "heads_kv": hkv, "seq_q": lq, "seq_k": lk,
            "head_dim": d, "value_head_dim": dv if dv != d else 0,
            "dtype": _at._DTYPE_NAMES[query.dtype], "mask": mask,
            "window_left": window_left, "window_right": window_right,
            "scale": scale, "softcap": softcap, "alibi": list(alibi or []),
            "lse": True, "backward": backward}
    if bshd:
        spec["bshd"] = True
    if lse_grad:
        spec["lse_grad"] = True
    if operand is not None:
        spec["bool_mask" if operand.dtype == torch.bool else "bias"] = True
        # A float attn_mask that requires grad gets d_bias (the backward's
        # fourth result); otherwise it is a constant of the loss.
        if backward and operand.dtype != torch.bool and not bias_grad:
            spec["bias_grad"] = False
    # float32: rounded copies, forward and backward alike (gpu_options).
    target, options = (("ptx", _at.gpu_options(query.dtype)) if gpu
                       else ("cpu", _at.cpu_options(query.dtype)))
    if gpu and backward:
        options = dict(options, **backward_options())
    return target, spec, options


def _mask_operand(query, key, attn_mask, mask, bias_grad=False):
    """(mask kind, operand) for a call: an attn_mask that is all-visible or
    exactly causal becomes a mask kind as in scaled_dot_product_attention,
    anything else travels as a bool or bias operand [B, Hq, Lq, Lk]. With
    `bias_grad` the float attn_mask stays an operand (its gradient is dS
    wherever it is finite)."""
    if attn_mask is None:
        return mask, None
    b, hq, lq, _ = query.shape
    lk = key.shape[2]
    keep = None
    if mask == "none" and not bias_grad:
        mask, keep = _at._classify_mask(attn_mask, (b, hq), lq, lk)
        if mask != "operand":
            return mask, None
        mask = "none"
    if keep is not None:
        return mask, keep.expand(b, hq, lq, lk)
    if attn_mask.dtype == torch.bool:
        return mask, attn_mask.expand(b, hq, lq, lk)
    return mask, attn_mask.expand(b, hq, lq, lk).to(query.dtype)


def _run(kernel, tensors, dtype, gpu):
    """The kernel's outputs as tensors: those in the inputs' format in
    `dtype` (bf16 comes back from the CPU target as uint16 bits), the LSE
    in float32."""
    if gpu:
        # A BSHD call's [B, L, H, D] views are dense already: no copy.
        return kernel(*[_at._aligned(t.contiguous()) for t in tensors])
    outs = kernel(*[_at._to_numpy(t) for t in tensors])
    return tuple(_at._from_numpy(o, dtype if o.dtype.name == "uint16" else None)
                 for o in outs)


def _reason(error):
    """One line of why a kernel could not be had: an Unsupported's text or a
    CompileError's error diagnostics."""
    if isinstance(error, _at.Unsupported):
        return " ".join(str(error).split())
    return "; ".join(d.message.splitlines()[0] for d in error.diagnostics
                     if d.severity == "error") or str(error).splitlines()[0]


def gpu_backward_kernel(query, key, value, attn_mask=None, mask="none", window_left=0,
                        window_right=0, scale=None, softcap=None, alibi_slopes=None,
                        bias_grad=False, lse_grad=False):
    """The GPU backward kernel of a call (compiled or from the cache), or
    MissingGpuBackward saying what is missing. Shapes only: the tensors may
    live anywhere. `bias_grad`: the kernel that also returns d_bias of a
    float attn_mask; `lse_grad`: the one that takes the LSE's gradient."""
    mask, operand = _mask_operand(query, key, attn_mask, mask, bias_grad)
    target, spec, options = _spec(query, key, value, mask, window_left, window_right,
                                  scale, softcap, alibi_slopes, operand, True, True,
                                  _bshd(query, key, value, attn_mask), bias_grad, lse_grad)
    try:
        return _at._kernel(target, spec, options)
    except (_at.Unsupported, _at.attn_mlir.CompileError) as e:
        raise MissingGpuBackward(
            "attn_mlir: gradients of CUDA tensors need the GPU backward kernel "
            "(attn.attention_backward compiled for target 'ptx', issue #16), and "
            f"none is available for this call: {_reason(e)}. attn_mlir computes "
            "gradients with its own kernels or not at all: run on CPU tensors, or "
            "under torch.no_grad() / with inputs that do not require grad") from None


def forward(query, key, value, attn_mask, mask, window_left, window_right, scale,
            softcap, alibi_slopes):
    """(out [B, Hq, Lq, Dv] in the inputs' dtype, lse [B, Hq, Lq] in float32,
    float64 for float64 inputs)."""
    _at._check(query, key, value, attn_mask, False, True)
    if mask not in MASKS:
        raise _at.Unsupported(f"attn_mlir: expected mask to be one of {', '.join(MASKS)}, "
                              f"got {mask!r}")
    gpu = query.is_cuda
    bshd = _bshd(query, key, value, attn_mask)
    mask, operand = _mask_operand(query, key, attn_mask, mask)
    target, spec, options = _spec(query, key, value, mask, window_left, window_right,
                                  scale, softcap, alibi_slopes, operand, False, gpu, bshd)
    kernel = _at._kernel(target, spec, options)
    if bshd:
        out, lse = _run(kernel, [t.transpose(1, 2) for t in (query, key, value)],
                        query.dtype, gpu)
        return out.transpose(1, 2), lse
    tensors = [query, key, value] + ([operand] if operand is not None else [])
    out, lse = _run(kernel, tensors, query.dtype, gpu)
    return out, lse


def backward(grad_out, grad_lse, query, key, value, out, lse, attn_mask, mask,
             window_left, window_right, scale, softcap, alibi_slopes, bias_grad=False):
    """(dQ, dK, dV) of sum(grad_out * out) + sum(grad_lse * lse), and with
    `bias_grad` d_attn_mask (attn_mask's shape and dtype: dS summed over
    the extents it broadcasts along).

    The LSE's gradient is attn.attention_backward's grad_lse operand (Delta
    = rowsum(dO * O) - grad_lse: d lse_i / d s_ij = P_ij); a zero or absent
    one runs the kernel without it."""
    gpu = query.is_cuda
    bias_grad = bias_grad and attn_mask is not None and attn_mask.dtype != torch.bool
    kind, operand = _mask_operand(query, key, attn_mask, mask, bias_grad)
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    lse_grad = _reads_lse(grad_lse)
    if gpu:
        kernel = gpu_backward_kernel(query, key, value, attn_mask, mask, window_left,
                                     window_right, scale, softcap, alibi_slopes, bias_grad,
                                     lse_grad)
    else:
        target, spec, options = _spec(query, key, value, kind, window_left, window_right,
                                      scale, softcap, alibi_slopes, operand, True, False,
                                      bias_grad=bias_grad, lse_grad=lse_grad)
        kernel = _at._kernel(target, spec, options)
    tensors = [query, key, value, out, grad_out.to(query.dtype), lse.to(_lse_dtype(query))]
    # grad_lse after every other input (the entry's order).
    tail = [grad_lse.to(_lse_dtype(query)).contiguous()] if lse_grad else []
    if gpu and _bshd(query, key, value, attn_mask):
        # The kernels take [B, L, H, D] buffers (their strides: Q's for O,
        # dO and dQ, K's for V, dK and dV): query, key, value and out are
        # such views already, grad_out is copied only where it is not one.
        views = [t.transpose(1, 2) for t in tensors[:5]] + tensors[5:] + tail
        return tuple(g.transpose(1, 2) for g in _run(kernel, views, query.dtype, gpu))
    if operand is not None:
        tensors.append(operand)
    grads = _run(kernel, tensors + tail, query.dtype, gpu)
    dq, dk, dv = grads[:3]
    if not bias_grad:
        return dq, dk, dv
    return dq, dk, dv, grads[3].sum_to_size(attn_mask.shape).to(attn_mask.dtype)


def _reads_lse(grad_lse):
    """Whether the loss reads the LSE: a grad_lse that is not all zeros
    (autograd passes None or zeros for an unused output), which the
    backward then takes as its grad_lse operand."""
    return grad_lse is not None and bool((grad_lse != 0).any())


def _lse_dtype(query):
    """The LSE's dtype: float32, or float64 for float64 inputs (whose
    backward recomputes P in f64 from it)."""
    return torch.float64 if query.dtype == torch.float64 else torch.float32


def _forward_fake(query, key, value, attn_mask, mask, window_left, window_right, scale,
                  softcap, alibi_slopes):
    b, hq, lq, _ = query.shape
    out = query.new_empty((b, lq, hq, value.shape[3])).transpose(1, 2) \
        if _bshd(query, key, value, attn_mask) else query.new_empty((b, hq, lq, value.shape[3]))
    return out, query.new_empty((b, hq, lq), dtype=_lse_dtype(query))


def _backward_fake(grad_out, grad_lse, query, key, value, out, lse, attn_mask, mask,
                   window_left, window_right, scale, softcap, alibi_slopes):
    # empty_like keeps a BSHD view's strides, as the BSHD kernels' gradients.
    return torch.empty_like(query), torch.empty_like(key), torch.empty_like(value)


def _backward_bias(*args):
    return backward(*args, bias_grad=True)


def _backward_bias_fake(grad_out, grad_lse, query, key, value, out, lse, attn_mask,
                        *attributes):
    return (torch.empty_like(query), torch.empty_like(key), torch.empty_like(value),
            torch.empty_like(attn_mask))


def _gradients(grad_out, grad_lse, query, key, value, out, lse, attn_mask, attributes,
               mask_needs_grad):
    """(dQ, dK, dV, d_attn_mask or None) through the backward operator; the
    one with d_bias where attn_mask asks for its gradient."""
    if grad_out is None:  # only the LSE was used
        grad_out = torch.zeros_like(out)
    if mask_needs_grad:
        return torch.ops.attn_mlir.attention_backward_bias(
            grad_out, grad_lse, query, key, value, out, lse, attn_mask, *attributes)
    return torch.ops.attn_mlir.attention_backward(
        grad_out, grad_lse, query, key, value, out, lse, attn_mask, *attributes) + (None,)


# The same two operators on every torch; what differs is how autograd
# reaches the backward.
HAS_REGISTER_AUTOGRAD = all(hasattr(torch.library, n)
                            for n in ("custom_op", "register_fake", "register_autograd"))

if HAS_REGISTER_AUTOGRAD:
    @torch.library.custom_op("attn_mlir::attention", mutates_args=())
    def _attention_op(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attn_mask: Optional[torch.Tensor], mask: str, window_left: int,
                      window_right: int, scale: Optional[float], softcap: Optional[float],
                      alibi_slopes: Optional[List[float]]) -> Tuple[torch.Tensor, torch.Tensor]:
        return forward(query, key, value, attn_mask, mask, window_left, window_right,
                       scale, softcap, alibi_slopes)

    _attention_op.register_fake(_forward_fake)

    @torch.library.custom_op("attn_mlir::attention_backward", mutates_args=())
    def _attention_backward_op(
            grad_out: torch.Tensor, grad_lse: Optional[torch.Tensor], query: torch.Tensor,
            key: torch.Tensor, value: torch.Tensor, out: torch.Tensor, lse: torch.Tensor,
            attn_mask: Optional[torch.Tensor], mask: str, window_left: int,
            window_right: int, scale: Optional[float], softcap: Optional[float],
            alibi_slopes: Optional[List[float]]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return backward(grad_out, grad_lse, query, key, value, out, lse, attn_mask, mask,
                        window_left, window_right, scale, softcap, alibi_slopes)

    _attention_backward_op.register_fake(_backward_fake)

    @torch.library.custom_op("attn_mlir::attention_backward_bias", mutates_args=())
    def _attention_backward_bias_op(
            grad_out: torch.Tensor, grad_lse: Optional[torch.Tensor], query: torch.Tensor,
            key: torch.Tensor, value: torch.Tensor, out: torch.Tensor, lse: torch.Tensor,
            attn_mask: torch.Tensor, mask: str, window_left: int,
            window_right: int, scale: Optional[float], softcap: Optional[float],
            alibi_slopes: Optional[List[float]]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return _backward_bias(grad_out, grad_lse, query, key, value, out, lse, attn_mask,
                              mask, window_left, window_right, scale, softcap,
                              alibi_slopes)

    _attention_backward_bias_op.register_fake(_backward_bias_fake)

    def _setup_context(ctx, inputs, output):
        query, key, value, attn_mask = inputs[:4]
        ctx.save_for_backward(query, key, value, output[0], output[1], attn_mask)
        ctx.attributes = inputs[4:]

    def _autograd_backward(ctx, grad_out, grad_lse):
        query, key, value, out, lse, attn_mask = ctx.saved_tensors
        grads = _gradients(grad_out, grad_lse, query, key, value, out, lse, attn_mask,
                           ctx.attributes, ctx.needs_input_grad[3])
        return tuple(grads) + (None,) * 6

    torch.library.register_autograd("attn_mlir::attention", _autograd_backward,
                                    setup_context=_setup_context)

    def apply(*args):
        return torch.ops.attn_mlir.attention(*args)
else:
    # torch.py's DEF library of the namespace where it made one (torch 1.13
    # allows one per namespace).
    _library = getattr(_at, "_library", None) or torch.library.Library("attn_mlir",
                                                                        "FRAGMENT")
    _library.define("attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask, "
                    "str mask, int window_left, int window_right, float? scale, "
                    "float? softcap, float[]? alibi_slopes) -> (Tensor, Tensor)")
    _library.define("attention_backward(Tensor grad_out, Tensor? grad_lse, Tensor query, "
                    "Tensor key, Tensor value, Tensor out, Tensor lse, Tensor? attn_mask, "
                    "str mask, int window_left, int window_right, float? scale, "
                    "float? softcap, float[]? alibi_slopes) -> (Tensor, Tensor, Tensor)")
    _library.define("attention_backward_bias(Tensor grad_out, Tensor? grad_lse, "
                    "Tensor query, Tensor key, Tensor value, Tensor out, Tensor lse, "
                    "Tensor attn_mask, str mask, int window_left, int window_right, "
                    "float? scale, float? softcap, float[]? alibi_slopes) "
                    "-> (Tensor, Tensor, Tensor, Tensor)")
    for _key in ("CPU", "CUDA"):
        _library.impl("attention", forward, _key)
        _library.impl("attention_backward", backward, _key)
        _library.impl("attention_backward_bias", _backward_bias, _key)
    _library.impl("attention", _forward_fake, "Meta")
    _library.impl("attention_backward", _backward_fake, "Meta")
    _library.impl("attention_backward_bias", _backward_bias_fake, "Meta")

    class _Attention(torch.autograd.Function):
        @staticmethod
        def forward(ctx, query, key, value, attn_mask, *attributes):
            out, lse = torch.ops.attn_mlir.attention(query, key, value, attn_mask,
                                                     *attributes)
            ctx.save_for_backward(query, key, value, out, lse, attn_mask)
            ctx.attributes = attributes
            return out, lse

        @staticmethod
        def backward(ctx, grad_out, grad_lse):
            query, key, value, out, lse, attn_mask = ctx.saved_tensors
            grads = _gradients(grad_out, grad_lse, query, key, value, out, lse, attn_mask,
                               ctx.attributes, ctx.needs_input_grad[3])
            return tuple(grads) + (None,) * 6

    def apply(*args):
        return _Attention.apply(*args)


# Varlen batches (attn_mlir.torch.varlen_attention): the same recomputation
# over packed sequences, attn.attention_backward with cu_seqlens. One
# torch.autograd.Function on every torch (the offsets are integer tensors
# and the attributes plain values: nothing a custom op schema would add).


def _packed_rows(total):
    """The packed extent a varlen backward of `total` rows compiles for: up
    to one of 8 sizes per octave (>= 128), the rows past `total` owned by no
    sequence (at most 1/8 more)."""
    if total <= 128:
        return 128
    step = 1 << (total.bit_length() - 4)
    return -(-total // step) * step


def varlen_backward_shape(sequences, total_q, total_k):
    """(N, Tq, Tk) a varlen backward of `sequences` sequences over packed
    totals compiles for. Its grids count the sequences and its dims are
    static, so a kernel per batch composition would recompile at every
    training step: N goes up to a power of two (empty sequences appended)
    and the totals up to _packed_rows (rows no sequence owns appended, whose
    gradients the kernels leave 0), so batches of other compositions share
    a kernel."""
    return (1 << max(0, (int(sequences) - 1).bit_length()), _packed_rows(int(total_q)),
            _packed_rows(int(total_k)))


def varlen_gpu_backward_kernel(q, k, v, causal, softmax_scale, window_size, sequences=1,
                               alibi_slopes=None, lse_grad=False):
    """The GPU varlen backward kernel of a call (compiled or from the cache),
    or MissingGpuBackward saying why there is none: one kernel per
    varlen_backward_shape(N = `sequences`, totals), heads, head dims, dtype
    and mask; the offsets themselves are run-time values. Shapes only: the
    tensors may live anywhere."""
    from .varlen import _mask_of
    n, tq, tk = varlen_backward_shape(sequences, q.shape[0], k.shape[0])
    spec = {"varlen": n, "backward": True, "lse": True,
            "heads_q": q.shape[1], "heads_kv": k.shape[1],
            "seq_q": tq, "seq_k": tk, "head_dim": q.shape[2],
            "value_head_dim": v.shape[2] if v.shape[2] != q.shape[2] else 0,
            "dtype": _at._DTYPE_NAMES.get(q.dtype),
            "scale": None if softmax_scale is None else float(softmax_scale),
            "lse_grad": lse_grad, **_mask_of(causal, window_size, tk, alibi_slopes)}
    if spec["dtype"] is None or q.dtype not in _at._GPU_DTYPES:
        raise MissingGpuBackward(f"attn_mlir: expected bf16 or f16 tensors for the GPU "
                                 f"varlen backward, got {q.dtype}")
    options = dict(_at.gpu_options(), **backward_options())
    try:
        return _at._kernel("ptx", spec, options)
    except (_at.Unsupported, _at.attn_mlir.CompileError) as e:
        raise MissingGpuBackward(
            "attn_mlir: gradients of CUDA tensors through varlen_attention need the GPU "
            "varlen backward kernel (attn.attention_backward with cu_seqlens on target "
            f"'ptx'), and none is available for this call: {_reason(e)}. Run on CPU "
            "tensors, or under torch.no_grad() / with inputs that do not require "
            "grad") from None


def varlen_backward(grad_out, grad_lse, q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k,
                    causal, softmax_scale, window_size, alibi_slopes=None):
    """(dq, dk, dv) of sum(grad_out * out) + sum(grad_lse * lse), the LSE's
    gradient [Hq, Tq] the backward's grad_lse operand, as backward() does."""
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    if q.is_cuda:
        return _varlen_gpu_backward(grad_out, grad_lse, q, k, v, out, lse, cu_seqlens_q,
                                    cu_seqlens_k, causal, softmax_scale, window_size,
                                    alibi_slopes)
    from .varlen import varlen_attention_backward
    arrays = [_at._to_numpy(t) for t in (q, k, v, out, grad_out.to(q.dtype),
                                          lse.to(_lse_dtype(q)), cu_seqlens_q,
                                          cu_seqlens_k)]
    dq, dk, dv = varlen_attention_backward(
        *arrays, causal=causal, softmax_scale=softmax_scale, window_size=window_size,
        dtype=_at._DTYPE_NAMES.get(q.dtype), alibi_slopes=alibi_slopes,
        grad_lse=_at._to_numpy(grad_lse.to(_lse_dtype(q))) if _reads_lse(grad_lse) else None)
    dq, dk, dv = (_at._from_numpy(g, q.dtype if g.dtype.name == "uint16" else None)
                  for g in (dq, dk, dv))
    return dq, dk, dv


def _varlen_gpu_backward(grad_out, grad_lse, q, k, v, out, lse, cu_seqlens_q,
                         cu_seqlens_k, causal, softmax_scale, window_size,
                         alibi_slopes=None):
    """varlen_backward on CUDA tensors: one launch sequence of the GPU
    varlen backward kernel over the packed [1, T, H, D] views, padded to
    varlen_backward_shape (empty sequences: the last offset repeated; rows
    past the totals: zeros no sequence owns, sliced off the gradients); the
    host reads no offsets (the kernels clamp them to the packed extents)."""
    n = cu_seqlens_q.numel() - 1
    total_q, total_k = q.shape[0], k.shape[0]
    lse_grad = _reads_lse(grad_lse)
    if total_q == 0:  # no query rows: no gradient flows anywhere
        return torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    kernel = varlen_gpu_backward_kernel(q, k, v, causal, softmax_scale, window_size, n,
                                        alibi_slopes=alibi_slopes, lse_grad=lse_grad)
    shape_n, shape_q, shape_k = varlen_backward_shape(n, total_q, total_k)

    def rows(t, extent, dim=0):
        t = t.contiguous()
        if t.shape[dim] == extent:
            return t
        pad = list(t.shape)
        pad[dim] = extent - t.shape[dim]
        return torch.cat([t, t.new_zeros(pad)], dim=dim)

    def offsets(cu):
        return cu if shape_n == n else torch.cat([cu, cu[-1:].expand(shape_n - n)])
    views = [_at._aligned(rows(t, extent))[None] for t, extent in
             ((q, shape_q), (k, shape_k), (v, shape_k), (out, shape_q),
              (grad_out.to(q.dtype), shape_q))]
    # grad_lse [Hq, Tq] as the LSE, after the offsets (the entry's order).
    tail = [_at._aligned(rows(grad_lse.float(), shape_q, dim=1))[None]] if lse_grad else []
    dq, dk, dv = kernel(*views, _at._aligned(rows(lse.float(), shape_q, dim=1))[None],
                        _at._aligned(offsets(cu_seqlens_q).contiguous()),
                        _at._aligned(offsets(cu_seqlens_k).contiguous()), *tail)
    return dq[0, :total_q], dk[0, :total_k], dv[0, :total_k]


class _VarlenAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                causal, softmax_scale, window_size, alibi_slopes=None):
        out, lse = _at._varlen_forward(q, k, v, cu_seqlens_q, cu_seqlens_k,
                                       max_seqlen_q, max_seqlen_k, causal,
                                       softmax_scale, window_size, alibi_slopes)
        ctx.save_for_backward(q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k)
        ctx.attributes = (causal, softmax_scale, window_size, alibi_slopes)
        return out, lse

    @staticmethod
    def backward(ctx, grad_out, grad_lse):
        q, k, v, out, lse, cu_q, cu_k = ctx.saved_tensors
        dq, dk, dv = varlen_backward(grad_out, grad_lse, q, k, v, out, lse, cu_q, cu_k,
                                     *ctx.attributes)
        return (dq, dk, dv) + (None,) * 8


def varlen_apply(*args):
    """(out, lse) of varlen_attention's checked arguments, differentiable."""
    return _VarlenAttention.apply(*args)
