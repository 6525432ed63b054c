// RUN: attn-opt %s --attn-tile="block-m=4 block-n=8" --canonicalize | FileCheck %s

// K and V come from a paged cache (pages of 4 tokens, block table [2, 8]).
// attn-tile asks the KV cache view for each [8, D] KV tile, so tiles are
// gathered from the pages directly and the dense view is never built:
//   K tile[r, d] = pages[table[b, (k0 + r) / 4], (k0 + r) % 4, h, d].
// CHECK-LABEL: func.func @paged
// CHECK-SAME: (%{{[^:]+}}: tensor<2x4x3x16xf32>, %[[KP:[^:]+]]: tensor<16x4x2x16xf32>, %[[VP:[^:]+]]: tensor<16x4x2x16xf32>, %[[TABLE:[^:]+]]: tensor<2x8xi32>)
// CHECK-NOT: attn.paged_view
// CHECK: scf.forall (%[[B:[^,]+]], %[[G:[^)]+]]) in (2, 2)
// CHECK: scf.for %[[K0:.+]] = {{.+}} iter_args
// CHECK: %[[KT:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<8x16xf32>)
// CHECK: %[[R:.+]] = linalg.index 0 : index
// CHECK: %[[POS:.+]] = arith.addi %[[K0]], %[[R]] : index
// CHECK: %[[CLAMPED:.+]] = arith.minui %[[POS]], %{{.+}} : index
// CHECK: %[[SLOT:.+]] = arith.divui %[[CLAMPED]], %{{.+}} : index
// CHECK: %[[PAGE:.+]] = tensor.extract %[[TABLE]][%[[B]], %[[SLOT]]] : tensor<2x8xi32>
// CHECK: %[[PAGEIDX:.+]] = arith.index_cast %[[PAGE]] : i32 to index
// CHECK: %[[ROW:.+]] = arith.remui %[[CLAMPED]], %{{.+}} : index
// CHECK: tensor.extract %[[KP]][%[[PAGEIDX]], %[[ROW]], %{{.+}}, %{{.+}}] : tensor<16x4x2x16xf32>
// CHECK: %[[VT:.+]] = linalg.generic
// CHECK: tensor.extract %[[VP]]
// CHECK: attn.block_attention ins(%{{.+}}, %[[KT]], %[[VT]] : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>)
func.func @paged(%q: tensor<2x4x3x16xf32>, %kp: tensor<16x4x2x16xf32>, %vp: tensor<16x4x2x16xf32>, %table: tensor<2x8xi32>) -> tensor<2x4x3x16xf32> {
  %k = attn.paged_view %kp[%table] : tensor<16x4x2x16xf32>, tensor<2x8xi32> -> tensor<2x2x32x16xf32>
  %v = attn.paged_view %vp[%table] : tensor<16x4x2x16xf32>, tensor<2x8xi32> -> tensor<2x2x32x16xf32>
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x3x16xf32>, tensor<2x2x32x16xf32>, tensor<2x2x32x16xf32>) -> tensor<2x4x3x16xf32>
  return %o : tensor<2x4x3x16xf32>
}
