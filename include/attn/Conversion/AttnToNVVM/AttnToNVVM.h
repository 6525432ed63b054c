//===- AttnToNVVM.h - attn.attention to an NVVM kernel ----------*- C++ -*-===//
//
// Part of attn-mlir. The sm_80+ (mma.sync) GPU lowering of attn.attention:
// a FlashAttention-2 style kernel in a gpu.module plus a gpu.launch_func.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H
#define ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H

#include "attn/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::attn {
class AttentionOp;

/// Which kernel schedule a GPU lowering emits.
enum class KernelKind {
  /// FlashAttention-2 prefill: CTAs over query blocks of one head.
  Prefill,
  /// Flash-decoding: CTAs over (split of the keys, batch, KV head), every
  /// query row of a KV group packed into one m16 tile, warps splitting the
  /// keys, partial results merged by LSE inside the launch.
  Decode,
};

/// The kernels' options are convert-attn-to-nvvm's own
/// (ConvertAttnToNVVMOptions, generated from Passes.td, which documents
/// them), so a pass, a pipeline and a library caller fill the same struct.

/// Everything the kernel generator needs to know about one attention op,
/// read and checked once (see getKernelProblem).
struct KernelProblem {
  int64_t batch, headsQ, headsKV, seqQ, seqK, headDim;
  bool isBF16;
  bool withLse;
  /// Key j is visible to query i iff `i + diagOffset - left <= j` (when
  /// `left` is set) and `j <= i + diagOffset + right` (when `right` is set).
  int64_t diagOffset = 0;
  std::optional<int64_t> left, right;
  double scale;
  std::optional<double> softcap;
  /// ALiBi slope per query head (empty: no ALiBi).
  SmallVector<double> alibiSlopes;
  /// The op's score_mod body (null: none). Its ops are cloned into the
  /// kernel, so it must outlive buildAttentionKernelBody.
  Region *scoreMod = nullptr;
  /// A runtime key_lengths [B] operand bounds each sequence's keys (and
  /// replaces Lk in the bottom-right alignment and ALiBi).
  bool withKeyLengths = false;
  /// K and V views (KVCacheViewInterface) read through the address hook;
  /// null: K and V are contiguous [B, Hkv, Lk, D] memrefs.
  Operation *keyView = nullptr, *valueView = nullptr;
  /// Bottom-right causal or a window: with key_lengths the diagonal offset
  /// is the runtime `len_b - Lq` rather than the static diagOffset.
  bool bottomRight = false;

  /// Whether the kernel must materialise scores in natural units (scale and
  /// softcap applied) before the exponential: something positional or
  /// nonlinear follows the scale, so log2(e) cannot be folded into it.
  bool needsNaturalScores() const { return scoreMod || !alibiSlopes.empty(); }
};

/// Reads `op` into a KernelProblem, or emits an "expected ..." error at the
/// op for every form the GPU lowering does not support.
FailureOr<KernelProblem> getKernelProblem(AttentionOp op,
                                          const ConvertAttnToNVVMOptions &options);

/// Shared memory bytes the kernel for `problem` needs (Q tile + two stages of
/// K and V tiles).
int64_t getKernelSharedMemoryBytes(const KernelProblem &problem,
                                   const ConvertAttnToNVVMOptions &options);

/// Kernel arguments of a prefill kernel, by position in `func`'s signature.
/// Kernel arguments both kernels take, by position in the kernel's
/// signature.
struct AttentionArguments {
  int64_t query;
  /// Contiguous K/V memrefs, or the storage of each view in getStorage()
  /// order (rows are read from the first getNumRowStorages()).
  SmallVector<int64_t> keyStorage, valueStorage;
  std::optional<int64_t> keyLengths, lse;
  int64_t output;
};
using PrefillArguments = AttentionArguments;

/// Emits the body of a prefill kernel.
void buildAttentionKernelBody(gpu::GPUFuncOp func, const KernelProblem &problem,
                              const ConvertAttnToNVVMOptions &options,
                              const PrefillArguments &arguments);

/// The launch of a decode kernel, chosen before its body is emitted.
struct DecodePlan {
  int64_t warps, keysPerWarp, stages;
  /// Query rows of one KV group (Hq / Hkv heads x Lq), packed into 16.
  int64_t rows;
  /// Grid: numSplits x (B * Hkv).
  int64_t numSplits, groups;
  int64_t sharedMemoryBytes;
  /// CTAs of this kernel one SM holds (by shared memory), for the split
  /// heuristic.
  int64_t ctasPerSM;
};

/// Checks the decode options and plans the launch; errors at `op`.
FailureOr<DecodePlan> planDecodeKernel(AttentionOp op,
                                       const KernelProblem &problem,
                                       const ConvertAttnToNVVMOptions &options);

/// The split count of a decode launch over `groups` (batch x KV head)
/// programs of `keys` keys, `keysPerStep` keys per CTA step, on `numSMs`
/// SMs holding `ctasPerSM` CTAs each: one split when the groups alone fill
/// the machine; otherwise the fewest splits whose wave efficiency is within
/// 95% of the best (and that fill half the machine), >= 2 steps per
/// split.
int64_t chooseNumSplits(int64_t groups, int64_t keys, int64_t keysPerStep,
                        int64_t numSMs, int64_t ctasPerSM);

/// Kernel arguments of a decode kernel: the common ones plus workspaces.
struct DecodeArguments : AttentionArguments {
  /// Split-KV workspaces (numSplits > 1): partial O [groups, splits, rows,
  /// D] f32, partial LSE [groups, splits, rows] f32, counters [groups] i32.
  std::optional<int64_t> partialO, partialLse, counters;
  /// attn.kv_append views whose result is stored back into their cache: the
  /// kernel writes the new tokens there (storage: cache, tokens, positions).
  bool writeBackKey = false, writeBackValue = false;
};

/// Emits the body of a decode kernel.
void buildDecodeKernelBody(gpu::GPUFuncOp func, const KernelProblem &problem,
                           const DecodePlan &plan,
                           const DecodeArguments &arguments);

/// Checks every convert-attn-to-nvvm option against the range the kernels are
/// written for; errors name the option, its range and the value, at
/// `diagnosticAnchor`.
LogicalResult checkGpuLoweringOptions(const ConvertAttnToNVVMOptions &options,
                                      Operation *diagnosticAnchor);

/// What convert-attn-to-nvvm checks before planning any kernel: the options
/// (checkGpuLoweringOptions) and, for every attention op, that each operand,
/// result and KV view storage is statically under 1 TiB (so no kernel index
/// or size computation overflows int64) and that the kernel symbol derived
/// from its function is a PTX identifier.
LogicalResult checkGpuLowering(ModuleOp module,
                               const ConvertAttnToNVVMOptions &options);

/// Fails unless the mma.sync kernels can target `chip` with PTX `features`
/// (e.g. "+ptx80"): sm_80 or newer, and a PTX ISA version that knows the
/// chip. Called before any LLVM backend runs (attn-to-ptx, attn-compile).
llvm::Error checkGpuChip(StringRef chip, StringRef features);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H
