// RUN: attn-opt %s --attn-decompose-softmax --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-to-cpu --split-input-file | FileCheck %s --check-prefix=CPU

// softmax(x)[r, j] = exp(x[r, j] - m[r]) / sum_j exp(x[r, j] - m[r]) with
// m[r] = max_j x[r, j]: the stable form, no exp overflows and the sum is
// at least 1. Four generics: max-reduce, sub + exp, sum-reduce, divide.
// CHECK-LABEL: func.func @softmax_last_axis
// CHECK-SAME: (%[[X:.+]]: tensor<4x8x8xf32>)
// CHECK-NOT: linalg.softmax
// CHECK: %[[MAX:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<4x8x8xf32>)
// CHECK: arith.maxnumf
// CHECK: %[[EXP:.+]] = linalg.generic {{.+}} ins(%[[X]], %[[MAX]] : tensor<4x8x8xf32>, tensor<4x8xf32>)
// CHECK: arith.subf
// CHECK-NEXT: math.exp
// CHECK: %[[SUM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[EXP]] : tensor<4x8x8xf32>)
// CHECK: arith.addf
// CHECK: %[[P:.+]] = linalg.generic {{.+}} ins(%[[EXP]], %[[SUM]] : tensor<4x8x8xf32>, tensor<4x8xf32>)
// CHECK: arith.divf
// CHECK: return %[[P]]
// The CPU pipeline lowers it to loops (an unraised graph still runs).
// CPU-LABEL: llvm.func @softmax_last_axis
// CPU-NOT: linalg.softmax
// CPU: llvm.intr.exp
func.func @softmax_last_axis(%x: tensor<4x8x8xf32>) -> tensor<4x8x8xf32> {
  %e = tensor.empty() : tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<4x8x8xf32>) outs(%e : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  return %p : tensor<4x8x8xf32>
}

// -----

// Over a middle axis of a bf16 tensor: the row statistics drop dimension 1.
//   softmax over i of x[b, i, j]
// CHECK-LABEL: func.func @softmax_middle_axis_bf16
// CHECK-SAME: (%[[X:.+]]: tensor<2x4x8xbf16>)
// CHECK: %[[MAX:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[X]] : tensor<2x4x8xbf16>) outs(%{{.+}} : tensor<2x8xbf16>)
// CHECK: ins(%[[X]], %[[MAX]] : tensor<2x4x8xbf16>, tensor<2x8xbf16>)
// CHECK: math.exp
// CHECK-NOT: linalg.softmax
func.func @softmax_middle_axis_bf16(%x: tensor<2x4x8xbf16>) -> tensor<2x4x8xbf16> {
  %e = tensor.empty() : tensor<2x4x8xbf16>
  %p = linalg.softmax dimension(1) ins(%x : tensor<2x4x8xbf16>) outs(%e : tensor<2x4x8xbf16>) -> tensor<2x4x8xbf16>
  return %p : tensor<2x4x8xbf16>
}
