//===- RaiseTest.cpp - attn-raise preserves what the graph computes -------===//
//
// Part of attn-mlir. Every positive graph of test/Transforms/attn-raise.mlir
// is executed twice on the CPU on the same random inputs: as written (the
// importer's linalg ops) and after attn-raise (one attn.attention, lowered by
// the reference lowering). The outputs (and LSEs) must agree within a bound
// derived from f32 rounding. Every negative graph (@neg_*) must come out of
// the pass textually unchanged. IndexEvaluator, which evaluates the masks,
// is tested at the end.
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Raise.h"
#include "attn/Transforms/IndexEvaluator.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Execution/CpuRunner.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Spec/AttentionSpec.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// One `// -----` section of the lit test: its text and function name.
struct GraphCase {
  std::string name;
  std::string source;
  /// How many attn.attention ops the section's CHECK lines expect.
  int64_t expectedRaised = 0;
  bool isNegative() const { return llvm::StringRef(name).starts_with("neg_"); }
};

/// Names the case in gtest's messages instead of dumping its bytes.
void PrintTo(const GraphCase &graph, std::ostream *os) { *os << graph.name; }

std::vector<GraphCase> loadCases() {
  std::vector<GraphCase> cases;
  auto buffer = llvm::MemoryBuffer::getFile(ATTN_RAISE_TEST_FILE);
  if (!buffer)
    return cases;
  llvm::SmallVector<llvm::StringRef> sections;
  (*buffer)->getBuffer().split(sections, "// -----");
  for (llvm::StringRef section : sections) {
    size_t at = section.find("\nfunc.func @");
    if (at == llvm::StringRef::npos)
      continue;
    llvm::StringRef rest = section.drop_front(at + 12);
    int64_t expected = 0;
    llvm::SmallVector<llvm::StringRef> lines;
    section.split(lines, '\n');
    for (llvm::StringRef line : lines)
      if ((line.starts_with("// CHECK") || line.starts_with("// DEFAULT")) &&
          line.contains("= attn.attention ins("))
        ++expected;
    cases.push_back({rest.take_until([](char c) { return c == '('; }).str(),
                     section.str(), expected});
  }
  return cases;
}

void registerDialects(MLIRContext &ctx) {
  DialectRegistry registry;
  registerAttnToCpuDependencies(registry);
  registry.insert<AttnDialect>();
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
}

/// The graph @name of `module` as the CPU runner's entry @attention, in a
/// module of its own.
OwningOpRef<ModuleOp> memrefEntry(ModuleOp module, llvm::StringRef name) {
  OwningOpRef<ModuleOp> copy = module.clone();
  if (failed(convertToMemrefEntry(*copy, name)))
    return nullptr;
  copy->lookupSymbol<func::FuncOp>(name).setName("attention");
  return copy;
}

std::string print(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->print(os);
  return text;
}

int64_t countAttention(ModuleOp module) {
  int64_t n = 0;
  module.walk([&](AttentionOp) { ++n; });
  return n;
}

/// bf16 is the top half of an f32: exact for the values bf16 holds.
uint16_t toBF16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  return bits >> 16;
}
float fromBF16(uint16_t x) {
  uint32_t bits = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

/// Runs `module`'s @attention on `buffers` (values as floats, stored in
/// each argument's element type); returns them after the call.
std::vector<std::vector<float>> run(ModuleOp module,
                                    std::vector<std::vector<float>> buffers) {
  auto exe = CpuExecutable::compile(module);
  EXPECT_TRUE(static_cast<bool>(exe)) << llvm::toString(exe.takeError());
  if (!exe)
    return {};
  std::vector<std::vector<uint16_t>> halves(buffers.size());
  std::vector<HostBuffer> args;
  for (auto [sig, data, half] :
       llvm::zip((*exe)->getSignature(), buffers, halves)) {
    if (sig.kind != ElementKind::BF16) {
      args.push_back(
          {sig.kind, sig.shape, data.data(), data.size() * sizeof(float)});
      continue;
    }
    llvm::transform(data, std::back_inserter(half), toBF16);
    args.push_back(
        {sig.kind, sig.shape, half.data(), half.size() * sizeof(uint16_t)});
  }
  llvm::Error err = (*exe)->invoke(args);
  EXPECT_FALSE(static_cast<bool>(err)) << llvm::toString(std::move(err));
  for (auto [data, half] : llvm::zip(buffers, halves))
    if (!half.empty())
      llvm::transform(half, data.begin(), fromBF16);
  return buffers;
}

class RaiseGraphTest : public ::testing::TestWithParam<GraphCase> {
protected:
  void SetUp() override { registerDialects(ctx); }
  MLIRContext ctx;
};

TEST_P(RaiseGraphTest, RaisedGraphComputesTheSame) {
  const GraphCase &graph = GetParam();
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(graph.source, &ctx);
  ASSERT_TRUE(module) << graph.source;
  auto func = module->lookupSymbol<func::FuncOp>(graph.name);
  ASSERT_TRUE(func);

  OwningOpRef<ModuleOp> raised = module->clone();
  FailureOr<int64_t> numRaised = raiseAttention(*raised);
  ASSERT_TRUE(succeeded(numRaised));
  if (graph.isNegative()) {
    // Rejected graphs are left exactly as they were: no partial raise, no
    // folding, no cleanup.
    EXPECT_EQ(*numRaised, 0);
    EXPECT_EQ(print(*raised), print(*module));
    return;
  }
  ASSERT_GE(graph.expectedRaised, 1) << "no CHECK line expects a raise";
  ASSERT_EQ(*numRaised, graph.expectedRaised);
  ASSERT_EQ(countAttention(*raised), graph.expectedRaised);
  Type elementType = getElementTypeOrSelf(func.getArgumentTypes().front());
  ASSERT_TRUE(elementType.isF32() || elementType.isBF16())
      << "the rounding bounds below are derived for f32 and bf16 graphs";
  bool isBF16 = elementType.isBF16();
  // Every test graph's attentions share D, Lk and the scale.
  AttentionOp attention;
  raised->walk([&](AttentionOp op) { attention = op; });
  int64_t linalgLeft = 0;
  raised->walk([&](linalg::LinalgOp) { ++linalgLeft; });
  EXPECT_LE(linalgLeft, 2) << "repeat_kv copies at most\n" << print(*raised);

  // The unraised graph runs as written: attn-to-cpu decomposes its
  // linalg.softmax (attn-decompose-softmax).
  OwningOpRef<ModuleOp> original = memrefEntry(*module, graph.name);
  OwningOpRef<ModuleOp> lowered = memrefEntry(*raised, graph.name);
  ASSERT_TRUE(original && lowered);

  // Inputs in [-1, 1], the same for both runs; outputs start at NaN so
  // that an unwritten element cannot pass. bf16 graphs draw from
  // {0, +-1/2, +-1}: products are exact and every score is a multiple of
  // 1/4 below 2^6 (D <= 64), so Q.K^T and the power-of-two scale are exact
  // in bf16 and only the softmax and P.V round (bound below).
  std::mt19937_64 rng(std::hash<std::string>()(graph.name));
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_int_distribution<int> grid(-2, 2);
  std::vector<std::vector<float>> buffers;
  for (Type t : llvm::concat<const Type>(func.getArgumentTypes(),
                                         func.getResultTypes())) {
    auto tensor = cast<RankedTensorType>(t);
    ASSERT_TRUE(tensor.getElementType().isF32() ||
                tensor.getElementType().isBF16());
    std::vector<float> data(tensor.getNumElements(), NAN);
    if (buffers.size() < func.getNumArguments())
      for (float &x : data)
        x = isBF16 ? 0.5f * grid(rng) : uniform(rng);
    buffers.push_back(std::move(data));
  }
  std::vector<std::vector<float>> want = run(*original, buffers);
  std::vector<std::vector<float>> got = run(*lowered, buffers);
  ASSERT_EQ(want.size(), buffers.size());
  ASSERT_EQ(got.size(), buffers.size());

  // Both runs compute O = softmax(s) . V in f32 in different orders, so
  // each is within e of the exact result and they differ by at most 2e.
  // With |q|, |k|, |v|, |bias| <= 1 and u = 2^-24:
  //   |s| <= scale * D + 1; the dot product, scale and bias round to
  //   ds <= (D + 2) u |s|; softmax turns a score error into a relative
  //   error of at most 2 ds in p, plus (Lk + 4) u for exp, sum and divide;
  //   P.V adds (Lk + 1) u relative to sum_j p_j |v_j| <= 1.
  const double u = std::ldexp(1.0, -24);
  double d = attention.getHeadDim(), lk = attention.getKeyLength();
  double sMax = std::fabs(attention.getEffectiveScale()) * d + 1.0;
  double ds = (d + 2) * u * sMax;
  double e = 2 * ds + (lk + 4) * u + (lk + 1) * u;
  double tolerance = 2 * e;
  // The LSE (log(sum_j exp(s_j)), |lse| <= sMax + log(Lk)) moves by at
  // most ds plus (Lk + 2) u for the sum and log: within e.
  //
  // bf16 graphs (scores exact, see the inputs) round in bf16, u' = 2^-8,
  // where the raised op keeps f32: each exp, the row sum and the division
  // of a bf16 softmax (or the cast of an f32 one back to bf16) move p by a
  // relative gamma(Lk + 3) = (Lk + 3) u' / (1 - (Lk + 3) u'); P.V summed in
  // bf16 adds gamma(Lk + 1) relative to sum_j p_j |v_j| <= 1; the raised
  // op rounds its f32 output to bf16 once more: u'.
  if (isBF16) {
    const double ub = std::ldexp(1.0, -8);
    auto gamma = [&](double n) { return n * ub / (1 - n * ub); };
    tolerance += gamma(lk + 3) + gamma(lk + 1) * (1 + gamma(lk + 3)) + ub;
  }
  // A chained attention reads the previous output (|o| <= 1, off by at most
  // the tolerance so far) as Q: its scores move by scale * D times that and
  // its output by twice as much.
  for (int64_t n = 1; n < graph.expectedRaised; ++n)
    tolerance =
        2 * e + 2 * std::fabs(attention.getEffectiveScale()) * d * tolerance;

  size_t firstOut = func.getNumArguments();
  double maxError = 0.0, maxMagnitude = 0.0;
  for (size_t i = firstOut; i < buffers.size(); ++i) {
    for (auto [w, g] : llvm::zip(want[i], got[i])) {
      ASSERT_FALSE(std::isnan(w) || std::isnan(g)) << "NaN in the output";
      maxError = std::max(maxError, std::fabs(double(w) - double(g)));
      maxMagnitude = std::max(maxMagnitude, std::fabs(double(w)));
    }
  }
  EXPECT_LE(maxError, tolerance) << "tolerance " << tolerance;
  EXPECT_GT(maxMagnitude, 0.05) << "vacuous comparison";
  RecordProperty(
      "max_error",
      llvm::formatv("{0:e2} (tolerance {1:e2})", maxError, tolerance).str());
}

INSTANTIATE_TEST_SUITE_P(AttnRaiseLit, RaiseGraphTest,
                         ::testing::ValuesIn(loadCases()),
                         [](const ::testing::TestParamInfo<GraphCase> &info) {
                           return info.param.name;
                         });

TEST(RaiseLitFile, HasEnoughCases) {
  std::vector<GraphCase> cases = loadCases();
  int positives =
      llvm::count_if(cases, [](auto &c) { return !c.isNegative(); });
  EXPECT_GE(positives, 10);
  EXPECT_GE(static_cast<int>(cases.size()) - positives, 5);
}

/// Index arithmetic as attn-tile emits it and masks are written, with the
/// values each expression must fold to at %a = -7, %b = 2.
constexpr const char *kIndexArithmetic = R"mlir(
func.func @f(%a: index, %b: index, %x: i8) -> (index, index, index, index, index, i1, index, i64, i32) {
  %c3 = arith.constant 3 : index
  %q = arith.divsi %a, %b : index
  %fl = arith.floordivsi %a, %b : index
  %ce = arith.ceildivsi %a, %b : index
  %mn = arith.minsi %q, %c3 : index
  %mx = arith.maxsi %fl, %c3 : index
  %lt = arith.cmpi ult, %a, %b : index
  %sel = arith.select %lt, %a, %b : index
  %w = arith.extsi %x : i8 to i32
  %ww = arith.extsi %w : i32 to i64
  %t = arith.trunci %ww : i64 to i32
  return %q, %fl, %ce, %mn, %mx, %lt, %sel, %ww, %t : index, index, index, index, index, i1, index, i64, i32
}
)mlir";

TEST(IndexEvaluator, FoldsArithLikeUpstream) {
  MLIRContext ctx;
  registerDialects(ctx);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(kIndexArithmetic, &ctx);
  ASSERT_TRUE(module);
  std::string before = print(*module);
  auto func = module->lookupSymbol<func::FuncOp>("f");
  Operation *ret = func.getBody().front().getTerminator();

  IndexEvaluator eval;
  eval.bind(func.getArgument(0), -7);
  eval.bind(func.getArgument(1), 2);
  // 200 does not fit i8: it wraps to -56, which extsi keeps negative.
  eval.bind(func.getArgument(2), 200);
  auto at = [&](unsigned n) { return eval.evaluateInt(ret->getOperand(n)); };
  EXPECT_EQ(at(0), -3); // truncating division
  EXPECT_EQ(at(1), -4); // floor
  EXPECT_EQ(at(2), -3); // ceil
  EXPECT_EQ(at(3), -3);
  EXPECT_EQ(at(4), 3);
  // -7 is huge unsigned: ult is false (i1 false is 0), select takes %b.
  EXPECT_EQ(at(5), 0);
  EXPECT_EQ(at(6), 2);
  EXPECT_EQ(at(7), -56);
  EXPECT_EQ(at(8), -56);
  // extsi(extsi) folds in place when folded on the IR itself; the
  // evaluator folds detached copies, so the IR is untouched.
  EXPECT_EQ(print(*module), before);

  // Unknown leaves stay unknown; after reset nothing is bound.
  eval.reset();
  EXPECT_EQ(at(0), std::nullopt);
  eval.setResolver([&](Value v) -> Attribute {
    if (v == func.getArgument(0) || v == func.getArgument(1))
      return IntegerAttr::get(v.getType(), 5);
    return {};
  });
  EXPECT_EQ(at(0), 1);
  EXPECT_EQ(at(2), 1);
}

TEST(IndexEvaluator, DivisionByZeroIsUnknown) {
  MLIRContext ctx;
  registerDialects(ctx);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(kIndexArithmetic, &ctx);
  ASSERT_TRUE(module);
  auto func = module->lookupSymbol<func::FuncOp>("f");
  Operation *ret = func.getBody().front().getTerminator();
  IndexEvaluator eval;
  eval.bind(func.getArgument(0), 1);
  eval.bind(func.getArgument(1), 0);
  EXPECT_EQ(eval.evaluateInt(ret->getOperand(0)), std::nullopt);
  EXPECT_EQ(eval.evaluateInt(ret->getOperand(6)), 0);
}

} // namespace
