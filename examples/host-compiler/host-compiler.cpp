//===- host-compiler.cpp - a host compiler embedding attn-mlir ------------===//
//
// Built against the installed AttnMLIR package only. It does what a host
// compiler does with attn-mlir:
//   1. compiles an attention spec to a GPU kernel in memory (PTX, the
//      manifest the runtime loads, a cubin when ptxas is installed) and
//      writes them to <out-dir>;
//   2. builds attn.attention inside its own function, compiles that for the
//      CPU and runs it on its buffers, against the float64 reference;
//   3. shows a shape the GPU path refuses arriving as a located diagnostic.
// Usage: host-compiler <out-dir>. Exit code 0 iff all three behave.
//
//===----------------------------------------------------------------------===//

#include "attn/Embedding/Embedding.h"
#include "attn/InitAll.h"
#include "attn/Reference/Reference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <random>

using namespace mlir;
using namespace mlir::attn;

static bool writeFile(const std::string &path, llvm::StringRef bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec) {
    llvm::errs() << "cannot write " << path << ": " << ec.message() << "\n";
    return false;
  }
  os << bytes;
  return true;
}

/// 1. Spec -> PTX + manifest (+ cubin), written to outDir/gqa.*.
static bool compileGpuKernel(MLIRContext &ctx, const std::string &outDir) {
  AttentionSpec spec;
  spec.numQueryHeads = 16;
  spec.numKVHeads = 8;
  spec.queryLength = spec.keyLength = 256;
  spec.headDim = 128;
  spec.maskKind = MaskKind::CausalBottomRight;
  PtxCompileOptions options;
  options.chip = "sm_90";
  options.cubinArchs.clear();
  if (!findPtxas().empty())
    options.cubinArchs.push_back("sm_90");
  FailureOr<PtxArtifacts> kernel = compileSpecToPtx(&ctx, spec, options);
  if (failed(kernel))
    return false;
  std::string base = outDir + "/gqa";
  if (!writeFile(base + ".ptx", kernel->ptx) ||
      !writeFile(base + ".json", kernel->manifest.toJson()))
    return false;
  for (auto &[arch, cubin] : kernel->cubins)
    if (!writeFile(base + "." + arch + ".cubin", cubin))
      return false;
  llvm::outs() << "gpu: " << spec.describe() << " -> "
               << kernel->manifest.symbol << ", " << kernel->ptx.size()
               << " bytes of PTX, " << kernel->cubins.size()
               << " cubin(s), grid [" << kernel->manifest.grid[0] << ", "
               << kernel->manifest.grid[1] << ", " << kernel->manifest.grid[2]
               << "] in " << base << ".*\n";
  return true;
}

/// 2. The host's own function @mha(q, k, v) -> o on tensors, with one
/// attn.attention built through the API, run on the CPU.
static bool runOnCpu(MLIRContext &ctx) {
  AttentionSpec spec; // describes the op below, for the reference
  spec.numQueryHeads = spec.numKVHeads = 2;
  spec.queryLength = 24;
  spec.keyLength = 40;
  spec.headDim = 16;
  spec.elementType = ElementKind::F32;
  spec.maskKind = MaskKind::CausalBottomRight;
  spec.softcap = 30.0;

  OpBuilder b(&ctx);
  Location loc = FileLineColLoc::get(&ctx, "host-compiler.cpp", __LINE__, 0);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  auto tensor = [&](llvm::ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, b.getF32Type());
  };
  auto type =
      b.getFunctionType({tensor(spec.queryShape()), tensor(spec.keyShape()),
                         tensor(spec.valueShape())},
                        {tensor(spec.outputShape())});
  b.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(b, loc, "mha", type);
  Block *body = func.addEntryBlock();
  b.setInsertionPointToEnd(body);
  AttentionAttributes attributes;
  attributes.mask = spec.maskKind;
  attributes.softcap = spec.softcap;
  AttentionOp op =
      buildAttention(b, loc, body->getArgument(0), body->getArgument(1),
                     body->getArgument(2), attributes);
  func::ReturnOp::create(b, loc, op.getOutput());

  FailureOr<std::string> entry = prepareModule(*module, "mha");
  if (failed(entry))
    return false;
  CpuTargetOptions options;
  options.entry = *entry;
  options.tile.blockM = options.tile.blockN = 8;
  auto exe = compileModuleToCpu(*module, options);
  if (failed(exe))
    return false;

  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1, 1);
  auto fill = [&](llvm::ArrayRef<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    std::vector<float> v(n);
    for (float &x : v)
      x = dist(rng);
    return v;
  };
  std::vector<float> q = fill(spec.queryShape()), k = fill(spec.keyShape()),
                     v = fill(spec.valueShape()),
                     o(fill(spec.outputShape()).size());
  auto buffer = [](std::vector<float> &data, llvm::ArrayRef<int64_t> shape) {
    return HostBuffer{ElementKind::F32, llvm::to_vector(shape), data.data(),
                      data.size() * sizeof(float)};
  };
  if (llvm::Error err = (*exe)->invoke(
          {buffer(q, spec.queryShape()), buffer(k, spec.keyShape()),
           buffer(v, spec.valueShape()), buffer(o, spec.outputShape())})) {
    llvm::errs() << "invoke: " << llvm::toString(std::move(err)) << "\n";
    return false;
  }

  ReferenceInputs inputs{
      {q.begin(), q.end()}, {k.begin(), k.end()}, {v.begin(), v.end()}, {}, {}};
  ReferenceResult expected = referenceAttention(spec, inputs);
  // attn-lower-precision does nothing to f32: the f32 tolerance applies.
  Tolerance tolerance = deriveTolerance(spec, inputs, ElementKind::F32);
  double maxError = 0;
  for (size_t i = 0; i < o.size(); ++i)
    maxError = std::max(maxError, std::fabs(o[i] - expected.output[i]));
  llvm::outs() << "cpu: @" << *entry << " " << spec.describe() << ": max error "
               << maxError << " (tolerance " << tolerance.output << ")\n";
  return maxError <= tolerance.output;
}

/// 3. f32 inputs on the GPU path: refused, at the op's location.
static bool refusesF32OnGpu(MLIRContext &ctx, int &errors) {
  AttentionSpec spec;
  spec.elementType = ElementKind::F32;
  spec.queryLength = spec.keyLength = 64;
  int before = errors;
  bool failedAsExpected = failed(compileSpecToPtx(&ctx, spec, {}));
  return failedAsExpected && errors > before;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: host-compiler <out-dir>\n";
    return 2;
  }
  llvm::sys::fs::create_directories(argv[1]);
  DialectRegistry registry;
  registerRequiredDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadDialect<func::FuncDialect, AttnDialect>();
  int errors = 0;
  // The host's own diagnostic handler: everything attn-mlir reports lands
  // here, location first.
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) {
    errors += diag.getSeverity() == DiagnosticSeverity::Error;
    llvm::outs() << "diagnostic: " << diag.getLocation() << ": " << diag
                 << "\n";
    return success();
  });
  llvm::outs() << "attn-mlir " << getVersion() << "\n";
  bool ok = compileGpuKernel(ctx, argv[1]);
  ok &= runOnCpu(ctx);
  ok &= refusesF32OnGpu(ctx, errors);
  llvm::outs() << (ok ? "host-compiler: OK\n" : "host-compiler: FAILED\n");
  return ok ? 0 : 1;
}
