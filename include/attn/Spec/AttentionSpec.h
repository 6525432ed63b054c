//===- AttentionSpec.h - an attention problem as plain data -----*- C++ -*-===//
//
// Part of attn-mlir. An AttentionSpec is what a user asks for on the command
// line (attn-compile flags) or in a test: shapes, dtype, mask and modifiers.
// buildAttentionModule turns it into attn IR wrapped in an entry function
// that takes every operand and result as a memref (destination passing), the
// calling convention of the CPU runner and, later, of GPU kernels.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_SPEC_ATTENTIONSPEC_H
#define ATTN_SPEC_ATTENTIONSPEC_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::attn {

/// Element types that cross the host/kernel boundary (values are the C
/// API's MlirAttnElementKind). F64 exists on the CPU target only, lowered
/// whole and computed in f64: the precision of float64 gradient checks.
enum class ElementKind { F32, F16, BF16, I1, I32, F64 };

/// Bytes per element in host memory (i1 is stored as one byte, 0 or 1).
int64_t getElementByteSize(ElementKind kind);
llvm::StringRef stringifyElementKind(ElementKind kind);
std::optional<ElementKind> parseElementKind(llvm::StringRef name);
Type getElementType(MLIRContext *ctx, ElementKind kind);
/// The ElementKind of an MLIR type, if it is one the boundary supports.
std::optional<ElementKind> getElementKind(Type type);

/// Built-in score modifiers that a spec can request by name (arbitrary ones
/// are written as regions in .mlir input).
enum class ScoreModKind {
  None,
  /// score + 0.01 * (kv_idx - q_idx): a relative-position bias.
  RelativeBias,
  /// 20 * tanh(score / 20): a soft cap written as a modifier (math ops).
  TanhCap,
  /// score + 0.01 * (h + 1) * (kv_idx - q_idx), h the global head: a
  /// head-dependent modifier (what tensor-parallel sharding must preserve).
  HeadRelativeBias,
};

/// Built-in mask modifiers.
enum class MaskModKind {
  None,
  /// Prefix-LM: key j is visible to query i if j <= i or j < 4.
  PrefixLM,
};

struct AttentionSpec {
  int64_t batch = 1;
  int64_t numQueryHeads = 32;
  int64_t numKVHeads = 8;
  int64_t queryLength = 1024;
  int64_t keyLength = 1024;
  int64_t headDim = 128;
  /// 0 means "same as headDim".
  int64_t valueHeadDim = 0;
  ElementKind elementType = ElementKind::BF16;
  Layout layout = Layout::BHSD;
  MaskKind maskKind = MaskKind::None;
  int64_t windowLeft = 0;
  int64_t windowRight = 0;
  std::optional<double> scale;
  std::optional<double> softcap;
  /// One slope per query head of the whole attention (totalQueryHeads()),
  /// indexed by the global head.
  std::vector<double> alibiSlopes;
  /// Attention sinks (gpt-oss): one learned f32 logit per query head of the
  /// whole attention (totalQueryHeads()), indexed by the global head; the
  /// entry function takes them as an f32 operand after key_lengths (its
  /// gradient is the last result of a backward). Empty: no sinks.
  std::vector<double> sinks;
  /// Tensor-parallel head sharding: this spec's query heads are the global
  /// heads [headOffset, headOffset + numQueryHeads) of numHeadsTotal (0: the
  /// spec holds every head). Q, K, V and the outputs hold the shard's heads.
  int64_t headOffset = 0;
  int64_t numHeadsTotal = 0;
  /// Adds a [B, Hq, Lq, Lk] additive bias operand (element type as Q).
  bool withBias = false;
  /// The bias' extents of size 1 (broadcast): bit 0 B, 1 Hq, 2 Lq, 3 Lk
  /// (biasShape); its gradient sums dS over them.
  unsigned biasBroadcast = 0;
  /// Adds a full [B, Hq, Lq, Lk] boolean mask operand (true keeps).
  bool withBoolMask = false;
  bool withLse = false;
  ScoreModKind scoreMod = ScoreModKind::None;
  MaskModKind maskMod = MaskModKind::None;
  /// 0: K and V are dense tensors. Otherwise K and V live in a paged cache
  /// (attn.paged_view) with pages of this many tokens; keyLength must be a
  /// multiple of it. BHSD only (bshd views for varlen over caches).
  int64_t pageSize = 0;
  /// Paged caches: the pages in the K and V pools, which the block table
  /// indexes. 0: kvBatch() * pagesPerSequence(), every cache its own pages
  /// (a serving engine's pool is usually smaller than every sequence at
  /// capacity, or shared: any size the block table stays inside).
  int64_t numPages = 0;
  /// Per-sequence key lengths (the key_lengths operand, kvBatch() of them),
  /// each in [0, keyLength]; empty: every sequence has keyLength keys.
  std::vector<int64_t> keyLengths;
  /// Varlen batches: the offsets of N sequences packed along the sequence
  /// axis ([N+1] each, from 0, non-decreasing; cuSeqlensQ ends at
  /// queryLength, cuSeqlensK at most at keyLength), the cu_seqlens_q/k
  /// operands the entry takes after Q, K and V. A varlen spec has batch 1
  /// and the bshd layout (Q [1, Tq, Hq, D] with Tq = queryLength). Empty:
  /// dense. cuSeqlensQ alone with keyLengths: queries over per-sequence
  /// caches (isVarlenCache).
  std::vector<int64_t> cuSeqlensQ, cuSeqlensK;
  /// > 0: the last this-many keys of each sequence (ending at its key
  /// length) are new tokens appended to a contiguous cache by attn.kv_append
  /// in the same function (chunked prefill / decode). Needs keyLengths.
  int64_t appendTokens = 0;
  /// One shared K/V cache (DeepSeek MLA's absorbed decode): V is the first
  /// Dv <= D columns of K's rows (attn.kv_prefix of the key operand), so
  /// the entry takes no V operand (no V pages with pageSize) and the
  /// reference reads V from K. Not with appended tokens or the backward.
  bool sharedKV = false;
  /// The backward instead of the forward: attn.attention_backward taking
  /// (q, k, v, o, dO, lse, [bias], [mask], [key_lengths], [sinks]) and
  /// producing (dQ, dK, dV, [d_bias], [d_sinks]), all in elementType (lse,
  /// sinks and d_sinks f32). Dense K/V only.
  bool backward = false;
  /// A backward with a bias: whether it returns d_bias. Without it the bias
  /// is a constant of the loss (the entry has no d_bias output).
  bool withBiasGradient = true;
  /// A backward whose loss reads the forward's LSE too: the entry takes its
  /// gradient grad_lse (the LSE's shape and type) after every other input,
  /// and Delta = rowsum(dO * O) - grad_lse.
  bool withLseGradient = false;
  /// Dims the entry takes as dynamic (`?`): B, Lq, Lk known only when it
  /// runs, so one compiled kernel serves every length (batch, queryLength
  /// and keyLength then only size the tensors a test or the CPU runner
  /// makes). Dense K and V without bias, mask, sinks or appended tokens.
  bool dynamicBatch = false, dynamicQueryLength = false,
       dynamicKeyLength = false;

  bool isVarlen() const { return !cuSeqlensQ.empty(); }
  /// Varlen queries over per-sequence caches (decode): cuSeqlensQ without
  /// cuSeqlensK, keyLengths [N]; K and V are N caches [N, Lk, Hkv, D] (bshd;
  /// paged with pageSize) and keyLength their capacity.
  bool isVarlenCache() const { return isVarlen() && cuSeqlensK.empty(); }
  /// Batch rows of K and V (and entries of keyLengths): the caches of a
  /// varlen spec over caches, else the batch.
  int64_t kvBatch() const { return isVarlenCache() ? numSequences() : batch; }
  /// Sequences of a varlen spec (N), else the batch.
  int64_t numSequences() const {
    return isVarlen() ? static_cast<int64_t>(cuSeqlensQ.size()) - 1 : batch;
  }

  bool hasDynamicDims() const {
    return dynamicBatch || dynamicQueryLength || dynamicKeyLength;
  }

  /// The LSE's element type: f32, or f64 for f64 operands.
  ElementKind lseElementType() const {
    return elementType == ElementKind::F64 ? ElementKind::F64
                                           : ElementKind::F32;
  }
  int64_t getValueHeadDim() const {
    return valueHeadDim > 0 ? valueHeadDim : headDim;
  }
  double getEffectiveScale() const;
  int64_t totalQueryHeads() const {
    return numHeadsTotal > 0 ? numHeadsTotal : numQueryHeads;
  }
  bool isHeadShard() const {
    return headOffset != 0 || totalQueryHeads() != numQueryHeads;
  }

  /// Shapes of the entry function's memrefs, in the op's layout.
  llvm::SmallVector<int64_t> queryShape() const;
  llvm::SmallVector<int64_t> keyShape() const;
  llvm::SmallVector<int64_t> valueShape() const;
  llvm::SmallVector<int64_t> outputShape() const;
  llvm::SmallVector<int64_t> scoreShape() const; // [B, Hq, Lq, Lk]
  /// scoreShape() with the biasBroadcast extents 1.
  llvm::SmallVector<int64_t> biasShape() const;
  /// The bias element score (b, h, i, j) reads (row-major biasShape).
  int64_t biasIndex(int64_t b, int64_t h, int64_t i, int64_t j) const;
  llvm::SmallVector<int64_t> lseShape() const;   // [B, Hq, Lq]
  /// Paged caches: pages per sequence, K/V page storage
  /// [poolPages, pageSize, Hkv, D(v)] and the block table
  /// [B, pagesPerSequence].
  int64_t pagesPerSequence() const { return keyLength / pageSize; }
  int64_t poolPages() const {
    return numPages > 0 ? numPages : kvBatch() * pagesPerSequence();
  }
  llvm::SmallVector<int64_t> keyPagesShape() const;
  llvm::SmallVector<int64_t> valuePagesShape() const;
  llvm::SmallVector<int64_t> blockTableShape() const;

  /// A one-line summary, e.g. "GQA 32/8 B=1 Lq=1024 Lk=1024 D=128 bf16".
  std::string describe() const;
};

/// Checks that `spec` describes a problem the compiler can build and index:
/// positive extents, heads that group, key lengths within Lk, every operand
/// under 1 TiB and B * Hq * Lq * Lk within int64. Emits an "expected ..."
/// error at `loc` otherwise. buildAttentionModule calls it first.
LogicalResult verifyAttentionSpec(const AttentionSpec &spec, Location loc);

/// Builds `func.func @<funcName>(q, k, v, [bias], [mask], [key_lengths],
/// [cu_seqlens_q, cu_seqlens_k], [sinks], out, [lse])` (with appended tokens:
/// `q, k_cache, v_cache, k_new, v_new, positions, ...`; with a paged cache: `q,
/// k_pages, v_pages, block_table, ...`) over memrefs, wrapping one
/// attn.attention on tensors. Returns null and emits the verifier's diagnostics
/// when the spec describes an invalid op. Every op (and every diagnostic about
/// the spec) is located at a NameLoc naming the spec ("attention spec: GQA 32/8
/// B=1 ..."), so a later refusal (a kernel that cannot take the shape) says
/// which spec it is about.
OwningOpRef<ModuleOp> buildAttentionModule(MLIRContext *ctx,
                                           const AttentionSpec &spec,
                                           llvm::StringRef funcName =
                                               "attention");

/// The backward entry `func.func @<funcName>(q, k, v, o, dO, lse, [bias],
/// [mask], [key_lengths], [sinks], [cu_seqlens_q, cu_seqlens_k], [grad_lse],
/// dQ, dK, dV, [d_bias], [d_sinks])`, as
/// buildAttentionModule builds it for a spec with `backward` set.
OwningOpRef<ModuleOp> buildAttentionBackwardModule(MLIRContext *ctx,
                                                   const AttentionSpec &spec,
                                                   llvm::StringRef funcName);

/// Gives the function `funcName` of `module`, a graph on tensors as an
/// importer writes it (`(tensor...) -> (tensor...)`, one block), the calling
/// convention above: every argument and then every result becomes a memref
/// argument, read through bufferization.to_tensor and written by
/// bufferization.materialize_in_destination. Fails, leaving the module
/// unchanged, unless all argument and result types are static ranked
/// tensors.
LogicalResult convertToMemrefEntry(ModuleOp module, llvm::StringRef funcName);

} // namespace mlir::attn

#endif // ATTN_SPEC_ATTENTIONSPEC_H
