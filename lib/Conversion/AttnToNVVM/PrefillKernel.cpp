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

void PrefillEmitter::copyTile(Value gptr, Value headBytes, Value firstRow,
                              int64_t rows, int64_t rowLimit, Value tile,
                              RowShape shape, Value runtimeLimit) {
  // Consecutive threads copy consecutive 16-byte chunks of a row
  // (planTileCopy).
  SmallVector<CopyPass> passes =
      planTileCopy(tid, threads, rows, shape.chunks, shape.sharedBytes);
  Value limit = runtimeLimit ? runtimeLimit : cI32(rowLimit);
  auto emitCopies = [&](bool checkRows) {
    for (const CopyPass &pass : passes) {
      ifValid(pass.valid, [&]() {
        Value row = add(add(firstRow, pass.rowBase), pass.rowDelta);
        Value srcSize;
        if (checkRows) {
          Value valid = cmp(arith::CmpIPredicate::slt, row, limit);
          row = sel(valid, row, cI32(0));
          srcSize = sel(valid, cI32(16), cI32(0));
        }
        Value byteOffset = arith::AddIOp::create(
            b, headBytes,
            toI64(add(mul(row, shape.globalBytes), mul(pass.chunk, 16))));
        Value src = gep(ptrGlobal, gptr, byteOffset);
        Value dst =
            gep(ptrShared, tile, copyDestination(pass, shape.sharedBytes));
        NVVM::CpAsyncOp::create(b, dst, src, 16,
                                NVVM::LoadCacheModifierKind::CG, srcSize);
      });
    }
  };
  if (!runtimeLimit && rowLimit % rows == 0)
    return emitCopies(/*checkRows=*/false);
  // Only the last tile of a length can be partial. A CTA-uniform branch
  // gives every whole tile the unpredicated copies, whose addresses fold to
  // constant offsets; per-row checks in every tile cost a runtime-length
  // kernel ~60 instructions per K/V block, 4-5% of a 4k prefill.
  Value whole = cmp(arith::CmpIPredicate::sle, add(firstRow, cI32(rows)), limit);
  scf::IfOp::create(
      b, whole,
      [&](OpBuilder &, Location) {
        emitCopies(/*checkRows=*/false);
        scf::YieldOp::create(b);
      },
      [&](OpBuilder &, Location) {
        emitCopies(/*checkRows=*/true);
        scf::YieldOp::create(b);
      });
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
             shape, sequenceK ? sequenceK : seqK);
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
  // The program (b, h, query block) of this CTA; varlen: (sequence, h,
  // query block of the sequence).
  FailureOr<ProgramCoordinates> planned;
  if (p.varlen) {
    lengths.cuSeqlensQ = arg(*args.cuSeqlensQ);
    lengths.cuSeqlensK = arg(*args.cuSeqlensK);
    if (args.numOffsets)
      lengths.numOffsets = arg(*args.numOffsets);
    planned = emitVarlenQueryBlockProgram(b, p, program, bm, lengths);
  } else {
    planned = emitQueryBlockProgram(
        program, bm, args.keyLengths ? arg(*args.keyLengths) : Value(),
        lengths);
  }
  if (failed(planned))
    return failure();
  coords = *planned;
  batch = idx32(coords.batch);
  if (p.varlen) {
    // The packed operands' one batch; the sequence's rows start at its
    // offsets, and its lengths bound rows, keys and the diagonal.
    batch = cI32(0);
    sequenceQ = arith::IndexCastOp::create(b, i32, coords.queryLength);
    sequenceK = arith::IndexCastOp::create(b, i32, coords.keyLength);
    queryStart = arith::IndexCastOp::create(b, i32, coords.queryStart);
  }
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
  if (p.varlen) {
    qHeadBytes = packedHeadByteOffset(p.query, coords.queryStart, head);
    kvHeadBytes = packedHeadByteOffset(p.key, coords.keyStart, kvHead);
  } else {
    qHeadBytes = ShapedType::isDynamic(p.query.head)
                     ? runtimeHeadByteOffset(bh, p.seqQ, seqQ, tileRowBytes)
                     : headByteOffset(p.query, p.headsQ, batch, head, bh);
  }
  if (!p.keyView && !p.varlen)
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
  if (p.varlen) {
    vHeadBytes = packedHeadByteOffset(p.value, coords.keyStart, kvHead);
    return;
  }
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
  } else if (negSlope && (seqQ || seqK || sequenceQ)) {
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
             sequenceQ ? sequenceQ : seqQ);
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
    LaunchPlan plan =
        problem.varlen
            ? varlenQueryBlockLaunch(op->getContext(), "prefill", problem,
                                     tiles.blockM, tiles.blockN,
                                     32 * tiles.numWarps)
            : queryBlockLaunch("prefill", problem, tiles.blockM, tiles.blockN,
                               32 * tiles.numWarps);
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

