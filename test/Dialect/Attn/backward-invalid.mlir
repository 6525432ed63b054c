// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Diagnostics of the backward ops (attn.attention_backward,
// attn.backward_step, attn.accumulate), one case each. Unless a case says
// otherwise: GQA, Q/O/dO [2, 4, 8, 16], K/V [2, 2, 8, 16], LSE [2, 4, 8], f32.

func.func @query_rank(%q: tensor<4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected query of rank 4 ([B, H, L, D] or [B, L, H, D]), got rank 3}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @mixed_inputs(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xbf16>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected query, key and value of one element type (f16, bf16, f32 or f64), got 'f32', 'bf16' and 'f32'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @heads(%q: tensor<2x3x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x3x8x16xf32>, %lse: tensor<2x3x8xf32>) {
  // expected-error @+1 {{expected key and value with the same number of heads, dividing the query heads, got 3, 2 and 2}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x3x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @dynamic_head_dim(%q: tensor<2x4x8x?xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected static, non-empty head counts and head dimensions}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x?xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x?xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @head_dim(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x32xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected query and key to have the same head dimension, got 16 and 32}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x32xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x32xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @kv_lengths(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x9x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected query, key and value to agree in batch size and key and value in length}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x9x16xf32>
  return
}

// -----

func.func @output_shape(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x32xf32>, %do: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected output of shape 'tensor<2x4x8x16xf32>', got 'tensor<2x4x8x32xf32>'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @grad_output_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %do: tensor<2x4x8x16xi8>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected grad_output element type to be f16, bf16, f32 or f64, got 'i8'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xi8>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @lse_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xbf16>) {
  // expected-error @+1 {{expected lse of type tensor<[B, Hq, Lq]xf32> (f64 for f64 operands) = 'tensor<2x4x8xf32>', got 'tensor<2x4x8xbf16>'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xbf16>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

// dK has the K shape [2, 2, 8, 16], not Q's.
func.func @grad_key_shape(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected grad_key of shape 'tensor<2x2x8x16xf32>', got 'tensor<2x4x8x16xf32>'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @scale(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got -1.000000e+00}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) {scale = -1.0 : f64} -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @window(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected a `window = array<i64: left, right>` attribute with mask kind sliding_window}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) {mask_kind = #attn.mask<sliding_window>} -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

// A bias without grad_bias is a constant (valid, roundtrip.mlir); a bias
// gradient without a bias is not.
func.func @grad_without_bias(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected a grad_bias result only with a bias operand}}
  %dq, %dk, %dv, %db = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x8xf32>
  return
}

// -----

// The bias broadcasts along the batch; its gradient has the bias's shape.
func.func @grad_bias_shape(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %bias: tensor<1x4x8x8xf32>) {
  // expected-error @+1 {{expected grad_bias of shape 'tensor<1x4x8x8xf32>', got 'tensor<2x4x8x8xf32>'}}
  %dq, %dk, %dv, %db = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) bias(%bias : tensor<1x4x8x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x8xf32>
  return
}

// -----

func.func @mask_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %mask: tensor<2x4x8x8xf32>) {
  // expected-error @+1 {{expected mask element type i1, got 'f32'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) mask(%mask : tensor<2x4x8x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @key_lengths(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %len: tensor<3xi32>) {
  // expected-error @+1 {{expected key_lengths of shape [B] = [2], got 'tensor<3xi32>'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) key_lengths(%len : tensor<3xi32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

// sin(score) has no derivative rule: the diagnostic names the op.
func.func @score_mod_not_differentiable(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-note @+1 {{in the score_mod of this op}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'math.sin' op expected an op with a derivative rule in the score_mod of a backward}}
    %r = math.sin %s : f32
    attn.yield %r : f32
  }
  return
}

// -----

// Ops that do not depend on the score need no rule (math.sin of an index
// here), and the region signature is checked as for attn.attention.
func.func @score_mod_signature(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected the score_mod region arguments to be (f32, index, index, index, index): (score, b, h, q_idx, kv_idx)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> score_mod {
  ^bb0(%s: f32, %b: index):
    attn.yield %s : f32
  }
  return
}

// -----

func.func @step_grad_output(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x16xf32>, %do: tensor<2x4x8xf32>, %lse: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %i: index) {
  // expected-error @+1 {{expected grad_output of shape [G, M, Dv] = [2, 4, 16], got 'tensor<2x4x8xf32>'}}
  %a, %b, %c = attn.backward_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%do, %lse, %lse : tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dk : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
  return
}

// -----

func.func @step_accumulator(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x16xf32>, %do: tensor<2x4x16xf32>, %lse: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %dv: tensor<4x16xf32>, %i: index) {
  // expected-error @+1 {{expected grad_value to be 'tensor<8x16xf32>', got 'tensor<4x16xf32>'}}
  %a, %b, %c = attn.backward_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%do, %lse, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dv : tensor<8x16xf32>, tensor<4x16xf32>) {scale = 0.25 : f64} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
  return
}

// -----

func.func @step_p_type(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x16xf32>, %do: tensor<2x4x16xf32>, %lse: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %i: index) {
  // expected-error @+1 {{expected p_type to be f16, bf16 or f32, got 'i8'}}
  %a, %b, %c = attn.backward_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%do, %lse, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dk : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64, p_type = i8} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
  return
}

// -----

func.func @step_grad_bias_without_bias(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %lse: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %i: index) {
  // expected-error @+1 {{expected a grad_bias result only with a bias tile}}
  %a, %b, %c, %db = attn.backward_step ins(%q, %k, %k : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%q, %lse, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dk : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>, tensor<2x4x8xf32>
  return
}

// -----

func.func @step_grad_bias_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %bias: tensor<2x4x8xf32>, %lse: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %i: index) {
  // expected-error @+1 {{expected grad_bias to be 'tensor<2x4x8xf32>', got 'tensor<2x4x4xf32>'}}
  %a, %b, %c, %db = attn.backward_step ins(%q, %k, %k : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) bias(%bias : tensor<2x4x8xf32>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%q, %lse, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dk : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>, tensor<2x4x4xf32>
  return
}

// -----

func.func @accumulate_shape(%p: tensor<3x2x4xf32>) {
  // expected-error @+1 {{expected result to be 'tensor<2x4xf32>', got 'tensor<3x4xf32>'}}
  %r = attn.accumulate %p : tensor<3x2x4xf32> -> tensor<3x4xf32>
  return
}

// -----

func.func @sinks_without_gradient(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{expected a grad_sinks result exactly when a sinks operand is given}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %k, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) sinks(%s : tensor<4xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}

// -----

func.func @gradient_without_sinks(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expected a grad_sinks result exactly when a sinks operand is given}}
  %dq, %dk, %dv, %ds = attn.attention_backward ins(%q, %k, %k, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> grad_sinks(tensor<4xf32>)
  return
}

// -----

func.func @sinks_length(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %s: tensor<8xf32>) {
  // expected-error @+1 {{expected sinks of type tensor<4xf32> (one f32 logit per query head), got 'tensor<8xf32>'}}
  %dq, %dk, %dv, %ds = attn.attention_backward ins(%q, %k, %k, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) sinks(%s : tensor<8xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> grad_sinks(tensor<8xf32>)
  return
}

// -----

func.func @sinks_gradient_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{expected grad_sinks of type tensor<4xf32> (one f32 logit per query head), got 'tensor<4xbf16>'}}
  %dq, %dk, %dv, %ds = attn.attention_backward ins(%q, %k, %k, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) sinks(%s : tensor<4xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> grad_sinks(tensor<4xbf16>)
  return
}

// -----

func.func @lse_gradient_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %g: tensor<2x4x7xf32>) {
  // expected-error @+1 {{expected grad_lse of lse's type 'tensor<2x4x8xf32>', got 'tensor<2x4x7xf32>'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %k, %o, %o, %lse : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) grad_lse(%g : tensor<2x4x7xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>
  return
}
