// RUN: attn-opt %s --split-input-file --verify-diagnostics --attn-gpu-backward-kernels

// The score_mod derivative is not emitted on the GPU yet.
func.func @score_mod(%q: tensor<1x2x64x64xbf16>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected no score_mod on the GPU backward (its derivative is not emitted yet)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16> score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c = arith.constant 2.0 : f32
    %y = arith.mulf %s, %c : f32
    attn.yield %y : f32
  }
  return
}

// -----

func.func @key_lengths(%q: tensor<1x2x64x64xbf16>, %lse: tensor<1x2x64xf32>, %len: tensor<1xi32>) {
  // expected-error @+1 {{expected no key_lengths on the GPU backward (not supported yet)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) key_lengths(%len : tensor<1xi32>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
  return
}

// -----

func.func @head_dim(%q: tensor<1x2x64x32xbf16>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected head dim 64 or 128 on the GPU backward, got 32}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x32xbf16>, tensor<1x2x64x32xbf16>, tensor<1x2x64x32xbf16>, tensor<1x2x64x32xbf16>, tensor<1x2x64x32xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x32xbf16>, tensor<1x2x64x32xbf16>, tensor<1x2x64x32xbf16>
  return
}

// -----

func.func @f32(%q: tensor<1x2x64x64xf32>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected bf16 or f16 inputs on the GPU backward, got 'f32'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>
  return
}

// -----

// f32 gradients of bf16 inputs are valid IR but not a GPU kernel yet.
func.func @f32_grads(%q: tensor<1x2x64x64xbf16>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected every operand and gradient (but lse) of the inputs' element type on the GPU backward, got 'tensor<1x2x64x64xf32>'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xf32>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
  return
}

// -----

func.func @bshd(%q: tensor<1x64x2x64xbf16>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected the bhsd layout on the GPU backward}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>, tensor<1x2x64xf32>) {layout = #attn.layout<bshd>} -> tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>, tensor<1x64x2x64xbf16>
  return
}

// -----

// Operands must be memrefs read as tensors (destination-passing form).
func.func @not_dps(%q: tensor<1x2x64x64xbf16>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected every operand to come from bufferization.to_tensor of memrefs on the GPU backward (destination-passing form)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
  return
}
