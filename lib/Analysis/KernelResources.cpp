//===- KernelResources.cpp - shared memory of the GPU kernel families -----===//
//
// Part of attn-mlir. docs/Pipeline.md states each family's layout; these are
// its only size formulas.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/KernelResources.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>

using namespace mlir::attn;

int64_t mlir::attn::getSharedRowBytes(int64_t elements) {
  return static_cast<int64_t>(llvm::alignTo(elements * 2, 128));
}

PrefillSharedMemory mlir::attn::getPrefillSharedMemory(int64_t headDim,
                                                       int64_t valueHeadDim,
                                                       int64_t blockM,
                                                       int64_t blockN) {
  int64_t qRow = getSharedRowBytes(headDim);
  int64_t vRow = getSharedRowBytes(valueHeadDim);
  PrefillSharedMemory s;
  // O / l is staged through the Q tile's rows.
  s.qTileBytes = blockM * std::max(qRow, vRow);
  s.kTileBytes = blockN * qRow;
  s.vTileBytes = blockN * vRow;
  return s;
}

int64_t mlir::attn::getDecodeSharedMemoryBytes(int64_t headDim,
                                               int64_t valueHeadDim,
                                               int64_t numWarps,
                                               int64_t keysPerWarp,
                                               int64_t stages) {
  int64_t qRow = getSharedRowBytes(headDim);
  int64_t slotRow = std::max(qRow, getSharedRowBytes(valueHeadDim));
  int64_t ring = numWarps * stages * 2 * keysPerWarp * slotRow;
  // Each warp's 16 rows of (max, sum) and Dv + 8 f32 partial outputs.
  int64_t merge = numWarps * 16 * (8 + (valueHeadDim + 8) * 4);
  return 16 * qRow + std::max(ring, merge);
}

bool mlir::attn::hopperKeepsQInSharedMemory(int64_t headDim, int64_t blockN) {
  return headDim == 128 && blockN == 128;
}

int64_t mlir::attn::getHopperOTileBytes(int64_t headDim, int64_t blockM) {
  return blockM * headDim * 2;
}

bool mlir::attn::hopperAutoTmaEpilogue(int64_t headDim, int64_t blockM,
                                       int64_t sharedMemoryBytes) {
  // Measured on an H200 (2026-12-01, two calls, bench/NOTES.md "Hopper TMA
  // store epilogue"): at D = 128 faster on every prefill and GQA shape in
  // the second call (+1.2-7.8%, the most at L = 1k, where a tile has few KV
  // blocks) and on 9 of 10 in the first (+0.5-12.6%; D = 128 causal L = 16k
  // -0.7%, then +1.2%); at D = 64 (one call) +1% at L = 1k, level causal,
  // 6-7% slower non-causal at L = 4k and 16k, so registers there.
  return headDim == 128 &&
         sharedMemoryBytes + getHopperOTileBytes(headDim, blockM) <=
             kMaxKernelSharedMemoryBytes;
}

int64_t mlir::attn::getHopperSharedMemoryBytes(int64_t headDim, int64_t blockM,
                                               int64_t blockN,
                                               int64_t stages,
                                               bool recyclesQ) {
  constexpr int64_t kAlignBytes = 1024;
  int64_t tileBytes = blockN * headDim * 2;
  int64_t qBytes =
      hopperKeepsQInSharedMemory(headDim, blockN) ? blockM * headDim * 2 : 0;
  return kAlignBytes + stages * 2 * tileBytes + qBytes +
         8 * (4 * stages + 1 + (recyclesQ ? 1 : 0));
}
