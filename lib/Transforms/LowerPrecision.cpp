//===- LowerPrecision.cpp - attn-lower-precision --------------------------===//
//
// Part of attn-mlir. FlashAttention's precision choices for the online
// softmax: P rounded to the input type before P.V, and exp2 with log2(e)
// folded into the scale. The choices are attributes of attn.online_step and
// attn.finalize that their lowerings honour.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#define DEBUG_TYPE "attn-lower-precision"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERPRECISION
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {
struct AttnLowerPrecisionPass
    : mlir::attn::impl::AttnLowerPrecisionBase<AttnLowerPrecisionPass> {
  using Base::Base;

  void runOnOperation() override {
    UnitAttr unit = UnitAttr::get(&getContext());
    getOperation()->walk([&](Operation *op) {
      if (auto step = dyn_cast<OnlineStepOp>(op)) {
        Type input =
            cast<RankedTensorType>(step.getQuery().getType()).getElementType();
        // f32 inputs have nothing to round to.
        if (roundP && !input.isF32())
          step.setPTypeAttr(TypeAttr::get(input));
        if (useExp2)
          step.setLog2DomainAttr(unit);
      } else if (auto step = dyn_cast<BackwardStepOp>(op)) {
        // The backward's P and dS feed the tensor cores in the input type
        // too; its exponentials stay natural (P = exp(s - lse)).
        Type input =
            cast<RankedTensorType>(step.getQuery().getType()).getElementType();
        if (roundP && !input.isF32())
          step.setPTypeAttr(TypeAttr::get(input));
      } else if (auto finalize = dyn_cast<FinalizeOp>(op)) {
        // The state of every step in the function is in one domain.
        if (useExp2)
          finalize.setLog2DomainAttr(unit);
      }
    });
  }
};
} // namespace
