//===- RaiseMasks.cpp - mask evaluation for attn-raise --------------------===//
//
// Part of attn-mlir. Index conditions of linalg bodies evaluated at
// compile time, and the structural mask they implement.
//
//===----------------------------------------------------------------------===//

#include "RaiseInternal.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/Debug.h"
#include "llvm/Support/MathExtras.h"

#define DEBUG_TYPE "attn-raise"

using namespace mlir;
using namespace mlir::attn;

namespace mlir::attn::raise {

//===----------------------------------------------------------------------===//
// Masks: evaluating index conditions at compile time
//===----------------------------------------------------------------------===//


/// Integers are kept sign-extended from their type's width (so i1 true is
/// -1); the unsigned view masks them back to the width.
static unsigned intWidth(Type type) {
  return type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
}
static int64_t signExtend(int64_t x, Type type) {
  unsigned width = intWidth(type);
  return width >= 64 ? x : llvm::SignExtend64(x, width);
}
static uint64_t zeroExtend(int64_t x, Type type) {
  unsigned width = intWidth(type);
  return width >= 64 ? x : x & ((uint64_t(1) << width) - 1);
}

std::optional<int64_t> MaskEvaluator::eval(Value v, int64_t i, int64_t j,
                                           unsigned depth) {
  if (depth > 32 || --budget < 0 || !v.getType().isIntOrIndex())
    return std::nullopt;
  Type type = v.getType();
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto it = generics.find(arg.getOwner());
    if (it == generics.end())
      return std::nullopt;
    linalg::GenericOp generic = it->second.op;
    if (arg.getArgNumber() >= generic.getNumDpsInputs())
      return std::nullopt;
    return evalTensorElement(generic.getDpsInputs()[arg.getArgNumber()],
                             generic.getIndexingMapsArray()[arg.getArgNumber()],
                             it->second.iterLabels, i, j, depth + 1);
  }
  Operation *op = v.getDefiningOp();
  IntegerAttr intAttr;
  if (matchPattern(v, m_Constant(&intAttr)))
    return signExtend(intAttr.getValue().getSExtValue(), type);
  if (auto index = dyn_cast<linalg::IndexOp>(op)) {
    auto it = generics.find(op->getBlock());
    if (it == generics.end())
      return std::nullopt;
    const DimLabel &label = it->second.iterLabels[index.getDim()];
    if (isLabel(label, Dim::Q))
      return i;
    if (isLabel(label, Dim::K))
      return j;
    if (isLabel(label, Dim::Unit))
      return 0;
    return std::nullopt;
  }
  auto operand = [&](unsigned n) {
    return eval(op->getOperand(n), i, j, depth + 1);
  };
  if (isa<arith::ExtUIOp, arith::IndexCastUIOp>(op)) {
    std::optional<int64_t> x = operand(0);
    return x ? std::optional<int64_t>(signExtend(
                   zeroExtend(*x, op->getOperand(0).getType()), type))
             : std::nullopt;
  }
  if (isa<arith::ExtSIOp, arith::TruncIOp, arith::IndexCastOp>(op)) {
    std::optional<int64_t> x = operand(0);
    return x ? std::optional<int64_t>(signExtend(*x, type)) : std::nullopt;
  }
  if (auto select = dyn_cast<arith::SelectOp>(op)) {
    std::optional<int64_t> c = operand(0);
    return c ? operand(*c ? 1 : 2) : std::nullopt;
  }
  if (op->getNumOperands() != 2)
    return std::nullopt;
  std::optional<int64_t> a = operand(0), b = operand(1);
  if (!a || !b)
    return std::nullopt;
  if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
    Type operandType = op->getOperand(0).getType();
    uint64_t ua = zeroExtend(*a, operandType), ub = zeroExtend(*b, operandType);
    bool result = false;
    switch (cmp.getPredicate()) {
    case arith::CmpIPredicate::eq:
      result = *a == *b;
      break;
    case arith::CmpIPredicate::ne:
      result = *a != *b;
      break;
    case arith::CmpIPredicate::slt:
      result = *a < *b;
      break;
    case arith::CmpIPredicate::sle:
      result = *a <= *b;
      break;
    case arith::CmpIPredicate::sgt:
      result = *a > *b;
      break;
    case arith::CmpIPredicate::sge:
      result = *a >= *b;
      break;
    case arith::CmpIPredicate::ult:
      result = ua < ub;
      break;
    case arith::CmpIPredicate::ule:
      result = ua <= ub;
      break;
    case arith::CmpIPredicate::ugt:
      result = ua > ub;
      break;
    case arith::CmpIPredicate::uge:
      result = ua >= ub;
      break;
    }
    return signExtend(result, type);
  }
  // Wrapping arithmetic, done in uint64_t to keep overflow defined.
  uint64_t ua = *a, ub = *b;
  if (isa<arith::AddIOp>(op))
    return signExtend(ua + ub, type);
  if (isa<arith::SubIOp>(op))
    return signExtend(ua - ub, type);
  if (isa<arith::MulIOp>(op))
    return signExtend(ua * ub, type);
  if (isa<arith::AndIOp>(op))
    return *a & *b;
  if (isa<arith::OrIOp>(op))
    return *a | *b;
  if (isa<arith::XOrIOp>(op))
    return *a ^ *b;
  return std::nullopt;
}

/// Labels of the dimensions of a tensor read through `map` from an
/// iteration space labelled `iterLabels`; constant-0 reads are units.
std::optional<Labels>
operandLabels(AffineMap map, const Labels &iterLabels, RankedTensorType type) {
  Labels labels;
  for (unsigned r = 0; r < map.getNumResults(); ++r) {
    AffineExpr expr = map.getResult(r);
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      labels.push_back(iterLabels[dim.getPosition()]);
    else if (auto cst = dyn_cast<AffineConstantExpr>(expr);
             cst && cst.getValue() == 0 && type.getDimSize(r) == 1)
      labels.push_back({Dim::Unit});
    else
      return std::nullopt;
  }
  return labels;
}

/// Row-major position of element (i, j) in a tensor whose dimensions are
/// labelled only Q, K or Unit.
std::optional<int64_t> maskPosition(const Labels &labels,
                                           RankedTensorType type, int64_t i,
                                           int64_t j) {
  int64_t pos = 0;
  for (auto [label, size] : llvm::zip(labels, type.getShape())) {
    int64_t index = isLabel(label, Dim::Q)      ? i
                    : isLabel(label, Dim::K)    ? j
                    : isLabel(label, Dim::Unit) ? 0
                                                : -1;
    if (index < 0)
      return std::nullopt;
    pos = pos * size + index;
  }
  return pos;
}

std::optional<int64_t>
MaskEvaluator::evalTensorElement(Value tensor, AffineMap map,
                                 const Labels &iterLabels, int64_t i, int64_t j,
                                 unsigned depth) {
  auto type = dyn_cast<RankedTensorType>(tensor.getType());
  if (!type || !type.hasStaticShape() ||
      !type.getElementType().isSignlessInteger())
    return std::nullopt;
  std::optional<Labels> labels = operandLabels(map, iterLabels, type);
  if (!labels)
    return std::nullopt;
  DenseIntElementsAttr dense;
  if (matchPattern(tensor, m_Constant(&dense))) {
    std::optional<int64_t> pos = maskPosition(*labels, type, i, j);
    if (!pos)
      return std::nullopt;
    APInt value = dense.isSplat() ? dense.getSplatValue<APInt>()
                                  : dense.getValues<APInt>()[*pos];
    return value.getSExtValue();
  }
  // A tensor computed from indices alone (an iota comparison).
  auto producer = tensor.getDefiningOp<linalg::GenericOp>();
  if (!tensor.hasOneUse() || !isElementwise(producer))
    return std::nullopt;
  if (!generics.count(producer.getBody())) {
    // Inputs are allowed only if the body ignores them.
    for (unsigned n = 0; n < producer.getNumDpsInputs(); ++n)
      if (!producer.getBody()->getArgument(n).use_empty())
        return std::nullopt;
    addGeneric(producer, *labels);
    producers.insert(producer);
  }
  auto yield = cast<linalg::YieldOp>(producer.getBody()->getTerminator());
  return eval(yield.getOperand(0), i, j, depth + 1);
}

/// The causal alignment that `keep(i, j)` implements for Lq x Lk scores, if
/// any. With Lq == Lk both alignments coincide and top-left is reported.
std::optional<MaskKind> classifyCausal(int64_t lq, int64_t lk, KeepFn keep) {
  if (lq * lk > kMaxMaskElements) {
    LLVM_DEBUG(llvm::dbgs() << "[attn-raise] mask too large to evaluate\n");
    return std::nullopt;
  }
  bool topLeft = true, bottomRight = lq <= lk;
  for (int64_t i = 0; i < lq && (topLeft || bottomRight); ++i) {
    for (int64_t j = 0; j < lk && (topLeft || bottomRight); ++j) {
      std::optional<bool> k = keep(i, j);
      if (!k)
        return std::nullopt;
      topLeft &= *k == (j <= i);
      bottomRight &= *k == (j <= i + lk - lq);
    }
  }
  if (topLeft)
    return MaskKind::CausalTopLeft;
  if (bottomRight)
    return MaskKind::CausalBottomRight;
  return std::nullopt;
}

} // namespace mlir::attn::raise
