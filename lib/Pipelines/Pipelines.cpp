//===- Pipelines.cpp - named attn-mlir pipelines --------------------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Pipelines/Pipelines.h"
#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Conversion/Passes.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Arith/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/AllocationOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::buildAttnToCpuPipeline(
    OpPassManager &pm, const AttnToCpuPipelineOptions &options) {
  // A graph attn-raise left alone may still hold linalg.softmax, which
  // linalg-to-loops does not lower.
  pm.addPass(createAttnDecomposeSoftmax());
  ConvertAttnToLinalgOptions lowering;
  lowering.accumulateInF64 = options.accumulateInF64;
  pm.addPass(createConvertAttnToLinalg(lowering));
  // Elementwise arith on whole tensors (attn-round-f32-inputs' truncf / extf
  // of the operands) as linalg, which one-shot bufferization takes.
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());

  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  // KV loops carry freshly computed tiles (the combine or online step makes
  // new tensors); allow the loop to yield those buffers.
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::buildBufferDeallocationPipeline(pm);

  // Tiled attention (attn-tile) runs its programs as scf.forall; the CPU
  // runs them one after another.
  pm.addPass(createForallToForLoopPass());
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // bf16 has no native x86 arithmetic: expand its extf/truncf into integer
  // bit manipulation before the LLVM conversion.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createConvertMathToLLVMPass());
  // Whatever has no LLVM intrinsic (tanh) becomes a libm call.
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::attn::buildAttnKernelToNVVMPasses(OpPassManager &pm) {
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  ConvertGpuOpsToNVVMOpsOptions toNVVM;
  // Statically shaped kernel memrefs become one pointer each: the ABI the
  // manifest describes and the runtime launches with.
  toNVVM.useBarePtrCallConv = true;
  kernels.addPass(createConvertGpuOpsToNVVMOps(toNVVM));
  // TMA descriptors by value (the lowering above drops llvm.byval).
  kernels.addPass(createAttnMarkTensorMapParams());
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::attn::buildNVVMToPtxPasses(OpPassManager &pm,
                                      const AttnToPtxPipelineOptions &options) {
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  // The toolkit whose libdevice resolves the __nv_* math functions that
  // score_mod regions lower to (math.exp, math.tanh, ...): found the way
  // ptxas is, not through whichever variable MLIR happens to read, so the
  // PTX does not depend on the caller's environment.
  binary.toolkitPath = findCudaToolkit();
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

std::vector<std::string> mlir::attn::getCudaToolkitRoots() {
  std::vector<std::string> roots;
  for (const char *name : {"CUDA_HOME", "CUDA_ROOT", "CUDA_PATH"})
    if (const char *root = std::getenv(name))
      roots.push_back(root);
  roots.push_back("/usr/local/cuda");
  return roots;
}

std::string mlir::attn::findCudaToolkit() {
  for (const std::string &root : getCudaToolkitRoots()) {
    SmallString<128> libdevice(root);
    llvm::sys::path::append(libdevice, "nvvm", "libdevice");
    if (llvm::sys::fs::is_directory(libdevice))
      return root;
  }
  return "";
}

SmallVector<GpuKernelStep>
mlir::attn::getAttnGpuKernelSteps(const ConvertAttnToNVVMOptions &lowering) {
  // The family decides the tiles; the tiling passes make its schedule as
  // IR (one program per CTA, the online-softmax KV loops, P's rounding);
  // the family lowers each program to its kernel.
  SmallVector<GpuKernelStep> steps;
  // f32 attentions the user opted in to run rounded (f32-compute; other
  // values are attn-plan-gpu-kernels' error).
  if (lowering.f32Compute == "bf16" || lowering.f32Compute == "f16")
    steps.push_back({"attn-round-f32-inputs", [lowering](OpPassManager &pm) {
                       AttnRoundF32InputsOptions round;
                       round.to = lowering.f32Compute;
                       pm.addPass(createAttnRoundF32Inputs(round));
                     }});
  steps.append({
      {"attn-plan-gpu-kernels",
       [lowering](OpPassManager &pm) {
         pm.addPass(createAttnPlanGpuKernels(lowering));
       }},
      {"attn-tile",
       [](OpPassManager &pm) {
         AttnTileOptions tile;
         tile.skipMaskedBlocks = true;
         pm.addPass(createAttnTile(tile));
       }},
      {"attn-fuse-online-softmax",
       [](OpPassManager &pm) { pm.addPass(createAttnFuseOnlineSoftmax()); }},
      {"attn-lower-precision",
       [](OpPassManager &pm) { pm.addPass(createAttnLowerPrecision()); }},
      {"convert-attn-to-nvvm",
       [lowering](OpPassManager &pm) {
         pm.addPass(createConvertAttnToNVVM(lowering));
       }},
  });
  return steps;
}

void mlir::attn::buildAttnGpuKernelPasses(
    OpPassManager &pm, const ConvertAttnToNVVMOptions &lowering) {
  for (const GpuKernelStep &step : getAttnGpuKernelSteps(lowering))
    step.addPasses(pm);
}

SmallVector<GpuKernelStep> mlir::attn::getAttnGpuBackwardSteps(
    const AttnPlanGpuBackwardOptions &backward, StringRef kernelModuleName) {
  // As the forward: the schedule first, the tiling that makes it IR (one
  // program per KV block, the query loop, P's and dS's rounding), then the
  // kernels of each program.
  return {
      {"attn-plan-gpu-backward",
       [backward](OpPassManager &pm) {
         pm.addPass(createAttnPlanGpuBackward(backward));
       }},
      {"attn-tile-backward",
       [](OpPassManager &pm) {
         AttnTileBackwardOptions tile;
         tile.skipMaskedBlocks = true;
         pm.addPass(createAttnTileBackward(tile));
       }},
      {"attn-lower-precision",
       [](OpPassManager &pm) { pm.addPass(createAttnLowerPrecision()); }},
      {"convert-attn-backward-to-nvvm",
       [name = kernelModuleName.str()](OpPassManager &pm) {
         ConvertAttnBackwardToNVVMOptions lowering;
         lowering.kernelModuleName = name;
         pm.addPass(createConvertAttnBackwardToNVVM(lowering));
       }},
  };
}

void mlir::attn::buildAttnGpuBackwardPasses(
    OpPassManager &pm, const AttnPlanGpuBackwardOptions &backward,
    StringRef kernelModuleName) {
  for (const GpuKernelStep &step :
       getAttnGpuBackwardSteps(backward, kernelModuleName))
    step.addPasses(pm);
}

void mlir::attn::buildAttnToPtxPipeline(
    OpPassManager &pm, const AttnToPtxPipelineOptions &options,
    const ConvertAttnToNVVMOptions &lowering) {
  // Tensor-form functions (as importers write them) get the memref calling
  // convention the kernels take, as attn-compile gives its inputs.
  pm.addPass(createAttnMemrefEntry());
  // The kernel family follows the target chip (sm_90a: wgmma).
  ConvertAttnToNVVMOptions forChip = lowering;
  forChip.chip = options.chip;
  buildAttnGpuKernelPasses(pm, forChip);
  // The backward's kernels come out of its tiled programs the same way,
  // into the same gpu.module.
  AttnPlanGpuBackwardOptions backward;
  backward.chip = options.chip;
  backward.ptxFeatures = options.features;
  buildAttnGpuBackwardPasses(pm, backward, lowering.kernelModuleName);
  buildAttnKernelToNVVMPasses(pm);
  if (options.emitBinary)
    buildNVVMToPtxPasses(pm, options);
}

LogicalResult mlir::attn::parseAttnToPtxOptions(
    StringRef text, AttnToPtxPipelineOptions &options,
    ConvertAttnToNVVMOptions &lowering,
    function_ref<LogicalResult(const Twine &)> errorHandler) {
  // Options are space-separated key[=value] pairs without nested spaces
  // (every value here is a number, a name or a bool).
  std::string own, forwarded;
  SmallVector<StringRef> tokens;
  text.split(tokens, ' ', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (StringRef token : tokens) {
    StringRef key = token.split('=').first;
    std::string &into =
        llvm::is_contained({"chip", "features", "emit-binary"}, key)
            ? own
            : forwarded;
    into += (into.empty() ? "" : " ") + token.str();
  }
  std::string message;
  llvm::raw_string_ostream os(message);
  if (failed(options.parseFromString(own, os)))
    return errorHandler("attn-to-ptx: " + message);
  return parseConvertAttnToNVVMOptions(forwarded, lowering, errorHandler);
}

void mlir::attn::registerAttnToCpuDependencies(DialectRegistry &registry) {
  registry
      .insert<arith::ArithDialect, bufferization::BufferizationDialect,
              func::FuncDialect, linalg::LinalgDialect, math::MathDialect,
              memref::MemRefDialect, scf::SCFDialect, tensor::TensorDialect>();
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  arith::registerBufferDeallocationOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(
      registry);
  cf::registerBufferDeallocationOpInterfaceExternalModels(registry);
  linalg::registerBufferizableOpInterfaceExternalModels(registry);
  memref::registerAllocationOpInterfaceExternalModels(registry);
  scf::registerBufferDeallocationOpInterfaceExternalModels(registry);
  scf::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
}

void mlir::attn::registerAttnPipelines() {
  PassPipelineRegistration<AttnToCpuPipelineOptions>(
      "attn-to-cpu",
      "Lower attn ops through linalg, bufferized loops and LLVM for CPU "
      "execution",
      buildAttnToCpuPipeline);
  registerPassPipeline(
      "attn-gpu-kernels",
      "attn-plan-gpu-kernels, attn-tile, attn-fuse-online-softmax, "
      "attn-lower-precision and convert-attn-to-nvvm: attention ops in "
      "destination-passing form to gpu.module kernels and launches; takes "
      "every convert-attn-to-nvvm option",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        ConvertAttnToNVVMOptions lowering;
        if (failed(parseConvertAttnToNVVMOptions(text, lowering,
                                                 errorHandler)))
          return failure();
        buildAttnGpuKernelPasses(pm, lowering);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)>) {});
  registerPassPipeline(
      "attn-gpu-backward-kernels",
      "attn-plan-gpu-backward, attn-tile-backward, attn-lower-precision and "
      "convert-attn-backward-to-nvvm: attention backwards in "
      "destination-passing form to gpu.module kernels and launches; takes "
      "every attn-plan-gpu-backward option",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        AttnPlanGpuBackwardOptions backward;
        if (failed(parseAttnPlanGpuBackwardOptions(text, backward,
                                                   errorHandler)))
          return failure();
        buildAttnGpuBackwardPasses(pm, backward, "attn_kernels");
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)>) {});
  registerPassPipeline(
      "attn-to-ptx",
      "Lower attn ops to a GPU kernel and PTX (gpu.binary, format=isa) plus "
      "a gpu.launch_func on the host; takes chip, features, emit-binary and "
      "every convert-attn-to-nvvm option",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        AttnToPtxPipelineOptions options;
        ConvertAttnToNVVMOptions lowering;
        if (failed(parseAttnToPtxOptions(text, options, lowering,
                                         errorHandler)))
          return failure();
        // A chip the kernels cannot target is refused while the pipeline is
        // parsed, before the NVPTX backend sees it (it aborts on some, e.g.
        // sm_70).
        if (options.emitBinary)
          if (llvm::Error error = checkGpuChip(options.chip, options.features))
            return errorHandler("attn-to-ptx: " +
                                llvm::toString(std::move(error)));
        buildAttnToPtxPipeline(pm, options, lowering);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(AttnToPtxPipelineOptions());
      });
}
