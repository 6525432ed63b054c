//===- Varlen.cpp - varlen (packed) attention as IR -----------------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/Varlen.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

/// The operands and regions whose [B, ...] indexing has no per-sequence
/// meaning yet, refused with cu_seqlens.
static LogicalResult verifyNoPerBatchOperands(Operation *op, Value bias,
                                              Value mask, Region &scoreMod,
                                              Region &maskMod) {
  if (bias || mask)
    return op->emitOpError() << "expected no bias or mask operand with "
                                "cu_seqlens (a [B, Hq, Lq, Lk] operand has no "
                                "per-sequence indexing)";
  if (!scoreMod.empty() || !maskMod.empty())
    return op->emitOpError() << "expected no score_mod or mask_mod region "
                                "with cu_seqlens";
  return success();
}
template <typename OpTy>
static LogicalResult verifyNoPerBatchOperands(OpTy op) {
  return verifyNoPerBatchOperands(op, op.getBias(), op.getMask(),
                                  op.getScoreMod(), op.getMaskMod());
}

/// Varlen queries over per-sequence caches: cu_seqlens_q [N+1], Q and O
/// packed [1, Tq, H, D] (bshd), K and V [N, Lk, Hkv, D] caches filled to
/// key_lengths [N] (the op's verifier checked key_lengths against K).
static LogicalResult verifyVarlenCache(AttentionOp op) {
  auto qType = cast<RankedTensorType>(op.getCuSeqlensQ().getType());
  if (qType.getRank() != 1 || qType.getDimSize(0) == 0)
    return op.emitOpError() << "expected cu_seqlens_q of shape [N+1] (N "
                               "sequences), got "
                            << qType;
  if (op.getLayout() != Layout::BSHD)
    return op.emitOpError() << "expected the bshd layout with cu_seqlens (the "
                               "sequences are packed as [1, T, H, D])";
  if (op.getQueryType().getDimSize(0) != 1)
    return op.emitOpError() << "expected a batch of 1 in the query with "
                               "cu_seqlens (the sequences are packed along "
                               "the sequence axis), got "
                            << op.getQueryType();
  int64_t n = qType.getDimSize(0);
  int64_t caches = op.getKeyType().getDimSize(0);
  if (!ShapedType::isDynamic(n) && !ShapedType::isDynamic(caches) &&
      caches != n - 1)
    return op.emitOpError() << "expected one key/value cache per sequence "
                               "with cu_seqlens_q and key_lengths (K and V "
                               "[N, Lk, Hkv, D], N = "
                            << n - 1 << "), got " << op.getKeyType();
  return verifyNoPerBatchOperands(op);
}

/// The packed varlen rules both directions share: cu_seqlens_q and
/// cu_seqlens_k together, of one shape [N+1], the bshd layout, a batch of
/// one in Q, K and V, no key_lengths, no per-batch operands.
template <typename OpTy>
static LogicalResult verifyPackedVarlen(OpTy op) {
  Value cuQ = op.getCuSeqlensQ(), cuK = op.getCuSeqlensK();
  if (!cuQ || !cuK)
    return op.emitOpError() << "expected cu_seqlens_q and cu_seqlens_k "
                               "together (the query and key offsets of the "
                               "packed sequences), or cu_seqlens_q with "
                               "key_lengths (queries over per-sequence "
                               "caches)";
  auto qType = cast<RankedTensorType>(cuQ.getType());
  auto kType = cast<RankedTensorType>(cuK.getType());
  int64_t qn = qType.getRank() == 1 ? qType.getDimSize(0) : 0;
  int64_t kn = kType.getRank() == 1 ? kType.getDimSize(0) : 0;
  // [N+1] offsets: at least one entry, and one N for both.
  if (qType.getRank() != 1 || kType.getRank() != 1 || qn == 0 || kn == 0 ||
      (!ShapedType::isDynamic(qn) && !ShapedType::isDynamic(kn) && qn != kn))
    return op.emitOpError() << "expected cu_seqlens_q and cu_seqlens_k of one "
                               "shape [N+1] (N sequences), got "
                            << qType << " and " << kType;
  if (op.getLayout() != Layout::BSHD)
    return op.emitOpError() << "expected the bshd layout with cu_seqlens (the "
                               "sequences are packed as [1, T, H, D])";
  for (auto [name, type] :
       {std::pair<StringRef, RankedTensorType>{"query", op.getQueryType()},
        {"key", op.getKeyType()},
        {"value", op.getValueType()}})
    if (type.getDimSize(0) != 1)
      return op.emitOpError()
             << "expected a batch of 1 in the " << name
             << " with cu_seqlens (the sequences are packed along the "
                "sequence axis), got "
             << type;
  if (op.getKeyLengths())
    return op.emitOpError() << "expected no key_lengths with cu_seqlens_k "
                               "(sequence n has cu_seqlens_k[n+1] - "
                               "cu_seqlens_k[n] keys)";
  return verifyNoPerBatchOperands(op);
}

LogicalResult mlir::attn::verifyVarlen(AttentionOp op) {
  if (!op.getCuSeqlensQ() && !op.getCuSeqlensK())
    return success();
  if (op.isVarlenCache())
    return verifyVarlenCache(op);
  return verifyPackedVarlen(op);
}

LogicalResult mlir::attn::verifyVarlen(AttentionBackwardOp op) {
  if (!op.getCuSeqlensQ() && !op.getCuSeqlensK())
    return success();
  // The backward of varlen queries over caches (no cu_seqlens_k) would
  // write dK / dV into the caches: not defined.
  if (!op.getCuSeqlensQ() || !op.getCuSeqlensK())
    return op.emitOpError() << "expected cu_seqlens_q and cu_seqlens_k "
                               "together in a backward (the query and key "
                               "offsets of the packed sequences)";
  return verifyPackedVarlen(op);
}

/// cu[n] as an index, clamped to [low, total]: offsets that break the
/// contract (negative, decreasing, past the packed rows) cannot address
/// outside the operands. `cu` is a tensor (the tiled IR) or a memref (a
/// kernel's argument).
static Value loadOffset(OpBuilder &b, Location loc, Value cu, Value n,
                        Value low, Value total) {
  Value entry =
      isa<BaseMemRefType>(cu.getType())
          ? memref::LoadOp::create(b, loc, cu, ValueRange{n}).getResult()
          : tensor::ExtractOp::create(b, loc, cu, ValueRange{n}).getResult();
  Value offset = arith::IndexCastOp::create(b, loc, b.getIndexType(), entry);
  return arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, offset, low), total);
}

VarlenSequence mlir::attn::buildVarlenSequence(OpBuilder &b, Location loc,
                                               Value cuQ, Value cuK, Value n,
                                               Value totalQ, Value totalK,
                                               Value keyLengths) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value next = arith::AddIOp::create(b, loc, n,
                                     arith::ConstantIndexOp::create(b, loc, 1));
  VarlenSequence seq;
  seq.queryStart = loadOffset(b, loc, cuQ, n, zero, totalQ);
  seq.queryLength = arith::SubIOp::create(
      b, loc, loadOffset(b, loc, cuQ, next, seq.queryStart, totalQ),
      seq.queryStart);
  if (!cuK) {
    // Over caches: keys [0, key_lengths[n]) of cache n, clamped to [0, Lk]
    // as a dense op clamps its lengths.
    seq.keyLength = loadOffset(b, loc, keyLengths, n, zero, totalK);
    return seq;
  }
  seq.keyStart = loadOffset(b, loc, cuK, n, zero, totalK);
  seq.keyLength = arith::SubIOp::create(
      b, loc, loadOffset(b, loc, cuK, next, seq.keyStart, totalK),
      seq.keyStart);
  return seq;
}

/// A tensor of `type` (dynamic extents from `like`'s) filled with `value`.
static Value filled(OpBuilder &b, Location loc, RankedTensorType type,
                    Value like, double value) {
  SmallVector<Value> dynamic;
  for (int64_t axis = 0; axis < type.getRank(); ++axis)
    if (type.isDynamicDim(axis))
      dynamic.push_back(tensor::DimOp::create(b, loc, like, axis));
  Value empty = tensor::EmptyOp::create(b, loc, type, dynamic);
  Value scalar = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), value));
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

/// The [1, length, H, X] slice of batch row `batch` (0 when null) of a
/// bshd operand starting at row `offset`.
static Value sliceRows(OpBuilder &b, Location loc, Value packed, Value offset,
                       Value length, Value batch = Value()) {
  auto type = cast<RankedTensorType>(packed.getType());
  SmallVector<OpFoldResult> offsets = {
      batch ? OpFoldResult(batch) : b.getIndexAttr(0), offset,
      b.getIndexAttr(0), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), length,
                                     b.getIndexAttr(type.getDimSize(2)),
                                     b.getIndexAttr(type.getDimSize(3))};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  auto sliceType = RankedTensorType::get(
      {1, ShapedType::kDynamic, type.getDimSize(2), type.getDimSize(3)},
      type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, sliceType, packed, offsets,
                                        sizes, strides);
}

SmallVector<Value> mlir::attn::buildVarlenLoop(OpBuilder &b, AttentionOp op) {
  Location loc = op.getLoc();
  Value cuQ = op.getCuSeqlensQ(), cuK = op.getCuSeqlensK();
  RankedTensorType outType = op.getOutputType();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value numSequences = arith::SubIOp::create(
      b, loc, tensor::DimOp::create(b, loc, cuQ, 0), one);

  // Rows of no sequence (a caller breaking the offsets' contract) read 0
  // and -inf rather than uninitialised memory.
  SmallVector<Value> inits = {filled(b, loc, outType, op.getQuery(), 0.0)};
  auto lseType =
      op.getLse() ? cast<RankedTensorType>(op.getLse().getType()) : nullptr;
  if (lseType) {
    // The LSE [1, Hq, Tq] shares only Tq (axis 2) with Q's axis 1.
    SmallVector<Value> dynamic;
    if (lseType.isDynamicDim(2))
      dynamic.push_back(tensor::DimOp::create(b, loc, op.getQuery(), 1));
    Value empty = tensor::EmptyOp::create(b, loc, lseType, dynamic);
    Value negInf = arith::ConstantOp::create(
        b, loc,
        b.getFloatAttr(lseType.getElementType(),
                       -std::numeric_limits<double>::infinity()));
    inits.push_back(
        linalg::FillOp::create(b, loc, negInf, empty).getResult(0));
  }

  Value totalQ = tensor::DimOp::create(b, loc, op.getQuery(), 1);
  Value totalK = tensor::DimOp::create(b, loc, op.getKey(), 1);
  auto loop = scf::ForOp::create(
      b, loc, zero, numSequences, one, inits,
      [&](OpBuilder &nb, Location l, Value n, ValueRange carried) {
        VarlenSequence seq = buildVarlenSequence(nb, l, cuQ, cuK, n, totalQ,
                                                 totalK, op.getKeyLengths());
        Value qBegin = seq.queryStart, lq = seq.queryLength;
        Value lk = seq.keyLength;
        Value q = sliceRows(nb, l, op.getQuery(), qBegin, lq);
        // Packed keys from the sequence's first row, or cache n's first
        // key_lengths[n] rows.
        Value kBegin = seq.keyStart ? seq.keyStart : zero;
        Value cache = seq.keyStart ? Value() : n;
        Value k = sliceRows(nb, l, op.getKey(), kBegin, lk, cache);
        Value v = sliceRows(nb, l, op.getValue(), kBegin, lk, cache);
        auto rowsType = RankedTensorType::get(
            {1, ShapedType::kDynamic, outType.getDimSize(2),
             outType.getDimSize(3)},
            outType.getElementType());
        Type rowLseType;
        if (lseType)
          rowLseType = RankedTensorType::get(
              {1, lseType.getDimSize(1), ShapedType::kDynamic},
              lseType.getElementType());
        auto dense = AttentionOp::create(
            nb, l, rowsType, rowLseType, q, k, v, /*bias=*/Value(),
            /*mask=*/Value(), /*key_lengths=*/Value(), op.getSinks(),
            /*cu_seqlens_q=*/Value(), /*cu_seqlens_k=*/Value(),
            op.getScaleAttr(), op.getMaskKindAttr(), op.getWindowAttr(),
            op.getSoftcapAttr(), op.getAlibiSlopesAttr(), op.getLayoutAttr(),
            op.getHeadOffsetAttr(), op.getNumHeadsTotalAttr());
        SmallVector<OpFoldResult> ones(4, nb.getIndexAttr(1));
        SmallVector<Value> yielded = {tensor::InsertSliceOp::create(
            nb, l, dense.getOutput(), carried[0],
            ArrayRef<OpFoldResult>{nb.getIndexAttr(0), qBegin,
                                   nb.getIndexAttr(0), nb.getIndexAttr(0)},
            ArrayRef<OpFoldResult>{nb.getIndexAttr(1), lq,
                                   nb.getIndexAttr(outType.getDimSize(2)),
                                   nb.getIndexAttr(outType.getDimSize(3))},
            ones)};
        if (lseType)
          yielded.push_back(tensor::InsertSliceOp::create(
              nb, l, dense.getLse(), carried[1],
              ArrayRef<OpFoldResult>{nb.getIndexAttr(0), nb.getIndexAttr(0),
                                     qBegin},
              ArrayRef<OpFoldResult>{nb.getIndexAttr(1),
                                     nb.getIndexAttr(lseType.getDimSize(1)),
                                     lq},
              ArrayRef<OpFoldResult>(ones).take_front(3)));
        scf::YieldOp::create(nb, l, yielded);
      });
  return SmallVector<Value>(loop.getResults());
}

/// The [1, Hq, length] slice of a [1, Hq, T] LSE from row `offset`.
static Value sliceLse(OpBuilder &b, Location loc, Value lse, Value offset,
                      Value length) {
  auto type = cast<RankedTensorType>(lse.getType());
  auto sliceType = RankedTensorType::get(
      {1, type.getDimSize(1), ShapedType::kDynamic}, type.getElementType());
  SmallVector<OpFoldResult> ones(3, b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(
      b, loc, sliceType, lse,
      ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0), offset},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1),
                             b.getIndexAttr(type.getDimSize(1)), length},
      ones);
}

/// `rows` ([1, length, H, X]) written into the packed `into` at `offset`.
static Value insertRows(OpBuilder &b, Location loc, Value rows, Value into,
                        Value offset, Value length) {
  auto type = cast<RankedTensorType>(into.getType());
  SmallVector<OpFoldResult> ones(4, b.getIndexAttr(1));
  return tensor::InsertSliceOp::create(
      b, loc, rows, into,
      ArrayRef<OpFoldResult>{b.getIndexAttr(0), offset, b.getIndexAttr(0),
                             b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), length,
                             b.getIndexAttr(type.getDimSize(2)),
                             b.getIndexAttr(type.getDimSize(3))},
      ones);
}

/// The type of a per-sequence slice of packed `type`: its rows dynamic.
static RankedTensorType rowsTypeOf(Type packed) {
  auto type = cast<RankedTensorType>(packed);
  return RankedTensorType::get({1, ShapedType::kDynamic, type.getDimSize(2),
                                type.getDimSize(3)},
                               type.getElementType());
}

SmallVector<Value> mlir::attn::buildVarlenBackwardLoop(OpBuilder &b,
                                                       AttentionBackwardOp op) {
  Location loc = op.getLoc();
  Value cuQ = op.getCuSeqlensQ(), cuK = op.getCuSeqlensK();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value numSequences = arith::SubIOp::create(
      b, loc, tensor::DimOp::create(b, loc, cuQ, 0), one);

  // Rows of no sequence (keys past cu_seqlens_k[N], or a caller breaking
  // the contract) have zero gradients; the sinks' gradient sums over the
  // sequences from 0.
  auto gradType = [&](Value v) {
    return cast<RankedTensorType>(v.getType());
  };
  SmallVector<Value> inits = {
      filled(b, loc, gradType(op.getGradQuery()), op.getQuery(), 0.0),
      filled(b, loc, gradType(op.getGradKey()), op.getKey(), 0.0),
      filled(b, loc, gradType(op.getGradValue()), op.getValue(), 0.0)};
  if (op.getGradSinks())
    inits.push_back(
        filled(b, loc, gradType(op.getGradSinks()), op.getSinks(), 0.0));

  Value totalQ = tensor::DimOp::create(b, loc, op.getQuery(), 1);
  Value totalK = tensor::DimOp::create(b, loc, op.getKey(), 1);
  auto loop = scf::ForOp::create(
      b, loc, zero, numSequences, one, inits,
      [&](OpBuilder &nb, Location l, Value n, ValueRange carried) {
        VarlenSequence seq =
            buildVarlenSequence(nb, l, cuQ, cuK, n, totalQ, totalK);
        Value q0 = seq.queryStart, lq = seq.queryLength;
        Value k0 = seq.keyStart, lk = seq.keyLength;
        auto queryRows = [&](Value v) { return sliceRows(nb, l, v, q0, lq); };
        auto keyRows = [&](Value v) { return sliceRows(nb, l, v, k0, lk); };
        Type sinksGrad =
            op.getGradSinks() ? op.getGradSinks().getType() : Type();
        auto dense = AttentionBackwardOp::create(
            nb, l, rowsTypeOf(op.getGradQuery().getType()),
            rowsTypeOf(op.getGradKey().getType()),
            rowsTypeOf(op.getGradValue().getType()), /*grad_bias=*/Type(),
            sinksGrad, queryRows(op.getQuery()), keyRows(op.getKey()),
            keyRows(op.getValue()), queryRows(op.getOutput()),
            queryRows(op.getGradOutput()), sliceLse(nb, l, op.getLse(), q0, lq),
            /*bias=*/Value(),
            /*mask=*/Value(), /*key_lengths=*/Value(), op.getSinks(),
            /*cu_seqlens_q=*/Value(), /*cu_seqlens_k=*/Value(),
            op.getGradLse() ? sliceLse(nb, l, op.getGradLse(), q0, lq)
                            : Value(),
            op.getScaleAttr(), op.getMaskKindAttr(), op.getWindowAttr(),
            op.getSoftcapAttr(), op.getAlibiSlopesAttr(), op.getLayoutAttr());
        SmallVector<Value> yielded = {
            insertRows(nb, l, dense.getGradQuery(), carried[0], q0, lq),
            insertRows(nb, l, dense.getGradKey(), carried[1], k0, lk),
            insertRows(nb, l, dense.getGradValue(), carried[2], k0, lk)};
        if (op.getGradSinks())
          yielded.push_back(
              linalg::AddOp::create(nb, l, ValueRange{carried[3],
                                                      dense.getGradSinks()},
                                    ValueRange{carried[3]})
                  .getResult(0));
        scf::YieldOp::create(nb, l, yielded);
      });
  return SmallVector<Value>(loop.getResults());
}
