"""Data types as TensorFlow names them, with their numpy and TF.js counterparts.

The IR speaks TensorFlow's vocabulary (``DT_FLOAT`` …) because model.json does; TF.js itself only
stores float32, int32, bool, string and complex64 weights (see :data:`TFJS_WEIGHT_DTYPES`).
"""
from __future__ import annotations

import enum

import numpy as np


class DType(enum.Enum):
    """A tensor element type. ``value`` is the TF enum name used in GraphDef JSON."""

    FLOAT32 = "DT_FLOAT"
    FLOAT64 = "DT_DOUBLE"
    FLOAT16 = "DT_HALF"
    BFLOAT16 = "DT_BFLOAT16"
    INT8 = "DT_INT8"
    INT16 = "DT_INT16"
    INT32 = "DT_INT32"
    INT64 = "DT_INT64"
    UINT8 = "DT_UINT8"
    UINT16 = "DT_UINT16"
    UINT32 = "DT_UINT32"
    UINT64 = "DT_UINT64"
    BOOL = "DT_BOOL"
    STRING = "DT_STRING"
    COMPLEX64 = "DT_COMPLEX64"
    COMPLEX128 = "DT_COMPLEX128"
    RESOURCE = "DT_RESOURCE"
    VARIANT = "DT_VARIANT"

    @property
    def tf_name(self) -> str:
        return self.value

    @property
    def short_name(self) -> str:
        """The lower-case name TF.js and numpy users know: ``float32``, ``int32``, ``string`` …"""
        return self.name.lower()

    @property
    def numpy(self) -> np.dtype:
        try:
            return _TO_NUMPY[self]
        except KeyError:
            raise TypeError(f"{self.short_name} has no numpy equivalent") from None

    @classmethod
    def from_any(cls, value: "DType | str | np.dtype | type") -> "DType":
        """Accept a DType, ``"float32"``, ``"DT_FLOAT"``, a numpy dtype or a numpy scalar type."""
        if isinstance(value, DType):
            return value
        if isinstance(value, str):
            if value.startswith("DT_"):
                return cls(value)
            if value in _SHORT:
                return _SHORT[value]
        try:
            np_dtype = np.dtype(value)
        except TypeError:
            raise TypeError(f"not a dtype: {value!r}") from None
        if np_dtype.kind in ("U", "S", "O"):
            return DType.STRING
        for dtype, candidate in _TO_NUMPY.items():
            if candidate == np_dtype and dtype is not DType.STRING:
                return dtype
        raise TypeError(f"unsupported numpy dtype {np_dtype}")


_TO_NUMPY: dict[DType, np.dtype] = {
    DType.FLOAT32: np.dtype("float32"),
    DType.FLOAT64: np.dtype("float64"),
    DType.FLOAT16: np.dtype("float16"),
    DType.INT8: np.dtype("int8"),
    DType.INT16: np.dtype("int16"),
    DType.INT32: np.dtype("int32"),
    DType.INT64: np.dtype("int64"),
    DType.UINT8: np.dtype("uint8"),
    DType.UINT16: np.dtype("uint16"),
    DType.UINT32: np.dtype("uint32"),
    DType.UINT64: np.dtype("uint64"),
    DType.BOOL: np.dtype("bool"),
    DType.STRING: np.dtype("object"),
    DType.COMPLEX64: np.dtype("complex64"),
    DType.COMPLEX128: np.dtype("complex128"),
}
_SHORT: dict[str, DType] = {d.short_name: d for d in DType}
_SHORT.update({"float": DType.FLOAT32, "double": DType.FLOAT64, "half": DType.FLOAT16, "object": DType.STRING})

#: The weight dtypes a TF.js weights manifest can hold (before quantization).
TFJS_WEIGHT_DTYPES = (DType.FLOAT32, DType.INT32, DType.BOOL, DType.STRING, DType.COMPLEX64)

#: What other dtypes become when written as TF.js weights; each such change is reported.
TFJS_WEIGHT_DOWNCASTS: dict[DType, DType] = {
    DType.FLOAT64: DType.FLOAT32,
    DType.FLOAT16: DType.FLOAT32,
    DType.BFLOAT16: DType.FLOAT32,
    DType.INT64: DType.INT32,
    DType.INT8: DType.INT32,
    DType.INT16: DType.INT32,
    DType.UINT8: DType.INT32,
    DType.UINT16: DType.INT32,
    DType.UINT32: DType.INT32,
    DType.UINT64: DType.INT32,
    DType.COMPLEX128: DType.COMPLEX64,
}
