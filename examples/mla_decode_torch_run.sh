#!/usr/bin/env bash
# The device half of examples/mla_decode_torch_check.py (staged as
# .device/mla_decode_torch/run.sh by examples/mla_decode_torch_prepare.sh).
# From the repo root on the GPU machine: checks attn_mlir.torch.
# mla_decode_attention on CUDA tensors against float64, then times one
# decode step against SDPA's efficient backend.
dir="$(cd "$(dirname "$0")" && pwd)"
exec scripts/torch_device_run.sh "${dir#"$PWD"/}" mla_decode_torch_check.py "$@"
