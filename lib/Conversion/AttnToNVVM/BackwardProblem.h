//===- BackwardProblem.h - the GPU backward kernels' problem ----*- C++ -*-===//
//
// Part of attn-mlir. The GPU backward reads one attention backward twice:
// attn-plan-gpu-backward from the attn.attention_backward op (to check it and
// choose its schedule) and convert-attn-backward-to-nvvm from the tiled
// program attn-tile-backward made of it. Both fill a BackwardOperands and
// get the kernels' KernelProblem, with the same "expected ..." checks, from
// getBackwardProblem; both read the recorded dQ reduction with
// parseDQReduction.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDPROBLEM_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDPROBLEM_H

#include "BackwardKernel.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

namespace mlir::attn::detail {

/// One attention backward as the GPU kernels see it: the types of its host
/// tensors, its score attributes and the features they do not support yet.
struct BackwardOperands {
  /// Q, K, V, O, dO [B, H, L, X] (bhsd) or [B, L, H, X] (bshd) and the
  /// gradients dQ, dK, dV.
  RankedTensorType query, key, value, output, gradOutput;
  RankedTensorType gradQuery, gradKey, gradValue;
  Layout layout = Layout::BHSD;
  double scale = 1.0;
  std::optional<double> softcap;
  /// The op's (global) ALiBi slopes, or none.
  std::optional<ArrayRef<double>> alibiSlopes;
  KeyVisibility visibility;
  /// The bias and boolean mask operands' types (null: none), and whether
  /// the backward returns the bias gradient.
  RankedTensorType bias, mask;
  bool withGradBias = false;
  /// The mask_mod region (null: none): the kernels clone it per score.
  Region *maskMod = nullptr;
  bool withScoreMod = false, withSinks = false, withKeyLengths = false;
  /// A grad_lse operand (Delta = rowsum(dO * O) - grad_lse).
  bool withGradLse = false;
  /// A varlen batch (cu_seqlens_q / cu_seqlens_k over packed rows) and the
  /// offsets' type (null: dense).
  bool varlen = false;
  RankedTensorType cuSeqlens;
};

/// `op`'s operands, types and attributes.
BackwardOperands getBackwardOperands(AttentionBackwardOp op);

/// The kernels' problem of `operands`, or an "expected ..." error at
/// `anchor` for what the GPU backward does not support.
FailureOr<KernelProblem> getBackwardProblem(Operation *anchor,
                                            const BackwardOperands &operands);

/// Whether `p`'s bias gradient can be computed in the dQ mode
/// `deterministic`: a broadcast bias' gradient is summed with atomics
/// (backwardGradBiasAtomic), so the deterministic program refuses it;
/// "expected ..." at `anchor`.
LogicalResult checkGradBiasMode(Operation *anchor, const KernelProblem &p,
                                bool deterministic);

/// Sets `p`'s layout and strides (getProblemStrides, as the forward's) from
/// the host tensors Q, K, V, O, dO and the gradients dQ, dK, dV (each stored
/// by one materialize_in_destination): the kernels address Q, O, dO and dQ
/// by Q's strides and K, V, dK and dV by K's, so each must match its partner
/// (torch's views of one [B, L, H, D] buffer do). Errors at `anchor`.
LogicalResult getBackwardStrides(Operation *anchor, Layout layout,
                                 Value query, Value key, Value value,
                                 Value output, Value gradOutput,
                                 ValueRange gradients, KernelProblem &p);

/// Whether the kernels can take `type` as an operand's or gradient's memref:
/// identity layout, or strided where `allowStrided` (all but the LSE), in
/// the default memory space; "expected ..." at `anchor` else.
LogicalResult checkBackwardMemref(Operation *anchor, MemRefType type,
                                  bool allowStrided);

/// The main kernel's grid: one CTA per KV block of a KV head.
constexpr llvm::StringLiteral
    kBackwardMainGridFormula("[ceil(Lk / block_n), B * Hkv, 1]");

/// The kernels' tiles a schedule records.
BackwardTiles getBackwardTiles(BackwardScheduleAttr schedule);

/// The DQReduction a schedule's dq_reduction names ("atom", "red-v2",
/// "red-v4"), or none.
std::optional<DQReduction> parseDQReduction(StringRef name);

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDPROBLEM_H
