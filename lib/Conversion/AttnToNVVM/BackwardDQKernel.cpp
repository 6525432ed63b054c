//===- BackwardDQKernel.cpp - the deterministic dQ kernel -----------------===//
//
// Part of attn-mlir. The dQ of the deterministic backward program: one CTA
// per (Q block of dq-block-m rows, batch, query head), a warp per 16 rows
// (4 or 8 warps: 128 rows read each K and V tile for twice the rows), walks the
// KV blocks its rows see (KeyVisibility::visibleKeys) in order with K and V
// double-buffered, recomputes S and P in the forward's row layout (the
// shared emitScores, emitPositionalMods and emitVisibilityMask), and
// accumulates dQ = scale dS K in registers: no atomics, so dQ is the same
// bits on every run. It costs a second S = Q K^T and dP = dO V^T per block
// pair, the price FlashAttention's deterministic modes pay in another form.
//
//===----------------------------------------------------------------------===//

#include "BackwardEmitter.h"
#include "KernelFamily.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

namespace {

constexpr int64_t kBN = kBackwardBlockN;

class DQEmitter : public BackwardEmitterBase {
public:
  DQEmitter(gpu::GPUFuncOp func, const KernelProblem &p,
            const BackwardTiles &tiles)
      : BackwardEmitterBase(func, p, /*keysPerTile=*/kBN, tiles.dqThreads()),
        blockM(tiles.dqBlockM) {
    tileBytes = blockM * smemRowBytes;
    kvTileBytes = kBN * smemRowBytes;
    vTileBytes = kBN * vSmemRowBytes;
  }

  void emit();

private:
  // Shared memory: Q (at 0: FragmentEmitter::loadQ reads it there) | dO |
  // stage 0 K, V | stage 1 K, V.
  Value doTile() { return cI32(tileBytes); }
  Value kTile(Value stage) {
    return add(mul(stage, kvTileBytes + vTileBytes),
               tileBytes + blockM * vSmemRowBytes);
  }
  Value vTile(Value stage) { return add(kTile(stage), kvTileBytes); }

  void copyKV(Value block, Value stage) {
    Value n0 = mul(block, kBN);
    copyRows(global(kBwdK), kvHeadBytes, rowBytes(p.key), n0, kBN, keyRows(),
             kTile(stage));
    copyRows(global(kBwdV), vHeadBytes, rowBytes(p.value), n0, kBN, keyRows(),
             vTile(stage), dv);
  }
  /// f32 of a [B, Hq, Lq] workspace at this lane's two rows (row >= Lq: 0).
  std::array<Value, 2> loadRowPair(int64_t argIndex);
  /// dQ of the block at key n0 added into `acc`.
  void emitBlock(Value n0, Value stage, SmallVector<Value> &acc);

  /// Query rows of the CTA; bytes of its Q (dO) tile and of a K (V) tile.
  int64_t blockM, tileBytes, kvTileBytes, vTileBytes;
  Value bh, batch, head, m0, laneRow, qHeadBytes, kvHeadBytes;
  /// dO's and V's head offsets (Q's and K's where D = Dv); the lanes of
  /// Dv-wide and of transposed K reads where Dv != D.
  Value doHeadBytes, vHeadBytes, valueALane, valueBLane, keyColumnsLane;
  Value negSlope, batchIndex, headIndex;
  /// With key_lengths or varlen: the diagonal Lk - Lq of the CTA's lengths
  /// (or 0, top-left) and the ALiBi offset Lk - Lq (null: the problem's).
  Value keyDiag, alibiOffset;
  std::array<Value, 2> lse2, delta;
};

} // namespace

std::array<Value, 2> DQEmitter::loadRowPair(int64_t argIndex) {
  std::array<Value, 2> out;
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(laneRow, half * 8);
    Value valid = cmp(arith::CmpIPredicate::slt, row, queryLength());
    Value off = arith::MulIOp::create(
        b, queryRowIndex(bh, sel(valid, row, cI32(0))), cI64(4));
    Value v = LLVM::LoadOp::create(b, f32, gep(ptrGlobal, global(argIndex), off),
                                   4);
    // Padded rows have Q = dO = 0: S = 0 there, and lse_log2 = delta = 0
    // keep their (never stored) gradient finite.
    out[half] = sel(valid, v, cF32(0.0));
  }
  return out;
}

void DQEmitter::emitBlock(Value n0, Value stage, SmallVector<Value> &acc) {
  FragmentLayout layout = FragmentLayout::mmaSync(1, nTiles());
  SmallVector<Value> s = emitScores(kTile(stage));
  // tanh(scale x / softcap), before modifiers and masks, for the chain rule.
  SmallVector<Value> th;
  if (p.softcap)
    for (Value v : s)
      th.push_back(p.needsNaturalScores()
                       ? arith::MulFOp::create(b, v, cF32(1.0 / *p.softcap))
                       : v);
  s = emitPositionalMods(layout, s, n0, laneRow, alibiOffset, negSlope,
                         batchIndex, headIndex);
  // With key_lengths or varlen every block may hold keys past the CTA's.
  bool tail = keyTail(kBN);
  s = emitVisibilityMask(
      layout, s, n0, laneRow,
      blockNeedsMask(n0, m0, blockM, queryLength(), keyLength(), tail),
      keyLength(), keyDiag ? keyDiag : cI32(p.diagOffset), tail);
  Value c = cF32(expScale);
  for (int64_t r = 0; r < layout.numRegisters(); ++r) {
    int64_t slot = layout.rowSlot(r);
    s[r] = exp2(fma(s[r], c, arith::NegFOp::create(b, lse2[slot])));
  }
  // dS = P (dP - delta), dP = dO V^T; then dQ += dS K (K read transposed).
  SmallVector<Value> ds =
      dv == d ? emitRowGemm(doTile(), qLane, vTile(stage))
              : emitRowGemm(doTile(), valueALane, vTile(stage), valueBLane,
                            dv / 16, vSmemRowBytes);
  for (int64_t r = 0; r < layout.numRegisters(); ++r) {
    Value grad = arith::MulFOp::create(
        b, s[r], arith::SubFOp::create(b, ds[r], delta[layout.rowSlot(r)]));
    if (p.softcap)
      grad = arith::MulFOp::create(
          b, grad, fma(arith::NegFOp::create(b, th[r]), th[r], cF32(1.0)));
    ds[r] = grad;
  }
  if (dv == d)
    emitPV(ds, kTile(stage), acc);
  else
    emitProbsGemm(ds, kTile(stage), keyColumnsLane, d, smemRowBytes, acc);
}

void DQEmitter::emit() {
  b.setInsertionPointToStart(&func.getBody().front());
  emitLaneCoordinates();
  Value mBlock = blockId(gpu::Dimension::x);
  bh = blockId(gpu::Dimension::y);
  batch = arith::DivUIOp::create(b, bh, cI32(p.headsQ));
  head = arith::RemUIOp::create(b, bh, cI32(p.headsQ));
  // Varlen: x is a flattened query block of some sequence
  // (searchVarlenBlock), whose rows the CTA reads at their packed offsets.
  if (p.varlen) {
    BackwardScoreArguments args = getBackwardScoreArguments(p);
    auto [n, block] =
        searchVarlenBlock(b, scoreArg(args.cuSeqlensQ), cI32(p.seqQ),
                          cI32(p.numSequences), blockM, mBlock);
    loadVarlenSequence(n);
    mBlock = block;
  }
  Value kvHead = arith::DivUIOp::create(b, head, cI32(p.headsQ / p.headsKV));
  m0 = mul(mBlock, blockM);
  laneRow = add(add(m0, mul(warp, 16)), g);
  // Q, dO and dQ share Q's strides, K and V K's (getBackwardProblem).
  // Varlen: each moved to the sequence's first row.
  Value qHeadOrigin = headByteOffset(p.query, p.headsQ, batch, head, bh);
  qHeadBytes = atSequenceStart(qHeadOrigin, queryStart, rowBytes(p.query));
  kvHeadBytes = atSequenceStart(headByteOffset(p.key, p.headsKV, batch, kvHead),
                                keyStart, rowBytes(p.key));
  // dO has Q's strides and V K's where D = Dv (getBackwardStrides).
  doHeadBytes =
      p.output == p.query
          ? qHeadBytes
          : atSequenceStart(headByteOffset(p.output, p.headsQ, batch, head, bh),
                            queryStart, rowBytes(p.output));
  vHeadBytes =
      p.value == p.key
          ? kvHeadBytes
          : atSequenceStart(headByteOffset(p.value, p.headsKV, batch, kvHead),
                            keyStart, rowBytes(p.value));
  if (!p.alibiSlopes.empty())
    negSlope = emitNegAlibiSlope(head);
  // The bias and mask operands in the shared emitPositionalMods, read at
  // this CTA's (batch, query head).
  BackwardScoreArguments scoreArgs = getBackwardScoreArguments(p);
  setScoreOperands(scoreArg(scoreArgs.bias), scoreArg(scoreArgs.mask),
                   /*sinksMemref=*/Value());
  operandBatch = batch;
  operandHead = head;
  // mask_mod's (b, h) arguments in the shared emitPositionalMods.
  if (p.maskMod) {
    batchIndex = arith::IndexCastUIOp::create(b, b.getIndexType(), batch);
    headIndex = arith::IndexCastUIOp::create(b, b.getIndexType(),
                                             add(head, p.headOffset));
  }
  qLane = warpRowsLane();
  if (dv != d) {
    valueALane = warpRowsLane(vSmemRowBytes);
    valueBLane = rowsBLane(vSmemRowBytes);
    keyColumnsLane = columnsBLane(smemRowBytes);
  }
  lse2 = loadRowPair(kBwdLseLog2);
  delta = loadRowPair(kBwdDelta);

  IntArith a(b, b.getLoc(), i32);
  if (!p.varlen)
    keyLen = loadKeyLength(batch);
  if (keyLen) {
    keyDiag = p.visibility.diagonal(a, queryLength(), keyLen);
    alibiOffset = arith::SubIOp::create(b, keyLen, queryLength());
  }
  Value lastRow =
      arith::MinSIOp::create(b, add(m0, blockM - 1), add(queryLength(), -1));
  KeyInterval<Value> keys =
      p.visibility.visibleKeys(a, m0, lastRow, queryLength(), keyLength());
  Value nBegin = a.floorDiv(keys.begin, kBN);
  Value nEnd = a.ceilDiv(keys.end, kBN);
  ifThen(cmp(arith::CmpIPredicate::slt, nBegin, nEnd), [&] {
    copyRows(global(kBwdQ), qHeadBytes, rowBytes(p.query), m0, blockM,
             queryLength(), cI32(0));
    copyRows(global(kBwdDO), doHeadBytes, rowBytes(p.output), m0, blockM,
             queryLength(), doTile(), dv);
    copyKV(nBegin, cI32(0));
  });
  NVVM::CpAsyncCommitGroupOp::create(b);

  // dQ: D / 8 C fragments.
  SmallVector<Value> init(d / 8 * 4, cF32(0.0));
  auto loop = scf::ForOp::create(b, nBegin, nEnd, cI32(1), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    SmallVector<Value> acc(loop.getRegionIterArgs());
    Value stage = andI(arith::SubIOp::create(b, j, nBegin), 1);
    Value next = add(j, 1);
    ifThen(cmp(arith::CmpIPredicate::slt, next, nEnd), [&] {
      copyKV(next, arith::XOrIOp::create(b, stage, cI32(1)));
    });
    NVVM::CpAsyncCommitGroupOp::create(b);
    NVVM::CpAsyncWaitGroupOp::create(b, 1);
    gpu::BarrierOp::create(b);
    emitBlock(mul(j, kBN), stage, acc);
    // The next step's copies overwrite the stage this one read.
    gpu::BarrierOp::create(b);
    scf::YieldOp::create(b, acc);
  }
  b.setInsertionPointAfter(loop);

  // dQ = scale * acc as 16-bit pairs; rows past Lq are not stored.
  Value scale = cF32(p.scale);
  Value dqPtr = global(kBwdDQ);
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(laneRow, half * 8);
    auto body = [&] {
      Value rowStart = add64(qHeadBytes, mul64(row, rowBytes(p.query)));
      for (int64_t dt = 0; dt < d / 8; ++dt) {
        int64_t r = dt * 4 + 2 * half;
        Value off = add64(rowStart, toI64(add(mul(t, 4), dt * 16)));
        Value v = packHalf2(
            arith::MulFOp::create(b, loop.getResult(r), scale),
            arith::MulFOp::create(b, loop.getResult(r + 1), scale));
        LLVM::StoreOp::create(b, v, gep(ptrGlobal, dqPtr, off), 4);
      }
    };
    if (!queryTail(blockM))
      body();
    else
      ifThen(cmp(arith::CmpIPredicate::slt, row, queryLength()), body);
  }
  // Packed queries past the last sequence's have dQ = 0 (the atomic
  // program's convert kernel writes them from the zeroed dq_accum).
  if (p.varlen) {
    VarlenSequence last = readVarlenSequence(cI32(p.numSequences - 1));
    zeroUnownedRows(blockM, add(last.queryStart, last.queryLength), p.seqQ,
                    {{kBwdDQ, qHeadOrigin, rowBytes(p.query), d}});
  }
  gpu::ReturnOp::create(b);
}

int64_t mlir::attn::detail::backwardDQSharedBytes(const KernelProblem &p,
                                                  const BackwardTiles &t) {
  int64_t rows = sharedRowBytes(p.headDim) + sharedRowBytes(p.valueHeadDim);
  return (t.dqBlockM + 2 * kBN) * rows;
}

void mlir::attn::detail::emitBackwardDQ(gpu::GPUFuncOp func,
                                        const KernelProblem &p,
                                        const BackwardTiles &tiles) {
  DQEmitter(func, p, tiles).emit();
}
