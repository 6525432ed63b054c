//===- DecomposeSoftmax.h - stable decomposition of linalg.softmax -*- C++ -*-===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_DECOMPOSESOFTMAX_H
#define ATTN_TRANSFORMS_DECOMPOSESOFTMAX_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Replaces `op` by its stable decomposition (the row max subtracted before
/// exp) into linalg.generic ops, as attn-decompose-softmax does.
LogicalResult decomposeSoftmax(RewriterBase &rewriter, linalg::SoftmaxOp op);

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_DECOMPOSESOFTMAX_H
