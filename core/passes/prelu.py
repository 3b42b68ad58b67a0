"""Recognise the ways frameworks spell PReLU and emit one ``Prelu`` (which fusion can then absorb).

``Add(pos, neg)`` (either order) or ``Sub(pos, neg')`` where ``pos`` is ``Relu(x)`` or
``Maximum(x, 0)`` and the negative part is one of:

- ``Mul(k, Relu(Neg(x)))`` → alpha = −k   (Keras: ``-alpha * relu(-x)`` after constant folding)
- ``Neg(Mul(a, Relu(Neg(x))))`` → alpha = a
- ``Mul(a, Minimum(x, 0))`` → alpha = a
- for ``Sub``: ``Mul(a, Relu(Neg(x)))`` → alpha = a

``a``/``k`` must be constants that broadcast against ``x`` without changing its shape.

TF.js's ``Prelu`` kernels agree with these graphs only for a finite alpha: for NaN or ±Inf, cpu computes
``x < 0 ? a·x : x`` (``x`` for ``x >= 0``), wasm and the graphs ``a·0 = NaN`` there (session 19,
``tests/test_prelu_exact_s19.py``). So a non-finite alpha is written as the graphs compute it, one select:
``SelectV2(x < 0, a·x, x + a·0)`` with ``a·0`` (0, or NaN where ``a`` is not finite) a constant.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import const_array, make_const, rewrite
from .shapes import infer_shapes


def _zero(value: Value) -> bool:
    array = const_array(value)
    return array is not None and array.size == 1 and float(array.reshape(-1)[0]) == 0.0


def positive_part(value: Value) -> Value | None:
    node = value.producer
    if node.op == "Relu":
        return node.inputs[0]
    if node.op == "Maximum":
        a, b = node.inputs
        return a if _zero(b) else b if _zero(a) else None
    return None


def _const_and_other(node: Node) -> tuple[np.ndarray, Value] | None:
    if node.op != "Mul":
        return None
    a, b = node.inputs
    for c, other in ((a, b), (b, a)):
        array = const_array(c)
        if array is not None:
            return array, other
    return None


def _relu_of_neg(value: Value) -> Value | None:
    node = value.producer
    if node.op == "Relu" and node.inputs[0].producer.op == "Neg":
        return node.inputs[0].producer.inputs[0]
    return None


def negative_part(value: Value, subtracted: bool) -> tuple[Value, np.ndarray] | None:
    """(x, alpha) for the forms listed in the module docstring."""
    node = value.producer
    if node.op == "Neg" and not subtracted:
        found = _const_and_other(node.inputs[0].producer)
        if found is not None and (x := _relu_of_neg(found[1])) is not None:
            return x, found[0]
        return None
    found = _const_and_other(node)
    if found is None:
        return None
    constant, other = found
    x = _relu_of_neg(other)
    if x is not None:
        return x, (constant if subtracted else -constant)
    inner = other.producer
    if not subtracted and inner.op == "Minimum":
        a, b = inner.inputs
        x = a if _zero(b) else b if _zero(a) else None
        if x is not None:
            return x, constant
    return None


def broadcasts_into(small: tuple, shape: tuple | None) -> bool:
    """Whether ``small`` broadcasts against ``shape`` without changing it (sizes must be known)."""
    if shape is None or len(small) > len(shape):
        return False
    tail = shape[len(shape) - len(small):]
    return all(a == 1 or a == d for a, d in zip(small, tail))


def tiles_trailing_axes(alpha: tuple, shape: tuple | None) -> bool:
    """Whether ``alpha`` is one value or, past its leading 1s, ``shape``'s trailing axes themselves: TF.js's wasm
    ``Prelu`` reads ``alpha[i % alpha.size]`` without broadcasting, so an alpha with a 1 inside (Keras's PReLU
    sharing a later axis, ``[steps, 1]``) would pair its values with the wrong elements there."""
    dims = list(alpha)
    while dims and dims[0] == 1:
        dims.pop(0)
    if not dims or int(np.prod(dims)) == 1:
        return True
    return shape is not None and list(shape[len(shape) - len(dims):]) == dims


class FusePrelu(Pass):
    name = "prelu"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        if not any(n.op in ("Relu", "Maximum") for n in graph):
            return PassResult(0)
        shapes = infer_shapes(graph)
        found = 0
        for node in graph.topological_order():
            if node.op not in ("Add", "AddV2", "Sub") or len(node.inputs) != 2 or node.control_inputs:
                continue
            orders = [node.inputs] if node.op == "Sub" else [node.inputs, node.inputs[::-1]]
            for pos, neg in orders:
                x = positive_part(pos)
                match = negative_part(neg, node.op == "Sub") if x is not None else None
                if match is None or match[0] is not x or match[1].dtype.kind != "f":
                    continue
                alpha = match[1]
                if not broadcasts_into(alpha.shape, shapes.get(x)):
                    continue
                dtype = x.dtype.numpy if x.dtype is not None else alpha.dtype
                alpha = alpha.astype(dtype)
                if not np.isfinite(alpha).all():
                    _select_prelu(graph, node, x, alpha, len(shapes[x]))
                elif tiles_trailing_axes(alpha.shape, shapes.get(x)):
                    rewrite(node, "Prelu", [x, make_const(graph, alpha, f"{node.name}/alpha")],
                            {"T": x.dtype} if x.dtype is not None else {})
                else:
                    continue
                found += 1
                break
        return PassResult(found)


def _select_prelu(graph: Graph, node: Node, x: Value, alpha: np.ndarray, rank: int) -> None:
    """``node`` as ``SelectV2(x < 0, a·x, x + a·0)``: the graph's own result for a NaN/±Inf alpha on every backend
    (NaN for ``x >= 0`` where ``a`` is not finite), where TF.js's cpu ``Prelu`` would give ``x`` there. Of rank 5 or
    more the select runs over the flattened tensors, reshaped back (webgl's select runs up to rank 4)."""
    attrs = {"T": x.dtype} if x.dtype is not None else {}
    name = node.name

    def op(kind: str, inputs: list[Value], label: str, extra: dict | None = None, dtype: DType | None = None,
           shape: tuple | None = None) -> Value:
        return graph.add_op(kind, inputs, {**attrs, **(extra or {})}, name=f"{name}/{label}", dtype=dtype or x.dtype,
                            shape=shape)

    scaled = op("Mul", [x, make_const(graph, alpha, f"{name}/alpha")], "scaled", shape=x.shape)
    with np.errstate(invalid="ignore"):
        nan_where_nonfinite = alpha * np.zeros((), alpha.dtype)
    kept = op("AddV2", [x, make_const(graph, nan_where_nonfinite, f"{name}/alpha_times_zero")], "kept", shape=x.shape)
    flat = rank >= 5
    if flat:
        reshape = {"Tshape": DType.INT32}
        to_flat = make_const(graph, np.int32([-1]), f"{name}/flat")
        dims = graph.add_op("Shape", [x], {**attrs, "out_type": DType.INT32}, name=f"{name}/x_shape",
                            dtype=DType.INT32, shape=(rank,))
        x, scaled, kept = (op("Reshape", [v, to_flat], f"{label}_flat", reshape, shape=(None,))
                           for v, label in ((x, "x"), (scaled, "scaled"), (kept, "kept")))
    zero = make_const(graph, np.zeros((), alpha.dtype), f"{name}/zero")
    negative = op("Less", [x, zero], "negative", dtype=DType.BOOL, shape=x.shape)
    if not flat:
        rewrite(node, "SelectV2", [negative, scaled, kept], dict(attrs))
        return
    selected = op("SelectV2", [negative, scaled, kept], "selected", shape=(None,))
    rewrite(node, "Reshape", [selected, dims], {**attrs, "Tshape": DType.INT32})
