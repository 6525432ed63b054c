//===- DialectTest.cpp - attn dialect C++ API tests -----------------------===//
//
// Part of attn-mlir. Builds attn.attention through the C++ builders and
// checks accessors and verifier diagnostics that IR tests cannot reach.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/KeyVisibility.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::attn;

namespace {

class AttnDialectTest : public ::testing::Test {
protected:
  AttnDialectTest() : builder(&ctx) {
    ctx.loadDialect<AttnDialect, func::FuncDialect, tensor::TensorDialect>();
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module->getBody());
  }

  /// A tensor.empty of the given shape and element type.
  Value makeTensor(ArrayRef<int64_t> shape, Type elementType) {
    return tensor::EmptyOp::create(builder, builder.getUnknownLoc(), shape,
                                   elementType);
  }

  /// Runs the verifier on `op` and returns the first diagnostic ("" if none).
  std::string verifyMessage(Operation *op) {
    std::string message;
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) {
      if (message.empty())
        message = diag.str();
      return success();
    });
    (void)verify(op);
    return message;
  }

  MLIRContext ctx;
  OpBuilder builder;
  OwningOpRef<ModuleOp> module;
};

TEST_F(AttnDialectTest, BuilderInfersGqaTypesAndHeadCounts) {
  Type bf16 = builder.getBF16Type();
  Value q = makeTensor({2, 32, 100, 128}, bf16);
  Value k = makeTensor({2, 8, 300, 128}, bf16);
  Value v = makeTensor({2, 8, 300, 64}, bf16);
  auto op = AttentionOp::create(builder, builder.getUnknownLoc(), q, k, v,
                                MaskKind::CausalBottomRight,
                                /*withLse=*/true);
  EXPECT_EQ(verifyMessage(op), "");
  EXPECT_EQ(op.getNumQueryHeads(), 32);
  EXPECT_EQ(op.getNumKVHeads(), 8);
  EXPECT_EQ(op.getHeadGroupSize(), 4);
  EXPECT_EQ(op.getHeadDim(), 128);
  EXPECT_EQ(op.getValueHeadDim(), 64);
  EXPECT_EQ(op.getQueryLength(), 100);
  EXPECT_EQ(op.getKeyLength(), 300);
  EXPECT_EQ(op.getOutputType(), RankedTensorType::get({2, 32, 100, 64}, bf16));
  ASSERT_TRUE(op.getLse());
  EXPECT_EQ(op.getLse().getType(),
            RankedTensorType::get({2, 32, 100}, builder.getF32Type()));
  EXPECT_DOUBLE_EQ(op.getEffectiveScale(), 1.0 / std::sqrt(128.0));
  EXPECT_TRUE(op.getScoreMod().empty());
}

TEST_F(AttnDialectTest, MqaIsTheSameOpWithOneKvHead) {
  Type f16 = builder.getF16Type();
  auto op = AttentionOp::create(
      builder, builder.getUnknownLoc(), makeTensor({1, 16, 8, 64}, f16),
      makeTensor({1, 1, 8, 64}, f16), makeTensor({1, 1, 8, 64}, f16));
  EXPECT_EQ(verifyMessage(op), "");
  EXPECT_EQ(op.getHeadGroupSize(), 16);
  EXPECT_FALSE(op.getLse());
}

TEST_F(AttnDialectTest, ExplicitScaleOverridesDefault) {
  Type f32 = builder.getF32Type();
  auto op = AttentionOp::create(
      builder, builder.getUnknownLoc(), makeTensor({1, 2, 4, 16}, f32),
      makeTensor({1, 2, 4, 16}, f32), makeTensor({1, 2, 4, 16}, f32));
  op.setScaleAttr(builder.getF64FloatAttr(0.5));
  EXPECT_EQ(verifyMessage(op), "");
  EXPECT_DOUBLE_EQ(op.getEffectiveScale(), 0.5);
}

TEST_F(AttnDialectTest, VerifierRejectsIndivisibleHeads) {
  Type f32 = builder.getF32Type();
  auto op = AttentionOp::create(
      builder, builder.getUnknownLoc(), makeTensor({1, 6, 4, 16}, f32),
      makeTensor({1, 4, 4, 16}, f32), makeTensor({1, 4, 4, 16}, f32));
  EXPECT_EQ(verifyMessage(op),
            "'attn.attention' op expected the number of query heads (6) to "
            "be a multiple of the number of key/value heads (4)");
}

TEST_F(AttnDialectTest, VerifierRejectsMismatchedHeadDim) {
  Type f32 = builder.getF32Type();
  auto op = AttentionOp::create(
      builder, builder.getUnknownLoc(), makeTensor({1, 4, 4, 16}, f32),
      makeTensor({1, 4, 4, 32}, f32), makeTensor({1, 4, 4, 16}, f32));
  EXPECT_EQ(verifyMessage(op), "'attn.attention' op expected query and key to "
                               "have the same head dimension, got 16 and 32");
}

TEST_F(AttnDialectTest, VerifierRejectsNonPositiveSoftcap) {
  Type f32 = builder.getF32Type();
  auto op = AttentionOp::create(
      builder, builder.getUnknownLoc(), makeTensor({1, 4, 4, 16}, f32),
      makeTensor({1, 4, 4, 16}, f32), makeTensor({1, 4, 4, 16}, f32));
  op.setSoftcapAttr(builder.getF64FloatAttr(-1.0));
  EXPECT_EQ(verifyMessage(op),
            "'attn.attention' op expected a finite, positive softcap in f32's "
            "normal range [1.175494e-38, 3.402823e+38], got -1.000000e+00");
}

TEST_F(AttnDialectTest, VerifierRejectsWindowWithoutSlidingMask) {
  Type f32 = builder.getF32Type();
  auto op = AttentionOp::create(
      builder, builder.getUnknownLoc(), makeTensor({1, 4, 4, 16}, f32),
      makeTensor({1, 4, 4, 16}, f32), makeTensor({1, 4, 4, 16}, f32),
      MaskKind::CausalTopLeft);
  op.setWindow(ArrayRef<int64_t>{4, 0});
  EXPECT_EQ(verifyMessage(op),
            "'attn.attention' op expected no window attribute unless the mask "
            "kind is sliding_window");
}


// rowsSeeingKeys is the inverse of isVisible over a block of keys: for every
// mask, alignment and block, exactly the rows that see some key of the block.
TEST(KeyVisibility, RowsSeeingKeysInvertsIsVisible) {
  ConstArith a;
  std::vector<KeyVisibility> kinds = {
      {std::nullopt, std::nullopt, false}, {std::nullopt, 0, false},
      {std::nullopt, 0, true},             {5, 2, true},
      {0, 0, true},                        {7, std::nullopt, false}};
  for (const KeyVisibility &vis : kinds)
    for (auto [lq, lk] : {std::pair<int64_t, int64_t>{30, 17}, {17, 30},
                          {20, 20}})
      for (int64_t first = 0; first < lk; first += 3)
        for (int64_t last = first; last < std::min(lk, first + 9); ++last) {
          KeyInterval<int64_t> rows =
              vis.rowsSeeingKeys(a, first, last, lq, lk);
          for (int64_t row = 0; row < lq; ++row) {
            bool sees = false;
            for (int64_t key = first; key <= last; ++key)
              sees |= vis.isVisible(a, row, key, lq, lk);
            EXPECT_EQ(sees, row >= rows.begin && row < rows.end)
                << "row " << row << " keys [" << first << ", " << last
                << "] lq " << lq << " lk " << lk;
          }
        }
}

} // namespace
