//===- MaskModIntervals.h - block classification of mask_mod ----*- C++ -*-===//
//
// Part of attn-mlir. Interval evaluation of an attn.attention mask_mod
// region over a block of scores: with the batch and head fixed, the query
// index in [q0, q1] and the key index in [k0, k1], is the region provably
// true everywhere (no element test needed), provably false everywhere (the
// block can be skipped) or neither? Kernels ask this per KV block with
// runtime bounds; tests and the compiler ask it with constants. One
// evaluator serves both through a "domain" (constants, or IR that computes
// the bounds at run time), as KeyVisibility does with ConstArith/IntArith.
//
// Sound by construction: an op the evaluator does not model, a value whose
// magnitude could overflow its type, or an unsigned op on a value not known
// to be non-negative makes the region "not evaluable", and the caller then
// tests every element as before.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_MASKMODINTERVALS_H
#define ATTN_ANALYSIS_MASKMODINTERVALS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Region.h"
#include "mlir/Support/LLVM.h"

#include <array>
#include <optional>

namespace mlir::attn {

/// What a mask_mod yields over one block of (query, key) indices.
enum class MaskBlockClass { AllFalse, AllTrue, Mixed };

/// Inclusive bounds [lo, hi] of one index argument.
template <typename V>
struct IndexRange {
  V lo, hi;
};

/// The region's result over a block: `always` (true at every index of the
/// block) and `ever` (true at some index). !ever: the block is all false.
template <typename B>
struct TruthBounds {
  B always, ever;
};

/// Compile-time domain: bounds are int64_t, truths bool.
struct ConstIntervalDomain {
  using V = int64_t;
  using B = bool;
  V c(int64_t v) { return v; }
  V add(V x, V y) { return x + y; }
  V sub(V x, V y) { return x - y; }
  V mulC(V x, int64_t n) { return x * n; }
  V min(V x, V y) { return x < y ? x : y; }
  V max(V x, V y) { return x > y ? x : y; }
  /// Division by a positive constant, rounding towards -inf / 0 / +inf.
  V floorDivC(V x, int64_t n) { return x >= 0 ? x / n : -((-x + n - 1) / n); }
  V truncDivC(V x, int64_t n) { return x / n; }
  V ceilDivC(V x, int64_t n) { return -floorDivC(-x, n); }
  V select(B c, V x, V y) { return c ? x : y; }
  V fromBool(B x) { return x ? 1 : 0; }
  B cb(bool v) { return v; }
  B andB(B x, B y) { return x && y; }
  B orB(B x, B y) { return x || y; }
  B notB(B x) { return !x; }
  B selectB(B c, B x, B y) { return c ? x : y; }
  B lt(V x, V y) { return x < y; }
  B le(V x, V y) { return x <= y; }
  B eq(V x, V y) { return x == y; }
};

/// Run-time domain: bounds are i64 SSA values, truths i1, built at the
/// builder's insertion point (folded where the operands are constants).
class ValueIntervalDomain {
public:
  using V = Value;
  using B = Value;
  ValueIntervalDomain(OpBuilder &b, Location loc) : b(b), loc(loc) {}
  V c(int64_t v);
  V add(V x, V y);
  V sub(V x, V y);
  V mulC(V x, int64_t n);
  V min(V x, V y);
  V max(V x, V y);
  V floorDivC(V x, int64_t n);
  V truncDivC(V x, int64_t n);
  V ceilDivC(V x, int64_t n);
  V select(B c, V x, V y);
  V fromBool(B x);
  B cb(bool v);
  B andB(B x, B y);
  B orB(B x, B y);
  B notB(B x);
  B selectB(B c, B x, B y);
  B lt(V x, V y);
  B le(V x, V y);
  B eq(V x, V y);

private:
  OpBuilder &b;
  Location loc;
};

/// Largest magnitude of a batch, head, query or key index the evaluator
/// assumes (indices fit i32 on every path that asks).
constexpr int64_t kMaxMaskModIndex = (int64_t(1) << 31) - 1;

/// Whether `region` (a mask_mod body: four index arguments b, h, q, k, one
/// i1 yielded) is made only of ops the interval evaluator models, on values
/// that cannot overflow. When it is not, the evaluators below return
/// nullopt. `reason`, if given, receives the first op that stops it.
bool isMaskModIntervalEvaluable(Region &region,
                                std::string *reason = nullptr);

/// Interval evaluation of `region` with its arguments in `args` (b, h, q,
/// k; b and h usually a single point), in the constant domain.
std::optional<TruthBounds<bool>>
evaluateMaskModIntervals(Region &region, ConstIntervalDomain &domain,
                         ArrayRef<IndexRange<int64_t>> args);

/// The same in the run-time domain: i64 bounds in, i1 truths out, the
/// arithmetic emitted at the domain's builder.
std::optional<TruthBounds<Value>>
evaluateMaskModIntervals(Region &region, ValueIntervalDomain &domain,
                         ArrayRef<IndexRange<Value>> args);

/// The class of the block q in [q0, q1], k in [k0, k1] at batch `batch`
/// and head `head` (Mixed where the region is not evaluable).
MaskBlockClass classifyMaskModBlock(Region &region, int64_t batch,
                                    int64_t head, int64_t q0, int64_t q1,
                                    int64_t k0, int64_t k1);

StringRef stringifyMaskBlockClass(MaskBlockClass c);

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_MASKMODINTERVALS_H
