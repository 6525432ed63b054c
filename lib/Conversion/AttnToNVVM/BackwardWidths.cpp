//===- BackwardWidths.cpp - the backward's D- and Dv-wide tiles -----------===//
//
// Part of attn-mlir. What the backward kernels (BackwardKernel.cpp,
// BackwardDQKernel.cpp) need for head dims past 64 / 128 and Dv != D
// (docs/Pipeline.md, head dims): copies of rows whose 16-byte chunk count
// is no power of two, GEMMs over a width other than the emitter's D / Dv
// (dP^T = V dO^T contracts Dv, dK += dS^T Q and dQ += dS K produce D), the
// separate dK / dV epilogue and the dQ column parts of 6 / 12 chunks.
//
//===----------------------------------------------------------------------===//

#include "BackwardMainEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

void BackwardEmitterBase::copyRowItems(Value gptr, Value headBytes,
                                       int64_t rowPitch, Value firstRow,
                                       int64_t rows, Value rowLimit, Value tile,
                                       int64_t chunksPerRow, int64_t smemRow) {
  // Rows of a chunk count that is no power of two (D = 48, 80, 96, ...):
  // item i = tid + k * threads of the tile's rows x chunks is chunk
  // i % chunks of row i / chunks, the swizzle computed per item.
  int64_t items = rows * chunksPerRow;
  for (int64_t first = 0; first < items; first += threads) {
    Value item = add(tid, first);
    auto copy = [&] {
      Value r = arith::DivUIOp::create(b, item, cI32(chunksPerRow));
      Value chunk = arith::RemUIOp::create(b, item, cI32(chunksPerRow));
      copyRowChunk(gptr, headBytes, rowPitch, add(firstRow, r), chunk, rowLimit,
                   [&] { return add(tile, swizzled(r, chunk, smemRow)); });
    };
    if (first + threads <= items)
      copy();
    else
      ifThen(cmp(arith::CmpIPredicate::ult, item, cI32(items)), copy);
  }
}

Value BackwardEmitterBase::rowsBLane(int64_t rowBytes) {
  Value matrix = shr(lane, 3);
  return laneOffset(mul(add(r8, mul(shr(matrix, 1), 8)), rowBytes),
                    andI(matrix, 1));
}

Value BackwardEmitterBase::columnsBLane(int64_t rowBytes) {
  Value matrix = shr(lane, 3);
  return laneOffset(mul(add(r8, mul(andI(matrix, 1), 8)), rowBytes),
                    shr(matrix, 1));
}

void BackwardEmitterBase::emitProbsGemm(ArrayRef<Value> probs, Value tile,
                                        Value lane, int64_t columns,
                                        int64_t rowBytes,
                                        SmallVector<Value> &acc) {
  for (int64_t kk = 0; kk < bn / 16; ++kk) {
    // The C fragments of n8 tiles 2kk and 2kk+1, packed pairwise, are the A
    // fragment of keys 16kk..16kk+15.
    auto at = [&](int64_t nt, int64_t e) { return probs[sIndex(0, nt, e)]; };
    SmallVector<Value> pFrag = packAFragment(at, kk);
    for (int64_t dp = 0; dp < columns / 16; ++dp) {
      SmallVector<Value> bf =
          ldmatrix(fragmentAddress(tile, lane, kk * 16, 2 * dp, rowBytes),
                   /*transpose=*/true);
      for (int64_t half = 0; half < 2; ++half)
        mma(pFrag, {bf[2 * half], bf[2 * half + 1]},
            MutableArrayRef<Value>(acc).slice((2 * dp + half) * 4, 4));
    }
  }
}

SmallVector<Value> BackwardEmitterBase::emitRowGemm(Value aTile, Value aLane,
                                                    Value bTile, Value bLane,
                                                    int64_t steps,
                                                    int64_t rowBytes) {
  SmallVector<Value> c(nTiles() * 4, cF32(0.0));
  for (int64_t kk = 0; kk < steps; ++kk) {
    SmallVector<Value> af = ldmatrix(
        fragmentAddress(aTile, aLane, 0, 2 * kk, rowBytes),
        /*transpose=*/false);
    for (int64_t np = 0; np < nTiles() / 2; ++np) {
      // One ldmatrix x4 gives the B fragments of two n8 (query) tiles.
      SmallVector<Value> bf = ldmatrix(
          fragmentAddress(bTile, bLane, np * 16, 2 * kk, rowBytes),
          /*transpose=*/false);
      for (int64_t half = 0; half < 2; ++half)
        mma(af, {bf[2 * half], bf[2 * half + 1]},
            MutableArrayRef<Value>(c).slice(sIndex(0, 2 * np + half, 0), 4));
    }
  }
  return c;
}

Value MainEmitter::dqKAddress(int64_t kk, int64_t dp) {
  Value chunk = arith::XOrIOp::create(b, add(dqKChunkLane, 2 * dp), r8);
  return tileAt(add(add(cI32(kTile() + kk * 16 * smemRowBytes), dqKRowLane),
                    mul(chunk, 16)));
}

SmallVector<Value> MainEmitter::emitValueGemm(Value doTileOffset) {
  if (dv == d)
    return emitRowGemm(cI32(vTile()), aLane, doTileOffset);
  return emitRowGemm(cI32(vTile()), valueALane, doTileOffset, valueBLane,
                     dv / 16, vSmemRowBytes);
}

void MainEmitter::emitKeyGradientGemm(ArrayRef<Value> ds, Value qTileOffset,
                                      SmallVector<Value> &dK) {
  // emitPV produces Dv columns from a Dv-wide tile; dK has D.
  if (dv == d)
    return emitPV(ds, qTileOffset, dK);
  emitProbsGemm(ds, qTileOffset, queryColumnsLane, d, smemRowBytes, dK);
}

void MainEmitter::storeKeyRow(Value key, ValueRange acc, int64_t tiles,
                              int64_t half, Value ptr, Value headBytes,
                              int64_t rowPitch, std::optional<double> scale) {
  auto body = [&] {
    Value rowStart = add64(headBytes, mul64(key, rowPitch));
    for (int64_t dt = 0; dt < tiles; ++dt) {
      int64_t r = dt * 4 + 2 * half;
      Value x = acc[r], y = acc[r + 1];
      if (scale) {
        x = arith::MulFOp::create(b, x, cF32(*scale));
        y = arith::MulFOp::create(b, y, cF32(*scale));
      }
      Value off = add64(rowStart, toI64(add(mul(t, 4), dt * 16)));
      LLVM::StoreOp::create(b, packHalf2(x, y), gep(ptrGlobal, ptr, off), 4);
    }
  };
  if (!keyRowsTail(blockN))
    body();
  else
    ifThen(cmp(arith::CmpIPredicate::slt, key, keyRows()), body);
}

void MainEmitter::emitWideEpilogue(ValueRange dK, ValueRange dV) {
  // Lane (g, t) holds keys g, g + 8 of the warp's 16, dims 8 dt + 2t, +1.
  for (int64_t half = 0; half < 2; ++half) {
    Value key = add(add(add(n0, mul(warp, 16)), g), half * 8);
    storeKeyRow(key, dK, d / 8, half, global(kBwdDK), kvHeadBytes,
                rowBytes(p.key), p.scale);
    storeKeyRow(key, dV, dv / 8, half, global(kBwdDV), vHeadBytes,
                rowBytes(p.value), std::nullopt);
  }
}
