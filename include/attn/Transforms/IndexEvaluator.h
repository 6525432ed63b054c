//===- IndexEvaluator.h - compile-time evaluation of index arithmetic -*- C++ -*-===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_INDEXEVALUATOR_H
#define ATTN_TRANSFORMS_INDEXEVALUATOR_H

#include "mlir/IR/Block.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"

#include <functional>
#include <optional>

namespace mlir::attn {

/// Evaluates integer and index scalars at compile time with MLIR's own
/// folders: an op whose operands are all known is folded by
/// `Operation::fold` on those constant attributes, so the semantics of
/// every arith op (wrapping, signedness, rounding of divisions, cmpi
/// predicates, select) are upstream's and not a copy of them.
///
/// Values become known by `bind`, by being constants, by a resolver the
/// client installs (for leaves only it understands: linalg.index, block
/// arguments), or by folding. Anything else is unknown (a null attribute).
/// Results are memoised until `reset`.
class IndexEvaluator {
public:
  /// Returns the attribute of a value the client knows, or null to let the
  /// evaluator go on (constants, folding).
  using Resolver = std::function<Attribute(Value)>;

  IndexEvaluator();
  ~IndexEvaluator();
  IndexEvaluator(const IndexEvaluator &) = delete;
  IndexEvaluator &operator=(const IndexEvaluator &) = delete;

  void setResolver(Resolver fn) { resolver = std::move(fn); }

  /// Binds an integer or index value to `x` (truncated to its width).
  void bind(Value v, int64_t x);

  /// Forgets every binding and memoised result; the resolver stays.
  void reset() { known.clear(); }

  /// The constant attribute `v` evaluates to, or null when unknown or when
  /// the evaluation exceeds its step budget.
  Attribute evaluate(Value v);

  /// `v` as a sign-extended integer (i1 true is -1), if it evaluates to an
  /// integer attribute.
  std::optional<int64_t> evaluateInt(Value v);

private:
  Attribute evaluate(Value v, unsigned depth);
  Attribute fold(Operation *op, unsigned resultNumber, unsigned depth);
  /// A copy of `op` whose operands are arguments of `scratch`, so that
  /// folders that rewrite their operands in place, or inspect the ops
  /// defining them, see nothing of the IR being evaluated.
  Operation *getDetachedClone(Operation *op);

  Resolver resolver;
  llvm::DenseMap<Value, Attribute> known;
  llvm::DenseMap<Operation *, Operation *> clones;
  Block scratch;
  int64_t budget = 0;
};

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_INDEXEVALUATOR_H
