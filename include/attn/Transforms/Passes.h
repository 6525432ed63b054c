//===- Passes.h - attn-level passes -----------------------------*- C++ -*-===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_PASSES_H
#define ATTN_TRANSFORMS_PASSES_H

#include "attn/Transforms/Transforms.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attn/Transforms/Passes.h.inc"

class AttentionOp;

/// Rewrites `op` into query tiles and KV loops of attn.block_attention merged
/// by attn.combine (attn-tile); returns the values replacing the op's
/// results. Fails (without changing the IR) on options it cannot honour.
/// Parses `text` in attn-tile's own option syntax ("block-m=32 num-splits=3")
/// into `options`, starting from the ODS defaults.
LogicalResult
parseAttnTileOptions(StringRef text, AttnTileOptions &options,
                     function_ref<LogicalResult(const Twine &)> errorHandler);

FailureOr<SmallVector<Value>> tileAttention(RewriterBase &rewriter,
                                            AttentionOp op,
                                            const AttnTileOptions &opts);

class AttentionBackwardOp;

/// Rewrites `op` into programs over (batch, KV head, KV block) with an inner
/// loop of attn.backward_step over query blocks and attn.accumulate of the
/// dQ shares (attn-tile-backward); returns the values replacing (dQ, dK,
/// dV). Fails with a diagnostic on what it cannot tile.
FailureOr<SmallVector<Value>>
tileAttentionBackward(RewriterBase &rewriter, AttentionBackwardOp op,
                      const AttnTileBackwardOptions &opts);

#define GEN_PASS_REGISTRATION
#include "attn/Transforms/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_PASSES_H
