#!/usr/bin/env python3
"""TFLOP/s per prefill shape for every backend of one device run.

  table JSON...            the bars the plot would draw, as text (no torch,
                           no matplotlib: this part runs anywhere).
  plot --out PNG JSON...   a grouped bar chart: one group per shape, one bar
                           per backend.

JSON... are what bench/hopper_bench.py (hopper_results.json: rows with
ms_<variant> of our sm_90a kernels, ms_mma128x4x64, ms_flash, ms_cudnn,
ms_flex) and bench/device_bench.py (prefill rows with ms_<config> of our
mma.sync kernels, ms_flash, ms_cudnn, ms_flex) write. Our kernels are shown
as the defaults a user gets: the hopper family's `hopper` variant (not the
best of the variants tried) and the mma.sync family's default tiles
(m128w4n64); a shape's rows from both files are merged. FLOPs are the
visible GEMM FLOPs, 2 (D + Dv) per (row, key) pair the mask keeps (causal:
L (L + 1) / 2 pairs, not L^2 / 2), as in docs/CostModel.md and
bench/roofline.py.
"""
import argparse
import json
import re
import sys

# Our kernels' default configurations under their result-file keys.
DEFAULTS = {"ms_hopper": "ours sm_90a (wgmma)", "ms_mma128x4x64": "ours sm_80 (mma.sync)",
            "ms_m128w4n64": "ours sm_80 (mma.sync)"}
TORCH = {"ms_cudnn": "torch cuDNN", "ms_flash": "torch flash", "ms_flex": "FlexAttention"}
ORDER = ["ours sm_90a (wgmma)", "ours sm_80 (mma.sync)", "torch cuDNN", "torch flash",
         "FlexAttention"]


def shape_of(name):
    """(batch, hq, hkv, l, d, causal) of a bench shape name such as
    bench_d128_l4096_causal or bench_gqa_l4096_none (BENCHMARKS.md)."""
    m = re.match(r"bench_(d(\d+)|gqa)_l(\d+)_(none|causal)", name)
    if not m:
        return None
    l = int(m.group(3))
    if m.group(1) == "gqa":  # GQA 32/8 at D = 128
        return 16384 // l, 32, 8, l, 128, m.group(4) == "causal"
    d = int(m.group(2))
    return 16384 // l, 2048 // d, 2048 // d, l, d, m.group(4) == "causal"


def flops(row):
    if "lq" in row:
        b, hq, lq, lk, d = (row[k] for k in ("batch", "hq", "lq", "lk", "d"))
        dv = row.get("dv", d)
        causal = row["mask"] != "none"
    else:
        s = shape_of(row["shape"])
        if s is None:
            return None
        b, hq, _, lq, d, causal = s
        lk, dv = lq, d
    # Causal (top-left, Lq = Lk): row i sees keys 0..i, L (L + 1) / 2 pairs.
    pairs = lq * (lq + 1) // 2 if causal else lq * lk
    return 2 * b * hq * pairs * (d + dv)


def bars(paths):
    """{device: {shape: {backend: TFLOP/s}}}, shapes in file order."""
    out = {}
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        dev = run.get("device", "?")
        for row in run.get("rows", []):
            if "lk" in row and row["lq"] != row["lk"]:
                continue
            if "decode" in row.get("shape", "") or row.get("kind") == "decode":
                continue
            total = flops(row)
            if not total:
                continue
            shape = row["shape"]
            group = out.setdefault(dev, {}).setdefault(shape, {})
            for key, label in list(DEFAULTS.items()) + list(TORCH.items()):
                ms = row.get(key)
                if ms:
                    group.setdefault(label, round(total / ms / 1e9, 1))
    return out


def table(paths):
    for dev, shapes in bars(paths).items():
        print(f"device: {dev}")
        for shape, group in shapes.items():
            cells = [f"{label}={group[label]}" for label in ORDER if label in group]
            print(f"{shape}: " + " ".join(cells))


def plot(out, paths):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for dev, shapes in bars(paths).items():
        labels = [label for label in ORDER if any(label in g for g in shapes.values())]
        width = 0.8 / max(1, len(labels))
        fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(shapes)), 5))
        for i, label in enumerate(labels):
            xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(shapes))]
            ax.bar(xs, [g.get(label, 0) for g in shapes.values()], width, label=label)
        ax.set_xticks(range(len(shapes)))
        ax.set_xticklabels([s.replace("bench_", "") for s in shapes], rotation=30, ha="right")
        ax.set_ylabel("TFLOP/s (visible GEMM FLOPs, bf16)")
        ax.set_title(f"prefill attention on {dev}: every backend, same run")
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        print("wrote", out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("json", nargs="+")
    p = sub.add_parser("plot")
    p.add_argument("--out", required=True)
    p.add_argument("json", nargs="+")
    args = ap.parse_args()
    if args.cmd == "table":
        table(args.json)
    else:
        plot(args.out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
