//===- KernelArtifacts.h - PTX and manifest out of a lowered module -*- C++ -*-===//
//
// Part of attn-mlir. After attn-to-ptx, a module holds a gpu.binary (the PTX
// as an object attribute) and host functions with gpu.launch_func ops. This
// reads both into plain data: the PTX text and the kernel manifest that the
// runtime (lib/Runtime, no MLIR dependency) loads.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_KERNELARTIFACTS_H
#define ATTN_TARGET_KERNELARTIFACTS_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <array>
#include <string>
#include <vector>

namespace mlir::attn {

/// One pointer argument of a kernel: what the runtime checks before launch,
/// or, for a workspace, what it allocates.
struct KernelArgument {
  std::string name;  // "q", "k", "v", "o", "lse", "counters", ...
  std::string dtype; // "bf16", "f16", "f32", "i32", ...
  std::vector<int64_t> shape;
  /// "input", "output", "inout" (read and updated in place, e.g. a KV cache
  /// a fused append writes) or "workspace". Workspaces are scratch buffers
  /// the runtime owns and zero-fills once; the caller never passes them.
  std::string role = "input";
  bool isOutput = false;
  bool isWorkspace() const { return role == "workspace"; }
};

/// The launch contract of one generated kernel.
struct KernelManifest {
  std::string symbol;
  std::string chip;
  std::array<int64_t, 3> grid{1, 1, 1};
  std::array<int64_t, 3> block{1, 1, 1};
  std::string gridFormula;
  int64_t sharedMemoryBytes = 0;
  int64_t blockM = 0, blockN = 0, numWarps = 0;
  std::vector<KernelArgument> arguments;

  /// The manifest as JSON (the format lib/Runtime parses).
  std::string toJson() const;
};

/// Returns the PTX text embedded in the module's (single) gpu.binary, which
/// gpu-module-to-binary produced with format=isa.
FailureOr<std::string> extractPTX(ModuleOp module);

/// Reads the manifest of the first gpu.launch_func in `module`. Argument names
/// and roles come from the `arguments` entry of its `attn.launch` dictionary
/// (one {name, role} dictionary per kernel operand) when present; otherwise
/// the operands are q, k, v (inputs), o, lse (outputs) by position.
FailureOr<KernelManifest> extractManifest(ModuleOp module, StringRef chip);

} // namespace mlir::attn

#endif // ATTN_TARGET_KERNELARTIFACTS_H
