//===- ModelCost.cpp - parameters, FLOPs and KV cache of a transformer ----===//
//
// Part of attn-mlir. docs/CostModel.md ("Models") is the specification.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/ModelCost.h"


using namespace mlir;
using namespace mlir::attn;
using llvm::ArrayRef;
using llvm::StringRef;

static TransformerConfig gpt2() {
  TransformerConfig c;
  c.name = "gpt2";
  c.hidden = 768, c.layers = 12, c.ffn = 3072, c.heads = c.kvHeads = 12;
  c.vocab = 50257, c.maxPositions = 1024;
  c.linearBias = true, c.tiedEmbeddings = true;
  c.source = "Hugging Face openai-community/gpt2 config.json (n_embd 768, "
             "n_layer 12, n_head 12, n_positions 1024, vocab_size 50257; "
             "tied LM head)";
  return c;
}

/// Llama-style: SwiGLU, RMSNorm, rotary positions, no biases, untied.
static TransformerConfig llamaLike(StringRef name, int64_t hidden,
                                   int64_t layers, int64_t ffn, int64_t heads,
                                   int64_t kvHeads, int64_t vocab,
                                   StringRef source) {
  TransformerConfig c;
  c.name = name.str();
  c.hidden = hidden, c.layers = layers, c.ffn = ffn, c.heads = heads;
  c.kvHeads = kvHeads, c.vocab = vocab;
  c.swiglu = c.rmsNorm = true;
  c.source = source.str();
  return c;
}

static TransformerConfig qwen25_7b() {
  TransformerConfig c = llamaLike(
      "qwen2.5-7b", 3584, 28, 18944, 28, 4, 152064,
      "Hugging Face Qwen/Qwen2.5-7B config.json (hidden_size 3584, "
      "num_hidden_layers 28, intermediate_size 18944, num_attention_heads "
      "28, num_key_value_heads 4, vocab_size 152064, "
      "tie_word_embeddings false; Q/K/V biases as in Qwen2's attention)");
  c.qkvBias = true;
  return c;
}

static const StringRef kPresetNames[] = {"gpt2", "llama-3-8b", "llama-3-70b",
                                         "mistral-7b", "qwen2.5-7b"};

ArrayRef<StringRef> mlir::attn::getModelPresetNames() { return kPresetNames; }

std::optional<TransformerConfig> mlir::attn::getModelPreset(StringRef name) {
  if (name == "gpt2")
    return gpt2();
  if (name == "llama-3-8b")
    return llamaLike("llama-3-8b", 4096, 32, 14336, 32, 8, 128256,
                     "Hugging Face meta-llama/Meta-Llama-3-8B config.json "
                     "(hidden_size 4096, num_hidden_layers 32, "
                     "intermediate_size 14336, num_attention_heads 32, "
                     "num_key_value_heads 8, vocab_size 128256, untied)");
  if (name == "llama-3-70b")
    return llamaLike("llama-3-70b", 8192, 80, 28672, 64, 8, 128256,
                     "Hugging Face meta-llama/Meta-Llama-3-70B config.json "
                     "(hidden_size 8192, num_hidden_layers 80, "
                     "intermediate_size 28672, num_attention_heads 64, "
                     "num_key_value_heads 8, vocab_size 128256, untied)");
  if (name == "mistral-7b")
    return llamaLike("mistral-7b", 4096, 32, 14336, 32, 8, 32000,
                     "Hugging Face mistralai/Mistral-7B-v0.1 config.json "
                     "(hidden_size 4096, num_hidden_layers 32, "
                     "intermediate_size 14336, num_attention_heads 32, "
                     "num_key_value_heads 8, vocab_size 32000, untied)");
  if (name == "qwen2.5-7b")
    return qwen25_7b();
  return std::nullopt;
}

std::optional<TransformerConfig>
mlir::attn::resolveTransformerConfig(const TransformerOverrides &o,
                                     std::string &error) {
  std::optional<TransformerConfig> c;
  if (!o.preset.empty()) {
    c = getModelPreset(o.preset);
    if (!c) {
      error = "unknown --model '" + o.preset + "'";
      return std::nullopt;
    }
  } else if (o.hidden || o.layers || o.heads) {
    c = TransformerConfig();
    c->swiglu = c->rmsNorm = o.swiglu;
    c->linearBias = c->tiedEmbeddings = !o.swiglu;
    c->source = "command-line flags";
  } else {
    return std::nullopt;
  }
  for (auto [given, field] :
       {std::pair{o.hidden, &c->hidden}, {o.layers, &c->layers},
        {o.ffn, &c->ffn}, {o.heads, &c->heads}, {o.kvHeads, &c->kvHeads},
        {o.vocab, &c->vocab}})
    if (given)
      *field = given;
  if (!c->ffn)
    c->ffn = 4 * c->hidden;
  if (!c->kvHeads)
    c->kvHeads = c->heads;
  return c;
}

std::optional<std::string>
mlir::attn::validateTransformerConfig(const TransformerConfig &c) {
  if (c.hidden <= 0 || c.layers <= 0 || c.heads <= 0 || c.ffn <= 0 ||
      c.vocab < 0)
    return std::string("expected positive --hidden, --layers, --heads and "
                       "--ffn (and --vocab >= 0)");
  if (c.kvHeads <= 0 || c.heads % c.kvHeads != 0)
    return std::string("expected --kv-heads to divide --heads");
  if (!c.headDim && c.hidden % c.heads != 0)
    return std::string("expected --heads to divide --hidden");
  return std::nullopt;
}

TransformerCost mlir::attn::computeTransformerCost(const TransformerConfig &c,
                                                   int64_t batch,
                                                   int64_t context,
                                                   int64_t kvElementBytes) {
  TransformerCost t;
  int64_t h = c.hidden, d = c.getHeadDim();
  int64_t q = c.heads * d, kv = c.kvHeads * d;
  // Attention: Q [H, Hq D], K and V [H, Hkv D], O [Hq D, H].
  int64_t attnWeights = h * q + 2 * h * kv + q * h;
  int64_t attnBias = c.linearBias ? q + 2 * kv + h : (c.qkvBias ? q + 2 * kv : 0);
  // MLP: up + down (GELU) or gate + up + down (SwiGLU).
  int64_t mlpWeights = (c.swiglu ? 3 : 2) * h * c.ffn;
  int64_t mlpBias = c.linearBias ? c.ffn + h : 0;
  int64_t norm = c.rmsNorm ? h : 2 * h;
  t.attentionParams = attnWeights + attnBias;
  t.mlpParams = mlpWeights + mlpBias;
  t.normParams = 2 * norm; // before attention and before the MLP
  t.paramsPerLayer = t.attentionParams + t.mlpParams + t.normParams;
  t.matmulWeightsPerLayer = attnWeights + mlpWeights;
  t.embeddingParams = c.vocab * h;
  t.positionParams = c.maxPositions * h;
  t.lmHeadParams = c.tiedEmbeddings ? 0 : c.vocab * h;
  t.finalNormParams = norm;
  t.paramsTotal = c.layers * t.paramsPerLayer + t.embeddingParams +
                  t.positionParams + t.lmHeadParams + t.finalNormParams;

  double b = double(batch), l = double(context);
  double weights = double(t.matmulWeightsPerLayer);
  double scoresPerHead = 4.0 * double(d) * double(c.heads);
  t.forwardFlopsPerLayer = 2 * b * l * weights + scoresPerHead * b * l * l;
  t.logitsFlops = 2 * b * l * double(h) * double(c.vocab);
  t.forwardFlops = double(c.layers) * t.forwardFlopsPerLayer + t.logitsFlops;
  t.causalAttentionFlops =
      double(c.layers) * scoresPerHead * b * l * (l + 1) / 2;
  t.forwardFlopsPerToken =
      double(c.layers) * (2 * weights + scoresPerHead * l) +
      2 * double(h) * double(c.vocab);
  t.trainingFlops = 3 * t.forwardFlops;

  int64_t perHead = 2 * batch * context * c.layers * d;
  t.kvCacheBytes = perHead * c.kvHeads * kvElementBytes;
  t.kvCacheBytesMHA = perHead * c.heads * kvElementBytes;
  t.kvCacheBytes8Bit = perHead * c.kvHeads;
  return t;
}
