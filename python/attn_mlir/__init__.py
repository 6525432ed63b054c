"""attn_mlir: compile fused attention kernels from Python.

    import attn_mlir
    k = attn_mlir.compile(heads_q=8, heads_kv=2, seq_q=128, seq_k=128,
                          head_dim=64, dtype="f32", mask="causal", lse=False,
                          target="cpu")
    out = k(q, k_, v)                      # numpy arrays

    g = attn_mlir.compile(heads_q=32, heads_kv=8, seq_q=1, seq_k=4096,
                          head_dim=128, dtype="bf16", mask="none",
                          key_lengths=True, lse=False, target="ptx")
    g.ptx, g.manifest, g.cubins            # in memory and in the cache
    out = g(q, k_, v, lengths)             # torch CUDA tensors, via the runtime

Pure Python over two shared libraries: libAttnMLIRCAPI.so (the C API,
compiling) and libAttnRuntimeC.so (the runtime, launching). A machine with
only the runtime runs kernels that a machine with the compiler put into the
cache directory (see _cache.py). attn_mlir.torch is the torch operator and
the transformers attention backend.
"""

from . import _cache, _spec
from ._capi import CompileError, Diagnostic
from ._kernels import CpuKernel, PtxKernel
from .varlen import varlen_attention

__version__ = "0.1.0"

__all__ = ["compile", "varlen_attention", "CompileError", "Diagnostic", "CpuKernel", "PtxKernel",
           "cache_stats", "clear_memory_cache", "bf16_to_float32",
           "float32_to_bf16", "__version__"]

# Options per target, with their C API field names (defaults: the C API's,
# i.e. convert-attn-to-nvvm's and attn-compile's).
_PTX_OPTIONS = {"chip": "chip", "features": "features", "block_m": "blockM",
                "block_n": "blockN", "num_warps": "numWarps", "kernel": "kernel",
                "num_splits": "numSplits", "num_sms": "numSMs",
                "decode_num_warps": "decodeNumWarps",
                "decode_keys_per_warp": "decodeKeysPerWarp",
                "decode_stages": "decodeStages", "cubin_archs": "cubinArchs",
                "ptxas": "ptxas", "deterministic": "backwardDQ",
                "dq_reduction": "dqReduction", "bwd_block_m": "backwardBlockM",
                "bwd_block_n": "backwardBlockN", "dq_block_m": "dqBlockM",
                "gpu": "gpu", "f32_compute": "f32Compute"}
# The backward's dQ mode: MlirAttnBackwardDQ of None (the pass's default),
# False (atomic reductions) and True (the deterministic dQ kernel).
_BACKWARD_DQ = {None: 0, False: 1, True: 2}
_DQ_REDUCTIONS = ("auto", "atom", "red-v2", "red-v4")
_CPU_OPTIONS = {"flash": "flash", "tile_m": "tileM", "tile_n": "tileN",
                "num_splits": "numSplits", "accumulate_in_f64": "accumulateInF64"}
_PTX_DEFAULTS = {"chip": "sm_80", "cubin_archs": ["sm_90"]}


def compile(mlir=None, *, target="cpu", entry="attention", options=None,
            cache=True, **spec):
    """Compiles an attention kernel and returns a CpuKernel or PtxKernel.

    The source is either `mlir`, MLIR text whose entry function (`entry`,
    else the first func.func) takes tensors or memrefs (attention as
    attn.attention or as a linalg graph, raised), or the spec keyword
    arguments: attn-compile's flags in snake_case with its defaults
    (batch, heads_q, heads_kv, seq_q, seq_k, head_dim, dtype, mask,
    window_left, window_right, softcap, score_mod, alibi, bshd, lse,
    page_size, num_pages, append_tokens, key_lengths, shared_kv) plus scale, value_head_dim,
    mask_mod, bias, bool_mask and backward (the gradients dQ, dK, dV of
    the same attention from q, k, v, o, dO and lse).

    target "cpu" JIT-compiles for this machine; "ptx" generates the GPU
    kernel. `options` holds the target's options: for "ptx" chip (default
    sm_80), features, block_m, block_n, num_warps, kernel, num_splits,
    num_sms, decode_num_warps, decode_keys_per_warp, decode_stages,
    cubin_archs (default ["sm_90"]; assembled when ptxas is found), ptxas,
    and for a backward deterministic (None: the compiler's default, False:
    f32 reductions into dq_accum, True: the bit-identical dQ kernel),
    dq_reduction (auto, atom, red-v2, red-v4), bwd_block_m, bwd_block_n,
    dq_block_m (0: the cost model's tiles), f32_compute ("refuse", the
    default: f32 inputs are an error; "bf16" or "f16": they run on rounded
    copies, as accurate as a bf16 / f16 call), and gpu (the GPU the cost
    model tiles for and the manifest's cost figures are for: "h200",
    "h100-sxm", "a100-sxm", "b200"; default the chip's, which cannot tell an
    H200 from an H100);
    for "cpu" flash, tile_m, tile_n, num_splits, accumulate_in_f64.

    Kernels are cached by source, target, options and version: in memory,
    and for "ptx" on disk, so a shape seen before never compiles again
    (cache=False bypasses both). Errors raise CompileError carrying the MLIR
    diagnostics, each with its location.
    """
    if target not in ("cpu", "ptx"):
        raise ValueError(f"attn_mlir: expected target 'cpu' or 'ptx', got {target!r}")
    if mlir is not None and spec:
        raise TypeError("attn_mlir: give MLIR text or spec fields, not both")
    table = _PTX_OPTIONS if target == "ptx" else _CPU_OPTIONS
    opts = dict(_PTX_DEFAULTS) if target == "ptx" else {}
    for name, value in (options or {}).items():
        if name not in table:
            raise TypeError(f"attn_mlir: unknown {target} option {name!r} "
                            f"(expected some of {', '.join(sorted(table))})")
        if name == "deterministic" and value not in _BACKWARD_DQ:
            raise TypeError("attn_mlir: expected option deterministic to be None, "
                            f"True or False, got {value!r}")
        if name == "dq_reduction" and value not in _DQ_REDUCTIONS:
            raise ValueError("attn_mlir: expected option dq_reduction to be one of "
                             f"{', '.join(_DQ_REDUCTIONS)}, got {value!r}")
        opts[name] = list(value) if name == "cubin_archs" else value
    source = ({"mlir": mlir, "entry": entry} if mlir is not None
              else {"spec": _spec.normalize(spec)})
    description = {"version": __version__, "target": target, "options": opts,
                   "source": source}
    key = _cache.make_key(description)
    c = _cache.CACHE
    with c.lock:
        if cache and key in c.memory:
            c.stats.memory_hits += 1
            return c.memory[key]
        kernel = None
        if cache and target == "ptx":
            stored = c.load_ptx(key)
            if stored is not None:
                c.stats.disk_hits += 1
                ptx, manifest, cubins, _ = stored
                kernel = PtxKernel(ptx, manifest, cubins, c.entry_dir(key), key, description)
        if kernel is None:
            kernel = _compile(source, target, opts, table, key, description, cache)
            c.stats.compiles += 1
        if cache:
            c.memory[key] = kernel
        return kernel


def _compiler_or_explain(description):
    from . import _capi
    try:
        return _capi.compiler()
    except OSError as e:
        raise CompileError(
            f"attn_mlir: no compiler on this machine ({e}) and no cached kernel "
            f"for {description['source']} (target {description['target']}) in "
            f"{_cache.cache_dir()}: compile it where attn-mlir is built, into the "
            "cache directory this machine reads (ATTN_MLIR_CACHE_DIR)", []) from None


def _compile(source, target, opts, table, key, description, cache):
    compiler = _compiler_or_explain(description)
    with compiler.lock:
        compiler.take_diagnostics()
        keep = None
        if "spec" in source:
            cspec, keep = _spec.to_c(source["spec"])
            module = compiler.build_spec(cspec)
            entry = "attention"
            num_outputs = _spec.num_outputs(source["spec"])
        else:
            module = compiler.parse(source["mlir"])
            functions = compiler.functions(module)
            name = source["entry"] if source["entry"] in functions else next(iter(functions), None)
            num_outputs = functions.get(name) or None
        try:
            if "mlir" in source:
                entry = compiler.prepare(module, source["entry"])
            c_opts = {table[n]: _BACKWARD_DQ[v] if n == "deterministic" else v
                      for n, v in opts.items()}
            if target == "cpu":
                c_opts["entry"] = entry
                exe = compiler.compile_cpu(module, c_opts)
                return CpuKernel(compiler, exe, entry, num_outputs, key, description)
            ptx, manifest, _, cubins = compiler.compile_ptx(module, c_opts)
        finally:
            compiler.destroy(module)
            del keep
    path = None
    if cache:
        path = _cache.CACHE.store_ptx(key, ptx, manifest, cubins, description)
    else:
        import tempfile
        path = _cache.CACHE.store_ptx(key, ptx, manifest, cubins, description,
                                      root=tempfile.mkdtemp(prefix="attn_mlir-"))
    return PtxKernel(ptx, manifest, cubins, path, key, description)


def cache_stats():
    """{"compiles", "memory_hits", "disk_hits"} since the process started."""
    return _cache.CACHE.stats.as_dict()


def clear_memory_cache():
    """Forgets the in-process kernels (the disk cache stays)."""
    with _cache.CACHE.lock:
        _cache.CACHE.memory.clear()


def float32_to_bf16(array):
    """float32 numpy array -> uint16 bfloat16 bits (round to nearest even)."""
    import numpy as np
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    nan = np.isnan(array)
    out = (rounded >> 16).astype(np.uint16)
    out[nan] = 0x7FC0
    return out


def bf16_to_float32(bits):
    """uint16 bfloat16 bits -> float32 numpy array (exact)."""
    import numpy as np
    return (np.ascontiguousarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
