//===- IndexEvaluator.cpp - compile-time evaluation of index arithmetic ---===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/IndexEvaluator.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Operation.h"

using namespace mlir;
using namespace mlir::attn;

/// Evaluation depth and number of ops folded per `evaluate` call: masks and
/// loop bounds are a few dozen ops, and an unbounded walk over a large DAG
/// must not stall the compiler.
static constexpr unsigned kMaxDepth = 64;
static constexpr int64_t kBudget = 4096;

IndexEvaluator::IndexEvaluator() = default;

IndexEvaluator::~IndexEvaluator() {
  // The clones use the scratch block's arguments: they go first.
  for (auto &entry : clones)
    entry.second->destroy();
}

void IndexEvaluator::bind(Value v, int64_t x) {
  Type type = v.getType();
  unsigned width =
      type.isIndex() ? IndexType::kInternalStorageBitWidth
                     : type.getIntOrFloatBitWidth();
  known[v] = IntegerAttr::get(type, APInt(width, x, /*isSigned=*/true,
                                          /*implicitTrunc=*/true));
}

Attribute IndexEvaluator::evaluate(Value v) {
  budget = kBudget;
  return evaluate(v, 0);
}

std::optional<int64_t> IndexEvaluator::evaluateInt(Value v) {
  auto attr = dyn_cast_or_null<IntegerAttr>(evaluate(v));
  if (!attr)
    return std::nullopt;
  return attr.getValue().getSExtValue();
}

Attribute IndexEvaluator::evaluate(Value v, unsigned depth) {
  if (auto it = known.find(v); it != known.end())
    return it->second;
  if (depth > kMaxDepth || --budget < 0)
    return {};
  Attribute result;
  if (resolver)
    result = resolver(v);
  if (!result && !matchPattern(v, m_Constant(&result)))
    if (auto opResult = dyn_cast<OpResult>(v))
      result = fold(opResult.getOwner(), opResult.getResultNumber(), depth);
  // Unknown values are not memoised: a resolver may learn them later (a
  // nested evaluation registering a generic), and failures are cheap.
  if (result)
    known[v] = result;
  return result;
}

Operation *IndexEvaluator::getDetachedClone(Operation *op) {
  Operation *&clone = clones[op];
  if (clone)
    return clone;
  IRMapping mapping;
  for (Value operand : op->getOperands())
    mapping.map(operand, scratch.addArgument(operand.getType(), op->getLoc()));
  clone = op->cloneWithoutRegions(mapping);
  return clone;
}

Attribute IndexEvaluator::fold(Operation *op, unsigned resultNumber,
                               unsigned depth) {
  // Region ops (scf.if, linalg.generic) are not scalar arithmetic.
  if (op->getNumRegions() != 0)
    return {};
  SmallVector<Attribute> operands;
  for (Value operand : op->getOperands()) {
    Attribute attr = evaluate(operand, depth + 1);
    if (!attr)
      return {};
    operands.push_back(attr);
  }
  Operation *clone = getDetachedClone(op);
  SmallVector<OpFoldResult> results;
  if (failed(clone->fold(operands, results)) ||
      results.size() != op->getNumResults())
    return {};
  OpFoldResult folded = results[resultNumber];
  if (auto attr = dyn_cast<Attribute>(folded))
    return attr;
  // Folded to one of its operands (select, x + 0): that operand's value.
  auto arg = dyn_cast<BlockArgument>(cast<Value>(folded));
  if (!arg || arg.getOwner() != &scratch)
    return {};
  for (auto [operand, attr] : llvm::zip(clone->getOperands(), operands))
    if (operand == arg)
      return attr;
  return {};
}
