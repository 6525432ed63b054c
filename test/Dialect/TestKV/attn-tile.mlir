// RUN: attn-opt %s --load-dialect-plugin=%test_kv_plugin --attn-tile="block-m=4 block-n=8" --canonicalize | FileCheck %s

// K and V come from a ring-buffer cache of Cap = 20 slots that attn-mlir
// does not own (test_kv, loaded as a plugin). attn-tile asks the view for
// each [8, D] KV tile through KVCacheViewInterface, so tiles are gathered
// from the ring and the dense view is never built:
//   K tile[r, d] = ring[b, h, (start[b] + min(k0 + r, 19)) mod 20, d].
// Tiles at k0 = 0, 8 run in the interior loop; the tail tile at k0 = 16
// clamps rows 20..23 to the last row (the block attention masks them).
// CHECK-LABEL: func.func @ring
// CHECK-SAME: (%{{[^:]+}}: tensor<2x4x3x16xf32>, %[[KR:[^:]+]]: tensor<2x2x20x16xf32>, %[[VR:[^:]+]]: tensor<2x2x20x16xf32>, %[[START:[^:]+]]: tensor<2xi32>)
// CHECK-NOT: test_kv.ring_view
// CHECK-DAG: %[[LAST:.+]] = arith.constant 19 : index
// CHECK-DAG: %[[CAP:.+]] = arith.constant 20 : index
// CHECK-DAG: %[[TAIL:.+]] = arith.constant 16 : index
// CHECK: scf.forall (%[[B:[^,]+]], %[[G:[^)]+]]) in (2, 2)
// CHECK: %[[HEAD:.+]] = arith.divsi
// CHECK: scf.for %[[K0:.+]] = %{{.+}} to %[[TAIL]] step %{{.+}} iter_args
// CHECK: %[[S:.+]] = tensor.extract %[[START]][%[[B]]] : tensor<2xi32>
// CHECK: %[[KT:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<8x16xf32>)
// CHECK: %[[R:.+]] = linalg.index 0 : index
// CHECK: %[[D:.+]] = linalg.index 1 : index
// CHECK: %[[POS:.+]] = arith.addi %[[K0]], %[[R]] : index
// CHECK: %[[ROW:.+]] = arith.minui %[[POS]], %[[LAST]] : index
// CHECK: %[[SI:.+]] = arith.index_castui %[[S]] : i32 to index
// CHECK: %[[SUM:.+]] = arith.addi %[[SI]], %[[ROW]] : index
// CHECK: %[[SLOT:.+]] = arith.remui %[[SUM]], %[[CAP]] : index
// CHECK: tensor.extract %[[KR]][%[[B]], %[[HEAD]], %[[SLOT]], %[[D]]] : tensor<2x2x20x16xf32>
// CHECK: %[[VT:.+]] = linalg.generic
// CHECK: tensor.extract %[[VR]]
// CHECK: attn.block_attention ins(%{{.+}}, %[[KT]], %[[VT]] : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) at(%[[B]], %{{.+}}, %{{.+}}, %[[K0]])
// CHECK: scf.yield
// CHECK: %[[TS:.+]] = tensor.extract %[[START]][%[[B]]] : tensor<2xi32>
// CHECK: linalg.generic {{.+}} outs(%{{.+}} : tensor<8x16xf32>)
// CHECK: %[[TR:.+]] = linalg.index 0 : index
// CHECK: %[[TPOS:.+]] = arith.addi %[[TR]], %[[TAIL]] : index
// CHECK: %[[TROW:.+]] = arith.minui %[[TPOS]], %[[LAST]] : index
// CHECK: %[[TSI:.+]] = arith.index_castui %[[TS]] : i32 to index
// CHECK: %[[TSUM:.+]] = arith.addi %[[TSI]], %[[TROW]] : index
// CHECK: %[[TSLOT:.+]] = arith.remui %[[TSUM]], %[[CAP]] : index
// CHECK: tensor.extract %[[KR]][%[[B]], %[[HEAD]], %[[TSLOT]], %{{.+}}] : tensor<2x2x20x16xf32>
// CHECK: attn.block_attention {{.+}} at(%[[B]], %{{.+}}, %{{.+}}, %[[TAIL]])
// CHECK-NOT: test_kv.ring_view
func.func @ring(%q: tensor<2x4x3x16xf32>, %kr: tensor<2x2x20x16xf32>, %vr: tensor<2x2x20x16xf32>, %start: tensor<2xi32>) -> tensor<2x4x3x16xf32> {
  %k = test_kv.ring_view %kr[%start] : tensor<2x2x20x16xf32>, tensor<2xi32> -> tensor<2x2x20x16xf32>
  %v = test_kv.ring_view %vr[%start] : tensor<2x2x20x16xf32>, tensor<2xi32> -> tensor<2x2x20x16xf32>
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x3x16xf32>, tensor<2x2x20x16xf32>, tensor<2x2x20x16xf32>) -> tensor<2x4x3x16xf32>
  return %o : tensor<2x4x3x16xf32>
}
