#!/usr/bin/env bash
# Prepares examples/kvcache_torch_check.py's CUDA run (here, where LLVM/MLIR
# live): compiles its decode kernels into a kernel cache and stages the
# cache, the runtime's sources, the Python package and the script into
# DEST/kvcache_torch (default /work/main/.device). Usage:
#   examples/kvcache_torch_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device/kvcache_torch/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device}/kvcache_torch" \
  "$root/examples/kvcache_torch_check.py" "$root/examples/kvcache_torch_run.sh"
