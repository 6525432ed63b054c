//===- RoundF32Inputs.cpp - f32 attentions in bf16 / f16 on the GPU -------===//
//
// Part of attn-mlir. The attn-round-f32-inputs pass: the kernels' GEMMs take
// bf16 / f16 only, so an f32 attention the user opted in for
// (f32-compute=bf16 or f16) runs on rounded copies of Q, K and V and widens
// its O back to f32. The rounding is written as arith.truncf / arith.extf of
// the host tensors, before attn-plan-gpu-kernels, so that the planner, the
// tiler and every family see an ordinary bf16 / f16 attention; only
// convert-attn-to-nvvm's argument collection (KernelArguments.cpp) reads the
// casts, as conversion kernels into and out of workspaces.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNROUNDF32INPUTS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Whether `type` is a static, identity-layout memref in the default memory
/// space: what a dense workspace copy can stand in for.
static bool isDenseHostMemref(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && memref.hasStaticShape() && memref.getLayout().isIdentity() &&
         !memref.getMemorySpace();
}

/// "expected ..." at `op` unless it is an f32 attention this pass can round:
/// plain Q, K and V (one element type: the op's verifier) read from dense
/// host memrefs, O stored into one.
static LogicalResult checkRoundable(AttentionOp op) {
  auto fail = [&](const Twine &msg) {
    return op.emitOpError("attn-round-f32-inputs: expected ") << msg;
  };
  if (op.isVarlen())
    return fail("a dense batch (varlen batches of f32 are not rounded; "
                "round the packed tensors to bf16 first)");
  for (auto [name, operand] : {std::pair<StringRef, Value>{"Q", op.getQuery()},
                               {"K", op.getKey()},
                               {"V", op.getValue()}}) {
    auto read = operand.getDefiningOp<bufferization::ToTensorOp>();
    if (!read)
      return fail(name) << " to be bufferization.to_tensor of a memref "
                           "(KV cache views over f32 storage are not rounded)";
    if (!isDenseHostMemref(read.getBuffer().getType()))
      return fail("static, identity-layout memrefs for the f32 ")
             << name << " (its bf16 copy is a dense workspace), got "
             << read.getBuffer().getType();
  }
  Value output = op.getOutput();
  if (!cast<ShapedType>(output.getType()).getElementType().isF32())
    return fail("an f32 O for f32 inputs, got ") << output.getType();
  for (Operation *user : output.getUsers()) {
    auto store = dyn_cast<bufferization::MaterializeInDestinationOp>(user);
    if (!store || !isDenseHostMemref(store.getDest().getType()))
      return fail("O to be stored with bufferization.materialize_in_"
                  "destination into a static, identity-layout memref");
  }
  return success();
}

namespace {

struct AttnRoundF32InputsPass
    : public mlir::attn::impl::AttnRoundF32InputsBase<AttnRoundF32InputsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Builder types(module.getContext());
    Type rounded;
    if (to == "bf16")
      rounded = types.getBF16Type();
    else if (to == "f16")
      rounded = types.getF16Type();
    else {
      module.emitError("attn-round-f32-inputs: expected to=bf16 or f16, got '")
          << to << "'";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    module.walk([&](AttentionOp op) {
      if (op.getQueryType().getElementType().isF32())
        ops.push_back(op);
    });
    for (AttentionOp op : ops) {
      if (failed(checkRoundable(op)))
        return signalPassFailure();
      round(op, rounded);
      if (failed(op.verify()))
        return signalPassFailure();
    }
  }

  /// Rounds Q, K and V (one cast per distinct tensor: K and V of a shared
  /// cache stay one operand) and widens O.
  static void round(AttentionOp op, Type rounded) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    DenseMap<Value, Value> casts;
    auto castOf = [&](Value tensor) {
      Value &copy = casts[tensor];
      if (!copy) {
        auto type = cast<RankedTensorType>(tensor.getType());
        copy = arith::TruncFOp::create(b, loc, type.clone(rounded), tensor);
      }
      return copy;
    };
    op.getQueryMutable().assign(castOf(op.getQuery()));
    op.getKeyMutable().assign(castOf(op.getKey()));
    op.getValueMutable().assign(castOf(op.getValue()));
    Value output = op.getOutput();
    auto wide = cast<RankedTensorType>(output.getType());
    output.setType(wide.clone(rounded));
    b.setInsertionPointAfter(op);
    auto widened = arith::ExtFOp::create(b, loc, wide, output);
    output.replaceAllUsesExcept(widened, widened);
  }
};

} // namespace
