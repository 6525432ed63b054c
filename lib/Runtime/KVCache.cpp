//===- KVCache.cpp - contiguous and paged KV cache managers ---------------===//
//
// Part of attn-mlir. Each mutating call has two phases: a validation phase
// that reads state and may return an error, and a commit phase that cannot
// fail for host storage. Keeping every check in the first phase is what
// makes rejected calls leave the cache bit-exact (test/Unit/KVCacheTest.cpp
// proves it per error class).
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/KVCache.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <string>

using namespace attn::runtime;

namespace {
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
} // namespace

static std::string str(int64_t value) { return std::to_string(value); }

static KVStatus configError(const std::string &what) {
  return KVStatus::error(KVErrc::InvalidConfig, "KVCacheConfig: " + what);
}

/// a * b, or false if it overflows int64_t.
static bool multiply(int64_t a, int64_t b, int64_t &out) {
  return !__builtin_mul_overflow(a, b, &out);
}

//===----------------------------------------------------------------------===//
// KVCacheConfig
//===----------------------------------------------------------------------===//

KVStatus attn::runtime::validateKVCacheConfig(const KVCacheConfig &c) {
  if (c.numKVHeads < 1)
    return configError("expected numKVHeads >= 1, got " + str(c.numKVHeads));
  if (c.headDim < 1)
    return configError("expected headDim >= 1, got " + str(c.headDim));
  if (c.elementBytes != 2 && c.elementBytes != 4)
    return configError("expected elementBytes 2 (bf16/f16) or 4 (f32), got " +
                       str(c.elementBytes));
  // Ids and lengths travel to kernels as int32.
  if (c.maxSequences < 1 || c.maxSequences > kMaxInt32)
    return configError("expected maxSequences in [1, 2^31-1], got " +
                       str(c.maxSequences));
  if (c.maxLength < 1 || c.maxLength > kMaxInt32)
    return configError("expected maxLength in [1, 2^31-1], got " +
                       str(c.maxLength));

  int64_t tokenBytes, rows;
  if (!multiply(c.numKVHeads, c.headDim, tokenBytes) ||
      !multiply(tokenBytes, c.elementBytes, tokenBytes))
    return configError("expected numKVHeads * headDim * elementBytes to fit "
                       "in 64 bits");
  if (c.layout == KVLayout::Paged) {
    // Range first: pageSize - 1 overflows for INT64_MIN.
    if (c.pageSize < 16 || c.pageSize > 256 ||
        (c.pageSize & (c.pageSize - 1)) != 0)
      return configError("expected pageSize a power of two in [16, 256], got " +
                         str(c.pageSize));
    if (c.numPages < 1 || c.numPages > kMaxInt32)
      return configError("expected numPages in [1, 2^31-1], got " +
                         str(c.numPages));
    if (!multiply(c.numPages, c.pageSize, rows))
      return configError("expected numPages * pageSize to fit in 64 bits");
  } else if (!multiply(c.maxSequences, c.maxLength, rows)) {
    return configError("expected maxSequences * maxLength to fit in 64 bits");
  }
  int64_t total;
  if (!multiply(rows, tokenBytes, total) ||
      static_cast<uint64_t>(total) > std::numeric_limits<size_t>::max())
    return configError("expected the K storage size to fit in 64 bits");
  return KVStatus::success();
}

size_t attn::runtime::kvStorageBytes(const KVCacheConfig &c) {
  int64_t rows = c.layout == KVLayout::Paged ? c.numPages * c.pageSize
                                             : c.maxSequences * c.maxLength;
  return static_cast<size_t>(rows * c.tokenBytes());
}

//===----------------------------------------------------------------------===//
// Storage
//===----------------------------------------------------------------------===//

KVStorage::~KVStorage() = default;

KVStatus HostKVStorage::create(size_t bytesPerTensor,
                               std::unique_ptr<HostKVStorage> &out) {
  std::unique_ptr<HostKVStorage> storage(new HostKVStorage());
  storage->bytes_ = bytesPerTensor;
  // nothrow: the project builds with -fno-exceptions, and a cache too large
  // for the host is an error to report, not a reason to abort.
  storage->k_.reset(new (std::nothrow) unsigned char[bytesPerTensor]());
  storage->v_.reset(new (std::nothrow) unsigned char[bytesPerTensor]());
  if (!storage->k_ || !storage->v_)
    return KVStatus::error(KVErrc::StorageFailure,
                           "HostKVStorage: cannot allocate 2 x " +
                               std::to_string(bytesPerTensor) + " bytes");
  out = std::move(storage);
  return KVStatus::success();
}

KVStatus HostKVStorage::checkRange(size_t offset, size_t bytes) const {
  if (offset > bytes_ || bytes > bytes_ - offset)
    return KVStatus::error(KVErrc::StorageFailure,
                           "HostKVStorage: range [" + std::to_string(offset) +
                               ", +" + std::to_string(bytes) + ") outside " +
                               std::to_string(bytes_) + " bytes");
  return KVStatus::success();
}

KVStatus HostKVStorage::write(KVTensor tensor, size_t offset, const void *src,
                              size_t bytes) {
  KVStatus status = checkRange(offset, bytes);
  if (status)
    std::memcpy((tensor == KVTensor::K ? k_ : v_).get() + offset, src, bytes);
  return status;
}

KVStatus HostKVStorage::read(KVTensor tensor, size_t offset, void *dst,
                             size_t bytes) const {
  KVStatus status = checkRange(offset, bytes);
  if (status)
    std::memcpy(dst, data(tensor) + offset, bytes);
  return status;
}

uint64_t HostKVStorage::address(KVTensor tensor) const {
  return reinterpret_cast<uintptr_t>(data(tensor));
}

//===----------------------------------------------------------------------===//
// KVCacheManager: construction and checks
//===----------------------------------------------------------------------===//

KVStatus KVCacheManager::create(const KVCacheConfig &config,
                                std::unique_ptr<KVCacheManager> &out) {
  KVStatus status = validateKVCacheConfig(config);
  if (!status)
    return status;
  std::unique_ptr<HostKVStorage> storage;
  status = HostKVStorage::create(kvStorageBytes(config), storage);
  if (!status)
    return status;
  return create(config, std::move(storage), out);
}

KVStatus KVCacheManager::create(const KVCacheConfig &config,
                                std::unique_ptr<KVStorage> storage,
                                std::unique_ptr<KVCacheManager> &out) {
  KVStatus status = validateKVCacheConfig(config);
  if (!status)
    return status;
  if (!storage)
    return KVStatus::error(KVErrc::InvalidArgument,
                           "KVCacheManager: storage is null");
  if (storage->bytesPerTensor() != kvStorageBytes(config))
    return KVStatus::error(KVErrc::InvalidArgument,
                           "KVCacheManager: expected storage of " +
                               std::to_string(kvStorageBytes(config)) +
                               " bytes per tensor, got " +
                               std::to_string(storage->bytesPerTensor()));
  out.reset(new KVCacheManager(config, std::move(storage)));
  return KVStatus::success();
}

KVCacheManager::KVCacheManager(const KVCacheConfig &config,
                               std::unique_ptr<KVStorage> storage)
    : config_(config), storage_(std::move(storage)),
      sequences_(static_cast<size_t>(config.maxSequences)) {
  if (!isPaged())
    return;
  // Page 0 on top: a fresh cache fills pages in order, which keeps tests
  // and dumps readable.
  for (int64_t page = config.numPages - 1; page >= 0; --page)
    freePages_.push_back(static_cast<int32_t>(page));
  pageOwners_.assign(static_cast<size_t>(config.numPages), -1);
}

int64_t KVCacheManager::pagesFor(int64_t length) const {
  return (length + config_.pageSize - 1) / config_.pageSize;
}

KVStatus KVCacheManager::checkSequence(const char *call, int32_t id) const {
  if (id < 0 || id >= config_.maxSequences)
    return KVStatus::error(KVErrc::BadSequence,
                           std::string(call) + ": sequence id " + str(id) +
                               " outside [0, " + str(config_.maxSequences) +
                               ")");
  if (!sequences_[id].allocated)
    return KVStatus::error(KVErrc::BadSequence, std::string(call) +
                                                    ": sequence " + str(id) +
                                                    " is not allocated");
  return KVStatus::success();
}

KVStatus KVCacheManager::checkPage(const char *call, int32_t page) const {
  if (!isPaged())
    return KVStatus::error(KVErrc::BadPage,
                           std::string(call) +
                               ": the contiguous layout has no pages");
  if (page < 0 || page >= config_.numPages)
    return KVStatus::error(KVErrc::BadPage, std::string(call) + ": page id " +
                                                str(page) + " outside [0, " +
                                                str(config_.numPages) + ")");
  return KVStatus::success();
}

KVStatus KVCacheManager::checkTokenRange(const char *call, int32_t id,
                                         int64_t position,
                                         int64_t numTokens) const {
  int64_t length = sequences_[id].length;
  // numTokens > length - position rather than position + numTokens > length:
  // the sum can overflow for hostile inputs.
  if (position < 0 || position >= length || numTokens > length - position)
    return KVStatus::error(KVErrc::OutOfRange,
                           std::string(call) + ": positions [" + str(position) +
                               ", " + str(position) + "+" + str(numTokens) +
                               ") of sequence " + str(id) + " outside [0, " +
                               str(length) + ")");
  return KVStatus::success();
}

size_t KVCacheManager::offsetOf(const Sequence &seq, int32_t id,
                                int64_t position, int64_t head) const {
  const KVCacheConfig &c = config_;
  int64_t row; // Index of the [D] vector in storage viewed as [rows, D].
  if (isPaged()) {
    int64_t page = seq.pages[static_cast<size_t>(position / c.pageSize)];
    int64_t slot = position % c.pageSize;
    row = (page * c.pageSize + slot) * c.numKVHeads + head;
  } else {
    row = (static_cast<int64_t>(id) * c.numKVHeads + head) * c.maxLength +
          position;
  }
  return static_cast<size_t>(row * c.headDim * c.elementBytes);
}

//===----------------------------------------------------------------------===//
// KVCacheManager: mutating calls
//===----------------------------------------------------------------------===//

template <typename Fn>
KVStatus KVCacheManager::forEachPiece(const Sequence &seq, int32_t id,
                                      int64_t position, int64_t numTokens,
                                      Fn &&piece) const {
  const int64_t tokenBytes = config_.tokenBytes();
  if (isPaged()) {
    // A page holds [pageSize, Hkv, D], so the rows of consecutive tokens in
    // one page are one contiguous piece.
    for (int64_t done = 0; done < numTokens;) {
      int64_t pos = position + done;
      int64_t run =
          std::min(numTokens - done, config_.pageSize - pos % config_.pageSize);
      KVStatus status = piece(offsetOf(seq, id, pos, 0),
                              static_cast<size_t>(done * tokenBytes),
                              static_cast<size_t>(run * tokenBytes));
      if (!status)
        return status;
      done += run;
    }
    return KVStatus::success();
  }
  // Contiguous: heads are Lmax rows apart, so each (token, head) is a piece.
  const size_t headBytes =
      static_cast<size_t>(config_.headDim * config_.elementBytes);
  for (int64_t t = 0; t < numTokens; ++t) {
    for (int64_t h = 0; h < config_.numKVHeads; ++h) {
      KVStatus status =
          piece(offsetOf(seq, id, position + t, h),
                static_cast<size_t>(t * tokenBytes) + h * headBytes, headBytes);
      if (!status)
        return status;
    }
  }
  return KVStatus::success();
}

KVStatus KVCacheManager::copyIn(const Sequence &seq, int32_t id,
                                int64_t position, const void *k, const void *v,
                                int64_t numTokens) {
  const auto *kIn = static_cast<const unsigned char *>(k);
  const auto *vIn = static_cast<const unsigned char *>(v);
  return forEachPiece(
      seq, id, position, numTokens, [&](size_t dst, size_t src, size_t bytes) {
        KVStatus status = storage_->write(KVTensor::K, dst, kIn + src, bytes);
        if (status)
          status = storage_->write(KVTensor::V, dst, vIn + src, bytes);
        return status;
      });
}

KVStatus KVCacheManager::copyOut(const Sequence &seq, int32_t id,
                                 int64_t position, void *k, void *v,
                                 int64_t numTokens) const {
  auto *kOut = static_cast<unsigned char *>(k);
  auto *vOut = static_cast<unsigned char *>(v);
  return forEachPiece(
      seq, id, position, numTokens, [&](size_t src, size_t dst, size_t bytes) {
        KVStatus status = storage_->read(KVTensor::K, src, kOut + dst, bytes);
        if (status)
          status = storage_->read(KVTensor::V, src, vOut + dst, bytes);
        return status;
      });
}

void KVCacheManager::releasePages(Sequence &seq, size_t keep) {
  // Last page first, so the sequence's first page ends on top of the stack.
  while (seq.pages.size() > keep) {
    int32_t page = seq.pages.back();
    seq.pages.pop_back();
    pageOwners_[page] = -1;
    freePages_.push_back(page);
  }
}

KVStatus KVCacheManager::allocateSequence(int32_t &id) {
  for (size_t slot = 0; slot < sequences_.size(); ++slot) {
    if (sequences_[slot].allocated)
      continue;
    sequences_[slot] = Sequence();
    sequences_[slot].allocated = true;
    id = static_cast<int32_t>(slot);
    return KVStatus::success();
  }
  return KVStatus::error(KVErrc::TooManySequences,
                         "allocateSequence: all " + str(config_.maxSequences) +
                             " sequence slots are in use");
}

KVStatus KVCacheManager::freeSequence(int32_t id) {
  KVStatus status = checkSequence("freeSequence", id);
  if (!status)
    return status;
  Sequence &seq = sequences_[id];
  releasePages(seq, 0);
  seq = Sequence();
  return status;
}

KVStatus KVCacheManager::append(int32_t id, const void *k, const void *v,
                                int64_t numTokens) {
  KVStatus status = checkSequence("append", id);
  if (!status)
    return status;
  if (!k || !v)
    return KVStatus::error(KVErrc::InvalidArgument,
                           "append: K and V pointers must be non-null");
  if (numTokens <= 0)
    return KVStatus::error(KVErrc::InvalidArgument,
                           "append: expected numTokens >= 1, got " +
                               str(numTokens));
  Sequence &seq = sequences_[id];
  if (numTokens > config_.maxLength - seq.length)
    return KVStatus::error(KVErrc::LengthOverflow,
                           "append: sequence " + str(id) + " has " +
                               str(seq.length) + " tokens; " + str(numTokens) +
                               " more exceed maxLength " +
                               str(config_.maxLength));
  int64_t newLength = seq.length + numTokens;
  size_t oldPages = seq.pages.size();
  if (isPaged()) {
    int64_t needed = pagesFor(newLength) - static_cast<int64_t>(oldPages);
    if (needed > numFreePages())
      return KVStatus::error(KVErrc::Exhausted,
                             "append: cache exhausted: " + str(numTokens) +
                                 " tokens for sequence " + str(id) + " need " +
                                 str(needed) + " new pages, " +
                                 str(numFreePages()) + " free");
    for (int64_t i = 0; i < needed; ++i) {
      int32_t page = freePages_.back();
      freePages_.pop_back();
      pageOwners_[page] = id;
      seq.pages.push_back(page);
    }
  }
  status = copyIn(seq, id, seq.length, k, v, numTokens);
  if (!status) {
    // Only a device storage can fail here; give the pages back in reverse
    // so the free list is exactly as before. Bytes already copied lie past
    // the sequence's length, where nothing reads.
    releasePages(seq, oldPages);
    return status;
  }
  seq.length = newLength;
  return status;
}

KVStatus KVCacheManager::write(int32_t id, int64_t position, const void *k,
                               const void *v, int64_t numTokens) {
  KVStatus status = checkSequence("write", id);
  if (!status)
    return status;
  if (!k || !v)
    return KVStatus::error(KVErrc::InvalidArgument,
                           "write: K and V pointers must be non-null");
  if (numTokens <= 0)
    return KVStatus::error(KVErrc::InvalidArgument,
                           "write: expected numTokens >= 1, got " +
                               str(numTokens));
  status = checkTokenRange("write", id, position, numTokens);
  if (!status)
    return status;
  // Stage: keep the bytes about to be overwritten, read before the first
  // write, so a storage failure part-way can be undone.
  Sequence &seq = sequences_[id];
  size_t bytes = static_cast<size_t>(numTokens * config_.tokenBytes());
  std::unique_ptr<unsigned char[]> oldK(
      new (std::nothrow) unsigned char[bytes]);
  std::unique_ptr<unsigned char[]> oldV(
      new (std::nothrow) unsigned char[bytes]);
  if (!oldK || !oldV)
    return KVStatus::error(KVErrc::StorageFailure,
                           "write: cannot allocate 2 x " +
                               std::to_string(bytes) +
                               " host bytes to stage the overwritten tokens");
  status = copyOut(seq, id, position, oldK.get(), oldV.get(), numTokens);
  if (!status)
    return status;
  status = copyIn(seq, id, position, k, v, numTokens);
  if (status)
    return status;
  // Undo: put every overwritten byte back (the failed piece included: it
  // may be half written).
  KVStatus undo = copyIn(seq, id, position, oldK.get(), oldV.get(), numTokens);
  if (undo)
    return status;
  // The storage refuses the restore too: positions from `position` on may
  // hold a mix of old and new bytes. Make them invisible rather than wrong.
  int64_t length = seq.length;
  if (isPaged())
    releasePages(seq, static_cast<size_t>(pagesFor(position)));
  seq.length = position;
  return KVStatus::error(KVErrc::StorageFailure,
                         status.message() +
                             "; restoring the old tokens failed "
                             "too (" +
                             undo.message() + "): sequence " + str(id) +
                             " truncated from " + str(length) + " to " +
                             str(position) + " tokens");
}

KVStatus KVCacheManager::truncate(int32_t id, int64_t newLength) {
  KVStatus status = checkSequence("truncate", id);
  if (!status)
    return status;
  Sequence &seq = sequences_[id];
  if (newLength < 0 || newLength > seq.length)
    return KVStatus::error(KVErrc::OutOfRange,
                           "truncate: new length " + str(newLength) +
                               " of sequence " + str(id) + " outside [0, " +
                               str(seq.length) + "]");
  if (isPaged())
    releasePages(seq, static_cast<size_t>(pagesFor(newLength)));
  seq.length = newLength;
  return status;
}

//===----------------------------------------------------------------------===//
// KVCacheManager: queries
//===----------------------------------------------------------------------===//

KVStatus KVCacheManager::length(int32_t id, int64_t &out) const {
  KVStatus status = checkSequence("length", id);
  if (status)
    out = sequences_[id].length;
  return status;
}

KVStatus KVCacheManager::readToken(int32_t id, int64_t position, void *k,
                                   void *v) const {
  KVStatus status = checkSequence("readToken", id);
  if (!status)
    return status;
  if (!k || !v)
    return KVStatus::error(KVErrc::InvalidArgument,
                           "readToken: K and V pointers must be non-null");
  status = checkTokenRange("readToken", id, position, 1);
  if (!status)
    return status;
  auto *kOut = static_cast<unsigned char *>(k);
  auto *vOut = static_cast<unsigned char *>(v);
  const Sequence &seq = sequences_[id];
  // Paged keeps a token's heads together; contiguous spreads them Lmax apart.
  int64_t pieces = isPaged() ? 1 : config_.numKVHeads;
  size_t bytes = static_cast<size_t>(config_.tokenBytes() / pieces);
  for (int64_t h = 0; h < pieces && status; ++h) {
    size_t src = offsetOf(seq, id, position, h);
    status = storage_->read(KVTensor::K, src, kOut + h * bytes, bytes);
    if (status)
      status = storage_->read(KVTensor::V, src, vOut + h * bytes, bytes);
  }
  return status;
}

KVStatus KVCacheManager::pageOf(int32_t id, int64_t position,
                                int32_t &page) const {
  KVStatus status = checkSequence("pageOf", id);
  if (!status)
    return status;
  if (!isPaged())
    return KVStatus::error(KVErrc::BadPage,
                           "pageOf: the contiguous layout has no pages");
  status = checkTokenRange("pageOf", id, position, 1);
  if (status)
    page =
        sequences_[id].pages[static_cast<size_t>(position / config_.pageSize)];
  return status;
}

KVStatus KVCacheManager::blockTable(const std::vector<int32_t> &ids,
                                    int64_t maxPages,
                                    std::vector<int32_t> &out) const {
  if (!isPaged())
    return KVStatus::error(KVErrc::BadPage,
                           "blockTable: the contiguous layout has no pages");
  // No sequence can hold more than either bound; a wider table is a caller
  // bug (and could be a huge allocation).
  int64_t widest = std::max(config_.numPages, config_.maxPagesPerSequence());
  if (maxPages < 1 || maxPages > widest)
    return KVStatus::error(KVErrc::InvalidArgument,
                           "blockTable: expected maxPages in [1, " +
                               str(widest) + "], got " + str(maxPages));
  for (int32_t id : ids) {
    KVStatus status = checkSequence("blockTable", id);
    if (!status)
      return status;
    int64_t used = static_cast<int64_t>(sequences_[id].pages.size());
    if (used > maxPages)
      return KVStatus::error(KVErrc::TableTooSmall,
                             "blockTable: sequence " + str(id) + " has " +
                                 str(used) + " pages, the table " +
                                 str(maxPages) + " columns");
  }
  std::vector<int32_t> table(ids.size() * static_cast<size_t>(maxPages), -1);
  for (size_t b = 0; b < ids.size(); ++b) {
    const std::vector<int32_t> &pages = sequences_[ids[b]].pages;
    std::copy(pages.begin(), pages.end(),
              table.begin() + b * static_cast<size_t>(maxPages));
  }
  out = std::move(table);
  return KVStatus::success();
}

KVStatus KVCacheManager::sequenceLengths(const std::vector<int32_t> &ids,
                                         std::vector<int32_t> &out) const {
  std::vector<int32_t> lengths;
  lengths.reserve(ids.size());
  for (int32_t id : ids) {
    KVStatus status = checkSequence("sequenceLengths", id);
    if (!status)
      return status;
    // maxLength <= 2^31-1 (validated), so this cannot narrow.
    lengths.push_back(static_cast<int32_t>(sequences_[id].length));
  }
  out = std::move(lengths);
  return KVStatus::success();
}

KVStatus KVCacheManager::readPage(int32_t page, void *k, void *v) const {
  KVStatus status = checkPage("readPage", page);
  if (!status)
    return status;
  if (!k || !v)
    return KVStatus::error(KVErrc::InvalidArgument,
                           "readPage: K and V pointers must be non-null");
  size_t bytes = static_cast<size_t>(config_.pageSize * config_.tokenBytes());
  size_t offset = static_cast<size_t>(page) * bytes;
  status = storage_->read(KVTensor::K, offset, k, bytes);
  if (status)
    status = storage_->read(KVTensor::V, offset, v, bytes);
  return status;
}

KVStatus KVCacheManager::pageOwner(int32_t page, int32_t &id) const {
  KVStatus status = checkPage("pageOwner", page);
  if (status)
    id = pageOwners_[page];
  return status;
}

bool KVCacheManager::isAllocated(int32_t id) const {
  return id >= 0 && id < config_.maxSequences && sequences_[id].allocated;
}

int64_t KVCacheManager::numAllocatedSequences() const {
  return std::count_if(sequences_.begin(), sequences_.end(),
                       [](const Sequence &seq) { return seq.allocated; });
}

std::vector<int32_t> KVCacheManager::freePageList() const {
  return std::vector<int32_t>(freePages_.rbegin(), freePages_.rend());
}
