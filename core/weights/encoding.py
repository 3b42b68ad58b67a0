"""TF.js weight byte encodings, and the dtype conversions needed to reach them.

TF.js stores five dtypes (float32, int32, bool, string, complex64; plus float16/uint8/uint16 when
quantized), all little-endian: numbers as packed arrays, bool as one byte per element, complex64 as
interleaved re/im float32, and each string as a 4-byte little-endian uint32 byte length followed by
its UTF-8 bytes (no padding). Anything else must be converted first; :func:`tfjs_dtype` says to
what and :func:`check_conversion` refuses conversions that would change integer values.

Encoding is a generator of chunks (:func:`iter_encoded`) so the writer can stream a huge tensor to
disk: an array that already has the stored layout is sliced without a copy, anything else is
converted one chunk at a time.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np

from ..dtypes import TFJS_WEIGHT_DOWNCASTS, TFJS_WEIGHT_DTYPES, DType
from ..errors import WeightsError

#: Largest piece :func:`iter_encoded` yields by default (a few MB keeps copies small).
CHUNK_BYTES = 4 * 1024 * 1024

#: The on-disk layout of every fixed-size dtype a manifest can name, quantized ones included.
STORAGE_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("|b1"),
    "complex64": np.dtype("<c8"),
    "float16": np.dtype("<f2"),
    "uint8": np.dtype("|u1"),
    "uint16": np.dtype("<u2"),
}

#: The ``dtype`` values of manifest entries (quantized dtypes go in ``quantization.dtype``).
MANIFEST_DTYPES = tuple(d.short_name for d in TFJS_WEIGHT_DTYPES)

#: Prefix of each string element: its UTF-8 byte length.
STRING_LENGTH_DTYPE = np.dtype("<u4")
_PREFIX = STRING_LENGTH_DTYPE.itemsize

_INT32 = np.iinfo(np.int32)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def dtype_name(dtype: np.dtype) -> str:
    """The plain name of a numpy dtype, without byte order (``>f8`` -> ``float64``); ``string`` for text."""
    dtype = np.dtype(dtype)
    if dtype.kind in "USO":
        return "string"
    return dtype.name


def tfjs_dtype(dtype: np.dtype, *, name: str = "weight") -> str:
    """The TF.js manifest dtype that values of numpy ``dtype`` are stored as.

    Raises :class:`WeightsError` naming the weight for dtypes TF.js has no counterpart for.
    """
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":  # ml_dtypes' bfloat16 has no numpy kind of its own
        return DType.FLOAT32.short_name
    if dtype.kind in "USO":
        return DType.STRING.short_name
    try:
        resolved = DType.from_any(dtype.newbyteorder("="))
    except TypeError:
        resolved = None
    if resolved in TFJS_WEIGHT_DTYPES:
        return resolved.short_name
    if resolved in TFJS_WEIGHT_DOWNCASTS:
        return TFJS_WEIGHT_DOWNCASTS[resolved].short_name
    raise WeightsError(f"weight {name!r} has dtype {dtype}, which TensorFlow.js cannot store",
                       hint="TF.js weights are float32, int32, bool, string or complex64")


def check_conversion(name: str, array: np.ndarray, target: str) -> str | None:
    """Check that storing ``array`` as ``target`` keeps its values; return a warning or ``None``.

    Integers outside int32 raise :class:`WeightsError` (a silent wraparound would corrupt the model);
    finite floats that overflow float32 become ±inf, which is allowed but worth a warning.
    """
    source = array.dtype
    if array.size == 0:
        return None
    if target == "int32" and source.kind in "iu":
        if source.itemsize < 4 or (source.itemsize == 4 and source.kind == "i"):
            return None
        low, high = int(array.min()), int(array.max())
        if low < _INT32.min or high > _INT32.max:
            raise WeightsError(
                f"weight {name!r} ({dtype_name(source)}) holds values in [{low}, {high}], outside the int32 "
                f"range [{_INT32.min}, {_INT32.max}] that TensorFlow.js stores integers in",
                hint="cast or clip this weight in the source model; tfjsconv will not wrap it silently")
        return None
    if target in ("float32", "complex64") and source.kind in "fc" and source.itemsize > (4 if source.kind == "f" else 8):
        overflow = 0
        for chunk in iter_flat_chunks(array, CHUNK_BYTES // 16):
            parts = (chunk.real, chunk.imag) if chunk.dtype.kind == "c" else (chunk,)
            for part in parts:
                with np.errstate(over="ignore"):
                    overflow += int(np.count_nonzero(np.isfinite(part) & (np.abs(part) > _FLOAT32_MAX)
                                                     & np.isinf(part.astype(np.float32))))
        if overflow:
            return (f"weight {name!r}: {overflow} finite {dtype_name(source)} value(s) exceed the float32 range "
                    f"and become ±inf")
    return None


def iter_flat_chunks(array: np.ndarray, max_elements: int) -> Iterator[np.ndarray]:
    """The elements of ``array`` in C order, as 1-D pieces of at most ``max_elements``.

    Pieces of a C-contiguous array are views; other arrays are copied one piece at a time, so
    no full flattened copy is ever made.
    """
    count = array.size
    if count == 0:
        return
    max_elements = max(1, int(max_elements))
    if array.flags.c_contiguous:
        flat = array.reshape(-1)
        for start in range(0, count, max_elements):
            yield flat[start:start + max_elements]
    else:
        for start in range(0, count, max_elements):
            yield np.asarray(array.flat[start:start + max_elements])


def iter_encoded(array: np.ndarray, dtype: str, *, chunk_bytes: int = CHUNK_BYTES,
                 name: str = "weight") -> Iterator[memoryview]:
    """The TF.js bytes of ``array`` stored as ``dtype``, in pieces of at most ``chunk_bytes``.

    ``dtype`` is a manifest dtype or a quantized storage dtype (the values are cast to it; range
    checks are :func:`check_conversion`'s job). A C-contiguous array already in the stored layout is
    yielded as views of its own buffer; a single string element longer than ``chunk_bytes`` is
    yielded whole. Consume each piece before asking for the next.
    """
    if dtype == "string":
        yield from _iter_string_chunks(array, chunk_bytes, name)
        return
    try:
        storage = STORAGE_DTYPES[dtype]
    except KeyError:
        raise WeightsError(f"cannot encode weight {name!r} as unknown dtype {dtype!r}") from None
    if array.size == 0:
        return
    if array.dtype == storage and array.flags.c_contiguous:
        raw = memoryview(array.reshape(-1).view(np.uint8))
        for start in range(0, raw.nbytes, chunk_bytes):
            yield raw[start:start + chunk_bytes]
        return
    for piece in iter_flat_chunks(array, chunk_bytes // storage.itemsize):
        with np.errstate(over="ignore", invalid="ignore"):  # overflow was reported by check_conversion
            converted = np.ascontiguousarray(piece.astype(storage, copy=False))
        yield memoryview(converted.view(np.uint8))


def encode_array(array: np.ndarray, dtype: str | None = None, *, name: str = "weight") -> bytes:
    """All TF.js bytes of ``array`` at once (``dtype`` defaults to :func:`tfjs_dtype` of the array)."""
    array = np.asarray(array)
    if dtype is None:
        dtype = tfjs_dtype(array.dtype, name=name)
    return b"".join(iter_encoded(array, dtype, name=name))


def _element_bytes(element: object, name: str) -> bytes:
    if isinstance(element, bytes):
        return element
    if isinstance(element, str):
        try:
            return element.encode("utf-8")
        except UnicodeEncodeError as err:
            raise WeightsError(f"string weight {name!r} has an element that is not valid Unicode: {err}") from None
    if isinstance(element, (bytearray, memoryview)):
        return bytes(element)
    raise WeightsError(f"string weight {name!r} has an element of type {type(element).__name__}; "
                       "expected str or bytes")


def _iter_string_chunks(array: np.ndarray, chunk_bytes: int, name: str) -> Iterator[memoryview]:
    buffer = bytearray()
    for element in array.flat:
        data = _element_bytes(element, name)
        if len(data) > _INT32.max * 2 + 1:
            raise WeightsError(f"string weight {name!r} has an element of {len(data)} bytes; the limit is 4 GiB")
        buffer += len(data).to_bytes(_PREFIX, "little")
        if len(data) >= chunk_bytes:
            yield memoryview(bytes(buffer))
            buffer.clear()
            yield memoryview(data)
            continue
        buffer += data
        if len(buffer) >= chunk_bytes:
            yield memoryview(bytes(buffer))
            buffer.clear()
    if buffer:
        yield memoryview(bytes(buffer))


def decode_string_element(data: bytes, strings: Literal["str", "bytes"] = "str") -> str | bytes:
    """One string element: ``str`` when it is UTF-8 (and ``strings="str"``), else the raw ``bytes``."""
    if strings == "bytes":
        return bytes(data)
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(data)


def object_array(elements: Sequence[object], shape: tuple[int, ...]) -> np.ndarray:
    """An object array of ``shape`` holding ``elements`` (never reinterpreted as nested sequences)."""
    result = np.empty(len(elements), dtype=object)
    for index, element in enumerate(elements):
        result[index] = element
    return result.reshape(shape)


def decode_array(data: bytes | bytearray | memoryview, dtype: str, shape: Sequence[int], *,
                 strings: Literal["str", "bytes"] = "str") -> np.ndarray:
    """The numpy array that TF.js bytes ``data`` of ``dtype`` and ``shape`` hold (no dequantization).

    ``data`` must be exactly the weight's bytes. Numbers come back in native byte order; when
    ``data`` is a writable buffer (``bytearray``) the array shares it instead of copying. Strings
    become an object array of ``str`` (``bytes`` for elements that are not UTF-8, or all elements
    with ``strings="bytes"``).
    """
    shape = tuple(int(d) for d in shape)
    count = math.prod(shape)
    view = memoryview(data).cast("B")
    if dtype == "string":
        elements = []
        position = 0
        for index in range(count):
            if position + _PREFIX > len(view):
                raise WeightsError(f"string data ends inside the length prefix of element {index} of {count}")
            length = int.from_bytes(view[position:position + _PREFIX], "little")
            position += _PREFIX
            if position + length > len(view):
                raise WeightsError(f"string element {index} of {count} claims {length} bytes, past the end of the data")
            elements.append(decode_string_element(view[position:position + length], strings))
            position += length
        if position != len(view):
            raise WeightsError(f"string data has {len(view) - position} byte(s) left over after {count} element(s)")
        return object_array(elements, shape)
    try:
        storage = STORAGE_DTYPES[dtype]
    except KeyError:
        raise WeightsError(f"unknown weight dtype {dtype!r}") from None
    expected = count * storage.itemsize
    if len(view) != expected:
        raise WeightsError(f"{dtype} data of shape {list(shape)} needs {expected} bytes, got {len(view)}")
    if dtype == "bool":
        return (np.frombuffer(view, dtype=np.uint8, count=count) != 0).reshape(shape)
    array = np.frombuffer(view, dtype=storage, count=count)
    if not array.dtype.isnative or not array.flags.writeable:
        array = array.astype(storage.newbyteorder("="))
    return array.reshape(shape)
