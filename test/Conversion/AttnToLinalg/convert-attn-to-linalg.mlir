// RUN: attn-opt %s --convert-attn-to-linalg --split-input-file | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-linalg=accumulate-in-f64 --split-input-file | FileCheck %s --check-prefix=F64

// Iteration dimensions in the maps: scores and softmax run over
// (d0, d1, d2, d3) = (b, h, i, j); Q.K^T over (b, h, i, j, d) with d reduced;
// P.V over (b, h, i, c, j) with j reduced (c = value column).

// MHA, f32, Q/K/V [2, 4, 8, 16]: the whole chain.
//   S   = Q . K^T                     (K read at the query's own head)
//   S'  = 0.25 * S                    (default scale 1/sqrt(16))
//   m   = rowmax(S')                  (init -inf)
//   P   = exp(S' - (m == -inf ? 0 : m))
//   l   = rowsum(P)
//   O   = l == 0 ? 0 : (P . V) / l
// CHECK-DAG: #[[$QMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[$KMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
// CHECK-DAG: #[[$SMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$VMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
// CHECK-DAG: #[[$ID4:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$ROW:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @mha
// CHECK-SAME: (%[[Q:.+]]: tensor<2x4x8x16xf32>, %[[K:.+]]: tensor<2x4x8x16xf32>, %[[V:.+]]: tensor<2x4x8x16xf32>)
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[SINIT:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<2x4x8x8xf32>)
// CHECK-NEXT: %[[S:.+]] = linalg.generic {indexing_maps = [#[[$QMAP]], #[[$KMAP]], #[[$SMAP]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[Q]], %[[K]] : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%[[SINIT]] : tensor<2x4x8x8xf32>)
// CHECK-NEXT: ^bb0(%[[QE:[^:]+]]: f32, %[[KE:[^:]+]]: f32, %[[SACC:[^:]+]]: f32):
// CHECK-NEXT: %[[QK:.+]] = arith.mulf %[[QE]], %[[KE]] : f32
// CHECK-NEXT: %[[SSUM:.+]] = arith.addf %[[SACC]], %[[QK]] : f32
// CHECK-NEXT: linalg.yield %[[SSUM]] : f32
// CHECK: %[[SS:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ID4]]], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%[[S]] : tensor<2x4x8x8xf32>)
// CHECK-NEXT: ^bb0(%[[SE:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SCALED:.+]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: linalg.yield %[[SCALED]] : f32
// CHECK: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[MINIT:.+]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%{{.+}} : tensor<2x4x8xf32>)
// CHECK-NEXT: %[[M:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ROW]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[SS]] : tensor<2x4x8x8xf32>) outs(%[[MINIT]] : tensor<2x4x8xf32>)
// CHECK-NEXT: ^bb0(%[[ME:[^:]+]]: f32, %[[MACC:[^:]+]]: f32):
// CHECK-NEXT: %[[MAX:.+]] = arith.maximumf %[[ME]], %[[MACC]] : f32
// CHECK-NEXT: linalg.yield %[[MAX]] : f32
// CHECK: %[[P:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ROW]], #[[$ID4]]], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%[[SS]], %[[M]] : tensor<2x4x8x8xf32>, tensor<2x4x8xf32>)
// CHECK-NEXT: ^bb0(%[[PS:[^:]+]]: f32, %[[PM:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[NI:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[ALLMASKED:.+]] = arith.cmpf oeq, %[[PM]], %[[NI]] : f32
// CHECK-NEXT: %[[Z:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[MSAFE:.+]] = arith.select %[[ALLMASKED]], %[[Z]], %[[PM]] : f32
// CHECK-NEXT: %[[DIFF:.+]] = arith.subf %[[PS]], %[[MSAFE]] : f32
// CHECK-NEXT: %[[EXP:.+]] = math.exp %[[DIFF]] : f32
// CHECK-NEXT: linalg.yield %[[EXP]] : f32
// CHECK: %[[LZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[LINIT:.+]] = linalg.fill ins(%[[LZERO]] : f32) outs(%{{.+}} : tensor<2x4x8xf32>)
// CHECK-NEXT: %[[L:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ROW]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[P]] : tensor<2x4x8x8xf32>) outs(%[[LINIT]] : tensor<2x4x8xf32>)
// CHECK-NEXT: ^bb0(%[[LE:[^:]+]]: f32, %[[LACC:[^:]+]]: f32):
// CHECK-NEXT: %[[LSUM:.+]] = arith.addf %[[LE]], %[[LACC]] : f32
// CHECK-NEXT: linalg.yield %[[LSUM]] : f32
// CHECK: %[[AINIT:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<2x4x8x16xf32>)
// CHECK-NEXT: %[[A:.+]] = linalg.generic {indexing_maps = [#[[$QMAP]], #[[$VMAP]], #[[$SMAP]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[P]], %[[V]] : tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>) outs(%[[AINIT]] : tensor<2x4x8x16xf32>)
// CHECK-NEXT: ^bb0(%[[AP:[^:]+]]: f32, %[[AV:[^:]+]]: f32, %[[AACC:[^:]+]]: f32):
// CHECK-NEXT: %[[PV:.+]] = arith.mulf %[[AP]], %[[AV]] : f32
// CHECK-NEXT: %[[ASUM:.+]] = arith.addf %[[AACC]], %[[PV]] : f32
// CHECK-NEXT: linalg.yield %[[ASUM]] : f32
// CHECK: %[[O:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ROW]], #[[$ID4]]], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%[[A]], %[[L]] : tensor<2x4x8x16xf32>, tensor<2x4x8xf32>)
// CHECK-NEXT: ^bb0(%[[OA:[^:]+]]: f32, %[[OL:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[OZ:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[EMPTYROW:.+]] = arith.cmpf oeq, %[[OL]], %[[OZ]] : f32
// CHECK-NEXT: %[[DIV:.+]] = arith.divf %[[OA]], %[[OL]] : f32
// CHECK-NEXT: %[[OSEL:.+]] = arith.select %[[EMPTYROW]], %[[OZ]], %[[DIV]] : f32
// CHECK-NEXT: linalg.yield %[[OSEL]] : f32
// CHECK: return %[[O]] : tensor<2x4x8x16xf32>
// CHECK-NOT: attn.
func.func @mha(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// GQA, Hq = 8 query heads over Hkv = 2 key/value heads (group g = 4), Dv = 32:
//   S[b, h, i, j] = sum_d Q[b, h, i, d] * K[b, h floordiv 4, j, d]
//   A[b, h, i, c] = sum_j P[b, h, i, j] * V[b, h floordiv 4, j, c]
// CHECK-DAG: #[[$KMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 4, d3, d4)>
// CHECK-DAG: #[[$VMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 4, d4, d3)>
// CHECK-LABEL: func.func @gqa
// CHECK-SAME: (%[[Q:.+]]: tensor<1x8x4x16xf32>, %[[K:.+]]: tensor<1x2x6x16xf32>, %[[V:.+]]: tensor<1x2x6x32xf32>)
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$KMAP]], #{{.+}}], {{.+}} ins(%[[Q]], %[[K]] : {{.+}}) outs(%{{.+}} : tensor<1x8x4x6xf32>)
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$VMAP]], #{{.+}}], {{.+}} ins(%{{.+}}, %[[V]] : tensor<1x8x4x6xf32>, tensor<1x2x6x32xf32>) outs(%{{.+}} : tensor<1x8x4x32xf32>)
func.func @gqa(%q: tensor<1x8x4x16xf32>, %k: tensor<1x2x6x16xf32>, %v: tensor<1x2x6x32xf32>) -> tensor<1x8x4x32xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x8x4x16xf32>, tensor<1x2x6x16xf32>, tensor<1x2x6x32xf32>) -> tensor<1x8x4x32xf32>
  return %o : tensor<1x8x4x32xf32>
}

// -----

// MQA, Hq = 6 query heads over a single key/value head: the group is all 6
// heads, so h floordiv 6 is always 0.
// CHECK-DAG: #[[$KMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 6, d3, d4)>
// CHECK-DAG: #[[$VMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 6, d4, d3)>
// CHECK-LABEL: func.func @mqa
// CHECK-SAME: (%[[Q:.+]]: tensor<1x6x4x16xf32>, %[[K:.+]]: tensor<1x1x4x16xf32>, %[[V:.+]]: tensor<1x1x4x16xf32>)
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$KMAP]], #{{.+}}], {{.+}} ins(%[[Q]], %[[K]] :
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$VMAP]], #{{.+}}], {{.+}} ins(%{{.+}}, %[[V]] :
func.func @mqa(%q: tensor<1x6x4x16xf32>, %k: tensor<1x1x4x16xf32>, %v: tensor<1x1x4x16xf32>) -> tensor<1x6x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x6x4x16xf32>, tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x6x4x16xf32>
  return %o : tensor<1x6x4x16xf32>
}

// -----

// BSHD, bf16, Q [B=1, Lq=4, Hq=8, D=64], K/V [1, Lk=6, Hkv=2, 64]: the
// operands are read with sequence before head, scores stay [B, Hq, Lq, Lk]:
//   S[b, h, i, j] = sum_d ext(Q[b, i, h, d]) * ext(K[b, j, h floordiv 4, d])
//   A[b, h, i, c] = sum_j P[b, h, i, j] * ext(V[b, j, h floordiv 4, c])
//   O[b, i, h, c] = trunc(A[b, h, i, c] / l[b, h, i])
// with scale 1/sqrt(64) = 0.125.
// CHECK-DAG: #[[$QMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d1, d4)>
// CHECK-DAG: #[[$KMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1 floordiv 4, d4)>
// CHECK-DAG: #[[$VMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d4, d1 floordiv 4, d3)>
// CHECK-DAG: #[[$OMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d1, d3)>
// CHECK-LABEL: func.func @bshd
// CHECK-SAME: (%[[Q:.+]]: tensor<1x4x8x64xbf16>, %[[K:.+]]: tensor<1x6x2x64xbf16>, %[[V:.+]]: tensor<1x6x2x64xbf16>)
// CHECK: linalg.generic {indexing_maps = [#[[$QMAP]], #[[$KMAP]], #{{.+}}], {{.+}} ins(%[[Q]], %[[K]] : tensor<1x4x8x64xbf16>, tensor<1x6x2x64xbf16>) outs(%{{.+}} : tensor<1x8x4x6xf32>)
// CHECK-NEXT: ^bb0(%[[QE:[^:]+]]: bf16, %[[KE:[^:]+]]: bf16, %[[ACC:[^:]+]]: f32):
// CHECK-NEXT: %[[QX:.+]] = arith.extf %[[QE]] : bf16 to f32
// CHECK-NEXT: %[[KX:.+]] = arith.extf %[[KE]] : bf16 to f32
// CHECK-NEXT: %[[QK:.+]] = arith.mulf %[[QX]], %[[KX]] : f32
// CHECK: arith.constant 1.250000e-01 : f32
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$VMAP]], #{{.+}}], {{.+}} ins(%{{.+}}, %[[V]] : tensor<1x8x4x6xf32>, tensor<1x6x2x64xbf16>) outs(%{{.+}} : tensor<1x8x4x64xf32>)
// CHECK: %[[OINIT:.+]] = tensor.empty() : tensor<1x4x8x64xbf16>
// CHECK-NEXT: %[[O:.+]] = linalg.generic {indexing_maps = [#{{.+}}, #{{.+}}, #[[$OMAP]]], {{.+}} outs(%[[OINIT]] : tensor<1x4x8x64xbf16>)
// CHECK: %[[SEL:.+]] = arith.select
// CHECK-NEXT: %[[TR:.+]] = arith.truncf %[[SEL]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[TR]] : bf16
// CHECK: return %[[O]] : tensor<1x4x8x64xbf16>
func.func @bshd(%q: tensor<1x4x8x64xbf16>, %k: tensor<1x6x2x64xbf16>, %v: tensor<1x6x2x64xbf16>) -> tensor<1x4x8x64xbf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x4x8x64xbf16>, tensor<1x6x2x64xbf16>, tensor<1x6x2x64xbf16>) {layout = #attn.layout<bshd>} -> tensor<1x4x8x64xbf16>
  return %o : tensor<1x4x8x64xbf16>
}

// -----

// Causal, top-left aligned: S'[b, h, i, j] = j <= i ? 0.25 * S : -inf.
// CHECK-LABEL: func.func @causal_top_left
// CHECK: linalg.generic
// CHECK: ^bb0(%[[SE:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK: %[[I:.+]] = linalg.index 2 : index
// CHECK-NEXT: %[[J:.+]] = linalg.index 3 : index
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SCALED:.+]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: %[[CAUSAL:.+]] = arith.cmpi sle, %[[J]], %[[I]] : index
// CHECK-NEXT: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[MASKED:.+]] = arith.select %[[CAUSAL]], %[[SCALED]], %[[NEGINF]] : f32
// CHECK-NEXT: linalg.yield %[[MASKED]] : f32
func.func @causal_top_left(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {mask_kind = #attn.mask<causal_top_left>} -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// Causal, bottom-right aligned, Lq = 4 queries over Lk = 16 keys:
// S'[b, h, i, j] = j <= i + (Lk - Lq) ? 0.25 * S : -inf, i.e. the last query
// (i = 3) sees all 16 keys.
// The static offset Lk - Lq = 12 is folded.
// CHECK-LABEL: func.func @causal_bottom_right
// CHECK: %[[I:.+]] = linalg.index 2 : index
// CHECK-NEXT: %[[J:.+]] = linalg.index 3 : index
// CHECK: %[[SCALED:.+]] = arith.mulf %{{.+}}, %{{.+}} : f32
// CHECK-NEXT: %[[OFFSET:.+]] = arith.constant 12 : index
// CHECK-NEXT: %[[DIAG:.+]] = arith.addi %[[I]], %[[OFFSET]] : index
// CHECK-NEXT: %[[CAUSAL:.+]] = arith.cmpi sle, %[[J]], %[[DIAG]] : index
// CHECK-NEXT: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: arith.select %[[CAUSAL]], %[[SCALED]], %[[NEGINF]] : f32
func.func @causal_bottom_right(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x16x16xf32>, %v: tensor<1x2x16x16xf32>) -> tensor<1x2x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x4x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// Sliding window [left = 3, right = 1], bottom-right aligned, Lq = 4, Lk = 8:
// with r = i + (Lk - Lq), key j is kept iff r - 3 <= j <= r + 1.
// The static offset Lk - Lq = 4 is folded.
// CHECK-LABEL: func.func @sliding_window
// CHECK: %[[I:.+]] = linalg.index 2 : index
// CHECK-NEXT: %[[J:.+]] = linalg.index 3 : index
// CHECK: %[[SCALED:.+]] = arith.mulf %{{.+}}, %{{.+}} : f32
// CHECK-NEXT: %[[OFFSET:.+]] = arith.constant 4 : index
// CHECK-NEXT: %[[R:.+]] = arith.addi %[[I]], %[[OFFSET]] : index
// CHECK-NEXT: %[[RIGHT:.+]] = arith.constant 1 : index
// CHECK-NEXT: %[[HI:.+]] = arith.addi %[[R]], %[[RIGHT]] : index
// CHECK-NEXT: %[[LE:.+]] = arith.cmpi sle, %[[J]], %[[HI]] : index
// CHECK-NEXT: %[[LEFT:.+]] = arith.constant -3 : index
// CHECK-NEXT: %[[LO:.+]] = arith.addi %[[R]], %[[LEFT]] : index
// CHECK-NEXT: %[[GE:.+]] = arith.cmpi sge, %[[J]], %[[LO]] : index
// CHECK-NEXT: %[[KEEP:.+]] = arith.andi %[[LE]], %[[GE]] : i1
// CHECK-NEXT: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: arith.select %[[KEEP]], %[[SCALED]], %[[NEGINF]] : f32
func.func @sliding_window(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x4x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 3, 1>} -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// Soft-capping with an explicit scale: S' = 30 * tanh((0.5 * S) / 30).
// CHECK-LABEL: func.func @softcap
// CHECK: ^bb0(%[[SE:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT: %[[SCALED:.+]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: %[[CAP:.+]] = arith.constant 3.000000e+01 : f32
// CHECK-NEXT: %[[DIV:.+]] = arith.divf %[[SCALED]], %[[CAP]] : f32
// CHECK-NEXT: %[[TANH:.+]] = math.tanh %[[DIV]] : f32
// CHECK-NEXT: %[[CAPPED:.+]] = arith.mulf %[[CAP]], %[[TANH]] : f32
// CHECK-NEXT: linalg.yield %[[CAPPED]] : f32
func.func @softcap(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {scale = 0.5 : f64, softcap = 30.0 : f64} -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// ALiBi with Lq = 4, Lk = 6 (slopes 0.5 and 0.25 for the 2 heads):
// S'[b, h, i, j] = 0.25 * S - slope[h] * |i + (Lk - Lq) - j|; the slopes are
// a constant tensor read at the score's head h (tensor.extract, so that tiles
// at any head offset read it the same way).
// CHECK-DAG: #[[$ID4:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @alibi
// CHECK-DAG: %[[LQ:.+]] = arith.constant 4 : index
// CHECK-DAG: %[[LK:.+]] = arith.constant 6 : index
// CHECK-DAG: %[[SLOPES:.+]] = arith.constant dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf32>
// CHECK: linalg.generic {indexing_maps = [#[[$ID4]], #[[$ID4]]], {{.+}} ins(%{{.+}} : tensor<1x2x4x6xf32>)
// CHECK-NEXT: ^bb0(%[[SE:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: linalg.index 0 : index
// CHECK-NEXT: %[[H:.+]] = linalg.index 1 : index
// CHECK-NEXT: %[[I:.+]] = linalg.index 2 : index
// CHECK-NEXT: %[[J:.+]] = linalg.index 3 : index
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SCALED:.+]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: %[[OFFSET:.+]] = arith.subi %[[LK]], %[[LQ]] : index
// CHECK-NEXT: %[[R:.+]] = arith.addi %[[I]], %[[OFFSET]] : index
// CHECK-NEXT: %[[DIST:.+]] = arith.subi %[[R]], %[[J]] : index
// CHECK-NEXT: %[[DIST64:.+]] = arith.index_cast %[[DIST]] : index to i64
// CHECK-NEXT: %[[ABS:.+]] = math.absi %[[DIST64]] : i64
// CHECK-NEXT: %[[DISTF:.+]] = arith.sitofp %[[ABS]] : i64 to f32
// CHECK-NEXT: %[[SLOPE:.+]] = tensor.extract %[[SLOPES]][%[[H]]] : tensor<2xf32>
// CHECK-NEXT: %[[PENALTY:.+]] = arith.mulf %[[SLOPE]], %[[DISTF]] : f32
// CHECK-NEXT: %[[BIASED:.+]] = arith.subf %[[SCALED]], %[[PENALTY]] : f32
// CHECK-NEXT: linalg.yield %[[BIASED]] : f32
func.func @alibi(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x6x16xf32>, %v: tensor<1x2x6x16xf32>) -> tensor<1x2x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x4x16xf32>, tensor<1x2x6x16xf32>, tensor<1x2x6x16xf32>) {alibi_slopes = array<f64: 0.5, 0.25>} -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// Additive f16 bias [1, Hq, Lq, Lk] shared by the batch of 2:
// S'[b, h, i, j] = 0.25 * S + ext(bias[0, h, i, j]); the broadcast batch
// dimension is read at the constant index 0.
// CHECK-DAG: #[[$BIASMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (0, d1, d2, d3)>
// CHECK-DAG: #[[$ID4:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @bias_broadcast
// CHECK-SAME: %[[BIAS:[^:]+]]: tensor<1x4x8x8xf16>
// CHECK: linalg.generic {indexing_maps = [#[[$ID4]], #[[$BIASMAP]], #[[$ID4]]], {{.+}} ins(%{{.+}}, %[[BIAS]] : tensor<2x4x8x8xf32>, tensor<1x4x8x8xf16>)
// CHECK-NEXT: ^bb0(%[[SE:[^:]+]]: f32, %[[BE:[^:]+]]: f16, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SCALED:.+]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: %[[BX:.+]] = arith.extf %[[BE]] : f16 to f32
// CHECK-NEXT: %[[BIASED:.+]] = arith.addf %[[SCALED]], %[[BX]] : f32
// CHECK-NEXT: linalg.yield %[[BIASED]] : f32
func.func @bias_broadcast(%q: tensor<2x4x8x16xf16>, %k: tensor<2x4x8x16xf16>, %v: tensor<2x4x8x16xf16>, %bias: tensor<1x4x8x8xf16>) -> tensor<2x4x8x16xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf16>, tensor<2x4x8x16xf16>, tensor<2x4x8x16xf16>) bias(%bias : tensor<1x4x8x8xf16>) -> tensor<2x4x8x16xf16>
  return %o : tensor<2x4x8x16xf16>
}

// -----

// Boolean padding mask [B, 1, 1, Lk]: S'[b, h, i, j] = mask[b, 0, 0, j] ?
// 0.25 * S : -inf.
// CHECK-DAG: #[[$MASKMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, 0, 0, d3)>
// CHECK-DAG: #[[$ID4:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @bool_mask
// CHECK-SAME: %[[MASK:[^:]+]]: tensor<2x1x1x8xi1>
// CHECK: linalg.generic {indexing_maps = [#[[$ID4]], #[[$MASKMAP]], #[[$ID4]]], {{.+}} ins(%{{.+}}, %[[MASK]] : tensor<2x4x8x8xf32>, tensor<2x1x1x8xi1>)
// CHECK-NEXT: ^bb0(%[[SE:[^:]+]]: f32, %[[ME:[^:]+]]: i1, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SCALED:.+]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK: %[[TRUE:.+]] = arith.constant true
// CHECK-NEXT: %[[KEEP:.+]] = arith.andi %[[TRUE]], %[[ME]] : i1
// CHECK-NEXT: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[MASKED:.+]] = arith.select %[[KEEP]], %[[SCALED]], %[[NEGINF]] : f32
// CHECK-NEXT: linalg.yield %[[MASKED]] : f32
func.func @bool_mask(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %mask: tensor<2x1x1x8xi1>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) mask(%mask : tensor<2x1x1x8xi1>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// score_mod and mask_mod are inlined into the score generic with their block
// arguments bound to (score, linalg.index 0..3):
//   S' = (h != b) ? score_mod(0.25 * S, b, h, i, j) : -inf,
//   score_mod(s, b, h, i, j) = s + float(i - j).
// CHECK-LABEL: func.func @score_and_mask_mod
// CHECK: ^bb0(%[[SE:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[B:.+]] = linalg.index 0 : index
// CHECK-NEXT: %[[H:.+]] = linalg.index 1 : index
// CHECK-NEXT: %[[I:.+]] = linalg.index 2 : index
// CHECK-NEXT: %[[J:.+]] = linalg.index 3 : index
// CHECK-NEXT: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT: %[[SCALED:.+]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: %[[D:.+]] = arith.subi %[[I]], %[[J]] : index
// CHECK-NEXT: %[[DI:.+]] = arith.index_cast %[[D]] : index to i64
// CHECK-NEXT: %[[DF:.+]] = arith.sitofp %[[DI]] : i64 to f32
// CHECK-NEXT: %[[MODDED:.+]] = arith.addf %[[SCALED]], %[[DF]] : f32
// CHECK-NEXT: %[[TRUE:.+]] = arith.constant true
// CHECK-NEXT: %[[NE:.+]] = arith.cmpi ne, %[[H]], %[[B]] : index
// CHECK-NEXT: %[[KEEP:.+]] = arith.andi %[[TRUE]], %[[NE]] : i1
// CHECK-NEXT: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[MASKED:.+]] = arith.select %[[KEEP]], %[[MODDED]], %[[NEGINF]] : f32
// CHECK-NEXT: linalg.yield %[[MASKED]] : f32
// CHECK-NOT: attn.
// CHECK: return
func.func @score_and_mask_mod(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %d = arith.subi %i, %j : index
    %di = arith.index_cast %d : index to i64
    %df = arith.sitofp %di : i64 to f32
    %r = arith.addf %s, %df : f32
    attn.yield %r : f32
  }
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %r = arith.cmpi ne, %h, %b : index
    attn.yield %r : i1
  }
  return %o : tensor<1x2x8x16xf32>
}

// -----

// The LSE result, f32 [B, Hq, Lq], from the row max m and row sum l:
//   lse = l == 0 ? -inf : m + log(l)
// (a fully masked row has l == 0 and gets -inf). With bf16 operands and
// f64 accumulation the softmax runs in f64, the score passes through f32 for
// score_mod (its signature), and O and lse are truncated at the end.
// CHECK-DAG: #[[$ID3:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @lse
// CHECK: %[[M:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.+}} : tensor<1x2x8x8xf32>) outs(%{{.+}} : tensor<1x2x8xf32>)
// CHECK: arith.maximumf
// CHECK: %[[L:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.+}} : tensor<1x2x8x8xf32>) outs(%{{.+}} : tensor<1x2x8xf32>)
// CHECK: arith.addf
// CHECK: %[[O:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<1x2x8x16xbf16>)
// CHECK: %[[LINIT:.+]] = tensor.empty() : tensor<1x2x8xf32>
// CHECK-NEXT: %[[LSE:.+]] = linalg.generic {indexing_maps = [#[[$ID3]], #[[$ID3]], #[[$ID3]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[M]], %[[L]] : tensor<1x2x8xf32>, tensor<1x2x8xf32>) outs(%[[LINIT]] : tensor<1x2x8xf32>)
// CHECK-NEXT: ^bb0(%[[ME:[^:]+]]: f32, %[[LE:[^:]+]]: f32, %{{[^:]+}}: f32):
// CHECK-NEXT: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[EMPTYROW:.+]] = arith.cmpf oeq, %[[LE]], %[[ZERO]] : f32
// CHECK-NEXT: %[[LOG:.+]] = math.log %[[LE]] : f32
// CHECK-NEXT: %[[SUM:.+]] = arith.addf %[[ME]], %[[LOG]] : f32
// CHECK-NEXT: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[SEL:.+]] = arith.select %[[EMPTYROW]], %[[NEGINF]], %[[SUM]] : f32
// CHECK-NEXT: linalg.yield %[[SEL]] : f32
// CHECK: return %[[O]], %[[LSE]] : tensor<1x2x8x16xbf16>, tensor<1x2x8xf32>

// F64-LABEL: func.func @lse
// F64: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f64
// F64-NEXT: linalg.fill ins(%[[ZERO]] : f64) outs(%{{.+}} : tensor<1x2x8x8xf64>)
// F64-NEXT: linalg.generic
// F64-NEXT: ^bb0(%[[QE:[^:]+]]: bf16, %[[KE:[^:]+]]: bf16, %[[ACC:[^:]+]]: f64):
// F64-NEXT: %[[QX:.+]] = arith.extf %[[QE]] : bf16 to f64
// F64-NEXT: %[[KX:.+]] = arith.extf %[[KE]] : bf16 to f64
// F64-NEXT: %[[QK:.+]] = arith.mulf %[[QX]], %[[KX]] : f64
// F64-NEXT: arith.addf %[[ACC]], %[[QK]] : f64
// F64: ^bb0(%[[SE:[^:]+]]: f64, %{{[^:]+}}: f64):
// F64: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f64
// F64-NEXT: %[[SCALED:.+]] = arith.mulf %[[SE]], %[[SCALE]] : f64
// F64-NEXT: %[[S32:.+]] = arith.truncf %[[SCALED]] : f64 to f32
// F64: %[[R32:.+]] = arith.negf %[[S32]] : f32
// F64-NEXT: %[[R64:.+]] = arith.extf %[[R32]] : f32 to f64
// F64-NEXT: linalg.yield %[[R64]] : f64
// F64: arith.constant 0xFFF0000000000000 : f64
// F64: math.exp %{{.+}} : f64
// F64: %[[OSEL:.+]] = arith.select %{{.+}}, %{{.+}}, %{{.+}} : f64
// F64-NEXT: %[[OT:.+]] = arith.truncf %[[OSEL]] : f64 to bf16
// F64-NEXT: linalg.yield %[[OT]] : bf16
// F64: math.log %{{.+}} : f64
// F64: %[[LSEL:.+]] = arith.select %{{.+}}, %{{.+}}, %{{.+}} : f64
// F64-NEXT: %[[LT:.+]] = arith.truncf %[[LSEL]] : f64 to f32
// F64-NEXT: linalg.yield %[[LT]] : f32
// F64: return %{{.+}}, %{{.+}} : tensor<1x2x8x16xbf16>, tensor<1x2x8xf32>
func.func @lse(%q: tensor<1x2x8x16xbf16>, %k: tensor<1x2x8x16xbf16>, %v: tensor<1x2x8x16xbf16>) -> (tensor<1x2x8x16xbf16>, tensor<1x2x8xf32>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xbf16>, tensor<1x2x8x16xbf16>, tensor<1x2x8x16xbf16>) -> tensor<1x2x8x16xbf16>, tensor<1x2x8xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %n = arith.negf %s : f32
    attn.yield %n : f32
  }
  return %o, %lse : tensor<1x2x8x16xbf16>, tensor<1x2x8xf32>
}

// -----

// Dynamic B, Lq and Lk: extents come from tensor.dim of Q (B at 0, Lq at 2)
// and K (Lk at 2); the bottom-right offset Lk - Lq is computed from them.
// CHECK-LABEL: func.func @dynamic
// CHECK-SAME: (%[[Q:.+]]: tensor<?x2x?x16xf32>, %[[K:.+]]: tensor<?x2x?x16xf32>, %[[V:.+]]: tensor<?x2x?x16xf32>)
// CHECK: %[[C0:.+]] = arith.constant 0 : index
// CHECK-NEXT: %[[B:.+]] = tensor.dim %[[Q]], %[[C0]] : tensor<?x2x?x16xf32>
// CHECK-NEXT: %[[C2:.+]] = arith.constant 2 : index
// CHECK-NEXT: %[[LQ:.+]] = tensor.dim %[[Q]], %[[C2]] : tensor<?x2x?x16xf32>
// CHECK-NEXT: %[[C2B:.+]] = arith.constant 2 : index
// CHECK-NEXT: %[[LK:.+]] = tensor.dim %[[K]], %[[C2B]] : tensor<?x2x?x16xf32>
// CHECK-NEXT: tensor.empty(%[[B]], %[[LQ]], %[[LK]]) : tensor<?x2x?x?xf32>
// CHECK: %[[OFFSET:.+]] = arith.subi %[[LK]], %[[LQ]] : index
// CHECK: tensor.empty(%[[B]], %[[LQ]]) : tensor<?x2x?xf32>
// CHECK: tensor.empty(%[[B]], %[[LQ]]) : tensor<?x2x?x16xf32>
// CHECK: %[[OINIT:.+]] = tensor.empty(%[[B]], %[[LQ]]) : tensor<?x2x?x16xf32>
// CHECK-NEXT: %[[O:.+]] = linalg.generic {{.+}} outs(%[[OINIT]] : tensor<?x2x?x16xf32>)
// CHECK: return %[[O]] : tensor<?x2x?x16xf32>
func.func @dynamic(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}

// -----

// Dynamic BSHD: the output [B, Lq, Hq, Dv] takes B and Lq in dimensions 0
// and 1, and Lq comes from dimension 1 of Q, Lk from dimension 1 of K.
// CHECK-LABEL: func.func @dynamic_bshd
// CHECK-SAME: (%[[Q:.+]]: tensor<?x?x4x16xf32>, %[[K:.+]]: tensor<?x?x4x16xf32>, %[[V:.+]]: tensor<?x?x4x16xf32>)
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.+]] = arith.constant 1 : index
// CHECK-DAG: %[[B:.+]] = tensor.dim %[[Q]], %[[C0]]
// CHECK-DAG: %[[LQ:.+]] = tensor.dim %[[Q]], %[[C1]]
// CHECK-DAG: %[[LK:.+]] = tensor.dim %[[K]], %{{.+}}
// CHECK: tensor.empty(%[[B]], %[[LQ]], %[[LK]]) : tensor<?x4x?x?xf32>
// CHECK: %[[OINIT:.+]] = tensor.empty(%[[B]], %[[LQ]]) : tensor<?x?x4x16xf32>
// CHECK: return
func.func @dynamic_bshd(%q: tensor<?x?x4x16xf32>, %k: tensor<?x?x4x16xf32>, %v: tensor<?x?x4x16xf32>) -> tensor<?x?x4x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<?x?x4x16xf32>, tensor<?x?x4x16xf32>, tensor<?x?x4x16xf32>) {layout = #attn.layout<bshd>} -> tensor<?x?x4x16xf32>
  return %o : tensor<?x?x4x16xf32>
}
