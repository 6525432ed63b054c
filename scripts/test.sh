#!/usr/bin/env bash
# The project's one test command (README, .ci/run): installs dependencies,
# builds, and runs every test suite through ctest (lit IR tests, GoogleTest
# unit, runtime and CPU numeric tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j 2
