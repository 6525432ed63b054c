//===- TileBackward.cpp - attn-tile-backward ------------------------------===//
//
// Part of attn-mlir. Tiles attn.attention_backward FlashAttention-2 style:
// one program per (batch, KV head, KV block) holds its K/V tile and the f32
// dK/dV accumulators of that block while an inner loop walks the query
// blocks; each (query block, KV block) pair is one attn.backward_step. The
// program's share of dQ goes to a per-KV-block workspace that attn.accumulate
// sums afterwards: the explicit accumulation step. Query blocks that see no
// key of the KV block are skipped and blocks that see all of them are
// interior, by the forward's mask geometry (tiling::computeKVRange) applied
// to each query block. A varlen backward (cu_seqlens) has programs over
// (sequence, KV head, KV block), each reading its sequence's bounds
// (Varlen.h) and addressing its packed rows; gradients of rows no sequence
// owns are 0.
//
//===----------------------------------------------------------------------===//

#include "TileUtils.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/Sinks.h"
#include "attn/Dialect/Attn/IR/Varlen.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

#define DEBUG_TYPE "attn-tile-backward"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEBACKWARD
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tiling;

namespace {

class BackwardTiler {
public:
  BackwardTiler(RewriterBase &rewriter, AttentionBackwardOp op,
                const AttnTileBackwardOptions &opts)
      : b(rewriter), op(op), loc(op.getLoc()), opts(opts),
        m(rewriter, loc, rewriter.getIndexType()) {}

  FailureOr<SmallVector<Value>> tile();

private:
  /// Delta[b, h, i] = sum_c dO * O - grad_lse in f32, [B, Hq, Lq] (the
  /// preprocessing step, once before the programs).
  Value buildDelta();
  /// A [G, M, X] tile of a [B, H, L, X] operand in the op's layout (rows
  /// q0 .. q0 + rows of heads h0 .. h0 + G), zero-padded to M rows.
  Value rowTile(Value source, Value batch, Value h0, Value q0, Value rows);
  /// A [N, X] tile of K or V, zero-padded to N keys.
  Value keyTile(Value source, Value batch, Value kvHead, Value k0, Value keys);
  /// A [G, M] tile of a [B, Hq, Lq] f32 tensor, padded with `pad`.
  Value statTile(Value source, Value batch, Value h0, Value q0, Value rows,
                 double pad);
  Value pad(Value source, ArrayRef<int64_t> shape, Attribute padValue);
  Value fill(ArrayRef<int64_t> shape, double value);
  /// A zero tensor of `type` (the varlen gradients' rows of no sequence).
  Value zeros(RankedTensorType type);
  /// The packed row of a program's row or key `pos` (varlen: offset by the
  /// sequence's start).
  Value packedRow(Value start, Value pos) {
    return start ? arith::AddIOp::create(b, loc, start, pos).getResult() : pos;
  }
  /// The body of one program: the loop over query blocks.
  SmallVector<Value> queryLoop(Value batch, Value kvHead, Value k0,
                               Value keys, Value kTile, Value vTile,
                               Value delta);
  /// The Q, dO, LSE and Delta tiles of one query block.
  struct QueryTiles {
    Value query, gradOutput, lse, delta, bias, mask;
  };
  QueryTiles queryTiles(OpBuilder &nb, Value batch, Value h0, Value q0,
                        Value rows, Value k0, Value keys, Value delta);
  /// The step of one (query block, KV block) pair.
  SmallVector<Value> step(OpBuilder &nb, Value batch, Value h0, Value q0,
                          Value k0, Value kTile, Value vTile,
                          const QueryTiles &tiles, ValueRange acc,
                          bool interior);
  /// An f32 [N, X] accumulator as the valid rows of a K/V-shaped result
  /// tile in the op's layout and element type.
  Value keyResultTile(Value acc, Value keys, Type elementType);
  /// d_bias from the f32 [B, Hq, Lq, Lk] gradient of the bias's values.
  Value biasGradient(Value full);
  Value tileExtent(Value len, Value start, int64_t block) {
    std::optional<int64_t> staticLen = getConstantIntValue(len);
    if (staticLen && *staticLen % block == 0)
      return m.c(block);
    return m.min(m.c(block), m.sub(len, start));
  }

  RewriterBase &b;
  AttentionBackwardOp op;
  Location loc;
  AttnTileBackwardOptions opts;
  IndexMath m;
  int64_t group = 1;
  int64_t numQueryBlocks = 0;
  Value queryLen, keyLen, keyExtent;
  /// Varlen: the program's sequence's first packed query and key rows, and
  /// the batch its tiles read (0); dense: null and the program's batch.
  Value queryStart, keyStart, dataBatch;
};

} // namespace

Value BackwardTiler::pad(Value source, ArrayRef<int64_t> shape,
                         Attribute padValue) {
  auto type = cast<RankedTensorType>(source.getType());
  if (type.getShape() == shape)
    return source;
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value value = arith::ConstantOp::create(b, loc, cast<TypedAttr>(padValue));
  return tensor::createPadHighOp(resultType, source, value, /*nofold=*/false,
                                 loc, b);
}

Value BackwardTiler::fill(ArrayRef<int64_t> shape, double value) {
  Type f32 = b.getF32Type();
  Value empty = tensor::EmptyOp::create(b, loc, shape, f32);
  Value v = arith::ConstantOp::create(b, loc, f32, b.getFloatAttr(f32, value));
  return linalg::FillOp::create(b, loc, v, empty).getResult(0);
}

Value BackwardTiler::zeros(RankedTensorType type) {
  Value empty =
      tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  Value zero = arith::ConstantOp::create(
      b, loc, cast<TypedAttr>(b.getZeroAttr(type.getElementType())));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

Value BackwardTiler::buildDelta() {
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, h, i, c;
  bindDims(ctx, bb, h, i, c);
  AffineMap in = op.getLayout() == Layout::BHSD
                     ? AffineMap::get(4, 0, {bb, h, i, c}, ctx)
                     : AffineMap::get(4, 0, {bb, i, h, c}, ctx);
  AffineMap out = AffineMap::get(4, 0, {bb, h, i}, ctx);
  auto lseType = cast<RankedTensorType>(op.getLse().getType());
  Value init =
      buildDeltaInit(b, loc, op.getGradLse(), fill(lseType.getShape(), 0.0));
  SmallVector<utils::IteratorType> iterators(3, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Type f32 = b.getF32Type();
  return linalg::GenericOp::create(
             b, loc, init.getType(),
             ValueRange{op.getGradOutput(), op.getOutput()}, init,
             ArrayRef<AffineMap>{in, in, out}, iterators,
             [&](OpBuilder &nb, Location l, ValueRange a) {
               auto ext = [&](Value v) -> Value {
                 return v.getType() == f32
                            ? v
                            : arith::ExtFOp::create(nb, l, f32, v).getResult();
               };
               Value prod = arith::MulFOp::create(nb, l, ext(a[0]), ext(a[1]));
               linalg::YieldOp::create(
                   nb, l, arith::AddFOp::create(nb, l, a[2], prod).getResult());
             })
      .getResult(0);
}

Value BackwardTiler::rowTile(Value source, Value batch, Value h0, Value q0,
                             Value rows) {
  auto type = cast<RankedTensorType>(source.getType());
  int64_t last = type.getDimSize(3);
  Type elt = type.getElementType();
  SmallVector<OpFoldResult> offsets, sizes;
  layoutSlice(op.getLayout(), batch, h0, q0, b.getIndexAttr(group),
              getAsOpFoldResult(rows), b.getIndexAttr(last), b, offsets, sizes);
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  int64_t rowsStatic = getConstantIntValue(rows).value_or(ShapedType::kDynamic);
  bool bhsd = op.getLayout() == Layout::BHSD;
  SmallVector<int64_t> sliceShape =
      bhsd ? SmallVector<int64_t>{group, rowsStatic, last}
           : SmallVector<int64_t>{rowsStatic, group, last};
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(sliceShape, elt), source, offsets, sizes,
      strides);
  Attribute zero = b.getZeroAttr(elt);
  if (bhsd)
    return pad(slice, {group, opts.blockM, last}, zero);
  Value padded = pad(slice, {opts.blockM, group, last}, zero);
  Value init = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{group, opts.blockM, last}, elt);
  return linalg::TransposeOp::create(b, loc, padded, init,
                                     ArrayRef<int64_t>{1, 0, 2})
      .getResult()[0];
}

Value BackwardTiler::keyTile(Value source, Value batch, Value kvHead, Value k0,
                             Value keys) {
  auto type = cast<RankedTensorType>(source.getType());
  int64_t last = type.getDimSize(3);
  SmallVector<OpFoldResult> offsets, sizes;
  layoutSlice(op.getLayout(), batch, kvHead, k0, b.getIndexAttr(1),
              getAsOpFoldResult(keys), b.getIndexAttr(last), b, offsets, sizes);
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  int64_t keysStatic = getConstantIntValue(keys).value_or(ShapedType::kDynamic);
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get({keysStatic, last}, type.getElementType()),
      source, offsets, sizes, strides);
  return pad(slice, {opts.blockN, last}, b.getZeroAttr(type.getElementType()));
}

Value BackwardTiler::statTile(Value source, Value batch, Value h0, Value q0,
                              Value rows, double padValue) {
  int64_t rowsStatic = getConstantIntValue(rows).value_or(ShapedType::kDynamic);
  OpFoldResult one = b.getIndexAttr(1);
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get({group, rowsStatic}, b.getF32Type()),
      source, ArrayRef<OpFoldResult>{batch, h0, q0},
      ArrayRef<OpFoldResult>{one, b.getIndexAttr(group),
                             getAsOpFoldResult(rows)},
      ArrayRef<OpFoldResult>{one, one, one});
  return pad(slice, {group, opts.blockM}, b.getF32FloatAttr(padValue));
}

BackwardTiler::QueryTiles
BackwardTiler::queryTiles(OpBuilder &nb, Value batch, Value h0, Value q0,
                          Value rows, Value k0, Value keys, Value delta) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
  QueryTiles tiles;
  Value qRow = packedRow(queryStart, q0);
  tiles.query = rowTile(op.getQuery(), dataBatch, h0, qRow, rows);
  tiles.gradOutput = rowTile(op.getGradOutput(), dataBatch, h0, qRow, rows);
  // Padded rows have LSE -inf, hence P = 0: they add nothing to dK and dV.
  tiles.lse = statTile(op.getLse(), dataBatch, h0, qRow, rows,
                       -std::numeric_limits<double>::infinity());
  tiles.delta = statTile(delta, dataBatch, h0, qRow, rows, 0.0);
  SmallVector<int64_t> scoreShape = {op.getQueryType().getDimSize(0),
                                     op.getNumQueryHeads(),
                                     op.getQueryLength(), op.getKeyLength()};
  for (auto [operand, tile] : {std::pair<Value, Value *>{op.getBias(),
                                                         &tiles.bias},
                               {op.getMask(), &tiles.mask}})
    if (operand)
      *tile = scoreOperandTile(b, loc, operand, scoreShape, group, opts.blockM,
                               opts.blockN, batch, h0, q0, rows, k0, keys);
  return tiles;
}

SmallVector<Value> BackwardTiler::step(OpBuilder &nb, Value batch, Value h0,
                                       Value q0, Value k0, Value kTile,
                                       Value vTile, const QueryTiles &tiles,
                                       ValueRange acc, bool interior) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
  auto accType = [&](Value v) { return v.getType(); };
  Type biasGradType;
  if (tiles.bias && op.getGradBias())
    biasGradType = RankedTensorType::get({group, opts.blockM, opts.blockN},
                                         b.getF32Type());
  auto stepOp = BackwardStepOp::create(
      b, loc, accType(acc[0]), accType(acc[1]),
      RankedTensorType::get({group, opts.blockM, op.getHeadDim()},
                            b.getF32Type()),
      biasGradType, tiles.query, kTile, vTile, tiles.bias, tiles.mask, batch,
      h0, q0,
      k0, queryLen, keyLen, b.getF64FloatAttr(op.getEffectiveScale()),
      op.getMaskKindAttr(), op.getWindowAttr(), op.getSoftcapAttr(),
      op.getAlibiSlopesAttr(), interior ? b.getUnitAttr() : UnitAttr(),
      tiles.gradOutput, tiles.lse, tiles.delta, acc[0], acc[1],
      /*p_type=*/TypeAttr());
  IRMapping mapping;
  for (auto [from, to] : llvm::zip(op->getRegions(), stepOp->getRegions()))
    from.cloneInto(&to, mapping);
  // The tile's dQ share goes to rows q0.. of the program's dQ.
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  int64_t d = op.getHeadDim();
  Value dq = tensor::InsertSliceOp::create(
      b, loc, stepOp.getGradQuery(), acc[2],
      ArrayRef<OpFoldResult>{zero, q0, zero},
      ArrayRef<OpFoldResult>{b.getIndexAttr(group),
                             b.getIndexAttr(opts.blockM), b.getIndexAttr(d)},
      ArrayRef<OpFoldResult>{one, one, one});
  SmallVector<Value> results = {stepOp.getNewGradKey(),
                                stepOp.getNewGradValue(), dq};
  // The bias gradient of the pair goes to rows q0.. of the program's
  // [G, Lq, N] column of it.
  if (biasGradType)
    results.push_back(tensor::InsertSliceOp::create(
        b, loc, stepOp.getGradBias(), acc[3],
        ArrayRef<OpFoldResult>{zero, q0, zero},
        ArrayRef<OpFoldResult>{b.getIndexAttr(group),
                               b.getIndexAttr(opts.blockM),
                               b.getIndexAttr(opts.blockN)},
        ArrayRef<OpFoldResult>{one, one, one}));
  return results;
}

SmallVector<Value> BackwardTiler::queryLoop(Value batch, Value kvHead,
                                            Value k0, Value keys, Value kTile,
                                            Value vTile, Value delta) {
  int64_t d = op.getHeadDim(), dv = op.getValueHeadDim();
  Value h0 = m.mul(kvHead, m.c(group));
  SmallVector<Value> init = {
      fill({opts.blockN, d}, 0.0), fill({opts.blockN, dv}, 0.0),
      fill({group, numQueryBlocks * opts.blockM, d}, 0.0)};
  if (op.getGradBias())
    init.push_back(
        fill({group, numQueryBlocks * opts.blockM, opts.blockN}, 0.0));
  auto loop = scf::ForOp::create(
      b, loc, m.c(0), queryLen, m.c(opts.blockM), init,
      [&](OpBuilder &nested, Location l, Value q0, ValueRange acc) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nested.getInsertionBlock(),
                            nested.getInsertionPoint());
        Value rows = tileExtent(queryLen, q0, opts.blockM);
        // The forward's geometry: the KV blocks this query block visits.
        KVRange range =
            computeKVRange(m, op.getKeyVisibility(), opts.blockN,
                           opts.skipMaskedBlocks, queryLen, keyLen, q0, rows);
        auto within = [&](Value lo, Value hi) {
          Value ge = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sle, lo,
                                           k0);
          Value lt = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, k0,
                                           hi);
          return arith::AndIOp::create(b, l, ge, lt).getResult();
        };
        Value visited = within(range.begin, range.end);
        Value interior = within(range.interiorBegin, range.interiorEnd);
        auto ifVisited = scf::IfOp::create(
            b, l, visited,
            [&](OpBuilder &tb, Location tl) {
              QueryTiles tiles =
                  queryTiles(tb, batch, h0, q0, rows, k0, keys, delta);
              // The dense schedule has no interior tiles.
              if (!opts.skipMaskedBlocks) {
                scf::YieldOp::create(tb, tl,
                                     step(tb, batch, h0, q0, k0, kTile, vTile,
                                          tiles, acc, /*interior=*/false));
                return;
              }
              auto ifInterior = scf::IfOp::create(
                  tb, tl, interior,
                  [&](OpBuilder &ib, Location il) {
                    scf::YieldOp::create(ib, il,
                                         step(ib, batch, h0, q0, k0, kTile,
                                              vTile, tiles, acc,
                                              /*interior=*/true));
                  },
                  [&](OpBuilder &eb, Location el) {
                    scf::YieldOp::create(eb, el,
                                         step(eb, batch, h0, q0, k0, kTile,
                                              vTile, tiles, acc,
                                              /*interior=*/false));
                  });
              scf::YieldOp::create(tb, tl, ifInterior.getResults());
            },
            [&](OpBuilder &eb, Location el) {
              scf::YieldOp::create(eb, el, acc);
            });
        scf::YieldOp::create(b, l, ifVisited.getResults());
      });
  return SmallVector<Value>(loop.getResults());
}

Value BackwardTiler::keyResultTile(Value acc, Value keys, Type elementType) {
  int64_t last = cast<RankedTensorType>(acc.getType()).getDimSize(1);
  int64_t keysStatic = getConstantIntValue(keys).value_or(ShapedType::kDynamic);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  Value valid = tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get({keysStatic, last}, b.getF32Type()), acc,
      ArrayRef<OpFoldResult>{zero, zero},
      ArrayRef<OpFoldResult>{getAsOpFoldResult(keys), b.getIndexAttr(last)},
      ArrayRef<OpFoldResult>{one, one});
  SmallVector<OpFoldResult> sizes = {getAsOpFoldResult(keys),
                                     b.getIndexAttr(last)};
  Value init = tensor::EmptyOp::create(b, loc, sizes, elementType);
  AffineMap id = AffineMap::getMultiDimIdentityMap(2, b.getContext());
  return truncateInto(b, loc, valid, init, id);
}

FailureOr<SmallVector<Value>> BackwardTiler::tile() {
  if (opts.blockM <= 0 || opts.blockN <= 0)
    return op.emitOpError() << "expected positive block-m and block-n";
  for (Value v : {op.getQuery(), op.getKey()})
    if (!cast<RankedTensorType>(v.getType()).hasStaticShape())
      return op.emitOpError() << "expected static shapes for "
                                 "attn-tile-backward";
  group = op.getHeadGroupSize();
  int64_t batchSize = op.getQueryType().getDimSize(0);
  int64_t lq = op.getQueryLength(), lk = op.getKeyLength();
  int64_t d = op.getHeadDim(), hq = op.getNumQueryHeads(),
          hkv = op.getNumKVHeads();
  numQueryBlocks = (lq + opts.blockM - 1) / opts.blockM;
  int64_t numKeyBlocks = (lk + opts.blockN - 1) / opts.blockN;
  queryLen = m.c(lq);
  keyExtent = m.c(lk);
  keyLen = keyExtent;

  Value delta = buildDelta();
  Type f32 = b.getF32Type();
  auto gradType = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  RankedTensorType dkType = gradType(op.getGradKey()),
                   dvType = gradType(op.getGradValue()),
                   dqType = gradType(op.getGradQuery());
  // Dense programs write every row of dK, dV and their dQ shares; varlen
  // ones only their sequences' rows, the others stay 0.
  bool varlen = op.isVarlen();
  auto sharedOut = [&](RankedTensorType type) -> Value {
    if (varlen)
      return zeros(type);
    return tensor::EmptyOp::create(b, loc, type.getShape(),
                                   type.getElementType());
  };
  SmallVector<Value> sharedOuts = {
      sharedOut(dkType), sharedOut(dvType),
      sharedOut(
          RankedTensorType::get({numKeyBlocks, batchSize, hq, lq, d}, f32))};
  // Every (b, h, i, j) of the bias gradient is written by exactly one
  // program (its KV head and block).
  if (op.getGradBias())
    sharedOuts.push_back(tensor::EmptyOp::create(
        b, loc, ArrayRef<int64_t>{batchSize, hq, lq, lk}, f32));
  // Varlen: programs over the N sequences, KV blocks enough for the packed
  // keys (those past a sequence's keys visit no query block).
  OpFoldResult numPrograms0 = b.getIndexAttr(batchSize);
  if (varlen)
    numPrograms0 = getAsOpFoldResult(m.sub(
        b.createOrFold<tensor::DimOp>(loc, op.getCuSeqlensQ(), 0), m.c(1)));
  SmallVector<OpFoldResult> ubs = {numPrograms0, b.getIndexAttr(hkv),
                                   b.getIndexAttr(numKeyBlocks)};
  auto forall =
      scf::ForallOp::create(b, loc, ubs, sharedOuts, /*mapping=*/std::nullopt);
  // What a planner recorded about the op (attn-plan-gpu-backward's
  // schedule and kernel info) stays with its programs.
  for (NamedAttribute attr : op->getDiscardableAttrs())
    forall->setDiscardableAttr(attr.getName(), attr.getValue());
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    SmallVector<Value> ivs = forall.getInductionVars();
    Value batch = ivs[0], kvHead = ivs[1];
    dataBatch = batch;
    if (Value lengths = op.getKeyLengths())
      keyLen =
          m.max(m.c(0),
                m.min(keyExtent,
                      arith::IndexCastOp::create(
                          b, loc, b.getIndexType(),
                          tensor::ExtractOp::create(b, loc, lengths, batch))));
    Value k0 = m.mul(ivs[2], m.c(opts.blockN));
    Value keys = tileExtent(keyExtent, k0, opts.blockN);
    // Varlen: sequence `batch`'s rows and lengths (the one definition,
    // Varlen.h); its steps see positions within the sequence.
    if (varlen) {
      VarlenSequence seq =
          buildVarlenSequence(b, loc, op.getCuSeqlensQ(), op.getCuSeqlensK(),
                              batch, m.c(lq), m.c(lk));
      queryStart = seq.queryStart;
      keyStart = seq.keyStart;
      queryLen = seq.queryLength;
      keyLen = seq.keyLength;
      dataBatch = m.c(0);
      keys = m.max(m.c(0), m.min(m.c(opts.blockN), m.sub(keyLen, k0)));
    }
    Value kRow = packedRow(keyStart, k0);
    Value kTile = keyTile(op.getKey(), dataBatch, kvHead, kRow, keys);
    Value vTile = keyTile(op.getValue(), dataBatch, kvHead, kRow, keys);
    SmallVector<Value> acc =
        queryLoop(batch, kvHead, k0, keys, kTile, vTile, delta);
    // dK = acc (the scale is applied in the steps), dV = acc, rounded.
    Value dk = keyResultTile(acc[0], keys, dkType.getElementType());
    Value dv = keyResultTile(acc[1], keys, dvType.getElementType());
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    // The program's dQ share covers its sequence's query rows.
    OpFoldResult rowsOfShare = getAsOpFoldResult(queryLen);
    int64_t rowsStatic =
        getConstantIntValue(rowsOfShare).value_or(ShapedType::kDynamic);
    Value dqValid = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({group, rowsStatic, d}, f32), acc[2],
        ArrayRef<OpFoldResult>{zero, zero, zero},
        ArrayRef<OpFoldResult>{b.getIndexAttr(group), rowsOfShare,
                               b.getIndexAttr(d)},
        ArrayRef<OpFoldResult>{one, one, one});
    Value h0 = m.mul(kvHead, m.c(group));
    Value biasValid;
    if (op.getGradBias()) {
      int64_t keysStatic =
          getConstantIntValue(keys).value_or(ShapedType::kDynamic);
      biasValid = tensor::ExtractSliceOp::create(
          b, loc, RankedTensorType::get({group, lq, keysStatic}, f32), acc[3],
          ArrayRef<OpFoldResult>{zero, zero, zero},
          ArrayRef<OpFoldResult>{b.getIndexAttr(group), b.getIndexAttr(lq),
                                 getAsOpFoldResult(keys)},
          ArrayRef<OpFoldResult>{one, one, one});
    }
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    ValueRange outs = forall.getRegionIterArgs();
    auto keyWrite = [&](Value tile, Value dest, int64_t last) {
      SmallVector<OpFoldResult> offsets, sizes;
      layoutSlice(op.getLayout(), dataBatch, kvHead, kRow, one,
                  getAsOpFoldResult(keys), b.getIndexAttr(last), b, offsets,
                  sizes);
      tensor::ParallelInsertSliceOp::create(
          b, loc, tile, dest, offsets, sizes,
          SmallVector<OpFoldResult>(4, one));
    };
    keyWrite(dk, outs[0], d);
    keyWrite(dv, outs[1], op.getValueHeadDim());
    tensor::ParallelInsertSliceOp::create(
        b, loc, dqValid, outs[2],
        ArrayRef<OpFoldResult>{ivs[2], dataBatch, h0,
                               queryStart ? OpFoldResult(queryStart) : zero,
                               zero},
        ArrayRef<OpFoldResult>{one, one, b.getIndexAttr(group), rowsOfShare,
                               b.getIndexAttr(d)},
        SmallVector<OpFoldResult>(5, one));
    if (biasValid)
      tensor::ParallelInsertSliceOp::create(
          b, loc, biasValid, outs[3],
          ArrayRef<OpFoldResult>{batch, h0, zero, k0},
          ArrayRef<OpFoldResult>{one, b.getIndexAttr(group),
                                 b.getIndexAttr(lq), getAsOpFoldResult(keys)},
          SmallVector<OpFoldResult>(4, one));
  }
  // The accumulation step: dQ = sum over KV blocks of their shares.
  auto sum = AccumulateOp::create(
      b, loc, RankedTensorType::get({batchSize, hq, lq, d}, f32),
      forall.getResult(2), opts.deterministic ? b.getUnitAttr() : UnitAttr());
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, h, i, x;
  bindDims(ctx, bb, h, i, x);
  AffineMap outMap = op.getLayout() == Layout::BHSD
                         ? AffineMap::getMultiDimIdentityMap(4, ctx)
                         : AffineMap::get(4, 0, {bb, i, h, x}, ctx);
  Value dqInit = tensor::EmptyOp::create(b, loc, dqType.getShape(),
                                         dqType.getElementType());
  Value dq = truncateInto(b, loc, sum.getResult(), dqInit, outMap);
  SmallVector<Value> results = {dq, forall.getResult(0), forall.getResult(1)};
  if (op.getGradBias())
    results.push_back(biasGradient(forall.getResult(3)));
  // The sinks' gradient needs only the LSE and Delta: no tile sees it.
  // Varlen sequences partition the packed query rows (the offsets' contract),
  // so the sum over all rows is the sum over the sequences.
  if (Value sinks = op.getSinks())
    results.push_back(buildSinkGradient(b, loc, sinks, op.getLse(), delta));
  return results;
}

Value BackwardTiler::biasGradient(Value full) {
  // Sum over the axes the bias broadcasts along (an extent of 1 against a
  // larger one), round, and put the unit axes back.
  auto dbType = cast<RankedTensorType>(op.getGradBias().getType());
  ArrayRef<int64_t> fullShape =
      cast<RankedTensorType>(full.getType()).getShape();
  SmallVector<int64_t> reducedDims, keptShape;
  SmallVector<ReassociationIndices> reassociation;
  ReassociationIndices pending;
  for (int64_t axis = 0; axis < 4; ++axis) {
    pending.push_back(axis);
    if (dbType.getDimSize(axis) == 1 && fullShape[axis] != 1) {
      reducedDims.push_back(axis);
      continue;
    }
    keptShape.push_back(fullShape[axis]);
    reassociation.push_back(pending);
    pending.clear();
  }
  if (!pending.empty() && !reassociation.empty())
    reassociation.back().append(pending.begin(), pending.end());
  if (!reducedDims.empty())
    full = linalg::ReduceOp::create(
               b, loc, full, fill(keptShape, 0.0), reducedDims,
               [](OpBuilder &nb, Location l, ValueRange args) {
                 linalg::YieldOp::create(
                     nb, l,
                     arith::AddFOp::create(nb, l, args[0], args[1])
                         .getResult());
               })
               .getResult(0);
  Value init =
      tensor::EmptyOp::create(b, loc, keptShape, dbType.getElementType());
  Value rounded = truncateInto(
      b, loc, full, init,
      AffineMap::getMultiDimIdentityMap(keptShape.size(), b.getContext()));
  if (reducedDims.empty())
    return rounded;
  return tensor::ExpandShapeOp::create(b, loc, dbType, rounded, reassociation);
}

FailureOr<SmallVector<Value>>
mlir::attn::tileAttentionBackward(RewriterBase &rewriter,
                                  AttentionBackwardOp op,
                                  const AttnTileBackwardOptions &opts) {
  if (failed(tiling::verifyTileableElementType(
          op, op.getQueryType().getElementType())))
    return failure();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  // A schedule decided for this op (attn-plan-gpu-backward, for its GPU
  // kernels) takes the place of the pass options.
  AttnTileBackwardOptions resolved = opts;
  if (auto schedule = op->getAttrOfType<BackwardScheduleAttr>(
          BackwardScheduleAttr::getAttributeName())) {
    resolved.blockM = schedule.getBlockM();
    resolved.blockN = schedule.getBlockN();
    resolved.deterministic = schedule.getDeterministic();
  }
  return BackwardTiler(rewriter, op, resolved).tile();
}

namespace {
struct AttnTileBackwardPass
    : mlir::attn::impl::AttnTileBackwardBase<AttnTileBackwardPass> {
  using Base::Base;

  void runOnOperation() override {
    AttnTileBackwardOptions opts;
    opts.blockM = blockM;
    opts.blockN = blockN;
    opts.skipMaskedBlocks = skipMaskedBlocks;
    opts.deterministic = deterministic;
    IRRewriter rewriter(&getContext());
    WalkResult result = getOperation()->walk([&](AttentionBackwardOp op) {
      FailureOr<SmallVector<Value>> tiled =
          tileAttentionBackward(rewriter, op, opts);
      if (failed(tiled))
        return WalkResult::interrupt();
      rewriter.replaceOp(op, *tiled);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
