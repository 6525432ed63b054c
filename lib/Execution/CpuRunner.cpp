//===- CpuRunner.cpp - JIT-run attn modules on the CPU --------------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Execution/CpuRunner.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <mutex>

using namespace mlir;
using namespace mlir::attn;

CpuExecutable::~CpuExecutable() = default;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (auto [i, extent] : llvm::enumerate(shape)) {
    if (i)
      text += ", ";
    text += ShapedType::isDynamic(extent) ? "?" : std::to_string(extent);
  }
  return text + "]";
}

namespace {
/// Records the name, duration and resulting IR of every pass that runs.
class StageRecorder : public PassInstrumentation {
public:
  StageRecorder(SmallVectorImpl<StageRecord> &stages, bool keepIR)
      : stages(stages), keepIR(keepIR) {}

  void runBeforePass(Pass *pass, Operation *op) override {
    if (isa<ModuleOp>(op))
      start = std::chrono::steady_clock::now();
  }
  void runAfterPass(Pass *pass, Operation *op) override {
    // Nested function passes are reported through their module-level
    // adaptor, which runs before/after them.
    if (!isa<ModuleOp>(op))
      return;
    StageRecord record;
    record.pass = pass->getArgument().empty() ? pass->getName().str()
                                              : pass->getArgument().str();
    record.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    op->walk([&](Operation *nested) {
      if (nested != op)
        ++record.opCounts[nested->getName().getStringRef().str()];
    });
    if (keepIR) {
      llvm::raw_string_ostream os(record.irAfter);
      op->print(os);
    }
    stages.push_back(std::move(record));
  }

private:
  SmallVectorImpl<StageRecord> &stages;
  bool keepIR;
  std::chrono::steady_clock::time_point start;
};
} // namespace

static void initializeNativeTargetOnce() {
  static std::once_flag flag;
  std::call_once(flag, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

llvm::Expected<std::unique_ptr<CpuExecutable>>
CpuExecutable::compile(ModuleOp module, const CpuCompileOptions &options) {
  MLIRContext *ctx = module.getContext();
  DialectRegistry registry;
  registerAttnToCpuDependencies(registry);
  ctx->appendDialectRegistry(registry);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &diag) {
    llvm::raw_string_ostream os(diagnostics);
    os << diag.getLocation() << ": " << diag << "\n";
    return success();
  });

  auto func = module.lookupSymbol<func::FuncOp>(options.entry);
  if (!func)
    return makeError("no entry function @" + options.entry + " in the module");
  if (func.getNumResults() != 0)
    return makeError("expected entry @" + options.entry +
                     " to return nothing (results are written to memref "
                     "arguments)");

  std::unique_ptr<CpuExecutable> exe(new CpuExecutable());
  exe->entry = options.entry;
  for (auto [i, type] : llvm::enumerate(func.getArgumentTypes())) {
    auto memref = dyn_cast<MemRefType>(type);
    std::optional<ElementKind> kind =
        memref ? getElementKind(memref.getElementType()) : std::nullopt;
    if (!memref || !memref.getLayout().isIdentity() || !kind)
      return makeError(llvm::formatv(
          "expected entry argument #{0} to be an identity-layout memref of "
          "f32, f16, bf16, f64, i1 or i32, got {1}",
          i, type));
    exe->signature.push_back({*kind, llvm::to_vector(memref.getShape())});
  }

  OwningOpRef<ModuleOp> lowered = module.clone();
  lowered->lookupSymbol<func::FuncOp>(options.entry)
      ->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));

  PassManager pm(ctx);
  if (options.prePipeline)
    options.prePipeline(pm);
  AttnToCpuPipelineOptions defaults;
  buildAttnToCpuPipeline(pm, options.pipelineOptions ? *options.pipelineOptions
                                                     : defaults);
  if (options.recordStages)
    pm.addInstrumentation(
        std::make_unique<StageRecorder>(exe->stages, options.recordStageIR));
  if (failed(pm.run(*lowered)))
    return makeError("lowering to LLVM failed:\n" + diagnostics);

  initializeNativeTargetOnce();
  registerBuiltinDialectTranslation(*ctx);
  registerLLVMDialectTranslation(*ctx);
  // ExecutionEngineOptions holds a function_ref: keep the callable alive.
  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(/*optLevel=*/3, /*sizeLevel=*/0,
                                /*targetMachine=*/nullptr);
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = optimize;
  // memref.copy of strided tiles lowers to a call into MLIR's C runner
  // utilities.
  SmallVector<StringRef> sharedLibs = {ATTN_MLIR_C_RUNNER_UTILS};
  engineOptions.sharedLibPaths = sharedLibs;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine = ExecutionEngine::create(*lowered, engineOptions);
  if (!engine)
    return llvm::joinErrors(
        makeError("JIT compilation failed:\n" + diagnostics),
        engine.takeError());
  exe->engine = std::move(*engine);
  return exe;
}

llvm::Error CpuExecutable::invoke(ArrayRef<HostBuffer> args) {
  if (args.size() != signature.size())
    return makeError(llvm::formatv("@{0} expects {1} buffers, got {2}", entry,
                                   signature.size(), args.size()));
  for (auto [i, pair] : llvm::enumerate(llvm::zip(args, signature))) {
    auto [arg, sig] = pair;
    if (arg.kind != sig.kind)
      return makeError(llvm::formatv(
          "buffer #{0}: expected element type {1}, got {2}", i,
          stringifyElementKind(sig.kind), stringifyElementKind(arg.kind)));
    bool shapeOk = arg.shape.size() == sig.shape.size();
    for (size_t d = 0; shapeOk && d < arg.shape.size(); ++d)
      shapeOk = arg.shape[d] >= 0 && (ShapedType::isDynamic(sig.shape[d]) ||
                                      sig.shape[d] == arg.shape[d]);
    if (!shapeOk)
      return makeError(llvm::formatv("buffer #{0}: expected shape {1}, got {2}",
                                     i, shapeString(sig.shape),
                                     shapeString(arg.shape)));
    int64_t elements = 1;
    for (int64_t extent : arg.shape)
      elements *= extent;
    size_t needed = elements * getElementByteSize(arg.kind);
    if (!arg.data && needed != 0)
      return makeError(llvm::formatv("buffer #{0}: null data pointer", i));
    if (arg.byteSize < needed)
      return makeError(llvm::formatv(
          "buffer #{0}: shape {1} of {2} needs {3} bytes, the buffer has {4}",
          i, shapeString(arg.shape), stringifyElementKind(arg.kind), needed,
          arg.byteSize));
  }

  // One StridedMemRefType-compatible descriptor per argument:
  // {allocated, aligned, offset, sizes[rank], strides[rank]}.
  SmallVector<SmallVector<int64_t>> descriptors;
  for (const HostBuffer &arg : args) {
    int64_t rank = arg.shape.size();
    SmallVector<int64_t> desc(3 + 2 * rank, 0);
    desc[0] = reinterpret_cast<int64_t>(arg.data);
    desc[1] = reinterpret_cast<int64_t>(arg.data);
    int64_t stride = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      desc[3 + d] = arg.shape[d];
      desc[3 + rank + d] = stride;
      stride *= arg.shape[d];
    }
    descriptors.push_back(std::move(desc));
  }
  SmallVector<void *> descriptorPtrs;
  for (SmallVector<int64_t> &desc : descriptors)
    descriptorPtrs.push_back(desc.data());
  SmallVector<void *> packed;
  for (void *&ptr : descriptorPtrs)
    packed.push_back(&ptr);
  if (llvm::Error err = engine->invokePacked("_mlir_ciface_" + entry, packed))
    return llvm::joinErrors(makeError("calling @" + entry + " failed"),
                            std::move(err));
  return llvm::Error::success();
}
