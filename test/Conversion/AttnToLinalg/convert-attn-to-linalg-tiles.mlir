// RUN: attn-opt %s --convert-attn-to-linalg --split-input-file | FileCheck %s

// The tile-level ops (attn.block_attention, attn.online_step, attn.finalize,
// attn.combine) lower to linalg.generic chains that state their semantics.
// A tile is G = 2 query heads x M = 4 rows against N = 8 keys: Q [2, 4, 16],
// K [8, 16], V [8, 32]; iteration dims (g, i, j) for scores. Positions are
// absolute: head + g, query_pos + i, key_pos + j.

// A boundary tile (no `interior`) masks its padding: key j of the tile is at
// key_pos + j and is visible iff key_pos + j < key_len; otherwise s = -inf.
// s = 0.25 * sum_d Q[g, i, d] K[j, d], and nothing else masks (no kind).
// CHECK-LABEL: func.func @block_attention_pads_keys
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x4x16xf32>, %[[K:[^:]+]]: tensor<8x16xf32>, %[[V:[^:]+]]: tensor<8x32xf32>, %[[B:[^:]+]]: index, %[[H:[^:]+]]: index, %[[QP:[^:]+]]: index, %[[KP:[^:]+]]: index, %[[LQ:[^:]+]]: index, %[[LK:[^:]+]]: index)
// CHECK: %[[RAW:.+]] = linalg.generic {{.+}} ins(%[[Q]], %[[K]] : tensor<2x4x16xf32>, tensor<8x16xf32>)
// CHECK: %[[S:.+]] = linalg.generic {{.+}} ins(%[[RAW]] : tensor<2x4x8xf32>)
// CHECK-NEXT: ^bb0(%[[DOT:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK: %[[J:.+]] = linalg.index 2 : index
// CHECK-NEXT: %[[KEY:.+]] = arith.addi %[[KP]], %[[J]] : index
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SC:.+]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
// CHECK-NEXT: %[[INB:.+]] = arith.cmpi slt, %[[KEY]], %[[LK]] : index
// CHECK-NEXT: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[MASKED:.+]] = arith.select %[[INB]], %[[SC]], %[[NINF]] : f32
// CHECK-NEXT: linalg.yield %[[MASKED]] : f32
// The tile's own softmax: m = rowmax(s) from -inf, P = exp(s - m),
// l = rowsum(P), O = P.V / l, lse = m + log(l).
// CHECK: %[[M:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[S]] : tensor<2x4x8xf32>)
// CHECK: arith.maximumf
// CHECK: %[[P:.+]] = linalg.generic {{.+}} ins(%[[S]], %[[M]] : tensor<2x4x8xf32>, tensor<2x4xf32>)
// CHECK: math.exp
// CHECK: %[[L:.+]] = linalg.generic {{.+}} ins(%[[P]] : tensor<2x4x8xf32>)
// CHECK: %[[PV:.+]] = linalg.generic {{.+}} ins(%[[P]], %[[V]] : tensor<2x4x8xf32>, tensor<8x32xf32>)
// CHECK: %[[O:.+]] = linalg.generic {{.+}} ins(%[[PV]], %[[L]] : tensor<2x4x32xf32>, tensor<2x4xf32>)
// CHECK: arith.divf
// CHECK: %[[LSE:.+]] = linalg.generic {{.+}} ins(%[[M]], %[[L]] : tensor<2x4xf32>, tensor<2x4xf32>)
// CHECK: math.log
// CHECK: return %[[O]], %[[LSE]] : tensor<2x4x32xf32>, tensor<2x4xf32>
func.func @block_attention_pads_keys(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index) -> (tensor<2x4x32xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x32xf32>, tensor<2x4xf32>
}

// -----

// `interior`: the producer guarantees every key of the tile is in range and
// visible, so even with a causal mask kind the score is just 0.25 * dot:
// no position comparison and no -inf select in the score generic.
// CHECK-LABEL: func.func @block_attention_interior
// CHECK: %[[RAW:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<2x4x16xf32>, tensor<8x16xf32>)
// CHECK: linalg.generic {{.+}} ins(%[[RAW]] : tensor<2x4x8xf32>)
// CHECK-NEXT: ^bb0(%[[DOT:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NOT: arith.cmpi
// CHECK-NOT: arith.select
// CHECK-NOT: 0xFF800000
// CHECK: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SC:.+]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
// CHECK-NEXT: linalg.yield %[[SC]] : f32
// CHECK-NEXT: } -> tensor<2x4x8xf32>
func.func @block_attention_interior(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index) -> (tensor<2x4x32xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) {interior, mask_kind = #attn.mask<causal_top_left>, scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x32xf32>, tensor<2x4xf32>
}

// -----

// causal_bottom_right on a tile: row i is at query_pos + i and key j at
// key_pos + j; visible iff key_pos + j < key_len and
// key_pos + j <= (query_pos + i) + (key_len - query_len).
// CHECK-LABEL: func.func @block_attention_causal_bottom_right
// CHECK-SAME: %[[QP:[^:]+]]: index, %[[KP:[^:]+]]: index, %[[LQ:[^:]+]]: index, %[[LK:[^:]+]]: index)
// CHECK: ^bb0(%[[DOT:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK: %[[I:.+]] = linalg.index 1 : index
// CHECK-NEXT: %[[ROW:.+]] = arith.addi %[[QP]], %[[I]] : index
// CHECK-NEXT: %[[J:.+]] = linalg.index 2 : index
// CHECK-NEXT: %[[KEY:.+]] = arith.addi %[[KP]], %[[J]] : index
// CHECK: %[[SC:.+]] = arith.mulf %[[DOT]], %{{.+}} : f32
// CHECK: %[[INB:.+]] = arith.cmpi slt, %[[KEY]], %[[LK]] : index
// CHECK-NEXT: %[[OFF:.+]] = arith.subi %[[LK]], %[[LQ]] : index
// CHECK-NEXT: %[[DIAG:.+]] = arith.addi %[[ROW]], %[[OFF]] : index
// CHECK-NEXT: %[[CAUSAL:.+]] = arith.cmpi sle, %[[KEY]], %[[DIAG]] : index
// CHECK-NEXT: %[[KEEP:.+]] = arith.andi %[[INB]], %[[CAUSAL]] : i1
// CHECK-NEXT: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[MASKED:.+]] = arith.select %[[KEEP]], %[[SC]], %[[NINF]] : f32
// CHECK-NEXT: linalg.yield %[[MASKED]] : f32
func.func @block_attention_causal_bottom_right(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index) -> (tensor<2x4x32xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) {mask_kind = #attn.mask<causal_bottom_right>, scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x32xf32>, tensor<2x4xf32>
}

// -----

// ALiBi on a tile: s = 0.25 * dot - slopes[head + g] * |(query_pos + i) +
// (key_len - query_len) - (key_pos + j)|; the slopes are the whole
// problem's (4 heads), indexed by the absolute head of row group g.
// CHECK-LABEL: func.func @block_attention_alibi
// CHECK-SAME: %[[H:[^:]+]]: index, %[[QP:[^:]+]]: index, %[[KP:[^:]+]]: index, %[[LQ:[^:]+]]: index, %[[LK:[^:]+]]: index)
// CHECK: %[[SLOPES:.+]] = arith.constant dense<[5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02]> : tensor<4xf32>
// CHECK: ^bb0(%[[DOT:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[G:.+]] = linalg.index 0 : index
// CHECK-NEXT: %[[HEAD:.+]] = arith.addi %[[H]], %[[G]] : index
// CHECK-NEXT: %[[I:.+]] = linalg.index 1 : index
// CHECK-NEXT: %[[ROW:.+]] = arith.addi %[[QP]], %[[I]] : index
// CHECK-NEXT: %[[J:.+]] = linalg.index 2 : index
// CHECK-NEXT: %[[KEY:.+]] = arith.addi %[[KP]], %[[J]] : index
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SC:.+]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
// CHECK-NEXT: %[[OFF:.+]] = arith.subi %[[LK]], %[[LQ]] : index
// CHECK-NEXT: %[[DIAG:.+]] = arith.addi %[[ROW]], %[[OFF]] : index
// CHECK-NEXT: %[[DIST:.+]] = arith.subi %[[DIAG]], %[[KEY]] : index
// CHECK-NEXT: %[[DI:.+]] = arith.index_cast %[[DIST]] : index to i64
// CHECK-NEXT: %[[ABS:.+]] = math.absi %[[DI]] : i64
// CHECK-NEXT: %[[DF:.+]] = arith.sitofp %[[ABS]] : i64 to f32
// CHECK-NEXT: %[[SLOPE:.+]] = tensor.extract %[[SLOPES]][%[[HEAD]]] : tensor<4xf32>
// CHECK-NEXT: %[[PEN:.+]] = arith.mulf %[[SLOPE]], %[[DF]] : f32
// CHECK-NEXT: %[[R:.+]] = arith.subf %[[SC]], %[[PEN]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
func.func @block_attention_alibi(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index) -> (tensor<2x4x32xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) {interior, alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>, scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x32xf32>, tensor<2x4xf32>
}

// -----

// One online-softmax step (natural log domain, P not rounded):
//   m'   = max(m, rowmax(s))   (the running max is the reduction's init)
//   a    = exp(m - shift(m'))  (shift(-inf) = 0)
//   P    = exp(s - shift(m'))
//   l'   = a*l + rowsum(P)     (a*l is the sum reduction's init)
//   acc' = a*acc + P.V         (a*acc is the contraction's init)
// CHECK-LABEL: func.func @online_step
// CHECK-SAME: %[[V:[^:]+]]: tensor<8x32xf32>
// CHECK-SAME: %[[ACC:[^:]+]]: tensor<2x4x32xf32>, %[[MAX:[^:]+]]: tensor<2x4xf32>, %[[SUM:[^:]+]]: tensor<2x4xf32>)
// CHECK: %[[RAW:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<2x4x8xf32>)
// CHECK: %[[S:.+]] = linalg.generic {{.+}} ins(%[[RAW]] : tensor<2x4x8xf32>)
// CHECK: arith.constant 2.500000e-01 : f32
// CHECK: %[[NMAX:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[S]] : tensor<2x4x8xf32>) outs(%[[MAX]] : tensor<2x4xf32>)
// CHECK-NEXT: ^bb0(%[[X:[^:]+]]: f32, %[[PREV:[^:]+]]: f32):
// CHECK-NEXT: %[[MX:.+]] = arith.maximumf %[[X]], %[[PREV]] : f32
// CHECK-NEXT: linalg.yield %[[MX]] : f32
// CHECK: %[[P:.+]] = linalg.generic {{.+}} ins(%[[S]], %[[NMAX]] : tensor<2x4x8xf32>, tensor<2x4xf32>)
// CHECK-NEXT: ^bb0(%[[PS:[^:]+]]: f32, %[[PM:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[PNINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[PEMPTY:.+]] = arith.cmpf oeq, %[[PM]], %[[PNINF]] : f32
// CHECK-NEXT: %[[PZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[PSHIFT:.+]] = arith.select %[[PEMPTY]], %[[PZERO]], %[[PM]] : f32
// CHECK-NEXT: %[[PD:.+]] = arith.subf %[[PS]], %[[PSHIFT]] : f32
// CHECK-NEXT: %[[PE:.+]] = math.exp %[[PD]] : f32
// CHECK-NEXT: linalg.yield %[[PE]] : f32
// CHECK: %[[ALPHA:.+]] = linalg.generic {{.+}} ins(%[[MAX]], %[[NMAX]] : tensor<2x4xf32>, tensor<2x4xf32>)
// CHECK-NEXT: ^bb0(%[[OLD:[^:]+]]: f32, %[[NEW:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[EMPTY:.+]] = arith.cmpf oeq, %[[NEW]], %[[NINF]] : f32
// CHECK-NEXT: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[SHIFT:.+]] = arith.select %[[EMPTY]], %[[ZERO]], %[[NEW]] : f32
// CHECK-NEXT: %[[D:.+]] = arith.subf %[[OLD]], %[[SHIFT]] : f32
// CHECK-NEXT: %[[E:.+]] = math.exp %[[D]] : f32
// CHECK-NEXT: linalg.yield %[[E]] : f32
// CHECK: %[[ASUM:.+]] = linalg.generic {{.+}} ins(%[[SUM]], %[[ALPHA]] : tensor<2x4xf32>, tensor<2x4xf32>)
// CHECK: arith.mulf
// CHECK: %[[NSUM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[P]] : tensor<2x4x8xf32>) outs(%[[ASUM]] : tensor<2x4xf32>)
// CHECK: arith.addf
// CHECK: %[[AACC:.+]] = linalg.generic {{.+}} ins(%[[ACC]], %[[ALPHA]] : tensor<2x4x32xf32>, tensor<2x4xf32>)
// CHECK: arith.mulf
// CHECK: %[[NACC:.+]] = linalg.generic {{.+}} ins(%[[P]], %[[V]] : tensor<2x4x8xf32>, tensor<8x32xf32>) outs(%[[AACC]] : tensor<2x4x32xf32>)
// CHECK-NEXT: ^bb0(%[[PP:[^:]+]]: f32, %[[VV:[^:]+]]: f32, %[[OUT:[^:]+]]: f32):
// CHECK-NEXT: %[[PROD:.+]] = arith.mulf %[[PP]], %[[VV]] : f32
// CHECK-NEXT: %[[ADD:.+]] = arith.addf %[[OUT]], %[[PROD]] : f32
// CHECK-NEXT: linalg.yield %[[ADD]] : f32
// CHECK: return %[[NACC]], %[[NMAX]], %[[NSUM]]
func.func @online_step(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> (tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a, %mm, %ll : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// log2_domain with nothing nonlinear after the scale: log2(e) folds into
// the scale, 0.25 * 1.4426950408889634 = 0.36067376 (printed as the f32
// 0.360673755), no separate log2(e) multiply, and exp2 replaces exp in both
// P = 2^(s - m') and a = 2^(m - m').
// CHECK-LABEL: func.func @online_step_log2_folds_scale
// CHECK: ^bb0(%[[DOT:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK: %[[SCALE:.+]] = arith.constant 0.360673755 : f32
// CHECK-NEXT: %[[SC:.+]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
// CHECK-NOT: 1.44269502
// CHECK: %[[NMAX:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-NOT: math.exp %
// CHECK: math.exp2
// CHECK-NOT: math.exp %
// CHECK: math.exp2
// CHECK-NOT: math.exp %
// CHECK: return
func.func @online_step_log2_folds_scale(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> (tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {log2_domain, scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a, %mm, %ll : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// log2_domain with a softcap: tanh is nonlinear, so the scale stays 0.25
// and log2(e) multiplies the capped score afterwards:
// s = (30 * tanh(0.25 * dot / 30)) * 1.44269502.
// CHECK-LABEL: func.func @online_step_log2_softcap
// CHECK: ^bb0(%[[DOT:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SC:.+]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
// CHECK-NEXT: %[[CAP:.+]] = arith.constant 3.000000e+01 : f32
// CHECK-NEXT: %[[DIV:.+]] = arith.divf %[[SC]], %[[CAP]] : f32
// CHECK-NEXT: %[[T:.+]] = math.tanh %[[DIV]] : f32
// CHECK-NEXT: %[[CAPPED:.+]] = arith.mulf %[[CAP]], %[[T]] : f32
// CHECK-NEXT: %[[LOG2E:.+]] = arith.constant 1.44269502 : f32
// CHECK-NEXT: %[[R:.+]] = arith.mulf %[[CAPPED]], %[[LOG2E]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
// CHECK: math.exp2
func.func @online_step_log2_softcap(%q: tensor<2x4x16xf16>, %k: tensor<8x16xf16>, %v: tensor<8x32xf16>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> (tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf16>, tensor<8x16xf16>, tensor<8x32xf16>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {interior, log2_domain, softcap = 30.0 : f64, scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a, %mm, %ll : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// p_type = bf16: acc' = a*acc + sum_j f32(bf16(P[g, i, j])) * f32(V[j, c]);
// P is rounded to bf16 and widened back inside the P.V body, V is widened.
// CHECK-LABEL: func.func @online_step_p_type_bf16
// CHECK-SAME: %[[V:[^:]+]]: tensor<8x32xbf16>
// CHECK: %[[P:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %{{.+}} : tensor<2x4x8xf32>, tensor<2x4xf32>) outs(%{{.+}} : tensor<2x4x8xf32>)
// CHECK: math.exp2
// CHECK: linalg.generic {{.+}} ins(%[[P]], %[[V]] : tensor<2x4x8xf32>, tensor<8x32xbf16>) outs(%{{.+}} : tensor<2x4x32xf32>)
// CHECK-NEXT: ^bb0(%[[PP:[^:]+]]: f32, %[[VV:[^:]+]]: bf16, %[[OUT:[^:]+]]: f32):
// CHECK-NEXT: %[[ROUND:.+]] = arith.truncf %[[PP]] : f32 to bf16
// CHECK-NEXT: %[[BACK:.+]] = arith.extf %[[ROUND]] : bf16 to f32
// CHECK-NEXT: %[[VF:.+]] = arith.extf %[[VV]] : bf16 to f32
// CHECK-NEXT: %[[PROD:.+]] = arith.mulf %[[BACK]], %[[VF]] : f32
// CHECK-NEXT: %[[ADD:.+]] = arith.addf %[[OUT]], %[[PROD]] : f32
// CHECK-NEXT: linalg.yield %[[ADD]] : f32
func.func @online_step_p_type_bf16(%q: tensor<2x4x16xbf16>, %k: tensor<8x16xbf16>, %v: tensor<8x32xbf16>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> (tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xbf16>, tensor<8x16xbf16>, tensor<8x32xbf16>) at(%b, %h, %qp, %kp) lengths(%lq, %lk) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {log2_domain, p_type = bf16, scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a, %mm, %ll : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// finalize with log2_domain into bf16: O = bf16(l == 0 ? 0 : acc / l),
// lse = l == 0 ? -inf : (m + log2(l)) * ln(2) (ln 2 = 0.693147182 in f32).
// CHECK-LABEL: func.func @finalize_log2
// CHECK-SAME: (%[[ACC:[^:]+]]: tensor<2x4x32xf32>, %[[MAX:[^:]+]]: tensor<2x4xf32>, %[[SUM:[^:]+]]: tensor<2x4xf32>)
// CHECK: %[[O:.+]] = linalg.generic {{.+}} ins(%[[ACC]], %[[SUM]] : tensor<2x4x32xf32>, tensor<2x4xf32>) outs(%{{.+}} : tensor<2x4x32xbf16>)
// CHECK-NEXT: ^bb0(%[[A:[^:]+]]: f32, %[[L:[^:]+]]: f32, %{{[^:]+}}: bf16):
// CHECK-NEXT: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[EMPTY:.+]] = arith.cmpf oeq, %[[L]], %[[ZERO]] : f32
// CHECK-NEXT: %[[DIV:.+]] = arith.divf %[[A]], %[[L]] : f32
// CHECK-NEXT: %[[SAFE:.+]] = arith.select %[[EMPTY]], %[[ZERO]], %[[DIV]] : f32
// CHECK-NEXT: %[[NARROW:.+]] = arith.truncf %[[SAFE]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[NARROW]] : bf16
// CHECK: %[[LSE:.+]] = linalg.generic {{.+}} ins(%[[MAX]], %[[SUM]] : tensor<2x4xf32>, tensor<2x4xf32>)
// CHECK-NEXT: ^bb0(%[[M:[^:]+]]: f32, %[[L2:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[ZERO2:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[EMPTY2:.+]] = arith.cmpf oeq, %[[L2]], %[[ZERO2]] : f32
// CHECK-NEXT: %[[LOG:.+]] = math.log2 %[[L2]] : f32
// CHECK-NEXT: %[[ADD:.+]] = arith.addf %[[M]], %[[LOG]] : f32
// CHECK-NEXT: %[[LN2:.+]] = arith.constant 0.693147182 : f32
// CHECK-NEXT: %[[NAT:.+]] = arith.mulf %[[ADD]], %[[LN2]] : f32
// CHECK-NEXT: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[R:.+]] = arith.select %[[EMPTY2]], %[[NINF]], %[[NAT]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
// CHECK: return %[[O]], %[[LSE]]
func.func @finalize_log2(%acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> (tensor<2x4x32xbf16>, tensor<2x4xf32>) {
  %o, %lse = attn.finalize %acc, %m, %l {log2_domain} : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4x32xbf16>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x32xbf16>, tensor<2x4xf32>
}

// -----

// combine of 3 partials: M = max(lse0, lse1, lse2), shift = M or 0 if -inf,
// lse = shift + log(sum_k exp(lse_k - shift));
// O = sum_k exp(lse_k - shift(lse)) * O_k.
// CHECK-LABEL: func.func @combine_three
// CHECK-SAME: (%[[O0:[^:]+]]: tensor<2x4x32xf32>, %[[O1:[^:]+]]: tensor<2x4x32xf32>, %[[O2:[^:]+]]: tensor<2x4x32xf32>, %[[L0:[^:]+]]: tensor<2x4xf32>, %[[L1:[^:]+]]: tensor<2x4xf32>, %[[L2:[^:]+]]: tensor<2x4xf32>)
// CHECK: %[[LSE:.+]] = linalg.generic {{.+}} ins(%[[L0]], %[[L1]], %[[L2]] : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>)
// CHECK-NEXT: ^bb0(%[[A:[^:]+]]: f32, %[[B:[^:]+]]: f32, %[[C:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[MAB:.+]] = arith.maximumf %[[A]], %[[B]] : f32
// CHECK-NEXT: %[[M:.+]] = arith.maximumf %[[MAB]], %[[C]] : f32
// CHECK-NEXT: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[EMPTY:.+]] = arith.cmpf oeq, %[[M]], %[[NINF]] : f32
// CHECK-NEXT: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[SHIFT:.+]] = arith.select %[[EMPTY]], %[[ZERO]], %[[M]] : f32
// CHECK-NEXT: %[[T0:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[DA:.+]] = arith.subf %[[A]], %[[SHIFT]] : f32
// CHECK-NEXT: %[[EA:.+]] = math.exp %[[DA]] : f32
// CHECK-NEXT: %[[T1:.+]] = arith.addf %[[T0]], %[[EA]] : f32
// CHECK-NEXT: %[[DB:.+]] = arith.subf %[[B]], %[[SHIFT]] : f32
// CHECK-NEXT: %[[EB:.+]] = math.exp %[[DB]] : f32
// CHECK-NEXT: %[[T2:.+]] = arith.addf %[[T1]], %[[EB]] : f32
// CHECK-NEXT: %[[DC:.+]] = arith.subf %[[C]], %[[SHIFT]] : f32
// CHECK-NEXT: %[[EC:.+]] = math.exp %[[DC]] : f32
// CHECK-NEXT: %[[T3:.+]] = arith.addf %[[T2]], %[[EC]] : f32
// CHECK-NEXT: %[[LOG:.+]] = math.log %[[T3]] : f32
// CHECK-NEXT: %[[R:.+]] = arith.addf %[[SHIFT]], %[[LOG]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
// CHECK: %[[OUT:.+]] = linalg.generic {{.+}} ins(%[[O0]], %[[O1]], %[[O2]], %[[L0]], %[[L1]], %[[L2]], %[[LSE]] : {{.+}}) outs(%{{.+}} : tensor<2x4x32xf32>)
// CHECK-NEXT: ^bb0(%[[X0:[^:]+]]: f32, %[[X1:[^:]+]]: f32, %[[X2:[^:]+]]: f32, %[[Y0:[^:]+]]: f32, %[[Y1:[^:]+]]: f32, %[[Y2:[^:]+]]: f32, %[[Z:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[ONINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[OEMPTY:.+]] = arith.cmpf oeq, %[[Z]], %[[ONINF]] : f32
// CHECK-NEXT: %[[OZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[OSHIFT:.+]] = arith.select %[[OEMPTY]], %[[OZERO]], %[[Z]] : f32
// CHECK-NEXT: %[[S0:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[D0:.+]] = arith.subf %[[Y0]], %[[OSHIFT]] : f32
// CHECK-NEXT: %[[W0:.+]] = math.exp %[[D0]] : f32
// CHECK-NEXT: %[[P0:.+]] = arith.mulf %[[W0]], %[[X0]] : f32
// CHECK-NEXT: %[[S1:.+]] = arith.addf %[[S0]], %[[P0]] : f32
// CHECK-NEXT: %[[D1:.+]] = arith.subf %[[Y1]], %[[OSHIFT]] : f32
// CHECK-NEXT: %[[W1:.+]] = math.exp %[[D1]] : f32
// CHECK-NEXT: %[[P1:.+]] = arith.mulf %[[W1]], %[[X1]] : f32
// CHECK-NEXT: %[[S2:.+]] = arith.addf %[[S1]], %[[P1]] : f32
// CHECK-NEXT: %[[D2:.+]] = arith.subf %[[Y2]], %[[OSHIFT]] : f32
// CHECK-NEXT: %[[W2:.+]] = math.exp %[[D2]] : f32
// CHECK-NEXT: %[[P2:.+]] = arith.mulf %[[W2]], %[[X2]] : f32
// CHECK-NEXT: %[[S3:.+]] = arith.addf %[[S2]], %[[P2]] : f32
// CHECK-NEXT: linalg.yield %[[S3]] : f32
// CHECK: return %[[OUT]], %[[LSE]]
func.func @combine_three(%o0: tensor<2x4x32xf32>, %o1: tensor<2x4x32xf32>, %o2: tensor<2x4x32xf32>, %l0: tensor<2x4xf32>, %l1: tensor<2x4xf32>, %l2: tensor<2x4xf32>) -> (tensor<2x4x32xf32>, tensor<2x4xf32>) {
  %o, %lse = attn.combine outputs(%o0, %o1, %o2 : tensor<2x4x32xf32>, tensor<2x4x32xf32>, tensor<2x4x32xf32>) lses(%l0, %l1, %l2 : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o, %lse : tensor<2x4x32xf32>, tensor<2x4xf32>
}
