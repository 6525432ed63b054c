#!/usr/bin/env bash
# Prepares bench/hf_e2e.py's device run (here, where LLVM/MLIR live): compiles
# every attention kernel the run needs into a kernel cache with attn_mlir
# (the same keys the torch op computes on the device), and stages the cache,
# the runtime's sources, the Python package and the scripts into
# DEST/hf_e2e (default /work/main/.device, the folder the device call
# carries). Usage: bench/hf_e2e_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device/hf_e2e/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# ATTN_MLIR_GPU_CHIPS picks the chips staged (scripts/stage_torch_run.sh).
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device}/hf_e2e" \
  "$root/bench/hf_e2e.py" "$root/bench/hf_e2e_run.sh"
