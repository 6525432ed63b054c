// RUN: attn-opt %s --attn-tile="block-m=4 block-n=16" --canonicalize | FileCheck %s
// RUN: attn-opt %s --attn-tile="block-m=4 block-n=16" --convert-attn-to-linalg --canonicalize | FileCheck %s --check-prefix=GATHER
// RUN: attn-opt %s --convert-attn-to-linalg | FileCheck %s --check-prefix=DENSE

// Chunked prefill: 4 new tokens are appended at pos[b] and the chunk attends
// to the cache. The append is fused: each KV tile row l reads the new token
// l - pos[b] when 0 <= l - pos[b] < 4 (one unsigned compare) and the cache
// otherwise, so the attention never waits for the written cache.
// CHECK-LABEL: func.func @chunk
// CHECK: %[[VIEW:.+]] = attn.kv_append
// CHECK: scf.forall
// CHECK: scf.for %[[K0:[^ ]+]] =
// CHECK: %[[KT:.+]] = attn.kv_tile %[[VIEW]][%{{.+}}, %{{.+}}, %[[K0]]] : tensor<2x2x64x16xf32> -> tensor<16x16xf32>
// CHECK: attn.block_attention ins(%{{.+}}, %[[KT]], %{{.+}} :
// GATHER-LABEL: func.func @chunk
// GATHER-SAME: (%{{[^:]+}}: tensor<2x4x4x16xf32>, %[[NEW:[^:]+]]: tensor<2x2x4x16xf32>, %[[CACHE:[^:]+]]: tensor<2x2x64x16xf32>, %[[POS:[^:]+]]: tensor<2xi32>, %[[LENS:[^:]+]]: tensor<2xi32>)
// GATHER-NOT: attn.kv_append
// GATHER: scf.forall (%[[B:[^,]+]],
// GATHER: scf.for %[[K0:[^ ]+]] =
// GATHER: linalg.generic {{.+}} outs(%{{.+}} : tensor<16x16xf32>)
// GATHER: %[[P:.+]] = tensor.extract %[[POS]][%[[B]]] : tensor<2xi32>
// GATHER: %[[PI:.+]] = arith.index_cast %[[P]] : i32 to index
// GATHER: %[[T:.+]] = arith.subi %{{.+}}, %[[PI]] : index
// GATHER: %[[ISNEW:.+]] = arith.cmpi ult, %[[T]], %{{.+}} : index
// GATHER: %[[SAFE:.+]] = arith.select %[[ISNEW]], %[[T]], %{{.+}} : index
// GATHER: %[[FRESH:.+]] = tensor.extract %[[NEW]][%[[B]], %{{.+}}, %[[SAFE]], %{{.+}}] : tensor<2x2x4x16xf32>
// GATHER: %[[OLD:.+]] = tensor.extract %[[CACHE]][%[[B]], %{{.+}}, %{{.+}}, %{{.+}}] : tensor<2x2x64x16xf32>
// GATHER: arith.select %[[ISNEW]], %[[FRESH]], %[[OLD]] : f32
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
