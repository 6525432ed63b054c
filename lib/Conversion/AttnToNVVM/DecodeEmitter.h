//===- DecodeEmitter.h - the decode kernel's emitter, shared by its files -===//
//
// Part of attn-mlir. The decode family's plan and emitter (DecodeKernel.cpp
// has the design). Its body is emitted from three files: DecodeKernel.cpp
// (coordinates, the K/V ring, the kernel's frame, the plan and the family),
// DecodeLoop.cpp (the fused append's write-back and the key loop: scores,
// score mods, masks, online softmax) and DecodeMerge.cpp (the warps' merge
// and the splits' merge by LSE, the rows written).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVVM_DECODEEMITTER_H
#define ATTN_CONVERSION_ATTNTONVVM_DECODEEMITTER_H

#include "FragmentEmitter.h"
#include "KernelFamily.h"

namespace mlir::attn::detail {


/// Partials the merging CTA loads at once (5 registers each): up to 16
/// splits merge after one L2 round trip.
constexpr int64_t kMergeBatch = 16;

/// The launch of a decode kernel, chosen before its body is emitted.
struct DecodePlan {
  int64_t warps, keysPerWarp, stages;
  /// Query rows of one KV group (Hq / Hkv heads x Lq), packed into 16.
  int64_t rows;
  /// Grid: numSplits x (B * Hkv); varlen: numSplits x (programs * Hkv).
  int64_t numSplits, groups;
  /// Query rows per head of the group tile: Lq, or varlen block-m (the
  /// programs' query blocks, so that block-m x Hq / Hkv rows fit 16).
  int64_t blockM = 0;
  /// Varlen queries over caches: the packed query rows T and sequences N;
  /// ceil(T / block-m) + N flattened query blocks per KV head.
  int64_t totalQ = 0, numSequences = 0, programs = 0;
  int64_t sharedMemoryBytes;
  /// CTAs of this kernel one SM holds (by shared memory), for the split
  /// heuristic.
  int64_t ctasPerSM;
  /// The latent kernel (DecodeLatent.cpp: rows wider than 256 over one
  /// shared K/V cache, MLA): a group's `rows` are cut into `rowBlocks`
  /// blocks of `blockRows` (a multiple of 16), one CTA each per split (grid
  /// y = group * rowBlocks + block); warp w holds rows 16 (w / valueSplit)
  /// .. + 15 of its block and Dv / valueSplit columns from (w % valueSplit)
  /// * Dv / valueSplit; keysPerWarp keys per CTA-wide ring stage.
  bool latent = false;
  int64_t blockRows = 16, rowBlocks = 1, valueSplit = 1;
};

/// The plan of the latent kernel (DecodeLatent.cpp) for a problem that
/// needsLatentDecode; "expected ..." at `op` where it cannot hold it.
FailureOr<DecodePlan>
planLatentDecodeKernel(Operation *op, const KernelProblem &p,
                       const ConvertAttnToNVVMOptions &o);

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
        groupSize(p.headsQ / p.headsKV), sharedRows(valueSharesKeyRows(p)) {
    // One shared K/V cache (V = attn.kv_prefix of K's view): a V row is the
    // start of the K row, so P.V reads the K subtile (its pitch and swizzle)
    // and each row crosses HBM once.
    if (sharedRows)
      vSmemRowBytes = smemRowBytes;
    // K and V subtiles take equal slots of the ring (Dv != D: the wider
    // row's), so a stage is 2 * subTileBytes either way.
    subTileBytes = bn * std::max(smemRowBytes, vSmemRowBytes);
    qTileBytes = 16 * smemRowBytes;
  }

  LogicalResult emit();

private:
  /// The latent kernel's body (DecodeLatent.cpp), in program order.
  LogicalResult emitLatent();
  /// Its CTA's keys in ring blocks of keysPerWarp, shared by every warp.
  void emitLatentKeyRange();
  /// Block `j` of the CTA's keys into ring stage `stage` (all threads).
  void copyLatentBlock(Value j, Value stage);
  Value latentStage(Value stage) {
    return add(mul(stage, plan.keysPerWarp * smemRowBytes), cI32(qTileBytes));
  }
  scf::ForOp emitLatentKeyLoop();
  /// O += P V over the warp's Dv columns of the block at `vTile`.
  void emitLatentPV(ArrayRef<Value> probs, Value vTile,
                    SmallVector<Value> &acc);
  /// Each row's (m, l) and O staged in shared memory, then written (or
  /// this split's partial) by emitStagedRowsMerge.
  void emitLatentEpilogue(ValueRange results);
  /// Merges `slots` staged (m, l, O) sets of `slotRows` rows each (the
  /// decode warps' or the latent block's one) and writes O and LSE, or the
  /// split's partial; stats at `statsBase`, O rows at `oBase`.
  void emitStagedRowsMerge(int64_t slots, int64_t slotRows, Value statsBase,
                           Value oBase);

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
  Value vStage(Value stage) {
    return sharedRows ? kStage(stage) : add(kStage(stage), subTileBytes);
  }

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
  /// V's rows are K's (valueSharesKeyRows): only K subtiles are copied.
  bool sharedRows;
  int64_t subTileBytes, qTileBytes;

  Value split, group, batch, kvHead, length;
  /// Latent kernel: the CTA's row block (i32), the group row of its row 0,
  /// the warp's row tile and Dv part; null in the decode kernel.
  Value rowBlock, blockRow0, warpRowTile, warpPart;
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

  // Varlen queries over caches (p.seqQ is the tile's block-m there).
  /// The sequence's query length, its first packed row plus q0, and the
  /// rows of this query block that are the sequence's (i32).
  Value queryLen, queryRow0, rowsValid;
  /// The query length the masks align with: Lq, or the sequence's.
  Value maskQueryLength() { return p.varlen ? queryLen : cI32(p.seqQ); }
  /// Whether packed tile row `row` (i32) is one of the sequence's rows.
  Value isRowOfSequence(Value row) {
    return cmp(arith::CmpIPredicate::slt,
               arith::RemUIOp::create(b, row, cI32(p.seqQ)), rowsValid);
  }
  /// Varlen: writes item (row, col) of O and LSE at the packed rows.
  void writePackedRow(Value row, Value col, Value v, Value lse);
};

} // namespace mlir::attn::detail

#endif // ATTN_CONVERSION_ATTNTONVVM_DECODEEMITTER_H
