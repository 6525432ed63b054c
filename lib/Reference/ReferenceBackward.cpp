//===- ReferenceBackward.cpp - float64 reference attention backward -------===//
//
// Part of attn-mlir. attn.attention_backward evaluated literally in double
// precision, and the derivation of the gradient tolerances
// (docs/Numerics.md, "Gradients").
//
//===----------------------------------------------------------------------===//

#include "ScoreChain.h"
#include "attn/Reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::reference;

/// A varlen backward, as the op defines it: sequence n's gradients are the
/// dense backward of its query rows [cu_q[n], cu_q[n+1]) and keys
/// [cu_k[n], cu_k[n+1]); rows of no sequence get 0, the sinks' gradient
/// sums over the sequences, the magnitudes are the largest of any sequence.
static ReferenceGradients referenceVarlenBackward(const AttentionSpec &spec,
                                                  const ReferenceInputs &in) {
  const int64_t Hq = spec.numQueryHeads, Tq = spec.queryLength;
  const int64_t qRow = Hq * spec.headDim,
                kRow = spec.numKVHeads * spec.headDim,
                vRow = spec.numKVHeads * spec.getValueHeadDim(),
                oRow = Hq * spec.getValueHeadDim();
  ReferenceGradients g;
  g.query.assign(in.query.size(), 0.0);
  g.key.assign(in.key.size(), 0.0);
  g.value.assign(in.value.size(), 0.0);
  if (!spec.sinks.empty())
    g.sinks.assign(Hq, 0.0);
  for (size_t n = 0; n + 1 < spec.cuSeqlensQ.size(); ++n) {
    int64_t q0 = spec.cuSeqlensQ[n], k0 = spec.cuSeqlensK[n];
    AttentionSpec one = spec;
    one.cuSeqlensQ.clear();
    one.cuSeqlensK.clear();
    one.queryLength = spec.cuSeqlensQ[n + 1] - q0;
    one.keyLength = spec.cuSeqlensK[n + 1] - k0;
    if (one.queryLength == 0 || one.keyLength == 0)
      continue; // no rows, or rows that see no key: zero gradients
    ReferenceInputs part;
    part.query = gatherRows(in.query, q0, one.queryLength, qRow);
    part.key = gatherRows(in.key, k0, one.keyLength, kRow);
    part.value = gatherRows(in.value, k0, one.keyLength, vRow);
    part.output = gatherRows(in.output, q0, one.queryLength, oRow);
    part.gradOutput = gatherRows(in.gradOutput, q0, one.queryLength, oRow);
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < one.queryLength; ++i) {
        part.lse.push_back(in.lse[h * Tq + q0 + i]);
        if (spec.withLseGradient)
          part.gradLse.push_back(in.gradLse[h * Tq + q0 + i]);
      }
    ReferenceGradients rows = referenceAttentionBackward(one, part);
    std::copy(rows.query.begin(), rows.query.end(),
              g.query.begin() + q0 * qRow);
    std::copy(rows.key.begin(), rows.key.end(), g.key.begin() + k0 * kRow);
    std::copy(rows.value.begin(), rows.value.end(),
              g.value.begin() + k0 * vRow);
    for (size_t h = 0; h < g.sinks.size(); ++h)
      g.sinks[h] += rows.sinks[h];
    for (auto [mine, theirs] :
         {std::pair{&g.maxRowMass, rows.maxRowMass},
          {&g.maxKeyMass, rows.maxKeyMass},
          {&g.maxAbsDpMinusDelta, rows.maxAbsDpMinusDelta},
          {&g.maxAbsDotDoV, rows.maxAbsDotDoV},
          {&g.maxAbsDotDoO, rows.maxAbsDotDoO},
          {&g.maxAbsDs, rows.maxAbsDs},
          {&g.maxRowAbsDs, rows.maxRowAbsDs},
          {&g.maxKeyAbsDs, rows.maxKeyAbsDs}})
      *mine = std::max(*mine, theirs);
    // The sinks' sums run over every sequence's rows.
    g.maxSinkMass += rows.maxSinkMass;
    g.maxSinkAbsTerm += rows.maxSinkAbsTerm;
  }
  return g;
}

ReferenceGradients
mlir::attn::referenceAttentionBackward(const AttentionSpec &spec,
                                       const ReferenceInputs &in) {
  if (spec.isVarlen())
    return referenceVarlenBackward(spec, in);
  const int64_t B = spec.batch, Hq = spec.numQueryHeads, Hkv = spec.numKVHeads,
                Lq = spec.queryLength, Lk = spec.keyLength, D = spec.headDim,
                Dv = spec.getValueHeadDim();
  const int64_t group = Hq / Hkv;
  const double scale = spec.getEffectiveScale();
  LayoutIndexer qIdx{spec.layout, Hq, Lq, D}, kIdx{spec.layout, Hkv, Lk, D},
      vIdx{spec.layout, Hkv, Lk, Dv}, oIdx{spec.layout, Hq, Lq, Dv};

  ReferenceGradients g;
  g.query.assign(in.query.size(), 0.0);
  g.key.assign(in.key.size(), 0.0);
  g.value.assign(in.value.size(), 0.0);
  if (spec.withBias)
    g.bias.assign(in.bias.size(), 0.0);
  // Sinks: d loss / d sink = P_sink (0 - Delta), the sink having no value.
  std::vector<double> sinkMass(Hq, 0.0), sinkAbsTerm(Hq, 0.0);
  if (!spec.sinks.empty())
    g.sinks.assign(Hq, 0.0);
  // Sum of P over the rows of a KV head's group, per (b, kv head, key).
  std::vector<double> keyMass(B * Hkv * Lk, 0.0), keyAbsDs(B * Hkv * Lk, 0.0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t lk = keyLengthOf(spec, b);
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kvh = h / group;
      for (int64_t i = 0; i < Lq; ++i) {
        const double lse = in.lse[(b * Hq + h) * Lq + i];
        double delta = 0.0, absDoO = 0.0;
        for (int64_t c = 0; c < Dv; ++c) {
          double x =
              in.gradOutput[oIdx(b, h, i, c)] * in.output[oIdx(b, h, i, c)];
          delta += x;
          absDoO += std::fabs(x);
        }
        // The loss reads the LSE too: d lse / d s_j = P_j joins dP_j.
        if (spec.withLseGradient) {
          double gradLse = in.gradLse[(b * Hq + h) * Lq + i];
          delta -= gradLse;
          absDoO += std::fabs(gradLse);
        }
        g.maxAbsDotDoO = std::max(g.maxAbsDotDoO, absDoO);
        if (!spec.sinks.empty() && !std::isinf(lse)) {
          double pSink = std::exp(spec.sinks[h] - lse);
          g.sinks[h] -= pSink * delta;
          sinkMass[h] += pSink;
          sinkAbsTerm[h] += pSink * std::fabs(delta);
        }
        double rowMass = 0.0, rowAbsDs = 0.0;
        for (int64_t j = 0; j < Lk; ++j) {
          Score s = scoreAt(spec, in, b, h, i, j, lk);
          double dp = 0.0, absDoV = 0.0;
          for (int64_t c = 0; c < Dv; ++c) {
            double x = in.gradOutput[oIdx(b, h, i, c)] *
                       in.value[vIdx(b, kvh, j, c)];
            dp += x;
            absDoV += std::fabs(x);
          }
          g.maxAbsDotDoV = std::max(g.maxAbsDotDoV, absDoV);
          // Masked keys and fully masked rows contribute nothing.
          if (!s.keep || std::isinf(lse))
            continue;
          double p = std::exp(s.score - lse);
          double ds = p * (dp - delta);
          rowMass += p;
          rowAbsDs += std::fabs(ds);
          keyMass[(b * Hkv + kvh) * Lk + j] += p;
          keyAbsDs[(b * Hkv + kvh) * Lk + j] += std::fabs(ds);
          g.maxAbsDs = std::max(g.maxAbsDs, std::fabs(ds));
          g.maxAbsDpMinusDelta =
              std::max(g.maxAbsDpMinusDelta, std::fabs(dp - delta));
          if (spec.withBias)
            g.bias[spec.biasIndex(b, h, i, j)] += ds * s.dScoreDBiased;
          double dx = scale * ds * s.dScoreDScaled; // d loss / d (q.k)
          for (int64_t d = 0; d < D; ++d) {
            g.query[qIdx(b, h, i, d)] += dx * in.key[kIdx(b, kvh, j, d)];
            g.key[kIdx(b, kvh, j, d)] += dx * in.query[qIdx(b, h, i, d)];
          }
          for (int64_t c = 0; c < Dv; ++c)
            g.value[vIdx(b, kvh, j, c)] += p * in.gradOutput[oIdx(b, h, i, c)];
        }
        g.maxRowMass = std::max(g.maxRowMass, rowMass);
        g.maxRowAbsDs = std::max(g.maxRowAbsDs, rowAbsDs);
      }
    }
  }
  g.maxKeyMass = *std::max_element(keyMass.begin(), keyMass.end());
  g.maxKeyAbsDs = *std::max_element(keyAbsDs.begin(), keyAbsDs.end());
  g.maxSinkMass = *std::max_element(sinkMass.begin(), sinkMass.end());
  g.maxSinkAbsTerm = *std::max_element(sinkAbsTerm.begin(), sinkAbsTerm.end());
  return g;
}

GradientTolerance mlir::attn::deriveGradientTolerance(
    const AttentionSpec &spec, const ReferenceInputs &in,
    const ReferenceGradients &ref, std::optional<ElementKind> accumulator,
    bool roundedP) {
  double uAcc = accumulator ? unitRoundoff(*accumulator)
                            : std::numeric_limits<double>::epsilon() / 2;
  double uF32 = unitRoundoff(ElementKind::F32);
  double uScore = spec.scoreMod != ScoreModKind::None ? std::max(uAcc, uF32)
                                                      : uAcc;
  double uOut = unitRoundoff(spec.elementType);
  double uIn = roundedP ? unitRoundoff(spec.elementType) : 0.0;
  ScoreBound score = deriveScoreBound(spec, in, uAcc, uScore);

  // P = exp(s - lse): the score error delta and the rounding of the
  // subtraction (|s| + |lse|, the LSE being an f32 input) and of exp.
  double lseMax = 0.0;
  for (double l : in.lse)
    if (std::isfinite(l))
      lseMax = std::max(lseMax, std::fabs(l));
  double eP =
      std::expm1(score.delta + 4.0 * uScore * (score.scoreMax + lseMax)) +
      2.0 * uAcc;
  // dP and Delta: dot products over Dv terms.
  int64_t dv = spec.getValueHeadDim();
  double errDp = gamma(dv + 1, uAcc) * ref.maxAbsDotDoV;
  // (grad_lse, where the loss reads the LSE, is one more term.)
  double errDelta =
      gamma(dv + (spec.withLseGradient ? 2 : 1), uAcc) * ref.maxAbsDotDoO;
  // The chain factor (softcap', score_mod') is at most 1 in size; it carries
  // a few roundings and moves with the score by at most 0.77 / cap per unit
  // (the largest slope of 1 - tanh^2).
  double capSlope =
      (spec.softcap ? 0.77 / *spec.softcap : 0.0) +
      (spec.scoreMod == ScoreModKind::TanhCap ? 0.77 / 20.0 : 0.0);
  double eChain = 4.0 * uScore + capSlope * score.delta;
  // dS1_ij errs by |dS_ij| (eP + 4u + e_chain + u_in) + P_ij (err_dP +
  // err_Delta): relative errors of P, of the chain factor and of rounding
  // dS (precision lowering), and the absolute error of dP - Delta.
  double relDs = eP + 4.0 * uAcc + eChain + uIn;
  double absDs = errDp + errDelta;

  double scale = spec.getEffectiveScale();
  double qMax = maxAbs(in.query), kMax = maxAbs(in.key),
         doMax = maxAbs(in.gradOutput);
  int64_t rowsPerKey =
      spec.queryLength * (spec.numQueryHeads / spec.numKVHeads);
  // dQ_i = scale sum_j dS1_ij K_j: the errors of dS1 summed over j, plus the
  // Lk-term sum's gamma_Lk sum_j |dS1_ij| |K_j| (|dS1| <= |dS|). dK sums
  // over the group's rows instead (key sums for row sums); dV = sum P dO
  // with P's relative error. The store rounds to the output format: u_out
  // relative to the value.
  GradientTolerance tol;
  tol.query = scale * kMax *
                  (ref.maxRowAbsDs * (relDs + gamma(spec.keyLength + 1, uAcc)) +
                   ref.maxRowMass * absDs) +
              uOut * maxAbs(ref.query);
  tol.key = scale * qMax *
                (ref.maxKeyAbsDs * (relDs + gamma(rowsPerKey + 1, uAcc)) +
                 ref.maxKeyMass * absDs) +
            uOut * maxAbs(ref.key);
  tol.value =
      doMax * ref.maxKeyMass * (eP + uIn + gamma(rowsPerKey + 1, uAcc)) +
      uOut * maxAbs(ref.value);
  // A broadcast bias' gradient sums n such terms (n = 1: full shape).
  int64_t biasTerms = 1;
  if (spec.withBias) {
    SmallVector<int64_t> full = spec.scoreShape(), shape = spec.biasShape();
    for (int axis = 0; axis < 4; ++axis)
      biasTerms *= full[axis] / shape[axis];
  }
  tol.bias = biasTerms * (ref.maxAbsDs * (relDs + gamma(biasTerms + 1, uAcc)) +
                          ref.maxRowMass * absDs) +
             uOut * maxAbs(ref.bias);
  // d_sink_h = -sum_rows P_sink Delta over R = B * Lq rows: P_sink =
  // exp(sink - lse) errs by the subtraction's and exp's roundings
  // (relative), Delta by err_Delta (absolute); the R-term sum adds
  // gamma_R; the f32 store u_f32.
  double sinkMax = maxAbs(spec.sinks);
  double ePSink = 4.0 * uAcc * (sinkMax + lseMax) + 2.0 * uAcc;
  tol.sinks = ref.maxSinkAbsTerm *
                  (ePSink + gamma(spec.batch * spec.queryLength + 1, uAcc)) +
              ref.maxSinkMass * errDelta + uF32 * maxAbs(ref.sinks);
  // The products and the final scale round once more each.
  for (double *t : {&tol.query, &tol.key, &tol.value, &tol.bias, &tol.sinks})
    *t *= 1.0 + 4.0 * uF32;
  return tol;
}
