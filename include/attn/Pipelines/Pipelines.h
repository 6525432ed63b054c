//===- Pipelines.h - named attn-mlir pipelines ------------------*- C++ -*-===//
//
// Part of attn-mlir. Named pipelines are built from the individual passes so
// that attn-opt, attn-compile, the C++ runner and tests share one definition.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "attn/Conversion/Passes.h"

#include "mlir/Pass/PassManager.h"

#include <string>
#include <vector>
#include "mlir/Pass/PassOptions.h"

#include <functional>

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace mlir::attn {

/// Options of the `attn-to-cpu` pipeline.
struct AttnToCpuPipelineOptions
    : public PassPipelineOptions<AttnToCpuPipelineOptions> {
  PassOptions::Option<bool> accumulateInF64{
      *this, "accumulate-in-f64",
      llvm::cl::desc("Accumulate scores and outputs in f64 (see "
                     "convert-attn-to-linalg)"),
      llvm::cl::init(false)};
};

/// attn (on tensors) -> linalg -> bufferized loops -> LLVM dialect, ready for
/// mlir::ExecutionEngine. Entry functions should take memrefs (destination
/// passing style); see attn/Spec/AttentionSpec.h.
void buildAttnToCpuPipeline(OpPassManager &pm,
                            const AttnToCpuPipelineOptions &options);

/// Adds the dialects and external interface models (bufferization,
/// deallocation) that attn-to-cpu needs to run on a context that was not set
/// up by registerAllDialects, e.g. an embedder's.
void registerAttnToCpuDependencies(DialectRegistry &registry);

/// Options of the `attn-to-ptx` pipeline that belong to the pipeline itself
/// (the target). The kernel options are convert-attn-to-nvvm's, declared
/// once in its Passes.td entry: the textual pipeline accepts them beside
/// these ("chip=sm_90 block-m=64 kernel=decode") and hands them to the
/// pass's own parser.
struct AttnToPtxPipelineOptions
    : public PassPipelineOptions<AttnToPtxPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("Target GPU (sm_80, sm_90, ...)"),
      llvm::cl::init("sm_80")};
  PassOptions::Option<std::string> features{
      *this, "features", llvm::cl::desc("PTX features, e.g. +ptx80"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<bool> emitBinary{
      *this, "emit-binary",
      llvm::cl::desc("End with gpu-module-to-binary (format=isa); off stops "
                     "at the NVVM/LLVM dialect"),
      llvm::cl::init(true)};
};

/// Parses the textual options of attn-to-ptx: the keys of
/// AttnToPtxPipelineOptions go to `options`, every other key to
/// convert-attn-to-nvvm's parser (into `lowering`).
LogicalResult
parseAttnToPtxOptions(StringRef text, AttnToPtxPipelineOptions &options,
                      ConvertAttnToNVVMOptions &lowering,
                      function_ref<LogicalResult(const Twine &)> errorHandler);

/// attn (destination-passing form) -> convert-attn-to-nvvm -> gpu.module in
/// the LLVM/NVVM dialects -> gpu.binary holding PTX (format=isa). The host
/// functions keep their gpu.launch_func, the kernel's launch contract.
void buildAttnToPtxPipeline(OpPassManager &pm,
                            const AttnToPtxPipelineOptions &options,
                            const ConvertAttnToNVVMOptions &lowering);
/// The middle of attn-to-ptx: scf/gpu/nvvm ops of the gpu.modules to the LLVM
/// dialect (bare-pointer kernel arguments).
void buildAttnKernelToNVVMPasses(OpPassManager &pm);

/// One step of the GPU kernel pipeline: its name (a pass flag) and how it
/// adds its pass.
struct GpuKernelStep {
  StringRef name;
  std::function<void(OpPassManager &)> addPasses;
};
/// The steps of buildAttnGpuKernelPasses, in order, for a caller that runs
/// (and times) them one by one.
SmallVector<GpuKernelStep>
getAttnGpuKernelSteps(const ConvertAttnToNVVMOptions &lowering);

/// The GPU kernel steps (the `attn-gpu-kernels` pipeline): the family and
/// its tiles (attn-plan-gpu-kernels), the tiling passes that make its
/// schedule (attn-tile, attn-fuse-online-softmax, attn-lower-precision) and
/// the lowering of each tiled program to a kernel (convert-attn-to-nvvm).
void buildAttnGpuKernelPasses(OpPassManager &pm,
                              const ConvertAttnToNVVMOptions &lowering);
/// The backward's GPU kernel steps (the `attn-gpu-backward-kernels`
/// pipeline), in order: the schedule (attn-plan-gpu-backward), the tiling
/// that makes it IR (attn-tile-backward, attn-lower-precision) and the
/// kernels of each tiled program (convert-attn-backward-to-nvvm, into the
/// gpu.module `kernelModuleName`).
SmallVector<GpuKernelStep>
getAttnGpuBackwardSteps(const AttnPlanGpuBackwardOptions &backward,
                        StringRef kernelModuleName);
void buildAttnGpuBackwardPasses(OpPassManager &pm,
                                const AttnPlanGpuBackwardOptions &backward,
                                StringRef kernelModuleName);

/// Where a CUDA toolkit may be, in order: $CUDA_HOME, $CUDA_ROOT,
/// $CUDA_PATH, /usr/local/cuda.
std::vector<std::string> getCudaToolkitRoots();

/// The first of those with nvvm/libdevice (the PTX links it), or empty.
std::string findCudaToolkit();

/// The end of attn-to-ptx: attach an NVVM target and serialize to PTX.
void buildNVVMToPtxPasses(OpPassManager &pm,
                          const AttnToPtxPipelineOptions &options);

/// Registers every named pipeline with the global pass registry.
void registerAttnPipelines();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
