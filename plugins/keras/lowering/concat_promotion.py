"""Keras 3 ``ops.concatenate`` of items of several dtypes, promoted as Keras promotes them.

Keras 3's TensorFlow backend converts each item to a tensor (a Python int list to int32, a float list to float32, a
saved ``np.array`` keeps its dtype: ``np.array([0.5])`` is float64), then casts every item to
``keras.src.backend.result_type`` of their dtypes and concatenates. Over bool, int32, int64, float32 and float64 that
promotion is the largest in ``bool < int32 < int64 < float32 < float64`` (measured, Keras 3.15:
``result_type("float32", "int64")`` is float32, ``("float32", "float64")`` float64). So:

- a float32 result: each item cast to float32 (constants by numpy, which rounds as TF's Cast does; int32 and bool
  tensors by a Cast; an int64 tensor, whose values TF.js holds as int32, is a gap);
- a float64 result: float32 tensors cast up exactly and float64 constants, held as a pair of float32 (the float64
  machinery of :mod:`.op_layers_tf_gaps`), the concatenation of the pairs' halves;
- integer results stay with :func:`.op_layers._concat` (int32 with int64: int64; int64 past int32: a gap).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import TensorArg
from .op_layers import OpCall

#: Keras 3's promotion over these dtypes: the largest item in this order.
_ORDER = (DType.BOOL, DType.INT32, DType.INT64, DType.FLOAT32, DType.FLOAT64)
_SAVED = {"bool": DType.BOOL, "int32": DType.INT32, "int64": DType.INT64, "float32": DType.FLOAT32,
          "float64": DType.FLOAT64}


def promoted_concat(c: OpCall, items: list[Any], concat: Any) -> Value | None:
    """The concatenation of ``items`` where Keras promotes them to a float dtype some item lacks; None where no float
    promotion applies (the caller lowers it). ``concat(values)`` concatenates Values of one dtype."""
    dtypes = [_item_dtype(c, item) for item in items]
    if None in dtypes:
        return None
    result = max(dtypes, key=_ORDER.index)
    if result not in (DType.FLOAT32, DType.FLOAT64) or set(dtypes) == {result}:
        return None
    if result == DType.FLOAT32:
        return concat([_as_float32(c, item, dtype, i) for i, (item, dtype) in enumerate(zip(items, dtypes))])
    return _float64_concat(c, items, dtypes, concat)


def _item_dtype(c: OpCall, item: Any) -> DType | None:
    """The dtype Keras's backend gives an item (None: one this module leaves to the caller)."""
    if isinstance(item, TensorArg):
        dtype = c.ctx.inputs[item.index].dtype
        recorded = c.ctx.keras_dtypes[item.index] if item.index < len(c.ctx.keras_dtypes) else None
        if recorded is not None and recorded != dtype:  # integers held as another dtype (uint8 as int32, untracked)
            return None
        return dtype if dtype in _ORDER else None
    if isinstance(item, dict):
        config = item.get("config") if item.get("class_name") in ("__tensor__", "__numpy__") else None
        return _SAVED.get(str((config or {}).get("dtype"))) if isinstance(config, dict) else None
    array = np.asarray(item) if isinstance(item, (list, int, float, bool)) else None
    if array is None or array.dtype.kind not in "bif":
        return None
    return {"b": DType.BOOL, "i": DType.INT32, "f": DType.FLOAT32}[array.dtype.kind]


def _constant(c: OpCall, item: Any, dtype: DType, index: int) -> np.ndarray:
    """A constant item's values in its own dtype (a saved array's ``value``, or a Python list)."""
    value = item.get("config", {}).get("value") if isinstance(item, dict) else item
    try:
        return np.asarray(value, dtype=dtype.numpy)
    except (TypeError, ValueError, OverflowError):
        raise c.gap(f"item {index} of 'values' is not a {dtype.value} array") from None


def _as_float32(c: OpCall, item: Any, dtype: DType, index: int) -> Value:
    if isinstance(item, TensorArg):
        value = c.ctx.inputs[item.index]
        if dtype == DType.FLOAT32:
            return value
        if dtype == DType.INT64:
            raise c.gap(f"item {index} of 'values' is an int64 tensor Keras casts to float32 (TF.js holds its values "
                        "as int32)")
        return c.ctx.op("Cast", [value], {"SrcT": dtype, "DstT": DType.FLOAT32, "Truncate": False},
                        dtype=DType.FLOAT32, shape=value.shape, label=f"values_{index}_float32")
    return c.ctx.const(_constant(c, item, dtype, index).astype(np.float32), f"values_{index}_float32")


def _float64_concat(c: OpCall, items: list[Any], dtypes: list[DType], concat: Any) -> Value:
    """float32 tensors and float32/float64/int constants concatenated in float64: held as a pair of float32 (each
    tensor exact with a zero low half, each constant split), so later float64 steps start from Keras's values."""
    from .op_layers_tf_gaps import _held_pair, _operand

    highs, lows = [], []
    for i, (item, dtype) in enumerate(zip(items, dtypes)):
        if isinstance(item, TensorArg) and dtype != DType.FLOAT32:
            raise c.gap(f"item {i} of 'values' is a {dtype.value} tensor Keras casts to float64")
        name = f"values_{i}"
        c.arguments[name] = item if isinstance(item, TensorArg) else _constant(c, item, dtype, i).astype(np.float64)
        high, low = _operand(c, name)
        highs.append(high)
        lows.append(low if low is not None else c.ctx.op("ZerosLike", [high], shape=high.shape, label=f"{name}_lo"))
    return _held_pair(c, concat(highs), concat(lows))
