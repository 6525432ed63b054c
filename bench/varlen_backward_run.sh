#!/usr/bin/env bash
# The device half of bench/varlen_backward_bench.py (staged as run.sh by
# bench/varlen_backward_prepare.sh): from the repo root on the GPU machine,
# builds the runtime's C ABI, checks the varlen backward paths against
# float64 autograd, then times them. Output under $OUT.
dir="$(cd "$(dirname "$0")" && pwd)"
exec scripts/torch_device_run.sh "${dir#$PWD/}" varlen_backward_bench.py "$@"
