//===- RaiseMasks.cpp - mask evaluation for attn-raise --------------------===//
//
// Part of attn-mlir. Index conditions of linalg bodies evaluated at
// compile time (by the folders, through IndexEvaluator), and the structural
// mask they implement.
//
//===----------------------------------------------------------------------===//

#include "RaiseInternal.h"

#include "mlir/IR/Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "attn-raise"

using namespace mlir;
using namespace mlir::attn;

namespace mlir::attn::raise {

//===----------------------------------------------------------------------===//
// Masks: evaluating index conditions at compile time
//===----------------------------------------------------------------------===//

MaskEvaluator::MaskEvaluator() {
  eval.setResolver([this](Value v) { return resolve(v); });
}

std::optional<int64_t> MaskEvaluator::evaluate(Value v, int64_t i, int64_t j) {
  row = i;
  col = j;
  eval.reset();
  return eval.evaluateInt(v);
}

Attribute MaskEvaluator::resolve(Value v) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto it = generics.find(arg.getOwner());
    if (it == generics.end())
      return {};
    linalg::GenericOp generic = it->second.op;
    if (arg.getArgNumber() >= generic.getNumDpsInputs())
      return {};
    return tensorElement(generic.getDpsInputs()[arg.getArgNumber()],
                         generic.getIndexingMapsArray()[arg.getArgNumber()],
                         it->second.iterLabels);
  }
  auto index = v.getDefiningOp<linalg::IndexOp>();
  if (!index)
    return {};
  auto it = generics.find(index->getBlock());
  if (it == generics.end())
    return {};
  // Batch and head indices stay unknown: a mask that depends on them is
  // not structural.
  const DimLabel &label = it->second.iterLabels[index.getDim()];
  Builder builder(v.getContext());
  if (isLabel(label, Dim::Q))
    return builder.getIndexAttr(row);
  if (isLabel(label, Dim::K))
    return builder.getIndexAttr(col);
  if (isLabel(label, Dim::Unit))
    return builder.getIndexAttr(0);
  return {};
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

Attribute MaskEvaluator::tensorElement(Value tensor, AffineMap map,
                                       const Labels &iterLabels) {
  auto type = dyn_cast<RankedTensorType>(tensor.getType());
  if (!type || !type.hasStaticShape() ||
      !type.getElementType().isSignlessInteger())
    return {};
  std::optional<Labels> labels = operandLabels(map, iterLabels, type);
  if (!labels)
    return {};
  DenseIntElementsAttr dense;
  if (matchPattern(tensor, m_Constant(&dense))) {
    std::optional<int64_t> pos = maskPosition(*labels, type, row, col);
    if (!pos)
      return {};
    return dense.isSplat() ? dense.getSplatValue<Attribute>()
                           : dense.getValues<Attribute>()[*pos];
  }
  // A tensor computed from indices alone (an iota comparison).
  auto producer = tensor.getDefiningOp<linalg::GenericOp>();
  if (!tensor.hasOneUse() || !isElementwise(producer))
    return {};
  if (!generics.count(producer.getBody())) {
    // Inputs are allowed only if the body ignores them.
    for (unsigned n = 0; n < producer.getNumDpsInputs(); ++n)
      if (!producer.getBody()->getArgument(n).use_empty())
        return {};
    addGeneric(producer, *labels);
    producers.insert(producer);
  }
  auto yield = cast<linalg::YieldOp>(producer.getBody()->getTerminator());
  return eval.evaluate(yield.getOperand(0));
}

LogicalResult evaluateKeep(int64_t lq, int64_t lk, KeepFn keep,
                           std::vector<bool> &matrix) {
  if (lq * lk > kMaxMaskElements)
    return reject("mask too large to evaluate at compile time");
  if (matrix.empty())
    matrix.assign(lq * lk, true);
  for (int64_t i = 0; i < lq; ++i) {
    for (int64_t j = 0; j < lk; ++j) {
      std::optional<bool> k = keep(i, j);
      if (!k)
        return reject("mask is not a function of the query and key "
                      "positions alone");
      if (!*k)
        matrix[i * lk + j] = false;
    }
  }
  return success();
}

/// The window [left, right] around the bottom-right diagonal i + Lk - Lq
/// that keeps exactly `keep`, when every row keeps one non-empty run of
/// keys. Extents are the smallest that reproduce the mask.
static std::optional<StructuralMask>
classifyWindow(int64_t lq, int64_t lk, const std::vector<bool> &keep) {
  int64_t left = 0, right = 0;
  bool leftOpen = true, rightOpen = true;
  SmallVector<std::pair<int64_t, int64_t>> runs;
  for (int64_t i = 0; i < lq; ++i) {
    int64_t lo = -1, hi = -1;
    for (int64_t j = 0; j < lk; ++j) {
      if (!keep[i * lk + j])
        continue;
      // One run per row: a second one is not a window.
      if (hi >= 0 && hi != j - 1)
        return std::nullopt;
      if (lo < 0)
        lo = j;
      hi = j;
    }
    // A row without keys is NaN in the graph and 0 in the op.
    if (lo < 0)
      return std::nullopt;
    int64_t diagonal = i + lk - lq;
    left = std::max(left, diagonal - lo);
    right = std::max(right, hi - diagonal);
    leftOpen &= lo == 0;
    rightOpen &= hi == lk - 1;
    runs.push_back({lo, hi});
  }
  // A side that no row bounds is no window side (anti-causal masks, causal
  // ones are told apart before); negative extents fail the verifier.
  if (leftOpen || rightOpen || left < 0 || right < 0)
    return std::nullopt;
  for (auto [i, run] : llvm::enumerate(runs)) {
    int64_t diagonal = static_cast<int64_t>(i) + lk - lq;
    if (run != std::make_pair(std::max<int64_t>(0, diagonal - left),
                              std::min<int64_t>(lk - 1, diagonal + right)))
      return std::nullopt;
  }
  return StructuralMask{MaskKind::SlidingWindow, {left, right}};
}

std::optional<StructuralMask> classifyMask(int64_t lq, int64_t lk,
                                           const std::vector<bool> &keep) {
  bool all = true, topLeft = true, bottomRight = lq <= lk;
  for (int64_t i = 0; i < lq; ++i) {
    for (int64_t j = 0; j < lk; ++j) {
      bool k = keep[i * lk + j];
      all &= k;
      topLeft &= k == (j <= i);
      bottomRight &= k == (j <= i + lk - lq);
    }
  }
  if (all)
    return StructuralMask{MaskKind::None, {}};
  // With Lq == Lk both alignments coincide and top-left is reported.
  if (topLeft)
    return StructuralMask{MaskKind::CausalTopLeft, {}};
  if (bottomRight)
    return StructuralMask{MaskKind::CausalBottomRight, {}};
  return classifyWindow(lq, lk, keep);
}

} // namespace mlir::attn::raise
