//===- RuntimeLengthsTest.cpp - dynamic dims in the manifest and runtime --===//
//
// Part of attn-mlir. A kernel over dynamic dims (B, Lq, Lk; a varlen
// kernel's packed totals and N1 = N + 1) takes them as
// Length arguments: its manifest names the length of every dynamic dim, the
// runtime binds each from the tensors passed (checking that they agree,
// that each is in [1, 2^31 - 1] and every tensor under 2^40 bytes) and
// computes the grid from the grid formula. No GPU.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Manifest.h"

#include <gtest/gtest.h>

using namespace attn::runtime;

namespace {

/// Appends one argument to `m` (length arguments: 4-byte alignment, as the
/// writer gives them).
void addArgument(Manifest &m, const char *name, const char *dtype,
                 std::vector<int64_t> shape, ArgumentRole role,
                 std::vector<std::string> symbols = {}) {
  ManifestArgument a;
  a.name = name;
  a.dtype = dtype;
  a.shape = std::move(shape);
  a.role = role;
  a.dimSymbols = std::move(symbols);
  if (role == ArgumentRole::Length)
    a.alignment = 4;
  m.arguments.push_back(a);
}

/// The manifest convert-attn-to-nvvm writes for a prefill kernel over
/// dynamic B, Lq and Lk (GQA 8/2, D = 128, block-m 128).
Manifest dynamicPrefill() {
  Manifest m;
  m.symbol = "attention_kernel";
  m.chip = "sm_80";
  m.family = "prefill";
  m.grid = {0, 0, 1};
  m.block = {128, 1, 1};
  m.gridFormula = "[ceil(Lq / block_m), B * Hq, 1]";
  m.sharedMemoryBytes = 98304;
  m.tuning.blockM = 128;
  m.tuning.blockN = 64;
  m.tuning.numWarps = 4;
  addArgument(m, "q", "bf16", {-1, 8, -1, 128}, ArgumentRole::Input,
              {"B", "", "Lq", ""});
  addArgument(m, "k", "bf16", {-1, 2, -1, 128}, ArgumentRole::Input,
              {"B", "", "Lk", ""});
  addArgument(m, "v", "bf16", {-1, 2, -1, 128}, ArgumentRole::Input,
              {"B", "", "Lk", ""});
  addArgument(m, "o", "bf16", {-1, 8, -1, 128}, ArgumentRole::Output,
              {"B", "", "Lq", ""});
  addArgument(m, "B", "i32", {}, ArgumentRole::Length);
  addArgument(m, "Lq", "i32", {}, ArgumentRole::Length);
  addArgument(m, "Lk", "i32", {}, ArgumentRole::Length);
  AttentionInfo a;
  a.mask = "causal_bottom_right";
  a.scale = 0.08838834764831845;
  a.queryDtype = a.keyDtype = a.valueDtype = a.outputDtype = "bf16";
  a.batch = a.seqQ = a.seqK = -1;
  a.headsQ = 8;
  a.headsKV = 2;
  a.headDim = a.valueHeadDim = 128;
  m.attention = a;
  return m;
}

/// Q, K, V, O of B sequences of Lq queries and Lk keys.
std::vector<TensorArg> tensors(int64_t b, int64_t lq, int64_t lk) {
  return {{0x1000, "bf16", {b, 8, lq, 128}},
          {0x2000, "bf16", {b, 2, lk, 128}},
          {0x3000, "bf16", {b, 2, lk, 128}},
          {0x4000, "bf16", {b, 8, lq, 128}}};
}

void expectMismatch(const std::vector<TensorArg> &args,
                    const std::string &needle) {
  Status s = checkArguments(dynamicPrefill(), args);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(static_cast<int>(s.code),
            static_cast<int>(ErrorCode::ArgumentMismatch));
  EXPECT_NE(s.message.find(needle), std::string::npos)
      << "message: " << s.message << "\nexpected: " << needle;
}

} // namespace

TEST(RuntimeLengths, ManifestRoundTripsWithDimSymbols) {
  Manifest m = dynamicPrefill();
  std::string json = writeManifestJson(m);
  EXPECT_NE(json.find("\"dim_symbols\": [\"B\", \"\", \"Lq\", \"\"]"),
            std::string::npos)
      << json;
  Manifest back;
  Status s = parseManifest(json, back);
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ(writeManifestJson(back), json);
  EXPECT_TRUE(back.hasRuntimeLengths());
  EXPECT_EQ(back.arguments[0].dimSymbols, m.arguments[0].dimSymbols);
  EXPECT_EQ(back.arguments[4].role, ArgumentRole::Length);
  EXPECT_EQ(back.attention->seqK, -1);
}

TEST(RuntimeLengths, TheReaderRefusesInconsistentDynamicShapes) {
  auto refused = [](Manifest m, const std::string &needle) {
    Manifest out;
    Status s = parseManifest(writeManifestJson(m), out);
    EXPECT_FALSE(s.ok);
    EXPECT_NE(s.message.find(needle), std::string::npos) << s.message;
  };
  Manifest m = dynamicPrefill();
  m.arguments[0].dimSymbols.clear(); // -1 without a name
  refused(m, "dim_symbols");
  m = dynamicPrefill();
  m.arguments[1].dimSymbols[2] = "Lx"; // names no length argument
  refused(m, "'Lx' to name a length argument");
  m = dynamicPrefill();
  m.arguments[4].dtype = "i64";
  refused(m, "an i32 of shape []");
  m = dynamicPrefill();
  m.gridFormula.clear();
  refused(m, "grid_formula");
  // A grid computed at launch needs lengths to compute it from.
  m = dynamicPrefill();
  m.arguments.resize(4);
  for (ManifestArgument &a : m.arguments) {
    a.dimSymbols.clear();
    a.shape = {2, a.shape[1], 64, 128};
  }
  refused(m, "0: computed at launch");
}

TEST(RuntimeLengths, OneKernelBindsEveryLength) {
  Manifest m = dynamicPrefill();
  for (auto [b, lq, lk] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                           {3, 100, 77},
                           {2, 1000, 4097}}) {
    RuntimeLengthValues lengths;
    Status s = checkArguments(m, tensors(b, lq, lk), &lengths);
    ASSERT_TRUE(s.ok) << s.message;
    EXPECT_EQ(lengths.get("B"), b);
    EXPECT_EQ(lengths.get("Lq"), lq);
    EXPECT_EQ(lengths.get("Lk"), lk);
    // grid = [ceil(Lq / 128), B * 8, 1].
    std::array<int64_t, 3> grid;
    s = launchGrid(m, lengths, grid);
    ASSERT_TRUE(s.ok) << s.message;
    EXPECT_EQ(grid[0], (lq + 127) / 128);
    EXPECT_EQ(grid[1], b * 8);
    EXPECT_EQ(grid[2], 1);
  }
}

TEST(RuntimeLengths, DisagreeingOrBadLengthsAreRefused) {
  std::vector<TensorArg> args = tensors(3, 100, 77);
  args[1].shape[0] = 2; // K's B is not Q's
  expectMismatch(args, "expected B = 3 as in the arguments before it, got 2");
  args = tensors(3, 100, 77);
  args[2].shape[2] = 76; // V's Lk is not K's
  expectMismatch(args, "argument 'v': expected Lk = 77");
  args = tensors(3, 100, 77);
  args[3].shape[2] = 99; // O's Lq is not Q's
  expectMismatch(args, "argument 'o': expected Lq = 100");
  args = tensors(3, 100, 77);
  args[1].shape[1] = 4; // a static dim
  expectMismatch(args, "expected shape [-1, 2, -1, 128]");
  expectMismatch(tensors(3, 0, 77), "a runtime length in [1, 2^31 - 1]");
  expectMismatch(tensors(3, int64_t(1) << 31, 77), "[1, 2^31 - 1]");
  // 64 x 8 x 2^28 x 128 bf16 = 2^43 bytes.
  expectMismatch(tensors(64, int64_t(1) << 28, 77), "under 2^40 bytes");
  args = tensors(3, 100, 77);
  args.pop_back();
  expectMismatch(args, "expected 4 arguments (q, k, v, o), got 3");
}

TEST(RuntimeLengths, GridFormulas) {
  Manifest m = dynamicPrefill();
  RuntimeLengthValues lengths;
  lengths.values = {{"B", 5}, {"Lq", 129}, {"Lk", 7}};
  std::array<int64_t, 3> grid;
  ASSERT_TRUE(evaluateGridFormula(m, lengths, grid).ok);
  EXPECT_EQ(grid, (std::array<int64_t, 3>{2, 40, 1}));
  // The decode family's formula, names from the tuning and the attention.
  m.gridFormula = "[num_splits, B * Hkv, 1]";
  m.tuning.numSplits = 6;
  ASSERT_TRUE(evaluateGridFormula(m, lengths, grid).ok);
  EXPECT_EQ(grid, (std::array<int64_t, 3>{6, 10, 1}));
  // Floor division outside ceil(), parentheses, + and -.
  m.gridFormula = "[(Lk + 1) / 2, ceil(Lq / 64) - 1, 2 * (B - 4)]";
  ASSERT_TRUE(evaluateGridFormula(m, lengths, grid).ok);
  EXPECT_EQ(grid, (std::array<int64_t, 3>{4, 2, 2}));
  for (const char *bad : {"[Lq, B]", "[ceil(Lq / 0), 1, 1]", "[X, 1, 1]",
                          "[1, 1, 1] extra", "[1, (2, 1]"}) {
    m.gridFormula = bad;
    Status s = evaluateGridFormula(m, lengths, grid);
    EXPECT_FALSE(s.ok) << bad;
    EXPECT_EQ(static_cast<int>(s.code),
              static_cast<int>(ErrorCode::InvalidArgument));
  }
  // Past the CUDA grid limits at launch: grid.y <= 65535.
  m = dynamicPrefill();
  lengths.values = {{"B", 9000}, {"Lq", 1}, {"Lk", 1}};
  Status s = launchGrid(m, lengths, grid);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("grid[1] = 72000"), std::string::npos)
      << s.message;
}

TEST(RuntimeLengths, ADynamicKernelComputesEveryLength) {
  Manifest m = dynamicPrefill();
  AttentionInfo asked = *m.attention;
  asked.batch = 3;
  asked.seqQ = 100;
  asked.seqK = 77;
  EXPECT_TRUE(checkAttention(m, asked).ok);
  asked.headsKV = 4; // static extents still have to match
  Status s = checkAttention(m, asked);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("computes heads_kv 2, expected 4"),
            std::string::npos)
      << s.message;
}

TEST(RuntimeLengths, StaticKernelsKeepTheirGrid) {
  Manifest m = dynamicPrefill();
  m.arguments.resize(4);
  for (ManifestArgument &a : m.arguments) {
    a.dimSymbols.clear();
    a.shape = {2, a.shape[1], 64, 128};
  }
  m.grid = {1, 16, 1};
  RuntimeLengthValues lengths;
  std::vector<TensorArg> args = tensors(2, 64, 64);
  ASSERT_TRUE(checkArguments(m, args, &lengths).ok);
  EXPECT_TRUE(lengths.values.empty());
  std::array<int64_t, 3> grid;
  ASSERT_TRUE(launchGrid(m, lengths, grid).ok);
  EXPECT_EQ(grid, m.grid);
  args[0].shape[2] = 65;
  EXPECT_FALSE(checkArguments(m, args).ok);
}

/// The manifest convert-attn-to-nvvm writes for a varlen prefill kernel
/// over dynamic packed totals and N (MHA 16, D = 128, block-m 128, no LSE;
/// docs/Runtime.md "Varlen kernels").
static Manifest varlenPrefill() {
  Manifest m = dynamicPrefill();
  m.gridFormula = "[ceil(Lq / block_m) + N1 - 1, Hq, 1]";
  m.arguments.clear();
  addArgument(m, "q", "bf16", {1, -1, 16, 128}, ArgumentRole::Input,
              {"", "Lq", "", ""});
  addArgument(m, "k", "bf16", {1, -1, 16, 128}, ArgumentRole::Input,
              {"", "Lk", "", ""});
  addArgument(m, "v", "bf16", {1, -1, 16, 128}, ArgumentRole::Input,
              {"", "Lk", "", ""});
  addArgument(m, "cu_seqlens_q", "i32", {-1}, ArgumentRole::Input, {"N1"});
  addArgument(m, "cu_seqlens_k", "i32", {-1}, ArgumentRole::Input, {"N1"});
  addArgument(m, "o", "bf16", {1, -1, 16, 128}, ArgumentRole::Output,
              {"", "Lq", "", ""});
  addArgument(m, "Lq", "i32", {}, ArgumentRole::Length);
  addArgument(m, "Lk", "i32", {}, ArgumentRole::Length);
  addArgument(m, "N1", "i32", {}, ArgumentRole::Length);
  m.attention->layout = "bshd";
  m.attention->batch = 1;
  m.attention->headsQ = m.attention->headsKV = 16;
  return m;
}

TEST(RuntimeLengths, AVarlenKernelBindsItsTotalsAndSequenceCount) {
  Manifest m = varlenPrefill();
  Manifest parsed;
  ASSERT_TRUE(parseManifest(writeManifestJson(m), parsed).ok);
  // 5 sequences, Tq = 4402, Tk = 4500: the offsets' extent binds N1 = 6,
  // the grid is ceil(4402 / 128) + 6 - 1 = 40 CTAs along x (every
  // sequence's query blocks plus at most one idle CTA each), Hq along y.
  auto args = [](int64_t tq, int64_t tk, int64_t nq, int64_t nk) {
    return std::vector<TensorArg>{{0x1000, "bf16", {1, tq, 16, 128}},
                                  {0x2000, "bf16", {1, tk, 16, 128}},
                                  {0x3000, "bf16", {1, tk, 16, 128}},
                                  {0x4000, "i32", {nq}},
                                  {0x5000, "i32", {nk}},
                                  {0x6000, "bf16", {1, tq, 16, 128}}};
  };
  RuntimeLengthValues lengths;
  Status s = checkArguments(parsed, args(4402, 4500, 6, 6), &lengths);
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ(lengths.get("Lq"), 4402);
  EXPECT_EQ(lengths.get("Lk"), 4500);
  EXPECT_EQ(lengths.get("N1"), 6);
  std::array<int64_t, 3> grid;
  ASSERT_TRUE(launchGrid(parsed, lengths, grid).ok);
  EXPECT_EQ(grid, (std::array<int64_t, 3>{40, 16, 1}));
  // One N for both offsets.
  s = checkArguments(parsed, args(4402, 4500, 6, 5));
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("expected N1 = 6"), std::string::npos) << s.message;
}
