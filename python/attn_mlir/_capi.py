"""ctypes bindings of libAttnMLIRCAPI.so: the mlir-c IR API and attn-c.

Only the functions the package calls are declared. Every compile runs on one
process-wide MLIRContext set up by mlirAttnRegisterRequiredDialects; its
diagnostic handler turns MLIR diagnostics into Diagnostic records, which a
failed call raises as CompileError (each with its location), never as one
flattened string.
"""

import ctypes
import os
import threading

from ._libs import find_library


class Diagnostic:
    """One MLIR diagnostic: severity ("error", "warning", "note", "remark"),
    location (as MLIR prints it) and message."""

    def __init__(self, severity, location, message):
        self.severity = severity
        self.location = location
        self.message = message

    def __str__(self):
        return f"{self.location}: {self.severity}: {self.message}"

    __repr__ = __str__


class CompileError(RuntimeError):
    """A compile (or CPU invocation) failed; .diagnostics holds what MLIR
    reported, in order."""

    def __init__(self, what, diagnostics):
        self.diagnostics = list(diagnostics)
        lines = [what] + [f"  {d}" for d in self.diagnostics]
        super().__init__("\n".join(lines))


class _StringRef(ctypes.Structure):
    # A raw pointer, not c_char_p: ctypes converts a c_char_p field to bytes
    # cut at the first NUL, which corrupts binary data such as cubins.
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_size_t)]

    @staticmethod
    def of(text):
        data = text.encode() if isinstance(text, str) else bytes(text)
        buffer = ctypes.create_string_buffer(data, len(data))
        ref = _StringRef(ctypes.cast(buffer, ctypes.c_void_p), len(data))
        ref._buffer = buffer  # the C side borrows it: keep it alive
        return ref

    def bytes(self):
        return ctypes.string_at(self.data, self.length) if self.length else b""


def _handle(name):
    return type(name, (ctypes.Structure,), {"_fields_": [("ptr", ctypes.c_void_p)]})


Context = _handle("MlirContext")
Module = _handle("MlirModule")
Operation = _handle("MlirOperation")
Location = _handle("MlirLocation")
Registry = _handle("MlirDialectRegistry")
Diag = _handle("MlirDiagnostic")
Block = _handle("MlirBlock")
Identifier = _handle("MlirIdentifier")
Attribute = _handle("MlirAttribute")
Type = _handle("MlirType")
PtxArtifacts = _handle("MlirAttnPtxArtifacts")
CpuExecutable = _handle("MlirAttnCpuExecutable")


class LogicalResult(ctypes.Structure):
    _fields_ = [("value", ctypes.c_int8)]


class Spec(ctypes.Structure):
    """MlirAttnSpec (include/attn-c/Pipelines.h), field for field."""

    _fields_ = [
        ("batch", ctypes.c_int64), ("numQueryHeads", ctypes.c_int64),
        ("numKVHeads", ctypes.c_int64), ("queryLength", ctypes.c_int64),
        ("keyLength", ctypes.c_int64), ("headDim", ctypes.c_int64),
        ("valueHeadDim", ctypes.c_int64), ("elementType", ctypes.c_int),
        ("layout", ctypes.c_int), ("maskKind", ctypes.c_int),
        ("windowLeft", ctypes.c_int64), ("windowRight", ctypes.c_int64),
        ("hasScale", ctypes.c_bool), ("scale", ctypes.c_double),
        ("hasSoftcap", ctypes.c_bool), ("softcap", ctypes.c_double),
        ("alibiSlopes", ctypes.POINTER(ctypes.c_double)),
        ("numAlibiSlopes", ctypes.c_ssize_t),
        ("withBias", ctypes.c_bool), ("withBoolMask", ctypes.c_bool),
        ("withLse", ctypes.c_bool), ("scoreMod", ctypes.c_int),
        ("maskMod", ctypes.c_int), ("pageSize", ctypes.c_int64),
        ("keyLengths", ctypes.POINTER(ctypes.c_int64)),
        ("numKeyLengths", ctypes.c_ssize_t), ("appendTokens", ctypes.c_int64),
        ("backward", ctypes.c_bool),
        ("dynamicBatch", ctypes.c_bool), ("dynamicQueryLength", ctypes.c_bool),
        ("dynamicKeyLength", ctypes.c_bool),
        ("cuSeqlensQ", ctypes.POINTER(ctypes.c_int64)),
        ("cuSeqlensK", ctypes.POINTER(ctypes.c_int64)),
        ("numCuSeqlens", ctypes.c_ssize_t),
        ("numPages", ctypes.c_int64),

        ("withBiasGradient", ctypes.c_bool),
        ("sharedKV", ctypes.c_bool),

        ("withLseGradient", ctypes.c_bool),
    ]


def _fill_options(opts, options):
    """Sets the fields of an options struct from {C field name: value}
    (strings as MlirStringRef, cubinArchs as an array of them); returns what
    the struct points into, to be kept alive until the call returns."""
    keep = []
    for field, value in options.items():
        if field == "cubinArchs":
            refs = [_StringRef.of(a) for a in value]
            keep.append(refs)
            opts.cubinArchs = (_StringRef * max(1, len(refs)))(*refs)
            opts.numCubinArchs = len(refs)
        elif isinstance(value, str):
            ref = _StringRef.of(value)
            keep.append(ref)
            setattr(opts, field, ref)
        else:
            setattr(opts, field, value)
    return keep


class PtxOptions(ctypes.Structure):
    _fields_ = [
        ("chip", _StringRef), ("features", _StringRef),
        ("blockM", ctypes.c_int64), ("blockN", ctypes.c_int64),
        ("numWarps", ctypes.c_int64), ("kernel", _StringRef),
        ("numSplits", ctypes.c_int64), ("numSMs", ctypes.c_int64),
        ("decodeNumWarps", ctypes.c_int64),
        ("decodeKeysPerWarp", ctypes.c_int64),
        ("decodeStages", ctypes.c_int64),
        ("cubinArchs", ctypes.POINTER(_StringRef)),
        ("numCubinArchs", ctypes.c_ssize_t), ("ptxas", _StringRef),
        ("backwardDQ", ctypes.c_int), ("dqReduction", _StringRef),
        ("backwardBlockM", ctypes.c_int64), ("backwardBlockN", ctypes.c_int64),
        ("dqBlockM", ctypes.c_int64), ("gpu", _StringRef),
        ("f32Compute", _StringRef),
    ]


class CpuOptions(ctypes.Structure):
    _fields_ = [
        ("entry", _StringRef), ("flash", ctypes.c_bool),
        ("tileM", ctypes.c_int64), ("tileN", ctypes.c_int64),
        ("numSplits", ctypes.c_int64), ("accumulateInF64", ctypes.c_bool),
    ]


class HostBuffer(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int), ("rank", ctypes.c_ssize_t),
        ("shape", ctypes.POINTER(ctypes.c_int64)), ("data", ctypes.c_void_p),
        ("byteSize", ctypes.c_size_t),
    ]


_STRING_CALLBACK = ctypes.CFUNCTYPE(None, _StringRef, ctypes.c_void_p)
# ctypes callbacks cannot return structures; MlirLogicalResult is a struct of
# one int8, returned in the same register as an int8 by the C ABIs we run on.
_DIAG_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int8, Diag, ctypes.c_void_p)
_SEVERITIES = {0: "error", 1: "warning", 2: "note", 3: "remark"}

_SIGNATURES = {
    "mlirDialectRegistryCreate": ([], Registry),
    "mlirDialectRegistryDestroy": ([Registry], None),
    "mlirAttnRegisterRequiredDialects": ([Registry], None),
    "mlirAttnRegisterPasses": ([], None),
    "mlirAttnGetVersion": ([], _StringRef),
    "mlirContextCreateWithRegistry": ([Registry, ctypes.c_bool], Context),
    "mlirContextAttachDiagnosticHandler": (
        [Context, _DIAG_HANDLER, ctypes.c_void_p, ctypes.c_void_p], ctypes.c_uint64),
    "mlirDiagnosticGetSeverity": ([Diag], ctypes.c_int),
    "mlirDiagnosticGetLocation": ([Diag], Location),
    "mlirDiagnosticPrint": ([Diag, _STRING_CALLBACK, ctypes.c_void_p], None),
    "mlirDiagnosticGetNumNotes": ([Diag], ctypes.c_ssize_t),
    "mlirDiagnosticGetNote": ([Diag, ctypes.c_ssize_t], Diag),
    "mlirLocationPrint": ([Location, _STRING_CALLBACK, ctypes.c_void_p], None),
    "mlirModuleCreateParse": ([Context, _StringRef], Module),
    "mlirModuleDestroy": ([Module], None),
    "mlirModuleGetOperation": ([Module], Operation),
    "mlirOperationPrint": ([Operation, _STRING_CALLBACK, ctypes.c_void_p], None),
    "mlirModuleGetBody": ([Module], Block),
    "mlirBlockGetFirstOperation": ([Block], Operation),
    "mlirOperationGetNextInBlock": ([Operation], Operation),
    "mlirOperationGetName": ([Operation], Identifier),
    "mlirIdentifierStr": ([Identifier], _StringRef),
    "mlirOperationGetAttributeByName": ([Operation, _StringRef], Attribute),
    "mlirStringAttrGetValue": ([Attribute], _StringRef),
    "mlirTypeAttrGetValue": ([Attribute], Type),
    "mlirFunctionTypeGetNumResults": ([Type], ctypes.c_ssize_t),
    "mlirAttnSpecInit": ([ctypes.POINTER(Spec)], None),
    "mlirAttnSpecBuildModule": ([Context, ctypes.POINTER(Spec)], Module),
    "mlirAttnPrepareModule": (
        [Module, _StringRef, _STRING_CALLBACK, ctypes.c_void_p], LogicalResult),
    "mlirAttnPtxOptionsInit": ([ctypes.POINTER(PtxOptions)], None),
    "mlirAttnCompileModuleToPtx": ([Module, ctypes.POINTER(PtxOptions)], PtxArtifacts),
    "mlirAttnPtxArtifactsGetPtx": ([PtxArtifacts], _StringRef),
    "mlirAttnPtxArtifactsGetManifest": ([PtxArtifacts], _StringRef),
    "mlirAttnPtxArtifactsGetKernelName": ([PtxArtifacts], _StringRef),
    "mlirAttnPtxArtifactsGetNumLaunches": ([PtxArtifacts], ctypes.c_ssize_t),
    "mlirAttnPtxArtifactsGetLaunchManifest": ([PtxArtifacts, ctypes.c_ssize_t], _StringRef),
    "mlirAttnPtxArtifactsGetNumCubins": ([PtxArtifacts], ctypes.c_ssize_t),
    "mlirAttnPtxArtifactsGetCubinArch": ([PtxArtifacts, ctypes.c_ssize_t], _StringRef),
    "mlirAttnPtxArtifactsGetCubin": ([PtxArtifacts, ctypes.c_ssize_t], _StringRef),
    "mlirAttnPtxArtifactsDestroy": ([PtxArtifacts], None),
    "mlirAttnCpuOptionsInit": ([ctypes.POINTER(CpuOptions)], None),
    "mlirAttnCompileModuleToCpu": ([Module, ctypes.POINTER(CpuOptions)], CpuExecutable),
    "mlirAttnCpuExecutableGetNumArguments": ([CpuExecutable], ctypes.c_ssize_t),
    "mlirAttnCpuExecutableGetArgumentKind": ([CpuExecutable, ctypes.c_ssize_t], ctypes.c_int),
    "mlirAttnCpuExecutableGetArgumentRank": ([CpuExecutable, ctypes.c_ssize_t], ctypes.c_ssize_t),
    "mlirAttnCpuExecutableGetArgumentDim": (
        [CpuExecutable, ctypes.c_ssize_t, ctypes.c_ssize_t], ctypes.c_int64),
    "mlirAttnCpuExecutableInvoke": (
        [CpuExecutable, ctypes.c_ssize_t, ctypes.POINTER(HostBuffer)], LogicalResult),
    "mlirAttnCpuExecutableDestroy": ([CpuExecutable], None),
}


def _collect(chunks):
    def append(ref, _):
        chunks.append(ref.bytes())
    return _STRING_CALLBACK(append)


class Compiler:
    """The C API library and the one context compiles run in. Calls are
    serialized: the diagnostics of a call belong to that call."""

    def __init__(self, path=None):
        self.lib = ctypes.CDLL(path or find_library("AttnMLIRCAPI"))
        for name, (args, result) in _SIGNATURES.items():
            fn = getattr(self.lib, name)
            fn.argtypes = args
            fn.restype = result
        self.lock = threading.RLock()
        self.diagnostics = []
        registry = self.lib.mlirDialectRegistryCreate()
        self.lib.mlirAttnRegisterRequiredDialects(registry)
        self.ctx = self.lib.mlirContextCreateWithRegistry(registry, False)
        self.lib.mlirDialectRegistryDestroy(registry)
        self.lib.mlirAttnRegisterPasses()
        # Kept alive as long as the context: C holds the pointer.
        self._handler = _DIAG_HANDLER(self._on_diagnostic)
        self.lib.mlirContextAttachDiagnosticHandler(self.ctx, self._handler, None, None)
        self.version = self.lib.mlirAttnGetVersion().bytes().decode()

    def _on_diagnostic(self, diag, _):
        self._record(diag)
        return 1

    def _record(self, diag):
        severity = _SEVERITIES.get(self.lib.mlirDiagnosticGetSeverity(diag), "error")
        loc, msg = [], []
        keep = [_collect(loc), _collect(msg)]
        self.lib.mlirLocationPrint(self.lib.mlirDiagnosticGetLocation(diag), keep[0], None)
        self.lib.mlirDiagnosticPrint(diag, keep[1], None)
        self.diagnostics.append(
            Diagnostic(severity, b"".join(loc).decode(), b"".join(msg).decode()))
        for i in range(self.lib.mlirDiagnosticGetNumNotes(diag)):
            self._record(self.lib.mlirDiagnosticGetNote(diag, i))

    def take_diagnostics(self):
        taken, self.diagnostics = self.diagnostics, []
        return taken

    def fail(self, what):
        raise CompileError(what, self.take_diagnostics())

    # -- modules -----------------------------------------------------------
    def parse(self, text):
        module = self.lib.mlirModuleCreateParse(self.ctx, _StringRef.of(text))
        if not module.ptr:
            self.fail("attn_mlir: the MLIR text does not parse")
        return module

    def build_spec(self, spec):
        module = self.lib.mlirAttnSpecBuildModule(self.ctx, ctypes.byref(spec))
        if not module.ptr:
            self.fail("attn_mlir: the spec describes no valid attention")
        return module

    def prepare(self, module, entry):
        chunks = []
        callback = _collect(chunks)
        if not self.lib.mlirAttnPrepareModule(
                module, _StringRef.of(entry), callback, None).value:
            self.fail("attn_mlir: the module cannot be prepared for compilation")
        return b"".join(chunks).decode()

    def functions(self, module):
        """{name: number of results} of the module's func.func ops."""
        result = {}
        op = self.lib.mlirBlockGetFirstOperation(self.lib.mlirModuleGetBody(module))
        while op.ptr:
            name = self.lib.mlirIdentifierStr(self.lib.mlirOperationGetName(op)).bytes()
            if name == b"func.func":
                sym = self.lib.mlirOperationGetAttributeByName(op, _StringRef.of("sym_name"))
                ftype = self.lib.mlirOperationGetAttributeByName(
                    op, _StringRef.of("function_type"))
                result[self.lib.mlirStringAttrGetValue(sym).bytes().decode()] = \
                    self.lib.mlirFunctionTypeGetNumResults(self.lib.mlirTypeAttrGetValue(ftype))
            op = self.lib.mlirOperationGetNextInBlock(op)
        return result

    def print(self, module):
        chunks = []
        self.lib.mlirOperationPrint(self.lib.mlirModuleGetOperation(module),
                                    _collect(chunks), None)
        return b"".join(chunks).decode()

    def destroy(self, module):
        self.lib.mlirModuleDestroy(module)

    # -- targets -----------------------------------------------------------
    def compile_ptx(self, module, options):
        """Returns (ptx, manifest JSON, kernel name, {arch: cubin bytes}); the
        manifest is a list of JSON strings, one per launch in order, for a
        program of several kernels."""
        opts = PtxOptions()
        self.lib.mlirAttnPtxOptionsInit(ctypes.byref(opts))
        keep = _fill_options(opts, options)  # noqa: F841 (alive through the call)
        artifacts = self.lib.mlirAttnCompileModuleToPtx(module, ctypes.byref(opts))
        if not artifacts.ptr:
            self.fail("attn_mlir: compiling to PTX failed")
        try:
            get = lambda fn: fn(artifacts).bytes()
            cubins = {}
            for i in range(self.lib.mlirAttnPtxArtifactsGetNumCubins(artifacts)):
                arch = self.lib.mlirAttnPtxArtifactsGetCubinArch(artifacts, i).bytes()
                cubins[arch.decode()] = self.lib.mlirAttnPtxArtifactsGetCubin(
                    artifacts, i).bytes()
            # One manifest per launch, in order (the backward has three).
            manifests = [self.lib.mlirAttnPtxArtifactsGetLaunchManifest(artifacts, i)
                         .bytes().decode()
                         for i in range(self.lib.mlirAttnPtxArtifactsGetNumLaunches(artifacts))]
            return (get(self.lib.mlirAttnPtxArtifactsGetPtx).decode(),
                    manifests if len(manifests) > 1 else manifests[0],
                    get(self.lib.mlirAttnPtxArtifactsGetKernelName).decode(), cubins)
        finally:
            self.lib.mlirAttnPtxArtifactsDestroy(artifacts)

    def compile_cpu(self, module, options):
        opts = CpuOptions()
        self.lib.mlirAttnCpuOptionsInit(ctypes.byref(opts))
        keep = _fill_options(opts, options)  # noqa: F841 (alive through the call)
        exe = self.lib.mlirAttnCompileModuleToCpu(module, ctypes.byref(opts))
        if not exe.ptr:
            self.fail("attn_mlir: compiling for the CPU failed")
        return exe

    def signature(self, exe):
        """[(element kind, shape)] of the entry's arguments."""
        result = []
        for i in range(self.lib.mlirAttnCpuExecutableGetNumArguments(exe)):
            kind = self.lib.mlirAttnCpuExecutableGetArgumentKind(exe, i)
            rank = self.lib.mlirAttnCpuExecutableGetArgumentRank(exe, i)
            shape = tuple(self.lib.mlirAttnCpuExecutableGetArgumentDim(exe, i, d)
                          for d in range(rank))
            result.append((kind, shape))
        return result

    def invoke(self, exe, buffers):
        array = (HostBuffer * max(1, len(buffers)))(*buffers)
        if not self.lib.mlirAttnCpuExecutableInvoke(exe, len(buffers), array).value:
            self.fail("attn_mlir: the CPU kernel refused its arguments")

    def destroy_executable(self, exe):
        self.lib.mlirAttnCpuExecutableDestroy(exe)


_compiler = None
_compiler_lock = threading.Lock()


def compiler():
    """The process-wide Compiler, created on first use (so that a host with
    only the runtime and cached kernels never loads the compiler)."""
    global _compiler
    with _compiler_lock:
        if _compiler is None:
            _compiler = Compiler(os.environ.get("ATTN_MLIR_CAPI_LIB"))
        return _compiler
