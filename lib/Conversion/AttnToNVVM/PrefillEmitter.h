//===- PrefillEmitter.h - the prefill kernel's emitter and tiles ----------===//
//
// Part of attn-mlir. The mma.sync prefill family's tiles and emitter
// (PrefillKernel.cpp has the design). Its body is emitted from two files:
// PrefillKernel.cpp (coordinates, the Q/K/V and score-operand copies, the
// prologue, the kernel's frame, the plan and the family) and
// PrefillLoop.cpp (the KV loop: scores, score mods, masks, mask_mod blocks,
// the online softmax; the epilogue).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVVM_PREFILLEMITTER_H
#define ATTN_CONVERSION_ATTNTONVVM_PREFILLEMITTER_H

#include "FragmentEmitter.h"
#include "KernelFamily.h"

namespace mlir::attn::detail {


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
    return length ? length : sequenceK ? sequenceK : seqK ? seqK : cI32(p.seqK);
  }
  /// Lq: the runtime length where it is dynamic (varlen: the sequence's).
  Value queryLength() {
    return sequenceQ ? sequenceQ : seqQ ? seqQ : cI32(p.seqQ);
  }
  /// Whether Lq may end inside a query block (keys: inside a KV block).
  bool queryTail() const { return sequenceQ || seqQ || p.seqQ % bm != 0; }
  bool keyTail() const {
    return length || sequenceK || seqK || p.seqK % bn != 0;
  }
  /// Varlen: byte offset of row 0 of `head` of the sequence whose first
  /// packed row is `start` (index): start * row stride + head * head
  /// stride, in i64.
  Value packedHeadByteOffset(const OperandStrides &s, Value start,
                             Value head) {
    Value rows = arith::MulIOp::create(
        b, arith::IndexCastOp::create(b, i64, start), cI64(s.seq * 2));
    return arith::AddIOp::create(
        b, rows, arith::MulIOp::create(b, toI64(head), cI64(s.head * 2)));
  }
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
  /// Varlen: the program's sequence's query and key lengths and its first
  /// packed query row (i32); null for a dense attention.
  Value sequenceQ, sequenceK, queryStart;
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

} // namespace mlir::attn::detail

#endif // ATTN_CONVERSION_ATTNTONVVM_PREFILLEMITTER_H
