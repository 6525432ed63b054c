//===- AttnToNVVM.cpp - attn.attention to a GPU kernel --------------------===//
//
// Part of attn-mlir. The convert-attn-to-nvvm pass: reads an attention op
// into a KernelProblem (checking what no family supports), picks its kernel
// family (KernelFamily.h) and drives it through plan, arguments and emit,
// then replaces the host side by a gpu.launch_func whose grid, block, shared
// memory and #attn.kernel_info are the launch contract.
//
//===----------------------------------------------------------------------===//

#include "KernelFamily.h"

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
#define GEN_PASS_DEF_CONVERTATTNTONVVM
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// The kernel clones the score_mod body once per score it holds in
/// registers, between ops that the GPU lowering turns into NVVM; only ops
/// that convert-gpu-to-nvvm lowers, and that cannot touch memory, qualify.
static LogicalResult checkScoreMod(AttentionOp op) {
  if (op.getScoreMod().empty())
    return success();
  for (Operation &nested : op.getScoreMod().front().without_terminator()) {
    bool lowerable =
        isa<arith::ArithDialect, math::MathDialect>(nested.getDialect());
    if (!lowerable || nested.getNumRegions() != 0 ||
        !isMemoryEffectFree(&nested))
      return op.emitOpError("expected score_mod ops from the arith or math "
                            "dialects on the GPU path, got ")
             << nested.getName();
  }
  // The kernel is isolated from the host: it can only clone what the region
  // computes from its own arguments.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(op.getScoreMod(), captured);
  if (!captured.empty())
    return op.emitOpError("expected score_mod to use no value defined above "
                          "it on the GPU path");
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

FailureOr<KernelProblem>
mlir::attn::getKernelProblem(AttentionOp op, const ConvertAttnToNVVMOptions &o) {
  auto fail = [&](const Twine &msg) { return op.emitOpError(msg); };
  if (o.numWarps < 4 || o.numWarps > 8 || !llvm::isPowerOf2_64(o.numWarps))
    return fail("expected num-warps of 4 or 8, got " + Twine(o.numWarps));
  if (op.getLayout() != Layout::BHSD)
    return fail("expected the bhsd layout on the GPU path");
  if (op.getBias() || op.getMask() || !op.getMaskMod().empty())
    return fail("expected no bias or mask operand or mask_mod on the GPU "
                "path (not supported yet)");
  if (op.getSinks())
    return fail("expected no sinks operand on the GPU path (attention sinks "
                "run on the CPU path only, not supported yet)");
  if (failed(checkScoreMod(op)))
    return failure();
  Type elt = op.getQueryType().getElementType();
  if (!elt.isBF16() && !elt.isF16())
    return fail("expected bf16 or f16 inputs on the GPU path, got ") << elt,
           failure();
  if (op.getOutputType().getElementType() != elt)
    return fail("expected the output element type to match the inputs'");
  for (RankedTensorType type : {op.getQueryType(), op.getKeyType(),
                                op.getValueType(), op.getOutputType()})
    if (!type.hasStaticShape())
      return fail("expected static shapes on the GPU path, got ") << type,
             failure();
  int64_t headDim = op.getHeadDim();
  if (headDim != 64 && headDim != 128)
    return fail("expected head dim 64 or 128 on the GPU path, got " +
                Twine(headDim));
  if (op.getValueHeadDim() != headDim)
    return fail("expected the value head dim to equal the key head dim");

  KernelProblem p;
  p.batch = op.getQueryType().getDimSize(0);
  p.headsQ = op.getNumQueryHeads();
  p.headsKV = op.getNumKVHeads();
  p.seqQ = op.getQueryLength();
  p.seqK = op.getKeyLength();
  p.headDim = headDim;
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
  if (p.seqQ < 1 || p.seqK < 1)
    return fail("expected non-empty query and key sequences");
  if (p.batch * p.headsQ * p.seqQ * headDim * 2 >= (int64_t(1) << 40) ||
      p.batch * p.headsKV * p.seqK * headDim * 2 >= (int64_t(1) << 40))
    return fail("expected tensors under 1 TiB");
  p.visibility = op.getKeyVisibility();
  ConstArith constants;
  p.diagOffset = p.visibility.diagonal(constants, p.seqQ, p.seqK);
  return p;
}

/// The family `options.kernel` asks for, "auto" resolved: decode when the
/// query rows of a KV group fit one m16 tile; on sm_90a the hopper (wgmma)
/// family where it supports the problem; else prefill (mma.sync).
static FailureOr<std::unique_ptr<KernelFamily>>
selectKernelFamily(AttentionOp op, const KernelProblem &p,
                   const ConvertAttnToNVVMOptions &o) {
  StringRef kind = o.kernel;
  if (kind == "auto") {
    if (p.headsQ / p.headsKV * p.seqQ <= 16)
      kind = "decode";
    else if (o.chip == "sm_90a" && hopperFamilySupports(op, p, o))
      kind = "hopper";
    else
      kind = "prefill";
  }
  if (kind == "prefill")
    return createPrefillFamily(o);
  if (kind == "decode")
    return createDecodeFamily(o);
  if (kind == "hopper")
    return createHopperFamily(o);
  return op.emitOpError("expected kernel of auto, prefill, decode or "
                        "hopper, got '")
         << o.kernel << "'";
}

namespace {

/// Erases `roots` and then every op that fed them and has no other use.
static void eraseWithDeadProducers(ArrayRef<Operation *> roots) {
  // A set: one producer often feeds several erased ops.
  SetVector<Operation *> worklist;
  for (Operation *op : roots) {
    worklist.remove(op);
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.insert(def);
    op->erase();
  }
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    // Reads (bufferization.to_tensor) of no further use go too.
    if (!isOpTriviallyDead(op))
      continue;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.insert(def);
    op->erase();
  }
}

/// Creates the kernel function for `list` at the end of `kernels`.
static gpu::GPUFuncOp createKernel(AttentionOp op,
                                   const KernelArgumentList &list,
                                   gpu::GPUModuleOp kernels, int64_t threads) {
  OpBuilder b(op.getContext());
  SmallVector<Type> argTypes =
      llvm::map_to_vector(list.values, [](Value v) { return v.getType(); });
  auto parent = op->getParentOfType<FunctionOpInterface>();
  std::string name =
      (parent ? parent.getName().str() : std::string("attention")) + "_kernel";
  b.setInsertionPointToEnd(kernels.getBody());
  auto func = gpu::GPUFuncOp::create(b, op.getLoc(), name,
                                     b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  SymbolTable(kernels).insert(func);
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  return func;
}

/// Replaces `op` by a launch of `func` as `plan` says; the kernel info
/// (plus the argument names and roles) is kept on the kernel and the launch,
/// where the manifest reads it.
static LogicalResult replaceWithLaunch(AttentionOp op, gpu::GPUFuncOp func,
                                       const KernelArgumentList &list,
                                       LaunchPlan plan) {
  plan.desc.names = list.names;
  plan.desc.roles = list.roles;
  FailureOr<KernelInfoAttr> info = buildKernelInfo(op, plan.desc);
  if (failed(info))
    return failure();
  Location loc = op.getLoc();
  OpBuilder b(op);
  func->setAttr(KernelInfoAttr::getAttributeName(), *info);
  auto idx = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  auto smem = arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                           plan.desc.sharedMemoryBytes);
  auto launch = gpu::LaunchFuncOp::create(
      b, loc, func,
      gpu::KernelDim3{idx(plan.grid[0]), idx(plan.grid[1]), idx(plan.grid[2])},
      gpu::KernelDim3{idx(plan.threads), idx(1), idx(1)}, smem, list.values);
  // Workspaces live for the launch only.
  for (auto [value, role] : llvm::zip(list.values, list.roles))
    if (role == ArgumentRole::Workspace)
      memref::DeallocOp::create(b, loc, value);
  // The kernel's own attributes do not survive gpu-module-to-binary; the
  // launch keeps a copy for the manifest.
  launch->setAttr(KernelInfoAttr::getAttributeName(), *info);
  SmallVector<Operation *> dead(list.stores);
  dead.push_back(op);
  eraseWithDeadProducers(dead);
  return success();
}

struct ConvertAttnToNVVMPass
    : public mlir::attn::impl::ConvertAttnToNVVMBase<ConvertAttnToNVVMPass> {
  using Base::Base;

  ConvertAttnToNVVMOptions getOptions() const {
    ConvertAttnToNVVMOptions options;
    options.blockM = blockM;
    options.blockN = blockN;
    options.numWarps = numWarps;
    options.kernel = kernel;
    options.numSplits = numSplits;
    options.numSMs = numSMs;
    options.chip = chip;
    options.hopperBlockN = hopperBlockN;
    options.hopperStages = hopperStages;
    options.hopperPingPong = hopperPingPong;
    options.decodeNumWarps = decodeNumWarps;
    options.decodeKeysPerWarp = decodeKeysPerWarp;
    options.decodeStages = decodeStages;
    options.kernelModuleName = kernelModuleName;
    return options;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    ConvertAttnToNVVMOptions options = getOptions();
    if (failed(checkGpuLowering(module, options)))
      return signalPassFailure();
    SmallVector<AttentionOp> ops;
    module.walk([&](AttentionOp op) { ops.push_back(op); });
    if (ops.empty())
      return;

    OpBuilder builder(module.getContext());
    gpu::GPUModuleOp kernels;
    for (AttentionOp op : ops) {
      if (failed(lower(op, options, kernels, builder)))
        return signalPassFailure();
    }
  }

  /// One op through its family: plan, arguments, kernel, body, launch.
  LogicalResult lower(AttentionOp op, const ConvertAttnToNVVMOptions &options,
                      gpu::GPUModuleOp &kernels, OpBuilder &builder) {
    FailureOr<KernelProblem> problem = getKernelProblem(op, options);
    if (failed(problem))
      return failure();
    FailureOr<std::unique_ptr<KernelFamily>> family =
        selectKernelFamily(op, *problem, options);
    if (failed(family))
      return failure();
    FailureOr<LaunchPlan> plan = (*family)->plan(op, *problem);
    if (failed(plan))
      return failure();
    KernelArgumentList list;
    if (failed((*family)->collectArguments(op, *problem, list)))
      return failure();
    if (!kernels) {
      ModuleOp module = getOperation();
      builder.setInsertionPointToStart(module.getBody());
      kernels = gpu::GPUModuleOp::create(builder, module.getLoc(),
                                         options.kernelModuleName);
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                      builder.getUnitAttr());
    }
    gpu::GPUFuncOp func = createKernel(op, list, kernels, plan->threads);
    (*family)->emit(func, *problem);
    plan->desc.keyView = problem->keyView;
    return replaceWithLaunch(op, func, list, *plan);
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
