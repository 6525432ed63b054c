"""attn_mlir.torch: torch's scaled_dot_product_attention on attn-mlir
kernels, and a Hugging Face transformers attention backend.

    from attn_mlir.torch import scaled_dot_product_attention
    out = scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    import attn_mlir.torch
    attn_mlir.torch.register_transformers()     # attn_implementation="attn_mlir"

The operator is torch.ops.attn_mlir.sdpa, a torch.library custom op with a
fake (meta) implementation, so torch.compile traces it. It runs CUDA tensors
through a GPU kernel (target "ptx", launched by the runtime on the current
stream) and CPU tensors through the CPU target, compiling one kernel per
shape (cached, see attn_mlir.compile). Decode-like calls (no mask, a query
group of <= 16 rows) run one decode kernel over a runtime key length on the
GPU (every length of a growing KV cache, K and V read in place), and on the
CPU compile for the key length rounded up to a bucket of
ATTN_MLIR_KV_BUCKET keys (default 256) with the real length passed at run
time (key_lengths), so a growing cache reuses a handful of kernels. Query,
key and value that are all [B, L, H, D] buffers seen through
.transpose(1, 2) (as transformers' layers pass them) run a kernel compiled
for the BSHD layout on those buffers, without a copy (no attn_mask, no
decode bucket); other layouts are made dense first.

Gradients: when query, key or value require grad (and grad mode is on),
the call runs torch.ops.attn_mlir.attention instead, which returns the LSE
with the output, saves both, and whose backward is attn-mlir's own
attn.attention_backward (see _autograd.py; with $ATTN_MLIR_BACKWARD_BSHD=1,
off by default until it has run on a GPU, CUDA query, key and value that
are [B, L, H, D] buffers seen through .transpose(1, 2) run the BSHD forward
and backward kernels on them, without a copy, and get gradients of that
layout back); attention() is that operator
with every score modifier the compiler has (causal in both alignments,
sliding windows, softcap, ALiBi, a scale) and the LSE as an optional,
differentiable second result.

A float attn_mask that requires grad gets its gradient (dS, summed over
the extents it broadcasts along), as from torch's math and memory-efficient
SDPA backends; a detached one and a bool mask are constants. Both work on
CPU and CUDA tensors, the GPU backward recomputing P with them.

What it cannot do is refused with Unsupported (a ValueError), never computed
differently: dropout, tensors other than 4-D [B, H, L, D], and whatever the
GPU compiler refuses (dtypes other than bf16/f16, head dims that are not
multiples of 16 in [32, 256], ...; its diagnostic is quoted). Gradients of
CUDA tensors without a GPU backward kernel raise MissingGpuBackward (an
Unsupported) before the forward runs.
"""

import os
import weakref
from typing import Optional

import torch

import attn_mlir

__all__ = ["scaled_dot_product_attention", "attention", "Unsupported",
           "MissingGpuBackward", "register_transformers", "attention_forward",
           "kernels_used", "reset_kernels_used", "precompile", "varlen_attention",
           "kvcache_attention", "kvcache_kernel", "mla_decode_attention", "f32_compute"]


class Unsupported(ValueError):
    """attn_mlir.torch cannot compute this call (yet); the message says why."""


_DTYPE_NAMES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
                torch.float64: "f64"}
_GPU_DTYPES = (torch.float16, torch.bfloat16)
# What getKernelProblem takes for D and Dv (isSupportedGpuHeadDim).
_GPU_HEAD_DIMS = tuple(range(32, 257, 16))
# Query rows per KV group up to which the GPU path picks its decode kernel
# (convert-attn-to-nvvm's kernel=auto): there key lengths come at run time.
_DECODE_ROWS = 16


def f32_compute():
    """How float32 CUDA tensors run: $ATTN_MLIR_F32_COMPUTE, "bf16" or
    "f16" (the compiler's f32-compute: Q, K and V rounded to that type by
    conversion kernels, the attention in it, O widened back to float32; as
    accurate as a bf16 / f16 call, not a float32 one). Unset, float32 on the
    GPU is refused rather than rounded silently. Read per call."""
    mode = os.environ.get("ATTN_MLIR_F32_COMPUTE", "")
    if mode in ("bf16", "f16"):
        return mode
    raise Unsupported(
        "attn_mlir: the GPU kernels compute in bfloat16 / float16; set "
        "ATTN_MLIR_F32_COMPUTE=bf16 (or f16) to run float32 tensors on rounded copies "
        "(as accurate as a bfloat16 call, not a float32 one), or pass bfloat16 tensors"
        + (f" (got ATTN_MLIR_F32_COMPUTE={mode!r})" if mode else ""))


def _bucket():
    return max(1, int(os.environ.get("ATTN_MLIR_KV_BUCKET", "256")))


def _check(query, key, value, attn_mask, is_causal, enable_gqa):
    """Shape and argument checks shared by the real and the fake kernel."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.dim() != 4:
            raise Unsupported(f"attn_mlir: expected 4-D [B, H, L, D] {name}, got "
                              f"shape {tuple(t.shape)}")
    if not (query.dtype == key.dtype == value.dtype):
        raise Unsupported("attn_mlir: expected query, key and value of one dtype, got "
                          f"{query.dtype}, {key.dtype}, {value.dtype}")
    if query.dtype not in _DTYPE_NAMES:
        raise Unsupported("attn_mlir: expected float32, float16, bfloat16 or (on the CPU) "
                          f"float64, got {query.dtype}")
    b, hq, _, d = query.shape
    if key.shape[0] != b or value.shape[0] != b or key.shape[1] != value.shape[1] \
            or key.shape[2] != value.shape[2] or key.shape[3] != d:
        raise Unsupported("attn_mlir: expected key [B, Hkv, S, D] and value [B, Hkv, S, Dv] "
                          f"matching query {tuple(query.shape)}, got {tuple(key.shape)} "
                          f"and {tuple(value.shape)}")
    hkv = key.shape[1]
    if hq != hkv and not enable_gqa:
        raise Unsupported(f"attn_mlir: {hq} query heads and {hkv} key/value heads need "
                          "enable_gqa=True (as in torch)")
    if hq % hkv:
        raise Unsupported(f"attn_mlir: expected the query heads ({hq}) to be a multiple of "
                          f"the key/value heads ({hkv})")
    if is_causal and attn_mask is not None:
        raise Unsupported("attn_mlir: expected attn_mask or is_causal, not both (as in torch)")
    if query.is_cuda:
        if query.dtype == torch.float32:
            f32_compute()  # refuses unless the caller opted in to rounding
        elif query.dtype not in _GPU_DTYPES:
            raise Unsupported(f"attn_mlir: the GPU path takes bfloat16, float16 or (rounded, "
                              f"$ATTN_MLIR_F32_COMPUTE) float32, got {query.dtype}")
        if d not in _GPU_HEAD_DIMS or value.shape[3] not in _GPU_HEAD_DIMS:
            raise Unsupported(f"attn_mlir: the GPU path takes head dims (D for query and "
                              f"key, Dv for value) that are multiples of 16 in [32, 256], "
                              f"got {d} and {value.shape[3]}")


def _causal(lq, lk, device, bottom_right):
    """Keep-mask of causal attention; top-left is torch's is_causal."""
    return torch.ones(lq, lk, dtype=torch.bool, device=device).tril(
        diagonal=lk - lq if bottom_right else 0)


def _classify_mask(attn_mask, shape, lq, lk):
    """("none" | "causal-top-left" | "causal-bottom-right" | "operand", keep)
    for an attn_mask: a mask that is all-visible or exactly causal becomes a
    mask kind (the GPU kernels' only masks); anything else an operand (keep:
    its boolean form for a mask of only kept and dropped keys, in the mask's
    own shape, else None: a bias).

    The answer is computed on the mask as given, not broadcast to [B, Hq, Lq,
    Lk] (broadcasting repeats elements, so it changes nothing but the cost:
    transformers' [B, 1, Lq, Lk] masks are Hq times smaller), and remembered
    for the tensor until it is modified in place: a model passes one mask
    object to every layer of a forward."""
    b, hq = shape
    try:
        if torch.broadcast_shapes(attn_mask.shape, (b, hq, lq, lk)) != (b, hq, lq, lk):
            raise RuntimeError  # the mask is larger than the scores somewhere
    except RuntimeError:
        raise Unsupported(f"attn_mlir: attn_mask of shape {tuple(attn_mask.shape)} does not "
                          f"broadcast to [{b}, {hq}, {lq}, {lk}]") from None
    try:
        version = attn_mask._version
    except RuntimeError:  # an inference-mode tensor keeps no version: no memo
        version = None
    memo = (id(attn_mask), lq, lk)
    hit = _mask_kinds.get(memo)
    if version is not None and hit is not None and hit[0]() is attn_mask \
            and hit[1] == version:
        kind, keep = hit[2], None
    else:
        kind, keep = _mask_kind(attn_mask, lq, lk)
        if version is not None:
            if len(_mask_kinds) >= 64:  # masks of past forwards: drop them all
                _mask_kinds.clear()
            # No tensor is kept: the memo must not hold a model's masks alive.
            _mask_kinds[memo] = (weakref.ref(attn_mask), version, kind)
    if kind != "keep":
        return kind, None
    if keep is None:  # remembered: the memo holds no tensor
        keep = attn_mask if attn_mask.dtype == torch.bool else attn_mask == 0
    return "operand", keep


_mask_kinds = {}


def _mask_kind(mask, lq, lk):
    """(kind, keep): kind "none", "causal-top-left", "causal-bottom-right",
    "keep" (an operand of kept and dropped keys only, keep its boolean form)
    or "operand" (a bias); keep is None but for "keep"."""
    if mask.dtype == torch.bool:
        keep = mask
    else:
        # Additive masks: 0 keeps a key; -inf (or the dtype's lowest value,
        # as transformers writes them) drops it. Other values are a bias.
        low = torch.finfo(mask.dtype).min / 2
        # One row first: a bias (random values) is told apart without a pass
        # over the whole mask.
        row = mask[(0,) * (mask.dim() - 1)] if mask.dim() else mask
        if not bool(((row == 0) | (row <= low)).all()):
            return "operand", None
        keep = mask == 0
        if not bool((keep | (mask <= low)).all()):
            return "operand", None
    if bool(keep.all()):
        return "none", None
    candidates = [("causal-top-left", False)]
    if lq <= lk:  # bottom-right with Lq > Lk leaves rows seeing nothing
        candidates.append(("causal-bottom-right", True))
    for name, bottom_right in candidates:
        if bool((keep == _causal(lq, lk, keep.device, bottom_right)).all()):
            return name, None
    return "keep", keep


_used = set()


def kernels_used():
    """Keys of the distinct kernels this process launched (since the last
    reset): how many kernels a model's calls needed."""
    return set(_used)


def reset_kernels_used():
    _used.clear()


_kernels = {}


def _kernel(target, spec, options):
    """attn_mlir.compile with a cheap key first: the operator asks per call."""
    def frozen(d):
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                            for k, v in (d or {}).items()))
    # Every option: the backward's ($ATTN_MLIR_BACKWARD_DQ) change per call.
    fast = (target, frozen(spec), frozen(options))
    kernel = _kernels.get(fast)
    if kernel is None:
        try:
            kernel = attn_mlir.compile(target=target, options=options, **spec)
        except attn_mlir.CompileError as e:
            refused = [d for d in e.diagnostics if d.severity == "error"]
            if not refused:  # no compiler and no cached kernel: not a refusal
                raise
            # One line: the stage that failed and the located diagnostic under it.
            message = " ".join(line.strip() for line in refused[0].message.splitlines()
                               if line.strip())
            raise Unsupported(f"attn_mlir: the {'GPU' if target == 'ptx' else 'CPU'} "
                              f"compiler refuses this call: {message}") from e
        _kernels[fast] = kernel
    _used.add(kernel.key)
    return kernel


def _is_bshd(t):
    """Whether `t` [B, H, L, D] is a dense [B, L, H, D] buffer seen through
    .transpose(1, 2) (as transformers' layers pass query, key and value),
    and not also dense as it is (a unit H or L)."""
    return not t.is_contiguous() and t.transpose(1, 2).is_contiguous() \
        and t.data_ptr() % 16 == 0


def _use_bshd(query, key, value, attn_mask, is_causal):
    """Whether the call runs a kernel compiled for the BSHD layout, which
    reads the [B, L, H, D] buffers behind query, key and value where they
    are (no copy) and writes its output there too: all three are such views
    and there is no attn_mask (a shape-only rule, so the fake kernel takes
    the same decision) nor a decode bucket (whose K/V padding copies
    anyway)."""
    if attn_mask is not None or not all(_is_bshd(t) for t in (query, key, value)):
        return False
    rows = query.shape[1] // key.shape[1] * query.shape[2]
    return is_causal or rows > _DECODE_ROWS


def _aligned(t):
    """A dense copy where the runtime's 16-byte alignment or contiguity
    would not hold (e.g. a slice), else the tensor itself."""
    if t.is_contiguous() and t.data_ptr() % 16 == 0:
        return t
    return t.contiguous() if not t.is_contiguous() else t.clone()


def _to_numpy(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view("uint16")
    if t.dtype == torch.bool:
        return t.numpy()
    return t.numpy()


def _from_numpy(a, dtype):
    if dtype == torch.bfloat16:
        return torch.from_numpy(a.view("int16")).view(torch.bfloat16)
    return torch.from_numpy(a)


_gpu_chip = None


def gpu_chip():
    """The chip the GPU kernels are compiled for: $ATTN_MLIR_GPU_CHIP if set
    (how a machine without the GPU prepares the cache for one with it;
    sm_90a selects the wgmma family on H100/H200), else from the current
    CUDA device: sm_<major><minor> up to Hopper (mma.sync; on H100/H200
    sm_90), and portable sm_90 PTX after it (the driver JIT-compiles it for
    newer GPUs). sm_90a is faster where it runs (H200, 2026-12-01: the
    transformers run's prefill call, B = 2, L = 1000, takes 37 us of kernel
    time against 55 us on mma.sync; end to end 1.04x against 1.03x sdpa's
    tokens/s), but its kernels now load by TMA through tensor maps the
    runtime encodes per launch plan, a path no device has run through this
    operator yet: it becomes the default once one has (bench/NOTES.md,
    session 6)."""
    global _gpu_chip
    if _gpu_chip is None:
        chip = os.environ.get("ATTN_MLIR_GPU_CHIP")
        if not chip and not torch.cuda.is_available():
            chip = "sm_90"  # no device to ask: portable PTX (H100/H200 and newer)
        if not chip:
            major, minor = torch.cuda.get_device_capability()
            chip = f"sm_{major}{minor}" if major < 10 else "sm_90"
        _gpu_chip = chip
    return _gpu_chip


def gpu_options(dtype=None):
    """The GPU target's options: PTX for gpu_chip() and its cubin; PTX ISA
    8.1 from sm_90 on, where the backward's dQ reduction is one vector
    red.global.add.v4.f32 per C fragment (dq-reduction=auto);
    $ATTN_MLIR_GPU, where set, as the GPU the cost model tiles for ("h200":
    the chip alone models an H100); and for float32 tensors (`dtype`)
    f32_compute() (refused where it is unset)."""
    chip = gpu_chip()
    options = {"chip": chip, "cubin_archs": [chip]}
    if chip.startswith("sm_9"):
        options["features"] = "+ptx81"
    # The GPU the cost model tiles for, where a chip does not say (sm_90:
    # H100 or H200). Read per call (it is part of the kernel's key), so a
    # machine preparing a cache sets it as the one running it does.
    gpu = os.environ.get("ATTN_MLIR_GPU")
    if gpu:
        options["gpu"] = gpu
    if dtype == torch.float32:
        options["f32_compute"] = f32_compute()
    return options


def _plan(b, hq, hkv, lq, lk, d, dv, dtype, gpu, mask, scale):
    """(target, spec, options, bucketed) of one call's kernel. `mask` is a
    mask kind or "operand" (the caller adds the bias or bool_mask field)."""
    spec = {"batch": b, "heads_q": hq, "heads_kv": hkv, "seq_q": lq, "seq_k": lk,
            "head_dim": d, "value_head_dim": dv if dv != d else 0,
            "dtype": _DTYPE_NAMES[dtype], "lse": False,
            "scale": None if scale is None else float(scale),
            "mask": mask if mask != "operand" else "none"}
    decode = mask == "none" and (hq // hkv) * lq <= _DECODE_ROWS
    options = gpu_options(dtype) if gpu else None
    # f32's rounded copies are dense and static: the bucketed kernel below,
    # not the runtime-length one.
    if decode and gpu and dtype != torch.float32:
        # The decode kernel over a runtime Lk: one kernel for every length
        # of a growing cache, K and V read where they are (no padding).
        spec["dynamic"] = ["seq-k"]
        spec["seq_k"] = 1
        return "ptx", spec, options, False
    bucketed = decode
    if bucketed:
        spec["seq_k"] = -(-lk // _bucket()) * _bucket()
        # The operand, not values: lengths come at run time, so every length
        # of the bucket shares the kernel.
        spec["key_lengths"] = True
    if gpu:
        return "ptx", spec, options, bucketed
    return "cpu", spec, cpu_options(dtype), bucketed


def cpu_options(dtype):
    """The CPU target's options for a dtype: float64 is lowered whole (the
    tiling passes compute in f32 and refuse it), computed in f64."""
    return {"flash": False} if dtype == torch.float64 else None


def precompile(query_shape, key_shape, value_head_dim=None, dtype=torch.bfloat16,
               is_causal=False, scale=None, device="cuda", attn_mask=None, bshd=False):
    """Compiles (or finds in the cache) the kernel that
    scaled_dot_product_attention would use for these shapes, without running
    it: how a machine with the compiler prepares the cache for one without.
    `attn_mask` is None, "bool" or "bias": the kind of a mask operand that
    is neither all-visible nor exactly causal. `bshd`: the kernel for
    query, key and value that are [B, L, H, D] buffers seen through
    .transpose(1, 2) (as transformers' layers pass them). Returns the
    kernel."""
    b, hq, lq, d = query_shape
    _, hkv, lk, _ = key_shape
    if attn_mask not in (None, "bool", "bias"):
        raise Unsupported(f"attn_mlir: expected attn_mask None, 'bool' or 'bias', got "
                          f"{attn_mask!r}")
    kind = "operand" if attn_mask else ("causal-top-left" if is_causal else "none")
    target, spec, options, _ = _plan(b, hq, hkv, lq, lk, d, value_head_dim or d, dtype,
                                     torch.device(device).type == "cuda", kind, scale)
    if attn_mask:
        spec["bool_mask" if attn_mask == "bool" else "bias"] = True
    if bshd:
        spec["bshd"] = True
    return _kernel(target, spec, options)


_gpu_plans = {}


def _gpu_plan(query, key, value, is_causal, scale, enable_gqa):
    """(kernel, bshd) of a GPU call without attn_mask, planned once per call
    signature: the checks, the kernel and the layout decision depend only on
    shapes, strides, dtypes, the device, 16-byte alignment and the flags,
    and redoing them per call cost a decode step as much as torch's whole
    sdpa (H200 host, 2026-12-01, bench/hf_e2e.py --overhead)."""
    signature = tuple((t.shape, t.stride(), t.dtype, t.data_ptr() % 16 == 0)
                      for t in (query, key, value)) + (query.device, is_causal, scale,
                                                       enable_gqa,
                                                       os.environ.get("ATTN_MLIR_GPU"))
    plan = _gpu_plans.get(signature)
    if plan is None:
        _check(query, key, value, None, is_causal, enable_gqa)
        b, hq, lq, d = query.shape
        target, spec, options, _ = _plan(
            b, hq, key.shape[1], lq, key.shape[2], d, value.shape[3], query.dtype, True,
            "causal-top-left" if is_causal else "none", scale)
        bshd = _use_bshd(query, key, value, None, is_causal)
        if bshd:
            spec["bshd"] = True
        plan = (_kernel(target, spec, options), bshd)
        if len(_gpu_plans) < 1024:
            _gpu_plans[signature] = plan
    _used.add(plan[0].key)
    return plan


def _sdpa(query, key, value, attn_mask, is_causal, scale, enable_gqa):
    if attn_mask is None and query.is_cuda:
        kernel, bshd = _gpu_plan(query, key, value, is_causal, scale, enable_gqa)
        if bshd:
            return kernel(*[t.transpose(1, 2) for t in (query, key, value)]).transpose(1, 2)
        return kernel(*[_aligned(t) for t in (query, key, value)])
    _check(query, key, value, attn_mask, is_causal, enable_gqa)
    b, hq, lq, d = query.shape
    hkv, lk = key.shape[1], key.shape[2]
    gpu = query.is_cuda
    mask, keep = ("causal-top-left", None) if is_causal else ("none", None)
    if attn_mask is not None:
        mask, keep = _classify_mask(attn_mask, (b, hq), lq, lk)
    target, spec, options, bucketed = _plan(b, hq, hkv, lq, lk, d, value.shape[3],
                                            query.dtype, gpu, mask, scale)
    extra = []
    if mask == "operand":
        if keep is not None:
            spec["bool_mask"] = True
            extra.append(keep.expand(b, hq, lq, lk))
        else:
            spec["bias"] = True
            extra.append(attn_mask.expand(b, hq, lq, lk).to(query.dtype))
    if bucketed:
        if spec["seq_k"] != lk:
            pad = (0, 0, 0, spec["seq_k"] - lk)
            key = torch.nn.functional.pad(key, pad)
            value = torch.nn.functional.pad(value, pad)
        extra.append(torch.full((b,), lk, dtype=torch.int32, device=query.device))
    if _use_bshd(query, key, value, attn_mask, is_causal):
        # The kernel's own layout, so its key differs from the BHSD one's.
        spec["bshd"] = True
        views = [t.transpose(1, 2) for t in (query, key, value)]
        kernel = _kernel(target, spec, options)
        if gpu:
            return kernel(*views).transpose(1, 2)
        out = _from_numpy(kernel(*[_to_numpy(t) for t in views]), query.dtype)
        return out.transpose(1, 2)
    kernel = _kernel(target, spec, options)
    if gpu:
        return kernel(*[_aligned(t) for t in [query, key, value] + extra])
    arrays = [_to_numpy(t) for t in (query, key, value)] + [_to_numpy(t) for t in extra]
    return _from_numpy(kernel(*arrays), query.dtype)


def _sdpa_fake(query, key, value, attn_mask, is_causal, scale, enable_gqa):
    _check(query, key, value, attn_mask, is_causal, enable_gqa)
    b, hq, lq, _ = query.shape
    if _use_bshd(query, key, value, attn_mask, is_causal):
        return query.new_empty((b, lq, hq, value.shape[3])).transpose(1, 2)
    return query.new_empty((b, hq, lq, value.shape[3]))


# torch.library.custom_op/register_fake exist from torch 2.4 (the device has
# 2.11); older torch (Debian's 1.13, the CPU tests) gets the same operator
# through torch.library.Library with a Meta kernel.
if hasattr(torch.library, "custom_op") and hasattr(torch.library, "register_fake"):
    @torch.library.custom_op("attn_mlir::sdpa", mutates_args=())
    def _sdpa_op(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 attn_mask: Optional[torch.Tensor], is_causal: bool,
                 scale: Optional[float], enable_gqa: bool) -> torch.Tensor:
        return _sdpa(query, key, value, attn_mask, is_causal, scale, enable_gqa)

    @_sdpa_op.register_fake
    def _(query, key, value, attn_mask, is_causal, scale, enable_gqa):
        return _sdpa_fake(query, key, value, attn_mask, is_causal, scale, enable_gqa)
else:
    _library = torch.library.Library("attn_mlir", "DEF")
    _library.define("sdpa(Tensor query, Tensor key, Tensor value, Tensor? attn_mask, "
                    "bool is_causal, float? scale, bool enable_gqa) -> Tensor")
    _library.impl("sdpa", _sdpa, "CPU")
    _library.impl("sdpa", _sdpa, "CUDA")
    _library.impl("sdpa", _sdpa_fake, "Meta")
    # torch 1.13 has no autograd fallthrough for meta tensors; this op has no
    # backward (differentiable calls go to attn_mlir::attention), so its meta
    # kernel serves there as well.
    _library.impl("sdpa", _sdpa_fake, "AutogradMeta")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """torch.nn.functional.scaled_dot_product_attention's signature and
    semantics (is_causal is top-left aligned, attn_mask bool keeps True or
    float adds), on attn-mlir kernels; see the module docstring for what is
    refused."""
    if dropout_p:
        raise Unsupported("attn_mlir: dropout_p must be 0 (no dropout in the kernels)")
    if _needs_grad(query, key, value, attn_mask):
        return attention(query, key, value, attn_mask=attn_mask,
                         mask="causal-top-left" if is_causal else "none", scale=scale,
                         enable_gqa=enable_gqa)
    args = (query, key, value, attn_mask, bool(is_causal),
            None if scale is None else float(scale), bool(enable_gqa))
    if _runs_eagerly(query):
        return _sdpa(*args)
    return torch.ops.attn_mlir.sdpa(*args)


def _tracing_predicates():
    """The tests, among those this torch has, that a call is being traced
    or transformed (torch.compile, torch.jit.trace, make_fx / FakeTensor
    modes, functorch transforms): then it must go through the custom op."""
    found = []
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and hasattr(compiler, "is_compiling"):
        found.append(compiler.is_compiling)
    found.append(torch.jit.is_tracing)
    try:
        from torch.utils._python_dispatch import _get_current_dispatch_mode
        found.append(lambda: _get_current_dispatch_mode() is not None)
    except ImportError:
        return None
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    if active is None:
        return None
    found.append(active)
    return found


_TRACING = _tracing_predicates()


def _runs_eagerly(query):
    """Whether a call may run the op's body directly rather than through
    torch.ops.attn_mlir.sdpa: a plain tensor, nothing tracing. The result is
    the same; the custom op's dispatch alone cost ~40 us per call on the
    H200 host (2026-12-01), more than torch's sdpa call in total. Where this
    torch cannot tell (no predicate for some kind of tracing), always the
    custom op."""
    return _TRACING is not None and type(query) is torch.Tensor \
        and not any(tracing() for tracing in _TRACING)


def _mask_needs_grad(attn_mask):
    """Whether a float attn_mask asks for its gradient (d_bias: the
    backward's grad_bias, as torch's math and memory-efficient SDPA
    backends differentiate it)."""
    return attn_mask is not None and attn_mask.requires_grad


def _needs_grad(query, key, value, attn_mask):
    if not torch.is_grad_enabled():
        return False
    return _mask_needs_grad(attn_mask) or any(t.requires_grad for t in (query, key, value))


def attention(query, key, value, attn_mask=None, mask="none", window=None, scale=None,
              softcap=None, alibi_slopes=None, enable_gqa=False, return_lse=False):
    """Differentiable attention on attn-mlir's forward and backward kernels.

    query [B, Hq, Lq, D], key [B, Hkv, Lk, D], value [B, Hkv, Lk, Dv] (Hq a
    multiple of Hkv: GQA / MQA, with enable_gqa as in torch for Hq != Hkv).
    mask: "none", "causal-top-left" (torch's is_causal), "causal-bottom-right"
    (FlashAttention's: the last query sees every key) or "sliding-window"
    with window=(left, right), bottom-right aligned: query i sees keys
    i + Lk - Lq - left .. i + Lk - Lq + right. attn_mask (bool keeps True,
    float adds) combines with any of them. softcap: s -> softcap *
    tanh(s / softcap) after the scale (default 1/sqrt(D)); alibi_slopes: one
    per query head, s -= slope * |i + Lk - Lq - j|. With return_lse also the
    log-sum-exp [B, Hq, Lq] (float32; float64 for float64 inputs), itself
    differentiable. float64 runs on the CPU only, computed in f64 (for
    torch.autograd.gradcheck).

    The forward saves O and the LSE; the backward recomputes P from them
    (attn.attention_backward), dK and dV summed over each query group."""
    _check(query, key, value, None, False, enable_gqa)
    if window is not None and mask != "sliding-window":
        raise Unsupported("attn_mlir: window=(left, right) goes with mask='sliding-window'")
    if mask == "sliding-window" and (window is None or len(window) != 2):
        raise Unsupported("attn_mlir: mask='sliding-window' needs window=(left, right)")
    left, right = (int(window[0]), int(window[1])) if window is not None else (0, 0)
    slopes = None
    if alibi_slopes is not None:
        slopes = [float(x) for x in alibi_slopes]
        if len(slopes) != query.shape[1]:
            raise Unsupported(f"attn_mlir: expected one ALiBi slope per query head "
                              f"({query.shape[1]}), got {len(slopes)}")
    args = (query, key, value, attn_mask, str(mask), left, right,
            None if scale is None else float(scale),
            None if not softcap else float(softcap), slopes)
    if query.is_cuda and _needs_grad(query, key, value, attn_mask):
        # MissingGpuBackward if there is none.
        _autograd.gpu_backward_kernel(*args, bias_grad=_mask_needs_grad(attn_mask))
    out, lse = _autograd.apply(*args)
    return (out, lse) if return_lse else out


def _varlen_gpu_kernel(q, k, v, causal, softmax_scale, window_size, return_lse,
                       alibi_slopes=None):
    """The GPU varlen kernel of a call: one per heads, head dims, dtype,
    mask, scale and LSE; the totals and the number of sequences are its
    runtime lengths."""
    from .varlen import _mask_of
    if q.dtype not in _GPU_DTYPES:
        raise Unsupported(f"attn_mlir: expected bf16 or f16 tensors on the GPU, got "
                          f"{q.dtype}")
    # N and the totals are runtime lengths: the spec's values only size the
    # compile (one key for every batch).
    spec = {"varlen": 1, "dynamic": True, "heads_q": q.shape[1],
            "heads_kv": k.shape[1], "seq_q": 1, "seq_k": 1, "head_dim": q.shape[2],
            "value_head_dim": v.shape[2] if v.shape[2] != q.shape[2] else 0,
            "dtype": _DTYPE_NAMES[q.dtype], "lse": bool(return_lse),
            "scale": None if softmax_scale is None else float(softmax_scale),
            **_mask_of(causal, window_size, 1 << 30, alibi_slopes)}
    return _kernel("ptx", spec, gpu_options())


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None,
                     max_seqlen_k=None, *, causal=False, softmax_scale=None,
                     window_size=(-1, -1), alibi_slopes=None, return_lse=False):
    """flash_attn_varlen_func on torch tensors: q [Tq, Hq, D], k [Tk, Hkv,
    D], v [Tk, Hkv, Dv] packed sequences, cu_seqlens_q / cu_seqlens_k int32
    [N + 1] offsets on the same device; sequence n attends as its own dense
    problem (causal, window and the ALiBi distance aligned bottom-right per
    sequence; alibi_slopes one per query head, a list or a 1-D tensor, s -=
    slope * |i + Lk_n - Lq_n - j|; each set of slopes is its own compile). Returns
    out [Tq, Hq, Dv] (and with return_lse the LSE [Hq, Tq], float32).

    CUDA tensors run the GPU varlen kernel (one compile for every batch of
    the same heads, head dims, dtype and mask: the totals and N are runtime
    lengths; docs/Pipeline.md "Varlen kernels"); the host does not read the
    offsets (no synchronisation): the kernel clamps them to the packed
    extents, so offsets outside the contract give wrong rows, not accesses
    outside the tensors. CPU tensors run the CPU target
    (attn_mlir.varlen_attention, which checks the offsets on the host).
    max_seqlen_q/k are accepted for flash_attn's signature; the CPU path
    checks them.

    Differentiable in q, k and v (and through the returned LSE):
    the backward is attn.attention_backward with the same cu_seqlens, each
    sequence's gradients recomputed from the saved out and LSE (dK and dV
    summed over each query group). CPU tensors run the CPU target's
    backward; CUDA tensors run the GPU varlen backward kernels (compiled
    per heads, head dims, dtype, mask and varlen_backward_shape: N up to a
    power of two, the totals up to one of 8 sizes per octave, so batches of
    other compositions share one; docs/Pipeline.md,
    convert-attn-backward-to-nvvm "Varlen"; the LSE's gradient through 16
    more value columns). MissingGpuBackward says when there is none
    (float32 tensors)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() != 3:
            raise Unsupported(f"attn_mlir: expected {name} as a [total, H, D] tensor")
    if q.shape[2] != k.shape[2] or k.shape[:2] != v.shape[:2] or \
            q.shape[1] % k.shape[1] != 0:
        raise Unsupported(f"attn_mlir: expected q [Tq, Hq, D], k [Tk, Hkv, D] and v "
                          f"[Tk, Hkv, Dv] with Hq a multiple of Hkv, got "
                          f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    for name, cu in (("cu_seqlens_q", cu_seqlens_q), ("cu_seqlens_k", cu_seqlens_k)):
        if not isinstance(cu, torch.Tensor) or cu.dtype != torch.int32 or \
                cu.dim() != 1 or cu.numel() < 2 or cu.device != q.device:
            raise Unsupported(f"attn_mlir: expected {name} as a 1-D int32 tensor of "
                              f"N + 1 >= 2 offsets on {q.device}")
    if cu_seqlens_q.numel() != cu_seqlens_k.numel():
        raise Unsupported("attn_mlir: expected cu_seqlens_q and cu_seqlens_k of one "
                          "size N + 1")
    slopes = None
    if alibi_slopes is not None:
        slopes = tuple(float(x) for x in (alibi_slopes.tolist() if isinstance(
            alibi_slopes, torch.Tensor) else alibi_slopes))
        if len(slopes) != q.shape[1]:
            raise Unsupported(f"attn_mlir: expected one ALiBi slope per query head "
                              f"({q.shape[1]}), got {len(slopes)}")
    attributes = (max_seqlen_q, max_seqlen_k, bool(causal),
                  None if softmax_scale is None else float(softmax_scale),
                  (int(window_size[0]), int(window_size[1])), slopes)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        if q.is_cuda and q.shape[0]:  # no query rows: no kernel (all zeros)
            _autograd.varlen_gpu_backward_kernel(q, k, v, *attributes[2:5],
                                                 cu_seqlens_q.numel() - 1,
                                                 alibi_slopes=slopes)
        out, lse = _autograd.varlen_apply(q, k, v, cu_seqlens_q, cu_seqlens_k,
                                          *attributes)
    else:
        out, lse = _varlen_forward(q, k, v, cu_seqlens_q, cu_seqlens_k, *attributes,
                                   return_lse)
    return (out, lse) if return_lse else out


def _varlen_forward(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                    causal, softmax_scale, window_size, alibi_slopes=None,
                    return_lse=True):
    """(out [Tq, Hq, Dv], lse [Hq, Tq] or None without return_lse on CUDA)
    of checked arguments, without autograd."""
    if not q.is_cuda:
        from .varlen import varlen_attention as on_cpu
        got = on_cpu(*(_to_numpy(t) for t in (q, k, v, cu_seqlens_q, cu_seqlens_k)),
                     max_seqlen_q, max_seqlen_k, causal=causal,
                     softmax_scale=softmax_scale, window_size=window_size,
                     return_lse=True, dtype=_DTYPE_NAMES.get(q.dtype),
                     options=cpu_options(q.dtype), alibi_slopes=alibi_slopes)
        return _from_numpy(got[0], q.dtype), torch.from_numpy(got[1])
    kernel = _varlen_gpu_kernel(q, k, v, causal, softmax_scale, window_size, return_lse,
                                alibi_slopes)
    if q.shape[0] == 0:  # no query rows: nothing to launch
        out = q.new_empty((0, q.shape[1], v.shape[2]))
        lse = torch.empty((q.shape[1], 0), dtype=torch.float32, device=q.device)
        return out, lse
    if k.shape[0] == 0:  # no keys at all: one padding row no sequence owns
        k = k.new_zeros((1,) + tuple(k.shape[1:]))
        v = v.new_zeros((1,) + tuple(v.shape[1:]))
    # The packed [1, T, H, D] operands are views of the [T, H, D] tensors.
    got = kernel(*(_aligned(t)[None] for t in (q, k, v)),
                 _aligned(cu_seqlens_q), _aligned(cu_seqlens_k))
    if return_lse:
        return got[0][0], got[1][0]
    return got[0], None


def attention_forward(module, query, key, value, attention_mask, dropout=0.0,
                      scaling=None, is_causal=None, **kwargs):
    """A transformers attention function (AttentionInterface): query
    [B, Hq, L, D] and key/value [B, Hkv, S, D] as the model's layers pass
    them; returns (output [B, L, Hq, Dv], None) as sdpa_attention_forward
    does, whose handling of the mask and is_causal it mirrors."""
    if kwargs.get("output_attentions") or kwargs.get("head_mask") is not None:
        raise Unsupported("attn_mlir: output_attentions and head_mask are not supported")
    if attention_mask is not None and attention_mask.dim() == 4:
        attention_mask = attention_mask[:, :, :, : key.shape[-2]]
    if is_causal is None:
        is_causal = (query.shape[2] > 1 and attention_mask is None
                     and getattr(module, "is_causal", True))
    out = scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling,
        is_causal=bool(is_causal), enable_gqa=query.shape[1] != key.shape[1])
    return out.transpose(1, 2).contiguous(), None


def register_transformers(name="attn_mlir"):
    """Registers attention_forward as transformers attention implementation
    `name`, with sdpa's mask builder (so, like sdpa, a causal prompt without
    padding and a decode step come without a mask tensor)."""
    from transformers import AttentionInterface
    AttentionInterface.register(name, attention_forward)
    try:
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:  # transformers before the mask interface
        return
    AttentionMaskInterface.register(name, sdpa_mask)


# Last: _autograd reads the helpers above.
from . import _autograd  # noqa: E402
from ._autograd import MissingGpuBackward  # noqa: E402,F401


# Decode over per-sequence KV caches (flash_attn_with_kvcache); its own
# module, which uses this one's kernel cache and conversions.
from ._kvcache import kvcache_attention, kvcache_kernel, mla_decode_attention  # noqa: E402
