//===- TiledBackwardProgram.h - one tiled backward, read --------*- C++ -*-===//
//
// Part of attn-mlir. convert-attn-backward-to-nvvm lowers the tiled IR of the
// backward: attn-plan-gpu-backward records a schedule on an
// attn.attention_backward, attn-tile-backward cuts it by that schedule into
// the Delta preprocessing, an scf.forall of programs over (batch, KV head, KV
// block) whose query loop runs attn.backward_step, and the attn.accumulate of
// the dQ shares; attn-lower-precision sets the steps' p_type. A
// TiledBackwardProgram reads one such program: the host tensors behind its
// tiles, the results and their stores, and the schedule as the IR shows it
// (the KV block, the query block, the dQ program).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_TILEDBACKWARDPROGRAM_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_TILEDBACKWARDPROGRAM_H

#include "BackwardProblem.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::attn::detail {

class TiledBackwardProgram {
public:
  /// Reads `forall` (it carries attn.backward_schedule); "expected ..."
  /// errors at it (or at its step) for anything that is not
  /// attn-tile-backward + attn-lower-precision output of a schedule
  /// attn-plan-gpu-backward recorded.
  static FailureOr<TiledBackwardProgram> match(scf::ForallOp forall);

  scf::ForallOp forall;
  /// The recorded schedule and the main kernel's planned info (its
  /// attention fields are the backward's).
  BackwardScheduleAttr schedule;
  KernelInfoAttr info;
  /// The query loop of the program and its first step (the steps of the
  /// interior and boundary branches share tiles and attributes).
  scf::ForOp queryLoop;
  BackwardStepOp step;
  /// What the IR says: keys per program (the K tile's rows), query rows per
  /// loop step, the KV blocks of a (batch, KV head) (the forall's last
  /// extent), and whether the dQ shares are summed in KV-block order.
  int64_t blockM = 0, blockN = 0, numKeyBlocks = 0;
  bool deterministic = false;
  /// Host tensors: Q, K, V, O, dO and LSE, as the program's tiles and the
  /// Delta preprocessing read them.
  Value query, key, value, output, gradOutput, lse;
  /// The bias and mask host tensors behind the step's score-operand tiles
  /// (null: none).
  Value bias, mask;
  /// key_lengths [B] (i32), read by the program's tensor.extract (null:
  /// none).
  Value keyLengths;
  /// Varlen: cu_seqlens_q and cu_seqlens_k [N + 1] (i32), the offsets the
  /// program's start rows are read from (null: dense).
  Value cuSeqlensQ, cuSeqlensK;
  /// With sinks: the sinks host tensor, the generic of their gradient
  /// (Sinks.h buildSinkGradient: from the LSE and Delta, after the forall)
  /// and its store.
  Value sinks;
  /// With grad_lse: its host tensor, which starts Delta's row sum
  /// (buildDeltaInit's negation is the Delta generic's init).
  Value gradLse;
  linalg::GenericOp sinkGradient;
  bufferization::MaterializeInDestinationOp sinkStore;
  /// With grad_bias: the ops after the forall that reduce its bias
  /// gradient to the bias' shape and round it (attn-tile-backward's
  /// biasGradient: [linalg.reduce], the rounding generic,
  /// [tensor.expand_shape]), in order, and the store of their result.
  SmallVector<Operation *, 3> gradBiasChain;
  bufferization::MaterializeInDestinationOp gradBiasStore;
  /// The Delta generic (rowsum(dO * O)) before the forall, the accumulation
  /// and the generic that rounds its sum to dQ after it.
  linalg::GenericOp delta, dqRounding;
  AccumulateOp accumulate;
  /// dQ, dK and dV, each stored once into its memref.
  SmallVector<Value, 3> results;
  SmallVector<bufferization::MaterializeInDestinationOp, 3> stores;
  /// f32-compute (attn-round-f32-inputs): the arith.extf that widens each of
  /// dQ, dK and dV before its store (null where it is stored as computed).
  SmallVector<arith::ExtFOp, 3> widenings;

  /// The operands, types and attributes the kernels' problem is read from.
  BackwardOperands getOperands() const;

  /// Erases the program: its stores, the rounding, the accumulation, the
  /// forall and Delta, then whatever fed them and has no other use.
  void erase();
};

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_TILEDBACKWARDPROGRAM_H
