// RUN: attn-opt %s --load-dialect-plugin=%test_kv_plugin -split-input-file --convert-attn-to-linalg | FileCheck %s

// The reference lowering materialises a plugged-in ring view through
// KVCacheViewInterface::buildDense:
//   view[b, h, l, d] = ring[b, h, (start[b] + l) mod 20, d].
// CHECK-LABEL: func.func @dense
// CHECK-SAME: (%[[RING:[^:]+]]: tensor<2x2x20x16xf32>, %[[START:[^:]+]]: tensor<2xi32>)
// CHECK-NOT: test_kv.ring_view
// CHECK: %[[V:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<2x2x20x16xf32>)
// CHECK: %[[B:.+]] = linalg.index 0 : index
// CHECK: %[[H:.+]] = linalg.index 1 : index
// CHECK: %[[L:.+]] = linalg.index 2 : index
// CHECK: %[[D:.+]] = linalg.index 3 : index
// CHECK: %[[S:.+]] = tensor.extract %[[START]][%[[B]]] : tensor<2xi32>
// CHECK: %[[SI:.+]] = arith.index_castui %[[S]] : i32 to index
// CHECK: %[[CAP:.+]] = arith.constant 20 : index
// CHECK: %[[SUM:.+]] = arith.addi %[[SI]], %[[L]] : index
// CHECK: %[[SLOT:.+]] = arith.remui %[[SUM]], %[[CAP]] : index
// CHECK: %[[X:.+]] = tensor.extract %[[RING]][%[[B]], %[[H]], %[[SLOT]], %[[D]]] : tensor<2x2x20x16xf32>
// CHECK: linalg.yield %[[X]] : f32
// CHECK: return %[[V]]
func.func @dense(%r: tensor<2x2x20x16xf32>, %start: tensor<2xi32>) -> tensor<2x2x20x16xf32> {
  %k = test_kv.ring_view %r[%start] : tensor<2x2x20x16xf32>, tensor<2xi32> -> tensor<2x2x20x16xf32>
  return %k : tensor<2x2x20x16xf32>
}

// -----

// A dynamic batch takes its size from the ring.
// CHECK-LABEL: func.func @dynamic_batch
// CHECK-SAME: (%[[RING:[^:]+]]: tensor<?x2x8x16xbf16>, %{{[^:]+}}: tensor<?xi32>)
// CHECK: %[[N:.+]] = tensor.dim %[[RING]], %{{.+}} : tensor<?x2x8x16xbf16>
// CHECK: %[[INIT:.+]] = tensor.empty(%[[N]]) : tensor<?x2x8x16xbf16>
// CHECK: linalg.generic {{.+}} outs(%[[INIT]] : tensor<?x2x8x16xbf16>)
// CHECK: arith.constant 8 : index
func.func @dynamic_batch(%r: tensor<?x2x8x16xbf16>, %start: tensor<?xi32>) -> tensor<?x2x8x16xbf16> {
  %v = test_kv.ring_view %r[%start] : tensor<?x2x8x16xbf16>, tensor<?xi32> -> tensor<?x2x8x16xbf16>
  return %v : tensor<?x2x8x16xbf16>
}

// -----

// Feeding attention: both views become dense tensors, and Q.K^T and P.V
// read them.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x4x3x16xf32>, %[[KR:[^:]+]]: tensor<2x2x20x16xf32>, %[[VR:[^:]+]]: tensor<2x2x20x16xf32>, %{{[^:]+}}: tensor<2xi32>)
// CHECK-NOT: test_kv.ring_view
// CHECK: %[[K:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<2x2x20x16xf32>)
// CHECK: tensor.extract %[[KR]]
// CHECK: %[[V:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<2x2x20x16xf32>)
// CHECK: tensor.extract %[[VR]]
// CHECK: linalg.generic {{.+}} ins(%[[Q]], %[[K]] : tensor<2x4x3x16xf32>, tensor<2x2x20x16xf32>)
// CHECK: linalg.generic {{.+}} ins(%{{.+}}, %[[V]] : tensor<2x4x3x20xf32>, tensor<2x2x20x16xf32>)
// CHECK-NOT: attn.attention
// CHECK-NOT: test_kv.ring_view
func.func @attention(%q: tensor<2x4x3x16xf32>, %kr: tensor<2x2x20x16xf32>, %vr: tensor<2x2x20x16xf32>, %start: tensor<2xi32>) -> tensor<2x4x3x16xf32> {
  %k = test_kv.ring_view %kr[%start] : tensor<2x2x20x16xf32>, tensor<2xi32> -> tensor<2x2x20x16xf32>
  %v = test_kv.ring_view %vr[%start] : tensor<2x2x20x16xf32>, tensor<2xi32> -> tensor<2x2x20x16xf32>
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x3x16xf32>, tensor<2x2x20x16xf32>, tensor<2x2x20x16xf32>) -> tensor<2x4x3x16xf32>
  return %o : tensor<2x4x3x16xf32>
}
