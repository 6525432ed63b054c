//===- MemrefEntry.cpp - attn-memref-entry --------------------------------===//
//
// Part of attn-mlir. Tensor-form functions get the memref calling convention
// of the kernels and the CPU runner (convertToMemrefEntry, lib/Spec), as a
// pass so that attn-to-ptx takes what attn-compile takes.
//
//===----------------------------------------------------------------------===//

#include "attn/Spec/AttentionSpec.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#define DEBUG_TYPE "attn-memref-entry"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNMEMREFENTRY
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct AttnMemrefEntryPass
    : mlir::attn::impl::AttnMemrefEntryBase<AttnMemrefEntryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto isTensor = [](Type t) { return isa<TensorType>(t); };
    SmallVector<std::string> names;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() &&
          (llvm::any_of(func.getArgumentTypes(), isTensor) ||
           llvm::any_of(func.getResultTypes(), isTensor)))
        names.push_back(func.getSymName().str());
    for (const std::string &name : names) {
      auto func = module.lookupSymbol<func::FuncOp>(name);
      Location loc = func.getLoc();
      if (failed(convertToMemrefEntry(module, name))) {
        emitError(loc) << "expected @" << name
                       << " to take and return statically shaped ranked "
                          "tensors (or memrefs) for the memref calling "
                          "convention";
        return signalPassFailure();
      }
    }
  }
};

} // namespace
