"""Replace ``Shape``/``ShapeN``/``Size``/``Rank`` of values with a static shape by constants.

Constant folding then evaluates the arithmetic built on them (``StridedSlice``, ``Pack``,
``Prod`` …), so ``Reshape(x, Shape(y)…)`` subgraphs collapse to constant shapes. Only fully
static shapes are used (a ``None`` batch size keeps ``Shape`` dynamic); ``Rank`` needs only the rank.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph
from . import Pass, PassResult
from .graph_edit import Uses, become_const
from .shapes import infer_shapes, is_static

SHAPE_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank"})


class FoldShapes(Pass):
    name = "shape_folding"
    level = 1
    after = ("constant_folding",)

    def run(self, graph: Graph) -> PassResult:
        candidates = [n for n in graph if n.op in SHAPE_OPS and not n.control_inputs]
        if not candidates:
            return PassResult(0)
        shapes = infer_shapes(graph)
        uses = Uses(graph)
        folded = 0
        for node in candidates:
            if node in uses.control_anchors:
                continue
            known = [shapes.get(v) for v in node.inputs]
            out_dtype = DType.from_any(node.attrs.get("out_type", DType.INT32))
            if out_dtype not in (DType.INT32, DType.INT64):
                continue
            if node.op == "Rank":
                if known[0] is None:
                    continue
                arrays = [np.array(len(known[0]), np.int32)]
            elif not all(is_static(s) for s in known) or any(d >= 1 << 31 for s in known for d in s) \
                    or (node.op == "Size" and int(np.prod(known[0], dtype=object)) >= 1 << 31):
                continue  # a size past int32 (a corrupt declared shape): no int32 constant can hold it
            elif node.op == "Size":
                arrays = [np.array(int(np.prod(known[0])), np.int32)]
            else:
                arrays = [np.array(s, np.int32) for s in known]
            for value in node.inputs:
                uses.drop_reader(value, node)
            if len(arrays) == 1 and node.op != "ShapeN":
                become_const(node, arrays[0], DType.INT32)
            else:
                for index, array in enumerate(arrays):
                    const = graph.const(array, name=f"{node.name}/out{index}")
                    uses.replace(graph, node.output(index), const)
            folded += 1
        return PassResult(folded)
