//===- ScoreModDerivative.cpp - d score_mod / d score ---------------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/ScoreModDerivative.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::attn;

/// Ops with a derivative rule in `tangentOf`. cmpf yields an i1 that is
/// piecewise constant in the score: it needs no tangent, only its users do.
static bool hasDerivativeRule(Operation *op) {
  return isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
             arith::NegFOp, arith::MaximumFOp, arith::MinimumFOp,
             arith::SelectOp, arith::CmpFOp, arith::ExtFOp, arith::TruncFOp,
             math::TanhOp, math::ExpOp>(op);
}

/// Whether `op` (or anything nested in it) reads a value in `dependent`.
static bool readsAny(Operation *op, const llvm::DenseSet<Value> &dependent) {
  WalkResult result = op->walk([&](Operation *nested) {
    for (Value operand : nested->getOperands())
      if (dependent.contains(operand))
        return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return result.wasInterrupted();
}

Operation *mlir::attn::findNonDifferentiableOp(Region &scoreMod) {
  if (scoreMod.empty())
    return nullptr;
  Block &block = scoreMod.front();
  llvm::DenseSet<Value> dependent = {block.getArgument(0)};
  for (Operation &op : block.without_terminator()) {
    if (!readsAny(&op, dependent))
      continue;
    if (op.getNumRegions() != 0 || !hasDerivativeRule(&op))
      return &op;
    for (Value result : op.getResults())
      dependent.insert(result);
  }
  return nullptr;
}

namespace {
/// Forward-mode differentiation of one region body: `tangents` maps each
/// cloned value that depends on the score to d(value) / d(score); values
/// absent from it have derivative 0.
struct Differentiator {
  OpBuilder &b;
  Location loc;
  llvm::DenseMap<Value, Value> tangents;

  Value zeroLike(Value v) {
    return arith::ConstantOp::create(b, loc, v.getType(),
                                     b.getFloatAttr(v.getType(), 0.0));
  }
  /// The tangent of `v`, materialising 0 when `v` is score-independent.
  Value tangent(Value v) {
    auto it = tangents.find(v);
    return it != tangents.end() ? it->second : zeroLike(v);
  }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }

  /// d(result) / d(score) of the cloned op `op`, or null for none (i1).
  Value tangentOf(Operation *op);
};
} // namespace

Value Differentiator::tangentOf(Operation *op) {
  auto operand = [&](unsigned i) { return op->getOperand(i); };
  Value result = op->getNumResults() ? op->getResult(0) : Value();
  if (isa<arith::AddFOp>(op))
    return arith::AddFOp::create(b, loc, tangent(operand(0)),
                                 tangent(operand(1)));
  if (isa<arith::SubFOp>(op))
    return arith::SubFOp::create(b, loc, tangent(operand(0)),
                                 tangent(operand(1)));
  if (isa<arith::MulFOp>(op))
    return arith::AddFOp::create(b, loc, mul(tangent(operand(0)), operand(1)),
                                 mul(operand(0), tangent(operand(1))));
  if (isa<arith::DivFOp>(op)) {
    // d(a / b) = (da - (a / b) db) / b
    Value num = arith::SubFOp::create(b, loc, tangent(operand(0)),
                                      mul(result, tangent(operand(1))));
    return arith::DivFOp::create(b, loc, num, operand(1));
  }
  if (isa<arith::NegFOp>(op))
    return arith::NegFOp::create(b, loc, tangent(operand(0)));
  if (isa<arith::MaximumFOp, arith::MinimumFOp>(op)) {
    // The derivative of the operand that was chosen (ties: the first).
    auto pred = isa<arith::MaximumFOp>(op) ? arith::CmpFPredicate::OGE
                                           : arith::CmpFPredicate::OLE;
    Value first = arith::CmpFOp::create(b, loc, pred, operand(0), operand(1));
    return arith::SelectOp::create(b, loc, first, tangent(operand(0)),
                                   tangent(operand(1)));
  }
  if (auto select = dyn_cast<arith::SelectOp>(op)) {
    if (!isa<FloatType>(result.getType()))
      return nullptr;
    return arith::SelectOp::create(b, loc, select.getCondition(),
                                   tangent(select.getTrueValue()),
                                   tangent(select.getFalseValue()));
  }
  if (isa<arith::CmpFOp>(op))
    return nullptr;
  if (isa<arith::ExtFOp>(op))
    return arith::ExtFOp::create(b, loc, result.getType(),
                                 tangent(operand(0)));
  if (isa<arith::TruncFOp>(op))
    return arith::TruncFOp::create(b, loc, result.getType(),
                                   tangent(operand(0)));
  if (isa<math::TanhOp>(op)) {
    // d tanh(x) = (1 - tanh(x)^2) dx
    Value one = arith::ConstantOp::create(
        b, loc, result.getType(), b.getFloatAttr(result.getType(), 1.0));
    Value slope = arith::SubFOp::create(b, loc, one, mul(result, result));
    return mul(slope, tangent(operand(0)));
  }
  if (isa<math::ExpOp>(op))
    return mul(result, tangent(operand(0)));
  llvm_unreachable("score_mod op without a derivative rule: the verifier "
                   "rejects it");
}

std::pair<Value, Value>
mlir::attn::buildScoreModWithDerivative(OpBuilder &b, Region &scoreMod,
                                        ValueRange args) {
  Block &block = scoreMod.front();
  IRMapping mapping;
  mapping.map(block.getArguments(), args);
  Location loc = args.front().getLoc();
  Differentiator diff{b, loc, llvm::DenseMap<Value, Value>()};
  Value score = args.front();
  diff.tangents[score] = arith::ConstantOp::create(
      b, loc, score.getType(), b.getFloatAttr(score.getType(), 1.0));
  for (Operation &op : block.without_terminator()) {
    Operation *clone = b.clone(op, mapping);
    bool dependent = llvm::any_of(clone->getOperands(), [&](Value v) {
      return diff.tangents.contains(v);
    });
    if (!dependent)
      continue;
    if (Value t = diff.tangentOf(clone))
      diff.tangents[clone->getResult(0)] = t;
  }
  Value yielded =
      mapping.lookupOrDefault(cast<YieldOp>(block.getTerminator()).getValues()
                                  .front());
  return {yielded, diff.tangent(yielded)};
}
