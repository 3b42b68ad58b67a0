"""ONNX comparisons of a double value with a double constant float32 cannot hold, computed as onnxruntime does.

The frontend holds every double as float32 (TF.js has no float64): a double constant is rounded to nearest and a
double graph input is fed float32 values. ``Greater(w, 0.1)`` then compared float32's 0.1 with a fed ``0.1``
(``0.100000001490116``) that onnxruntime, in float64, finds greater: 0/1 off, silently. The core pass
``float64_comparisons`` cannot see this graph's float64 (the IR is float32 from the start), so the comparison
mappings apply its bounds here: for an operand whose values float32 holds exactly (a double graph input, or one
reached from it only through :data:`EXACT_OPS` or an exact ``Cast``) and a double constant ``c``, ``x > c`` is
``x > down(c)`` and so on (:func:`tfjsconv.passes.float64_comparisons.float32_bound`), ``x == c`` is
``up(c) <= x <= down(c)``. An operand computed in double arithmetic (``x * 3``) keeps nearest rounding: its float32
value may stand for a double equal to ``c`` or not, so no rounding is right for every input.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.passes.float64_comparisons import MIRRORED, float32_bound, held_by_float32

from ..context import Laid, NodeContext
from ..layout import Perm
from .common import choose_layout, laid_const

#: ONNX ops whose double result holds float32 values exactly when every float input does: they move values or map a
#: float32 value to a float32 value exactly.
EXACT_OPS = frozenset({
    "Identity", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Expand", "Tile", "Slice", "Gather",
    "GatherElements", "GatherND", "Concat", "Split", "Where", "Relu", "Floor", "Ceil", "Round", "Sign", "Abs", "Neg",
    "Max", "Min"})
#: Source types a ``Cast`` to double turns into values float32 holds exactly (int32's past 2^24 it does not).
EXACT_CAST_SOURCES = frozenset(np.dtype(t) for t in (np.float32, np.float16, np.bool_, np.int8, np.uint8, np.int16,
                                                     np.uint16))
#: How far back an operand is followed (deeper: compared as before, with nearest rounding).
_MAX_DEPTH = 64
_DOUBLE = np.dtype(np.float64)


def compare_double(ctx: NodeContext, tf_op: str) -> Laid | None:
    """``tf_op`` (Greater, GreaterEqual, Less, LessEqual, Equal) of an exactly held double and a double constant
    float32 cannot hold, on float32 bounds; None for every other comparison (the plain mapping is exact)."""
    for x_index, c_index, op in ((0, 1, tf_op), (1, 0, MIRRORED.get(tf_op, tf_op))):
        c = _double_constant(ctx, c_index)
        if c is not None and not held_by_float32(c) and _holds_float32(ctx, ctx.node.input[x_index]):
            return _compare_on_bounds(ctx, x_index, c, op)
    return None


def _double_constant(ctx: NodeContext, i: int) -> np.ndarray | None:
    """Input ``i`` as a float64 array when it is a double known at conversion time."""
    t = ctx.tensor(i)
    if t.const is None or t.dtype is None or np.dtype(t.dtype) != _DOUBLE:
        return None
    return np.asarray(t.const, np.float64)


def _compare_on_bounds(ctx: NodeContext, x_index: int, c: np.ndarray, op: str) -> Laid:
    """``x op c`` (a constant first already mirrored) with ``c``'s float32 bounds."""
    perm = _layout(ctx, x_index, 1 - x_index)
    x = ctx.input_as(x_index, perm)
    if op in MIRRORED:
        return ctx.laid(ctx.op(op, [x, _bound_const(ctx, c, op, perm, "float64_bound")], dtype=DType.BOOL), perm)
    # x == c: up(c) <= x <= down(c), never true where float32 does not hold c (NaN equal to none)
    parts = [ctx.op(test, [x, _bound_const(ctx, c, test, perm, f"float64_{label}_bound")], dtype=DType.BOOL,
                    label=f"float64_{label}") for test, label in (("GreaterEqual", "from"), ("LessEqual", "to"))]
    return ctx.laid(ctx.op("LogicalAnd", parts, dtype=DType.BOOL), perm)


def _layout(ctx: NodeContext, x_index: int, c_index: int) -> Perm:
    """The layout ``common_layout`` would pick: ``x``'s cheapest one, ONNX's where the constant has the higher rank."""
    x_rank, c_rank = ctx.tensor(x_index).rank, ctx.tensor(c_index).rank
    if x_rank is None or c_rank is None or c_rank > x_rank:
        return None
    return choose_layout(ctx, [x_index])


def _bound_const(ctx: NodeContext, c: np.ndarray, op: str, perm: Perm, label: str) -> Value:
    """A float32 Const of ``c``'s bound for ``x op c``, broadcasting against ``x`` laid out as ``perm``."""
    bound = float32_bound(c, op)
    laid = bound if perm is None else laid_const(bound, len(perm), perm)
    return ctx.make_const(laid, label=label)


def _holds_float32(ctx: NodeContext, name: str) -> bool:
    """Whether TF.js holds the double ONNX tensor ``name`` exactly as onnxruntime does (its values float32's)."""
    known: dict[str, bool] = {}

    def holds(tensor_name: str, depth: int) -> bool:
        if tensor_name not in known:
            known[tensor_name] = depth < _MAX_DEPTH and _computed_exactly(ctx, tensor_name, depth, holds)
        return known[tensor_name]

    return holds(name, 0)


def _computed_exactly(ctx: NodeContext, name: str, depth: int, holds) -> bool:
    """One step of :func:`_holds_float32`: a graph input, a float32-held constant, an exact Cast or exact op."""
    t = ctx.tensor_named(name)
    if t is None:
        return False
    if t.const is not None:
        return not _is_float(t.dtype) or held_by_float32(np.asarray(t.const))
    node = ctx.producer_named(name)
    if node is None:  # a graph input (fed float32 values) or a value this walk cannot see
        return t.value is not None and t.value.producer.op == "Placeholder"
    if node.op_type == "Cast":
        source = ctx.tensor_named(node.input[0])
        if source is None or source.dtype is None:
            return False
        if np.dtype(source.dtype) == _DOUBLE:
            return holds(node.input[0], depth + 1)
        return np.dtype(source.dtype) in EXACT_CAST_SOURCES
    if node.op_type not in EXACT_OPS or node.domain not in ("", "ai.onnx"):
        return False
    floats = [n for n in node.input if n and _is_float(_dtype_named(ctx, n))]
    return bool(floats) and all(holds(n, depth + 1) for n in floats)


def _dtype_named(ctx: NodeContext, name: str) -> np.dtype | None:
    t = ctx.tensor_named(name)
    return None if t is None else t.dtype


def _is_float(dtype: np.dtype | None) -> bool:
    """Float, or unknown (then it must be shown exact too)."""
    return dtype is None or np.dtype(dtype).kind == "f"
