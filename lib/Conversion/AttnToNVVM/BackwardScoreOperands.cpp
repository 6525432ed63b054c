//===- BackwardScoreOperands.cpp - bias and mask in the backward main -----===//
//
// Part of attn-mlir. The main kernel's recomputed S^T gets the bias, the
// boolean mask operand and mask_mod exactly as the forward's S did
// (FragmentEmitter's addBias and applyOperandMasks, ScoreOperands.cpp): the
// bias after ALiBi on natural-unit scores, the masks after it, both before
// the positional mask.
// Scores are transposed here (keys are rows), so each element is read at
// (batch, query head, query = column, key = row). Also what the kernels
// read of a CTA's sequence: len_b of key_lengths, a varlen sequence's rows.
//
//===----------------------------------------------------------------------===//

#include "BackwardMainEmitter.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

SmallVector<Value> MainEmitter::emitScoreOperands(SmallVector<Value> s,
                                                  Value m0, Value head,
                                                  const ScoreLayout &layout) {
  if (!p.withBias() && !p.withOperandMasks())
    return s;
  // mask_mod's (b, h) arguments: the sequence and the (global) query head.
  Value batchIndex, globalHead;
  if (p.maskMod) {
    batchIndex = arith::IndexCastUIOp::create(b, b.getIndexType(), batch);
    globalHead = arith::IndexCastUIOp::create(b, b.getIndexType(),
                                              add(head, p.headOffset));
  }
  forEachScore(layout, m0, [&](int64_t r, Value query, Value key) {
    // Padded queries and keys read clamped (in-bounds) elements; the
    // positional mask removes them afterwards.
    s[r] = addBias(s[r], batch, head, query, key);
    s[r] = applyOperandMasks(s[r], batch, head, query, key, batchIndex,
                             globalHead);
  });
  return s;
}

Value BackwardEmitterBase::loadKeyLength(Value batch) {
  std::optional<int64_t> index = getBackwardScoreArguments(p).keyLengths;
  if (!index)
    return Value();
  Value lengths = pointerOf(scoreArg(index), ptrGlobal);
  Value len = LLVM::LoadOp::create(
      b, i32, gep(ptrGlobal, lengths, mul64(batch, 4)), /*alignment=*/4);
  return arith::MinSIOp::create(b, arith::MaxSIOp::create(b, len, cI32(0)),
                                cI32(p.seqK));
}

VarlenSequence BackwardEmitterBase::readVarlenSequence(Value n) {
  BackwardScoreArguments args = getBackwardScoreArguments(p);
  Type index = b.getIndexType();
  auto idx = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, v);
  };
  VarlenSequence seq = buildVarlenSequence(
      b, b.getLoc(), scoreArg(args.cuSeqlensQ), scoreArg(args.cuSeqlensK),
      arith::IndexCastUIOp::create(b, index, n), idx(p.seqQ), idx(p.seqK));
  auto toI32 = [&](Value v) -> Value {
    return arith::IndexCastOp::create(b, i32, v);
  };
  return {toI32(seq.queryStart), toI32(seq.queryLength), toI32(seq.keyStart),
          toI32(seq.keyLength)};
}

void BackwardEmitterBase::loadVarlenSequence(Value n) {
  VarlenSequence seq = readVarlenSequence(n);
  queryStart = seq.queryStart;
  queryLen = seq.queryLength;
  keyStart = seq.keyStart;
  keyLen = seq.keyLength;
}
