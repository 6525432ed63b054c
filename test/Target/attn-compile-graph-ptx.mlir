// RUN: attn-compile %s --target=ptx --cubin-arch=none --print-ptx | FileCheck %s

// A torch-mlir style bf16 MHA graph (B*H collapsed, K^T by linalg.transpose,
// batch_matmul, scale, linalg.softmax) goes through attn-raise and on to a
// GPU kernel: the raised attn.attention is what convert-attn-to-nvvm compiles.
// CHECK: entry: @mha_batch_matmul converted from tensors to memref arguments
// CHECK: stage r attn-raise{{.*}}raised 1 attention op(s)
// CHECK: stage 0 attn IR (input){{.*}}1 attn.attention
// CHECK: convert-attn-to-nvvm
// CHECK: kernel mha_batch_matmul_kernel: grid [1, 8, 1] block [256, 1, 1]
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32


#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @mha_batch_matmul(%q: tensor<2x4x8x64xbf16>, %k: tensor<2x4x8x64xbf16>, %v: tensor<2x4x8x64xbf16>) -> tensor<2x4x8x64xbf16> {
  %cst = arith.constant 0.000000e+00 : bf16
  %c = arith.constant 1.250000e-01 : bf16
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x4x8x64xbf16> into tensor<8x8x64xbf16>
  %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<2x4x8x64xbf16> into tensor<8x8x64xbf16>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<2x4x8x64xbf16> into tensor<8x8x64xbf16>
  %te = tensor.empty() : tensor<8x64x8xbf16>
  %kt = linalg.transpose ins(%k3 : tensor<8x8x64xbf16>) outs(%te : tensor<8x64x8xbf16>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<8x8x8xbf16>
  %sz = linalg.fill ins(%cst : bf16) outs(%se : tensor<8x8x8xbf16>) -> tensor<8x8x8xbf16>
  %s = linalg.batch_matmul ins(%q3, %kt : tensor<8x8x64xbf16>, tensor<8x64x8xbf16>) outs(%sz : tensor<8x8x8xbf16>) -> tensor<8x8x8xbf16>
  %ss = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<8x8x8xbf16>) outs(%se : tensor<8x8x8xbf16>) {
  ^bb0(%x: bf16, %o: bf16):
    %m = arith.mulf %x, %c : bf16
    linalg.yield %m : bf16
  } -> tensor<8x8x8xbf16>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<8x8x8xbf16>) outs(%se : tensor<8x8x8xbf16>) -> tensor<8x8x8xbf16>
  %oe = tensor.empty() : tensor<8x8x64xbf16>
  %oz = linalg.fill ins(%cst : bf16) outs(%oe : tensor<8x8x64xbf16>) -> tensor<8x8x64xbf16>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<8x8x8xbf16>, tensor<8x8x64xbf16>) outs(%oz : tensor<8x8x64xbf16>) -> tensor<8x8x64xbf16>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 4, 8, 64] : tensor<8x8x64xbf16> into tensor<2x4x8x64xbf16>
  return %o : tensor<2x4x8x64xbf16>
}

