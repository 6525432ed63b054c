//===- KernelCost.h - the cost model's figures for the manifest -*- C++ -*-===//
//
// Part of attn-mlir. After attn-plan-gpu-kernels every attn.attention
// carries its family and tiles; the cost model (lib/Analysis) turns that
// into FLOPs, bytes and a roofline bound, which compileToPtx writes into the
// manifest of the launch lowered from it (Manifest::cost).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_KERNELCOST_H
#define ATTN_TARGET_KERNELCOST_H

#include "attn/Analysis/BackwardCost.h"
#include "attn/Analysis/CostModel.h"
#include "attn/Runtime/Manifest.h"

#include "mlir/IR/BuiltinOps.h"

#include <array>
#include <functional>
#include <string>
#include <vector>

namespace mlir::attn {

/// The cost of one planned attention, with what identifies its launch.
struct PlannedKernelCost {
  /// The kernel info's family, mask, (B, Hq, Hkv, Lq, Lk, D, Dv) and tiles,
  /// as the manifest of its launch states them.
  std::string family, mask;
  std::array<int64_t, 7> shape{};
  ::attn::runtime::KernelTuning tuning;
  ::attn::runtime::KernelCost cost;
};

/// The figures of every planned forward attention of `module` (after
/// attn-plan-gpu-kernels: each carries #attn.kernel_info and
/// #attn.tile_sizes) on `gpu`, in walk order. Attentions the model cannot
/// describe are left out (their manifests then carry no cost).
std::vector<PlannedKernelCost> collectPlannedKernelCosts(ModuleOp module,
                                                         const GpuSpec &gpu);

/// The manifest's cost block for `cost` under the roofline `bound` on `gpu`.
::attn::runtime::KernelCost toManifestCost(const AttentionCost &cost,
                                           const RooflineBound &bound,
                                           const GpuSpec &gpu);

/// Gives each forward manifest the cost of the planned attention it was
/// lowered from: the first unused one, in order, whose attention and tiles
/// the manifest states (a program's launches keep its attentions' order).
void attachKernelCosts(std::vector<PlannedKernelCost> planned,
                       std::vector<::attn::runtime::Manifest> &manifests);

/// The cost of one backward kernel, with its launch's symbol.
struct PlannedBackwardKernelCost {
  std::string symbol;
  ::attn::runtime::KernelCost cost;
};

/// The figures of every kernel of every attn.attention_backward of `module`
/// (before attn-tile-backward replaces them by their tiled programs) on
/// `gpu`, per kernel in launch order (preprocess, main, convert or dq, as
/// BackwardCost.h counts them), named as the lowering names their symbols
/// (the function's name plus the kernel's suffix). Backwards the model
/// cannot describe are left out.
/// `plan` gives each backward's schedule (its kernels' tiles and program:
/// planBackwardSchedule in AttnToNVVM.h); a backward it fails for is left
/// out (the lowering reports why).
std::vector<PlannedBackwardKernelCost> collectBackwardKernelCosts(
    ModuleOp module, const GpuSpec &gpu,
    const std::function<FailureOr<BackwardSchedule>(AttentionBackwardOp)>
        &plan);

/// Gives each backward manifest the cost of its kernel (by symbol, the
/// first unused).
void attachBackwardKernelCosts(
    std::vector<PlannedBackwardKernelCost> planned,
    std::vector<::attn::runtime::Manifest> &manifests);

} // namespace mlir::attn

#endif // ATTN_TARGET_KERNELCOST_H
