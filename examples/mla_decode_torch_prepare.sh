#!/usr/bin/env bash
# Prepares examples/mla_decode_torch_check.py's CUDA run (here, where
# LLVM/MLIR live): compiles its latent decode kernels (576/512, ~30 s each)
# into a kernel cache and stages the cache, the runtime's sources, the
# Python package and the script into DEST/mla_decode_torch (default
# /work/main/.device). Usage: examples/mla_decode_torch_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device/mla_decode_torch/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device}/mla_decode_torch" \
  "$root/examples/mla_decode_torch_check.py" "$root/examples/mla_decode_torch_run.sh"
