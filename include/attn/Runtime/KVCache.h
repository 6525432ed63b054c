//===- KVCache.h - contiguous and paged KV cache managers -------*- C++ -*-===//
//
// Part of attn-mlir. A KV cache manager owns the K and V storage of a set of
// sequences and the bookkeeping around it: which sequence slots are in use,
// how many tokens each holds and, for the paged layout, which pages hold them
// (the block table kernels read). It is plain C++17 with no MLIR, LLVM or CUDA
// dependency so that it builds wherever the CUDA runtime does. The one device
// piece, DeviceKVStorage, is declared here without CUDA types and defined in
// the AttnKVCacheDevice library, which uses lib/Runtime's dlopen'd driver.
//
// Every mutating call validates all of its arguments before it writes a byte
// or touches a counter: a rejected call leaves the storage bytes and every
// piece of bookkeeping exactly as they were. Callers (a serving scheduler) can
// therefore treat "cache exhausted" as "preempt something and retry" without
// repairing anything. docs/KVCache.md has the layouts and index formulas.
//
// Not thread-safe: one scheduler thread owns a manager.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_KVCACHE_H
#define ATTN_RUNTIME_KVCACHE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attn::runtime {

/// Why a KV cache call failed. Exhausted and TooManySequences are capacity
/// conditions a scheduler reacts to (preempt, wait); the others are bugs in
/// the caller.
enum class KVErrc {
  Ok = 0,
  InvalidConfig,    ///< KVCacheConfig failed validation.
  InvalidArgument,  ///< Null pointer, numTokens <= 0, maxPages <= 0, ...
  BadSequence,      ///< Sequence id out of range or not allocated (freed).
  BadPage,          ///< Page id out of range, or the layout has no pages.
  OutOfRange,       ///< Position outside [0, length) or truncation past it.
  LengthOverflow,   ///< The sequence would grow beyond maxLength.
  Exhausted,        ///< Not enough free pages for an append.
  TooManySequences, ///< Every sequence slot is in use.
  TableTooSmall,    ///< A sequence has more pages than the block table columns.
  StorageFailure,   ///< The KVStorage backend failed to allocate or copy.
};

/// Success, or an error code plus a message naming the call, the sequence or
/// page and the limit that was hit. The KV cache has its own status type so
/// that this header stays independent of the CUDA runtime's.
class [[nodiscard]] KVStatus {
public:
  static KVStatus success() { return KVStatus(); }
  static KVStatus error(KVErrc code, std::string message) {
    return KVStatus(code, std::move(message));
  }

  bool ok() const { return code_ == KVErrc::Ok; }
  KVErrc code() const { return code_; }
  const std::string &message() const { return message_; }
  explicit operator bool() const { return ok(); }

private:
  KVStatus() = default;
  KVStatus(KVErrc code, std::string message)
      : code_(code), message_(std::move(message)) {}

  KVErrc code_ = KVErrc::Ok;
  std::string message_;
};

/// How K and V are laid out in storage (docs/KVCache.md has the formulas).
enum class KVLayout {
  /// K and V are each [maxSequences, Hkv, maxLength, D]; the sequence id is
  /// the row. Simple and gather-free, but reserves maxLength for everyone.
  Contiguous,
  /// K and V are each [numPages, pageSize, Hkv, D] (vLLM's layout); a block
  /// table maps a sequence's logical block i to a physical page.
  Paged,
};

/// The shape of a cache. Sizes are int64_t so that products are computed
/// without narrowing; validation bounds them so ids fit in int32 (the block
/// table and length arrays kernels read are int32).
struct KVCacheConfig {
  KVLayout layout = KVLayout::Paged;
  int64_t numKVHeads = 0;   ///< Hkv.
  int64_t headDim = 0;      ///< D (the same for K and V).
  int64_t elementBytes = 2; ///< 2 for bf16/f16, 4 for f32.
  int64_t pageSize = 16;    ///< Tokens per page (16..256, 2^k). Paged only.
  int64_t numPages = 0;     ///< Physical pages in the pool. Paged only.
  int64_t maxSequences = 0; ///< Sequence slots (ids 0 .. maxSequences-1).
  int64_t maxLength = 0;    ///< Tokens one sequence may hold.

  /// Bytes of one token of K (or V): Hkv * D * elementBytes.
  int64_t tokenBytes() const { return numKVHeads * headDim * elementBytes; }
  /// Pages a sequence of maxLength tokens needs: ceil(maxLength / pageSize);
  /// 0 without a page size (a contiguous config may leave it 0).
  int64_t maxPagesPerSequence() const {
    return pageSize > 0 ? (maxLength + pageSize - 1) / pageSize : 0;
  }
};

/// Checks every field; the message says which one and what was expected.
KVStatus validateKVCacheConfig(const KVCacheConfig &config);

/// Bytes of K (and, separately, of V) a valid config needs:
/// numPages * pageSize * tokenBytes (paged) or
/// maxSequences * maxLength * tokenBytes (contiguous).
size_t kvStorageBytes(const KVCacheConfig &config);

/// Which of the two tensors a storage call addresses.
enum class KVTensor { K, V };

/// Where the K and V bytes live. The manager moves bytes only through this
/// interface, with offsets computed from the layout formulas, so host and
/// device storage share all of the bookkeeping. The manager never calls
/// write() before a call has passed validation.
class KVStorage {
public:
  virtual ~KVStorage();

  /// Size in bytes of K, and of V.
  virtual size_t bytesPerTensor() const = 0;
  /// Copies `bytes` bytes of host memory at `src` to `offset` in `tensor`.
  virtual KVStatus write(KVTensor tensor, size_t offset, const void *src,
                         size_t bytes) = 0;
  /// Copies `bytes` bytes at `offset` in `tensor` to host memory at `dst`.
  virtual KVStatus read(KVTensor tensor, size_t offset, void *dst,
                        size_t bytes) const = 0;
  /// The base address a kernel receives for `tensor`: a host pointer here, a
  /// CUdeviceptr for device storage.
  virtual uint64_t address(KVTensor tensor) const = 0;
};

/// KVStorage in host memory, zero-filled at creation so that a fresh cache
/// has defined bytes everywhere.
class HostKVStorage final : public KVStorage {
public:
  /// Allocates K and V of `bytesPerTensor` bytes each; fails (instead of
  /// aborting) when the allocation does.
  static KVStatus create(size_t bytesPerTensor,
                         std::unique_ptr<HostKVStorage> &out);

  size_t bytesPerTensor() const override { return bytes_; }
  KVStatus write(KVTensor tensor, size_t offset, const void *src,
                 size_t bytes) override;
  KVStatus read(KVTensor tensor, size_t offset, void *dst,
                size_t bytes) const override;
  uint64_t address(KVTensor tensor) const override;

  /// Direct view of the bytes (tests compare whole buffers).
  const unsigned char *data(KVTensor tensor) const {
    return tensor == KVTensor::K ? k_.get() : v_.get();
  }

private:
  HostKVStorage() = default;
  KVStatus checkRange(size_t offset, size_t bytes) const;

  size_t bytes_ = 0;
  std::unique_ptr<unsigned char[]> k_, v_;
};

/// KVStorage in GPU memory of the current (or device 0's primary) CUDA
/// context, through the CUDA driver API that lib/Runtime opens at run time:
/// cuMemAlloc for K and V, zero-filled at creation (cuMemsetD8), and
/// synchronous cuMemcpyHtoD/DtoH for write() and read(), which are
/// bounds-checked like HostKVStorage's. address() is the CUdeviceptr a
/// kernel receives.
///
/// The copies run on the legacy default stream: a kernel reading the cache
/// on a non-blocking stream must be ordered after them by the caller.
///
/// Defined in AttnKVCacheDevice, which is built when cuda.h is found (as
/// AttnRuntime is); libcuda itself is needed only when create() runs.
class DeviceKVStorage final : public KVStorage {
public:
  /// Allocates and zero-fills K and V of `bytesPerTensor` bytes each.
  /// StorageFailure, with the driver's message, when there is no usable GPU
  /// (no libcuda, no device) or an allocation fails; `out` is then untouched.
  static KVStatus create(size_t bytesPerTensor,
                         std::unique_ptr<DeviceKVStorage> &out);
  ~DeviceKVStorage() override;
  DeviceKVStorage(const DeviceKVStorage &) = delete;
  DeviceKVStorage &operator=(const DeviceKVStorage &) = delete;

  size_t bytesPerTensor() const override { return bytes_; }
  KVStatus write(KVTensor tensor, size_t offset, const void *src,
                 size_t bytes) override;
  KVStatus read(KVTensor tensor, size_t offset, void *dst,
                size_t bytes) const override;
  uint64_t address(KVTensor tensor) const override {
    return tensor == KVTensor::K ? k_ : v_;
  }

private:
  DeviceKVStorage() = default;
  KVStatus checkRange(const char *call, size_t offset, size_t bytes) const;

  size_t bytes_ = 0;
  uint64_t k_ = 0, v_ = 0; // CUdeviceptr
};

/// Allocates sequences, appends and overwrites their tokens, and hands out
/// the block table and lengths kernels read.
///
/// Token data crosses the API as [numTokens, Hkv, D] row-major arrays of
/// elementBytes-sized elements, one for K and one for V: the layout a
/// projection produces for new tokens, independent of the cache layout.
///
/// Sequence ids are slots 0 .. maxSequences-1; allocateSequence hands out the
/// lowest free slot, so an id is reused after it is freed. Pages are taken
/// from a free list (freePageList() shows the order); freed pages go back on
/// top of it, so they are the next ones used.
class KVCacheManager {
public:
  /// Validates `config` and allocates host storage for it.
  static KVStatus create(const KVCacheConfig &config,
                         std::unique_ptr<KVCacheManager> &out);
  /// As above with caller-provided storage (e.g. on a device); its
  /// bytesPerTensor() must equal kvStorageBytes(config).
  static KVStatus create(const KVCacheConfig &config,
                         std::unique_ptr<KVStorage> storage,
                         std::unique_ptr<KVCacheManager> &out);

  const KVCacheConfig &config() const { return config_; }
  const KVStorage &storage() const { return *storage_; }

  //===--------------------------------------------------------------------===//
  // Mutating calls: all-or-nothing.
  //===--------------------------------------------------------------------===//

  /// Takes the lowest free sequence slot; the new sequence has length 0 and
  /// no pages. TooManySequences if every slot is in use.
  KVStatus allocateSequence(int32_t &id);
  /// Releases `id` and returns its pages to the free list. Its bytes are not
  /// cleared: nothing reads past a sequence's length.
  KVStatus freeSequence(int32_t id);
  /// Writes `numTokens` tokens (K from `k`, V from `v`, each laid out
  /// [numTokens, Hkv, D]) at positions length .. length+numTokens-1, taking
  /// pages from the free list as needed, then advances the length.
  KVStatus append(int32_t id, const void *k, const void *v, int64_t numTokens);
  /// Overwrites positions position .. position+numTokens-1, which must all be
  /// below length(id); never takes pages. All-or-nothing also when the
  /// storage fails part-way: the overwritten bytes are staged on the host
  /// first and put back on failure (StorageFailure, cache unchanged). Only if
  /// the storage refuses that restore too is the sequence truncated to
  /// `position` (its tokens from there on could be neither old nor new), and
  /// the message says so.
  KVStatus write(int32_t id, int64_t position, const void *k, const void *v,
                 int64_t numTokens);
  /// Shrinks `id` to `newLength` (0 .. length) and returns the pages no
  /// longer needed, e.g. to roll back rejected speculative tokens.
  KVStatus truncate(int32_t id, int64_t newLength);

  //===--------------------------------------------------------------------===//
  // Queries: never change anything, outputs are written only on success.
  //===--------------------------------------------------------------------===//

  /// Tokens held by `id`.
  KVStatus length(int32_t id, int64_t &out) const;
  /// Copies token `position` of `id` (0 <= position < length) into `k` and
  /// `v`, each [Hkv, D].
  KVStatus readToken(int32_t id, int64_t position, void *k, void *v) const;
  /// The physical page holding token `position` of `id`. Paged only.
  KVStatus pageOf(int32_t id, int64_t position, int32_t &page) const;
  /// The block table for the batch `ids`: int32 [ids.size(), maxPages]
  /// row-major, row b listing the pages of ids[b] in logical order, unused
  /// entries -1. TableTooSmall if a sequence has more than maxPages pages.
  /// Paged only.
  KVStatus blockTable(const std::vector<int32_t> &ids, int64_t maxPages,
                      std::vector<int32_t> &out) const;
  /// int32 [ids.size()] lengths for the batch `ids`.
  KVStatus sequenceLengths(const std::vector<int32_t> &ids,
                           std::vector<int32_t> &out) const;
  /// Copies physical page `page` of K and V, each [pageSize, Hkv, D], whether
  /// or not it is in use (debugging). Paged only.
  KVStatus readPage(int32_t page, void *k, void *v) const;
  /// The sequence owning `page`, or -1 if it is free. Paged only.
  KVStatus pageOwner(int32_t page, int32_t &id) const;

  /// True if `id` is a slot in range that is currently allocated.
  bool isAllocated(int32_t id) const;
  int64_t numAllocatedSequences() const;
  /// Free pages (0 for the contiguous layout).
  int64_t numFreePages() const {
    return static_cast<int64_t>(freePages_.size());
  }
  /// Free pages in the order appends will take them.
  std::vector<int32_t> freePageList() const;

private:
  struct Sequence {
    bool allocated = false;
    int64_t length = 0;
    std::vector<int32_t> pages; // Logical block i -> physical page (paged).
  };

  KVCacheManager(const KVCacheConfig &config,
                 std::unique_ptr<KVStorage> storage);

  bool isPaged() const { return config_.layout == KVLayout::Paged; }
  int64_t pagesFor(int64_t length) const;
  KVStatus checkSequence(const char *call, int32_t id) const;
  KVStatus checkPage(const char *call, int32_t page) const;
  KVStatus checkTokenRange(const char *call, int32_t id, int64_t position,
                           int64_t numTokens) const;
  /// Byte offset of token `position`, head `head` of `seq` (pages must
  /// already be assigned to `seq`).
  size_t offsetOf(const Sequence &seq, int32_t id, int64_t position,
                  int64_t head) const;
  /// Calls piece(storageOffset, hostOffset, bytes) for tokens [position,
  /// position+numTokens) in as few contiguous pieces as the layout allows
  /// (host arrays are [numTokens, Hkv, D]); stops at the first error.
  template <typename Fn>
  KVStatus forEachPiece(const Sequence &seq, int32_t id, int64_t position,
                        int64_t numTokens, Fn &&piece) const;
  /// Copies tokens [position, position+numTokens) from [numTokens, Hkv, D]
  /// host arrays into storage.
  KVStatus copyIn(const Sequence &seq, int32_t id, int64_t position,
                  const void *k, const void *v, int64_t numTokens);
  /// The reverse of copyIn: storage into host arrays.
  KVStatus copyOut(const Sequence &seq, int32_t id, int64_t position, void *k,
                   void *v, int64_t numTokens) const;
  void releasePages(Sequence &seq, size_t keep);

  KVCacheConfig config_;
  std::unique_ptr<KVStorage> storage_;
  std::vector<Sequence> sequences_;
  /// A stack: back() is the next page handed out.
  std::vector<int32_t> freePages_;
  /// Owner sequence per physical page, -1 when free (paged).
  std::vector<int32_t> pageOwners_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_KVCACHE_H
