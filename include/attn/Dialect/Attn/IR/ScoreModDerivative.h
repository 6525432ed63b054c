//===- ScoreModDerivative.h - d score_mod / d score -------------*- C++ -*-===//
//
// Part of attn-mlir. The backward needs the derivative of a score_mod region
// with respect to its score argument. It is taken op by op in forward mode:
// every value that depends on the score carries a tangent. The verifier of
// the backward ops and every lowering of them use this one definition of
// which ops are differentiable and how.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_SCOREMODDERIVATIVE_H
#define ATTN_DIALECT_ATTN_IR_SCOREMODDERIVATIVE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Region.h"

#include <utility>

namespace mlir::attn {

/// The first operation of the score_mod region `scoreMod` whose result
/// depends on the score argument and that has no derivative rule, or null
/// when the region is differentiable. Ops independent of the score (index
/// arithmetic, constants) need no rule.
Operation *findNonDifferentiableOp(Region &scoreMod);

/// Inlines the score_mod region at `args` = (score, b, h, q_idx, kv_idx) and
/// returns the yielded score and d(yielded score) / d(score), both f32. The
/// region must pass findNonDifferentiableOp.
std::pair<Value, Value> buildScoreModWithDerivative(OpBuilder &b,
                                                    Region &scoreMod,
                                                    ValueRange args);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_SCOREMODDERIVATIVE_H
