//===- AttnToLinalgBackward.h - lowering of the backward ops ----*- C++ -*-===//
//
// Part of attn-mlir. Internal to lib/Conversion/AttnToLinalg.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLINALG_ATTNTOLINALGBACKWARD_H
#define ATTN_LIB_CONVERSION_ATTNTOLINALG_ATTNTOLINALGBACKWARD_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"

namespace mlir::attn::lowering {

/// dQ, dK, dV (and d_bias) of attn.attention_backward, accumulated in
/// `accType` (f32, or f64 for the accumulate-in-f64 option).
SmallVector<Value> lowerAttentionBackward(OpBuilder &b, AttentionBackwardOp op,
                                          Type accType);
/// new dK, new dV and the dQ share of one attn.backward_step (f32).
SmallVector<Value> lowerBackwardStep(OpBuilder &b, BackwardStepOp op);
/// The sum of attn.accumulate's partials, in increasing index order.
SmallVector<Value> lowerAccumulate(OpBuilder &b, AccumulateOp op);

} // namespace mlir::attn::lowering

#endif // ATTN_LIB_CONVERSION_ATTNTOLINALG_ATTNTOLINALGBACKWARD_H
