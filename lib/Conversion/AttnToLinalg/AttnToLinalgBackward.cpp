//===- AttnToLinalgBackward.cpp - reference lowering of the backward ------===//
//
// Part of attn-mlir. Lowers attn.attention_backward and attn.backward_step
// to linalg, materialising S and P as the op descriptions define them: the
// scores come from the forward's buildScore (with its slopes), so the score
// definition is written once for both directions.
//
// Iteration dimensions are named after the math: b, h (query head), kh (KV
// head), g (query head within a KV head's group, h = kh * G + g), i (query
// row), j (key), d (head dim), c (value column).
//
//===----------------------------------------------------------------------===//

#include "AttnToLinalgBackward.h"
#include "attn/Dialect/Attn/IR/Sinks.h"
#include "ScoreBuilders.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::lowering;

/// P = lse = -inf ? 0 : exp(s - lse) (a masked s is -inf and gives 0) and
/// dS = P * (dP - Delta): the part of the chain both lowerings share.
static std::pair<Value, Value> probabilityAndGrad(OpBuilder &b, Location loc,
                                                  Value s, Value lse, Value dp,
                                                  Value delta) {
  Type t = s.getType();
  Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, lse,
                                      floatConstant(b, loc, t, kNegInf));
  Value p = math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, s, lse));
  p = arith::SelectOp::create(b, loc, empty, floatConstant(b, loc, t, 0.0), p);
  Value ds = arith::MulFOp::create(b, loc, p,
                                   arith::SubFOp::create(b, loc, dp, delta));
  return {p, ds};
}

/// out = convert(factor * acc) written through `outMap` into `init`.
static Value scaleInto(OpBuilder &b, Location loc, Value acc, double factor,
                       Value init, AffineMap outMap) {
  int64_t rank = cast<RankedTensorType>(acc.getType()).getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  Type outElt = cast<RankedTensorType>(init.getType()).getElementType();
  return elementwise(b, loc, acc, id, init, outMap,
                     [&](OpBuilder &nb, Location l, ValueRange a) {
                       Value x = a[0];
                       if (factor != 1.0)
                         x = arith::MulFOp::create(
                             nb, l, x,
                             floatConstant(nb, l, x.getType(), factor));
                       return convertFloat(nb, l, x, outElt);
                     });
}

//===----------------------------------------------------------------------===//
// attn.attention_backward
//===----------------------------------------------------------------------===//

namespace {
class BackwardLowering : LoweringBase<AttentionBackwardOp> {
public:
  BackwardLowering(OpBuilder &builder, AttentionBackwardOp op, Type accType)
      : LoweringBase(builder, op, accType) {}

  SmallVector<Value> lower();

private:
  /// `value` with its head axis `axis` (Hq) split into (Hkv, G).
  Value splitHeads(Value value, int64_t axis) {
    auto type = cast<RankedTensorType>(value.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[axis] = op.getNumKVHeads();
    shape.insert(shape.begin() + axis + 1, op.getHeadGroupSize());
    SmallVector<ReassociationIndices> groups;
    for (int64_t dim = 0, out = 0; dim < type.getRank(); ++dim) {
      if (dim == axis) {
        groups.push_back({out, out + 1});
        out += 2;
      } else {
        groups.push_back({out++});
      }
    }
    return tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(shape, type.getElementType()), value,
        groups);
  }
  /// P, dS1 and (with a bias) dS4 over (b, h, i, j).
  SmallVector<Value> scoreGradients(Value raw, Value dp, Value delta);
  /// d_bias: dS4 summed over the bias's broadcast axes.
  Value biasGradient(Value ds4);
  /// A result in the op's layout and element type from a BHSD accumulator.
  Value writeResult(Value acc, double factor, RankedTensorType type);
};
} // namespace

SmallVector<Value> BackwardLowering::scoreGradients(Value raw, Value dp,
                                                    Value delta) {
  ScoreSpec spec = makeScoreSpec(b, loc, op, accType, op.getEffectiveScale());
  Value keyLengths = op.getKeyLengths();
  spec.maskPaddedKeys = static_cast<bool>(keyLengths);
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap rows = id.getMajorSubMap(3);
  SmallVector<Value> inputs = {raw, op.getLse(), dp, delta};
  SmallVector<AffineMap> maps = {id, rows, id, rows};
  ScoreOperands operands(op.getBias(), op.getMask(), keyLengths, scoreShape,
                         inputs, maps);
  // A bias without grad_bias is a constant: no dS4 result.
  bool withBiasGrad = static_cast<bool>(op.getGradBias());
  SmallVector<Value> inits(withBiasGrad ? 3 : 2,
                           emptyTensor(b, loc, scoreSizes, accType));
  return elementwiseMulti(
      b, loc, inputs, maps, inits, id,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        ScorePoint p = operands.at(nb, l, args, queryLength, keyLength,
                                   /*withPositions=*/true);
        ScoreSlopes slopes;
        Value s = buildScore(nb, l, spec, args[0], p, &slopes);
        Value lse = convertFloat(nb, l, args[1], accType);
        auto [prob, ds] = probabilityAndGrad(nb, l, s, lse, args[2], args[3]);
        SmallVector<Value> results = {
            prob, arith::MulFOp::create(nb, l, ds, slopes.scaled)};
        if (withBiasGrad)
          results.push_back(arith::MulFOp::create(nb, l, ds, slopes.biased));
        return results;
      });
}

Value BackwardLowering::biasGradient(Value ds4) {
  Value bias = op.getBias();
  auto biasType = cast<RankedTensorType>(bias.getType());
  // Reduce over the broadcast axes into the bias shape without them, then
  // put the unit axes back.
  SmallVector<AffineExpr> kept;
  SmallVector<OpFoldResult> keptSizes;
  SmallVector<int64_t> keptShape;
  SmallVector<utils::IteratorType> iterators;
  SmallVector<ReassociationIndices> reassociation;
  ReassociationIndices pending;
  for (int64_t axis = 0; axis < 4; ++axis) {
    pending.push_back(axis);
    if (isBroadcast(bias, axis)) {
      iterators.push_back(utils::IteratorType::reduction);
      continue;
    }
    iterators.push_back(utils::IteratorType::parallel);
    kept.push_back(getAffineDimExpr(axis, ctx));
    keptSizes.push_back(scoreSizes[axis]);
    keptShape.push_back(biasType.getDimSize(axis));
    reassociation.push_back(pending);
    pending.clear();
  }
  if (!pending.empty() && !reassociation.empty())
    reassociation.back().append(pending.begin(), pending.end());
  Value init = filledTensor(b, loc, keptSizes, accType, 0.0);
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap outMap = AffineMap::get(4, 0, kept, ctx);
  Value sum =
      linalg::GenericOp::create(
          b, loc, init.getType(), ds4, init, ArrayRef<AffineMap>{id, outMap},
          iterators,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            linalg::YieldOp::create(
                nb, l,
                arith::AddFOp::create(nb, l, args[0], args[1]).getResult());
          })
          .getResult(0);
  Type gradElt =
      cast<RankedTensorType>(op.getGradBias().getType()).getElementType();
  AffineMap keptId = AffineMap::getMultiDimIdentityMap(kept.size(), ctx);
  Value converted =
      scaleInto(b, loc, sum, 1.0, emptyTensor(b, loc, keptSizes, gradElt),
                keptId);
  if (kept.size() == 4)
    return converted;
  return tensor::ExpandShapeOp::create(b, loc, op.getGradBias().getType(),
                                       converted, reassociation);
}

Value BackwardLowering::writeResult(Value acc, double factor,
                                    RankedTensorType type) {
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, acc);
  if (op.getLayout() == Layout::BSHD)
    std::swap(sizes[1], sizes[2]);
  Value init = emptyTensor(b, loc, sizes, type.getElementType());
  AffineExpr bb, h, l, x;
  bindDims(ctx, bb, h, l, x);
  return scaleInto(b, loc, acc, factor, init, layoutMap(4, bb, h, l, x));
}

SmallVector<Value> BackwardLowering::lower() {
  int64_t seqAxis = op.getSeqAxis();
  scoreShape = {op.getQueryType().getDimSize(0), op.getNumQueryHeads(),
                op.getQueryLength(), op.getKeyLength()};
  OpFoldResult batch = tensor::getMixedSize(b, loc, op.getQuery(), 0);
  OpFoldResult lq = tensor::getMixedSize(b, loc, op.getQuery(), seqAxis);
  OpFoldResult lk = tensor::getMixedSize(b, loc, op.getKey(), seqAxis);
  OpFoldResult hq = b.getIndexAttr(op.getNumQueryHeads());
  OpFoldResult hkv = b.getIndexAttr(op.getNumKVHeads());
  OpFoldResult d = b.getIndexAttr(op.getHeadDim());
  OpFoldResult dv = b.getIndexAttr(op.getValueHeadDim());
  scoreSizes = {batch, hq, lq, lk};
  SmallVector<OpFoldResult> rowSizes = {batch, hq, lq};
  queryLength = getValueOrCreateConstantIndexOp(b, loc, lq);
  keyLength = getValueOrCreateConstantIndexOp(b, loc, lk);

  // S[b, h, i, j] = sum_d Q[b, h, i, d] * K[b, h / g, j, d].
  AffineExpr bb, h, i, j, x;
  bindDims(ctx, bb, h, i, j, x);
  Value raw = contract(b, loc, op.getQuery(), layoutMap(5, bb, h, i, x),
                       op.getKey(), layoutMap(5, bb, kvHead(h), j, x),
                       filledTensor(b, loc, scoreSizes, accType, 0.0),
                       AffineMap::get(5, 0, {bb, h, i, j}, ctx));
  // dP[b, h, i, j] = sum_c dO[b, h, i, c] * V[b, h / g, j, c].
  Value dp = contract(b, loc, op.getGradOutput(), layoutMap(5, bb, h, i, x),
                      op.getValue(), layoutMap(5, bb, kvHead(h), j, x),
                      filledTensor(b, loc, scoreSizes, accType, 0.0),
                      AffineMap::get(5, 0, {bb, h, i, j}, ctx));
  // Delta[b, h, i] = sum_c dO[b, h, i, c] * O[b, h, i, c] - grad_lse[b, h, i].
  AffineExpr c;
  bindDims(ctx, bb, h, i, c);
  Value delta =
      contract(b, loc, op.getGradOutput(), layoutMap(4, bb, h, i, c),
               op.getOutput(), layoutMap(4, bb, h, i, c),
               buildDeltaInit(b, loc, op.getGradLse(),
                              filledTensor(b, loc, rowSizes, accType, 0.0)),
               AffineMap::get(4, 0, {bb, h, i}, ctx));
  SmallVector<Value> grads = scoreGradients(raw, dp, delta);
  Value probs = grads[0], ds1 = grads[1];

  // dQ[b, h, i, d] = scale * sum_j dS1[b, h, i, j] * K[b, h / g, j, d].
  bindDims(ctx, bb, h, i, x, j);
  Value dqAcc = contract(
      b, loc, ds1, AffineMap::get(5, 0, {bb, h, i, j}, ctx), op.getKey(),
      layoutMap(5, bb, kvHead(h), j, x),
      filledTensor(b, loc, {batch, hq, lq, d}, accType, 0.0),
      AffineMap::get(5, 0, {bb, h, i, x}, ctx));

  // dK[b, kh, j, d] = scale * sum_{g, i} dS1[b, kh G + g, i, j] Q[.., i, d]
  // and dV[b, kh, j, c] = sum_{g, i} P[b, kh G + g, i, j] dO[.., i, c]. The
  // head axis is split into (kh, g) first: linalg needs every loop to be an
  // extent of some operand.
  AffineExpr kh, g;
  bindDims(ctx, bb, kh, j, x, g, i);
  AffineMap scoreMap = AffineMap::get(6, 0, {bb, kh, g, i, j}, ctx);
  AffineMap rowMap =
      op.getLayout() == Layout::BHSD
          ? AffineMap::get(6, 0, {bb, kh, g, i, x}, ctx)
          : AffineMap::get(6, 0, {bb, i, kh, g, x}, ctx);
  AffineMap kvMap = AffineMap::get(6, 0, {bb, kh, j, x}, ctx);
  SmallVector<OpFoldResult> kvSizes = {batch, hkv, lk, d};
  Value dkAcc = contract(b, loc, splitHeads(ds1, 1), scoreMap,
                         splitHeads(op.getQuery(), op.getHeadAxis()), rowMap,
                         filledTensor(b, loc, kvSizes, accType, 0.0), kvMap,
                         Type(), /*numReductions=*/2);
  kvSizes[3] = dv;
  Value dvAcc = contract(b, loc, splitHeads(probs, 1), scoreMap,
                         splitHeads(op.getGradOutput(), op.getHeadAxis()),
                         rowMap, filledTensor(b, loc, kvSizes, accType, 0.0),
                         kvMap, Type(), /*numReductions=*/2);

  double scale = op.getEffectiveScale();
  auto typeOf = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  SmallVector<Value> results = {
      writeResult(dqAcc, scale, typeOf(op.getGradQuery())),
      writeResult(dkAcc, scale, typeOf(op.getGradKey())),
      writeResult(dvAcc, 1.0, typeOf(op.getGradValue()))};
  if (op.getGradBias())
    results.push_back(biasGradient(grads[2]));
  if (Value sinks = op.getSinks())
    results.push_back(buildSinkGradient(b, loc, sinks, op.getLse(), delta));
  return results;
}

SmallVector<Value>
mlir::attn::lowering::lowerAttentionBackward(OpBuilder &b,
                                             AttentionBackwardOp op,
                                             Type accType) {
  return BackwardLowering(b, op, accType).lower();
}

//===----------------------------------------------------------------------===//
// attn.backward_step
//===----------------------------------------------------------------------===//

SmallVector<Value> mlir::attn::lowering::lowerBackwardStep(OpBuilder &b,
                                                           BackwardStepOp op) {
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  SmallVector<Value> scores =
      tileScores(b, op, f32, /*log2Domain=*/false, /*withSlopes=*/true);
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  int64_t g = qType.getDimSize(0), m = qType.getDimSize(1), n = op.getBlockN();
  int64_t d = qType.getDimSize(2);
  auto sizes = [&](ArrayRef<int64_t> shape) {
    return getAsIndexOpFoldResult(ctx, shape);
  };

  // dP[g, i, j] = sum_c dO[g, i, c] * V[j, c].
  AffineExpr gg, i, j, x;
  bindDims(ctx, gg, i, j, x);
  Value dp = contract(b, loc, op.getGradOutput(),
                      AffineMap::get(4, 0, {gg, i, x}, ctx), op.getValue(),
                      AffineMap::get(4, 0, {j, x}, ctx),
                      filledTensor(b, loc, sizes({g, m, n}), f32, 0.0),
                      AffineMap::get(4, 0, {gg, i, j}, ctx));
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, ctx);
  AffineMap rows = id.getMajorSubMap(2);
  bool withBiasGrad = static_cast<bool>(op.getGradBias());
  SmallVector<Value> inits(withBiasGrad ? 3 : 2,
                           emptyTensor(b, loc, sizes({g, m, n}), f32));
  SmallVector<Value> pds = elementwiseMulti(
      b, loc, {scores[0], op.getLse(), dp, op.getDelta(), scores[1], scores[2]},
      {id, rows, id, rows, id, id}, inits, id,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        auto [prob, ds] = probabilityAndGrad(nb, l, a[0], a[1], a[2], a[3]);
        SmallVector<Value> results = {prob,
                                      arith::MulFOp::create(nb, l, ds, a[4])};
        if (withBiasGrad)
          results.push_back(arith::MulFOp::create(nb, l, ds, a[5]));
        return results;
      });
  Type pType = op.getPType() ? *op.getPType() : Type();
  double scale = op.getScale().convertToDouble();

  // new dV[j, c] = dV + sum_{g, i} round(P)[g, i, j] dO[g, i, c].
  AffineExpr c;
  bindDims(ctx, j, c, gg, i);
  Value newDv = contract(b, loc, pds[0], AffineMap::get(4, 0, {gg, i, j}, ctx),
                         op.getGradOutput(),
                         AffineMap::get(4, 0, {gg, i, c}, ctx),
                         op.getGradValue(), AffineMap::get(4, 0, {j, c}, ctx),
                         pType, /*numReductions=*/2);
  // new dK[j, d] = dK + scale * sum_{g, i} round(dS1)[g, i, j] Q[g, i, d].
  Value dkPart = contract(b, loc, pds[1], AffineMap::get(4, 0, {gg, i, j}, ctx),
                          op.getQuery(), AffineMap::get(4, 0, {gg, i, c}, ctx),
                          filledTensor(b, loc, sizes({n, d}), f32, 0.0),
                          AffineMap::get(4, 0, {j, c}, ctx), pType,
                          /*numReductions=*/2);
  AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
  Value newDk = elementwise(
      b, loc, {op.getGradKey(), dkPart}, {id2, id2},
      emptyTensor(b, loc, sizes({n, d}), f32), id2,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value scaled = arith::MulFOp::create(
            nb, l, a[1], floatConstant(nb, l, f32, scale));
        return arith::AddFOp::create(nb, l, a[0], scaled).getResult();
      });
  // dQ share[g, i, d] = scale * sum_j round(dS1)[g, i, j] K[j, d].
  bindDims(ctx, gg, i, x, j);
  Value dqPart = contract(b, loc, pds[1], AffineMap::get(4, 0, {gg, i, j}, ctx),
                          op.getKey(), AffineMap::get(4, 0, {j, x}, ctx),
                          filledTensor(b, loc, sizes({g, m, d}), f32, 0.0),
                          AffineMap::get(4, 0, {gg, i, x}, ctx), pType);
  Value dq = scaleInto(b, loc, dqPart, scale,
                       emptyTensor(b, loc, sizes({g, m, d}), f32), id);
  SmallVector<Value> results = {newDk, newDv, dq};
  if (withBiasGrad)
    results.push_back(pds[2]);
  return results;
}

//===----------------------------------------------------------------------===//
// attn.accumulate
//===----------------------------------------------------------------------===//

SmallVector<Value> mlir::attn::lowering::lowerAccumulate(OpBuilder &b,
                                                         AccumulateOp op) {
  // A reduction over the leading axis; the loops lowering visits k in
  // increasing order, which is the deterministic order either way.
  Location loc = op.getLoc();
  auto type = cast<RankedTensorType>(op.getPartials().getType());
  int64_t rank = type.getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, op.getPartials());
  sizes.erase(sizes.begin());
  Value init = filledTensor(b, loc, sizes, b.getF32Type(), 0.0);
  SmallVector<AffineExpr> outExprs;
  for (int64_t axis = 1; axis < rank; ++axis)
    outExprs.push_back(getAffineDimExpr(axis, ctx));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators[0] = utils::IteratorType::reduction;
  return {linalg::GenericOp::create(
              b, loc, init.getType(), op.getPartials(), init,
              ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx),
                                  AffineMap::get(rank, 0, outExprs, ctx)},
              iterators,
              [&](OpBuilder &nb, Location l, ValueRange args) {
                linalg::YieldOp::create(
                    nb, l,
                    arith::AddFOp::create(nb, l, args[1], args[0]).getResult());
              })
              .getResult(0)};
}
