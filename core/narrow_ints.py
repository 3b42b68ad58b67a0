"""8- and 16-bit integers computed in int32, wrapped around as TensorFlow wraps them.

TF.js holds every integer as int32, so a uint8 ``200 + 100`` is 300 there and 44 in TensorFlow (and Keras). Sums,
differences and products of such integers are exact modulo 2^32 in int32 (both TF.js backends wrap int32 results
modulo 2^32), so reducing them modulo 2^bits after each operation gives TensorFlow's value exactly.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value

#: The narrow integer dtypes: (lowest value, bits).
NARROW_INTS: dict[DType, tuple[int, int]] = {
    DType.UINT8: (0, 8), DType.INT8: (-128, 8), DType.UINT16: (0, 16), DType.INT16: (-32768, 16)}


def is_narrow(dtype: object) -> bool:
    """Whether ``dtype`` is an 8- or 16-bit integer dtype (held as int32 by TF.js)."""
    return isinstance(dtype, DType) and dtype in NARROW_INTS


def wrapped(graph: Graph, value: Value, dtype: DType, name: str) -> Value:
    """The int32 ``value`` reduced into ``dtype``'s range as TensorFlow's wrap-around does:
    ``FloorMod(value - lowest, 2^bits) + lowest``."""
    if value.dtype != DType.INT32:
        raise ValueError(f"wrapped() takes int32 values, not {value.dtype.value}")
    lowest, bits = NARROW_INTS[dtype]

    def scalar(number: int, label: str) -> Value:
        return graph.const(np.asarray(number, np.int32), name=f"{name}/{label}")

    def op(kind: str, a: Value, b: Value, label: str) -> Value:
        return graph.add_op(kind, [a, b], {"T": DType.INT32}, name=f"{name}/{label}", dtype=DType.INT32,
                            shape=value.shape)

    shifted = value if lowest == 0 else op("Sub", value, scalar(lowest, "lowest"), "shifted")
    folded = op("FloorMod", shifted, scalar(1 << bits, "modulus"), "wrapped")
    return folded if lowest == 0 else op("AddV2", folded, scalar(lowest, "lowest_back"), "in_range")


def int32_product(graph: Graph, a: Value, b: Value, name: str, shape: tuple | None = None) -> Value:
    """``a · b`` of int32 tensors wrapped modulo 2^32 as TensorFlow's int32 Mul gives it, on every TF.js backend:
    TF.js's cpu Mul multiplies in float64 (inexact past 2^53, before the int32 store wraps). Each operand is split
    into 16-bit halves ``high · 2^16 + low`` (``low = FloorMod(x, 2^16)``, ``high`` from the exact float32 quotient of
    ``x - low``); ``low_a · low_b + (high_a · low_b + low_a · high_b) · 2^16`` has every product below 2^47."""
    if a.dtype != DType.INT32 or b.dtype != DType.INT32:
        raise ValueError(f"int32_product() takes int32 values, not {a.dtype.value} and {b.dtype.value}")

    def const(array: np.ndarray, label: str) -> Value:
        return graph.const(array, name=f"{name}/{label}")

    def op(kind: str, inputs: list[Value], label: str, dtype: DType = DType.INT32, out_shape: tuple | None = None,
           attrs: dict | None = None) -> Value:
        return graph.add_op(kind, inputs, attrs or {"T": inputs[0].dtype}, name=f"{name}/{label}", dtype=dtype,
                            shape=out_shape if out_shape is not None else shape)

    def cast(v: Value, dtype: DType, label: str) -> Value:
        return op("Cast", [v], label, dtype, v.shape, {"SrcT": v.dtype, "DstT": dtype, "Truncate": False})

    half = const(np.asarray(1 << 16, np.int32), "half")
    high_a, low_a = int32_halves(graph, a, f"{name}/a")
    high_b, low_b = int32_halves(graph, b, f"{name}/b")
    cross = op("AddV2", [op("Mul", [high_a, low_b], "high_low"), op("Mul", [low_a, high_b], "low_high")], "cross")
    return op("AddV2", [op("Mul", [low_a, low_b], "low_low"), op("Mul", [cross, half], "cross_shifted")], "product")


def int32_halves(graph: Graph, value: Value, name: str) -> tuple[Value, Value]:
    """``(high, low)`` with ``value = high · 2^16 + low``, ``0 <= low < 2^16``, ``|high| <= 2^15``, exactly on every
    TF.js backend: ``low = FloorMod(value, 2^16)``, ``high`` the float32 quotient of the multiple ``value - low`` by
    2^16 (held exactly by float32)."""
    def op(kind: str, inputs: list[Value], label: str, dtype: DType, attrs: dict) -> Value:
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{label}", dtype=dtype, shape=value.shape)

    def const(number: int, dtype: type, label: str) -> Value:
        return graph.const(np.asarray(number, dtype), name=f"{name}/{label}")

    low = op("FloorMod", [value, const(1 << 16, np.int32, "half")], "low", DType.INT32, {"T": DType.INT32})
    multiple = op("Sub", [value, low], "multiple", DType.INT32, {"T": DType.INT32})
    as_float = op("Cast", [multiple], "as_float", DType.FLOAT32,
                  {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False})
    ratio = op("RealDiv", [as_float, const(1 << 16, np.float32, "half_float")], "ratio", DType.FLOAT32,
               {"T": DType.FLOAT32})
    high = op("Cast", [ratio], "high", DType.INT32, {"SrcT": DType.FLOAT32, "DstT": DType.INT32, "Truncate": False})
    return high, low
