/*===- Pipelines.h - C API of the attn passes and compilers -------*- C -*-===*\
|*                                                                            *|
|* Part of attn-mlir. Pass and pipeline registration, attention specs, and   *|
|* compilation of a module or a spec to PTX + manifest (in memory) or to a   *|
|* CPU executable run on caller buffers (attn/Embedding/Embedding.h in C).   *|
|*                                                                            *|
|* Errors are MLIR diagnostics: attach a handler to the context              *|
|* (mlirContextAttachDiagnosticHandler); a failed call emits its errors      *|
|* there, at the location of the offending operation, and returns a null     *|
|* handle (check with the *IsNull functions) or a failed MlirLogicalResult.  *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_PIPELINES_H
#define ATTN_C_PIPELINES_H

#include "attn-c/Dialects.h"
#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Registers the attn passes and the attn-to-cpu / attn-to-ptx pipelines
/// with the global registry, so mlirParsePassPipeline and
/// mlirOpPassManagerAddPipeline accept them.
MLIR_CAPI_EXPORTED void mlirAttnRegisterPasses(void);

/// "major.minor.patch" of this library.
MLIR_CAPI_EXPORTED MlirStringRef mlirAttnGetVersion(void);

//===----------------------------------------------------------------------===//
// Specs: attn::AttentionSpec, the fields of attn-compile's flags.
//===----------------------------------------------------------------------===//

typedef enum MlirAttnElementKind {
  MlirAttnElementF32 = 0,
  MlirAttnElementF16 = 1,
  MlirAttnElementBF16 = 2,
  MlirAttnElementI1 = 3,
  MlirAttnElementI32 = 4,
  /* CPU target only (lowered whole, computed in f64; flash must be off). */
  MlirAttnElementF64 = 5,
} MlirAttnElementKind;

typedef enum MlirAttnScoreMod {
  MlirAttnScoreModNone = 0,
  MlirAttnScoreModRelativeBias = 1,
  MlirAttnScoreModTanhCap = 2,
} MlirAttnScoreMod;

typedef enum MlirAttnMaskMod {
  MlirAttnMaskModNone = 0,
  MlirAttnMaskModPrefixLM = 1,
} MlirAttnMaskMod;

/// Initialize with mlirAttnSpecInit (the defaults of attn::AttentionSpec),
/// then set fields. Pointers are borrowed for the duration of a call.
typedef struct MlirAttnSpec {
  int64_t batch;
  int64_t numQueryHeads;
  int64_t numKVHeads;
  int64_t queryLength;
  int64_t keyLength;
  int64_t headDim;
  int64_t valueHeadDim; /* 0: headDim */
  MlirAttnElementKind elementType;
  MlirAttnLayout layout;
  MlirAttnMaskKind maskKind;
  int64_t windowLeft;
  int64_t windowRight;
  bool hasScale;
  double scale;
  bool hasSoftcap;
  double softcap;
  const double *alibiSlopes; /* numAlibiSlopes values, one per query head */
  intptr_t numAlibiSlopes;
  bool withBias;
  bool withBoolMask;
  bool withLse;
  MlirAttnScoreMod scoreMod;
  MlirAttnMaskMod maskMod;
  int64_t pageSize;
  const int64_t *keyLengths; /* numKeyLengths (= batch) values, or none */
  intptr_t numKeyLengths;
  int64_t appendTokens;
  /* The backward instead of the forward: attn.attention_backward with the
     entry (q, k, v, o, dO, lse, [bias], [mask], [key_lengths], dQ, dK, dV,
     [d_bias]); o and dO have the output's shape, lse is [B, Hq, Lq] f32, f64
     for F64 (the forward's with withLse), the gradients Q's, K's, V's (and
     the bias's)
     shapes and elementType. Dense K and V only (no pageSize, appendTokens). */
  bool backward;
  /* Dims the entry takes as dynamic (?): one kernel serves every B, Lq or
     Lk (batch, queryLength, keyLength then size the CPU runner's tensors).
     Dense K and V without bias, mask or appended tokens. */
  bool dynamicBatch;
  bool dynamicQueryLength;
  bool dynamicKeyLength;
  /* Varlen batches: numCuSeqlens (N+1) offsets each of N sequences packed
     along the sequence axis (from 0, non-decreasing; cuSeqlensQ ends at
     queryLength, cuSeqlensK at most at keyLength), or none (0). The entry
     then takes cu_seqlens_q and cu_seqlens_k (i32 [N+1]) after q, k, v;
     batch must be 1 and the layout BSHD (q [1, Tq, Hq, D]). The values
     only shape what a check compares against: the kernel reads the
     offsets it is called with. cuSeqlensK null with one key length per
     sequence (numKeyLengths = N): decode over N caches, contiguous or
     paged (pageSize), the entry taking cu_seqlens_q and key_lengths. */
  const int64_t *cuSeqlensQ;
  const int64_t *cuSeqlensK;
  intptr_t numCuSeqlens;
  /* Paged caches: the pages of the K and V pools the block table indexes;
     0: one set of pages per cache (batch x keyLength / pageSize). */
  int64_t numPages;

  /* A backward with withBias: whether the entry returns d_bias (default
     true); false treats the bias as a constant of the loss. */
  bool withBiasGradient;

  /* One shared K/V cache (MLA latent decode): V is the first valueHeadDim
     columns of K's rows (attn.kv_prefix); the entry takes no V operand. */
  bool sharedKV;

  /* A backward whose loss reads the LSE too: the entry takes grad_lse (the
     lse's shape and type) after every other input (Delta = rowsum(dO * O)
     - grad_lse). Default false. */
  bool withLseGradient;
} MlirAttnSpec;

MLIR_CAPI_EXPORTED void mlirAttnSpecInit(MlirAttnSpec *spec);

/// Builds the spec's module (func @attention on memrefs around one
/// attn.attention, or attn.attention_backward with `backward`). Null module
/// on error (diagnostics emitted).
MLIR_CAPI_EXPORTED MlirModule mlirAttnSpecBuildModule(MlirContext ctx,
                                                      const MlirAttnSpec *spec);

/// Prepares a parsed module as attn-compile does for a file: picks the entry
/// (`entry`, else the first func.func), converts an entry on tensors to the
/// memref calling convention and raises linalg attention graphs. Writes the
/// entry's name to `callback` (may be null). In place.
MLIR_CAPI_EXPORTED MlirLogicalResult
mlirAttnPrepareModule(MlirModule module, MlirStringRef entry,
                      MlirStringCallback callback, void *userData);

//===----------------------------------------------------------------------===//
// GPU target: PTX, cubins and the kernel manifest.
//===----------------------------------------------------------------------===//

/// How a backward program reduces dQ (attn-plan-gpu-backward's
/// deterministic option).
typedef enum MlirAttnBackwardDQ {
  /* The pass's default (docs/Pipeline.md says which and why). */
  MlirAttnBackwardDQDefault = 0,
  /* f32 reductions into a dq_accum workspace (run-to-run order varies). */
  MlirAttnBackwardDQAtomic = 1,
  /* A dQ kernel over Q blocks: bit-identical dQ, no dq_accum. */
  MlirAttnBackwardDQDeterministic = 2,
} MlirAttnBackwardDQ;

/// Initialize with mlirAttnPtxOptionsInit; strings are borrowed per call.
typedef struct MlirAttnPtxOptions {
  MlirStringRef chip;     /* PTX target, default "sm_80" */
  MlirStringRef features; /* default "+ptx80" */
  /* convert-attn-to-nvvm's options (0 or empty: its default). */
  int64_t blockM;
  int64_t blockN;
  int64_t numWarps;
  MlirStringRef kernel; /* "auto", "prefill", "decode" */
  int64_t numSplits;
  int64_t numSMs;
  int64_t decodeNumWarps;
  int64_t decodeKeysPerWarp;
  int64_t decodeStages;
  /* Architectures to assemble cubins for with ptxas (none: PTX only). */
  const MlirStringRef *cubinArchs;
  intptr_t numCubinArchs;
  MlirStringRef ptxas; /* empty: $CUDA_HOME or /usr/local/cuda */
  /* The backward's options (spec.backward; 0 or empty: the pass's default). */
  MlirAttnBackwardDQ backwardDQ;
  MlirStringRef dqReduction; /* "auto", "atom", "red-v2", "red-v4" */
  int64_t backwardBlockM;    /* main kernel: Q rows per step, 64 or 128 */
  int64_t backwardBlockN;    /* main kernel: keys per CTA, 64 or 128 */
  int64_t dqBlockM;          /* deterministic dQ kernel: rows per CTA */
  /* The GPU the cost model tiles for and the manifests' cost figures are
     for ("h200", "h100-sxm", "a100-sxm", "b200"; empty: the chip's, which
     cannot tell an H200 from an H100), as attn-compile --gpu. */
  MlirStringRef gpu;
  /* f32 Q, K, V and O (convert-attn-to-nvvm's f32-compute): empty or
     "refuse" (the default: an error), "bf16" or "f16" (rounded copies of Q,
     K and V; as accurate as a bf16 / f16 call, not an f32 one). */
  MlirStringRef f32Compute;
} MlirAttnPtxOptions;

MLIR_CAPI_EXPORTED void mlirAttnPtxOptionsInit(MlirAttnPtxOptions *options);

typedef struct MlirAttnPtxArtifacts {
  void *ptr;
} MlirAttnPtxArtifacts;

/// Compiles (a clone of) `module`, whose entry is on memrefs, to a kernel.
MLIR_CAPI_EXPORTED MlirAttnPtxArtifacts mlirAttnCompileModuleToPtx(
    MlirModule module, const MlirAttnPtxOptions *options);
MLIR_CAPI_EXPORTED MlirAttnPtxArtifacts
mlirAttnCompileSpecToPtx(MlirContext ctx, const MlirAttnSpec *spec,
                         const MlirAttnPtxOptions *options);

static inline bool mlirAttnPtxArtifactsIsNull(MlirAttnPtxArtifacts a) {
  return !a.ptr;
}
/// The PTX text, the manifest JSON (the runtime's input) and the kernel's
/// symbol; valid until the artifacts are destroyed.
MLIR_CAPI_EXPORTED MlirStringRef
mlirAttnPtxArtifactsGetPtx(MlirAttnPtxArtifacts artifacts);
MLIR_CAPI_EXPORTED MlirStringRef
mlirAttnPtxArtifactsGetManifest(MlirAttnPtxArtifacts artifacts);
MLIR_CAPI_EXPORTED MlirStringRef
mlirAttnPtxArtifactsGetKernelName(MlirAttnPtxArtifacts artifacts);
/// The launches of the program, in order (1 for a forward; the backward is
/// preprocess, main and dQ kernels), and the manifest JSON of launch #pos
/// (#0 is mlirAttnPtxArtifactsGetManifest's). The launches take the same
/// arguments and one shared workspace, launched in order on one stream.
MLIR_CAPI_EXPORTED intptr_t
mlirAttnPtxArtifactsGetNumLaunches(MlirAttnPtxArtifacts artifacts);
MLIR_CAPI_EXPORTED MlirStringRef
mlirAttnPtxArtifactsGetLaunchManifest(MlirAttnPtxArtifacts artifacts,
                                      intptr_t pos);
MLIR_CAPI_EXPORTED intptr_t
mlirAttnPtxArtifactsGetNumCubins(MlirAttnPtxArtifacts artifacts);
/// The arch ("sm_90") and bytes of cubin #pos.
MLIR_CAPI_EXPORTED MlirStringRef
mlirAttnPtxArtifactsGetCubinArch(MlirAttnPtxArtifacts artifacts, intptr_t pos);
MLIR_CAPI_EXPORTED MlirStringRef
mlirAttnPtxArtifactsGetCubin(MlirAttnPtxArtifacts artifacts, intptr_t pos);
MLIR_CAPI_EXPORTED void
mlirAttnPtxArtifactsDestroy(MlirAttnPtxArtifacts artifacts);

//===----------------------------------------------------------------------===//
// CPU target: a JIT-compiled executable run on host buffers.
//===----------------------------------------------------------------------===//

typedef struct MlirAttnCpuOptions {
  MlirStringRef entry; /* default "attention" */
  /* attn-tile, attn-tile-backward, attn-fuse-online-softmax,
     attn-lower-precision first. */
  bool flash;
  int64_t tileM; /* query rows per tile, forward and backward */
  int64_t tileN; /* keys per tile, forward and backward */
  int64_t numSplits;
  bool accumulateInF64;
} MlirAttnCpuOptions;

MLIR_CAPI_EXPORTED void mlirAttnCpuOptionsInit(MlirAttnCpuOptions *options);

/// Owns the JIT-compiled code. Reports invocation errors on the context it
/// was compiled in, which must outlive it.
typedef struct MlirAttnCpuExecutable {
  void *ptr;
} MlirAttnCpuExecutable;

MLIR_CAPI_EXPORTED MlirAttnCpuExecutable mlirAttnCompileModuleToCpu(
    MlirModule module, const MlirAttnCpuOptions *options);
MLIR_CAPI_EXPORTED MlirAttnCpuExecutable
mlirAttnCompileSpecToCpu(MlirContext ctx, const MlirAttnSpec *spec,
                         const MlirAttnCpuOptions *options);

static inline bool mlirAttnCpuExecutableIsNull(MlirAttnCpuExecutable e) {
  return !e.ptr;
}

/// The entry's arguments: every operand, then every result (destination
/// passing), each a dense row-major buffer.
MLIR_CAPI_EXPORTED intptr_t
mlirAttnCpuExecutableGetNumArguments(MlirAttnCpuExecutable exe);
MLIR_CAPI_EXPORTED MlirAttnElementKind
mlirAttnCpuExecutableGetArgumentKind(MlirAttnCpuExecutable exe, intptr_t pos);
MLIR_CAPI_EXPORTED intptr_t
mlirAttnCpuExecutableGetArgumentRank(MlirAttnCpuExecutable exe, intptr_t pos);
/// Extent `dim` of argument `pos`; -1 for a dynamic extent.
MLIR_CAPI_EXPORTED int64_t mlirAttnCpuExecutableGetArgumentDim(
    MlirAttnCpuExecutable exe, intptr_t pos, intptr_t dim);

/// One dense row-major host buffer (i1: one byte per element).
typedef struct MlirAttnHostBuffer {
  MlirAttnElementKind kind;
  intptr_t rank;
  const int64_t *shape;
  void *data;
  size_t byteSize;
} MlirAttnHostBuffer;

/// Runs the entry on `args` after checking them against the signature;
/// buffers are untouched on failure.
MLIR_CAPI_EXPORTED MlirLogicalResult
mlirAttnCpuExecutableInvoke(MlirAttnCpuExecutable exe, intptr_t numArgs,
                            const MlirAttnHostBuffer *args);
MLIR_CAPI_EXPORTED void mlirAttnCpuExecutableDestroy(MlirAttnCpuExecutable exe);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_C_PIPELINES_H */
