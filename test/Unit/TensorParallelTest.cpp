//===- TensorParallelTest.cpp - head-sharded attention equals unsharded ---===//
//
// Part of attn-mlir. Tensor parallelism shards attention by heads: each
// shard runs attn.attention on its own query heads (and the key/value heads
// they use) with `head_offset`/`num_heads_total`, and the outputs are
// concatenated along the head axis. With ALiBi and a head-dependent
// score_mod, the shards compute the unsharded function only if both see the
// global head. GQA 8/2 is split into 2 shards (4 query heads, 1 KV head
// each) and 4 shards (2 query heads each, the KV head replicated on two
// shards), through the real CPU pipeline (JIT) and its tiled variants.
//
// The comparison is bit-exact: for a row (b, h, i) a shard executes the same
// f32 operations in the same order as the unsharded op (the same dot
// products over D, the same slope constant, the same score_mod arithmetic on
// the same global head, the same key order in the row reductions and P.V);
// only the head loop's extent and start differ, and heads never interact.
// Tiling keeps that true: a row's KV blocks are the same for every head
// group, so the online-softmax state evolves identically. Any difference
// means a shard computed a different function. The unsharded output itself
// is checked against the float64 Reference with the derived tolerance.
//
//===----------------------------------------------------------------------===//

#include "attn/Execution/CpuRunner.h"
#include "attn/Reference/Reference.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// GQA 8/2 with ALiBi over the 8 global heads, a head-dependent score_mod
/// and a bottom-right causal mask; lengths that no tile size divides.
AttentionSpec unshardedSpec() {
  AttentionSpec spec;
  spec.batch = 2;
  spec.numQueryHeads = 8;
  spec.numKVHeads = 2;
  spec.queryLength = 13;
  spec.keyLength = 21;
  spec.headDim = 16;
  spec.elementType = ElementKind::BF16;
  spec.maskKind = MaskKind::CausalBottomRight;
  spec.scoreMod = ScoreModKind::HeadRelativeBias;
  spec.withLse = true;
  for (int64_t h = 0; h < 8; ++h)
    spec.alibiSlopes.push_back(std::exp2(-8.0 * (h + 1) / 8.0));
  return spec;
}

/// Shard `s` of `numShards`: query heads [s * Hq / n, (s + 1) * Hq / n) and
/// the KV heads they read (one replicated head when n > Hkv).
AttentionSpec shardSpec(const AttentionSpec &full, int64_t s,
                        int64_t numShards) {
  AttentionSpec spec = full;
  spec.numQueryHeads = full.numQueryHeads / numShards;
  spec.numKVHeads = std::max<int64_t>(1, full.numKVHeads / numShards);
  spec.headOffset = s * spec.numQueryHeads;
  spec.numHeadsTotal = full.numQueryHeads;
  return spec;
}

/// First global KV head a shard reads.
int64_t shardKVHead0(const AttentionSpec &full, const AttentionSpec &shard) {
  return shard.headOffset / (full.numQueryHeads / full.numKVHeads);
}

/// Heads [h0, h0 + count) of a BHSD [B, H, L, X] tensor.
std::vector<double> sliceHeads(const std::vector<double> &t, int64_t batch,
                               int64_t heads, int64_t rowElems, int64_t h0,
                               int64_t count) {
  std::vector<double> out;
  for (int64_t b = 0; b < batch; ++b)
    out.insert(out.end(), t.begin() + (b * heads + h0) * rowElems,
               t.begin() + (b * heads + h0 + count) * rowElems);
  return out;
}
int64_t numElements(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t e : shape)
    n *= e;
  return n;
}

/// The raw bytes of one run: output (element type of the spec), LSE (f32).
struct RunResult {
  std::vector<uint8_t> output, lse;
};

constexpr uint64_t kSeed = 0x7e45;

using PrePipeline = std::function<void(OpPassManager &)>;
using Mutation = std::function<void(AttentionOp)>;

/// Builds, lowers (after `pre`) and JIT-runs `spec` on float64 inputs
/// (already representable in the element type). `mutate` edits the op
/// before lowering (the harness's negative control).
llvm::Expected<RunResult> run(const AttentionSpec &spec,
                              const ReferenceInputs &in, const PrePipeline &pre,
                              const Mutation &mutate = {}) {
  MLIRContext ctx;
  OwningOpRef<ModuleOp> module = buildAttentionModule(&ctx, spec);
  if (!module)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "spec does not verify: " + spec.describe());
  if (mutate)
    module->walk(mutate);
  CpuCompileOptions options;
  options.prePipeline = pre;
  auto exe = CpuExecutable::compile(*module, options);
  if (!exe)
    return exe.takeError();
  ElementKind kind = spec.elementType;
  std::vector<std::vector<uint8_t>> storage = {
      encodeElements(kind, in.query), encodeElements(kind, in.key),
      encodeElements(kind, in.value),
      std::vector<uint8_t>(numElements(spec.outputShape()) *
                           getElementByteSize(kind)),
      std::vector<uint8_t>(numElements(spec.lseShape()) * sizeof(float))};
  std::vector<SmallVector<int64_t>> shapes = {
      spec.queryShape(), spec.keyShape(), spec.valueShape(),
      spec.outputShape(), spec.lseShape()};
  SmallVector<HostBuffer> buffers;
  for (auto [i, bytes] : llvm::enumerate(storage))
    buffers.push_back({i == 4 ? ElementKind::F32 : kind, shapes[i],
                       bytes.data(), bytes.size()});
  if (llvm::Error err = (*exe)->invoke(buffers))
    return std::move(err);
  return RunResult{std::move(storage[3]), std::move(storage[4])};
}

/// Random inputs in [-1, 1], rounded to the spec's element type so the
/// float64 Reference sees exactly what the kernel reads.
ReferenceInputs randomInputs(const AttentionSpec &spec, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  auto tensor = [&](ArrayRef<int64_t> shape) {
    std::vector<double> t(numElements(shape));
    for (double &x : t)
      x = roundToElementKind(spec.elementType, dist(rng));
    return t;
  };
  ReferenceInputs in;
  in.query = tensor(spec.queryShape());
  in.key = tensor(spec.keyShape());
  in.value = tensor(spec.valueShape());
  return in;
}

/// The inputs of a shard: its query heads and the KV heads they read.
ReferenceInputs shardInputs(const AttentionSpec &full,
                            const AttentionSpec &shard,
                            const ReferenceInputs &in) {
  int64_t qRow = full.queryLength * full.headDim;
  int64_t kRow = full.keyLength * full.headDim;
  int64_t vRow = full.keyLength * full.getValueHeadDim();
  int64_t kv0 = shardKVHead0(full, shard);
  ReferenceInputs out;
  out.query = sliceHeads(in.query, full.batch, full.numQueryHeads, qRow,
                         shard.headOffset, shard.numQueryHeads);
  out.key = sliceHeads(in.key, full.batch, full.numKVHeads, kRow, kv0,
                       shard.numKVHeads);
  out.value = sliceHeads(in.value, full.batch, full.numKVHeads, vRow, kv0,
                         shard.numKVHeads);
  return out;
}

struct PipelineVariant {
  std::string name;
  PrePipeline pre;
  /// attn-lower-precision rounds P to bf16 before P.V (looser bound).
  bool roundedP = false;
};
void PrintTo(const PipelineVariant &v, std::ostream *os) { *os << v.name; }

std::vector<PipelineVariant> variants() {
  auto tiled = [](int64_t m, int64_t n, bool pack, bool fuse, bool precision,
                  int64_t splits = 1) {
    return [=](OpPassManager &pm) {
      AttnTileOptions o;
      o.blockM = m;
      o.blockN = n;
      o.packGqa = pack;
      o.numSplits = splits;
      pm.addPass(createAttnTile(o));
      if (fuse)
        pm.addPass(createAttnFuseOnlineSoftmax());
      if (precision)
        pm.addPass(createAttnLowerPrecision());
    };
  };
  return {
      {"untiled", {}},
      {"tiled_m8_n8", tiled(8, 8, true, false, false)},
      {"fused_m16_n8", tiled(16, 8, true, true, false)},
      {"flash_m8_n16", tiled(8, 16, true, true, true), true},
      {"split2_unpacked_m8_n8", tiled(8, 8, false, true, true, 2), true},
  };
}

class TensorParallelTest : public ::testing::TestWithParam<PipelineVariant> {
protected:
  void SetUp() override {
    in = randomInputs(full, kSeed);
    auto result = run(full, in, GetParam().pre);
    ASSERT_TRUE(static_cast<bool>(result))
        << llvm::toString(result.takeError());
    unsharded = std::move(*result);
  }

  /// Bytes of one BHSD head of the output and of the LSE.
  int64_t outHeadBytes() const {
    return full.queryLength * full.getValueHeadDim() *
           getElementByteSize(full.elementType);
  }
  int64_t lseHeadBytes() const {
    return full.queryLength * static_cast<int64_t>(sizeof(float));
  }

  /// Runs every shard of `numShards` and concatenates their outputs along
  /// the head axis (BHSD: per batch, shard after shard).
  RunResult runSharded(int64_t numShards, const Mutation &mutate = {}) {
    std::vector<RunResult> shards;
    for (int64_t s = 0; s < numShards; ++s) {
      AttentionSpec spec = shardSpec(full, s, numShards);
      auto result =
          run(spec, shardInputs(full, spec, in), GetParam().pre, mutate);
      EXPECT_TRUE(static_cast<bool>(result))
          << llvm::toString(result.takeError());
      if (!result)
        return {};
      shards.push_back(std::move(*result));
    }
    int64_t local = full.numQueryHeads / numShards;
    RunResult joined;
    for (int64_t b = 0; b < full.batch; ++b)
      for (const RunResult &shard : shards) {
        auto append = [&](std::vector<uint8_t> &to,
                          const std::vector<uint8_t> &from, int64_t head) {
          to.insert(to.end(), from.begin() + b * local * head,
                    from.begin() + (b + 1) * local * head);
        };
        append(joined.output, shard.output, outHeadBytes());
        append(joined.lse, shard.lse, lseHeadBytes());
      }
    return joined;
  }

  AttentionSpec full = unshardedSpec();
  ReferenceInputs in;
  RunResult unsharded;
};

// Two and four shards concatenate to the unsharded output and LSE, bit for
// bit. The unsharded run is checked first against the float64 Reference
// within the derived bound, so the equality is not agreement on a wrong
// answer.
TEST_P(TensorParallelTest, ShardsEqualUnshardedBitForBit) {
  ReferenceResult ref = referenceAttention(full, in);
  Tolerance tol =
      deriveTolerance(full, in, ElementKind::F32, GetParam().roundedP);
  std::vector<double> out = decodeElements(full.elementType, unsharded.output);
  std::vector<double> lse = decodeElements(ElementKind::F32, unsharded.lse);
  double outErr = 0.0, lseErr = 0.0;
  for (auto [got, want] : llvm::zip(out, ref.output))
    outErr = std::max(outErr, std::fabs(got - want));
  for (auto [got, want] : llvm::zip(lse, ref.lse))
    lseErr = std::max(lseErr, std::fabs(got - want));
  ASSERT_LE(outErr, tol.output);
  ASSERT_LE(lseErr, tol.lse);

  for (int64_t numShards : {2, 4}) {
    SCOPED_TRACE(std::to_string(numShards) + " shards");
    RunResult joined = runSharded(numShards);
    EXPECT_TRUE(joined.output == unsharded.output);
    EXPECT_TRUE(joined.lse == unsharded.lse);
  }
}

// The float64 Reference of each shard is the slice of the unsharded one:
// the Reference applies the offset the same way the compiler must.
TEST(TensorParallelReference, ShardsAreSlices) {
  AttentionSpec full = unshardedSpec();
  ReferenceInputs in = randomInputs(full, kSeed);
  ReferenceResult ref = referenceAttention(full, in);
  for (int64_t numShards : {2, 4})
    for (int64_t s = 0; s < numShards; ++s) {
      AttentionSpec spec = shardSpec(full, s, numShards);
      ReferenceResult part =
          referenceAttention(spec, shardInputs(full, spec, in));
      int64_t row = full.queryLength * full.getValueHeadDim();
      EXPECT_EQ(part.output,
                sliceHeads(ref.output, full.batch, full.numQueryHeads, row,
                           spec.headOffset, spec.numQueryHeads))
          << spec.describe();
    }
}

// Negative control: a shard that forgets its offset (local heads as global,
// the bug this feature fixes) must be caught.
TEST_P(TensorParallelTest, DetectsDroppedHeadOffset) {
  RunResult joined = runSharded(2, [](AttentionOp op) {
    op.setHeadOffsetAttr(Builder(op.getContext()).getI64IntegerAttr(0));
  });
  EXPECT_FALSE(joined.output == unsharded.output);
}

INSTANTIATE_TEST_SUITE_P(Pipelines, TensorParallelTest,
                         ::testing::ValuesIn(variants()),
                         [](const auto &info) { return info.param.name; });

} // namespace
