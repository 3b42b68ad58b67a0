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
    """``a · b`` of int32 tensors wrapped modulo 2^32 as TensorFlow's int32 Mul gives it: exact on cpu and wasm for
    every int32 (TF.js's cpu Mul multiplies in float64, inexact past 2^53, before the int32 store wraps), and on webgl
    (int32 held as float32) wherever ``|a · b| < 2^24``, as a plain Mul. ``b`` is split into signed halves
    (:func:`int32_signed_halves`), ``a · l + (a · h) · 2^16``: each product below 2^47, and, with ``|l| <= |b|`` and
    ``h · 2^16`` a multiple of 2^16, each part of a small product small on webgl. (Until session 21 both operands
    were split into an unsigned low half, ``-5 = -1 · 2^16 + 65531``: webgl then gave 0 for ``-5 · -5``.)"""
    if a.dtype != DType.INT32 or b.dtype != DType.INT32:
        raise ValueError(f"int32_product() takes int32 values, not {a.dtype.value} and {b.dtype.value}")
    return int32_times_halves(graph, a, int32_signed_halves(graph, b, f"{name}/b"), name, shape)


def int32_signed_halves(graph: Graph, value: Value, name: str) -> tuple[Value, Value]:
    """``(h, l)`` with ``value = h · 2^16 + l`` modulo 2^32, ``|h|, |l| <= 2^15`` and ``|l| <= |value|``, on every
    backend: ``h`` the rounded float32 ``value / 2^16`` (the float32 cast is off by at most 2^7, far below half of
    2^16), ``l = value - h · 2^16`` in int32. The casts and the scaling are exact (named guarded)."""
    from tfjsconv.ops.special_values import GUARDED_SUFFIX

    shape = value.shape

    def op(kind: str, inputs: list[Value], label: str, dtype: DType, attrs: dict, guarded: bool = True) -> Value:
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{label}{GUARDED_SUFFIX if guarded else ''}",
                            dtype=dtype, shape=shape)

    def cast(v: Value, source: DType, target: DType, label: str) -> Value:
        return op("Cast", [v], label, target, {"SrcT": source, "DstT": target, "Truncate": False})

    scaled = op("Mul", [cast(value, DType.INT32, DType.FLOAT32, "as_float"),
                        graph.const(np.asarray(1.0 / (1 << 16), np.float32), name=f"{name}/inverse_half")],
                "scaled", DType.FLOAT32, {"T": DType.FLOAT32})
    high = cast(op("Round", [scaled], "rounded", DType.FLOAT32, {"T": DType.FLOAT32}), DType.FLOAT32, DType.INT32,
                "high")
    shifted = op("Mul", [high, graph.const(np.asarray(1 << 16, np.int32), name=f"{name}/half")], "high_shifted",
                 DType.INT32, {"T": DType.INT32})
    return high, op("Sub", [value, shifted], "low", DType.INT32, {"T": DType.INT32}, guarded=False)


def int32_times_halves(graph: Graph, a: Value, halves: tuple[Value, Value], name: str,
                       shape: tuple | None = None) -> Value:
    """``a · b`` wrapped modulo 2^32 from ``b``'s :func:`int32_signed_halves` ``(h, l)``: ``a · l + (a · h) · 2^16``.
    The products are exact on cpu (below 2^47) and wasm (int32 wraps natively), named guarded; the sum, whose int32
    result webgl holds exactly only below 2^24, is not."""
    from tfjsconv.ops.special_values import GUARDED_SUFFIX

    high, low = halves

    def mul(x: Value, y: Value, label: str) -> Value:
        return graph.add_op("Mul", [x, y], {"T": DType.INT32}, name=f"{name}/{label}{GUARDED_SUFFIX}",
                            dtype=DType.INT32, shape=shape)

    half = graph.const(np.asarray(1 << 16, np.int32), name=f"{name}/half")
    return graph.add_op("AddV2", [mul(a, low, "by_low"), mul(mul(a, high, "by_high"), half, "by_high_shifted")],
                        {"T": DType.INT32}, name=f"{name}/product", dtype=DType.INT32, shape=shape)


def int32_halves(graph: Graph, value: Value, name: str) -> tuple[Value, Value]:
    """``(high, low)`` with ``value = high · 2^16 + low``, ``0 <= low < 2^16``, ``|high| <= 2^15``, exactly on every
    TF.js backend: ``low = FloorMod(value, 2^16)``, ``high`` the float32 quotient of the multiple ``value - low`` by
    2^16 (held exactly by float32). Both casts are of whole numbers float32 and int32 hold: exact on every backend,
    named as guarded so the special-values line does not name Cast for them."""
    from tfjsconv.ops.special_values import GUARDED_SUFFIX

    def op(kind: str, inputs: list[Value], label: str, dtype: DType, attrs: dict) -> Value:
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{label}", dtype=dtype, shape=value.shape)

    def const(number: int, dtype: type, label: str) -> Value:
        return graph.const(np.asarray(number, dtype), name=f"{name}/{label}")

    low = op("FloorMod", [value, const(1 << 16, np.int32, "half")], "low", DType.INT32, {"T": DType.INT32})
    multiple = op("Sub", [value, low], "multiple", DType.INT32, {"T": DType.INT32})
    as_float = op("Cast", [multiple], f"as_float{GUARDED_SUFFIX}", DType.FLOAT32,
                  {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False})
    ratio = op("RealDiv", [as_float, const(1 << 16, np.float32, "half_float")], "ratio", DType.FLOAT32,
               {"T": DType.FLOAT32})
    high = op("Cast", [ratio], f"high{GUARDED_SUFFIX}", DType.INT32,
              {"SrcT": DType.FLOAT32, "DstT": DType.INT32, "Truncate": False})
    return high, low


#: :func:`truncated_mean` keeps its partial sums within int32 for counts below this (``rest < n · 2^17``).
EXACT_MEAN_COUNT_LIMIT = 1 << 14
#: The float32 first quotients of :func:`exact_floor_div` are clipped to ±(2^31 - 1024), exact in float32.
_INT32_CLIP = float(2**31 - 1024)


def exact_floor_div(graph: Graph, x: Value, y: Value, name: str) -> Value:
    """``x // y`` of int32 tensors, exact over all of int32: TF.js's wasm FloorDiv divides in float32 (wrong from
    2^24 on); FloorMod is exact. A first quotient ``q = round((x - x mod y) / y)`` in float32 (clipped inside int32)
    is within ``|q|·2^-22`` (or the clip) of the true one; the rest ``x - x mod y - q·y``, exact in int32's wrapping
    arithmetic since it is small, divided by ``y`` in float32 is exactly the correction."""
    from tfjsconv.ops.special_values import GUARDED_SUFFIX

    shape = x.shape

    def op(kind: str, inputs: list[Value], label: str, dtype: DType = DType.INT32, attrs: dict | None = None) -> Value:
        return graph.add_op(kind, inputs, attrs or {"T": inputs[0].dtype}, name=f"{name}/{label}", dtype=dtype,
                            shape=shape)

    def cast(value: Value, dtype: DType, label: str) -> Value:  # whole numbers in range: exact (guarded)
        return op("Cast", [value], f"{label}{GUARDED_SUFFIX}", dtype,
                  {"SrcT": value.dtype, "DstT": dtype, "Truncate": False})

    def rounded(ratio: Value, label: str, clip: bool = False) -> Value:
        whole = op("Round", [ratio], f"{label}_rounded", DType.FLOAT32)
        if clip:  # a float32 of 2^31 would not cast into int32 alike on every backend (no NaN here: guarded)
            bounds = [graph.const(np.asarray(v, np.float32), name=f"{name}/{label}_{side}_bound")
                      for v, side in ((-_INT32_CLIP, "low"), (_INT32_CLIP, "high"))]
            low = op("Maximum", [whole, bounds[0]], f"{label}_low{GUARDED_SUFFIX}", DType.FLOAT32)
            whole = op("Minimum", [low, bounds[1]], f"{label}_high{GUARDED_SUFFIX}", DType.FLOAT32)
        return cast(whole, DType.INT32, label)

    divisor = cast(y, DType.FLOAT32, "divisor")
    remainder = op("FloorMod", [x, y], "remainder")
    approx = op("Sub", [cast(x, DType.FLOAT32, "numerator"), cast(remainder, DType.FLOAT32, "remainder_float")],
                "multiple", DType.FLOAT32)
    first = rounded(op("RealDiv", [approx, divisor], "first_ratio", DType.FLOAT32), "first_quotient", clip=True)
    multiple = op("Sub", [x, remainder], "exact_multiple")  # wraps in int32 only where the rest is small
    rest = op("Sub", [multiple, op("Mul", [first, y], "first_product")], "rest")
    correction = rounded(op("RealDiv", [cast(rest, DType.FLOAT32, "rest_float"), divisor], "rest_ratio",
                            DType.FLOAT32), "correction")
    return op("AddV2", [first, correction], "floor_div")


def truncated_mean(graph: Graph, high_sum: Value, low_sum: Value, count: int | Value, name: str) -> Value:
    """TF's integer mean, exact and truncated toward zero (TF's sum does not wrap), from the sums ``Σh``, ``Σl`` of the
    :func:`int32_halves` ``h · 2^16 + l`` of ``count`` values (below :data:`EXACT_MEAN_COUNT_LIMIT`): ``Σh = qh·n +
    rh``, ``mean = qh · 2^16 + floor((rh · 2^16 + Σl) / n)``, every partial sum within int32, plus one where it is
    negative and not a whole number. ``count``: a number, or an int32 scalar computed at run time."""
    shape = high_sum.shape

    def op(kind: str, inputs: list[Value], label: str, dtype: DType = DType.INT32) -> Value:
        attrs = {"T": inputs[0].dtype} if kind != "LogicalAnd" else {}
        if kind == "NotEqual":
            attrs["incompatible_shape_error"] = True
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{label}", dtype=dtype, shape=shape)

    def const(number: int, label: str) -> Value:
        return graph.const(np.asarray(number, np.int32), name=f"{name}/{label}")

    n = count if isinstance(count, Value) else const(count, "count")
    shift = const(1 << 16, "shift")
    high_rest = op("FloorMod", [high_sum, n], "high_rest")
    rest = op("AddV2", [op("Mul", [high_rest, shift], "high_rest_shifted"), low_sum], "rest")  # below n · 2^17
    floored = op("AddV2", [op("Mul", [exact_floor_div(graph, high_sum, n, f"{name}/high_mean"), shift],
                              "high_mean_shifted"), exact_floor_div(graph, rest, n, f"{name}/rest_mean")],
                 "floored_mean")
    inexact = op("NotEqual", [op("FloorMod", [rest, n], "remainder"), const(0, "zero")], "inexact", DType.BOOL)
    negative = op("Less", [floored, const(0, "zero_bound")], "negative", DType.BOOL)
    rounds_up = op("LogicalAnd", [inexact, negative], "rounds_up", DType.BOOL)
    up = op("AddV2", [floored, const(1, "one")], "up")
    return graph.add_op("SelectV2", [rounds_up, up, floored], {"T": DType.INT32}, name=f"{name}/truncated_mean",
                        dtype=DType.INT32, shape=shape)
