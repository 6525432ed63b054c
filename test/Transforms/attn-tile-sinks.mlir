// RUN: attn-opt %s --attn-tile="block-m=32 block-n=16" --canonicalize --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-tile="block-m=8 block-n=16 num-splits=2" --canonicalize --split-input-file | FileCheck %s --check-prefix=SPLIT
// Attention sinks enter once per row, after all its keys: the sink is a
// partial result over no key, output 0 and LSE sinks[h], merged by one more
// attn.combine exactly as the KV blocks are (lse = log(e^lse_keys + e^sink),
// out = e^(lse_keys - lse) * out_keys). With KV splits it joins the merge of
// the splits instead, so it is counted once, not once per split.

// A shard (global heads 4..7 of 8), GQA 4/2 packed: program g holds local
// heads 2g, 2g + 1, i.e. global heads 2g + 4, 2g + 5, whose sinks are
// sinks[2g + 4 : 2g + 6], spread over the tile's 32 rows.
// CHECK-DAG: #[[HEAD:.+]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @shard_sinks
// CHECK-SAME: %[[SINKS:[^:]+]]: tensor<8xf32>
// CHECK: scf.forall (%[[G:.+]]) in (2)
// CHECK: %[[H0:.+]] = arith.muli %[[G]], %{{.+}} : index
// CHECK: %[[KV:.+]]:2 = scf.for
// CHECK: attn.block_attention
// CHECK: attn.combine
// CHECK: %[[GH0:.+]] = arith.addi %[[H0]], %{{.+}} : index
// CHECK: %[[ZERO:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<2x32x16xf32>)
// CHECK: %[[S:.+]] = tensor.extract_slice %[[SINKS]][%[[GH0]]] [2] [1] : tensor<8xf32> to tensor<2xf32>
// CHECK: %[[ROWS:.+]] = linalg.generic {indexing_maps = [#[[HEAD]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[S]] : tensor<2xf32>) outs(%{{.+}} : tensor<2x32xf32>)
// CHECK: %[[OUT:.+]], %[[LSE:.+]] = attn.combine outputs(%[[KV]]#0, %[[ZERO]] : {{.+}}) lses(%[[KV]]#1, %[[ROWS]] : {{.+}})
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %[[LSE]]
func.func @shard_sinks(%q: tensor<1x4x32x16xf32>, %k: tensor<1x2x32x16xf32>, %v: tensor<1x2x32x16xf32>, %s: tensor<8xf32>) -> (tensor<1x4x32x16xf32>, tensor<1x4x32xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x4x32x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x16xf32>) sinks(%s : tensor<8xf32>) {mask_kind = #attn.mask<causal_bottom_right>, head_offset = 4 : i64, num_heads_total = 8 : i64} -> tensor<1x4x32x16xf32>, tensor<1x4x32xf32>
  return %o, %lse : tensor<1x4x32x16xf32>, tensor<1x4x32xf32>
}

// -----

// Split-KV decode, 2 splits of 32 keys: the programs merge no sink; the
// merge of the splits gets a third partial, (0, sinks[h]) over [B, Hq, Lq].
// SPLIT-DAG: #[[HEAD:.+]] = affine_map<(d0, d1, d2) -> (d1)>
// SPLIT-LABEL: func.func @decode_sinks
// SPLIT-SAME: %[[SINKS:[^:]+]]: tensor<2xf32>
// SPLIT: scf.forall
// SPLIT-NOT: tensor<2xf32>
// SPLIT: scf.forall.in_parallel
// SPLIT: %[[O0:.+]] = tensor.extract_slice %{{.+}}[0, 0, 0, 0, 0]
// SPLIT: %[[L0:.+]] = tensor.extract_slice %{{.+}}[0, 0, 0, 0]
// SPLIT: %[[O1:.+]] = tensor.extract_slice %{{.+}}[1, 0, 0, 0, 0]
// SPLIT: %[[L1:.+]] = tensor.extract_slice %{{.+}}[1, 0, 0, 0]
// SPLIT: %[[ZERO:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<1x2x1x16xf32>)
// SPLIT: %[[ROWS:.+]] = linalg.generic {indexing_maps = [#[[HEAD]], {{.+}}]{{.+}} ins(%[[SINKS]] : tensor<2xf32>) outs(%{{.+}} : tensor<1x2x1xf32>)
// SPLIT: attn.combine outputs(%[[O0]], %[[O1]], %[[ZERO]] : {{.+}}) lses(%[[L0]], %[[L1]], %[[ROWS]] : {{.+}})
func.func @decode_sinks(%q: tensor<1x2x1x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>, %s: tensor<2xf32>) -> tensor<1x2x1x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x1x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) sinks(%s : tensor<2xf32>) -> tensor<1x2x1x16xf32>
  return %o : tensor<1x2x1x16xf32>
}
