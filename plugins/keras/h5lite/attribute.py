"""Attribute messages, decoded to what h5py's ``attrs[name]`` returns for them.

Scalars come back as numpy scalars (``np.bytes_`` for fixed strings, ``str`` for variable-length
ones), arrays as ndarrays (variable-length strings as object arrays of ``str``).
"""
from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from .datatype import Datatype, read_datatype
from .dataspace import read_dataspace
from .errors import Unsupported
from .file_bytes import UNDEFINED
from .global_heap import GlobalHeap

_VLEN = struct.Struct("<IQI")


def _padded(n: int) -> int:
    return (n + 7) // 8 * 8


def read_attribute(body: bytes, heap: GlobalHeap) -> tuple[bytes, Any]:
    """``(name, value)`` of one attribute message."""
    if len(body) < 8:
        raise Unsupported("attribute too short")
    version, flags = body[0], body[1]
    name_size, type_size, space_size = struct.unpack_from("<HHH", body, 2)
    if version == 1:
        pos, pad = 8, _padded
    elif version in (2, 3):
        if flags:
            raise Unsupported("shared attribute type or space")
        pos = 8 if version == 2 else 9
        if version == 3 and body[8] not in (0, 1):
            raise Unsupported("attribute name encoding")

        def pad(n: int) -> int:
            return n
    else:
        raise Unsupported("attribute version")
    if version == 1 and flags:
        raise Unsupported("attribute flags")
    if not name_size:
        raise Unsupported("attribute without a name")
    name = body[pos:pos + name_size]
    if len(name) != name_size or name[-1] != 0 or b"\0" in name[:-1]:
        raise Unsupported("attribute name")
    pos += pad(name_size)
    dtype = read_datatype(body[pos:pos + type_size]) if pos + type_size <= len(body) else None
    if dtype is None:
        raise Unsupported("attribute type past its message")
    pos += pad(type_size)
    if pos + space_size > len(body):
        raise Unsupported("attribute space past its message")
    shape = read_dataspace(body[pos:pos + space_size])
    pos += pad(space_size)
    count = math.prod(shape)
    raw = body[pos:pos + count * dtype.size]
    if len(raw) != count * dtype.size:
        raise Unsupported("attribute data past its message")
    return name[:-1], _value(raw, shape, count, dtype, heap)


def _value(raw: bytes, shape: tuple[int, ...], count: int, dtype: Datatype, heap: GlobalHeap) -> Any:
    if dtype.kind == "vlen_string":
        strings = [_vlen_string(raw, i * 16, dtype.utf8, heap) for i in range(count)]
        if not shape:
            return strings[0]
        array = np.empty(count, dtype=object)
        array[:] = strings
        return _frozen(array.reshape(shape))
    array = np.frombuffer(raw, dtype=dtype.dtype, count=count).reshape(shape).copy()
    return array[()] if not shape else _frozen(array)


def _frozen(array: np.ndarray) -> np.ndarray:
    """Read-only: one decoded value serves every read of the attribute (h5py reads a new array each
    time), so a reader changing it in place must fail rather than change what later readers see."""
    array.flags.writeable = False
    return array


def _vlen_string(raw: bytes, pos: int, utf8: bool, heap: GlobalHeap) -> str:
    length, address, index = _VLEN.unpack_from(raw, pos)
    if address == UNDEFINED or address == 0:
        raise Unsupported("variable-length string without heap storage")
    data = heap.object(address, index)
    if len(data) != length or b"\0" in data:
        raise Unsupported("variable-length string length")
    try:
        return data.decode("utf-8" if utf8 else "ascii")
    except UnicodeDecodeError:
        raise Unsupported("undecodable string") from None
