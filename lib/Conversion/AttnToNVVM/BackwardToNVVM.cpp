//===- BackwardToNVVM.cpp - tiled attention backwards to GPU kernels ------===//
//
// Part of attn-mlir. The convert-attn-backward-to-nvvm pass: reads each tiled
// backward program (TiledBackwardProgram: attn-tile-backward's forall by the
// schedule attn-plan-gpu-backward recorded) into a KernelProblem and its
// tiles, allocates the workspaces and replaces the program by the three
// launches of BackwardKernel.h (preprocess, main, convert or dQ) in stream
// order, each with its #attn.kernel_info: the forall's KV blocks are the
// main kernel's grid, its query loop that kernel's loop. A broadcast bias'
// gradient adds two launches around the main kernel
// (BackwardBiasGradient.cpp), the sinks' gradient one at the end.
//
//===----------------------------------------------------------------------===//

#include "BackwardKernel.h"
#include "RoundingKernel.h"
#include "TiledBackwardProgram.h"

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

/// The memref `tensor` is read from (bufferization.to_tensor of an
/// identity-layout memref, or a strided one where `allowStrided`); errors at
/// `anchor`.
static FailureOr<Value> getInputMemref(Operation *anchor, Value tensor,
                                       bool allowStrided) {
  auto toTensor = tensor.getDefiningOp<bufferization::ToTensorOp>();
  if (!toTensor)
    return anchor->emitOpError("expected every operand to come from "
                               "bufferization.to_tensor of memrefs on the GPU "
                               "backward (destination-passing form)");
  Value memref = toTensor.getBuffer();
  if (failed(checkBackwardMemref(anchor, cast<MemRefType>(memref.getType()),
                                 allowStrided)))
    return failure();
  return memref;
}

namespace {

/// The kernels' shared argument list, in BackwardArgument order.
struct BackwardArgumentList {
  SmallVector<Value> values;
  SmallVector<std::string> names;
  SmallVector<ArgumentRole> roles;
  /// f32-compute: the scratch copies after the workspaces (Q, K, V, O, dO,
  /// dQ, dK, dV: KernelProblem::roundedArguments) and their conversions.
  SmallVector<RoundingCopy> roundings;
  int64_t roundedArguments = -1;
};

} // namespace

static LogicalResult
collectBackwardArguments(const TiledBackwardProgram &program,
                         BackwardArgumentList &list, bool deterministic,
                         bool atomicGradBias, OpBuilder &b) {
  Operation *anchor = program.forall;
  const char *inputNames[] = {"q", "k", "v", "o", "do", "lse"};
  Value inputs[] = {program.query,  program.key,        program.value,
                    program.output, program.gradOutput, program.lse};
  // f32-compute: Q, K, V, O and dO are arith.truncf of the caller's f32
  // tensors, which stay the arguments (their copies come last).
  SmallVector<std::pair<int64_t, Type>> rounded;
  for (auto [name, tensor] : llvm::zip(inputNames, inputs)) {
    Value source = tensor;
    if (auto truncate = tensor.getDefiningOp<arith::TruncFOp>()) {
      source = truncate.getIn();
      rounded.push_back({list.values.size(), tensor.getType()});
    }
    FailureOr<Value> memref =
        getInputMemref(anchor, source, /*allowStrided=*/tensor != program.lse);
    if (failed(memref))
      return failure();
    list.values.push_back(*memref);
    list.names.push_back(name);
    list.roles.push_back(ArgumentRole::Input);
  }
  // The score operands, dense, in the entry's order (BackwardScoreArguments).
  for (auto [name, tensor] :
       {std::pair<const char *, Value>{"bias", program.bias},
        {"mask", program.mask},
        {"key_lengths", program.keyLengths},
        {"sinks", program.sinks},
        {"cu_seqlens_q", program.cuSeqlensQ},
        {"cu_seqlens_k", program.cuSeqlensK},
        {"grad_lse", program.gradLse}}) {
    if (!tensor)
      continue;
    FailureOr<Value> memref =
        getInputMemref(anchor, tensor, /*allowStrided=*/false);
    if (failed(memref))
      return failure();
    list.values.push_back(*memref);
    list.names.push_back(name);
    list.roles.push_back(ArgumentRole::Input);
  }
  const char *outputNames[] = {"dq", "dk", "dv"};
  for (auto [name, stored, widening] :
       llvm::zip(outputNames, program.stores, program.widenings)) {
    bufferization::MaterializeInDestinationOp store = stored;
    if (widening)
      rounded.push_back(
          {list.values.size(), arith::ExtFOp(widening).getIn().getType()});
    if (failed(checkBackwardMemref(
            anchor, cast<MemRefType>(store.getDest().getType()),
            /*allowStrided=*/true)))
      return failure();
    list.values.push_back(store.getDest());
    list.names.push_back(name);
    list.roles.push_back(ArgumentRole::Output);
  }
  // d_bias, then d_sinks, after dV (BackwardScoreArguments).
  for (auto [name, store] :
       {std::pair<const char *, bufferization::MaterializeInDestinationOp>{
            "d_bias", program.gradBiasStore},
        {"d_sinks", program.sinkStore}}) {
    if (!store)
      continue;
    Value dest = store.getDest();
    if (failed(checkBackwardMemref(anchor, cast<MemRefType>(dest.getType()),
                                   /*allowStrided=*/false)))
      return failure();
    list.values.push_back(dest);
    list.names.push_back(name);
    list.roles.push_back(ArgumentRole::Output);
  }
  // Workspaces, allocated for the three launches.
  ArrayRef<int64_t> lseShape =
      cast<RankedTensorType>(program.lse.getType()).getShape();
  // dq_accum is [B, Hq, Lq, D] whatever Q's layout (the kernels index it
  // dense, BackwardKernel.h).
  SmallVector<int64_t> accShape(lseShape);
  accShape.push_back(
      cast<RankedTensorType>(program.query.getType()).getDimSize(3));
  auto f32 = b.getF32Type();
  std::pair<const char *, MemRefType> workspaces[] = {
      {"delta", MemRefType::get(lseShape, f32)},
      {"lse_log2", MemRefType::get(lseShape, f32)},
      {"dq_accum", MemRefType::get(accShape, f32)}};
  // The deterministic program has no dq_accum.
  SmallVector<std::pair<const char *, MemRefType>> used(
      ArrayRef(workspaces).drop_back(deterministic ? 1 : 0));
  // The atomic d_bias' f32 sum, of the bias' shape (kBwdDBiasAccum).
  if (atomicGradBias)
    used.push_back(
        {"dbias_accum",
         MemRefType::get(
             cast<RankedTensorType>(program.bias.getType()).getShape(), f32)});
  for (auto [name, type] : used) {
    list.values.push_back(memref::AllocOp::create(b, anchor->getLoc(), type));
    list.names.push_back(name);
    list.roles.push_back(ArgumentRole::Workspace);
  }
  if (rounded.empty())
    return success();
  // getBackwardArgumentIndex reads all eight copies in place of their
  // originals, so attn-round-f32-inputs rounds all or none.
  if (rounded.size() != 8)
    return anchor->emitOpError("expected Q, K, V, O and dO rounded and dQ, "
                               "dK and dV widened together (f32-compute), "
                               "got ")
           << rounded.size() << " of the eight";
  list.roundedArguments = list.values.size();
  for (auto [i, entry] : llvm::enumerate(rounded)) {
    auto [original, type] = entry;
    auto tensor = cast<RankedTensorType>(type);
    int64_t copy = list.values.size();
    list.values.push_back(memref::AllocOp::create(
        b, anchor->getLoc(),
        MemRefType::get(tensor.getShape(), tensor.getElementType())));
    list.names.push_back(
        getRoundedCopyName(list.names[original], tensor.getElementType()));
    list.roles.push_back(ArgumentRole::Scratch);
    bool widen = i >= 5;
    list.roundings.push_back(widen ? RoundingCopy{copy, original, true}
                                   : RoundingCopy{original, copy, false});
  }
  return success();
}

namespace {

/// One kernel of the program: its name suffix, launch, tiles and body. The
/// spec owns its strings: most are built per program (grids of its shape).
struct BackwardKernelSpec {
  std::string suffix;
  std::array<int64_t, 3> grid;
  int64_t sharedMemoryBytes;
  std::string gridFormula;
  std::function<void(gpu::GPUFuncOp)> emit;
  int64_t threads = kBackwardThreads;
  int64_t blockM = kBackwardBlockM, blockN = kBackwardBlockN;
  /// The manifest's family: the hopper main kernel's is hopper-backward.
  StringRef family = "backward";
};

struct ConvertAttnBackwardToNVVMPass
    : public mlir::attn::impl::ConvertAttnBackwardToNVVMBase<
          ConvertAttnBackwardToNVVMPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // A backward that was not tiled for the kernels has no program yet.
    WalkResult untiled = module.walk([](AttentionBackwardOp op) {
      op.emitOpError("expected attn-plan-gpu-backward and attn-tile-backward "
                     "to have made a tiled program of the backward before "
                     "convert-attn-backward-to-nvvm (the attn-to-ptx pipeline "
                     "runs them)");
      return WalkResult::interrupt();
    });
    if (untiled.wasInterrupted())
      return signalPassFailure();
    SmallVector<scf::ForallOp> programs;
    module.walk([&](scf::ForallOp forall) {
      if (forall->hasAttr(BackwardScheduleAttr::getAttributeName()))
        programs.push_back(forall);
    });
    for (scf::ForallOp forall : programs) {
      FailureOr<TiledBackwardProgram> program =
          TiledBackwardProgram::match(forall);
      if (failed(program) || failed(lower(*program)))
        return signalPassFailure();
    }
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

  /// The program's kernels and launches in its place. Its tiles and dQ
  /// program are the IR's (match checked the schedule agrees), the rest of
  /// the kernels' choices the schedule's.
  LogicalResult lower(TiledBackwardProgram &program) {
    scf::ForallOp forall = program.forall;
    FailureOr<KernelProblem> problem =
        getBackwardProblem(forall, program.getOperands());
    if (failed(problem) ||
        failed(getBackwardStrides(forall, program.info.getLayout(),
                                  program.query, program.key, program.value,
                                  program.output, program.gradOutput,
                                  program.results, *problem)))
      return failure();
    const KernelProblem &p = *problem;
    BackwardTiles tiles = getBackwardTiles(program.schedule);
    tiles.blockM = program.blockM;
    tiles.blockN = program.blockN;
    if (program.numKeyBlocks != llvm::divideCeilSigned(p.seqK, tiles.blockN))
      return forall.emitOpError("expected one program per KV block of ")
             << tiles.blockN << " keys, got " << program.numKeyBlocks;
    bool deterministic = program.deterministic;
    std::optional<DQReduction> reduction =
        parseDQReduction(program.schedule.getDqReduction());
    if (!reduction)
      return forall.emitOpError("expected a known dq_reduction");
    bool rotateQBlocks = program.schedule.getRotateQBlocks();
    if (failed(checkGradBiasMode(forall, p, deterministic)))
      return failure();
    bool atomicGradBias = backwardGradBiasAtomic(p);
    OpBuilder b(forall);
    BackwardArgumentList list;
    if (failed(collectBackwardArguments(program, list, deterministic,
                                        atomicGradBias, b)))
      return failure();
    // f32-compute: the kernels read and write the scratch copies.
    problem->roundedArguments = list.roundedArguments;

    int64_t preprocessRows = backwardPreprocessRows(p);
    int64_t dqChunks = p.batch * p.headsQ * p.seqQ * p.headDim / 8;
    std::string preprocessGrid =
        "[ceil(Lq / " + std::to_string(preprocessRows) + "), B * Hq, 1]";
    bool atomicDQ = !deterministic;
    // Varlen: the main and dQ kernels' x flattens the sequences' KV (Q)
    // blocks, one more CTA per sequence (VarlenProgram.cpp); B = 1.
    int64_t extraBlocks = p.varlen ? p.numSequences : 0;
    std::string plusSequences =
        p.varlen ? " + " + std::to_string(p.numSequences) : "";
    std::string mainGrid =
        p.varlen ? "[ceil(Lk / block_n)" + plusSequences + ", Hkv, 1]"
                 : kBackwardMainGridFormula.str();
    SmallVector<BackwardKernelSpec> kernels = {
        {"_bwd_preprocess",
         {llvm::divideCeilSigned(p.seqQ, preprocessRows), p.batch * p.headsQ,
          1},
         0,
         preprocessGrid,
         [&](gpu::GPUFuncOp f) { emitBackwardPreprocess(f, p, atomicDQ); }},
        {"_bwd",
         {program.numKeyBlocks + extraBlocks, p.batch * p.headsKV, 1},
         backwardMainSharedBytes(p, tiles),
         mainGrid,
         [&](gpu::GPUFuncOp f) {
           emitBackwardMain(f, p,
                            {atomicDQ, *reduction, rotateQBlocks, tiles});
         },
         tiles.mainThreads(),
         tiles.blockM,
         tiles.blockN,
         tiles.hopper ? "hopper-backward" : "backward"}};
    if (deterministic)
      kernels.push_back(
          {"_bwd_dq",
           {llvm::divideCeilSigned(p.seqQ, tiles.dqBlockM) + extraBlocks,
            p.batch * p.headsQ, 1},
           backwardDQSharedBytes(p, tiles),
           "[ceil(Lq / block_m)" + plusSequences + ", B * Hq, 1]",
           [&](gpu::GPUFuncOp f) { emitBackwardDQ(f, p, tiles); },
           tiles.dqThreads(),
           tiles.dqBlockM,
           kBackwardBlockN});
    else
      kernels.push_back(
          {"_bwd_convert",
           {llvm::divideCeilSigned(dqChunks, kBackwardThreads), 1, 1},
           0,
           "[ceil(B * Hq * Lq * D / 1024), 1, 1]",
           [&](gpu::GPUFuncOp f) { emitBackwardConvert(f, p); }});
    // d_bias zeroed before the main kernel (which skips the (KV block, Q
    // block) pairs that see nothing); a broadcast bias' sum rounded after.
    if (p.withGradBias) {
      int64_t biasBlocks = llvm::divideCeilSigned(backwardBiasElements(p),
                                                  kBackwardThreads);
      std::string biasGrid = "[" + std::to_string(biasBlocks) + ", 1, 1]";
      kernels.insert(kernels.begin() + 1,
                     {"_bwd_dbias_zero",
                      {biasBlocks, 1, 1},
                      0,
                      biasGrid,
                      [&](gpu::GPUFuncOp f) { emitBackwardBiasZero(f, p); }});
      if (atomicGradBias)
        kernels.push_back(
            {"_bwd_dbias_convert",
             {biasBlocks, 1, 1},
             0,
             biasGrid,
             [&](gpu::GPUFuncOp f) { emitBackwardBiasConvert(f, p); }});
    }
    // The sinks' gradient last: it reads the preprocess's delta only.
    if (p.withSinks)
      kernels.push_back({"_bwd_sinks",
                         {p.headsQ, 1, 1},
                         kBackwardSinksSharedBytes,
                         "[Hq, 1, 1]",
                         [&](gpu::GPUFuncOp f) { emitBackwardSinks(f, p); }});

    // f32-compute: Q, K, V, O and dO narrowed into their copies first, dQ,
    // dK and dV widened into the caller's f32 memrefs last.
    SmallVector<BackwardKernelSpec> narrowing;
    for (const RoundingCopy &r : list.roundings) {
      FailureOr<RoundingLaunch> planned =
          planRoundingLaunch(forall, list.values, list.names, r);
      if (failed(planned))
        return failure();
      BackwardKernelSpec spec{"_bwd" + planned->suffix,
                              {planned->blocks, 1, 1},
                              0,
                              std::move(planned->gridFormula),
                              [&values = list.values, r](gpu::GPUFuncOp f) {
                                emitRoundingKernel(f, values, r);
                              },
                              kRoundingThreads,
                              0,
                              0,
                              "convert"};
      if (r.widen)
        kernels.push_back(spec);
      else
        narrowing.push_back(spec);
    }
    // (An empty insert at the front would self-move every spec.)
    if (!narrowing.empty())
      kernels.insert(kernels.begin(), narrowing.begin(), narrowing.end());

    gpu::GPUModuleOp kernelModule = getKernelModule();
    auto parent = forall->getParentOfType<FunctionOpInterface>();
    std::string base =
        parent ? parent.getName().str() : std::string("attention");
    SmallVector<Type> argTypes =
        llvm::map_to_vector(list.values, [](Value v) { return v.getType(); });
    Location loc = forall.getLoc();
    for (const BackwardKernelSpec &spec : kernels) {
      OpBuilder kb(forall.getContext());
      kb.setInsertionPointToEnd(kernelModule.getBody());
      auto func = gpu::GPUFuncOp::create(kb, loc, base + spec.suffix,
                                         kb.getFunctionType(argTypes, {}));
      func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                    kb.getUnitAttr());
      SymbolTable(kernelModule).insert(func);
      func.setKnownBlockSizeAttr(kb.getDenseI32ArrayAttr(
          {static_cast<int32_t>(spec.threads), 1, 1}));
      spec.emit(func);

      KernelLaunchDesc desc;
      desc.family = spec.family;
      desc.gridFormula = spec.gridFormula;
      desc.sharedMemoryBytes = spec.sharedMemoryBytes;
      desc.blockM = spec.blockM;
      desc.blockN = spec.blockN;
      desc.numWarps = spec.threads / 32;
      desc.names = list.names;
      desc.roles = list.roles;
      FailureOr<KernelInfoAttr> info = withLaunch(forall, program.info, desc);
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
      if (role == ArgumentRole::Workspace || role == ArgumentRole::Scratch)
        memref::DeallocOp::create(b, loc, value);
    program.erase();
    return success();
  }
};

} // namespace
