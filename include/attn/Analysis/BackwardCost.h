//===- BackwardCost.h - FLOPs and bytes of the attention backward -*- C++ -*-//
//
// Part of attn-mlir. What an attn.attention_backward costs on the GPU path's
// kernels (convert-attn-backward-to-nvvm: preprocess, main and convert, or
// preprocess, main and the deterministic dQ kernel): the GEMM FLOPs of the
// recomputation and the four gradient GEMMs over the (Q block, KV block)
// tiles the mask leaves visited, the exponentials, the other elementwise
// work, and the bytes each kernel must move, per kernel and for the
// program. docs/CostModel.md ("The backward") states the conventions.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_BACKWARDCOST_H
#define ATTN_ANALYSIS_BACKWARDCOST_H

#include "attn/Analysis/CostModel.h"

#include <string>
#include <vector>

namespace mlir::attn {

/// A backward's problem: the forward's figures (shapes, input element type,
/// mask geometry, softcap, ALiBi) plus the gradients' element sizes.
struct BackwardFigures {
  AttentionFigures attention;
  /// Bytes per element of dO (the forward output's type), of dQ and of dK
  /// and dV (the results may be wider than the inputs).
  int64_t gradOutputElementBytes = 2, gradQueryElementBytes = 2,
          gradKVElementBytes = 2;
};

/// Figures of `op`; emits an "expected ..." error at the op and fails on
/// dynamic shapes or element types the model has no size for.
FailureOr<BackwardFigures> getBackwardFigures(AttentionBackwardOp op);

/// The backward kernels' schedule (BackwardKernel.h: 64 x 64 tiles, every
/// query head its own rows, masked tiles skipped).
struct BackwardSchedule {
  int64_t blockM = 64, blockN = 64;
  /// The deterministic program: no dQ accumulator, a dQ kernel that
  /// recomputes S and dP per tile.
  bool deterministic = false;
};

/// One kernel of the backward program, in launch order.
struct BackwardKernelCost {
  /// "preprocess", "main", "convert" or "dq"; the kernel symbol's suffix.
  std::string kernel, symbolSuffix;
  /// The kernel's GEMMs over visited tiles (padding included), over the
  /// (row, key) pairs the mask keeps, and with no mask.
  double executedGemmFlops = 0, visibleGemmFlops = 0, denseGemmFlops = 0;
  double exponentials = 0, elementwiseFlops = 0;
  /// f32 additions into dq_accum (the main kernel's red/atom.global.add).
  double dqReductions = 0;
  int64_t bytesRead = 0, bytesWritten = 0;
  double arithmeticIntensity() const {
    int64_t bytes = bytesRead + bytesWritten;
    return bytes ? executedGemmFlops / double(bytes) : 0;
  }
};

/// Bytes of each tensor of the program, once.
struct BackwardTensorBytes {
  int64_t query = 0, key = 0, value = 0, output = 0, gradOutput = 0, lse = 0;
  int64_t gradQuery = 0, gradKey = 0, gradValue = 0;
  /// Workspaces: delta and lse_log2 [B, Hq, Lq] f32; dq_accum [B, Hq, Lq, D]
  /// f32 (0 in the deterministic program).
  int64_t delta = 0, lseLog2 = 0, dqAccum = 0;
};

struct BackwardCost {
  /// (Q block, KV block) tiles of every query head the kernels visit, and
  /// the tiles with no mask.
  int64_t tilesVisited = 0, tilesDense = 0;
  /// GEMM FLOPs of the program. Dense and visible follow FlashAttention's
  /// convention, 2.5x the forward at D = Dv: the recomputation of S = Q K^T
  /// plus dP = dO V^T, dV = P^T dO, dK = dS^T Q and dQ = dS K, i.e.
  /// 2 (3 D + 2 Dv) per (row, key) pair. Executed: what the kernels run
  /// over visited tiles, the deterministic dQ kernel's second S and dP
  /// included (2 (4 D + 3 Dv) per pair, 3.5x the forward).
  double denseGemmFlops = 0, visibleGemmFlops = 0, executedGemmFlops = 0;
  /// The forward's dense GEMM FLOPs (4 B Hq Lq Lk D at D = Dv), for the
  /// ratio.
  double forwardDenseGemmFlops = 0;
  double exponentials = 0, elementwiseFlops = 0, dqReductions = 0;
  BackwardTensorBytes tensors;
  std::vector<BackwardKernelCost> kernels;

  /// Sums over the kernels: each kernel's compulsory traffic (a tensor two
  /// kernels read counts twice, a workspace once written and once read).
  int64_t bytesRead() const;
  int64_t bytesWritten() const;
  int64_t bytesTotal() const { return bytesRead() + bytesWritten(); }
  double arithmeticIntensity() const {
    return bytesTotal() ? executedGemmFlops / double(bytesTotal()) : 0;
  }
};

/// The cost of `figures` under `schedule`. Fails (no diagnostic) on
/// non-positive tile sizes or heads that do not divide.
FailureOr<BackwardCost> computeBackwardCost(const BackwardFigures &figures,
                                            const BackwardSchedule &schedule);

/// The roofline of the whole program and of one kernel.
RooflineBound computeBackwardRoofline(const BackwardCost &cost,
                                      const GpuSpec &gpu, ElementKind kind);
RooflineBound computeBackwardRoofline(const BackwardKernelCost &kernel,
                                      const GpuSpec &gpu, ElementKind kind);

/// One line: "gemm 1342177280 FLOP executed (2.50x the forward's dense;
/// 1342177280 dense, 704643072 visible), exp ..., bytes ... (... read,
/// ... written), intensity ... FLOP/B".
std::string describeBackwardCost(const BackwardCost &cost);
/// One line per kernel: "main: gemm ... FLOP, exp ..., bytes ... read ...
/// written, intensity ..., <roofline>".
std::string describeBackwardKernel(const BackwardKernelCost &kernel,
                                   const GpuSpec &gpu, ElementKind kind);

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_BACKWARDCOST_H
