//===- attn-fuzz.cpp - libFuzzer target over attn-opt ---------------------===//
//
// Part of attn-mlir. Feeds each input to the parser and verifier and, when it
// parses, through the pipelines attn-opt users run. A crash, a sanitizer
// report, a timeout or an out-of-memory is a bug; a diagnostic is the
// expected answer to bad input.
//
// An input may start with a line `// pipeline: <pass pipeline>` naming its
// own pipeline (attn passes and the attn pipelines only, so that pass
// options are fuzzed too); otherwise every default pipeline runs.
//
//===----------------------------------------------------------------------===//

#include "UpstreamGuards.h"
#include "attn/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace mlir;

namespace {

/// The pipelines an input without its own runs: the CPU path with and
/// without tiling and the rewrites between, and the GPU lowering up to the
/// NVVM/LLVM dialect (the LLVM backend is upstream's; chips are checked
/// before it, see checkGpuChip).
const char *const kDefaultPipelines[] = {
    "builtin.module(attn-to-cpu)",
    "builtin.module(attn-tile{block-m=16 block-n=16 num-splits=2},"
    "attn-fuse-online-softmax,attn-lower-precision,attn-count-kv-tiles,"
    "attn-to-cpu)",
    "builtin.module(attn-raise,canonicalize)",
    "builtin.module(attn-to-ptx{emit-binary=false})",
};

/// Pipelines from an input's first line may only name our passes (anchored
/// on the module; a nested pass manager has no argument and is refused):
/// upstream passes have their own fuzzers and preconditions.
bool isOwnPipeline(const OpPassManager &pm) {
  for (Pass &pass : pm.getPasses()) {
    StringRef arg = pass.getArgument();
    if (!arg.starts_with("attn-") && !arg.starts_with("convert-attn-") &&
        arg != "canonicalize")
      return false;
  }
  return true;
}

void runPipeline(MLIRContext &context, ModuleOp module, StringRef text,
                 bool restrictToOwn) {
  OwningOpRef<ModuleOp> copy(module.clone());
  PassManager pm(&context, ModuleOp::getOperationName());
  std::string errors;
  llvm::raw_string_ostream errorStream(errors);
  if (failed(parsePassPipeline(text, pm, errorStream)))
    return;
  if (restrictToOwn && !isOwnPipeline(pm))
    return;
  (void)pm.run(*copy);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  attn::registerAllPasses();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // MLIR's lexer stops at the NUL that MemoryBuffer puts after a file's
  // contents (attn-opt's and attn-compile's inputs have it); libFuzzer's
  // buffer ends without one, and the lexer read past it (the first finding
  // of this fuzzer: a heap-buffer-overflow that depended on the bytes after
  // the buffer). A std::string has the NUL.
  std::string text(reinterpret_cast<const char *>(data), size);
  std::string pipeline;
  if (StringRef(text).starts_with("// pipeline: ")) {
    auto [line, rest] = StringRef(text).drop_front(13).split('\n');
    pipeline = line.str();
    // A copy, never a null StringRef: the lexer takes a null buffer's start
    // for the code-completion location (null when not completing) and
    // crashes in codeCompleteDialectOrElidedOpName (findings 2 and 3).
    text = rest.str();
  }
  StringRef input(text);

  // What attn-opt refuses before parsing (MLIR 22 parser crashes, see
  // UpstreamGuards.h) is not ours to find again.
  if (attn::findKnownUpstreamCrash(input))
    return 0;

  DialectRegistry registry;
  attn::registerAllDialects(registry);
  MLIRContext context(registry, MLIRContext::Threading::DISABLED);
  // Bad input is expected; its diagnostics are not the fuzzer's output.
  ScopedDiagnosticHandler silence(&context, [](Diagnostic &) {
    return success();
  });
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(input, ParserConfig(&context));
  if (!module)
    return 0;
  if (!pipeline.empty()) {
    runPipeline(context, *module, pipeline, /*restrictToOwn=*/true);
    return 0;
  }
  for (const char *text : kDefaultPipelines)
    runPipeline(context, *module, text, /*restrictToOwn=*/false);
  return 0;
}
