"""Kernel objects: what attn_mlir.compile returns."""

import json
import os

from . import _capi, _runtime

# Element kinds of the C API (MlirAttnElementKind) and manifest dtypes.
KIND_NAMES = {0: "f32", 1: "f16", 2: "bf16", 3: "i1", 4: "i32", 5: "f64"}
KIND_BYTES = {0: 4, 1: 2, 2: 2, 3: 1, 4: 4, 5: 8}


def _numpy_kind(array):
    """MlirAttnElementKind of a numpy array: bf16 travels as raw uint16 bits
    (numpy has no bfloat16) or as ml_dtypes.bfloat16 when that is used."""
    name = array.dtype.name
    return {"float32": 0, "float16": 1, "bfloat16": 2, "uint16": 2, "int16": 2,
            "bool": 3, "int32": 4, "float64": 5}.get(name)


def _numpy_dtype(kind):
    import numpy as np
    return {0: np.float32, 1: np.float16, 2: np.uint16, 3: np.bool_,
            4: np.int32, 5: np.float64}[kind]


class CpuKernel:
    """A JIT-compiled entry (target "cpu"). Call it with numpy arrays: every
    buffer of the entry in order (destination passing: outputs are written
    in place), or only the inputs, in which case the outputs are allocated
    and returned (one array, or a tuple). bf16 buffers are uint16 arrays of
    raw bfloat16 bits (see bf16_to_float32 / float32_to_bf16)."""

    target = "cpu"

    def __init__(self, compiler, executable, entry, num_outputs, key, description):
        self._compiler = compiler
        self._exe = executable
        self.entry = entry
        self.key = key
        self.description = description
        self.signature = [(KIND_NAMES[k], shape)
                          for k, shape in compiler.signature(executable)]
        self._kinds = [k for k, _ in compiler.signature(executable)]
        self.num_outputs = num_outputs

    def __call__(self, *arrays):
        import numpy as np
        n = len(self.signature)
        outputs = []
        if self.num_outputs is not None and len(arrays) == n - self.num_outputs:
            for kind, (_, shape) in zip(self._kinds[len(arrays):], self.signature[len(arrays):]):
                outputs.append(np.empty(shape, dtype=_numpy_dtype(kind)))
            arrays = tuple(arrays) + tuple(outputs)
        elif len(arrays) != n:
            expected = f"{n}" if self.num_outputs is None else \
                f"{n - self.num_outputs} (inputs) or {n} (inputs and outputs)"
            raise TypeError(f"attn_mlir: @{self.entry} takes {expected} arrays, "
                            f"got {len(arrays)}")
        buffers, keep = [], []
        for i, a in enumerate(arrays):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"attn_mlir: argument #{i} must be a numpy array")
            if not a.flags["C_CONTIGUOUS"]:
                raise ValueError(f"attn_mlir: argument #{i} must be C-contiguous "
                                 "(np.ascontiguousarray)")
            kind = _numpy_kind(a)
            if kind is None:
                raise TypeError(f"attn_mlir: argument #{i} has dtype {a.dtype}, "
                                "expected float32, float16, uint16 (bf16 bits), "
                                "float64, bool or int32")
            shape = (_capi.ctypes.c_int64 * max(1, a.ndim))(*a.shape)
            keep.append(shape)
            buffers.append(_capi.HostBuffer(kind, a.ndim, shape, a.ctypes.data, a.nbytes))
        with self._compiler.lock:
            self._compiler.take_diagnostics()
            self._compiler.invoke(self._exe, buffers)
        if outputs:
            return outputs[0] if len(outputs) == 1 else tuple(outputs)
        return None

    def __del__(self):
        if getattr(self, "_exe", None) is not None and self._exe.ptr:
            self._compiler.destroy_executable(self._exe)
            self._exe = None


_TORCH_DTYPES = None


def _torch_dtype(name):
    global _TORCH_DTYPES
    import torch
    if _TORCH_DTYPES is None:
        _TORCH_DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16,
                         "f32": torch.float32, "i32": torch.int32, "i1": torch.bool}
    return _TORCH_DTYPES[name]


def _torch_dtype_name(dtype):
    import torch
    return {torch.bfloat16: "bf16", torch.float16: "f16", torch.float32: "f32",
            torch.int32: "i32", torch.bool: "i1"}.get(dtype)


class PtxKernel:
    """A GPU kernel (target "ptx"): `ptx`, `manifest` (the parsed JSON),
    `cost` (the manifest's cost-model figures: FLOPs, bytes, intensity and
    the roofline bound on the chip's GPU, docs/CostModel.md; None where the
    manifest has none), `cubins` ({arch: bytes}) and `path`, the cache
    directory holding them.
    Calling it launches it through the runtime on torch CUDA tensors: all
    non-workspace arguments of the manifest in order, or only the inputs
    (roles input and inout), in which case the outputs are allocated on the
    inputs' device and returned. Each tensor must have the strides its
    manifest argument lists ("strides", else dense): a kernel compiled for
    BSHD-strided Q (torch's x.transpose(1, 2)) takes that view as it is,
    and the runtime refuses any other layout."""

    target = "ptx"

    def __init__(self, ptx, manifest_json, cubins, path, key, description):
        self.ptx = ptx
        # A program of several kernels (the backward) has one manifest per
        # launch; they take the same arguments and share one workspace.
        texts = manifest_json if isinstance(manifest_json, list) else [manifest_json]
        self.launches = [json.loads(t) for t in texts]
        self.manifest = self.launches[0]
        self.cost = self.manifest.get("cost")
        self.cubins = cubins
        self.path = path
        self.key = key
        self.description = description
        # Workspaces, runtime lengths (dynamic dims) and tensor maps (TMA
        # descriptors built at launch) are the runtime's.
        self.arguments = [a for a in self.manifest["arguments"]
                          if a.get("role") not in ("workspace", "length", "tensor_map")]
        self.inputs = [a for a in self.arguments if a.get("role") in ("input", "inout")]
        self.outputs = [a for a in self.arguments if a.get("role") == "output"]
        self.has_workspace = any(a.get("role") == "workspace"
                                 for launch in self.launches for a in launch["arguments"])
        self._runtime = {}
        self._signatures = {}

    def image_path(self, arch=None):
        """The cubin for `arch` ("sm_90") if there is one, else the PTX (the
        driver JIT-compiles it)."""
        if arch and arch in self.cubins:
            return os.path.join(self.path, f"{arch}.cubin")
        return os.path.join(self.path, "kernel.ptx")

    def _loaded(self, device_index):
        """The runtime kernels of every launch, in order."""
        kernels = self._runtime.get(device_index)
        if kernels is None:
            import torch
            major, minor = torch.cuda.get_device_capability(device_index)
            # An arch-specific cubin (sm_90a) first: it is what the
            # sm_90a kernels are assembled as.
            arch = f"sm_{major}{minor}"
            image = self.image_path(arch + "a" if arch + "a" in self.cubins else arch)
            kernels = [_runtime.RuntimeKernel(
                image, os.path.join(self.path, "manifest.json" if i == 0
                                    else f"manifest.{i}.json"))
                for i in range(len(self.launches))]
            self._runtime[device_index] = kernels
        return kernels

    def _output_shape(self, output, inputs):
        """`output`'s shape, a dynamic dim (-1) taking the length its
        symbol has in the inputs (the runtime checks that they agree)."""
        lengths = {}
        for t, a in zip(inputs, self.inputs):
            for axis, symbol in enumerate(a.get("dim_symbols", [])):
                if symbol and axis < len(t.shape):
                    lengths.setdefault(symbol, int(t.shape[axis]))
        symbols = output.get("dim_symbols", [""] * len(output["shape"]))
        return [lengths.get(s, 1) if n < 0 else n
                for n, s in zip(output["shape"], symbols)]

    def _signature(self, tensors):
        """What one call signature (the tensors' shapes, strides and dtypes)
        fixes, computed once: the outputs to allocate (shape, strides,
        dtype) when only the inputs are passed, and the runtime Layout of
        every argument."""
        key = tuple((t.shape, t.stride(), t.dtype) for t in tensors)
        found = self._signatures.get(key)
        if found is not None:
            return found
        given = len(tensors)
        if given == len(self.inputs) and self.outputs:
            outputs = []
            for a in self.outputs:
                shape = self._output_shape(a, tensors)
                strides = a.get("strides") or _runtime.dense_strides(shape)
                outputs.append((tuple(shape), tuple(strides), _torch_dtype(a["dtype"])))
            given += len(outputs)
        else:
            outputs = []
        if given != len(self.arguments):
            raise TypeError(f"attn_mlir: the kernel takes {len(self.inputs)} inputs or "
                            f"{len(self.arguments)} arguments, got {len(tensors)}")
        described = [(t.shape, t.stride(), t.dtype) for t in tensors] + outputs
        # The runtime checks the strides against the manifest's. A model has
        # a handful of signatures: the first 64 are kept (with a launch plan
        # each), any further ones are described per call.
        keep = len(self._signatures) < 64
        layout = _runtime.Layout([
            (0, _torch_dtype_name(dtype) or str(dtype), list(shape), list(strides))
            for shape, strides, dtype in described], reusable=keep)
        found = (outputs, layout)
        if keep:
            self._signatures[key] = found
        return found

    def __call__(self, *tensors, stream=None, synchronize=False):
        import torch
        outputs, layout = self._signature(tensors)
        device = tensors[0].device
        for i, t in enumerate(tensors):
            if not t.is_cuda:
                raise ValueError(f"attn_mlir: argument #{i} ({self.arguments[i]['name']}) "
                                 "must be a CUDA tensor")
        allocated = [torch.empty_strided(shape, strides, dtype=dtype, device=device)
                     for shape, strides, dtype in outputs]
        pointers = [t.data_ptr() for t in tensors] + [t.data_ptr() for t in allocated]
        index = device.index or 0
        if stream is None:
            stream = _current_stream(torch, index)
        kernels = self._loaded(index)
        # Inside a CUDA graph capture the runtime may not allocate or
        # zero-fill a workspace of its own (a synchronous memset invalidates
        # the capture): torch's allocator gives one from the graph's pool
        # and its zero-fill is a captured node, rerun by every replay.
        if len(kernels) == 1 and not (self.has_workspace and _capturing(torch)):
            kernels[0].launch_pointers(layout, pointers, stream, synchronize)
        else:
            # One workspace for the whole program, in stream order: its
            # zero_init slices zeroed on the stream (a captured memset under
            # a graph capture), the scratch left as allocated.
            size = kernels[0].workspace_bytes()
            workspace = torch.empty(max(size, 1), dtype=torch.uint8, device=device)
            if size:
                kernels[0].init_workspace(workspace.data_ptr(), size, stream)
            for i, kernel in enumerate(kernels):
                kernel.launch_pointers(layout, pointers, stream,
                                       synchronize and i == len(kernels) - 1,
                                       workspace=(workspace.data_ptr(), size))
        if allocated:
            return allocated[0] if len(allocated) == 1 else tuple(allocated)
        return None


def _capturing(torch):
    """Whether the current CUDA stream is capturing a graph."""
    return torch.cuda.is_current_stream_capturing()


def _current_stream(torch, index):
    """The raw CUDA stream of device `index`, without building a Stream
    object where torch exposes it (as its own generated code reads it)."""
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if raw is not None:
        return raw(index)
    return torch.cuda.current_stream(index).cuda_stream
