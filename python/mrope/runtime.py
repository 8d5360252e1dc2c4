"""Compiling mrope IR for the host and calling it on NumPy arrays.

:func:`compile` lowers a module with ``mrope-cpu-pipeline`` and JIT-compiles
it through the native extension; compiled modules are cached by source.
Functions are called in destination-passing style (see
``include/mrope/Runtime/JitModule.h``): every argument is a statically
shaped memref, outputs are written in place.
"""

import threading
from typing import Dict, List, Sequence, Tuple

import numpy as np

from . import _build_config
from .errors import CompileError, ConfigError, InputError

try:
    from . import _mrope
except ImportError as e:  # pragma: no cover - reported at first use
    _mrope = None
    _IMPORT_ERROR = e

# MLIR element type -> NumPy dtype of the buffer that carries it. 16-bit
# floats other than f16 travel as raw uint16 bits.
_CARRIERS = {
    "f64": np.dtype(np.float64), "f32": np.dtype(np.float32), "f16": np.dtype(np.float16),
    "bf16": np.dtype(np.uint16), "i64": np.dtype(np.int64), "i32": np.dtype(np.int32),
    "i16": np.dtype(np.int16), "i8": np.dtype(np.int8),
}


def _extension():
    if _mrope is None:
        raise ImportError(f"the mrope native extension is not available: {_IMPORT_ERROR}")
    return _mrope


class Module:
    """A JIT-compiled module; call its functions with :meth:`call`."""

    def __init__(self, source: str, threads: bool = False):
        self.source = source
        try:
            self._module = _extension().JitModule.compile(
                source, threads=threads,
                runtime_lib_dir=_build_config.MLIR_RUNTIME_LIB_DIR)
        except ValueError as e:
            raise CompileError(str(e)) from None
        self.functions: Dict[str, List[Tuple[str, Tuple[int, ...]]]] = self._module.functions

    def call(self, name: str, *arrays: np.ndarray) -> None:
        """Calls ``name``; each array must match its argument's element type
        and shape exactly and be C-contiguous and writable."""
        spec = signature_of(self.functions, name, len(arrays))
        for i, (array, (element, shape)) in enumerate(zip(arrays, spec)):
            carrier = _CARRIERS.get(element)
            if (not isinstance(array, np.ndarray) or array.shape != tuple(shape) or
                    (carrier is not None and array.dtype != carrier) or
                    not array.flags.c_contiguous or not array.flags.writeable):
                raise InputError(
                    f"@{name} argument {i}: expected a C-contiguous writable "
                    f"{carrier} array of shape {tuple(shape)} ({element}), got "
                    f"{_describe(array)}")
        self._module.invoke(name, list(arrays))


def signature_of(functions, name: str, count: int):
    """The argument spec of callable function ``name``, called with
    ``count`` arrays."""
    if name not in functions:
        raise InputError(f"no callable function @{name} (have: "
                         f"{', '.join(sorted(functions))})")
    spec = functions[name]
    if count != len(spec):
        raise InputError(f"@{name} takes {len(spec)} arrays, got {count}")
    return spec


def _describe(array) -> str:
    if not isinstance(array, np.ndarray):
        return type(array).__name__
    flags = "" if array.flags.c_contiguous else " non-contiguous"
    flags += "" if array.flags.writeable else " read-only"
    return f"a{flags} {array.dtype} array of shape {array.shape}"


_cache: Dict[Tuple[str, bool], Module] = {}
_cache_lock = threading.Lock()


def compile(source: str, threads: bool = False) -> Module:  # noqa: A001
    """The compiled module of ``source`` (cached)."""
    key = (source, bool(threads))
    with _cache_lock:
        module = _cache.get(key)
    if module is None:
        module = Module(source, threads)
        with _cache_lock:
            _cache.setdefault(key, module)
    return module


def attention_scaling(scaling: str) -> float:
    """The factor a ``#mrope.scaling`` body applies to cos and sin."""
    try:
        return _extension().attention_scaling(scaling)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def element_type_of(dtype: np.dtype) -> str:
    """The MLIR element type for an activation dtype (bf16 via ml_dtypes)."""
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":
        return "bf16"
    names = {"float32": "f32", "float16": "f16"}
    if dtype.name not in names:
        raise InputError(f"activations must be float32, float16 or bfloat16, got {dtype}")
    return names[dtype.name]


def carrier_array(array: np.ndarray) -> np.ndarray:
    """A writable C-contiguous copy of ``array`` in the dtype the JIT reads
    (bfloat16 as its uint16 bits)."""
    out = np.array(array, order="C", copy=True)
    return out.view(np.uint16) if out.dtype.name == "bfloat16" else out


def input_array(array: np.ndarray) -> np.ndarray:
    """``array`` as the JIT reads an argument it never writes (a function
    input bufferized read-only): the caller's own buffer when it is already
    C-contiguous and writable -- a KV cache is not copied on every call --
    else a copy; bfloat16 as its uint16 bits."""
    out = np.ascontiguousarray(array)
    if not out.flags.writeable:
        out = out.copy()
    return out.view(np.uint16) if out.dtype.name == "bfloat16" else out


def carrier_of(element: str) -> np.dtype:
    """The NumPy dtype that carries arrays of MLIR element type ``element``
    (bf16 as its bits, uint16)."""
    return _CARRIERS[element]


def as_dtype(carrier: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return carrier.view(dtype) if np.dtype(dtype).name == "bfloat16" else carrier


def float32_to_bfloat16_bits(x: np.ndarray) -> np.ndarray:
    """Rounds float32 to bfloat16 (nearest-even), as uint16 bits."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    out = (rounded >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(x)
    out[nan] = ((bits[nan] >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16)
    return out


def bfloat16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


__all__: Sequence[str] = ["Module", "compile", "attention_scaling",
                          "float32_to_bfloat16_bits", "bfloat16_bits_to_float32"]
