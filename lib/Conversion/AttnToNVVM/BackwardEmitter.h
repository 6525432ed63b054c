//===- BackwardEmitter.h - what the backward kernels share ------*- C++ -*-===//
//
// Part of attn-mlir. The emission helpers of the backward kernels
// (BackwardKernel.cpp, BackwardDQKernel.cpp) on top of FragmentEmitter.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDEMITTER_H

#include "BackwardKernel.h"
#include "FragmentEmitter.h"

#include "attn/Dialect/Attn/IR/Varlen.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::attn::detail {

/// Helpers every backward kernel uses, on top of the fragment layer.
class BackwardEmitterBase : public FragmentEmitter {
protected:
  /// `keysPerTile`: the columns of the kernel's score tiles (the main
  /// kernel's queries, the dQ kernel's keys); `threads`: its block size.
  BackwardEmitterBase(gpu::GPUFuncOp func, const KernelProblem &p,
                      int64_t keysPerTile = kBackwardBlockM,
                      int64_t threads = kBackwardThreads)
      : FragmentEmitter(func, p, /*mTiles=*/1, keysPerTile),
        threads(threads) {}

  /// Argument `i` (a BackwardArgument) of the kernel.
  Value arg(int64_t i) {
    return func.getBody().front().getArgument(getBackwardArgumentIndex(p, i));
  }
  /// The score operands' memrefs (null: none), for setScoreOperands.
  Value scoreArg(std::optional<int64_t> index) {
    return index ? func.getBody().front().getArgument(*index) : Value();
  }
  Value global(int64_t i) { return pointerOf(arg(i), ptrGlobal); }
  Value blockId(gpu::Dimension dim) {
    return arith::IndexCastUIOp::create(b, i32,
                                        gpu::BlockIdOp::create(b, dim));
  }
  Value threadId() {
    return arith::IndexCastUIOp::create(
        b, i32, gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  }
  Value mul64(Value x, int64_t y) {
    return arith::MulIOp::create(b, toI64(x), cI64(y));
  }
  Value add64(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  void ifThen(Value cond, function_ref<void()> body) {
    scf::IfOp::create(b, cond, [&](OpBuilder &, Location) {
      body();
      scf::YieldOp::create(b);
    });
  }
  /// Copies `rows` rows of one head (row 0 at byte `headBytes` of `gptr`,
  /// rows `rowPitch` bytes apart: FragmentEmitter::rowBytes) starting at
  /// `firstRow` into the swizzled tile at shared byte `tile`; rows at or
  /// past `rowLimit` are zero-filled (cp.async source size 0).
  /// `width`: elements of a row (0: D; Dv for V and dO), whose shared rows
  /// are sharedRowBytes(width) apart.
  void copyRows(Value gptr, Value headBytes, int64_t rowPitch, Value firstRow,
                int64_t rows, Value rowLimit, Value tile, int64_t width = 0);
  /// copyRows of rows whose chunk count is no power of two: one division
  /// per item.
  void copyRowItems(Value gptr, Value headBytes, int64_t rowPitch,
                    Value firstRow, int64_t rows, Value rowLimit, Value tile,
                    int64_t chunksPerRow, int64_t smemRow);
  /// One 16-byte chunk of copyRows: chunk `chunk` of global row `row` (a
  /// row at or past `rowLimit` reads row 0 with source size 0, i.e. zeros)
  /// to shared byte dstOffset(), built after the source address.
  void copyRowChunk(Value gptr, Value headBytes, int64_t rowPitch, Value row,
                    Value chunk, Value rowLimit,
                    function_ref<Value()> dstOffset);
  /// Whether Q (and O, dO, dQ) is a dense [B, Hq, Lq, D]: rows of a head
  /// then heads then batches, so bh * Lq + row indexes its rows.
  bool denseQuery() const {
    return p.query.seq == d && p.query.head == p.seqQ * d &&
           p.query.mergesBatchAndHead(p.headsQ);
  }
  /// The same of O (and dO), [B, Hq, Lq, Dv]: Q's record where D = Dv
  /// (getBackwardStrides), O's own where Dv != D.
  bool denseOutput() const {
    return p.output.seq == dv && p.output.head == p.seqQ * dv &&
           p.output.mergesBatchAndHead(p.headsQ);
  }
  /// The element offset (i64) of row 0 of query head `bh` (= batch * Hq +
  /// head) in an operand with Q's strides.
  Value queryHeadElements(Value bh) {
    Value batch = arith::DivUIOp::create(b, bh, cI32(p.headsQ));
    Value head = arith::RemUIOp::create(b, bh, cI32(p.headsQ));
    return add64(mul64(batch, p.query.batch), mul64(head, p.query.head));
  }
  /// The same in an operand with O's strides (O, dO).
  Value outputHeadElements(Value bh) {
    Value batch = arith::DivUIOp::create(b, bh, cI32(p.headsQ));
    Value head = arith::RemUIOp::create(b, bh, cI32(p.headsQ));
    return add64(mul64(batch, p.output.batch), mul64(head, p.output.head));
  }
  /// C[16 rows of the warp, 64 columns] = A B^T with A rows read at
  /// `aLane` (the warp's 16 rows) of the tile at `aTile` and B rows from
  /// the tile at `bTile` (both [rows, D], non-transposed ldmatrix).
  SmallVector<Value> emitRowGemm(Value aTile, Value aLane, Value bTile);
  /// The same over `steps` k16 steps of tiles whose shared rows are
  /// `rowBytes` apart, B rows at `bLane` (as kLane): dP^T = V dO^T and
  /// dP = dO V^T contract Dv, not D.
  SmallVector<Value> emitRowGemm(Value aTile, Value aLane, Value bTile,
                                 Value bLane, int64_t steps, int64_t rowBytes);

  /// len_b = key_lengths[batch] clamped to [0, Lk] (attn-tile-backward's
  /// rule), or null without key_lengths (BackwardScoreOperands.cpp).
  Value loadKeyLength(Value batch);
  /// Varlen: sets the CTA's rows to sequence `n`'s (i32), read from the
  /// cu_seqlens arguments through buildVarlenSequence, the tiled program's
  /// definition (BackwardScoreOperands.cpp).
  void loadVarlenSequence(Value n);
  /// Sequence `n`'s (i32) first packed rows and lengths, as i32 values.
  VarlenSequence readVarlenSequence(Value n);
  /// A gradient whose packed rows no sequence owns are zeroed: argument
  /// `argument`, head row 0 at byte `headBytes`, rows `rowPitch` bytes
  /// apart, `width` 16-bit elements each.
  struct RowsToZero {
    int64_t argument;
    Value headBytes;
    int64_t rowPitch, width;
  };
  /// Varlen: zeroes the rows at or past `ownedEnd` (the last sequence's
  /// end, i32) of `targets` among this CTA's `blockRows` rows of its grid's
  /// x (of `totalRows` packed rows).
  void zeroUnownedRows(int64_t blockRows, Value ownedEnd, int64_t totalRows,
                       ArrayRef<RowsToZero> targets);
  /// The CTA's queries and keys: Lq (varlen: its sequence's) and len_b
  /// (key_lengths), the sequence's keys (varlen) or Lk.
  Value queryLength() { return queryLen ? queryLen : cI32(p.seqQ); }
  Value keyLength() { return keyLen ? keyLen : cI32(p.seqK); }
  /// Whether blocks of `rows` query rows (`keys` keys) may reach past the
  /// CTA's queries (keys): lengths not known to be multiples of the block.
  bool queryTail(int64_t rows) const { return queryLen || p.seqQ % rows != 0; }
  bool keyTail(int64_t keys) const { return keyLen || p.seqK % keys != 0; }
  /// The key rows the CTA reads and writes: its sequence's (varlen), else
  /// all Lk (key_lengths masks the keys past len_b, whose gradients are 0);
  /// and whether blocks of `keys` keys may reach past them.
  Value keyRows() { return p.varlen ? keyLen : cI32(p.seqK); }
  bool keyRowsTail(int64_t keys) const {
    return p.varlen || p.seqK % keys != 0;
  }
  /// `headBytes` moved to the sequence's first row (varlen: `start` rows of
  /// `rowPitch` bytes further; unchanged for a dense problem).
  Value atSequenceStart(Value headBytes, Value start, int64_t rowPitch) {
    return start ? add64(headBytes, mul64(start, rowPitch)) : headBytes;
  }
  /// The row (i64) of query `row` of head `bh` in the dense [B, Hq, Lq]
  /// rows of delta, lse_log2 and dq_accum: bh Lq + (queryStart) + row.
  Value queryRowIndex(Value bh, Value row) {
    if (queryStart)
      row = add(queryStart, row);
    return add64(mul64(bh, p.seqQ), toI64(row));
  }
  /// Lane offsets of A fragments of the warp's 16 rows of a [rows, D] tile
  /// (as the forward's Q): matrices 1, 3 are rows 8-15, 2, 3 the next chunk.
  /// `rowBytes`: the tile's shared row bytes (0: a D-wide tile's).
  Value warpRowsLane(int64_t rowBytes = 0);
  /// Lane offsets of non-transposed B fragments (two n8 tiles of rows) of
  /// a tile of `rowBytes` rows: kLane of such a tile.
  Value rowsBLane(int64_t rowBytes);
  /// Lane offsets of transposed B fragments (two n8 tiles of columns) of a
  /// tile of `rowBytes` rows: vLane of such a tile.
  Value columnsBLane(int64_t rowBytes);
  /// acc += A B as FragmentEmitter::emitPV, with `columns` output columns
  /// (acc: columns / 8 C fragments) and B the [keys, columns] tile at
  /// `tile` (shared rows `rowBytes` apart, lanes at `lane`): dK += dS^T Q
  /// and dQ += dS K produce D columns where emitPV produces Dv.
  void emitProbsGemm(ArrayRef<Value> probs, Value tile, Value lane,
                     int64_t columns, int64_t rowBytes,
                     SmallVector<Value> &acc);

  int64_t threads;
  /// Varlen: the packed rows of the CTA's sequence's first query and key
  /// (i32; null for a dense problem, whose rows start at 0 of their head)
  /// and its query length (null: Lq). keyLen: the sequence's keys or len_b
  /// of key_lengths (null: Lk).
  Value queryStart, keyStart, queryLen, keyLen;
  /// copyRows writes 64-column panels (row r of panel c / 8 at r * 128,
  /// chunk c at (c % 8 ^ r % 8) * 16: the 128B swizzle wgmma reads) instead
  /// of whole swizzled rows; the same bytes where D = 64.
  bool panelTiles = false;
};


} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARDEMITTER_H
