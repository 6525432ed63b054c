//===- MaskModIntervalsTest.cpp - mask_mod block classification ----------===//
//
// Part of attn-mlir. The interval evaluator of MaskModIntervals.h on the
// mask_mods users write (causal, sliding window, prefix-LM, document masks
// by division and by boundary tables, stripes by remainder), each block's
// class checked against the stated expectation and, for soundness, against
// an exhaustive evaluation of every element of the block (a point range is
// an exact evaluation). Regions are the bodies of func.funcs with the
// mask_mod signature (b, h, q, k: index) -> i1.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/MaskModIntervals.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::attn;

namespace {

class MaskModIntervalsTest : public ::testing::Test {
protected:
  MaskModIntervalsTest() {
    ctx.loadDialect<func::FuncDialect, arith::ArithDialect>();
  }

  /// The body of `@m` in a module whose functions take (b, h, q, k).
  Region &parse(StringRef body) {
    std::string text = "func.func @m(%b: index, %h: index, %q: index, "
                       "%k: index) -> i1 {\n" +
                       body.str() + "\n}";
    module = parseSourceString<ModuleOp>(text, &ctx);
    EXPECT_TRUE(module) << text;
    return cast<func::FuncOp>(module->getBody()->front()).getBody();
  }

  MaskBlockClass classify(Region &r, int64_t q0, int64_t q1, int64_t k0,
                          int64_t k1) {
    return classifyMaskModBlock(r, 0, 0, q0, q1, k0, k1);
  }

  /// Every element of the block agrees with its class.
  void expectSound(Region &r, int64_t q0, int64_t q1, int64_t k0,
                   int64_t k1) {
    MaskBlockClass c = classify(r, q0, q1, k0, k1);
    for (int64_t q = q0; q <= q1; ++q)
      for (int64_t k = k0; k <= k1; ++k) {
        ConstIntervalDomain d;
        auto t = evaluateMaskModIntervals(r, d,
                                          {{0, 0}, {0, 0}, {q, q}, {k, k}});
        ASSERT_TRUE(t);
        ASSERT_EQ(t->always, t->ever) << "a point must evaluate exactly";
        if (c == MaskBlockClass::AllTrue)
          ASSERT_TRUE(t->always) << q << ", " << k;
        if (c == MaskBlockClass::AllFalse)
          ASSERT_FALSE(t->ever) << q << ", " << k;
      }
  }

  /// Soundness over a grid of blocks of 16 x 16 in [0, 320) x [0, 320).
  void expectSoundEverywhere(Region &r) {
    for (int64_t q0 = 0; q0 < 320; q0 += 48)
      for (int64_t k0 = 0; k0 < 320; k0 += 40)
        expectSound(r, q0, q0 + 15, k0, k0 + 15);
  }

  MLIRContext ctx;
  OwningOpRef<ModuleOp> module;
};

constexpr auto kAllTrue = MaskBlockClass::AllTrue;
constexpr auto kAllFalse = MaskBlockClass::AllFalse;
constexpr auto kMixed = MaskBlockClass::Mixed;

TEST_F(MaskModIntervalsTest, Causal) {
  Region &r = parse("%keep = arith.cmpi sle, %k, %q : index\n"
                    "return %keep : i1");
  EXPECT_TRUE(isMaskModIntervalEvaluable(r));
  // Keys [0, 64) are below every query of [128, 192): all visible.
  EXPECT_EQ(classify(r, 128, 191, 0, 63), kAllTrue);
  EXPECT_EQ(classify(r, 128, 191, 192, 255), kAllFalse);
  EXPECT_EQ(classify(r, 128, 191, 128, 191), kMixed);
  expectSoundEverywhere(r);
}

TEST_F(MaskModIntervalsTest, SlidingWindow) {
  // 0 <= q - k <= 256.
  Region &r = parse("%c256 = arith.constant 256 : index\n"
                    "%d = arith.subi %q, %k : index\n"
                    "%near = arith.cmpi sle, %d, %c256 : index\n"
                    "%past = arith.cmpi sle, %k, %q : index\n"
                    "%keep = arith.andi %near, %past : i1\n"
                    "return %keep : i1");
  // q - k in [449, 575]: past the window.
  EXPECT_EQ(classify(r, 1024, 1087, 512, 575), kAllFalse);
  // q - k in [1, 127]: inside.
  EXPECT_EQ(classify(r, 1024, 1087, 960, 1023), kAllTrue);
  EXPECT_EQ(classify(r, 1024, 1087, 768, 831), kMixed);
  expectSoundEverywhere(r);
}

TEST_F(MaskModIntervalsTest, PrefixLM) {
  // The spec's prefix-lm: k <= q or k < 4.
  Region &r = parse("%c4 = arith.constant 4 : index\n"
                    "%causal = arith.cmpi sle, %k, %q : index\n"
                    "%prefix = arith.cmpi slt, %k, %c4 : index\n"
                    "%keep = arith.ori %causal, %prefix : i1\n"
                    "return %keep : i1");
  EXPECT_EQ(classify(r, 64, 127, 0, 63), kAllTrue);
  EXPECT_EQ(classify(r, 0, 63, 64, 127), kAllFalse);
  EXPECT_EQ(classify(r, 0, 63, 0, 63), kMixed);
  // The prefix alone keeps keys 0-3 of a block above the diagonal.
  EXPECT_EQ(classify(r, 0, 1, 0, 3), kAllTrue);
  expectSoundEverywhere(r);
}

TEST_F(MaskModIntervalsTest, DocumentByDivision) {
  Region &r = parse("%c100 = arith.constant 100 : index\n"
                    "%dq = arith.divui %q, %c100 : index\n"
                    "%dk = arith.divui %k, %c100 : index\n"
                    "%keep = arith.cmpi eq, %dq, %dk : index\n"
                    "return %keep : i1");
  EXPECT_EQ(classify(r, 0, 63, 100, 163), kAllFalse);
  EXPECT_EQ(classify(r, 0, 63, 64, 99), kAllTrue);
  EXPECT_EQ(classify(r, 64, 127, 0, 63), kMixed);
  expectSoundEverywhere(r);
}

TEST_F(MaskModIntervalsTest, DocumentByBoundaries) {
  // Documents [0, 70), [70, 190), [190, ...): doc(x) = (x >= 70) +
  // (x >= 190), the kind of table a packed batch has, written out.
  Region &r = parse("%c70 = arith.constant 70 : index\n"
                    "%c190 = arith.constant 190 : index\n"
                    "%q1 = arith.cmpi sge, %q, %c70 : index\n"
                    "%q2 = arith.cmpi sge, %q, %c190 : index\n"
                    "%k1 = arith.cmpi sge, %k, %c70 : index\n"
                    "%k2 = arith.cmpi sge, %k, %c190 : index\n"
                    "%q1i = arith.extui %q1 : i1 to i32\n"
                    "%q2i = arith.extui %q2 : i1 to i32\n"
                    "%k1i = arith.extui %k1 : i1 to i32\n"
                    "%k2i = arith.extui %k2 : i1 to i32\n"
                    "%dq = arith.addi %q1i, %q2i : i32\n"
                    "%dk = arith.addi %k1i, %k2i : i32\n"
                    "%keep = arith.cmpi eq, %dq, %dk : i32\n"
                    "return %keep : i1");
  EXPECT_TRUE(isMaskModIntervalEvaluable(r));
  EXPECT_EQ(classify(r, 0, 63, 70, 133), kAllFalse);
  EXPECT_EQ(classify(r, 80, 143, 100, 163), kAllTrue);
  EXPECT_EQ(classify(r, 0, 63, 32, 95), kMixed);
  expectSoundEverywhere(r);
}

TEST_F(MaskModIntervalsTest, StripesByRemainderAndSelect) {
  // Keys in the first half of every 64-key period, except that a query
  // below 100 sees every key (select): k % 64 < 32 or q < 100.
  Region &r = parse("%c64 = arith.constant 64 : index\n"
                    "%c32 = arith.constant 32 : index\n"
                    "%c100 = arith.constant 100 : index\n"
                    "%true = arith.constant true\n"
                    "%m = arith.remui %k, %c64 : index\n"
                    "%lo = arith.cmpi ult, %m, %c32 : index\n"
                    "%early = arith.cmpi slt, %q, %c100 : index\n"
                    "%keep = arith.select %early, %true, %lo : i1\n"
                    "return %keep : i1");
  EXPECT_EQ(classify(r, 128, 143, 64, 95), kAllTrue);
  EXPECT_EQ(classify(r, 128, 143, 96, 127), kAllFalse);
  // Across a period boundary the remainder is anything.
  EXPECT_EQ(classify(r, 128, 143, 120, 135), kMixed);
  EXPECT_EQ(classify(r, 0, 15, 96, 127), kAllTrue);
  expectSoundEverywhere(r);
}

TEST_F(MaskModIntervalsTest, MinMaxAndScaledDistance) {
  // 2 (q - k) + min(q, 7) >= max(k, 3) * 3 - 40 (no meaning; every op).
  Region &r = parse("%c2 = arith.constant 2 : index\n"
                    "%c3 = arith.constant 3 : index\n"
                    "%c7 = arith.constant 7 : index\n"
                    "%c40 = arith.constant 40 : index\n"
                    "%d = arith.subi %q, %k : index\n"
                    "%d2 = arith.muli %c2, %d : index\n"
                    "%mq = arith.minsi %q, %c7 : index\n"
                    "%lhs = arith.addi %d2, %mq : index\n"
                    "%mk = arith.maxsi %k, %c3 : index\n"
                    "%mk3 = arith.muli %mk, %c3 : index\n"
                    "%rhs = arith.subi %mk3, %c40 : index\n"
                    "%keep = arith.cmpi sge, %lhs, %rhs : index\n"
                    "return %keep : i1");
  EXPECT_TRUE(isMaskModIntervalEvaluable(r));
  expectSoundEverywhere(r);
}

TEST_F(MaskModIntervalsTest, NotEvaluable) {
  // A product of two indices: not modelled, so every block is mixed.
  Region &r = parse("%p = arith.muli %q, %k : index\n"
                    "%c9 = arith.constant 9 : index\n"
                    "%keep = arith.cmpi slt, %p, %c9 : index\n"
                    "return %keep : i1");
  std::string reason;
  EXPECT_FALSE(isMaskModIntervalEvaluable(r, &reason));
  EXPECT_NE(reason.find("multiplication by a constant"), std::string::npos)
      << reason;
  EXPECT_EQ(classify(r, 100, 110, 100, 110), kMixed);
}

TEST_F(MaskModIntervalsTest, UnsignedOfSignedDifference) {
  // q - k may be negative: an unsigned compare of it is no signed one.
  Region &r = parse("%c5 = arith.constant 5 : index\n"
                    "%d = arith.subi %q, %k : index\n"
                    "%keep = arith.cmpi ult, %d, %c5 : index\n"
                    "return %keep : i1");
  EXPECT_FALSE(isMaskModIntervalEvaluable(r));
}

TEST_F(MaskModIntervalsTest, Overflow) {
  // q * 2^40 wraps an i32 (after the cast) and would be unsound.
  Region &r = parse("%big = arith.constant 1099511627776 : index\n"
                    "%p = arith.muli %q, %big : index\n"
                    "%k0 = arith.constant 0 : index\n"
                    "%keep = arith.cmpi sge, %p, %k0 : index\n"
                    "return %keep : i1");
  EXPECT_FALSE(isMaskModIntervalEvaluable(r));
  Region &r32 = parse("%q32 = arith.index_cast %q : index to i32\n"
                      "%c2 = arith.constant 2 : i32\n"
                      "%p = arith.muli %q32, %c2 : i32\n"
                      "%z = arith.constant 0 : i32\n"
                      "%keep = arith.cmpi sge, %p, %z : i32\n"
                      "return %keep : i1");
  EXPECT_FALSE(isMaskModIntervalEvaluable(r32));
}

} // namespace
