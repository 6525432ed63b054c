//===- DecodeKernel.cpp - the flash-decoding kernel body ------------------===//
//
// Part of attn-mlir. Emits the body of a decode attention kernel. Decode reads
// every key and value once per generated token, so the kernel is built to
// stream K and V at memory bandwidth:
//
//  * one CTA per (split, batch, KV head): all Hq / Hkv query heads (x Lq
//    rows) of the KV group form one m16 tile, so K and V are read once per
//    group (GQA packing);
//  * the group's visible keys are cut into numSplits equal ranges (of each
//    sequence's own length, so ragged batches balance) and, within a CTA,
//    into warp-private subtiles: every warp streams its own K/V subtiles
//    through a cp.async ring with no CTA-wide barrier in the loop;
//  * the warps' (m, l, O) are merged through shared memory; with several
//    splits each CTA writes a normalised partial O and its LSE, and the last
//    CTA of a group to finish (an atomic counter) merges them by LSE in the
//    same launch and re-arms the counter.
//
// K/V rows are addressed through the KV cache hook (KVCacheViewInterface::
// buildRowOffset, buildRowStorageIndex) when K and V are views, so paged
// caches, fused appends (attn.kv_append: the step's tokens come from their
// own buffer, and split 0 writes them into the cache when the IR stores the
// appended cache back) and host-defined layouts need no code here.
//
//===----------------------------------------------------------------------===//

#include "DecodeEmitter.h"

#include "attn/Analysis/KernelResources.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

Value DecodeEmitter::volatilePtx(Type result, ValueRange operands,
                                 StringRef asmString, StringRef constraints) {
  auto op = LLVM::InlineAsmOp::create(
      b, result, operands, asmString, constraints, /*has_side_effects=*/true,
      /*is_align_stack=*/false, LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr(), ArrayAttr());
  return result ? op.getRes() : Value();
}

Value DecodeEmitter::loadGlobalCG(Value ptr) {
  // Partials come from other SMs: read them from L2, never from L1.
  return volatilePtx(f32, ptr, "ld.global.cg.f32 $0, [$1];", "=f,l");
}

SmallVector<Value> DecodeEmitter::loadGlobalCG4(Value ptr) {
  auto type = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                               SmallVector<Type>(4, f32));
  Value s =
      volatilePtx(type, ptr, "ld.global.cg.v4.f32 {$0, $1, $2, $3}, [$4];",
                  "=f,=f,=f,=f,l");
  SmallVector<Value> out;
  for (int64_t i = 0; i < 4; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, s, i));
  return out;
}

LogicalResult DecodeEmitter::emitCoordinates() {
  emitLaneCoordinates();
  auto idx32 = [&](Value v) -> Value {
    return arith::IndexCastUIOp::create(b, i32, v);
  };
  // The program (b, KV head group, query block 0[, split]) of this CTA: x
  // is the split, y is b * Hkv + the group.
  Value x = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value y = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  if (plan.latent) {
    // The latent kernel: y is the group * rowBlocks + the CTA's row block.
    Value blocks = arith::ConstantIndexOp::create(b, b.getLoc(), plan.rowBlocks);
    rowBlock = idx32(arith::RemUIOp::create(b, y, blocks));
    blockRow0 = mul(rowBlock, plan.blockRows);
    y = arith::DivUIOp::create(b, y, blocks);
  }
  Value headsKV = arith::ConstantIndexOp::create(b, b.getLoc(), p.headsKV);
  bool withSplits = scf::ForallOp(program.forall).getRank() == 4;
  RuntimeLengths lengths;
  if (args.seqKLength)
    lengths.seqK = seqK = arg(*args.seqKLength);
  FailureOr<ProgramCoordinates> planned;
  if (p.varlen) {
    // y is flattened query block * Hkv + KV head; the block's sequence is
    // searched in cu_seqlens_q over the packed rows (p.seqQ is the tile's
    // block-m here).
    KernelProblem packed = p;
    packed.seqQ = plan.totalQ;
    packed.numSequences = plan.numSequences;
    lengths.cuSeqlensQ = arg(*args.cuSeqlensQ);
    planned = emitVarlenFlatProgram(
        b, packed, program, plan.blockM,
        idx32(arith::DivUIOp::create(b, y, headsKV)),
        arith::RemUIOp::create(b, y, headsKV), withSplits ? x : Value(),
        arg(*args.keyLengths), lengths);
  } else {
    SmallVector<Value> ivs = {arith::DivUIOp::create(b, y, headsKV),
                              arith::RemUIOp::create(b, y, headsKV),
                              arith::ConstantIndexOp::create(b, b.getLoc(), 0)};
    if (withSplits)
      ivs.push_back(x);
    planned = program.emitCoordinates(
        b, ivs, args.keyLengths ? arg(*args.keyLengths) : Value(), lengths);
  }
  if (failed(planned))
    return failure();
  coords = *planned;
  split = idx32(x);
  batch = idx32(coords.batch);
  kvHead = idx32(coords.kvHead);
  // The program's workspace slot and split counter: its CTA row.
  group = p.varlen ? idx32(y) : add(mul(batch, p.headsKV), kvHead);
  if (p.varlen) {
    IntArith a(b, b.getLoc(), i32);
    Value q0 = idx32(coords.q0);
    queryLen = idx32(coords.queryLength);
    queryRow0 = add(idx32(coords.queryStart), q0);
    rowsValid = a.min(a.max(a.sub(queryLen, q0), a.c(0)), a.c(p.seqQ));
  }

  qPtr = pointerOf(arg(args.query), ptrGlobal);
  oPtr = pointerOf(arg(args.output), ptrGlobal);
  if (args.lse)
    lsePtr = pointerOf(arg(*args.lse), ptrGlobal);
  setScoreOperands(args.bias ? arg(*args.bias) : Value(),
                   args.mask ? arg(*args.mask) : Value(),
                   args.sinks ? arg(*args.sinks) : Value());
  for (int64_t i : args.keyStorage)
    keyStorage.push_back(arg(i));
  for (int64_t i : args.valueStorage)
    valueStorage.push_back(arg(i));
  int64_t rowStorages =
      p.keyView ? cast<KVCacheViewInterface>(p.keyView).getNumRowStorages() : 1;
  for (int64_t i = 0; i < rowStorages; ++i) {
    kRowPtrs.push_back(pointerOf(keyStorage[i], ptrGlobal));
    vRowPtrs.push_back(pointerOf(valueStorage[i], ptrGlobal));
  }
  sameRowOffsets = !p.keyView || viewsShareRowOffsets(p.keyView, p.valueView);
  if (!p.keyView) {
    // Runtime Lk (dense BHSD): the group's rows start Lk rows per group in.
    // Varlen: cache `batch` (the sequence), whatever the CTA's row.
    Value groupRows =
        ShapedType::isDynamic(p.key.head)
            ? groupByteOffset(tileRowBytes)
            : headByteOffset(p.key, p.headsKV, batch, kvHead,
                             p.varlen ? Value() : group);
    keyBase = valueBase = groupRows;
  }
  return success();
}

void DecodeEmitter::emitValueRows() {
  if (dv == d && p.value == p.key)
    return;
  sameRowOffsets = false;
  if (!p.keyView)
    valueBase = ShapedType::isDynamic(p.value.head)
                    ? groupByteOffset(valueRowBytes)
                    : headByteOffset(p.value, p.headsKV, batch, kvHead,
                                     p.varlen ? Value() : group);
}

void DecodeEmitter::emitSequenceBounds() {
  // The program's length of this sequence, clamped so that a bad length
  // cannot address outside the cache.
  length = seqK ? seqK : cI32(p.seqK);
  if (args.keyLengths)
    length = arith::IndexCastOp::create(b, i32, coords.keyLength);
  // Rows g and g + 8 of the packed tile: row r is query r % Lq of head
  // kvHead * groupSize + r / Lq.
  for (int64_t half = 0; half < 2; ++half) {
    Value r = add(g, half * 8);
    // The latent kernel: the warp's rows of the CTA's row block.
    if (plan.latent)
      r = add(r, add(blockRow0, mul(warpRowTile, 16)));
    rowQuery[half] = arith::RemUIOp::create(b, r, cI32(p.seqQ));
    // Varlen: the row's query within its sequence.
    if (p.varlen)
      rowQuery[half] = add(rowQuery[half],
                           arith::IndexCastUIOp::create(b, i32, coords.q0));
    rowHead[half] =
        add(mul(kvHead, groupSize), arith::DivUIOp::create(b, r, cI32(p.seqQ)));
    if (!p.alibiSlopes.empty())
      rowNegSlope[half] = emitNegAlibiSlope(rowHead[half]);
  }
}

void DecodeEmitter::emitKeyRange() {
  // The program's keys: its split's equal share, in whole subtiles, of the
  // keys some row of the group sees.
  auto i32Of = [&](Value v) { return arith::IndexCastOp::create(b, i32, v); };
  kBegin = i32Of(coords.begin);
  kEnd = i32Of(coords.end);
  interiorBegin = i32Of(coords.interiorBegin);
  interiorEnd = i32Of(coords.interiorEnd);
  Value numSub = arith::DivUIOp::create(
      b, add(arith::SubIOp::create(b, kEnd, kBegin), bn - 1), cI32(bn));
  // Warp w takes subtiles w, w + W, w + 2W, ...
  Value mine = maxS(arith::SubIOp::create(b, numSub, warp), cI32(0));
  nWarpTiles = arith::DivUIOp::create(b, add(mine, warps - 1), cI32(warps));
  warpRingBase = add(mul(warp, stages * 2 * subTileBytes), qTileBytes);
}

std::pair<Value, Value> DecodeEmitter::rowLocation(bool isValue, Value row) {
  if (!p.keyView)
    return {Value(),
            arith::AddIOp::create(
                b, isValue ? valueBase : keyBase,
                toI64(mul(row, rowBytes(isValue ? p.value : p.key))))};
  auto view = cast<KVCacheViewInterface>(isValue ? p.valueView : p.keyView);
  ValueRange storage = isValue ? valueStorage : keyStorage;
  Value which;
  if (view.getNumRowStorages() > 1)
    which = view.buildRowStorageIndex(b, b.getLoc(), storage, toIndex(batch),
                                      toIndex(kvHead), toIndex(row));
  if (which)
    which = arith::IndexCastUIOp::create(b, i32, which);
  Value element = view.buildRowOffset(b, b.getLoc(), storage, toIndex(batch),
                                      toIndex(kvHead), toIndex(row));
  Value elem64 = arith::IndexCastUIOp::create(b, i64, element);
  return {which, arith::MulIOp::create(b, elem64, cI64(2))};
}

Value DecodeEmitter::rowAddress(bool isValue,
                                std::pair<Value, Value> location) {
  ArrayRef<Value> bases = isValue ? vRowPtrs : kRowPtrs;
  Value base = bases.front();
  if (location.first)
    for (int64_t i = 1, e = bases.size(); i < e; ++i)
      base = LLVM::SelectOp::create(
          b, cmp(arith::CmpIPredicate::eq, location.first, cI32(i)), bases[i],
          base);
  return gep(ptrGlobal, base, location.second);
}

void DecodeEmitter::copySubtile(Value j, Value stage) {
  // Consecutive lanes copy consecutive 16-byte chunks of the subtile's rows
  // (planTileCopy): a warp copies whole rows at once. K and V rows of one
  // width (Dv = D) give a lane the same rows, so K's row address serves V
  // where both sit alike; otherwise K and V are copied one after the other.
  // A shared K/V cache copies K's rows alone: V is their first Dv columns.
  if (sharedRows)
    return copySubtileRows(j, stage, {false});
  if (dv == d)
    return copySubtileRows(j, stage, {false, true});
  copySubtileRows(j, stage, {false});
  copySubtileRows(j, stage, {true});
}

void DecodeEmitter::copySubtileRows(Value j, Value stage,
                                    ArrayRef<bool> parts) {
  bool isValue0 = parts.front();
  int64_t chunksPerRow = isValue0 ? dv / 8 : d / 8;
  int64_t rowBytes = isValue0 ? vSmemRowBytes : smemRowBytes;
  SmallVector<CopyPass> passes =
      planTileCopy(lane, 32, bn, chunksPerRow, rowBytes);
  // bn * chunksPerRow is a multiple of 32: every pass is whole.
  Value chunkBytes = toI64(mul(passes.front().chunk, 16));
  Value key0 = add(kBegin, mul(add(mul(j, warps), warp), bn));
  Value lastKey = add(kEnd, -1);
  Value kTile = kStage(stage), vTile = vStage(stage);
  for (const CopyPass &pass : passes) {
    Value tileRow = add(pass.rowBase, pass.rowDelta);
    // Keys past the program's range (the subtile's tail) re-read its last
    // row; they are masked before the softmax.
    Value key = minS(add(key0, tileRow), lastKey);
    Value dst = pass.smemBase ? add(pass.smemBase, pass.smemDelta)
                              : swizzled(tileRow, pass.chunk, rowBytes);
    Value bytes = pass.chunk == passes.front().chunk
                      ? chunkBytes
                      : toI64(mul(pass.chunk, 16));
    std::pair<Value, Value> keyLocation = rowLocation(isValue0, key);
    for (bool isValue : parts) {
      std::pair<Value, Value> location =
          isValue != isValue0 && !sameRowOffsets
              ? rowLocation(isValue, key)
              : keyLocation;
      Value src = gep(ptrGlobal, rowAddress(isValue, location), bytes);
      NVVM::CpAsyncOp::create(b, tileAt(add(isValue ? vTile : kTile, dst)), src,
                              16, NVVM::LoadCacheModifierKind::CG, Value());
    }
  }
}

void DecodeEmitter::emitQueryCopy() {
  // The group's rows, from its first head's row 0 (evenly spaced in a
  // dense [B, Hq, Lq, D] Q, whose group's heads are adjacent): rows 0 ..
  // rows-1, the rest of the m16 tile zero-filled.
  int64_t chunksPerRow = d / 8;
  int64_t threads = 32 * warps;
  // The latent kernel copies its row block (blockRows rows from blockRow0).
  int64_t tileRows = plan.latent ? plan.blockRows : 16;
  Value batchHeads = mul(batch, p.headsQ), head0 = mul(kvHead, groupSize);
  // Varlen: the packed rows of the block, in batch row 0.
  Value groupRow0 =
      p.varlen
          ? arith::AddIOp::create(
                b, headByteOffset(p.query, p.headsQ, cI32(0), head0),
                arith::MulIOp::create(b, toI64(queryRow0),
                                      cI64(rowBytes(p.query))))
                .getResult()
          : headByteOffset(p.query, p.headsQ, batch, head0,
                           add(batchHeads, head0));
  bool pow2 = llvm::isPowerOf2_64(chunksPerRow);
  for (int64_t c = 0;
       c < int64_t(llvm::divideCeil(tileRows * chunksPerRow, threads)); ++c) {
    Value item = add(tid, c * threads);
    Value row = pow2 ? shr(item, llvm::Log2_64(chunksPerRow))
                     : arith::DivUIOp::create(b, item, cI32(chunksPerRow));
    Value chunk = pow2 ? andI(item, chunksPerRow - 1)
                       : arith::RemUIOp::create(b, item, cI32(chunksPerRow));
    auto copy = [&]() {
      Value groupRow = plan.latent ? add(row, blockRow0) : row;
      Value valid = cmp(arith::CmpIPredicate::slt, groupRow, cI32(plan.rows));
      if (p.varlen)
        valid = arith::AndIOp::create(b, valid, isRowOfSequence(row));
      Value safeRow = sel(valid, groupRow, cI32(0));
      Value offset = arith::AddIOp::create(
          b, groupRow0, packedRowByteOffset(p.query, safeRow, chunk, 16));
      // Varlen: a block past its sequence's rows starts past them (maybe
      // past T); its copies of no bytes then read from Q's first row.
      if (p.varlen)
        offset = sel(valid, offset, cI64(0));
      Value src = gep(ptrGlobal, qPtr, offset);
      NVVM::CpAsyncOp::create(b, tileAt(swizzled(row, chunk)), src, 16,
                              NVVM::LoadCacheModifierKind::CG,
                              sel(valid, cI32(16), cI32(0)));
    };
    if ((c + 1) * threads <= tileRows * chunksPerRow)
      copy();
    else
      ifThen(cmp(arith::CmpIPredicate::slt, item,
                 cI32(tileRows * chunksPerRow)),
             copy);
  }
  NVVM::CpAsyncCommitGroupOp::create(b);
}

void DecodeEmitter::emitPrologue() {
  // The first stages - 1 subtiles of this warp in flight behind Q.
  for (int64_t s = 0; s + 1 < stages; ++s) {
    ifThen(cmp(arith::CmpIPredicate::slt, cI32(s), nWarpTiles),
           [&]() { copySubtile(cI32(s), cI32(s)); });
    NVVM::CpAsyncCommitGroupOp::create(b);
  }
  NVVM::CpAsyncWaitGroupOp::create(b, stages - 1);
  gpu::BarrierOp::create(b);
  Value matrix = shr(lane, 3);
  qLane = laneOffset(mul(add(r8, mul(andI(matrix, 1), 8)), smemRowBytes),
                     shr(matrix, 1));
  SmallVector<SmallVector<Value>> regs;
  for (int64_t kk = 0; kk < kSteps(); ++kk)
    regs.push_back(loadQ(0, kk));
  qRegs = std::move(regs);
}


LogicalResult DecodeEmitter::emit() {
  if (plan.latent)
    return emitLatent();
  b.setInsertionPointToStart(&func.getBody().front());
  if (failed(emitCoordinates()))
    return failure();
  emitValueRows();
  // Q's copy goes out before the sequence length is loaded: its latency
  // then overlaps the length's.
  emitQueryCopy();
  emitSequenceBounds();
  emitKeyRange();
  emitPrologue();
  // After the first copies are in flight, so that its loads overlap them.
  emitAppendWriteBack();
  scf::ForOp loop = emitKeyLoop();
  b.setInsertionPointAfter(loop);
  emitWarpMerge(loop.getResults());
  if (plan.numSplits > 1)
    emitSplitMerge();
  gpu::ReturnOp::create(b);
  return success();
}

//===----------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------===//

int64_t mlir::attn::chooseNumSplits(int64_t groups, int64_t keys,
                                    int64_t keysPerStep, int64_t numSMs,
                                    int64_t ctasPerSM) {
  int64_t slots = numSMs * ctasPerSM;
  // The groups alone (nearly) fill the machine: splitting only adds merges.
  if (groups * 5 >= slots * 4)
    return 1;
  int64_t maxSplits =
      std::max<int64_t>(1, std::min<int64_t>(64, keys / (2 * keysPerStep)));
  auto efficiency = [&](int64_t s) {
    double waves = double(groups * s) / double(slots);
    return waves / std::ceil(waves);
  };
  double best = 0;
  for (int64_t s = 1; s <= maxSplits; ++s)
    best = std::max(best, efficiency(s));
  for (int64_t s = 1; s <= maxSplits; ++s)
    // Fewer splits are cheaper to merge; take the first that loses little.
    if (efficiency(s) >= 0.95 * best && groups * s * 2 >= slots)
      return s;
  return maxSplits;
}

/// The cache length a decode kernel over a runtime Lk chooses its split
/// count for (a long cache, where splitting pays).
static constexpr int64_t kPlannedRuntimeKeys = 4096;

static FailureOr<DecodePlan>
planDecodeKernel(Operation *op, const KernelProblem &p,
                 const ConvertAttnToNVVMOptions &o) {
  auto fail = [&](const Twine &msg) { return op->emitOpError(msg); };
  // The latent kernel plans its own warps, keys and stages (the options
  // shape the warp-split ring of this kernel).
  if (needsLatentDecode(p))
    return planLatentDecodeKernel(op, p, o);
  DecodePlan plan;
  plan.warps = o.decodeNumWarps;
  if (plan.warps != 4 && plan.warps != 8)
    return fail("expected decode-num-warps of 4 or 8, got " +
                Twine(plan.warps));
  plan.keysPerWarp = o.decodeKeysPerWarp;
  plan.stages = o.decodeStages;
  if (plan.keysPerWarp != 16 && plan.keysPerWarp != 32)
    return fail("expected decode-keys-per-warp of 16 or 32, got " +
                Twine(plan.keysPerWarp));
  if (plan.stages != 2 && plan.stages != 4)
    return fail("expected decode-stages of 2 or 4, got " + Twine(plan.stages));
  if (o.numSMs < 1)
    return fail("expected a positive num-sms, got " + Twine(o.numSMs));
  if (o.numSplits < 0)
    return fail("expected num-splits >= 0, got " + Twine(o.numSplits));
  int64_t groupSize = p.headsQ / p.headsKV;
  plan.blockM = p.seqQ;
  if (p.varlen) {
    // Queries over per-sequence caches: each sequence's rows in query
    // blocks of the most rows per head that fit 16 with the group (a
    // power of two, at most the packed rows' cover, as attn-tile clamps).
    if (!p.varlenCache)
      return fail("expected varlen queries over per-sequence caches "
                  "(cu_seqlens_q with key_lengths) in the decode kernel");
    if (groupSize > 16)
      return fail("expected at most 16 query heads per KV head (Hq / Hkv = " +
                  Twine(groupSize) + ") for varlen decode");
    plan.blockM = std::min<int64_t>(
        llvm::bit_floor(static_cast<uint64_t>(16 / groupSize)),
        llvm::PowerOf2Ceil(std::max<int64_t>(1, p.seqQ)));
    plan.totalQ = p.seqQ;
    plan.numSequences = p.numSequences;
    plan.programs = llvm::divideCeil(p.seqQ, plan.blockM) + p.numSequences;
  }
  plan.rows = groupSize * plan.blockM;
  if (plan.rows > 16)
    return fail("expected the query rows of a KV group (Hq / Hkv * Lq = " +
                Twine(plan.rows) + ") to fit 16 in the decode kernel");
  plan.groups = p.varlen ? plan.programs * p.headsKV : p.batch * p.headsKV;
  // The Q tile, then the warps' K/V rings (a K and a V slot per stage, each
  // as wide as the wider padded row), reused by the warps' merge.
  // (getDecodeSharedMemoryBytes: the size the tile model uses too.)
  auto sharedBytes = [&](int64_t warps) {
    return getDecodeSharedMemoryBytes(p.headDim, p.valueHeadDim, warps,
                                      plan.keysPerWarp, plan.stages);
  };
  plan.sharedMemoryBytes = sharedBytes(plan.warps);
  // Wide heads (D = 256: 256 KiB of rings at the defaults) stream with
  // half the warps rather than not at all.
  if (plan.sharedMemoryBytes > 227 * 1024 && plan.warps == 8 &&
      sharedBytes(4) <= 227 * 1024) {
    plan.warps = 4;
    plan.sharedMemoryBytes = sharedBytes(4);
  }
  if (plan.sharedMemoryBytes > 227 * 1024)
    return fail("expected the decode kernel's shared memory (" +
                Twine(plan.sharedMemoryBytes) +
                " bytes) to fit 227 KiB; use fewer decode-stages or "
                "decode-keys-per-warp");
  // 227 KiB of shared memory per SM on sm_90 (less on sm_80: the heuristic
  // only needs the order of magnitude).
  plan.ctasPerSM = std::max<int64_t>(
      1, std::min<int64_t>(4, (227 * 1024) / (plan.sharedMemoryBytes + 1024)));
  int64_t keysPerStep = plan.warps * plan.keysPerWarp;
  plan.numSplits = o.numSplits;
  // A runtime Lk (a growing cache): the split count is planned for a cache
  // of kPlannedRuntimeKeys keys (num-splits overrides it); splits past a
  // shorter cache's keys are empty programs the merge ignores.
  int64_t keys = p.dynamicSeqK ? kPlannedRuntimeKeys : p.seqK;
  // Varlen: the programs that have rows (one or more per sequence; the
  // rest of the flattened blocks exit at once).
  int64_t liveGroups =
      p.varlen ? p.numSequences * p.headsKV : plan.groups;
  if (plan.numSplits == 0)
    plan.numSplits = chooseNumSplits(liveGroups, keys, keysPerStep, o.numSMs,
                                     plan.ctasPerSM);
  plan.numSplits = std::min<int64_t>(
      plan.numSplits,
      std::max<int64_t>(1, llvm::divideCeil(keys, plan.keysPerWarp)));
  return plan;
}

//===----------------------------------------------------------------------===//
// The family
//===----------------------------------------------------------------------===//

namespace {

class DecodeFamily : public KernelFamily {
public:
  explicit DecodeFamily(const ConvertAttnToNVVMOptions &options)
      : options(options) {}

  FailureOr<LaunchPlan> plan(Operation *op,
                             const KernelProblem &problem) override {
    FailureOr<DecodePlan> planned = planDecodeKernel(op, problem, options);
    if (failed(planned))
      return failure();
    decode = *planned;
    LaunchPlan plan;
    plan.grid = {decode.numSplits, decode.groups * decode.rowBlocks, 1};
    plan.threads = 32 * decode.warps;
    KernelLaunchDesc &desc = plan.desc;
    desc.family = "decode";
    desc.gridFormula =
        problem.varlen ? "[num_splits, (ceil(Lq / block_m) + N) * Hkv, 1]"
        : decode.latent
            ? "[num_splits, B * Hkv * ceil(Hq / Hkv * Lq / block_m), 1]"
            : "[num_splits, B * Hkv, 1]";
    if (problem.varlen)
      desc.blockM = decode.blockM;
    // The latent kernel's query rows per CTA.
    if (decode.latent)
      desc.blockM = decode.blockRows;
    desc.sharedMemoryBytes = decode.sharedMemoryBytes;
    desc.numSplits = decode.numSplits;
    desc.keysPerWarp = decode.keysPerWarp;
    desc.stages = decode.stages;
    desc.numWarps = decode.warps;
    // A program per CTA: all query rows of a KV group (heads packed), the
    // split's keys in subtiles of keys-per-warp.
    plan.tileM = problem.varlen ? decode.blockM : 16;
    plan.tileN = decode.keysPerWarp;
    plan.packGqa = true;
    plan.tileSplits = decode.numSplits;
    return plan;
  }

  LogicalResult collectArguments(const TiledProgram &program,
                                 const KernelProblem &problem,
                                 KernelArgumentList &list) override {
    Operation *op = program.forall;
    if (failed(addAttentionArguments(program, problem, /*dedupe=*/true, list,
                                     args)) ||
        failed(matchAppendWriteBack(program, problem.keyView,
                                    args.writeBackKey, list)) ||
        failed(matchAppendWriteBack(program, problem.valueView,
                                    args.writeBackValue, list)))
      return failure();
    // Partials of other CTAs and the split merge read inputs after some
    // outputs are written: no aliasing.
    ArrayRef<Value> inputs = ArrayRef(list.values).take_front(args.output);
    for (size_t i = args.output; i < list.values.size(); ++i)
      if (llvm::is_contained(inputs, list.values[i]))
        return op->emitOpError("expected outputs distinct from the inputs on "
                              "the decode kernel");
    if (decode.numSplits == 1)
      return success();
    // The manifest tells a runtime to allocate these (the counters zeroed
    // once: the kernel re-arms them).
    MLIRContext *ctx = op->getContext();
    Type f32 = Float32Type::get(ctx), i32 = IntegerType::get(ctx, 32);
    OpBuilder b(op);
    auto workspace = [&](ArrayRef<int64_t> shape, Type elt, StringRef name) {
      Value v =
          memref::AllocOp::create(b, op->getLoc(), MemRefType::get(shape, elt));
      return list.add(v, name, ArgumentRole::Workspace);
    };
    args.partialO = workspace(
        {decode.groups, decode.numSplits, decode.rows, problem.valueHeadDim},
        f32,
        "partial_o");
    args.partialLse = workspace(
        {decode.groups, decode.numSplits, decode.rows}, f32, "partial_lse");
    args.counters = workspace({decode.groups * decode.rowBlocks}, i32,
                              "split_counters");
    return success();
  }

  LogicalResult emit(gpu::GPUFuncOp func, const KernelProblem &problem,
                     const TiledProgram &program) override {
    if (!problem.varlen)
      return DecodeEmitter(func, problem, decode, args, program).emit();
    // Varlen: the emitter's Lq is the tile's rows per head (block-m), as a
    // dense group tile's; the packed totals are the plan's.
    KernelProblem tile = problem;
    tile.seqQ = decode.blockM;
    return DecodeEmitter(func, tile, decode, args, program).emit();
  }

private:
  const ConvertAttnToNVVMOptions &options;
  DecodePlan decode;
  DecodeArguments args;
};

} // namespace

std::unique_ptr<KernelFamily>
mlir::attn::detail::createDecodeFamily(const ConvertAttnToNVVMOptions &options) {
  return std::make_unique<DecodeFamily>(options);
}

