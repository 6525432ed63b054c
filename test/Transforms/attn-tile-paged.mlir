// RUN: attn-opt %s --attn-tile="block-m=4 block-n=8" --canonicalize | FileCheck %s
// RUN: attn-opt %s --attn-tile="block-m=4 block-n=8" --convert-attn-to-linalg --canonicalize | FileCheck %s --check-prefix=GATHER

// K and V come from a paged cache (pages of 4 tokens, block table [2, 8]).
// attn-tile asks for each [8, D] KV tile of the view (attn.kv_tile), so the
// view stays visible to the GPU lowering, and the CPU lowering gathers the
// tiles from the pages directly; the dense view is never built:
//   K tile[r, d] = pages[table[b, (k0 + r) / 4], (k0 + r) % 4, h, d].
// CHECK-LABEL: func.func @paged
// CHECK: %[[KV:.+]] = attn.paged_view
// CHECK: %[[VV:.+]] = attn.paged_view
// CHECK: scf.forall (%[[B:[^,]+]], %[[G:[^)]+]]) in (2, 2)
// CHECK: scf.for %[[K0:.+]] = {{.+}} iter_args
// CHECK: %[[KT:.+]] = attn.kv_tile %[[KV]][%[[B]], %{{.+}}, %[[K0]]] : tensor<2x2x32x16xf32> -> tensor<8x16xf32>
// CHECK: %[[VT:.+]] = attn.kv_tile %[[VV]][%[[B]], %{{.+}}, %[[K0]]] : tensor<2x2x32x16xf32> -> tensor<8x16xf32>
// CHECK: attn.block_attention ins(%{{.+}}, %[[KT]], %[[VT]] : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>)
// GATHER-LABEL: func.func @paged
// GATHER-SAME: (%{{[^:]+}}: tensor<2x4x3x16xf32>, %[[KP:[^:]+]]: tensor<16x4x2x16xf32>, %[[VP:[^:]+]]: tensor<16x4x2x16xf32>, %[[TABLE:[^:]+]]: tensor<2x8xi32>)
// GATHER-NOT: attn.paged_view
// GATHER: scf.forall (%[[B:[^,]+]], %[[G:[^)]+]]) in (2, 2)
// GATHER: scf.for %[[K0:.+]] = {{.+}} iter_args
// GATHER: linalg.generic {{.+}} outs(%{{.+}} : tensor<8x16xf32>)
// GATHER: %[[R:.+]] = linalg.index 0 : index
// GATHER: %[[POS:.+]] = arith.addi %[[K0]], %[[R]] : index
// GATHER: %[[CLAMPED:.+]] = arith.minui %[[POS]], %{{.+}} : index
// GATHER: %[[SLOT:.+]] = arith.divui %[[CLAMPED]], %{{.+}} : index
// GATHER: %[[PAGE:.+]] = tensor.extract %[[TABLE]][%[[B]], %[[SLOT]]] : tensor<2x8xi32>
// GATHER: %[[PAGEIDX:.+]] = arith.index_cast %[[PAGE]] : i32 to index
// GATHER: %[[ROW:.+]] = arith.remui %[[CLAMPED]], %{{.+}} : index
// GATHER: tensor.extract %[[KP]][%[[PAGEIDX]], %[[ROW]], %{{.+}}, %{{.+}}] : tensor<16x4x2x16xf32>
// GATHER: linalg.generic
// GATHER: tensor.extract %[[VP]]
func.func @paged(%q: tensor<2x4x3x16xf32>, %kp: tensor<16x4x2x16xf32>, %vp: tensor<16x4x2x16xf32>, %table: tensor<2x8xi32>) -> tensor<2x4x3x16xf32> {
  %k = attn.paged_view %kp[%table] : tensor<16x4x2x16xf32>, tensor<2x8xi32> -> tensor<2x2x32x16xf32>
  %v = attn.paged_view %vp[%table] : tensor<16x4x2x16xf32>, tensor<2x8xi32> -> tensor<2x2x32x16xf32>
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x3x16xf32>, tensor<2x2x32x16xf32>, tensor<2x2x32x16xf32>) -> tensor<2x4x3x16xf32>
  return %o : tensor<2x4x3x16xf32>
}
