#!/usr/bin/env bash
# Stages bench/lse_gradient_bench.py for the GPU machine (here, where
# LLVM/MLIR live): the kernels its --prepare compiles, the runtime's
# sources, the Python package and the script, into DEST (default
# /work/main/.device-lsegrad). Usage:
#   bench/lse_gradient_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device-lsegrad/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device-lsegrad}" \
  "$root/bench/lse_gradient_bench.py" "$root/bench/lse_gradient_run.sh"
