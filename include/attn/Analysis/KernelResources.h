//===- KernelResources.h - shared memory of the GPU kernel families -*- C++ -*-//
//
// Part of attn-mlir. The shared-memory size of each GPU kernel family as a
// function of its tiles, stated once: the families' planners
// (lib/Conversion/AttnToNVVM) size their launches with these functions and
// the tile model (TileConfig.cpp) rejects and ranks candidates with the same
// ones, so the two cannot drift (test/Unit/TileConfigTest.cpp plans every
// candidate with the kernels and compares).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_KERNELRESOURCES_H
#define ATTN_ANALYSIS_KERNELRESOURCES_H

#include <cstdint>

namespace mlir::attn {

/// The most dynamic shared memory one CTA may opt into on sm_90 (227 KiB),
/// the largest chip the kernels target.
constexpr int64_t kMaxKernelSharedMemoryBytes = 227 * 1024;

/// Bytes between rows of a shared-memory tile of `elements` 16-bit
/// elements, padded to a multiple of 128 bytes so tiles and rows stay
/// 128-byte aligned for the swizzle (D = 96: 256-byte rows; D = 64, 128,
/// 192, 256: unpadded).
int64_t getSharedRowBytes(int64_t elements);

/// The prefill (mma.sync) kernel: a Q tile (where O is staged too, so as
/// wide as the wider of the D and Dv rows) plus kPrefillStages stages of
/// one K and one V tile.
constexpr int64_t kPrefillStages = 2;
struct PrefillSharedMemory {
  int64_t qTileBytes = 0, kTileBytes = 0, vTileBytes = 0;
  int64_t total() const {
    return qTileBytes + kPrefillStages * (kTileBytes + vTileBytes);
  }
};
PrefillSharedMemory getPrefillSharedMemory(int64_t headDim,
                                           int64_t valueHeadDim,
                                           int64_t blockM, int64_t blockN);

/// The decode kernel: a 16-row Q tile, then the warps' cp.async rings (a K
/// and a V slot per stage, each as wide as the wider padded row), which the
/// warps' LSE merge reuses.
int64_t getDecodeSharedMemoryBytes(int64_t headDim, int64_t valueHeadDim,
                                   int64_t numWarps, int64_t keysPerWarp,
                                   int64_t stages);

/// The hopper (wgmma) kernel reads Q from a shared tile at D = 128 with
/// block-n 128: in registers a consumer thread would need more than the 168
/// it has before setmaxnreg.
bool hopperKeepsQInSharedMemory(int64_t headDim, int64_t blockN);

/// The hopper kernel: 1024 bytes to align the ring, `stages` K and V tiles
/// of blockN x D bf16/f16 elements, the Q tile when it is in shared memory,
/// and the full/empty mbarriers of every stage's K and V plus Q's (and Q's
/// empty one where a persistent CTA reuses the Q tile: `recyclesQ`).
int64_t getHopperSharedMemoryBytes(int64_t headDim, int64_t blockM,
                                   int64_t blockN, int64_t stages,
                                   bool recyclesQ = false);

/// The O tile of the hopper kernel's TMA store epilogue
/// (hopper-epilogue=tma): blockM rows of D bf16/f16 elements.
int64_t getHopperOTileBytes(int64_t headDim, int64_t blockM);

/// hopper-epilogue=auto: whether the hopper kernel whose other shared
/// memory is `sharedMemoryBytes` writes O by TMA: at D = 128 where the O
/// tile fits next to it within kMaxKernelSharedMemoryBytes (the kernel and
/// the tile model ask the same question).
bool hopperAutoTmaEpilogue(int64_t headDim, int64_t blockM,
                           int64_t sharedMemoryBytes);

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_KERNELRESOURCES_H
