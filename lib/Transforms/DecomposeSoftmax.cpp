//===- DecomposeSoftmax.cpp - attn-decompose-softmax ----------------------===//
//
// Part of attn-mlir. linalg.softmax is an aggregate op that the CPU pipeline
// (linalg to loops) cannot lower; a graph left unraised by attn-raise still
// has to run. Its decomposition is the numerically stable one: the row max
// is subtracted before exp, so exp never overflows, and the sum is at least
// one (a fully masked row of -inf gives NaN, as torch.softmax does).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/DecomposeSoftmax.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#define DEBUG_TYPE "attn-decompose-softmax"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDECOMPOSESOFTMAX
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

LogicalResult mlir::attn::decomposeSoftmax(RewriterBase &rewriter,
                                           linalg::SoftmaxOp op) {
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  // Upstream's decomposition: max-reduce, sub + exp, sum-reduce, divide,
  // each a linalg.generic over the op's own shape.
  FailureOr<SmallVector<Value>> values =
      cast<linalg::AggregatedOpInterface>(op.getOperation())
          .decomposeOperation(rewriter);
  if (failed(values))
    return op.emitError("expected a linalg.softmax on ranked tensors");
  rewriter.replaceOp(op, *values);
  return success();
}

namespace {
struct AttnDecomposeSoftmaxPass
    : mlir::attn::impl::AttnDecomposeSoftmaxBase<AttnDecomposeSoftmaxPass> {
  void runOnOperation() override {
    SmallVector<linalg::SoftmaxOp> softmaxes;
    getOperation()->walk([&](linalg::SoftmaxOp op) { softmaxes.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::SoftmaxOp op : softmaxes)
      if (failed(decomposeSoftmax(rewriter, op)))
        return signalPassFailure();
  }
};
} // namespace
