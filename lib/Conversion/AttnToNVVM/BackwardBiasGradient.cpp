//===- BackwardBiasGradient.cpp - d_bias on the GPU -----------------------===//
//
// Part of attn-mlir. The bias' gradient of attn.attention_backward (its
// grad_bias result): d_bias = dS summed over the extents the bias
// broadcasts along, dS taken before the softcap factor (the bias joins the
// natural-unit scores after softcap, as in the forward). The main kernel
// holds every (batch, query head, query, key) element of dS exactly once
// (one CTA per KV block of a KV head, its loop over the group's query heads
// and Q blocks), so a full-shape bias' gradient is stored there, rounded to
// the bias' type, in any dQ mode. The main kernel visits only the Q blocks
// that see its KV block (and none past a sequence's key_lengths), so
// _bwd_dbias_zero first clears d_bias: the pairs it skips have dS = 0. A
// broadcast bias' sum runs through f32 atomics into dbias_accum, which
// _bwd_dbias_zero clears instead and _bwd_dbias_convert rounds into d_bias
// after the main kernel (the sum's order varies run to run, so the
// deterministic program refuses it).
//
//===----------------------------------------------------------------------===//

#include "BackwardKernel.h"
#include "BackwardMainEmitter.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

void MainEmitter::emitBiasGradient(ArrayRef<Value> ds, Value m0, Value head,
                                   const ScoreLayout &layout) {
  BackwardScoreArguments args = getBackwardScoreArguments(p);
  bool atomic = backwardGradBiasAtomic(p);
  Value out = atomic ? global(kBwdDBiasAccum)
                     : pointerOf(scoreArg(args.gradBias), ptrGlobal);
  Type elt = biasElementType(b, p);
  int64_t bytes = atomic ? 4 : p.biasBytes;
  forEachScore(layout, m0, [&](int64_t r, Value query, Value key) {
    // Padded queries and keys hold zeros of their own, but their clamped
    // addresses are real elements' (scoreOperandOffset).
    Value inside = arith::AndIOp::create(
        b, cmp(arith::CmpIPredicate::ult, query, cI32(p.seqQ)),
        cmp(arith::CmpIPredicate::ult, key, cI32(p.seqK)));
    ifThen(inside, [&] {
      Value ptr = gep(
          ptrGlobal, out,
          scoreOperandOffset(b, p.biasShape, bytes, {batch, head, query, key}));
      if (atomic) {
        // A reduction: the result is unused (red.global.add.f32).
        LLVM::AtomicRMWOp::create(b, LLVM::AtomicBinOp::fadd, ptr, ds[r],
                                  LLVM::AtomicOrdering::monotonic);
        return;
      }
      Value v = ds[r];
      if (elt != f32)
        v = LLVM::FPTruncOp::create(b, elt, v);
      LLVM::StoreOp::create(b, v, ptr, /*alignment=*/p.biasBytes);
    });
  });
}

namespace {

/// One thread per element of the bias: zero d_bias (full shape) or
/// dbias_accum (broadcast), or round dbias_accum into d_bias.
class BiasGradientEmitter : public BackwardEmitterBase {
public:
  BiasGradientEmitter(gpu::GPUFuncOp func, const KernelProblem &p)
      : BackwardEmitterBase(func, p) {}

  void emit(bool convert) {
    b.setInsertionPointToStart(&func.getBody().front());
    Value element =
        add(mul(blockId(gpu::Dimension::x), kBackwardThreads), threadId());
    ifThen(
        cmp(arith::CmpIPredicate::ult, element, cI32(backwardBiasElements(p))),
        [&] {
          Type elt = biasElementType(b, p);
          BackwardScoreArguments args = getBackwardScoreArguments(p);
          Value gradBias =
              gep(ptrGlobal, pointerOf(scoreArg(args.gradBias), ptrGlobal),
                  mul64(element, p.biasBytes));
          if (!convert && !backwardGradBiasAtomic(p)) {
            Value zero =
                arith::ConstantOp::create(b, elt, b.getFloatAttr(elt, 0.0));
            LLVM::StoreOp::create(b, zero, gradBias,
                                  /*alignment=*/p.biasBytes);
            return;
          }
          Value accum =
              gep(ptrGlobal, global(kBwdDBiasAccum), mul64(element, 4));
          if (!convert) {
            LLVM::StoreOp::create(b, cF32(0.0), accum, /*alignment=*/4);
            return;
          }
          Value v = LLVM::LoadOp::create(b, f32, accum, /*alignment=*/4);
          if (elt != f32)
            v = LLVM::FPTruncOp::create(b, elt, v);
          LLVM::StoreOp::create(b, v, gradBias, /*alignment=*/p.biasBytes);
        });
    gpu::ReturnOp::create(b);
  }
};

} // namespace

void mlir::attn::detail::emitBackwardBiasZero(gpu::GPUFuncOp func,
                                              const KernelProblem &p) {
  BiasGradientEmitter(func, p).emit(/*convert=*/false);
}

void mlir::attn::detail::emitBackwardBiasConvert(gpu::GPUFuncOp func,
                                                 const KernelProblem &p) {
  BiasGradientEmitter(func, p).emit(/*convert=*/true);
}
