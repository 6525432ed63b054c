#!/usr/bin/env bash
# Stages bench/varlen_backward_bench.py for the GPU machine (here, where
# LLVM/MLIR live): the kernels its --prepare compiles, the runtime's
# sources, the Python package and the script, into DEST (default
# /work/main/.device-varlenbwd). Usage:
#   bench/varlen_backward_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device-varlenbwd/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device-varlenbwd}" \
  "$root/bench/varlen_backward_bench.py" "$root/bench/varlen_backward_run.sh"
