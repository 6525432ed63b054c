//===- Runtime.cpp - CUDA driver API loading and launching ----------------===//
//
// Part of attn-mlir. libcuda is opened with dlopen so that binaries linking
// the runtime start on machines without a driver (CI) and say so.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Runtime.h"

#include <cuda.h>
#include <dlfcn.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

using namespace attn::runtime;

namespace {

/// The driver entry points the runtime uses, resolved once.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxGetCurrent)(CUcontext *);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, CUfunction_attribute, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, unsigned, CUstream,
                             void **, void **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  std::string loadError;
};

const Driver &driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
      d.loadError = std::string("cannot load libcuda.so.1 (no NVIDIA driver "
                                "on this machine?): ") +
                    dlerror();
      return;
    }
    bool ok = true;
    auto sym = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(lib, name));
      if (!fn) {
        ok = false;
        d.loadError += std::string("libcuda lacks ") + name + "; ";
      }
    };
    sym(d.cuInit, "cuInit");
    sym(d.cuDeviceGetCount, "cuDeviceGetCount");
    sym(d.cuDeviceGet, "cuDeviceGet");
    sym(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(d.cuCtxGetCurrent, "cuCtxGetCurrent");
    sym(d.cuCtxSetCurrent, "cuCtxSetCurrent");
    sym(d.cuCtxSynchronize, "cuCtxSynchronize");
    sym(d.cuModuleLoadData, "cuModuleLoadData");
    sym(d.cuModuleUnload, "cuModuleUnload");
    sym(d.cuModuleGetFunction, "cuModuleGetFunction");
    sym(d.cuFuncSetAttribute, "cuFuncSetAttribute");
    sym(d.cuLaunchKernel, "cuLaunchKernel");
    sym(d.cuGetErrorString, "cuGetErrorString");
    // The _v2 names are the 64-bit-size entry points cuda.h maps to.
    sym(d.cuMemAlloc, "cuMemAlloc_v2");
    sym(d.cuMemFree, "cuMemFree_v2");
    sym(d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
    sym(d.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
    sym(d.cuMemsetD8, "cuMemsetD8_v2");
    if (!ok)
      d.cuInit = nullptr;
  });
  return d;
}

Status cudaError(CUresult rc, const std::string &what) {
  const char *text = nullptr;
  if (driver().cuGetErrorString)
    driver().cuGetErrorString(rc, &text);
  return Status::error(what + " failed: CUDA error " + std::to_string(rc) +
                       " (" + (text ? text : "unknown") + ")");
}

/// Makes the primary context of device 0 current unless a context already
/// is (e.g. PyTorch's, which is the same primary context).
Status ensureContext() {
  const Driver &d = driver();
  if (!d.cuInit)
    return Status::error(d.loadError);
  if (CUresult rc = d.cuInit(0); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuInit");
  CUcontext current = nullptr;
  if (CUresult rc = d.cuCtxGetCurrent(&current); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuCtxGetCurrent");
  if (current)
    return Status::success();
  int count = 0;
  if (CUresult rc = d.cuDeviceGetCount(&count); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGetCount");
  if (count == 0)
    return Status::error("no CUDA device found");
  CUdevice device;
  if (CUresult rc = d.cuDeviceGet(&device, 0); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGet");
  CUcontext ctx;
  if (CUresult rc = d.cuDevicePrimaryCtxRetain(&ctx, device); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDevicePrimaryCtxRetain");
  if (CUresult rc = d.cuCtxSetCurrent(ctx); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuCtxSetCurrent");
  return Status::success();
}

Status readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::error("cannot open '" + path + "'");
  std::ostringstream os;
  os << in.rdbuf();
  out = os.str();
  return Status::success();
}

} // namespace

bool attn::runtime::isGpuAvailable(std::string *why) {
  Status s = ensureContext();
  if (!s && why)
    *why = s.message;
  return s.ok;
}

Status Kernel::load(const std::string &imagePath,
                    const std::string &manifestPath,
                    std::unique_ptr<Kernel> &out) {
  std::unique_ptr<Kernel> kernel(new Kernel());
  std::string json, image;
  if (Status s = readFile(manifestPath, json); !s)
    return s;
  if (Status s = parseManifest(json, kernel->manifest_); !s)
    return Status::error(manifestPath + ": " + s.message);
  if (Status s = readFile(imagePath, image); !s)
    return s;
  if (Status s = ensureContext(); !s)
    return s;
  const Driver &d = driver();
  // PTX must be NUL-terminated; a cubin ignores the extra byte.
  image.push_back('\0');
  CUmodule module;
  if (CUresult rc = d.cuModuleLoadData(&module, image.data()); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuModuleLoadData('" + imagePath + "')");
  kernel->module_ = module;
  CUfunction function;
  if (CUresult rc = d.cuModuleGetFunction(&function, module,
                                          kernel->manifest_.kernel.c_str());
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuModuleGetFunction('" + kernel->manifest_.kernel +
                             "')");
  kernel->function_ = function;
  // Shared memory beyond 48 KiB must be opted into per function.
  if (CUresult rc = d.cuFuncSetAttribute(
          function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
          static_cast<int>(kernel->manifest_.sharedMemoryBytes));
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuFuncSetAttribute(max dynamic shared memory = " +
                             std::to_string(kernel->manifest_.sharedMemoryBytes) +
                             ")");
  // Workspaces: allocated once, zeroed once. The kernel leaves its counters
  // at zero when it finishes, so later launches need no memset.
  const std::vector<ManifestArgument> &args = kernel->manifest_.arguments;
  kernel->workspaces_.assign(args.size(), 0);
  for (size_t i = 0; i < args.size(); ++i) {
    const ManifestArgument &arg = args[i];
    if (!arg.isWorkspace())
      continue;
    size_t bytes = dtypeSize(arg.dtype);
    for (int64_t dim : arg.shape)
      bytes *= static_cast<size_t>(dim);
    // An empty workspace still gets a valid (unused) pointer.
    bytes = std::max<size_t>(bytes, 16);
    CUdeviceptr p = 0;
    if (CUresult rc = d.cuMemAlloc(&p, bytes); rc != CUDA_SUCCESS)
      return cudaError(rc, "cuMemAlloc(" + std::to_string(bytes) +
                               ") for workspace '" + arg.name + "'");
    kernel->workspaces_[i] = p;
    if (CUresult rc = d.cuMemsetD8(p, 0, bytes); rc != CUDA_SUCCESS)
      return cudaError(rc, "cuMemsetD8 of workspace '" + arg.name + "'");
  }
  // The memset runs on the legacy default stream; finish it before a launch
  // on a non-blocking stream can read the workspaces.
  if (CUresult rc = d.cuCtxSynchronize(); rc != CUDA_SUCCESS)
    return cudaError(rc, "zero-filling the workspaces");
  out = std::move(kernel);
  return Status::success();
}

Kernel::~Kernel() {
  for (uint64_t p : workspaces_)
    if (p && driver().cuMemFree)
      driver().cuMemFree(static_cast<CUdeviceptr>(p));
  if (module_ && driver().cuModuleUnload)
    driver().cuModuleUnload(static_cast<CUmodule>(module_));
}

uint64_t Kernel::workspace(const std::string &name) const {
  for (size_t i = 0; i < manifest_.arguments.size(); ++i)
    if (manifest_.arguments[i].isWorkspace() &&
        manifest_.arguments[i].name == name)
      return workspaces_[i];
  return 0;
}

Status Kernel::launch(const std::vector<TensorArg> &args, void *stream,
                      bool synchronize) {
  if (Status s = checkArguments(manifest_, args); !s)
    return s;
  const Driver &d = driver();
  // The caller's pointers in order, with the workspaces at their positions.
  std::vector<CUdeviceptr> ptrs;
  auto next = args.begin();
  for (size_t i = 0; i < manifest_.arguments.size(); ++i)
    ptrs.push_back(static_cast<CUdeviceptr>(
        manifest_.arguments[i].isWorkspace() ? workspaces_[i]
                                             : (next++)->devicePtr));
  std::vector<void *> params;
  for (CUdeviceptr &p : ptrs)
    params.push_back(&p);
  const Manifest &m = manifest_;
  if (CUresult rc = d.cuLaunchKernel(
          static_cast<CUfunction>(function_), m.grid[0], m.grid[1], m.grid[2],
          m.block[0], m.block[1], m.block[2],
          static_cast<unsigned>(m.sharedMemoryBytes),
          static_cast<CUstream>(stream), params.data(), nullptr);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuLaunchKernel('" + m.kernel + "')");
  if (synchronize)
    if (CUresult rc = d.cuCtxSynchronize(); rc != CUDA_SUCCESS)
      return cudaError(rc, "kernel '" + m.kernel + "' execution");
  return Status::success();
}

Status attn::runtime::deviceAlloc(size_t bytes, uint64_t &ptr) {
  if (Status s = ensureContext(); !s)
    return s;
  CUdeviceptr p = 0;
  if (CUresult rc = driver().cuMemAlloc(&p, bytes); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuMemAlloc(" + std::to_string(bytes) + ")");
  ptr = p;
  return Status::success();
}

Status attn::runtime::deviceFree(uint64_t ptr) {
  if (Status s = ensureContext(); !s)
    return s;
  if (CUresult rc = driver().cuMemFree(ptr); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuMemFree");
  return Status::success();
}

Status attn::runtime::copyToDevice(uint64_t dst, const void *src,
                                   size_t bytes) {
  if (Status s = ensureContext(); !s)
    return s;
  if (CUresult rc = driver().cuMemcpyHtoD(dst, src, bytes); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuMemcpyHtoD");
  return Status::success();
}

Status attn::runtime::deviceMemset(uint64_t ptr, unsigned char value,
                                   size_t bytes) {
  if (Status s = ensureContext(); !s)
    return s;
  if (CUresult rc = driver().cuMemsetD8(ptr, value, bytes); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuMemsetD8");
  // cuMemsetD8 may return before the memset is done; callers expect the
  // bytes set when this returns (as after the synchronous copies).
  if (CUresult rc = driver().cuCtxSynchronize(); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuMemsetD8 (synchronize)");
  return Status::success();
}

Status attn::runtime::copyToHost(void *dst, uint64_t src, size_t bytes) {
  if (Status s = ensureContext(); !s)
    return s;
  if (CUresult rc = driver().cuMemcpyDtoH(dst, src, bytes); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuMemcpyDtoH");
  return Status::success();
}
