//===- PrefillLoop.cpp - the prefill kernel's KV loop ---------------------===//
//
// Part of attn-mlir. The prefill kernel's loop over its KV blocks
// (PrefillKernel.cpp has the design): S = Q K^T on mma.sync, the score mods,
// masks and mask_mod blocks, the online softmax and O += P V; then the
// epilogue (O normalised through shared memory, the LSE).
//
//===----------------------------------------------------------------------===//

#include "PrefillEmitter.h"

#include "attn/Analysis/KernelResources.h"
#include "attn/Analysis/MaskModIntervals.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

SmallVector<Value> PrefillEmitter::emitScoreMods(Value n0, ArrayRef<Value> s) {
  return emitPositionalMods(FragmentLayout::mmaSync(mTiles, nTiles()), s, n0,
                            add(warpRow0, g), alibiOffset, negSlope,
                            batchIndex, headIndex);
}

SmallVector<Value> PrefillEmitter::emitMask(Value n0, ArrayRef<Value> s) {
  // Only blocks outside the program's interior (the mask's boundary, the
  // Lk or len_b tail) pay for it.
  return emitVisibilityMask(FragmentLayout::mmaSync(mTiles, nTiles()), s, n0,
                            add(warpRow0, g),
                            outsideInterior(n0, interiorBegin, interiorEnd),
                            keyLength(), diag,
                            /*tail=*/keyTail());
}

scf::ForOp PrefillEmitter::emitKVLoop() {
  int64_t numO = mTiles * dTiles() * 4, numRows = mTiles * 2;
  SmallVector<Value> init(numO, cF32(0.0));
  init.append(numRows, cF32(-std::numeric_limits<double>::infinity())); // m
  init.append(numRows, cF32(0.0));                                       // l
  auto loop = scf::ForOp::create(b, nBegin, nEnd, cI32(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value j = loop.getInductionVar();
  ValueRange iter = loop.getRegionIterArgs();
  SmallVector<Value> acc(iter.begin(), iter.begin() + numO);
  SmallVector<Value> rowMax(iter.begin() + numO, iter.begin() + numO + numRows);
  SmallVector<Value> rowSum(iter.begin() + numO + numRows, iter.end());
  Value stage = andI(arith::SubIOp::create(b, j, nBegin), 1);
  Value nextStage = arith::XOrIOp::create(b, stage, cI32(1));
  Value n0 = mul(j, bn);
  Value hasNext = cmp(arith::CmpIPredicate::slt, add(j, 1), nEnd);
  // Issues the copy of the next block's K or V tile (an empty cp.async group
  // on the last block keeps the wait_group counts uniform).
  // K and V are prefetched at different points, so a view's hook runs for
  // each (holding K's row addresses across S would cost registers O needs).
  auto prefetch = [&](bool isValue, Value tileOffset) {
    scf::IfOp::create(b, hasNext, [&](OpBuilder &, Location) {
      copyKVTile(isValue, add(n0, bn), tileAt(tileOffset));
      scf::YieldOp::create(b);
    });
    NVVM::CpAsyncCommitGroupOp::create(b);
  };

  // Groups in flight here: ..., K[j], (T[j],) V[j], K[j+1], T[j] the
  // staged bias / mask tiles; K[j] (and T[j]) must have landed.
  prefetch(/*isValue=*/false, kTileOffset(nextStage));
  NVVM::CpAsyncWaitGroupOp::create(b, 2);
  gpu::BarrierOp::create(b);
  // With a classified mask_mod, a warp skips the blocks it is false on for
  // all its rows and tests elements only where it is mixed (warp-uniform
  // branches: no barrier inside).
  Value active, mixed;
  if (maskModPerBlock)
    std::tie(active, mixed) =
        emitMaskModBlockClass(batchIndex, headIndex, warpRow0,
                              add(warpRow0, bm / warps - 1), n0);
  SmallVector<Value> s;
  if (active) {
    int64_t numS = mTiles * nTiles() * 4;
    auto block = scf::IfOp::create(
        b, active,
        [&](OpBuilder &, Location) {
          SmallVector<Value> m(rowMax), l(rowSum), o(acc);
          SmallVector<Value> yields =
              emitScoreBlock(n0, kTileOffset(stage), m, l, o, mixed);
          llvm::append_range(yields, m);
          llvm::append_range(yields, l);
          llvm::append_range(yields, o);
          scf::YieldOp::create(b, yields);
        },
        [&](OpBuilder &, Location) {
          SmallVector<Value> yields(numS, cF32(0.0));
          llvm::append_range(yields, rowMax);
          llvm::append_range(yields, rowSum);
          llvm::append_range(yields, acc);
          scf::YieldOp::create(b, yields);
        });
    ValueRange r = block.getResults();
    s.assign(r.begin(), r.begin() + numS);
    rowMax.assign(r.begin() + numS, r.begin() + numS + numRows);
    rowSum.assign(r.begin() + numS + numRows, r.begin() + numS + 2 * numRows);
    acc.assign(r.begin() + numS + 2 * numRows, r.end());
  } else {
    s = emitScoreBlock(n0, kTileOffset(stage), rowMax, rowSum, acc, mixed);
  }

  // The next block's staged tiles, once every lane of the warp has read
  // this block's (each warp reads only its own rows: a warp barrier).
  if (stagesScoreTiles()) {
    NVVM::SyncWarpOp::create(b, cI32(-1));
    scf::IfOp::create(b, hasNext, [&](OpBuilder &, Location) {
      copyScoreTiles(add(n0, bn));
      scf::YieldOp::create(b);
    });
    NVVM::CpAsyncCommitGroupOp::create(b);
  }

  // ..., V[j], K[j+1], (T[j+1],) V[j+1]; V[j] must have landed. The
  // barrier also tells every warp that S[j] no longer reads K[j]'s stage.
  prefetch(/*isValue=*/true, vTileOffset(nextStage));
  NVVM::CpAsyncWaitGroupOp::create(b, stagesScoreTiles() ? 3 : 2);
  gpu::BarrierOp::create(b);
  if (active) {
    auto pv = scf::IfOp::create(
        b, active,
        [&](OpBuilder &, Location) {
          SmallVector<Value> o(acc);
          emitPV(s, vTileOffset(stage), o);
          scf::YieldOp::create(b, o);
        },
        [&](OpBuilder &, Location) { scf::YieldOp::create(b, acc); });
    acc.assign(pv.getResults().begin(), pv.getResults().end());
  } else {
    emitPV(s, vTileOffset(stage), acc);
  }

  SmallVector<Value> yields(acc);
  yields.append(rowMax);
  yields.append(rowSum);
  scf::YieldOp::create(b, yields);
  return loop;
}

SmallVector<Value> PrefillEmitter::emitScoreBlock(Value n0, Value kTile,
                                                  SmallVector<Value> &rowMax,
                                                  SmallVector<Value> &rowSum,
                                                  SmallVector<Value> &acc,
                                                  Value mixed) {
  // Masks come last so that masked and padded keys stay -inf whatever the
  // modifiers compute for them.
  SmallVector<Value> s = emitMask(n0, emitScoreMods(n0, emitScores(kTile)));
  if (mixed)
    s = emitMaskModElements(FragmentLayout::mmaSync(mTiles, nTiles()), s, n0,
                            add(warpRow0, g), mixed, batchIndex, headIndex);
  emitOnlineSoftmax(s, rowMax, rowSum, acc);
  return s;
}

void PrefillEmitter::emitEpilogue(ValueRange results) {
  // O / l goes through the warp's own rows of the Q tile (only this warp
  // ever read them) so that global stores are whole 16-byte chunks of a row
  // instead of 4-byte pieces of eight rows.
  int64_t numO = mTiles * dTiles() * 4, numRows = mTiles * 2;
  int64_t rowsPerWarp = bm / warps;
  Value warpTileRow = mul(warp, rowsPerWarp);
  for (int64_t mt = 0; mt < mTiles; ++mt) {
    for (int64_t half = 0; half < 2; ++half) {
      int64_t rowIdx = mt * 2 + half;
      Value m = results[numO + rowIdx];
      Value l = results[numO + numRows + rowIdx];
      l = arith::AddFOp::create(b, l, shuffleXor(l, 1));
      l = arith::AddFOp::create(b, l, shuffleXor(l, 2));
      // With sinks, the sink's term joins l (and the max) here, once per
      // row: O = acc * 2^(m - M) / l', LSE = M + log2 l'.
      Value sinkLse, inverseSum;
      if (sinkLog2) {
        Value mLog2 = arith::MulFOp::create(b, m, cF32(expScale));
        auto [alpha, lseLog2, sum] = foldSink(mLog2, l, sinkLog2);
        l = sum;
        sinkLse = lseLog2;
        inverseSum = sel(
            arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, l, cF32(0.0)),
            cF32(0.0), arith::DivFOp::create(b, alpha, l));
      }
      // l == 0: every key of the row is masked; O is 0 and LSE is -inf.
      Value empty =
          arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, l, cF32(0.0));
      Value inv = inverseSum ? inverseSum
                             : sel(empty, cF32(0.0),
                                   arith::DivFOp::create(b, cF32(1.0), l));
      Value tileRow = add(add(warpTileRow, g), mt * 16 + half * 8);
      // Lane (g, t) holds columns 8 dt + 2t, +1: bytes 4t of chunk dt.
      Value rowOffset = add(mul(tileRow, qSmemRowBytes), mul(t, 4));
      for (int64_t dt = 0; dt < dTiles(); ++dt) {
        int64_t base = oIndex(mt, dt, 2 * half);
        Value packed =
            packHalf2(arith::MulFOp::create(b, results[base], inv),
                      arith::MulFOp::create(b, results[base + 1], inv));
        Value chunk = arith::XOrIOp::create(b, cI32(dt), andI(tileRow, 7));
        LLVM::StoreOp::create(b, packed,
                              tileAt(add(rowOffset, mul(chunk, 16))),
                              /*alignment=*/4);
      }
      if (!lsePtr)
        continue;
      Value row = add(m0, tileRow);
      Value store = cmp(arith::CmpIPredicate::eq, t, cI32(0));
      if (queryTail())
        store = arith::AndIOp::create(
            b, store, cmp(arith::CmpIPredicate::slt, row, queryLength()));
      scf::IfOp::create(b, store, [&](OpBuilder &, Location) {
        // LSE = ln(sum exp(x)) = (m * c + log2(l)) * ln 2.
        Value log2Sum = sinkLse ? sinkLse : fma(m, cF32(expScale), log2(l));
        Value lse = sel(empty, cF32(-std::numeric_limits<double>::infinity()),
                        arith::MulFOp::create(b, log2Sum, cF32(kLn2)));
        // LSE is [B, Hq, Lq]: a varlen sequence's rows start at its
        // first packed row.
        Value lseRow = queryStart ? add(row, queryStart) : row;
        Value off = arith::AddIOp::create(
            b, runtimeHeadByteOffset(bh, p.seqQ, seqQ, 4),
            toI64(mul(lseRow, 4)));
        LLVM::StoreOp::create(b, lse, gep(ptrGlobal, lsePtr, off),
                              /*alignment=*/4);
        scf::YieldOp::create(b);
      });
    }
  }
  NVVM::SyncWarpOp::create(b, cI32(-1));

  // Each lane copies 16-byte chunks of the warp's rows with one load and
  // store each: chunk (lane % chunksPerRow) of every rowsPerPass-th row, or,
  // for a chunk count that is no power of two, items lane + 32 k in order.
  int64_t chunksPerRow = dv / 8;
  Value oHeadBytes =
      dv == d && p.output == p.query ? qHeadBytes
      : p.varlen ? packedHeadByteOffset(p.output, coords.queryStart, head)
      : ShapedType::isDynamic(p.output.head)
          ? runtimeHeadByteOffset(bh, p.seqQ, seqQ, valueRowBytes)
          : headByteOffset(p.output, p.headsQ, batch, head, bh);
  bool wholeRows = llvm::isPowerOf2_64(chunksPerRow);
  int64_t rowsPerPass = wholeRows ? 32 / chunksPerRow : 0;
  Value chunk0, firstRow;
  if (wholeRows) {
    chunk0 = andI(lane, chunksPerRow - 1);
    firstRow = add(warpTileRow, shr(lane, llvm::Log2_64(chunksPerRow)));
  }
  // rowsPerWarp * chunksPerRow is a multiple of 32: no partial pass.
  int64_t passes = rowsPerWarp * chunksPerRow / 32;
  auto vec4 = VectorType::get({4}, i32);
  for (int64_t k = 0; k < passes; ++k) {
    Value tileRow, chunk = chunk0;
    if (wholeRows) {
      tileRow = add(firstRow, k * rowsPerPass);
    } else {
      Value item = add(lane, k * 32);
      tileRow = add(warpTileRow,
                    arith::DivUIOp::create(b, item, cI32(chunksPerRow)));
      chunk = arith::RemUIOp::create(b, item, cI32(chunksPerRow));
    }
    Value row = add(m0, tileRow);
    auto copy = [&]() {
      Value v = LLVM::LoadOp::create(
          b, vec4, tileAt(swizzled(tileRow, chunk, qSmemRowBytes)),
          /*alignment=*/16);
      Value off = arith::AddIOp::create(
          b, oHeadBytes,
          toI64(add(mul(row, rowBytes(p.output)), mul(chunk, 16))));
      LLVM::StoreOp::create(b, v, gep(ptrGlobal, oPtr, off), /*alignment=*/16);
    };
    if (!queryTail()) {
      copy();
      continue;
    }
    scf::IfOp::create(b, cmp(arith::CmpIPredicate::slt, row, queryLength()),
                      [&](OpBuilder &, Location) {
                        copy();
                        scf::YieldOp::create(b);
                      });
  }
}

