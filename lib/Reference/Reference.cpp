//===- Reference.cpp - float64 reference attention ------------------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Reference/Reference.h"
#include "ScoreChain.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::reference;

static const llvm::fltSemantics &semanticsOf(ElementKind kind) {
  switch (kind) {
  case ElementKind::F32:
    return llvm::APFloat::IEEEsingle();
  case ElementKind::F16:
    return llvm::APFloat::IEEEhalf();
  case ElementKind::BF16:
    return llvm::APFloat::BFloat();
  case ElementKind::F64:
    return llvm::APFloat::IEEEdouble();
  case ElementKind::I1:
  case ElementKind::I32:
    break;
  }
  llvm_unreachable("not a float kind");
}

static llvm::APFloat toKind(ElementKind kind, double value) {
  llvm::APFloat f(value);
  bool losesInfo = false;
  f.convert(semanticsOf(kind), llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  return f;
}

double mlir::attn::roundToElementKind(ElementKind kind, double value) {
  if (kind == ElementKind::I1)
    return value != 0.0 ? 1.0 : 0.0;
  llvm::APFloat f = toKind(kind, value);
  bool losesInfo = false;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &losesInfo);
  return f.convertToDouble();
}

std::vector<uint8_t> mlir::attn::encodeElements(ElementKind kind,
                                                llvm::ArrayRef<double> values) {
  int64_t size = getElementByteSize(kind);
  std::vector<uint8_t> bytes(values.size() * size);
  for (auto [i, value] : llvm::enumerate(values)) {
    uint8_t *dst = bytes.data() + i * size;
    if (kind == ElementKind::I1) {
      *dst = value != 0.0;
      continue;
    }
    uint64_t bits = toKind(kind, value).bitcastToAPInt().getZExtValue();
    std::memcpy(dst, &bits, size); // little-endian host
  }
  return bytes;
}

std::vector<double> mlir::attn::decodeElements(ElementKind kind,
                                               llvm::ArrayRef<uint8_t> bytes) {
  int64_t size = getElementByteSize(kind);
  std::vector<double> values(bytes.size() / size);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint8_t *src = bytes.data() + i * size;
    if (kind == ElementKind::I1) {
      values[i] = *src ? 1.0 : 0.0;
      continue;
    }
    uint64_t bits = 0;
    std::memcpy(&bits, src, size);
    llvm::APFloat f(semanticsOf(kind), llvm::APInt(size * 8, bits));
    bool losesInfo = false;
    f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
              &losesInfo);
    values[i] = f.convertToDouble();
  }
  return values;
}

double mlir::attn::unitRoundoff(ElementKind kind) {
  switch (kind) {
  case ElementKind::F32:
    return std::ldexp(1.0, -24);
  case ElementKind::F16:
    return std::ldexp(1.0, -11);
  case ElementKind::BF16:
    return std::ldexp(1.0, -8);
  case ElementKind::F64:
    return std::ldexp(1.0, -53);
  case ElementKind::I1:
  case ElementKind::I32:
    break;
  }
  llvm_unreachable("not a float kind");
}

std::vector<double>
mlir::attn::reference::gatherRows(const std::vector<double> &packed,
                                  int64_t begin, int64_t length,
                                  int64_t rowElements) {
  auto first = packed.begin() + begin * rowElements;
  return std::vector<double>(first, first + length * rowElements);
}

/// A varlen problem, as the op defines it: sequence n is the dense problem
/// on its query rows [cu_q[n], cu_q[n+1]) and keys [cu_k[n], cu_k[n+1])
/// (over caches: keys [0, key_lengths[n]) of cache n).
static ReferenceResult referenceVarlen(const AttentionSpec &spec,
                                       const ReferenceInputs &in) {
  const int64_t Hq = spec.numQueryHeads, Hkv = spec.numKVHeads,
                Tq = spec.queryLength;
  const int64_t qRow = Hq * spec.headDim, kRow = Hkv * spec.headDim,
                vRow = Hkv * spec.getValueHeadDim(),
                oRow = Hq * spec.getValueHeadDim();
  ReferenceResult result;
  result.output.assign(Tq * oRow, 0.0);
  result.lse.assign(Hq * Tq, -std::numeric_limits<double>::infinity());
  for (int64_t n = 0; n + 1 < static_cast<int64_t>(spec.cuSeqlensQ.size());
       ++n) {
    AttentionSpec one = spec;
    one.cuSeqlensQ.clear();
    one.cuSeqlensK.clear();
    one.keyLengths.clear();
    one.pageSize = 0;
    int64_t q0 = spec.cuSeqlensQ[n];
    one.queryLength = spec.cuSeqlensQ[n + 1] - q0;
    // Packed keys from cu_seqlens_k[n], or the first key_lengths[n] rows of
    // cache n (bshd [N, Lk, Hkv, D]).
    int64_t k0 = 0;
    if (spec.isVarlenCache()) {
      k0 = n * spec.keyLength;
      one.keyLength = spec.keyLengths[n];
    } else {
      k0 = spec.cuSeqlensK[n];
      one.keyLength = spec.cuSeqlensK[n + 1] - k0;
    }
    ReferenceInputs part;
    part.query = gatherRows(in.query, q0, one.queryLength, qRow);
    part.key = gatherRows(in.key, k0, one.keyLength, kRow);
    if (!spec.sharedKV)
      part.value = gatherRows(in.value, k0, one.keyLength, vRow);
    ReferenceResult rows = referenceAttention(one, part);
    std::copy(rows.output.begin(), rows.output.end(),
              result.output.begin() + q0 * oRow);
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < one.queryLength; ++i)
        result.lse[h * Tq + q0 + i] = rows.lse[h * one.queryLength + i];
  }
  return result;
}

ReferenceResult mlir::attn::referenceAttention(const AttentionSpec &spec,
                                               const ReferenceInputs &in) {
  if (spec.isVarlen())
    return referenceVarlen(spec, in);
  const int64_t B = spec.batch, Hq = spec.numQueryHeads, Hkv = spec.numKVHeads,
                Lq = spec.queryLength, Lk = spec.keyLength,
                Dv = spec.getValueHeadDim();
  const int64_t group = Hq / Hkv;
  LayoutIndexer vIdx{spec.layout, Hkv, Lk, Dv}, oIdx{spec.layout, Hq, Lq, Dv};
  // A shared K/V cache: V[b, h, j, c] is K[b, h, j, c], c < Dv.
  const std::vector<double> &values = spec.sharedKV ? in.key : in.value;
  if (spec.sharedKV)
    vIdx = LayoutIndexer{spec.layout, Hkv, Lk, spec.headDim};
  const double negInf = -std::numeric_limits<double>::infinity();

  ReferenceResult result;
  result.output.assign(B * Hq * Lq * Dv, 0.0);
  result.lse.assign(B * Hq * Lq, negInf);
  std::vector<double> scores(Lk);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t lk = keyLengthOf(spec, b);
    for (int64_t h = 0; h < Hq; ++h) {
      int64_t kvh = h / group;
      // The global head of a tensor-parallel shard: what ALiBi and the
      // modifiers see (Q, K, V and the outputs hold the shard's heads).
      const int64_t hg = h + spec.headOffset;
      // The sink: one more logit in the denominator, with no value row.
      const double sink = spec.sinks.empty() ? negInf : spec.sinks[hg];
      for (int64_t i = 0; i < Lq; ++i) {
        double rowMax = sink;
        for (int64_t j = 0; j < Lk; ++j) {
          Score score = scoreAt(spec, in, b, h, i, j, lk);
          scores[j] = score.keep ? score.score : negInf;
          rowMax = std::max(rowMax, scores[j]);
        }
        if (rowMax == negInf)
          continue; // fully masked and no sink: output 0, LSE -inf
        double rowSum = sink == negInf ? 0.0 : std::exp(sink - rowMax);
        for (int64_t j = 0; j < Lk; ++j) {
          scores[j] = std::exp(scores[j] - rowMax);
          rowSum += scores[j];
        }
        for (int64_t c = 0; c < Dv; ++c) {
          double acc = 0.0;
          for (int64_t j = 0; j < Lk; ++j)
            acc += scores[j] * values[vIdx(b, kvh, j, c)];
          result.output[oIdx(b, h, i, c)] = acc / rowSum;
        }
        result.lse[(b * Hq + h) * Lq + i] = rowMax + std::log(rowSum);
      }
    }
  }
  return result;
}

double mlir::attn::reference::gamma(int64_t n, double u) {
  double nu = static_cast<double>(n) * u;
  assert(nu < 1.0 && "format too coarse for this length");
  return nu / (1.0 - nu);
}

ScoreBound mlir::attn::reference::deriveScoreBound(const AttentionSpec &spec,
                                                   const ReferenceInputs &in,
                                                   double uAcc,
                                                   double uScore) {
  // Largest |s| any score can reach, and the largest sum of |q_d k_d|.
  const int64_t D = spec.headDim;
  double qMax = maxAbs(in.query), kMax = maxAbs(in.key),
         biasMax = maxAbs(in.bias);
  double absDotMax = static_cast<double>(D) * qMax * kMax;
  double scale = spec.getEffectiveScale();
  double slopeMax = maxAbs(spec.alibiSlopes);
  double span = static_cast<double>(spec.queryLength + spec.keyLength);
  ScoreBound bound;
  // The relative-bias modifiers add at most 0.01 * span (times h + 1 <= the
  // total head count for the head-dependent one).
  double modMax = spec.scoreMod == ScoreModKind::None ? 0.0 : 0.01 * span;
  if (spec.scoreMod == ScoreModKind::HeadRelativeBias)
    modMax *= static_cast<double>(spec.totalQueryHeads());
  bound.scoreMax = scale * absDotMax + biasMax + slopeMax * span + modMax;
  // delta: bound on |s_computed - s| per score. The dot product contributes
  // gamma_D * scale * sum|q_d k_d|; each later elementwise step (scale,
  // softcap, ALiBi, bias, score_mod, all 1-Lipschitz in s) adds a rounding
  // of at most a few u * |s|; 8 covers them and the libm tanh/exp error.
  bound.delta = gamma(D, uAcc) * scale * absDotMax +
                8.0 * uScore * (1.0 + bound.scoreMax);
  return bound;
}

Tolerance mlir::attn::deriveTolerance(const AttentionSpec &spec,
                                      const ReferenceInputs &in,
                                      std::optional<ElementKind> accumulator,
                                      bool roundedP) {
  // u of the accumulator; f64 accumulation is given as std::nullopt.
  double uAcc = accumulator ? unitRoundoff(*accumulator)
                            : std::numeric_limits<double>::epsilon() / 2;
  // score_mod regions always compute in f32 (their block signature).
  double uScore = spec.scoreMod != ScoreModKind::None
                      ? std::max(uAcc, unitRoundoff(ElementKind::F32))
                      : uAcc;
  double uOut = unitRoundoff(spec.elementType);
  double uIn = unitRoundoff(spec.elementType);

  // A shared K/V cache: max |K| bounds max |V| (V is columns of K).
  double vMax = maxAbs(spec.sharedKV ? in.key : in.value);
  ScoreBound bound = deriveScoreBound(spec, in, uAcc, uScore);
  double delta = bound.delta, scoreMax = bound.scoreMax;

  // softmax: perturbing every score of a row by <= delta changes each p_j by
  // a relative <= exp(2 delta) - 1; sum_j p_j |v_j| <= max|v| turns that
  // into an absolute output error. The P.V and row-sum accumulations over Lk
  // terms add gamma_Lk each; the final store rounds to the output format.
  int64_t lk = spec.keyLength;
  double softmaxRel = std::expm1(2.0 * delta) + 2.0 * gamma(lk + 2, uAcc);
  double outputTol = vMax * (softmaxRel + uOut + (roundedP ? 2.0 * uIn : 0.0));
  // LSE = m + log(l): m carries delta, log(l) the row-sum error; the store
  // (f32, f64 for f64 operands) adds u * |lse|. A sink is exact (an f32
  // operand) and only one more term of the row sum (lk + 2 covers it); it
  // can make |lse| exceed the score bound.
  double lseMax = std::max(scoreMax, maxAbs(spec.sinks));
  double lseTol = delta + 2.0 * gamma(lk + 2, uAcc) +
                  4.0 * unitRoundoff(spec.lseElementType()) *
                      (lseMax + std::log(static_cast<double>(lk) + 2.0));
  return {outputTol, lseTol};
}
