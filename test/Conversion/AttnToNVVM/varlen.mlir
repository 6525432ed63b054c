// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels | FileCheck %s --check-prefix=PLAN
// RUN: attn-opt %s --split-input-file --attn-plan-gpu-kernels --attn-tile | FileCheck %s --check-prefix=TILED
// RUN: attn-opt %s --split-input-file --attn-gpu-kernels | FileCheck %s

// A varlen batch (cu_seqlens, packed [1, T, H, D] bshd operands; T and N
// dynamic; causal bottom-right per sequence, GQA 8/2, D = 64, LSE): one
// prefill kernel for every batch composition.
// PLAN-LABEL: func.func @varlen
// PLAN: attn.kernel_info = #attn.kernel_info<family = "prefill", grid_formula = "[ceil(Lq / block_m) + N1 - 1, Hq, 1]"
// PLAN-SAME: layout = bshd
// PLAN-SAME: seq_q = -1, seq_k = -1
// PLAN-SAME: varlen = true
// attn-tile: (N, Hq, ceil(Tq / 128)) programs, N = dim(cu_seqlens_q) - 1;
// each reads its sequence's bounds (Varlen.h: starts clamped to [0, T],
// ends to [start, T]), slices Q at packed row queryStart + q0, reads K/V
// tiles at keyStart + k0 of batch 0 and runs the block ops at (n, h, q0,
// k0) with the sequence's lengths. A block past its rows (rows clamped to
// 0) visits no key.
// TILED-LABEL: func.func @varlen
// TILED: %[[TQ:.+]] = tensor.dim %[[Q:.+]], %{{.+}} : tensor<1x?x8x64xbf16>
// TILED: %[[N1:.+]] = tensor.dim %[[CQ:.+]], %{{.+}} : tensor<?xi32>
// TILED: %[[N:.+]] = arith.subi %[[N1]], %{{.+}} : index
// TILED: %[[NB:.+]] = arith.ceildivsi %[[TQ]], %{{.+}} : index
// TILED: scf.forall (%[[S:.+]], %[[H:.+]], %[[QB:.+]]) in (%[[N]], 8, %[[NB]])
// TILED: tensor.extract %[[CQ]][%[[S]]] : tensor<?xi32>
// TILED: %[[QS:.+]] = arith.minsi %{{.+}}, %[[TQ]] : index
// TILED: tensor.extract %[[CQ]][%{{.+}}] : tensor<?xi32>
// TILED: %[[LQ:.+]] = arith.subi %{{.+}}, %[[QS]] : index
// TILED: tensor.extract %[[CK:.+]][%[[S]]] : tensor<?xi32>
// TILED: %[[KS:.+]] = arith.minsi %{{.+}}, %{{.+}} : index
// TILED: %[[Q0:.+]] = arith.muli %[[QB]], %{{.+}} : index
// TILED: %[[ROWS:.+]] = arith.maxsi %{{.+}}, %{{.+}} : index
// TILED: %[[QROW:.+]] = arith.addi %[[QS]], %[[Q0]] : index
// TILED: tensor.extract_slice %[[Q]][%{{.+}}, %[[QROW]], %[[H]], 0] [1, %[[ROWS]], 1, 64]
// TILED: %[[LIVE:.+]] = arith.cmpi sgt, %[[ROWS]], %{{.+}} : index
// TILED: %[[END:.+]] = arith.select %[[LIVE]], %{{.+}}, %{{.+}} : index
// TILED: scf.for %[[K0:.+]] = %{{.+}} to %{{.+}} step %{{.+}}
// TILED: %[[KROW:.+]] = arith.addi %[[KS]], %[[K0]] : index
// TILED: attn.kv_tile %{{.+}}[%{{.+}}, %{{.+}}, %[[KROW]]] {layout = #attn.layout<bshd>}
// TILED: attn.block_attention {{.+}} at(%[[S]], %[[H]], %[[Q0]], %[[K0]]) lengths(%[[LQ]], %{{.+}})
// TILED: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[%{{.+}}, %[[QROW]], %[[H]], 0] [1, %[[ROWS]], 1, 64]
// TILED: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[%{{.+}}, %[[H]], %[[QROW]]] [1, 1, %[[ROWS]]]
//
// The kernel takes q, k, v, the two offsets (inputs), o, lse, and the
// lengths Lq = Tq, Lk = Tk and N1 = N + 1 (the offsets' extent). CTA x finds
// its sequence by a binary search for the last n with floor(cu_q[n] / 128)
// + n <= x (cu_q[n] clamped to [0, Tq]), its query block is x minus that;
// the program's coordinates read the offsets from the kernel's memrefs.
// CHECK-LABEL: gpu.func @varlen_kernel
// CHECK-SAME: (%{{.+}}: memref<1x1x8x64xbf16>, %{{.+}}: memref<1x1x2x64xbf16>, %{{.+}}: memref<1x1x2x64xbf16>, %[[CUQ:.+]]: memref<1xi32>, %[[CUK:.+]]: memref<1xi32>, %{{.+}}: memref<1x1x8x64xbf16>, %{{.+}}: memref<1x8x1xf32>, %[[TQ:.+]]: i32, %{{.+}}: i32, %[[N1:.+]]: i32)
// CHECK-SAME: #attn.kernel_arg<"cu_seqlens_q", input>, #attn.kernel_arg<"cu_seqlens_k", input>, #attn.kernel_arg<"o", output>, #attn.kernel_arg<"lse", output>, #attn.kernel_arg<"Lq", length>, #attn.kernel_arg<"Lk", length>, #attn.kernel_arg<"N1", length>]
// CHECK: %[[BX:.+]] = gpu.block_id  x
// CHECK: %[[X:.+]] = arith.index_castui %[[BX]] : index to i32
// CHECK: %[[N:.+]] = arith.addi %[[N1]], %{{.+}} : i32
// CHECK: %[[FOUND:.+]]:2 = scf.while (%[[LO:.+]] = %{{.+}}, %[[HI:.+]] = %[[N]])
// CHECK: %[[MID:.+]] = arith.shrui
// CHECK: memref.load %[[CUQ]][%{{.+}}] : memref<1xi32>
// CHECK: arith.minsi %{{.+}}, %[[TQ]] : i32
// CHECK: %[[FIRST:.+]] = arith.divui %{{.+}}, %{{.+}} : i32
// CHECK: %[[START:.+]] = arith.addi %[[FIRST]], %[[MID]] : i32
// CHECK: arith.cmpi sle, %[[START]], %[[X]] : i32
// CHECK: %[[SEQ:.+]] = arith.index_castui %[[FOUND]]#0 : i32 to index
// CHECK: memref.load %[[CUQ]][%[[SEQ]]] : memref<1xi32>
// CHECK: gpu.block_id  y
// CHECK-COUNT-2: memref.load %[[CUQ]][%{{.+}}] : memref<1xi32>
// CHECK-COUNT-2: memref.load %[[CUK]][%{{.+}}] : memref<1xi32>
// The host: the lengths from the dims (T from dim 1 of the packed
// operands, N1 from the offsets), the grid ceil(Tq / 128) + N1 - 1.
// CHECK-LABEL: func.func @varlen
// CHECK: %[[HTQ:.+]] = memref.dim %{{.+}}, %{{.+}} : memref<1x?x8x64xbf16>
// CHECK: %[[TQ32:.+]] = arith.index_cast %[[HTQ]] : index to i32
// CHECK: memref.dim %{{.+}}, %{{.+}} : memref<1x?x2x64xbf16>
// CHECK: %[[HN1:.+]] = memref.dim %{{.+}}, %{{.+}} : memref<?xi32>
// CHECK: %[[N132:.+]] = arith.index_cast %[[HN1]] : index to i32
// CHECK: %[[BLOCKS:.+]] = arith.ceildivsi %{{.+}}, %{{.+}} : index
// CHECK: %[[PLUS:.+]] = arith.addi %[[BLOCKS]], %{{.+}} : index
// CHECK: %[[GX:.+]] = arith.addi %[[PLUS]], %{{.+}} : index
// CHECK: gpu.launch_func @attn_kernels::@varlen_kernel blocks in (%[[GX]], %{{[^)]+}})
// CHECK-SAME: %[[TQ32]] : i32, %{{.+}} : i32, %[[N132]] : i32)
// CHECK-SAME: attn.dim_symbols = {{\[}}["", "Lq", "", ""], ["", "Lk", "", ""], ["", "Lk", "", ""], ["N1"], ["N1"], ["", "Lq", "", ""], ["", "", "Lq"], [], [], []]
func.func @varlen(%q: memref<1x?x8x64xbf16>, %k: memref<1x?x2x64xbf16>, %v: memref<1x?x2x64xbf16>, %cq: memref<?xi32>, %ck: memref<?xi32>, %o: memref<1x?x8x64xbf16>, %lse: memref<1x8x?xf32>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x?x8x64xbf16> to tensor<1x?x8x64xbf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x?x2x64xbf16> to tensor<1x?x2x64xbf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x?x2x64xbf16> to tensor<1x?x2x64xbf16>
  %3 = bufferization.to_tensor %cq restrict : memref<?xi32> to tensor<?xi32>
  %4 = bufferization.to_tensor %ck restrict : memref<?xi32> to tensor<?xi32>
  %out, %l = attn.attention ins(%0, %1, %2 : tensor<1x?x8x64xbf16>, tensor<1x?x2x64xbf16>, tensor<1x?x2x64xbf16>) cu_seqlens_q(%3 : tensor<?xi32>) cu_seqlens_k(%4 : tensor<?xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x?x8x64xbf16>, tensor<1x8x?xf32>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x?x8x64xbf16>, memref<1x?x8x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<1x8x?xf32>, memref<1x8x?xf32>) -> ()
  return
}

// -----

// Static totals (Tq = 300, Tk = 500) and N = 3, MQA 4/1, D = 128, f16, no
// LSE: no length arguments, a constant grid ceil(300 / 128) + 3 = 6 CTAs
// along x, one per query head along y. The packed operands' rows are H * D
// elements apart: Q's row 0 of head h of the sequence at packed row s is
// byte (s * 4 * 128 + h * 128) * 2, K's (s * 128) * 2.
// PLAN-LABEL: func.func @static_totals
// PLAN: grid_formula = "[ceil(Lq / block_m) + 3, Hq, 1]"
// CHECK-LABEL: gpu.func @static_totals_kernel
// CHECK-SAME: (%{{.+}}: memref<1x300x4x128xf16>, %{{.+}}: memref<1x500x1x128xf16>, %{{.+}}: memref<1x500x1x128xf16>, %{{.+}}: memref<4xi32>, %{{.+}}: memref<4xi32>, %{{.+}}: memref<1x300x4x128xf16>)
// CHECK: %[[QSTART:.+]] = arith.index_cast %{{.+}} : index to i64
// CHECK: arith.muli %[[QSTART]], %{{.+}} : i64
// CHECK-LABEL: func.func @static_totals
// CHECK-DAG: %[[C6:.+]] = arith.constant 6 : index
// CHECK-DAG: %[[C4:.+]] = arith.constant 4 : index
// CHECK: gpu.launch_func @attn_kernels::@static_totals_kernel blocks in (%[[C6]], %[[C4]], %{{[^)]+}})
// CHECK-NOT: attn.dim_symbols
func.func @static_totals(%q: memref<1x300x4x128xf16>, %k: memref<1x500x1x128xf16>, %v: memref<1x500x1x128xf16>, %cq: memref<4xi32>, %ck: memref<4xi32>, %o: memref<1x300x4x128xf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x300x4x128xf16> to tensor<1x300x4x128xf16>
  %1 = bufferization.to_tensor %k restrict : memref<1x500x1x128xf16> to tensor<1x500x1x128xf16>
  %2 = bufferization.to_tensor %v restrict : memref<1x500x1x128xf16> to tensor<1x500x1x128xf16>
  %3 = bufferization.to_tensor %cq restrict : memref<4xi32> to tensor<4xi32>
  %4 = bufferization.to_tensor %ck restrict : memref<4xi32> to tensor<4xi32>
  %out = attn.attention ins(%0, %1, %2 : tensor<1x300x4x128xf16>, tensor<1x500x1x128xf16>, tensor<1x500x1x128xf16>) cu_seqlens_q(%3 : tensor<4xi32>) cu_seqlens_k(%4 : tensor<4xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_top_left>} -> tensor<1x300x4x128xf16>
  bufferization.materialize_in_destination %out in restrict writable %o : (tensor<1x300x4x128xf16>, memref<1x300x4x128xf16>) -> ()
  return
}
