"""Float64 comparisons with a constant float32 cannot hold, computed exactly as float64 compares.

TF.js has no float64: the writer stores a float64 ``Const`` as float32 (rounded to nearest) and a float64 model input
is fed float32 values. ``Greater(w, 0.1)`` in a float64 graph (a tf_keras model traced with ``--loader=tensorflow``,
a ``tf.function`` over a float64 ``TensorSpec``; an ONNX double model too) then compares float32's 0.1 with a fed
``0.1`` (``0.100000001490116``) that the source framework finds greater: every element 0 or 1 off, silently (12 of
18 checks of the session-27 repro, before this pass).

For an operand ``x`` whose values float32 holds exactly (a float64 input, or one reached from it only through
:data:`EXACT_OPS`) and a float64 constant ``c``, the comparison is exact on float32 bounds (:func:`float32_bound`):
``x > c`` is ``x > down(c)``, ``x <= c`` is ``x <= down(c)``, ``x >= c`` and ``x < c`` use ``up(c)`` (``c`` rounded
toward -inf and +inf; ``c`` itself where float32 holds it), ``x == c`` is ``up(c) <= x <= down(c)`` (never true
where float32 does not hold ``c``; NaN equal to none), ``x != c`` its ``LogicalNot``. A constant on the left is
mirrored (``c > x`` is ``x < c``). The bounds are float64 constants holding float32 values, which the writer narrows
exactly. An operand computed in float64 arithmetic (``maximum(x, 0.1)``, ``x * 3``) is left as it is: its float32
value may stand for a float64 one equal to ``c`` or for an exact one, so neither rounding is right for every input. The Keras lowering
compares its float32-held float64 tensors the same way (``plugins/keras/lowering/float64_compare.py``, which reuses
:func:`float32_bound`), and so do the ONNX comparison mappings (``plugins/onnx/ops/double_comparisons.py``): the ONNX
frontend holds doubles as float32 from the start, so this pass never sees an ONNX model's float64.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import const_array, rewrite

#: The orderings: the comparison with the operands swapped (``c > x`` is ``x < c``).
MIRRORED = {"Greater": "Less", "Less": "Greater", "GreaterEqual": "LessEqual", "LessEqual": "GreaterEqual"}
EQUALITIES = ("Equal", "NotEqual")
#: Ops whose float64 result holds float32 values exactly when every float operand does: they move values (reshapes,
#: slices, gathers, concatenations, tiles) or map a float32 value to a float32 value exactly (``Relu``, ``Neg``,
#: ``Abs``, ``Floor``..., ``Maximum``/``Minimum`` of two such operands).
EXACT_OPS = frozenset({
    "Identity", "Reshape", "Transpose", "ExpandDims", "Squeeze", "StridedSlice", "Slice", "GatherV2", "ConcatV2",
    "Pack", "Tile", "BroadcastTo", "Relu", "Floor", "Ceil", "Round", "Sign", "Neg", "Abs", "Maximum", "Minimum"})
#: Source dtypes a ``Cast`` to float64 turns into values float32 holds exactly (int32's past 2^24 it does not).
EXACT_CAST_SOURCES = frozenset({DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16, DType.BOOL, DType.INT8, DType.UINT8,
                                DType.INT16, DType.UINT16})
_FLOATS = frozenset({DType.FLOAT64, DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16})
#: How far back through exact ops an operand is followed (deeper: left as it is, as before this pass).
_MAX_DEPTH = 64


def float32_bound(c: np.ndarray, op: str) -> np.ndarray:
    """The float32 constant ``b`` with ``x op b == x op c`` for every float32 ``x`` (``c`` float64, ``op`` an
    ordering): ``c`` rounded toward -inf for ``>`` and ``<=``, toward +inf for ``>=`` and ``<`` (``c`` itself where
    float32 holds it; NaN stays NaN)."""
    c = np.asarray(c, np.float64)
    with np.errstate(over="ignore"):
        nearest = c.astype(np.float32)
    wide = nearest.astype(np.float64)
    if op in ("Greater", "LessEqual"):  # round down
        return np.where(wide > c, np.nextafter(nearest, np.float32(-np.inf)), nearest).astype(np.float32)
    return np.where(wide < c, np.nextafter(nearest, np.float32(np.inf)), nearest).astype(np.float32)


def held_by_float32(array: np.ndarray) -> bool:
    """Whether float32 holds every value of ``array`` (NaN included)."""
    with np.errstate(over="ignore"):
        narrowed = array.astype(np.float32).astype(np.float64)
    return bool(np.array_equal(narrowed, array.astype(np.float64), equal_nan=True))


class Float64Comparisons(Pass):
    """A float64 comparison of exactly held values with a constant float32 cannot hold → float32-exact bounds."""

    name = "float64_comparisons"
    level = 0
    # after functions are inlined and before narrow_ints retypes dtypes; a required pass, so before every level-1
    # pass (constant folding) by registration order
    after = ("lower_einsum",)
    before = ("narrow_ints",)

    def run(self, graph: Graph) -> PassResult:
        exact = _ExactValues()
        count = 0
        for node in list(graph.nodes):
            if node.op in MIRRORED or node.op in EQUALITIES:
                count += _rewrite_comparison(graph, node, exact)
        return PassResult(count)


def _rewrite_comparison(graph: Graph, node: Node, exact: "_ExactValues") -> int:
    """Rewrite one comparison node when it compares an exactly held operand with a constant float32 cannot hold."""
    if len(node.inputs) != 2 or _dtype_of(node.inputs[0]) != DType.FLOAT64:
        return 0
    left, right = node.inputs
    for x, c_value, op in ((left, right, node.op), (right, left, MIRRORED.get(node.op, node.op))):
        c = const_array(c_value)
        if c is not None and not held_by_float32(c) and exact.holds(x):
            _compare_exactly(graph, node, x, c.astype(np.float64), op, constant_first=x is right)
            return 1
    return 0


def _compare_exactly(graph: Graph, node: Node, x: Value, c: np.ndarray, op: str, *, constant_first: bool) -> None:
    """Turn ``node`` (``x op c``, or ``c op' x`` when ``constant_first``) into its float32-exact form."""
    if op in MIRRORED:
        bound = _bound_const(graph, node, c, op)
        rewrite(node, node.op, [bound, x] if constant_first else [x, bound], dict(node.attrs))
        return
    shape = node.outputs[0].shape
    parts = [graph.add_op(test, [x, _bound_const(graph, node, c, test)], {"T": DType.FLOAT64},
                          name=f"{node.name}/float64_{label}", dtype=DType.BOOL, shape=shape)
             for test, label in (("GreaterEqual", "from"), ("LessEqual", "to"))]
    if node.op == "Equal":
        rewrite(node, "LogicalAnd", parts, {})
        return
    both = graph.add_op("LogicalAnd", parts, {}, name=f"{node.name}/float64_equal", dtype=DType.BOOL, shape=shape)
    rewrite(node, "LogicalNot", [both], {})


def _bound_const(graph: Graph, node: Node, c: np.ndarray, op: str) -> Value:
    """A float64 Const holding ``c``'s float32 bound for ``x op c`` (a new one: the old may have other readers)."""
    return graph.const(float32_bound(c, op).astype(np.float64), name=f"{node.name}/float64_bound",
                       dtype=DType.FLOAT64)


def _dtype_of(value: Value) -> DType | None:
    """A Value's dtype, from its producer's attrs where the frontend left it unset."""
    if value.dtype is not None:
        return DType.from_any(value.dtype)
    attrs = value.producer.attrs
    found = attrs.get("T") or attrs.get("dtype") or attrs.get("DstT")
    return DType.from_any(found) if found is not None else None


class _ExactValues:
    """Which float64 Values hold float32 values exactly, in TF.js as in the source framework (memoized per run)."""

    def __init__(self) -> None:
        self._known: dict[Value, bool] = {}

    def holds(self, value: Value, depth: int = 0) -> bool:
        if value not in self._known:
            self._known[value] = depth < _MAX_DEPTH and self._computes_exactly(value, depth)
        return self._known[value]

    def _computes_exactly(self, value: Value, depth: int) -> bool:
        node = value.producer
        if node.op == "Placeholder":
            return True
        if node.op == "Const":
            array = const_array(value)
            return array is not None and held_by_float32(array)
        if node.op == "Cast":
            source = _dtype_of(node.inputs[0]) if node.inputs else None
            return source in EXACT_CAST_SOURCES
        if node.op not in EXACT_OPS or value.index != 0:
            return False
        floats = [v for v in node.inputs if _dtype_of(v) in _FLOATS]
        return bool(floats) and all(self.holds(v, depth + 1) for v in floats)
