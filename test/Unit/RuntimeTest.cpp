//===- RuntimeTest.cpp - lib/Runtime: contexts, loading, launch, C ABI ----===//
//
// Part of attn-mlir. The manifest schema and argument checks are in
// ManifestTest.cpp. Here: errors that need no GPU (missing files, bad device
// ordinals, the C ABI's codes for bad calls), then, with a GPU, a
// hand-written PTX probe loaded from memory that shows workspaces start
// zeroed, sit at their manifest position, persist across launches and can
// be the caller's (one per concurrent launch). The attention launch test
// needs a GPU and a kernel made by attn-compile: set
// ATTN_TEST_KERNEL=<prefix> (for <prefix>.json and <prefix>.sm_90.cubin or
// <prefix>.ptx, compiled with --batch=1 --heads-q=2 --heads-kv=1
// --seq-q=100 --seq-k=130 --head-dim=64 --mask=causal); it skips with a
// message otherwise. ATTN_TEST_DECODE_KERNEL=<prefix> names a decode kernel
// (any flags, e.g. --key-lengths --page-size=16): the test fills its
// arguments from the manifest and checks that two launches write every
// output, agree bit for bit and leave the split counters re-armed, also when
// two streams launch it at once on caller workspaces (run it under
// compute-sanitizer for memory and shared-memory race checks).
//
//===----------------------------------------------------------------------===//

#include "attn-c/Runtime.h"
#include "attn/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

using namespace attn::runtime;

TEST(RuntimeKernel, LoadReportsMissingFiles) {
  std::unique_ptr<Kernel> k;
  Status s = Kernel::load("/nonexistent.ptx", "/nonexistent.json", k);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.code, ErrorCode::Io);
  EXPECT_NE(s.message.find("cannot open"), std::string::npos) << s.message;
}

// Devices are explicit: an ordinal outside [0, count) is refused, with a GPU
// or without a driver.
// A kernel runs where its chip allows: sm_80 PTX/cubins on compute
// capability 8.0 and later, the architecture-specific sm_90a (wgmma,
// setmaxnreg) on 9.0 only. No GPU is needed to check the rule.
TEST(RuntimeKernel, ChipMustMatchTheDevice) {
  EXPECT_TRUE(checkChip("sm_80", 90, "k", 0));
  EXPECT_TRUE(checkChip("sm_90", 90, "k", 0));
  EXPECT_TRUE(checkChip("sm_90a", 90, "k", 0));
  Status old = checkChip("sm_90", 80, "k", 0);
  EXPECT_EQ(old.code, ErrorCode::Unsupported);
  EXPECT_NE(old.message.find("compiled for sm_90 (compute capability 9.0 or "
                             "later); device 0 is 8.0"),
            std::string::npos)
      << old.message;
  Status arch = checkChip("sm_90a", 100, "attention_kernel", 1);
  EXPECT_EQ(arch.code, ErrorCode::Unsupported);
  EXPECT_NE(arch.message.find("'attention_kernel' was compiled for sm_90a "
                              "(exactly compute capability 9.0); device 1 "
                              "is 10.0"),
            std::string::npos)
      << arch.message;
}

TEST(RuntimeContext, BadOrdinalsAreNoDevice) {
  for (int ordinal : {-1, 1 << 20, INT_MIN}) {
    std::unique_ptr<Context> ctx;
    Status s = Context::create(ordinal, ctx);
    EXPECT_EQ(s.code, ErrorCode::NoDevice) << s.message;
    EXPECT_FALSE(ctx);
  }
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
  "schema_version": [1, 0], "kernel": "ws_probe", "family": "custom",
  "chip": "sm_80", "grid": [1, 1, 1], "block": [32, 1, 1],
  "shared_memory_bytes": 0,
  "arguments": [
    {"name": "x", "dtype": "f32", "shape": [32], "role": "input"},
    {"name": "counters", "dtype": "i32", "shape": [32], "role": "workspace", "zero_init": true},
    {"name": "y", "dtype": "f32", "shape": [32], "role": "output", "output": true}
  ]
})";

//===----------------------------------------------------------------------===//
// C ABI: bad calls are codes (no GPU needed up to the device step)
//===----------------------------------------------------------------------===//

TEST(RuntimeCAPI, BadCallsReturnCodesAndMessages) {
  AttnKernel *k = nullptr;
  EXPECT_EQ(attnKernelLaunch(nullptr, 0, nullptr, nullptr, nullptr, nullptr,
                             nullptr, 0),
            ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(attnRuntimeLastErrorCode(), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnRuntimeLastError()).find("null kernel"),
            std::string::npos);
  EXPECT_EQ(attnKernelCreate("/nonexistent.ptx", "/nonexistent.json", &k),
            ATTN_STATUS_IO);
  EXPECT_EQ(k, nullptr);
  const char image[] = "not ptx";
  std::string manifest = kProbeManifest;
  EXPECT_EQ(attnKernelCreateFromMemory(nullptr, image, sizeof image,
                                       manifest.data(), manifest.size(), 4,
                                       &k),
            ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(attnKernelCreateFromMemory(nullptr, nullptr, 0, manifest.data(),
                                       manifest.size(), 0, &k),
            ATTN_STATUS_INVALID_ARGUMENT);
  // The manifest is read before any device is touched.
  std::string bad = "{\"schema_version\": [1, 0], \"kernel\": 5}";
  EXPECT_EQ(attnKernelCreateFromMemory(nullptr, image, sizeof image,
                                       bad.data(), bad.size(), 0, &k),
            ATTN_STATUS_INVALID_MANIFEST);
  EXPECT_NE(std::string(attnRuntimeLastError()).find("'kernel'"),
            std::string::npos)
      << attnRuntimeLastError();
  std::string v2 = manifest;
  v2.replace(v2.find("[1, 0]"), 6, "[2, 0]");
  EXPECT_EQ(attnKernelCreateFromMemory(nullptr, image, sizeof image, v2.data(),
                                       v2.size(), 0, &k),
            ATTN_STATUS_UNSUPPORTED_VERSION);
  // A size past the limit is refused before anything is copied from it.
  EXPECT_EQ(attnKernelCreateFromMemory(nullptr, image, sizeof image,
                                       manifest.data(), size_t(1) << 40, 0,
                                       &k),
            ATTN_STATUS_INVALID_MANIFEST);
  EXPECT_EQ(k, nullptr);
  EXPECT_EQ(attnContextCreate(-1, nullptr), ATTN_STATUS_INVALID_ARGUMENT);
  AttnContext *ctx = nullptr;
  EXPECT_EQ(attnContextCreate(1 << 20, &ctx), ATTN_STATUS_NO_DEVICE);
  EXPECT_EQ(ctx, nullptr);
  size_t bytes = 7;
  EXPECT_EQ(attnKernelGetWorkspaceSize(nullptr, &bytes),
            ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(bytes, 7u);
  int major = 0, minor = -1;
  attnRuntimeManifestVersion(&major, &minor);
  EXPECT_EQ(major, kManifestMajorVersion);
  EXPECT_EQ(minor, kManifestMinorVersion);
}

/// The probe on device 0, loaded from memory, with a device x and y.
struct Probe {
  std::unique_ptr<Context> ctx;
  std::unique_ptr<Kernel> kernel;
  std::vector<float> x = std::vector<float>(32);
  uint64_t dx = 0, dy = 0;

  Status load(bool allocateWorkspace) {
    if (Status s = Context::create(0, ctx); !s)
      return s;
    LoadOptions options;
    options.allocateWorkspace = allocateWorkspace;
    if (Status s = Kernel::loadImage(ctx.get(), kProbePtx,
                                     std::strlen(kProbePtx), kProbeManifest,
                                     options, kernel);
        !s)
      return s;
    for (int i = 0; i < 32; ++i)
      x[i] = 0.5f * i;
    if (Status s = deviceAlloc(128, dx); !s)
      return s;
    if (Status s = deviceAlloc(128, dy); !s)
      return s;
    return copyToDevice(dx, x.data(), 128);
  }
  std::vector<TensorArg> args() const {
    return {{dx, "f32", {32}}, {dy, "f32", {32}}};
  }
  std::vector<float> y() const {
    std::vector<float> out(32, NAN);
    EXPECT_TRUE(copyToHost(out.data(), dy, 128).ok);
    return out;
  }
  ~Probe() {
    for (uint64_t p : {dx, dy})
      if (p)
        deviceFree(p);
  }
};

TEST(RuntimeKernel, WorkspacesAreZeroedAndPassedInPlace) {
  std::string why;
  if (!isGpuAvailable(&why))
    GTEST_SKIP() << "no GPU: " << why;
  Probe probe;
  Status s = probe.load(/*allocateWorkspace=*/true);
  ASSERT_TRUE(s.ok) << s.message;
  Kernel &kernel = *probe.kernel;
  uint64_t counters = kernel.workspace("counters");
  ASSERT_NE(counters, 0u);
  EXPECT_EQ(kernel.workspace("x"), 0u);
  EXPECT_EQ(kernel.workspaceBytes(), 256u); // 128 bytes, rounded up
  // Passing the workspace is refused before anything runs.
  s = kernel.launch({{probe.dx, "f32", {32}}, {counters, "i32", {32}},
                     {probe.dy, "f32", {32}}});
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_NE(s.message.find("do not pass the workspaces (counters)"),
            std::string::npos)
      << s.message;
  for (int launch = 0; launch < 2; ++launch) {
    s = kernel.launch(probe.args(), nullptr, /*synchronize=*/true);
    ASSERT_TRUE(s.ok) << s.message;
    // Launch 0 sees the zero fill; launch 1 sees launch 0's increments.
    std::vector<float> y = probe.y();
    for (int i = 0; i < 32; ++i)
      EXPECT_EQ(y[i], probe.x[i] + launch) << "launch " << launch << ", i " << i;
  }
  std::vector<int32_t> c(32);
  ASSERT_TRUE(copyToHost(c.data(), counters, c.size() * 4).ok);
  for (int32_t v : c)
    EXPECT_EQ(v, 2);
}

// Caller workspaces: each launch brings its own (what a caching allocator
// hands out per stream), so launches with distinct workspaces share
// nothing; a missing, small or misaligned one is refused.
TEST(RuntimeKernel, CallerWorkspacesAreIndependent) {
  std::string why;
  if (!isGpuAvailable(&why))
    GTEST_SKIP() << "no GPU: " << why;
  Probe probe;
  Status s = probe.load(/*allocateWorkspace=*/false);
  ASSERT_TRUE(s.ok) << s.message;
  Kernel &kernel = *probe.kernel;
  EXPECT_EQ(kernel.workspace("counters"), 0u);
  size_t bytes = kernel.workspaceBytes();
  ASSERT_EQ(bytes, 256u);
  s = kernel.launch(probe.args(), nullptr, true);
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_NE(s.message.find("expected a workspace of 256 bytes"),
            std::string::npos)
      << s.message;
  uint64_t a = 0, b = 0;
  ASSERT_TRUE(deviceAlloc(bytes, a).ok);
  ASSERT_TRUE(deviceAlloc(bytes, b).ok);
  ASSERT_TRUE(deviceMemset(a, 0xab, bytes).ok);
  ASSERT_TRUE(deviceMemset(b, 0xab, bytes).ok);
  ASSERT_TRUE(kernel.initWorkspace(a, bytes).ok);
  ASSERT_TRUE(kernel.initWorkspace(b, bytes).ok);
  LaunchOptions options;
  options.synchronize = true;
  options.workspaceBytes = bytes;
  int expected[] = {0, 1, 0, 2}; // a, a, b, a
  uint64_t order[] = {a, a, b, a};
  for (int i = 0; i < 4; ++i) {
    options.workspace = order[i];
    s = kernel.launch(probe.args(), options);
    ASSERT_TRUE(s.ok) << s.message;
    std::vector<float> y = probe.y();
    EXPECT_EQ(y[3], probe.x[3] + expected[i]) << "launch " << i;
  }
  options.workspaceBytes = bytes - 1;
  EXPECT_NE(kernel.launch(probe.args(), options).message.find("at least 256"),
            std::string::npos);
  options.workspace = a + 16;
  options.workspaceBytes = bytes;
  EXPECT_NE(kernel.launch(probe.args(), options).message.find("256-byte"),
            std::string::npos);
  for (uint64_t p : {a, b})
    deviceFree(p);
}

// More shared memory than the device offers is refused at load, with both
// numbers, instead of failing at the first launch.
TEST(RuntimeKernel, SharedMemoryBeyondTheDeviceIsRefusedAtLoad) {
  std::string why;
  if (!isGpuAvailable(&why))
    GTEST_SKIP() << "no GPU: " << why;
  std::unique_ptr<Context> ctx;
  ASSERT_TRUE(Context::create(0, ctx).ok);
  std::string manifest = kProbeManifest;
  manifest.replace(manifest.find("\"shared_memory_bytes\": 0"), 24,
                   "\"shared_memory_bytes\": 16777216");
  std::unique_ptr<Kernel> kernel;
  Status s = Kernel::loadImage(ctx.get(), kProbePtx, std::strlen(kProbePtx),
                               manifest, LoadOptions(), kernel);
  EXPECT_EQ(s.code, ErrorCode::Unsupported) << s.message;
  EXPECT_NE(s.message.find("needs 16777216 bytes of shared memory"),
            std::string::npos)
      << s.message;
}

// The C ABI end to end: load from memory into an explicit context, query
// the workspace, launch with the caller's, and refuse bad counts and ranks
// with codes (once a std::length_error / bad_alloc through the ABI).
TEST(RuntimeCAPI, LaunchThroughTheCAbi) {
  std::string why;
  if (!isGpuAvailable(&why))
    GTEST_SKIP() << "no GPU: " << why;
  AttnContext *ctx = nullptr;
  ASSERT_EQ(attnContextCreate(0, &ctx), ATTN_STATUS_OK) << attnRuntimeLastError();
  int device = -1;
  EXPECT_EQ(attnContextGetDevice(ctx, &device), ATTN_STATUS_OK);
  EXPECT_EQ(device, 0);
  AttnKernel *k = nullptr;
  std::string manifest = kProbeManifest;
  ASSERT_EQ(attnKernelCreateFromMemory(ctx, kProbePtx, std::strlen(kProbePtx),
                                       manifest.data(), manifest.size(),
                                       ATTN_KERNEL_CALLER_WORKSPACE, &k),
            ATTN_STATUS_OK)
      << attnRuntimeLastError();
  EXPECT_NE(std::string(attnKernelGetManifest(k)).find("\"schema_version\": [1, 2]"),
            std::string::npos);
  size_t bytes = 0;
  ASSERT_EQ(attnKernelGetWorkspaceSize(k, &bytes), ATTN_STATUS_OK);
  ASSERT_EQ(bytes, 256u);
  uint64_t ws = 0, dx = 0, dy = 0;
  ASSERT_TRUE(deviceAlloc(bytes, ws).ok);
  ASSERT_TRUE(deviceAlloc(128, dx).ok);
  ASSERT_TRUE(deviceAlloc(128, dy).ok);
  ASSERT_EQ(attnKernelInitWorkspace(k, ws, bytes, nullptr), ATTN_STATUS_OK);
  uint64_t ptrs[] = {dx, dy};
  const char *dtypes[] = {"f32", "f32"};
  int32_t ranks[] = {1, 1};
  int64_t shapes[] = {32, 32};
  EXPECT_EQ(attnKernelLaunchWithWorkspace(k, 2, ptrs, dtypes, ranks, shapes,
                                          ws, bytes, nullptr, 1),
            ATTN_STATUS_OK)
      << attnRuntimeLastError();
  // A plan of the same signature launches on pointers alone.
  AttnLaunchPlan *plan = nullptr;
  ASSERT_EQ(attnKernelPrepareLaunch(k, 2, dtypes, ranks, shapes, nullptr, &plan),
            ATTN_STATUS_OK)
      << attnRuntimeLastError();
  EXPECT_EQ(attnLaunchPlanLaunch(plan, ptrs, ws, bytes, nullptr, 1), ATTN_STATUS_OK)
      << attnRuntimeLastError();
  uint64_t nullPtrs[] = {dx, 0};
  EXPECT_EQ(attnLaunchPlanLaunch(plan, nullPtrs, ws, bytes, nullptr, 1),
            ATTN_STATUS_ARGUMENT_MISMATCH);
  attnLaunchPlanDestroy(plan);
  int64_t wrong[] = {32, 16};
  EXPECT_EQ(attnKernelPrepareLaunch(k, 2, dtypes, ranks, wrong, nullptr, &plan),
            ATTN_STATUS_ARGUMENT_MISMATCH);
  EXPECT_EQ(attnKernelPrepareLaunch(k, INT32_MAX, dtypes, ranks, shapes, nullptr,
                                    &plan),
            ATTN_STATUS_ARGUMENT_MISMATCH);
  // No workspace for a kernel loaded without one.
  EXPECT_EQ(attnKernelLaunch(k, 2, ptrs, dtypes, ranks, shapes, nullptr, 1),
            ATTN_STATUS_ARGUMENT_MISMATCH);
  EXPECT_EQ(attnKernelLaunchWithWorkspace(k, INT32_MAX, ptrs, dtypes, ranks,
                                          shapes, ws, bytes, nullptr, 1),
            ATTN_STATUS_ARGUMENT_MISMATCH);
  for (int32_t rank : {-1, INT32_MIN}) {
    int32_t bad[] = {rank, 1};
    EXPECT_EQ(attnKernelLaunchWithWorkspace(k, 2, ptrs, dtypes, bad, shapes,
                                            ws, bytes, nullptr, 1),
              ATTN_STATUS_INVALID_ARGUMENT);
  }
  attnKernelDestroy(k);
  attnContextDestroy(ctx);
  for (uint64_t p : {ws, dx, dy})
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
  std::vector<size_t> outputArgs; // Their positions in `args`.
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
    if (a.role == ArgumentRole::Output) {
      outputs.push_back({ptr, bytes});
      outputArgs.push_back(args.size() - 1);
    }
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

  // One kernel object, two non-blocking streams launching at once, each
  // with its own workspace and outputs (a serving host with a caching
  // allocator): every launch gives the kernel-owned path's bytes, and each
  // workspace's counters end re-armed.
  size_t wsBytes = kernel->workspaceBytes();
  void *streams[2] = {nullptr, nullptr};
  uint64_t workspaces[2] = {0, 0};
  std::vector<TensorArg> streamArgs[2] = {args, args};
  for (int s2 = 0; s2 < 2; ++s2) {
    ASSERT_TRUE(streamCreate(streams[s2]).ok);
    if (wsBytes) {
      ASSERT_TRUE(deviceAlloc(wsBytes, workspaces[s2]).ok);
      ASSERT_TRUE(deviceMemset(workspaces[s2], 0x5a, wsBytes).ok);
      ASSERT_TRUE(
          kernel->initWorkspace(workspaces[s2], wsBytes, streams[s2]).ok);
    }
    for (size_t i = 0; i < outputArgs.size(); ++i) {
      uint64_t ptr;
      ASSERT_TRUE(deviceAlloc(outputs[i].second, ptr).ok);
      buffers.push_back(ptr);
      streamArgs[s2][outputArgs[i]].devicePtr = ptr;
    }
  }
  for (int round = 0; round < 3; ++round)
    for (int s2 = 0; s2 < 2; ++s2) {
      LaunchOptions options;
      options.stream = streams[s2];
      options.workspace = workspaces[s2];
      options.workspaceBytes = wsBytes;
      Status st = kernel->launch(streamArgs[s2], options);
      ASSERT_TRUE(st.ok) << st.message;
    }
  for (int s2 = 0; s2 < 2; ++s2) {
    ASSERT_TRUE(streamSynchronize(streams[s2]).ok);
    for (size_t i = 0; i < outputArgs.size(); ++i) {
      std::vector<unsigned char> out(outputs[i].second);
      ASSERT_TRUE(copyToHost(out.data(),
                             streamArgs[s2][outputArgs[i]].devicePtr,
                             out.size())
                      .ok);
      EXPECT_EQ(out, first[i]) << "stream " << s2 << ", output " << i;
    }
    for (const WorkspaceSlice &slice : kernel->workspaces())
      if (m.arguments[slice.argument].name == "split_counters") {
        std::vector<int32_t> c(slice.bytes / 4);
        ASSERT_TRUE(
            copyToHost(c.data(), workspaces[s2] + slice.offset, slice.bytes)
                .ok);
        for (int32_t v : c)
          EXPECT_EQ(v, 0) << "stream " << s2 << ": counter not re-armed";
      }
    streamDestroy(streams[s2]);
    if (workspaces[s2])
      deviceFree(workspaces[s2]);
  }
  for (uint64_t p : buffers)
    deviceFree(p);
}
