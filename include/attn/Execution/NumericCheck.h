//===- NumericCheck.h - compiled attention vs float64 reference -*- C++ -*-===//
//
// Part of attn-mlir. Runs a compiled attention spec on random inputs on the
// CPU and compares it with the float64 reference under the tolerance derived
// in docs/Numerics.md. Used by the numeric test suite and by attn-compile.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_EXECUTION_NUMERICCHECK_H
#define ATTN_EXECUTION_NUMERICCHECK_H

#include "attn/Execution/CpuRunner.h"
#include "attn/Reference/Reference.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::attn {

struct NumericCheckOptions {
  uint64_t seed = 0x5eed;
  /// Passes to run before attn-to-cpu (the transformations under test).
  std::function<void(OpPassManager &)> prePipeline;
  /// Accumulate in f64 in the reference lowering (tightens the tolerance).
  bool accumulateInF64 = false;
  /// P is rounded to the input type before P.V (precision lowering).
  bool roundedP = false;
  /// Score matrix entries set to 1 in this fraction of the boolean mask.
  double maskKeepFraction = 0.7;
  /// The compiled program computes on copies of Q, K and V (and O, dO for a
  /// backward) rounded to this type (f32-compute: attn-round-f32-inputs),
  /// while its buffers keep the spec's type. The reference then reads the
  /// rounded inputs and the tolerance is that of a spec of this type: the
  /// result is checked as accurate as a call in this type, not in the
  /// spec's.
  std::optional<ElementKind> computeType;
};

struct NumericReport {
  double maxOutputError = 0.0, outputTolerance = 0.0;
  double maxLseError = 0.0, lseTolerance = 0.0;
  /// Elements that are NaN, or whose -inf-ness differs from the reference.
  int64_t badSpecials = 0;
  int64_t outputElements = 0;
  /// max |reference output|: guards against vacuous cases (all masked).
  double maxReferenceMagnitude = 0.0;
  /// Appends (attn.kv_append written back): cache elements that differ, bit
  /// for bit, from the cache with this step's tokens in place.
  int64_t cacheMismatches = 0;
  /// Backward specs: the error and tolerance of each gradient (dQ, dK, dV,
  /// d_bias); the output and LSE fields stay 0.
  struct Gradient {
    std::string name;
    double maxError = 0.0, tolerance = 0.0;
  };
  llvm::SmallVector<Gradient, 4> gradients;
  bool passed() const {
    for (const Gradient &g : gradients)
      if (!(g.maxError <= g.tolerance))
        return false;
    return badSpecials == 0 && cacheMismatches == 0 &&
           maxOutputError <= outputTolerance && maxLseError <= lseTolerance;
  }
  std::string summary() const;
};

/// Builds the spec's module in `ctx`, compiles and runs it, and compares.
llvm::Expected<NumericReport>
checkAgainstReference(MLIRContext &ctx, const AttentionSpec &spec,
                      const NumericCheckOptions &options = {});

} // namespace mlir::attn

#endif // ATTN_EXECUTION_NUMERICCHECK_H
