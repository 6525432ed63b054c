//===- FragmentLayout.h - where accumulator registers sit in a tile -*- C++ -*-===//
//
// Part of attn-mlir. The register layout of an f32 accumulator tile, as one
// warp holds it, so that code placing a score at its (query row, key)
// coordinates (masks, ALiBi, score_mod) and reducing it over a row (online
// softmax, epilogue) is written once for every tensor-core family.
//
// Both layouts in use share one shape: lane = 4 g + t owns, for each n8
// column tile nt and each c in 0..3, the element at row g + 8 (c >> 1) and
// column 8 nt + 2 t + (c & 1) of a 16-row slab; a row is spread over the 4
// lanes of a quad (xor 1, 2). They differ in how many slabs a warp holds and
// where the warp's slab starts:
//   mma.sync m16n8k16: a warp holds mTiles slabs (16 rows each) of its own
//     rows, C tiles [mTiles][nTiles][4].
//   wgmma m64nNk16: a warpgroup holds 64 rows; warp w % 4 of the group owns
//     rows 16 (w % 4) .. +15, one slab of N / 8 column tiles.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_FRAGMENTLAYOUT_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_FRAGMENTLAYOUT_H

#include <array>
#include <cstdint>

namespace mlir::attn::detail {

struct FragmentLayout {
  /// 16-row slabs and n8 column tiles per warp.
  int64_t mTiles, nTiles;
  /// Rows of the tile between consecutive warps' first rows (mma.sync: the
  /// warp's own rows; wgmma: 16 within the warpgroup).
  int64_t warpRowStride;

  static FragmentLayout mmaSync(int64_t mTiles, int64_t nTiles) {
    return {mTiles, nTiles, 16 * mTiles};
  }
  /// One warp's part of a wgmma m64nNk16 accumulator.
  static FragmentLayout wgmma(int64_t n) { return {1, n / 8, 16}; }

  int64_t numRegisters() const { return mTiles * nTiles * 4; }
  int64_t index(int64_t mt, int64_t nt, int64_t c) const {
    return (mt * nTiles + nt) * 4 + c;
  }
  /// Row of register `reg` relative to the lane's base row (warp first row
  /// + g).
  int64_t rowOffset(int64_t reg) const {
    int64_t mt = reg / (nTiles * 4), c = reg % 4;
    return mt * 16 + (c >> 1) * 8;
  }
  /// Column of register `reg` relative to the lane's base column (2 t).
  int64_t colOffset(int64_t reg) const {
    int64_t nt = (reg / 4) % nTiles, c = reg % 4;
    return nt * 8 + (c & 1);
  }
  /// Rows a lane holds (each row: registers with the same rowOffset).
  int64_t numRows() const { return mTiles * 2; }
  /// The row slot (0 .. numRows) of register `reg`.
  int64_t rowSlot(int64_t reg) const {
    return (reg / (nTiles * 4)) * 2 + (reg % 4) / 2;
  }
  /// Lane xor masks that reach the other lanes holding a row.
  static constexpr std::array<int64_t, 2> rowReductionMasks() { return {1, 2}; }
};

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_FRAGMENTLAYOUT_H
