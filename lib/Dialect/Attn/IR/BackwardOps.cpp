//===- BackwardOps.cpp - attention backward operations --------------------===//
//
// Part of attn-mlir. Verifiers of attn.attention_backward and its tile-level
// ops (attn.backward_step, attn.accumulate): the gradient contract every
// backward lowering relies on.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "OpVerifiers.h"
#include "attn/Dialect/Attn/IR/ScoreModDerivative.h"
#include "attn/Dialect/Attn/IR/Varlen.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

//===----------------------------------------------------------------------===//
// AttentionBackwardOp
//===----------------------------------------------------------------------===//

double AttentionBackwardOp::getEffectiveScale() {
  if (std::optional<double> scale = getScaleValue())
    return *scale;
  return 1.0 / std::sqrt(static_cast<double>(getHeadDim()));
}

/// Checks that `type` is a float tensor of f16/bf16/f32 with exactly `shape`.
static LogicalResult verifyGradientType(Operation *op, StringRef name,
                                        Type type, ArrayRef<int64_t> shape) {
  auto tensor = cast<RankedTensorType>(type);
  if (!isBoundaryElementType(tensor.getElementType()))
    return op->emitOpError() << "expected " << name
                             << " element type to be f16, bf16, f32 or f64, "
                                "got "
                             << tensor.getElementType();
  if (tensor.getShape() != shape)
    return op->emitOpError()
           << "expected " << name << " of shape "
           << RankedTensorType::get(shape, tensor.getElementType()) << ", got "
           << type;
  return success();
}

/// Q, K, V of one element type, rank 4 in the op's layout, static head
/// counts and head dims, Hq % Hkv == 0, agreeing extents.
static LogicalResult verifyBackwardInputs(AttentionBackwardOp op) {
  RankedTensorType q = op.getQueryType(), k = op.getKeyType(),
                   v = op.getValueType();
  for (auto [name, type] : {std::pair<StringRef, RankedTensorType>{"query", q},
                            {"key", k},
                            {"value", v}})
    if (type.getRank() != 4)
      return op.emitOpError()
             << "expected " << name
             << " of rank 4 ([B, H, L, D] or [B, L, H, D]), got rank "
             << type.getRank();
  Type elt = q.getElementType();
  if (!isBoundaryElementType(elt) || k.getElementType() != elt ||
      v.getElementType() != elt)
    return op.emitOpError() << "expected query, key and value of one element "
                               "type (f16, bf16, f32 or f64), got "
                            << elt << ", " << k.getElementType() << " and "
                            << v.getElementType();
  int64_t headAxis = op.getHeadAxis(), seqAxis = op.getSeqAxis();
  for (RankedTensorType type : {q, k, v})
    if (type.isDynamicDim(headAxis) || type.isDynamicDim(3) ||
        type.getDimSize(headAxis) <= 0 || type.getDimSize(3) <= 0)
      return op.emitOpError() << "expected static, non-empty head counts and "
                                 "head dimensions";
  int64_t hq = q.getDimSize(headAxis), hkv = k.getDimSize(headAxis);
  if (v.getDimSize(headAxis) != hkv || hq % hkv != 0)
    return op.emitOpError() << "expected key and value with the same number "
                               "of heads, dividing the query heads, got "
                            << hq << ", " << hkv << " and "
                            << v.getDimSize(headAxis);
  if (k.getDimSize(3) != q.getDimSize(3))
    return op.emitOpError() << "expected query and key to have the same head "
                               "dimension, got "
                            << q.getDimSize(3) << " and " << k.getDimSize(3);
  if (!dimsCompatible(q.getDimSize(0), k.getDimSize(0)) ||
      !dimsCompatible(k.getDimSize(0), v.getDimSize(0)) ||
      !dimsCompatible(k.getDimSize(seqAxis), v.getDimSize(seqAxis)))
    return op.emitOpError() << "expected query, key and value to agree in "
                               "batch size and key and value in length";
  return success();
}

LogicalResult AttentionBackwardOp::verify() {
  // The generic form can leave a required operand group empty.
  for (unsigned group = 0; group < 6; ++group)
    if (getODSOperandIndexAndLength(group).second != 1)
      return emitOpError() << "expected exactly one operand in operand group #"
                           << group;
  if (failed(verifyBackwardInputs(*this)))
    return failure();
  RankedTensorType q = getQueryType(), k = getKeyType(), v = getValueType();
  SmallVector<int64_t> outShape(q.getShape());
  outShape[3] = getValueHeadDim();
  for (auto [name, value] :
       {std::pair<StringRef, Value>{"output", getOutput()},
        {"grad_output", getGradOutput()}})
    if (failed(verifyGradientType(*this, name, value.getType(), outShape)))
      return failure();
  int64_t batch = q.getDimSize(0), hq = getNumQueryHeads(),
          lq = getQueryLength(), lk = getKeyLength();
  auto lseType = cast<RankedTensorType>(getLse().getType());
  Type lseElement = getLseElementType(getContext(), q.getElementType());
  if (lseType.getElementType() != lseElement ||
      lseType.getShape() != ArrayRef<int64_t>{batch, hq, lq})
    return emitOpError()
           << "expected lse of type tensor<[B, Hq, Lq]xf32> (f64 for f64 "
              "operands) = "
           << RankedTensorType::get({batch, hq, lq}, lseElement) << ", got "
           << lseType;
  if (Value gradLse = getGradLse(); gradLse && gradLse.getType() != lseType)
    return emitOpError() << "expected grad_lse of lse's type " << lseType
                         << ", got " << gradLse.getType();
  for (auto [name, value, type] :
       {std::tuple<StringRef, Value, RankedTensorType>{"grad_query",
                                                       getGradQuery(), q},
        {"grad_key", getGradKey(), k},
        {"grad_value", getGradValue(), v}})
    if (failed(verifyGradientType(*this, name, value.getType(),
                                  type.getShape())))
      return failure();

  if (failed(verifyScoreAttributes(*this, getScaleValue(), getSoftcapValue(),
                                   getMaskKind(), getWindow(), getAlibiSlopes(),
                                   hq)))
    return failure();
  SmallVector<int64_t> scoreShape = {batch, hq, lq, lk};
  Value bias = getBias();
  if (bias) {
    auto biasType = cast<RankedTensorType>(bias.getType());
    if (!isBoundaryElementType(biasType.getElementType()))
      return emitOpError() << "expected bias element type to be f16, bf16, "
                              "f32 or f64, got "
                           << biasType.getElementType();
    if (failed(verifyBroadcastable(*this, "bias", biasType, scoreShape)))
      return failure();
  }
  // Without grad_bias the bias is a constant of the loss (a padding mask
  // as an additive -inf / 0 bias, a fixed positional bias).
  if (getGradBias() && !bias)
    return emitOpError() << "expected a grad_bias result only with a bias "
                            "operand";
  if (getGradBias() && failed(verifyGradientType(
                  *this, "grad_bias", getGradBias().getType(),
                  cast<RankedTensorType>(bias.getType()).getShape())))
    return failure();
  if (failed(verifyMaskAndKeyLengths(*this, getMask(), getKeyLengths(),
                                     scoreShape)))
    return failure();
  Value sinks = getSinks();
  if (static_cast<bool>(sinks) != static_cast<bool>(getGradSinks()))
    return emitOpError() << "expected a grad_sinks result exactly when a "
                            "sinks operand is given";
  if (sinks && (failed(verifySinksType(*this, "sinks", sinks.getType(), hq)) ||
                failed(verifySinksType(*this, "grad_sinks",
                                       getGradSinks().getType(), hq))))
    return failure();
  return verifyVarlen(*this);
}

/// The modifier regions as everywhere, and a score_mod the backward can
/// differentiate (the diagnostic names the op that it cannot).
static LogicalResult verifyBackwardRegions(Operation *op, Region &scoreMod,
                                           Region &maskMod) {
  if (failed(verifyModifierRegions(op, scoreMod, maskMod)))
    return failure();
  if (Operation *bad = findNonDifferentiableOp(scoreMod)) {
    InFlightDiagnostic diag =
        bad->emitOpError()
        << "expected an op with a derivative rule in the score_mod of a "
           "backward (arith addf/subf/mulf/divf/negf/maximumf/minimumf/"
           "select/cmpf/extf/truncf, math tanh/exp): it depends on the score";
    diag.attachNote(op->getLoc()) << "in the score_mod of this op";
    return diag;
  }
  return success();
}

LogicalResult AttentionBackwardOp::verifyRegions() {
  return verifyBackwardRegions(*this, getScoreMod(), getMaskMod());
}

//===----------------------------------------------------------------------===//
// BackwardStepOp, AccumulateOp
//===----------------------------------------------------------------------===//

LogicalResult BackwardStepOp::verify() {
  if (failed(verifyTileOperands(*this)))
    return failure();
  auto q = cast<RankedTensorType>(getQuery().getType());
  auto k = cast<RankedTensorType>(getKey().getType());
  auto v = cast<RankedTensorType>(getValue().getType());
  int64_t g = q.getDimSize(0), m = q.getDimSize(1);
  auto gradOut = cast<RankedTensorType>(getGradOutput().getType());
  if (gradOut.getShape() != ArrayRef<int64_t>{g, m, v.getDimSize(1)})
    return emitOpError() << "expected grad_output of shape [G, M, Dv] = [" << g
                         << ", " << m << ", " << v.getDimSize(1) << "], got "
                         << gradOut;
  for (auto [name, value] : {std::pair<StringRef, Value>{"lse", getLse()},
                             {"delta", getDelta()}})
    if (failed(verifyF32Shape(*this, name, value.getType(), {g, m})))
      return failure();
  for (auto [name, value, shape] :
       {std::tuple<StringRef, Value, RankedTensorType>{"grad_key",
                                                       getGradKey(), k},
        {"new_grad_key", getNewGradKey(), k},
        {"grad_value", getGradValue(), v},
        {"new_grad_value", getNewGradValue(), v},
        {"grad_query", getGradQuery(), q}})
    if (failed(verifyF32Shape(*this, name, value.getType(), shape.getShape())))
      return failure();
  if (std::optional<Type> pType = getPType();
      pType && !isSupportedElementType(*pType))
    return emitOpError() << "expected p_type to be f16, bf16 or f32, got "
                         << *pType;
  if (Value gradBias = getGradBias()) {
    if (!getBias())
      return emitOpError() << "expected a grad_bias result only with a bias "
                              "tile";
    return verifyF32Shape(*this, "grad_bias", gradBias.getType(),
                          {g, m, k.getDimSize(0)});
  }
  return success();
}

LogicalResult BackwardStepOp::verifyRegions() {
  return verifyBackwardRegions(*this, getScoreMod(), getMaskMod());
}

LogicalResult AccumulateOp::verify() {
  auto partials = cast<RankedTensorType>(getPartials().getType());
  if (partials.getRank() < 1)
    return emitOpError() << "expected partials of rank >= 1 ([n, ...])";
  SmallVector<int64_t> shape(partials.getShape().drop_front());
  return verifyF32Shape(*this, "result", getResult().getType(), shape);
}
