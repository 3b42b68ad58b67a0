"""Datatype messages, for the types Keras files hold: IEEE floats, integers and strings.

A type is only accepted when h5py would read it as the plain numpy type given here (full-precision
integers, IEEE half/single/double floats, null-padded fixed strings, variable-length strings).
Anything else (enums such as h5py's bool, compounds, references, non-IEEE floats) is Unsupported.
"""
from __future__ import annotations

import functools
import struct
from typing import NamedTuple

import numpy as np

from .errors import Unsupported

FIXED, FLOAT, STRING, VLEN = 0, 1, 3, 9
_NULLPAD = 1
_ASCII, _UTF8 = 0, 1
#: IEEE layouts by size: (exponent location, exponent size, mantissa location, mantissa size, bias, sign bit).
_IEEE = {2: (10, 5, 0, 10, 15, 15), 4: (23, 8, 0, 23, 127, 31), 8: (52, 11, 0, 52, 1023, 63)}


class Datatype(NamedTuple):
    kind: str  # "number", "fixed_string" or "vlen_string"
    dtype: np.dtype  # numbers and fixed strings; ``object`` for variable-length strings
    size: int  # bytes per element as stored
    utf8: bool = False  # strings: declared character set


@functools.lru_cache(maxsize=256)
def read_datatype(body: bytes) -> Datatype:
    """The datatype at the start of ``body`` (cached: a file repeats a few types many times)."""
    if len(body) < 8:
        raise Unsupported("datatype too short")
    cls, version = body[0] & 0x0F, body[0] >> 4
    bits = body[1] | body[2] << 8 | body[3] << 16
    size = struct.unpack_from("<I", body, 4)[0]
    if version not in (1, 2, 3):
        raise Unsupported("datatype version")
    if cls == FIXED:
        if len(body) < 12 or bits & ~0b1001 or size not in (1, 2, 4, 8):
            raise Unsupported("integer type")
        offset, precision = struct.unpack_from("<HH", body, 8)
        if offset or precision != 8 * size:
            raise Unsupported("integer precision")
        order = ">" if bits & 1 else "<"
        return Datatype("number", np.dtype(f"{order}{'i' if bits & 0b1000 else 'u'}{size}"), size)
    if cls == FLOAT:
        if len(body) < 20 or size not in _IEEE:
            raise Unsupported("float type")
        offset, precision, exp_loc, exp_size, mant_loc, mant_size, bias = struct.unpack_from("<HHBBBBI", body, 8)
        sign = bits >> 8 & 0xFF
        byte_order_bits, padding, normalization = bits & 0x41, bits >> 1 & 0b111, bits >> 4 & 0b11
        if (byte_order_bits not in (0, 1) or padding or normalization != 2 or offset or precision != 8 * size
                or (exp_loc, exp_size, mant_loc, mant_size, bias, sign) != _IEEE[size] or bits >> 16):
            raise Unsupported("non-IEEE float")
        return Datatype("number", np.dtype(f"{'>' if bits & 1 else '<'}f{size}"), size)
    if cls == STRING:
        padding, charset = bits & 0x0F, bits >> 4 & 0x0F
        if padding != _NULLPAD or charset not in (_ASCII, _UTF8) or bits >> 8 or not 0 < size <= 1 << 24:
            raise Unsupported("fixed string type")
        return Datatype("fixed_string", np.dtype(f"S{size}"), size, charset == _UTF8)
    if cls == VLEN:
        kind, charset = bits & 0x0F, bits >> 8 & 0x0F
        if kind != 1 or charset not in (_ASCII, _UTF8) or bits >> 12 or size != 16:
            raise Unsupported("variable-length type other than a string")
        base = read_datatype(body[8:])  # HDF5 checks it too: one-byte characters
        if base.kind != "number" or base.size != 1:
            raise Unsupported("variable-length string of other than bytes")
        return Datatype("vlen_string", np.dtype(object), size, charset == _UTF8)
    raise Unsupported(f"datatype class {cls}")
