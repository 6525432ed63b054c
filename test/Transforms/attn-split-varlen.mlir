// RUN: attn-opt %s --attn-split-varlen --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-split-varlen --attn-tile="block-m=16 block-n=16" --split-input-file | FileCheck %s --check-prefix=TILED
// RUN: attn-opt %s --attn-tile="block-m=16 block-n=16" --split-input-file | FileCheck %s --check-prefix=DIRECT
// RUN: not attn-opt %s --attn-tile="block-m=16 block-n=4 num-splits=2" --split-input-file 2>&1 | FileCheck %s --check-prefix=SPLITS

// A varlen op is the dense op on each packed sequence's slices: for n in
// [0, N) (N = dim(cu_seqlens_q) - 1), Q rows [cu_q[n], cu_q[n+1]) and K/V
// rows [cu_k[n], cu_k[n+1]) of the [1, T, H, D] operands go through a dense
// attn.attention with dynamic lengths and the op's attributes (causal
// alignment is per sequence because each dense op sees only its sequence);
// its rows land at the same offsets of the output, and LSE [1, Hq, Tq] at
// offset cu_q[n] of axis 2. The output starts at 0 and the LSE at -inf.
// CHECK-LABEL: func.func @gqa_causal_lse
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x10x4x16xf32>, %[[K:[^:]+]]: tensor<1x12x2x16xf32>, %[[V:[^:]+]]: tensor<1x12x2x16xf32>, %[[CQ:[^:]+]]: tensor<4xi32>, %[[CK:[^:]+]]: tensor<4xi32>
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.+]] = arith.constant 1 : index
// CHECK: %[[N1:.+]] = tensor.dim %[[CQ]], %[[C0]]
// CHECK: %[[N:.+]] = arith.subi %[[N1]], %[[C1]]
// CHECK: %[[ZERO:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<1x10x4x16xf32>)
// CHECK: %[[NEGINF:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<1x4x10xf32>)
// Each offset is clamped to the packed rows, begin to [0, T] and end to
// [begin, T], so offsets that break the contract stay inside the operands.
// CHECK: %[[TQ:.+]] = tensor.dim %[[Q]], %[[C1]]
// CHECK: %[[TK:.+]] = tensor.dim %[[K]], %[[C1]]
// CHECK: %[[LOOP:.+]]:2 = scf.for %[[S:.+]] = %[[C0]] to %[[N]] step %[[C1]] iter_args(%[[O:.+]] = %[[ZERO]], %[[L:.+]] = %[[NEGINF]])
// CHECK: %[[NEXT:.+]] = arith.addi %[[S]], %[[C1]]
// CHECK: %[[QB32:.+]] = tensor.extract %[[CQ]][%[[S]]]
// CHECK: %[[QBI:.+]] = arith.index_cast %[[QB32]]
// CHECK: %[[QBLO:.+]] = arith.maxsi %[[QBI]], %[[C0]]
// CHECK: %[[QB:.+]] = arith.minsi %[[QBLO]], %[[TQ]]
// CHECK: %[[QE32:.+]] = tensor.extract %[[CQ]][%[[NEXT]]]
// CHECK: %[[QEI:.+]] = arith.index_cast %[[QE32]]
// CHECK: %[[QELO:.+]] = arith.maxsi %[[QEI]], %[[QB]]
// CHECK: %[[QE:.+]] = arith.minsi %[[QELO]], %[[TQ]]
// CHECK: %[[LQ:.+]] = arith.subi %[[QE]], %[[QB]]
// CHECK: %[[KB32:.+]] = tensor.extract %[[CK]][%[[S]]]
// CHECK: %[[KBI:.+]] = arith.index_cast %[[KB32]]
// CHECK: %[[KBLO:.+]] = arith.maxsi %[[KBI]], %[[C0]]
// CHECK: %[[KB:.+]] = arith.minsi %[[KBLO]], %[[TK]]
// CHECK: %[[LK:.+]] = arith.subi %{{.+}}, %[[KB]]
// CHECK: %[[QS:.+]] = tensor.extract_slice %[[Q]][0, %[[QB]], 0, 0] [1, %[[LQ]], 4, 16] [1, 1, 1, 1] : tensor<1x10x4x16xf32> to tensor<1x?x4x16xf32>
// CHECK: %[[KS:.+]] = tensor.extract_slice %[[K]][0, %[[KB]], 0, 0] [1, %[[LK]], 2, 16]
// CHECK: %[[VS:.+]] = tensor.extract_slice %[[V]][0, %[[KB]], 0, 0] [1, %[[LK]], 2, 16]
// CHECK: %[[D:.+]], %[[DL:.+]] = attn.attention ins(%[[QS]], %[[KS]], %[[VS]] : tensor<1x?x4x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>)
// CHECK-SAME: layout = #attn.layout<bshd>
// CHECK-SAME: mask_kind = #attn.mask<causal_bottom_right>
// CHECK-SAME: -> tensor<1x?x4x16xf32>, tensor<1x4x?xf32>
// CHECK-NOT: cu_seqlens
// CHECK: %[[O2:.+]] = tensor.insert_slice %[[D]] into %[[O]][0, %[[QB]], 0, 0] [1, %[[LQ]], 4, 16]
// CHECK: %[[L2:.+]] = tensor.insert_slice %[[DL]] into %[[L]][0, 0, %[[QB]]] [1, 4, %[[LQ]]]
// CHECK: scf.yield %[[O2]], %[[L2]]
// CHECK: return %[[LOOP]]#0, %[[LOOP]]#1

// After the split attn-tile sees only dense ops, one tiled program per
// sequence (the Q-block grid follows each sequence's own length).
// TILED-LABEL: func.func @gqa_causal_lse
// TILED: scf.for
// TILED: scf.forall
// TILED: attn.block_attention
// TILED-NOT: attn.attention

// attn-tile alone tiles the varlen op as one program grid (what the GPU
// kernel runs): (N = 3, Hq / G = 2 with G = 2 packed, ceil(Tq / 16) = 1)
// programs, each reading its sequence's bounds through the same definition
// (clamped offsets) and slicing the packed rows at its starts; the block
// ops see positions and lengths within the sequence.
// DIRECT-LABEL: func.func @gqa_causal_lse
// DIRECT-SAME: %[[Q:[^:]+]]: tensor<1x10x4x16xf32>, %[[K:[^:]+]]: tensor<1x12x2x16xf32>, %{{[^:]+}}: tensor<1x12x2x16xf32>, %[[CQ:[^:]+]]: tensor<4xi32>, %[[CK:[^:]+]]: tensor<4xi32>
// DIRECT: scf.forall (%[[S:.+]], %{{.+}}, %{{.+}}) in (3, 2, 1)
// DIRECT: tensor.extract %[[CQ]][%[[S]]]
// DIRECT: %[[QS:.+]] = arith.minsi %{{.+}}, %{{.+}} : index
// DIRECT: %[[LQ:.+]] = arith.subi %{{.+}}, %[[QS]] : index
// DIRECT: tensor.extract %[[CK]][%[[S]]]
// DIRECT: %[[KS:.+]] = arith.minsi %{{.+}}, %{{.+}} : index
// DIRECT: %[[LK:.+]] = arith.subi %{{.+}}, %[[KS]] : index
// DIRECT: %[[ROW:.+]] = arith.addi %[[QS]], %{{.+}} : index
// DIRECT: tensor.extract_slice %[[Q]][%{{.+}}, %[[ROW]], %{{.+}}, 0]
// DIRECT: %[[KROW:.+]] = arith.addi %[[KS]], %{{.+}} : index
// DIRECT: attn.kv_tile %[[K]][%{{.+}}, %{{.+}}, %[[KROW]]]
// DIRECT: attn.block_attention {{.+}} at(%[[S]], {{.+}}) lengths(%[[LQ]], %[[LK]])
// DIRECT-NOT: attn.attention

// KV splits of a varlen op would need a per-sequence merge: refused (the
// split op's dense ones take them).
// SPLITS: error: 'attn.attention' op expected num-splits = 1 for a varlen attention over packed keys (KV splits: run attn-split-varlen first, or use per-sequence caches with key_lengths)
func.func @gqa_causal_lse(%q: tensor<1x10x4x16xf32>, %k: tensor<1x12x2x16xf32>, %v: tensor<1x12x2x16xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> (tensor<1x10x4x16xf32>, tensor<1x4x10xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x10x4x16xf32>, tensor<1x12x2x16xf32>, tensor<1x12x2x16xf32>) cu_seqlens_q(%cq : tensor<4xi32>) cu_seqlens_k(%ck : tensor<4xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x10x4x16xf32>, tensor<1x4x10xf32>
  return %o, %lse : tensor<1x10x4x16xf32>, tensor<1x4x10xf32>
}

// -----

// Dynamic totals: the zero output takes Q's dynamic total; the dense op
// keeps the sinks and attributes (scale, window, sharding) of the varlen one.
// CHECK-LABEL: func.func @dynamic_sinks
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x?x4x16xf32>
// CHECK: %[[T:.+]] = tensor.dim %[[Q]], %{{.+}} : tensor<1x?x4x16xf32>
// CHECK: tensor.empty(%[[T]]) : tensor<1x?x4x16xf32>
// CHECK: scf.for
// CHECK: attn.attention ins({{.+}}) sinks(%{{.+}} : tensor<8xf32>) {head_offset = 4 : i64, layout = #attn.layout<bshd>, mask_kind = #attn.mask<sliding_window>, num_heads_total = 8 : i64, scale = 5.000000e-01 : f64, window = array<i64: 3, 0>} -> tensor<1x?x4x16xf32>
func.func @dynamic_sinks(%q: tensor<1x?x4x16xf32>, %k: tensor<1x?x4x16xf32>, %v: tensor<1x?x4x16xf32>, %s: tensor<8xf32>, %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> tensor<1x?x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32>) sinks(%s : tensor<8xf32>) cu_seqlens_q(%cq : tensor<?xi32>) cu_seqlens_k(%ck : tensor<?xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<sliding_window>, window = array<i64: 3, 0>, scale = 0.5 : f64, head_offset = 4 : i64, num_heads_total = 8 : i64} -> tensor<1x?x4x16xf32>
  return %o : tensor<1x?x4x16xf32>
}
