//===- AttnToLinalg.cpp - reference lowering of attn.attention ------------===//
//
// Part of attn-mlir. Lowers attn.attention to a chain of linalg.generic ops
// that states its semantics directly: the full score matrix, a stable
// softmax, and the product with V. Every optimised lowering is checked
// against what this one computes.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

#define DEBUG_TYPE "convert-attn-to-linalg"

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTOLINALG
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Builds the linalg chain for one attention op. Iteration dimensions are
/// named after the math: b (batch), h (query head), i (query row), j (key
/// row), d (head dim, reduced in Q.K^T) and c (value column).
class AttentionLowering {
public:
  AttentionLowering(OpBuilder &builder, AttentionOp op,
                    const AttnToLinalgOptions &options)
      : b(builder), op(op), loc(op.getLoc()), ctx(op.getContext()),
        accType(options.accumulateInF64 ? Type(b.getF64Type())
                                        : Type(b.getF32Type())) {}

  SmallVector<Value> lower();

private:
  /// Map from an iteration space to a Q/K/V/O operand in the op's layout.
  AffineMap layoutMap(unsigned numDims, AffineExpr batch, AffineExpr head,
                      AffineExpr seq, AffineExpr last) const {
    if (op.getLayout() == Layout::BHSD)
      return AffineMap::get(numDims, 0, {batch, head, seq, last}, ctx);
    return AffineMap::get(numDims, 0, {batch, seq, head, last}, ctx);
  }
  /// The key/value head read by query head `h`.
  AffineExpr kvHead(AffineExpr h) const {
    int64_t group = op.getHeadGroupSize();
    return group == 1 ? h : h.floorDiv(group);
  }
  /// Map from (b, h, i, j) to a [B, Hq, Lq, Lk]-broadcastable operand:
  /// extents of 1 are read at index 0.
  AffineMap broadcastMap(Value operand) const;

  Value dimValue(Value tensor, int64_t axis) {
    return b.createOrFold<tensor::DimOp>(loc, tensor, axis);
  }
  Value emptyTensor(ArrayRef<int64_t> shape, ArrayRef<Value> dynamicSizes,
                    Type elementType);
  Value filledTensor(ArrayRef<int64_t> shape, ArrayRef<Value> dynamicSizes,
                     double value);
  Value convert(OpBuilder &nb, Value v, Type to) const;
  Value floatConstant(OpBuilder &nb, double value) const {
    return arith::ConstantOp::create(nb, loc, accType,
                                     nb.getFloatAttr(accType, value));
  }
  /// Clones a modifier region's body with its block arguments bound to
  /// `args` and returns the yielded value.
  Value inlineModifier(OpBuilder &nb, Region &region, ValueRange args) const;

  Value computeScores();
  Value modifyScores(Value scores);
  Value keepKey(OpBuilder &nb, ValueRange inputs, unsigned maskArg);
  Value rowReduce(Value input, double init, bool isMax);
  Value exponentiate(Value scores, Value rowMax);
  Value multiplyValues(Value probs);
  Value normalize(Value acc, Value rowSum);
  Value logSumExp(Value rowMax, Value rowSum);

  OpBuilder &b;
  // Op accessors are non-const; the lowering never mutates the op.
  mutable AttentionOp op;
  Location loc;
  MLIRContext *ctx;
  Type accType;

  // Logical [B, Hq, Lq, Lk] extents; dynamic ones also as index values.
  SmallVector<int64_t> scoreShape;
  SmallVector<Value> scoreDynSizes, rowDynSizes, outDynSizes;
  Value queryLength, keyLength;
};

} // namespace

AffineMap AttentionLowering::broadcastMap(Value operand) const {
  auto type = cast<RankedTensorType>(operand.getType());
  SmallVector<AffineExpr> results;
  for (int64_t axis = 0; axis < 4; ++axis) {
    bool broadcast = type.getDimSize(axis) == 1 && scoreShape[axis] != 1;
    results.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(axis, ctx));
  }
  return AffineMap::get(4, 0, results, ctx);
}

Value AttentionLowering::emptyTensor(ArrayRef<int64_t> shape,
                                     ArrayRef<Value> dynamicSizes,
                                     Type elementType) {
  return tensor::EmptyOp::create(b, loc, shape, elementType, dynamicSizes);
}

Value AttentionLowering::filledTensor(ArrayRef<int64_t> shape,
                                      ArrayRef<Value> dynamicSizes,
                                      double value) {
  Value empty = emptyTensor(shape, dynamicSizes, accType);
  Value init = floatConstant(b, value);
  return linalg::FillOp::create(b, loc, init, empty).getResult(0);
}

Value AttentionLowering::convert(OpBuilder &nb, Value v, Type to) const {
  Type from = v.getType();
  if (from == to)
    return v;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(nb, loc, to, v);
  return arith::TruncFOp::create(nb, loc, to, v);
}

Value AttentionLowering::inlineModifier(OpBuilder &nb, Region &region,
                                        ValueRange args) const {
  Block &block = region.front();
  IRMapping mapping;
  mapping.map(block.getArguments(), args);
  for (Operation &nested : block.without_terminator())
    nb.clone(nested, mapping);
  auto yield = cast<YieldOp>(block.getTerminator());
  return mapping.lookupOrDefault(yield.getValues().front());
}

/// S[b, h, i, j] = sum_d Q[b, h, i, d] * K[b, h / g, j, d], accumulated in
/// the accumulator type.
Value AttentionLowering::computeScores() {
  AffineExpr bb, h, i, j, d;
  bindDims(ctx, bb, h, i, j, d);
  SmallVector<AffineMap> maps = {
      layoutMap(5, bb, h, i, d), layoutMap(5, bb, kvHead(h), j, d),
      AffineMap::get(5, 0, {bb, h, i, j}, ctx)};
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Value init = filledTensor(scoreShape, scoreDynSizes, 0.0);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{op.getQuery(), op.getKey()}, init,
      maps, iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value q = convert(nb, args[0], accType);
        Value k = convert(nb, args[1], accType);
        Value prod = arith::MulFOp::create(nb, l, q, k);
        linalg::YieldOp::create(nb, l,
                                arith::AddFOp::create(nb, l, args[2], prod)
                                    .getResult());
      });
  return generic.getResult(0);
}

/// Whether key j is visible to query i; `inputs[maskArg]` is the boolean
/// mask operand's element when one is present.
Value AttentionLowering::keepKey(OpBuilder &nb, ValueRange inputs,
                                 unsigned maskArg) {
  Value bIdx = linalg::IndexOp::create(nb, loc, 0);
  Value hIdx = linalg::IndexOp::create(nb, loc, 1);
  Value iIdx = linalg::IndexOp::create(nb, loc, 2);
  Value jIdx = linalg::IndexOp::create(nb, loc, 3);
  Value keep = arith::ConstantIntOp::create(nb, loc, 1, 1);
  auto andKeep = [&](Value cond) {
    keep = arith::AndIOp::create(nb, loc, keep, cond);
  };
  // Bottom-right alignment shifts the diagonal by Lk - Lq.
  auto alignedRow = [&]() {
    Value offset = arith::SubIOp::create(nb, loc, keyLength, queryLength);
    return arith::AddIOp::create(nb, loc, iIdx, offset).getResult();
  };
  auto indexConst = [&](int64_t v) {
    return arith::ConstantIndexOp::create(nb, loc, v).getResult();
  };
  switch (op.getMaskKind()) {
  case MaskKind::None:
    break;
  case MaskKind::CausalTopLeft:
    andKeep(arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::sle, jIdx,
                                  iIdx));
    break;
  case MaskKind::CausalBottomRight:
    andKeep(arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::sle, jIdx,
                                  alignedRow()));
    break;
  case MaskKind::SlidingWindow: {
    ArrayRef<int64_t> window = *op.getWindow();
    Value row = alignedRow();
    Value lo = arith::SubIOp::create(nb, loc, row, indexConst(window[0]));
    Value hi = arith::AddIOp::create(nb, loc, row, indexConst(window[1]));
    andKeep(arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::sge, jIdx,
                                  lo));
    andKeep(arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::sle, jIdx,
                                  hi));
    break;
  }
  }
  if (op.getMask())
    andKeep(inputs[maskArg]);
  if (!op.getMaskMod().empty())
    andKeep(inlineModifier(nb, op.getMaskMod(), {bIdx, hIdx, iIdx, jIdx}));
  return keep;
}

/// S' = mask(score_mod(bias + alibi + softcap(scale * S))), elementwise.
Value AttentionLowering::modifyScores(Value scores) {
  SmallVector<Value> inputs = {scores};
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(4, ctx)};
  int biasArg = -1, slopeArg = -1, maskArg = -1;
  if (std::optional<ArrayRef<double>> slopes = op.getAlibiSlopes()) {
    auto slopeType = RankedTensorType::get(
        {static_cast<int64_t>(slopes->size())}, accType);
    SmallVector<Attribute> values;
    for (double s : *slopes)
      values.push_back(b.getFloatAttr(accType, s));
    slopeArg = inputs.size();
    inputs.push_back(arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(slopeType, values)));
    maps.push_back(AffineMap::get(4, 0, {getAffineDimExpr(1, ctx)}, ctx));
  }
  if (Value bias = op.getBias()) {
    biasArg = inputs.size();
    inputs.push_back(bias);
    maps.push_back(broadcastMap(bias));
  }
  if (Value mask = op.getMask()) {
    maskArg = inputs.size();
    inputs.push_back(mask);
    maps.push_back(broadcastMap(mask));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(4, ctx));
  Value init = emptyTensor(scoreShape, scoreDynSizes, accType);
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);

  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, init, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value s = arith::MulFOp::create(nb, l, args[0],
                                        floatConstant(nb, op.getEffectiveScale()));
        if (std::optional<double> cap = op.getSoftcapValue()) {
          Value capV = floatConstant(nb, *cap);
          Value t = math::TanhOp::create(
              nb, l, arith::DivFOp::create(nb, l, s, capV));
          s = arith::MulFOp::create(nb, l, capV, t);
        }
        if (slopeArg >= 0) {
          // -slope * |i + Lk - Lq - j|, FlashAttention's ALiBi distance.
          Value i = linalg::IndexOp::create(nb, l, 2);
          Value j = linalg::IndexOp::create(nb, l, 3);
          Value offset = arith::SubIOp::create(nb, l, keyLength, queryLength);
          Value dist = arith::SubIOp::create(
              nb, l, arith::AddIOp::create(nb, l, i, offset), j);
          Value distI64 = arith::IndexCastOp::create(nb, l, nb.getI64Type(),
                                                     dist);
          Value absDist = math::AbsIOp::create(nb, l, distI64);
          Value distF = arith::SIToFPOp::create(nb, l, accType, absDist);
          Value penalty = arith::MulFOp::create(nb, l, args[slopeArg], distF);
          s = arith::SubFOp::create(nb, l, s, penalty);
        }
        if (biasArg >= 0)
          s = arith::AddFOp::create(nb, l, s,
                                    convert(nb, args[biasArg], accType));
        if (!op.getScoreMod().empty()) {
          SmallVector<Value> modArgs = {convert(nb, s, nb.getF32Type())};
          for (int64_t dim = 0; dim < 4; ++dim)
            modArgs.push_back(linalg::IndexOp::create(nb, l, dim));
          s = convert(nb, inlineModifier(nb, op.getScoreMod(), modArgs),
                      accType);
        }
        if (op.hasStructuralMask() || maskArg >= 0 || !op.getMaskMod().empty()) {
          Value keep = keepKey(nb, args, maskArg);
          Value negInf =
              floatConstant(nb, -std::numeric_limits<double>::infinity());
          s = arith::SelectOp::create(nb, l, keep, s, negInf);
        }
        linalg::YieldOp::create(nb, l, s);
      });
  return generic.getResult(0);
}

/// Row max (init -inf) or row sum (init 0) over j of a [B, Hq, Lq, Lk] tensor.
Value AttentionLowering::rowReduce(Value input, double init, bool isMax) {
  SmallVector<int64_t> rowShape(scoreShape.begin(), scoreShape.end() - 1);
  Value out = filledTensor(rowShape, rowDynSizes, init);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(4, ctx),
                                 AffineMap::getMultiDimIdentityMap(4, ctx)
                                     .getMajorSubMap(3)};
  SmallVector<utils::IteratorType> iterators(3, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto generic = linalg::GenericOp::create(
      b, loc, out.getType(), input, out, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value r = isMax ? arith::MaximumFOp::create(nb, l, args[0], args[1])
                              .getResult()
                        : arith::AddFOp::create(nb, l, args[0], args[1])
                              .getResult();
        linalg::YieldOp::create(nb, l, r);
      });
  return generic.getResult(0);
}

/// P = exp(S' - m), with m replaced by 0 for fully masked rows so that
/// exp(-inf - -inf) never produces NaN.
Value AttentionLowering::exponentiate(Value scores, Value rowMax) {
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(4, ctx),
      AffineMap::getMultiDimIdentityMap(4, ctx).getMajorSubMap(3),
      AffineMap::getMultiDimIdentityMap(4, ctx)};
  Value init = emptyTensor(scoreShape, scoreDynSizes, accType);
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{scores, rowMax}, init, maps,
      iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value negInf =
            floatConstant(nb, -std::numeric_limits<double>::infinity());
        Value allMasked = arith::CmpFOp::create(
            nb, l, arith::CmpFPredicate::OEQ, args[1], negInf);
        Value m = arith::SelectOp::create(nb, l, allMasked,
                                          floatConstant(nb, 0.0), args[1]);
        Value p = math::ExpOp::create(
            nb, l, arith::SubFOp::create(nb, l, args[0], m));
        linalg::YieldOp::create(nb, l, p);
      });
  return generic.getResult(0);
}

/// A[b, h, i, c] = sum_j P[b, h, i, j] * V[b, h / g, j, c].
Value AttentionLowering::multiplyValues(Value probs) {
  AffineExpr bb, h, i, c, j;
  bindDims(ctx, bb, h, i, c, j);
  SmallVector<AffineMap> maps = {AffineMap::get(5, 0, {bb, h, i, j}, ctx),
                                 layoutMap(5, bb, kvHead(h), j, c),
                                 AffineMap::get(5, 0, {bb, h, i, c}, ctx)};
  SmallVector<int64_t> accShape = {scoreShape[0], scoreShape[1], scoreShape[2],
                                   op.getValueHeadDim()};
  Value init = filledTensor(accShape, rowDynSizes, 0.0);
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{probs, op.getValue()}, init, maps,
      iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value v = convert(nb, args[1], accType);
        Value prod = arith::MulFOp::create(nb, l, args[0], v);
        linalg::YieldOp::create(nb, l,
                                arith::AddFOp::create(nb, l, args[2], prod)
                                    .getResult());
      });
  return generic.getResult(0);
}

/// O = l == 0 ? 0 : A / l, written in the op's layout and element type.
Value AttentionLowering::normalize(Value acc, Value rowSum) {
  AffineExpr bb, h, i, c;
  bindDims(ctx, bb, h, i, c);
  RankedTensorType outType = op.getOutputType();
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(4, ctx),
                                 AffineMap::get(4, 0, {bb, h, i}, ctx),
                                 layoutMap(4, bb, h, i, c)};
  Value init = emptyTensor(outType.getShape(), outDynSizes,
                           outType.getElementType());
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, outType, ValueRange{acc, rowSum}, init, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value zero = floatConstant(nb, 0.0);
        Value empty = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ,
                                            args[1], zero);
        Value o = arith::DivFOp::create(nb, l, args[0], args[1]);
        o = arith::SelectOp::create(nb, l, empty, zero, o);
        linalg::YieldOp::create(nb, l,
                                convert(nb, o, outType.getElementType()));
      });
  return generic.getResult(0);
}

/// lse = l == 0 ? -inf : m + log(l), in f32.
Value AttentionLowering::logSumExp(Value rowMax, Value rowSum) {
  SmallVector<int64_t> rowShape(scoreShape.begin(), scoreShape.end() - 1);
  Type f32 = b.getF32Type();
  Value init = emptyTensor(rowShape, rowDynSizes, f32);
  SmallVector<AffineMap> maps(3, AffineMap::getMultiDimIdentityMap(3, ctx));
  SmallVector<utils::IteratorType> iterators(3, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{rowMax, rowSum}, init, maps,
      iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value zero = floatConstant(nb, 0.0);
        Value negInf =
            floatConstant(nb, -std::numeric_limits<double>::infinity());
        Value empty = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ,
                                            args[1], zero);
        Value lse = arith::AddFOp::create(
            nb, l, args[0], math::LogOp::create(nb, l, args[1]));
        lse = arith::SelectOp::create(nb, l, empty, negInf, lse);
        linalg::YieldOp::create(nb, l, convert(nb, lse, f32));
      });
  return generic.getResult(0);
}

SmallVector<Value> AttentionLowering::lower() {
  int64_t seqAxis = op.getSeqAxis();
  RankedTensorType qType = op.getQueryType();
  scoreShape = {qType.getDimSize(0), op.getNumQueryHeads(),
                op.getQueryLength(), op.getKeyLength()};
  Value batch = dimValue(op.getQuery(), 0);
  queryLength = dimValue(op.getQuery(), seqAxis);
  keyLength = dimValue(op.getKey(), seqAxis);
  auto addIfDynamic = [](SmallVector<Value> &sizes, int64_t extent, Value v) {
    if (ShapedType::isDynamic(extent))
      sizes.push_back(v);
  };
  for (SmallVector<Value> *sizes : {&scoreDynSizes, &rowDynSizes}) {
    addIfDynamic(*sizes, scoreShape[0], batch);
    addIfDynamic(*sizes, scoreShape[2], queryLength);
  }
  addIfDynamic(scoreDynSizes, scoreShape[3], keyLength);
  // The output follows the op's layout: sequence before head in BSHD.
  RankedTensorType outType = op.getOutputType();
  for (int64_t axis = 0; axis < 4; ++axis) {
    if (!outType.isDynamicDim(axis))
      continue;
    outDynSizes.push_back(axis == 0 ? batch : queryLength);
  }

  Value scores = modifyScores(computeScores());
  Value rowMax = rowReduce(scores, -std::numeric_limits<double>::infinity(),
                           /*isMax=*/true);
  Value probs = exponentiate(scores, rowMax);
  Value rowSum = rowReduce(probs, 0.0, /*isMax=*/false);
  SmallVector<Value> results = {
      normalize(multiplyValues(probs), rowSum)};
  if (op.getLse())
    results.push_back(logSumExp(rowMax, rowSum));
  return results;
}

FailureOr<SmallVector<Value>>
mlir::attn::lowerAttentionToLinalg(OpBuilder &builder, AttentionOp op,
                                   const AttnToLinalgOptions &options) {
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPoint(op);
  return AttentionLowering(builder, op, options).lower();
}

namespace {

struct AttentionOpLowering : OpConversionPattern<AttentionOp> {
  AttentionOpLowering(MLIRContext *ctx, const AttnToLinalgOptions &options)
      : OpConversionPattern(ctx), options(options) {}

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FailureOr<SmallVector<Value>> results =
        lowerAttentionToLinalg(rewriter, op, options);
    if (failed(results))
      return failure();
    rewriter.replaceOp(op, *results);
    return success();
  }

  AttnToLinalgOptions options;
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
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateAttnToLinalgConversionPatterns(
    RewritePatternSet &patterns, const AttnToLinalgOptions &options) {
  patterns.add<AttentionOpLowering>(patterns.getContext(), options);
}
