// RUN: attn-opt %s --attn-lower-precision --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-lower-precision="round-p=false" --split-input-file | FileCheck %s --check-prefix=NOROUND

// attn-lower-precision on the backward's steps: P and dS are rounded to the
// input type (bf16) before dV = P^T dO, dK = dS^T Q and dQ = dS K, as the
// tensor cores take them; the backward's exponentials stay natural
// (P = exp(s - lse) with the LSE in natural units), so no log2_domain.
// CHECK-LABEL: func.func @bf16_step
// CHECK: attn.backward_step {{.+}} {p_type = bf16, scale = 2.500000e-01 : f64}
// CHECK-NOT: log2_domain
// NOROUND-LABEL: func.func @bf16_step
// NOROUND-NOT: p_type
func.func @bf16_step(%q: tensor<2x4x16xbf16>, %k: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %do: tensor<2x4x16xbf16>, %lse: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %i: index) -> tensor<2x4x16xf32> {
  %a, %b, %c = attn.backward_step ins(%q, %k, %v : tensor<2x4x16xbf16>, tensor<8x16xbf16>, tensor<8x16xbf16>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%do, %lse, %lse : tensor<2x4x16xbf16>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dk : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
  return %c : tensor<2x4x16xf32>
}

// -----

// f32 inputs have nothing to round to.
// CHECK-LABEL: func.func @f32_step
// CHECK-NOT: p_type
func.func @f32_step(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x16xf32>, %lse: tensor<2x4xf32>, %dk: tensor<8x16xf32>, %i: index) -> tensor<2x4x16xf32> {
  %a, %b, %c = attn.backward_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) at(%i, %i, %i, %i) lengths(%i, %i) grads(%q, %lse, %lse : tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) acc(%dk, %dk : tensor<8x16xf32>, tensor<8x16xf32>) {scale = 0.25 : f64} -> tensor<8x16xf32>, tensor<8x16xf32>, tensor<2x4x16xf32>
  return %c : tensor<2x4x16xf32>
}
