#!/usr/bin/env python3
"""Roofline plots of the measured attention kernels, one PNG per device.

Three subcommands:

  measure --out FILE     on the GPU machine: the two ceilings of this device,
                         measured as shared/ceilings.py does (dense bf16 GEMM
                         8192^3 and a 2 GiB bf16 device copy, triton do_bench
                         medians), written as JSON. Run it in the same device
                         session as the benchmark.
  points JSON...         the points the plot would place, as text (no torch,
                         no matplotlib: this part runs anywhere).
  plot --ceilings FILE --out DIR JSON...
                         one <date>-<device>-roofline.png per device.

JSON... are the files bench/device_bench.py (prefill: rows with ms_<config>,
ms_flash, ms_cudnn, ms_flex) and bench/decode_bench.py (decode: rows with
t[label].ms and kv_bytes) write. Each kernel is placed at the arithmetic
intensity of its problem and its achieved rate, with docs/CostModel.md's
figures: FLOPs of the two GEMMs over the (row, key) pairs the mask keeps
(2 (D + Dv) per pair; D = Dv here), bytes of Q, K, V and O each read or
written once (bf16). A backend that expands K/V heads moves more bytes than
that; the plot shows the problem's intensity, the usual roofline convention.

Usage on the device (after device_run.sh's bench, with $OUT its output):
  python3 .device/roofline.py measure --out $OUT/ceilings.json
  python3 .device/roofline.py plot --ceilings $OUT/ceilings.json --out $OUT $OUT/*.json
"""
import argparse
import json
import os
import sys

BACKENDS = ("ours", "flash", "cudnn", "flex")
ELEMENT_BYTES = {"bf16": 2, "f16": 2, "f32": 4}


def visible_pairs(lq, lk, mask, wl=0, wr=0):
    """(row, key) pairs kept by the mask (lib/Analysis getVisibleKeys):
    bottom-right aligned diagonal a = i + lk - lq."""
    pairs = 0
    for i in range(lq):
        a = i + lk - lq
        lo, hi = 0, lk
        if mask in ("causal", "causal-bottom-right"):
            hi = a + 1
        elif mask == "causal-top-left":
            hi = i + 1
        elif mask == "sliding-window":
            lo, hi = a - wl, a + wr + 1
        lo, hi = max(0, lo), min(lk, hi)
        pairs += max(0, hi - lo)
    return pairs


def problem(b, hq, hkv, lq, lk, d, mask, dtype="bf16"):
    """(FLOPs, bytes) of one attention: visible GEMM FLOPs, compulsory bytes."""
    e = ELEMENT_BYTES.get(dtype, 2)
    flops = 4 * d * b * hq * visible_pairs(lq, lk, mask)
    nbytes = e * d * (2 * b * hq * lq + 2 * b * hkv * lk)
    return flops, nbytes


def prefill_points(doc):
    """Points of a device_bench.py JSON: every timed config and backend."""
    out = []
    for r in doc.get("rows", []):
        if "lq" not in r:
            continue
        flops, nbytes = problem(r["batch"], r["hq"], r["hkv"], r["lq"], r["lk"],
                                r["d"], r.get("mask", "none"))
        for key, ms in r.items():
            if not key.startswith("ms_") or key == "ms_ours" or not isinstance(ms, (int, float)):
                continue
            label = key[3:]
            backend = label if label in BACKENDS else "ours"
            name = label if backend != "ours" else "ours " + label
            out.append(dict(shape=r["shape"], kind="prefill", backend=backend, label=name,
                            flops=flops, bytes=nbytes, seconds=ms * 1e-3))
    return out


def decode_points(doc):
    """Points of a decode_bench.py JSON: every backend's rotated median."""
    out = []
    for r in doc.get("rows", []):
        if "t" not in r:
            continue
        # Decode: Lq = 1 under a bottom-right causal mask sees every key.
        flops, nbytes = problem(r["batch"], r["hq"], r["hkv"], 1, r["lk"], r["d"],
                                "causal", r.get("dtype", "bf16"))
        for label, t in r["t"].items():
            backend = "ours" if label.startswith("ours") else label
            out.append(dict(shape=r["shape"], kind="decode", backend=backend,
                            label=label.replace("_", " "), flops=flops, bytes=nbytes,
                            seconds=t["ms"] * 1e-3))
    return out


def load(paths):
    """{device: [points]} and {device: copy TB/s the decode run measured}."""
    points, copy = {}, {}
    for p in paths:
        if os.path.basename(p) == "ceilings.json":
            continue
        with open(p) as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or "rows" not in doc:
            continue
        dev = doc.get("device", "unknown")
        pts = decode_points(doc) if "copy_tbps" in doc else prefill_points(doc)
        for pt in pts:
            pt["date"] = doc.get("date", "")
        points.setdefault(dev, []).extend(pts)
        if "copy_tbps" in doc:
            copy[dev] = doc["copy_tbps"]
    return points, copy


def measure(out):
    """shared/ceilings.py's method, kept here since shared/ does not travel."""
    import torch
    import triton.testing as tt
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn_like(a)
    ms = tt.do_bench(lambda: a @ b, warmup=25, rep=200, return_mode="median")
    gemm = 2 * 8192 ** 3 / ms / 1e9
    del a, b
    x = torch.randn(1 << 30, device="cuda", dtype=torch.bfloat16)
    y = torch.empty_like(x)
    ms = tt.do_bench(lambda: y.copy_(x), warmup=25, rep=100, return_mode="median")
    copy = 4 * x.numel() / ms / 1e9  # bytes read + written
    res = dict(device=torch.cuda.get_device_name(), gemm_bf16_tflops=round(gemm, 1),
               copy_tbps=round(copy, 3),
               method="dense bf16 8192^3 GEMM and 2 GiB bf16 copy (read + write), "
                      "triton do_bench medians (shared/ceilings.py)")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


def plot(ceilings_path, out_dir, paths):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(ceilings_path) as f:
        ceil = json.load(f)
    points, decode_copy = load(paths)
    os.makedirs(out_dir, exist_ok=True)
    colors = dict(ours="tab:red", flash="tab:blue", cudnn="tab:green", flex="tab:purple")
    marks = dict(prefill="o", decode="^")
    written = []
    for dev, pts in points.items():
        if ceil.get("device") not in (None, dev):
            print(f"skipping {dev}: the ceilings were measured on {ceil['device']}")
            continue
        peak = ceil["gemm_bf16_tflops"] * 1e12
        bw = ceil["copy_tbps"] * 1e12
        fig, ax = plt.subplots(figsize=(9, 6))
        ai = [p["flops"] / p["bytes"] for p in pts]
        lo, hi = min(ai + [1.0]) / 2, max(ai + [peak / bw]) * 2
        xs = [lo * (hi / lo) ** (k / 200) for k in range(201)]
        ax.plot(xs, [min(peak, x * bw) / 1e12 for x in xs], "k-", lw=2,
                label=f"measured ceilings: {peak / 1e12:.0f} TFLOP/s bf16 GEMM, "
                      f"{bw / 1e12:.2f} TB/s copy")
        if dev in decode_copy:
            ax.plot(xs, [min(peak, x * decode_copy[dev] * 1e12) / 1e12 for x in xs], "k:",
                    lw=1, label=f"decode run's copy: {decode_copy[dev]:.2f} TB/s")
        seen = set()
        for p, x in zip(pts, ai):
            key = (p["backend"], p["kind"])
            ax.scatter(x, p["flops"] / p["seconds"] / 1e12, c=colors.get(p["backend"], "gray"),
                       marker=marks[p["kind"]], s=28, alpha=0.8,
                       label=None if key in seen else f"{p['backend']} ({p['kind']})")
            seen.add(key)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP / byte of Q, K, V, O)")
        ax.set_ylabel("achieved TFLOP/s (visible GEMM FLOPs)")
        date = max((p["date"] for p in pts), default="")
        ax.set_title(f"attention kernels on {dev} ({date})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        tag = "h200" if "H200" in dev else ("h100" if "H100" in dev else dev.replace(" ", "_"))
        path = os.path.join(out_dir, f"{date}-{tag}-roofline.png")
        fig.savefig(path, dpi=130, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
        print("wrote", path)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--out", required=True)
    pt = sub.add_parser("points")
    pt.add_argument("json", nargs="+")
    pl = sub.add_parser("plot")
    pl.add_argument("--ceilings", required=True)
    pl.add_argument("--out", required=True)
    pl.add_argument("json", nargs="+")
    args = ap.parse_args()
    if args.cmd == "measure":
        measure(args.out)
    elif args.cmd == "points":
        points, _ = load(args.json)
        for dev, pts in points.items():
            for p in pts:
                print(f"{dev} | {p['kind']} {p['shape']} {p['label']}: "
                      f"{p['flops'] / p['bytes']:.1f} FLOP/B, "
                      f"{p['flops'] / p['seconds'] / 1e12:.1f} TFLOP/s, "
                      f"{p['bytes'] / p['seconds'] / 1e12:.3f} TB/s")
    else:
        return 0 if plot(args.ceilings, args.out, args.json) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
