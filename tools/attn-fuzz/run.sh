#!/usr/bin/env bash
# Builds attn-fuzz (ASan + UBSan + libFuzzer, in build-asan), writes the seed
# corpus from test/**/*.mlir and fuzzes for the given seconds (default 1800)
# on one core. Crashes, timeouts and OOMs are written to
# build-asan/fuzz/artifacts/ and the run goes on (fork mode); docs/Reliability.md
# says how to turn one into a regression test.
#
# usage: tools/attn-fuzz/run.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-1800}"
if ! grep -qs "ATTN_ENABLE_FUZZER:BOOL=ON" build-asan/CMakeCache.txt; then
  cmake -S . -B build-asan -G Ninja -DLLVM_USE_SANITIZER="Address;Undefined" \
    -DATTN_ENABLE_FUZZER=ON
fi
cmake --build build-asan --target attn-fuzz -j "${ATTN_BUILD_JOBS:-2}"
fuzz=build-asan/fuzz
rm -rf "$fuzz/seeds"
python3 tools/attn-fuzz/make-seeds.py . "$fuzz/seeds"
mkdir -p "$fuzz/corpus" "$fuzz/artifacts"
# Leak checks are off: MLIR keeps per-context and registry state alive until
# exit, which LSan would report once per input. User poisoning is off: LLVM's
# BumpPtrAllocator poisons slabs in the instrumented copies of its header
# code in this binary, and uninstrumented libMLIR.so inlines allocations that
# never unpoison, a use-after-poison false positive (docs/Reliability.md).
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allow_user_poisoning=0}" \
nice -n 15 build-asan/bin/attn-fuzz "$fuzz/corpus" "$fuzz/seeds" \
  -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -max_len=16384 \
  -artifact_prefix="$fuzz/artifacts/" -print_final_stats=1 \
  2>&1 | tee "$fuzz/last-run.log"
