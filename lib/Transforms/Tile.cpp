//===- Tile.cpp - attn-tile -----------------------------------------------===//
//
// Part of attn-mlir. Tiles attn.attention into (batch, head group, query
// block[, KV split]) programs, each looping over KV blocks with
// attn.block_attention and attn.combine. Mask-block skipping happens here:
// the KV loop bounds come from the causal/window mask in closed form, and
// the loop is split so only boundary blocks evaluate the mask. A varlen op
// (cu_seqlens) becomes (sequence, head group, query block) programs over
// its packed operands, each reading its sequence's bounds (Varlen.h).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/KeyVisibility.h"
#include "attn/Dialect/Attn/IR/Sinks.h"
#include "attn/Dialect/Attn/IR/Varlen.h"
#include "attn/Transforms/Passes.h"
#include "TileUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

#define DEBUG_TYPE "attn-tile"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILE
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tiling;

namespace {

class AttentionTiler {
public:
  AttentionTiler(RewriterBase &rewriter, AttentionOp op,
                 const AttnTileOptions &opts)
      : b(rewriter), op(op), loc(op.getLoc()), opts(opts),
        m(rewriter, loc, rewriter.getIndexType()) {}

  FailureOr<SmallVector<Value>> tile();

private:
  /// Checks the options' ranges and clamps them to the op's static extents.
  LogicalResult resolveOptions();
  /// Q/K/V slices of one tile, padded to static tile shapes.
  Value queryTile(Value batch, Value head0, Value q0, Value rows);
  /// The [block-n, D] tile of K or V at k0 (attn.kv_tile: the source, a
  /// tensor or a KV cache view, stays visible to later passes).
  Value kvTile(Value source, Value batch, Value kvHead, Value k0);
  /// A [G, M, N] slice of a bias/mask operand broadcastable to
  /// [B, Hq, Lq, Lk], padded and broadcast to the tile shape.
  Value scoreOperandTile(Value operand, Value batch, Value head0, Value q0,
                         Value rows, Value k0, Value keys);
  KVRange kvRange(Value q0, Value rows, Value splitIndex);
  /// One scf.for over KV blocks [begin, end) merging block attentions into
  /// the carried (output, lse).
  std::pair<Value, Value> kvLoop(Value begin, Value end, bool interior,
                                 Value out, Value lse, Value qTile, Value batch,
                                 Value head0, Value kvHead, Value q0,
                                 Value rows);
  /// Converts an f32 [G, M, Dv] tile to the output element type and, for the
  /// BSHD layout, to [M, G, Dv].
  Value outputTile(Value tile);
  Value padTo(Value source, ArrayRef<int64_t> shape, Attribute padValue);
  /// Valid extent of the tile starting at `start`: min(block, len - start),
  /// or the constant `block` when a static length is a multiple of it.
  Value tileExtent(Value len, Value start, int64_t block) {
    std::optional<int64_t> staticLen = getConstantIntValue(len);
    if (staticLen && *staticLen % block == 0)
      return m.c(block);
    return m.min(m.c(block), m.sub(len, start));
  }
  Value fill(ArrayRef<int64_t> shape, Type type, double value);

  RewriterBase &b;
  AttentionOp op;
  Location loc;
  AttnTileOptions opts;
  IntArith m;

  int64_t group = 1;     // query heads per tile (G)
  int64_t headRatio = 1; // Hq / Hkv
  Value queryLen;
  /// Keys of the current sequence (its key_lengths entry inside a program)
  /// and the physical key extent of the K/V tensors.
  Value keyLen, keyExtent;
  /// Varlen: the packed row of the program's sequence's first query and
  /// key (null for a dense op, whose rows start at 0 of their batch).
  Value queryStart, keyStart;
  Type elementType;
};

} // namespace

/// Writes the f32 tensor `source` into `init` through `outMap` (a layout
/// permutation), rounded to `init`'s element type.
Value mlir::attn::tiling::truncateInto(OpBuilder &b, Location loc, Value source,
                                      Value init, AffineMap outMap) {
  auto initType = cast<RankedTensorType>(init.getType());
  Type outElt = initType.getElementType();
  AffineMap id =
      AffineMap::getMultiDimIdentityMap(initType.getRank(), b.getContext());
  SmallVector<utils::IteratorType> iterators(initType.getRank(),
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, initType, source, init, ArrayRef<AffineMap>{id, outMap},
             iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value v = args[0];
               if (outElt != v.getType())
                 v = arith::TruncFOp::create(nb, l, outElt, v);
               linalg::YieldOp::create(nb, l, v);
             })
      .getResult(0);
}

Value AttentionTiler::padTo(Value source, ArrayRef<int64_t> shape,
                            Attribute padValue) {
  auto type = cast<RankedTensorType>(source.getType());
  if (type.getShape() == shape)
    return source;
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  Value pad = arith::ConstantOp::create(b, loc, cast<TypedAttr>(padValue));
  return tensor::createPadHighOp(resultType, source, pad, /*nofold=*/false, loc,
                                 b);
}

Value AttentionTiler::fill(ArrayRef<int64_t> shape, Type type, double value) {
  Value empty = tensor::EmptyOp::create(b, loc, shape, type);
  Value v =
      arith::ConstantOp::create(b, loc, type, b.getFloatAttr(type, value));
  return linalg::FillOp::create(b, loc, v, empty).getResult(0);
}

/// Offsets and sizes of a [1, rows, heads, D]-style slice in the op's layout:
/// `head`/`seq` name the positions of the head and sequence axes.
void mlir::attn::tiling::layoutSlice(Layout layout, OpFoldResult batch,
                                     OpFoldResult head, OpFoldResult seq,
                                     OpFoldResult headSize,
                                     OpFoldResult seqSize,
                                     OpFoldResult lastSize, OpBuilder &b,
                                     SmallVectorImpl<OpFoldResult> &offsets,
                                     SmallVectorImpl<OpFoldResult> &sizes) {
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  if (layout == Layout::BHSD) {
    offsets.assign({batch, head, seq, zero});
    sizes.assign({one, headSize, seqSize, lastSize});
  } else {
    offsets.assign({batch, seq, head, zero});
    sizes.assign({one, seqSize, headSize, lastSize});
  }
}

Value AttentionTiler::queryTile(Value batch, Value head0, Value q0,
                                Value rows) {
  SmallVector<OpFoldResult> offsets, sizes;
  int64_t d = op.getHeadDim();
  layoutSlice(op.getLayout(), batch, head0, q0, b.getIndexAttr(group),
              getAsOpFoldResult(rows), b.getIndexAttr(d), b, offsets, sizes);
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  // Drop the unit batch dimension: [G, rows, D] or [rows, G, D].
  int64_t rowsStatic = getConstantIntValue(rows).value_or(ShapedType::kDynamic);
  SmallVector<int64_t> sliceShape =
      op.getLayout() == Layout::BHSD
          ? SmallVector<int64_t>{group, rowsStatic, d}
          : SmallVector<int64_t>{rowsStatic, group, d};
  auto sliceType = RankedTensorType::get(sliceShape, elementType);
  Value slice = tensor::ExtractSliceOp::create(b, loc, sliceType, op.getQuery(),
                                               offsets, sizes, strides);
  Attribute zero = b.getZeroAttr(elementType);
  if (op.getLayout() == Layout::BHSD)
    return padTo(slice, {group, opts.blockM, d}, zero);
  Value padded = padTo(slice, {opts.blockM, group, d}, zero);
  Value init = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{group, opts.blockM, d}, elementType);
  return linalg::TransposeOp::create(b, loc, padded, init,
                                     ArrayRef<int64_t>{1, 0, 2})
      .getResult()[0];
}

Value AttentionTiler::kvTile(Value source, Value batch, Value kvHead,
                             Value k0) {
  int64_t width = cast<RankedTensorType>(source.getType()).getDimSize(3);
  auto tileType = RankedTensorType::get({opts.blockN, width}, elementType);
  return KVTileOp::create(b, loc, tileType, source, batch, kvHead, k0,
                          op.getLayoutAttr());
}

Value mlir::attn::tiling::scoreOperandTile(
    OpBuilder &b, Location loc, Value operand, ArrayRef<int64_t> scoreShape,
    int64_t group, int64_t blockM, int64_t blockN, Value batch, Value head0,
    Value q0, Value rows, Value k0, Value keys) {
  IndexMath m(b, loc, b.getIndexType());
  auto type = cast<RankedTensorType>(operand.getType());
  // The batch is never a broadcast target: a dynamic extent is not one.
  SmallVector<int64_t> full = {ShapedType::kDynamic, scoreShape[1],
                               scoreShape[2], scoreShape[3]};
  SmallVector<Value> starts = {batch, head0, q0, k0};
  SmallVector<Value> extents = {m.c(1), m.c(group), rows, keys};
  SmallVector<OpFoldResult> offsets, sizes;
  SmallVector<int64_t> sliceShape, paddedShape;
  SmallVector<AffineExpr> readExprs;
  SmallVector<int64_t> tileShape = {group, blockM, blockN};
  for (int64_t axis = 0; axis < 4; ++axis) {
    // A static extent of 1 against a larger extent is a broadcast.
    bool broadcast = type.getDimSize(axis) == 1 && full[axis] != 1;
    offsets.push_back(broadcast ? b.getIndexAttr(0)
                                : getAsOpFoldResult(starts[axis]));
    sizes.push_back(broadcast ? b.getIndexAttr(1)
                              : getAsOpFoldResult(extents[axis]));
    if (axis == 0)
      continue; // the batch dimension is dropped
    std::optional<int64_t> size = getConstantIntValue(sizes.back());
    sliceShape.push_back(size.value_or(ShapedType::kDynamic));
    paddedShape.push_back(broadcast ? 1 : tileShape[axis - 1]);
    readExprs.push_back(broadcast ? b.getAffineConstantExpr(0)
                                  : b.getAffineDimExpr(axis - 1));
  }
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  Type elt = type.getElementType();
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(sliceShape, elt), operand, offsets, sizes,
      strides);
  // Padded keys are masked by position, so the pad value never matters.
  Value padded = slice;
  if (ArrayRef<int64_t>(sliceShape) != ArrayRef<int64_t>(paddedShape)) {
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elt));
    padded = tensor::createPadHighOp(RankedTensorType::get(paddedShape, elt),
                                     slice, zero, /*nofold=*/false, loc, b);
  }
  if (ArrayRef<int64_t>(paddedShape) == ArrayRef<int64_t>(tileShape))
    return padded;
  Value init = tensor::EmptyOp::create(b, loc, tileShape, elt);
  AffineMap readMap = AffineMap::get(3, 0, readExprs, b.getContext());
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, b.getContext());
  SmallVector<utils::IteratorType> iterators(3, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, init.getType(), padded, init,
             ArrayRef<AffineMap>{readMap, id}, iterators,
             [](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, args[0]);
             })
      .getResult(0);
}

Value AttentionTiler::scoreOperandTile(Value operand, Value batch, Value head0,
                                       Value q0, Value rows, Value k0,
                                       Value keys) {
  return tiling::scoreOperandTile(
      b, loc, operand,
      {ShapedType::kDynamic, op.getNumQueryHeads(), op.getQueryLength(),
       op.getKeyLength()},
      group, opts.blockM, opts.blockN, batch, head0, q0, rows, k0, keys);
}

LogicalResult mlir::attn::tiling::verifyTileableElementType(Operation *op,
                                                          Type elementType) {
  if (!elementType.isF64())
    return success();
  return op->emitOpError()
         << "expected f16, bf16 or f32 operands to tile, got " << elementType
         << " (f64 is lowered whole by convert-attn-to-linalg: run without "
            "the tiling passes)";
}

KVRange mlir::attn::tiling::computeKVRange(
    IndexMath &m, const KeyVisibility &visibility, int64_t blockN, bool skip,
    Value queryLen, Value keyLen, Value q0, Value rows, Value splitIndex,
    int64_t numSplits) {
  // Rows q0 .. q0 + rows - 1 and the keys the op's visibility gives them.
  Value first = q0;
  Value last = m.sub(m.add(q0, rows), m.c(1));
  int64_t n = blockN;
  KeyInterval<Value> visible = {m.c(0), keyLen};
  if (skip)
    visible = visibility.visibleKeys(m, first, last, queryLen, keyLen);
  // Loops start on block boundaries; the interior (whole blocks that every
  // row sees entirely) stays inside [begin, end) and is empty when no block
  // qualifies. Only a window bounds keys from below, so only then can the
  // interior start after `begin`.
  Value begin = m.alignDown(visible.begin, n);
  Value end = m.max(visible.end, begin);
  if (splitIndex && numSplits > 1) {
    // Whole blocks per split, so that the splits' block grids coincide.
    Value share =
        m.mul(m.ceilDiv(m.ceilDiv(m.sub(end, begin), n), numSplits), m.c(n));
    Value splitBegin = m.min(m.add(begin, m.mul(splitIndex, share)), end);
    end = m.min(m.add(splitBegin, share), end);
    begin = splitBegin;
  }
  if (!skip)
    return {begin, end, begin, begin};
  KeyInterval<Value> full =
      visibility.keysSeenByAll(m, first, last, queryLen, keyLen);
  Value interiorBegin =
      visibility.left ? m.min(m.max(m.alignUp(full.begin, n), begin), end)
                      : begin;
  Value interiorEnd =
      m.max(m.min(m.alignDown(full.end, n), end), interiorBegin);
  return {begin, end, interiorBegin, interiorEnd};
}

KVRange AttentionTiler::kvRange(Value q0, Value rows, Value splitIndex) {
  return computeKVRange(m, op.getKeyVisibility(), opts.blockN,
                        opts.skipMaskedBlocks, queryLen, keyLen, q0, rows,
                        splitIndex, opts.numSplits);
}

std::pair<Value, Value>
AttentionTiler::kvLoop(Value begin, Value end, bool interior, Value out,
                       Value lse, Value qTile, Value batch, Value head0,
                       Value kvHead, Value q0, Value rows) {
  // An empty range by construction (the same value) needs no loop.
  if (begin == end)
    return {out, lse};
  auto loop = scf::ForOp::create(
      b, loc, begin, end, m.c(opts.blockN), ValueRange{out, lse},
      [&](OpBuilder &nested, Location l, Value k0, ValueRange state) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nested.getInsertionBlock(),
                            nested.getInsertionPoint());
        // A varlen sequence's keys are rows keyStart + k0 of the packed
        // batch 0; the block op sees positions within the sequence.
        Value kvBatch = keyStart ? m.c(0) : batch;
        Value kvRow =
            keyStart ? arith::AddIOp::create(b, l, keyStart, k0).getResult()
                     : k0;
        Value kTile = kvTile(op.getKey(), kvBatch, kvHead, kvRow);
        Value vTile = kvTile(op.getValue(), kvBatch, kvHead, kvRow);
        Value bias, mask;
        Value keys;
        if (op.getBias() || op.getMask())
          keys = tileExtent(keyExtent, k0, opts.blockN);
        if (op.getBias())
          bias =
              scoreOperandTile(op.getBias(), batch, head0, q0, rows, k0, keys);
        if (op.getMask())
          mask =
              scoreOperandTile(op.getMask(), batch, head0, q0, rows, k0, keys);
        Type f32 = b.getF32Type();
        int64_t dv = op.getValueHeadDim();
        // The tile ops name heads globally: a shard's local head0 is the
        // global head0 + head_offset (for ALiBi and the modifiers).
        Value globalHead0 = head0;
        if (int64_t offset = op.getGlobalHeadOffset())
          globalHead0 = m.add(head0, m.c(offset));
        auto block = BlockAttentionOp::create(
            b, l, RankedTensorType::get({group, opts.blockM, dv}, f32),
            RankedTensorType::get({group, opts.blockM}, f32), qTile, kTile,
            vTile, bias, mask, batch, globalHead0, q0, k0, queryLen, keyLen,
            b.getF64FloatAttr(op.getEffectiveScale()), op.getMaskKindAttr(),
            op.getWindowAttr(), op.getSoftcapAttr(), op.getAlibiSlopesAttr(),
            interior ? b.getUnitAttr() : UnitAttr());
        IRMapping mapping;
        for (auto [from, to] : llvm::zip(op->getRegions(), block->getRegions()))
          from.cloneInto(&to, mapping);
        auto merged =
            CombineOp::create(b, l, state[0].getType(), state[1].getType(),
                              ValueRange{state[0], block.getOutput()},
                              ValueRange{state[1], block.getLse()});
        scf::YieldOp::create(b, l, merged->getResults());
      });
  return {loop.getResult(0), loop.getResult(1)};
}

/// The attention sinks of `rowSizes` rows (heads on axis `headAxis`, from
/// global head `firstHead`) as a partial result over no key: output 0
/// [rows..., Dv], LSE the sink. One more attn.combine operand merges it
/// exactly, so the sink enters once per row, after all its keys.
static std::pair<Value, Value> sinkPartial(OpBuilder &b, Location loc,
                                           Value sinks, OpFoldResult firstHead,
                                           ArrayRef<OpFoldResult> rowSizes,
                                           int64_t headAxis, int64_t dv) {
  Type f32 = b.getF32Type();
  SmallVector<OpFoldResult> outSizes(rowSizes);
  outSizes.push_back(b.getIndexAttr(dv));
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value out = linalg::FillOp::create(
                  b, loc, zero, tensor::EmptyOp::create(b, loc, outSizes, f32)
                                    .getResult())
                  .getResult(0);
  return {out,
          buildSinkRows(b, loc, sinks, firstHead, rowSizes, headAxis, f32)};
}

Value AttentionTiler::outputTile(Value tile) {
  Type outElt = op.getOutputType().getElementType();
  int64_t dv = op.getValueHeadDim();
  bool bshd = op.getLayout() == Layout::BSHD;
  SmallVector<int64_t> shape =
      bshd ? SmallVector<int64_t>{opts.blockM, group, dv}
           : SmallVector<int64_t>{group, opts.blockM, dv};
  MLIRContext *ctx = b.getContext();
  AffineExpr g, i, c;
  bindDims(ctx, g, i, c);
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, ctx);
  AffineMap outMap = bshd ? AffineMap::get(3, 0, {i, g, c}, ctx) : id;
  Value init = tensor::EmptyOp::create(b, loc, shape, outElt);
  return truncateInto(b, loc, tile, init, outMap);
}

/// Largest block size and split count attn-tile accepts: tiles are
/// allocated whole ([G, block-m, block-n] f32 scores per program), and the
/// splits are merged by one attn.combine with an operand per split.
static constexpr int64_t kMaxTileBlock = 1 << 16;
static constexpr int64_t kMaxTileSplits = 1 << 10;

LogicalResult AttentionTiler::resolveOptions() {
  const std::tuple<StringRef, int64_t, int64_t> ranges[] = {
      {"block-m", opts.blockM, kMaxTileBlock},
      {"block-n", opts.blockN, kMaxTileBlock},
      {"num-splits", opts.numSplits, kMaxTileSplits},
  };
  for (auto [name, value, max] : ranges)
    if (value < 1 || value > max)
      return op.emitOpError() << "expected attn-tile option " << name
                              << " in [1, " << max << "], got " << value;
  // Work bounded by what was asked for: a block is at most the power of two
  // that covers a static length (anything larger is padding only; a power
  // of two keeps the padded tile shapes a small one would have), and splits
  // past the KV blocks would be empty programs.
  int64_t seqAxis = op.getSeqAxis();
  int64_t lq = op.getQueryType().getDimSize(seqAxis);
  int64_t lk = op.getKeyType().getDimSize(seqAxis);
  auto cover = [](int64_t length) -> int64_t {
    return llvm::PowerOf2Ceil(std::max<int64_t>(length, 1));
  };
  if (!ShapedType::isDynamic(lq))
    opts.blockM = std::min(opts.blockM, cover(lq));
  if (!ShapedType::isDynamic(lk)) {
    opts.blockN = std::min(opts.blockN, cover(lk));
    opts.numSplits = std::min(
        opts.numSplits, std::max<int64_t>(1, llvm::divideCeil(lk, opts.blockN)));
  }
  return success();
}

FailureOr<SmallVector<Value>> AttentionTiler::tile() {
  if (failed(resolveOptions()))
    return failure();
  int64_t hq = op.getNumQueryHeads();
  headRatio = op.getHeadGroupSize();
  group = opts.packGqa ? headRatio : 1;
  elementType = op.getQueryType().getElementType();
  int64_t seqAxis = op.getSeqAxis();
  Type f32 = b.getF32Type();
  int64_t dv = op.getValueHeadDim();
  int64_t splits = opts.numSplits;

  Value batchSize = b.createOrFold<tensor::DimOp>(loc, op.getQuery(), 0);
  queryLen = b.createOrFold<tensor::DimOp>(loc, op.getQuery(), seqAxis);
  keyExtent = b.createOrFold<tensor::DimOp>(loc, op.getKey(), seqAxis);
  keyLen = keyExtent;
  // Varlen: programs over (sequence, head group, query block) with query
  // blocks enough for the packed total; those past their sequence's rows
  // are empty.
  Value totalQ = queryLen, totalK = keyExtent;
  Value numPrograms0 = batchSize;
  if (op.isVarlen())
    numPrograms0 = m.sub(
        b.createOrFold<tensor::DimOp>(loc, op.getCuSeqlensQ(), 0), m.c(1));
  Value numQueryBlocks = m.ceilDiv(queryLen, opts.blockM);

  // Outputs of the programs: the final ones when there is one split, f32
  // BHSD partials [S, B, Hq, Lq, (Dv)] to be combined otherwise.
  RankedTensorType outType = op.getOutputType();
  SmallVector<Value> dynOut;
  for (int64_t axis = 0; axis < 4; ++axis)
    if (outType.isDynamicDim(axis))
      dynOut.push_back(axis == 0 ? batchSize : queryLen);
  SmallVector<OpFoldResult> bhl = {getAsOpFoldResult(batchSize),
                                   b.getIndexAttr(hq),
                                   getAsOpFoldResult(queryLen)};
  bool needLse = op.getLse() || splits > 1;
  SmallVector<Value> sharedOuts;
  if (splits == 1) {
    sharedOuts.push_back(tensor::EmptyOp::create(
        b, loc, outType.getShape(), outType.getElementType(), dynOut));
    if (needLse)
      sharedOuts.push_back(tensor::EmptyOp::create(b, loc, bhl, f32));
  } else {
    SmallVector<OpFoldResult> partLse = {b.getIndexAttr(splits)};
    partLse.append(bhl);
    SmallVector<OpFoldResult> partOut(partLse);
    partOut.push_back(b.getIndexAttr(dv));
    sharedOuts.push_back(tensor::EmptyOp::create(b, loc, partOut, f32));
    sharedOuts.push_back(tensor::EmptyOp::create(b, loc, partLse, f32));
  }

  SmallVector<OpFoldResult> ubs = {getAsOpFoldResult(numPrograms0),
                                   b.getIndexAttr(hq / group),
                                   getAsOpFoldResult(numQueryBlocks)};
  if (splits > 1)
    ubs.push_back(b.getIndexAttr(splits));
  auto forall =
      scf::ForallOp::create(b, loc, ubs, sharedOuts, /*mapping=*/std::nullopt);
  // What later passes recorded about the op (a kernel plan) stays with its
  // programs.
  for (NamedAttribute attr : op->getDiscardableAttrs())
    forall->setDiscardableAttr(attr.getName(), attr.getValue());
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    SmallVector<Value> ivs = forall.getInductionVars();
    Value batch = ivs[0];
    // A sequence's own length bounds its KV loop: blocks past it are never
    // visited, and the block ops mask the keys past it.
    // Clamped to [0, Lk] so that a bad length never slices out of bounds.
    if (Value lengths = op.getKeyLengths())
      keyLen =
          m.max(m.c(0),
                m.min(keyExtent,
                      arith::IndexCastOp::create(
                          b, loc, b.getIndexType(),
                          tensor::ExtractOp::create(b, loc, lengths, batch))));
    // Varlen: sequence `batch`'s rows and lengths (the one definition,
    // Varlen.h), its programs' lengths those of the sequence.
    Value dataBatch = batch;
    if (op.isVarlen()) {
      VarlenSequence seq = buildVarlenSequence(
          b, loc, op.getCuSeqlensQ(), op.getCuSeqlensK(), batch, totalQ,
          totalK, op.getKeyLengths());
      queryStart = seq.queryStart;
      keyStart = seq.keyStart;
      queryLen = seq.queryLength;
      keyLen = seq.keyLength;
      dataBatch = m.c(0);
    }
    Value head0 = m.mul(ivs[1], m.c(group));
    Value kvHead = b.createOrFold<arith::DivSIOp>(loc, head0, m.c(headRatio));
    Value q0 = m.mul(ivs[2], m.c(opts.blockM));
    Value rows = tileExtent(queryLen, q0, opts.blockM);
    // The packed row of the program's first query row.
    Value qRow0 = q0;
    if (queryStart) {
      rows = m.max(rows, m.c(0));
      qRow0 = arith::AddIOp::create(b, loc, queryStart, q0);
    }
    Value qTile = queryTile(dataBatch, head0, qRow0, rows);
    KVRange range = kvRange(q0, rows, splits > 1 ? ivs[3] : Value());
    if (queryStart) {
      // A block past its sequence's rows visits no key.
      Value live = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                         rows, m.c(0));
      for (Value *bound :
           {&range.end, &range.interiorBegin, &range.interiorEnd})
        *bound = arith::SelectOp::create(b, loc, live, *bound, range.begin);
    }
    Value out = fill({group, opts.blockM, dv}, f32, 0.0);
    Value lse = fill({group, opts.blockM}, f32,
                     -std::numeric_limits<double>::infinity());
    // Boundary blocks, interior blocks, boundary blocks; the state flows
    // from one loop into the next.
    std::tie(out, lse) = kvLoop(range.begin, range.interiorBegin, false, out,
                                lse, qTile, batch, head0, kvHead, q0, rows);
    std::tie(out, lse) =
        kvLoop(range.interiorBegin, range.interiorEnd, true, out, lse, qTile,
               batch, head0, kvHead, q0, rows);
    std::tie(out, lse) = kvLoop(range.interiorEnd, range.end, false, out, lse,
                                qTile, batch, head0, kvHead, q0, rows);
    // With several splits the sink joins their merge, once.
    if (Value sinks = op.getSinks(); sinks && splits == 1) {
      auto [sinkOut, sinkLse] = sinkPartial(
          b, loc, sinks,
          getAsOpFoldResult(m.add(head0, m.c(op.getGlobalHeadOffset()))),
          {b.getIndexAttr(group), b.getIndexAttr(opts.blockM)}, 0, dv);
      auto merged = CombineOp::create(b, loc, out.getType(), lse.getType(),
                                      ValueRange{out, sinkOut},
                                      ValueRange{lse, sinkLse});
      out = merged.getOutput();
      lse = merged.getLse();
    }

    // Write back the tile's valid rows.
    OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
    OpFoldResult rowsOfr = getAsOpFoldResult(rows);
    std::optional<int64_t> rowsStatic = getConstantIntValue(rows);
    int64_t rowsDim = rowsStatic.value_or(ShapedType::kDynamic);
    auto strides = [&](size_t n) { return SmallVector<OpFoldResult>(n, one); };
    SmallVector<std::tuple<Value, Value, SmallVector<OpFoldResult>,
                           SmallVector<OpFoldResult>>>
        writes;
    if (splits == 1) {
      Value tile = outputTile(out);
      bool bshd = op.getLayout() == Layout::BSHD;
      SmallVector<int64_t> validShape =
          bshd ? SmallVector<int64_t>{rowsDim, group, dv}
               : SmallVector<int64_t>{group, rowsDim, dv};
      SmallVector<OpFoldResult> validSizes =
          bshd ? SmallVector<OpFoldResult>{rowsOfr, b.getIndexAttr(group),
                                           b.getIndexAttr(dv)}
               : SmallVector<OpFoldResult>{b.getIndexAttr(group), rowsOfr,
                                           b.getIndexAttr(dv)};
      Value valid = tensor::ExtractSliceOp::create(
          b, loc, RankedTensorType::get(validShape, outType.getElementType()),
          tile, SmallVector<OpFoldResult>(3, zero), validSizes, strides(3));
      SmallVector<OpFoldResult> offsets, sizes;
      layoutSlice(op.getLayout(), dataBatch, head0, qRow0,
                  b.getIndexAttr(group), rowsOfr, b.getIndexAttr(dv), b,
                  offsets, sizes);
      writes.push_back({valid, forall.getRegionIterArgs()[0], offsets, sizes});
    } else {
      Value valid = tensor::ExtractSliceOp::create(
          b, loc, RankedTensorType::get({group, rowsDim, dv}, f32), out,
          SmallVector<OpFoldResult>(3, zero),
          {b.getIndexAttr(group), rowsOfr, b.getIndexAttr(dv)}, strides(3));
      // Partials [S, B, Hq, Lq, Dv] at the program's rows (varlen: its
      // packed rows, which the merge then combines row by row).
      writes.push_back(
          {valid,
           forall.getRegionIterArgs()[0],
           {ivs[3], dataBatch, head0, qRow0, zero},
           {one, one, b.getIndexAttr(group), rowsOfr, b.getIndexAttr(dv)}});
    }
    if (needLse) {
      Value valid = tensor::ExtractSliceOp::create(
          b, loc, RankedTensorType::get({group, rowsDim}, f32), lse,
          {zero, zero}, {b.getIndexAttr(group), rowsOfr}, strides(2));
      SmallVector<OpFoldResult> offsets = {dataBatch, head0, qRow0};
      SmallVector<OpFoldResult> sizes = {one, b.getIndexAttr(group), rowsOfr};
      if (splits > 1) {
        offsets.insert(offsets.begin(), ivs[3]);
        sizes.insert(sizes.begin(), one);
      }
      writes.push_back({valid, forall.getRegionIterArgs()[1], offsets, sizes});
    }
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    for (auto &[source, dest, offsets, sizes] : writes)
      tensor::ParallelInsertSliceOp::create(b, loc, source, dest, offsets,
                                            sizes, strides(offsets.size()));
  }

  if (splits == 1) {
    SmallVector<Value> results = {forall.getResult(0)};
    if (op.getLse())
      results.push_back(forall.getResult(1));
    return results;
  }

  // Merge the splits by their LSE, then write the output's layout and type.
  SmallVector<Value> partOuts, partLses;
  SmallVector<OpFoldResult> bhld = bhl;
  bhld.push_back(b.getIndexAttr(dv));
  auto bhlType = [&](ArrayRef<OpFoldResult> sizes) {
    SmallVector<int64_t> shape;
    for (OpFoldResult s : sizes)
      shape.push_back(getConstantIntValue(s).value_or(ShapedType::kDynamic));
    return RankedTensorType::get(shape, f32);
  };
  for (int64_t s = 0; s < splits; ++s) {
    auto slice = [&](Value source, ArrayRef<OpFoldResult> sizes) {
      SmallVector<OpFoldResult> offsets(sizes.size() + 1, b.getIndexAttr(0));
      offsets[0] = b.getIndexAttr(s);
      SmallVector<OpFoldResult> fullSizes = {b.getIndexAttr(1)};
      fullSizes.append(sizes.begin(), sizes.end());
      return tensor::ExtractSliceOp::create(
                 b, loc, bhlType(sizes), source, offsets, fullSizes,
                 SmallVector<OpFoldResult>(fullSizes.size(), b.getIndexAttr(1)))
          .getResult();
    };
    partOuts.push_back(slice(forall.getResult(0), bhld));
    partLses.push_back(slice(forall.getResult(1), bhl));
  }
  if (Value sinks = op.getSinks()) {
    auto [sinkOut, sinkLse] =
        sinkPartial(b, loc, sinks, b.getIndexAttr(op.getGlobalHeadOffset()),
                    bhl, 1, dv);
    partOuts.push_back(sinkOut);
    partLses.push_back(sinkLse);
  }
  auto combined = CombineOp::create(b, loc, bhlType(bhld), bhlType(bhl),
                                    partOuts, partLses);
  // Layout and element type of the final output.
  MLIRContext *ctx = b.getContext();
  AffineExpr bb, h, i, c;
  bindDims(ctx, bb, h, i, c);
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap outMap = op.getLayout() == Layout::BHSD
                         ? id
                         : AffineMap::get(4, 0, {bb, i, h, c}, ctx);
  Value init = tensor::EmptyOp::create(b, loc, outType.getShape(),
                                       outType.getElementType(), dynOut);
  SmallVector<Value> results = {
      truncateInto(b, loc, combined.getOutput(), init, outMap)};
  if (op.getLse())
    results.push_back(combined.getLse());
  return results;
}

FailureOr<SmallVector<Value>>
mlir::attn::tileAttention(RewriterBase &rewriter, AttentionOp op,
                          const AttnTileOptions &opts) {
  if (failed(tiling::verifyTileableElementType(
          op, op.getQueryType().getElementType())))
    return failure();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  // A schedule decided for this op (e.g. by attn-plan-gpu-kernels for its
  // kernel) takes the place of the pass options.
  AttnTileOptions resolved = opts;
  if (auto sizes =
          op->getAttrOfType<TileSizesAttr>(TileSizesAttr::getAttributeName())) {
    resolved.blockM = sizes.getBlockM();
    resolved.blockN = sizes.getBlockN();
    resolved.packGqa = sizes.getPackGqa();
    resolved.numSplits = sizes.getNumSplits();
  }
  // A varlen op is tiled into per-sequence programs (the sequence's rows
  // and lengths read from the offsets). Over caches (decode) the splits'
  // partials sit at the packed rows and merge row by row; packed keys are
  // not split yet.
  if (op.isVarlen() && !op.isVarlenCache() && resolved.numSplits > 1)
    return op.emitOpError("expected num-splits = 1 for a varlen attention "
                          "over packed keys (KV splits: run "
                          "attn-split-varlen first, or use per-sequence "
                          "caches with key_lengths)");
  return AttentionTiler(rewriter, op, resolved).tile();
}

namespace {
struct AttnTilePass : mlir::attn::impl::AttnTileBase<AttnTilePass> {
  using Base::Base;

  AttnTileOptions getOptions() const {
    AttnTileOptions opts;
    opts.blockM = blockM;
    opts.blockN = blockN;
    opts.packGqa = packGqa;
    opts.numSplits = numSplits;
    opts.skipMaskedBlocks = skipMaskedBlocks;
    return opts;
  }

  void runOnOperation() override {
    AttnTileOptions opts = getOptions();
    IRRewriter rewriter(&getContext());
    WalkResult result = getOperation()->walk([&](AttentionOp op) {
      FailureOr<SmallVector<Value>> tiled = tileAttention(rewriter, op, opts);
      if (failed(tiled))
        return WalkResult::interrupt();
      // K and V may be the same view: collect each once.
      llvm::SmallSetVector<Operation *, 2> views;
      for (Value kv : {op.getKey(), op.getValue()})
        if (auto view = kv.getDefiningOp<KVCacheViewInterface>())
          views.insert(view);
      rewriter.replaceOp(op, *tiled);
      // Views whose tiles are now gathered directly are dead.
      for (Operation *view : views)
        if (view->use_empty())
          rewriter.eraseOp(view);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace

LogicalResult mlir::attn::parseAttnTileOptions(
    StringRef text, AttnTileOptions &options,
    function_ref<LogicalResult(const Twine &)> errorHandler) {
  AttnTilePass pass;
  if (failed(pass.initializeOptions(text, errorHandler)))
    return failure();
  options = pass.getOptions();
  return success();
}
