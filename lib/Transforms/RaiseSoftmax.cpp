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
    return fail("no key axis in the scores");
  SmallVector<Operation *> users(x.getUsers());
  if (users.size() != 2)
    return fail("scores are used outside the chain");
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
    return fail("scores are used outside the chain, or no row max over "
                "the key axis");
  // Beside the subtraction, the row max may feed an LSE (log(sum) + max).
  Operation *maxOther = nullptr;
  for (Operation *user : max->value.getUsers()) {
    if (user == sub)
      continue;
    if (maxOther)
      return fail("row max used outside the softmax");
    maxOther = user;
  }
  std::optional<bool> fusedExp =
      matchRowwise<arith::SubFOp, math::ExpOp>(sub, x, max->value, max->outMap);
  if (!fusedExp)
    return fail("no x - max after the row max");
  result.ops.insert(max->value.getDefiningOp());
  result.ops.insert(sub);
  Value e = sub->getResult(0);
  if (!*fusedExp) {
    Operation *exp = soleUser(e);
    cursor = exp;
    if (!exp || !isUnaryGeneric<math::ExpOp>(exp, e))
      return fail("no exp after x - max");
    result.ops.insert(exp);
    e = exp->getResult(0);
  }
  SmallVector<Operation *> eUsers(e.getUsers());
  if (eUsers.size() != 2)
    return fail("exp(x - max) must feed exactly the sum and the division");
  for (auto [a, b] :
       {std::pair(eUsers[0], eUsers[1]), std::pair(eUsers[1], eUsers[0])}) {
    std::optional<RowReduction> sum =
        matchRowReduction<arith::AddFOp>(a, e, *axis, isZero);
    if (!sum || !llvm::is_contained(sum->value.getUsers(), b))
      continue;
    std::optional<bool> div = matchRowwise<arith::DivFOp, arith::DivFOp>(
        b, e, sum->value, sum->outMap);
    if (!div || *div)
      continue;
    Operation *sumOther = nullptr;
    for (Operation *user : sum->value.getUsers()) {
      if (user == b)
        continue;
      cursor = user;
      if (sumOther)
        return fail("row sum used outside the softmax");
      sumOther = user;
    }
    if ((sumOther || maxOther) &&
        failed(matchLse(sumOther, maxOther, sum->value, max->value,
                        sum->outMap, labels)))
      return failure();
    result.ops.insert(a);
    result.ops.insert(b);
    return b->getResult(0);
  }
  return fail("no exp / rowsum(exp) over the key axis");
}

/// An elementwise generic over the rows with inputs {a, b} (either order,
/// identity maps) whose body yields a + b or log(a) + b. Returns whether
/// the log is in the body.
static std::optional<bool> matchRowAdd(Operation *op, Value a, Value b) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!isElementwise(generic) || generic.getNumDpsInputs() != 2 ||
      a == b)
    return std::nullopt;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  if (!maps[0].isIdentity() || !maps[1].isIdentity())
    return std::nullopt;
  unsigned ai = generic.getDpsInputs()[0] == a ? 0 : 1;
  if (generic.getDpsInputs()[ai] != a || generic.getDpsInputs()[1 - ai] != b)
    return std::nullopt;
  Block *body = generic.getBody();
  Value x = body->getArgument(ai), y = body->getArgument(1 - ai);
  bool withLog = false;
  if (auto log = dyn_cast_or_null<math::LogOp>(soleUser(x))) {
    x = log.getResult();
    withLog = true;
  }
  Operation *add = soleUser(x);
  if (!isa_and_nonnull<arith::AddFOp>(add) || !y.hasOneUse() ||
      !llvm::is_contained(add->getOperands(), y) ||
      soleUser(add->getResult(0)) != body->getTerminator())
    return std::nullopt;
  return withLog;
}

LogicalResult AttentionMatcher::matchLse(Operation *sumUser,
                                         Operation *maxUser, Value sum,
                                         Value max, AffineMap rowMap,
                                         const Labels &labels) {
  cursor = sumUser ? sumUser : maxUser;
  if (!sumUser || !maxUser)
    return fail("row max or row sum used outside the softmax, and not as "
                "log(sum) + max");
  Operation *lseOp = maxUser;
  if (sumUser == maxUser) {
    std::optional<bool> withLog = matchRowAdd(sumUser, sum, max);
    if (!withLog || !*withLog)
      return fail("row max and row sum combined other than as "
                  "log(sum) + max");
  } else {
    Value log = sumUser->getResult(0);
    if (!isUnaryGeneric<math::LogOp>(sumUser, sum) || !log.hasOneUse() ||
        *log.getUsers().begin() != maxUser)
      return fail("row sum used outside the softmax, other than by the log "
                  "of an LSE");
    cursor = maxUser;
    std::optional<bool> withLog = matchRowAdd(maxUser, log, max);
    if (!withLog || *withLog)
      return fail("log(row sum) and the row max combined other than as a "
                  "sum");
    result.ops.insert(sumUser);
  }
  cursor = lseOp;
  Value lse = lseOp->getResult(0);
  // attn.attention's LSE is f32: a narrower one would round differently.
  if (!getElementTypeOrSelf(lse.getType()).isF32())
    return fail("the LSE is not computed in f32");
  Labels rowLabels;
  for (AffineExpr expr : rowMap.getResults()) {
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      rowLabels.push_back(labels[dim.getPosition()]);
    else
      rowLabels.push_back({Dim::Unit});
  }
  // The op's LSE is [B, H, Lq]: the graph's must hold the same elements in
  // the same order.
  DimLabel flat = mergeLabels(rowLabels);
  SmallVector<Dim> order = {Dim::B, Dim::H, Dim::Q};
  size_t next = 0;
  for (Dim dim : flat) {
    if (dim == Dim::Unit)
      continue;
    auto *it = llvm::find(ArrayRef(order).drop_front(next), dim);
    if (it == order.end())
      return fail("LSE dimensions are not in [B, H, Lq] order");
    next = it - order.begin() + 1;
  }
  result.lse = lse;
  result.lseLabels = rowLabels;
  result.ops.insert(lseOp);
  return success();
}

} // namespace mlir::attn::raise
