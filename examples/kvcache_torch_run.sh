#!/usr/bin/env bash
# The device half of examples/kvcache_torch_check.py (staged as
# .device/kvcache_torch/run.sh by examples/kvcache_torch_prepare.sh). From
# the repo root on the GPU machine: checks attn_mlir.torch.kvcache_attention
# on CUDA tensors against float64, then times one decode step.
exec scripts/torch_device_run.sh .device/kvcache_torch kvcache_torch_check.py "$@"
