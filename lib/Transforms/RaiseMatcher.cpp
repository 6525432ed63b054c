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

} // namespace mlir::attn::raise
