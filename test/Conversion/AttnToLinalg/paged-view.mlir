// RUN: attn-opt %s --convert-attn-to-linalg | FileCheck %s

// The reference lowering materialises a paged view as a gather:
//   view[b, h, l, d] = pages[table[b, l / 4], l % 4, h, d].
// CHECK-LABEL: func.func @dense
// CHECK-SAME: (%[[PAGES:[^:]+]]: tensor<8x4x2x16xf32>, %[[TABLE:[^:]+]]: tensor<2x4xi32>)
// CHECK: %[[V:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<2x2x16x16xf32>)
// CHECK: %[[B:.+]] = linalg.index 0 : index
// CHECK: %[[H:.+]] = linalg.index 1 : index
// CHECK: %[[L:.+]] = linalg.index 2 : index
// CHECK: %[[D:.+]] = linalg.index 3 : index
// CHECK: %[[PS:.+]] = arith.constant 4 : index
// CHECK: %[[SLOT:.+]] = arith.divui %[[L]], %[[PS]] : index
// CHECK: %[[PAGE:.+]] = tensor.extract %[[TABLE]][%[[B]], %[[SLOT]]] : tensor<2x4xi32>
// CHECK: %[[PI:.+]] = arith.index_cast %[[PAGE]] : i32 to index
// CHECK: %[[ROW:.+]] = arith.remui %[[L]], %[[PS]] : index
// CHECK: %[[X:.+]] = tensor.extract %[[PAGES]][%[[PI]], %[[ROW]], %[[H]], %[[D]]] : tensor<8x4x2x16xf32>
// CHECK: linalg.yield %[[X]] : f32
// CHECK: return %[[V]]
func.func @dense(%pages: tensor<8x4x2x16xf32>, %table: tensor<2x4xi32>) -> tensor<2x2x16x16xf32> {
  %k = attn.paged_view %pages[%table] : tensor<8x4x2x16xf32>, tensor<2x4xi32> -> tensor<2x2x16x16xf32>
  return %k : tensor<2x2x16x16xf32>
}
