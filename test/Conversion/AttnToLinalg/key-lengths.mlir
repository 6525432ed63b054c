// RUN: attn-opt %s --convert-attn-to-linalg | FileCheck %s
// RUN: attn-opt %s --attn-tile="block-m=16 block-n=16" --canonicalize | FileCheck %s --check-prefix=TILE

// Sequence b has key_lengths[b] keys: key j is masked when j >= len[b], and
// len[b] replaces Lk in the bottom-right diagonal i + len[b] - Lq.
// CHECK-LABEL: func.func @decode
// CHECK-SAME: %[[LENS:[^:]+]]: tensor<2xi32>
// CHECK: linalg.generic
// CHECK: %[[B:.+]] = linalg.index 0 : index
// CHECK: %[[I:.+]] = linalg.index 2 : index
// CHECK: %[[J:.+]] = linalg.index 3 : index
// CHECK: %[[LEN32:.+]] = tensor.extract %[[LENS]][%[[B]]] : tensor<2xi32>
// CHECK: %[[LEN:.+]] = arith.index_cast %[[LEN32]] : i32 to index
// CHECK: %[[INRANGE:.+]] = arith.cmpi slt, %[[J]], %[[LEN]] : index
// CHECK: %[[OFF:.+]] = arith.subi %[[LEN]], %{{.+}} : index
// CHECK: %[[DIAG:.+]] = arith.addi %[[I]], %[[OFF]] : index
// CHECK: arith.cmpi sle, %[[J]], %[[DIAG]] : index
// The tiled program reads its sequence's length once, clamped to [0, 64], and
// stops its KV loop there: blocks past the end are never visited.
// TILE-LABEL: func.func @decode
// TILE-SAME: %[[LENS:[^:]+]]: tensor<2xi32>
// TILE: scf.forall (%[[B:[^,]+]],
// TILE: %[[LEN32:.+]] = tensor.extract %[[LENS]][%[[B]]] : tensor<2xi32>
// TILE: %[[LEN:.+]] = arith.index_cast %[[LEN32]] : i32 to index
// TILE: %[[CLAMP:.+]] = arith.minsi %[[LEN]], %{{.+}} : index
// TILE: %[[KLEN:.+]] = arith.maxsi %[[CLAMP]], %{{.+}} : index
// TILE: scf.for
// TILE: attn.block_attention {{.+}} lengths(%{{.+}}, %[[KLEN]])
func.func @decode(%q: tensor<2x4x1x16xf32>, %k: tensor<2x2x64x16xf32>, %v: tensor<2x2x64x16xf32>, %lens: tensor<2xi32>) -> tensor<2x4x1x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) key_lengths(%lens : tensor<2xi32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x1x16xf32>
  return %o : tensor<2x4x1x16xf32>
}
