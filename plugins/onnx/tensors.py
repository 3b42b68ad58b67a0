"""ONNX TensorProto and AttributeProto values as numpy and Python, without the ``onnx`` package.

These follow the ONNX IR spec (and onnx's ``numpy_helper.to_array`` / ``helper.get_attribute_value``,
which ``tests/test_onnx_schema.py`` compares them with): ``raw_data`` is little-endian and, for the
4-bit and 2-bit types, packed low bits first; otherwise the typed field named by the element type
holds the values (16-bit and 8-bit types, bool and 4-bit types widened into ``int32_data``). A raw
tensor becomes a view of its bytes, not a copy. The 6-bit float types, which nothing converts to
TF.js, are handed to onnx.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import schema
from .dtypes import onnx_elem_to_numpy

# TensorProto.DataType numbers.
FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL, FLOAT16, DOUBLE, UINT32, UINT64 = range(1, 14)
COMPLEX64, COMPLEX128, BFLOAT16 = 14, 15, 16
FLOAT8 = frozenset({17, 18, 19, 20, 24})  # e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0
FOUR_BIT = frozenset({21, 22, 23})  # uint4, int4, float4e2m1
TWO_BIT = frozenset({25, 26})  # uint2, int2
SIX_BIT = frozenset({27, 28})  # float6e2m3, float6e3m2

#: The typed field that holds each element type's values when there is no raw_data.
_FIELD = {FLOAT: "float_data", COMPLEX64: "float_data", DOUBLE: "double_data", COMPLEX128: "double_data",
          INT64: "int64_data", UINT32: "uint64_data", UINT64: "uint64_data", STRING: "string_data"}
_FIELD_DTYPE = {"float_data": np.float32, "double_data": np.float64, "int64_data": np.int64,
                "uint64_data": np.uint64, "int32_data": np.int32}


def tensor_to_array(tensor: Any) -> np.ndarray:
    """The values of a TensorProto whose data is in the message (not external), as numpy.

    Raises ValueError or TypeError when its data does not fit its type and shape."""
    if tensor.HasField("segment"):
        raise ValueError("segmented tensors are not supported")
    if tensor.data_type in SIX_BIT and not tensor.HasField("raw_data"):
        return _via_onnx(tensor)
    dtype = onnx_elem_to_numpy(tensor.data_type)
    if dtype is None:
        raise TypeError(f"tensor {tensor.name!r} has the undefined or unknown element type {tensor.data_type}")
    dims = tuple(tensor.dims)
    if tensor.data_type == STRING:
        return np.asarray([s.decode("utf-8") for s in tensor.string_data]).astype(dtype).reshape(dims)
    if tensor.HasField("raw_data"):
        return raw_to_array(tensor.raw_data, tensor.data_type, dims)
    if tensor.data_type in (FLOAT16, BFLOAT16, INT16, UINT16):
        return _int32_field(tensor, np.uint16).reshape(dims).view(dtype)
    if tensor.data_type in FLOAT8 or tensor.data_type == BOOL:
        return _int32_field(tensor, np.uint8).view(dtype).reshape(dims)
    if tensor.data_type in FOUR_BIT or tensor.data_type in TWO_BIT:
        return _unpack(_int32_field(tensor, np.uint8), 4 if tensor.data_type in FOUR_BIT else 2, dims).view(dtype)
    field = _FIELD.get(tensor.data_type, "int32_data")
    values = np.asarray(getattr(tensor, field), dtype=_FIELD_DTYPE[field])
    if tensor.data_type in (COMPLEX64, COMPLEX128):
        return values.view(dtype).reshape(dims)
    return values.astype(dtype).reshape(dims)


def raw_to_array(data: Any, data_type: int, dims: Sequence[int]) -> np.ndarray:
    """Little-endian raw bytes (bytes, memoryview, mmap) of element type ``data_type`` as a view."""
    dtype = onnx_elem_to_numpy(data_type)
    if dtype is None:
        raise TypeError(f"undefined or unknown element type {data_type}")
    dims = tuple(int(d) for d in dims)
    if data_type in FOUR_BIT or data_type in TWO_BIT:
        return _unpack(np.frombuffer(data, dtype=np.uint8), 4 if data_type in FOUR_BIT else 2, dims).view(dtype)
    if data_type in SIX_BIT:
        from onnx import TensorProto, numpy_helper

        return numpy_helper.to_array(TensorProto(data_type=data_type, dims=dims, raw_data=bytes(data)))
    if dtype.kind == "O":
        raise TypeError("string tensors have no raw_data")
    array = np.frombuffer(data, dtype=dtype)
    if sys.byteorder == "big" and dtype.itemsize > 1:
        array = array.byteswap()
    return array.reshape(dims)


def _int32_field(tensor: Any, narrow: type) -> np.ndarray:
    return np.asarray(tensor.int32_data, dtype=np.int32).view(np.uint32).astype(narrow)


def _unpack(packed: np.ndarray, bits: int, dims: Sequence[int]) -> np.ndarray:
    """Sub-byte elements, lowest bits first, one per uint8; the packed tail may hold padding."""
    per_byte = 8 // bits
    mask = np.uint8((1 << bits) - 1)
    result = np.empty(packed.size * per_byte, dtype=np.uint8)
    for k in range(per_byte):
        result[k::per_byte] = (packed >> np.uint8(k * bits)) & mask
    count = int(np.prod(dims, dtype=np.int64))
    if count > result.size or result.size - count >= per_byte:
        raise ValueError(f"{packed.size} packed bytes do not hold the {count} elements of shape {list(dims)}")
    return result[:count].reshape(dims)


def _via_onnx(tensor: Any) -> np.ndarray:
    from onnx import TensorProto, numpy_helper

    return numpy_helper.to_array(TensorProto.FromString(tensor.SerializeToString()))


# -- external data ---------------------------------------------------------------------------------
def uses_external_data(tensor: Any) -> bool:
    return tensor.HasField("data_location") and tensor.data_location == schema.EXTERNAL


def external_data_info(tensor: Any) -> dict[str, str]:
    """The ``external_data`` entries (location, offset, length, ...) of a tensor, by key."""
    return {entry.key: entry.value for entry in tensor.external_data}


def outside_folder(tensors: Any, folder: Any, *, skip: Any = None) -> list[tuple[str, str]]:
    """``(name, location)`` of each tensor whose external data file lies outside ``folder`` (``skip(info)``:
    entries to pass over), so that a refusal can name them all at once."""
    found = []
    for tensor in tensors:
        if not uses_external_data(tensor):
            continue
        info = external_data_info(tensor)
        location = info.get("location", "")
        if not (skip and skip(info)) and escapes_folder(location, folder):
            found.append((tensor.name, location))
    return found


def escapes_folder(location: str, folder: Any) -> bool:
    """Whether an external data ``location`` leads outside the model's ``folder`` (``..``, an absolute path, a
    symbolic link out): neither the converter nor its onnxruntime reference reads such a file."""
    from pathlib import Path

    base = Path(folder).resolve()
    target = (base / location).resolve()
    return target != base and base not in target.parents


# -- attributes ------------------------------------------------------------------------------------
_ATTR_FIELD = {schema.FLOAT_ATTR: "f", schema.INT_ATTR: "i", schema.STRING_ATTR: "s", schema.TENSOR_ATTR: "t",
               schema.SPARSE_TENSOR: "sparse_tensor", schema.GRAPH_ATTR: "g", schema.TYPE_PROTO: "tp"}
_ATTR_LIST = {schema.FLOATS: "floats", schema.INTS: "ints", schema.STRINGS: "strings", schema.TENSORS: "tensors",
              schema.SPARSE_TENSORS: "sparse_tensors", schema.GRAPHS: "graphs", schema.TYPE_PROTOS: "type_protos"}


def attribute_value(attr: Any) -> Any:
    """An attribute's value by its declared type: a number, bytes, a message, or a list of them."""
    if attr.ref_attr_name:
        raise ValueError(f"attribute {attr.name!r} refers to a function attribute ({attr.ref_attr_name!r})")
    if attr.type in _ATTR_FIELD:
        return getattr(attr, _ATTR_FIELD[attr.type])
    if attr.type in _ATTR_LIST:
        return list(getattr(attr, _ATTR_LIST[attr.type]))
    if attr.type == schema.UNDEFINED:
        return None
    raise ValueError(f"attribute {attr.name!r} has the unknown type {attr.type}")

