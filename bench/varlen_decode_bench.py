#!/usr/bin/env python3
"""Varlen decode over paged caches (issue #15) on the device: the decode
family's kernels for a packed batch of N sequences with a few query tokens
each (cu_seqlens_q), every sequence attending to its own cache (key_lengths,
a block table over shuffled pages or a contiguous [N, Lk, Hkv, D] cache).

One kernel per variant (static N and total query rows T, as a serving
engine's captured batch sizes) serves every composition: random
cu_seqlens_q (sequences of 0 to 8 tokens), key lengths (0, 1, the full
cache, off the pages) and page permutations are each checked against a
float64 per-sequence reference (bottom-right causal and window aligned at
key_lengths[n] - lq_n, GQA/MQA/MHA, bf16/f16, D 64/128/256, LSE, with and
without KV splits). Then the timing kernels (vdb_*) run serving shapes
against our own dense decode kernel on the padded batch (decode_bench's
kernel: B = N, Lq = max tokens, key_lengths; paged and contiguous) and torch
SDPA on the padded batch (K/V already dense, a boolean mask for the
lengths), with the KV bytes read per call against the copy bandwidth.

Kernels come from bench/varlen_prepare.sh (ATTN_VARLEN_DECODE=1). Alone:
  python3 .device-varlen/varlen_decode_bench.py --lib /tmp/rt/lib/libAttnRuntimeC.so \
      --kernels .device-varlen/kernels --out /tmp/out
"""

import argparse
import json
import math
import os
import random
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from device_bench import Runtime, visible  # noqa: E402
from decode_bench import (ArgLauncher, alibi_slopes, copy_bandwidth,  # noqa: E402
                          load_manifest, parse_flags, time_rotated)


def spec_of(kdir, name):
    """decode_bench's flags plus --varlen's entries (N and T are static)."""
    text = open(os.path.join(kdir, name + ".flags")).read()
    spec = parse_flags(text)
    entries = next(t for t in text.split() if t.startswith("--varlen=")).split("=")[1]
    spec["n"] = len(entries.split(","))
    spec["tq"] = sum(int(e.split(":")[0]) for e in entries.split(","))
    return spec


def composition(spec, rng, max_tokens=8):
    """Random query tokens per sequence summing to T (0 allowed) and key
    lengths in [0, Lk] with the edges (0, 1, Lk, a page +- 1) likely."""
    n, tq, lk = spec["n"], spec["tq"], spec["lk"]
    q = [0] * n
    for _ in range(tq):
        open_seqs = [i for i in range(n) if q[i] < max_tokens] or list(range(n))
        q[rng.choice(open_seqs)] += 1
    page = spec["page"] or 16
    edges = [0, 1, lk, lk - 1, page, page + 1, max(0, page - 1)]
    k = [rng.choice(edges) if rng.random() < 0.3 else rng.randint(0, lk) for _ in range(n)]
    return q, [min(max(x, 0), lk) for x in k]


def make(spec, margs, q_tokens, key_lens, dt, rng):
    """The launch pool (by manifest name) and the dense caches [N, Lk, Hkv, D]."""
    n, lk, hkv = spec["n"], spec["lk"], spec["hkv"]
    tq = sum(q_tokens)
    cu = [0]
    for t in q_tokens:
        cu.append(cu[-1] + t)
    q = torch.randn(1, tq, spec["hq"], spec["d"], device="cuda", dtype=dt)
    kd = torch.randn(n, lk, hkv, spec["d"], device="cuda", dtype=dt)
    vd = torch.randn(n, lk, hkv, spec["dv"], device="cuda", dtype=dt)
    pool = dict(q=q, cu_seqlens_q=torch.tensor(cu, dtype=torch.int32, device="cuda"),
                key_lengths=torch.tensor(key_lens, dtype=torch.int32, device="cuda"),
                o=torch.full((1, tq, spec["hq"], spec["dv"]), float("nan"), device="cuda",
                             dtype=dt),
                lse=torch.full((1, spec["hq"], tq), float("nan"), device="cuda",
                               dtype=torch.float32))
    if spec["page"]:
        page = spec["page"]
        per = lk // page
        perm = list(range(n * per))
        rng.shuffle(perm)
        table = torch.tensor(perm, dtype=torch.int32, device="cuda").view(n, per)
        for name, dense in (("k_pages", kd), ("v_pages", vd)):
            pages = torch.randn(n * per, page, hkv, dense.shape[-1], device="cuda", dtype=dt)
            pages[table.view(-1).long()] = dense.reshape(n * per, page, hkv, dense.shape[-1])
            pool[name] = pages
        pool["block_table"] = table
    else:
        pool["k"], pool["v"] = kd, vd
    return pool, kd, vd, cu


def reference(spec, q, kd, vd, cu, key_lens):
    """float64 O [T, Hq, Dv] and LSE [Hq, T]: sequence n is the dense op on
    its rows and the first key_lengths[n] rows of cache n (ALiBi over its
    own distance i + key_lengths[n] - lq_n - j)."""
    g = spec["hq"] // spec["hkv"]
    tq = q.shape[1]
    out = torch.zeros(tq, spec["hq"], spec["dv"], dtype=torch.float64, device="cuda")
    lse = torch.full((spec["hq"], tq), -math.inf, dtype=torch.float64, device="cuda")
    for n in range(spec["n"]):
        q0, q1, lk = cu[n], cu[n + 1], key_lens[n]
        if q1 == q0 or lk == 0:
            continue
        qs = q[0, q0:q1].double().transpose(0, 1)
        ks = kd[n, :lk].double().transpose(0, 1).repeat_interleave(g, 0)
        vs = vd[n, :lk].double().transpose(0, 1).repeat_interleave(g, 0)
        s = qs @ ks.transpose(-1, -2) / math.sqrt(spec["d"])
        if spec["alibi"]:
            slopes = torch.tensor(alibi_slopes(spec["hq"]), dtype=torch.float64,
                                  device="cuda").view(-1, 1, 1)
            i = torch.arange(q1 - q0, device="cuda").view(-1, 1)
            j = torch.arange(lk, device="cuda").view(1, -1)
            s = s - slopes * (i + lk - (q1 - q0) - j).abs().double()
        s = s.masked_fill(~visible(spec, "cuda", q1 - q0, lk), -math.inf)
        m = s.amax(-1, keepdim=True)
        m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
        p = torch.exp(s - m)
        l = p.sum(-1, keepdim=True)
        out[q0:q1] = torch.where(l > 0, (p @ vs) / l, torch.zeros_like(l)).transpose(0, 1)
        lse[:, q0:q1] = torch.where(l[..., 0] > 0, m[..., 0] + torch.log(l[..., 0]),
                                    torch.full_like(l[..., 0], -math.inf))
    return out, lse


def check(rt, kdir, name, draws, seed, results):
    spec = spec_of(kdir, name)
    margs = load_manifest(kdir, name)
    path = os.path.join(kdir, name)
    handle = rt.load(path + ".sm_90.cubin", path + ".json")
    dt = torch.bfloat16 if spec["dtype"] == "bf16" else torch.float16
    rng = random.Random(seed)
    ok_all = True
    for i in range(draws):
        q_tokens, key_lens = composition(spec, rng)
        if i == 0:  # every sequence one token where T allows: plain decode
            q_tokens = [1] * spec["n"] if spec["tq"] == spec["n"] else q_tokens
        pool, kd, vd, cu = make(spec, margs, q_tokens, key_lens, dt, rng)
        # Twice: the split counters must re-arm for the next launch.
        for _ in range(2):
            ArgLauncher(rt, handle, margs, pool, sync=True)()
        torch.cuda.synchronize()
        ro, rl = reference(spec, pool["q"], kd, vd, cu, key_lens)
        ours = pool["o"][0].double()
        unwritten = int(torch.isnan(ours).sum())
        err = (ours - ro).abs().nan_to_num(math.inf).max().item()
        bound = 2e-2 if dt == torch.bfloat16 else 4e-3
        lse_err = None
        if spec["lse"]:
            ol = pool["lse"][0].double()
            finite = torch.isfinite(rl)
            lse_err = (ol[finite] - rl[finite]).abs().max().item() if finite.any() else 0.0
            if not torch.equal(torch.isinf(ol), torch.isinf(rl)) or torch.isnan(ol).any():
                lse_err = float("inf")
        ok = unwritten == 0 and err <= bound and (lse_err is None or lse_err < 1e-2)
        ok_all &= ok
        results.append(dict(kernel=name, q_tokens=q_tokens, key_lengths=key_lens,
                            max_abs_err=err, bound=bound, lse_err=lse_err,
                            unwritten=unwritten, ok=ok))
        print(f"check {name:34s} N={spec['n']:3d} T={spec['tq']:4d} "
              f"maxq={max(q_tokens)} err={err:.2e} lse={lse_err} unwritten={unwritten} "
              f"{'OK' if ok else 'FAIL'}", flush=True)
    return ok_all


def sanitize(rt, kdir):
    """One paged kernel under compute-sanitizer: key lengths past the cache
    and offsets past T or decreasing (clamped: wrong rows, no access
    outside the operands), then a valid draw."""
    name = sorted(f[:-6] for f in os.listdir(kdir)
                  if f.startswith("vd_check") and f.endswith(".flags") and "paged" in f)[0]
    spec = spec_of(kdir, name)
    margs = load_manifest(kdir, name)
    path = os.path.join(kdir, name)
    handle = rt.load(path + ".sm_90.cubin", path + ".json")
    rng = random.Random(7)
    q_tokens, key_lens = composition(spec, rng)
    pool, *_ = make(spec, margs, q_tokens, key_lens, torch.bfloat16, rng)
    n, tq = spec["n"], spec["tq"]
    bad = [("lengths_past_cache", None, [spec["lk"] * 4, -7] + [spec["lk"] + 1] * (n - 2)),
           ("offsets_past_T", [0] + [tq * 3] * n, None),
           ("offsets_decreasing", [0, tq] + [1] * (n - 1), None)]
    for case, cu, lens in bad:
        if cu is not None:
            pool["cu_seqlens_q"] = torch.tensor(cu, dtype=torch.int32, device="cuda")
        if lens is not None:
            pool["key_lengths"] = torch.tensor(lens, dtype=torch.int32, device="cuda")
        ArgLauncher(rt, handle, margs, pool, sync=True)()
        torch.cuda.synchronize()
        print(f"sanitize {name} {case}: launched", flush=True)
    return True


def time_shapes(rt, kdir, reps_sets, out_rows):
    """vdb_<shape>_{varlen,dense_paged,dense_contig}: our varlen kernel, our
    dense decode kernel on the padded batch, torch SDPA on the padded batch."""
    from triton.testing import do_bench
    copy_tbps = copy_bandwidth(do_bench)
    print(f"copy bandwidth {copy_tbps:.2f} TB/s", flush=True)
    shapes = sorted({f.split("__")[0] for f in os.listdir(kdir)
                     if f.startswith("vdb_") and f.endswith(".flags")})
    for shape in shapes:
        vname = shape + "__varlen"
        spec = spec_of(kdir, vname)
        rng = random.Random(1)
        n, lk, tq = spec["n"], spec["lk"], spec["tq"]
        per_seq = tq // n
        q_tokens = [per_seq] * n
        # Ragged caches, a serving batch's: lengths uniform in [Lk / 4, Lk].
        key_lens = [rng.randint(lk // 4, lk) for _ in range(n)]
        dt = torch.bfloat16
        margs = load_manifest(kdir, vname)
        pool, kd, vd, cu = make(spec, margs, q_tokens, key_lens, dt, rng)
        handle = rt.load(os.path.join(kdir, vname) + ".sm_90.cubin",
                         os.path.join(kdir, vname) + ".json")
        fns = {"attn-mlir varlen paged": ArgLauncher(rt, handle, margs, pool)}
        fns["attn-mlir varlen paged"]()
        torch.cuda.synchronize()
        ro, _ = reference(spec, pool["q"], kd, vd, cu, key_lens)
        errs = {"attn-mlir varlen paged": (pool["o"][0].double() - ro).abs().max().item()}
        # The padded batch: q [N, Hq, per_seq, D], the same caches as
        # [N, Hkv, Lk, D].
        qp = pool["q"][0].view(n, per_seq, spec["hq"], spec["d"]).transpose(1, 2).contiguous()
        kp = kd.transpose(1, 2).contiguous()
        vp = vd.transpose(1, 2).contiguous()
        lens_t = pool["key_lengths"]
        want = ro.view(n, per_seq, spec["hq"], spec["dv"]).transpose(1, 2)
        for kind in ("dense_paged", "dense_contig"):
            dname = f"{shape}__{kind}"
            if not os.path.exists(os.path.join(kdir, dname + ".json")):
                continue
            dmargs = load_manifest(kdir, dname)
            dpool = dict(q=qp, key_lengths=lens_t,
                         o=torch.full_like(qp, float("nan")),
                         lse=torch.empty(n, spec["hq"], per_seq, device="cuda"))
            if kind == "dense_paged":
                dpool["k_pages"], dpool["v_pages"], dpool["block_table"] = (
                    pool["k_pages"], pool["v_pages"], pool["block_table"])
            else:
                dpool["k"], dpool["v"] = kp, vp
            dh = rt.load(os.path.join(kdir, dname) + ".sm_90.cubin",
                         os.path.join(kdir, dname) + ".json")
            label = "attn-mlir dense decode " + kind.split("_")[1]
            fns[label] = ArgLauncher(rt, dh, dmargs, dpool)
            fns[label]()
            torch.cuda.synchronize()
            errs[label] = (dpool["o"].double() - want).abs().max().item()
        # SDPA: a boolean mask of each row's visible keys (length and
        # bottom-right causal), K/V dense already (no gather timed).
        j = torch.arange(lk, device="cuda")
        i = torch.arange(per_seq, device="cuda")
        mask = j[None, None, :] <= (i[None, :, None] + lens_t[:, None, None] - per_seq)
        if spec["mask"] == "none":
            mask = j[None, None, :] < lens_t[:, None, None].expand(n, per_seq, 1)
        mask = mask[:, None]
        sdpa = lambda: F.scaled_dot_product_attention(qp, kp, vp, attn_mask=mask,
                                                      enable_gqa=True)
        try:
            got = sdpa()
            rows_ok = torch.tensor(key_lens, device="cuda") > 0
            errs["torch sdpa padded"] = (got.double() - want)[rows_ok].abs().max().item()
            fns["torch sdpa padded"] = sdpa
        except Exception as e:
            errs["torch sdpa padded"] = f"{type(e).__name__}: {str(e)[:160]}"
        kv_bytes = sum(key_lens) * spec["hkv"] * (spec["d"] + spec["dv"]) * 2
        padded_bytes = n * lk * spec["hkv"] * (spec["d"] + spec["dv"]) * 2
        for label, fn in fns.items():
            t = time_rotated([fn] * reps_sets)
            row = dict(shape=shape, path=label, n=n, tokens_per_seq=per_seq, lk=lk,
                       page=spec["page"], mask=spec["mask"], ms=t["ms"],
                       p10_ms=t["p10_ms"], p90_ms=t["p90_ms"],
                       kv_gb=kv_bytes / 1e9, max_abs_err=errs[label],
                       tbps=kv_bytes / t["ms"] / 1e9,
                       frac_copy=kv_bytes / t["ms"] / 1e9 / copy_tbps,
                       padded_tbps=padded_bytes / t["ms"] / 1e9)
            out_rows.append(row)
            print(json.dumps(row), flush=True)
        for label, e in errs.items():
            if label not in fns:
                out_rows.append(dict(shape=shape, path=label, error=e))
                print(f"{shape} {label}: {e}", flush=True)
    return copy_tbps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--kernels", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sets", type=int, default=2)
    parser.add_argument("--sanitize", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(15)
    rt = Runtime(args.lib)
    if args.sanitize:
        return 0 if sanitize(rt, args.kernels) else 1
    checks = []
    names = sorted(f[:-6] for f in os.listdir(args.kernels)
                   if f.startswith("vd_check") and f.endswith(".flags"))
    for i, name in enumerate(names):
        try:
            check(rt, args.kernels, name, 8, 100 + i, checks)
        except Exception as e:  # report, never hide
            checks.append(dict(kernel=name, ok=False, error=str(e)[:400]))
            print(f"check {name} ERROR {e}", flush=True)
    bad = [c for c in checks if not c["ok"]]
    rows, copy_tbps = [], None
    if not bad:
        copy_tbps = time_shapes(rt, args.kernels, args.sets, rows)
    else:
        print("timing skipped: a check failed", flush=True)
    result = dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                  copy_tbps=copy_tbps, checks=checks, timing=rows)
    with open(os.path.join(args.out, "varlen_decode.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "varlen_decode.md"), "w") as f:
        f.write(f"# Varlen decode over caches, {result['device']}, torch {result['torch']}\n\n")
        f.write(f"Checks vs float64: {len(checks) - len(bad)}/{len(checks)} OK; "
                f"copy bandwidth {copy_tbps} TB/s\n\n")
        f.write("| shape | path | N | tok/seq | Lk | ms | KV TB/s | of copy | max err |\n")
        f.write("|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            if "ms" not in r:
                f.write(f"| {r['shape']} | {r['path']} | | | | | | | {r['error']} |\n")
                continue
            f.write(f"| {r['shape']} | {r['path']} | {r['n']} | {r['tokens_per_seq']} | "
                    f"{r['lk']} | {r['ms']:.4f} | {r['tbps']:.2f} | {r['frac_copy']:.2f} | "
                    f"{r['max_abs_err']:.2e} |\n")
    print(f"{len(checks)} checks, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
