// RUN: attn-opt %s --attn-tile="block-m=32 block-n=16" --canonicalize --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-tile="block-m=32 block-n=16 pack-gqa=false" --canonicalize --split-input-file | FileCheck %s --check-prefix=UNPACKED
// RUN: attn-opt %s --attn-tile="block-m=8 block-n=16 num-splits=2" --canonicalize --split-input-file | FileCheck %s --check-prefix=SPLIT


// GQA 8/2, causal, L = 64, 32x16 tiles. One program per (batch b, KV head
// group g, query block r): 2 x 2 x 2. The program's Q tile holds the 4 query
// heads 4g..4g+3 of KV head g (GQA packing) and rows 32r..32r+31. KV blocks
// below the diagonal (keys < 32r + 1, rounded down to 16) are interior; the
// rest up to the diagonal (keys <= 32r + 31) evaluate the mask. The state
// (output, lse) flows from the interior loop into the boundary loop; the
// tile is rounded to bf16 and written to rows 32r.. of heads 4g..
// CHECK-LABEL: func.func @gqa_causal
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x8x64x32xbf16>, %[[K:[^:]+]]: tensor<2x2x64x32xbf16>, %[[V:[^:]+]]: tensor<2x2x64x32xbf16>)
// CHECK-DAG: %[[C16:.+]] = arith.constant 16 : index
// CHECK-DAG: %[[C32:.+]] = arith.constant 32 : index
// CHECK-DAG: %[[C64:.+]] = arith.constant 64 : index
// CHECK: %[[RES:.+]]:2 = scf.forall (%[[B:.+]], %[[G:.+]], %[[R:.+]]) in (2, 2, 2) shared_outs(%[[OUT:.+]] = %{{.+}}, %[[LSEOUT:.+]] = %{{.+}})
// CHECK: %[[H0:.+]] = arith.muli %[[G]], %{{.+}} : index
// CHECK: %[[Q0:.+]] = arith.muli %[[R]], %[[C32]] : index
// CHECK: %[[QT:.+]] = tensor.extract_slice %[[Q]][%[[B]], %[[H0]], %[[Q0]], 0] [1, 4, 32, 32] [1, 1, 1, 1] : tensor<2x8x64x32xbf16> to tensor<4x32x32xbf16>
// CHECK: %[[INNER:.+]]:2 = scf.for %[[K0:.+]] = %{{.+}} to %[[MID:.+]] step %[[C16]] iter_args(%[[O:.+]] = %{{.+}}, %[[L:.+]] = %{{.+}})
// CHECK: %[[KT:.+]] = attn.kv_tile %[[K]][%[[B]], %{{.+}}, %[[K0]]] : tensor<2x2x64x32xbf16> -> tensor<16x32xbf16>
// CHECK: %[[VT:.+]] = attn.kv_tile %[[V]][%[[B]], %{{.+}}, %[[K0]]] : tensor<2x2x64x32xbf16> -> tensor<16x32xbf16>
// CHECK: %[[BO:.+]], %[[BL:.+]] = attn.block_attention ins(%[[QT]], %[[KT]], %[[VT]] : tensor<4x32x32xbf16>, tensor<16x32xbf16>, tensor<16x32xbf16>) at(%[[B]], %[[H0]], %[[Q0]], %[[K0]]) lengths(%[[C64]], %[[C64]]) {interior, mask_kind = #attn.mask<causal_bottom_right>, scale = 0.17677669529663687 : f64} -> tensor<4x32x32xf32>, tensor<4x32xf32>
// CHECK: %[[CO:.+]], %[[CL:.+]] = attn.combine outputs(%[[O]], %[[BO]] : {{.+}}) lses(%[[L]], %[[BL]] : {{.+}})
// CHECK: scf.yield %[[CO]], %[[CL]]
// CHECK: %[[EDGE:.+]]:2 = scf.for %{{.+}} = %[[MID]] to %{{.+}} step %[[C16]] iter_args(%{{.+}} = %[[INNER]]#0, %{{.+}} = %[[INNER]]#1)
// CHECK: attn.block_attention {{.+}} {mask_kind = #attn.mask<causal_bottom_right>, scale = 0.17677669529663687 : f64}
// CHECK: attn.combine
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}} into %[[OUT]][%[[B]], %[[H0]], %[[Q0]], 0] [1, 4, 32, 32]
// CHECK-NEXT: tensor.parallel_insert_slice %[[EDGE]]#1 into %[[LSEOUT]][%[[B]], %[[H0]], %[[Q0]]] [1, 4, 32]
// CHECK: return %[[RES]]#0, %[[RES]]#1
// Without packing a program holds one query head h and reads KV head h / 4.
// UNPACKED-LABEL: func.func @gqa_causal
// UNPACKED: scf.forall (%[[B:.+]], %[[H:.+]], %[[R:.+]]) in (2, 8, 2)
// UNPACKED: %[[KVH:.+]] = arith.divsi %[[H]], %{{.+}} : index
// UNPACKED: tensor.extract_slice %{{.+}}[%[[B]], %[[H]], %{{.+}}, 0] [1, 1, 32, 32] {{.+}} to tensor<1x32x32xbf16>
// UNPACKED: attn.kv_tile %{{.+}}[%[[B]], %[[KVH]], %{{.+}}] : tensor<2x2x64x32xbf16> -> tensor<16x32xbf16>
func.func @gqa_causal(%q: tensor<2x8x64x32xbf16>, %k: tensor<2x2x64x32xbf16>, %v: tensor<2x2x64x32xbf16>) -> (tensor<2x8x64x32xbf16>, tensor<2x8x64xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x8x64x32xbf16>, tensor<2x2x64x32xbf16>, tensor<2x2x64x32xbf16>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<2x8x64x32xbf16>, tensor<2x8x64xf32>
  return %o, %lse : tensor<2x8x64x32xbf16>, tensor<2x8x64xf32>
}

// -----

// Lengths the blocks do not divide (Lq = 40, Lk = 24): the last query tile
// has min(32, 40 - q0) valid rows, padded with zeros to 32; KV tiles hold
// min(16, 24 - k0) keys, padded to 16 (padded keys are masked by the block
// op). Only the valid rows are written back.
// CHECK-LABEL: func.func @tails
// CHECK: scf.forall (%{{.+}}, %[[R:.+]]) in (2, 2)
// CHECK: %[[Q0:.+]] = arith.muli %[[R]], %{{.+}} : index
// CHECK: %[[LEFT:.+]] = arith.subi %{{.+}}, %[[Q0]] : index
// CHECK: %[[ROWS:.+]] = arith.minsi %[[LEFT]], %{{.+}} : index
// CHECK: %[[QS:.+]] = tensor.extract_slice %{{.+}}[0, %{{.+}}, %[[Q0]], 0] [1, 1, %[[ROWS]], 16] {{.+}} to tensor<1x?x16xf32>
// CHECK: tensor.pad %[[QS]] low[0, 0, 0] high[0, %{{.+}}, 0]
// CHECK: } : tensor<1x?x16xf32> to tensor<1x32x16xf32>
// CHECK: attn.kv_tile %{{.+}} : tensor<1x2x24x16xf32> -> tensor<16x16xf32>
// CHECK: tensor.extract_slice %{{.+}}[0, 0, 0] [1, %[[ROWS]], 16]
// CHECK: tensor.parallel_insert_slice {{.+}} [1, 1, %[[ROWS]], 16]
func.func @tails(%q: tensor<1x2x40x16xf32>, %k: tensor<1x2x24x16xf32>, %v: tensor<1x2x24x16xf32>) -> tensor<1x2x40x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x40x16xf32>, tensor<1x2x24x16xf32>, tensor<1x2x24x16xf32>) -> tensor<1x2x40x16xf32>
  return %o : tensor<1x2x40x16xf32>
}

// -----

// Split-KV decode (one query, Lk = 64, 2 splits of 32 keys): the programs
// write f32 partial results [split, B, Hq, Lq, Dv] and their LSEs; the two
// splits are merged by one attn.combine after the programs.
// SPLIT-LABEL: func.func @decode
// SPLIT: %[[PARTS:.+]]:2 = scf.forall (%[[H:.+]], %[[S:.+]]) in (2, 2) shared_outs(%[[PO:.+]] = %{{.+}}, %[[PL:.+]] = %{{.+}}) -> (tensor<2x1x2x1x16xf32>, tensor<2x1x2x1xf32>)
// SPLIT: %[[KBEGIN:.+]] = arith.muli %[[S]], %{{.+}} : index
// SPLIT: scf.for %{{.+}} = %{{.+}} to
// SPLIT: tensor.parallel_insert_slice %{{.+}} into %[[PO]][%[[S]], 0, %[[H]], 0, 0] [1, 1, 1, 1, 16]
// SPLIT: tensor.parallel_insert_slice %{{.+}} into %[[PL]][%[[S]], 0, %[[H]], 0] [1, 1, 1, 1]
// SPLIT: %[[O0:.+]] = tensor.extract_slice %[[PARTS]]#0[0, 0, 0, 0, 0] [1, 1, 2, 1, 16]
// SPLIT: %[[L0:.+]] = tensor.extract_slice %[[PARTS]]#1[0, 0, 0, 0] [1, 1, 2, 1]
// SPLIT: %[[O1:.+]] = tensor.extract_slice %[[PARTS]]#0[1, 0, 0, 0, 0] [1, 1, 2, 1, 16]
// SPLIT: %[[L1:.+]] = tensor.extract_slice %[[PARTS]]#1[1, 0, 0, 0] [1, 1, 2, 1]
// SPLIT: %[[OUT:.+]], %{{.+}} = attn.combine outputs(%[[O0]], %[[O1]] : {{.+}}) lses(%[[L0]], %[[L1]] : {{.+}}) -> tensor<1x2x1x16xf32>, tensor<1x2x1xf32>
// SPLIT: return %[[OUT]]
func.func @decode(%q: tensor<1x2x1x16xf32>, %k: tensor<1x2x64x16xf32>, %v: tensor<1x2x64x16xf32>) -> tensor<1x2x1x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x1x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) -> tensor<1x2x1x16xf32>
  return %o : tensor<1x2x1x16xf32>
}

// -----

// BSHD: the Q tile [rows, G, D] is transposed to [G, rows, D] for the block
// op, and the output tile is written back transposed through the generic's
// output map (g, i, c) -> (i, g, c). A [B, 1, 1, Lk] padding-mask-style bias
// is sliced per KV tile and broadcast over heads and rows.
// CHECK-DAG: #[[$BCAST:map[0-9]*]] = affine_map<(d0, d1, d2) -> (0, 0, d2)>
// CHECK-DAG: #[[$TOBSHD:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
// CHECK-LABEL: func.func @bshd_bias
// CHECK: tensor.extract_slice %{{.+}}[0, %{{.+}}, %{{.+}}, 0] [1, 32, 1, 16] {{.+}} to tensor<32x1x16xf32>
// CHECK: linalg.transpose ins(%{{.+}} : tensor<32x1x16xf32>) outs(%{{.+}} : tensor<1x32x16xf32>) permutation = [1, 0, 2]
// CHECK: %[[BS:.+]] = tensor.extract_slice %{{.+}}[0, 0, 0, %{{.+}}] [1, 1, 1, 16] {{.+}} : tensor<1x1x1x64xf32> to tensor<1x1x16xf32>
// CHECK: %[[BT:.+]] = linalg.generic {indexing_maps = [#[[$BCAST]], #{{.+}}], {{.+}} ins(%[[BS]] : tensor<1x1x16xf32>) outs(%{{.+}} : tensor<1x32x16xf32>)
// CHECK: attn.block_attention {{.+}} bias(%[[BT]] : tensor<1x32x16xf32>)
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$TOBSHD]]], {{.+}} outs(%{{.+}} : tensor<32x1x16xf32>)
func.func @bshd_bias(%q: tensor<1x64x2x16xf32>, %k: tensor<1x64x2x16xf32>, %v: tensor<1x64x2x16xf32>, %b: tensor<1x1x1x64xf32>) -> tensor<1x64x2x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32>) bias(%b : tensor<1x1x1x64xf32>) {layout = #attn.layout<bshd>} -> tensor<1x64x2x16xf32>
  return %o : tensor<1x64x2x16xf32>
}

// -----

// Sliding window: the KV range has a lower edge too, so the loop is split in
// three: boundary (lower edge), interior, boundary (diagonal).
// CHECK-LABEL: func.func @window
// CHECK: scf.for
// CHECK: attn.block_attention {{.+}} {mask_kind = #attn.mask<sliding_window>, scale = 2.500000e-01 : f64, window = array<i64: 40, 0>}
// CHECK: scf.for
// CHECK: attn.block_attention {{.+}} {interior, mask_kind = #attn.mask<sliding_window>, scale = 2.500000e-01 : f64, window = array<i64: 40, 0>}
// CHECK: scf.for
// CHECK: attn.block_attention {{.+}} {mask_kind = #attn.mask<sliding_window>, scale = 2.500000e-01 : f64, window = array<i64: 40, 0>}
func.func @window(%q: tensor<1x1x128x16xf32>, %k: tensor<1x1x128x16xf32>, %v: tensor<1x1x128x16xf32>) -> tensor<1x1x128x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x128x16xf32>, tensor<1x1x128x16xf32>, tensor<1x1x128x16xf32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 40, 0>} -> tensor<1x1x128x16xf32>
  return %o : tensor<1x1x128x16xf32>
}

// -----

// Dynamic lengths: the number of query blocks is ceil(Lq / 32) at run time.
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[LQ:.+]] = tensor.dim %{{.+}}, %{{.+}} : tensor<1x2x?x16xf32>
// CHECK: %[[NB:.+]] = arith.ceildivsi %[[LQ]], %{{.+}} : index
// CHECK: scf.forall (%{{.+}}, %{{.+}}) in (2, %[[NB]])
func.func @dynamic(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>) -> tensor<1x2x?x16xf32>
  return %o : tensor<1x2x?x16xf32>
}
