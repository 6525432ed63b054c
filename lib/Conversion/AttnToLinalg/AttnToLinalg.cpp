//===- AttnToLinalg.cpp - reference lowering of attn ops ------------------===//
//
// Part of attn-mlir. Lowers attn.attention, and the tile-level ops that
// attn-tile / attn-fuse-online-softmax make, to chains of linalg.generic ops
// that state their semantics directly. Every optimised lowering is checked
// against what this one computes.
//
// Whole op and tiles share one definition of a score (buildScore) and one
// set of softmax building blocks; they differ only in their iteration
// spaces: (b, h, i, j) for attn.attention, (g, i, j) for a tile whose
// absolute positions come from operands.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/Sinks.h"
#include "attn/Dialect/Attn/IR/Varlen.h"
#include "AttnToLinalgBackward.h"
#include "ScoreBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>
#include <limits>

#define DEBUG_TYPE "convert-attn-to-linalg"

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTOLINALG
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

using namespace mlir::attn::lowering;

//===----------------------------------------------------------------------===//
// attn.attention
//===----------------------------------------------------------------------===//

namespace {
/// Iteration dimensions are named after the math: b (batch), h (query head),
/// i (query row), j (key row), d (head dim, reduced in Q.K^T) and c (value
/// column, reduced over j in P.V).
class AttentionLowering : LoweringBase<AttentionOp> {
public:
  AttentionLowering(OpBuilder &builder, AttentionOp op, Type accType)
      : LoweringBase(builder, op, accType) {}

  SmallVector<Value> lower();

private:
  Value modifyScores(Value scores);

  SmallVector<OpFoldResult> rowSizes, accSizes;
};
} // namespace

/// S' = mask(score_mod(bias + alibi + softcap(scale * S))), elementwise.
Value AttentionLowering::modifyScores(Value scores) {
  ScoreSpec spec = makeScoreSpec(b, loc, op, accType, op.getEffectiveScale());
  // Per-sequence lengths mask the keys past each sequence's end.
  Value keyLengths = op.getKeyLengths();
  spec.maskPaddedKeys = static_cast<bool>(keyLengths);
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  SmallVector<Value> inputs = {scores};
  SmallVector<AffineMap> maps = {id};
  ScoreOperands operands(op.getBias(), op.getMask(), keyLengths, scoreShape,
                         inputs, maps);
  Value init = emptyTensor(b, loc, scoreSizes, accType);
  return elementwise(
      b, loc, inputs, maps, init, id,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        // ALiBi and the modifiers see the global head of a shard.
        ScorePoint p =
            operands.at(nb, l, args, queryLength, keyLength,
                        needsPositions(spec), op.getGlobalHeadOffset());
        return buildScore(nb, l, spec, args[0], p);
      });
}

SmallVector<Value> AttentionLowering::lower() {
  int64_t seqAxis = op.getSeqAxis();
  RankedTensorType qType = op.getQueryType();
  scoreShape = {qType.getDimSize(0), op.getNumQueryHeads(), op.getQueryLength(),
                op.getKeyLength()};
  OpFoldResult batch = tensor::getMixedSize(b, loc, op.getQuery(), 0);
  OpFoldResult lq = tensor::getMixedSize(b, loc, op.getQuery(), seqAxis);
  OpFoldResult lk = tensor::getMixedSize(b, loc, op.getKey(), seqAxis);
  OpFoldResult hq = b.getIndexAttr(op.getNumQueryHeads());
  scoreSizes = {batch, hq, lq, lk};
  rowSizes = {batch, hq, lq};
  accSizes = {batch, hq, lq, b.getIndexAttr(op.getValueHeadDim())};
  queryLength = getValueOrCreateConstantIndexOp(b, loc, lq);
  keyLength = getValueOrCreateConstantIndexOp(b, loc, lk);

  // S[b, h, i, j] = sum_d Q[b, h, i, d] * K[b, h / g, j, d].
  AffineExpr bb, h, i, j, d;
  bindDims(ctx, bb, h, i, j, d);
  Value scores = contract(b, loc, op.getQuery(), layoutMap(5, bb, h, i, d),
                          op.getKey(), layoutMap(5, bb, kvHead(h), j, d),
                          filledTensor(b, loc, scoreSizes, accType, 0.0),
                          AffineMap::get(5, 0, {bb, h, i, j}, ctx));
  scores = modifyScores(scores);

  // A sink z is one more score without a value row: the row max starts at
  // z, the row sum at exp(z - m) (0 when the row has no finite score).
  Value sinkRows;
  if (Value sinks = op.getSinks())
    sinkRows = buildSinkRows(b, loc, sinks,
                             b.getIndexAttr(op.getGlobalHeadOffset()),
                             rowSizes, /*headAxis=*/1, accType);
  Value rowMax = rowReduce(
      b, loc, scores,
      sinkRows ? sinkRows : filledTensor(b, loc, rowSizes, accType, kNegInf),
      /*isMax=*/true);
  Value probs = exponentiate(b, loc, scores, rowMax, /*log2=*/false);
  Value sumInit;
  if (!sinkRows) {
    sumInit = filledTensor(b, loc, rowSizes, accType, 0.0);
  } else {
    AffineMap id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
    sumInit = elementwise(
        b, loc, {sinkRows, rowMax}, {id3, id3},
        emptyTensor(b, loc, rowSizes, accType), id3,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          Value diff =
              arith::SubFOp::create(nb, l, a[0], safeShift(nb, l, a[1]));
          return exponential(nb, l, diff, /*log2=*/false);
        });
  }
  Value rowSum = rowReduce(b, loc, probs, sumInit, /*isMax=*/false);

  // A[b, h, i, c] = sum_j P[b, h, i, j] * V[b, h / g, j, c].
  AffineExpr c;
  bindDims(ctx, bb, h, i, c, j);
  Value acc = contract(b, loc, probs, AffineMap::get(5, 0, {bb, h, i, j}, ctx),
                       op.getValue(), layoutMap(5, bb, kvHead(h), j, c),
                       filledTensor(b, loc, accSizes, accType, 0.0),
                       AffineMap::get(5, 0, {bb, h, i, c}, ctx));

  // The output is written in the op's layout.
  RankedTensorType outType = op.getOutputType();
  SmallVector<OpFoldResult> outSizes =
      op.getLayout() == Layout::BHSD
          ? accSizes
          : SmallVector<OpFoldResult>{accSizes[0], accSizes[2], accSizes[1],
                                      accSizes[3]};
  bindDims(ctx, bb, h, i, c);
  Value outInit = emptyTensor(b, loc, outSizes, outType.getElementType());
  SmallVector<Value> results = {
      normalize(b, loc, acc, rowSum, outInit, layoutMap(4, bb, h, i, c))};
  if (Value lse = op.getLse())
    results.push_back(
        logSumExp(b, loc, rowMax, rowSum, /*log2=*/false,
                  cast<RankedTensorType>(lse.getType()).getElementType()));
  return results;
}

//===----------------------------------------------------------------------===//
// Tile ops: attn.block_attention, attn.online_step
//===----------------------------------------------------------------------===//

/// Maps of P [g, i, j], V [j, c] and the accumulator [g, i, c] over the
/// P.V iteration space (g, i, c, j).
static std::array<AffineMap, 3> tilePVMaps(MLIRContext *ctx) {
  AffineExpr g, i, c, j;
  bindDims(ctx, g, i, c, j);
  return {AffineMap::get(4, 0, {g, i, j}, ctx),
          AffineMap::get(4, 0, {j, c}, ctx),
          AffineMap::get(4, 0, {g, i, c}, ctx)};
}

static SmallVector<Value> lowerBlockAttention(OpBuilder &b,
                                              BlockAttentionOp op) {
  Location loc = op.getLoc();
  Type f32 = b.getF32Type();
  Value scores = tileScores(b, op, f32, /*log2Domain=*/false).front();
  auto lseType = cast<RankedTensorType>(op.getLse().getType());
  SmallVector<OpFoldResult> rows =
      getAsIndexOpFoldResult(b.getContext(), lseType.getShape());
  Value rowMax =
      rowReduce(b, loc, scores, filledTensor(b, loc, rows, f32, kNegInf), true);
  Value probs = exponentiate(b, loc, scores, rowMax, false);
  Value rowSum =
      rowReduce(b, loc, probs, filledTensor(b, loc, rows, f32, 0.0), false);
  auto maps = tilePVMaps(b.getContext());
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  SmallVector<OpFoldResult> accSizes =
      getAsIndexOpFoldResult(b.getContext(), outType.getShape());
  Value acc = contract(b, loc, probs, maps[0], op.getValue(), maps[1],
                       filledTensor(b, loc, accSizes, f32, 0.0), maps[2]);
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, b.getContext());
  Value out =
      normalize(b, loc, acc, rowSum, emptyTensor(b, loc, accSizes, f32), id);
  return {out, logSumExp(b, loc, rowMax, rowSum, false, f32)};
}

/// One online-softmax step; see attn.online_step's description.
static SmallVector<Value> lowerOnlineStep(OpBuilder &b, OnlineStepOp op) {
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  bool log2 = op.getLog2Domain();
  Value scores = tileScores(b, op, b.getF32Type(), log2).front();

  // m' = max(m, rowmax(s)): the running max is the reduction's init.
  Value newMax = rowReduce(b, loc, scores, op.getMax(), /*isMax=*/true);
  Value probs = exponentiate(b, loc, scores, newMax, log2);

  // a = exp(m - shift(m')), then sum' = a * sum + rowsum(p).
  AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
  Value alpha = elementwise(
      b, loc, {op.getMax(), newMax}, {id2, id2},
      emptyTensor(b, loc, sizesOf(b, loc, op.getMax()), b.getF32Type()), id2,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value diff = arith::SubFOp::create(nb, l, a[0], safeShift(nb, l, a[1]));
        return exponential(nb, l, diff, log2);
      });
  auto scaleBy = [&](Value state, AffineMap stateMap) {
    return elementwise(
        b, loc, {state, alpha},
        {stateMap, id2.getNumDims() == stateMap.getNumDims()
                       ? id2
                       : stateMap.getMajorSubMap(2)},
        emptyTensor(b, loc, sizesOf(b, loc, state), b.getF32Type()), stateMap,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          return arith::MulFOp::create(nb, l, a[0], a[1]).getResult();
        });
  };
  Value newSum = rowReduce(b, loc, probs, scaleBy(op.getSum(), id2), false);

  // acc' = a * acc + round(p) . V
  AffineMap id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
  auto maps = tilePVMaps(ctx);
  Type pType = op.getPType() ? *op.getPType() : Type();
  Value newAcc = contract(b, loc, probs, maps[0], op.getValue(), maps[1],
                          scaleBy(op.getAcc(), id3), maps[2], pType);
  return {newAcc, newMax, newSum};
}

//===----------------------------------------------------------------------===//
// attn.finalize, attn.combine
//===----------------------------------------------------------------------===//

static SmallVector<Value> lowerFinalize(OpBuilder &b, FinalizeOp op) {
  Location loc = op.getLoc();
  int64_t rank = cast<RankedTensorType>(op.getAcc().getType()).getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  Value outInit = emptyTensor(b, loc, sizesOf(b, loc, op.getAcc()),
                              outType.getElementType());
  return {normalize(b, loc, op.getAcc(), op.getSum(), outInit, id),
          logSumExp(b, loc, op.getMax(), op.getSum(), op.getLog2Domain(),
                    b.getF32Type())};
}

/// lse = M + log(sum_k exp(lse_k - M)) with M = max_k lse_k, and
/// out = sum_k exp(lse_k - lse) * out_k; all -inf gives -inf and 0.
static SmallVector<Value> lowerCombine(OpBuilder &b, CombineOp op) {
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  int64_t rank = cast<RankedTensorType>(op.getOutput().getType()).getRank();
  AffineMap rowId = AffineMap::getMultiDimIdentityMap(rank - 1, ctx);
  AffineMap outId = AffineMap::getMultiDimIdentityMap(rank, ctx);
  ValueRange lses = op.getLses();
  SmallVector<AffineMap> rowMaps(lses.size(), rowId);
  Value rowInit = emptyTensor(b, loc, sizesOf(b, loc, lses[0]), f32);
  Value lse =
      elementwise(b, loc, lses, rowMaps, rowInit, rowId,
                  [&](OpBuilder &nb, Location l, ValueRange a) {
                    Value m = a[0];
                    for (Value x : a.drop_front().drop_back())
                      m = arith::MaximumFOp::create(nb, l, m, x);
                    Value shift = safeShift(nb, l, m);
                    Value total = floatConstant(nb, l, f32, 0.0);
                    for (Value x : a.drop_back())
                      total = arith::AddFOp::create(
                          nb, l, total,
                          math::ExpOp::create(
                              nb, l, arith::SubFOp::create(nb, l, x, shift)));
                    // log(0) = -inf reproduces the all-masked case.
                    return arith::AddFOp::create(
                               nb, l, shift, math::LogOp::create(nb, l, total))
                        .getResult();
                  });

  SmallVector<Value> inputs(op.getOutputs());
  SmallVector<AffineMap> maps(inputs.size(), outId);
  for (Value x : lses) {
    inputs.push_back(x);
    maps.push_back(outId.getMajorSubMap(rank - 1));
  }
  inputs.push_back(lse);
  maps.push_back(outId.getMajorSubMap(rank - 1));
  size_t n = lses.size();
  Value outInit = emptyTensor(b, loc, sizesOf(b, loc, op.getOutputs()[0]), f32);
  Value out =
      elementwise(b, loc, inputs, maps, outInit, outId,
                  [&](OpBuilder &nb, Location l, ValueRange a) {
                    Value shift = safeShift(nb, l, a[2 * n]);
                    Value total = floatConstant(nb, l, f32, 0.0);
                    for (size_t k = 0; k < n; ++k) {
                      Value w = math::ExpOp::create(
                          nb, l, arith::SubFOp::create(nb, l, a[n + k], shift));
                      total = arith::AddFOp::create(
                          nb, l, total, arith::MulFOp::create(nb, l, w, a[k]));
                    }
                    return total;
                  });
  return {out, lse};
}

//===----------------------------------------------------------------------===//
// Entry points, patterns and the pass
//===----------------------------------------------------------------------===//

/// f32, or f64 with accumulate-in-f64 or f64 operands (which an f32
/// accumulator would silently round: f64 is the gradient-check precision).
static Type accumulatorType(Builder &b, Type elementType,
                            const AttnToLinalgOptions &options) {
  if (options.accumulateInF64 || elementType.isF64())
    return b.getF64Type();
  return b.getF32Type();
}

FailureOr<SmallVector<Value>>
mlir::attn::lowerAttentionToLinalg(OpBuilder &builder, AttentionOp op,
                                   const AttnToLinalgOptions &options) {
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPoint(op);
  return AttentionLowering(
             builder, op,
             accumulatorType(builder, op.getQueryType().getElementType(),
                             options))
      .lower();
}

namespace {

struct AttentionOpLowering : OpConversionPattern<AttentionOp> {
  AttentionOpLowering(MLIRContext *ctx, const AttnToLinalgOptions &options)
      : OpConversionPattern(ctx), options(options) {}

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // A varlen op is its loop of dense ops; the dense op is lowered here
    // (the driver does not revisit ops nested in the loop it just made).
    if (op.isVarlen()) {
      SmallVector<Value> loop = buildVarlenLoop(rewriter, op);
      AttentionOp dense;
      loop.front().getDefiningOp()->walk([&](AttentionOp inner) {
        dense = inner;
      });
      FailureOr<SmallVector<Value>> rows =
          lowerAttentionToLinalg(rewriter, dense, options);
      if (failed(rows))
        return failure();
      rewriter.replaceOp(dense, *rows);
      rewriter.replaceOp(op, loop);
      return success();
    }
    FailureOr<SmallVector<Value>> results =
        lowerAttentionToLinalg(rewriter, op, options);
    if (failed(results))
      return failure();
    rewriter.replaceOp(op, *results);
    return success();
  }

  AttnToLinalgOptions options;
};

/// attn.attention_backward: S and P materialised, as the reference.
struct AttentionBackwardOpLowering : OpConversionPattern<AttentionBackwardOp> {
  AttentionBackwardOpLowering(MLIRContext *ctx,
                              const AttnToLinalgOptions &options)
      : OpConversionPattern(ctx), options(options) {}

  LogicalResult
  matchAndRewrite(AttentionBackwardOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Type accType =
        accumulatorType(rewriter, op.getQueryType().getElementType(), options);
    // A varlen backward is its loop of dense backwards, lowered here as the
    // forward's.
    if (op.isVarlen()) {
      SmallVector<Value> loop = buildVarlenBackwardLoop(rewriter, op);
      AttentionBackwardOp dense;
      loop.front().getDefiningOp()->walk(
          [&](AttentionBackwardOp inner) { dense = inner; });
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPoint(dense);
      rewriter.replaceOp(dense, lowering::lowerAttentionBackward(
                                    rewriter, dense, accType));
      rewriter.replaceOp(op, loop);
      return success();
    }
    rewriter.replaceOp(op, lowering::lowerAttentionBackward(rewriter, op,
                                                            accType));
    return success();
  }

  AttnToLinalgOptions options;
};

/// Lowers a tile-level op with `lowerFn`; these ops always compute in f32,
/// the precision the online-softmax state is defined in.
template <typename OpTy, SmallVector<Value> (*lowerFn)(OpBuilder &, OpTy)>
struct TileOpLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, lowerFn(rewriter, op));
    return success();
  }
};

/// A KV cache view (attn.paged_view or a host compiler's own op) becomes
/// its dense tensor; tiled code never reaches here, it gathers tiles.
struct KVCacheViewLowering
    : OpInterfaceConversionPattern<KVCacheViewInterface> {
  using OpInterfaceConversionPattern::OpInterfaceConversionPattern;

  LogicalResult
  matchAndRewrite(KVCacheViewInterface view, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(view, view.buildDense(rewriter, view->getLoc()));
    return success();
  }
};

/// A KV tile becomes its slice and pad, or its view's gather; the view
/// itself then has no use left and folds away.
struct KVTileLowering : OpConversionPattern<KVTileOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVTileOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, op.expand(rewriter));
    return success();
  }
};

struct ConvertAttnToLinalgPass
    : mlir::attn::impl::ConvertAttnToLinalgBase<ConvertAttnToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    AttnToLinalgOptions options;
    options.accumulateInF64 = accumulateInF64;
    RewritePatternSet patterns(ctx);
    populateAttnToLinalgConversionPatterns(patterns, options);
    ConversionTarget target(*ctx);
    target.addIllegalDialect<AttnDialect>();
    target.markUnknownOpDynamicallyLegal(
        [](Operation *op) { return !isa<KVCacheViewInterface>(op); });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateAttnToLinalgConversionPatterns(
    RewritePatternSet &patterns, const AttnToLinalgOptions &options) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<AttentionOpLowering>(ctx, options);
  patterns.add<AttentionBackwardOpLowering>(ctx, options);
  patterns.add<KVCacheViewLowering, KVTileLowering>(ctx);
  patterns.add<TileOpLowering<BlockAttentionOp, lowerBlockAttention>,
               TileOpLowering<OnlineStepOp, lowerOnlineStep>,
               TileOpLowering<FinalizeOp, lowerFinalize>,
               TileOpLowering<CombineOp, lowerCombine>,
               TileOpLowering<BackwardStepOp, lowering::lowerBackwardStep>,
               TileOpLowering<AccumulateOp, lowering::lowerAccumulate>>(ctx);
}
