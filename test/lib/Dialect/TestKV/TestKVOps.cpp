//===- TestKVOps.cpp - a foreign KV cache layout for tests ----------------===//
//
// Part of attn-mlir's tests. test_kv.ring_view implements
// KVCacheViewInterface the way a host compiler would for its own cache:
// nothing here is known to the attn dialect or its passes.
//
//===----------------------------------------------------------------------===//

#include "TestKVOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace test_kv;

#include "TestKVDialect.cpp.inc"

void TestKVDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "TestKVOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "TestKVOps.cpp.inc"

//===----------------------------------------------------------------------===//
// RingViewOp
//===----------------------------------------------------------------------===//

LogicalResult RingViewOp::verify() {
  auto ringType = cast<RankedTensorType>(getRing().getType());
  auto startType = cast<RankedTensorType>(getStart().getType());
  auto viewType = cast<RankedTensorType>(getView().getType());
  if (ringType.getRank() != 4 || startType.getRank() != 1)
    return emitOpError() << "expected a ring [B, Hkv, Cap, D] and start [B]";
  ArrayRef<int64_t> shape = ringType.getShape();
  if (ShapedType::isDynamic(shape[1]) || ShapedType::isDynamic(shape[2]) ||
      ShapedType::isDynamic(shape[3]) || shape[2] <= 0)
    return emitOpError() << "expected a static head count, head dimension "
                            "and positive capacity";
  int64_t batch = shape[0], starts = startType.getDimSize(0);
  if (!ShapedType::isDynamic(batch) && !ShapedType::isDynamic(starts) &&
      batch != starts)
    return emitOpError() << "expected one start per sequence (" << batch
                         << "), got " << starts;
  if (viewType != ringType)
    return emitOpError() << "expected the view to be [B, Hkv, Cap, D] = "
                         << ringType << ", got " << viewType;
  return success();
}

/// (start + pos) mod Cap for a start read as i32 and pos in [0, Cap): both
/// are below Cap, so their sum is below 2 Cap and an unsigned rem is exact.
static Value ringSlot(OpBuilder &b, Location loc, Value startI32, Value pos,
                      int64_t capacity) {
  Value start = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), startI32);
  Value cap = arith::ConstantIndexOp::create(b, loc, capacity);
  return arith::RemUIOp::create(b, loc,
                                arith::AddIOp::create(b, loc, start, pos), cap);
}

Value RingViewOp::buildTile(OpBuilder &b, Location loc, Value batch,
                            Value kvHead, Value start, int64_t size) {
  auto viewType = cast<RankedTensorType>(getView().getType());
  int64_t capacity = getCapacity();
  // The sequence's ring start is the same for the whole tile: read it once.
  Value ringStart =
      tensor::ExtractOp::create(b, loc, getStart(), ValueRange{batch});
  Value last = arith::ConstantIndexOp::create(b, loc, capacity - 1);
  Value init = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{size, viewType.getDimSize(3)},
      viewType.getElementType());
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  auto tile = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, init,
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(2, b.getContext())},
      iterators, [&](OpBuilder &nb, Location l, ValueRange) {
        Value r = linalg::IndexOp::create(nb, l, 0);
        Value d = linalg::IndexOp::create(nb, l, 1);
        // Rows past the view's end read its last row (the caller masks them).
        Value row = arith::MinUIOp::create(
            nb, l, arith::AddIOp::create(nb, l, start, r), last);
        Value slot = ringSlot(nb, l, ringStart, row, capacity);
        Value x = tensor::ExtractOp::create(nb, l, getRing(),
                                            ValueRange{batch, kvHead, slot, d});
        linalg::YieldOp::create(nb, l, x);
      });
  return tile.getResult(0);
}

Value RingViewOp::buildDense(OpBuilder &b, Location loc) {
  auto viewType = cast<RankedTensorType>(getView().getType());
  int64_t capacity = getCapacity();
  SmallVector<Value> dynamic;
  if (viewType.isDynamicDim(0))
    dynamic.push_back(tensor::DimOp::create(b, loc, getRing(), 0));
  Value init = tensor::EmptyOp::create(b, loc, viewType.getShape(),
                                       viewType.getElementType(), dynamic);
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  auto dense = linalg::GenericOp::create(
      b, loc, viewType, ValueRange{}, init,
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(4, b.getContext())},
      iterators, [&](OpBuilder &nb, Location l, ValueRange) {
        Value batch = linalg::IndexOp::create(nb, l, 0);
        Value head = linalg::IndexOp::create(nb, l, 1);
        Value pos = linalg::IndexOp::create(nb, l, 2);
        Value d = linalg::IndexOp::create(nb, l, 3);
        Value ringStart =
            tensor::ExtractOp::create(nb, l, getStart(), ValueRange{batch});
        Value slot = ringSlot(nb, l, ringStart, pos, capacity);
        Value x = tensor::ExtractOp::create(nb, l, getRing(),
                                            ValueRange{batch, head, slot, d});
        linalg::YieldOp::create(nb, l, x);
      });
  return dense.getResult(0);
}

SmallVector<Value> RingViewOp::getStorage() {
  // Rows come from the ring itself; `start` is the indirection.
  return {getRing(), getStart()};
}

Value RingViewOp::buildRowOffset(OpBuilder &b, Location loc,
                                 ValueRange storage, Value batch,
                                 Value kvHead, Value row) {
  // ((batch * Hkv + kvHead) * Cap + (start[batch] + row) mod Cap) * D
  ArrayRef<int64_t> shape =
      cast<RankedTensorType>(getRing().getType()).getShape();
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value ringStart = memref::LoadOp::create(b, loc, storage[1], batch);
  Value slot = ringSlot(b, loc, ringStart, row, shape[2]);
  Value head = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, batch, c(shape[1])), kvHead);
  Value token = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, head, c(shape[2])), slot);
  return arith::MulIOp::create(b, loc, token, c(shape[3]));
}
