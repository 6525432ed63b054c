/*===- Runtime.h - C ABI of the attn-mlir kernel runtime ----------*- C -*-===*\
|*                                                                            *|
|* Part of attn-mlir. A C interface over attn::runtime for ctypes/FFI users   *|
|* (the device benchmark harness). Functions return 0 on success; on failure  *|
|* they return nonzero and attnRuntimeLastError() says why.                    *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_RUNTIME_H
#define ATTN_C_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct AttnKernel AttnKernel;

/// Message of the last failed call on this thread ("" if none).
const char *attnRuntimeLastError(void);

/// Loads a PTX/cubin image and its JSON manifest, and allocates the kernel's
/// zero-filled workspaces; *out owns the kernel and its workspaces.
int attnKernelCreate(const char *imagePath, const char *manifestPath,
                     AttnKernel **out);
void attnKernelDestroy(AttnKernel *kernel);

/// Launches with `numArgs` tensors: devicePtrs[i], dtypes[i] ("bf16", "i32",
/// ...), ranks[i] and the dims of all tensors concatenated in `shapes`. These
/// are the manifest's non-workspace arguments, in order; the kernel's own
/// workspaces are passed at their positions. Launches of one kernel must not
/// overlap (they share the workspaces): one stream per kernel.
int attnKernelLaunch(AttnKernel *kernel, int numArgs,
                     const uint64_t *devicePtrs, const char *const *dtypes,
                     const int32_t *ranks, const int64_t *shapes, void *stream,
                     int synchronize);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_C_RUNTIME_H */
