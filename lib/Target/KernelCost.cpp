//===- KernelCost.cpp - the cost model's figures for the manifest ---------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/KernelCost.h"

#include "attn/Analysis/CostReport.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::attn;
namespace rt = ::attn::runtime;

rt::KernelCost mlir::attn::toManifestCost(const AttentionCost &c,
                                          const RooflineBound &r,
                                          const GpuSpec &gpu) {
  rt::KernelCost k;
  k.gpu = gpu.name.str();
  // The counts are whole numbers held in doubles (they exceed 2^31).
  k.gemmFlops = static_cast<int64_t>(c.executedGemmFlops);
  k.visibleGemmFlops = static_cast<int64_t>(c.visibleGemmFlops);
  k.denseGemmFlops = static_cast<int64_t>(c.denseGemmFlops);
  k.exponentials = static_cast<int64_t>(c.exponentials);
  k.softmaxFlops = static_cast<int64_t>(c.softmaxFlops);
  k.bytesRead = c.bytes.read();
  k.bytesWritten = c.bytes.written();
  k.arithmeticIntensity = c.arithmeticIntensity();
  k.boundUs = r.boundSeconds() * 1e6;
  k.computeUs = r.computeSeconds * 1e6;
  k.memoryUs = r.memorySeconds * 1e6;
  k.expUs = r.exponentialSeconds * 1e6;
  k.limiter = r.limiter().str();
  return k;
}

/// The cost of `op` as planned, or nothing where the model has no figures.
static std::optional<PlannedKernelCost> planCost(AttentionOp op,
                                                 const GpuSpec &gpu) {
  auto info = op->getAttrOfType<KernelInfoAttr>(KernelInfoAttr::getAttributeName());
  auto tiles = op->getAttrOfType<TileSizesAttr>(TileSizesAttr::getAttributeName());
  if (!info || !tiles)
    return std::nullopt;
  // The GPU path accepts only what the model sizes; a refusal here is not
  // the compile's error.
  FailureOr<AttentionFigures> figures = [&] {
    ScopedDiagnosticHandler quiet(op.getContext(),
                                  [](Diagnostic &) { return success(); });
    return getAttentionFigures(op);
  }();
  if (failed(figures))
    return std::nullopt;
  ScheduleConfig schedule = getGpuKernelSchedule(
      *figures, info.getFamily() == "decode", tiles.getBlockM(),
      tiles.getBlockN(), tiles.getPackGqa(), tiles.getNumSplits());
  FailureOr<AttentionCost> cost = computeAttentionCost(*figures, schedule);
  if (failed(cost))
    return std::nullopt;
  PlannedKernelCost p;
  p.family = info.getFamily().str();
  p.mask = stringifyMaskKind(info.getMask()).str();
  p.shape = {info.getBatch(), info.getHeadsQ(), info.getHeadsKv(),
             info.getSeqQ(),  info.getSeqK(),   info.getHeadDim(),
             info.getValueHeadDim()};
  p.tuning.blockM = info.getBlockM();
  p.tuning.blockN = info.getBlockN();
  p.tuning.numSplits = info.getNumSplits();
  p.cost = toManifestCost(
      *cost, computeRoofline(*cost, gpu, figures->elementKind), gpu);
  return p;
}

std::vector<PlannedKernelCost>
mlir::attn::collectPlannedKernelCosts(ModuleOp module, const GpuSpec &gpu) {
  std::vector<PlannedKernelCost> costs;
  module.walk([&](AttentionOp op) {
    if (std::optional<PlannedKernelCost> c = planCost(op, gpu))
      costs.push_back(std::move(*c));
  });
  return costs;
}

static bool describes(const rt::Manifest &m, const PlannedKernelCost &p) {
  if (!m.attention || m.family != p.family)
    return false;
  const rt::AttentionInfo &a = *m.attention;
  std::array<int64_t, 7> shape = {a.batch, a.headsQ,  a.headsKV,
                                  a.seqQ,  a.seqK,    a.headDim,
                                  a.valueHeadDim};
  return shape == p.shape && a.mask == p.mask &&
         m.tuning.blockM == p.tuning.blockM &&
         m.tuning.blockN == p.tuning.blockN &&
         m.tuning.numSplits == p.tuning.numSplits;
}

void mlir::attn::attachKernelCosts(std::vector<PlannedKernelCost> planned,
                                   std::vector<rt::Manifest> &manifests) {
  std::vector<bool> used(planned.size(), false);
  for (rt::Manifest &m : manifests)
    for (size_t i = 0; i < planned.size(); ++i)
      if (!used[i] && describes(m, planned[i])) {
        m.cost = planned[i].cost;
        used[i] = true;
        break;
      }
}

/// The manifest's cost block of one backward kernel.
static rt::KernelCost backwardManifestCost(const BackwardKernelCost &k,
                                           const GpuSpec &gpu, ElementKind kind) {
  RooflineBound r = computeBackwardRoofline(k, gpu, kind);
  rt::KernelCost c;
  c.gpu = gpu.name.str();
  c.gemmFlops = static_cast<int64_t>(k.executedGemmFlops);
  c.visibleGemmFlops = static_cast<int64_t>(k.visibleGemmFlops);
  c.denseGemmFlops = static_cast<int64_t>(k.denseGemmFlops);
  c.exponentials = static_cast<int64_t>(k.exponentials);
  // The backward's elementwise work in the softmax figure's place.
  c.softmaxFlops = static_cast<int64_t>(k.elementwiseFlops);
  c.bytesRead = k.bytesRead;
  c.bytesWritten = k.bytesWritten;
  c.arithmeticIntensity = k.arithmeticIntensity();
  c.boundUs = r.boundSeconds() * 1e6;
  c.computeUs = r.computeSeconds * 1e6;
  c.memoryUs = r.memorySeconds * 1e6;
  c.expUs = r.exponentialSeconds * 1e6;
  c.limiter = r.limiter().str();
  return c;
}

std::vector<PlannedBackwardKernelCost> mlir::attn::collectBackwardKernelCosts(
    ModuleOp module, const GpuSpec &gpu,
    const std::function<FailureOr<BackwardSchedule>(AttentionBackwardOp)>
        &plan) {
  std::vector<PlannedBackwardKernelCost> costs;
  module.walk([&](AttentionBackwardOp op) {
    // Quiet: the lowering reports what it refuses.
    ScopedDiagnosticHandler quiet(op.getContext(),
                                  [](Diagnostic &) { return success(); });
    FailureOr<BackwardFigures> figures = getBackwardFigures(op);
    if (failed(figures))
      return;
    FailureOr<BackwardSchedule> schedule = plan(op);
    if (failed(schedule))
      return;
    FailureOr<BackwardCost> cost = computeBackwardCost(*figures, *schedule);
    if (failed(cost))
      return;
    // convert-attn-backward-to-nvvm's names: the function's, plus a suffix.
    auto parent = op->getParentOfType<FunctionOpInterface>();
    std::string base =
        parent ? parent.getName().str() : std::string("attention");
    for (const BackwardKernelCost &k : cost->kernels)
      costs.push_back({base + k.symbolSuffix,
                       backwardManifestCost(k, gpu,
                                            figures->attention.elementKind)});
  });
  return costs;
}

void mlir::attn::attachBackwardKernelCosts(
    std::vector<PlannedBackwardKernelCost> planned,
    std::vector<rt::Manifest> &manifests) {
  std::vector<bool> used(planned.size(), false);
  for (rt::Manifest &m : manifests) {
    if (m.family != "backward" && m.family != "hopper-backward")
      continue;
    for (size_t i = 0; i < planned.size(); ++i)
      if (!used[i] && planned[i].symbol == m.symbol) {
        m.cost = planned[i].cost;
        used[i] = true;
        break;
      }
  }
}
