#!/usr/bin/env bash
# The project's one test command (README, .ci/run): installs dependencies,
# builds, and runs every test suite through ctest (lit IR tests, GoogleTest
# unit, runtime and CPU numeric tests).
#
# --sanitize builds into build-asan with AddressSanitizer and
# UndefinedBehaviorSanitizer (clang-22) instead, and runs the same ctest
# there (docs/Reliability.md); a first build takes ~15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    *) echo "usage: scripts/test.sh [--sanitize]" >&2; exit 2 ;;
  esac
done
scripts/bootstrap.sh
if ((sanitize)); then
  if [ ! -f build-asan/build.ninja ]; then
    cmake -S . -B build-asan -G Ninja -DLLVM_USE_SANITIZER="Address;Undefined"
  fi
  cmake --build build-asan -j "${ATTN_BUILD_JOBS:-2}"
  # UBSan findings fail the test (LLVM's flags make them fatal); leaks are
  # reported by LSan at exit.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=1:strict_string_checks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
  ctest --test-dir build-asan --output-on-failure -j 2
  exit 0
fi
scripts/build.sh
ctest --test-dir build --output-on-failure -j 2
