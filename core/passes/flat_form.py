"""An elementwise rewrite run over its input reshaped to one axis and back.

webgl's ``where`` throws from rank 5 and ``select_rank`` lowers only selects whose rank is known, so a pass that
turns an elementwise op of unknown rank into selects (``erf_small``, ``sign_comparisons``) builds them over the
flattened input and reshapes the result to the input's run-time shape. :class:`ElementwiseNodes` names and types the
nodes of such a rewrite; :func:`sign_choices` is the select of comparisons a ``Sign`` becomes (``sign_comparisons``
and ``--exact_special_values``).
"""
from __future__ import annotations

import numpy as np

from typing import Protocol

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .graph_edit import rewrite


class NodeMaker(Protocol):
    """What :func:`sign_choices` builds with: ``ElementwiseNodes`` or ``special_values``' builder."""

    def op(self, kind: str, inputs: list[Value], label: str, *, out: DType | None = None) -> Value: ...

    def const(self, value: float, label: str) -> Value: ...


class ElementwiseNodes:
    """Adds the nodes of one elementwise rewrite: named ``<prefix>/<label>``, of ``dtype`` (``T``) and ``shape``."""

    def __init__(self, graph: Graph, dtype: DType, prefix: str, shape: tuple | None) -> None:
        self.graph, self.dtype, self.prefix, self.shape = graph, dtype, prefix, shape

    def op(self, kind: str, inputs: list[Value], label: str, *, out: DType | None = None) -> Value:
        return self.graph.add_op(kind, inputs, {"T": self.dtype}, name=f"{self.prefix}/{label}",
                                 dtype=out or self.dtype, shape=self.shape)

    def const(self, value: float, label: str) -> Value:
        return self.graph.const(np.asarray(value, self.dtype.numpy), name=f"{self.prefix}/{label}", dtype=self.dtype)


def sign_choices(nodes: NodeMaker, x: Value) -> list[Value]:
    """The inputs of ``SelectV2(x > 0, 1, SelectV2(x < 0, -1, x - x))``: TF's ``Sign`` (``x - x``: 0 for ±0, NaN for
    NaN) without a Sign kernel (wasm's is 0 for small values)."""
    zero = nodes.const(0.0, "zero")
    rest = nodes.op("SelectV2", [nodes.op("Less", [x, zero], "negative", out=DType.BOOL), nodes.const(-1.0, "minus_one"),
                                 nodes.op("Sub", [x, x], "zero_or_nan")], "non_positive")
    return [nodes.op("Greater", [x, zero], "positive", out=DType.BOOL), nodes.const(1.0, "one"), rest]


def flatten(graph: Graph, x: Value, dtype: DType, prefix: str) -> Value:
    """``Reshape(x, [-1])``, named ``<prefix>/flatten``."""
    flat = graph.const(np.asarray([-1], np.int32), name=f"{prefix}/flat", dtype=DType.INT32)
    return graph.add_op("Reshape", [x, flat], {"T": dtype, "Tshape": DType.INT32}, name=f"{prefix}/flatten",
                        dtype=dtype)


def rewrite_as_select(graph: Graph, node: Node, chosen: list[Value], dtype: DType, whole: Value | None,
                      prefix: str) -> None:
    """Turn ``node`` into ``SelectV2(*chosen)``; with ``whole`` (the unflattened input) the select is built over the
    flattened values and ``node`` reshapes it back to ``Shape(whole)``."""
    if whole is None:
        rewrite(node, "SelectV2", chosen, {"T": dtype})
        return
    select = graph.add_op("SelectV2", chosen, {"T": dtype}, name=f"{prefix}/select", dtype=dtype)
    dims = graph.add_op("Shape", [whole], {"T": dtype, "out_type": DType.INT32}, name=f"{prefix}/dims",
                        dtype=DType.INT32)
    rewrite(node, "Reshape", [select, dims], {"T": dtype, "Tshape": DType.INT32})
