//===- Varlen.h - varlen (packed) attention as IR ---------------*- C++ -*-===//
//
// Part of attn-mlir. A varlen attn.attention (cu_seqlens_q / cu_seqlens_k)
// is defined as the dense op on each packed sequence's slices. This header
// holds that definition twice over, once as a check and once as IR: the
// verifier's varlen rules, and the per-sequence loop of dense ops that the
// CPU lowering runs and `attn-split-varlen` writes. Only lib/Reference
// restates it, on purpose.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_VARLEN_H
#define ATTN_DIALECT_ATTN_IR_VARLEN_H

#include "mlir/IR/Builders.h"
#include "mlir/Support/LLVM.h"

namespace mlir::attn {
class AttentionOp;
class AttentionBackwardOp;

/// The varlen part of attn.attention's verifier: cu_seqlens_q and
/// cu_seqlens_k together, both [N+1], packed [1, T, H, D] operands in the
/// bshd layout (or cu_seqlens_q with key_lengths: packed Q and O over N
/// [N, Lk, Hkv, D] caches), and none of the operands or regions whose
/// [B, ...] indexing has no per-sequence meaning. Succeeds for a dense op.
LogicalResult verifyVarlen(AttentionOp op);
/// The same rules for attn.attention_backward: cu_seqlens_q and
/// cu_seqlens_k together (no backward over caches), packed bshd operands of
/// batch 1, no key_lengths, bias, mask or modifier regions.
LogicalResult verifyVarlen(AttentionBackwardOp op);

/// Sequence n of a varlen batch: its first packed query and key rows and
/// its query and key lengths (index values). Over per-sequence caches
/// keyStart is null: the keys are rows [0, keyLength) of cache n.
struct VarlenSequence {
  Value queryStart, queryLength, keyStart, keyLength;
};

/// The one statement of sequence `n`'s bounds (index `n` in [0, N)): each
/// start cu[n] clamped to [0, T], each end cu[n+1] to [start, T], T the
/// packed rows `totalQ` / `totalK`. Without `cuK` (queries over caches) the
/// key length is `keyLengths[n]` clamped to [0, totalK], the caches' Lk.
/// The per-sequence loop below, the tiled programs (attn-tile,
/// attn-tile-backward) and the backward kernels (whose offsets are memrefs:
/// `cuQ`, `cuK` and `keyLengths` may be tensors or memrefs) all read the
/// offsets through it.
VarlenSequence buildVarlenSequence(OpBuilder &b, Location loc, Value cuQ,
                                   Value cuK, Value n, Value totalQ,
                                   Value totalK, Value keyLengths = Value());

/// Builds, before `op` (a varlen attn.attention), the loop over its
/// sequences that defines it: sequence n's rows of the output (and LSE) are
/// a dense attn.attention, with `op`'s attributes and sinks, on the slices
/// [cu_seqlens_q[n], cu_seqlens_q[n+1]) of Q and [cu_seqlens_k[n],
/// cu_seqlens_k[n+1]) of K and V. Rows of no sequence stay 0 (LSE -inf);
/// offsets are clamped to the packed rows (each end to [begin, T]), so
/// offsets that break the contract never address outside the operands.
/// Returns the values that replace `op`'s results; `op` itself is left for
/// the caller to replace.
SmallVector<Value> buildVarlenLoop(OpBuilder &b, AttentionOp op);

/// The backward's loop, before `op` (a varlen attn.attention_backward):
/// sequence n's rows of dQ and its keys' rows of dK and dV are a dense
/// attn.attention_backward on the slices of Q, K, V, O, dO and the LSE that
/// buildVarlenSequence bounds; rows of no sequence get 0, grad_sinks is the
/// sum over the sequences. Returns the values that replace `op`'s results.
SmallVector<Value> buildVarlenBackwardLoop(OpBuilder &b,
                                           AttentionBackwardOp op);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_VARLEN_H
