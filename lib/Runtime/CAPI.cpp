//===- CAPI.cpp - C ABI over attn::runtime --------------------------------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn-c/Runtime.h"
#include "attn/Runtime/Runtime.h"

using namespace attn::runtime;

struct AttnKernel {
  std::unique_ptr<Kernel> kernel;
};

static thread_local std::string lastError;

static int report(const Status &s) {
  lastError = s.ok ? "" : s.message;
  return s.ok ? 0 : 1;
}

const char *attnRuntimeLastError(void) { return lastError.c_str(); }

int attnKernelCreate(const char *imagePath, const char *manifestPath,
                     AttnKernel **out) {
  if (!imagePath || !manifestPath || !out)
    return report(Status::error("attnKernelCreate: null argument"));
  auto handle = std::make_unique<AttnKernel>();
  if (int rc = report(Kernel::load(imagePath, manifestPath, handle->kernel)))
    return rc;
  *out = handle.release();
  return 0;
}

void attnKernelDestroy(AttnKernel *kernel) { delete kernel; }

// numArgs counts the caller's (non-workspace) arguments: Kernel::launch adds
// the workspaces it owns.
int attnKernelLaunch(AttnKernel *kernel, int numArgs,
                     const uint64_t *devicePtrs, const char *const *dtypes,
                     const int32_t *ranks, const int64_t *shapes, void *stream,
                     int synchronize) {
  if (!kernel || numArgs < 0 || (numArgs && (!devicePtrs || !dtypes || !ranks ||
                                             !shapes)))
    return report(Status::error("attnKernelLaunch: null argument"));
  std::vector<TensorArg> args(numArgs);
  const int64_t *dim = shapes;
  for (int i = 0; i < numArgs; ++i) {
    args[i].devicePtr = devicePtrs[i];
    args[i].dtype = dtypes[i] ? dtypes[i] : "";
    args[i].shape.assign(dim, dim + ranks[i]);
    dim += ranks[i];
  }
  return report(kernel->kernel->launch(args, stream, synchronize != 0));
}
