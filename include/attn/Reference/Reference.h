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
/// (f32: 2^-24, f16: 2^-11, bf16: 2^-8).
double unitRoundoff(ElementKind kind);

/// Float64 inputs of one attention problem, laid out as the spec's shapes.
struct ReferenceInputs {
  std::vector<double> query, key, value;
  std::vector<double> bias;        // empty unless spec.withBias
  std::vector<uint8_t> boolMask;   // empty unless spec.withBoolMask
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

} // namespace mlir::attn

#endif // ATTN_REFERENCE_REFERENCE_H
