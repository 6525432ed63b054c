#!/usr/bin/env bash
# The device half of examples/varlen_torch_check.py (staged as
# .device/varlen_torch/run.sh by examples/varlen_torch_prepare.sh). From the
# repo root on the GPU machine: builds the runtime's C ABI, then checks
# attn_mlir.torch.varlen_attention on CUDA tensors against float64.
set -euo pipefail
D=.device/varlen_torch
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
cmake -S $D/src -B /tmp/rt-varlen -DATTN_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  > /tmp/rt-varlen-cmake.log 2>&1 || { cat /tmp/rt-varlen-cmake.log; exit 1; }
cmake --build /tmp/rt-varlen --target AttnRuntimeC -j 16 > /tmp/rt-varlen-build.log 2>&1 \
  || { tail -50 /tmp/rt-varlen-build.log; exit 1; }
ATTN_MLIR_RUNTIME_LIB=/tmp/rt-varlen/lib/libAttnRuntimeC.so \
ATTN_MLIR_CACHE_DIR="$PWD/$D/cache" PYTHONPATH="$PWD/$D/python" PYTHONUNBUFFERED=1 \
  python3 $D/varlen_torch_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/varlen_torch_check.log"
exit "${PIPESTATUS[0]}"
