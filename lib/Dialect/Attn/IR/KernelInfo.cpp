//===- KernelInfo.cpp - #attn.kernel_info: verifier and builder -----------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/KernelInfo.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

LogicalResult
KernelArgumentAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                           StringRef name, ArgumentRole role,
                           TensorMapAttr tensorMap) {
  if (name.empty())
    return emitError() << "expected a non-empty kernel argument name";
  if ((role == ArgumentRole::TensorMap) != static_cast<bool>(tensorMap))
    return emitError() << "expected a #attn.tensor_map exactly on a "
                          "tensor_map argument ('"
                       << name << "')";
  return success();
}

LogicalResult
TensorMapAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      StringRef source, ArrayRef<int64_t> box,
                      int64_t swizzle) {
  if (source.empty())
    return emitError() << "expected a non-empty tensor map source";
  // cuTensorMapEncodeTiled: rank 1 to 5, box extents 1 to 256.
  if (box.empty() || box.size() > 5)
    return emitError() << "expected a tensor map box of rank 1 to 5, got "
                       << box.size();
  for (int64_t extent : box)
    if (extent < 1 || extent > 256)
      return emitError() << "expected tensor map box extents in [1, 256], "
                            "got "
                         << extent;
  if (swizzle != 0 && swizzle != 32 && swizzle != 64 && swizzle != 128)
    return emitError() << "expected a tensor map swizzle of 0, 32, 64 or "
                          "128 bytes, got "
                       << swizzle;
  return success();
}

/// One #attn.kernel_arg per name of `desc` (with its tensor map, if any).
static FailureOr<SmallVector<Attribute>>
buildArguments(Operation *anchor, const KernelLaunchDesc &desc) {
  if (desc.names.size() != desc.roles.size() ||
      (!desc.tensorMaps.empty() &&
       desc.tensorMaps.size() != desc.names.size()))
    return anchor->emitOpError("expected one role (and tensor map entry) per "
                               "kernel argument name");
  MLIRContext *ctx = anchor->getContext();
  SmallVector<Attribute> arguments;
  for (auto [i, name, role] : llvm::enumerate(desc.names, desc.roles)) {
    auto map = desc.tensorMaps.empty()
                   ? TensorMapAttr()
                   : dyn_cast_or_null<TensorMapAttr>(desc.tensorMaps[i]);
    auto emit = [&]() { return anchor->emitOpError("kernel argument: "); };
    if (failed(KernelArgumentAttr::verify(emit, name, role, map)))
      return failure();
    arguments.push_back(KernelArgumentAttr::get(ctx, StringRef(name), role, map));
  }
  return arguments;
}

LogicalResult
TileSizesAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      int64_t blockM, int64_t blockN, bool packGqa,
                      int64_t numSplits) {
  for (int64_t v : {blockM, blockN, numSplits})
    if (v < 1)
      return emitError() << "expected tile sizes >= 1, got " << v;
  return success();
}

LogicalResult BackwardScheduleAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, int64_t blockM,
    int64_t blockN, bool /*deterministic*/, int64_t dqBlockM,
    StringRef dqReduction, bool /*rotateQBlocks*/, bool /*squareWarpTiles*/,
    int64_t dqWarpRows, bool /*hopper*/) {
  for (int64_t v : {blockM, blockN, dqBlockM})
    if (v < 1)
      return emitError() << "expected block sizes >= 1, got " << v;
  if (dqReduction != "atom" && dqReduction != "red-v2" &&
      dqReduction != "red-v4")
    return emitError() << "expected dq_reduction atom, red-v2 or red-v4, got '"
                       << dqReduction << "'";
  if (dqWarpRows != 16 && dqWarpRows != 32)
    return emitError() << "expected dq_warp_rows 16 or 32, got " << dqWarpRows;
  return success();
}

LogicalResult KernelInfoAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, StringRef family,
    StringRef gridFormula, int64_t sharedMemoryBytes, int64_t blockM,
    int64_t blockN, int64_t numWarps, int64_t numSplits, int64_t keysPerWarp,
    int64_t stages, ArrayAttr arguments, MaskKind mask, FloatAttr scale,
    FloatAttr softcap, DenseI64ArrayAttr window, Layout layout, Type queryType,
    Type keyType, Type valueType, Type outputType, int64_t batch,
    int64_t headsQ, int64_t headsKV, int64_t seqQ, int64_t seqK,
    int64_t headDim, int64_t valueHeadDim, BoolAttr lse, BoolAttr keyLengths,
    BoolAttr alibi, BoolAttr scoreMod, StringRef kvView, int64_t headOffset,
    bool /*varlen*/) {
  if (family != "prefill" && family != "decode" && family != "hopper" &&
      family != "backward" && family != "hopper-backward" &&
      family != "convert")
    return emitError() << "expected family prefill, decode, hopper, "
                          "backward, hopper-backward or convert, got '"
                       << family << "'";
  if (sharedMemoryBytes < 0)
    return emitError() << "expected shared_memory_bytes >= 0, got "
                       << sharedMemoryBytes;
  for (int64_t v : {blockM, blockN, numWarps, numSplits, keysPerWarp, stages})
    if (v < 0)
      return emitError() << "expected tile parameters >= 0, got " << v;
  for (Attribute a : arguments)
    if (!isa<KernelArgumentAttr>(a))
      return emitError() << "expected #attn.kernel_arg arguments, got " << a;
  if (!scale || !std::isfinite(scale.getValueAsDouble()))
    return emitError() << "expected a finite scale";
  if (softcap && !(softcap.getValueAsDouble() > 0 &&
                   std::isfinite(softcap.getValueAsDouble())))
    return emitError() << "expected a finite softcap > 0, got " << softcap;
  if (static_cast<bool>(window) != (mask == MaskKind::SlidingWindow) ||
      (window && window.size() != 2))
    return emitError() << "expected a window of two extents exactly with the "
                          "sliding_window mask";
  for (int64_t v : {headsQ, headsKV, headDim, valueHeadDim})
    if (v < 1)
      return emitError() << "expected static extents >= 1, got " << v;
  // -1: a runtime length (dynamic dim), passed to the kernel at launch.
  for (int64_t v : {batch, seqQ, seqK})
    if (v < 1 && v != kRuntimeLength)
      return emitError() << "expected extents >= 1 or -1 (a runtime length), "
                            "got "
                         << v;
  if (headsQ % headsKV != 0)
    return emitError() << "expected heads_q (" << headsQ
                       << ") to be a multiple of heads_kv (" << headsKV << ")";
  if (!lse || !keyLengths || !alibi || !scoreMod)
    return emitError() << "expected lse, key_lengths, alibi and score_mod";
  if (kvView.empty())
    return emitError() << "expected a kv_view";
  if (headOffset < 0)
    return emitError() << "expected head_offset >= 0, got " << headOffset;
  return success();
}

/// B, Lq and Lk as the kernel info records them.
static int64_t toKernelInfoExtent(int64_t extent) {
  return ShapedType::isDynamic(extent) ? kRuntimeLength : extent;
}

FailureOr<KernelInfoAttr>
mlir::attn::buildKernelInfo(AttentionOp op, const KernelLaunchDesc &desc) {
  MLIRContext *ctx = op.getContext();
  Builder b(ctx);
  FailureOr<SmallVector<Attribute>> arguments = buildArguments(op, desc);
  if (failed(arguments))
    return failure();
  MaskKind mask = op.getMaskKind();
  DenseI64ArrayAttr window =
      mask == MaskKind::SlidingWindow ? op.getWindowAttr() : nullptr;
  auto elementType = [](RankedTensorType t) { return t.getElementType(); };
  auto emit = [&]() { return op.emitOpError("kernel info: "); };
  KernelInfoAttr info = KernelInfoAttr::getChecked(
      emit, ctx, desc.family, desc.gridFormula, desc.sharedMemoryBytes,
      desc.blockM, desc.blockN, desc.numWarps, desc.numSplits, desc.keysPerWarp,
      desc.stages, b.getArrayAttr(*arguments), mask,
      b.getF64FloatAttr(op.getEffectiveScale()), op.getSoftcapAttr(), window,
      op.getLayout(), elementType(op.getQueryType()),
      elementType(op.getKeyType()), elementType(op.getValueType()),
      elementType(op.getOutputType()),
      toKernelInfoExtent(op.getQueryType().getDimSize(0)),
      op.getNumQueryHeads(), op.getNumKVHeads(),
      toKernelInfoExtent(op.getQueryLength()),
      toKernelInfoExtent(op.getKeyLength()), op.getHeadDim(),
      op.getValueHeadDim(),
      b.getBoolAttr(static_cast<bool>(op.getLse())),
      b.getBoolAttr(static_cast<bool>(op.getKeyLengths())),
      b.getBoolAttr(op.getAlibiSlopes().has_value()),
      b.getBoolAttr(!op.getScoreMod().empty()),
      desc.keyView ? desc.keyView->getName().getStringRef() : "tensor",
      op.getGlobalHeadOffset(), op.isVarlen());
  if (!info)
    return failure();
  return info;
}

FailureOr<KernelInfoAttr> mlir::attn::withLaunch(Operation *anchor,
                                                 KernelInfoAttr planned,
                                                 const KernelLaunchDesc &desc) {
  MLIRContext *ctx = anchor->getContext();
  Builder b(ctx);
  FailureOr<SmallVector<Attribute>> arguments = buildArguments(anchor, desc);
  if (failed(arguments))
    return failure();
  auto emit = [&]() { return anchor->emitOpError("kernel info: "); };
  KernelInfoAttr info = KernelInfoAttr::getChecked(
      emit, ctx, desc.family, desc.gridFormula, desc.sharedMemoryBytes,
      desc.blockM, desc.blockN, desc.numWarps, desc.numSplits, desc.keysPerWarp,
      desc.stages, b.getArrayAttr(*arguments), planned.getMask(),
      planned.getScale(), planned.getSoftcap(), planned.getWindow(),
      planned.getLayout(), planned.getQueryType(), planned.getKeyType(),
      planned.getValueType(), planned.getOutputType(), planned.getBatch(),
      planned.getHeadsQ(), planned.getHeadsKv(), planned.getSeqQ(),
      planned.getSeqK(), planned.getHeadDim(), planned.getValueHeadDim(),
      planned.getLse(), planned.getKeyLengths(), planned.getAlibi(),
      planned.getScoreMod(),
      desc.keyView ? desc.keyView->getName().getStringRef() : "tensor",
      planned.getHeadOffset(), planned.getVarlen());
  if (!info)
    return failure();
  return info;
}

FailureOr<KernelInfoAttr>
mlir::attn::buildKernelInfo(AttentionBackwardOp op,
                            const KernelLaunchDesc &desc) {
  MLIRContext *ctx = op.getContext();
  Builder b(ctx);
  FailureOr<SmallVector<Attribute>> arguments = buildArguments(op, desc);
  if (failed(arguments))
    return failure();
  MaskKind mask = op.getMaskKind();
  DenseI64ArrayAttr window =
      mask == MaskKind::SlidingWindow ? op.getWindowAttr() : nullptr;
  auto elementType = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getElementType();
  };
  auto emit = [&]() { return op.emitOpError("kernel info: "); };
  KernelInfoAttr info = KernelInfoAttr::getChecked(
      emit, ctx, desc.family, desc.gridFormula, desc.sharedMemoryBytes,
      desc.blockM, desc.blockN, desc.numWarps, desc.numSplits, desc.keysPerWarp,
      desc.stages, b.getArrayAttr(*arguments), mask,
      b.getF64FloatAttr(op.getEffectiveScale()), op.getSoftcapAttr(), window,
      op.getLayout(), elementType(op.getQuery()), elementType(op.getKey()),
      elementType(op.getValue()), elementType(op.getOutput()),
      op.getQueryType().getDimSize(0), op.getNumQueryHeads(),
      op.getNumKVHeads(), op.getQueryLength(), op.getKeyLength(),
      op.getHeadDim(), op.getValueHeadDim(), b.getBoolAttr(true),
      b.getBoolAttr(static_cast<bool>(op.getKeyLengths())),
      b.getBoolAttr(op.getAlibiSlopes().has_value()),
      b.getBoolAttr(!op.getScoreMod().empty()), StringRef("tensor"),
      /*headOffset=*/int64_t(0), op.isVarlen());
  if (!info)
    return failure();
  return info;
}
