#!/usr/bin/env bash
# The main job on the embedded default: the default GQA attention
# (Hq=32, Hkv=8, D=128, bf16, causal) compiled through every stage of the
# pipeline that exists, with what each stage did, then executed on the CPU
# at a shorter length against the float64 reference.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh >/dev/null
echo "== attn-compile: default GQA attention (Lq = Lk = 1024) =="
build/bin/attn-compile "$@"
echo
echo "== CPU execution check of the same attention at Lq = Lk = 128 =="
build/bin/attn-compile --seq-q 128 --seq-k 128 --run-cpu "$@" | tail -n 1
