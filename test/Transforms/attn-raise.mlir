// RUN: attn-opt %s --attn-raise --split-input-file | FileCheck %s --check-prefixes=CHECK,DEFAULT
// RUN: attn-opt %s --attn-raise=allow-reassociation=false --split-input-file | FileCheck %s --check-prefixes=CHECK,EXACT

// Every positive case computes O = softmax(scale * Q.K^T + bias/mask) . V in
// a form a torch or ONNX importer emits and must become one attn.attention
// on the original 4-D tensors (functions named @neg_* must stay unchanged).
// The same graphs are executed before and after raising by
// test/Unit/RaiseTest.cpp, which reads this file.

// torch-mlir style MHA: B*H collapsed, K^T by linalg.transpose,
// linalg.batch_matmul, scale by multiplication, linalg.softmax.
//   O = softmax(0.25 * Q.K^T) . V       Q, K, V: [2, 4, 8, 16]
// CHECK-LABEL: func.func @mha_batch_matmul
// CHECK-SAME: (%[[Q:.+]]: tensor<2x4x8x16xf32>, %[[K:.+]]: tensor<2x4x8x16xf32>, %[[V:.+]]: tensor<2x4x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) {scale = 2.500000e-01 : f64} -> tensor<2x4x8x16xf32>
// CHECK-NEXT: return %[[O]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @mha_batch_matmul(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %c = arith.constant 2.500000e-01 : f32
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %te = tensor.empty() : tensor<8x16x8xf32>
  %kt = linalg.transpose ins(%k3 : tensor<8x8x16xf32>) outs(%te : tensor<8x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<8x8x8xf32>
  %sz = linalg.fill ins(%cst : f32) outs(%se : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %s = linalg.batch_matmul ins(%q3, %kt : tensor<8x8x16xf32>, tensor<8x16x8xf32>) outs(%sz : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %ss = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<8x8x8xf32>) outs(%se : tensor<8x8x8xf32>) {
  ^bb0(%x: f32, %o: f32):
    %m = arith.mulf %x, %c : f32
    linalg.yield %m : f32
  } -> tensor<8x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<8x8x8xf32>) outs(%se : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %oe = tensor.empty() : tensor<8x8x16xf32>
  %oz = linalg.fill ins(%cst : f32) outs(%oe : tensor<8x8x16xf32>) -> tensor<8x8x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<8x8x8xf32>, tensor<8x8x16xf32>) outs(%oz : tensor<8x8x16xf32>) -> tensor<8x8x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 4, 8, 16] : tensor<8x8x16xf32> into tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// 4-D linalg.generic contractions with K^T folded into the maps, the scale
// as a division by sqrt(16) and the softmax fully decomposed.
//   S = Q.K^T / 4;  m = max_j S;  E = exp(S - m);  l = sum_j E
//   O = (E / l) . V                     Q, K, V: [1, 2, 8, 16]
// CHECK-LABEL: func.func @mha_generic_decomposed
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x8x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {scale = 2.500000e-01 : f64} -> tensor<1x2x8x16xf32>
// CHECK-NEXT: return %[[O]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#row4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @mha_generic_decomposed(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %four = arith.constant 4.000000e+00 : f32
  %se = tensor.empty() : tensor<1x2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %four : f32
    linalg.yield %d : f32
  } -> tensor<1x2x8x8xf32>
  %re = tensor.empty() : tensor<1x2x8xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%re : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %max = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x : tensor<1x2x8x8xf32>) outs(%mi : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %sub = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %max : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.subf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %exp = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sub : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %si = linalg.fill ins(%zero : f32) outs(%re : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%exp : tensor<1x2x8x8xf32>) outs(%si : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %oe = tensor.empty() : tensor<1x2x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// GQA through HF-style repeat_kv: K and V [1, 2, 8, 16] broadcast to
// [1, 2, 4, 8, 16] and collapsed to 8 heads; the repeat folds into
// Hq / Hkv = 8 / 2 (query head h reads kv head h / 4).
//   O[h] = softmax(0.25 * Q[h].K[h / 4]^T) . V[h / 4]
// CHECK-LABEL: func.func @gqa_repeat_kv
// CHECK-SAME: (%[[Q:.+]]: tensor<1x8x8x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x8x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {scale = 2.500000e-01 : f64} -> tensor<1x8x8x16xf32>
// CHECK-NEXT: return %[[O]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @gqa_repeat_kv(%q: tensor<1x8x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x8x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %be = tensor.empty() : tensor<1x2x4x8x16xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x2x8x16xf32>) outs(%be : tensor<1x2x4x8x16xf32>) dimensions = [2]
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x4x8x16xf32> into tensor<1x8x8x16xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x2x8x16xf32>) outs(%be : tensor<1x2x4x8x16xf32>) dimensions = [2]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x4x8x16xf32> into tensor<1x8x8x16xf32>
  %se = tensor.empty() : tensor<1x8x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %kr : tensor<1x8x8x16xf32>, tensor<1x8x8x16xf32>) outs(%sz : tensor<1x8x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x8x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x8x8x8xf32>) outs(%se : tensor<1x8x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.mulf %a, %scale : f32
    linalg.yield %d : f32
  } -> tensor<1x8x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x8x8x8xf32>) outs(%se : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  %oe = tensor.empty() : tensor<1x8x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %vr : tensor<1x8x8x8xf32>, tensor<1x8x8x16xf32>) outs(%oz : tensor<1x8x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x8x8x16xf32>
  return %o : tensor<1x8x8x16xf32>
}

// -----

// MQA in torch-mlir's 3-D form: K and V [1, 1, 8, 16] unsqueezed, expanded
// by a broadcasting linalg.generic, collapsed to 4 heads and then to B*H.
//   O[h] = softmax(Q[h].K[0]^T / 4) . V[0]      Hq = 4, Hkv = 1
// CHECK-LABEL: func.func @mqa_expand_generic
// CHECK-SAME: (%[[Q:.+]]: tensor<1x4x8x16xf32>, %[[K:.+]]: tensor<1x1x8x16xf32>, %[[V:.+]]: tensor<1x1x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x4x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>) {scale = 2.500000e-01 : f64} -> tensor<1x4x8x16xf32>
// CHECK-NEXT: return %[[O]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#rep_in = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>
#rep_out = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
func.func @mqa_expand_generic(%q: tensor<1x4x8x16xf32>, %k: tensor<1x1x8x16xf32>, %v: tensor<1x1x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %four = arith.constant 4.000000e+00 : f32
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %be = tensor.empty() : tensor<1x1x4x8x16xf32>
  %k5 = tensor.expand_shape %k [[0], [1, 2], [3], [4]] output_shape [1, 1, 1, 8, 16] : tensor<1x1x8x16xf32> into tensor<1x1x1x8x16xf32>
  %kb = linalg.generic {indexing_maps = [#rep_in, #rep_out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%k5 : tensor<1x1x1x8x16xf32>) outs(%be : tensor<1x1x4x8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<1x1x4x8x16xf32>
  %k4 = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x1x4x8x16xf32> into tensor<1x4x8x16xf32>
  %k3 = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v5 = tensor.expand_shape %v [[0], [1, 2], [3], [4]] output_shape [1, 1, 1, 8, 16] : tensor<1x1x8x16xf32> into tensor<1x1x1x8x16xf32>
  %vb = linalg.generic {indexing_maps = [#rep_in, #rep_out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%v5 : tensor<1x1x1x8x16xf32>) outs(%be : tensor<1x1x4x8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<1x1x4x8x16xf32>
  %v4 = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x1x4x8x16xf32> into tensor<1x4x8x16xf32>
  %v3 = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %te = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k3 : tensor<4x8x16xf32>) outs(%te : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q3, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %four : f32
    linalg.yield %d : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o : tensor<1x4x8x16xf32>
}

// -----

// Causal mask as arith.select on a linalg.index comparison (key j after
// query i gets -inf), fused with the scale. Lq == Lk, so top-left.
//   S[i, j] = j > i ? -inf : 0.25 * Q.K^T[i, j]
// CHECK-LABEL: func.func @causal_select_index
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x8x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {mask_kind = #attn.mask<causal_top_left>, scale = 2.500000e-01 : f64} -> tensor<1x2x8x16xf32>
// CHECK-NEXT: return %[[O]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @causal_select_index(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %se = tensor.empty() : tensor<1x2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %future = arith.cmpi ugt, %j, %i : index
    %sc = arith.mulf %a, %scale : f32
    %r = arith.select %future, %ninf, %sc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %oe = tensor.empty() : tensor<1x2x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// Causal mask as an added constant: Lq = 4 queries over Lk = 8 keys (a KV
// cache), -inf above the diagonal shifted by Lk - Lq = 4: bottom-right.
//   S[i, j] = Q.K^T[i, j] / 4 + (j > i + 4 ? -inf : 0)
// CHECK-LABEL: func.func @causal_bottom_right_additive
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x4x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x4x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {mask_kind = #attn.mask<causal_bottom_right>, scale = 2.500000e-01 : f64} -> tensor<1x2x4x16xf32>
// CHECK-NEXT: return %[[O]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#mask3 = affine_map<(d0, d1, d2) -> (d1, d2)>
func.func @causal_bottom_right_additive(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x4x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %four = arith.constant 4.000000e+00 : f32
  %mask = arith.constant dense<[
    [0.0, 0.0, 0.0, 0.0, 0.0, 0xFF800000, 0xFF800000, 0xFF800000],
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0xFF800000, 0xFF800000],
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0xFF800000],
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<4x8xf32>
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x4x16xf32> into tensor<2x4x16xf32>
  %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<1x2x8x16xf32> into tensor<2x8x16xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x8x16xf32> into tensor<2x8x16xf32>
  %te = tensor.empty() : tensor<2x16x8xf32>
  %kt = linalg.transpose ins(%k3 : tensor<2x8x16xf32>) outs(%te : tensor<2x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<2x4x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %s = linalg.batch_matmul ins(%q3, %kt : tensor<2x4x16xf32>, tensor<2x16x8xf32>) outs(%sz : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<2x4x8xf32>) outs(%se : tensor<2x4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %four : f32
    linalg.yield %d : f32
  } -> tensor<2x4x8xf32>
  %xm = linalg.generic {indexing_maps = [#id3, #mask3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %mask : tensor<2x4x8xf32>, tensor<4x8xf32>) outs(%se : tensor<2x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x4x8xf32>
  %p = linalg.softmax dimension(2) ins(%xm : tensor<2x4x8xf32>) outs(%se : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %oe = tensor.empty() : tensor<2x4x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<2x4x8xf32>, tensor<2x8x16xf32>) outs(%oz : tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [1, 2, 4, 16] : tensor<2x4x16xf32> into tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// Scale applied to Q before the product (0.375 is not a power of two, so
// folding it after the product rounds differently: only raised with
// allow-reassociation) and an additive bias broadcast over batch and heads.
//   S = (0.375 * Q).K^T + bias[0, 0]      bias: [1, 1, 8, 8]
// CHECK-LABEL: func.func @q_scale_and_bias
// CHECK-SAME: (%[[Q:.+]]: tensor<2x2x8x16xf32>, %[[K:.+]]: tensor<2x2x8x16xf32>, %[[V:.+]]: tensor<2x2x8x16xf32>, %[[BIAS:.+]]: tensor<1x1x8x8xf32>)
// DEFAULT-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) bias(%[[BIAS]] : tensor<1x1x8x8xf32>) {scale = 3.750000e-01 : f64} -> tensor<2x2x8x16xf32>
// DEFAULT-NEXT: return %[[O]]
// EXACT-NOT: attn.attention
// EXACT: linalg.softmax
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#bias = affine_map<(d0, d1, d2, d3) -> (0, 0, d2, d3)>
func.func @q_scale_and_bias(%q: tensor<2x2x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %bias: tensor<1x1x8x8xf32>) -> tensor<2x2x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 3.750000e-01 : f32
  %qe = tensor.empty() : tensor<2x2x8x16xf32>
  %qs = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%q : tensor<2x2x8x16xf32>) outs(%qe : tensor<2x2x8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.mulf %a, %scale : f32
    linalg.yield %d : f32
  } -> tensor<2x2x8x16xf32>
  %se = tensor.empty() : tensor<2x2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<2x2x8x8xf32>) -> tensor<2x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%qs, %k : tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) outs(%sz : tensor<2x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x2x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #bias, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %bias : tensor<2x2x8x8xf32>, tensor<1x1x8x8xf32>) outs(%se : tensor<2x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x2x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<2x2x8x8xf32>) outs(%se : tensor<2x2x8x8xf32>) -> tensor<2x2x8x8xf32>
  %oe = tensor.empty() : tensor<2x2x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<2x2x8x16xf32>) -> tensor<2x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<2x2x8x8xf32>, tensor<2x2x8x16xf32>) outs(%oz : tensor<2x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x2x8x16xf32>
  return %o : tensor<2x2x8x16xf32>
}

// -----

// BSHD operands: Q, K, V [B, L, H, D] transposed to [B, H, L, D] for the
// math and the output transposed back; the transposes become the layout.
//   O[b, i, h] = softmax(0.25 * Q[b, :, h].K[b, :, h]^T)[i] . V[b, :, h]
// CHECK-LABEL: func.func @bshd_layout
// CHECK-SAME: (%[[Q:.+]]: tensor<1x8x2x16xf32>, %[[K:.+]]: tensor<1x8x2x16xf32>, %[[V:.+]]: tensor<1x8x2x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) {layout = #attn.layout<bshd>, scale = 2.500000e-01 : f64} -> tensor<1x8x2x16xf32>
// CHECK-NEXT: return %[[O]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @bshd_layout(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x2x16xf32>) -> tensor<1x8x2x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %te = tensor.empty() : tensor<1x2x8x16xf32>
  %qt = linalg.transpose ins(%q : tensor<1x8x2x16xf32>) outs(%te : tensor<1x2x8x16xf32>) permutation = [0, 2, 1, 3]
  %kt = linalg.transpose ins(%k : tensor<1x8x2x16xf32>) outs(%te : tensor<1x2x8x16xf32>) permutation = [0, 2, 1, 3]
  %vt = linalg.transpose ins(%v : tensor<1x8x2x16xf32>) outs(%te : tensor<1x2x8x16xf32>) permutation = [0, 2, 1, 3]
  %se = tensor.empty() : tensor<1x2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%qt, %kt : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.mulf %scale, %a : f32
    linalg.yield %d : f32
  } -> tensor<1x2x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%te : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %vt : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  %oe = tensor.empty() : tensor<1x8x2x16xf32>
  %ot = linalg.transpose ins(%o : tensor<1x2x8x16xf32>) outs(%oe : tensor<1x8x2x16xf32>) permutation = [0, 2, 1, 3]
  return %ot : tensor<1x8x2x16xf32>
}

// -----

// Single head as 2-D linalg.matmul on reshaped tensors (B = H = 1).
//   O = softmax(Q.K^T / 4) . V          Q, K, V: [1, 1, 8, 16] as [8, 16]
// CHECK-LABEL: func.func @single_head_matmul
// CHECK-SAME: (%[[Q:.+]]: tensor<1x1x8x16xf32>, %[[K:.+]]: tensor<1x1x8x16xf32>, %[[V:.+]]: tensor<1x1x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>) {scale = 2.500000e-01 : f64} -> tensor<1x1x8x16xf32>
// CHECK-NEXT: return %[[O]]
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @single_head_matmul(%q: tensor<1x1x8x16xf32>, %k: tensor<1x1x8x16xf32>, %v: tensor<1x1x8x16xf32>) -> tensor<1x1x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %four = arith.constant 4.000000e+00 : f32
  %q2 = tensor.collapse_shape %q [[0, 1, 2], [3]] : tensor<1x1x8x16xf32> into tensor<8x16xf32>
  %k2 = tensor.collapse_shape %k [[0, 1, 2], [3]] : tensor<1x1x8x16xf32> into tensor<8x16xf32>
  %v2 = tensor.collapse_shape %v [[0, 1, 2], [3]] : tensor<1x1x8x16xf32> into tensor<8x16xf32>
  %te = tensor.empty() : tensor<16x8xf32>
  %kt = linalg.transpose ins(%k2 : tensor<8x16xf32>) outs(%te : tensor<16x8xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.matmul ins(%q2, %kt : tensor<8x16xf32>, tensor<16x8xf32>) outs(%sz : tensor<8x8xf32>) -> tensor<8x8xf32>
  %x = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%s : tensor<8x8xf32>) outs(%se : tensor<8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %four : f32
    linalg.yield %d : f32
  } -> tensor<8x8xf32>
  %p = linalg.softmax dimension(1) ins(%x : tensor<8x8xf32>) outs(%se : tensor<8x8xf32>) -> tensor<8x8xf32>
  %oe = tensor.empty() : tensor<8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x16xf32>) -> tensor<8x16xf32>
  %o2 = linalg.matmul ins(%p, %v2 : tensor<8x8xf32>, tensor<8x16xf32>) outs(%oz : tensor<8x16xf32>) -> tensor<8x16xf32>
  %o = tensor.expand_shape %o2 [[0, 1, 2], [3]] output_shape [1, 1, 8, 16] : tensor<8x16xf32> into tensor<1x1x8x16xf32>
  return %o : tensor<1x1x8x16xf32>
}

// -----

// K^T folded into linalg.batch_matmul's indexing maps, and a full per-head
// bias in the collapsed [B*H, Lq, Lk] space (reshaped to [B, H, Lq, Lk]).
//   S = 0.25 * Q.K^T + bias             bias: [2*2, 8, 8]
// CHECK-LABEL: func.func @batch_matmul_transposed_maps_bias
// CHECK-SAME: (%[[Q:.+]]: tensor<2x2x8x16xf32>, %[[K:.+]]: tensor<2x2x8x16xf32>, %[[V:.+]]: tensor<2x2x8x16xf32>, %[[BIAS:.+]]: tensor<4x8x8xf32>)
// CHECK-NEXT: %[[FLAT:.+]] = tensor.collapse_shape %[[BIAS]] {{\[}}[0, 1, 2]] : tensor<4x8x8xf32> into tensor<256xf32>
// CHECK-NEXT: %[[B4:.+]] = tensor.expand_shape %[[FLAT]] {{\[}}[0, 1, 2, 3]] output_shape [2, 2, 8, 8] : tensor<256xf32> into tensor<2x2x8x8xf32>
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) bias(%[[B4]] : tensor<2x2x8x8xf32>) {scale = 2.500000e-01 : f64} -> tensor<2x2x8x16xf32>
// CHECK-NEXT: return %[[O]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#bq = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#bk = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#bs = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @batch_matmul_transposed_maps_bias(%q: tensor<2x2x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %bias: tensor<4x8x8xf32>) -> tensor<2x2x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x2x8x16xf32> into tensor<4x8x16xf32>
  %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<2x2x8x16xf32> into tensor<4x8x16xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<2x2x8x16xf32> into tensor<4x8x16xf32>
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul indexing_maps = [#bq, #bk, #bs] ins(%q3, %k3 : tensor<4x8x16xf32>, tensor<4x8x16xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %bias : tensor<4x8x8xf32>, tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %sc = arith.mulf %a, %scale : f32
    %r = arith.addf %sc, %b : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 2, 8, 16] : tensor<4x8x16xf32> into tensor<2x2x8x16xf32>
  return %o : tensor<2x2x8x16xf32>
}

// -----

// Decomposed softmax with keepdim statistics (max kept as [.., 1], sum by
// linalg.reduce), exp fused with the subtraction, K^T by a permuting
// linalg.generic, and a causal mask as a boolean tensor computed from
// linalg.index (an iota comparison) applied by arith.select.
//   keep[i, j] = j <= i;  S = keep ? Q.K^T * 0.25 : -inf
//   O = exp(S - max_j S) / sum_j exp(S - max_j S) . V
// CHECK-LABEL: func.func @keepdim_iota_mask
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x8x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {mask_kind = #attn.mask<causal_top_left>, scale = 2.500000e-01 : f64} -> tensor<1x2x8x16xf32>
// CHECK-NEXT: return %[[O]]
#kt_in = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_kt = affine_map<(b, h, i, j, d) -> (b, h, d, j)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#m2 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#keep = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#row = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @keepdim_iota_mask(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %te = tensor.empty() : tensor<1x2x16x8xf32>
  %kt = linalg.generic {indexing_maps = [#kt_in, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%k : tensor<1x2x8x16xf32>) outs(%te : tensor<1x2x16x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<1x2x16x8xf32>
  %se = tensor.empty() : tensor<1x2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_kt, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %kt : tensor<1x2x8x16xf32>, tensor<1x2x16x8xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %me = tensor.empty() : tensor<8x8xi1>
  %mask = linalg.generic {indexing_maps = [#id2], iterator_types = ["parallel", "parallel"]} outs(%me : tensor<8x8xi1>) {
  ^bb0(%o: i1):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c = arith.cmpi sle, %j, %i : index
    linalg.yield %c : i1
  } -> tensor<8x8xi1>
  %x = linalg.generic {indexing_maps = [#id4, #m2, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %mask : tensor<1x2x8x8xf32>, tensor<8x8xi1>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %keep: i1, %o: f32):
    %sc = arith.mulf %a, %scale : f32
    %r = arith.select %keep, %sc, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %ke = tensor.empty() : tensor<1x2x8x1xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%ke : tensor<1x2x8x1xf32>) -> tensor<1x2x8x1xf32>
  %max = linalg.generic {indexing_maps = [#id4, #keep], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x : tensor<1x2x8x8xf32>) outs(%mi : tensor<1x2x8x1xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x1xf32>
  %exp = linalg.generic {indexing_maps = [#id4, #keep, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %max : tensor<1x2x8x8xf32>, tensor<1x2x8x1xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %re = tensor.empty() : tensor<1x2x8xf32>
  %si = linalg.fill ins(%zero : f32) outs(%re : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %sum = linalg.reduce ins(%exp : tensor<1x2x8x8xf32>) outs(%si : tensor<1x2x8xf32>) dimensions = [3]
    (%a: f32, %acc: f32) {
      %r = arith.addf %a, %acc : f32
      linalg.yield %r : f32
    }
  %p = linalg.generic {indexing_maps = [#id4, #row, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %oe = tensor.empty() : tensor<1x2x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// A "tile" repeat (torch's k.repeat(1, 2, 1, 1)): query head h reads kv
// head h mod 2, which attn.attention's h / g cannot express. The repeat
// stays materialised and the attention is raised as MHA over its result.
//   O[h] = softmax(0.25 * Q[h].Kt[h]^T) . Vt[h],  Kt = tile(K), Vt = tile(V)
// CHECK-LABEL: func.func @tile_repeat_stays
// CHECK-SAME: (%[[Q:.+]]: tensor<1x4x8x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK: %[[KB:.+]] = linalg.broadcast ins(%[[K]] : tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[KR:.+]] = tensor.collapse_shape %[[KB]]
// CHECK: %[[VB:.+]] = linalg.broadcast ins(%[[V]] : tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[VR:.+]] = tensor.collapse_shape %[[VB]]
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[KR]], %[[VR]] : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) {scale = 2.500000e-01 : f64} -> tensor<1x4x8x16xf32>
// CHECK-NEXT: return %[[O]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @tile_repeat_stays(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %be = tensor.empty() : tensor<1x2x2x8x16xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x2x8x16xf32>) outs(%be : tensor<1x2x2x8x16xf32>) dimensions = [1]
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x2x8x16xf32> into tensor<1x4x8x16xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x2x8x16xf32>) outs(%be : tensor<1x2x2x8x16xf32>) dimensions = [1]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x2x8x16xf32> into tensor<1x4x8x16xf32>
  %se = tensor.empty() : tensor<1x4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %kr : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) outs(%sz : tensor<1x4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x4x8x8xf32>) outs(%se : tensor<1x4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.mulf %a, %scale : f32
    linalg.yield %d : f32
  } -> tensor<1x4x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x4x8x8xf32>) outs(%se : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %oe = tensor.empty() : tensor<1x4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %vr : tensor<1x4x8x8xf32>, tensor<1x4x8x16xf32>) outs(%oz : tensor<1x4x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x16xf32>
  return %o : tensor<1x4x8x16xf32>
}

// -----

// HF Llama eager attention as torch-mlir lowers it: projections reshaped to
// [B, L, H, D] and transposed to BHSD, repeat_kv (unsqueeze + broadcasting
// generic + collapse), matmul as collapse + batch_matmul + expand, the
// scale a Python float (f64 constant truncated in the body), a runtime
// causal-mask tensor [B, 1, Lq, Lk] added as a bias, softmax decomposed
// with keepdim statistics, and the output transposed back and flattened.
//   O = softmax(0.25 * Q.K^T + mask) . V     Hq = 4, Hkv = 2, BSHD
// CHECK-LABEL: func.func @hf_llama_eager
// CHECK-SAME: (%[[QP:.+]]: tensor<1x8x64xf32>, %[[KP:.+]]: tensor<1x8x32xf32>, %[[VP:.+]]: tensor<1x8x32xf32>, %[[MASK:.+]]: tensor<1x1x8x8xf32>)
// CHECK-NEXT: %[[Q:.+]] = tensor.expand_shape %[[QP]]
// CHECK-NEXT: %[[K:.+]] = tensor.expand_shape %[[KP]]
// CHECK-NEXT: %[[V:.+]] = tensor.expand_shape %[[VP]]
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x8x4x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) bias(%[[MASK]] : tensor<1x1x8x8xf32>) {layout = #attn.layout<bshd>, scale = 2.500000e-01 : f64} -> tensor<1x8x4x16xf32>
// CHECK-NEXT: %[[FLAT:.+]] = tensor.collapse_shape %[[O]] {{\[}}[0], [1], [2, 3]] : tensor<1x8x4x16xf32> into tensor<1x8x64xf32>
// CHECK-NEXT: return %[[FLAT]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#keep = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#maskmap = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
#rep_in = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>
#rep_out = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
func.func @hf_llama_eager(%qp: tensor<1x8x64xf32>, %kp: tensor<1x8x32xf32>, %vp: tensor<1x8x32xf32>, %mask: tensor<1x1x8x8xf32>) -> tensor<1x8x64xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scaling = arith.constant 2.500000e-01 : f64
  %q4 = tensor.expand_shape %qp [[0], [1], [2, 3]] output_shape [1, 8, 4, 16] : tensor<1x8x64xf32> into tensor<1x8x4x16xf32>
  %k4 = tensor.expand_shape %kp [[0], [1], [2, 3]] output_shape [1, 8, 2, 16] : tensor<1x8x32xf32> into tensor<1x8x2x16xf32>
  %v4 = tensor.expand_shape %vp [[0], [1], [2, 3]] output_shape [1, 8, 2, 16] : tensor<1x8x32xf32> into tensor<1x8x2x16xf32>
  %qe = tensor.empty() : tensor<1x4x8x16xf32>
  %q = linalg.transpose ins(%q4 : tensor<1x8x4x16xf32>) outs(%qe : tensor<1x4x8x16xf32>) permutation = [0, 2, 1, 3]
  %kve = tensor.empty() : tensor<1x2x8x16xf32>
  %k = linalg.transpose ins(%k4 : tensor<1x8x2x16xf32>) outs(%kve : tensor<1x2x8x16xf32>) permutation = [0, 2, 1, 3]
  %v = linalg.transpose ins(%v4 : tensor<1x8x2x16xf32>) outs(%kve : tensor<1x2x8x16xf32>) permutation = [0, 2, 1, 3]
  %re = tensor.empty() : tensor<1x2x2x8x16xf32>
  %k5 = tensor.expand_shape %k [[0], [1, 2], [3], [4]] output_shape [1, 2, 1, 8, 16] : tensor<1x2x8x16xf32> into tensor<1x2x1x8x16xf32>
  %kb = linalg.generic {indexing_maps = [#rep_in, #rep_out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%k5 : tensor<1x2x1x8x16xf32>) outs(%re : tensor<1x2x2x8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<1x2x2x8x16xf32>
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x2x8x16xf32> into tensor<1x4x8x16xf32>
  %v5 = tensor.expand_shape %v [[0], [1, 2], [3], [4]] output_shape [1, 2, 1, 8, 16] : tensor<1x2x8x16xf32> into tensor<1x2x1x8x16xf32>
  %vb = linalg.generic {indexing_maps = [#rep_in, #rep_out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%v5 : tensor<1x2x1x8x16xf32>) outs(%re : tensor<1x2x2x8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<1x2x2x8x16xf32>
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x2x8x16xf32> into tensor<1x4x8x16xf32>
  %kte = tensor.empty() : tensor<1x4x16x8xf32>
  %kt = linalg.transpose ins(%kr : tensor<1x4x8x16xf32>) outs(%kte : tensor<1x4x16x8xf32>) permutation = [0, 1, 3, 2]
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kt3 = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x4x16x8xf32> into tensor<4x16x8xf32>
  %se3 = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se3 : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s3 = linalg.batch_matmul ins(%q3, %kt3 : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = tensor.expand_shape %s3 [[0, 1], [2], [3]] output_shape [1, 4, 8, 8] : tensor<4x8x8xf32> into tensor<1x4x8x8xf32>
  %se = tensor.empty() : tensor<1x4x8x8xf32>
  %ss = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x4x8x8xf32>) outs(%se : tensor<1x4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %c = arith.truncf %scaling : f64 to f32
    %r = arith.mulf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x8xf32>
  %sm = linalg.generic {indexing_maps = [#id4, #maskmap, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%ss, %mask : tensor<1x4x8x8xf32>, tensor<1x1x8x8xf32>) outs(%se : tensor<1x4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x8xf32>
  %ke = tensor.empty() : tensor<1x4x8x1xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%ke : tensor<1x4x8x1xf32>) -> tensor<1x4x8x1xf32>
  %max = linalg.generic {indexing_maps = [#id4, #keep], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%sm : tensor<1x4x8x8xf32>) outs(%mi : tensor<1x4x8x1xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x1xf32>
  %sub = linalg.generic {indexing_maps = [#id4, #keep, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sm, %max : tensor<1x4x8x8xf32>, tensor<1x4x8x1xf32>) outs(%se : tensor<1x4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.subf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x8xf32>
  %exp = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sub : tensor<1x4x8x8xf32>) outs(%se : tensor<1x4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x8xf32>
  %si = linalg.fill ins(%zero : f32) outs(%ke : tensor<1x4x8x1xf32>) -> tensor<1x4x8x1xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #keep], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%exp : tensor<1x4x8x8xf32>) outs(%si : tensor<1x4x8x1xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x1xf32>
  %p = linalg.generic {indexing_maps = [#id4, #keep, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x4x8x8xf32>, tensor<1x4x8x1xf32>) outs(%se : tensor<1x4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x8xf32>
  %p3 = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x4x8x8xf32> into tensor<4x8x8xf32>
  %v3 = tensor.collapse_shape %vr [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %oe3 = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe3 : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o3 = linalg.batch_matmul ins(%p3, %v3 : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  %ote = tensor.empty() : tensor<1x8x4x16xf32>
  %ot = linalg.transpose ins(%o4 : tensor<1x4x8x16xf32>) outs(%ote : tensor<1x8x4x16xf32>) permutation = [0, 2, 1, 3]
  %o = tensor.collapse_shape %ot [[0], [1], [2, 3]] : tensor<1x8x4x16xf32> into tensor<1x8x64xf32>
  return %o : tensor<1x8x64xf32>
}

// -----

// bf16 throughout, as a bf16 model imports: the graph rounds scores and
// probabilities to bf16, attn.attention keeps them in f32, so this is only
// raised with allow-reassociation (RaiseTest bounds the bf16 roundings).
//   O = softmax(0.25 * Q.K^T) . V       Q, K, V: bf16 [1, 2, 8, 16]
// CHECK-LABEL: func.func @bf16_graph
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x8x16xbf16>, %[[K:.+]]: tensor<1x2x8x16xbf16>, %[[V:.+]]: tensor<1x2x8x16xbf16>)
// DEFAULT-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x8x16xbf16>, tensor<1x2x8x16xbf16>, tensor<1x2x8x16xbf16>) {scale = 2.500000e-01 : f64} -> tensor<1x2x8x16xbf16>
// DEFAULT-NEXT: return %[[O]]
// EXACT-NOT: attn.attention
// EXACT: linalg.softmax
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#bq = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#bk = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#bs = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @bf16_graph(%q: tensor<1x2x8x16xbf16>, %k: tensor<1x2x8x16xbf16>, %v: tensor<1x2x8x16xbf16>) -> tensor<1x2x8x16xbf16> {
  %zero = arith.constant 0.000000e+00 : bf16
  %scale = arith.constant 2.500000e-01 : bf16
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x8x16xbf16> into tensor<2x8x16xbf16>
  %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<1x2x8x16xbf16> into tensor<2x8x16xbf16>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x8x16xbf16> into tensor<2x8x16xbf16>
  %se = tensor.empty() : tensor<2x8x8xbf16>
  %sz = linalg.fill ins(%zero : bf16) outs(%se : tensor<2x8x8xbf16>) -> tensor<2x8x8xbf16>
  %s = linalg.batch_matmul indexing_maps = [#bq, #bk, #bs] ins(%q3, %k3 : tensor<2x8x16xbf16>, tensor<2x8x16xbf16>) outs(%sz : tensor<2x8x8xbf16>) -> tensor<2x8x8xbf16>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<2x8x8xbf16>) outs(%se : tensor<2x8x8xbf16>) {
  ^bb0(%a: bf16, %o: bf16):
    %r = arith.mulf %a, %scale : bf16
    linalg.yield %r : bf16
  } -> tensor<2x8x8xbf16>
  %p = linalg.softmax dimension(2) ins(%x : tensor<2x8x8xbf16>) outs(%se : tensor<2x8x8xbf16>) -> tensor<2x8x8xbf16>
  %oe = tensor.empty() : tensor<2x8x16xbf16>
  %oz = linalg.fill ins(%zero : bf16) outs(%oe : tensor<2x8x16xbf16>) -> tensor<2x8x16xbf16>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<2x8x8xbf16>, tensor<2x8x16xbf16>) outs(%oz : tensor<2x8x16xbf16>) -> tensor<2x8x16xbf16>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [1, 2, 8, 16] : tensor<2x8x16xbf16> into tensor<1x2x8x16xbf16>
  return %o : tensor<1x2x8x16xbf16>
}

// -----

// Two attentions in sequence (the first one's output is the second one's
// query): both are raised, each to its own op.
//   O1 = softmax(0.25 * Q.K^T) . V;  O2 = softmax(0.25 * O1.K^T) . V
// CHECK-LABEL: func.func @two_in_sequence
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x8x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O1:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : {{.*}}) {scale = 2.500000e-01 : f64} -> tensor<1x2x8x16xf32>
// CHECK-NEXT: %[[O2:.+]] = attn.attention ins(%[[O1]], %[[K]], %[[V]] : {{.*}}) {scale = 2.500000e-01 : f64} -> tensor<1x2x8x16xf32>
// CHECK-NEXT: return %[[O2]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @two_in_sequence(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %se = tensor.empty() : tensor<1x2x8x8xf32>
  %oe = tensor.empty() : tensor<1x2x8x16xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.mulf %a, %scale : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o1 = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  %s2 = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%o1, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %x2 = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s2 : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.mulf %a, %scale : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %p2 = linalg.softmax dimension(3) ins(%x2 : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %o2 = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p2, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  return %o2 : tensor<1x2x8x16xf32>
}

// -----

// torch.bmm on merged batch-heads with nothing around them: Q and V are
// [B*H, L, D] arguments and K comes pre-transposed as [B*H, D, L]. With no
// reshape to recover H, the B*H rows are the batch with one head each (the
// same numbers); K is transposed back. The causal select comes before the
// scale in one body (the same scores: 0.25 * -inf = -inf).
//   S[n, i, j] = 0.25 * (j > i ? -inf : Q.K^T[n, i, j])    n = b * H + h
// CHECK-LABEL: func.func @merged_bh_pretransposed_k
// CHECK-SAME: (%[[Q:.+]]: tensor<4x8x16xf32>, %[[KT:.+]]: tensor<4x16x8xf32>, %[[V:.+]]: tensor<4x8x16xf32>)
// CHECK-DAG: %[[Q4:.+]] = tensor.expand_shape %[[Q]] {{\[}}[0, 1], [2], [3]] output_shape [4, 1, 8, 16]
// CHECK-DAG: %[[KT4:.+]] = tensor.expand_shape %[[KT]] {{\[}}[0, 1], [2], [3]] output_shape [4, 1, 16, 8]
// CHECK-DAG: %[[K4:.+]] = linalg.transpose ins(%[[KT4]] : tensor<4x1x16x8xf32>) outs(%{{.+}} : tensor<4x1x8x16xf32>) permutation = [0, 1, 3, 2]
// CHECK-DAG: %[[V4:.+]] = tensor.expand_shape %[[V]] {{\[}}[0, 1], [2], [3]] output_shape [4, 1, 8, 16]
// CHECK: %[[O4:.+]] = attn.attention ins(%[[Q4]], %[[K4]], %[[V4]] : tensor<4x1x8x16xf32>, tensor<4x1x8x16xf32>, tensor<4x1x8x16xf32>) {mask_kind = #attn.mask<causal_top_left>, scale = 2.500000e-01 : f64} -> tensor<4x1x8x16xf32>
// CHECK-NEXT: %[[O:.+]] = tensor.collapse_shape %[[O4]] {{\[}}[0, 1], [2], [3]] : tensor<4x1x8x16xf32> into tensor<4x8x16xf32>
// CHECK-NEXT: return %[[O]]
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @merged_bh_pretransposed_k(%q: tensor<4x8x16xf32>, %kt: tensor<4x16x8xf32>, %v: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %future = arith.cmpi ugt, %j, %i : index
    %m = arith.select %future, %ninf, %a : f32
    %r = arith.mulf %m, %scale : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %o : tensor<4x8x16xf32>
}

// -----

// Merged batch-heads whose head count comes from the reshape the graph
// applies to its output: [B*H, L, D] = [4, 8, 16] arguments, the result
// expanded to [B, H, L, D] = [2, 2, 8, 16]. Q, K and V are expanded the same
// way, so attn.attention sees the graph's two heads.
//   O = softmax(Q.K^T / 4) . V
// CHECK-LABEL: func.func @merged_bh_heads_from_output
// CHECK-SAME: (%[[Q:.+]]: tensor<4x8x16xf32>, %[[K:.+]]: tensor<4x8x16xf32>, %[[V:.+]]: tensor<4x8x16xf32>)
// CHECK-DAG: %[[Q4:.+]] = tensor.expand_shape %[[Q]] {{\[}}[0, 1], [2], [3]] output_shape [2, 2, 8, 16]
// CHECK-DAG: %[[K4:.+]] = tensor.expand_shape %[[K]] {{\[}}[0, 1], [2], [3]] output_shape [2, 2, 8, 16]
// CHECK-DAG: %[[V4:.+]] = tensor.expand_shape %[[V]] {{\[}}[0, 1], [2], [3]] output_shape [2, 2, 8, 16]
// CHECK: %[[O:.+]] = attn.attention ins(%[[Q4]], %[[K4]], %[[V4]] : tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) {scale = 2.500000e-01 : f64} -> tensor<2x2x8x16xf32>
// CHECK-NEXT: return %[[O]]
#kt3 = affine_map<(n, i, j, d) -> (n, j, d)>
#q3 = affine_map<(n, i, j, d) -> (n, i, d)>
#s3 = affine_map<(n, i, j, d) -> (n, i, j)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @merged_bh_heads_from_output(%q: tensor<4x8x16xf32>, %k: tensor<4x8x16xf32>, %v: tensor<4x8x16xf32>) -> tensor<2x2x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %four = arith.constant 4.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.generic {indexing_maps = [#q3, #kt3, #s3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4x8x16xf32>, tensor<4x8x16xf32>) outs(%sz : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.divf %a, %four : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [2, 2, 8, 16] : tensor<4x8x16xf32> into tensor<2x2x8x16xf32>
  return %o4 : tensor<2x2x8x16xf32>
}

// -----

// Mistral-style sliding window from index compares: key j is kept for
// query i when j <= i (causal) and i - j <= 2, i.e. the window
// [i - 2, i]; Lq == Lk, so both alignments give window = [2, 0].
//   S[i, j] = (j > i or i - j > 2) ? -inf : 0.25 * Q.K^T[i, j]
// CHECK-LABEL: func.func @window_causal_select
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x8x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {mask_kind = #attn.mask<sliding_window>, scale = 2.500000e-01 : f64, window = array<i64: 2, 0>} -> tensor<1x2x8x16xf32>
// CHECK-NEXT: return %[[O]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @window_causal_select(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %c2 = arith.constant 2 : index
  %se = tensor.empty() : tensor<1x2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %future = arith.cmpi ugt, %j, %i : index
    %dist = arith.subi %i, %j : index
    %far = arith.cmpi sgt, %dist, %c2 : index
    %masked = arith.ori %future, %far : i1
    %sc = arith.mulf %a, %scale : f32
    %r = arith.select %masked, %ninf, %sc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %oe = tensor.empty() : tensor<1x2x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// A window bounded on both sides and aligned top-left, over Lq = 4 queries
// and Lk = 8 keys: key j is kept for i - 1 <= j <= i + 5. In the op's
// bottom-right frame (diagonal at i + Lk - Lq = i + 4) that is
// [i + 4 - 5, i + 4 + 1]: window = [5, 1]. The two bounds are two selects.
//   S[i, j] = (j < i - 1 or j > i + 5) ? -inf : Q.K^T[i, j] * 0.25
// CHECK-LABEL: func.func @window_both_sides_top_left
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x4x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x4x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {mask_kind = #attn.mask<sliding_window>, scale = 2.500000e-01 : f64, window = array<i64: 5, 1>} -> tensor<1x2x4x16xf32>
// CHECK-NEXT: return %[[O]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @window_both_sides_top_left(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x4x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %se = tensor.empty() : tensor<1x2x4x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x4x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x4x8xf32>) outs(%se : tensor<1x2x4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %j1 = arith.addi %j, %c1 : index
    %left = arith.cmpi sge, %j1, %i : index
    %i5 = arith.addi %i, %c5 : index
    %right = arith.cmpi sle, %j, %i5 : index
    %m1 = arith.select %left, %a, %ninf : f32
    %m2 = arith.select %right, %m1, %ninf : f32
    %r = arith.mulf %m2, %scale : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x8xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x2x4x8xf32>) outs(%se : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %oe = tensor.empty() : tensor<1x2x4x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x4x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// The LSE beside the output, as FlashAttention-style training graphs return
// it: the decomposed softmax's row max and row sum also give
// log(sum_j exp(S - m)) + m = log(sum_j exp(S)), the op's second result.
//   S = Q.K^T / 4;  m = max_j S;  E = exp(S - m);  l = sum_j E
//   O = (E / l) . V;  LSE = log(l) + m       Q, K, V: [1, 2, 8, 16]
// CHECK-LABEL: func.func @lse_decomposed
// CHECK-SAME: (%[[Q:.+]]: tensor<1x2x8x16xf32>, %[[K:.+]]: tensor<1x2x8x16xf32>, %[[V:.+]]: tensor<1x2x8x16xf32>)
// CHECK-NEXT: %[[O:.+]], %[[L:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {scale = 2.500000e-01 : f64} -> tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
// CHECK-NEXT: return %[[O]], %[[L]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#row4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @lse_decomposed(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %four = arith.constant 4.000000e+00 : f32
  %se = tensor.empty() : tensor<1x2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x2x8x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %four : f32
    linalg.yield %d : f32
  } -> tensor<1x2x8x8xf32>
  %re = tensor.empty() : tensor<1x2x8xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%re : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %max = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x : tensor<1x2x8x8xf32>) outs(%mi : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %exp = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %max : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.subf %a, %b : f32
    %e = math.exp %r : f32
    linalg.yield %e : f32
  } -> tensor<1x2x8x8xf32>
  %si = linalg.fill ins(%zero : f32) outs(%re : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%exp : tensor<1x2x8x8xf32>) outs(%si : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %lse = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%sum, %max : tensor<1x2x8xf32>, tensor<1x2x8xf32>) outs(%re : tensor<1x2x8xf32>) {
  ^bb0(%l: f32, %m: f32, %o: f32):
    %lg = math.log %l : f32
    %r = arith.addf %lg, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %oe = tensor.empty() : tensor<1x2x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  return %o, %lse : tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
}

// -----

// A bf16 model's softmax wrapped in casts (torch.softmax(x, dtype=float32)
// then .to(bfloat16)): scores and P.V stay bf16, the softmax runs in f32,
// exactly as attn.attention computes it. The bf16 scores and probabilities
// round where the op keeps f32, so this needs allow-reassociation.
//   S = bf16(Q.K^T * 0.25);  P = bf16(softmax(f32(S)));  O = P . V
// CHECK-LABEL: func.func @softmax_casts_bf16
// CHECK-SAME: (%[[Q:.+]]: tensor<2x8x16xbf16>, %[[K:.+]]: tensor<2x8x16xbf16>, %[[V:.+]]: tensor<2x8x16xbf16>)
// DEFAULT: %{{.+}} = attn.attention ins({{.+}} : tensor<2x1x8x16xbf16>, tensor<2x1x8x16xbf16>, tensor<2x1x8x16xbf16>) {scale = 2.500000e-01 : f64} -> tensor<2x1x8x16xbf16>
// DEFAULT-NOT: linalg.softmax
// EXACT-NOT: attn.attention
// EXACT: linalg.softmax
#q3 = affine_map<(n, i, j, d) -> (n, i, d)>
#k3 = affine_map<(n, i, j, d) -> (n, j, d)>
#s3 = affine_map<(n, i, j, d) -> (n, i, j)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @softmax_casts_bf16(%q: tensor<2x8x16xbf16>, %k: tensor<2x8x16xbf16>, %v: tensor<2x8x16xbf16>) -> tensor<2x8x16xbf16> {
  %zero = arith.constant 0.000000e+00 : bf16
  %scale = arith.constant 2.500000e-01 : bf16
  %se = tensor.empty() : tensor<2x8x8xbf16>
  %sz = linalg.fill ins(%zero : bf16) outs(%se : tensor<2x8x8xbf16>) -> tensor<2x8x8xbf16>
  %s = linalg.generic {indexing_maps = [#q3, #k3, #s3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<2x8x16xbf16>, tensor<2x8x16xbf16>) outs(%sz : tensor<2x8x8xbf16>) {
  ^bb0(%a: bf16, %b: bf16, %acc: bf16):
    %m = arith.mulf %a, %b : bf16
    %r = arith.addf %acc, %m : bf16
    linalg.yield %r : bf16
  } -> tensor<2x8x8xbf16>
  %ss = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<2x8x8xbf16>) outs(%se : tensor<2x8x8xbf16>) {
  ^bb0(%a: bf16, %o: bf16):
    %r = arith.mulf %a, %scale : bf16
    linalg.yield %r : bf16
  } -> tensor<2x8x8xbf16>
  %fe = tensor.empty() : tensor<2x8x8xf32>
  %sf = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%ss : tensor<2x8x8xbf16>) outs(%fe : tensor<2x8x8xf32>) {
  ^bb0(%a: bf16, %o: f32):
    %r = arith.extf %a : bf16 to f32
    linalg.yield %r : f32
  } -> tensor<2x8x8xf32>
  %pf = linalg.softmax dimension(2) ins(%sf : tensor<2x8x8xf32>) outs(%fe : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  %p = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%pf : tensor<2x8x8xf32>) outs(%se : tensor<2x8x8xbf16>) {
  ^bb0(%a: f32, %o: bf16):
    %r = arith.truncf %a : f32 to bf16
    linalg.yield %r : bf16
  } -> tensor<2x8x8xbf16>
  %oe = tensor.empty() : tensor<2x8x16xbf16>
  %oz = linalg.fill ins(%zero : bf16) outs(%oe : tensor<2x8x16xbf16>) -> tensor<2x8x16xbf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<2x8x8xbf16>, tensor<2x8x16xbf16>) outs(%oz : tensor<2x8x16xbf16>) -> tensor<2x8x16xbf16>
  return %o : tensor<2x8x16xbf16>
}

// -----

// The LSE of a merged [B*H, L, D] graph with keepdim statistics ([B*H, L, 1])
// and the log and the add as two generics: the op's [B*H, 1, L] LSE is
// reshaped to the graph's [B*H, L, 1].
//   m = max_j S;  E = exp(S - m);  l = sum_j E;  LSE = log(l) + m
// CHECK-LABEL: func.func @lse_merged_keepdim
// CHECK-SAME: (%[[Q:.+]]: tensor<2x8x16xf32>, %[[K:.+]]: tensor<2x8x16xf32>, %[[V:.+]]: tensor<2x8x16xf32>)
// CHECK: %[[O4:.+]], %[[L3:.+]] = attn.attention ins({{.+}} : tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) {scale = 1.000000e+00 : f64} -> tensor<2x1x8x16xf32>, tensor<2x1x8xf32>
// CHECK-DAG: %[[O:.+]] = tensor.collapse_shape %[[O4]] {{\[}}[0, 1], [2], [3]]
// CHECK-DAG: %[[L1:.+]] = tensor.collapse_shape %[[L3]] {{\[}}[0, 1, 2]] : tensor<2x1x8xf32> into tensor<16xf32>
// CHECK-DAG: %[[L:.+]] = tensor.expand_shape %[[L1]] {{\[}}[0, 1, 2]] output_shape [2, 8, 1] : tensor<16xf32> into tensor<2x8x1xf32>
// CHECK: return %[[O]], %[[L]]
#q3 = affine_map<(n, i, j, d) -> (n, i, d)>
#k3 = affine_map<(n, i, j, d) -> (n, j, d)>
#s3 = affine_map<(n, i, j, d) -> (n, i, j)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#keep = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
func.func @lse_merged_keepdim(%q: tensor<2x8x16xf32>, %k: tensor<2x8x16xf32>, %v: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x1xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %se = tensor.empty() : tensor<2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#q3, #k3, #s3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<2x8x16xf32>, tensor<2x8x16xf32>) outs(%sz : tensor<2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x8x8xf32>
  %re = tensor.empty() : tensor<2x8x1xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%re : tensor<2x8x1xf32>) -> tensor<2x8x1xf32>
  %max = linalg.generic {indexing_maps = [#id3, #keep], iterator_types = ["parallel", "parallel", "reduction"]} ins(%s : tensor<2x8x8xf32>) outs(%mi : tensor<2x8x1xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2x8x1xf32>
  %sub = linalg.generic {indexing_maps = [#id3, #keep, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %max : tensor<2x8x8xf32>, tensor<2x8x1xf32>) outs(%se : tensor<2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.subf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x8x8xf32>
  %exp = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%sub : tensor<2x8x8xf32>) outs(%se : tensor<2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<2x8x8xf32>
  %si = linalg.fill ins(%zero : f32) outs(%re : tensor<2x8x1xf32>) -> tensor<2x8x1xf32>
  %sum = linalg.generic {indexing_maps = [#id3, #keep], iterator_types = ["parallel", "parallel", "reduction"]} ins(%exp : tensor<2x8x8xf32>) outs(%si : tensor<2x8x1xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2x8x1xf32>
  %p = linalg.generic {indexing_maps = [#id3, #keep, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<2x8x8xf32>, tensor<2x8x1xf32>) outs(%se : tensor<2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x8x8xf32>
  %lg = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%sum : tensor<2x8x1xf32>) outs(%re : tensor<2x8x1xf32>) {
  ^bb0(%l: f32, %o: f32):
    %r = math.log %l : f32
    linalg.yield %r : f32
  } -> tensor<2x8x1xf32>
  %lse = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%max, %lg : tensor<2x8x1xf32>, tensor<2x8x1xf32>) outs(%re : tensor<2x8x1xf32>) {
  ^bb0(%m: f32, %l: f32, %o: f32):
    %r = arith.addf %m, %l : f32
    linalg.yield %r : f32
  } -> tensor<2x8x1xf32>
  %oe = tensor.empty() : tensor<2x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<2x8x8xf32>, tensor<2x8x16xf32>) outs(%oz : tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  return %o, %lse : tensor<2x8x16xf32>, tensor<2x8x1xf32>
}

// -----

// Negative: the softmax runs over the query axis (dimension 1 of
// [B*H, Lq, Lk]), not over the keys. Nothing changes.
//   P = softmax_i(Q.K^T)
// CHECK-LABEL: func.func @neg_softmax_wrong_axis
// CHECK-NOT: attn.attention
// CHECK: linalg.batch_matmul
// CHECK: linalg.softmax dimension(1)
// CHECK: linalg.batch_matmul
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @neg_softmax_wrong_axis(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %zero = arith.constant 0.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4 : tensor<1x4x8x16xf32>
}

// -----

// Negative: the scores are also returned, so the chain cannot be replaced
// without recomputing them.
//   O = softmax(Q.K^T) . V, and S = Q.K^T escapes
// CHECK-LABEL: func.func @neg_scores_escape
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax dimension(2)
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @neg_scores_escape(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>) -> (tensor<1x4x8x16xf32>, tensor<4x8x8xf32>) {
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %zero = arith.constant 0.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4, %s : tensor<1x4x8x16xf32>, tensor<4x8x8xf32>
}

// -----

// Negative: the scale is a runtime value, not a constant.
//   S = %scale * Q.K^T
// CHECK-LABEL: func.func @neg_runtime_scale
// CHECK-NOT: attn.attention
// CHECK: arith.mulf %{{.+}}, %{{.+}} : f32
// CHECK: linalg.softmax
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @neg_runtime_scale(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>, %scale: f32) -> tensor<1x4x8x16xf32> {
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %zero = arith.constant 0.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %scale : f32
    linalg.yield %m : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4 : tensor<1x4x8x16xf32>
}

// -----

// Negative: the scale is applied after the bias; attn.attention adds the
// bias after scaling, so this is a different function.
//   S = 0.25 * (Q.K^T + bias)
// CHECK-LABEL: func.func @neg_scale_after_bias
// CHECK-NOT: attn.attention
// CHECK: arith.addf
// CHECK-NEXT: arith.mulf
// CHECK: linalg.softmax
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @neg_scale_after_bias(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>, %bias: tensor<4x8x8xf32>) -> tensor<1x4x8x16xf32> {
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %zero = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 2.500000e-01 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %bias : tensor<4x8x8xf32>, tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    %m = arith.mulf %r, %scale : f32
    linalg.yield %m : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4 : tensor<1x4x8x16xf32>
}

// -----

// Negative: a decomposed softmax whose sum runs over the query axis
// (reduction dim d1 of [B*H, Lq, Lk]) while the max runs over the keys.
//   E = exp(S - max_j S);  P = E / sum_i E
// CHECK-LABEL: func.func @neg_sum_wrong_axis
// CHECK-NOT: attn.attention
// CHECK: math.exp
// CHECK: linalg.batch_matmul
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row = affine_map<(d0, d1, d2) -> (d0, d1)>
#col = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @neg_sum_wrong_axis(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %re = tensor.empty() : tensor<4x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%re : tensor<4x8xf32>) -> tensor<4x8xf32>
  %max = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%s : tensor<4x8x8xf32>) outs(%mi : tensor<4x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %exp = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %max : tensor<4x8x8xf32>, tensor<4x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %si = linalg.fill ins(%zero : f32) outs(%re : tensor<4x8xf32>) -> tensor<4x8xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2, d1)>, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%exp : tensor<4x8x8xf32>) outs(%si : tensor<4x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %p = linalg.generic {indexing_maps = [#id3, #col, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<4x8x8xf32>, tensor<4x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4 : tensor<1x4x8x16xf32>
}

// -----

// Negative: the mask hides the past instead of the future (j < i masked);
// no causal mask kind expresses it.
//   S[i, j] = j < i ? -inf : Q.K^T[i, j]
// CHECK-LABEL: func.func @neg_anti_causal
// CHECK-NOT: attn.attention
// CHECK: arith.cmpi ult
// CHECK: linalg.softmax
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @neg_anti_causal(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
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
    %r = arith.select %past, %ninf, %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4 : tensor<1x4x8x16xf32>
}

// -----

// Negative: Q.K^T accumulates into a tensor of ones, not zeros.
//   S = 1 + Q.K^T
// CHECK-LABEL: func.func @neg_nonzero_accumulator
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax
func.func @neg_nonzero_accumulator(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %zero = arith.constant 0.000000e+00 : f32
  %one = arith.constant 1.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%one : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4 : tensor<1x4x8x16xf32>
}

// -----

// Negative: the bias is read transposed ([Lk, Lq] indexed by (j, i)), which
// no [B, H, Lq, Lk]-broadcastable operand can express without a copy.
//   S = Q.K^T + bias^T
// CHECK-LABEL: func.func @neg_transposed_bias
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#bt = affine_map<(d0, d1, d2) -> (d2, d1)>
func.func @neg_transposed_bias(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>, %bias: tensor<8x8xf32>) -> tensor<1x4x8x16xf32> {
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %zero = arith.constant 0.000000e+00 : f32
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %x = linalg.generic {indexing_maps = [#id3, #bt, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %bias : tensor<4x8x8xf32>, tensor<8x8xf32>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4 : tensor<1x4x8x16xf32>
}

// -----

// Negative: a dynamic batch. attn.attention allows it, but the raise needs
// static extents to check every reshape and broadcast.
//   O = softmax(Q.K^T) . V              Q, K, V: [?, 8, 16] (B*H dynamic)
// CHECK-LABEL: func.func @neg_dynamic_batch
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax
func.func @neg_dynamic_batch(%q4: tensor<?x4x8x16xf32>, %k4: tensor<?x4x8x16xf32>, %v4: tensor<?x4x8x16xf32>) -> tensor<?x4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %c0 = arith.constant 0 : index
  %b = tensor.dim %q4, %c0 : tensor<?x4x8x16xf32>
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<?x4x8x16xf32> into tensor<?x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<?x4x8x16xf32> into tensor<?x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<?x4x8x16xf32> into tensor<?x8x16xf32>
  %c4 = arith.constant 4 : index
  %bh = arith.muli %b, %c4 : index
  %kte = tensor.empty(%bh) : tensor<?x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<?x8x16xf32>) outs(%kte : tensor<?x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty(%bh) : tensor<?x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<?x8x8xf32>) -> tensor<?x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<?x8x16xf32>, tensor<?x16x8xf32>) outs(%sz : tensor<?x8x8xf32>) -> tensor<?x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<?x8x8xf32>) outs(%se : tensor<?x8x8xf32>) -> tensor<?x8x8xf32>
  %oe = tensor.empty(%bh) : tensor<?x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<?x8x16xf32>) -> tensor<?x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<?x8x8xf32>, tensor<?x8x16xf32>) outs(%oz : tensor<?x8x16xf32>) -> tensor<?x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [%b, 4, 8, 16] : tensor<?x8x16xf32> into tensor<?x4x8x16xf32>
  return %o4 : tensor<?x4x8x16xf32>
}

// -----

// Negative: the softmax upcast to f64. attn.attention computes the softmax
// in f32, so raising would round differently; nothing changes.
//   P = f32(softmax(f64(Q.K^T)))
// CHECK-LABEL: func.func @neg_softmax_upcast_f64
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @neg_softmax_upcast_f64(%q4: tensor<1x4x8x16xf32>, %k4: tensor<1x4x8x16xf32>, %v4: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x4x8x16xf32> into tensor<4x8x16xf32>
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %de = tensor.empty() : tensor<4x8x8xf64>
  %sd = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<4x8x8xf32>) outs(%de : tensor<4x8x8xf64>) {
  ^bb0(%a: f32, %o: f64):
    %r = arith.extf %a : f32 to f64
    linalg.yield %r : f64
  } -> tensor<4x8x8xf64>
  %pd = linalg.softmax dimension(2) ins(%sd : tensor<4x8x8xf64>) outs(%de : tensor<4x8x8xf64>) -> tensor<4x8x8xf64>
  %p = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%pd : tensor<4x8x8xf64>) outs(%se : tensor<4x8x8xf32>) {
  ^bb0(%a: f64, %o: f32):
    %r = arith.truncf %a : f64 to f32
    linalg.yield %r : f32
  } -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 4, 8, 16] : tensor<4x8x16xf32> into tensor<1x4x8x16xf32>
  return %o4 : tensor<1x4x8x16xf32>
}

// -----

// Negative: a causal window aligned top-left over Lq = 4 < Lk = 8 keys
// (j in [i - 2, i]). In the op's bottom-right frame its right extent would
// be 0 - (Lk - Lq) = -4, which no window attribute expresses.
//   S[i, j] = (j > i or j < i - 2) ? -inf : Q.K^T[i, j]
// CHECK-LABEL: func.func @neg_window_top_left_past_diagonal
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @neg_window_top_left_past_diagonal(%q4: tensor<1x2x4x16xf32>, %k4: tensor<1x2x8x16xf32>, %v4: tensor<1x2x8x16xf32>) -> tensor<1x2x4x16xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %c2 = arith.constant 2 : index
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x2x4x16xf32> into tensor<2x4x16xf32>
  %k = tensor.collapse_shape %k4 [[0, 1], [2], [3]] : tensor<1x2x8x16xf32> into tensor<2x8x16xf32>
  %v = tensor.collapse_shape %v4 [[0, 1], [2], [3]] : tensor<1x2x8x16xf32> into tensor<2x8x16xf32>
  %kte = tensor.empty() : tensor<2x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<2x8x16xf32>) outs(%kte : tensor<2x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<2x4x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<2x4x16xf32>, tensor<2x16x8xf32>) outs(%sz : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %s4 = tensor.expand_shape %s [[0, 1], [2], [3]] output_shape [1, 2, 4, 8] : tensor<2x4x8xf32> into tensor<1x2x4x8xf32>
  %se4 = tensor.empty() : tensor<1x2x4x8xf32>
  %x = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s4 : tensor<1x2x4x8xf32>) outs(%se4 : tensor<1x2x4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %future = arith.cmpi ugt, %j, %i : index
    %j2 = arith.addi %j, %c2 : index
    %far = arith.cmpi ult, %j2, %i : index
    %masked = arith.ori %future, %far : i1
    %r = arith.select %masked, %ninf, %a : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x8xf32>
  %p4 = linalg.softmax dimension(3) ins(%x : tensor<1x2x4x8xf32>) outs(%se4 : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %p = tensor.collapse_shape %p4 [[0, 1], [2], [3]] : tensor<1x2x4x8xf32> into tensor<2x4x8xf32>
  %oe = tensor.empty() : tensor<2x4x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<2x4x8xf32>, tensor<2x8x16xf32>) outs(%oz : tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 2, 4, 16] : tensor<2x4x16xf32> into tensor<1x2x4x16xf32>
  return %o4 : tensor<1x2x4x16xf32>
}

// -----

// Negative: the graph returns log(rowsum) alone, which is not the op's LSE
// (that is log(rowsum) + rowmax), so the row sum has a use the op cannot
// replace.
//   O = softmax(Q.K^T) . V;  extra = log(sum_j exp(S - max_j S))
// CHECK-LABEL: func.func @neg_lse_without_max
// CHECK-NOT: attn.attention
// CHECK: math.log
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#row4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
func.func @neg_lse_without_max(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %se = tensor.empty() : tensor<1x2x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %re = tensor.empty() : tensor<1x2x8xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%re : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %max = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%s : tensor<1x2x8x8xf32>) outs(%mi : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %exp = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %max : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.subf %a, %b : f32
    %e = math.exp %r : f32
    linalg.yield %e : f32
  } -> tensor<1x2x8x8xf32>
  %si = linalg.fill ins(%zero : f32) outs(%re : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%exp : tensor<1x2x8x8xf32>) outs(%si : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%se : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %lg = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%sum : tensor<1x2x8xf32>) outs(%re : tensor<1x2x8xf32>) {
  ^bb0(%l: f32, %o: f32):
    %r = math.log %l : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %oe = tensor.empty() : tensor<1x2x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%p, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  return %o, %lg : tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
}
