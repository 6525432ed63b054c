/*===- attn-capi-test.c - smoke test of the attn C API ------------*- C -*-===*\
|*                                                                            *|
|* Part of attn-mlir. Built as C. Builds an attn.attention with the C API on *|
|* a context set up by the minimal registration only, runs it on the CPU     *|
|* against a float64 loop nest, compiles a spec to PTX + manifest in memory, *|
|* and checks that refused inputs come back as located MLIR diagnostics.     *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "attn-c/Dialects.h"
#include "attn-c/Pipelines.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Every diagnostic, as "<location>: <message>\n", for the checks below. */
static char diagnostics[65536];
static int numErrors = 0;

static void append(MlirStringRef s, void *userData) {
  (void)userData;
  size_t used = strlen(diagnostics);
  size_t n = s.length < sizeof(diagnostics) - used - 1
                 ? s.length
                 : sizeof(diagnostics) - used - 1;
  memcpy(diagnostics + used, s.data, n);
  diagnostics[used + n] = 0;
}

static MlirLogicalResult handleDiagnostic(MlirDiagnostic d, void *userData) {
  (void)userData;
  if (mlirDiagnosticGetSeverity(d) == MlirDiagnosticError)
    ++numErrors;
  mlirLocationPrint(mlirDiagnosticGetLocation(d), append, NULL);
  append(mlirStringRefCreateFromCString(": "), NULL);
  mlirDiagnosticPrint(d, append, NULL);
  append(mlirStringRefCreateFromCString("\n"), NULL);
  return mlirLogicalResultSuccess();
}

static void resetDiagnostics(void) {
  diagnostics[0] = 0;
  numErrors = 0;
}

enum { B = 1, HQ = 4, HKV = 2, L = 16, D = 32 };

/* func.func @gqa(%q, %k, %v) -> tensor: one causal GQA attention, built
   op by op through the C API. */
static MlirModule buildModule(MlirContext ctx) {
  MlirLocation loc = mlirLocationFileLineColGet(
      ctx, mlirStringRefCreateFromCString("capi-test.mlir"), 1, 1);
  MlirModule module = mlirModuleCreateEmpty(loc);
  MlirType f32 = mlirF32TypeGet(ctx);
  int64_t qShape[] = {B, HQ, L, D}, kvShape[] = {B, HKV, L, D};
  MlirAttribute noEncoding = mlirAttributeGetNull();
  MlirType qType = mlirRankedTensorTypeGet(4, qShape, f32, noEncoding);
  MlirType kvType = mlirRankedTensorTypeGet(4, kvShape, f32, noEncoding);
  MlirType inputs[] = {qType, kvType, kvType};
  MlirType funcType = mlirFunctionTypeGet(ctx, 3, inputs, 1, &qType);

  MlirRegion body = mlirRegionCreate();
  MlirLocation locs[] = {loc, loc, loc};
  MlirBlock block = mlirBlockCreate(3, inputs, locs);
  mlirRegionAppendOwnedBlock(body, block);

  MlirOperation attention = mlirAttnAttentionOpCreate(
      loc, mlirBlockGetArgument(block, 0), mlirBlockGetArgument(block, 1),
      mlirBlockGetArgument(block, 2), MlirAttnMaskCausalBottomRight,
      /*withLse=*/false);
  CHECK(mlirOperationIsAAttnAttention(attention));
  mlirBlockAppendOwnedOperation(block, attention);
  MlirValue out = mlirOperationGetResult(attention, 0);
  MlirOperationState ret =
      mlirOperationStateGet(mlirStringRefCreateFromCString("func.return"), loc);
  mlirOperationStateAddOperands(&ret, 1, &out);
  mlirBlockAppendOwnedOperation(block, mlirOperationCreate(&ret));

  MlirOperationState func =
      mlirOperationStateGet(mlirStringRefCreateFromCString("func.func"), loc);
  MlirNamedAttribute attrs[] = {
      mlirNamedAttributeGet(
          mlirIdentifierGet(ctx, mlirStringRefCreateFromCString("sym_name")),
          mlirStringAttrGet(ctx, mlirStringRefCreateFromCString("gqa"))),
      mlirNamedAttributeGet(
          mlirIdentifierGet(ctx,
                            mlirStringRefCreateFromCString("function_type")),
          mlirTypeAttrGet(funcType))};
  mlirOperationStateAddAttributes(&func, 2, attrs);
  mlirOperationStateAddOwnedRegions(&func, 1, &body);
  mlirBlockAppendOwnedOperation(mlirModuleGetBody(module),
                                mlirOperationCreate(&func));
  return module;
}

/* softmax(Q K^T / sqrt(D) + causal) V in double; GQA: query head h reads
   KV head h / (HQ / HKV). Lq == Lk, so bottom-right = top-left causal. */
static void reference(const float *q, const float *k, const float *v,
                      double *o) {
  for (int h = 0; h < HQ; ++h) {
    int g = h / (HQ / HKV);
    for (int i = 0; i < L; ++i) {
      double s[L], m = -INFINITY, sum = 0;
      for (int j = 0; j <= i; ++j) {
        double dot = 0;
        for (int d = 0; d < D; ++d)
          dot += (double)q[(h * L + i) * D + d] * k[(g * L + j) * D + d];
        s[j] = dot / sqrt((double)D);
        m = s[j] > m ? s[j] : m;
      }
      for (int j = 0; j <= i; ++j)
        sum += s[j] = exp(s[j] - m);
      for (int d = 0; d < D; ++d) {
        double acc = 0;
        for (int j = 0; j <= i; ++j)
          acc += s[j] * v[(g * L + j) * D + d];
        o[(h * L + i) * D + d] = acc / sum;
      }
    }
  }
}

static void testCpu(MlirContext ctx) {
  MlirModule module = buildModule(ctx);
  CHECK(mlirOperationVerify(mlirModuleGetOperation(module)));
  CHECK(mlirLogicalResultIsSuccess(mlirAttnPrepareModule(
      module, mlirStringRefCreateFromCString("gqa"), NULL, NULL)));

  MlirAttnCpuOptions options;
  mlirAttnCpuOptionsInit(&options);
  options.entry = mlirStringRefCreateFromCString("gqa");
  options.tileM = 8;
  options.tileN = 8;
  MlirAttnCpuExecutable exe = mlirAttnCompileModuleToCpu(module, &options);
  CHECK(!mlirAttnCpuExecutableIsNull(exe));
  if (mlirAttnCpuExecutableIsNull(exe)) {
    fprintf(stderr, "%s", diagnostics);
    mlirModuleDestroy(module);
    return;
  }
  /* q, k, v, then the output (destination passing). */
  CHECK(mlirAttnCpuExecutableGetNumArguments(exe) == 4);
  CHECK(mlirAttnCpuExecutableGetArgumentKind(exe, 3) == MlirAttnElementF32);
  CHECK(mlirAttnCpuExecutableGetArgumentRank(exe, 1) == 4);
  CHECK(mlirAttnCpuExecutableGetArgumentDim(exe, 1, 1) == HKV);

  static float q[B * HQ * L * D], k[B * HKV * L * D], v[B * HKV * L * D],
      o[B * HQ * L * D];
  static double expected[B * HQ * L * D];
  srand(7);
  for (int i = 0; i < B * HQ * L * D; ++i)
    q[i] = (float)((double)rand() / RAND_MAX - 0.5);
  for (int i = 0; i < B * HKV * L * D; ++i) {
    k[i] = (float)((double)rand() / RAND_MAX - 0.5);
    v[i] = (float)((double)rand() / RAND_MAX - 0.5);
  }
  int64_t qShape[] = {B, HQ, L, D}, kvShape[] = {B, HKV, L, D};
  MlirAttnHostBuffer args[] = {{MlirAttnElementF32, 4, qShape, q, sizeof(q)},
                               {MlirAttnElementF32, 4, kvShape, k, sizeof(k)},
                               {MlirAttnElementF32, 4, kvShape, v, sizeof(v)},
                               {MlirAttnElementF32, 4, qShape, o, sizeof(o)}};
  CHECK(mlirLogicalResultIsSuccess(mlirAttnCpuExecutableInvoke(exe, 4, args)));
  reference(q, k, v, expected);
  /* f32 inputs, f32 accumulation over D = 32 and L = 16 terms of magnitude
     <= 1: a few hundred ulps of f32 at most (docs/Numerics.md). */
  double maxError = 0;
  for (int i = 0; i < B * HQ * L * D; ++i)
    maxError = fmax(maxError, fabs(o[i] - expected[i]));
  printf("cpu: max |o - reference| = %.3g\n", maxError);
  CHECK(maxError < 1e-5);

  /* A buffer of the wrong shape: refused with a diagnostic, o untouched. */
  resetDiagnostics();
  float before = o[0];
  args[1].shape = qShape;
  CHECK(mlirLogicalResultIsFailure(mlirAttnCpuExecutableInvoke(exe, 4, args)));
  CHECK(numErrors == 1 && strstr(diagnostics, "expected shape"));
  CHECK(o[0] == before);

  mlirAttnCpuExecutableDestroy(exe);
  mlirModuleDestroy(module);
}

static void testPtx(MlirContext ctx) {
  MlirAttnSpec spec;
  mlirAttnSpecInit(&spec);
  spec.numQueryHeads = 8;
  spec.numKVHeads = 2;
  spec.queryLength = 128;
  spec.keyLength = 128;
  spec.headDim = 64;
  spec.maskKind = MlirAttnMaskCausalBottomRight;
  MlirAttnPtxOptions options;
  mlirAttnPtxOptionsInit(&options);
  options.chip = mlirStringRefCreateFromCString("sm_90");
  resetDiagnostics();
  MlirAttnPtxArtifacts artifacts =
      mlirAttnCompileSpecToPtx(ctx, &spec, &options);
  CHECK(!mlirAttnPtxArtifactsIsNull(artifacts));
  if (mlirAttnPtxArtifactsIsNull(artifacts)) {
    fprintf(stderr, "%s", diagnostics);
    return;
  }
  MlirStringRef ptx = mlirAttnPtxArtifactsGetPtx(artifacts);
  MlirStringRef manifest = mlirAttnPtxArtifactsGetManifest(artifacts);
  MlirStringRef name = mlirAttnPtxArtifactsGetKernelName(artifacts);
  printf("ptx: %zu bytes, manifest %zu bytes, kernel %.*s\n", ptx.length,
         manifest.length, (int)name.length, name.data);
  CHECK(ptx.length > 1000 && strstr(ptx.data, ".target sm_90"));
  CHECK(name.length > 0 && strstr(ptx.data, ".entry"));
  CHECK(strstr(manifest.data, "\"arguments\""));
  /* No cubin architectures were asked for. */
  CHECK(mlirAttnPtxArtifactsGetNumCubins(artifacts) == 0);
  mlirAttnPtxArtifactsDestroy(artifacts);

  /* The GPU path refuses head dim 24 (not a multiple of 16): an error at the
     attention's location, not a string. */
  resetDiagnostics();
  spec.headDim = 24;
  artifacts = mlirAttnCompileSpecToPtx(ctx, &spec, &options);
  CHECK(mlirAttnPtxArtifactsIsNull(artifacts));
  CHECK(numErrors >= 1 &&
        strstr(diagnostics, "expected head dims D and Dv that are multiples "
                            "of 16 in [32, 256] on the GPU path, got D = 24"));
  /* Spec-built IR is located at the spec it came from. */
  CHECK(strstr(diagnostics, "loc(\"attention spec: GQA 8/2"));
  printf("refused: %s", diagnostics);
}

static void testInvalidSpec(MlirContext ctx) {
  /* 3 query heads cannot share 2 KV heads: the verifier says so. */
  MlirAttnSpec spec;
  mlirAttnSpecInit(&spec);
  spec.numQueryHeads = 3;
  spec.numKVHeads = 2;
  spec.queryLength = spec.keyLength = 16;
  resetDiagnostics();
  MlirModule module = mlirAttnSpecBuildModule(ctx, &spec);
  CHECK(mlirModuleIsNull(module));
  CHECK(numErrors >= 1 && strstr(diagnostics, "expected"));
  /* At the spec, not at an unknown location. */
  CHECK(strstr(diagnostics, "loc(\"attention spec: GQA 3/2") == diagnostics);

  resetDiagnostics();
  spec.numQueryHeads = 4;
  spec.elementType = (MlirAttnElementKind)42;
  CHECK(mlirModuleIsNull(mlirAttnSpecBuildModule(ctx, &spec)));
  CHECK(strstr(diagnostics, "expected a valid elementType"));
}

static void testRegistration(MlirContext ctx) {
  MlirDialect attn =
      mlirDialectHandleLoadDialect(mlirGetDialectHandle__attn__(), ctx);
  CHECK(!mlirDialectIsNull(attn));
  CHECK(mlirStringRefEqual(mlirDialectGetNamespace(attn),
                           mlirStringRefCreateFromCString("attn")));
  MlirAttribute mask = mlirAttnMaskAttrGet(ctx, MlirAttnMaskSlidingWindow);
  CHECK(!mlirAttributeIsNull(mask));

  /* The attn passes and pipelines parse as text once registered. */
  mlirAttnRegisterPasses();
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirOpPassManager opm = mlirPassManagerGetAsOpPassManager(pm);
  CHECK(mlirLogicalResultIsSuccess(mlirOpPassManagerAddPipeline(
      opm,
      mlirStringRefCreateFromCString("attn-tile{block-m=8 block-n=8},"
                                     "attn-to-ptx{chip=sm_90}"),
      append, NULL)));
  mlirPassManagerDestroy(pm);

  MlirStringRef version = mlirAttnGetVersion();
  printf("attn-mlir %.*s\n", (int)version.length, version.data);
  CHECK(version.length >= 5);
}

int main(void) {
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  mlirAttnRegisterRequiredDialects(registry);
  MlirContext ctx = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);
  mlirContextAttachDiagnosticHandler(ctx, handleDiagnostic, NULL, NULL);
  /* Registered is not loaded: the ops built below need func loaded. */
  CHECK(!mlirDialectIsNull(mlirContextGetOrLoadDialect(
      ctx, mlirStringRefCreateFromCString("func"))));

  testRegistration(ctx);
  testCpu(ctx);
  testPtx(ctx);
  testInvalidSpec(ctx);

  mlirContextDestroy(ctx);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("PASSED\n");
  return failures ? 1 : 0;
}
