//===- AttentionSpec.cpp - an attention problem as plain data -------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Spec/AttentionSpec.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

int64_t mlir::attn::getElementByteSize(ElementKind kind) {
  switch (kind) {
  case ElementKind::F32:
    return 4;
  case ElementKind::F16:
  case ElementKind::BF16:
    return 2;
  case ElementKind::I1:
    return 1;
  case ElementKind::I32:
    return 4;
  case ElementKind::F64:
    return 8;
  }
  llvm_unreachable("unknown element kind");
}

StringRef mlir::attn::stringifyElementKind(ElementKind kind) {
  switch (kind) {
  case ElementKind::F32:
    return "f32";
  case ElementKind::F16:
    return "f16";
  case ElementKind::BF16:
    return "bf16";
  case ElementKind::I1:
    return "i1";
  case ElementKind::I32:
    return "i32";
  case ElementKind::F64:
    return "f64";
  }
  llvm_unreachable("unknown element kind");
}

std::optional<ElementKind> mlir::attn::parseElementKind(StringRef name) {
  return llvm::StringSwitch<std::optional<ElementKind>>(name)
      .Case("f32", ElementKind::F32)
      .Case("f16", ElementKind::F16)
      .Case("bf16", ElementKind::BF16)
      .Case("i1", ElementKind::I1)
      .Case("i32", ElementKind::I32)
      .Case("f64", ElementKind::F64)
      .Default(std::nullopt);
}

Type mlir::attn::getElementType(MLIRContext *ctx, ElementKind kind) {
  Builder b(ctx);
  switch (kind) {
  case ElementKind::F32:
    return b.getF32Type();
  case ElementKind::F16:
    return b.getF16Type();
  case ElementKind::BF16:
    return b.getBF16Type();
  case ElementKind::I1:
    return b.getI1Type();
  case ElementKind::I32:
    return b.getI32Type();
  case ElementKind::F64:
    return b.getF64Type();
  }
  llvm_unreachable("unknown element kind");
}

std::optional<ElementKind> mlir::attn::getElementKind(Type type) {
  if (type.isF32())
    return ElementKind::F32;
  if (type.isF64())
    return ElementKind::F64;
  if (type.isF16())
    return ElementKind::F16;
  if (type.isBF16())
    return ElementKind::BF16;
  if (type.isInteger(1))
    return ElementKind::I1;
  if (type.isInteger(32))
    return ElementKind::I32;
  return std::nullopt;
}

double AttentionSpec::getEffectiveScale() const {
  return scale ? *scale : 1.0 / std::sqrt(static_cast<double>(headDim));
}

/// [B, H, L, X] in BHSD order, or [B, L, H, X] in BSHD order.
static SmallVector<int64_t> layoutShape(Layout layout, int64_t b, int64_t h,
                                        int64_t l, int64_t x) {
  if (layout == Layout::BHSD)
    return {b, h, l, x};
  return {b, l, h, x};
}

SmallVector<int64_t> AttentionSpec::queryShape() const {
  return layoutShape(layout, batch, numQueryHeads, queryLength, headDim);
}
SmallVector<int64_t> AttentionSpec::keyShape() const {
  return layoutShape(layout, kvBatch(), numKVHeads, keyLength, headDim);
}
SmallVector<int64_t> AttentionSpec::valueShape() const {
  return layoutShape(layout, kvBatch(), numKVHeads, keyLength,
                     getValueHeadDim());
}
SmallVector<int64_t> AttentionSpec::outputShape() const {
  return layoutShape(layout, batch, numQueryHeads, queryLength,
                     getValueHeadDim());
}
SmallVector<int64_t> AttentionSpec::scoreShape() const {
  return {batch, numQueryHeads, queryLength, keyLength};
}
SmallVector<int64_t> AttentionSpec::biasShape() const {
  SmallVector<int64_t> shape = scoreShape();
  for (int axis = 0; axis < 4; ++axis)
    if (biasBroadcast & (1u << axis))
      shape[axis] = 1;
  return shape;
}
int64_t AttentionSpec::biasIndex(int64_t b, int64_t h, int64_t i,
                                 int64_t j) const {
  SmallVector<int64_t> shape = biasShape();
  int64_t coords[] = {b, h, i, j}, index = 0;
  for (int axis = 0; axis < 4; ++axis)
    index = index * shape[axis] + (shape[axis] == 1 ? 0 : coords[axis]);
  return index;
}
SmallVector<int64_t> AttentionSpec::lseShape() const {
  return {batch, numQueryHeads, queryLength};
}
SmallVector<int64_t> AttentionSpec::keyPagesShape() const {
  return {poolPages(), pageSize, numKVHeads, headDim};
}
SmallVector<int64_t> AttentionSpec::valuePagesShape() const {
  return {poolPages(), pageSize, numKVHeads, getValueHeadDim()};
}
SmallVector<int64_t> AttentionSpec::blockTableShape() const {
  return {kvBatch(), pagesPerSequence()};
}

std::string AttentionSpec::describe() const {
  std::string kind = numKVHeads == numQueryHeads ? "MHA"
                     : numKVHeads == 1           ? "MQA"
                                                 : "GQA";
  // Dynamic dims: "?" then the extent the tensors are made with.
  auto extent = [](bool dynamic, int64_t value) {
    return dynamic ? "?(" + std::to_string(value) + ")"
                   : std::to_string(value);
  };
  std::string text = llvm::formatv(
      "{0} {1}/{2} B={3} Lq={4} Lk={5} D={6}", kind, numQueryHeads,
      numKVHeads, extent(dynamicBatch && !isVarlen(), batch),
      extent(dynamicQueryLength, queryLength),
      extent(dynamicKeyLength, keyLength), headDim);
  if (getValueHeadDim() != headDim)
    text += llvm::formatv(" Dv={0}", getValueHeadDim()).str();
  text += " " + stringifyElementKind(elementType).str();
  if (layout == Layout::BSHD)
    text += " bshd";
  if (maskKind != MaskKind::None)
    text += " " + stringifyMaskKind(maskKind).str();
  if (maskKind == MaskKind::SlidingWindow)
    text += llvm::formatv("[{0},{1}]", windowLeft, windowRight).str();
  if (scale)
    text += llvm::formatv(" scale={0}", *scale).str();
  if (softcap)
    text += llvm::formatv(" softcap={0}", *softcap).str();
  if (!alibiSlopes.empty())
    text += " alibi";
  if (isHeadShard())
    text += llvm::formatv(" heads[{0}:{1}]/{2}", headOffset,
                          headOffset + numQueryHeads, totalQueryHeads())
                .str();
  if (withBias)
    text += backward && !withBiasGradient ? " bias(constant)" : " bias";
  if (withBias && biasBroadcast) {
    SmallVector<int64_t> shape = biasShape();
    text += llvm::formatv("[{0}x{1}x{2}x{3}]", shape[0], shape[1], shape[2],
                          shape[3])
                .str();
  }
  if (withBoolMask)
    text += " bool-mask";
  if (scoreMod == ScoreModKind::RelativeBias)
    text += " score_mod=relative-bias";
  if (scoreMod == ScoreModKind::TanhCap)
    text += " score_mod=tanh-cap";
  if (scoreMod == ScoreModKind::HeadRelativeBias)
    text += " score_mod=head-relative-bias";
  if (maskMod == MaskModKind::PrefixLM)
    text += " mask_mod=prefix-lm";
  if (pageSize && numPages)
    text += llvm::formatv(" paged[{0}, pool {1}]", pageSize, numPages).str();
  else if (pageSize)
    text += llvm::formatv(" paged[{0}]", pageSize).str();
  if (!keyLengths.empty())
    text += " key_lengths";
  if (isVarlen())
    text += " varlen[" + extent(dynamicBatch, numSequences()) + "]";
  if (!sinks.empty())
    text += " sinks";
  if (appendTokens)
    text += llvm::formatv(" append[{0}]", appendTokens).str();
  if (sharedKV)
    text += " shared-kv";
  if (withLse)
    text += " +lse";
  if (backward)
    text += " backward";
  if (withLseGradient)
    text += " +lse-grad";
  return text;
}

/// score_mod: score + 0.01 * (kv_idx - q_idx).
static void buildRelativeBias(OpBuilder &b, Location loc, Region &region) {
  Type f32 = b.getF32Type(), index = b.getIndexType();
  Block *block = b.createBlock(&region, {}, {f32, index, index, index, index},
                               SmallVector<Location>(5, loc));
  Value diff = arith::SubIOp::create(b, loc, block->getArgument(4),
                                     block->getArgument(3));
  Value diffI64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), diff);
  Value diffF = arith::SIToFPOp::create(b, loc, f32, diffI64);
  Value slope = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.01f));
  Value bias = arith::MulFOp::create(b, loc, diffF, slope);
  Value score = arith::AddFOp::create(b, loc, block->getArgument(0), bias);
  YieldOp::create(b, loc, ValueRange{score});
}

/// score_mod: 20 * tanh(score / 20).
static void buildTanhCap(OpBuilder &b, Location loc, Region &region) {
  Type f32 = b.getF32Type(), index = b.getIndexType();
  Block *block = b.createBlock(&region, {}, {f32, index, index, index, index},
                               SmallVector<Location>(5, loc));
  Value cap = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(20.0f));
  Value scaled = arith::DivFOp::create(b, loc, block->getArgument(0), cap);
  Value capped =
      arith::MulFOp::create(b, loc, cap, math::TanhOp::create(b, loc, scaled));
  YieldOp::create(b, loc, ValueRange{capped});
}

/// score_mod: score + 0.01 * (h + 1) * (kv_idx - q_idx).
static void buildHeadRelativeBias(OpBuilder &b, Location loc, Region &region) {
  Type f32 = b.getF32Type(), index = b.getIndexType();
  Block *block = b.createBlock(&region, {}, {f32, index, index, index, index},
                               SmallVector<Location>(5, loc));
  auto toF32 = [&](Value v) {
    Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), v);
    return arith::SIToFPOp::create(b, loc, f32, i64).getResult();
  };
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value headFactor =
      toF32(arith::AddIOp::create(b, loc, block->getArgument(2), one));
  Value diff = toF32(arith::SubIOp::create(b, loc, block->getArgument(4),
                                           block->getArgument(3)));
  Value slope = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.01f));
  Value bias = arith::MulFOp::create(
      b, loc, arith::MulFOp::create(b, loc, headFactor, slope), diff);
  Value score = arith::AddFOp::create(b, loc, block->getArgument(0), bias);
  YieldOp::create(b, loc, ValueRange{score});
}

/// mask_mod: kv_idx <= q_idx || kv_idx < 4.
static void buildPrefixLM(OpBuilder &b, Location loc, Region &region) {
  Type index = b.getIndexType();
  Block *block = b.createBlock(&region, {}, {index, index, index, index},
                               SmallVector<Location>(4, loc));
  Value q = block->getArgument(2), kv = block->getArgument(3);
  Value causal =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, kv, q);
  Value four = arith::ConstantIndexOp::create(b, loc, 4);
  Value prefix =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, kv, four);
  Value keep = arith::OrIOp::create(b, loc, causal, prefix);
  YieldOp::create(b, loc, ValueRange{keep});
}

/// The spec's score_mod and mask_mod regions, written once for the forward
/// and the backward op (a kind one of them skipped would silently drop the
/// modifier).
static void buildModifierRegions(OpBuilder &b, Location loc,
                                 const AttentionSpec &spec, Region &scoreMod,
                                 Region &maskMod) {
  OpBuilder::InsertionGuard guard(b);
  switch (spec.scoreMod) {
  case ScoreModKind::None:
    break;
  case ScoreModKind::RelativeBias:
    buildRelativeBias(b, loc, scoreMod);
    break;
  case ScoreModKind::TanhCap:
    buildTanhCap(b, loc, scoreMod);
    break;
  case ScoreModKind::HeadRelativeBias:
    buildHeadRelativeBias(b, loc, scoreMod);
    break;
  }
  if (spec.maskMod == MaskModKind::PrefixLM)
    buildPrefixLM(b, loc, maskMod);
}

/// Largest operand a spec may describe, in bytes: the GPU path's limit,
/// and far enough below INT64_MAX that element offsets times element sizes
/// cannot overflow anywhere downstream.
static constexpr int64_t kMaxOperandBytes = int64_t(1) << 40;

/// Elements of `shape`, or nullopt when the product overflows int64.
static std::optional<int64_t> checkedNumElements(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t extent : shape) {
    std::optional<int64_t> product = llvm::checkedMul(n, extent);
    if (!product)
      return std::nullopt;
    n = *product;
  }
  return n;
}

/// A varlen spec over per-sequence caches: cu_seqlens_q covering the packed
/// query rows, one key length per sequence (checked with the others), K and
/// V caches (contiguous or paged) in the bshd layout, static dims, none of
/// the operands and modifiers the op refuses with cu_seqlens.
static LogicalResult verifyVarlenCacheSpec(const AttentionSpec &spec,
                                           Location loc) {
  const std::vector<int64_t> &cu = spec.cuSeqlensQ;
  if (spec.batch != 1 || spec.layout != Layout::BSHD)
    return emitError(loc) << "expected a varlen spec of batch 1 in the bshd "
                             "layout (sequences packed as [1, T, H, D])";
  if (cu.front() != 0 || !llvm::is_sorted(cu) || cu.back() != spec.queryLength)
    return emitError(loc) << "expected cu_seqlens_q to rise from 0 to "
                          << spec.queryLength << " without decreasing";
  if (spec.keyLengths.empty())
    return emitError(loc) << "expected key lengths (one per cache) with "
                             "cu_seqlens_q and no cu_seqlens_k";
  if (spec.withBias || spec.withBoolMask || spec.appendTokens ||
      spec.scoreMod != ScoreModKind::None ||
      spec.maskMod != MaskModKind::None || spec.backward ||
      spec.hasDynamicDims())
    return emitError(loc) << "expected a varlen spec over caches without "
                             "bias, mask, appended KV, modifiers, backward or "
                             "dynamic dims";
  return success();
}

/// A varlen spec: offsets that start at 0, never decrease and cover the
/// packed query rows (ending at most at the packed keys), in a batch of one
/// bshd row, without the operands and modifiers the op refuses with
/// cu_seqlens.
static LogicalResult verifyVarlenSpec(const AttentionSpec &spec,
                                      Location loc) {
  if (!spec.isVarlen() && spec.cuSeqlensK.empty())
    return success();
  if (spec.isVarlenCache())
    return verifyVarlenCacheSpec(spec, loc);
  if (spec.cuSeqlensQ.size() != spec.cuSeqlensK.size() ||
      spec.cuSeqlensQ.size() < 1)
    return emitError(loc) << "expected cu_seqlens_q and cu_seqlens_k of one "
                             "size N+1, got "
                          << spec.cuSeqlensQ.size() << " and "
                          << spec.cuSeqlensK.size();
  if (spec.batch != 1 || spec.layout != Layout::BSHD)
    return emitError(loc) << "expected a varlen spec of batch 1 in the bshd "
                             "layout (sequences packed as [1, T, H, D])";
  const std::tuple<StringRef, const std::vector<int64_t> &, int64_t, bool>
      offsets[] = {{"cu_seqlens_q", spec.cuSeqlensQ, spec.queryLength, true},
                   {"cu_seqlens_k", spec.cuSeqlensK, spec.keyLength, false}};
  for (const auto &[name, cu, total, exact] : offsets) {
    bool monotonic = llvm::is_sorted(cu);
    if (cu.front() != 0 || !monotonic ||
        (exact ? cu.back() != total : cu.back() > total))
      return emitError(loc) << "expected " << name
                            << " to rise from 0 to "
                            << (exact ? "" : "at most ") << total
                            << " without decreasing";
  }
  if (!spec.keyLengths.empty() || spec.withBias || spec.withBoolMask ||
      spec.pageSize || spec.appendTokens || spec.scoreMod != ScoreModKind::None ||
      spec.maskMod != MaskModKind::None)
    return emitError(loc) << "expected a varlen spec without key lengths, "
                             "bias, mask, paged or appended KV or modifiers";
  return success();
}

LogicalResult mlir::attn::verifyAttentionSpec(const AttentionSpec &spec,
                                              Location loc) {
  // Extents first: every shape below is built from them.
  const std::tuple<StringRef, int64_t, int64_t> extents[] = {
      {"batch", spec.batch, 1},
      {"query heads", spec.numQueryHeads, 1},
      {"key/value heads", spec.numKVHeads, 1},
      {"query length", spec.queryLength, 1},
      {"key length", spec.keyLength, 1},
      {"head dimension", spec.headDim, 1},
      {"value head dimension", spec.valueHeadDim, 0},
      {"page size", spec.pageSize, 0},
      {"page pool size", spec.numPages, 0},
      {"appended tokens", spec.appendTokens, 0},
  };
  for (auto [name, value, min] : extents)
    if (value < min)
      return emitError(loc) << "expected a spec " << name << " of at least "
                            << min << ", got " << value;
  if (spec.numQueryHeads % spec.numKVHeads != 0)
    return emitError(loc) << "expected the query heads (" << spec.numQueryHeads
                          << ") to be a multiple of the key/value heads ("
                          << spec.numKVHeads << ")";
  if (spec.numPages && !spec.pageSize)
    return emitError(loc) << "expected a page size with a page pool size";
  if (spec.appendTokens > spec.keyLength)
    return emitError(loc) << "expected at most the key length ("
                          << spec.keyLength << ") of appended tokens, got "
                          << spec.appendTokens;
  if (!spec.keyLengths.empty()) {
    if (static_cast<int64_t>(spec.keyLengths.size()) != spec.kvBatch())
      return emitError(loc) << "expected one key length per batch entry ("
                            << spec.kvBatch() << "), got "
                            << spec.keyLengths.size();
    for (int64_t length : spec.keyLengths)
      if (length < 0 || length > spec.keyLength)
        return emitError(loc) << "expected key lengths in [0, "
                              << spec.keyLength << "], got " << length;
  }
  if (failed(verifyVarlenSpec(spec, loc)))
    return failure();
  if (spec.sharedKV &&
      (spec.getValueHeadDim() > spec.headDim || spec.appendTokens ||
       spec.backward))
    return emitError(loc) << "expected Dv <= D, no appended tokens and no "
                             "backward for a shared K/V cache, got D = "
                          << spec.headDim << ", Dv = " << spec.getValueHeadDim();
  if (!spec.sinks.empty() &&
      static_cast<int64_t>(spec.sinks.size()) != spec.totalQueryHeads())
    return emitError(loc) << "expected one sink per query head ("
                          << spec.totalQueryHeads() << "), got "
                          << spec.sinks.size();
  if (spec.maskKind == MaskKind::SlidingWindow &&
      (spec.windowLeft < 0 || spec.windowRight < 0))
    return emitError(loc) << "expected non-negative window sizes, got ["
                          << spec.windowLeft << ", " << spec.windowRight
                          << "]";
  // Sizes: each operand under 1 TiB, and the [B, Hq, Lq, Lk] score space
  // (bias, mask, the reference lowering's scores) indexable in int64.
  int64_t elementBytes = getElementByteSize(spec.elementType);
  const std::pair<StringRef, SmallVector<int64_t>> operands[] = {
      {"query", spec.queryShape()},
      {"key", spec.keyShape()},
      {"value", spec.valueShape()},
      {"output", spec.outputShape()},
  };
  for (const auto &[name, shape] : operands) {
    std::optional<int64_t> n = checkedNumElements(shape);
    if (!n || *n > kMaxOperandBytes / elementBytes)
      return emitError(loc) << "expected the spec's " << name
                            << " under 1 TiB (2^40 bytes), got shape ["
                            << ArrayRef<int64_t>(shape) << "]";
  }
  std::optional<int64_t> scores = checkedNumElements(spec.scoreShape());
  bool materialized = spec.withBias || spec.withBoolMask;
  // >> 4: room for a 16-byte element size (the reference's doubles).
  if (!scores || *scores > (std::numeric_limits<int64_t>::max() >> 4) ||
      (materialized && *scores > kMaxOperandBytes / elementBytes))
    return emitError(loc) << "expected B * Hq * Lq * Lk to fit int64 index "
                             "math"
                          << (materialized ? " and a bias/mask under 1 TiB"
                                           : "")
                          << ", got [" << spec.batch << ", "
                          << spec.numQueryHeads << ", " << spec.queryLength
                          << ", " << spec.keyLength << "]";
  return success();
}

/// The C-interface entry function of a built module: one memref argument
/// per input and result tensor (destination-passing style), and the inputs
/// read back as tensors (`inputs`) at the top of its body, where `b` is
/// left. Returns the body.
static Block *createEntryFunction(OpBuilder &b, Location loc,
                                  StringRef funcName,
                                  ArrayRef<RankedTensorType> inputTypes,
                                  ArrayRef<RankedTensorType> resultTypes,
                                  SmallVectorImpl<Value> &inputs) {
  SmallVector<Type> argTypes;
  for (RankedTensorType t :
       llvm::concat<const RankedTensorType>(inputTypes, resultTypes))
    argTypes.push_back(MemRefType::get(t.getShape(), t.getElementType()));
  auto func =
      func::FuncOp::create(b, loc, funcName, b.getFunctionType(argTypes, {}));
  func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  for (auto [type, arg] : llvm::zip(inputTypes, entry->getArguments()))
    inputs.push_back(bufferization::ToTensorOp::create(
        b, loc, type, arg, /*restrict=*/true, /*writable=*/false));
  return entry;
}

/// The forward entry's types with the spec's dynamic dims: B (dim 0 of
/// every operand and result), Lq (the sequence dim of Q and O, dim 2 of
/// LSE) and Lk (of K and V). `inputs` are Q, K, V[, key_lengths] or, for a
/// varlen spec, Q, K, V, cu_seqlens_q, cu_seqlens_k: there "batch" is the
/// number of sequences (the offsets' extent N+1; the packed operands keep
/// their batch of 1) and Lq, Lk the packed totals.
static LogicalResult
makeLengthsDynamic(const AttentionSpec &spec, Location loc,
                   SmallVectorImpl<RankedTensorType> &inputs,
                   SmallVectorImpl<RankedTensorType> &results) {
  if (!spec.hasDynamicDims())
    return success();
  if (spec.pageSize || spec.appendTokens || spec.withBias ||
      spec.withBoolMask || !spec.sinks.empty())
    return emitError(loc) << "expected dense K and V without bias, mask, "
                             "sinks or appended tokens for dynamic dims";
  // The entry's operands below are Q, K, V by position.
  if (spec.sharedKV)
    return emitError(loc) << "expected static dims for a shared K/V cache "
                             "spec";
  int64_t seqAxis = spec.layout == Layout::BHSD ? 2 : 1;
  bool packed = spec.isVarlen();
  auto dynamic = [&](RankedTensorType &type, bool seq, int64_t axis,
                     bool isQuery) {
    SmallVector<int64_t> shape(type.getShape());
    if (spec.dynamicBatch && (!packed || !seq))
      shape[0] = ShapedType::kDynamic;
    if (seq && (isQuery ? spec.dynamicQueryLength : spec.dynamicKeyLength))
      shape[axis] = ShapedType::kDynamic;
    type = RankedTensorType::get(shape, type.getElementType());
  };
  dynamic(inputs[0], true, seqAxis, /*isQuery=*/true);
  dynamic(inputs[1], true, seqAxis, /*isQuery=*/false);
  dynamic(inputs[2], true, seqAxis, /*isQuery=*/false);
  // key_lengths [B], or cu_seqlens_q and cu_seqlens_k [N+1].
  for (size_t i = 3; i < inputs.size(); ++i)
    dynamic(inputs[i], false, 0, false);
  dynamic(results[0], true, seqAxis, /*isQuery=*/true);
  if (results.size() > 1) // LSE [B, Hq, Lq]
    dynamic(results[1], true, 2, /*isQuery=*/true);
  return success();
}

/// Where a spec's ops are: a NameLoc naming the spec ("attention spec: GQA
/// 32/8 B=1 ..."), so that a later diagnostic (a kernel refusing the shape,
/// the dtype or an option) says which spec it is about.
static Location specLocation(MLIRContext *ctx, const AttentionSpec &spec) {
  return NameLoc::get(
      StringAttr::get(ctx, "attention spec: " + spec.describe()));
}

OwningOpRef<ModuleOp>
mlir::attn::buildAttentionModule(MLIRContext *ctx, const AttentionSpec &spec,
                                 StringRef funcName) {
  if (failed(verifyAttentionSpec(spec, specLocation(ctx, spec))))
    return nullptr;
  if (spec.backward && spec.hasDynamicDims()) {
    emitError(specLocation(ctx, spec))
        << "expected static dims for a backward spec (dynamic dims: the "
           "forward only)";
    return nullptr;
  }
  if (spec.withLseGradient && !spec.backward) {
    emitError(specLocation(ctx, spec))
        << "expected a backward spec with an LSE gradient (--lse-grad: the "
           "backward's grad_lse operand)";
    return nullptr;
  }
  if (spec.backward)
    return buildAttentionBackwardModule(ctx, spec, funcName);
  ctx->loadDialect<AttnDialect, arith::ArithDialect,
                   bufferization::BufferizationDialect, func::FuncDialect,
                   math::MathDialect, memref::MemRefDialect>();
  OpBuilder b(ctx);
  Location loc = specLocation(ctx, spec);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());

  Type elementType = getElementType(ctx, spec.elementType);
  auto tensorOf = [&](ArrayRef<int64_t> shape, Type type) {
    return RankedTensorType::get(shape, type);
  };
  bool paged = spec.pageSize > 0;
  // Varlen over caches reads bshd views of its pages.
  if (paged &&
      ((spec.layout != Layout::BHSD && !spec.isVarlenCache()) ||
       spec.keyLength % spec.pageSize != 0)) {
    emitError(loc) << "expected a BHSD spec whose key length is a multiple "
                      "of the page size for a paged KV cache";
    return nullptr;
  }
  SmallVector<RankedTensorType> inputTypes = {
      tensorOf(spec.queryShape(), elementType)};
  // A shared K/V cache has no V operand of its own.
  if (paged) {
    inputTypes.push_back(tensorOf(spec.keyPagesShape(), elementType));
    if (!spec.sharedKV)
      inputTypes.push_back(tensorOf(spec.valuePagesShape(), elementType));
    inputTypes.push_back(tensorOf(spec.blockTableShape(), b.getI32Type()));
  } else {
    inputTypes.push_back(tensorOf(spec.keyShape(), elementType));
    if (!spec.sharedKV)
      inputTypes.push_back(tensorOf(spec.valueShape(), elementType));
  }
  int64_t appended = spec.appendTokens;
  if (appended > 0) {
    if (paged || spec.layout != Layout::BHSD || spec.keyLengths.empty()) {
      emitError(loc) << "expected a contiguous BHSD spec with key lengths "
                        "for appended tokens";
      return nullptr;
    }
    SmallVector<int64_t> kNew = spec.keyShape(), vNew = spec.valueShape();
    kNew[2] = vNew[2] = appended;
    inputTypes.push_back(tensorOf(kNew, elementType));
    inputTypes.push_back(tensorOf(vNew, elementType));
    inputTypes.push_back(tensorOf({spec.batch}, b.getI32Type()));
  }
  if (spec.withBias)
    inputTypes.push_back(tensorOf(spec.biasShape(), elementType));
  if (spec.withBoolMask)
    inputTypes.push_back(tensorOf(spec.scoreShape(), b.getI1Type()));
  bool withLengths = !spec.keyLengths.empty();
  if (withLengths)
    inputTypes.push_back(tensorOf({spec.kvBatch()}, b.getI32Type()));
  int64_t cuSeqlensInput = inputTypes.size();
  // cu_seqlens_q and cu_seqlens_k, or cu_seqlens_q alone over caches.
  if (spec.isVarlen())
    for (int i = 0; i < (spec.isVarlenCache() ? 1 : 2); ++i)
      inputTypes.push_back(
          tensorOf({spec.numSequences() + 1}, b.getI32Type()));
  bool withSinks = !spec.sinks.empty();
  if (withSinks)
    inputTypes.push_back(
        tensorOf({spec.totalQueryHeads()}, b.getF32Type()));
  SmallVector<RankedTensorType> resultTypes = {
      tensorOf(spec.outputShape(), elementType)};
  if (spec.withLse)
    resultTypes.push_back(tensorOf(
        spec.lseShape(), getElementType(ctx, spec.lseElementType())));
  if (failed(makeLengthsDynamic(spec, loc, inputTypes, resultTypes)))
    return nullptr;

  SmallVector<Value> inputs;
  Block *entry =
      createEntryFunction(b, loc, funcName, inputTypes, resultTypes, inputs);

  // K and V: the tensors themselves, or views of the paged cache.
  Value key = inputs[1], value = spec.sharedKV ? Value() : inputs[2];
  int64_t nextInput = spec.sharedKV ? 2 : 3;
  if (appended > 0) {
    Value kNew = inputs[nextInput++], vNew = inputs[nextInput++];
    Value positions = inputs[nextInput++];
    key = KVAppendOp::create(b, loc, key.getType(), kNew, key, positions);
    value = KVAppendOp::create(b, loc, value.getType(), vNew, value, positions);
  }
  if (paged) {
    Value table = inputs[nextInput++];
    auto layout = LayoutAttr::get(ctx, spec.layout);
    key = PagedViewOp::create(b, loc, tensorOf(spec.keyShape(), elementType),
                              key, table, layout);
    if (!spec.sharedKV)
      value = PagedViewOp::create(b, loc,
                                  tensorOf(spec.valueShape(), elementType),
                                  value, table, layout);
  }
  if (spec.sharedKV)
    value = KVPrefixOp::create(b, loc, tensorOf(spec.valueShape(), elementType),
                               key, LayoutAttr::get(ctx, spec.layout));
  auto op = AttentionOp::create(
      b, loc, resultTypes[0], spec.withLse ? Type(resultTypes[1]) : Type(),
      inputs[0], key, value, spec.withBias ? inputs[nextInput] : Value(),
      spec.withBoolMask ? inputs[nextInput + spec.withBias] : Value(),
      withLengths ? inputs[nextInput + spec.withBias + spec.withBoolMask]
                  : Value(),
      withSinks ? inputs.back() : Value(),
      spec.isVarlen() ? inputs[cuSeqlensInput] : Value(),
      spec.isVarlen() && !spec.isVarlenCache() ? inputs[cuSeqlensInput + 1]
                                               : Value(),
      spec.scale ? b.getF64FloatAttr(*spec.scale) : FloatAttr(),
      MaskKindAttr::get(ctx, spec.maskKind),
      spec.maskKind == MaskKind::SlidingWindow
          ? b.getDenseI64ArrayAttr({spec.windowLeft, spec.windowRight})
          : DenseI64ArrayAttr(),
      spec.softcap ? b.getF64FloatAttr(*spec.softcap) : FloatAttr(),
      spec.alibiSlopes.empty() ? DenseF64ArrayAttr()
                               : b.getDenseF64ArrayAttr(spec.alibiSlopes),
      LayoutAttr::get(ctx, spec.layout),
      spec.headOffset ? b.getI64IntegerAttr(spec.headOffset) : IntegerAttr(),
      spec.isHeadShard() ? b.getI64IntegerAttr(spec.totalQueryHeads())
                         : IntegerAttr());
  buildModifierRegions(b, loc, spec, op.getScoreMod(), op.getMaskMod());

  ArrayRef<BlockArgument> outArgs =
      entry->getArguments().drop_front(inputTypes.size());
  SmallVector<std::pair<Value, Value>> stores;
  for (auto [result, dest] : llvm::zip(op->getResults(), outArgs))
    stores.push_back({result, dest});
  // An append persists: the caches (arguments 1 and 2) receive their new
  // tokens, as a serving step expects of its KV cache.
  if (appended > 0) {
    stores.push_back({key, entry->getArgument(1)});
    stores.push_back({value, entry->getArgument(2)});
  }
  for (auto [result, dest] : stores) {
    auto store = bufferization::MaterializeInDestinationOp::create(
        b, loc, Type(), result, dest);
    store.setRestrict(true);
    store.setWritable(true);
  }
  func::ReturnOp::create(b, loc);

  if (failed(verify(*module)))
    return nullptr;
  return module;
}

LogicalResult mlir::attn::convertToMemrefEntry(ModuleOp module,
                                               StringRef funcName) {
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal() || !func.getBody().hasOneBlock())
    return failure();
  SmallVector<Type> argTypes;
  for (Type type : llvm::concat<const Type>(func.getArgumentTypes(),
                                            func.getResultTypes())) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || !tensor.hasStaticShape())
      return failure();
    argTypes.push_back(
        MemRefType::get(tensor.getShape(), tensor.getElementType()));
  }

  MLIRContext *ctx = module.getContext();
  ctx->loadDialect<bufferization::BufferizationDialect,
                   memref::MemRefDialect>();
  OpBuilder b(func);
  Location loc = func.getLoc();
  auto entry =
      func::FuncOp::create(b, loc, funcName, b.getFunctionType(argTypes, {}));
  entry->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *block = entry.addEntryBlock();
  b.setInsertionPointToStart(block);
  IRMapping mapping;
  for (auto [arg, memref] :
       llvm::zip(func.getArguments(), block->getArguments()))
    mapping.map(arg, bufferization::ToTensorOp::create(
                         b, loc, arg.getType(), memref, /*restrict=*/true,
                         /*writable=*/false));
  ArrayRef<BlockArgument> outArgs =
      block->getArguments().drop_front(func.getNumArguments());
  for (Operation &op : func.getBody().front()) {
    auto ret = dyn_cast<func::ReturnOp>(op);
    if (!ret) {
      b.clone(op, mapping);
      continue;
    }
    for (auto [value, dest] : llvm::zip(ret.getOperands(), outArgs)) {
      auto store = bufferization::MaterializeInDestinationOp::create(
          b, loc, Type(), mapping.lookupOrDefault(value), dest);
      store.setRestrict(true);
      store.setWritable(true);
    }
  }
  func::ReturnOp::create(b, loc);
  func.erase();
  return success();
}

OwningOpRef<ModuleOp>
mlir::attn::buildAttentionBackwardModule(MLIRContext *ctx,
                                         const AttentionSpec &spec,
                                         StringRef funcName) {
  ctx->loadDialect<AttnDialect, arith::ArithDialect,
                   bufferization::BufferizationDialect, func::FuncDialect,
                   math::MathDialect, memref::MemRefDialect>();
  OpBuilder b(ctx);
  Location loc = specLocation(ctx, spec);
  if (spec.pageSize > 0 || spec.appendTokens > 0) {
    emitError(loc) << "expected dense K and V for a backward spec (no paged "
                      "cache, no appended tokens)";
    return nullptr;
  }
  // attn.attention_backward has no head_offset: a shard whose scores depend
  // on the global head would get the heads of an unsharded attention.
  if (spec.isHeadShard() &&
      (!spec.alibiSlopes.empty() || spec.scoreMod != ScoreModKind::None)) {
    emitError(loc) << "expected no tensor-parallel head shard (--head-offset, "
                      "--heads-total) with ALiBi or a score_mod for a "
                      "backward spec (the backward op has no head_offset)";
    return nullptr;
  }
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  Type elt = getElementType(ctx, spec.elementType);
  auto tensorOf = [&](ArrayRef<int64_t> shape, Type type) {
    return RankedTensorType::get(shape, type);
  };
  SmallVector<RankedTensorType> inputTypes = {
      tensorOf(spec.queryShape(), elt), tensorOf(spec.keyShape(), elt),
      tensorOf(spec.valueShape(), elt), tensorOf(spec.outputShape(), elt),
      tensorOf(spec.outputShape(), elt),
      tensorOf(spec.lseShape(), getElementType(ctx, spec.lseElementType()))};
  if (spec.withBias)
    inputTypes.push_back(tensorOf(spec.biasShape(), elt));
  if (spec.withBoolMask)
    inputTypes.push_back(tensorOf(spec.scoreShape(), b.getI1Type()));
  bool withLengths = !spec.keyLengths.empty();
  if (withLengths)
    inputTypes.push_back(tensorOf({spec.batch}, b.getI32Type()));
  bool withSinks = !spec.sinks.empty();
  RankedTensorType sinksType =
      tensorOf({spec.numQueryHeads}, b.getF32Type());
  if (withSinks)
    inputTypes.push_back(sinksType);
  // cu_seqlens_q and cu_seqlens_k [N+1] (the spec verifier refused varlen
  // over caches for a backward).
  if (spec.isVarlen())
    for (int i = 0; i < 2; ++i)
      inputTypes.push_back(
          tensorOf({spec.numSequences() + 1}, b.getI32Type()));
  // grad_lse last, of the LSE's type.
  if (spec.withLseGradient)
    inputTypes.push_back(inputTypes[5]);
  SmallVector<RankedTensorType> resultTypes = {inputTypes[0], inputTypes[1],
                                               inputTypes[2]};
  bool withBiasGradient = spec.withBias && spec.withBiasGradient;
  if (withBiasGradient)
    resultTypes.push_back(inputTypes[6]);
  if (withSinks)
    resultTypes.push_back(sinksType);

  SmallVector<Value> inputs;
  Block *entry =
      createEntryFunction(b, loc, funcName, inputTypes, resultTypes, inputs);
  int64_t next = 6;
  Value bias = spec.withBias ? inputs[next++] : Value();
  Value mask = spec.withBoolMask ? inputs[next++] : Value();
  Value lengths = withLengths ? inputs[next++] : Value();
  Value sinks = withSinks ? inputs[next++] : Value();
  Value cuQ = spec.isVarlen() ? inputs[next++] : Value();
  Value cuK = spec.isVarlen() ? inputs[next++] : Value();
  Value gradLse = spec.withLseGradient ? inputs[next++] : Value();
  auto op = AttentionBackwardOp::create(
      b, loc, resultTypes[0], resultTypes[1], resultTypes[2],
      withBiasGradient ? Type(resultTypes[3]) : Type(),
      withSinks ? Type(sinksType) : Type(), inputs[0], inputs[1], inputs[2],
      inputs[3], inputs[4], inputs[5], bias, mask, lengths, sinks, cuQ, cuK,
      gradLse, spec.scale ? b.getF64FloatAttr(*spec.scale) : FloatAttr(),
      MaskKindAttr::get(ctx, spec.maskKind),
      spec.maskKind == MaskKind::SlidingWindow
          ? b.getDenseI64ArrayAttr({spec.windowLeft, spec.windowRight})
          : DenseI64ArrayAttr(),
      spec.softcap ? b.getF64FloatAttr(*spec.softcap) : FloatAttr(),
      spec.alibiSlopes.empty() ? DenseF64ArrayAttr()
                               : b.getDenseF64ArrayAttr(spec.alibiSlopes),
      LayoutAttr::get(ctx, spec.layout));
  buildModifierRegions(b, loc, spec, op.getScoreMod(), op.getMaskMod());
  ArrayRef<BlockArgument> outArgs =
      entry->getArguments().drop_front(inputTypes.size());
  for (auto [result, dest] : llvm::zip(op->getResults(), outArgs)) {
    auto store = bufferization::MaterializeInDestinationOp::create(
        b, loc, Type(), result, dest);
    store.setRestrict(true);
    store.setWritable(true);
  }
  func::ReturnOp::create(b, loc);
  if (failed(verify(*module)))
    return nullptr;
  return module;
}
