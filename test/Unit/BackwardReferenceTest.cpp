//===- BackwardReferenceTest.cpp - the float64 backward vs finite differences //
//
// Part of attn-mlir. The backward reference is checked against central
// finite differences of the forward reference: with L = sum(dO * O(Q, K, V,
// bias)) (+ sum(grad_lse * lse) where the loss reads the LSE), dL/dx ~ (L(x +
// h) - L(x - h)) / 2h for every input element x, on small shapes of every
// variant. Both sides are float64 and independent (the forward never
// differentiates), so agreement to ~1e-7 checks the chain rule through masks,
// softcap, ALiBi, score_mod and GQA.
//
//===----------------------------------------------------------------------===//

#include "attn/Reference/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

using namespace mlir;
using namespace mlir::attn;

namespace {

struct FDCase {
  std::string name;
  AttentionSpec spec;
};
void PrintTo(const FDCase &c, std::ostream *os) { *os << c.name; }

AttentionSpec tinySpec() {
  AttentionSpec s;
  s.batch = 2;
  s.numQueryHeads = 4;
  s.numKVHeads = 2;
  s.queryLength = 5;
  s.keyLength = 6;
  s.headDim = 4;
  s.valueHeadDim = 3;
  s.elementType = ElementKind::F32;
  return s;
}

std::vector<FDCase> fdCases() {
  std::vector<FDCase> cases;
  auto add = [&](std::string name, std::function<void(AttentionSpec &)> edit) {
    AttentionSpec s = tinySpec();
    edit(s);
    cases.push_back({std::move(name), s});
  };
  add("gqa", [](AttentionSpec &) {});
  add("mha", [](AttentionSpec &s) { s.numKVHeads = 4; });
  add("mqa_bshd", [](AttentionSpec &s) {
    s.numKVHeads = 1;
    s.layout = Layout::BSHD;
  });
  add("causal_top_left", [](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalTopLeft;
  });
  // Lq > Lk: the first rows see no key (zero gradients, LSE -inf).
  add("causal_bottom_right_masked_rows", [](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalBottomRight;
    s.queryLength = 7;
    s.keyLength = 4;
  });
  add("sliding_window", [](AttentionSpec &s) {
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 2;
    s.windowRight = 1;
  });
  add("softcap", [](AttentionSpec &s) {
    s.softcap = 1.5;
    s.scale = 1.0;
  });
  add("alibi", [](AttentionSpec &s) {
    s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
  });
  add("bias", [](AttentionSpec &s) { s.withBias = true; });
  add("bool_mask", [](AttentionSpec &s) { s.withBoolMask = true; });
  add("score_mod_relative_bias",
      [](AttentionSpec &s) { s.scoreMod = ScoreModKind::RelativeBias; });
  add("score_mod_tanh_cap", [](AttentionSpec &s) {
    s.scoreMod = ScoreModKind::TanhCap;
    s.scale = 4.0; // scores of ~10-30, where 20 tanh(s / 20) bends
  });
  add("mask_mod", [](AttentionSpec &s) { s.maskMod = MaskModKind::PrefixLM; });
  add("key_lengths", [](AttentionSpec &s) {
    s.keyLengths = {3, 0};
    s.maskKind = MaskKind::CausalBottomRight;
  });
  // Sinks: d loss / d sink through the denominator only; rows of the sink
  // alone (Lq > Lk, bottom-right) included.
  add("sinks", [](AttentionSpec &s) { s.sinks = {0.5, -1.0, 2.0, 0.0}; });
  add("sinks_causal_masked_rows", [](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalBottomRight;
    s.queryLength = 7;
    s.keyLength = 4;
    s.sinks = {0.5, -1.0, 2.0, 0.0};
  });
  // The loss reads the LSE too (withLseGradient); rows that see no key
  // (LSE -inf) are left out of it.
  add("lse_grad", [](AttentionSpec &s) { s.withLseGradient = true; });
  add("lse_grad_sinks_causal_masked_rows", [](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalBottomRight;
    s.queryLength = 7;
    s.keyLength = 4;
    s.sinks = {0.5, -1.0, 2.0, 0.0};
    s.withLseGradient = true;
  });
  add("lse_grad_softcap_alibi_window", [](AttentionSpec &s) {
    s.softcap = 2.0;
    s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 1;
    s.windowRight = 1;
    s.withLseGradient = true;
  });
  add("everything", [](AttentionSpec &s) {
    s.softcap = 2.0;
    s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
    s.withBias = true;
    s.withBoolMask = true;
    s.scoreMod = ScoreModKind::TanhCap;
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 3;
    s.windowRight = 2;
    s.keyLengths = {6, 4};
    s.sinks = {1.0, -0.5, 0.25, 1.5};
  });
  return cases;
}

std::vector<double> normal(std::mt19937_64 &rng, size_t n) {
  std::normal_distribution<double> dist(0.0, 1.0);
  std::vector<double> v(n);
  for (double &x : v)
    x = dist(rng);
  return v;
}

size_t count(llvm::ArrayRef<int64_t> shape) {
  size_t n = 1;
  for (int64_t e : shape)
    n *= e;
  return n;
}

double loss(const AttentionSpec &spec, const ReferenceInputs &in) {
  ReferenceResult r = referenceAttention(spec, in);
  double l = 0.0;
  for (size_t i = 0; i < r.output.size(); ++i)
    l += in.gradOutput[i] * r.output[i];
  if (spec.withLseGradient)
    for (size_t i = 0; i < r.lse.size(); ++i)
      if (std::isfinite(r.lse[i]))
        l += in.gradLse[i] * r.lse[i];
  return l;
}

class BackwardReferenceTest : public ::testing::TestWithParam<FDCase> {};

TEST_P(BackwardReferenceTest, MatchesFiniteDifferences) {
  // A copy: the sinks are perturbed in the spec itself.
  AttentionSpec spec = GetParam().spec;
  std::mt19937_64 rng(0xbac4);
  ReferenceInputs in;
  in.query = normal(rng, count(spec.queryShape()));
  in.key = normal(rng, count(spec.keyShape()));
  in.value = normal(rng, count(spec.valueShape()));
  if (spec.withBias)
    in.bias = normal(rng, count(spec.scoreShape()));
  if (spec.withBoolMask) {
    std::bernoulli_distribution keep(0.7);
    in.boolMask.resize(count(spec.scoreShape()));
    for (uint8_t &m : in.boolMask)
      m = keep(rng);
  }
  in.gradOutput = normal(rng, count(spec.outputShape()));
  if (spec.withLseGradient)
    in.gradLse = normal(rng, count(spec.lseShape()));
  ReferenceResult fwd = referenceAttention(spec, in);
  in.output = fwd.output;
  in.lse = fwd.lse;
  ReferenceGradients grads = referenceAttentionBackward(spec, in);

  const double h = 1e-6;
  double worst = 0.0, largest = 0.0;
  auto check = [&](std::vector<double> &x, const std::vector<double> &grad,
                   const char *name) {
    ASSERT_EQ(x.size(), grad.size()) << name;
    for (size_t e = 0; e < x.size(); ++e) {
      double saved = x[e];
      x[e] = saved + h;
      double up = loss(spec, in);
      x[e] = saved - h;
      double down = loss(spec, in);
      x[e] = saved;
      double fd = (up - down) / (2 * h);
      ASSERT_FALSE(std::isnan(grad[e])) << name << "[" << e << "]";
      EXPECT_NEAR(grad[e], fd, 1e-7 * (1.0 + std::fabs(fd)))
          << name << "[" << e << "] of " << spec.describe();
      worst = std::max(worst, std::fabs(grad[e] - fd));
      largest = std::max(largest, std::fabs(fd));
    }
  };
  check(in.query, grads.query, "dQ");
  check(in.key, grads.key, "dK");
  check(in.value, grads.value, "dV");
  if (spec.withBias)
    check(in.bias, grads.bias, "d_bias");
  if (!spec.sinks.empty())
    check(spec.sinks, grads.sinks, "d_sinks");
  // Not vacuous: the gradients are of order one.
  EXPECT_GT(largest, 0.1) << spec.describe();
  std::cout << "  " << spec.describe() << ": max |grad - fd| = " << worst
            << " (max |fd| = " << largest << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Reference, BackwardReferenceTest,
                         ::testing::ValuesIn(fdCases()),
                         [](const auto &info) { return info.param.name; });

// Rows that see no key have zero gradients everywhere they touch.
TEST(BackwardReference, FullyMaskedRowsGiveZeroGradients) {
  AttentionSpec spec = tinySpec();
  spec.keyLengths = {0, 0};
  std::mt19937_64 rng(1);
  ReferenceInputs in;
  in.query = normal(rng, count(spec.queryShape()));
  in.key = normal(rng, count(spec.keyShape()));
  in.value = normal(rng, count(spec.valueShape()));
  in.gradOutput = normal(rng, count(spec.outputShape()));
  ReferenceResult fwd = referenceAttention(spec, in);
  in.output = fwd.output;
  in.lse = fwd.lse;
  ReferenceGradients g = referenceAttentionBackward(spec, in);
  for (const std::vector<double> *v : {&g.query, &g.key, &g.value})
    for (double x : *v)
      EXPECT_EQ(x, 0.0);
}

} // namespace
