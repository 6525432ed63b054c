#!/usr/bin/env python3
"""Markdown table of a hopper A/B run (hopper_bench.py's JSON rows, one per
line in its log): per shape the baseline (hbase: the defaults of another
build, staged with HOPPER_BASELINE), this build's defaults (hopper), any
other variants, cuDNN and flash, and the ratios against cuDNN.
Usage: bench/hopper_ab_table.py bench.log [bench.log ...] > table.md
(several logs: one column group per log, e.g. two calls)."""
import json
import sys


def rows(path):
    return {r["shape"][len("bench_"):]: r
            for r in (json.loads(l) for l in open(path) if l.startswith("{"))}


def main():
    runs = [rows(p) for p in sys.argv[1:]]
    shapes = sorted({s for run in runs for s in run})
    variants = sorted({k[3:] for run in runs for r in run.values() for k in r
                       if k.startswith("ms_h") and k not in ("ms_hbase", "ms_hopper")})
    head = ["shape"]
    for i, _ in enumerate(runs):
        tag = f" r{i + 1}" if len(runs) > 1 else ""
        head += [f"base ms{tag}", f"new ms{tag}"] + [f"{v} ms{tag}" for v in variants] + \
                [f"cuDNN ms{tag}", f"flash ms{tag}", f"new / base{tag}",
                 f"base x cuDNN{tag}", f"new x cuDNN{tag}", f"new x flash{tag}"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for s in shapes:
        cells = [s]
        for run in runs:
            r = run.get(s, {})
            ms = lambda k: r.get("ms_" + k)
            fmt = lambda v: f"{v:.4f}" if v else "-"
            ratio = lambda a, b: f"{a / b:.3f}" if a and b else "-"
            cells += [fmt(ms("hbase")), fmt(ms("hopper"))] + [fmt(ms(v)) for v in variants]
            cells += [fmt(ms("cudnn")), fmt(ms("flash")), ratio(ms("hbase"), ms("hopper")),
                      ratio(ms("cudnn"), ms("hbase")), ratio(ms("cudnn"), ms("hopper")),
                      ratio(ms("flash"), ms("hopper"))]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
