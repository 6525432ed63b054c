#!/usr/bin/env bash
# Runs on the device from the repository root with .device-mladec carried
# (bench/mla_prepare.sh): torch SDPA's 576/512 MLA decode timings first (no
# build needed), then the runtime loader and the float64 checks of the
# shared K/V cache decode kernels (decode_bench.py via device_bench.py).
set -uo pipefail
D=.device-mladec
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
# MLA_SKIP_TORCH=1: the checks alone.
if [ -z "${MLA_SKIP_TORCH:-}" ]; then
  echo "== torch MLA decode 576/512 (materialized K/V)"
  PYTHONUNBUFFERED=1 python3 -W ignore $D/mla_decode_torch.py --out "$OUT" 2>&1 | tee "$OUT/mla_decode_torch.log"
fi
# A build folder of its own: a warm device may hold another session's /tmp/rt.
RT=/tmp/rt-mladec
cmake -S $D/src -B $RT -DATTN_RUNTIME_ONLY=ON -DATTN_GTEST_SOURCE_DIR=$PWD/$D/googletest \
  -DCMAKE_BUILD_TYPE=Release > /tmp/rt-cmake.log 2>&1 || { cat /tmp/rt-cmake.log; exit 1; }
cmake --build $RT -j 16 --target AttnRuntimeC > /tmp/rt-build.log 2>&1 || { tail -50 /tmp/rt-build.log; exit 1; }
echo "== runtime built; shared K/V cache decode kernels vs float64"
PYTHONUNBUFFERED=1 python3 $D/device_bench.py --lib $RT/lib/libAttnRuntimeC.so \
  --kernels $D/kernels --out "$OUT" --only decode --match shared --skip-flex 2>&1 | tee "$OUT/shared_checks.log"
