//===- Raise.h - raise linalg attention graphs to attn ops ------*- C++ -*-===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_RAISE_H
#define ATTN_TRANSFORMS_RAISE_H

#include "attn/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Adds the pattern that replaces a linalg/tensor attention chain (anchored
/// at its Q.K^T contraction) by one attn.attention. When `numRaised` is
/// given, it is incremented for every op raised.
void populateAttnRaisePatterns(RewritePatternSet &patterns,
                               const AttnRaiseOptions &options = {},
                               int64_t *numRaised = nullptr);

/// Raises every recognised attention under `root` (greedily, to a fixed
/// point) and returns how many attn.attention ops were created.
FailureOr<int64_t> raiseAttention(Operation *root,
                                  const AttnRaiseOptions &options = {});

/// Emits a remark at the op where each attention candidate under `root`
/// (a contraction whose result reaches a softmax) stopped matching, saying
/// why; what `raiseAttention` does after raising with `reportRejections`.
void reportRaiseRejections(Operation *root,
                           const AttnRaiseOptions &options = {});

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_RAISE_H
