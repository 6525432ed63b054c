#!/usr/bin/env bash
# The device half of bench/graph_capture_check.py (staged as run.sh by
# bench/graph_capture_prepare.sh): builds the runtime's C ABI, captures a
# workspace kernel's call in a CUDA graph and checks its replays.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
exec scripts/torch_device_run.sh "${dir#$PWD/}" graph_capture_check.py "$@"
