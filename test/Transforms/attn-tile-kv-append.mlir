// RUN: attn-opt %s --attn-tile="block-m=4 block-n=16" --canonicalize | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-linalg | FileCheck %s --check-prefix=DENSE

// Chunked prefill: 4 new tokens are appended at pos[b] and the chunk attends
// to the cache. The append is fused: each KV tile row l reads the new token
// l - pos[b] when 0 <= l - pos[b] < 4 (one unsigned compare) and the cache
// otherwise, so the attention never waits for the written cache.
// CHECK-LABEL: func.func @chunk
// CHECK-SAME: (%{{[^:]+}}: tensor<2x4x4x16xf32>, %[[NEW:[^:]+]]: tensor<2x2x4x16xf32>, %[[CACHE:[^:]+]]: tensor<2x2x64x16xf32>, %[[POS:[^:]+]]: tensor<2xi32>, %[[LENS:[^:]+]]: tensor<2xi32>)
// CHECK-NOT: attn.kv_append
// CHECK: scf.forall (%[[B:[^,]+]],
// CHECK: scf.for %[[K0:[^ ]+]] =
// CHECK: linalg.generic {{.+}} outs(%{{.+}} : tensor<16x16xf32>)
// CHECK: %[[P:.+]] = tensor.extract %[[POS]][%[[B]]] : tensor<2xi32>
// CHECK: %[[PI:.+]] = arith.index_cast %[[P]] : i32 to index
// CHECK: %[[T:.+]] = arith.subi %{{.+}}, %[[PI]] : index
// CHECK: %[[ISNEW:.+]] = arith.cmpi ult, %[[T]], %{{.+}} : index
// CHECK: %[[SAFE:.+]] = arith.select %[[ISNEW]], %[[T]], %{{.+}} : index
// CHECK: %[[FRESH:.+]] = tensor.extract %[[NEW]][%[[B]], %{{.+}}, %[[SAFE]], %{{.+}}] : tensor<2x2x4x16xf32>
// CHECK: %[[OLD:.+]] = tensor.extract %[[CACHE]][%[[B]], %{{.+}}, %{{.+}}, %{{.+}}] : tensor<2x2x64x16xf32>
// CHECK: arith.select %[[ISNEW]], %[[FRESH]], %[[OLD]] : f32
// CHECK: attn.block_attention
// The reference lowering writes the whole cache with the same rule.
// DENSE-LABEL: func.func @chunk
// DENSE: linalg.generic {{.+}} outs(%{{.+}} : tensor<2x2x64x16xf32>)
// DENSE: arith.cmpi ult
// DENSE: arith.select
func.func @chunk(%q: tensor<2x4x4x16xf32>, %knew: tensor<2x2x4x16xf32>, %kcache: tensor<2x2x64x16xf32>, %pos: tensor<2xi32>, %lens: tensor<2xi32>) -> tensor<2x4x4x16xf32> {
  %k = attn.kv_append %knew into %kcache at %pos : tensor<2x2x4x16xf32> into tensor<2x2x64x16xf32> at tensor<2xi32> -> tensor<2x2x64x16xf32>
  %o = attn.attention ins(%q, %k, %k : tensor<2x4x4x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) key_lengths(%lens : tensor<2xi32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x4x4x16xf32>
  return %o : tensor<2x4x4x16xf32>
}
