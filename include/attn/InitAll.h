//===- InitAll.h - register everything attn-mlir tools need -----*- C++ -*-===//
//
// Part of attn-mlir. The only place that registers all dialects and passes;
// kept in one translation unit because that unit is the costliest to build.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_INITALL_H
#define ATTN_INITALL_H

namespace mlir {
class DialectRegistry;
namespace attn {

/// Adds the attn dialect and every upstream dialect, interface extension and
/// translation interface the pipelines need (CPU and GPU) to `registry`.
void registerAllDialects(DialectRegistry &registry);

/// Registers attn passes, attn pipelines and all upstream passes.
void registerAllPasses();

} // namespace attn
} // namespace mlir

#endif // ATTN_INITALL_H
