#!/usr/bin/env bash
# Prepares examples/train_smoke.py's CUDA run (here, where LLVM/MLIR live):
# compiles the run's GPU kernels into a kernel cache (the forward with LSE
# and, once the compiler has it, the backward; until then --prepare prints
# the MissingGpuBackward the device run will stop with) and stages the
# cache, the runtime's sources, the Python package and the script into
# DEST/train_smoke (default /work/main/.device). Usage:
#   examples/train_smoke_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device/train_smoke/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# ATTN_MLIR_GPU_CHIPS picks the chips staged (scripts/stage_torch_run.sh).
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device}/train_smoke" \
  "$root/examples/train_smoke.py" "$root/examples/train_smoke_run.sh" --dtype bfloat16
