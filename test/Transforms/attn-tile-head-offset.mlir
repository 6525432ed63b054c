// RUN: attn-opt %s --attn-tile="block-m=32 block-n=16" --canonicalize | FileCheck %s
// RUN: attn-opt %s --attn-tile="block-m=32 block-n=16" --attn-fuse-online-softmax --canonicalize | FileCheck %s --check-prefix=FUSED

// Rank 1 of a 2-way split of GQA 8/4: global heads 4..7 (Hq = 4, Hkv = 2,
// offset 4). One program per (KV group g, query block r) = 2 x 2 (batch 1
// folds away); the Q tile is sliced at the local head h0 = 2g, while the
// tile op is told the global head h0 + 4, what its ALiBi slope and
// score_mod head argument read. The slope array keeps all 8 global heads.
// CHECK-LABEL: func.func @shard
// CHECK-DAG: %[[C4:.+]] = arith.constant 4 : index
// CHECK: scf.forall (%[[G:.+]], %[[R:.+]]) in (2, 2)
// CHECK: %[[H0:.+]] = arith.muli %[[G]], %{{.+}} : index
// CHECK: tensor.extract_slice %{{.+}}[0, %[[H0]], %{{.+}}, 0] [1, 2, 32, 32]
// CHECK: %[[HG:.+]] = arith.addi %[[H0]], %[[C4]] : index
// CHECK: attn.block_attention {{.+}} at(%{{.+}}, %[[HG]], %{{.+}}, %{{.+}}) {{.+}}alibi_slopes = array<f64: 5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02, 3.125000e-02, 1.562500e-02, 7.812500e-03, 3.906250e-03>
// The fused step carries the same global head.
// FUSED-LABEL: func.func @shard
// FUSED-DAG: %[[C4:.+]] = arith.constant 4 : index
// FUSED: %[[HG:.+]] = arith.addi %{{.+}}, %[[C4]] : index
// FUSED: attn.online_step {{.+}} at(%{{.+}}, %[[HG]], %{{.+}}, %{{.+}})
func.func @shard(%q: tensor<1x4x64x32xbf16>, %k: tensor<1x2x64x32xbf16>, %v: tensor<1x2x64x32xbf16>) -> tensor<1x4x64x32xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x64x32xbf16>, tensor<1x2x64x32xbf16>, tensor<1x2x64x32xbf16>) {head_offset = 4 : i64, num_heads_total = 8 : i64, alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625>} -> tensor<1x4x64x32xbf16>
  return %o : tensor<1x4x64x32xbf16>
}
