//===- CostReport.cpp - attn-cost-report ----------------------------------===//
//
// Part of attn-mlir. Emits the cost model's figures for every attention as
// remarks at the op, so tests and users read them where the op is; the
// figures themselves come from attn/Analysis.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/CostReport.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "llvm/Support/FormatVariadic.h"

#define DEBUG_TYPE "attn-cost-report"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCOSTREPORT
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {
struct AttnCostReportPass
    : mlir::attn::impl::AttnCostReportBase<AttnCostReportPass> {
  using Base::Base;

  void runOnOperation() override {
    const GpuSpec *target = lookupGpu(gpu);
    if (!target) {
      emitError(getOperation()->getLoc())
          << "expected a GPU name (" << listKnownGpus() << "), got '" << gpu
          << "'";
      return signalPassFailure();
    }
    CostReportOptions options;
    options.schedule.blockM = blockM;
    options.schedule.blockN = blockN;
    options.schedule.packGqa = packGqa;
    options.schedule.numSplits = numSplits;
    options.schedule.skipMaskedBlocks = skipMaskedBlocks;
    WalkResult result = getOperation()->walk([&](AttentionOp op) {
      FailureOr<AttentionFigures> figures = getAttentionFigures(op);
      if (failed(figures))
        return WalkResult::interrupt();
      FailureOr<AttentionReport> report =
          analyzeAttention(*figures, *target, options);
      if (failed(report)) {
        op.emitOpError() << "expected positive block-m, block-n and "
                            "num-splits";
        return WalkResult::interrupt();
      }
      remark(op.getLoc(), *report, *target);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    options.deterministicBackward = deterministic;
    result = getOperation()->walk([&](AttentionBackwardOp op) {
      FailureOr<BackwardFigures> figures = getBackwardFigures(op);
      if (failed(figures))
        return WalkResult::interrupt();
      FailureOr<BackwardReport> report =
          analyzeBackward(*figures, *target, options);
      if (failed(report)) {
        op.emitOpError() << "expected heads that divide for the cost model";
        return WalkResult::interrupt();
      }
      remark(op.getLoc(), *report, *target);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  static void remark(Location loc, const BackwardReport &r,
                     const GpuSpec &gpu) {
    const BackwardCost &c = r.cost;
    emitRemark(loc) << llvm::formatv(
        "attn-cost: backward: {0} of {1} tiles visited ({2} dQ); {3}",
        c.tilesVisited, c.tilesDense,
        r.schedule.deterministic ? "deterministic" : "atomic",
        describeBackwardCost(c));
    const BackwardTensorBytes &t = c.tensors;
    emitRemark(loc) << llvm::formatv(
        "attn-cost: backward: tensors Q {0}, K {1}, V {2}, O {3}, dO {4}, "
        "LSE {5}, dQ {6}, dK {7}, dV {8}; workspaces Delta {9}, lse_log2 "
        "{10}, dq_accum {11}",
        t.query, t.key, t.value, t.output, t.gradOutput, t.lse, t.gradQuery,
        t.gradKey, t.gradValue, t.delta, t.lseLog2, t.dqAccum);
    ElementKind kind = r.figures.attention.elementKind;
    for (const BackwardKernelCost &k : c.kernels)
      emitRemark(loc) << "attn-cost: backward: "
                      << describeBackwardKernel(k, gpu, kind);
    emitRemark(loc) << "attn-cost: backward: "
                    << describeRoofline(r.roofline, c.executedGemmFlops, gpu);
  }

  /// At the location only, as attn-count-kv-tiles: the op dump would bury
  /// the figures.
  static void remark(Location loc, const AttentionReport &r,
                     const GpuSpec &gpu) {
    const AttentionCost &c = r.cost;
    emitRemark(loc) << llvm::formatv(
        "attn-cost: {0} of {1} KV tiles visited ({2} interior); {3}", c.tilesVisited,
        c.tilesDense, c.tilesInterior, describeCost(c));
    const AttentionBytes &b = c.bytes;
    emitRemark(loc) << llvm::formatv(
        "attn-cost: bytes {0} read (Q {1}, K {2}, V {3}, other {4}), {5} "
        "written (O {6}, LSE {7}, other {8})",
        b.read(), b.query, b.key, b.value,
        b.read() - b.query - b.key - b.value, b.written(), b.output, b.lse,
        b.written() - b.output - b.lse);
    emitRemark(loc) << "attn-cost: " << describeRoofline(r.roofline, c, gpu);
    emitRemark(loc) << "attn-cost: tiles: " << r.tiles.reason;
  }
};
} // namespace
