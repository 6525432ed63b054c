#!/usr/bin/env bash
# Stages bench/f32_compute_bench.py for the GPU machine (here, where LLVM/MLIR
# live): compiles the f32 programs (f32-compute=bf16 / f16) and the bf16 / f16
# kernels they are checked against into a kernel cache, with the runtime's
# sources, the Python package and the scripts, into DEST (default
# /work/main/.device-f32). Usage: bench/f32_compute_prepare.sh [build] [dest]
# Then, on the GPU machine, from the repo root: bash .device-f32/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device-f32}" \
  "$root/bench/f32_compute_bench.py" "$root/bench/f32_compute_run.sh"
