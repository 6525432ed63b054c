//===- PtxCompiler.h - attn module to PTX, cubin and manifest ---*- C++ -*-===//
//
// Part of attn-mlir. Runs attn-to-ptx stage by stage (so each stage can be
// timed and summarised), extracts the PTX and the manifest, and assembles
// cubins with ptxas when the CUDA toolkit is present.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_PTXCOMPILER_H
#define ATTN_TARGET_PTXCOMPILER_H

#include "attn/Conversion/Passes.h"
#include "attn/Target/KernelArtifacts.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <map>
#include <string>
#include <vector>

namespace mlir::attn {

struct PtxCompileOptions {
  /// PTX target chip; sm_80 PTX also assembles for sm_90.
  std::string chip = "sm_80";
  std::string features = "+ptx80";
  /// Kernel selection and tiles: convert-attn-to-nvvm's options.
  ConvertAttnToNVVMOptions lowering;
  /// The backward kernels' schedule: attn-plan-gpu-backward's options
  /// (chip and features follow this struct's, the kernel module
  /// `lowering`'s).
  AttnPlanGpuBackwardOptions backward;
  /// Architectures to assemble cubins for (empty: none).
  std::vector<std::string> cubinArchs = {"sm_80", "sm_90"};
  /// ptxas to use; empty: <cuda>/bin/ptxas if it exists.
  std::string ptxas;
  bool recordStageIR = false;
  /// The GPU of the manifests' cost figures (Manifest::cost), a name
  /// lookupGpu takes; empty: the GPU of `chip` (lookupGpuForChip), none for
  /// a chip without one.
  std::string costGpu;
};

struct PtxStage {
  std::string name;
  double seconds = 0;
  std::map<std::string, int64_t> opCounts;
  std::string note;  // e.g. "1234 lines of PTX" or ptxas -v's resource line
  std::string irAfter;
};

struct PtxArtifacts {
  std::string ptx;
  /// The first launch's manifest (the only one of a forward program).
  KernelManifest manifest;
  /// Every launch's manifest in program order (manifests[0] == manifest).
  std::vector<KernelManifest> manifests;
  /// arch -> cubin bytes.
  std::map<std::string, std::string> cubins;
  std::vector<PtxStage> stages;
};

/// Compiles `module` (attn ops in destination-passing form) in place.
llvm::Expected<PtxArtifacts> compileToPtx(ModuleOp module,
                                          const PtxCompileOptions &options);

/// The cubin architectures PTX for `chip` is assembled for by default: the
/// chip itself and, for portable PTX (no `a` / `f` suffix), sm_80 and sm_90
/// where they are not older than it (sm_80 -> sm_80, sm_90; sm_90a ->
/// sm_90a).
std::vector<std::string> defaultCubinArchs(llvm::StringRef chip);

/// An error naming the archs that work unless ptxas assembles PTX whose
/// `.target` is `chip` for `arch`: arch-specific PTX (sm_90a) only for its
/// own arch, family PTX (sm_100f) within its major version, portable PTX for
/// every arch not older than it.
llvm::Error checkCubinArch(llvm::StringRef chip, llvm::StringRef arch);

/// Path of bin/ptxas in the first toolkit root that has it
/// (getCudaToolkitRoots), else empty.
std::string findPtxas();

} // namespace mlir::attn

#endif // ATTN_TARGET_PTXCOMPILER_H
