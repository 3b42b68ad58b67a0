"""TF's truncating integer arithmetic in the ops TF.js has, which floor.

Measured TF (``tf.raw_ops``) against TF.js 4.22 on cpu and wasm on int32 and float32
(tests/test_tf_rewrites.py keeps the ops that differ, with INT_MIN, ±Inf, NaN and -0):

- ``Mod`` (int and float) truncates in TF (sign of the dividend) and floors in TF.js;
- ``Div`` on integers truncates in TF (-7 / 2 = -3) and floors in TF.js (-4); so does ``RealDiv``
  (TF has no CPU kernel for integer RealDiv; the ONNX frontend emits it for ONNX's truncating Div);
- ``TruncateDiv`` and ``TruncateMod`` are missing from TF.js;
- ``Mean`` on integers truncates in TF and returns a float32 mean in TF.js.

The other division ops agree on ordinary values (RealDiv on floats, integer FloorDiv/FloorMod); float
``FloorDiv``/``FloorMod`` differ at ±Inf divisors and tiny quotients, which the
``float_floor_division`` pass rewrites (it also rewrites the float FloorMod emitted here).

Integers: TF.js's integer ``Abs`` goes through float32 (``|16777217|`` is 16777216, ``|INT_MIN|``
wraps), so the integer rewrites never take ``|a|``. Flooring and truncating differ by one step
exactly where the floored remainder ``r = floormod(a, b)`` is non-zero with a sign other than a's:
``k = floordiv(|sign(r) − sign(a)|, 2)`` is 1 there and 0 elsewhere, and
``truncmod = r − k·b``, ``truncdiv = floordiv(a, b) + k`` (exact on cpu for every int32; on wasm
only as exact as TF.js's own FloorDiv, which divides in float32 beyond 2^24).

Floats: ``truncmod(a, b) = sign(a)·floormod(|a|, |b|)`` (TF.js's FloorMod of two non-negative
numbers is the plain remainder; ±Inf and NaN give what C's fmod gives), with a zero remainder
written ``a·0`` so that it keeps a's sign (``fmod(-6, 3)`` is -0); ``truncdiv = sign(q)·floor(|q|)``
of the real quotient ``q``.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from ..narrow_ints import EXACT_MEAN_COUNT_LIMIT, int32_halves, truncated_mean
from .graph_edit import rewrite
from .shapes import infer_shapes, is_static

INTEGERS = frozenset({DType.INT32, DType.INT64, DType.INT16, DType.INT8, DType.UINT8})


class _Ops:
    """Adds ``<node>/<label>`` helper nodes of ``node``'s dtype."""

    def __init__(self, graph: Graph, node: Node, dtype: DType) -> None:
        self.graph, self.node, self.dtype = graph, node, dtype

    def __call__(self, op: str, inputs: list[Value], label: str, *, attrs: dict | None = None) -> Value:
        return self.graph.add_op(op, inputs, {"T": inputs[0].dtype or self.dtype, **(attrs or {})},
                                 name=f"{self.node.name}/{label}", dtype=self.dtype)


def _dtype(node: Node) -> DType | None:
    dtype = node.attrs.get("T") or node.output(0).dtype
    return dtype if isinstance(dtype, DType) else None


def _floor_overshoot(graph: Graph, node: Node, dtype: DType) -> tuple[Value, Value]:
    """(``floormod(a, b)``, ``k``): ``k`` is 1 where floor and truncation differ by a step, else 0."""
    a, b = node.inputs[:2]
    ops = _Ops(graph, node, dtype)
    remainder = ops("FloorMod", [a, b], "floor_mod")
    gap = ops("Sub", [ops("Sign", [remainder], "sign_remainder"), ops("Sign", [a], "sign_a")], "sign_gap")
    two = graph.const(np.asarray(2, dtype.numpy), name=f"{node.name}/two")
    return remainder, ops("FloorDiv", [ops("Abs", [gap], "abs_gap"), two], "overshoot")


def truncate_mod(graph: Graph, node: Node, dtype: DType) -> None:
    a, b = node.inputs[:2]
    ops = _Ops(graph, node, dtype)
    if dtype in INTEGERS:
        remainder, overshoot = _floor_overshoot(graph, node, dtype)
        rewrite(node, "Sub", [remainder, ops("Mul", [overshoot, b], "step")], {"T": dtype})
        return
    remainder = ops("FloorMod", [ops("Abs", [a], "abs_a"), ops("Abs", [b], "abs_b")], "remainder")
    signed = ops("Mul", [ops("Sign", [a], "sign"), remainder], "signed")
    zero = graph.const(np.asarray(0, dtype.numpy), name=f"{node.name}/zero")
    is_zero = graph.add_op("Equal", [remainder, zero], {"T": dtype}, name=f"{node.name}/is_zero",
                           dtype=DType.BOOL)
    rewrite(node, "SelectV2", [is_zero, ops("Mul", [a, zero], "signed_zero"), signed], {"T": dtype})


def truncate_div(graph: Graph, node: Node, dtype: DType) -> None:
    a, b = node.inputs[:2]
    ops = _Ops(graph, node, dtype)
    if dtype in INTEGERS:
        _, overshoot = _floor_overshoot(graph, node, dtype)
        rewrite(node, "AddV2", [ops("FloorDiv", [a, b], "floor_div"), overshoot], {"T": dtype})
        return
    quotient = ops("RealDiv", [a, b], "quotient")
    magnitude = ops("Floor", [ops("Abs", [quotient], "abs")], "floor")
    rewrite(node, "Mul", [ops("Sign", [quotient], "sign"), magnitude], {"T": dtype})


def integer_mean(graph: Graph, node: Node, dtype: DType, shapes: dict) -> None:
    """TF's integer mean truncates toward zero and does not wrap its sum (``[2^31 - 1, 2^31 - 1, 5]`` averages to
    1431655766). For a count below ``EXACT_MEAN_COUNT_LIMIT`` (int32/int64, which TF.js holds as int32) it is built
    exactly from the sums of the values' 16-bit halves (:func:`tfjsconv.narrow_ints.truncated_mean`); for larger ones
    ``Sum`` divided (truncating) by the number of elements reduced, which wraps where the sum leaves int32. A count
    known only at run time selects between the two there."""
    if dtype not in (DType.INT32, DType.INT64):
        _narrow_mean_in_int32(graph, node, dtype, shapes)
        return
    x, axes = node.inputs[:2]
    ops = _Ops(graph, node, dtype)
    sum_attrs = {k: v for k, v in node.attrs.items() if k != "T"}
    out_shape, in_shape = shapes.get(node.output(0)), shapes.get(x)
    known = is_static(in_shape) and is_static(out_shape) and np.prod(out_shape, dtype=np.int64) > 0
    reduced = int(np.prod(in_shape, dtype=np.int64) // np.prod(out_shape, dtype=np.int64)) if known else 0
    wide = dtype in (DType.INT32, DType.INT64) and x.dtype in (DType.INT32, DType.INT64, None)
    total = ops("Sum", [x, axes], "sum", attrs=sum_attrs)
    if known:
        count = graph.const(np.asarray(reduced, dtype.numpy), name=f"{node.name}/count")
    else:
        count = _run_time_count(graph, node, x, total, ops)
    if not wide or known and not 0 < reduced < EXACT_MEAN_COUNT_LIMIT:
        rewrite(node, "TruncateDiv", [total, count], {"T": dtype})
        truncate_div(graph, node, dtype)
        return
    high, low = int32_halves(graph, x, f"{node.name}/halves")
    sums = [ops("Sum", [v, axes], f"{label}_sum", attrs=sum_attrs) for v, label in ((high, "high"), (low, "low"))]
    exact = truncated_mean(graph, sums[0], sums[1], reduced if known else count, f"{node.name}/exact")
    if known:
        rewrite(node, "Identity", [exact], {"T": DType.INT32})
        return
    # a run-time count: exact below the limit; from it on, the sum divided (its halves' sums could leave int32)
    plain = graph.add_op("TruncateDiv", [total, count], {"T": dtype}, name=f"{node.name}/plain", dtype=dtype)
    truncate_div(graph, plain.producer, dtype)
    limit = graph.const(np.asarray(EXACT_MEAN_COUNT_LIMIT, np.int32), name=f"{node.name}/exact_limit")
    small = graph.add_op("Less", [count, limit], {"T": DType.INT32}, name=f"{node.name}/exact_count", dtype=DType.BOOL)
    rewrite(node, "SelectV2", [small, exact, plain], {"T": DType.INT32})


def _narrow_mean_in_int32(graph: Graph, node: Node, dtype: DType, shapes: dict) -> None:
    """An int8/uint8/int16 mean is the int32 mean of the values cast back: TF's sum does not wrap into the narrow
    type (int8 ``[127] * 20`` averages to 127), and the mean of narrow values is always one of them. Before, the sum
    wrapped (int8 extremes gave 5 where TF gives 18; uint8 went through signed overshoots: 131 for 4) and a count
    known only at run time was refused."""
    x, axes = node.inputs[:2]
    wide = graph.add_op("Cast", [x], {"SrcT": dtype, "DstT": DType.INT32, "Truncate": False},
                        name=f"{node.name}/as_int32", dtype=DType.INT32, shape=x.shape)
    attrs = {**node.attrs, "T": DType.INT32}
    mean = graph.add_op("Mean", [wide, axes], attrs, name=f"{node.name}/int32", dtype=DType.INT32,
                        shape=node.output(0).shape)
    shapes[wide], shapes[mean] = shapes.get(x), shapes.get(node.output(0))
    integer_mean(graph, mean.producer, DType.INT32, shapes)
    rewrite(node, "Cast", [mean], {"SrcT": DType.INT32, "DstT": dtype, "Truncate": False})


def _run_time_count(graph: Graph, node: Node, x: Value, total: Value, ops: _Ops) -> Value:
    """The number of elements each mean reduces, at least 1 (held as int32, like every TF.js integer). An axis empty
    at run time makes it 0, and TF's mean over nothing is 0: the sum (0) divided by 1 gives it, where dividing by 0
    threw on wasm ("remainder by zero") and gave a stray quotient on cpu. Counted in int32, ``Size``'s type, then cast
    to an int64 mean's type."""
    counts = _Ops(graph, node, DType.INT32)
    size_of = {"out_type": DType.INT32}
    one = graph.const(np.asarray(1, np.int32), name=f"{node.name}/count_floor")
    sizes = [counts("Size", [v], label, attrs=size_of) for v, label in ((x, "size_in"), (total, "size_out"))]
    count = counts("FloorDiv", [sizes[0], counts("Maximum", [sizes[1], one], "size_out_floor")], "count")
    count = counts("Maximum", [count, one], "count_at_least_one")
    if ops.dtype == DType.INT32:
        return count
    return graph.add_op("Cast", [count], {"SrcT": DType.INT32, "DstT": ops.dtype, "Truncate": False},
                        name=f"{node.name}/count_as_mean_type", dtype=ops.dtype)


class TruncatingDivision(Pass):
    """``Mod``, ``TruncateMod``, ``TruncateDiv``, integer ``Div``/``RealDiv``/``Mean`` → TF's results in TF.js ops."""

    name = "truncating_division"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        shapes: dict | None = None
        count = 0
        for node in graph.nodes:
            dtype = _dtype(node)
            if dtype is None or len(node.inputs) < 2:
                continue
            if node.op in ("Mod", "TruncateMod"):
                truncate_mod(graph, node, dtype)
            elif node.op == "TruncateDiv" or (node.op in ("Div", "RealDiv") and dtype in INTEGERS):
                truncate_div(graph, node, dtype)
            elif node.op == "Mean" and dtype in INTEGERS:
                shapes = shapes if shapes is not None else infer_shapes(graph)
                integer_mean(graph, node, dtype, shapes)
            else:
                continue
            count += 1
        return PassResult(count)
