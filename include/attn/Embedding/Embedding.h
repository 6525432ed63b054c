//===- Embedding.h - the C++ API for host compilers -------------*- C++ -*-===//
//
// Part of attn-mlir. One header for embedders: build attn.attention in your
// own IR, run the attn pipelines with typed options, and get PTX, cubins and
// the kernel manifest, or a CPU executable to call on host buffers.
//
// Errors are MLIR diagnostics: every function here reports through the
// context's diagnostic handlers (attach a ScopedDiagnosticHandler, a
// SourceMgrDiagnosticHandler or, from C, mlirContextAttachDiagnosticHandler)
// and returns failure. Problems in the input (an invalid op, a shape a kernel
// does not support) arrive at the location of the offending operation; the
// few failures past the attn passes (LLVM, the JIT, ptxas) arrive as one
// error at the module's location.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_EMBEDDING_EMBEDDING_H
#define ATTN_EMBEDDING_EMBEDDING_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Execution/CpuRunner.h"
#include "attn/Spec/AttentionSpec.h"
#include "attn/Target/PtxCompiler.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <memory>
#include <optional>
#include <string>

namespace mlir::attn {

/// The attributes of an attn.attention beyond its operands (the op's ODS
/// documents each).
struct AttentionAttributes {
  MaskKind mask = MaskKind::None;
  Layout layout = Layout::BHSD;
  std::optional<double> scale;
  std::optional<double> softcap;
  /// Sliding window (left, right); only with MaskKind::SlidingWindow.
  std::optional<std::pair<int64_t, int64_t>> window;
  SmallVector<double> alibiSlopes;
  /// Also return the log-sum-exp of each query row.
  bool withLse = false;
};

/// Optional operands of an attn.attention.
struct AttentionOperands {
  Value bias;
  Value mask;
  Value keyLengths;
};

/// Creates attn.attention(query, key, value) on tensors at the builder's
/// insertion point, inferring the output (and LSE) types. The op is not
/// verified here: verify the enclosing module (mlir::verify) or let the
/// compile functions below do it.
AttentionOp buildAttention(OpBuilder &builder, Location loc, Value query,
                           Value key, Value value,
                           const AttentionAttributes &attributes = {},
                           const AttentionOperands &operands = {});

/// Creates attn.attention_backward(query, key, value, output, gradOutput,
/// lse) on tensors at the builder's insertion point: the gradients of an
/// attn.attention with the same `attributes` and `operands` (whose `withLse`
/// is ignored), given its output, the loss's gradient with respect to it and
/// its log-sum-exp (`[B, Hq, Lq]` f32, f64 for f64 operands: what the
/// forward with `withLse` returns). The results dQ, dK, dV (and d_bias with a bias operand) have the
/// types of Q, K, V (and the bias). Not verified here, as buildAttention.
AttentionBackwardOp buildAttentionBackward(
    OpBuilder &builder, Location loc, Value query, Value key, Value value,
    Value output, Value gradOutput, Value lse,
    const AttentionAttributes &attributes = {},
    const AttentionOperands &operands = {});

/// Makes `module` ready for the compile functions, as attn-compile does for
/// a .mlir file: picks the entry (`entry` if the module has it, otherwise its
/// first func.func), gives an entry on tensors the destination-passing
/// calling convention (convertToMemrefEntry) and raises attention written as
/// linalg graphs (attn-raise). Returns the entry's name.
FailureOr<std::string> prepareModule(ModuleOp module,
                                     StringRef entry = "attention");

/// Options of the CPU target: the FlashAttention passes the CPU runs before
/// attn-to-cpu (so CPU results show what the tiled algorithm computes), and
/// attn-to-cpu's own options.
struct CpuTargetOptions {
  std::string entry = "attention";
  /// attn-tile, attn-tile-backward, attn-fuse-online-softmax and
  /// attn-lower-precision first; without, both ops are lowered whole
  /// (convert-attn-to-linalg).
  bool flash = true;
  AttnTileOptions tile;
  /// The backward's tiling (attn.attention_backward: KV blocks outer).
  AttnTileBackwardOptions tileBackward;
  AttnLowerPrecisionOptions lowerPrecision;
  bool accumulateInF64 = false;
};

/// Lowers and JIT-compiles a clone of `module` (entry on memrefs, see
/// prepareModule); `module` is left unchanged.
FailureOr<std::unique_ptr<CpuExecutable>>
compileModuleToCpu(ModuleOp module, const CpuTargetOptions &options = {});

/// Generates the GPU kernel from a clone of `module`: PTX, the manifest and,
/// with options.cubinArchs and ptxas present, cubins. `module` is left
/// unchanged. The kernel lowering's options are options.lowering
/// (convert-attn-to-nvvm's, generated from ODS).
FailureOr<PtxArtifacts> compileModuleToPtx(ModuleOp module,
                                           const PtxCompileOptions &options);

/// The same for an AttentionSpec (the fields of attn-compile's flags):
/// builds the module in `ctx` and compiles it.
FailureOr<std::unique_ptr<CpuExecutable>>
compileSpecToCpu(MLIRContext *ctx, const AttentionSpec &spec,
                 const CpuTargetOptions &options = {});
FailureOr<PtxArtifacts> compileSpecToPtx(MLIRContext *ctx,
                                         const AttentionSpec &spec,
                                         const PtxCompileOptions &options);

/// Version of attn-mlir this library was built from ("major.minor.patch",
/// the CMake package version).
StringRef getVersion();

} // namespace mlir::attn

#endif // ATTN_EMBEDDING_EMBEDDING_H
