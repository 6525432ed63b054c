//===- RaiseBodies.cpp - scalars and elementwise bodies for attn-raise ----===//
//
// Part of attn-mlir. Constants as torch and ONNX importers write them,
// and the scale / bias / mask steps of elementwise bodies on the scores.
//
//===----------------------------------------------------------------------===//

#include "RaiseInternal.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

#define DEBUG_TYPE "attn-raise"

using namespace mlir;
using namespace mlir::attn;

namespace mlir::attn::raise {

//===----------------------------------------------------------------------===//
// Scalars and bodies
//===----------------------------------------------------------------------===//

/// `value` as a double, whatever its semantics (convertToDouble only takes
/// types that double represents exactly).
double toDouble(APFloat value) {
  bool losesInfo;
  value.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven,
                &losesInfo);
  return value.convertToDouble();
}

/// A float constant: an arith.constant, or a block argument of `generic`
/// bound to a splat constant tensor.
std::optional<double> getFloatConstant(Value v,
                                              linalg::GenericOp generic) {
  // torch-mlir materialises Python scalars as f64 (or integer) constants
  // converted in the body; the conversion's rounding is part of the value.
  if (auto trunc = v.getDefiningOp<arith::TruncFOp>()) {
    std::optional<double> wide = getFloatConstant(trunc.getIn(), generic);
    if (!wide)
      return std::nullopt;
    APFloat narrow(*wide);
    bool losesInfo;
    narrow.convert(cast<FloatType>(trunc.getType()).getFloatSemantics(),
                   APFloat::rmNearestTiesToEven, &losesInfo);
    return toDouble(narrow);
  }
  if (auto ext = v.getDefiningOp<arith::ExtFOp>())
    return getFloatConstant(ext.getIn(), generic);
  IntegerAttr intAttr;
  if (auto toFloat = v.getDefiningOp<arith::SIToFPOp>();
      toFloat && matchPattern(toFloat.getIn(), m_Constant(&intAttr))) {
    APFloat value(cast<FloatType>(toFloat.getType()).getFloatSemantics());
    value.convertFromAPInt(intAttr.getValue(), /*IsSigned=*/true,
                           APFloat::rmNearestTiesToEven);
    return toDouble(value);
  }
  FloatAttr attr;
  if (matchPattern(v, m_Constant(&attr)))
    return attr.getValueAsDouble();
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || !generic || arg.getOwner() != generic.getBody() ||
      arg.getArgNumber() >= generic.getNumDpsInputs())
    return std::nullopt;
  DenseElementsAttr dense;
  if (matchPattern(generic.getDpsInputs()[arg.getArgNumber()],
                   m_Constant(&dense)) &&
      dense.isSplat() && isa<FloatType>(dense.getElementType()))
    return toDouble(dense.getSplatValue<APFloat>());
  return std::nullopt;
}

/// Whether `init` is a tensor filled with `value` (linalg.fill or a splat).
bool isFilledWith(Value init, llvm::function_ref<bool(double)> isValue) {
  if (auto fill = init.getDefiningOp<linalg::FillOp>()) {
    std::optional<double> value = getFloatConstant(fill.value(), {});
    return value && isValue(*value);
  }
  DenseElementsAttr dense;
  return matchPattern(init, m_Constant(&dense)) && dense.isSplat() &&
         isa<FloatType>(dense.getElementType()) &&
         isValue(toDouble(dense.getSplatValue<APFloat>()));
}

/// An all-parallel generic with one result and identity output map.
bool isElementwise(linalg::GenericOp generic) {
  return generic && generic.getNumDpsInits() == 1 &&
         generic->getNumResults() == 1 &&
         generic.getNumParallelLoops() == generic.getNumLoops() &&
         generic.getIndexingMapsArray().back().isIdentity() &&
         generic.getBody()->getArgument(generic.getNumDpsInputs()).use_empty();
}

/// The single user of `v` inside a body, or null.
Operation *soleUser(Value v) {
  return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
}

std::optional<double> matchOperandScale(Operation *op) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!isElementwise(generic) || generic.getNumDpsInputs() < 1 ||
      !generic.getIndexingMapsArray()[0].isIdentity() ||
      generic.getDpsInputs()[0].getType() != generic->getResult(0).getType())
    return std::nullopt;
  Value x = generic.getBody()->getArgument(0);
  Operation *user = soleUser(x);
  if (!isa_and_nonnull<arith::MulFOp, arith::DivFOp>(user) ||
      soleUser(user->getResult(0)) != generic.getBody()->getTerminator())
    return std::nullopt;
  bool xFirst = user->getOperand(0) == x;
  if (isa<arith::DivFOp>(user) && !xFirst)
    return std::nullopt;
  std::optional<double> c =
      getFloatConstant(user->getOperand(xFirst ? 1 : 0), generic);
  if (!c || *c == 0.0 || !std::isfinite(*c))
    return std::nullopt;
  return isa<arith::DivFOp>(user) ? 1.0 / *c : *c;
}

LogicalResult AttentionMatcher::applyScale(double factor, bool isDivision) {
  if (haveBias)
    return fail("scale applied after the bias (would scale the bias)");
  if (haveMask) {
    if (factor <= 0)
      return fail("non-positive scale after a mask");
    // Masked scores must stay masked once scaled (-1e4 * 0.5 would not).
    maskFill *= factor;
    if (!isMasked(maskFill))
      return fail("the scale after the mask lifts masked scores above -1e4");
  }
  if (!isPowerOfTwo(factor)) {
    if (isDivision)
      result.inexact = true;
    else
      ++result.nonPowerOfTwoMultiplies;
  }
  result.scale *= factor;
  return success();
}

LogicalResult
AttentionMatcher::applyMask(KeepFn keepFn,
                            std::pair<int64_t, int64_t> lengths, double fill) {
  if (haveMask && lengths != maskLengths)
    return fail("masks over different score shapes");
  if (failed(evaluateKeep(lengths.first, lengths.second, keepFn, keepMatrix)))
    return fail("mask is not a function of the query and key positions "
                "alone, or too large to evaluate");
  haveMask = true;
  maskOp = cursor;
  maskLengths = lengths;
  maskFill = std::max(maskFill, fill);
  return success();
}

LogicalResult AttentionMatcher::finishMask() {
  if (!haveMask)
    return success();
  std::optional<StructuralMask> mask =
      classifyMask(maskLengths.first, maskLengths.second, keepMatrix);
  cursor = maskOp;
  if (!mask)
    return fail("mask is neither causal nor a sliding window bounded on "
                "both sides (in the op's bottom-right frame)");
  result.maskKind = mask->kind;
  result.window = mask->window;
  return success();
}

/// s + t: a bias operand, or a causal mask when t is a constant whose
/// entries are 0 (keep) or very negative (masked) in a causal pattern.
LogicalResult AttentionMatcher::applyAddend(linalg::GenericOp generic,
                                            unsigned arg,
                                            const Labels &labels) {
  Value tensor = generic.getDpsInputs()[arg];
  auto type = cast<RankedTensorType>(tensor.getType());
  if (!type.hasStaticShape() || !isa<FloatType>(type.getElementType()))
    return fail("bias is not a static float tensor");
  std::optional<Labels> tensorLabels =
      operandLabels(generic.getIndexingMapsArray()[arg], labels, type);
  if (!tensorLabels)
    return fail("bias indexing map is not a broadcast");

  DenseFPElementsAttr dense;
  std::optional<std::pair<int64_t, int64_t>> lengths =
      scoreLengths(generic->getResult(0), labels);
  if (matchPattern(tensor, m_Constant(&dense)) && !dense.isSplat() && lengths) {
    auto keep = [&](int64_t i, int64_t j) -> std::optional<bool> {
      std::optional<int64_t> pos = maskPosition(*tensorLabels, type, i, j);
      if (!pos)
        return std::nullopt;
      double value = toDouble(dense.getValues<APFloat>()[*pos]);
      if (value == 0.0)
        return true;
      if (isMasked(value))
        return false;
      return std::nullopt;
    };
    // Only a structural pattern is a mask; any other constant stays a bias.
    std::vector<bool> alone;
    std::optional<StructuralMask> kind;
    if (succeeded(evaluateKeep(lengths->first, lengths->second, keep, alone)))
      kind = classifyMask(lengths->first, lengths->second, alone);
    if (kind) {
      double fill = 0.0;
      for (APFloat v : dense.getValues<APFloat>())
        if (toDouble(v) != 0.0)
          fill = fill == 0.0 ? toDouble(v) : std::max(fill, toDouble(v));
      return applyMask(keep, *lengths, fill == 0.0 ? -INFINITY : fill);
    }
  }

  if (haveBias)
    return fail("more than one additive bias");
  // The bias must be [B, Hq, Lq, Lk]-broadcastable: its dimensions, in
  // order, are logical dimensions of the scores or units.
  DimLabel flat = mergeLabels(*tensorLabels);
  SmallVector<Dim> order = {Dim::B, Dim::H, Dim::Q, Dim::K};
  size_t next = 0;
  for (Dim dim : flat) {
    if (dim == Dim::Unit)
      continue;
    auto *it = llvm::find(ArrayRef(order).drop_front(next), dim);
    if (it == order.end())
      return fail("bias dimensions are not in [B, H, Lq, Lk] order");
    next = it - order.begin() + 1;
  }
  haveBias = true;
  result.bias = tensor;
  result.biasLabels = *tensorLabels;
  return success();
}

/// One elementwise generic on the scores: a chain of steps from the score
/// argument to the yield, each a scale, an addend or a masking select.
LogicalResult AttentionMatcher::matchElementwise(linalg::GenericOp generic,
                                                 unsigned mainArg,
                                                 const Labels &labels) {
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  if (!maps[mainArg].isIdentity())
    return fail("score operand of an elementwise op is not read in place");
  Block *body = generic.getBody();
  Value x = body->getArgument(mainArg);
  MaskEvaluator evaluator;
  evaluator.addGeneric(generic, labels);
  std::optional<std::pair<int64_t, int64_t>> lengths =
      scoreLengths(generic->getResult(0), labels);

  while (true) {
    Operation *user = soleUser(x);
    if (!user)
      return fail("score value used more than once inside a body");
    if (isa<linalg::YieldOp>(user))
      break;
    cursor = user;
    if (user->getNumResults() != 1)
      return fail("unexpected op in the score chain");
    auto otherOperand = [&]() {
      return user->getOperand(0) == x ? user->getOperand(1)
                                      : user->getOperand(0);
    };
    if (isa<arith::MulFOp>(user) ||
        (isa<arith::DivFOp>(user) && user->getOperand(0) == x)) {
      std::optional<double> c = getFloatConstant(otherOperand(), generic);
      if (!c || *c == 0.0 || !std::isfinite(*c))
        return fail("scores scaled by a non-constant");
      bool isDivision = isa<arith::DivFOp>(user);
      if (failed(applyScale(isDivision ? 1.0 / *c : *c, isDivision)))
        return failure();
    } else if (isa<arith::AddFOp>(user)) {
      auto arg = dyn_cast<BlockArgument>(otherOperand());
      if (!arg || arg.getOwner() != body ||
          arg.getArgNumber() >= generic.getNumDpsInputs() ||
          arg.getArgNumber() == mainArg)
        return fail("addend is not a tensor operand");
      if (failed(applyAddend(generic, arg.getArgNumber(), labels)))
        return failure();
    } else if (auto select = dyn_cast<arith::SelectOp>(user)) {
      bool keepWhenTrue = select.getTrueValue() == x;
      Value fill =
          keepWhenTrue ? select.getFalseValue() : select.getTrueValue();
      std::optional<double> c = getFloatConstant(fill, generic);
      if (select.getCondition() == x || !c || !isMasked(*c))
        return fail("select does not mask with -inf");
      if (!lengths)
        return fail("mask on scores without separate Lq and Lk dims");
      auto keep = [&](int64_t i, int64_t j) -> std::optional<bool> {
        std::optional<int64_t> cond =
            evaluator.evaluate(select.getCondition(), i, j);
        if (!cond)
          return std::nullopt;
        return (*cond != 0) == keepWhenTrue;
      };
      if (failed(applyMask(keep, *lengths, *c)))
        return failure();
    } else {
      return fail("unsupported op in the score chain: " +
                    user->getName().getStringRef());
    }
    x = user->getResult(0);
  }
  if (generic.getBody()->getTerminator()->getOperand(0) != x)
    return failure();
  for (Operation *producer : evaluator.producers)
    result.ops.insert(producer);
  return success();
}

} // namespace mlir::attn::raise
