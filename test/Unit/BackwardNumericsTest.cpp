//===- BackwardNumericsTest.cpp - executed backward vs float64 reference --===//
//
// Part of attn-mlir. Every case builds attn.attention_backward from a spec
// (AttentionSpec::backward), lowers it through attn-to-cpu (directly, or
// through attn-tile-backward and attn-lower-precision with several tile
// shapes), JIT-runs it on random inputs whose O and LSE come from the
// float64 forward, and compares dQ, dK, dV (and d_bias) with the float64
// backward reference under the tolerances of docs/Numerics.md.
//
//===----------------------------------------------------------------------===//

#include "attn/Execution/NumericCheck.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <string>

using namespace mlir;
using namespace mlir::attn;

namespace {

struct BackwardCase {
  std::string name;
  AttentionSpec spec;
  bool accumulateInF64 = false;
};
void PrintTo(const BackwardCase &c, std::ostream *os) { *os << c.name; }

AttentionSpec baseSpec() {
  AttentionSpec s;
  s.batch = 2;
  s.numQueryHeads = 4;
  s.numKVHeads = 2;
  s.queryLength = 13;
  s.keyLength = 11;
  s.headDim = 16;
  s.elementType = ElementKind::F32;
  s.backward = true;
  return s;
}

std::vector<BackwardCase> allCases() {
  std::vector<BackwardCase> cases;
  auto add = [&](std::string name, std::function<void(AttentionSpec &)> edit,
                 bool f64 = false) {
    AttentionSpec s = baseSpec();
    edit(s);
    cases.push_back({std::move(name), s, f64});
  };
  add("mha", [](AttentionSpec &s) { s.numKVHeads = 4; });
  add("gqa", [](AttentionSpec &) {});
  add("mqa", [](AttentionSpec &s) { s.numKVHeads = 1; });
  add("gqa_bshd", [](AttentionSpec &s) { s.layout = Layout::BSHD; });
  add("dv_differs", [](AttentionSpec &s) { s.valueHeadDim = 8; });
  add("len_33x40", [](AttentionSpec &s) {
    s.queryLength = 33;
    s.keyLength = 40;
    s.batch = 1;
  });
  add("causal_top_left", [](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalTopLeft;
  });
  // Lq > Lk: the first rows see no key and must get zero gradients.
  add("causal_bottom_right", [](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalBottomRight;
  });
  add("causal_bottom_right_lq_lt_lk", [](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalBottomRight;
    s.queryLength = 5;
    s.keyLength = 19;
  });
  add("sliding_window", [](AttentionSpec &s) {
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 3;
    s.windowRight = 1;
  });
  add("softcap", [](AttentionSpec &s) {
    s.softcap = 2.0;
    s.scale = 1.0;
  });
  add("alibi", [](AttentionSpec &s) {
    s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
    s.maskKind = MaskKind::CausalBottomRight;
  });
  add("key_lengths", [](AttentionSpec &s) {
    s.keyLengths = {7, 0};
    s.maskKind = MaskKind::CausalBottomRight;
  });
  add("score_mod_relative_bias",
      [](AttentionSpec &s) { s.scoreMod = ScoreModKind::RelativeBias; });
  add("score_mod_tanh_cap", [](AttentionSpec &s) {
    s.scoreMod = ScoreModKind::TanhCap;
    s.scale = 1.0;
  });
  add("mask_mod", [](AttentionSpec &s) { s.maskMod = MaskModKind::PrefixLM; });
  add("bias", [](AttentionSpec &s) { s.withBias = true; });
  add("bool_mask", [](AttentionSpec &s) { s.withBoolMask = true; });
  for (ElementKind kind : {ElementKind::F16, ElementKind::BF16}) {
    std::string k(stringifyElementKind(kind));
    add(k + "_gqa_causal", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.headDim = 64;
      s.queryLength = 37;
      s.keyLength = 37;
      s.batch = 1;
      s.maskKind = MaskKind::CausalBottomRight;
    });
    add(k + "_bias_mask_causal", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.withBias = true;
      s.withBoolMask = true;
      s.maskKind = MaskKind::CausalBottomRight;
    });
    add(k + "_softcap_window", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.softcap = 5.0;
      s.maskKind = MaskKind::SlidingWindow;
      s.windowLeft = 4;
      s.windowRight = 0;
    });
  }
  // f64 accumulation: the tolerance shrinks to the output rounding (and,
  // with a score_mod, to the f32 the region computes in).
  add(
      "f64acc_gqa_causal_softcap_alibi",
      [](AttentionSpec &s) {
        s.softcap = 3.0;
        s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
        s.maskKind = MaskKind::CausalBottomRight;
        s.keyLengths = {11, 9};
      },
      /*f64=*/true);
  add(
      "f64acc_everything",
      [](AttentionSpec &s) {
        s.softcap = 3.0;
        s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
        s.withBias = true;
        s.scoreMod = ScoreModKind::TanhCap;
        s.maskKind = MaskKind::SlidingWindow;
        s.windowLeft = 4;
        s.windowRight = 2;
        s.keyLengths = {11, 6};
      },
      /*f64=*/true);
  return cases;
}

void expectPasses(const AttentionSpec &spec, const NumericReport &report,
                  const std::string &via) {
  EXPECT_TRUE(report.passed()) << spec.describe() << via << "\n"
                               << report.summary();
  std::cout << "  " << spec.describe() << via << ": " << report.summary()
            << "\n";
  // Not vacuous, and the tolerances stay well below the gradients' size.
  EXPECT_GT(report.maxReferenceMagnitude, 0.05) << spec.describe();
  for (const NumericReport::Gradient &g : report.gradients)
    EXPECT_LT(g.tolerance, 0.1 * report.maxReferenceMagnitude)
        << g.name << " of " << spec.describe();
}

class BackwardNumericsTest : public ::testing::TestWithParam<BackwardCase> {};

TEST_P(BackwardNumericsTest, MatchesFloat64Reference) {
  const BackwardCase &c = GetParam();
  MLIRContext ctx;
  NumericCheckOptions options;
  options.accumulateInF64 = c.accumulateInF64;
  auto report = checkAgainstReference(ctx, c.spec, options);
  ASSERT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  expectPasses(c.spec, *report, "");
}

INSTANTIATE_TEST_SUITE_P(Reference, BackwardNumericsTest,
                         ::testing::ValuesIn(allCases()),
                         [](const auto &info) { return info.param.name; });

//===----------------------------------------------------------------------===//
// The tiled backward (attn-tile-backward [+ attn-lower-precision]) with tile
// shapes that do not divide the lengths.
//===----------------------------------------------------------------------===//

struct TileVariant {
  std::string name;
  AttnTileBackwardOptions tile;
  bool lowerPrecision = false;
};
void PrintTo(const TileVariant &v, std::ostream *os) { *os << v.name; }

std::vector<TileVariant> tileVariants() {
  auto tile = [](int64_t m, int64_t n, bool skip = true) {
    AttnTileBackwardOptions o;
    o.blockM = m;
    o.blockN = n;
    o.skipMaskedBlocks = skip;
    return o;
  };
  return {{"m4_n4", tile(4, 4), false},
          {"m8_n16_precision", tile(8, 16), true},
          {"m16_n8_dense", tile(16, 8, /*skip=*/false), false}};
}

using TiledParam = std::tuple<BackwardCase, TileVariant>;
class TiledBackwardNumericsTest
    : public ::testing::TestWithParam<TiledParam> {};

TEST_P(TiledBackwardNumericsTest, MatchesFloat64Reference) {
  const BackwardCase &c = std::get<0>(GetParam());
  const TileVariant &variant = std::get<1>(GetParam());
  MLIRContext ctx;
  NumericCheckOptions options;
  options.roundedP = variant.lowerPrecision;
  options.prePipeline = [&](OpPassManager &pm) {
    pm.addPass(createAttnTileBackward(variant.tile));
    if (variant.lowerPrecision)
      pm.addPass(createAttnLowerPrecision());
  };
  auto report = checkAgainstReference(ctx, c.spec, options);
  ASSERT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  expectPasses(c.spec, *report, " via " + variant.name);
}

/// Tiles always accumulate in f32: the f64-accumulation cases are untiled.
std::vector<BackwardCase> tileableCases() {
  std::vector<BackwardCase> cases;
  for (BackwardCase &c : allCases())
    if (!c.accumulateInF64)
      cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Flash, TiledBackwardNumericsTest,
    ::testing::Combine(::testing::ValuesIn(tileableCases()),
                       ::testing::ValuesIn(tileVariants())),
    [](const ::testing::TestParamInfo<TiledParam> &info) {
      return std::get<0>(info.param).name + "_" + std::get<1>(info.param).name;
    });

/// Rewrites every backward op before lowering, as a buggy pass would.
struct MutateBackwardPass
    : PassWrapper<MutateBackwardPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MutateBackwardPass)
  explicit MutateBackwardPass(std::function<void(AttentionBackwardOp)> mutate)
      : mutate(std::move(mutate)) {}
  void runOnOperation() override { getOperation().walk(mutate); }
  std::function<void(AttentionBackwardOp)> mutate;
};

bool passesWithMutation(AttentionSpec spec,
                        std::function<void(AttentionBackwardOp)> mutate) {
  MLIRContext ctx;
  NumericCheckOptions options;
  options.prePipeline = [&](OpPassManager &pm) {
    pm.addPass(std::make_unique<MutateBackwardPass>(mutate));
  };
  auto report = checkAgainstReference(ctx, spec, options);
  EXPECT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  return report && report->passed();
}

// The harness must be able to fail: each mutation models a lowering bug.
TEST(BackwardHarness, DetectsDroppedScale) {
  EXPECT_FALSE(passesWithMutation(baseSpec(), [](AttentionBackwardOp op) {
    op.setScaleAttr(Builder(op.getContext()).getF64FloatAttr(1.0));
  }));
}

TEST(BackwardHarness, DetectsDroppedSoftcapChainRule) {
  AttentionSpec spec = baseSpec();
  spec.softcap = 2.0;
  spec.scale = 1.0;
  // A larger cap changes the slope 1 - tanh^2 far more than the scores.
  EXPECT_FALSE(passesWithMutation(spec, [](AttentionBackwardOp op) {
    op.setSoftcapAttr(Builder(op.getContext()).getF64FloatAttr(2.5));
  }));
}

TEST(BackwardHarness, DetectsWrongCausalAlignment) {
  AttentionSpec spec = baseSpec();
  spec.maskKind = MaskKind::CausalBottomRight;
  EXPECT_FALSE(passesWithMutation(spec, [](AttentionBackwardOp op) {
    op.setMaskKind(MaskKind::CausalTopLeft);
  }));
}

TEST(BackwardHarness, UnmutatedRunPasses) {
  EXPECT_TRUE(passesWithMutation(baseSpec(), [](AttentionBackwardOp) {}));
}

} // namespace
