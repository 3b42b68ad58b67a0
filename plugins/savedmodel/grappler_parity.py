"""The two arithmetic simplifications Grappler's constant folding makes that the core passes do not.

The TensorFlow path runs Grappler's ``constfold`` on every graph; the TF-free path must give the same
graph (issue 15's parity rule: the same op histogram after the passes). On the models Keras and
``tf.function`` write, constfold differs from the core passes in two ways, done here:

1. ``x * 1`` (a scalar constant one, as in Keras 3's ``swish``: ``x * sigmoid(beta * x)``) is ``x``;
2. ``x / c`` with a floating-point constant ``c`` is ``x * (1 / c)`` (Grappler's reciprocal rewrite).
"""
from __future__ import annotations

import numpy as np

from tfjsconv.ir import Graph, Node


def _const(node: Node) -> np.ndarray | None:
    """A graph constant's value; None for variables (lazy checkpoint values), which Grappler never
    sees as constants on the TF path (it runs on the weight-free graph)."""
    value = node.attrs.get("value") if node.op == "Const" else None
    return value if isinstance(value, np.ndarray) else None


def _multiply_by_one(graph: Graph, node: Node) -> bool:
    for index in (0, 1):
        value = _const(node.inputs[index].producer)
        other = node.inputs[1 - index]
        if value is not None and value.ndim == 0 and value == 1 and other.dtype == node.outputs[0].dtype:
            graph.replace_all_uses(node.outputs[0], other)
            return True
    return False


def _divide_by_constant(graph: Graph, node: Node) -> bool:
    divisor = _const(node.inputs[1].producer)
    if divisor is None or divisor.dtype.kind != "f":
        return False
    with np.errstate(divide="ignore"):
        reciprocal = (np.asarray(1, divisor.dtype) / divisor).astype(divisor.dtype)
    recip = graph.const(reciprocal, name=f"ConstantFolding/{node.name}_recip")
    node.op = "Mul"
    node.inputs = [node.inputs[0], recip]
    return True


def match_grappler_constfold(graph: Graph) -> int:
    """Apply both rewrites everywhere; returns how many nodes changed."""
    changed = 0
    for node in list(graph):
        if node.op == "Mul" and len(node.inputs) == 2:
            changed += _multiply_by_one(graph, node)
        elif node.op == "RealDiv" and len(node.inputs) == 2:
            changed += _divide_by_constant(graph, node)
    if changed:
        graph.remove_dead_nodes()
    return changed
