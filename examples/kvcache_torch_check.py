"""attn_mlir.torch.kvcache_attention on CUDA tensors: random decode and
speculative-decode steps over paged (shuffled pages of a shared pool) and
contiguous caches, checked against a float64 reference computed sequence
by sequence; then one decode step timed against torch SDPA on the same
caches gathered dense (what a model without a paged kernel runs).

Here (with the compiler): python3 examples/kvcache_torch_check.py --prepare
compiles the kernels into $ATTN_MLIR_CACHE_DIR (examples/kvcache_torch_prepare.sh).
On the GPU machine: bash .device/kvcache_torch/run.sh (the cache, the
runtime, no compiler). Exit status 1 when a check fails."""

import argparse
import json
import math
import os
import sys

import torch

import attn_mlir.torch as at

# (Hq, Hkv, D, dtype, page size (0: contiguous caches), capacity)
CONFIGS = ((32, 8, 128, torch.bfloat16, 16, 512), (8, 1, 64, torch.float16, 64, 1024),
           (16, 16, 128, torch.bfloat16, 0, 384))
# (N sequences, T packed query rows): decode steps and speculative ones.
STEPS = ((1, 1), (8, 8), (8, 21), (33, 33))
POOL_SLACK = 5  # pages of the pool no sequence owns
TIMED = dict(hq=32, hkv=8, d=128, page=16, capacity=4096, n=32)


def pool_of(n, per, page, hkv, d, dtype, g, device):
    """Dense caches [N, Lk, Hkv, D] and the same rows in shuffled pages of
    a pool with POOL_SLACK spare pages."""
    k = torch.randn(n, per * page, hkv, d, generator=g).to(dtype).to(device)
    v = torch.randn(n, per * page, hkv, d, generator=g).to(dtype).to(device)
    order = torch.randperm(n * per + POOL_SLACK, generator=g)[:n * per]
    table = order.view(n, per).int().to(device)
    pools = []
    for dense in (k, v):
        pool = torch.randn(n * per + POOL_SLACK, page, hkv, d, generator=g).to(dtype)
        pool = pool.to(device)
        pool[order.to(device)] = dense.reshape(n * per, page, hkv, d)
        pools.append(pool)
    return k, v, pools[0], pools[1], table


def composition(n, t, capacity, g):
    """cu_seqlens_q (T rows over N sequences, some with none when T allows)
    and fill levels with the edges (0, 1, full) likely."""
    rows = torch.ones(n, dtype=torch.int64) if t == n else \
        torch.bincount(torch.randint(0, n, (t,), generator=g), minlength=n)
    fills = torch.randint(0, capacity + 1, (n,), generator=g)
    edges = torch.tensor([0, 1, capacity, capacity - 1])
    pick = torch.rand(n, generator=g) < 0.3
    fills[pick] = edges[torch.randint(0, 4, (int(pick.sum()),), generator=g)]
    fills = torch.maximum(fills, rows * (fills > 0))  # speculative rows fit their keys
    return torch.cat([torch.zeros(1, dtype=torch.int64), rows.cumsum(0)]).int(), fills.int()


def reference(q, k, v, cu_q, fills):
    """float64 out [T, Hq, Dv], causal bottom-right per sequence."""
    out = torch.zeros(q.shape[:2] + v.shape[3:], dtype=torch.float64, device=q.device)
    group = q.shape[1] // k.shape[2]
    for n in range(fills.numel()):
        q0, q1, lk = int(cu_q[n]), int(cu_q[n + 1]), int(fills[n])
        if q1 == q0 or lk == 0:
            continue
        qs = q[q0:q1].double().transpose(0, 1)
        ks = k[n, :lk].double().repeat_interleave(group, 1).transpose(0, 1)
        vs = v[n, :lk].double().repeat_interleave(group, 1).transpose(0, 1)
        s = qs @ ks.transpose(1, 2) / math.sqrt(q.shape[2])
        i = torch.arange(q1 - q0, device=q.device)[:, None] + (lk - (q1 - q0))
        j = torch.arange(lk, device=q.device)[None, :]
        s = s.masked_fill(j > i, -math.inf)
        out[q0:q1] = (torch.softmax(s, -1).nan_to_num(0.0) @ vs).transpose(0, 1)
    return out


def meta_args(hq, hkv, d, dtype, page, capacity, n, t):
    q = torch.empty(t, hq, d, dtype=dtype, device="meta")
    lengths = torch.empty(n, dtype=torch.int32, device="meta")
    cu = torch.empty(n + 1, dtype=torch.int32, device="meta")
    if page:
        per = capacity // page
        pool = torch.empty(n * per + POOL_SLACK, page, hkv, d, dtype=dtype, device="meta")
        return q, pool, pool, lengths, cu, torch.empty(n, per, dtype=torch.int32,
                                                        device="meta")
    cache = torch.empty(n, capacity, hkv, d, dtype=dtype, device="meta")
    return q, cache, cache, lengths, cu, None


def prepare():
    for hq, hkv, d, dtype, page, capacity in CONFIGS:
        for n, t in STEPS:
            at.kvcache_kernel(*meta_args(hq, hkv, d, dtype, page, capacity, n, t),
                              causal=True)
    c = TIMED
    at.kvcache_kernel(*meta_args(c["hq"], c["hkv"], c["d"], torch.bfloat16, c["page"],
                                 c["capacity"], c["n"], c["n"]), causal=True)
    print("kvcache_torch_check --prepare: kernels compiled")


def check(results):
    g = torch.Generator().manual_seed(11)
    ok = True
    for hq, hkv, d, dtype, page, capacity in CONFIGS:
        for n, t in STEPS:
            per = capacity // (page or capacity)
            k, v, kp, vp, table = pool_of(n, per, page or capacity, hkv, d, dtype, g, "cuda")
            for draw in range(2):
                cu, fills = composition(n, t, capacity, g)
                q = torch.randn(t, hq, d, generator=g).to(dtype).cuda()
                if page:
                    got = at.kvcache_attention(q, kp, vp, fills.cuda(), cu.cuda(), table,
                                               causal=True)
                else:
                    got = at.kvcache_attention(q, k, v, fills.cuda(), cu.cuda(), causal=True)
                want = reference(q, k, v, cu, fills)
                err = (got.double() - want).abs().max().item()
                bound = 2e-2 if dtype == torch.bfloat16 else 5e-3
                row = {"heads": [hq, hkv, d], "dtype": str(dtype), "page": page,
                       "capacity": capacity, "n": n, "t": t, "fills": fills.tolist()[:8],
                       "err": err, "bound": bound, "ok": err <= bound}
                ok &= row["ok"]
                results.append(row)
                print(f"kvcache {row['heads']} {dtype} page={page} N={n} T={t} "
                      f"err={err:.2e} {'OK' if row['ok'] else 'FAIL'}", flush=True)
    return ok


def bench():
    """One decode step of TIMED, every cache full: ours on the paged pool vs
    SDPA on the dense caches (the copy a paged pool needs first not timed)."""
    import triton.testing
    c = TIMED
    g = torch.Generator().manual_seed(3)
    n, per = c["n"], c["capacity"] // c["page"]
    k, v, kp, vp, table = pool_of(n, per, c["page"], c["hkv"], c["d"], torch.bfloat16, g,
                                  "cuda")
    q = torch.randn(n, c["hq"], c["d"], generator=g).to(torch.bfloat16).cuda()
    fills = torch.full((n,), c["capacity"], dtype=torch.int32, device="cuda")
    cu = torch.arange(n + 1, dtype=torch.int32, device="cuda")
    ours = lambda: at.kvcache_attention(q, kp, vp, fills, cu, table, causal=True)  # noqa: E731
    qd = q[:, :, None]  # [N, Hq, 1, D]
    kd, vd = (x.transpose(1, 2) for x in (k, v))
    sdpa = lambda: torch.nn.functional.scaled_dot_product_attention(  # noqa: E731
        qd, kd, vd, enable_gqa=True)
    err = (ours().double() - reference(q, k, v, cu.cpu(), fills.cpu())).abs().max().item()
    t_ours = triton.testing.do_bench(ours, warmup=50, rep=300)
    t_sdpa = triton.testing.do_bench(sdpa, warmup=50, rep=300)
    moved = 2 * k.numel() * k.element_size()
    row = {"shape": c, "err": err, "ours_ms": t_ours, "sdpa_dense_ms": t_sdpa,
           "ours_GBps": moved / t_ours / 1e6, "sdpa_GBps": moved / t_sdpa / 1e6,
           "x_sdpa": t_sdpa / t_ours}
    print(f"bench kvcache GQA {c['hq']}/{c['hkv']} D={c['d']} N={n} Lk={c['capacity']} "
          f"page={c['page']}: ours {t_ours * 1e3:.1f} us ({row['ours_GBps']:.0f} GB/s), "
          f"SDPA on dense caches {t_sdpa * 1e3:.1f} us ({row['sdpa_GBps']:.0f} GB/s), "
          f"{row['x_sdpa']:.2f}x; err {err:.2e}", flush=True)
    return row


def run(out_dir):
    results = []
    ok = check(results)
    print(f"kvcache_torch_check: {sum(r['ok'] for r in results)}/{len(results)} OK, "
          f"{len(at.kernels_used())} kernels", flush=True)
    timing = bench()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    with open(os.path.join(out_dir, "kvcache_torch_check.json"), "w") as f:
        json.dump({"checks": results, "bench": timing,
                   "device": torch.cuda.get_device_name()}, f, indent=1)
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
