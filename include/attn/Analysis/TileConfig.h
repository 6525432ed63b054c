//===- TileConfig.h - GPU tile configurations from the cost model -*- C++ -*-//
//
// Part of attn-mlir. Chooses the GPU kernel's tile configuration (prefill
// block sizes and warps, decode split count) for an attention on a named
// GPU from its shared memory, registers, occupancy and SM count, instead of
// fixed defaults. The model is stated in docs/CostModel.md ("Choosing
// tiles"); every choice comes with its reason as text.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_TILECONFIG_H
#define ATTN_ANALYSIS_TILECONFIG_H

#include "attn/Analysis/CostModel.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::attn {

/// One candidate the chooser modelled.
struct TileCandidate {
  int64_t blockM = 0, blockN = 0, numWarps = 0, numSplits = 1;
  /// The hopper kernel's shared-memory ring depth (0 for the mma.sync
  /// families, whose stage counts the model does not choose).
  int64_t stages = 0;
  int64_t sharedMemoryBytes = 0, registersPerThread = 0, ctasPerSM = 0;
  int64_t ctas = 0;
  /// Waves of the CTAs over the SMs' slots (SMs x CTAs/SM).
  int64_t waves = 0;
  /// The modelled kernel time; 0 with `rejected` set for candidates that do
  /// not fit the target.
  double seconds = 0;
  std::string rejected;
};

struct TileConfigChoice {
  /// The decode kernel (Hq / Hkv * Lq <= 16, as convert-attn-to-nvvm's
  /// kernel=auto) or the prefill kernel.
  bool decode = false;
  /// The sm_90a wgmma (hopper) prefill kernel (chooseHopperTileConfig):
  /// blockN and stages are its hopper-block-n and hopper-stages.
  bool hopper = false;
  /// The chosen candidate: prefill block-m / block-n / num-warps, or the
  /// decode kernel's warps and split count (blockM: its m16 row tile,
  /// blockN: keys per warp step).
  TileCandidate chosen;
  /// Why, in one or two sentences with the numbers.
  std::string reason;
  /// Index into `candidates` of the runner-up (-1: none fits but the
  /// chosen one).
  int64_t runnerUp = -1;

  /// Every candidate in the order modelled (for sweeps and tests).
  std::vector<TileCandidate> candidates;
};

/// Chooses the configuration of the kernel for `figures` on `gpu`. Never
/// fails: when no prefill candidate fits, the smallest one is returned
/// with a reason saying so.
TileConfigChoice chooseTileConfig(const AttentionFigures &figures,
                                  const GpuSpec &gpu);

/// Chooses the hopper (sm_90a wgmma) kernel's hopper-block-n and
/// hopper-stages for `figures` on `gpu` (a Hopper-class GPU; the caller
/// knows the hopper family supports the problem: D = Dv = 64 or 128).
TileConfigChoice chooseHopperTileConfig(const AttentionFigures &figures,
                                        const GpuSpec &gpu);

/// The tiles of the mma.sync backward program (convert-attn-backward-to-
/// nvvm): the main kernel's Q rows per step (block-m) and keys per CTA
/// (block-n, 16 per warp), and the deterministic dQ kernel's query rows
/// per CTA (dq-block-m, over KV blocks of 64 keys).
struct BackwardTileChoice {
  int64_t blockM = 64, blockN = 64, dqBlockM = 64;
  /// Why, with the modelled times of the choice and the runner-up.
  std::string reason;
  /// The main kernel's candidates (blockM x blockN, numWarps), then the dQ
  /// kernel's (blockM: its rows, blockN: 64), in the order modelled.
  std::vector<TileCandidate> candidates;
};

/// Chooses the backward's tiles for `figures` (the forward's problem: the
/// gradients' shapes and mask) on `gpu`. `deterministic`: the program
/// with the dQ kernel (dqBlockM chosen) instead of reductions into
/// dq_accum; `reductionWidth`: floats per dQ reduction instruction (1 for
/// atom, 2 for red-v2, 4 for red-v4); `squareWarpTiles`: the atomic
/// program's 128-key CTAs stage P^T and dS^T for 32-key warp tiles
/// (square-warp-tiles; ignored with `deterministic`, as the pass). Never
/// fails: with no candidate fitting, the fixed 64 / 64 / 64 tiles come back
/// with a reason saying so.
BackwardTileChoice chooseBackwardTileConfig(const AttentionFigures &figures,
                                            const GpuSpec &gpu,
                                            bool deterministic,
                                            int64_t reductionWidth,
                                            bool squareWarpTiles = true);

/// Registers per thread of the backward main kernel with `blockM`-query
/// steps: dK and dV of a warp's 16 keys ((D + Dv) / 2 per lane), its S^T
/// and dP^T tiles of 16 keys x blockM queries (blockM / 2 each), 16 for
/// fragments and the prefill estimate's fixed overhead (docs/CostModel.md).
int64_t estimateBackwardMainRegisters(int64_t blockM, int64_t headDim,
                                      int64_t valueHeadDim);

/// The backward main kernel's register rule: the largest block-m of 64
/// and 32 whose estimate (estimateBackwardMainRegisters, without softcap's
/// tanh tile: D = 128 with softcap runs 64-row steps, measured) stays
/// within 255 registers per thread, or 0 where neither does (the GPU
/// backward refuses D + Dv that large: D + Dv > 350). Block-m 128 is the
/// cost model's to take where it fits; 32 only where 64 does not (D + Dv
/// > 286: MLA's 192 / 128, 160 / 160).
int64_t getBackwardBlockMLimit(int64_t headDim, int64_t valueHeadDim);

/// The tiles attn-plan-gpu-kernels planned for one attention: the launch it
/// records on the op (#attn.kernel_info, #attn.tile_sizes) and, where the
/// cost model was consulted (tile-model on, static lengths), its choice.
/// The planning pass's remark, attn-compile's `tiles:` line and its JSON
/// report all print this one value (planGpuKernel in AttnToNVVM.h makes it).
struct GpuTilePlan {
  KernelInfoAttr info;
  TileSizesAttr tiles;
  /// The model's choice for `modelGpu`; unset where it was not consulted.
  std::optional<TileConfigChoice> model;
  const GpuSpec *modelGpu = nullptr;
  /// Whether the recorded tiles are the model's (false: the family's tile
  /// options were given and win, or the model was not consulted).
  bool fromModel = false;
  /// Where the tiles come from, in a few words: "the cost model",
  /// "options (tile-model off)", "options given (block-m, ...)",
  /// "options (runtime lengths)".
  std::string source;
};

/// The planned tiles in words: "prefill 128x64 tiles, 4 warps" / "decode
/// 16 split(s), 8 warps" / "hopper block-n 128, 2 stages".
std::string describePlannedTiles(KernelInfoAttr info);

/// One line: the planned tiles, where they come from and the model's
/// reason ("prefill 128x64 tiles, 4 warps from the cost model: prefill on
/// h100-sxm: ...").
std::string describeGpuTilePlan(const GpuTilePlan &plan);

/// The candidate the chooser ranked second (the runner-up of the reason),
/// or null when only one fits.
const TileCandidate *getRunnerUp(const TileConfigChoice &choice);

/// Registers per consumer thread of the hopper kernel: S (blockN / 2), O
/// (Dv / 2), Q unless it is in shared memory (D / 4), the packed P
/// (blockN / 4) and the same fixed overhead as the prefill estimate.
int64_t estimateHopperConsumerRegisters(int64_t blockN, int64_t headDim,
                                        int64_t valueHeadDim);

/// Registers per thread of the prefill kernel's accumulators and fragments
/// for a warp owning `rowsPerWarp` query rows (docs/CostModel.md).
int64_t estimatePrefillRegisters(int64_t rowsPerWarp, int64_t blockN,
                                 int64_t headDim, int64_t valueHeadDim);

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_TILECONFIG_H
