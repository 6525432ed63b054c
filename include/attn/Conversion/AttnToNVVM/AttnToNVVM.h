//===- AttnToNVVM.h - attn.attention to an NVVM kernel ----------*- C++ -*-===//
//
// Part of attn-mlir. The sm_80+ (mma.sync) GPU lowering of attn.attention:
// a FlashAttention-2 style kernel in a gpu.module plus a gpu.launch_func.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H
#define ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <optional>

namespace mlir::attn {
class AttentionOp;

/// Tile configuration of the generated kernel.
struct AttnToNVVMOptions {
  int64_t blockM = 128;
  int64_t blockN = 64;
  int64_t numWarps = 4;
};

/// Everything the kernel generator needs to know about one attention op,
/// read and checked once (see getKernelProblem).
struct KernelProblem {
  int64_t batch, headsQ, headsKV, seqQ, seqK, headDim;
  bool isBF16;
  bool withLse;
  /// Key j is visible to query i iff `i + diagOffset - left <= j` (when
  /// `left` is set) and `j <= i + diagOffset + right` (when `right` is set).
  int64_t diagOffset = 0;
  std::optional<int64_t> left, right;
  double scale;
  std::optional<double> softcap;
  /// ALiBi slope per query head (empty: no ALiBi).
  SmallVector<double> alibiSlopes;
  /// The op's score_mod body (null: none). Its ops are cloned into the
  /// kernel, so it must outlive buildAttentionKernelBody.
  Region *scoreMod = nullptr;

  /// Whether the kernel must materialise scores in natural units (scale and
  /// softcap applied) before the exponential: something positional or
  /// nonlinear follows the scale, so log2(e) cannot be folded into it.
  bool needsNaturalScores() const { return scoreMod || !alibiSlopes.empty(); }
};

/// Reads `op` into a KernelProblem, or emits an "expected ..." error at the
/// op for every form the GPU lowering does not support.
FailureOr<KernelProblem> getKernelProblem(AttentionOp op,
                                          const AttnToNVVMOptions &options);

/// Shared memory bytes the kernel for `problem` needs (Q tile + two stages of
/// K and V tiles).
int64_t getKernelSharedMemoryBytes(const KernelProblem &problem,
                                   const AttnToNVVMOptions &options);

/// Emits the body of `func`, whose arguments are Q, K, V, O[, LSE] memrefs.
void buildAttentionKernelBody(gpu::GPUFuncOp func, const KernelProblem &problem,
                              const AttnToNVVMOptions &options);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H
