#!/usr/bin/env bash
# The device half of examples/tp_attention_check.py (staged as
# .device/tp/run.sh by examples/tp_prepare.sh). From the repo root on a
# machine with two GPUs:  bash .device/tp/run.sh
# Builds the runtime's C ABI (no LLVM/MLIR), then runs the tensor-parallel
# check under torchrun with 2 ranks, NCCL, NVLink multicast off, with and
# without ALiBi. Log: $OUT/tp_attention_check.log.
set -euo pipefail
D=.device/tp
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.txt"
cmake -S $D/src -B /tmp/rt-tp -DATTN_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  > /tmp/rt-tp-cmake.log 2>&1 || { cat /tmp/rt-tp-cmake.log; exit 1; }
cmake --build /tmp/rt-tp --target AttnRuntimeC -j 16 > /tmp/rt-tp-build.log 2>&1 \
  || { tail -50 /tmp/rt-tp-build.log; exit 1; }
echo "== runtime built"
NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 \
ATTN_MLIR_RUNTIME_LIB=/tmp/rt-tp/lib/libAttnRuntimeC.so \
ATTN_MLIR_CACHE_DIR="$PWD/$D/cache" PYTHONPATH="$PWD/$D/python" PYTHONUNBUFFERED=1 \
  torchrun --standalone --nproc-per-node 2 $D/tp_attention_check.py --device cuda "$@" \
  2>&1 | tee "$OUT/tp_attention_check.log"
exit "${PIPESTATUS[0]}"
