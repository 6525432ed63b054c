//===- AttnOps.cpp - attn dialect operations ------------------------------===//
//
// Part of attn-mlir. Builders and verifiers of attn.attention and the
// tile-level forward ops (the KV cache views are in KVCacheViews.cpp, the
// backward ops in BackwardOps.cpp). The verifier is the contract every pass
// relies on: a verified attn.attention has consistent shapes, head counts and
// attributes, so lowerings never re-check them.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "OpVerifiers.h"
#include "attn/Dialect/Attn/IR/Varlen.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

//===----------------------------------------------------------------------===//
// AttentionOp builders and accessors
//===----------------------------------------------------------------------===//

/// The LSE is f32, or f64 for f64 operands (whose backward recomputes P in
/// f64 from it: an f32 LSE would round every gradient to f32's precision).
Type attn::detail::getLseElementType(MLIRContext *ctx, Type elementType) {
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
bool attn::detail::isSupportedElementType(Type type) {
  return type.isF16() || type.isBF16() || type.isF32();
}

/// Element types of the whole ops (attn.attention, attn.attention_backward)
/// and their bias and gradients: the tile types plus f64, which only the
/// whole-op CPU lowering computes (in f64; the tiling passes and the GPU path
/// refuse it). It is there for float64 gradient checks (torch.autograd
/// .gradcheck) against finite differences of the forward.
bool attn::detail::isBoundaryElementType(Type type) {
  return isSupportedElementType(type) || type.isF64();
}

/// Two extents agree unless both are static and differ.
bool attn::detail::dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Verifies that `type` (a bias or boolean mask) broadcasts to
/// [B, Hq, Lq, Lk] in the op's logical BHSD order: every extent equals the
/// target extent or is 1.
LogicalResult attn::detail::verifyBroadcastable(Operation *op, StringRef name,
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

/// Checks the optional boolean mask (i1, broadcastable to `scoreShape`,
/// [B, Hq, Lq, Lk]) and key_lengths ([B] i32) operands of a whole op.
LogicalResult attn::detail::verifyMaskAndKeyLengths(
    Operation *op, Value mask, Value keyLengths, ArrayRef<int64_t> scoreShape) {
  if (mask) {
    auto maskType = cast<RankedTensorType>(mask.getType());
    if (!maskType.getElementType().isInteger(1))
      return op->emitOpError() << "expected mask element type i1, got "
                               << maskType.getElementType();
    if (failed(verifyBroadcastable(op, "mask", maskType, scoreShape)))
      return failure();
  }
  if (keyLengths) {
    int64_t batch = scoreShape[0];
    auto lengthsType = cast<RankedTensorType>(keyLengths.getType());
    if (lengthsType.getRank() != 1 ||
        !dimsCompatible(lengthsType.getDimSize(0), batch))
      return op->emitOpError() << "expected key_lengths of shape [B] = ["
                               << batch << "], got " << lengthsType;
  }
  return success();
}

/// Checks the attributes that shape the scores, shared by attn.attention and
/// the tile-level ops. `numHeads` is the number of ALiBi slopes required (the
/// heads of the unsharded attention), or a lower bound on it when `atLeast` is
/// set (tiles see only some heads).
LogicalResult attn::detail::verifyScoreAttributes(
    Operation *op, std::optional<double> scale, std::optional<double> softcap,
    MaskKind maskKind, std::optional<ArrayRef<int64_t>> window,
    std::optional<ArrayRef<double>> slopes, int64_t numHeads, bool atLeast) {
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
LogicalResult attn::detail::verifySinksType(Operation *op, StringRef name,
                                            Type type, int64_t numHeads) {
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

  // Varlen queries over per-sequence caches: Q is one packed batch row, K
  // and V one cache per sequence (verifyVarlen checks them against N).
  if (!isVarlenCache() &&
      (!dimsCompatible(qType.getDimSize(0), kType.getDimSize(0)) ||
       !dimsCompatible(qType.getDimSize(0), vType.getDimSize(0))))
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
  // key_lengths has one entry per cache with varlen queries over caches
  // (the verifier refuses a mask there).
  SmallVector<int64_t> lengthsShape(scoreShape);
  if (isVarlenCache())
    lengthsShape[0] = kType.getDimSize(0);
  if (failed(verifyMaskAndKeyLengths(*this, getMask(), getKeyLengths(),
                                     lengthsShape)))
    return failure();
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
LogicalResult attn::detail::verifyModifierRegions(Operation *op,
                                                  Region &scoreMod,
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

/// Checks that `type` is f32 with shape `shape`.
LogicalResult attn::detail::verifyF32Shape(Operation *op, StringRef name,
                                           Type type, ArrayRef<int64_t> shape) {
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

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

#include "attn/Dialect/Attn/IR/AttnInterfaces.cpp.inc"
