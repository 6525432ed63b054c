#!/usr/bin/env python3
"""Varlen anchors (issue #15): what torch does with packed variable-length
batches on the device, the targets and the reference numbers a varlen kernel
of ours will be timed against. attn-mlir's GPU path refuses varlen for now
(the CPU runs it: test/Target/attn-compile-varlen.mlir, test_varlen.py), so
this script times torch alone:

  varlen   torch.nn.attention.varlen.varlen_attn (FlashAttention's varlen
           kernel), else torch.ops.aten._flash_attention_forward with
           cum_seq_q/k (the same kernel) when the module is missing
  padded   SDPA over the batch padded to the longest sequence ([N, H, Lmax,
           D]), keys past each length masked (a boolean mask: the efficient
           or cuDNN backend, flash takes no mask)
  loop     SDPA (flash backend) once per sequence

Every path is first checked against a float64 per-sequence reference (SDPA
math in f64 on the device): max |out - ref| over the rows of sequences with
at least one key, bound 2x torch flash's error on the dense problem of the
longest sequence plus 2^-8 (bf16 rounding), as device_bench's checks.
Sequences with no keys are reported, not compared (FlashAttention writes 0
there, as attn.attention defines).

The batches: random lengths with a 0-length and a 1-token sequence and one
long sequence among short ones (the case padding wastes most on).
  python3 bench/varlen_anchors.py --out DIR [--reps 50]
Staged by bench/varlen_prepare.sh (one folder, no kernels to compile).
"""

import argparse
import inspect
import json
import math
import os
import random

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from timing import time_ms

H, D, DTYPE = 16, 128, torch.bfloat16


def batches(seed=15):
    """(name, [(lq, lk)]): lengths per sequence; prefill has lq == lk."""
    rng = random.Random(seed)
    short = [rng.randint(2, 600) for _ in range(13)]
    out = [("edge", [(0, 0), (1, 1), (5, 5), (300, 300), (4096, 4096)]),
           ("one_long", [(l, l) for l in short] + [(8192, 8192)]),
           ("uniform_32", [(l, l) for l in (rng.randint(256, 2048) for _ in range(32))]),
           ("chunked", [(rng.randint(1, 512), rng.randint(1024, 4096)) for _ in range(16)])]
    return out


def pack(lengths, device):
    lq = [q for q, _ in lengths]
    lk = [k for _, k in lengths]
    cu_q = torch.tensor([0] + list(_cumsum(lq)), dtype=torch.int32, device=device)
    cu_k = torch.tensor([0] + list(_cumsum(lk)), dtype=torch.int32, device=device)
    q = torch.randn(sum(lq), H, D, dtype=DTYPE, device=device)
    k = torch.randn(sum(lk), H, D, dtype=DTYPE, device=device)
    v = torch.randn(sum(lk), H, D, dtype=DTYPE, device=device)
    return q, k, v, cu_q, cu_k, max(lq), max(lk)


def _cumsum(xs):
    total = 0
    for x in xs:
        total += x
        yield total


def causal_keep(lq, lk, device):
    """Bottom-right aligned (FlashAttention >= 2.1, attn.attention's
    causal_bottom_right): query i sees keys j <= i + lk - lq."""
    i = torch.arange(lq, device=device)[:, None]
    j = torch.arange(lk, device=device)[None, :]
    return j <= i + lk - lq


def reference(q, k, v, cu_q, cu_k, causal):
    """float64, one sequence at a time; rows without a visible key are 0."""
    out = torch.zeros(q.shape, dtype=torch.float64, device=q.device)
    for n in range(cu_q.numel() - 1):
        q0, q1, k0, k1 = (int(x) for x in (cu_q[n], cu_q[n + 1], cu_k[n], cu_k[n + 1]))
        if q1 == q0 or k1 == k0:
            continue
        qs, ks, vs = (x.double().transpose(0, 1) for x in (q[q0:q1], k[k0:k1], v[k0:k1]))
        s = qs @ ks.transpose(-1, -2) / math.sqrt(D)
        if causal:
            s = s.masked_fill(~causal_keep(q1 - q0, k1 - k0, q.device), -math.inf)
        p = torch.softmax(s, dim=-1).nan_to_num(0.0)
        out[q0:q1] = (p @ vs).transpose(0, 1)
    return out


def torch_varlen():
    """The packed torch path, as f(q, k, v, cu_q, cu_k, max_q, max_k,
    causal), and its name; None when this torch has neither."""
    try:
        from torch.nn.attention.varlen import varlen_attn
        params = inspect.signature(varlen_attn).parameters

        def call(q, k, v, cu_q, cu_k, max_q, max_k, causal):
            if "is_causal" in params:
                return varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k, is_causal=causal)
            # 2.10+: causal is the window (-1, 0), bottom-right aligned.
            return varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k,
                               window_size=(-1, 0) if causal else (-1, -1))
        return call, "torch.nn.attention.varlen.varlen_attn"
    except ImportError:
        pass
    if hasattr(torch.ops.aten, "_flash_attention_forward"):
        def call(q, k, v, cu_q, cu_k, max_q, max_k, causal):
            return torch.ops.aten._flash_attention_forward(
                q, k, v, cu_q, cu_k, max_q, max_k, 0.0, causal,
                return_debug_mask=False)[0]
        return call, "aten._flash_attention_forward(cum_seq_q/k)"
    return None, None


def padded(q, k, v, cu_q, cu_k, max_q, max_k, causal):
    """SDPA over [N, H, Lmax, D] with a key-padding (and causal) mask,
    unpacked back to [Tq, H, D]; the pad/unpad copies are part of the cost
    a padded batch pays."""
    n = cu_q.numel() - 1
    qp = q.new_zeros(n, max_q, H, D)
    kp = k.new_zeros(n, max_k, H, D)
    vp = v.new_zeros(n, max_k, H, D)
    keep = torch.zeros(n, 1, max_q, max_k, dtype=torch.bool, device=q.device)
    bounds = list(zip(cu_q.tolist(), cu_q.tolist()[1:], cu_k.tolist(), cu_k.tolist()[1:]))
    for b, (q0, q1, k0, k1) in enumerate(bounds):
        qp[b, :q1 - q0] = q[q0:q1]
        kp[b, :k1 - k0] = k[k0:k1]
        vp[b, :k1 - k0] = v[k0:k1]
        rows = causal_keep(q1 - q0, k1 - k0, q.device) if causal else True
        keep[b, 0, :q1 - q0, :k1 - k0] = rows
    o = F.scaled_dot_product_attention(qp.transpose(1, 2), kp.transpose(1, 2),
                                       vp.transpose(1, 2), attn_mask=keep).transpose(1, 2)
    return torch.cat([o[b, :q1 - q0] for b, (q0, q1, _, _) in enumerate(bounds)])


def loop(q, k, v, cu_q, cu_k, max_q, max_k, causal):
    """SDPA flash per sequence (bottom-right causal needs lq == lk there:
    the batches' causal cases are prefill, lq == lk)."""
    outs = []
    bounds = list(zip(cu_q.tolist(), cu_q.tolist()[1:], cu_k.tolist(), cu_k.tolist()[1:]))
    for q0, q1, k0, k1 in bounds:
        if q1 == q0:
            continue
        if k1 == k0:
            outs.append(q.new_zeros(q1 - q0, H, D))
            continue
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            o = F.scaled_dot_product_attention(
                q[q0:q1].transpose(0, 1)[None], k[k0:k1].transpose(0, 1)[None],
                v[k0:k1].transpose(0, 1)[None], is_causal=causal)
        outs.append(o[0].transpose(0, 1))
    return torch.cat(outs)


def visible_flops(lengths, causal):
    """4 * H * D * (visible (i, j) pairs), summed over the sequences."""
    pairs = 0
    for lq, lk in lengths:
        if causal:
            pairs += sum(max(0, min(lk, i + lk - lq + 1)) for i in range(lq))
        else:
            pairs += lq * lk
    return 4 * H * D * pairs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(15)
    dev = "cuda"
    varlen_fn, varlen_name = torch_varlen()
    paths = {"padded": padded, "loop": loop}
    if varlen_fn:
        paths = {"varlen": varlen_fn, **paths}
    rows = []
    for name, lengths in batches():
        for causal in (False, True):
            if causal and any(lq != lk for lq, lk in lengths):
                continue  # loop's SDPA aligns causal top-left: prefill only
            q, k, v, cu_q, cu_k, max_q, max_k = pack(lengths, dev)
            want = reference(q, k, v, cu_q, cu_k, causal)
            has_keys = torch.zeros(q.shape[0], dtype=torch.bool, device=dev)
            for n, (lq, lk) in enumerate(lengths):
                if lk:
                    has_keys[int(cu_q[n]):int(cu_q[n + 1])] = True
            flops = visible_flops(lengths, causal)
            for path, fn in paths.items():
                row = {"batch": name, "causal": causal, "path": path,
                       "sequences": len(lengths), "total_q": q.shape[0],
                       "max_q": max_q, "max_k": max_k}
                try:
                    got = fn(q, k, v, cu_q, cu_k, max_q, max_k, causal)
                    err = (got.double() - want)[has_keys].abs().max().item()
                    row["max_abs_err"] = err
                    row["ms"] = time_ms(lambda: fn(q, k, v, cu_q, cu_k, max_q, max_k, causal),
                                        args.reps)
                    row["tflops"] = flops / row["ms"] / 1e9
                except Exception as e:  # a path this torch cannot run: say why
                    row["error"] = f"{type(e).__name__}: {e}"[:300]
                rows.append(row)
                print(json.dumps(row), flush=True)
    # Correctness bound: each path within 2x the varlen (flash) path's error
    # plus bf16's unit roundoff; a path that fails it is flagged.
    for row in rows:
        ref = [r for r in rows if r["batch"] == row["batch"] and r["causal"] == row["causal"]
               and r["path"] == ("varlen" if varlen_fn else "loop") and "max_abs_err" in r]
        if "max_abs_err" in row and ref:
            row["ok"] = row["max_abs_err"] <= 2 * ref[0]["max_abs_err"] + 2.0 ** -8
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "varlen_path": varlen_name, "heads": H, "head_dim": D, "dtype": "bf16",
              "rows": rows}
    with open(os.path.join(args.out, "varlen_anchors.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "varlen_anchors.md"), "w") as f:
        f.write(f"# Varlen anchors, {result['device']}, torch {result['torch']} "
                f"(varlen path: {varlen_name})\n\n")
        f.write("| batch | causal | path | N | Tq | max_q | ms | TFLOP/s | max err | ok |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['batch']} | {r['causal']} | {r['path']} | {r['sequences']} | "
                    f"{r['total_q']} | {r['max_q']} | {r.get('ms', float('nan')):.3f} | "
                    f"{r.get('tflops', float('nan')):.1f} | "
                    f"{r.get('max_abs_err', float('nan')):.2e} | "
                    f"{r.get('ok', r.get('error', ''))} |\n")
    bad = [r for r in rows if r.get("ok") is False]
    print(f"{len(rows)} rows, {len(bad)} over the bound")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
