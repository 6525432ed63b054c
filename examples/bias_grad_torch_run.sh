#!/usr/bin/env bash
# The device half of examples/bias_grad_torch_check.py (staged as
# .device/bias_grad_torch/run.sh by examples/bias_grad_torch_prepare.sh).
# From the repo root on the GPU machine: checks the gradient of a float
# attn_mask (and dQ, dK, dV) against float64, then times one call.
exec scripts/torch_device_run.sh .device/bias_grad_torch bias_grad_torch_check.py "$@"
