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

#include "attn/Execution/NumericCheck.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>

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

} // namespace mlir::attn::harness

#endif // ATTN_TEST_UNIT_NUMERICSHARNESS_H
