//===- TestMaskModIntervals.cpp - remarks of mask_mod classification -----===//
//
// Part of attn-mlir's tests. The test-attn-mask-mod-intervals pass and the
// pass plugin that registers it: loading this library with
//
//   attn-opt --load-pass-plugin=build/lib/TestAnalysisPlugin.so ...
//
// makes the interval classification of mask_mod blocks visible to lit.
// The plugin matches attn.attention by name and takes its second region
// (score_mod, mask_mod in AttnOps.td): a plugin with its own copy of the
// attn dialect's C++ would see other TypeIDs than attn-opt's, so it links
// no dialect code, only the analysis (which uses arith's, from libMLIR).
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/MaskModIntervals.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

namespace mlir::attn::test {
#define GEN_PASS_DECL_TESTATTNMASKMODINTERVALS
#define GEN_PASS_DEF_TESTATTNMASKMODINTERVALS
#include "TestPasses.h.inc"
} // namespace mlir::attn::test

using namespace mlir;
using namespace mlir::attn;

namespace {

struct TestAttnMaskModIntervals
    : test::impl::TestAttnMaskModIntervalsBase<TestAttnMaskModIntervals> {
  void runOnOperation() override {
    bool failed = false;
    getOperation()->walk([&](Operation *op) {
      if (op->getName().getStringRef() != "attn.attention" ||
          op->getNumRegions() != 2)
        return;
      Region &region = op->getRegion(1);
      if (region.empty())
        return;
      std::string reason;
      if (!isMaskModIntervalEvaluable(region, &reason)) {
        op->emitRemark("mask_mod not interval-evaluable: ") << reason;
        return;
      }
      op->emitRemark("mask_mod interval-evaluable");
      auto blocks = op->getAttrOfType<ArrayAttr>("test.blocks");
      if (!blocks)
        return;
      for (Attribute attr : blocks) {
        auto b = dyn_cast<DenseI64ArrayAttr>(attr);
        if (!b || b.size() != 6) {
          op->emitError("expected test.blocks entries [b, h, q0, q1, k0, k1]");
          failed = true;
          return;
        }
        MaskBlockClass c =
            classifyMaskModBlock(region, b[0], b[1], b[2], b[3], b[4], b[5]);
        op->emitRemark() << "mask_mod block b " << b[0] << " h " << b[1]
                        << " q [" << b[2] << ", " << b[3] << "] k [" << b[4]
                        << ", " << b[5] << "]: " << stringifyMaskBlockClass(c);
      }
    });
    if (failed)
      signalPassFailure();
  }
};

} // namespace

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "AttnTestAnalysis", LLVM_VERSION_STRING,
          []() { PassRegistration<TestAttnMaskModIntervals>(); }};
}
