//===- HopperProducer.cpp - the sm_90a kernel's producer warpgroup --------===//
//
// Part of attn-mlir. The hopper kernel's producer (HopperKernel.cpp has the
// design): the mbarriers of the ring, and K, V and the Q tile into the
// 128B-swizzled panels by TMA (one elected thread, expect_tx) or by 16-byte
// cp.async from every producer thread.
//
//===----------------------------------------------------------------------===//

#include "HopperEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

void HopperEmitter::emitBarrierInit() {
  Value first = cmp(arith::CmpIPredicate::eq, tid, cI32(0));
  scf::IfOp::create(b, first, [&](OpBuilder &, Location) {
    // A full barrier waits for one expect_tx arrival (TMA) or every
    // producer thread's cp.async arrival.
    int64_t fullArrivals = plan.tma ? 1 : kWarpgroupThreads;
    for (int64_t s = 0; s < plan.stages; ++s) {
      NVVM::MBarrierInitOp::create(b, barrier(FullK, cI32(s)),
                                   cI32(fullArrivals), Value());
      NVVM::MBarrierInitOp::create(b, barrier(FullV, cI32(s)),
                                   cI32(fullArrivals), Value());
      NVVM::MBarrierInitOp::create(b, barrier(EmptyK, cI32(s)),
                                   cI32(consumerThreads()), Value());
      NVVM::MBarrierInitOp::create(b, barrier(EmptyV, cI32(s)),
                                   cI32(consumerThreads()), Value());
    }
    if (plan.qInSharedMemory)
      NVVM::MBarrierInitOp::create(b, barrier(FullQ, cI32(0)),
                                   cI32(fullArrivals), Value());
    if (recyclesQ())
      NVVM::MBarrierInitOp::create(b, emptyQBarrier(), cI32(consumerThreads()),
                                   Value());
    // The dynamic scheduler's tile slots: written by the producer's one
    // TMA thread, read by every consumer thread.
    if (plan.dynamicScheduler)
      for (int64_t slot = 0; slot < 2; ++slot) {
        NVVM::MBarrierInitOp::create(b, slotBarrier(0, cI32(slot)), cI32(1),
                                     Value());
        NVVM::MBarrierInitOp::create(b, slotBarrier(1, cI32(slot)),
                                     cI32(consumerThreads()), Value());
      }
    scf::YieldOp::create(b);
  });
  gpu::BarrierOp::create(b);
}

void HopperEmitter::copyTile(Value gptr, Value headBytes, Value firstRow,
                             int64_t rows, int64_t rowLimit, Value tileOffset,
                             int64_t globalRowBytes) {
  // Producer thread tid copies chunk tid % chunksPerRow of rows tid /
  // chunksPerRow + k * rowsPerPass (a multiple of 8, so the swizzle of the
  // chunk is the same in every pass).
  int64_t chunksPerRow = d / 8;
  int64_t rowsPerPass = kWarpgroupThreads / chunksPerRow;
  Value row0 = shr(tid, llvm::Log2_64(chunksPerRow));
  Value chunk = andI(tid, chunksPerRow - 1);
  Value panel = shr(chunk, 3);
  Value swizzledChunk = xorI(andI(chunk, 7), andI(row0, 7));
  Value smemOffset = add(add(mul(panel, rows * kPanelRowBytes),
                             mul(row0, kPanelRowBytes)),
                         mul(swizzledChunk, 16));
  bool tail = rowLimit % rows != 0;
  for (int64_t k = 0; k < rows / rowsPerPass; ++k) {
    Value row = add(add(firstRow, row0), k * rowsPerPass);
    Value srcSize;
    if (tail) {
      // Keys past Lk are masked, and their V rows meet P = 0: zero-filled
      // (as are Q rows past Lq, whose results are not stored).
      Value valid = cmp(arith::CmpIPredicate::slt, row, cI32(rowLimit));
      row = sel(valid, row, cI32(0));
      srcSize = sel(valid, cI32(16), cI32(0));
    }
    Value byteOffset = arith::AddIOp::create(
        b, headBytes, toI64(add(mul(row, globalRowBytes), mul(chunk, 16))));
    Value src = gep(ptrGlobal, gptr, byteOffset);
    Value dst = tileAt(add(add(tileOffset, smemOffset),
                           k * rowsPerPass * kPanelRowBytes));
    NVVM::CpAsyncOp::create(b, dst, src, 16, NVVM::LoadCacheModifierKind::CG,
                            srcSize);
  }
}

LogicalResult HopperEmitter::emitProducer() {
  NVVM::SetMaxRegisterOp::create(b, plan.producerRegisters,
                                 NVVM::SetMaxRegisterAction::decrease);
  auto tiles = [&] {
    return forEachTile(/*isProducer=*/true, [&] {
      emitProducerTile();
      return success();
    });
  };
  if (!plan.tma) {
    if (failed(tiles()))
      return failure();
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    return success();
  }
  // TMA: thread 0 issues every copy; the other producer threads are done
  // (the mbarriers, not the issuing thread, track the copies in flight).
  LogicalResult status = success();
  scf::IfOp::create(b, cmp(arith::CmpIPredicate::eq, tid, cI32(0)),
                    [&](OpBuilder &, Location) {
                      for (int64_t map :
                           {maps.query, maps.key, maps.value, maps.output})
                        if (map >= 0)
                          NVVM::PrefetchOp::create(
                              b, /*cacheLevel=*/nullptr,
                              /*evictPriority=*/nullptr, tensorMapAddress(map),
                              /*predicate=*/Value(), /*tensormap=*/true);
                      status = tiles();
                      scf::YieldOp::create(b);
                    });
  return status;
}

void HopperEmitter::copyTileTma(int64_t map, Value firstRow, Value rowHead,
                                int64_t rows, Value tileOffset, Value full) {
  // Coordinates innermost first, as the runtime encodes the map: the
  // column, then the operand's other dims in reverse (BHSD: row, head,
  // batch; BSHD: head, row, batch).
  bool bhsd = p.layout == Layout::BHSD;
  auto ptrCluster = LLVM::LLVMPointerType::get(b.getContext(), 7);
  for (int64_t panel = 0; panel < d / 64; ++panel) {
    SmallVector<Value> coordinates = {cI32(panel * 64)};
    if (bhsd)
      coordinates.append({firstRow, rowHead});
    else
      coordinates.append({rowHead, firstRow});
    coordinates.push_back(batch);
    // A CTA's shared address is its shared::cluster address too.
    Value dst = LLVM::AddrSpaceCastOp::create(
        b, ptrCluster, tileAt(add(tileOffset, panel * rows * kPanelRowBytes)));
    NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
        b, dst, tensorMapAddress(map), coordinates, full,
        /*im2colOffsets=*/ValueRange(),
        /*multicastMask=*/Value(), /*l2CacheHint=*/Value(),
        NVVM::TMALoadMode::TILE, /*isCTAOnly=*/false,
        /*group=*/NVVM::CTAGroupKindAttr(), /*predicate=*/Value());
  }
}

void HopperEmitter::loadTile(BarrierKind kind, Value n0, Value tileOffset,
                             Value full) {
  bool isQuery = kind == FullQ;
  int64_t rows = isQuery ? plan.blockM : bn;
  if (!plan.tma) {
    if (isQuery)
      copyTile(qPtr, qHeadBytes, m0, plan.blockM, p.seqQ, tileOffset,
               rowBytes(p.query));
    else
      copyKVTile(kind == FullV, n0, tileOffset);
    NVVM::CpAsyncMBarrierArriveOp::create(b, full, /*noinc=*/true);
    return;
  }
  // The whole box counts, rows past the tensor included (TMA zero-fills
  // them).
  NVVM::MBarrierArriveExpectTxOp::create(b, Type(), full, cI32(rows * d * 2),
                                         NVVM::MemScopeKind::CTA,
                                         /*relaxed=*/false, Value());
  int64_t map = isQuery ? maps.query : kind == FullK ? maps.key : maps.value;
  copyTileTma(map, isQuery ? m0 : n0, isQuery ? head : kvHead, rows,
              tileOffset, full);
}

void HopperEmitter::emitProducerTile() {
  if (plan.qInSharedMemory) {
    // The consumers' S of the previous tile must have retired (a fresh
    // barrier passes parity 1).
    if (recyclesQ())
      NVVM::MBarrierTryWaitParityOp::create(b, emptyQBarrier(),
                                            xorI(qPhase(), cI32(1)),
                                            cI32(0x989680));
    loadTile(FullQ, Value(), add(base, qTileOffset()),
             barrier(FullQ, cI32(0)));
  }
  auto loop = scf::ForOp::create(b, nBegin, nEnd, cI32(1));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value i = ringIndex(loop.getInductionVar());
    Value stage = arith::RemUIOp::create(b, i, cI32(plan.stages));
    Value phase = andI(arith::DivUIOp::create(b, i, cI32(plan.stages)), 1);
    // The tile's previous use must be released; a fresh barrier counts its
    // phase "-1" (parity 1) as complete, so the first round passes.
    auto waitEmpty = [&](BarrierKind kind) {
      NVVM::MBarrierTryWaitParityOp::create(b, barrier(kind, stage),
                                            xorI(phase, cI32(1)),
                                            cI32(0x989680));
    };
    Value n0 = mul(loop.getInductionVar(), bn);
    waitEmpty(EmptyK);
    loadTile(FullK, n0, kTileOffset(stage), barrier(FullK, stage));
    waitEmpty(EmptyV);
    loadTile(FullV, n0, vTileOffset(stage), barrier(FullV, stage));
  }
}

