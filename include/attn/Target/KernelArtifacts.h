//===- KernelArtifacts.h - PTX and manifest of a lowered module -*- C++ -*-===//
//
// Part of attn-mlir. After attn-to-ptx, a module holds a gpu.binary (the PTX
// as an object attribute) and host functions with gpu.launch_func ops. This
// reads both into plain data: the PTX text and the kernel manifest, which is
// the runtime's own LLVM-free struct (attn/Runtime/Manifest.h): one
// definition, one writer and one reader of the contract.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_KERNELARTIFACTS_H
#define ATTN_TARGET_KERNELARTIFACTS_H

#include "attn/Runtime/Manifest.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::attn {

/// The launch contract of one generated kernel; toJson() writes it.
using KernelManifest = ::attn::runtime::Manifest;
using KernelArgument = ::attn::runtime::ManifestArgument;

/// Returns the PTX text embedded in the module's (single) gpu.binary, which
/// gpu-module-to-binary produced with format=isa.
FailureOr<std::string> extractPTX(ModuleOp module);

/// Reads the manifest of the first gpu.launch_func in `module` from its
/// constant launch dimensions, its operand types and its
/// `#attn.kernel_info` (KernelInfoAttr::getAttributeName()), which
/// convert-attn-to-nvvm writes. Fails, with an error at the launch, where
/// the info is missing or does not match the operands, and where the
/// runtime's reader would refuse the result (e.g. a grid beyond CUDA's
/// limits).
FailureOr<KernelManifest> extractManifest(ModuleOp module, StringRef chip);

/// The manifests of every gpu.launch_func in `module`, in program order (a
/// backward program launches three kernels, which a host runs in this
/// order); checked as extractManifest checks one.
FailureOr<std::vector<KernelManifest>> extractManifests(ModuleOp module,
                                                        StringRef chip);

} // namespace mlir::attn

#endif // ATTN_TARGET_KERNELARTIFACTS_H
