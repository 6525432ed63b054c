"""attn_mlir.torch.kvcache_attention: a serving engine's decode step over
per-sequence KV caches, as FlashAttention 3's flash_attn_with_kvcache takes
it with cu_seqlens_q and a page table (the new tokens' K and V already in
the caches).

    out = attn_mlir.torch.kvcache_attention(q, k_pool, v_pool, cache_seqlens,
                                            cu_seqlens_q, block_table, causal=True)

One kernel per (N sequences, T packed query rows) and heads, head dims,
dtype, mask, page size, pool size and table width (a serving engine's
captured batch sizes); which sequence owns which rows (cu_seqlens_q), the
fill levels (cache_seqlens) and the block table are read at run time, so a
new composition of the same N and T reuses the kernel. CUDA tensors run
the GPU decode family (docs/Pipeline.md "Varlen decode over paged caches"),
CPU tensors the CPU target.
"""

import torch

from .varlen import _mask_of


def _unsupported(message):
    from . import torch as at
    return at.Unsupported("attn_mlir: " + message)


def _check_int32(name, t, dim, device, shape=None):
    if not isinstance(t, torch.Tensor) or t.dtype != torch.int32 or t.dim() != dim or \
            t.device != device or (shape is not None and tuple(t.shape) != shape):
        want = "x".join(str(n) for n in shape) if shape else f"{dim}-D"
        raise _unsupported(f"expected {name} as an int32 tensor [{want}] on {device}, got "
                           f"{getattr(t, 'dtype', type(t).__name__)} "
                           f"{tuple(getattr(t, 'shape', ()))} on "
                           f"{getattr(t, 'device', '?')}")


def _check(q, k_cache, v_cache, cache_seqlens, cu_seqlens_q, block_table):
    """(N, caches' capacity Lk) of a call whose tensors fit each other."""
    for name, t, dim in (("q", q, 3), ("k_cache", k_cache, 4), ("v_cache", v_cache, 4)):
        if not isinstance(t, torch.Tensor) or t.dim() != dim:
            raise _unsupported(f"expected {name} as a {dim}-D tensor (q [T, Hq, D], "
                               "caches [num_pages, page_size, Hkv, D] or [N, Lk, Hkv, D])")
        if t.dtype != q.dtype or t.device != q.device:
            raise _unsupported(f"expected {name} of q's dtype and device ({q.dtype}, "
                               f"{q.device}), got {t.dtype} on {t.device}")
    hq, d = q.shape[1], q.shape[2]
    hkv = k_cache.shape[2]
    if k_cache.shape[:3] != v_cache.shape[:3] or k_cache.shape[3] != d or \
            hkv == 0 or hq % hkv != 0:
        raise _unsupported(f"expected q [T, Hq, D], k_cache [.., .., Hkv, D] and v_cache "
                           f"[.., .., Hkv, Dv] of one pool shape with Hq a multiple of Hkv, "
                           f"got {tuple(q.shape)}, {tuple(k_cache.shape)}, "
                           f"{tuple(v_cache.shape)}")
    _check_int32("cu_seqlens_q", cu_seqlens_q, 1, q.device)
    n = cu_seqlens_q.numel() - 1
    if n < 1:
        raise _unsupported("expected cu_seqlens_q of N + 1 >= 2 offsets")
    _check_int32("cache_seqlens", cache_seqlens, 1, q.device, (n,))
    if block_table is None:
        if k_cache.shape[0] != n:
            raise _unsupported(f"expected contiguous caches [N = {n}, Lk, Hkv, D] "
                               f"without block_table, got {tuple(k_cache.shape)}")
        return n, k_cache.shape[1]
    # Rank and dtype first (a non-tensor fails here), then its N rows.
    _check_int32("block_table", block_table, 2, q.device)
    _check_int32("block_table", block_table, 2, q.device, (n, block_table.shape[1]))
    return n, block_table.shape[1] * k_cache.shape[1]


def _check_on_host(cache_seqlens, cu_seqlens_q, block_table, total_q, lk, num_pages,
                   page):
    """The run-time values' contract, where they live on the host (a CUDA
    call reads none of them: no synchronisation); cu_seqlens_q None for a
    dense batch."""
    cu = [0, total_q] if cu_seqlens_q is None else cu_seqlens_q.tolist()
    if cu[0] != 0 or cu[-1] != total_q or any(b < a for a, b in zip(cu, cu[1:])):
        raise _unsupported(f"expected cu_seqlens_q to rise from 0 to {total_q} without "
                           f"decreasing, got {cu}")
    lengths = cache_seqlens.tolist()
    if any(not 0 <= x <= lk for x in lengths):
        raise _unsupported(f"expected cache_seqlens in [0, {lk}], got {lengths}")
    if block_table is not None:
        for n, length in enumerate(lengths):
            used = block_table[n, :(length + page - 1) // page].tolist()
            if any(not 0 <= p < num_pages for p in used):
                raise _unsupported(f"expected sequence {n}'s block_table entries in "
                                   f"[0, {num_pages}), got {used}")


def _spec(q, k_cache, v_cache, n, lk, paged, causal, softmax_scale, window_size, lse):
    from . import torch as at
    d, dv = q.shape[2], v_cache.shape[3]
    spec = {"varlen": n, "seq_q": q.shape[0], "seq_k": lk, "heads_q": q.shape[1],
            "heads_kv": k_cache.shape[2], "head_dim": d,
            "value_head_dim": dv if dv != d else 0,
            "dtype": at._DTYPE_NAMES[q.dtype], "lse": lse, "key_lengths": True,
            "scale": None if softmax_scale is None else float(softmax_scale),
            **_mask_of(causal, window_size, lk)}
    if paged:
        spec.update(page_size=k_cache.shape[1], num_pages=k_cache.shape[0])
    return spec


def _plan(q, k_cache, v_cache, cache_seqlens, cu_seqlens_q, block_table, causal,
          softmax_scale, window_size, return_lse):
    """(kernel, caches' capacity Lk) of a call."""
    from . import torch as at
    n, lk = _check(q, k_cache, v_cache, cache_seqlens, cu_seqlens_q, block_table)
    gpu = q.is_cuda or q.device.type == "meta"
    if gpu and q.dtype not in at._GPU_DTYPES:
        raise _unsupported(f"expected bf16 or f16 tensors on the GPU, got {q.dtype}")
    # The CPU entry always writes the LSE (its outputs are ours to pass).
    spec = _spec(q, k_cache, v_cache, n, lk, block_table is not None, causal,
                 softmax_scale, window_size, bool(return_lse) or not gpu)
    if gpu:
        return at._kernel("ptx", spec, at.gpu_options()), lk
    return at._kernel("cpu", spec, at.cpu_options(q.dtype)), lk


def kvcache_kernel(q, k_cache, v_cache, cache_seqlens, cu_seqlens_q, block_table=None, *,
                   causal=False, softmax_scale=None, window_size=(-1, -1),
                   return_lse=False):
    """The kernel a kvcache_attention call runs (compiled or from the cache):
    shapes and dtypes only, so a machine without the GPU prepares the cache
    from meta tensors (the GPU kernel) or CPU ones (the CPU kernel)."""
    return _plan(q, k_cache, v_cache, cache_seqlens, cu_seqlens_q, block_table, causal,
                 softmax_scale, window_size, return_lse)[0]


def kvcache_attention(q, k_cache, v_cache, cache_seqlens, cu_seqlens_q, block_table=None,
                      *, causal=False, softmax_scale=None, window_size=(-1, -1),
                      return_lse=False):
    """Attention of N sequences' new query rows over their KV caches.

    q [T, Hq, D]: the packed query rows (sequence n owns rows
    cu_seqlens_q[n]:cu_seqlens_q[n + 1], int32 [N + 1]; one per sequence for
    decode, a few for speculative decode, 0 allowed). cache_seqlens int32
    [N]: sequence n attends to the first cache_seqlens[n] rows of its cache
    (0: output 0, LSE -inf). The caches are paged pools k_cache
    [num_pages, page_size, Hkv, D] and v_cache [.., Dv] with block_table int32
    [N, pages per sequence] (page i of sequence n's cache is
    block_table[n, i]; capacity pages x page_size), or contiguous caches
    [N, Lk, Hkv, D(v)] without a block table. causal aligns each sequence's
    queries to the end of its keys (bottom-right, flash_attn's); window_size
    as flash_attn's (-1: unbounded). Returns out [T, Hq, Dv] (and with
    return_lse the LSE [Hq, T], float32).

    CUDA calls read none of the run-time values on the host (no
    synchronisation, CUDA-graph capturable): the kernel clamps offsets and
    lengths to the packed extents and the capacity, and the block table
    entries a sequence uses must index the pool. CPU calls check all three
    first. No gradients (a decode step; refused under grad)."""
    from . import torch as at
    if torch.is_grad_enabled() and any(getattr(t, "requires_grad", False)
                                       for t in (q, k_cache, v_cache)):
        raise _unsupported("kvcache_attention has no backward (call it under "
                           "torch.no_grad() or on detached tensors)")
    kernel, lk = _plan(q, k_cache, v_cache, cache_seqlens, cu_seqlens_q, block_table,
                       causal, softmax_scale, window_size, return_lse)
    t, hq, dv = q.shape[0], q.shape[1], v_cache.shape[3]
    if t == 0:  # no query rows: nothing to launch
        out = q.new_empty((0, hq, dv))
        lse = torch.empty((hq, 0), dtype=torch.float32, device=q.device)
        return (out, lse) if return_lse else out
    paged = block_table is not None
    if not q.is_cuda:
        _check_on_host(cache_seqlens, cu_seqlens_q, block_table, t, lk, k_cache.shape[0],
                       k_cache.shape[1])
        import numpy as np
        out = np.empty((1, t, hq, dv), at._to_numpy(q[:0]).dtype)
        lse = np.empty((1, hq, t), np.float32)
        # The CPU entry's order: q, the caches (pools and table), lengths,
        # offsets, then the outputs.
        caches = (k_cache, v_cache, block_table) if paged else (k_cache, v_cache)
        kernel(at._to_numpy(q)[None], *(at._to_numpy(c) for c in caches),
               at._to_numpy(cache_seqlens), at._to_numpy(cu_seqlens_q), out, lse)
        out, lse = at._from_numpy(out, q.dtype)[0], torch.from_numpy(lse)[0]
        return (out, lse) if return_lse else out
    # The GPU manifest names its inputs; pass them in its order.
    given = {"q": q[None], "key_lengths": cache_seqlens, "cu_seqlens_q": cu_seqlens_q}
    if paged:
        given.update(k_pages=k_cache, v_pages=v_cache, block_table=block_table)
    else:
        given.update(k=k_cache, v=v_cache)
    got = kernel(*(at._aligned(given[a["name"]]) for a in kernel.inputs))
    if return_lse:
        return got[0][0], got[1][0]
    return got[0]


def _plan_mla(q, kv_cache, cache_seqlens, block_table, value_head_dim, causal, softmax_scale,
              lse=True):
    """The kernel of an mla_decode_attention call (shapes and dtypes only:
    meta tensors plan the GPU one) and the block table it takes."""
    from . import torch as at
    if not isinstance(q, torch.Tensor) or q.dim() != 4 or not isinstance(kv_cache, torch.Tensor) \
            or kv_cache.dim() != 4 or kv_cache.dtype != q.dtype or kv_cache.device != q.device:
        raise _unsupported("expected q [B, Hq, Lq, D] and kv_cache [num_pages, page_size, Hkv, D] "
                           "(or [B, Lk, Hkv, D]) of one dtype and device")
    b, hq, lq, d = q.shape
    hkv, dv = kv_cache.shape[2], int(value_head_dim)
    if kv_cache.shape[3] != d or hkv == 0 or hq % hkv != 0 or not 0 < dv <= d:
        raise _unsupported(f"expected kv_cache rows of q's D = {d}, Hq a multiple of Hkv and "
                           f"0 < value_head_dim <= D, got kv_cache {tuple(kv_cache.shape)}, "
                           f"Hq = {hq}, value_head_dim = {dv}")
    if block_table is None:
        if kv_cache.shape[0] != b:
            raise _unsupported(f"expected a contiguous kv_cache [B = {b}, Lk, Hkv, D] without "
                               f"block_table, got {tuple(kv_cache.shape)}")
        # A contiguous cache is a pool of one page of Lk rows per sequence.
        block_table = torch.arange(b, dtype=torch.int32, device=q.device)[:, None]
    _check_int32("block_table", block_table, 2, q.device)
    _check_int32("block_table", block_table, 2, q.device, (b, block_table.shape[1]))
    _check_int32("cache_seqlens", cache_seqlens, 1, q.device, (b,))
    gpu = q.is_cuda or q.device.type == "meta"
    if gpu and q.dtype not in at._GPU_DTYPES:
        raise _unsupported(f"expected bf16 or f16 tensors on the GPU, got {q.dtype}")
    spec = {"batch": b, "heads_q": hq, "heads_kv": hkv, "seq_q": lq,
            "seq_k": block_table.shape[1] * kv_cache.shape[1],
            "head_dim": d, "value_head_dim": dv if dv != d else 0,
            "dtype": at._DTYPE_NAMES[q.dtype], "mask": "causal" if causal else "none",
            "lse": bool(lse), "key_lengths": True, "page_size": kv_cache.shape[1],
            "num_pages": kv_cache.shape[0], "shared_kv": True,
            "scale": None if softmax_scale is None else float(softmax_scale)}
    if gpu:
        return at._kernel("ptx", spec, at.gpu_options()), block_table
    return at._kernel("cpu", spec, at.cpu_options(q.dtype)), block_table


def mla_decode_attention(q, kv_cache, cache_seqlens, block_table=None, *, value_head_dim=512,
                         causal=False, softmax_scale=None, return_lse=False):
    """DeepSeek MLA's absorbed decode over ONE shared latent cache: K is the
    whole cache row (576 = 512 latent + 64 rotary dims) and V its first
    value_head_dim columns, so the cache is passed once (FlashMLA's
    flash_mla_with_kvcache, heads not folded).

    q [B, Hq, Lq, D] (Lq = 1 for decode, a few for speculative steps);
    kv_cache a paged pool [num_pages, page_size, Hkv, D] with block_table
    int32 [B, pages per sequence], or contiguous [B, Lk, Hkv, D] without a
    table (run as one page of Lk rows per sequence); cache_seqlens int32 [B]
    (sequence b attends to its first cache_seqlens[b] rows; 0: output 0,
    LSE -inf). causal aligns the Lq rows to the end of each sequence's keys
    (bottom-right). Returns out [B, Hq, Lq, Dv] (and with return_lse the LSE
    [B, Hq, Lq], float32). CUDA tensors run the decode family's latent kernel
    (docs/Pipeline.md "The latent kernel"), CPU tensors the CPU target. One
    kernel per shape (B, heads, Lq, pool and table sizes); lengths and table
    entries are read at run time. No gradients."""
    from . import torch as at
    if torch.is_grad_enabled() and any(getattr(t, "requires_grad", False) for t in (q, kv_cache)):
        raise _unsupported("mla_decode_attention has no backward (call it under "
                           "torch.no_grad() or on detached tensors)")
    # The CPU entry always writes the LSE (its outputs are ours to pass).
    kernel, block_table = _plan_mla(q, kv_cache, cache_seqlens, block_table, value_head_dim,
                                    causal, softmax_scale, lse=bool(return_lse) or not q.is_cuda)
    b, hq, lq, _ = q.shape
    dv = int(value_head_dim)
    if not q.is_cuda:
        page = kv_cache.shape[1]
        _check_on_host(cache_seqlens, None, block_table, 0, block_table.shape[1] * page,
                       kv_cache.shape[0], page)
        import numpy as np
        out = np.empty((b, hq, lq, dv), at._to_numpy(q[:0]).dtype)
        lse = np.empty((b, hq, lq), np.float32)
        kernel(at._to_numpy(q), at._to_numpy(kv_cache), at._to_numpy(block_table),
               at._to_numpy(cache_seqlens), out, lse)
        out, lse = at._from_numpy(out, q.dtype), torch.from_numpy(lse)
        return (out, lse) if return_lse else out
    given = {"q": q, "k_pages": kv_cache, "block_table": block_table,
             "key_lengths": cache_seqlens}
    got = kernel(*(at._aligned(given[a["name"]]) for a in kernel.inputs))
    return (got[0], got[1]) if return_lse else got[0]
