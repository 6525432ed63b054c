//===- HopperConsumer.cpp - the sm_90a kernel's consumer warpgroups -------===//
//
// Part of attn-mlir. The hopper kernel's consumers (HopperKernel.cpp has the
// design): wgmma and its descriptors, S = Q K^T and O += P V, the serial,
// ping-pong and overlapped loops of the online softmax, the epilogue.
//
//===----------------------------------------------------------------------===//

#include "HopperEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

// The wgmma building blocks are WgmmaOps' (shared with the hopper
// backward).
Value HopperEmitter::descriptor(Value address, int64_t lbo, int64_t sbo) {
  return wgmmaOps().descriptor(address, lbo, sbo);
}

void HopperEmitter::wgmma(MutableArrayRef<Value> acc, ArrayRef<Value> a,
                          Value desc, bool transposeB) {
  wgmmaOps().wgmma(acc, a, desc, transposeB);
}

void HopperEmitter::wgmmaShared(MutableArrayRef<Value> acc, Value descA,
                                Value descB) {
  wgmmaOps().wgmmaShared(acc, descA, descB);
}

void HopperEmitter::issueOnAccumulators(MutableArrayRef<Value> acc,
                                        StringRef asmString,
                                        StringRef operandConstraints,
                                        ArrayRef<Value> operands) {
  wgmmaOps().issueOnAccumulators(acc, asmString, operandConstraints, operands);
}

void HopperEmitter::tieThroughAsm(MutableArrayRef<Value> values, char kind,
                                  Type type) {
  wgmmaOps().tieThroughAsm(values, kind, type);
}

void HopperEmitter::fenceOperands(MutableArrayRef<Value> values) {
  wgmmaOps().fenceOperands(values);
}

void HopperEmitter::pinRegisters(MutableArrayRef<Value> values) {
  wgmmaOps().pinRegisters(values);
}


void HopperEmitter::loadQFragments() {
  // A fragment of k step kk: a0 (row g, cols 16 kk + 2t..), a1 (row g + 8),
  // a2 (row g, cols + 8), a3 (row g + 8, cols + 8): 4-byte reads, once.
  SmallVector<Value> rowBytes;
  for (int64_t half = 0; half < 2; ++half) {
    Value row = add(add(warpRow0, g), half * 8);
    if (p.seqQ % plan.blockM != 0)
      row = sel(cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ)), row,
                cI32(0));
    rowBytes.push_back(arith::AddIOp::create(
        b, qHeadBytes,
        toI64(add(mul(row, FragmentEmitter::rowBytes(p.query)), mul(t, 4)))));
  }
  SmallVector<SmallVector<Value>> regs;
  for (int64_t kk = 0; kk < kSteps(); ++kk) {
    SmallVector<Value> frag;
    for (int64_t e = 0; e < 4; ++e) {
      int64_t colBytes = (16 * kk + (e >> 1) * 8) * 2;
      Value off = arith::AddIOp::create(b, rowBytes[e & 1], cI64(colBytes));
      frag.push_back(LLVM::LoadOp::create(b, i32, gep(ptrGlobal, qPtr, off),
                                          /*alignment=*/4));
    }
    regs.push_back(std::move(frag));
  }
  qRegs = std::move(regs);
}

SmallVector<Value> HopperEmitter::issueScores(Value kTile) {
  SmallVector<Value> s(layout.numRegisters(), cF32(0.0));
  // B = K^T, K-major: k step kk reads 32 bytes at (kk % 4) * 32 of every row
  // of panel kk / 4; 8-row atoms are 1024 bytes apart (SBO; LBO unused).
  Value desc0 = descriptor(sharedAddress(kTile), 16, kAtomBytes);
  // A = this warpgroup's 64 rows of the Q tile, K-major like K.
  Value qDesc0 = qTileDesc;
  fenceOperands(s);
  NVVM::WgmmaFenceAlignedOp::create(b);
  auto advance = [&](Value desc, int64_t delta) -> Value {
    return delta ? arith::AddIOp::create(b, desc, cI64(delta >> 4)).getResult()
                 : desc;
  };
  for (int64_t kk = 0; kk < kSteps(); ++kk) {
    Value desc =
        advance(desc0, (kk / 4) * bn * kPanelRowBytes + (kk % 4) * 32);
    if (qDesc0)
      wgmmaShared(s,
                  advance(qDesc0, (kk / 4) * plan.blockM * kPanelRowBytes +
                                      (kk % 4) * 32),
                  desc);
    else
      wgmma(s, qRegs[kk], desc, /*transposeB=*/false);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  return s;
}

SmallVector<Value> HopperEmitter::finishScores(SmallVector<Value> s) {
  fenceOperands(s);
  return finishRawScores(std::move(s));
}

SmallVector<Value> HopperEmitter::emitScoreMods(Value n0, ArrayRef<Value> s) {
  return emitPositionalMods(layout, s, n0, add(warpRow0, g),
                            /*alibiOffset=*/Value(), negSlope, batchIndex,
                            headIndex);
}

SmallVector<Value> HopperEmitter::emitMask(Value n0, ArrayRef<Value> s) {
  // As the prefill kernel, on the wgmma accumulator layout (a uniform
  // branch: every consumer warpgroup takes it).
  IntArith a(b, b.getLoc(), i32);
  Value diag = p.visibility.diagonal(a, cI32(p.seqQ), cI32(p.seqK));
  return emitVisibilityMask(layout, s, n0, add(warpRow0, g),
                            outsideInterior(n0, interiorBegin, interiorEnd),
                            cI32(p.seqK), diag, /*tail=*/p.seqK % bn != 0);
}

SmallVector<Value> HopperEmitter::packProbabilities(ArrayRef<Value> probs) {
  // The S registers of n8 tiles 2kk and 2kk + 1, packed pairwise, are the A
  // fragment of keys 16kk .. 16kk + 15 (as with mma.sync).
  auto at = [&](int64_t nt, int64_t c) { return probs[layout.index(0, nt, c)]; };
  SmallVector<Value> packed;
  for (int64_t kk = 0; kk < bn / 16; ++kk)
    packed.append(packAFragment(at, kk));
  pinRegisters(packed);
  return packed;
}

void HopperEmitter::issuePV(ArrayRef<Value> packed, Value vTile,
                            SmallVector<Value> &acc) {
  // B = V, MN-major: k step kk is keys 16 kk .. +15, two 8-key atoms 1024
  // bytes apart (SBO); the 64-column panels are a tile's `bn` rows apart
  // (LBO).
  // O was rescaled by the softmax: those writes must precede the fence.
  fenceOperands(acc);
  Value desc0 =
      descriptor(sharedAddress(vTile), bn * kPanelRowBytes, kAtomBytes);
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t kk = 0; kk < bn / 16; ++kk) {
    int64_t delta = kk * 16 * kPanelRowBytes;
    Value desc = delta ? arith::AddIOp::create(b, desc0, cI64(delta >> 4))
                             .getResult()
                       : desc0;
    wgmma(acc, packed.slice(4 * kk, 4), desc, /*transposeB=*/true);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
}

void HopperEmitter::acquire(BarrierKind kind, Value j) {
  NVVM::MBarrierTryWaitParityOp::create(b, barrier(kind, ringStage(j)),
                                        ringPhase(j), cI32(0x989680));
  // cp.async wrote the tile through the generic proxy; wgmma reads it
  // through the async proxy (as TMA writes it: no fence then).
  if (plan.tma)
    return;
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
}

// Ping-pong: named barrier 1 + c is consumer warpgroup c's turn to issue its
// GEMMs; warpgroup c - 1 (mod plan.consumers) opens it once it has issued its
// own, so one group's softmax overlaps the others' GEMMs. Every group takes
// the same number of turns.
void HopperEmitter::takeTurn() {
  if (plan.pingPong)
    NVVM::BarrierOp::create(b, Type(), add(consumer, 1),
                            cI32(2 * kWarpgroupThreads),
                            NVVM::BarrierReductionAttr(), Value());
}

Value HopperEmitter::nextTurnBarrier() {
  // 1 + (consumer + 1) % consumers: 2 - consumer for two of them.
  if (plan.consumers == 2)
    return arith::SubIOp::create(b, cI32(2), consumer);
  Value last =
      cmp(arith::CmpIPredicate::eq, consumer, cI32(plan.consumers - 1));
  return sel(last, cI32(1), add(consumer, 2));
}

void HopperEmitter::passTurn() {
  if (plan.pingPong)
    NVVM::BarrierArriveOp::create(b, nextTurnBarrier(),
                                  cI32(2 * kWarpgroupThreads));
}

SmallVector<Value> HopperEmitter::emitSerialLoop(ArrayRef<Value> init) {
  int64_t numO = numAccumulators(), numRows = numRowStats();
  auto loop = scf::ForOp::create(b, nBegin, nEnd, cI32(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value j = loop.getInductionVar();
  ValueRange iter = loop.getRegionIterArgs();
  SmallVector<Value> acc(iter.begin(), iter.begin() + numO);
  SmallVector<Value> rowMax(iter.begin() + numO, iter.begin() + numO + numRows);
  SmallVector<Value> rowSum(iter.begin() + numO + numRows, iter.end());
  Value n0 = mul(j, bn);
  acquire(FullK, j);
  takeTurn();
  SmallVector<Value> s = issueScores(kTileOffset(ringStage(j)));
  passTurn();
  waitGroups(0);
  s = finishScores(s);
  release(EmptyK, j);
  // Masks come last so that masked and padded keys stay -inf whatever the
  // modifiers compute for them.
  s = emitMask(n0, emitScoreMods(n0, s));
  emitOnlineSoftmax(s, rowMax, rowSum, acc);
  acquire(FullV, j);
  issuePV(packProbabilities(s), vTileOffset(ringStage(j)), acc);
  waitGroups(0);
  fenceOperands(acc);
  release(EmptyV, j);
  SmallVector<Value> yields(acc);
  yields.append(rowMax);
  yields.append(rowSum);
  scf::YieldOp::create(b, yields);
  return SmallVector<Value>(loop.getResults());
}

SmallVector<Value> HopperEmitter::emitOverlappedLoop(ArrayRef<Value> init) {
  // Block j's S = Q K^T is issued before O += P V of block j - 1, whose P
  // stays in registers; the softmax of block j runs while that P V is in
  // flight, and O takes block j's rescale once it has retired:
  //   O_j = alpha_j * (O_{j-2}' + P_{j-1} V_{j-1}).
  // The first block (S and softmax only) and the last P V are peeled, so
  // the range must not be empty.
  int64_t numO = numAccumulators(), numRows = numRowStats();
  SmallVector<Type> types;
  for (Value v : init)
    types.push_back(v.getType());
  Value nonEmpty = cmp(arith::CmpIPredicate::slt, nBegin, nEnd);
  auto ifOp = scf::IfOp::create(b, types, nonEmpty, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(b, init);
  }
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  SmallVector<Value> rowMax(init.begin() + numO, init.begin() + numO + numRows);
  SmallVector<Value> rowSum(init.begin() + numO + numRows, init.end());
  auto scores = [&](Value j) {
    acquire(FullK, j);
    takeTurn();
    return issueScores(kTileOffset(ringStage(j)));
  };
  auto softmax = [&](Value j, SmallVector<Value> s,
                     SmallVector<Value> &m, SmallVector<Value> &l) {
    s = finishScores(s);
    release(EmptyK, j);
    Value n0 = mul(j, bn);
    s = emitMask(n0, emitScoreMods(n0, s));
    SmallVector<Value> alpha = emitSoftmaxStep(s, m, l);
    return std::make_pair(s, alpha);
  };
  // First block: O is still 0, so it needs no rescale.
  SmallVector<Value> s0 = scores(nBegin);
  passTurn();
  waitGroups(0);
  SmallVector<Value> p0 =
      packProbabilities(softmax(nBegin, s0, rowMax, rowSum).first);

  SmallVector<Value> loopInit(init.begin(), init.begin() + numO);
  loopInit.append(rowMax);
  loopInit.append(rowSum);
  loopInit.append(p0);
  auto loop = scf::ForOp::create(b, add(nBegin, 1), nEnd, cI32(1), loopInit);
  {
    OpBuilder::InsertionGuard loopGuard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    Value prev = arith::SubIOp::create(b, j, cI32(1));
    ValueRange iter = loop.getRegionIterArgs();
    auto slice = [&](int64_t from, int64_t n) {
      return SmallVector<Value>(iter.begin() + from, iter.begin() + from + n);
    };
    SmallVector<Value> acc = slice(0, numO);
    SmallVector<Value> m = slice(numO, numRows);
    SmallVector<Value> l = slice(numO + numRows, numRows);
    SmallVector<Value> probs = slice(numO + 2 * numRows, p0.size());
    SmallVector<Value> s = scores(j);
    acquire(FullV, prev);
    issuePV(probs, vTileOffset(ringStage(prev)), acc);
    passTurn();
    // S retires first (groups complete in order); P V stays in flight.
    waitGroups(1);
    auto [pj, alpha] = softmax(j, s, m, l);
    waitGroups(0);
    fenceOperands(acc);
    // The wgmma read P until it retired: keep those registers alive here.
    pinRegisters(probs);
    release(EmptyV, prev);
    rescaleAccumulators(acc, alpha);
    SmallVector<Value> yields(acc);
    yields.append(m);
    yields.append(l);
    yields.append(packProbabilities(pj));
    scf::YieldOp::create(b, yields);
  }
  ValueRange res = loop.getResults();
  SmallVector<Value> acc(res.begin(), res.begin() + numO);
  SmallVector<Value> probs(res.begin() + numO + 2 * numRows, res.end());
  Value last = arith::SubIOp::create(b, nEnd, cI32(1));
  acquire(FullV, last);
  takeTurn();
  issuePV(probs, vTileOffset(ringStage(last)), acc);
  passTurn();
  waitGroups(0);
  fenceOperands(acc);
  pinRegisters(probs);
  release(EmptyV, last);
  SmallVector<Value> yields(acc);
  yields.append(res.begin() + numO, res.begin() + numO + 2 * numRows);
  scf::YieldOp::create(b, yields);
  return SmallVector<Value>(ifOp.getResults());
}

LogicalResult HopperEmitter::emitConsumer() {
  NVVM::SetMaxRegisterOp::create(b, plan.consumerRegisters,
                                 NVVM::SetMaxRegisterAction::increase);
  if (!plan.persistentCtas) {
    if (failed(emitConsumerTile()))
      return failure();
    drainTmaStores();
    return success();
  }
  // The ping-pong turns run on across tiles: every consumer takes as many
  // turns in each tile.
  consumer = arith::SubIOp::create(b, warpgroup, cI32(1));
  openTurns();
  if (failed(forEachTile(/*isProducer=*/false,
                         [&] { return emitConsumerTile(); })))
    return failure();
  closeTurns();
  drainTmaStores();
  return success();
}

// The last consumer opens consumer 0's first turn; consumer 0 absorbs the
// last consumer's last opening after the loop.
void HopperEmitter::ifConsumer(int64_t c, function_ref<void()> body) {
  scf::IfOp::create(b, cmp(arith::CmpIPredicate::eq, consumer, cI32(c)),
                    [&](OpBuilder &, Location) {
                      body();
                      scf::YieldOp::create(b);
                    });
}

void HopperEmitter::openTurns() {
  if (plan.pingPong)
    ifConsumer(plan.consumers - 1, [&] {
      NVVM::BarrierArriveOp::create(b, cI32(1), cI32(2 * kWarpgroupThreads));
    });
}

void HopperEmitter::closeTurns() {
  if (plan.pingPong)
    ifConsumer(0, [&] {
      NVVM::BarrierOp::create(b, Type(), cI32(1), cI32(2 * kWarpgroupThreads),
                              NVVM::BarrierReductionAttr(), Value());
    });
}

LogicalResult HopperEmitter::emitConsumerTile() {
  if (!p.alibiSlopes.empty())
    negSlope = emitNegAlibiSlope(head);
  if (plan.qInSharedMemory) {
    NVVM::MBarrierTryWaitParityOp::create(b, barrier(FullQ, cI32(0)),
                                          qPhase(), cI32(0x989680));
    Value rows = mul(arith::SubIOp::create(b, warpgroup, cI32(1)),
                     kConsumerRows * kPanelRowBytes);
    qTileDesc = descriptor(sharedAddress(add(add(base, qTileOffset()), rows)),
                           16, kAtomBytes);
  } else if (!plan.prefetchQ) {
    // (plan.prefetchQ: the tile loop carries them, loaded a tile ahead.)
    loadQFragments();
  }

  if (!plan.persistentCtas) {
    consumer = arith::SubIOp::create(b, warpgroup, cI32(1));
    openTurns();
  }

  int64_t numO = numAccumulators(), numRows = numRowStats();
  SmallVector<Value> init(numO, cF32(0.0));
  init.append(numRows, cF32(-std::numeric_limits<double>::infinity())); // m
  init.append(numRows, cF32(0.0));                                       // l
  SmallVector<Value> results =
      plan.overlap ? emitOverlappedLoop(init) : emitSerialLoop(init);
  if (!plan.persistentCtas)
    closeTurns();
  // Every S of this tile has retired: the producer may load the next Q.
  if (recyclesQ())
    NVVM::MBarrierArriveOp::create(b, Type(), emptyQBarrier(), Value());
  // The next tile's Q loads go out before this tile's O stores, whose
  // work then covers their latency.
  if (plan.prefetchQ && failed(prefetchNextTile()))
    return failure();
  emitEpilogue(results);
  return success();
}

void HopperEmitter::emitEpilogue(ValueRange results) {
  // O / l straight from the accumulators: lane (g, t) holds 4 bytes of
  // columns 8 dt + 2t of rows g and g + 8 (the stores of a quad are one 16
  // byte piece of a row); LSE once per row. plan.tmaEpilogue: O through
  // the shared tile instead, the LSE after the TMA stores are issued.
  int64_t numO = numAccumulators(), numRows = numRowStats();
  SmallVector<Value> inv, rows, sums, empties;
  for (int64_t half = 0; half < 2; ++half) {
    Value m = results[numO + half];
    Value l = results[numO + numRows + half];
    for (int64_t mask : FragmentLayout::rowReductionMasks())
      l = arith::AddFOp::create(b, l, shuffleXor(l, mask));
    // l == 0: every key of the row is masked; O is 0 and LSE is -inf.
    Value empty =
        arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, l, cF32(0.0));
    inv.push_back(
        sel(empty, cF32(0.0), arith::DivFOp::create(b, cF32(1.0), l)));
    Value row = add(add(warpRow0, g), half * 8);
    rows.push_back(row);
    sums.push_back(l);
    empties.push_back(empty);
    if (plan.tmaEpilogue)
      continue;
    Value rowValid = cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ));
    Value rowBytes = arith::AddIOp::create(
        b, oHeadBytes,
        toI64(add(mul(row, FragmentEmitter::rowBytes(p.output)), mul(t, 4))));
    auto store = [&]() {
      for (int64_t dt = 0; dt < dTiles(); ++dt) {
        int64_t base = oIndex(0, dt, 2 * half);
        Value packed =
            packHalf2(arith::MulFOp::create(b, results[base], inv[half]),
                      arith::MulFOp::create(b, results[base + 1], inv[half]));
        Value off = arith::AddIOp::create(b, rowBytes, cI64(dt * 16));
        LLVM::StoreOp::create(b, packed, gep(ptrGlobal, oPtr, off),
                              /*alignment=*/4);
      }
    };
    if (p.seqQ % plan.blockM == 0) {
      store();
    } else {
      scf::IfOp::create(b, rowValid, [&](OpBuilder &, Location) {
        store();
        scf::YieldOp::create(b);
      });
    }
    if (lsePtr)
      storeRowLse(row, m, l, empty);
  }
  if (!plan.tmaEpilogue)
    return;
  emitTmaEpilogue(results, inv);
  if (lsePtr)
    for (int64_t half = 0; half < 2; ++half)
      storeRowLse(rows[half], results[numO + half], sums[half],
                  empties[half]);
}

void HopperEmitter::storeRowLse(Value row, Value m, Value l, Value empty) {
  Value rowValid = cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ));
  Value first = arith::AndIOp::create(
      b, rowValid, cmp(arith::CmpIPredicate::eq, t, cI32(0)));
  scf::IfOp::create(b, first, [&](OpBuilder &, Location) {
    // LSE = ln(sum exp(x)) = (m * c + log2(l)) * ln 2.
    Value log2Sum = fma(m, cF32(expScale), log2(l));
    Value lse = sel(empty, cF32(-std::numeric_limits<double>::infinity()),
                    arith::MulFOp::create(b, log2Sum, cF32(kLn2)));
    Value off = arith::AddIOp::create(
        b, arith::MulIOp::create(b, toI64(bh), cI64(p.seqQ * 4)),
        toI64(mul(row, 4)));
    LLVM::StoreOp::create(b, lse, gep(ptrGlobal, lsePtr, off),
                          /*alignment=*/4);
    scf::YieldOp::create(b);
  });
}
