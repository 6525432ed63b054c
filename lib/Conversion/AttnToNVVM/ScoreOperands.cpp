//===- ScoreOperands.cpp - bias, mask, mask_mod and sinks in a kernel -----===//
//
// Part of attn-mlir. The score operands of attn.attention as the tensor-core
// kernels read them, written once for every family built on
// FragmentEmitter: the additive bias and the boolean mask, [B, Hq, Lq, Lk]
// in global memory with size-1 extents broadcast (one load per score a
// thread holds), the mask_mod region cloned per score, and the attention
// sinks folded into a row's statistics at finalize time, exactly as
// attn-tile merges the sink partial (output 0, LSE sinks[hg]) with
// attn.combine.
//
//===----------------------------------------------------------------------===//

#include "FragmentEmitter.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

void FragmentEmitter::setScoreOperands(Value biasMemref, Value maskMemref,
                                       Value sinksMemref) {
  if (biasMemref)
    biasPtr = pointerOf(biasMemref, ptrGlobal);
  if (maskMemref)
    maskPtr = pointerOf(maskMemref, ptrGlobal);
  if (sinksMemref)
    sinksPtr = pointerOf(sinksMemref, ptrGlobal);
}

/// Byte offset (i64) of element (b, h, row, key) of a contiguous operand of
/// `shape` ([B, Hq, Lq, Lk] with broadcast 1s) and `eltBytes`-byte
/// elements. Coordinates of a broadcast extent are ignored; the others are
/// clamped to the extent (rows past Lq, keys past Lk and padding heads of a
/// packed decode tile are masked later, but must not read out of bounds).
static Value operandOffset(ImplicitLocOpBuilder &b, ArrayRef<int64_t> shape,
                           int64_t eltBytes, ArrayRef<Value> coords) {
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  // Offsets of operands under 2 GiB are computed in i32: half the address
  // registers of the loads a thread keeps in flight.
  int64_t bytes = eltBytes;
  for (int64_t extent : shape)
    bytes *= extent;
  Type type = bytes < (int64_t(1) << 31) ? i32 : i64;
  Value offset;
  int64_t stride = eltBytes;
  for (int64_t axis = 3; axis >= 0; --axis) {
    int64_t extent = shape[axis];
    if (extent != 1) {
      Value c = coords[axis];
      // The batch coordinate is a program coordinate: always in range.
      if (axis != 0)
        c = arith::MinUIOp::create(
            b, c, arith::ConstantIntOp::create(b, i32, extent - 1));
      if (type != i32)
        c = arith::ExtUIOp::create(b, type, c);
      Value term = arith::MulIOp::create(
          b, c, arith::ConstantIntOp::create(b, type, stride));
      offset = offset ? arith::AddIOp::create(b, offset, term).getResult()
                      : term;
    }
    stride *= extent;
  }
  if (!offset)
    return arith::ConstantIntOp::create(b, i64, 0);
  return type == i64 ? offset : arith::ExtUIOp::create(b, i64, offset);
}

Value FragmentEmitter::addBias(Value s, Value batch, Value head, Value row,
                               Value key) {
  if (!p.withBias())
    return s;
  Type elt = p.biasBytes == 4 ? Type(f32)
             : p.biasIsBF16   ? Type(b.getBF16Type())
                              : Type(b.getF16Type());
  Value off = operandOffset(b, p.biasShape, p.biasBytes,
                            {batch, head, row, key});
  Value v = LLVM::LoadOp::create(b, elt, gep(ptrGlobal, biasPtr, off),
                                 /*alignment=*/p.biasBytes);
  if (elt != f32)
    v = arith::ExtFOp::create(b, f32, v);
  return arith::AddFOp::create(b, s, v);
}

Value FragmentEmitter::applyOperandMasks(Value s, Value batch, Value head,
                                         Value row, Value key,
                                         Value batchIndex, Value globalHead) {
  if (!p.withOperandMasks())
    return s;
  Value keep;
  if (p.withMask()) {
    // One byte per element (i1 memrefs and torch.bool alike); nonzero keeps.
    Value off = operandOffset(b, p.maskShape, 1, {batch, head, row, key});
    Value byte = LLVM::LoadOp::create(b, b.getI8Type(),
                                      gep(ptrGlobal, maskPtr, off),
                                      /*alignment=*/1);
    keep = arith::CmpIOp::create(
        b, arith::CmpIPredicate::ne, byte,
        arith::ConstantIntOp::create(b, b.getI8Type(), 0));
  }
  if (p.maskMod) {
    Block &body = p.maskMod->front();
    IRMapping mapping;
    auto index = [&](Value v) {
      return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
    };
    mapping.map(body.getArguments(),
                ValueRange{batchIndex, globalHead, index(row), index(key)});
    // As for score_mod: only hoisted constants may come from above.
    SetVector<Value> captured;
    getUsedValuesDefinedAbove(*p.maskMod, captured);
    for (Value value : captured)
      if (Operation *constant = value.getDefiningOp();
          constant && constant->hasTrait<OpTrait::ConstantLike>())
        mapping.map(value, b.clone(*constant)->getResult(0));
    for (Operation &op : body.without_terminator())
      b.clone(op, mapping);
    Value yielded =
        mapping.lookupOrDefault(body.getTerminator()->getOperand(0));
    keep = keep ? arith::AndIOp::create(b, keep, yielded).getResult()
                : yielded;
  }
  return sel(keep, s, cF32(-std::numeric_limits<double>::infinity()));
}

Value FragmentEmitter::loadSinkLog2(Value globalHead) {
  Value off = arith::MulIOp::create(b, toI64(globalHead), cI64(4));
  Value sink = LLVM::LoadOp::create(b, f32, gep(ptrGlobal, sinksPtr, off),
                                    /*alignment=*/4);
  return arith::MulFOp::create(b, sink, cF32(kLog2e));
}

std::array<Value, 3> FragmentEmitter::foldSink(Value mLog2, Value l,
                                               Value sinkLog2) {
  Value negInf = cF32(-std::numeric_limits<double>::infinity());
  Value mx = maxF(mLog2, sinkLog2);
  // Both -inf (no key seen and a -inf sink): reference 0, so that no
  // exponent is -inf - -inf.
  Value ref = sel(arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, mx,
                                        negInf),
                  cF32(0.0), mx);
  Value alpha = exp2(arith::SubFOp::create(b, mLog2, ref));
  Value sum = fma(l, alpha, exp2(arith::SubFOp::create(b, sinkLog2, ref)));
  Value lseLog2 = arith::AddFOp::create(b, ref, log2(sum));
  return {alpha, lseLog2, sum};
}
