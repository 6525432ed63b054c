//===- Transforms.h - attn-level transformations ----------------*- C++ -*-===//
//
// Part of attn-mlir. The functions behind the attn passes, for pipelines, the
// C API and tests to call directly.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_TRANSFORMS_H
#define ATTN_TRANSFORMS_TRANSFORMS_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
class AttentionOp;

/// Tile sizes and schedule choices of attn-tile.
struct AttentionTilingOptions {
  int64_t blockM = 64;
  int64_t blockN = 64;
  bool packGqa = true;
  int64_t numSplits = 1;
  bool skipMaskedBlocks = true;
};

/// Rewrites `op` into query tiles and KV loops of attn.block_attention merged
/// by attn.combine; returns the values replacing the op's results. Fails
/// (without changing the IR) on options it cannot honour.
FailureOr<SmallVector<Value>> tileAttention(RewriterBase &rewriter,
                                            AttentionOp op,
                                            const AttentionTilingOptions &opts);

/// Patterns of attn-fuse-online-softmax.
void populateAttnFuseOnlineSoftmaxPatterns(RewritePatternSet &patterns);

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_TRANSFORMS_H
