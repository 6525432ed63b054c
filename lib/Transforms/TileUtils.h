//===- TileUtils.h - helpers shared by the tiling passes --------*- C++ -*-===//
//
// Part of attn-mlir. Internal to lib/Transforms: index arithmetic, the mask
// geometry of a query block (which KV blocks it visits and which of those
// are interior) and layout slicing, shared by attn-tile and
// attn-tile-backward so that the mask geometry is written once.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_TRANSFORMS_TILEUTILS_H
#define ATTN_LIB_TRANSFORMS_TILEUTILS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/KeyVisibility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::attn::tiling {

/// Index arithmetic that folds to constants whenever the operands are (the
/// one KeyVisibility's definitions are written against).
using IndexMath = IntArith;

/// Range of KV positions [begin, end) one query block loops over, and the
/// sub-range [interiorBegin, interiorEnd) of whole blocks that need no mask.
struct KVRange {
  Value begin, end, interiorBegin, interiorEnd;
};

/// The KV range of rows [q0, q0 + rows) under `visibility` (the op's): KV blocks of
/// `blockN` keys in [begin, end) are visited (all of [0, keyLen) without
/// `skip`), those in [interiorBegin, interiorEnd) see no masked key. With
/// `numSplits` > 1, split `splitIndex` takes an equal share of the visited
/// blocks ([begin, end) cut into whole blocks; the last shares may be
/// shorter or empty), so splits balance whatever the mask leaves.
KVRange computeKVRange(IndexMath &m, const KeyVisibility &visibility,
                       int64_t blockN, bool skip, Value queryLen, Value keyLen,
                       Value q0, Value rows, Value splitIndex = Value(),
                       int64_t numSplits = 1);

/// Offsets and sizes of a [1, rows, heads, D]-style slice in `layout`:
/// `head`/`seq` name the positions of the head and sequence axes.
void layoutSlice(Layout layout, OpFoldResult batch, OpFoldResult head,
                 OpFoldResult seq, OpFoldResult headSize, OpFoldResult seqSize,
                 OpFoldResult lastSize, OpBuilder &b,
                 SmallVectorImpl<OpFoldResult> &offsets,
                 SmallVectorImpl<OpFoldResult> &sizes);

/// A [G, M, N] tile of a bias/mask operand broadcastable to `scoreShape`
/// ([B, Hq, Lq, Lk]): rows q0.. of heads head0.. against keys k0.., padded
/// with zeros (padded keys are masked by position, so the value never
/// matters) and broadcast along the operand's unit axes.
Value scoreOperandTile(OpBuilder &b, Location loc, Value operand,
                       ArrayRef<int64_t> scoreShape, int64_t group,
                       int64_t blockM, int64_t blockN, Value batch,
                       Value head0, Value q0, Value rows, Value k0,
                       Value keys);

/// Writes the f32 tensor `source` into `init` through `outMap` (a layout
/// permutation), rounded to `init`'s element type.
Value truncateInto(OpBuilder &b, Location loc, Value source, Value init,
                   AffineMap outMap);

/// Refuses an op on f64 operands: the tile-level ops compute in f32 by
/// definition, so f64 (the float64 gradient-check precision) is lowered
/// whole by convert-attn-to-linalg instead, without the tiling passes.
LogicalResult verifyTileableElementType(Operation *op, Type elementType);

} // namespace mlir::attn::tiling

#endif // ATTN_LIB_TRANSFORMS_TILEUTILS_H
