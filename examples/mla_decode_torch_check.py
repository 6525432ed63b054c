"""attn_mlir.torch.mla_decode_attention on CUDA tensors: DeepSeek MLA's
absorbed decode over one shared latent cache (576 = 512 + 64 rotary dims, V
the first 512 columns), paged (shuffled pages of a pool, page 64) and
contiguous, Lq = 1 and 2 (causal speculative rows), ragged fill levels with
the edges (0, 1, full), checked against float64; then one decode step timed
against torch SDPA's efficient backend on K and a materialized V (heads
folded into the query rows).

Here (with the compiler): python3 examples/mla_decode_torch_check.py --prepare
compiles the kernels into $ATTN_MLIR_CACHE_DIR (examples/mla_decode_torch_prepare.sh).
On the GPU machine: bash .device/mla_decode_torch/run.sh. Exit status 1 when
a check fails."""

import argparse
import json
import math
import os

import torch

import attn_mlir.torch as at

D, DV, PAGE = 576, 512, 64
# (B, Hq, Lq, dtype, paged, capacity)
CONFIGS = ((3, 16, 1, torch.bfloat16, True, 1024), (2, 128, 2, torch.bfloat16, True, 512),
           (4, 32, 1, torch.float16, False, 512), (1, 64, 1, torch.bfloat16, True, 2048))
TIMED = dict(b=64, hq=128, capacity=4096)
SLACK = 3  # pages of the pool no sequence owns


def meta(b, hq, lq, dtype, paged, capacity):
    q = torch.empty(b, hq, lq, D, dtype=dtype, device="meta")
    lengths = torch.empty(b, dtype=torch.int32, device="meta")
    if paged:
        per = capacity // PAGE
        return (q, torch.empty(b * per + SLACK, PAGE, 1, D, dtype=dtype, device="meta"),
                lengths, torch.empty(b, per, dtype=torch.int32, device="meta"))
    return q, torch.empty(b, capacity, 1, D, dtype=dtype, device="meta"), lengths, None


def prepare():
    import attn_mlir._kvcache as kvcache
    for b, hq, lq, dtype, paged, capacity in CONFIGS:
        kvcache._plan_mla(*meta(b, hq, lq, dtype, paged, capacity), DV, lq > 1, None, lse=True)
    c = TIMED
    kvcache._plan_mla(*meta(c["b"], c["hq"], 1, torch.bfloat16, True, c["capacity"]), DV,
                      False, None, lse=False)
    print("mla_decode_torch_check --prepare: kernels compiled")


def reference(q, kv, fills):
    """float64 [B, Hq, Lq, Dv], causal bottom-right per sequence."""
    b, hq, lq, _ = q.shape
    out = torch.zeros(b, hq, lq, DV, dtype=torch.float64, device=q.device)
    for n in range(b):
        lk = int(fills[n])
        if lk == 0:
            continue
        k = kv[n, :lk, 0].double()
        s = q[n].double() @ k.T / math.sqrt(D)                      # [Hq, Lq, lk]
        i = torch.arange(lq, device=q.device)[:, None] + (lk - lq)
        j = torch.arange(lk, device=q.device)[None, :]
        s = s.masked_fill(j > i, -math.inf)
        out[n] = torch.softmax(s, -1).nan_to_num(0.0) @ k[:, :DV]
    return out


def check(results):
    g = torch.Generator().manual_seed(7)
    ok = True
    for b, hq, lq, dtype, paged, capacity in CONFIGS:
        for draw in range(2):
            kv = torch.randn(b, capacity, 1, D, generator=g).to(dtype).cuda()
            fills = torch.randint(0, capacity + 1, (b,), generator=g)
            fills[: min(b, 3)] = torch.tensor([capacity, 1, 0][: min(b, 3)])
            fills = fills[torch.randperm(b, generator=g)].int()
            q = torch.randn(b, hq, lq, D, generator=g).to(dtype).cuda()
            if paged:
                per = capacity // PAGE
                order = torch.randperm(b * per + SLACK, generator=g)[: b * per]
                pool = torch.randn(b * per + SLACK, PAGE, 1, D, generator=g).to(dtype).cuda()
                pool[order.cuda()] = kv.reshape(b * per, PAGE, 1, D)
                table = order.view(b, per).int().cuda()
                got, lse = at.mla_decode_attention(q, pool, fills.cuda(), table, causal=lq > 1,
                                                   return_lse=True)
            else:
                got, lse = at.mla_decode_attention(q, kv, fills.cuda(), causal=lq > 1,
                                                   return_lse=True)
            want = reference(q, kv, fills)
            err = (got.double() - want).abs().max().item()
            bound = 2e-2 if dtype == torch.bfloat16 else 5e-3
            row = dict(b=b, hq=hq, lq=lq, dtype=str(dtype), paged=paged, capacity=capacity,
                       fills=fills.tolist()[:8], err=err, bound=bound,
                       nan=int(torch.isnan(got).sum()), ok=err <= bound)
            row["ok"] &= row["nan"] == 0
            ok &= row["ok"]
            results.append(row)
            print(f"mla B={b} Hq={hq} Lq={lq} {dtype} paged={paged} err={err:.2e} "
                  f"{'OK' if row['ok'] else 'FAIL'}", flush=True)
    return ok


def bench():
    import triton.testing
    c = TIMED
    b, hq, per = c["b"], c["hq"], c["capacity"] // PAGE
    pool = torch.randn(b * per + SLACK, PAGE, 1, D, dtype=torch.bfloat16, device="cuda")
    table = torch.randperm(b * per + SLACK, device="cuda")[: b * per].view(b, per).int()
    fills = torch.full((b,), c["capacity"], dtype=torch.int32, device="cuda")
    q = torch.randn(b, hq, 1, D, dtype=torch.bfloat16, device="cuda")
    kv = torch.randn(b, 1, c["capacity"], D, dtype=torch.bfloat16, device="cuda")
    v = kv[..., :DV].contiguous()
    qf = q.transpose(1, 2).contiguous()  # heads folded into the query rows
    ours = triton.testing.do_bench(lambda: at.mla_decode_attention(q, pool, fills, table),
                                   return_mode="median")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def sdpa():
        with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
            return torch.nn.functional.scaled_dot_product_attention(qf, kv, v,
                                                                    scale=1 / math.sqrt(D))
    theirs = triton.testing.do_bench(sdpa, return_mode="median")
    row = dict(shape=c, ours_ms=ours, sdpa_efficient_ms=theirs, speedup=theirs / ours)
    print(f"timed B={b} Hq={hq} Lk={c['capacity']}: ours {ours * 1e3:.1f} us, "
          f"SDPA efficient {theirs * 1e3:.1f} us ({theirs / ours:.2f}x)", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--out", default="/tmp/out")
    args = ap.parse_args()
    if args.prepare:
        return prepare()
    results = []
    ok = check(results)
    timed = bench() if ok else None
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "mla_decode_torch_check.json"), "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), checks=results, timed=timed), f,
                  indent=1)
    print(f"checks {sum(r['ok'] for r in results)}/{len(results)}", flush=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
