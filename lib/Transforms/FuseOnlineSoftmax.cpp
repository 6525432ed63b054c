//===- FuseOnlineSoftmax.cpp - attn-fuse-online-softmax -------------------===//
//
// Part of attn-mlir. A KV loop that merges normalised block results with
// attn.combine divides and takes logs every iteration; the online-softmax
// recurrence carries (acc, max, sum) instead, rescales by exp(m_old - m_new)
// and divides once after the loop. This pass rewrites the former into the
// latter, one loop at a time; a loop whose initial state is the result of an
// already fused loop continues that loop's state.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

#define DEBUG_TYPE "attn-fuse-online-softmax"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFUSEONLINESOFTMAX
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Whether `v` is a linalg.fill of the float constant `expected`.
static bool isFilledWith(Value v, double expected) {
  auto fill = v.getDefiningOp<linalg::FillOp>();
  APFloat value(0.0);
  if (!fill || !matchPattern(fill.getInputs()[0], m_ConstantFloat(&value)))
    return false;
  return value.convertToDouble() == expected;
}

namespace {

/// The pieces of a KV loop `attn-tile` made: one block attention whose
/// results are merged into the carried (output, lse) by one combine.
struct CombineLoop {
  BlockAttentionOp block;
  CombineOp combine;
};

static FailureOr<CombineLoop> matchCombineLoop(scf::ForOp loop) {
  if (loop.getNumRegionIterArgs() != 2)
    return failure();
  auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
  auto combine = yield.getOperand(0).getDefiningOp<CombineOp>();
  if (!combine || yield.getOperand(1) != combine.getLse() ||
      combine.getOutputs().size() != 2)
    return failure();
  auto block = combine.getOutputs()[1].getDefiningOp<BlockAttentionOp>();
  ValueRange iterArgs = loop.getRegionIterArgs();
  if (!block || combine.getLses()[1] != block.getLse() ||
      combine.getOutputs()[0] != iterArgs[0] ||
      combine.getLses()[0] != iterArgs[1] ||
      block->getBlock() != loop.getBody())
    return failure();
  // Only the combine may see the normalised values, or fusing changes what
  // someone else reads.
  for (Value v : {iterArgs[0], iterArgs[1], Value(block.getOutput()),
                  Value(block.getLse())})
    if (!v.hasOneUse())
      return failure();
  return CombineLoop{block, combine};
}

struct FuseCombineLoop : OpRewritePattern<scf::ForOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(scf::ForOp loop,
                                PatternRewriter &rewriter) const override {
    FailureOr<CombineLoop> matched = matchCombineLoop(loop);
    if (failed(matched))
      return rewriter.notifyMatchFailure(loop, "not a combine loop");
    BlockAttentionOp block = matched->block;
    Location loc = loop.getLoc();

    // The initial state: the empty state (0, -inf), or the state of an
    // already fused loop before its finalize.
    Value initOut = loop.getInitArgs()[0], initLse = loop.getInitArgs()[1];
    SmallVector<Value> state;
    if (auto finalize = initOut.getDefiningOp<FinalizeOp>();
        finalize && initLse == finalize.getLse() &&
        finalize.getOutput().getType() == initOut.getType() &&
        !finalize.getLog2Domain()) {
      state = {finalize.getAcc(), finalize.getMax(), finalize.getSum()};
    } else if (isFilledWith(initOut, 0.0) &&
               isFilledWith(initLse,
                            -std::numeric_limits<double>::infinity())) {
      // The running sum starts at 0 next to the running max's -inf.
      rewriter.setInsertionPoint(loop);
      auto rowType = cast<RankedTensorType>(initLse.getType());
      Value empty = tensor::EmptyOp::create(rewriter, loc, rowType.getShape(),
                                            rowType.getElementType());
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getF32FloatAttr(0.0f));
      Value zeroSum =
          linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
      state = {initOut, initLse, zeroSum};
    } else {
      return rewriter.notifyMatchFailure(loop, "unknown initial state");
    }

    rewriter.setInsertionPoint(loop);
    auto fused = scf::ForOp::create(
        rewriter, loc, loop.getLowerBound(), loop.getUpperBound(),
        loop.getStep(), state,
        [&](OpBuilder &b, Location l, Value iv, ValueRange carried) {
          IRMapping mapping;
          mapping.map(loop.getInductionVar(), iv);
          for (Operation &op : loop.getBody()->without_terminator()) {
            if (&op == block.getOperation() ||
                &op == matched->combine.getOperation())
              continue;
            b.clone(op, mapping);
          }
          auto lookup = [&](Value v) {
            return v ? mapping.lookupOrDefault(v) : Value();
          };
          auto step = OnlineStepOp::create(
              b, l, TypeRange(carried), lookup(block.getQuery()),
              lookup(block.getKey()), lookup(block.getValue()),
              lookup(block.getBias()), lookup(block.getMask()),
              lookup(block.getBatch()), lookup(block.getHead()),
              lookup(block.getQueryPos()), lookup(block.getKeyPos()),
              lookup(block.getQueryLen()), lookup(block.getKeyLen()),
              block.getScaleAttr(), block.getMaskKindAttr(),
              block.getWindowAttr(), block.getSoftcapAttr(),
              block.getAlibiSlopesAttr(), block.getInteriorAttr(), carried[0],
              carried[1], carried[2], /*p_type=*/TypeAttr(),
              /*log2_domain=*/UnitAttr());
          for (auto [from, to] :
               llvm::zip(block->getRegions(), step->getRegions()))
            from.cloneInto(&to, mapping);
          scf::YieldOp::create(b, l, step->getResults());
        });
    auto finalize = FinalizeOp::create(
        rewriter, loc, loop.getResult(0).getType(), loop.getResult(1).getType(),
        fused.getResult(0), fused.getResult(1), fused.getResult(2),
        /*log2_domain=*/UnitAttr());
    rewriter.replaceOp(loop, finalize->getResults());
    return success();
  }
};

struct AttnFuseOnlineSoftmaxPass
    : mlir::attn::impl::AttnFuseOnlineSoftmaxBase<AttnFuseOnlineSoftmaxPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateAttnFuseOnlineSoftmaxPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateAttnFuseOnlineSoftmaxPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FuseCombineLoop>(patterns.getContext());
}
