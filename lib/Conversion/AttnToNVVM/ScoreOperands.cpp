//===- ScoreOperands.cpp - bias, mask, mask_mod and sinks in a kernel -----===//
//
// Part of attn-mlir. The score operands of attn.attention as the tensor-core
// kernels read them, written once for every family built on
// FragmentEmitter: the additive bias and the boolean mask, [B, Hq, Lq, Lk]
// in global memory with size-1 extents broadcast (one load per score a
// thread holds, or a tile per KV block staged in shared memory with
// cp.async where a family stages them), the mask_mod region cloned per
// score or classified per block by interval evaluation
// (MaskModIntervals.h), and the attention sinks folded into a row's
// statistics at finalize time, exactly as attn-tile merges the sink
// partial (output 0, LSE sinks[hg]) with attn.combine.
//
//===----------------------------------------------------------------------===//

#include "FragmentEmitter.h"

#include "attn/Analysis/MaskModIntervals.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

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

Type mlir::attn::detail::biasElementType(Builder &b, const KernelProblem &p) {
  if (p.biasBytes == 4)
    return b.getF32Type();
  return p.biasIsBF16 ? Type(b.getBF16Type()) : Type(b.getF16Type());
}

Value mlir::attn::detail::scoreOperandOffset(ImplicitLocOpBuilder &b,
                                             ArrayRef<int64_t> shape,
                                             int64_t eltBytes,
                                             ArrayRef<Value> coords) {
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
  Type elt = biasElementType(b, p);
  Value off =
      scoreOperandOffset(b, p.biasShape, p.biasBytes, {batch, head, row, key});
  Value v = LLVM::LoadOp::create(b, elt, gep(ptrGlobal, biasPtr, off),
                                 /*alignment=*/p.biasBytes);
  if (elt != f32)
    v = arith::ExtFOp::create(b, f32, v);
  return arith::AddFOp::create(b, s, v);
}

/// The mask_mod region's i1 at (batchIndex, globalHead) (index) and the
/// i32 row and key, cloned at `b`'s insertion point.
static Value inlineMaskMod(ImplicitLocOpBuilder &b, Region &region,
                           Value batchIndex, Value globalHead, Value row,
                           Value key) {
  Block &body = region.front();
  IRMapping mapping;
  auto index = [&](Value v) {
    return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
  };
  mapping.map(body.getArguments(),
              ValueRange{batchIndex, globalHead, index(row), index(key)});
  // As for score_mod: only hoisted constants may come from above.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(region, captured);
  for (Value value : captured)
    if (Operation *constant = value.getDefiningOp();
        constant && constant->hasTrait<OpTrait::ConstantLike>())
      mapping.map(value, b.clone(*constant)->getResult(0));
  for (Operation &op : body.without_terminator())
    b.clone(op, mapping);
  return mapping.lookupOrDefault(body.getTerminator()->getOperand(0));
}

Value FragmentEmitter::applyOperandMasks(Value s, Value batch, Value head,
                                         Value row, Value key,
                                         Value batchIndex, Value globalHead,
                                         Value operandKeep) {
  if (!p.withOperandMasks())
    return s;
  Value keep = operandKeep;
  if (p.withMask() && !keep) {
    // One byte per element (i1 memrefs and torch.bool alike); nonzero keeps.
    Value off = scoreOperandOffset(b, p.maskShape, 1, {batch, head, row, key});
    Value byte = LLVM::LoadOp::create(b, b.getI8Type(),
                                      gep(ptrGlobal, maskPtr, off),
                                      /*alignment=*/1);
    keep = arith::CmpIOp::create(
        b, arith::CmpIPredicate::ne, byte,
        arith::ConstantIntOp::create(b, b.getI8Type(), 0));
  }
  if (p.maskMod && !maskModPerBlock) {
    Value yielded =
        inlineMaskMod(b, *p.maskMod, batchIndex, globalHead, row, key);
    keep = keep ? arith::AndIOp::create(b, keep, yielded).getResult()
                : yielded;
  }
  if (!keep)
    return s;
  return sel(keep, s, cF32(-std::numeric_limits<double>::infinity()));
}

//===----------------------------------------------------------------------===//
// Staged bias and mask tiles
//===----------------------------------------------------------------------===//

bool mlir::attn::detail::canStageScoreTile(const KernelProblem &p,
                                           int64_t bn,
                                           ArrayRef<int64_t> shape,
                                           int64_t eltBytes) {
  if (shape.empty() || p.hasDynamicLengths())
    return false;
  // A row broadcast over queries ([B, H, 1, Lk], key padding) is one
  // address per key for the whole warp, a column ([.., Lq, 1]) one per row
  // for a quad: the L1 serves those, staging would only copy them.
  if (shape[2] == 1 || shape[3] == 1)
    return false;
  return (p.seqK * eltBytes) % 16 == 0 && (bn * eltBytes) % 32 == 0;
}

FragmentEmitter::ScoreTile
FragmentEmitter::makeScoreTile(Value gptr, ArrayRef<int64_t> shape,
                               int64_t eltBytes, Value batch, Value head,
                               Value warpTile) {
  ScoreTile tile;
  tile.gptr = gptr;
  tile.eltBytes = eltBytes;
  tile.rowBytes = bn * eltBytes;
  tile.strideBytes = scoreTileRowStride(bn, eltBytes);
  tile.warpTile = warpTile;
  // Broadcast batch or head extents add nothing (stride 0).
  int64_t matrix = p.seqQ * p.seqK * eltBytes;
  Value bytes = cI64(0);
  if (shape[1] != 1)
    bytes = arith::MulIOp::create(b, toI64(head), cI64(matrix));
  if (shape[0] != 1)
    bytes = arith::AddIOp::create(
        b, bytes,
        arith::MulIOp::create(b, toI64(batch), cI64(matrix * shape[1])));
  tile.matrixBytes = bytes;
  return tile;
}

void FragmentEmitter::copyScoreTile(const ScoreTile &tile, Value warpRow0,
                                    Value n0, int64_t rows) {
  // Lane l copies chunk l % cpr of rows l / cpr + k * (32 / cpr): a warp's
  // instruction covers 512 contiguous bytes of whole rows.
  int64_t cpr = tile.rowBytes / 16;
  int64_t rowsPerPass = 32 / cpr;
  Value chunk = andI(lane, cpr - 1);
  Value laneRow = shr(lane, llvm::Log2_64(cpr));
  // Keys: the chunk's first key is n0 + chunk * 16 / eltBytes; Lk * eltBytes
  // is a multiple of 16, so a chunk lies wholly before or past Lk.
  Value keyBytes = add(mul(n0, tile.eltBytes), mul(chunk, 16));
  Value keyValid =
      cmp(arith::CmpIPredicate::slt, keyBytes, cI32(p.seqK * tile.eltBytes));
  keyBytes = sel(keyValid, keyBytes, cI32(0));
  Value base = gep(ptrGlobal, tile.gptr,
                   arith::AddIOp::create(b, tile.matrixBytes, toI64(keyBytes)));
  Value dst0 = add(add(tile.warpTile, mul(laneRow, tile.strideBytes)),
                   mul(chunk, 16));
  for (int64_t k = 0; k < rows / rowsPerPass; ++k) {
    Value row = add(warpRow0, add(laneRow, k * rowsPerPass));
    // Rows past Lq (the last query block's padding) are zero-filled and
    // read row 0's address.
    Value rowValid = cmp(arith::CmpIPredicate::slt, row, cI32(p.seqQ));
    Value valid = arith::AndIOp::create(b, keyValid, rowValid);
    row = sel(rowValid, row, cI32(0));
    Value src = gep(ptrGlobal, base,
                    arith::MulIOp::create(b, toI64(row),
                                          cI64(p.seqK * tile.eltBytes)));
    Value dst = add(dst0, k * rowsPerPass * tile.strideBytes);
    NVVM::CpAsyncOp::create(b, gep(ptrShared, smem, dst), src, 16,
                            NVVM::LoadCacheModifierKind::CG,
                            sel(valid, cI32(16), cI32(0)));
  }
}

std::array<Value, 2>
FragmentEmitter::loadScorePair(const ScoreTile &tile,
                               const FragmentLayout &layout, int64_t reg) {
  // Lane (g, t) reads row rowOffset + g, keys colOffset + 2t, +1: one
  // lane base plus a constant per register pair, so the loads share one
  // address register.
  int64_t eb = tile.eltBytes;
  Value laneBase = add(add(tile.warpTile, mul(g, tile.strideBytes)),
                       mul(t, 2 * eb));
  Value offset = add(laneBase, layout.rowOffset(reg) * tile.strideBytes +
                                   layout.colOffset(reg) * eb);
  Type elt = eb == 1 ? Type(b.getI8Type()) : biasElementType(b, p);
  Value pair = LLVM::LoadOp::create(b, VectorType::get({2}, elt),
                                    gep(ptrShared, smem, offset),
                                    /*alignment=*/2 * eb);
  return {LLVM::ExtractElementOp::create(b, pair, cI32(0)),
          LLVM::ExtractElementOp::create(b, pair, cI32(1))};
}

//===----------------------------------------------------------------------===//
// mask_mod per block
//===----------------------------------------------------------------------===//

std::optional<std::array<Value, 2>>
FragmentEmitter::emitMaskModBounds(Value batchIndex, Value globalHead,
                                   Value q0, Value q1, Value k0, Value k1) {
  if (!p.maskMod || !isMaskModIntervalEvaluable(*p.maskMod))
    return std::nullopt;
  auto fromIndex = [&](Value v) -> Value {
    return arith::IndexCastUIOp::create(b, i64, v);
  };
  Value bIdx = fromIndex(batchIndex), hIdx = fromIndex(globalHead);
  ValueIntervalDomain domain(b, b.getLoc());
  std::optional<TruthBounds<Value>> t = evaluateMaskModIntervals(
      *p.maskMod, domain,
      {{bIdx, bIdx}, {hIdx, hIdx}, {toI64(q0), toI64(q1)},
       {toI64(k0), toI64(k1)}});
  if (!t)
    return std::nullopt;
  return std::array<Value, 2>{t->always, t->ever};
}

std::pair<Value, Value>
FragmentEmitter::emitMaskModBlockClass(Value batchIndex, Value globalHead,
                                       Value q0, Value q1, Value n0) {
  std::optional<std::array<Value, 2>> bounds =
      emitMaskModBounds(batchIndex, globalHead, q0, q1, n0, add(n0, bn - 1));
  Value ever = (*bounds)[1];
  Value notAlways = arith::XOrIOp::create(
      b, (*bounds)[0], arith::ConstantIntOp::create(b, 1, 1));
  return {ever, arith::AndIOp::create(b, ever, notAlways)};
}

void FragmentEmitter::emitMaskModBlockRange(Value &begin, Value &end, Value q0,
                                            Value q1, Value batchIndex,
                                            Value globalHead) {
  // Whether keys [k0, k1] are false for every row.
  auto none = [&](Value k0, Value k1) -> Value {
    std::optional<std::array<Value, 2>> bounds =
        emitMaskModBounds(batchIndex, globalHead, q0, q1, k0, k1);
    return arith::XOrIOp::create(b, (*bounds)[1],
                                 arith::ConstantIntOp::create(b, 1, 1));
  };
  // Each step keeps its invariant (the blocks skipped so far are proven
  // false), so the bounds are sound whatever the region; interval
  // evaluation is monotone in its ranges, so for masks false on a prefix or
  // a suffix of the keys (causal-like, windows, prefix-LM) the searches find
  // the whole of it.
  auto whileLess = [&](Value lo, Value hi,
                       function_ref<std::pair<Value, Value>(Value, Value)>
                           step) {
    auto loop = scf::WhileOp::create(
        b, TypeRange{i32, i32}, ValueRange{lo, hi},
        [&](OpBuilder &, Location, ValueRange args) {
          scf::ConditionOp::create(
              b, cmp(arith::CmpIPredicate::slt, args[0], args[1]), args);
        },
        [&](OpBuilder &, Location, ValueRange args) {
          auto [newLo, newHi] = step(args[0], args[1]);
          scf::YieldOp::create(b, ValueRange{newLo, newHi});
        });
    return loop.getResult(0);
  };
  // The longest prefix [begin, lo) of false blocks.
  Value first = mul(begin, bn);
  begin = whileLess(begin, end, [&](Value lo, Value hi) {
    Value mid = shr(add(add(lo, hi), 1), 1);
    Value skip = none(first, add(mul(mid, bn), -1));
    return std::make_pair(sel(skip, mid, lo), sel(skip, hi, add(mid, -1)));
  });
  // The longest suffix [hi, end) of false blocks after it.
  Value last = add(mul(end, bn), -1);
  end = whileLess(begin, end, [&](Value lo, Value hi) {
    Value mid = shr(add(lo, hi), 1);
    Value skip = none(mul(mid, bn), last);
    return std::make_pair(sel(skip, lo, add(mid, 1)), sel(skip, mid, hi));
  });
}

SmallVector<Value> FragmentEmitter::emitMaskModElements(
    const FragmentLayout &layout, ArrayRef<Value> s, Value n0, Value laneRow,
    Value mixed, Value batchIndex, Value globalHead) {
  auto masked = scf::IfOp::create(
      b, mixed,
      [&](OpBuilder &, Location) {
        Value col0 = add(n0, mul(t, 2));
        Value negInf = cF32(-std::numeric_limits<double>::infinity());
        SmallVector<Value> out;
        for (int64_t r = 0; r < layout.numRegisters(); ++r) {
          Value keep = inlineMaskMod(b, *p.maskMod, batchIndex, globalHead,
                                     add(laneRow, layout.rowOffset(r)),
                                     add(col0, layout.colOffset(r)));
          out.push_back(sel(keep, s[r], negInf));
        }
        scf::YieldOp::create(b, out);
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, s); });
  return SmallVector<Value>(masked.getResults());
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
