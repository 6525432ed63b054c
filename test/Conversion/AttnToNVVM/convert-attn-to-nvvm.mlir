// RUN: attn-opt %s --attn-gpu-kernels="block-m=64 tile-model=" | FileCheck %s
// RUN: attn-opt %s --attn-gpu-kernels="tile-model=" | FileCheck %s --check-prefix=DEFAULT
// tile-model= (off): these checks are of the options' fixed default tiles.

// GQA 4/2, causal (bottom-right), Lq = 200 and Lk = 300 (tails in both), LSE.
// One kernel per op in a gpu.module; the host function keeps only the
// launch: grid (ceil(200 / 64), B * Hq) = (4, 4), 128 threads, and shared
// memory (64 + 2 * 2 * 64) rows * 64 * 2 bytes = 40960.

// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @attention_kernel(%{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x2x300x64xbf16>, %{{.*}}: memref<1x4x200x64xbf16>, %{{.*}}: memref<1x4x200xf32>) kernel
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 40960, block_m = 64, block_n = 64, num_warps = 4, arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"k", input>, #attn.kernel_arg<"v", input>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>]
// The attention the kernel computes, for the manifest: 1/sqrt(64) = 0.125.
// CHECK-SAME: mask = causal_bottom_right, scale = 1.250000e-01 : f64, layout = bhsd, query_type = bf16, key_type = bf16, value_type = bf16, output_type = bf16, batch = 1, heads_q = 4, heads_kv = 2, seq_q = 200, seq_k = 300, head_dim = 64, value_head_dim = 64, lse = true, key_lengths = false, alibi = false, score_mod = false, kv_view = "tensor">
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.dynamic_shared_memory
// Prologue: Q and K[first] in one cp.async group, V[first] in the next; the
// tails (rows >= Lq or >= Lk) are zero-filled through the source-size operand.
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK: nvvm.cp.async.commit.group
// With one m16 tile per warp, Q fragments are loaded to registers once.
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: nvvm.ldmatrix %{{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>}
// The KV loop carries O (8 n8 tiles x 4 f32), m (2 rows) and l (2 rows).
// CHECK: %[[LOOP:.+]]:36 = scf.for
// Block j+1 of K is fetched while S = Q K^T of block j is computed.
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 2
// CHECK: gpu.barrier
// CHECK: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// Only boundary blocks evaluate the mask.
// CHECK: scf.if %{{.*}} -> (f32,
// Row max over the quad: two xor shuffles; exponentials in base 2.
// CHECK: nvvm.shfl.sync bfly %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : f32 -> f32
// CHECK: nvvm.shfl.sync bfly
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// P is packed to bf16 pairs in registers, V is read with ldmatrix.trans.
// CHECK: llvm.fptrunc %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: nvvm.ldmatrix %{{.*}} {{{.*}}layout = #nvvm.mma_layout<col>
// CHECK: nvvm.mma.sync
// CHECK: scf.yield
// Epilogue: l reduced over the quad, LSE = (m * c + log2 l) ln 2, O / l
// staged through the warp's rows of the Q tile, then 16-byte global stores.
// CHECK: llvm.inline_asm "lg2.approx.ftz.f32 $0, $1;"
// CHECK: nvvm.bar.warp.sync
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xi32>
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<1>
// CHECK: gpu.return

// CHECK-LABEL: func.func @attention
// CHECK-NOT: attn.attention
// CHECK-NOT: bufferization
// CHECK: gpu.launch_func @attn_kernels::@attention_kernel blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) dynamic_shared_memory_size %{{.*}} args(
// CHECK-SAME: attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]", shared_memory_bytes = 40960, block_m = 64, block_n = 64, num_warps = 4, arguments = [#attn.kernel_arg<"q", input>, #attn.kernel_arg<"k", input>, #attn.kernel_arg<"v", input>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>]

// The default tile: BLOCK_M = 128, i.e. two m16 tiles per warp, so the loop
// carries 2 x 8 x 4 accumulators and 4 row maxima and sums; shared memory is
// (128 + 2 * 2 * 64) rows * 128 bytes.
// DEFAULT: shared_memory_bytes = 49152
// DEFAULT: %{{.*}}:72 = scf.for
func.func @attention(%q: memref<1x4x200x64xbf16>, %k: memref<1x2x300x64xbf16>,
                     %v: memref<1x2x300x64xbf16>, %o: memref<1x4x200x64xbf16>,
                     %lse: memref<1x4x200xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x4x200x64xbf16> to tensor<1x4x200x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x2x300x64xbf16> to tensor<1x2x300x64xbf16>
  %out, %l = attn.attention ins(%0, %1, %2 : tensor<1x4x200x64xbf16>,
      tensor<1x2x300x64xbf16>, tensor<1x2x300x64xbf16>)
      {mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<1x4x200x64xbf16>, tensor<1x4x200xf32>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<1x4x200x64xbf16>, memref<1x4x200x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse
      : (tensor<1x4x200xf32>, memref<1x4x200xf32>) -> ()
  return
}
