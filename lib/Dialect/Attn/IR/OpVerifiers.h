//===- OpVerifiers.h - checks shared by the attn op verifiers ---*- C++ -*-===//
//
// Part of attn-mlir. The element-type, shape and attribute checks that
// attn.attention, the tile-level ops, the KV cache views and the backward
// ops share (defined in AttnOps.cpp); private to the dialect library.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_IR_OPVERIFIERS_H
#define ATTN_LIB_DIALECT_ATTN_IR_OPVERIFIERS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include <optional>

namespace mlir::attn::detail {

/// The LSE is f32, or f64 for f64 operands (whose backward recomputes P in
/// f64 from it: an f32 LSE would round every gradient to f32's precision).
Type getLseElementType(MLIRContext *ctx, Type elementType);

/// Element types of the tile-level ops (and of p_type): f16, bf16, f32.
bool isSupportedElementType(Type type);

/// Element types of the whole ops and their bias and gradients: the tile
/// types plus f64 (whole-op CPU lowering only, for float64 gradient checks).
bool isBoundaryElementType(Type type);

/// Two extents agree unless both are static and differ.
bool dimsCompatible(int64_t a, int64_t b);

/// Verifies that `type` (a bias or boolean mask) broadcasts to `target`
/// ([B, Hq, Lq, Lk], the op's logical BHSD order).
LogicalResult verifyBroadcastable(Operation *op, StringRef name,
                                  RankedTensorType type,
                                  ArrayRef<int64_t> target);

/// Checks the optional boolean mask (i1, broadcastable to `scoreShape`,
/// [B, Hq, Lq, Lk]) and key_lengths ([B]) operands of a whole op.
LogicalResult verifyMaskAndKeyLengths(Operation *op, Value mask,
                                      Value keyLengths,
                                      ArrayRef<int64_t> scoreShape);

/// Checks the attributes that shape the scores. `numHeads` is the number of
/// ALiBi slopes required, or a lower bound on it when `atLeast` is set.
LogicalResult verifyScoreAttributes(Operation *op, std::optional<double> scale,
                                    std::optional<double> softcap,
                                    MaskKind maskKind,
                                    std::optional<ArrayRef<int64_t>> window,
                                    std::optional<ArrayRef<double>> slopes,
                                    int64_t numHeads, bool atLeast = false);

/// Checks that `type` is a sinks operand (or its gradient) of `numHeads`.
LogicalResult verifySinksType(Operation *op, StringRef name, Type type,
                              int64_t numHeads);

/// Verifies the optional score_mod and mask_mod regions of an op.
LogicalResult verifyModifierRegions(Operation *op, Region &scoreMod,
                                    Region &maskMod);

/// Checks that `type` is f32 with shape `shape`.
LogicalResult verifyF32Shape(Operation *op, StringRef name, Type type,
                             ArrayRef<int64_t> shape);

/// A FloatAttr's value, if it is set.
inline std::optional<double> asDouble(FloatAttr attr) {
  if (!attr)
    return std::nullopt;
  return attr.getValueAsDouble();
}

/// Checks the operands and attributes every tile op shares: Q [G, M, D],
/// K [N, D], V [N, Dv] of one element type, bias/mask [G, M, N], all static.
template <typename TileOp> LogicalResult verifyTileOperands(TileOp op) {
  // The generic form can put any number of operands in a group; all but
  // bias and mask (groups 3 and 4) hold exactly one.
  unsigned numGroups = op.getProperties().operandSegmentSizes.size();
  for (unsigned group = 0; group < numGroups; ++group) {
    if (group == 3 || group == 4)
      continue;
    if (op.getODSOperandIndexAndLength(group).second != 1)
      return op.emitOpError() << "expected exactly one operand in operand "
                                 "group #"
                              << group;
  }
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto kType = cast<RankedTensorType>(op.getKey().getType());
  auto vType = cast<RankedTensorType>(op.getValue().getType());
  if (qType.getRank() != 3 || kType.getRank() != 2 || vType.getRank() != 2)
    return op.emitOpError() << "expected query [G, M, D], key [N, D] and "
                               "value [N, Dv] tiles, got ranks "
                            << qType.getRank() << ", " << kType.getRank()
                            << " and " << vType.getRank();
  if (!qType.hasStaticShape() || !kType.hasStaticShape() ||
      !vType.hasStaticShape())
    return op.emitOpError() << "expected static tile shapes";
  if (qType.getElementType() != kType.getElementType() ||
      qType.getElementType() != vType.getElementType())
    return op.emitOpError() << "expected query, key and value tiles of one "
                               "element type";
  if (qType.getDimSize(2) != kType.getDimSize(1) ||
      kType.getDimSize(0) != vType.getDimSize(0))
    return op.emitOpError() << "expected query/key head dims and key/value "
                               "lengths to agree, got "
                            << qType << ", " << kType << ", " << vType;
  SmallVector<int64_t> scoreShape = {qType.getDimSize(0), qType.getDimSize(1),
                                     kType.getDimSize(0)};
  for (auto [name, operand] :
       {std::pair<StringRef, Value>{"bias", op.getBias()},
        {"mask", op.getMask()}}) {
    if (!operand)
      continue;
    auto type = cast<RankedTensorType>(operand.getType());
    if (type.getShape() != ArrayRef<int64_t>(scoreShape))
      return op.emitOpError() << "expected " << name
                              << " tile of shape [G, M, "
                                 "N] = ["
                              << scoreShape[0] << ", " << scoreShape[1] << ", "
                              << scoreShape[2] << "], got " << type;
  }
  return verifyScoreAttributes(op, op.getScale().convertToDouble(),
                               asDouble(op.getSoftcapAttr()), op.getMaskKind(),
                               op.getWindow(), op.getAlibiSlopes(),
                               qType.getDimSize(0), /*atLeast=*/true);
}

} // namespace mlir::attn::detail

#endif // ATTN_LIB_DIALECT_ATTN_IR_OPVERIFIERS_H
