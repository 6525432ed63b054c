//===- Runtime.h - load and launch generated kernels ------------*- C++ -*-===//
//
// Part of attn-mlir. A small runtime over the CUDA driver API with no MLIR or
// LLVM dependency: it loads a PTX or cubin image plus the JSON manifest that
// attn-compile wrote next to it, allocates the kernel's workspaces, checks
// every launch's arguments against the manifest (count, dtype, shape, 16-byte
// alignment) and launches. libcuda is opened at run time, so programs linking
// this run (and report a clear error) on machines without a GPU driver.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_RUNTIME_H
#define ATTN_RUNTIME_RUNTIME_H

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attn::runtime {

/// Success, or a message that says what went wrong and where.
struct Status {
  bool ok = true;
  std::string message;
  static Status success() { return {}; }
  static Status error(std::string message) { return {false, std::move(message)}; }
  explicit operator bool() const { return ok; }
};

/// What a kernel argument is for. Inputs, outputs and in/out buffers (read
/// and updated in place, e.g. a KV cache a fused append writes) come from
/// the caller; workspaces are scratch buffers (split-KV partial results,
/// per-program counters) that the runtime allocates and zero-fills once per
/// Kernel.
enum class ArgumentRole { Input, Output, InOut, Workspace };

struct ManifestArgument {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  ArgumentRole role = ArgumentRole::Input;
  /// Kept for older readers: true iff the kernel writes it (Output, InOut).
  bool output = false;
  /// The kernel expects the buffer zeroed at launch and leaves it zeroed
  /// (workspaces).
  bool zeroInit = false;
  int64_t alignment = 16;

  bool isWorkspace() const { return role == ArgumentRole::Workspace; }
};

/// The launch contract attn-compile writes as <name>.json.
struct Manifest {
  std::string kernel;
  std::array<int64_t, 3> grid{1, 1, 1};
  std::array<int64_t, 3> block{1, 1, 1};
  int64_t sharedMemoryBytes = 0;
  std::vector<ManifestArgument> arguments;
};

/// Parses manifest JSON text. A manifest without "role" fields (written
/// before workspaces existed) takes each role from "output".
Status parseManifest(const std::string &json, Manifest &out);

/// Bytes per element of a manifest dtype ("bf16", "f32", "i32", ...); 0 if
/// unknown.
int64_t dtypeSize(const std::string &dtype);

/// One argument as the caller passes it: a device pointer and what the caller
/// believes it points to.
struct TensorArg {
  uint64_t devicePtr = 0;
  std::string dtype;
  std::vector<int64_t> shape;
};

/// Checks `args` against the manifest without touching the GPU. `args` are
/// the non-workspace arguments only, in manifest order.
Status checkArguments(const Manifest &manifest,
                      const std::vector<TensorArg> &args);

/// True if libcuda loads and reports at least one device; otherwise `why`
/// says what is missing.
bool isGpuAvailable(std::string *why = nullptr);

/// Device memory helpers (driver API), for tests and simple hosts.
Status deviceAlloc(size_t bytes, uint64_t &ptr);
Status deviceFree(uint64_t ptr);
Status copyToDevice(uint64_t dst, const void *src, size_t bytes);
Status copyToHost(void *dst, uint64_t src, size_t bytes);
/// Sets `bytes` bytes at `ptr` to `value` (synchronously).
Status deviceMemset(uint64_t ptr, unsigned char value, size_t bytes);

/// A loaded kernel (module + function) in the device's primary context, with
/// its workspace buffers.
///
/// The workspaces belong to the Kernel object and every launch uses the same
/// ones, so launches of one Kernel must not overlap: launching it on two
/// streams concurrently races on its partial results and counters. Use one
/// stream per Kernel, or load the kernel once per stream.
class Kernel {
public:
  /// Loads `image` (PTX text or cubin bytes) and its manifest, and allocates
  /// and zero-fills every workspace the manifest lists.
  static Status load(const std::string &imagePath,
                     const std::string &manifestPath,
                     std::unique_ptr<Kernel> &out);
  ~Kernel();
  Kernel(const Kernel &) = delete;
  Kernel &operator=(const Kernel &) = delete;

  const Manifest &manifest() const { return manifest_; }
  /// Checks the arguments, launches on `stream` (0: the default stream) and
  /// reports launch errors. With `synchronize`, also waits and reports
  /// errors raised while the kernel ran. `args` are the non-workspace
  /// arguments in manifest order; the runtime passes its workspaces at their
  /// positions.
  Status launch(const std::vector<TensorArg> &args, void *stream = nullptr,
                bool synchronize = false);
  /// The device pointer of the workspace called `name`, 0 if there is none
  /// (e.g. to check that a kernel left its counters at zero).
  uint64_t workspace(const std::string &name) const;

private:
  Kernel() = default;
  Manifest manifest_;
  void *module_ = nullptr;   // CUmodule
  void *function_ = nullptr; // CUfunction
  /// One entry per manifest argument: the buffer of a workspace, else 0.
  std::vector<uint64_t> workspaces_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_RUNTIME_H
