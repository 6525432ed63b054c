//===- KeyVisibility.h - which keys a query row sees ------------*- C++ -*-===//
//
// Part of attn-mlir. The one definition of positional visibility (causal
// masks of both alignments, sliding windows, sequence lengths) that every
// lowering asks for: the CPU lowering's element mask, attn-tile's KV loop
// bounds and interior split, and every GPU kernel family's block range and
// element mask. Only lib/Reference restates it, on purpose.
//
// The definitions are templates over an integer "arithmetic" so that one
// text serves compile-time evaluation (ConstArith, int64_t), index IR
// (IntArith over `index`) and kernel IR (IntArith over i32).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_KEYVISIBILITY_H
#define ATTN_DIALECT_ATTN_IR_KEYVISIBILITY_H

#include "attn/Dialect/Attn/IR/AttnEnums.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

#include <algorithm>
#include <optional>

namespace mlir::attn {

/// Integer arithmetic on SSA values of one integer or index type; every
/// helper folds when its operands are constants, so bounds of static shapes
/// stay constants in the IR.
class IntArith {
public:
  using V = Value;
  using B = Value;

  IntArith(OpBuilder &b, Location loc, Type type)
      : b(b), loc(loc), type(type) {}

  OpBuilder &builder() { return b; }
  Location getLoc() const { return loc; }
  Type getType() const { return type; }

  Value c(int64_t v) {
    if (isa<IndexType>(type))
      return arith::ConstantIndexOp::create(b, loc, v);
    return arith::ConstantIntOp::create(b, loc, type, v);
  }
  Value add(Value x, Value y) {
    return b.createOrFold<arith::AddIOp>(loc, x, y);
  }
  Value add(Value x, int64_t y) { return y ? add(x, c(y)) : x; }
  Value sub(Value x, Value y) {
    return b.createOrFold<arith::SubIOp>(loc, x, y);
  }
  Value mul(Value x, Value y) {
    return b.createOrFold<arith::MulIOp>(loc, x, y);
  }
  Value min(Value x, Value y) {
    return b.createOrFold<arith::MinSIOp>(loc, x, y);
  }
  Value max(Value x, Value y) {
    return b.createOrFold<arith::MaxSIOp>(loc, x, y);
  }
  /// floor(x / n), rounding towards -inf (bounds may be negative).
  Value floorDiv(Value x, int64_t n) {
    return b.createOrFold<arith::FloorDivSIOp>(loc, x, c(n));
  }
  /// ceil(x / n), rounding towards +inf.
  Value ceilDiv(Value x, int64_t n) {
    return b.createOrFold<arith::CeilDivSIOp>(loc, x, c(n));
  }
  /// The start of the block of `n` containing x.
  Value alignDown(Value x, int64_t n) { return mul(floorDiv(x, n), c(n)); }
  /// The start of the first block of `n` at or after x.
  Value alignUp(Value x, int64_t n) { return mul(ceilDiv(x, n), c(n)); }

  Value cmp(arith::CmpIPredicate pred, Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(loc, pred, x, y);
  }
  Value sge(Value x, Value y) { return cmp(arith::CmpIPredicate::sge, x, y); }
  Value sle(Value x, Value y) { return cmp(arith::CmpIPredicate::sle, x, y); }
  Value slt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value truth() { return arith::ConstantIntOp::create(b, loc, 1, 1); }
  Value both(Value x, Value y) {
    return b.createOrFold<arith::AndIOp>(loc, x, y);
  }

private:
  OpBuilder &b;
  Location loc;
  Type type;
};

/// The same arithmetic on compile-time integers.
struct ConstArith {
  using V = int64_t;
  using B = bool;
  V c(int64_t v) { return v; }
  V add(V x, V y) { return x + y; }
  V sub(V x, V y) { return x - y; }
  V mul(V x, V y) { return x * y; }
  V min(V x, V y) { return std::min(x, y); }
  V max(V x, V y) { return std::max(x, y); }
  V floorDiv(V x, int64_t n) { return x >= 0 ? x / n : -((-x + n - 1) / n); }
  V ceilDiv(V x, int64_t n) { return -floorDiv(-x, n); }
  V alignDown(V x, int64_t n) { return floorDiv(x, n) * n; }
  V alignUp(V x, int64_t n) { return ceilDiv(x, n) * n; }
  B sge(V x, V y) { return x >= y; }
  B sle(V x, V y) { return x <= y; }
  B slt(V x, V y) { return x < y; }
  B truth() { return true; }
  B both(B x, B y) { return x && y; }
};

/// Keys [begin, end); empty when end <= begin.
template <typename V>
struct KeyInterval {
  V begin, end;
};

/// Which keys a query row sees by position. With `diag` the diagonal offset
/// (Lk - Lq for the bottom-right alignments, where Lk is the sequence's own
/// key length when there are key_lengths; 0 for top-left), key `j` is
/// visible to query row `i` iff
///
///   0 <= j < Lk,
///   j >= i + diag - left    (when `left` is set: sliding windows),
///   j <= i + diag + right   (when `right` is set: causal masks, windows).
///
/// This is the semantics AttnOps.td states for the mask kinds.
struct KeyVisibility {
  std::optional<int64_t> left, right;
  bool bottomRight = false;

  /// The visibility of a mask kind (and window for sliding_window); the
  /// verifier guarantees a window of two non-negative extents.
  static KeyVisibility get(MaskKind kind,
                           std::optional<ArrayRef<int64_t>> window);

  /// Whether position limits keys at all (beyond the sequence length).
  bool isBounded() const { return left || right; }

  /// The diagonal offset: Lk - Lq for bottom-right alignments, else 0.
  template <typename A>
  typename A::V diagonal(A &a, typename A::V queryLen,
                         typename A::V keyLen) const {
    return bottomRight ? a.sub(keyLen, queryLen) : a.c(0);
  }
  /// `row` moved onto the key axis: row + diag (no IR for top-left).
  template <typename A>
  typename A::V alignedRow(A &a, typename A::V row, typename A::V queryLen,
                           typename A::V keyLen) const {
    return bottomRight ? a.add(row, a.sub(keyLen, queryLen)) : row;
  }

  /// Bounds of `key - row` for visible keys given the diagonal:
  /// [diag - left, diag + right] (each only where that side is bounded).
  /// Kernels that hold key - row per element compare against these.
  template <typename A>
  typename A::V lowestDelta(A &a, typename A::V diag) const {
    return a.add(diag, -*left);
  }
  template <typename A>
  typename A::V highestDelta(A &a, typename A::V diag) const {
    return a.add(diag, *right);
  }

  /// Keys from the lowest key `lowRow` sees to the highest key `highRow`
  /// sees, within [0, keyLen). Both bounds grow with the row, so the
  /// interval of a block of rows is the union (lowRow = first, highRow =
  /// last) or the intersection (lowRow = last, highRow = first) of its
  /// rows' intervals.
  template <typename A>
  KeyInterval<typename A::V> keysBetween(A &a, typename A::V lowRow,
                                         typename A::V highRow,
                                         typename A::V queryLen,
                                         typename A::V keyLen) const {
    typename A::V begin = a.c(0), end = keyLen;
    if (left)
      begin = a.max(begin,
                    a.add(alignedRow(a, lowRow, queryLen, keyLen), -*left));
    if (right)
      end = a.min(end, a.add(alignedRow(a, highRow, queryLen, keyLen),
                             *right + 1));
    return {begin, end};
  }

  /// Every key that some row of [firstRow, lastRow] sees, within [0, keyLen).
  template <typename A>
  KeyInterval<typename A::V> visibleKeys(A &a, typename A::V firstRow,
                                         typename A::V lastRow,
                                         typename A::V queryLen,
                                         typename A::V keyLen) const {
    return keysBetween(a, firstRow, lastRow, queryLen, keyLen);
  }

  /// The keys that every row of [firstRow, lastRow] sees, within
  /// [0, keyLen): blocks inside need no element mask.
  template <typename A>
  KeyInterval<typename A::V> keysSeenByAll(A &a, typename A::V firstRow,
                                           typename A::V lastRow,
                                           typename A::V queryLen,
                                           typename A::V keyLen) const {
    return keysBetween(a, lastRow, firstRow, queryLen, keyLen);
  }

  /// The rows of [0, queryLen) that see some key of [firstKey, lastKey]
  /// (the inverse of visibleKeys, for loops with keys outer): a row sees
  /// key j iff j - left <= row + diag <= j + right, on each bounded side.
  template <typename A>
  KeyInterval<typename A::V> rowsSeeingKeys(A &a, typename A::V firstKey,
                                            typename A::V lastKey,
                                            typename A::V queryLen,
                                            typename A::V keyLen) const {
    typename A::V begin = a.c(0), end = queryLen;
    typename A::V diag = diagonal(a, queryLen, keyLen);
    if (right)
      begin = a.max(begin, a.sub(a.add(firstKey, -*right), diag));
    if (left)
      end = a.min(end, a.sub(a.add(lastKey, *left + 1), diag));
    return {begin, end};
  }

  /// Whether `key` is visible to `row` by the mask bounds alone (callers
  /// whose keys may lie at or past the length add `key < keyLen`).
  template <typename A>
  typename A::B isVisible(A &a, typename A::V row, typename A::V key,
                          typename A::V queryLen, typename A::V keyLen) const {
    if (!isBounded())
      return a.truth();
    typename A::V aligned = alignedRow(a, row, queryLen, keyLen);
    std::optional<typename A::B> keep;
    if (right)
      keep = a.sle(key, a.add(aligned, *right));
    if (left) {
      typename A::B lo = a.sge(key, a.add(aligned, -*left));
      keep = keep ? a.both(*keep, lo) : lo;
    }
    return *keep;
  }
};

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_KEYVISIBILITY_H
