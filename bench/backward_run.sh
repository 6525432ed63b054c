#!/usr/bin/env bash
# Runs on the device machine from the repository root with .device-bwd
# carried (bench/backward_prepare.sh staged it): builds the runtime (no
# LLVM/MLIR) and runs the backward harness. Arguments go to
# backward_bench.py (--match REGEX, --checks-only, --skip-cudnn,
# --kernels-a DIR for an A/B on the same inputs, --tag NAME).
set -uo pipefail
D=${ATTN_BWD_DIR:-.device-bwd}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
# ATTN_RT_LIB: a prebuilt libAttnRuntimeC.so (skips the runtime build).
LIB=${ATTN_RT_LIB:-}
if [ -z "$LIB" ]; then
  cmake -S $D/src -B /tmp/rt -DATTN_RUNTIME_ONLY=ON -DATTN_GTEST_SOURCE_DIR=$PWD/$D/googletest \
    -DCMAKE_BUILD_TYPE=Release > /tmp/rt-cmake.log 2>&1 || { cat /tmp/rt-cmake.log; exit 1; }
  cmake --build /tmp/rt -j 16 --target AttnRuntimeC > /tmp/rt-build.log 2>&1 || { tail -50 /tmp/rt-build.log; exit 1; }
  LIB=/tmp/rt/lib/libAttnRuntimeC.so
  echo "== runtime built"
fi
cp $D/compile_times.txt "$OUT/" 2>/dev/null
PYTHONUNBUFFERED=1 python3 $D/backward_bench.py --lib "$LIB" \
  --kernels $D/kernels --out "$OUT" "$@" 2>&1 | tee "$OUT/${ATTN_BWD_LOG:-backward}.log"
