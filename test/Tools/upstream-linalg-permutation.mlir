// MLIR 22's linalg.transpose / broadcast / reduce parsers segfault when their
// `permutation = [...]` or `dimensions = [...]` list fails to parse (mlir-opt
// too); attn-opt and attn-compile refuse it with a diagnostic first
// (docs/Reliability.md; issue #20). Well-formed lists (attn-raise.mlir) pass.
// RUN: not attn-opt %s 2>&1 | FileCheck %s
// RUN: not attn-compile %s 2>&1 | FileCheck %s

func.func @transpose(%a: tensor<2x3xf32>, %b: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // CHECK: upstream-linalg-permutation.mlir:[[@LINE+1]]:92: error: expected `permutation = [i, j, ...]` with integer entries (MLIR 22's parser would crash on it; see docs/Reliability.md)
  %0 = linalg.transpose ins(%a : tensor<2x3xf32>) outs(%b : tensor<3x2xf32>) permutation = [?, 0]
  return %0 : tensor<3x2xf32>
}
