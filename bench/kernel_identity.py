#!/usr/bin/env python3
"""Offline identity of two staged kernel folders (no GPU): cubins and PTX
byte for byte, manifests as JSON without their "cost" figures (the cost
model may change without the kernel changing).

Usage: kernel_identity.py DIR_A DIR_B   (e.g. main's and a branch's
<dest>/kernels from bench/backward_prepare.sh with ATTN_KERNELS_ONLY=1).
Prints one line per differing file and a summary; exits 1 if any differ.
"""
import json
import os
import sys


def strip_cost(value):
    if isinstance(value, dict):
        return {k: strip_cost(v) for k, v in value.items() if k != "cost"}
    if isinstance(value, list):
        return [strip_cost(v) for v in value]
    return value


def same(a, b):
    if a.endswith(".json"):
        with open(a) as fa, open(b) as fb:
            return strip_cost(json.load(fa)) == strip_cost(json.load(fb))
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def main():
    da, db = sys.argv[1], sys.argv[2]
    kinds = (".cubin", ".ptx", ".json")
    fa = {f for f in os.listdir(da) if f.endswith(kinds)}
    fb = {f for f in os.listdir(db) if f.endswith(kinds)}
    differ = [f for f in sorted(fa & fb) if not same(os.path.join(da, f), os.path.join(db, f))]
    for f in differ:
        print(f"differ {f}")
    print(f"same {len(fa & fb) - len(differ)} differ {len(differ)} "
          f"only-A {len(fa - fb)} only-B {len(fb - fa)}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
