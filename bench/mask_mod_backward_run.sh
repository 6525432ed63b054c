#!/usr/bin/env bash
# The device half of bench/mask_mod_backward_bench.py (staged as run.sh by
# bench/mask_mod_backward_prepare.sh). From the repo root on the GPU machine:
#   bash .device-maskmod/run.sh [--reps 20]
# Builds the runtime's C ABI, checks the mask_mod backward against float64
# autograd, then times it against FlexAttention. Output under $OUT.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
exec scripts/torch_device_run.sh "${dir#$PWD/}" mask_mod_backward_bench.py "$@"
