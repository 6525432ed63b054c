#!/usr/bin/env bash
# Device side of the tile-model sweep (issue #17), staged by
# bench/tile_sweep_prepare.sh. From the repository root on the GPU machine:
#   bash DEST/tile_sweep_run.sh DEST [tile_sweep.py options]
# Builds the runtime's C ABI (no LLVM/MLIR; the hopper kernels' TMA tensor
# maps are encoded by it at launch), then checks and times every staged
# configuration. SWEEP_BUDGET_S (default 200) bounds the whole script: the
# sweep is cut at what is left, and tile_sweep.py's JSON keeps the shapes
# it finished. Results: $OUT.
set -uo pipefail
D="${1:-.device-sweep}"
shift || true
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
budget=${SWEEP_BUDGET_S:-200}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit \
  --format=csv | tee "$OUT/gpu.txt"
cmake -S "$D/src" -B /tmp/rt-sweep -DATTN_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  > /tmp/rt-sweep-cmake.log 2>&1 || { tail -30 /tmp/rt-sweep-cmake.log; exit 1; }
cmake --build /tmp/rt-sweep --target AttnRuntimeC -j 16 > /tmp/rt-sweep-build.log 2>&1 \
  || { tail -40 /tmp/rt-sweep-build.log; exit 1; }
echo "== runtime built (${SECONDS}s)"
left=$((budget - SECONDS - 5))
PYTHONUNBUFFERED=1 timeout $((left > 30 ? left : 30)) python3 "$D/tile_sweep.py" \
  --lib /tmp/rt-sweep/lib/libAttnRuntimeC.so --kernels "$D/kernels" --out "$OUT" "$@" \
  2>&1 | tee "$OUT/tile_sweep.log" | grep -v -E "^check .* OK|^sweep_.* us  reps"
rc=${PIPESTATUS[0]}
echo "== sweep rc=$rc (${SECONDS}s; 124: cut at the budget)"
exit "$rc"
