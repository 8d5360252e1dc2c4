"""Compiled mrope functions on CUDA devices.

:func:`compile` lowers a module with ``mrope-gpu-pipeline`` (device buffers;
the kernels as PTX that the driver compiles when the module loads, for the
device's own architecture) and JIT-compiles its host code, which calls
``libmrope_cuda_runtime.so`` (shipped in this package). Functions are called
like :class:`mrope.runtime.Module`'s, in destination-passing style, on
device arrays: CUDA torch tensors or any object with
``__cuda_array_interface__`` (CuPy, Numba), C-contiguous.

Work is enqueued on a stream (by default torch's current stream when torch
tensors are passed, else the legacy default stream) and the call returns
without waiting, like a torch operation. Driver errors -- no driver or GPU,
a failed launch, a fault seen at a synchronization -- raise
:class:`mrope.GPUError`; the process keeps running.

The driver library is ``libcuda.so.1``, or ``$MROPE_CUDA_DRIVER``;
``$MROPE_CUDA_DEVICE`` selects the device (default 0).

GPU hosts without LLVM/MLIR (the native extension links ``libMLIR.so``):
:func:`export` compiles modules ahead of time into a directory on a build
machine; with ``$MROPE_CUDA_KERNELS`` naming that directory, :func:`compile`
loads them from there (ctypes only) instead of JIT-compiling.
"""

import ctypes
import hashlib
import json
import os
import subprocess
import tempfile
import threading
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import CompileError, GPUError, InputError
from .runtime import _CARRIERS, _build_config, _extension, signature_of

RUNTIME_LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "libmrope_cuda_runtime.so")

_lock = threading.RLock()
_runtime: Optional[ctypes.CDLL] = None


_this_thread = threading.local()


def _library() -> ctypes.CDLL:
    """The runtime, loaded once, with errors on the calling thread recorded
    instead of ending the process (they are raised as GPUError after each
    call). The runtime's error mode and stream are per thread: each thread
    that calls in opts in here, other threads of the process (C code using
    the same runtime) keep errors fatal."""
    lib = _load_library()
    if not getattr(_this_thread, "recording", False):
        lib.mropeCudaSetErrorMode(1)
        _this_thread.recording = True
    return lib


def _load_library() -> ctypes.CDLL:
    global _runtime
    with _lock:
        if _runtime is None:
            if not os.path.exists(RUNTIME_LIBRARY):
                raise GPUError(f"this mrope package was built without the CUDA runtime "
                               f"({RUNTIME_LIBRARY} is missing: cuda.h was not found "
                               f"when it was built)")
            lib = ctypes.CDLL(RUNTIME_LIBRARY)
            lib.mropeCudaSetErrorMode.argtypes = [ctypes.c_int]
            lib.mropeCudaTakeError.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
            lib.mropeCudaTakeError.restype = ctypes.c_int
            lib.mropeCudaDeviceCapability.argtypes = [ctypes.POINTER(ctypes.c_int)] * 2
            lib.mropeCudaDeviceCapability.restype = ctypes.c_int
            lib.mropeCudaUseStream.argtypes = [ctypes.c_void_p]
            lib.mropeCudaSynchronize.argtypes = []
            _runtime = lib
        return _runtime


def _raise_pending(what: str) -> None:
    buffer = ctypes.create_string_buffer(16384)
    if _library().mropeCudaTakeError(buffer, len(buffer)):
        raise GPUError(f"{what}: {buffer.value.decode(errors='replace')}")


def device_capability() -> Tuple[int, int]:
    """The compute capability of the device the runtime uses, e.g. (9, 0)."""
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    with _lock:
        ok = _library().mropeCudaDeviceCapability(ctypes.byref(major), ctypes.byref(minor))
        _raise_pending("CUDA device")
    if not ok:  # pragma: no cover - the runtime reports why
        raise GPUError("CUDA device: no usable device")
    return major.value, minor.value


def target_of(capability: Tuple[int, int]) -> Tuple[str, str]:
    """The chip and PTX ISA the kernels are compiled for on a device of
    ``capability``: its own architecture (``sm_90a`` on Hopper, whose
    arch-specific features need the ``a`` target)."""
    major, minor = capability
    if major < 8:
        raise GPUError(f"CUDA device: compute capability {major}.{minor}; the kernels "
                       f"need 8.0 or later (mma.sync, cp.async)")
    chip = f"sm_{major}{minor}" + ("a" if (major, minor) == (9, 0) else "")
    isa = {10: "+ptx86", 11: "+ptx87", 12: "+ptx87"}.get(major, "+ptx80")
    return chip, isa


def runtime_device() -> int:
    """The ordinal of the device the runtime uses ($MROPE_CUDA_DEVICE, default
    0; read once, when the runtime first opens the driver)."""
    return int(os.environ.get("MROPE_CUDA_DEVICE", "0") or 0)


def synchronize() -> None:
    """Waits for all work on the device; raises the first error seen."""
    with _lock:
        _library().mropeCudaSynchronize()
        _raise_pending("synchronize")


def _chip_and_isa(chip: Optional[str]) -> Tuple[str, str]:
    """``chip`` (default: the device's architecture) and its PTX ISA."""
    if chip is None:
        return target_of(device_capability())
    digits = chip[3:-1] if chip.endswith("a") else chip[3:]
    if not chip.startswith("sm_") or not digits.isdigit() or len(digits) < 2:
        raise InputError(f"chip: expected sm_XY or sm_XYa (e.g. sm_90a), got {chip!r}")
    return chip, target_of((int(digits[:-1]), int(digits[-1])))[1]


KERNELS_VARIABLE = "MROPE_CUDA_KERNELS"


def _build_id() -> str:
    """The compiler build this package came from (a hash of its mrope-opt,
    written at build time); "unknown" for a package assembled without it."""
    try:
        from . import _build_id as generated
    except ImportError:
        return "unknown"
    return generated.BUILD_ID


def _kernel_key(source: str, chip: str, isa: str) -> str:
    """The file name of ``source`` compiled for ``chip`` by this build of
    mrope: a package from another build (another mrope-opt) looks for other
    files, so it never loads kernels this one exported."""
    text = f"mrope {_build_config.VERSION} {_build_id()}\n{chip}\n{isa}\n{source}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _run(command: List[str], what: str, source: str) -> str:
    try:
        run = subprocess.run(command, input=source, capture_output=True, text=True)
    except OSError as e:
        raise CompileError(f"export: cannot run {command[0]} ({e}); exporting needs the "
                           f"tools of the build this package comes from") from None
    if run.returncode != 0:
        raise CompileError(f"export: {what} failed:\n{run.stderr}")
    return run.stdout


def export(source: str, directory: str, chip: Optional[str] = None) -> str:
    """Compiles ``source`` ahead of time for ``chip`` (default: this
    machine's device; e.g. ``"sm_90a"`` for an H100 on a machine without one)
    into ``directory``: a shared library and its functions' signatures. With
    ``$MROPE_CUDA_KERNELS`` naming the directory, :func:`compile` of the same
    source for the same chip loads it instead of JIT-compiling -- on hosts
    without LLVM, MLIR or this package's native extension. Runs the build's
    ``mrope-opt``, ``mlir-translate`` and C compiler; returns the library's
    path."""
    chip, isa = _chip_and_isa(chip)
    try:
        functions = _extension().function_signatures(source)
    except ValueError as e:
        raise CompileError(str(e)) from None
    lowered = _run([_build_config.MROPE_OPT,
                    f"--mrope-gpu-pipeline=chip={chip} features={isa} format=isa"],
                   "mrope-gpu-pipeline", source)
    llvm_ir = _run([_build_config.MLIR_TRANSLATE, "--mlir-to-llvmir"], "mlir-translate",
                   lowered)
    os.makedirs(directory, exist_ok=True)
    key = _kernel_key(source, chip, isa)
    library = os.path.join(directory, key + ".so")
    # The mgpu* calls stay undefined: they bind to the package's runtime,
    # loaded first, so that one runtime holds the stream and the errors.
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        built = os.path.join(scratch, "module.so")
        _run([_build_config.C_COMPILER, "-shared", "-fPIC", "-O2", "-Wno-override-module",
              "-x", "ir", "-", "-o", built, "-lm"], "the C compiler", llvm_ir)
        with open(os.path.join(directory, key + ".json"), "w") as f:
            json.dump({"chip": chip, "isa": isa, "functions": functions}, f)
        os.replace(built, library)
    return library


class _Prebuilt:
    """A module exported by :func:`export`, called through ctypes."""

    def __init__(self, library: str, functions: Dict[str, list]):
        _library()
        ctypes.CDLL(RUNTIME_LIBRARY, mode=ctypes.RTLD_GLOBAL)
        # Loading runs the module's constructor, which loads its kernels.
        self._lib = ctypes.CDLL(library)
        self.functions = {name: [(element, tuple(shape)) for element, shape in args]
                          for name, args in functions.items()}

    def invoke_addresses(self, name: str, addresses: Sequence[int]) -> None:
        # A ranked memref descriptor: {allocated, aligned, offset, sizes,
        # strides}, 64-bit words; row-major strides in elements.
        descriptors = []
        for address, (_, shape) in zip(addresses, self.functions[name]):
            rank = len(shape)
            words = (ctypes.c_int64 * (3 + 2 * rank))()
            words[0] = words[1] = address
            stride = 1
            for d in reversed(range(rank)):
                words[3 + d], words[3 + rank + d] = shape[d], stride
                stride *= shape[d]
            descriptors.append(words)
        function = getattr(self._lib, "_mlir_ciface_" + name)
        function.restype = None
        function(*[ctypes.byref(words) for words in descriptors])


def _prebuilt(source: str, chip: str, isa: str) -> Optional[_Prebuilt]:
    directory = os.environ.get(KERNELS_VARIABLE)
    if not directory:
        return None
    key = _kernel_key(source, chip, isa)
    library = os.path.join(directory, key + ".so")
    if not os.path.exists(library):
        return None
    with open(os.path.join(directory, key + ".json")) as f:
        return _Prebuilt(library, json.load(f)["functions"])


class Module:
    """A module compiled for a CUDA device; call its functions with
    :meth:`call`."""

    def __init__(self, source: str, chip: Optional[str] = None):
        self.source = source
        chip, isa = _chip_and_isa(chip)
        self.chip = chip
        with _lock:
            self._module = _prebuilt(source, chip, isa)
            if self._module is not None:
                _raise_pending("loading the prebuilt module")
                self.functions = self._module.functions
                return
            try:
                self._module = _extension().JitModule.compile(
                    source, runtime_lib_dir=_build_config.MLIR_RUNTIME_LIB_DIR,
                    target="cuda", cuda_chip=chip, cuda_features=isa,
                    cuda_runtime_lib=RUNTIME_LIBRARY)
            except ValueError as e:
                raise CompileError(str(e)) from None
            except ImportError as e:
                where = os.environ.get(KERNELS_VARIABLE)
                raise CompileError(
                    f"{e}; and no module exported for {chip} " +
                    (f"in ${KERNELS_VARIABLE} ({where})" if where else
                     f"(${KERNELS_VARIABLE} is not set)") +
                    " -- see mrope.cuda.export") from None
            # Loading the kernels (the module's constructor) may have failed.
            _raise_pending("loading the compiled module")
        self.functions: Dict[str, List[Tuple[str, Tuple[int, ...]]]] = self._module.functions

    def call(self, name: str, *arrays, stream: Optional[int] = None) -> None:
        """Calls ``name`` with one C-contiguous device array per argument,
        matching its element type and shape; enqueued on ``stream`` (a
        ``CUstream`` handle; default: torch's current stream when torch
        tensors are passed, else the legacy default stream 0)."""
        spec = signature_of(self.functions, name, len(arrays))
        addresses = [_device_address(array, element, shape, f"@{name} argument {i}")
                     for i, (array, (element, shape)) in enumerate(zip(arrays, spec))]
        if stream is None:
            stream = _torch_stream(arrays)
        lib = _library()
        with _lock:
            lib.mropeCudaUseStream(ctypes.c_void_p(stream or None))
            _raise_pending(f"@{name}")
            try:
                self._module.invoke_addresses(name, addresses)
            except ValueError as e:  # pragma: no cover - checked above
                raise InputError(str(e)) from None
            _raise_pending(f"@{name}")


_cache: Dict[Tuple[str, Optional[str]], Module] = {}


def compile(source: str, chip: Optional[str] = None) -> Module:  # noqa: A001
    """The compiled module of ``source`` for the device (cached)."""
    key = (source, chip)
    with _lock:
        module = _cache.get(key)
        if module is None:
            module = _cache[key] = Module(source, chip)
    return module


# Element types as torch names them, and as __cuda_array_interface__'s typestr.
_TORCH_NAMES = {"f64": "float64", "f32": "float32", "f16": "float16", "bf16": "bfloat16",
                "i64": "int64", "i32": "int32", "i16": "int16", "i8": "int8"}


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _torch_stream(arrays: Sequence) -> int:
    if any(_is_torch(a) for a in arrays):
        import torch
        return torch.cuda.current_stream().cuda_stream
    return 0


def _device_address(array, element: str, shape: Sequence[int], where: str) -> int:
    """The device address of ``array`` after checking it against the
    argument's element type and shape (C-contiguous, on a CUDA device)."""
    expected = f"a C-contiguous CUDA array of shape {tuple(shape)} ({element})"
    if _is_torch(array):
        dtype = str(array.dtype).replace("torch.", "")
        if not array.is_cuda:
            raise InputError(f"{where}: expected {expected}, got a torch tensor on "
                             f"{array.device}")
        if array.device.index != runtime_device():
            raise InputError(f"{where}: on {array.device}, but mrope's CUDA runtime uses "
                             f"device {runtime_device()} (set MROPE_CUDA_DEVICE before the "
                             f"first call)")
        if tuple(array.shape) != tuple(shape) or dtype != _TORCH_NAMES.get(element) \
                or not array.is_contiguous():
            raise InputError(f"{where}: expected {expected}, got a "
                             f"{'' if array.is_contiguous() else 'non-contiguous '}{dtype} "
                             f"tensor of shape {tuple(array.shape)}")
        return array.data_ptr()
    interface = getattr(array, "__cuda_array_interface__", None)
    if interface is None:
        raise InputError(f"{where}: expected {expected}, got {type(array).__name__} "
                         f"(host memory?)")
    got_shape = tuple(interface["shape"])
    typestr = interface["typestr"]
    carrier = _CARRIERS.get(element)
    strides = interface.get("strides")
    contiguous = strides is None or _c_strides(got_shape, int(typestr[2:])) == tuple(strides)
    if got_shape != tuple(shape) or carrier is None or typestr[1:] != carrier.str[1:] \
            or not contiguous:
        raise InputError(f"{where}: expected {expected} (typestr {carrier.str if carrier else '?'}),"
                         f" got typestr {typestr}, shape {got_shape}"
                         f"{'' if contiguous else ', not C-contiguous'}")
    return int(interface["data"][0])


def _c_strides(shape: Tuple[int, ...], itemsize: int) -> Tuple[int, ...]:
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


__all__: Sequence[str] = ["Module", "compile", "export", "device_capability", "target_of",
                          "runtime_device", "synchronize", "RUNTIME_LIBRARY",
                          "KERNELS_VARIABLE"]
