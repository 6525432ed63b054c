// RUN: attn-opt %s --convert-attn-to-linalg --split-input-file | FileCheck %s

// f64 operands compute in f64 without accumulate-in-f64, and their LSE is
// f64: an f32 accumulator or LSE would round what a float64 gradient check
// differentiates. Nothing is converted to or from f32.

// Forward: scores, exponentials, P.V and the LSE in f64.
// CHECK-LABEL: func.func @forward
// CHECK-NOT: f32
// CHECK: arith.mulf %{{.+}}, %{{.+}} : f64
// CHECK: math.exp %{{.+}} : f64
// CHECK: math.log %{{.+}} : f64
// CHECK-NOT: f32
// CHECK: return %{{.+}}, %{{.+}} : tensor<1x2x8x16xf64>, tensor<1x2x8xf64>
func.func @forward(%q: tensor<1x2x8x16xf64>, %k: tensor<1x1x8x16xf64>, %v: tensor<1x1x8x16xf64>) -> (tensor<1x2x8x16xf64>, tensor<1x2x8xf64>) {
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x8x16xf64>, tensor<1x2x8xf64>
  return %o, %lse : tensor<1x2x8x16xf64>, tensor<1x2x8xf64>
}

// -----

// Backward: P = exp(s - lse), dS and the products in f64.
// CHECK-LABEL: func.func @backward
// CHECK-NOT: f32
// CHECK: math.exp %{{.+}} : f64
// CHECK-NOT: f32
// CHECK: return %{{.+}}, %{{.+}}, %{{.+}} : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>
func.func @backward(%q: tensor<1x2x8x16xf64>, %k: tensor<1x1x8x16xf64>, %v: tensor<1x1x8x16xf64>, %o: tensor<1x2x8x16xf64>, %do: tensor<1x2x8x16xf64>, %lse: tensor<1x2x8xf64>) -> (tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>) {
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x2x8x16xf64>, tensor<1x2x8x16xf64>, tensor<1x2x8xf64>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>
  return %dq, %dk, %dv : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>
}
