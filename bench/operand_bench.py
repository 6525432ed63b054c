#!/usr/bin/env python3
"""Device checks and timings of the score operands (issue #15): additive
bias, boolean mask, mask_mod and attention sinks.

Kernels staged by bench/prepare.sh (its op_variants): check_op_* are
checked against a float64 reference, bench_op_* timed against
torch.compile(flex_attention) (score_mod adding the bias, block_mask from the
mask_mod) and SDPA with an attn_mask (the bias, or the mask_mod's boolean
pattern, with causal folded in). Inputs are built from each kernel's
manifest, so broadcast shapes ([1, 1, Lq, Lk], [B, 1, 1, Lk]) are whatever
the compiled op took: q, k, v (normal), bias (normal), mask (70% kept, plus
fully masked rows or sequences, which must give O = 0 and LSE = -inf, or
LSE = sinks[h] with sinks), sinks (normal, std 2). Outputs are poisoned
with NaN first.

Called by device_bench.py (run_prefill); alone: operand_bench.py --lib ...
--kernels DIR [--match REGEX] [--skip-flex].
"""
import argparse
import glob
import math
import os
import re
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decode_bench as db  # noqa: E402  (ArgLauncher, load_manifest, TORCH_DTYPE)


def is_operand(name):
    return name.startswith(("check_op_", "bench_op_"))


def harness_flags(kdir, name):
    """The mask kind, window and mask_mod of a kernel (its .flags file)."""
    text = open(os.path.join(kdir, name + ".flags")).read().split()
    f = dict(mask="causal", mask_mod="none", wl=256, wr=0)
    for tok in text:
        k, _, v = tok.partition("=")
        key = {"--mask": "mask", "--mask-mod": "mask_mod", "--window-left": "wl",
               "--window-right": "wr"}.get(k)
        if key:
            f[key] = int(v) if key in ("wl", "wr") else v
    return f


def mask_mod_keep(name, i, j):
    """The mask_mod `name` at query i and key j (torch tensors, broadcast):
    the spec's prefix-lm and the regions of bench/mlir/op_maskmod_*.mlir.
    FlexAttention's mask_mod calls it too."""
    if name == "prefix-lm":
        return (j <= i) | (j < 4)
    if name == "window-256":
        return (i - j < 256) & (j <= i)
    if name == "document-1000-2500":
        def doc(x):
            return (x >= 1000).to(torch.int32) + (x >= 2500).to(torch.int32)
        return doc(i) == doc(j)
    raise ValueError(name)


def keep_by_position(flags, lq, lk, device):
    """[Lq, Lk] bool: the mask kind and the mask_mod (AttnOps.td)."""
    i = torch.arange(lq, device=device)[:, None]
    j = torch.arange(lk, device=device)[None, :]
    off = lk - lq
    m = flags["mask"]
    if m == "none":
        keep = torch.ones(lq, lk, dtype=torch.bool, device=device)
    elif m == "causal-top-left":
        keep = j <= i
    elif m in ("causal", "causal-bottom-right"):
        keep = j <= i + off
    elif m == "sliding-window":
        keep = (j >= i + off - flags["wl"]) & (j <= i + off + flags["wr"])
    else:
        raise ValueError(m)
    if flags["mask_mod"] != "none":
        keep = keep & mask_mod_keep(flags["mask_mod"], i, j)
    return keep


def make_pool(margs):
    """Tensors for every non-workspace manifest argument, by name."""
    a = db.margs_by_name(margs)
    pool = {}
    for name in ("q", "k", "v"):
        pool[name] = torch.randn(a[name]["shape"], device="cuda",
                                 dtype=db.TORCH_DTYPE[a[name]["dtype"]])
    if "bias" in a:
        pool["bias"] = torch.randn(a["bias"]["shape"], device="cuda",
                                   dtype=db.TORCH_DTYPE[a["bias"]["dtype"]])
    if "mask" in a:
        shape = a["mask"]["shape"]
        mask = torch.rand(shape, device="cuda") < 0.7
        # Rows that see no key at all: query row 5 where the mask has rows,
        # else the whole of sequence 1 (a padded-out sequence).
        if shape[2] > 5:
            mask[:, :, 5, :] = False
        elif shape[0] > 1:
            mask[1] = False
        pool["mask"] = mask.contiguous()
    if "sinks" in a:
        pool["sinks"] = 2 * torch.randn(a["sinks"]["shape"], device="cuda", dtype=torch.float32)
    for name in ("o", "lse"):
        if name in a:
            pool[name] = torch.full(a[name]["shape"], float("nan"), device="cuda",
                                    dtype=db.TORCH_DTYPE[a[name]["dtype"]])
    return pool


def reference(pool, info, flags):
    """float64 (O, LSE) [B, Hq, Lq, (Dv)], in AttnOps.td's order: scale,
    bias, masks (kind, mask operand, mask_mod), sinks in the denominator."""
    q, k, v = (pool[n].double() for n in ("q", "k", "v"))
    b, hq, lq, _ = q.shape
    g = hq // k.shape[1]
    k = k.repeat_interleave(g, 1)
    v = v.repeat_interleave(g, 1)
    s = (q @ k.transpose(-1, -2)) * info["scale"]
    if "bias" in pool:
        s = s + pool["bias"].double().expand_as(s)
    keep = keep_by_position(flags, lq, k.shape[2], q.device).expand_as(s)
    if "mask" in pool:
        keep = keep & pool["mask"].expand_as(s)
    s = s.masked_fill(~keep, float("-inf"))
    m = s.amax(-1, keepdim=True)
    if "sinks" in pool:
        z = pool["sinks"].double()[info.get("head_offset", 0):][:hq].view(1, hq, 1, 1)
        m = torch.maximum(m, z.expand_as(m))
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    p = torch.exp(s - m)
    l = p.sum(-1, keepdim=True)
    if "sinks" in pool:
        l = l + torch.exp(z - m)
    o = torch.where(l > 0, (p @ v) / l, torch.zeros_like(l))
    lse = torch.where(l[..., 0] > 0, m[..., 0] + torch.log(l[..., 0]),
                      torch.full_like(l[..., 0], float("-inf")))
    return o, lse


def load(rt, kdir, name):
    cubins = sorted(glob.glob(os.path.join(kdir, name + ".sm_90*.cubin")))
    return rt.load(cubins[0], os.path.join(kdir, name + ".json"))


def check(rt, kdir, name, results):
    margs = db.load_manifest(kdir, name)
    manifest = db.json.load(open(os.path.join(kdir, name + ".json")))
    info, flags = manifest["attention"], harness_flags(kdir, name)
    pool = make_pool(margs)
    db.ArgLauncher(rt, load(rt, kdir, name), margs, pool, sync=True)()
    torch.cuda.synchronize()
    ro, rl = reference(pool, info, flags)
    o = pool["o"].double()
    unwritten = int(torch.isnan(o).sum())
    err = (o - ro).abs().max().item()
    # No torch kernel computes the same problem in bf16/f16 for every case:
    # the rounding of P and O bounds the error (as device_bench.py without
    # a flash yardstick).
    bound = 2e-2 if pool["q"].dtype == torch.bfloat16 else 4e-3
    lse_err = None
    if "lse" in pool:
        ol = pool["lse"].double()
        finite = torch.isfinite(rl)
        lse_err = (ol[finite] - rl[finite]).abs().max().item() if finite.any() else 0.0
        if not torch.equal(torch.isinf(ol), torch.isinf(rl)):
            lse_err = float("inf")
    family = manifest["family"]
    # The hopper kernel takes no score operand: kernel=auto must fall back.
    family_ok = "hopper_fallback" not in name or family == "prefill"
    ok = unwritten == 0 and err <= bound and (lse_err is None or lse_err < 1e-2) and family_ok
    results.append(dict(name=name, family=family, max_abs_err=err, flash_err=None,
                        bound=bound, lse_err=lse_err, unwritten=unwritten, ok=ok))
    print(f"check {name:40s} [{family}] err={err:.2e} lse={lse_err} unwritten={unwritten} "
          f"{'OK' if ok else 'FAIL'}", flush=True)


def time_shape(rt, kdir, names, do_bench, flex):
    """One row per bench_op_ shape: ours vs flex and SDPA with attn_mask."""
    rows = []
    for name in names:
        margs = db.load_manifest(kdir, name)
        manifest = db.json.load(open(os.path.join(kdir, name + ".json")))
        info, flags = manifest["attention"], harness_flags(kdir, name)
        pool = make_pool(margs)
        launch = db.ArgLauncher(rt, load(rt, kdir, name), margs, pool)
        q, k, v = pool["q"], pool["k"], pool["v"]
        b, h, lq, d = q.shape
        lk = k.shape[2]
        causal = flags["mask"] != "none"
        bench = lambda fn: do_bench(fn, warmup=25, rep=100, return_mode="median")  # noqa: E731
        row = dict(shape=name, batch=b, hq=h, lq=lq, d=d, mask=flags["mask"],
                   mask_mod=flags["mask_mod"], bias="bias" in pool)
        row["ms_ours"] = bench(launch)
        keep = keep_by_position(flags, lq, lk, q.device)
        # SDPA: the bias (causal folded in as -inf) or the boolean pattern.
        if "bias" in pool:
            sdpa_mask = pool["bias"].masked_fill(~keep, float("-inf")) if causal else pool["bias"]
        elif flags["mask_mod"] != "none":
            sdpa_mask = keep
        else:
            sdpa_mask = None
        try:
            fn = (lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=sdpa_mask)) \
                if sdpa_mask is not None else \
                (lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
            row["ms_sdpa"] = bench(fn)
        except RuntimeError as e:
            row["sdpa_error"] = str(e)[:200]
        if flex is not None:
            try:
                from torch.nn.attention.flex_attention import create_block_mask
                off = lk - lq

                def mask_mod(bb, hh, qi, ki):
                    vis = ki <= qi + off if causal else ki >= 0
                    if flags["mask_mod"] != "none":
                        vis = vis & mask_mod_keep(flags["mask_mod"], qi, ki)
                    return vis
                bm = None
                if causal or flags["mask_mod"] != "none":
                    bm = create_block_mask(mask_mod, None, None, lq, lk, device="cuda")
                score_mod = None
                if "bias" in pool:
                    bias = pool["bias"]

                    def score_mod(score, bb, hh, qi, ki):
                        return score + bias[bb, hh, qi, ki]
                fn = lambda: flex(q, k, v, score_mod=score_mod, block_mask=bm)  # noqa: E731
                fn()
                row["ms_flex"] = bench(fn)
            except Exception as e:  # report, never hide
                row["flex_error"] = str(e)[:200]
        for anchor in ("sdpa", "flex"):
            if "ms_" + anchor in row:
                row["vs_" + anchor] = row["ms_" + anchor] / row["ms_ours"]
        print(db.json.dumps(row), flush=True)
        rows.append(row)
        del pool, q, k, v
        torch.cuda.empty_cache()
    return rows


def run(rt, kdir, names, do_bench, skip_flex=False):
    """(checks, rows, markdown lines) of the check_op_ and bench_op_ kernels
    among `names`."""
    checks = []
    for n in names:
        if n.startswith("check_op_"):
            try:
                check(rt, kdir, n, checks)
            except Exception as e:  # report, never hide
                checks.append(dict(name=n, ok=False, error=str(e)))
                print(f"check {n} ERROR {e}", flush=True)
    flex = None
    timed = [n for n in names if n.startswith("bench_op_")]
    if timed and not skip_flex:
        from torch import _dynamo
        _dynamo.config.cache_size_limit = 1000
        from torch.nn.attention.flex_attention import flex_attention
        flex = torch.compile(flex_attention)
    rows = time_shape(rt, kdir, timed, do_bench, flex) if timed else []
    fmt = lambda r, k: f"{r[k]:.3f}" if k in r else "-"  # noqa: E731
    lines = ["", "## Score operands (bias, mask_mod) vs SDPA attn_mask and FlexAttention", "",
             "| kernel | B | H | L | D | mask | mask_mod | bias | ours ms | SDPA ms | x SDPA | flex ms | x flex |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['batch']} | {r['hq']} | {r['lq']} | {r['d']} | {r['mask']} | "
                     f"{r['mask_mod']} | {r['bias']} | {r['ms_ours']:.3f} | {fmt(r, 'ms_sdpa')} | "
                     f"{fmt(r, 'vs_sdpa')} | {fmt(r, 'ms_flex')} | {fmt(r, 'vs_flex')} |")
    return checks, rows, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--match", default=None)
    ap.add_argument("--skip-flex", action="store_true")
    args = ap.parse_args()
    from triton.testing import do_bench
    from device_bench import Runtime
    torch.manual_seed(0)
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(args.kernels, "*.json")))
    names = [n for n in names if is_operand(n) and (not args.match or re.search(args.match, n))]
    checks, _, lines = run(Runtime(args.lib), args.kernels, names, do_bench, args.skip_flex)
    print("\n".join(lines))
    bad = [c["name"] for c in checks if not c["ok"]]
    print("FAILED CHECKS:", bad if bad else "none")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
