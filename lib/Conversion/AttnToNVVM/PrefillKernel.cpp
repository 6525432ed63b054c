//===- PrefillKernel.cpp - the FlashAttention-2 prefill kernel family -----===//
//
// Part of attn-mlir. The mma.sync prefill family (KernelFamily.h): plans and
// emits one prefill attention kernel. A CTA is one program of the tiled IR
// (TiledProgram.h): BM query rows of one (batch, head), its warps 16 or 32
// rows each; it walks the program's KV blocks (the tiled KV loops, fused
// into one double-buffered cp.async pipeline), evaluating the mask only
// outside the program's interior range; only that loop is an scf.for,
// carrying O, the row max m and the row sum l. The fragment-level pieces
// live in FragmentEmitter.
//
// Chunked prefill: with a key_lengths operand, sequence b has len_b keys
// (read once per CTA, clamped to [0, Lk]); len_b bounds the KV blocks, masks
// the tail, and replaces Lk in the bottom-right diagonal (len_b - Lq) and the
// ALiBi distance. K/V rows of KV cache views are addressed through the view's
// hook (KVCacheViewInterface::buildRowOffset), once per row copied. Without
// either, the kernel is the static one: every bound is a constant.
//
//===----------------------------------------------------------------------===//

#include "FragmentEmitter.h"
#include "KernelFamily.h"

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

namespace {

constexpr int64_t kStages = kPrefillStages;

/// The tiles a prefill kernel is planned with (the options, block-m capped
/// by the register budget of wide heads, see planPrefillTiles).
struct PrefillTiles {
  int64_t blockM, blockN, numWarps;
  /// Shared-memory bytes of the Q tile (also where O is staged) and of one
  /// K and one V tile: rows padded as sharedRowBytes.
  int64_t qTileBytes, kTileBytes, vTileBytes;
  /// Staged bias and mask tiles (block-m x block-n elements each, one
  /// stage: each warp refills its own rows), 0 where not staged.
  int64_t biasTileBytes = 0, maskTileBytes = 0;
  int64_t sharedMemoryBytes() const {
    return PrefillSharedMemory{qTileBytes, kTileBytes, vTileBytes}.total() +
           biasTileBytes + maskTileBytes;
  }
};

class PrefillEmitter : public FragmentEmitter {
public:
  PrefillEmitter(gpu::GPUFuncOp func, const KernelProblem &p,
                 const PrefillTiles &tiles, const AttentionArguments &args,
                 const TiledProgram &program)
      : FragmentEmitter(func, p, tiles.blockM / tiles.numWarps / 16,
                        tiles.blockN),
        args(args), program(program), bm(tiles.blockM),
        warps(tiles.numWarps) {
    threads = 32 * warps;
    // O / l is staged through each warp's own Q rows: one row stride for
    // both keeps a warp's O rows inside its Q rows (Dv != D).
    qSmemRowBytes = std::max(smemRowBytes, vSmemRowBytes);
    qTileBytes = tiles.qTileBytes;
    kTileBytes = tiles.kTileBytes;
    vTileBytes = tiles.vTileBytes;
    biasTileBytes = tiles.biasTileBytes;
    maskTileBytes = tiles.maskTileBytes;
  }

  LogicalResult emit();

private:
  Value arg(int64_t i) { return func.getBody().front().getArgument(i); }
  /// This sequence's keys: len_b with key_lengths, else Lk (the kernel's
  /// runtime Lk where it is dynamic).
  Value keyLength() {
    return length ? length : seqK ? seqK : cI32(p.seqK);
  }
  /// Lq: the runtime length where it is dynamic.
  Value queryLength() { return seqQ ? seqQ : cI32(p.seqQ); }
  /// Whether Lq may end inside a query block (keys: inside a KV block).
  bool queryTail() const { return seqQ || p.seqQ % bm != 0; }
  bool keyTail() const { return length || seqK || p.seqK % bn != 0; }
  /// Byte offset of row 0 of head `bh` in a tensor of `rowBytes` rows:
  /// bh * L * rowBytes, L the static `len` or the runtime `runtime`.
  Value runtimeHeadByteOffset(Value bh, int64_t len, Value runtime,
                              int64_t rowBytes) {
    if (!runtime)
      return arith::MulIOp::create(b, toI64(bh), cI64(len * rowBytes));
    return arith::MulIOp::create(
        b, toI64(bh), arith::MulIOp::create(b, toI64(runtime), cI64(rowBytes)));
  }

  /// The rows of Q and K (D wide) or of V and O (Dv wide): 16-byte chunks
  /// per row, bytes per row in global and in shared memory.
  struct RowShape {
    int64_t chunks, globalBytes, sharedBytes;
  };
  RowShape queryRows() const {
    return {d / 8, rowBytes(p.query), qSmemRowBytes};
  }
  RowShape keyRows() const { return {d / 8, rowBytes(p.key), smemRowBytes}; }
  RowShape valueRows() const {
    return {dv / 8, rowBytes(p.value), vSmemRowBytes};
  }
  /// Copies rows [firstRow, firstRow + rows) of one head (its row 0 at
  /// `headBytes`) into the tile at `tile` with 16-byte cp.async; rows at or
  /// past `rowLimit` (the runtime `runtimeLimit` where given) are
  /// zero-filled (source size 0).
  void copyTile(Value gptr, Value headBytes, Value firstRow, int64_t rows,
                int64_t rowLimit, Value tile, RowShape shape,
                Value runtimeLimit = {});
  /// Where this thread's rows of a K or V tile start in global memory (i64
  /// bytes, one per copy pass), and the cp.async source size (null: 16).
  struct KVRowAddress {
    Value rowBytes, srcSize;
  };
  SmallVector<KVRowAddress> kvRowAddresses(bool isValue, Value n0);
  /// Copies the K (or V) block at key `n0` into the tile at `tile`; keys at
  /// or past len_b (or Lk) are zero-filled. `rows`, when given, are
  /// kvRowAddresses of this block computed once for K and V (where both
  /// address rows alike); otherwise they are computed here.
  void copyKVTile(bool isValue, Value n0, Value tile,
                  ArrayRef<KVRowAddress> rows = {});
  // Shared-memory layout: the Q tile, then two stages of K, then of V.
  Value kTileOffset(Value stage) {
    return add(mul(stage, kTileBytes), qTileBytes);
  }
  Value vTileOffset(Value stage) {
    return add(mul(stage, vTileBytes), qTileBytes + kStages * kTileBytes);
  }

  // The phases of the kernel, in program order.
  /// Thread/block coordinates (the program's), global pointers and lane
  /// address parts.
  LogicalResult emitCoordinates();
  /// Where V rows start when Dv != D (V rows are narrower or wider than K's).
  void emitValueHeadOffset();
  /// len_b, the runtime diagonal and ALiBi offset (with key_lengths only).
  void emitSequenceBounds();
  /// [nBegin, nEnd): the program's KV blocks.
  void emitBlockRange();
  /// First cp.async groups; Q fragments to registers where they fit.
  void emitPrologue();
  /// The loop over KV blocks carrying O, m and l.
  scf::ForOp emitKVLoop();
  /// The staged bias / mask tiles of this warp (stagedBias, stagedMask),
  /// where planned.
  void emitScoreTiles();
  /// Issues the staged tiles' copies of the block at key `n0` (no commit).
  void copyScoreTiles(Value n0);
  bool stagesScoreTiles() const { return stagedBias || stagedMask; }
  /// S, the modifiers, the masks and the online softmax of the block at key
  /// `n0` in the K tile `kTile`: returns P and updates m, l and O.
  SmallVector<Value> emitScoreBlock(Value n0, Value kTile,
                                    SmallVector<Value> &rowMax,
                                    SmallVector<Value> &rowSum,
                                    SmallVector<Value> &acc, Value mixed);
  /// ALiBi, then the score_mod region, on natural-unit scores of the block
  /// at key `n0` (identity when the op has neither).
  SmallVector<Value> emitScoreMods(Value n0, ArrayRef<Value> s);
  /// -inf where masked, evaluated only on boundary and tail blocks.
  SmallVector<Value> emitMask(Value n0, ArrayRef<Value> s);
  /// O / l (staged through shared memory) and LSE to global memory.
  void emitEpilogue(ValueRange results);

  const AttentionArguments &args;
  const TiledProgram &program;
  /// The program's coordinates and bounds (index values).
  ProgramCoordinates coords;
  int64_t bm, warps;
  int64_t threads, qTileBytes, kTileBytes, vTileBytes;
  int64_t biasTileBytes, maskTileBytes;

  // Per-CTA values set up by emitCoordinates / emitBlockRange.
  Value bh, batch, head, kvHead, m0, warpRow0, qHeadBytes, kvHeadBytes;
  /// Byte offset of this (batch, KV head)'s row 0 in V (kvHeadBytes when
  /// Dv = D).
  Value vHeadBytes;
  /// With key_lengths: len_b (i32, in [0, Lk]) and the ALiBi offset
  /// len_b - Lq (null without ALiBi). Null without key_lengths: Lk and the
  /// static offsets apply.
  Value length, alibiOffset;
  /// The runtime Lq and Lk (i32 kernel arguments) of dynamic dims; null
  /// where the length is static.
  Value seqQ, seqK;
  /// The diagonal of this sequence's mask (KeyVisibility::diagonal).
  Value diag;
  /// The kernel arguments of K's and V's storage (the memref, or the view's
  /// getStorage()).
  SmallVector<Value> keyStorage, valueStorage;
  /// K and V rows sit at the same offsets of their buffers (contiguous, or
  /// twin views over one block table).
  bool sameRowOffsets = true;
  /// The CTA's batch and query head as index values (score_mod arguments),
  /// and -slope[h] (ALiBi); null when unused.
  Value batchIndex, headIndex, negSlope;
  /// sinks[hg] * log2(e), with sinks (FragmentEmitter::foldSink).
  Value sinkLog2;
  Value qPtr, kPtr, vPtr, oPtr, lsePtr;
  Value nBegin, nEnd;
  /// Keys [interiorBegin, interiorEnd) need no mask (i32).
  Value interiorBegin, interiorEnd;
};

} // namespace

void PrefillEmitter::copyTile(Value gptr, Value headBytes, Value firstRow,
                              int64_t rows, int64_t rowLimit, Value tile,
                              RowShape shape, Value runtimeLimit) {
  // Consecutive threads copy consecutive 16-byte chunks of a row
  // (planTileCopy).
  SmallVector<CopyPass> passes =
      planTileCopy(tid, threads, rows, shape.chunks, shape.sharedBytes);
  bool needsCheck = runtimeLimit || rowLimit % rows != 0;
  for (const CopyPass &pass : passes) {
    ifValid(pass.valid, [&]() {
      Value row = add(add(firstRow, pass.rowBase), pass.rowDelta);
      Value srcSize;
      if (needsCheck) {
        Value valid = cmp(arith::CmpIPredicate::slt, row,
                          runtimeLimit ? runtimeLimit : cI32(rowLimit));
        row = sel(valid, row, cI32(0));
        srcSize = sel(valid, cI32(16), cI32(0));
      }
      Value byteOffset = arith::AddIOp::create(
          b, headBytes,
          toI64(add(mul(row, shape.globalBytes), mul(pass.chunk, 16))));
      Value src = gep(ptrGlobal, gptr, byteOffset);
      Value dst =
          gep(ptrShared, tile, copyDestination(pass, shape.sharedBytes));
      NVVM::CpAsyncOp::create(b, dst, src, 16, NVVM::LoadCacheModifierKind::CG,
                              srcSize);
    });
  }
}

SmallVector<PrefillEmitter::KVRowAddress>
PrefillEmitter::kvRowAddresses(bool isValue, Value n0) {
  // The rows copyTile's thread mapping (planTileCopy) gives this thread.
  RowShape shape = isValue ? valueRows() : keyRows();
  SmallVector<CopyPass> passes =
      planTileCopy(tid, threads, bn, shape.chunks, shape.sharedBytes);
  bool needsCheck = keyTail();
  Value limit = keyLength();
  SmallVector<KVRowAddress> out;
  for (const CopyPass &pass : passes) {
    Value row = add(add(n0, pass.rowBase), pass.rowDelta);
    // Items past the tile (a partial last pass) copy nothing, but a view's
    // hook would still index its table with their row: give them row n0.
    if (pass.valid)
      row = sel(pass.valid, row, n0);
    Value srcSize;
    if (needsCheck) {
      // Keys at or past len_b are masked, but V rows meet P = 0 in the mma:
      // zero-fill them (a stale cache row may hold NaN). Their address is
      // row 0's, inside the view (its hook takes rows in [0, Lk)) and, for
      // any block the loop visits (n0 < len_b), a row of the sequence.
      Value valid = cmp(arith::CmpIPredicate::slt, row, limit);
      row = sel(valid, row, cI32(0));
      srcSize = sel(valid, cI32(16), cI32(0));
    }
    Value rowBytes =
        p.keyView
            ? viewRowByteOffset(isValue ? p.valueView : p.keyView,
                                isValue ? valueStorage : keyStorage, batch,
                                kvHead, row)
            : arith::AddIOp::create(b, isValue ? vHeadBytes : kvHeadBytes,
                                    toI64(mul(row, shape.globalBytes)))
                  .getResult();
    out.push_back({rowBytes, srcSize});
  }
  return out;
}

void PrefillEmitter::copyKVTile(bool isValue, Value n0, Value tile,
                                ArrayRef<KVRowAddress> rows) {
  Value gptr = isValue ? vPtr : kPtr;
  RowShape shape = isValue ? valueRows() : keyRows();
  if (!length && !p.keyView) {
    copyTile(gptr, isValue ? vHeadBytes : kvHeadBytes, n0, bn, p.seqK, tile,
             shape, seqK);
    return;
  }
  SmallVector<KVRowAddress> addresses(rows);
  if (addresses.empty())
    addresses = kvRowAddresses(isValue, n0);
  SmallVector<CopyPass> passes =
      planTileCopy(tid, threads, bn, shape.chunks, shape.sharedBytes);
  // With one chunk for every pass, its byte offset is computed once.
  Value chunkBytes = toI64(mul(passes.front().chunk, 16));
  for (auto [i, pass] : llvm::enumerate(passes)) {
    const KVRowAddress &row = addresses[i];
    ifValid(pass.valid, [&, &pass = pass]() {
      Value bytes = pass.chunk == passes.front().chunk
                        ? chunkBytes
                        : toI64(mul(pass.chunk, 16));
      Value src =
          gep(ptrGlobal, gptr, arith::AddIOp::create(b, row.rowBytes, bytes));
      Value dst =
          gep(ptrShared, tile, copyDestination(pass, shape.sharedBytes));
      NVVM::CpAsyncOp::create(b, dst, src, 16, NVVM::LoadCacheModifierKind::CG,
                              row.srcSize);
    });
  }
}

LogicalResult PrefillEmitter::emitCoordinates() {
  auto idx32 = [&](Value v) -> Value {
    return arith::IndexCastUIOp::create(b, i32, v);
  };
  emitLaneCoordinates();
  RuntimeLengths lengths;
  if (args.batchLength)
    lengths.batch = arg(*args.batchLength);
  if (args.seqQLength)
    lengths.seqQ = seqQ = arg(*args.seqQLength);
  if (args.seqKLength)
    lengths.seqK = seqK = arg(*args.seqKLength);
  // The program (b, h, query block) of this CTA.
  FailureOr<ProgramCoordinates> planned = emitQueryBlockProgram(
      program, bm, args.keyLengths ? arg(*args.keyLengths) : Value(),
      lengths);
  if (failed(planned))
    return failure();
  coords = *planned;
  batch = idx32(coords.batch);
  head = idx32(coords.head0);
  kvHead = idx32(coords.kvHead);
  bh = add(mul(batch, p.headsQ), head);
  Value kvBh = add(mul(batch, p.headsKV), kvHead);
  if (p.scoreMod || p.maskMod) {
    batchIndex = arith::IndexCastUIOp::create(b, b.getIndexType(), batch);
    headIndex = arith::IndexCastUIOp::create(b, b.getIndexType(),
                                             add(head, p.headOffset));
  }
  operandBatch = batch;
  operandHead = head;
  setScoreOperands(args.bias ? arg(*args.bias) : Value(),
                   args.mask ? arg(*args.mask) : Value(),
                   args.sinks ? arg(*args.sinks) : Value());
  emitScoreTiles();
  maskModPerBlock = p.maskMod && isMaskModIntervalEvaluable(*p.maskMod);
  if (p.withSinks)
    sinkLog2 = loadSinkLog2(add(head, p.headOffset));
  if (!p.alibiSlopes.empty())
    negSlope = emitNegAlibiSlope(head);
  // Byte offsets of row 0 of this (batch, head) in Q/O and in K/V (i64: a
  // tensor may exceed 2 GiB); views address K/V rows through their hook.
  // Runtime lengths (dense BHSD): a head's rows are L rows apart, L the
  // runtime one; otherwise the operand's strides.
  qHeadBytes = ShapedType::isDynamic(p.query.head)
                   ? runtimeHeadByteOffset(bh, p.seqQ, seqQ, tileRowBytes)
                   : headByteOffset(p.query, p.headsQ, batch, head, bh);
  if (!p.keyView)
    kvHeadBytes = ShapedType::isDynamic(p.key.head)
                      ? runtimeHeadByteOffset(kvBh, p.seqK, seqK, tileRowBytes)
                      : headByteOffset(p.key, p.headsKV, batch, kvHead, kvBh);
  m0 = idx32(coords.q0);
  warpRow0 = add(m0, mul(warp, bm / warps));

  for (int64_t i : args.keyStorage)
    keyStorage.push_back(arg(i));
  for (int64_t i : args.valueStorage)
    valueStorage.push_back(arg(i));
  if (p.keyView)
    sameRowOffsets = viewsShareRowOffsets(p.keyView, p.valueView);
  qPtr = pointerOf(arg(args.query), ptrGlobal);
  kPtr = pointerOf(keyStorage.front(), ptrGlobal);
  vPtr = pointerOf(valueStorage.front(), ptrGlobal);
  oPtr = pointerOf(arg(args.output), ptrGlobal);
  if (args.lse)
    lsePtr = pointerOf(arg(*args.lse), ptrGlobal);

  // Q is read as A fragments: matrices 1, 3 are rows 8-15, 2, 3 chunks +1.
  Value matrix = shr(lane, 3);
  Value lo8 = mul(andI(matrix, 1), 8);
  qLane = laneOffset(
      mul(add(add(mul(warp, bm / warps), r8), lo8), qSmemRowBytes),
      shr(matrix, 1));
  return success();
}

void PrefillEmitter::emitValueHeadOffset() {
  vHeadBytes = kvHeadBytes;
  if (dv == d && p.value == p.key)
    return;
  // V's rows are Dv wide or strided otherwise: neither its head offset nor
  // its row offsets are K's.
  sameRowOffsets = false;
  if (p.keyView)
    return;
  Value kvBh = add(mul(batch, p.headsKV), kvHead);
  vHeadBytes = ShapedType::isDynamic(p.value.head)
                   ? runtimeHeadByteOffset(kvBh, p.seqK, seqK, valueRowBytes)
                   : headByteOffset(p.value, p.headsKV, batch, kvHead, kvBh);
}

void PrefillEmitter::emitSequenceBounds() {
  IntArith a(b, b.getLoc(), i32);
  if (args.keyLengths) {
    // The program's len_b, clamped to [0, Lk] so that a bad length cannot
    // address outside K and V.
    length = arith::IndexCastOp::create(b, i32, coords.keyLength);
    if (negSlope)
      alibiOffset = arith::SubIOp::create(b, length, queryLength());
  } else if (negSlope && (seqQ || seqK)) {
    // Runtime lengths: the ALiBi offset Lk - Lq is no constant either.
    alibiOffset = arith::SubIOp::create(b, keyLength(), queryLength());
  }
  diag = p.visibility.diagonal(a, queryLength(), keyLength());
}

void PrefillEmitter::emitBlockRange() {
  // The program's KV loops: blocks wholly outside the mask for every row of
  // this Q block are not among them, and only blocks outside its interior
  // evaluate the mask. The range may be empty (a Q block that sees no key):
  // the loop is skipped and the epilogue writes O = 0, LSE = -inf.
  auto i32Of = [&](Value v) { return arith::IndexCastOp::create(b, i32, v); };
  IntArith a(b, b.getLoc(), i32);
  nBegin = a.floorDiv(i32Of(coords.begin), bn);
  nEnd = a.ceilDiv(i32Of(coords.end), bn);
  interiorBegin = i32Of(coords.interiorBegin);
  interiorEnd = i32Of(coords.interiorEnd);
  // Padding rows past Lq may count: a wider range is still sound.
  if (maskModPerBlock)
    emitMaskModBlockRange(nBegin, nEnd, m0, add(m0, bm - 1), batchIndex,
                          headIndex);
}

void PrefillEmitter::emitScoreTiles() {
  // After the Q tile and the K and V stages; each warp owns rows x bn
  // elements of each tile.
  int64_t rows = bm / warps;
  int64_t offset = qTileBytes + kStages * (kTileBytes + vTileBytes);
  if (biasTileBytes) {
    int64_t warpBytes = rows * scoreTileRowStride(bn, p.biasBytes);
    stagedBias = makeScoreTile(biasPtr, p.biasShape, p.biasBytes, batch, head,
                               add(mul(warp, warpBytes), offset));
    offset += biasTileBytes;
  }
  if (maskTileBytes)
    stagedMask =
        makeScoreTile(maskPtr, p.maskShape, 1, batch, head,
                      add(mul(warp, rows * scoreTileRowStride(bn, 1)), offset));
}

void PrefillEmitter::copyScoreTiles(Value n0) {
  for (const std::optional<ScoreTile> &tile : {stagedBias, stagedMask})
    if (tile)
      copyScoreTile(*tile, warpRow0, n0, bm / warps);
}

void PrefillEmitter::emitPrologue() {
  // Q and K[nBegin] in one cp.async group, V[nBegin] in the next.
  Value hasWork = cmp(arith::CmpIPredicate::slt, nBegin, nEnd);
  scf::IfOp::create(b, hasWork, [&](OpBuilder &, Location) {
    copyTile(qPtr, qHeadBytes, m0, bm, p.seqQ, tileAt(cI32(0)), queryRows(),
             seqQ);
    Value n0 = mul(nBegin, bn);
    // K and V rows of one block: one address computation serves both where
    // they sit alike (the hook's table loads, once).
    SmallVector<KVRowAddress> rows;
    if ((length || p.keyView) && sameRowOffsets)
      rows = kvRowAddresses(/*isValue=*/false, n0);
    copyKVTile(/*isValue=*/false, n0, tileAt(kTileOffset(cI32(0))), rows);
    NVVM::CpAsyncCommitGroupOp::create(b);
    // The staged bias / mask of a block: a group between its K and V.
    if (stagesScoreTiles()) {
      copyScoreTiles(n0);
      NVVM::CpAsyncCommitGroupOp::create(b);
    }
    copyKVTile(/*isValue=*/true, n0, tileAt(vTileOffset(cI32(0))), rows);
    NVVM::CpAsyncCommitGroupOp::create(b);
    scf::YieldOp::create(b);
  });

  // Q stays in registers when its fragments are few (one m16 tile per warp
  // and D <= 128, or two and D <= 64) and leave O room (D = 64, Dv = 128 on
  // two m16 tiles spills); otherwise it is re-read from shared memory per
  // KV block, as FlashAttention-2 does, to leave registers to O.
  int64_t qRegisters = mTiles * kSteps() * 4;
  if (qRegisters > 32 || qRegisters + numAccumulators() > 96)
    return;
  NVVM::CpAsyncWaitGroupOp::create(b, stagesScoreTiles() ? 2 : 1);
  gpu::BarrierOp::create(b);
  SmallVector<SmallVector<Value>> regs;
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t kk = 0; kk < kSteps(); ++kk)
      regs.push_back(loadQ(mt, kk));
  qRegs = std::move(regs);
}

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
        Value off = arith::AddIOp::create(
            b, runtimeHeadByteOffset(bh, p.seqQ, seqQ, 4), toI64(mul(row, 4)));
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

LogicalResult PrefillEmitter::emit() {
  b.setInsertionPointToStart(&func.getBody().front());
  if (failed(emitCoordinates()))
    return failure();
  emitValueHeadOffset();
  emitSequenceBounds();
  emitBlockRange();
  emitPrologue();
  scf::ForOp loop = emitKVLoop();
  b.setInsertionPointAfter(loop);
  emitEpilogue(loop.getResults());
  gpu::ReturnOp::create(b);
  return success();
}

//===----------------------------------------------------------------------===//
// The family
//===----------------------------------------------------------------------===//

namespace {

/// Checks of the prefill kernel's tile options.
LogicalResult checkPrefillOptions(Operation *op, const KernelProblem &p,
                                  const ConvertAttnToNVVMOptions &o) {
  auto fail = [&](const Twine &msg) { return op->emitOpError(msg); };
  for (Operation *view : {p.keyView, p.valueView})
    if (view && cast<KVCacheViewInterface>(view).getNumRowStorages() > 1)
      return op->emitOpError("expected K/V views whose rows come from one "
                            "buffer on the prefill kernel, got ")
             << view->getName()
             << " (the decode kernel, Hq / Hkv * Lq <= 16, reads it)";
  if (o.blockN != 32 && o.blockN != 64 && o.blockN != 128)
    return fail("expected block-n of 32, 64 or 128, got " + Twine(o.blockN));
  if (o.blockM % (16 * o.numWarps) != 0 || o.blockM > 32 * o.numWarps)
    return fail("expected block-m to be 16 or 32 rows per warp, got " +
                Twine(o.blockM) + " for " + Twine(o.numWarps) + " warps");
  return success();
}

/// The tiles of `p` under the options. A warp of 32 rows holds Dv / 2 f32 O
/// accumulators per thread beside bn / 2 of S, and re-reads 2 x 4 Q
/// registers per k16 step: past D or Dv = 128 that spills (ptxas: 40-130
/// bytes at D = 192, Dv = 128; none at 16 rows), so wide heads get 16 rows
/// per warp (block-m = 16 * num-warps) whatever block-m asks for.
FailureOr<PrefillTiles> planPrefillTiles(Operation *op, const KernelProblem &p,
                                         const ConvertAttnToNVVMOptions &o) {
  PrefillTiles tiles;
  tiles.numWarps = o.numWarps;
  tiles.blockN = o.blockN;
  tiles.blockM = o.blockM;
  if (std::max(p.headDim, p.valueHeadDim) > 128)
    tiles.blockM = std::min<int64_t>(tiles.blockM, 16 * o.numWarps);
  // The one statement of the layout's size, shared with the tile model.
  PrefillSharedMemory layout = getPrefillSharedMemory(
      p.headDim, p.valueHeadDim, tiles.blockM, tiles.blockN);
  tiles.qTileBytes = layout.qTileBytes;
  tiles.kTileBytes = layout.kTileBytes;
  tiles.vTileBytes = layout.vTileBytes;
  // Bias and mask tiles are staged where they fit beside K and V (else
  // they are read from global memory, as broadcast ones are), except for
  // warps of 32 rows at D or Dv >= 128, whose S, O and Q fragments fill the
  // register file already (ptxas, D = 128, block-m 128, block-n 64, no
  // mask: 116 bytes of spills staged, none from global memory; at block-m
  // 64 or D = 64 staging spills less than the global loads).
  bool roomy = tiles.blockM / tiles.numWarps == 16 ||
               std::max(p.headDim, p.valueHeadDim) < 128;
  if (roomy && canStageScoreTile(p, tiles.blockN, p.biasShape, p.biasBytes))
    tiles.biasTileBytes =
        tiles.blockM * scoreTileRowStride(tiles.blockN, p.biasBytes);
  if (roomy && canStageScoreTile(p, tiles.blockN, p.maskShape, 1))
    tiles.maskTileBytes = tiles.blockM * scoreTileRowStride(tiles.blockN, 1);
  if (tiles.sharedMemoryBytes() > 227 * 1024)
    tiles.biasTileBytes = tiles.maskTileBytes = 0;
  // 227 KiB of shared memory per CTA on sm_90 (the largest chip the
  // mma.sync kernels target).
  if (tiles.sharedMemoryBytes() > 227 * 1024)
    return op->emitOpError("expected the prefill kernel's shared memory (")
           << tiles.sharedMemoryBytes() << " bytes for D = " << p.headDim
           << ", Dv = " << p.valueHeadDim << ", block-m " << tiles.blockM
           << ", block-n " << tiles.blockN
           << ") to fit 227 KiB; use a smaller block-n or block-m";
  return tiles;
}


class PrefillFamily : public KernelFamily {
public:
  explicit PrefillFamily(const ConvertAttnToNVVMOptions &options)
      : options(options) {}

  FailureOr<LaunchPlan> plan(Operation *op,
                             const KernelProblem &problem) override {
    if (failed(checkPrefillOptions(op, problem, options)))
      return failure();
    FailureOr<PrefillTiles> planned = planPrefillTiles(op, problem, options);
    if (failed(planned))
      return failure();
    tiles = *planned;
    LaunchPlan plan = queryBlockLaunch("prefill", problem, tiles.blockM,
                                       tiles.blockN, 32 * tiles.numWarps);
    // The Q tile plus kStages stages each of K and V.
    plan.desc.sharedMemoryBytes = tiles.sharedMemoryBytes();
    plan.desc.numWarps = tiles.numWarps;
    return plan;
  }

  LogicalResult collectArguments(const TiledProgram &program,
                                 const KernelProblem &problem,
                                 KernelArgumentList &list) override {
    // Q, K storage, V storage, [key_lengths], O[, LSE]. A plain Q, K or V is
    // passed once each even where a test passes one memref as all three;
    // views pass their storage (a block table shared by K and V once).
    return addAttentionArguments(program, problem, /*dedupe=*/false, list,
                                 args);
  }

  LogicalResult emit(gpu::GPUFuncOp func, const KernelProblem &problem,
                     const TiledProgram &program) override {
    return PrefillEmitter(func, problem, tiles, args, program).emit();
  }

private:
  const ConvertAttnToNVVMOptions &options;
  PrefillTiles tiles;
  AttentionArguments args;
};

} // namespace

std::unique_ptr<KernelFamily>
mlir::attn::detail::createPrefillFamily(const ConvertAttnToNVVMOptions &options) {
  return std::make_unique<PrefillFamily>(options);
}
