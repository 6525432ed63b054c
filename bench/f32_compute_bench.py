#!/usr/bin/env python3
"""f32 attention on the GPU through f32-compute=bf16 / f16 (issue #15): the
compiler rounds the caller's f32 Q, K and V into bf16 / f16 workspaces with
conversion kernels, runs the family's kernel on them and widens O back to
f32 (docs/Pipeline.md, "f32 inputs on the GPU").

Checks, per variant, before anything is timed:
  identity  O and LSE of the f32 program equal, bit for bit, O.float() and
            LSE of our bf16 (f16) kernel of the same spec on q.to(bf16), ...
            (the route adds conversions, nothing else)
  accuracy  max |O - O_ref| against float64 attention of the f32 inputs,
            within 2x torch flash's (SDPA, bf16 / f16) error on the rounded
            inputs; torch's f32 SDPA (efficient backend) error reported
            beside it: what an f32 kernel gets

Timing (median of CUDA-event timed calls), per shape: the f32 program (five
launches on one zeroed workspace, as attn_mlir's PtxKernel runs them), our
bf16 kernel alone on pre-rounded inputs, the same rounding done by hand in
torch around it, torch SDPA f32 (efficient backend), SDPA bf16 (flash and
cuDNN backends: the cost of a bf16 call) and FlexAttention f32.

  bench/f32_compute_prepare.sh [build] [dest]   (here: compiles, stages)
  bash DEST/run.sh [--reps 30]                  (device, from the repo root)
"""

import argparse
import json
import math
import os

import torch
import torch.nn.functional as F

import attn_mlir

# The kernels are sm_90 PTX + cubin (what the torch op compiles on an
# H100 / H200), the f32 route on the mma.sync prefill and decode families.
OPTIONS = {"chip": "sm_90", "features": "+ptx81", "cubin_archs": ["sm_90"], "gpu": "h200"}
# The hopper family (wgmma, TMA from tensor maps over the scratch copies).
HOPPER = {"chip": "sm_90a", "features": "+ptx81", "cubin_archs": ["sm_90a"], "gpu": "h200"}

# (name, spec, rounding, timed): causal shapes have Lq == Lk (one alignment).
VARIANTS = [
    ("gqa-causal-d128", dict(batch=1, heads_q=32, heads_kv=8, seq_q=1024, seq_k=1024,
                             head_dim=128, mask="causal", lse=True), "bf16", False),
    ("mha-tails-d64", dict(batch=2, heads_q=16, heads_kv=16, seq_q=777, seq_k=1000,
                           head_dim=64, mask="none", lse=True), "bf16", False),
    ("gqa-decode-d128", dict(batch=4, heads_q=32, heads_kv=8, seq_q=1, seq_k=4096,
                             head_dim=128, mask="none", lse=False), "bf16", False),
    ("gqa-causal-d128-f16", dict(batch=1, heads_q=32, heads_kv=8, seq_q=2048, seq_k=2048,
                                 head_dim=128, mask="causal", lse=True), "f16", False),
    ("time-gqa-causal-4k", dict(batch=4, heads_q=32, heads_kv=8, seq_q=4096, seq_k=4096,
                                head_dim=128, mask="causal", lse=False), "bf16", True),
    ("time-mha-16k", dict(batch=1, heads_q=16, heads_kv=16, seq_q=16384, seq_k=16384,
                          head_dim=128, mask="none", lse=False), "bf16", True),
    ("time-decode-8k", dict(batch=8, heads_q=32, heads_kv=8, seq_q=1, seq_k=8192,
                            head_dim=128, mask="none", lse=False), "bf16", True),
]
# (name, spec, rounding, timed) on the hopper family.
HOPPER_VARIANTS = [
    ("hopper-gqa-causal-d128", VARIANTS[0][1], "bf16", False),
    ("hopper-mha-tails-d64", VARIANTS[1][1], "bf16", False),
    ("hopper-time-gqa-causal-4k", VARIANTS[4][1], "bf16", True),
    ("hopper-time-mha-16k", VARIANTS[5][1], "bf16", True),
]
HALF = {"bf16": torch.bfloat16, "f16": torch.float16}


def kernels(spec, rounding, options=None):
    """(f32 program, the bf16 / f16 kernel of the same spec)."""
    options = options or OPTIONS
    f32 = attn_mlir.compile(target="ptx", options=dict(options, f32_compute=rounding),
                            **dict(spec, dtype="f32"))
    half = attn_mlir.compile(target="ptx", options=options, **dict(spec, dtype=rounding))
    return f32, half


def inputs(spec, seed):
    g = torch.Generator(device="cpu").manual_seed(seed)
    b, hq, hkv, d = spec["batch"], spec["heads_q"], spec["heads_kv"], spec["head_dim"]
    return [torch.randn(b, h, n, d, generator=g).cuda()
            for h, n in ((hq, spec["seq_q"]), (hkv, spec["seq_k"]), (hkv, spec["seq_k"]))]


def reference(q, k, v, causal):
    """float64 O of the f32 inputs (GQA by repetition)."""
    g = q.shape[1] // k.shape[1]
    q, k, v = (x.double() for x in (q, k, v))
    k, v = (x.repeat_interleave(g, 1) for x in (k, v))
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        lq, lk = s.shape[-2:]
        keep = torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril(lk - lq)
        s = s.masked_fill(~keep, -math.inf)
    return torch.softmax(s, -1) @ v


def sdpa(q, k, v, causal, backend):
    """torch SDPA on one backend; K and V already repeated to Q's heads for
    the backends without GQA (efficient, cuDNN): repeat(k, v, q) outside the
    timed call."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel([getattr(SDPBackend, backend)]):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                              enable_gqa=q.shape[1] != k.shape[1])


def repeat(k, v, q):
    g = q.shape[1] // k.shape[1]
    return k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def check(name, spec, rounding, options=None):
    f32, half = kernels(spec, rounding, options)
    causal = spec["mask"] == "causal"
    q, k, v = inputs(spec, seed=7)
    got = as_tuple(f32(q, k, v, synchronize=True))
    rq, rk, rv = (x.to(HALF[rounding]) for x in (q, k, v))
    want = as_tuple(half(rq, rk, rv, synchronize=True))
    identical = bool(torch.equal(got[0], want[0].float())) and all(
        torch.equal(a, b) for a, b in zip(got[1:], want[1:]))
    ref = reference(q, k, v, causal)
    err = (got[0].double() - ref).abs().max().item()
    flash = sdpa(rq, rk, rv, causal, "FLASH_ATTENTION")
    flash_err = (flash.double() - ref).abs().max().item()
    f32_err = (sdpa(q, *repeat(k, v, q), causal, "EFFICIENT_ATTENTION").double()
               - ref).abs().max().item()
    ok = identical and err <= 2 * flash_err
    row = {"variant": name, "rounding": rounding, "spec": spec,
           "family": f32.launches[3]["family"], "identical_to_half_kernel": identical, "max_err": err, "flash_half_err": flash_err,
           "sdpa_f32_err": f32_err, "ok": ok,
           "launches": len(f32.launches), "dtype_out": str(got[0].dtype)}
    print(f"check {name:26s} {rounding} ({f32.launches[3]['family']}): "
          f"identical={identical} err={err:.3e} "
          f"flash({rounding})={flash_err:.3e} sdpa-f32={f32_err:.3e} "
          f"launches={len(f32.launches)} {'PASS' if ok else 'FAIL'}")
    return row


# The torch operator's path: float32 CUDA tensors with
# $ATTN_MLIR_F32_COMPUTE=bf16 (attn_mlir.torch.f32_compute).
TORCH_OP = ((1, 32, 1024, 128), (1, 8, 1024, 128), True)


def check_torch_op():
    import attn_mlir.torch as at
    qs, ks, causal = TORCH_OP
    os.environ["ATTN_MLIR_F32_COMPUTE"] = "bf16"
    g = torch.Generator(device="cpu").manual_seed(5)
    q, k, v = (torch.randn(s, generator=g).cuda() for s in (qs, ks, ks))
    out = at.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    ref = reference(q, k, v, causal)
    err = (out.double() - ref).abs().max().item()
    rq, rk, rv = (x.bfloat16() for x in (q, k, v))
    flash_err = (sdpa(rq, rk, rv, causal, "FLASH_ATTENTION").double() - ref).abs().max().item()
    ok = out.dtype == torch.float32 and err <= 2 * flash_err
    print(f"check torch-op f32 (ATTN_MLIR_F32_COMPUTE=bf16): dtype={out.dtype} err={err:.3e} "
          f"flash(bf16)={flash_err:.3e} {'PASS' if ok else 'FAIL'}")
    return {"variant": "torch-op", "rounding": "bf16", "max_err": err,
            "flash_half_err": flash_err, "ok": ok, "dtype_out": str(out.dtype)}


# The backward: f32 Q, K, V, O, dO (the f32 forward's O and LSE) through
# f32-compute=bf16, checked against float64 autograd and, gradient by
# gradient, against our bf16 backward on the rounded inputs (dK and dV bit
# for bit; dQ sums its KV blocks' shares with f32 atomics, whose order
# varies, so to a bf16 ulp); then the torch autograd op on float32 CUDA
# tensors, forward and backward, timed against torch's f32 and bf16 SDPA.
BWD = dict(batch=2, heads_q=16, heads_kv=4, seq_q=1000, seq_k=1000, head_dim=128,
           mask="causal", lse=True)
TIME_BWD = ((4, 32, 2048, 128), (4, 8, 2048, 128))


def reference_grads(q, k, v, do, causal):
    qs, ks, vs = (x.double().requires_grad_() for x in (q, k, v))
    o = reference(qs, ks, vs, causal)
    return torch.autograd.grad(o, (qs, ks, vs), do.double())


def flash_grads(q, k, v, do, causal):
    qs, ks, vs = (x.detach().bfloat16().requires_grad_() for x in (q, k, v))
    o = sdpa(qs, ks, vs, causal, "FLASH_ATTENTION")
    return torch.autograd.grad(o, (qs, ks, vs), do.bfloat16())


def check_backward():
    causal = BWD["mask"] == "causal"
    f32f, halff = kernels(BWD, "bf16")
    f32b = attn_mlir.compile(target="ptx", options=dict(OPTIONS, f32_compute="bf16"),
                             **dict(BWD, dtype="f32", backward=True))
    halfb = attn_mlir.compile(target="ptx", options=OPTIONS,
                              **dict(BWD, dtype="bf16", backward=True))
    q, k, v = inputs(BWD, seed=3)
    do = torch.randn(q.shape, generator=torch.Generator().manual_seed(4)).cuda()
    o, lse = f32f(q, k, v, synchronize=True)
    got = f32b(q, k, v, o, do, lse, synchronize=True)
    rq, rk, rv, rdo = (x.bfloat16() for x in (q, k, v, do))
    ro, rlse = halff(rq, rk, rv, synchronize=True)
    want = halfb(rq, rk, rv, ro, rdo, rlse, synchronize=True)
    dq_ulps = ((got[0] - want[0].float()).abs()
               / want[0].float().abs().clamp_min(1e-30)).max().item()
    identical = all(torch.equal(a, b.float()) for a, b in zip(got[1:], want[1:]))
    ref = reference_grads(q, k, v, do, causal)
    flash = flash_grads(q, k, v, do, causal)
    errs = [(g.double() - r).abs().max().item() for g, r in zip(got, ref)]
    flash_errs = [(g.double() - r).abs().max().item() for g, r in zip(flash, ref)]
    ok = identical and all(e <= 2 * f for e, f in zip(errs, flash_errs))
    print(f"check backward f32 (bf16 compute): dK, dV identical to the bf16 backward="
          f"{identical}, dQ max relative difference {dq_ulps:.2e}; errors dq/dk/dv "
          + " ".join(f"{e:.3e}" for e in errs) + " flash(bf16) "
          + " ".join(f"{e:.3e}" for e in flash_errs) + (" PASS" if ok else " FAIL"))
    return {"variant": "backward", "rounding": "bf16", "spec": BWD,
            "dk_dv_identical_to_half_backward": identical,
            "dq_max_relative_difference": dq_ulps, "max_err": errs,
            "flash_half_err": flash_errs, "ok": ok, "launches": len(f32b.launches)}


def check_torch_autograd():
    import attn_mlir.torch as at
    os.environ["ATTN_MLIR_F32_COMPUTE"] = "bf16"
    spec = dict(BWD)
    q, k, v = (x.requires_grad_() for x in inputs(spec, seed=8))
    do = torch.randn(q.shape, generator=torch.Generator().manual_seed(9)).cuda()
    out = at.attention(q, k, v, mask="causal-top-left", enable_gqa=True)
    grads = torch.autograd.grad(out, (q, k, v), do)
    ref = reference_grads(q.detach(), k.detach(), v.detach(), do, True)
    flash = flash_grads(q, k, v, do, True)
    errs = [(g.double() - r).abs().max().item() for g, r in zip(grads, ref)]
    flash_errs = [(g.double() - r).abs().max().item() for g, r in zip(flash, ref)]
    ok = all(g.dtype == torch.float32 for g in grads) and all(
        e <= 2 * f for e, f in zip(errs, flash_errs))
    print("check torch autograd f32 (ATTN_MLIR_F32_COMPUTE=bf16): grads "
          + " ".join(f"{e:.3e}" for e in errs) + " flash(bf16) "
          + " ".join(f"{e:.3e}" for e in flash_errs) + (" PASS" if ok else " FAIL"))
    return {"variant": "torch-autograd", "rounding": "bf16", "max_err": errs,
            "flash_half_err": flash_errs, "ok": ok}


def timed_backward(reps):
    """Forward + backward through torch autograd, float32 leaves."""
    from timing import time_ms
    import attn_mlir.torch as at
    qs, ks = TIME_BWD
    g = torch.Generator().manual_seed(12)
    q, k, v, do = (torch.randn(s, generator=g).cuda() for s in (qs, ks, ks, qs))
    kr, vr = repeat(k, v, q)
    leaves = [x.requires_grad_() for x in (q, k, v)]
    half = [x.detach().bfloat16().requires_grad_() for x in (q, k, v)]
    rep_leaves = [q, kr.detach().requires_grad_(), vr.detach().requires_grad_()]

    def step(fn, xs, grad):
        return lambda: torch.autograd.grad(fn(*xs), xs, grad)
    paths = {
        "ours_f32_fwd_bwd": step(lambda a, b, c: at.attention(a, b, c, mask="causal-top-left",
                                                              enable_gqa=True),
                                 leaves, do),
        "sdpa_f32_efficient_fwd_bwd": step(
            lambda a, b, c: sdpa(a, b, c, True, "EFFICIENT_ATTENTION"), rep_leaves, do),
        "sdpa_bf16_flash_fwd_bwd": step(
            lambda a, b, c: sdpa(a, b, c, True, "FLASH_ATTENTION"), half, do.bfloat16()),
    }
    row = {"variant": "time-fwd-bwd-gqa-causal-2k", "shape": [qs, ks], "ms": {}}
    for path, fn in paths.items():
        row["ms"][path] = time_ms(fn, reps)
    base = row["ms"]["ours_f32_fwd_bwd"]
    print("time fwd+bwd GQA 32/8 B 4 L 2k D 128 causal: " + ", ".join(
        f"{p}={ms:.3f} ms ({ms / base:.2f}x)" for p, ms in row["ms"].items()))
    return row


def timed(name, spec, rounding, reps, options=None, flex=True):
    from timing import time_ms
    f32, half = kernels(spec, rounding, options)
    causal = spec["mask"] == "causal"
    q, k, v = inputs(spec, seed=11)
    dt = HALF[rounding]
    rq, rk, rv = (x.to(dt) for x in (q, k, v))
    qk, qv = repeat(k, v, q)
    hk, hv = repeat(rk, rv, rq)
    paths = {
        "ours_f32_program": lambda: f32(q, k, v),
        f"ours_{rounding}_kernel": lambda: half(rq, rk, rv),
        "ours_by_hand_rounding": lambda: as_tuple(half(q.to(dt), k.to(dt), v.to(dt)))[0].float(),
        "sdpa_f32_efficient": lambda: sdpa(q, qk, qv, causal, "EFFICIENT_ATTENTION"),
        f"sdpa_{rounding}_flash": lambda: sdpa(rq, rk, rv, causal, "FLASH_ATTENTION"),
        f"sdpa_{rounding}_cudnn": lambda: sdpa(rq, hk, hv, causal, "CUDNN_ATTENTION"),
    }
    try:
        if not flex:
            raise RuntimeError("not timed in this row (see the mma.sync rows)")
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        flex = torch.compile(flex_attention)
        mask = None
        if causal:
            mask = create_block_mask(lambda b, h, i, j: i >= j, None, None,
                                     spec["seq_q"], spec["seq_k"], device="cuda")
        paths["flex_f32"] = lambda: flex(q, k, v, block_mask=mask,
                                         enable_gqa=q.shape[1] != k.shape[1])
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        print(f"flex unavailable: {e}")
    row = {"variant": name, "rounding": rounding, "spec": spec, "ms": {}}
    for path, fn in paths.items():
        try:
            row["ms"][path] = time_ms(fn, reps)
        except Exception as e:  # noqa: BLE001 - a backend that refuses the shape
            row["ms"][path] = None
            row.setdefault("errors", {})[path] = str(e).splitlines()[0][:200]
    base = row["ms"]["ours_f32_program"]
    print(f"time {name}: " + ", ".join(
        f"{p}={ms:.3f} ms ({ms / base:.2f}x)" if ms else f"{p}=n/a"
        for p, ms in row["ms"].items()))
    return row


def prepare():
    for name, spec, rounding, _ in VARIANTS:
        kernels(spec, rounding)
        print(f"f32_compute_bench --prepare: {name} compiled")
    for name, spec, rounding, _ in HOPPER_VARIANTS:
        kernels(spec, rounding, HOPPER)
        print(f"f32_compute_bench --prepare: {name} compiled")
    import attn_mlir.torch as at
    os.environ["ATTN_MLIR_F32_COMPUTE"] = "bf16"
    qs, ks, causal = TORCH_OP
    at.precompile(qs, ks, dtype=torch.float32, is_causal=causal, device="cuda")
    print("f32_compute_bench --prepare: the torch operator's f32 kernel compiled")
    kernels(BWD, "bf16")
    attn_mlir.compile(target="ptx", options=dict(OPTIONS, f32_compute="bf16"),
                      **dict(BWD, dtype="f32", backward=True))
    attn_mlir.compile(target="ptx", options=OPTIONS, **dict(BWD, dtype="bf16", backward=True))
    # The autograd op's forward (with LSE) and backward kernels, by shape.
    from attn_mlir import _autograd
    for qs, ks in (((BWD["batch"], BWD["heads_q"], BWD["seq_q"], BWD["head_dim"]),
                    (BWD["batch"], BWD["heads_kv"], BWD["seq_k"], BWD["head_dim"])),
                   TIME_BWD):
        q, kv = torch.zeros(qs), torch.zeros(ks)
        args = (q, kv, kv, None, "causal-top-left", 0, 0, None, None, None)
        at._kernel(*_autograd._spec(q, kv, kv, "causal-top-left", 0, 0, None, None, None,
                                    None, False, True))
        _autograd.gpu_backward_kernel(*args)
    print("f32_compute_bench --prepare: the backward kernels compiled")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--out", default="/tmp/out")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--skip-forward-timing", action="store_true",
                    help="skip the mma.sync forward rows (the hopper rows and the "
                         "forward + backward row are timed)")
    args = ap.parse_args()
    if args.prepare:
        prepare()
        return
    os.makedirs(args.out, exist_ok=True)
    print(torch.cuda.get_device_name(), torch.__version__)
    checks = [check(name, spec, rounding) for name, spec, rounding, _ in VARIANTS]
    checks += [check(name, spec, rounding, HOPPER)
               for name, spec, rounding, _ in HOPPER_VARIANTS]
    checks.append(check_torch_op())
    checks.append(check_backward())
    checks.append(check_torch_autograd())
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "checks": checks, "timing": []}
    if all(c["ok"] for c in checks):
        result["timing"] = [] if args.skip_forward_timing else [
            timed(name, spec, rounding, args.reps)
            for name, spec, rounding, t in VARIANTS if t]
        result["timing"] += [timed(name, spec, rounding, args.reps, HOPPER, flex=False)
                             for name, spec, rounding, t in HOPPER_VARIANTS if t]
        result["timing"].append(timed_backward(args.reps))
    else:
        print("a check failed: nothing is timed")
    with open(os.path.join(args.out, "f32_compute.json"), "w") as f:
        json.dump(result, f, indent=1)
    raise SystemExit(0 if all(c["ok"] for c in checks) else 1)


if __name__ == "__main__":
    main()
