#!/usr/bin/env bash
# Stages bench/graph_capture_check.py for the GPU machine: the split-KV decode
# kernel the check captures in a CUDA graph, the runtime's sources and the
# Python package, into DEST (default /work/main/.device-graph).
# Usage: bench/graph_capture_prepare.sh [build] [dest]
# Then, on the GPU machine, from the repo root: bash .device-graph/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/stage_torch_run.sh" "${1:-$root/build}" "${2:-/work/main/.device-graph}" \
  "$root/bench/graph_capture_check.py" "$root/bench/graph_capture_run.sh"
