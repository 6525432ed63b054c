//===- HopperEmitter.h - the sm_90a kernel's emitter, shared by its files -===//
//
// Part of attn-mlir. The hopper family's plan and emitter (HopperKernel.cpp
// has the design: producer / consumer warpgroups, the mbarrier ring, the
// 128B-swizzled panels). Its body is emitted from three files:
// HopperKernel.cpp (plan, coordinates, the kernel's frame, the family),
// HopperProducer.cpp (the producer warpgroup: barriers and K/V/Q loads by
// TMA or cp.async) and HopperConsumer.cpp (wgmma, the softmax loops, the
// epilogue).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVVM_HOPPEREMITTER_H
#define ATTN_CONVERSION_ATTNTONVVM_HOPPEREMITTER_H

#include "FragmentEmitter.h"
#include "FragmentLayout.h"
#include "KernelFamily.h"
#include "WgmmaOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::attn::detail {

/// The launch of a hopper (sm_90a) prefill kernel, chosen before its body
/// is emitted.
struct HopperPlan {
  /// Consumer warpgroups, 64 query rows each (2, or 3 at D = 64).
  int64_t consumers = 2;
  /// Query rows per CTA (64 per consumer warpgroup) and keys per KV block.
  int64_t blockM = 128, blockN = 128;
  /// Shared-memory ring depth (K and V tiles per stage).
  int64_t stages = 2;
  /// Q read by wgmma from a shared tile the producer loads (else Q
  /// fragments in registers).
  bool qInSharedMemory = false;
  /// Consumer warpgroups take turns issuing S = Q K^T (named barriers).
  bool pingPong = false;
  /// Each consumer issues S of block j + 1 before the softmax of block j
  /// and O += P V of block j during it (FA3's intra-warpgroup pipeline).
  bool overlap = false;
  /// K, V (and the Q tile) loaded by TMA from runtime-built tensor maps
  /// (else 16-byte cp.async by every producer thread).
  bool tma = true;
  /// Persistent grid of at most this many CTAs looping over the tiles (0:
  /// one CTA per tile).
  int64_t persistentCtas = 0;
  /// Persistent CTAs take their tiles from an atomic counter (FA3's
  /// dynamic scheduler: the producer fetches the next tile and hands it to
  /// the consumers through shared memory) instead of the static round
  /// robin.
  bool dynamicScheduler = false;
  /// The consumers write O through a shared tile and TMA stores
  /// (HopperEpilogue.cpp) instead of global stores from registers.
  bool tmaEpilogue = false;
  /// The consumers of a dynamic grid with Q in registers take the next
  /// tile and load its Q fragments before the current tile's epilogue.
  bool prefetchQ = false;
  /// Of every 8 n8 tiles of S, those exponentiated by an FMA polynomial
  /// (FragmentEmitter::polyExp2) instead of ex2.approx.
  int64_t polyExpTiles = 0;
  /// The softmax's row max and sum as balanced trees
  /// (FragmentEmitter::reduceRow).
  bool treeReductions = false;
  /// Query-block tiles: ceil(Lq / blockM) * B * Hq.
  int64_t numTiles = 0;
  /// Persistent order under a right bound: heads (b * Hq + h) per group,
  /// whose K and V fit L2 together; a group's tiles go longest first.
  int64_t headsPerGroup = 1;
  /// One producer and `consumers` consumer warpgroups.
  int64_t threads = 384;
  /// setmaxnreg targets: the producer gives registers to the consumers
  /// (40 * 128 + 232 * 256 <= 64K; three consumers 32 * 128 + 160 * 384).
  int64_t producerRegisters = 40, consumerRegisters = 232;
  int64_t sharedMemoryBytes = 0;
};


/// Threads of a warpgroup.
constexpr int64_t kWarpgroupThreads = 128;
/// Query rows of a consumer warpgroup (one wgmma m64 tile): its slice of
/// the Q and O tiles and the box of O's tensor map.
constexpr int64_t kConsumerRows = 64;
/// Bytes of one swizzled row of a panel and of an 8-row swizzle atom.
constexpr int64_t kPanelRowBytes = 128;
constexpr int64_t kAtomBytes = 1024;
/// The dynamic scheduler's shared memory: two tile slots' full and empty
/// mbarriers and the two slots.
constexpr int64_t kSchedulerBytes = 2 * 8 + 2 * 8 + 2 * 4;

/// The kernel arguments of the tensor maps (plan.tma): Q's only where Q
/// goes through shared memory, O's only with plan.tmaEpilogue; -1 where
/// absent.
struct HopperTensorMaps {
  int64_t query = -1, key = -1, value = -1, output = -1;
};

class HopperEmitter : public FragmentEmitter {
public:
  HopperEmitter(gpu::GPUFuncOp func, const KernelProblem &p,
                const HopperPlan &plan, const AttentionArguments &args,
                const HopperTensorMaps &maps, int64_t tileCounter,
                const TiledProgram &program)
      : FragmentEmitter(func, p, /*mTiles=*/1, plan.blockN), plan(plan),
        args(args), maps(maps), tileCounterArg(tileCounter),
        program(program),
        layout(FragmentLayout::wgmma(plan.blockN)) {
    tileBytes = bn * tileRowBytes;
    polyExpTiles = plan.polyExpTiles;
    treeReductions = plan.treeReductions;
  }

  LogicalResult emit();

private:
  Value arg(int64_t i) { return func.getBody().front().getArgument(i); }
  /// The generic address of tensor map argument `i` (a memref parameter
  /// that attn-mark-tensor-map-params makes a 128-byte __grid_constant__
  /// param: its address is the map's, in the param space).
  Value tensorMapAddress(int64_t i) {
    return pointerOf(arg(i), LLVM::LLVMPointerType::get(b.getContext()));
  }
  Value xorI(Value x, Value y) { return arith::XOrIOp::create(b, x, y); }
  WgmmaOps wgmmaOps() { return WgmmaOps(b, p.isBF16); }
  /// Threads of all consumer warpgroups (the empty barriers' arrivals).
  int64_t consumerThreads() const { return plan.consumers * kWarpgroupThreads; }

  // Shared memory, relative to the 1024-byte aligned `base`: K and V tiles
  // of each stage, then the full-K, full-V and empty mbarriers.
  Value kTileOffset(Value stage) {
    return add(mul(stage, 2 * tileBytes), base);
  }
  Value vTileOffset(Value stage) {
    return add(add(mul(stage, 2 * tileBytes), base), tileBytes);
  }
  /// The Q tile (plan.qInSharedMemory): blockM rows after the ring.
  int64_t qTileOffset() const { return plan.stages * 2 * tileBytes; }
  int64_t qTileBytes() const {
    return plan.qInSharedMemory ? plan.blockM * tileRowBytes : 0;
  }
  /// The O tile (plan.tmaEpilogue): blockM rows after the Q tile, 64 per
  /// consumer warpgroup, each its D / 64 panels of 64 swizzled rows.
  int64_t oTileOffset() const { return qTileOffset() + qTileBytes(); }
  int64_t oTileBytes() const {
    return plan.tmaEpilogue ? plan.blockM * d * 2 : 0;
  }
  /// The first mbarrier, after the tiles.
  int64_t barrierOffset() const { return oTileOffset() + oTileBytes(); }
  /// Full and empty barriers of each stage's K and V tiles (released
  /// separately: K as soon as S is computed); the Q tile's full barrier is
  /// kind FullQ of stage 0, its empty one (persistent kernels) stage 1.
  enum BarrierKind { FullK = 0, FullV = 1, EmptyK = 2, EmptyV = 3, FullQ = 4 };
  Value emptyQBarrier() { return barrier(FullQ, cI32(1)); }
  /// Whether the Q tile is reused by the next tile of a persistent CTA.
  bool recyclesQ() const { return plan.qInSharedMemory && plan.persistentCtas; }
  Value barrier(BarrierKind kind, Value stage) {
    int64_t first = barrierOffset() + 8 * kind * plan.stages;
    return tileAt(add(add(mul(stage, 8), base), first));
  }
  /// The dynamic scheduler's tile slot `slot` (i32, 0 or 1), its full
  /// (kind 0: the producer wrote it) and empty (kind 1: every consumer read
  /// it) mbarriers; after Q's two barriers.
  int64_t schedulerOffset() const {
    return barrierOffset() + 8 * (4 * plan.stages + 2);
  }
  Value slotBarrier(int64_t kind, Value slot) {
    return tileAt(add(add(mul(slot, 8), base), schedulerOffset() + 16 * kind));
  }
  Value tileSlot(Value slot) {
    return tileAt(add(add(mul(slot, 4), base), schedulerOffset() + 32));
  }
  /// The 32-bit shared-window address of byte `offset` of dynamic shared
  /// memory (what wgmma descriptors encode).
  Value sharedAddress(Value offset) { return add(smemAddress, offset); }

  /// A wgmma shared-memory descriptor of the 128B-swizzled tile starting at
  /// shared address `address`: leading / stride byte offsets `lbo`, `sbo`.
  Value descriptor(Value address, int64_t lbo, int64_t sbo);
  /// acc = A * B + acc on one wgmma m64nNk16 (N = 2 * acc.size()), A from
  /// the four registers `a`, B through `desc` (MN-major when `transposeB`).
  void wgmma(MutableArrayRef<Value> acc, ArrayRef<Value> a, Value desc,
             bool transposeB);
  /// The same with A (K-major) through the descriptor `descA` too.
  void wgmmaShared(MutableArrayRef<Value> acc, Value descA, Value descB);
  /// Issues `asmString` with the f32 accumulators `acc` as outputs tied to
  /// inputs after `operands` (constraints `operandConstraints`), and takes
  /// the results back into `acc`: the frame of both wgmma forms.
  void issueOnAccumulators(MutableArrayRef<Value> acc, StringRef asmString,
                           StringRef operandConstraints,
                           ArrayRef<Value> operands);
  /// Ties `values` to a point after the preceding wgmma.wait_group: LLVM
  /// sees the accumulators defined at the (asynchronous) wgmma, so without
  /// this it could read them before the wait.
  void fenceOperands(MutableArrayRef<Value> values);
  /// Pins the i32 `values` (A fragments) before the next wgmma.fence, so
  /// that no conversion lands between two wgmmas of a chain (ptxas would
  /// then insert a warpgroup.arrive before each).
  void pinRegisters(MutableArrayRef<Value> values);
  /// A side-effecting empty asm returning `values` (constraint letter
  /// `kind`, type `type`) unchanged.
  void tieThroughAsm(MutableArrayRef<Value> values, char kind, Type type);

  // The phases of the kernel.
  LogicalResult emitCoordinates();
  /// The coordinates of the tile `tile` (i32; null: this CTA's block ids)
  /// and what derives from them.
  LogicalResult emitTileCoordinates(Value tile);
  void emitBlockRange();
  void emitBarrierInit();
  /// Emits `body` for each tile of this CTA: once, or (persistent) in a loop
  /// over its tiles with the ring position (ringOffset) and the count of
  /// tiles done (tileParity) carried across them.
  LogicalResult forEachTile(bool isProducer,
                            function_ref<LogicalResult()> body);
  /// forEachTile of plan.dynamicScheduler: the first tile is the CTA's
  /// block id, the next ones come from the tile counter (producer) through
  /// the tile slots (consumers), until one is past the last tile.
  LogicalResult forEachDynamicTile(bool isProducer,
                                   function_ref<LogicalResult()> body);
  /// Producer: takes a ticket from the tile counter (its tile is the ticket
  /// plus the grid size); the last ticket of the launch re-arms the counter
  /// to 0 for the next one.
  Value fetchTicket();
  /// Producer: writes `tile` into the slot of hand-over `k` (i32, counted
  /// from 0 per CTA) once the consumers read its previous use.
  void publishTile(Value k, Value tile);
  /// Consumers: the tile of hand-over `k`.
  Value receiveTile(Value k);
  LogicalResult emitProducer();
  LogicalResult emitConsumer();
  void emitProducerTile();
  LogicalResult emitConsumerTile();
  /// plan.prefetchQ: the values emitTileCoordinates sets, so that the next
  /// tile's coordinates can be computed in the middle of the current one.
  struct TileState {
    ProgramCoordinates coords;
    SmallVector<Value> values;
  };
  SmallVector<Value *> tileStateMembers();
  TileState saveTileState() {
    TileState state{coords, {}};
    for (Value *v : tileStateMembers())
      state.values.push_back(*v);
    return state;
  }
  void restoreTileState(const TileState &state) {
    coords = state.coords;
    for (auto [member, value] : llvm::zip(tileStateMembers(), state.values))
      *member = value;
  }
  /// plan.prefetchQ, consumers after a tile's KV loop: receives the next
  /// tile (prefetchedTile) and loads its Q fragments (prefetchedQ; a tile
  /// past the last reads the last one's, in bounds) with the current
  /// tile's coordinates left as they were.
  LogicalResult prefetchNextTile();
  /// The Q fragments (qRegs) as one list, and back.
  SmallVector<Value> flatQFragments() const;
  void setQFragments(ArrayRef<Value> flat);
  void ifConsumer(int64_t c, function_ref<void()> body);
  /// Ping-pong: opens consumer 0's first turn / absorbs the last opening.
  void openTurns();
  void closeTurns();
  /// Producer: cp.async of the K or V block at key `n0` into the tile at
  /// `tileOffset` (keys past Lk zero-filled).
  void copyKVTile(bool isValue, Value n0, Value tileOffset) {
    copyTile(isValue ? vPtr : kPtr, isValue ? vHeadBytes : kvHeadBytes, n0,
             bn, p.seqK, tileOffset, rowBytes(isValue ? p.value : p.key));
  }
  /// Producer: loads the K or V block at key `n0` (or the Q tile) into the
  /// tile at `tileOffset` and makes `full` complete when it has landed:
  /// TMA (one thread, expect_tx) or cp.async (every producer thread).
  void loadTile(BarrierKind kind, Value n0, Value tileOffset, Value full);
  /// TMA of rows [firstRow, firstRow + rows) of this tile's head of the
  /// tensor map argument `map` (rows past the tensor zero-filled by TMA),
  /// one copy per 64-column panel, completing on `full`.
  void copyTileTma(int64_t map, Value firstRow, Value rowHead, int64_t rows,
                   Value tileOffset, Value full);
  /// cp.async of rows [firstRow, firstRow + rows) of one head (row 0 at
  /// `headBytes`, rows `globalRowBytes` apart) into the swizzled tile at
  /// `tileOffset`; rows at or past `rowLimit` are zero-filled.
  void copyTile(Value gptr, Value headBytes, Value firstRow, int64_t rows,
                int64_t rowLimit, Value tileOffset, int64_t globalRowBytes);
  /// Consumer: Q fragments of this warp's 16 rows (rows past Lq read row 0).
  void loadQFragments();
  /// Issues S = Q K^T of the K tile at `kTile` as one wgmma group; the
  /// result is valid after a wgmma.wait_group that retires the group and
  /// finishScores.
  SmallVector<Value> issueScores(Value kTile);
  /// S after its group retired: tied past the wait, softcap and scale.
  SmallVector<Value> finishScores(SmallVector<Value> s);
  SmallVector<Value> emitScoreMods(Value n0, ArrayRef<Value> s);
  SmallVector<Value> emitMask(Value n0, ArrayRef<Value> s);
  /// P (f32, S layout) packed to the A fragments of O += P V.
  SmallVector<Value> packProbabilities(ArrayRef<Value> probs);
  /// Issues O += P V (P packed) with the V tile at `vTile` as one wgmma
  /// group; `acc` is valid after a wait that retires it and fenceOperands.
  void issuePV(ArrayRef<Value> packed, Value vTile, SmallVector<Value> &acc);
  void waitGroups(int64_t pending) {
    NVVM::WgmmaWaitGroupSyncOp::create(b, pending);
  }

  // The consumer's KV loop, on [nBegin, nEnd); both return O, m and l.
  /// One block at a time: S, softmax, O += P V, each waited for.
  SmallVector<Value> emitSerialLoop(ArrayRef<Value> init);
  /// S of block j + 1 issued before the softmax of block j, O += P V of
  /// block j in flight during it (plan.overlap).
  SmallVector<Value> emitOverlappedLoop(ArrayRef<Value> init);
  // Ring slot of KV block `j` (absolute), its barriers, the ping-pong turn.
  /// Position of KV block `j` in the ring's sequence of tiles.
  Value ringIndex(Value j) {
    Value i = arith::SubIOp::create(b, j, nBegin);
    return ringOffset ? add(i, ringOffset) : i;
  }
  Value ringStage(Value j) {
    return arith::RemUIOp::create(b, ringIndex(j), cI32(plan.stages));
  }
  Value ringPhase(Value j) {
    return andI(arith::DivUIOp::create(b, ringIndex(j), cI32(plan.stages)),
                1);
  }
  /// Parity of the Q tile's barriers for this tile.
  Value qPhase() { return tileParity ? tileParity : cI32(0); }
  /// Waits for the K or V tile of block `j`.
  void acquire(BarrierKind kind, Value j);
  /// Gives the K or V tile of block `j` back to the producer.
  void release(BarrierKind kind, Value j) {
    NVVM::MBarrierArriveOp::create(b, Type(), barrier(kind, ringStage(j)),
                                   Value());
  }
  void takeTurn();
  void passTurn();
  /// The named barrier of the next consumer's turn.
  Value nextTurnBarrier();
  void emitEpilogue(ValueRange results);
  /// The LSE of the row `row` (`empty`: l == 0) from its `m` and
  /// quad-reduced `l`, stored by the lane with t == 0 of valid rows.
  void storeRowLse(Value row, Value m, Value l, Value empty);
  /// plan.tmaEpilogue: the rows of this consumer warpgroup, O already
  /// scaled by `inv` (one per half), into the O tile and out by TMA.
  void emitTmaEpilogue(ValueRange results, ArrayRef<Value> inv);
  /// The elected thread of this consumer warpgroup (thread 0 of it).
  Value isWarpgroupLeader();
  /// Named barrier 1 + consumers + consumer over this consumer warpgroup's
  /// threads (ping-pong takes 1 .. consumers).
  void syncWarpgroup();
  /// After a consumer's last tile: its TMA stores have completed (the CTA
  /// must not exit while they read shared memory).
  void drainTmaStores();

  const HopperPlan &plan;
  const AttentionArguments &args;
  HopperTensorMaps maps;
  /// The tile counter workspace argument (plan.dynamicScheduler; else -1).
  int64_t tileCounterArg;
  const TiledProgram &program;
  /// The program's coordinates and bounds (index values).
  ProgramCoordinates coords;
  FragmentLayout layout;
  int64_t tileBytes;

  Value warpgroup, bh, head, kvHead, m0, qHeadBytes, kvHeadBytes;
  /// This tile's batch (i32; the tensor maps' outermost coordinate).
  Value batch;
  /// V's and O's row 0 (K's and Q's where they are laid out alike).
  Value vHeadBytes, oHeadBytes;
  /// First row of this consumer warp (absolute query index).
  Value warpRow0;
  Value base, smemAddress;
  /// Descriptor of this consumer warpgroup's rows of the Q tile (null: Q
  /// in registers).
  Value qTileDesc;
  Value batchIndex, headIndex, negSlope;
  /// Consumer warpgroup index (0 .. plan.consumers - 1).
  Value consumer;
  Value qPtr, kPtr, vPtr, oPtr, lsePtr;
  Value nBegin, nEnd;
  /// Keys [interiorBegin, interiorEnd) need no mask (i32).
  Value interiorBegin, interiorEnd;
  /// Persistent kernels: KV blocks of this CTA's earlier tiles, and the
  /// parity of its count of earlier tiles (i32; null otherwise).
  Value ringOffset, tileParity;
  /// plan.prefetchQ: this tile's count of earlier tiles (the hand-over the
  /// prefetch receives), the tile received and its Q fragments.
  Value tilesDoneOfTile, prefetchedTile;
  SmallVector<Value> prefetchedQ;
};


} // namespace mlir::attn::detail

#endif // ATTN_CONVERSION_ATTNTONVVM_HOPPEREMITTER_H
