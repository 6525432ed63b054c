//===- CostReport.h - the cost model's report for a module -------*- C++ -*-===//
//
// Part of attn-mlir. Collects the cost figures, roofline bound and chosen
// tile configuration of every attn.attention in a module (plus, optionally,
// a whole transformer's figures) and prints them as text lines or JSON:
// what attn-compile reports and attn-cost-report remarks.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_COSTREPORT_H
#define ATTN_ANALYSIS_COSTREPORT_H

#include "attn/Analysis/BackwardCost.h"
#include "attn/Analysis/CostModel.h"
#include "attn/Analysis/ModelCost.h"
#include "attn/Analysis/TileConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <optional>
#include <vector>

namespace mlir::attn {

struct CostReportOptions {
  /// A name lookupGpu accepts.
  std::string gpu = "h100-sxm";
  /// The schedule in effect (attn-tile's or the GPU kernel's options).
  ScheduleConfig schedule;
  /// The schedule is a GPU kernel's: decode-shaped ops (Hq / Hkv * Lq <=
  /// 16) run the decode kernel with the chosen split count unless
  /// `schedule.numSplits` was given (> 1), and the prefill kernel's CTAs
  /// are per query head (no GQA packing).
  bool gpuKernel = false;
  bool splitsGiven = false;
  /// A whole model to report, for `modelBatch` sequences of
  /// `modelContext` tokens with a cache of `kvElementBytes` per element.
  std::optional<TransformerConfig> model;
  int64_t modelBatch = 1, modelContext = 1024, kvElementBytes = 2;
  /// The GPU kernels' planner (planGpuKernel in AttnToNVVM.h, over a module
  /// in the GPU path's form). Set, it decides each op's family and tiles,
  /// and the report shows what the kernel is planned with (the figures of
  /// its manifest) instead of choosing on its own.
  std::function<FailureOr<GpuTilePlan>(AttentionOp)> planGpuKernel;
  /// Backward ops: the deterministic program (a dQ kernel recomputing S
  /// and dP instead of atomics on a dQ accumulator).
  bool deterministicBackward = false;
  /// The GPU backward's planner (planBackwardSchedule in AttnToNVVM.h).
  /// Set, each backward is reported on the tiles and program its kernels
  /// are lowered with; unset, on the fixed 64 x 64 tiles.
  std::function<FailureOr<BackwardSchedule>(AttentionBackwardOp)> planBackward;
};

/// One attention op's figures.
struct AttentionReport {
  std::string location;
  AttentionFigures figures;
  ScheduleConfig schedule;
  AttentionCost cost;
  RooflineBound roofline;
  /// The model's choice (advisory without a plan, for the CPU target).
  TileConfigChoice tiles;
  /// What the GPU kernel was planned with (CostReportOptions::planGpuKernel).
  std::optional<GpuTilePlan> plan;
};

/// One attn.attention_backward's figures, on the GPU backward kernels'
/// schedule.
struct BackwardReport {
  std::string location;
  BackwardFigures figures;
  BackwardSchedule schedule;
  BackwardCost cost;
  RooflineBound roofline;
};

struct CostReport {
  const GpuSpec *gpu = nullptr;
  std::vector<AttentionReport> attention;
  std::vector<BackwardReport> backward;
  std::optional<TransformerConfig> model;
  std::optional<TransformerCost> modelCost;
  int64_t modelBatch = 0, modelContext = 0, kvElementBytes = 2;
};

/// The schedule of a GPU kernel with the tiles attn-plan-gpu-kernels
/// recorded (#attn.tile_sizes): the decode kernel's m16 tile holds a
/// group's G x Lq rows (blockM = max(Lq, ceil(16 / G)) rows of each of the
/// G packed heads) and keeps split counters; the other families' programs
/// are the recorded tiles.
ScheduleConfig getGpuKernelSchedule(const AttentionFigures &figures,
                                    bool decodeKernel, int64_t blockM,
                                    int64_t blockN, bool packGqa,
                                    int64_t numSplits);

/// The report of one op under `options` (the tile choice, and with
/// `gpuKernel` the split count, come from chooseTileConfig); with `plan`,
/// the schedule is the planned kernel's (getGpuKernelSchedule of its
/// recorded tiles) and the tiles are the plan's.
FailureOr<AttentionReport>
analyzeAttention(const AttentionFigures &figures, const GpuSpec &gpu,
                 const CostReportOptions &options,
                 const GpuTilePlan *plan = nullptr);

/// The report of one backward under `options` (its deterministic flag),
/// on the `planned` schedule where given (the kernels' tiles), else on
/// 64 x 64 tiles.
FailureOr<BackwardReport>
analyzeBackward(const BackwardFigures &figures, const GpuSpec &gpu,
                const CostReportOptions &options,
                const BackwardSchedule *planned = nullptr);

/// The report of every attn.attention and attn.attention_backward in
/// `module`; errors (unknown GPU,
/// dynamic shapes, bad model) are emitted as diagnostics.
FailureOr<CostReport> buildCostReport(ModuleOp module,
                                      const CostReportOptions &options);

/// Text lines, each starting with "cost:", "roofline:", "tiles:",
/// "backward:" or "model:".
void printCostReport(const CostReport &report, llvm::raw_ostream &os);

/// The same figures as JSON (docs/CostModel.md lists the keys).
llvm::json::Value costReportToJson(const CostReport &report);

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_COSTREPORT_H
