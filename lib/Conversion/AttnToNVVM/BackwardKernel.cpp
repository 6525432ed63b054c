//===- BackwardKernel.cpp - the mma.sync backward kernels -----------------===//
//
// Part of attn-mlir. See BackwardKernel.h. The main kernel works on scores
// transposed: a warp owns 16 keys as the rows of its accumulator tiles and
// the 64 queries of a Q block as columns, so P^T and dS^T are already the A
// fragments of dV += P^T dO and dK += dS^T Q (the forward's C -> A reuse),
// and dK, dV stay in registers across the whole Q loop. Only dQ += dS K
// needs dS with queries as rows: dS^T goes through shared memory once and
// is read back transposed by ldmatrix.trans.
//
//===----------------------------------------------------------------------===//

#include "BackwardMainEmitter.h"
#include "KernelFamily.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

namespace {

constexpr int64_t kThreads = kBackwardThreads;

//===----------------------------------------------------------------------===//
// Preprocess: delta, lse_log2, dq_accum = 0
//===----------------------------------------------------------------------===//

class PreprocessEmitter : public BackwardEmitterBase {
public:
  PreprocessEmitter(gpu::GPUFuncOp func, const KernelProblem &p, bool atomicDQ)
      : BackwardEmitterBase(func, p), atomicDQ(atomicDQ) {}

  void emit() {
    b.setInsertionPointToStart(&func.getBody().front());
    // D / 8 consecutive lanes share a row, one 16-byte chunk each, so the
    // row sum is a butterfly over log2(D / 8) lane bits. In general a row
    // takes the power of two of lanes at or above max(D, Dv) / 8: lanes
    // past Dv / 8 add 0 to delta, lanes past D / 8 zero no dq_accum chunk.
    int64_t chunksPerRow = backwardPreprocessLanes(p);
    int64_t outChunks = dv / 8, accChunks = d / 8;
    Value tidV = threadId();
    Value bh = blockId(gpu::Dimension::y);
    Value row = add(mul(blockId(gpu::Dimension::x), backwardPreprocessRows(p)),
                    shr(tidV, llvm::Log2_64(chunksPerRow)));
    Value chunk = andI(tidV, chunksPerRow - 1);
    Value valid = cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ));
    // Rows past Lq read row Lq - 1 so that every lane joins the shuffles.
    Value clamped = sel(valid, row, cI32(p.seqQ - 1));
    Value rowIndex = add64(mul64(bh, p.seqQ), toI64(clamped));
    Value elemOff = add64(arith::MulIOp::create(b, rowIndex, cI64(d)),
                          toI64(mul(chunk, 8)));
    // O and dO share Q's strides where D = Dv (getBackwardStrides), else
    // O's own; dq_accum, delta and lse_log2 are dense.
    Value inOutput = outChunks < chunksPerRow
                         ? cmp(arith::CmpIPredicate::ult, chunk,
                               cI32(outChunks))
                         : Value();
    Value ioChunk = inOutput ? sel(inOutput, chunk, cI32(0)) : chunk;
    Value ioOff = elemOff;
    if ((dv != d || inOutput) && denseOutput())
      ioOff = add64(arith::MulIOp::create(b, rowIndex, cI64(dv)),
                    toI64(mul(ioChunk, 8)));
    else if (!denseOutput())
      ioOff = add64(
          add64(outputHeadElements(bh), mul64(clamped, p.output.seq)),
          toI64(mul(ioChunk, 8)));
    Value byteOff = arith::MulIOp::create(b, ioOff, cI64(2));
    Type halfType = p.isBF16 ? Type(b.getBF16Type()) : Type(b.getF16Type());
    auto vec8 = VectorType::get({8}, halfType);
    auto vec8f = VectorType::get({8}, f32);
    auto load = [&](int64_t argIndex) -> Value {
      Value v = LLVM::LoadOp::create(
          b, vec8, gep(ptrGlobal, global(argIndex), byteOff), 16);
      return LLVM::FPExtOp::create(b, vec8f, v);
    };
    Value prod = arith::MulFOp::create(b, load(kBwdO), load(kBwdDO));
    Value sum = cF32(0.0);
    for (int64_t e = 0; e < 8; ++e)
      sum = arith::AddFOp::create(
          b, sum, LLVM::ExtractElementOp::create(b, prod, cI32(e)));
    if (inOutput)
      sum = sel(inOutput, sum, cF32(0.0));
    for (int64_t m = 1; m < chunksPerRow; m *= 2)
      sum = arith::AddFOp::create(b, sum, shuffleXor(sum, m));

    ifThen(valid, [&] {
      // dq_accum starts at zero for the main kernel's atomics.
      if (atomicDQ && accChunks < chunksPerRow)
        ifThen(cmp(arith::CmpIPredicate::ult, chunk, cI32(accChunks)),
               [&] { zeroAccumulator(elemOff); });
      else if (atomicDQ)
        zeroAccumulator(elemOff);
      ifThen(cmp(arith::CmpIPredicate::eq, chunk, cI32(0)), [&] {
        Value off = arith::MulIOp::create(b, rowIndex, cI64(4));
        // Delta = rowsum(dO * O) - grad_lse: the LSE's gradient enters the
        // backward here only (the main kernels and the sinks' gradient
        // read Delta).
        Value delta = sum;
        if (std::optional<int64_t> gradLse =
                getBackwardScoreArguments(p).gradLse) {
          Value g = LLVM::LoadOp::create(
              b, f32,
              gep(ptrGlobal, pointerOf(scoreArg(gradLse), ptrGlobal), off), 4);
          delta = arith::SubFOp::create(b, sum, g);
        }
        LLVM::StoreOp::create(b, delta, gep(ptrGlobal, global(kBwdDelta), off),
                              4);
        // lse * log2(e), and +inf for a row that saw no key (lse = -inf):
        // exp2(s - inf) = 0 makes its P, and so its gradients, zero.
        Value lse = LLVM::LoadOp::create(
            b, f32, gep(ptrGlobal, global(kBwdLse), off), 4);
        Value empty = arith::CmpFOp::create(
            b, arith::CmpFPredicate::OEQ, lse,
            cF32(-std::numeric_limits<double>::infinity()));
        Value scaled = sel(empty, cF32(std::numeric_limits<double>::infinity()),
                           arith::MulFOp::create(b, lse, cF32(kLog2e)));
        LLVM::StoreOp::create(b, scaled,
                              gep(ptrGlobal, global(kBwdLseLog2), off), 4);
      });
    });
    gpu::ReturnOp::create(b);
  }

private:
  /// Zeroes the 8 floats of dq_accum at element `elemOff`.
  void zeroAccumulator(Value elemOff) {
    auto vec4f = VectorType::get({4}, f32);
    Value zeros = arith::ConstantOp::create(
        b, vec4f, DenseElementsAttr::get(vec4f, b.getF32FloatAttr(0.0)));
    Value accBytes = arith::MulIOp::create(b, elemOff, cI64(4));
    Value accPtr = global(kBwdDQAccum);
    LLVM::StoreOp::create(b, zeros, gep(ptrGlobal, accPtr, accBytes), 16);
    LLVM::StoreOp::create(
        b, zeros, gep(ptrGlobal, accPtr, add64(accBytes, cI64(16))), 16);
  }

  bool atomicDQ;
};

//===----------------------------------------------------------------------===//
// Convert: dQ = scale * dq_accum
//===----------------------------------------------------------------------===//

class ConvertEmitter : public BackwardEmitterBase {
public:
  ConvertEmitter(gpu::GPUFuncOp func, const KernelProblem &p)
      : BackwardEmitterBase(func, p) {}

  void emit() {
    b.setInsertionPointToStart(&func.getBody().front());
    // One thread per 8 consecutive floats of dq_accum as stored (2 x
    // 16-byte loads, a warp's loads 1024 contiguous bytes): in a tiled row
    // group they are 4 columns of 2 rows of dQ (two 8-byte stores), in the
    // natural one 8 columns of one row. Reading dQ's chunks instead put a
    // 16-byte row part's two rows in threads D apart, so every sector was
    // fetched twice.
    int64_t chunks = p.batch * p.headsQ * p.seqQ * d / 8;
    Value chunk = add(mul(blockId(gpu::Dimension::x), kThreads), threadId());
    ifThen(cmp(arith::CmpIPredicate::ult, chunk, cI32(chunks)), [&] {
      auto vec8f = VectorType::get({8}, f32);
      Value accBytes = mul64(chunk, 8 * 4);
      Value all = LLVM::LoadOp::create(
          b, vec8f, gep(ptrGlobal, global(kBwdDQAccum), accBytes), 16);
      Value scale = arith::ConstantOp::create(
          b, vec8f, DenseElementsAttr::get(vec8f, b.getF32FloatAttr(p.scale)));
      all = arith::MulFOp::create(b, all, scale);
      Type halfType = p.isBF16 ? Type(b.getBF16Type()) : Type(b.getF16Type());
      Value packed =
          LLVM::FPTruncOp::create(b, VectorType::get({8}, halfType), all);
      DQTargets t = dqTargets(chunk);
      bool tiledLayout = backwardDQAccumTiled(p);
      // Stored floats 4i + 2h + e are row h's column 2i + e (tiled), or
      // column 4h + 2i + e of the one row (natural).
      auto part = [&](ArrayRef<int32_t> tiled,
                      ArrayRef<int32_t> natural) -> Value {
        if (!tiledLayout)
          return LLVM::ShuffleVectorOp::create(b, packed, packed, natural)
              .getResult();
        Value tv = LLVM::ShuffleVectorOp::create(b, packed, packed, tiled);
        if (!t.full)
          return tv;
        Value nv = LLVM::ShuffleVectorOp::create(b, packed, packed, natural);
        return arith::SelectOp::create(b, t.full, tv, nv).getResult();
      };
      Value first = part({0, 1, 4, 5}, {0, 1, 2, 3});
      Value second = part({2, 3, 6, 7}, {4, 5, 6, 7});
      Value out = global(kBwdDQ);
      LLVM::StoreOp::create(
          b, first, gep(ptrGlobal, out, arith::MulIOp::create(b, t.first,
                                                              cI64(2))),
          8);
      LLVM::StoreOp::create(
          b, second, gep(ptrGlobal, out, arith::MulIOp::create(b, t.second,
                                                               cI64(2))),
          8);
    });
    gpu::ReturnOp::create(b);
  }

private:
  /// The dQ elements (i64) the two 4-element halves of a thread's 8 stored
  /// floats go to; `full` (null when Lq is a multiple of 16: every group
  /// is tiled) says whether the chunk's row group is tiled.
  struct DQTargets {
    Value first, second, full;
  };

  /// Inverts the tiled layout (BackwardKernel.h) for stored chunk `chunk`:
  /// stored row 16k + r, column 32u + 16c + 8k' (c, k' < 2: chunk
  /// jm = 4u + 2c + k' of its row) holds rows 16k + g, 16k + g + 8 with
  /// g = 2 (r % 4) + c, columns 32u + 8 (r / 4) + 4k' .. + 3.
  DQTargets dqTargets(Value chunk) {
    int64_t perRow = d / 8;
    Value bhRow, jm;
    if (llvm::isPowerOf2_64(perRow)) {
      bhRow = shr(chunk, llvm::Log2_64(perRow));
      jm = andI(chunk, perRow - 1);
    } else {
      bhRow = arith::DivUIOp::create(b, chunk, cI32(perRow));
      jm = arith::RemUIOp::create(b, chunk, cI32(perRow));
    }
    if (!backwardDQAccumTiled(p))
      return naturalTargets(chunk, bhRow, jm);
    // r: the stored row in its group of 16 (every head's rows start on a
    // group when Lq is a multiple of 16).
    Value r, full;
    if (p.seqQ % kDQAccumGroupRows == 0) {
      r = andI(bhRow, kDQAccumGroupRows - 1);
    } else {
      Value row = arith::RemUIOp::create(b, bhRow, cI32(p.seqQ));
      r = andI(row, kDQAccumGroupRows - 1);
      full = cmp(arith::CmpIPredicate::sle,
                 add(arith::SubIOp::create(b, row, r), kDQAccumGroupRows),
                 cI32(p.seqQ));
    }
    Value g = add(mul(andI(r, 3), 2), andI(shr(jm, 1), 1));
    Value row0 = add(arith::SubIOp::create(b, bhRow, r), g);
    Value col = add(add(mul(andI(jm, ~int64_t(3)), 8), mul(shr(r, 2), 8)),
                    mul(andI(jm, 1), 4));
    // dQ's element of row x = bh * Lq + row: x D where dQ is dense BHSD,
    // else through Q's strides (BSHD, strided views).
    bool dense = denseQuery();
    Value bhLq, headBase;
    if (!dense) {
      Value bh = arith::DivUIOp::create(b, bhRow, cI32(p.seqQ));
      bhLq = mul(bh, p.seqQ);
      headBase = queryHeadElements(bh);
    }
    auto rowStart = [&](Value x) -> Value {
      if (dense)
        return mul64(x, d);
      return add64(headBase,
                   mul64(arith::SubIOp::create(b, x, bhLq), p.query.seq));
    };
    Value first = add64(rowStart(row0), toI64(col));
    Value second = add64(first, cI64(8 * (dense ? d : p.query.seq)));
    if (!full)
      return {first, second, Value()};
    Value natural = dense ? mul64(chunk, 8)
                          : add64(rowStart(bhRow), toI64(mul(jm, 8)));
    return {arith::SelectOp::create(b, full, first, natural),
            arith::SelectOp::create(b, full, second, add64(natural, cI64(4))),
            full};
  }

  /// The targets where every group of dq_accum is natural (D not a
  /// multiple of 32, backwardDQAccumTiled): chunk jm of row bhRow, as
  /// stored; `full` stays null, so the stores take the natural halves.
  DQTargets naturalTargets(Value chunk, Value bhRow, Value jm) {
    Value first;
    if (denseQuery()) {
      first = mul64(chunk, 8);
    } else {
      Value bh = arith::DivUIOp::create(b, bhRow, cI32(p.seqQ));
      Value row = arith::SubIOp::create(b, bhRow, mul(bh, p.seqQ));
      first = add64(add64(queryHeadElements(bh), mul64(row, p.query.seq)),
                    toI64(mul(jm, 8)));
    }
    return {first, add64(first, cI64(4)), Value()};
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Main: one CTA per KV block (the emitter: BackwardMainEmitter.h; square
// warp tiles: BackwardSquareTiles.cpp)
//===----------------------------------------------------------------------===//

std::pair<Value, Value> MainEmitter::stepCoordinates(Value it) {
  Value inGroup = arith::DivUIOp::create(b, it, numM);
  Value local = arith::RemUIOp::create(b, it, numM);
  if (mRotation) {
    // (local + rotation) mod numM, both terms below numM.
    Value sum = add(local, mRotation);
    local = sel(cmp(arith::CmpIPredicate::uge, sum, numM),
                arith::SubIOp::create(b, sum, numM), sum);
  }
  Value mBlock = add(mBegin, local);
  Value head = add(mul(kvHead, p.headsQ / p.headsKV), inGroup);
  return {head, mul(mBlock, blockM)};
}

void BackwardEmitterBase::copyRows(Value gptr, Value headBytes,
                                   int64_t rowPitch, Value firstRow,
                                   int64_t rows, Value rowLimit, Value tile,
                                   int64_t width) {
  if (!width)
    width = d;
  int64_t chunksPerRow = width / 8, smemRow = sharedRowBytes(width);
  if (!llvm::isPowerOf2_64(chunksPerRow) || threads % chunksPerRow != 0 ||
      rows % (threads / chunksPerRow) != 0)
    return copyRowItems(gptr, headBytes, rowPitch, firstRow, rows, rowLimit,
                        tile, chunksPerRow, smemRow);
  // As the forward's copies: thread tid moves chunk tid % (D / 8) of rows
  // tid / (D / 8) + k * rowsPerPass (a multiple of 8: the swizzled chunk is
  // the same for every k).
  int64_t rowsPerPass = threads / chunksPerRow;
  Value row0 = shr(tid, llvm::Log2_64(chunksPerRow));
  Value chunk = andI(tid, chunksPerRow - 1);
  Value smemOffset = swizzled(row0, chunk, smemRow);
  if (panelTiles) {
    smemRow = 128;
    smemOffset = add(mul(shr(chunk, 3), rows * smemRow),
                     swizzled(row0, andI(chunk, 7), smemRow));
  }
  for (int64_t k = 0; k < rows / rowsPerPass; ++k)
    copyRowChunk(
        gptr, headBytes, rowPitch, add(add(firstRow, row0), k * rowsPerPass),
        chunk, rowLimit,
        [&] { return add(tile, add(smemOffset, k * rowsPerPass * smemRow)); });
}

void BackwardEmitterBase::copyRowChunk(Value gptr, Value headBytes,
                                       int64_t rowPitch, Value row, Value chunk,
                                       Value rowLimit,
                                       function_ref<Value()> dstOffset) {
  Value valid = cmp(arith::CmpIPredicate::slt, row, rowLimit);
  Value srcSize = sel(valid, cI32(16), cI32(0));
  row = sel(valid, row, cI32(0));
  Value src =
      gep(ptrGlobal, gptr,
          add64(headBytes, toI64(add(mul(row, rowPitch), mul(chunk, 16)))));
  Value dst = gep(ptrShared, smem, dstOffset());
  NVVM::CpAsyncOp::create(b, dst, src, 16, NVVM::LoadCacheModifierKind::CG,
                          srcSize);
}

void MainEmitter::copyStep(Value it, Value base) {
  // Named values, not structured bindings: the lambda below captures m0.
  std::pair<Value, Value> coordinates = stepCoordinates(it);
  Value head = coordinates.first, m0 = coordinates.second;
  Value bh = add(mul(batch, p.headsQ), head);
  // Q and dO share Q's strides (getBackwardProblem).
  Value qBytes =
      atSequenceStart(headByteOffset(p.query, p.headsQ, batch, head, bh),
                      queryStart, rowBytes(p.query));
  copyRows(qPtr, qBytes, rowBytes(p.query), m0, blockM, queryLength(),
           qTile(base));
  // dO has Q's strides where D = Dv (getBackwardStrides), O's else.
  Value doBytes =
      p.output == p.query
          ? qBytes
          : atSequenceStart(headByteOffset(p.output, p.headsQ, batch, head, bh),
                            queryStart, rowBytes(p.output));
  copyRows(doPtr, doBytes, rowBytes(p.output), m0, blockM, queryLength(),
           doTile(base), dv);
  // Item i < block m copies lse_log2 of row i, item block m + i delta (4
  // bytes each: a row's offset is 4-byte aligned only); padded rows read 0.
  // Threads past the 2 block m items copy nothing (a zero-size copy would
  // zero-fill another item's word).
  for (int64_t first = 0; first < 2 * blockM; first += threads) {
    Value item = add(tid, first);
    auto copy = [&] {
      Value isDelta = cmp(arith::CmpIPredicate::uge, item, cI32(blockM));
      Value r = andI(item, blockM - 1);
      Value row = add(m0, r);
      Value valid = cmp(arith::CmpIPredicate::slt, row, queryLength());
      Value rowIndex = queryRowIndex(bh, sel(valid, row, cI32(0)));
      Value src = gep(ptrGlobal, sel(isDelta, deltaPtr, lsePtr),
                      arith::MulIOp::create(b, rowIndex, cI64(4)));
      Value dst = gep(
          ptrShared, smem,
          add(sel(isDelta, deltaTile(base), lseTile(base)), mul(r, 4)));
      NVVM::CpAsyncOp::create(b, dst, src, 4, NVVM::LoadCacheModifierKind::CA,
                              sel(valid, cI32(4), cI32(0)));
    };
    if (first + threads <= 2 * blockM)
      copy();
    else
      ifThen(cmp(arith::CmpIPredicate::ult, item, cI32(2 * blockM)), copy);
  }
}

Value BackwardEmitterBase::warpRowsLane(int64_t rowBytes) {
  Value matrix = shr(lane, 3);
  return laneOffset(
      mul(add(add(mul(warp, 16), r8), mul(andI(matrix, 1), 8)),
          rowBytes ? rowBytes : smemRowBytes),
      shr(matrix, 1));
}

SmallVector<Value> BackwardEmitterBase::emitRowGemm(Value aTile, Value aLane,
                                                    Value bTile) {
  return emitRowGemm(aTile, aLane, bTile, kLane, kSteps(), smemRowBytes);
}

std::pair<Value, Value> MainEmitter::loadColumnPair(Value vecTile,
                                                    int64_t nt) {
  Value off = add(vecTile, add(mul(t, 8), nt * 32));
  Value pair = LLVM::LoadOp::create(b, VectorType::get({2}, f32),
                                    tileAt(off), /*alignment=*/8);
  return {LLVM::ExtractElementOp::create(b, pair, cI32(0)),
          LLVM::ExtractElementOp::create(b, pair, cI32(1))};
}

SmallVector<Value> MainEmitter::emitMask(ArrayRef<Value> s, Value m0,
                                         const ScoreLayout &layout) {
  const KeyVisibility &vis = p.visibility;
  // With key_lengths or varlen every block may hold keys at or past the
  // CTA's (and queries past its sequence's).
  bool tailK = keyTail(blockN), tailQ = queryTail(blockM);
  if (!vis.isBounded() && !tailK && !tailQ)
    return SmallVector<Value>(s);
  IntArith a(b, b.getLoc(), i32);
  // Pairs of blocks inside the keys every row of the Q block sees need no
  // element test; nor do Q blocks without padded rows.
  KeyInterval<Value> full =
      vis.keysSeenByAll(a, m0, add(m0, blockM - 1), queryLength(), keyLength());
  auto orI = [&](Value x, Value y) { return arith::OrIOp::create(b, x, y); };
  Value needsMask = arith::ConstantIntOp::create(b, b.getI1Type(), 0);
  if (vis.left)
    needsMask = orI(needsMask, a.slt(n0, full.begin));
  if (vis.right || tailK)
    needsMask = orI(needsMask,
                    cmp(arith::CmpIPredicate::sgt, add(n0, blockN), full.end));
  if (tailQ)
    needsMask = orI(needsMask, cmp(arith::CmpIPredicate::sgt, add(m0, blockM),
                                   queryLength()));
  auto masked = scf::IfOp::create(
      b, needsMask,
      [&](OpBuilder &, Location) {
        // key - query = key0 - query0 + a constant per register.
        Value key0 = layoutKey0(layout);
        Value query0 = layoutQuery0(layout, m0);
        Value diff0 = arith::SubIOp::create(b, key0, query0);
        // The runtime diagonal len_b - Lq with key_lengths (a sequence's
        // Lk - Lq with varlen).
        Value diag = keyLen ? vis.diagonal(a, queryLength(), keyLen)
                            : cI32(p.diagOffset);
        Value lo = vis.left ? vis.lowestDelta(a, diag) : Value();
        Value hi = vis.right ? vis.highestDelta(a, diag) : Value();
        Value negInf = cF32(-std::numeric_limits<double>::infinity());
        SmallVector<Value> out;
        for (int64_t r = 0; r < layoutRegisters(layout); ++r) {
          int64_t keyDelta = layout.keyDelta(r);
          int64_t queryDelta = layout.queryDelta(r);
          Value diff = add(diff0, keyDelta - queryDelta);
          Value keep = arith::ConstantIntOp::create(b, b.getI1Type(), 1);
          if (lo)
            keep = arith::AndIOp::create(b, keep, a.sge(diff, lo));
          if (hi)
            keep = arith::AndIOp::create(b, keep, a.sle(diff, hi));
          if (tailK)
            keep = arith::AndIOp::create(
                b, keep, a.slt(add(key0, keyDelta), keyLength()));
          if (tailQ)
            keep = arith::AndIOp::create(
                b, keep, a.slt(add(query0, queryDelta), queryLength()));
          out.push_back(sel(keep, s[r], negInf));
        }
        scf::YieldOp::create(b, out);
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, s); });
  return SmallVector<Value>(masked.getResults());
}

SmallVector<Value> MainEmitter::emitAlibi(ArrayRef<Value> s, Value m0,
                                          Value head,
                                          const ScoreLayout &layout) {
  SmallVector<Value> out(s);
  if (p.alibiSlopes.empty())
    return out;
  Value negSlope = emitNegAlibiSlope(head);
  // The distance i + Lk - Lq - j with i the query (column), j the key (row).
  Value key0 = layoutKey0(layout);
  Value query0 = layoutQuery0(layout, m0);
  // (len_b in place of Lk with key_lengths.)
  Value dist0 = arith::SubIOp::create(
      b,
      keyLen ? add(query0, arith::SubIOp::create(b, keyLen, queryLength()))
             : add(query0, p.seqK - p.seqQ),
      key0);
  for (int64_t r = 0; r < layoutRegisters(layout); ++r) {
    int64_t keyDelta = layout.keyDelta(r);
    int64_t queryDelta = layout.queryDelta(r);
    Value dist = add(dist0, queryDelta - keyDelta);
    Value absDist = arith::MaxSIOp::create(
        b, dist, arith::SubIOp::create(b, cI32(0), dist));
    out[r] = fma(negSlope, arith::SIToFPOp::create(b, f32, absDist), out[r]);
  }
  return out;
}

void MainEmitter::storeDsT(ArrayRef<Value> ds, Value tile) {
  // Lane (g, t) holds rows g, g + 8 of the warp's 16 keys and queries
  // 8 nt + 2t, +1: one 4-byte store per pair; the chunk is swizzled by the
  // row (row % 8 == g), so the 32 lanes of a store hit 32 banks.
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(add(mul(warp, 16), g), half * 8);
    Value rowBytes = add(mul(row, dsRowBytes), mul(t, 4));
    for (int64_t nt = 0; nt < nTiles(); ++nt) {
      Value packed = packHalf2(ds[sIndex(0, nt, 2 * half)],
                               ds[sIndex(0, nt, 2 * half + 1)]);
      Value chunk = arith::XOrIOp::create(b, cI32(nt), g);
      LLVM::StoreOp::create(b, packed,
                            tileAt(add(tile ? tile : cI32(dsTile()),
                                       add(rowBytes, mul(chunk, 16)))),
                            /*alignment=*/4);
    }
  }
}

void MainEmitter::emitDQ(Value bh, Value m0) {
  // Warp w computes the 16 dqMTiles queries of row group w % row groups
  // over all block n keys, for column part w / row groups of D: A = dS
  // (ldmatrix.trans of dS^T), B = K (ldmatrix.trans, as V in the forward's
  // P V). With 128 keys and 64 rows the 8 warps split D in halves (16-row
  // tiles) or quarters (32-row tiles: each K fragment feeds two mma): each
  // step reduces 64 x D values for 128 keys, half the 4-warp kernel's per
  // key.
  int64_t pairs = d / 16 / columnParts;
  SmallVector<Value> acc(dqMTiles * pairs * 2 * 4, cF32(0.0));
  Value kBase = add(cI32(kTile()), dqKBytes);
  for (int64_t kk = 0; kk < blockN / 16; ++kk) {
    Value aOff = add(add(cI32(dsTile()), dsLaneA), kk * 16 * dsRowBytes);
    SmallVector<SmallVector<Value>> af;
    for (int64_t mt = 0; mt < dqMTiles; ++mt) {
      // m16 tile mt is 2 chunks further along the dS^T row, bits disjoint
      // from the lane's chunk (see emit): an XOR of the address.
      Value off = mt ? arith::XOrIOp::create(b, aOff, cI32(mt * 32)) : aOff;
      af.push_back(ldmatrix(tileAt(off), /*transpose=*/true));
    }
    for (int64_t dp = 0; dp < pairs; ++dp) {
      SmallVector<Value> kf = ldmatrix(
          dqKRowLane ? dqKAddress(kk, dp)
                     : fragmentAddress(kBase, dqKLane, kk * 16, 2 * dp),
          /*transpose=*/true);
      for (int64_t mt = 0; mt < dqMTiles; ++mt)
        for (int64_t half = 0; half < 2; ++half)
          mma(af[mt], {kf[2 * half], kf[2 * half + 1]},
              MutableArrayRef<Value>(acc).slice(
                  ((mt * pairs + dp) * 2 + half) * 4, 4));
    }
  }
  int64_t tiles = pairs * 2 * 4;
  for (int64_t mt = 0; mt < dqMTiles; ++mt)
    emitDQReduction(bh, add(m0, mt * 16),
                    ArrayRef<Value>(acc).slice(mt * tiles, tiles));
}

void MainEmitter::emitVectorRed(Value ptr, ArrayRef<Value> values,
                                Value valid) {
  std::string text = "red.global.add.v" + std::to_string(values.size()) +
                     ".f32 [$0], {";
  std::string constraints = "l";
  for (size_t i = 0; i < values.size(); ++i) {
    text += (i ? ", $" : "$") + std::to_string(i + 1);
    constraints += ",f";
  }
  text += "};";
  SmallVector<Value> operands = {ptr};
  llvm::append_range(operands, values);
  if (valid) {
    // A predicate rather than a branch: the 4 x D / 8 values need not stay
    // live across control flow (ptxas spilled them at D = 128 with a
    // branch).
    std::string n = std::to_string(values.size() + 1);
    text = "{\n.reg .pred p;\nsetp.ne.b32 p, $" + n + ", 0;\n@p " + text +
           "\n}";
    constraints += ",r";
    operands.push_back(arith::ExtUIOp::create(b, i32, valid));
  }
  LLVM::InlineAsmOp::create(b, TypeRange(), operands, text, constraints,
                            /*has_side_effects=*/true,
                            /*is_align_stack=*/false, LLVM::TailCallKind::None,
                            LLVM::AsmDialectAttr(), ArrayAttr());
}

void MainEmitter::emitDQReduction(Value bh, Value m0, ArrayRef<Value> acc) {
  // The warp's m16 tile starts at a multiple of 16 rows: one row group of
  // the tiled layout (BackwardKernel.h). Lane l's fragment of the n8 tile
  // of column chunk c (8 columns) is 16 bytes at row tileRow + 4 (c % 4) +
  // g / 2, column 8 (c - c % 4) + 4 (l % 8).
  Value accPtr = global(kBwdDQAccum);
  int64_t tiles = int64_t(acc.size()) / 4;
  Value tileRow = add(m0, mul(andI(warp, rowGroups - 1), 16 * dqMTiles));
  if (!backwardDQAccumTiled(p))
    // Every row group natural (BackwardKernel.h): the rows below Lq.
    return emitNaturalDQReduction(
        bh, tileRow, arith::ConstantIntOp::create(b, b.getI1Type(), 0), acc);
  Value headRow = queryRowIndex(bh, tileRow);
  Value laneElem = add64(
      arith::MulIOp::create(b, add64(headRow, toI64(shr(g, 1))), cI64(d)),
      toI64(mul(r8, 4)));
  Value chunk0 = shr(dqColumn0, 3);
  bool staticChunks = (d / 8 / columnParts) % 4 == 0;
  auto fragmentPtr = [&](int64_t dt) {
    Value tileElem;
    if (staticChunks) {
      // The part starts on a unit: n8 tile dt is chunk dt % 4 of unit
      // dt / 4 past the part's first column.
      tileElem = add(dqColumn0, (dt % 4) * 4 * d + (dt / 4) * 32);
    } else {
      Value chunk = add(chunk0, dt);
      tileElem = add(mul(andI(chunk, 3), 4 * d),
                     mul(andI(chunk, ~int64_t(3)), 8));
    }
    return gep(ptrGlobal, accPtr,
               arith::MulIOp::create(b, add64(laneElem, toI64(tileElem)),
                                     cI64(4)));
  };
  // A tile is tiled-layout iff its whole row group lies below Lq; tiles at
  // or past Lq add nothing.
  Value full;
  if (p.seqQ % blockM != 0)
    full = cmp(arith::CmpIPredicate::sle, add(tileRow, kDQAccumGroupRows),
               cI32(p.seqQ));
  auto tiled = [&] {
    for (int64_t dt = 0; dt < tiles; ++dt) {
      Value ptr = fragmentPtr(dt);
      ArrayRef<Value> c = acc.slice(dt * 4, 4);
      if (reduction == DQReduction::RedV4) {
        // Predicated, not branched: the 4 x D / 8 values need not stay
        // live across control flow (ptxas spilled them at D = 128 with a
        // branch).
        emitVectorRed(ptr, c, full);
      } else if (reduction == DQReduction::RedV2) {
        emitVectorRed(ptr, c.take_front(2), full);
        emitVectorRed(gep(ptrGlobal, ptr, cI64(8)), c.drop_front(2), full);
      } else {
        // The result is unused: a reduction (atom.global.add.f32 in the PTX).
        for (int64_t e = 0; e < 4; ++e)
          LLVM::AtomicRMWOp::create(b, LLVM::AtomicBinOp::fadd,
                                    gep(ptrGlobal, ptr, cI64(4 * e)), c[e],
                                    LLVM::AtomicOrdering::monotonic);
      }
    }
  };
  if (reduction == DQReduction::Atom && full)
    ifThen(full, tiled);
  else
    tiled();
  if (p.seqQ % kDQAccumGroupRows != 0)
    emitNaturalDQReduction(bh, tileRow, full, acc);
}

void MainEmitter::emitNaturalDQReduction(Value bh, Value tileRow, Value full,
                                         ArrayRef<Value> acc) {
  // The group that crosses Lq keeps the natural layout: lane (g, t) adds
  // rows g, g + 8 at columns 8 dt + 2t, +1 where the row is below Lq.
  Value accPtr = global(kBwdDQAccum);
  int64_t tiles = int64_t(acc.size()) / 4;
  Value crosses = arith::AndIOp::create(
      b,
      arith::XOrIOp::create(b, full,
                            arith::ConstantIntOp::create(b, b.getI1Type(), 1)),
      cmp(arith::CmpIPredicate::slt, tileRow, queryLength()));
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(add(tileRow, g), half * 8);
    Value valid = arith::AndIOp::create(
        b, crosses, cmp(arith::CmpIPredicate::slt, row, queryLength()));
    Value elem =
        add64(arith::MulIOp::create(b, queryRowIndex(bh, row), cI64(d)),
              toI64(add(dqColumn0, mul(t, 2))));
    Value base = arith::MulIOp::create(b, elem, cI64(4));
    auto adds = [&] {
      for (int64_t dt = 0; dt < tiles; ++dt) {
        Value pairPtr = gep(ptrGlobal, accPtr, add64(base, cI64(dt * 32)));
        Value x = acc[dt * 4 + 2 * half], y = acc[dt * 4 + 2 * half + 1];
        if (reduction != DQReduction::Atom) {
          emitVectorRed(pairPtr, {x, y}, valid);
          continue;
        }
        LLVM::AtomicRMWOp::create(b, LLVM::AtomicBinOp::fadd, pairPtr, x,
                                  LLVM::AtomicOrdering::monotonic);
        LLVM::AtomicRMWOp::create(b, LLVM::AtomicBinOp::fadd,
                                  gep(ptrGlobal, pairPtr, cI64(4)), y,
                                  LLVM::AtomicOrdering::monotonic);
      }
    };
    if (reduction == DQReduction::Atom)
      ifThen(valid, adds);
    else
      adds();
  }
}

SmallVector<Value>
MainEmitter::finishTransposedScores(SmallVector<Value> s,
                                    SmallVector<Value> &th, Value m0,
                                    Value head, const ScoreLayout &layout) {
  if (p.softcap) {
    Value inner = cF32(p.scale / *p.softcap);
    for (Value &v : s) {
      v = tanhApprox(arith::MulFOp::create(b, v, inner));
      th.push_back(v);
    }
  }
  if (p.needsNaturalScores()) {
    Value unit = cF32(p.softcap ? *p.softcap : p.scale);
    for (Value &v : s)
      v = arith::MulFOp::create(b, v, unit);
  }
  // Masks last, so that masked keys stay -inf whatever ALiBi and the bias
  // add.
  return emitMask(emitScoreOperands(emitAlibi(s, m0, head, layout), m0, head,
                                    layout),
                  m0, layout);
}

void MainEmitter::emitStep(Value it, Value stage, Value head, Value m0,
                           SmallVector<Value> &dK, SmallVector<Value> &dV) {
  if (square)
    return emitSquareStep(stage, head, m0, dK, dV);
  Value base = stageBase(stage);
  Value bh = add(mul(batch, p.headsQ), head);
  // S^T = K Q^T; softcap keeps tanh for the chain rule.
  SmallVector<Value> th;
  SmallVector<Value> s =
      finishTransposedScores(emitRowGemm(cI32(kTile()), aLane, qTile(base)),
                             th, m0, head, rowLayout());
  emitProbabilities(s, base);
  emitPV(s, doTile(base), dV);
  // dS^T = P^T (dP^T - delta), dP^T = V dO^T.
  SmallVector<Value> ds = emitValueGemm(doTile(base));
  emitScoreGradients(s, ds, th, base, m0, head);
  emitKeyGradientGemm(ds, qTile(base), dK);
  if (!atomicDQ)
    return;
  storeDsT(ds);
  gpu::BarrierOp::create(b);
  emitDQ(bh, m0);
}

void MainEmitter::emitProbabilities(SmallVector<Value> &s, Value base) {
  // P^T = exp2(s * c - lse * log2 e), lse_log2 per query (column).
  Value c = cF32(expScale);
  for (int64_t nt = 0; nt < nTiles(); ++nt) {
    auto [l0, l1] = loadColumnPair(lseTile(base), nt);
    for (int64_t e = 0; e < 4; ++e) {
      Value &v = s[sIndex(0, nt, e)];
      v = exp2(fma(v, c, arith::NegFOp::create(b, e & 1 ? l1 : l0)));
    }
  }
}

void MainEmitter::emitScoreGradients(ArrayRef<Value> probs,
                                     SmallVector<Value> &ds, ArrayRef<Value> th,
                                     Value base, Value m0, Value head) {
  // The bias joins the scores after softcap: its gradient is dS before the
  // tanh factor.
  SmallVector<Value> biasGrad(p.withGradBias ? ds.size() : 0);
  for (int64_t nt = 0; nt < nTiles(); ++nt) {
    auto [d0, d1] = loadColumnPair(deltaTile(base), nt);
    for (int64_t e = 0; e < 4; ++e) {
      int64_t r = sIndex(0, nt, e);
      Value grad = arith::MulFOp::create(
          b, probs[r], arith::SubFOp::create(b, ds[r], e & 1 ? d1 : d0));
      if (p.withGradBias)
        biasGrad[r] = grad;
      if (p.softcap)
        // d tanh(u) = 1 - tanh(u)^2.
        grad = arith::MulFOp::create(
            b, grad, fma(arith::NegFOp::create(b, th[r]), th[r], cF32(1.0)));
      ds[r] = grad;
    }
  }
  if (p.withGradBias)
    emitBiasGradient(biasGrad, m0, head, rowLayout());
}

scf::ForOp MainEmitter::emitStepLoop(Value total,
                                     function_ref<void(StepState &)> body) {
  // dK: D / 8 C fragments, dV: Dv / 8.
  int64_t numAcc = d / 8 * 4;
  SmallVector<Value> init(numAcc + dTiles() * 4, cF32(0.0));
  auto loop = scf::ForOp::create(b, cI32(0), total, cI32(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  ValueRange iter = loop.getRegionIterArgs();
  StepState step{loop.getInductionVar(),
                 {},
                 SmallVector<Value>(iter.begin(), iter.begin() + numAcc),
                 SmallVector<Value>(iter.begin() + numAcc, iter.end())};
  step.stage = andI(step.it, 1);
  body(step);
  SmallVector<Value> yields(step.dK);
  yields.append(step.dV);
  scf::YieldOp::create(b, yields);
  return loop;
}

void MainEmitter::copyNextStep(Value it, Value stage, Value total) {
  // An empty group on the last step keeps the wait count uniform.
  Value next = add(it, 1);
  ifThen(cmp(arith::CmpIPredicate::slt, next, total), [&] {
    copyStep(next, stageBase(arith::XOrIOp::create(b, stage, cI32(1))));
  });
  NVVM::CpAsyncCommitGroupOp::create(b);
}

scf::ForOp MainEmitter::emitLoop(Value total) {
  return emitStepLoop(total, [&](StepState &step) {
    // Step it + 1 streams into the other stage while this one computes.
    copyNextStep(step.it, step.stage, total);
    NVVM::CpAsyncWaitGroupOp::create(b, 1);
    gpu::BarrierOp::create(b);
    auto [head, m0] = stepCoordinates(step.it);
    emitStep(step.it, step.stage, head, m0, step.dK, step.dV);
    // Every warp is done with this stage and with the dS^T tile before the
    // next step's copies and stores reuse them.
    gpu::BarrierOp::create(b);
  });
}

void MainEmitter::storeKeyRowGradients(
    Value key, ValueRange dK, ValueRange dV, int64_t tiles,
    function_ref<int64_t(int64_t)> fragment,
    function_ref<Value(int64_t)> columnBytes) {
  Value scale = cF32(p.scale);
  Value dkPtr = global(kBwdDK), dvPtr = global(kBwdDV);
  auto body = [&] {
    Value rowStart = add64(kvHeadBytes, mul64(key, rowBytes(p.key)));
    for (int64_t dt = 0; dt < tiles; ++dt) {
      int64_t r = fragment(dt);
      Value off = add64(rowStart, columnBytes(dt));
      Value k = packHalf2(arith::MulFOp::create(b, dK[r], scale),
                          arith::MulFOp::create(b, dK[r + 1], scale));
      LLVM::StoreOp::create(b, k, gep(ptrGlobal, dkPtr, off), 4);
      Value v = packHalf2(dV[r], dV[r + 1]);
      LLVM::StoreOp::create(b, v, gep(ptrGlobal, dvPtr, off), 4);
    }
  };
  if (!keyRowsTail(blockN))
    body();
  else
    ifThen(cmp(arith::CmpIPredicate::slt, key, keyRows()), body);
}

void MainEmitter::emitEpilogue(ValueRange dK, ValueRange dV) {
  if (dv != d || p.value != p.key)
    return emitWideEpilogue(dK, dV);
  // Lane (g, t) holds keys g, g + 8 of the warp's 16, dims 8 dt + 2t, +1.
  for (int64_t half = 0; half < 2; ++half)
    storeKeyRowGradients(
        add(add(add(n0, mul(warp, 16)), g), half * 8), dK, dV, dTiles(),
        [&](int64_t dt) { return oIndex(0, dt, 2 * half); },
        [&](int64_t dt) { return toI64(add(mul(t, 4), dt * 16)); });
}

void MainEmitter::emit() {
  b.setInsertionPointToStart(&func.getBody().front());
  emitLaneCoordinates();
  if (hopper)
    emitHopperSharedBase();
  Value bhkv = blockId(gpu::Dimension::y);
  batch = arith::DivUIOp::create(b, bhkv, cI32(p.headsKV));
  kvHead = arith::RemUIOp::create(b, bhkv, cI32(p.headsKV));
  n0 = mul(blockId(gpu::Dimension::x), blockN);
  // Varlen: x is a flattened KV block of some sequence (searchVarlenBlock
  // over cu_seqlens_k), whose rows the CTA reads at their packed offsets.
  if (p.varlen) {
    BackwardScoreArguments args = getBackwardScoreArguments(p);
    auto [n, block] = searchVarlenBlock(b, scoreArg(args.cuSeqlensK),
                                        cI32(p.seqK), cI32(p.numSequences),
                                        blockN, blockId(gpu::Dimension::x));
    loadVarlenSequence(n);
    n0 = mul(block, blockN);
  }
  // K, V, dK and dV share K's strides (getBackwardProblem).
  Value kvHeadOrigin = headByteOffset(p.key, p.headsKV, batch, kvHead, bhkv);
  kvHeadBytes = atSequenceStart(kvHeadOrigin, keyStart, rowBytes(p.key));
  // V and dV have K's strides where D = Dv (getBackwardStrides).
  Value vHeadOrigin = p.value == p.key ? kvHeadOrigin
                                       : headByteOffset(p.value, p.headsKV,
                                                        batch, kvHead, bhkv);
  vHeadBytes = p.value == p.key
                   ? kvHeadBytes
                   : atSequenceStart(vHeadOrigin, keyStart, rowBytes(p.value));
  qPtr = global(kBwdQ);
  kPtr = global(kBwdK);
  vPtr = global(kBwdV);
  doPtr = global(kBwdDO);
  lsePtr = global(kBwdLseLog2);
  deltaPtr = global(kBwdDelta);
  BackwardScoreArguments scoreArgs = getBackwardScoreArguments(p);
  setScoreOperands(scoreArg(scoreArgs.bias), scoreArg(scoreArgs.mask),
                   /*sinksMemref=*/Value());
  aLane = warpRowsLane();
  if (dv != d) {
    valueALane = warpRowsLane(vSmemRowBytes);
    valueBLane = rowsBLane(vSmemRowBytes);
    queryColumnsLane = columnsBLane(smemRowBytes);
  }
  Value matrix = shr(lane, 3);
  // dS A fragments from dS^T transposed: matrix i reads keys r8 + 8 (i >> 1)
  // at query chunk 2 (w's row group) + (i & 1); the chunk is swizzled by
  // the key (r8).
  Value dsRow = add(r8, mul(shr(matrix, 1), 8));
  Value dsChunk = arith::XOrIOp::create(
      b, add(mul(andI(warp, rowGroups - 1), 2 * dqMTiles), andI(matrix, 1)),
      r8);
  dsLaneA = add(mul(dsRow, dsRowBytes), mul(dsChunk, 16));
  // The warp's dQ columns: part w / row groups of D / column parts. Its
  // first 16-byte chunk splits into a multiple of 8 (whole 128-byte groups,
  // untouched by the swizzle: a byte offset) and a rest below 8 whose bits
  // are disjoint from the even chunks 2 dp of the part (the part's chunk
  // count is a power of two), so it joins the lane's chunk as in vLane.
  Value part = shr(warp, llvm::Log2_64(rowGroups));
  int64_t partChunks = d / 8 / columnParts;
  Value chunk0 = mul(part, partChunks);
  dqColumn0 = mul(chunk0, 8);
  dqKBytes = mul(andI(chunk0, ~int64_t(7)), 16);
  dqKLane = laneOffset(mul(add(r8, mul(andI(matrix, 1), 8)), smemRowBytes),
                       add(shr(matrix, 1), andI(chunk0, 7)));
  if (columnParts > 1 && !llvm::isPowerOf2_64(partChunks)) {
    // D = 96, 192 split in parts of 6, 12 chunks: a part's first chunk
    // shares bits with the pairs' chunks, so each read swizzles its own.
    dqKRowLane = mul(add(r8, mul(andI(matrix, 1), 8)), smemRowBytes);
    dqKChunkLane = add(chunk0, shr(matrix, 1));
  }
  if (square)
    emitSquareCoordinates();

  // The Q blocks whose rows see a key of this block.
  IntArith a(b, b.getLoc(), i32);
  if (!p.varlen)
    keyLen = loadKeyLength(batch);
  Value lastKey =
      keyLen ? arith::MinSIOp::create(b, add(n0, blockN - 1), add(keyLen, -1))
             : arith::MinSIOp::create(b, add(n0, blockN - 1),
                                      cI32(p.seqK - 1));
  KeyInterval<Value> rows =
      p.visibility.rowsSeeingKeys(a, n0, lastKey, queryLength(), keyLength());
  mBegin = a.floorDiv(rows.begin, blockM);
  Value mEnd = a.ceilDiv(rows.end, blockM);
  numM = arith::MaxSIOp::create(b, arith::SubIOp::create(b, mEnd, mBegin),
                                cI32(0));
  // A block wholly at or past len_b (or its sequence's keys) has no query
  // to visit: dK = dV = 0.
  if (keyLen)
    numM = sel(cmp(arith::CmpIPredicate::slt, n0, keyLen), numM, cI32(0));
  Value total = mul(numM, p.headsQ / p.headsKV);
  if (rotate)
    mRotation = arith::RemUIOp::create(
        b, blockId(gpu::Dimension::x),
        arith::MaxSIOp::create(b, numM, cI32(1)));

  // K and V of the block once, with step 0 in the same group.
  Value hasWork = cmp(arith::CmpIPredicate::sgt, total, cI32(0));
  ifThen(hasWork, [&] {
    copyRows(kPtr, kvHeadBytes, rowBytes(p.key), n0, blockN, keyRows(),
             cI32(kTile()));
    copyRows(vPtr, vHeadBytes, rowBytes(p.value), n0, blockN, keyRows(),
             cI32(vTile()), dv);
    copyStep(cI32(0), stageBase(cI32(0)));
  });
  NVVM::CpAsyncCommitGroupOp::create(b);
  // Both loops leave the builder after themselves (the hopper one after
  // its last step's dQ).
  scf::ForOp loop = hopper ? emitHopperLoop(total) : emitLoop(total);
  int64_t numAcc = d / 8 * 4;
  if (square)
    emitSquareEpilogue(loop.getResults().take_front(numAcc),
                       loop.getResults().drop_front(numAcc));
  else
    emitEpilogue(loop.getResults().take_front(numAcc),
                 loop.getResults().drop_front(numAcc));
  if (p.varlen)
    emitUnownedKeyRows(kvHeadOrigin, vHeadOrigin);
  gpu::ReturnOp::create(b);
}

void MainEmitter::emitUnownedKeyRows(Value kHeadBytes, Value vHeadBytes) {
  // Packed keys past the last sequence's belong to no CTA's sequence; their
  // gradients are 0.
  VarlenSequence last = readVarlenSequence(cI32(p.numSequences - 1));
  zeroUnownedRows(blockN, add(last.keyStart, last.keyLength), p.seqK,
                  {{kBwdDK, kHeadBytes, rowBytes(p.key), d},
                   {kBwdDV, vHeadBytes, rowBytes(p.value), dv}});
}

void BackwardEmitterBase::zeroUnownedRows(int64_t blockRows, Value ownedEnd,
                                          int64_t totalRows,
                                          ArrayRef<RowsToZero> targets) {
  // CTA x zeroes the rows at or past `ownedEnd` among [x rows, x rows +
  // rows) of its head: the ceil(T / rows) + N CTAs of a varlen grid cover
  // every row.
  Value blockRow = mul(blockId(gpu::Dimension::x), blockRows);
  Value first = arith::MaxSIOp::create(b, blockRow, ownedEnd);
  Value end =
      arith::MinSIOp::create(b, add(blockRow, blockRows), cI32(totalRows));
  ifThen(cmp(arith::CmpIPredicate::slt, first, end), [&] {
    auto vec4 = VectorType::get({4}, i32);
    Value zeros = arith::ConstantOp::create(
        b, vec4, DenseElementsAttr::get(vec4, b.getI32IntegerAttr(0)));
    for (const RowsToZero &target : targets) {
      Value ptr = global(target.argument);
      int64_t chunks = target.width / 8, items = blockRows * chunks;
      for (int64_t item0 = 0; item0 < items; item0 += threads) {
        Value item = add(tid, item0);
        Value row =
            add(blockRow, arith::DivUIOp::create(b, item, cI32(chunks)));
        Value chunk = arith::RemUIOp::create(b, item, cI32(chunks));
        Value inRange =
            arith::AndIOp::create(b, cmp(arith::CmpIPredicate::sge, row, first),
                                  cmp(arith::CmpIPredicate::slt, row, end));
        ifThen(inRange, [&] {
          Value off = add64(target.headBytes, add64(mul64(row, target.rowPitch),
                                                    mul64(chunk, 16)));
          LLVM::StoreOp::create(b, zeros, gep(ptrGlobal, ptr, off), 16);
        });
      }
    }
  });
}

int64_t mlir::attn::detail::backwardMainSharedBytes(const KernelProblem &p,
                                                    const BackwardTiles &t) {
  int64_t rows = sharedRowBytes(p.headDim) + sharedRowBytes(p.valueHeadDim);
  int64_t stage = t.blockM * rows + 2 * t.blockM * 4;
  // The hopper kernel: two dS^T buffers, stages on 1024-byte atoms, and
  // the base aligned.
  if (t.hopper)
    return t.blockN * rows + 2 * t.blockN * backwardStagedRowBytes(t.blockM) +
           2 * llvm::alignTo(stage, kHopperBackwardAlignment) +
           kHopperBackwardAlignment;
  int64_t staged =
      (t.square() ? 2 : 1) * t.blockN * backwardStagedRowBytes(t.blockM);
  return t.blockN * rows + staged + 2 * stage;
}

void mlir::attn::detail::emitBackwardPreprocess(gpu::GPUFuncOp func,
                                                const KernelProblem &p,
                                                bool atomicDQ) {
  PreprocessEmitter(func, p, atomicDQ).emit();
}

void mlir::attn::detail::emitBackwardMain(gpu::GPUFuncOp func,
                                          const KernelProblem &p,
                                          const BackwardMainOptions &options) {
  MainEmitter(func, p, options).emit();
}

void mlir::attn::detail::emitBackwardConvert(gpu::GPUFuncOp func,
                                             const KernelProblem &p) {
  ConvertEmitter(func, p).emit();
}
