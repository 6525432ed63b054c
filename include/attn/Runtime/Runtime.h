//===- Runtime.h - load and launch generated kernels ------------*- C++ -*-===//
//
// Part of attn-mlir. A small runtime over the CUDA driver API with no MLIR or
// LLVM dependency: it loads a PTX or cubin image plus the JSON manifest that
// attn-compile wrote next to it, checks every launch's arguments against the
// manifest (count, dtype, shape, 16-byte alignment) and launches. libcuda is
// opened at run time, so programs linking this run (and report a clear error)
// on machines without a GPU driver.
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

struct ManifestArgument {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  bool output = false;
  int64_t alignment = 16;
};

/// The launch contract attn-compile writes as <name>.json.
struct Manifest {
  std::string kernel;
  std::array<int64_t, 3> grid{1, 1, 1};
  std::array<int64_t, 3> block{1, 1, 1};
  int64_t sharedMemoryBytes = 0;
  std::vector<ManifestArgument> arguments;
};

/// Parses manifest JSON text.
Status parseManifest(const std::string &json, Manifest &out);

/// One argument as the caller passes it: a device pointer and what the caller
/// believes it points to.
struct TensorArg {
  uint64_t devicePtr = 0;
  std::string dtype;
  std::vector<int64_t> shape;
};

/// Checks `args` against the manifest without touching the GPU.
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

/// A loaded kernel (module + function) in the device's primary context.
class Kernel {
public:
  /// Loads `image` (PTX text or cubin bytes) and its manifest.
  static Status load(const std::string &imagePath,
                     const std::string &manifestPath,
                     std::unique_ptr<Kernel> &out);
  ~Kernel();

  const Manifest &manifest() const { return manifest_; }
  /// Checks the arguments, launches on `stream` (0: the default stream) and
  /// reports launch errors. With `synchronize`, also waits and reports
  /// errors raised while the kernel ran.
  Status launch(const std::vector<TensorArg> &args, void *stream = nullptr,
                bool synchronize = false);

private:
  Kernel() = default;
  Manifest manifest_;
  void *module_ = nullptr;   // CUmodule
  void *function_ = nullptr; // CUfunction
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_RUNTIME_H
