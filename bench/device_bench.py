#!/usr/bin/env python3
"""Device harness: correctness vs float64 and timing vs torch, in one call.

Loads the kernels staged by bench/prepare.sh through the attn runtime's C ABI
(libAttnRuntimeC.so, ctypes), checks each against a float64 reference (max
abs error must be <= 2x torch's flash backend on the same inputs, outputs
poisoned with NaN first, fresh random inputs), then times the prefill shapes
against SDPA flash, SDPA cuDNN and torch.compile(flex_attention) with
triton.testing.do_bench (median).

The decode kernels (decode_*, check_decode_*) are handled by decode_bench.py.

Usage: device_bench.py --lib build/lib/libAttnRuntimeC.so --kernels DIR --out DIR
                       [--only all|prefill|decode] [--match REGEX] [--skip-flex]
"""
import argparse
import ctypes
import datetime
import glob
import json
import math
import os
import re
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode_bench import is_decode  # noqa: E402
import operand_bench  # noqa: E402  (check_op_*, bench_op_*: bias, masks, sinks)


class Runtime:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.attnRuntimeLastError.restype = ctypes.c_char_p
        self.lib.attnKernelCreate.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                              ctypes.POINTER(ctypes.c_void_p)]
        self.lib.attnKernelLaunch.argtypes = [
            ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint64),
            ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int32),
            ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p, ctypes.c_int]

    def error(self):
        return self.lib.attnRuntimeLastError().decode()

    def load(self, image, manifest):
        handle = ctypes.c_void_p()
        if self.lib.attnKernelCreate(image.encode(), manifest.encode(),
                                     ctypes.byref(handle)):
            raise RuntimeError(self.error())
        return handle


DTYPES = {torch.bfloat16: b"bf16", torch.float16: b"f16", torch.float32: b"f32",
          torch.int32: b"i32"}


class Launcher:
    """Pre-packs the ctypes arguments so timing sees only the launch."""

    def __init__(self, rt, handle, tensors, sync=False):
        n = len(tensors)
        self.rt, self.handle, self.n, self.sync = rt, handle, n, sync
        self.ptrs = (ctypes.c_uint64 * n)(*[t.data_ptr() for t in tensors])
        self.dtypes = (ctypes.c_char_p * n)(*[DTYPES[t.dtype] for t in tensors])
        self.ranks = (ctypes.c_int32 * n)(*[t.dim() for t in tensors])
        dims = [d for t in tensors for d in t.shape]
        self.shapes = (ctypes.c_int64 * len(dims))(*dims)
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def __call__(self):
        if self.rt.lib.attnKernelLaunch(self.handle, self.n, self.ptrs,
                                        self.dtypes, self.ranks, self.shapes,
                                        self.stream, int(self.sync)):
            raise RuntimeError(self.rt.error())


def parse_flags(text):
    spec = dict(batch=1, hq=32, hkv=8, lq=1024, lk=1024, d=128, dv=0, dtype="bf16",
                mask="causal", wl=256, wr=0, softcap=0.0, lse=True,
                score_mod="none", alibi=False, bshd=False)
    keys = {"--batch": "batch", "--heads-q": "hq", "--heads-kv": "hkv",
            "--seq-q": "lq", "--seq-k": "lk", "--head-dim": "d",
            "--value-head-dim": "dv",
            "--dtype": "dtype", "--mask": "mask", "--window-left": "wl",
            "--window-right": "wr", "--softcap": "softcap", "--lse": "lse",
            "--score-mod": "score_mod", "--alibi": "alibi", "--bshd": "bshd"}
    for tok in text.split():
        k, _, v = tok.partition("=")
        if k not in keys:
            continue
        key = keys[k]
        if key in ("alibi", "bshd"):
            spec[key] = v != "false"
        elif key in ("dtype", "mask", "score_mod"):
            spec[key] = v
        elif key == "softcap":
            spec[key] = float(v)
        elif key == "lse":
            spec[key] = v != "false"
        else:
            spec[key] = int(v)
    # Dv: the columns of V and O (0: D, as attn-compile).
    spec["dv"] = spec["dv"] or spec["d"]
    return spec


def visible(spec, device, lq=None, lk=None):
    """[Lq, Lk] bool: key j visible to query i (AttnOps.td semantics); `lq`
    and `lk` replace the spec's lengths (a varlen batch's one sequence)."""
    lq = spec["lq"] if lq is None else lq
    lk = spec["lk"] if lk is None else lk
    i = torch.arange(lq, device=device)[:, None]
    j = torch.arange(lk, device=device)[None, :]
    off = lk - lq
    m = spec["mask"]
    if m == "none":
        return torch.ones(lq, lk, dtype=torch.bool, device=device)
    if m == "causal-top-left":
        return j <= i
    if m in ("causal", "causal-bottom-right"):
        return j <= i + off
    if m == "sliding-window":
        return (j >= i + off - spec["wl"]) & (j <= i + off + spec["wr"])
    raise ValueError(m)


def alibi_slopes(hq):
    """attn-compile --alibi: 2^(-8 (h + 1) / Hq)."""
    return [2.0 ** (-8.0 * (h + 1) / hq) for h in range(hq)]


def has_mods(spec):
    return spec["alibi"] or spec["score_mod"] != "none"


def reference(spec, q, k, v, heads=None):
    """float64 attention (O, LSE) over (b, h) pairs `heads` (all if None)."""
    g = spec["hq"] // spec["hkv"]
    vis = visible(spec, q.device)
    scale = 1.0 / math.sqrt(spec["d"])
    outs, lses = [], []
    pairs = heads or [(b, h) for b in range(spec["batch"]) for h in range(spec["hq"])]
    for b, h in pairs:
        qq = q[b, h].double()
        kk = k[b, h // g].double()
        vv = v[b, h // g].double()
        s = (qq @ kk.T) * scale
        if spec["softcap"]:
            s = spec["softcap"] * torch.tanh(s / spec["softcap"])
        # Modifiers in AttnOps.td order: ALiBi, then score_mod, then masks.
        i = torch.arange(spec["lq"], device=q.device, dtype=torch.float64)[:, None]
        j = torch.arange(spec["lk"], device=q.device, dtype=torch.float64)[None, :]
        if spec["alibi"]:
            s = s - alibi_slopes(spec["hq"])[h] * (i + spec["lk"] - spec["lq"] - j).abs()
        if spec["score_mod"] == "relative-bias":
            s = s + 0.01 * (j - i)
        elif spec["score_mod"] == "tanh-cap":
            s = 20.0 * torch.tanh(s / 20.0)
        elif spec["score_mod"] != "none":
            raise ValueError(spec["score_mod"])
        s = s.masked_fill(~vis, float("-inf"))
        m = s.amax(-1, keepdim=True)
        m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
        p = torch.exp(s - m)
        l = p.sum(-1, keepdim=True)
        o = torch.where(l > 0, (p @ vv) / l,
                        torch.zeros(1, device=q.device, dtype=torch.float64))
        lse = torch.where(l[:, 0] > 0, m[:, 0] + torch.log(l[:, 0]),
                          torch.full_like(l[:, 0], float("-inf")))
        outs.append(o)
        lses.append(lse)
    return torch.stack(outs), torch.stack(lses), pairs


def make_inputs(spec):
    dt = torch.bfloat16 if spec["dtype"] == "bf16" else torch.float16
    b, hq, hkv, lq, lk, d = (spec[k] for k in ("batch", "hq", "hkv", "lq", "lk", "d"))
    q = torch.randn(b, hq, lq, d, device="cuda", dtype=dt)
    k = torch.randn(b, hkv, lk, d, device="cuda", dtype=dt)
    v = torch.randn(b, hkv, lk, spec["dv"], device="cuda", dtype=dt)
    return q, k, v


def kernel_tensors(spec, q, k, v, o):
    """What the kernel takes for BHSD q, k, v and o: themselves, or for a
    --bshd kernel their [B, L, H, D] buffers (the layout torch's
    x.transpose(1, 2) views come from) and the [B, L, H, Dv] output whose
    .transpose(1, 2) is O [B, H, L, Dv]."""
    if not spec["bshd"]:
        return [q, k, v, o], o
    ob = o.transpose(1, 2).contiguous()
    return [t.transpose(1, 2).contiguous() for t in (q, k, v)] + [ob], ob.transpose(1, 2)


def cubin(kdir, name):
    """The kernel's cubin: sm_90a (wgmma kernels) where staged, else sm_90."""
    path = os.path.join(kdir, name + ".sm_90a.cubin")
    return path if os.path.exists(path) else os.path.join(kdir, name + ".sm_90.cubin")


def torch_flash(spec, q, k, v):
    causal = spec["mask"] != "none"
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                              enable_gqa=spec["hq"] != spec["hkv"])


def check(rt, name, kdir, spec, results):
    q, k, v = make_inputs(spec)
    dt = q.dtype
    o = torch.full((spec["batch"], spec["hq"], spec["lq"], spec["dv"]),
                   float("nan"), device="cuda", dtype=dt)
    tensors, o = kernel_tensors(spec, q, k, v, o)
    lse = None
    if spec["lse"]:
        lse = torch.full((spec["batch"], spec["hq"], spec["lq"]), float("nan"),
                         device="cuda", dtype=torch.float32)
        tensors.append(lse)
    handle = rt.load(cubin(kdir, name), os.path.join(kdir, name + ".json"))
    Launcher(rt, handle, tensors, sync=True)()
    torch.cuda.synchronize()
    total = spec["batch"] * spec["hq"]
    # Full check up to 64 heads; otherwise 8 (b, h) pairs spread over the tensor.
    heads = None if total <= 64 else [
        (i * total // 8 // spec["hq"], (i * total // 8) % spec["hq"]) for i in range(8)]
    ro, rl, pairs = reference(spec, q, k, v, heads)
    ours = torch.stack([o[b, h] for b, h in pairs]).double()
    unwritten = int(torch.isnan(ours).sum())
    err = (ours - ro).abs().max().item()
    flash_err = None
    # Torch's flash backend as the yardstick where it has the same semantics
    # (and the shape: flash may refuse Dv != D or some head dims).
    same_mask = spec["mask"] == "none" or (spec["mask"] in ("causal", "causal-top-left")
                                           and spec["lq"] == spec["lk"])
    if same_mask and not spec["softcap"] and dt == torch.bfloat16:
        try:
            fo = torch_flash(spec, q, k, v)
            # With modifiers flash computes plain attention: its error against
            # the plain float64 result on the same inputs is the yardstick.
            rp = ro if not has_mods(spec) else reference(
                dict(spec, score_mod="none", alibi=False), q, k, v, pairs)[0]
            flash_err = (torch.stack([fo[b, h] for b, h in pairs]).double() - rp).abs().max().item()
        except RuntimeError as e:  # no flash kernel for this shape: fixed bound
            print(f"check {name}: no flash yardstick ({str(e)[:100]})", flush=True)
    # Without a flash yardstick: bf16/f16 rounding of P and O bounds the error.
    bound = 2 * flash_err if flash_err else (2e-2 if dt == torch.bfloat16 else 4e-3)
    bound = max(bound, 1e-3)
    lse_err = None
    if lse is not None:
        ol = torch.stack([lse[b, h] for b, h in pairs]).double()
        finite = torch.isfinite(rl)
        lse_err = (ol[finite] - rl[finite]).abs().max().item() if finite.any() else 0.0
        if not torch.equal(torch.isinf(ol), torch.isinf(rl)):
            lse_err = float("inf")
    ok = unwritten == 0 and err <= bound and (lse_err is None or lse_err < 1e-2)
    results.append(dict(name=name, max_abs_err=err, flash_err=flash_err,
                        bound=bound, lse_err=lse_err, unwritten=unwritten, ok=ok))
    print(f"check {name:40s} err={err:.2e} flash={flash_err if flash_err is None else f'{flash_err:.2e}'} "
          f"lse={lse_err} unwritten={unwritten} {'OK' if ok else 'FAIL'}", flush=True)
    return handle, ok


def bench(fn, do_bench):
    return do_bench(fn, warmup=25, rep=100, return_mode="median")


def run_prefill(rt, args, names, dev, do_bench):
    """Prefill checks (check_*, runtime_test) and bench_* shapes; returns the
    names of failed checks."""
    names = [n for n in names if not is_decode(n)]
    if args.match:
        names = [n for n in names if re.search(args.match, n)]
    op_names = [n for n in names if operand_bench.is_operand(n)]
    names = [n for n in names if not operand_bench.is_operand(n)]
    specs = {n: parse_flags(open(os.path.join(args.kernels, n + ".flags")).read()) for n in names}

    checks = []
    for n in names:
        if n.startswith("check_") or n == "runtime_test":  # decode ones filtered above
            try:
                check(rt, n, args.kernels, specs[n], checks)
            except Exception as e:  # report, never hide
                checks.append(dict(name=n, ok=False, error=str(e)))
                print(f"check {n} ERROR {e}", flush=True)

    # Bench shapes: group configs of the same shape.
    shapes = {}
    for n in names:
        if n.startswith("bench_"):
            shapes.setdefault(n.rsplit("_", 1)[0], []).append(n)

    flex = None if args.skip_flex else make_flex()

    rows = []
    for shape, variants in shapes.items():
        spec = specs[variants[0]]
        q, k, v = make_inputs(spec)
        causal = spec["mask"] != "none"
        # Q K^T contracts D, P V produces Dv columns.
        flops = (2 * spec["batch"] * spec["hq"] * spec["lq"] * spec["lk"] * (spec["d"] + spec["dv"])
                 * (0.5 if causal else 1))
        row = dict(shape=shape, **{k: spec[k] for k in ("batch", "hq", "hkv", "lq", "lk", "d", "dv", "mask")})
        # Correctness of each config on this shape's inputs, then its time.
        best = None
        for n in variants:
            res = []
            handle, ok = check(rt, n, args.kernels, spec, res)
            checks.extend(res)
            if not ok:
                continue
            o = q.new_empty(q.shape[:3] + (spec["dv"],))
            launch = Launcher(rt, handle, kernel_tensors(spec, q, k, v, o)[0])
            ms = bench(launch, do_bench)
            row["ms_" + n.rsplit("_", 1)[1]] = ms
            if best is None or ms < best[1]:
                best = (n.rsplit("_", 1)[1], ms)
        gqa = spec["hq"] != spec["hkv"]
        try:
            torch_flash(spec, q, k, v)
            row["ms_flash"] = bench(lambda: torch_flash(spec, q, k, v), do_bench)
        except Exception as e:  # flash without native GQA: expand K/V first
            row["flash_note"] = "K/V expanded: " + str(e)[:100]
            kx = k.repeat_interleave(spec["hq"] // spec["hkv"], 1)
            vx = v.repeat_interleave(spec["hq"] // spec["hkv"], 1)
            try:
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    row["ms_flash"] = bench(lambda: F.scaled_dot_product_attention(
                        q, kx, vx, is_causal=causal), do_bench)
            except Exception as e2:  # no flash kernel for the shape (e.g. Dv != D)
                row["flash_error"] = str(e2)[:200]
        if spec["dv"] != spec["d"]:
            # Torch's memory-efficient backend takes Dv != D: the MLA anchor
            # where flash has none.
            try:
                with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
                    kx = k.repeat_interleave(spec["hq"] // spec["hkv"], 1) if gqa else k
                    vx = v.repeat_interleave(spec["hq"] // spec["hkv"], 1) if gqa else v
                    row["ms_efficient"] = bench(lambda: F.scaled_dot_product_attention(
                        q, kx, vx, is_causal=causal), do_bench)
            except Exception as e:
                row["efficient_error"] = str(e)[:200]
        try:
            with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                kk = k.repeat_interleave(spec["hq"] // spec["hkv"], 1) if gqa else k
                vv = v.repeat_interleave(spec["hq"] // spec["hkv"], 1) if gqa else v
                row["ms_cudnn"] = bench(lambda: F.scaled_dot_product_attention(
                    q, kk, vv, is_causal=causal), do_bench)
        except Exception as e:
            row["cudnn_error"] = str(e)[:200]
        if flex is not None:
            time_flex(flex, spec, q, k, v, row, lambda fn: bench(fn, do_bench))
        if best:
            row["best_config"], row["ms_ours"] = best
            row["tflops_ours"] = flops / best[1] / 1e9
            if "ms_flash" in row:
                row["vs_flash"] = row["ms_flash"] / best[1]
            if "ms_cudnn" in row:
                row["vs_cudnn"] = row["ms_cudnn"] / best[1]
            if "ms_efficient" in row:
                row["vs_efficient"] = row["ms_efficient"] / best[1]
        if "ms_flash" in row:
            row["tflops_flash"] = flops / row["ms_flash"] / 1e9
        rows.append(row)
        print(json.dumps(row), flush=True)
        del q, k, v
        torch.cuda.empty_cache()

    op_checks, op_rows, op_lines = operand_bench.run(rt, args.kernels, op_names, do_bench,
                                                     args.skip_flex)
    checks.extend(op_checks)

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    tag = "h200" if "H200" in dev else ("h100" if "H100" in dev else dev.replace(" ", "_"))
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"{stamp}-{tag}")
    with open(base + ".json", "w") as f:
        json.dump(dict(device=dev, torch=torch.__version__, date=stamp,
                       checks=checks, rows=rows, operand_rows=op_rows), f, indent=1)
    lines = [f"# attn-mlir prefill benchmark, {dev}, {stamp}", "",
             "Median of triton.testing.do_bench; ratio = anchor time / our time (>1: we are faster).", "",
             "D is D/Dv where Dv != D; mem-eff: torch's memory-efficient SDPA, timed where Dv != D.", "",
             "| shape | B | Hq/Hkv | L | D | mask | ours ms (config) | TFLOP/s | flash ms | x flash | cuDNN ms | x cuDNN | flex ms | mem-eff ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| {shape} | {batch} | {hq}/{hkv} | {lq} | {dd} | {mask} | {o} | {tf} | {fl} | {xf} | {cu} | {xc} | {fx} | {me} |".format(
            o=f"{r['ms_ours']:.3f} ({r['best_config']})" if "ms_ours" in r else "FAIL",
            dd=r["d"] if r["dv"] == r["d"] else f"{r['d']}/{r['dv']}",
            me=f"{r['ms_efficient']:.3f}" if "ms_efficient" in r else "-",
            tf=f"{r.get('tflops_ours', 0):.0f}",
            fl=f"{r['ms_flash']:.3f}" if "ms_flash" in r else "-",
            xf=f"{r['vs_flash']:.2f}" if "vs_flash" in r else "-",
            cu=f"{r['ms_cudnn']:.3f}" if "ms_cudnn" in r else "-",
            xc=f"{r['vs_cudnn']:.2f}" if "vs_cudnn" in r else "-",
            fx=f"{r['ms_flex']:.3f}" if "ms_flex" in r else "-", **r))
    lines += op_lines
    lines += ["", "## Correctness (max abs error vs float64; bound = 2x torch flash where comparable)", "",
              "| kernel | max abs err | flash err | bound | LSE err | ok |", "|---|---|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c['name']} | {c.get('max_abs_err', '-'):.2e} | {c.get('flash_err')} | {c.get('bound', 0):.1e} | {c.get('lse_err')} | {c['ok']} |"
                     if "max_abs_err" in c else f"| {c['name']} | error: {c.get('error')} | | | | False |")
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    bad = [c["name"] for c in checks if not c["ok"]]
    print("FAILED CHECKS:", bad if bad else "none")
    return bad


def make_flex():
    """torch.compile(flex_attention), the FlexAttention anchor of every
    prefill table."""
    from torch import _dynamo
    _dynamo.config.cache_size_limit = 1000
    from torch.nn.attention.flex_attention import flex_attention
    return torch.compile(flex_attention)


def time_flex(flex, spec, q, k, v, row, timer):
    """row["ms_flex"]: FlexAttention on the same inputs (causal as a top-left
    block mask, GQA native), or row["flex_error"]."""
    from torch.nn.attention.flex_attention import create_block_mask
    try:
        bm = None
        if spec["mask"] != "none":
            bm = create_block_mask(lambda b, h, qi, ki: qi >= ki, None, None,
                                   spec["lq"], spec["lk"], device="cuda")
        fn = lambda: flex(q, k, v, block_mask=bm, enable_gqa=spec["hq"] != spec["hkv"])
        fn()
        row["ms_flex"] = timer(fn)
    except Exception as e:
        row["flex_error"] = str(e)[:200]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-flex", action="store_true")
    ap.add_argument("--only", choices=("all", "prefill", "decode"), default="all",
                    help="run only the prefill part or only the decode part")
    ap.add_argument("--match", default=None,
                    help="regex: only kernels whose name matches (both parts)")
    args = ap.parse_args()
    from triton.testing import do_bench
    torch.manual_seed(0)
    rt = Runtime(args.lib)
    dev = torch.cuda.get_device_name()
    print("device:", dev, "torch", torch.__version__, flush=True)

    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(args.kernels, "*.json")))
    bad = []
    if args.only in ("all", "prefill"):
        bad += run_prefill(rt, args, names, dev, do_bench)
    if args.only in ("all", "decode"):
        import decode_bench
        dchecks, _, _ = decode_bench.run(rt, args, names, args.kernels, do_bench)
        bad += sorted({c["name"] for c in dchecks if not c["ok"]})
    print("ALL FAILED CHECKS:", bad if bad else "none")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
