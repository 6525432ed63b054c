//===- Runtime.cpp - CUDA driver API loading and launching ----------------===//
//
// Part of attn-mlir. libcuda is opened with dlopen so that binaries linking
// the runtime start on machines without a driver (CI) and say so. Every size
// handed to the driver was bounded by parseManifest or is checked here.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Runtime.h"
#include "attn/Runtime/TensorMap.h"

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
  CUresult (*cuDeviceGetAttribute)(int *, CUdevice_attribute, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxGetCurrent)(CUcontext *);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxPushCurrent)(CUcontext);
  CUresult (*cuCtxPopCurrent)(CUcontext *);
  CUresult (*cuCtxGetDevice)(CUdevice *);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncGetAttribute)(int *, CUfunction_attribute, CUfunction);
  CUresult (*cuFuncSetAttribute)(CUfunction, CUfunction_attribute, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  /// Optional (CUDA 12+ drivers): only kernels with tensor maps need it.
  CUresult (*cuTensorMapEncodeTiled)(CUtensorMap *, CUtensorMapDataType,
                                     cuuint32_t, void *, const cuuint64_t *,
                                     const cuuint64_t *, const cuuint32_t *,
                                     const cuuint32_t *, CUtensorMapInterleave,
                                     CUtensorMapSwizzle, CUtensorMapL2promotion,
                                     CUtensorMapFloatOOBfill);
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
    sym(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
    sym(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
    sym(d.cuCtxGetCurrent, "cuCtxGetCurrent");
    sym(d.cuCtxSetCurrent, "cuCtxSetCurrent");
    sym(d.cuCtxPushCurrent, "cuCtxPushCurrent_v2");
    sym(d.cuCtxPopCurrent, "cuCtxPopCurrent_v2");
    sym(d.cuCtxGetDevice, "cuCtxGetDevice");
    sym(d.cuCtxSynchronize, "cuCtxSynchronize");
    sym(d.cuStreamSynchronize, "cuStreamSynchronize");
    sym(d.cuStreamCreate, "cuStreamCreate");
    sym(d.cuStreamDestroy, "cuStreamDestroy_v2");
    sym(d.cuModuleLoadData, "cuModuleLoadData");
    sym(d.cuModuleUnload, "cuModuleUnload");
    sym(d.cuModuleGetFunction, "cuModuleGetFunction");
    sym(d.cuFuncGetAttribute, "cuFuncGetAttribute");
    sym(d.cuFuncSetAttribute, "cuFuncSetAttribute");
    sym(d.cuLaunchKernel, "cuLaunchKernel");
    sym(d.cuGetErrorString, "cuGetErrorString");
    // The _v2 names are the 64-bit-size entry points cuda.h maps to.
    sym(d.cuMemAlloc, "cuMemAlloc_v2");
    sym(d.cuMemFree, "cuMemFree_v2");
    sym(d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
    sym(d.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
    sym(d.cuMemsetD8, "cuMemsetD8_v2");
    sym(d.cuMemsetD8Async, "cuMemsetD8Async");
    d.cuTensorMapEncodeTiled =
        reinterpret_cast<decltype(d.cuTensorMapEncodeTiled)>(
            dlsym(lib, "cuTensorMapEncodeTiled"));
    if (!ok)
      d.cuInit = nullptr;
  });
  return d;
}

Status cudaError(CUresult rc, const std::string &what) {
  const char *text = nullptr;
  if (driver().cuGetErrorString)
    driver().cuGetErrorString(rc, &text);
  ErrorCode code =
      rc == CUDA_ERROR_OUT_OF_MEMORY ? ErrorCode::OutOfMemory
      : rc == CUDA_ERROR_NO_DEVICE || rc == CUDA_ERROR_INVALID_DEVICE
          ? ErrorCode::NoDevice
          : ErrorCode::Cuda;
  return Status::error(code, what + " failed: CUDA error " +
                                 std::to_string(rc) + " (" +
                                 (text ? text : "unknown") + ")");
}

Status initDriver() {
  const Driver &d = driver();
  if (!d.cuInit)
    return Status::error(ErrorCode::NoDevice, d.loadError);
  if (CUresult rc = d.cuInit(0); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuInit");
  return Status::success();
}

/// Makes the primary context of device 0 current unless a context already
/// is (e.g. PyTorch's, which is the same primary context). The implicit
/// device of the file-path API and the memory helpers.
Status ensureContext() {
  if (Status s = initDriver(); !s)
    return s;
  const Driver &d = driver();
  CUcontext current = nullptr;
  if (CUresult rc = d.cuCtxGetCurrent(&current); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuCtxGetCurrent");
  if (current)
    return Status::success();
  int count = 0;
  if (CUresult rc = d.cuDeviceGetCount(&count); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGetCount");
  if (count == 0)
    return Status::error(ErrorCode::NoDevice, "no CUDA device found");
  CUdevice device;
  if (CUresult rc = d.cuDeviceGet(&device, 0); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGet");
  CUcontext ctx;
  if (CUresult rc = d.cuDevicePrimaryCtxRetain(&ctx, device);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDevicePrimaryCtxRetain");
  if (CUresult rc = d.cuCtxSetCurrent(ctx); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuCtxSetCurrent");
  return Status::success();
}

/// Makes `ctx` current for a scope and restores the caller's context; a
/// no-op when it already is current (the common case on a serving thread).
class ScopedContext {
public:
  explicit ScopedContext(void *ctx) {
    const Driver &d = driver();
    CUcontext current = nullptr;
    if (d.cuCtxGetCurrent(&current) == CUDA_SUCCESS && current == ctx)
      return;
    CUresult rc = d.cuCtxPushCurrent(static_cast<CUcontext>(ctx));
    if (rc != CUDA_SUCCESS)
      status = cudaError(rc, "cuCtxPushCurrent");
    pushed = rc == CUDA_SUCCESS;
  }
  ~ScopedContext() {
    CUcontext popped;
    if (pushed)
      driver().cuCtxPopCurrent(&popped);
  }
  Status status;

private:
  bool pushed = false;
};

Status readFile(const std::string &path, size_t limit, std::string &out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    return Status::error(ErrorCode::Io, "cannot open '" + path + "'");
  std::streamoff size = in.tellg();
  if (size < 0 || static_cast<uint64_t>(size) > limit)
    return Status::error(ErrorCode::Io, "'" + path + "': expected at most " +
                                            std::to_string(limit) + " bytes");
  in.seekg(0);
  std::ostringstream os;
  os << in.rdbuf();
  out = os.str();
  return Status::success();
}

constexpr size_t kMaxImageBytes = size_t(1) << 30;

} // namespace

bool attn::runtime::isGpuAvailable(std::string *why) {
  Status s = ensureContext();
  if (!s && why)
    *why = s.message;
  return s.ok;
}

Status attn::runtime::deviceCount(int &count) {
  if (Status s = initDriver(); !s)
    return s;
  if (CUresult rc = driver().cuDeviceGetCount(&count); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGetCount");
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Context
//===----------------------------------------------------------------------===//

static Status queryDevice(CUdevice device, int64_t &maxSharedMemory,
                          int &computeCapability) {
  int value = 0, major = 0, minor = 0;
  if (CUresult rc = driver().cuDeviceGetAttribute(
          &value, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
          device);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGetAttribute(max shared memory per block)");
  if (CUresult rc = driver().cuDeviceGetAttribute(
          &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGetAttribute(compute capability)");
  if (CUresult rc = driver().cuDeviceGetAttribute(
          &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGetAttribute(compute capability)");
  maxSharedMemory = value;
  computeCapability = major * 10 + minor;
  return Status::success();
}

/// Whether a kernel compiled for `chip` (sm_NN or the architecture-specific
/// sm_NNa) runs on a device of compute capability `cc`: sm_NN on NN and
/// later, sm_NNa (wgmma, setmaxnreg) on exactly NN.
Status attn::runtime::checkChip(const std::string &chip, int cc,
                                const std::string &symbol, int device) {
  if (chip.size() < 5 || chip.compare(0, 3, "sm_") != 0)
    return Status::success(); // the manifest reader vouches for the rest
  bool archSpecific = chip.back() == 'a';
  std::string digits = chip.substr(3, chip.size() - 3 - (archSpecific ? 1 : 0));
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), ::isdigit) ||
      digits.size() > 3)
    return Status::success();
  int need = std::stoi(digits);
  if (archSpecific ? cc == need : cc >= need)
    return Status::success();
  return Status::error(
      ErrorCode::Unsupported,
      "kernel '" + symbol + "' was compiled for " + chip + " (" +
          (archSpecific ? "exactly compute capability " : "compute capability ") +
          std::to_string(need / 10) + "." + std::to_string(need % 10) +
          (archSpecific ? "" : " or later") + "); device " +
          std::to_string(device) + " is " + std::to_string(cc / 10) + "." +
          std::to_string(cc % 10));
}

Status Context::create(int ordinal, std::unique_ptr<Context> &out) {
  if (Status s = initDriver(); !s)
    return s;
  const Driver &d = driver();
  int count = 0;
  if (CUresult rc = d.cuDeviceGetCount(&count); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGetCount");
  if (ordinal < 0 || ordinal >= count)
    return Status::error(ErrorCode::NoDevice,
                         "expected a device ordinal in [0, " +
                             std::to_string(count) + "), got " +
                             std::to_string(ordinal));
  CUdevice device;
  if (CUresult rc = d.cuDeviceGet(&device, ordinal); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDeviceGet");
  std::unique_ptr<Context> ctx(new Context());
  ctx->device_ = ordinal;
  if (Status s = queryDevice(device, ctx->maxSharedMemory_, ctx->computeCapability_); !s)
    return s;
  CUcontext handle;
  if (CUresult rc = d.cuDevicePrimaryCtxRetain(&handle, device);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuDevicePrimaryCtxRetain");
  ctx->context_ = handle;
  ctx->retainedPrimary_ = true;
  out = std::move(ctx);
  return Status::success();
}

Status Context::fromCurrent(std::unique_ptr<Context> &out) {
  if (Status s = initDriver(); !s)
    return s;
  const Driver &d = driver();
  CUcontext current = nullptr;
  if (CUresult rc = d.cuCtxGetCurrent(&current); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuCtxGetCurrent");
  if (!current)
    return Status::error(ErrorCode::NoDevice,
                         "no CUDA context is current on this thread");
  CUdevice device;
  if (CUresult rc = d.cuCtxGetDevice(&device); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuCtxGetDevice");
  std::unique_ptr<Context> ctx(new Context());
  ctx->context_ = current;
  ctx->device_ = static_cast<int>(device);
  if (Status s = queryDevice(device, ctx->maxSharedMemory_, ctx->computeCapability_); !s)
    return s;
  out = std::move(ctx);
  return Status::success();
}

Context::~Context() {
  if (retainedPrimary_ && driver().cuDevicePrimaryCtxRelease) {
    CUdevice device;
    if (driver().cuDeviceGet(&device, device_) == CUDA_SUCCESS)
      driver().cuDevicePrimaryCtxRelease(device);
  }
}

//===----------------------------------------------------------------------===//
// Kernel
//===----------------------------------------------------------------------===//

Status Kernel::load(const std::string &imagePath,
                    const std::string &manifestPath,
                    std::unique_ptr<Kernel> &out) {
  return loadFiles(nullptr, imagePath, manifestPath, LoadOptions(), out);
}

Status Kernel::loadFiles(const Context *context, const std::string &imagePath,
                         const std::string &manifestPath,
                         const LoadOptions &options,
                         std::unique_ptr<Kernel> &out) {
  std::string json, image;
  if (Status s = readFile(manifestPath, ManifestLimits::kMaxBytes, json); !s)
    return s;
  if (Status s = readFile(imagePath, kMaxImageBytes, image); !s)
    return s;
  Status s = loadImage(context, image.data(), image.size(), json, options, out);
  // Name the file the error is about.
  bool manifestError = s.code == ErrorCode::InvalidManifest ||
                       s.code == ErrorCode::UnsupportedVersion;
  if (!s)
    s.message = (manifestError ? manifestPath : imagePath) + ": " + s.message;
  return s;
}

Status Kernel::loadImage(const Context *context, const void *image,
                         size_t imageBytes, const std::string &manifestJson,
                         const LoadOptions &options,
                         std::unique_ptr<Kernel> &out) {
  if (!image || imageBytes == 0 || imageBytes > kMaxImageBytes)
    return Status::error(ErrorCode::InvalidArgument,
                         "expected a kernel image of 1 to 2^30 bytes, got " +
                             std::to_string(imageBytes) +
                             (image ? "" : " at a null pointer"));
  std::unique_ptr<Kernel> kernel(new Kernel());
  if (Status s = parseManifest(manifestJson, kernel->manifest_); !s)
    return s;
  if (!context) {
    if (Status s = ensureContext(); !s)
      return s;
    if (Status s = Context::fromCurrent(kernel->ownedContext_); !s)
      return s;
    context = kernel->ownedContext_.get();
  }
  kernel->context_ = context->handle();
  const Manifest &m = kernel->manifest_;
  if (Status s = checkChip(m.chip, context->computeCapability(), m.symbol,
                           context->device());
      !s)
    return s;
  if (m.sharedMemoryBytes > context->maxSharedMemoryPerBlock())
    return Status::error(
        ErrorCode::Unsupported,
        "kernel '" + m.symbol + "' needs " +
            std::to_string(m.sharedMemoryBytes) +
            " bytes of shared memory per block; device " +
            std::to_string(context->device()) + " allows " +
            std::to_string(context->maxSharedMemoryPerBlock()));
  ScopedContext scope(kernel->context_);
  if (!scope.status)
    return scope.status;
  // PTX must be NUL-terminated; a cubin ignores the extra byte.
  std::string bytes(static_cast<const char *>(image), imageBytes);
  bytes.push_back('\0');
  if (Status s = kernel->loadModule(bytes, "kernel '" + m.symbol + "'"); !s)
    return s;
  layOutWorkspaces(m, kernel->slices_, kernel->workspaceBytes_);
  if (options.allocateWorkspace && kernel->workspaceBytes_ > 0) {
    const Driver &d = driver();
    CUdeviceptr p = 0;
    if (CUresult rc = d.cuMemAlloc(&p, kernel->workspaceBytes_);
        rc != CUDA_SUCCESS)
      return cudaError(rc, "cuMemAlloc(" +
                               std::to_string(kernel->workspaceBytes_) +
                               ") for the workspaces of '" + m.symbol + "'");
    kernel->ownWorkspace_ = p;
    // Synchronous: a launch on any stream then sees zeros.
    if (CUresult rc = d.cuMemsetD8(p, 0, kernel->workspaceBytes_);
        rc != CUDA_SUCCESS)
      return cudaError(rc, "zero-filling the workspaces");
    if (CUresult rc = d.cuCtxSynchronize(); rc != CUDA_SUCCESS)
      return cudaError(rc, "zero-filling the workspaces");
  }
  out = std::move(kernel);
  return Status::success();
}

Status Kernel::loadModule(const std::string &image, const std::string &what) {
  const Driver &d = driver();
  CUmodule module;
  if (CUresult rc = d.cuModuleLoadData(&module, image.data());
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuModuleLoadData(" + what + ")");
  module_ = module;
  CUfunction function;
  if (CUresult rc =
          d.cuModuleGetFunction(&function, module, manifest_.symbol.c_str());
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuModuleGetFunction('" + manifest_.symbol + "')");
  function_ = function;
  int maxThreads = 0;
  if (CUresult rc = d.cuFuncGetAttribute(
          &maxThreads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, function);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuFuncGetAttribute(max threads per block)");
  int64_t threads =
      manifest_.block[0] * manifest_.block[1] * manifest_.block[2];
  if (threads > maxThreads)
    return Status::error(
        ErrorCode::Unsupported,
        what + ": the manifest's block has " + std::to_string(threads) +
            " threads; the function allows " + std::to_string(maxThreads));
  // Shared memory beyond 48 KiB must be opted into per function; the
  // manifest bounds the value to 2^24, so the int cast is exact.
  if (CUresult rc = d.cuFuncSetAttribute(
          function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
          static_cast<int>(manifest_.sharedMemoryBytes));
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuFuncSetAttribute(max dynamic shared memory = " +
                             std::to_string(manifest_.sharedMemoryBytes) + ")");
  return Status::success();
}

Kernel::~Kernel() {
  const Driver &d = driver();
  if (!context_ || !d.cuCtxPushCurrent)
    return;
  ScopedContext scope(context_);
  if (ownWorkspace_)
    d.cuMemFree(static_cast<CUdeviceptr>(ownWorkspace_));
  if (module_)
    d.cuModuleUnload(static_cast<CUmodule>(module_));
}

uint64_t Kernel::workspace(const std::string &name) const {
  if (!ownWorkspace_)
    return 0;
  for (const WorkspaceSlice &slice : slices_)
    if (manifest_.arguments[slice.argument].name == name)
      return ownWorkspace_ + slice.offset;
  return 0;
}

static Status checkWorkspace(const Kernel &k, uint64_t ptr, size_t bytes) {
  const std::string where = "kernel '" + k.manifest().symbol + "': ";
  if (k.workspaceBytes() == 0)
    return Status::success();
  if (ptr == 0)
    return Status::error(ErrorCode::ArgumentMismatch,
                         where + "expected a workspace of " +
                             std::to_string(k.workspaceBytes()) +
                             " bytes (the kernel was loaded without one)");
  if (bytes < k.workspaceBytes())
    return Status::error(ErrorCode::ArgumentMismatch,
                         where + "expected a workspace of at least " +
                             std::to_string(k.workspaceBytes()) +
                             " bytes, got " + std::to_string(bytes));
  if (ptr % kWorkspaceAlignment != 0)
    return Status::error(ErrorCode::ArgumentMismatch,
                         where + "expected a 256-byte aligned workspace");
  return Status::success();
}

Status Kernel::initWorkspace(uint64_t workspace, size_t bytes,
                             void *stream) const {
  if (Status s = checkWorkspace(*this, workspace, bytes); !s)
    return s;
  ScopedContext scope(context_);
  if (!scope.status)
    return scope.status;
  for (const WorkspaceSlice &slice : slices_)
    if (slice.zeroInit && slice.bytes > 0)
      if (CUresult rc = driver().cuMemsetD8Async(
              static_cast<CUdeviceptr>(workspace + slice.offset), 0,
              slice.bytes, static_cast<CUstream>(stream));
          rc != CUDA_SUCCESS)
        return cudaError(rc, "cuMemsetD8Async (workspace)");
  return Status::success();
}

// TensorMapParams holds cuda.h's codes.
static_assert(CU_TENSOR_MAP_DATA_TYPE_FLOAT16 == 6 &&
                  CU_TENSOR_MAP_DATA_TYPE_FLOAT32 == 7 &&
                  CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 == 9,
              "CUtensorMapDataType codes");
static_assert(CU_TENSOR_MAP_SWIZZLE_128B == 3 &&
                  CU_TENSOR_MAP_L2_PROMOTION_L2_256B == 3 &&
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE == 0 &&
                  CU_TENSOR_MAP_INTERLEAVE_NONE == 0,
              "CUtensorMap enum codes");
static_assert(sizeof(CUtensorMap) == 128 && alignof(CUtensorMap) % 64 == 0,
              "a tensor map parameter is 128 bytes, (at least) 64-byte aligned");

/// Encodes a plan's tensor maps over this launch's pointers (checkPointers
/// accepted them; TMA also wants 16-byte aligned addresses).
static Status encodeTensorMaps(const Manifest &m, const LaunchPlan &plan,
                               const std::vector<CUdeviceptr> &argumentPtrs,
                               std::vector<CUtensorMap> &maps) {
  const Driver &d = driver();
  maps.resize(plan.tensorMaps.size());
  for (size_t i = 0; i < plan.tensorMaps.size(); ++i) {
    TensorMapParams p = plan.tensorMaps[i].params;
    // The caller's tensor or the workspace slice, by manifest position.
    p.globalAddress = argumentPtrs[plan.tensorMaps[i].sourceArgument];
    if (p.globalAddress % 16 != 0)
      return Status::error(ErrorCode::ArgumentMismatch,
                           "kernel '" + m.symbol +
                               "': a tensor map's source must be 16-byte "
                               "aligned (TMA)");
    if (CUresult rc = d.cuTensorMapEncodeTiled(
            &maps[i], static_cast<CUtensorMapDataType>(p.dataType), p.rank,
            reinterpret_cast<void *>(p.globalAddress), p.globalDim.data(),
            p.globalStrides.data(), p.boxDim.data(), p.elementStrides.data(),
            static_cast<CUtensorMapInterleave>(p.interleave),
            static_cast<CUtensorMapSwizzle>(p.swizzle),
            static_cast<CUtensorMapL2promotion>(p.l2Promotion),
            static_cast<CUtensorMapFloatOOBfill>(p.oobFill));
        rc != CUDA_SUCCESS)
      return cudaError(rc, "cuTensorMapEncodeTiled (" + m.symbol + ")");
  }
  return Status::success();
}

Status Kernel::launch(const std::vector<TensorArg> &args, void *stream,
                      bool synchronize) {
  LaunchOptions options;
  options.stream = stream;
  options.synchronize = synchronize;
  return launch(args, options);
}

Status Kernel::prepare(const std::vector<TensorArg> &signature,
                       LaunchPlan &plan) const {
  RuntimeLengthValues lengths;
  if (Status s = checkSignature(manifest_, signature, &lengths); !s)
    return s;
  if (Status s = launchGrid(manifest_, lengths, plan.grid); !s)
    return s;
  // The runtime lengths go by value (i32; checkSignature bounded them).
  plan.lengthValues.assign(manifest_.arguments.size(), 0);
  for (size_t i = 0; i < manifest_.arguments.size(); ++i)
    if (manifest_.arguments[i].isLength())
      plan.lengthValues[i] =
          static_cast<int32_t>(lengths.get(manifest_.arguments[i].name));
  plan.numPointers = signature.size();
  if (Status s = deriveSignatureTensorMaps(manifest_, signature,
                                           plan.tensorMaps);
      !s)
    return s;
  if (!plan.tensorMaps.empty() && !driver().cuTensorMapEncodeTiled)
    return Status::error(ErrorCode::Unsupported,
                         "kernel '" + manifest_.symbol +
                             "' needs tensor maps (TMA): libcuda lacks "
                             "cuTensorMapEncodeTiled (a CUDA 12+ driver is "
                             "required)");
  return Status::success();
}

Status Kernel::launch(const std::vector<TensorArg> &args,
                      const LaunchOptions &options) {
  LaunchPlan plan;
  if (Status s = prepare(args, plan); !s)
    return s;
  std::vector<uint64_t> pointers;
  pointers.reserve(args.size());
  for (const TensorArg &a : args)
    pointers.push_back(a.devicePtr);
  return launch(plan, pointers.data(), options);
}

Status Kernel::launch(const LaunchPlan &plan, const uint64_t *devicePtrs,
                      const LaunchOptions &options) {
  if (Status s = checkPointers(manifest_, devicePtrs); !s)
    return s;
  uint64_t workspace = options.workspace ? options.workspace : ownWorkspace_;
  size_t workspaceBytes =
      options.workspace ? options.workspaceBytes : workspaceBytes_;
  if (Status s = checkWorkspace(*this, workspace, workspaceBytes); !s)
    return s;
  // The caller's pointers in order, the workspace slices at their positions
  // and the runtime lengths by value.
  const size_t count = manifest_.arguments.size();
  std::vector<CUdeviceptr> ptrs(count, 0);
  const uint64_t *next = devicePtrs;
  for (size_t i = 0; i < count; ++i)
    if (manifest_.arguments[i].isPassed())
      ptrs[i] = static_cast<CUdeviceptr>(*next++);
  for (const WorkspaceSlice &slice : slices_)
    ptrs[slice.argument] = static_cast<CUdeviceptr>(workspace + slice.offset);
  std::vector<int32_t> values = plan.lengthValues;
  // Tensor maps are built from this launch's pointers and passed by value
  // (cuLaunchKernel copies the 128 bytes).
  std::vector<CUtensorMap> maps;
  if (Status s = encodeTensorMaps(manifest_, plan, ptrs, maps); !s)
    return s;
  std::vector<void *> params(count);
  size_t nextMap = 0;
  for (size_t i = 0; i < count; ++i) {
    const ManifestArgument &a = manifest_.arguments[i];
    params[i] = a.isTensorMap()  ? static_cast<void *>(&maps[nextMap++])
                : a.isLength() ? static_cast<void *>(&values[i])
                               : static_cast<void *>(&ptrs[i]);
  }
  ScopedContext scope(context_);
  if (!scope.status)
    return scope.status;
  const Driver &d = driver();
  const Manifest &m = manifest_;
  // parseManifest (launchGrid for a computed grid) bounded grid, block and
  // shared memory to the CUDA limits, all below 2^32: the unsigned casts
  // are exact.
  auto u = [](int64_t v) { return static_cast<unsigned>(v); };
  CUstream stream = static_cast<CUstream>(options.stream);
  if (CUresult rc = d.cuLaunchKernel(
          static_cast<CUfunction>(function_), u(plan.grid[0]),
          u(plan.grid[1]), u(plan.grid[2]), u(m.block[0]), u(m.block[1]),
          u(m.block[2]), u(m.sharedMemoryBytes), stream, params.data(),
          nullptr);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuLaunchKernel('" + m.symbol + "')");
  if (options.synchronize)
    if (CUresult rc = d.cuStreamSynchronize(stream); rc != CUDA_SUCCESS)
      return cudaError(rc, "kernel '" + m.symbol + "' execution");
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Memory helpers
//===----------------------------------------------------------------------===//

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

Status attn::runtime::streamCreate(void *&stream) {
  if (Status s = ensureContext(); !s)
    return s;
  CUstream created;
  if (CUresult rc = driver().cuStreamCreate(&created, CU_STREAM_NON_BLOCKING);
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuStreamCreate");
  stream = created;
  return Status::success();
}

Status attn::runtime::streamDestroy(void *stream) {
  if (Status s = ensureContext(); !s)
    return s;
  if (CUresult rc = driver().cuStreamDestroy(static_cast<CUstream>(stream));
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuStreamDestroy");
  return Status::success();
}

Status attn::runtime::streamSynchronize(void *stream) {
  if (Status s = ensureContext(); !s)
    return s;
  if (CUresult rc = driver().cuStreamSynchronize(static_cast<CUstream>(stream));
      rc != CUDA_SUCCESS)
    return cudaError(rc, "cuStreamSynchronize");
  return Status::success();
}

Status attn::runtime::copyToHost(void *dst, uint64_t src, size_t bytes) {
  if (Status s = ensureContext(); !s)
    return s;
  if (CUresult rc = driver().cuMemcpyDtoH(dst, src, bytes); rc != CUDA_SUCCESS)
    return cudaError(rc, "cuMemcpyDtoH");
  return Status::success();
}
