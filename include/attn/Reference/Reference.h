//===- Reference.h - float64 reference attention ----------------*- C++ -*-===//
//
// Part of attn-mlir. A direct, unoptimised float64 implementation of the
// attn.attention semantics (dialects/Attn/AttnOps.td) that every compiled
// kernel, CPU or GPU, is checked against. It shares no code with the
// compiler, so a bug in a lowering cannot hide in both.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_REFERENCE_REFERENCE_H
#define ATTN_REFERENCE_REFERENCE_H

#include "attn/Spec/AttentionSpec.h"

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <vector>

namespace mlir::attn {

/// Rounds `value` to the nearest representable value of `kind`
/// (round-to-nearest-even), returned as a double.
double roundToElementKind(ElementKind kind, double value);
/// Encodes doubles as host bytes of `kind` (rounding to nearest-even).
std::vector<uint8_t> encodeElements(ElementKind kind,
                                    llvm::ArrayRef<double> values);
/// Decodes host bytes of `kind` into doubles.
std::vector<double> decodeElements(ElementKind kind,
                                   llvm::ArrayRef<uint8_t> bytes);

/// Unit roundoff u of a format: 2^-p with p the significand precision
/// (f32: 2^-24, f16: 2^-11, bf16: 2^-8, f64: 2^-53).
double unitRoundoff(ElementKind kind);

/// Float64 inputs of one attention problem, laid out as the spec's shapes.
struct ReferenceInputs {
  /// `value` is not read (and may be empty) for a spec with sharedKV: V is
  /// then the first Dv columns of `key`.
  std::vector<double> query, key, value;
  std::vector<double> bias;        // empty unless spec.withBias
  std::vector<uint8_t> boolMask;   // empty unless spec.withBoolMask
  /// The backward's extra inputs (spec.backward): the forward's output and
  /// LSE and the gradient of the output, shaped as the forward's results.
  std::vector<double> output, gradOutput, lse;
  /// With spec.withLseGradient: the loss' gradient with respect to the LSE,
  /// shaped as `lse`.
  std::vector<double> gradLse;
};

struct ReferenceResult {
  std::vector<double> output; // spec.outputShape()
  std::vector<double> lse;    // spec.lseShape(); -inf for fully masked rows
};

/// Computes attention in float64 exactly as attn.attention defines it.
ReferenceResult referenceAttention(const AttentionSpec &spec,
                                   const ReferenceInputs &inputs);

/// Error bounds for comparing a compiled kernel against the reference. See
/// docs/Numerics.md for the derivation.
struct Tolerance {
  double output; // absolute, on every output element
  double lse;    // absolute, on every finite LSE element
};

/// Derives the tolerance from the formats involved: `accumulator` is the
/// kind scores and sums are accumulated in (F32 unless the lowering was asked
/// for f64, passed as std::nullopt), `roundedP` says whether P is rounded to
/// the input type before P.V.
Tolerance deriveTolerance(const AttentionSpec &spec,
                          const ReferenceInputs &inputs,
                          std::optional<ElementKind> accumulator,
                          bool roundedP = false);

/// Gradients of attn.attention_backward, and the magnitudes of the
/// intermediates that the gradient tolerance is derived from.
struct ReferenceGradients {
  std::vector<double> query, key, value; // the shapes of Q, K, V
  std::vector<double> bias;              // spec.scoreShape(); if withBias
  std::vector<double> sinks;             // [Hq]; if the spec has sinks
  /// max over rows of sum_j P_ij, and over (b, kv head, j) of the sum of
  /// P_ij over the rows of the group's query heads (the "key mass").
  double maxRowMass = 0.0, maxKeyMass = 0.0;
  /// max |dP_ij - Delta_i| over visible scores; max_ij sum_c |dO_ic V_jc|;
  /// max_i (sum_c |dO_ic O_ic| + |grad_lse_i|).
  double maxAbsDpMinusDelta = 0.0, maxAbsDotDoV = 0.0, maxAbsDotDoO = 0.0;
  /// With dS = P (dP - Delta): max |dS_ij|, max_i sum_j |dS_ij| and the max
  /// over (b, kv head, j) of the sum of |dS_ij| over the group's rows.
  double maxAbsDs = 0.0, maxRowAbsDs = 0.0, maxKeyAbsDs = 0.0;
  /// With sinks, P_sink = exp(sink - lse) per row: the max over heads of
  /// sum_rows P_sink and of sum_rows P_sink |Delta|.
  double maxSinkMass = 0.0, maxSinkAbsTerm = 0.0;
};

/// Computes attn.attention_backward in float64 from `inputs` (including
/// output, gradOutput and lse) exactly as the op defines it.
ReferenceGradients referenceAttentionBackward(const AttentionSpec &spec,
                                              const ReferenceInputs &inputs);

/// Absolute error bounds on every element of each gradient.
struct GradientTolerance {
  double query = 0.0, key = 0.0, value = 0.0, bias = 0.0, sinks = 0.0;
};

/// Derives the gradient tolerances (docs/Numerics.md, "Gradients") from the
/// formats, the inputs and the reference's intermediate magnitudes;
/// `roundedP` says whether P and dS are rounded to the input type before
/// the products (precision lowering).
GradientTolerance deriveGradientTolerance(const AttentionSpec &spec,
                                          const ReferenceInputs &inputs,
                                          const ReferenceGradients &reference,
                                          std::optional<ElementKind> accumulator,
                                          bool roundedP = false);

} // namespace mlir::attn

#endif // ATTN_REFERENCE_REFERENCE_H
