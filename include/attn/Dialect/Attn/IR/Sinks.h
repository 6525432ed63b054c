//===- Sinks.h - attention sinks as IR --------------------------*- C++ -*-===//
//
// Part of attn-mlir. The two places attention sinks (attn.attention's
// `sinks` operand) turn into IR, written once for every lowering: the sink
// logits spread over a tensor of rows (a partial result's LSE, or the
// initial row max of the CPU lowering), and the sinks' gradient from the
// backward's LSE and Delta; and the other term of the LSE in the backward,
// its gradient (the `grad_lse` operand of attn.attention_backward), which
// starts Delta's row sum. Only lib/Reference restates them, on purpose.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_SINKS_H
#define ATTN_DIALECT_ATTN_IR_SINKS_H

#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// A tensor of `rowSizes` whose element at head index `h` (axis `headAxis`)
/// is `sinks[firstHead + h]`, converted to the float `type`: the LSE of the
/// sink's partial result (output 0) for `rowSizes[headAxis]` heads
/// starting at `firstHead`.
Value buildSinkRows(OpBuilder &b, Location loc, Value sinks,
                    OpFoldResult firstHead, ArrayRef<OpFoldResult> rowSizes,
                    int64_t headAxis, Type type);

/// d_sinks[h] = -sum_{b, i} P_sink[b, h, i] * delta[b, h, i] with
/// P_sink = exp(sinks[h] - lse[b, h, i]) (0 where lse = -inf), for `lse`
/// [B, Hq, Lq] (f32) and `delta` [B, Hq, Lq] (f32 or f64, the type the sum
/// runs in); the result is f32 [Hq].
Value buildSinkGradient(OpBuilder &b, Location loc, Value sinks, Value lse,
                        Value delta);

/// Where Delta = rowsum(dO * O) - grad_lse starts its row sum: `zeros` (a
/// [B, Hq, Lq] tensor of zeros in the sum's float type) when `gradLse` is
/// null, else -grad_lse converted to that type and written into it.
Value buildDeltaInit(OpBuilder &b, Location loc, Value gradLse, Value zeros);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_SINKS_H
