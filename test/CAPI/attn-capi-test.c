/*===- attn-capi-test.c - smoke test of the attn C API ------------*- C -*-===*\
|*                                                                            *|
|* Part of attn-mlir. Built as C. Builds an attn.attention with the C API on *|
|* a context set up by the minimal registration only, runs it on the CPU     *|
|* against a float64 loop nest, runs a spec's forward (with LSE) and its     *|
|* backward on the CPU against float64 gradients, compiles a spec to PTX +   *|
|* manifest in memory, and checks that refused inputs come back as located   *|
|* MLIR diagnostics.                                                         *|
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

/* The gradients of sum(dO * O) for causal GQA attention, in double, from
   the definitions (not from the op's recomputation formula): P the softmax,
   dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)),
   dQ = dS K / sqrt(D), dK = dS^T Q / sqrt(D), dK and dV summed over the
   query heads of a KV head. */
static void referenceBackward(const float *q, const float *k, const float *v,
                              const float *dout, double *dq, double *dk,
                              double *dv) {
  double scale = 1.0 / sqrt((double)D);
  memset(dq, 0, sizeof(double) * B * HQ * L * D);
  memset(dk, 0, sizeof(double) * B * HKV * L * D);
  memset(dv, 0, sizeof(double) * B * HKV * L * D);
  for (int h = 0; h < HQ; ++h) {
    int g = h / (HQ / HKV);
    for (int i = 0; i < L; ++i) {
      double p[L], dp[L], m = -INFINITY, sum = 0, dot = 0;
      for (int j = 0; j <= i; ++j) {
        double x = 0;
        for (int d = 0; d < D; ++d)
          x += (double)q[(h * L + i) * D + d] * k[(g * L + j) * D + d];
        p[j] = x * scale;
        m = p[j] > m ? p[j] : m;
      }
      for (int j = 0; j <= i; ++j)
        sum += p[j] = exp(p[j] - m);
      for (int j = 0; j <= i; ++j) {
        p[j] /= sum;
        dp[j] = 0;
        for (int d = 0; d < D; ++d)
          dp[j] += (double)dout[(h * L + i) * D + d] * v[(g * L + j) * D + d];
        dot += dp[j] * p[j];
      }
      for (int j = 0; j <= i; ++j) {
        double ds = p[j] * (dp[j] - dot) * scale;
        for (int d = 0; d < D; ++d) {
          dq[(h * L + i) * D + d] += ds * k[(g * L + j) * D + d];
          dk[(g * L + j) * D + d] += ds * q[(h * L + i) * D + d];
          dv[(g * L + j) * D + d] += p[j] * dout[(h * L + i) * D + d];
        }
      }
    }
  }
}

static double maxDifference(const float *got, const double *want, int n) {
  double e = 0;
  for (int i = 0; i < n; ++i)
    e = fmax(e, fabs(got[i] - want[i]));
  return e;
}

/* A training step's attention through the C API alone: the spec's forward
   with LSE, then the same spec's backward on (q, k, v, o, dO, lse). */
static void testBackward(MlirContext ctx) {
  MlirAttnSpec spec;
  mlirAttnSpecInit(&spec);
  spec.numQueryHeads = HQ;
  spec.numKVHeads = HKV;
  spec.queryLength = spec.keyLength = L;
  spec.headDim = D;
  spec.elementType = MlirAttnElementF32;
  spec.maskKind = MlirAttnMaskCausalBottomRight;
  spec.withLse = true;
  MlirAttnCpuOptions options;
  mlirAttnCpuOptionsInit(&options);
  options.tileM = 8;
  options.tileN = 8;
  resetDiagnostics();
  MlirAttnCpuExecutable fwd = mlirAttnCompileSpecToCpu(ctx, &spec, &options);
  spec.backward = true;
  MlirAttnCpuExecutable bwd = mlirAttnCompileSpecToCpu(ctx, &spec, &options);
  CHECK(!mlirAttnCpuExecutableIsNull(fwd) && !mlirAttnCpuExecutableIsNull(bwd));
  if (mlirAttnCpuExecutableIsNull(fwd) || mlirAttnCpuExecutableIsNull(bwd)) {
    fprintf(stderr, "%s", diagnostics);
    return;
  }
  /* q, k, v, o, dO, lse, then dQ, dK, dV. */
  CHECK(mlirAttnCpuExecutableGetNumArguments(bwd) == 9);
  CHECK(mlirAttnCpuExecutableGetArgumentKind(bwd, 5) == MlirAttnElementF32);
  CHECK(mlirAttnCpuExecutableGetArgumentRank(bwd, 5) == 3);
  CHECK(mlirAttnCpuExecutableGetArgumentDim(bwd, 7, 1) == HKV);

  enum { NQ = B * HQ * L * D, NKV = B * HKV * L * D };
  static float q[NQ], k[NKV], v[NKV], o[NQ], dout[NQ], lse[B * HQ * L],
      dq[NQ], dk[NKV], dv[NKV];
  static double wantQ[NQ], wantK[NKV], wantV[NKV];
  srand(11);
  for (int i = 0; i < NQ; ++i) {
    q[i] = (float)((double)rand() / RAND_MAX - 0.5);
    dout[i] = (float)((double)rand() / RAND_MAX - 0.5);
  }
  for (int i = 0; i < NKV; ++i) {
    k[i] = (float)((double)rand() / RAND_MAX - 0.5);
    v[i] = (float)((double)rand() / RAND_MAX - 0.5);
  }
  int64_t qShape[] = {B, HQ, L, D}, kvShape[] = {B, HKV, L, D},
          lseShape[] = {B, HQ, L};
  MlirAttnHostBuffer q_ = {MlirAttnElementF32, 4, qShape, q, sizeof(q)};
  MlirAttnHostBuffer k_ = {MlirAttnElementF32, 4, kvShape, k, sizeof(k)};
  MlirAttnHostBuffer v_ = {MlirAttnElementF32, 4, kvShape, v, sizeof(v)};
  MlirAttnHostBuffer o_ = {MlirAttnElementF32, 4, qShape, o, sizeof(o)};
  MlirAttnHostBuffer lse_ = {MlirAttnElementF32, 3, lseShape, lse,
                             sizeof(lse)};
  MlirAttnHostBuffer fwdArgs[] = {q_, k_, v_, o_, lse_};
  CHECK(mlirLogicalResultIsSuccess(
      mlirAttnCpuExecutableInvoke(fwd, 5, fwdArgs)));
  MlirAttnHostBuffer bwdArgs[] = {
      q_, k_, v_, o_, {MlirAttnElementF32, 4, qShape, dout, sizeof(dout)},
      lse_, {MlirAttnElementF32, 4, qShape, dq, sizeof(dq)},
      {MlirAttnElementF32, 4, kvShape, dk, sizeof(dk)},
      {MlirAttnElementF32, 4, kvShape, dv, sizeof(dv)}};
  CHECK(mlirLogicalResultIsSuccess(
      mlirAttnCpuExecutableInvoke(bwd, 9, bwdArgs)));
  referenceBackward(q, k, v, dout, wantQ, wantK, wantV);
  /* Inputs in [-0.5, 0.5], f32 throughout: each gradient element sums at
     most HQ / HKV * L = 32 products (dK, dV) of D = 32-term dots, and O and
     LSE carry the forward's f32 rounding. Every term is below 1 in size, so
     a few hundred units of f32 roundoff (2^-24) of that sum, 1e-5, bound
     the error; a wrong mask, head mapping or missing GQA sum is >= 1e-2. */
  double eq = maxDifference(dq, wantQ, NQ), ek = maxDifference(dk, wantK, NKV),
         ev = maxDifference(dv, wantV, NKV);
  printf("backward: max |dQ, dK, dV - reference| = %.3g, %.3g, %.3g\n", eq, ek,
         ev);
  CHECK(eq < 1e-5 && ek < 1e-5 && ev < 1e-5);
  mlirAttnCpuExecutableDestroy(fwd);
  mlirAttnCpuExecutableDestroy(bwd);

  /* A backward on a paged cache is refused at the spec. */
  resetDiagnostics();
  spec.pageSize = 8;
  CHECK(mlirAttnCpuExecutableIsNull(
      mlirAttnCompileSpecToCpu(ctx, &spec, &options)));
  CHECK(strstr(diagnostics, "expected dense K and V for a backward spec"));
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
  /* The cost model's figures on the chip's GPU (sm_90: the H100 SXM): 8
     heads x 2 KV tiles of 128 x 64 x 2 (64 + 64) = 33554432 GEMM FLOPs. */
  CHECK(strstr(manifest.data, "\"gpu\": \"h100-sxm\""));
  CHECK(strstr(manifest.data, "\"gemm_flops\": 33554432,"));
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
  testBackward(ctx);
  testPtx(ctx);
  testInvalidSpec(ctx);

  mlirContextDestroy(ctx);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("PASSED\n");
  return failures ? 1 : 0;
}
