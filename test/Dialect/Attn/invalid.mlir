// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of AttentionOp::verify, AttentionOp::verifyRegions and
// the attn.yield op, one case each. Unless a case says otherwise the shapes
// are GQA: Q [2, 4, 8, 16], K/V [2, 2, 8, 16], O [2, 4, 8, 16], f32.

//===----------------------------------------------------------------------===//
// Operand and result ranks
//===----------------------------------------------------------------------===//

func.func @query_rank(%q: tensor<2x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op expected query of rank 4 ([B, H, L, D] or [B, L, H, D]), got rank 3}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @key_rank(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x1x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected key of rank 4 ([B, H, L, D] or [B, L, H, D]), got rank 5}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x1x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @value_rank(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected value of rank 4 ([B, H, L, D] or [B, L, H, D]), got rank 1}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @output_rank(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<8x64xf32> {
  // expected-error @+1 {{expected output of rank 4 ([B, H, L, D] or [B, L, H, D]), got rank 2}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<8x64xf32>
  return %o : tensor<8x64xf32>
}

// -----

// Operands must be ranked tensors (ODS constraint, before the C++ verifier).
func.func @unranked_query(%q: tensor<*xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of any type values, but got 'tensor<*xf32>'}}
  %o = "attn.attention"(%q, %k, %v) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0>}> ({}, {}) : (tensor<*xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

func.func @query_element_type(%q: tensor<2x4x8x16xi8>, %k: tensor<2x2x8x16xi8>, %v: tensor<2x2x8x16xi8>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected query element type to be f16, bf16, f32 or f64, got 'i8'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xi8>, tensor<2x2x8x16xi8>, tensor<2x2x8x16xi8>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// f128 is a float type but not one the op takes (f64 is, for the CPU's
// whole-op lowering).
func.func @query_element_type_f128(%q: tensor<2x4x8x16xf128>, %k: tensor<2x2x8x16xf128>, %v: tensor<2x2x8x16xf128>) -> tensor<2x4x8x16xf128> {
  // expected-error @+1 {{expected query element type to be f16, bf16, f32 or f64, got 'f128'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf128>, tensor<2x2x8x16xf128>, tensor<2x2x8x16xf128>) -> tensor<2x4x8x16xf128>
  return %o : tensor<2x4x8x16xf128>
}

// -----

func.func @key_element_type(%q: tensor<2x4x8x16xf16>, %k: tensor<2x2x8x16xbf16>, %v: tensor<2x2x8x16xf16>) -> tensor<2x4x8x16xf16> {
  // expected-error @+1 {{expected query, key and value to have the same element type, got 'f16', 'bf16' and 'f16'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xf16>) -> tensor<2x4x8x16xf16>
  return %o : tensor<2x4x8x16xf16>
}

// -----

func.func @value_element_type(%q: tensor<2x4x8x16xbf16>, %k: tensor<2x2x8x16xbf16>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xbf16> {
  // expected-error @+1 {{expected query, key and value to have the same element type, got 'bf16', 'bf16' and 'f32'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xbf16>
  return %o : tensor<2x4x8x16xbf16>
}

// -----

func.func @output_element_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xi32> {
  // expected-error @+1 {{expected output element type to be f16, bf16, f32 or f64, got 'i32'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xi32>
  return %o : tensor<2x4x8x16xi32>
}

// -----

//===----------------------------------------------------------------------===//
// Shapes and head counts
//===----------------------------------------------------------------------===//

func.func @dynamic_query_heads(%q: tensor<2x?x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x?x8x16xf32> {
  // expected-error @+1 {{expected static head counts and head dimensions}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x?x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x?x8x16xf32>
  return %o : tensor<2x?x8x16xf32>
}

// -----

func.func @dynamic_kv_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x?x8x16xf32>, %v: tensor<2x?x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected static head counts and head dimensions}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x?x8x16xf32>, tensor<2x?x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// In BSHD the head axis is 2: a dynamic dimension 2 is a dynamic head count.
func.func @dynamic_heads_bshd(%q: tensor<2x8x?x16xf32>, %k: tensor<2x8x2x16xf32>, %v: tensor<2x8x2x16xf32>) -> tensor<2x8x?x16xf32> {
  // expected-error @+1 {{expected static head counts and head dimensions}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x8x?x16xf32>, tensor<2x8x2x16xf32>, tensor<2x8x2x16xf32>) {layout = #attn.layout<bshd>} -> tensor<2x8x?x16xf32>
  return %o : tensor<2x8x?x16xf32>
}

// -----

func.func @dynamic_value_head_dim(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x?xf32>) -> tensor<2x4x8x?xf32> {
  // expected-error @+1 {{expected static head counts and head dimensions}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x?xf32>) -> tensor<2x4x8x?xf32>
  return %o : tensor<2x4x8x?xf32>
}

// -----

func.func @zero_heads(%q: tensor<2x0x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x0x8x16xf32> {
  // expected-error @+1 {{expected non-empty head counts and head dimensions}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x0x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x0x8x16xf32>
  return %o : tensor<2x0x8x16xf32>
}

// -----

func.func @batch_mismatch(%q: tensor<2x4x8x16xf32>, %k: tensor<3x2x8x16xf32>, %v: tensor<3x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected query, key and value to have the same batch size, got 2, 3 and 3}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<3x2x8x16xf32>, tensor<3x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @kv_heads_mismatch(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected key and value to have the same number of heads, got 2 and 4}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// 6 query heads cannot be split evenly over 4 key/value heads.
func.func @head_ratio(%q: tensor<2x6x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x6x8x16xf32> {
  // expected-error @+1 {{expected the number of query heads (6) to be a multiple of the number of key/value heads (4)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x6x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x6x8x16xf32>
  return %o : tensor<2x6x8x16xf32>
}

// -----

// More key/value heads than query heads is not GQA either.
func.func @head_ratio_inverted(%q: tensor<2x2x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x2x8x16xf32> {
  // expected-error @+1 {{expected the number of query heads (2) to be a multiple of the number of key/value heads (4)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x2x8x16xf32>
  return %o : tensor<2x2x8x16xf32>
}

// -----

func.func @head_dim_mismatch(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x32xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected query and key to have the same head dimension, got 16 and 32}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x32xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @kv_length_mismatch(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x9x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected key and value to have the same sequence length, got 8 and 9}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x9x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// In BSHD the sequence axis is 1.
func.func @kv_length_mismatch_bshd(%q: tensor<2x8x4x16xf32>, %k: tensor<2x8x2x16xf32>, %v: tensor<2x7x2x16xf32>) -> tensor<2x8x4x16xf32> {
  // expected-error @+1 {{expected key and value to have the same sequence length, got 8 and 7}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x8x4x16xf32>, tensor<2x8x2x16xf32>, tensor<2x7x2x16xf32>) {layout = #attn.layout<bshd>} -> tensor<2x8x4x16xf32>
  return %o : tensor<2x8x4x16xf32>
}

// -----

// The output's last dimension is Dv (32), not D (16).
func.func @output_head_dim(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x32xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected output shape to match the query shape with the value head dimension, got 'tensor<2x4x8x16xf32>' for query 'tensor<2x4x8x16xf32>' and value 'tensor<2x2x8x32xf32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x32xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// The output has the query's head count (4), not the key/value's (2).
func.func @output_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x2x8x16xf32> {
  // expected-error @+1 {{expected output shape to match the query shape with the value head dimension, got 'tensor<2x2x8x16xf32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x2x8x16xf32>
  return %o : tensor<2x2x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// LSE result
//===----------------------------------------------------------------------===//

func.func @lse_element_type(%q: tensor<2x4x8x16xf16>, %k: tensor<2x2x8x16xf16>, %v: tensor<2x2x8x16xf16>) -> tensor<2x4x8xf16> {
  // expected-error @+1 {{expected the LSE result to have element type 'f32' (f64 only for f64 operands), got 'f16'}}
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf16>, tensor<2x2x8x16xf16>, tensor<2x2x8x16xf16>) -> tensor<2x4x8x16xf16>, tensor<2x4x8xf16>
  return %lse : tensor<2x4x8xf16>
}

// -----

// f64 operands have an f64 LSE (their backward recomputes P from it in f64).
func.func @lse_f32_of_f64(%q: tensor<2x4x8x16xf64>, %k: tensor<2x2x8x16xf64>, %v: tensor<2x2x8x16xf64>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{expected the LSE result to have element type 'f64' (f64 only for f64 operands), got 'f32'}}
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf64>, tensor<2x2x8x16xf64>, tensor<2x2x8x16xf64>) -> tensor<2x4x8x16xf64>, tensor<2x4x8xf32>
  return %lse : tensor<2x4x8xf32>
}

// -----

func.func @lse_rank(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x1xf32> {
  // expected-error @+1 {{expected the LSE result of shape [B, Hq, Lq] = [2, 4, 8], got 'tensor<2x4x8x1xf32>'}}
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>, tensor<2x4x8x1xf32>
  return %lse : tensor<2x4x8x1xf32>
}

// -----

// The LSE has one row per query head (4), not per key/value head.
func.func @lse_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x2x8xf32> {
  // expected-error @+1 {{expected the LSE result of shape [B, Hq, Lq] = [2, 4, 8], got 'tensor<2x2x8xf32>'}}
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>, tensor<2x2x8xf32>
  return %lse : tensor<2x2x8xf32>
}

// -----

// The LSE is [B, Hq, Lq] even for the BSHD layout.
func.func @lse_bshd_order(%q: tensor<2x8x4x16xf32>, %k: tensor<2x8x2x16xf32>, %v: tensor<2x8x2x16xf32>) -> tensor<2x8x4xf32> {
  // expected-error @+1 {{expected the LSE result of shape [B, Hq, Lq] = [2, 4, 8], got 'tensor<2x8x4xf32>'}}
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x8x4x16xf32>, tensor<2x8x2x16xf32>, tensor<2x8x2x16xf32>) {layout = #attn.layout<bshd>} -> tensor<2x8x4x16xf32>, tensor<2x8x4xf32>
  return %lse : tensor<2x8x4xf32>
}

// -----

func.func @lse_dynamic_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x?x8xf32> {
  // expected-error @+1 {{expected the LSE result of shape [B, Hq, Lq] = [2, 4, 8], got 'tensor<2x?x8xf32>'}}
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>, tensor<2x?x8xf32>
  return %lse : tensor<2x?x8xf32>
}

// -----

//===----------------------------------------------------------------------===//
// scale and softcap
//===----------------------------------------------------------------------===//

func.func @zero_scale(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got 0.000000e+00}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {scale = 0.0 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @negative_scale(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got -2.500000e-01}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {scale = -0.25 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// +inf, written as its IEEE-754 bit pattern.
func.func @infinite_scale(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got INF}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {scale = 0x7FF0000000000000 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// NaN fails `scale <= 0` as well as `scale > 0`: only isfinite catches it.
func.func @nan_scale(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got nan}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {scale = 0x7FF8000000000000 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// scale is an f64 attribute (ODS constraint).
func.func @scale_f32_attr(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{attribute 'scale' failed to satisfy constraint: 64-bit float attribute}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {scale = 0.25 : f32} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @zero_softcap(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive softcap in f32's normal range [1.175494e-38, 3.402823e+38], got 0.000000e+00}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {softcap = 0.0 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @negative_softcap(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive softcap in f32's normal range [1.175494e-38, 3.402823e+38], got -3.000000e+01}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {softcap = -30.0 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @infinite_softcap(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive softcap in f32's normal range [1.175494e-38, 3.402823e+38], got INF}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {softcap = 0x7FF0000000000000 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Finite as f64 but inf once rounded to the f32 the scores are computed in:
// tanh(s / inf) * inf is NaN (issue #20).
func.func @softcap_above_f32_max(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive softcap in f32's normal range [1.175494e-38, 3.402823e+38], got 1.000000e+39}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {softcap = 1.0e39 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Rounds to 0 in f32: s / 0 is inf.
func.func @softcap_below_f32_min(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive softcap in f32's normal range [1.175494e-38, 3.402823e+38], got 1.000000e-300}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {softcap = 1.0e-300 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @scale_above_f32_max(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got 1.000000e+100}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {scale = 1.0e100 : f64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @alibi_slope_above_f32_max(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected finite ALiBi slopes of at most 3.402823e+38 in magnitude (f32)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {alibi_slopes = array<f64: 0.5, 0.25, -1.0e39, 0.0625>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Mask kind and window
//===----------------------------------------------------------------------===//

func.func @missing_window(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a `window = array<i64: left, right>` attribute with mask kind sliding_window}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {mask_kind = #attn.mask<sliding_window>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @window_one_element(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected window to have 2 elements [left, right], got 1}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 4>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @window_three_elements(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected window to have 2 elements [left, right], got 3}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: 4, 0, 1>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// FlashAttention spells "unbounded" as -1; attn has no such sentinel.
func.func @negative_window(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected non-negative window sizes, got [-1, 0]}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {mask_kind = #attn.mask<sliding_window>, window = array<i64: -1, 0>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @window_without_sliding_window(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected no window attribute unless the mask kind is sliding_window}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>, window = array<i64: 4, 0>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Without mask_kind the kind is none, which takes no window either.
func.func @window_default_mask_kind(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected no window attribute unless the mask kind is sliding_window}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {window = array<i64: 4, 0>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @unknown_mask_kind(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+2 {{expected ::mlir::attn::MaskKind to be one of: none, causal_top_left, causal_bottom_right, sliding_window}}
  // expected-error @+1 {{failed to parse Attn_MaskKindAttr parameter 'value' which is to be a `::mlir::attn::MaskKind`}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {mask_kind = #attn.mask<foo>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @unknown_layout(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+2 {{expected ::mlir::attn::Layout to be one of: bhsd, bshd}}
  // expected-error @+1 {{failed to parse Attn_LayoutAttr parameter 'value' which is to be a `::mlir::attn::Layout`}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {layout = #attn.layout<sbhd>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// mask_kind must be an #attn.mask, not its integer value (ODS constraint).
func.func @mask_kind_integer(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{attribute 'mask_kind' failed to satisfy constraint: structural mask: none, causal (top-left or bottom-right aligned) or sliding window}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {mask_kind = 1 : i32} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// ALiBi
//===----------------------------------------------------------------------===//

// One slope per query head (4), not per key/value head (2).
func.func @alibi_slope_count(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected one ALiBi slope per query head (4), got 2}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {alibi_slopes = array<f64: 0.5, 0.25>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @alibi_slope_not_finite(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected finite ALiBi slopes of at most 3.402823e+38 in magnitude (f32)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {alibi_slopes = array<f64: 0.5, 0.25, 0x7FF0000000000000, 0.0625>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Tensor-parallel head sharding
//===----------------------------------------------------------------------===//

// A shard holds global heads [offset, offset + Hq): 6 + 4 > 8.
func.func @head_shard_out_of_range(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected head_offset + Hq (6 + 4) to be at most num_heads_total (8)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {head_offset = 6 : i64, num_heads_total = 8 : i64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Without num_heads_total the op holds every head, so no offset fits.
func.func @head_offset_without_total(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected head_offset + Hq (2 + 4) to be at most num_heads_total (4)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {head_offset = 2 : i64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @head_offset_negative(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected a non-negative head_offset, got -2}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {head_offset = -2 : i64, num_heads_total = 8 : i64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// g = 4 / 2 = 2 query heads per KV head: offset 1 would split a group.
func.func @head_offset_splits_group(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected head_offset (1) and num_heads_total (8) to be multiples of the query heads per key/value head (2), so no key/value group is split}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {head_offset = 1 : i64, num_heads_total = 8 : i64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @head_total_splits_group(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected head_offset (4) and num_heads_total (9) to be multiples of the query heads per key/value head (2), so no key/value group is split}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {head_offset = 4 : i64, num_heads_total = 9 : i64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// A shard's ALiBi slopes cover every global head (8), not its own 4.
func.func @head_shard_alibi_slope_count(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected one ALiBi slope per query head (8), got 4}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {head_offset = 4 : i64, num_heads_total = 8 : i64, alibi_slopes = array<f64: 0.5, 0.25, 0.125, 0.0625>} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// bias operand
//===----------------------------------------------------------------------===//

func.func @bias_element_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %bias: tensor<2x4x8x8xi32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected bias element type to be f16, bf16, f32 or f64, got 'i32'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) bias(%bias : tensor<2x4x8x8xi32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @bias_rank(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %bias: tensor<8x8xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected bias of rank 4 ([B, Hq, Lq, Lk]), got rank 2}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) bias(%bias : tensor<8x8xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// A per-KV-head bias (2 heads) does not broadcast to the 4 query heads.
func.func @bias_broadcast_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %bias: tensor<1x2x8x8xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected bias dimension 1 to be 1 or 4, got 2}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) bias(%bias : tensor<1x2x8x8xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// The bias is in logical [B, Hq, Lq, Lk] order even with the BSHD layout.
func.func @bias_bshd_order(%q: tensor<2x8x4x16xf32>, %k: tensor<2x6x2x16xf32>, %v: tensor<2x6x2x16xf32>, %bias: tensor<2x8x4x6xf32>) -> tensor<2x8x4x16xf32> {
  // expected-error @+1 {{expected bias dimension 1 to be 1 or 4, got 8}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x8x4x16xf32>, tensor<2x6x2x16xf32>, tensor<2x6x2x16xf32>) bias(%bias : tensor<2x8x4x6xf32>) {layout = #attn.layout<bshd>} -> tensor<2x8x4x16xf32>
  return %o : tensor<2x8x4x16xf32>
}

// -----

func.func @bias_key_length(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x12x16xf32>, %v: tensor<2x2x12x16xf32>, %bias: tensor<2x4x8x8xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected bias dimension 3 to be 1 or 12, got 8}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x12x16xf32>, tensor<2x2x12x16xf32>) bias(%bias : tensor<2x4x8x8xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// boolean mask operand
//===----------------------------------------------------------------------===//

// An additive mask belongs in bias(...); mask(...) takes booleans.
func.func @mask_element_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %mask: tensor<2x4x8x8xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected mask element type i1, got 'f32'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) mask(%mask : tensor<2x4x8x8xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @mask_rank(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %mask: tensor<2x8x8xi1>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected mask of rank 4 ([B, Hq, Lq, Lk]), got rank 3}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) mask(%mask : tensor<2x8x8xi1>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @mask_broadcast_batch(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %mask: tensor<3x1x8x8xi1>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected mask dimension 0 to be 1 or 2, got 3}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) mask(%mask : tensor<3x1x8x8xi1>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @mask_broadcast_query_length(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %mask: tensor<1x1x4x8xi1>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected mask dimension 2 to be 1 or 8, got 4}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) mask(%mask : tensor<1x1x4x8xi1>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// score_mod and mask_mod regions
//===----------------------------------------------------------------------===//

func.func @score_mod_arg_count(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the score_mod region arguments to be (f32, index, index, index, index): (score, b, h, q_idx, kv_idx)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %i: index, %j: index):
    attn.yield %s : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// The score is always f32, whatever the element type of Q/K/V.
func.func @score_mod_arg_type(%q: tensor<2x4x8x16xf16>, %k: tensor<2x2x8x16xf16>, %v: tensor<2x2x8x16xf16>) -> tensor<2x4x8x16xf16> {
  // expected-error @+1 {{expected the score_mod region arguments to be (f32, index, index, index, index): (score, b, h, q_idx, kv_idx)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf16>, tensor<2x2x8x16xf16>, tensor<2x2x8x16xf16>) -> tensor<2x4x8x16xf16>
  score_mod {
  ^bb0(%s: f16, %b: index, %h: index, %i: index, %j: index):
    attn.yield %s : f16
  }
  return %o : tensor<2x4x8x16xf16>
}

// -----

func.func @score_mod_index_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the score_mod region arguments to be (f32, index, index, index, index): (score, b, h, q_idx, kv_idx)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: i64, %h: i64, %i: i64, %j: i64):
    attn.yield %s : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @score_mod_yield_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %t = arith.truncf %s : f32 to f16
    // expected-error @+1 {{'attn.yield' op expected score_mod to yield a single 'f32'}}
    attn.yield %t : f16
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @score_mod_yield_count(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'attn.yield' op expected score_mod to yield a single 'f32'}}
    attn.yield %s, %s : f32, f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @score_mod_yield_nothing(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'attn.yield' op expected score_mod to yield a single 'f32'}}
    attn.yield
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// A region must end with attn.yield, not with another terminator.
func.func @score_mod_wrong_terminator(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the score_mod region to end with attn.yield}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    ub.unreachable
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @score_mod_multi_block(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the score_mod region to have a single block}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    cf.br ^bb1
  ^bb1:
    attn.yield %s : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// The region runs once per score element, in any order and in every tile:
// it cannot write memory.
func.func @score_mod_store(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %log: memref<f32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'memref.store' op expected only side-effect-free operations in the score_mod region}}
    memref.store %s, %log[] : memref<f32>
    attn.yield %s : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Reading memory is a side effect too: the kernel may run the region before
// or after any write to %table.
func.func @score_mod_load(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %table: memref<4xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'memref.load' op expected only side-effect-free operations in the score_mod region}}
    %t = memref.load %table[%h] : memref<4xf32>
    %r = arith.addf %s, %t : f32
    attn.yield %r : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func private @opaque(f32) -> f32

// A call to a function without known effects is not side-effect-free.
func.func @score_mod_call(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{'func.call' op expected only side-effect-free operations in the score_mod region}}
    %r = func.call @opaque(%s) : (f32) -> f32
    attn.yield %r : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Effects nested in a region of a region op count too (scf.if has
// RecursiveMemoryEffects).
func.func @score_mod_nested_store(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %log: memref<f32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c = arith.cmpi eq, %i, %j : index
    // expected-error @+1 {{'scf.if' op expected only side-effect-free operations in the score_mod region}}
    scf.if %c {
      memref.store %s, %log[] : memref<f32>
    }
    attn.yield %s : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @mask_mod_arg_count(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the mask_mod region arguments to be (index, index, index, index): (b, h, q_idx, kv_idx)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  mask_mod {
  ^bb0(%i: index, %j: index):
    %keep = arith.cmpi sle, %j, %i : index
    attn.yield %keep : i1
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// mask_mod takes no score: a score_mod signature is rejected.
func.func @mask_mod_score_signature(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the mask_mod region arguments to be (index, index, index, index): (b, h, q_idx, kv_idx)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  mask_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi sle, %j, %i : index
    attn.yield %keep : i1
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// mask_mod yields a keep flag, not an additive mask value.
func.func @mask_mod_yield_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %zero = arith.constant 0.0 : f32
    // expected-error @+1 {{'attn.yield' op expected mask_mod to yield a single 'i1'}}
    attn.yield %zero : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @mask_mod_multi_block(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the mask_mod region to have a single block}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi sle, %j, %i : index
    cf.br ^bb1(%keep : i1)
  ^bb1(%k2: i1):
    attn.yield %k2 : i1
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @mask_mod_wrong_terminator(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the mask_mod region to end with attn.yield}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    llvm.unreachable
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @mask_mod_side_effect(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %counts: memref<8x8xi1>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi sle, %j, %i : index
    // expected-error @+1 {{'memref.store' op expected only side-effect-free operations in the mask_mod region}}
    memref.store %keep, %counts[%i, %j] : memref<8x8xi1>
    attn.yield %keep : i1
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// A valid score_mod does not excuse an invalid mask_mod: both are checked.
func.func @both_regions_bad_mask_mod(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected the mask_mod region arguments to be (index, index, index, index): (b, h, q_idx, kv_idx)}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    attn.yield %s : f32
  }
  mask_mod {
  ^bb0(%b: i32, %h: i32, %i: i32, %j: i32):
    %keep = arith.cmpi sle, %j, %i : i32
    attn.yield %keep : i1
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// attn.yield
//===----------------------------------------------------------------------===//

func.func @yield_outside_attention(%x: f32) {
  // expected-error @+1 {{'attn.yield' op expects parent op to be one of 'attn.attention, attn.block_attention, attn.online_step, attn.attention_backward, attn.backward_step'}}
  attn.yield %x : f32
}

// -----

// attn.yield must be directly in the region, not nested in another op.
func.func @yield_in_nested_op(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c = arith.cmpi eq, %i, %j : index
    %r = scf.if %c -> f32 {
      // expected-error @+1 {{'attn.yield' op expects parent op to be one of 'attn.attention, attn.block_attention, attn.online_step, attn.attention_backward, attn.backward_step'}}
      attn.yield %s : f32
    } else {
      scf.yield %s : f32
    }
    attn.yield %r : f32
  }
  return %o : tensor<2x4x8x16xf32>
}

// -----

// The generic form can leave the query group empty; verify() must not read
// past the operand list.
func.func @empty_query_group(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected exactly one query operand}}
  %o = "attn.attention"(%q, %k, %v) <{operandSegmentSizes = array<i32: 0, 1, 2, 0, 0, 0, 0, 0, 0>}> ({}, {}) : (tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Output head count and Dv must be static like the query's.
func.func @dynamic_output_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x?x8x?xf32> {
  // expected-error @+1 {{expected output shape to match the query shape with the value head dimension}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x?x8x?xf32>
  return %o : tensor<2x?x8x?xf32>
}

// -----

// The LSE is static exactly where the query is.
func.func @lse_dynamic_mismatch(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<?x4x?xf32> {
  // expected-error @+1 {{expected the LSE result of shape [B, Hq, Lq] = [2, 4, 8], got 'tensor<?x4x?xf32>'}}
  %o, %lse = attn.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) -> tensor<2x4x8x16xf32>, tensor<?x4x?xf32>
  return %lse : tensor<?x4x?xf32>
}

// -----

// K and V batches must agree even when the query's batch is dynamic.
func.func @kv_batch_mismatch(%q: tensor<?x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<3x2x8x16xf32>) -> tensor<?x4x8x16xf32> {
  // expected-error @+1 {{expected key and value to have the same batch size, got 2 and 3}}
  %o = attn.attention ins(%q, %k, %v : tensor<?x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<3x2x8x16xf32>) -> tensor<?x4x8x16xf32>
  return %o : tensor<?x4x8x16xf32>
}

// -----

// A modifier region cannot contain another attention.
func.func @nested_attention(%q: tensor<1x1x2x4xf32>, %k: tensor<1x1x2x4xf32>, %v: tensor<1x1x2x4xf32>) -> tensor<1x1x2x4xf32> {
  %o = attn.attention ins(%q, %k, %v : tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x1x2x4xf32>
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      // expected-error @+1 {{expected no attn operations in the score_mod region}}
      %x = attn.attention ins(%q, %k, %v : tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x1x2x4xf32>
      attn.yield %s : f32
    }
  return %o : tensor<1x1x2x4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Tile-level ops: attn.block_attention, attn.online_step (verifyTileOperands,
// verifyScoreAttributes with at-least-G slopes, verifyF32Shape), attn.finalize
// and attn.combine. Unless a case says otherwise a tile is G = 2 query heads
// of M = 4 rows against N = 8 keys: Q [2, 4, 16], K [8, 16], V [8, 32],
// output/acc [2, 4, 32], lse/max/sum [2, 4], all f32.
//===----------------------------------------------------------------------===//

// Q must be [G, M, D]: a rank-2 query is rejected.
func.func @tile_query_rank(%q: tensor<4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected query [G, M, D], key [N, D] and value [N, Dv] tiles, got ranks 2, 2 and 2}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// K must be [N, D]: a per-head rank-3 key is not a tile.
func.func @tile_key_rank(%q: tensor<2x4x16xf32>, %k: tensor<1x8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected query [G, M, D], key [N, D] and value [N, Dv] tiles, got ranks 3, 3 and 2}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<1x8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// V must be [N, Dv].
func.func @tile_value_rank(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{expected query [G, M, D], key [N, D] and value [N, Dv] tiles, got ranks 3, 2 and 1}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// Tiles are static: a dynamic row count M is rejected.
func.func @tile_dynamic_query(%q: tensor<2x?x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected static tile shapes}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x?x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// A dynamic key count N in the value tile alone is rejected too.
func.func @tile_dynamic_value(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<?x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected static tile shapes}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<?x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// Q, K and V tiles share one element type (bf16 query, f16 key/value).
func.func @tile_element_type_mismatch(%q: tensor<2x4x16xbf16>, %k: tensor<8x16xf16>, %v: tensor<8x32xf16>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected query, key and value tiles of one element type}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xbf16>, tensor<8x16xf16>, tensor<8x32xf16>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// Q.K^T contracts D: query D = 16 against key D = 8.
func.func @tile_head_dim_mismatch(%q: tensor<2x4x16xf32>, %k: tensor<8x8xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected query/key head dims and key/value lengths to agree, got 'tensor<2x4x16xf32>', 'tensor<8x8xf32>', 'tensor<8x32xf32>'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x8xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// P.V contracts N: 8 keys against 4 values.
func.func @tile_kv_length_mismatch(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<4x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected query/key head dims and key/value lengths to agree, got 'tensor<2x4x16xf32>', 'tensor<8x16xf32>', 'tensor<4x32xf32>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<4x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// A bias tile is exactly [G, M, N]: unlike attn.attention, no broadcast.
func.func @tile_bias_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %bias: tensor<1x4x8xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected bias tile of shape [G, M, N] = [2, 4, 8], got 'tensor<1x4x8xf32>'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) bias(%bias : tensor<1x4x8xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// A mask tile with M and N swapped.
func.func @tile_mask_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %mask: tensor<2x8x4xi1>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected mask tile of shape [G, M, N] = [2, 4, 8], got 'tensor<2x8x4xi1>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) mask(%mask : tensor<2x8x4xi1>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// A tile's mask must be i1 (ODS constraint, before the C++ verifier); with
// no bias the mask is operand #3.
func.func @tile_mask_element_type(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %mask: tensor<2x4x8xi8>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{operand #3 must be ranked tensor of 1-bit signless integer values, but got 'tensor<2x4x8xi8>'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) mask(%mask : tensor<2x4x8xi8>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// An i32 query tile fails the RankedTensorOf<[F16, BF16, F32]> constraint.
func.func @tile_integer_query(%q: tensor<2x4x16xi32>, %k: tensor<8x16xi32>, %v: tensor<8x32xi32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float values, but got 'tensor<2x4x16xi32>'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xi32>, tensor<8x16xi32>, tensor<8x32xi32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// Tiles always produce f32 (ODS constraint): an f16 output is rejected.
func.func @tile_f16_output(%q: tensor<2x4x16xf16>, %k: tensor<8x16xf16>, %v: tensor<8x32xf16>, %i: index) -> tensor<2x4x32xf16> {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit float values, but got 'tensor<2x4x32xf16>'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf16>, tensor<8x16xf16>, tensor<8x32xf16>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf16>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf16>
}

// -----

// A tile op has no default scale: attn-tile writes the effective one.
func.func @tile_missing_scale(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{requires attribute 'scale'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// scale = 0 on a tile.
func.func @tile_zero_scale(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got 0.000000e+00}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.0 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// A negative scale on an online step.
func.func @tile_negative_scale(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got -2.500000e-01}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = -0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// NaN scale (IEEE-754 bit pattern) on a tile.
func.func @tile_nan_scale(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{expected a finite, positive scale in f32's normal range [1.175494e-38, 3.402823e+38], got nan}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0x7FF8000000000000 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// softcap = 0 on a tile.
func.func @tile_zero_softcap(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected a finite, positive softcap in f32's normal range [1.175494e-38, 3.402823e+38], got 0.000000e+00}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64, softcap = 0.0 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// sliding_window on a tile still needs its window.
func.func @tile_window_missing(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected a `window = array<i64: left, right>` attribute with mask kind sliding_window}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64, mask_kind = #attn.mask<sliding_window>} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// A window on a tile has exactly [left, right].
func.func @tile_window_arity(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected window to have 2 elements [left, right], got 3}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64, mask_kind = #attn.mask<sliding_window>, window = array<i64: 4, 0, 1>} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// Window sizes on a tile are non-negative.
func.func @tile_window_negative(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected non-negative window sizes, got [2, -3]}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64, mask_kind = #attn.mask<sliding_window>, window = array<i64: 2, -3>} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// A window with a causal mask kind on a tile.
func.func @tile_window_without_sliding(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected no window attribute unless the mask kind is sliding_window}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64, mask_kind = #attn.mask<causal_top_left>, window = array<i64: 4, 0>} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// A tile of G = 2 heads reads slopes head + 0 and head + 1, so it needs at
// least 2 (more are fine: the tile sees only some heads); 1 is too few.
func.func @tile_too_few_slopes(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected one ALiBi slope per query head (2), got 1}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64, alibi_slopes = array<f64: 0.5>} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// A non-finite slope among enough slopes on a tile.
func.func @tile_slope_not_finite(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected finite ALiBi slopes of at most 3.402823e+38 in magnitude (f32)}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64, alibi_slopes = array<f64: 0.5, 0x7FF0000000000000, 0.125>} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// The block output is [G, M, Dv] = [2, 4, 32]: D = 16 in its place.
func.func @block_output_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x16xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected output to be 'tensor<2x4x32xf32>', got 'tensor<2x4x16xf32>'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x16xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x16xf32>
}

// -----

// The block LSE is [G, M] = [2, 4], not [G, M, N].
func.func @block_lse_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected lse to be 'tensor<2x4xf32>', got 'tensor<2x4x8xf32>'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4x8xf32>
  return %lse : tensor<2x4x8xf32>
}

// -----

// The block output is static even where it could be inferred.
func.func @block_output_dynamic(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x?x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected output to be 'tensor<2x4x32xf32>', got 'tensor<2x?x32xf32>'}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x?x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x?x32xf32>
}

// -----

// The running accumulator is [G, M, Dv]: one value column short.
func.func @step_acc_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x31xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected acc to be 'tensor<2x4x32xf32>', got 'tensor<2x4x31xf32>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x31xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// The new accumulator has the accumulator's shape.
func.func @step_new_acc_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<4x2x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected new_acc to be 'tensor<2x4x32xf32>', got 'tensor<4x2x32xf32>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<4x2x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<4x2x32xf32>
}

// -----

// The running max is one value per row: [G, M].
func.func @step_max_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<8xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected max to be 'tensor<2x4xf32>', got 'tensor<8xf32>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<8xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// The running sum is [G, M].
func.func @step_sum_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4x1xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected sum to be 'tensor<2x4xf32>', got 'tensor<2x4x1xf32>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4x1xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// The new max is [G, M].
func.func @step_new_max_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'attn.online_step' op expected new_max to be 'tensor<2x4xf32>', got 'tensor<2x8xf32>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x8xf32>, tensor<2x4xf32>
  return %mm : tensor<2x8xf32>
}

// -----

// The new sum is [G, M].
func.func @step_new_sum_shape(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x?xf32> {
  // expected-error @+1 {{'attn.online_step' op expected new_sum to be 'tensor<2x4xf32>', got 'tensor<2x?xf32>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x?xf32>
  return %ll : tensor<2x?xf32>
}

// -----

// The online-softmax state is f32 (ODS constraint): an f16 max is rejected.
func.func @step_max_element_type(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf16>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{operand #10 must be ranked tensor of 32-bit float values, but got 'tensor<2x4xf16>'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf16>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// P can only be rounded to a float type the tensor cores take.
func.func @step_p_type_integer(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected p_type to be f16, bf16 or f32, got 'i8'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64, p_type = i8} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// f64 is wider than the f32 accumulator: not a rounding of P.
func.func @step_p_type_f64(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.online_step' op expected p_type to be f16, bf16 or f32, got 'f64'}}
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64, p_type = f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  return %a : tensor<2x4x32xf32>
}

// -----

// The score_mod signature on a tile op is the same as on attn.attention.
func.func @tile_score_mod_signature(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected the score_mod region arguments to be (f32, index, index, index, index): (score, b, h, q_idx, kv_idx)}}
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  score_mod {
  ^bb0(%s: f32, %i0: index, %j0: index):
    attn.yield %s : f32
  }
  return %o : tensor<2x4x32xf32>
}

// -----

// A tile's mask_mod yields i1, not the f32 of a score.
func.func @tile_mask_mod_yield_type(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  %a, %mm, %ll = attn.online_step ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) state(%acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  mask_mod {
  ^bb0(%b: index, %h: index, %qi: index, %kj: index):
    %zero = arith.constant 0.0 : f32
    // expected-error @+1 {{'attn.yield' op expected mask_mod to yield a single 'i1'}}
    attn.yield %zero : f32
  }
  return %a : tensor<2x4x32xf32>
}

// -----

// attn.yield belongs only to attention regions: not to a linalg.generic.
func.func @yield_in_generic(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} outs(%x : tensor<4xf32>) {
  ^bb0(%o: f32):
    // expected-error @+1 {{'attn.yield' op expects parent op to be one of 'attn.attention, attn.block_attention, attn.online_step, attn.attention_backward, attn.backward_step'}}
    attn.yield %o : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// attn.finalize: the output has the accumulator's shape [2, 4, 32].
func.func @finalize_output_shape(%acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x16xbf16> {
  // expected-error @+1 {{'attn.finalize' op expected the output to have the accumulator's shape 'tensor<2x4x32xf32>'}}
  %o, %lse = attn.finalize %acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4x16xbf16>, tensor<2x4xf32>
  return %o : tensor<2x4x16xbf16>
}

// -----

// A rank-0 accumulator has no Dv to normalise.
func.func @finalize_rank0_acc(%acc: tensor<f32>, %m: tensor<f32>, %l: tensor<f32>) -> tensor<f32> {
  // expected-error @+1 {{'attn.finalize' op expected an accumulator of rank >= 2 ([rows..., Dv])}}
  %o, %lse = attn.finalize %acc, %m, %l : tensor<f32>, tensor<f32>, tensor<f32> -> tensor<f32>, tensor<f32>
  return %o : tensor<f32>
}

// -----

// finalize's max is the accumulator's rows.
func.func @finalize_max_shape(%acc: tensor<2x4x32xf32>, %m: tensor<2x32xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.finalize' op expected max to be 'tensor<2x4xf32>', got 'tensor<2x32xf32>'}}
  %o, %lse = attn.finalize %acc, %m, %l : tensor<2x4x32xf32>, tensor<2x32xf32>, tensor<2x4xf32> -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// finalize's sum is the accumulator's rows.
func.func @finalize_sum_shape(%acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.finalize' op expected sum to be 'tensor<2x4xf32>', got 'tensor<4xf32>'}}
  %o, %lse = attn.finalize %acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<4xf32> -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// finalize's LSE result is the accumulator's rows.
func.func @finalize_lse_shape(%acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.finalize' op expected lse to be 'tensor<2x4xf32>', got 'tensor<2x4x32xf32>'}}
  %o, %lse = attn.finalize %acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4x32xf32>, tensor<2x4x32xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// The finalized output is a float type of the inputs (ODS constraint).
func.func @finalize_integer_output(%acc: tensor<2x4x32xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x32xi8> {
  // expected-error @+1 {{result #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float values, but got 'tensor<2x4x32xi8>'}}
  %o, %lse = attn.finalize %acc, %m, %l : tensor<2x4x32xf32>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4x32xi8>, tensor<2x4xf32>
  return %o : tensor<2x4x32xi8>
}

// -----

// attn.combine of nothing (only the generic form can write it).
func.func @combine_no_partials() -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.combine' op expected at least one partial result}}
  %o, %lse = "attn.combine"() : () -> (tensor<2x4x32xf32>, tensor<2x4xf32>)
  return %o : tensor<2x4x32xf32>
}

// -----

// Partials of one query tile all have the result's type.
func.func @combine_output_mismatch(%o0: tensor<2x4x32xf32>, %o1: tensor<2x4x16xf32>, %l0: tensor<2x4xf32>, %l1: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.combine' op expected every partial output to be 'tensor<2x4x32xf32>', got 'tensor<2x4x16xf32>'}}
  %o, %lse = attn.combine outputs(%o0, %o1 : tensor<2x4x32xf32>, tensor<2x4x16xf32>) lses(%l0, %l1 : tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// The result LSE is the output's rows: [2, 4], not [2].
func.func @combine_lse_shape(%o0: tensor<2x4x32xf32>, %o1: tensor<2x4x32xf32>, %l0: tensor<2xf32>, %l1: tensor<2xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.combine' op expected lse to be 'tensor<2x4xf32>', got 'tensor<2xf32>'}}
  %o, %lse = attn.combine outputs(%o0, %o1 : tensor<2x4x32xf32>, tensor<2x4x32xf32>) lses(%l0, %l1 : tensor<2xf32>, tensor<2xf32>) -> tensor<2x4x32xf32>, tensor<2xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// Every partial LSE has the result LSE's type.
func.func @combine_lse_mismatch(%o0: tensor<2x4x32xf32>, %o1: tensor<2x4x32xf32>, %o2: tensor<2x4x32xf32>, %l0: tensor<2x4xf32>, %l1: tensor<2x4xf32>, %l2: tensor<4x2xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{'attn.combine' op expected every partial LSE to be 'tensor<2x4xf32>', got 'tensor<4x2xf32>'}}
  %o, %lse = attn.combine outputs(%o0, %o1, %o2 : tensor<2x4x32xf32>, tensor<2x4x32xf32>, tensor<2x4x32xf32>) lses(%l0, %l1, %l2 : tensor<2x4xf32>, tensor<2x4xf32>, tensor<4x2xf32>) -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// Rank-0 partial outputs have no Dv.
func.func @combine_rank0(%o0: tensor<f32>, %l0: tensor<f32>) -> tensor<f32> {
  // expected-error @+1 {{'attn.combine' op expected outputs of rank >= 2 ([rows..., Dv])}}
  %o, %lse = attn.combine outputs(%o0 : tensor<f32>) lses(%l0 : tensor<f32>) -> tensor<f32>, tensor<f32>
  return %o : tensor<f32>
}

// -----

// Partials are f32 (ODS constraint): a bf16 partial is rejected.
func.func @combine_bf16_partial(%o0: tensor<2x4x32xbf16>, %l0: tensor<2x4xf32>) -> tensor<2x4x32xf32> {
  // expected-error @+1 {{operand #0 must be variadic of ranked tensor of 32-bit float values, but got 'tensor<2x4x32xbf16>'}}
  %o, %lse = attn.combine outputs(%o0 : tensor<2x4x32xbf16>) lses(%l0 : tensor<2x4xf32>) -> tensor<2x4x32xf32>, tensor<2x4xf32>
  return %o : tensor<2x4x32xf32>
}

// -----

// Tile regions are evaluated per score element, in any order: no side
// effects.
func.func @tile_score_mod_side_effect(%q: tensor<2x4x16xf32>, %k: tensor<8x16xf32>, %v: tensor<8x32xf32>, %i: index, %buf: memref<4xf32>) -> tensor<2x4x32xf32> {
  %o, %lse = attn.block_attention ins(%q, %k, %v : tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8x32xf32>) at(%i, %i, %i, %i) lengths(%i, %i) {scale = 0.25 : f64} -> tensor<2x4x32xf32>, tensor<2x4xf32>
  score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %qi: index, %kj: index):
    // expected-error @+1 {{'memref.store' op expected only side-effect-free operations in the score_mod region}}
    memref.store %s, %buf[%qi] : memref<4xf32>
    attn.yield %s : f32
  }
  return %o : tensor<2x4x32xf32>
}

// -----

// A rank-1 accumulator has no row dimension to normalise along.
func.func @finalize_rank1(%acc: tensor<16xf32>, %m: tensor<f32>, %l: tensor<f32>) -> tensor<16xf16> {
  // expected-error @+1 {{'attn.finalize' op expected an accumulator of rank >= 2 ([rows..., Dv])}}
  %o, %lse = attn.finalize %acc, %m, %l : tensor<16xf32>, tensor<f32>, tensor<f32> -> tensor<16xf16>, tensor<f32>
  return %o : tensor<16xf16>
}

// -----

func.func @combine_rank1(%o0: tensor<16xf32>, %l0: tensor<f32>) -> tensor<16xf32> {
  // expected-error @+1 {{'attn.combine' op expected outputs of rank >= 2 ([rows..., Dv])}}
  %o, %lse = attn.combine outputs(%o0 : tensor<16xf32>) lses(%l0 : tensor<f32>) -> tensor<16xf32>, tensor<f32>
  return %o : tensor<16xf32>
}

// -----

// The generic form can misplace operands between single-operand groups; the
// printer would then silently drop one.
func.func @tile_group_sizes(%q: tensor<2x4x16xf32>, %k: tensor<4x16xf32>, %v: tensor<4x16xf32>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index) -> tensor<2x4x16xf32> {
  // expected-error @+1 {{'attn.block_attention' op expected exactly one operand in operand group #5}}
  %o, %lse = "attn.block_attention"(%q, %k, %v, %b, %h, %qp, %kp, %lq, %lk) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 2, 1, 1, 1, 1>, scale = 1.0 : f64}> ({}, {}) : (tensor<2x4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, index, index, index, index, index, index) -> (tensor<2x4x16xf32>, tensor<2x4xf32>)
  return %o : tensor<2x4x16xf32>
}

// -----

func.func @step_group_sizes(%q: tensor<2x4x16xf32>, %k: tensor<4x16xf32>, %b: index, %h: index, %qp: index, %kp: index, %lq: index, %lk: index, %acc: tensor<2x4x16xf32>, %m: tensor<2x4xf32>, %l: tensor<2x4xf32>) -> tensor<2x4x16xf32> {
  // expected-error @+1 {{'attn.online_step' op expected exactly one operand in operand group #0}}
  %a, %mm, %ll = "attn.online_step"(%q, %q, %k, %b, %h, %qp, %kp, %lq, %lk, %acc, %m, %l) <{operandSegmentSizes = array<i32: 2, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1>, scale = 1.0 : f64}> ({}, {}) : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<4x16xf32>, index, index, index, index, index, index, tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> (tensor<2x4x16xf32>, tensor<2x4xf32>, tensor<2x4xf32>)
  return %a : tensor<2x4x16xf32>
}

// -----

func.func @paged_view_length(%pages: tensor<8x4x2x16xf32>, %table: tensor<2x4xi32>) -> tensor<2x2x12x16xf32> {
  // expected-error @+1 {{expected the view to be [B, Hkv, max_pages * page_size, D] = 'tensor<2x2x16x16xf32>', got 'tensor<2x2x12x16xf32>'}}
  %k = attn.paged_view %pages[%table] : tensor<8x4x2x16xf32>, tensor<2x4xi32> -> tensor<2x2x12x16xf32>
  return %k : tensor<2x2x12x16xf32>
}

// -----

func.func @paged_view_rank(%pages: tensor<8x4x16xf32>, %table: tensor<2x4xi32>) -> tensor<2x2x16x16xf32> {
  // expected-error @+1 {{expected pages [num_pages, page_size, Hkv, D], a block table [B, max_pages] and a view [B, Hkv, L, D]}}
  %k = attn.paged_view %pages[%table] : tensor<8x4x16xf32>, tensor<2x4xi32> -> tensor<2x2x16x16xf32>
  return %k : tensor<2x2x16x16xf32>
}

// -----

func.func @paged_view_dynamic_page(%pages: tensor<8x?x2x16xf32>, %table: tensor<2x4xi32>) -> tensor<2x2x?x16xf32> {
  // expected-error @+1 {{expected static, positive page size, head count and head dimension}}
  %k = attn.paged_view %pages[%table] : tensor<8x?x2x16xf32>, tensor<2x4xi32> -> tensor<2x2x?x16xf32>
  return %k : tensor<2x2x?x16xf32>
}

// -----

func.func @paged_view_dtype(%pages: tensor<8x4x2x16xf32>, %table: tensor<2x4xi32>) -> tensor<2x2x16x16xbf16> {
  // expected-error @+1 {{expected the view to have the pages' element type}}
  %k = attn.paged_view %pages[%table] : tensor<8x4x2x16xf32>, tensor<2x4xi32> -> tensor<2x2x16x16xbf16>
  return %k : tensor<2x2x16x16xbf16>
}

// -----

func.func @paged_view_table_type(%pages: tensor<8x4x2x16xf32>, %table: tensor<2x4xi64>) -> tensor<2x2x16x16xf32> {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit signless integer values}}
  %k = attn.paged_view %pages[%table] : tensor<8x4x2x16xf32>, tensor<2x4xi64> -> tensor<2x2x16x16xf32>
  return %k : tensor<2x2x16x16xf32>
}

// -----

func.func @key_lengths_shape(%q: tensor<2x4x1x16xf32>, %k: tensor<2x2x64x16xf32>, %v: tensor<2x2x64x16xf32>, %lens: tensor<3xi32>) -> tensor<2x4x1x16xf32> {
  // expected-error @+1 {{expected key_lengths of shape [B] = [2], got 'tensor<3xi32>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) key_lengths(%lens : tensor<3xi32>) -> tensor<2x4x1x16xf32>
  return %o : tensor<2x4x1x16xf32>
}

// -----

func.func @key_lengths_type(%q: tensor<2x4x1x16xf32>, %k: tensor<2x2x64x16xf32>, %v: tensor<2x2x64x16xf32>, %lens: tensor<2xi64>) -> tensor<2x4x1x16xf32> {
  // expected-error @+1 {{operand #3 must be ranked tensor of 32-bit signless integer values, but got 'tensor<2xi64>'}}
  %o = attn.attention ins(%q, %k, %v : tensor<2x4x1x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>) key_lengths(%lens : tensor<2xi64>) -> tensor<2x4x1x16xf32>
  return %o : tensor<2x4x1x16xf32>
}

// -----

func.func @kv_append_heads(%new: tensor<2x4x4x16xf32>, %cache: tensor<2x2x64x16xf32>, %pos: tensor<2xi32>) -> tensor<2x2x64x16xf32> {
  // expected-error @+1 {{expected tokens and cache to agree in batch, heads and head dimension, got 'tensor<2x4x4x16xf32>' and 'tensor<2x2x64x16xf32>'}}
  %k = attn.kv_append %new into %cache at %pos : tensor<2x4x4x16xf32> into tensor<2x2x64x16xf32> at tensor<2xi32> -> tensor<2x2x64x16xf32>
  return %k : tensor<2x2x64x16xf32>
}

// -----

func.func @kv_append_result(%new: tensor<2x2x4x16xf32>, %cache: tensor<2x2x64x16xf32>, %pos: tensor<2xi32>) -> tensor<2x2x32x16xf32> {
  // expected-error @+1 {{expected the result to have the cache's type}}
  %k = attn.kv_append %new into %cache at %pos : tensor<2x2x4x16xf32> into tensor<2x2x64x16xf32> at tensor<2xi32> -> tensor<2x2x32x16xf32>
  return %k : tensor<2x2x32x16xf32>
}

// -----

func.func @kv_append_positions(%new: tensor<2x2x4x16xf32>, %cache: tensor<2x2x64x16xf32>, %pos: tensor<3xi32>) -> tensor<2x2x64x16xf32> {
  // expected-error @+1 {{expected one position per sequence}}
  %k = attn.kv_append %new into %cache at %pos : tensor<2x2x4x16xf32> into tensor<2x2x64x16xf32> at tensor<3xi32> -> tensor<2x2x64x16xf32>
  return %k : tensor<2x2x64x16xf32>
}

// -----

func.func @kv_append_dtype(%new: tensor<2x2x4x16xbf16>, %cache: tensor<2x2x64x16xf32>, %pos: tensor<2xi32>) -> tensor<2x2x64x16xf32> {
  // expected-error @+1 {{expected tokens of the cache's element type}}
  %k = attn.kv_append %new into %cache at %pos : tensor<2x2x4x16xbf16> into tensor<2x2x64x16xf32> at tensor<2xi32> -> tensor<2x2x64x16xf32>
  return %k : tensor<2x2x64x16xf32>
}

// -----

func.func @kv_tile_rank(%k: tensor<4x64x32xbf16>, %i: index) -> tensor<16x32xbf16> {
  // expected-error @+1 {{expected a 4-D source and an [N, D] tile}}
  %t = attn.kv_tile %k[%i, %i, %i] : tensor<4x64x32xbf16> -> tensor<16x32xbf16>
  return %t : tensor<16x32xbf16>
}

// -----

func.func @sinks_element_type(%q: tensor<2x4x8x16xf32>, %kv: tensor<2x2x8x16xf32>, %s: tensor<4xf16>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected sinks of type tensor<4xf32> (one f32 logit per query head), got 'tensor<4xf16>'}}
  %o = attn.attention ins(%q, %kv, %kv : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) sinks(%s : tensor<4xf16>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @kv_tile_width(%k: tensor<1x4x64x32xbf16>, %i: index) -> tensor<16x16xbf16> {
  // expected-error @+1 {{expected the tile's row width 16 to equal the source's head dim 32}}
  %t = attn.kv_tile %k[%i, %i, %i] : tensor<1x4x64x32xbf16> -> tensor<16x16xbf16>
  return %t : tensor<16x16xbf16>
}

// -----

func.func @sinks_rank(%q: tensor<2x4x8x16xf32>, %kv: tensor<2x2x8x16xf32>, %s: tensor<1x4xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected sinks of type tensor<4xf32> (one f32 logit per query head), got 'tensor<1x4xf32>'}}
  %o = attn.attention ins(%q, %kv, %kv : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) sinks(%s : tensor<1x4xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @kv_tile_type(%k: tensor<1x4x64x32xbf16>, %i: index) -> tensor<16x32xf16> {
  // expected-error @+1 {{expected the tile to have the source's element type}}
  %t = attn.kv_tile %k[%i, %i, %i] : tensor<1x4x64x32xbf16> -> tensor<16x32xf16>
  return %t : tensor<16x32xf16>
}

// -----

// A shard of 4 of 8 heads takes the sinks of all 8 (indexed globally).
func.func @sinks_shard_length(%q: tensor<2x4x8x16xf32>, %kv: tensor<2x2x8x16xf32>, %s: tensor<4xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected sinks of type tensor<8xf32> (one f32 logit per query head), got 'tensor<4xf32>'}}
  %o = attn.attention ins(%q, %kv, %kv : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) sinks(%s : tensor<4xf32>) {head_offset = 4 : i64, num_heads_total = 8 : i64} -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @kv_tile_dynamic(%k: tensor<1x4x64x32xbf16>, %i: index) -> tensor<?x32xbf16> {
  // expected-error @+1 {{expected a static tile of at least one row}}
  %t = attn.kv_tile %k[%i, %i, %i] : tensor<1x4x64x32xbf16> -> tensor<?x32xbf16>
  return %t : tensor<?x32xbf16>
}

// -----

func.func @sinks_dynamic(%q: tensor<2x4x8x16xf32>, %kv: tensor<2x2x8x16xf32>, %s: tensor<?xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expected sinks of type tensor<4xf32> (one f32 logit per query head), got 'tensor<?xf32>'}}
  %o = attn.attention ins(%q, %kv, %kv : tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) sinks(%s : tensor<?xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

func.func @kv_prefix_wider(%kv: tensor<2x1x64x64xbf16>) -> tensor<2x1x64x80xbf16> {
  // expected-error @+1 {{expected static head dims with 1 <= Dv <= D, got Dv = 80 of D = 64}}
  %v = attn.kv_prefix %kv : tensor<2x1x64x64xbf16> -> tensor<2x1x64x80xbf16>
  return %v : tensor<2x1x64x80xbf16>
}

// -----

func.func @kv_prefix_rows(%kv: tensor<2x1x64x576xbf16>) -> tensor<2x1x32x512xbf16> {
  // expected-error @+1 {{expected the view to have the source's batch, head and sequence dims, got 'tensor<2x1x32x512xbf16>' of 'tensor<2x1x64x576xbf16>'}}
  %v = attn.kv_prefix %kv : tensor<2x1x64x576xbf16> -> tensor<2x1x32x512xbf16>
  return %v : tensor<2x1x32x512xbf16>
}

// -----

func.func @kv_prefix_dtype(%kv: tensor<2x1x64x576xbf16>) -> tensor<2x1x64x512xf16> {
  // expected-error @+1 {{expected the view to have the source's element type}}
  %v = attn.kv_prefix %kv : tensor<2x1x64x576xbf16> -> tensor<2x1x64x512xf16>
  return %v : tensor<2x1x64x512xf16>
}

// -----

func.func @kv_prefix_rank(%kv: tensor<64x576xbf16>) -> tensor<64x512xbf16> {
  // expected-error @+1 {{expected a 4-D source and view}}
  %v = attn.kv_prefix %kv : tensor<64x576xbf16> -> tensor<64x512xbf16>
  return %v : tensor<64x512xbf16>
}

// -----

func.func @kv_prefix_layout(%pages: tensor<8x4x1x80xbf16>, %table: tensor<2x4xi32>) -> tensor<2x1x16x64xbf16> {
  %k = attn.paged_view %pages[%table] : tensor<8x4x1x80xbf16>, tensor<2x4xi32> -> tensor<2x1x16x80xbf16>
  // expected-error @+1 {{expected the layout of the source view (bhsd)}}
  %v = attn.kv_prefix %k {layout = #attn.layout<bshd>} : tensor<2x1x16x80xbf16> -> tensor<2x1x16x64xbf16>
  return %v : tensor<2x1x16x64xbf16>
}
