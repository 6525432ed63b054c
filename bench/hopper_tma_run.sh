#!/usr/bin/env bash
# Device side of issue #13's TMA loads: builds the runtime's C ABI (it
# encodes the tensor maps of TMA kernels at launch), checks every staged
# hopper kernel against float64, runs compute-sanitizer memcheck and
# racecheck and synccheck on two small TMA kernels, then times TMA vs cp.async vs torch
# (cuDNN, flash, FlexAttention) round-robin on the staged bench shapes, and
# with time left an ncu stall breakdown of both loads at D = 128 L = 16k.
# HOPPER_SANITIZE: the kernels the sanitizer runs; HOPPER_BENCH_ARGS: more
# hopper_bench.py flags for the timing (e.g. --skip-flex); HOPPER_CHECK_MATCH:
# the checks run (a regex, default all).
# Stage first (here): HOPPER_CHECK_VARIANTS="hcpasync hpers3" HOPPER_BENCH_SET=overlap \
#   HOPPER_BENCH_SHAPES="128,1024 128,4096 128,16384 64,1024 64,4096 64,16384 gqa" \
#   HOPPER_BENCH_VARIANTS="htma hcpasync" bench/hopper_prepare.sh build /work/main/.device-tma
# Device (repository root): bash .device-tma/hopper_tma_run.sh .device-tma
set -uo pipefail
D="${1:-.device-tma}"
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
budget=${HOPPER_RUN_BUDGET_S:-330}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
cmake -S "$D/src" -B /tmp/rt-tma -DATTN_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  > /tmp/rt-tma-cmake.log 2>&1 || { tail -30 /tmp/rt-tma-cmake.log; exit 1; }
cmake --build /tmp/rt-tma --target AttnRuntimeC -j 16 > /tmp/rt-tma-build.log 2>&1 \
  || { tail -40 /tmp/rt-tma-build.log; exit 1; }
LIB=/tmp/rt-tma/lib/libAttnRuntimeC.so
echo "== runtime built (${SECONDS}s)"
if [ -z "${HOPPER_SKIP_CHECKS:-}" ]; then
echo "== checks against float64"
PYTHONUNBUFFERED=1 timeout 150 python3 "$D/hopper_bench.py" --lib "$LIB" --kernels "$D/kernels" \
  --match "${HOPPER_CHECK_MATCH:-^check_}" --out "$OUT/checks" 2>&1 | tee "$OUT/checks.log" | grep -v " OK$"
echo "== checks done (${SECONDS}s)"
fi
echo "== compute-sanitizer (one launch each, TMA)"
for k in ${HOPPER_SANITIZE:-check_h_plain_d128 check_h_tail_causal_tl}; do
  for tool in ${HOPPER_SANITIZE_TOOLS:-memcheck racecheck synccheck}; do
    printf -- "-- %s %s: " "$k" "$tool"
    timeout 60 compute-sanitizer --tool "$tool" --error-exitcode 1 python3 "$D/hopper_ncu.py" --lib "$LIB" \
      --kernels "$D/kernels" --name "$k" > "$OUT/sanitize-$k-$tool.log" 2>&1
    echo "rc=$? (1: the sanitizer saw errors or the launch failed) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|Hazard' "$OUT/sanitize-$k-$tool.log" | head -3 | tr '\n' ' ') $(grep -m1 Error: "$OUT/sanitize-$k-$tool.log")"
  done
done
echo "== sanitizer done (${SECONDS}s)"
[ -n "${HOPPER_SANITIZE_ONLY:-}" ] && exit 0
echo "== timing (round-robin, ${HOPPER_REPEATS:-2} repeats)"
left=$((budget - SECONDS - 40))
PYTHONUNBUFFERED=1 HOPPER_REPEATS=${HOPPER_REPEATS:-2} timeout $((left > 60 ? left : 60)) \
  python3 "$D/hopper_bench.py" --lib "$LIB" --kernels "$D/kernels" --match '^bench_' ${HOPPER_BENCH_ARGS:-} \
  --out "$OUT/bench" 2>&1 | tee "$OUT/bench.log" | grep -E "^\{|ERROR|FAIL" | cut -c1-400
echo "== timing done (${SECONDS}s)"
if [ $((budget - SECONDS)) -gt 45 ] && [ -n "${HOPPER_NCU:-}" ]; then
  echo "== ncu stalls"
  HOPPER_LIB="$LIB" OUT="$OUT" timeout $((budget - SECONDS - 5)) bash "$D/hopper_stalls.sh" "$D" "$HOPPER_NCU"
fi
echo "== end (${SECONDS}s)"
