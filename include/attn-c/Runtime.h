/*===- Runtime.h - C ABI of the attn-mlir kernel runtime ----------*- C -*-===*\
|*                                                                            *|
|* Part of attn-mlir. A C interface over attn::runtime for ctypes/FFI users   *|
|* (bench/, the attn_mlir Python package, serving hosts). Functions that can  *|
|* fail return an AttnStatusCode: 0 on success; on failure a nonzero code,    *|
|* and attnRuntimeLastError() / attnRuntimeLastErrorCode() describe the last  *|
|* failure on the calling thread. No C++ exception leaves any function.       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_RUNTIME_H
#define ATTN_C_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Why a call failed (the values of attn::runtime::ErrorCode; never
/// renumbered, only appended to).
typedef enum AttnStatusCode {
  ATTN_STATUS_OK = 0,
  /// A null pointer, a negative count or rank, an unknown flag.
  ATTN_STATUS_INVALID_ARGUMENT = 1,
  /// Launch arguments that do not match the manifest (count, dtype, shape,
  /// alignment, null tensor, missing or small workspace).
  ATTN_STATUS_ARGUMENT_MISMATCH = 2,
  /// The manifest is not valid JSON or breaks the schema.
  ATTN_STATUS_INVALID_MANIFEST = 3,
  /// The manifest's schema major version is not this runtime's.
  ATTN_STATUS_UNSUPPORTED_VERSION = 4,
  /// A file could not be read.
  ATTN_STATUS_IO = 5,
  /// No driver, no device, or a device ordinal out of range.
  ATTN_STATUS_NO_DEVICE = 6,
  /// A CUDA driver call failed (the message has the driver's error).
  ATTN_STATUS_CUDA = 7,
  /// A host or device allocation failed.
  ATTN_STATUS_OUT_OF_MEMORY = 8,
  /// The kernel needs more than the device offers (shared memory, threads).
  ATTN_STATUS_UNSUPPORTED = 9,
  /// An unexpected internal failure.
  ATTN_STATUS_INTERNAL = 10
} AttnStatusCode;

typedef struct AttnKernel AttnKernel;
typedef struct AttnContext AttnContext;

/// Message of the last failed call on this thread ("" if the last call
/// succeeded). Valid until the next call on this thread.
const char *attnRuntimeLastError(void);

/// Code of the last call on this thread (ATTN_STATUS_OK if it succeeded).
int attnRuntimeLastErrorCode(void);

/// The manifest schema version this runtime reads: it loads manifests of
/// major version *major and any minor version (newer minors only add keys).
void attnRuntimeManifestVersion(int *major, int *minor);

//===----------------------------------------------------------------------===//
// Contexts
//===----------------------------------------------------------------------===//

/// Retains the primary context of CUDA device `device` (the context the CUDA
/// runtime and PyTorch use for it); *out owns the reference.
/// ATTN_STATUS_NO_DEVICE for an ordinal outside [0, device count).
int attnContextCreate(int device, AttnContext **out);

/// Wraps the context current on the calling thread (e.g. PyTorch's after
/// torch.cuda.set_device); the caller keeps that context alive while *out
/// and every kernel loaded into it exist.
int attnContextCreateFromCurrent(AttnContext **out);

/// Releases `context` (null: no-op). Destroy its kernels first.
void attnContextDestroy(AttnContext *context);

/// The device ordinal of `context` in *device.
int attnContextGetDevice(const AttnContext *context, int *device);

//===----------------------------------------------------------------------===//
// Loading kernels
//===----------------------------------------------------------------------===//

/// Loads a PTX/cubin image and its JSON manifest from files into the current
/// context (device 0's primary context if none is current), and allocates
/// the kernel's zero-filled workspace; *out owns the kernel and its
/// workspace. Launches of such a kernel through attnKernelLaunch share that
/// workspace and must not overlap.
int attnKernelCreate(const char *imagePath, const char *manifestPath,
                     AttnKernel **out);

/// Flags of attnKernelCreateFromMemory / attnKernelCreateFromFiles.
enum {
  /// Do not allocate a kernel-owned workspace: every launch passes one
  /// (attnKernelLaunchWithWorkspace), so launches on several streams can run
  /// at once, each with its own workspace.
  ATTN_KERNEL_CALLER_WORKSPACE = 1
};

/// Loads a kernel from memory: `image` holds `imageSize` bytes of PTX text
/// (a trailing NUL is optional) or of a cubin, `manifest` holds
/// `manifestSize` bytes of manifest JSON. Both are copied. `context` null:
/// the current context (device 0's primary context if none is current).
/// `flags`: 0 or ATTN_KERNEL_CALLER_WORKSPACE.
int attnKernelCreateFromMemory(AttnContext *context, const void *image,
                               size_t imageSize, const char *manifest,
                               size_t manifestSize, int flags,
                               AttnKernel **out);

/// As attnKernelCreateFromMemory, reading the image and manifest from files.
int attnKernelCreateFromFiles(AttnContext *context, const char *imagePath,
                              const char *manifestPath, int flags,
                              AttnKernel **out);

/// Frees the kernel, its module and its own workspace (null: no-op). Wait
/// for its launches to finish first.
void attnKernelDestroy(AttnKernel *kernel);

/// The kernel's manifest, re-serialized in the current schema (JSON, NUL
/// terminated, owned by the kernel): a host reads "attention" from it to
/// check that the kernel computes what it asks for, and "arguments" for the
/// order, dtypes and shapes to pass.
const char *attnKernelGetManifest(const AttnKernel *kernel);

//===----------------------------------------------------------------------===//
// Workspaces
//===----------------------------------------------------------------------===//

/// Bytes of workspace one launch of `kernel` needs in *bytes (0: none). A
/// workspace is one buffer, 256-byte aligned, of at least this size.
int attnKernelGetWorkspaceSize(const AttnKernel *kernel, size_t *bytes);

/// Makes a caller's workspace ready for its first launch (zero-fills what
/// the kernel expects zeroed), asynchronously on `stream`. A completed
/// launch leaves the workspace ready for the next one, so this is needed
/// once per buffer (again after a launch that failed while running).
int attnKernelInitWorkspace(const AttnKernel *kernel, uint64_t workspace,
                            size_t workspaceSize, void *stream);

//===----------------------------------------------------------------------===//
// Launching
//===----------------------------------------------------------------------===//

/// Launches with `numArgs` tensors: devicePtrs[i], dtypes[i] ("bf16", "i32",
/// ...), ranks[i] (0 to 8) and the dims of all tensors concatenated in
/// `shapes`. These are the manifest's non-workspace arguments, in order;
/// the kernel's own workspace is passed at the workspace positions, so
/// launches of one kernel through this call must not overlap. `stream`:
/// a CUstream (null: the legacy default stream); `synchronize` nonzero:
/// wait for the kernel and report errors raised while it ran.
int attnKernelLaunch(AttnKernel *kernel, int numArgs,
                     const uint64_t *devicePtrs, const char *const *dtypes,
                     const int32_t *ranks, const int64_t *shapes, void *stream,
                     int synchronize);

/// As attnKernelLaunch with a caller-provided workspace of `workspaceSize`
/// bytes at `workspace` (see attnKernelGetWorkspaceSize and
/// attnKernelInitWorkspace); 0 uses the kernel's own. Launches with
/// distinct workspaces may run concurrently on different streams; the
/// kernel object itself is not modified by a launch.
int attnKernelLaunchWithWorkspace(AttnKernel *kernel, int numArgs,
                                  const uint64_t *devicePtrs,
                                  const char *const *dtypes,
                                  const int32_t *ranks, const int64_t *shapes,
                                  uint64_t workspace, size_t workspaceSize,
                                  void *stream, int synchronize);

/// As attnKernelLaunchWithWorkspace, with each tensor's element strides:
/// `strides` holds one per dim, concatenated as `shapes` is (null: every
/// tensor dense row-major). A tensor whose strides are not those the
/// manifest's argument lists ("strides", else dense) is refused with
/// ATTN_STATUS_ARGUMENT_MISMATCH: a kernel reads only the layout it was
/// compiled for (torch's x.transpose(1, 2) needs a kernel compiled for it).
int attnKernelLaunchStrided(AttnKernel *kernel, int numArgs,
                            const uint64_t *devicePtrs,
                            const char *const *dtypes, const int32_t *ranks,
                            const int64_t *shapes, const int64_t *strides,
                            uint64_t workspace, size_t workspaceSize,
                            void *stream, int synchronize);

/// A call signature checked once: a serving loop that launches one kernel
/// with the same dtypes, shapes and strides on new buffers (every decode
/// step) pays the argument checks, the runtime lengths and the grid once,
/// and each launch passes only pointers. A plan is valid while its kernel
/// lives; destroy it first.
typedef struct AttnLaunchPlan AttnLaunchPlan;

/// Checks a signature (dtypes, ranks, shapes and strides as
/// attnKernelLaunchStrided takes them) into a new plan at `*plan`; the
/// errors are those attnKernelLaunchStrided would give for it.
int attnKernelPrepareLaunch(AttnKernel *kernel, int numArgs,
                            const char *const *dtypes, const int32_t *ranks,
                            const int64_t *shapes, const int64_t *strides,
                            AttnLaunchPlan **plan);

/// Launches a plan on `devicePtrs` (one per argument of its signature, in
/// order; null or misaligned pointers are refused) with a workspace, stream
/// and synchronize as attnKernelLaunchWithWorkspace.
int attnLaunchPlanLaunch(const AttnLaunchPlan *plan, const uint64_t *devicePtrs,
                         uint64_t workspace, size_t workspaceSize, void *stream,
                         int synchronize);

/// Destroys a plan (null: no-op).
void attnLaunchPlanDestroy(AttnLaunchPlan *plan);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_C_RUNTIME_H */
