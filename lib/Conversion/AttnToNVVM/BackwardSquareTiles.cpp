//===- BackwardSquareTiles.cpp - square warp tiles of the backward main ---===//
//
// Part of attn-mlir. The main kernel's step and epilogue with square warp
// tiles (BackwardMainEmitter.h, convert-attn-backward-to-nvvm
// square-warp-tiles).
//
//===----------------------------------------------------------------------===//

#include "BackwardMainEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

//===----------------------------------------------------------------------===//
// Main with square warp tiles (block n = 128, 8 warps)
//===----------------------------------------------------------------------===//
//
// The 16-keys-per-warp step makes each warp read the whole Q and dO tiles
// from shared memory twice each (S^T and dK: Q; dV and dP^T: dO) for 16
// keys. Here the 8 warps form 4 key groups of 32 x 2 halves: S^T and dP^T
// are 32 keys x block m / 2 queries per warp (the half of the queries),
// P^T and dS^T go to shared memory, and dV, dK are 32 keys x D / 2 dims per
// warp (the half of D) over all the step's queries, so every fragment read
// feeds two m16 tiles. At D = 128, block m = 64 a warp's ldmatrix x4 per
// step drop from 184 to 152 (S^T and dP^T 40 -> 32, dV and dK 32 -> 24,
// dQ 40): 623 KB of shared-memory reads per CTA step instead of 754 KB,
// plus 16 KB of P^T stores and one barrier the dQ already needed. dK and
// dV keep their register count (32 x D / 2 = 16 x D).

void MainEmitter::emitSquareCoordinates() {
  keyGroup = andI(warp, 3);
  queryHalf = shr(warp, 2);
  Value matrix = shr(lane, 3);
  // A fragments (non-transposed ldmatrix) of the key group's rows: matrix i
  // reads rows 8 (i & 1) .. of chunk i >> 1, as warpRowsLane for 16 keys.
  Value rowInGroup = add(add(mul(keyGroup, 32), r8), mul(andI(matrix, 1), 8));
  squareALane = laneOffset(mul(rowInGroup, smemRowBytes), shr(matrix, 1));
  stagedALane = laneOffset(mul(rowInGroup, dsRowBytes), shr(matrix, 1));
  // B fragments of dO / Q read transposed for the dim half: the first chunk
  // queryHalf D / 16 splits into whole 128-byte groups (a byte offset) and a
  // rest whose bits are disjoint from the pairs' even chunks (as dqKLane).
  Value chunk0 = mul(queryHalf, d / 16);
  dimBytes = mul(andI(chunk0, ~int64_t(7)), 16);
  dimLaneB = laneOffset(mul(add(r8, mul(andI(matrix, 1), 8)), smemRowBytes),
                        add(shr(matrix, 1), andI(chunk0, 7)));
}

SmallVector<Value> MainEmitter::emitSquareScoreGemm(Value aTile, Value bTile) {
  int64_t n8 = squareQueries / 8;
  SmallVector<Value> c(2 * n8 * 4, cF32(0.0));
  // The query half's rows start a multiple of 8 rows in: the swizzle of
  // every row is unchanged, the offset is plain bytes.
  Value bBase = add(bTile, mul(queryHalf, squareQueries * smemRowBytes));
  for (int64_t kk = 0; kk < kSteps(); ++kk) {
    std::array<SmallVector<Value>, 2> af;
    for (int64_t mt = 0; mt < 2; ++mt)
      af[mt] = ldmatrix(fragmentAddress(aTile, squareALane, mt * 16, 2 * kk),
                        /*transpose=*/false);
    for (int64_t np = 0; np < n8 / 2; ++np) {
      SmallVector<Value> bf = ldmatrix(
          fragmentAddress(bBase, kLane, np * 16, 2 * kk), /*transpose=*/false);
      for (int64_t mt = 0; mt < 2; ++mt)
        for (int64_t half = 0; half < 2; ++half)
          mma(af[mt], {bf[2 * half], bf[2 * half + 1]},
              MutableArrayRef<Value>(c).slice((mt * n8 + 2 * np + half) * 4,
                                              4));
    }
  }
  return c;
}

void MainEmitter::emitSquareStagedGemm(Value aTile, Value bTile,
                                       SmallVector<Value> &acc) {
  int64_t d8 = d / 16;
  Value bBase = add(bTile, dimBytes);
  for (int64_t kk = 0; kk < blockM / 16; ++kk) {
    std::array<SmallVector<Value>, 2> af;
    for (int64_t mt = 0; mt < 2; ++mt)
      af[mt] = ldmatrix(
          fragmentAddress(aTile, stagedALane, mt * 16, 2 * kk, dsRowBytes),
          /*transpose=*/false);
    for (int64_t dp = 0; dp < d8 / 2; ++dp) {
      SmallVector<Value> bf =
          ldmatrix(fragmentAddress(bBase, dimLaneB, kk * 16, 2 * dp),
                   /*transpose=*/true);
      for (int64_t mt = 0; mt < 2; ++mt)
        for (int64_t half = 0; half < 2; ++half)
          mma(af[mt], {bf[2 * half], bf[2 * half + 1]},
              MutableArrayRef<Value>(acc).slice((mt * d8 + 2 * dp + half) * 4,
                                                4));
    }
  }
}

void MainEmitter::storeSquareTransposed(ArrayRef<Value> v, int64_t tile) {
  // As storeDsT: row % 8 == g swizzles the chunk, 32 lanes on 32 banks.
  int64_t n8 = squareQueries / 8;
  Value chunk0 = mul(queryHalf, n8);
  for (int64_t mt = 0; mt < 2; ++mt)
    for (int64_t half = 0; half < 2; ++half) {
      Value row = add(add(mul(keyGroup, 32), g), mt * 16 + half * 8);
      Value rowBytes = add(mul(row, dsRowBytes), mul(t, 4));
      for (int64_t nt = 0; nt < n8; ++nt) {
        int64_t r = (mt * n8 + nt) * 4 + 2 * half;
        Value chunk = arith::XOrIOp::create(b, add(chunk0, nt), g);
        LLVM::StoreOp::create(
            b, packHalf2(v[r], v[r + 1]),
            tileAt(add(cI32(tile), add(rowBytes, mul(chunk, 16)))),
            /*alignment=*/4);
      }
    }
}

void MainEmitter::emitSquareStep(Value stage, Value head, Value m0,
                                 SmallVector<Value> &dK,
                                 SmallVector<Value> &dV) {
  Value base = stageBase(stage);
  Value bh = add(mul(batch, p.headsQ), head);
  ScoreLayout layout = squareLayout();
  int64_t n8 = squareQueries / 8;
  // The query half's lse_log2 and delta.
  Value columns = mul(queryHalf, squareQueries * 4);
  SmallVector<Value> th;
  SmallVector<Value> s = finishTransposedScores(
      emitSquareScoreGemm(cI32(kTile()), qTile(base)), th, m0, head, layout);
  Value c = cF32(expScale);
  for (int64_t r = 0; r < int64_t(s.size()); r += 4) {
    auto [l0, l1] = loadColumnPair(add(lseTile(base), columns), r / 4 % n8);
    for (int64_t e = 0; e < 4; ++e)
      s[r + e] =
          exp2(fma(s[r + e], c, arith::NegFOp::create(b, e & 1 ? l1 : l0)));
  }
  storeSquareTransposed(s, pTile());
  SmallVector<Value> ds = emitSquareScoreGemm(cI32(vTile()), doTile(base));
  SmallVector<Value> biasGrad(p.withGradBias ? ds.size() : 0);
  for (int64_t r = 0; r < int64_t(ds.size()); r += 4) {
    auto [d0, d1] = loadColumnPair(add(deltaTile(base), columns), r / 4 % n8);
    for (int64_t e = 0; e < 4; ++e) {
      Value grad = arith::MulFOp::create(
          b, s[r + e], arith::SubFOp::create(b, ds[r + e], e & 1 ? d1 : d0));
      if (p.withGradBias)
        biasGrad[r + e] = grad;
      if (p.softcap)
        grad = arith::MulFOp::create(
            b, grad,
            fma(arith::NegFOp::create(b, th[r + e]), th[r + e], cF32(1.0)));
      ds[r + e] = grad;
    }
  }
  if (p.withGradBias)
    emitBiasGradient(biasGrad, m0, head, layout);
  storeSquareTransposed(ds, dsTile());
  // P^T and dS^T of every warp are in place before any warp reads them.
  gpu::BarrierOp::create(b);
  emitSquareStagedGemm(cI32(pTile()), doTile(base), dV);
  emitSquareStagedGemm(cI32(dsTile()), qTile(base), dK);
  if (atomicDQ)
    emitDQ(bh, m0);
}

void MainEmitter::emitSquareEpilogue(ValueRange dK, ValueRange dV) {
  // Lane (g, t) holds keys g, g + 8 of each m16 tile of the key group, dims
  // 8 dt + 2t, +1 of the dim half.
  int64_t d8 = d / 16;
  Value column = add(mul(queryHalf, d / 2), mul(t, 2));
  for (int64_t mt = 0; mt < 2; ++mt)
    for (int64_t half = 0; half < 2; ++half)
      storeKeyRowGradients(
          add(add(add(n0, mul(keyGroup, 32)), g), mt * 16 + half * 8), dK, dV,
          d8, [&](int64_t dt) { return (mt * d8 + dt) * 4 + 2 * half; },
          [&](int64_t dt) { return toI64(mul(add(column, dt * 8), 2)); });
}
