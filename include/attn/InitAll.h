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

/// The minimal registration for embedders (lib/InitAll/InitRequired.cpp):
/// the attn dialect plus only the upstream dialects, interface models and
/// LLVM IR translations that attn-to-cpu and attn-to-ptx (and parsing their
/// input) need. Much cheaper to link and load than registerAllDialects.
void registerRequiredDialects(DialectRegistry &registry);

/// Registers the attn passes and pipelines (no upstream passes), so that
/// textual pipelines such as "attn-tile,attn-to-cpu" parse.
void registerAttnPasses();

} // namespace attn
} // namespace mlir

#endif // ATTN_INITALL_H
