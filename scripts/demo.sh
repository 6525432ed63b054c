#!/usr/bin/env bash
# The main job on the embedded default: the default GQA attention
# (Hq=32, Hkv=8, D=128, bf16, causal, B=1, L=1024) compiled to PTX (and sm_80
# / sm_90 cubins when ptxas is installed), with what each stage did; then the
# same attention through the FlashAttention passes on the CPU path, executed
# at L=128 and compared with the float64 reference.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh >/dev/null
mkdir -p build/demo
echo "== 1. attn-compile --target=ptx: default GQA attention -> PTX =="
build/bin/attn-compile --target=ptx -o build/demo/gqa "$@"
echo
echo "== 2. attn-compile --target=cpu: the same attention at Lq = Lk = 128 through"
echo "==    attn-tile, attn-fuse-online-softmax, attn-lower-precision, attn-to-cpu,"
echo "==    executed and compared with the float64 reference =="
build/bin/attn-compile --seq-q 128 --seq-k 128 --run-cpu "$@"
