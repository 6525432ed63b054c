//===- Pipelines.h - named attn-mlir pipelines ------------------*- C++ -*-===//
//
// Part of attn-mlir. Named pipelines are built from the individual passes so
// that attn-opt, attn-compile, the C++ runner and tests share one definition.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

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

/// Options of the `attn-to-ptx` pipeline.
struct AttnToPtxPipelineOptions
    : public PassPipelineOptions<AttnToPtxPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("Target GPU (sm_80, sm_90, ...)"),
      llvm::cl::init("sm_80")};
  PassOptions::Option<std::string> features{
      *this, "features", llvm::cl::desc("PTX features, e.g. +ptx80"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<int64_t> blockM{
      *this, "block-m", llvm::cl::desc("Query rows per CTA"),
      llvm::cl::init(128)};
  PassOptions::Option<int64_t> blockN{
      *this, "block-n", llvm::cl::desc("Key rows per KV block"),
      llvm::cl::init(64)};
  PassOptions::Option<int64_t> numWarps{
      *this, "num-warps", llvm::cl::desc("Warps per CTA"), llvm::cl::init(4)};
  PassOptions::Option<std::string> kernel{
      *this, "kernel",
      llvm::cl::desc("auto (decode when Hq / Hkv * Lq <= 16), prefill or "
                     "decode"),
      llvm::cl::init("auto")};
  PassOptions::Option<int64_t> numSplits{
      *this, "num-splits",
      llvm::cl::desc("Decode: KV splits (0: chosen from the grid)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> numSMs{
      *this, "num-sms", llvm::cl::desc("Decode: SMs of the target"),
      llvm::cl::init(132)};
  PassOptions::Option<bool> emitBinary{
      *this, "emit-binary",
      llvm::cl::desc("End with gpu-module-to-binary (format=isa); off stops "
                     "at the NVVM/LLVM dialect"),
      llvm::cl::init(true)};
};

/// attn (destination-passing form) -> convert-attn-to-nvvm -> gpu.module in
/// the LLVM/NVVM dialects -> gpu.binary holding PTX (format=isa). The host
/// functions keep their gpu.launch_func, the kernel's launch contract.
void buildAttnToPtxPipeline(OpPassManager &pm,
                            const AttnToPtxPipelineOptions &options);
/// The middle of attn-to-ptx: scf/gpu/nvvm ops of the gpu.modules to the LLVM
/// dialect (bare-pointer kernel arguments).
void buildAttnKernelToNVVMPasses(OpPassManager &pm);
/// The end of attn-to-ptx: attach an NVVM target and serialize to PTX.
void buildNVVMToPtxPasses(OpPassManager &pm,
                          const AttnToPtxPipelineOptions &options);

/// Registers every named pipeline with the global pass registry.
void registerAttnPipelines();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
