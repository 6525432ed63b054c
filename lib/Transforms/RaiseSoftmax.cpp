//===- RaiseSoftmax.cpp - the decomposed softmax for attn-raise -----------===//
//
// Part of attn-mlir. max-reduce, subtract, exp, sum-reduce, divide
// over the key axis, as importers decompose torch.softmax.
//
//===----------------------------------------------------------------------===//

#include "RaiseInternal.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

#define DEBUG_TYPE "attn-raise"

using namespace mlir;
using namespace mlir::attn;

namespace mlir::attn::raise {

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

} // namespace mlir::attn::raise
