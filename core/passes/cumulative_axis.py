"""``Cumsum``/``Cumprod`` with a negative constant axis → the same op with the axis counted from the front.

TF.js's cumsum/cumprod kernels build their transpose permutation from the axis as given, without
wrapping a negative one: tf_keras's causal ``Attention`` mask (``Cumsum`` of ones along axes -2 and -1
of a rank-3 tensor) came out wrong on cpu and faulted wasm ("memory access out of bounds"). The axis
becomes ``axis + rank``: a constant when the input's rank is known, else ``axis + Rank(x)``.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph
from . import Pass, PassResult
from .graph_edit import const_array
from .shapes import infer_shapes

CUMULATIVE_OPS = frozenset({"Cumsum", "Cumprod"})


class NonNegativeCumulativeAxis(Pass):
    """Cumsum/Cumprod's constant negative axis → ``axis + rank``."""

    name = "cumulative_axis"
    level = 0
    after = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        nodes = []
        for node in graph.nodes:
            axis = const_array(node.inputs[1]) if node.op in CUMULATIVE_OPS and len(node.inputs) > 1 else None
            if axis is not None and axis.size == 1 and int(axis.reshape(())) < 0:
                nodes.append((node, int(axis.reshape(()))))
        if not nodes:
            return PassResult(0)
        shapes = infer_shapes(graph)
        for node, axis in nodes:
            x = node.inputs[0]
            shape = shapes.get(x, x.shape)
            dtype = DType.from_any(node.attrs.get("Tidx", DType.INT32))
            if shape is not None:
                new_axis = graph.const(np.asarray(axis + len(shape), dtype.numpy), name=f"{node.name}/axis")
            else:
                rank = graph.add_op("Rank", [x], {"T": node.attrs.get("T", x.dtype)}, name=f"{node.name}/rank",
                                    dtype=DType.INT32)
                offset = graph.const(np.asarray(axis, np.int32), name=f"{node.name}/negative_axis")
                new_axis = graph.add_op("AddV2", [offset, rank], {"T": DType.INT32}, name=f"{node.name}/axis",
                                        dtype=DType.INT32)
                if dtype is not DType.INT32:
                    node.attrs["Tidx"] = DType.INT32
            node.inputs = [x, new_axis, *node.inputs[2:]]
        return PassResult(len(nodes))
