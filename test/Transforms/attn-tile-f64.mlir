// RUN: attn-opt %s --attn-tile --attn-tile-backward -split-input-file -verify-diagnostics

// f64 operands (the float64 gradient-check precision) are not tiled: the
// tile-level ops compute in f32 by definition. Both tiling passes refuse
// them at the op, which convert-attn-to-linalg lowers whole instead.

func.func @forward_f64(%q: tensor<1x2x8x16xf64>, %k: tensor<1x1x8x16xf64>, %v: tensor<1x1x8x16xf64>) -> tensor<1x2x8x16xf64> {
  // expected-error @+1 {{'attn.attention' op expected f16, bf16 or f32 operands to tile, got 'f64' (f64 is lowered whole by convert-attn-to-linalg: run without the tiling passes)}}
  %o = attn.attention ins(%q, %k, %v : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>) -> tensor<1x2x8x16xf64>
  return %o : tensor<1x2x8x16xf64>
}

// -----

func.func @backward_f64(%q: tensor<1x2x8x16xf64>, %k: tensor<1x1x8x16xf64>, %v: tensor<1x1x8x16xf64>, %o: tensor<1x2x8x16xf64>, %do: tensor<1x2x8x16xf64>, %lse: tensor<1x2x8xf64>) -> tensor<1x2x8x16xf64> {
  // expected-error @+1 {{'attn.attention_backward' op expected f16, bf16 or f32 operands to tile, got 'f64'}}
  %dq, %dk, %dv = attn.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x2x8x16xf64>, tensor<1x2x8x16xf64>, tensor<1x2x8xf64>) {mask_kind = #attn.mask<causal_bottom_right>} -> tensor<1x2x8x16xf64>, tensor<1x1x8x16xf64>, tensor<1x1x8x16xf64>
  return %dq : tensor<1x2x8x16xf64>
}
