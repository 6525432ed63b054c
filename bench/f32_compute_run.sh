#!/usr/bin/env bash
# The device half of bench/f32_compute_bench.py (staged as run.sh by
# bench/f32_compute_prepare.sh). From the repo root on the GPU machine:
#   bash .device-f32/run.sh [--reps 30]
# Builds the runtime's C ABI, checks every f32 variant (bit identity with the
# bf16 / f16 kernel, float64 error), then times them. Output under $OUT.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
nvidia-smi --query-gpu=name,driver_version --format=csv
exec scripts/torch_device_run.sh "${dir#$PWD/}" f32_compute_bench.py "$@"
