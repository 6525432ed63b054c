//===- KernelFamily.h - the interface every GPU kernel family implements -===//
//
// Part of attn-mlir. Every kernel family goes through the same steps: plan
// (check the options and the problem, fix the launch and the tiles:
// attn-plan-gpu-kernels, on the attn.attention), then, on the tiled program
// attn-tile made with those tiles (TiledProgram.h), collect arguments (host
// memrefs and workspaces, with names and roles) and emit (the kernel body,
// whose coordinates and KV loop bounds are the program's). A family is a
// strategy over the shared emission layer (FragmentEmitter, FragmentLayout,
// the KeyVisibility of the op); PrefillKernel.cpp and DecodeKernel.cpp are
// the mma.sync families, HopperKernel.cpp the wgmma one. Adding one means
// implementing this interface and one case in selectKernelFamily
// (AttnToNVVM.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_KERNELFAMILY_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_KERNELFAMILY_H

#include "RoundingKernel.h"
#include "TiledProgram.h"

#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/KernelInfo.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <array>
#include <map>
#include <memory>
#include <string>

namespace mlir::attn::detail {

/// The host memrefs a kernel receives, in order, with the names and roles
/// the manifest reports (a memref used twice, e.g. one block table for K and
/// V, is passed once unless `dedupe` is off).
struct KernelArgumentList {
  SmallVector<Value> values;
  SmallVector<std::string> names;
  SmallVector<ArgumentRole> roles;
  /// Stores of the results into their destination memrefs, erased with the
  /// op once the launch replaces them.
  SmallVector<Operation *> stores;
  /// Per memref argument with dynamic dims: the length (B, Lq or Lk) each
  /// dim is ("" for a static one), as the manifest records it.
  std::map<int64_t, SmallVector<std::string>> dimSymbols;
  /// Per tensor_map argument: its #attn.tensor_map (what the runtime
  /// builds it from).
  std::map<int64_t, Attribute> tensorMaps;
  /// f32-compute (attn-round-f32-inputs): the conversion launches between
  /// the caller's f32 memrefs and the dense bf16 / f16 scratch the family's
  /// kernel reads or writes in their place. Q, K and V are narrowed before
  /// the kernel, O widened after it.
  SmallVector<RoundingCopy> roundings;

  int64_t add(Value memref, StringRef name, ArgumentRole role,
              bool dedupe = true);
};

/// The launch a family planned: grid, threads per CTA and what the manifest
/// records about it (family name, grid formula, shared memory, tiles).
struct LaunchPlan {
  std::array<int64_t, 3> grid = {1, 1, 1};
  int64_t threads = 0;
  KernelLaunchDesc desc;
  /// The programs attn-tile cuts the op into: one per CTA.
  int64_t tileM = 0, tileN = 0;
  bool packGqa = false;
  int64_t tileSplits = 1;
  /// Grid extents that depend on runtime lengths (grid[i] is then
  /// ShapedType::kDynamic): factor * ceil(length / divisor), `length` the
  /// name of a Length argument ("B", "Lq", "Lk"). The manifest's grid
  /// formula says the same to the runtime.
  struct RuntimeExtent {
    StringRef length;
    int64_t divisor = 1, factor = 1;
    /// Added to it: the Length argument `plusLength` (none where empty)
    /// and `plus` (a varlen grid: query blocks plus one per sequence).
    StringRef plusLength;
    int64_t plus = 0;
  };
  std::array<std::optional<RuntimeExtent>, 3> runtimeGrid;
};

/// The launch of one-head, block-m-row programs (the prefill and hopper
/// families; the kernel side is FragmentEmitter::emitQueryBlockProgram):
/// grid (ceil(Lq / block-m), B * Hq), its formula, the tiles of the
/// programs and the desc's block-m/n, for `family` and `threads`.
LaunchPlan queryBlockLaunch(StringRef family, const KernelProblem &problem,
                            int64_t blockM, int64_t blockN, int64_t threads);

/// One schedule that turns an attention into one kernel.
class KernelFamily {
public:
  virtual ~KernelFamily();

  /// Checks that this family supports `problem` with its options and plans
  /// the launch and the tiles; "expected ..." errors at `anchor`.
  virtual FailureOr<LaunchPlan> plan(Operation *anchor,
                                     const KernelProblem &problem) = 0;
  /// Adds the kernel's arguments to `list` (called after plan).
  virtual LogicalResult collectArguments(const TiledProgram &program,
                                         const KernelProblem &problem,
                                         KernelArgumentList &list) = 0;
  /// Emits the body of `func`, whose arguments are `list`'s values; the
  /// coordinates and KV loop bounds come from `program`.
  virtual LogicalResult emit(gpu::GPUFuncOp func, const KernelProblem &problem,
                             const TiledProgram &program) = 0;
};

/// The mma.sync (sm_80+) families.
std::unique_ptr<KernelFamily>
createPrefillFamily(const ConvertAttnToNVVMOptions &options);
std::unique_ptr<KernelFamily>
createDecodeFamily(const ConvertAttnToNVVMOptions &options);
/// The sm_90a wgmma prefill family (HopperKernel.cpp).
std::unique_ptr<KernelFamily>
createHopperFamily(const ConvertAttnToNVVMOptions &options);
/// Whether the hopper family would plan `problem` (kernel=auto's question;
/// no diagnostics).
bool hopperFamilySupports(Operation *anchor, const KernelProblem &problem,
                          const ConvertAttnToNVVMOptions &options);

//===----------------------------------------------------------------------===//
// Argument collection shared by the families
//===----------------------------------------------------------------------===//

/// The memref a kernel input tensor is read from (destination-passing form:
/// bufferization.to_tensor of an identity-layout memref, or with
/// `allowStrided` of a strided one); errors at `anchor`.
FailureOr<Value> getHostMemref(Operation *anchor, Value tensor,
                               StringRef what, bool allowStrided = false);

/// Adds Q, K and V (or their views' storage), key_lengths and O[, LSE] of
/// `program` to `list` and records their positions. `dedupe` passes a
/// memref used for several operands once (views sharing a block table);
/// without it every operand keeps its own argument.
LogicalResult addAttentionArguments(const TiledProgram &program,
                                    const KernelProblem &problem, bool dedupe,
                                    KernelArgumentList &list,
                                    AttentionArguments &args);

/// With dynamic dims (B, Lq, Lk): appends their i32 runtime lengths
/// (ArgumentRole::Length, read from the host memrefs before the program) to
/// `list` and records which length every dynamic dim of an argument is.
/// Nothing for static shapes.
void addLengthArguments(const TiledProgram &program,
                        const KernelProblem &problem, KernelArgumentList &list,
                        AttentionArguments &args);

/// An attn.kv_append view whose result is also stored back into its own
/// cache memref: the kernel performs that store (`writeBack` is set, the
/// cache's role becomes inout) and the host-side store goes with the
/// program. Any other use of the appended cache is refused.
LogicalResult matchAppendWriteBack(const TiledProgram &program,
                                   Operation *view, bool &writeBack,
                                   KernelArgumentList &list);

/// The problem of `program`, from the kernel info attn-plan-gpu-kernels
/// recorded, the attention's step (its ALiBi slopes and score_mod) and the
/// strides of its host operands; fails (with the diagnostic) where those
/// strides cannot be addressed.
FailureOr<KernelProblem> getProgramProblem(const TiledProgram &program);

/// Sets `p`'s layout and the strides of Q, K, V and O (getOperandStrides of
/// the four host tensors, errors at `anchor`): once per problem, for every
/// family.
/// The strides of a problem with runtime lengths (B, Lq or Lk dynamic):
/// dense BHSD only, rows D or Dv elements apart; a tensor with a dynamic
/// dim gets kDynamic head and batch strides (its heads are offset by the
/// runtime length), a static one its own. "expected ..." at `anchor` else.
LogicalResult getRuntimeLengthStrides(Operation *anchor, Layout layout,
                                      Value query, Value key, Value value,
                                      Value output, KernelProblem &p);
LogicalResult getProblemStrides(Operation *anchor, Layout layout, Value query,
                                Value key, Value value, Value output,
                                KernelProblem &p);

//===----------------------------------------------------------------------===//
// One shared K/V cache (SharedKV.cpp)
//===----------------------------------------------------------------------===//

/// A value operand that is attn.kv_prefix (MLA's latent cache): success
/// where the GPU path runs it (a prefix of a KV cache view, head dims the
/// families hold), else an "expected ..." naming the missing piece.
LogicalResult checkSharedKVCache(AttentionOp op);
/// Whether V is attn.kv_prefix of K's own view: every V row is the start of
/// the K row of the same key, so one copy of the row serves both.
bool valueSharesKeyRows(const KernelProblem &p);
/// Whether rows of D keys / Dv values over one shared cache are latent rows
/// (wider than the decode family's 256) that the latent decode kernel holds.
bool isLatentSharedKVShape(int64_t d, int64_t dv);
/// Whether `p` is a latent decode (MLA): V shares K's rows and they are
/// latent-wide; the decode family then plans its latent kernel.
bool needsLatentDecode(const KernelProblem &p);

//===----------------------------------------------------------------------===//
// Varlen batches (VarlenProgram.cpp)
//===----------------------------------------------------------------------===//

/// The varlen part of getKernelProblem for `op` (cu_seqlens): static heads
/// and head dims, packed totals T (dim 1) and N (the offsets' [N + 1]) may
/// be dynamic, dense bshd operands, plain K and V; over per-sequence caches
/// (cu_seqlens_q with key_lengths) static shapes, K and V caches or bshd
/// views; sets `p`'s varlen fields and strides. "expected ..." at `op`
/// otherwise.
LogicalResult getVarlenProblem(AttentionOp op, KernelProblem &p);
/// The strides of a varlen problem's packed operands (with a dynamic T:
/// dense [1, T, H, X], rows H * X elements apart); errors at `anchor`.
LogicalResult getVarlenStrides(Operation *anchor, Value query, Value key,
                               Value value, Value output, KernelProblem &p);
/// Which families take varlen problems: prefill (packed keys), decode
/// (queries over per-sequence caches); "expected ..." naming the missing
/// piece for the others.
LogicalResult supportsVarlen(Operation *op, const KernelProblem &p,
                             StringRef kind);
/// The launch of a varlen query-block kernel: one flattened x over the
/// sequences' query blocks, floor(cu_q[n] / block-m) + n the first CTA of
/// sequence n, so ceil(T / block-m) + N CTAs cover every sequence's blocks
/// whatever the batch's composition; y the query head. The grid formula is
/// interned in `ctx`.
LaunchPlan varlenQueryBlockLaunch(MLIRContext *ctx, StringRef family,
                                  const KernelProblem &problem, int64_t blockM,
                                  int64_t blockN, int64_t threads);
/// Varlen, N dynamic: the Length argument N1 (= N + 1, the offsets'
/// extent) and the offsets' dim symbol.
void addVarlenLengthArguments(const TiledProgram &program,
                              const KernelProblem &problem,
                              KernelArgumentList &list,
                              AttentionArguments &args);
/// The sequence n (i32) of flattened block `x` (i32) of a varlen launch
/// over `blockRows`-row blocks of packed rows, sequence n's first CTA at
/// floor(cu[n] / blockRows) + n with `offsets` the kernel's cu memref (N +
/// 1 i32), `total` the packed rows and `numSequences` N (i32), and the
/// block within sequence n: the last n whose first CTA is at or before x,
/// by binary search. The forward walks cu_seqlens_q in query blocks; a
/// KV-block-outer program (the backward) walks cu_seqlens_k in key blocks.
std::pair<Value, Value> searchVarlenBlock(ImplicitLocOpBuilder &b,
                                          Value offsets, Value total,
                                          Value numSequences, int64_t blockRows,
                                          Value x);
/// The program of this CTA under varlenQueryBlockLaunch: the sequence n
/// whose first CTA is the last at or before block x (a binary search over
/// `cuSeqlensQ`, the kernel's memref), query block x minus that CTA, head
/// y; then the program's own coordinates (TiledProgram::emitCoordinates),
/// with `lengths` (its cuSeqlensQ/K and numOffsets set).
FailureOr<ProgramCoordinates>
emitVarlenQueryBlockProgram(ImplicitLocOpBuilder &b,
                            const KernelProblem &problem,
                            const TiledProgram &program, int64_t blockM,
                            const RuntimeLengths &lengths);
/// The decode family's varlen programs (queries over per-sequence caches):
/// ceil(T / block-m) + N flattened query blocks, as varlenQueryBlockLaunch
/// counts them, per KV head. `flat` (i32) is the CTA's flattened block,
/// `ivRest` the program's other induction variables after (sequence, KV
/// head group, query block): the KV head group and, with splits, the
/// split. Searches the sequence as emitVarlenQueryBlockProgram does;
/// `keyLengths` is the kernel's key_lengths memref.
FailureOr<ProgramCoordinates>
emitVarlenFlatProgram(ImplicitLocOpBuilder &b, const KernelProblem &problem,
                      const TiledProgram &program, int64_t blockM, Value flat,
                      Value group, Value split, Value keyLengths,
                      const RuntimeLengths &lengths);

} // namespace mlir::attn::detail

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_KERNELFAMILY_H
