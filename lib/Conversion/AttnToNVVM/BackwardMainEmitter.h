//===- BackwardMainEmitter.h - the backward main kernel ---------*- C++ -*-===//
//
// Part of attn-mlir. The main kernel of the mma.sync backward (one CTA per
// KV block), emitted by BackwardKernel.cpp (coordinates, copies, the
// 16-keys-per-warp step, dQ reductions, loop, epilogue) and
// BackwardSquareTiles.cpp (the step and epilogue of square warp tiles).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDMAINEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDMAINEMITTER_H

#include "BackwardEmitter.h"

namespace mlir::attn::detail {

class MainEmitter : public BackwardEmitterBase {
public:
  MainEmitter(gpu::GPUFuncOp func, const KernelProblem &p,
              const BackwardMainOptions &options)
      : BackwardEmitterBase(func, p, options.tiles.blockM,
                            options.tiles.mainThreads()),
        atomicDQ(options.atomicDQ), reduction(options.reduction),
        rotate(options.atomicDQ && options.rotateQBlocks),
        blockM(options.tiles.blockM), blockN(options.tiles.blockN),
        dqMTiles(options.tiles.dqWarpRows / 16),
        rowGroups(blockM / options.tiles.dqWarpRows),
        columnParts(options.tiles.dqColumnParts()),
        square(options.tiles.square()), squareQueries(blockM / 2),
        hopper(options.tiles.hopper) {
    kvTileBytes = blockN * smemRowBytes;
    vTileBytes = blockN * vSmemRowBytes;
    qTileBytes = blockM * smemRowBytes;
    doTileBytes = blockM * vSmemRowBytes;
    stageBytes = qTileBytes + doTileBytes + 2 * blockM * 4;
    dsRowBytes = backwardStagedRowBytes(blockM);
    // wgmma reads 128B-swizzled panels: every tile on a 1024-byte atom.
    if (hopper) {
      panelTiles = true;
      stageBytes = llvm::alignTo(stageBytes, kHopperBackwardAlignment);
    }
  }

  void emit();

private:
  // Shared memory: K | V | dS^T | (P^T, square warp tiles; the second
  // dS^T buffer, hopper) | stage 0 | stage 1, each stage Q | dO | lse_log2
  // | delta. Every tile starts at a multiple of 128 bytes.
  int64_t kTile() const { return 0; }
  int64_t vTile() const { return kvTileBytes; }
  int64_t dsTile() const { return kvTileBytes + vTileBytes; }
  int64_t pTile() const { return dsTile() + blockN * dsRowBytes; }
  Value stageBase(Value stage) {
    return add(mul(stage, stageBytes),
               pTile() + (square || hopper ? blockN * dsRowBytes : 0));
  }
  Value qTile(Value base) { return base; }
  Value doTile(Value base) { return add(base, qTileBytes); }
  Value lseTile(Value base) { return add(base, qTileBytes + doTileBytes); }
  Value deltaTile(Value base) {
    return add(base, qTileBytes + doTileBytes + blockM * 4);
  }

  /// The (query head, first row) of loop step `it`: heads of the group
  /// outer, Q blocks inner.
  std::pair<Value, Value> stepCoordinates(Value it);
  /// Issues the copies of step `it`'s Q, dO, lse_log2 and delta into the
  /// stage at `base`.
  void copyStep(Value it, Value base);
  /// The f32 pair at columns 8 nt + 2t, +1 of a 64-float shared row vector.
  std::pair<Value, Value> loadColumnPair(Value vecTile, int64_t nt);
  /// Where a lane's transposed scores lie: register r of [mTiles][nTiles][4]
  /// is key key0 + keyDelta(r), query query0 + queryDelta(r).
  struct ScoreLayout {
    /// key0 = n0 + keysPerOwner keyOwner + g; query0 = m0 + queriesPerOwner
    /// queryOwner (none: 0) + 2t, built where they are used.
    Value keyOwner;
    int64_t keysPerOwner;
    Value queryOwner;
    int64_t queriesPerOwner;
    int64_t nTiles;
    int64_t keyDelta(int64_t r) const {
      return r / (4 * nTiles) * 16 + (r % 4 >> 1) * 8;
    }
    int64_t queryDelta(int64_t r) const { return r / 4 % nTiles * 8 + (r & 1); }
  };
  ScoreLayout rowLayout() { return {warp, 16, Value(), 0, nTiles()}; }
  ScoreLayout squareLayout() {
    return {keyGroup, 32, queryHalf, squareQueries, squareQueries / 8};
  }
  Value layoutKey0(const ScoreLayout &l) {
    return add(add(n0, mul(l.keyOwner, l.keysPerOwner)), g);
  }
  Value layoutQuery0(const ScoreLayout &l, Value m0) {
    Value first =
        l.queryOwner ? add(m0, mul(l.queryOwner, l.queriesPerOwner)) : m0;
    return add(first, mul(t, 2));
  }
  int64_t layoutRegisters(const ScoreLayout &l) const {
    return (l.keysPerOwner / 16) * l.nTiles * 4;
  }
  /// Calls `body(r, query, key)` for every register r of `layout` (the
  /// Q block at `m0`), in register order.
  void forEachScore(const ScoreLayout &layout, Value m0,
                    function_ref<void(int64_t, Value, Value)> body) {
    Value key0 = layoutKey0(layout);
    Value query0 = layoutQuery0(layout, m0);
    for (int64_t r = 0; r < layoutRegisters(layout); ++r) {
      Value key = add(key0, layout.keyDelta(r));
      Value query = add(query0, layout.queryDelta(r));
      body(r, query, key);
    }
  }
  /// -inf where key (row) does not see query (column), or past Lk / Lq.
  SmallVector<Value> emitMask(ArrayRef<Value> s, Value m0,
                              const ScoreLayout &layout);
  /// ALiBi on natural-unit transposed scores (identity without it).
  SmallVector<Value> emitAlibi(ArrayRef<Value> s, Value m0, Value head,
                               const ScoreLayout &layout);
  /// The bias added to and the mask operand applied on natural-unit
  /// transposed scores (BackwardScoreOperands.cpp; identity without them).
  SmallVector<Value> emitScoreOperands(SmallVector<Value> s, Value m0,
                                       Value head, const ScoreLayout &layout);
  /// d_bias of the lane's transposed scores: `ds` is dS before the
  /// softcap factor (BackwardBiasGradient.cpp). Stored rounded where the
  /// bias has the full shape, added to dbias_accum where it broadcasts;
  /// queries past Lq and keys past Lk are skipped.
  void emitBiasGradient(ArrayRef<Value> ds, Value m0, Value head,
                        const ScoreLayout &layout);
  /// Stores dS^T (this warp's 16 rows) as 16-bit pairs into the dS tile
  /// (at shared offset `tile`; default dsTile()).
  void storeDsT(ArrayRef<Value> ds, Value tile = {});
  // Square warp tiles (BackwardSquareStep.cpp).
  /// Lane values of the square layout (keyGroup, queryHalf, lanes).
  void emitSquareCoordinates();
  /// C[32 keys of the key group, block m / 2 queries of the query half] =
  /// A B^T: A the rows of the tile at `aTile`, B the query rows of the
  /// tile at `bTile` (both [rows, D]).
  SmallVector<Value> emitSquareScoreGemm(Value aTile, Value bTile);
  /// acc[32 keys, D / 2 dims of the dim part] += A B with A the staged
  /// [keys, block m] tile at `aTile` (P^T or dS^T), B the [block m, D]
  /// tile at `bTile` (dO or Q, transposed reads).
  void emitSquareStagedGemm(Value aTile, Value bTile, SmallVector<Value> &acc);
  /// Stores the warp's transposed scores (square layout) as 16-bit pairs
  /// into the [block n, block m] tile at `tile`.
  void storeSquareTransposed(ArrayRef<Value> v, int64_t tile);
  /// The step with square warp tiles.
  void emitSquareStep(Value stage, Value head, Value m0, SmallVector<Value> &dK,
                      SmallVector<Value> &dV);
  /// dK * scale and dV of the square layout to global memory.
  void emitSquareEpilogue(ValueRange dK, ValueRange dV);
  /// Softcap, natural units, ALiBi and the mask of raw transposed scores;
  /// `th` receives tanh under softcap.
  SmallVector<Value> finishTransposedScores(SmallVector<Value> s,
                                            SmallVector<Value> &th, Value m0,
                                            Value head,
                                            const ScoreLayout &layout);
  /// dq_accum[bh, m0 + rows of this warp, its columns] += dS K.
  void emitDQ(Value bh, Value m0);
  /// Adds the warp's dQ tile `acc` (C fragments of its d8 tiles, rows m0 +
  /// 16 (warp's row group) + g, + 8, columns from dqColumn0) to the tiled
  /// dq_accum (BackwardKernel.h) as `reduction` says; rows past Lq are
  /// skipped.
  void emitDQReduction(Value bh, Value m0, ArrayRef<Value> acc);
  /// The same tile's rows below Lq in the natural layout, where the m16
  /// tile at `tileRow` crosses Lq (`full`: it lies wholly below).
  void emitNaturalDQReduction(Value bh, Value tileRow, Value full,
                              ArrayRef<Value> acc);
  /// red.global.add.v<N>.f32 of `values` at `ptr` (N = values.size()),
  /// predicated on the i1 `valid` where given.
  void emitVectorRed(Value ptr, ArrayRef<Value> values, Value valid = {});
  /// A loop step's state: the step, its stage (it % 2) and the carried
  /// dK and dV.
  struct StepState {
    Value it, stage;
    SmallVector<Value> dK, dV;
  };
  /// The loop over `total` (head, Q block) steps carrying dK and dV
  /// (zeros first), `body` emitting each step (its copies, barriers and
  /// gradients).
  scf::ForOp emitStepLoop(Value total, function_ref<void(StepState &)> body);
  /// Issues step it + 1's copies into the other stage (where it + 1 <
  /// total) and commits the group.
  void copyNextStep(Value it, Value stage, Value total);
  /// The mma.sync loop: step it + 1's copies under step it, two barriers.
  scf::ForOp emitLoop(Value total);
  /// One step: the gradients of the Q block at `m0` of query head `head`.
  void emitStep(Value it, Value stage, Value head, Value m0,
                SmallVector<Value> &dK, SmallVector<Value> &dV);
  /// dK * scale and dV to global memory (rows < Lk).
  void emitEpilogue(ValueRange dK, ValueRange dV);
  /// Varlen: zeroes the packed key rows no sequence owns (past the last
  /// sequence's keys) among this CTA's block of rows of dK and dV, whose
  /// head row 0 is at `kHeadBytes` and `vHeadBytes`.
  void emitUnownedKeyRows(Value kHeadBytes, Value vHeadBytes);
  /// P^T = exp2(S^T * scale * log2 e - lse_log2) in place, lse_log2 per
  /// query (column) from the stage at `base`.
  void emitProbabilities(SmallVector<Value> &s, Value base);
  /// dP^T in place becomes dS^T = P^T (dP^T - delta) (times 1 - tanh^2
  /// under softcap, `th` the tanh values), delta from the stage at `base`;
  /// with grad_bias, dS^T before the softcap factor is the bias gradient
  /// of the step's (query head `head`, Q block `m0`), stored or summed by
  /// emitBiasGradient in the row layout.
  void emitScoreGradients(ArrayRef<Value> probs, SmallVector<Value> &dp,
                          ArrayRef<Value> th, Value base, Value m0, Value head);
  // The hopper main kernel (BackwardHopper.cpp).
  /// Aligns the dynamic shared memory base to kHopperBackwardAlignment
  /// (smem and sharedBase).
  void emitHopperSharedBase();
  /// The loop over steps on wgmma, one barrier per step: step it's dQ is
  /// issued at step it + 1 (after the loop for the last step).
  scf::ForOp emitHopperLoop(Value total);
  /// Step `it` on wgmma: the previous step's dQ = dS K (SS, both operands
  /// MN-major) overlapping S^T (SS) and reduced into dq_accum, dP^T (SS),
  /// dV += P^T dO and dK += dS^T Q (A from registers), dS^T to this step's
  /// shared buffer.
  void emitHopperStep(Value it, Value stage, SmallVector<Value> &dK,
                      SmallVector<Value> &dV);
  /// storeDsT by stmatrix: the same bytes at shared offset `tile`.
  void storeDsTMatrices(ArrayRef<Value> ds, Value tile);
  /// The shared offset of step `it`'s dS^T: two buffers, by parity.
  Value hopperDsTile(Value it);
  /// Issues (commits, does not wait for) this warpgroup's dQ columns of
  /// the step whose dS^T buffer is `it`'s; returns the accumulators.
  SmallVector<Value> issueHopperDQ(Value it);
  /// Adds step `it`'s retired dQ columns `dq` to dq_accum at its (query
  /// head, Q block).
  void reduceHopperDQ(Value it, ArrayRef<Value> dq);
  /// The accumulators `acc` (the wgmma layout of this warp) packed pairwise
  /// into the A fragments of k16 steps over their columns.
  SmallVector<Value> packAccumulatorsAsA(ArrayRef<Value> acc);
  /// The epilogue where Dv != D or V has strides of its own: dK rows (D
  /// wide, K's strides) and dV rows (Dv wide, V's) stored apart.
  void emitWideEpilogue(ValueRange dK, ValueRange dV);
  /// Stores `acc` (times `scale` where given) of key row `key` of the
  /// natural layout, `tiles` d8 tiles, into the rows at `ptr` (head row 0
  /// at byte `headBytes`, rows `rowPitch` bytes apart), for keys below Lk.
  void storeKeyRow(Value key, ValueRange acc, int64_t tiles, int64_t half,
                   Value ptr, Value headBytes, int64_t rowPitch,
                   std::optional<double> scale);
  /// dP^T = V dO^T (Dv contracted) for the warp's 16 keys.
  SmallVector<Value> emitValueGemm(Value doTileOffset);
  /// dK += dS^T Q (D columns) for the warp's 16 keys.
  void emitKeyGradientGemm(ArrayRef<Value> ds, Value qTileOffset,
                           SmallVector<Value> &dK);
  /// The K tile's address for dQ's ldmatrix.trans of key rows kk * 16 ..
  /// and the warp's column pair dp, where its column part's chunk count is
  /// no power of two (the chunk is swizzled per read).
  Value dqKAddress(int64_t kk, int64_t dp);
  /// Stores key row `key`'s dK * scale and dV (fragment values fragment(dt),
  /// +1 of each of `tiles` d8 tiles, at byte columnBytes(dt) of the row) to
  /// global memory, for a key below Lk only; both epilogues' layouts.
  void storeKeyRowGradients(Value key, ValueRange dK, ValueRange dV,
                            int64_t tiles,
                            function_ref<int64_t(int64_t)> fragment,
                            function_ref<Value(int64_t)> columnBytes);

  bool atomicDQ;
  DQReduction reduction;
  bool rotate;
  /// Q rows and keys of a step; the dQ split over warps (row groups of 16
  /// queries times column parts of D).
  int64_t blockM, blockN, dqMTiles, rowGroups, columnParts;
  int64_t kvTileBytes, vTileBytes, qTileBytes, doTileBytes, stageBytes,
      dsRowBytes;
  Value batch, kvHead, n0, kvHeadBytes, aLane, dsLaneA;
  /// V's (and dV's) head offset: kvHeadBytes where V has K's strides; dO's:
  /// Q's where dO has Q's strides. Lanes of Dv-wide tiles where Dv != D.
  Value vHeadBytes, valueALane, valueBLane, queryColumnsLane;
  /// dQ columns of a part whose chunk count is no power of two: the row
  /// part of the lane's K address and its first chunk.
  Value dqKRowLane, dqKChunkLane;

  /// The warp's dQ columns: the first one (i32), the K tile's lane offset
  /// for them and the byte offset of their 128-byte group.
  Value dqColumn0, dqKLane, dqKBytes;
  Value mBegin, numM, mRotation;
  Value qPtr, kPtr, vPtr, doPtr, lsePtr, deltaPtr;
  /// Square warp tiles: warp w owns keys 32 (w & 3) .. + 31 in every GEMM;
  /// its S^T and dP^T cover queries (w >> 2) block m / 2 .. of the step,
  /// its dK and dV dims (w >> 2) D / 2 .. .
  bool square;
  int64_t squareQueries;
  /// The hopper main kernel, and its aligned shared base's 32-bit shared
  /// address (what wgmma descriptors encode).
  bool hopper;
  Value sharedBase;
  Value keyGroup, queryHalf, squareALane, stagedALane, dimLaneB, dimBytes;
};

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDMAINEMITTER_H
