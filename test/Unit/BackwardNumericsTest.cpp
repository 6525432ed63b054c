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

#include "NumericsHarness.h"
#include "attn/Execution/NumericCheck.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <string>

using namespace mlir;
using namespace mlir::attn;

namespace {

using BackwardCase = harness::NumericCase;

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
  // The head index reaches the region (the spec builder once dropped this
  // kind from the backward op, which then ran without any score_mod).
  add("score_mod_head_relative_bias",
      [](AttentionSpec &s) { s.scoreMod = ScoreModKind::HeadRelativeBias; });
  add("score_mod_tanh_cap", [](AttentionSpec &s) {
    s.scoreMod = ScoreModKind::TanhCap;
    s.scale = 1.0;
  });
  add("mask_mod", [](AttentionSpec &s) { s.maskMod = MaskModKind::PrefixLM; });
  add("bias", [](AttentionSpec &s) { s.withBias = true; });
  // [1, Hq, 1, Lk] and [B, 1, Lq, 1]: d_bias sums dS over the broadcast
  // extents.
  add("bias_broadcast_batch_query", [](AttentionSpec &s) {
    s.withBias = true;
    s.biasBroadcast = 0b0101;
  });
  add("bias_broadcast_heads_key_causal", [](AttentionSpec &s) {
    s.withBias = true;
    s.biasBroadcast = 0b1010;
    s.maskKind = MaskKind::CausalBottomRight;
  });
  add("bool_mask", [](AttentionSpec &s) { s.withBoolMask = true; });
  // Sinks: the LSE includes them, P and dS keep their form, d_sinks =
  // -sum_rows P_sink Delta. Lq > Lk gives rows of the sink alone.
  const std::vector<double> sinks4 = {0.5, -1.0, 2.0, 0.0};
  add("sinks_mha", [&](AttentionSpec &s) {
    s.numKVHeads = 4;
    s.sinks = sinks4;
  });
  add("sinks_gqa_causal_bottom_right", [&](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalBottomRight;
    s.sinks = sinks4;
  });
  add("sinks_window_key_lengths", [&](AttentionSpec &s) {
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 3;
    s.windowRight = 1;
    s.keyLengths = {7, 0};
    s.sinks = sinks4;
  });
  // The loss reads the LSE too (grad_lse): Delta = rowsum(dO * O) -
  // grad_lse, with sinks (whose gradient reads Delta) and a window whose
  // rows past the key lengths see nothing.
  add("lse_grad_gqa_causal", [](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalBottomRight;
    s.withLseGradient = true;
  });
  add("lse_grad_sinks_window_key_lengths", [&](AttentionSpec &s) {
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 3;
    s.windowRight = 1;
    s.keyLengths = {7, 0};
    s.sinks = sinks4;
    s.withLseGradient = true;
  });
  for (ElementKind kind : {ElementKind::F16, ElementKind::BF16}) {
    std::string k(stringifyElementKind(kind));
    add(k + "_lse_grad_softcap_causal", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.softcap = 5.0;
      s.maskKind = MaskKind::CausalTopLeft;
      s.withLseGradient = true;
    });
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
    add(k + "_sinks_causal", [kind, &sinks4](AttentionSpec &s) {
      s.elementType = kind;
      s.maskKind = MaskKind::CausalBottomRight;
      s.sinks = sinks4;
    });
    add(k + "_softcap_window", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.softcap = 5.0;
      s.maskKind = MaskKind::SlidingWindow;
      s.windowLeft = 4;
      s.windowRight = 0;
    });
  }
  // Varlen (packed bshd [1, T, H, D], cu_seqlens): an empty sequence, one
  // without keys, one token, lq < lk and lq > lk (rows above the causal
  // diagonal see nothing), and two packed keys no sequence owns.
  auto varlen = [](AttentionSpec &s) {
    s.batch = 1;
    s.layout = Layout::BSHD;
    s.cuSeqlensQ = {0, 5, 5, 8, 9, 18, 24};
    s.cuSeqlensK = {0, 7, 10, 10, 11, 23, 25};
    s.queryLength = 24;
    s.keyLength = 27;
  };
  add("varlen_gqa", varlen);
  add("varlen_gqa_causal", [&](AttentionSpec &s) {
    varlen(s);
    s.maskKind = MaskKind::CausalBottomRight;
  });
  add("varlen_mqa_window_softcap", [&](AttentionSpec &s) {
    varlen(s);
    s.numKVHeads = 1;
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 3;
    s.windowRight = 1;
    s.softcap = 2.0;
  });
  add("varlen_sinks_causal", [&](AttentionSpec &s) {
    varlen(s);
    s.maskKind = MaskKind::CausalBottomRight;
    s.sinks = sinks4;
  });
  add("varlen_lse_grad_causal", [&](AttentionSpec &s) {
    varlen(s);
    s.maskKind = MaskKind::CausalBottomRight;
    s.withLseGradient = true;
  });
  add("bf16_varlen_gqa_causal", [&](AttentionSpec &s) {
    varlen(s);
    s.elementType = ElementKind::BF16;
    s.headDim = 64;
    s.maskKind = MaskKind::CausalBottomRight;
  });
  add(
      "f64_varlen_gqa_causal",
      [&](AttentionSpec &s) {
        varlen(s);
        s.elementType = ElementKind::F64;
        s.maskKind = MaskKind::CausalBottomRight;
      },
      /*f64=*/true);
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
      "f64acc_lse_grad_alibi_causal",
      [](AttentionSpec &s) {
        s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
        s.maskKind = MaskKind::CausalBottomRight;
        s.withLseGradient = true;
      },
      /*f64=*/true);
  add(
      "f64acc_sinks_causal",
      [&](AttentionSpec &s) {
        s.maskKind = MaskKind::CausalBottomRight;
        s.sinks = sinks4;
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
  // f64 operands and gradients (float64 gradient checks): lowered whole
  // and computed in f64 without the option; only the LSE operand is f32.
  add(
      "f64_mqa_causal_top_left",
      [](AttentionSpec &s) {
        s.elementType = ElementKind::F64;
        s.numKVHeads = 1;
        s.maskKind = MaskKind::CausalTopLeft;
      },
      /*f64=*/true);
  add(
      "f64_gqa_window_softcap_alibi_bias",
      [](AttentionSpec &s) {
        s.elementType = ElementKind::F64;
        s.softcap = 3.0;
        s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
        s.withBias = true;
        s.maskKind = MaskKind::SlidingWindow;
        s.windowLeft = 4;
        s.windowRight = 2;
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

//===----------------------------------------------------------------------===//
// A bias that broadcasts (the spec's biases are full-shape): its gradient
// must be the sum over the broadcast axis of the gradient of the same bias
// written out in full, and every other gradient must not change.
//===----------------------------------------------------------------------===//

/// The backward of a GQA 2/1, B = 2, Lq = 5, Lk = 6, D = 8 causal problem
/// with a bias of `biasShape`, as a memref entry @f.
OwningOpRef<ModuleOp> broadcastBiasModule(MLIRContext &ctx,
                                          llvm::StringRef biasShape) {
  std::string text = llvm::formatv(R"mlir(
func.func @f(%q: tensor<2x2x5x8xf32>, %k: tensor<2x1x6x8xf32>,
             %v: tensor<2x1x6x8xf32>, %o: tensor<2x2x5x8xf32>,
             %do: tensor<2x2x5x8xf32>, %lse: tensor<2x2x5xf32>,
             %bias: tensor<{0}xf32>)
    -> (tensor<2x2x5x8xf32>, tensor<2x1x6x8xf32>, tensor<2x1x6x8xf32>,
        tensor<{0}xf32>) {{
  %dq, %dk, %dv, %db = attn.attention_backward
      ins(%q, %k, %v, %o, %do, %lse : tensor<2x2x5x8xf32>,
          tensor<2x1x6x8xf32>, tensor<2x1x6x8xf32>, tensor<2x2x5x8xf32>,
          tensor<2x2x5x8xf32>, tensor<2x2x5xf32>)
      bias(%bias : tensor<{0}xf32>)
      {{mask_kind = #attn.mask<causal_bottom_right>}
      -> tensor<2x2x5x8xf32>, tensor<2x1x6x8xf32>, tensor<2x1x6x8xf32>,
         tensor<{0}xf32>
  return %dq, %dk, %dv, %db : tensor<2x2x5x8xf32>, tensor<2x1x6x8xf32>,
      tensor<2x1x6x8xf32>, tensor<{0}xf32>
}
)mlir",
                                   biasShape);
  ctx.loadDialect<AttnDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &ctx);
  if (module && failed(convertToMemrefEntry(*module, "f")))
    return nullptr;
  return module;
}

/// Runs @f of `module` on `inputs` (f32 buffers of the given shapes),
/// through attn-tile-backward when `tiled`, and returns its four results.
std::vector<std::vector<float>>
runBackward(ModuleOp module, ArrayRef<std::vector<float>> inputs,
            ArrayRef<SmallVector<int64_t>> shapes, bool tiled) {
  CpuCompileOptions options;
  options.entry = "f";
  if (tiled)
    options.prePipeline = [](OpPassManager &pm) {
      AttnTileBackwardOptions tile;
      tile.blockM = 4;
      tile.blockN = 4;
      pm.addPass(createAttnTileBackward(tile));
    };
  auto exe = CpuExecutable::compile(module, options);
  EXPECT_TRUE(static_cast<bool>(exe)) << llvm::toString(exe.takeError());
  if (!exe)
    return {};
  std::vector<std::vector<float>> data(inputs.begin(), inputs.end());
  for (size_t r = inputs.size(); r < shapes.size(); ++r) {
    int64_t n = 1;
    for (int64_t e : shapes[r])
      n *= e;
    data.emplace_back(n, std::nanf(""));
  }
  SmallVector<HostBuffer> buffers;
  for (auto [values, shape] : llvm::zip(data, shapes))
    buffers.push_back({ElementKind::F32, shape, values.data(),
                       values.size() * sizeof(float)});
  llvm::Error err = (*exe)->invoke(buffers);
  EXPECT_FALSE(static_cast<bool>(err)) << llvm::toString(std::move(err));
  return {data.begin() + inputs.size(), data.end()};
}

class BackwardBroadcastBias : public ::testing::TestWithParam<bool> {};

TEST_P(BackwardBroadcastBias, GradientSumsOverTheBroadcastAxis) {
  bool tiled = GetParam();
  MLIRContext ctx;
  OwningOpRef<ModuleOp> broadcast = broadcastBiasModule(ctx, "1x2x5x6");
  OwningOpRef<ModuleOp> full = broadcastBiasModule(ctx, "2x2x5x6");
  ASSERT_TRUE(broadcast && full);
  SmallVector<SmallVector<int64_t>> shapes = {
      {2, 2, 5, 8}, {2, 1, 6, 8}, {2, 1, 6, 8}, {2, 2, 5, 8}, {2, 2, 5, 8},
      {2, 2, 5},    {1, 2, 5, 6}, {2, 2, 5, 8}, {2, 1, 6, 8}, {2, 1, 6, 8},
      {1, 2, 5, 6}};
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> inputs;
  for (size_t i = 0; i < 7; ++i) {
    int64_t n = 1;
    for (int64_t e : shapes[i])
      n *= e;
    inputs.emplace_back(n);
    for (float &x : inputs.back())
      x = i == 5 ? 2.0f + normal(rng) : normal(rng); // LSE around 2
  }
  std::vector<std::vector<float>> got =
      runBackward(*broadcast, inputs, shapes, tiled);
  // The same bias written out over both batch entries.
  std::vector<float> expanded(inputs[6]);
  expanded.insert(expanded.end(), inputs[6].begin(), inputs[6].end());
  inputs[6] = expanded;
  shapes[6] = shapes[10] = {2, 2, 5, 6};
  std::vector<std::vector<float>> want =
      runBackward(*full, inputs, shapes, tiled);
  ASSERT_EQ(got.size(), 4u);
  ASSERT_EQ(want.size(), 4u);
  // Identical scores, so identical dQ, dK, dV, bit for bit.
  for (int r = 0; r < 3; ++r)
    EXPECT_EQ(std::memcmp(got[r].data(), want[r].data(),
                          got[r].size() * sizeof(float)),
              0)
        << "gradient " << r;
  // d_bias[0, h, i, j] = 0 + full[0, h, i, j] + full[1, h, i, j] in f32.
  size_t n = got[3].size();
  ASSERT_EQ(want[3].size(), 2 * n);
  double largest = 0.0;
  for (size_t e = 0; e < n; ++e) {
    EXPECT_EQ(got[3][e], (0.0f + want[3][e]) + want[3][n + e]) << e;
    largest = std::max(largest, std::fabs(double(got[3][e])));
  }
  EXPECT_GT(largest, 0.01); // not vacuous
}

INSTANTIATE_TEST_SUITE_P(Lowering, BackwardBroadcastBias,
                         ::testing::Values(false, true),
                         [](const auto &info) {
                           return info.param ? "tiled_m4_n4" : "whole_op";
                         });

/// The check with every AttentionBackwardOp rewritten first (the reference keeps the
/// spec's semantics): whether it still passed.
static bool passesWithMutation(const AttentionSpec &spec,
                               std::function<void(AttentionBackwardOp)> mutate) {
  return harness::passesWithMutationOf<AttentionBackwardOp>(spec, std::move(mutate));
}

//===----------------------------------------------------------------------===//
// f32-compute on the CPU: attn-round-f32-inputs (the GPU path's opt-in)
// rounds an f32 attn.attention_backward's Q, K and V (and O, dO) to bf16 or
// f16. Its result must be as accurate as a call in that type on the rounded
// inputs; at f32's tolerance it must fail, or the rounding did not happen.
//===----------------------------------------------------------------------===//

class RoundF32InputsNumerics
    : public ::testing::TestWithParam<harness::NumericCase> {};

TEST_P(RoundF32InputsNumerics, AsAccurateAsTheTypeItRoundsTo) {
  harness::expectRoundedToEachType(GetParam().spec);
}

INSTANTIATE_TEST_SUITE_P(F32Compute, RoundF32InputsNumerics,
                         ::testing::ValuesIn(harness::roundedCases(baseSpec())),
                         [](const auto &info) { return info.param.name; });

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

// The sinks' gradient must read the sinks: zeros in their place change
// P_sink = exp(sink - lse) and nothing else.
TEST(BackwardHarness, DetectsWrongSinksInTheGradient) {
  AttentionSpec spec = baseSpec();
  spec.sinks = {0.5, -1.0, 2.0, 0.0};
  EXPECT_FALSE(passesWithMutation(spec, [](AttentionBackwardOp op) {
    OpBuilder b(op);
    Value zeros = arith::ConstantOp::create(
        b, op.getLoc(),
        DenseElementsAttr::get(cast<ShapedType>(op.getSinks().getType()),
                               b.getF32FloatAttr(0.0f)));
    op.getSinksMutable().assign(zeros);
  }));
}

// The LSE's gradient must reach Delta: without the grad_lse operand the
// gradients are those of sum(dO * O) alone.
TEST(BackwardHarness, DetectsADroppedLseGradient) {
  AttentionSpec spec = baseSpec();
  spec.withLseGradient = true;
  EXPECT_TRUE(passesWithMutation(spec, [](AttentionBackwardOp) {}));
  EXPECT_FALSE(passesWithMutation(
      spec, [](AttentionBackwardOp op) { op.getGradLseMutable().clear(); }));
}

// A varlen backward must keep its sequences apart: without the offsets the
// packed rows are one dense problem (queries see other sequences' keys).
TEST(BackwardHarness, DetectsVarlenAttendingAcrossSequences) {
  AttentionSpec spec = baseSpec();
  spec.batch = 1;
  spec.layout = Layout::BSHD;
  spec.cuSeqlensQ = {0, 6, 13};
  spec.cuSeqlensK = {0, 4, 11};
  spec.maskKind = MaskKind::CausalBottomRight;
  EXPECT_TRUE(passesWithMutation(spec, [](AttentionBackwardOp) {}));
  EXPECT_FALSE(passesWithMutation(spec, [](AttentionBackwardOp op) {
    op.getCuSeqlensQMutable().clear();
    op.getCuSeqlensKMutable().clear();
  }));
}

TEST(BackwardHarness, UnmutatedRunPasses) {
  EXPECT_TRUE(passesWithMutation(baseSpec(), [](AttentionBackwardOp) {}));
}

} // namespace
