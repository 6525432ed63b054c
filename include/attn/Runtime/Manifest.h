//===- Manifest.h - the kernel manifest: struct, reader, writer -*- C++ -*-===//
//
// Part of attn-mlir. The contract between the compiler and the runtime: what
// a generated kernel is called, how it is launched, which pointers it takes
// in which roles, and which attention it computes. lib/Target fills this
// struct from the lowered module and writes it with writeManifestJson;
// lib/Runtime reads it back with parseManifest. There is no other reader or
// writer, so the key names and their types exist in one place
// (lib/Runtime/Manifest.cpp). Plain C++17: no LLVM, MLIR or CUDA.
//
// docs/Runtime.md lists every key of the schema.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_MANIFEST_H
#define ATTN_RUNTIME_MANIFEST_H

#include "attn/Runtime/Status.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace attn::runtime {

/// The schema version this code writes and reads. A reader accepts any
/// manifest of its major version: a newer minor version only adds keys,
/// which an older reader ignores; an older minor version lacks none of the
/// keys it required. A different major version is refused
/// (ErrorCode::UnsupportedVersion).
constexpr int kManifestMajorVersion = 1;
constexpr int kManifestMinorVersion = 2;

/// What a kernel argument is for. Inputs, outputs and in/out buffers (read
/// and updated in place, e.g. a KV cache a fused append writes) come from
/// the caller; workspaces are scratch buffers (split-KV partial results,
/// per-program counters) that the runtime or the caller's allocator
/// provides. Lengths are i32 values (B, Lq or Lk of a kernel over dynamic
/// dims) that the runtime reads from the tensors' shapes and passes by
/// value; the caller passes neither these nor the workspaces. Tensor maps
/// (schema 1.2) are CUDA TMA descriptors of another argument that the
/// runtime encodes at launch from that argument's pointer, shape and
/// strides and passes by value (128 bytes); the caller does not pass them
/// either. A reader older than 1.2 refuses the role (InvalidManifest), so a
/// kernel that needs tensor maps never runs without them.
enum class ArgumentRole { Input, Output, InOut, Workspace, Length, TensorMap };

/// "input", "output", "inout", "workspace", "length" or "tensor_map".
const char *roleName(ArgumentRole role);
/// The role called `name`; false if there is none.
bool parseRole(const std::string &name, ArgumentRole &role);

/// How the runtime builds a tensor_map argument (cuTensorMapEncodeTiled).
struct TensorMapSpec {
  /// The argument whose tensor the map describes (a passed one, earlier in
  /// the list); the map argument repeats its dtype, shape and strides.
  std::string source;
  /// Extent of one copy per dim of the source, outermost first (as its
  /// shape); each in [1, 256].
  std::vector<int64_t> box;
  /// Shared-memory swizzle span in bytes: 0 (none), 32, 64 or 128.
  int64_t swizzle = 0;

  bool operator==(const TensorMapSpec &o) const {
    return source == o.source && box == o.box && swizzle == o.swizzle;
  }
};

struct ManifestArgument {
  std::string name;
  /// "bf16", "f16", "f32", "i1" (one byte per element, nonzero true),
  /// "i8", "i16", "i32", "i64", "f64".
  std::string dtype;
  /// Every extent >= 0, or -1 for a dynamic dim (a runtime length, named
  /// in dimSymbols).
  std::vector<int64_t> shape;
  /// Element strides, one per dim of `shape` (schema 1.1): where the kernel
  /// reads or writes element (i0, i1, ...), sum(i_k * strides[k]) elements
  /// from the pointer. Empty: dense row-major (what a manifest without the
  /// key means, and all the writer writes for such an argument). A strided
  /// Q, K, V or O (a BSHD buffer seen as BHSD, torch's x.transpose(1, 2))
  /// has its memref's strides here.
  std::vector<int64_t> strides;
  /// Empty when the shape is static; else one entry per dim: the name of the
  /// Length argument a dynamic dim is ("B", "Lq", "Lk"), "" for a static dim.
  std::vector<std::string> dimSymbols;
  ArgumentRole role = ArgumentRole::Input;
  /// The kernel expects the buffer zeroed at launch and leaves it zeroed
  /// (workspaces).
  bool zeroInit = false;
  /// Required alignment of the pointer in bytes (a power of two); of the
  /// parameter for a tensor map (64).
  int64_t alignment = 16;
  /// Set exactly for a tensor_map argument.
  std::optional<TensorMapSpec> tensorMap;

  bool isWorkspace() const { return role == ArgumentRole::Workspace; }
  bool isLength() const { return role == ArgumentRole::Length; }
  bool isTensorMap() const { return role == ArgumentRole::TensorMap; }
  /// Whether the caller passes it (not a workspace, length or tensor map).
  bool isPassed() const { return !isWorkspace() && !isLength() && !isTensorMap(); }
  /// True iff the kernel writes it (Output, InOut).
  bool isOutput() const {
    return role == ArgumentRole::Output || role == ArgumentRole::InOut;
  }
  /// dtype size times the product of the shape; validated manifests never
  /// overflow (parseManifest bounds every argument to 2^48 bytes).
  uint64_t byteSize() const;
  /// `strides`, or the dense row-major strides of `shape` when empty.
  std::vector<int64_t> elementStrides() const;
};

/// The attention a kernel computes, as the attn.attention op it was lowered
/// from stated it, so that a host can check a kernel against its request.
struct AttentionInfo {
  /// "none", "causal_top_left", "causal_bottom_right", "sliding_window".
  std::string mask = "none";
  /// The effective scale applied to Q.K^T.
  double scale = 1.0;
  std::optional<double> softcap;
  /// Sliding-window extents (left, right) when mask is sliding_window; a
  /// negative extent is unbounded.
  std::optional<std::array<int64_t, 2>> window;
  /// "bhsd" or "bshd".
  std::string layout = "bhsd";
  std::string queryDtype, keyDtype, valueDtype, outputDtype;
  int64_t batch = 0, headsQ = 0, headsKV = 0, seqQ = 0, seqK = 0;
  int64_t headDim = 0, valueHeadDim = 0;
  bool lse = false;
  /// A key_lengths [B] operand bounds each sequence's keys at run time.
  bool keyLengths = false;
  bool alibi = false;
  bool scoreMod = false;
  /// How K and V are read: "tensor" or the view op ("attn.kv_paged_view",
  /// ...).
  std::string kvView = "tensor";

  bool operator==(const AttentionInfo &o) const;
  bool operator!=(const AttentionInfo &o) const { return !(*this == o); }
};

/// Tile sizes and other decisions of the kernel family; 0 where a family has
/// no such parameter.
struct KernelTuning {
  int64_t blockM = 0, blockN = 0, numWarps = 0;
  int64_t numSplits = 0, keysPerWarp = 0, stages = 0;
};

/// What the compiler's cost model (docs/CostModel.md) says the kernel costs
/// on one GPU before it runs: its work, its compulsory traffic and the
/// roofline bound. Estimates for reports and schedulers, not part of the
/// launch contract (schema 1.1; absent in older manifests and for
/// hand-written kernels).
struct KernelCost {
  /// The GPU of the roofline, as attn-compile --gpu names it ("h100-sxm").
  std::string gpu;
  /// GEMM FLOPs (2 per multiply-add) the kernel executes over the KV tiles
  /// it visits, padding included; over the (row, key) pairs the mask keeps;
  /// and with no mask (4 B Hq Lq Lk D for Dv = D).
  int64_t gemmFlops = 0, visibleGemmFlops = 0, denseGemmFlops = 0;
  /// exp2 evaluations and the other softmax arithmetic.
  int64_t exponentials = 0, softmaxFlops = 0;
  /// Compulsory bytes: every tensor (and split-KV workspace) once.
  int64_t bytesRead = 0, bytesWritten = 0;
  /// gemmFlops / (bytesRead + bytesWritten).
  double arithmeticIntensity = 0;
  /// Roofline times in microseconds at the GPU's peak tensor rate, HBM
  /// bandwidth and exp2 rate (0 where unpublished); bound = the largest.
  double boundUs = 0, computeUs = 0, memoryUs = 0, expUs = 0;
  /// Which of them is the bound: "compute", "memory" or "exp".
  std::string limiter = "compute";

  bool operator==(const KernelCost &o) const;
  bool operator!=(const KernelCost &o) const { return !(*this == o); }
};

/// The launch contract of one generated kernel (<name>.json).
struct Manifest {
  int majorVersion = kManifestMajorVersion;
  int minorVersion = kManifestMinorVersion;
  /// The .entry symbol.
  std::string symbol;
  /// The PTX target ("sm_80").
  std::string chip;
  /// "prefill", "decode", "hopper" or "backward" (the kernel family;
  /// "custom" for hand-written kernels).
  std::string family;
  /// 0 for an extent that depends on runtime lengths: computed at launch
  /// from gridFormula (launchGrid).
  std::array<int64_t, 3> grid{1, 1, 1};
  std::array<int64_t, 3> block{1, 1, 1};
  std::string gridFormula;
  /// Dynamic shared memory per CTA.
  int64_t sharedMemoryBytes = 0;
  KernelTuning tuning;
  std::vector<ManifestArgument> arguments;
  /// Absent only for hand-written kernels (runtime tests); attn-compile
  /// always writes it. batch, seq_q and seq_k are -1 where dynamic.
  std::optional<AttentionInfo> attention;
  /// The cost model's figures (attn-compile and the C API write them for
  /// forward kernels).
  std::optional<KernelCost> cost;

  /// Whether the kernel takes runtime lengths (Length arguments).
  bool hasRuntimeLengths() const;
  /// Whether the runtime must build tensor maps for it (TensorMap
  /// arguments).
  bool hasTensorMaps() const;

  /// The manifest as JSON (writeManifestJson).
  std::string toJson() const;
};

/// Schema limits parseManifest enforces (docs/Runtime.md).
struct ManifestLimits {
  static constexpr size_t kMaxBytes = 1 << 20; ///< Manifest text.
  static constexpr int kMaxDepth = 8;          ///< JSON nesting.
  static constexpr size_t kMaxArguments = 64;
  static constexpr size_t kMaxRank = 8;
  static constexpr size_t kMaxString = 256;
  static constexpr uint64_t kMaxArgumentBytes = uint64_t(1) << 48;
  /// CUDA: grid.x <= 2^31-1, grid.y/z <= 65535; block <= (1024, 1024, 64)
  /// with at most 1024 threads.
  static constexpr int64_t kMaxGridX = 2147483647, kMaxGridYZ = 65535;
  static constexpr int64_t kMaxBlockXY = 1024, kMaxBlockZ = 64;
  static constexpr int64_t kMaxThreads = 1024;
  /// Above every GPU's per-block opt-in limit (227 KiB on Hopper); the
  /// runtime checks the device's own limit at load.
  static constexpr int64_t kMaxSharedMemoryBytes = 1 << 24;
};

/// Writes `manifest` as JSON with the current schema version. Keys appear in
/// a fixed order (the order of docs/Runtime.md).
std::string writeManifestJson(const Manifest &manifest);

/// Parses and validates manifest JSON text: strict JSON (no duplicate keys,
/// integers exact, nesting bounded), every required key present with its
/// type and range, unknown keys refused unless the manifest's minor version
/// is newer than this reader's. On failure `out` is unchanged and the status
/// is InvalidManifest or UnsupportedVersion.
Status parseManifest(const std::string &json, Manifest &out);

/// Bytes per element of a manifest dtype ("bf16", "f32", "i32", ...); 0 if
/// unknown.
int64_t dtypeSize(const std::string &dtype);

/// One argument as the caller passes it: a device pointer and what the caller
/// believes it points to.
struct TensorArg {
  // A constructor rather than an aggregate: {ptr, dtype, shape} stays valid
  // (dense) without naming the strides.
  TensorArg(uint64_t devicePtr = 0, std::string dtype = {},
            std::vector<int64_t> shape = {}, std::vector<int64_t> strides = {})
      : devicePtr(devicePtr), dtype(std::move(dtype)), shape(std::move(shape)),
        strides(std::move(strides)) {}

  uint64_t devicePtr = 0;
  std::string dtype;
  std::vector<int64_t> shape;
  /// Element strides of the caller's tensor (torch's Tensor.stride()); empty:
  /// the caller passes a dense row-major tensor.
  std::vector<int64_t> strides;
};

/// The dense row-major element strides of `shape`.
std::vector<int64_t> denseStrides(const std::vector<int64_t> &shape);

/// Checks that the kernel computes the attention `expected` describes:
/// ArgumentMismatch naming the first field that differs (the kernel's value
/// and the expected one), or that the manifest has no attention record.
/// Scales are compared exactly: both sides come from the same formula.
Status checkAttention(const Manifest &manifest, const AttentionInfo &expected);

/// The runtime lengths of a launch, by name ("B", "Lq", "Lk").
struct RuntimeLengthValues {
  std::vector<std::pair<std::string, int64_t>> values;
  /// The value of `name`; -1 if unbound.
  int64_t get(const std::string &name) const;
};

/// Checks `args` against the manifest without touching the GPU. `args` are
/// the arguments the caller passes (no workspaces or lengths), in manifest
/// order. A dynamic dim binds its length: every dim of one length must
/// agree, each length in [1, 2^31 - 1], each tensor under 2^40 bytes; the
/// bound lengths go to `lengths` where given. Failures are
/// ArgumentMismatch.
Status checkArguments(const Manifest &manifest,
                      const std::vector<TensorArg> &args,
                      RuntimeLengthValues *lengths = nullptr);

/// checkArguments without the pointers: what a call signature fixes (the
/// count, dtypes, shapes, strides and runtime lengths); `args`' devicePtr
/// are not read. What a launch plan checks once.
Status checkSignature(const Manifest &manifest,
                      const std::vector<TensorArg> &args,
                      RuntimeLengthValues *lengths = nullptr);

/// The rest of checkArguments: `devicePtrs`, one per argument the caller
/// passes, are non-null and aligned as the manifest asks.
Status checkPointers(const Manifest &manifest, const uint64_t *devicePtrs);

/// The binding part of checkArguments, for `args` whose count, dtypes,
/// static dims and ranks it checked.
Status bindRuntimeLengths(const Manifest &manifest,
                          const std::vector<TensorArg> &args,
                          RuntimeLengthValues &lengths);

/// Evaluates a grid formula ("[ceil(Lq / block_m), B * Hq, 1]": integers,
/// names, + - * /, ceil(), parentheses; / divides exactly or floors) with
/// the manifest's names: the runtime lengths, B, Hq, Hkv, Lq, Lk, D, Dv from
/// the attention and the tuning's block_m, block_n, num_warps, num_splits,
/// keys_per_warp, stages. InvalidArgument for a formula it cannot read or
/// an unknown name.
Status evaluateGridFormula(const Manifest &manifest,
                           const RuntimeLengthValues &lengths,
                           std::array<int64_t, 3> &grid);

/// The grid of a launch: the manifest's, or for a kernel over runtime
/// lengths its formula at `lengths` (ArgumentMismatch past the CUDA grid
/// limits).
Status launchGrid(const Manifest &manifest, const RuntimeLengthValues &lengths,
                  std::array<int64_t, 3> &grid);

/// Where each workspace lies in the one workspace buffer a launch takes.
struct WorkspaceSlice {
  size_t argument; ///< Index in Manifest::arguments.
  size_t offset;   ///< Bytes from the buffer's start (a multiple of 256).
  size_t bytes;
  bool zeroInit;
};

/// Workspace buffers must be aligned to this many bytes, and every slice
/// starts at a multiple of it.
constexpr size_t kWorkspaceAlignment = 256;

/// Lays the manifest's workspaces out in one buffer of `totalBytes` bytes
/// (0 without workspaces; at least kWorkspaceAlignment with some, so that an
/// empty workspace still gets a valid pointer). Cannot overflow for a
/// manifest parseManifest accepted.
void layOutWorkspaces(const Manifest &manifest,
                      std::vector<WorkspaceSlice> &slices, size_t &totalBytes);

/// Reads launch arguments given as C arrays (the C ABI's form: devicePtrs,
/// dtypes, ranks and the concatenated dims in shapes) after checking every
/// count before anything is sized from it: numArgs must be the manifest's
/// number of non-workspace arguments (ArgumentMismatch), each rank in
/// [0, 8] and the arrays non-null (InvalidArgument). `strides` (null: all
/// dense) holds the tensors' element strides, concatenated as `shapes`.
Status readTensorArgs(const Manifest &manifest, int numArgs,
                      const uint64_t *devicePtrs, const char *const *dtypes,
                      const int32_t *ranks, const int64_t *shapes,
                      std::vector<TensorArg> &out,
                      const int64_t *strides = nullptr);

} // namespace attn::runtime

#endif // ATTN_RUNTIME_MANIFEST_H
