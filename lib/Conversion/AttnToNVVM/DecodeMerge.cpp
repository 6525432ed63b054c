//===- DecodeMerge.cpp - the decode kernel's merges -----------------------===//
//
// Part of attn-mlir. The decode kernel's merges (DecodeKernel.cpp has the
// design): the warps' (m, l, O) through shared memory, then, with several
// splits, the last CTA of a group merging the partials by LSE; the rows of
// O and LSE written.
//
//===----------------------------------------------------------------------===//

#include "DecodeEmitter.h"

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
  if (p.varlen)
    return writePackedRow(row, col, v,
                          lsePtr ? sel(empty, negInf(), lseNatural) : Value());
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

void DecodeEmitter::writePackedRow(Value row, Value col, Value v,
                                   Value lse) {
  // Only the sequence's rows: the block's others belong to the next
  // sequence's programs (or to none).
  ifThen(isRowOfSequence(row), [&]() {
    const OperandStrides &o = p.output;
    Value head0 = mul(kvHead, groupSize);
    Value off = arith::AddIOp::create(
        b,
        arith::AddIOp::create(
            b, headByteOffset(o, p.headsQ, cI32(0), head0),
            arith::MulIOp::create(b, toI64(queryRow0), cI64(rowBytes(o)))),
        packedRowByteOffset(o, row, col, 2));
    LLVM::StoreOp::create(b, v, gep(ptrGlobal, oPtr, off), /*alignment=*/8);
    if (!lse)
      return;
    // LSE [1, Hq, T]: the row's head, then its packed query row.
    ifThen(cmp(arith::CmpIPredicate::eq, col, cI32(0)), [&]() {
      Value head = add(head0, arith::DivUIOp::create(b, row, cI32(p.seqQ)));
      Value query =
          add(queryRow0, arith::RemUIOp::create(b, row, cI32(p.seqQ)));
      Value flat = toI64(add(mul(head, plan.totalQ), query));
      LLVM::StoreOp::create(
          b, lse, gep(ptrGlobal, lsePtr, arith::MulIOp::create(b, flat, cI64(4))),
          /*alignment=*/4);
    });
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
  emitStagedRowsMerge(warps, 16, statsBase, oBase);
}

void DecodeEmitter::emitStagedRowsMerge(int64_t slots, int64_t slotRows,
                                        Value statsBase, Value oBase) {
  int64_t oRowBytes = (dv + 8) * 4;
  forEachRowQuad([&](Value row, Value col) {
    // The staged rows are the CTA's: the latent kernel's from its block's
    // first row.
    Value tileRow =
        plan.latent ? arith::SubIOp::create(b, row, blockRow0).getResult()
                    : row;
    SmallVector<Value> mS, lS;
    Value mMax = negInf();
    for (int64_t w = 0; w < slots; ++w) {
      Value slot = add(mul(add(tileRow, w * slotRows), 8), statsBase);
      mS.push_back(LLVM::LoadOp::create(b, f32, tileAt(slot), 4));
      lS.push_back(LLVM::LoadOp::create(b, f32, tileAt(add(slot, 4)), 4));
      mMax = maxF(mMax, mS.back());
    }
    Value mRef = sel(isNegInf(mMax), cF32(0.0), mMax);
    Value sum = cF32(0.0);
    SmallVector<Value> o4(4, cF32(0.0));
    auto f32x4 = VectorType::get({4}, f32);
    for (int64_t w = 0; w < slots; ++w) {
      Value weight = exp2(arith::SubFOp::create(b, mS[w], mRef));
      sum = fma(lS[w], weight, sum);
      Value src = add(add(mul(add(tileRow, w * slotRows), oRowBytes), oBase),
                      mul(col, 4));
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
  // The latent kernel: the rows of the CTA's block (those of the group).
  int64_t rows = plan.latent ? std::min(plan.blockRows, plan.rows) : plan.rows;
  int64_t colGroups = dv / 4, items = rows * colGroups;
  int64_t threads = 32 * warps;
  bool partialBlocks = plan.latent && plan.rows % plan.blockRows != 0;
  for (int64_t c = 0; c < int64_t(llvm::divideCeil(items, threads)); ++c) {
    Value item = add(tid, c * threads);
    auto run = [&]() {
      if (!plan.latent)
        return body(arith::DivUIOp::create(b, item, cI32(colGroups)),
                    mul(arith::RemUIOp::create(b, item, cI32(colGroups)), 4));
      Value row = arith::DivUIOp::create(b, item, cI32(colGroups));
      Value col = mul(arith::RemUIOp::create(b, item, cI32(colGroups)), 4);
      row = add(row, blockRow0);
      if (!partialBlocks)
        return body(row, col);
      ifThen(cmp(arith::CmpIPredicate::slt, row, cI32(plan.rows)),
             [&]() { body(row, col); });
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
  // The latent kernel: one counter per row block of the group.
  Value counterSlot =
      plan.latent ? add(mul(group, plan.rowBlocks), rowBlock) : group;
  Value counter = gep(ptrGlobal, pointerOf(arg(*args.counters), ptrGlobal),
                      toI64(mul(counterSlot, 4)));
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

