//===- KernelInfo.h - #attn.kernel_info from an attention op ----*- C++ -*-===//
//
// Part of attn-mlir. The one builder of the kernel-info attribute: a kernel
// family states what it decided (grid formula, shared memory, tiles,
// arguments) and the attention fields are read from the attn.attention op
// it replaces, so every family records them the same way.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_KERNELINFO_H
#define ATTN_DIALECT_ATTN_IR_KERNELINFO_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include <string>

namespace mlir::attn {

/// The batch, seq_q or seq_k of a kernel info (and the manifest's attention)
/// for a dynamic dim: a length the runtime reads from the tensors at launch.
constexpr int64_t kRuntimeLength = -1;

/// The launch attribute of a kernel over runtime lengths: per kernel
/// operand, an array naming the length ("B", "Lq", "Lk") of each dim of a
/// dynamic memref ("" for a static dim; empty for other operands). The
/// manifest records it as each argument's dim_symbols.
constexpr llvm::StringLiteral kDimSymbolsAttrName("attn.dim_symbols");

/// What a kernel family decided about one launch.
struct KernelLaunchDesc {
  StringRef family;      ///< "prefill", "decode", "hopper" or "backward".
  StringRef gridFormula; ///< e.g. "[ceil(Lq / block_m), B * Hq, 1]".
  int64_t sharedMemoryBytes = 0;
  /// The family's tile parameters; 0 where it has none.
  int64_t blockM = 0, blockN = 0, numWarps = 0;
  int64_t numSplits = 0, keysPerWarp = 0, stages = 0;
  /// One name and role per kernel operand, in order.
  ArrayRef<std::string> names;
  ArrayRef<ArgumentRole> roles;
  /// Empty, or one per kernel operand: the #attn.tensor_map of a
  /// tensor_map argument, null for the others.
  ArrayRef<Attribute> tensorMaps;
  /// The KV cache view K is read through (its op name is recorded), or null
  /// for a plain tensor.
  Operation *keyView = nullptr;
};

/// The kernel info of `op` lowered as `desc` says; an "expected ..." error
/// at `op` for a desc the attribute's verifier refuses.
FailureOr<KernelInfoAttr> buildKernelInfo(AttentionOp op,
                                          const KernelLaunchDesc &desc);

/// `planned` (the kernel info of an attention, as attn-plan-gpu-kernels
/// recorded it) with the launch `desc` describes, its arguments included;
/// errors at `anchor`.
FailureOr<KernelInfoAttr> withLaunch(Operation *anchor, KernelInfoAttr planned,
                                     const KernelLaunchDesc &desc);

/// The same for one kernel of an attn.attention_backward program: the
/// attention fields are the forward's (output_type is O's, lse is true: the
/// backward reads it).
FailureOr<KernelInfoAttr> buildKernelInfo(AttentionBackwardOp op,
                                          const KernelLaunchDesc &desc);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_KERNELINFO_H
