//===- Pipelines.cpp - C API of the attn passes and compilers -------------===//
//
// Part of attn-mlir. A thin layer over attn/Embedding/Embedding.h: C structs
// in, C++ options out; diagnostics go to the context's handlers unchanged.
//
//===----------------------------------------------------------------------===//

#include "attn-c/Pipelines.h"
#include "attn/Embedding/Embedding.h"
#include "attn/InitAll.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Support.h"
#include "mlir/IR/Diagnostics.h"

#include <memory>
#include <vector>

using namespace mlir;
using namespace mlir::attn;

static_assert(MlirAttnElementF32 == static_cast<int>(ElementKind::F32) &&
              MlirAttnElementF16 == static_cast<int>(ElementKind::F16) &&
              MlirAttnElementBF16 == static_cast<int>(ElementKind::BF16) &&
              MlirAttnElementI1 == static_cast<int>(ElementKind::I1) &&
              MlirAttnElementI32 == static_cast<int>(ElementKind::I32) &&
              MlirAttnElementF64 == static_cast<int>(ElementKind::F64));
static_assert(MlirAttnScoreModTanhCap ==
                  static_cast<int>(ScoreModKind::TanhCap) &&
              MlirAttnMaskModPrefixLM ==
                  static_cast<int>(MaskModKind::PrefixLM));

void mlirAttnRegisterPasses(void) { registerAttnPasses(); }

MlirStringRef mlirAttnGetVersion(void) { return wrap(getVersion()); }

//===----------------------------------------------------------------------===//
// Specs
//===----------------------------------------------------------------------===//

void mlirAttnSpecInit(MlirAttnSpec *spec) {
  AttentionSpec d;
  *spec = MlirAttnSpec{};
  spec->batch = d.batch;
  spec->numQueryHeads = d.numQueryHeads;
  spec->numKVHeads = d.numKVHeads;
  spec->queryLength = d.queryLength;
  spec->keyLength = d.keyLength;
  spec->headDim = d.headDim;
  spec->valueHeadDim = d.valueHeadDim;
  spec->elementType = static_cast<MlirAttnElementKind>(d.elementType);
  spec->layout = static_cast<MlirAttnLayout>(d.layout);
  spec->maskKind = static_cast<MlirAttnMaskKind>(d.maskKind);
  spec->windowLeft = d.windowLeft;
  spec->windowRight = d.windowRight;
  spec->withBias = d.withBias;
  spec->withBoolMask = d.withBoolMask;
  spec->withLse = d.withLse;
  spec->pageSize = d.pageSize;
  spec->appendTokens = d.appendTokens;
  spec->numPages = d.numPages;
  spec->backward = d.backward;
  spec->withBiasGradient = d.withBiasGradient;
  spec->sharedKV = d.sharedKV;
  spec->withLseGradient = d.withLseGradient;
  spec->dynamicBatch = d.dynamicBatch;
  spec->dynamicQueryLength = d.dynamicQueryLength;
  spec->dynamicKeyLength = d.dynamicKeyLength;
}

static AttentionSpec unwrap(const MlirAttnSpec &c) {
  AttentionSpec s;
  s.batch = c.batch;
  s.numQueryHeads = c.numQueryHeads;
  s.numKVHeads = c.numKVHeads;
  s.queryLength = c.queryLength;
  s.keyLength = c.keyLength;
  s.headDim = c.headDim;
  s.valueHeadDim = c.valueHeadDim;
  s.elementType = static_cast<ElementKind>(c.elementType);
  s.layout = static_cast<Layout>(c.layout);
  s.maskKind = static_cast<MaskKind>(c.maskKind);
  s.windowLeft = c.windowLeft;
  s.windowRight = c.windowRight;
  if (c.hasScale)
    s.scale = c.scale;
  if (c.hasSoftcap)
    s.softcap = c.softcap;
  if (c.alibiSlopes)
    s.alibiSlopes.assign(c.alibiSlopes, c.alibiSlopes + c.numAlibiSlopes);
  s.withBias = c.withBias;
  s.withBoolMask = c.withBoolMask;
  s.withLse = c.withLse;
  s.scoreMod = static_cast<ScoreModKind>(c.scoreMod);
  s.maskMod = static_cast<MaskModKind>(c.maskMod);
  s.pageSize = c.pageSize;
  if (c.keyLengths)
    s.keyLengths.assign(c.keyLengths, c.keyLengths + c.numKeyLengths);
  s.appendTokens = c.appendTokens;
  s.numPages = c.numPages;
  s.backward = c.backward;
  s.withBiasGradient = c.withBiasGradient;
  s.sharedKV = c.sharedKV;
  s.withLseGradient = c.withLseGradient;
  s.dynamicBatch = c.dynamicBatch;
  s.dynamicQueryLength = c.dynamicQueryLength;
  s.dynamicKeyLength = c.dynamicKeyLength;
  // Without cu_seqlens_k the sequences attend to caches (keyLengths).
  if (c.cuSeqlensQ && c.numCuSeqlens > 0) {
    s.cuSeqlensQ.assign(c.cuSeqlensQ, c.cuSeqlensQ + c.numCuSeqlens);
    if (c.cuSeqlensK)
      s.cuSeqlensK.assign(c.cuSeqlensK, c.cuSeqlensK + c.numCuSeqlens);
  }
  return s;
}

/// Enum fields arrive from C unchecked: refuse values no enum has before
/// they reach the C++ switch statements.
static LogicalResult verifyEnums(MLIRContext *ctx, const MlirAttnSpec &c) {
  auto fail = [&](const char *what) {
    return emitError(UnknownLoc::get(ctx))
           << "expected a valid " << what << " in MlirAttnSpec";
  };
  if (c.elementType < MlirAttnElementF32 || c.elementType > MlirAttnElementF64)
    return fail("elementType");
  if (c.layout != MlirAttnLayoutBHSD && c.layout != MlirAttnLayoutBSHD)
    return fail("layout");
  if (c.maskKind < MlirAttnMaskNone || c.maskKind > MlirAttnMaskSlidingWindow)
    return fail("maskKind");
  if (c.scoreMod < MlirAttnScoreModNone || c.scoreMod > MlirAttnScoreModTanhCap)
    return fail("scoreMod");
  if (c.maskMod != MlirAttnMaskModNone && c.maskMod != MlirAttnMaskModPrefixLM)
    return fail("maskMod");
  return success();
}

MlirModule mlirAttnSpecBuildModule(MlirContext ctx, const MlirAttnSpec *spec) {
  if (failed(verifyEnums(unwrap(ctx), *spec)))
    return MlirModule{nullptr};
  return wrap(buildAttentionModule(unwrap(ctx), unwrap(*spec)).release());
}

MlirLogicalResult mlirAttnPrepareModule(MlirModule module, MlirStringRef entry,
                                        MlirStringCallback callback,
                                        void *userData) {
  FailureOr<std::string> name = prepareModule(unwrap(module), unwrap(entry));
  if (failed(name))
    return mlirLogicalResultFailure();
  if (callback)
    callback(wrap(StringRef(*name)), userData);
  return mlirLogicalResultSuccess();
}

//===----------------------------------------------------------------------===//
// GPU target
//===----------------------------------------------------------------------===//

void mlirAttnPtxOptionsInit(MlirAttnPtxOptions *options) {
  *options = MlirAttnPtxOptions{};
  options->chip = mlirStringRefCreateFromCString("sm_80");
  options->features = mlirStringRefCreateFromCString("+ptx80");
  options->kernel = mlirStringRefCreateFromCString("auto");
}

static PtxCompileOptions unwrap(const MlirAttnPtxOptions &c) {
  PtxCompileOptions o;
  if (c.chip.length)
    o.chip = unwrap(c.chip).str();
  if (c.features.length)
    o.features = unwrap(c.features).str();
  ConvertAttnToNVVMOptions &l = o.lowering;
  auto set = [](int64_t &field, int64_t value) {
    if (value)
      field = value;
  };
  set(l.blockM, c.blockM);
  set(l.blockN, c.blockN);
  set(l.numWarps, c.numWarps);
  set(l.numSplits, c.numSplits);
  set(l.numSMs, c.numSMs);
  set(l.decodeNumWarps, c.decodeNumWarps);
  set(l.decodeKeysPerWarp, c.decodeKeysPerWarp);
  set(l.decodeStages, c.decodeStages);
  if (c.kernel.length)
    l.kernel = unwrap(c.kernel).str();
  if (c.f32Compute.length)
    l.f32Compute = unwrap(c.f32Compute).str();
  o.cubinArchs.clear();
  for (intptr_t i = 0; i < c.numCubinArchs; ++i)
    o.cubinArchs.push_back(unwrap(c.cubinArchs[i]).str());
  if (c.ptxas.length)
    o.ptxas = unwrap(c.ptxas).str();
  AttnPlanGpuBackwardOptions &bwd = o.backward;
  if (c.backwardDQ != MlirAttnBackwardDQDefault)
    bwd.deterministic = c.backwardDQ == MlirAttnBackwardDQDeterministic;
  if (c.dqReduction.length)
    bwd.dqReduction = unwrap(c.dqReduction).str();
  set(bwd.blockM, c.backwardBlockM);
  set(bwd.blockN, c.backwardBlockN);
  set(bwd.dqBlockM, c.dqBlockM);
  // A named GPU is what tile-model=auto tiles for and the cost is for.
  if (c.gpu.length) {
    o.costGpu = unwrap(c.gpu).str();
    if (l.tileModel == "auto")
      l.tileModel = o.costGpu;
  }
  // One tile model for the forward and the backward kernels.
  bwd.tileModel = l.tileModel;
  return o;
}

namespace {
/// What an MlirAttnPtxArtifacts owns: the artifacts plus the manifest as
/// JSON and the cubins in a vector, so the accessors can return references
/// into them.
struct PtxArtifactsHandle {
  PtxArtifacts artifacts;
  std::string manifestJson;
  std::vector<std::pair<std::string, std::string>> cubins;
  /// Every launch's manifest JSON, in program order (launchJsons[0] ==
  /// manifestJson).
  std::vector<std::string> launchJsons;
};
} // namespace

static PtxArtifactsHandle *unwrap(MlirAttnPtxArtifacts a) {
  return static_cast<PtxArtifactsHandle *>(a.ptr);
}

static MlirAttnPtxArtifacts wrap(FailureOr<PtxArtifacts> artifacts) {
  if (failed(artifacts))
    return {nullptr};
  auto *handle = new PtxArtifactsHandle{std::move(*artifacts), "", {}, {}};
  handle->manifestJson = handle->artifacts.manifest.toJson();
  for (const KernelManifest &m : handle->artifacts.manifests)
    handle->launchJsons.push_back(m.toJson());
  if (handle->launchJsons.empty())
    handle->launchJsons.push_back(handle->manifestJson);
  for (auto &[arch, bytes] : handle->artifacts.cubins)
    handle->cubins.emplace_back(arch, bytes);
  return {handle};
}

MlirAttnPtxArtifacts
mlirAttnCompileModuleToPtx(MlirModule module,
                           const MlirAttnPtxOptions *options) {
  return wrap(compileModuleToPtx(unwrap(module), unwrap(*options)));
}

MlirAttnPtxArtifacts
mlirAttnCompileSpecToPtx(MlirContext ctx, const MlirAttnSpec *spec,
                         const MlirAttnPtxOptions *options) {
  if (failed(verifyEnums(unwrap(ctx), *spec)))
    return {nullptr};
  return wrap(compileSpecToPtx(unwrap(ctx), unwrap(*spec), unwrap(*options)));
}

MlirStringRef mlirAttnPtxArtifactsGetPtx(MlirAttnPtxArtifacts a) {
  return wrap(StringRef(unwrap(a)->artifacts.ptx));
}

MlirStringRef mlirAttnPtxArtifactsGetManifest(MlirAttnPtxArtifacts a) {
  return wrap(StringRef(unwrap(a)->manifestJson));
}

intptr_t mlirAttnPtxArtifactsGetNumLaunches(MlirAttnPtxArtifacts a) {
  return unwrap(a)->launchJsons.size();
}

MlirStringRef mlirAttnPtxArtifactsGetLaunchManifest(MlirAttnPtxArtifacts a,
                                                    intptr_t pos) {
  return wrap(StringRef(unwrap(a)->launchJsons[pos]));
}

MlirStringRef mlirAttnPtxArtifactsGetKernelName(MlirAttnPtxArtifacts a) {
  return wrap(StringRef(unwrap(a)->artifacts.manifest.symbol));
}

intptr_t mlirAttnPtxArtifactsGetNumCubins(MlirAttnPtxArtifacts a) {
  return unwrap(a)->cubins.size();
}

MlirStringRef mlirAttnPtxArtifactsGetCubinArch(MlirAttnPtxArtifacts a,
                                               intptr_t pos) {
  return wrap(StringRef(unwrap(a)->cubins[pos].first));
}

MlirStringRef mlirAttnPtxArtifactsGetCubin(MlirAttnPtxArtifacts a,
                                           intptr_t pos) {
  return wrap(StringRef(unwrap(a)->cubins[pos].second));
}

void mlirAttnPtxArtifactsDestroy(MlirAttnPtxArtifacts a) { delete unwrap(a); }

//===----------------------------------------------------------------------===//
// CPU target
//===----------------------------------------------------------------------===//

void mlirAttnCpuOptionsInit(MlirAttnCpuOptions *options) {
  CpuTargetOptions d;
  *options = MlirAttnCpuOptions{};
  options->entry = mlirStringRefCreateFromCString("attention");
  options->flash = d.flash;
  options->tileM = d.tile.blockM;
  options->tileN = d.tile.blockN;
  options->numSplits = d.tile.numSplits;
  options->accumulateInF64 = d.accumulateInF64;
}

static CpuTargetOptions unwrap(const MlirAttnCpuOptions &c) {
  CpuTargetOptions o;
  if (c.entry.length)
    o.entry = unwrap(c.entry).str();
  o.flash = c.flash;
  o.tile.blockM = c.tileM;
  o.tile.blockN = c.tileN;
  o.tile.numSplits = c.numSplits;
  o.tileBackward.blockM = c.tileM;
  o.tileBackward.blockN = c.tileN;
  o.accumulateInF64 = c.accumulateInF64;
  return o;
}

namespace {
/// The executable and the context its invocation errors are reported on.
struct CpuExecutableHandle {
  std::unique_ptr<CpuExecutable> exe;
  MLIRContext *ctx;
};
} // namespace

static CpuExecutableHandle *unwrap(MlirAttnCpuExecutable e) {
  return static_cast<CpuExecutableHandle *>(e.ptr);
}

static MlirAttnCpuExecutable
wrap(MLIRContext *ctx, FailureOr<std::unique_ptr<CpuExecutable>> exe) {
  if (failed(exe))
    return {nullptr};
  return {new CpuExecutableHandle{std::move(*exe), ctx}};
}

MlirAttnCpuExecutable
mlirAttnCompileModuleToCpu(MlirModule module,
                           const MlirAttnCpuOptions *options) {
  ModuleOp m = unwrap(module);
  return wrap(m.getContext(), compileModuleToCpu(m, unwrap(*options)));
}

MlirAttnCpuExecutable
mlirAttnCompileSpecToCpu(MlirContext ctx, const MlirAttnSpec *spec,
                         const MlirAttnCpuOptions *options) {
  if (failed(verifyEnums(unwrap(ctx), *spec)))
    return {nullptr};
  return wrap(unwrap(ctx),
              compileSpecToCpu(unwrap(ctx), unwrap(*spec), unwrap(*options)));
}

intptr_t mlirAttnCpuExecutableGetNumArguments(MlirAttnCpuExecutable e) {
  return unwrap(e)->exe->getSignature().size();
}

MlirAttnElementKind
mlirAttnCpuExecutableGetArgumentKind(MlirAttnCpuExecutable e, intptr_t pos) {
  return static_cast<MlirAttnElementKind>(
      unwrap(e)->exe->getSignature()[pos].kind);
}

intptr_t mlirAttnCpuExecutableGetArgumentRank(MlirAttnCpuExecutable e,
                                              intptr_t pos) {
  return unwrap(e)->exe->getSignature()[pos].shape.size();
}

int64_t mlirAttnCpuExecutableGetArgumentDim(MlirAttnCpuExecutable e,
                                            intptr_t pos, intptr_t dim) {
  int64_t extent = unwrap(e)->exe->getSignature()[pos].shape[dim];
  return ShapedType::isDynamic(extent) ? -1 : extent;
}

MlirLogicalResult mlirAttnCpuExecutableInvoke(MlirAttnCpuExecutable e,
                                              intptr_t numArgs,
                                              const MlirAttnHostBuffer *args) {
  CpuExecutableHandle *handle = unwrap(e);
  SmallVector<HostBuffer> buffers;
  for (intptr_t i = 0; i < numArgs; ++i) {
    const MlirAttnHostBuffer &a = args[i];
    if (a.kind < MlirAttnElementF32 || a.kind > MlirAttnElementF64 ||
        a.rank < 0) {
      emitError(UnknownLoc::get(handle->ctx))
          << "expected buffer #" << i
          << " to have a valid element kind and rank";
      return mlirLogicalResultFailure();
    }
    buffers.push_back(HostBuffer{
        static_cast<ElementKind>(a.kind),
        SmallVector<int64_t>(a.shape, a.shape + a.rank), a.data, a.byteSize});
  }
  if (llvm::Error err = handle->exe->invoke(buffers)) {
    emitError(UnknownLoc::get(handle->ctx)) << llvm::toString(std::move(err));
    return mlirLogicalResultFailure();
  }
  return mlirLogicalResultSuccess();
}

void mlirAttnCpuExecutableDestroy(MlirAttnCpuExecutable e) { delete unwrap(e); }
