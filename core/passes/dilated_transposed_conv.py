"""``Conv2DBackpropInput`` with ``dilations`` > 1 → the same op, undilated, with a zero-inserted filter.

TF.js's ``conv2dTranspose`` ignores ``dilations`` (cpu gives NaN, wasm other numbers): Keras 3's
``Conv2DTranspose(dilation_rate=2)`` emits exactly this op. A dilated filter equals the filter with
``rate - 1`` zeros between its taps, and TF sizes the padding from that effective filter too, so the
rewrite is exact. Only constant filters (frozen weights) are rewritten; any other dilated one is left
to the backend contract, which refuses it.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import attr_text, const_array, make_const, rewrite

PASS_THROUGH = frozenset({"Identity", "ReadVariableOp", "Snapshot", "StopGradient"})


def _constant(value: Value) -> np.ndarray | None:
    """The array behind ``value``, looking through identities (level 0 keeps them)."""
    while value.producer.op in PASS_THROUGH and value.producer.inputs and value.index == 0:
        value = value.producer.inputs[0]
    return const_array(value)


def dilated_filter(filt: np.ndarray, rates: tuple[int, int]) -> np.ndarray:
    """``(kh, kw, O, I)`` → ``((kh-1)·rh+1, (kw-1)·rw+1, O, I)`` with the taps ``rates`` apart, zeros between."""
    kh, kw = filt.shape[:2]
    out = np.zeros(((kh - 1) * rates[0] + 1, (kw - 1) * rates[1] + 1, *filt.shape[2:]), filt.dtype)
    out[::rates[0], ::rates[1]] = filt
    return out


def _rates(node: Node) -> tuple[int, int] | None:
    dilations = node.attrs.get("dilations")
    if node.op != "Conv2DBackpropInput" or not dilations or len(dilations) != 4 \
            or attr_text(node, "data_format", "NHWC") != "NHWC":
        return None
    rates = (int(dilations[1]), int(dilations[2]))
    return rates if rates != (1, 1) else None


class UndilateTransposedConv(Pass):
    """Dilated ``Conv2DBackpropInput`` with a constant filter → undilated, filter zero-inserted."""

    name = "dilated_transposed_conv"
    level = 0
    after = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        count = 0
        for node in [n for n in graph.nodes if n.op == "Conv2DBackpropInput"]:
            rates = _rates(node)
            filt = _constant(node.inputs[1]) if rates and len(node.inputs) > 1 else None
            if filt is None or filt.ndim != 4:
                continue
            new = make_const(graph, dilated_filter(filt, rates), f"{node.name}/dilated_filter")
            inputs = list(node.inputs)
            inputs[1] = new
            rewrite(node, node.op, inputs, {**node.attrs, "dilations": [1, 1, 1, 1]})
            count += 1
        return PassResult(count)
