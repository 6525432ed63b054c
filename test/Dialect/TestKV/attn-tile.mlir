// RUN: attn-opt %s --load-dialect-plugin=%test_kv_plugin --attn-tile="block-m=4 block-n=8" --canonicalize | FileCheck %s
// RUN: attn-opt %s --load-dialect-plugin=%test_kv_plugin --attn-tile="block-m=4 block-n=8" --convert-attn-to-linalg --canonicalize | FileCheck %s --check-prefix=GATHER

// K and V come from a ring-buffer cache of Cap = 20 slots that attn-mlir
// does not own (test_kv, loaded as a plugin). attn-tile asks the view for
// each [8, D] KV tile through KVCacheViewInterface, so tiles are gathered
// from the ring and the dense view is never built:
//   K tile[r, d] = ring[b, h, (start[b] + min(k0 + r, 19)) mod 20, d].
// Tiles at k0 = 0, 8 run in the interior loop; the tail tile at k0 = 16
// clamps rows 20..23 to the last row (the block attention masks them).
// CHECK-LABEL: func.func @ring
// CHECK: %[[KV:.+]] = test_kv.ring_view
// CHECK: scf.forall (%[[B:[^,]+]], %[[G:[^)]+]]) in (2, 2)
// CHECK: scf.for %[[K0:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args
// CHECK: %[[KT:.+]] = attn.kv_tile %[[KV]][%[[B]], %{{.+}}, %[[K0]]] : tensor<2x2x20x16xf32> -> tensor<8x16xf32>
// CHECK: attn.block_attention ins(%{{.+}}, %[[KT]], %{{.+}} : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) at(%[[B]], %{{.+}}, %{{.+}}, %[[K0]])
// GATHER-LABEL: func.func @ring
// GATHER-SAME: (%{{[^:]+}}: tensor<2x4x3x16xf32>, %[[KR:[^:]+]]: tensor<2x2x20x16xf32>, %[[VR:[^:]+]]: tensor<2x2x20x16xf32>, %[[START:[^:]+]]: tensor<2xi32>)
// GATHER-NOT: test_kv.ring_view
// GATHER-DAG: %[[LAST:.+]] = arith.constant 19 : index
// GATHER-DAG: %[[CAP:.+]] = arith.constant 20 : index
// GATHER-DAG: %[[TAIL:.+]] = arith.constant 16 : index
// GATHER: scf.forall (%[[B:[^,]+]], %[[G:[^)]+]]) in (2, 2)
// GATHER: %[[HEAD:.+]] = arith.divsi
// GATHER: scf.for %[[K0:.+]] = %{{.+}} to %[[TAIL]] step %{{.+}} iter_args
// GATHER: %[[S:.+]] = tensor.extract %[[START]][%[[B]]] : tensor<2xi32>
// GATHER: %[[KT:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<8x16xf32>)
// GATHER: %[[R:.+]] = linalg.index 0 : index
// GATHER: %[[D:.+]] = linalg.index 1 : index
// GATHER: %[[POS:.+]] = arith.addi %[[K0]], %[[R]] : index
// GATHER: %[[ROW:.+]] = arith.minui %[[POS]], %[[LAST]] : index
// GATHER: %[[SI:.+]] = arith.index_castui %[[S]] : i32 to index
// GATHER: %[[SUM:.+]] = arith.addi %[[SI]], %[[ROW]] : index
// GATHER: %[[SLOT:.+]] = arith.remui %[[SUM]], %[[CAP]] : index
// GATHER: tensor.extract %[[KR]][%[[B]], %[[HEAD]], %[[SLOT]], %[[D]]] : tensor<2x2x20x16xf32>
// GATHER: %[[VT:.+]] = linalg.generic
// GATHER: tensor.extract %[[VR]]
// GATHER: scf.yield
// GATHER: %[[TS:.+]] = tensor.extract %[[START]][%[[B]]] : tensor<2xi32>
// GATHER: linalg.generic {{.+}} outs(%{{.+}} : tensor<8x16xf32>)
// GATHER: %[[TR:.+]] = linalg.index 0 : index
// GATHER: %[[TPOS:.+]] = arith.addi %[[TR]], %[[TAIL]] : index
// GATHER: %[[TROW:.+]] = arith.minui %[[TPOS]], %[[LAST]] : index
// GATHER: %[[TSI:.+]] = arith.index_castui %[[TS]] : i32 to index
// GATHER: %[[TSUM:.+]] = arith.addi %[[TSI]], %[[TROW]] : index
// GATHER: %[[TSLOT:.+]] = arith.remui %[[TSUM]], %[[CAP]] : index
// GATHER: tensor.extract %[[KR]][%[[B]], %[[HEAD]], %[[TSLOT]], %{{.+}}] : tensor<2x2x20x16xf32>
// GATHER-NOT: test_kv.ring_view
func.func @ring(%q: tensor<2x4x3x16xf32>, %kr: tensor<2x2x20x16xf32>, %vr: tensor<2x2x20x16xf32>, %start: tensor<2xi32>) -> tensor<2x4x3x16xf32> {
  %k = test_kv.ring_view %kr[%start] : tensor<2x2x20x16xf32>, tensor<2xi32> -> tensor<2x2x20x16xf32>
  %v = test_kv.ring_view %vr[%start] : tensor<2x2x20x16xf32>, tensor<2xi32> -> tensor<2x2x20x16xf32>
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x3x16xf32>, tensor<2x2x20x16xf32>, tensor<2x2x20x16xf32>) -> tensor<2x4x3x16xf32>
  return %o : tensor<2x4x3x16xf32>
}
