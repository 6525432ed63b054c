//===- RoundingKernel.h - f32 <-> bf16 / f16 conversion launches ----------===//
//
// Part of attn-mlir. f32-compute (attn-round-f32-inputs) makes a program of
// its forward or backward: conversion launches between the caller's f32
// memrefs and the dense bf16 / f16 scratch copies the kernels read and
// write in their place, over the program's one argument list.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_ROUNDINGKERNEL_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_ROUNDINGKERNEL_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace mlir::attn::detail {

/// One conversion, by argument index: an f32 input narrowed into its
/// scratch copy before the kernels (Q, K, V, O, dO), or a scratch result
/// widened into the caller's f32 memref after them (O, dQ, dK, dV).
struct RoundingCopy {
  int64_t source, target;
  bool widen;
};

/// Threads per CTA of the conversion kernels and the elements each thread
/// converts (one 16-byte store of bf16 / f16).
constexpr int64_t kRoundingThreads = 256, kRoundingElements = 8;

/// The name of the scratch copy of argument `original` in `element`
/// ("q_bf16", "do_f16"): what the manifest calls it.
std::string getRoundedCopyName(StringRef original, Type element);

/// How `copy` is launched over a program's arguments (dense memrefs
/// `arguments`, named `names`): its CTAs, the kernel name suffix
/// (`_round_q`, `_widen_o`) and the manifest's grid formula.
struct RoundingLaunch {
  int64_t blocks;
  std::string suffix, gridFormula;
};
/// "expected ..." at `anchor` where the element count is not a multiple of
/// kRoundingElements.
FailureOr<RoundingLaunch> planRoundingLaunch(Operation *anchor,
                                             ArrayRef<Value> arguments,
                                             ArrayRef<std::string> names,
                                             const RoundingCopy &copy);

/// The conversion kernel of `copy` into `func`, whose arguments have the
/// types of `arguments`: one thread per 8 elements of the dense memref pair.
void emitRoundingKernel(gpu::GPUFuncOp func, ArrayRef<Value> arguments,
                        const RoundingCopy &copy);

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_ROUNDINGKERNEL_H
