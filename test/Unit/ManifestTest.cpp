//===- ManifestTest.cpp - the kernel manifest: schema, reader, writer -----===//
//
// Part of attn-mlir. The manifest is the compiler/runtime contract; these
// tests pin its schema (docs/Runtime.md): the writer's output reads back to
// the same struct, versions are checked, and every malformed input the
// robustness probe of 2026-12-01 found (issue 20) is refused with
// InvalidManifest and a message naming the key, instead of being coerced,
// truncated or crashing. Runs everywhere (no GPU, no CUDA calls).
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Manifest.h"

#include <gtest/gtest.h>

#include <climits>
#include <functional>
#include <random>
#include <string>

using namespace attn::runtime;

namespace {

/// A decode-style manifest with every kind of key: tuning, all roles,
/// workspaces and the attention record.
Manifest sampleManifest() {
  Manifest m;
  m.symbol = "decode_kernel";
  m.chip = "sm_90";
  m.family = "decode";
  m.grid = {4, 8, 1};
  m.block = {256, 1, 1};
  m.gridFormula = "[num_splits, B * Hkv, 1]";
  m.sharedMemoryBytes = 135168;
  m.tuning.numSplits = 4;
  m.tuning.keysPerWarp = 16;
  m.tuning.stages = 2;
  m.tuning.numWarps = 8;
  auto arg = [&](const char *name, const char *dtype,
                 std::vector<int64_t> shape, ArgumentRole role) {
    ManifestArgument a;
    a.name = name;
    a.dtype = dtype;
    a.shape = std::move(shape);
    a.role = role;
    a.zeroInit = role == ArgumentRole::Workspace;
    m.arguments.push_back(a);
  };
  arg("q", "bf16", {2, 8, 1, 128}, ArgumentRole::Input);
  arg("k_cache", "bf16", {2, 2, 512, 128}, ArgumentRole::InOut);
  arg("key_lengths", "i32", {2}, ArgumentRole::Input);
  arg("o", "bf16", {2, 8, 1, 128}, ArgumentRole::Output);
  arg("partial_o", "f32", {4, 4, 4, 128}, ArgumentRole::Workspace);
  arg("split_counters", "i32", {4}, ArgumentRole::Workspace);
  AttentionInfo a;
  a.mask = "sliding_window";
  a.scale = 0.08838834764831845;
  a.softcap = 30.0;
  a.window = std::array<int64_t, 2>{100, 0};
  a.queryDtype = a.keyDtype = a.valueDtype = a.outputDtype = "bf16";
  a.batch = 2;
  a.headsQ = 8;
  a.headsKV = 2;
  a.seqQ = 1;
  a.seqK = 512;
  a.headDim = a.valueHeadDim = 128;
  a.keyLengths = true;
  a.kvView = "attn.kv_append";
  m.attention = a;
  return m;
}

/// sampleManifest()'s JSON with `from` replaced by `to` (once; it must occur).
std::string edited(const std::string &from, const std::string &to) {
  std::string json = writeManifestJson(sampleManifest());
  size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not in " << json;
  if (at != std::string::npos)
    json.replace(at, from.size(), to);
  return json;
}

/// Parses `json`, which must fail with `code` and a message containing
/// `needle`, leaving the output untouched.
void expectRefused(const std::string &json, const std::string &needle,
                   ErrorCode code = ErrorCode::InvalidManifest) {
  Manifest m;
  m.symbol = "untouched";
  Status s = parseManifest(json, m);
  EXPECT_FALSE(s.ok) << "accepted: " << json;
  EXPECT_EQ(static_cast<int>(s.code), static_cast<int>(code)) << s.message;
  EXPECT_NE(s.message.find(needle), std::string::npos)
      << "message: " << s.message << "\nexpected: " << needle;
  EXPECT_EQ(m.symbol, "untouched");
}

} // namespace

//===----------------------------------------------------------------------===//
// Round trip and vocabulary
//===----------------------------------------------------------------------===//

TEST(ManifestSchema, WriterOutputReadsBackExactly) {
  Manifest in = sampleManifest();
  std::string json = writeManifestJson(in);
  Manifest out;
  Status s = parseManifest(json, out);
  ASSERT_TRUE(s.ok) << s.message << "\n" << json;
  EXPECT_EQ(out.majorVersion, kManifestMajorVersion);
  EXPECT_EQ(out.minorVersion, kManifestMinorVersion);
  EXPECT_EQ(out.symbol, in.symbol);
  EXPECT_EQ(out.family, "decode");
  EXPECT_EQ(out.grid, in.grid);
  EXPECT_EQ(out.block, in.block);
  EXPECT_EQ(out.sharedMemoryBytes, 135168);
  EXPECT_EQ(out.tuning.numSplits, 4);
  EXPECT_EQ(out.tuning.blockM, 0);
  ASSERT_EQ(out.arguments.size(), in.arguments.size());
  for (size_t i = 0; i < in.arguments.size(); ++i) {
    EXPECT_EQ(out.arguments[i].name, in.arguments[i].name);
    EXPECT_EQ(out.arguments[i].role, in.arguments[i].role);
    EXPECT_EQ(out.arguments[i].shape, in.arguments[i].shape);
    EXPECT_EQ(out.arguments[i].zeroInit, in.arguments[i].zeroInit);
  }
  ASSERT_TRUE(out.attention.has_value());
  // The scale survives bit for bit (shortest round-trip formatting).
  EXPECT_TRUE(*out.attention == *in.attention);
  // Writing what was read gives the same text: one canonical form.
  EXPECT_EQ(writeManifestJson(out), json);
}

TEST(ManifestSchema, RolesAreAnEnumWithOneSpelling) {
  for (ArgumentRole r : {ArgumentRole::Input, ArgumentRole::Output,
                         ArgumentRole::InOut, ArgumentRole::Workspace,
                         ArgumentRole::Length, ArgumentRole::TensorMap}) {
    ArgumentRole back = ArgumentRole::Input;
    EXPECT_TRUE(parseRole(roleName(r), back));
    EXPECT_EQ(back, r);
  }
  ArgumentRole unused;
  EXPECT_FALSE(parseRole("scratch", unused));
  ManifestArgument a;
  a.role = ArgumentRole::InOut;
  EXPECT_TRUE(a.isOutput());
  EXPECT_FALSE(a.isWorkspace());
}

// A host states what it asks for and learns the first difference.
TEST(ManifestSchema, HostsCheckTheAttentionAKernelComputes) {
  Manifest m = sampleManifest();
  AttentionInfo want = *m.attention;
  EXPECT_TRUE(checkAttention(m, want).ok);
  want.mask = "causal_bottom_right";
  Status s = checkAttention(m, want);
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_EQ(s.message, "kernel 'decode_kernel': computes mask sliding_window, "
                       "expected causal_bottom_right");
  want = *m.attention;
  want.softcap.reset();
  EXPECT_EQ(checkAttention(m, want).message,
            "kernel 'decode_kernel': computes softcap 30.0, expected none");
  want = *m.attention;
  want.headsKV = 8;
  EXPECT_EQ(checkAttention(m, want).message,
            "kernel 'decode_kernel': computes heads_kv 2, expected 8");
  m.attention.reset();
  EXPECT_NE(checkAttention(m, want).message.find("records no attention"),
            std::string::npos);
}

TEST(ManifestSchema, DtypeSizes) {
  EXPECT_EQ(dtypeSize("bf16"), 2);
  EXPECT_EQ(dtypeSize("f16"), 2);
  EXPECT_EQ(dtypeSize("f32"), 4);
  EXPECT_EQ(dtypeSize("i32"), 4);
  EXPECT_EQ(dtypeSize("i8"), 1);
  EXPECT_EQ(dtypeSize("i64"), 8);
  EXPECT_EQ(dtypeSize("fp8"), 0);
}

//===----------------------------------------------------------------------===//
// Versions
//===----------------------------------------------------------------------===//

TEST(ManifestVersion, OtherMajorVersionsAreRefusedClearly) {
  expectRefused(edited("\"schema_version\": [1, 2]",
                       "\"schema_version\": [2, 0]"),
                "schema version 2.0 is not supported: this runtime reads 1.x",
                ErrorCode::UnsupportedVersion);
  expectRefused(edited("\"schema_version\": [1, 2]",
                       "\"schema_version\": [0, 9]"),
                "schema version 0.9", ErrorCode::UnsupportedVersion);
  // Manifests from before versions existed.
  expectRefused(edited("\"schema_version\": [1, 2],", ""),
                "predates schema versions", ErrorCode::UnsupportedVersion);
  expectRefused(edited("[1, 2]", "\"1.2\""),
                "expected 'schema_version' to be [major, minor]");
}

TEST(ManifestVersion, NewerMinorVersionsMayAddKeys) {
  std::string extra = "\"kernel\": \"decode_kernel\", \"added_in_1_2\": 7,";
  // 1.2 knows every key of 1.2: an unknown one is a typo or corruption.
  expectRefused(edited("\"kernel\": \"decode_kernel\",", extra),
                "unknown key 'added_in_1_2'");
  std::string json = edited("\"kernel\": \"decode_kernel\",", extra);
  json.replace(json.find("[1, 2]"), 6, "[1, 3]");
  Manifest m;
  Status s = parseManifest(json, m);
  EXPECT_TRUE(s.ok) << s.message;
  EXPECT_EQ(m.minorVersion, 3);
}

//===----------------------------------------------------------------------===//
// Strict JSON (issue 20)
//===----------------------------------------------------------------------===//

TEST(ManifestJson, DeepNestingIsBoundedNotAStackOverflow) {
  // 10^6 levels would overflow a recursive parser's stack.
  std::string deep(1000000, '[');
  expectRefused(deep, "expected at most 8 levels of nesting");
  expectRefused(edited("\"tuning\": {", "\"tuning\": {\"x\": [[[[[[[[[1]]]]]]]]], "),
                "levels of nesting");
}

TEST(ManifestJson, DuplicateKeysAreRefused) {
  expectRefused(edited("\"chip\": \"sm_90\",",
                       "\"chip\": \"sm_90\", \"chip\": \"sm_80\","),
                "duplicate key 'chip'");
  expectRefused(edited("\"name\": \"o\",", "\"name\": \"o\", \"name\": \"p\","),
                "duplicate key 'name'");
  // Two arguments of one name would make launches ambiguous.
  expectRefused(edited("\"name\": \"o\"", "\"name\": \"q\""),
                "duplicate argument name 'q'");
}

TEST(ManifestJson, IntegersAreExact) {
  for (const char *bad : {"NaN", "Infinity", "-Infinity", "1e999", "0x10",
                          "+4", ".5", "4.0", "4e0", "1e3", "010"}) {
    SCOPED_TRACE(bad);
    std::string json = edited("\"shared_memory_bytes\": 135168",
                              std::string("\"shared_memory_bytes\": ") + bad);
    Manifest m;
    Status s = parseManifest(json, m);
    EXPECT_FALSE(s.ok);
    EXPECT_EQ(s.code, ErrorCode::InvalidManifest);
  }
  // Beyond int64: refused, not wrapped or saturated.
  expectRefused(edited("\"stages\": 2", "\"stages\": 99999999999999999999"),
                "expected 'stages' to be an integer in [0, 1048576], got "
                "99999999999999999999");
  expectRefused(edited("\"stages\": 2", "\"stages\": -9223372036854775809"),
                "got -9223372036854775809");
}

TEST(ManifestJson, FloatsMustBeFinite) {
  expectRefused(edited("\"scale\": 0.08838834764831845", "\"scale\": 1e999"),
                "expected 'scale' to be a finite number, got 1e999");
  expectRefused(edited("\"scale\": 0.08838834764831845", "\"scale\": NaN"),
                "expected a value");
  expectRefused(edited("\"softcap\": 30.0", "\"softcap\": -1.0"),
                "expected 'softcap' > 0");
}

TEST(ManifestJson, StringsAndSyntax) {
  expectRefused("{\"kernel\": \"k\"", "expected ',' or '}'");
  expectRefused("[1, 2]", "expected a JSON object");
  expectRefused(edited("\"chip\": \"sm_90\"", "\"chip\": \"sm_\\u0039\""),
                "no \\u");
  expectRefused(writeManifestJson(sampleManifest()) + " {}",
                "expected the end of the document");
}

//===----------------------------------------------------------------------===//
// Types, ranges and required keys (issue 20)
//===----------------------------------------------------------------------===//

TEST(ManifestSchema, WrongTypesAreNotCoerced) {
  // Once read as 0 (no dynamic shared memory).
  expectRefused(edited("\"shared_memory_bytes\": 135168",
                       "\"shared_memory_bytes\": \"big\""),
                "expected 'shared_memory_bytes' to be an integer in [0, "
                "16777216], got \"big\"");
  // Once read as 0, which turned the alignment check off.
  expectRefused(edited("\"alignment\": 16", "\"alignment\": \"16\""),
                "argument 0: expected 'alignment' to be an integer in [1, "
                "4096], got \"16\"");
  expectRefused(edited("\"alignment\": 16", "\"alignment\": 12"),
                "expected 'alignment' to be a power of two, got 12");
  expectRefused(edited("\"kernel\": \"decode_kernel\"", "\"kernel\": 5"),
                "expected 'kernel' to be a string, got 5");
  expectRefused(edited("\"kernel\": \"decode_kernel\"",
                       "\"kernel\": \"bad name\""),
                "characters of [A-Za-z0-9_$.]");
  expectRefused(edited("\"lse\": false", "\"lse\": 0"),
                "expected 'lse' to be true or false, got 0");
  expectRefused(edited("\"role\": \"input\"", "\"role\": \"scratch\""),
                "expected 'role' to be one of input, output, inout, "
                "workspace, length, tensor_map, got \"scratch\"");
  expectRefused(edited("\"dtype\": \"i32\"", "\"dtype\": \"fp8\""),
                "expected 'dtype' to be one of bf16");
  expectRefused(edited("\"output\": true", "\"output\": false"),
                "expected 'output' to be true for role 'inout'");
}

TEST(ManifestSchema, LaunchDimensionsWithinCudaLimits) {
  for (const char *grid : {"[0, 8, 1]", "[-1, 8, 1]", "[4294967296, 8, 1]",
                           "[2147483648, 8, 1]", "[4, 65536, 1]", "[4, 8]",
                           "[4, 8, 1, 1]"}) {
    SCOPED_TRACE(grid);
    Manifest m;
    Status s = parseManifest(
        edited("\"grid\": [4, 8, 1]", std::string("\"grid\": ") + grid), m);
    EXPECT_FALSE(s.ok);
    EXPECT_NE(s.message.find("'grid'"), std::string::npos) << s.message;
  }
  expectRefused(edited("\"block\": [256, 1, 1]", "\"block\": [0, 1, 1]"),
                "'block'");
  expectRefused(edited("\"block\": [256, 1, 1]", "\"block\": [1024, 2, 1]"),
                "expected at most 1024 threads per block, got 2048");
  // 2^32 + 16 once truncated to 16 bytes at launch.
  expectRefused(edited("\"shared_memory_bytes\": 135168",
                       "\"shared_memory_bytes\": 4294967312"),
                "expected 'shared_memory_bytes' to be an integer in [0, "
                "16777216], got 4294967312");
}

TEST(ManifestSchema, BackwardFamily) {
  // The kernels of a backward program (convert-attn-backward-to-nvvm) are
  // family "backward".
  Manifest m;
  Status s = parseManifest(
      edited("\"family\": \"decode\"", "\"family\": \"backward\""), m);
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ(m.family, "backward");
}

TEST(ManifestSchema, ArgumentSizesCannotOverflow) {
  // [2^32, 2^32] f32 is 2^66 bytes: once wrapped to 0 and allocated as 16.
  expectRefused(edited("[4, 4, 4, 128]", "[4294967296, 4294967296]"),
                "argument 'partial_o': expected at most 2^48 bytes, got shape "
                "[4294967296, 4294967296] of f32");
  // -1 is a dynamic dim (RuntimeLengthsTest.cpp), never a workspace's.
  expectRefused(edited("[4, 4, 4, 128]", "[-1]"),
                "argument 'partial_o': expected 'dim_symbols' of one name per "
                "dim exactly where the shape has a dynamic (-1) dim, not on a "
                "workspace");
  expectRefused(edited("[4, 4, 4, 128]", "[-2]"),
                "expected 'shape' to be an array of 0 to 8 integers in [-1, ");
  expectRefused(edited("[4, 4, 4, 128]", "[1, 1, 1, 1, 1, 1, 1, 1, 1]"),
                "of 9");
}

TEST(ManifestSchema, RequiredKeysAndConsistency) {
  for (const char *key : {"\"kernel\": \"decode_kernel\",",
                          "\"family\": \"decode\",", "\"chip\": \"sm_90\","}) {
    SCOPED_TRACE(key);
    std::string name = std::string(key).substr(1, std::string(key).find('"', 1) - 1);
    expectRefused(edited(key, ""), "missing required key '" + name + "'");
  }
  expectRefused(edited("\"family\": \"decode\"", "\"family\": \"other\""),
                "expected 'family' to be one of prefill, decode, hopper, "
                "backward, hopper-backward, convert, custom");
  expectRefused(edited("\"heads_kv\": 2", "\"heads_kv\": 3"),
                "expected 'heads_q' (8) to be a multiple of 'heads_kv' (3)");
  expectRefused(edited("\"mask\": \"sliding_window\"", "\"mask\": \"none\""),
                "expected 'window' exactly when 'mask' is sliding_window");
  expectRefused(edited("\"name\": \"q\", ", ""),
                "argument 0: missing required key 'name'");
}

//===----------------------------------------------------------------------===//
// Launch arguments from C arrays, and workspace layout (issue 20)
//===----------------------------------------------------------------------===//

namespace {
struct CArgs {
  std::vector<uint64_t> ptrs{0x1000, 0x2000, 0x3000, 0x4000};
  std::vector<const char *> dtypes{"bf16", "bf16", "i32", "bf16"};
  std::vector<int32_t> ranks{4, 4, 1, 4};
  std::vector<int64_t> dims{2, 8, 1, 128, 2, 2, 512, 128, 2, 2, 8, 1, 128};

  Status read(const Manifest &m, int numArgs, std::vector<TensorArg> &out) {
    return readTensorArgs(m, numArgs, ptrs.data(), dtypes.data(), ranks.data(),
                          dims.data(), out);
  }
};
} // namespace

TEST(ManifestLaunchArgs, BadCountsAndRanksAreCodesNotExceptions) {
  Manifest m = sampleManifest();
  CArgs c;
  std::vector<TensorArg> args;
  ASSERT_TRUE(c.read(m, 4, args).ok);
  EXPECT_TRUE(checkArguments(m, args).ok) << checkArguments(m, args).message;

  // Once std::bad_alloc from sizing a vector of INT32_MAX arguments.
  Status s = c.read(m, INT32_MAX, args);
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_NE(s.message.find("expected 4 arguments (q, k_cache, key_lengths, "
                           "o), got 2147483647"),
            std::string::npos)
      << s.message;
  EXPECT_EQ(c.read(m, -1, args).code, ErrorCode::InvalidArgument);
  // Once std::length_error from assigning a shape of rank -1.
  for (int32_t rank : {-1, INT32_MIN, 9, INT32_MAX}) {
    CArgs bad;
    bad.ranks[1] = rank;
    s = bad.read(m, 4, args);
    EXPECT_EQ(s.code, ErrorCode::InvalidArgument) << rank;
    EXPECT_NE(s.message.find("argument 1: expected a rank in [0, 8], got " +
                             std::to_string(rank)),
              std::string::npos)
        << s.message;
  }
  EXPECT_EQ(readTensorArgs(m, 4, nullptr, nullptr, nullptr, nullptr, args).code,
            ErrorCode::InvalidArgument);
}

TEST(ManifestLaunchArgs, ChecksDtypeShapeAlignmentAndPointers) {
  Manifest m = sampleManifest();
  CArgs c;
  std::vector<TensorArg> args;
  ASSERT_TRUE(c.read(m, 4, args).ok);
  auto error = [&](const std::function<void(std::vector<TensorArg> &)> &edit) {
    std::vector<TensorArg> a = args;
    edit(a);
    Status s = checkArguments(m, a);
    EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
    return s.message;
  };
  EXPECT_NE(error([](auto &a) { a[2].dtype = "i64"; })
                .find("argument 2 ('key_lengths'): expected dtype i32, got "
                      "i64"),
            std::string::npos);
  EXPECT_NE(error([](auto &a) { a[3].shape[2] = 2; })
                .find("argument 3 ('o'): expected shape [2, 8, 1, 128], got "
                      "[2, 8, 2, 128]"),
            std::string::npos);
  EXPECT_NE(error([](auto &a) { a[0].devicePtr += 2; }).find("16-byte aligned"),
            std::string::npos);
  EXPECT_NE(error([](auto &a) { a[1].devicePtr = 0; }).find("null pointer"),
            std::string::npos);
  EXPECT_NE(error([](auto &a) { a.pop_back(); })
                .find("expected 4 arguments (q, k_cache, key_lengths, o), got "
                      "3; do not pass the workspaces (partial_o, "
                      "split_counters)"),
            std::string::npos);
}

// A launch plan checks the signature once (no pointers read) and each
// launch only the pointers: together exactly checkArguments.
TEST(ManifestLaunchArgs, SignatureAndPointersSplitTheChecks) {
  Manifest m = sampleManifest();
  CArgs c;
  std::vector<TensorArg> args;
  ASSERT_TRUE(c.read(m, 4, args).ok);
  std::vector<TensorArg> signature = args;
  for (TensorArg &a : signature)
    a.devicePtr = 0;
  EXPECT_TRUE(checkSignature(m, signature).ok) << checkSignature(m, signature).message;
  signature[2].dtype = "i64";
  EXPECT_NE(checkSignature(m, signature).message.find("expected dtype i32"),
            std::string::npos);
  std::vector<uint64_t> ptrs;
  for (const TensorArg &a : args)
    ptrs.push_back(a.devicePtr);
  EXPECT_TRUE(checkPointers(m, ptrs.data()).ok);
  ptrs[1] = 0;
  EXPECT_NE(checkPointers(m, ptrs.data()).message.find(
                "argument 1 ('k_cache'): null pointer"),
            std::string::npos);
  ptrs[1] = args[1].devicePtr;
  ptrs[0] += 2;
  Status s = checkPointers(m, ptrs.data());
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_NE(s.message.find("argument 0 ('q'): expected a 16-byte aligned"),
            std::string::npos)
      << s.message;
}

// A kernel compiled for Q, K, V and O of torch's x.transpose(1, 2) (BHSD
// dims over a BSHD buffer [B, L, H, D]) records their strides; dense
// arguments record none.
static Manifest stridedManifest() {
  Manifest m = sampleManifest();
  // q [B = 2, Hq = 8, Lq = 4, D = 128] over a [2, 4, 8, 128] buffer.
  m.arguments[0].shape = {2, 8, 4, 128};
  m.arguments[0].strides = {4096, 128, 1024, 1};
  m.arguments[3].shape = {2, 8, 4, 128};
  m.arguments[3].strides = {4096, 128, 1024, 1};
  m.attention->seqQ = 4;
  return m;
}

TEST(ManifestSchema, StridesRoundTripAndDenseIsImplicit) {
  Manifest in = stridedManifest();
  // Dense strides spelled out are the same argument as none.
  in.arguments[1].strides = denseStrides(in.arguments[1].shape);
  std::string json = writeManifestJson(in);
  EXPECT_NE(json.find("\"shape\": [2, 8, 4, 128], \"strides\": [4096, 128, "
                      "1024, 1]"),
            std::string::npos)
      << json;
  EXPECT_EQ(json.find("\"strides\": [524288"), std::string::npos) << json;
  Manifest out;
  Status s = parseManifest(json, out);
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ(out.arguments[0].strides, in.arguments[0].strides);
  EXPECT_EQ(out.arguments[3].strides, in.arguments[3].strides);
  EXPECT_TRUE(out.arguments[1].strides.empty());
  EXPECT_EQ(out.arguments[1].elementStrides(),
            (std::vector<int64_t>{131072, 65536, 128, 1}));
  EXPECT_EQ(writeManifestJson(out), json);
  // Schema 1.1: a 1.0 manifest (no strides anywhere) still reads.
  std::string old = writeManifestJson(sampleManifest());
  old.replace(old.find("[1, 2]"), 6, "[1, 0]");
  EXPECT_TRUE(parseManifest(old, out).ok);
}

TEST(ManifestSchema, StridesAreOnePerDimAndBounded) {
  std::string json = writeManifestJson(stridedManifest());
  auto with = [&](const std::string &to) {
    std::string j = json;
    std::string from = "\"strides\": [4096, 128, 1024, 1]";
    j.replace(j.find(from), from.size(), to);
    return j;
  };
  expectRefused(with("\"strides\": [4096, 128, 1024]"),
                "expected 'strides' to have one entry per dim of 'shape' (4), "
                "got 3");
  expectRefused(with("\"strides\": [4096, -128, 1024, 1]"),
                "expected 'strides' to be an array of 0 to 8 integers");
  expectRefused(with("\"strides\": [140737488355328, 128, 1024, 1]"),
                "expected its strides to span at most 2^48 bytes");
}

TEST(ManifestLaunchArgs, StridesMustBeTheKernels) {
  Manifest m = stridedManifest();
  std::vector<TensorArg> args = {
      {0x1000, "bf16", {2, 8, 4, 128}, {4096, 128, 1024, 1}},
      {0x2000, "bf16", {2, 2, 512, 128}},
      {0x3000, "i32", {2}},
      {0x4000, "bf16", {2, 8, 4, 128}, {4096, 128, 1024, 1}}};
  Status s = checkArguments(m, args);
  EXPECT_TRUE(s.ok) << s.message;
  // Strides of unit dims are never used (torch reports arbitrary ones).
  m.arguments[2].shape = args[2].shape = {1};
  args[2].strides = {7};
  EXPECT_TRUE(checkArguments(m, args).ok);
  m.arguments[2].shape = args[2].shape = {2};
  args[2].strides.clear();
  // The contiguous BHSD tensor (what .contiguous() gives) is not what this
  // kernel reads: refused, never read as if it were BSHD.
  args[0].strides.clear();
  s = checkArguments(m, args);
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_NE(s.message.find("argument 0 ('q'): expected strides [4096, 128, "
                           "1024, 1], got [4096, 512, 128, 1] (dense)"),
            std::string::npos)
      << s.message;
  // And a dense kernel refuses a strided tensor.
  args[0].strides = {4096, 128, 1024, 1};
  args[1].strides = {131072, 128, 256, 1};
  s = checkArguments(m, args);
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_NE(s.message.find("argument 1 ('k_cache'): expected strides "
                           "[131072, 65536, 128, 1] (dense), got [131072, "
                           "128, 256, 1]"),
            std::string::npos)
      << s.message;
  // The C arrays carry the strides as they carry the shapes.
  const uint64_t ptrs[] = {0x1000, 0x2000, 0x3000, 0x4000};
  const char *dtypes[] = {"bf16", "bf16", "i32", "bf16"};
  const int32_t ranks[] = {4, 4, 1, 4};
  const int64_t shapes[] = {2, 8, 4, 128, 2, 2, 512, 128, 2, 2, 8, 4, 128};
  const int64_t strides[] = {4096,  128, 1024, 1, 131072, 65536, 128,
                             1,     1,   4096, 128, 1024, 1};
  std::vector<TensorArg> read;
  ASSERT_TRUE(
      readTensorArgs(m, 4, ptrs, dtypes, ranks, shapes, read, strides).ok);
  EXPECT_EQ(read[3].strides, (std::vector<int64_t>{4096, 128, 1024, 1}));
  s = checkArguments(m, read);
  EXPECT_TRUE(s.ok) << s.message;
}

TEST(ManifestWorkspaces, OneAlignedBufferWithSlices) {
  Manifest m = sampleManifest();
  std::vector<WorkspaceSlice> slices;
  size_t total = 0;
  layOutWorkspaces(m, slices, total);
  ASSERT_EQ(slices.size(), 2u);
  // partial_o: 4*4*4*128 f32 = 32768 bytes; counters: 16 bytes -> 256.
  EXPECT_EQ(slices[0].argument, 4u);
  EXPECT_EQ(slices[0].offset, 0u);
  EXPECT_EQ(slices[0].bytes, 32768u);
  EXPECT_EQ(slices[1].argument, 5u);
  EXPECT_EQ(slices[1].offset, 32768u);
  EXPECT_EQ(slices[1].bytes, 16u);
  EXPECT_TRUE(slices[1].zeroInit);
  EXPECT_EQ(total, 32768u + 256u);

  Manifest none = sampleManifest();
  none.arguments.resize(4);
  slices.clear();
  layOutWorkspaces(none, slices, total);
  EXPECT_TRUE(slices.empty());
  EXPECT_EQ(total, 0u);
}

//===----------------------------------------------------------------------===//
// Mutations (issue 20): a cheap, deterministic fuzz of the reader
//===----------------------------------------------------------------------===//

// Byte flips, deletions, insertions of JSON metacharacters and splices of
// the sample manifest: every result is either refused with a manifest code
// or accepted as a manifest that writes and reads back to itself (so what
// the runtime accepts is always well-formed). Under ASan/UBSan this is also
// the memory-safety check of the parser.
TEST(ManifestJson, MutatedManifestsAreRefusedOrRoundTrip) {
  const std::string sample = writeManifestJson(sampleManifest());
  const std::string alphabet = "{}[]\",:-+.0123456789eEtfnul \\\t\n";
  std::mt19937 rng(2026);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = sample;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = rng() % text.size();
      switch (rng() % 4) {
      case 0:
        text[at] = alphabet[rng() % alphabet.size()];
        break;
      case 1:
        text.erase(at, 1 + rng() % 8);
        break;
      case 2:
        text.insert(at, 1, alphabet[rng() % alphabet.size()]);
        break;
      default:
        text.insert(at, sample.substr(rng() % sample.size(), rng() % 64));
      }
    }
    Manifest m;
    Status s = parseManifest(text, m);
    if (!s.ok) {
      EXPECT_TRUE(s.code == ErrorCode::InvalidManifest ||
                  s.code == ErrorCode::UnsupportedVersion)
          << s.message;
      continue;
    }
    ++accepted;
    Manifest again;
    Status back = parseManifest(writeManifestJson(m), again);
    ASSERT_TRUE(back.ok) << back.message << "\nfrom: " << text;
    EXPECT_EQ(writeManifestJson(again), writeManifestJson(m));
  }
  // Some mutations (inside strings, whitespace) are harmless: the check
  // above ran on accepted manifests too.
  EXPECT_GT(accepted, 0);
}

//===----------------------------------------------------------------------===//
// Cost figures (schema 1.1)
//===----------------------------------------------------------------------===//

namespace {
Manifest withCost() {
  Manifest m = sampleManifest();
  KernelCost c;
  c.gpu = "h100-sxm";
  c.gemmFlops = 536870912;
  c.visibleGemmFlops = c.denseGemmFlops = 67108864;
  c.exponentials = 1081344;
  c.softmaxFlops = 5271552;
  c.bytesRead = 33826848;
  c.bytesWritten = 272416;
  c.arithmeticIntensity = 15.74;
  c.boundUs = 10.1787;
  c.computeUs = 0.5426;
  c.memoryUs = 10.1787;
  c.expUs = 0.2773;
  c.limiter = "memory";
  m.cost = c;
  return m;
}
} // namespace

TEST(ManifestCost, RoundTripsAndIsOptional) {
  Manifest in = withCost();
  std::string json = writeManifestJson(in);
  EXPECT_NE(json.find("\"cost\": {"), std::string::npos) << json;
  EXPECT_NE(json.find("\"gemm_flops\": 536870912"), std::string::npos);
  Manifest out;
  Status s = parseManifest(json, out);
  ASSERT_TRUE(s.ok) << s.message << "\n" << json;
  ASSERT_TRUE(out.cost.has_value());
  EXPECT_EQ(*out.cost, *in.cost);
  // A manifest without one (1.0, hand-written kernels) has none.
  Manifest plain;
  ASSERT_TRUE(parseManifest(writeManifestJson(sampleManifest()), plain).ok);
  EXPECT_FALSE(plain.cost.has_value());
}

TEST(ManifestCost, ValuesAreChecked) {
  std::string json = writeManifestJson(withCost());
  auto refused = [&](const std::string &from, const std::string &to,
                     const std::string &needle) {
    std::string bad = json;
    size_t at = bad.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    bad.replace(at, from.size(), to);
    expectRefused(bad, needle);
  };
  refused("\"limiter\": \"memory\"", "\"limiter\": \"l2\"",
          "expected 'limiter' to be one of compute, memory, exp");
  refused("\"gemm_flops\": 536870912", "\"gemm_flops\": -1",
          "expected 'gemm_flops' to be an integer in [0, ");
  refused("\"bound_us\": 10.1787", "\"bound_us\": -1.0",
          "expected 'bound_us' >= 0");
  refused("\"bytes_read\": 33826848,", "", "'cost': missing required key 'bytes_read'");
  refused("\"limiter\": \"memory\"", "\"limiter\": \"memory\", \"typo\": 1",
          "unknown key 'typo'");
}
