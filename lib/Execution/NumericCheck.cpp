//===- NumericCheck.cpp - compiled attention vs float64 reference ---------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Execution/NumericCheck.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

using namespace mlir;
using namespace mlir::attn;

std::string NumericReport::summary() const {
  if (!gradients.empty()) {
    std::string text = passed() ? "PASS:" : "FAIL:";
    for (const Gradient &g : gradients)
      text += llvm::formatv(" max |{0} - ref| = {1:e2} (tol {2:e2}),", g.name,
                            g.maxError, g.tolerance)
                  .str();
    return text + llvm::formatv(" {0} bad specials", badSpecials).str();
  }
  std::string text = llvm::formatv(
      "{0}: max |out - ref| = {1:e2} (tol {2:e2}), max |lse - ref| = {3:e2} "
      "(tol {4:e2}), {5} bad specials",
      passed() ? "PASS" : "FAIL", maxOutputError, outputTolerance, maxLseError,
      lseTolerance, badSpecials);
  if (cacheMismatches)
    text += llvm::formatv(", {0} cache bytes not appended", cacheMismatches);
  return text;
}

static int64_t numElements(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t extent : shape)
    n *= extent;
  return n;
}

/// Standard normal samples, rounded to `kind` so that the compiled kernel
/// and the reference see bit-identical inputs.
static std::vector<double>
randomTensor(std::mt19937_64 &rng, ArrayRef<int64_t> shape, ElementKind kind) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> values(numElements(shape));
  for (double &v : values)
    v = roundToElementKind(kind, normal(rng));
  return values;
}

namespace {
/// K and V scattered into pages in a random order, as a serving system's
/// allocator would leave them, and the block table that finds them again.
struct PagedKV {
  std::vector<double> key, value;
  std::vector<int32_t> blockTable;
};
} // namespace

static PagedKV scatterToPages(const AttentionSpec &spec,
                              const ReferenceInputs &in, std::mt19937_64 &rng) {
  int64_t pages = spec.pagesPerSequence(), size = spec.pageSize;
  int64_t heads = spec.numKVHeads, len = spec.keyLength;
  int64_t caches = spec.kvBatch();
  bool bshd = spec.layout == Layout::BSHD;
  // Distinct pages of the pool for every cache's table (the pool's other
  // pages stay zero); the caller has checked the pool holds them.
  std::vector<int32_t> order(spec.poolPages());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(caches * pages);
  PagedKV paged;
  paged.blockTable = order;
  auto scatter = [&](const std::vector<double> &dense, int64_t dim) {
    std::vector<double> out(spec.poolPages() * size * heads * dim);
    for (int64_t b = 0; b < caches; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t pos = 0; pos < len; ++pos) {
          int64_t page = order[b * pages + pos / size], slot = pos % size;
          // The dense cache in the spec's layout (bshd: varlen over caches).
          int64_t row = bshd ? (b * len + pos) * heads + h
                             : (b * heads + h) * len + pos;
          for (int64_t d = 0; d < dim; ++d)
            out[((page * size + slot) * heads + h) * dim + d] =
                dense[row * dim + d];
        }
    return out;
  };
  paged.key = scatter(in.key, spec.headDim);
  if (!spec.sharedKV)
    paged.value = scatter(in.value, spec.getValueHeadDim());
  return paged;
}

namespace {
/// The reference K/V split into a cache whose appended rows hold stale
/// values and the new tokens that kv_append writes over them.
struct AppendedKV {
  std::vector<double> keyCache, valueCache, keyNew, valueNew;
  std::vector<int32_t> positions;
};
} // namespace

static AppendedKV splitAppended(const AttentionSpec &spec,
                                const ReferenceInputs &in,
                                std::mt19937_64 &rng) {
  int64_t t = spec.appendTokens, heads = spec.numKVHeads, len = spec.keyLength;
  std::normal_distribution<double> stale(5.0, 1.0);
  AppendedKV out;
  for (int64_t b = 0; b < spec.batch; ++b)
    out.positions.push_back(spec.keyLengths[b] - t);
  auto split = [&](const std::vector<double> &dense, int64_t dim,
                   std::vector<double> &cache, std::vector<double> &fresh) {
    cache = dense;
    fresh.assign(spec.batch * heads * t * dim, 0.0);
    for (int64_t b = 0; b < spec.batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t r = 0; r < t; ++r)
          for (int64_t d = 0; d < dim; ++d) {
            size_t at =
                ((b * heads + h) * len + out.positions[b] + r) * dim + d;
            fresh[((b * heads + h) * t + r) * dim + d] = dense[at];
            cache[at] = roundToElementKind(spec.elementType, stale(rng));
          }
  };
  split(in.key, spec.headDim, out.keyCache, out.keyNew);
  split(in.value, spec.getValueHeadDim(), out.valueCache, out.valueNew);
  return out;
}

/// The bytes of an i32 vector, for key_lengths.
static std::vector<uint8_t> int32Bytes(ArrayRef<int64_t> values) {
  std::vector<int32_t> narrow(values.begin(), values.end());
  std::vector<uint8_t> bytes(narrow.size() * sizeof(int32_t));
  std::memcpy(bytes.data(), narrow.data(), bytes.size());
  return bytes;
}

/// The lowering accumulates in f64 when asked to and for f64 operands.
static bool accumulatesInF64(const AttentionSpec &spec,
                             const NumericCheckOptions &options) {
  return options.accumulateInF64 || spec.elementType == ElementKind::F64;
}

/// The spec as the kernel sees it: sinks cross the boundary as f32, so the
/// reference reads them rounded the same way.
static AttentionSpec withF32Sinks(AttentionSpec spec) {
  for (double &sink : spec.sinks)
    sink = roundToElementKind(ElementKind::F32, sink);
  return spec;
}

/// Appends the sinks operand (f32) when the spec has one.
template <typename AddBuffer>
static void addSinksBuffer(const AttentionSpec &spec, AddBuffer &addBuffer) {
  if (!spec.sinks.empty())
    addBuffer(ElementKind::F32,
              {static_cast<int64_t>(spec.sinks.size())},
              encodeElements(ElementKind::F32, spec.sinks));
}

/// The spec's module compiled for the CPU with the check's pipeline options.
static llvm::Expected<std::unique_ptr<CpuExecutable>>
compileForCheck(MLIRContext &ctx, const AttentionSpec &spec,
                const NumericCheckOptions &options) {
  OwningOpRef<ModuleOp> module = buildAttentionModule(&ctx, spec);
  if (!module)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the spec does not verify: " +
                                       spec.describe());
  AttnToCpuPipelineOptions pipelineOptions;
  pipelineOptions.accumulateInF64 = options.accumulateInF64;
  CpuCompileOptions compileOptions;
  compileOptions.pipelineOptions = &pipelineOptions;
  compileOptions.prePipeline = options.prePipeline;
  return CpuExecutable::compile(*module, compileOptions);
}

/// Random Q, K, V and (as the spec asks) bias and boolean mask, exactly
/// representable in the spec's element type.
static ReferenceInputs randomInputs(std::mt19937_64 &rng,
                                    const AttentionSpec &spec,
                                    const NumericCheckOptions &options) {
  ElementKind kind = spec.elementType;
  ReferenceInputs in;
  in.query = randomTensor(rng, spec.queryShape(), kind);
  in.key = randomTensor(rng, spec.keyShape(), kind);
  // A shared K/V cache has no V of its own: the reference reads K.
  if (!spec.sharedKV)
    in.value = randomTensor(rng, spec.valueShape(), kind);
  if (spec.withBias)
    in.bias = randomTensor(rng, spec.biasShape(), kind);
  if (spec.withBoolMask) {
    std::bernoulli_distribution keep(options.maskKeepFraction);
    in.boolMask.resize(numElements(spec.scoreShape()));
    for (uint8_t &m : in.boolMask)
      m = keep(rng);
  }
  return in;
}

/// What the reference and the tolerance read under options.computeType:
/// the spec in that type and the inputs the program computes on (Q, K, V,
/// O and dO rounded to it, as attn-round-f32-inputs rounds them; the score
/// operands and the LSE keep their types). Without it, the spec and inputs
/// as given.
static std::pair<AttentionSpec, ReferenceInputs>
asComputed(const AttentionSpec &spec, const ReferenceInputs &in,
           const NumericCheckOptions &options) {
  if (!options.computeType)
    return {spec, in};
  ElementKind kind = *options.computeType;
  AttentionSpec computed = spec;
  computed.elementType = kind;
  ReferenceInputs rounded = in;
  for (std::vector<double> *values :
       {&rounded.query, &rounded.key, &rounded.value, &rounded.output,
        &rounded.gradOutput})
    for (double &x : *values)
      x = roundToElementKind(kind, x);
  return {computed, rounded};
}

/// The backward spec: random Q, K, V, dO; O and LSE from the float64 forward
/// reference, rounded to the formats the op takes them in (so the compiled
/// backward and the reference backward see the same operands); gradients
/// against referenceAttentionBackward under deriveGradientTolerance.
static llvm::Expected<NumericReport>
checkBackwardAgainstReference(MLIRContext &ctx, const AttentionSpec &given,
                              const NumericCheckOptions &options) {
  AttentionSpec spec = withF32Sinks(given);
  auto exe = compileForCheck(ctx, spec, options);
  if (!exe)
    return exe.takeError();

  std::mt19937_64 rng(options.seed);
  ElementKind kind = spec.elementType;
  ReferenceInputs in = randomInputs(rng, spec, options);
  in.gradOutput = randomTensor(rng, spec.outputShape(), kind);
  ReferenceResult forward = referenceAttention(spec, in);
  for (double &o : forward.output)
    o = roundToElementKind(kind, o);
  for (double &l : forward.lse)
    l = roundToElementKind(spec.lseElementType(), l);
  in.output = std::move(forward.output);
  in.lse = std::move(forward.lse);
  // The LSE's gradient, of the LSE's type (on rows that saw no key any
  // value gives zero gradients: P is 0 there).
  if (spec.withLseGradient)
    in.gradLse = randomTensor(rng, spec.lseShape(), spec.lseElementType());

  std::vector<std::vector<uint8_t>> storage;
  SmallVector<HostBuffer> buffers;
  storage.reserve(17);
  auto addBuffer = [&](ElementKind k, ArrayRef<int64_t> shape,
                       std::vector<uint8_t> bytes) {
    storage.push_back(std::move(bytes));
    buffers.push_back({k, llvm::to_vector(shape), storage.back().data(),
                       storage.back().size()});
  };
  addBuffer(kind, spec.queryShape(), encodeElements(kind, in.query));
  addBuffer(kind, spec.keyShape(), encodeElements(kind, in.key));
  addBuffer(kind, spec.valueShape(), encodeElements(kind, in.value));
  addBuffer(kind, spec.outputShape(), encodeElements(kind, in.output));
  addBuffer(kind, spec.outputShape(), encodeElements(kind, in.gradOutput));
  addBuffer(spec.lseElementType(), spec.lseShape(),
            encodeElements(spec.lseElementType(), in.lse));
  if (spec.withBias)
    addBuffer(kind, spec.biasShape(), encodeElements(kind, in.bias));
  if (spec.withBoolMask)
    addBuffer(ElementKind::I1, spec.scoreShape(), in.boolMask);
  if (!spec.keyLengths.empty())
    addBuffer(ElementKind::I32, {spec.batch}, int32Bytes(spec.keyLengths));
  addSinksBuffer(spec, addBuffer);
  if (spec.isVarlen())
    for (const std::vector<int64_t> *cu : {&spec.cuSeqlensQ, &spec.cuSeqlensK})
      addBuffer(ElementKind::I32, {static_cast<int64_t>(cu->size())},
                int32Bytes(*cu));
  if (spec.withLseGradient)
    addBuffer(spec.lseElementType(), spec.lseShape(),
              encodeElements(spec.lseElementType(), in.gradLse));
  // Gradients start as NaN so that an element never written fails; the
  // sinks' gradient is f32 like the sinks.
  size_t firstGradient = buffers.size();
  SmallVector<std::pair<ElementKind, SmallVector<int64_t>>> gradShapes = {
      {kind, spec.queryShape()},
      {kind, spec.keyShape()},
      {kind, spec.valueShape()}};
  if (spec.withBias && spec.withBiasGradient)
    gradShapes.push_back({kind, spec.biasShape()});
  if (!spec.sinks.empty())
    gradShapes.push_back({ElementKind::F32, {spec.numQueryHeads}});
  for (auto &[k, shape] : gradShapes)
    addBuffer(k, shape,
              encodeElements(k, std::vector<double>(numElements(shape),
                                                    std::nan(""))));
  if (llvm::Error err = (*exe)->invoke(buffers))
    return std::move(err);

  auto [computedSpec, computedIn] = asComputed(spec, in, options);
  ReferenceGradients ref = referenceAttentionBackward(computedSpec, computedIn);
  GradientTolerance tol = deriveGradientTolerance(
      computedSpec, computedIn, ref,
      accumulatesInF64(spec, options)
          ? std::nullopt
          : std::optional<ElementKind>(ElementKind::F32),
      options.roundedP);
  NumericReport report;
  SmallVector<std::tuple<StringRef, const std::vector<double> *, double>> want =
      {{"dQ", &ref.query, tol.query},
       {"dK", &ref.key, tol.key},
       {"dV", &ref.value, tol.value}};
  if (spec.withBias && spec.withBiasGradient)
    want.push_back({"d_bias", &ref.bias, tol.bias});
  if (!spec.sinks.empty())
    want.push_back({"d_sinks", &ref.sinks, tol.sinks});
  for (auto [index, entry] : llvm::enumerate(want)) {
    auto [name, expected, tolerance] = entry;
    std::vector<double> got = decodeElements(
        gradShapes[index].first, storage[firstGradient + index]);
    NumericReport::Gradient g{name.str(), 0.0, tolerance};
    for (auto [x, y] : llvm::zip(got, *expected)) {
      if (!std::isfinite(x)) {
        ++report.badSpecials;
        continue;
      }
      g.maxError = std::max(g.maxError, std::fabs(x - y));
      report.maxReferenceMagnitude =
          std::max(report.maxReferenceMagnitude, std::fabs(y));
    }
    report.outputElements += got.size();
    report.gradients.push_back(g);
  }
  return report;
}

llvm::Expected<NumericReport>
mlir::attn::checkAgainstReference(MLIRContext &ctx, const AttentionSpec &given,
                                  const NumericCheckOptions &options) {
  if (given.backward)
    return checkBackwardAgainstReference(ctx, given, options);
  AttentionSpec spec = withF32Sinks(given);
  if (spec.pageSize > 0 &&
      spec.poolPages() < spec.kvBatch() * spec.pagesPerSequence())
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the numeric check fills every cache to capacity: expected a page "
        "pool of at least %lld pages, got %lld",
        static_cast<long long>(spec.kvBatch() * spec.pagesPerSequence()),
        static_cast<long long>(spec.poolPages()));
  auto exe = compileForCheck(ctx, spec, options);
  if (!exe)
    return exe.takeError();

  std::mt19937_64 rng(options.seed);
  ElementKind kind = spec.elementType;
  ReferenceInputs in = randomInputs(rng, spec, options);

  std::vector<std::vector<uint8_t>> storage;
  SmallVector<HostBuffer> buffers;
  auto addBuffer = [&](ElementKind k, ArrayRef<int64_t> shape,
                       std::vector<uint8_t> bytes) {
    storage.push_back(std::move(bytes));
    buffers.push_back({k, llvm::to_vector(shape), storage.back().data(),
                       storage.back().size()});
  };
  storage.reserve(12);
  addBuffer(kind, spec.queryShape(), encodeElements(kind, in.query));
  if (spec.pageSize > 0) {
    PagedKV paged = scatterToPages(spec, in, rng);
    addBuffer(kind, spec.keyPagesShape(), encodeElements(kind, paged.key));
    if (!spec.sharedKV)
      addBuffer(kind, spec.valuePagesShape(),
                encodeElements(kind, paged.value));
    std::vector<uint8_t> table(paged.blockTable.size() * sizeof(int32_t));
    std::memcpy(table.data(), paged.blockTable.data(), table.size());
    addBuffer(ElementKind::I32, spec.blockTableShape(), std::move(table));
  } else if (spec.appendTokens > 0) {
    AppendedKV split = splitAppended(spec, in, rng);
    SmallVector<int64_t> kNew = spec.keyShape(), vNew = spec.valueShape();
    kNew[2] = vNew[2] = spec.appendTokens;
    addBuffer(kind, spec.keyShape(), encodeElements(kind, split.keyCache));
    addBuffer(kind, spec.valueShape(), encodeElements(kind, split.valueCache));
    addBuffer(kind, kNew, encodeElements(kind, split.keyNew));
    addBuffer(kind, vNew, encodeElements(kind, split.valueNew));
    std::vector<uint8_t> bytes(split.positions.size() * sizeof(int32_t));
    std::memcpy(bytes.data(), split.positions.data(), bytes.size());
    addBuffer(ElementKind::I32, {spec.batch}, std::move(bytes));
  } else {
    addBuffer(kind, spec.keyShape(), encodeElements(kind, in.key));
    if (!spec.sharedKV)
      addBuffer(kind, spec.valueShape(), encodeElements(kind, in.value));
  }
  if (spec.withBias)
    addBuffer(kind, spec.biasShape(), encodeElements(kind, in.bias));
  if (spec.withBoolMask)
    addBuffer(ElementKind::I1, spec.scoreShape(), in.boolMask);
  if (!spec.keyLengths.empty()) {
    std::vector<int32_t> lengths(spec.keyLengths.begin(),
                                 spec.keyLengths.end());
    std::vector<uint8_t> bytes(lengths.size() * sizeof(int32_t));
    std::memcpy(bytes.data(), lengths.data(), bytes.size());
    addBuffer(ElementKind::I32, {spec.kvBatch()}, std::move(bytes));
  }
  // cu_seqlens_k is empty over caches: no operand.
  for (const std::vector<int64_t> *cu : {&spec.cuSeqlensQ, &spec.cuSeqlensK})
    if (spec.isVarlen() && !cu->empty())
      addBuffer(ElementKind::I32, {static_cast<int64_t>(cu->size())},
                int32Bytes(*cu));
  addSinksBuffer(spec, addBuffer);
  // Outputs start as NaN so that an element the kernel never writes fails.
  std::vector<double> nanOut(numElements(spec.outputShape()), std::nan(""));
  addBuffer(kind, spec.outputShape(), encodeElements(kind, nanOut));
  if (spec.withLse) {
    std::vector<double> nanLse(numElements(spec.lseShape()), std::nan(""));
    addBuffer(spec.lseElementType(), spec.lseShape(),
              encodeElements(spec.lseElementType(), nanLse));
  }
  if (llvm::Error err = (*exe)->invoke(buffers))
    return std::move(err);

  auto [computedSpec, computedIn] = asComputed(spec, in, options);
  ReferenceResult ref = referenceAttention(computedSpec, computedIn);
  Tolerance tol =
      deriveTolerance(computedSpec, computedIn,
                      accumulatesInF64(spec, options)
                          ? std::nullopt
                          : std::optional<ElementKind>(ElementKind::F32),
                      options.roundedP);

  NumericReport report;
  if (spec.appendTokens > 0) {
    // The caches (buffers 1 and 2) now hold every sequence's tokens: the
    // dense K/V exactly, stale rows overwritten.
    auto countMismatches = [&](const std::vector<uint8_t> &got,
                               const std::vector<double> &dense) {
      std::vector<uint8_t> want = encodeElements(kind, dense);
      int64_t bad = std::abs(static_cast<int64_t>(got.size()) -
                             static_cast<int64_t>(want.size()));
      for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
        bad += got[i] != want[i];
      return bad;
    };
    report.cacheMismatches = countMismatches(storage[1], in.key) +
                             countMismatches(storage[2], in.value);
  }
  report.outputTolerance = tol.output;
  report.lseTolerance = tol.lse;
  size_t outIndex = buffers.size() - (spec.withLse ? 2 : 1);
  std::vector<double> out = decodeElements(kind, storage[outIndex]);
  report.outputElements = out.size();
  for (auto [got, want] : llvm::zip(out, ref.output)) {
    if (std::isnan(got)) {
      ++report.badSpecials;
      continue;
    }
    report.maxOutputError =
        std::max(report.maxOutputError, std::fabs(got - want));
    report.maxReferenceMagnitude =
        std::max(report.maxReferenceMagnitude, std::fabs(want));
  }
  if (spec.withLse) {
    std::vector<double> lse =
        decodeElements(spec.lseElementType(), storage[outIndex + 1]);
    for (auto [got, want] : llvm::zip(lse, ref.lse)) {
      if (std::isnan(got) || std::isinf(got) != std::isinf(want)) {
        ++report.badSpecials;
        continue;
      }
      if (!std::isinf(want))
        report.maxLseError =
            std::max(report.maxLseError, std::fabs(got - want));
    }
  }
  return report;
}
