//===- TileConfigTest.cpp - the tile model against the kernels' plans -----===//
//
// Part of attn-mlir. The tile model (lib/Analysis/TileConfig.cpp) sizes its
// candidates with the kernel families' own shared-memory functions
// (attn/Analysis/KernelResources.h); these tests plan every candidate with
// attn-plan-gpu-kernels and check that the kernel records the same tiles
// and shared memory, and that what the model rejects for shared memory the
// kernel refuses. Then the manifest's cost figures (Manifest::cost) from
// compileToPtx against hand-computed numbers, read back through the
// runtime's parser.
//
//===----------------------------------------------------------------------===//

#include "attn/Analysis/CostModel.h"
#include "attn/Analysis/KernelResources.h"
#include "attn/Analysis/TileConfig.h"
#include "attn/Conversion/Passes.h"
#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/InitAll.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Spec/AttentionSpec.h"
#include "attn/Target/PtxCompiler.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <gtest/gtest.h>

#include <map>

using namespace mlir;
using namespace mlir::attn;
namespace rt = ::attn::runtime;

namespace {

class TileModelTest : public ::testing::Test {
protected:
  TileModelTest() {
    DialectRegistry registry;
    registerRequiredDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }

  /// The kernel info attn-plan-gpu-kernels records for `spec` under
  /// `options`, or null where the kernel refuses it.
  KernelInfoAttr plan(const AttentionSpec &spec,
                      const ConvertAttnToNVVMOptions &options) {
    ScopedDiagnosticHandler quiet(&ctx, [](Diagnostic &) { return success(); });
    OwningOpRef<ModuleOp> module = buildAttentionModule(&ctx, spec);
    if (!module)
      return {};
    PassManager pm(&ctx);
    // The candidate's own tiles, not the model's choice among them.
    ConvertAttnToNVVMOptions fixed = options;
    fixed.tileModel = "";
    pm.addPass(createAttnPlanGpuKernels(fixed));
    if (failed(pm.run(*module)))
      return {};
    KernelInfoAttr info;
    module->walk([&](AttentionOp op) {
      info = op->getAttrOfType<KernelInfoAttr>(
          KernelInfoAttr::getAttributeName());
    });
    return info;
  }

  MLIRContext ctx;
};

AttentionSpec prefillSpec(int64_t d, int64_t dv) {
  AttentionSpec spec;
  spec.batch = 2, spec.numQueryHeads = spec.numKVHeads = 4;
  spec.queryLength = spec.keyLength = 512;
  spec.headDim = d, spec.valueHeadDim = dv;
  spec.maskKind = MaskKind::CausalBottomRight;
  return spec;
}

TEST_F(TileModelTest, PrefillCandidatesAreTheKernelsPlans) {
  // Every head-dim regime of the prefill kernel: Q in registers or not,
  // padded rows (D = 96), 16 rows per warp past 128 (D = 192, 256), Dv != D.
  const int64_t dims[][2] = {{64, 64},   {96, 96},   {128, 128},
                             {192, 128}, {256, 256}, {64, 128}};
  for (auto [d, dv] : dims) {
    AttentionSpec spec = prefillSpec(d, dv);
    TileConfigChoice choice =
        chooseTileConfig(getAttentionFigures(spec), *lookupGpu("h200"));
    ASSERT_FALSE(choice.decode);
    for (const TileCandidate &c : choice.candidates) {
      ConvertAttnToNVVMOptions o;
      o.kernel = "prefill";
      o.blockM = c.blockM, o.blockN = c.blockN, o.numWarps = c.numWarps;
      KernelInfoAttr info = plan(spec, o);
      std::string what = spec.describe() + " " + std::to_string(c.blockM) +
                         "x" + std::to_string(c.blockN) + " w" +
                         std::to_string(c.numWarps);
      if (c.rejected.find("shared memory") != std::string::npos) {
        EXPECT_FALSE(info) << what << ": the kernel accepts what the model "
                           << "rejects: " << c.rejected;
        continue;
      }
      // Register rejections (spills) and the 16-row cap are the model's
      // own; the kernel plans them (capped), so only accepted ones match.
      if (!c.rejected.empty())
        continue;
      ASSERT_TRUE(info) << what;
      EXPECT_EQ(info.getSharedMemoryBytes(), c.sharedMemoryBytes) << what;
      EXPECT_EQ(info.getBlockM(), c.blockM) << what;
      EXPECT_EQ(info.getBlockN(), c.blockN) << what;
      EXPECT_EQ(info.getNumWarps(), c.numWarps) << what;
    }
  }
}

TEST_F(TileModelTest, DecodeCandidatesAreTheKernelsPlans) {
  // D = 128 (8 warps), D = 256 (rings over 227 KiB at 8 warps: 4), MLA.
  const int64_t dims[][2] = {{128, 128}, {256, 256}, {192, 128}};
  for (auto [d, dv] : dims) {
    AttentionSpec spec;
    spec.batch = 2, spec.numQueryHeads = 8, spec.numKVHeads = 2;
    spec.queryLength = 1, spec.keyLength = 4096;
    spec.headDim = d, spec.valueHeadDim = dv;
    TileConfigChoice choice =
        chooseTileConfig(getAttentionFigures(spec), *lookupGpu("h100"));
    ASSERT_TRUE(choice.decode);
    ASSERT_FALSE(choice.candidates.empty());
    for (const TileCandidate &c : choice.candidates) {
      ConvertAttnToNVVMOptions o;
      o.kernel = "decode";
      o.numSplits = c.numSplits;
      KernelInfoAttr info = plan(spec, o);
      std::string what =
          spec.describe() + " splits " + std::to_string(c.numSplits);
      ASSERT_TRUE(info) << what;
      // The kernel's own warp fallback (8 -> 4 at D = 256) is the model's.
      EXPECT_EQ(info.getNumWarps(), c.numWarps) << what;
      EXPECT_EQ(info.getSharedMemoryBytes(), c.sharedMemoryBytes) << what;
      EXPECT_EQ(info.getNumSplits(), c.numSplits) << what;
      EXPECT_EQ(info.getKeysPerWarp(), c.blockN) << what;
    }
  }
}

TEST_F(TileModelTest, HopperCandidatesAreTheKernelsPlans) {
  for (int64_t d : {64, 128}) {
    AttentionSpec spec = prefillSpec(d, d);
    TileConfigChoice choice =
        chooseHopperTileConfig(getAttentionFigures(spec), *lookupGpu("h200"));
    ASSERT_TRUE(choice.hopper);
    EXPECT_EQ(choice.candidates.size(), 6u);
    for (const TileCandidate &c : choice.candidates) {
      ConvertAttnToNVVMOptions o;
      o.chip = "sm_90a";
      o.kernel = "hopper";
      o.hopperBlockN = c.blockN, o.hopperStages = c.stages;
      // The model's grid: one CTA per tile (a persistent grid adds its
      // barriers and tile slots, docs/Pipeline.md "Hopper tile scheduler").
      o.hopperPersistent = 0;
      KernelInfoAttr info = plan(spec, o);
      std::string what = spec.describe() + " n" + std::to_string(c.blockN) +
                         " s" + std::to_string(c.stages);
      if (!c.rejected.empty()) {
        EXPECT_NE(c.rejected.find("shared memory"), std::string::npos);
        EXPECT_FALSE(info) << what << ": the kernel accepts what the model "
                           << "rejects: " << c.rejected;
        continue;
      }
      ASSERT_TRUE(info) << what;
      EXPECT_EQ(info.getSharedMemoryBytes(), c.sharedMemoryBytes) << what;
      EXPECT_EQ(info.getBlockN(), c.blockN) << what;
      EXPECT_EQ(info.getStages(), c.stages) << what;
    }
  }
  // D = 128, block-n 128, 4 stages: 1024 alignment + 4 x 2 x 128 x 128 x 2
  // (K, V) + 128 x 128 x 2 (Q in shared memory) + 8 x (4 x 4 + 1) barriers
  // = 1024 + 262144 + 32768 + 136 = 296072 B > 227 KiB: the kernel refuses
  // it, and the model rejects it (the only hopper candidate over).
  EXPECT_EQ(getHopperSharedMemoryBytes(128, 128, 128, 4), 296072);
  AttentionSpec spec = prefillSpec(128, 128);
  int64_t rejected = 0;
  for (const TileCandidate &c :
       chooseHopperTileConfig(getAttentionFigures(spec), *lookupGpu("h200"))
           .candidates)
    rejected += !c.rejected.empty();
  EXPECT_EQ(rejected, 1);
}

TEST_F(TileModelTest, HopperModelKeepsTheMeasuredDefault) {
  // bench/NOTES.md (H200, 2026-12-01): block-n 128 beat 64 by 7-9% at
  // D = 128 and stages 2-4 were within noise. Per KV tile on one SM at
  // D = 128, block-n 128: 2 x 128 x 128 x 256 FLOPs / (989.4 TFLOP/s / 132)
  // = 1.119 us of GEMM against 16384 exp2 / (3.9 T/s / 132) = 0.555 us, so
  // the tile costs 1.119 us + 256 cycles / 1.83 GHz = 1.259 us; block-n 64
  // pays the 0.140 us twice per 128 keys: 2.518 vs 2.798 us per 128 keys.
  for (int64_t d : {64, 128}) {
    AttentionSpec spec = prefillSpec(d, d);
    spec.batch = 4, spec.queryLength = spec.keyLength = 4096;
    TileConfigChoice c =
        chooseHopperTileConfig(getAttentionFigures(spec), *lookupGpu("h200"));
    EXPECT_EQ(c.chosen.blockN, 128) << c.reason;
    EXPECT_EQ(c.chosen.stages, 2) << c.reason;
    EXPECT_NE(c.reason.find("hopper on h200: block-n 128, 2 stages"),
              std::string::npos)
        << c.reason;
  }
  // Consumer registers: D = 128, block-n 128 (Q in shared memory): S 64 +
  // O 64 + P 32 + 32 = 192; D = 64, block-n 128: 64 + 32 + 32 + Q 16 + 32
  // = 176.
  EXPECT_EQ(estimateHopperConsumerRegisters(128, 128, 128), 192);
  EXPECT_EQ(estimateHopperConsumerRegisters(128, 64, 64), 176);
}

/// The backward's planned kernels (attn-plan-gpu-backward with the given
/// tiles, tile model off, through the tiled program to
/// convert-attn-backward-to-nvvm): kernel name suffix -> kernel info.
static std::map<std::string, KernelInfoAttr>
planBackward(MLIRContext &ctx, const AttentionSpec &spec,
             AttnPlanGpuBackwardOptions options) {
  ScopedDiagnosticHandler quiet(&ctx, [](Diagnostic &) { return success(); });
  std::map<std::string, KernelInfoAttr> out;
  OwningOpRef<ModuleOp> module = buildAttentionModule(&ctx, spec);
  if (!module)
    return out;
  options.tileModel = "";
  PassManager pm(&ctx);
  buildAttnGpuBackwardPasses(pm, options, "attn_kernels");
  if (failed(pm.run(*module)))
    return out;
  module->walk([&](gpu::GPUFuncOp f) {
    StringRef name = f.getName();
    out[name.substr(name.find("_bwd")).str()] =
        f->getAttrOfType<KernelInfoAttr>(KernelInfoAttr::getAttributeName());
  });
  return out;
}

TEST_F(TileModelTest, BackwardCandidatesAreTheKernelsPlans) {
  // Every candidate the backward model sizes is the kernel's own plan:
  // shared memory, tiles and warps of the main kernel (and the dQ kernel's
  // for the deterministic program).
  // Both programs, square warp tiles on and off (square-warp-tiles), the
  // head dims of every rule: padded rows (80, 96), chunk counts that are no
  // power of two, Dv != D and the 32-query steps of MLA's 192 / 128.
  const int64_t headDims[][2] = {{64, 64}, {128, 128}, {32, 32}, {80, 80},
                                 {96, 96},  {192, 128}, {128, 64}};
  for (auto [d, dv] : headDims)
    for (int mode = 0; mode < 4; ++mode) {
      bool deterministic = mode & 1;
      // Square warp tiles are D = Dv = 64, 128 only (the plan drops them
      // elsewhere, and so must the model it consults).
      bool square = (mode & 2) && d == dv && (d == 64 || d == 128);
      AttentionSpec spec = prefillSpec(d, dv);
      spec.backward = true;
      spec.withLse = true;
      BackwardTileChoice choice = chooseBackwardTileConfig(
          getAttentionFigures(spec), *lookupGpu("h200"), deterministic, 2,
          square);
      // The main-kernel candidates first (three, and 32 x 64 where the
      // register rule asks for it), then the dQ kernel's.
      size_t numMain = getBackwardBlockMLimit(d, dv) == 32 ? 4 : 3;
      for (size_t i = 0; i < choice.candidates.size(); ++i) {
        const TileCandidate &c = choice.candidates[i];
        bool dq = i >= numMain;
        AttnPlanGpuBackwardOptions o;
        o.deterministic = deterministic;
        o.squareWarpTiles = square;
        if (dq)
          o.dqBlockM = c.blockM, o.blockM = o.blockN = 64;
        else
          o.blockM = c.blockM, o.blockN = c.blockN, o.dqBlockM = 64;
        std::map<std::string, KernelInfoAttr> infos =
            planBackward(ctx, spec, o);
        std::string what = spec.describe() + (square ? " square" : "") +
                           (dq ? " dq " : " main ") + std::to_string(c.blockM) +
                           "x" + std::to_string(c.blockN);
        if (c.rejected.find("block-m > block-n") != std::string::npos ||
            c.rejected.find("dQ column parts") != std::string::npos) {
          EXPECT_TRUE(infos.empty()) << what;
          continue;
        }
        KernelInfoAttr info = infos[dq ? "_bwd_dq" : "_bwd"];
        ASSERT_TRUE(info) << what;
        EXPECT_EQ(info.getSharedMemoryBytes(), c.sharedMemoryBytes) << what;
        EXPECT_EQ(info.getBlockM(), c.blockM) << what;
        EXPECT_EQ(info.getBlockN(), c.blockN) << what;
        EXPECT_EQ(info.getNumWarps(), c.numWarps) << what;
      }
    }
}

TEST_F(TileModelTest, BackwardModelKeepsTheMeasuredChoices) {
  // bench/NOTES.md session 6 (H200): the atomic program with 128-key CTAs
  // of 8 warps was 1.05-1.16x faster than 64 keys on 4 warps on every
  // benchmark shape; the deterministic program at D = 128 was faster with
  // the 4-warp 64 x 64 main kernel and 64-row dQ CTAs. At D = 128 a
  // 128-row Q block needs ~304 registers (D + 128 + 48): rejected.
  for (int64_t d : {64, 128}) {
    AttentionSpec spec = prefillSpec(d, d);
    spec.numQueryHeads = spec.numKVHeads = 2048 / d;
    spec.batch = 4, spec.queryLength = spec.keyLength = 4096;
    AttentionFigures f = getAttentionFigures(spec);
    BackwardTileChoice atomic =
        chooseBackwardTileConfig(f, *lookupGpu("h200"), false, 2);
    EXPECT_EQ(atomic.blockN, 128) << atomic.reason;
    EXPECT_EQ(atomic.blockM, d == 64 ? 128 : 64) << atomic.reason;
    EXPECT_EQ(atomic.candidates[2].rejected.empty(), d == 64)
        << atomic.candidates[2].rejected;
    if (d == 128) {
      BackwardTileChoice det =
          chooseBackwardTileConfig(f, *lookupGpu("h200"), true, 2);
      EXPECT_EQ(det.blockN, 64) << det.reason;
      EXPECT_EQ(det.dqBlockM, 64) << det.reason;
    }
  }
}

TEST_F(TileModelTest, BackwardRegisterRuleByHeadDims) {
  // ~(D + Dv) / 2 + block-m + 48 registers (estimateBackwardMainRegisters)
  // within 255: 64-row steps to D + Dv = 286, 32-row ones to 350, then
  // none (attn-plan-gpu-backward refuses the op).
  EXPECT_EQ(getBackwardBlockMLimit(128, 128), 64);
  EXPECT_EQ(getBackwardBlockMLimit(96, 96), 64);
  EXPECT_EQ(getBackwardBlockMLimit(144, 128), 64);
  EXPECT_EQ(getBackwardBlockMLimit(144, 144), 32);
  EXPECT_EQ(getBackwardBlockMLimit(192, 128), 32);
  EXPECT_EQ(getBackwardBlockMLimit(160, 160), 32);
  EXPECT_EQ(getBackwardBlockMLimit(176, 176), 0);
  EXPECT_EQ(getBackwardBlockMLimit(192, 192), 0);
  EXPECT_EQ(getBackwardBlockMLimit(256, 256), 0);
  // MLA prefill on the H200: only the 32 x 64 candidate fits.
  AttentionSpec mla = prefillSpec(192, 128);
  mla.numQueryHeads = mla.numKVHeads = 16;
  mla.batch = 4, mla.queryLength = mla.keyLength = 4096;
  BackwardTileChoice c =
      chooseBackwardTileConfig(getAttentionFigures(mla), *lookupGpu("h200"),
                               false, 4);
  EXPECT_EQ(c.blockM, 32) << c.reason;
  EXPECT_EQ(c.blockN, 64) << c.reason;
  // D = 80: 5 k16 pairs of dQ do not split over the 2 column parts of
  // 64 x 128; 128 x 128 has one per warp.
  AttentionSpec d80 = prefillSpec(80, 80);
  BackwardTileChoice c80 =
      chooseBackwardTileConfig(getAttentionFigures(d80), *lookupGpu("h200"),
                               false, 4);
  EXPECT_NE(c80.candidates[1].rejected.find("dQ column parts"),
            std::string::npos)
      << c80.candidates[1].rejected;
  EXPECT_TRUE(c80.candidates[0].rejected.empty());
}

//===----------------------------------------------------------------------===//
// The manifest's cost figures
//===----------------------------------------------------------------------===//

class ManifestCostTest : public TileModelTest {
protected:
  rt::Manifest compile(const AttentionSpec &spec, StringRef chip,
                       StringRef gpu) {
    OwningOpRef<ModuleOp> module = buildAttentionModule(&ctx, spec);
    EXPECT_TRUE(module);
    PtxCompileOptions options;
    options.chip = chip.str();
    options.features = "+ptx80";
    options.cubinArchs.clear();
    options.costGpu = gpu.str();
    // The figures below are worked out for the options' fixed tiles.
    options.lowering.tileModel = "";
    llvm::Expected<PtxArtifacts> artifacts = compileToPtx(*module, options);
    if (!artifacts) {
      ADD_FAILURE() << llvm::toString(artifacts.takeError());
      return {};
    }
    // The JSON the runtime reads carries the same figures.
    rt::Manifest reread;
    rt::Status s = rt::parseManifest(artifacts->manifest.toJson(), reread);
    EXPECT_TRUE(s.ok) << s.message;
    EXPECT_TRUE(reread.cost.has_value());
    EXPECT_EQ(reread.cost, artifacts->manifest.cost);
    return artifacts->manifest;
  }
};

AttentionSpec smallCausal() {
  AttentionSpec spec;
  spec.batch = 1, spec.numQueryHeads = spec.numKVHeads = 2;
  spec.queryLength = spec.keyLength = 256;
  spec.headDim = 64;
  spec.maskKind = MaskKind::CausalBottomRight;
  spec.withLse = false;
  return spec;
}

TEST_F(ManifestCostTest, PrefillOnTheH200) {
  // B = 1, H = 2, L = 256, D = 64 causal bf16 on the prefill kernel's
  // 128 x 64 tiles (one head per CTA): query block 0 (rows 0-127) visits
  // keys [0, 128) = 2 KV tiles, block 1 (rows 128-255) keys [0, 256) = 4:
  // 6 per head, 12 in all.
  rt::Manifest m = compile(smallCausal(), "sm_90", "h200");
  ASSERT_TRUE(m.cost);
  const rt::KernelCost &c = *m.cost;
  EXPECT_EQ(m.family, "prefill");
  EXPECT_EQ(c.gpu, "h200");
  // 12 tiles x 128 x 64 scores x 2 (64 + 64) = 25165824.
  EXPECT_EQ(c.gemmFlops, 25165824);
  // 2 (64 + 64) x 2 heads x 256 x 256 = 33554432 (= 4 B H L^2 D).
  EXPECT_EQ(c.denseGemmFlops, 33554432);
  // 256 x 2 x (256 x 257 / 2) = 16842752.
  EXPECT_EQ(c.visibleGemmFlops, 16842752);
  // 12 x 8192 scores + 12 x 128 rescale factors = 99840.
  EXPECT_EQ(c.exponentials, 99840);
  // 98304 x 4 + 1536 x (64 + 1) + 512 rows x 64 = 525824.
  EXPECT_EQ(c.softmaxFlops, 525824);
  // Q, K, V 2 x 256 x 64 x 2 = 65536 each read, O 65536 written.
  EXPECT_EQ(c.bytesRead, 196608);
  EXPECT_EQ(c.bytesWritten, 65536);
  EXPECT_DOUBLE_EQ(c.arithmeticIntensity, 96.0);
  // 262144 B / 4.8 TB/s = 0.054613 us > exp 99840 / 3.9 T/s = 0.025600 us
  // > compute 25165824 / 989.4 TFLOP/s = 0.025435 us.
  EXPECT_EQ(c.limiter, "memory");
  EXPECT_NEAR(c.boundUs, 262144 / 4.8e6, 1e-12);
  EXPECT_NEAR(c.memoryUs, 262144 / 4.8e6, 1e-12);
  EXPECT_NEAR(c.computeUs, 25165824 / 989.4e6, 1e-12);
  EXPECT_NEAR(c.expUs, 99840 / 3.9e6, 1e-12);
}

TEST_F(ManifestCostTest, HopperAndTheChipsGpu) {
  // The same problem on the hopper kernel (128 x 128 tiles): block 0 visits
  // 1 tile, block 1 2: 6 in all; GEMM 6 x 16384 x 256 = 25165824 (the same
  // area), exponentials 6 x 16384 + 6 x 128 = 99072. No GPU named: sm_90a
  // stands for the H100 SXM (memory 262144 / 3.35 TB/s = 0.078251 us).
  rt::Manifest m = compile(smallCausal(), "sm_90a", "");
  ASSERT_TRUE(m.cost);
  EXPECT_EQ(m.family, "hopper");
  EXPECT_EQ(m.cost->gpu, "h100-sxm");
  EXPECT_EQ(m.cost->gemmFlops, 25165824);
  EXPECT_EQ(m.cost->exponentials, 99072);
  EXPECT_NEAR(m.cost->boundUs, 262144 / 3.35e6, 1e-12);
}

TEST_F(ManifestCostTest, DecodeCountsThePaddedTileAndTheWorkspaces) {
  // B = 1, Hq = 32, Hkv = 8, Lq = 1, Lk = 8192, D = 128 on the decode
  // kernel: 16 splits (chooseNumSplits: 8 groups x 16 = 128 CTAs of 132
  // slots). Its m16 tile holds the group's 4 rows padded to 16: 8 groups x
  // 512 KV steps of 16 keys x 16 rows x 16 keys x 2 (128 + 128) =
  // 536870912 executed GEMM FLOPs, 4x the dense 4 x 32 x 8192 x 128 =
  // 134217728.
  AttentionSpec spec;
  spec.numQueryHeads = 32, spec.numKVHeads = 8;
  spec.queryLength = 1, spec.keyLength = 8192;
  spec.withLse = false;
  rt::Manifest m = compile(spec, "sm_90", "h100-sxm");
  ASSERT_TRUE(m.cost);
  EXPECT_EQ(m.family, "decode");
  EXPECT_EQ(m.tuning.numSplits, 16);
  EXPECT_EQ(m.cost->gemmFlops, 536870912);
  EXPECT_EQ(m.cost->denseGemmFlops, 134217728);
  // Read: Q 32 x 128 x 2 = 8192, K and V 8 x 8192 x 128 x 2 = 16777216
  // each, the f32 partials 16 x 32 x (128 + 1) x 4 = 264192 plus 8 i32
  // counters = 264224; written: O 8192 + the same 264224.
  EXPECT_EQ(m.cost->bytesRead, 8192 + 2 * 16777216 + 264224);
  EXPECT_EQ(m.cost->bytesWritten, 8192 + 264224);
  EXPECT_EQ(m.cost->limiter, "memory");
}

} // namespace
