//===- TiledProgram.h - one tiled attention program, read for a kernel ----===//
//
// Part of attn-mlir. convert-attn-to-nvvm lowers the tiled IR: attn-tile cuts
// an attn.attention that attn-plan-gpu-kernels planned into an scf.forall of
// programs (one per CTA), attn-fuse-online-softmax turns their KV loops into
// online_step recurrences and attn-lower-precision fixes the rounding of P.
// TiledProgram reads one such forall: where the kernel's operands come from
// (the host tensors behind the Q slice and the attn.kv_tile ops, key_lengths,
// the stored results), the online step whose attributes are the attention's,
// and the index computations of the program, which the kernel families clone
// as their coordinates and KV loop bounds instead of deriving their own.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_TILEDPROGRAM_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_TILEDPROGRAM_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::attn::detail {

/// The host tensor of the first tensor.extract from above `body` that
/// `start` depends on inside it (the offsets a varlen program's start row
/// is read from), or null.
Value getOffsetsTensor(Value start, Block *body);

/// A program's coordinates and KV loop bounds as the kernel computes them
/// (index values): the program's sequence, first local query head, KV head
/// and first query row; the sequence's key length (clamped key_lengths
/// entry, or Lk); the keys the KV loops visit, [begin, end), in blocks of the
/// program's block-n from `begin`, of which [interiorBegin, interiorEnd) see
/// no masked key.
struct ProgramCoordinates {
  Value batch, head0, kvHead, q0, keyLength;
  Value begin, interiorBegin, interiorEnd, end;
  /// Varlen (null otherwise): `batch` is the sequence, q0 a row of it; its
  /// first packed query and key rows and its query length (keyLength is
  /// its key length).
  Value queryStart, keyStart, queryLength;
};

/// The runtime lengths of a kernel over dynamic dims: its i32 arguments B,
/// Lq and Lk (null where the dim is static). The program reads them as
/// tensor.dim of the host tensors above it.
struct RuntimeLengths {
  Value batch, seqQ, seqK;
  /// Varlen: the kernel's cu_seqlens_q / cu_seqlens_k memrefs (what the
  /// program's reads of the offsets become) and N + 1 where the offsets'
  /// extent is dynamic (i32).
  Value cuSeqlensQ, cuSeqlensK, numOffsets;
};

class TiledProgram {
public:
  /// Reads `forall` (it carries attn.kernel_info); "expected ..." errors at
  /// it for anything that is not attn-tile + attn-fuse-online-softmax +
  /// attn-lower-precision output.
  static FailureOr<TiledProgram> match(scf::ForallOp forall);

  scf::ForallOp forall;
  KernelInfoAttr info;
  /// The first online step: its attributes and regions are the attention's.
  OnlineStepOp step;
  /// Host-side tensors: bufferization.to_tensor results, or KV cache views
  /// for K and V (keyView / valueView, else null).
  Value query, key, value, keyLengths;
  /// Varlen: the host cu_seqlens_q / cu_seqlens_k tensors (null: dense).
  Value cuSeqlensQ, cuSeqlensK;
  /// Host-side bias, boolean mask and sinks tensors (null: none): what the
  /// program's score-operand tiles are sliced from, and what its sink
  /// partial reads.
  Value bias, mask, sinks;
  Operation *keyView = nullptr, *valueView = nullptr;
  /// What the program computes for the host: O[, LSE] (the forall's results,
  /// or with KV splits the merge of its partials).
  SmallVector<Value> results;

  /// Clones the program's coordinate and bound computations at `b`'s
  /// insertion point, the forall's induction variables replaced by `ivs`
  /// (index values), key_lengths read from the memref `keyLengthsArg` and
  /// the dims of dynamic host tensors from `lengths`.
  FailureOr<ProgramCoordinates>
  emitCoordinates(OpBuilder &b, ValueRange ivs, Value keyLengthsArg,
                  const RuntimeLengths &lengths = {}) const;

  /// Whether `user` belongs to the program (reads a view for it).
  bool contains(Operation *user) const;

  /// Erases the program, `stores` of its results first, then whatever fed
  /// it and has no other use.
  void erase(ArrayRef<Operation *> stores);

private:
  /// Sets bias and mask from the step's operand tiles and, for one split,
  /// sinks from the program's sink partial.
  LogicalResult matchScoreOperands();
  /// Varlen: the sequence coordinates and the offsets tensors (after the
  /// dense coordinates are set); "expected ..." at the step otherwise.
  LogicalResult matchVarlen(ArrayRef<scf::ForOp> loops);
  /// The kernel's runtime length (i32) that `dim` of a host tensor reads, or
  /// null.
  Value getRuntimeLength(tensor::DimOp dim,
                         const RuntimeLengths &lengths) const;
  /// Program-side values of ProgramCoordinates.
  SmallVector<OpFoldResult> coordinates;
  /// Ops outside the forall that belong to the program (the split merge).
  SmallVector<Operation *> epilogue;
};

/// The host tensor a score-operand tile (scoreOperandTile of attn-tile and
/// attn-tile-backward: a slice, padded at the tails, broadcast by a generic)
/// is read from; "expected ..." at `step` (the tile's op) otherwise.
FailureOr<Value> getScoreOperandSource(Operation *step, Value tile);

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_TILEDPROGRAM_H
