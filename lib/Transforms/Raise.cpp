//===- Raise.cpp - raise linalg attention graphs to attn.attention --------===//
//
// Part of attn-mlir. Recognises softmax(scale * Q.K^T + bias/mask) . V in the
// linalg/tensor/arith/math form that torch and ONNX importers produce and
// replaces it by one attn.attention.
//
// The matcher is anchored at the Q.K^T contraction. Every tensor it meets is
// described by *labels*: for each tensor dimension, the logical dimensions
// (batch, head, query row, key row, head dim, value column) whose product it
// indexes, major first. Contractions assign the labels; view ops
// (collapse/expand_shape, transposes, repeat_kv broadcasts) only move them.
// That one mechanism handles 3-D [B*H, L, D] and 4-D forms, K^T written as a
// transpose or folded into indexing maps, BSHD operands and GQA repeats, and
// it tells which axis a softmax or reduction runs over. A chain is raised
// only if it matches completely; nothing is rewritten before that is known.
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Raise.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/Support/Debug.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>
#include <numeric>

#define DEBUG_TYPE "attn-raise"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNRAISE
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Labels
//===----------------------------------------------------------------------===//

namespace {
/// Logical dimensions of attention. `Rep` marks the copy index of a
/// repeat_kv broadcast; `Unit` a static extent of 1 that carries nothing.
enum class Dim : uint8_t { B, H, Q, K, D, V, Rep, Unit };

/// One tensor dimension: the logical dimensions it linearises, major first.
using DimLabel = SmallVector<Dim, 2>;
/// One DimLabel per tensor dimension.
using Labels = SmallVector<DimLabel, 4>;
} // namespace

static bool isLabel(const DimLabel &label, Dim dim) {
  return label.size() == 1 && label.front() == dim;
}

/// Scores whose magnitude is at least this (or -inf) count as "masked":
/// exp(s - max) underflows to exactly 0 in f32 for any score range below
/// 1e4, so adding or selecting them is the same as masking.
constexpr double kMaskedThreshold = -1.0e4;
/// Upper bound on Lq * Lk for evaluating a mask elementwise at compile time.
constexpr int64_t kMaxMaskElements = int64_t(1) << 22;

static LogicalResult reject(const Twine &why) {
  LLVM_DEBUG(llvm::dbgs() << "[attn-raise] rejected: " << why << "\n");
  return failure();
}

static bool isPowerOfTwo(double value) {
  int exponent;
  return std::isfinite(value) && value != 0.0 &&
         std::fabs(std::frexp(value, &exponent)) == 0.5;
}

/// Merges the labels of a group of dimensions into one (collapse forward,
/// expand backward). Unit labels vanish unless the whole group is units.
static DimLabel mergeLabels(ArrayRef<DimLabel> group) {
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

namespace {
/// A point on a chain of view ops: a value whose labels are known, and the
/// view ops crossed to reach it from the attention core.
struct Point {
  Value value;
  Labels labels;
  /// View (and scale) ops crossed from the core to this point.
  SmallVector<Operation *> ops;
  /// Product of the constant scales crossed (Q/K chains only).
  double scale = 1.0;
  bool inexact = false;
};
} // namespace

/// The result labels of a reshape given its source's (forward) or the
/// source labels given the result's (backward).
static FailureOr<Labels> reshapeLabels(Operation *op, const Labels &known,
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
static linalg::GenericOp getCopyGeneric(Operation *op) {
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

/// Scales a Q or K operand by a constant: a generic with one input, whose
/// body is x * c, c * x or x / c with identity maps.
static std::optional<double> matchOperandScale(Operation *op);

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
static SmallVector<Point> walkBack(Point start, bool allowScale) {
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
static SmallVector<Point> walkForward(Point start) {
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

namespace {
/// Sizes of a 4-D Q/K/V/O tensor in logical order [B, H, S, last].
struct Shape4 {
  Layout layout;
  int64_t b, h, s, x;
};
} // namespace

/// Classifies a point as a 4-D operand in BHSD or BSHD layout whose labels
/// are exactly {B, H, seq, last}. Batch or head labels that the contraction
/// did not carry (a plain matmul) may be static unit dimensions.
static std::optional<Shape4> classify(const Point &point, Dim seq, Dim last) {
  auto type = cast<RankedTensorType>(point.value.getType());
  if (type.getRank() != 4 || !type.hasStaticShape())
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
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Scalars and bodies
//===----------------------------------------------------------------------===//

/// `value` as a double, whatever its semantics (convertToDouble only takes
/// types that double represents exactly).
static double toDouble(APFloat value) {
  bool losesInfo;
  value.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven,
                &losesInfo);
  return value.convertToDouble();
}

/// A float constant: an arith.constant, or a block argument of `generic`
/// bound to a splat constant tensor.
static std::optional<double> getFloatConstant(Value v,
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
static bool isFilledWith(Value init, llvm::function_ref<bool(double)> isValue) {
  if (auto fill = init.getDefiningOp<linalg::FillOp>()) {
    std::optional<double> value = getFloatConstant(fill.value(), {});
    return value && isValue(*value);
  }
  DenseElementsAttr dense;
  return matchPattern(init, m_Constant(&dense)) && dense.isSplat() &&
         isa<FloatType>(dense.getElementType()) &&
         isValue(toDouble(dense.getSplatValue<APFloat>()));
}

static bool isZero(double v) { return v == 0.0; }
static bool isMasked(double v) { return v <= kMaskedThreshold; }

/// An all-parallel generic with one result and identity output map.
static bool isElementwise(linalg::GenericOp generic) {
  return generic && generic.getNumDpsInits() == 1 &&
         generic->getNumResults() == 1 &&
         generic.getNumParallelLoops() == generic.getNumLoops() &&
         generic.getIndexingMapsArray().back().isIdentity() &&
         generic.getBody()->getArgument(generic.getNumDpsInputs()).use_empty();
}

/// The single user of `v` inside a body, or null.
static Operation *soleUser(Value v) {
  return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
}

static std::optional<double> matchOperandScale(Operation *op) {
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

//===----------------------------------------------------------------------===//
// Masks: evaluating index conditions at compile time
//===----------------------------------------------------------------------===//

namespace {
/// Evaluates integer, index and i1 scalars of linalg bodies at a query row
/// i and key row j, following linalg.index, constants, integer arithmetic
/// and comparisons, and i1 tensors that are constants or are computed from
/// indices alone. Anything else (including a dependence on batch or head)
/// makes the condition unknown.
class MaskEvaluator {
public:
  /// Registers the iteration-dimension labels of a generic whose body the
  /// evaluator may enter.
  void addGeneric(linalg::GenericOp generic, const Labels &iterLabels) {
    generics[generic.getBody()] = {generic, iterLabels};
  }

  /// The value of `v` at (i, j), or nullopt when it is unknown or costs
  /// more than a fixed budget of steps (shared subexpressions are not
  /// memoised, so a deep DAG must not blow up).
  std::optional<int64_t> evaluate(Value v, int64_t i, int64_t j) {
    budget = 4096;
    return eval(v, i, j);
  }

  /// Generics producing i1 tensors entered while evaluating: they are part
  /// of the chain and die with it.
  llvm::SetVector<Operation *> producers;

private:
  struct GenericInfo {
    linalg::GenericOp op;
    Labels iterLabels;
  };
  std::optional<int64_t> eval(Value v, int64_t i, int64_t j,
                              unsigned depth = 0);
  std::optional<int64_t> evalTensorElement(Value tensor, AffineMap map,
                                           const Labels &iterLabels, int64_t i,
                                           int64_t j, unsigned depth);
  DenseMap<Block *, GenericInfo> generics;
  int64_t budget = 0;
};
} // namespace

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
static std::optional<Labels>
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
static std::optional<int64_t> maskPosition(const Labels &labels,
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
template <typename KeepFn>
static std::optional<MaskKind> classifyCausal(int64_t lq, int64_t lk,
                                              KeepFn keep) {
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

//===----------------------------------------------------------------------===//
// The match
//===----------------------------------------------------------------------===//

namespace {
/// Everything the rewrite needs, collected before anything is changed.
struct AttentionMatch {
  Point q, k, v, out;
  Shape4 qShape, kShape, vShape, outShape;
  double scale = 1.0;
  bool inexact = false;
  int nonPowerOfTwoMultiplies = 0;
  MaskKind maskKind = MaskKind::None;
  /// The bias tensor and the logical labels of its dimensions.
  Value bias;
  Labels biasLabels;
  /// Ops of the chain between the roots and the output, erased after the
  /// output is replaced.
  llvm::SetVector<Operation *> ops;
};

class AttentionMatcher {
public:
  explicit AttentionMatcher(linalg::LinalgOp qk) : qk(qk) {}

  LogicalResult match();
  AttentionMatch result;

private:
  LogicalResult matchScoreChain(Value scores, Labels labels);
  LogicalResult matchElementwise(linalg::GenericOp generic, unsigned mainArg,
                                 const Labels &labels);
  LogicalResult applyScale(double factor, bool isDivision);
  LogicalResult applyAddend(linalg::GenericOp generic, unsigned arg,
                            const Labels &labels);
  LogicalResult applyMask(MaskKind kind);
  FailureOr<Value> matchDecomposedSoftmax(Value x, const Labels &labels);
  LogicalResult matchValueProduct(linalg::LinalgOp pv, Value probs,
                                  const Labels &labels);
  LogicalResult chooseOperands(ArrayRef<Point> qs, ArrayRef<Point> ks,
                               ArrayRef<Point> vs, ArrayRef<Point> outs);

  std::optional<int64_t> keyAxis(const Labels &labels) const {
    for (auto [i, label] : llvm::enumerate(labels))
      if (isLabel(label, Dim::K))
        return i;
    return std::nullopt;
  }
  /// Static extents of the dimensions labelled Q and K in a score tensor.
  std::optional<std::pair<int64_t, int64_t>> scoreLengths(Value scores,
                                                          const Labels &labels);

  linalg::LinalgOp qk;
  SmallVector<Point> qPoints, kPoints;
  bool haveBias = false;
};
} // namespace

/// Contraction dims of a linalg op computing sum_k A * B into a zero init,
/// one dimension each of m, n and k.
static FailureOr<linalg::ContractionDimensions>
getContraction(linalg::LinalgOp op) {
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
    return failure();
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1 || dims->batch.size() > 2)
    return failure();
  if (!isFilledWith(op.getDpsInits()[0], isZero))
    return reject("contraction does not accumulate into zeros");
  for (AffineMap map : op.getIndexingMapsArray())
    if (!map.isProjectedPermutation(/*allowZeroInResults=*/false))
      return failure();
  for (OpOperand &operand : op->getOpOperands())
    if (!cast<RankedTensorType>(operand.get().getType()).hasStaticShape())
      return failure();
  return dims;
}

static Labels labelsThrough(AffineMap map, const Labels &iter) {
  Labels labels;
  for (unsigned r = 0; r < map.getNumResults(); ++r)
    labels.push_back(iter[map.getDimPosition(r)]);
  return labels;
}

LogicalResult AttentionMatcher::match() {
  FailureOr<linalg::ContractionDimensions> dims = getContraction(qk);
  if (failed(dims))
    return failure();
  // Batch dimensions in the order the scores store them: two are (B, H),
  // one is B*H; a plain matmul has neither.
  AffineMap outMap = qk.getIndexingMapsArray()[2];
  Labels iter(qk.getNumLoops());
  SmallVector<unsigned> batch;
  for (unsigned r = 0; r < outMap.getNumResults(); ++r)
    if (llvm::is_contained(dims->batch, outMap.getDimPosition(r)))
      batch.push_back(outMap.getDimPosition(r));
  if (batch.size() == 2) {
    iter[batch[0]] = {Dim::B};
    iter[batch[1]] = {Dim::H};
  } else if (batch.size() == 1) {
    iter[batch[0]] = {Dim::B, Dim::H};
  }
  iter[dims->m.front()] = {Dim::Q};
  iter[dims->n.front()] = {Dim::K};
  iter[dims->k.front()] = {Dim::D};
  if (llvm::any_of(iter, [](const DimLabel &l) { return l.empty(); }))
    return reject("Q.K^T has loops that are neither batch, m, n nor k");
  SmallVector<AffineMap> maps = qk.getIndexingMapsArray();

  Point qStart{qk.getDpsInputs()[0], labelsThrough(maps[0], iter), {}};
  Point kStart{qk.getDpsInputs()[1], labelsThrough(maps[1], iter), {}};
  qPoints = walkBack(qStart, /*allowScale=*/true);
  kPoints = walkBack(kStart, /*allowScale=*/true);
  result.ops.insert(qk);
  return matchScoreChain(qk->getResult(0), labelsThrough(outMap, iter));
}

std::optional<std::pair<int64_t, int64_t>>
AttentionMatcher::scoreLengths(Value scores, const Labels &labels) {
  auto type = cast<RankedTensorType>(scores.getType());
  int64_t lq = -1, lk = -1;
  for (auto [label, size] : llvm::zip(labels, type.getShape())) {
    if (isLabel(label, Dim::Q))
      lq = size;
    if (isLabel(label, Dim::K))
      lk = size;
  }
  if (lq < 0 || lk < 0)
    return std::nullopt;
  return std::make_pair(lq, lk);
}

LogicalResult AttentionMatcher::applyScale(double factor, bool isDivision) {
  if (haveBias)
    return reject("scale applied after the bias (would scale the bias)");
  if (result.maskKind != MaskKind::None && factor <= 0)
    return reject("non-positive scale after a mask");
  if (!isPowerOfTwo(factor)) {
    if (isDivision)
      result.inexact = true;
    else
      ++result.nonPowerOfTwoMultiplies;
  }
  result.scale *= factor;
  return success();
}

LogicalResult AttentionMatcher::applyMask(MaskKind kind) {
  if (result.maskKind != MaskKind::None && result.maskKind != kind)
    return reject("two different causal masks");
  result.maskKind = kind;
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
    return reject("bias is not a static float tensor");
  std::optional<Labels> tensorLabels =
      operandLabels(generic.getIndexingMapsArray()[arg], labels, type);
  if (!tensorLabels)
    return reject("bias indexing map is not a broadcast");

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
    if (std::optional<MaskKind> kind =
            classifyCausal(lengths->first, lengths->second, keep))
      return applyMask(*kind);
  }

  if (haveBias)
    return reject("more than one additive bias");
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
      return reject("bias dimensions are not in [B, H, Lq, Lk] order");
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
    return reject("score operand of an elementwise op is not read in place");
  Block *body = generic.getBody();
  Value x = body->getArgument(mainArg);
  MaskEvaluator evaluator;
  evaluator.addGeneric(generic, labels);
  std::optional<std::pair<int64_t, int64_t>> lengths =
      scoreLengths(generic->getResult(0), labels);

  while (true) {
    Operation *user = soleUser(x);
    if (!user)
      return reject("score value used more than once inside a body");
    if (isa<linalg::YieldOp>(user))
      break;
    if (user->getNumResults() != 1)
      return reject("unexpected op in the score chain");
    auto otherOperand = [&]() {
      return user->getOperand(0) == x ? user->getOperand(1)
                                      : user->getOperand(0);
    };
    if (isa<arith::MulFOp>(user) ||
        (isa<arith::DivFOp>(user) && user->getOperand(0) == x)) {
      std::optional<double> c = getFloatConstant(otherOperand(), generic);
      if (!c || *c == 0.0 || !std::isfinite(*c))
        return reject("scores scaled by a non-constant");
      bool isDivision = isa<arith::DivFOp>(user);
      if (failed(applyScale(isDivision ? 1.0 / *c : *c, isDivision)))
        return failure();
    } else if (isa<arith::AddFOp>(user)) {
      auto arg = dyn_cast<BlockArgument>(otherOperand());
      if (!arg || arg.getOwner() != body ||
          arg.getArgNumber() >= generic.getNumDpsInputs() ||
          arg.getArgNumber() == mainArg)
        return reject("addend is not a tensor operand");
      if (failed(applyAddend(generic, arg.getArgNumber(), labels)))
        return failure();
    } else if (auto select = dyn_cast<arith::SelectOp>(user)) {
      bool keepWhenTrue = select.getTrueValue() == x;
      Value fill =
          keepWhenTrue ? select.getFalseValue() : select.getTrueValue();
      std::optional<double> c = getFloatConstant(fill, generic);
      if (select.getCondition() == x || !c || !isMasked(*c))
        return reject("select does not mask with -inf");
      if (!lengths)
        return reject("mask on scores without separate Lq and Lk dims");
      auto keep = [&](int64_t i, int64_t j) -> std::optional<bool> {
        std::optional<int64_t> cond =
            evaluator.evaluate(select.getCondition(), i, j);
        if (!cond)
          return std::nullopt;
        return (*cond != 0) == keepWhenTrue;
      };
      std::optional<MaskKind> kind =
          classifyCausal(lengths->first, lengths->second, keep);
      if (!kind)
        return reject("select mask is not causal (or depends on b/h)");
      if (failed(applyMask(*kind)))
        return failure();
    } else {
      return reject("unsupported op in the score chain: " +
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

namespace {
/// A row statistic and the map through which the scores' iteration space
/// reads it back (identity minus the axis, or keepdim).
struct RowReduction {
  Value value;
  AffineMap outMap;
};
} // namespace

/// Whether `op` reduces `input` over axis `axis` with one of `Combiner` into
/// an init filled with a value accepted by `isInit`.
template <typename... Combiner>
static std::optional<RowReduction>
matchRowReduction(Operation *op, Value input, unsigned axis,
                  llvm::function_ref<bool(double)> isInit) {
  Block *body = nullptr;
  Value init;
  AffineMap outMap;
  unsigned rank = cast<RankedTensorType>(input.getType()).getRank();
  if (auto reduce = dyn_cast<linalg::ReduceOp>(op)) {
    if (reduce.getNumDpsInputs() != 1 || reduce.getDimensions().size() != 1 ||
        reduce.getDimensions()[0] != static_cast<int64_t>(axis))
      return std::nullopt;
    body = &reduce.getCombiner().front();
    init = reduce.getInits()[0];
    outMap = AffineMap::getMultiDimIdentityMap(rank, op->getContext())
                 .dropResult(axis);
  } else if (auto generic = dyn_cast<linalg::GenericOp>(op)) {
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    if (generic.getNumDpsInputs() != 1 || generic.getNumDpsInits() != 1 ||
        generic.getNumReductionLoops() != 1 || !maps[0].isIdentity() ||
        generic.getIteratorTypesArray()[axis] != utils::IteratorType::reduction)
      return std::nullopt;
    // The output reads every dim but the axis in order, possibly keeping the
    // axis as a constant 0 (keepdim).
    AffineMap ident = AffineMap::getMultiDimIdentityMap(rank, op->getContext());
    AffineMap keep =
        ident.replace(getAffineDimExpr(axis, op->getContext()),
                      getAffineConstantExpr(0, op->getContext()), rank, 0);
    if (maps[1] != ident.dropResult(axis) && maps[1] != keep)
      return std::nullopt;
    body = generic.getBody();
    init = generic.getDpsInits()[0];
    outMap = maps[1];
  } else {
    return std::nullopt;
  }
  if (op->getOperand(0) != input || op->getNumResults() != 1)
    return std::nullopt;
  Operation *combine = soleUser(body->getArgument(0));
  if (!combine || !isa<Combiner...>(combine) ||
      !llvm::is_contained(combine->getOperands(), body->getArgument(1)) ||
      soleUser(combine->getResult(0)) != body->getTerminator() ||
      !isFilledWith(init, isInit))
    return std::nullopt;
  return RowReduction{op->getResult(0), outMap};
}

/// An elementwise generic with inputs (x in place, row value through
/// `rowMap`) whose body applies `Op` to (x, row) and maybe `Then` after.
/// Returns whether `Then` was applied too.
template <typename Op, typename Then>
static std::optional<bool> matchRowwise(Operation *op, Value x, Value row,
                                        AffineMap rowMap) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!isElementwise(generic) || generic.getNumDpsInputs() != 2 ||
      generic.getDpsInputs()[0] != x || generic.getDpsInputs()[1] != row)
    return std::nullopt;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  if (!maps[0].isIdentity() || maps[1] != rowMap)
    return std::nullopt;
  Block *body = generic.getBody();
  auto first = dyn_cast_or_null<Op>(soleUser(body->getArgument(0)));
  if (!first || first->getOperand(0) != body->getArgument(0) ||
      first->getOperand(1) != body->getArgument(1))
    return std::nullopt;
  Operation *next = soleUser(first->getResult(0));
  if (isa_and_nonnull<linalg::YieldOp>(next))
    return false;
  if (isa_and_nonnull<Then>(next) &&
      soleUser(next->getResult(0)) == body->getTerminator())
    return true;
  return std::nullopt;
}

/// A unary elementwise generic applying `Op` to its single input.
template <typename Op> static bool isUnaryGeneric(Operation *op, Value x) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!isElementwise(generic) || generic.getNumDpsInputs() != 1 ||
      generic.getDpsInputs()[0] != x ||
      !generic.getIndexingMapsArray()[0].isIdentity())
    return false;
  Operation *user = soleUser(generic.getBody()->getArgument(0));
  return isa_and_nonnull<Op>(user) &&
         soleUser(user->getResult(0)) == generic.getBody()->getTerminator();
}

/// A max-reduction may start at -inf or at the lowest finite value of the
/// element type (torch's finfo.min): both are below every score.
static bool isMaxInit(double v, Type elementType) {
  auto floatType = dyn_cast<FloatType>(elementType);
  if (!floatType)
    return false;
  APFloat lowest =
      APFloat::getLargest(floatType.getFloatSemantics(), /*Negative=*/true);
  return v == -std::numeric_limits<double>::infinity() || v == toDouble(lowest);
}

/// max-reduce, subtract, exp, sum-reduce, divide over the key axis. `x` has
/// exactly two uses: the max and the subtraction.
FailureOr<Value>
AttentionMatcher::matchDecomposedSoftmax(Value x, const Labels &labels) {
  std::optional<int64_t> axis = keyAxis(labels);
  if (!axis)
    return reject("no key axis in the scores");
  SmallVector<Operation *> users(x.getUsers());
  if (users.size() != 2)
    return reject("scores are used outside the chain");
  std::optional<RowReduction> max;
  Operation *sub = nullptr;
  for (auto [a, b] :
       {std::pair(users[0], users[1]), std::pair(users[1], users[0])})
    if ((max = matchRowReduction<arith::MaximumFOp, arith::MaxNumFOp>(
             a, x, *axis, [&](double v) {
               return isMaxInit(v, getElementTypeOrSelf(x.getType()));
             }))) {
      sub = b;
      break;
    }
  if (!max)
    return reject("scores are used outside the chain, or no row max over "
                  "the key axis");
  if (!max->value.hasOneUse() || *max->value.getUsers().begin() != sub)
    return reject("row max used outside the softmax");
  std::optional<bool> fusedExp =
      matchRowwise<arith::SubFOp, math::ExpOp>(sub, x, max->value, max->outMap);
  if (!fusedExp)
    return reject("no x - max after the row max");
  result.ops.insert(max->value.getDefiningOp());
  result.ops.insert(sub);
  Value e = sub->getResult(0);
  if (!*fusedExp) {
    Operation *exp = soleUser(e);
    if (!exp || !isUnaryGeneric<math::ExpOp>(exp, e))
      return reject("no exp after x - max");
    result.ops.insert(exp);
    e = exp->getResult(0);
  }
  SmallVector<Operation *> eUsers(e.getUsers());
  if (eUsers.size() != 2)
    return reject("exp(x - max) must feed exactly the sum and the division");
  for (auto [a, b] :
       {std::pair(eUsers[0], eUsers[1]), std::pair(eUsers[1], eUsers[0])}) {
    std::optional<RowReduction> sum =
        matchRowReduction<arith::AddFOp>(a, e, *axis, isZero);
    if (!sum || !sum->value.hasOneUse() || *sum->value.getUsers().begin() != b)
      continue;
    std::optional<bool> div = matchRowwise<arith::DivFOp, arith::DivFOp>(
        b, e, sum->value, sum->outMap);
    if (!div || *div)
      continue;
    result.ops.insert(a);
    result.ops.insert(b);
    return b->getResult(0);
  }
  return reject("no exp / rowsum(exp) over the key axis");
}

LogicalResult AttentionMatcher::matchScoreChain(Value v, Labels labels) {
  bool softmaxDone = false;
  while (true) {
    auto type = cast<RankedTensorType>(v.getType());
    if (!type.hasStaticShape())
      return reject("dynamic score shape");
    // attn.attention keeps scores and probabilities in f32.
    if (!type.getElementType().isF32())
      result.inexact = true;
    if (!softmaxDone && !v.hasOneUse()) {
      FailureOr<Value> probs = matchDecomposedSoftmax(v, labels);
      if (failed(probs))
        return failure();
      v = *probs;
      softmaxDone = true;
      continue;
    }
    if (!v.hasOneUse())
      return reject("probabilities used outside P.V");
    Operation *user = *v.getUsers().begin();
    if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user)) {
      FailureOr<Labels> next = reshapeLabels(user, labels, /*forward=*/true,
                                             /*repMinor=*/false);
      if (failed(next))
        return reject("reshape of the scores splits an unknown dimension");
      labels = *next;
      result.ops.insert(user);
      v = user->getResult(0);
      continue;
    }
    if (auto softmax = dyn_cast<linalg::SoftmaxOp>(user)) {
      if (softmaxDone || softmax.getInput() != v)
        return reject("second softmax");
      if (!isLabel(labels[softmax.getDimension()], Dim::K))
        return reject("softmax is not over the key axis");
      result.ops.insert(user);
      v = softmax->getResult(0);
      softmaxDone = true;
      continue;
    }
    auto generic = dyn_cast<linalg::GenericOp>(user);
    if (!softmaxDone && isElementwise(generic)) {
      unsigned mainArg = 0;
      while (mainArg < generic.getNumDpsInputs() &&
             generic.getDpsInputs()[mainArg] != v)
        ++mainArg;
      if (mainArg == generic.getNumDpsInputs())
        return reject("scores flow into an init operand");
      if (failed(matchElementwise(generic, mainArg, labels)))
        return failure();
      result.ops.insert(user);
      v = user->getResult(0);
      continue;
    }
    if (!softmaxDone)
      return reject("no softmax between Q.K^T and the next contraction");
    auto pv = dyn_cast<linalg::LinalgOp>(user);
    return matchValueProduct(pv, v, labels);
  }
}

LogicalResult AttentionMatcher::matchValueProduct(linalg::LinalgOp pv,
                                                  Value probs,
                                                  const Labels &labels) {
  FailureOr<linalg::ContractionDimensions> dims = getContraction(pv);
  if (failed(dims))
    return reject("probabilities do not feed a contraction with V");
  unsigned probsIndex = pv.getDpsInputs()[0] == probs ? 0 : 1;
  if (pv.getDpsInputs()[probsIndex] != probs ||
      pv.getDpsInputs()[1 - probsIndex] == probs)
    return reject("probabilities are not an input of P.V");
  SmallVector<AffineMap> maps = pv.getIndexingMapsArray();
  Labels iter(pv.getNumLoops());
  for (unsigned r = 0; r < maps[probsIndex].getNumResults(); ++r)
    iter[maps[probsIndex].getDimPosition(r)] = labels[r];
  if (!isLabel(iter[dims->k.front()], Dim::K))
    return reject("P.V does not reduce over the key axis");
  unsigned free = probsIndex == 0 ? dims->n.front() : dims->m.front();
  unsigned rowDim = probsIndex == 0 ? dims->m.front() : dims->n.front();
  if (!isLabel(iter[rowDim], Dim::Q))
    return reject("P.V rows are not query rows");
  iter[free] = {Dim::V};
  // ... and accumulates P.V in f32.
  if (!getElementTypeOrSelf(pv->getResult(0).getType()).isF32())
    result.inexact = true;
  if (llvm::any_of(iter, [](const DimLabel &l) { return l.empty(); }))
    return reject("P.V has loops that P does not index");
  result.ops.insert(pv);

  Point vStart{pv.getDpsInputs()[1 - probsIndex],
               labelsThrough(maps[1 - probsIndex], iter),
               {}};
  Point outStart{pv->getResult(0), labelsThrough(maps[2], iter), {}};
  SmallVector<Point> vPoints = walkBack(vStart, /*allowScale=*/false);
  SmallVector<Point> outPoints = walkForward(outStart);
  return chooseOperands(qPoints, kPoints, vPoints, outPoints);
}

/// Picks one point on each chain so that all four agree on layout and
/// sizes, absorbing as many view ops as possible.
LogicalResult AttentionMatcher::chooseOperands(ArrayRef<Point> qs,
                                               ArrayRef<Point> ks,
                                               ArrayRef<Point> vs,
                                               ArrayRef<Point> outs) {
  for (Layout layout : {Layout::BSHD, Layout::BHSD}) {
    auto farthest = [&](ArrayRef<Point> points, Dim seq, Dim last,
                        const Point *&point, Shape4 &shape) {
      for (const Point &p : llvm::reverse(points))
        if (std::optional<Shape4> s = classify(p, seq, last);
            s && s->layout == layout) {
          point = &p;
          shape = *s;
          return true;
        }
      return false;
    };
    const Point *q, *out;
    Shape4 qs4, os4;
    if (!farthest(qs, Dim::Q, Dim::D, q, qs4) ||
        !farthest(outs, Dim::Q, Dim::V, out, os4))
      continue;
    // K and V must agree on the number of kv heads: both repeats absorbed
    // or neither.
    for (const Point &k : llvm::reverse(ks)) {
      std::optional<Shape4> ks4 = classify(k, Dim::K, Dim::D);
      if (!ks4 || ks4->layout != layout)
        continue;
      for (const Point &v : llvm::reverse(vs)) {
        std::optional<Shape4> vs4 = classify(v, Dim::K, Dim::V);
        if (!vs4 || vs4->layout != layout || vs4->h != ks4->h)
          continue;
        if (qs4.b != ks4->b || qs4.b != vs4->b || qs4.b != os4.b ||
            qs4.h != os4.h || qs4.s != os4.s || ks4->s != vs4->s ||
            qs4.x != ks4->x || vs4->x != os4.x || qs4.h % ks4->h != 0)
          return reject("Q/K/V/output shapes do not form attention");
        result.q = *q;
        result.k = k;
        result.v = v;
        result.out = *out;
        result.qShape = qs4;
        result.kShape = *ks4;
        result.vShape = *vs4;
        result.outShape = os4;
        return success();
      }
    }
  }
  return reject("Q, K, V and the output do not reach 4-D tensors of one "
                "layout");
}

//===----------------------------------------------------------------------===//
// The pattern
//===----------------------------------------------------------------------===//

namespace {
struct RaiseAttentionPattern : OpInterfaceRewritePattern<linalg::LinalgOp> {
  RaiseAttentionPattern(MLIRContext *ctx, const AttnRaiseOptions &options,
                        int64_t *numRaised)
      : OpInterfaceRewritePattern(ctx), options(options), numRaised(numRaised) {
  }

  LogicalResult matchAndRewrite(linalg::LinalgOp qk,
                                PatternRewriter &rewriter) const override {
    if (failed(getContraction(qk)))
      return failure();
    LLVM_DEBUG(llvm::dbgs() << "[attn-raise] trying Q.K^T candidate "
                            << *qk.getOperation() << "\n");
    AttentionMatcher matcher(qk);
    if (failed(matcher.match()))
      return rewriter.notifyMatchFailure(qk, "not an attention chain");
    AttentionMatch &m = matcher.result;
    return rewrite(m, rewriter);
  }

  LogicalResult rewrite(AttentionMatch &m, PatternRewriter &rewriter) const {
    // Scales folded across the product, divisions turned into
    // multiplications, several non-power-of-two factors merged and scores
    // kept in a type narrower than f32 all round differently from the
    // original graph.
    double scale = m.scale * m.q.scale * m.k.scale;
    bool inexact = m.inexact || m.q.inexact || m.k.inexact ||
                   m.nonPowerOfTwoMultiplies > 1;
    if (inexact && !options.allowReassociation)
      return reject("raising would change the rounding "
                    "(allow-reassociation=false)");
    Type elementType = getElementTypeOrSelf(m.q.value.getType());
    if (!isa<Float32Type, Float16Type, BFloat16Type>(elementType) ||
        getElementTypeOrSelf(m.k.value.getType()) != elementType ||
        getElementTypeOrSelf(m.v.value.getType()) != elementType)
      return reject("Q, K and V must share one f16/bf16/f32 element type");
    // What attn.attention's verifier requires beyond the shapes.
    auto isSupported = [](Type t) {
      return isa<Float32Type, Float16Type, BFloat16Type>(t);
    };
    if (!isSupported(getElementTypeOrSelf(m.out.value.getType())) ||
        (m.bias && !isSupported(getElementTypeOrSelf(m.bias.getType()))))
      return reject("output and bias must be f16, bf16 or f32");
    if (!std::isfinite(scale) || scale <= 0.0)
      return reject("the scale must be finite and positive");
    for (const Shape4 &shape : {m.qShape, m.kShape, m.vShape, m.outShape})
      if (shape.b <= 0 || shape.h <= 0 || shape.s <= 0 || shape.x <= 0)
        return reject("empty tensors");

    // Every op between the roots and the output must die with the chain.
    llvm::SetVector<Operation *> ops = m.ops;
    for (const Point *point : {&m.q, &m.k, &m.v, &m.out})
      ops.insert(point->ops.begin(), point->ops.end());
    Operation *last = m.out.value.getDefiningOp();
    for (Operation *op : ops) {
      if (op->getBlock() != last->getBlock())
        return reject("chain spans several blocks");
      if (op != last)
        for (Operation *user : op->getUsers())
          if (!ops.contains(user))
            return reject("an intermediate is used outside the chain");
    }

    MLIRContext *ctx = rewriter.getContext();
    Location loc = last->getLoc();
    rewriter.setInsertionPoint(last);
    Value bias;
    if (m.bias) {
      FailureOr<Value> reshaped = reshapeBias(rewriter, loc, m);
      if (failed(reshaped))
        return failure();
      bias = *reshaped;
    }
    auto op = AttentionOp::create(
        rewriter, loc, m.out.value.getType(), /*lse=*/Type(), m.q.value,
        m.k.value, m.v.value, bias, /*mask=*/Value(), /*key_lengths=*/Value(),
        rewriter.getF64FloatAttr(scale), MaskKindAttr::get(ctx, m.maskKind),
        /*window=*/DenseI64ArrayAttr(), /*softcap=*/FloatAttr(),
        /*alibi_slopes=*/DenseF64ArrayAttr(),
        LayoutAttr::get(ctx, m.qShape.layout));
    rewriter.replaceAllUsesWith(m.out.value, op.getOutput());
    SmallVector<Operation *> sorted(ops.begin(), ops.end());
    llvm::sort(sorted, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    for (Operation *dead : llvm::reverse(sorted))
      rewriter.eraseOp(dead);
    if (numRaised)
      ++*numRaised;
    return success();
  }

  /// The bias as a [B, Hq, Lq, Lk]-broadcastable 4-D tensor: same data,
  /// reshaped (its dimensions are already in that order).
  FailureOr<Value> reshapeBias(PatternRewriter &rewriter, Location loc,
                               const AttentionMatch &m) const {
    auto type = cast<RankedTensorType>(m.bias.getType());
    DimLabel flat = mergeLabels(m.biasLabels);
    SmallVector<int64_t> shape;
    int64_t extents[] = {m.qShape.b, m.qShape.h, m.qShape.s, m.kShape.s};
    Dim order[] = {Dim::B, Dim::H, Dim::Q, Dim::K};
    for (auto [dim, extent] : llvm::zip(order, extents))
      shape.push_back(llvm::is_contained(flat, dim) ? extent : 1);
    auto target = RankedTensorType::get(shape, type.getElementType());
    if (target.getNumElements() != type.getNumElements())
      return reject("bias size does not match the scores");
    if (target == type)
      return m.bias;
    Value flatBias = m.bias;
    if (type.getRank() != 1) {
      ReassociationIndices all(type.getRank());
      std::iota(all.begin(), all.end(), 0);
      flatBias = tensor::CollapseShapeOp::create(
          rewriter, loc, m.bias, SmallVector<ReassociationIndices>{all});
    }
    return tensor::ExpandShapeOp::create(
               rewriter, loc, target, flatBias,
               SmallVector<ReassociationIndices>{{0, 1, 2, 3}})
        .getResult();
  }

  AttnRaiseOptions options;
  int64_t *numRaised;
};

struct AttnRaisePass : mlir::attn::impl::AttnRaiseBase<AttnRaisePass> {
  using Base::Base;

  void runOnOperation() override {
    AttnRaiseOptions options;
    options.allowReassociation = allowReassociation;
    FailureOr<int64_t> raised = raiseAttention(getOperation(), options);
    if (failed(raised))
      return signalPassFailure();
    numRaised += *raised;
  }
};
} // namespace

void mlir::attn::populateAttnRaisePatterns(RewritePatternSet &patterns,
                                           const AttnRaiseOptions &options,
                                           int64_t *numRaised) {
  patterns.add<RaiseAttentionPattern>(patterns.getContext(), options,
                                      numRaised);
}

FailureOr<int64_t> mlir::attn::raiseAttention(Operation *root,
                                              const AttnRaiseOptions &options) {
  MLIRContext *ctx = root->getContext();
  ctx->loadDialect<AttnDialect, tensor::TensorDialect>();
  int64_t numRaised = 0;
  RewritePatternSet patterns(ctx);
  populateAttnRaisePatterns(patterns, options, &numRaised);
  // Leave everything that is not attention as it was: no folding, no
  // constant hoisting, no region simplification.
  GreedyRewriteConfig config;
  config.enableFolding(false);
  config.enableConstantCSE(false);
  config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
  if (failed(applyPatternsGreedily(root, std::move(patterns), config)))
    return failure();
  return numRaised;
}
