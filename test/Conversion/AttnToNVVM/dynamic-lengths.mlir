// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels | FileCheck %s --check-prefix=PLAN
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels --attn-tile | FileCheck %s --check-prefix=TILED
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels | FileCheck %s --check-prefix=WHOLE

// Runtime lengths: B, Lq and Lk dynamic (causal, GQA 8/2, D = 128). The plan
// records them as -1; attn-tile cuts (B, Hq, ceil(Lq / 128)) programs from
// the tensors' dims; the kernel takes q, k, v, o and the i32 lengths B, Lq,
// Lk, reads its query block as ceil(Lq / 128) - 1 - x (longest first), its
// diagonal as Lk - Lq, and is launched on the grid (ceil(Lq / 128), B * 8, 1)
// with the dynamic memrefs passed as static stand-ins (dims 1).
// PLAN-LABEL: func.func @prefill
// PLAN: attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m), B * Hq, 1]"
// PLAN-SAME: batch = -1, heads_q = 8, heads_kv = 2, seq_q = -1, seq_k = -1
// TILED-LABEL: func.func @prefill
// TILED: %[[B:.+]] = tensor.dim %{{.+}}, %{{.+}} : tensor<?x8x?x128xbf16>
// TILED: %[[LQ:.+]] = tensor.dim %{{.+}}, %{{.+}} : tensor<?x8x?x128xbf16>
// TILED: %[[NB:.+]] = arith.ceildivsi %[[LQ]], %{{.+}} : index
// TILED: scf.forall (%{{.+}}, %{{.+}}, %{{.+}}) in (%[[B]], 8, %[[NB]])
// CHECK-LABEL: gpu.func @prefill_kernel
// CHECK-SAME: (%{{.+}}: memref<1x8x1x128xbf16>, %{{.+}}: memref<1x2x1x128xbf16>, %{{.+}}: memref<1x2x1x128xbf16>, %{{.+}}: memref<1x8x1x128xbf16>, %[[KB:.+]]: i32, %[[KLQ:.+]]: i32, %[[KLK:.+]]: i32)
// CHECK-SAME: #attn.kernel_arg<"B", length>, #attn.kernel_arg<"Lq", length>, #attn.kernel_arg<"Lk", length>
// CHECK: %[[X:.+]] = gpu.block_id  x
// CHECK: %[[LQI:.+]] = arith.index_castui %[[KLQ]] : i32 to index
// CHECK: %[[NBK:.+]] = arith.ceildivsi %[[LQI]], %{{.+}} : index
// CHECK: %[[LAST:.+]] = arith.addi %[[NBK]], %{{.+}} : index
// CHECK: arith.subi %[[LAST]], %[[X]] : index
// CHECK: arith.subi %[[KLK]], %[[KLQ]] : i32
// Only the last Q block and the last K/V block can be partial: each tile
// copy branches once on first_row + rows <= length, whole tiles taking the
// unpredicated cp.async, the partial tile the zero-filling one.
// WHOLE-LABEL: gpu.func @prefill_kernel
// WHOLE-SAME: %{{.+}}: i32, %[[WLQ:.+]]: i32, %[[WLK:.+]]: i32)
// WHOLE: %[[QWHOLE:.+]] = arith.cmpi sle, %{{.+}}, %[[WLQ]] : i32
// WHOLE-NEXT: scf.if %[[QWHOLE]] {
// WHOLE: nvvm.cp.async.shared.global %{{.+}}, %{{.+}}, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
// WHOLE: } else {
// WHOLE: nvvm.cp.async.shared.global %{{.+}}, %{{.+}}, 16, cache = cg, %{{.+}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// WHOLE: %[[KWHOLE:.+]] = arith.cmpi sle, %{{.+}}, %[[WLK]] : i32
// WHOLE-NEXT: scf.if %[[KWHOLE]] {
// WHOLE: nvvm.cp.async.shared.global %{{.+}}, %{{.+}}, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
// WHOLE: } else {
// WHOLE: nvvm.cp.async.shared.global %{{.+}}, %{{.+}}, 16, cache = cg, %{{.+}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK-LABEL: func.func @prefill
// CHECK: %[[HB:.+]] = memref.dim %{{.+}}, %{{.+}} : memref<?x8x?x128xbf16>
// CHECK: %[[B32:.+]] = arith.index_cast %[[HB]] : index to i32
// CHECK: %[[HLQ:.+]] = memref.dim %{{.+}}, %{{.+}} : memref<?x8x?x128xbf16>
// CHECK: %[[LQ32:.+]] = arith.index_cast %[[HLQ]] : index to i32
// CHECK: %[[HLK:.+]] = memref.dim %{{.+}}, %{{.+}} : memref<?x2x?x128xbf16>
// CHECK: %[[LK32:.+]] = arith.index_cast %[[HLK]] : index to i32
// CHECK: %[[QS:.+]] = memref.reinterpret_cast %{{.+}} to offset: [0], sizes: [1, 8, 1, 128], strides: [1024, 128, 128, 1] : memref<?x8x?x128xbf16> to memref<1x8x1x128xbf16>
// CHECK: %[[GX:.+]] = arith.ceildivsi %{{.+}}, %{{.+}} : index
// CHECK: %[[GY:.+]] = arith.muli %{{.+}}, %{{.+}} : index
// CHECK: gpu.launch_func @attn_kernels::@prefill_kernel blocks in (%[[GX]], %[[GY]], %{{[^)]+}})
// CHECK-SAME: args(%[[QS]] : memref<1x8x1x128xbf16>, {{.+}}, %[[B32]] : i32, %[[LQ32]] : i32, %[[LK32]] : i32)
// CHECK-SAME: attn.dim_symbols = {{\[}}["B", "", "Lq", ""], ["B", "", "Lk", ""], ["B", "", "Lk", ""], ["B", "", "Lq", ""], [], [], []]
func.func @prefill(%q: memref<?x8x?x128xbf16>, %k: memref<?x2x?x128xbf16>, %v: memref<?x2x?x128xbf16>, %o: memref<?x8x?x128xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<?x8x?x128xbf16> to tensor<?x8x?x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<?x2x?x128xbf16> to tensor<?x2x?x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<?x2x?x128xbf16> to tensor<?x2x?x128xbf16>
  %out = attn.attention ins(%0, %1, %2 : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<?x8x?x128xbf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<?x8x?x128xbf16>, memref<?x8x?x128xbf16>) -> ()
  return
}

// -----

// Lk alone dynamic (a growing cache, sliding window, LSE): one Lk argument;
// the grid stays constant (1, 2 * 8), the window's bounds use the runtime Lk.
// PLAN-LABEL: func.func @lk_only
// PLAN: batch = 2, heads_q = 8, heads_kv = 8, seq_q = 100, seq_k = -1
// CHECK-LABEL: gpu.func @lk_only_kernel
// CHECK-SAME: %{{.+}}: memref<2x8x100xf32>, %{{.+}}: i32)
// CHECK-SAME: #attn.kernel_arg<"lse", output>, #attn.kernel_arg<"Lk", length>]
// CHECK-LABEL: func.func @lk_only
// CHECK: gpu.launch_func @attn_kernels::@lk_only_kernel blocks in (%{{[^)]+}})
// CHECK-SAME: attn.dim_symbols = {{\[}}[], ["", "", "Lk", ""], ["", "", "Lk", ""], [], [], []]
func.func @lk_only(%q: memref<2x8x100x64xbf16>, %k: memref<2x8x?x64xbf16>, %v: memref<2x8x?x64xbf16>, %o: memref<2x8x100x64xbf16>, %lse: memref<2x8x100xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<2x8x100x64xbf16> to tensor<2x8x100x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<2x8x?x64xbf16> to tensor<2x8x?x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<2x8x?x64xbf16> to tensor<2x8x?x64xbf16>
  %out, %l = attn.attention ins(%0, %1, %2 : tensor<2x8x100x64xbf16>, tensor<2x8x?x64xbf16>, tensor<2x8x?x64xbf16>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 32, 0>} -> tensor<2x8x100x64xbf16>, tensor<2x8x100xf32>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<2x8x100x64xbf16>, memref<2x8x100x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<2x8x100xf32>, memref<2x8x100xf32>) -> ()
  return
}

// -----

// Decode over a growing cache: one query, Lk dynamic (B and Lq static), the
// decode family (Hq / Hkv * Lq = 4 rows fit one m16 tile). The split count
// is planned for a 4096-key cache; the workspaces stay static
// ([groups, splits, rows, Dv]) and Lk comes last before them.
// PLAN-LABEL: func.func @decode
// PLAN: attn.kernel_info = #attn.kernel_info<family = "decode", grid_formula = "[num_splits, B * Hkv, 1]"
// PLAN-SAME: batch = 4, heads_q = 8, heads_kv = 2, seq_q = 1, seq_k = -1
// CHECK-LABEL: gpu.func @decode_kernel
// CHECK-SAME: #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>, #attn.kernel_arg<"Lk", length>, #attn.kernel_arg<"partial_o", workspace>
// CHECK-LABEL: func.func @decode
// CHECK: gpu.launch_func @attn_kernels::@decode_kernel
// CHECK-SAME: attn.dim_symbols = {{\[}}[], ["", "", "Lk", ""], ["", "", "Lk", ""], [], [], [], [], [], []]
func.func @decode(%q: memref<4x8x1x128xbf16>, %k: memref<4x2x?x128xbf16>, %v: memref<4x2x?x128xbf16>, %o: memref<4x8x1x128xbf16>, %lse: memref<4x8x1xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<4x8x1x128xbf16> to tensor<4x8x1x128xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<4x2x?x128xbf16> to tensor<4x2x?x128xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<4x2x?x128xbf16> to tensor<4x2x?x128xbf16>
  %out, %l = attn.attention ins(%0, %1, %2 : tensor<4x8x1x128xbf16>, tensor<4x2x?x128xbf16>, tensor<4x2x?x128xbf16>) -> tensor<4x8x1x128xbf16>, tensor<4x8x1xf32>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<4x8x1x128xbf16>, memref<4x8x1x128xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<4x8x1xf32>, memref<4x8x1xf32>) -> ()
  return
}
