//===- SplitVarlen.cpp - attn-split-varlen --------------------------------===//
//
// Part of attn-mlir. A thin pass over buildVarlenLoop (Varlen.h), which
// holds the definition of a varlen attention as IR.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/Varlen.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#define DEBUG_TYPE "attn-split-varlen"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSPLITVARLEN
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {
struct AttnSplitVarlenPass
    : mlir::attn::impl::AttnSplitVarlenBase<AttnSplitVarlenPass> {
  void runOnOperation() override {
    SmallVector<Operation *> varlen;
    getOperation()->walk([&](Operation *op) {
      if (auto forward = dyn_cast<AttentionOp>(op); forward && forward.isVarlen())
        varlen.push_back(op);
      if (auto backward = dyn_cast<AttentionBackwardOp>(op);
          backward && backward.isVarlen())
        varlen.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : varlen) {
      rewriter.setInsertionPoint(op);
      if (auto forward = dyn_cast<AttentionOp>(op))
        rewriter.replaceOp(op, buildVarlenLoop(rewriter, forward));
      else
        rewriter.replaceOp(op, buildVarlenBackwardLoop(
                                   rewriter, cast<AttentionBackwardOp>(op)));
    }
  }
};
} // namespace
