//===- CostModelTest.cpp - the cost model against hand-computed numbers ---===//
//
// Part of attn-mlir. Every figure the cost model prints is checked here
// against a number worked out by hand; the arithmetic is in the comment
// above each check (docs/CostModel.md has the formulas).
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/BackwardCost.h"
#include "attn/Analysis/CostModel.h"
#include "attn/Analysis/CostReport.h"
#include "attn/Analysis/ModelCost.h"
#include "attn/Analysis/TileConfig.h"
#include "attn/Spec/AttentionSpec.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/JSON.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::attn;

namespace {

AttentionFigures square(MaskKind mask, int64_t lq, int64_t lk, int64_t d) {
  AttentionFigures f;
  f.queryLength = lq, f.keyLength = lk, f.headDim = f.valueHeadDim = d;
  f.elementKind = ElementKind::F32;
  f.elementBytes = f.outputElementBytes = 4;
  f.mask = {mask, lq, lk, 0, 0};
  return f;
}

AttentionCost costOf(const AttentionFigures &f, int64_t m, int64_t n,
                     bool skip = true) {
  ScheduleConfig s;
  s.blockM = m, s.blockN = n, s.skipMaskedBlocks = skip;
  FailureOr<AttentionCost> cost = computeAttentionCost(f, s);
  EXPECT_TRUE(succeeded(cost));
  return succeeded(cost) ? *cost : AttentionCost();
}

TEST(CostModelMask, VisibleKeysFollowTheOpDefinition) {
  // Lq = 4, Lk = 8: bottom-right offset Lk - Lq = 4.
  MaskGeometry none{MaskKind::None, 4, 8, 0, 0};
  MaskGeometry tl{MaskKind::CausalTopLeft, 4, 8, 0, 0};
  MaskGeometry br{MaskKind::CausalBottomRight, 4, 8, 0, 0};
  MaskGeometry win{MaskKind::SlidingWindow, 4, 8, 2, 1};
  EXPECT_EQ(getVisibleKeys(none, 1).begin, 0);
  EXPECT_EQ(getVisibleKeys(none, 1).end, 8);
  // Top-left row 1: j <= 1.
  EXPECT_EQ(getVisibleKeys(tl, 1).end, 2);
  // Bottom-right row 1: j <= 1 + 4.
  EXPECT_EQ(getVisibleKeys(br, 1).end, 6);
  // Window [2, 1] row 1: 1 + 4 - 2 = 3 <= j <= 1 + 4 + 1 = 6.
  EXPECT_EQ(getVisibleKeys(win, 1).begin, 3);
  EXPECT_EQ(getVisibleKeys(win, 1).end, 7);
  // Row 3 of the window: 5 <= j <= 8, clamped to Lk = 8.
  EXPECT_EQ(getVisibleKeys(win, 3).end, 8);
  // Lq = 8 > Lk = 4 bottom-right: row 0 sees j <= 0 - 4, nothing.
  MaskGeometry tall{MaskKind::CausalBottomRight, 8, 4, 0, 0};
  EXPECT_EQ(getVisibleKeys(tall, 0).size(), 0);
}

TEST(CostModelMask, CornerClassificationMatchesEveryRow) {
  // The corner rule against a scan of every row of every tile, for every
  // mask kind over a few ragged shapes and tile sizes.
  for (MaskKind kind : {MaskKind::None, MaskKind::CausalTopLeft,
                        MaskKind::CausalBottomRight, MaskKind::SlidingWindow})
    for (auto [lq, lk] : {std::pair<int64_t, int64_t>{37, 53}, {53, 37}, {16, 64}, {1, 40}})
      for (auto [m, n] : {std::pair<int64_t, int64_t>{8, 8}, {16, 4}, {5, 7}}) {
        MaskGeometry g{kind, lq, lk, 6, 3};
        for (int64_t r0 = 0; r0 < lq; r0 += m) {
          // The closed-form block counts agree with classifying each tile.
          int64_t visited = 0, interior = 0;
          for (int64_t k0 = 0; k0 < lk; k0 += n) {
            TileVisit v = classifyKVTile(g, r0, std::min(r0 + m, lq), k0,
                                         std::min(k0 + n, lk), k0 + n <= lk);
            visited += v != TileVisit::Skipped;
            interior += v == TileVisit::Interior;
          }
          KVBlockRange range = getVisitedKVBlocks(g, r0, std::min(r0 + m, lq), n);
          EXPECT_EQ(range.visited, visited);
          EXPECT_EQ(range.interior, interior);
          for (int64_t k0 = 0; k0 < lk; k0 += n) {
            int64_t r1 = std::min(r0 + m, lq), k1 = std::min(k0 + n, lk);
            bool any = false, all = k0 + n <= lk;
            for (int64_t r = r0; r < r1; ++r) {
              KeyRange keys = getVisibleKeys(g, r);
              int64_t lo = std::max(keys.begin, k0), hi = std::min(keys.end, k1);
              any |= hi > lo;
              all &= keys.begin <= k0 && keys.end >= k1;
            }
            TileVisit expected = !any ? TileVisit::Skipped
                                 : all ? TileVisit::Interior
                                       : TileVisit::Boundary;
            EXPECT_EQ(classifyKVTile(g, r0, r1, k0, k1, k0 + n <= lk),
                      expected)
                << "kind " << int(kind) << " Lq " << lq << " Lk " << lk
                << " tile " << r0 << "," << k0;
          }
        }
      }
}

TEST(CostModelTiles, CountsMatchAttnCountKVTiles) {
  // test/Transforms/attn-count-kv-tiles.mlir, 16x16 tiles, read off the
  // IR attn-tile emits: the analysis must agree without tiling.
  // Causal L = 64: query block r visits blocks 0..r: 1+2+3+4 = 10 of 16,
  // r of them interior: 0+1+2+3 = 6.
  AttentionCost c = costOf(square(MaskKind::CausalBottomRight, 64, 64, 16), 16, 16);
  EXPECT_EQ(c.tilesVisited, 10);
  EXPECT_EQ(c.tilesInterior, 6);
  EXPECT_EQ(c.tilesDense, 16);
  // Top-left Lq 32, Lk 64: 1 + 2 = 3 of 8, 1 interior.
  c = costOf(square(MaskKind::CausalTopLeft, 32, 64, 16), 16, 16);
  EXPECT_EQ(c.tilesVisited, 3);
  EXPECT_EQ(c.tilesInterior, 1);
  // Bottom-right Lq 32, Lk 64 (shift 32): 3 + 4 = 7 of 8, 2 + 3 = 5 interior.
  c = costOf(square(MaskKind::CausalBottomRight, 32, 64, 16), 16, 16);
  EXPECT_EQ(c.tilesVisited, 7);
  EXPECT_EQ(c.tilesInterior, 5);
  // Window [16, 0] L = 64: blocks r-1, r: 1 + 2 + 2 + 2 = 7, none interior.
  AttentionFigures w = square(MaskKind::SlidingWindow, 64, 64, 16);
  w.mask.windowLeft = 16;
  c = costOf(w, 16, 16);
  EXPECT_EQ(c.tilesVisited, 7);
  EXPECT_EQ(c.tilesInterior, 0);
  // No mask L = 40: 3 x 3 = 9 visited; the padded third block is a
  // boundary block: 6 interior.
  c = costOf(square(MaskKind::None, 40, 40, 16), 16, 16);
  EXPECT_EQ(c.tilesVisited, 9);
  EXPECT_EQ(c.tilesInterior, 6);
  // skip-masked-blocks=false: all 16 visited, none interior.
  c = costOf(square(MaskKind::CausalBottomRight, 64, 64, 16), 16, 16, false);
  EXPECT_EQ(c.tilesVisited, 16);
  EXPECT_EQ(c.tilesInterior, 0);
}

TEST(CostModelFlops, CausalSquareByHand) {
  // B = H = 1, L = 64, D = Dv = 16, f32, 16x16 tiles, 10 tiles visited.
  AttentionCost c = costOf(square(MaskKind::CausalBottomRight, 64, 64, 16), 16, 16);
  // Executed: 10 tiles x 2 (D + Dv) x 16 x 16 = 10 x 64 x 256 = 163840.
  EXPECT_EQ(c.executedGemmFlops, 163840);
  // Visible: 64 x sum_{i<64} (i + 1) = 64 x 2080 = 133120.
  EXPECT_EQ(c.visibleGemmFlops, 133120);
  // Dense: 64 x 64 x 64 = 262144 (= 4 B H L^2 D).
  EXPECT_EQ(c.denseGemmFlops, 262144);
  // exp: 10 x 256 scores + 10 x 16 row rescales = 2720 (no LSE).
  EXPECT_EQ(c.exponentials, 2720);
  // Softmax: 4 x 2560 + 160 x (16 + 1) + 64 x 16 divisions
  // = 10240 + 2720 + 1024 = 13984.
  EXPECT_EQ(c.softmaxFlops, 13984);
  // Bytes: Q, K, V, O each 64 x 16 x 4 = 4096: 12288 read, 4096 written.
  EXPECT_EQ(c.bytes.read(), 12288);
  EXPECT_EQ(c.bytes.written(), 4096);
  // Intensity: 163840 / 16384 = 10.
  EXPECT_DOUBLE_EQ(c.arithmeticIntensity(), 10.0);
}

TEST(CostModelRoofline, CausalPrefillOnH100) {
  // B = 1, H = 8, L = 4096, D = 128, bf16, causal, 64x64 tiles.
  AttentionFigures f = square(MaskKind::CausalBottomRight, 4096, 4096, 128);
  f.headsQ = f.headsKV = 8;
  f.elementKind = ElementKind::BF16;
  f.elementBytes = f.outputElementBytes = 2;
  AttentionCost c = costOf(f, 64, 64);
  // 64 query blocks, block r visits r + 1: 2080 per head, x 8 = 16640;
  // r interior: 2016 x 8 = 16128; dense 64 x 64 x 8 = 32768.
  EXPECT_EQ(c.tilesVisited, 16640);
  EXPECT_EQ(c.tilesInterior, 16128);
  EXPECT_EQ(c.tilesDense, 32768);
  // Executed: 16640 x 2 x 256 x 64 x 64 = 34896609280.
  EXPECT_EQ(c.executedGemmFlops, 34896609280.0);
  // Visible: 512 x 8 x 4096 x 4097 / 2 = 34368126976.
  EXPECT_EQ(c.visibleGemmFlops, 34368126976.0);
  // Dense: 4 x 8 x 4096^2 x 128 = 68719476736.
  EXPECT_EQ(c.denseGemmFlops, 68719476736.0);
  // Q, K, V, O: 8 x 4096 x 128 x 2 = 8388608 each; 33554432 in all.
  EXPECT_EQ(c.bytes.total(), 33554432);
  // 34896609280 / 33554432 = 1040 FLOP/B exactly.
  EXPECT_DOUBLE_EQ(c.arithmeticIntensity(), 1040.0);
  const GpuSpec *h100 = lookupGpu("h100");
  ASSERT_TRUE(h100);
  RooflineBound r = computeRoofline(c, *h100, ElementKind::BF16);
  // Compute: 34896609280 / 989.4e12 = 35.2705 us; memory: 33554432 /
  // 3.35e12 = 10.0163 us; exp: (16640 x 4096 + 16640 x 64) / 3.9e12 =
  // 69222400 / 3.9e12 = 17.7493 us. Compute-bound; ridge 989.4 / 3.35 =
  // 295.34 FLOP/B.
  EXPECT_NEAR(r.computeSeconds * 1e6, 35.2705, 1e-3);
  EXPECT_NEAR(r.memorySeconds * 1e6, 10.0163, 1e-3);
  EXPECT_NEAR(r.exponentialSeconds * 1e6, 17.7493, 1e-3);
  EXPECT_EQ(r.limiter(), "compute");
  EXPECT_NEAR(r.ridgeIntensity, 295.34, 1e-2);
  // On the A100 (312 TFLOP/s, 2.039 TB/s): 111.85 us compute-bound.
  RooflineBound a = computeRoofline(c, *lookupGpu("a100-sxm"), ElementKind::BF16);
  EXPECT_NEAR(a.boundSeconds() * 1e6, 111.848, 1e-2);
}

TEST(CostModelBytes, PagedDecodeWithSplits) {
  // B = 2, Hq = 8, Hkv = 2, Lq = 1, Lk = 256, D = 128, bf16, causal,
  // pages of 16, key lengths and LSE; 4 splits of the decode kernel.
  AttentionSpec spec;
  spec.batch = 2, spec.numQueryHeads = 8, spec.numKVHeads = 2;
  spec.queryLength = 1, spec.keyLength = 256, spec.headDim = 128;
  spec.maskKind = MaskKind::CausalBottomRight;
  spec.pageSize = 16, spec.withLse = true, spec.keyLengths = {256, 100};
  AttentionFigures f = getAttentionFigures(spec);
  ScheduleConfig s;
  s.blockM = 1, s.blockN = 64, s.numSplits = 4, s.decodeKernel = true;
  FailureOr<AttentionCost> c = computeAttentionCost(f, s);
  ASSERT_TRUE(succeeded(c));
  const AttentionBytes &b = c->bytes;
  // Q: 2 x 8 x 1 x 128 x 2 = 4096; O the same.
  EXPECT_EQ(b.query, 4096);
  EXPECT_EQ(b.output, 4096);
  // K, V: 2 x 2 x 256 rows x 128 x 2 = 262144 each (static Lk bounds).
  EXPECT_EQ(b.key, 262144);
  EXPECT_EQ(b.value, 262144);
  // Block table [2, 16] i32 = 128; key lengths 2 x 4 = 8; LSE 16 x 4 = 64.
  EXPECT_EQ(b.blockTable, 128);
  EXPECT_EQ(b.keyLengths, 8);
  EXPECT_EQ(b.lse, 64);
  // Partials: 4 splits x 16 rows x (128 + 1) x 4 = 33024, counters 4 x 4.
  EXPECT_EQ(b.workspace, 33040);
  // Read: 4096 + 2 x 262144 + 128 + 8 + 33040 = 561560.
  EXPECT_EQ(b.read(), 561560);
  // Written: 4096 + 64 + 33040 = 37200.
  EXPECT_EQ(b.written(), 37200);
}

TEST(CostModelBytes, AppendedTokensAreReadFromTheNewTokens) {
  // B = 1, H = 1, Lq = 4, Lk = 64, D = 16, f32, causal; the last 4 keys
  // are appended (and stored back into the cache).
  AttentionSpec spec;
  spec.batch = 1, spec.numQueryHeads = spec.numKVHeads = 1;
  spec.queryLength = 4, spec.keyLength = 64, spec.headDim = 16;
  spec.elementType = ElementKind::F32, spec.withLse = false;
  spec.maskKind = MaskKind::CausalBottomRight;
  spec.keyLengths = {64}, spec.appendTokens = 4;
  FailureOr<AttentionCost> c =
      computeAttentionCost(getAttentionFigures(spec), ScheduleConfig());
  ASSERT_TRUE(succeeded(c));
  // Cache rows 60 x 16 x 4 = 3840 for K and for V; new tokens 4 rows of K
  // and V: 2 x 4 x 16 x 4 = 512 read and 512 written back; positions 4.
  EXPECT_EQ(c->bytes.key, 3840);
  EXPECT_EQ(c->bytes.appendTokensRead, 512);
  EXPECT_EQ(c->bytes.appendWritten, 512);
  EXPECT_EQ(c->bytes.appendPositions, 4);
}

class CostModelIRTest : public ::testing::Test {
protected:
  CostModelIRTest() {
    ctx.loadDialect<AttnDialect, arith::ArithDialect,
                    bufferization::BufferizationDialect, func::FuncDialect,
                    math::MathDialect, memref::MemRefDialect,
                    tensor::TensorDialect>();
  }
  AttentionOp firstAttention(ModuleOp module) {
    AttentionOp found;
    module.walk([&](AttentionOp op) { found = op; });
    return found;
  }
  MLIRContext ctx;
};

TEST_F(CostModelIRTest, OpAndSpecGiveTheSameFigures) {
  AttentionSpec paged;
  paged.batch = 2, paged.queryLength = 4, paged.keyLength = 64;
  paged.headDim = 64, paged.pageSize = 16, paged.withLse = true;
  paged.maskKind = MaskKind::SlidingWindow;
  paged.windowLeft = 8, paged.windowRight = 2, paged.keyLengths = {64, 9};
  AttentionSpec append;
  append.batch = 1, append.numQueryHeads = 4, append.numKVHeads = 2;
  append.queryLength = 2, append.keyLength = 32, append.headDim = 64;
  append.keyLengths = {32}, append.appendTokens = 2, append.withBias = true;
  for (const AttentionSpec &spec : {paged, append}) {
    OwningOpRef<ModuleOp> module = buildAttentionModule(&ctx, spec);
    ASSERT_TRUE(module);
    FailureOr<AttentionFigures> fromOp =
        getAttentionFigures(firstAttention(*module));
    ASSERT_TRUE(succeeded(fromOp));
    AttentionFigures fromSpec = getAttentionFigures(spec);
    EXPECT_EQ(fromOp->batch, fromSpec.batch);
    EXPECT_EQ(fromOp->headsQ, fromSpec.headsQ);
    EXPECT_EQ(fromOp->headsKV, fromSpec.headsKV);
    EXPECT_EQ(fromOp->keyLength, fromSpec.keyLength);
    EXPECT_EQ(fromOp->mask.kind, fromSpec.mask.kind);
    EXPECT_EQ(fromOp->mask.windowLeft, fromSpec.mask.windowLeft);
    EXPECT_EQ(fromOp->mask.windowRight, fromSpec.mask.windowRight);
    EXPECT_EQ(fromOp->kvSource, fromSpec.kvSource);
    EXPECT_EQ(fromOp->pageSize, fromSpec.pageSize);
    EXPECT_EQ(fromOp->blockTableBytes, fromSpec.blockTableBytes);
    EXPECT_EQ(fromOp->appendTokens, fromSpec.appendTokens);
    EXPECT_EQ(fromOp->appendWriteBack, fromSpec.appendWriteBack);
    EXPECT_EQ(fromOp->biasBytes, fromSpec.biasBytes);
    EXPECT_EQ(fromOp->withLse, fromSpec.withLse);
    EXPECT_EQ(fromOp->withKeyLengths, fromSpec.withKeyLengths);
    ScheduleConfig s;
    EXPECT_EQ(computeAttentionCost(*fromOp, s)->bytes.total(),
              computeAttentionCost(fromSpec, s)->bytes.total());
  }
}

TEST_F(CostModelIRTest, JsonReportParses) {
  AttentionSpec spec; // GQA 32/8 B=1 L=1024 D=128 bf16, no mask
  spec.maskKind = MaskKind::None;
  OwningOpRef<ModuleOp> module = buildAttentionModule(&ctx, spec);
  ASSERT_TRUE(module);
  CostReportOptions options;
  options.gpu = "h200";
  options.model = getModelPreset("llama-3-8b");
  options.modelBatch = 1, options.modelContext = 8192;
  FailureOr<CostReport> report = buildCostReport(*module, options);
  ASSERT_TRUE(succeeded(report));
  std::string text;
  llvm::raw_string_ostream os(text);
  os << costReportToJson(*report);
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(text);
  ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
  const llvm::json::Object *root = parsed->getAsObject();
  ASSERT_TRUE(root);
  EXPECT_EQ(root->getInteger("params_per_layer"), 218112000);
  EXPECT_EQ(root->getInteger("params_total"), 8030261248);
  // 2 x 1 x 8192 x 32 layers x 8 x 128 x 2 bytes = 1 GiB.
  EXPECT_EQ(root->getInteger("kv_cache_bytes"), 1073741824);
  EXPECT_TRUE(root->getNumber("forward_flops").has_value());
  const llvm::json::Array *ops = root->getArray("attention");
  ASSERT_TRUE(ops && ops->size() == 1);
  const llvm::json::Object *op = (*ops)[0].getAsObject();
  // Dense: 4 x 32 x 1024^2 x 128 = 17179869184 FLOP.
  EXPECT_EQ(op->getObject("gemm_flops")->getNumber("dense"), 17179869184.0);
  EXPECT_EQ(op->getObject("roofline")->getString("limiter"), "compute");
  EXPECT_EQ(op->getObject("tile_config")->getString("kernel"), "prefill");
}

TEST(CostModelGpus, TableAndLookup) {
  EXPECT_EQ(lookupGpu("H100")->name, "h100-sxm");
  EXPECT_EQ(lookupGpu("a100")->numSMs, 108);
  EXPECT_EQ(lookupGpu("b200")->hbmTBps, 7.7);
  EXPECT_EQ(lookupGpu("h200")->hbmTBps, 4.8);
  EXPECT_EQ(lookupGpu("v100"), nullptr);
  EXPECT_EQ(listKnownGpus(), "a100-sxm, h100-sxm, h200, b200");
  // f32 inputs use the TF32 rate.
  EXPECT_EQ(getPeakFlops(*lookupGpu("h100-sxm"), ElementKind::F32), 494.7e12);
}

TEST(ModelCost, Gpt2SmallByHand) {
  std::optional<TransformerConfig> gpt2 = getModelPreset("gpt2");
  ASSERT_TRUE(gpt2);
  TransformerCost t = computeTransformerCost(*gpt2, 1, 1024, 2);
  // 12 H^2 + 13 H, H = 768: 7077888 + 9984 = 7087872.
  EXPECT_EQ(t.paramsPerLayer, 12 * 768 * 768 + 13 * 768);
  EXPECT_EQ(t.paramsPerLayer, 7087872);
  // 12 x 7087872 + wte 50257 x 768 + wpe 1024 x 768 + ln_f 2 x 768
  // = 85054464 + 38597376 + 786432 + 1536 = 124439808 (tied LM head).
  EXPECT_EQ(t.paramsTotal, 124439808);
  // Per layer, B = 1, L = 1024: 24 L H^2 + 4 L^2 H = 14495514624 +
  // 3221225472 = 17716740096.
  EXPECT_EQ(t.forwardFlopsPerLayer, 17716740096.0);
  // Logits 2 L H V = 2 x 1024 x 768 x 50257 = 79047426048; total
  // 12 x 17716740096 + 79047426048 = 291648307200; training 3x that.
  EXPECT_EQ(t.logitsFlops, 79047426048.0);
  EXPECT_EQ(t.forwardFlops, 291648307200.0);
  EXPECT_EQ(t.trainingFlops, 874944921600.0);
  // Per token at L = 1024: 12 x (2 x 12 H^2 + 4 x 1024 x 768) + 2 H V
  // = 12 x 17301504 + 77194752 = 284812800.
  EXPECT_EQ(t.forwardFlopsPerToken, 284812800.0);
  // KV cache: 2 x 1 x 1024 x 12 x 12 x 64 x 2 = 37748736 (MHA: same).
  EXPECT_EQ(t.kvCacheBytes, 37748736);
  EXPECT_EQ(t.kvCacheBytesMHA, 37748736);
}

TEST(ModelCost, GqaSwiGluPresetsMatchPublishedCounts) {
  // Llama 3 8B per layer: Q, O 4096^2 each, K, V 4096 x 1024 each
  // (41943040), SwiGLU 3 x 4096 x 14336 (176160768), 2 RMSNorms (8192):
  // 218112000. Total: 32 x that + 2 x 128256 x 4096 (untied) + 4096
  // = 8030261248.
  TransformerCost l8 = computeTransformerCost(*getModelPreset("llama-3-8b"),
                                              1, 8192, 2);
  EXPECT_EQ(l8.paramsPerLayer, 218112000);
  EXPECT_EQ(l8.paramsTotal, 8030261248);
  // KV: 1 GiB in bf16; MHA (32 KV heads) 4x, 8-bit half.
  EXPECT_EQ(l8.kvCacheBytes, 1073741824);
  EXPECT_EQ(l8.kvCacheBytesMHA, 4 * 1073741824LL);
  EXPECT_EQ(l8.kvCacheBytes8Bit, 536870912);
  // Llama 3 70B: 2 x 8192^2 + 2 x 8192 x 1024 + 3 x 8192 x 28672 +
  // 16384 = 855654400; x 80 + 2 x 128256 x 8192 + 8192 = 70553706496.
  TransformerCost l70 = computeTransformerCost(
      *getModelPreset("llama-3-70b"), 1, 1, 2);
  EXPECT_EQ(l70.paramsPerLayer, 855654400);
  EXPECT_EQ(l70.paramsTotal, 70553706496);
  // Mistral 7B: Llama 3 8B's block with a 32000 vocabulary:
  // 32 x 218112000 + 2 x 32000 x 4096 + 4096 = 7241732096.
  EXPECT_EQ(computeTransformerCost(*getModelPreset("mistral-7b"), 1, 1, 2)
                .paramsTotal,
            7241732096);
  // Qwen2.5 7B: 2 x 3584^2 + 2 x 3584 x 512 + Q/K/V biases 3584 + 2 x 512
  // + 3 x 3584 x 18944 + 2 x 3584 = 233057792 per layer; x 28 +
  // 2 x 152064 x 3584 + 3584 = 7615616512.
  TransformerCost q = computeTransformerCost(*getModelPreset("qwen2.5-7b"),
                                             1, 1, 2);
  EXPECT_EQ(q.paramsPerLayer, 233057792);
  EXPECT_EQ(q.paramsTotal, 7615616512);
  EXPECT_FALSE(getModelPreset("deepseek-v3-mla"));
}

TEST(TileConfig, RegisterEstimate) {
  // 32 rows per warp, 64 keys, D = 128: O 32 x 128 / 32 = 128, S 64, Q in
  // shared memory (2 x 8 x 4 = 64 > 32), stats 8, overhead 32: 232.
  EXPECT_EQ(estimatePrefillRegisters(32, 64, 128, 128), 232);
  // 16 rows: O 64, S 32, Q 1 x 8 x 4 = 32 in registers, stats 4: 164.
  EXPECT_EQ(estimatePrefillRegisters(16, 64, 128, 128), 164);
}

TEST(TileConfig, WideHeadsMirrorTheKernel) {
  // D = 64, Dv = 128 on 32 rows: Q 2 x 4 x 4 = 32 registers, but with O's
  // 128 over the kernel's 96 for both, so Q stays in shared memory: O 128
  // + S 64 + stats 8 + overhead 32 = 232.
  EXPECT_EQ(estimatePrefillRegisters(32, 64, 64, 128), 232);
  // D = 96 (rows padded to 256 bytes) and MLA 192/128 prefill on H200:
  // shared memory as convert-attn-to-nvvm plans it, and no candidate of 32
  // rows per warp past D or Dv = 128 (the kernel caps them at 16).
  AttentionSpec spec;
  spec.batch = 4, spec.numQueryHeads = spec.numKVHeads = 16;
  spec.queryLength = spec.keyLength = 4096;
  spec.headDim = 96;
  for (const TileCandidate &t :
       chooseTileConfig(getAttentionFigures(spec), *lookupGpu("h200"))
           .candidates)
    if (t.blockM == 128 && t.blockN == 64)
      EXPECT_EQ(t.sharedMemoryBytes, (128 + 4 * 64) * 256);
  spec.headDim = 192, spec.valueHeadDim = 128;
  TileConfigChoice c =
      chooseTileConfig(getAttentionFigures(spec), *lookupGpu("h200"));
  EXPECT_EQ(c.chosen.blockM, 16 * c.chosen.numWarps);
  for (const TileCandidate &t : c.candidates) {
    if (t.blockM / t.numWarps == 32)
      EXPECT_FALSE(t.rejected.empty());
    else if (t.blockM == 64 && t.blockN == 64)
      // Q (O staged there) 64 x 384, K 2 x 64 x 384, V 2 x 64 x 256.
      EXPECT_EQ(t.sharedMemoryBytes, 106496);
  }
}

TEST(BackwardCost, PaddedTilesAndBothPrograms) {
  // B = 1, H = 1, Lq = Lk = 100, D = Dv = 64, bf16, no mask: 2 x 2 tiles of
  // 64 x 64 = 16384 executed (row, key) pairs, 10000 dense = visible.
  // GEMMs 2 (3 x 64 + 2 x 64) = 640 per pair: executed 10485760, dense
  // 6400000 = 2.5 x the forward's 256 x 10000 = 2560000.
  AttentionSpec spec;
  spec.numQueryHeads = spec.numKVHeads = 1;
  spec.queryLength = spec.keyLength = 100;
  spec.headDim = spec.valueHeadDim = 64;
  BackwardFigures figures;
  figures.attention = getAttentionFigures(spec);
  FailureOr<BackwardCost> c = computeBackwardCost(figures, {});
  ASSERT_TRUE(succeeded(c));
  EXPECT_EQ(c->tilesVisited, 4);
  EXPECT_EQ(c->executedGemmFlops, 10485760);
  EXPECT_EQ(c->denseGemmFlops, 6400000);
  EXPECT_EQ(c->visibleGemmFlops, 6400000);
  EXPECT_EQ(c->forwardDenseGemmFlops, 2560000);
  EXPECT_EQ(c->exponentials, 16384);
  EXPECT_EQ(c->dqReductions, 4 * 64 * 64);
  // Q = K = V = O = dO = dQ = dK = dV = 100 x 64 x 2 = 12800; LSE = Delta =
  // lse_log2 = 400; dq_accum 100 x 64 x 4 = 25600. preprocess: 26000 read,
  // 26400 written; main: 4 x 12800 + 800 = 52000 read, 2 x 12800 + 25600 =
  // 51200 written; convert: 25600 read, 12800 written.
  ASSERT_EQ(c->kernels.size(), 3u);
  EXPECT_EQ(c->kernels[0].bytesRead, 26000);
  EXPECT_EQ(c->kernels[0].bytesWritten, 26400);
  EXPECT_EQ(c->kernels[1].bytesRead, 52000);
  EXPECT_EQ(c->kernels[1].bytesWritten, 51200);
  EXPECT_EQ(c->kernels[2].kernel, "convert");
  EXPECT_EQ(c->bytesRead(), 103600);
  EXPECT_EQ(c->bytesWritten(), 90400);
  // Deterministic: main 2 (2 x 64 + 2 x 64) = 512 and dq 2 (2 x 64 + 64) =
  // 384 per pair: 14680064 executed, two exps per pair; no dq_accum:
  // preprocess writes 800, main 25600, dq reads 52000 and writes dQ 12800.
  BackwardSchedule deterministic;
  deterministic.deterministic = true;
  FailureOr<BackwardCost> d = computeBackwardCost(figures, deterministic);
  ASSERT_TRUE(succeeded(d));
  EXPECT_EQ(d->executedGemmFlops, 14680064);
  EXPECT_EQ(d->denseGemmFlops, 6400000);
  EXPECT_EQ(d->exponentials, 2 * 16384);
  EXPECT_EQ(d->dqReductions, 0);
  ASSERT_EQ(d->kernels.size(), 3u);
  EXPECT_EQ(d->kernels[2].kernel, "dq");
  EXPECT_EQ(d->kernels[2].bytesRead, 52000);
  EXPECT_EQ(d->kernels[2].bytesWritten, 12800);
  EXPECT_EQ(d->bytesRead(), 26000 + 52000 + 52000);
  EXPECT_EQ(d->bytesWritten(), 800 + 25600 + 12800);
}

TEST(TileConfig, DecodeSplitsFromBandwidthAndStreamingRate) {
  // B = 1, Hq = 32, Hkv = 8, Lq = 1, Lk = 8192, D = 128 bf16: 8 groups;
  // 135168 B of shared memory -> 1 CTA/SM, 132 slots; at most 8192 / (2 x
  // 128) = 32 splits: the candidates 1, 2, 3, 4, 6, 8, 12, 16, 24, 32. One
  // CTA keeps 8 warps x 2 stages x 16 keys x 512 B = 131072 B in flight per
  // 1.5 us: 87.38 GB/s. On the H200 (4.8 TB/s), 8 splits: 64 CTAs of 1024
  // keys (524288 B): max(64 x 524288 / 4.8e12 = 6.990 us, 524288 / 87.38e9
  // = 6.000 us) + 1 us + merge 1 us + 2 x 64 x 4 x 129 x 4 / 4.8e12 =
  // 0.055 us: 9.046 us. 16 splits: 6.990 + 1 + 1 + 0.110 = 9.100 us, not
  // 2% less: 8 splits, the measured best of the session-5 sweep (17.76 us
  // against 17.82 for 16, bench/results). 4 splits: 1 MiB alone takes
  // 12.0 us: 12 + 1 + 1 + 2 x 32 x 4 x 129 x 4 / 4.8e12 = 14.028 us.
  AttentionSpec spec;
  spec.queryLength = 1, spec.keyLength = 8192;
  TileConfigChoice c =
      chooseTileConfig(getAttentionFigures(spec), *lookupGpu("h200"));
  EXPECT_TRUE(c.decode);
  EXPECT_EQ(c.chosen.numSplits, 8);
  EXPECT_EQ(c.chosen.ctasPerSM, 1);
  EXPECT_EQ(c.chosen.waves, 1);
  EXPECT_EQ(c.candidates.size(), 10u);
  EXPECT_NEAR(c.chosen.seconds * 1e6, 9.046, 1e-3);
  ASSERT_NE(getRunnerUp(c), nullptr);
  EXPECT_EQ(getRunnerUp(c)->numSplits, 16);
  EXPECT_NEAR(getRunnerUp(c)->seconds * 1e6, 9.100, 1e-3);
  EXPECT_NEAR(c.candidates[3].seconds * 1e6, 14.028, 1e-3); // 4 splits
  EXPECT_NE(c.reason.find("8 split(s) -> 64 CTAs (1 wave(s))"),
            std::string::npos)
      << c.reason;
  // Paged (page 16): each page's loads wait on its block-table entry, 2.0
  // us per ring: 65.5 GB/s. 8 splits' 524288 B now take 8.000 us alone,
  // above the 6.990 us wave: 8 + 1 + 1.055 = 10.055 us; 16 splits stay at
  // 9.100 us: 16 splits, again the sweep's best (18.07 us; 8: 18.94).
  spec.pageSize = 16;
  TileConfigChoice paged =
      chooseTileConfig(getAttentionFigures(spec), *lookupGpu("h200"));
  EXPECT_EQ(paged.chosen.numSplits, 16);
  EXPECT_NEAR(paged.candidates[5].seconds * 1e6, 10.055, 1e-3); // 8 splits
  // B = 64: 512 groups already fill 132 slots: one split.
  spec.pageSize = 0;
  spec.batch = 64;
  EXPECT_EQ(chooseTileConfig(getAttentionFigures(spec), *lookupGpu("h100"))
                .chosen.numSplits,
            1);
}

TEST(TileConfig, PrefillRespectsTheTarget) {
  // The bench shape B = 16, H = 16, L = 1024, D = 128 causal bf16.
  AttentionSpec spec;
  spec.batch = 16, spec.numQueryHeads = spec.numKVHeads = 16;
  spec.maskKind = MaskKind::CausalBottomRight;
  for (const GpuSpec &gpu : getKnownGpus()) {
    TileConfigChoice c = chooseTileConfig(getAttentionFigures(spec), gpu);
    EXPECT_FALSE(c.decode);
    EXPECT_LE(c.chosen.sharedMemoryBytes, gpu.sharedMemoryPerBlock);
    EXPECT_LE(c.chosen.registersPerThread, 255);
    EXPECT_EQ(c.chosen.blockM % (16 * c.chosen.numWarps), 0);
    // 128 x 128 tiles with 32 rows per warp: 128 + 128 + 8 + 32 = 296
    // registers: rejected everywhere.
    for (const TileCandidate &t : c.candidates)
      if (t.blockM / t.numWarps == 32 && t.blockN == 128)
        EXPECT_FALSE(t.rejected.empty());
    EXPECT_NE(c.reason.find(gpu.name.str()), std::string::npos);
  }
}

TEST(TileConfig, PrefillPicksTheMeasuredBestOnTheBenchShapes) {
  // bench/results/2026-11-26-h200.json swept m128w4n64, m128w4n32,
  // m64w4n64 and m256w8n64 over 14 prefill shapes; m128w4n64 was fastest
  // on every one. The model ranks it first on all of them too.
  struct Shape {
    int64_t b, hq, hkv, l, d;
    bool causal;
  };
  const Shape shapes[] = {
      {16, 16, 16, 1024, 128, true}, {16, 16, 16, 1024, 128, false},
      {1, 16, 16, 16384, 128, true}, {1, 16, 16, 16384, 128, false},
      {4, 16, 16, 4096, 128, true},  {4, 16, 16, 4096, 128, false},
      {16, 32, 32, 1024, 64, true},  {16, 32, 32, 1024, 64, false},
      {1, 32, 32, 16384, 64, true},  {1, 32, 32, 16384, 64, false},
      {4, 32, 32, 4096, 64, true},   {4, 32, 32, 4096, 64, false},
      {4, 32, 8, 4096, 128, true},   {4, 32, 8, 4096, 128, false}};
  for (const Shape &s : shapes) {
    AttentionSpec spec;
    spec.batch = s.b, spec.numQueryHeads = s.hq, spec.numKVHeads = s.hkv;
    spec.queryLength = spec.keyLength = s.l, spec.headDim = s.d;
    spec.maskKind = s.causal ? MaskKind::CausalBottomRight : MaskKind::None;
    TileConfigChoice c =
        chooseTileConfig(getAttentionFigures(spec), *lookupGpu("h200"));
    EXPECT_EQ(c.chosen.blockM, 128) << spec.describe();
    EXPECT_EQ(c.chosen.blockN, 64) << spec.describe();
    EXPECT_EQ(c.chosen.numWarps, 4) << spec.describe();
  }
}

} // namespace
