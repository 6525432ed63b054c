"""attn_mlir.torch.varlen_attention on CUDA tensors, checked against a
float64 reference computed sequence by sequence, and against torch's own
varlen flash where this torch has it (torch.nn.attention.varlen).

Here (with the compiler): python3 examples/varlen_torch_check.py --prepare
compiles the kernels into $ATTN_MLIR_CACHE_DIR (examples/varlen_torch_prepare.sh).
On the GPU machine: bash .device/varlen_torch/run.sh (the cache, the
runtime, no compiler). Exit status 1 when a check fails."""

import argparse
import json
import math
import os
import sys

import torch

import attn_mlir.torch as at

HEADS = ((8, 2, 128), (4, 4, 64))  # (Hq, Hkv, D)
MASKS = ((False, (-1, -1)), (True, (-1, -1)), (True, (96, -1)))


def reference(q, k, v, cu_q, cu_k, causal, window):
    """float64 out [Tq, Hq, Dv]: each sequence alone, aligned bottom-right."""
    out = torch.zeros(q.shape[:2] + v.shape[2:], dtype=torch.float64, device=q.device)
    group = q.shape[1] // k.shape[1]
    for n in range(cu_q.numel() - 1):
        q0, q1, k0, k1 = (int(x) for x in (cu_q[n], cu_q[n + 1], cu_k[n], cu_k[n + 1]))
        lq, lk = q1 - q0, k1 - k0
        if lq == 0 or lk == 0:
            continue
        qs = q[q0:q1].double().transpose(0, 1)
        ks = k[k0:k1].double().repeat_interleave(group, 1).transpose(0, 1)
        vs = v[k0:k1].double().repeat_interleave(group, 1).transpose(0, 1)
        s = qs @ ks.transpose(1, 2) / math.sqrt(q.shape[2])
        i = torch.arange(lq, device=q.device)[:, None] + (lk - lq)
        j = torch.arange(lk, device=q.device)[None, :]
        keep = torch.ones(lq, lk, dtype=torch.bool, device=q.device)
        if causal:
            keep &= j <= i
        if window[0] >= 0:
            keep &= j >= i - window[0]
        s = s.masked_fill(~keep, -math.inf)
        p = torch.softmax(s, -1).nan_to_num(0.0)
        out[q0:q1] = (p @ vs).transpose(0, 1)
    return out


def batches(g):
    """Random (cu_q, cu_k) draws: empty sequences, tails, lq != lk."""
    for n in (1, 3, 7, 16):
        lq = torch.randint(0, 700, (n,), generator=g)
        lk = lq + torch.randint(0, 200, (n,), generator=g)
        lq[0] = max(int(lq[0]), 1)
        yield (torch.cat([torch.zeros(1, dtype=torch.int64), lq.cumsum(0)]).int(),
               torch.cat([torch.zeros(1, dtype=torch.int64), lk.cumsum(0)]).int())


def prepare():
    for hq, hkv, d in HEADS:
        for dtype in (torch.bfloat16, torch.float16):
            q = torch.zeros(1, hq, d, dtype=dtype)
            k = torch.zeros(1, hkv, d, dtype=dtype)
            for causal, window in MASKS:
                at._varlen_gpu_kernel(q, k, k, causal, None, window, False)
    print("varlen_torch_check --prepare: kernels compiled")


def run(out_dir):
    g = torch.Generator().manual_seed(15)
    results, ok = [], True
    for hq, hkv, d in HEADS:
        for dtype in (torch.bfloat16, torch.float16):
            for causal, window in MASKS:
                for cu_q, cu_k in batches(g):
                    tq, tk = int(cu_q[-1]), int(cu_k[-1])
                    q, k, v = (torch.randn(t, h, d, generator=g).to(dtype).cuda()
                               for t, h in ((tq, hq), (tk, hkv), (tk, hkv)))
                    cq, ck = cu_q.cuda(), cu_k.cuda()
                    got = at.varlen_attention(q, k, v, cq, ck, causal=causal,
                                              window_size=window)
                    want = reference(q, k, v, cu_q, cu_k, causal, window)
                    err = (got.double() - want).abs().max().item()
                    # The bf16 / f16 rounding of the output and of P (docs/Numerics.md
                    # bounds the GPU kernels at 2x flash's error; flash has no
                    # varlen window here, so a fixed bound as for score_mod).
                    bound = 2e-2 if dtype == torch.bfloat16 else 5e-3
                    row = {"heads": [hq, hkv, d], "dtype": str(dtype), "causal": causal,
                           "window": list(window), "n": cu_q.numel() - 1, "tq": tq,
                           "tk": tk, "err": err, "bound": bound, "ok": err <= bound}
                    ok &= row["ok"]
                    results.append(row)
                    print(f"varlen {row['heads']} {dtype} causal={causal} window={window} "
                          f"N={row['n']} Tq={tq} Tk={tk} err={err:.2e} "
                          f"{'OK' if row['ok'] else 'FAIL'}", flush=True)
    stats = at.kernels_used()
    print(f"varlen_torch_check: {sum(r['ok'] for r in results)}/{len(results)} OK, "
          f"{len(stats)} kernels")
    with open(os.path.join(out_dir, "varlen_torch_check.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    args = ap.parse_args()
    if args.prepare:
        prepare()
        sys.exit(0)
    os.makedirs(args.out, exist_ok=True)
    sys.exit(run(args.out))
