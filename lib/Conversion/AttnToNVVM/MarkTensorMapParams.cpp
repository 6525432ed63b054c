//===- MarkTensorMapParams.cpp - tensor maps as by-value kernel params ----===//
//
// Part of attn-mlir. A TMA copy reads its CUtensorMap from the kernel
// parameter space (or const / global memory); passing the 128-byte map by
// value as a __grid_constant__ parameter costs the runtime nothing (the
// launch copies it) and needs no device buffer whose lifetime would have to
// outlast the kernel. convert-gpu-to-nvvm does not carry llvm.byval over
// from gpu.func arguments, so the parameters are marked on the llvm.func.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNMARKTENSORMAPPARAMS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Bytes and alignment of a CUtensorMap (cuda.h: 64-byte aligned, 128).
constexpr int64_t kTensorMapBytes = 128, kTensorMapAlignment = 64;

static LogicalResult markTensorMapParams(LLVM::LLVMFuncOp func) {
  auto info =
      func->getAttrOfType<KernelInfoAttr>(KernelInfoAttr::getAttributeName());
  if (!info)
    return success();
  ArrayRef<Attribute> arguments = info.getArguments().getValue();
  if (!llvm::any_of(arguments, [](Attribute a) {
        return cast<KernelArgumentAttr>(a).getRole() ==
               ArgumentRole::TensorMap;
      }))
    return success();
  if (arguments.size() != func.getNumArguments())
    return func.emitOpError("expected one kernel_info argument per "
                            "parameter (")
           << func.getNumArguments() << "), found " << arguments.size();
  Builder b(func.getContext());
  for (auto [i, a] : llvm::enumerate(arguments)) {
    auto arg = cast<KernelArgumentAttr>(a);
    if (arg.getRole() != ArgumentRole::TensorMap)
      continue;
    if (!isa<LLVM::LLVMPointerType>(func.getArgumentTypes()[i]))
      return func.emitOpError("expected tensor map parameter '")
             << arg.getName() << "' to be a pointer, got "
             << func.getArgumentTypes()[i];
    func.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                    TypeAttr::get(LLVM::LLVMArrayType::get(
                        b.getI8Type(), kTensorMapBytes)));
    func.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                    b.getI64IntegerAttr(kTensorMapAlignment));
    func.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(),
                    b.getUnitAttr());
  }
  return success();
}

namespace {
struct AttnMarkTensorMapParamsPass
    : mlir::attn::impl::AttnMarkTensorMapParamsBase<AttnMarkTensorMapParamsPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<LLVM::LLVMFuncOp>())
      if (failed(markTensorMapParams(func)))
        return signalPassFailure();
  }
};
} // namespace
