#!/usr/bin/env bash
# The device half of examples/train_smoke.py (staged as
# .device/train_smoke/run.sh by examples/train_smoke_prepare.sh). From the
# repo root on the GPU machine (torch 2.11, transformers 5.x, no LLVM):
#   bash .device/train_smoke/run.sh [--steps N]
# Builds the runtime's C ABI, then trains eager, sdpa and attn_mlir for 20
# AdamW steps. Results (train_smoke.json, train_smoke.png): $OUT. Exit 3:
# the attn_mlir run stopped with MissingGpuBackward (no GPU backward yet).
set -euo pipefail
D=.device/train_smoke
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.txt"
cmake -S $D/src -B /tmp/rt-train -DATTN_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  > /tmp/rt-train-cmake.log 2>&1 || { cat /tmp/rt-train-cmake.log; exit 1; }
cmake --build /tmp/rt-train --target AttnRuntimeC -j 16 > /tmp/rt-train-build.log 2>&1 \
  || { tail -50 /tmp/rt-train-build.log; exit 1; }
echo "== runtime built"
set +e
ATTN_MLIR_RUNTIME_LIB=/tmp/rt-train/lib/libAttnRuntimeC.so \
ATTN_MLIR_CACHE_DIR="$PWD/$D/cache" PYTHONPATH="$PWD/$D/python" PYTHONUNBUFFERED=1 \
  python3 $D/train_smoke.py --device cuda --dtype bfloat16 --out "$OUT" "$@" 2>&1 \
  | tee "$OUT/train_smoke.log"
exit "${PIPESTATUS[0]}"
