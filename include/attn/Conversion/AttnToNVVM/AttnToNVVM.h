//===- AttnToNVVM.h - attn.attention to an NVVM kernel ----------*- C++ -*-===//
//
// Part of attn-mlir. The sm_80+ (mma.sync) GPU lowering of attn.attention:
// a FlashAttention-2 style kernel in a gpu.module plus a gpu.launch_func.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H
#define ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/KeyVisibility.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::attn {
class AttentionOp;
class AttentionBackwardOp;
/// attn/Analysis/TileConfig.h.
struct GpuTilePlan;
/// attn/Analysis/BackwardCost.h.
struct BackwardSchedule;

/// The kernels' options are convert-attn-to-nvvm's own
/// (ConvertAttnToNVVMOptions, generated from Passes.td, which documents
/// them), so a pass, a pipeline and a library caller fill the same struct;
/// attn-plan-gpu-kernels declares the same list (AttnGpuKernelOptions).

/// attn-plan-gpu-kernels with the options of convert-attn-to-nvvm.
std::unique_ptr<Pass>
createAttnPlanGpuKernels(const ConvertAttnToNVVMOptions &options);

/// What attn-plan-gpu-kernels decides for `op` (an attention in the GPU
/// path's destination-passing form, after attn-memref-entry) under
/// `options`: the family's launch and tiles it records on the op and, where
/// tile-model consulted the cost model, the model's choice and reason. The
/// pass records it; attn-compile's cost report prints the same value
/// (CostReportOptions::planGpuKernel). Errors are emitted at the op.
FailureOr<GpuTilePlan> planGpuKernel(AttentionOp op,
                                     const ConvertAttnToNVVMOptions &options);

/// The schedule attn-plan-gpu-backward records on `op` under `options`
/// (and attn-tile-backward cuts it into): the main kernel's tiles as the
/// pass resolves them (given, or the cost model's for tile-model and
/// dq-reduction on `options.chip`) and the program (deterministic or not).
/// What the backward's cost figures are computed for
/// (CostReportOptions::planBackward, the manifests' cost). Errors are
/// emitted at the op, as the pass's.
FailureOr<BackwardSchedule>
planBackwardSchedule(AttentionBackwardOp op,
                     const AttnPlanGpuBackwardOptions &options);

/// Parses `text` in attn-plan-gpu-backward's option syntax
/// ("deterministic block-n=128") into `options`, from the ODS defaults.
LogicalResult parseAttnPlanGpuBackwardOptions(
    StringRef text, AttnPlanGpuBackwardOptions &options,
    function_ref<LogicalResult(const Twine &)> errorHandler);

/// Parses `text` in the pass's own option syntax ("block-m=64 num-warps=8
/// kernel=decode", as `--convert-attn-to-nvvm="..."` takes it) into
/// `options`, starting from the ODS defaults: tools and pipelines accept the
/// pass's options without declaring them again.
LogicalResult parseConvertAttnToNVVMOptions(
    StringRef text, ConvertAttnToNVVMOptions &options,
    function_ref<LogicalResult(const Twine &)> errorHandler);

/// Where the rows of one 4-D operand (Q, K, V or O) lie: element strides
/// along its logical batch, head and sequence axes, whatever the order of
/// its dims (the op's layout) and whether its memref is strided. The head
/// dim (innermost) has stride 1: the kernels copy 16-byte pieces of a row.
/// BHSD-contiguous [B, H, L, X] is (H L X, L X, X); BSHD-contiguous
/// [B, L, H, X] is (L H X, X, H X).
struct OperandStrides {
  int64_t batch = 0, head = 0, seq = 0;
  /// Whether (batch, head) is one linear index: batch = heads * head, so
  /// the head's row 0 sits at (b * heads + h) * head.
  bool mergesBatchAndHead(int64_t heads) const { return batch == heads * head; }
  bool operator==(const OperandStrides &o) const {
    return batch == o.batch && head == o.head && seq == o.seq;
  }
  bool operator!=(const OperandStrides &o) const { return !(*this == o); }
};

/// The strides of the 4-D `tensor` (an operand or result of an attention in
/// the GPU path's destination-passing form): from the strides of the memref
/// it is read from (bufferization.to_tensor) or stored into
/// (materialize_in_destination), else those of a dense tensor of its shape,
/// read through `layout`. "expected ..." errors at `anchor` name `what` for
/// strides the kernels cannot address (dynamic, an offset, a non-unit
/// head-dim stride, rows not 16-byte aligned).
FailureOr<OperandStrides> getOperandStrides(Operation *anchor, Value tensor,
                                            Layout layout, StringRef what);

/// The kernels clone a score_mod or mask_mod body once per score they hold
/// in registers, between ops the GPU lowering turns into NVVM: only ops that
/// convert-gpu-to-nvvm lowers and that cannot touch memory qualify, and no
/// value from above. "expected ..." at `op` (naming `name`) otherwise.
LogicalResult checkGpuModifierRegion(Operation *op, Region &region,
                                     StringRef name);

/// Everything the kernel generator needs to know about one attention op,
/// read and checked once (see getKernelProblem).
struct KernelProblem {
  int64_t batch, headsQ, headsKV, seqQ, seqK, headDim;
  /// B, Lq and Lk known only at launch (dynamic dims of the op's tensors,
  /// `tensor<?x32x?x128xbf16>`): the kernel takes them as i32 parameters
  /// (ArgumentRole::Length) and batch / seqQ / seqK hold
  /// ShapedType::kDynamic, which no family may compute with.
  bool dynamicBatch = false, dynamicSeqQ = false, dynamicSeqK = false;
  bool hasDynamicLengths() const {
    return dynamicBatch || dynamicSeqQ || dynamicSeqK;
  }
  /// Dv: the columns of V and O (S = Q K^T contracts headDim).
  int64_t valueHeadDim = 0;
  bool isBF16;
  /// The backward with rounded inputs: the argument position of the first
  /// scratch copy (Q, K, V, O, dO, then dQ, dK, dV, after the workspaces),
  /// which its kernels read and write in place of the caller's f32 memrefs
  /// (-1: none).
  int64_t roundedArguments = -1;
  bool withLse;
  /// Which keys a query row sees (the op's KeyVisibility) and its static
  /// diagonal offset (Lk - Lq for bottom-right alignments, else 0). With
  /// key_lengths the kernels use the runtime diagonal len_b - Lq instead.
  KeyVisibility visibility;
  int64_t diagOffset = 0;
  double scale;
  std::optional<double> softcap;
  /// ALiBi slope per local query head (empty: no ALiBi): the shard's slice
  /// of the op's global slopes.
  SmallVector<double> alibiSlopes;
  /// Global head of local query head 0 (tensor-parallel sharding): added to
  /// the head argument of score_mod.
  int64_t headOffset = 0;
  /// The op's score_mod body (null: none). Its ops are cloned into the
  /// kernel, so it must outlive the kernel emission.
  Region *scoreMod = nullptr;
  /// A runtime key_lengths [B] operand bounds each sequence's keys (and
  /// replaces Lk in the bottom-right alignment and ALiBi).
  bool withKeyLengths = false;
  /// K and V views (KVCacheViewInterface) read through the address hook;
  /// null: K and V are contiguous [B, Hkv, Lk, D] memrefs.
  Operation *keyView = nullptr, *valueView = nullptr;
  /// The additive bias and the boolean mask operands (empty shape: none),
  /// [B, Hq, Lq, Lk] with size-1 extents broadcast; the bias' element bytes
  /// (2: bf16 when biasIsBF16, else f16; 4: f32). Mask elements are bytes.
  SmallVector<int64_t> biasShape, maskShape;
  int64_t biasBytes = 0;
  bool biasIsBF16 = false;
  /// The backward also returns the bias' gradient (d_bias, the bias' type
  /// and shape: dS summed over its broadcast extents).
  bool withGradBias = false;
  /// The op's mask_mod body (null: none), cloned like scoreMod.
  Region *maskMod = nullptr;
  /// An f32 sinks [heads total] operand: one logit per global head joins
  /// every row's softmax denominator at finalize time.
  bool withSinks = false;
  /// The backward's grad_lse [B, Hq, Lq] f32 operand: the preprocess
  /// subtracts it from Delta (nothing else reads it).
  bool withGradLse = false;
  bool withBias() const { return !biasShape.empty(); }
  bool withMask() const { return !maskShape.empty(); }
  /// Whether the kernel must materialise scores in natural units (scale and
  /// softcap applied) before the exponential: something positional or
  /// nonlinear follows the scale, so log2(e) cannot be folded into it.
  bool needsNaturalScores() const {
    return scoreMod || !alibiSlopes.empty() || withBias();
  }
  /// Whether scores are masked by an operand or a region (every block,
  /// interior ones too).
  bool withOperandMasks() const { return withMask() || maskMod; }
  /// The dim order of Q, K, V and O, and where their rows lie (LSE is a
  /// dense [B, Hq, Lq]); K and V strides matter only without views.
  Layout layout = Layout::BHSD;
  OperandStrides query, key, value, output;
  /// A varlen batch (cu_seqlens_q / cu_seqlens_k): Q, K, V and O are packed
  /// [1, T, H, D] (bshd), seqQ / seqK the packed totals (dynamic where T
  /// is), `numSequences` N (kDynamic where the offsets' [N + 1] is). Each
  /// program reads its sequence's starts and lengths from the offsets.
  bool varlen = false;
  int64_t numSequences = 0;
  /// Varlen queries over per-sequence caches (cu_seqlens_q with
  /// key_lengths, no cu_seqlens_k): only Q and O are packed; K and V are N
  /// caches [N, Lk, Hkv, D] (bshd, or bshd views), seqK their capacity.
  bool varlenCache = false;
};

/// Head dims the mma.sync families (prefill, decode) are written for: D and
/// Dv each a multiple of 16 in [32, 256] (the hopper family: D = Dv = 64 or
/// 128, checked by its plan).
bool isSupportedGpuHeadDim(int64_t headDim);

/// Reads `op` into a KernelProblem, or emits an "expected ..." error at the
/// op for every form the GPU lowering does not support.
FailureOr<KernelProblem> getKernelProblem(AttentionOp op,
                                          const ConvertAttnToNVVMOptions &options);

/// Kernel arguments every family takes, by position in the kernel's
/// signature.
struct AttentionArguments {
  int64_t query;
  /// Contiguous K/V memrefs, or the storage of each view in getStorage()
  /// order (rows are read from the first getNumRowStorages()).
  SmallVector<int64_t> keyStorage, valueStorage;
  std::optional<int64_t> keyLengths, lse;
  /// The bias, mask and sinks operands, where the op has them.
  std::optional<int64_t> bias, mask, sinks;
  int64_t output;
  /// The i32 runtime lengths of dynamic dims (ArgumentRole::Length).
  std::optional<int64_t> batchLength, seqQLength, seqKLength;
  /// Varlen: the i32 [N + 1] offsets, and the runtime N + 1 where the
  /// offsets' extent is dynamic.
  std::optional<int64_t> cuSeqlensQ, cuSeqlensK, numOffsets;
};
/// The split count of a decode launch over `groups` (batch x KV head)
/// programs of `keys` keys, `keysPerStep` keys per CTA step, on `numSMs`
/// SMs holding `ctasPerSM` CTAs each: one split when the groups alone fill
/// the machine; otherwise the fewest splits whose wave efficiency is within
/// 95% of the best (and that fill half the machine), >= 2 steps per
/// split.
int64_t chooseNumSplits(int64_t groups, int64_t keys, int64_t keysPerStep,
                        int64_t numSMs, int64_t ctasPerSM);

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

/// The PTX ISA version NN of the last `+ptxNN` in a feature string, or 0.
int getPtxFeatureVersion(StringRef features);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H
