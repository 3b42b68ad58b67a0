"""int32 ``Pow`` as TensorFlow computes it: repeated squaring in int32, every product wrapped modulo 2^32.

TF.js's int32 ``Pow`` goes through a float power: cpu's ``Math.pow`` loses the low bits past 2^53 (3^40 gives
689956864, TF 689956897), wasm's saturates to INT32_MIN past 2^31 (50000^2), webgl's loses bits past 2^24. Each such
``Pow`` becomes square-and-multiply over the exponent's bits 0..30 (the bits a non-negative int32 has), in ops every
backend computes exactly on int32:

- a product ``a·b`` is :func:`~tfjsconv.narrow_ints.int32_product`'s: ``b = h·2^16 + l`` with ``|h|, |l| <= 2^15``,
  ``a·l + (a·h)·2^16``, each product below 2^47, which cpu's float64 multiply holds before its int32 store wraps it,
  and wasm's int32 multiply wraps natively; ``|l| <= |b|``, so on webgl (int32 held as float32) a result below 2^24
  is exact, as today's ``Pow`` is, a negative base included;
- bit ``i`` of the exponent is ``FloorMod(e, 2^(i+1)) >= 2^i`` (FloorMod of int32 is exact on every backend; wasm's
  FloorDiv divides in float32), bit 30 ``e >= 2^30``; the result takes ``x^(2^i)`` where the bit is set (SelectV2).

A run-time exponent costs 30 squarings and 30 products: 524 ops and 34 constants in place of one ``Pow`` (a constant
base folds most of them at ``--optimization_level`` 1). A constant exponent uses only the bits it has (``x ** 13``:
3 squarings, 2 products, 44 ops), one that is the same everywhere without any select.

Negative exponents: TF raises ("Integers to negative integer powers are not allowed"), so it has no value to match;
the rewrite gives what TF.js's cpu ``Pow`` gives today, the power truncated toward zero: 1 for base 1, ±1 for base
-1 (by the exponent's parity), 0 otherwise (0 to a negative power too, where cpu's ``Math.pow`` gives Infinity, stored
as 0). wasm gave INT32_MIN for ``0 ** -1``.

The graphs the ONNX frontend builds (``graph.metadata["onnx"]``) are left alone: onnxruntime's int32 ``Pow`` computes
in double and casts, giving INT32_MIN past 2^31 (as TF.js's wasm does), not TF's wrap-around.

Casts, Round and Mul are named exact by construction (``GUARDED_SUFFIX``): the special-values line no longer names
``Pow`` int32 on cpu and wasm; webgl's int32 sums past 2^24 still lose bits, and the ``AddV2``/``Sub`` left unguarded
say so for webgl.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from ..narrow_ints import int32_signed_halves, int32_times_halves
from ..ops.special_values import GUARDED_SUFFIX
from . import Pass, PassResult
from .graph_edit import const_array, rewrite

#: The exponent bits a non-negative int32 has.
EXPONENT_BITS = 31


class _Builder:
    """Adds the helper nodes of one rewritten ``Pow`` (``<pow>/<label>``), constants shared."""

    def __init__(self, graph: Graph, node: Node) -> None:
        self.graph, self.node = graph, node
        self.consts: dict[tuple, Value] = {}

    def const(self, array: np.ndarray, label: str) -> Value:
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self.consts:
            self.consts[key] = self.graph.const(array, name=f"{self.node.name}/{label}")
        return self.consts[key]

    def int(self, number: int) -> Value:
        return self.const(np.asarray(number, np.int32), f"c{number}")

    def op(self, kind: str, inputs: list[Value], label: str, dtype: DType = DType.INT32, *,
           guarded: bool = False, attrs: dict | None = None, shape: tuple | None = None) -> Value:
        if attrs is None:
            attrs = {"T": inputs[0].dtype or DType.INT32} if kind not in ("LogicalOr", "LogicalAnd") else {}
        name = f"{self.node.name}/{label}{GUARDED_SUFFIX if guarded else ''}"
        return self.graph.add_op(kind, inputs, attrs, name=name, dtype=dtype, shape=shape)

    def split(self, b: Value, label: str) -> tuple[Value, Value]:
        """``b``'s signed halves (:func:`~tfjsconv.narrow_ints.int32_signed_halves`)."""
        return int32_signed_halves(self.graph, b, f"{self.node.name}/{label}")

    def times(self, a: Value, halves: tuple[Value, Value], label: str, shape: tuple | None) -> Value:
        """``a·b`` wrapped modulo 2^32, from ``b``'s :meth:`split` (:func:`~tfjsconv.narrow_ints.int32_times_halves`)."""
        return int32_times_halves(self.graph, a, halves, f"{self.node.name}/{label}", shape)


def _int32_pow(node: Node) -> bool:
    dtype = node.attrs.get("T") or node.output(0).dtype
    return node.op == "Pow" and dtype == DType.INT32 and len(node.inputs) == 2


def _bits(b: _Builder, exponent: Value, known: np.ndarray | None, count: int) -> list[Value]:
    """The exponent's bits 0..count-1 as bool tensors (constants for a constant exponent)."""
    if known is not None:
        wide = known.astype(np.int64) % (1 << EXPONENT_BITS)
        return [b.const(((wide >> i) & 1).astype(bool), f"bit{i}") for i in range(count)]
    bits = []
    for i in range(count):
        if i == EXPONENT_BITS - 1:
            part = exponent
        else:
            part = b.op("FloorMod", [exponent, b.int(1 << (i + 1))], f"exponent_mod{i}", shape=exponent.shape)
        bits.append(b.op("GreaterEqual", [part, b.int(1 << i)], f"bit{i}", DType.BOOL, shape=exponent.shape))
    return bits


def _uniform_power(b: _Builder, x: Value, n: int) -> tuple[str, list[Value]]:
    """``x ** n`` for one constant ``n >= 0``: (op, inputs) of the last node, which the Pow becomes."""
    if n == 0:
        return "OnesLike", [x]
    result, square, step = None, x, 0
    while True:
        halves = b.split(square, f"square{step}") if n > 1 or (n & 1 and result is not None) else None
        if n & 1:
            result = square if result is None else b.times(result, halves, f"times{step}", x.shape)
        n >>= 1
        if not n:
            break
        step += 1
        square = b.times(square, halves, f"square{step}", x.shape)
    if result is x:
        return "Identity", [x]
    return result.producer.op, result.producer.inputs  # the last product's AddV2, taken over by the Pow node


def _bitwise_power(b: _Builder, x: Value, exponent: Value, known: np.ndarray | None, out_shape) -> Value:
    """``x ** e`` over the exponent's bits (all 31, or those a constant non-negative exponent has)."""
    count = EXPONENT_BITS if known is None or known.min() < 0 else max(int(known.max()).bit_length(), 1)
    bits = _bits(b, exponent, known, count)
    result = b.op("SelectV2", [bits[0], x, b.int(1)], "select0", shape=out_shape)
    square, halves = x, b.split(x, "square0") if count > 1 else None
    for i in range(1, count):
        square = b.times(square, halves, f"square{i}", x.shape)
        halves = b.split(square, f"square{i}")
        product = b.times(result, halves, f"times{i}", out_shape)
        result = b.op("SelectV2", [bits[i], product, result], f"select{i}", shape=out_shape)
    return result


def _defined(b: _Builder, x: Value, exponent: Value, known: np.ndarray | None) -> Value | None:
    """Where the power is kept: a non-negative exponent or a base of ±1 (elsewhere 0, TF.js cpu's truncated power
    of a negative exponent; TF raises). None where the exponent is a constant without negative values."""
    if known is not None and known.min() >= 0:
        return None
    non_negative = b.op("GreaterEqual", [exponent, b.int(0)], "exponent_non_negative", DType.BOOL,
                        shape=exponent.shape)
    unit = b.op("LogicalOr", [b.op("Equal", [x, b.int(1)], "base_one", DType.BOOL, shape=x.shape),
                              b.op("Equal", [x, b.int(-1)], "base_minus_one", DType.BOOL, shape=x.shape)],
                "base_unit", DType.BOOL, shape=x.shape)
    return b.op("LogicalOr", [non_negative, unit], "defined", DType.BOOL)


def lower_int32_pow(graph: Graph, node: Node) -> None:
    """Rewrite one int32 ``Pow`` node in place (its name and output kept) into exact int32 ops."""
    x, exponent = node.inputs
    b, out_shape = _Builder(graph, node), node.output(0).shape
    known = const_array(exponent)
    if known is not None:
        known = np.asarray(known).astype(np.int64)
        if known.size == 0:
            known = None
    if known is not None and known.ndim == 0 and known >= 0:
        op, inputs = _uniform_power(b, x, int(known))
        rewrite(node, op, inputs, {"T": DType.INT32})
        return
    result = _bitwise_power(b, x, exponent, known, out_shape)
    defined = _defined(b, x, exponent, known)
    if defined is None:
        rewrite(node, result.producer.op, result.producer.inputs, {"T": DType.INT32})
    else:
        rewrite(node, "SelectV2", [defined, result, b.int(0)], {"T": DType.INT32})


class Int32Power(Pass):
    """int32 ``Pow`` (not float, not the ONNX frontend's) → exact square-and-multiply in int32."""

    name = "int32_power"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        if "onnx" in graph.metadata:  # onnxruntime's int32 pow saturates: the frontend keeps TF.js's Pow
            return PassResult(0)
        nodes = [n for n in graph.nodes if _int32_pow(n)]
        for node in nodes:
            lower_int32_pow(graph, node)
        return PassResult(len(nodes))
