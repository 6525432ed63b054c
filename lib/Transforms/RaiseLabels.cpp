//===- RaiseLabels.cpp - labels and the view ops of attn-raise ------------===//
//
// Part of attn-mlir. Labels give each tensor dimension the logical
// attention dimensions it linearises; view ops move them.
//
//===----------------------------------------------------------------------===//

#include "RaiseInternal.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/Support/Debug.h"

#include <cmath>

#define DEBUG_TYPE "attn-raise"

using namespace mlir;
using namespace mlir::attn;

namespace mlir::attn::raise {

LogicalResult reject(const Twine &why) {
  LLVM_DEBUG(llvm::dbgs() << "[attn-raise] rejected: " << why << "\n");
  return failure();
}

bool isPowerOfTwo(double value) {
  int exponent;
  return std::isfinite(value) && value != 0.0 &&
         std::fabs(std::frexp(value, &exponent)) == 0.5;
}

/// Merges the labels of a group of dimensions into one (collapse forward,
/// expand backward). Unit labels vanish unless the whole group is units.
DimLabel mergeLabels(ArrayRef<DimLabel> group) {
  DimLabel merged;
  for (const DimLabel &label : group)
    for (Dim dim : label)
      if (dim != Dim::Unit)
        merged.push_back(dim);
  if (merged.empty())
    merged.push_back(Dim::Unit);
  return merged;
}

/// Splits `label` over dimensions of the given static `sizes` (collapse
/// backward, expand forward). Extents of 1 become units when that leaves one
/// dimension per logical label. With `repMinor`, a head label splits into
/// (head, repeat copy): query head h reads kv head h / g only when the copy
/// index is the minor part of the collapsed head dimension.
static FailureOr<Labels> splitLabel(const DimLabel &label,
                                    ArrayRef<int64_t> sizes, bool repMinor) {
  Labels out;
  if (repMinor) {
    if (sizes.size() != 2 || !isLabel(label, Dim::H))
      return failure();
    return Labels{{Dim::H}, {Dim::Rep}};
  }
  if (isLabel(label, Dim::Unit)) {
    if (llvm::any_of(sizes, [](int64_t s) { return s != 1; }))
      return failure();
    return Labels(sizes.size(), DimLabel{Dim::Unit});
  }
  size_t nonUnit = llvm::count_if(sizes, [](int64_t s) { return s != 1; });
  if (nonUnit == label.size()) {
    size_t next = 0;
    for (int64_t size : sizes)
      out.push_back(size == 1 ? DimLabel{Dim::Unit} : DimLabel{label[next++]});
    return out;
  }
  if (sizes.size() == label.size()) {
    for (Dim dim : label)
      out.push_back({dim});
    return out;
  }
  return failure();
}


/// The result labels of a reshape given its source's (forward) or the
/// source labels given the result's (backward).
FailureOr<Labels> reshapeLabels(Operation *op, const Labels &known,
                                       bool forward, bool repMinor) {
  bool isCollapse = isa<tensor::CollapseShapeOp>(op);
  auto srcType = cast<RankedTensorType>(op->getOperand(0).getType());
  auto resType = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<ReassociationIndices> groups =
      isCollapse ? cast<tensor::CollapseShapeOp>(op).getReassociationIndices()
                 : cast<tensor::ExpandShapeOp>(op).getReassociationIndices();
  // Collapse forward and expand backward merge; the other two split.
  RankedTensorType manyType = isCollapse ? srcType : resType;
  bool merge = isCollapse == forward;
  if (known.size() != (merge ? manyType.getRank() : groups.size()))
    return failure();
  Labels out;
  for (auto [index, group] : llvm::enumerate(groups)) {
    if (merge) {
      SmallVector<DimLabel> members;
      for (int64_t d : group)
        members.push_back(known[d]);
      out.push_back(mergeLabels(members));
      continue;
    }
    SmallVector<int64_t> sizes;
    for (int64_t d : group)
      sizes.push_back(manyType.getDimSize(d));
    FailureOr<Labels> split = splitLabel(known[index], sizes,
                                         repMinor && group.size() == 2 &&
                                             isLabel(known[index], Dim::H));
    if (failed(split))
      return failure();
    out.append(split->begin(), split->end());
  }
  return out;
}

/// A generic with one input and one init whose body only yields the input:
/// a transpose, a broadcast or a copy, described by its maps.
linalg::GenericOp getCopyGeneric(Operation *op) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops())
    return {};
  Block *body = generic.getBody();
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || body->getOperations().size() != 1 ||
      yield.getNumOperands() != 1 ||
      yield.getOperand(0) != body->getArgument(0))
    return {};
  if (!generic.getIndexingMapsArray()[1].isPermutation())
    return {};
  return generic;
}

/// Iteration-dimension labels of a copy generic from its result labels.
static Labels iterLabelsFromResult(linalg::GenericOp generic,
                                   const Labels &result) {
  AffineMap outMap = generic.getIndexingMapsArray()[1];
  Labels iter(generic.getNumLoops());
  for (unsigned r = 0; r < outMap.getNumResults(); ++r)
    iter[outMap.getDimPosition(r)] = result[r];
  return iter;
}

/// body is x * c, c * x or x / c with identity maps.
std::optional<double> matchOperandScale(Operation *op);

/// Steps backward from `point` through the op that defines its value, if it
/// is a view op (or, with `allowScale`, a constant scale). The value must
/// have a single use: everything crossed is erased by the rewrite.
static FailureOr<Point> stepBack(const Point &point, bool allowScale) {
  Value v = point.value;
  Operation *op = v.getDefiningOp();
  if (!op || !v.hasOneUse() || op->getNumResults() != 1)
    return failure();
  Point next = point;
  next.value = op->getOperand(0);
  next.ops.push_back(op);
  if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op)) {
    auto srcType = cast<RankedTensorType>(op->getOperand(0).getType());
    if (!srcType.hasStaticShape())
      return failure();
    // A head dimension collapsed from (kv head, copy) whose copy index comes
    // from a broadcast is a repeat_kv.
    bool repMinor = false;
    if (isa<tensor::CollapseShapeOp>(op)) {
      Operation *src = op->getOperand(0).getDefiningOp();
      repMinor =
          isa_and_nonnull<linalg::BroadcastOp>(src) ||
          (getCopyGeneric(src) &&
           !getCopyGeneric(src).getIndexingMapsArray()[0].isPermutation());
    }
    FailureOr<Labels> labels =
        reshapeLabels(op, point.labels, /*forward=*/false, repMinor);
    if (failed(labels))
      return failure();
    next.labels = *labels;
    return next;
  }
  if (auto transpose = dyn_cast<linalg::TransposeOp>(op)) {
    ArrayRef<int64_t> perm = transpose.getPermutation();
    next.value = transpose.getInput();
    next.labels.assign(perm.size(), {});
    for (auto [i, p] : llvm::enumerate(perm))
      next.labels[p] = point.labels[i];
    return next;
  }
  if (auto broadcast = dyn_cast<linalg::BroadcastOp>(op)) {
    // Only repeat copies (or units) may be broadcast: broadcasting a real
    // dimension would not be attention any more.
    next.value = broadcast.getInput();
    next.labels.clear();
    ArrayRef<int64_t> dims = broadcast.getDimensions();
    for (auto [i, label] : llvm::enumerate(point.labels)) {
      if (!llvm::is_contained(dims, static_cast<int64_t>(i))) {
        next.labels.push_back(label);
        continue;
      }
      if (!isLabel(label, Dim::Rep) && !isLabel(label, Dim::Unit))
        return failure();
    }
    return next;
  }
  if (linalg::GenericOp generic = getCopyGeneric(op)) {
    Labels iter = iterLabelsFromResult(generic, point.labels);
    AffineMap inMap = generic.getIndexingMapsArray()[0];
    auto srcType = cast<RankedTensorType>(next.value.getType());
    llvm::SmallBitVector used(generic.getNumLoops());
    next.labels.clear();
    for (unsigned r = 0; r < inMap.getNumResults(); ++r) {
      AffineExpr expr = inMap.getResult(r);
      if (auto dim = dyn_cast<AffineDimExpr>(expr)) {
        if (used.test(dim.getPosition()))
          return failure();
        used.set(dim.getPosition());
        next.labels.push_back(iter[dim.getPosition()]);
      } else if (auto cst = dyn_cast<AffineConstantExpr>(expr);
                 cst && cst.getValue() == 0 && srcType.getDimSize(r) == 1) {
        next.labels.push_back({Dim::Unit});
      } else {
        return failure();
      }
    }
    for (unsigned d = 0; d < iter.size(); ++d)
      if (!used.test(d) && !isLabel(iter[d], Dim::Rep) &&
          !isLabel(iter[d], Dim::Unit))
        return failure();
    return next;
  }
  if (allowScale) {
    if (std::optional<double> scale = matchOperandScale(op)) {
      next.scale = point.scale * *scale;
      // Folding a scale across the product always reassociates, except by a
      // power of two.
      next.inexact = point.inexact || !isPowerOfTwo(*scale);
      return next;
    }
  }
  return failure();
}

/// The points reached from `start` by stepping backward as far as possible.
SmallVector<Point> walkBack(Point start, bool allowScale) {
  SmallVector<Point> points = {start};
  while (true) {
    FailureOr<Point> next = stepBack(points.back(), allowScale);
    if (failed(next))
      return points;
    points.push_back(*next);
  }
}

/// The points reached from `start` by stepping forward through single-use
/// view ops (the output side).
SmallVector<Point> walkForward(Point start) {
  SmallVector<Point> points = {start};
  while (true) {
    const Point &point = points.back();
    if (!point.value.hasOneUse())
      return points;
    Operation *user = *point.value.getUsers().begin();
    if (user->getNumResults() != 1 || user->getOperand(0) != point.value)
      return points;
    Point next = point;
    next.value = user->getResult(0);
    next.ops.push_back(user);
    if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user)) {
      if (!cast<RankedTensorType>(next.value.getType()).hasStaticShape())
        return points;
      FailureOr<Labels> labels =
          reshapeLabels(user, point.labels, /*forward=*/true, false);
      if (failed(labels))
        return points;
      next.labels = *labels;
    } else if (auto transpose = dyn_cast<linalg::TransposeOp>(user)) {
      next.labels.clear();
      for (int64_t p : transpose.getPermutation())
        next.labels.push_back(point.labels[p]);
    } else if (linalg::GenericOp generic = getCopyGeneric(user);
               generic && generic.getIndexingMapsArray()[0].isPermutation()) {
      AffineMap inMap = generic.getIndexingMapsArray()[0];
      AffineMap outMap = generic.getIndexingMapsArray()[1];
      Labels iter(generic.getNumLoops());
      for (unsigned r = 0; r < inMap.getNumResults(); ++r)
        iter[inMap.getDimPosition(r)] = point.labels[r];
      next.labels.clear();
      for (unsigned r = 0; r < outMap.getNumResults(); ++r)
        next.labels.push_back(iter[outMap.getDimPosition(r)]);
    } else {
      return points;
    }
    points.push_back(next);
  }
}


/// Classifies a point as a 4-D operand in BHSD or BSHD layout whose labels
/// are exactly {B, H, seq, last}. Batch or head labels that the contraction
/// did not carry (a plain matmul) may be static unit dimensions.
/// A rank-3 [B*H, seq, last] operand (or [B*H, last, seq] with
/// `allowSwap`).
static std::optional<Shape4> classifyMerged(const Point &point, Dim seq,
                                            Dim last, bool allowSwap) {
  auto type = cast<RankedTensorType>(point.value.getType());
  ArrayRef<int64_t> s = type.getShape();
  const Labels &l = point.labels;
  if (l[0] != DimLabel{Dim::B, Dim::H})
    return std::nullopt;
  if (isLabel(l[1], seq) && isLabel(l[2], last))
    return Shape4{Layout::BHSD, s[0], 1, s[1], s[2], /*merged=*/true};
  if (allowSwap && isLabel(l[1], last) && isLabel(l[2], seq))
    return Shape4{Layout::BHSD, s[0], 1, s[2], s[1], /*merged=*/true,
                  /*swapped=*/true};
  return std::nullopt;
}

std::optional<Shape4> classify(const Point &point, Dim seq, Dim last,
                               bool allowSwap) {
  auto type = cast<RankedTensorType>(point.value.getType());
  if (!type.hasStaticShape())
    return std::nullopt;
  if (type.getRank() == 3)
    return classifyMerged(point, seq, last, allowSwap);
  if (type.getRank() != 4)
    return std::nullopt;
  SmallVector<Dim> dims;
  for (const DimLabel &label : point.labels) {
    if (label.size() != 1)
      return std::nullopt;
    dims.push_back(label.front());
  }
  for (Dim missing : {Dim::B, Dim::H}) {
    if (llvm::is_contained(dims, missing))
      continue;
    auto *unit = llvm::find(dims, Dim::Unit);
    if (unit == dims.end())
      return std::nullopt;
    *unit = missing;
  }
  ArrayRef<int64_t> s = type.getShape();
  if (dims == SmallVector<Dim>{Dim::B, Dim::H, seq, last})
    return Shape4{Layout::BHSD, s[0], s[1], s[2], s[3]};
  if (dims == SmallVector<Dim>{Dim::B, seq, Dim::H, last})
    return Shape4{Layout::BSHD, s[0], s[2], s[1], s[3]};
  if (allowSwap && dims == SmallVector<Dim>{Dim::B, Dim::H, last, seq})
    return Shape4{Layout::BHSD, s[0], s[1], s[3], s[2], /*merged=*/false,
                  /*swapped=*/true};
  return std::nullopt;
}

} // namespace mlir::attn::raise
