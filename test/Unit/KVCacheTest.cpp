//===- KVCacheTest.cpp - lib/Runtime KV cache managers --------------------===//
//
// Part of attn-mlir. Round trips through both layouts, the exact storage
// index formulas of docs/KVCache.md, page reuse, block tables, and for every
// error class a proof that the rejected call changed nothing: the whole K/V
// storage and all public bookkeeping are snapshotted before the call and
// compared bit-exactly after it. A randomized run checks the managers
// against a simple model. The all-or-nothing and randomized tests run on
// host storage and, when built with cuda.h and run with a GPU, on
// DeviceKVStorage, whose bytes the snapshots read back from the device; the
// device variants skip with the reason otherwise.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/KVCache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

using namespace attn::runtime;

namespace attn::runtime {
void PrintTo(KVLayout layout, std::ostream *os) {
  *os << (layout == KVLayout::Paged ? "Paged" : "Contiguous");
}
} // namespace attn::runtime

#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    KVStatus status_ = (expr);                                                 \
    ASSERT_TRUE(status_.ok()) << #expr << ": " << status_.message();           \
  } while (0)

namespace {

using Bytes = std::vector<unsigned char>;

KVCacheConfig pagedConfig(int64_t pageSize, int64_t numPages) {
  KVCacheConfig config;
  config.layout = KVLayout::Paged;
  config.numKVHeads = 2;
  config.headDim = 8;
  config.elementBytes = 2;
  config.pageSize = pageSize;
  config.numPages = numPages;
  config.maxSequences = 4;
  config.maxLength = 4 * pageSize;
  return config;
}

KVCacheConfig asContiguous(KVCacheConfig config) {
  config.layout = KVLayout::Contiguous;
  return config;
}

/// Where a test cache keeps its K and V bytes.
enum class StorageKind { Host, Device };

std::string storageName(StorageKind kind) {
  return kind == StorageKind::Host ? "Host" : "Device";
}

// Readable parameters in test listings (ctest -N), instead of raw bytes.
void PrintTo(StorageKind kind, std::ostream *os) { *os << storageName(kind); }

/// Why device storage cannot be used here ("" if it can); computed once.
const std::string &deviceSkipReason() {
  static const std::string reason = [] {
#if ATTN_HAVE_DEVICE_KV_STORAGE
    std::unique_ptr<DeviceKVStorage> probe;
    KVStatus status = DeviceKVStorage::create(16, probe);
    return status.ok() ? std::string() : status.message();
#else
    return std::string("built without cuda.h: no DeviceKVStorage");
#endif
  }();
  return reason;
}

std::unique_ptr<KVCacheManager> makeCache(const KVCacheConfig &config,
                                          StorageKind kind = StorageKind::Host) {
  std::unique_ptr<KVCacheManager> cache;
  KVStatus status = KVStatus::success();
  if (kind == StorageKind::Host) {
    status = KVCacheManager::create(config, cache);
  } else {
#if ATTN_HAVE_DEVICE_KV_STORAGE
    std::unique_ptr<DeviceKVStorage> storage;
    status = DeviceKVStorage::create(kvStorageBytes(config), storage);
    if (status)
      status = KVCacheManager::create(config, std::move(storage), cache);
#else
    status = KVStatus::error(KVErrc::StorageFailure, deviceSkipReason());
#endif
  }
  EXPECT_TRUE(status.ok()) << status.message();
  return cache;
}

/// Random bytes standing in for [numTokens, Hkv, D] K or V rows; the cache
/// never interprets elements, so bytes test bit-exactness directly.
Bytes randomTokens(std::mt19937 &rng, int64_t numTokens, int64_t tokenBytes) {
  Bytes bytes(static_cast<size_t>(numTokens * tokenBytes));
  for (unsigned char &b : bytes)
    b = static_cast<unsigned char>(rng() & 0xff);
  return bytes;
}

/// The default (host) storage hands kernels a host pointer.
const unsigned char *hostBytes(const KVCacheManager &cache, KVTensor tensor) {
  return reinterpret_cast<const unsigned char *>(
      static_cast<uintptr_t>(cache.storage().address(tensor)));
}

Bytes slice(const Bytes &tokens, int64_t first, int64_t count,
            int64_t tokenBytes) {
  auto begin = tokens.begin() + first * tokenBytes;
  return Bytes(begin, begin + count * tokenBytes);
}

/// Everything a caller can observe about a cache.
struct Snapshot {
  Bytes k, v;
  std::vector<int> allocated;
  std::vector<int64_t> lengths;
  std::vector<std::vector<int32_t>> tables; // Per slot, paged only.
  std::vector<int32_t> freePages;
  std::vector<int32_t> owners;
  int64_t numAllocated = 0;

  bool operator==(const Snapshot &o) const {
    return k == o.k && v == o.v && allocated == o.allocated &&
           lengths == o.lengths && tables == o.tables &&
           freePages == o.freePages && owners == o.owners &&
           numAllocated == o.numAllocated;
  }
};

Snapshot snapshot(const KVCacheManager &cache) {
  const KVCacheConfig &c = cache.config();
  Snapshot s;
  size_t bytes = cache.storage().bytesPerTensor();
  s.k.resize(bytes);
  s.v.resize(bytes);
  EXPECT_TRUE(cache.storage().read(KVTensor::K, 0, s.k.data(), bytes).ok());
  EXPECT_TRUE(cache.storage().read(KVTensor::V, 0, s.v.data(), bytes).ok());
  bool paged = c.layout == KVLayout::Paged;
  int64_t widest = std::max(c.numPages, c.maxPagesPerSequence());
  for (int32_t id = 0; id < c.maxSequences; ++id) {
    s.allocated.push_back(cache.isAllocated(id));
    int64_t length = -1;
    std::vector<int32_t> table;
    if (cache.isAllocated(id)) {
      EXPECT_TRUE(cache.length(id, length).ok());
      if (paged) {
        EXPECT_TRUE(cache.blockTable({id}, widest, table).ok());
      }
    }
    s.lengths.push_back(length);
    s.tables.push_back(table);
  }
  s.freePages = cache.freePageList();
  for (int32_t page = 0; paged && page < c.numPages; ++page) {
    int32_t owner = -2;
    EXPECT_TRUE(cache.pageOwner(page, owner).ok());
    s.owners.push_back(owner);
  }
  s.numAllocated = cache.numAllocatedSequences();
  return s;
}

/// Runs `call`, which must fail with `code` and a message containing
/// `needle`, and checks that the cache is bit-exact before and after.
void expectRejected(const KVCacheManager &cache,
                    const std::function<KVStatus()> &call, KVErrc code,
                    const std::string &needle) {
  Snapshot before = snapshot(cache);
  KVStatus status = call();
  EXPECT_FALSE(status.ok())
      << "expected an error containing '" << needle << "'";
  EXPECT_EQ(status.code(), code) << status.message();
  EXPECT_NE(status.message().find(needle), std::string::npos)
      << status.message();
  EXPECT_TRUE(before == snapshot(cache)) << "rejected call changed the cache";
}

//===----------------------------------------------------------------------===//
// Configuration
//===----------------------------------------------------------------------===//

TEST(KVCacheConfigTest, RejectsEachBadField) {
  struct Case {
    std::function<void(KVCacheConfig &)> edit;
    const char *needle;
  };
  std::vector<Case> cases = {
      {[](KVCacheConfig &c) { c.numKVHeads = 0; }, "numKVHeads"},
      {[](KVCacheConfig &c) { c.headDim = -1; }, "headDim"},
      {[](KVCacheConfig &c) { c.elementBytes = 3; }, "elementBytes"},
      {[](KVCacheConfig &c) { c.pageSize = 8; }, "pageSize"},
      {[](KVCacheConfig &c) { c.pageSize = 512; }, "pageSize"},
      {[](KVCacheConfig &c) { c.pageSize = 48; }, "pageSize"},
      // Once signed overflow in the power-of-two test (pageSize - 1).
      {[](KVCacheConfig &c) { c.pageSize = INT64_MIN; }, "pageSize"},
      {[](KVCacheConfig &c) { c.pageSize = INT64_MAX; }, "pageSize"},
      {[](KVCacheConfig &c) { c.numPages = 0; }, "numPages"},
      {[](KVCacheConfig &c) { c.maxSequences = 0; }, "maxSequences"},
      {[](KVCacheConfig &c) { c.maxLength = int64_t(1) << 31; }, "maxLength"},
      {[](KVCacheConfig &c) {
         c.numKVHeads = int64_t(1) << 40;
         c.headDim = int64_t(1) << 30;
       },
       "64 bits"},
  };
  for (const Case &test : cases) {
    KVCacheConfig config = pagedConfig(16, 8);
    test.edit(config);
    std::unique_ptr<KVCacheManager> cache;
    KVStatus status = KVCacheManager::create(config, cache);
    EXPECT_EQ(status.code(), KVErrc::InvalidConfig) << test.needle;
    EXPECT_NE(status.message().find(test.needle), std::string::npos)
        << status.message();
    EXPECT_EQ(cache, nullptr);
  }
}

TEST(KVCacheConfigTest, ContiguousIgnoresPageFields) {
  KVCacheConfig config = asContiguous(pagedConfig(16, 8));
  config.pageSize = 0;
  config.numPages = 0;
  EXPECT_TRUE(validateKVCacheConfig(config).ok());
  EXPECT_EQ(kvStorageBytes(config), size_t(4 * 64 * 2 * 8 * 2));
  EXPECT_EQ(config.maxPagesPerSequence(), 0);
  std::unique_ptr<KVCacheManager> cache = makeCache(config);
  ASSERT_NE(cache, nullptr);
  int32_t id;
  ASSERT_OK(cache->allocateSequence(id));
  std::vector<int32_t> table;
  EXPECT_EQ(cache->blockTable({id}, 1, table).code(), KVErrc::BadPage);
}

TEST(KVCacheConfigTest, StorageSizeMatchesLayout) {
  KVCacheConfig config = pagedConfig(64, 10);
  EXPECT_EQ(kvStorageBytes(config), size_t(10 * 64 * 2 * 8 * 2));
  std::unique_ptr<KVCacheManager> cache = makeCache(config);
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->storage().bytesPerTensor(), kvStorageBytes(config));
  EXPECT_EQ(cache->numFreePages(), 10);
  EXPECT_EQ(cache->freePageList(),
            (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

//===----------------------------------------------------------------------===//
// Round trips and layouts
//===----------------------------------------------------------------------===//

class KVCachePageSizeTest : public ::testing::TestWithParam<int64_t> {};

// Appends in chunks that start and end inside pages, on boundaries and span
// several pages, then reads every token back three ways: readToken, the raw
// storage bytes at the documented offset, and readPage.
TEST_P(KVCachePageSizeTest, AppendRoundTripsAcrossPageBoundaries) {
  const int64_t pageSize = GetParam();
  KVCacheConfig config = pagedConfig(pageSize, 12);
  std::unique_ptr<KVCacheManager> cache = makeCache(config);
  ASSERT_NE(cache, nullptr);
  const int64_t tokenBytes = config.tokenBytes();
  const int64_t headBytes = config.headDim * config.elementBytes;

  // Two sequences interleaved so their pages interleave in the pool.
  int32_t a, b;
  ASSERT_OK(cache->allocateSequence(a));
  ASSERT_OK(cache->allocateSequence(b));
  std::mt19937 rng(1234);
  std::vector<int64_t> chunks = {1,        pageSize - 2, 3,
                                 pageSize, pageSize + 5, pageSize - 7};
  Bytes kA, vA, kB, vB;
  for (int64_t n : chunks) {
    Bytes k = randomTokens(rng, n, tokenBytes),
          v = randomTokens(rng, n, tokenBytes);
    ASSERT_OK(cache->append(a, k.data(), v.data(), n));
    kA.insert(kA.end(), k.begin(), k.end());
    vA.insert(vA.end(), v.begin(), v.end());
    k = randomTokens(rng, 1, tokenBytes);
    v = randomTokens(rng, 1, tokenBytes);
    ASSERT_OK(cache->append(b, k.data(), v.data(), 1));
    kB.insert(kB.end(), k.begin(), k.end());
    vB.insert(vB.end(), v.begin(), v.end());
  }
  const int64_t lengthA = static_cast<int64_t>(kA.size()) / tokenBytes;
  int64_t length = 0;
  ASSERT_OK(cache->length(a, length));
  ASSERT_EQ(length, lengthA);
  ASSERT_EQ(lengthA, 4 * pageSize);

  const unsigned char *storedK = hostBytes(*cache, KVTensor::K);
  const unsigned char *storedV = hostBytes(*cache, KVTensor::V);
  Bytes pageK(pageSize * tokenBytes), pageV(pageSize * tokenBytes);
  for (int64_t p = 0; p < lengthA; ++p) {
    Bytes k(tokenBytes), v(tokenBytes);
    ASSERT_OK(cache->readToken(a, p, k.data(), v.data()));
    ASSERT_EQ(k, slice(kA, p, 1, tokenBytes)) << "K token " << p;
    ASSERT_EQ(v, slice(vA, p, 1, tokenBytes)) << "V token " << p;

    // K[page, slot, h, d] at ((page * pageSize + slot) * Hkv + h) * D + d.
    int32_t page = -1;
    ASSERT_OK(cache->pageOf(a, p, page));
    int64_t slot = p % pageSize;
    for (int64_t h = 0; h < config.numKVHeads; ++h) {
      size_t offset =
          ((page * pageSize + slot) * config.numKVHeads + h) * headBytes;
      EXPECT_EQ(0, std::memcmp(storedK + offset,
                               kA.data() + p * tokenBytes + h * headBytes,
                               headBytes));
      EXPECT_EQ(0, std::memcmp(storedV + offset,
                               vA.data() + p * tokenBytes + h * headBytes,
                               headBytes));
    }
    ASSERT_OK(cache->readPage(page, pageK.data(), pageV.data()));
    EXPECT_EQ(0, std::memcmp(pageK.data() + slot * tokenBytes,
                             kA.data() + p * tokenBytes, tokenBytes));
  }
  for (int64_t p = 0; p < static_cast<int64_t>(chunks.size()); ++p) {
    Bytes k(tokenBytes), v(tokenBytes);
    ASSERT_OK(cache->readToken(b, p, k.data(), v.data()));
    EXPECT_EQ(k, slice(kB, p, 1, tokenBytes));
    EXPECT_EQ(v, slice(vB, p, 1, tokenBytes));
  }
}

INSTANTIATE_TEST_SUITE_P(PageSizes, KVCachePageSizeTest,
                         ::testing::Values(16, 64, 256));

// K[seq, h, pos, d] at ((seq * Hkv + h) * Lmax + pos) * D + d.
TEST(KVCacheContiguousTest, StorageFollowsTheIndexFormula) {
  KVCacheConfig config = asContiguous(pagedConfig(16, 1));
  std::unique_ptr<KVCacheManager> cache = makeCache(config);
  ASSERT_NE(cache, nullptr);
  const int64_t tokenBytes = config.tokenBytes();
  const int64_t headBytes = config.headDim * config.elementBytes;
  int32_t first, second;
  ASSERT_OK(cache->allocateSequence(first));
  ASSERT_OK(cache->allocateSequence(second));
  EXPECT_EQ(second, 1);
  std::mt19937 rng(7);
  Bytes k = randomTokens(rng, 21, tokenBytes),
        v = randomTokens(rng, 21, tokenBytes);
  ASSERT_OK(cache->append(second, k.data(), v.data(), 21));

  const unsigned char *storedK = hostBytes(*cache, KVTensor::K);
  const unsigned char *storedV = hostBytes(*cache, KVTensor::V);
  for (int64_t p = 0; p < 21; ++p)
    for (int64_t h = 0; h < config.numKVHeads; ++h) {
      size_t offset =
          ((second * config.numKVHeads + h) * config.maxLength + p) * headBytes;
      EXPECT_EQ(0, std::memcmp(storedK + offset,
                               k.data() + p * tokenBytes + h * headBytes,
                               headBytes));
      EXPECT_EQ(0, std::memcmp(storedV + offset,
                               v.data() + p * tokenBytes + h * headBytes,
                               headBytes));
    }
  EXPECT_EQ(cache->numFreePages(), 0);
  int32_t page;
  EXPECT_EQ(cache->pageOf(second, 0, page).code(), KVErrc::BadPage);
}

TEST(KVCacheLayoutTest, ContiguousAndPagedReadBackIdentically) {
  KVCacheConfig config = pagedConfig(16, 32);
  std::unique_ptr<KVCacheManager> paged = makeCache(config);
  std::unique_ptr<KVCacheManager> contiguous = makeCache(asContiguous(config));
  ASSERT_TRUE(paged && contiguous);
  const int64_t tokenBytes = config.tokenBytes();
  std::mt19937 rng(99);
  for (int i = 0; i < 3; ++i) {
    int32_t p, c;
    ASSERT_OK(paged->allocateSequence(p));
    ASSERT_OK(contiguous->allocateSequence(c));
    ASSERT_EQ(p, c);
  }
  // Interleaved appends and an overwrite, the same on both.
  const int64_t plan[][2] = {{0, 5},  {1, 17}, {2, 16},
                             {0, 30}, {1, 1},  {2, 33}};
  for (const auto &step : plan) {
    int32_t id = static_cast<int32_t>(step[0]);
    Bytes k = randomTokens(rng, step[1], tokenBytes),
          v = randomTokens(rng, step[1], tokenBytes);
    ASSERT_OK(paged->append(id, k.data(), v.data(), step[1]));
    ASSERT_OK(contiguous->append(id, k.data(), v.data(), step[1]));
  }
  Bytes k = randomTokens(rng, 10, tokenBytes),
        v = randomTokens(rng, 10, tokenBytes);
  ASSERT_OK(paged->write(0, 12, k.data(), v.data(), 10));
  ASSERT_OK(contiguous->write(0, 12, k.data(), v.data(), 10));

  std::vector<int32_t> pagedLengths, contiguousLengths;
  ASSERT_OK(paged->sequenceLengths({0, 1, 2}, pagedLengths));
  ASSERT_OK(contiguous->sequenceLengths({0, 1, 2}, contiguousLengths));
  ASSERT_EQ(pagedLengths, (std::vector<int32_t>{35, 18, 49}));
  ASSERT_EQ(pagedLengths, contiguousLengths);
  for (int32_t id = 0; id < 3; ++id)
    for (int64_t p = 0; p < pagedLengths[id]; ++p) {
      Bytes kp(tokenBytes), vp(tokenBytes), kc(tokenBytes), vc(tokenBytes);
      ASSERT_OK(paged->readToken(id, p, kp.data(), vp.data()));
      ASSERT_OK(contiguous->readToken(id, p, kc.data(), vc.data()));
      ASSERT_EQ(kp, kc) << "sequence " << id << " token " << p;
      ASSERT_EQ(vp, vc) << "sequence " << id << " token " << p;
    }
}

TEST(KVCacheWriteTest, OverwritesExistingPositionsAcrossPages) {
  KVCacheConfig config = pagedConfig(16, 8);
  std::unique_ptr<KVCacheManager> cache = makeCache(config);
  ASSERT_NE(cache, nullptr);
  const int64_t tokenBytes = config.tokenBytes();
  std::mt19937 rng(5);
  int32_t id;
  ASSERT_OK(cache->allocateSequence(id));
  Bytes k = randomTokens(rng, 40, tokenBytes),
        v = randomTokens(rng, 40, tokenBytes);
  ASSERT_OK(cache->append(id, k.data(), v.data(), 40));
  Bytes k2 = randomTokens(rng, 20, tokenBytes),
        v2 = randomTokens(rng, 20, tokenBytes);
  ASSERT_OK(cache->write(id, 10, k2.data(), v2.data(), 20));
  std::copy(k2.begin(), k2.end(), k.begin() + 10 * tokenBytes);
  std::copy(v2.begin(), v2.end(), v.begin() + 10 * tokenBytes);
  EXPECT_EQ(cache->numFreePages(), 5) << "write must not allocate";
  for (int64_t p = 0; p < 40; ++p) {
    Bytes kOut(tokenBytes), vOut(tokenBytes);
    ASSERT_OK(cache->readToken(id, p, kOut.data(), vOut.data()));
    EXPECT_EQ(kOut, slice(k, p, 1, tokenBytes));
    EXPECT_EQ(vOut, slice(v, p, 1, tokenBytes));
  }
}

//===----------------------------------------------------------------------===//
// Pages, block tables, lengths
//===----------------------------------------------------------------------===//

TEST(KVCachePagesTest, FreedPagesAreReturnedAndReused) {
  KVCacheConfig config = pagedConfig(16, 8);
  std::unique_ptr<KVCacheManager> cache = makeCache(config);
  ASSERT_NE(cache, nullptr);
  std::mt19937 rng(11);
  Bytes k = randomTokens(rng, 64, config.tokenBytes()),
        v = randomTokens(rng, 64, config.tokenBytes());

  int32_t a, b;
  ASSERT_OK(cache->allocateSequence(a));
  ASSERT_OK(cache->allocateSequence(b));
  ASSERT_OK(cache->append(b, k.data(), v.data(), 1));  // b takes page 0.
  ASSERT_OK(cache->append(a, k.data(), v.data(), 40)); // a takes 1, 2, 3.
  EXPECT_EQ(cache->numFreePages(), 4);
  std::vector<int32_t> tableA;
  ASSERT_OK(cache->blockTable({a}, 4, tableA));
  EXPECT_EQ(tableA, (std::vector<int32_t>{1, 2, 3, -1}));
  for (int32_t page : {1, 2, 3}) {
    int32_t owner;
    ASSERT_OK(cache->pageOwner(page, owner));
    EXPECT_EQ(owner, a);
  }

  ASSERT_OK(cache->freeSequence(a));
  EXPECT_EQ(cache->numFreePages(), 7);
  EXPECT_FALSE(cache->isAllocated(a));
  EXPECT_EQ(cache->freePageList(), (std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7}));
  int32_t owner;
  ASSERT_OK(cache->pageOwner(2, owner));
  EXPECT_EQ(owner, -1);

  // The slot and the pages come back, in the same order.
  int32_t c;
  ASSERT_OK(cache->allocateSequence(c));
  EXPECT_EQ(c, a);
  ASSERT_OK(cache->append(c, k.data(), v.data(), 33));
  std::vector<int32_t> tableC;
  ASSERT_OK(cache->blockTable({c}, 4, tableC));
  EXPECT_EQ(tableC, tableA);
  int64_t length;
  ASSERT_OK(cache->length(c, length));
  EXPECT_EQ(length, 33) << "a reused slot starts empty";
}

TEST(KVCachePagesTest, TruncateReturnsTailPages) {
  KVCacheConfig config = pagedConfig(16, 8);
  std::unique_ptr<KVCacheManager> cache = makeCache(config);
  ASSERT_NE(cache, nullptr);
  const int64_t tokenBytes = config.tokenBytes();
  std::mt19937 rng(3);
  Bytes k = randomTokens(rng, 50, tokenBytes),
        v = randomTokens(rng, 50, tokenBytes);
  int32_t id;
  ASSERT_OK(cache->allocateSequence(id));
  ASSERT_OK(cache->append(id, k.data(), v.data(), 50)); // 4 pages.
  EXPECT_EQ(cache->numFreePages(), 4);

  // Roll back rejected speculative tokens: 50 -> 17 keeps 2 pages.
  ASSERT_OK(cache->truncate(id, 17));
  EXPECT_EQ(cache->numFreePages(), 6);
  std::vector<int32_t> table;
  ASSERT_OK(cache->blockTable({id}, 4, table));
  EXPECT_EQ(table, (std::vector<int32_t>{0, 1, -1, -1}));
  Bytes kOut(tokenBytes), vOut(tokenBytes);
  ASSERT_OK(cache->readToken(id, 16, kOut.data(), vOut.data()));
  EXPECT_EQ(kOut, slice(k, 16, 1, tokenBytes));
  EXPECT_EQ(cache->readToken(id, 17, kOut.data(), vOut.data()).code(),
            KVErrc::OutOfRange);

  // Accepted tokens are appended after the kept prefix.
  Bytes k2 = randomTokens(rng, 3, tokenBytes),
        v2 = randomTokens(rng, 3, tokenBytes);
  ASSERT_OK(cache->append(id, k2.data(), v2.data(), 3));
  ASSERT_OK(cache->readToken(id, 18, kOut.data(), vOut.data()));
  EXPECT_EQ(kOut, slice(k2, 1, 1, tokenBytes));

  ASSERT_OK(cache->truncate(id, 0));
  EXPECT_EQ(cache->numFreePages(), 8);
}

TEST(KVCachePagesTest, BlockTablesAndLengthsForABatch) {
  KVCacheConfig config = pagedConfig(16, 16);
  std::unique_ptr<KVCacheManager> cache = makeCache(config);
  ASSERT_NE(cache, nullptr);
  std::mt19937 rng(8);
  Bytes k = randomTokens(rng, 64, config.tokenBytes()),
        v = randomTokens(rng, 64, config.tokenBytes());
  int32_t s0, s1, s2, s3;
  ASSERT_OK(cache->allocateSequence(s0));
  ASSERT_OK(cache->allocateSequence(s1));
  ASSERT_OK(cache->allocateSequence(s2));
  ASSERT_OK(cache->allocateSequence(s3));
  ASSERT_OK(cache->append(s1, k.data(), v.data(), 17)); // pages 0, 1
  ASSERT_OK(cache->append(s2, k.data(), v.data(), 16)); // page 2
  ASSERT_OK(cache->append(s1, k.data(), v.data(), 20)); // 37 tokens: + 3
  ASSERT_OK(cache->append(s3, k.data(), v.data(), 64)); // pages 4..7

  std::vector<int32_t> table;
  ASSERT_OK(cache->blockTable({s2, s0, s1, s3}, 5, table));
  EXPECT_EQ(table, (std::vector<int32_t>{2,  -1, -1, -1, -1, //
                                         -1, -1, -1, -1, -1, //
                                         0,  1,  3,  -1, -1, //
                                         4,  5,  6,  7,  -1}));
  std::vector<int32_t> lengths;
  ASSERT_OK(cache->sequenceLengths({s2, s0, s1, s3}, lengths));
  EXPECT_EQ(lengths, (std::vector<int32_t>{16, 0, 37, 64}));

  // An empty batch is valid and gives empty arrays.
  ASSERT_OK(cache->blockTable({}, 5, table));
  EXPECT_TRUE(table.empty());
  ASSERT_OK(cache->sequenceLengths({}, lengths));
  EXPECT_TRUE(lengths.empty());
}

//===----------------------------------------------------------------------===//
// Storage seam
//===----------------------------------------------------------------------===//

/// Host storage whose writes start failing after a budget, standing in for a
/// device copy that fails mid-append.
class FlakyStorage : public KVStorage {
public:
  explicit FlakyStorage(std::unique_ptr<HostKVStorage> host)
      : host_(std::move(host)) {}
  size_t bytesPerTensor() const override { return host_->bytesPerTensor(); }
  KVStatus write(KVTensor t, size_t offset, const void *src,
                 size_t bytes) override {
    if (writesLeft-- <= 0 || writes++ == failWrite)
      return KVStatus::error(KVErrc::StorageFailure, "flaky: copy failed");
    return host_->write(t, offset, src, bytes);
  }
  KVStatus read(KVTensor t, size_t offset, void *dst,
                size_t bytes) const override {
    return host_->read(t, offset, dst, bytes);
  }
  uint64_t address(KVTensor t) const override { return host_->address(t); }

  /// Writes that succeed before every later one fails.
  int writesLeft = 1 << 30;
  /// The index of one write that fails (a transient fault), -1 for none.
  int failWrite = -1;
  int writes = 0;

private:
  std::unique_ptr<HostKVStorage> host_;
};

TEST(KVCacheStorageTest, CustomStoragePlugsIn) {
  KVCacheConfig config = pagedConfig(16, 8);
  std::unique_ptr<HostKVStorage> host;
  ASSERT_OK(HostKVStorage::create(kvStorageBytes(config) - 1, host));
  std::unique_ptr<KVCacheManager> cache;
  KVStatus status = KVCacheManager::create(
      config, std::make_unique<FlakyStorage>(std::move(host)), cache);
  EXPECT_EQ(status.code(), KVErrc::InvalidArgument);
  EXPECT_NE(status.message().find("bytes per tensor"), std::string::npos);
  EXPECT_EQ(KVCacheManager::create(config, nullptr, cache).code(),
            KVErrc::InvalidArgument);

  ASSERT_OK(HostKVStorage::create(kvStorageBytes(config), host));
  auto flaky = std::make_unique<FlakyStorage>(std::move(host));
  FlakyStorage *storage = flaky.get();
  ASSERT_OK(KVCacheManager::create(config, std::move(flaky), cache));
  EXPECT_NE(cache->storage().address(KVTensor::K), 0u);

  int32_t id;
  ASSERT_OK(cache->allocateSequence(id));
  std::mt19937 rng(4);
  Bytes k = randomTokens(rng, 40, config.tokenBytes()),
        v = randomTokens(rng, 40, config.tokenBytes());
  ASSERT_OK(cache->append(id, k.data(), v.data(), 10));

  // A copy failing halfway through a 3-page append: the bookkeeping is
  // rolled back (bytes past the length may differ; docs/KVCache.md).
  Snapshot before = snapshot(*cache);
  storage->writesLeft = 3;
  status = cache->append(id, k.data(), v.data(), 30);
  EXPECT_EQ(status.code(), KVErrc::StorageFailure);
  Snapshot after = snapshot(*cache);
  EXPECT_EQ(after.lengths, before.lengths);
  EXPECT_EQ(after.tables, before.tables);
  EXPECT_EQ(after.freePages, before.freePages);
  EXPECT_EQ(after.owners, before.owners);
}

/// A cache over FlakyStorage with one sequence of 40 tokens.
struct FlakyCache {
  std::unique_ptr<KVCacheManager> cache;
  FlakyStorage *storage = nullptr;
  int32_t id = -1;
  Bytes k, v;

  explicit FlakyCache(const KVCacheConfig &config) {
    std::unique_ptr<HostKVStorage> host;
    EXPECT_TRUE(HostKVStorage::create(kvStorageBytes(config), host).ok());
    auto flaky = std::make_unique<FlakyStorage>(std::move(host));
    storage = flaky.get();
    EXPECT_TRUE(KVCacheManager::create(config, std::move(flaky), cache).ok());
    EXPECT_TRUE(cache->allocateSequence(id).ok());
    std::mt19937 rng(9);
    k = randomTokens(rng, 40, config.tokenBytes());
    v = randomTokens(rng, 40, config.tokenBytes());
    EXPECT_TRUE(cache->append(id, k.data(), v.data(), 40).ok());
  }
};

class KVCacheWriteFailureTest : public ::testing::TestWithParam<KVLayout> {
protected:
  KVCacheConfig config() const {
    KVCacheConfig c = pagedConfig(16, 8);
    c.layout = GetParam();
    return c;
  }
};

// A storage copy failing part-way through write() once left 16-32 of 40
// visible tokens overwritten (paged) or K written without V (contiguous).
// Now the overwritten bytes are staged and put back: the whole cache,
// storage bytes included, is as before, wherever the failure hits.
TEST_P(KVCacheWriteFailureTest, TransientFailureLeavesTheCacheUnchanged) {
  std::mt19937 rng(10);
  for (int failWrite : {0, 1, 2, 3, 5, 17, 40, 79}) {
    SCOPED_TRACE("failing write " + std::to_string(failWrite));
    FlakyCache f(config());
    Bytes k = randomTokens(rng, 40, config().tokenBytes()),
          v = randomTokens(rng, 40, config().tokenBytes());
    Snapshot before = snapshot(*f.cache);
    f.storage->writes = 0;
    f.storage->failWrite = failWrite;
    KVStatus status = f.cache->write(f.id, 0, k.data(), v.data(), 40);
    if (status.ok()) {
      // Fewer pieces than failWrite + 1 in this layout: nothing failed.
      EXPECT_LT(f.storage->writes, failWrite + 1);
      continue;
    }
    EXPECT_EQ(status.code(), KVErrc::StorageFailure);
    EXPECT_TRUE(before == snapshot(*f.cache))
        << "a failed write changed the cache";
  }
}

// If the storage also refuses the restore, no token that is neither old nor
// new stays visible: the sequence is cut back to the write's position, and
// the tokens before it are intact.
TEST_P(KVCacheWriteFailureTest, PersistentFailureHidesMixedTokens) {
  FlakyCache f(config());
  std::mt19937 rng(12);
  Bytes k = randomTokens(rng, 30, config().tokenBytes()),
        v = randomTokens(rng, 30, config().tokenBytes());
  int64_t freeBefore = f.cache->numFreePages();
  f.storage->writesLeft = 3;
  KVStatus status = f.cache->write(f.id, 8, k.data(), v.data(), 30);
  EXPECT_EQ(status.code(), KVErrc::StorageFailure);
  EXPECT_NE(status.message().find("truncated from 40 to 8 tokens"),
            std::string::npos)
      << status.message();
  int64_t length = -1;
  ASSERT_TRUE(f.cache->length(f.id, length).ok());
  EXPECT_EQ(length, 8);
  int64_t tokenBytes = config().tokenBytes();
  Bytes kt(static_cast<size_t>(tokenBytes)), vt(kt.size());
  for (int64_t t = 0; t < 8; ++t) {
    ASSERT_TRUE(f.cache->readToken(f.id, t, kt.data(), vt.data()).ok());
    EXPECT_EQ(kt, slice(f.k, t, 1, tokenBytes)) << "token " << t;
    EXPECT_EQ(vt, slice(f.v, t, 1, tokenBytes)) << "token " << t;
  }
  // Paged: the pages past token 8 went back to the free list.
  if (GetParam() == KVLayout::Paged)
    EXPECT_EQ(f.cache->numFreePages(), freeBefore + 2);
}

INSTANTIATE_TEST_SUITE_P(Layouts, KVCacheWriteFailureTest,
                         ::testing::Values(KVLayout::Paged,
                                           KVLayout::Contiguous));

//===----------------------------------------------------------------------===//
// Device storage
//===----------------------------------------------------------------------===//

#if ATTN_HAVE_DEVICE_KV_STORAGE
// Without a GPU, create() reports why and hands out nothing.
TEST(DeviceKVStorageTest, CreateFailsCleanlyWithoutGpu) {
  if (deviceSkipReason().empty())
    GTEST_SKIP() << "a GPU is present: create() succeeds here";
  std::unique_ptr<DeviceKVStorage> storage;
  KVStatus status = DeviceKVStorage::create(1024, storage);
  EXPECT_EQ(status.code(), KVErrc::StorageFailure);
  EXPECT_EQ(status.message().rfind("DeviceKVStorage: no usable GPU: ", 0), 0u)
      << status.message();
  EXPECT_EQ(storage, nullptr);
}

// Zero fill, round trips, bounds checks, and device (not host) addresses.
TEST(DeviceKVStorageTest, RoundTripsAndChecksBounds) {
  if (!deviceSkipReason().empty())
    GTEST_SKIP() << "device storage: " << deviceSkipReason();
  std::unique_ptr<DeviceKVStorage> storage;
  ASSERT_OK(DeviceKVStorage::create(4096, storage));
  EXPECT_EQ(storage->bytesPerTensor(), 4096u);
  EXPECT_NE(storage->address(KVTensor::K), 0u);
  EXPECT_NE(storage->address(KVTensor::K), storage->address(KVTensor::V));
  Bytes k(4096, 0xEE), v(4096, 0xEE);
  ASSERT_OK(storage->read(KVTensor::K, 0, k.data(), k.size()));
  ASSERT_OK(storage->read(KVTensor::V, 0, v.data(), v.size()));
  EXPECT_EQ(k, Bytes(4096, 0)) << "K is not zero-filled";
  EXPECT_EQ(v, Bytes(4096, 0)) << "V is not zero-filled";

  std::mt19937 rng(9);
  Bytes piece = randomTokens(rng, 1, 100);
  ASSERT_OK(storage->write(KVTensor::V, 3996, piece.data(), piece.size()));
  Bytes back(100);
  ASSERT_OK(storage->read(KVTensor::V, 3996, back.data(), back.size()));
  EXPECT_EQ(back, piece);
  ASSERT_OK(storage->read(KVTensor::K, 3996, back.data(), back.size()));
  EXPECT_EQ(back, Bytes(100, 0)) << "a V write reached K";

  // Out of bounds, including offset + bytes overflowing size_t: rejected
  // before any copy, the bytes unchanged.
  for (auto [offset, bytes] :
       {std::pair<size_t, size_t>{3997, 100}, {4097, 0},
        {1, std::numeric_limits<size_t>::max()}}) {
    KVStatus status = storage->write(KVTensor::V, offset, piece.data(), bytes);
    EXPECT_EQ(status.code(), KVErrc::StorageFailure);
    EXPECT_NE(status.message().find("outside 4096 bytes"), std::string::npos)
        << status.message();
    EXPECT_EQ(storage->read(KVTensor::V, offset, back.data(), bytes).code(),
              KVErrc::StorageFailure);
  }
  ASSERT_OK(storage->read(KVTensor::V, 3996, back.data(), back.size()));
  EXPECT_EQ(back, piece);
  ASSERT_OK(storage->write(KVTensor::K, 4096, piece.data(), 0));
}

// A manager on device storage: the layouts' bytes land where the formulas
// say, read back through the device.
TEST(DeviceKVStorageTest, ManagerRoundTripsOnDevice) {
  if (!deviceSkipReason().empty())
    GTEST_SKIP() << "device storage: " << deviceSkipReason();
  KVCacheConfig config = pagedConfig(16, 8);
  for (KVLayout layout : {KVLayout::Paged, KVLayout::Contiguous}) {
    config.layout = layout;
    std::unique_ptr<KVCacheManager> cache =
        makeCache(config, StorageKind::Device);
    ASSERT_NE(cache, nullptr);
    std::mt19937 rng(5);
    const int64_t tokenBytes = config.tokenBytes();
    Bytes k = randomTokens(rng, 40, tokenBytes),
          v = randomTokens(rng, 40, tokenBytes);
    int32_t id;
    ASSERT_OK(cache->allocateSequence(id));
    ASSERT_OK(cache->append(id, k.data(), v.data(), 25));
    ASSERT_OK(cache->append(id, k.data() + 25 * tokenBytes,
                            v.data() + 25 * tokenBytes, 15));
    Bytes gotK(tokenBytes), gotV(tokenBytes);
    for (int64_t p = 0; p < 40; ++p) {
      ASSERT_OK(cache->readToken(id, p, gotK.data(), gotV.data()));
      ASSERT_EQ(gotK, slice(k, p, 1, tokenBytes)) << "token " << p;
      ASSERT_EQ(gotV, slice(v, p, 1, tokenBytes)) << "token " << p;
    }
  }
}
#endif

//===----------------------------------------------------------------------===//
// Rejected calls change nothing, per error class and layout
//===----------------------------------------------------------------------===//

// A cache with history: sequence 0 holds 20 tokens (2 pages), 1 holds 33
// (3 pages), 2 was freed after use, 3 holds 5 then was truncated to 2. Paged
// pool of 7 pages: 1 page left free. On host or device storage.
class KVCacheRejectTest
    : public ::testing::TestWithParam<std::tuple<KVLayout, StorageKind>> {
protected:
  void SetUp() override {
    StorageKind kind = std::get<1>(GetParam());
    if (kind == StorageKind::Device && !deviceSkipReason().empty())
      GTEST_SKIP() << "device storage: " << deviceSkipReason();
    config = pagedConfig(16, 7);
    config.layout = std::get<0>(GetParam());
    config.maxLength = 64;
    cache = makeCache(config, kind);
    ASSERT_NE(cache, nullptr);
    tokenBytes = config.tokenBytes();
    std::mt19937 rng(2026);
    k = randomTokens(rng, 64, tokenBytes);
    v = randomTokens(rng, 64, tokenBytes);
    int32_t id;
    for (int i = 0; i < 4; ++i)
      ASSERT_OK(cache->allocateSequence(id));
    ASSERT_OK(cache->append(0, k.data(), v.data(), 20));
    ASSERT_OK(cache->append(2, k.data(), v.data(), 16));
    ASSERT_OK(cache->append(1, k.data() + 7, v.data() + 3, 33));
    ASSERT_OK(cache->freeSequence(2));
    ASSERT_OK(cache->append(3, k.data() + 1, v.data() + 1, 5));
    ASSERT_OK(cache->truncate(3, 2));
    if (paged()) {
      ASSERT_EQ(cache->numFreePages(), 1);
    }
    out.assign(tokenBytes, 0xAB);
  }
  bool paged() const { return config.layout == KVLayout::Paged; }

  KVCacheConfig config;
  std::unique_ptr<KVCacheManager> cache;
  int64_t tokenBytes = 0;
  Bytes k, v, out;
};

// Errors only the paged layout has: a contiguous cache reserves maxLength
// per sequence and has no block table.
class KVCachePagedRejectTest : public KVCacheRejectTest {};

TEST_P(KVCachePagedRejectTest, CacheExhaustion) {
  // 20 + 40 tokens need 4 pages: 2 more than sequence 0 has, 1 is free. The
  // first new tokens would fit in page 1; they must not be written either.
  expectRejected(
      *cache, [&] { return cache->append(0, k.data(), v.data(), 40); },
      KVErrc::Exhausted, "need 2 new pages, 1 free");
  expectRejected(
      *cache, [&] { return cache->append(3, k.data(), v.data(), 40); },
      KVErrc::Exhausted, "cache exhausted");
}

TEST_P(KVCacheRejectTest, BadOrFreedSequenceId) {
  int64_t length;
  int32_t page;
  std::vector<int32_t> table, lengths;
  for (int32_t id : {2, -1, 4, std::numeric_limits<int32_t>::min()}) {
    std::string needle =
        id == 2 ? "sequence 2 is not allocated" : "outside [0, 4)";
    expectRejected(
        *cache, [&] { return cache->append(id, k.data(), v.data(), 1); },
        KVErrc::BadSequence, needle);
    expectRejected(
        *cache, [&] { return cache->write(id, 0, k.data(), v.data(), 1); },
        KVErrc::BadSequence, needle);
    expectRejected(
        *cache, [&] { return cache->truncate(id, 0); }, KVErrc::BadSequence,
        needle);
    expectRejected(
        *cache, [&] { return cache->freeSequence(id); }, KVErrc::BadSequence,
        needle);
    expectRejected(
        *cache, [&] { return cache->length(id, length); }, KVErrc::BadSequence,
        needle);
    expectRejected(
        *cache, [&] { return cache->readToken(id, 0, out.data(), out.data()); },
        KVErrc::BadSequence, needle);
    expectRejected(
        *cache,
        [&] {
          return cache->sequenceLengths({0, id}, lengths);
        },
        KVErrc::BadSequence, needle);
    if (paged()) {
      expectRejected(
          *cache, [&] { return cache->pageOf(id, 0, page); },
          KVErrc::BadSequence, needle);
      expectRejected(
          *cache,
          [&] {
            return cache->blockTable({1, id}, 4, table);
          },
          KVErrc::BadSequence, needle);
    }
  }
  EXPECT_TRUE(table.empty() && lengths.empty()) << "outputs written on error";
}

TEST_P(KVCacheRejectTest, BadPageId) {
  int32_t owner = 77;
  std::vector<int32_t> table;
  if (!paged()) {
    expectRejected(
        *cache, [&] { return cache->readPage(0, out.data(), out.data()); },
        KVErrc::BadPage, "contiguous layout has no pages");
    expectRejected(
        *cache, [&] { return cache->pageOwner(0, owner); }, KVErrc::BadPage,
        "no pages");
    expectRejected(
        *cache, [&] { return cache->blockTable({0}, 4, table); },
        KVErrc::BadPage, "no pages");
    EXPECT_EQ(owner, 77);
    return;
  }
  Bytes page(16 * tokenBytes);
  for (int32_t bad : {-1, 7, std::numeric_limits<int32_t>::max()}) {
    expectRejected(
        *cache, [&] { return cache->readPage(bad, page.data(), page.data()); },
        KVErrc::BadPage, "page id " + std::to_string(bad) + " outside [0, 7)");
    expectRejected(
        *cache, [&] { return cache->pageOwner(bad, owner); }, KVErrc::BadPage,
        "outside [0, 7)");
  }
  EXPECT_EQ(owner, 77);
}

TEST_P(KVCacheRejectTest, OutOfRangePositions) {
  int32_t page = 99;
  // Sequence 0 has 20 tokens, sequence 3 has 2 (5 before truncation).
  struct Range {
    int32_t id;
    int64_t position, numTokens;
  };
  for (Range r :
       {Range{0, 20, 1}, Range{0, -1, 1}, Range{0, 15, 6}, Range{3, 2, 1},
        Range{3, 4, 1}, Range{0, 1, std::numeric_limits<int64_t>::max()}}) {
    expectRejected(
        *cache,
        [&] {
          return cache->write(r.id, r.position, k.data(), v.data(),
                              r.numTokens);
        },
        KVErrc::OutOfRange, "outside [0, ");
  }
  for (int64_t position : {int64_t(20), int64_t(-1), int64_t(1) << 40}) {
    expectRejected(
        *cache,
        [&] { return cache->readToken(0, position, out.data(), out.data()); },
        KVErrc::OutOfRange, "of sequence 0 outside [0, 20)");
    if (paged())
      expectRejected(
          *cache, [&] { return cache->pageOf(0, position, page); },
          KVErrc::OutOfRange, "outside [0, 20)");
  }
  expectRejected(
      *cache, [&] { return cache->truncate(0, 21); }, KVErrc::OutOfRange,
      "new length 21 of sequence 0 outside [0, 20]");
  expectRejected(
      *cache, [&] { return cache->truncate(0, -1); }, KVErrc::OutOfRange,
      "outside [0, 20]");
  EXPECT_EQ(page, 99);
  EXPECT_EQ(out, Bytes(tokenBytes, 0xAB));
}

TEST_P(KVCacheRejectTest, LengthOverflow) {
  // 20 + 45 > 64, even though (contiguous) storage or (paged, after freeing)
  // pages could hold it.
  expectRejected(
      *cache, [&] { return cache->append(0, k.data(), v.data(), 45); },
      KVErrc::LengthOverflow,
      "sequence 0 has 20 tokens; 45 more exceed maxLength 64");
  expectRejected(
      *cache,
      [&] {
        return cache->append(1, k.data(), v.data(),
                             std::numeric_limits<int64_t>::max());
      },
      KVErrc::LengthOverflow, "exceed maxLength");
}

TEST_P(KVCacheRejectTest, TooManySequences) {
  int32_t id = -5;
  ASSERT_OK(cache->allocateSequence(id));
  EXPECT_EQ(id, 2) << "the freed slot is reused";
  id = -5;
  expectRejected(
      *cache, [&] { return cache->allocateSequence(id); },
      KVErrc::TooManySequences, "all 4 sequence slots are in use");
  EXPECT_EQ(id, -5);
}

TEST_P(KVCacheRejectTest, ZeroTokensOrNullPointers) {
  for (int64_t n : {int64_t(0), int64_t(-3)}) {
    expectRejected(
        *cache, [&] { return cache->append(0, k.data(), v.data(), n); },
        KVErrc::InvalidArgument, "expected numTokens >= 1");
    expectRejected(
        *cache, [&] { return cache->write(0, 0, k.data(), v.data(), n); },
        KVErrc::InvalidArgument, "expected numTokens >= 1");
  }
  expectRejected(
      *cache, [&] { return cache->append(0, nullptr, v.data(), 1); },
      KVErrc::InvalidArgument, "non-null");
  expectRejected(
      *cache, [&] { return cache->append(0, k.data(), nullptr, 1); },
      KVErrc::InvalidArgument, "non-null");
  expectRejected(
      *cache, [&] { return cache->write(0, 0, nullptr, nullptr, 1); },
      KVErrc::InvalidArgument, "non-null");
  expectRejected(
      *cache, [&] { return cache->readToken(0, 0, out.data(), nullptr); },
      KVErrc::InvalidArgument, "non-null");
  if (paged())
    expectRejected(
        *cache, [&] { return cache->readPage(0, nullptr, out.data()); },
        KVErrc::InvalidArgument, "non-null");
}

TEST_P(KVCachePagedRejectTest, BlockTableTooSmall) {
  std::vector<int32_t> table = {42};
  expectRejected(
      *cache,
      [&] {
        return cache->blockTable({0, 1}, 2, table);
      },
      KVErrc::TableTooSmall, "sequence 1 has 3 pages, the table 2 columns");
  expectRejected(
      *cache, [&] { return cache->blockTable({0}, 0, table); },
      KVErrc::InvalidArgument, "expected maxPages in [1, 7]");
  expectRejected(
      *cache, [&] { return cache->blockTable({0}, int64_t(1) << 40, table); },
      KVErrc::InvalidArgument, "maxPages");
  EXPECT_EQ(table, std::vector<int32_t>{42});
}

std::string rejectTestName(
    const ::testing::TestParamInfo<std::tuple<KVLayout, StorageKind>> &info) {
  return std::string(std::get<0>(info.param) == KVLayout::Paged
                         ? "Paged"
                         : "Contiguous") +
         "_" + storageName(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, KVCacheRejectTest,
    ::testing::Combine(::testing::Values(KVLayout::Paged, KVLayout::Contiguous),
                       ::testing::Values(StorageKind::Host,
                                         StorageKind::Device)),
    rejectTestName);
INSTANTIATE_TEST_SUITE_P(
    Layouts, KVCachePagedRejectTest,
    ::testing::Combine(::testing::Values(KVLayout::Paged),
                       ::testing::Values(StorageKind::Host,
                                         StorageKind::Device)),
    rejectTestName);

//===----------------------------------------------------------------------===//
// Randomized: interleaved operations against a model
//===----------------------------------------------------------------------===//

/// What the caches should hold: per slot, whether allocated and the K and V
/// bytes of its tokens.
struct Model {
  std::vector<int> allocated;
  std::vector<Bytes> k, v;
  int64_t tokenBytes;

  int64_t length(int32_t id) const {
    return static_cast<int64_t>(k[id].size()) / tokenBytes;
  }
};

void checkAgainstModel(const KVCacheManager &cache, const Model &model) {
  const KVCacheConfig &c = cache.config();
  int64_t usedPages = 0;
  std::vector<int> seen(c.layout == KVLayout::Paged ? c.numPages : 0, 0);
  for (int32_t id = 0; id < c.maxSequences; ++id) {
    ASSERT_EQ(cache.isAllocated(id), bool(model.allocated[id])) << id;
    if (!model.allocated[id])
      continue;
    int64_t length;
    ASSERT_OK(cache.length(id, length));
    ASSERT_EQ(length, model.length(id));
    for (int64_t p = 0; p < length; ++p) {
      Bytes k(model.tokenBytes), v(model.tokenBytes);
      ASSERT_OK(cache.readToken(id, p, k.data(), v.data()));
      ASSERT_EQ(k, slice(model.k[id], p, 1, model.tokenBytes));
      ASSERT_EQ(v, slice(model.v[id], p, 1, model.tokenBytes));
    }
    if (c.layout != KVLayout::Paged)
      continue;
    std::vector<int32_t> table;
    ASSERT_OK(cache.blockTable({id}, c.maxPagesPerSequence(), table));
    int64_t pages = (length + c.pageSize - 1) / c.pageSize;
    usedPages += pages;
    for (int64_t i = 0; i < c.maxPagesPerSequence(); ++i) {
      if (i >= pages) {
        ASSERT_EQ(table[i], -1);
        continue;
      }
      int32_t owner;
      ASSERT_OK(cache.pageOwner(table[i], owner));
      ASSERT_EQ(owner, id);
      ASSERT_EQ(seen[table[i]]++, 0) << "page " << table[i] << " shared";
    }
  }
  if (c.layout == KVLayout::Paged) {
    ASSERT_EQ(cache.numFreePages(), c.numPages - usedPages);
  }
}

class KVCacheRandomTest : public ::testing::TestWithParam<StorageKind> {};

TEST_P(KVCacheRandomTest, InterleavedOperationsMatchModel) {
  if (GetParam() == StorageKind::Device && !deviceSkipReason().empty())
    GTEST_SKIP() << "device storage: " << deviceSkipReason();
  // 12 pages against up to 6 x 7 wanted: the pool runs dry often.
  KVCacheConfig config = pagedConfig(16, 12);
  config.maxSequences = 6;
  config.maxLength = 100;
  std::unique_ptr<KVCacheManager> paged = makeCache(config, GetParam());
  std::unique_ptr<KVCacheManager> contiguous =
      makeCache(asContiguous(config), GetParam());
  ASSERT_TRUE(paged && contiguous);
  const int64_t tokenBytes = config.tokenBytes();
  Model model{std::vector<int>(6, 0), std::vector<Bytes>(6),
              std::vector<Bytes>(6), tokenBytes};
  auto pagesFor = [&](int64_t length) { return (length + 15) / 16; };
  auto freePages = [&] {
    int64_t used = 0;
    for (int32_t id = 0; id < 6; ++id)
      used += model.allocated[id] ? pagesFor(model.length(id)) : 0;
    return config.numPages - used;
  };

  std::mt19937 rng(20260611);
  int rejected = 0, exhausted = 0;
  for (int step = 0; step < 3000; ++step) {
    int32_t id =
        static_cast<int32_t>(rng() % 7) - 1 + (rng() % 20 == 0 ? 7 : 0);
    bool valid = id >= 0 && id < 6 && model.allocated[id];
    int64_t length = valid ? model.length(id) : 0;
    KVErrc expected = valid ? KVErrc::Ok : KVErrc::BadSequence;
    // Run one call on both caches; on success also apply it to the model.
    std::function<KVStatus(KVCacheManager &)> call;
    std::function<void()> apply = [] {};
    switch (rng() % 6) {
    case 0: { // allocate
      int64_t live = 0;
      for (int a : model.allocated)
        live += a;
      expected = live == 6 ? KVErrc::TooManySequences : KVErrc::Ok;
      int32_t lowest = 0;
      while (lowest < 6 && model.allocated[lowest])
        ++lowest;
      call = [lowest](KVCacheManager &cache) {
        int32_t got = -1;
        KVStatus status = cache.allocateSequence(got);
        EXPECT_TRUE(!status.ok() || got == lowest);
        return status;
      };
      apply = [&model, lowest] {
        model.allocated[lowest] = 1;
        model.k[lowest].clear();
        model.v[lowest].clear();
      };
      break;
    }
    case 1: // free
      call = [id](KVCacheManager &cache) { return cache.freeSequence(id); };
      apply = [&model, id] { model.allocated[id] = 0; };
      break;
    case 2:
    case 3: { // append
      int64_t n = 1 + rng() % 40;
      Bytes k = randomTokens(rng, n, tokenBytes),
            v = randomTokens(rng, n, tokenBytes);
      if (valid && length + n > config.maxLength)
        expected = KVErrc::LengthOverflow;
      else if (valid && pagesFor(length + n) - pagesFor(length) > freePages())
        expected = KVErrc::Exhausted;
      call = [id, n, k, v](KVCacheManager &cache) {
        return cache.append(id, k.data(), v.data(), n);
      };
      apply = [&model, id, k, v] {
        model.k[id].insert(model.k[id].end(), k.begin(), k.end());
        model.v[id].insert(model.v[id].end(), v.begin(), v.end());
      };
      break;
    }
    case 4: { // truncate, sometimes past the end
      int64_t newLength = rng() % (length + 3);
      if (valid && newLength > length)
        expected = KVErrc::OutOfRange;
      call = [id, newLength](KVCacheManager &cache) {
        return cache.truncate(id, newLength);
      };
      apply = [&model, id, newLength, tokenBytes] {
        model.k[id].resize(newLength * tokenBytes);
        model.v[id].resize(newLength * tokenBytes);
      };
      break;
    }
    case 5: { // overwrite, sometimes past the end
      int64_t position = length ? rng() % (length + 2) : 0;
      int64_t n = 1 + rng() % 8;
      Bytes k = randomTokens(rng, n, tokenBytes),
            v = randomTokens(rng, n, tokenBytes);
      if (valid && position + n > length)
        expected = KVErrc::OutOfRange;
      call = [id, position, n, k, v](KVCacheManager &cache) {
        return cache.write(id, position, k.data(), v.data(), n);
      };
      apply = [&model, id, position, k, v, tokenBytes] {
        std::copy(k.begin(), k.end(),
                  model.k[id].begin() + position * tokenBytes);
        std::copy(v.begin(), v.end(),
                  model.v[id].begin() + position * tokenBytes);
      };
      break;
    }
    }

    Snapshot before = snapshot(*paged);
    KVStatus status = call(*paged);
    ASSERT_EQ(status.code(), expected)
        << "step " << step << ": " << status.message();
    if (!status.ok()) {
      ++rejected;
      exhausted += status.code() == KVErrc::Exhausted;
      ASSERT_TRUE(before == snapshot(*paged)) << "step " << step;
      // The contiguous cache never runs out of pages; keep the two in step
      // by applying only what both accept.
      if (status.code() == KVErrc::Exhausted)
        continue;
      Snapshot beforeContiguous = snapshot(*contiguous);
      ASSERT_EQ(call(*contiguous).code(), expected) << "step " << step;
      ASSERT_TRUE(beforeContiguous == snapshot(*contiguous)) << "step " << step;
      continue;
    }
    ASSERT_OK(call(*contiguous));
    apply();
    if (step % 25 == 0) {
      checkAgainstModel(*paged, model);
      checkAgainstModel(*contiguous, model);
    }
  }
  checkAgainstModel(*paged, model);
  checkAgainstModel(*contiguous, model);
  // The run must have exercised the error paths, exhaustion included.
  EXPECT_GT(rejected, 100);
  EXPECT_GT(exhausted, 10);
  std::printf("random run: %d rejected, %d of them exhausted\n", rejected,
              exhausted);
}

INSTANTIATE_TEST_SUITE_P(Storage, KVCacheRandomTest,
                         ::testing::Values(StorageKind::Host,
                                           StorageKind::Device),
                         [](const ::testing::TestParamInfo<StorageKind> &info) {
                           return storageName(info.param);
                         });

} // namespace
