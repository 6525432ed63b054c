#!/usr/bin/env bash
# The device half of bench/lse_gradient_bench.py (staged as run.sh by
# bench/lse_gradient_prepare.sh): from the repo root on the GPU machine,
# builds the runtime's C ABI, checks the gradient through the returned LSE
# against float64 autograd, then times it. Output under $OUT.
dir="$(cd "$(dirname "$0")" && pwd)"
exec scripts/torch_device_run.sh "${dir#$PWD/}" lse_gradient_bench.py "$@"
