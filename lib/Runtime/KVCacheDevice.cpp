//===- KVCacheDevice.cpp - KV cache storage in GPU memory -----------------===//
//
// Part of attn-mlir. DeviceKVStorage over the runtime's device memory helpers,
// so that it shares their dlopen'd libcuda and context handling: a program
// using it starts without a driver and create() says what is missing.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/KVCache.h"
#include "attn/Runtime/Runtime.h"

#include <algorithm>
#include <string>

using namespace attn::runtime;

static KVStatus storageError(const std::string &message) {
  return KVStatus::error(KVErrc::StorageFailure, "DeviceKVStorage: " + message);
}

KVStatus DeviceKVStorage::create(size_t bytesPerTensor,
                                 std::unique_ptr<DeviceKVStorage> &out) {
  std::string why;
  if (!isGpuAvailable(&why))
    return storageError("no usable GPU: " + why);
  std::unique_ptr<DeviceKVStorage> storage(new DeviceKVStorage());
  storage->bytes_ = bytesPerTensor;
  // cuMemAlloc rejects 0 bytes; an empty storage still gets valid addresses.
  size_t allocated = std::max<size_t>(bytesPerTensor, 1);
  for (uint64_t *ptr : {&storage->k_, &storage->v_}) {
    // On failure, ~DeviceKVStorage frees what was allocated.
    if (Status s = deviceAlloc(allocated, *ptr); !s)
      return storageError("cannot allocate 2 x " +
                          std::to_string(bytesPerTensor) + " bytes: " +
                          s.message);
    if (Status s = deviceMemset(*ptr, 0, allocated); !s)
      return storageError("cannot zero-fill: " + s.message);
  }
  out = std::move(storage);
  return KVStatus::success();
}

DeviceKVStorage::~DeviceKVStorage() {
  for (uint64_t ptr : {k_, v_})
    if (ptr)
      (void)deviceFree(ptr);
}

KVStatus DeviceKVStorage::checkRange(const char *call, size_t offset,
                                     size_t bytes) const {
  if (offset > bytes_ || bytes > bytes_ - offset)
    return storageError(std::string(call) + ": range [" +
                        std::to_string(offset) + ", +" +
                        std::to_string(bytes) + ") outside " +
                        std::to_string(bytes_) + " bytes");
  return KVStatus::success();
}

KVStatus DeviceKVStorage::write(KVTensor tensor, size_t offset,
                                const void *src, size_t bytes) {
  KVStatus status = checkRange("write", offset, bytes);
  if (!status || bytes == 0)
    return status;
  if (Status s = copyToDevice(address(tensor) + offset, src, bytes); !s)
    return storageError("write: " + s.message);
  return KVStatus::success();
}

KVStatus DeviceKVStorage::read(KVTensor tensor, size_t offset, void *dst,
                               size_t bytes) const {
  KVStatus status = checkRange("read", offset, bytes);
  if (!status || bytes == 0)
    return status;
  if (Status s = copyToHost(dst, address(tensor) + offset, bytes); !s)
    return storageError("read: " + s.message);
  return KVStatus::success();
}
