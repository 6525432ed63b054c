#!/usr/bin/env bash
# Runs on the device from the repository root with .device-mla576 carried
# (bench/mla576_prepare.sh): builds the runtime loader, then the latent
# decode kernels' float64 checks and their timing against torch SDPA
# (bench/mla576_bench.py). MLA_SKIP_TIMING=1: the checks alone.
set -uo pipefail
D=.device-mla576
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
# A build folder of its own: a warm device may hold another session's /tmp/rt.
RT=/tmp/rt-mla576
cmake -S $D/src -B $RT -DATTN_RUNTIME_ONLY=ON -DATTN_GTEST_SOURCE_DIR=$PWD/$D/googletest \
  -DCMAKE_BUILD_TYPE=Release > /tmp/rt-cmake.log 2>&1 || { cat /tmp/rt-cmake.log; exit 1; }
cmake --build $RT -j 16 --target AttnRuntimeC > /tmp/rt-build.log 2>&1 || { tail -50 /tmp/rt-build.log; exit 1; }
echo "== runtime built; latent decode kernels vs float64, then timing"
PYTHONUNBUFFERED=1 python3 -W ignore $D/mla576_bench.py --lib $RT/lib/libAttnRuntimeC.so \
  --kernels $D/kernels --out "$OUT" ${MLA_SKIP_TIMING:+--skip-timing} 2>&1 | tee "$OUT/mla576.log"
