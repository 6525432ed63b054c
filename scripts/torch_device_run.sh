#!/usr/bin/env bash
# The device half of a staged torch run (scripts/stage_torch_run.sh): from
# the repo root on the GPU machine (torch, no LLVM), builds the runtime's C
# ABI from DIR/src, then runs DIR/SCRIPT on DIR/cache and DIR/python.
# Usage: scripts/torch_device_run.sh DIR SCRIPT [ARGS...]; output and the
# script's files under $OUT (default /tmp/out); exit status the script's.
set -euo pipefail
dir="$1" script="$2"
shift 2
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
# One runtime build per staged folder (their sources may differ).
rt="/tmp/rt-$(basename "$dir")"
cmake -S "$dir/src" -B "$rt" -DATTN_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  > "$rt.cmake.log" 2>&1 || { cat "$rt.cmake.log"; exit 1; }
cmake --build "$rt" --target AttnRuntimeC -j 16 > "$rt.build.log" 2>&1 \
  || { tail -50 "$rt.build.log"; exit 1; }
set +e
ATTN_MLIR_RUNTIME_LIB="$rt/lib/libAttnRuntimeC.so" \
ATTN_MLIR_CACHE_DIR="$PWD/$dir/cache" PYTHONPATH="$PWD/$dir/python" PYTHONUNBUFFERED=1 \
  python3 "$dir/$script" --out "$OUT" "$@" 2>&1 | tee "$OUT/${script%.py}.log"
exit "${PIPESTATUS[0]}"
