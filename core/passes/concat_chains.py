"""Flatten nested concatenations: ``ConcatV2(a, ConcatV2(b, c, axis), d, axis)`` → ``ConcatV2(a, b, c, d, axis)``.

Inception's blocks concatenate branches that are concatenations themselves (Keras ``Concatenate`` of
``Concatenate``), and Grappler flattens them in the traced graph. Concatenation only moves data, so the
flat form gives the same bytes. An inner concat is taken in only when this one reads it and nothing else
does (not a graph output, no control edges) and its axis is the same constant, compared after
making a negative axis positive with the rank of the values.
"""
from __future__ import annotations

from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import Uses, const_array, rewrite
from .shapes import infer_shapes


def _axis(node: Node, shapes: dict) -> int | None:
    """The concat's constant axis made non-negative, or None when it is not constant or the rank is unknown."""
    axis = const_array(node.inputs[-1])
    if axis is None or axis.size != 1:
        return None
    value = int(axis.reshape(-1)[0])
    if value >= 0:
        return value
    shape = shapes.get(node.inputs[0])
    return None if shape is None else value + len(shape)


class FlattenConcats(Pass):
    name = "concat_chains"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        shapes = None
        flattened = 0
        for node in graph.topological_order():
            if node.op != "ConcatV2" or node.control_inputs or len(node.inputs) < 3:
                continue
            if not any(self._mergeable(v, node, uses) for v in node.inputs[:-1]):
                continue
            shapes = infer_shapes(graph) if shapes is None else shapes
            axis = _axis(node, shapes)
            if axis is None:
                continue
            parts: list[Value] = []
            for value in node.inputs[:-1]:
                inner = value.producer
                if self._mergeable(value, node, uses) and _axis(inner, shapes) == axis:
                    parts.extend(inner.inputs[:-1])
                    uses.drop_reader(value, node)
                    for part in inner.inputs[:-1]:
                        uses.readers.setdefault(part, []).append(node)
                    flattened += 1
                else:
                    parts.append(value)
            if len(parts) != len(node.inputs) - 1:
                attrs = {**node.attrs, **({"N": len(parts)} if "N" in node.attrs else {})}
                rewrite(node, "ConcatV2", [*parts, node.inputs[-1]], attrs)
        return PassResult(flattened)

    @staticmethod
    def _mergeable(value: Value, outer: Node, uses: Uses) -> bool:
        inner = value.producer
        return (inner.op == "ConcatV2" and value.index == 0 and not inner.control_inputs
                and inner not in uses.control_anchors and uses.only_reader(value) is outer
                and inner.attrs.get("T") == outer.attrs.get("T") and len(inner.inputs) >= 2)
