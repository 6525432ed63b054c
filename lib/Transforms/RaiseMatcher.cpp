//===- RaiseMatcher.cpp - the attention chain for attn-raise --------------===//
//
// Part of attn-mlir. From the Q.K^T contraction through the scores and
// the softmax to P.V, and the Q/K/V/output operands around them.
//
//===----------------------------------------------------------------------===//

#include "RaiseInternal.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

#define DEBUG_TYPE "attn-raise"

using namespace mlir;
using namespace mlir::attn;

namespace mlir::attn::raise {

/// Contraction dims of a linalg op computing sum_k A * B into a zero init,
/// one dimension each of m, n and k.
FailureOr<linalg::ContractionDimensions>
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

Labels labelsThrough(AffineMap map, const Labels &iter) {
  Labels labels;
  for (unsigned r = 0; r < map.getNumResults(); ++r)
    labels.push_back(iter[map.getDimPosition(r)]);
  return labels;
}

LogicalResult AttentionMatcher::match() {
  cursor = qk;
  FailureOr<linalg::ContractionDimensions> dims = getContraction(qk);
  if (failed(dims))
    return fail("Q.K^T is not a contraction of static tensors (one m, n "
                "and k dimension) into zeros");
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
    return fail("Q.K^T has loops that are neither batch, m, n nor k");
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


LogicalResult AttentionMatcher::fail(const Twine &why) {
  rejection = {cursor, why.str()};
  return reject(why);
}

/// An elementwise generic converting its one input to another float type
/// with `CastOp`, and nothing else.
template <typename CastOp>
static FloatType matchCast(Operation *op, Value input) {
  if (!isUnaryGeneric<CastOp>(op, input))
    return {};
  return dyn_cast<FloatType>(getElementTypeOrSelf(op->getResult(0).getType()));
}

LogicalResult AttentionMatcher::matchScoreChain(Value v, Labels labels) {
  bool softmaxDone = false;
  // The element type of the scores before an upcast to f32 for the
  // softmax (bf16 models), which the probabilities must be cast back to.
  Type castFrom;
  bool castBack = false;
  auto finishSoftmax = [&]() {
    softmaxDone = true;
    return finishMask();
  };
  while (true) {
    auto type = cast<RankedTensorType>(v.getType());
    if (!type.hasStaticShape())
      return fail("dynamic score shape");
    // attn.attention keeps scores and probabilities in f32.
    if (!type.getElementType().isF32())
      result.inexact = true;
    if (!softmaxDone && !v.hasOneUse()) {
      FailureOr<Value> probs = matchDecomposedSoftmax(v, labels);
      if (failed(probs))
        return failure();
      v = *probs;
      if (failed(finishSoftmax()))
        return failure();
      continue;
    }
    if (!v.hasOneUse())
      return fail("probabilities used outside P.V");
    Operation *user = *v.getUsers().begin();
    cursor = user;
    if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user)) {
      FailureOr<Labels> next = reshapeLabels(user, labels, /*forward=*/true,
                                             /*repMinor=*/false);
      if (failed(next))
        return fail("reshape of the scores splits an unknown dimension");
      labels = *next;
      result.ops.insert(user);
      v = user->getResult(0);
      continue;
    }
    if (auto softmax = dyn_cast<linalg::SoftmaxOp>(user)) {
      if (softmaxDone || softmax.getInput() != v)
        return fail("second softmax");
      if (!isLabel(labels[softmax.getDimension()], Dim::K))
        return fail("softmax is not over the key axis");
      result.ops.insert(user);
      v = softmax->getResult(0);
      if (failed(finishSoftmax()))
        return failure();
      continue;
    }
    if (FloatType to = matchCast<arith::ExtFOp>(user, v)) {
      // The raised op computes the softmax in f32: an upcast to anything
      // else would round differently.
      if (softmaxDone || castFrom || !to.isF32())
        return fail("scores upcast to a type other than f32 for the "
                    "softmax, or upcast twice");
      castFrom = type.getElementType();
      result.ops.insert(user);
      v = user->getResult(0);
      continue;
    }
    if (FloatType to = matchCast<arith::TruncFOp>(user, v)) {
      if (!softmaxDone || !castFrom || castBack || to != castFrom)
        return fail("probabilities cast to a type other than the one the "
                    "scores were upcast from");
      castBack = true;
      result.ops.insert(user);
      v = user->getResult(0);
      continue;
    }
    auto generic = dyn_cast<linalg::GenericOp>(user);
    if (!softmaxDone && isElementwise(generic)) {
      unsigned mainArg = 0;
      while (mainArg < generic.getNumDpsInputs() &&
             generic.getDpsInputs()[mainArg] != v)
        ++mainArg;
      if (mainArg == generic.getNumDpsInputs())
        return fail("scores flow into an init operand");
      if (failed(matchElementwise(generic, mainArg, labels)))
        return failure();
      result.ops.insert(user);
      v = user->getResult(0);
      continue;
    }
    if (!softmaxDone)
      return fail("no softmax between Q.K^T and the next contraction");
    if (castFrom && !castBack)
      return fail("scores upcast for the softmax are not cast back before "
                  "P.V");
    auto pv = dyn_cast<linalg::LinalgOp>(user);
    return matchValueProduct(pv, v, labels);
  }
}

LogicalResult AttentionMatcher::matchValueProduct(linalg::LinalgOp pv,
                                                  Value probs,
                                                  const Labels &labels) {
  cursor = pv;
  FailureOr<linalg::ContractionDimensions> dims = getContraction(pv);
  if (failed(dims))
    return fail("probabilities do not feed a contraction with V");
  unsigned probsIndex = pv.getDpsInputs()[0] == probs ? 0 : 1;
  if (pv.getDpsInputs()[probsIndex] != probs ||
      pv.getDpsInputs()[1 - probsIndex] == probs)
    return fail("probabilities are not an input of P.V");
  SmallVector<AffineMap> maps = pv.getIndexingMapsArray();
  Labels iter(pv.getNumLoops());
  for (unsigned r = 0; r < maps[probsIndex].getNumResults(); ++r)
    iter[maps[probsIndex].getDimPosition(r)] = labels[r];
  if (!isLabel(iter[dims->k.front()], Dim::K))
    return fail("P.V does not reduce over the key axis");
  unsigned free = probsIndex == 0 ? dims->n.front() : dims->m.front();
  unsigned rowDim = probsIndex == 0 ? dims->m.front() : dims->n.front();
  if (!isLabel(iter[rowDim], Dim::Q))
    return fail("P.V rows are not query rows");
  iter[free] = {Dim::V};
  // ... and accumulates P.V in f32.
  if (!getElementTypeOrSelf(pv->getResult(0).getType()).isF32())
    result.inexact = true;
  if (llvm::any_of(iter, [](const DimLabel &l) { return l.empty(); }))
    return fail("P.V has loops that P does not index");
  result.ops.insert(pv);

  Point vStart{pv.getDpsInputs()[1 - probsIndex],
               labelsThrough(maps[1 - probsIndex], iter),
               {}};
  Point outStart{pv->getResult(0), labelsThrough(maps[2], iter), {}};
  SmallVector<Point> vPoints = walkBack(vStart, /*allowScale=*/false);
  SmallVector<Point> outPoints = walkForward(outStart);
  return chooseOperands(qPoints, kPoints, vPoints, outPoints);
}

namespace {
/// A chosen point and how it reads as a 4-D operand.
struct Choice {
  const Point *point = nullptr;
  Shape4 shape;
};
} // namespace

/// Whether Q/K/V/output shapes form one attention.
static bool formsAttention(const Shape4 &q, const Shape4 &k, const Shape4 &v,
                           const Shape4 &o) {
  return q.b == k.b && q.b == v.b && q.b == o.b && q.h == o.h && q.s == o.s &&
         k.s == v.s && q.x == k.x && v.x == o.x && k.h == v.h &&
         q.h % k.h == 0;
}

/// Picks one 4-D point on each chain so that all four agree on layout and
/// sizes, absorbing as many view ops as possible.
LogicalResult AttentionMatcher::choose4D(ArrayRef<Point> qs,
                                         ArrayRef<Point> ks,
                                         ArrayRef<Point> vs,
                                         ArrayRef<Point> outs) {
  for (Layout layout : {Layout::BSHD, Layout::BHSD}) {
    auto farthest = [&](ArrayRef<Point> points, Dim seq, Dim last,
                        Choice &choice) {
      for (const Point &p : llvm::reverse(points))
        if (std::optional<Shape4> s = classify(p, seq, last);
            s && s->layout == layout && !s->merged) {
          choice = {&p, *s};
          return true;
        }
      return false;
    };
    Choice q, out;
    if (!farthest(qs, Dim::Q, Dim::D, q) ||
        !farthest(outs, Dim::Q, Dim::V, out))
      continue;
    // K and V must agree on the number of kv heads: both repeats absorbed
    // or neither. Either may be given transposed ([.., D, L]).
    for (const Point &k : llvm::reverse(ks)) {
      std::optional<Shape4> ks4 = classify(k, Dim::K, Dim::D, true);
      if (!ks4 || ks4->layout != layout || ks4->merged)
        continue;
      for (const Point &v : llvm::reverse(vs)) {
        std::optional<Shape4> vs4 = classify(v, Dim::K, Dim::V, true);
        if (!vs4 || vs4->layout != layout || vs4->merged || vs4->h != ks4->h)
          continue;
        if (!formsAttention(q.shape, *ks4, *vs4, out.shape))
          return fail("Q/K/V/output shapes do not form attention");
        result.q = *q.point;
        result.k = k;
        result.v = v;
        result.out = *out.point;
        result.qShape = q.shape;
        result.kShape = *ks4;
        result.vShape = *vs4;
        result.outShape = out.shape;
        return success();
      }
    }
  }
  return failure();
}

/// The point of `points` farthest from the core that is a 4-D BHSD operand
/// of `b` x `h` heads, or else a merged [b * h, L, X] one.
static std::optional<Choice> pickMerged(ArrayRef<Point> points, Dim seq,
                                        Dim last, bool allowSwap, int64_t b,
                                        int64_t h) {
  for (const Point &p : llvm::reverse(points))
    if (std::optional<Shape4> s = classify(p, seq, last, allowSwap);
        s && !s->merged && s->layout == Layout::BHSD && s->b == b &&
        s->h == h)
      return Choice{&p, *s};
  for (const Point &p : llvm::reverse(points))
    if (std::optional<Shape4> s = classify(p, seq, last, allowSwap);
        s && s->merged && s->b == b * h) {
      s->b = b;
      s->h = h;
      return Choice{&p, *s};
    }
  return std::nullopt;
}

/// Merged batch-heads [B*H, L, X] with no 4-D form on every chain: the head
/// count comes from a 4-D point on any chain (the reshape around them),
/// else the B*H rows are the batch with one head each. Both compute the
/// same numbers; the rewrite expands the merged operands.
LogicalResult AttentionMatcher::chooseMerged(ArrayRef<Point> qs,
                                             ArrayRef<Point> ks,
                                             ArrayRef<Point> vs,
                                             ArrayRef<Point> outs) {
  std::optional<int64_t> rows;
  for (const Point &p : qs)
    if (std::optional<Shape4> s = classify(p, Dim::Q, Dim::D); s && s->merged)
      rows = s->b;
  if (!rows)
    return failure();
  int64_t heads = 1;
  struct Chain {
    ArrayRef<Point> points;
    Dim seq, last;
  };
  for (const Chain &chain : {Chain{qs, Dim::Q, Dim::D}, Chain{outs, Dim::Q, Dim::V},
                             Chain{ks, Dim::K, Dim::D}, Chain{vs, Dim::K, Dim::V}})
    for (const Point &p : chain.points)
      if (std::optional<Shape4> s = classify(p, chain.seq, chain.last);
          s && !s->merged && s->layout == Layout::BHSD &&
          s->b * s->h == *rows && heads == 1)
        heads = s->h;
  int64_t b = *rows / heads;
  std::optional<Choice> q = pickMerged(qs, Dim::Q, Dim::D, false, b, heads);
  std::optional<Choice> k = pickMerged(ks, Dim::K, Dim::D, true, b, heads);
  std::optional<Choice> v = pickMerged(vs, Dim::K, Dim::V, true, b, heads);
  std::optional<Choice> out = pickMerged(outs, Dim::Q, Dim::V, false, b, heads);
  if (!q || !k || !v || !out)
    return failure();
  if (!formsAttention(q->shape, k->shape, v->shape, out->shape))
    return fail("Q/K/V/output shapes do not form attention");
  result.q = *q->point;
  result.k = *k->point;
  result.v = *v->point;
  result.out = *out->point;
  result.qShape = q->shape;
  result.kShape = k->shape;
  result.vShape = v->shape;
  result.outShape = out->shape;
  return success();
}

LogicalResult AttentionMatcher::chooseOperands(ArrayRef<Point> qs,
                                               ArrayRef<Point> ks,
                                               ArrayRef<Point> vs,
                                               ArrayRef<Point> outs) {
  if (succeeded(choose4D(qs, ks, vs, outs)) ||
      succeeded(chooseMerged(qs, ks, vs, outs)))
    return success();
  if (!rejection.why.empty())
    return failure();
  return fail("Q, K, V and the output reach neither 4-D tensors of one "
              "layout nor [B*H, L, D] ones");
}

} // namespace mlir::attn::raise
