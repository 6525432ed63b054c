#!/usr/bin/env bash
# Stages bench/mask_mod_backward_bench.py for the GPU machine (here, where LLVM/MLIR
# live): compiles the prefix-lm mask_mod forward and backward kernels (atomic
# and deterministic dQ) into a kernel cache, with the runtime's
# sources, the Python package and the scripts, into DEST (default
# /work/main/.device-maskmod). Usage: bench/mask_mod_backward_prepare.sh [build] [dest]
# Then, on the GPU machine, from the repo root: bash .device-maskmod/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device-maskmod}" \
  "$root/bench/mask_mod_backward_bench.py" "$root/bench/mask_mod_backward_run.sh"
