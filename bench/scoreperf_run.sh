#!/usr/bin/env bash
# Runs on the device machine from the repository root with .device-scoreperf
# carried (bench/scoreperf_prepare.sh): the score-operand checks against
# float64, then old vs new vs SDPA vs FlexAttention (scoreperf_bench.py).
# The runtime library comes prebuilt (x86-64, glibc >= 2.34); where it does
# not load, it is built from the staged sources.
set -uo pipefail
D=.device-scoreperf
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader | tee "$OUT/gpu.txt"
lib=$D/libAttnRuntimeC.so
if ! python3 -c "import ctypes, sys; ctypes.CDLL(sys.argv[1])" "$lib" 2>/dev/null; then
  echo "== prebuilt runtime does not load: building it"
  cmake -S $D/new/src -B /tmp/rt -DATTN_RUNTIME_ONLY=ON -DATTN_GTEST_SOURCE_DIR=$PWD/$D/new/googletest \
    -DCMAKE_BUILD_TYPE=Release > /tmp/rt.log 2>&1 && cmake --build /tmp/rt -j 16 --target AttnRuntimeC >> /tmp/rt.log 2>&1 \
    || { tail -30 /tmp/rt.log; exit 1; }
  lib=/tmp/rt/lib/libAttnRuntimeC.so
fi
PYTHONUNBUFFERED=1 timeout "${SCOREPERF_TIMEOUT:-100}" python3 $D/new/scoreperf_bench.py --lib "$lib" \
  --new $D/new/kernels --old $D/old/kernels --out "$OUT" --budget "${SCOREPERF_FLEX_BUDGET:-70}" 2>&1 | tee "$OUT/log.txt"
