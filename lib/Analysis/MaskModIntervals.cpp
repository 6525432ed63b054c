//===- MaskModIntervals.cpp - block classification of mask_mod -----------===//
//
// Part of attn-mlir. The interval evaluator of MaskModIntervals.h. Each SSA
// value of the region gets bounds in the domain (lo/hi for integers,
// always/ever for i1) plus two static facts the domain cannot see at
// compile time in the run-time case: a bound on its magnitude (so that no
// op of the region can overflow where the evaluator computes exactly) and
// whether it is non-negative (so that unsigned ops mean what signed ones
// do). Both facts depend only on the region, so whether it is evaluable is
// known at compile time whatever the bounds are.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/MaskModIntervals.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// The run-time domain
//===----------------------------------------------------------------------===//

Value ValueIntervalDomain::c(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}
Value ValueIntervalDomain::add(Value x, Value y) {
  return b.createOrFold<arith::AddIOp>(loc, x, y);
}
Value ValueIntervalDomain::sub(Value x, Value y) {
  return b.createOrFold<arith::SubIOp>(loc, x, y);
}
Value ValueIntervalDomain::mulC(Value x, int64_t n) {
  return b.createOrFold<arith::MulIOp>(loc, x, c(n));
}
Value ValueIntervalDomain::min(Value x, Value y) {
  return b.createOrFold<arith::MinSIOp>(loc, x, y);
}
Value ValueIntervalDomain::max(Value x, Value y) {
  return b.createOrFold<arith::MaxSIOp>(loc, x, y);
}
Value ValueIntervalDomain::floorDivC(Value x, int64_t n) {
  return b.createOrFold<arith::FloorDivSIOp>(loc, x, c(n));
}
Value ValueIntervalDomain::truncDivC(Value x, int64_t n) {
  return b.createOrFold<arith::DivSIOp>(loc, x, c(n));
}
Value ValueIntervalDomain::ceilDivC(Value x, int64_t n) {
  return b.createOrFold<arith::CeilDivSIOp>(loc, x, c(n));
}
Value ValueIntervalDomain::select(Value cond, Value x, Value y) {
  return b.createOrFold<arith::SelectOp>(loc, cond, x, y);
}
Value ValueIntervalDomain::fromBool(Value x) {
  return b.createOrFold<arith::ExtUIOp>(loc, b.getI64Type(), x);
}
Value ValueIntervalDomain::cb(bool v) {
  return arith::ConstantIntOp::create(b, loc, b.getI1Type(), v);
}
Value ValueIntervalDomain::andB(Value x, Value y) {
  return b.createOrFold<arith::AndIOp>(loc, x, y);
}
Value ValueIntervalDomain::orB(Value x, Value y) {
  return b.createOrFold<arith::OrIOp>(loc, x, y);
}
Value ValueIntervalDomain::notB(Value x) {
  return b.createOrFold<arith::XOrIOp>(loc, x, cb(true));
}
Value ValueIntervalDomain::selectB(Value cond, Value x, Value y) {
  return b.createOrFold<arith::SelectOp>(loc, cond, x, y);
}
Value ValueIntervalDomain::lt(Value x, Value y) {
  return b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, x, y);
}
Value ValueIntervalDomain::le(Value x, Value y) {
  return b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::sle, x, y);
}
Value ValueIntervalDomain::eq(Value x, Value y) {
  return b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, x, y);
}

//===----------------------------------------------------------------------===//
// The evaluator
//===----------------------------------------------------------------------===//

namespace {

/// Magnitudes saturate here; any value that may reach its type's limit
/// stops the evaluation.
constexpr int64_t kMagnitudeCap = int64_t(1) << 62;

int64_t addMagnitudes(int64_t x, int64_t y) {
  return x > kMagnitudeCap - y ? kMagnitudeCap : x + y;
}
int64_t mulMagnitudes(int64_t x, int64_t n) {
  if (n == 0 || x == 0)
    return 0;
  return x > kMagnitudeCap / n ? kMagnitudeCap : x * n;
}

template <typename D>
struct Entry {
  bool isBool = false;
  typename D::V lo{}, hi{};
  typename D::B always{}, ever{};
  /// |value| <= magnitude for every index of the block.
  int64_t magnitude = 0;
  bool nonNegative = false;
  /// The value, where it is a compile-time constant.
  std::optional<int64_t> constant;
};

template <typename D>
class Evaluator {
public:
  using V = typename D::V;
  using B = typename D::B;
  using E = Entry<D>;

  Evaluator(D &d, std::string *reason) : d(d), reason(reason) {}

  std::optional<TruthBounds<B>> run(Region &region,
                                    ArrayRef<IndexRange<V>> args) {
    if (!region.hasOneBlock())
      return fail(region.getParentOp(), "expected a single-block region");
    Block &body = region.front();
    if (body.getNumArguments() != args.size())
      return fail(region.getParentOp(), "expected one range per argument");
    for (auto [arg, range] : llvm::zip(body.getArguments(), args)) {
      E e;
      e.lo = range.lo;
      e.hi = range.hi;
      e.magnitude = kMaxMaskModIndex;
      e.nonNegative = true;
      values[arg] = e;
    }
    for (Operation &op : body.without_terminator()) {
      if (op.getNumResults() != 1)
        return fail(&op, "expected one result");
      std::optional<E> e = visit(op);
      if (!e)
        return std::nullopt;
      if (!e->isBool && e->magnitude > limitOf(op.getResult(0).getType()))
        return fail(&op, "expected no overflow");
      values[op.getResult(0)] = *e;
    }
    Operation *yield = body.getTerminator();
    if (yield->getNumOperands() != 1)
      return fail(yield, "expected one yielded value");
    std::optional<E> out = lookup(yield->getOperand(0));
    if (!out || !out->isBool)
      return fail(yield, "expected an i1 result");
    return TruthBounds<B>{out->always, out->ever};
  }

private:
  std::nullopt_t fail(Operation *op, StringRef why) {
    if (reason && reason->empty()) {
      llvm::raw_string_ostream os(*reason);
      os << why;
      if (op)
        os << " at '" << op->getName() << "'";
    }
    return std::nullopt;
  }

  /// Magnitudes a value of `type` holds without wrapping.
  static int64_t limitOf(Type type) {
    unsigned width = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
    return width >= 63 ? kMagnitudeCap - 1 : (int64_t(1) << (width - 1)) - 1;
  }

  E constantEntry(const APInt &v, bool isBool) {
    E e;
    if (isBool) {
      e.isBool = true;
      e.always = e.ever = d.cb(!v.isZero());
      return e;
    }
    int64_t x = v.getSExtValue();
    e.lo = e.hi = d.c(x);
    e.constant = x;
    e.nonNegative = x >= 0;
    e.magnitude = x == INT64_MIN ? kMagnitudeCap : std::abs(x);
    return e;
  }

  /// Operands: values of the region, or constants hoisted above it.
  std::optional<E> lookup(Value v) {
    auto it = values.find(v);
    if (it != values.end())
      return it->second;
    APInt cst;
    if (matchPattern(v, m_ConstantInt(&cst)))
      return constantEntry(cst, v.getType().isInteger(1));
    return fail(v.getDefiningOp(), "expected an operand the evaluator knows");
  }

  std::optional<E> visit(Operation &op) {
    SmallVector<E> in;
    for (Value operand : op.getOperands()) {
      std::optional<E> e = lookup(operand);
      if (!e)
        return std::nullopt;
      in.push_back(*e);
    }
    Type type = op.getResult(0).getType();
    if (!type.isIntOrIndex())
      return fail(&op, "expected integer results");
    bool isBool = type.isInteger(1);
    if (isBool)
      return visitBool(op, in);
    if (llvm::any_of(in, [](const E &e) { return e.isBool; }) &&
        !isa<arith::SelectOp, arith::ExtUIOp, arith::ExtSIOp>(op))
      return fail(&op, "expected integer operands");
    return visitInt(op, in);
  }

  std::optional<E> visitInt(Operation &op, ArrayRef<E> in) {
    E r;
    if (auto cst = dyn_cast<arith::ConstantOp>(op)) {
      if (auto attr = dyn_cast<IntegerAttr>(cst.getValue()))
        return constantEntry(attr.getValue(), false);
      return fail(&op, "expected an integer constant");
    }
    if (isa<arith::AddIOp>(op)) {
      r.lo = d.add(in[0].lo, in[1].lo);
      r.hi = d.add(in[0].hi, in[1].hi);
      r.magnitude = addMagnitudes(in[0].magnitude, in[1].magnitude);
      r.nonNegative = in[0].nonNegative && in[1].nonNegative;
      return r;
    }
    if (isa<arith::SubIOp>(op)) {
      r.lo = d.sub(in[0].lo, in[1].hi);
      r.hi = d.sub(in[0].hi, in[1].lo);
      r.magnitude = addMagnitudes(in[0].magnitude, in[1].magnitude);
      return r;
    }
    if (isa<arith::MulIOp>(op)) {
      // By a constant only: the product of two ranges needs all four
      // corners, and that is rarely what a mask computes.
      const E *x = &in[0], *n = &in[1];
      if (!n->constant)
        std::swap(x, n);
      if (!n->constant)
        return fail(&op, "expected a multiplication by a constant");
      int64_t k = *n->constant;
      if (k == INT64_MIN)
        return fail(&op, "expected no overflow");
      r.lo = k >= 0 ? d.mulC(x->lo, k) : d.mulC(x->hi, k);
      r.hi = k >= 0 ? d.mulC(x->hi, k) : d.mulC(x->lo, k);
      r.magnitude = mulMagnitudes(x->magnitude, std::abs(k));
      r.nonNegative = k == 0 || (k > 0 && x->nonNegative);
      return r;
    }
    if (isa<arith::DivSIOp, arith::DivUIOp, arith::FloorDivSIOp,
            arith::CeilDivSIOp>(op))
      return visitDivision(op, in);
    if (isa<arith::RemSIOp, arith::RemUIOp>(op))
      return visitRemainder(op, in);
    if (isa<arith::MinSIOp, arith::MaxSIOp, arith::MinUIOp, arith::MaxUIOp>(
            op)) {
      bool isMin = isa<arith::MinSIOp, arith::MinUIOp>(op);
      if (isa<arith::MinUIOp, arith::MaxUIOp>(op) &&
          !(in[0].nonNegative && in[1].nonNegative))
        return fail(&op, "expected non-negative operands of an unsigned op");
      r.lo = isMin ? d.min(in[0].lo, in[1].lo) : d.max(in[0].lo, in[1].lo);
      r.hi = isMin ? d.min(in[0].hi, in[1].hi) : d.max(in[0].hi, in[1].hi);
      r.magnitude = std::max(in[0].magnitude, in[1].magnitude);
      r.nonNegative = isMin ? in[0].nonNegative && in[1].nonNegative
                            : in[0].nonNegative || in[1].nonNegative;
      return r;
    }
    if (isa<arith::SelectOp>(op)) {
      const E &c = in[0], &x = in[1], &y = in[2];
      // The chosen side where the condition is constant over the block,
      // else the hull of both.
      r.lo = d.select(c.always, x.lo,
                      d.select(c.ever, d.min(x.lo, y.lo), y.lo));
      r.hi = d.select(c.always, x.hi,
                      d.select(c.ever, d.max(x.hi, y.hi), y.hi));
      r.magnitude = std::max(x.magnitude, y.magnitude);
      r.nonNegative = x.nonNegative && y.nonNegative;
      return r;
    }
    if (isa<arith::ExtUIOp, arith::ExtSIOp, arith::TruncIOp,
            arith::IndexCastOp, arith::IndexCastUIOp>(op))
      return visitCast(op, in[0]);
    return fail(&op, "expected an op the evaluator models");
  }

  std::optional<E> visitDivision(Operation &op, ArrayRef<E> in) {
    if (!in[1].constant || *in[1].constant <= 0)
      return fail(&op, "expected a division by a positive constant");
    if (isa<arith::DivUIOp>(op) && !in[0].nonNegative)
      return fail(&op, "expected a non-negative dividend");
    int64_t n = *in[1].constant;
    // x / n is non-decreasing in x for n > 0, whatever the rounding.
    auto f = [&](V x) {
      if (isa<arith::FloorDivSIOp>(op))
        return d.floorDivC(x, n);
      if (isa<arith::CeilDivSIOp>(op))
        return d.ceilDivC(x, n);
      return d.truncDivC(x, n);
    };
    E r;
    r.lo = f(in[0].lo);
    r.hi = f(in[0].hi);
    r.magnitude = in[0].magnitude;
    r.nonNegative = in[0].nonNegative;
    return r;
  }

  std::optional<E> visitRemainder(Operation &op, ArrayRef<E> in) {
    if (!in[1].constant || *in[1].constant <= 0)
      return fail(&op, "expected a remainder by a positive constant");
    if (!in[0].nonNegative)
      return fail(&op, "expected a non-negative dividend");
    int64_t n = *in[1].constant;
    // Inside one period x mod n is x - period start; across a period
    // boundary it takes every value in [0, n).
    V qlo = d.floorDivC(in[0].lo, n), qhi = d.floorDivC(in[0].hi, n);
    auto samePeriod = d.eq(qlo, qhi);
    E r;
    r.lo = d.select(samePeriod, d.sub(in[0].lo, d.mulC(qlo, n)), d.c(0));
    r.hi = d.select(samePeriod, d.sub(in[0].hi, d.mulC(qhi, n)), d.c(n - 1));
    r.magnitude = std::min(in[0].magnitude, n - 1);
    r.nonNegative = true;
    return r;
  }

  std::optional<E> visitCast(Operation &op, const E &x) {
    E r;
    if (x.isBool) {
      // i1 -> 0/1 (extui) or 0/-1 (extsi).
      V atLeast = d.fromBool(x.always), atMost = d.fromBool(x.ever);
      if (isa<arith::ExtUIOp>(op)) {
        r.lo = atLeast;
        r.hi = atMost;
        r.nonNegative = true;
      } else if (isa<arith::ExtSIOp>(op)) {
        r.lo = d.sub(d.c(0), atMost);
        r.hi = d.sub(d.c(0), atLeast);
      } else {
        return fail(&op, "expected an extension of i1");
      }
      r.magnitude = 1;
      return r;
    }
    // Zero extensions keep the value only where it is non-negative;
    // sign extensions always; truncations where it fits (checked by the
    // caller against the result type).
    if (isa<arith::ExtUIOp, arith::IndexCastUIOp>(op) && !x.nonNegative)
      return fail(&op, "expected a non-negative operand of a zero extension");
    r = x;
    return r;
  }

  std::optional<E> visitBool(Operation &op, ArrayRef<E> in) {
    E r;
    r.isBool = true;
    if (auto cst = dyn_cast<arith::ConstantOp>(op)) {
      if (auto attr = dyn_cast<IntegerAttr>(cst.getValue()))
        return constantEntry(attr.getValue(), true);
      return fail(&op, "expected an integer constant");
    }
    if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
      if (in[0].isBool || in[1].isBool)
        return fail(&op, "expected a comparison of integers");
      return compare(cmp, in[0], in[1]);
    }
    if (isa<arith::AndIOp, arith::OrIOp, arith::XOrIOp>(op)) {
      const E &x = in[0], &y = in[1];
      if (isa<arith::AndIOp>(op)) {
        r.always = d.andB(x.always, y.always);
        r.ever = d.andB(x.ever, y.ever);
      } else if (isa<arith::OrIOp>(op)) {
        r.always = d.orB(x.always, y.always);
        r.ever = d.orB(x.ever, y.ever);
      } else {
        // x != y everywhere only where one is always true and the other
        // never; somewhere wherever one can be true while the other can be
        // false.
        r.always = d.orB(d.andB(x.always, d.notB(y.ever)),
                         d.andB(d.notB(x.ever), y.always));
        r.ever = d.orB(d.andB(x.ever, d.notB(y.always)),
                       d.andB(d.notB(x.always), y.ever));
      }
      return r;
    }
    if (isa<arith::SelectOp>(op)) {
      const E &c = in[0], &x = in[1], &y = in[2];
      r.always = d.selectB(c.always, x.always,
                           d.selectB(c.ever, d.andB(x.always, y.always),
                                     y.always));
      r.ever = d.selectB(c.always, x.ever,
                         d.selectB(c.ever, d.orB(x.ever, y.ever), y.ever));
      return r;
    }
    if (isa<arith::TruncIOp>(op) && in[0].constant)
      return constantEntry(APInt(64, *in[0].constant & 1), true);
    return fail(&op, "expected an op the evaluator models");
  }

  std::optional<E> compare(arith::CmpIOp cmp, const E &x, const E &y) {
    using P = arith::CmpIPredicate;
    P pred = cmp.getPredicate();
    bool isUnsigned = pred == P::ult || pred == P::ule || pred == P::ugt ||
                      pred == P::uge;
    if (isUnsigned && !(x.nonNegative && y.nonNegative))
      return fail(cmp, "expected non-negative operands of an unsigned op");
    // x < y for all pairs iff max x < min y; for some pair iff min x < max y.
    auto less = [&](const E &a, const E &b) {
      return std::make_pair(d.lt(a.hi, b.lo), d.lt(a.lo, b.hi));
    };
    auto lessEq = [&](const E &a, const E &b) {
      return std::make_pair(d.le(a.hi, b.lo), d.le(a.lo, b.hi));
    };
    std::pair<B, B> t;
    switch (pred) {
    case P::slt:
    case P::ult:
      t = less(x, y);
      break;
    case P::sle:
    case P::ule:
      t = lessEq(x, y);
      break;
    case P::sgt:
    case P::ugt:
      t = less(y, x);
      break;
    case P::sge:
    case P::uge:
      t = lessEq(y, x);
      break;
    case P::eq:
    case P::ne: {
      // Equal everywhere: both a single point, the same one. Equal
      // somewhere: the ranges overlap.
      B single = d.andB(d.andB(d.eq(x.lo, x.hi), d.eq(y.lo, y.hi)),
                        d.eq(x.lo, y.lo));
      B overlap = d.andB(d.le(x.lo, y.hi), d.le(y.lo, x.hi));
      t = pred == P::eq ? std::make_pair(single, overlap)
                        : std::make_pair(d.notB(overlap), d.notB(single));
      break;
    }
    }
    E r;
    r.isBool = true;
    r.always = t.first;
    r.ever = t.second;
    return r;
  }

  D &d;
  std::string *reason;
  llvm::DenseMap<Value, E> values;
};

} // namespace

std::optional<TruthBounds<bool>>
mlir::attn::evaluateMaskModIntervals(Region &region,
                                     ConstIntervalDomain &domain,
                                     ArrayRef<IndexRange<int64_t>> args) {
  return Evaluator<ConstIntervalDomain>(domain, nullptr).run(region, args);
}

std::optional<TruthBounds<Value>>
mlir::attn::evaluateMaskModIntervals(Region &region,
                                     ValueIntervalDomain &domain,
                                     ArrayRef<IndexRange<Value>> args) {
  return Evaluator<ValueIntervalDomain>(domain, nullptr).run(region, args);
}

bool mlir::attn::isMaskModIntervalEvaluable(Region &region,
                                            std::string *reason) {
  // The static facts do not depend on the bounds: any ranges will do.
  ConstIntervalDomain d;
  SmallVector<IndexRange<int64_t>> args(region.front().getNumArguments(),
                                        {0, kMaxMaskModIndex});
  return Evaluator<ConstIntervalDomain>(d, reason).run(region, args)
      .has_value();
}

MaskBlockClass mlir::attn::classifyMaskModBlock(Region &region, int64_t batch,
                                                int64_t head, int64_t q0,
                                                int64_t q1, int64_t k0,
                                                int64_t k1) {
  ConstIntervalDomain d;
  std::optional<TruthBounds<bool>> t = evaluateMaskModIntervals(
      region, d, {{batch, batch}, {head, head}, {q0, q1}, {k0, k1}});
  if (!t)
    return MaskBlockClass::Mixed;
  if (!t->ever)
    return MaskBlockClass::AllFalse;
  return t->always ? MaskBlockClass::AllTrue : MaskBlockClass::Mixed;
}

StringRef mlir::attn::stringifyMaskBlockClass(MaskBlockClass c) {
  switch (c) {
  case MaskBlockClass::AllFalse:
    return "all-false";
  case MaskBlockClass::AllTrue:
    return "all-true";
  case MaskBlockClass::Mixed:
    return "mixed";
  }
  llvm_unreachable("unknown MaskBlockClass");
}
