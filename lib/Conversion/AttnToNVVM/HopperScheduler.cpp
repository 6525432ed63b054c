//===- HopperScheduler.cpp - the sm_90a kernel's dynamic tile scheduler ---===//
//
// Part of attn-mlir. plan.dynamicScheduler (hopper-scheduler=dynamic): the
// CTAs of a persistent grid take their tiles from a counter in a zeroed
// workspace instead of a fixed round robin, so a CTA that drew short causal
// tiles takes more of them (the static assignment left CTAs up to one long
// tile apart: bench/NOTES.md). Tile t is the same (batch, head, query
// block) as under the static grid: longest first under a right bound, in
// groups of heads whose K and V fit L2 together, so the CTAs running at
// once share their K and V.
//
// CTA c starts on tile c. The producer's one TMA thread then takes a ticket
// r from the counter (atom.add, at the start of each tile, so the atomic's
// latency hides under that tile's loads) and, once the tile's loads are
// issued, hands tile r + G over to the consumers through one of two shared
// slots, each with a full mbarrier (1 arrival: the producer's, whose
// release orders the slot's store) and an empty one (every consumer thread
// reads it). The producer then loads the next tile's Q, K and V
// while the consumers finish the last tile's KV blocks and epilogue. Every
// tile costs one ticket, so a launch takes tickets 0 .. tiles - 1: the CTA
// holding the last one knows that no other will touch the counter and
// stores 0, re-arming it for the next launch (as the decode kernel's split
// counters; the runtime zero-fills the workspace once).
//
// plan.prefetchQ (hopper-q-prefetch): consumers with Q in registers take the
// next tile from its slot right after their KV loop instead of after the
// epilogue, and load its Q fragments before writing the current tile's O;
// the tile loop carries the fragments (the first tile's loaded before it).
//
//===----------------------------------------------------------------------===//

#include "HopperEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// Inline PTX with side effects: the counter's atomic and re-arm must stay
/// where they are, once per tile.
static Value volatileAsm(ImplicitLocOpBuilder &b, Type result,
                         ValueRange operands, StringRef asmString,
                         StringRef constraints) {
  auto op = LLVM::InlineAsmOp::create(
      b, result, operands, asmString, constraints, /*has_side_effects=*/true,
      /*is_align_stack=*/false, LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr(), ArrayAttr());
  return result ? op.getRes() : Value();
}

Value HopperEmitter::fetchTicket() {
  Value counter = pointerOf(arg(tileCounterArg), ptrGlobal);
  // Relaxed: the counter hands out indices and publishes no data.
  Value ticket = volatileAsm(b, i32, counter,
                             "atom.relaxed.gpu.global.add.u32 $0, [$1], 1;",
                             "=r,l");
  Value last = cmp(arith::CmpIPredicate::eq, ticket, cI32(plan.numTiles - 1));
  scf::IfOp::create(b, last, [&](OpBuilder &, Location) {
    volatileAsm(b, Type(), counter, "st.relaxed.gpu.global.u32 [$0], 0;",
                "l");
    scf::YieldOp::create(b);
  });
  return ticket;
}

void HopperEmitter::publishTile(Value k, Value tile) {
  Value slot = andI(k, 1);
  Value phase = andI(shr(k, 1), 1);
  // The slot's previous tile must have been read (a fresh barrier passes
  // parity 1).
  NVVM::MBarrierTryWaitParityOp::create(b, slotBarrier(1, slot),
                                        xorI(phase, cI32(1)), cI32(0x989680));
  LLVM::StoreOp::create(b, tile, tileSlot(slot), /*alignment=*/4);
  NVVM::MBarrierArriveOp::create(b, Type(), slotBarrier(0, slot), Value());
}

Value HopperEmitter::receiveTile(Value k) {
  Value slot = andI(k, 1);
  NVVM::MBarrierTryWaitParityOp::create(b, slotBarrier(0, slot),
                                        andI(shr(k, 1), 1), cI32(0x989680));
  Value tile = LLVM::LoadOp::create(b, i32, tileSlot(slot), /*alignment=*/4);
  NVVM::MBarrierArriveOp::create(b, Type(), slotBarrier(1, slot), Value());
  return tile;
}

LogicalResult
HopperEmitter::forEachDynamicTile(bool isProducer,
                                  function_ref<LogicalResult()> body) {
  Value first = arith::IndexCastUIOp::create(
      b, i32, gpu::BlockIdOp::create(b, gpu::Dimension::x));
  Value ctas = arith::IndexCastUIOp::create(
      b, i32, gpu::GridDimOp::create(b, gpu::Dimension::x));
  // (tile, KV blocks done, tiles done), as the static loop carries them;
  // with plan.prefetchQ the consumers carry the tile's Q fragments too,
  // the first tile's loaded before the loop.
  SmallVector<Value> init = {first, cI32(0), cI32(0)};
  bool prefetch = !isProducer && plan.prefetchQ;
  if (prefetch) {
    if (failed(emitTileCoordinates(first)))
      return failure();
    loadQFragments();
    init.append(flatQFragments());
  }
  SmallVector<Type> types(init.size(), i32);
  SmallVector<Location> locs(init.size(), b.getLoc());
  auto loop = scf::WhileOp::create(b, types, init);
  OpBuilder::InsertionGuard guard(b);
  Block *before = b.createBlock(&loop.getBefore(), {}, types, locs);
  scf::ConditionOp::create(
      b,
      cmp(arith::CmpIPredicate::ult, before->getArgument(0),
          cI32(plan.numTiles)),
      before->getArguments());
  Block *after = b.createBlock(&loop.getAfter(), {}, types, locs);
  Value tile = after->getArgument(0);
  Value blocksDone = after->getArgument(1);
  Value tilesDone = after->getArgument(2);
  if (prefetch)
    setQFragments(SmallVector<Value>(after->getArguments().drop_front(3)));
  Value ticket = isProducer ? fetchTicket() : Value();
  ringOffset = blocksDone;
  tileParity = andI(tilesDone, 1);
  tilesDoneOfTile = tilesDone;
  if (failed(emitTileCoordinates(tile)) || failed(body()))
    return failure();
  Value blocks = arith::MaxSIOp::create(
      b, arith::SubIOp::create(b, nEnd, nBegin), cI32(0));
  Value next;
  if (isProducer) {
    next = add(ticket, ctas);
    publishTile(tilesDone, next);
  } else if (prefetch) {
    // Received by the tile's body (prefetchNextTile), before its epilogue.
    next = prefetchedTile;
  } else {
    next = receiveTile(tilesDone);
  }
  SmallVector<Value> yields = {next, add(blocksDone, blocks),
                               add(tilesDone, 1)};
  if (prefetch)
    yields.append(prefetchedQ);
  scf::YieldOp::create(b, yields);
  return success();
}

SmallVector<Value> HopperEmitter::flatQFragments() const {
  SmallVector<Value> flat;
  for (const SmallVector<Value> &fragment : qRegs)
    flat.append(fragment);
  return flat;
}

void HopperEmitter::setQFragments(ArrayRef<Value> flat) {
  // loadQFragments' shape: one fragment of four registers per k step.
  qRegs.clear();
  for (int64_t kk = 0; kk < kSteps(); ++kk)
    qRegs.push_back(SmallVector<Value>(flat.slice(4 * kk, 4)));
}

LogicalResult HopperEmitter::prefetchNextTile() {
  prefetchedTile = receiveTile(tilesDoneOfTile);
  // The last tile's Q stands in for the end of the loop (not used then).
  Value tile = arith::MinUIOp::create(b, prefetchedTile,
                                      cI32(plan.numTiles - 1));
  TileState current = saveTileState();
  SmallVector<SmallVector<Value>> currentQ = qRegs;
  if (failed(emitTileCoordinates(tile)))
    return failure();
  loadQFragments();
  prefetchedQ = flatQFragments();
  qRegs = std::move(currentQ);
  restoreTileState(current);
  return success();
}
