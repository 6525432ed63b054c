//===- CpuRunnerTest.cpp - CPU runner API and its error reporting ---------===//
//
// Part of attn-mlir. Bad buffers must be rejected with a message naming the
// buffer and what was expected, before anything runs.
//
//===----------------------------------------------------------------------===//

#include "attn/Execution/CpuRunner.h"
#include "attn/Reference/Reference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::attn;

namespace {

class CpuRunnerTest : public ::testing::Test {
protected:
  void SetUp() override {
    spec.batch = 1;
    spec.numQueryHeads = 2;
    spec.numKVHeads = 1;
    spec.queryLength = 3;
    spec.keyLength = 5;
    spec.headDim = 8;
    spec.elementType = ElementKind::F32;
    module = buildAttentionModule(&ctx, spec);
    ASSERT_TRUE(module);
    auto compiled = CpuExecutable::compile(*module);
    ASSERT_TRUE(static_cast<bool>(compiled))
        << llvm::toString(compiled.takeError());
    exe = std::move(*compiled);
    for (auto shape : {spec.queryShape(), spec.keyShape(), spec.valueShape(),
                       spec.outputShape()}) {
      int64_t n = 1;
      for (int64_t e : shape)
        n *= e;
      storage.emplace_back(n, 0.5f);
      buffers.push_back({ElementKind::F32, shape, storage.back().data(),
                         storage.back().size() * sizeof(float)});
    }
  }

  /// The error message of invoking with `args`, or "" on success.
  std::string invokeError(llvm::ArrayRef<HostBuffer> args) {
    llvm::Error err = exe->invoke(args);
    return err ? llvm::toString(std::move(err)) : "";
  }

  MLIRContext ctx;
  AttentionSpec spec;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<CpuExecutable> exe;
  std::vector<std::vector<float>> storage;
  std::vector<HostBuffer> buffers;
};

TEST_F(CpuRunnerTest, SignatureListsEveryBuffer) {
  ASSERT_EQ(exe->getSignature().size(), 4u);
  EXPECT_EQ(exe->getSignature()[1].shape,
            (llvm::SmallVector<int64_t>{1, 1, 5, 8}));
  EXPECT_EQ(exe->getSignature()[3].kind, ElementKind::F32);
}

TEST_F(CpuRunnerTest, UniformValuesGiveUniformOutput) {
  // Every key equal: softmax is uniform and the output is V's value, 0.5.
  storage[3].assign(storage[3].size(), -1.0f);
  EXPECT_EQ(invokeError(buffers), "");
  for (float o : storage[3])
    EXPECT_FLOAT_EQ(o, 0.5f);
}

TEST_F(CpuRunnerTest, RejectsWrongBufferCount) {
  buffers.pop_back();
  EXPECT_EQ(invokeError(buffers), "@attention expects 4 buffers, got 3");
}

TEST_F(CpuRunnerTest, RejectsWrongShape) {
  buffers[1].shape = {1, 1, 4, 8};
  EXPECT_EQ(invokeError(buffers),
            "buffer #1: expected shape [1, 1, 5, 8], got [1, 1, 4, 8]");
}

TEST_F(CpuRunnerTest, RejectsWrongRank) {
  buffers[0].shape = {2, 3, 8};
  EXPECT_EQ(invokeError(buffers),
            "buffer #0: expected shape [1, 2, 3, 8], got [2, 3, 8]");
}

TEST_F(CpuRunnerTest, RejectsDtypeMismatch) {
  buffers[2].kind = ElementKind::BF16;
  EXPECT_EQ(invokeError(buffers),
            "buffer #2: expected element type f32, got bf16");
}

TEST_F(CpuRunnerTest, RejectsTooSmallBuffer) {
  buffers[3].byteSize -= 4;
  EXPECT_EQ(invokeError(buffers), "buffer #3: shape [1, 2, 3, 8] of f32 "
                                  "needs 192 bytes, the buffer has 188");
}

TEST_F(CpuRunnerTest, RejectsNullData) {
  buffers[0].data = nullptr;
  EXPECT_EQ(invokeError(buffers), "buffer #0: null data pointer");
}

TEST_F(CpuRunnerTest, RejectedCallLeavesOutputUntouched) {
  storage[3].assign(storage[3].size(), 7.0f);
  buffers[2].kind = ElementKind::F16;
  EXPECT_NE(invokeError(buffers), "");
  for (float o : storage[3])
    EXPECT_EQ(o, 7.0f);
}

TEST(CpuRunnerCompile, RejectsMissingEntry) {
  MLIRContext ctx;
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>("module {}", &ctx);
  CpuCompileOptions options;
  options.entry = "main";
  auto exe = CpuExecutable::compile(*module, options);
  ASSERT_FALSE(static_cast<bool>(exe));
  EXPECT_EQ(llvm::toString(exe.takeError()),
            "no entry function @main in the module");
}

TEST(CpuRunnerCompile, RejectsTensorArguments) {
  MLIRContext ctx;
  ctx.loadDialect<func::FuncDialect>();
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(
      "func.func @attention(%a: tensor<4xf32>) { return }", &ctx);
  ASSERT_TRUE(module);
  auto exe = CpuExecutable::compile(*module);
  ASSERT_FALSE(static_cast<bool>(exe));
  EXPECT_EQ(llvm::toString(exe.takeError()),
            "expected entry argument #0 to be an identity-layout memref of "
            "f32, f16, bf16, f64, i1 or i32, got tensor<4xf32>");
}

TEST(NumericFormats, RoundTripsAndRounds) {
  // 1 + 2^-9 is exactly halfway between two bf16 values: ties to even.
  EXPECT_EQ(roundToElementKind(ElementKind::BF16, 1.0 + std::ldexp(1.0, -9)),
            1.0);
  EXPECT_EQ(roundToElementKind(ElementKind::F16, 65520.0), INFINITY);
  std::vector<double> values = {0.0, -1.5, 3.140625, -0.0009765625};
  for (ElementKind kind :
       {ElementKind::F32, ElementKind::F16, ElementKind::BF16})
    EXPECT_EQ(decodeElements(kind, encodeElements(kind, values)), values);
}

} // namespace
