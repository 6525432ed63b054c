//===- RuntimeTest.cpp - lib/Runtime: manifest, argument checks, launch ---===//
//
// Part of attn-mlir. The manifest and argument checks run everywhere. The
// launch test needs a GPU and a kernel made by attn-compile: set
// ATTN_TEST_KERNEL=<prefix> (for <prefix>.json and <prefix>.sm_90.cubin or
// <prefix>.ptx, compiled with --batch=1 --heads-q=2 --heads-kv=1
// --seq-q=100 --seq-k=130 --head-dim=64 --mask=causal); it skips with a
// message otherwise.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
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
  EXPECT_NE(s.message.find("expected 2 arguments, got 1"), std::string::npos);
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

TEST(RuntimeKernel, LoadReportsMissingFiles) {
  std::unique_ptr<Kernel> k;
  Status s = Kernel::load("/nonexistent.ptx", "/nonexistent.json", k);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("cannot open"), std::string::npos) << s.message;
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
