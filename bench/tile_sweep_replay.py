#!/usr/bin/env python3
"""Replays a measured tile sweep (bench/tile_sweep.py's tile_sweep.json)
against the cost model of the attn-compile at hand (issue #17): for every
shape, asks `attn-compile --target=ptx --report=json` which configuration
the model plans today (tile-model=auto for --gpu, the GPU the sweep ran
on) and looks that configuration up among the times the sweep measured as
candidates. A choice more than the tolerance slower than the shape's best
candidate, or one the sweep did not time, fails the replay (exit 1).

No GPU is needed: the times are the sweep's. Usage:
  bench/tile_sweep_replay.py [--compile build/bin/attn-compile] [--gpu h200]
      [--tolerance 0.03] [--match REGEX] bench/results/<date>-tile-sweep.json

Sweeps made by this tile_sweep.py record each shape's flags; older ones
(session 5) are read by their names, which bench/tile_sweep_prepare.sh
builds from the same flags (shape_flags below mirrors it).
"""
import argparse
import json
import re
import subprocess
import sys

GPUS = {"NVIDIA H200": "h200", "NVIDIA H100 80GB HBM3": "h100-sxm",
        "NVIDIA A100-SXM4-80GB": "a100-sxm", "NVIDIA B200": "b200"}


def shape_flags(shape):
    """attn-compile flags of a sweep shape, from the name the prepare
    script gives it (sweep_<family>_<shape>)."""
    m = re.fullmatch(r"sweep_(mma|hopper)_(?:d(\d+)_l(\d+)|gqa_l4096)_(none|causal)", shape)
    if m:
        family, d, l, mask = m.groups()
        if d:
            d, l = int(d), int(l)
            b, h, hkv = 16384 // l, 2048 // d, 2048 // d
        else:
            d, l, b, h, hkv = 128, 4096, 4, 32, 8
        kernel = ("--chip=sm_90 --convert-attn-to-nvvm=kernel=prefill" if family == "mma"
                  else "--chip=sm_90a --convert-attn-to-nvvm=kernel=hopper")
        return (f"{kernel} --batch={b} --heads-q={h} --heads-kv={hkv} --seq-q={l} "
                f"--seq-k={l} --head-dim={d} --mask={mask} --lse=false")
    m = re.fullmatch(r"sweep_decode_(gqa|mha)_b(\d+)_l(\d+)_(contig|paged)", shape)
    if m:
        kind, b, l, layout = m.groups()
        hkv = 8 if kind == "gqa" else 32
        flags = (f"--chip=sm_90 --seq-q=1 --head-dim=128 --mask=none --lse=false "
                 f"--key-lengths --batch={b} --heads-q=32 --heads-kv={hkv} --seq-k={l}")
        return flags + (" --page-size=16" if layout == "paged" else "")
    raise ValueError(f"unknown sweep shape name '{shape}'")


def config_of(tile_config):
    """The configuration the report's tile_config plans, as the sweep names
    it (tile_sweep.py config_of)."""
    t = tile_config
    if t["kernel"] == "prefill":
        return f"m{t['block_m']}w{t['num_warps']}n{t['block_n']}"
    if t["kernel"] == "hopper":
        return f"n{t['block_n']}s{t['stages']}"
    return f"s{t['num_splits']}"


def planned_config(compile_tool, flags, gpu):
    # The flags of the sweep's model variant minus what only the staging
    # needs; the report plans exactly what the compile would.
    args = [a for a in flags.split() if not a.startswith(("--cubin-arch", "--gpu", "-o"))
            and "tile-model=" not in a]
    out = subprocess.run([compile_tool, "--target=ptx", "--report=json", f"--gpu={gpu}"] + args,
                         check=True, capture_output=True, text=True).stdout
    tile_config = json.loads(out)["attention"][0]["tile_config"]
    return config_of(tile_config), tile_config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sweep")
    ap.add_argument("--compile", default="build/bin/attn-compile")
    ap.add_argument("--gpu", default=None, help="default: the sweep's device")
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--match", default=None)
    args = ap.parse_args()
    sweep = json.load(open(args.sweep))
    gpu = args.gpu or GPUS.get(sweep["device"])
    if not gpu:
        sys.exit(f"error: no GPU name for device '{sweep['device']}': pass --gpu")
    print(f"replay of {args.sweep} ({sweep['device']}) with the model for {gpu}")
    print(f"{'shape':40s} {'planned':12s} {'us':>8s} {'best':12s} {'us':>8s} ratio")
    failures = 0
    rows = [r for r in sweep["shapes"] if not args.match or re.search(args.match, r["shape"])]
    for row in rows:
        flags = row.get("flags") or shape_flags(row["shape"])
        config, _ = planned_config(args.compile, flags, gpu)
        candidates = {c: t for c, t in row["times_ms"].items() if c not in ("model", "default")}
        best = min(candidates, key=candidates.get)
        if config not in candidates:
            print(f"{row['shape']:40s} {config:12s} not timed by the sweep: FAIL")
            failures += 1
            continue
        ratio = candidates[config] / candidates[best]
        ok = ratio <= 1 + args.tolerance
        failures += not ok
        print(f"{row['shape']:40s} {config:12s} {candidates[config] * 1e3:8.1f} {best:12s} "
              f"{candidates[best] * 1e3:8.1f} {ratio:.3f}{'' if ok else ' FAIL'}")
    print(f"{len(rows) - failures} of {len(rows)} shapes within {args.tolerance:.0%} of the best")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
