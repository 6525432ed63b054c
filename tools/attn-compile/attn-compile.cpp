//===- attn-compile.cpp - attention spec in, compiled kernel out ----------===//
//
// Part of attn-mlir. Takes an attention spec (flags) or a .mlir file, runs it
// through the compiler's pipeline and prints what each stage did: the pass,
// its time and the operations it left behind. With --run-cpu it also executes
// the result on the CPU against the float64 reference.
//
//===----------------------------------------------------------------------===//

#include "Flags.h"
#include "UpstreamGuards.h"
#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Analysis/CostReport.h"
#include "attn/Execution/CpuRunner.h"
#include "attn/Execution/NumericCheck.h"
#include "attn/InitAll.h"
#include "attn/Spec/AttentionSpec.h"
#include "attn/Target/PtxCompiler.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

using namespace mlir;
using namespace mlir::attn;
namespace cl = llvm::cl;
using namespace attn_compile;

static LogicalResult printOptionError(const Twine &message) {
  llvm::errs() << "error: " << message << "\n";
  return failure();
}

/// The options of --convert-attn-to-nvvm / --attn-tile, parsed by the pass.
static FailureOr<ConvertAttnToNVVMOptions> getLoweringOptions() {
  ConvertAttnToNVVMOptions options;
  if (failed(parseConvertAttnToNVVMOptions(llvm::join(nvvmOptions, " "),
                                           options, printOptionError)))
    return failure();
  return options;
}
static FailureOr<AttnTileOptions> getTileOptions() {
  AttnTileOptions options;
  if (failed(parseAttnTileOptions(llvm::join(tileOptions, " "), options,
                                  printOptionError)))
    return failure();
  return options;
}

//===----------------------------------------------------------------------===//
// Flag validation: every flag in its range before anything is built, so that
// no value reaches an allocation, a shape or index math unchecked.
//===----------------------------------------------------------------------===//

/// Checks one integer flag against [min, max]; prints the flag, its range and
/// the value.
static bool checkFlagRange(const cl::opt<int64_t> &flag, int64_t min,
                           int64_t max) {
  if (flag >= min && flag <= max)
    return true;
  llvm::errs() << "error: expected --" << flag.ArgStr << " in [" << min << ", "
               << max << "], got " << flag.getValue() << "\n";
  return false;
}

/// --run-cpu holds every operand as float64 for the reference (and, without
/// --flash, the JIT code the whole [B, Hq, Lq, Lk] score matrix): bound them
/// so that the run fits this kind of machine instead of failing to allocate.
static bool checkCpuRunSize() {
  constexpr int64_t maxElements = int64_t(1) << 28;
  auto product = [](std::initializer_list<int64_t> extents) {
    std::optional<int64_t> n = 1;
    for (int64_t e : extents)
      if (n)
        n = llvm::checkedMul(*n, e);
    return n.value_or(std::numeric_limits<int64_t>::max());
  };
  const std::pair<StringRef, int64_t> sizes[] = {
      {"B * Hq * Lq * D (query)", product({batch, headsQ, seqQ, headDim})},
      {"B * Hkv * Lk * D (keys)", product({batch, headsKV, seqK, headDim})},
      {"B * Hkv * Lk * Dv (values)",
       product({batch, headsKV, seqK, valueHeadDim ? valueHeadDim : headDim})},
      {"B * Hq * Lq * Lk (scores, --flash=false)",
       flash ? 0 : product({batch, headsQ, seqQ, seqK})},
  };
  for (auto [name, n] : sizes)
    if (n > maxElements) {
      llvm::errs() << "error: expected " << name << " <= 2^28 elements with "
                   << "--run-cpu, got " << n << "\n";
      return false;
    }
  return true;
}

static bool validateFlags() {
  // Extents are bounded so that building the spec (e.g. one key length per
  // batch entry) stays cheap; their products are checked by
  // verifyAttentionSpec, the GPU options by checkGpuLoweringOptions.
  constexpr int64_t maxLength = (int64_t(1) << 31) - 1;
  bool ok = checkFlagRange(batch, 1, 1 << 16) &&
            checkFlagRange(headsQ, 1, 1 << 16) &&
            checkFlagRange(headsKV, 1, 1 << 16) &&
            checkFlagRange(seqQ, 1, maxLength) &&
            checkFlagRange(seqK, 1, maxLength) &&
            checkFlagRange(headDim, 1, 1 << 16) &&
            checkFlagRange(valueHeadDim, 0, 1 << 16) &&
            checkFlagRange(windowLeft, 0, maxLength) &&
            checkFlagRange(windowRight, 0, maxLength) &&
            checkFlagRange(pageSize, 0, maxLength) &&
            checkFlagRange(appendTokens, 0, maxLength) &&
            checkFlagRange(numPages, 0, int64_t(1) << 31);
  // --attn-tile and --convert-attn-to-nvvm are checked by the passes' own
  // parsers and option checks (attn-tile, checkGpuLoweringOptions).
  if (!ok)
    return false;
  if (!std::isfinite(softcap) || softcap < 0.0) {
    llvm::errs() << "error: expected --softcap of 0 (off) or a finite "
                    "positive value, got "
                 << softcap.getValue() << "\n";
    return false;
  }
  if (target != "cpu" && target != "ptx") {
    llvm::errs() << "error: unknown --target '" << target
                 << "' (expected cpu or ptx)\n";
    return false;
  }
  if (backward && target != "ptx") {
    llvm::errs() << "error: expected --target=ptx with --backward (the CPU "
                    "backward runs through attn-opt and the Python package)\n";
    return false;
  }
  if (deterministic && !backward) {
    llvm::errs() << "error: expected --backward with --deterministic\n";
    return false;
  }
  if (runCpu && !checkCpuRunSize())
    return false;
  for (const std::string &arch : cubinArchs)
    if (arch != "none" && !llvm::Regex("^sm_[0-9]+[af]?$").match(arch)) {
      llvm::errs() << "error: expected --cubin-arch of the form sm_<N>[a|f] "
                      "or none, got '"
                   << arch << "'\n";
      return false;
    }
  if (target == "ptx")
    if (llvm::Error error = checkGpuChip(chip, ptxFeatures)) {
      llvm::errs() << "error: --chip/--ptx-features: "
                   << llvm::toString(std::move(error)) << "\n";
      return false;
    }
  return true;
}

/// attn-tile, attn-fuse-online-softmax, attn-lower-precision, per the flags.
static void addFlashPasses(OpPassManager &pm, const AttnTileOptions &tile) {
  if (!flash)
    return;
  if (splitVarlen)
    pm.addPass(createAttnSplitVarlen());
  pm.addPass(createAttnTile(tile));
  pm.addPass(createAttnFuseOnlineSoftmax());
  pm.addPass(createAttnLowerPrecision());
}

/// Fills spec.sinks from --sinks; the spec's verifier checks the count.
static LogicalResult parseSinks(AttentionSpec &spec) {
  if (sinks.empty())
    return success();
  int64_t total = spec.totalQueryHeads();
  if (sinks == "random") {
    std::mt19937_64 rng(0x5171c5);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (int64_t h = 0; h < total; ++h)
      spec.sinks.push_back(normal(rng));
    return success();
  }
  SmallVector<StringRef> parts;
  StringRef(sinks).split(parts, ',');
  for (StringRef part : parts) {
    double value = 0.0;
    if (part.trim().getAsDouble(value) || !std::isfinite(value)) {
      llvm::errs() << "error: expected --sinks to be 'random' or finite "
                      "numbers separated by commas, got '"
                   << sinks << "'\n";
      return failure();
    }
    spec.sinks.push_back(value);
  }
  if (spec.sinks.size() == 1)
    spec.sinks.assign(total, spec.sinks.front());
  return success();
}

/// Fills the varlen part of `spec` from --varlen (q[:k] per sequence); the
/// packed totals become Lq and Lk (Lk at least 1, a spec's minimum). With
/// --key-lengths the keys are per-sequence caches instead (decode): k is
/// sequence n's key_lengths entry and Lk the caches' capacity, --seq-k or
/// the longest k (rounded up to --page-size).
static LogicalResult parseVarlen(AttentionSpec &spec) {
  if (varlen.empty())
    return success();
  bool caches = keyLengths;
  for (const cl::Option *flag : {static_cast<const cl::Option *>(&batch),
                                 static_cast<const cl::Option *>(&seqQ),
                                 static_cast<const cl::Option *>(&seqK),
                                 static_cast<const cl::Option *>(&bshd)})
    if (flag->getNumOccurrences() && !(caches && flag == &seqK)) {
      llvm::errs() << "error: expected no --" << flag->ArgStr
                   << " with --varlen (the packed batch sets it)\n";
      return failure();
    }
  spec.cuSeqlensQ = {0};
  spec.cuSeqlensK = {0};
  for (StringRef entry : varlen) {
    auto [q, k] = StringRef(entry).split(':');
    int64_t lq = 0, lk = 0;
    bool bad = q.getAsInteger(10, lq);
    lk = lq;
    if (!k.empty())
      bad |= k.getAsInteger(10, lk);
    if (bad || lq < 0 || lk < 0 || lq > (1 << 30) || lk > (1 << 30)) {
      llvm::errs() << "error: expected --varlen entries q[:k] of lengths in "
                      "[0, 2^30], got '"
                   << entry << "'\n";
      return failure();
    }
    spec.cuSeqlensQ.push_back(spec.cuSeqlensQ.back() + lq);
    spec.cuSeqlensK.push_back(spec.cuSeqlensK.back() + lk);
  }
  spec.batch = 1;
  spec.layout = Layout::BSHD;
  spec.queryLength = spec.cuSeqlensQ.back();
  spec.keyLength = std::max<int64_t>(1, spec.cuSeqlensK.back());
  if (caches) {
    // cu_seqlens_k's entries are the caches' fill levels.
    spec.keyLengths.clear();
    for (size_t n = 0; n + 1 < spec.cuSeqlensK.size(); ++n)
      spec.keyLengths.push_back(spec.cuSeqlensK[n + 1] - spec.cuSeqlensK[n]);
    spec.cuSeqlensK.clear();
    int64_t longest = std::max<int64_t>(
        1, *std::max_element(spec.keyLengths.begin(), spec.keyLengths.end()));
    int64_t page = std::max<int64_t>(1, pageSize);
    spec.keyLength = seqK.getNumOccurrences()
                         ? static_cast<int64_t>(seqK)
                         : (longest + page - 1) / page * page;
  }
  return success();
}

static FailureOr<AttentionSpec> specFromFlags() {
  AttentionSpec spec;
  spec.batch = batch;
  spec.numQueryHeads = headsQ;
  spec.numKVHeads = headsKV;
  spec.queryLength = seqQ;
  spec.keyLength = seqK;
  spec.headDim = headDim;
  spec.valueHeadDim = valueHeadDim;
  spec.withLse = withLse;
  spec.backward = backward;
  spec.withBiasGradient = biasGrad;
  spec.withLseGradient = lseGrad;
  spec.layout = bshd ? Layout::BSHD : Layout::BHSD;
  spec.pageSize = pageSize;
  spec.appendTokens = appendTokens;
  spec.numPages = numPages;
  spec.sharedKV = sharedKV;
  if (keyLengths)
    for (int64_t b = 0; b < spec.batch; ++b)
      spec.keyLengths.push_back(std::max<int64_t>(1, spec.keyLength - b));
  for (const std::string &dim : dynamicDims) {
    bool *flag = llvm::StringSwitch<bool *>(dim)
                     .Case("batch", &spec.dynamicBatch)
                     .Case("seq-q", &spec.dynamicQueryLength)
                     .Case("seq-k", &spec.dynamicKeyLength)
                     .Default(nullptr);
    if (!flag) {
      llvm::errs() << "error: unknown --dynamic dim '" << dim
                   << "' (expected batch, seq-q or seq-k)\n";
      return failure();
    }
    *flag = true;
  }
  std::optional<ElementKind> kind = parseElementKind(dtype);
  if (!kind || *kind == ElementKind::I1) {
    llvm::errs() << "error: unknown --dtype '" << dtype
                 << "' (expected f32, f16 or bf16)\n";
    return failure();
  }
  spec.elementType = *kind;
  std::optional<MaskKind> maskKind =
      llvm::StringSwitch<std::optional<MaskKind>>(mask)
          .Case("none", MaskKind::None)
          .Cases({"causal", "causal-bottom-right"}, MaskKind::CausalBottomRight)
          .Case("causal-top-left", MaskKind::CausalTopLeft)
          .Case("sliding-window", MaskKind::SlidingWindow)
          .Default(std::nullopt);
  if (!maskKind) {
    llvm::errs() << "error: unknown --mask '" << mask << "'\n";
    return failure();
  }
  spec.maskKind = *maskKind;
  spec.windowLeft = windowLeft;
  spec.windowRight = windowRight;
  if (softcap != 0.0)
    spec.softcap = softcap;
  std::optional<ScoreModKind> modKind =
      llvm::StringSwitch<std::optional<ScoreModKind>>(scoreMod)
          .Case("none", ScoreModKind::None)
          .Case("relative-bias", ScoreModKind::RelativeBias)
          .Case("tanh-cap", ScoreModKind::TanhCap)
          .Case("head-relative-bias", ScoreModKind::HeadRelativeBias)
          .Default(std::nullopt);
  if (!modKind) {
    llvm::errs() << "error: unknown --score-mod '" << scoreMod << "'\n";
    return failure();
  }
  spec.scoreMod = *modKind;
  if (maskMod != "none" && maskMod != "prefix-lm") {
    llvm::errs() << "error: unknown --mask-mod '" << maskMod << "'\n";
    return failure();
  }
  spec.maskMod =
      maskMod == "prefix-lm" ? MaskModKind::PrefixLM : MaskModKind::None;
  spec.withBias = bias;
  for (const std::string &axis : biasBroadcast) {
    int bit = llvm::StringSwitch<int>(axis)
                  .Case("batch", 0)
                  .Case("heads", 1)
                  .Case("query", 2)
                  .Case("key", 3)
                  .Default(-1);
    if (bit < 0 || !bias) {
      llvm::errs() << "error: expected --bias-broadcast of batch, heads, "
                      "query or key with --bias, got '"
                   << axis << "'\n";
      return failure();
    }
    spec.biasBroadcast |= 1u << bit;
  }
  spec.withBoolMask = boolMask;
  if (failed(parseVarlen(spec)))
    return failure();
  // The op's verifier checks the shard's bounds and group alignment.
  spec.headOffset = headOffset;
  spec.numHeadsTotal = headsTotal;
  if (failed(parseSinks(spec)))
    return failure();
  if (alibi) {
    // The geometric slopes of the ALiBi paper (exact for power-of-2 heads),
    // over the whole attention's heads: a shard indexes them globally.
    int64_t total = spec.totalQueryHeads();
    for (int64_t h = 0; h < total; ++h)
      spec.alibiSlopes.push_back(
          std::exp2(-8.0 * static_cast<double>(h + 1) / total));
  }
  return spec;
}

/// "linalg.generic x7, arith.mulf x3, ..." for the most frequent ops.
static std::string summarizeOps(const std::map<std::string, int64_t> &counts) {
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(),
                                                      counts.end());
  // Most frequent first; ties by name so the report is deterministic.
  llvm::sort(sorted, [](auto &a, auto &b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::string text;
  int64_t total = 0;
  for (auto &[name, n] : sorted)
    total += n;
  text = llvm::formatv("{0,5} ops:", total).str();
  for (size_t i = 0; i < sorted.size() && i < 4; ++i)
    text += llvm::formatv(" {0} x{1}", sorted[i].first, sorted[i].second).str();
  return text;
}

static bool writeFile(StringRef path, StringRef contents) {
  std::string error;
  auto out = openOutputFile(path, &error);
  if (!out) {
    llvm::errs() << "error: " << error << "\n";
    return false;
  }
  out->os() << contents;
  out->keep();
  return true;
}

/// The GPU of the report and the manifests' cost figures.
static std::string getCostGpu() {
  if (!costGpu.empty())
    return costGpu;
  if (target == "ptx")
    if (const GpuSpec *gpu = lookupGpuForChip(chip))
      return gpu->name.str();
  return "h100-sxm";
}

/// The GPU lowering's options: --convert-attn-to-nvvm's, for --chip, with
/// tile-model=auto tiling for the GPU --gpu names when it names one (the
/// chip alone cannot tell an H100 from an H200).
static FailureOr<ConvertAttnToNVVMOptions> getGpuLoweringOptions() {
  FailureOr<ConvertAttnToNVVMOptions> options = getLoweringOptions();
  if (failed(options))
    return failure();
  options->chip = chip;
  if (options->tileModel == "auto" && !costGpu.empty())
    options->tileModel = costGpu;
  return options;
}

/// The backward kernels' options (attn-plan-gpu-backward's) from the flags.
/// One tile model for the forward and the backward kernels; chip and
/// features as the PTX compiler gives them to the pass.
static AttnPlanGpuBackwardOptions
getBackwardLoweringOptions(const ConvertAttnToNVVMOptions &lowering) {
  AttnPlanGpuBackwardOptions backward;
  backward.deterministic = deterministic;
  backward.dqReduction = dqReduction;
  backward.rotateQBlocks = rotateQBlocks;
  backward.squareWarpTiles = bwdSquareWarpTiles;
  backward.dqWarpRows = bwdDQWarpRows;
  backward.blockM = bwdBlockM;
  backward.blockN = bwdBlockN;
  backward.kernel = bwdKernel;
  backward.dqBlockM = dqBlockM;
  backward.tileModel = lowering.tileModel;
  backward.chip = chip;
  backward.ptxFeatures = ptxFeatures;
  return backward;
}

/// Where the lines before the stages go: nowhere when the JSON report
/// takes stdout, so that stdout is exactly the JSON.
static llvm::raw_ostream &summary() {
  bool jsonOnStdout = costReport == "json" && costReportFile.empty();
  return jsonOnStdout ? llvm::nulls() : llvm::outs();
}

/// Prints (or writes) the cost report of `module`. Returns an exit code
/// when the tool should stop (JSON on stdout, or an error in JSON mode).
static std::optional<int> reportCost(ModuleOp module) {
  if (costReport == "none")
    return std::nullopt;
  bool json = costReport == "json";
  if (!json && costReport != "text") {
    llvm::errs() << "error: unknown --report '" << costReport
                 << "' (expected text, json or none)\n";
    return 1;
  }
  CostReportOptions options;
  options.gpu = getCostGpu();
  bool ptx = target == "ptx";
  options.gpuKernel = ptx;
  options.deterministicBackward = deterministic;
  FailureOr<ConvertAttnToNVVMOptions> lowering = getGpuLoweringOptions();
  FailureOr<AttnTileOptions> tile = getTileOptions();
  if (failed(lowering) || failed(tile))
    return 1;
  options.schedule.blockM = ptx ? lowering->blockM : tile->blockM;
  options.schedule.blockN = ptx ? lowering->blockN : tile->blockN;
  // On the GPU num-splits=0 (the default) means "the decode kernel
  // chooses", which the cost model does as well.
  options.schedule.numSplits =
      ptx ? std::max<int64_t>(lowering->numSplits, 1) : tile->numSplits;
  options.splitsGiven = ptx ? lowering->numSplits > 0 : tile->numSplits != 1;
  // On the GPU the report shows the kernels as attn-plan-gpu-kernels plans
  // them (the module is already in the GPU path's memref form): one
  // decision for the kernel, its manifest and this report.
  if (ptx) {
    options.planGpuKernel = [lowering = *lowering](AttentionOp op) {
      return planGpuKernel(op, lowering);
    };
    // The backward too: its figures on the tiles its kernels get.
    options.planBackward = [backward = getBackwardLoweringOptions(*lowering)](
                               AttentionBackwardOp op) {
      return planBackwardSchedule(op, backward);
    };
  }
  TransformerOverrides model{modelName,  modelHidden,  modelLayers,
                             modelFfn,   modelHeads,   modelKVHeads,
                             modelVocab, modelSwiglu};
  std::string error;
  options.model = resolveTransformerConfig(model, error);
  options.modelBatch = batch;
  options.modelContext = modelContext ? modelContext : seqK;
  std::optional<ElementKind> kind = parseElementKind(dtype);
  options.kvElementBytes = kind ? getElementByteSize(*kind) : 2;
  // In text mode the report must not stop a compile: its errors become a
  // note.
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
    return success();
  });
  FailureOr<CostReport> report = failure();
  // The planner takes options the GPU lowering has checked (the compile
  // states their errors again, with its own exit code).
  if (error.empty() &&
      (!ptx || succeeded(checkGpuLowering(module, *lowering))))
    report = buildCostReport(module, options);
  if (failed(report)) {
    std::string why = error.empty() ? diagnostics : error;
    if (json) {
      llvm::errs() << "error: " << why << "\n";
      return 1;
    }
    llvm::outs() << "cost: not available: " << why << "\n";
    return std::nullopt;
  }
  if (!json) {
    printCostReport(*report, llvm::outs());
    return std::nullopt;
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", costReportToJson(*report)) << "\n";
  if (costReportFile.empty()) {
    llvm::outs() << text;
    return 0;
  }
  if (!writeFile(costReportFile, text))
    return 1;
  printCostReport(*report, llvm::outs());
  return std::nullopt;
}

/// --target=ptx: spec -> PTX (+ cubins, manifest), one line per stage.
static int64_t countAttention(ModuleOp module) {
  int64_t n = 0;
  module.walk([&](AttentionOp) { ++n; });
  return n;
}

static int compileForGpu(ModuleOp module,
                         std::chrono::steady_clock::time_point start) {
  PtxCompileOptions options;
  options.chip = chip;
  FailureOr<ConvertAttnToNVVMOptions> lowering = getGpuLoweringOptions();
  if (failed(lowering))
    return 1;
  options.lowering = *lowering;
  options.backward = getBackwardLoweringOptions(*lowering);
  options.features = ptxFeatures;
  options.recordStageIR = printStageIR;
  // The manifest's cost figures are for the GPU the report names.
  options.costGpu = getCostGpu();
  if (failed(checkGpuLoweringOptions(options.lowering, module)))
    return 1;
  options.cubinArchs = defaultCubinArchs(options.chip);
  if (!cubinArchs.empty()) {
    options.cubinArchs.clear();
    for (const std::string &arch : cubinArchs)
      if (arch != "none")
        options.cubinArchs.push_back(arch);
  }
  llvm::outs() << llvm::formatv("stage  0 {0,-36}            {1} "
                                "attn.attention\n",
                                "attn IR (input)", countAttention(module));
  auto artifacts = compileToPtx(module, options);
  if (!artifacts) {
    llvm::errs() << "error: " << llvm::toString(artifacts.takeError()) << "\n";
    return 1;
  }
  double toPtx = 0;
  for (auto [i, stage] : llvm::enumerate(artifacts->stages)) {
    if (!StringRef(stage.name).starts_with("ptxas"))
      toPtx += stage.seconds;
    llvm::outs() << llvm::formatv(
        "stage {0,2} {1,-36} {2,7:f2} ms {3}\n", i + 1, stage.name,
        stage.seconds * 1e3,
        stage.note.empty() ? summarizeOps(stage.opCounts) : stage.note);
    if (printStageIR)
      llvm::outs() << stage.irAfter << "\n";
  }
  const KernelManifest &m = artifacts->manifest;
  for (const KernelManifest &k : artifacts->manifests)
    llvm::outs() << llvm::formatv(
        "kernel {0}: grid [{1}, {2}, {3}] block [{4}, 1, 1] smem {5} bytes\n",
        k.symbol, k.grid[0], k.grid[1], k.grid[2], k.block[0],
        k.sharedMemoryBytes);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  llvm::outs() << llvm::formatv(
      "target: ptx ({0}), spec -> PTX in {1:f3} s, total {2:f3} s\n", chip,
      toPtx, seconds);
  if (artifacts->cubins.empty() && !options.cubinArchs.empty())
    llvm::outs() << "note: no ptxas found (CUDA_HOME, /usr/local/cuda): no "
                    "cubins\n";
  if (printPtx)
    llvm::outs() << artifacts->ptx << "\n" << m.toJson() << "\n";
  if (outputFile.empty())
    return 0;
  if (!writeFile(outputFile + ".ptx", artifacts->ptx) ||
      !writeFile(outputFile + ".json", m.toJson() + "\n"))
    return 1;
  // Later kernels of a multi-kernel program (the backward), in launch order.
  for (size_t i = 1; i < artifacts->manifests.size(); ++i)
    if (!writeFile(outputFile + "." + std::to_string(i) + ".json",
                   artifacts->manifests[i].toJson() + "\n"))
      return 1;
  for (auto &[arch, cubin] : artifacts->cubins)
    if (!writeFile(outputFile + "." + arch + ".cubin", cubin))
      return 1;
  llvm::outs() << "wrote " << outputFile << ".{ptx,json"
               << (artifacts->cubins.empty() ? "" : ",<arch>.cubin") << "}\n";
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  // Only this tool's options: LLVM's backend flags are noise here.
  cl::HideUnrelatedOptions(
      {&toolCategory, &specCategory, &flashCategory, &gpuCategory,
       &costCategory});
  cl::ParseCommandLineOptions(
      argc, argv,
      "attn-compile: compile an attention spec or .mlir file and report each "
      "stage\n");
  if (!validateFlags())
    return 1;

  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext ctx(registry);
  auto start = std::chrono::steady_clock::now();

  OwningOpRef<ModuleOp> module;
  std::optional<AttentionSpec> spec;
  if (!inputFile.empty()) {
    llvm::SourceMgr sourceMgr;
    SourceMgrDiagnosticHandler handler(sourceMgr, &ctx);
    std::string error;
    auto file = openInputFile(inputFile, &error);
    if (!file) {
      llvm::errs() << "error: " << error << "\n";
      return 1;
    }
    if (std::optional<std::string> crash =
            findKnownUpstreamCrash(file->getBuffer())) {
      llvm::errs() << inputFile << ":" << *crash << "\n";
      return 1;
    }
    sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    module = parseSourceFile<ModuleOp>(sourceMgr, &ctx);
    if (!module)
      return 1;
    summary() << "input: " << inputFile << "\n";
  } else {
    FailureOr<AttentionSpec> parsed = specFromFlags();
    if (failed(parsed))
      return 1;
    spec = *parsed;
    module = buildAttentionModule(&ctx, *spec);
    if (!module)
      return 1;
    summary() << "spec: " << spec->describe() << "\n";
  }

  std::string entryName = "attention";
  if (!inputFile.empty()) {
    // A file may name its entry anything; take its first function.
    if (!module->lookupSymbol("attention"))
      module->walk([&](func::FuncOp func) {
        if (entryName == "attention")
          entryName = func.getSymName().str();
      });
    // Importers write graphs on tensors; the runner and the kernel ABI take
    // every operand and result as a memref.
    auto entry = module->lookupSymbol<func::FuncOp>(entryName);
    auto isTensor = [](Type t) { return isa<TensorType>(t); };
    if (entry && (llvm::any_of(entry.getArgumentTypes(), isTensor) ||
                  llvm::any_of(entry.getResultTypes(), isTensor))) {
      if (failed(convertToMemrefEntry(*module, entryName))) {
        llvm::errs() << "error: @" << entryName
                     << " must take and return statically shaped tensors "
                        "(or memrefs)\n";
        return 1;
      }
      summary() << "entry: @" << entryName
                   << " converted from tensors to memref arguments\n";
    }
    // Graphs from importers hold attention as linalg ops: raise it first,
    // for either target.
    int64_t before = countAttention(*module);
    auto raiseStart = std::chrono::steady_clock::now();
    PassManager pm(&ctx);
    pm.addPass(createAttnRaise());
    if (failed(pm.run(*module)))
      return 1;
    double ms = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - raiseStart)
                    .count() *
                1e3;
    summary() << llvm::formatv("stage  r {0,-36} {1,7:f2} ms raised {2} "
                                  "attention op(s)\n",
                                  "attn-raise", ms,
                                  countAttention(*module) - before);
  }

  if (std::optional<int> rc = reportCost(*module))
    return *rc;
  if (target == "ptx")
    return compileForGpu(*module, start);

  FailureOr<AttnTileOptions> tile = getTileOptions();
  if (failed(tile))
    return 1;
  auto flashPasses = [&](OpPassManager &pm) { addFlashPasses(pm, *tile); };
  CpuCompileOptions options;
  options.entry = entryName;
  options.recordStages = true;
  // -o writes the IR of the last stage.
  options.recordStageIR = printStageIR || !outputFile.empty();
  // The FlashAttention steps, which the CPU executes as written.
  options.prePipeline = flashPasses;
  int64_t inputAttention = countAttention(*module);
  llvm::outs() << llvm::formatv("stage  0 {0,-36}            {1} "
                                "attn.attention in @{2}\n",
                                "attn IR (input)", inputAttention,
                                options.entry);
  auto exe = CpuExecutable::compile(*module, options);
  if (!exe) {
    llvm::errs() << "error: " << llvm::toString(exe.takeError()) << "\n";
    return 1;
  }
  for (auto [i, stage] : llvm::enumerate((*exe)->getStages())) {
    llvm::outs() << llvm::formatv("stage {0,2} {1,-36} {2,7:f2} ms {3}\n",
                                  i + 1, stage.pass, stage.seconds * 1e3,
                                  summarizeOps(stage.opCounts));
    if (printStageIR)
      llvm::outs() << stage.irAfter << "\n";
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  llvm::outs() << llvm::formatv(
      "target: cpu (LLVM JIT), compiled in {0:f3} s\n", seconds);

  if (!outputFile.empty() && !(*exe)->getStages().empty()) {
    std::string error;
    auto out = openOutputFile(outputFile, &error);
    if (!out) {
      llvm::errs() << "error: " << error << "\n";
      return 1;
    }
    out->os() << (*exe)->getStages().back().irAfter;
    out->keep();
  }

  if (runCpu) {
    if (!spec) {
      llvm::errs() << "error: --run-cpu needs a spec (flags), not a file\n";
      return 1;
    }
    NumericCheckOptions checkOptions;
    checkOptions.prePipeline = flashPasses;
    // attn-lower-precision rounds P to the input type before P.V.
    checkOptions.roundedP = flash && spec->elementType != ElementKind::F32;
    auto report = checkAgainstReference(ctx, *spec, checkOptions);
    if (!report) {
      llvm::errs() << "error: " << llvm::toString(report.takeError()) << "\n";
      return 1;
    }
    llvm::outs() << "cpu run vs float64 reference: " << report->summary()
                 << "\n";
    return report->passed() ? 0 : 2;
  }
  return 0;
}
