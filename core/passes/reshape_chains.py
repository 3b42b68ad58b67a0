"""Simplify reshapes: ``Reshape(Reshape(x, s1), s2)`` → ``Reshape(x, s2)``, and drop reshapes
(and ``Squeeze``/``ExpandDims``) whose static output shape equals their static input shape.

A reshape keeps the element order, so only the last target shape matters; with ``-1`` in ``s2``
the size is still determined by the (unchanged) element count.
"""
from __future__ import annotations

from ..ir import Graph
from . import Pass
from .graph_edit import Uses, is_const
from .shapes import infer_shapes, is_static

SHAPE_ONLY = frozenset({"Reshape", "Squeeze", "ExpandDims"})


class SimplifyReshapes(Pass):
    name = "reshape_chains"
    level = 1
    order = 45

    def run(self, graph: Graph) -> int:
        candidates = [n for n in graph if n.op in SHAPE_ONLY]
        if not candidates:
            return 0
        uses = Uses(graph)
        changed = 0
        for node in graph.topological_order():
            if node.op != "Reshape" or node.control_inputs or len(node.inputs) != 2:
                continue
            source = node.inputs[0]
            inner = source.producer
            if (inner.op in SHAPE_ONLY and source.index == 0 and not inner.control_inputs
                    and is_const(node.inputs[1])):
                uses.drop_reader(source, node)
                node.inputs[0] = inner.inputs[0]
                uses.readers.setdefault(inner.inputs[0], []).append(node)
                changed += 1
        shapes = infer_shapes(graph)
        for node in graph.topological_order():
            if node.op not in SHAPE_ONLY or node.control_inputs or node in uses.control_anchors:
                continue
            source, out = node.inputs[0], node.output(0)
            if not (is_static(shapes.get(source)) and shapes.get(source) == shapes.get(out)):
                continue
            if out in uses.outputs:
                continue  # keeps the output's tensor name
            uses.replace(graph, out, source)
            for value in node.inputs:
                uses.drop_reader(value, node)
            changed += 1
        return changed

