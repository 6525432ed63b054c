//===- Sinks.cpp - attention sinks as IR ----------------------------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/Sinks.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

/// `v` converted between float types.
static Value castFloat(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

Value mlir::attn::buildSinkRows(OpBuilder &b, Location loc, Value sinks,
                                OpFoldResult firstHead,
                                ArrayRef<OpFoldResult> rowSizes,
                                int64_t headAxis, Type type) {
  MLIRContext *ctx = b.getContext();
  OpFoldResult heads = rowSizes[headAxis];
  std::optional<int64_t> staticHeads = getConstantIntValue(heads);
  Type f32 = cast<RankedTensorType>(sinks.getType()).getElementType();
  auto sliceType = RankedTensorType::get(
      {staticHeads.value_or(ShapedType::kDynamic)}, f32);
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, sliceType, sinks, ArrayRef<OpFoldResult>{firstHead},
      ArrayRef<OpFoldResult>{heads}, ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  int64_t rank = rowSizes.size();
  Value init = tensor::EmptyOp::create(b, loc, rowSizes, type);
  AffineMap read = AffineMap::get(rank, 0, getAffineDimExpr(headAxis, ctx));
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, init.getType(), slice, init,
             ArrayRef<AffineMap>{read, id}, iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l,
                                       castFloat(nb, l, args[0], type));
             })
      .getResult(0);
}

Value mlir::attn::buildSinkGradient(OpBuilder &b, Location loc, Value sinks,
                                    Value lse, Value delta) {
  MLIRContext *ctx = b.getContext();
  auto deltaType = cast<RankedTensorType>(delta.getType());
  Type acc = deltaType.getElementType();
  Type f32 = b.getF32Type();
  int64_t heads = cast<RankedTensorType>(sinks.getType()).getDimSize(0);
  // (b, h, i): h parallel, the batch and the rows summed.
  AffineExpr bb, h, i;
  bindDims(ctx, bb, h, i);
  AffineMap perHead = AffineMap::get(3, 0, {h}, ctx);
  AffineMap perRow = AffineMap::get(3, 0, {bb, h, i}, ctx);
  Value zero = arith::ConstantOp::create(b, loc, acc, b.getFloatAttr(acc, 0.0));
  Value init = linalg::FillOp::create(
                   b, loc, zero,
                   tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{heads},
                                           acc).getResult())
                   .getResult(0);
  SmallVector<utils::IteratorType> iterators = {
      utils::IteratorType::reduction, utils::IteratorType::parallel,
      utils::IteratorType::reduction};
  Value sum =
      linalg::GenericOp::create(
          b, loc, init.getType(), ValueRange{sinks, lse, delta}, init,
          ArrayRef<AffineMap>{perHead, perRow, perRow, perHead}, iterators,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            Value sink = castFloat(nb, l, args[0], acc);
            Value rowLse = castFloat(nb, l, args[1], acc);
            // A row with LSE = -inf (a -inf sink, every key masked) has no
            // probability mass at all: 0, never exp(-inf + inf) = NaN.
            Value negInf = arith::ConstantOp::create(
                nb, l, acc,
                nb.getFloatAttr(acc, -std::numeric_limits<double>::infinity()));
            Value empty = arith::CmpFOp::create(
                nb, l, arith::CmpFPredicate::OEQ, rowLse, negInf);
            Value p = math::ExpOp::create(
                nb, l, arith::SubFOp::create(nb, l, sink, rowLse));
            Value zeroP = arith::ConstantOp::create(nb, l, acc,
                                                    nb.getFloatAttr(acc, 0.0));
            p = arith::SelectOp::create(nb, l, empty, zeroP, p);
            Value term = arith::MulFOp::create(nb, l, p, args[2]);
            linalg::YieldOp::create(
                nb, l, arith::SubFOp::create(nb, l, args[3], term).getResult());
          })
          .getResult(0);
  if (acc == f32)
    return sum;
  Value out =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{heads}, f32);
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  return linalg::GenericOp::create(
             b, loc, out.getType(), sum, out, ArrayRef<AffineMap>{id, id},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, castFloat(nb, l, args[0], f32));
             })
      .getResult(0);
}

Value mlir::attn::buildDeltaInit(OpBuilder &b, Location loc, Value gradLse,
                                 Value zeros) {
  if (!gradLse)
    return zeros;
  auto type = cast<RankedTensorType>(zeros.getType());
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> parallel(type.getRank(),
                                            utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, gradLse, zeros, ArrayRef<AffineMap>{id, id},
             parallel,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value g = castFloat(nb, l, args[0], type.getElementType());
               linalg::YieldOp::create(
                   nb, l, arith::NegFOp::create(nb, l, g).getResult());
             })
      .getResult(0);
}
