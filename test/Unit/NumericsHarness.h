//===- NumericsHarness.h - shared pieces of the numerics tests ------------===//
//
// Part of attn-mlir. The case type of the parameterised numerics tests, and
// the mutation harness: a numeric check is only evidence if it fails on a
// wrong lowering, so these helpers rewrite every op of one kind before the CPU
// pipeline runs (as a buggy pass would), while the float64 reference keeps
// the spec's semantics, and report whether the check still passed.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_UNIT_NUMERICSHARNESS_H
#define ATTN_TEST_UNIT_NUMERICSHARNESS_H

#include "attn/Conversion/Passes.h"
#include "attn/Execution/NumericCheck.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace mlir::attn::harness {

/// One parameter of a numerics test: a named spec checked against the
/// float64 reference.
struct NumericCase {
  std::string name;
  AttentionSpec spec;
  bool accumulateInF64 = false;
};

// Name the case rather than dumping the struct's bytes; failures print the
// full spec.
inline void PrintTo(const NumericCase &c, std::ostream *os) { *os << c.name; }

/// Rewrites every OpT before lowering.
template <typename OpT>
struct MutateOpsPass
    : PassWrapper<MutateOpsPass<OpT>, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MutateOpsPass<OpT>)
  explicit MutateOpsPass(std::function<void(OpT)> mutate)
      : mutate(std::move(mutate)) {}
  void runOnOperation() override { this->getOperation().walk(mutate); }
  std::function<void(OpT)> mutate;
};

/// Runs `spec` through checkAgainstReference with `mutate` applied to the IR
/// only; whether the check still passed.
template <typename OpT>
bool passesWithMutationOf(const AttentionSpec &spec,
                          std::function<void(OpT)> mutate) {
  MLIRContext ctx;
  NumericCheckOptions options;
  options.prePipeline = [&](OpPassManager &pm) {
    pm.addPass(std::make_unique<MutateOpsPass<OpT>>(mutate));
  };
  auto report = checkAgainstReference(ctx, spec, options);
  EXPECT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  return report && report->passed();
}

/// f32-compute on the CPU: `spec` (f32) through attn-round-f32-inputs to
/// bf16 and to f16 must be as accurate as a call in that type on the rounded
/// inputs (NumericCheckOptions::computeType), and must fail at f32's
/// tolerance, or the rounding did not happen.
inline void expectRoundedToEachType(const AttentionSpec &spec) {
  for (ElementKind to : {ElementKind::BF16, ElementKind::F16}) {
    std::string name = stringifyElementKind(to).str();
    auto check = [&](std::optional<ElementKind> computeType) {
      MLIRContext ctx;
      NumericCheckOptions options;
      options.computeType = computeType;
      options.prePipeline = [name](OpPassManager &pm) {
        AttnRoundF32InputsOptions rounding;
        rounding.to = name;
        pm.addPass(createAttnRoundF32Inputs(rounding));
      };
      return checkAgainstReference(ctx, spec, options);
    };
    auto report = check(to);
    ASSERT_TRUE(static_cast<bool>(report))
        << llvm::toString(report.takeError());
    EXPECT_TRUE(report->passed()) << name << ": " << report->summary();
    EXPECT_GT(report->maxReferenceMagnitude, 0.01) << name; // not vacuous
    auto strict = check(std::nullopt);
    ASSERT_TRUE(static_cast<bool>(strict))
        << llvm::toString(strict.takeError());
    EXPECT_FALSE(strict->passed())
        << name
        << " rounding left no trace at f32's tolerance: " << strict->summary();
  }
}

/// The cases expectRoundedToEachType runs, from a test's base spec: causal
/// bottom-right, and a bshd sliding window with softcap (with the LSE for a
/// forward).
inline std::vector<NumericCase> roundedCases(const AttentionSpec &base) {
  AttentionSpec causal = base;
  causal.maskKind = MaskKind::CausalBottomRight;
  AttentionSpec window = base;
  window.layout = Layout::BSHD;
  window.maskKind = MaskKind::SlidingWindow;
  window.windowLeft = 3;
  window.windowRight = 0;
  window.softcap = 5.0;
  window.withLse = !base.backward;
  return {{"gqa_causal", causal}, {"bshd_window_softcap", window}};
}

} // namespace mlir::attn::harness

#endif // ATTN_TEST_UNIT_NUMERICSHARNESS_H
