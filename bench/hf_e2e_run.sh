#!/usr/bin/env bash
# The device half of bench/hf_e2e.py (staged as .device/hf_e2e/run.sh by
# bench/hf_e2e_prepare.sh). From the repo root on the GPU machine:
#   bash .device/hf_e2e/run.sh [--timed-calls N]
# Builds the runtime's C ABI (no LLVM/MLIR), then runs the end-to-end
# measurement on the kernels the prepare step compiled. Results: $OUT.
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.txt"
OUT="$OUT" exec scripts/torch_device_run.sh .device/hf_e2e hf_e2e.py "$@"
