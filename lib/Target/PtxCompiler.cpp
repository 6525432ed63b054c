//===- PtxCompiler.cpp - attn module to PTX, cubin and manifest -----------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/PtxCompiler.h"
#include "attn/Analysis/CostModel.h"
#include "attn/Target/KernelCost.h"
#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

std::string mlir::attn::findPtxas() {
  for (const std::string &root : getCudaToolkitRoots()) {
    SmallString<128> path(root);
    llvm::sys::path::append(path, "bin", "ptxas");
    if (llvm::sys::fs::can_execute(path))
      return path.str().str();
  }
  return "";
}

static std::map<std::string, int64_t> countOps(ModuleOp module) {
  std::map<std::string, int64_t> counts;
  module.walk([&](Operation *op) {
    if (op != module.getOperation())
      ++counts[op->getName().getStringRef().str()];
  });
  return counts;
}

/// Runs ptxas on `ptx`; returns the cubin and puts ptxas -v's resource
/// report in `report`.
static llvm::Expected<std::string> assemble(StringRef ptxas, StringRef ptx,
                                            StringRef arch,
                                            std::string &report) {
  SmallString<128> in, out, log;
  int fd;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("attn", "ptx", fd, in))
    return llvm::createStringError(ec, "cannot create a temporary file");
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << ptx;
  }
  llvm::sys::fs::createTemporaryFile("attn", "cubin", out);
  llvm::sys::fs::createTemporaryFile("attn", "log", log);
  std::string archFlag = ("-arch=" + arch).str();
  SmallVector<StringRef> args = {ptxas, archFlag, "-O3", "-v", in, "-o", out};
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                          StringRef(log)};
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects, 0,
                                     0, &error);
  auto logText = llvm::MemoryBuffer::getFile(log);
  report = logText ? (*logText)->getBuffer().str() : "";
  auto cubin = llvm::MemoryBuffer::getFile(out);
  llvm::sys::fs::remove(in);
  llvm::sys::fs::remove(out);
  llvm::sys::fs::remove(log);
  if (rc != 0 || !cubin)
    return llvm::createStringError("ptxas -arch=" + arch.str() +
                                   " failed: " + error + "\n" + report);
  return (*cubin)->getBuffer().str();
}

namespace {
/// sm_<number>[suffix], e.g. sm_90a = {90, 'a'}.
struct SmArch {
  unsigned number = 0;
  char suffix = 0;
};
} // namespace

static std::optional<SmArch> parseSmArch(StringRef name) {
  SmArch arch;
  if (!name.consume_front("sm_"))
    return std::nullopt;
  if (name.ends_with("a") || name.ends_with("f")) {
    arch.suffix = name.back();
    name = name.drop_back();
  }
  if (name.getAsInteger(10, arch.number))
    return std::nullopt;
  return arch;
}

std::vector<std::string> mlir::attn::defaultCubinArchs(StringRef chip) {
  std::optional<SmArch> target = parseSmArch(chip);
  if (!target)
    return {};
  if (target->suffix)
    return {chip.str()};
  std::vector<std::string> archs;
  if (target->number != 80 && target->number != 90)
    archs.push_back(chip.str());
  for (unsigned number : {80u, 90u})
    if (number >= target->number)
      archs.push_back("sm_" + std::to_string(number));
  return archs;
}

llvm::Error mlir::attn::checkCubinArch(StringRef chip, StringRef arch) {
  std::optional<SmArch> target = parseSmArch(chip), cubin = parseSmArch(arch);
  auto error = [&](const Twine &which) {
    return llvm::createStringError(
        "expected a cubin arch that PTX for " + chip + " assembles for (" +
        which + "), got " + arch);
  };
  if (!target || !cubin)
    return error("sm_<N>[a|f]");
  if (target->suffix == 'a' && arch != chip)
    return error("only " + chip + " itself: arch-specific PTX");
  if (target->suffix == 'f' &&
      (cubin->number / 10 != target->number / 10 ||
       cubin->number < target->number))
    return error("sm_" + Twine(target->number / 10) +
                 "x archs not older than it: family PTX");
  if (!target->suffix && cubin->number < target->number)
    return error("archs not older than it");
  return llvm::Error::success();
}

/// Kernels call libdevice (__nv_expf, __nv_tanhf, ...) where a score_mod's
/// math ops lower to it; without the toolkit's libdevice those calls would
/// stay unresolved in the PTX and fail only when it is loaded.
static llvm::Error checkLibdevice(ModuleOp module) {
  std::string missing;
  module.walk([&](LLVM::LLVMFuncOp func) {
    if (func.isExternal() && func.getName().starts_with("__nv_") &&
        missing.empty())
      missing = func.getName().str();
  });
  if (missing.empty() || !findCudaToolkit().empty())
    return llvm::Error::success();
  return llvm::createStringError(
      "expected the CUDA toolkit's libdevice (nvvm/libdevice under "
      "$CUDA_HOME, $CUDA_ROOT, $CUDA_PATH or /usr/local/cuda) for " +
      missing + ", which the kernel calls (a score_mod's math op)");
}

llvm::Expected<PtxArtifacts>
mlir::attn::compileToPtx(ModuleOp module, const PtxCompileOptions &options) {
  for (const std::string &arch : options.cubinArchs)
    if (llvm::Error error = checkCubinArch(options.chip, arch))
      return std::move(error);
  PtxArtifacts result;
  MLIRContext *ctx = module.getContext();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &diag) {
    // attn-plan-gpu-kernels' remarks (the tiles and why) are for attn-opt
    // and the cost report; a failure's message is its errors.
    if (diag.getSeverity() == DiagnosticSeverity::Remark)
      return success();
    llvm::raw_string_ostream os(diagnostics);
    auto print = [&](Diagnostic &d) {
      StringRef severity =
          d.getSeverity() == DiagnosticSeverity::Error     ? "error"
          : d.getSeverity() == DiagnosticSeverity::Warning ? "warning"
                                                           : "note";
      os << d.getLocation() << ": " << severity << ": " << d << "\n";
    };
    print(diag);
    for (Diagnostic &note : diag.getNotes())
      print(note);
    return success();
  });

  AttnToPtxPipelineOptions pipeline;
  pipeline.chip = options.chip;
  pipeline.features = options.features;

  // One stage per step of the GPU kernel pipeline, then the upstream
  // lowering to NVVM and serialization to PTX.
  auto runStage = [&](StringRef name,
                      function_ref<void(OpPassManager &)> populate) -> LogicalResult {
    PassManager pm(ctx);
    populate(pm);
    auto start = std::chrono::steady_clock::now();
    LogicalResult status = pm.run(module);
    PtxStage stage;
    stage.name = name.str();
    stage.seconds = std::chrono::duration<double>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    stage.opCounts = countOps(module);
    if (options.recordStageIR) {
      llvm::raw_string_ostream os(stage.irAfter);
      module.print(os);
    }
    result.stages.push_back(std::move(stage));
    return status;
  };
  auto fail = [&](StringRef what) {
    return llvm::createStringError(what + ":\n" + diagnostics);
  };

  // The kernel family follows the target chip (sm_90a: wgmma); each step
  // of the GPU kernel pipeline is a stage of its own.
  ConvertAttnToNVVMOptions lowering = options.lowering;
  lowering.chip = options.chip;
  const GpuSpec *costGpu = options.costGpu.empty()
                              ? lookupGpuForChip(options.chip)
                              : lookupGpu(options.costGpu);
  if (!costGpu && !options.costGpu.empty())
    return llvm::createStringError("expected a GPU name for the cost figures (" +
                                   listKnownGpus() + "), got '" +
                                   options.costGpu + "'");
  std::vector<PlannedKernelCost> costs;
  for (const GpuKernelStep &step : getAttnGpuKernelSteps(lowering)) {
    if (failed(runStage(step.name, step.addPasses)))
      return fail((step.name + " failed").str());
    // Planned: every attention carries its family and tiles.
    if (costGpu && step.name == "attn-plan-gpu-kernels")
      costs = collectPlannedKernelCosts(module, *costGpu);
  }
  // The backward's kernels, from its tiled programs (stages only where
  // there is a backward).
  bool hasBackward = false;
  module.walk([&](AttentionBackwardOp) { hasBackward = true; });
  AttnPlanGpuBackwardOptions backward = options.backward;
  backward.chip = options.chip;
  backward.ptxFeatures = options.features;
  std::vector<PlannedBackwardKernelCost> backwardCosts;
  if (costGpu && hasBackward)
    backwardCosts = collectBackwardKernelCosts(
        module, *costGpu, [&](AttentionBackwardOp op) {
          return planBackwardSchedule(op, backward);
        });
  if (hasBackward)
    for (const GpuKernelStep &step :
         getAttnGpuBackwardSteps(backward, lowering.kernelModuleName))
      if (failed(runStage(step.name, step.addPasses)))
        return fail((step.name + " failed").str());
  FailureOr<std::vector<KernelManifest>> manifests =
      extractManifests(module, options.chip);
  if (failed(manifests))
    return fail("no kernel launch to describe");
  attachKernelCosts(std::move(costs), *manifests);
  attachBackwardKernelCosts(std::move(backwardCosts), *manifests);
  result.manifests = std::move(*manifests);
  result.manifest = result.manifests.front();

  // The rest of attn-to-ptx, in two timed stages.
  if (failed(runStage("gpu/nvvm lowering", [&](OpPassManager &pm) {
        buildAttnKernelToNVVMPasses(pm);
      })))
    return fail("lowering the kernel to NVVM failed");
  if (llvm::Error error = checkLibdevice(module))
    return std::move(error);
  if (failed(runStage("gpu-module-to-binary (PTX)", [&](OpPassManager &pm) {
        buildNVVMToPtxPasses(pm, pipeline);
      })))
    return fail("gpu-module-to-binary failed");
  FailureOr<std::string> ptx = extractPTX(module);
  if (failed(ptx))
    return fail("no PTX in the module");
  result.ptx = *ptx;
  result.stages.back().note =
      std::to_string(llvm::count(result.ptx, '\n')) + " lines of PTX";

  std::string ptxas = options.ptxas.empty() ? findPtxas() : options.ptxas;
  if (ptxas.empty())
    return result;
  for (const std::string &arch : options.cubinArchs) {
    PtxStage stage;
    stage.name = "ptxas -arch=" + arch;
    auto start = std::chrono::steady_clock::now();
    std::string report;
    llvm::Expected<std::string> cubin = assemble(ptxas, result.ptx, arch, report);
    if (!cubin)
      return cubin.takeError();
    stage.seconds = std::chrono::duration<double>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    // Keep ptxas's "Used N registers, ..." line: the resource report.
    // One "Used" line per kernel (a backward program has three). ptxas
    // prints a function's stack/spill line before its "Used" line: a
    // nonzero one is attached to the "Used" line that follows.
    std::string spill;
    for (StringRef line : llvm::split(report, '\n')) {
      if (line.contains("spill stores") &&
          !line.trim().starts_with("0 bytes stack frame, 0 bytes spill")) {
        spill = " [" + line.trim().str() + "]";
      } else if (line.contains("Used")) {
        stage.note += (stage.note.empty() ? "" : "; ") +
                      line.substr(line.find("Used")).str() + spill;
        spill.clear();
      }
    }
    result.cubins[arch] = std::move(*cubin);
    result.stages.push_back(std::move(stage));
  }
  return result;
}
