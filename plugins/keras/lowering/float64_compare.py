"""tf_keras comparisons of float64 tensors with Python constants, exactly.

TF.js has no float64: a float64 model input is fed float32 values and held as float32, exactly Keras's float64 values
(:func:`.float_widths.is_float64_input`). tf_keras converts a comparison's constant to the tensor's dtype, so
``tf.math.greater(w, 0.1)`` compares with float64's 0.1, which float32 does not hold: rounded to float32's 0.1 the
constant equals a fed ``0.1`` (``0.100000001490116``) that Keras finds greater (every element 0 or 1 off, silently,
before session 27). Keras 3 converts a Python scalar to float32 first (its weak-type rule; measured), so its
comparisons are left as they are.

For a float32 ``x`` holding a float64 value exactly and a float64 constant ``c`` the comparison is exact on float32
bounds: ``x > c`` is ``x > down(c)``, ``x <= c`` is ``x <= down(c)``, ``x >= c`` and ``x < c`` use ``up(c)`` (``down``
and ``up`` round toward -inf and +inf; equal to ``c`` where float32 holds it), and ``x == c`` is
``up(c) <= x <= down(c)`` (never where float32 does not hold ``c``), ``x != c`` its negation (true for NaN). Values
computed in float32 from float64 ones (a float64 Dense's) stay as they are: neither rounding of ``c`` is right for
every input there (``tf.maximum(w, 0.1) > 0.1`` stands for 0.1 itself or for ``w``); the float-widths notice names
those layers.
"""
from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value
from tfjsconv.passes.float64_comparisons import float32_bound  # shared with the traced graphs' pass

from ..op_calls import KERAS_OP_PREFIX, TensorArg

#: tf_keras functions whose result holds exactly values of their (float64-holding) input: data movement and a few
#: exact elementwise functions of a float32 value (``relu``, ``floor``...), so a comparison after them is exact too.
EXACT_FLOAT64_FUNCTIONS = frozenset({
    "reshape", "transpose", "compat.v1.transpose", "expand_dims", "squeeze", "compat.v1.squeeze",
    "__operators__.getitem", "tile", "identity", "nn.relu", "math.floor", "math.ceil", "math.round", "math.sign",
    "gather", "compat.v1.gather", "gather_nd", "compat.v1.gather_nd"})  # (gathers: session 29, silently off before)
#: The comparisons (TF converts a constant given first to float32, then raises beside a float64 tensor).
_COMPARISONS = frozenset({"Greater", "Less", "GreaterEqual", "LessEqual", "Equal", "NotEqual"})
#: Per graph, the float32 Values op layers made of exactly held float64 values (:func:`mark_op_results`).
_EXACT: weakref.WeakKeyDictionary[Graph, dict[int, Value]] = weakref.WeakKeyDictionary()
#: Per graph, the float32 Values computed in float32 for Keras's float64 ones (a float64 layer's result, an op layer's
#: on a float64 value other than :data:`EXACT_FLOAT64_FUNCTIONS`, and what moves them): never exact, also where a
#: nested model's float64 Input receives them (review R1, F1: a float64 Dense's result standing for 0.1 compared as
#: a fed float32 0.1).
_COMPUTED: weakref.WeakKeyDictionary[Graph, dict[int, Value]] = weakref.WeakKeyDictionary()


def holds_float64_exactly(graph: Graph, value: Any) -> bool:
    """Whether ``value`` is a float32 Value holding a tf_keras float64 tensor's values exactly: a float64 model (or
    nested model) input, or an :data:`EXACT_FLOAT64_FUNCTIONS` result of one, none computed in float32."""
    from .float_widths import is_float64_input

    return isinstance(value, Value) and value.dtype == DType.FLOAT32 and not computed_in_float32(graph, value) and (
        is_float64_input(graph, value) or id(value) in _EXACT.get(graph, {}))


def computed_in_float32(graph: Graph, value: Any) -> bool:
    """Whether ``value`` was computed in float32 for a Keras float64 tensor (:data:`_COMPUTED`)."""
    return isinstance(value, Value) and id(value) in _COMPUTED.get(graph, {})


def mark_float64_computed(graph: Graph, values: Any) -> None:
    """Record the float32 Values of ``values`` as computed in float32 for Keras float64 ones."""
    for value in values if isinstance(values, list) else [values]:
        if isinstance(value, Value) and value.dtype == DType.FLOAT32:
            _COMPUTED.setdefault(graph, {})[id(value)] = value


def mark_op_results(graph: Graph, function: str, inputs: list[Value], outputs: Any, cast: bool) -> None:
    """After an op layer (``cast``: a cast or ``shape``, whose result is of the dtype it names): its float32 results
    are computed in float32 for float64 ones when it reads such a value, or reads a float64 one held exactly other than
    through :data:`EXACT_FLOAT64_FUNCTIONS`; they hold float64 values exactly when such a function reads only
    exactly held ones."""
    floats = [v for v in inputs if v.dtype in (DType.FLOAT32, DType.FLOAT64)]
    if cast or not floats:
        return
    exact = [holds_float64_exactly(graph, v) for v in floats]
    if any(computed_in_float32(graph, v) for v in floats) or (function not in EXACT_FLOAT64_FUNCTIONS and any(exact)):
        mark_float64_computed(graph, outputs)
    elif function in EXACT_FLOAT64_FUNCTIONS and all(exact):
        for out in outputs if isinstance(outputs, list) else [outputs]:
            if isinstance(out, Value) and out.dtype == DType.FLOAT32:
                _EXACT.setdefault(graph, {})[id(out)] = out


def float64_comparison(c: Any, op: str) -> Value | None:
    """``op`` (Greater, Equal ...) of a tf_keras op call ``c`` comparing a float32-held exact float64 tensor with a
    constant, computed exactly as float64 compares (None: not such a call, lowered as before)."""
    if c.ctx.class_name.startswith(KERAS_OP_PREFIX) or op not in _COMPARISONS or \
            not isinstance(c.arguments.get("x"), TensorArg):
        return None
    constant = _numbers(c.arguments.get("y"))
    x = c.tensor("x") if constant is not None else None
    if x is None or not holds_float64_exactly(c.ctx.graph, x):
        return None
    ctx, c64 = c.ctx, constant.astype(np.float64)
    if op in ("Equal", "NotEqual"):  # between the bounds: only where float32 holds c (NaN: equal to none)
        parts = [ctx.binary(test, x, ctx.const(float32_bound(c64, test), f"{label}_float64_bound"))
                 for test, label in (("GreaterEqual", "from"), ("LessEqual", "to"))]
        for part in parts:
            part.dtype = DType.BOOL
        out = ctx.op("LogicalAnd", parts, dtype=DType.BOOL, shape=parts[0].shape, label="float64_equal")
        return out if op == "Equal" else ctx.op("LogicalNot", [out], dtype=DType.BOOL, shape=out.shape,
                                                label="float64_not_equal")
    out = ctx.binary(op, x, ctx.const(float32_bound(c64, op), f"{op.lower()}_float64_bound"))
    out.dtype = DType.BOOL
    return out


def _numbers(value: Any) -> np.ndarray | None:
    """A constant argument's numbers (None: not a plain number or list of them, e.g. a nested tensor)."""
    if isinstance(value, dict):
        return None
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    return array if array.dtype.kind in "iuf" else None

