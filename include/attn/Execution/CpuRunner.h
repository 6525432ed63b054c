//===- CpuRunner.h - JIT-run attn modules on the CPU ------------*- C++ -*-===//
//
// Part of attn-mlir. Compiles a module through the attn-to-cpu pipeline (or a
// caller-provided one), JITs it with mlir::ExecutionEngine and calls an entry
// function whose arguments are all memrefs, after checking the caller's
// buffers against the entry's signature.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_EXECUTION_CPURUNNER_H
#define ATTN_EXECUTION_CPURUNNER_H

#include "attn/Pipelines/Pipelines.h"
#include "attn/Spec/AttentionSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace mlir {
class ExecutionEngine;
class OpPassManager;
} // namespace mlir

namespace mlir::attn {

/// A non-owning view of a dense, row-major host buffer.
struct HostBuffer {
  ElementKind kind;
  llvm::SmallVector<int64_t> shape;
  void *data = nullptr;
  /// Size of the buffer in bytes, as the caller allocated it.
  size_t byteSize = 0;
};

/// The expected type of one entry argument.
struct BufferSignature {
  ElementKind kind;
  llvm::SmallVector<int64_t> shape; // ShapedType::kDynamic for `?`
};

struct CpuCompileOptions {
  /// Name of the entry function (all arguments memrefs, no results).
  std::string entry = "attention";
  AttnToCpuPipelineOptions *pipelineOptions = nullptr;
  /// Passes to run before the attn-to-cpu pipeline (e.g. attn-tile).
  std::function<void(OpPassManager &)> prePipeline;
  /// Record each pass's time and op counts (attn-compile's stage report).
  bool recordStages = false;
  /// With recordStages, also keep the IR after each pass as text.
  bool recordStageIR = false;
};

/// One pass of the lowering as it ran: its name, time and what it left.
struct StageRecord {
  std::string pass;
  double seconds = 0.0;
  /// Operation name -> number of such ops in the module after the pass.
  std::map<std::string, int64_t> opCounts;
  std::string irAfter; // only with CpuCompileOptions::recordStageIR
};

class CpuExecutable {
public:
  ~CpuExecutable();

  /// Lowers a clone of `module` and JIT-compiles it. Errors carry the
  /// diagnostics of whatever failed (verifier, pass, JIT).
  static llvm::Expected<std::unique_ptr<CpuExecutable>>
  compile(ModuleOp module, const CpuCompileOptions &options = {});

  /// Calls the entry with `args`; checks count, element kinds, shapes and
  /// sizes first and leaves the buffers untouched on error.
  llvm::Error invoke(llvm::ArrayRef<HostBuffer> args);

  llvm::ArrayRef<BufferSignature> getSignature() const { return signature; }
  llvm::ArrayRef<StageRecord> getStages() const { return stages; }

private:
  CpuExecutable() = default;

  std::unique_ptr<ExecutionEngine> engine;
  std::string entry;
  llvm::SmallVector<BufferSignature> signature;
  llvm::SmallVector<StageRecord> stages;
};

} // namespace mlir::attn

#endif // ATTN_EXECUTION_CPURUNNER_H
