"""MLA latent decode (DeepSeek's absorbed form) with torch alone: the
yardstick issue #15's shared K/V cache decode kernel is to be timed against.

Per token one latent cache row of 576 = 512 latent + 64 rotary dims; K is the
whole row, V its first 512 dims; H query heads share the one latent head.
Torch has no shared-cache operand, so SDPA reads a materialized K
[B, 1, Lk, 576] and V [B, 1, Lk, 512] (V a contiguous copy of K's first 512
columns, as an engine without a fused kernel keeps it). Decode (Lq = 1, no
mask) folds the heads into the query rows, q [B, 1, H, 576]: exactly the same
attention, and the layout FlashMLA uses, so every backend sees one KV head.

Prints, per shape and backend: us, TFLOP/s (2 B H Lk (576 + 512) FLOPs), and
bandwidth as % of the device copy bandwidth measured in the same run, for the
bytes torch reads (K + V + q + o) and for the bytes a shared-cache kernel
must read (the cache once + q + o). One shape is first checked against a
float64 reference. Writes <out>/mla_decode_torch.{json,md}.
"""
import argparse
import json
import math
import os

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

D, DV = 576, 512
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}


def bench(fn, iters=20):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1e3 / iters  # us


def copy_tbps():
    x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    us = bench(lambda: y.copy_(x), iters=10)
    return 2 * x.numel() / (us * 1e-6) / 1e12  # read + write


def check(scale):
    """One small shape against float64: the folding of heads is exact."""
    torch.manual_seed(0)
    b, h, lk = 2, 16, 1000
    kv = torch.randn(b, 1, lk, D, device="cuda", dtype=torch.bfloat16)
    q = torch.randn(b, h, 1, D, device="cuda", dtype=torch.bfloat16)
    s = (q.double() @ kv.double().transpose(-1, -2)) * scale
    ref = torch.softmax(s, -1) @ kv[..., :DV].double()
    out = {}
    for name, be in BACKENDS.items():
        try:
            with sdpa_kernel([be]):
                o = F.scaled_dot_product_attention(
                    q.transpose(1, 2), kv, kv[..., :DV].contiguous(), scale=scale)
            out[name] = float((o.transpose(1, 2).double() - ref).abs().max())
        except RuntimeError as e:
            out[name] = "unsupported: " + str(e).splitlines()[0][:120]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    scale = 1.0 / math.sqrt(192.0)  # DeepSeek-V3's softmax scale (qk_head_dim 192)
    copy = copy_tbps()
    rows = []
    checks = check(scale)
    print("float64 check (B=2 H=16 Lk=1000), max |o - ref|:", checks, flush=True)
    for b in (1, 16, 64):
        for lk in (4096, 16384):
            for h in (16, 128):
                kv = torch.randn(b, 1, lk, D, device="cuda", dtype=torch.bfloat16)
                v = kv[..., :DV].contiguous()
                q = torch.randn(b, 1, h, D, device="cuda", dtype=torch.bfloat16)
                flops = 2.0 * b * h * lk * (D + DV)
                io = (q.numel() + b * h * DV) * 2
                torch_bytes = (kv.numel() + v.numel()) * 2 + io
                shared_bytes = kv.numel() * 2 + io
                for name, be in BACKENDS.items():
                    row = dict(B=b, Lk=lk, H=h, backend=name)
                    try:
                        with sdpa_kernel([be]):
                            us = bench(lambda: F.scaled_dot_product_attention(q, kv, v, scale=scale))
                        row.update(us=us, tflops=flops / (us * 1e-6) / 1e12,
                                   pct_copy_torch_bytes=100 * torch_bytes / (us * 1e-6) / 1e12 / copy,
                                   pct_copy_shared_bytes=100 * shared_bytes / (us * 1e-6) / 1e12 / copy)
                    except RuntimeError as e:
                        row["error"] = str(e).splitlines()[0][:160]
                    rows.append(row)
                    print(row, flush=True)
                del kv, v, q
                torch.cuda.empty_cache()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "mla_decode_torch.json"), "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                       copy_tbps=copy, check=checks, rows=rows), f, indent=1)
    with open(os.path.join(args.out, "mla_decode_torch.md"), "w") as f:
        f.write(f"# MLA decode 576/512, torch SDPA on materialized K/V ({torch.cuda.get_device_name()}, "
                f"torch {torch.__version__}, copy {copy:.2f} TB/s)\n\n")
        f.write("| B | Lk | H | backend | us | TFLOP/s | % copy (torch bytes) | % copy (shared-cache bytes) |\n")
        f.write("|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            if "us" in r:
                f.write(f"| {r['B']} | {r['Lk']} | {r['H']} | {r['backend']} | {r['us']:.1f} | "
                        f"{r['tflops']:.1f} | {r['pct_copy_torch_bytes']:.0f} | {r['pct_copy_shared_bytes']:.0f} |\n")
            else:
                f.write(f"| {r['B']} | {r['Lk']} | {r['H']} | {r['backend']} | {r['error']} | | | |\n")


if __name__ == "__main__":
    main()
