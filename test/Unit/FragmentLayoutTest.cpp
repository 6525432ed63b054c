//===- FragmentLayoutTest.cpp - accumulator register coordinates ---------===//
//
// Part of attn-mlir. FragmentLayout against the PTX ISA fragment tables of
// mma.sync m16n8k16 (C) and wgmma m64nNk16 (D, f32): lane 4 g + t holds,
// for register i of n8 tile nt, row g + 8 * ((i >> 1) & 1) and column
// 8 nt + 2 t + (i & 1).
//
//===----------------------------------------------------------------------===//

#include "../../lib/Conversion/AttnToNVVM/FragmentLayout.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

using mlir::attn::detail::FragmentLayout;

namespace {

/// Every (row, col) of a warp's tile is held by exactly one (lane, reg).
void expectCoversTile(const FragmentLayout &layout, int64_t rows,
                      int64_t cols) {
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int64_t lane = 0; lane < 32; ++lane)
    for (int64_t r = 0; r < layout.numRegisters(); ++r) {
      int64_t row = lane / 4 + layout.rowOffset(r);
      int64_t col = 2 * (lane % 4) + layout.colOffset(r);
      EXPECT_LT(row, rows);
      EXPECT_LT(col, cols);
      EXPECT_TRUE(seen.insert({row, col}).second) << row << ", " << col;
    }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), rows * cols);
}

TEST(FragmentLayout, WgmmaAccumulatorOfOneWarp) {
  // m64n128: a warp holds 16 rows x 128 columns in 64 registers.
  FragmentLayout layout = FragmentLayout::wgmma(128);
  EXPECT_EQ(layout.numRegisters(), 64);
  EXPECT_EQ(layout.warpRowStride, 16);
  // d[i]: row g + 8 * ((i / 2) % 2), col 8 * (i / 4) + 2t + i % 2.
  for (int64_t i = 0; i < 64; ++i) {
    EXPECT_EQ(layout.rowOffset(i), 8 * ((i / 2) % 2)) << i;
    EXPECT_EQ(layout.colOffset(i), 8 * (i / 4) + i % 2) << i;
    EXPECT_EQ(layout.rowSlot(i), (i / 2) % 2) << i;
  }
  expectCoversTile(layout, 16, 128);
}

TEST(FragmentLayout, MmaSyncTilesOfOneWarp) {
  // Two m16 slabs of eight n8 tiles: [mt][nt][4].
  FragmentLayout layout = FragmentLayout::mmaSync(2, 8);
  EXPECT_EQ(layout.numRegisters(), 64);
  EXPECT_EQ(layout.warpRowStride, 32);
  EXPECT_EQ(layout.numRows(), 4);
  EXPECT_EQ(layout.index(1, 3, 2), (1 * 8 + 3) * 4 + 2);
  EXPECT_EQ(layout.rowOffset(layout.index(1, 3, 2)), 16 + 8);
  EXPECT_EQ(layout.colOffset(layout.index(1, 3, 2)), 24);
  EXPECT_EQ(layout.rowSlot(layout.index(1, 3, 3)), 3);
  expectCoversTile(layout, 32, 64);
}

TEST(FragmentLayout, RowReductionStaysInTheQuad) {
  // The lanes holding one row are the quad 4g .. 4g + 3: xor 1 and 2.
  auto masks = FragmentLayout::rowReductionMasks();
  std::set<int64_t> quad;
  for (int64_t a : {0, 1})
    for (int64_t b2 : {0, 1})
      quad.insert(13 ^ (a ? masks[0] : 0) ^ (b2 ? masks[1] : 0));
  EXPECT_EQ(quad, (std::set<int64_t>{12, 13, 14, 15}));
}

} // namespace
