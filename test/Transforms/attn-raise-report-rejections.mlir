// RUN: attn-opt %s --attn-raise="allow-reassociation=false report-rejections" --split-input-file -verify-diagnostics | FileCheck %s

// With report-rejections, every attention candidate left unraised (a
// contraction whose result reaches a softmax) gets a remark at the op where
// matching stopped, saying what to change. Contractions that feed no
// softmax (P.V, unrelated matmuls) get none; raised chains get none. The
// run is exact (allow-reassociation=false), so a candidate that would only
// be raised with reassociation says so too.

// The softmax runs over the query axis (dimension 1 of [B*H, Lq, Lk]).
// CHECK-LABEL: func.func @softmax_wrong_axis
// CHECK: linalg.softmax dimension(1)
func.func @softmax_wrong_axis(%q: tensor<4x8x16xf32>, %kt: tensor<4x16x8xf32>, %v: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  // expected-remark @below {{attn-raise: attention not raised: softmax is not over the key axis}}
  %p = linalg.softmax dimension(1) ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %o : tensor<4x8x16xf32>
}

// -----

// The scale is a function argument: the remark points into the body.
// CHECK-LABEL: func.func @runtime_scale
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @runtime_scale(%q: tensor<4x8x16xf32>, %kt: tensor<4x16x8xf32>, %v: tensor<4x8x16xf32>, %scale: f32) -> tensor<4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    // expected-remark @below {{attn-raise: attention not raised: scores scaled by a non-constant}}
    %m = arith.mulf %a, %scale : f32
    linalg.yield %m : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %o : tensor<4x8x16xf32>
}

// -----

// An anti-causal mask (keys before the query are masked) is no window the
// op expresses: the remark is at the select.
// CHECK-LABEL: func.func @anti_causal
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @anti_causal(%q: tensor<4x8x16xf32>, %kt: tensor<4x16x8xf32>, %v: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %past = arith.cmpi ult, %j, %i : index
    // expected-remark @below {{attn-raise: attention not raised: mask is neither causal nor a sliding window bounded on both sides}}
    %r = arith.select %past, %ninf, %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %o : tensor<4x8x16xf32>
}

// -----

// Q.K^T accumulates into the bias instead of zeros: the remark is at the
// contraction itself.
// CHECK-LABEL: func.func @nonzero_accumulator
func.func @nonzero_accumulator(%q: tensor<4x8x16xf32>, %kt: tensor<4x16x8xf32>, %v: tensor<4x8x16xf32>, %bias: tensor<4x8x8xf32>) -> tensor<4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  // expected-remark @below {{attn-raise: attention not raised: Q.K^T is not a contraction of static tensors (one m, n and k dimension) into zeros}}
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%bias : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %o : tensor<4x8x16xf32>
}

// -----

// A plain matmul feeding no softmax is no candidate: no remark. A raised
// attention beside it gets none either.
// CHECK-LABEL: func.func @no_candidates
// CHECK: linalg.matmul
// CHECK: attn.attention
func.func @no_candidates(%a: tensor<8x16xf32>, %b: tensor<16x8xf32>, %q: tensor<4x8x16xf32>, %kt: tensor<4x16x8xf32>, %v: tensor<4x8x16xf32>) -> (tensor<8x8xf32>, tensor<4x8x16xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %me = tensor.empty() : tensor<8x8xf32>
  %mz = linalg.fill ins(%zero : f32) outs(%me : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x8xf32>) outs(%mz : tensor<8x8xf32>) -> tensor<8x8xf32>
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %m, %o : tensor<8x8xf32>, tensor<4x8x16xf32>
}

// -----

// Division by 3 turned into a multiplication by 1/3 rounds differently:
// rejected by allow-reassociation=false, reported at Q.K^T.
// CHECK-LABEL: func.func @inexact_scale
// CHECK: linalg.softmax
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @inexact_scale(%q: tensor<4x8x16xf32>, %kt: tensor<4x16x8xf32>, %v: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %three = arith.constant 3.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  // expected-remark @below {{attn-raise: attention not raised: raising would change the rounding (allow-reassociation=false)}}
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.divf %a, %three : f32
    linalg.yield %m : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %o : tensor<4x8x16xf32>
}
