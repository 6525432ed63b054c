// RUN: attn-opt %s --attn-tile-backward="block-m=4 block-n=4" --canonicalize --split-input-file --verify-diagnostics | FileCheck %s
// RUN: attn-opt %s --attn-tile-backward="block-m=4 block-n=4 deterministic=false skip-masked-blocks=false" --canonicalize --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=DENSE

// GQA 4/2, causal bottom-right, L = 8, 4x4 tiles, B = 1 (folded away). One
// program per (KV head kh, KV block kb): 2 x 2. Each holds its K/V tile
// (keys 4kb..4kb+3) and the f32 dK/dV accumulators, and walks the query
// blocks q0 = 0, 4 with both query heads 2kh, 2kh+1 of its KV head in one
// tile (G = 2). The forward's geometry decides per query block: query
// block q0 sees keys < min(8, q0 + 4) (visited if k0 is below), and whole
// KV blocks below alignDown(q0 + 1, 4) are interior. Delta = rowsum(dO * O)
// comes first; the dQ shares go to a [2 KV blocks, 1, 4, 8, 16] workspace
// that attn.accumulate sums.
// CHECK-LABEL: func.func @gqa_causal
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<1x4x8x16xf32>, %[[K:[^:]+]]: tensor<1x2x8x16xf32>, %[[V:[^:]+]]: tensor<1x2x8x16xf32>, %[[O:[^:]+]]: tensor<1x4x8x16xf32>, %[[DO:[^:]+]]: tensor<1x4x8x16xf32>, %[[LSE:[^:]+]]: tensor<1x4x8xf32>)
// CHECK-DAG: %[[C4:.+]] = arith.constant 4 : index
// CHECK-DAG: %[[C8:.+]] = arith.constant 8 : index
// CHECK: %[[DELTA:.+]] = linalg.generic {{.+}} ins(%[[DO]], %[[O]] : {{.+}}) outs(%{{.+}} : tensor<1x4x8xf32>)
// CHECK: %[[R:.+]]:3 = scf.forall (%[[KH:.+]], %[[KB:.+]]) in (2, 2) shared_outs(%[[DKO:.+]] = %{{.+}}, %[[DVO:.+]] = %{{.+}}, %[[WS:.+]] = %{{.+}}) -> (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x1x4x8x16xf32>)
// CHECK: %[[K0:.+]] = arith.muli %[[KB]], %[[C4]] : index
// CHECK: %[[KT:.+]] = tensor.extract_slice %[[K]][0, %[[KH]], %[[K0]], 0] [1, 1, 4, 16]
// CHECK: %[[VT:.+]] = tensor.extract_slice %[[V]][0, %[[KH]], %[[K0]], 0] [1, 1, 4, 16]
// CHECK: %[[H0:.+]] = arith.muli %[[KH]], %{{.+}} : index
// CHECK: %[[ACC:.+]]:3 = scf.for %[[Q0:.+]] = %{{.+}} to %[[C8]] step %[[C4]] iter_args(%[[DK:.+]] = %{{.+}}, %[[DV:.+]] = %{{.+}}, %[[DQ:.+]] = %{{.+}}) -> (tensor<4x16xf32>, tensor<4x16xf32>, tensor<2x8x16xf32>)
// CHECK: %[[VISITED:.+]] = arith.andi
// CHECK: %[[INTERIOR:.+]] = arith.andi
// CHECK: scf.if %[[VISITED]]
// CHECK: %[[QT:.+]] = tensor.extract_slice %[[Q]][0, %[[H0]], %[[Q0]], 0] [1, 2, 4, 16]
// CHECK: %[[DOT:.+]] = tensor.extract_slice %[[DO]][0, %[[H0]], %[[Q0]], 0] [1, 2, 4, 16]
// CHECK: %[[LT:.+]] = tensor.extract_slice %[[LSE]][0, %[[H0]], %[[Q0]]] [1, 2, 4]
// CHECK: %[[DT:.+]] = tensor.extract_slice %[[DELTA]][0, %[[H0]], %[[Q0]]] [1, 2, 4]
// CHECK: scf.if %[[INTERIOR]]
// CHECK: %[[NDK:.+]], %[[NDV:.+]], %[[GQ:.+]] = attn.backward_step ins(%[[QT]], %[[KT]], %[[VT]] : tensor<2x4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) at(%{{.+}}, %[[H0]], %[[Q0]], %[[K0]]) lengths(%[[C8]], %[[C8]]) grads(%[[DOT]], %[[LT]], %[[DT]] : {{.+}}) acc(%[[DK]], %[[DV]] : tensor<4x16xf32>, tensor<4x16xf32>) {interior, mask_kind = #attn.mask<causal_bottom_right>, scale = 2.500000e-01 : f64}
// CHECK: tensor.insert_slice %[[GQ]] into %[[DQ]][0, %[[Q0]], 0] [2, 4, 16]
// CHECK: } else {
// CHECK: attn.backward_step ins(%[[QT]], %[[KT]], %[[VT]] {{.+}} {mask_kind = #attn.mask<causal_bottom_right>, scale = 2.500000e-01 : f64}
// CHECK: } else {
// CHECK: scf.yield %[[DK]], %[[DV]], %[[DQ]]
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %[[ACC]]#0 into %[[DKO]][0, %[[KH]], %[[K0]], 0] [1, 1, 4, 16]
// CHECK-NEXT: tensor.parallel_insert_slice %[[ACC]]#1 into %[[DVO]][0, %[[KH]], %[[K0]], 0] [1, 1, 4, 16]
// CHECK-NEXT: tensor.parallel_insert_slice %[[ACC]]#2 into %[[WS]][%[[KB]], 0, %{{.+}}, 0, 0] [1, 1, 2, 8, 16]
// CHECK: %[[SUM:.+]] = attn.accumulate %[[R]]#2 {deterministic} : tensor<2x1x4x8x16xf32> -> tensor<1x4x8x16xf32>
// CHECK: return %[[SUM]], %[[R]]#0, %[[R]]#1
// Without block skipping every pair is a (non-interior) step, and without
// `deterministic` the accumulation order is left open.
// DENSE-LABEL: func.func @gqa_causal
// DENSE-NOT: interior
// DENSE: attn.accumulate %{{.+}} : tensor<2x1x4x8x16xf32> -> tensor<1x4x8x16xf32>
func.func @gqa_causal(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %lse: tensor<1x4x8xf32>) -> (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %dq, %dk, %dv : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
}

// -----

// Lq = 6, Lk = 5 with 4x4 tiles: the last KV tile has min(4, 5 - k0) keys
// padded to 4 (masked as padding in the step), the last query tile 2 rows
// padded with zero Q/dO rows and LSE -inf (so P = 0 there); only valid
// rows are written back. bf16 in, f32 gradients.
// CHECK-LABEL: func.func @tails
// CHECK: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: %[[KEYS:.+]] = arith.minsi %{{.+}}, %{{.+}} : index
// CHECK: %[[KS:.+]] = tensor.extract_slice %{{.+}} [1, 1, %[[KEYS]], 8] {{.+}} to tensor<?x8xbf16>
// CHECK: tensor.pad %[[KS]]
// CHECK: tensor.pad %{{.+}} low[0, 0] high[0, %{{.+}}] {
// CHECK-NEXT: ^bb0
// CHECK-NEXT: tensor.yield %[[NEGINF]] : f32
// CHECK: attn.backward_step
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %{{.+}} into %{{.+}} [1, 1, %[[KEYS]], 8]
// CHECK: attn.accumulate %{{.+}} {deterministic} : tensor<2x1x1x6x8xf32> -> tensor<1x1x6x8xf32>
func.func @tails(%q: tensor<1x1x6x8xbf16>, %k: tensor<1x1x5x8xbf16>, %v: tensor<1x1x5x8xbf16>, %o: tensor<1x1x6x8xbf16>, %do: tensor<1x1x6x8xbf16>, %lse: tensor<1x1x6xf32>) -> (tensor<1x1x6x8xf32>, tensor<1x1x5x8xf32>, tensor<1x1x5x8xf32>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x1x6x8xbf16>, tensor<1x1x5x8xbf16>, tensor<1x1x5x8xbf16>, tensor<1x1x6x8xbf16>, tensor<1x1x6x8xbf16>, tensor<1x1x6xf32>) -> tensor<1x1x6x8xf32>, tensor<1x1x5x8xf32>, tensor<1x1x5x8xf32>
  return %dq, %dk, %dv : tensor<1x1x6x8xf32>, tensor<1x1x5x8xf32>, tensor<1x1x5x8xf32>
}

// -----

// A full-shape bias and a mask broadcast over heads: each step gets its
// [G, M, N] = [1, 4, 4] tiles (the mask's head axis read at 0) and gives the
// pair's bias gradient, which goes to rows q0.. of the program's [1, 8, 4]
// column and then to keys k0.. of the f32 [1, 2, 8, 8] bias gradient; one
// program writes each element, and the result is rounded to bf16.
// CHECK-LABEL: func.func @bias_mask
// CHECK: %[[R:.+]] = scf.forall (%[[KH:.+]], %[[KB:.+]]) in (2, 2) shared_outs(%[[DB:.+]] = %{{.+}}) -> (tensor<1x2x8x8xf32>)
// CHECK: %[[K0:.+]] = arith.muli %[[KB]], %{{.+}} : index
// CHECK: %[[BT:.+]] = tensor.extract_slice %{{.+}}[0, %[[KH]], %[[Q0:.+]], %[[K0]]] [1, 1, 4, 4]
// CHECK: %[[MT:.+]] = tensor.extract_slice %{{.+}}[0, 0, %[[Q0]], %[[K0]]] [1, 1, 4, 4]
// CHECK: attn.backward_step {{.+}} bias(%[[BT]] : tensor<1x4x4xf32>) mask(%[[MT]] : tensor<1x4x4xi1>) {{.+}} -> tensor<4x16xf32>, tensor<4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x4xf32>
// CHECK: tensor.insert_slice %{{.+}} into %{{.+}}[0, %[[Q0]], 0] [1, 4, 4]
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}} into %[[DB]][0, %[[KH]], 0, %[[K0]]] [1, 1, 8, 4]
// CHECK: linalg.generic {{.+}} ins(%[[R]] : tensor<1x2x8x8xf32>) outs(%{{.+}} : tensor<1x2x8x8xbf16>)
func.func @bias_mask(%q: tensor<1x2x8x16xf32>, %o: tensor<1x2x8x16xf32>, %lse: tensor<1x2x8xf32>, %bias: tensor<1x2x8x8xf32>, %mask: tensor<1x1x8x8xi1>) -> tensor<1x2x8x8xbf16> {
  %dq, %dk, %dv, %db = attn.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) bias(%bias : tensor<1x2x8x8xf32>) mask(%mask : tensor<1x1x8x8xi1>) -> tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x8xbf16>
  return %db : tensor<1x2x8x8xbf16>
}

// -----

// A bias broadcast over heads ([1, 1, 8, 8] against Hq = 2; B = 1 is no
// broadcast): the f32 [1, 2, 8, 8] gradient of its values is summed over
// the head axis, rounded, and given back its unit axis.
// CHECK-LABEL: func.func @broadcast_bias
// CHECK: %[[R:.+]] = scf.forall {{.+}} -> (tensor<1x2x8x8xf32>)
// CHECK: %[[SUM:.+]] = linalg.reduce ins(%[[R]] : tensor<1x2x8x8xf32>) outs(%{{.+}} : tensor<1x8x8xf32>) dimensions = [1]
// CHECK: arith.addf
// CHECK: %[[BF:.+]] = linalg.generic {{.+}} ins(%[[SUM]] : tensor<1x8x8xf32>) outs(%{{.+}} : tensor<1x8x8xbf16>)
// CHECK: %[[DB:.+]] = tensor.expand_shape %[[BF]] {{\[\[}}0], [1, 2], [3]] output_shape [1, 1, 8, 8] : tensor<1x8x8xbf16> into tensor<1x1x8x8xbf16>
// CHECK: return %[[DB]]
func.func @broadcast_bias(%q: tensor<1x2x8x16xf32>, %o: tensor<1x2x8x16xf32>, %lse: tensor<1x2x8xf32>, %bias: tensor<1x1x8x8xf32>) -> tensor<1x1x8x8xbf16> {
  %dq, %dk, %dv, %db = attn.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) bias(%bias : tensor<1x1x8x8xf32>) -> tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x1x8x8xbf16>
  return %db : tensor<1x1x8x8xbf16>
}

// -----

// A bias without grad_bias is a constant: the steps read its tiles, but no
// step returns a bias gradient and the program has no column of it (only
// dQ is used here: the forall keeps the dQ shares alone).
// CHECK-LABEL: func.func @constant_bias
// CHECK: scf.forall {{.+}} -> (tensor<2x1x2x8x16xf32>)
// CHECK: attn.backward_step {{.+}} bias(%{{.+}} : tensor<1x4x4xf32>) {{.+}} -> tensor<4x16xf32>, tensor<4x16xf32>, tensor<1x4x16xf32>{{$}}
// CHECK-NOT: 1x2x8x8xf32
// CHECK: return
func.func @constant_bias(%q: tensor<1x2x8x16xf32>, %o: tensor<1x2x8x16xf32>, %lse: tensor<1x2x8xf32>, %bias: tensor<1x2x8x8xf32>) -> tensor<1x2x8x16xf32> {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) bias(%bias : tensor<1x2x8x8xf32>) -> tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %dq : tensor<1x2x8x16xf32>
}

// -----

func.func @dynamic_refused(%q: tensor<1x2x?x16xf32>, %lse: tensor<1x2x?xf32>) {
  // expected-error @+1 {{expected static shapes for attn-tile-backward}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?xf32>) -> tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return
}

// -----

// Sinks: d_sink[h] = -sum_{b, i} exp(sink[h] - lse) Delta needs only the
// LSE and the Delta computed before the programs, so it is one reduction
// after them and no backward_step sees the sinks. (One 4x4 block: the
// single-iteration forall folds away.)
// CHECK-LABEL: func.func @backward_sinks
// CHECK-SAME: %[[LSE:[^:]+]]: tensor<1x2x4xf32>, %[[SINKS:[^:]+]]: tensor<2xf32>)
// CHECK: %[[DELTA:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<1x2x4xf32>)
// CHECK-NOT: %[[SINKS]]
// CHECK: attn.backward_step
// CHECK-NOT: %[[SINKS]]
// CHECK: attn.accumulate
// CHECK: %[[DS:.+]] = linalg.generic {{.+}}iterator_types = ["reduction", "parallel", "reduction"]} ins(%[[SINKS]], %[[LSE]], %[[DELTA]] : tensor<2xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>)
// CHECK: math.exp
// CHECK: return %{{.+}}, %{{.+}}, %{{.+}}, %[[DS]]
// DENSE-LABEL: func.func @backward_sinks
// DENSE: ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<2xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>)
func.func @backward_sinks(%q: tensor<1x2x4x8xf32>, %k: tensor<1x1x4x8xf32>, %v: tensor<1x1x4x8xf32>, %o: tensor<1x2x4x8xf32>, %do: tensor<1x2x4x8xf32>, %lse: tensor<1x2x4xf32>, %s: tensor<2xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<2xf32>) {
  %dq, %dk, %dv, %ds = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4xf32>) sinks(%s : tensor<2xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32> grad_sinks(tensor<2xf32>)
  return %dq, %dk, %dv, %ds : tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<2xf32>
}

// -----

// Varlen: programs over (sequence, KV block) (the single KV head folds),
// KV blocks enough for the packed keys. Each reads its sequence's bounds
// from the offsets, walks its own query rows and addresses its packed rows
// (Q and the LSE at queryStart + q0, K at keyStart + k0); the steps see
// positions and lengths within the sequence. The gradients start at 0: rows
// past the last sequence's keys belong to no program.
// CHECK-LABEL: func.func @varlen
// CHECK-SAME: %[[Q:[^:]+]]: tensor<1x10x2x8xf32>, %[[K:[^:]+]]: tensor<1x12x1x8xf32>, %{{[^:]+}}: tensor<1x10x2x8xf32>, %[[LSE:[^:]+]]: tensor<1x2x10xf32>, %[[CQ:[^:]+]]: tensor<3xi32>, %[[CK:[^:]+]]: tensor<3xi32>)
// CHECK: %[[DK0:.+]] = linalg.fill {{.+}} -> tensor<1x12x1x8xf32>
// CHECK: %[[DV0:.+]] = linalg.fill {{.+}} -> tensor<1x12x1x8xf32>
// CHECK: %[[DQ0:.+]] = linalg.fill {{.+}} -> tensor<3x1x2x10x8xf32>
// CHECK: scf.forall (%[[SEQ:.+]], %[[KB:.+]]) in (2, 3) shared_outs(%{{.+}} = %[[DK0]], %{{.+}} = %[[DV0]], %{{.+}} = %[[DQ0]])
// CHECK: %[[K0:.+]] = arith.muli %[[KB]], %c4
// CHECK: tensor.extract %[[CQ]][%[[SEQ]]]
// CHECK: %[[QSTART:.+]] = arith.minsi %{{.+}}, %c10
// CHECK: %[[LQ:.+]] = arith.subi %{{.+}}, %[[QSTART]]
// CHECK: tensor.extract %[[CK]][%[[SEQ]]]
// CHECK: %[[KSTART:.+]] = arith.minsi %{{.+}}, %c12
// CHECK: %[[LK:.+]] = arith.subi %{{.+}}, %[[KSTART]]
// CHECK: %[[KROW:.+]] = arith.addi %[[KSTART]], %[[K0]]
// CHECK: tensor.extract_slice %[[K]][0, %[[KROW]], 0, 0]
// CHECK: scf.for %[[Q0:.+]] = %c0 to %[[LQ]] step %c4
// CHECK: %[[QROW:.+]] = arith.addi %[[QSTART]], %[[Q0]]
// CHECK: tensor.extract_slice %[[Q]][0, %[[QROW]], 0, 0]
// CHECK: tensor.extract_slice %[[LSE]][0, 0, %[[QROW]]]
// CHECK: attn.backward_step {{.+}} at(%[[SEQ]], %c0, %[[Q0]], %[[K0]]) lengths(%[[LQ]], %[[LK]])
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[0, %[[KROW]], 0, 0]
// CHECK: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[0, %[[KROW]], 0, 0]
// CHECK: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[%[[KB]], 0, 0, %[[QSTART]], 0] [1, 1, 2, %[[LQ]], 8]
// CHECK: attn.accumulate
func.func @varlen(%q: tensor<1x10x2x8xf32>, %k: tensor<1x12x1x8xf32>, %o: tensor<1x10x2x8xf32>, %lse: tensor<1x2x10xf32>, %cq: tensor<3xi32>, %ck: tensor<3xi32>) -> (tensor<1x10x2x8xf32>, tensor<1x12x1x8xf32>, tensor<1x12x1x8xf32>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %k, %o, %o, %lse : tensor<1x10x2x8xf32>, tensor<1x12x1x8xf32>, tensor<1x12x1x8xf32>, tensor<1x10x2x8xf32>, tensor<1x10x2x8xf32>, tensor<1x2x10xf32>) cu_seqlens_q(%cq : tensor<3xi32>) cu_seqlens_k(%ck : tensor<3xi32>) {layout = #attn.layout<bshd>, mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x10x2x8xf32>, tensor<1x12x1x8xf32>, tensor<1x12x1x8xf32>
  return %dq, %dk, %dv : tensor<1x10x2x8xf32>, tensor<1x12x1x8xf32>, tensor<1x12x1x8xf32>
}
