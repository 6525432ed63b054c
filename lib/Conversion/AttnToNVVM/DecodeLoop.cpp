//===- DecodeLoop.cpp - the decode kernel's key loop ----------------------===//
//
// Part of attn-mlir. The decode kernel's loop over its keys (DecodeKernel.cpp
// has the design): the fused append's write-back into the cache, then per
// subtile the scores, score mods and masks and the online softmax.
//
//===----------------------------------------------------------------------===//

#include "DecodeEmitter.h"

#include "attn/Analysis/KernelResources.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

void DecodeEmitter::emitAppendWriteBack() {
  if (!args.writeBackKey && !args.writeBackValue)
    return;
  ifThen(cmp(arith::CmpIPredicate::eq, split, cI32(0)), [&]() {
    for (bool isValue : {false, true}) {
      if (!(isValue ? args.writeBackValue : args.writeBackKey))
        continue;
      ValueRange storage = isValue ? valueStorage : keyStorage;
      int64_t tokens =
          cast<MemRefType>(storage[1].getType()).getDimSize(2);
      int64_t chunksPerRow = (isValue ? dv : d) / 8;
      int64_t items = tokens * chunksPerRow;
      int64_t rowBytes = isValue ? valueRowBytes : tileRowBytes;
      int64_t threads = 32 * warps;
      Value cachePtr = pointerOf(storage[0], ptrGlobal);
      Value tokenPtr = pointerOf(storage[1], ptrGlobal);
      Value position =
          memref::LoadOp::create(b, storage[2], ValueRange{toIndex(batch)});
      for (int64_t c = 0; c < int64_t(llvm::divideCeil(items, threads)); ++c) {
        Value item = add(tid, c * threads);
        Value token = arith::DivUIOp::create(b, item, cI32(chunksPerRow));
        Value chunk = arith::RemUIOp::create(b, item, cI32(chunksPerRow));
        Value row = add(position, token);
        // Rows outside the cache are dropped, as kv_append defines.
        Value inside = arith::AndIOp::create(
            b, cmp(arith::CmpIPredicate::sge, row, cI32(0)),
            cmp(arith::CmpIPredicate::slt, row, cI32(p.seqK)));
        if ((c + 1) * threads > items)
          inside = arith::AndIOp::create(
              b, inside, cmp(arith::CmpIPredicate::slt, item, cI32(items)));
        ifThen(inside, [&]() {
          Value chunkBytes = toI64(mul(chunk, 16));
          Value src = arith::AddIOp::create(
              b,
              arith::MulIOp::create(
                  b, toI64(add(mul(group, tokens), token)),
                  cI64(rowBytes)),
              chunkBytes);
          Value dst = arith::AddIOp::create(
              b,
              arith::MulIOp::create(b, toI64(add(mul(group, p.seqK), row)),
                                    cI64(rowBytes)),
              chunkBytes);
          auto vec4 = VectorType::get({4}, i32);
          Value v = LLVM::LoadOp::create(b, vec4, gep(ptrGlobal, tokenPtr, src),
                                         /*alignment=*/16);
          LLVM::StoreOp::create(b, v, gep(ptrGlobal, cachePtr, dst),
                                /*alignment=*/16);
        });
      }
    }
  });
}

SmallVector<Value> DecodeEmitter::emitScoreMods(Value key0, ArrayRef<Value> s) {
  SmallVector<Value> out(s);
  if (!p.needsNaturalScores() && !p.withOperandMasks())
    return out;
  Value col0 = add(key0, mul(t, 2));
  for (int64_t nt = 0; nt < nTiles(); ++nt)
    for (int64_t c = 0; c < 4; ++c) {
      int64_t half = c >> 1;
      Value key = add(col0, nt * 8 + (c & 1));
      Value &v = out[sIndex(0, nt, c)];
      if (!p.alibiSlopes.empty()) {
        // The distance i + Lk_b - Lq - j, Lk_b the sequence's length (and
        // for varlen queries Lq the sequence's query count, as the mask's).
        Value dist = arith::SubIOp::create(
            b,
            add(rowQuery[half],
                arith::SubIOp::create(b, length, maskQueryLength())),
            key);
        Value absDist = maxS(dist, arith::SubIOp::create(b, cI32(0), dist));
        v = fma(rowNegSlope[half], arith::SIToFPOp::create(b, f32, absDist), v);
      }
      // The op's order: bias before score_mod, the operand masks after.
      v = addBias(v, batch, rowHead[half], rowQuery[half], key);
      if (p.scoreMod)
        v = inlineScoreMod(v, toIndex(batch),
                           toIndex(add(rowHead[half], p.headOffset)),
                           toIndex(rowQuery[half]), toIndex(key));
      if (p.withOperandMasks())
        v = applyOperandMasks(v, batch, rowHead[half], rowQuery[half], key,
                              toIndex(batch),
                              toIndex(add(rowHead[half], p.headOffset)));
    }
  return out;
}

SmallVector<Value> DecodeEmitter::emitMask(Value key0, ArrayRef<Value> s) {
  // Subtiles outside the program's interior (its range's tail, the mask's
  // boundary) are masked: keys past the range, and by each row's
  // visibility where the mask bounds it.
  bool bounded = p.visibility.left || p.visibility.right;
  Value needsMask = outsideInterior(key0, interiorBegin, interiorEnd);
  auto masked = scf::IfOp::create(
      b, needsMask,
      [&](OpBuilder &, Location) {
        Value col0 = add(key0, mul(t, 2));
        IntArith a(b, b.getLoc(), i32);
        SmallVector<Value> out;
        for (int64_t nt = 0; nt < nTiles(); ++nt)
          for (int64_t c = 0; c < 4; ++c) {
            Value key = add(col0, nt * 8 + (c & 1));
            Value keep = cmp(arith::CmpIPredicate::slt, key, kEnd);
            if (bounded)
              keep = arith::AndIOp::create(
                  b, keep,
                  p.visibility.isVisible(a, rowQuery[c >> 1], key,
                                         maskQueryLength(), length));
            out.push_back(sel(keep, s[sIndex(0, nt, c)], negInf()));
          }
        scf::YieldOp::create(b, out);
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, s); });
  return SmallVector<Value>(masked.getResults());
}

scf::ForOp DecodeEmitter::emitKeyLoop() {
  SmallVector<Value> init(numAccumulators(), cF32(0.0));
  init.append(numRowStats(), negInf());  // m
  init.append(numRowStats(), cF32(0.0)); // l
  auto loop = scf::ForOp::create(b, cI32(0), nWarpTiles, cI32(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value j = loop.getInductionVar();
  ValueRange iter = loop.getRegionIterArgs();
  int64_t numO = numAccumulators(), numRows = numRowStats();
  SmallVector<Value> acc(iter.begin(), iter.begin() + numO);
  SmallVector<Value> rowMax(iter.begin() + numO, iter.begin() + numO + numRows);
  SmallVector<Value> rowSum(iter.begin() + numO + numRows, iter.end());

  // Every lane is done reading the stage the prefetch overwrites (read in
  // the previous iteration).
  NVVM::SyncWarpOp::create(b, cI32(-1));
  Value ahead = add(j, stages - 1);
  ifThen(cmp(arith::CmpIPredicate::slt, ahead, nWarpTiles),
         [&]() { copySubtile(ahead, andI(ahead, stages - 1)); });
  NVVM::CpAsyncCommitGroupOp::create(b);
  // The group of subtile j has landed for this lane; the warp barrier makes
  // every lane's copies visible to every lane.
  NVVM::CpAsyncWaitGroupOp::create(b, stages - 1);
  NVVM::SyncWarpOp::create(b, cI32(-1));

  Value stage = andI(j, stages - 1);
  Value key0 = add(kBegin, mul(add(mul(j, warps), warp), bn));
  SmallVector<Value> s =
      emitMask(key0, emitScoreMods(key0, emitScores(kStage(stage))));
  emitOnlineSoftmax(s, rowMax, rowSum, acc);
  emitPV(s, vStage(stage), acc);

  SmallVector<Value> yields(acc);
  yields.append(rowMax);
  yields.append(rowSum);
  scf::YieldOp::create(b, yields);
  return loop;
}

