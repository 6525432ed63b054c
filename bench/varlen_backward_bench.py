#!/usr/bin/env python3
"""The varlen backward on the device (issues #15 / #16): gradients of packed
variable-length batches (flash_attn_varlen_func's dq, dk, dv), first checked
against torch's float64 autograd of per-sequence dense attention, then timed.

Paths (each checked before it is timed):
  ours     attn_mlir.torch.varlen_attention's backward on CUDA tensors; while
           the compiler has no GPU varlen backward, the row records the
           MissingGpuBackward reason and nothing of ours is timed
  flash    torch.ops.aten._flash_attention_backward with cum_seq_q/k (torch's
           FlashAttention varlen backward, the yardstick; GQA as the kernel
           takes it, else K/V repeated and dK/dV summed over each group)
  padded   the batch padded to [N, Lmax, H, D] and the dense backward of SDPA
           (flash: is_causal, top-left = bottom-right for lq == lk; cuDNN:
           the same) on the padded tokens: the cost of not packing. Its
           gradients are checked on the real rows (padding keys sit past
           every sequence's last key; with causal attention no real query
           sees them, so only non-causal padded rows differ and are skipped)

The timing shape: 8 sequences of random lengths summing to 16k tokens,
GQA 32 / 8, D 128, bf16, causal and not (prefill, lq == lk). The check
shape: the same heads on 8 sequences summing to 2k (float64 autograd of
16k would hold GBs of scores per sequence).

  bench/varlen_backward_prepare.sh [build] [dest]   (here: stages the run)
  bash DEST/run.sh [--reps 20]                      (device, from the repo root)
"""

import argparse
import json
import math
import os
import random

import torch
import torch.nn.functional as F
try:  # the device's torch; --prepare runs here on Debian's older torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError:
    SDPBackend = sdpa_kernel = None

from timing import time_ms

HQ, HKV, D, DTYPE = 32, 8, 128, torch.bfloat16


def lengths(total, n, seed):
    """n random lengths >= 16 summing to total."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, total // 16), n - 1))
    parts = [b - a for a, b in zip([0] + cuts, cuts + [total // 16])]
    return [16 * p for p in parts]


def pack(lens, device, seed):
    g = torch.Generator(device="cpu").manual_seed(seed)
    cu = torch.tensor([0] + lens, dtype=torch.int64).cumsum(0).to(torch.int32).to(device)
    t = sum(lens)
    q, k, v, do = (torch.randn(t, h, D, generator=g).to(DTYPE).to(device)
                   for h in (HQ, HKV, HKV, HQ))
    return q, k, v, do, cu


def reference_grads(q, k, v, do, cu, causal):
    """float64 (dq, dk, dv): each sequence's dense attention, GQA by
    repetition, differentiated by torch's autograd."""
    grads = [torch.zeros(x.shape, dtype=torch.float64, device=x.device) for x in (q, k, v)]
    g = HQ // HKV
    bounds = cu.tolist()
    for a, b in zip(bounds, bounds[1:]):
        qs, ks, vs = (x[a:b].double().requires_grad_() for x in (q, k, v))
        s = qs.transpose(0, 1) @ ks.transpose(0, 1).repeat_interleave(g, 0).transpose(-1, -2)
        s = s / math.sqrt(D)
        if causal:
            n = b - a
            keep = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
            s = s.masked_fill(~keep, -math.inf)
        o = torch.softmax(s, -1) @ vs.transpose(0, 1).repeat_interleave(g, 0)
        dq, dk, dv = torch.autograd.grad(o, (qs, ks, vs), do[a:b].double().transpose(0, 1))
        for acc, x in zip(grads, (dq, dk, dv)):
            acc[a:b] = x
    return grads


def flash_varlen(q, k, v, do, cu, max_len, causal):
    """torch's FlashAttention varlen forward + backward: (dq, dk, dv) and a
    closure timing the backward alone."""
    aten = torch.ops.aten
    kk, vv, g = k, v, 1
    try:
        out = aten._flash_attention_forward(q, k, v, cu, cu, max_len, max_len, 0.0, causal,
                                            False)
    except RuntimeError:  # no GQA in this kernel: repeat K/V, sum dK/dV
        g = HQ // HKV
        kk, vv = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
        out = aten._flash_attention_forward(q, kk, vv, cu, cu, max_len, max_len, 0.0,
                                            causal, False)
    o, lse, seed, offset = out[0], out[1], out[2], out[3]

    def backward():
        return aten._flash_attention_backward(do, q, kk, vv, o, lse, cu, cu, max_len,
                                              max_len, 0.0, causal, seed, offset)
    dq, dk, dv = backward()
    if g > 1:
        dk = dk.view(dk.shape[0], HKV, g, D).sum(2)
        dv = dv.view(dv.shape[0], HKV, g, D).sum(2)
    return (dq, dk, dv), backward, "gqa" if g == 1 else "repeated kv"


def padded_dense(q, k, v, do, cu, max_len, causal, backend):
    """SDPA's dense backward on the batch padded to [N, H, Lmax, D]."""
    bounds = list(zip(cu.tolist(), cu.tolist()[1:]))
    n = len(bounds)

    def pad(x):
        p = x.new_zeros(n, max_len, x.shape[1], D)
        for i, (a, b) in enumerate(bounds):
            p[i, :b - a] = x[a:b]
        return p.transpose(1, 2).contiguous().requires_grad_()
    qp, kp, vp = pad(q), pad(k), pad(v)
    dop = pad(do).detach()
    with sdpa_kernel(backend):
        o = F.scaled_dot_product_attention(qp, kp, vp, is_causal=causal, enable_gqa=True)

    def backward():
        return torch.autograd.grad(o, (qp, kp, vp), dop, retain_graph=True)
    grads = backward()
    unpad = [torch.cat([x[i].transpose(0, 1)[:b - a] for i, (a, b) in enumerate(bounds)])
             for x in grads]
    return unpad, backward


def ours(q, k, v, do, cu, max_len, causal):
    try:
        import attn_mlir.torch as at
    except (ImportError, OSError) as e:  # not staged: torch's paths alone
        return None, None, f"attn_mlir not importable: {e}"
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    try:
        out = at.varlen_attention(*leaves, cu, cu, max_len, max_len, causal=causal)
    except at.Unsupported as e:  # MissingGpuBackward: no kernel to time
        return None, None, " ".join(str(e).split())

    def backward():
        return torch.autograd.grad(out, leaves, do, retain_graph=True)
    return backward(), backward, ""


# The variant matrix ours is checked on (each against float64 autograd of
# per-sequence dense attention, bound from an eager implementation in the
# inputs' dtype): name, Hq, Hkv, D, dtype, causal, window_size, (lq, lk)
# per sequence. The lengths hold an empty sequence (0 queries), one
# without keys (out 0, gradients 0), lq != lk (bottom-right alignment per
# sequence: chunked prefill), tails of every block size, and `extra` packed
# queries and keys past the last sequence (their dQ, dK, dV must be 0).
LSE_VARIANTS = 3  # the variants also checked with an LSE gradient
VARIANTS = [
    ("gqa4_2_d128_bf16_causal", 8, 2, 128, torch.bfloat16, True, (-1, -1),
     [(100, 130), (0, 17), (64, 64), (257, 300), (5, 0), (1, 1)], 7),
    ("gqa4_2_d128_bf16_none", 8, 2, 128, torch.bfloat16, False, (-1, -1),
     [(100, 130), (0, 17), (64, 64), (257, 300), (5, 0), (1, 1)], 0),
    ("mqa_d64_f16_causal", 8, 1, 64, torch.float16, True, (-1, -1),
     [(333, 333), (17, 200), (0, 0), (128, 128), (70, 3)], 33),
    ("mha_d64_bf16_window", 4, 4, 64, torch.bfloat16, False, (48, 16),
     [(300, 300), (50, 90), (129, 129), (2, 7)], 0),
    ("gqa_d128_f16_causal_window", 8, 2, 128, torch.float16, True, (64, -1),
     [(400, 400), (33, 97), (200, 130)], 5),
    # ALiBi over each sequence's own distance i + Lk_n - Lq_n - j.
    ("gqa4_2_d128_bf16_causal_alibi", 8, 2, 128, torch.bfloat16, True, (-1, -1),
     [(100, 130), (0, 17), (64, 64), (257, 300), (5, 0), (1, 1)], 7),
    ("mha_d64_f16_window_alibi", 4, 4, 64, torch.float16, False, (48, 16),
     [(300, 300), (50, 90), (129, 129), (2, 7)], 0),
    ("mqa_d64_bf16_none_alibi", 8, 1, 64, torch.bfloat16, False, (-1, -1),
     [(200, 130), (17, 200), (70, 3)], 5),
]
# The ALiBi slopes of a variant (one per query head), by name.
ALIBI = {name: [2.0 ** -(8 * (h + 1) / hq) for h in range(hq)]
         for name, hq, *_ in VARIANTS if name.endswith("_alibi")}


def pack_variant(hq, hkv, d, dtype, lens, extra, device, seed):
    g = torch.Generator(device="cpu").manual_seed(seed)
    cq = torch.tensor([0] + [a for a, _ in lens]).cumsum(0).to(torch.int32).to(device)
    ck = torch.tensor([0] + [b for _, b in lens]).cumsum(0).to(torch.int32).to(device)
    tq, tk = int(cq[-1]) + extra, int(ck[-1]) + extra
    q, do = (torch.randn(tq, hq, d, generator=g).to(dtype).to(device) for _ in range(2))
    k, v = (torch.randn(tk, hkv, d, generator=g).to(dtype).to(device) for _ in range(2))
    return q, k, v, do, cq, ck


def sequence_attention(q, k, v, causal, window, group, compute, alibi=None):
    """([L, H, D] attention, [H, L] LSE) of one sequence in `compute`
    (float64, or the inputs' dtype with softmax in f32: the eager
    yardstick), with `alibi` slopes per query head over the sequence's
    distance; rows that see no key give 0 and LSE -inf (as the op defines
    them)."""
    lq, lk = q.shape[0], k.shape[0]
    qs, ks, vs = (x.to(compute).transpose(0, 1) for x in (q, k, v))
    ks, vs = ks.repeat_interleave(group, 0), vs.repeat_interleave(group, 0)
    s = (qs @ ks.transpose(-1, -2)).float() if compute != torch.float64 else \
        qs @ ks.transpose(-1, -2)
    s = s / math.sqrt(q.shape[2])
    i = torch.arange(lq, device=q.device).view(-1, 1) + (lk - lq)
    j = torch.arange(lk, device=q.device).view(1, -1)
    if alibi is not None:
        slopes = torch.tensor(alibi, dtype=s.dtype, device=q.device).view(-1, 1, 1)
        s = s - slopes * (i - j).abs().to(s.dtype)
    keep = torch.ones(lq, lk, dtype=torch.bool, device=q.device)
    left, right = window
    if causal or right >= 0:
        keep &= j <= i + (0 if causal else right)
    if left >= 0:
        keep &= j >= i - left
    s = s.masked_fill(~keep, -math.inf)
    m = s.amax(-1, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    p = torch.exp(s - m)
    denom = p.sum(-1, keepdim=True)
    lse = (m + torch.log(denom)).squeeze(-1)
    p = p / torch.where(denom > 0, denom, torch.ones_like(denom))
    return (p.to(vs.dtype) @ vs).transpose(0, 1), lse


def variant_grads(q, k, v, do, cq, ck, causal, window, compute, glse=None, alibi=None):
    """(dq, dk, dv) of every sequence's attention in `compute` (with `glse`
    [Hq, Tq], of sum(out * do) + sum(lse * glse) over finite LSEs),
    scattered into the packed rows (0 where no sequence owns a row)."""
    grads = [torch.zeros(x.shape, dtype=compute, device=x.device) for x in (q, k, v)]
    group = q.shape[1] // k.shape[1]
    for (a, b), (c, e) in zip(zip(cq.tolist(), cq.tolist()[1:]),
                              zip(ck.tolist(), ck.tolist()[1:])):
        if a == b or c == e:
            continue  # no query or no key: no gradient
        leaves = [x.to(compute).requires_grad_() for x in (q[a:b], k[c:e], v[c:e])]
        o, lse = sequence_attention(*leaves, causal, window, group, compute, alibi)
        outs, wants = [o], [do[a:b].to(compute)]
        if glse is not None:
            outs.append(torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse)))
            wants.append(glse[:, a:b].to(lse.dtype))
        dq, dk, dv = torch.autograd.grad(outs, leaves, wants)
        grads[0][a:b], grads[1][c:e], grads[2][c:e] = dq, dk, dv
    return grads


def poison_allocator(device, mib=512):
    """Fills freed blocks of the caching allocator with NaN, so outputs the
    kernels allocate next start as NaN where nothing writes them."""
    junk = torch.empty(mib << 18, dtype=torch.float32, device=device).fill_(math.nan)
    del junk


def check_variants(dev, rows):
    """Ours on VARIANTS (atomic and deterministic dQ): errors within 2x the
    eager yardstick's (floor 1e-3 max|ref|), no NaN, dK = dV = 0 past the
    last sequence's keys, deterministic dQ bitwise repeatable."""
    import attn_mlir.torch as at
    ok = True
    # "lse": the atomic program with a gradient of the returned LSE too (the
    # backward's grad_lse operand), on the first LSE_VARIANTS variants.
    for mode in ("atomic", "deterministic", "lse"):
        os.environ["ATTN_MLIR_BACKWARD_DQ"] = "atomic" if mode == "lse" else mode
        for name, hq, hkv, d, dtype, causal, window, lens, extra in \
                (VARIANTS[:LSE_VARIANTS] if mode == "lse" else VARIANTS):
            q, k, v, do, cq, ck = pack_variant(hq, hkv, d, dtype, lens, extra, dev,
                                               sum(map(ord, name)))
            glse = None
            if mode == "lse":
                glse = torch.randn(hq, q.shape[0], generator=torch.Generator(
                    device="cpu").manual_seed(7)).to(dev)
            alibi = ALIBI.get(name)
            want = variant_grads(q, k, v, do, cq, ck, causal, window, torch.float64, glse,
                                 alibi)
            eager = variant_grads(q, k, v, do, cq, ck, causal, window, dtype, glse, alibi)
            runs = []
            for _ in range(2):
                poison_allocator(dev)
                leaves = [x.clone().requires_grad_() for x in (q, k, v)]
                try:
                    out, lse = at.varlen_attention(*leaves, cq, ck, causal=causal,
                                                   window_size=window, alibi_slopes=alibi,
                                                   return_lse=True)
                    if glse is None:
                        runs.append(torch.autograd.grad(out, leaves, do))
                    else:
                        finite = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
                        runs.append(torch.autograd.grad((out, finite), leaves, (do, glse)))
                except at.Unsupported as e:
                    runs = " ".join(str(e).split())
                    break
            row = {"kind": "variant", "name": name, "dq_mode": mode, "lens": lens,
                   "extra_keys": extra}
            if isinstance(runs, str):
                row.update(ok=False, missing=runs)
                ok = False
                rows.append(row)
                print(f"variant {name} {mode}: not available ({runs[:300]})", flush=True)
                continue
            good, text = True, []
            for i, g in enumerate(("dq", "dk", "dv")):
                got = runs[0][i]
                err = (got.double() - want[i]).abs().max().item()
                scale = want[i].abs().max().item()
                eager_err = (eager[i].double() - want[i]).abs().max().item()
                bound = max(2 * eager_err, 1e-3 * max(scale, 1.0))
                nan = int(torch.isnan(got).sum())
                tail = got[got.shape[0] - extra:] if extra else None
                tail_ok = tail is None or bool((tail == 0).all())
                repeat = torch.equal(runs[0][i], runs[1][i])
                needs_repeat = g != "dq" or mode == "deterministic"
                g_ok = err <= bound and nan == 0 and tail_ok and (repeat or not needs_repeat)
                good &= g_ok
                row[g] = dict(max_abs_err=err, bound=bound, eager_err=eager_err, nan=nan,
                              unowned_zero=tail_ok, bitwise_repeat=repeat)
                text.append(f"{g}={err:.2e}/{bound:.2e}" + ("" if nan == 0 else f" nan={nan}")
                            + ("" if tail_ok else " TAIL!=0")
                            + ("" if repeat or not needs_repeat else " NOT-REPEATABLE"))
            row["ok"] = good
            ok &= good
            rows.append(row)
            print(f"variant {name} {mode}: " + " ".join(text) + (" OK" if good else " FAIL"),
                  flush=True)
    os.environ.pop("ATTN_MLIR_BACKWARD_DQ", None)
    return ok


def errors(got, want, rows=None):
    errs = {}
    for name, x, y in zip(("dq", "dk", "dv"), got, want):
        if rows is not None:
            x, y = x[rows], y[rows]
        errs[name] = (x.double() - y).abs().max().item()
    return errs


def backward_flops(lens, causal):
    """2.5x the forward's 4 * Hq * D * visible pairs (FlashAttention's
    convention for the backward: 5 matmuls against the forward's 2)."""
    pairs = sum(l * (l + 1) // 2 if causal else l * l for l in lens)
    return 2.5 * 4 * HQ * D * pairs


def prepare():
    """Here, with the compiler: the GPU varlen kernels of the run (the
    backward's per N and packed totals: its dims are static) into
    $ATTN_MLIR_CACHE_DIR, where the compiler makes them."""
    import attn_mlir.torch as at

    def compile_for(hq, hkv, d, dtype, tq, tk, n, causal, window, alibi=None):
        q = torch.zeros(tq, hq, d, dtype=dtype)
        k = torch.zeros(tk, hkv, d, dtype=dtype)
        at._varlen_gpu_kernel(q, k, k, causal, None, window, True, alibi)
        at._autograd.varlen_gpu_backward_kernel(q, k, k, causal, None, window, n,
                                                alibi_slopes=alibi)
    for mode in ("atomic", "deterministic"):
        os.environ["ATTN_MLIR_BACKWARD_DQ"] = mode
        for i, (name, hq, hkv, d, dtype, causal, window, lens, extra) in enumerate(VARIANTS):
            tq, tk, n = (sum(a for a, _ in lens) + extra, sum(b for _, b in lens) + extra,
                         len(lens))
            compile_for(hq, hkv, d, dtype, tq, tk, n, causal, window, ALIBI.get(name))
            if mode == "atomic" and i < LSE_VARIANTS:
                # The LSE gradient's kernel: the grad_lse operand.
                q = torch.zeros(tq, hq, d, dtype=dtype)
                k = torch.zeros(tk, hkv, d, dtype=dtype)
                at._autograd.varlen_gpu_backward_kernel(
                    q, k, k, causal, None, window, n, lse_grad=True)
    os.environ.pop("ATTN_MLIR_BACKWARD_DQ", None)
    for total in (2048, 16384):
        for causal in (False, True):
            compile_for(HQ, HKV, D, DTYPE, total, total, 8, causal, (-1, -1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--variants-only", action="store_true",
                    help="only the variant checks (e.g. under compute-sanitizer)")
    args = ap.parse_args()
    if args.prepare:
        prepare()
        return 0
    os.makedirs(args.out, exist_ok=True)
    dev = "cuda"
    rows, ok = [], True
    if args.variants_only:
        ok = check_variants(dev, rows)
        print("variants " + ("OK" if ok else "FAIL"))
        return 0 if ok else 1
    # 1. float64 first: every path's gradients on the check shape.
    check_lens = lengths(2048, 8, seed=16)
    for causal in (False, True):
        q, k, v, do, cu = pack(check_lens, dev, seed=1)
        want = reference_grads(q, k, v, do, cu, causal)
        max_len = max(check_lens)
        paths = {}
        paths["flash"] = flash_varlen(q, k, v, do, cu, max_len, causal)[0]
        for name, backend in (("padded_flash", SDPBackend.FLASH_ATTENTION),
                              ("padded_cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                paths[name] = padded_dense(q, k, v, do, cu, max_len, causal, backend)[0]
            except RuntimeError as e:
                print(f"check {name}: not run ({str(e).splitlines()[0]})")
        mine, _, missing = ours(q, k, v, do, cu, max_len, causal)
        if mine is not None:
            paths["ours"] = mine
        flash_err = errors(paths["flash"], want)
        for name, got in paths.items():
            # Non-causal padded rows see the padding keys (zeros): skip them.
            if name.startswith("padded") and not causal:
                continue
            err = errors(got, want)
            # Against torch flash's own error on the same inputs: 2x it plus
            # the bf16 rounding of a gradient's largest entry.
            bound = {g: 2 * flash_err[g] + 2 ** -8 * want[i].abs().max().item()
                     for i, g in enumerate(("dq", "dk", "dv"))}
            good = all(err[g] <= bound[g] for g in err)
            ok &= good
            rows.append({"kind": "check", "path": name, "causal": causal, "err": err,
                         "bound": bound, "ok": good})
            print(f"check {name} causal={causal} " +
                  " ".join(f"{g}={err[g]:.2e}/{bound[g]:.2e}" for g in err) +
                  (" OK" if good else " FAIL"), flush=True)
        if mine is None:
            rows.append({"kind": "check", "path": "ours", "causal": causal,
                         "missing": missing})
            print(f"check ours causal={causal}: not available ({missing})", flush=True)
    ok &= check_variants(dev, rows)
    # 2. timing, only after the checks.
    time_lens = lengths(16384, 8, seed=15)
    print(f"timing lengths {time_lens}")
    for causal in (False, True):
        q, k, v, do, cu = pack(time_lens, dev, seed=2)
        max_len = max(time_lens)
        flops = backward_flops(time_lens, causal)
        timed = {}
        _, fn, how = flash_varlen(q, k, v, do, cu, max_len, causal)
        timed[f"flash_varlen ({how})"] = fn
        for name, backend in (("padded_flash", SDPBackend.FLASH_ATTENTION),
                              ("padded_cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                timed[name] = padded_dense(q, k, v, do, cu, max_len, causal, backend)[1]
            except RuntimeError as e:
                print(f"time {name}: not run ({str(e).splitlines()[0]})")
        _, fn, missing = ours(q, k, v, do, cu, max_len, causal)
        if fn is not None:
            timed["ours"] = fn
        for name, fn in timed.items():
            ms = time_ms(fn, args.reps)
            rows.append({"kind": "time", "path": name, "causal": causal, "lengths": time_lens,
                         "ms": ms, "tflops": flops / ms / 1e9})
            print(f"time {name} causal={causal}: {ms:.3f} ms, "
                  f"{flops / ms / 1e9:.0f} TFLOP/s (visible pairs)", flush=True)
        if fn is None:
            print(f"time ours causal={causal}: not available ({missing})")
    with open(os.path.join(args.out, "varlen_backward.json"), "w") as f:
        json.dump({"torch": torch.__version__, "device": torch.cuda.get_device_name(),
                   "rows": rows}, f, indent=1)
    print("varlen_backward_bench:", "OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
