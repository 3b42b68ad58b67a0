"""What the small integer tensors of a shape computation hold, element by element, when dims are dynamic.

Exporters compute Reshape targets from shapes: ``Shape(x) -> Slice/Gather -> Concat -> Reshape(x, ·)``.
With a dynamic batch (or sequence) those targets are not constants, but each element is still either
a number or "dimension ``k`` of tensor ``x``". Tracking that lets a Reshape keep a non-ONNX layout
(no Transpose back to ONNX's order) and read the dynamic dims from its input's run-time shape.

An element is an ``int``, a :class:`Dim`, or None (unknown).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .mapping import DEFAULT_DOMAINS

Element = Any  # int | Dim | None
#: Longest vector tracked: shape vectors are short.
MAX_ELEMENTS = 8


@dataclasses.dataclass(frozen=True)
class Dim:
    """Dimension ``axis`` of the ONNX tensor ``tensor`` (in ONNX's layout)."""

    tensor: str
    axis: int


def elements_of(t: Any) -> list[Element] | None:
    """The elements of a translated tensor: from its constant value, or as tracked; None if neither."""
    if t is None:
        return None
    if t.const is not None and isinstance(t.const, np.ndarray):
        array = np.asarray(t.const)
        if array.ndim <= 1 and array.size <= MAX_ELEMENTS and np.issubdtype(array.dtype, np.integer):
            return [int(v) for v in array.reshape(-1)]
        return None
    return list(t.elements) if t.elements is not None else None


def _shape(node: Any, inputs: list, attrs: dict) -> list[Element] | None:
    x = inputs[0]
    if x is None or x.shape is None:
        return None
    rank = len(x.shape)
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    axes = range(rank)[slice(start, None if end is None else int(end))]
    return [x.shape[a] if x.shape[a] is not None else Dim(node.input[0], a) for a in axes]


def _slice(node: Any, inputs: list, attrs: dict) -> list[Element] | None:
    data = elements_of(inputs[0])
    params = [elements_of(t) if t is not None else None for t in (list(inputs[1:5]) + [None] * 4)[:4]]
    if data is None or params[0] is None or params[1] is None:
        return None
    if params[2] is not None and params[2] != [0] and params[2] != [-1]:
        return None
    step = params[3][0] if params[3] else 1
    if not isinstance(params[0][0], int) or not isinstance(params[1][0], int) or not isinstance(step, int):
        return None
    return data[slice(params[0][0], params[1][0], step)]


def _gather(node: Any, inputs: list, attrs: dict) -> list[Element] | None:
    data, idx = elements_of(inputs[0]), elements_of(inputs[1])
    if data is None or idx is None or int(attrs.get("axis", 0)) != 0 or not all(isinstance(i, int) for i in idx):
        return None
    if any(not -len(data) <= i < len(data) for i in idx):
        return None
    return [data[i] for i in idx]


def _concat(node: Any, inputs: list, attrs: dict) -> list[Element] | None:
    parts = [elements_of(t) for t in inputs if t is not None]
    if any(p is None for p in parts):
        return None
    return [e for p in parts for e in p]


def _same(node: Any, inputs: list, attrs: dict) -> list[Element] | None:
    """Unsqueeze/Squeeze/Reshape/Cast/Identity of a shape vector or scalar: the same elements."""
    return elements_of(inputs[0])


#: Cast targets whose arithmetic the rules model (int32, int64): a Cast to uint8 wraps 260 to 4, and in
#: float a Div is not the floor division ``_arith`` computes (6 / 4 * 2 is 3, not 2).
_EXACT_CASTS = frozenset({6, 7})


def _cast(node: Any, inputs: list, attrs: dict) -> list[Element] | None:
    """Cast of a shape vector: the same elements, unless the type cannot hold them (RX3)."""
    return elements_of(inputs[0]) if int(attrs.get("to", 0)) in _EXACT_CASTS else None


def _arith(fn: Callable[[int, int], int], unit: int | None) -> Callable:
    def rule(node: Any, inputs: list, attrs: dict) -> list[Element] | None:
        a, b = elements_of(inputs[0]), elements_of(inputs[1])
        if a is None or b is None or (len(a) != len(b) and 1 not in (len(a), len(b))):
            return None
        n = max(len(a), len(b))
        a, b = (a * n if len(a) == 1 else a), (b * n if len(b) == 1 else b)
        out: list[Element] = []
        for x, y in zip(a, b):
            if isinstance(x, int) and isinstance(y, int):
                out.append(fn(x, y))
            elif unit is not None and y == unit:
                out.append(x)
            elif unit is not None and x == unit and fn is _mul:
                out.append(y)
            else:
                out.append(None)
        return out

    return rule


def _mul(x: int, y: int) -> int:
    return x * y


def _floordiv(x: int, y: int) -> int:
    return x // y if y else 0


RULES: dict[str, Callable] = {
    "Shape": _shape, "Slice": _slice, "Gather": _gather, "Concat": _concat,
    "Unsqueeze": _same, "Squeeze": _same, "Reshape": _same, "Cast": _cast, "Identity": _same,
    "Mul": _arith(_mul, 1), "Add": _arith(lambda x, y: x + y, 0), "Sub": _arith(lambda x, y: x - y, 0),
    "Div": _arith(_floordiv, 1),
}


def infer(node: Any, inputs: Sequence[Any], attrs: dict) -> list[Element] | None:
    """The output elements of a standard-domain node, when its rule can tell (first output only)."""
    if node.domain not in DEFAULT_DOMAINS:
        return None
    rule = RULES.get(node.op_type)
    if rule is None:
        return None
    try:
        out = rule(node, list(inputs), attrs)
    except (TypeError, ValueError, IndexError):
        return None
    if out is None or len(out) > MAX_ELEMENTS or all(e is None for e in out):
        return None
    return out
