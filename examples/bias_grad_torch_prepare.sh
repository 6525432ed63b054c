#!/usr/bin/env bash
# Prepares examples/bias_grad_torch_check.py's CUDA run (here, where
# LLVM/MLIR live): its kernels into a kernel cache, with the runtime's
# sources, the Python package and the script, into DEST/bias_grad_torch
# (default /work/main/.device). Usage:
#   examples/bias_grad_torch_prepare.sh [build-dir] [dest]
# Then, on the GPU machine, from the repo root: bash .device/bias_grad_torch/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device}/bias_grad_torch" \
  "$root/examples/bias_grad_torch_check.py" "$root/examples/bias_grad_torch_run.sh"
