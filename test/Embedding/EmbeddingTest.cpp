//===- EmbeddingTest.cpp - the C++ embedding API --------------------------===//
//
// Part of attn-mlir. What the example host compiler does not check: errors
// in the host's own IR arrive as diagnostics at the host's locations, and
// compiling leaves the host's module unchanged.
//
//===----------------------------------------------------------------------===//

#include "attn/Embedding/Embedding.h"
#include "attn/InitAll.h"
#include "attn/Reference/Reference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace mlir;
using namespace mlir::attn;

namespace {

class EmbeddingTest : public ::testing::Test {
protected:
  EmbeddingTest() : ctx(makeRegistry()) {
    ctx.loadDialect<func::FuncDialect, AttnDialect>();
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &ctx, [this](Diagnostic &diag) {
          std::string text;
          llvm::raw_string_ostream os(text);
          os << diag.getLocation() << ": " << diag;
          diagnostics.push_back(text);
          return success();
        });
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    registerRequiredDialects(registry);
    return registry;
  }

  /// @f(q, k, v) on tensors of `elt` with one attn.attention at
  /// "host.mlir":7:3, built through buildAttention.
  OwningOpRef<ModuleOp> buildHostModule(Type elt, int64_t hq, int64_t hkv,
                                        int64_t d) {
    OpBuilder b(&ctx);
    Location loc = FileLineColLoc::get(&ctx, "host.mlir", 7, 3);
    OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
    auto q = RankedTensorType::get({1, hq, 64, d}, elt);
    auto kv = RankedTensorType::get({1, hkv, 64, d}, elt);
    b.setInsertionPointToEnd(module->getBody());
    auto func = func::FuncOp::create(b, b.getUnknownLoc(), "f",
                                     b.getFunctionType({q, kv, kv}, {q}));
    Block *body = func.addEntryBlock();
    b.setInsertionPointToEnd(body);
    AttentionAttributes attrs;
    attrs.mask = MaskKind::CausalBottomRight;
    attrs.scale = 0.5;
    AttentionOp op =
        buildAttention(b, loc, body->getArgument(0), body->getArgument(1),
                       body->getArgument(2), attrs);
    func::ReturnOp::create(b, b.getUnknownLoc(), op.getOutput());
    return module;
  }

  static AttentionOp firstAttention(ModuleOp module) {
    AttentionOp first;
    module.walk([&](AttentionOp op) {
      if (!first)
        first = op;
    });
    return first;
  }

  MLIRContext ctx;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::vector<std::string> diagnostics;
};

} // namespace

TEST_F(EmbeddingTest, BuildsTheOpWithItsAttributes) {
  auto module = buildHostModule(Float16Type::get(&ctx), 8, 2, 64);
  ASSERT_TRUE(succeeded(verify(*module))) << diagnostics.front();
  AttentionOp op = firstAttention(*module);
  EXPECT_EQ(op.getMaskKind(), MaskKind::CausalBottomRight);
  ASSERT_TRUE(op.getScaleAttr());
  EXPECT_EQ(op.getScaleAttr().getValueAsDouble(), 0.5);
  EXPECT_FALSE(op.getLse());
}

TEST_F(EmbeddingTest, GpuRefusalIsAtTheHostsLocation) {
  auto module = buildHostModule(Float32Type::get(&ctx), 8, 2, 64);
  ASSERT_TRUE(succeeded(prepareModule(*module, "f")));
  std::string before;
  llvm::raw_string_ostream(before) << *module;
  EXPECT_TRUE(failed(compileModuleToPtx(*module, PtxCompileOptions{})));
  ASSERT_FALSE(diagnostics.empty());
  EXPECT_NE(diagnostics.front().find("host.mlir\":7:3): 'attn.attention' op "
                                     "expected bf16 or f16 inputs"),
            std::string::npos)
      << diagnostics.front();
  // A failed compile works on a clone: the host's IR is as it was.
  std::string after;
  llvm::raw_string_ostream(after) << *module;
  EXPECT_EQ(before, after);
}

TEST_F(EmbeddingTest, VerifierErrorIsAtTheHostsLocation) {
  // 3 query heads cannot share 2 KV heads.
  auto module = buildHostModule(Float32Type::get(&ctx), 3, 2, 16);
  CpuTargetOptions options;
  options.entry = "f";
  EXPECT_TRUE(failed(compileModuleToCpu(*module, options)));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics.front().find("host.mlir\":7:3): 'attn.attention' op "
                                     "expected"),
            std::string::npos)
      << diagnostics.front();
}

TEST_F(EmbeddingTest, PtxCompileLeavesTheModuleAndReturnsTheKernel) {
  auto module = buildHostModule(BFloat16Type::get(&ctx), 8, 2, 64);
  ASSERT_TRUE(succeeded(prepareModule(*module, "f")));
  PtxCompileOptions options;
  options.cubinArchs.clear();
  FailureOr<PtxArtifacts> kernel = compileModuleToPtx(*module, options);
  ASSERT_TRUE(succeeded(kernel)) << diagnostics.front();
  EXPECT_NE(kernel->ptx.find(".entry"), std::string::npos);
  // q, k, v, o: the memref entry's arguments in order.
  ASSERT_EQ(kernel->manifest.arguments.size(), 4u);
  EXPECT_EQ(kernel->manifest.arguments[3].role,
            ::attn::runtime::ArgumentRole::Output);
  EXPECT_EQ(kernel->manifest.arguments[0].shape,
            (std::vector<int64_t>{1, 8, 64, 64}));
  // Still the host's attn IR, ready for another target.
  EXPECT_TRUE(firstAttention(*module));
  EXPECT_TRUE(diagnostics.empty());
}

TEST_F(EmbeddingTest, MissingEntryIsADiagnostic) {
  auto module = buildHostModule(Float32Type::get(&ctx), 2, 2, 16);
  CpuTargetOptions options;
  options.entry = "nope";
  EXPECT_TRUE(failed(compileModuleToCpu(*module, options)));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics.front().find("expected an entry function @nope"),
            std::string::npos);
}

namespace {

/// A training step's attention written by a host: @train(q, k, v, dO) ->
/// (o, dQ, dK, dV), one attn.attention with LSE feeding one
/// attn.attention_backward with the same attributes (buildAttention and
/// buildAttentionBackward), on f32 tensors.
OwningOpRef<ModuleOp> buildTrainingStep(MLIRContext &ctx,
                                        const AttentionSpec &spec,
                                        const AttentionAttributes &attrs) {
  OpBuilder b(&ctx);
  Location loc = FileLineColLoc::get(&ctx, "host.mlir", 12, 5);
  OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
  Type f32 = b.getF32Type();
  auto q = RankedTensorType::get(spec.queryShape(), f32);
  auto kv = RankedTensorType::get(spec.keyShape(), f32);
  b.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(
      b, loc, "train", b.getFunctionType({q, kv, kv, q}, {q, q, kv, kv}));
  Block *body = func.addEntryBlock();
  b.setInsertionPointToEnd(body);
  AttentionAttributes forward = attrs;
  forward.withLse = true;
  AttentionOp op = buildAttention(b, loc, body->getArgument(0),
                                  body->getArgument(1), body->getArgument(2),
                                  forward);
  AttentionBackwardOp grad = buildAttentionBackward(
      b, loc, body->getArgument(0), body->getArgument(1),
      body->getArgument(2), op.getOutput(), body->getArgument(3),
      op.getLse(), attrs);
  func::ReturnOp::create(b, loc,
                         ValueRange{op.getOutput(), grad.getGradQuery(),
                                    grad.getGradKey(), grad.getGradValue()});
  return module;
}

std::vector<double> randomValues(std::mt19937 &rng, ArrayRef<int64_t> shape) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> values(ShapedType::getNumElements(shape));
  for (double &x : values)
    x = roundToElementKind(ElementKind::F32, dist(rng));
  return values;
}

} // namespace

TEST_F(EmbeddingTest, BackwardBuiltInHostIRMatchesTheReference) {
  // GQA 4/2, a bottom-right window, softcap, ALiBi and a scale: every
  // attribute buildAttentionBackward forwards changes the gradients.
  AttentionSpec spec;
  spec.numQueryHeads = 4;
  spec.numKVHeads = 2;
  spec.queryLength = 20;
  spec.keyLength = 24;
  spec.headDim = 16;
  spec.elementType = ElementKind::F32;
  spec.maskKind = MaskKind::SlidingWindow;
  spec.windowLeft = 9;
  spec.windowRight = 2;
  spec.softcap = 5.0;
  spec.scale = 0.3;
  spec.alibiSlopes = {0.5, 0.25, 0.125, 0.0625};
  AttentionAttributes attrs;
  attrs.mask = spec.maskKind;
  attrs.window = {{spec.windowLeft, spec.windowRight}};
  attrs.softcap = spec.softcap;
  attrs.scale = spec.scale;
  attrs.alibiSlopes.assign(spec.alibiSlopes.begin(), spec.alibiSlopes.end());
  OwningOpRef<ModuleOp> module = buildTrainingStep(ctx, spec, attrs);
  ASSERT_TRUE(succeeded(verify(*module))) << diagnostics.front();
  FailureOr<std::string> entry = prepareModule(*module, "train");
  ASSERT_TRUE(succeeded(entry));
  CpuTargetOptions options;
  options.entry = *entry;
  options.tile.blockM = options.tileBackward.blockM = 8;
  options.tile.blockN = options.tileBackward.blockN = 8;
  auto exe = compileModuleToCpu(*module, options);
  ASSERT_TRUE(succeeded(exe)) << diagnostics.front();
  // q, k, v, dO, then o, dQ, dK, dV (destination passing).
  ASSERT_EQ((*exe)->getSignature().size(), 8u);

  std::mt19937 rng(5);
  ReferenceInputs in;
  in.query = randomValues(rng, spec.queryShape());
  in.key = randomValues(rng, spec.keyShape());
  in.value = randomValues(rng, spec.valueShape());
  in.gradOutput = randomValues(rng, spec.outputShape());
  ReferenceResult forward = referenceAttention(spec, in);
  in.output = forward.output;
  in.lse = forward.lse;
  ReferenceGradients want = referenceAttentionBackward(spec, in);

  auto floats = [](ArrayRef<double> values) {
    return std::vector<float>(values.begin(), values.end());
  };
  std::vector<std::vector<float>> data = {
      floats(in.query), floats(in.key), floats(in.value),
      floats(in.gradOutput)};
  for (ArrayRef<int64_t> shape : {spec.outputShape(), spec.queryShape(),
                                  spec.keyShape(), spec.valueShape()})
    data.emplace_back(ShapedType::getNumElements(shape), std::nanf(""));
  SmallVector<SmallVector<int64_t>> shapes = {
      spec.queryShape(),  spec.keyShape(),   spec.valueShape(),
      spec.outputShape(), spec.outputShape(), spec.queryShape(),
      spec.keyShape(),    spec.valueShape()};
  SmallVector<HostBuffer> buffers;
  for (auto [values, shape] : llvm::zip(data, shapes))
    buffers.push_back({ElementKind::F32, shape, values.data(),
                       values.size() * sizeof(float)});
  llvm::Error err = (*exe)->invoke(buffers);
  ASSERT_FALSE(err) << llvm::toString(std::move(err));

  // The reference backward takes the float64 O and LSE; the compiled one
  // recomputes them in f32 first, which adds at most the forward's own f32
  // error to Delta and P: twice the derived f32 gradient bound covers it.
  GradientTolerance tol =
      deriveGradientTolerance(spec, in, want, ElementKind::F32);
  auto maxError = [](ArrayRef<float> got, ArrayRef<double> expected) {
    double e = 0.0;
    for (auto [x, y] : llvm::zip(got, expected))
      e = std::max(e, std::isfinite(x) ? std::fabs(x - y) : INFINITY);
    return e;
  };
  EXPECT_LE(maxError(data[5], want.query), 2 * tol.query);
  EXPECT_LE(maxError(data[6], want.key), 2 * tol.key);
  EXPECT_LE(maxError(data[7], want.value), 2 * tol.value);
  EXPECT_TRUE(diagnostics.empty());
}

TEST_F(EmbeddingTest, BackwardSpecCompilesToCpu) {
  AttentionSpec spec;
  spec.numQueryHeads = 8;
  spec.numKVHeads = 2;
  spec.queryLength = spec.keyLength = 64;
  spec.headDim = 64;
  spec.maskKind = MaskKind::CausalBottomRight;
  spec.backward = true;
  auto exe = compileSpecToCpu(&ctx, spec);
  ASSERT_TRUE(succeeded(exe)) << diagnostics.front();
  // q, k, v, o, dO, lse, dQ, dK, dV: LSE [B, Hq, Lq] in f32, the rest bf16.
  ArrayRef<BufferSignature> sig = (*exe)->getSignature();
  ASSERT_EQ(sig.size(), 9u);
  EXPECT_EQ(sig[5].kind, ElementKind::F32);
  EXPECT_EQ(sig[5].shape, (SmallVector<int64_t>{1, 8, 64}));
  EXPECT_EQ(sig[7].kind, ElementKind::BF16);
  EXPECT_EQ(sig[7].shape, (SmallVector<int64_t>{1, 2, 64, 64}));
  EXPECT_TRUE(diagnostics.empty());
}
