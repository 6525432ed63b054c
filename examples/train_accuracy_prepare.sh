#!/usr/bin/env bash
# Prepares examples/train_accuracy.py's CUDA run (here, where LLVM/MLIR
# live): the kernels of train_smoke.py's model (the forward with LSE and its
# backward) into a kernel cache, with the runtime's sources, the Python
# package and both scripts, into DEST/train_accuracy (default
# /work/main/.device). Usage:
#   examples/train_accuracy_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device/train_accuracy/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${2:-/work/main/.device}/train_accuracy"
"$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "$dest" \
  "$root/examples/train_accuracy.py" "$root/examples/train_accuracy_run.sh" --dtype bfloat16
cp "$root/examples/train_smoke.py" "$dest/"  # train_accuracy.py's model and loop
