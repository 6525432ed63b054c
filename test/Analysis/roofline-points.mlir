// bench/roofline.py's placement of measured kernels (the part that runs
// without a GPU or matplotlib), on the checked-in 2026-11-26 H200 results.
// RUN: python3 %S/../../bench/roofline.py points %S/../../bench/results/2026-11-26-h200.json %S/../../bench/results/2026-11-26-h200-decode.json | FileCheck %s

// Prefill B = 16, H = 16, L = 1024, D = 128, causal: visible GEMM FLOPs
// 4 x 128 x 16 x 16 x (1024 x 1025 / 2) = 68786585600; bytes of Q, K, V, O
// in bf16: 4 x 16 x 16 x 1024 x 128 x 2 = 268435456; intensity 256.25.
// m128w4n64 took 0.245504 ms: 68786585600 / 0.245504e-3 = 280.2 TFLOP/s.
// CHECK: NVIDIA H200 | prefill bench_d128_l1024_causal ours m128w4n64: 256.2 FLOP/B, 280.2 TFLOP/s, 1.093 TB/s
// CHECK: NVIDIA H200 | prefill bench_d128_l1024_causal cudnn: 256.2 FLOP/B

// Decode B = 1, GQA 32/8, Lk = 8192, D = 128: 4 x 128 x 32 x 8192 =
// 134217728 FLOPs over Q + O (2 x 32 x 128 x 2) + K + V (2 x 8 x 8192 x
// 128 x 2) = 33570816 bytes: 4.0 FLOP/B.
// CHECK: NVIDIA H200 | decode decode_gqa_b1_l8192 ours contig: 4.0 FLOP/B
// CHECK: NVIDIA H200 | decode decode_gqa_b1_l8192 flash: 4.0 FLOP/B
