#!/usr/bin/env bash
# A/B of the GPU pipeline in one device call: A = kernels staged from an
# older build (.device-a, its own runtime sources), B = now (.device).
# Prefill: bench/ab_bench.py (checks vs float64 on the same inputs, outputs
# compared, A/B timing alternated). Decode: device_bench.py --only decode
# for A then B (checks, then timing against copy bandwidth). Hopper (when
# .device-hopper-a/-b are carried): hopper_bench.py checks and timing for
# each side. Run from the repository root on the device machine.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.txt"
build() { # src-dir build-dir
  cmake -S "$1" -B "$2" -DATTN_RUNTIME_ONLY=ON -DATTN_GTEST_SOURCE_DIR=$PWD/.device/googletest \
    -DCMAKE_BUILD_TYPE=Release > "$2.log" 2>&1 && cmake --build "$2" -j 16 --target AttnRuntimeC >> "$2.log" 2>&1 \
    || { tail -30 "$2.log"; exit 1; }
}
build .device-a/src /tmp/rta
build .device/src /tmp/rtb
LA=/tmp/rta/lib/libAttnRuntimeC.so LB=/tmp/rtb/lib/libAttnRuntimeC.so
echo "== prefill A/B"
PYTHONUNBUFFERED=1 python3 .device/ab_bench.py --lib-a $LA --kernels-a .device-a/kernels \
  --lib-b $LB --kernels-b .device/kernels --out "$OUT/prefill" ${AB_MATCH:+--match "$AB_MATCH"} 2>&1 | tail -60
for side in a b; do
  d=.device; lib=$LB; [ $side = a ] && { d=.device-a; lib=$LA; }
  echo "== decode $side"
  PYTHONUNBUFFERED=1 python3 $d/device_bench.py --lib $lib --kernels $d/kernels --out "$OUT/decode-$side" \
    --only decode --skip-flex 2>&1 | tail -45
done
for side in a b; do
  d=.device-hopper-$side
  [ -d $d ] || continue
  echo "== hopper $side"
  PYTHONUNBUFFERED=1 python3 $d/hopper_bench.py --kernels $d/kernels --out "$OUT/hopper-$side" 2>&1 | tail -30
done
