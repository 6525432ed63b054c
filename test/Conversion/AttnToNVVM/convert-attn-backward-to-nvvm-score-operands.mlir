// RUN: attn-opt %s --split-input-file --attn-gpu-backward-kernels=tile-model= | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-backward-kernels="deterministic tile-model=" | FileCheck %s --check-prefix=DET

// A constant bias [B, Hq, Lq, Lk] (bf16, no grad_bias) and a key-padding
// mask [B, 1, 1, Lk] (broadcast over heads and queries), GQA 4/2, causal,
// Lq = 200, Lk = 300: both are kernel arguments after lse, in the entry's
// order, in every launch; dq and the workspaces follow them.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @ops_bwd_preprocess(%{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200xf32>, %{{.*}}: memref<1x4x200x300xbf16>, %{{.*}}: memref<1x1x1x300xi1>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200xf32>, %{{.*}}: memref<1x4x200xf32>, %{{.*}}: memref<1x4x200x64xf32>) kernel
// CHECK-SAME: #attn.kernel_arg<"lse", input>, #attn.kernel_arg<"bias", input>, #attn.kernel_arg<"mask", input>, #attn.kernel_arg<"dq", output>
// The main kernel: S^T = K Q^T (32 mma), then per transposed score the
// bias in natural units (scale applied: a bias forces them), read at
// (batch, query head, query = column, key = row) and widened, then the
// mask byte (nonzero keeps), then the positional mask of boundary blocks.
// CHECK: gpu.func @ops_bwd(
// CHECK-COUNT-32: nvvm.mma.sync
// CHECK: arith.mulf %{{.*}}, %cst{{.*}} : f32
// CHECK: llvm.load %{{.*}} {alignment = 2 : i64} : !llvm.ptr<1> -> bf16
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.addf
// CHECK: llvm.load %{{.*}} {alignment = 1 : i64} : !llvm.ptr<1> -> i8
// CHECK: arith.cmpi ne, %{{.*}}, %{{.*}} : i8
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// CHECK: gpu.func @ops_bwd_convert(
// The host passes the operands' memrefs to the three launches.
// CHECK-LABEL: func.func @ops
// CHECK: gpu.launch_func @attn_kernels::@ops_bwd_preprocess {{.*}} args({{.*}}%arg6 : memref<1x4x200x300xbf16>, %arg7 : memref<1x1x1x300xi1>, %arg8 :

// The deterministic dQ kernel recomputes P with the same operands (the
// forward's emitPositionalMods in its row layout).
// DET: gpu.func @ops_bwd_dq(
// DET: llvm.load %{{.*}} {alignment = 2 : i64} : !llvm.ptr<1> -> bf16
// DET: llvm.load %{{.*}} {alignment = 1 : i64} : !llvm.ptr<1> -> i8
// DET: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
func.func @ops(%q: memref<1x4x200x64xbf16>, %k: memref<1x2x300x64xbf16>,
               %v: memref<1x2x300x64xbf16>, %o: memref<1x4x200x64xbf16>,
               %do: memref<1x4x200x64xbf16>, %lse: memref<1x4x200xf32>,
               %bias: memref<1x4x200x300xbf16>, %mask: memref<1x1x1x300xi1>,
               %dq: memref<1x4x200x64xbf16>, %dk: memref<1x2x300x64xbf16>,
               %dv: memref<1x2x300x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %6 = bufferization.to_tensor %bias restrict : memref<1x4x200x300xbf16> to tensor<1x4x200x300xbf16>
  %7 = bufferization.to_tensor %mask restrict : memref<1x1x1x300xi1> to tensor<1x1x1x300xi1>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x64xbf16>, tensor<1x2x300x64xbf16>,
          tensor<1x2x300x64xbf16>, tensor<1x4x200x64xbf16>, tensor<1x4x200x64xbf16>,
          tensor<1x4x200xf32>)
      bias(%6 : tensor<1x4x200x300xbf16>) mask(%7 : tensor<1x1x1x300xi1>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x64xbf16>, tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<1x4x200x64xbf16>, memref<1x4x200x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<1x2x300x64xbf16>, memref<1x2x300x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<1x2x300x64xbf16>, memref<1x2x300x64xbf16>) -> ()
  return
}

// -----

// key_lengths [B] (i32) after lse: each program reads len_b =
// clamp(key_lengths[b], 0, Lk); Lk = 256 is a multiple of the 64-key block,
// yet every block is masked (keys >= len_b), the bottom-right diagonal is
// len_b - Lq, and a KV block at or past len_b visits no Q block.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @lens_bwd_preprocess(%{{.*}}: memref<2x2x128x64xf16>, {{.*}}, %{{.*}}: memref<2x2x128xf32>, %{{.*}}: memref<2xi32>, %{{.*}}: memref<2x2x128x64xf16>,
// CHECK-SAME: #attn.kernel_arg<"lse", input>, #attn.kernel_arg<"key_lengths", input>, #attn.kernel_arg<"dq", output>
// CHECK-SAME: key_lengths = true
// CHECK: gpu.func @lens_bwd(
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: arith.maxsi %{{.*}}, %c0_i32{{.*}} : i32
// CHECK: arith.minsi %{{.*}}, %c256_i32 : i32
// CHECK: arith.cmpi slt, %{{.*}}, %{{.*}} : i32
// CHECK: arith.select %{{.*}}, %{{.*}}, %c0_i32{{.*}} : i32
// CHECK: scf.for
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK-LABEL: func.func @lens
// CHECK: gpu.launch_func @attn_kernels::@lens_bwd blocks in (%c4{{.*}}, %c4{{.*}},

// DET: gpu.func @lens_bwd_dq(
// DET: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// DET: arith.maxsi %{{.*}}, %c0_i32{{.*}} : i32
// DET: arith.minsi %{{.*}}, %c256_i32 : i32
// DET: scf.for
func.func @lens(%q: memref<2x2x128x64xf16>, %k: memref<2x2x256x64xf16>,
                %v: memref<2x2x256x64xf16>, %o: memref<2x2x128x64xf16>,
                %do: memref<2x2x128x64xf16>, %lse: memref<2x2x128xf32>,
                %len: memref<2xi32>,
                %dq: memref<2x2x128x64xf16>, %dk: memref<2x2x256x64xf16>,
                %dv: memref<2x2x256x64xf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<2x2x128x64xf16> to tensor<2x2x128x64xf16>
  %1 = bufferization.to_tensor %k restrict : memref<2x2x256x64xf16> to tensor<2x2x256x64xf16>
  %2 = bufferization.to_tensor %v restrict : memref<2x2x256x64xf16> to tensor<2x2x256x64xf16>
  %3 = bufferization.to_tensor %o restrict : memref<2x2x128x64xf16> to tensor<2x2x128x64xf16>
  %4 = bufferization.to_tensor %do restrict : memref<2x2x128x64xf16> to tensor<2x2x128x64xf16>
  %5 = bufferization.to_tensor %lse restrict : memref<2x2x128xf32> to tensor<2x2x128xf32>
  %6 = bufferization.to_tensor %len restrict : memref<2xi32> to tensor<2xi32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<2x2x128x64xf16>, tensor<2x2x256x64xf16>,
          tensor<2x2x256x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>,
          tensor<2x2x128xf32>)
      key_lengths(%6 : tensor<2xi32>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<2x2x128x64xf16>, tensor<2x2x256x64xf16>, tensor<2x2x256x64xf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<2x2x128x64xf16>, memref<2x2x128x64xf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<2x2x256x64xf16>, memref<2x2x256x64xf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<2x2x256x64xf16>, memref<2x2x256x64xf16>) -> ()
  return
}

// -----

// Sinks [Hq] f32 after lse, d_sinks [Hq] f32 after dv (the workspaces
// follow), and a fourth launch after the dQ program: one CTA of 128 threads
// per query head sums -exp(sinks[h] - lse) * delta over the head's B * Lq
// rows (each thread its rows in order, a 5-step butterfly per warp, the 4
// warp sums through 16 bytes of shared memory in order: no atomics). The
// other kernels are unchanged: the LSE includes the sink, so P does too.
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @sinks_bwd_preprocess({{.*}}, %{{.*}}: memref<1x2x64xf32>, %{{.*}}: memref<2xf32>, %{{.*}}: memref<1x2x64x64xbf16>, %{{.*}}: memref<1x1x64x64xbf16>, %{{.*}}: memref<1x1x64x64xbf16>, %{{.*}}: memref<2xf32>, %{{.*}}: memref<1x2x64xf32>,
// CHECK-SAME: #attn.kernel_arg<"lse", input>, #attn.kernel_arg<"sinks", input>, #attn.kernel_arg<"dq", output>, #attn.kernel_arg<"dk", output>, #attn.kernel_arg<"dv", output>, #attn.kernel_arg<"d_sinks", output>, #attn.kernel_arg<"delta", workspace>
// CHECK: gpu.func @sinks_bwd_sinks(
// CHECK-SAME: grid_formula = "[Hq, 1, 1]", shared_memory_bytes = 16
// CHECK: scf.for
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// CHECK: arith.select
// CHECK: scf.yield
// CHECK-COUNT-5: nvvm.shfl.sync bfly
// CHECK: gpu.barrier
// CHECK: arith.negf
// CHECK: gpu.return
// CHECK-LABEL: func.func @sinks
// CHECK: gpu.launch_func @attn_kernels::@sinks_bwd_convert
// CHECK: gpu.launch_func @attn_kernels::@sinks_bwd_sinks blocks in (%c2{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c128{{.*}}, %c1{{.*}}, %c1{{.*}}) dynamic_shared_memory_size %c16_i32

// DET: gpu.launch_func @attn_kernels::@sinks_bwd_dq
// DET: gpu.launch_func @attn_kernels::@sinks_bwd_sinks
func.func @sinks(%q: memref<1x2x64x64xbf16>, %k: memref<1x1x64x64xbf16>, %v: memref<1x1x64x64xbf16>, %o: memref<1x2x64x64xbf16>, %do: memref<1x2x64x64xbf16>, %lse: memref<1x2x64xf32>, %s: memref<2xf32>, %dq: memref<1x2x64x64xbf16>, %dk: memref<1x1x64x64xbf16>, %dv: memref<1x1x64x64xbf16>, %ds: memref<2xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x1x64x64xbf16> to tensor<1x1x64x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x64xf32> to tensor<1x2x64xf32>
  %6 = bufferization.to_tensor %s restrict : memref<2xf32> to tensor<2xf32>
  %gq, %gk, %gv, %gs = attn.attention_backward ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) sinks(%6 : tensor<2xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x1x64x64xbf16>, tensor<1x1x64x64xbf16> grad_sinks(tensor<2xf32>)
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x1x64x64xbf16>, memref<1x1x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gs in restrict writable %ds : (tensor<2xf32>, memref<2xf32>) -> ()
  return
}
