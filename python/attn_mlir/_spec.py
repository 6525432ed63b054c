"""Attention specs as keyword arguments: attn-compile's flags in snake_case
(plus AttentionSpec's scale and mask_mod), with attn-compile's defaults."""

import ctypes
import math

from . import _capi

DEFAULTS = {
    "batch": 1, "heads_q": 32, "heads_kv": 8, "seq_q": 1024, "seq_k": 1024,
    "head_dim": 128, "value_head_dim": 0, "dtype": "bf16", "mask": "causal",
    "window_left": 256, "window_right": 0, "scale": None, "softcap": None,
    "score_mod": "none", "mask_mod": "none", "alibi": False, "bshd": False,
    "lse": True, "bias": False, "bool_mask": False, "page_size": 0,
    "append_tokens": 0, "num_pages": 0, "key_lengths": False, "backward": False,
    "bias_grad": True, "shared_kv": False, "lse_grad": False,
    "dynamic": (), "varlen": None,
}

# attn-compile's --dynamic dims and the spec fields they make runtime lengths.
_DYNAMIC = {"batch": "batch", "seq-q": "seq_q", "seq-k": "seq_k"}

_DTYPES = {"f32": 0, "f16": 1, "bf16": 2, "f64": 5}
_MASKS = {"none": 0, "causal": 2, "causal-bottom-right": 2,
          "causal-top-left": 1, "sliding-window": 3}
_SCORE_MODS = {"none": 0, "relative-bias": 1, "tanh-cap": 2}
_MASK_MODS = {"none": 0, "prefix-lm": 1}


def _choice(name, value, table):
    if value not in table:
        raise ValueError(f"attn_mlir: expected {name} to be one of "
                         f"{', '.join(sorted(table))}, got {value!r}")
    return table[value]


def normalize(kwargs):
    """The full spec (defaults filled in) as a plain dict: the cache key's
    source and what compile_spec builds. Unknown names are refused."""
    unknown = sorted(set(kwargs) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"attn_mlir: unknown spec field(s) {', '.join(unknown)} "
                        f"(expected some of {', '.join(sorted(DEFAULTS))})")
    spec = dict(DEFAULTS)
    spec.update(kwargs)
    for name in ("dtype", "mask", "score_mod", "mask_mod"):
        spec[name] = str(spec[name])
    if spec["softcap"] == 0:
        spec["softcap"] = None
    for name in ("scale", "softcap"):
        if spec[name] is not None:
            spec[name] = float(spec[name])
    if spec["alibi"] is True:
        # attn-compile's --alibi: the geometric slopes of the ALiBi paper.
        h = spec["heads_q"]
        spec["alibi"] = [math.pow(2.0, -8.0 * (i + 1) / h) for i in range(h)]
    elif spec["alibi"] is False or spec["alibi"] is None:
        spec["alibi"] = []
    else:
        spec["alibi"] = [float(s) for s in spec["alibi"]]
    if spec["key_lengths"] is True:
        # attn-compile's --key-lengths: Lk, Lk - 1, ... (at least 1). The
        # values only shape the reference; kernels take lengths at run time.
        spec["key_lengths"] = [max(1, spec["seq_k"] - b) for b in range(spec["batch"])]
    elif spec["key_lengths"] is False or spec["key_lengths"] is None:
        spec["key_lengths"] = []
    else:
        spec["key_lengths"] = [int(n) for n in spec["key_lengths"]]
    for name in ("batch", "heads_q", "heads_kv", "seq_q", "seq_k", "head_dim",
                 "value_head_dim", "window_left", "window_right", "page_size",
                 "append_tokens", "num_pages"):
        spec[name] = int(spec[name])
    for name in ("bshd", "lse", "bias", "bool_mask", "backward", "bias_grad", "shared_kv",
                 "lse_grad"):
        spec[name] = bool(spec[name])
    _normalize_dynamic(spec)
    _normalize_varlen(spec)
    return spec


def _normalize_varlen(spec):
    """`varlen`: the number of packed sequences N (Q [1, seq_q, Hq, D] and
    K/V [1, seq_k, Hkv, D] in the bshd layout, the entry taking cu_seqlens_q
    and cu_seqlens_k [N+1] after q, k, v). The offsets are run-time values,
    no part of what is compiled: the spec holds canonical ones (the first
    sequence owns every row), so every batch of N sequences and the same
    totals shares one kernel; with dynamic dims ("batch": N, "seq-q",
    "seq-k": the totals) one kernel serves every batch."""
    n = spec["varlen"]
    if n is None:
        return
    n = 1 if "batch" in spec["dynamic"] else int(n)
    if n < 1:
        raise ValueError(f"attn_mlir: expected varlen to count at least one "
                         f"sequence, got {n}")
    spec["varlen"] = n
    spec["batch"], spec["bshd"] = 1, True
    if spec["key_lengths"]:
        # Decode over N caches (attn-compile's --varlen with --key-lengths):
        # one fill level per cache, read at run time; canonical values keep
        # the cache key the same for every batch.
        spec["key_lengths"] = [spec["seq_k"]] * n


def _normalize_dynamic(spec):
    """`dynamic`: True (B, Lq and Lk), or some of "batch", "seq-q",
    "seq-k" (attn-compile's --dynamic). One kernel serves every such length,
    so the extent is no part of what is compiled: it is set to 1 (and the
    key lengths to match), which makes the cache key the same for every
    length."""
    dims = spec["dynamic"]
    if dims is True:
        dims = tuple(_DYNAMIC)
    elif not dims:
        dims = ()
    elif isinstance(dims, str):
        dims = (dims,)
    unknown = sorted(set(dims) - set(_DYNAMIC))
    if unknown:
        raise ValueError(f"attn_mlir: expected dynamic dims among "
                         f"{', '.join(_DYNAMIC)}, got {', '.join(unknown)}")
    spec["dynamic"] = sorted(set(dims))
    for dim in spec["dynamic"]:
        spec[_DYNAMIC[dim]] = 1
    if spec["dynamic"] and spec["key_lengths"]:
        spec["key_lengths"] = [1] * spec["batch"]


def to_c(spec):
    """An MlirAttnSpec for `spec` (normalized); the arrays it points to are
    returned too and must outlive the call."""
    c = _capi.Spec()
    _capi.compiler().lib.mlirAttnSpecInit(ctypes.byref(c))
    c.batch, c.numQueryHeads, c.numKVHeads = spec["batch"], spec["heads_q"], spec["heads_kv"]
    c.queryLength, c.keyLength = spec["seq_q"], spec["seq_k"]
    c.headDim, c.valueHeadDim = spec["head_dim"], spec["value_head_dim"]
    c.elementType = _choice("dtype", spec["dtype"], _DTYPES)
    c.layout = 1 if spec["bshd"] else 0
    c.maskKind = _choice("mask", spec["mask"], _MASKS)
    c.windowLeft, c.windowRight = spec["window_left"], spec["window_right"]
    c.hasScale = spec["scale"] is not None
    c.scale = spec["scale"] or 0.0
    c.hasSoftcap = spec["softcap"] is not None
    c.softcap = spec["softcap"] or 0.0
    slopes = (ctypes.c_double * max(1, len(spec["alibi"])))(*spec["alibi"])
    c.alibiSlopes, c.numAlibiSlopes = slopes, len(spec["alibi"])
    c.withBias, c.withBoolMask, c.withLse = spec["bias"], spec["bool_mask"], spec["lse"]
    c.scoreMod = _choice("score_mod", spec["score_mod"], _SCORE_MODS)
    c.maskMod = _choice("mask_mod", spec["mask_mod"], _MASK_MODS)
    c.pageSize, c.appendTokens = spec["page_size"], spec["append_tokens"]
    c.numPages = spec["num_pages"]
    lengths = (ctypes.c_int64 * max(1, len(spec["key_lengths"])))(*spec["key_lengths"])
    c.keyLengths, c.numKeyLengths = lengths, len(spec["key_lengths"])
    c.backward = spec["backward"]
    c.withBiasGradient = spec["bias_grad"]
    c.sharedKV = spec["shared_kv"]
    c.withLseGradient = spec["lse_grad"]
    c.dynamicBatch = "batch" in spec["dynamic"]
    c.dynamicQueryLength = "seq-q" in spec["dynamic"]
    c.dynamicKeyLength = "seq-k" in spec["dynamic"]
    keep = [slopes, lengths]
    n = spec["varlen"]
    if n:
        # Over caches (key lengths) there are no cu_seqlens_k.
        fields = (("cuSeqlensQ", spec["seq_q"]),) if spec["key_lengths"] else \
            (("cuSeqlensQ", spec["seq_q"]), ("cuSeqlensK", spec["seq_k"]))
        for field, total in fields:
            array = (ctypes.c_int64 * (n + 1))(0, *([total] * n))
            setattr(c, field, array)
            keep.append(array)
        c.numCuSeqlens = n + 1
    return c, tuple(keep)


def num_outputs(spec):
    """Outputs at the end of the spec's entry (o and, with lse, lse; for a
    backward dQ, dK, dV and, with bias, d_bias); None where the entry also
    takes caches updated in place (page_size, append_tokens), whose callers
    pass every buffer."""
    if spec["page_size"] or spec["append_tokens"]:
        return None
    if spec["backward"]:
        return 4 if spec["bias"] and spec["bias_grad"] else 3
    return 2 if spec["lse"] else 1
