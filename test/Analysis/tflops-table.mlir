// bench/tflops_plot.py's bars (the part that runs without a GPU or
// matplotlib), on the checked-in 2026-12-01 H200 hopper results.
// RUN: python3 %S/../../bench/tflops_plot.py table %S/../../bench/results/2026-12-01-h200-hopper-integrated.json | FileCheck %s

// D = 128, L = 16384, causal, B = 1, H = 16: visible pairs per head
// 16384 x 16385 / 2 = 134225920; FLOPs 2 x 16 x 134225920 x (128 + 128) =
// 1099578736640. The default hopper kernel took 2.04704 ms: 537.2 TFLOP/s;
// cuDNN 1.96384 ms: 559.9 TFLOP/s. The best variant of the run is not shown.
// CHECK: device: NVIDIA H200
// CHECK: bench_d128_l16384_causal: ours sm_90a (wgmma)=537.2 ours sm_80 (mma.sync)={{[0-9.]+}} torch cuDNN=559.9 torch flash={{[0-9.]+}}{{$}}
