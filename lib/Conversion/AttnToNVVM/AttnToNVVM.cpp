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
  int64_t headDim = op.getHeadDim(), valueHeadDim = op.getValueHeadDim();
  if (!isSupportedGpuHeadDim(headDim) || !isSupportedGpuHeadDim(valueHeadDim))
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
static StringRef resolveKernelKind(Operation *op, const KernelProblem &p,
                                   const ConvertAttnToNVVMOptions &o) {
  if (o.kernel != "auto")
    return o.kernel;
  if (p.headsQ / p.headsKV * p.seqQ <= 16)
    return "decode";
  if (o.chip == "sm_90a" && hopperFamilySupports(op, p, o))
    return "hopper";
  return "prefill";
}

static FailureOr<std::unique_ptr<KernelFamily>>
selectKernelFamily(Operation *op, const KernelProblem &p,
                   const ConvertAttnToNVVMOptions &o) {
  StringRef kind = resolveKernelKind(op, p, o);
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
  to.decodeNumWarps = from.decodeNumWarps;
  to.decodeKeysPerWarp = from.decodeKeysPerWarp;
  to.decodeStages = from.decodeStages;
  to.kernelModuleName = from.kernelModuleName;
  to.tileModel = from.tileModel;
  return to;
}

/// Creates the kernel function for `list` at the end of `kernels`, named
/// after the function around `anchor`.
static gpu::GPUFuncOp createKernel(Operation *anchor,
                                   const KernelArgumentList &list,
                                   gpu::GPUModuleOp kernels, int64_t threads) {
  OpBuilder b(anchor->getContext());
  SmallVector<Type> argTypes =
      llvm::map_to_vector(list.values, [](Value v) { return v.getType(); });
  auto parent = anchor->getParentOfType<FunctionOpInterface>();
  std::string name =
      (parent ? parent.getName().str() : std::string("attention")) + "_kernel";
  b.setInsertionPointToEnd(kernels.getBody());
  auto func = gpu::GPUFuncOp::create(b, anchor->getLoc(), name,
                                     b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  SymbolTable(kernels).insert(func);
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  return func;
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

/// `options` with the tiles the cost model chooses for `op` on the GPU
/// `tile-model` names ("auto": the GPU of the target chip; unchanged
/// without one): prefill block-m/n and warps, decode splits and warps,
/// hopper block-n and stages, where none of the family's tile options is
/// given (off its default). With a GPU named, a remark on `op` says what
/// and why.
static FailureOr<ConvertAttnToNVVMOptions>
withModelledTiles(AttentionOp op, const KernelProblem &problem,
                  ConvertAttnToNVVMOptions options) {
  if (options.tileModel.empty())
    return options;
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
  TileConfigChoice choice = kind == "hopper"
                                ? chooseHopperTileConfig(*figures, *gpu)
                                : chooseTileConfig(*figures, *gpu);
  // The mma.sync model must agree on which of its families this is.
  if (kind != "hopper" && choice.decode != (kind == "decode"))
    return options;
  // A family's tiles given as options (any of them off its ODS default)
  // win over the model: the model only fills in tiles nobody chose.
  ConvertAttnToNVVMOptions defaults;
  bool given = kind == "hopper"
                   ? options.hopperBlockN != defaults.hopperBlockN ||
                         options.hopperStages != defaults.hopperStages
               : kind == "decode"
                   ? options.numSplits != defaults.numSplits ||
                         options.decodeNumWarps != defaults.decodeNumWarps
                   : options.blockM != defaults.blockM ||
                         options.blockN != defaults.blockN ||
                         options.numWarps != defaults.numWarps;
  if (given)
    return options;
  if (kind == "hopper") {
    options.hopperBlockN = choice.chosen.blockN;
    options.hopperStages = choice.chosen.stages;
  } else if (kind == "decode") {
    options.numSplits = choice.chosen.numSplits;
    options.decodeNumWarps = choice.chosen.numWarps;
  } else if (kind == "prefill") {
    options.blockM = choice.chosen.blockM;
    options.blockN = choice.chosen.blockN;
    options.numWarps = choice.chosen.numWarps;
  } else {
    return options;
  }
  // The default (auto) is silent: the choice is in the kernel info, the
  // manifest and attn-compile's tiles: line; naming a GPU asks to see why.
  if (options.tileModel != "auto")
    op.emitRemark() << "attn-plan-gpu-kernels: tiles from the cost model: "
                    << choice.reason;
  return options;
}

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

  /// The family, launch and tiles of `op`, recorded on it.
  static LogicalResult plan(AttentionOp op,
                            const ConvertAttnToNVVMOptions &options) {
    FailureOr<KernelProblem> problem = getKernelProblem(op, options);
    if (failed(problem))
      return failure();
    FailureOr<ConvertAttnToNVVMOptions> modelled =
        withModelledTiles(op, *problem, options);
    if (failed(modelled))
      return failure();
    FailureOr<std::unique_ptr<KernelFamily>> family =
        selectKernelFamily(op, *problem, *modelled);
    if (failed(family))
      return failure();
    FailureOr<LaunchPlan> launch = (*family)->plan(op, *problem);
    if (failed(launch))
      return failure();
    launch->desc.keyView = problem->keyView;
    FailureOr<KernelInfoAttr> info = buildKernelInfo(op, launch->desc);
    if (failed(info))
      return failure();
    op->setAttr(KernelInfoAttr::getAttributeName(), *info);
    op->setAttr(TileSizesAttr::getAttributeName(),
                TileSizesAttr::get(op.getContext(), launch->tileM,
                                   launch->tileN, launch->packGqa,
                                   launch->tileSplits));
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
    module.walk([&](scf::ForallOp forall) {
      if (forall->hasAttr(KernelInfoAttr::getAttributeName()))
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
    KernelProblem problem = getProgramProblem(*program);
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
