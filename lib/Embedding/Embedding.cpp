//===- Embedding.cpp - the C++ API for host compilers ---------------------===//
//
// Part of attn-mlir.
//
// CpuExecutable::compile and attn::compileToPtx collect the diagnostics of
// what they run into their error message. To give embedders located
// diagnostics instead, the attn passes (where every input problem is caught:
// verifier, kernel selection, tile checks) run here first, under the
// context's own handlers; the module they leave holds no attn op, so the
// first stage of those functions (convert-attn-to-linalg or
// convert-attn-to-nvvm, which do nothing without attn ops) does not repeat
// the work.
//
//===----------------------------------------------------------------------===//

#include "attn/Embedding/Embedding.h"
#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Conversion/Passes.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Error.h"

using namespace mlir;
using namespace mlir::attn;

AttentionOp mlir::attn::buildAttention(OpBuilder &builder, Location loc,
                                       Value query, Value key, Value value,
                                       const AttentionAttributes &attributes,
                                       const AttentionOperands &operands) {
  auto op = AttentionOp::create(builder, loc, query, key, value,
                                attributes.mask, attributes.withLse);
  Builder b(builder.getContext());
  op.setLayoutAttr(LayoutAttr::get(b.getContext(), attributes.layout));
  if (attributes.scale)
    op.setScaleAttr(b.getF64FloatAttr(*attributes.scale));
  if (attributes.softcap)
    op.setSoftcapAttr(b.getF64FloatAttr(*attributes.softcap));
  if (attributes.window)
    op.setWindowAttr(b.getDenseI64ArrayAttr(
        {attributes.window->first, attributes.window->second}));
  if (!attributes.alibiSlopes.empty())
    op.setAlibiSlopesAttr(b.getDenseF64ArrayAttr(attributes.alibiSlopes));
  if (operands.bias)
    op.getBiasMutable().assign(operands.bias);
  if (operands.mask)
    op.getMaskMutable().assign(operands.mask);
  if (operands.keyLengths)
    op.getKeyLengthsMutable().assign(operands.keyLengths);
  return op;
}

AttentionBackwardOp mlir::attn::buildAttentionBackward(
    OpBuilder &builder, Location loc, Value query, Value key, Value value,
    Value output, Value gradOutput, Value lse,
    const AttentionAttributes &attributes, const AttentionOperands &operands) {
  Builder b(builder.getContext());
  auto optionalF64 = [&](std::optional<double> x) {
    return x ? b.getF64FloatAttr(*x) : FloatAttr();
  };
  // Gradients in the operands' own types: what a framework's autograd
  // expects back (attn.attention_backward allows others, e.g. f32 of bf16).
  Type gradBias = operands.bias ? operands.bias.getType() : Type();
  return AttentionBackwardOp::create(
      builder, loc, query.getType(), key.getType(), value.getType(), gradBias,
      /*grad_sinks=*/Type(), query, key, value, output, gradOutput, lse,
      operands.bias, operands.mask, operands.keyLengths, /*sinks=*/Value(),
      /*cu_seqlens_q=*/Value(), /*cu_seqlens_k=*/Value(), /*grad_lse=*/Value(),
      optionalF64(attributes.scale),
      MaskKindAttr::get(b.getContext(), attributes.mask),
      attributes.window ? b.getDenseI64ArrayAttr({attributes.window->first,
                                                  attributes.window->second})
                        : DenseI64ArrayAttr(),
      optionalF64(attributes.softcap),
      attributes.alibiSlopes.empty()
          ? DenseF64ArrayAttr()
          : b.getDenseF64ArrayAttr(attributes.alibiSlopes),
      LayoutAttr::get(b.getContext(), attributes.layout));
}

FailureOr<std::string> mlir::attn::prepareModule(ModuleOp module,
                                                 StringRef entry) {
  std::string name = entry.str();
  if (!module.lookupSymbol<func::FuncOp>(name)) {
    auto funcs = module.getOps<func::FuncOp>();
    if (funcs.empty()) {
      module.emitError("expected a func.func to compile");
      return failure();
    }
    name = (*funcs.begin()).getSymName().str();
  }
  auto func = module.lookupSymbol<func::FuncOp>(name);
  auto isTensor = [](Type t) { return isa<TensorType>(t); };
  if ((llvm::any_of(func.getArgumentTypes(), isTensor) ||
       llvm::any_of(func.getResultTypes(), isTensor)) &&
      failed(convertToMemrefEntry(module, name))) {
    func.emitError("expected @")
        << name << " to take and return statically shaped tensors (or memrefs)";
    return failure();
  }
  PassManager pm(module.getContext());
  pm.addPass(createAttnRaise());
  if (failed(pm.run(module)))
    return failure();
  return name;
}

/// The failure of a step past the attn passes, as one diagnostic.
static LogicalResult emitLateError(ModuleOp module, llvm::Error error) {
  module.emitError() << llvm::toString(std::move(error));
  return failure();
}

/// Checks the entry the CPU runner will call, at its location.
static LogicalResult verifyCpuEntry(ModuleOp module, StringRef entry) {
  auto func = module.lookupSymbol<func::FuncOp>(entry);
  if (!func)
    return module.emitError("expected an entry function @") << entry;
  if (func.getNumResults() != 0)
    return func.emitError("expected the entry to return nothing (results "
                          "are written to memref arguments; see "
                          "prepareModule)");
  for (auto [i, type] : llvm::enumerate(func.getArgumentTypes())) {
    auto memref = dyn_cast<MemRefType>(type);
    if (!memref || !memref.getLayout().isIdentity() ||
        !getElementKind(memref.getElementType()))
      return func.emitError("expected entry argument #")
             << i
             << " to be an identity-layout memref of f32, f16, bf16, f64, i1 "
                "or i32, got "
             << type;
  }
  return success();
}

FailureOr<std::unique_ptr<CpuExecutable>>
mlir::attn::compileModuleToCpu(ModuleOp module,
                               const CpuTargetOptions &options) {
  if (failed(verify(module)) || failed(verifyCpuEntry(module, options.entry)))
    return failure();
  MLIRContext *ctx = module.getContext();
  DialectRegistry registry;
  registerAttnToCpuDependencies(registry);
  ctx->appendDialectRegistry(registry);

  OwningOpRef<ModuleOp> clone = module.clone();
  PassManager pm(ctx);
  if (options.flash) {
    pm.addPass(createAttnSplitVarlen());
    pm.addPass(createAttnTile(options.tile));
    pm.addPass(createAttnTileBackward(options.tileBackward));
    pm.addPass(createAttnFuseOnlineSoftmax());
    pm.addPass(createAttnLowerPrecision(options.lowerPrecision));
  }
  ConvertAttnToLinalgOptions lowering;
  lowering.accumulateInF64 = options.accumulateInF64;
  pm.addPass(createConvertAttnToLinalg(lowering));
  if (failed(pm.run(*clone)))
    return failure();

  CpuCompileOptions compile;
  compile.entry = options.entry;
  AttnToCpuPipelineOptions pipeline;
  pipeline.accumulateInF64 = options.accumulateInF64;
  compile.pipelineOptions = &pipeline;
  auto exe = CpuExecutable::compile(*clone, compile);
  if (!exe)
    return emitLateError(module, exe.takeError());
  return std::move(*exe);
}

FailureOr<PtxArtifacts>
mlir::attn::compileModuleToPtx(ModuleOp module,
                               const PtxCompileOptions &options) {
  if (failed(verify(module)))
    return failure();
  OwningOpRef<ModuleOp> clone = module.clone();
  // Planning is where the GPU path refuses a problem: run it here so its
  // errors are located diagnostics of the caller's context. compileToPtx
  // then runs every kernel step itself (planning again, for the target
  // chip's family as here, and the manifests' cost figures from the plan).
  PassManager pm(module.getContext());
  ConvertAttnToNVVMOptions lowering = options.lowering;
  lowering.chip = options.chip;
  // The steps up to planning (f32-compute's rounding comes first).
  for (const GpuKernelStep &step : getAttnGpuKernelSteps(lowering)) {
    step.addPasses(pm);
    if (step.name == "attn-plan-gpu-kernels")
      break;
  }
  {
    // Its errors, not its remarks (the tiles and why: attn-opt's and the
    // cost report's to print), are the caller's.
    ScopedDiagnosticHandler errorsOnly(
        module.getContext(), [](Diagnostic &diag) {
          return success(diag.getSeverity() == DiagnosticSeverity::Remark);
        });
    if (failed(pm.run(*clone)))
      return failure();
  }
  auto artifacts = attn::compileToPtx(*clone, options);
  if (!artifacts)
    return emitLateError(module, artifacts.takeError());
  return std::move(*artifacts);
}

FailureOr<std::unique_ptr<CpuExecutable>>
mlir::attn::compileSpecToCpu(MLIRContext *ctx, const AttentionSpec &spec,
                             const CpuTargetOptions &options) {
  OwningOpRef<ModuleOp> module = buildAttentionModule(ctx, spec, options.entry);
  if (!module)
    return failure();
  return compileModuleToCpu(*module, options);
}

FailureOr<PtxArtifacts>
mlir::attn::compileSpecToPtx(MLIRContext *ctx, const AttentionSpec &spec,
                             const PtxCompileOptions &options) {
  OwningOpRef<ModuleOp> module = buildAttentionModule(ctx, spec, "attention");
  if (!module)
    return failure();
  return compileModuleToPtx(*module, options);
}

StringRef mlir::attn::getVersion() { return ATTN_MLIR_VERSION; }
