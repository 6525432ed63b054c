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

// mask_mod runs on the GPU backward (convert-attn-backward-to-nvvm-mask-mod.mlir)
// where the kernels can clone it: not one reading a value from the host.
func.func @mask_mod_captures(%q: tensor<1x2x64x64xbf16>, %lse: tensor<1x2x64xf32>, %n: index) {
  // expected-error @+1 {{expected mask_mod to use no value defined above it on the GPU path but constants}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16> mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi ult, %j, %n : index
    attn.yield %keep : i1
  }
  return
}

// -----

func.func @f32_bias(%q: tensor<1x2x64x64xbf16>, %lse: tensor<1x2x64xf32>, %bias: tensor<1x2x64x64xf64>) {
  // expected-error @+1 {{expected a bf16, f16 or f32 bias on the GPU backward, got 'f64'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) bias(%bias : tensor<1x2x64x64xf64>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
  return
}

// -----

func.func @head_dim(%q: tensor<1x2x64x40xbf16>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected a head dim that is a multiple of 16 in [32, 256] on the GPU backward, got 40}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x40xbf16>, tensor<1x2x64x40xbf16>, tensor<1x2x64x40xbf16>, tensor<1x2x64x40xbf16>, tensor<1x2x64x40xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x40xbf16>, tensor<1x2x64x40xbf16>, tensor<1x2x64x40xbf16>
  return
}

// -----

func.func @f32(%q: tensor<1x2x64x64xf32>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected bf16 or f16 inputs on the GPU backward, got 'f32' (f32-compute=bf16 or f16 runs it on rounded copies of Q, K, V, O and dO, as accurate as a bf16 / f16 backward; f32-compute=refuse, the default, does not round silently; or use the CPU path)}}
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

// The kernels address Q, O, dO and dQ by one stride record (and K, V, dK,
// dV by another): a dense dQ of a transposed Q is refused, not mis-stored.
func.func @dq_strides(%q: memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>, %v: memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>, %lse: memref<1x2x64xf32>, %dq: memref<1x2x64x64xbf16>, %dk: memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>, %dv: memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>> to tensor<1x2x64x64xbf16>
  %1 = bufferization.to_tensor %v restrict : memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>> to tensor<1x2x64x64xbf16>
  %2 = bufferization.to_tensor %lse restrict : memref<1x2x64xf32> to tensor<1x2x64xf32>
  // expected-error @+1 {{expected dQ with the strides of Q on the GPU backward (one stride record addresses both), got [batch 8192, head 4096, seq 64] and [batch 8192, head 64, seq 128]}}
  %gq, %gk, %gv = attn.attention_backward ins(%0, %0, %1, %0, %0, %2 : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>) -> ()
  return
}

// -----

func.func @v_strides(%q: memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>, %v: memref<1x2x64x64xbf16>, %lse: memref<1x2x64xf32>, %dq: memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>, %dk: memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>, %dv: memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>> to tensor<1x2x64x64xbf16>
  %1 = bufferization.to_tensor %v restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %2 = bufferization.to_tensor %lse restrict : memref<1x2x64xf32> to tensor<1x2x64xf32>
  // expected-error @+1 {{expected V with the strides of K on the GPU backward (one stride record addresses both), got [batch 8192, head 4096, seq 64] and [batch 8192, head 64, seq 128]}}
  %gq, %gk, %gv = attn.attention_backward ins(%0, %0, %1, %0, %0, %2 : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16, strided<[8192, 64, 128, 1]>>) -> ()
  return
}

// -----

// The LSE is read dense.
func.func @lse_strided(%q: memref<1x2x64x64xbf16>, %v: memref<1x2x64x64xbf16>, %lse: memref<1x2x64xf32, strided<[128, 1, 2]>>, %dq: memref<1x2x64x64xbf16>, %dk: memref<1x2x64x64xbf16>, %dv: memref<1x2x64x64xbf16>) {
  %0 = bufferization.to_tensor %q restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %1 = bufferization.to_tensor %v restrict : memref<1x2x64x64xbf16> to tensor<1x2x64x64xbf16>
  %2 = bufferization.to_tensor %lse restrict : memref<1x2x64xf32, strided<[128, 1, 2]>> to tensor<1x2x64xf32>
  // expected-error @+1 {{expected an identity-layout memref in the default memory space for the LSE and the score operands, got 'memref<1x2x64xf32, strided<[128, 1, 2]>>'}}
  %gq, %gk, %gv = attn.attention_backward ins(%0, %0, %1, %0, %0, %2 : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
  bufferization.materialize_in_destination %gq in restrict writable %dq : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gk in restrict writable %dk : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  bufferization.materialize_in_destination %gv in restrict writable %dv : (tensor<1x2x64x64xbf16>, memref<1x2x64x64xbf16>) -> ()
  return
}

// -----

// Operands must be memrefs read as tensors (destination-passing form).
func.func @not_dps(%q: tensor<1x2x64x64xbf16>, %lse: tensor<1x2x64xf32>) {
  // expected-error @+1 {{expected every operand to come from bufferization.to_tensor of memrefs on the GPU backward (destination-passing form)}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %q, %q, %q, %q, %lse : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>) -> tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>
  return
}
