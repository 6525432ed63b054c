//===- BackwardToNVVM.cpp - attn.attention_backward to GPU kernels --------===//
//
// Part of attn-mlir. The convert-attn-backward-to-nvvm pass: checks an
// attn.attention_backward in destination-passing form, reads it into a
// KernelProblem, allocates the workspaces and replaces the op by the three
// launches of BackwardKernel.h (preprocess, main, convert) in stream order,
// each with its #attn.kernel_info.
//
//===----------------------------------------------------------------------===//

#include "BackwardKernel.h"

#include "attn/Analysis/BackwardCost.h"
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
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/MathExtras.h"

#include <functional>

#define DEBUG_TYPE "convert-attn-backward-to-nvvm"

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNBACKWARDTONVVM
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// Checks what the backward kernels support and reads `op` into a problem.
static FailureOr<KernelProblem> getBackwardProblem(AttentionBackwardOp op) {
  auto fail = [&](const Twine &msg) { return op.emitOpError(msg); };
  if (op.getLayout() != Layout::BHSD)
    return fail("expected the bhsd layout on the GPU backward");
  if (op.getBias() || op.getMask() || !op.getMaskMod().empty())
    return fail("expected no bias or mask operand or mask_mod on the GPU "
                "backward (not supported yet)");
  if (op.getSinks())
    return fail("expected no sinks on the GPU backward (not supported yet)");
  if (op.getKeyLengths())
    return fail("expected no key_lengths on the GPU backward (not supported "
                "yet)");
  if (!op.getScoreMod().empty())
    return fail("expected no score_mod on the GPU backward (its derivative "
                "is not emitted yet)");
  Type elt = op.getQueryType().getElementType();
  if (!elt.isBF16() && !elt.isF16())
    return fail("expected bf16 or f16 inputs on the GPU backward, got ")
               << elt,
           failure();
  for (Value v : {op.getKey(), op.getValue(), op.getOutput(),
                  op.getGradOutput(), op.getGradQuery(), op.getGradKey(),
                  op.getGradValue()})
    if (cast<RankedTensorType>(v.getType()).getElementType() != elt)
      return fail("expected every operand and gradient (but lse) of the "
                  "inputs' element type on the GPU backward, got ")
                 << v.getType(),
             failure();
  for (Value v : op->getOperands())
    if (!cast<RankedTensorType>(v.getType()).hasStaticShape())
      return fail("expected static shapes on the GPU backward, got ")
                 << v.getType(),
             failure();
  int64_t headDim = op.getHeadDim();
  if (headDim != 64 && headDim != 128)
    return fail("expected head dim 64 or 128 on the GPU backward, got " +
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
  p.valueHeadDim = headDim;
  p.isBF16 = elt.isBF16();
  p.withLse = true;
  p.scale = op.getEffectiveScale();
  p.softcap = op.getSoftcapValue();
  if (std::optional<ArrayRef<double>> slopes = op.getAlibiSlopes())
    llvm::append_range(p.alibiSlopes, slopes->take_front(p.headsQ));
  if (p.seqQ < 1 || p.seqK < 1)
    return fail("expected non-empty query and key sequences");
  // The convert kernel indexes 8-element chunks of dQ with i32; grid y is
  // B * Hq (preprocess) and B * Hkv (main).
  if (p.batch * p.headsQ * p.seqQ * headDim / 8 >= (int64_t(1) << 31))
    return fail("expected fewer than 2^31 8-element chunks of dQ");
  if (p.batch * p.headsQ > 65535)
    return fail("expected B * Hq <= 65535 (the grid's y extent)");
  p.visibility = op.getKeyVisibility();
  ConstArith constants;
  p.diagOffset = p.visibility.diagonal(constants, p.seqQ, p.seqK);
  return p;
}

/// The memref `tensor` is read from (bufferization.to_tensor of an
/// identity-layout memref); errors at `op`.
static FailureOr<Value> getInputMemref(AttentionBackwardOp op, Value tensor) {
  auto toTensor = tensor.getDefiningOp<bufferization::ToTensorOp>();
  if (!toTensor)
    return op.emitOpError("expected every operand to come from "
                          "bufferization.to_tensor of memrefs on the GPU "
                          "backward (destination-passing form)");
  Value memref = toTensor.getBuffer();
  auto type = cast<MemRefType>(memref.getType());
  if (!type.getLayout().isIdentity() || type.getMemorySpace())
    return op.emitOpError("expected identity-layout memrefs in the default "
                          "memory space, got ")
           << type;
  return memref;
}

namespace {

/// The kernels' shared argument list, in BackwardArgument order.
struct BackwardArgumentList {
  SmallVector<Value> values;
  SmallVector<std::string> names;
  SmallVector<ArgumentRole> roles;
  SmallVector<Operation *> stores;
};

} // namespace

static LogicalResult collectBackwardArguments(AttentionBackwardOp op,
                                              BackwardArgumentList &list,
                                              bool deterministic,
                                              OpBuilder &b) {
  const char *inputNames[] = {"q", "k", "v", "o", "do", "lse"};
  Value inputs[] = {op.getQuery(),  op.getKey(),        op.getValue(),
                    op.getOutput(), op.getGradOutput(), op.getLse()};
  for (auto [name, tensor] : llvm::zip(inputNames, inputs)) {
    FailureOr<Value> memref = getInputMemref(op, tensor);
    if (failed(memref))
      return failure();
    list.values.push_back(*memref);
    list.names.push_back(name);
    list.roles.push_back(ArgumentRole::Input);
  }
  const char *outputNames[] = {"dq", "dk", "dv"};
  for (auto [name, result] : llvm::zip(outputNames, op->getResults())) {
    bufferization::MaterializeInDestinationOp store;
    for (Operation *user : result.getUsers())
      if (auto m = dyn_cast<bufferization::MaterializeInDestinationOp>(user))
        if (isa<BaseMemRefType>(m.getDest().getType()))
          store = m;
    if (!store || !result.hasOneUse())
      return op.emitOpError("expected every gradient to be stored once with "
                            "bufferization.materialize_in_destination into a "
                            "memref on the GPU backward");
    auto type = cast<MemRefType>(store.getDest().getType());
    if (!type.getLayout().isIdentity() || type.getMemorySpace())
      return op.emitOpError("expected identity-layout memrefs in the default "
                            "memory space, got ")
             << type;
    list.values.push_back(store.getDest());
    list.names.push_back(name);
    list.roles.push_back(ArgumentRole::Output);
    list.stores.push_back(store);
  }
  // Workspaces, allocated for the three launches.
  ArrayRef<int64_t> lseShape =
      cast<RankedTensorType>(op.getLse().getType()).getShape();
  SmallVector<int64_t> accShape(op.getQueryType().getShape());
  auto f32 = b.getF32Type();
  std::pair<const char *, MemRefType> workspaces[] = {
      {"delta", MemRefType::get(lseShape, f32)},
      {"lse_log2", MemRefType::get(lseShape, f32)},
      {"dq_accum", MemRefType::get(accShape, f32)}};
  // The deterministic program has no dq_accum.
  for (auto [name, type] :
       ArrayRef(workspaces).drop_back(deterministic ? 1 : 0)) {
    list.values.push_back(memref::AllocOp::create(b, op.getLoc(), type));
    list.names.push_back(name);
    list.roles.push_back(ArgumentRole::Workspace);
  }
  return success();
}

/// Erases `roots` and then every op that fed them and has no other use.
static void eraseWithDeadProducers(ArrayRef<Operation *> roots) {
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
    if (!isOpTriviallyDead(op))
      continue;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        worklist.insert(def);
    op->erase();
  }
}

/// The number NN of a chip name sm_NN or sm_NNa, or 0.
static int getChipVersion(StringRef chip) {
  int v = 0;
  if (!chip.consume_front("sm_"))
    return 0;
  chip.consume_back("a");
  return chip.getAsInteger(10, v) ? 0 : v;
}

/// Resolves dq-reduction for `chip` and `features` (vector red.global.add
/// of f32 needs sm_90 and PTX ISA 8.1); errors at `op`.
static FailureOr<DQReduction> resolveDQReduction(Operation *op,
                                                 StringRef name,
                                                 StringRef chip,
                                                 StringRef features) {
  bool vectorRed =
      getChipVersion(chip) >= 90 && getPtxFeatureVersion(features) >= 81;
  // red-v4: one 16-byte reduction per C fragment of the tiled dq_accum
  // (BackwardKernel.h; bench/NOTES.md, branch bwdperf).
  if (name == "auto")
    return vectorRed ? DQReduction::RedV4 : DQReduction::Atom;
  if (name == "atom")
    return DQReduction::Atom;
  if (name != "red-v2" && name != "red-v4")
    return op->emitOpError("expected dq-reduction auto, atom, red-v2 or "
                           "red-v4, got '")
           << name << "'";
  if (!vectorRed)
    return op->emitOpError("expected chip sm_90 or newer and +ptx81 or "
                           "newer for dq-reduction=")
           << name << " (red.global.add.v2/v4.f32), got chip '" << chip
           << "' and features '" << features << "'";
  return name == "red-v2" ? DQReduction::RedV2 : DQReduction::RedV4;
}

/// The cost model's figures of the backward `op` read into `p`.
static AttentionFigures getBackwardFigures(AttentionBackwardOp op,
                                           const KernelProblem &p) {
  AttentionFigures f;
  f.batch = p.batch;
  f.headsQ = p.headsQ;
  f.headsKV = p.headsKV;
  f.queryLength = p.seqQ;
  f.keyLength = p.seqK;
  f.headDim = p.headDim;
  f.valueHeadDim = p.valueHeadDim;
  f.elementKind = p.isBF16 ? ElementKind::BF16 : ElementKind::F16;
  f.elementBytes = f.outputElementBytes = 2;
  f.mask = {op.getMaskKind(), p.seqQ, p.seqK, 0, 0};
  if (op.getMaskKind() == MaskKind::SlidingWindow && op.getWindow()) {
    f.mask.windowLeft = (*op.getWindow())[0];
    f.mask.windowRight = (*op.getWindow())[1];
  }
  f.withLse = true;
  f.withSoftcap = p.softcap.has_value();
  f.withAlibi = !p.alibiSlopes.empty();
  return f;
}

/// The program's tiles: block-m, block-n and dq-block-m as given, those
/// left at 0 from the cost model of the GPU `tileModel` names (auto: the
/// GPU of `chip`; empty: the fixed 64). Errors at `op`.
static FailureOr<BackwardTiles>
resolveBackwardTiles(AttentionBackwardOp op, const KernelProblem &p,
                     int64_t blockM, int64_t blockN, int64_t dqBlockM,
                     StringRef tileModel, StringRef chip, bool deterministic,
                     DQReduction reduction, bool squareWarpTiles,
                     int64_t dqWarpRows) {
  if (dqWarpRows != 0 && dqWarpRows != 16 && dqWarpRows != 32)
    return op.emitOpError("expected dq-warp-rows 0 (auto), 16 or 32, got ")
           << dqWarpRows;
  for (auto [name, v] : {std::pair<StringRef, int64_t>{"block-m", blockM},
                         {"block-n", blockN},
                         {"dq-block-m", dqBlockM}})
    if (v != 0 && v != 64 && v != 128)
      return op.emitOpError("expected ")
             << name << " 0 (the tile model's), 64 or 128, got " << v;
  BackwardTiles tiles;
  // Measured on the H200: the deterministic main kernel (no dQ) is faster
  // with 16 keys per warp (bench/NOTES.md, branch bwdfast).
  tiles.squareWarpTiles = squareWarpTiles && !deterministic;
  bool modelled = !tileModel.empty() &&
                  (!blockM || !blockN || (deterministic && !dqBlockM));
  if (modelled) {
    const GpuSpec *gpu =
        tileModel == "auto" ? lookupGpuForChip(chip) : lookupGpu(tileModel);
    if (!gpu && tileModel == "auto")
      return op.emitOpError("expected tile-model=auto to know a GPU of chip '")
             << chip << "' (" << listKnownGpus()
             << "); name one with tile-model=<gpu>";
    if (!gpu)
      return op.emitOpError("expected tile-model to name a known GPU (")
             << listKnownGpus() << ", or auto), got '" << tileModel << "'";
    int64_t width = reduction == DQReduction::RedV4   ? 4
                    : reduction == DQReduction::RedV2 ? 2
                                                      : 1;
    BackwardTileChoice choice = chooseBackwardTileConfig(
        getBackwardFigures(op, p), *gpu, deterministic, width,
        tiles.squareWarpTiles);
    tiles.blockM = choice.blockM;
    tiles.blockN = choice.blockN;
    tiles.dqBlockM = choice.dqBlockM;
    // auto is silent (the choice is in the kernel info and manifests);
    // naming a GPU asks to see why.
    if (tileModel != "auto")
      op.emitRemark() << "convert-attn-backward-to-nvvm: tiles from the cost "
                         "model: "
                      << choice.reason;
  }
  // Given tiles win over the model's.
  if (blockM)
    tiles.blockM = blockM;
  if (blockN)
    tiles.blockN = blockN;
  if (dqBlockM)
    tiles.dqBlockM = dqBlockM;
  if (tiles.blockM > tiles.blockN)
    return op.emitOpError("expected block-m <= block-n (the main kernel's "
                          "dQ gives each warp 16 query rows), got block-m ")
           << tiles.blockM << " and block-n " << tiles.blockN;
  // 32-row dQ tiles measured faster (H200) where they turn 8 row groups of
  // all of D into 4 x 2 halves (square tiles at block-m 128), not where
  // they turn 4 x 2 into 2 x 4 (block-m 64).
  if (!dqWarpRows)
    dqWarpRows = tiles.square() && tiles.blockM == 128 ? 32 : 16;
  tiles.dqWarpRows = dqWarpRows;
  return tiles;
}

FailureOr<BackwardSchedule> mlir::attn::planBackwardSchedule(
    AttentionBackwardOp op, const ConvertAttnBackwardToNVVMOptions &options) {
  FailureOr<KernelProblem> problem = getBackwardProblem(op);
  if (failed(problem))
    return failure();
  FailureOr<DQReduction> reduction = resolveDQReduction(
      op, options.dqReduction, options.chip, options.ptxFeatures);
  if (failed(reduction))
    return failure();
  FailureOr<BackwardTiles> tiles = resolveBackwardTiles(
      op, *problem, options.blockM, options.blockN, options.dqBlockM,
      options.tileModel, options.chip, options.deterministic, *reduction,
      options.squareWarpTiles, options.dqWarpRows);
  if (failed(tiles))
    return failure();
  BackwardSchedule schedule;
  schedule.blockM = tiles->blockM;
  schedule.blockN = tiles->blockN;
  schedule.deterministic = options.deterministic;
  return schedule;
}

namespace {

/// One kernel of the program: its name suffix, launch, tiles and body.
struct BackwardKernelSpec {
  StringRef suffix;
  std::array<int64_t, 3> grid;
  int64_t sharedMemoryBytes;
  StringRef gridFormula;
  std::function<void(gpu::GPUFuncOp)> emit;
  int64_t threads = kBackwardThreads;
  int64_t blockM = kBackwardBlockM, blockN = kBackwardBlockN;
};

struct ConvertAttnBackwardToNVVMPass
    : public mlir::attn::impl::ConvertAttnBackwardToNVVMBase<
          ConvertAttnBackwardToNVVMPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<AttentionBackwardOp> ops;
    module.walk([&](AttentionBackwardOp op) { ops.push_back(op); });
    for (AttentionBackwardOp op : ops)
      if (failed(lower(op)))
        return signalPassFailure();
  }

  /// The gpu.module of the kernels: the forward lowering's when it ran.
  gpu::GPUModuleOp getKernelModule() {
    ModuleOp module = getOperation();
    for (auto kernels : module.getOps<gpu::GPUModuleOp>())
      if (kernels.getName() == kernelModuleName)
        return kernels;
    OpBuilder b(module.getContext());
    b.setInsertionPointToStart(module.getBody());
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    b.getUnitAttr());
    return gpu::GPUModuleOp::create(b, module.getLoc(), kernelModuleName);
  }

  LogicalResult lower(AttentionBackwardOp op) {
    FailureOr<KernelProblem> problem = getBackwardProblem(op);
    if (failed(problem))
      return failure();
    const KernelProblem &p = *problem;
    FailureOr<DQReduction> reduction =
        resolveDQReduction(op, dqReduction, chip, ptxFeatures);
    if (failed(reduction))
      return failure();
    FailureOr<BackwardTiles> resolved =
        resolveBackwardTiles(op, p, blockM, blockN, dqBlockM, tileModel, chip,
                             deterministic, *reduction, squareWarpTiles,
                             dqWarpRows);
    if (failed(resolved))
      return failure();
    const BackwardTiles tiles = *resolved;
    OpBuilder b(op);
    BackwardArgumentList list;
    if (failed(collectBackwardArguments(op, list, deterministic, b)))
      return failure();

    int64_t preprocessRows = backwardPreprocessRows(p);
    int64_t dqChunks = p.batch * p.headsQ * p.seqQ * p.headDim / 8;
    bool atomicDQ = !deterministic;
    SmallVector<BackwardKernelSpec> kernels = {
        {"_bwd_preprocess",
         {llvm::divideCeilSigned(p.seqQ, preprocessRows), p.batch * p.headsQ,
          1},
         0,
         preprocessRows == 16 ? "[ceil(Lq / 16), B * Hq, 1]"
                              : "[ceil(Lq / 8), B * Hq, 1]",
         [&](gpu::GPUFuncOp f) { emitBackwardPreprocess(f, p, atomicDQ); }},
        {"_bwd",
         {llvm::divideCeilSigned(p.seqK, tiles.blockN), p.batch * p.headsKV,
          1},
         backwardMainSharedBytes(p, tiles), "[ceil(Lk / block_n), B * Hkv, 1]",
         [&](gpu::GPUFuncOp f) {
           emitBackwardMain(f, p,
                            {atomicDQ, *reduction, rotateQBlocks, tiles});
         },
         tiles.mainThreads(), tiles.blockM, tiles.blockN}};
    if (deterministic)
      kernels.push_back(
          {"_bwd_dq",
           {llvm::divideCeilSigned(p.seqQ, tiles.dqBlockM), p.batch * p.headsQ,
            1},
           backwardDQSharedBytes(p, tiles), "[ceil(Lq / block_m), B * Hq, 1]",
           [&](gpu::GPUFuncOp f) { emitBackwardDQ(f, p, tiles); },
           tiles.dqThreads(), tiles.dqBlockM, kBackwardBlockN});
    else
      kernels.push_back(
          {"_bwd_convert",
           {llvm::divideCeilSigned(dqChunks, kBackwardThreads), 1, 1},
           0,
           "[ceil(B * Hq * Lq * D / 1024), 1, 1]",
           [&](gpu::GPUFuncOp f) { emitBackwardConvert(f, p); }});

    gpu::GPUModuleOp kernelModule = getKernelModule();
    auto parent = op->getParentOfType<FunctionOpInterface>();
    std::string base =
        parent ? parent.getName().str() : std::string("attention");
    SmallVector<Type> argTypes =
        llvm::map_to_vector(list.values, [](Value v) { return v.getType(); });
    Location loc = op.getLoc();
    for (const BackwardKernelSpec &spec : kernels) {
      OpBuilder kb(op.getContext());
      kb.setInsertionPointToEnd(kernelModule.getBody());
      auto func = gpu::GPUFuncOp::create(kb, loc, base + spec.suffix.str(),
                                         kb.getFunctionType(argTypes, {}));
      func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                    kb.getUnitAttr());
      SymbolTable(kernelModule).insert(func);
      func.setKnownBlockSizeAttr(kb.getDenseI32ArrayAttr(
          {static_cast<int32_t>(spec.threads), 1, 1}));
      spec.emit(func);

      KernelLaunchDesc desc;
      desc.family = "backward";
      desc.gridFormula = spec.gridFormula;
      desc.sharedMemoryBytes = spec.sharedMemoryBytes;
      desc.blockM = spec.blockM;
      desc.blockN = spec.blockN;
      desc.numWarps = spec.threads / 32;
      desc.names = list.names;
      desc.roles = list.roles;
      FailureOr<KernelInfoAttr> info = buildKernelInfo(op, desc);
      if (failed(info))
        return failure();
      func->setAttr(KernelInfoAttr::getAttributeName(), *info);
      auto idx = [&](int64_t v) -> Value {
        return arith::ConstantIndexOp::create(b, loc, v);
      };
      auto smem = arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                               spec.sharedMemoryBytes);
      auto launch = gpu::LaunchFuncOp::create(
          b, loc, func,
          gpu::KernelDim3{idx(spec.grid[0]), idx(spec.grid[1]),
                          idx(spec.grid[2])},
          gpu::KernelDim3{idx(spec.threads), idx(1), idx(1)}, smem,
          list.values);
      launch->setAttr(KernelInfoAttr::getAttributeName(), *info);
    }
    for (auto [value, role] : llvm::zip(list.values, list.roles))
      if (role == ArgumentRole::Workspace)
        memref::DeallocOp::create(b, loc, value);
    SmallVector<Operation *> dead(list.stores);
    dead.push_back(op);
    eraseWithDeadProducers(dead);
    return success();
  }
};

} // namespace
