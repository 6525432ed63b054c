#!/usr/bin/env bash
# The device half of examples/train_accuracy.py (staged as
# .device/train_accuracy/run.sh by examples/train_accuracy_prepare.sh). From
# the repo root on the GPU machine (torch 2.11, transformers 5.x, no LLVM):
#   bash .device/train_accuracy/run.sh [--seeds 0,1,2] [--batches N]
# Results (train_accuracy.json, train_accuracy.md): $OUT.
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.txt"
OUT="$OUT" exec scripts/torch_device_run.sh .device/train_accuracy train_accuracy.py \
  --device cuda --dtype bfloat16 "$@"
