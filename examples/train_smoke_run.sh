#!/usr/bin/env bash
# The device half of examples/train_smoke.py (staged as
# .device/train_smoke/run.sh by examples/train_smoke_prepare.sh). From the
# repo root on the GPU machine (torch 2.11, transformers 5.x, no LLVM):
#   bash .device/train_smoke/run.sh [--steps N]
# Builds the runtime's C ABI, then trains eager, sdpa and attn_mlir for 20
# AdamW steps. Results (train_smoke.json, train_smoke.png): $OUT. Exit 3:
# the attn_mlir run stopped with MissingGpuBackward (no GPU backward kernel
# for the call).
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.txt"
OUT="$OUT" exec scripts/torch_device_run.sh .device/train_smoke train_smoke.py \
  --device cuda --dtype bfloat16 "$@"
