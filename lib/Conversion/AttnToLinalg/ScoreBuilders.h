//===- ScoreBuilders.h - shared builders of the linalg lowering -*- C++ -*-===//
//
// Part of attn-mlir. Internal to lib/Conversion/AttnToLinalg: the small
// linalg builders, the one definition of a score (buildScore) and the
// softmax building blocks, shared by the forward lowering (AttnToLinalg.cpp)
// and the backward's (AttnToLinalgBackward.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLINALG_SCOREBUILDERS_H
#define ATTN_LIB_CONVERSION_ATTNTOLINALG_SCOREBUILDERS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/KeyVisibility.h"
#include "attn/Dialect/Attn/IR/ScoreModDerivative.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

#include <cmath>
#include <limits>

namespace mlir::attn::lowering {

inline constexpr double kNegInf = -std::numeric_limits<double>::infinity();
inline constexpr double kLog2E = 1.4426950408889634;
inline constexpr double kLn2 = 0.6931471805599453;

//===----------------------------------------------------------------------===//
// Small builders
//===----------------------------------------------------------------------===//

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

inline Value floatConstant(OpBuilder &b, Location loc, Type type,
                           double value) {
  return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(type, value));
}

inline Value convertFloat(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

/// exp(x), or exp2(x) when the scores are kept in units of log2.
inline Value exponential(OpBuilder &b, Location loc, Value x, bool log2) {
  if (log2)
    return math::Exp2Op::create(b, loc, x);
  return math::ExpOp::create(b, loc, x);
}

/// tensor.empty of the given (static or dynamic) sizes.
inline Value emptyTensor(OpBuilder &b, Location loc,
                         ArrayRef<OpFoldResult> sizes, Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

inline Value filledTensor(OpBuilder &b, Location loc,
                          ArrayRef<OpFoldResult> sizes, Type elementType,
                          double value) {
  Value empty = emptyTensor(b, loc, sizes, elementType);
  Value init = floatConstant(b, loc, elementType, value);
  return linalg::FillOp::create(b, loc, init, empty).getResult(0);
}

inline SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc,
                                         Value tensor) {
  return tensor::getMixedSizes(b, loc, tensor);
}

/// A linalg.generic over the iteration space of `init` (all parallel) whose
/// body yields `body(inputs..., out)`.
inline Value elementwise(OpBuilder &b, Location loc, ValueRange inputs,
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

/// elementwise with several results: `body(inputs..., outs...)` yields one
/// value per init, all written through `outMap`.
inline SmallVector<Value>
elementwiseMulti(OpBuilder &b, Location loc, ValueRange inputs,
                 ArrayRef<AffineMap> inputMaps, ValueRange inits,
                 AffineMap outMap,
                 function_ref<SmallVector<Value>(OpBuilder &, Location,
                                                 ValueRange)>
                     body) {
  SmallVector<AffineMap> maps(inputMaps);
  maps.append(inits.size(), outMap);
  SmallVector<utils::IteratorType> iterators(outMap.getNumDims(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange(inits), inputs, inits, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, body(nb, l, args));
      });
  return SmallVector<Value>(generic.getResults());
}

/// Reduces the last dimension of `input` into `init` (rank one less) with
/// max or add; `init` holds the starting values (e.g. a running max).
inline Value rowReduce(OpBuilder &b, Location loc, Value input, Value init,
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

/// init[out] += sum_k lhs[lhsMap] * rhs[rhsMap] over the last
/// `numReductions` (reduction) iteration dimensions, in the accumulator's
/// element type. `roundLhs`, when set, rounds each lhs element to that type
/// first (P before P.V).
inline Value contract(OpBuilder &b, Location loc, Value lhs, AffineMap lhsMap,
                      Value rhs, AffineMap rhsMap, Value init, AffineMap outMap,
                      Type roundLhs = nullptr, unsigned numReductions = 1) {
  Type accType = cast<RankedTensorType>(init.getType()).getElementType();
  SmallVector<utils::IteratorType> iterators(
      lhsMap.getNumDims() - numReductions, utils::IteratorType::parallel);
  iterators.append(numReductions, utils::IteratorType::reduction);
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
inline Value inlineModifier(OpBuilder &b, Region &region, ValueRange args) {
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
inline Value safeShift(OpBuilder &b, Location loc, Value rowMax) {
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

/// What turns a raw Q.K dot product into a masked, modified score; fixed for
/// one op.
struct ScoreSpec {
  Type accType;
  double scale = 1.0;
  std::optional<double> softcap;
  /// Which keys a row sees by position (the op's definition).
  KeyVisibility visibility;
  /// A [Hq] constant of ALiBi slopes, or null.
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
  Value batch, head, row, key; // index values
  Value queryLen, keyLen;      // index values
  Value bias;                  // element, or null
  Value keep;                  // i1 element of the mask operand, or null
};

/// Map from an iteration space to a Q/K/V/O operand stored in `layout`.
inline AffineMap layoutMap(MLIRContext *ctx, Layout layout, unsigned numDims,
                           AffineExpr batch, AffineExpr head, AffineExpr seq,
                           AffineExpr last) {
  if (layout == Layout::BHSD)
    return AffineMap::get(numDims, 0, {batch, head, seq, last}, ctx);
  return AffineMap::get(numDims, 0, {batch, seq, head, last}, ctx);
}

/// The key/value head read by query head `h` with `group` query heads per
/// KV head.
inline AffineExpr kvHeadOf(AffineExpr h, int64_t group) {
  return group == 1 ? h : h.floorDiv(group);
}

/// Whether axis `axis` of a [B, Hq, Lq, Lk]-broadcastable operand is a
/// broadcast: a static 1 against a larger extent of `scoreShape`.
inline bool isBroadcastAxis(Value operand, ArrayRef<int64_t> scoreShape,
                            int64_t axis) {
  auto type = cast<RankedTensorType>(operand.getType());
  return type.getDimSize(axis) == 1 && scoreShape[axis] != 1;
}

/// Map from (b, h, i, j) to a [B, Hq, Lq, Lk]-broadcastable operand: its
/// broadcast axes are read at index 0.
inline AffineMap broadcastMap(Value operand, ArrayRef<int64_t> scoreShape) {
  MLIRContext *ctx = operand.getContext();
  SmallVector<AffineExpr> results;
  for (int64_t axis = 0; axis < 4; ++axis)
    results.push_back(isBroadcastAxis(operand, scoreShape, axis)
                          ? getAffineConstantExpr(0, ctx)
                          : getAffineDimExpr(axis, ctx));
  return AffineMap::get(4, 0, results, ctx);
}

/// The operands a score reads besides the dot product (bias, mask, the
/// per-sequence key lengths), and where bias and mask sit among the inputs
/// of the elementwise op that computes the scores.
struct ScoreOperands {
  Value keyLengths;
  int biasArg = -1, maskArg = -1;

  /// Appends bias and mask (when present) to `inputs` with their broadcast
  /// maps over `scoreShape` ([B, Hq, Lq, Lk]).
  ScoreOperands(Value bias, Value mask, Value keyLengths,
                ArrayRef<int64_t> scoreShape, SmallVectorImpl<Value> &inputs,
                SmallVectorImpl<AffineMap> &maps)
      : keyLengths(keyLengths) {
    if (bias) {
      biasArg = inputs.size();
      inputs.push_back(bias);
      maps.push_back(broadcastMap(bias, scoreShape));
    }
    if (mask) {
      maskArg = inputs.size();
      inputs.push_back(mask);
      maps.push_back(broadcastMap(mask, scoreShape));
    }
  }

  /// The ScorePoint inside the elementwise body over (b, h, i, j) whose
  /// block arguments are `args`; positions only `withPositions` (the head
  /// shifted by `headOffset`, the global head of a shard).
  ScorePoint at(OpBuilder &b, Location loc, ValueRange args, Value queryLength,
                Value keyLength, bool withPositions,
                int64_t headOffset = 0) const {
    ScorePoint p;
    if (withPositions) {
      p.batch = linalg::IndexOp::create(b, loc, 0);
      p.head = linalg::IndexOp::create(b, loc, 1);
      if (headOffset)
        p.head = arith::AddIOp::create(
            b, loc, p.head, arith::ConstantIndexOp::create(b, loc, headOffset));
      p.row = linalg::IndexOp::create(b, loc, 2);
      p.key = linalg::IndexOp::create(b, loc, 3);
    }
    p.queryLen = queryLength;
    p.keyLen = keyLength;
    if (keyLengths)
      p.keyLen = arith::IndexCastOp::create(
          b, loc, b.getIndexType(),
          tensor::ExtractOp::create(b, loc, keyLengths, p.batch));
    if (biasArg >= 0)
      p.bias = args[biasArg];
    if (maskArg >= 0)
      p.keep = args[maskArg];
    return p;
  }
};

/// What the forward's and the backward's linalg lowerings share: the op, where
/// they build, and the iteration space of the scores.
template <typename OpT>
class LoweringBase {
protected:
  LoweringBase(OpBuilder &builder, OpT op, Type accType)
      : b(builder), op(op), loc(op.getLoc()), ctx(op.getContext()),
        accType(accType) {}

  AffineMap layoutMap(unsigned numDims, AffineExpr batch, AffineExpr head,
                      AffineExpr seq, AffineExpr last) {
    return lowering::layoutMap(ctx, op.getLayout(), numDims, batch, head, seq,
                               last);
  }
  AffineExpr kvHead(AffineExpr h) {
    return kvHeadOf(h, op.getHeadGroupSize());
  }
  bool isBroadcast(Value operand, int64_t axis) {
    return isBroadcastAxis(operand, scoreShape, axis);
  }

  OpBuilder &b;
  OpT op;
  Location loc;
  MLIRContext *ctx;
  Type accType;
  SmallVector<int64_t> scoreShape; // [B, Hq, Lq, Lk], maybe dynamic
  SmallVector<OpFoldResult> scoreSizes;
  Value queryLength, keyLength;
};

/// Whether buildScore reads the positions of a ScorePoint (otherwise callers
/// need not materialise them).
inline bool needsPositions(const ScoreSpec &spec) {
  return spec.visibility.isBounded() || spec.maskPaddedKeys ||
         spec.slopes || spec.scoreMod || spec.maskMod;
}

inline bool hasNonlinearAfterScale(const ScoreSpec &spec, const ScorePoint &p) {
  return spec.softcap || spec.slopes || p.bias || spec.scoreMod;
}

/// Key `key` is visible to row `row` by position: the op's KeyVisibility,
/// and below the key length where tiles hold padding.
inline Value positionVisible(OpBuilder &b, Location loc, const ScoreSpec &spec,
                             const ScorePoint &p) {
  IntArith a(b, loc, b.getIndexType());
  Value inRange = spec.maskPaddedKeys ? a.slt(p.key, p.keyLen) : Value();
  if (!spec.visibility.isBounded())
    return inRange ? inRange : a.truth();
  Value keep =
      spec.visibility.isVisible(a, p.row, p.key, p.queryLen, p.keyLen);
  return inRange ? a.both(inRange, keep) : keep;
}

/// The backward's derivatives of one score s (attn.attention_backward):
/// `scaled` = ds / d(scale * dot) and `biased` = ds / d(s before score_mod),
/// both 0 where the key is masked.
struct ScoreSlopes {
  Value scaled, biased;
};

/// s = mask(score_mod(bias + alibi + softcap(scale * dot))), in the
/// accumulator type; times log2(e) in the log2 domain (folded into the scale
/// when nothing nonlinear follows it). With `slopes`, also the derivatives
/// of the backward (natural-log domain only).
inline Value buildScore(OpBuilder &b, Location loc, const ScoreSpec &spec,
                        Value dot, const ScorePoint &p,
                        ScoreSlopes *slopes = nullptr) {
  assert((!slopes || !spec.log2Domain) && "slopes in natural units only");
  Type acc = spec.accType;
  bool foldLog2 = spec.log2Domain && !hasNonlinearAfterScale(spec, p);
  double scale = foldLog2 ? spec.scale * kLog2E : spec.scale;
  Value s =
      arith::MulFOp::create(b, loc, dot, floatConstant(b, loc, acc, scale));
  Value capSlope, modSlope;
  if (spec.softcap) {
    Value cap = floatConstant(b, loc, acc, *spec.softcap);
    Value t =
        math::TanhOp::create(b, loc, arith::DivFOp::create(b, loc, s, cap));
    s = arith::MulFOp::create(b, loc, cap, t);
    if (slopes) // d(c tanh(x / c)) / dx = 1 - tanh^2
      capSlope = arith::SubFOp::create(b, loc, floatConstant(b, loc, acc, 1.0),
                                       arith::MulFOp::create(b, loc, t, t));
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
    SmallVector<Value> args = {score, p.batch, p.head, p.row, p.key};
    if (slopes) {
      auto [modified, slope] =
          buildScoreModWithDerivative(b, *spec.scoreMod, args);
      s = convertFloat(b, loc, modified, acc);
      modSlope = convertFloat(b, loc, slope, acc);
    } else {
      s = convertFloat(b, loc, inlineModifier(b, *spec.scoreMod, args), acc);
    }
  }
  if (slopes) {
    Value one = floatConstant(b, loc, acc, 1.0);
    slopes->biased = modSlope ? modSlope : one;
    slopes->scaled =
        capSlope ? arith::MulFOp::create(b, loc, slopes->biased, capSlope)
                       .getResult()
                 : slopes->biased;
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
  if (slopes) {
    Value zero = floatConstant(b, loc, acc, 0.0);
    slopes->scaled =
        arith::SelectOp::create(b, loc, keep, slopes->scaled, zero);
    slopes->biased =
        arith::SelectOp::create(b, loc, keep, slopes->biased, zero);
  }
  return arith::SelectOp::create(b, loc, keep, s,
                                 floatConstant(b, loc, acc, kNegInf));
}

/// Fills the op-independent fields of a ScoreSpec from any op with the
/// score attributes and modifier regions.
template <typename OpTy>
ScoreSpec makeScoreSpec(OpBuilder &b, Location loc, OpTy op,
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
inline Value exponentiate(OpBuilder &b, Location loc, Value scores,
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
inline Value normalize(OpBuilder &b, Location loc, Value acc, Value rowSum,
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

/// lse = l == 0 ? -inf : m + log(l) in `lseType` (f32, or f64 for f64
/// operands); in the log2 domain (m + log2(l)) * ln(2).
inline Value logSumExp(OpBuilder &b, Location loc, Value rowMax, Value rowSum,
                       bool log2, Type lseType) {
  int64_t rank = cast<RankedTensorType>(rowMax.getType()).getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  Value init = emptyTensor(b, loc, sizesOf(b, loc, rowMax), lseType);
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
        return convertFloat(nb, l, lse, lseType);
      });
}

/// S[g, i, j] = modified(sum_d Q[g, i, d] * K[j, d]) for a tile op, with
/// absolute positions from its operands; with `withSlopes` also the
/// backward's [G, M, N] slopes (ScoreSlopes: scaled, biased).
template <typename TileOp>
SmallVector<Value> tileScores(OpBuilder &b, TileOp op, Type accType,
                              bool log2Domain, bool withSlopes = false) {
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
  SmallVector<Value> inits(withSlopes ? 3 : 1,
                           emptyTensor(b, loc, sizes, accType));
  return elementwiseMulti(
      b, loc, inputs, maps, inits, id,
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
        if (!withSlopes)
          return SmallVector<Value>{buildScore(nb, l, spec, args[0], p)};
        ScoreSlopes slopes;
        Value s = buildScore(nb, l, spec, args[0], p, &slopes);
        return SmallVector<Value>{s, slopes.scaled, slopes.biased};
      });
}

} // namespace mlir::attn::lowering

#endif // ATTN_LIB_CONVERSION_ATTNTOLINALG_SCOREBUILDERS_H
