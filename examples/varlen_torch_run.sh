#!/usr/bin/env bash
# The device half of examples/varlen_torch_check.py (staged as
# .device/varlen_torch/run.sh by examples/varlen_torch_prepare.sh). From the
# repo root on the GPU machine: builds the runtime's C ABI, then checks
# attn_mlir.torch.varlen_attention on CUDA tensors against float64.
exec scripts/torch_device_run.sh .device/varlen_torch varlen_torch_check.py "$@"
