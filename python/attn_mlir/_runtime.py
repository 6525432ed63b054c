"""The kernel runtime's C ABI (include/attn-c/Runtime.h), through ctypes.

The only module of the package that knows that ABI, so a change of the
runtime (memory images, explicit devices, caller workspaces, error codes)
is adapted here alone. Today's ABI loads a kernel from an image file and a
manifest file and owns the kernel's workspaces, so launches of one loaded
kernel must not overlap: RuntimeKernel keeps one loaded copy per stream.
"""

import ctypes
import os
import threading

from ._libs import find_library


class RuntimeError_(RuntimeError):
    """The runtime refused a load or a launch (its message says why)."""


_lib = None
_lib_lock = threading.Lock()


def _library():
    global _lib
    with _lib_lock:
        if _lib is None:
            path = os.environ.get("ATTN_MLIR_RUNTIME_LIB") or find_library("AttnRuntimeC")
            lib = ctypes.CDLL(path)
            lib.attnRuntimeLastError.restype = ctypes.c_char_p
            lib.attnKernelCreate.argtypes = [
                ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
            lib.attnKernelCreate.restype = ctypes.c_int
            lib.attnKernelCreateFromFiles.argtypes = [
                ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                ctypes.POINTER(ctypes.c_void_p)]
            lib.attnKernelCreateFromFiles.restype = ctypes.c_int
            lib.attnKernelDestroy.argtypes = [ctypes.c_void_p]
            lib.attnKernelDestroy.restype = None
            lib.attnKernelLaunch.argtypes = [
                ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint64),
                ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int32),
                ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p, ctypes.c_int]
            lib.attnKernelLaunch.restype = ctypes.c_int
            lib.attnKernelLaunchWithWorkspace.argtypes = [
                ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint64),
                ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int32),
                ctypes.POINTER(ctypes.c_int64), ctypes.c_uint64, ctypes.c_size_t,
                ctypes.c_void_p, ctypes.c_int]
            lib.attnKernelLaunchWithWorkspace.restype = ctypes.c_int
            lib.attnKernelLaunchStrided.argtypes = [
                ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint64),
                ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int32),
                ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64),
                ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int]
            lib.attnKernelLaunchStrided.restype = ctypes.c_int
            if hasattr(lib, "attnKernelPrepareLaunch"):
                lib.attnKernelPrepareLaunch.argtypes = [
                    ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p),
                    ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int64),
                    ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p)]
                lib.attnKernelPrepareLaunch.restype = ctypes.c_int
                lib.attnLaunchPlanLaunch.argtypes = [
                    ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_uint64,
                    ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int]
                lib.attnLaunchPlanLaunch.restype = ctypes.c_int
                lib.attnLaunchPlanDestroy.argtypes = [ctypes.c_void_p]
                lib.attnLaunchPlanDestroy.restype = None
            lib.attnKernelGetWorkspaceSize.argtypes = [
                ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
            lib.attnKernelGetWorkspaceSize.restype = ctypes.c_int
            lib.attnKernelInitWorkspace.argtypes = [
                ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p]
            lib.attnKernelInitWorkspace.restype = ctypes.c_int
            _lib = lib
        return _lib


# attn-c/Runtime.h: load without a kernel-owned workspace.
ATTN_KERNEL_CALLER_WORKSPACE = 1


def _error(what):
    message = _library().attnRuntimeLastError().decode(errors="replace")
    return RuntimeError_(f"attn_mlir runtime: {what}: {message}")


def dense_strides(shape):
    """Row-major element strides of `shape`."""
    strides, step = [], 1
    for extent in reversed(list(shape)):
        strides.append(step)
        step *= max(int(extent), 1)
    return list(reversed(strides))


class Layout:
    """The ctypes arrays of one call signature: every argument's dtype,
    shape and strides, (pointer, dtype, shape[, strides]) tuples without
    their pointers. Built once per signature by callers that launch often:
    a `reusable` layout (one the caller keeps) gets a launch plan in the
    runtime, checked once and kept while the kernel lives; a throwaway one
    is checked per launch, so that no plan outlives its use."""

    def __init__(self, arguments, reusable=False):
        n = len(arguments)
        self.count = n
        self.reusable = reusable
        self.pointer_array = ctypes.c_uint64 * max(1, n)
        self.dtypes = (ctypes.c_char_p * max(1, n))(*[a[1].encode() for a in arguments])
        self.ranks = (ctypes.c_int32 * max(1, n))(*[len(a[2]) for a in arguments])
        dims = [d for a in arguments for d in a[2]]
        self.shapes = (ctypes.c_int64 * max(1, len(dims)))(*dims)
        self.strides = None
        if any(len(a) > 3 for a in arguments):
            steps = [s for a in arguments
                     for s in (a[3] if len(a) > 3 else dense_strides(a[2]))]
            self.strides = (ctypes.c_int64 * max(1, len(steps)))(*steps)


class RuntimeKernel:
    """One generated kernel (image + manifest files), loaded lazily per
    stream. `arguments` are (pointer, dtype string, shape[, strides])
    tuples: the manifest's non-workspace arguments, in order; the runtime
    refuses a tensor whose strides (dense without them) are not those the
    kernel was compiled for."""

    def __init__(self, image_path, manifest_path):
        self.image_path = image_path
        self.manifest_path = manifest_path
        self._loaded = {}
        # The handle for launches that pass their own workspace: it owns
        # none, so loading it allocates nothing (legal inside a CUDA graph
        # capture) and one serves every stream.
        self._caller_workspace = None
        # Launch plans by (Layout, loaded kernel): destroyed before it.
        self._plans = {}
        self._lock = threading.Lock()

    def _handle(self, stream):
        handle = self._loaded.get(stream)  # the per-launch path: no lock
        if handle is not None:
            return handle
        with self._lock:
            handle = self._loaded.get(stream)
            if handle is None:
                handle = ctypes.c_void_p()
                if _library().attnKernelCreate(self.image_path.encode(),
                                               self.manifest_path.encode(),
                                               ctypes.byref(handle)):
                    raise _error(f"loading {self.image_path}")
                self._loaded[stream] = handle
            return handle

    def _caller_workspace_handle(self):
        handle = self._caller_workspace
        if handle is not None:
            return handle
        with self._lock:
            if self._caller_workspace is None:
                handle = ctypes.c_void_p()
                if _library().attnKernelCreateFromFiles(
                        None, self.image_path.encode(), self.manifest_path.encode(),
                        ATTN_KERNEL_CALLER_WORKSPACE, ctypes.byref(handle)):
                    raise _error(f"loading {self.image_path}")
                self._caller_workspace = handle
            return self._caller_workspace

    def workspace_bytes(self):
        """Bytes of the workspace the manifest's workspace arguments take
        (what a caller-owned workspace must hold)."""
        size = ctypes.c_size_t()
        if _library().attnKernelGetWorkspaceSize(self._caller_workspace_handle(),
                                                 ctypes.byref(size)):
            raise _error("workspace size")
        return size.value

    def init_workspace(self, pointer, size, stream=0):
        """Zero-fills, asynchronously on `stream`, the slices of the
        caller's workspace (pointer, size) that the manifest marks zero_init
        (counters, accumulators), not its scratch (e.g. f32-compute's
        rounded copies, which the program writes first)."""
        if _library().attnKernelInitWorkspace(self._caller_workspace_handle(), pointer,
                                              size, stream or None):
            raise _error("workspace init")

    def launch(self, arguments, stream=0, synchronize=False, workspace=None):
        """`workspace`: (device pointer, bytes) the caller owns (kernels of
        one program share it), or None for the kernel's own."""
        self.launch_pointers(Layout(arguments), [a[0] for a in arguments], stream,
                             synchronize, workspace)

    def launch_pointers(self, layout, pointers, stream=0, synchronize=False,
                        workspace=None):
        """launch() with the argument descriptions already in ctypes form
        (`layout`, reused by every call of one signature); a reusable
        layout is checked once by the runtime into a launch plan, so only
        the device pointers are new, which is what a per-token decode call
        can afford."""
        lib = _lib or _library()
        # A stream's own handle keeps its own workspace private to that
        # stream; a launch with the caller's workspace needs none.
        handle = self._handle(stream) if workspace is None else self._caller_workspace_handle()
        ptrs = layout.pointer_array(*pointers)
        pointer, size = workspace or (0, 0)
        # Plans for the layouts a caller keeps (and runtimes that have them).
        if not layout.reusable or not hasattr(lib, "attnKernelPrepareLaunch"):
            if lib.attnKernelLaunchStrided(
                    handle, layout.count, ptrs, layout.dtypes, layout.ranks,
                    layout.shapes, layout.strides, pointer, size, stream or None,
                    1 if synchronize else 0):
                raise _error("launch")
            return
        plan = self._plans.get((layout, handle.value))
        if plan is None:
            plan = ctypes.c_void_p()
            if lib.attnKernelPrepareLaunch(handle, layout.count, layout.dtypes,
                                           layout.ranks, layout.shapes, layout.strides,
                                           ctypes.byref(plan)):
                raise _error("launch")
            with self._lock:
                self._plans[(layout, handle.value)] = plan
        if lib.attnLaunchPlanLaunch(plan, ptrs, pointer, size, stream or None,
                                    1 if synchronize else 0):
            raise _error("launch")

    def __del__(self):
        lib = _lib
        if lib is None:
            return
        for plan in self._plans.values():
            lib.attnLaunchPlanDestroy(plan)
        self._plans.clear()
        for handle in self._loaded.values():
            lib.attnKernelDestroy(handle)
        self._loaded.clear()
        if self._caller_workspace is not None:
            lib.attnKernelDestroy(self._caller_workspace)
            self._caller_workspace = None
