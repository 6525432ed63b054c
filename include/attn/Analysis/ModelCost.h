//===- ModelCost.h - parameters, FLOPs and KV cache of a transformer -*- C++ -*-//
//
// Part of attn-mlir. The estimates an inference engineer does by hand for a
// decoder-only transformer: parameters per layer and in total, forward FLOPs
// per token and for a (batch, context) prefill, training FLOPs and the KV
// cache. docs/CostModel.md ("Models") states each formula and where each
// preset's numbers come from.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_MODELCOST_H
#define ATTN_ANALYSIS_MODELCOST_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::attn {

/// A dense decoder-only transformer block stack.
struct TransformerConfig {
  std::string name = "custom";
  int64_t hidden = 0, layers = 0, ffn = 0, heads = 0, kvHeads = 0, vocab = 0;
  /// 0: hidden / heads.
  int64_t headDim = 0;
  /// Learned absolute positions (GPT-2); 0 for rotary embeddings.
  int64_t maxPositions = 0;
  /// GELU MLP (two matrices, biases) or SwiGLU (gate, up, down; no bias).
  bool swiglu = false;
  /// LayerNorm (weight and bias) or RMSNorm (weight only).
  bool rmsNorm = false;
  /// Biases on every linear layer (GPT-2) / on Q, K, V only (Qwen2).
  bool linearBias = false, qkvBias = false;
  bool tiedEmbeddings = false;
  /// Where the numbers come from (a published config).
  std::string source;

  int64_t getHeadDim() const { return headDim ? headDim : hidden / heads; }
};

/// The presets: gpt2, llama-3-8b, llama-3-70b, mistral-7b, qwen2.5-7b.
llvm::ArrayRef<llvm::StringRef> getModelPresetNames();
std::optional<TransformerConfig> getModelPreset(llvm::StringRef name);

/// A model as a command line gives it: a preset name and/or sizes; a
/// non-zero size replaces the preset's.
struct TransformerOverrides {
  std::string preset;
  int64_t hidden = 0, layers = 0, ffn = 0, heads = 0, kvHeads = 0, vocab = 0;
  /// Without a preset: a Llama-style block (SwiGLU, RMSNorm, no biases,
  /// untied) instead of a GPT-2-style one (GELU, LayerNorm, biases, tied).
  bool swiglu = false;
};

/// The model `overrides` describe (unset F: 4H; unset Hkv: Hq), nullopt
/// when they name none; `error` says why on an unknown preset.
std::optional<TransformerConfig>
resolveTransformerConfig(const TransformerOverrides &overrides,
                         std::string &error);

/// Fails with a message on a config the formulas cannot take.
std::optional<std::string> validateTransformerConfig(const TransformerConfig &c);

struct TransformerCost {
  /// Parameters of one block: attention (Q, K, V, O and their biases),
  /// MLP, norms; their sum.
  int64_t attentionParams = 0, mlpParams = 0, normParams = 0;
  int64_t paramsPerLayer = 0;
  /// Token embedding, learned positions, the LM head (0 when tied to the
  /// embedding), the final norm; all parameters.
  int64_t embeddingParams = 0, positionParams = 0, lmHeadParams = 0,
          finalNormParams = 0;
  int64_t paramsTotal = 0;
  /// Weights of one block's matrix multiplies (what FLOPs scale with).
  int64_t matmulWeightsPerLayer = 0;

  /// Prefill of `batch` sequences of `context` tokens, 2 FLOPs per
  /// multiply-add: per layer 2 B L W + 4 B L^2 Hq D (all L^2 scores, the
  /// textbook count; 24 B L H^2 + 4 B L^2 H for GPT-2), the logits
  /// 2 B L H V, the total, and its attention term with a causal mask
  /// (only the L (L + 1) / 2 visible scores).
  double forwardFlopsPerLayer = 0, logitsFlops = 0, forwardFlops = 0;
  double causalAttentionFlops = 0;
  /// One new token attending to `context` keys: per layer 2 W + 4 L Hq D,
  /// plus the logits 2 H V.
  double forwardFlopsPerToken = 0;
  /// Forward + backward: 3x the forward.
  double trainingFlops = 0;

  /// 2 B L layers Hkv D bytes-per-element: K and V of every layer.
  int64_t kvCacheBytes = 0;
  /// The same with Hkv = Hq (MHA), and with an 8-bit cache.
  int64_t kvCacheBytesMHA = 0, kvCacheBytes8Bit = 0;
};

/// `kvElementBytes`: bytes per cached element (2 for bf16).
TransformerCost computeTransformerCost(const TransformerConfig &config,
                                       int64_t batch, int64_t context,
                                       int64_t kvElementBytes);

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_MODELCOST_H
