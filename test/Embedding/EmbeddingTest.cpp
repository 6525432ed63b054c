//===- EmbeddingTest.cpp - the C++ embedding API --------------------------===//
//
// Part of attn-mlir. What the example host compiler does not check: errors
// in the host's own IR arrive as diagnostics at the host's locations, and
// compiling leaves the host's module unchanged.
//
//===----------------------------------------------------------------------===//

#include "attn/Embedding/Embedding.h"
#include "attn/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

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
