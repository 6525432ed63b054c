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

#include "mlir/Dialect/Tensor/IR/Tensor.h"
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
