//===- CostModel.h - FLOPs, bytes and the roofline of attention -*- C++ -*-===//
//
// Part of attn-mlir. What an attention costs before it runs: the FLOPs of its
// two GEMMs over the KV tiles its mask leaves visited, the exponentials and
// other softmax work, the bytes it must move, its arithmetic intensity and
// the roofline bound on a named GPU. Everything is plain data computed from
// an attn.attention op or from an AttentionSpec; docs/CostModel.md states
// every formula and the sources of the GPU table.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ANALYSIS_COSTMODEL_H
#define ATTN_ANALYSIS_COSTMODEL_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Spec/AttentionSpec.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::attn {

//===----------------------------------------------------------------------===//
// Mask geometry: the one place the analysis evaluates visibility
//===----------------------------------------------------------------------===//

/// The structural (position-only) part of an attention's mask, the part
/// that lets a schedule skip whole KV tiles. Boolean mask operands and
/// mask_mod regions are not in it: a schedule has to visit their tiles.
struct MaskGeometry {
  MaskKind kind = MaskKind::None;
  int64_t queryLength = 0, keyLength = 0;
  /// Sliding window: keys before / after the (bottom-right) diagonal.
  int64_t windowLeft = 0, windowRight = 0;
};

/// Keys [begin, end) of a query row; empty when end <= begin.
struct KeyRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end > begin ? end - begin : 0; }
};

/// The keys query row `row` sees under `mask` (KeyVisibility, the op's
/// definition), clamped to [0, keyLength). Every structural mask gives one
/// contiguous range whose begin and end never decrease as the row grows;
/// classifyKVTile relies on it. This is the analysis's only evaluation of
/// mask semantics: tile counts and visible FLOPs all go through it.
KeyRange getVisibleKeys(const MaskGeometry &mask, int64_t row);

/// How a schedule treats the tile of query rows [rowBegin, rowEnd) and keys
/// [keyBegin, keyEnd) (ends exclusive, already clipped to the lengths).
enum class TileVisit {
  /// No row sees any key of it: skipped.
  Skipped,
  /// Some keys are masked (or the tile is a partial block): the mask is
  /// evaluated.
  Boundary,
  /// Every row sees every key of a whole block: no mask evaluated.
  Interior,
};

/// Classifies a tile from the visible ranges of its first and last rows
/// (its corners): by monotonicity, rows in between lie between them.
/// `wholeBlock` is false for the padded last block of the keys, which
/// attn-tile always treats as a boundary block.
TileVisit classifyKVTile(const MaskGeometry &mask, int64_t rowBegin,
                         int64_t rowEnd, int64_t keyBegin, int64_t keyEnd,
                         bool wholeBlock);

/// The KV blocks of `blockN` keys one block of query rows [rowBegin,
/// rowEnd) visits: the tiles classifyKVTile does not skip, counted in
/// closed form from the same corner rows (a unit test checks the two
/// agree), so long contexts cost O(query blocks).
struct KVBlockRange {
  int64_t visited = 0, interior = 0;
  /// Keys [keyBegin, keyEnd) the visited blocks cover, clipped to Lk.
  int64_t keyBegin = 0, keyEnd = 0;
};
KVBlockRange getVisitedKVBlocks(const MaskGeometry &mask, int64_t rowBegin,
                                int64_t rowEnd, int64_t blockN);

//===----------------------------------------------------------------------===//
// The problem, as figures
//===----------------------------------------------------------------------===//

/// Where K and V come from.
enum class KVSource {
  /// Dense [B, Hkv, Lk, D] tensors.
  Dense,
  /// attn.paged_view: pages plus a [B, Lk / page] i32 block table.
  Paged,
  /// attn.kv_append: a contiguous cache plus T new tokens per sequence.
  Append,
};

/// An attention problem as the cost model needs it: shapes, element sizes,
/// mask geometry and the operands that add bytes. Static shapes only.
struct AttentionFigures {
  int64_t batch = 1, headsQ = 1, headsKV = 1;
  int64_t queryLength = 1, keyLength = 1, headDim = 64, valueHeadDim = 64;
  ElementKind elementKind = ElementKind::BF16;
  int64_t elementBytes = 2, outputElementBytes = 2;
  MaskGeometry mask;
  bool withLse = false;
  bool withKeyLengths = false;
  /// Bytes of a bias operand / boolean mask operand (as stored, broadcast
  /// extents counted once); 0 without one.
  int64_t biasBytes = 0, maskOperandBytes = 0;
  /// A boolean mask operand or a mask_mod region: tiles cannot be skipped
  /// by position beyond the structural mask.
  bool hasDataMask = false;
  bool withSoftcap = false, withAlibi = false, withScoreMod = false;
  KVSource kvSource = KVSource::Dense;
  /// Paged: tokens per page and the block table's bytes.
  int64_t pageSize = 0, blockTableBytes = 0;
  /// Append: new tokens per sequence, and whether they are stored back into
  /// the cache (the append's result is used beyond the attention).
  int64_t appendTokens = 0;
  bool appendWriteBack = false;

  int64_t headGroupSize() const { return headsQ / headsKV; }
};

/// Figures of `spec` (the function buildAttentionModule makes of it).
AttentionFigures getAttentionFigures(const AttentionSpec &spec);

/// The figures an attention-like op (attn.attention, attn.attention_backward)
/// fixes by its shapes and attributes alone: extents, the mask's geometry,
/// softcap, ALiBi, score_mod and data masks. Element sizes and operand bytes
/// are each caller's (the ops' operands differ).
template <typename AttentionLikeOp>
void readProblemFigures(AttentionLikeOp op, AttentionFigures &f) {
  f.batch = op.getQueryType().getDimSize(0);
  f.headsQ = op.getNumQueryHeads();
  f.headsKV = op.getNumKVHeads();
  f.queryLength = op.getQueryLength();
  f.keyLength = op.getKeyLength();
  f.headDim = op.getHeadDim();
  f.valueHeadDim = op.getValueHeadDim();
  f.mask = {op.getMaskKind(), f.queryLength, f.keyLength, 0, 0};
  if (op.getMaskKind() == MaskKind::SlidingWindow && op.getWindow()) {
    f.mask.windowLeft = (*op.getWindow())[0];
    f.mask.windowRight = (*op.getWindow())[1];
  }
  f.withSoftcap = op.getSoftcapValue().has_value();
  f.withScoreMod = !op.getScoreMod().empty();
  f.hasDataMask = op.getMask() || !op.getMaskMod().empty();
}

/// Figures of `op`; emits an "expected ..." error at the op and fails on
/// dynamic shapes or element types the model has no size for.
FailureOr<AttentionFigures> getAttentionFigures(AttentionOp op);

//===----------------------------------------------------------------------===//
// Schedule and cost
//===----------------------------------------------------------------------===//

/// The schedule the figures are computed for: attn-tile's options on the
/// CPU path, the kernel's on the GPU path.
struct ScheduleConfig {
  int64_t blockM = 64, blockN = 64;
  /// The query heads sharing a KV head are one tile (attn-tile pack-gqa,
  /// and every GPU kernel): tiles are counted per KV head.
  bool packGqa = true;
  /// Skip KV tiles outside causal/window masks (attn-tile
  /// skip-masked-blocks, and every GPU kernel).
  bool skipMaskedBlocks = true;
  /// KV splits (split-KV); > 1 adds partial-result workspaces.
  int64_t numSplits = 1;
  /// The decode kernel: its splits also keep one i32 counter per group.
  bool decodeKernel = false;
};

/// Bytes of each tensor an attention reads or writes, each counted once
/// (the compulsory HBM traffic: what a perfect cache would still move).
struct AttentionBytes {
  int64_t query = 0;
  /// K and V rows some query sees (per batch and KV head), from a dense
  /// tensor, the pages or the cache.
  int64_t key = 0, value = 0;
  int64_t bias = 0, maskOperand = 0, keyLengths = 0;
  int64_t blockTable = 0;
  /// Append: the new tokens and positions read, the rows written back.
  int64_t appendTokensRead = 0, appendPositions = 0, appendWritten = 0;
  int64_t output = 0, lse = 0;
  /// Split-KV partial O and LSE (f32), written once and read once, plus
  /// the decode kernel's counters (read and written).
  int64_t workspace = 0;

  int64_t read() const;
  int64_t written() const;
  int64_t total() const { return read() + written(); }
};

struct AttentionCost {
  /// KV tiles visited by all programs (batch x head group x query block),
  /// how many need no mask, and how many a dense schedule visits: the
  /// figures attn-count-kv-tiles reads off the tiled IR.
  int64_t tilesVisited = 0, tilesInterior = 0, tilesDense = 0;
  /// The two GEMMs, 2 FLOPs per multiply-add:
  /// dense: 2 * B * Hq * Lq * Lk * (D + Dv), no mask (4 B Hq Lq Lk D);
  /// visible: the same over the (row, key) pairs the mask keeps;
  /// executed: over whole visited tiles, padding included: what runs.
  double denseGemmFlops = 0, visibleGemmFlops = 0, executedGemmFlops = 0;
  /// Exponentials: one per score of a visited tile plus one rescale
  /// factor per row per visited tile.
  double exponentials = 0;
  /// Softmax arithmetic besides exp (docs/CostModel.md): per score scale,
  /// max, subtract, sum (4), modifiers; per row per tile the rescale of O
  /// and of the running sum (Dv + 1).
  double softmaxFlops = 0;
  AttentionBytes bytes;

  /// Executed GEMM FLOPs per byte of compulsory traffic.
  double arithmeticIntensity() const {
    return bytes.total() ? executedGemmFlops / double(bytes.total()) : 0;
  }
};

/// The cost of `figures` under `schedule`. Fails (no diagnostic: callers
/// word it for their context) on non-positive tile sizes or splits.
FailureOr<AttentionCost> computeAttentionCost(const AttentionFigures &figures,
                                              const ScheduleConfig &schedule);

//===----------------------------------------------------------------------===//
// GPUs and the roofline
//===----------------------------------------------------------------------===//

/// Published peak figures of one GPU (docs/CostModel.md cites each).
struct GpuSpec {
  llvm::StringLiteral name;        // flag spelling, e.g. "h100-sxm"
  llvm::StringLiteral description; // e.g. "NVIDIA H100 SXM5 80GB"
  /// Dense (no sparsity) tensor-core rates in TFLOP/s; f32 inputs use TF32.
  double tflopsBF16, tflopsF16, tflopsTF32, tflopsFP8;
  /// HBM bandwidth in TB/s (10^12 bytes/s).
  double hbmTBps;
  /// Special-function (exp2) throughput in 10^12 ops/s; 0: not published.
  double sfuTops;
  /// The clock the peak rates imply, in GHz (for per-clock figures such as
  /// shared memory bandwidth, 128 bytes per clock per SM).
  double clockGHz;
  int64_t numSMs;
  /// Shared memory per SM and the most one CTA may opt into, in bytes.
  int64_t sharedMemoryPerSM, sharedMemoryPerBlock;
  /// 32-bit registers per SM, threads per SM and CTAs per SM.
  int64_t registersPerSM, maxThreadsPerSM, maxBlocksPerSM;
  llvm::StringLiteral computeCapability; // e.g. "sm_90"
};

/// The GPUs the model knows, in a fixed order.
llvm::ArrayRef<GpuSpec> getKnownGpus();
/// The GPU named `name` (also accepting the aliases "h100", "a100", "h200",
/// "b200"), or null.
const GpuSpec *lookupGpu(llvm::StringRef name);
/// The GPU a PTX target chip stands for when none is named (tile-model=auto,
/// the manifest's roofline): sm_80 the A100, sm_90 and sm_90a the H100 SXM
/// (whose compute the H200 shares), sm_100 and sm_100a the B200; else null.
const GpuSpec *lookupGpuForChip(llvm::StringRef chip);
/// "a100-sxm, h100-sxm, h200, b200" for diagnostics.
std::string listKnownGpus();

/// Peak dense tensor rate for inputs of `kind` in FLOP/s.
double getPeakFlops(const GpuSpec &gpu, ElementKind kind);

struct RooflineBound {
  /// Time at peak compute (executed GEMM FLOPs), at full HBM bandwidth
  /// (compulsory bytes) and at the special-function rate (exponentials;
  /// 0 when the GPU's rate is not published).
  double computeSeconds = 0, memorySeconds = 0, exponentialSeconds = 0;
  /// Arithmetic intensity at which the two ceilings meet (FLOP/byte).
  double ridgeIntensity = 0;
  double boundSeconds() const;
  /// "compute", "memory" or "exp".
  llvm::StringRef limiter() const;
  /// The rate the bound implies, in FLOP/s of executed GEMM work.
  double attainableFlops(double executedFlops) const {
    return boundSeconds() > 0 ? executedFlops / boundSeconds() : 0;
  }
};

RooflineBound computeRoofline(const AttentionCost &cost, const GpuSpec &gpu,
                              ElementKind kind);
/// The same from the three figures (executed GEMM FLOPs, compulsory bytes,
/// exponentials) of any kernel, e.g. the backward's.
RooflineBound computeRoofline(double executedFlops, double bytes,
                              double exponentials, const GpuSpec &gpu,
                              ElementKind kind);

/// One line: "gemm 163840 FLOP executed (133120 visible, 262144 dense),
/// exp 2720, softmax 13984 FLOP, bytes 16384 (12288 read, 4096 written),
/// intensity 10.0 FLOP/B".
std::string describeCost(const AttentionCost &cost);
/// One line: "h100-sxm: bound 35.271 us (compute-bound; compute 35.271 us,
/// memory 10.016 us, exp 17.749 us), ridge 295.3 FLOP/B, attainable ...".
std::string describeRoofline(const RooflineBound &bound,
                             const AttentionCost &cost, const GpuSpec &gpu);
/// The same for a kernel of `executedFlops` GEMM FLOPs.
std::string describeRoofline(const RooflineBound &bound, double executedFlops,
                             const GpuSpec &gpu);

} // namespace mlir::attn

#endif // ATTN_ANALYSIS_COSTMODEL_H
