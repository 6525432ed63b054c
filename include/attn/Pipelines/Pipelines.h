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

/// Registers every named pipeline with the global pass registry.
void registerAttnPipelines();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
