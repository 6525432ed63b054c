//===- NumericsTest.cpp - executed attn IR vs the float64 reference -------===//
//
// Part of attn-mlir. Every case builds attn.attention from a spec, lowers it
// through attn-to-cpu, JIT-runs it on random inputs and compares with the
// float64 reference under a tolerance derived from the formats involved
// (docs/Numerics.md). A lowering that drops any part of the semantics fails
// at least one of these cases.
//
//===----------------------------------------------------------------------===//

#include "NumericsHarness.h"
#include "attn/Execution/NumericCheck.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <iostream>
#include <string>

using namespace mlir;
using namespace mlir::attn;

namespace {

using harness::NumericCase;

/// A small GQA problem that every case starts from.
AttentionSpec baseSpec() {
  AttentionSpec s;
  s.batch = 2;
  s.numQueryHeads = 4;
  s.numKVHeads = 2;
  s.queryLength = 7;
  s.keyLength = 7;
  s.headDim = 32;
  s.elementType = ElementKind::F32;
  return s;
}

template <typename Fn>
NumericCase makeCase(std::string name, Fn edit, bool f64 = false) {
  AttentionSpec s = baseSpec();
  edit(s);
  return {std::move(name), s, f64};
}

std::vector<NumericCase> allCases() {
  std::vector<NumericCase> cases;
  auto add = [&](std::string name, auto edit, bool f64 = false) {
    cases.push_back(makeCase(std::move(name), edit, f64));
  };
  // Head layouts: MHA, GQA, MQA, and the BSHD memory layout.
  add("mha", [](AttentionSpec &s) { s.numKVHeads = 4; });
  add("gqa", [](AttentionSpec &) {});
  add("mqa", [](AttentionSpec &s) { s.numKVHeads = 1; });
  add("gqa_bshd", [](AttentionSpec &s) { s.layout = Layout::BSHD; });
  add("gqa_dv_differs", [](AttentionSpec &s) { s.valueHeadDim = 16; });
  // Lengths 1, 7, 63, 65, 257 and Lq != Lk in both directions.
  for (int64_t len : {1, 63, 65, 257})
    add("len_" + std::to_string(len), [len](AttentionSpec &s) {
      s.queryLength = s.keyLength = len;
      s.batch = 1;
    });
  add("lq_lt_lk", [](AttentionSpec &s) {
    s.queryLength = 5;
    s.keyLength = 65;
  });
  add("lq_gt_lk", [](AttentionSpec &s) {
    s.queryLength = 63;
    s.keyLength = 7;
  });
  // Head dims.
  for (int64_t d : {64, 80, 96, 128, 256})
    add("d_" + std::to_string(d), [d](AttentionSpec &s) {
      s.headDim = d;
      s.queryLength = s.keyLength = 33;
      s.batch = 1;
    });
  // Masks, with both length orders for the aligned kinds.
  for (auto [lq, lk] : {std::pair<int64_t, int64_t>{7, 7}, {5, 19}, {19, 5}}) {
    std::string suffix = "_" + std::to_string(lq) + "x" + std::to_string(lk);
    add("causal_top_left" + suffix, [lq = lq, lk = lk](AttentionSpec &s) {
      s.maskKind = MaskKind::CausalTopLeft;
      s.queryLength = lq;
      s.keyLength = lk;
      s.withLse = true;
    });
    // With Lq > Lk the first Lq - Lk rows see no key: output 0, LSE -inf.
    add("causal_bottom_right" + suffix, [lq = lq, lk = lk](AttentionSpec &s) {
      s.maskKind = MaskKind::CausalBottomRight;
      s.queryLength = lq;
      s.keyLength = lk;
      s.withLse = true;
    });
    add("sliding_window" + suffix, [lq = lq, lk = lk](AttentionSpec &s) {
      s.maskKind = MaskKind::SlidingWindow;
      s.windowLeft = 3;
      s.windowRight = 1;
      s.queryLength = lq;
      s.keyLength = lk;
      s.withLse = true;
    });
  }
  // Score modifiers and operands.
  add("explicit_scale", [](AttentionSpec &s) { s.scale = 0.3; });
  add("softcap", [](AttentionSpec &s) {
    s.softcap = 2.0;
    s.scale = 1.0;
  });
  add("alibi", [](AttentionSpec &s) {
    s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
    s.maskKind = MaskKind::CausalBottomRight;
  });
  add("bias", [](AttentionSpec &s) { s.withBias = true; });
  add("bool_mask", [](AttentionSpec &s) {
    s.withBoolMask = true;
    s.withLse = true;
  });
  add("score_mod", [](AttentionSpec &s) {
    s.scoreMod = ScoreModKind::RelativeBias;
    s.queryLength = s.keyLength = 40;
  });
  add("score_mod_tanh", [](AttentionSpec &s) {
    // Scale 1 (scores of a few units up to ~20) reaches the part of
    // 20 * tanh(s / 20) that is far from linear.
    s.scoreMod = ScoreModKind::TanhCap;
    s.scale = 1.0;
    s.queryLength = s.keyLength = 24;
  });
  add("mask_mod", [](AttentionSpec &s) {
    s.maskMod = MaskModKind::PrefixLM;
    s.queryLength = s.keyLength = 12;
    s.withLse = true;
  });
  add("everything", [](AttentionSpec &s) {
    s.softcap = 5.0;
    s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
    s.withBias = true;
    s.withBoolMask = true;
    s.scoreMod = ScoreModKind::RelativeBias;
    s.maskMod = MaskModKind::PrefixLM;
    // Window [i-6, i+2] intersected with prefix-LM (j <= i or j < 4) and a
    // random boolean mask leaves a few keys per row, some rows none.
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 6;
    s.windowRight = 2;
    s.queryLength = 23;
    s.keyLength = 23;
    s.withLse = true;
    s.layout = Layout::BSHD;
  });
  // Paged KV caches (pages in random order behind a block table): decode
  // and a chunked prefill against the cache.
  add("paged_decode", [](AttentionSpec &s) {
    s.queryLength = 1;
    s.keyLength = 64;
    s.pageSize = 16;
    s.withLse = true;
  });
  add("paged_chunked_prefill", [](AttentionSpec &s) {
    s.queryLength = 7;
    s.keyLength = 48;
    s.pageSize = 16;
    s.maskKind = MaskKind::CausalBottomRight;
    s.numKVHeads = 1;
  });
  // Per-sequence key lengths (a partly filled cache), including an empty
  // sequence: its rows give 0 and LSE -inf.
  add("key_lengths_decode", [](AttentionSpec &s) {
    s.batch = 3;
    s.queryLength = 1;
    s.keyLength = 40;
    s.keyLengths = {40, 17, 0};
    s.withLse = true;
  });
  add("key_lengths_chunked_causal", [](AttentionSpec &s) {
    s.batch = 2;
    s.queryLength = 5;
    s.keyLength = 33;
    s.keyLengths = {9, 33};
    s.maskKind = MaskKind::CausalBottomRight;
    s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
    s.withLse = true;
  });
  add("key_lengths_paged_window", [](AttentionSpec &s) {
    s.batch = 2;
    s.queryLength = 3;
    s.keyLength = 64;
    s.pageSize = 16;
    s.keyLengths = {50, 21};
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 12;
    s.windowRight = 0;
  });
  // attn.kv_append fused with the attention that reads the cache: a chunk
  // of 4 new tokens per sequence (chunked prefill) and one (decode).
  add("kv_append_chunked_prefill", [](AttentionSpec &s) {
    s.batch = 2;
    s.queryLength = 4;
    s.keyLength = 40;
    s.keyLengths = {23, 40};
    s.appendTokens = 4;
    s.maskKind = MaskKind::CausalBottomRight;
    s.withLse = true;
  });
  add("kv_append_decode", [](AttentionSpec &s) {
    s.batch = 3;
    s.queryLength = 1;
    s.keyLength = 33;
    s.keyLengths = {1, 20, 33};
    s.appendTokens = 1;
    s.numKVHeads = 1;
  });
  // Attention sinks (gpt-oss): one logit per head in every row's softmax
  // denominator. Values around the scores' size, so the sink takes a real
  // share of each row (a sink of 2 vs scores of O(1) takes most of it).
  const std::vector<double> sinks4 = {0.5, -1.0, 2.0, 0.0};
  add("sinks_mha", [&](AttentionSpec &s) {
    s.numKVHeads = 4;
    s.sinks = sinks4;
    s.withLse = true;
  });
  // Lq > Lk: the first rows see no key; with a sink they give 0 and an LSE
  // of the sink, not -inf.
  add("sinks_gqa_causal_19x5", [&](AttentionSpec &s) {
    s.maskKind = MaskKind::CausalBottomRight;
    s.queryLength = 19;
    s.keyLength = 5;
    s.sinks = sinks4;
    s.withLse = true;
  });
  add("sinks_gqa_window_5x19", [&](AttentionSpec &s) {
    s.maskKind = MaskKind::SlidingWindow;
    s.windowLeft = 3;
    s.windowRight = 1;
    s.queryLength = 5;
    s.keyLength = 19;
    s.sinks = sinks4;
    s.withLse = true;
  });
  // A tensor-parallel shard reads the sinks of its global heads 4..7.
  add("sinks_head_shard_alibi", [&](AttentionSpec &s) {
    s.headOffset = 4;
    s.numHeadsTotal = 8;
    s.sinks = {9.0, 9.0, 9.0, 9.0, 0.5, -1.0, 2.0, 0.0};
    s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625, 0.5, 0.25, 0.125, 0.0625};
    s.maskKind = MaskKind::CausalBottomRight;
    s.withLse = true;
  });
  // Decode with an empty sequence: its rows are the sink alone.
  add("sinks_key_lengths_decode", [&](AttentionSpec &s) {
    s.batch = 3;
    s.queryLength = 1;
    s.keyLength = 40;
    s.keyLengths = {40, 17, 0};
    s.sinks = sinks4;
    s.withLse = true;
  });
  add(
      "f64acc_sinks_causal",
      [&](AttentionSpec &s) {
        s.maskKind = MaskKind::CausalBottomRight;
        s.queryLength = 13;
        s.keyLength = 29;
        s.sinks = sinks4;
        s.withLse = true;
      },
      /*f64=*/true);
  // Input precisions: f16 and bf16 in, f32 accumulation, output rounded.
  for (ElementKind kind : {ElementKind::F16, ElementKind::BF16}) {
    std::string k(stringifyElementKind(kind));
    add(k + "_gqa", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.queryLength = s.keyLength = 65;
      s.headDim = 128;
      s.batch = 1;
      s.withLse = true;
    });
    add(k + "_causal_mqa", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.numKVHeads = 1;
      s.maskKind = MaskKind::CausalBottomRight;
      s.queryLength = 7;
      s.keyLength = 63;
      s.headDim = 64;
    });
    add(k + "_paged_window", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.queryLength = 5;
      s.keyLength = 96;
      s.pageSize = 32;
      s.maskKind = MaskKind::SlidingWindow;
      s.windowLeft = 40;
      s.windowRight = 0;
    });
    add(k + "_sinks_causal", [kind, &sinks4](AttentionSpec &s) {
      s.elementType = kind;
      s.maskKind = MaskKind::CausalBottomRight;
      s.queryLength = 9;
      s.keyLength = 33;
      s.headDim = 64;
      s.sinks = sinks4;
      s.withLse = true;
    });
    add(k + "_bias_softcap", [kind](AttentionSpec &s) {
      s.elementType = kind;
      s.withBias = true;
      s.softcap = 3.0;
    });
  }
  // f64 accumulation: the tolerance shrinks to the output rounding, so any
  // semantic slip (an off-by-one mask, a wrong head) is far outside it.
  add(
      "f64acc_gqa_causal",
      [](AttentionSpec &s) {
        s.maskKind = MaskKind::CausalBottomRight;
        s.queryLength = 13;
        s.keyLength = 29;
        s.withLse = true;
      },
      /*f64=*/true);
  add(
      "f64acc_everything",
      [](AttentionSpec &s) {
        s.softcap = 5.0;
        s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
        s.withBias = true;
        s.maskKind = MaskKind::SlidingWindow;
        s.windowLeft = 4;
        s.windowRight = 4;
        s.withLse = true;
      },
      /*f64=*/true);
  // Varlen decode over per-sequence caches: packed queries (an empty
  // sequence, one token, speculative steps) over caches filled to their
  // key lengths (0, 1, full, off the pages), bottom-right aligned at each
  // sequence's key length; the tiled variants tile the op directly (splits
  // merge at the packed rows).
  auto caches = [](AttentionSpec &s) {
    s.batch = 1;
    s.layout = Layout::BSHD;
    s.cuSeqlensQ = {0, 1, 1, 4, 6, 7};
    s.keyLengths = {20, 5, 32, 0, 1};
    s.queryLength = 7;
    s.keyLength = 32;
    s.withLse = true;
  };
  add("varlen_paged_caches_causal", [caches](AttentionSpec &s) {
    caches(s);
    s.pageSize = 8;
    s.maskKind = MaskKind::CausalBottomRight;
  });
  add(
      "f64acc_varlen_caches_window",
      [caches](AttentionSpec &s) {
        caches(s);
        s.keyLengths = {20, 5, 32, 3, 17};
        s.maskKind = MaskKind::SlidingWindow;
        s.windowLeft = 6;
        s.windowRight = 0;
      },
      /*f64=*/true);
  // One shared K/V cache (MLA latent decode): V is the first Dv columns of
  // K's rows (attn.kv_prefix), the entry has no V operand and the reference
  // reads V from K. MQA with a few speculative rows, a paged GQA decode and
  // varlen decode over paged latent caches.
  add("shared_kv_mqa_spec_decode", [](AttentionSpec &s) {
    s.numQueryHeads = 8;
    s.numKVHeads = 1;
    s.headDim = 72;
    s.valueHeadDim = 64;
    s.batch = 2;
    s.queryLength = 2;
    s.keyLength = 40;
    s.keyLengths = {40, 23};
    s.maskKind = MaskKind::CausalBottomRight;
    s.sharedKV = true;
    s.withLse = true;
  });
  add("shared_kv_paged_gqa", [](AttentionSpec &s) {
    s.numKVHeads = 2;
    s.headDim = 48;
    s.valueHeadDim = 32;
    s.queryLength = 1;
    s.keyLength = 64;
    s.pageSize = 16;
    s.sharedKV = true;
    s.withLse = true;
  });
  add("shared_kv_varlen_paged_caches", [caches](AttentionSpec &s) {
    caches(s);
    s.numQueryHeads = 8;
    s.numKVHeads = 1;
    s.headDim = 40;
    s.valueHeadDim = 32;
    s.pageSize = 8;
    s.maskKind = MaskKind::CausalBottomRight;
    s.sharedKV = true;
  });
  // f64 operands (float64 gradient checks): lowered whole and computed in
  // f64 without the option; inputs and output are exact f64, so only the
  // f64 accumulation and the f32 LSE store are in the tolerance.
  add(
      "f64_gqa_softcap_alibi_bias_window",
      [](AttentionSpec &s) {
        s.elementType = ElementKind::F64;
        s.softcap = 5.0;
        s.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
        s.withBias = true;
        s.maskKind = MaskKind::SlidingWindow;
        s.windowLeft = 4;
        s.windowRight = 1;
        s.withLse = true;
      },
      /*f64=*/true);
  return cases;
}

class NumericsTest : public ::testing::TestWithParam<NumericCase> {};

TEST_P(NumericsTest, MatchesFloat64Reference) {
  const NumericCase &c = GetParam();
  MLIRContext ctx;
  NumericCheckOptions options;
  options.accumulateInF64 = c.accumulateInF64;
  auto report = checkAgainstReference(ctx, c.spec, options);
  ASSERT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  EXPECT_TRUE(report->passed()) << c.spec.describe() << "\n"
                                << report->summary();
  std::cout << "  " << c.spec.describe() << ": " << report->summary() << "\n";
  // The case must not be vacuous (e.g. every key masked) and the tolerance
  // must stay far below the O(0.1..1) size of the outputs.
  EXPECT_GT(report->maxReferenceMagnitude, 0.05) << c.spec.describe();
  EXPECT_LT(report->outputTolerance, 0.05) << c.spec.describe();
}

INSTANTIATE_TEST_SUITE_P(Reference, NumericsTest,
                         ::testing::ValuesIn(allCases()),
                         [](const auto &info) { return info.param.name; });

//===----------------------------------------------------------------------===//
// The FlashAttention pipeline (tiling, online softmax, precision) on every
// reference case, with tile shapes that do not divide the lengths.
//===----------------------------------------------------------------------===//

struct PipelineVariant {
  std::string name;
  AttnTileOptions tile;
  bool fuse = false;
  bool lowerPrecision = false;
};
void PrintTo(const PipelineVariant &v, std::ostream *os) { *os << v.name; }

std::vector<PipelineVariant> pipelineVariants() {
  auto tile = [](int64_t m, int64_t n, bool pack = true, int64_t splits = 1,
                 bool skip = true) {
    AttnTileOptions o;
    o.blockM = m;
    o.blockN = n;
    o.packGqa = pack;
    o.numSplits = splits;
    o.skipMaskedBlocks = skip;
    return o;
  };
  return {
      {"tiled_m16_n16", tile(16, 16), false, false},
      {"fused_m32_n16", tile(32, 16), true, false},
      {"flash_m16_n32", tile(16, 32), true, true},
      {"split3_unpacked_m8_n8", tile(8, 8, false, 3), true, true},
      {"dense_m16_n8", tile(16, 8, true, 1, false), true, false},
  };
}

using TiledParam = std::tuple<NumericCase, PipelineVariant>;
class TiledNumericsTest : public ::testing::TestWithParam<TiledParam> {};

TEST_P(TiledNumericsTest, MatchesFloat64Reference) {
  const NumericCase &c = std::get<0>(GetParam());
  const PipelineVariant &variant = std::get<1>(GetParam());
  MLIRContext ctx;
  NumericCheckOptions options;
  // Tiles always accumulate in f32; P is rounded when precision is lowered.
  options.roundedP = variant.lowerPrecision;
  options.prePipeline = [&](OpPassManager &pm) {
    pm.addPass(createAttnTile(variant.tile));
    if (variant.fuse)
      pm.addPass(createAttnFuseOnlineSoftmax());
    if (variant.lowerPrecision)
      pm.addPass(createAttnLowerPrecision());
  };
  auto report = checkAgainstReference(ctx, c.spec, options);
  ASSERT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  EXPECT_TRUE(report->passed())
      << c.spec.describe() << " via " << variant.name << "\n"
      << report->summary();
  EXPECT_GT(report->maxReferenceMagnitude, 0.05) << c.spec.describe();
}

std::string tiledName(const ::testing::TestParamInfo<TiledParam> &info) {
  return std::get<0>(info.param).name + "_" + std::get<1>(info.param).name;
}

/// attn-tile refuses f64 operands (they are lowered whole).
std::vector<NumericCase> tileableCases() {
  std::vector<NumericCase> cases;
  for (NumericCase &c : allCases())
    if (c.spec.elementType != ElementKind::F64)
      cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Flash, TiledNumericsTest,
    ::testing::Combine(::testing::ValuesIn(tileableCases()),
                       ::testing::ValuesIn(pipelineVariants())),
    tiledName);

/// The check with every AttentionOp rewritten first (the reference keeps the
/// spec's semantics): whether it still passed.
static bool passesWithMutation(const AttentionSpec &spec,
                               std::function<void(AttentionOp)> mutate) {
  return harness::passesWithMutationOf<AttentionOp>(spec, std::move(mutate));
}

// The harness must be able to fail: each mutation models a lowering bug.
TEST(NumericsHarness, DetectsDroppedScale) {
  EXPECT_FALSE(passesWithMutation(baseSpec(), [](AttentionOp op) {
    op.setScaleAttr(Builder(op.getContext()).getF64FloatAttr(1.0));
  }));
}

TEST(NumericsHarness, DetectsWrongCausalAlignment) {
  AttentionSpec spec = baseSpec();
  spec.maskKind = MaskKind::CausalBottomRight;
  spec.queryLength = 5;
  spec.keyLength = 9;
  EXPECT_FALSE(passesWithMutation(
      spec, [](AttentionOp op) { op.setMaskKind(MaskKind::CausalTopLeft); }));
}

//===----------------------------------------------------------------------===//
// f32-compute on the CPU: attn-round-f32-inputs (the GPU path's opt-in)
// rounds an f32 attn.attention's Q, K and V to bf16 or f16 and widens its O.
// Its result must be as accurate as a call in that type on the rounded
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

TEST(NumericsHarness, DetectsOffByOneWindow) {
  AttentionSpec spec = baseSpec();
  spec.maskKind = MaskKind::SlidingWindow;
  spec.windowLeft = 2;
  spec.windowRight = 0;
  EXPECT_FALSE(passesWithMutation(spec, [](AttentionOp op) {
    op.setWindow(ArrayRef<int64_t>{3, 0});
  }));
}

TEST(NumericsHarness, DetectsDroppedSinks) {
  AttentionSpec spec = baseSpec();
  spec.sinks = {0.5, -1.0, 2.0, 0.0};
  spec.withLse = true;
  EXPECT_FALSE(passesWithMutation(
      spec, [](AttentionOp op) { op.getSinksMutable().clear(); }));
}

// A shard must read its global heads' sinks, not the first ones.
TEST(NumericsHarness, DetectsSinksOfTheWrongHeads) {
  AttentionSpec spec = baseSpec();
  spec.headOffset = 4;
  spec.numHeadsTotal = 8;
  spec.sinks = {2.0, -1.0, 0.5, 3.0, 0.5, -1.0, 2.0, 0.0};
  spec.withLse = true;
  EXPECT_FALSE(passesWithMutation(spec, [](AttentionOp op) {
    op.setHeadOffsetAttr(Builder(op.getContext()).getI64IntegerAttr(0));
  }));
}

// A shared K/V cache read from the wrong columns (the last Dv, where MLA
// keeps the rotary dims) must fail against the reference.
TEST(NumericsHarness, DetectsSharedValueFromTheWrongColumns) {
  AttentionSpec spec = baseSpec();
  spec.numKVHeads = 1;
  spec.headDim = 24;
  spec.valueHeadDim = 16;
  spec.sharedKV = true;
  EXPECT_FALSE(passesWithMutation(spec, [](AttentionOp op) {
    OpBuilder b(op);
    int64_t d = op.getHeadDim(), dv = op.getValueHeadDim();
    SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0)), sizes;
    offsets[3] = b.getIndexAttr(d - dv);
    for (int64_t extent : op.getValueType().getShape())
      sizes.push_back(b.getIndexAttr(extent));
    Value slice = tensor::ExtractSliceOp::create(
        b, op.getLoc(), op.getValueType(), op.getKey(), offsets, sizes,
        SmallVector<OpFoldResult>(4, b.getIndexAttr(1)));
    op.getValueMutable().assign(slice);
  }));
}

TEST(NumericsHarness, UnmutatedRunPasses) {
  EXPECT_TRUE(passesWithMutation(baseSpec(), [](AttentionOp) {}));
}

} // namespace
