//===- ScoreChain.h - the float64 score of one pair -------------*- C++ -*-===//
//
// Part of attn-mlir. Internal to lib/Reference: the score definition of
// dialects/Attn/AttnOps.td in double precision, with the derivatives the
// backward needs, shared by the forward and backward references.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_REFERENCE_SCORECHAIN_H
#define ATTN_LIB_REFERENCE_SCORECHAIN_H

#include "attn/Reference/Reference.h"

#include "llvm/Support/ErrorHandling.h"

#include <cmath>
#include <cstddef>

namespace mlir::attn::reference {

/// Row-major index into a 4-D tensor of the spec's layout, addressed in
/// logical (b, h, l, x) order.
struct LayoutIndexer {
  Layout layout;
  int64_t heads, length, last;
  size_t operator()(int64_t b, int64_t h, int64_t l, int64_t x) const {
    if (layout == Layout::BHSD)
      return ((b * heads + h) * length + l) * last + x;
    return ((b * length + l) * heads + h) * last + x;
  }
};

/// Keys of sequence `b`: its key_lengths entry, or the full length.
inline int64_t keyLengthOf(const AttentionSpec &spec, int64_t b) {
  return spec.keyLengths.empty() ? spec.keyLength : spec.keyLengths[b];
}

inline bool keyVisible(const AttentionSpec &spec, int64_t lk, int64_t i,
                       int64_t j) {
  if (j >= lk)
    return false;
  int64_t aligned = i + lk - spec.queryLength;
  switch (spec.maskKind) {
  case MaskKind::None:
    return true;
  case MaskKind::CausalTopLeft:
    return j <= i;
  case MaskKind::CausalBottomRight:
    return j <= aligned;
  case MaskKind::SlidingWindow:
    return j >= aligned - spec.windowLeft && j <= aligned + spec.windowRight;
  }
  llvm_unreachable("unknown mask kind");
}

/// One score and the derivatives of the backward: `score` is the modified
/// score (meaningful only when `keep`), `dScoreDBiased` = d score / d s4
/// (the score_mod's slope) and `dScoreDScaled` = d score / d (scale * q.k).
struct Score {
  double score = 0.0;
  bool keep = false;
  double dScoreDBiased = 1.0, dScoreDScaled = 1.0;
};

inline Score scoreAt(const AttentionSpec &spec, const ReferenceInputs &in,
                     int64_t b, int64_t h, int64_t i, int64_t j, int64_t lk) {
  const int64_t Hq = spec.numQueryHeads, Hkv = spec.numKVHeads,
                Lq = spec.queryLength, Lk = spec.keyLength, D = spec.headDim;
  LayoutIndexer qIdx{spec.layout, Hq, Lq, D}, kIdx{spec.layout, Hkv, Lk, D};
  int64_t kvh = h / (Hq / Hkv);
  Score out;
  double s = 0.0;
  for (int64_t d = 0; d < D; ++d)
    s += in.query[qIdx(b, h, i, d)] * in.key[kIdx(b, kvh, j, d)];
  s *= spec.getEffectiveScale();
  double capSlope = 1.0;
  if (spec.softcap) {
    double t = std::tanh(s / *spec.softcap);
    s = *spec.softcap * t;
    capSlope = 1.0 - t * t;
  }
  // The global head of a tensor-parallel shard: what ALiBi and the
  // modifiers see (Q, K, V and the outputs hold the shard's heads).
  const int64_t hg = h + spec.headOffset;
  if (!spec.alibiSlopes.empty())
    s -= spec.alibiSlopes[hg] * std::fabs(static_cast<double>(i + lk - Lq - j));
  size_t scoreIndex = ((b * Hq + h) * Lq + i) * Lk + j;
  if (spec.withBias)
    s += in.bias[spec.biasIndex(b, h, i, j)];
  double modSlope = 1.0;
  if (spec.scoreMod == ScoreModKind::RelativeBias)
    s += 0.01 * static_cast<double>(j - i);
  if (spec.scoreMod == ScoreModKind::HeadRelativeBias)
    s += 0.01 * static_cast<double>(hg + 1) * static_cast<double>(j - i);
  if (spec.scoreMod == ScoreModKind::TanhCap) {
    double t = std::tanh(s / 20.0);
    s = 20.0 * t;
    modSlope = 1.0 - t * t;
  }
  bool keep = keyVisible(spec, lk, i, j);
  if (spec.withBoolMask)
    keep = keep && in.boolMask[scoreIndex] != 0;
  if (spec.maskMod == MaskModKind::PrefixLM)
    keep = keep && (j <= i || j < 4);
  out.score = s;
  out.keep = keep;
  out.dScoreDBiased = modSlope;
  out.dScoreDScaled = modSlope * capSlope;
  return out;
}

inline double maxAbs(llvm::ArrayRef<double> values) {
  double m = 0.0;
  for (double v : values)
    m = std::max(m, std::fabs(v));
  return m;
}

/// gamma_n = n u / (1 - n u): the classic bound on the relative error of an
/// n-term floating-point sum or dot product (Higham, Accuracy and Stability
/// of Numerical Algorithms, eq. 3.8).
double gamma(int64_t n, double u);

/// Bounds shared by the forward and backward tolerances: `delta` bounds any
/// computed score's error, `scoreMax` any |score|.
struct ScoreBound {
  double delta = 0.0, scoreMax = 0.0;
};
ScoreBound deriveScoreBound(const AttentionSpec &spec,
                            const ReferenceInputs &in, double uAcc,
                            double uScore);

/// Rows [begin, begin + length) of a packed [1, T, H, X] tensor, as the
/// tensor of a batch-1 spec.
std::vector<double> gatherRows(const std::vector<double> &packed,
                               int64_t begin, int64_t length,
                               int64_t rowElements);

} // namespace mlir::attn::reference

#endif // ATTN_LIB_REFERENCE_SCORECHAIN_H
