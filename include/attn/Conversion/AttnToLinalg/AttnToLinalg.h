//===- AttnToLinalg.h - reference lowering of attn ops ----------*- C++ -*-===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H
#define ATTN_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::attn {
class AttentionOp;

/// Options of the reference lowering.
struct AttnToLinalgOptions {
  /// Accumulate scores, softmax statistics and the output in f64.
  bool accumulateInF64 = false;
};

/// Lowers one attention op to linalg/tensor/arith/math on tensors and
/// returns the replacement values (output, and LSE when the op has it).
FailureOr<SmallVector<Value>>
lowerAttentionToLinalg(OpBuilder &builder, AttentionOp op,
                       const AttnToLinalgOptions &options = {});

/// Adds the patterns that lower attn.attention to linalg.
void populateAttnToLinalgConversionPatterns(
    RewritePatternSet &patterns, const AttnToLinalgOptions &options = {});

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H
