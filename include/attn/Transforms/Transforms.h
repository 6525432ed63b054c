//===- Transforms.h - attn-level transformations ----------------*- C++ -*-===//
//
// Part of attn-mlir. The functions behind the attn passes, for pipelines, the
// C API and tests to call directly (tileAttention is declared in Passes.h,
// beside its generated AttnTileOptions).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_TRANSFORMS_H
#define ATTN_TRANSFORMS_TRANSFORMS_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Patterns of attn-fuse-online-softmax.
void populateAttnFuseOnlineSoftmaxPatterns(RewritePatternSet &patterns);

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_TRANSFORMS_H
