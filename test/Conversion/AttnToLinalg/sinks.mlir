// RUN: attn-opt %s --convert-attn-to-linalg --canonicalize --split-input-file | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-linalg=accumulate-in-f64 --canonicalize --split-input-file | FileCheck %s --check-prefix=F64
// Attention sinks in the whole-op lowering. The sink z = sinks[h + offset]
// is one more score without a value row:
//   m = max(z, max_j s_j),  l = exp(z - m) + sum_j exp(s_j - m),
//   O = sum_j exp(s_j - m) V_j / l,  lse = m + log l.
// So z is the row max's initial value and exp(z - m) the row sum's.

// A shard, local heads 0, 1 = global heads 2, 3 of 4: the sinks read are
// sinks[2:4], spread over (b, h, i).
// CHECK-DAG: #[[HEAD:.+]] = affine_map<(d0, d1, d2) -> (d1)>
// CHECK-DAG: #[[ROW:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[SCORE:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[RED:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @shard_sinks
// CHECK-SAME: %[[SINKS:[^:]+]]: tensor<4xf32>)
// CHECK: %[[S:.+]] = linalg.generic {{.+}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK: arith.mulf
// CHECK: %[[MINE:.+]] = tensor.extract_slice %[[SINKS]][2] [2] [1] : tensor<4xf32> to tensor<2xf32>
// CHECK: %[[Z:.+]] = linalg.generic {indexing_maps = [#[[HEAD]], #[[ROW]]]{{.+}} ins(%[[MINE]] : tensor<2xf32>)
// m = max over j, starting from z:
// CHECK: %[[M:.+]] = linalg.generic {indexing_maps = [#[[SCORE]], #[[RED]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[S]] : {{.+}}) outs(%[[Z]] : tensor<1x2x4xf32>)
// CHECK: arith.maximumf
// CHECK: %[[P:.+]] = linalg.generic {{.+}} ins(%[[S]], %[[M]] :
// l starts from exp(z - m):
// CHECK: %[[L0:.+]] = linalg.generic {{.+}} ins(%[[Z]], %[[M]] : tensor<1x2x4xf32>, tensor<1x2x4xf32>)
// CHECK: arith.subf
// CHECK: math.exp
// CHECK: %[[L:.+]] = linalg.generic {{.+}} ins(%[[P]] : {{.+}}) outs(%[[L0]] : tensor<1x2x4xf32>)
// CHECK: arith.addf
// CHECK: arith.divf
// CHECK: math.log
// F64-LABEL: func.func @shard_sinks
// F64: tensor.extract_slice %{{.+}}[2] [2] [1] : tensor<4xf32> to tensor<2xf32>
// F64: linalg.generic {{.+}} outs(%{{.+}} : tensor<1x2x4xf64>)
// F64: arith.extf %{{.+}} : f32 to f64
func.func @shard_sinks(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x6x8xf32>, %v: tensor<1x2x6x8xf32>, %s: tensor<4xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x2x4x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>) sinks(%s : tensor<4xf32>) {head_offset = 2 : i64, num_heads_total = 4 : i64} -> tensor<1x2x4x8xf32>, tensor<1x2x4xf32>
  return %o, %lse : tensor<1x2x4x8xf32>, tensor<1x2x4xf32>
}

// -----

// The backward: d_sink[h] = -sum_{b, i} P_sink Delta with P_sink =
// exp(z - lse) (0 where lse = -inf), over (b, h, i) with b and i reduced.
// Delta[b, h, i] = sum_c dO O is the same Delta the key gradients use.
// CHECK-DAG: #[[PERHEAD:.+]] = affine_map<(d0, d1, d2) -> (d1)>
// CHECK-DAG: #[[PERROW:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @backward_sinks
// CHECK-SAME: %[[LSE:[^:]+]]: tensor<1x2x4xf32>, %[[SINKS:[^:]+]]: tensor<2xf32>)
// CHECK: %[[DELTA:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) outs(%{{.+}} : tensor<1x2x4xf32>)
// CHECK: %[[DS:.+]] = linalg.generic {indexing_maps = [#[[PERHEAD]], #[[PERROW]], #[[PERROW]], #[[PERHEAD]]], iterator_types = ["reduction", "parallel", "reduction"]} ins(%[[SINKS]], %[[LSE]], %[[DELTA]] : tensor<2xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>)
// CHECK: %[[NOROW:.+]] = arith.cmpf oeq, %[[L:.+]], %{{.+}} : f32
// CHECK: %[[X:.+]] = arith.subf %{{.+}}, %[[L]] : f32
// CHECK: %[[E:.+]] = math.exp %[[X]] : f32
// CHECK: %[[PS:.+]] = arith.select %[[NOROW]], %{{.+}}, %[[E]] : f32
// CHECK: %[[T:.+]] = arith.mulf %[[PS]], %{{.+}} : f32
// CHECK: arith.subf %{{.+}}, %[[T]] : f32
// CHECK: return %{{.+}}, %{{.+}}, %{{.+}}, %[[DS]]
// In f64 the sum runs in f64 and is rounded to f32 once.
// F64-LABEL: func.func @backward_sinks
// F64: linalg.generic {{.+}}iterator_types = ["reduction", "parallel", "reduction"]{{.+}} outs(%{{.+}} : tensor<2xf64>)
// F64: arith.truncf %{{.+}} : f64 to f32
func.func @backward_sinks(%q: tensor<1x2x4x8xf32>, %k: tensor<1x1x4x8xf32>, %v: tensor<1x1x4x8xf32>, %o: tensor<1x2x4x8xf32>, %do: tensor<1x2x4x8xf32>, %lse: tensor<1x2x4xf32>, %s: tensor<2xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<2xf32>) {
  %dq, %dk, %dv, %ds = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4xf32>) sinks(%s : tensor<2xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32> grad_sinks(tensor<2xf32>)
  return %dq, %dk, %dv, %ds : tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<2xf32>
}
