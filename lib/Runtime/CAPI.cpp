//===- CAPI.cpp - C ABI over attn::runtime --------------------------------===//
//
// Part of attn-mlir. Every entry validates its scalars before it sizes
// anything (a negative rank or a huge count is an error code, not a
// std::length_error), and runs behind a catch-all so that no C++ exception
// crosses into C, ctypes or a serving host. This file is compiled with
// -fexceptions even where the project builds with -fno-exceptions.
//
//===----------------------------------------------------------------------===//

#include "attn-c/Runtime.h"
#include "attn/Runtime/Runtime.h"

#include <exception>
#include <new>
#include <string>

using namespace attn::runtime;

static_assert(ATTN_STATUS_INTERNAL == static_cast<int>(ErrorCode::Internal),
              "the C status codes mirror attn::runtime::ErrorCode");

struct AttnContext {
  std::unique_ptr<Context> context;
};

struct AttnKernel {
  std::unique_ptr<Kernel> kernel;
  std::string manifestJson;
};

static thread_local std::string lastError;
static thread_local int lastCode = 0;

static int report(const Status &s) {
  lastCode = s.ok ? 0 : static_cast<int>(s.code);
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
  // Copying the message can itself run out of memory; the code still
  // reaches the caller.
  try {
    lastError = s.ok ? "" : s.message;
  } catch (...) {
    lastError.clear();
  }
#else
  lastError = s.ok ? "" : s.message;
#endif
  return lastCode;
}

static int invalid(const std::string &message) {
  return report(Status::error(ErrorCode::InvalidArgument, message));
}

/// Runs `body` (returning a Status code via report) and turns any exception
/// into a code.
template <typename Body> static int guarded(const char *call, Body body) {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return report(Status::error(ErrorCode::OutOfMemory,
                                std::string(call) + ": out of host memory"));
  } catch (const std::exception &e) {
    return report(Status::error(ErrorCode::Internal,
                                std::string(call) + ": " + e.what()));
  } catch (...) {
    return report(Status::error(ErrorCode::Internal,
                                std::string(call) + ": unknown exception"));
  }
#else
  return body();
#endif
}

const char *attnRuntimeLastError(void) { return lastError.c_str(); }

int attnRuntimeLastErrorCode(void) { return lastCode; }

void attnRuntimeManifestVersion(int *major, int *minor) {
  if (major)
    *major = kManifestMajorVersion;
  if (minor)
    *minor = kManifestMinorVersion;
}

//===----------------------------------------------------------------------===//
// Contexts
//===----------------------------------------------------------------------===//

static int finishContext(Status s, std::unique_ptr<Context> ctx,
                         AttnContext **out) {
  if (!s)
    return report(s);
  auto handle = std::make_unique<AttnContext>();
  handle->context = std::move(ctx);
  *out = handle.release();
  return report(Status::success());
}

int attnContextCreate(int device, AttnContext **out) {
  return guarded("attnContextCreate", [&] {
    if (!out)
      return invalid("attnContextCreate: null out");
    std::unique_ptr<Context> ctx;
    Status s = Context::create(device, ctx);
    return finishContext(std::move(s), std::move(ctx), out);
  });
}

int attnContextCreateFromCurrent(AttnContext **out) {
  return guarded("attnContextCreateFromCurrent", [&] {
    if (!out)
      return invalid("attnContextCreateFromCurrent: null out");
    std::unique_ptr<Context> ctx;
    Status s = Context::fromCurrent(ctx);
    return finishContext(std::move(s), std::move(ctx), out);
  });
}

void attnContextDestroy(AttnContext *context) { delete context; }

int attnContextGetDevice(const AttnContext *context, int *device) {
  return guarded("attnContextGetDevice", [&] {
    if (!context || !device)
      return invalid("attnContextGetDevice: null argument");
    *device = context->context->device();
    return report(Status::success());
  });
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

static int finishKernel(Status s, std::unique_ptr<Kernel> kernel,
                        AttnKernel **out) {
  if (!s)
    return report(s);
  auto handle = std::make_unique<AttnKernel>();
  handle->manifestJson = kernel->manifest().toJson();
  handle->kernel = std::move(kernel);
  *out = handle.release();
  return report(Status::success());
}

static bool decodeFlags(int flags, LoadOptions &options) {
  if (flags & ~ATTN_KERNEL_CALLER_WORKSPACE)
    return false;
  options.allocateWorkspace = !(flags & ATTN_KERNEL_CALLER_WORKSPACE);
  return true;
}

int attnKernelCreate(const char *imagePath, const char *manifestPath,
                     AttnKernel **out) {
  return attnKernelCreateFromFiles(nullptr, imagePath, manifestPath, 0, out);
}

int attnKernelCreateFromFiles(AttnContext *context, const char *imagePath,
                              const char *manifestPath, int flags,
                              AttnKernel **out) {
  return guarded("attnKernelCreateFromFiles", [&] {
    LoadOptions options;
    if (!imagePath || !manifestPath || !out)
      return invalid("attnKernelCreate: null argument");
    if (!decodeFlags(flags, options))
      return invalid("attnKernelCreate: unknown flags " +
                     std::to_string(flags));
    std::unique_ptr<Kernel> kernel;
    Status s = Kernel::loadFiles(context ? context->context.get() : nullptr,
                                 imagePath, manifestPath, options, kernel);
    return finishKernel(std::move(s), std::move(kernel), out);
  });
}

int attnKernelCreateFromMemory(AttnContext *context, const void *image,
                               size_t imageSize, const char *manifest,
                               size_t manifestSize, int flags,
                               AttnKernel **out) {
  return guarded("attnKernelCreateFromMemory", [&] {
    LoadOptions options;
    if (!image || !manifest || !out)
      return invalid("attnKernelCreateFromMemory: null argument");
    if (!decodeFlags(flags, options))
      return invalid("attnKernelCreateFromMemory: unknown flags " +
                     std::to_string(flags));
    // Checked before the copy below sizes a string from it.
    if (manifestSize > ManifestLimits::kMaxBytes)
      return report(
          Status::error(ErrorCode::InvalidManifest,
                        "manifest: expected at most " +
                            std::to_string(ManifestLimits::kMaxBytes) +
                            " bytes, got " + std::to_string(manifestSize)));
    std::unique_ptr<Kernel> kernel;
    Status s = Kernel::loadImage(
        context ? context->context.get() : nullptr, image, imageSize,
        std::string(manifest, manifestSize), options, kernel);
    return finishKernel(std::move(s), std::move(kernel), out);
  });
}

void attnKernelDestroy(AttnKernel *kernel) { delete kernel; }

const char *attnKernelGetManifest(const AttnKernel *kernel) {
  const char *json = nullptr;
  guarded("attnKernelGetManifest", [&] {
    if (!kernel)
      return invalid("attnKernelGetManifest: null kernel");
    json = kernel->manifestJson.c_str();
    return report(Status::success());
  });
  return json;
}

//===----------------------------------------------------------------------===//
// Workspaces
//===----------------------------------------------------------------------===//

int attnKernelGetWorkspaceSize(const AttnKernel *kernel, size_t *bytes) {
  return guarded("attnKernelGetWorkspaceSize", [&] {
    if (!kernel || !bytes)
      return invalid("attnKernelGetWorkspaceSize: null argument");
    *bytes = kernel->kernel->workspaceBytes();
    return report(Status::success());
  });
}

int attnKernelInitWorkspace(const AttnKernel *kernel, uint64_t workspace,
                            size_t workspaceSize, void *stream) {
  return guarded("attnKernelInitWorkspace", [&] {
    if (!kernel)
      return invalid("attnKernelInitWorkspace: null kernel");
    return report(
        kernel->kernel->initWorkspace(workspace, workspaceSize, stream));
  });
}

//===----------------------------------------------------------------------===//
// Launching
//===----------------------------------------------------------------------===//

int attnKernelLaunchWithWorkspace(AttnKernel *kernel, int numArgs,
                                  const uint64_t *devicePtrs,
                                  const char *const *dtypes,
                                  const int32_t *ranks, const int64_t *shapes,
                                  uint64_t workspace, size_t workspaceSize,
                                  void *stream, int synchronize) {
  return attnKernelLaunchStrided(kernel, numArgs, devicePtrs, dtypes, ranks,
                                 shapes, nullptr, workspace, workspaceSize,
                                 stream, synchronize);
}

int attnKernelLaunchStrided(AttnKernel *kernel, int numArgs,
                            const uint64_t *devicePtrs,
                            const char *const *dtypes, const int32_t *ranks,
                            const int64_t *shapes, const int64_t *strides,
                            uint64_t workspace, size_t workspaceSize,
                            void *stream, int synchronize) {
  return guarded("attnKernelLaunch", [&] {
    if (!kernel)
      return invalid("attnKernelLaunch: null kernel");
    std::vector<TensorArg> args;
    if (Status s = readTensorArgs(kernel->kernel->manifest(), numArgs,
                                  devicePtrs, dtypes, ranks, shapes, args,
                                  strides);
        !s)
      return report(s);
    LaunchOptions options;
    options.stream = stream;
    options.workspace = workspace;
    options.workspaceBytes = workspaceSize;
    options.synchronize = synchronize != 0;
    return report(kernel->kernel->launch(args, options));
  });
}

struct AttnLaunchPlan {
  AttnKernel *kernel;
  LaunchPlan plan;
};

int attnKernelPrepareLaunch(AttnKernel *kernel, int numArgs,
                            const char *const *dtypes, const int32_t *ranks,
                            const int64_t *shapes, const int64_t *strides,
                            AttnLaunchPlan **plan) {
  return guarded("attnKernelPrepareLaunch", [&] {
    if (!kernel || !plan)
      return invalid("attnKernelPrepareLaunch: null kernel or plan");
    const Manifest &m = kernel->kernel->manifest();
    // The signature has no pointers: zeros, once the count is the
    // manifest's (readTensorArgs reports any other count).
    std::vector<uint64_t> none;
    if (numArgs >= 0 && static_cast<size_t>(numArgs) <= m.arguments.size())
      none.assign(static_cast<size_t>(numArgs), 0);
    std::vector<TensorArg> signature;
    if (Status s = readTensorArgs(m, numArgs, none.data(), dtypes, ranks,
                                  shapes, signature, strides);
        !s)
      return report(s);
    auto made = std::make_unique<AttnLaunchPlan>();
    made->kernel = kernel;
    if (Status s = kernel->kernel->prepare(signature, made->plan); !s)
      return report(s);
    *plan = made.release();
    return report(Status::success());
  });
}

int attnLaunchPlanLaunch(const AttnLaunchPlan *plan, const uint64_t *devicePtrs,
                         uint64_t workspace, size_t workspaceSize, void *stream,
                         int synchronize) {
  return guarded("attnLaunchPlanLaunch", [&] {
    if (!plan)
      return invalid("attnLaunchPlanLaunch: null plan");
    if (plan->plan.numPointers && !devicePtrs)
      return invalid("attnLaunchPlanLaunch: null devicePtrs");
    LaunchOptions options;
    options.stream = stream;
    options.workspace = workspace;
    options.workspaceBytes = workspaceSize;
    options.synchronize = synchronize != 0;
    return report(plan->kernel->kernel->launch(plan->plan, devicePtrs, options));
  });
}

void attnLaunchPlanDestroy(AttnLaunchPlan *plan) { delete plan; }

// numArgs counts the caller's (non-workspace) arguments: the kernel's own
// workspace fills the rest.
int attnKernelLaunch(AttnKernel *kernel, int numArgs,
                     const uint64_t *devicePtrs, const char *const *dtypes,
                     const int32_t *ranks, const int64_t *shapes, void *stream,
                     int synchronize) {
  return attnKernelLaunchWithWorkspace(kernel, numArgs, devicePtrs, dtypes,
                                       ranks, shapes, 0, 0, stream,
                                       synchronize);
}
