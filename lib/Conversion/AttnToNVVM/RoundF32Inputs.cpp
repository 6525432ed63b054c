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
#include "mlir/IR/Verifier.h"

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

namespace {
/// What the pass rounds of one op: its f32 inputs (operand numbers, with
/// the names diagnostics give them) and the results it widens back.
struct RoundedOperands {
  SmallVector<std::pair<StringRef, OpOperand *>> inputs;
  SmallVector<std::pair<StringRef, OpResult>> results;
};
} // namespace

/// attn.attention: Q, K and V in, O out (LSE stays f32).
static RoundedOperands getRoundedOperands(AttentionOp op) {
  return {{{"Q", &op.getQueryMutable()},
           {"K", &op.getKeyMutable()},
           {"V", &op.getValueMutable()}},
          {{"O", cast<OpResult>(op.getOutput())}}};
}

/// attn.attention_backward: Q, K, V, O and dO in, dQ, dK and dV out (LSE,
/// the bias and the sinks, and their gradients, stay in their types).
static RoundedOperands getRoundedOperands(AttentionBackwardOp op) {
  return {{{"Q", &op.getQueryMutable()},
           {"K", &op.getKeyMutable()},
           {"V", &op.getValueMutable()},
           {"O", &op.getOutputMutable()},
           {"dO", &op.getGradOutputMutable()}},
          {{"dQ", cast<OpResult>(op.getGradQuery())},
           {"dK", cast<OpResult>(op.getGradKey())},
           {"dV", cast<OpResult>(op.getGradValue())}}};
}

/// "expected ..." at `op` unless this pass can round it: plain f32 inputs
/// (one element type: the op's verifier) read from dense host memrefs, the
/// widened results stored into dense memrefs.
static LogicalResult checkRoundable(Operation *op, bool varlen,
                                    const RoundedOperands &rounded) {
  auto fail = [&](const Twine &msg) {
    return op->emitOpError("attn-round-f32-inputs: expected ") << msg;
  };
  if (varlen)
    return fail("a dense batch (varlen batches of f32 are not rounded; "
                "round the packed tensors to bf16 first)");
  for (auto [name, operand] : rounded.inputs) {
    auto read = operand->get().getDefiningOp<bufferization::ToTensorOp>();
    if (!read)
      return fail(name) << " to be bufferization.to_tensor of a memref "
                           "(KV cache views over f32 storage are not rounded)";
    if (!isDenseHostMemref(read.getBuffer().getType()))
      return fail("static, identity-layout memrefs for the f32 ")
             << name << " (its bf16 copy is a dense workspace), got "
             << read.getBuffer().getType();
  }
  for (auto [name, result] : rounded.results) {
    if (!cast<ShapedType>(result.getType()).getElementType().isF32())
      return fail("an f32 ")
             << name << " for f32 inputs, got " << result.getType();
    for (Operation *user : result.getUsers()) {
      auto store = dyn_cast<bufferization::MaterializeInDestinationOp>(user);
      if (!store || !isDenseHostMemref(store.getDest().getType()))
        return fail(name) << " to be stored with bufferization.materialize_"
                             "in_destination into a static, identity-layout "
                             "memref";
    }
  }
  return success();
}

/// Rounds the inputs (one cast per distinct tensor: K and V of a shared
/// cache stay one operand) and widens the results.
static void round(Operation *op, const RoundedOperands &rounded, Type element) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  DenseMap<Value, Value> casts;
  for (auto [name, operand] : rounded.inputs) {
    Value tensor = operand->get();
    Value &copy = casts[tensor];
    if (!copy) {
      auto type = cast<RankedTensorType>(tensor.getType());
      copy = arith::TruncFOp::create(b, loc, type.clone(element), tensor);
    }
    operand->set(copy);
  }
  b.setInsertionPointAfter(op);
  for (auto [name, result] : rounded.results) {
    auto wide = cast<RankedTensorType>(result.getType());
    result.setType(wide.clone(element));
    auto widened = arith::ExtFOp::create(b, loc, wide, result);
    result.replaceAllUsesExcept(widened, widened);
  }
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
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (auto fwd = dyn_cast<AttentionOp>(op))
        if (fwd.getQueryType().getElementType().isF32())
          ops.push_back(op);
      if (auto bwd = dyn_cast<AttentionBackwardOp>(op))
        if (bwd.getQueryType().getElementType().isF32())
          ops.push_back(op);
    });
    for (Operation *op : ops) {
      auto fwd = dyn_cast<AttentionOp>(op);
      auto bwd = dyn_cast<AttentionBackwardOp>(op);
      RoundedOperands operands =
          fwd ? getRoundedOperands(fwd) : getRoundedOperands(bwd);
      bool varlen = fwd ? fwd.isVarlen() : bwd.isVarlen();
      if (failed(checkRoundable(op, varlen, operands)))
        return signalPassFailure();
      round(op, operands, rounded);
      if (failed(mlir::verify(op)))
        return signalPassFailure();
    }
  }
};

} // namespace
