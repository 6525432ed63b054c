//===- AttnOps.cpp - attn dialect operations ------------------------------===//
//
// Part of attn-mlir. Builders and verifiers of the attn operations. The
// verifier is the contract every pass relies on: a verified attn.attention
// has consistent shapes, head counts and attributes, so lowerings never
// re-check them.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/ScoreModDerivative.h"
#include "attn/Dialect/Attn/IR/Varlen.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// AttentionOp builders and accessors
//===----------------------------------------------------------------------===//

/// The LSE is f32, or f64 for f64 operands (whose backward recomputes P in
/// f64 from it: an f32 LSE would round every gradient to f32's precision).
static Type getLseElementType(MLIRContext *ctx, Type elementType) {
  if (elementType.isF64())
    return Float64Type::get(ctx);
  return Float32Type::get(ctx);
}

void AttentionOp::build(OpBuilder &builder, OperationState &state, Value query,
                        Value key, Value value, MaskKind maskKind,
                        bool withLse) {
  auto queryType = cast<RankedTensorType>(query.getType());
  auto valueType = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> outShape(queryType.getShape());
  outShape.back() = valueType.getShape().back();
  Type outType = RankedTensorType::get(outShape, queryType.getElementType());
  // LSE is [B, Hq, Lq] for the default BHSD layout.
  Type lseType;
  if (withLse)
    lseType = RankedTensorType::get(
        queryType.getShape().drop_back(),
        getLseElementType(builder.getContext(), queryType.getElementType()));
  build(builder, state, outType, lseType, query, key, value, /*bias=*/Value(),
        /*mask=*/Value(), /*key_lengths=*/Value(), /*scale=*/nullptr,
        MaskKindAttr::get(builder.getContext(), maskKind), /*window=*/nullptr,
        /*softcap=*/nullptr, /*alibi_slopes=*/nullptr,
        LayoutAttr::get(builder.getContext(), Layout::BHSD));
}

KeyVisibility KeyVisibility::get(MaskKind kind,
                                 std::optional<ArrayRef<int64_t>> window) {
  KeyVisibility visibility;
  switch (kind) {
  case MaskKind::None:
    break;
  case MaskKind::CausalTopLeft:
    visibility.right = 0;
    break;
  case MaskKind::CausalBottomRight:
    visibility.right = 0;
    visibility.bottomRight = true;
    break;
  case MaskKind::SlidingWindow:
    // Windows are bottom-right aligned, as FlashAttention's window_size; the
    // verifier requires both extents (non-negative).
    visibility.bottomRight = true;
    if (window && window->size() == 2) {
      visibility.left = (*window)[0];
      visibility.right = (*window)[1];
    }
    break;
  }
  return visibility;
}

double AttentionOp::getEffectiveScale() {
  if (std::optional<double> scale = getScaleValue())
    return *scale;
  return 1.0 / std::sqrt(static_cast<double>(getHeadDim()));
}

//===----------------------------------------------------------------------===//
// AttentionOp verifier
//===----------------------------------------------------------------------===//

/// Element types of the tile-level ops (and of p_type): what the kernels'
/// f32-accumulating steps take.
static bool isSupportedElementType(Type type) {
  return type.isF16() || type.isBF16() || type.isF32();
}

/// Element types of the whole ops (attn.attention, attn.attention_backward)
/// and their bias and gradients: the tile types plus f64, which only the
/// whole-op CPU lowering computes (in f64; the tiling passes and the GPU path
/// refuse it). It is there for float64 gradient checks (torch.autograd
/// .gradcheck) against finite differences of the forward.
static bool isBoundaryElementType(Type type) {
  return isSupportedElementType(type) || type.isF64();
}

/// Two extents agree unless both are static and differ.
static bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Verifies that `type` (a bias or boolean mask) broadcasts to
/// [B, Hq, Lq, Lk] in the op's logical BHSD order: every extent equals the
/// target extent or is 1.
static LogicalResult verifyBroadcastable(Operation *op, StringRef name,
                                         RankedTensorType type,
                                         ArrayRef<int64_t> target) {
  if (type.getRank() != 4)
    return op->emitOpError()
           << "expected " << name << " of rank 4 ([B, Hq, Lq, Lk]), got rank "
           << type.getRank();
  for (auto [axis, dims] :
       llvm::enumerate(llvm::zip(type.getShape(), target))) {
    auto [have, want] = dims;
    if (have == 1 || dimsCompatible(have, want))
      continue;
    return op->emitOpError() << "expected " << name << " dimension " << axis
                            << " to be 1 or " << want << ", got " << have;
  }
  return success();
}

/// Checks the attributes that shape the scores, shared by attn.attention and
/// the tile-level ops. `numHeads` is the number of ALiBi slopes required (the
/// heads of the unsharded attention), or a lower bound on it when `atLeast` is
/// set (tiles see only some heads).
static LogicalResult
verifyScoreAttributes(Operation *op, std::optional<double> scale,
                      std::optional<double> softcap, MaskKind maskKind,
                      std::optional<ArrayRef<int64_t>> window,
                      std::optional<ArrayRef<double>> slopes, int64_t numHeads,
                      bool atLeast = false) {
  // Scores are computed in f32 (f64 only for the reference lowering): a
  // scale or softcap that rounds to inf or 0 there turns tanh(s / c) * c and
  // the softmax into NaN, so the attributes must be normal f32 values.
  auto inF32Range = [](double x) {
    return std::isfinite(x) && x >= std::numeric_limits<float>::min() &&
           x <= std::numeric_limits<float>::max();
  };
  if (scale && !inF32Range(*scale))
    return op->emitOpError()
           << "expected a finite, positive scale in f32's normal range ["
           << std::numeric_limits<float>::min() << ", "
           << std::numeric_limits<float>::max() << "], got " << *scale;
  if (softcap && !inF32Range(*softcap))
    return op->emitOpError()
           << "expected a finite, positive softcap in f32's normal range ["
           << std::numeric_limits<float>::min() << ", "
           << std::numeric_limits<float>::max() << "], got " << *softcap;

  if (maskKind == MaskKind::SlidingWindow) {
    if (!window)
      return op->emitOpError()
             << "expected a `window = array<i64: left, right>` attribute with "
                "mask kind sliding_window";
    if (window->size() != 2)
      return op->emitOpError()
             << "expected window to have 2 elements [left, right], got "
             << window->size();
    if ((*window)[0] < 0 || (*window)[1] < 0)
      return op->emitOpError() << "expected non-negative window sizes, got ["
                               << (*window)[0] << ", " << (*window)[1] << "]";
  } else if (window) {
    return op->emitOpError() << "expected no window attribute unless the "
                                "mask kind is sliding_window";
  }

  if (slopes) {
    int64_t count = slopes->size();
    if (atLeast ? count < numHeads : count != numHeads)
      return op->emitOpError() << "expected one ALiBi slope per query head ("
                               << numHeads << "), got " << count;
    if (!llvm::all_of(*slopes, [](double s) {
          return std::isfinite(s) &&
                 std::fabs(s) <= std::numeric_limits<float>::max();
        }))
      return op->emitOpError()
             << "expected finite ALiBi slopes of at most "
             << std::numeric_limits<float>::max() << " in magnitude (f32)";
  }
  return success();
}

/// Checks that `type` is the type of a sinks operand (or its gradient): one
/// f32 logit per head of `numHeads`.
static LogicalResult verifySinksType(Operation *op, StringRef name, Type type,
                                     int64_t numHeads) {
  auto tensor = cast<RankedTensorType>(type);
  if (tensor.getElementType().isF32() && tensor.getRank() == 1 &&
      tensor.getDimSize(0) == numHeads)
    return success();
  return op->emitOpError() << "expected " << name << " of type tensor<"
                           << numHeads
                           << "xf32> (one f32 logit per query head), got "
                           << type;
}

/// Checks that the op's heads are a whole-group slice of the global heads:
/// [head_offset, head_offset + Hq) within [0, num_heads_total), starting and
/// ending on a key/value group boundary (a group's query heads share one KV
/// head, which only one shard holds).
static LogicalResult verifyHeadSharding(AttentionOp op) {
  int64_t hq = op.getNumQueryHeads(), group = op.getHeadGroupSize();
  int64_t offset = op.getGlobalHeadOffset(), total = op.getTotalQueryHeads();
  if (offset < 0)
    return op.emitOpError()
           << "expected a non-negative head_offset, got " << offset;
  if (offset + hq > total)
    return op.emitOpError() << "expected head_offset + Hq (" << offset << " + "
                            << hq << ") to be at most num_heads_total ("
                            << total << ")";
  if (offset % group != 0 || total % group != 0)
    return op.emitOpError()
           << "expected head_offset (" << offset << ") and num_heads_total ("
           << total << ") to be multiples of the query heads per key/value "
           << "head (" << group << "), so no key/value group is split";
  return success();
}

LogicalResult AttentionOp::verify() {
  // ODS checks only the optional groups' sizes; a generic-form op can still
  // leave query/key/value empty, which every accessor below would misread.
  // A named array, not an ArrayRef of a braced list: the list's backing
  // array would die before the loop body reads it (ASan
  // stack-use-after-scope).
  static constexpr StringLiteral kOperandNames[] = {"query", "key", "value"};
  for (auto [index, name] : llvm::enumerate(kOperandNames)) {
    if (getODSOperandIndexAndLength(index).second != 1)
      return emitOpError() << "expected exactly one " << name << " operand";
  }
  RankedTensorType qType = getQueryType(), kType = getKeyType(),
                   vType = getValueType(), oType = getOutputType();
  for (auto [name, type] :
       {std::pair<StringRef, RankedTensorType>{"query", qType},
        {"key", kType},
        {"value", vType},
        {"output", oType}}) {
    if (type.getRank() != 4)
      return emitOpError()
             << "expected " << name
             << " of rank 4 ([B, H, L, D] or [B, L, H, D]), got rank "
             << type.getRank();
  }

  Type elementType = qType.getElementType();
  if (!isBoundaryElementType(elementType))
    return emitOpError()
           << "expected query element type to be f16, bf16, f32 or f64, got "
           << elementType;
  if (kType.getElementType() != elementType ||
      vType.getElementType() != elementType)
    return emitOpError() << "expected query, key and value to have the same "
                            "element type, got "
                         << elementType << ", " << kType.getElementType()
                         << " and " << vType.getElementType();
  if (!isBoundaryElementType(oType.getElementType()))
    return emitOpError()
           << "expected output element type to be f16, bf16, f32 or f64, got "
           << oType.getElementType();

  int64_t headAxis = getHeadAxis(), seqAxis = getSeqAxis();
  int64_t hq = qType.getDimSize(headAxis), hkv = kType.getDimSize(headAxis);
  int64_t d = qType.getDimSize(3), dv = vType.getDimSize(3);
  if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) ||
      ShapedType::isDynamic(vType.getDimSize(headAxis)) ||
      ShapedType::isDynamic(d) || ShapedType::isDynamic(kType.getDimSize(3)) ||
      ShapedType::isDynamic(dv))
    return emitOpError() << "expected static head counts and head dimensions";
  if (hq <= 0 || hkv <= 0 || d <= 0 || dv <= 0)
    return emitOpError() << "expected non-empty head counts and head "
                            "dimensions";

  if (!dimsCompatible(qType.getDimSize(0), kType.getDimSize(0)) ||
      !dimsCompatible(qType.getDimSize(0), vType.getDimSize(0)))
    return emitOpError() << "expected query, key and value to have the same "
                            "batch size, got "
                         << qType.getDimSize(0) << ", " << kType.getDimSize(0)
                         << " and " << vType.getDimSize(0);
  if (vType.getDimSize(headAxis) != hkv)
    return emitOpError() << "expected key and value to have the same number "
                            "of heads, got "
                         << hkv << " and " << vType.getDimSize(headAxis);
  if (hq % hkv != 0)
    return emitOpError() << "expected the number of query heads (" << hq
                         << ") to be a multiple of the number of key/value "
                            "heads ("
                         << hkv << ")";
  if (kType.getDimSize(3) != d)
    return emitOpError() << "expected query and key to have the same head "
                            "dimension, got "
                         << d << " and " << kType.getDimSize(3);
  if (!dimsCompatible(kType.getDimSize(seqAxis), vType.getDimSize(seqAxis)))
    return emitOpError() << "expected key and value to have the same "
                            "sequence length, got "
                         << kType.getDimSize(seqAxis) << " and "
                         << vType.getDimSize(seqAxis);

  if (!dimsCompatible(kType.getDimSize(0), vType.getDimSize(0)))
    return emitOpError() << "expected key and value to have the same batch "
                            "size, got "
                         << kType.getDimSize(0) << " and "
                         << vType.getDimSize(0);

  // The output is the query shape with D replaced by Dv, static exactly
  // where the query is: lowerings size it from the query.
  SmallVector<int64_t> expectedOut(qType.getShape());
  expectedOut[3] = dv;
  if (oType.getShape() != ArrayRef<int64_t>(expectedOut))
    return emitOpError() << "expected output shape to match the query shape "
                            "with the value head dimension, got "
                         << oType << " for query " << qType << " and value "
                         << vType;

  int64_t batch = qType.getDimSize(0), lq = qType.getDimSize(seqAxis),
          lk = kType.getDimSize(seqAxis);
  if (Value lse = getLse()) {
    auto lseType = cast<RankedTensorType>(lse.getType());
    Type want = getLseElementType(getContext(), elementType);
    if (lseType.getElementType() != want)
      return emitOpError() << "expected the LSE result to have element type "
                           << want << " (f64 only for f64 operands), got "
                           << lseType.getElementType();
    if (lseType.getShape() != ArrayRef<int64_t>{batch, hq, lq})
      return emitOpError() << "expected the LSE result of shape [B, Hq, Lq] = ["
                           << batch << ", " << hq << ", " << lq << "], got "
                           << lseType;
  }

  if (failed(verifyHeadSharding(*this)) ||
      failed(verifyScoreAttributes(*this, getScaleValue(), getSoftcapValue(),
                                   getMaskKind(), getWindow(), getAlibiSlopes(),
                                   getTotalQueryHeads())))
    return failure();

  SmallVector<int64_t> scoreShape = {batch, hq, lq, lk};
  if (Value bias = getBias()) {
    auto biasType = cast<RankedTensorType>(bias.getType());
    if (!isBoundaryElementType(biasType.getElementType()))
      return emitOpError() << "expected bias element type to be f16, bf16, "
                              "f32 or f64, got "
                           << biasType.getElementType();
    if (failed(verifyBroadcastable(*this, "bias", biasType, scoreShape)))
      return failure();
  }
  if (Value mask = getMask()) {
    auto maskType = cast<RankedTensorType>(mask.getType());
    if (!maskType.getElementType().isInteger(1))
      return emitOpError() << "expected mask element type i1, got "
                           << maskType.getElementType();
    if (failed(verifyBroadcastable(*this, "mask", maskType, scoreShape)))
      return failure();
  }
  if (Value lengths = getKeyLengths()) {
    auto lengthsType = cast<RankedTensorType>(lengths.getType());
    if (lengthsType.getRank() != 1 ||
        !dimsCompatible(lengthsType.getDimSize(0), batch))
      return emitOpError() << "expected key_lengths of shape [B] = [" << batch
                           << "], got " << lengthsType;
  }
  // Sinks are indexed by the global head, as the ALiBi slopes.
  if (Value sinks = getSinks())
    if (failed(verifySinksType(*this, "sinks", sinks.getType(),
                               getTotalQueryHeads())))
      return failure();
  return verifyVarlen(*this);
}

//===----------------------------------------------------------------------===//
// AttentionOp region verifier
//===----------------------------------------------------------------------===//

/// Checks that a modifier region has one block with the given argument types,
/// yields exactly one value of `yieldType`, and holds only pure operations
/// (the region is evaluated once per score element, in any order).
static LogicalResult verifyModifierRegion(Operation *op, Region &region,
                                          StringRef name,
                                          ArrayRef<Type> argTypes,
                                          Type yieldType, StringRef signature) {
  if (region.empty())
    return success();
  if (!region.hasOneBlock())
    return op->emitOpError()
           << "expected the " << name << " region to have a single block";
  Block &block = region.front();
  if (block.getArgumentTypes() != TypeRange(argTypes))
    return op->emitOpError() << "expected the " << name
                             << " region arguments to be " << signature;
  auto yield = block.empty() ? YieldOp() : dyn_cast<YieldOp>(block.back());
  if (!yield)
    return op->emitOpError()
           << "expected the " << name << " region to end with attn.yield";
  if (yield.getValues().size() != 1 ||
      yield.getValues().front().getType() != yieldType)
    return yield.emitOpError()
           << "expected " << name << " to yield a single " << yieldType;
  for (Operation &nested : block.without_terminator()) {
    if (isa<AttnDialect>(nested.getDialect()))
      return nested.emitOpError()
             << "expected no attn operations in the " << name << " region";
    if (!isMemoryEffectFree(&nested))
      return nested.emitOpError()
             << "expected only side-effect-free operations in the " << name
             << " region";
  }
  return success();
}

/// Verifies the optional score_mod and mask_mod regions of any op that has
/// them (attn.attention and the tile-level ops).
static LogicalResult verifyModifierRegions(Operation *op, Region &scoreMod,
                                           Region &maskMod) {
  MLIRContext *ctx = op->getContext();
  Type f32 = Float32Type::get(ctx), index = IndexType::get(ctx),
       i1 = IntegerType::get(ctx, 1);
  if (failed(verifyModifierRegion(op, scoreMod, "score_mod",
                                  {f32, index, index, index, index}, f32,
                                  "(f32, index, index, index, index): "
                                  "(score, b, h, q_idx, kv_idx)")))
    return failure();
  return verifyModifierRegion(op, maskMod, "mask_mod",
                              {index, index, index, index}, i1,
                              "(index, index, index, index): "
                              "(b, h, q_idx, kv_idx)");
}

LogicalResult AttentionOp::verifyRegions() {
  return verifyModifierRegions(*this, getScoreMod(), getMaskMod());
}

//===----------------------------------------------------------------------===//
// Tile-level ops
//===----------------------------------------------------------------------===//

static std::optional<double> asDouble(FloatAttr attr) {
  if (!attr)
    return std::nullopt;
  return attr.getValueAsDouble();
}

/// Checks the operands and attributes every tile op shares: Q [G, M, D],
/// K [N, D], V [N, Dv] of one element type, bias/mask [G, M, N], all static.
template <typename TileOp> static LogicalResult verifyTileOperands(TileOp op) {
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

/// Checks that `type` is f32 with shape `shape`.
static LogicalResult verifyF32Shape(Operation *op, StringRef name, Type type,
                                    ArrayRef<int64_t> shape) {
  auto tensor = cast<RankedTensorType>(type);
  if (!tensor.getElementType().isF32() || tensor.getShape() != shape)
    return op->emitOpError()
           << "expected " << name << " to be "
           << RankedTensorType::get(shape, Float32Type::get(op->getContext()))
           << ", got " << type;
  return success();
}

/// [G, M, Dv] and [G, M] for a tile op.
template <typename TileOp>
static std::pair<SmallVector<int64_t>, SmallVector<int64_t>>
tileStateShapes(TileOp op) {
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto vType = cast<RankedTensorType>(op.getValue().getType());
  SmallVector<int64_t> rows = {qType.getDimSize(0), qType.getDimSize(1)};
  SmallVector<int64_t> acc = {rows[0], rows[1], vType.getDimSize(1)};
  return {acc, rows};
}

LogicalResult BlockAttentionOp::verify() {
  if (failed(verifyTileOperands(*this)))
    return failure();
  auto [accShape, rowShape] = tileStateShapes(*this);
  if (failed(
          verifyF32Shape(*this, "output", getOutput().getType(), accShape)) ||
      failed(verifyF32Shape(*this, "lse", getLse().getType(), rowShape)))
    return failure();
  return success();
}

LogicalResult BlockAttentionOp::verifyRegions() {
  return verifyModifierRegions(*this, getScoreMod(), getMaskMod());
}

LogicalResult OnlineStepOp::verify() {
  if (failed(verifyTileOperands(*this)))
    return failure();
  auto [accShape, rowShape] = tileStateShapes(*this);
  for (auto [name, value] :
       {std::pair<StringRef, Value>{"acc", getAcc()}, {"new_acc", getNewAcc()}})
    if (failed(verifyF32Shape(*this, name, value.getType(), accShape)))
      return failure();
  for (auto [name, value] : {std::pair<StringRef, Value>{"max", getMax()},
                             {"sum", getSum()},
                             {"new_max", getNewMax()},
                             {"new_sum", getNewSum()}})
    if (failed(verifyF32Shape(*this, name, value.getType(), rowShape)))
      return failure();
  if (std::optional<Type> pType = getPType();
      pType && !isSupportedElementType(*pType))
    return emitOpError() << "expected p_type to be f16, bf16 or f32, got "
                         << *pType;
  return success();
}

LogicalResult OnlineStepOp::verifyRegions() {
  return verifyModifierRegions(*this, getScoreMod(), getMaskMod());
}

/// The row shape of a [..., Dv] accumulator: all but the last extent.
static SmallVector<int64_t> rowShapeOf(Type accType) {
  return llvm::to_vector(
      cast<RankedTensorType>(accType).getShape().drop_back());
}

LogicalResult FinalizeOp::verify() {
  auto accType = cast<RankedTensorType>(getAcc().getType());
  if (accType.getRank() < 2)
    return emitOpError() << "expected an accumulator of rank >= 2 ([rows..., "
                            "Dv])";
  SmallVector<int64_t> rows = rowShapeOf(accType);
  for (auto [name, value] : {std::pair<StringRef, Value>{"max", getMax()},
                             {"sum", getSum()},
                             {"lse", getLse()}})
    if (failed(verifyF32Shape(*this, name, value.getType(), rows)))
      return failure();
  if (cast<RankedTensorType>(getOutput().getType()).getShape() !=
      accType.getShape())
    return emitOpError() << "expected the output to have the accumulator's "
                            "shape "
                         << accType;
  return success();
}

LogicalResult CombineOp::verify() {
  if (getOutputs().empty())
    return emitOpError() << "expected at least one partial result";
  Type outType = getOutput().getType(), lseType = getLse().getType();
  if (cast<RankedTensorType>(outType).getRank() < 2)
    return emitOpError() << "expected outputs of rank >= 2 ([rows..., Dv])";
  for (Value v : getOutputs())
    if (v.getType() != outType)
      return emitOpError() << "expected every partial output to be " << outType
                           << ", got " << v.getType();
  SmallVector<int64_t> rows = rowShapeOf(outType);
  if (failed(verifyF32Shape(*this, "lse", lseType, rows)))
    return failure();
  for (Value v : getLses())
    if (v.getType() != lseType)
      return emitOpError() << "expected every partial LSE to be " << lseType
                           << ", got " << v.getType();
  return success();
}

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
  if (getView() && getLayout() != Layout::BHSD)
    return emitOpError() << "expected the bhsd layout for a KV cache view";
  return success();
}

Value KVTileOp::expand(OpBuilder &b) {
  Location loc = getLoc();
  int64_t rows = getNumRows();
  if (KVCacheViewInterface view = getView())
    return view.buildTile(b, loc, getBatch(), getKvHead(), getStart(), rows);
  auto sourceType = cast<RankedTensorType>(getSource().getType());
  auto tileType = cast<RankedTensorType>(getTile().getType());
  int64_t seqAxis = getLayout() == Layout::BHSD ? 2 : 1;
  // Valid rows: min(N, L - start), a constant when a static L is a whole
  // number of tiles and the tile starts on a tile boundary: a constant
  // multiple of N, or a KV loop's induction variable (attn-tile's loops
  // step by N from block boundaries). A varlen tile starts at its
  // sequence's first packed row plus k0, anywhere: it may cross L.
  Value length = b.createOrFold<tensor::DimOp>(loc, getSource(), seqAxis);
  std::optional<int64_t> staticLength = getConstantIntValue(length);
  std::optional<int64_t> staticStart = getConstantIntValue(getStart());
  bool aligned = isa<BlockArgument>(getStart()) ||
                 (staticStart && *staticStart % rows == 0);
  OpFoldResult valid = b.getIndexAttr(rows);
  if (!staticLength || *staticLength % rows != 0 || !aligned)
    valid = b.createOrFold<arith::MinSIOp>(
        loc, arith::ConstantIndexOp::create(b, loc, rows),
        b.createOrFold<arith::SubIOp>(loc, length, getStart()));
  OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
  OpFoldResult width = b.getIndexAttr(tileType.getDimSize(1));
  SmallVector<OpFoldResult> offsets = {getBatch(), getKvHead(), getStart(),
                                       zero};
  SmallVector<OpFoldResult> sizes = {one, one, valid, width};
  if (seqAxis == 1) {
    std::swap(offsets[1], offsets[2]);
    std::swap(sizes[1], sizes[2]);
  }
  std::optional<int64_t> validStatic = getConstantIntValue(valid);
  auto sliceType = RankedTensorType::get(
      {validStatic.value_or(ShapedType::kDynamic), tileType.getDimSize(1)},
      sourceType.getElementType());
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, sliceType, getSource(), offsets, sizes,
      SmallVector<OpFoldResult>(4, one));
  if (sliceType == tileType)
    return slice;
  Value pad = arith::ConstantOp::create(
      b, loc, b.getZeroAttr(sourceType.getElementType()));
  return tensor::createPadHighOp(tileType, slice, pad, /*nofold=*/false, loc,
                                 b);
}

LogicalResult PagedViewOp::verify() {
  auto pagesType = cast<RankedTensorType>(getPages().getType());
  auto tableType = cast<RankedTensorType>(getBlockTable().getType());
  auto viewType = cast<RankedTensorType>(getView().getType());
  if (pagesType.getRank() != 4 || tableType.getRank() != 2 ||
      viewType.getRank() != 4)
    return emitOpError() << "expected pages [num_pages, page_size, Hkv, D], "
                            "a block table [B, max_pages] and a view "
                            "[B, Hkv, L, D]";
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
  if (viewType.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "expected the view to be [B, Hkv, max_pages * "
                            "page_size, D] = "
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
  Value last =
      arith::ConstantIndexOp::create(b, loc, viewType.getDimSize(2) - 1);
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
  return buildViewDense(b, loc, viewType, dynamic,
                        [&](OpBuilder &nb, Location l, ValueRange idx) {
                          return readPaged(nb, l, *this, idx[0], idx[1],
                                           idx[2], idx[3]);
                        });
}

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
// AttentionBackwardOp
//===----------------------------------------------------------------------===//

double AttentionBackwardOp::getEffectiveScale() {
  if (std::optional<double> scale = getScaleValue())
    return *scale;
  return 1.0 / std::sqrt(static_cast<double>(getHeadDim()));
}

/// Checks that `type` is a float tensor of f16/bf16/f32 with exactly `shape`.
static LogicalResult verifyGradientType(Operation *op, StringRef name,
                                        Type type, ArrayRef<int64_t> shape) {
  auto tensor = cast<RankedTensorType>(type);
  if (!isBoundaryElementType(tensor.getElementType()))
    return op->emitOpError() << "expected " << name
                             << " element type to be f16, bf16, f32 or f64, "
                                "got "
                             << tensor.getElementType();
  if (tensor.getShape() != shape)
    return op->emitOpError()
           << "expected " << name << " of shape "
           << RankedTensorType::get(shape, tensor.getElementType()) << ", got "
           << type;
  return success();
}

/// Q, K, V of one element type, rank 4 in the op's layout, static head
/// counts and head dims, Hq % Hkv == 0, agreeing extents.
static LogicalResult verifyBackwardInputs(AttentionBackwardOp op) {
  RankedTensorType q = op.getQueryType(), k = op.getKeyType(),
                   v = op.getValueType();
  for (auto [name, type] : {std::pair<StringRef, RankedTensorType>{"query", q},
                            {"key", k},
                            {"value", v}})
    if (type.getRank() != 4)
      return op.emitOpError()
             << "expected " << name
             << " of rank 4 ([B, H, L, D] or [B, L, H, D]), got rank "
             << type.getRank();
  Type elt = q.getElementType();
  if (!isBoundaryElementType(elt) || k.getElementType() != elt ||
      v.getElementType() != elt)
    return op.emitOpError() << "expected query, key and value of one element "
                               "type (f16, bf16, f32 or f64), got "
                            << elt << ", " << k.getElementType() << " and "
                            << v.getElementType();
  int64_t headAxis = op.getHeadAxis(), seqAxis = op.getSeqAxis();
  for (RankedTensorType type : {q, k, v})
    if (type.isDynamicDim(headAxis) || type.isDynamicDim(3) ||
        type.getDimSize(headAxis) <= 0 || type.getDimSize(3) <= 0)
      return op.emitOpError() << "expected static, non-empty head counts and "
                                 "head dimensions";
  int64_t hq = q.getDimSize(headAxis), hkv = k.getDimSize(headAxis);
  if (v.getDimSize(headAxis) != hkv || hq % hkv != 0)
    return op.emitOpError() << "expected key and value with the same number "
                               "of heads, dividing the query heads, got "
                            << hq << ", " << hkv << " and "
                            << v.getDimSize(headAxis);
  if (k.getDimSize(3) != q.getDimSize(3))
    return op.emitOpError() << "expected query and key to have the same head "
                               "dimension, got "
                            << q.getDimSize(3) << " and " << k.getDimSize(3);
  if (!dimsCompatible(q.getDimSize(0), k.getDimSize(0)) ||
      !dimsCompatible(k.getDimSize(0), v.getDimSize(0)) ||
      !dimsCompatible(k.getDimSize(seqAxis), v.getDimSize(seqAxis)))
    return op.emitOpError() << "expected query, key and value to agree in "
                               "batch size and key and value in length";
  return success();
}

LogicalResult AttentionBackwardOp::verify() {
  // The generic form can leave a required operand group empty.
  for (unsigned group = 0; group < 6; ++group)
    if (getODSOperandIndexAndLength(group).second != 1)
      return emitOpError() << "expected exactly one operand in operand group #"
                           << group;
  if (failed(verifyBackwardInputs(*this)))
    return failure();
  RankedTensorType q = getQueryType(), k = getKeyType(), v = getValueType();
  SmallVector<int64_t> outShape(q.getShape());
  outShape[3] = getValueHeadDim();
  for (auto [name, value] :
       {std::pair<StringRef, Value>{"output", getOutput()},
        {"grad_output", getGradOutput()}})
    if (failed(verifyGradientType(*this, name, value.getType(), outShape)))
      return failure();
  int64_t batch = q.getDimSize(0), hq = getNumQueryHeads(),
          lq = getQueryLength(), lk = getKeyLength();
  auto lseType = cast<RankedTensorType>(getLse().getType());
  Type lseElement = getLseElementType(getContext(), q.getElementType());
  if (lseType.getElementType() != lseElement ||
      lseType.getShape() != ArrayRef<int64_t>{batch, hq, lq})
    return emitOpError()
           << "expected lse of type tensor<[B, Hq, Lq]xf32> (f64 for f64 "
              "operands) = "
           << RankedTensorType::get({batch, hq, lq}, lseElement) << ", got "
           << lseType;
  for (auto [name, value, type] :
       {std::tuple<StringRef, Value, RankedTensorType>{"grad_query",
                                                       getGradQuery(), q},
        {"grad_key", getGradKey(), k},
        {"grad_value", getGradValue(), v}})
    if (failed(verifyGradientType(*this, name, value.getType(),
                                  type.getShape())))
      return failure();

  if (failed(verifyScoreAttributes(*this, getScaleValue(), getSoftcapValue(),
                                   getMaskKind(), getWindow(), getAlibiSlopes(),
                                   hq)))
    return failure();
  SmallVector<int64_t> scoreShape = {batch, hq, lq, lk};
  Value bias = getBias();
  if (bias) {
    auto biasType = cast<RankedTensorType>(bias.getType());
    if (!isBoundaryElementType(biasType.getElementType()))
      return emitOpError() << "expected bias element type to be f16, bf16, "
                              "f32 or f64, got "
                           << biasType.getElementType();
    if (failed(verifyBroadcastable(*this, "bias", biasType, scoreShape)))
      return failure();
  }
  if (static_cast<bool>(bias) != static_cast<bool>(getGradBias()))
    return emitOpError() << "expected a grad_bias result exactly when a bias "
                            "operand is given";
  if (bias && failed(verifyGradientType(
                  *this, "grad_bias", getGradBias().getType(),
                  cast<RankedTensorType>(bias.getType()).getShape())))
    return failure();
  if (Value mask = getMask()) {
    auto maskType = cast<RankedTensorType>(mask.getType());
    if (!maskType.getElementType().isInteger(1))
      return emitOpError() << "expected mask element type i1, got "
                           << maskType.getElementType();
    if (failed(verifyBroadcastable(*this, "mask", maskType, scoreShape)))
      return failure();
  }
  if (Value lengths = getKeyLengths()) {
    auto lengthsType = cast<RankedTensorType>(lengths.getType());
    if (lengthsType.getRank() != 1 ||
        !dimsCompatible(lengthsType.getDimSize(0), batch))
      return emitOpError() << "expected key_lengths of shape [B] = [" << batch
                           << "], got " << lengthsType;
  }
  Value sinks = getSinks();
  if (static_cast<bool>(sinks) != static_cast<bool>(getGradSinks()))
    return emitOpError() << "expected a grad_sinks result exactly when a "
                            "sinks operand is given";
  if (sinks && (failed(verifySinksType(*this, "sinks", sinks.getType(), hq)) ||
                failed(verifySinksType(*this, "grad_sinks",
                                       getGradSinks().getType(), hq))))
    return failure();
  return success();
}

/// The modifier regions as everywhere, and a score_mod the backward can
/// differentiate (the diagnostic names the op that it cannot).
static LogicalResult verifyBackwardRegions(Operation *op, Region &scoreMod,
                                           Region &maskMod) {
  if (failed(verifyModifierRegions(op, scoreMod, maskMod)))
    return failure();
  if (Operation *bad = findNonDifferentiableOp(scoreMod)) {
    InFlightDiagnostic diag =
        bad->emitOpError()
        << "expected an op with a derivative rule in the score_mod of a "
           "backward (arith addf/subf/mulf/divf/negf/maximumf/minimumf/"
           "select/cmpf/extf/truncf, math tanh/exp): it depends on the score";
    diag.attachNote(op->getLoc()) << "in the score_mod of this op";
    return diag;
  }
  return success();
}

LogicalResult AttentionBackwardOp::verifyRegions() {
  return verifyBackwardRegions(*this, getScoreMod(), getMaskMod());
}

//===----------------------------------------------------------------------===//
// BackwardStepOp, AccumulateOp
//===----------------------------------------------------------------------===//

LogicalResult BackwardStepOp::verify() {
  if (failed(verifyTileOperands(*this)))
    return failure();
  auto q = cast<RankedTensorType>(getQuery().getType());
  auto k = cast<RankedTensorType>(getKey().getType());
  auto v = cast<RankedTensorType>(getValue().getType());
  int64_t g = q.getDimSize(0), m = q.getDimSize(1);
  auto gradOut = cast<RankedTensorType>(getGradOutput().getType());
  if (gradOut.getShape() != ArrayRef<int64_t>{g, m, v.getDimSize(1)})
    return emitOpError() << "expected grad_output of shape [G, M, Dv] = [" << g
                         << ", " << m << ", " << v.getDimSize(1) << "], got "
                         << gradOut;
  for (auto [name, value] : {std::pair<StringRef, Value>{"lse", getLse()},
                             {"delta", getDelta()}})
    if (failed(verifyF32Shape(*this, name, value.getType(), {g, m})))
      return failure();
  for (auto [name, value, shape] :
       {std::tuple<StringRef, Value, RankedTensorType>{"grad_key",
                                                       getGradKey(), k},
        {"new_grad_key", getNewGradKey(), k},
        {"grad_value", getGradValue(), v},
        {"new_grad_value", getNewGradValue(), v},
        {"grad_query", getGradQuery(), q}})
    if (failed(verifyF32Shape(*this, name, value.getType(), shape.getShape())))
      return failure();
  if (std::optional<Type> pType = getPType();
      pType && !isSupportedElementType(*pType))
    return emitOpError() << "expected p_type to be f16, bf16 or f32, got "
                         << *pType;
  if (Value gradBias = getGradBias()) {
    if (!getBias())
      return emitOpError() << "expected a grad_bias result only with a bias "
                              "tile";
    return verifyF32Shape(*this, "grad_bias", gradBias.getType(),
                          {g, m, k.getDimSize(0)});
  }
  return success();
}

LogicalResult BackwardStepOp::verifyRegions() {
  return verifyBackwardRegions(*this, getScoreMod(), getMaskMod());
}

LogicalResult AccumulateOp::verify() {
  auto partials = cast<RankedTensorType>(getPartials().getType());
  if (partials.getRank() < 1)
    return emitOpError() << "expected partials of rank >= 1 ([n, ...])";
  SmallVector<int64_t> shape(partials.getShape().drop_front());
  return verifyF32Shape(*this, "result", getResult().getType(), shape);
}

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

#include "attn/Dialect/Attn/IR/AttnInterfaces.cpp.inc"
