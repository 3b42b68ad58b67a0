"""``ShapeN`` → one ``Shape`` per input.

TF.js's graph executor answers ``ShapeN`` with float32 tensors whatever its ``out_type`` (measured on cpu and wasm:
``[5., 3.]`` where TF gives int32 ``[5, 3]``), so the integer arithmetic a graph builds on it runs in float32 there
(wasm's truncating division then gives a float) and an output reading it changes dtype. TF.js's ``Shape`` gives
int32: each output becomes the ``Shape`` of its input.
"""
from __future__ import annotations

from ..dtypes import DType
from ..ir import Graph
from . import Pass, PassResult
from .graph_edit import Uses


class ShapeNToShapes(Pass):
    """``ShapeN(x_0 … x_n-1)`` of int32 → ``Shape(x_i)`` for each output ``i`` (int64 is held as int32 too)."""

    name = "shape_n"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        uses = None
        count = 0
        for node in list(graph.nodes):
            if node.op != "ShapeN" or not node.inputs:
                continue
            uses = uses or Uses(graph)
            out_type = DType.from_any(node.attrs.get("out_type", DType.INT32))
            shapes = []
            for index, source in enumerate(node.inputs):
                old = node.output(index)
                shape = graph.add_op("Shape", [source], {"T": source.dtype or node.attrs.get("T"), "out_type": out_type},
                                     name=f"{node.name}/shape_{index}", dtype=old.dtype or out_type, shape=old.shape)
                shape.producer.provenance = node.provenance
                shape.producer.control_inputs = list(node.control_inputs)
                uses.replace(graph, old, shape)
                shapes.append(shape.producer)
            for other in graph.nodes:  # a control edge on the ShapeN waits for the Shapes instead
                if node in other.control_inputs:
                    other.control_inputs = [c for c in other.control_inputs if c is not node] + shapes
            for source in node.inputs:
                uses.drop_reader(source, node)
            graph.remove_node(node)
            count += 1
        return PassResult(count)
