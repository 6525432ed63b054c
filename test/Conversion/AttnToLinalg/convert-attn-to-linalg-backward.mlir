// RUN: attn-opt %s --convert-attn-to-linalg --canonicalize --split-input-file | FileCheck %s

// attn.attention_backward as linalg: S and P materialised.

// GQA 4/2, causal bottom-right, L = 8, D = 16, scale 1/4. Dims of the
// score generics: (b, h, i, j); of dK/dV: (b, kh, j, x, g, i) over tensors
// whose head axis is split into (kh, g).
//   S     = Q . K^T           dP = dO . V^T      (K/V head h floordiv 2)
//   Delta = rowsum(dO * O)
//   P     = lse = -inf ? 0 : exp(mask(0.25 S) - lse)
//   dS1   = P * (dP - Delta) * (masked ? 0 : 1)
//   dQ    = 0.25 * dS1 . K
//   dK    = 0.25 * sum_{g, i} dS1 Q        dV = sum_{g, i} P dO
// CHECK-DAG: #[[$KV:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d3, d4)>
// CHECK-DAG: #[[$ROW:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-DAG: #[[$SPLITS:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5, d2)>
// CHECK-DAG: #[[$SPLITQ:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5, d3)>
// CHECK-DAG: #[[$KVOUT:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @gqa_causal
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<1x4x8x16xf32>, %[[K:[^:]+]]: tensor<1x2x8x16xf32>, %[[V:[^:]+]]: tensor<1x2x8x16xf32>, %[[O:[^:]+]]: tensor<1x4x8x16xf32>, %[[DO:[^:]+]]: tensor<1x4x8x16xf32>, %[[LSE:[^:]+]]: tensor<1x4x8xf32>)
// CHECK-DAG: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-DAG: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: %[[S:.+]] = linalg.generic {indexing_maps = [#{{.+}}, #[[$KV]], #{{.+}}], {{.+}} ins(%[[Q]], %[[K]] :
// CHECK: %[[DP:.+]] = linalg.generic {indexing_maps = [#{{.+}}, #[[$KV]], #{{.+}}], {{.+}} ins(%[[DO]], %[[V]] :
// CHECK: %[[DELTA:.+]] = linalg.generic {{.+}} ins(%[[DO]], %[[O]] : {{.+}}) outs(%{{.+}} : tensor<1x4x8xf32>)
// CHECK: %[[G:.+]]:2 = linalg.generic {{.+}} ins(%[[S]], %[[LSE]], %[[DP]], %[[DELTA]] :
// CHECK: %[[SC:.+]] = arith.mulf %{{.+}}, %[[SCALE]] : f32
// CHECK: %[[KEEP:.+]] = arith.cmpi sle,
// CHECK: %[[SLOPE:.+]] = arith.select %[[KEEP]], %{{.+}}, %{{.+}} : f32
// CHECK: %[[MS:.+]] = arith.select %[[KEEP]], %[[SC]], %[[NEGINF]] : f32
// CHECK: %[[EMPTY:.+]] = arith.cmpf oeq, %[[L:.+]], %[[NEGINF]] : f32
// CHECK: %[[SUB:.+]] = arith.subf %[[MS]], %[[L]] : f32
// CHECK: %[[EXP:.+]] = math.exp %[[SUB]] : f32
// CHECK: %[[P:.+]] = arith.select %[[EMPTY]], %{{.+}}, %[[EXP]] : f32
// CHECK: %[[DIFF:.+]] = arith.subf %[[DPE:.+]], %[[DE:.+]] : f32
// CHECK: %[[DS:.+]] = arith.mulf %[[P]], %[[DIFF]] : f32
// CHECK: %[[DS1:.+]] = arith.mulf %[[DS]], %[[SLOPE]] : f32
// CHECK: linalg.yield %[[P]], %[[DS1]] : f32, f32
// CHECK: %[[DQ:.+]] = linalg.generic {{.+}} ins(%[[G]]#1, %[[K]] :
// CHECK: %[[DSX:.+]] = tensor.expand_shape %[[G]]#1 {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 2, 8, 8]
// CHECK: %[[QX:.+]] = tensor.expand_shape %[[Q]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 2, 8, 16]
// CHECK: %[[DK:.+]] = linalg.generic {indexing_maps = [#[[$SPLITS]], #[[$SPLITQ]], #[[$KVOUT]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[DSX]], %[[QX]] :
// CHECK: %[[PX:.+]] = tensor.expand_shape %[[G]]#0
// CHECK: %[[DOX:.+]] = tensor.expand_shape %[[DO]]
// CHECK: %[[DV:.+]] = linalg.generic {indexing_maps = [#[[$SPLITS]], #[[$SPLITQ]], #[[$KVOUT]]], {{.+}} ins(%[[PX]], %[[DOX]] :
// CHECK: linalg.generic {{.+}} ins(%[[DQ]] :
// CHECK: arith.mulf %{{.+}}, %[[SCALE]] : f32
// CHECK: linalg.generic {{.+}} ins(%[[DK]] :
// CHECK: arith.mulf %{{.+}}, %[[SCALE]] : f32
func.func @gqa_causal(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %lse: tensor<1x4x8xf32>) -> (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %dq, %dk, %dv : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
}

// -----

// Softcap 10 then a bias, then score_mod exp(s) (scale 1/sqrt(8)):
//   s1 = c x, t = tanh(s1 / 10), s4 = 10 t + bias, s = exp(s4)
//   ds/ds4 = exp(s4) (the region's derivative), ds/ds1 = exp(s4) (1 - t^2)
// d_bias = dS * exp(s4) summed over the batch, along which the [1, 2, 4, 4]
// bias broadcasts, then rounded to bf16 and given back its unit axis.
// CHECK-LABEL: func.func @bias_softcap_score_mod
// CHECK: %[[G:.+]]:3 = linalg.generic
// CHECK: %[[T:.+]] = math.tanh %{{.+}} : f32
// CHECK: %[[TT:.+]] = arith.mulf %[[T]], %[[T]] : f32
// CHECK: %[[CAPSLOPE:.+]] = arith.subf %{{.+}}, %[[TT]] : f32
// CHECK: %[[S4:.+]] = arith.addf %{{.+}}, %[[BIAS:.+]] : f32
// CHECK: %[[S:.+]] = math.exp %[[S4]] : f32
// CHECK: %[[SCALED:.+]] = arith.mulf %[[S]], %[[CAPSLOPE]] : f32
// CHECK: %[[DS:.+]] = arith.mulf %{{.+}}, %{{.+}} : f32
// CHECK: %[[DS1:.+]] = arith.mulf %[[DS]], %[[SCALED]] : f32
// CHECK: %[[DS4:.+]] = arith.mulf %[[DS]], %[[S]] : f32
// CHECK: linalg.yield %{{.+}}, %[[DS1]], %[[DS4]] : f32, f32, f32
// CHECK: %[[SUM:.+]] = linalg.generic {{.+}} iterator_types = ["reduction", "parallel", "parallel", "parallel"]} ins(%[[G]]#2 : tensor<2x2x4x4xf32>) outs(%{{.+}} : tensor<2x4x4xf32>)
// CHECK: %[[BF:.+]] = linalg.generic {{.+}} ins(%[[SUM]] : tensor<2x4x4xf32>) outs(%{{.+}} : tensor<2x4x4xbf16>)
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: %[[DB:.+]] = tensor.expand_shape %[[BF]] {{\[\[}}0, 1], [2], [3]] output_shape [1, 2, 4, 4] : tensor<2x4x4xbf16> into tensor<1x2x4x4xbf16>
// CHECK: return %[[DB]]
func.func @bias_softcap_score_mod(%q: tensor<2x2x4x8xf32>, %k: tensor<2x2x4x8xf32>, %v: tensor<2x2x4x8xf32>, %o: tensor<2x2x4x8xf32>, %do: tensor<2x2x4x8xf32>, %lse: tensor<2x2x4xf32>, %bias: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xbf16> {
  %dq, %dk, %dv, %db = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4xf32>) bias(%bias : tensor<1x2x4x4xf32>) {softcap = 10.0 : f64} -> tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<1x2x4x4xbf16> score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %e = math.exp %s : f32
    attn.yield %e : f32
  }
  return %db : tensor<1x2x4x4xbf16>
}

// -----

// One interior attn.backward_step with p_type = bf16: G = 2, M = 4, N = 8,
// D = Dv = 16, scale 1/4. Dims: (g, i, j, x) for S, dP, dQ; (j, x, g, i)
// for dK, dV (two reductions).
//   P   = lse = -inf ? 0 : exp(0.25 Q.K^T - lse)     dS1 = P (dO.V^T - delta)
//   dV' = dV + sum_{g,i} bf16(P) dO                  (accumulator as init)
//   dK' = dK + 0.25 sum_{g,i} bf16(dS1) Q
//   dQ  = 0.25 bf16(dS1) . K
// CHECK-DAG: #[[$GIJ_GIX:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3, d0)>
// CHECK-DAG: #[[$GIX:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3, d1)>
// CHECK-DAG: #[[$JX:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-LABEL: func.func @step_bf16
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x4x16xbf16>, %[[K:[^:]+]]: tensor<8x16xbf16>, %[[V:[^:]+]]: tensor<8x16xbf16>, %[[DO:[^:]+]]: tensor<2x4x16xbf16>, %[[LSE:[^:]+]]: tensor<2x4xf32>, %[[DELTA:[^:]+]]: tensor<2x4xf32>, %[[DK:[^:]+]]: tensor<8x16xf32>, %[[DV:[^:]+]]: tensor<8x16xf32>
// CHECK: %[[G:.+]]:2 = linalg.generic {{.+}} ins(%{{.+}}, %[[LSE]], %{{.+}}, %[[DELTA]], %{{.+}} :
// CHECK: %[[NDV:.+]] = linalg.generic {indexing_maps = [#[[$GIJ_GIX]], #[[$GIX]], #[[$JX]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[G]]#0, %[[DO]] : tensor<2x4x8xf32>, tensor<2x4x16xbf16>) outs(%[[DV]] : tensor<8x16xf32>)
// CHECK-NEXT: ^bb0(%[[P:[^:]+]]: f32,
// CHECK-NEXT: %[[PB:.+]] = arith.truncf %[[P]] : f32 to bf16
// CHECK: %[[DKP:.+]] = linalg.generic {{.+}} ins(%[[G]]#1, %[[Q]] : tensor<2x4x8xf32>, tensor<2x4x16xbf16>)
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: %[[NDK:.+]] = linalg.generic {{.+}} ins(%[[DK]], %[[DKP]] :
// CHECK: %[[DQP:.+]] = linalg.generic {{.+}} ins(%[[G]]#1, %[[K]] : tensor<2x4x8xf32>, tensor<8x16xbf16>)
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: %[[DQ:.+]] = linalg.generic {{.+}} ins(%[[DQP]] :
// CHECK: return %[[NDK]], %[[NDV]], %[[DQ]]
func.func @step_bf16(%q: tensor<2x4x16xbf16>, %k: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %do: tensor<2x4x16xbf16>, %lse: tensor<2x4xf32>, %delta: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %dv: tensor<8x16xf32>, %b: index, %h: index, %q0: index, %k0: index, %lq: index, %lk: index) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>) {
  %a, %bb, %c = attn.backward_step ins(%q, %k, %v : tensor<2x4x16xbf16>, tensor<8x16xbf16>, tensor<8x16xbf16>) at(%b, %h, %q0, %k0) lengths(%lq, %lk) grads(%do, %lse, %delta : tensor<2x4x16xbf16>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dv : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64, interior, p_type = bf16} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
  return %a, %bb, %c : tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
}

// -----

// attn.accumulate: a reduction over the leading (KV block) axis.
// CHECK-LABEL: func.func @accumulate
// CHECK: %[[Z:.+]] = linalg.fill
// CHECK: linalg.generic {{.+}} iterator_types = ["reduction", "parallel", "parallel"]} ins(%{{.+}} : tensor<3x2x4xf32>) outs(%[[Z]] : tensor<2x4xf32>)
// CHECK: arith.addf
func.func @accumulate(%p: tensor<3x2x4xf32>) -> tensor<2x4xf32> {
  %r = attn.accumulate %p {deterministic} : tensor<3x2x4xf32> -> tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}

// -----

// Dynamic batch and lengths: the head split keeps them dynamic.
// CHECK-LABEL: func.func @dynamic
// CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0], [1, 2], [3], [4]] output_shape [%{{.+}}, 2, 2, %{{.+}}, 16] : tensor<?x4x?x16xf32> into tensor<?x2x2x?x16xf32>
// CHECK: return %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
func.func @dynamic(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>, %o: tensor<?x4x?x16xf32>, %do: tensor<?x4x?x16xf32>, %lse: tensor<?x4x?xf32>) -> (tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
  return %dq, %dk, %dv : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
}
