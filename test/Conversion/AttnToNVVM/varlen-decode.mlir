// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels | FileCheck %s --check-prefix=PLAN
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels="num-splits=2" --attn-tile | FileCheck %s --check-prefix=TILED
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels="num-splits=2" | FileCheck %s

// Varlen queries over per-sequence paged caches (decode): 4 sequences, 6
// packed query rows, GQA 8/2 (4 query heads per KV head, so block-m = 4
// query rows per head fill the m16 tile), bshd views of the pages, causal
// bottom-right at key_lengths[n] - lq_n, LSE. kernel=auto picks decode.
// PLAN-LABEL: func.func @paged
// PLAN: attn.kernel_info = #attn.kernel_info<family = "decode", grid_formula = "[num_splits, (ceil(Lq / block_m) + N) * Hkv, 1]"
// PLAN-SAME: block_m = 4
// PLAN-SAME: key_lengths = true
// PLAN-SAME: kv_view = "attn.paged_view", varlen = true
// attn-tile: (sequence, KV head, query block, split) programs over cache n
// (kv_tile batch n, rows k0: no key offsets), the sequence's key length
// key_lengths[n]; each split's partial at the packed rows cu_q[n] + q0.
// TILED-LABEL: func.func @paged
// TILED: scf.forall (%[[S:.+]], %[[H:.+]], %[[QB:.+]], %[[SP:.+]]) in (4, 2, 2, 2)
// TILED: tensor.extract %[[CQ:.+]][%[[S]]] : tensor<5xi32>
// TILED: tensor.extract %[[LENS:.+]][%[[S]]] : tensor<4xi32>
// TILED: attn.kv_tile %{{.+}}[%[[S]], %{{.+}}, %[[K0:.+]]] {layout = #attn.layout<bshd>} : tensor<4x256x2x64xbf16> -> tensor<16x64xbf16>
// TILED: attn.block_attention {{.+}} at(%[[S]], %{{.+}}, %{{.+}}, %[[K0]])
// TILED: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[%[[SP]], %{{.+}}, %{{.+}}, %[[QROW:.+]], 0] [1, 1, 4, %{{.+}}, 64]
// TILED: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[%[[SP]], %{{.+}}, %{{.+}}, %[[QROW]]] [1, 1, 4, %{{.+}}]
// TILED: attn.combine
//
// The kernel: q, the pages and the table once, key_lengths, cu_seqlens_q,
// o, lse and the split workspaces of (ceil(6 / 4) + 4) * 2 = 12 programs.
// y / Hkv is the flattened query block: the binary search for the last n
// with floor(cu_q[n] / 4) + n <= it (cu_q[n] clamped to [0, 6]), then the
// program's coordinates (its offsets and key_lengths[n] from the memrefs)
// and the block table rows of cache n.
// CHECK-LABEL: gpu.func @paged_kernel
// CHECK-SAME: (%{{.+}}: memref<1x6x8x64xbf16>, %{{.+}}: memref<64x16x2x64xbf16>, %[[TABLE:.+]]: memref<4x16xi32>, %{{.+}}: memref<64x16x2x64xbf16>, %[[LENS:.+]]: memref<4xi32>, %[[CUQ:.+]]: memref<5xi32>, %{{.+}}: memref<1x6x8x64xbf16>, %{{.+}}: memref<1x8x6xf32>, %{{.+}}: memref<12x2x16x64xf32>, %{{.+}}: memref<12x2x16xf32>, %{{.+}}: memref<12xi32>)
// CHECK: %[[BY:.+]] = gpu.block_id  y
// CHECK: %[[FLAT:.+]] = arith.divui %[[BY]], %{{.+}} : index
// CHECK: %[[X:.+]] = arith.index_castui %[[FLAT]] : index to i32
// CHECK: %[[FOUND:.+]]:2 = scf.while
// CHECK: memref.load %[[CUQ]][%{{.+}}] : memref<5xi32>
// CHECK: arith.divui %{{.+}}, %{{.+}} : i32
// CHECK: arith.cmpi sle, %{{.+}}, %[[X]] : i32
// CHECK: %[[SEQ:.+]] = arith.index_castui %[[FOUND]]#0 : i32 to index
// CHECK: memref.load %[[CUQ]][%{{.+}}] : memref<5xi32>
// CHECK: memref.load %[[LENS]][%{{.+}}] : memref<4xi32>
// CHECK: memref.load %[[TABLE]][%{{.+}}, %{{.+}}] : memref<4x16xi32>
// The host: a constant grid of 2 splits x 12 programs, the workspaces.
// CHECK-LABEL: func.func @paged
// CHECK: memref.alloc() : memref<12x2x16x64xf32>
// CHECK: gpu.launch_func @attn_kernels::@paged_kernel blocks in (%{{.+}}, %{{.+}}, %{{.+}})
func.func @paged(%q: memref<1x6x8x64xbf16>, %kp: memref<64x16x2x64xbf16>, %vp: memref<64x16x2x64xbf16>, %table: memref<4x16xi32>, %lens: memref<4xi32>, %cq: memref<5xi32>, %o: memref<1x6x8x64xbf16>, %lse: memref<1x8x6xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x6x8x64xbf16> to tensor<1x6x8x64xbf16>
  %1 = bufferization.to_tensor %kp restrict : memref<64x16x2x64xbf16> to tensor<64x16x2x64xbf16>
  %2 = bufferization.to_tensor %vp restrict : memref<64x16x2x64xbf16> to tensor<64x16x2x64xbf16>
  %3 = bufferization.to_tensor %table restrict : memref<4x16xi32> to tensor<4x16xi32>
  %4 = bufferization.to_tensor %lens restrict : memref<4xi32> to tensor<4xi32>
  %5 = bufferization.to_tensor %cq restrict : memref<5xi32> to tensor<5xi32>
  %k = attn.paged_view %1[%3] {layout = #attn.layout<bshd>} : tensor<64x16x2x64xbf16>, tensor<4x16xi32> -> tensor<4x256x2x64xbf16>
  %v = attn.paged_view %2[%3] {layout = #attn.layout<bshd>} : tensor<64x16x2x64xbf16>, tensor<4x16xi32> -> tensor<4x256x2x64xbf16>
  %out, %l = attn.attention ins(%0, %k, %v : tensor<1x6x8x64xbf16>, tensor<4x256x2x64xbf16>, tensor<4x256x2x64xbf16>) key_lengths(%4 : tensor<4xi32>) cu_seqlens_q(%5 : tensor<5xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x6x8x64xbf16>, tensor<1x8x6xf32>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x6x8x64xbf16>, memref<1x6x8x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<1x8x6xf32>, memref<1x8x6xf32>) -> ()
  return
}

// -----

// Contiguous caches [N, Lk, Hkv, D], MHA (block-m 16), no mask, no LSE:
// K/V rows of cache n at n * Lk * Hkv * D + h * D.
// PLAN-LABEL: func.func @contiguous
// PLAN: family = "decode"
// PLAN-SAME: block_m = 8
// CHECK-LABEL: gpu.func @contiguous_kernel
// CHECK-SAME: (%{{.+}}: memref<1x8x2x64xf16>, %{{.+}}: memref<3x100x2x64xf16>, %{{.+}}: memref<3x100x2x64xf16>, %{{.+}}: memref<3xi32>, %{{.+}}: memref<4xi32>, %{{.+}}: memref<1x8x2x64xf16>
func.func @contiguous(%q: memref<1x8x2x64xf16>, %k: memref<3x100x2x64xf16>, %v: memref<3x100x2x64xf16>, %lens: memref<3xi32>, %cq: memref<4xi32>, %o: memref<1x8x2x64xf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x8x2x64xf16> to tensor<1x8x2x64xf16>
  %1 = bufferization.to_tensor %k restrict : memref<3x100x2x64xf16> to tensor<3x100x2x64xf16>
  %2 = bufferization.to_tensor %v restrict : memref<3x100x2x64xf16> to tensor<3x100x2x64xf16>
  %3 = bufferization.to_tensor %lens restrict : memref<3xi32> to tensor<3xi32>
  %4 = bufferization.to_tensor %cq restrict : memref<4xi32> to tensor<4xi32>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x8x2x64xf16>, tensor<3x100x2x64xf16>, tensor<3x100x2x64xf16>) key_lengths(%3 : tensor<3xi32>) cu_seqlens_q(%4 : tensor<4xi32>) {layout = #attn.layout<bshd>} -> tensor<1x8x2x64xf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x8x2x64xf16>, memref<1x8x2x64xf16>) -> ()
  return
}
