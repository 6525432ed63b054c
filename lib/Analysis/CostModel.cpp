//===- CostModel.cpp - FLOPs, bytes and tile counts of attention ----------===//
//
// Part of attn-mlir. docs/CostModel.md is the specification of every figure
// computed here.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/CostModel.h"
#include "attn/Dialect/Attn/IR/KeyVisibility.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Mask geometry
//===----------------------------------------------------------------------===//

KeyRange mlir::attn::getVisibleKeys(const MaskGeometry &mask, int64_t row) {
  // The op's own definition, evaluated at compile time.
  SmallVector<int64_t, 2> window = {mask.windowLeft, mask.windowRight};
  KeyVisibility visibility = KeyVisibility::get(
      mask.kind, mask.kind == MaskKind::SlidingWindow
                     ? std::optional<ArrayRef<int64_t>>(window)
                     : std::nullopt);
  ConstArith a;
  int64_t lk = mask.keyLength;
  KeyInterval<int64_t> keys =
      visibility.visibleKeys(a, row, row, mask.queryLength, lk);
  // Clamping keeps both ends monotone in the row.
  return {std::clamp<int64_t>(keys.begin, 0, lk),
          std::clamp<int64_t>(keys.end, 0, lk)};
}

TileVisit mlir::attn::classifyKVTile(const MaskGeometry &mask,
                                     int64_t rowBegin, int64_t rowEnd,
                                     int64_t keyBegin, int64_t keyEnd,
                                     bool wholeBlock) {
  KeyRange first = getVisibleKeys(mask, rowBegin);
  KeyRange last = getVisibleKeys(mask, rowEnd - 1);
  // Consecutive rows' ranges overlap or touch (they move by one key per
  // row), so the rows together see [first.begin, last.end).
  if (first.begin >= keyEnd || last.end <= keyBegin)
    return TileVisit::Skipped;
  // The latest begin is the last row's, the earliest end the first row's.
  if (wholeBlock && last.begin <= keyBegin && first.end >= keyEnd)
    return TileVisit::Interior;
  return TileVisit::Boundary;
}

KVBlockRange mlir::attn::getVisitedKVBlocks(const MaskGeometry &mask,
                                            int64_t rowBegin, int64_t rowEnd,
                                            int64_t blockN) {
  KeyRange first = getVisibleKeys(mask, rowBegin);
  KeyRange last = getVisibleKeys(mask, rowEnd - 1);
  KVBlockRange r;
  // classifyKVTile's "not skipped": first.begin < keyEnd, last.end > k0.
  int64_t begin = first.begin / blockN;
  int64_t end = llvm::divideCeil(last.end, blockN);
  if (first.begin >= mask.keyLength || end <= begin)
    return r;
  r.visited = end - begin;
  r.keyBegin = begin * blockN;
  r.keyEnd = std::min(end * blockN, mask.keyLength);
  // Interior: whole blocks with last.begin <= k0 and k0 + N <= first.end.
  int64_t interiorBegin =
      std::max<int64_t>(begin, llvm::divideCeil(last.begin, blockN));
  int64_t interiorEnd =
      std::min(end, std::min(first.end, mask.keyLength) / blockN);
  r.interior = std::max<int64_t>(0, interiorEnd - interiorBegin);
  return r;
}

//===----------------------------------------------------------------------===//
// Figures
//===----------------------------------------------------------------------===//

AttentionFigures mlir::attn::getAttentionFigures(const AttentionSpec &spec) {
  AttentionFigures f;
  f.batch = spec.batch;
  f.headsQ = spec.numQueryHeads;
  f.headsKV = spec.numKVHeads;
  f.queryLength = spec.queryLength;
  f.keyLength = spec.keyLength;
  f.headDim = spec.headDim;
  f.valueHeadDim = spec.getValueHeadDim();
  f.elementKind = spec.elementType;
  f.elementBytes = f.outputElementBytes = getElementByteSize(spec.elementType);
  f.mask = {spec.maskKind, spec.queryLength, spec.keyLength, 0, 0};
  if (spec.maskKind == MaskKind::SlidingWindow) {
    f.mask.windowLeft = spec.windowLeft;
    f.mask.windowRight = spec.windowRight;
  }
  f.withLse = spec.withLse;
  f.withKeyLengths = !spec.keyLengths.empty();
  int64_t scores = spec.batch * spec.numQueryHeads * spec.queryLength *
                   spec.keyLength;
  if (spec.withBias)
    f.biasBytes = scores * f.elementBytes;
  if (spec.withBoolMask)
    f.maskOperandBytes = scores; // i1 stored as one byte
  f.hasDataMask = spec.withBoolMask || spec.maskMod != MaskModKind::None;
  f.withSoftcap = spec.softcap.has_value();
  f.withAlibi = !spec.alibiSlopes.empty();
  f.withScoreMod = spec.scoreMod != ScoreModKind::None;
  if (spec.pageSize > 0) {
    f.kvSource = KVSource::Paged;
    f.pageSize = spec.pageSize;
    f.blockTableBytes = spec.batch * spec.pagesPerSequence() * 4;
  }
  if (spec.appendTokens > 0) {
    f.kvSource = KVSource::Append;
    f.appendTokens = spec.appendTokens;
    // buildAttentionModule stores the appended caches back.
    f.appendWriteBack = true;
  }
  return f;
}

/// Bytes of a statically shaped tensor (i1 counted as one byte, as stored).
static std::optional<int64_t> tensorBytes(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return std::nullopt;
  std::optional<ElementKind> kind = getElementKind(tensor.getElementType());
  if (!kind)
    return std::nullopt;
  return tensor.getNumElements() * getElementByteSize(*kind);
}

/// Records where K (or V) comes from; both come from the same kind of view
/// in every form attn-tile and the GPU lowerings accept.
static void readKVSource(Value kv, AttentionFigures &f) {
  if (auto paged = kv.getDefiningOp<PagedViewOp>()) {
    f.kvSource = KVSource::Paged;
    f.pageSize = paged.getPageSize();
    f.blockTableBytes = tensorBytes(paged.getBlockTable().getType()).value_or(0);
    return;
  }
  if (auto append = kv.getDefiningOp<KVAppendOp>()) {
    f.kvSource = KVSource::Append;
    f.appendTokens =
        cast<RankedTensorType>(append.getTokens().getType()).getDimSize(2);
    // Stored back when anything besides attentions reads the new cache.
    f.appendWriteBack |= llvm::any_of(append->getUsers(), [](Operation *user) {
      return !isa<AttentionOp>(user);
    });
  }
}

FailureOr<AttentionFigures> mlir::attn::getAttentionFigures(AttentionOp op) {
  // The packed totals are no sequence: the work of a varlen op is the sum
  // over sequences whose lengths only the run knows.
  if (op.isVarlen())
    return op.emitOpError() << "expected a dense attention for the cost "
                               "model (a varlen op's work depends on its "
                               "runtime offsets)";
  for (Value v : op->getOperands())
    if (!tensorBytes(v.getType()))
      return op.emitOpError()
             << "expected statically shaped operands of f32, f16, bf16, i1 "
                "or i32 for the cost model";
  std::optional<ElementKind> kind =
      getElementKind(op.getQueryType().getElementType());
  std::optional<ElementKind> outKind =
      getElementKind(op.getOutputType().getElementType());
  if (!op.getOutputType().hasStaticShape() || !kind || !outKind)
    return op.emitOpError() << "expected a statically shaped output of f32, "
                               "f16 or bf16 for the cost model";
  AttentionFigures f;
  readProblemFigures(op, f);
  f.elementKind = *kind;
  f.elementBytes = getElementByteSize(*kind);
  f.outputElementBytes = getElementByteSize(*outKind);
  f.withLse = static_cast<bool>(op.getLse());
  f.withKeyLengths = static_cast<bool>(op.getKeyLengths());
  if (Value bias = op.getBias())
    f.biasBytes = *tensorBytes(bias.getType());
  if (Value mask = op.getMask())
    f.maskOperandBytes = *tensorBytes(mask.getType());
  f.withAlibi = static_cast<bool>(op.getAlibiSlopesAttr());
  readKVSource(op.getKey(), f);
  readKVSource(op.getValue(), f);
  return f;
}

//===----------------------------------------------------------------------===//
// Cost
//===----------------------------------------------------------------------===//

int64_t AttentionBytes::read() const {
  return query + key + value + bias + maskOperand + keyLengths + blockTable +
         appendTokensRead + appendPositions + workspace;
}

int64_t AttentionBytes::written() const {
  return output + lse + appendWritten + workspace;
}

namespace {
/// Visits every (program, KV tile) pair of the schedule once.
struct TileCounter {
  const AttentionFigures &f;
  const ScheduleConfig &s;
  AttentionCost &cost;
  /// Keys [kvBegin, kvEnd) some visited tile covers (clipped to Lk).
  int64_t kvBegin = 0, kvEnd = 0;

  void run() {
    int64_t m = s.blockM, n = s.blockN, lq = f.queryLength, lk = f.keyLength;
    int64_t group = s.packGqa ? f.headGroupSize() : 1;
    int64_t programsPerBlock = f.batch * (f.headsQ / group);
    int64_t kvBlocks = llvm::divideCeil(lk, n);
    double gemmPerScore = 2.0 * double(f.headDim + f.valueHeadDim);
    double perScore = scoreFlops();
    kvBegin = lk;
    for (int64_t q0 = 0; q0 < lq; q0 += m) {
      int64_t rows = std::min(m, lq - q0), visited = kvBlocks, interior = 0;
      if (s.skipMaskedBlocks) {
        KVBlockRange range = getVisitedKVBlocks(f.mask, q0, q0 + rows, n);
        visited = range.visited;
        interior = range.interior;
        if (visited) {
          kvBegin = std::min(kvBegin, range.keyBegin);
          kvEnd = std::max(kvEnd, range.keyEnd);
        }
      } else {
        kvBegin = 0;
        kvEnd = lk;
      }
      cost.tilesVisited += programsPerBlock * visited;
      cost.tilesInterior += programsPerBlock * interior;
      cost.tilesDense += programsPerBlock * kvBlocks;
      // A visited tile computes all G x M x N scores, padding included.
      double scores = double(programsPerBlock * visited) * group * m * n;
      double rowSteps = double(programsPerBlock * visited) * group * m;
      cost.executedGemmFlops += gemmPerScore * scores;
      cost.exponentials += scores * (f.withSoftcap ? 2 : 1) + rowSteps;
      cost.softmaxFlops += scores * perScore +
                           rowSteps * double(f.valueHeadDim + 1);
    }
    // The epilogue: one division per output element, one log per LSE.
    double outRows = double(f.batch * f.headsQ * lq);
    cost.softmaxFlops += outRows * double(f.valueHeadDim);
    if (f.withLse)
      cost.exponentials += outRows;
    if (kvEnd < kvBegin)
      kvBegin = kvEnd = 0;
  }

  /// Per score besides the GEMMs and exp: scale, running max, subtract,
  /// sum; a softcap's divide and multiply, ALiBi's distance, abs and fma.
  double scoreFlops() const {
    double flops = 4;
    if (f.withSoftcap)
      flops += 2;
    if (f.withAlibi)
      flops += 3;
    return flops;
  }
};
} // namespace

/// Pairs (row, key) the structural mask keeps, over all rows of one head.
static int64_t countVisiblePairs(const MaskGeometry &mask) {
  int64_t pairs = 0;
  for (int64_t row = 0; row < mask.queryLength; ++row)
    pairs += getVisibleKeys(mask, row).size();
  return pairs;
}

static AttentionBytes computeBytes(const AttentionFigures &f,
                                   const ScheduleConfig &s, int64_t kvBegin,
                                   int64_t kvEnd) {
  AttentionBytes b;
  int64_t e = f.elementBytes;
  int64_t rowsQ = f.batch * f.headsQ * f.queryLength;
  int64_t kvHeads = f.batch * f.headsKV;
  int64_t kvRows = kvEnd - kvBegin;
  b.query = rowsQ * f.headDim * e;
  b.output = rowsQ * f.valueHeadDim * f.outputElementBytes;
  if (f.withLse)
    b.lse = rowsQ * 4;
  b.bias = f.biasBytes;
  b.maskOperand = f.maskOperandBytes;
  if (f.withKeyLengths)
    b.keyLengths = f.batch * 4;
  int64_t cacheRows = kvRows;
  if (f.kvSource == KVSource::Append) {
    // The new tokens are the last T keys; the rest come from the cache.
    int64_t newBegin = std::max(kvBegin, f.keyLength - f.appendTokens);
    int64_t newRows = std::max<int64_t>(0, kvEnd - newBegin);
    cacheRows -= newRows;
    b.appendTokensRead =
        kvHeads * newRows * (f.headDim + f.valueHeadDim) * e;
    b.appendPositions = f.batch * 4;
    if (f.appendWriteBack)
      b.appendWritten =
          kvHeads * f.appendTokens * (f.headDim + f.valueHeadDim) * e;
  }
  b.key = kvHeads * cacheRows * f.headDim * e;
  b.value = kvHeads * cacheRows * f.valueHeadDim * e;
  if (f.kvSource == KVSource::Paged)
    b.blockTable = f.blockTableBytes;
  if (s.numSplits > 1) {
    b.workspace = s.numSplits * rowsQ * (f.valueHeadDim + 1) * 4;
    if (s.decodeKernel)
      b.workspace += kvHeads * 4;
  }
  return b;
}

FailureOr<AttentionCost>
mlir::attn::computeAttentionCost(const AttentionFigures &f,
                                 const ScheduleConfig &s) {
  if (s.blockM <= 0 || s.blockN <= 0 || s.numSplits <= 0 || f.headsKV <= 0 ||
      f.headsQ % f.headsKV != 0)
    return failure();
  AttentionCost cost;
  TileCounter counter{f, s, cost};
  counter.run();
  double gemmPerScore = 2.0 * double(f.headDim + f.valueHeadDim);
  double heads = double(f.batch * f.headsQ);
  cost.denseGemmFlops =
      gemmPerScore * heads * double(f.queryLength) * double(f.keyLength);
  cost.visibleGemmFlops =
      gemmPerScore * heads * double(countVisiblePairs(f.mask));
  cost.bytes = computeBytes(f, s, counter.kvBegin, counter.kvEnd);
  return cost;
}

std::string mlir::attn::describeCost(const AttentionCost &c) {
  // Exact integers: the counts are whole numbers and tests check them.
  auto n = [](double x) { return static_cast<int64_t>(x); };
  return llvm::formatv("gemm {0} FLOP executed ({1} visible, {2} dense), exp "
                       "{3}, softmax {4} FLOP, bytes {5} ({6} read, {7} "
                       "written), intensity {8:f1} FLOP/B",
                       n(c.executedGemmFlops), n(c.visibleGemmFlops),
                       n(c.denseGemmFlops), n(c.exponentials),
                       n(c.softmaxFlops), c.bytes.total(), c.bytes.read(),
                       c.bytes.written(), c.arithmeticIntensity())
      .str();
}
