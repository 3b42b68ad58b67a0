"""Small integer values known when the graph is built: shape arithmetic over sizes the config gives
(``tf.shape(x)[2] // 5`` of a ``[None, 6, 10]`` tensor is 2, ``tf.rank(x) - 1`` is 2).

TensorFlow's shape inference evaluates such constant subgraphs, so a padding, reshape or tile built from them keeps
static sizes there and a later Dense sees its input size; a tensor axis (``tf.reduce_sum(x, axis=tf.rank(x) - 1)``)
is a constant to it. The lowering evaluates the same subgraph with the numpy interpreter (TF's semantics) where every
operand is known: constants, ``Shape``/``Size``/``Rank`` of values of a known shape, and the few pure integer ops the
lowering builds shape arithmetic from. Anything else (a placeholder, a size unknown in the config) stops it.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Node, Value
from tfjsconv.passes.graph_edit import const_array

from .registry import Unsupported

#: Pure ops shape arithmetic is built from (the int32 floor division's float steps included); nothing stateful.
_PURE_OPS = frozenset({
    "Identity", "Cast", "AddV2", "Add", "Sub", "Mul", "FloorDiv", "FloorMod", "RealDiv", "Div", "TruncateDiv",
    "TruncateMod", "Neg", "Abs", "Sign", "Maximum", "Minimum", "Round", "Floor", "Ceil", "Less", "LessEqual",
    "Greater", "GreaterEqual", "Equal", "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot", "Select", "SelectV2",
    "StridedSlice", "Slice", "Pack", "ConcatV2", "GatherV2", "Reshape", "Squeeze", "ExpandDims", "ZerosLike",
    "OnesLike", "Fill", "Range", "Sum", "Prod", "Max", "Min",
})
#: Values larger than this are not shape arithmetic: left to run time.
_MAX_ELEMENTS = 64
#: Deepest chain of ops followed (an exact int32 floor division is about a dozen).
_MAX_DEPTH = 48
_INTEGERS = (DType.INT32, DType.INT64)
#: Floats TF.js lacks: their Values here hold float32 approximations (pairs, rounded), never evaluated as they are.
_HELD = (DType.FLOAT64, DType.FLOAT16)
#: Keras's exact values of held floats the lowering computed from known operands (by producer node, then index).
_EXACT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def known_ints(value: Value) -> list[int] | None:
    """The entries of an integer scalar or vector known when the graph is built, else None."""
    if value.dtype not in _INTEGERS:
        return None
    array = known_array(value)
    return None if array is None else [int(a) for a in np.asarray(array).reshape(-1)]


def known_array(value: Value) -> np.ndarray | None:
    """``value`` computed from what the graph fixes when it is built (TF's semantics), or None."""
    return _known(value, _MAX_DEPTH, {})


def remember_exact(value: Value, array: np.ndarray) -> None:
    """Keras's own values of ``value`` (a float64 quotient of known integers that TF.js holds as a pair), which the
    Value's ops here only approximate: what :func:`known_array` gives for it."""
    if np.size(array) <= _MAX_ELEMENTS:
        _EXACT.setdefault(value.producer, {})[value.index] = np.asarray(array)


def _known(value: Value, depth: int, memo: dict[int, np.ndarray | None]) -> np.ndarray | None:
    if id(value) in memo:
        return memo[id(value)]
    memo[id(value)] = result = _evaluated(value, depth, memo)
    return result


def _evaluated(value: Value, depth: int, memo: dict[int, np.ndarray | None]) -> np.ndarray | None:
    array = const_array(value)
    if array is not None:
        return np.asarray(array) if np.size(array) <= _MAX_ELEMENTS else None
    node = value.producer
    exact = _EXACT.get(node, {}).get(value.index)
    if exact is not None or value.dtype in _HELD:
        return exact
    if node.op in ("Shape", "Size", "Rank"):
        return _of_shape(node.op, node.inputs[0].shape, value.dtype)
    if node.op == "StridedSlice" and value.dtype in _INTEGERS:  # ``tf.shape(x)[2]`` of a [None, 6, 10] tensor
        sliced = _sliced_shape(node, value)
        if sliced is not None:
            return sliced
    if value.shape is not None and None not in value.shape and math.prod(value.shape) > _MAX_ELEMENTS:
        return None
    if depth <= 0 or node.op not in _PURE_OPS:
        return None
    from tfjsconv.interpreter import can_evaluate, evaluate_node  # the numpy kernels: only when arithmetic is met

    if not can_evaluate(node):
        return None
    inputs = [_known(v, depth - 1, memo) for v in node.inputs]
    if any(a is None for a in inputs) or not _small_result(node.op, inputs):
        return None
    try:
        with np.errstate(all="raise"):
            result = np.asarray(evaluate_node(node, inputs)[value.index])
    except (ArithmeticError, ValueError, IndexError, TypeError):  # TF raises there too: left to run time
        return None
    return result if result.size <= _MAX_ELEMENTS and _fits(result.shape, value.shape) else None


def _small_result(op: str, inputs: list[np.ndarray]) -> bool:
    """Whether an op whose result size is not bounded by its operands' (``Range``, ``Fill``) gives at most
    ``_MAX_ELEMENTS`` values: checked before evaluating it (``tf.range(r - 1, r)`` has the IR shape ``(None,)``)."""
    try:
        if op == "Range":
            start, limit, delta = (float(np.asarray(a).reshape(-1)[0]) for a in inputs[:3])
            return delta != 0 and math.ceil((limit - start) / delta) <= _MAX_ELEMENTS
        if op == "Fill":
            return math.prod(int(d) for d in np.asarray(inputs[0]).reshape(-1)) <= _MAX_ELEMENTS
    except (ArithmeticError, ValueError, IndexError, TypeError):
        return False
    return True


def _fits(shape: tuple, annotated: tuple | None) -> bool:
    """The evaluated shape agrees with the Value's (partly known) one."""
    return annotated is None or len(shape) == len(annotated) and all(a in (None, d) for d, a in zip(shape, annotated))


def _sliced_shape(node: Node, value: Value) -> np.ndarray | None:
    """A slice of a partly known shape vector whose entries it reads are all known (``tf.shape(x)[1:]``)."""
    from .op_layers import _sliced_entries  # the slice rules the lowering's static sizes already use

    entries = _sliced_entries(node)
    if entries is None or None in entries or value.shape is None or math.prod(value.shape) != len(entries):
        return None
    _check_range("shape", node.inputs[0].shape, entries, value.dtype)
    return np.asarray(entries, dtype=value.dtype.numpy).reshape(value.shape)


def _of_shape(op: str, shape: tuple | None, dtype: DType | None) -> np.ndarray | None:
    """``Shape``/``Size``/``Rank`` of a value of ``shape`` where what they read is known."""
    if shape is None or dtype not in _INTEGERS:
        return None
    if op == "Rank":
        return np.asarray(len(shape), dtype=dtype.numpy)
    if None in shape:
        return None
    entries = list(shape) if op == "Shape" else [math.prod(shape)]
    _check_range(op.lower(), shape, entries, dtype)
    return np.asarray(entries if op == "Shape" else entries[0], dtype=dtype.numpy)


def _check_range(what: str, shape: tuple, entries: list[int], dtype: DType) -> None:
    """A size past the dtype's range: TF raises ("larger than representable"), a gap named as such (an overflow
    error otherwise, read as a malformed config)."""
    if max(entries, default=0) > np.iinfo(dtype.numpy).max:
        raise Unsupported(f"tf.{what} of a tensor of shape {list(shape)}: {max(entries)} is past "
                          f"{np.dtype(dtype.numpy).name}'s range (TensorFlow raises)")
