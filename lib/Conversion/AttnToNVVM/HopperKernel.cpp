//===- HopperKernel.cpp - the sm_90a (wgmma) prefill kernel body ----------===//
//
// Part of attn-mlir. A warp-specialized prefill kernel for Hopper: a CTA owns
// 128 query rows of one (batch, head) and has three warpgroups.
//
// * Warpgroup 0, the producer, lowers its register budget (setmaxnreg.dec)
//   and streams the K and V blocks the mask leaves visible into a ring of
//   `stages` shared-memory stages; a tile is reused once its "empty"
//   mbarrier has seen every consumer thread arrive. plan.tma (hopper-loads
//   =tma, the default): thread 0 alone issues cp.async.bulk.tensor copies,
//   one per 64-column panel (a box of the tile's rows by 64 columns with
//   the 128-byte swizzle, which is exactly the panel layout below), after
//   an mbarrier.arrive.expect_tx of the tile's bytes on its "full" barrier
//   (one arrival); the tensor maps are kernel parameters (tensor_map
//   arguments: 128-byte __grid_constant__ params, attn-mark-tensor-map-
//   params) that the runtime encodes at each launch from the manifest and
//   the launch's pointers, and rows past Lq / Lk come back as zeros (TMA's
//   out-of-bounds fill). Otherwise (cp-async) every producer thread issues
//   16-byte cp.async into the same layout, completing on the "full" barrier
//   with cp.async.mbarrier.arrive.noinc (128 arrivals), and a consumer
//   fences the generic proxy's writes before wgmma reads them.
// * Warpgroups 1 and 2, the consumers (setmaxnreg.inc), own 64 rows each.
//   Per block, S = Q K^T is a chain of wgmma m64n{BN}k16 over the head dim
//   with B = the K tile (K-major) and A = Q, read once into registers or
//   (plan.qInSharedMemory) from a shared tile the producer loads first;
//   O += P V is a chain of m64n{D}k16 over the block's keys with A = P from
//   registers and B = the V tile (MN-major, transposed). K and V tiles
//   have their own "empty" barriers: K goes back as soon as S is computed.
// * plan.overlap (FA3's intra-warpgroup pipeline): a consumer issues S of
//   block j and O += P V of block j - 1 back to back, waits for S alone
//   (wgmma.wait_group 1) and runs the softmax of block j while P V is in
//   flight; O takes block j's rescale once that group retired. With
//   plan.pingPong the two consumers take turns issuing their GEMMs (named
//   barriers 1 and 2).
//
// * plan.persistentCtas: a grid of at most that many CTAs, each looping over
//   the query-block tiles (round k takes tile k * G + c, or k * G + G - 1 - c
//   for odd k, against the shrinking causal tiles), longest first under a
//   causal or window mask. The ring's stages and phases run on across
//   tiles, and the producer streams the next tile's Q, K and V while the
//   consumers finish the last one (Q's tile has an "empty" barrier too).
//   Under a causal mask this static assignment loses to the hardware's
//   dynamic block scheduling (bench/NOTES.md); an atomic tile counter
//   would be the next step.
//
// Tiles are [rows][D] bf16/f16 split into 64-column panels: row r of a
// panel is 128 bytes at r * 128, its 16-byte chunk c at (c ^ r % 8) * 16 (the
// 128B swizzle of a canonical wgmma layout; panels 1024-byte aligned).
//
// The accumulator layout of a warp of a wgmma m64nN tile is that of
// FragmentLayout::wgmma, the same per-lane shape as mma.sync's C tiles, so
// the online softmax of FragmentEmitter applies unchanged.
//
//===----------------------------------------------------------------------===//

#include "FragmentEmitter.h"
#include "FragmentLayout.h"
#include "KernelFamily.h"

#include "attn/Analysis/KernelResources.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

namespace {
/// The launch of a hopper (sm_90a) prefill kernel, chosen before its body
/// is emitted.
struct HopperPlan {
  /// Query rows per CTA (two consumer warpgroups of 64 rows) and keys per
  /// KV block.
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
  /// Query-block tiles: ceil(Lq / blockM) * B * Hq.
  int64_t numTiles = 0;
  /// Persistent order under a right bound: heads (b * Hq + h) per group,
  /// whose K and V fit L2 together; a group's tiles go longest first.
  int64_t headsPerGroup = 1;
  /// One producer and two consumer warpgroups.
  int64_t threads = 384;
  /// setmaxnreg targets: the producer gives registers to the consumers
  /// (40 * 128 + 232 * 256 <= 64K).
  int64_t producerRegisters = 40, consumerRegisters = 232;
  int64_t sharedMemoryBytes = 0;
};
} // namespace

/// Checks that the hopper kernel supports `problem` and plans its launch;
/// with `emitErrors` false it only answers (kernel=auto's question).
static FailureOr<HopperPlan>
planHopperKernel(Operation *op, const KernelProblem &problem,
                 const ConvertAttnToNVVMOptions &options,
                 bool emitErrors = true);

namespace {

/// Threads of a warpgroup.
constexpr int64_t kWarpgroupThreads = 128;
/// Bytes of one swizzled row of a panel and of an 8-row swizzle atom.
constexpr int64_t kPanelRowBytes = 128;
constexpr int64_t kAtomBytes = 1024;

/// The kernel arguments of the tensor maps (plan.tma): Q's only where Q
/// goes through shared memory; -1 where absent.
struct HopperTensorMaps {
  int64_t query = -1, key = -1, value = -1;
};

class HopperEmitter : public FragmentEmitter {
public:
  HopperEmitter(gpu::GPUFuncOp func, const KernelProblem &p,
                const HopperPlan &plan, const AttentionArguments &args,
                const HopperTensorMaps &maps, const TiledProgram &program)
      : FragmentEmitter(func, p, /*mTiles=*/1, plan.blockN), plan(plan),
        args(args), maps(maps), program(program),
        layout(FragmentLayout::wgmma(plan.blockN)) {
    tileBytes = bn * tileRowBytes;
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
  /// Full and empty barriers of each stage's K and V tiles (released
  /// separately: K as soon as S is computed); the Q tile's full barrier is
  /// kind FullQ of stage 0, its empty one (persistent kernels) stage 1.
  enum BarrierKind { FullK = 0, FullV = 1, EmptyK = 2, EmptyV = 3, FullQ = 4 };
  Value emptyQBarrier() { return barrier(FullQ, cI32(1)); }
  /// Whether the Q tile is reused by the next tile of a persistent CTA.
  bool recyclesQ() const { return plan.qInSharedMemory && plan.persistentCtas; }
  Value barrier(BarrierKind kind, Value stage) {
    int64_t first = qTileOffset() + qTileBytes() + 8 * kind * plan.stages;
    return tileAt(add(add(mul(stage, 8), base), first));
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
  LogicalResult forEachTile(function_ref<LogicalResult()> body);
  LogicalResult emitProducer();
  LogicalResult emitConsumer();
  void emitProducerTile();
  void emitConsumerTile();
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
  void emitEpilogue(ValueRange results);

  const HopperPlan &plan;
  const AttentionArguments &args;
  HopperTensorMaps maps;
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
  /// Consumer warpgroup index (0 or 1).
  Value consumer;
  Value qPtr, kPtr, vPtr, oPtr, lsePtr;
  Value nBegin, nEnd;
  /// Keys [interiorBegin, interiorEnd) need no mask (i32).
  Value interiorBegin, interiorEnd;
  /// Persistent kernels: KV blocks of this CTA's earlier tiles, and the
  /// parity of its count of earlier tiles (i32; null otherwise).
  Value ringOffset, tileParity;
};

} // namespace

Value HopperEmitter::descriptor(Value address, int64_t lbo, int64_t sbo) {
  // Bits 0-13: address >> 4; 16-29: LBO >> 4; 32-45: SBO >> 4; 62-63: 1
  // (128B swizzle). Base offset 0: atoms are 1024-byte aligned.
  int64_t fixed = ((lbo >> 4) << 16) | ((sbo >> 4) << 32) | (int64_t(1) << 62);
  Value lo = toI64(andI(shr(address, 4), 0x3FFF));
  return arith::OrIOp::create(b, lo, cI64(fixed));
}

void HopperEmitter::wgmma(MutableArrayRef<Value> acc, ArrayRef<Value> a,
                          Value desc, bool transposeB) {
  int64_t n = acc.size();
  std::string asmString, constraints;
  llvm::raw_string_ostream os(asmString), cs(constraints);
  // Operands: $0..$n-1 the accumulators (outputs, tied to the last n
  // inputs), $n..$n+3 the A registers, $n+4 the B descriptor, $n+5 the
  // scale-d flag (1: accumulate).
  os << "{\n.reg .pred p;\nsetp.ne.b32 p, $" << n + 5 << ", 0;\n"
     << "wgmma.mma_async.sync.aligned.m64n" << 2 * n << "k16.f32."
     << (p.isBF16 ? "bf16.bf16" : "f16.f16") << " {";
  for (int64_t i = 0; i < n; ++i)
    os << (i ? ", " : "") << "$" << i;
  os << "}, {$" << n << ", $" << n + 1 << ", $" << n + 2 << ", $" << n + 3
     << "}, $" << n + 4 << ", p, 1, 1, " << (transposeB ? 1 : 0) << ";\n}";
  for (int64_t i = 0; i < n; ++i)
    cs << "=f,";
  cs << "r,r,r,r,l,r";
  for (int64_t i = 0; i < n; ++i)
    cs << "," << i;
  SmallVector<Value> operands(a);
  operands.push_back(desc);
  operands.push_back(cI32(1));
  operands.append(acc.begin(), acc.end());
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(n, f32));
  Value res = LLVM::InlineAsmOp::create(
                  b, structType, operands, asmString, constraints,
                  /*has_side_effects=*/true, /*is_align_stack=*/false,
                  LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                  ArrayAttr())
                  .getResult(0);
  for (int64_t i = 0; i < n; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, res, i);
}

void HopperEmitter::wgmmaShared(MutableArrayRef<Value> acc, Value descA,
                                Value descB) {
  int64_t n = acc.size();
  std::string asmString, constraints;
  llvm::raw_string_ostream os(asmString), cs(constraints);
  // $0..$n-1 the accumulators, $n / $n+1 the A / B descriptors, $n+2 the
  // scale-d flag; both operands K-major.
  os << "{\n.reg .pred p;\nsetp.ne.b32 p, $" << n + 2 << ", 0;\n"
     << "wgmma.mma_async.sync.aligned.m64n" << 2 * n << "k16.f32."
     << (p.isBF16 ? "bf16.bf16" : "f16.f16") << " {";
  for (int64_t i = 0; i < n; ++i)
    os << (i ? ", " : "") << "$" << i;
  os << "}, $" << n << ", $" << n + 1 << ", p, 1, 1, 0, 0;\n}";
  for (int64_t i = 0; i < n; ++i)
    cs << "=f,";
  cs << "l,l,r";
  for (int64_t i = 0; i < n; ++i)
    cs << "," << i;
  SmallVector<Value> operands = {descA, descB, cI32(1)};
  operands.append(acc.begin(), acc.end());
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(n, f32));
  Value res = LLVM::InlineAsmOp::create(
                  b, structType, operands, asmString, constraints,
                  /*has_side_effects=*/true, /*is_align_stack=*/false,
                  LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                  ArrayAttr())
                  .getResult(0);
  for (int64_t i = 0; i < n; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, res, i);
}

void HopperEmitter::tieThroughAsm(MutableArrayRef<Value> values, char kind,
                                  Type type) {
  int64_t n = values.size();
  std::string constraints;
  llvm::raw_string_ostream cs(constraints);
  for (int64_t i = 0; i < n; ++i)
    cs << "=" << kind << ",";
  for (int64_t i = 0; i < n; ++i)
    cs << (i ? "," : "") << i;
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(n, type));
  Value res = LLVM::InlineAsmOp::create(
                  b, structType, ValueRange(values), "", constraints,
                  /*has_side_effects=*/true, /*is_align_stack=*/false,
                  LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                  ArrayAttr())
                  .getResult(0);
  for (int64_t i = 0; i < n; ++i)
    values[i] = LLVM::ExtractValueOp::create(b, res, i);
}

void HopperEmitter::fenceOperands(MutableArrayRef<Value> values) {
  tieThroughAsm(values, 'f', f32);
}

void HopperEmitter::pinRegisters(MutableArrayRef<Value> values) {
  tieThroughAsm(values, 'r', i32);
}

LogicalResult HopperEmitter::emitCoordinates() {
  emitLaneCoordinates();
  warpgroup = shr(tid, 7);
  // A persistent CTA's tiles are computed in its loop.
  if (!plan.persistentCtas && failed(emitTileCoordinates(Value())))
    return failure();

  qPtr = pointerOf(arg(args.query), ptrGlobal);
  kPtr = pointerOf(arg(args.keyStorage.front()), ptrGlobal);
  vPtr = pointerOf(arg(args.valueStorage.front()), ptrGlobal);
  oPtr = pointerOf(arg(args.output), ptrGlobal);
  if (args.lse)
    lsePtr = pointerOf(arg(*args.lse), ptrGlobal);

  // Dynamic shared memory is only 16-byte aligned; swizzle atoms need 1024.
  smemAddress = LLVM::PtrToIntOp::create(b, i32, smem);
  base = andI(arith::SubIOp::create(b, cI32(0), smemAddress), kAtomBytes - 1);
  return success();
}

LogicalResult HopperEmitter::emitTileCoordinates(Value tile) {
  auto idx32 = [&](Value v) -> Value {
    return arith::IndexCastUIOp::create(b, i32, v);
  };
  FailureOr<ProgramCoordinates> planned;
  if (!tile) {
    // The program (b, h, query block) of this CTA.
    planned = emitQueryBlockProgram(program, plan.blockM, Value());
  } else {
    // Tile t: with a right bound (causal, window) the query blocks go
    // longest first within groups of heads whose K and V fit L2 together,
    // so that concurrent CTAs share them (on an H200 no faster than longest
    // first across all heads: the imbalance of the static assignment
    // dominates); without, head-major as the one-CTA-per-tile grid.
    int64_t numM = llvm::divideCeil(p.seqQ, plan.blockM);
    int64_t heads = p.batch * p.headsQ;
    auto div = [&](Value x, int64_t y) -> Value {
      return arith::DivUIOp::create(b, x, cI32(y));
    };
    auto rem = [&](Value x, int64_t y) -> Value {
      return arith::RemUIOp::create(b, x, cI32(y));
    };
    Value mBlock, y;
    if (p.visibility.right) {
      // Group gi holds heads [gi Hg, gi Hg + hg), hg = min(Hg, heads - gi
      // Hg); its tiles go block rank-major, head fastest.
      int64_t groupTiles = plan.headsPerGroup * numM;
      Value gi = div(tile, groupTiles);
      Value r = arith::SubIOp::create(b, tile, mul(gi, groupTiles));
      Value firstHead = mul(gi, plan.headsPerGroup);
      Value hg = arith::MinUIOp::create(
          b, cI32(plan.headsPerGroup),
          arith::SubIOp::create(b, cI32(heads), firstHead));
      mBlock = arith::SubIOp::create(b, cI32(numM - 1),
                                     arith::DivUIOp::create(b, r, hg));
      y = add(firstHead, arith::RemUIOp::create(b, r, hg));
    } else {
      mBlock = rem(tile, numM);
      y = div(tile, numM);
    }
    auto index = [&](Value v) -> Value {
      return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
    };
    planned = program.emitCoordinates(
        b, {index(div(y, p.headsQ)), index(rem(y, p.headsQ)), index(mBlock)},
        Value());
  }
  if (failed(planned))
    return failure();
  coords = *planned;
  batch = idx32(coords.batch);
  head = idx32(coords.head0);
  kvHead = idx32(coords.kvHead);
  bh = add(mul(batch, p.headsQ), head);
  Value kvBh = add(mul(batch, p.headsKV), kvHead);
  if (p.scoreMod) {
    batchIndex = arith::IndexCastUIOp::create(b, b.getIndexType(), batch);
    headIndex = arith::IndexCastUIOp::create(b, b.getIndexType(),
                                             add(head, p.headOffset));
  }
  qHeadBytes = headByteOffset(p.query, p.headsQ, batch, head, bh);
  kvHeadBytes = headByteOffset(p.key, p.headsKV, batch, kvHead, kvBh);
  vHeadBytes = p.value == p.key
                   ? kvHeadBytes
                   : headByteOffset(p.value, p.headsKV, batch, kvHead, kvBh);
  oHeadBytes = p.output == p.query
                   ? qHeadBytes
                   : headByteOffset(p.output, p.headsQ, batch, head, bh);
  m0 = idx32(coords.q0);
  // Consumer warp w (warpgroup 1 + w / 4) owns rows 64 (w / 4) + 16 (w % 4).
  Value consumerWarp = arith::SubIOp::create(b, warp, cI32(4));
  warpRow0 = add(m0, mul(consumerWarp, 16));
  if (plan.persistentCtas)
    emitBlockRange();
  return success();
}

LogicalResult HopperEmitter::forEachTile(function_ref<LogicalResult()> body) {
  if (!plan.persistentCtas)
    return body();
  // Round k of CTA c (of G) is tile k * G + c, or k * G + G - 1 - c for odd
  // k; the last round may leave a CTA without a tile.
  Value c = arith::IndexCastUIOp::create(
      b, i32, gpu::BlockIdOp::create(b, gpu::Dimension::x));
  Value ctas = arith::IndexCastUIOp::create(
      b, i32, gpu::GridDimOp::create(b, gpu::Dimension::x));
  Value numTiles = cI32(plan.numTiles);
  Value rounds = arith::DivUIOp::create(
      b, add(numTiles, arith::SubIOp::create(b, ctas, cI32(1))), ctas);
  Value reversed =
      arith::SubIOp::create(b, arith::SubIOp::create(b, ctas, cI32(1)), c);
  auto loop = scf::ForOp::create(b, cI32(0), rounds, cI32(1),
                                 ValueRange{cI32(0), cI32(0)});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value k = loop.getInductionVar();
  Value blocksDone = loop.getRegionIterArgs()[0];
  Value tilesDone = loop.getRegionIterArgs()[1];
  Value odd = cmp(arith::CmpIPredicate::ne, andI(k, 1), cI32(0));
  Value tile = add(arith::MulIOp::create(b, k, ctas), sel(odd, reversed, c));
  Value valid = cmp(arith::CmpIPredicate::ult, tile, numTiles);
  auto ifOp = scf::IfOp::create(b, TypeRange{i32, i32}, valid,
                                /*withElse=*/true);
  {
    OpBuilder::InsertionGuard elseGuard(b);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(b, ValueRange{blocksDone, tilesDone});
  }
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  ringOffset = blocksDone;
  tileParity = andI(tilesDone, 1);
  if (failed(emitTileCoordinates(tile)) || failed(body()))
    return failure();
  Value blocks = arith::MaxSIOp::create(
      b, arith::SubIOp::create(b, nEnd, nBegin), cI32(0));
  scf::YieldOp::create(
      b, ValueRange{add(blocksDone, blocks), add(tilesDone, 1)});
  b.setInsertionPointAfter(ifOp);
  scf::YieldOp::create(b, ifOp.getResults());
  return success();
}

void HopperEmitter::emitBlockRange() {
  // As the prefill kernel: the program's KV blocks (possibly none) and its
  // interior, where no mask is evaluated.
  auto i32Of = [&](Value v) { return arith::IndexCastOp::create(b, i32, v); };
  IntArith a(b, b.getLoc(), i32);
  nBegin = a.floorDiv(i32Of(coords.begin), bn);
  nEnd = a.ceilDiv(i32Of(coords.end), bn);
  interiorBegin = i32Of(coords.interiorBegin);
  interiorEnd = i32Of(coords.interiorEnd);
}

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
                                   cI32(2 * kWarpgroupThreads), Value());
      NVVM::MBarrierInitOp::create(b, barrier(EmptyV, cI32(s)),
                                   cI32(2 * kWarpgroupThreads), Value());
    }
    if (plan.qInSharedMemory)
      NVVM::MBarrierInitOp::create(b, barrier(FullQ, cI32(0)),
                                   cI32(fullArrivals), Value());
    if (recyclesQ())
      NVVM::MBarrierInitOp::create(b, emptyQBarrier(),
                                   cI32(2 * kWarpgroupThreads), Value());
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
    return forEachTile([&] {
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
                      for (int64_t map : {maps.query, maps.key, maps.value})
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

void HopperEmitter::loadQFragments() {
  // A fragment of k step kk: a0 (row g, cols 16 kk + 2t..), a1 (row g + 8),
  // a2 (row g, cols + 8), a3 (row g + 8, cols + 8): 4-byte reads, once.
  SmallVector<Value> rowBytes;
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(add(warpRow0, g), half * 8);
    if (p.seqQ % plan.blockM != 0)
      row = sel(cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ)), row,
                cI32(0));
    rowBytes.push_back(arith::AddIOp::create(
        b, qHeadBytes,
        toI64(add(mul(row, FragmentEmitter::rowBytes(p.query)), mul(t, 4)))));
  }
  SmallVector<SmallVector<Value>> regs;
  for (int64_t kk = 0; kk < kSteps(); ++kk) {
    SmallVector<Value> frag;
    for (int64_t e = 0; e < 4; ++e) {
      int64_t colBytes = (16 * kk + (e >> 1) * 8) * 2;
      Value off = arith::AddIOp::create(b, rowBytes[e & 1], cI64(colBytes));
      frag.push_back(LLVM::LoadOp::create(b, i32, gep(ptrGlobal, qPtr, off),
                                          /*alignment=*/4));
    }
    regs.push_back(std::move(frag));
  }
  qRegs = std::move(regs);
}

SmallVector<Value> HopperEmitter::issueScores(Value kTile) {
  SmallVector<Value> s(layout.numRegisters(), cF32(0.0));
  // B = K^T, K-major: k step kk reads 32 bytes at (kk % 4) * 32 of every row
  // of panel kk / 4; 8-row atoms are 1024 bytes apart (SBO; LBO unused).
  Value desc0 = descriptor(sharedAddress(kTile), 16, kAtomBytes);
  // A = this warpgroup's 64 rows of the Q tile, K-major like K.
  Value qDesc0 = qTileDesc;
  fenceOperands(s);
  NVVM::WgmmaFenceAlignedOp::create(b);
  auto advance = [&](Value desc, int64_t delta) -> Value {
    return delta ? arith::AddIOp::create(b, desc, cI64(delta >> 4)).getResult()
                 : desc;
  };
  for (int64_t kk = 0; kk < kSteps(); ++kk) {
    Value desc =
        advance(desc0, (kk / 4) * bn * kPanelRowBytes + (kk % 4) * 32);
    if (qDesc0)
      wgmmaShared(s,
                  advance(qDesc0, (kk / 4) * plan.blockM * kPanelRowBytes +
                                      (kk % 4) * 32),
                  desc);
    else
      wgmma(s, qRegs[kk], desc, /*transposeB=*/false);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  return s;
}

SmallVector<Value> HopperEmitter::finishScores(SmallVector<Value> s) {
  fenceOperands(s);
  if (p.softcap) {
    Value inner = cF32(p.scale / *p.softcap);
    for (Value &v : s)
      v = tanhApprox(arith::MulFOp::create(b, v, inner));
  }
  if (!p.needsNaturalScores())
    return s;
  // Modifiers see scale * dot, or softcap * tanh(scale * dot / softcap).
  Value unit = cF32(p.softcap ? *p.softcap : p.scale);
  for (Value &v : s)
    v = arith::MulFOp::create(b, v, unit);
  return s;
}

SmallVector<Value> HopperEmitter::emitScoreMods(Value n0, ArrayRef<Value> s) {
  return emitPositionalMods(layout, s, n0, add(warpRow0, g),
                            /*alibiOffset=*/Value(), negSlope, batchIndex,
                            headIndex);
}

SmallVector<Value> HopperEmitter::emitMask(Value n0, ArrayRef<Value> s) {
  // As the prefill kernel, on the wgmma accumulator layout (a uniform
  // branch: both consumer warpgroups take it).
  IntArith a(b, b.getLoc(), i32);
  Value diag = p.visibility.diagonal(a, cI32(p.seqQ), cI32(p.seqK));
  return emitVisibilityMask(layout, s, n0, add(warpRow0, g),
                            outsideInterior(n0, interiorBegin, interiorEnd),
                            cI32(p.seqK), diag, /*tail=*/p.seqK % bn != 0);
}

SmallVector<Value> HopperEmitter::packProbabilities(ArrayRef<Value> probs) {
  // The S registers of n8 tiles 2kk and 2kk + 1, packed pairwise, are the A
  // fragment of keys 16kk .. 16kk + 15 (as with mma.sync).
  auto at = [&](int64_t nt, int64_t c) { return probs[layout.index(0, nt, c)]; };
  SmallVector<Value> packed;
  for (int64_t kk = 0; kk < bn / 16; ++kk)
    packed.append({packHalf2(at(2 * kk, 0), at(2 * kk, 1)),
                   packHalf2(at(2 * kk, 2), at(2 * kk, 3)),
                   packHalf2(at(2 * kk + 1, 0), at(2 * kk + 1, 1)),
                   packHalf2(at(2 * kk + 1, 2), at(2 * kk + 1, 3))});
  pinRegisters(packed);
  return packed;
}

void HopperEmitter::issuePV(ArrayRef<Value> packed, Value vTile,
                            SmallVector<Value> &acc) {
  // B = V, MN-major: k step kk is keys 16 kk .. +15, two 8-key atoms 1024
  // bytes apart (SBO); the 64-column panels are a tile's `bn` rows apart
  // (LBO).
  // O was rescaled by the softmax: those writes must precede the fence.
  fenceOperands(acc);
  Value desc0 =
      descriptor(sharedAddress(vTile), bn * kPanelRowBytes, kAtomBytes);
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t kk = 0; kk < bn / 16; ++kk) {
    int64_t delta = kk * 16 * kPanelRowBytes;
    Value desc = delta ? arith::AddIOp::create(b, desc0, cI64(delta >> 4))
                             .getResult()
                       : desc0;
    wgmma(acc, packed.slice(4 * kk, 4), desc, /*transposeB=*/true);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
}

void HopperEmitter::acquire(BarrierKind kind, Value j) {
  NVVM::MBarrierTryWaitParityOp::create(b, barrier(kind, ringStage(j)),
                                        ringPhase(j), cI32(0x989680));
  // cp.async wrote the tile through the generic proxy; wgmma reads it
  // through the async proxy (as TMA writes it: no fence then).
  if (plan.tma)
    return;
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
}

// Ping-pong: named barrier 1 + c is consumer warpgroup c's turn to issue its
// GEMMs; the other warpgroup opens it once it has issued its own, so one
// group's softmax overlaps the other's GEMMs. Both groups take the same
// number of turns.
void HopperEmitter::takeTurn() {
  if (plan.pingPong)
    NVVM::BarrierOp::create(b, Type(), add(consumer, 1),
                            cI32(2 * kWarpgroupThreads),
                            NVVM::BarrierReductionAttr(), Value());
}

void HopperEmitter::passTurn() {
  if (plan.pingPong)
    NVVM::BarrierArriveOp::create(b, arith::SubIOp::create(b, cI32(2), consumer),
                                  cI32(2 * kWarpgroupThreads));
}

SmallVector<Value> HopperEmitter::emitSerialLoop(ArrayRef<Value> init) {
  int64_t numO = numAccumulators(), numRows = numRowStats();
  auto loop = scf::ForOp::create(b, nBegin, nEnd, cI32(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value j = loop.getInductionVar();
  ValueRange iter = loop.getRegionIterArgs();
  SmallVector<Value> acc(iter.begin(), iter.begin() + numO);
  SmallVector<Value> rowMax(iter.begin() + numO, iter.begin() + numO + numRows);
  SmallVector<Value> rowSum(iter.begin() + numO + numRows, iter.end());
  Value n0 = mul(j, bn);
  acquire(FullK, j);
  takeTurn();
  SmallVector<Value> s = issueScores(kTileOffset(ringStage(j)));
  passTurn();
  waitGroups(0);
  s = finishScores(s);
  release(EmptyK, j);
  // Masks come last so that masked and padded keys stay -inf whatever the
  // modifiers compute for them.
  s = emitMask(n0, emitScoreMods(n0, s));
  emitOnlineSoftmax(s, rowMax, rowSum, acc);
  acquire(FullV, j);
  issuePV(packProbabilities(s), vTileOffset(ringStage(j)), acc);
  waitGroups(0);
  fenceOperands(acc);
  release(EmptyV, j);
  SmallVector<Value> yields(acc);
  yields.append(rowMax);
  yields.append(rowSum);
  scf::YieldOp::create(b, yields);
  return SmallVector<Value>(loop.getResults());
}

SmallVector<Value> HopperEmitter::emitOverlappedLoop(ArrayRef<Value> init) {
  // Block j's S = Q K^T is issued before O += P V of block j - 1, whose P
  // stays in registers; the softmax of block j runs while that P V is in
  // flight, and O takes block j's rescale once it has retired:
  //   O_j = alpha_j * (O_{j-2}' + P_{j-1} V_{j-1}).
  // The first block (S and softmax only) and the last P V are peeled, so
  // the range must not be empty.
  int64_t numO = numAccumulators(), numRows = numRowStats();
  SmallVector<Type> types;
  for (Value v : init)
    types.push_back(v.getType());
  Value nonEmpty = cmp(arith::CmpIPredicate::slt, nBegin, nEnd);
  auto ifOp = scf::IfOp::create(b, types, nonEmpty, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(b, init);
  }
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  SmallVector<Value> rowMax(init.begin() + numO, init.begin() + numO + numRows);
  SmallVector<Value> rowSum(init.begin() + numO + numRows, init.end());
  auto scores = [&](Value j) {
    acquire(FullK, j);
    takeTurn();
    return issueScores(kTileOffset(ringStage(j)));
  };
  auto softmax = [&](Value j, SmallVector<Value> s,
                     SmallVector<Value> &m, SmallVector<Value> &l) {
    s = finishScores(s);
    release(EmptyK, j);
    Value n0 = mul(j, bn);
    s = emitMask(n0, emitScoreMods(n0, s));
    SmallVector<Value> alpha = emitSoftmaxStep(s, m, l);
    return std::make_pair(s, alpha);
  };
  // First block: O is still 0, so it needs no rescale.
  SmallVector<Value> s0 = scores(nBegin);
  passTurn();
  waitGroups(0);
  SmallVector<Value> p0 =
      packProbabilities(softmax(nBegin, s0, rowMax, rowSum).first);

  SmallVector<Value> loopInit(init.begin(), init.begin() + numO);
  loopInit.append(rowMax);
  loopInit.append(rowSum);
  loopInit.append(p0);
  auto loop = scf::ForOp::create(b, add(nBegin, 1), nEnd, cI32(1), loopInit);
  {
    OpBuilder::InsertionGuard loopGuard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    Value prev = arith::SubIOp::create(b, j, cI32(1));
    ValueRange iter = loop.getRegionIterArgs();
    auto slice = [&](int64_t from, int64_t n) {
      return SmallVector<Value>(iter.begin() + from, iter.begin() + from + n);
    };
    SmallVector<Value> acc = slice(0, numO);
    SmallVector<Value> m = slice(numO, numRows);
    SmallVector<Value> l = slice(numO + numRows, numRows);
    SmallVector<Value> probs = slice(numO + 2 * numRows, p0.size());
    SmallVector<Value> s = scores(j);
    acquire(FullV, prev);
    issuePV(probs, vTileOffset(ringStage(prev)), acc);
    passTurn();
    // S retires first (groups complete in order); P V stays in flight.
    waitGroups(1);
    auto [pj, alpha] = softmax(j, s, m, l);
    waitGroups(0);
    fenceOperands(acc);
    // The wgmma read P until it retired: keep those registers alive here.
    pinRegisters(probs);
    release(EmptyV, prev);
    rescaleAccumulators(acc, alpha);
    SmallVector<Value> yields(acc);
    yields.append(m);
    yields.append(l);
    yields.append(packProbabilities(pj));
    scf::YieldOp::create(b, yields);
  }
  ValueRange res = loop.getResults();
  SmallVector<Value> acc(res.begin(), res.begin() + numO);
  SmallVector<Value> probs(res.begin() + numO + 2 * numRows, res.end());
  Value last = arith::SubIOp::create(b, nEnd, cI32(1));
  acquire(FullV, last);
  takeTurn();
  issuePV(probs, vTileOffset(ringStage(last)), acc);
  passTurn();
  waitGroups(0);
  fenceOperands(acc);
  pinRegisters(probs);
  release(EmptyV, last);
  SmallVector<Value> yields(acc);
  yields.append(res.begin() + numO, res.begin() + numO + 2 * numRows);
  scf::YieldOp::create(b, yields);
  return SmallVector<Value>(ifOp.getResults());
}

LogicalResult HopperEmitter::emitConsumer() {
  NVVM::SetMaxRegisterOp::create(b, plan.consumerRegisters,
                                 NVVM::SetMaxRegisterAction::increase);
  if (!plan.persistentCtas) {
    emitConsumerTile();
    return success();
  }
  // The ping-pong turns run on across tiles: both consumers take as many
  // turns in each tile.
  consumer = arith::SubIOp::create(b, warpgroup, cI32(1));
  openTurns();
  if (failed(forEachTile([&] {
        emitConsumerTile();
        return success();
      })))
    return failure();
  closeTurns();
  return success();
}

// Consumer 1 opens consumer 0's first turn; consumer 0 absorbs consumer 1's
// last opening after the loop.
void HopperEmitter::ifConsumer(int64_t c, function_ref<void()> body) {
  scf::IfOp::create(b, cmp(arith::CmpIPredicate::eq, consumer, cI32(c)),
                    [&](OpBuilder &, Location) {
                      body();
                      scf::YieldOp::create(b);
                    });
}

void HopperEmitter::openTurns() {
  if (plan.pingPong)
    ifConsumer(1, [&] {
      NVVM::BarrierArriveOp::create(b, cI32(1), cI32(2 * kWarpgroupThreads));
    });
}

void HopperEmitter::closeTurns() {
  if (plan.pingPong)
    ifConsumer(0, [&] {
      NVVM::BarrierOp::create(b, Type(), cI32(1), cI32(2 * kWarpgroupThreads),
                              NVVM::BarrierReductionAttr(), Value());
    });
}

void HopperEmitter::emitConsumerTile() {
  if (!p.alibiSlopes.empty())
    negSlope = emitNegAlibiSlope(head);
  if (plan.qInSharedMemory) {
    NVVM::MBarrierTryWaitParityOp::create(b, barrier(FullQ, cI32(0)),
                                          qPhase(), cI32(0x989680));
    Value rows = mul(arith::SubIOp::create(b, warpgroup, cI32(1)),
                     64 * kPanelRowBytes);
    qTileDesc = descriptor(sharedAddress(add(add(base, qTileOffset()), rows)),
                           16, kAtomBytes);
  } else {
    loadQFragments();
  }

  if (!plan.persistentCtas) {
    consumer = arith::SubIOp::create(b, warpgroup, cI32(1));
    openTurns();
  }

  int64_t numO = numAccumulators(), numRows = numRowStats();
  SmallVector<Value> init(numO, cF32(0.0));
  init.append(numRows, cF32(-std::numeric_limits<double>::infinity())); // m
  init.append(numRows, cF32(0.0));                                       // l
  SmallVector<Value> results =
      plan.overlap ? emitOverlappedLoop(init) : emitSerialLoop(init);
  if (!plan.persistentCtas)
    closeTurns();
  // Every S of this tile has retired: the producer may load the next Q.
  if (recyclesQ())
    NVVM::MBarrierArriveOp::create(b, Type(), emptyQBarrier(), Value());
  emitEpilogue(results);
}

void HopperEmitter::emitEpilogue(ValueRange results) {
  // O / l straight from the accumulators: lane (g, t) holds 4 bytes of
  // columns 8 dt + 2t of rows g and g + 8 (the stores of a quad are one 16
  // byte piece of a row); LSE once per row.
  int64_t numO = numAccumulators(), numRows = numRowStats();
  for (int64_t half = 0; half < 2; ++half) {
    Value m = results[numO + half];
    Value l = results[numO + numRows + half];
    for (int64_t mask : FragmentLayout::rowReductionMasks())
      l = arith::AddFOp::create(b, l, shuffleXor(l, mask));
    // l == 0: every key of the row is masked; O is 0 and LSE is -inf.
    Value empty =
        arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, l, cF32(0.0));
    Value inv = sel(empty, cF32(0.0), arith::DivFOp::create(b, cF32(1.0), l));
    Value row = add(add(warpRow0, g), half * 8);
    Value rowValid = cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ));
    Value rowBytes = arith::AddIOp::create(
        b, oHeadBytes,
        toI64(add(mul(row, FragmentEmitter::rowBytes(p.output)), mul(t, 4))));
    auto store = [&]() {
      for (int64_t dt = 0; dt < dTiles(); ++dt) {
        int64_t base = oIndex(0, dt, 2 * half);
        Value packed =
            packHalf2(arith::MulFOp::create(b, results[base], inv),
                      arith::MulFOp::create(b, results[base + 1], inv));
        Value off = arith::AddIOp::create(b, rowBytes, cI64(dt * 16));
        LLVM::StoreOp::create(b, packed, gep(ptrGlobal, oPtr, off),
                              /*alignment=*/4);
      }
    };
    if (p.seqQ % plan.blockM == 0) {
      store();
    } else {
      scf::IfOp::create(b, rowValid, [&](OpBuilder &, Location) {
        store();
        scf::YieldOp::create(b);
      });
    }
    if (!lsePtr)
      continue;
    Value first = arith::AndIOp::create(
        b, rowValid, cmp(arith::CmpIPredicate::eq, t, cI32(0)));
    scf::IfOp::create(b, first, [&](OpBuilder &, Location) {
      // LSE = ln(sum exp(x)) = (m * c + log2(l)) * ln 2.
      Value log2Sum = fma(m, cF32(expScale), log2(l));
      Value lse = sel(empty, cF32(-std::numeric_limits<double>::infinity()),
                      arith::MulFOp::create(b, log2Sum, cF32(kLn2)));
      Value off = arith::AddIOp::create(
          b, arith::MulIOp::create(b, toI64(bh), cI64(p.seqQ * 4)),
          toI64(mul(row, 4)));
      LLVM::StoreOp::create(b, lse, gep(ptrGlobal, lsePtr, off),
                            /*alignment=*/4);
      scf::YieldOp::create(b);
    });
  }
}

LogicalResult HopperEmitter::emit() {
  // setmaxnreg takes effect only under a register cap at entry: one CTA of
  // `threads` per SM (ptxas: 64K / threads registers each).
  func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                b.getI32IntegerAttr(1));
  func->setAttr(NVVM::NVVMDialect::getMaxntidAttrName(),
                b.getDenseI32ArrayAttr(
                    {static_cast<int32_t>(plan.threads), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  if (failed(emitCoordinates()))
    return failure();
  if (!plan.persistentCtas)
    emitBlockRange();
  emitBarrierInit();
  // The producer's and the consumers' roles are the two branches of one
  // if/else (setmaxnreg is per warpgroup).
  Value isProducer = cmp(arith::CmpIPredicate::eq, warpgroup, cI32(0));
  LogicalResult status = success();
  scf::IfOp::create(
      b, isProducer,
      [&](OpBuilder &, Location) {
        status = emitProducer();
        scf::YieldOp::create(b);
      },
      [&](OpBuilder &, Location) {
        if (succeeded(status))
          status = emitConsumer();
        scf::YieldOp::create(b);
      });
  gpu::ReturnOp::create(b);
  return status;
}

static FailureOr<HopperPlan>
planHopperKernel(Operation *op, const KernelProblem &p,
                             const ConvertAttnToNVVMOptions &o,
                             bool emitErrors) {
  auto fail = [&](const Twine &msg) -> FailureOr<HopperPlan> {
    if (emitErrors)
      op->emitOpError(msg);
    return failure();
  };
  if (o.chip != "sm_90a")
    return fail("expected chip sm_90a for the hopper kernel (wgmma, "
                "setmaxnreg), got '" +
                o.chip + "'");
  if (p.withKeyLengths)
    return fail("expected no key_lengths operand on the hopper kernel (not "
                "supported yet)");
  if (p.keyView || p.valueView)
    return fail("expected contiguous K and V on the hopper kernel (KV cache "
                "views not supported yet)");
  if (p.withBias() || p.withOperandMasks() || p.withSinks)
    return fail("expected no bias, mask, mask_mod or sinks on the hopper "
                "kernel (not supported yet: kernel=prefill takes them, as "
                "kernel=auto does)");
  // Its tiles are 64-column panels of the 128B wgmma swizzle, O as wide as S.
  if ((p.headDim != 64 && p.headDim != 128) || p.valueHeadDim != p.headDim)
    return fail("expected D = Dv = 64 or 128 on the hopper kernel, got D = " +
                Twine(p.headDim) + ", Dv = " + Twine(p.valueHeadDim) +
                " (the prefill kernel takes it)");
  HopperPlan plan;
  // A consumer thread holds S (BN / 2), O (D / 2), Q (D / 4) and the packed
  // P (BN / 4) registers: at D = 128 and BN = 128 (about 187) more than the
  // 168 a thread has before setmaxnreg; that kernel relied on
  // setmaxnreg.inc and gave wrong results on an H200, so Q goes to shared
  // memory there instead (about 155).
  plan.blockN = o.hopperBlockN ? o.hopperBlockN : 128;
  if (plan.blockN != 64 && plan.blockN != 128)
    return fail("expected hopper-block-n of 0, 64 or 128, got " +
                Twine(plan.blockN));
  // Q in registers costs D / 4 of them: at D = 128 and block-n 128 Q is read
  // by wgmma from shared memory instead.
  plan.qInSharedMemory = hopperKeepsQInSharedMemory(p.headDim, plan.blockN);
  // The producer's Q copy needs more registers than 40 (ptxas spills).
  if (plan.qInSharedMemory) {
    plan.producerRegisters = 72;
    plan.consumerRegisters = 216;
  }
  plan.stages = o.hopperStages;
  // Ping-pong (measured on an H200, 2026-12-01, with hopper-overlap): +10%
  // at D = 64 non-causal, where the softmax costs as much as the GEMMs; at
  // D = 128 neutral to -6% (bench/NOTES.md), so auto is on at D = 64 only.
  if (o.hopperPingPong == "auto")
    plan.pingPong = p.headDim == 64;
  else if (o.hopperPingPong == "true" || o.hopperPingPong == "false")
    plan.pingPong = o.hopperPingPong == "true";
  else
    return fail("expected hopper-ping-pong of auto, true or false, got '" +
                o.hopperPingPong + "'");
  plan.overlap = o.hopperOverlap;
  if (o.hopperLoads != "tma" && o.hopperLoads != "cp-async")
    return fail("expected hopper-loads of tma or cp-async, got '" +
                o.hopperLoads + "'");
  plan.tma = o.hopperLoads == "tma";
  if (o.hopperPersistent < -1)
    return fail("expected hopper-persistent of -1 (auto), 0 (one CTA per "
                "tile) or a CTA count, got " +
                Twine(o.hopperPersistent));
  plan.numTiles = llvm::divideCeil(p.seqQ, plan.blockM) * p.batch * p.headsQ;
  // Auto (measured on an H200, 2026-12-01, bench/NOTES.md): num-sms CTAs
  // at D = 64 without a right bound, where a tile is cheap enough that the
  // exposed Q load, pipeline fill and epilogue of each CTA cost 3-8%;
  // elsewhere one CTA per tile.
  if (o.hopperPersistent == -1)
    plan.persistentCtas =
        p.headDim == 64 && !p.visibility.right ? o.numSMs : 0;
  else
    plan.persistentCtas = o.hopperPersistent;
  if (plan.persistentCtas && o.numSMs < 1)
    return fail("expected a positive num-sms, got " + Twine(o.numSMs));
  // A group's K and V (shared by Hq / Hkv query heads) within 24 MiB, half
  // of an H100 / H200's L2.
  int64_t kvBytesPerHead =
      std::max<int64_t>(1, 2 * p.seqK * p.headDim * 2 * p.headsKV / p.headsQ);
  plan.headsPerGroup = std::clamp<int64_t>((24 << 20) / kvBytesPerHead, 1,
                                           p.batch * p.headsQ);
  if (plan.stages < 2 || plan.stages > 4)
    return fail("expected hopper-stages of 2 to 4, got " + Twine(plan.stages));
  // K and V tiles per stage, 1024 bytes to align the first, the full and
  // empty mbarriers of every stage's K and V, and Q's full mbarrier (and
  // empty one where a persistent CTA reuses the Q tile; the size the tile
  // model uses too).
  bool recyclesQ = plan.qInSharedMemory && plan.persistentCtas;
  plan.sharedMemoryBytes = getHopperSharedMemoryBytes(
      p.headDim, plan.blockM, plan.blockN, plan.stages, recyclesQ);
  if (plan.sharedMemoryBytes > 227 * 1024)
    return fail("expected the hopper kernel's shared memory to fit 227 KiB, "
                "got " +
                Twine(plan.sharedMemoryBytes) + " bytes");
  return plan;
}

//===----------------------------------------------------------------------===//
// The family
//===----------------------------------------------------------------------===//

namespace {

class HopperFamily : public KernelFamily {
public:
  explicit HopperFamily(const ConvertAttnToNVVMOptions &options)
      : options(options) {}

  FailureOr<LaunchPlan> plan(Operation *op,
                             const KernelProblem &problem) override {
    FailureOr<HopperPlan> planned = planHopperKernel(op, problem, options);
    if (failed(planned))
      return failure();
    hopper = *planned;
    LaunchPlan plan = queryBlockLaunch("hopper", problem, hopper.blockM,
                                       hopper.blockN, hopper.threads);
    if (hopper.persistentCtas) {
      plan.grid = {std::min(hopper.persistentCtas, hopper.numTiles), 1, 1};
      plan.desc.gridFormula =
          "[min(hopper_persistent, ceil(Lq / block_m) * B * Hq), 1, 1]";
    }
    plan.desc.sharedMemoryBytes = hopper.sharedMemoryBytes;
    plan.desc.stages = hopper.stages;
    plan.desc.numWarps = hopper.threads / 32;
    return plan;
  }

  LogicalResult collectArguments(const TiledProgram &program,
                                 const KernelProblem &problem,
                                 KernelArgumentList &list) override {
    // As the prefill kernel's: Q, K, V, O[, LSE]; then the tensor maps.
    if (failed(addAttentionArguments(program, problem, /*dedupe=*/false, list,
                                     args)))
      return failure();
    if (!hopper.tma)
      return success();
    maps.key = addTensorMap(list, args.keyStorage.front(), bn(), problem);
    maps.value = addTensorMap(list, args.valueStorage.front(), bn(), problem);
    if (hopper.qInSharedMemory)
      maps.query = addTensorMap(list, args.query, hopper.blockM, problem);
    return success();
  }

  LogicalResult emit(gpu::GPUFuncOp func, const KernelProblem &problem,
                     const TiledProgram &program) override {
    return HopperEmitter(func, problem, hopper, args, maps, program).emit();
  }

private:
  int64_t bn() const { return hopper.blockN; }
  /// Adds the tensor map of argument `source` (a [B, H, L, D] or
  /// [B, L, H, D] operand): boxes of `rows` rows by one 64-column panel,
  /// the 128-byte swizzle the wgmma descriptors read.
  int64_t addTensorMap(KernelArgumentList &list, int64_t source, int64_t rows,
                       const KernelProblem &problem) {
    SmallVector<int64_t> box = {1, 1, 1, kPanelRowBytes / 2};
    box[problem.layout == Layout::BHSD ? 2 : 1] = rows;
    Value memref = list.values[source];
    std::string name = list.names[source];
    int64_t i = list.add(memref, name + "_tensor_map", ArgumentRole::TensorMap,
                         /*dedupe=*/false);
    list.tensorMaps[i] = TensorMapAttr::get(memref.getContext(), name, box,
                                            /*swizzle=*/kPanelRowBytes);
    return i;
  }

  const ConvertAttnToNVVMOptions &options;
  HopperPlan hopper;
  AttentionArguments args;
  HopperTensorMaps maps;
};

} // namespace

std::unique_ptr<KernelFamily>
mlir::attn::detail::createHopperFamily(const ConvertAttnToNVVMOptions &options) {
  return std::make_unique<HopperFamily>(options);
}

bool mlir::attn::detail::hopperFamilySupports(
    Operation *op, const KernelProblem &problem,
    const ConvertAttnToNVVMOptions &options) {
  return succeeded(planHopperKernel(op, problem, options,
                                    /*emitErrors=*/false));
}
