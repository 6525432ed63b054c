//===- Raise.cpp - raise linalg attention graphs to attn.attention --------===//
//
// Part of attn-mlir. Recognises softmax(scale * Q.K^T + bias/mask) . V in the
// linalg/tensor/arith/math form that torch and ONNX importers produce and
// replaces it by one attn.attention. This file holds the rewrite and the
// pass; RaiseInternal.h describes the matcher and where its pieces live. A
// chain is raised only if it matches completely; nothing is rewritten before
// that is known.
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Raise.h"
#include "RaiseInternal.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/Debug.h"

#include <cmath>
#include <numeric>

#define DEBUG_TYPE "attn-raise"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNRAISE
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::raise;

//===----------------------------------------------------------------------===//
// Checks before the rewrite
//===----------------------------------------------------------------------===//

static bool isSupportedElementType(Type t) {
  return isa<Float32Type, Float16Type, BFloat16Type>(t);
}

/// The bias as a [B, Hq, Lq, Lk]-broadcastable 4-D type: same data (its
/// dimensions are already in that order), or null when the sizes differ.
static RankedTensorType getBiasType(const AttentionMatch &m) {
  auto type = cast<RankedTensorType>(m.bias.getType());
  DimLabel flat = mergeLabels(m.biasLabels);
  SmallVector<int64_t> shape;
  int64_t extents[] = {m.qShape.b, m.qShape.h, m.qShape.s, m.kShape.s};
  Dim order[] = {Dim::B, Dim::H, Dim::Q, Dim::K};
  for (auto [dim, extent] : llvm::zip(order, extents))
    shape.push_back(llvm::is_contained(flat, dim) ? extent : 1);
  auto target = RankedTensorType::get(shape, type.getElementType());
  if (target.getNumElements() != type.getNumElements())
    return {};
  return target;
}

/// Why `m` cannot be rewritten as it stands, if it cannot: what the options
/// forbid, what attn.attention's verifier requires beyond the shapes, and
/// that every op between the roots and the outputs dies with the chain.
/// Fills `ops` with those ops.
static std::optional<std::string>
whyNotRewritable(const AttentionMatch &m, const AttnRaiseOptions &options,
                 llvm::SetVector<Operation *> &ops) {
  // Scales folded across the product, divisions turned into
  // multiplications, several non-power-of-two factors merged and scores
  // kept in a type narrower than f32 all round differently from the
  // original graph.
  double scale = m.scale * m.q.scale * m.k.scale;
  bool inexact = m.inexact || m.q.inexact || m.k.inexact ||
                 m.nonPowerOfTwoMultiplies > 1;
  if (inexact && !options.allowReassociation)
    return "raising would change the rounding (allow-reassociation=false)";
  Type elementType = getElementTypeOrSelf(m.q.value.getType());
  if (!isSupportedElementType(elementType) ||
      getElementTypeOrSelf(m.k.value.getType()) != elementType ||
      getElementTypeOrSelf(m.v.value.getType()) != elementType)
    return "Q, K and V must share one f16/bf16/f32 element type";
  if (!isSupportedElementType(getElementTypeOrSelf(m.out.value.getType())) ||
      (m.bias && !isSupportedElementType(getElementTypeOrSelf(m.bias.getType()))))
    return "output and bias must be f16, bf16 or f32";
  if (!std::isfinite(scale) || scale <= 0.0)
    return "the scale must be finite and positive";
  for (const Shape4 &shape : {m.qShape, m.kShape, m.vShape, m.outShape})
    if (shape.b <= 0 || shape.h <= 0 || shape.s <= 0 || shape.x <= 0)
      return "empty tensors";
  if (m.bias && !getBiasType(m))
    return "bias size does not match the scores";

  ops = m.ops;
  for (const Point *point : {&m.q, &m.k, &m.v, &m.out})
    ops.insert(point->ops.begin(), point->ops.end());
  Operation *last = m.out.value.getDefiningOp();
  Operation *lseOp = m.lse ? m.lse.getDefiningOp() : nullptr;
  for (Operation *op : ops) {
    if (op->getBlock() != last->getBlock())
      return "chain spans several blocks";
    if (op != last && op != lseOp)
      for (Operation *user : op->getUsers())
        if (!ops.contains(user))
          return "an intermediate is used outside the chain";
  }
  // The raised op replaces the LSE where the output was computed.
  if (lseOp)
    for (Operation *user : lseOp->getUsers())
      if (user->getBlock() != last->getBlock() || user->isBeforeInBlock(last))
        return "the LSE is used before the output is computed";
  return std::nullopt;
}

/// Runs the matcher on `qk` and the checks above; on failure, `at` and
/// `why` say where and why the candidate stopped.
static bool matchCandidate(linalg::LinalgOp qk, const AttnRaiseOptions &options,
                           AttentionMatcher &matcher,
                           llvm::SetVector<Operation *> &ops,
                           AttentionMatcher::Rejection &why) {
  if (failed(matcher.match())) {
    why = matcher.rejection;
    return false;
  }
  if (std::optional<std::string> reason =
          whyNotRewritable(matcher.result, options, ops)) {
    why = {qk, *reason};
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// The pattern
//===----------------------------------------------------------------------===//

/// `point` as the 4-D operand `shape` describes: merged batch-heads
/// expanded, a [.., D, L] operand transposed back.
static Value materializeOperand(PatternRewriter &rewriter, Location loc,
                                const Point &point, const Shape4 &shape) {
  Value v = point.value;
  auto type = cast<RankedTensorType>(v.getType());
  Type elementType = type.getElementType();
  if (shape.merged) {
    SmallVector<int64_t> dims = {shape.b, shape.h, type.getDimSize(1),
                                 type.getDimSize(2)};
    v = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get(dims, elementType), v,
        SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
  }
  if (shape.swapped) {
    ArrayRef<int64_t> in = cast<RankedTensorType>(v.getType()).getShape();
    SmallVector<int64_t> dims = {in[0], in[1], in[3], in[2]};
    Value init = tensor::EmptyOp::create(rewriter, loc, dims, elementType);
    v = linalg::TransposeOp::create(rewriter, loc, v, init,
                                    ArrayRef<int64_t>{0, 1, 3, 2})
            ->getResult(0);
  }
  return v;
}

/// `value` reshaped to `type` with the same elements in the same order.
static Value reshapeTo(PatternRewriter &rewriter, Location loc, Value value,
                       RankedTensorType type) {
  auto from = cast<RankedTensorType>(value.getType());
  if (from == type)
    return value;
  if (from.getRank() != 1) {
    ReassociationIndices all(from.getRank());
    std::iota(all.begin(), all.end(), 0);
    value = tensor::CollapseShapeOp::create(
        rewriter, loc, value, SmallVector<ReassociationIndices>{all});
  }
  if (type.getRank() == 1)
    return value;
  ReassociationIndices all(type.getRank());
  std::iota(all.begin(), all.end(), 0);
  return tensor::ExpandShapeOp::create(rewriter, loc, type, value,
                                       SmallVector<ReassociationIndices>{all});
}

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
    llvm::SetVector<Operation *> ops;
    AttentionMatcher::Rejection why;
    if (!matchCandidate(qk, options, matcher, ops, why))
      return rewriter.notifyMatchFailure(qk, why.why);
    rewrite(matcher.result, ops, rewriter);
    if (numRaised)
      ++*numRaised;
    return success();
  }

  void rewrite(const AttentionMatch &m, const llvm::SetVector<Operation *> &ops,
               PatternRewriter &rewriter) const {
    MLIRContext *ctx = rewriter.getContext();
    Operation *last = m.out.value.getDefiningOp();
    Location loc = last->getLoc();
    rewriter.setInsertionPoint(last);
    Value bias = m.bias ? reshapeTo(rewriter, loc, m.bias, getBiasType(m))
                        : Value();
    Value q = materializeOperand(rewriter, loc, m.q, m.qShape);
    Value k = materializeOperand(rewriter, loc, m.k, m.kShape);
    Value v = materializeOperand(rewriter, loc, m.v, m.vShape);
    auto outType = cast<RankedTensorType>(m.out.value.getType());
    if (m.outShape.merged)
      outType = RankedTensorType::get(
          {m.outShape.b, m.outShape.h, m.outShape.s, m.outShape.x},
          outType.getElementType());
    Type lseType;
    if (m.lse)
      lseType = RankedTensorType::get({m.qShape.b, m.qShape.h, m.qShape.s},
                                      rewriter.getF32Type());
    double scale = m.scale * m.q.scale * m.k.scale;
    auto op = AttentionOp::create(
        rewriter, loc, outType, lseType, q, k, v, bias, /*mask=*/Value(),
        /*key_lengths=*/Value(), rewriter.getF64FloatAttr(scale),
        MaskKindAttr::get(ctx, m.maskKind),
        m.window.empty() ? DenseI64ArrayAttr()
                         : rewriter.getDenseI64ArrayAttr(m.window),
        /*softcap=*/FloatAttr(), /*alibi_slopes=*/DenseF64ArrayAttr(),
        LayoutAttr::get(ctx, m.qShape.layout));
    Value out = op.getOutput();
    if (m.outShape.merged)
      out = tensor::CollapseShapeOp::create(
          rewriter, loc, m.out.value.getType(), out,
          SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
    rewriter.replaceAllUsesWith(m.out.value, out);
    if (m.lse)
      rewriter.replaceAllUsesWith(
          m.lse, reshapeTo(rewriter, loc, op.getLse(),
                           cast<RankedTensorType>(m.lse.getType())));
    SmallVector<Operation *> sorted(ops.begin(), ops.end());
    llvm::sort(sorted, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    for (Operation *dead : llvm::reverse(sorted))
      rewriter.eraseOp(dead);
  }

  AttnRaiseOptions options;
  int64_t *numRaised;
};

struct AttnRaisePass : mlir::attn::impl::AttnRaiseBase<AttnRaisePass> {
  using Base::Base;

  void runOnOperation() override {
    AttnRaiseOptions options;
    options.allowReassociation = allowReassociation;
    options.reportRejections = reportRejections;
    FailureOr<int64_t> raised = raiseAttention(getOperation(), options);
    if (failed(raised))
      return signalPassFailure();
    numRaised += *raised;
  }
};
} // namespace

//===----------------------------------------------------------------------===//
// Rejection remarks
//===----------------------------------------------------------------------===//

/// Whether the result of `op` reaches a softmax (linalg.softmax or a row
/// max) before another contraction: the candidates a user means as
/// attention, as opposed to P.V or unrelated matmuls.
static bool feedsSoftmax(Operation *op) {
  SmallVector<Operation *> work = {op};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!work.empty() && seen.size() < 64) {
    Operation *next = work.pop_back_val();
    if (!seen.insert(next).second)
      continue;
    for (Operation *user : next->getUsers()) {
      if (isa<linalg::SoftmaxOp>(user))
        return true;
      auto linalgOp = dyn_cast<linalg::LinalgOp>(user);
      if (linalgOp && linalgOp.getNumReductionLoops() > 0) {
        bool isMax = false;
        user->walk([&](Operation *inner) {
          isMax |= isa<arith::MaximumFOp, arith::MaxNumFOp>(inner);
        });
        if (isMax)
          return true;
        if (linalg::isaContractionOpInterface(linalgOp))
          continue;
      }
      work.push_back(user);
    }
  }
  return false;
}

void mlir::attn::reportRaiseRejections(Operation *root,
                                       const AttnRaiseOptions &options) {
  SmallVector<linalg::LinalgOp> candidates;
  root->walk([&](linalg::LinalgOp op) {
    if (linalg::isaContractionOpInterface(op) && feedsSoftmax(op))
      candidates.push_back(op);
  });
  for (linalg::LinalgOp qk : candidates) {
    AttentionMatcher matcher(qk);
    llvm::SetVector<Operation *> ops;
    AttentionMatcher::Rejection why;
    if (matchCandidate(qk, options, matcher, ops, why))
      continue;
    Operation *at = why.op ? why.op : qk.getOperation();
    // At the location only: the op dump would bury the one-line reason.
    mlir::emitRemark(at->getLoc())
        << "attn-raise: attention not raised: "
        << (why.why.empty() ? "not an attention chain" : why.why);
  }
}

void mlir::attn::populateAttnRaisePatterns(RewritePatternSet &patterns,
                                           const AttnRaiseOptions &options,
                                           int64_t *numRaised) {
  patterns.add<RaiseAttentionPattern>(patterns.getContext(), options,
                                      numRaised);
}

FailureOr<int64_t> mlir::attn::raiseAttention(Operation *root,
                                              const AttnRaiseOptions &options) {
  MLIRContext *ctx = root->getContext();
  ctx->loadDialect<AttnDialect, linalg::LinalgDialect,
                   tensor::TensorDialect>();
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
  if (options.reportRejections)
    reportRaiseRejections(root, options);
  return numRaised;
}
