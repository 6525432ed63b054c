//===- KVCacheViews.cpp - KV cache view operations ------------------------===//
//
// Part of attn-mlir. Verifiers and tile/dense builders of the KV cache views
// (attn.kv_tile, attn.paged_view, attn.kv_append): how a kernel or a
// lowering reads rows of a cache it does not own.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "OpVerifiers.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

//===----------------------------------------------------------------------===//
// KV cache views
//===----------------------------------------------------------------------===//

/// The [size, D] tile of a [B, Hkv, L, D] view whose rows start at `start`
/// (clamped to `last`): `read(row, d)` yields one element.
static Value
buildViewTile(OpBuilder &b, Location loc, RankedTensorType viewType,
              Value start, Value last, int64_t size,
              function_ref<Value(OpBuilder &, Location, Value, Value)> read) {
  Value init = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{size, viewType.getDimSize(3)},
      viewType.getElementType());
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{}, init,
             ArrayRef<AffineMap>{
                 AffineMap::getMultiDimIdentityMap(2, b.getContext())},
             iterators,
             [&](OpBuilder &nb, Location l, ValueRange) {
               Value r = linalg::IndexOp::create(nb, l, 0);
               Value d = linalg::IndexOp::create(nb, l, 1);
               Value row = arith::MinUIOp::create(
                   nb, l, arith::AddIOp::create(nb, l, start, r), last);
               linalg::YieldOp::create(nb, l, read(nb, l, row, d));
             })
      .getResult(0);
}

/// The whole [B, Hkv, L, D] view: `read(b, h, l, d)` yields one element.
static Value
buildViewDense(OpBuilder &b, Location loc, RankedTensorType viewType,
               ValueRange dynamicSizes,
               function_ref<Value(OpBuilder &, Location, ValueRange)> read) {
  Value init = tensor::EmptyOp::create(b, loc, viewType.getShape(),
                                       viewType.getElementType(), dynamicSizes);
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, viewType, ValueRange{}, init,
             ArrayRef<AffineMap>{
                 AffineMap::getMultiDimIdentityMap(4, b.getContext())},
             iterators,
             [&](OpBuilder &nb, Location l, ValueRange) {
               SmallVector<Value> idx;
               for (int64_t dim = 0; dim < 4; ++dim)
                 idx.push_back(linalg::IndexOp::create(nb, l, dim));
               linalg::YieldOp::create(nb, l, read(nb, l, idx));
             })
      .getResult(0);
}

//===----------------------------------------------------------------------===//
// PagedViewOp
//===----------------------------------------------------------------------===//

//===----------------------------------------------------------------------===//
// KVTileOp
//===----------------------------------------------------------------------===//

LogicalResult KVTileOp::verify() {
  auto sourceType = cast<RankedTensorType>(getSource().getType());
  auto tileType = cast<RankedTensorType>(getTile().getType());
  if (sourceType.getRank() != 4 || tileType.getRank() != 2)
    return emitOpError() << "expected a 4-D source and an [N, D] tile";
  if (!tileType.hasStaticShape() || tileType.getDimSize(0) < 1)
    return emitOpError() << "expected a static tile of at least one row, got "
                         << tileType;
  if (sourceType.getElementType() != tileType.getElementType())
    return emitOpError() << "expected the tile to have the source's element "
                            "type";
  if (sourceType.getDimSize(3) != tileType.getDimSize(1))
    return emitOpError() << "expected the tile's row width "
                         << tileType.getDimSize(1)
                         << " to equal the source's head dim "
                         << sourceType.getDimSize(3);
  if (KVCacheViewInterface view = getView();
      view && getLayout() != view.getViewLayout())
    return emitOpError() << "expected the tile's layout to be the KV cache "
                            "view's ("
                         << stringifyLayout(view.getViewLayout()) << ")";
  return success();
}

/// Rows `start .. start + rows - 1` of (batch, kvHead) of a plain
/// [B, Hkv, L, D] tensor (bshd: [B, L, Hkv, D]), their first `width`
/// columns, as a [rows, width] tile whose rows past L are zero.
static Value expandTensorTile(OpBuilder &b, Location loc, Value source,
                              Layout layout, Value batch, Value kvHead,
                              Value start, int64_t rows, int64_t width) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  auto tileType =
      RankedTensorType::get({rows, width}, sourceType.getElementType());
  int64_t seqAxis = layout == Layout::BHSD ? 2 : 1;
  // Valid rows: min(N, L - start), a constant only when a static L is a
  // whole number of tiles and the start a constant multiple of N. Any
  // other start may cross L (a varlen tile starts at its sequence's first
  // packed row plus k0; IR may pass any index): rows past L are zero, as
  // the op promises, never read.
  Value length = b.createOrFold<tensor::DimOp>(loc, source, seqAxis);
  std::optional<int64_t> staticLength = getConstantIntValue(length);
  std::optional<int64_t> staticStart = getConstantIntValue(start);
  bool aligned = staticStart && *staticStart % rows == 0;
  OpFoldResult valid = b.getIndexAttr(rows);
  if (!staticLength || *staticLength % rows != 0 || !aligned)
    valid = b.createOrFold<arith::MinSIOp>(
        loc, arith::ConstantIndexOp::create(b, loc, rows),
        b.createOrFold<arith::SubIOp>(loc, length, start));
  OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
  SmallVector<OpFoldResult> offsets = {batch, kvHead, start, zero};
  SmallVector<OpFoldResult> sizes = {one, one, valid, b.getIndexAttr(width)};
  if (seqAxis == 1) {
    std::swap(offsets[1], offsets[2]);
    std::swap(sizes[1], sizes[2]);
  }
  std::optional<int64_t> validStatic = getConstantIntValue(valid);
  auto sliceType = RankedTensorType::get(
      {validStatic.value_or(ShapedType::kDynamic), tileType.getDimSize(1)},
      sourceType.getElementType());
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, sliceType, source, offsets, sizes,
      SmallVector<OpFoldResult>(4, one));
  if (sliceType == tileType)
    return slice;
  Value pad = arith::ConstantOp::create(
      b, loc, b.getZeroAttr(sourceType.getElementType()));
  return tensor::createPadHighOp(tileType, slice, pad, /*nofold=*/false, loc,
                                 b);
}

Value KVTileOp::expand(OpBuilder &b) {
  Location loc = getLoc();
  int64_t rows = getNumRows();
  if (KVCacheViewInterface view = getView())
    return view.buildTile(b, loc, getBatch(), getKvHead(), getStart(), rows);
  auto tileType = cast<RankedTensorType>(getTile().getType());
  return expandTensorTile(b, loc, getSource(), getLayout(), getBatch(),
                          getKvHead(), getStart(), rows,
                          tileType.getDimSize(1));
}

LogicalResult PagedViewOp::verify() {
  auto pagesType = cast<RankedTensorType>(getPages().getType());
  auto tableType = cast<RankedTensorType>(getBlockTable().getType());
  auto viewType = cast<RankedTensorType>(getView().getType());
  if (pagesType.getRank() != 4 || tableType.getRank() != 2 ||
      viewType.getRank() != 4)
    return emitOpError() << "expected pages [num_pages, page_size, Hkv, D], "
                            "a block table [B, max_pages] and a view "
                            "[B, Hkv, L, D] (bshd: [B, L, Hkv, D])";
  ArrayRef<int64_t> pages = pagesType.getShape();
  if (ShapedType::isDynamic(pages[1]) || ShapedType::isDynamic(pages[2]) ||
      ShapedType::isDynamic(pages[3]) || pages[1] <= 0)
    return emitOpError() << "expected static, positive page size, head count "
                            "and head dimension";
  if (ShapedType::isDynamic(tableType.getDimSize(1)))
    return emitOpError() << "expected a static number of pages per sequence";
  if (pagesType.getElementType() != viewType.getElementType())
    return emitOpError() << "expected the view to have the pages' element "
                            "type";
  SmallVector<int64_t> expected = {tableType.getDimSize(0), pages[2],
                                   tableType.getDimSize(1) * pages[1],
                                   pages[3]};
  bool bshd = getLayout() == Layout::BSHD;
  if (bshd)
    std::swap(expected[1], expected[2]);
  if (viewType.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "expected the view to be "
                         << (bshd ? "[B, max_pages * page_size, Hkv, D]"
                                  : "[B, Hkv, max_pages * page_size, D]")
                         << " = "
                         << RankedTensorType::get(expected,
                                                  viewType.getElementType())
                         << ", got " << viewType;
  return success();
}

/// pages[table[batch, pos / P], pos % P, head, d] inside a linalg body.
static Value readPaged(OpBuilder &b, Location loc, PagedViewOp op, Value batch,
                       Value head, Value pos, Value d) {
  Value pageSize = arith::ConstantIndexOp::create(b, loc, op.getPageSize());
  Value slot = arith::DivUIOp::create(b, loc, pos, pageSize);
  Value page = tensor::ExtractOp::create(b, loc, op.getBlockTable(),
                                         ValueRange{batch, slot});
  Value pageIndex = arith::IndexCastOp::create(b, loc, b.getIndexType(), page);
  Value row = arith::RemUIOp::create(b, loc, pos, pageSize);
  return tensor::ExtractOp::create(b, loc, op.getPages(),
                                   ValueRange{pageIndex, row, head, d});
}

Value PagedViewOp::buildTile(OpBuilder &b, Location loc, Value batch,
                             Value kvHead, Value start, int64_t size) {
  auto viewType = cast<RankedTensorType>(getView().getType());
  int64_t seqAxis = getLayout() == Layout::BSHD ? 1 : 2;
  Value last =
      arith::ConstantIndexOp::create(b, loc, viewType.getDimSize(seqAxis) - 1);
  return buildViewTile(b, loc, viewType, start, last, size,
                       [&](OpBuilder &nb, Location l, Value row, Value d) {
                         return readPaged(nb, l, *this, batch, kvHead, row, d);
                       });
}

Value PagedViewOp::buildDense(OpBuilder &b, Location loc) {
  auto viewType = cast<RankedTensorType>(getView().getType());
  SmallVector<Value> dynamic;
  if (viewType.isDynamicDim(0))
    dynamic.push_back(tensor::DimOp::create(b, loc, getBlockTable(), 0));
  bool bshd = getLayout() == Layout::BSHD;
  return buildViewDense(b, loc, viewType, dynamic,
                        [&](OpBuilder &nb, Location l, ValueRange idx) {
                          Value head = bshd ? idx[2] : idx[1];
                          Value pos = bshd ? idx[1] : idx[2];
                          return readPaged(nb, l, *this, idx[0], head, pos,
                                           idx[3]);
                        });
}

Layout PagedViewOp::getViewLayout() { return getLayout(); }

SmallVector<Value> PagedViewOp::getStorage() {
  return {getPages(), getBlockTable()};
}

Value PagedViewOp::buildRowOffset(OpBuilder &b, Location loc,
                                  ValueRange storage, Value batch,
                                  Value kvHead, Value row) {
  // ((table[batch, row / P] * P + row % P) * Hkv + kvHead) * D
  ArrayRef<int64_t> pages =
      cast<RankedTensorType>(getPages().getType()).getShape();
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value pageSize = c(pages[1]);
  Value slot = arith::DivUIOp::create(b, loc, row, pageSize);
  Value page = memref::LoadOp::create(b, loc, storage[1],
                                      ValueRange{batch, slot});
  Value pageIndex = arith::IndexCastOp::create(b, loc, b.getIndexType(), page);
  Value token = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, pageIndex, pageSize),
      arith::RemUIOp::create(b, loc, row, pageSize));
  Value headRow = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, token, c(pages[2])), kvHead);
  return arith::MulIOp::create(b, loc, headRow, c(pages[3]));
}

//===----------------------------------------------------------------------===//
// KVAppendOp
//===----------------------------------------------------------------------===//

LogicalResult KVAppendOp::verify() {
  auto tokens = cast<RankedTensorType>(getTokens().getType());
  auto cache = cast<RankedTensorType>(getCache().getType());
  auto positions = cast<RankedTensorType>(getPositions().getType());
  if (tokens.getRank() != 4 || cache.getRank() != 4 || positions.getRank() != 1)
    return emitOpError() << "expected tokens [B, Hkv, T, D], a cache "
                            "[B, Hkv, Lmax, D] and positions [B]";
  if (getResult().getType() != cache)
    return emitOpError() << "expected the result to have the cache's type";
  if (tokens.getElementType() != cache.getElementType())
    return emitOpError() << "expected tokens of the cache's element type";
  for (int64_t axis : {0, 1, 3})
    if (!dimsCompatible(tokens.getDimSize(axis), cache.getDimSize(axis)))
      return emitOpError() << "expected tokens and cache to agree in batch, "
                              "heads and head dimension, got "
                           << tokens << " and " << cache;
  if (!dimsCompatible(positions.getDimSize(0), cache.getDimSize(0)))
    return emitOpError() << "expected one position per sequence";
  return success();
}

/// The element at cache row `l` of (batch, head) after the append: a new
/// token if l - positions[batch] lies in [0, T), the old row otherwise.
static Value readAppended(OpBuilder &b, Location loc, KVAppendOp op,
                          Value batch, Value head, Value l, Value d) {
  Value pos32 = tensor::ExtractOp::create(b, loc, op.getPositions(), batch);
  Value pos = arith::IndexCastOp::create(b, loc, b.getIndexType(), pos32);
  Value t = arith::SubIOp::create(b, loc, l, pos);
  Value numTokens = tensor::DimOp::create(b, loc, op.getTokens(), 2);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  // One unsigned compare tests 0 <= t < T.
  Value isNew =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, t, numTokens);
  // Both branches are evaluated: clamp the token row so it stays in bounds.
  Value safeT = arith::SelectOp::create(b, loc, isNew, t, zero);
  Value fresh = tensor::ExtractOp::create(b, loc, op.getTokens(),
                                          ValueRange{batch, head, safeT, d});
  Value old = tensor::ExtractOp::create(b, loc, op.getCache(),
                                        ValueRange{batch, head, l, d});
  return arith::SelectOp::create(b, loc, isNew, fresh, old);
}

Value KVAppendOp::buildTile(OpBuilder &b, Location loc, Value batch,
                            Value kvHead, Value start, int64_t size) {
  auto cacheType = cast<RankedTensorType>(getCache().getType());
  Value length = tensor::DimOp::create(b, loc, getCache(), 2);
  Value last = arith::SubIOp::create(b, loc, length,
                                     arith::ConstantIndexOp::create(b, loc, 1));
  return buildViewTile(b, loc, cacheType, start, last, size,
                       [&](OpBuilder &nb, Location l, Value row, Value d) {
                         return readAppended(nb, l, *this, batch, kvHead, row,
                                             d);
                       });
}

SmallVector<Value> KVAppendOp::getStorage() {
  return {getCache(), getTokens(), getPositions()};
}

int64_t KVAppendOp::getNumRowStorages() { return 2; }

/// Row `row` of (batch, head) minus the sequence's position, and whether it
/// is one of the new tokens (0 <= row - position < T, one unsigned compare).
static std::pair<Value, Value> appendedRow(OpBuilder &b, Location loc,
                                           KVAppendOp op, ValueRange storage,
                                           Value batch, Value row) {
  Value pos32 = memref::LoadOp::create(b, loc, storage[2], batch);
  Value pos = arith::IndexCastOp::create(b, loc, b.getIndexType(), pos32);
  Value t = arith::SubIOp::create(b, loc, row, pos);
  Value numTokens = arith::ConstantIndexOp::create(
      b, loc, cast<RankedTensorType>(op.getTokens().getType()).getDimSize(2));
  Value isNew =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, t, numTokens);
  return {t, isNew};
}

Value KVAppendOp::buildRowStorageIndex(OpBuilder &b, Location loc,
                                       ValueRange storage, Value batch,
                                       Value kvHead, Value row) {
  Value isNew = appendedRow(b, loc, *this, storage, batch, row).second;
  return arith::SelectOp::create(b, loc, isNew,
                                 arith::ConstantIndexOp::create(b, loc, 1),
                                 arith::ConstantIndexOp::create(b, loc, 0));
}

Value KVAppendOp::buildRowOffset(OpBuilder &b, Location loc,
                                 ValueRange storage, Value batch, Value kvHead,
                                 Value row) {
  // tokens[b, h, row - pos] or cache[b, h, row], both [B, Hkv, *, D].
  auto [t, isNew] = appendedRow(b, loc, *this, storage, batch, row);
  ArrayRef<int64_t> cache =
      cast<RankedTensorType>(getCache().getType()).getShape();
  int64_t numTokens =
      cast<RankedTensorType>(getTokens().getType()).getDimSize(2);
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value headRow = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, batch, c(cache[1])), kvHead);
  Value rows = arith::SelectOp::create(b, loc, isNew, c(numTokens), c(cache[2]));
  Value line = arith::SelectOp::create(b, loc, isNew, t, row);
  Value flat = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, headRow, rows), line);
  return arith::MulIOp::create(b, loc, flat, c(cache[3]));
}

Value KVAppendOp::buildDense(OpBuilder &b, Location loc) {
  auto cacheType = cast<RankedTensorType>(getCache().getType());
  SmallVector<Value> dynamic;
  for (int64_t axis = 0; axis < 4; ++axis)
    if (cacheType.isDynamicDim(axis))
      dynamic.push_back(tensor::DimOp::create(b, loc, getCache(), axis));
  return buildViewDense(b, loc, cacheType, dynamic,
                        [&](OpBuilder &nb, Location l, ValueRange idx) {
                          return readAppended(nb, l, *this, idx[0], idx[1],
                                              idx[2], idx[3]);
                        });
}

//===----------------------------------------------------------------------===//
// KVPrefixOp
//===----------------------------------------------------------------------===//

LogicalResult KVPrefixOp::verify() {
  auto sourceType = cast<RankedTensorType>(getSource().getType());
  auto viewType = cast<RankedTensorType>(getView().getType());
  if (sourceType.getRank() != 4 || viewType.getRank() != 4)
    return emitOpError() << "expected a 4-D source and view";
  if (sourceType.getElementType() != viewType.getElementType())
    return emitOpError() << "expected the view to have the source's element "
                            "type";
  for (int64_t axis = 0; axis < 3; ++axis)
    if (sourceType.getDimSize(axis) != viewType.getDimSize(axis))
      return emitOpError() << "expected the view to have the source's "
                              "batch, head and sequence dims, got "
                           << viewType << " of " << sourceType;
  int64_t width = getSourceRowWidth(), columns = getNumColumns();
  if (ShapedType::isDynamic(width) || ShapedType::isDynamic(columns) ||
      columns < 1 || columns > width)
    return emitOpError() << "expected static head dims with 1 <= Dv <= D, "
                            "got Dv = "
                         << columns << " of D = " << width;
  if (KVCacheViewInterface source = getSourceView();
      source && source.getViewLayout() != getLayout())
    return emitOpError() << "expected the layout of the source view ("
                         << stringifyLayout(source.getViewLayout()) << ")";
  return success();
}

/// The first `columns` columns of a [rows, D] tile.
static Value leadingColumns(OpBuilder &b, Location loc, Value tile,
                            int64_t columns) {
  auto type = cast<RankedTensorType>(tile.getType());
  auto sliceType = RankedTensorType::get({type.getDimSize(0), columns},
                                         type.getElementType());
  return tensor::ExtractSliceOp::create(
      b, loc, sliceType, tile, ArrayRef<OpFoldResult>{b.getIndexAttr(0),
                                                      b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(type.getDimSize(0)),
                             b.getIndexAttr(columns)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

Value KVPrefixOp::buildTile(OpBuilder &b, Location loc, Value batch,
                            Value kvHead, Value start, int64_t size) {
  if (KVCacheViewInterface source = getSourceView())
    return leadingColumns(
        b, loc, source.buildTile(b, loc, batch, kvHead, start, size),
        getNumColumns());
  return expandTensorTile(b, loc, getSource(), getLayout(), batch, kvHead,
                          start, size, getNumColumns());
}

Value KVPrefixOp::buildDense(OpBuilder &b, Location loc) {
  Value source = getSource();
  if (KVCacheViewInterface view = getSourceView())
    source = view.buildDense(b, loc);
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, source);
  sizes[3] = b.getIndexAttr(getNumColumns());
  return tensor::ExtractSliceOp::create(
      b, loc, cast<RankedTensorType>(getView().getType()), source,
      SmallVector<OpFoldResult>(4, b.getIndexAttr(0)), sizes,
      SmallVector<OpFoldResult>(4, b.getIndexAttr(1)));
}

Layout KVPrefixOp::getViewLayout() { return getLayout(); }

SmallVector<Value> KVPrefixOp::getStorage() {
  if (KVCacheViewInterface source = getSourceView())
    return source.getStorage();
  return {getSource()};
}

int64_t KVPrefixOp::getNumRowStorages() {
  if (KVCacheViewInterface source = getSourceView())
    return source.getNumRowStorages();
  return 1;
}

Value KVPrefixOp::buildRowStorageIndex(OpBuilder &b, Location loc,
                                       ValueRange storage, Value batch,
                                       Value kvHead, Value row) {
  if (KVCacheViewInterface source = getSourceView())
    return source.buildRowStorageIndex(b, loc, storage, batch, kvHead, row);
  return {};
}

Value KVPrefixOp::buildRowOffset(OpBuilder &b, Location loc,
                                 ValueRange storage, Value batch, Value kvHead,
                                 Value row) {
  // Column 0 of a row of the view is column 0 of the source's row.
  if (KVCacheViewInterface source = getSourceView())
    return source.buildRowOffset(b, loc, storage, batch, kvHead, row);
  // A plain source: bhsd ((b * Hkv + h) * L + row) * D, bshd
  // ((b * L + row) * Hkv + h) * D, the extents read off the kernel's memref.
  bool bshd = getLayout() == Layout::BSHD;
  Value heads = memref::DimOp::create(b, loc, storage[0], bshd ? 2 : 1);
  Value rows = memref::DimOp::create(b, loc, storage[0], bshd ? 1 : 2);
  Value width = memref::DimOp::create(b, loc, storage[0], 3);
  auto mulAdd = [&](Value x, Value y, Value z) -> Value {
    return arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, x, y),
                                 z);
  };
  Value line = bshd ? mulAdd(mulAdd(batch, rows, row), heads, kvHead)
                    : mulAdd(mulAdd(batch, heads, kvHead), rows, row);
  return arith::MulIOp::create(b, loc, line, width);
}
