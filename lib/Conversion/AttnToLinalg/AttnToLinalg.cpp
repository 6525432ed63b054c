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

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
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

static constexpr double kNegInf = -std::numeric_limits<double>::infinity();
static constexpr double kLog2E = 1.4426950408889634;
static constexpr double kLn2 = 0.6931471805599453;

//===----------------------------------------------------------------------===//
// Small builders
//===----------------------------------------------------------------------===//

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

static Value floatConstant(OpBuilder &b, Location loc, Type type,
                           double value) {
  return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(type, value));
}

static Value convertFloat(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

/// exp(x), or exp2(x) when the scores are kept in units of log2.
static Value exponential(OpBuilder &b, Location loc, Value x, bool log2) {
  if (log2)
    return math::Exp2Op::create(b, loc, x);
  return math::ExpOp::create(b, loc, x);
}

/// tensor.empty of the given (static or dynamic) sizes.
static Value emptyTensor(OpBuilder &b, Location loc,
                         ArrayRef<OpFoldResult> sizes, Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

static Value filledTensor(OpBuilder &b, Location loc,
                          ArrayRef<OpFoldResult> sizes, Type elementType,
                          double value) {
  Value empty = emptyTensor(b, loc, sizes, elementType);
  Value init = floatConstant(b, loc, elementType, value);
  return linalg::FillOp::create(b, loc, init, empty).getResult(0);
}

static SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc,
                                         Value tensor) {
  return tensor::getMixedSizes(b, loc, tensor);
}

/// A linalg.generic over the iteration space of `init` (all parallel) whose
/// body yields `body(inputs..., out)`.
static Value elementwise(OpBuilder &b, Location loc, ValueRange inputs,
                         ArrayRef<AffineMap> inputMaps, Value init,
                         AffineMap outMap, BodyFn body) {
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(outMap);
  SmallVector<utils::IteratorType> iterators(outMap.getNumDims(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, init, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, body(nb, l, args));
      });
  return generic.getResult(0);
}

/// Reduces the last dimension of `input` into `init` (rank one less) with
/// max or add; `init` holds the starting values (e.g. a running max).
static Value rowReduce(OpBuilder &b, Location loc, Value input, Value init,
                       bool isMax) {
  int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(rank, ctx),
      AffineMap::getMultiDimIdentityMap(rank, ctx).getMajorSubMap(rank - 1)};
  SmallVector<utils::IteratorType> iterators(rank - 1,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), input, init, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value r =
            isMax
                ? arith::MaximumFOp::create(nb, l, args[0], args[1]).getResult()
                : arith::AddFOp::create(nb, l, args[0], args[1]).getResult();
        linalg::YieldOp::create(nb, l, r);
      });
  return generic.getResult(0);
}

/// init[out] += sum_k lhs[lhsMap] * rhs[rhsMap] over the last (reduction)
/// iteration dimension, in the accumulator's element type. `roundLhs`, when
/// set, rounds each lhs element to that type first (P before P.V).
static Value contract(OpBuilder &b, Location loc, Value lhs, AffineMap lhsMap,
                      Value rhs, AffineMap rhsMap, Value init, AffineMap outMap,
                      Type roundLhs = nullptr) {
  Type accType = cast<RankedTensorType>(init.getType()).getElementType();
  SmallVector<utils::IteratorType> iterators(lhsMap.getNumDims() - 1,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{lhs, rhs}, init,
      ArrayRef<AffineMap>{lhsMap, rhsMap, outMap}, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value x = args[0];
        if (roundLhs && roundLhs != x.getType())
          x = convertFloat(nb, l, convertFloat(nb, l, x, roundLhs), accType);
        x = convertFloat(nb, l, x, accType);
        Value y = convertFloat(nb, l, args[1], accType);
        Value prod = arith::MulFOp::create(nb, l, x, y);
        linalg::YieldOp::create(
            nb, l, arith::AddFOp::create(nb, l, args[2], prod).getResult());
      });
  return generic.getResult(0);
}

/// Clones a modifier region's body with its block arguments bound to `args`
/// and returns the yielded value.
static Value inlineModifier(OpBuilder &b, Region &region, ValueRange args) {
  Block &block = region.front();
  IRMapping mapping;
  mapping.map(block.getArguments(), args);
  for (Operation &nested : block.without_terminator())
    b.clone(nested, mapping);
  auto yield = cast<YieldOp>(block.getTerminator());
  return mapping.lookupOrDefault(yield.getValues().front());
}

/// The score's softmax shift: the row max, or 0 for a row with no visible
/// key (max = -inf), so that exp(-inf - shift) is 0 and never NaN.
static Value safeShift(OpBuilder &b, Location loc, Value rowMax) {
  Type type = rowMax.getType();
  Value allMasked =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowMax,
                            floatConstant(b, loc, type, kNegInf));
  return arith::SelectOp::create(b, loc, allMasked,
                                 floatConstant(b, loc, type, 0.0), rowMax);
}

//===----------------------------------------------------------------------===//
// The definition of one score
//===----------------------------------------------------------------------===//

namespace {
/// What turns a raw Q.K dot product into a masked, modified score; fixed for
/// one op.
struct ScoreSpec {
  Type accType;
  double scale = 1.0;
  std::optional<double> softcap;
  /// Which keys a row sees by position (the op's definition).
  KeyVisibility visibility;
  /// A constant of ALiBi slopes indexed by the global head, or null.
  Value slopes;
  Region *scoreMod = nullptr;
  Region *maskMod = nullptr;
  /// Tiles: keys at positions >= key length are padding and masked.
  bool maskPaddedKeys = false;
  /// Interior tiles: no key is masked by position; skip those checks.
  bool interior = false;
  /// Scores in units of log2 (exp2 follows instead of exp).
  bool log2Domain = false;
};

/// Where a score sits: absolute indices and the operand elements read there.
struct ScorePoint {
  Value batch, head, row, key; // index values; head is the global head
  Value queryLen, keyLen;      // index values
  Value bias;                  // element, or null
  Value keep;                  // i1 element of the mask operand, or null
};
} // namespace

/// Whether buildScore reads the positions of a ScorePoint (otherwise callers
/// need not materialise them).
static bool needsPositions(const ScoreSpec &spec) {
  return spec.visibility.isBounded() || spec.maskPaddedKeys ||
         spec.slopes || spec.scoreMod || spec.maskMod;
}

static bool hasNonlinearAfterScale(const ScoreSpec &spec, const ScorePoint &p) {
  return spec.softcap || spec.slopes || p.bias || spec.scoreMod;
}

/// Key `key` is visible to row `row` by position: the op's KeyVisibility,
/// and below the key length where tiles hold padding.
static Value positionVisible(OpBuilder &b, Location loc, const ScoreSpec &spec,
                             const ScorePoint &p) {
  IntArith a(b, loc, b.getIndexType());
  Value inRange = spec.maskPaddedKeys ? a.slt(p.key, p.keyLen) : Value();
  if (!spec.visibility.isBounded())
    return inRange ? inRange : a.truth();
  Value keep =
      spec.visibility.isVisible(a, p.row, p.key, p.queryLen, p.keyLen);
  return inRange ? a.both(inRange, keep) : keep;
}

/// s = mask(score_mod(bias + alibi + softcap(scale * dot))), in the
/// accumulator type; times log2(e) in the log2 domain (folded into the scale
/// when nothing nonlinear follows it).
static Value buildScore(OpBuilder &b, Location loc, const ScoreSpec &spec,
                        Value dot, const ScorePoint &p) {
  Type acc = spec.accType;
  bool foldLog2 = spec.log2Domain && !hasNonlinearAfterScale(spec, p);
  double scale = foldLog2 ? spec.scale * kLog2E : spec.scale;
  Value s =
      arith::MulFOp::create(b, loc, dot, floatConstant(b, loc, acc, scale));
  if (spec.softcap) {
    Value cap = floatConstant(b, loc, acc, *spec.softcap);
    Value t =
        math::TanhOp::create(b, loc, arith::DivFOp::create(b, loc, s, cap));
    s = arith::MulFOp::create(b, loc, cap, t);
  }
  if (spec.slopes) {
    // -slope[h] * |i + Lk - Lq - j|: FlashAttention's ALiBi distance.
    Value offset = arith::SubIOp::create(b, loc, p.keyLen, p.queryLen);
    Value dist = arith::SubIOp::create(
        b, loc, arith::AddIOp::create(b, loc, p.row, offset), p.key);
    Value distI64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), dist);
    Value absDist = math::AbsIOp::create(b, loc, distI64);
    Value distF = arith::SIToFPOp::create(b, loc, acc, absDist);
    Value slope = tensor::ExtractOp::create(b, loc, spec.slopes, p.head);
    s = arith::SubFOp::create(b, loc, s,
                              arith::MulFOp::create(b, loc, slope, distF));
  }
  if (p.bias)
    s = arith::AddFOp::create(b, loc, s, convertFloat(b, loc, p.bias, acc));
  if (spec.scoreMod) {
    // The region's signature is f32, whatever the accumulator.
    Value score = convertFloat(b, loc, s, b.getF32Type());
    s = convertFloat(b, loc,
                     inlineModifier(b, *spec.scoreMod,
                                    {score, p.batch, p.head, p.row, p.key}),
                     acc);
  }
  if (spec.log2Domain && !foldLog2)
    s = arith::MulFOp::create(b, loc, s, floatConstant(b, loc, acc, kLog2E));

  bool positional = !spec.interior &&
                    (spec.visibility.isBounded() || spec.maskPaddedKeys);
  if (!positional && !p.keep && !spec.maskMod)
    return s;
  Value keep = positional
                   ? positionVisible(b, loc, spec, p)
                   : arith::ConstantIntOp::create(b, loc, 1, 1).getResult();
  if (p.keep)
    keep = arith::AndIOp::create(b, loc, keep, p.keep);
  if (spec.maskMod)
    keep = arith::AndIOp::create(
        b, loc, keep,
        inlineModifier(b, *spec.maskMod, {p.batch, p.head, p.row, p.key}));
  return arith::SelectOp::create(b, loc, keep, s,
                                 floatConstant(b, loc, acc, kNegInf));
}

/// Fills the op-independent fields of a ScoreSpec from any op with the
/// score attributes and modifier regions.
template <typename OpTy>
static ScoreSpec makeScoreSpec(OpBuilder &b, Location loc, OpTy op,
                               Type accType, double scale) {
  ScoreSpec spec;
  spec.accType = accType;
  spec.scale = scale;
  spec.softcap = op.getSoftcapValue();
  spec.visibility = op.getKeyVisibility();
  if (std::optional<ArrayRef<double>> slopes = op.getAlibiSlopes()) {
    auto type =
        RankedTensorType::get({static_cast<int64_t>(slopes->size())}, accType);
    SmallVector<Attribute> values;
    for (double s : *slopes)
      values.push_back(b.getFloatAttr(accType, s));
    spec.slopes =
        arith::ConstantOp::create(b, loc, DenseElementsAttr::get(type, values));
  }
  if (!op.getScoreMod().empty())
    spec.scoreMod = &op.getScoreMod();
  if (!op.getMaskMod().empty())
    spec.maskMod = &op.getMaskMod();
  return spec;
}

//===----------------------------------------------------------------------===//
// Softmax building blocks (rank-generic: rows are all but the last dim)
//===----------------------------------------------------------------------===//

/// P = exp(S - shift(m)) with m broadcast along the last dimension.
static Value exponentiate(OpBuilder &b, Location loc, Value scores,
                          Value rowMax, bool log2) {
  int64_t rank = cast<RankedTensorType>(scores.getType()).getRank();
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  Type acc = cast<RankedTensorType>(scores.getType()).getElementType();
  Value init = emptyTensor(b, loc, sizesOf(b, loc, scores), acc);
  return elementwise(
      b, loc, {scores, rowMax}, {id, id.getMajorSubMap(rank - 1)}, init, id,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value shifted =
            arith::SubFOp::create(nb, l, a[0], safeShift(nb, l, a[1]));
        return exponential(nb, l, shifted, log2);
      });
}

/// out = l == 0 ? 0 : acc / l, converted to `outInit`'s element type and
/// written through `outMap` (a layout permutation for the whole op).
static Value normalize(OpBuilder &b, Location loc, Value acc, Value rowSum,
                       Value outInit, AffineMap outMap) {
  int64_t rank = cast<RankedTensorType>(acc.getType()).getRank();
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  Type outElt = cast<RankedTensorType>(outInit.getType()).getElementType();
  return elementwise(
      b, loc, {acc, rowSum}, {id, id.getMajorSubMap(rank - 1)}, outInit, outMap,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Type t = a[0].getType();
        Value zero = floatConstant(nb, l, t, 0.0);
        Value empty =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, a[1], zero);
        Value o = arith::DivFOp::create(nb, l, a[0], a[1]);
        o = arith::SelectOp::create(nb, l, empty, zero, o);
        return convertFloat(nb, l, o, outElt);
      });
}

/// lse = l == 0 ? -inf : m + log(l) in f32; in the log2 domain
/// (m + log2(l)) * ln(2).
static Value logSumExp(OpBuilder &b, Location loc, Value rowMax, Value rowSum,
                       bool log2) {
  int64_t rank = cast<RankedTensorType>(rowMax.getType()).getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  Type f32 = b.getF32Type();
  Value init = emptyTensor(b, loc, sizesOf(b, loc, rowMax), f32);
  return elementwise(
      b, loc, {rowMax, rowSum}, {id, id}, init, id,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Type t = a[0].getType();
        Value zero = floatConstant(nb, l, t, 0.0);
        Value empty =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, a[1], zero);
        Value lse;
        if (log2) {
          lse = arith::AddFOp::create(nb, l, a[0],
                                      math::Log2Op::create(nb, l, a[1]));
          lse =
              arith::MulFOp::create(nb, l, lse, floatConstant(nb, l, t, kLn2));
        } else {
          lse = arith::AddFOp::create(nb, l, a[0],
                                      math::LogOp::create(nb, l, a[1]));
        }
        lse = arith::SelectOp::create(nb, l, empty,
                                      floatConstant(nb, l, t, kNegInf), lse);
        return convertFloat(nb, l, lse, f32);
      });
}

//===----------------------------------------------------------------------===//
// attn.attention
//===----------------------------------------------------------------------===//

namespace {
/// Iteration dimensions are named after the math: b (batch), h (query head),
/// i (query row), j (key row), d (head dim, reduced in Q.K^T) and c (value
/// column, reduced over j in P.V).
class AttentionLowering {
public:
  AttentionLowering(OpBuilder &builder, AttentionOp op, Type accType)
      : b(builder), op(op), loc(op.getLoc()), ctx(op.getContext()),
        accType(accType) {}

  SmallVector<Value> lower();

private:
  /// Map from an iteration space to a Q/K/V/O operand in the op's layout.
  AffineMap layoutMap(unsigned numDims, AffineExpr batch, AffineExpr head,
                      AffineExpr seq, AffineExpr last) {
    if (op.getLayout() == Layout::BHSD)
      return AffineMap::get(numDims, 0, {batch, head, seq, last}, ctx);
    return AffineMap::get(numDims, 0, {batch, seq, head, last}, ctx);
  }
  /// The key/value head read by query head `h`.
  AffineExpr kvHead(AffineExpr h) {
    int64_t group = op.getHeadGroupSize();
    return group == 1 ? h : h.floorDiv(group);
  }
  /// Map from (b, h, i, j) to a [B, Hq, Lq, Lk]-broadcastable operand:
  /// static extents of 1 are read at index 0.
  AffineMap broadcastMap(Value operand);
  Value modifyScores(Value scores);

  OpBuilder &b;
  AttentionOp op;
  Location loc;
  MLIRContext *ctx;
  Type accType;
  SmallVector<int64_t> scoreShape; // [B, Hq, Lq, Lk], maybe dynamic
  SmallVector<OpFoldResult> scoreSizes, rowSizes, accSizes;
  Value queryLength, keyLength;
};
} // namespace

AffineMap AttentionLowering::broadcastMap(Value operand) {
  auto type = cast<RankedTensorType>(operand.getType());
  SmallVector<AffineExpr> results;
  for (int64_t axis = 0; axis < 4; ++axis) {
    bool broadcast = type.getDimSize(axis) == 1 && scoreShape[axis] != 1;
    results.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(axis, ctx));
  }
  return AffineMap::get(4, 0, results, ctx);
}

/// S' = mask(score_mod(bias + alibi + softcap(scale * S))), elementwise.
Value AttentionLowering::modifyScores(Value scores) {
  ScoreSpec spec = makeScoreSpec(b, loc, op, accType, op.getEffectiveScale());
  // Per-sequence lengths mask the keys past each sequence's end.
  Value keyLengths = op.getKeyLengths();
  spec.maskPaddedKeys = static_cast<bool>(keyLengths);
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  SmallVector<Value> inputs = {scores};
  SmallVector<AffineMap> maps = {id};
  int biasArg = -1, maskArg = -1;
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
  Value init = emptyTensor(b, loc, scoreSizes, accType);
  return elementwise(
      b, loc, inputs, maps, init, id,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        ScorePoint p;
        if (needsPositions(spec)) {
          p.batch = linalg::IndexOp::create(nb, l, 0);
          p.head = linalg::IndexOp::create(nb, l, 1);
          // ALiBi and the modifiers see the global head of a shard.
          if (int64_t offset = op.getGlobalHeadOffset())
            p.head = arith::AddIOp::create(
                nb, l, p.head, arith::ConstantIndexOp::create(nb, l, offset));
          p.row = linalg::IndexOp::create(nb, l, 2);
          p.key = linalg::IndexOp::create(nb, l, 3);
        }
        p.queryLen = queryLength;
        p.keyLen = keyLength;
        if (keyLengths)
          p.keyLen = arith::IndexCastOp::create(
              nb, l, nb.getIndexType(),
              tensor::ExtractOp::create(nb, l, keyLengths, p.batch));
        if (biasArg >= 0)
          p.bias = args[biasArg];
        if (maskArg >= 0)
          p.keep = args[maskArg];
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

  Value rowMax = rowReduce(b, loc, scores,
                           filledTensor(b, loc, rowSizes, accType, kNegInf),
                           /*isMax=*/true);
  Value probs = exponentiate(b, loc, scores, rowMax, /*log2=*/false);
  Value rowSum =
      rowReduce(b, loc, probs, filledTensor(b, loc, rowSizes, accType, 0.0),
                /*isMax=*/false);

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
  if (op.getLse())
    results.push_back(logSumExp(b, loc, rowMax, rowSum, /*log2=*/false));
  return results;
}

//===----------------------------------------------------------------------===//
// Tile ops: attn.block_attention, attn.online_step
//===----------------------------------------------------------------------===//

/// S[g, i, j] = modified(sum_d Q[g, i, d] * K[j, d]) for a tile op, with
/// absolute positions from its operands.
template <typename TileOp>
static Value tileScores(OpBuilder &b, TileOp op, Type accType,
                        bool log2Domain) {
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  AffineExpr g, i, j, d;
  bindDims(ctx, g, i, j, d);
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  int64_t n = op.getBlockN();
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(qType.getDimSize(0)),
                                     b.getIndexAttr(qType.getDimSize(1)),
                                     b.getIndexAttr(n)};
  Value raw =
      contract(b, loc, op.getQuery(), AffineMap::get(4, 0, {g, i, d}, ctx),
               op.getKey(), AffineMap::get(4, 0, {j, d}, ctx),
               filledTensor(b, loc, sizes, accType, 0.0),
               AffineMap::get(4, 0, {g, i, j}, ctx));

  ScoreSpec spec =
      makeScoreSpec(b, loc, op, accType, op.getScale().convertToDouble());
  spec.maskPaddedKeys = true;
  spec.interior = op.getInterior();
  spec.log2Domain = log2Domain;
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, ctx);
  SmallVector<Value> inputs = {raw};
  int biasArg = -1, maskArg = -1;
  if (op.getBias()) {
    biasArg = inputs.size();
    inputs.push_back(op.getBias());
  }
  if (op.getMask()) {
    maskArg = inputs.size();
    inputs.push_back(op.getMask());
  }
  SmallVector<AffineMap> maps(inputs.size(), id);
  Value init = emptyTensor(b, loc, sizes, accType);
  return elementwise(
      b, loc, inputs, maps, init, id,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        auto add = [&](Value base, int64_t dim) {
          Value idx = linalg::IndexOp::create(nb, l, dim);
          return arith::AddIOp::create(nb, l, base, idx).getResult();
        };
        ScorePoint p;
        if (needsPositions(spec)) {
          p.batch = op.getBatch();
          p.head = add(op.getHead(), 0);
          p.row = add(op.getQueryPos(), 1);
          p.key = add(op.getKeyPos(), 2);
        }
        p.queryLen = op.getQueryLen();
        p.keyLen = op.getKeyLen();
        if (biasArg >= 0)
          p.bias = args[biasArg];
        if (maskArg >= 0)
          p.keep = args[maskArg];
        return buildScore(nb, l, spec, args[0], p);
      });
}

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
  Value scores = tileScores(b, op, f32, /*log2Domain=*/false);
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
  return {out, logSumExp(b, loc, rowMax, rowSum, false)};
}

/// One online-softmax step; see attn.online_step's description.
static SmallVector<Value> lowerOnlineStep(OpBuilder &b, OnlineStepOp op) {
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  bool log2 = op.getLog2Domain();
  Value scores = tileScores(b, op, b.getF32Type(), log2);

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
          logSumExp(b, loc, op.getMax(), op.getSum(), op.getLog2Domain())};
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

FailureOr<SmallVector<Value>>
mlir::attn::lowerAttentionToLinalg(OpBuilder &builder, AttentionOp op,
                                   const AttnToLinalgOptions &options) {
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPoint(op);
  Type accType = options.accumulateInF64 ? Type(builder.getF64Type())
                                         : Type(builder.getF32Type());
  return AttentionLowering(builder, op, accType).lower();
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
  patterns.add<KVCacheViewLowering>(ctx);
  patterns.add<TileOpLowering<BlockAttentionOp, lowerBlockAttention>,
               TileOpLowering<OnlineStepOp, lowerOnlineStep>,
               TileOpLowering<FinalizeOp, lowerFinalize>,
               TileOpLowering<CombineOp, lowerCombine>>(ctx);
}
