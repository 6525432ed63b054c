//===- RuntimeTest.cpp - lib/Runtime: manifest, argument checks, launch ---===//
//
// Part of attn-mlir. The manifest and argument checks run everywhere. The
// workspace probe needs a GPU (its PTX is below). The attention launch test
// needs a GPU and a kernel made by attn-compile: set
// ATTN_TEST_KERNEL=<prefix> (for <prefix>.json and <prefix>.sm_90.cubin or
// <prefix>.ptx, compiled with --batch=1 --heads-q=2 --heads-kv=1
// --seq-q=100 --seq-k=130 --head-dim=64 --mask=causal); it skips with a
// message otherwise. ATTN_TEST_DECODE_KERNEL=<prefix> names a decode kernel
// (any flags, e.g. --key-lengths --page-size=16): the test fills its
// arguments from the manifest and checks that two launches write every
// output, agree bit for bit and leave the split counters re-armed (run it
// under compute-sanitizer for memory and shared-memory race checks).
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <random>

using namespace attn::runtime;

static const char *kManifest = R"({
  "kernel": "attention_kernel", "chip": "sm_80",
  "grid": [2, 8, 1], "block": [128, 1, 1], "shared_memory_bytes": 49152,
  "arguments": [
    {"name": "q", "dtype": "bf16", "shape": [1, 8, 256, 64], "output": false, "alignment": 16},
    {"name": "o", "dtype": "bf16", "shape": [1, 8, 256, 64], "output": true, "alignment": 16}
  ]
})";

TEST(RuntimeManifest, Parses) {
  Manifest m;
  Status s = parseManifest(kManifest, m);
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ(m.kernel, "attention_kernel");
  EXPECT_EQ(m.grid[1], 8);
  EXPECT_EQ(m.block[0], 128);
  EXPECT_EQ(m.sharedMemoryBytes, 49152);
  ASSERT_EQ(m.arguments.size(), 2u);
  EXPECT_EQ(m.arguments[1].name, "o");
  EXPECT_TRUE(m.arguments[1].output);
  EXPECT_EQ(m.arguments[0].shape, (std::vector<int64_t>{1, 8, 256, 64}));
}

// A split-KV decode kernel: the caller passes q, k, v, key_lengths, o, lse;
// partial_o, partial_lse and counters are workspaces the runtime owns.
static const char *kWorkspaceManifest = R"({
  "kernel": "attention_kernel", "chip": "sm_80",
  "grid": [4, 8, 1], "block": [128, 1, 1], "shared_memory_bytes": 0,
  "arguments": [
    {"name": "q", "dtype": "bf16", "shape": [2, 4, 1, 64], "role": "input", "output": false, "alignment": 16},
    {"name": "k", "dtype": "bf16", "shape": [2, 1, 512, 64], "role": "input", "output": false, "alignment": 16},
    {"name": "v", "dtype": "bf16", "shape": [2, 1, 512, 64], "role": "input", "output": false, "alignment": 16},
    {"name": "key_lengths", "dtype": "i32", "shape": [2], "role": "input", "output": false, "alignment": 16},
    {"name": "o", "dtype": "bf16", "shape": [2, 4, 1, 64], "role": "output", "output": true, "alignment": 16},
    {"name": "lse", "dtype": "f32", "shape": [2, 4, 1], "role": "output", "output": true, "alignment": 16},
    {"name": "partial_o", "dtype": "f32", "shape": [4, 2, 4, 1, 64], "role": "workspace", "output": false, "alignment": 16, "zero_init": true},
    {"name": "partial_lse", "dtype": "f32", "shape": [4, 2, 4, 1], "role": "workspace", "output": false, "alignment": 16, "zero_init": true},
    {"name": "counters", "dtype": "i32", "shape": [8], "role": "workspace", "output": false, "alignment": 16, "zero_init": true}
  ]
})";

TEST(RuntimeManifest, ParsesRolesAndWorkspaces) {
  Manifest m;
  Status s = parseManifest(kWorkspaceManifest, m);
  ASSERT_TRUE(s.ok) << s.message;
  ASSERT_EQ(m.arguments.size(), 9u);
  const ManifestArgument &lengths = m.arguments[3], &o = m.arguments[4],
                         &counters = m.arguments[8];
  EXPECT_EQ(lengths.dtype, "i32");
  EXPECT_EQ(lengths.role, ArgumentRole::Input);
  EXPECT_FALSE(lengths.zeroInit);
  EXPECT_EQ(o.role, ArgumentRole::Output);
  EXPECT_TRUE(o.output);
  EXPECT_EQ(counters.name, "counters");
  EXPECT_EQ(counters.role, ArgumentRole::Workspace);
  EXPECT_TRUE(counters.isWorkspace());
  EXPECT_TRUE(counters.zeroInit);
  EXPECT_FALSE(counters.output);
  EXPECT_EQ(counters.shape, (std::vector<int64_t>{8}));
  int workspaces = 0;
  for (const ManifestArgument &a : m.arguments)
    workspaces += a.isWorkspace();
  EXPECT_EQ(workspaces, 3);
}

// A KV cache a fused append updates in place: passed by the caller, written
// by the kernel.
TEST(RuntimeManifest, ParsesInOut) {
  Manifest m;
  Status s = parseManifest(R"({"kernel": "k", "grid": [1, 1, 1],
      "block": [32, 1, 1], "shared_memory_bytes": 0, "arguments": [
      {"name": "k_cache", "dtype": "bf16", "shape": [2, 2, 8, 64],
       "role": "inout", "output": true}]})",
                           m);
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ(m.arguments[0].role, ArgumentRole::InOut);
  EXPECT_TRUE(m.arguments[0].output);
  EXPECT_FALSE(m.arguments[0].isWorkspace());
}

// Manifests written before roles existed: the role follows "output".
TEST(RuntimeManifest, RoleDefaultsFromOutput) {
  Manifest m;
  ASSERT_TRUE(parseManifest(kManifest, m).ok);
  EXPECT_EQ(m.arguments[0].role, ArgumentRole::Input);
  EXPECT_EQ(m.arguments[1].role, ArgumentRole::Output);
  EXPECT_FALSE(m.arguments[1].zeroInit);
}

TEST(RuntimeManifest, RejectsBadRolesAndUnsizableWorkspaces) {
  auto parse = [](const std::string &argument) {
    Manifest m;
    return parseManifest(R"({"kernel": "k", "grid": [1, 1, 1],
        "block": [32, 1, 1], "shared_memory_bytes": 0, "arguments": [)" +
                             argument + "]}",
                         m);
  };
  Status s = parse(R"({"name": "x", "dtype": "f32", "shape": [4], "role": "scratch"})");
  EXPECT_NE(s.message.find("argument 'x': expected role input, output, "
                           "inout or workspace, got 'scratch'"),
            std::string::npos)
      << s.message;
  s = parse(R"({"name": "w", "dtype": "fp8", "shape": [4], "role": "workspace"})");
  EXPECT_NE(s.message.find("workspace 'w': expected a dtype of known size, "
                           "got 'fp8'"),
            std::string::npos)
      << s.message;
  s = parse(R"({"name": "w", "dtype": "i32", "shape": [-1], "role": "workspace"})");
  EXPECT_NE(s.message.find("workspace 'w': expected a static shape, got [-1]"),
            std::string::npos)
      << s.message;
}

TEST(RuntimeManifest, DtypeSizes) {
  EXPECT_EQ(dtypeSize("bf16"), 2);
  EXPECT_EQ(dtypeSize("f16"), 2);
  EXPECT_EQ(dtypeSize("f32"), 4);
  EXPECT_EQ(dtypeSize("i32"), 4);
  EXPECT_EQ(dtypeSize("i8"), 1);
  EXPECT_EQ(dtypeSize("i64"), 8);
  EXPECT_EQ(dtypeSize("fp8"), 0);
}

TEST(RuntimeManifest, RejectsMalformed) {
  Manifest m;
  EXPECT_FALSE(parseManifest("{\"kernel\": \"k\"", m).ok);
  Status s = parseManifest("{\"kernel\": \"k\"}", m);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("missing 'grid'"), std::string::npos) << s.message;
}

TEST(RuntimeArguments, ChecksCountDtypeShapeAlignment) {
  Manifest m;
  ASSERT_TRUE(parseManifest(kManifest, m).ok);
  TensorArg q{0x1000, "bf16", {1, 8, 256, 64}};
  TensorArg o{0x2000, "bf16", {1, 8, 256, 64}};
  EXPECT_TRUE(checkArguments(m, {q, o}).ok);

  Status s = checkArguments(m, {q});
  EXPECT_NE(s.message.find("expected 2 arguments (q, o), got 1"),
            std::string::npos)
      << s.message;
  TensorArg wrongType = o;
  wrongType.dtype = "f16";
  s = checkArguments(m, {q, wrongType});
  EXPECT_NE(s.message.find("expected dtype bf16, got f16"), std::string::npos)
      << s.message;
  TensorArg wrongShape = o;
  wrongShape.shape[2] = 255;
  s = checkArguments(m, {q, wrongShape});
  EXPECT_NE(s.message.find("expected shape [1, 8, 256, 64], got [1, 8, 255, 64]"),
            std::string::npos)
      << s.message;
  TensorArg misaligned = o;
  misaligned.devicePtr += 2;
  s = checkArguments(m, {q, misaligned});
  EXPECT_NE(s.message.find("16-byte aligned"), std::string::npos) << s.message;
  TensorArg null = o;
  null.devicePtr = 0;
  EXPECT_FALSE(checkArguments(m, {q, null}).ok);
}

/// Valid non-workspace arguments of kWorkspaceManifest, in order.
static std::vector<TensorArg> workspaceManifestArguments() {
  return {{0x1000, "bf16", {2, 4, 1, 64}}, {0x2000, "bf16", {2, 1, 512, 64}},
          {0x3000, "bf16", {2, 1, 512, 64}}, {0x4000, "i32", {2}},
          {0x5000, "bf16", {2, 4, 1, 64}}, {0x6000, "f32", {2, 4, 1}}};
}

// The caller passes the non-workspace arguments only; workspaces are skipped
// in the positions and named in the count error.
TEST(RuntimeArguments, WorkspacesAreNotPassed) {
  Manifest m;
  ASSERT_TRUE(parseManifest(kWorkspaceManifest, m).ok);
  std::vector<TensorArg> args = workspaceManifestArguments();
  Status s = checkArguments(m, args);
  EXPECT_TRUE(s.ok) << s.message;

  // Passing the workspaces too is a count error that says which to drop.
  std::vector<TensorArg> withWorkspaces = args;
  withWorkspaces.push_back({0x7000, "f32", {4, 2, 4, 1, 64}});
  withWorkspaces.push_back({0x8000, "f32", {4, 2, 4, 1}});
  withWorkspaces.push_back({0x9000, "i32", {8}});
  s = checkArguments(m, withWorkspaces);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.message,
            "kernel 'attention_kernel': expected 6 arguments (q, k, v, "
            "key_lengths, o, lse), got 9; do not pass the workspaces "
            "(partial_o, partial_lse, counters): the runtime allocates them");

  std::vector<TensorArg> tooFew(args.begin(), args.end() - 1);
  s = checkArguments(m, tooFew);
  EXPECT_NE(s.message.find("expected 6 arguments (q, k, v, key_lengths, o, "
                           "lse), got 5"),
            std::string::npos)
      << s.message;

  // Argument indices in messages are the caller's: lse is argument 5.
  std::vector<TensorArg> wrongLse = args;
  wrongLse[5].shape = {2, 4, 2};
  s = checkArguments(m, wrongLse);
  EXPECT_NE(s.message.find("argument 5 ('lse'): expected shape [2, 4, 1], "
                           "got [2, 4, 2]"),
            std::string::npos)
      << s.message;
}

// i32 arguments (key lengths, block tables) get the same checks as tensors.
TEST(RuntimeArguments, ChecksI32ArgumentsLikeOthers) {
  Manifest m;
  ASSERT_TRUE(parseManifest(kWorkspaceManifest, m).ok);
  std::vector<TensorArg> args = workspaceManifestArguments();
  auto lengthsError = [&](TensorArg lengths) {
    std::vector<TensorArg> a = args;
    a[3] = lengths;
    return checkArguments(m, a).message;
  };
  EXPECT_EQ(lengthsError({0x4000, "i32", {2}}), "");
  EXPECT_NE(lengthsError({0x4000, "i64", {2}})
                .find("argument 3 ('key_lengths'): expected dtype i32, got i64"),
            std::string::npos);
  EXPECT_NE(lengthsError({0x4000, "i32", {3}})
                .find("argument 3 ('key_lengths'): expected shape [2], got [3]"),
            std::string::npos);
  EXPECT_NE(lengthsError({0x4004, "i32", {2}}).find("16-byte aligned"),
            std::string::npos);
  EXPECT_NE(lengthsError({0, "i32", {2}}).find("null pointer"),
            std::string::npos);
}

TEST(RuntimeKernel, LoadReportsMissingFiles) {
  std::unique_ptr<Kernel> k;
  Status s = Kernel::load("/nonexistent.ptx", "/nonexistent.json", k);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("cannot open"), std::string::npos) << s.message;
}

// A hand-written kernel with a workspace between its caller's arguments:
// y[i] = x[i] + counters[i]; counters[i] += 1. Shows the workspace starts
// zeroed, sits at its manifest position and persists across launches.
static const char *kProbePtx = R"(
.version 7.0
.target sm_80
.address_size 64

.visible .entry ws_probe(.param .u64 x, .param .u64 counters, .param .u64 y)
{
  .reg .b32 %r<4>;
  .reg .f32 %f<4>;
  .reg .b64 %rd<8>;
  ld.param.u64 %rd1, [x];
  ld.param.u64 %rd2, [counters];
  ld.param.u64 %rd3, [y];
  cvta.to.global.u64 %rd1, %rd1;
  cvta.to.global.u64 %rd2, %rd2;
  cvta.to.global.u64 %rd3, %rd3;
  mov.u32 %r1, %tid.x;
  mul.wide.u32 %rd4, %r1, 4;
  add.s64 %rd5, %rd1, %rd4;
  add.s64 %rd6, %rd2, %rd4;
  add.s64 %rd7, %rd3, %rd4;
  ld.global.f32 %f1, [%rd5];
  ld.global.u32 %r2, [%rd6];
  cvt.rn.f32.s32 %f2, %r2;
  add.f32 %f3, %f1, %f2;
  st.global.f32 [%rd7], %f3;
  add.s32 %r3, %r2, 1;
  st.global.u32 [%rd6], %r3;
  ret;
}
)";

static const char *kProbeManifest = R"({
  "kernel": "ws_probe", "grid": [1, 1, 1], "block": [32, 1, 1],
  "shared_memory_bytes": 0,
  "arguments": [
    {"name": "x", "dtype": "f32", "shape": [32], "role": "input"},
    {"name": "counters", "dtype": "i32", "shape": [32], "role": "workspace", "zero_init": true},
    {"name": "y", "dtype": "f32", "shape": [32], "role": "output", "output": true}
  ]
})";

TEST(RuntimeKernel, WorkspacesAreZeroedAndPassedInPlace) {
  std::string why;
  if (!isGpuAvailable(&why))
    GTEST_SKIP() << "no GPU: " << why;
  std::string dir = ::testing::TempDir();
  std::string ptx = dir + "/attn_ws_probe.ptx",
              json = dir + "/attn_ws_probe.json";
  std::ofstream(ptx) << kProbePtx;
  std::ofstream(json) << kProbeManifest;
  std::unique_ptr<Kernel> kernel;
  Status s = Kernel::load(ptx, json, kernel);
  ASSERT_TRUE(s.ok) << s.message;
  uint64_t counters = kernel->workspace("counters");
  ASSERT_NE(counters, 0u);
  EXPECT_EQ(kernel->workspace("x"), 0u);

  std::vector<float> x(32), y(32, NAN);
  for (int i = 0; i < 32; ++i)
    x[i] = 0.5f * i;
  uint64_t dx, dy;
  ASSERT_TRUE(deviceAlloc(x.size() * 4, dx).ok);
  ASSERT_TRUE(deviceAlloc(y.size() * 4, dy).ok);
  ASSERT_TRUE(copyToDevice(dx, x.data(), x.size() * 4).ok);
  // Passing the workspace is refused before anything runs.
  s = kernel->launch({{dx, "f32", {32}}, {counters, "i32", {32}},
                      {dy, "f32", {32}}});
  EXPECT_NE(s.message.find("do not pass the workspaces (counters)"),
            std::string::npos)
      << s.message;
  for (int launch = 0; launch < 2; ++launch) {
    s = kernel->launch({{dx, "f32", {32}}, {dy, "f32", {32}}}, nullptr,
                       /*synchronize=*/true);
    ASSERT_TRUE(s.ok) << s.message;
    ASSERT_TRUE(copyToHost(y.data(), dy, y.size() * 4).ok);
    // Launch 0 sees the zero fill; launch 1 sees launch 0's increments.
    for (int i = 0; i < 32; ++i)
      EXPECT_EQ(y[i], x[i] + launch) << "launch " << launch << ", i " << i;
  }
  std::vector<int32_t> c(32);
  ASSERT_TRUE(copyToHost(c.data(), counters, c.size() * 4).ok);
  for (int32_t v : c)
    EXPECT_EQ(v, 2);
  for (uint64_t p : {dx, dy})
    deviceFree(p);
}

static uint16_t toBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1); // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}
static double fromBF16(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(RuntimeKernel, CausalGqaMatchesReference) {
  std::string why;
  if (!isGpuAvailable(&why))
    GTEST_SKIP() << "no GPU: " << why;
  const char *prefix = std::getenv("ATTN_TEST_KERNEL");
  if (!prefix)
    GTEST_SKIP() << "ATTN_TEST_KERNEL is not set (see the file header)";
  std::string image = std::string(prefix) + ".sm_90.cubin";
  if (!std::ifstream(image))
    image = std::string(prefix) + ".ptx";
  std::unique_ptr<Kernel> kernel;
  Status s = Kernel::load(image, std::string(prefix) + ".json", kernel);
  ASSERT_TRUE(s.ok) << s.message;

  const int64_t hq = 2, hkv = 1, lq = 100, lk = 130, d = 64;
  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  auto fill = [&](size_t n) {
    std::vector<uint16_t> v(n);
    for (auto &x : v)
      x = toBF16(dist(rng));
    return v;
  };
  std::vector<uint16_t> q = fill(hq * lq * d), k = fill(hkv * lk * d),
                        v = fill(hkv * lk * d);
  std::vector<uint16_t> o(hq * lq * d, 0xffff); // poison: NaN
  std::vector<float> lse(hq * lq, NAN);
  uint64_t dq, dk, dv, dO, dl;
  ASSERT_TRUE(deviceAlloc(q.size() * 2, dq).ok);
  ASSERT_TRUE(deviceAlloc(k.size() * 2, dk).ok);
  ASSERT_TRUE(deviceAlloc(v.size() * 2, dv).ok);
  ASSERT_TRUE(deviceAlloc(o.size() * 2, dO).ok);
  ASSERT_TRUE(deviceAlloc(lse.size() * 4, dl).ok);
  ASSERT_TRUE(copyToDevice(dq, q.data(), q.size() * 2).ok);
  ASSERT_TRUE(copyToDevice(dk, k.data(), k.size() * 2).ok);
  ASSERT_TRUE(copyToDevice(dv, v.data(), v.size() * 2).ok);
  ASSERT_TRUE(copyToDevice(dO, o.data(), o.size() * 2).ok);
  ASSERT_TRUE(copyToDevice(dl, lse.data(), lse.size() * 4).ok);
  s = kernel->launch({{dq, "bf16", {1, hq, lq, d}},
                      {dk, "bf16", {1, hkv, lk, d}},
                      {dv, "bf16", {1, hkv, lk, d}},
                      {dO, "bf16", {1, hq, lq, d}},
                      {dl, "f32", {1, hq, lq}}},
                     nullptr, /*synchronize=*/true);
  ASSERT_TRUE(s.ok) << s.message;
  ASSERT_TRUE(copyToHost(o.data(), dO, o.size() * 2).ok);
  ASSERT_TRUE(copyToHost(lse.data(), dl, lse.size() * 4).ok);

  // float64 reference, causal bottom-right: key j visible iff j <= i + lk - lq.
  double maxErr = 0, maxLseErr = 0;
  for (int64_t h = 0; h < hq; ++h)
    for (int64_t i = 0; i < lq; ++i) {
      std::vector<double> p(lk);
      double m = -INFINITY;
      for (int64_t j = 0; j < lk; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c)
          dot += fromBF16(q[(h * lq + i) * d + c]) *
                 fromBF16(k[((h / (hq / hkv)) * lk + j) * d + c]);
        p[j] = j <= i + lk - lq ? dot / std::sqrt(double(d)) : -INFINITY;
        m = std::max(m, p[j]);
      }
      double l = 0;
      for (double &x : p)
        l += (x = std::exp(x - m));
      for (int64_t c = 0; c < d; ++c) {
        double ref = 0;
        for (int64_t j = 0; j < lk; ++j)
          ref += p[j] / l * fromBF16(v[((h / (hq / hkv)) * lk + j) * d + c]);
        maxErr = std::max(maxErr,
                          std::abs(fromBF16(o[(h * lq + i) * d + c]) - ref));
      }
      maxLseErr = std::max(maxLseErr, std::abs(lse[h * lq + i] - (m + std::log(l))));
    }
  EXPECT_LT(maxErr, 2e-2) << "max |O - ref|";
  EXPECT_LT(maxLseErr, 1e-2) << "max |LSE - ref|";
  for (uint64_t p : {dq, dk, dv, dO, dl})
    deviceFree(p);
}

/// Launches the decode kernel ATTN_TEST_DECODE_KERNEL names with arguments
/// built from its manifest: random bf16/f16 tensors, ragged key lengths
/// (one empty sequence), a shuffled block table, positions = length - T.
TEST(RuntimeKernel, DecodeKernelIsDeterministicAndRearmsCounters) {
  std::string why;
  if (!isGpuAvailable(&why))
    GTEST_SKIP() << "no GPU: " << why;
  const char *prefix = std::getenv("ATTN_TEST_DECODE_KERNEL");
  if (!prefix)
    GTEST_SKIP() << "ATTN_TEST_DECODE_KERNEL is not set (see the file header)";
  std::unique_ptr<Kernel> kernel;
  Status s = Kernel::load(std::string(prefix) + ".sm_90.cubin",
                          std::string(prefix) + ".json", kernel);
  ASSERT_TRUE(s.ok) << s.message;
  const Manifest &m = kernel->manifest();
  auto find = [&](const std::string &name) -> const ManifestArgument * {
    for (const ManifestArgument &a : m.arguments)
      if (a.name == name)
        return &a;
    return nullptr;
  };
  int64_t batch = find("q")->shape[0], keys = 0, pageSize = 0, numPages = 0,
          tokens = 0;
  if (const ManifestArgument *k = find("k"))
    keys = k->shape[2];
  if (const ManifestArgument *k = find("k_cache"))
    keys = k->shape[2];
  if (const ManifestArgument *n = find("k_new"))
    tokens = n->shape[2];
  if (const ManifestArgument *p = find("k_pages")) {
    numPages = p->shape[0];
    pageSize = p->shape[1];
    keys = find("block_table")->shape[1] * pageSize;
  }
  ASSERT_GT(keys, 0) << "no k, k_cache or k_pages argument";
  std::vector<int32_t> lengths(batch);
  for (int64_t b = 0; b < batch; ++b)
    lengths[b] = b == 0 ? keys : b == batch - 1 && batch > 2 ? 0
                                                             : 1 + (keys * b) / batch;

  std::mt19937 rng(11);
  std::normal_distribution<float> dist;
  std::vector<TensorArg> args;
  std::vector<uint64_t> buffers;
  std::vector<std::pair<uint64_t, size_t>> outputs;
  for (const ManifestArgument &a : m.arguments) {
    if (a.isWorkspace())
      continue;
    size_t count = 1;
    for (int64_t dim : a.shape)
      count *= dim;
    size_t bytes = count * dtypeSize(a.dtype);
    std::vector<unsigned char> host(bytes, 0xff); // outputs: NaN poison
    if (a.name == "key_lengths") {
      std::memcpy(host.data(), lengths.data(), bytes);
    } else if (a.name == "positions") {
      std::vector<int32_t> pos(batch);
      for (int64_t b = 0; b < batch; ++b)
        pos[b] = lengths[b] - static_cast<int32_t>(tokens);
      std::memcpy(host.data(), pos.data(), bytes);
    } else if (a.name == "block_table") {
      std::vector<int32_t> table(count);
      for (size_t i = 0; i < count; ++i)
        table[i] = static_cast<int32_t>(i);
      std::shuffle(table.begin(), table.end(), rng);
      for (int32_t &page : table)
        page %= static_cast<int32_t>(numPages);
      std::memcpy(host.data(), table.data(), bytes);
    } else if (a.role == ArgumentRole::Input ||
               a.role == ArgumentRole::InOut) {
      auto *h = reinterpret_cast<uint16_t *>(host.data());
      for (size_t i = 0; i < count; ++i)
        h[i] = toBF16(dist(rng)); // f16 kernels read finite values too
    }
    uint64_t ptr;
    ASSERT_TRUE(deviceAlloc(bytes, ptr).ok);
    ASSERT_TRUE(copyToDevice(ptr, host.data(), bytes).ok);
    buffers.push_back(ptr);
    args.push_back({ptr, a.dtype, a.shape});
    if (a.role == ArgumentRole::Output)
      outputs.push_back({ptr, bytes});
  }
  auto run = [&]() {
    Status st = kernel->launch(args, nullptr, /*synchronize=*/true);
    EXPECT_TRUE(st.ok) << st.message;
    std::vector<std::vector<unsigned char>> out;
    for (auto [ptr, bytes] : outputs) {
      out.emplace_back(bytes);
      EXPECT_TRUE(copyToHost(out.back().data(), ptr, bytes).ok);
    }
    return out;
  };
  std::vector<std::vector<unsigned char>> first = run(), second = run();
  EXPECT_EQ(first, second) << "two launches on the same inputs differ";
  // O is written everywhere: no 0xffff (the poison, a NaN) is left.
  std::vector<unsigned char> &o = first.front();
  for (size_t i = 0; i + 1 < o.size(); i += 2)
    ASSERT_NE(o[i] | (o[i + 1] << 8), 0xffff)
        << "O element " << i / 2 << " not written (or NaN)";
  if (uint64_t counters = kernel->workspace("split_counters")) {
    std::vector<int32_t> c(m.grid[1]);
    ASSERT_TRUE(copyToHost(c.data(), counters, c.size() * 4).ok);
    for (int32_t v : c)
      EXPECT_EQ(v, 0) << "split counter not re-armed";
  }
  for (uint64_t p : buffers)
    deviceFree(p);
}
