//===- RingViewTest.cpp - a foreign KV cache layout, executed -------------===//
//
// Part of attn-mlir. test_kv.ring_view (test/lib/Dialect/TestKV) is a cache
// layout the attn dialect knows nothing about: a ring buffer per sequence.
// These tests JIT-run attention over it on the CPU, through the reference
// lowering (buildDense) and the FlashAttention pipeline (buildTile), against
// the float64 reference on the ring rotated in C++; and they run the GPU
// address hook (buildRowOffset) for every row and check that it points at
// that row of the view. The dialect is linked statically here; the lit tests
// in test/Dialect/TestKV load the same dialect as a plugin.
//
//===----------------------------------------------------------------------===//

#include "TestKVOps.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Execution/CpuRunner.h"
#include "attn/Reference/Reference.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::attn;

namespace {

// B=2 sequences, GQA 4/2, 3 queries against a ring of Cap=40 tokens, D=16.
constexpr int64_t kB = 2, kHq = 4, kHkv = 2, kLq = 3, kCap = 40, kD = 16;
// Sequence 1 wraps after 7 tokens, so most of its view comes from the front.
const std::vector<int32_t> kStarts = {5, 33};
// A sliding window makes the result depend on the order of the keys (with
// no mask, attention is invariant under any permutation of K and V rows,
// and a wrong start would go unnoticed).
constexpr int64_t kWindowLeft = 8;

AttentionSpec ringSpec() {
  AttentionSpec s;
  s.batch = kB;
  s.numQueryHeads = kHq;
  s.numKVHeads = kHkv;
  s.queryLength = kLq;
  s.keyLength = kCap;
  s.headDim = kD;
  s.elementType = ElementKind::F32;
  s.maskKind = MaskKind::SlidingWindow;
  s.windowLeft = kWindowLeft;
  s.windowRight = 0;
  return s;
}

/// Host-compiler IR: the ring views feed attn.attention, in the destination
/// passing form CpuExecutable runs (inputs, then the output, as memrefs).
std::string ringModule() {
  return llvm::formatv(R"mlir(
func.func @attention(%q: memref<{0}x{1}x{3}x{5}xf32>, %kr: memref<{0}x{2}x{4}x{5}xf32>,
                     %vr: memref<{0}x{2}x{4}x{5}xf32>, %start: memref<{0}xi32>,
                     %o: memref<{0}x{1}x{3}x{5}xf32>) attributes {{llvm.emit_c_interface} {{
  %qt = bufferization.to_tensor %q restrict : memref<{0}x{1}x{3}x{5}xf32> to tensor<{0}x{1}x{3}x{5}xf32>
  %krt = bufferization.to_tensor %kr restrict : memref<{0}x{2}x{4}x{5}xf32> to tensor<{0}x{2}x{4}x{5}xf32>
  %vrt = bufferization.to_tensor %vr restrict : memref<{0}x{2}x{4}x{5}xf32> to tensor<{0}x{2}x{4}x{5}xf32>
  %st = bufferization.to_tensor %start restrict : memref<{0}xi32> to tensor<{0}xi32>
  %k = test_kv.ring_view %krt[%st] : tensor<{0}x{2}x{4}x{5}xf32>, tensor<{0}xi32> -> tensor<{0}x{2}x{4}x{5}xf32>
  %v = test_kv.ring_view %vrt[%st] : tensor<{0}x{2}x{4}x{5}xf32>, tensor<{0}xi32> -> tensor<{0}x{2}x{4}x{5}xf32>
  %out = attn.attention ins(%qt, %k, %v : tensor<{0}x{1}x{3}x{5}xf32>, tensor<{0}x{2}x{4}x{5}xf32>, tensor<{0}x{2}x{4}x{5}xf32>)
      {{mask_kind = #attn.mask<sliding_window>, window = array<i64: {6}, 0>} -> tensor<{0}x{1}x{3}x{5}xf32>
  bufferization.materialize_in_destination %out in restrict writable %o
      : (tensor<{0}x{1}x{3}x{5}xf32>, memref<{0}x{1}x{3}x{5}xf32>) -> ()
  return
}
)mlir",
                       kB, kHq, kHkv, kLq, kCap, kD, kWindowLeft)
      .str();
}

void registerDialects(MLIRContext &ctx) {
  DialectRegistry registry;
  registerAttnToCpuDependencies(registry);
  registry.insert<AttnDialect, test_kv::TestKVDialect>();
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
}

/// Random f32 values in [-1, 1], as doubles.
std::vector<double> randomValues(std::mt19937_64 &rng, size_t n) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(n);
  for (double &x : v)
    x = roundToElementKind(ElementKind::F32, dist(rng));
  return v;
}

/// The logical [B, Hkv, Cap, D] view of a ring, oldest token first.
std::vector<double> rotate(const std::vector<double> &ring,
                           const std::vector<int32_t> &starts) {
  std::vector<double> view(ring.size());
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t h = 0; h < kHkv; ++h)
      for (int64_t l = 0; l < kCap; ++l)
        for (int64_t d = 0; d < kD; ++d)
          view[((b * kHkv + h) * kCap + l) * kD + d] =
              ring[((b * kHkv + h) * kCap + (starts[b] + l) % kCap) * kD + d];
  return view;
}

HostBuffer f32Buffer(std::vector<float> &data, ArrayRef<int64_t> shape) {
  return {ElementKind::F32, llvm::to_vector(shape), data.data(),
          data.size() * sizeof(float)};
}

HostBuffer i32Buffer(std::vector<int32_t> &data, ArrayRef<int64_t> shape) {
  return {ElementKind::I32, llvm::to_vector(shape), data.data(),
          data.size() * sizeof(int32_t)};
}

double maxAbsDiff(const std::vector<float> &got,
                  const std::vector<double> &want) {
  double err = 0.0;
  for (size_t i = 0; i < got.size(); ++i)
    err = std::max(err, std::isnan(got[i])
                            ? INFINITY
                            : std::fabs(static_cast<double>(got[i]) - want[i]));
  return err;
}

//===----------------------------------------------------------------------===//
// Attention over the ring view vs the float64 reference
//===----------------------------------------------------------------------===//

struct RingVariant {
  std::string name;
  bool tiled = false;
  AttnTileOptions tile;
  bool fuse = false;
};
void PrintTo(const RingVariant &v, std::ostream *os) { *os << v.name; }

std::vector<RingVariant> ringVariants() {
  auto tile = [](int64_t m, int64_t n, int64_t splits = 1) {
    AttnTileOptions o;
    o.blockM = m;
    o.blockN = n;
    o.numSplits = splits;
    return o;
  };
  // Block sizes that do not divide Cap = 40, so the last KV tile reads
  // rows past the view's end (clamped, then masked).
  return {
      {"reference", false, {}, false},
      {"tiled_m16_n16", true, tile(16, 16), false},
      {"flash_m16_n16", true, tile(16, 16), true},
      {"flash_m8_n32", true, tile(8, 32), true},
      {"split3_m8_n8", true, tile(8, 8, 3), true},
  };
}

class RingViewNumericsTest : public ::testing::TestWithParam<RingVariant> {};

TEST_P(RingViewNumericsTest, MatchesRotatedFloat64Reference) {
  const RingVariant &variant = GetParam();
  MLIRContext ctx;
  registerDialects(ctx);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(ringModule(), ParserConfig(&ctx));
  ASSERT_TRUE(module) << "the ring-view module does not parse";

  CpuCompileOptions compileOptions;
  if (variant.tiled)
    compileOptions.prePipeline = [&](OpPassManager &pm) {
      pm.addPass(createAttnTile(variant.tile));
      if (variant.fuse)
        pm.addPass(createAttnFuseOnlineSoftmax());
    };
  auto exe = CpuExecutable::compile(*module, compileOptions);
  ASSERT_TRUE(static_cast<bool>(exe)) << llvm::toString(exe.takeError());

  AttentionSpec spec = ringSpec();
  std::mt19937_64 rng(0x5eed);
  ReferenceInputs in;
  in.query = randomValues(rng, kB * kHq * kLq * kD);
  std::vector<double> keyRing = randomValues(rng, kB * kHkv * kCap * kD);
  std::vector<double> valueRing = randomValues(rng, kB * kHkv * kCap * kD);
  in.key = rotate(keyRing, kStarts);
  in.value = rotate(valueRing, kStarts);

  std::vector<float> q(in.query.begin(), in.query.end());
  std::vector<float> kr(keyRing.begin(), keyRing.end());
  std::vector<float> vr(valueRing.begin(), valueRing.end());
  std::vector<int32_t> starts = kStarts;
  std::vector<float> out(kB * kHq * kLq * kD, NAN);
  SmallVector<HostBuffer> buffers = {
      f32Buffer(q, spec.queryShape()), f32Buffer(kr, spec.keyShape()),
      f32Buffer(vr, spec.valueShape()), i32Buffer(starts, {kB}),
      f32Buffer(out, spec.outputShape())};
  ASSERT_FALSE(static_cast<bool>((*exe)->invoke(buffers)));

  ReferenceResult ref = referenceAttention(spec, in);
  Tolerance tol = deriveTolerance(spec, in, ElementKind::F32);
  double err = maxAbsDiff(out, ref.output);
  EXPECT_LE(err, tol.output) << variant.name;
  std::cout << "  " << variant.name << ": max error " << err
            << ", tolerance " << tol.output << "\n";
  double magnitude = 0.0;
  for (double x : ref.output)
    magnitude = std::max(magnitude, std::fabs(x));
  EXPECT_GT(magnitude, 0.05) << "vacuous case";
  EXPECT_LT(tol.output, 0.05);

  // The check has teeth: the same ring read from a start one slot off (or
  // not rotated at all) gives a reference far outside the tolerance.
  for (std::vector<int32_t> wrong :
       {std::vector<int32_t>{6, 34}, std::vector<int32_t>{0, 0}}) {
    ReferenceInputs shifted = in;
    shifted.key = rotate(keyRing, wrong);
    shifted.value = rotate(valueRing, wrong);
    ReferenceResult wrongRef = referenceAttention(spec, shifted);
    EXPECT_GT(maxAbsDiff(out, wrongRef.output), 100 * tol.output)
        << "starts {" << wrong[0] << ", " << wrong[1] << "}";
  }
}

INSTANTIATE_TEST_SUITE_P(
    RingView, RingViewNumericsTest, ::testing::ValuesIn(ringVariants()),
    [](const auto &info) { return info.param.name; });

//===----------------------------------------------------------------------===//
// The GPU address hook, executed
//===----------------------------------------------------------------------===//

/// A kernel that stores buildRowOffset(b, h, row) of every row, built the
/// way a GPU generator builds its row copies: through the interface only.
OwningOpRef<ModuleOp> buildRowOffsetModule(MLIRContext &ctx) {
  OpBuilder b(&ctx);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());

  // The host's graph, holding the view op the generator asks.
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  auto ringType = RankedTensorType::get({kB, kHkv, kCap, kD}, f32);
  auto startType = RankedTensorType::get({kB}, i32);
  auto graph = func::FuncOp::create(
      b, loc, "graph", b.getFunctionType({ringType, startType}, {ringType}));
  Block *graphBody = graph.addEntryBlock();
  b.setInsertionPointToStart(graphBody);
  auto view = test_kv::RingViewOp::create(b, loc, ringType,
                                          graphBody->getArgument(0),
                                          graphBody->getArgument(1));
  func::ReturnOp::create(b, loc, view.getResult());

  // The kernel: storage memrefs in getStorage() order, then the offsets.
  auto kvView = cast<KVCacheViewInterface>(view.getOperation());
  SmallVector<Type> argTypes;
  for (Value s : kvView.getStorage()) {
    auto t = cast<RankedTensorType>(s.getType());
    argTypes.push_back(MemRefType::get(t.getShape(), t.getElementType()));
  }
  argTypes.push_back(MemRefType::get({kB, kHkv, kCap}, i32));
  b.setInsertionPointToEnd(module->getBody());
  auto kernel = func::FuncOp::create(b, loc, "row_offsets",
                                     b.getFunctionType(argTypes, {}));
  kernel->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *body = kernel.addEntryBlock();
  b.setInsertionPointToStart(body);
  ValueRange storage = body->getArguments().drop_back();
  Value out = body->getArguments().back();
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value zero = c(0), one = c(1);
  scf::buildLoopNest(
      b, loc, {zero, zero, zero}, {c(kB), c(kHkv), c(kCap)}, {one, one, one},
      [&](OpBuilder &nb, Location l, ValueRange ivs) {
        Value offset =
            kvView.buildRowOffset(nb, l, storage, ivs[0], ivs[1], ivs[2]);
        Value asI32 = arith::IndexCastOp::create(nb, l, i32, offset);
        memref::StoreOp::create(nb, l, asI32, out, ivs);
      });
  func::ReturnOp::create(b, loc);
  graph.erase();
  return module;
}

TEST(RingViewHook, StorageIsRingThenStarts) {
  MLIRContext ctx;
  registerDialects(ctx);
  OwningOpRef<ModuleOp> module = buildRowOffsetModule(ctx);
  auto kernel = module->lookupSymbol<func::FuncOp>("row_offsets");
  ASSERT_TRUE(kernel);
  ASSERT_EQ(kernel.getNumArguments(), 3u);
  EXPECT_EQ(kernel.getArgumentTypes()[0],
            MemRefType::get({kB, kHkv, kCap, kD}, Float32Type::get(&ctx)));
  EXPECT_EQ(kernel.getArgumentTypes()[1],
            MemRefType::get({kB}, IntegerType::get(&ctx, 32)));
  ASSERT_TRUE(succeeded(verify(*module)));
}

TEST(RingViewHook, RowOffsetsAddressTheViewsRows) {
  MLIRContext ctx;
  registerDialects(ctx);
  OwningOpRef<ModuleOp> module = buildRowOffsetModule(ctx);
  CpuCompileOptions options;
  options.entry = "row_offsets";
  auto exe = CpuExecutable::compile(*module, options);
  ASSERT_TRUE(static_cast<bool>(exe)) << llvm::toString(exe.takeError());

  std::mt19937_64 rng(7);
  std::vector<double> ring = randomValues(rng, kB * kHkv * kCap * kD);
  std::vector<float> ringF32(ring.begin(), ring.end());
  std::vector<int32_t> starts = kStarts;
  std::vector<int32_t> offsets(kB * kHkv * kCap, -1);
  SmallVector<HostBuffer> buffers = {
      f32Buffer(ringF32, {kB, kHkv, kCap, kD}), i32Buffer(starts, {kB}),
      i32Buffer(offsets, {kB, kHkv, kCap})};
  ASSERT_FALSE(static_cast<bool>((*exe)->invoke(buffers)));

  // The D elements at each offset are that row of the view: exactly what a
  // GPU generator copies.
  std::vector<double> view = rotate(ring, kStarts);
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t h = 0; h < kHkv; ++h)
      for (int64_t row = 0; row < kCap; ++row) {
        int64_t got = offsets[(b * kHkv + h) * kCap + row];
        int64_t want =
            ((b * kHkv + h) * kCap + (kStarts[b] + row) % kCap) * kD;
        ASSERT_EQ(got, want) << "b=" << b << " h=" << h << " row=" << row;
        for (int64_t d = 0; d < kD; ++d)
          ASSERT_EQ(ringF32[got + d],
                    static_cast<float>(
                        view[((b * kHkv + h) * kCap + row) * kD + d]));
      }
}

} // namespace
