//===- TestKVPlugin.cpp - test_kv as an MLIR dialect plugin ---------------===//
//
// Part of attn-mlir's tests. Loading this library with
//
//   attn-opt --load-dialect-plugin=build/lib/TestKVPlugin.so ...
//
// registers the test_kv dialect, as a host compiler's own dialect would be:
// attn-opt is not rebuilt and the attn code never names test_kv.
//
//===----------------------------------------------------------------------===//

#include "TestKVOps.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "TestKV", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            registry->insert<test_kv::TestKVDialect>();
          }};
}
