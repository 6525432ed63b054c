//===- HopperEpilogue.cpp - the sm_90a kernel's TMA store epilogue --------===//
//
// Part of attn-mlir. plan.tmaEpilogue (hopper-epilogue=tma): instead of 4-byte
// global stores from the accumulators, each consumer warpgroup writes its 64
// rows of O / l into its share of a shared O tile, in the 128B-swizzled panel
// layout of the loads (row r of a panel at r * 128, its 16-byte chunk c at
// (c ^ r % 8) * 16), and one elected thread stores each 64-column panel with
// one cp.async.bulk.tensor (shared::cta to global) from the runtime-built
// tensor map of O. The tensor map clips rows past Lq, so a tail needs no
// predicate, and a whole 128-byte row segment goes out per request instead
// of a quad's 16 bytes.
//
// Ordering: the generic-proxy st.shared writes are fenced to the async proxy
// (fence.proxy.async.shared::cta) by every writer before the warpgroup's
// named barrier (1 + consumers + consumer; ping-pong takes 1 .. consumers),
// after which the leader issues the stores and commits them as one bulk
// group. The tile is
// rewritten only once those stores have read it: a persistent consumer's
// leader waits (cp.async.bulk.wait_group.read 0) at the start of its next
// epilogue, before the same barrier, so the store drains while the next
// tile's KV loop runs; the last one waits for completion before the CTA
// exits (drainTmaStores). The LSE stays a register store, issued after the
// TMA stores.
//
//===----------------------------------------------------------------------===//

#include "HopperEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

Value HopperEmitter::isWarpgroupLeader() {
  return cmp(arith::CmpIPredicate::eq, andI(tid, kWarpgroupThreads - 1),
             cI32(0));
}

void HopperEmitter::syncWarpgroup() {
  NVVM::BarrierOp::create(b, Type(), add(consumer, 1 + plan.consumers),
                          cI32(kWarpgroupThreads), NVVM::BarrierReductionAttr(),
                          Value());
}

void HopperEmitter::drainTmaStores() {
  if (!plan.tmaEpilogue)
    return;
  scf::IfOp::create(b, isWarpgroupLeader(), [&](OpBuilder &, Location) {
    NVVM::CpAsyncBulkWaitGroupOp::create(b, 0, UnitAttr());
    scf::YieldOp::create(b);
  });
}

void HopperEmitter::emitTmaEpilogue(ValueRange results, ArrayRef<Value> inv) {
  Value leader = isWarpgroupLeader();
  // A persistent consumer's previous tile may still be read by its stores.
  if (plan.persistentCtas) {
    scf::IfOp::create(b, leader, [&](OpBuilder &, Location) {
      NVVM::CpAsyncBulkWaitGroupOp::create(b, 0, UnitAttr::get(b.getContext()));
      scf::YieldOp::create(b);
    });
    syncWarpgroup();
  }
  int64_t panelBytes = kConsumerRows * kPanelRowBytes;
  int64_t panels = d / 64;
  Value groupTile =
      add(mul(consumer, panels * panelBytes), add(base, oTileOffset()));
  // Lane (g, t) of warp w of the warpgroup holds columns 8 dt + 2t of rows
  // 16 w + g (+ 8): chunk dt % 8 of panel dt / 8, swizzled by r % 8 = g.
  // The eight g of a store hit eight different chunks: no bank conflict.
  Value warpRows = mul(andI(warp, 3), 16);
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(add(warpRows, g), half * 8);
    Value rowOffset = add(add(groupTile, mul(row, kPanelRowBytes)), mul(t, 4));
    for (int64_t dt = 0; dt < dTiles(); ++dt) {
      int64_t o = oIndex(0, dt, 2 * half);
      Value packed =
          packHalf2(arith::MulFOp::create(b, results[o], inv[half]),
                    arith::MulFOp::create(b, results[o + 1], inv[half]));
      Value chunk = mul(xorI(g, cI32(dt % 8)), 16);
      Value offset = add(add(rowOffset, chunk), (dt / 8) * panelBytes);
      LLVM::StoreOp::create(b, packed, tileAt(offset), /*alignment=*/4);
    }
  }
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  syncWarpgroup();
  scf::IfOp::create(b, leader, [&](OpBuilder &, Location) {
    // Coordinates innermost first, as copyTileTma's: the column, then the
    // row and head (BHSD) or head and row (BSHD), then the batch.
    Value firstRow = add(m0, mul(consumer, kConsumerRows));
    for (int64_t panel = 0; panel < panels; ++panel) {
      SmallVector<Value> coordinates = {cI32(panel * 64)};
      if (p.layout == Layout::BHSD)
        coordinates.append({firstRow, head});
      else
        coordinates.append({head, firstRow});
      coordinates.push_back(batch);
      NVVM::CpAsyncBulkTensorSharedCTAToGlobalOp::create(
          b, tensorMapAddress(maps.output),
          tileAt(add(groupTile, panel * panelBytes)), coordinates,
          /*l2CacheHint=*/Value(),
          NVVM::TMAStoreModeAttr::get(b.getContext(), NVVM::TMAStoreMode::TILE),
          /*predicate=*/Value());
    }
    NVVM::CpAsyncBulkCommitGroupOp::create(b);
    scf::YieldOp::create(b);
  });
}
