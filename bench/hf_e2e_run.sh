#!/usr/bin/env bash
# The device half of bench/hf_e2e.py (staged as .device/hf_e2e/run.sh by
# bench/hf_e2e_prepare.sh). From the repo root on the GPU machine:
#   bash .device/hf_e2e/run.sh [--timed-calls N]
# Builds the runtime's C ABI (no LLVM/MLIR), then runs the end-to-end
# measurement on the kernels the prepare step compiled. Results: $OUT.
set -euo pipefail
D=.device/hf_e2e
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.txt"
cmake -S $D/src -B /tmp/rt-e2e -DATTN_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  > /tmp/rt-e2e-cmake.log 2>&1 || { cat /tmp/rt-e2e-cmake.log; exit 1; }
cmake --build /tmp/rt-e2e --target AttnRuntimeC -j 16 > /tmp/rt-e2e-build.log 2>&1 \
  || { tail -50 /tmp/rt-e2e-build.log; exit 1; }
echo "== runtime built"
ATTN_MLIR_RUNTIME_LIB=/tmp/rt-e2e/lib/libAttnRuntimeC.so \
ATTN_MLIR_CACHE_DIR="$PWD/$D/cache" PYTHONPATH="$PWD/$D/python" PYTHONUNBUFFERED=1 \
  python3 $D/hf_e2e.py --out "$OUT" "$@" 2>&1 | tee "$OUT/hf_e2e.log"
exit "${PIPESTATUS[0]}"
