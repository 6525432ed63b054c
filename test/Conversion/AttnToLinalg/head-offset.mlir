// RUN: attn-opt %s --convert-attn-to-linalg --split-input-file | FileCheck %s

// A tensor-parallel shard: local heads h = 0, 1 are global heads h + 2 of 4
// (MHA, so any offset is a whole group). The scores are
// S'[b, h, i, j] = score_mod(0.25 * S - slope[h + 2] * |i + Lk - Lq - j|,
//                            b, h + 2, i, j),
// with the slopes of all 4 global heads in one constant: the global head
// indexes it and is the region's head argument; Q, K and V stay local.
// CHECK-LABEL: func.func @alibi_score_mod_shard
// CHECK-DAG: %[[SLOPES:.+]] = arith.constant dense<[5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02]> : tensor<4xf32>
// CHECK: linalg.generic
// CHECK: %[[B:.+]] = linalg.index 0 : index
// CHECK-NEXT: %[[LOCAL:.+]] = linalg.index 1 : index
// CHECK-NEXT: %[[OFF:.+]] = arith.constant 2 : index
// CHECK-NEXT: %[[H:.+]] = arith.addi %[[LOCAL]], %[[OFF]] : index
// CHECK: %[[SLOPE:.+]] = tensor.extract %[[SLOPES]][%[[H]]] : tensor<4xf32>
// CHECK: %[[HI:.+]] = arith.index_cast %[[H]] : index to i64
// CHECK: linalg.yield
func.func @alibi_score_mod_shard(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x6x16xf32>, %v: tensor<1x2x6x16xf32>) -> tensor<1x2x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x4x16xf32>, tensor<1x2x6x16xf32>, tensor<1x2x6x16xf32>) {head_offset = 2 : i64, num_heads_total = 4 : i64, alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} -> tensor<1x2x4x16xf32> score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %hi = arith.index_cast %h : index to i64
    %hf = arith.sitofp %hi : i64 to f32
    %r = arith.addf %s, %hf : f32
    attn.yield %r : f32
  }
  return %o : tensor<1x2x4x16xf32>
}

// -----

// head_offset 0 (the first shard, or no sharding) adds nothing: the local
// head is the global head.
// CHECK-LABEL: func.func @first_shard
// CHECK: %[[H:.+]] = linalg.index 1 : index
// CHECK-NOT: arith.addi %[[H]]
// CHECK: tensor.extract %{{.+}}[%[[H]]] : tensor<4xf32>
func.func @first_shard(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x6x16xf32>, %v: tensor<1x2x6x16xf32>) -> tensor<1x2x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x4x16xf32>, tensor<1x2x6x16xf32>, tensor<1x2x6x16xf32>) {num_heads_total = 4 : i64, alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}
