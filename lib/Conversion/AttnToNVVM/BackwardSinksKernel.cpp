//===- BackwardSinksKernel.cpp - the sinks' gradient on the GPU -----------===//
//
// Part of attn-mlir. The fourth launch of a backward with attention sinks:
// d_sinks[h] = -sum_{b, i} exp(sinks[h] - lse[b, h, i]) delta[b, h, i]
// (attn.attention_backward; Sinks.h buildSinkGradient on the CPU), from the
// forward's LSE (sink included) and the preprocess's delta. The sink has no
// value row, so its probability's gradient is P_sink (0 - delta) per row.
// One CTA per query head: thread t sums rows t, t + 128, ... in order, the
// warps reduce by a fixed butterfly and thread 0 adds the 4 warp sums in
// order, so d_sinks is the same bits on every run (no atomics).
//
//===----------------------------------------------------------------------===//

#include "BackwardEmitter.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

namespace {

class SinksEmitter : public BackwardEmitterBase {
public:
  SinksEmitter(gpu::GPUFuncOp func, const KernelProblem &p)
      : BackwardEmitterBase(func, p) {}

  void emit() {
    b.setInsertionPointToStart(&func.getBody().front());
    emitLaneCoordinates();
    BackwardScoreArguments args = getBackwardScoreArguments(p);
    Value head = blockId(gpu::Dimension::x);
    Value sinks = pointerOf(scoreArg(args.sinks), ptrGlobal);
    Value sink = LLVM::LoadOp::create(
        b, f32, gep(ptrGlobal, sinks, mul64(head, 4)), /*alignment=*/4);
    Value sinkLog2 = arith::MulFOp::create(b, sink, cF32(kLog2e));
    Value negInf = cF32(-std::numeric_limits<double>::infinity());
    auto loop = scf::ForOp::create(b, tid, cI32(p.batch * p.seqQ),
                                   cI32(kBackwardThreads),
                                   ValueRange{cF32(0.0)});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value r = loop.getInductionVar();
      Value batch = arith::DivUIOp::create(b, r, cI32(p.seqQ));
      Value row = arith::RemUIOp::create(b, r, cI32(p.seqQ));
      Value rowIndex = add64(mul64(add(mul(batch, p.headsQ), head), p.seqQ),
                             toI64(row));
      Value off = arith::MulIOp::create(b, rowIndex, cI64(4));
      Value lse = LLVM::LoadOp::create(
          b, f32, gep(ptrGlobal, global(kBwdLse), off), /*alignment=*/4);
      Value delta = LLVM::LoadOp::create(
          b, f32, gep(ptrGlobal, global(kBwdDelta), off), /*alignment=*/4);
      // exp(sink - lse) <= 1 (the LSE includes the sink); a row with
      // lse = -inf (a -inf sink, no key) has no probability: 0, not NaN.
      Value prob = exp2(fma(lse, cF32(-kLog2e), sinkLog2));
      Value empty =
          arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, lse, negInf);
      Value term =
          sel(empty, cF32(0.0), arith::MulFOp::create(b, prob, delta));
      scf::YieldOp::create(
          b, ValueRange{arith::AddFOp::create(b, loop.getRegionIterArgs()[0],
                                              term)
                            .getResult()});
    }
    Value sum = loop.getResult(0);
    for (int64_t m = 16; m >= 1; m /= 2)
      sum = arith::AddFOp::create(b, sum, shuffleXor(sum, m));
    ifThen(cmp(arith::CmpIPredicate::eq, lane, cI32(0)), [&] {
      LLVM::StoreOp::create(b, sum, tileAt(mul(warp, 4)), /*alignment=*/4);
    });
    gpu::BarrierOp::create(b);
    ifThen(cmp(arith::CmpIPredicate::eq, tid, cI32(0)), [&] {
      Value total = cF32(0.0);
      for (int64_t w = 0; w < kBackwardWarps; ++w)
        total = arith::AddFOp::create(
            b, total,
            LLVM::LoadOp::create(b, f32, tileAt(cI32(4 * w)),
                                 /*alignment=*/4));
      Value out = pointerOf(scoreArg(args.gradSinks), ptrGlobal);
      LLVM::StoreOp::create(b, arith::NegFOp::create(b, total),
                            gep(ptrGlobal, out, mul64(head, 4)),
                            /*alignment=*/4);
    });
    gpu::ReturnOp::create(b);
  }
};

} // namespace

void mlir::attn::detail::emitBackwardSinks(gpu::GPUFuncOp func,
                                           const KernelProblem &p) {
  SinksEmitter(func, p).emit();
}
