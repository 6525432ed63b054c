//===- attn-opt.cpp - attn-mlir optimizer driver --------------------------===//
//
// Part of attn-mlir. mlir-opt with the attn dialect, its passes and
// pipelines, and the upstream dialects and passes they lower through. Its
// input is first scanned for constructs that crash MLIR 22's parser
// (UpstreamGuards.h), which are refused with a diagnostic instead.
//
//===----------------------------------------------------------------------===//

#include "UpstreamGuards.h"
#include "attn/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

/// Fails when `inputFile` holds a known upstream parser crash. Standard
/// input cannot be read twice, so it is not scanned.
static bool hasKnownUpstreamCrash(const std::string &inputFile) {
  if (inputFile == "-")
    return false;
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> file =
      mlir::openInputFile(inputFile, &error);
  // MlirOptMain reports an unreadable file itself.
  if (!file)
    return false;
  std::optional<std::string> crash =
      mlir::attn::findKnownUpstreamCrash(file->getBuffer());
  if (crash)
    llvm::errs() << inputFile << ":" << *crash << "\n";
  return crash.has_value();
}

int main(int argc, char **argv) {
  mlir::attn::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::attn::registerAllDialects(registry);
  auto [inputFile, outputFile] = mlir::registerAndParseCLIOptions(
      argc, argv, "attn-mlir optimizer driver\n", registry);
  if (hasKnownUpstreamCrash(inputFile))
    return 1;
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, inputFile, outputFile, registry));
}
