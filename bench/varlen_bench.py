#!/usr/bin/env python3
"""Varlen prefill kernels (issue #15) on the device: ONE kernel per variant
(compiled with --varlen and --dynamic=batch,seq-q,seq-k: packed totals T and
the sequence count N are runtime lengths) serves random cu_seqlens draws,
each checked against a float64 per-sequence reference (empty sequences,
sequences without keys, lengths off the 64/128 tiles, causal bottom-right
and top-left, a window, GQA/MQA, f16/bf16, D 64/128, LSE); then the timing
kernels run the batches of bench/varlen_anchors.py (H = 16, D = 128, bf16)
against torch's varlen flash path and the padded SDPA on the same inputs.

Kernels come from bench/varlen_prepare.sh (the kernels/ folder, one .flags
file each). Alone:
  python3 .device-varlen/varlen_bench.py --lib /tmp/rt/lib/libAttnRuntimeC.so \
      --kernels .device-varlen/kernels --out /tmp/out
"""

import argparse
import json
import math
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from device_bench import Launcher, Runtime, parse_flags, visible  # noqa: E402
import varlen_anchors as anchors  # noqa: E402


def reference(spec, q, k, v, bounds):
    """float64 O [Tq, Hq, Dv] and LSE [Hq, Tq]; rows seeing no key: 0, -inf."""
    g = spec["hq"] // spec["hkv"]
    out = torch.zeros(q.shape[0], spec["hq"], spec["dv"], dtype=torch.float64,
                      device=q.device)
    lse = torch.full((spec["hq"], q.shape[0]), -math.inf, dtype=torch.float64,
                     device=q.device)
    for q0, q1, k0, k1 in bounds:
        if q1 == q0 or k1 == k0:
            continue
        qs = q[q0:q1].double().transpose(0, 1)
        ks = k[k0:k1].double().transpose(0, 1).repeat_interleave(g, 0)
        vs = v[k0:k1].double().transpose(0, 1).repeat_interleave(g, 0)
        s = qs @ ks.transpose(-1, -2) / math.sqrt(spec["d"])
        s = s.masked_fill(~visible(spec, q.device, q1 - q0, k1 - k0), -math.inf)
        m = s.amax(-1, keepdim=True)
        m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
        p = torch.exp(s - m)
        l = p.sum(-1, keepdim=True)
        o = torch.where(l > 0, (p @ vs) / l, torch.zeros_like(l))
        out[q0:q1] = o.transpose(0, 1)
        lse[:, q0:q1] = torch.where(l[..., 0] > 0, m[..., 0] + torch.log(l[..., 0]),
                                    torch.full_like(l[..., 0], -math.inf))
    return out, lse


def draws(n, seed):
    """Per-sequence (lq, lk) lists: the edges first, then random batches."""
    rng = random.Random(seed)
    out = [[(0, 0), (1, 1), (5, 0), (0, 7), (129, 129), (200, 333)],
           [(333, 200), (1, 300), (64, 64), (127, 1)],
           [(700, 900)]]
    while len(out) < n:
        batch = []
        for _ in range(rng.randint(1, 9)):
            lq = rng.choice([0, rng.randint(1, 40), rng.randint(1, 700)])
            lk = rng.choice([lq, rng.randint(0, 800)])
            batch.append((lq, lk))
        if sum(q for q, _ in batch) and sum(k for _, k in batch):
            out.append(batch)
    return out


def pack(spec, lengths, dt):
    tq = sum(q for q, _ in lengths)
    tk = sum(k for _, k in lengths)
    cu_q = [0]
    cu_k = [0]
    for lq, lk in lengths:
        cu_q.append(cu_q[-1] + lq)
        cu_k.append(cu_k[-1] + lk)
    q = torch.randn(tq, spec["hq"], spec["d"], device="cuda", dtype=dt)
    k = torch.randn(tk, spec["hkv"], spec["d"], device="cuda", dtype=dt)
    v = torch.randn(tk, spec["hkv"], spec["dv"], device="cuda", dtype=dt)
    cq = torch.tensor(cu_q, dtype=torch.int32, device="cuda")
    ck = torch.tensor(cu_k, dtype=torch.int32, device="cuda")
    bounds = list(zip(cu_q, cu_q[1:], cu_k, cu_k[1:]))
    return q, k, v, cq, ck, bounds


def launch_tensors(spec, q, k, v, cq, ck):
    """The manifest's passed arguments: q, k, v [1, T, H, D], the offsets,
    O [1, Tq, Hq, Dv] (NaN: unwritten rows show) and LSE [1, Hq, Tq]."""
    o = torch.full((1, q.shape[0], spec["hq"], spec["dv"]), float("nan"),
                   device="cuda", dtype=q.dtype)
    tensors = [q[None], k[None], v[None], cq, ck, o]
    lse = None
    if spec["lse"]:
        lse = torch.full((1, spec["hq"], q.shape[0]), float("nan"), device="cuda",
                         dtype=torch.float32)
        tensors.append(lse)
    return tensors, o, lse


def check(rt, handle, name, spec, lengths, results):
    dt = torch.bfloat16 if spec["dtype"] == "bf16" else torch.float16
    q, k, v, cq, ck, bounds = pack(spec, lengths, dt)
    tensors, o, lse = launch_tensors(spec, q, k, v, cq, ck)
    Launcher(rt, handle, tensors, sync=True)()
    torch.cuda.synchronize()
    ro, rl = reference(spec, q, k, v, bounds)
    ours = o[0].double()
    unwritten = int(torch.isnan(ours).sum())
    err = (ours - ro).abs().nan_to_num(math.inf).max().item()
    # bf16 / f16 rounding of P and O (device_bench's bound without a flash
    # yardstick).
    bound = 2e-2 if dt == torch.bfloat16 else 4e-3
    lse_err = None
    if lse is not None:
        ol = lse[0].double()
        finite = torch.isfinite(rl)
        lse_err = (ol[finite] - rl[finite]).abs().max().item() if finite.any() else 0.0
        if not torch.equal(torch.isinf(ol), torch.isinf(rl)) or torch.isnan(ol).any():
            lse_err = float("inf")
    ok = unwritten == 0 and err <= bound and (lse_err is None or lse_err < 1e-2)
    results.append(dict(kernel=name, lengths=lengths, max_abs_err=err, bound=bound,
                        lse_err=lse_err, unwritten=unwritten, ok=ok))
    print(f"check {name:28s} N={len(lengths):2d} Tq={q.shape[0]:5d} Tk={k.shape[0]:5d} "
          f"err={err:.2e} lse={lse_err} unwritten={unwritten} {'OK' if ok else 'FAIL'}",
          flush=True)
    return ok


def timing(rt, kdir, out, reps):
    """The anchors' batches (H = 16, D = 128, bf16): our varlen kernel, torch
    varlen flash, padded SDPA; each checked against float64 first."""
    varlen_fn, varlen_name = anchors.torch_varlen()
    rows = []
    for name, lengths in anchors.batches():
        for causal in (False, True):
            q, k, v, cq, ck, mq, mk = anchors.pack(lengths, "cuda")
            want = anchors.reference(q, k, v, cq, ck, causal)
            spec = dict(hq=anchors.H, hkv=anchors.H, d=anchors.D, dv=anchors.D,
                        lse=False)
            paths, errs = {}, {}
            # The default tiles (block-m 128) and block-m 64.
            for suffix in ("", "_m64"):
                kname = ("vl_bench_causal" if causal else "vl_bench_none") + suffix
                path = os.path.join(kdir, kname)
                if not os.path.exists(path + ".json"):
                    continue
                handle = rt.load(path + ".sm_90.cubin", path + ".json")
                tensors, o, _ = launch_tensors(spec, q, k, v, cq, ck)
                launch = Launcher(rt, handle, tensors)
                launch()
                # Rows without keys are 0 in ours and in the reference alike.
                errs["attn-mlir" + suffix] = (o[0].double() - want).abs().max().item()
                paths["attn-mlir" + suffix] = launch
            if varlen_fn:
                paths["torch-varlen"] = lambda: varlen_fn(q, k, v, cq, ck, mq, mk, causal)
            paths["padded-sdpa"] = lambda: anchors.padded(q, k, v, cq, ck, mq, mk, causal)
            for p, fn in paths.items():
                if p.startswith("attn-mlir"):
                    continue
                try:
                    has_keys = torch.zeros(q.shape[0], dtype=torch.bool, device="cuda")
                    for n, (lq, lk) in enumerate(lengths):
                        if lk:
                            has_keys[int(cq[n]):int(cq[n + 1])] = True
                    errs[p] = (fn().double() - want)[has_keys].abs().max().item()
                except Exception as e:
                    errs[p] = f"{type(e).__name__}: {str(e)[:200]}"
            flops = anchors.visible_flops(lengths, causal)
            for p, fn in paths.items():
                row = dict(batch=name, causal=causal, path=p, sequences=len(lengths),
                           total_q=q.shape[0], max_q=mq, max_abs_err=errs[p])
                if isinstance(errs[p], float):
                    row["ms"] = anchors.time_ms(fn, reps)
                    row["tflops"] = flops / row["ms"] / 1e9
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows, varlen_name


def guarded(rt, handle, spec, q, k, v, cu_q, cu_k, guard=64):
    """One launch with O and LSE inside NaN buffers `guard` rows longer on
    each side; returns whether the guards stayed NaN (no store outside)."""
    tq = q.shape[0]
    ob = torch.full((tq + 2 * guard, spec["hq"], spec["dv"]), float("nan"),
                    device="cuda", dtype=q.dtype)
    o = ob[guard:guard + tq][None]
    # LSE [1, Hq, Tq] rows must be contiguous: a separate tensor, its own
    # guard the tail of one flat buffer.
    lflat = torch.full((spec["hq"] * tq + 2 * guard,), float("nan"), device="cuda",
                       dtype=torch.float32)
    lse = lflat[guard:guard + spec["hq"] * tq].view(1, spec["hq"], tq)
    cq = torch.tensor(cu_q, dtype=torch.int32, device="cuda")
    ck = torch.tensor(cu_k, dtype=torch.int32, device="cuda")
    tensors = [q[None], k[None], v[None], cq, ck, o] + ([lse] if spec["lse"] else [])
    Launcher(rt, handle, tensors, sync=True)()
    torch.cuda.synchronize()
    return bool(torch.isnan(ob[:guard]).all() and torch.isnan(ob[guard + tq:]).all()
                and torch.isnan(lflat[:guard]).all() and torch.isnan(lflat[-guard:]).all())


def sanitize(rt, kdir):
    """Offsets that keep the contract and offsets that break it (past T,
    decreasing): every store stays inside O and LSE (checked by NaN guards
    here, every access by compute-sanitizer around this run)."""
    name = "vl_check_gqa_d64_causal_br"
    spec = parse_flags(open(os.path.join(kdir, name + ".flags")).read())
    path = os.path.join(kdir, name)
    handle = rt.load(path + ".sm_90.cubin", path + ".json")
    dt = torch.bfloat16
    q = torch.randn(100, spec["hq"], spec["d"], device="cuda", dtype=dt)
    k = torch.randn(60, spec["hkv"], spec["d"], device="cuda", dtype=dt)
    v = torch.randn(60, spec["hkv"], spec["dv"], device="cuda", dtype=dt)
    cases = [("valid", [0, 0, 37, 100], [0, 5, 5, 60]),
             ("past_T", [0, 50, 300, 1 << 30], [0, 500, 70, 1 << 30]),
             ("decreasing", [0, 80, 20, 100], [0, 50, 10, 40]),
             ("negative", [-5, -1, 30, 100], [-(1 << 30), 10, 9, 60])]
    ok = True
    for case, cu_q, cu_k in cases:
        clean = guarded(rt, handle, spec, q, k, v, cu_q, cu_k)
        print(f"sanitize {case:12s} guards untouched: {clean}", flush=True)
        ok &= clean
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--kernels", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--sanitize", action="store_true",
                        help="only the out-of-contract offsets (run under "
                             "compute-sanitizer)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(15)
    rt = Runtime(args.lib)
    if args.sanitize:
        return 0 if sanitize(rt, args.kernels) else 1
    checks = []
    names = sorted(f[:-6] for f in os.listdir(args.kernels)
                   if f.endswith(".flags") and f.startswith("vl_check"))
    for i, name in enumerate(names):
        spec = parse_flags(open(os.path.join(args.kernels, name + ".flags")).read())
        path = os.path.join(args.kernels, name)
        try:
            handle = rt.load(path + ".sm_90.cubin", path + ".json")
            for lengths in draws(10 if i == 0 else 5, seed=15 + i):
                check(rt, handle, name, spec, lengths, checks)
        except Exception as e:  # report, never hide
            checks.append(dict(kernel=name, ok=False, error=str(e)))
            print(f"check {name} ERROR {e}", flush=True)
    bad = [c for c in checks if not c["ok"]]
    rows, varlen_name = [], None
    if not bad:
        rows, varlen_name = timing(rt, args.kernels, args.out, args.reps)
    else:
        print("timing skipped: a check failed", flush=True)
    result = dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                  torch_varlen_path=varlen_name, checks=checks, timing=rows)
    with open(os.path.join(args.out, "varlen_bench.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "varlen_bench.md"), "w") as f:
        f.write(f"# Varlen prefill, {result['device']}, torch {result['torch']}\n\n")
        f.write(f"Checks vs float64: {len(checks) - len(bad)}/{len(checks)} OK\n\n")
        f.write(f"torch varlen path: {varlen_name}\n\n")
        f.write("| batch | causal | path | N | Tq | max_q | ms | TFLOP/s | max err |\n")
        f.write("|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            err = r["max_abs_err"]
            f.write(f"| {r['batch']} | {r['causal']} | {r['path']} | {r['sequences']} | "
                    f"{r['total_q']} | {r['max_q']} | {r.get('ms', float('nan')):.3f} | "
                    f"{r.get('tflops', float('nan')):.1f} | "
                    f"{err if isinstance(err, str) else f'{err:.2e}'} |\n")
    print(f"{len(checks)} checks, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
