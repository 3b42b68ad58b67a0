"""ONNX element types as the IR (and TF.js) sees them, and the int64 -> int32 narrowing of weights.

TF.js tensors are float32, int32, bool, string or complex64, so every ONNX float becomes float32
and every integer int32. Constants are narrowed with a range check: a value outside int32 is an
error, never a silent wraparound.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError
from tfjsconv.ir import LazyArray

_INT32 = np.iinfo(np.int32)


def ir_dtype(np_dtype: np.dtype | None) -> DType | None:
    """The TF.js dtype a tensor of numpy dtype ``np_dtype`` has once converted."""
    if np_dtype is None:
        return None
    kind = np.dtype(np_dtype).kind
    # float8_e5m2 is the one 1-byte float ml_dtypes reports as kind "f": a Cast to it must round, so no float32.
    if (kind == "f" and np.dtype(np_dtype).itemsize >= 2) or np_dtype == np.dtype("V2"):  # V2: bfloat16
        return DType.FLOAT32
    if kind in "iu":
        return DType.INT32
    if kind == "b":
        return DType.BOOL
    if kind in "USO":
        return DType.STRING
    if kind == "c":
        return DType.COMPLEX64
    return None


#: ONNX ``TensorProto.DataType`` numbers -> numpy dtypes (the types onnx itself maps them to).
_NUMPY_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
                8: np.object_, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
                14: np.complex64, 15: np.complex128}
#: ... and those numpy lacks, by their ml_dtypes names (imported only for a model that uses one).
_ML_DTYPES = {16: "bfloat16", 17: "float8_e4m3fn", 18: "float8_e4m3fnuz", 19: "float8_e5m2", 20: "float8_e5m2fnuz",
              21: "uint4", 22: "int4", 23: "float4_e2m1fn", 24: "float8_e8m0fnu", 25: "uint2", 26: "int2",
              27: "float6_e2m3fn", 28: "float6_e3m2fn"}


def onnx_elem_to_numpy(elem_type: int) -> np.dtype | None:
    """numpy dtype of an ONNX ``TensorProto.DataType`` (None when undefined/unknown)."""
    if elem_type in _NUMPY_TYPES:
        return np.dtype(_NUMPY_TYPES[elem_type])
    name = _ML_DTYPES.get(elem_type)
    if name is None:
        return None
    import ml_dtypes

    kind = getattr(ml_dtypes, name, None)
    return np.dtype(kind) if kind is not None else None


def narrow(array: np.ndarray, what: str, notes: set[str] | None = None) -> np.ndarray:
    """``array`` in a dtype TF.js stores; integers are range-checked, float64/float16 recorded in ``notes``."""
    if isinstance(array, LazyArray):  # an ExternalArray: stay lazy
        if array.dtype.kind == "f" and array.dtype != np.float32:
            if notes is not None:
                notes.add(f"{array.dtype} weights stored as float32")
            return array.astype(np.float32)
        if array.dtype.kind not in "iu" or array.dtype == np.int32:
            return array
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind in "iu" and array.dtype != np.int32:
        if array.size:
            lo, hi = int(array.min()), int(array.max())
            if lo < _INT32.min or hi > _INT32.max:
                raise InputError(
                    f"{what} holds {array.dtype} values in [{lo}, {hi}], outside the int32 range TF.js supports",
                    hint="TF.js has no int64; change the model so the value fits in int32")
        return array.astype(np.int32)
    if kind == "f" and array.dtype != np.float32:
        if notes is not None:
            notes.add(f"{array.dtype} weights stored as float32")
        return array.astype(np.float32)
    return array
