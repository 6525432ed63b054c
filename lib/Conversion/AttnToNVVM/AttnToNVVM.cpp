//===- AttnToNVVM.cpp - tiled attention programs to GPU kernels -----------===//
//
// Part of attn-mlir. The two GPU passes around the tiling passes:
// attn-plan-gpu-kernels reads each attention op into a KernelProblem
// (checking what no family supports), picks its kernel family
// (KernelFamily.h), plans the launch and records the plan and the tiles on
// the op; after attn-tile, attn-fuse-online-softmax and attn-lower-precision,
// convert-attn-to-nvvm reads each tiled program (TiledProgram.h), drives its
// family through arguments and emit, and replaces the program's host side by
// a gpu.launch_func whose grid, block, shared memory and #attn.kernel_info
// are the launch contract.
//
//===----------------------------------------------------------------------===//

#include "KernelFamily.h"

#include "attn/Analysis/CostModel.h"
#include "attn/Analysis/TileConfig.h"
#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/KernelInfo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/MathExtras.h"

#define DEBUG_TYPE "convert-attn-to-nvvm"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPLANGPUKERNELS
#define GEN_PASS_DEF_CONVERTATTNTONVVM
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

LogicalResult mlir::attn::checkGpuModifierRegion(Operation *op, Region &region,
                                                 StringRef name) {
  if (region.empty())
    return success();
  for (Operation &nested : region.front().without_terminator()) {
    bool lowerable =
        isa<arith::ArithDialect, math::MathDialect>(nested.getDialect());
    if (!lowerable || nested.getNumRegions() != 0 ||
        !isMemoryEffectFree(&nested))
      return op->emitOpError("expected ")
             << name << " ops from the arith or math dialects on the GPU "
             << "path, got " << nested.getName();
  }
  // The kernel is isolated from the host: it can only clone what the region
  // computes from its own arguments, and constants (which canonicalization
  // may hoist out of it; the kernels clone them too).
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(region, captured);
  for (Value value : captured) {
    Operation *def = value.getDefiningOp();
    if (!def || !def->hasTrait<OpTrait::ConstantLike>())
      return op->emitOpError("expected ")
             << name << " to use no value defined above it on the GPU path "
             << "but constants";
  }
  return success();
}

static LogicalResult checkScoreMod(AttentionOp op) {
  if (failed(checkGpuModifierRegion(op, op.getScoreMod(), "score_mod")))
    return failure();
  return checkGpuModifierRegion(op, op.getMaskMod(), "mask_mod");
}

/// The bias and boolean mask operands as the kernels read them: [B, Hq, Lq,
/// Lk] memrefs whose size-1 extents broadcast (the verifier's rule), bias
/// elements of the inputs' float types or f32, mask elements one byte each.
static LogicalResult readScoreOperands(AttentionOp op, KernelProblem &p) {
  auto shapeOf = [](Value v) {
    return llvm::to_vector(cast<RankedTensorType>(v.getType()).getShape());
  };
  if (Value bias = op.getBias()) {
    auto type = cast<RankedTensorType>(bias.getType());
    Type elt = type.getElementType();
    if (!elt.isBF16() && !elt.isF16() && !elt.isF32())
      return op.emitOpError("expected a bf16, f16 or f32 bias on the GPU "
                            "path, got ")
             << elt;
    p.biasShape = shapeOf(bias);
    p.biasBytes = elt.getIntOrFloatBitWidth() / 8;
    p.biasIsBF16 = elt.isBF16();
  }
  if (Value mask = op.getMask())
    p.maskShape = shapeOf(mask);
  for (ArrayRef<int64_t> shape : {ArrayRef<int64_t>(p.biasShape),
                                  ArrayRef<int64_t>(p.maskShape)})
    if (!shape.empty() && ShapedType::isDynamicShape(shape))
      return op.emitOpError("expected static bias and mask shapes on the GPU "
                            "path");
  if (!op.getMaskMod().empty())
    p.maskMod = &op.getMaskMod();
  p.withSinks = static_cast<bool>(op.getSinks());
  return success();
}

/// The KV cache view behind K or V, or null for a plain tensor; fails for a
/// view without the GPU address hook.
static FailureOr<Operation *> getKVView(AttentionOp op, Value kv) {
  auto view = kv.getDefiningOp<KVCacheViewInterface>();
  if (!view)
    return static_cast<Operation *>(nullptr);
  if (view.getStorage().empty())
    return op.emitOpError("expected K and V views with a GPU address hook "
                          "(KVCacheViewInterface::getStorage), got ")
           << view->getName();
  return view.getOperation();
}

LogicalResult mlir::attn::detail::getProblemStrides(Operation *anchor,
                                                  Layout layout, Value query,
                                                  Value key, Value value,
                                                  Value output,
                                                  KernelProblem &p) {
  p.layout = layout;
  for (auto [tensor, strides, what] :
       {std::tuple<Value, OperandStrides *, StringRef>{query, &p.query, "Q"},
        {key, &p.key, "K"},
        {value, &p.value, "V"},
        {output, &p.output, "O"}}) {
    FailureOr<OperandStrides> s =
        getOperandStrides(anchor, tensor, layout, what);
    if (failed(s))
      return failure();
    *strides = *s;
  }
  return success();
}

/// Runtime lengths: B (dim 0) and the sequence dim (dim 2) of Q, K, V and O
/// may be dynamic, heads and head dims may not; the op's verifier makes the
/// shapes agree where both sides are static.
static LogicalResult checkDynamicDims(AttentionOp op) {
  for (RankedTensorType type : {op.getQueryType(), op.getKeyType(),
                                op.getValueType(), op.getOutputType()})
    if (type.getRank() != 4 || type.isDynamicDim(1) || type.isDynamicDim(3))
      return op.emitOpError("expected static heads and head dims on the GPU "
                            "path (B, Lq and Lk may be dynamic), got ")
             << type;
  // A kernel has one B: Q and K are both static or both dynamic in it.
  if (op.getQueryType().isDynamicDim(0) != op.getKeyType().isDynamicDim(0) ||
      op.getQueryType().isDynamicDim(0) != op.getOutputType().isDynamicDim(0))
    return op.emitOpError("expected B dynamic in Q, K, V and O alike on the "
                          "GPU path");
  if (op.getKeyType().isDynamicDim(2) != op.getValueType().isDynamicDim(2) ||
      op.getQueryType().isDynamicDim(2) != op.getOutputType().isDynamicDim(2))
    return op.emitOpError("expected Lk dynamic in K and V alike and Lq in Q "
                          "and O alike on the GPU path");
  return success();
}

LogicalResult mlir::attn::detail::getRuntimeLengthStrides(
    Operation *anchor, Layout layout, Value query, Value key, Value value,
    Value output, KernelProblem &p) {
  if (layout != Layout::BHSD)
    return anchor->emitOpError("expected the bhsd layout with dynamic lengths "
                               "on the GPU path (BSHD and strides: static "
                               "shapes)");
  p.layout = Layout::BHSD;
  for (auto [tensor, strides, rowElements] :
       {std::tuple<Value, OperandStrides *, int64_t>{query, &p.query,
                                                     p.headDim},
        {key, &p.key, p.headDim},
        {value, &p.value, p.valueHeadDim},
        {output, &p.output, p.valueHeadDim}}) {
    auto type = cast<ShapedType>(tensor.getType());
    if (type.hasStaticShape()) {
      FailureOr<OperandStrides> s =
          getOperandStrides(anchor, tensor, Layout::BHSD, "an operand");
      if (failed(s))
        return failure();
      *strides = *s;
      continue;
    }
    *strides = {ShapedType::kDynamic, ShapedType::kDynamic, rowElements};
  }
  return success();
}

bool mlir::attn::isSupportedGpuHeadDim(int64_t headDim) {
  // Rows are whole k16 steps of mma.sync (and 16-byte chunks); up to 256 the
  // O accumulators of a 16-row warp tile fit the register file.
  return headDim % 16 == 0 && headDim >= 32 && headDim <= 256;
}

FailureOr<KernelProblem>
mlir::attn::getKernelProblem(AttentionOp op, const ConvertAttnToNVVMOptions &o) {
  auto fail = [&](const Twine &msg) { return op.emitOpError(msg); };
  if (o.numWarps < 4 || o.numWarps > 8 || !llvm::isPowerOf2_64(o.numWarps))
    return fail("expected num-warps of 4 or 8, got " + Twine(o.numWarps));
  if (failed(checkScoreMod(op)))
    return failure();
  Type elt = op.getQueryType().getElementType();
  // The tensor cores take bf16 / f16. f32 runs only where the user opted
  // in to its rounding (f32-compute: attn-round-f32-inputs turned it into
  // a bf16 / f16 attention before this point).
  if (!elt.isBF16() && !elt.isF16())
    return fail("expected bf16 or f16 inputs on the GPU path, got ")
               << elt
               << (elt.isF32()
                       ? " (f32-compute=bf16 or f16 runs it on rounded "
                         "copies of Q, K and V, as accurate as a bf16 / f16 "
                         "call; f32-compute=refuse, the default, does not "
                         "round silently; or use the CPU path)"
                       : ""),
           failure();
  if (op.getOutputType().getElementType() != elt)
    return fail("expected the output element type to match the inputs'");
  // Varlen: packed [1, T, H, D] operands, checked by getVarlenProblem.
  if (!op.isVarlen() && failed(checkDynamicDims(op)))
    return failure();
  if (failed(checkSharedKVCache(op)))
    return failure();
  int64_t headDim = op.getHeadDim(), valueHeadDim = op.getValueHeadDim();
  // Latent rows over one shared cache (checkSharedKVCache took them): the
  // decode family's latent kernel.
  bool latentRows = op.getValue().getDefiningOp<KVPrefixOp>() &&
                    isLatentSharedKVShape(headDim, valueHeadDim);
  if (!latentRows && (!isSupportedGpuHeadDim(headDim) ||
                      !isSupportedGpuHeadDim(valueHeadDim)))
    return fail("expected head dims D and Dv that are multiples of 16 in "
                "[32, 256] on the GPU path, got D = " +
                Twine(headDim) + ", Dv = " + Twine(valueHeadDim));

  KernelProblem p;
  p.batch = op.getQueryType().getDimSize(0);
  p.headsQ = op.getNumQueryHeads();
  p.headsKV = op.getNumKVHeads();
  p.seqQ = op.getQueryLength();
  p.seqK = op.getKeyLength();
  p.headDim = headDim;
  p.valueHeadDim = valueHeadDim;
  p.isBF16 = elt.isBF16();
  p.withLse = static_cast<bool>(op.getLse());
  p.withKeyLengths = static_cast<bool>(op.getKeyLengths());
  FailureOr<Operation *> keyView = getKVView(op, op.getKey());
  FailureOr<Operation *> valueView = getKVView(op, op.getValue());
  if (failed(keyView) || failed(valueView))
    return failure();
  if (static_cast<bool>(*keyView) != static_cast<bool>(*valueView))
    return fail("expected K and V to be both views or both tensors");
  p.keyView = *keyView;
  p.valueView = *valueView;
  p.scale = op.getEffectiveScale();
  p.softcap = op.getSoftcapValue();
  p.headOffset = op.getGlobalHeadOffset();
  // The verifier guarantees one slope per global head; the kernel indexes
  // this shard's slice by local head.
  if (std::optional<ArrayRef<double>> slopes = op.getAlibiSlopes())
    llvm::append_range(p.alibiSlopes, slopes->slice(p.headOffset, p.headsQ));
  if (!op.getScoreMod().empty())
    p.scoreMod = &op.getScoreMod();
  if (failed(readScoreOperands(op, p)))
    return failure();
  p.dynamicBatch = ShapedType::isDynamic(p.batch);
  p.dynamicSeqQ = ShapedType::isDynamic(p.seqQ);
  p.dynamicSeqK = ShapedType::isDynamic(p.seqK);
  p.visibility = op.getKeyVisibility();
  if (op.isVarlen()) {
    if (failed(getVarlenProblem(op, p)))
      return failure();
    return p; // Each program reads its sequence's lengths at run time.
  }
  if (p.hasDynamicLengths() && p.keyView)
    return fail("expected static shapes with K/V cache views on the GPU "
                "path (dynamic lengths: plain K and V tensors only)");
  if (p.hasDynamicLengths()) {
    if (failed(getRuntimeLengthStrides(op, op.getLayout(), op.getQuery(),
                                       op.getKey(), op.getValue(),
                                       op.getOutput(), p)))
      return failure();
    return p; // The runtime checks the lengths and sizes at launch.
  }
  if (p.seqQ < 1 || p.seqK < 1)
    return fail("expected non-empty query and key sequences");
  if (p.batch * p.headsQ * p.seqQ * headDim * 2 >= (int64_t(1) << 40) ||
      p.batch * p.headsKV * p.seqK * headDim * 2 >= (int64_t(1) << 40))
    return fail("expected tensors under 1 TiB");
  ConstArith constants;
  p.diagOffset = p.visibility.diagonal(constants, p.seqQ, p.seqK);
  if (failed(getProblemStrides(op, op.getLayout(), op.getQuery(), op.getKey(),
                               op.getValue(), op.getOutput(), p)))
    return failure();
  return p;
}

/// The family `options.kernel` asks for, "auto" resolved: decode when the
/// query rows of a KV group fit one m16 tile; on sm_90a the hopper (wgmma)
/// family where it supports the problem; else prefill (mma.sync).
static StringRef resolveKernelKind(Operation *op, const KernelProblem &p,
                                   const ConvertAttnToNVVMOptions &o) {
  if (o.kernel != "auto")
    return o.kernel;
  // Latent rows (MLA over one shared cache): only decode's latent kernel.
  if (needsLatentDecode(p))
    return "decode";
  if (p.varlen) // the families that read per-sequence offsets
    return p.varlenCache ? "decode" : "prefill";
  // Runtime lengths: the families that take them (supportsRuntimeLengths):
  // decode for a runtime Lk alone (a growing cache), else prefill.
  if (p.hasDynamicLengths())
    return !p.dynamicBatch && !p.dynamicSeqQ &&
                   p.headsQ / p.headsKV * p.seqQ <= 16
               ? "decode"
               : "prefill";
  if (p.headsQ / p.headsKV * p.seqQ <= 16)
    return "decode";
  if (o.chip == "sm_90a" && hopperFamilySupports(op, p, o))
    return "hopper";
  return "prefill";
}

/// Which families take runtime lengths (dynamic B, Lq, Lk); "expected ..."
/// at `op` for the others.
static LogicalResult supportsRuntimeLengths(Operation *op,
                                            const KernelProblem &p,
                                            StringRef kind) {
  if (!p.hasDynamicLengths() || kind == "prefill")
    return success();
  if (kind == "decode" && !p.dynamicBatch && !p.dynamicSeqQ)
    return success();
  if (kind == "decode")
    return op->emitOpError("expected static B and Lq for the decode family "
                           "(dynamic lengths: Lk only; the prefill family "
                           "takes all three)");
  return op->emitOpError("expected static B, Lq and Lk for the ")
         << kind << " family (dynamic lengths: prefill and decode families "
                    "only)";
}

static FailureOr<std::unique_ptr<KernelFamily>>
selectKernelFamily(Operation *op, const KernelProblem &p,
                   const ConvertAttnToNVVMOptions &o) {
  StringRef kind = resolveKernelKind(op, p, o);
  if (needsLatentDecode(p) && kind != "decode")
    return op->emitOpError("expected kernel=decode or auto for latent rows "
                           "over one shared K/V cache (D = ")
           << p.headDim << ", Dv = " << p.valueHeadDim
           << "): only the decode family's latent kernel holds them, got '"
           << kind << "'";
  if (failed(supportsVarlen(op, p, kind)) ||
      failed(supportsRuntimeLengths(op, p, kind)))
    return failure();
  if (kind == "prefill")
    return createPrefillFamily(o);
  if (kind == "decode")
    return createDecodeFamily(o);
  if (kind == "hopper")
    return createHopperFamily(o);
  return op->emitOpError("expected kernel of auto, prefill, decode or "
                         "hopper, got '")
         << o.kernel << "'";
}

namespace {

/// The options of either GPU pass, as one struct (the passes declare the
/// same list, AttnGpuKernelOptions in Passes.td).
template <typename To, typename From>
To copyGpuKernelOptions(const From &from) {
  To to;
  to.blockM = from.blockM;
  to.blockN = from.blockN;
  to.numWarps = from.numWarps;
  to.kernel = from.kernel;
  to.numSplits = from.numSplits;
  to.numSMs = from.numSMs;
  to.chip = from.chip;
  to.hopperBlockN = from.hopperBlockN;
  to.hopperStages = from.hopperStages;
  to.hopperPingPong = from.hopperPingPong;
  to.hopperOverlap = from.hopperOverlap;
  to.hopperPersistent = from.hopperPersistent;
  to.hopperScheduler = from.hopperScheduler;
  to.hopperGroupBytes = from.hopperGroupBytes;
  to.hopperQShared = from.hopperQShared;
  to.hopperLoads = from.hopperLoads;
  to.hopperEpilogue = from.hopperEpilogue;
  to.hopperQPrefetch = from.hopperQPrefetch;
  to.hopperPolyExp2 = from.hopperPolyExp2;
  to.hopperTreeReductions = from.hopperTreeReductions;
  to.hopperConsumers = from.hopperConsumers;
  to.decodeNumWarps = from.decodeNumWarps;
  to.decodeKeysPerWarp = from.decodeKeysPerWarp;
  to.decodeStages = from.decodeStages;
  to.kernelModuleName = from.kernelModuleName;
  to.f32Compute = from.f32Compute;
  to.tileModel = from.tileModel;
  return to;
}

/// The kernel's parameter type for a host argument of `type`: a memref with
/// dynamic dims (runtime lengths) becomes the memref with those dims 1. The
/// bare-pointer convention passes static memrefs only, and the kernel reads
/// nothing of the type but the pointer and element type (it indexes with
/// the Length arguments).
static Type getKernelParamType(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  if (!memref || memref.hasStaticShape())
    return type;
  return memref.clone(llvm::map_to_vector(memref.getShape(), [](int64_t d) {
    return ShapedType::isDynamic(d) ? int64_t(1) : d;
  }));
}

/// The launch's operand for host argument `value`: itself, or a dynamic
/// memref reinterpreted as getKernelParamType's stand-in (same pointer).
static Value getKernelOperand(OpBuilder &b, Location loc, Value value) {
  auto type = dyn_cast<MemRefType>(getKernelParamType(value.getType()));
  if (!type || type == value.getType())
    return value;
  auto [strides, offset] = type.getStridesAndOffset();
  return memref::ReinterpretCastOp::create(b, loc, type, value, offset,
                                           type.getShape(), strides);
}

/// The host-side grid of `plan`: constants, and the extents of runtime
/// lengths computed from the Length arguments of `list`.
static gpu::KernelDim3 buildGrid(OpBuilder &b, Location loc,
                                 const LaunchPlan &plan,
                                 const KernelArgumentList &list) {
  IntArith a(b, loc, b.getIndexType());
  Value extents[3];
  for (int i = 0; i < 3; ++i) {
    if (!plan.runtimeGrid[i]) {
      extents[i] = a.c(plan.grid[i]);
      continue;
    }
    const LaunchPlan::RuntimeExtent &e = *plan.runtimeGrid[i];
    auto it = llvm::find(list.names, e.length);
    Value length = arith::IndexCastUIOp::create(
        b, loc, b.getIndexType(), list.values[it - list.names.begin()]);
    extents[i] = a.mul(a.ceilDiv(length, e.divisor), a.c(e.factor));
    if (!e.plusLength.empty()) {
      auto plus = llvm::find(list.names, e.plusLength);
      extents[i] = a.add(extents[i], arith::IndexCastUIOp::create(
                                         b, loc, b.getIndexType(),
                                         list.values[plus - list.names.begin()]));
    }
    extents[i] = a.add(extents[i], e.plus);
  }
  return {extents[0], extents[1], extents[2]};
}

/// Creates the kernel function for `list` at the end of `kernels`, named
/// after the function around `anchor` (and `suffix`).
static gpu::GPUFuncOp createKernel(Operation *anchor,
                                   const KernelArgumentList &list,
                                   gpu::GPUModuleOp kernels, int64_t threads,
                                   StringRef suffix = "") {
  OpBuilder b(anchor->getContext());
  SmallVector<Type> argTypes = llvm::map_to_vector(
      list.values, [](Value v) { return getKernelParamType(v.getType()); });
  auto parent = anchor->getParentOfType<FunctionOpInterface>();
  std::string name =
      (parent ? parent.getName().str() : std::string("attention")) + "_kernel" +
      suffix.str();
  b.setInsertionPointToEnd(kernels.getBody());
  auto func = gpu::GPUFuncOp::create(b, anchor->getLoc(), name,
                                     b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  SymbolTable(kernels).insert(func);
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  return func;
}

/// The launch of a kernel over runtime lengths: its grid computed from them,
/// dynamic memrefs passed as their stand-ins, and the length each dynamic
/// dim of an operand is (attn.dim_symbols, one array per operand, read by
/// the manifest).
static gpu::LaunchFuncOp
createRuntimeLengthLaunch(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
                          const KernelArgumentList &list,
                          const LaunchPlan &plan, Value smem) {
  SmallVector<Value> operands;
  SmallVector<Attribute> symbols;
  for (auto [i, value] : llvm::enumerate(list.values)) {
    operands.push_back(getKernelOperand(b, loc, value));
    SmallVector<Attribute> dims;
    auto it = list.dimSymbols.find(i);
    if (it != list.dimSymbols.end())
      for (const std::string &s : it->second)
        dims.push_back(b.getStringAttr(s));
    symbols.push_back(b.getArrayAttr(dims));
  }
  IntArith a(b, loc, b.getIndexType());
  auto launch = gpu::LaunchFuncOp::create(
      b, loc, func, buildGrid(b, loc, plan, list),
      gpu::KernelDim3{a.c(plan.threads), a.c(1), a.c(1)}, smem, operands);
  launch->setAttr(kDimSymbolsAttrName, b.getArrayAttr(symbols));
  return launch;
}

/// Launches the conversion kernel of `rounding` (f32-compute) at `b`, over
/// the program's argument list: every launch of a program takes the same
/// arguments and shares one workspace (the runtime runs them in order).
static LogicalResult launchRounding(OpBuilder &b, TiledProgram &program,
                                    const KernelArgumentList &list,
                                    const RoundingCopy &rounding,
                                    gpu::GPUModuleOp kernels,
                                    const KernelLaunchDesc &family) {
  Operation *anchor = program.forall;
  Location loc = anchor->getLoc();
  FailureOr<RoundingLaunch> planned =
      planRoundingLaunch(anchor, list.values, list.names, rounding);
  if (failed(planned))
    return failure();
  KernelLaunchDesc desc;
  desc.family = "convert";
  desc.gridFormula = planned->gridFormula;
  desc.names = family.names;
  desc.roles = family.roles;
  desc.tensorMaps = family.tensorMaps;
  desc.keyView = family.keyView;
  FailureOr<KernelInfoAttr> info = withLaunch(anchor, program.info, desc);
  if (failed(info))
    return failure();
  gpu::GPUFuncOp func =
      createKernel(anchor, list, kernels, kRoundingThreads, planned->suffix);
  func->setAttr(KernelInfoAttr::getAttributeName(), *info);
  emitRoundingKernel(func, list.values, rounding);
  auto idx = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  auto launch = gpu::LaunchFuncOp::create(
      b, loc, func, gpu::KernelDim3{idx(planned->blocks), idx(1), idx(1)},
      gpu::KernelDim3{idx(kRoundingThreads), idx(1), idx(1)},
      arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0), list.values);
  launch->setAttr(KernelInfoAttr::getAttributeName(), *info);
  return success();
}

/// Replaces `program` by a launch of `func` as `plan` says; the kernel info
/// (plus the argument names and roles) is kept on the kernel and the launch,
/// where the manifest reads it.
static LogicalResult replaceWithLaunch(TiledProgram &program,
                                       gpu::GPUFuncOp func,
                                       const KernelArgumentList &list,
                                       LaunchPlan plan) {
  plan.desc.names = list.names;
  plan.desc.roles = list.roles;
  SmallVector<Attribute> tensorMaps(list.values.size());
  for (const auto &[i, map] : list.tensorMaps)
    tensorMaps[i] = map;
  if (!list.tensorMaps.empty())
    plan.desc.tensorMaps = tensorMaps;
  Operation *anchor = program.forall;
  FailureOr<KernelInfoAttr> info =
      withLaunch(anchor, program.info, plan.desc);
  if (failed(info))
    return failure();
  Location loc = anchor->getLoc();
  // Launched where the program's results are stored: after every value it
  // reads is written (e.g. an appended KV cache).
  Operation *insertion = list.stores.front();
  for (Operation *store : list.stores)
    if (store->getBlock() == insertion->getBlock() &&
        insertion->isBeforeInBlock(store))
      insertion = store;
  OpBuilder b(insertion);
  func->setAttr(KernelInfoAttr::getAttributeName(), *info);
  auto idx = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  auto smem = arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                           plan.desc.sharedMemoryBytes);
  // f32-compute: Q, K and V narrowed into their workspaces first.
  auto kernels = func->getParentOfType<gpu::GPUModuleOp>();
  auto launchRoundings = [&](bool widen) -> LogicalResult {
    for (const RoundingCopy &r : list.roundings)
      if (r.widen == widen &&
          failed(launchRounding(b, program, list, r, kernels, plan.desc)))
        return failure();
    return success();
  };
  if (failed(launchRoundings(/*widen=*/false)))
    return failure();
  gpu::LaunchFuncOp launch;
  if (!llvm::any_of(plan.runtimeGrid, [](auto &e) { return e.has_value(); }) &&
      list.dimSymbols.empty()) {
    launch = gpu::LaunchFuncOp::create(
        b, loc, func,
        gpu::KernelDim3{idx(plan.grid[0]), idx(plan.grid[1]),
                        idx(plan.grid[2])},
        gpu::KernelDim3{idx(plan.threads), idx(1), idx(1)}, smem, list.values);
  } else {
    launch = createRuntimeLengthLaunch(b, loc, func, list, plan, smem);
  }
  // The kernel's own attributes do not survive gpu-module-to-binary; the
  // launch keeps a copy for the manifest.
  launch->setAttr(KernelInfoAttr::getAttributeName(), *info);
  // O widened into the caller's f32 O after the kernel.
  if (failed(launchRoundings(/*widen=*/true)))
    return failure();
  // Workspaces live for the program's launches only.
  for (auto [value, role] : llvm::zip(list.values, list.roles))
    if (role == ArgumentRole::Workspace || role == ArgumentRole::Scratch)
      memref::DeallocOp::create(b, loc, value);
  program.erase(list.stores);
  return success();
}

/// `options` with the family and tiles `info` records.
static ConvertAttnToNVVMOptions
withRecordedTiles(ConvertAttnToNVVMOptions options, KernelInfoAttr info) {
  options.kernel = info.getFamily().str();
  if (options.kernel == "prefill") {
    options.blockM = info.getBlockM();
    options.blockN = info.getBlockN();
    options.numWarps = info.getNumWarps();
  } else if (options.kernel == "decode") {
    options.numSplits = info.getNumSplits();
    options.decodeNumWarps = info.getNumWarps();
    options.decodeKeysPerWarp = info.getKeysPerWarp();
    options.decodeStages = info.getStages();
  } else if (options.kernel == "hopper") {
    options.hopperBlockN = info.getBlockN();
    options.hopperStages = info.getStages();
  }
  return options;
}

/// Whether a re-planned launch is the one attn-plan-gpu-kernels recorded.
static bool samePlan(const LaunchPlan &plan, KernelInfoAttr info) {
  const KernelLaunchDesc &d = plan.desc;
  return d.family == info.getFamily() &&
         d.gridFormula == info.getGridFormula() &&
         d.sharedMemoryBytes == info.getSharedMemoryBytes() &&
         d.blockM == info.getBlockM() && d.blockN == info.getBlockN() &&
         d.numWarps == info.getNumWarps() &&
         d.numSplits == info.getNumSplits() &&
         d.keysPerWarp == info.getKeysPerWarp() && d.stages == info.getStages();
}

} // namespace

namespace {
/// The options a family is planned with, and what the cost model said.
struct ModelledOptions {
  ConvertAttnToNVVMOptions options;
  std::optional<TileConfigChoice> model;
  const GpuSpec *gpu = nullptr;
  bool fromModel = false;
  std::string source;
};
} // namespace

/// The tile options of `kind` given off their ODS defaults, by flag name.
static SmallVector<StringRef> getGivenTileOptions(
    StringRef kind, const ConvertAttnToNVVMOptions &o) {
  ConvertAttnToNVVMOptions d;
  SmallVector<StringRef> given;
  auto note = [&](bool differs, StringRef name) {
    if (differs)
      given.push_back(name);
  };
  if (kind == "hopper") {
    note(o.hopperBlockN != d.hopperBlockN, "hopper-block-n");
    note(o.hopperStages != d.hopperStages, "hopper-stages");
  } else if (kind == "decode") {
    note(o.numSplits != d.numSplits, "num-splits");
    note(o.decodeNumWarps != d.decodeNumWarps, "decode-num-warps");
  } else {
    note(o.blockM != d.blockM, "block-m");
    note(o.blockN != d.blockN, "block-n");
    note(o.numWarps != d.numWarps, "num-warps");
  }
  return given;
}

/// `options` with the tiles the cost model chooses for `op` on the GPU
/// `tile-model` names ("auto": the GPU of the target chip; unchanged
/// without one): prefill block-m/n and warps, decode splits and warps,
/// hopper block-n and stages, where none of the family's tile options is
/// given (off its default). The model's choice comes back with them either
/// way, so that the remark and the reports can say what and why.
static FailureOr<ModelledOptions>
withModelledTiles(AttentionOp op, const KernelProblem &problem,
                  const ConvertAttnToNVVMOptions &options) {
  ModelledOptions result{options, std::nullopt, nullptr, false,
                         "options (tile-model off)"};
  if (options.tileModel.empty())
    return result;
  // The model weighs the lengths: runtime lengths keep the options' tiles.
  if (problem.hasDynamicLengths()) {
    result.source = "options (runtime lengths: the model needs static ones)";
    return result;
  }
  if (problem.varlen) {
    result.source = "options (varlen: the work depends on the offsets)";
    return result;
  }
  if (needsLatentDecode(problem)) {
    result.source = "options (latent decode: the model weighs 16-row tiles)";
    return result;
  }
  const GpuSpec *gpu = options.tileModel == "auto"
                           ? lookupGpuForChip(options.chip)
                           : lookupGpu(options.tileModel);
  if (!gpu && options.tileModel == "auto")
    return op.emitOpError("expected tile-model=auto to know a GPU of chip '")
           << options.chip << "' (" << listKnownGpus()
           << "); name one with tile-model=<gpu>";
  if (!gpu)
    return op.emitOpError("expected tile-model to name a known GPU (")
           << listKnownGpus() << ", or auto), got '" << options.tileModel
           << "'";
  FailureOr<AttentionFigures> figures = getAttentionFigures(op);
  if (failed(figures))
    return failure();
  StringRef kind = resolveKernelKind(op, problem, options);
  if (kind != "hopper" && kind != "decode" && kind != "prefill")
    return result;
  TileConfigChoice choice = kind == "hopper"
                                ? chooseHopperTileConfig(*figures, *gpu)
                                : chooseTileConfig(*figures, *gpu);
  // The mma.sync model must agree on which of its families this is.
  if (kind != "hopper" && choice.decode != (kind == "decode")) {
    result.source = "options (the model weighs the other mma.sync family)";
    return result;
  }
  result.model = choice;
  result.gpu = gpu;
  // A family's tiles given as options (any of them off its ODS default)
  // win over the model: the model only fills in tiles nobody chose.
  SmallVector<StringRef> given = getGivenTileOptions(kind, options);
  if (!given.empty()) {
    result.source = "options given (" + llvm::join(given, ", ") + ")";
    return result;
  }
  ConvertAttnToNVVMOptions &o = result.options;
  if (kind == "hopper") {
    o.hopperBlockN = choice.chosen.blockN;
    o.hopperStages = choice.chosen.stages;
  } else if (kind == "decode") {
    o.numSplits = choice.chosen.numSplits;
    o.decodeNumWarps = choice.chosen.numWarps;
  } else {
    o.blockM = choice.chosen.blockM;
    o.blockN = choice.chosen.blockN;
    o.numWarps = choice.chosen.numWarps;
  }
  result.fromModel = true;
  result.source = ("the cost model (tile-model=" + options.tileModel + ": " +
                   gpu->name + ")")
                      .str();
  return result;
}

FailureOr<GpuTilePlan>
mlir::attn::planGpuKernel(AttentionOp op,
                          const ConvertAttnToNVVMOptions &options) {
  FailureOr<KernelProblem> problem = getKernelProblem(op, options);
  if (failed(problem))
    return failure();
  FailureOr<ModelledOptions> modelled =
      withModelledTiles(op, *problem, options);
  if (failed(modelled))
    return failure();
  FailureOr<std::unique_ptr<KernelFamily>> family =
      selectKernelFamily(op, *problem, modelled->options);
  if (failed(family))
    return failure();
  FailureOr<LaunchPlan> launch = (*family)->plan(op, *problem);
  if (failed(launch))
    return failure();
  launch->desc.keyView = problem->keyView;
  FailureOr<KernelInfoAttr> info = buildKernelInfo(op, launch->desc);
  if (failed(info))
    return failure();
  GpuTilePlan plan;
  plan.info = *info;
  plan.tiles = TileSizesAttr::get(op.getContext(), launch->tileM,
                                  launch->tileN, launch->packGqa,
                                  launch->tileSplits);
  plan.model = std::move(modelled->model);
  plan.modelGpu = modelled->gpu;
  plan.fromModel = modelled->fromModel;
  plan.source = std::move(modelled->source);
  return plan;
}

namespace {

struct AttnPlanGpuKernelsPass
    : public mlir::attn::impl::AttnPlanGpuKernelsBase<AttnPlanGpuKernelsPass> {
  using Base::Base;
  template <typename To, typename From>
  friend To copyGpuKernelOptions(const From &from);

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto options =
        copyGpuKernelOptions<ConvertAttnToNVVMOptions>(*this);
    if (failed(checkGpuLowering(module, options)))
      return signalPassFailure();
    WalkResult result = module.walk([&](AttentionOp op) {
      return failed(plan(op, options)) ? WalkResult::interrupt()
                                       : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  /// The family, launch and tiles of `op`, recorded on it; where the cost
  /// model was consulted, a remark says what was chosen and why.
  static LogicalResult plan(AttentionOp op,
                            const ConvertAttnToNVVMOptions &options) {
    FailureOr<GpuTilePlan> plan = planGpuKernel(op, options);
    if (failed(plan))
      return failure();
    op->setAttr(KernelInfoAttr::getAttributeName(), plan->info);
    op->setAttr(TileSizesAttr::getAttributeName(), plan->tiles);
    // At the location only, as attn-count-kv-tiles: the op dump would bury
    // the reason.
    if (plan->model)
      emitRemark(op.getLoc())
          << "attn-plan-gpu-kernels: " << describeGpuTilePlan(*plan);
    return success();
  }
};

struct ConvertAttnToNVVMPass
    : public mlir::attn::impl::ConvertAttnToNVVMBase<ConvertAttnToNVVMPass> {
  using Base::Base;
  template <typename To, typename From>
  friend To copyGpuKernelOptions(const From &from);

  ConvertAttnToNVVMOptions getOptions() const {
    return copyGpuKernelOptions<ConvertAttnToNVVMOptions>(*this);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    ConvertAttnToNVVMOptions options = getOptions();
    if (failed(checkGpuLoweringOptions(options, module)))
      return signalPassFailure();
    // An attention that was not tiled for a kernel has no program yet.
    WalkResult untiled = module.walk([](AttentionOp op) {
      op.emitOpError("expected attn-plan-gpu-kernels and attn-tile to have "
                     "made a tiled program of the attention before "
                     "convert-attn-to-nvvm (the attn-to-ptx pipeline runs "
                     "them)");
      return WalkResult::interrupt();
    });
    if (untiled.wasInterrupted())
      return signalPassFailure();
    SmallVector<scf::ForallOp> programs;
    // Backward programs are convert-attn-backward-to-nvvm's.
    module.walk([&](scf::ForallOp forall) {
      if (forall->hasAttr(KernelInfoAttr::getAttributeName()) &&
          !forall->hasAttr(BackwardScheduleAttr::getAttributeName()))
        programs.push_back(forall);
    });
    OpBuilder builder(module.getContext());
    gpu::GPUModuleOp kernels;
    for (scf::ForallOp forall : programs)
      if (failed(lower(forall, options, kernels, builder)))
        return signalPassFailure();
  }

  /// One program through its family: plan, arguments, kernel, body, launch.
  LogicalResult lower(scf::ForallOp forall,
                      const ConvertAttnToNVVMOptions &options,
                      gpu::GPUModuleOp &kernels, OpBuilder &builder) {
    FailureOr<TiledProgram> program = TiledProgram::match(forall);
    if (failed(program))
      return failure();
    FailureOr<KernelProblem> programProblem = getProgramProblem(*program);
    if (failed(programProblem))
      return failure();
    KernelProblem &problem = *programProblem;
    // The family and tiles attn-plan-gpu-kernels chose (the program was
    // tiled with them), planned again with this pass's other options: the
    // two plans must agree.
    ConvertAttnToNVVMOptions familyOptions =
        withRecordedTiles(options, program->info);
    FailureOr<std::unique_ptr<KernelFamily>> family =
        selectKernelFamily(forall, problem, familyOptions);
    if (failed(family))
      return failure();
    FailureOr<LaunchPlan> plan = (*family)->plan(forall, problem);
    if (failed(plan))
      return failure();
    if (!samePlan(*plan, program->info))
      return forall.emitOpError("expected convert-attn-to-nvvm's options to "
                                "plan the kernel attn-plan-gpu-kernels "
                                "planned: ")
             << program->info;
    KernelArgumentList list;
    if (failed((*family)->collectArguments(*program, problem, list)))
      return failure();
    if (!kernels) {
      ModuleOp module = getOperation();
      builder.setInsertionPointToStart(module.getBody());
      kernels = gpu::GPUModuleOp::create(builder, module.getLoc(),
                                         options.kernelModuleName);
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                      builder.getUnitAttr());
    }
    gpu::GPUFuncOp func = createKernel(forall, list, kernels, plan->threads);
    if (failed((*family)->emit(func, problem, *program)))
      return failure();
    plan->desc.keyView = problem.keyView;
    return replaceWithLaunch(*program, func, list, *plan);
  }
};

} // namespace

LogicalResult mlir::attn::parseConvertAttnToNVVMOptions(
    StringRef text, ConvertAttnToNVVMOptions &options,
    function_ref<LogicalResult(const Twine &)> errorHandler) {
  ConvertAttnToNVVMPass pass;
  if (failed(pass.initializeOptions(text, errorHandler)))
    return failure();
  options = pass.getOptions();
  return success();
}

std::unique_ptr<Pass> mlir::attn::createAttnPlanGpuKernels(
    const ConvertAttnToNVVMOptions &options) {
  return createAttnPlanGpuKernels(
      copyGpuKernelOptions<AttnPlanGpuKernelsOptions>(options));
}
