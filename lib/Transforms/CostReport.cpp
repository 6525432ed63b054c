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
      signalPassFailure();
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
