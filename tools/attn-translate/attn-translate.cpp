//===- attn-translate.cpp - PTX and manifest out of a lowered module ------===//
//
// Part of attn-mlir. mlir-translate with two translations out of a module
// that attn-to-ptx lowered (a gpu.binary of PTX plus the host's
// gpu.launch_func carrying #attn.kernel_info):
//
//   attn-opt in.mlir --attn-to-ptx | attn-translate --attn-to-ptx
//   attn-opt in.mlir --attn-to-ptx | attn-translate --attn-to-manifest
//
// so PTX and the kernel manifest are reachable from the command line without
// attn-compile, stage by stage like the rest of the pipeline.
//
//===----------------------------------------------------------------------===//

#include "attn/InitAll.h"
#include "attn/Target/KernelArtifacts.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"

using namespace mlir;

/// The chip of the module's gpu.binary (its NVVM target), which the
/// manifest records.
static FailureOr<std::string> getBinaryChip(ModuleOp module) {
  for (gpu::BinaryOp binary : module.getOps<gpu::BinaryOp>())
    for (Attribute attr : binary.getObjectsAttr())
      if (auto object = dyn_cast<gpu::ObjectAttr>(attr))
        if (auto target = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget()))
          return target.getChip().str();
  return module.emitError("expected a gpu.binary with an NVVM target (run "
                          "attn-to-ptx first)");
}

int main(int argc, char **argv) {
  auto dialects = [](DialectRegistry &registry) {
    mlir::attn::registerAllDialects(registry);
  };
  TranslateFromMLIRRegistration toPtx(
      "attn-to-ptx", "the PTX text of the module's gpu.binary",
      [](ModuleOp module, raw_ostream &os) -> LogicalResult {
        FailureOr<std::string> ptx = mlir::attn::extractPTX(module);
        if (failed(ptx))
          return failure();
        os << *ptx;
        return success();
      },
      dialects);
  TranslateFromMLIRRegistration toManifest(
      "attn-to-manifest",
      "the kernel manifest (JSON, the runtime's schema) of the module's launch",
      [](ModuleOp module, raw_ostream &os) -> LogicalResult {
        FailureOr<std::string> chip = getBinaryChip(module);
        if (failed(chip))
          return failure();
        FailureOr<mlir::attn::KernelManifest> manifest =
            mlir::attn::extractManifest(module, *chip);
        if (failed(manifest))
          return failure();
        os << manifest->toJson() << "\n";
        return success();
      },
      dialects);
  return failed(mlirTranslateMain(argc, argv, "attn-translate"));
}
