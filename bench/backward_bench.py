#!/usr/bin/env python3
"""Device check and timing of the backward kernels (attn-compile --backward).

Each variant is a program of three kernels staged by bench/backward_prepare.sh
(<name>.sm_90.cubin, or .sm_90a.cubin for the hopper main kernel, with manifests <name>.json, <name>.1.json, <name>.2.json in
launch order: preprocess, main, convert). All three take the same arguments
(q, k, v, o, do, lse, dq, dk, dv) and one caller workspace (delta, lse_log2,
dq_accum), launched through the runtime's C ABI.

Check (bwd_check_*, and every bwd_bench_* before it is timed): O and LSE from
a float64 forward on the inputs, our dQ/dK/dV (outputs poisoned with NaN)
against torch float64 autograd of the same attention; the bound per gradient
is 2x the max abs error against float64 on the same inputs of torch's flash
backward (its own forward) where flash computes the same problem, else of
an eager implementation of the same problem in the inputs' dtype (products
in that dtype, softmax in f32, P rounded back: what `attn_implementation=
"eager"` does), with a floor of 1e-3 * max|ref|. (Before 2026-12-01 session
4 the yardstick was flash on the nearest problem it computes, e.g. without
the mask, whose errors are smaller than a masked problem's.)

Timing: median of do_bench (warmup 25, rep 100) of our three launches vs
torch.autograd.grad through SDPA under SDPBackend.FLASH_ATTENTION and
SDPBackend.CUDNN_ATTENTION, and through torch.compile(flex_attention)
(FlexAttention's generated backward; --skip-flex leaves it out), backward
only: each forward graph is built once.
TFLOP/s = 2.5 x the forward's 4 B Hq Lq Lk D (x0.5 causal).

A crash or a wrong result in one variant is reported and the rest still run.
With --kernels-a DIR (an A/B), every timed variant that DIR also holds is
timed there too on the same inputs, alternated A B A B (the smaller median
of each side); the A kernels are not checked again (their own run did).

Usage: backward_bench.py --lib libAttnRuntimeC.so --kernels DIR --out DIR
                         [--match REGEX] [--checks-only] [--skip-cudnn]
                         [--skip-flex] [--kernels-a DIR] [--tag NAME]
"""
import argparse
import ctypes
import datetime
import glob
import json
import math
import os
import re
import sys
import traceback

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backward_operands as bo  # noqa: E402  (bias, bool mask, key_lengths)

CALLER_WORKSPACE = 1
DTYPES = {torch.bfloat16: b"bf16", torch.float16: b"f16", torch.float32: b"f32",
          torch.bool: b"i1", torch.int32: b"i32"}


class Runtime:
    def __init__(self, path):
        lib = ctypes.CDLL(path)
        lib.attnRuntimeLastError.restype = ctypes.c_char_p
        lib.attnKernelCreateFromFiles.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
            ctypes.POINTER(ctypes.c_void_p)]
        lib.attnKernelGetWorkspaceSize.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
        lib.attnKernelInitWorkspace.argtypes = [
            ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p]
        lib.attnKernelLaunchWithWorkspace.argtypes = [
            ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint64),
            ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int32),
            ctypes.POINTER(ctypes.c_int64), ctypes.c_uint64, ctypes.c_size_t,
            ctypes.c_void_p, ctypes.c_int]
        lib.attnKernelDestroy.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def check(self, rc, what):
        if rc:
            raise RuntimeError(f"{what}: {self.lib.attnRuntimeLastError().decode()}")


class Program:
    """The three kernels of one backward variant, sharing one workspace."""

    def __init__(self, rt, kdir, name):
        self.rt = rt
        # sm_90 (mma.sync) or sm_90a (the hopper main kernel: arch-specific).
        images = sorted(glob.glob(os.path.join(kdir, name + ".sm_90*.cubin")))
        if len(images) != 1:
            raise RuntimeError(f"{name}: expected one sm_90 / sm_90a cubin, got {images}")
        image = images[0]
        # Three launches, one more with sinks (d_sinks), one or two more
        # with d_bias: <name>.json, <name>.1.json, ...
        manifests = [os.path.join(kdir, name + ".json")]
        while os.path.exists(os.path.join(kdir, f"{name}.{len(manifests)}.json")):
            manifests.append(os.path.join(kdir, f"{name}.{len(manifests)}.json"))
        self.manifests = [json.load(open(m)) for m in manifests]
        self.handles = []
        for m in manifests:
            h = ctypes.c_void_p()
            rt.check(rt.lib.attnKernelCreateFromFiles(
                None, image.encode(), m.encode(), CALLER_WORKSPACE, ctypes.byref(h)),
                f"load {m}")
            self.handles.append(h)
        sizes = []
        for h in self.handles:
            n = ctypes.c_size_t()
            rt.check(rt.lib.attnKernelGetWorkspaceSize(h, ctypes.byref(n)), "workspace size")
            sizes.append(n.value)
        if len(set(sizes)) != 1:
            raise RuntimeError(f"kernels of {name} disagree on the workspace: {sizes}")
        self.ws_bytes = sizes[0]
        self.ws = torch.empty(max(self.ws_bytes, 256), dtype=torch.uint8, device="cuda")
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        rt.check(rt.lib.attnKernelInitWorkspace(self.handles[0], self.ws.data_ptr(),
                                                self.ws_bytes, stream), "init workspace")

    def bind(self, tensors, sync=False):
        n = len(tensors)
        ptrs = (ctypes.c_uint64 * n)(*[t.data_ptr() for t in tensors])
        dtypes = (ctypes.c_char_p * n)(*[DTYPES[t.dtype] for t in tensors])
        ranks = (ctypes.c_int32 * n)(*[t.dim() for t in tensors])
        dims = [d for t in tensors for d in t.shape]
        shapes = (ctypes.c_int64 * len(dims))(*dims)
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        lib, ws, wsb = self.rt.lib, self.ws.data_ptr(), self.ws_bytes

        def launch():
            for i, h in enumerate(self.handles):
                self.rt.check(lib.attnKernelLaunchWithWorkspace(
                    h, n, ptrs, dtypes, ranks, shapes, ws, wsb, stream, int(sync)),
                    f"launch kernel {i}")
        return launch

    def close(self):
        for h in self.handles:
            self.rt.lib.attnKernelDestroy(h)


def parse_flags(text):
    spec = dict(batch=1, hq=1, hkv=1, lq=1, lk=1, d=64, dtype="bf16", mask="none",
                wl=0, wr=0, softcap=0.0, alibi=False, bias=False, bool_mask=False,
                key_lengths=False, sinks=False, bias_grad=True, bias_broadcast=[],
                mask_mod="none")
    keys = {"--batch": "batch", "--heads-q": "hq", "--heads-kv": "hkv", "--seq-q": "lq",
            "--seq-k": "lk", "--head-dim": "d", "--dtype": "dtype", "--mask": "mask",
            "--window-left": "wl", "--window-right": "wr", "--softcap": "softcap",
            "--alibi": "alibi", "--value-head-dim": "dv", "--bias": "bias",
            "--bool-mask": "bool_mask", "--key-lengths": "key_lengths", "--sinks": "sinks",
            "--bias-grad": "bias_grad", "--bias-broadcast": "bias_broadcast",
            "--mask-mod": "mask_mod"}
    spec["deterministic"] = "--deterministic" in text.split()
    # --bshd: the kernel reads and writes [B, L, H, D] buffers (torch's
    # x.transpose(1, 2) views of them are the [B, H, L, D] tensors here).
    spec["bshd"] = "--bshd" in text.split()
    for tok in text.split():
        k, _, v = tok.partition("=")
        if k not in keys:
            continue
        key = keys[k]
        if key in ("alibi", "bias", "bool_mask", "key_lengths", "bias_grad"):
            spec[key] = v != "false"
        elif key == "bias_broadcast":
            spec[key] = v.split(",")
        elif key == "sinks":
            spec[key] = bool(v)
        elif key in ("dtype", "mask", "mask_mod"):
            spec[key] = v
        elif key == "softcap":
            spec[key] = float(v)
        else:
            spec[key] = int(v)
    # Dv (MLA's 192 / 128): V, O, dO and dV are [.., Dv].
    spec["dv"] = spec.get("dv") or spec["d"]
    # The kernels return d_bias (after dV) where the bias is no constant.
    spec["bias_grad"] = spec["bias"] and spec["bias_grad"]
    return spec


def visible(spec, device, off=None):
    """[Lq, Lk] bool: key j visible to query i (AttnOps.td semantics); `off`
    the diagonal Lk - Lq (or len_b - Lq per batch, [B, 1, 1, 1])."""
    lq, lk = spec["lq"], spec["lk"]
    i = torch.arange(lq, device=device)[:, None]
    j = torch.arange(lk, device=device)[None, :]
    if off is None:
        off = lk - lq
    m = spec["mask"]
    if m == "none":
        return torch.ones(lq, lk, dtype=torch.bool, device=device)
    if m == "causal-top-left":
        return j <= i
    if m in ("causal", "causal-bottom-right"):
        return j <= i + off
    if m == "sliding-window":
        return (j >= i + off - spec["wl"]) & (j <= i + off + spec["wr"])
    raise ValueError(m)


def alibi_slopes(hq):
    """attn-compile --alibi: 2^(-8 (h + 1) / Hq)."""
    return [2.0 ** (-8.0 * (h + 1) / hq) for h in range(hq)]


def attention64(spec, q, k, v, head0=0, eager=False, batch0=0, ops=None, sinks=None):
    """float64 attention of query heads head0.. (q [B, g', Lq, D], k and v
    [B, g' / g, Lk, D]), with autograd: (O, LSE). With `eager`, the same
    problem computed as an eager implementation in the inputs' dtype does
    it (products in that dtype, softmax in f32, P rounded back before P.V):
    the yardstick where flash cannot compute the problem itself. `ops`: the
    score operands (backward_operands.py) of batches batch0.. ; `sinks`
    [Hq] (float64 with autograd where the gradient is checked)."""
    ops = ops or {}
    off = bo.key_offset(spec, ops, batch0, q.shape[0])
    g = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(g, dim=1)
    v = v.repeat_interleave(g, dim=1)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(spec["d"])
    if eager:
        s = s.float()
    if spec["softcap"]:
        s = spec["softcap"] * torch.tanh(s / spec["softcap"])
    if spec["alibi"]:
        i = torch.arange(spec["lq"], device=q.device, dtype=torch.float64)[:, None]
        j = torch.arange(spec["lk"], device=q.device, dtype=torch.float64)[None, :]
        slopes = torch.tensor(alibi_slopes(spec["hq"])[head0:head0 + q.shape[1]],
                              device=q.device, dtype=torch.float64)[None, :, None, None]
        s = s - slopes * (i + off - j).abs()
    vis = visible(spec, q.device, off)
    if spec.get("mask_mod", "none") == "prefix-lm":
        # attn-compile's prefix-lm mask_mod: kv_idx <= q_idx || kv_idx < 4.
        i = torch.arange(spec["lq"], device=q.device)[:, None]
        j = torch.arange(spec["lk"], device=q.device)[None, :]
        vis = vis & ((j <= i) | (j < 4))
    elif spec.get("mask_mod", "none") != "none":
        raise ValueError(f"unknown mask_mod {spec['mask_mod']}")
    s, vis = bo.apply_operands(spec, ops, s, vis, batch0, head0)
    s = s.masked_fill(~vis, float("-inf"))
    # Rows that see no key (by position, mask or an all -inf bias): P = 0,
    # O = 0, LSE = -inf (the sink's logit with sinks).
    if sinks is None and "sinks" in ops:
        sinks = ops["sinks"].double()
    p, lse = bo.softmax_stats(s, sinks, head0)
    if eager:
        p = p.to(v.dtype)
    return p @ v, lse


def forward64(spec, q, k, v, ops=None):
    """O (input dtype) and LSE (f32) of the whole problem, one KV group at a
    time (the float64 score matrix of a 16k shape does not fit at once)."""
    g = spec["hq"] // spec["hkv"]
    o = torch.empty(q.shape[:3] + (spec["dv"],), device=q.device, dtype=q.dtype)
    lse = torch.empty(q.shape[:3], device=q.device, dtype=torch.float32)
    with torch.no_grad():
        for b in range(spec["batch"]):
            for kh in range(spec["hkv"]):
                hs = slice(kh * g, (kh + 1) * g)
                ob, lb = attention64(spec, q[b:b + 1, hs].double(), k[b:b + 1, kh:kh + 1].double(),
                                     v[b:b + 1, kh:kh + 1].double(), head0=kh * g,
                                     batch0=b, ops=ops)
                o[b:b + 1, hs] = ob.to(q.dtype)
                lse[b:b + 1, hs] = lb.float()
    return o, lse


def flash_problem(spec):
    """The nearest problem torch's flash backend computes (its yardstick)."""
    causal = spec["mask"] != "none" and spec["lq"] == spec["lk"]
    return dict(spec, mask="causal" if causal else "none", softcap=0.0, alibi=False,
                bias=False, bool_mask=False, key_lengths=False, mask_mod="none")


def sdpa_forward(q, k, v, causal, backend):
    """SDPA under one backend; GQA through enable_gqa where the backend
    takes it, else K and V repeated (autograd sums their gradients)."""
    g = q.shape[1] // k.shape[1]
    with sdpa_kernel(backend):
        if g == 1:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        try:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        except RuntimeError:
            return F.scaled_dot_product_attention(
                q, k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1), is_causal=causal)


def sdpa_grads(spec, q, k, v, do, backend):
    q, k, v = (t.detach().clone().requires_grad_() for t in (q, k, v))
    out = sdpa_forward(q, k, v, spec["mask"] == "causal", backend)
    return torch.autograd.grad(out, (q, k, v), do)


def grads64(spec, q, k, v, do, ops=None):
    """dQ, dK, dV (and d_bias with bias_grad, d_sinks with sinks) in
    float64."""
    leaves = [t.double().requires_grad_() for t in (q, k, v)]
    ops = dict(ops or {})
    if spec.get("bias_grad"):
        ops["bias"] = ops["bias"].double().requires_grad_()
        leaves.append(ops["bias"])
    sinks = None
    if "sinks" in ops:
        sinks = ops["sinks"].double().requires_grad_()
        leaves.append(sinks)
    o, _ = attention64(spec, *leaves[:3], ops=ops, sinks=sinks)
    return torch.autograd.grad(o, leaves, do.double())


def make_inputs(spec):
    dt = torch.bfloat16 if spec["dtype"] == "bf16" else torch.float16
    b, hq, hkv, lq, lk, d = (spec[x] for x in ("batch", "hq", "hkv", "lq", "lk", "d"))
    q = torch.randn(b, hq, lq, d, device="cuda", dtype=dt)
    k = torch.randn(b, hkv, lk, d, device="cuda", dtype=dt)
    v = torch.randn(b, hkv, lk, spec["dv"], device="cuda", dtype=dt)
    do = torch.randn(b, hq, lq, spec["dv"], device="cuda", dtype=dt)
    return q, k, v, do


def run_ours(prog, q, k, v, o, do, lse, sync=True, bshd=False, ops=None):
    """The launch and the gradients as [B, H, L, D] tensors; with `bshd`
    the kernel gets [B, L, H, D] buffers and the gradients are views."""
    if bshd:
        q, k, v, o, do = (t.transpose(1, 2).contiguous() for t in (q, k, v, o, do))
    dq = torch.full_like(q, float("nan"))
    dk = torch.full_like(k, float("nan"))
    dv = torch.full_like(v, float("nan"))
    grads = (dq, dk, dv)
    if ops and "d_bias" in ops:
        grads += (torch.full_like(ops["bias"], float("nan")),)
    if ops and "sinks" in ops:
        grads += (torch.full_like(ops["sinks"], float("nan")),)
    launch = prog.bind([q, k, v, o, do, lse] + bo.kernel_operands(ops or {}) + list(grads),
                       sync=sync)
    if bshd:
        grads = tuple(t.transpose(1, 2) for t in grads)
    return launch, grads


def check(prog, name, spec, row):
    """Fills `row` with errors and bounds; returns True when within them."""
    torch.manual_seed(sum(map(ord, name)))
    q, k, v, do = make_inputs(spec)
    ops = bo.make_operands(spec)
    if spec["bias_grad"]:
        # Gradients of the whole problem: small shapes only.
        assert spec["batch"] * spec["hq"] * spec["lq"] * spec["lk"] <= (1 << 27), name
        ops["d_bias"] = True
    o, lse = forward64(spec, q, k, v, ops)
    launch, ours = run_ours(prog, q, k, v, o, do, lse, bshd=spec["bshd"], ops=ops)
    launch()
    torch.cuda.synchronize()
    # A second run on the same inputs: dK and dV must be bitwise equal (no
    # atomics); dq_accum must have been zeroed again by the preprocess.
    launch2, ours2 = run_ours(prog, q, k, v, o, do, lse, bshd=spec["bshd"], ops=ops)
    launch2()
    torch.cuda.synchronize()
    # Large shapes: the gradients of batch 0's first KV group only (all of
    # its query heads, so dK and dV are complete).
    g = spec["hq"] // spec["hkv"]
    big = spec["batch"] * spec["hq"] * spec["lq"] * spec["lk"] > (1 << 27)
    qs = (slice(0, 1), slice(0, g)) if big else (slice(None), slice(None))
    ks = (slice(0, 1), slice(0, 1)) if big else (slice(None), slice(None))
    sub = (q[qs], k[ks], v[ks], do[qs])
    ref = grads64(spec, *sub, ops=ops)
    fspec = flash_problem(spec)
    flash = None
    if fspec == spec:
        fref = ref
        try:
            flash = sdpa_grads(fspec, *sub, SDPBackend.FLASH_ATTENTION)
        except Exception as e:  # e.g. a shape flash does not take
            row["flash_error"] = str(e).splitlines()[0][:200]
    if flash is None:
        # Flash cannot compute this problem (a mask it has no form for,
        # softcap, ALiBi): an eager implementation of the same problem in
        # the inputs' dtype is the yardstick instead.
        fref = ref
        qe, ke, ve = (t.detach().clone().requires_grad_() for t in sub[:3])
        leaves = [qe, ke, ve]
        ops_e = dict(ops)
        if spec["bias_grad"]:
            ops_e["bias"] = ops["bias"].detach().clone().requires_grad_()
            leaves.append(ops_e["bias"])
        sinks_e = None
        if "sinks" in ops:
            sinks_e = ops["sinks"].detach().clone().requires_grad_()
            leaves.append(sinks_e)
        oe, _ = attention64(spec, qe, ke, ve, eager=True, ops=ops_e, sinks=sinks_e)
        flash = torch.autograd.grad(oe, leaves, sub[3])
        row["yardstick"] = "eager"
    ok = True
    labels = ("dq", "dk", "dv") + (("d_bias",) if spec["bias_grad"] else ()) + \
        (("d_sinks",) if "sinks" in ops else ())
    if "sinks" in ops:
        # d_sinks as the op defines it on the backward's own inputs (O and
        # LSE as passed, Delta = rowsum(dO * O)), in float64; the kernel's
        # f32 sums of B * Lq terms (each a few ulps) stay within 1e-4 of
        # the terms' absolute sum.
        delta64 = (do.double() * o.double()).sum(-1)
        terms = torch.exp(ops["sinks"].double().view(1, -1, 1) - lse.double()) * delta64
        terms = terms.masked_fill(lse == float("-inf"), 0.0)
        ref = tuple(ref[:-1]) + (-terms.sum((0, 2)),)
        sinks_bound = 1e-4 * terms.abs().sum((0, 2)).max().item() + 1e-6
    for i, label in enumerate(labels):
        sl = (qs if label == "dq" else ks) if label in ("dq", "dk", "dv") else (slice(None),)
        mine, mine2 = ours[i][sl], ours2[i][sl]
        err = (mine.double() - ref[i]).abs().max().item()
        scale = ref[i].abs().max().item()
        flash_err = None
        if flash is not None and label != "d_sinks":
            flash_err = (flash[i].double() - fref[i]).abs().max().item()
        bound = max(2 * flash_err if flash_err is not None else 2e-2 * scale,
                    1e-3 * max(scale, 1.0))
        if label == "d_sinks":
            bound = sinks_bound
        nan = int(torch.isnan(ours[i]).sum())
        repeat = torch.equal(torch.nan_to_num(ours[i]), torch.nan_to_num(ours2[i]))
        row[label] = dict(max_abs_err=err, ref_max=scale, flash_err=flash_err,
                          bound=bound, nan=nan, bitwise_repeat=repeat,
                          repeat_max_diff=(mine.double() - mine2.double()).abs().max().item())
        # dQ sums f32 atomics in arrival order: bitwise repeatable only in
        # the deterministic program.
        # A broadcast bias' gradient sums f32 atomics too.
        needs_repeat = (label != "dq" or spec["deterministic"]) and \
            not (label == "d_bias" and spec["bias_broadcast"])
        ok &= nan == 0 and err <= bound and (repeat or not needs_repeat)
    row["ok"] = bool(ok)
    return ok


def backward_flops(spec):
    # Forward: 2 B Hq Lq Lk (D + Dv) (4 B Hq Lq Lk D where Dv = D).
    f = 2.0 * spec["batch"] * spec["hq"] * spec["lq"] * spec["lk"] * (spec["d"] + spec["dv"])
    if spec["mask"] != "none" and spec["lq"] == spec["lk"]:
        f *= 0.5
    return 2.5 * f


def make_flex_backward():
    """torch.compile(flex_attention): FlexAttention's forward and its
    generated backward, the third anchor of the backward table."""
    from torch import _dynamo
    _dynamo.config.cache_size_limit = 1000
    try:
        # The timing loop calls the backward of one graph again and again
        # (retain_graph), which donated buffers forbid.
        import torch._functorch.config as functorch_config
        functorch_config.donated_buffer = False
    except (ImportError, AttributeError):
        pass
    from torch.nn.attention.flex_attention import flex_attention
    return torch.compile(flex_attention)


def time_flex_backward(flex, spec, q, k, v, do, flops, row, do_bench):
    """row["flex_ms"]: the backward of FlexAttention on the same inputs
    (causal as a block mask, lq == lk on the timed shapes; GQA native), or
    row["flex_error"]."""
    from torch.nn.attention.flex_attention import create_block_mask
    try:
        bm = None
        if spec["mask"] == "causal":
            shift = spec["lk"] - spec["lq"]
            bm = create_block_mask(lambda b, h, qi, ki: qi + shift >= ki, None, None,
                                   spec["lq"], spec["lk"], device="cuda")
        qq, kk, vv = (t.detach().clone().requires_grad_() for t in (q, k, v))
        o = flex(qq, kk, vv, block_mask=bm, enable_gqa=spec["hq"] != spec["hkv"])
        fn = lambda: torch.autograd.grad(o, (qq, kk, vv), do, retain_graph=True)  # noqa: E731
        ms = do_bench(fn, warmup=25, rep=100, return_mode="median")
        row["flex_ms"], row["flex_tflops"] = ms, flops / ms / 1e9
        row["vs_flex"] = ms / row["ours_ms"]
    except Exception as e:
        row["flex_error"] = str(e).splitlines()[0][:200] if str(e) else type(e).__name__


def timing(prog, spec, row, do_bench, skip_cudnn, base=None, flex=None):
    """Times `prog` (and `base`, the A side of an A/B, on the same inputs,
    alternated A B A B; each side's figure is the smaller median), then
    torch's flash and cuDNN backends and, with `flex`, FlexAttention."""
    q, k, v, do = make_inputs(spec)
    causal = spec["mask"] == "causal"
    # O and LSE for the timed inputs from torch's flash forward (its LSE is
    # natural-log, as the op's); the values do not change our timing.
    g = spec["hq"] // spec["hkv"]
    kr, vr = (k, v) if g == 1 else (k.repeat_interleave(g, 1), v.repeat_interleave(g, 1))
    try:
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention(
            q, kr, vr, 0.0, causal)[:2]
        lse = lse.float().contiguous()
    except Exception:
        # A problem flash does not take (Dv != D): any O will do.
        out = torch.randn_like(do)
        lse = torch.zeros(spec["batch"], spec["hq"], spec["lq"], device="cuda")
    ops = bo.make_operands(spec, masked_rows=False)
    launch, _ = run_ours(prog, q, k, v, out.contiguous(), do, lse, sync=False,
                         bshd=spec["bshd"], ops=ops)
    flops = backward_flops(spec)
    if base is None:
        row["ours_ms"] = do_bench(launch, warmup=25, rep=100, return_mode="median")
    else:
        launch_a, _ = run_ours(base, q, k, v, out.contiguous(), do, lse, sync=False,
                               bshd=spec["bshd"])
        a_ms, b_ms = [], []
        for _ in range(2):
            a_ms.append(do_bench(launch_a, warmup=25, rep=100, return_mode="median"))
            b_ms.append(do_bench(launch, warmup=25, rep=100, return_mode="median"))
        row["a_ms_runs"], row["b_ms_runs"] = a_ms, b_ms
        row["a_ms"], row["ours_ms"] = min(a_ms), min(b_ms)
        row["a_tflops"] = flops / row["a_ms"] / 1e9
        row["b_vs_a"] = row["a_ms"] / row["ours_ms"]
    row["ours_tflops"] = flops / row["ours_ms"] / 1e9
    if "bias" in ops or "mask" in ops:
        # Flash and cuDNN's flash-style path take no attn_mask: the backends
        # that do, on the same operand.
        bo.time_operands(spec, row, q, k, v, do, ops, row["ours_ms"], do_bench)
        return
    backends = [("flash", SDPBackend.FLASH_ATTENTION)]
    if not skip_cudnn:
        backends.append(("cudnn", SDPBackend.CUDNN_ATTENTION))
    for label, backend in backends:
        try:
            qq, kk, vv = (t.detach().clone().requires_grad_() for t in (q, k, v))
            o = sdpa_forward(qq, kk, vv, causal, backend)
            fn = lambda: torch.autograd.grad(o, (qq, kk, vv), do, retain_graph=True)  # noqa: E731
            ms = do_bench(fn, warmup=25, rep=100, return_mode="median")
            row[f"{label}_ms"] = ms
            row[f"{label}_tflops"] = flops / ms / 1e9
            row[f"vs_{label}"] = ms / row["ours_ms"]
        except Exception as e:
            row[f"{label}_error"] = str(e).splitlines()[0][:200]
    if flex is not None:
        time_flex_backward(flex, spec, q, k, v, do, flops, row, do_bench)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--match", default="")
    ap.add_argument("--checks-only", action="store_true")
    ap.add_argument("--skip-cudnn", action="store_true")
    ap.add_argument("--skip-flex", action="store_true",
                    help="do not time FlexAttention's backward (torch.compile per shape)")
    ap.add_argument("--kernels-a", default="",
                    help="A/B: baseline kernels (same names) timed on the same inputs")
    ap.add_argument("--tag", default="backward", help="output file name part")
    args = ap.parse_args()
    from triton.testing import do_bench
    rt = Runtime(args.lib)
    torch.zeros(1, device="cuda")
    flex = None if args.skip_flex or args.checks_only else make_flex_backward()
    names = sorted(os.path.basename(p)[:-len(".flags")]
                   for p in glob.glob(os.path.join(args.kernels, "*.flags")))
    names = [n for n in names if re.search(args.match, n)]
    if args.checks_only:
        names = [n for n in names if n.startswith("bwd_check_")]
    dev = torch.cuda.get_device_name()
    print(f"device: {dev}, torch {torch.__version__}, {len(names)} variants", flush=True)
    rows, failed = [], []
    for name in names:
        spec = parse_flags(open(os.path.join(args.kernels, name + ".flags")).read())
        row = dict(name=name, spec=spec)
        rows.append(row)
        prog = None
        try:
            prog = Program(rt, args.kernels, name)
            ok = check(prog, name, spec, row)
            msg = " ".join(f"{g}={row[g]['max_abs_err']:.2e}/{row[g]['bound']:.2e}"
                           for g in ("dq", "dk", "dv", "d_bias", "d_sinks") if g in row)
            print(f"check {name:40s} {msg} {'OK' if ok else 'FAIL'}", flush=True)
            if not ok:
                failed.append(name)
            elif name.startswith("bwd_bench_"):
                base = None
                if args.kernels_a and os.path.exists(
                        os.path.join(args.kernels_a, name + ".flags")):
                    base = Program(rt, args.kernels_a, name)
                try:
                    timing(prog, spec, row, do_bench, args.skip_cudnn, base, flex)
                finally:
                    if base is not None:
                        base.close()
                if base is not None:
                    print(f"ab    {name:40s} A {row['a_ms']:.3f} ms B {row['ours_ms']:.3f} ms "
                          f"B/A speedup {row['b_vs_a']:.3f} (A {row['a_ms_runs']}, "
                          f"B {row['b_ms_runs']})", flush=True)
                if "bias" in spec and (spec["bias"] or spec["bool_mask"]):
                    print(f"time  {name:40s} ours {row['ours_ms']:.3f} ms; {bo.summary(row)}",
                          flush=True)
                print(f"time  {name:40s} ours {row['ours_ms']:.3f} ms "
                      f"{row['ours_tflops']:.0f} TFLOP/s; flash {row.get('flash_tflops', 0):.0f} "
                      f"({row.get('vs_flash', 0):.2f}x); cudnn {row.get('cudnn_tflops', 0):.0f} "
                      f"({row.get('vs_cudnn', 0):.2f}x); flex {row.get('flex_tflops', 0):.0f} "
                      f"({row.get('vs_flex', 0):.2f}x)"
                      + (f" [flex: {row['flex_error']}]" if "flex_error" in row else ""),
                      flush=True)
        except Exception as e:
            row["ok"] = False
            row["error"] = traceback.format_exc()[-2000:]
            failed.append(name)
            print(f"ERROR {name}: {e}", flush=True)
            # A sticky CUDA error poisons the context: stop rather than
            # report every later variant as broken.
            if "illegal" in str(e).lower() or "launch failed" in str(e).lower():
                print("CUDA context lost; stopping", flush=True)
                break
        finally:
            if prog is not None:
                prog.close()
    stamp = datetime.date.today().isoformat()
    path = os.path.join(args.out, f"{stamp}-h200-{args.tag}.json")
    with open(path, "w") as f:
        json.dump(dict(device=dev, torch=torch.__version__, rows=rows,
                       kernels=args.kernels, kernels_a=args.kernels_a,
                       flops="2.5 x forward (2 B Hq Lq Lk (D + Dv), x0.5 causal)"), f, indent=1)
    md = [f"# Backward, {dev}, {stamp}", "",
          f"Kernels: {args.kernels}" + (f"; A (baseline): {args.kernels_a}, A B A B, "
                                         "the smaller median of each" if args.kernels_a else ""), "",
          "TFLOP/s = 2.5 x forward FLOPs (2 B Hq Lq Lk (D + Dv), x0.5 causal); median of do_bench.", "",
          "| variant | ok | A ms | ours ms | B/A | ours TFLOP/s | flash TFLOP/s | x flash | cuDNN TFLOP/s | x cuDNN | flex TFLOP/s | x flex |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['name']} | {r.get('ok')} | {r.get('a_ms', float('nan')):.3f} | "
                  f"{r.get('ours_ms', float('nan')):.3f} | {r.get('b_vs_a', float('nan')):.2f} | "
                  f"{r.get('ours_tflops', float('nan')):.0f} | {r.get('flash_tflops', float('nan')):.0f} | "
                  f"{r.get('vs_flash', float('nan')):.2f} | {r.get('cudnn_tflops', float('nan')):.0f} | "
                  f"{r.get('vs_cudnn', float('nan')):.2f} | {r.get('flex_tflops', float('nan')):.0f} | "
                  f"{r.get('vs_flex', float('nan')):.2f} |")
    open(os.path.join(args.out, f"{stamp}-h200-{args.tag}.md"), "w").write("\n".join(md) + "\n")
    print(f"{len(rows) - len(failed)}/{len(rows)} variants ok; failed: {failed}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
