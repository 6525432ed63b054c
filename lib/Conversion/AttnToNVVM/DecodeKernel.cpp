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

#include "FragmentEmitter.h"
#include "KernelFamily.h"

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

namespace {

/// Partials the merging CTA loads at once (5 registers each): up to 16
/// splits merge after one L2 round trip.
constexpr int64_t kMergeBatch = 16;

/// The launch of a decode kernel, chosen before its body is emitted.
struct DecodePlan {
  int64_t warps, keysPerWarp, stages;
  /// Query rows of one KV group (Hq / Hkv heads x Lq), packed into 16.
  int64_t rows;
  /// Grid: numSplits x (B * Hkv).
  int64_t numSplits, groups;
  int64_t sharedMemoryBytes;
  /// CTAs of this kernel one SM holds (by shared memory), for the split
  /// heuristic.
  int64_t ctasPerSM;
};

/// Kernel arguments of a decode kernel: the common ones plus workspaces.
struct DecodeArguments : AttentionArguments {
  /// Split-KV workspaces (numSplits > 1): partial O [groups, splits, rows,
  /// Dv] f32, partial LSE [groups, splits, rows] f32, counters [groups] i32.
  std::optional<int64_t> partialO, partialLse, counters;
  /// attn.kv_append views whose result is stored back into their cache: the
  /// kernel writes the new tokens there (storage: cache, tokens, positions).
  bool writeBackKey = false, writeBackValue = false;
};


class DecodeEmitter : public FragmentEmitter {
public:
  DecodeEmitter(gpu::GPUFuncOp func, const KernelProblem &p,
                const DecodePlan &plan, const DecodeArguments &args,
                const TiledProgram &program)
      : FragmentEmitter(func, p, /*mTiles=*/1, plan.keysPerWarp), plan(plan),
        args(args), program(program), warps(plan.warps), stages(plan.stages),
        groupSize(p.headsQ / p.headsKV) {
    // K and V subtiles take equal slots of the ring (Dv != D: the wider
    // row's), so a stage is 2 * subTileBytes either way.
    subTileBytes = bn * std::max(smemRowBytes, vSmemRowBytes);
    qTileBytes = 16 * smemRowBytes;
  }

  LogicalResult emit();

private:
  Value arg(int64_t i) { return func.getBody().front().getArgument(i); }
  /// Byte offset of row 0 of this KV group in a contiguous cache of
  /// `rowBytes` rows: group * Lk * rowBytes (Lk the runtime one if dynamic).
  Value groupByteOffset(int64_t rowBytes) {
    if (!seqK)
      return arith::MulIOp::create(b, toI64(group), cI64(p.seqK * rowBytes));
    return arith::MulIOp::create(
        b, toI64(group), arith::MulIOp::create(b, toI64(seqK), cI64(rowBytes)));
  }
  Value toIndex(Value x) {
    return arith::IndexCastUIOp::create(b, b.getIndexType(), x);
  }
  Value minS(Value x, Value y) { return arith::MinSIOp::create(b, x, y); }
  Value maxS(Value x, Value y) { return arith::MaxSIOp::create(b, x, y); }
  Value negInf() { return cF32(-std::numeric_limits<double>::infinity()); }
  /// The global query head of row `row` (i32) of the packed group tile.
  Value globalHeadOfRow(Value row) {
    return add(add(mul(kvHead, groupSize),
                   arith::DivUIOp::create(b, row, cI32(p.seqQ))),
               p.headOffset);
  }
  Value isNegInf(Value x) {
    return arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, x, negInf());
  }
  /// Runs `body(row, col)` for every (real row, 4 columns) item of the
  /// group's output, items spread over the CTA's threads.
  void forEachRowQuad(function_ref<void(Value row, Value col)> body);
  /// Runs `body` under `cond` (an scf.if without results).
  void ifThen(Value cond, function_ref<void()> body) {
    scf::IfOp::create(b, cond, [&](OpBuilder &, Location) {
      body();
      scf::YieldOp::create(b);
    });
  }
  /// Inline PTX with side effects (fences, atomics, L1-bypassing loads that
  /// must stay after them).
  Value volatilePtx(Type result, ValueRange operands, StringRef asmString,
                    StringRef constraints);
  Value loadGlobalCG(Value ptr);
  SmallVector<Value> loadGlobalCG4(Value ptr);

  /// Where row `row` (i32, clamped to the visible range) of this group's K
  /// or V lives: the buffer it is read from (null: the first) and the byte
  /// offset (i64) in it.
  std::pair<Value, Value> rowLocation(bool isValue, Value row);
  /// The global address of a row at `location`.
  Value rowAddress(bool isValue, std::pair<Value, Value> location);
  /// Copies the warp's `j`-th subtile of K and V into ring stage `stage`.
  void copySubtile(Value j, Value stage);
  /// The rows of K (false) and/or V (true) of that subtile, in `parts`, all
  /// of the first part's width.
  void copySubtileRows(Value j, Value stage, ArrayRef<bool> parts);
  Value kStage(Value stage) {
    return add(mul(stage, 2 * subTileBytes), warpRingBase);
  }
  Value vStage(Value stage) { return add(kStage(stage), subTileBytes); }

  // The phases of the kernel, in program order.
  /// The program's batch and KV head (and its keys), global pointers.
  LogicalResult emitCoordinates();
  /// Where contiguous V rows sit when Dv != D (not where K's do).
  void emitValueRows();
  /// Q rows of the group (zero-filled to 16) into shared memory (cp.async).
  void emitQueryCopy();
  /// The sequence's length and diagonal; per-row query and head indices.
  void emitSequenceBounds();
  /// [kBegin, kEnd): the program's keys (this split's share of the visible
  /// keys); nWarpTiles: the warp's share of its subtiles.
  void emitKeyRange();
  /// The first ring stages in flight; Q fragments to registers.
  void emitPrologue();
  /// Split 0 of each group stores this step's appended tokens into the
  /// cache (kv_append written back): other CTAs read those rows from the
  /// token buffer, so no CTA reads what this one writes.
  void emitAppendWriteBack();
  scf::ForOp emitKeyLoop();
  /// ALiBi and score_mod on natural-unit scores of the subtile at `key0`.
  SmallVector<Value> emitScoreMods(Value key0, ArrayRef<Value> s);
  /// -inf outside this split's keys and, for Lq > 1, outside each row's
  /// causal/window range.
  SmallVector<Value> emitMask(Value key0, ArrayRef<Value> s);
  /// Merges the warps' (m, l, O) and writes O/LSE, or this split's partial.
  void emitWarpMerge(ValueRange results);
  /// The last CTA of the group merges the splits' partials.
  void emitSplitMerge();

  /// Writes item (row, 4 columns at `col`) of the final O, `o4 / oSum` (0
  /// when oSum is 0: nothing visible), and from column 0's thread the row's
  /// LSE (-inf when empty).
  void writeRow(Value row, Value col, Value oSum, ArrayRef<Value> o4,
                Value lseNatural);

  const DecodePlan &plan;
  const DecodeArguments &args;
  const TiledProgram &program;
  /// The program's coordinates and bounds (index values).
  ProgramCoordinates coords;
  int64_t warps, stages, groupSize;
  int64_t subTileBytes, qTileBytes;

  Value split, group, batch, kvHead, length;
  /// The runtime Lk (an i32 kernel argument) of a dynamic dim; null where Lk
  /// is static.
  Value seqK;
  Value kBegin, kEnd, interiorBegin, interiorEnd, nWarpTiles, warpRingBase;
  Value keyBase, valueBase; // contiguous: byte offset of the group's row 0
  /// K and V rows sit at the same offsets of their buffers (contiguous, or
  /// twin views over one block table): one address computation serves both.
  bool sameRowOffsets = false;
  SmallVector<Value> keyStorage, valueStorage;
  Value qPtr, oPtr, lsePtr;
  /// Base pointers of the buffers K and V rows are read from.
  SmallVector<Value> kRowPtrs, vRowPtrs;
  /// Per lane row half (g, g + 8): query index, query head, ALiBi slope.
  Value rowQuery[2], rowHead[2], rowNegSlope[2];
};

} // namespace

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
  Value headsKV = arith::ConstantIndexOp::create(b, b.getLoc(), p.headsKV);
  SmallVector<Value> ivs = {arith::DivUIOp::create(b, y, headsKV),
                            arith::RemUIOp::create(b, y, headsKV),
                            arith::ConstantIndexOp::create(b, b.getLoc(), 0)};
  if (scf::ForallOp(program.forall).getRank() == 4)
    ivs.push_back(x);
  RuntimeLengths lengths;
  if (args.seqKLength)
    lengths.seqK = seqK = arg(*args.seqKLength);
  FailureOr<ProgramCoordinates> planned = program.emitCoordinates(
      b, ivs, args.keyLengths ? arg(*args.keyLengths) : Value(), lengths);
  if (failed(planned))
    return failure();
  coords = *planned;
  split = idx32(x);
  batch = idx32(coords.batch);
  kvHead = idx32(coords.kvHead);
  group = add(mul(batch, p.headsKV), kvHead);

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
    Value groupRows =
        ShapedType::isDynamic(p.key.head)
            ? groupByteOffset(tileRowBytes)
            : headByteOffset(p.key, p.headsKV, batch, kvHead, group);
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
                    : headByteOffset(p.value, p.headsKV, batch, kvHead, group);
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
    rowQuery[half] = arith::RemUIOp::create(b, r, cI32(p.seqQ));
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
  Value batchHeads = mul(batch, p.headsQ), head0 = mul(kvHead, groupSize);
  Value groupRow0 = headByteOffset(p.query, p.headsQ, batch, head0,
                                   add(batchHeads, head0));
  bool pow2 = llvm::isPowerOf2_64(chunksPerRow);
  for (int64_t c = 0; c < llvm::divideCeil(16 * chunksPerRow, threads); ++c) {
    Value item = add(tid, c * threads);
    Value row = pow2 ? shr(item, llvm::Log2_64(chunksPerRow))
                     : arith::DivUIOp::create(b, item, cI32(chunksPerRow));
    Value chunk = pow2 ? andI(item, chunksPerRow - 1)
                       : arith::RemUIOp::create(b, item, cI32(chunksPerRow));
    auto copy = [&]() {
      Value valid = cmp(arith::CmpIPredicate::slt, row, cI32(plan.rows));
      Value safeRow = sel(valid, row, cI32(0));
      Value src =
          gep(ptrGlobal, qPtr,
              arith::AddIOp::create(
                  b, groupRow0,
                  packedRowByteOffset(p.query, safeRow, chunk, 16)));
      NVVM::CpAsyncOp::create(b, tileAt(swizzled(row, chunk)), src, 16,
                              NVVM::LoadCacheModifierKind::CG,
                              sel(valid, cI32(16), cI32(0)));
    };
    if ((c + 1) * threads <= 16 * chunksPerRow)
      copy();
    else
      ifThen(cmp(arith::CmpIPredicate::slt, item, cI32(16 * chunksPerRow)),
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
      for (int64_t c = 0; c < llvm::divideCeil(items, threads); ++c) {
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
        // The distance i + Lk_b - Lq - j, Lk_b the sequence's length.
        Value dist = arith::SubIOp::create(
            b,
            add(rowQuery[half], arith::SubIOp::create(b, length, cI32(p.seqQ))),
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
                                         cI32(p.seqQ), length));
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

void DecodeEmitter::writeRow(Value row, Value col, Value oSum,
                             ArrayRef<Value> o4, Value lseNatural) {
  // Final O (bf16/f16, four columns = 8 bytes) and, from the thread of
  // column 0, the LSE.
  Value empty =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, oSum, cF32(0.0));
  Value inv = sel(empty, cF32(0.0), arith::DivFOp::create(b, cF32(1.0), oSum));
  auto scaled = [&](int64_t i) { return arith::MulFOp::create(b, o4[i], inv); };
  Value lo = packHalf2(scaled(0), scaled(1));
  Value hi = packHalf2(scaled(2), scaled(3));
  auto i32x2 = VectorType::get({2}, i32);
  Value v = LLVM::PoisonOp::create(b, i32x2);
  v = LLVM::InsertElementOp::create(b, v, lo, cI32(0));
  v = LLVM::InsertElementOp::create(b, v, hi, cI32(1));
  Value groupRow0 = add(mul(batch, p.headsQ), mul(kvHead, groupSize));
  // LSE is a dense [B, Hq, Lq]; O's rows lie as its strides say.
  Value flatRow = toI64(add(mul(groupRow0, p.seqQ), row));
  const OperandStrides &o = p.output;
  bool dense = o.mergesBatchAndHead(p.headsQ) && packedRowsAreLinear(o);
  Value off =
      dense ? arith::AddIOp::create(
                  b, arith::MulIOp::create(b, flatRow, cI64(rowBytes(o))),
                  toI64(mul(col, 2)))
                  .getResult()
            : arith::AddIOp::create(
                  b,
                  headByteOffset(o, p.headsQ, batch, mul(kvHead, groupSize)),
                  packedRowByteOffset(o, row, col, 2))
                  .getResult();
  LLVM::StoreOp::create(b, v, gep(ptrGlobal, oPtr, off), /*alignment=*/8);
  if (!lsePtr)
    return;
  ifThen(cmp(arith::CmpIPredicate::eq, col, cI32(0)), [&]() {
    Value lse = sel(empty, negInf(), lseNatural);
    LLVM::StoreOp::create(
        b, lse,
        gep(ptrGlobal, lsePtr, arith::MulIOp::create(b, flatRow, cI64(4))),
        /*alignment=*/4);
  });
}

void DecodeEmitter::emitWarpMerge(ValueRange results) {
  // Shared memory, reusing the rings: per warp, m (scaled to the base-2
  // exponent) and l of its 16 rows, then its O rows padded by 8 floats so
  // that the quads' float2 stores of eight rows spread over the banks.
  int64_t numO = numAccumulators(), numRows = numRowStats();
  int64_t oRowBytes = (dv + 8) * 4;
  int64_t statsBytes = warps * 16 * 8;
  Value statsBase = cI32(qTileBytes);
  Value oBase = cI32(qTileBytes + statsBytes);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  gpu::BarrierOp::create(b);
  for (int64_t half = 0; half < 2; ++half) {
    // Only the group's real rows are merged: padding rows (rows 8-15 for up
    // to 8 rows, lanes past the last row) are never stored.
    if (half * 8 >= plan.rows)
      continue;
    Value m = results[numO + half];
    Value l = results[numO + numRows + half];
    l = arith::AddFOp::create(b, l, shuffleXor(l, 1));
    l = arith::AddFOp::create(b, l, shuffleXor(l, 2));
    Value row = add(g, half * 8);
    auto store = [&]() {
      Value slot = add(mul(add(mul(warp, 16), row), 8), statsBase);
      ifThen(cmp(arith::CmpIPredicate::eq, t, cI32(0)), [&]() {
        Value mScaled = sel(isNegInf(m), negInf(),
                            arith::MulFOp::create(b, m, cF32(expScale)));
        LLVM::StoreOp::create(b, mScaled, tileAt(slot), 4);
        LLVM::StoreOp::create(b, l, tileAt(add(slot, 4)), 4);
      });
      Value rowBase = add(mul(add(mul(warp, 16), row), oRowBytes), oBase);
      auto f32x2 = VectorType::get({2}, f32);
      for (int64_t dt = 0; dt < dTiles(); ++dt) {
        Value v = LLVM::PoisonOp::create(b, f32x2);
        v = LLVM::InsertElementOp::create(
            b, v, results[oIndex(0, dt, 2 * half)], cI32(0));
        v = LLVM::InsertElementOp::create(
            b, v, results[oIndex(0, dt, 2 * half + 1)], cI32(1));
        LLVM::StoreOp::create(
            b, v, tileAt(add(rowBase, add(mul(t, 8), dt * 32))), 8);
      }
    };
    if (plan.rows >= (half + 1) * 8)
      store();
    else
      ifThen(cmp(arith::CmpIPredicate::slt, row, cI32(plan.rows)), store);
  }
  gpu::BarrierOp::create(b);

  forEachRowQuad([&](Value row, Value col) {
    SmallVector<Value> mS, lS;
    Value mMax = negInf();
    for (int64_t w = 0; w < warps; ++w) {
      Value slot = add(mul(add(row, w * 16), 8), statsBase);
      mS.push_back(LLVM::LoadOp::create(b, f32, tileAt(slot), 4));
      lS.push_back(LLVM::LoadOp::create(b, f32, tileAt(add(slot, 4)), 4));
      mMax = maxF(mMax, mS.back());
    }
    Value mRef = sel(isNegInf(mMax), cF32(0.0), mMax);
    Value sum = cF32(0.0);
    SmallVector<Value> o4(4, cF32(0.0));
    auto f32x4 = VectorType::get({4}, f32);
    for (int64_t w = 0; w < warps; ++w) {
      Value weight = exp2(arith::SubFOp::create(b, mS[w], mRef));
      sum = fma(lS[w], weight, sum);
      Value src =
          add(add(mul(add(row, w * 16), oRowBytes), oBase), mul(col, 4));
      Value v = LLVM::LoadOp::create(b, f32x4, tileAt(src), 16);
      for (int64_t e = 0; e < 4; ++e)
        o4[e] =
            fma(LLVM::ExtractElementOp::create(b, v, cI32(e)), weight, o4[e]);
    }
    // LSE = ln(sum exp(x)) = (m * c + log2(l)) * ln 2.
    Value lseNat = arith::MulFOp::create(
        b, arith::AddFOp::create(b, mRef, log2(sum)), cF32(kLn2));
    if (plan.numSplits == 1 && p.withSinks) {
      // The sink joins the row's statistics once, here (with splits: in
      // their merge). sum and o4 are relative to 2^mMax where it is finite.
      auto [alpha, lseLog2, newSum] =
          foldSink(mMax, sum, loadSinkLog2(globalHeadOfRow(row)));
      for (Value &o : o4)
        o = arith::MulFOp::create(b, o, alpha);
      writeRow(row, col, newSum, o4,
               arith::MulFOp::create(b, lseLog2, cF32(kLn2)));
      return;
    }
    if (plan.numSplits == 1) {
      writeRow(row, col, sum, o4, lseNat);
      return;
    }
    // This split's normalised partial O and its LSE (-inf when empty).
    Value empty =
        arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, sum, cF32(0.0));
    Value inv = sel(empty, cF32(0.0), arith::DivFOp::create(b, cF32(1.0), sum));
    Value slotRow =
        toI64(add(mul(add(mul(group, plan.numSplits), split), plan.rows), row));
    Value v = LLVM::PoisonOp::create(b, f32x4);
    for (int64_t e = 0; e < 4; ++e)
      v = LLVM::InsertElementOp::create(
          b, v, arith::MulFOp::create(b, o4[e], inv), cI32(e));
    Value off = arith::AddIOp::create(
        b, arith::MulIOp::create(b, slotRow, cI64(dv * 4)), toI64(mul(col, 4)));
    LLVM::StoreOp::create(
        b, v, gep(ptrGlobal, pointerOf(arg(*args.partialO), ptrGlobal), off),
        16);
    ifThen(cmp(arith::CmpIPredicate::eq, col, cI32(0)), [&]() {
      LLVM::StoreOp::create(b, sel(empty, negInf(), lseNat),
                            gep(ptrGlobal,
                                pointerOf(arg(*args.partialLse), ptrGlobal),
                                arith::MulIOp::create(b, slotRow, cI64(4))),
                            4);
    });
  });
}

void DecodeEmitter::forEachRowQuad(
    function_ref<void(Value row, Value col)> body) {
  int64_t colGroups = dv / 4, items = plan.rows * colGroups;
  int64_t threads = 32 * warps;
  for (int64_t c = 0; c < llvm::divideCeil(items, threads); ++c) {
    Value item = add(tid, c * threads);
    auto run = [&]() {
      body(arith::DivUIOp::create(b, item, cI32(colGroups)),
           mul(arith::RemUIOp::create(b, item, cI32(colGroups)), 4));
    };
    if ((c + 1) * threads <= items)
      run();
    else
      ifThen(cmp(arith::CmpIPredicate::slt, item, cI32(items)), run);
  }
}

void DecodeEmitter::emitSplitMerge() {
  // Publish this CTA's partial and count arrivals: the barrier orders every
  // thread's partial stores before thread 0's release (fences are
  // cumulative), and the acquire of the CTA that arrives last, followed by
  // the barrier, orders its reads after every other CTA's release.
  gpu::BarrierOp::create(b);
  Value counter = gep(ptrGlobal, pointerOf(arg(*args.counters), ptrGlobal),
                      toI64(mul(group, 4)));
  Value flagSlot = tileAt(cI32(0)); // the Q tile is free by now
  ifThen(cmp(arith::CmpIPredicate::eq, tid, cI32(0)), [&]() {
    Value old = volatilePtx(
        i32, counter, "atom.acq_rel.gpu.global.add.u32 $0, [$1], 1;", "=r,l");
    Value last = cmp(arith::CmpIPredicate::eq, old, cI32(plan.numSplits - 1));
    LLVM::StoreOp::create(b, arith::ExtUIOp::create(b, i32, last), flagSlot, 4);
    // Re-arm for the next launch: all splits have arrived.
    ifThen(last, [&]() {
      volatilePtx(Type(), counter, "st.relaxed.gpu.global.u32 [$0], 0;", "l");
    });
  });
  gpu::BarrierOp::create(b);
  Value isLast = cmp(arith::CmpIPredicate::ne,
                     LLVM::LoadOp::create(b, i32, flagSlot, 4), cI32(0));
  ifThen(isLast, [&]() {
    Value partialO = pointerOf(arg(*args.partialO), ptrGlobal);
    Value partialLse = pointerOf(arg(*args.partialLse), ptrGlobal);
    forEachRowQuad([&](Value row, Value col) {
      Value firstSlot = add(mul(mul(group, plan.numSplits), plan.rows), row);
      // One pass over the splits in batches whose loads are all issued
      // before any is used (each batch costs one L2 round trip), merged
      // with the running-max recurrence:
      //   O = sum_s exp(lse_s - M) O_s / sum_s exp(lse_s - M).
      Value runMax = negInf(), runSum = cF32(0.0);
      SmallVector<Value> runO(4, cF32(0.0));
      for (int64_t s0 = 0; s0 < plan.numSplits; s0 += kMergeBatch) {
        int64_t batchSize = std::min(kMergeBatch, plan.numSplits - s0);
        SmallVector<Value> lses;
        SmallVector<SmallVector<Value>> os;
        for (int64_t s = s0; s < s0 + batchSize; ++s) {
          Value slot = toI64(add(firstSlot, s * plan.rows));
          lses.push_back(loadGlobalCG(gep(
              ptrGlobal, partialLse, arith::MulIOp::create(b, slot, cI64(4)))));
          os.push_back(loadGlobalCG4(gep(
              ptrGlobal, partialO,
              arith::AddIOp::create(b,
                                    arith::MulIOp::create(b, slot, cI64(dv * 4)),
                                    toI64(mul(col, 4))))));
        }
        Value newMax = runMax;
        for (Value lse : lses)
          newMax = maxF(newMax, lse);
        Value ref = sel(isNegInf(newMax), cF32(0.0), newMax);
        auto weightOf = [&](Value lse) {
          return exp2(arith::MulFOp::create(
              b, arith::SubFOp::create(b, lse, ref), cF32(kLog2e)));
        };
        Value rescale = weightOf(runMax);
        runSum = arith::MulFOp::create(b, runSum, rescale);
        for (Value &o : runO)
          o = arith::MulFOp::create(b, o, rescale);
        for (auto [lse, o4] : llvm::zip(lses, os)) {
          Value weight = weightOf(lse);
          runSum = arith::AddFOp::create(b, runSum, weight);
          for (int64_t e = 0; e < 4; ++e)
            runO[e] = fma(o4[e], weight, runO[e]);
        }
        runMax = newMax;
      }
      if (p.withSinks) {
        // The sink: one more partial, output 0 and LSE sinks[hg].
        Value sink = arith::MulFOp::create(
            b, loadSinkLog2(globalHeadOfRow(row)), cF32(kLn2));
        Value newMax = maxF(runMax, sink);
        Value ref = sel(isNegInf(newMax), cF32(0.0), newMax);
        auto weightOf = [&](Value lse) {
          return exp2(arith::MulFOp::create(
              b, arith::SubFOp::create(b, lse, ref), cF32(kLog2e)));
        };
        Value rescale = weightOf(runMax);
        runSum = fma(runSum, rescale, weightOf(sink));
        for (Value &o : runO)
          o = arith::MulFOp::create(b, o, rescale);
        runMax = newMax;
      }
      Value ref = sel(isNegInf(runMax), cF32(0.0), runMax);
      Value lse = arith::AddFOp::create(
          b, ref, arith::MulFOp::create(b, log2(runSum), cF32(kLn2)));
      writeRow(row, col, runSum, runO, lse);
    });
  });
}

LogicalResult DecodeEmitter::emit() {
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
  plan.rows = p.headsQ / p.headsKV * p.seqQ;
  if (plan.rows > 16)
    return fail("expected the query rows of a KV group (Hq / Hkv * Lq = " +
                Twine(plan.rows) + ") to fit 16 in the decode kernel");
  plan.groups = p.batch * p.headsKV;
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
  if (plan.numSplits == 0)
    plan.numSplits = chooseNumSplits(plan.groups, keys, keysPerStep, o.numSMs,
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
    plan.grid = {decode.numSplits, decode.groups, 1};
    plan.threads = 32 * decode.warps;
    KernelLaunchDesc &desc = plan.desc;
    desc.family = "decode";
    desc.gridFormula = "[num_splits, B * Hkv, 1]";
    desc.sharedMemoryBytes = decode.sharedMemoryBytes;
    desc.numSplits = decode.numSplits;
    desc.keysPerWarp = decode.keysPerWarp;
    desc.stages = decode.stages;
    desc.numWarps = decode.warps;
    // A program per CTA: all query rows of a KV group (heads packed), the
    // split's keys in subtiles of keys-per-warp.
    plan.tileM = 16;
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
    args.counters = workspace({decode.groups}, i32, "split_counters");
    return success();
  }

  LogicalResult emit(gpu::GPUFuncOp func, const KernelProblem &problem,
                     const TiledProgram &program) override {
    return DecodeEmitter(func, problem, decode, args, program).emit();
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
