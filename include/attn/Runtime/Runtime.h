//===- Runtime.h - load and launch generated kernels ------------*- C++ -*-===//
//
// Part of attn-mlir. A small runtime over the CUDA driver API with no MLIR or
// LLVM dependency: it loads a PTX or cubin image (from a file or from
// memory) plus the JSON manifest attn-compile wrote next to it into an
// explicit CUDA context, checks every launch's arguments against the
// manifest (count, dtype, shape, alignment) and launches. Workspaces come
// from the caller (Kernel::workspaceBytes, e.g. out of a caching allocator)
// or, as a convenience, from the runtime. libcuda is opened at run time, so
// programs linking this run (and report a clear error) on machines without
// a GPU driver.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_RUNTIME_H
#define ATTN_RUNTIME_RUNTIME_H

#include "attn/Runtime/Manifest.h"
#include "attn/Runtime/Status.h"
#include "attn/Runtime/TensorMap.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attn::runtime {

/// True if libcuda loads and reports at least one device; otherwise `why`
/// says what is missing.
bool isGpuAvailable(std::string *why = nullptr);

/// Number of CUDA devices (0 and an error without a driver).
Status deviceCount(int &count);

/// A CUDA context the runtime works in. Every call that touches the GPU
/// through a Kernel makes its context current for the call and restores the
/// caller's afterwards, so kernels of several devices can be used from one
/// thread. Kernels loaded into a Context must be destroyed before it.
class Context {
public:
  /// Retains the primary context of device `ordinal` (the one the CUDA
  /// runtime and PyTorch use for that device) and releases it when
  /// destroyed. NoDevice if there is no such device.
  static Status create(int ordinal, std::unique_ptr<Context> &out);
  /// Wraps the context current on the calling thread (not retained: the
  /// caller keeps it alive). NoDevice if none is current.
  static Status fromCurrent(std::unique_ptr<Context> &out);
  ~Context();
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;

  /// The CUcontext.
  void *handle() const { return context_; }
  /// The device ordinal.
  int device() const { return device_; }
  /// Largest dynamic shared memory a kernel may opt into on this device.
  int64_t maxSharedMemoryPerBlock() const { return maxSharedMemory_; }
  /// Compute capability as major * 10 + minor (90 for an H100/H200).
  int computeCapability() const { return computeCapability_; }

private:
  Context() = default;
  void *context_ = nullptr; // CUcontext
  int device_ = 0;
  int64_t maxSharedMemory_ = 0;
  int computeCapability_ = 0;
  bool retainedPrimary_ = false;
};

/// Whether kernel `symbol`, compiled for `chip` (sm_NN runs on compute
/// capability NN and later; the architecture-specific sm_NNa, e.g. the
/// wgmma kernels of sm_90a, on exactly NN), can run on device `device` of
/// compute capability `computeCapability` (major * 10 + minor). Kernel
/// loading refuses the others with this Unsupported error.
Status checkChip(const std::string &chip, int computeCapability,
                 const std::string &symbol, int device);

/// Device memory helpers (driver API) in the current context, or device 0's
/// primary context if none is current; for tests and simple hosts.
Status deviceAlloc(size_t bytes, uint64_t &ptr);
Status deviceFree(uint64_t ptr);
Status copyToDevice(uint64_t dst, const void *src, size_t bytes);
Status copyToHost(void *dst, uint64_t src, size_t bytes);
/// Sets `bytes` bytes at `ptr` to `value` (synchronously).
Status deviceMemset(uint64_t ptr, unsigned char value, size_t bytes);
/// A non-blocking CUstream in the current context, its destruction, and a
/// wait for it (tests and simple hosts; serving hosts bring their own).
Status streamCreate(void *&stream);
Status streamDestroy(void *stream);
Status streamSynchronize(void *stream);

/// How a kernel is loaded.
struct LoadOptions {
  /// Allocate and zero-fill one workspace buffer owned by the Kernel, used
  /// by every launch that passes none (the convenience path; launches of
  /// one Kernel then must not overlap). Off: every launch of a kernel that
  /// has workspaces passes its own.
  bool allocateWorkspace = true;
};

/// One launch: the stream, and the workspace buffer unless the Kernel owns
/// one.
struct LaunchOptions {
  void *stream = nullptr; ///< CUstream; null: the legacy default stream.
  /// Device pointer of at least workspaceBytes() bytes, 256-byte aligned,
  /// zero-filled before its first use (Kernel::initWorkspace); completed
  /// launches leave it ready for the next. Launches that may run at the
  /// same time need distinct workspaces. 0: the Kernel's own.
  uint64_t workspace = 0;
  size_t workspaceBytes = 0;
  /// Wait for the kernel and report errors raised while it ran.
  bool synchronize = false;
};

/// What one call signature of a kernel fixes, checked once by
/// Kernel::prepare: the argument dtypes, shapes and strides, the runtime
/// lengths they bind and the grid those give. A launch of the plan takes
/// only device pointers, so a serving loop calling one shape per token pays
/// the checks once. Valid for the Kernel that prepared it.
struct LaunchPlan {
  std::array<int64_t, 3> grid{};
  /// Per manifest argument: the value a length argument passes (0 for the
  /// others).
  std::vector<int32_t> lengthValues;
  /// How many pointers a launch takes (the caller's arguments).
  size_t numPointers = 0;
  /// The manifest's tensor maps in order, derived from the signature: each
  /// launch sets the address from its source's pointer and encodes them.
  std::vector<SignatureTensorMap> tensorMaps;
};

/// A loaded kernel (module + function) in one context.
class Kernel {
public:
  /// Loads `image` (PTX text or cubin bytes) and its manifest from files
  /// into the current context (device 0's primary context if none is
  /// current), with a Kernel-owned workspace.
  static Status load(const std::string &imagePath,
                     const std::string &manifestPath,
                     std::unique_ptr<Kernel> &out);
  /// As above from files, into `context` (null: as above).
  static Status loadFiles(const Context *context, const std::string &imagePath,
                          const std::string &manifestPath,
                          const LoadOptions &options,
                          std::unique_ptr<Kernel> &out);
  /// From memory: `image` is `imageBytes` bytes of PTX text (a trailing NUL
  /// is optional) or of a cubin; `manifestJson` is the manifest text. The
  /// bytes are copied; the caller may free them on return.
  static Status loadImage(const Context *context, const void *image,
                          size_t imageBytes, const std::string &manifestJson,
                          const LoadOptions &options,
                          std::unique_ptr<Kernel> &out);
  ~Kernel();
  Kernel(const Kernel &) = delete;
  Kernel &operator=(const Kernel &) = delete;

  const Manifest &manifest() const { return manifest_; }

  /// Bytes of the workspace buffer one launch needs (0: none). Each
  /// manifest workspace is a 256-byte aligned slice of it (workspaces()).
  size_t workspaceBytes() const { return workspaceBytes_; }
  const std::vector<WorkspaceSlice> &workspaces() const { return slices_; }
  /// Prepares a caller's workspace buffer for its first launch: zero-fills
  /// the slices that need it, asynchronously on `stream`.
  Status initWorkspace(uint64_t workspace, size_t bytes,
                       void *stream = nullptr) const;

  /// Checks the arguments, launches and reports launch errors. `args` are
  /// the non-workspace arguments in manifest order; the workspace slices
  /// are passed at their positions.
  Status launch(const std::vector<TensorArg> &args,
                const LaunchOptions &options);
  /// Checks a call signature (`signature`'s devicePtr are not read) into
  /// `plan`.
  Status prepare(const std::vector<TensorArg> &signature,
                 LaunchPlan &plan) const;
  /// Launches a prepared signature on `devicePtrs` (plan.numPointers of
  /// them, in manifest order; checked for null and alignment).
  Status launch(const LaunchPlan &plan, const uint64_t *devicePtrs,
                const LaunchOptions &options);
  /// The convenience form on the Kernel's own workspace.
  Status launch(const std::vector<TensorArg> &args, void *stream = nullptr,
                bool synchronize = false);
  /// The device pointer of the Kernel-owned workspace called `name`, 0 if
  /// there is none (e.g. to check that a kernel left its counters at zero).
  uint64_t workspace(const std::string &name) const;

private:
  Kernel() = default;
  Status loadModule(const std::string &image, const std::string &what);

  Manifest manifest_;
  std::unique_ptr<Context> ownedContext_;
  void *context_ = nullptr;  // CUcontext the module lives in
  void *module_ = nullptr;   // CUmodule
  void *function_ = nullptr; // CUfunction
  size_t workspaceBytes_ = 0;
  std::vector<WorkspaceSlice> slices_;
  /// The Kernel-owned workspace buffer (LoadOptions::allocateWorkspace).
  uint64_t ownWorkspace_ = 0;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_RUNTIME_H
