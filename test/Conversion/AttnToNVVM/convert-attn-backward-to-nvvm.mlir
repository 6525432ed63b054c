// RUN: attn-opt %s --split-input-file --attn-gpu-backward-kernels=tile-model= | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-backward-kernels="deterministic tile-model=" | FileCheck %s --check-prefix=DET

// GQA 4/2, causal (bottom-right), Lq = 200 and Lk = 300 (tails in both),
// D = 64: three kernels over one argument list (q, k, v, o, do, lse, dq, dk,
// dv, then the workspaces delta, lse_log2, dq_accum).
// Preprocess: D / 8 = 8 threads per row, 128 / 8 = 16 rows per CTA, grid
// (ceil(200 / 16), B * Hq) = (13, 4).
// Main: grid (ceil(300 / 64), B * Hkv) = (5, 2); shared memory K + V
// (2 * 64 * 128 bytes) + dS^T (64 * 128) + 2 stages of Q, dO (2 * 64 * 128)
// and lse_log2, delta (2 * 64 * 4): 16384 + 8192 + 2 * 16896 = 58368.
// Convert: 1 * 4 * 200 * 64 / 8 = 6400 chunks, 50 CTAs of 128.

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @bwd_bwd_preprocess(%{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200xf32>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200xf32>, %{{.*}}: memref<1x4x200xf32>, %{{.*}}: memref<1x4x200x64xf32>) kernel
// CHECK-SAME: #attn.kernel_info<family = "backward", grid_formula = "[ceil(Lq / 16), B * Hq, 1]", shared_memory_bytes = 0, block_m = 64, block_n = 64, num_warps = 4, arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"k", input>, #attn.kernel_arg<"v", input>, #attn.kernel_arg<"o", input>, #attn.kernel_arg<"do", input>, #attn.kernel_arg<"lse", input>, #attn.kernel_arg<"dq", output>, #attn.kernel_arg<"dk", output>, #attn.kernel_arg<"dv", output>, #attn.kernel_arg<"delta", workspace>, #attn.kernel_arg<"lse_log2", workspace>, #attn.kernel_arg<"dq_accum", workspace>]
// The attention fields are the forward's: output_type is O's, lse is read.
// CHECK-SAME: mask = causal_bottom_right, scale = 1.250000e-01 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 200, seq_k = 300, head_dim = 64, value_head_dim = 64, lse = true
// delta = rowsum(dO * O): 16-byte loads widened to f32, a butterfly over
// the row's 8 lanes (xor 1, 2, 4).
// CHECK: llvm.fpext %{{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK: nvvm.shfl.sync bfly
// CHECK: nvvm.shfl.sync bfly
// CHECK: nvvm.shfl.sync bfly
// CHECK-NOT: nvvm.shfl.sync
// dq_accum zeroed (two 16-byte stores per chunk), then delta and
// lse_log2 = lse * log2(e), +inf where lse = -inf.
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<1>
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<1>
// CHECK: arith.cmpf oeq, %{{.*}}, %cst{{.*}} : f32
// CHECK: arith.select %{{.*}}, %cst{{.*}}, %{{.*}} : f32
// CHECK: gpu.return

// CHECK: gpu.func @bwd_bwd(
// CHECK-SAME: grid_formula = "[ceil(Lk / block_n), B * Hkv, 1]", shared_memory_bytes = 58368
// CHECK: gpu.dynamic_shared_memory
// Prologue: K, V and step 0's Q, dO (16-byte cp.async, tails zero-filled)
// and lse_log2, delta (4 bytes each) in one group.
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}}
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 4, cache = ca, %{{.*}}
// CHECK: nvvm.cp.async.commit.group
// The loop over (query head of the group, Q block) carries dK and dV of
// the warp's 16 keys: 2 x 8 d8 tiles x 4 f32.
// CHECK: %{{.*}}:64 = scf.for
// Step it + 1 streams into the other stage while step it computes.
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: gpu.barrier
// S^T = K Q^T: 4 k-steps x 8 n8 tiles.
// CHECK-COUNT-32: nvvm.mma.sync
// Boundary and tail blocks only: the mask of the 32 transposed scores.
// CHECK: scf.if %{{.*}} -> (f32,
// P^T = exp2(s c - lse_log2); dV += P^T dO with dO read by ldmatrix.trans.
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// CHECK: llvm.fptrunc %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: nvvm.ldmatrix %{{.*}} {{{.*}}layout = #nvvm.mma_layout<col>
// CHECK-COUNT-32: nvvm.mma.sync
// dP^T = V dO^T, then dK += dS^T Q.
// CHECK-COUNT-64: nvvm.mma.sync
// dS^T to shared memory (4-byte pairs); every warp's keys are needed for dQ.
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// CHECK: gpu.barrier
// dQ = dS K (dS and K both by ldmatrix.trans), added to dq_accum in f32.
// CHECK-COUNT-32: nvvm.mma.sync
// CHECK: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr<1>, f32
// CHECK: gpu.barrier
// CHECK: scf.yield
// Epilogue: dK * scale and dV as 16-bit pairs, keys past Lk skipped.
// CHECK: arith.cmpi slt, %{{.*}}, %c300_i32
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
// CHECK: gpu.return

// CHECK: gpu.func @bwd_bwd_convert(
// CHECK-SAME: grid_formula = "[ceil(B * Hq * Lq * D / 1024), 1, 1]"
// CHECK: arith.cmpi ult, %{{.*}}, %c6400_i32
// dQ = scale * dq_accum, eight stored floats per thread, two 4-element
// stores (the layout: convert-attn-backward-to-nvvm-dq-reduction.mlir).
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<8xf32>
// CHECK: arith.mulf %{{.*}}, %cst : vector<8xf32>
// CHECK: llvm.fptrunc %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK-COUNT-2: llvm.store %{{.*}}, %{{.*}} {alignment = 8 : i64} : vector<4xbf16>, !llvm.ptr<1>

// deterministic: no dq_accum and no atomic anywhere; the third kernel is
// the dQ kernel, grid (ceil(200 / 64), B * Hq) = (4, 4), shared memory Q, dO
// and two stages of K, V: 6 * 64 * 128 = 49152. Its loop over KV blocks
// carries dQ of the warp's 16 rows (8 d8 tiles x 4) in registers.
// DET-LABEL: gpu.module @attn_kernels
// DET: gpu.func @bwd_bwd_preprocess({{.*}}, %{{.*}}: memref<1x4x200xf32>, %{{.*}}: memref<1x4x200xf32>) kernel
// DET-SAME: #attn.kernel_arg<"lse_log2", workspace>]
// DET-NOT: llvm.atomicrmw
// DET: gpu.func @bwd_bwd_dq(
// DET-SAME: grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 49152
// DET: %{{.*}}:32 = scf.for
// S = Q K^T, the masks of the forward's row layout, P, dP = dO V^T, dQ += dS K.
// DET: nvvm.mma.sync
// DET: scf.if %{{.*}} -> (f32,
// DET: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// DET: nvvm.ldmatrix %{{.*}} {{{.*}}layout = #nvvm.mma_layout<col>
// DET: scf.yield
// DET: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
// DET-NOT: llvm.atomicrmw
// DET-LABEL: func.func @bwd
// DET-NOT: memref.alloc() : memref<1x4x200x64xf32>
// DET: gpu.launch_func @attn_kernels::@bwd_bwd_preprocess
// DET: gpu.launch_func @attn_kernels::@bwd_bwd blocks
// DET: gpu.launch_func @attn_kernels::@bwd_bwd_dq blocks in (%c4{{.*}}, %c4{{.*}}, %c1{{.*}}) threads in (%c128{{.*}}) dynamic_shared_memory_size %c49152_i32

// The host: workspaces allocated, three launches in program order, freed.
// CHECK-LABEL: func.func @bwd
// CHECK-NOT: attn.attention_backward
// CHECK-DAG: memref.alloc() : memref<1x4x200xf32>
// CHECK-DAG: memref.alloc() : memref<1x4x200x64xf32>
// CHECK: gpu.launch_func @attn_kernels::@bwd_bwd_preprocess blocks in (%c13, %c4, %c1)
// CHECK: gpu.launch_func @attn_kernels::@bwd_bwd blocks in (%c5, %c2, %{{.*}}) threads in (%c128{{.*}}) dynamic_shared_memory_size %c58368_i32
// CHECK: gpu.launch_func @attn_kernels::@bwd_bwd_convert blocks in (%c50,
// CHECK: memref.dealloc
// CHECK: memref.dealloc
// CHECK: memref.dealloc
// CHECK-NOT: bufferization
func.func @bwd(%q: memref<1x4x200x64xbf16>, %k: memref<1x2x300x64xbf16>,
               %v: memref<1x2x300x64xbf16>, %o: memref<1x4x200x64xbf16>,
               %do: memref<1x4x200x64xbf16>, %lse: memref<1x4x200xf32>,
               %dq: memref<1x4x200x64xbf16>, %dk: memref<1x2x300x64xbf16>,
               %dv: memref<1x2x300x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x4x200xf32> to tensor<1x4x200xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x4x200x64xbf16>, tensor<1x2x300x64xbf16>,
          tensor<1x2x300x64xbf16>, tensor<1x4x200x64xbf16>, tensor<1x4x200x64xbf16>,
          tensor<1x4x200xf32>)
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

// MQA 2/1, f16, D = 128, a sliding window, softcap and ALiBi. The scores
// are tanh(scale x / softcap) * softcap - slope |i + Lk - Lq - j| (natural
// units), so P = exp2(s log2 e - lse_log2), and dS picks up the tanh chain
// rule 1 - tanh^2 (one fma per score). Shared memory: 2 * 64 * 256 + 8192 +
// 2 * (2 * 64 * 256 + 512) = 107520.

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @mods_bwd_preprocess(
// CHECK-SAME: grid_formula = "[ceil(Lq / 8), B * Hq, 1]"
// CHECK: gpu.func @mods_bwd(
// CHECK-SAME: shared_memory_bytes = 107520
// 1 / sqrt(128) = 0.0883883476...
// CHECK-SAME: mask = sliding_window, scale = 0.0883883476{{[0-9]+}} : f64, softcap = 3.000000e+01 : f64, window = [16, 4]
// CHECK-SAME: query_type = f16
// CHECK-SAME: alibi = true
// dK and dV: 2 x 16 d8 tiles x 4.
// CHECK: %{{.*}}:128 = scf.for
// CHECK: llvm.inline_asm "tanh.approx.f32 $0, $1;"
// CHECK: llvm.intr.fma
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// CHECK: arith.negf
// CHECK: llvm.intr.fma
// CHECK: llvm.atomicrmw fadd
// CHECK: gpu.func @mods_bwd_convert(
func.func @mods(%q: memref<1x2x100x128xf16>, %k: memref<1x1x130x128xf16>,
                %v: memref<1x1x130x128xf16>, %o: memref<1x2x100x128xf16>,
                %do: memref<1x2x100x128xf16>, %lse: memref<1x2x100xf32>,
                %dq: memref<1x2x100x128xf16>, %dk: memref<1x1x130x128xf16>,
                %dv: memref<1x1x130x128xf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x100x128xf16> to tensor<1x2x100x128xf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x1x130x128xf16> to tensor<1x1x130x128xf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x1x130x128xf16> to tensor<1x1x130x128xf16>
  %3 = bufferization.to_tensor %o restrict : memref<1x2x100x128xf16> to tensor<1x2x100x128xf16>
  %4 = bufferization.to_tensor %do restrict : memref<1x2x100x128xf16> to tensor<1x2x100x128xf16>
  %5 = bufferization.to_tensor %lse restrict : memref<1x2x100xf32> to tensor<1x2x100xf32>
  %gq, %gk, %gv = attn.attention_backward
      ins(%0, %1, %2, %3, %4, %5 : tensor<1x2x100x128xf16>, tensor<1x1x130x128xf16>,
          tensor<1x1x130x128xf16>, tensor<1x2x100x128xf16>, tensor<1x2x100x128xf16>,
          tensor<1x2x100xf32>)
      {mask_kind = #attn.mask<sliding_window>, window = array<i64: 16, 4>,
       softcap = 30.0 : f64, alibi_slopes = array<f64: 0.5, 0.25>}
      -> tensor<1x2x100x128xf16>, tensor<1x1x130x128xf16>, tensor<1x1x130x128xf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq
      : (tensor<1x2x100x128xf16>, memref<1x2x100x128xf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk
      : (tensor<1x1x130x128xf16>, memref<1x1x130x128xf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv
      : (tensor<1x1x130x128xf16>, memref<1x1x130x128xf16>) -> ()
  return
}
