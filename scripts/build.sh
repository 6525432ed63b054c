#!/usr/bin/env bash
# Configures (once) and builds attn-mlir into ./build with at most two jobs:
# the machine has 2 cores and the MLIR translation units are memory-hungry.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja
fi
cmake --build build -j "${ATTN_BUILD_JOBS:-2}"
