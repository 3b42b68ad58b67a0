"""``OneHot`` forms TF.js does not run as TF does: an ``axis`` other than -1, and depth 1.

Measured against ``tf.raw_ops`` (TF op conformance run): TF.js's cpu ``oneHot`` ignores the
``axis`` attr (always last), and ``oneHot`` refuses depth 1 (TF allows it). An axis ``a`` becomes
``OneHot(axis=-1)`` + ``Transpose`` moving the new last axis to ``a`` (the indices' rank must be
known); a constant depth 1 becomes ``SelectV2(ExpandDims(indices, -1) == 0, on, off)``, and a depth of 0 or one
known only at run time ``SelectV2(ExpandDims(indices, -1) == Range(depth), on, off)`` (TF.js's ``oneHot`` throws
"depth must be >=2" where TF returns the one-hot of depth 0 or 1: session 23, review R4).
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node
from . import Pass, PassResult
from .graph_edit import const_array, rewrite
from .shapes import infer_shapes


def depth_one(graph: Graph, node: Node) -> None:
    """The last-axis one-hot of depth 1: ``on`` where the index is 0, else ``off``."""
    indices, _, on, off = node.inputs[:4]
    index_dtype = indices.dtype or node.attrs.get("TI") or DType.INT32
    axis = graph.const(np.asarray(-1, np.int32), name=f"{node.name}/last_axis")
    column = graph.add_op("ExpandDims", [indices, axis], {"T": index_dtype, "Tdim": DType.INT32},
                          name=f"{node.name}/column", dtype=index_dtype)
    zero = graph.const(np.asarray(0, index_dtype.numpy), name=f"{node.name}/zero")
    hit = graph.add_op("Equal", [column, zero], {"T": index_dtype}, name=f"{node.name}/hit", dtype=DType.BOOL)
    rewrite(node, "SelectV2", [hit, on, off], {"T": node.attrs.get("T", on.dtype)})


def by_range(graph: Graph, node: Node) -> None:
    """The last-axis one-hot of any depth: ``on`` where the index equals its position in ``Range(depth)``."""
    indices, depth, on, off = node.inputs[:4]
    index_dtype = indices.dtype or node.attrs.get("TI") or DType.INT32
    axis = graph.const(np.asarray(-1, np.int32), name=f"{node.name}/last_axis")
    column = graph.add_op("ExpandDims", [indices, axis], {"T": index_dtype, "Tdim": DType.INT32},
                          name=f"{node.name}/column", dtype=index_dtype)
    if depth.dtype not in (None, index_dtype):
        depth = graph.add_op("Cast", [depth], {"SrcT": depth.dtype, "DstT": index_dtype, "Truncate": False},
                             name=f"{node.name}/depth_as_index", dtype=index_dtype)
    start, step = (graph.const(np.asarray(v, index_dtype.numpy), name=f"{node.name}/{label}")
                   for v, label in ((0, "range_start"), (1, "range_step")))
    positions = graph.add_op("Range", [start, depth, step], {"Tidx": index_dtype}, name=f"{node.name}/positions",
                             dtype=index_dtype)
    hit = graph.add_op("Equal", [column, positions], {"T": index_dtype}, name=f"{node.name}/hit", dtype=DType.BOOL)
    rewrite(node, "SelectV2", [hit, on, off], {"T": node.attrs.get("T", on.dtype)})


class NormalizeOneHot(Pass):
    """``OneHot(axis≠-1)`` → ``OneHot(axis=-1)`` + ``Transpose``; constant depth 1 → ``SelectV2``."""

    name = "one_hot"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        shapes = None
        count = 0
        for node in list(graph.nodes):
            if node.op != "OneHot" or len(node.inputs) != 4:
                continue
            axis = int(node.attrs.get("axis", -1))
            depth = const_array(node.inputs[1])
            is_depth_one = depth is not None and depth.size == 1 and int(depth.reshape(())) == 1
            small = depth is None or (depth.size == 1 and int(depth.reshape(())) == 0)  # 0 or 1 may come at run time
            if axis == -1 and not is_depth_one and not small:
                continue
            if axis != -1:
                shapes = shapes if shapes is not None else infer_shapes(graph)
                indices_shape = shapes.get(node.inputs[0])
                if indices_shape is None:
                    continue
                rank = len(indices_shape)
                axis = axis + rank + 1 if axis < 0 else axis
                last = graph.add_node("OneHot", list(node.inputs), {**node.attrs, "axis": -1},
                                      name=f"{node.name}/last_axis")
                last.output(0).dtype = node.output(0).dtype
                if is_depth_one:
                    depth_one(graph, last)
                elif small:
                    by_range(graph, last)
                perm = graph.const(np.asarray([*range(axis), rank, *range(axis, rank)], np.int32),
                                   name=f"{node.name}/perm")
                rewrite(node, "Transpose", [last.output(0), perm],
                        {"T": node.attrs.get("T", node.output(0).dtype), "Tperm": DType.INT32})
            elif is_depth_one:
                depth_one(graph, node)
            else:
                by_range(graph, node)
            count += 1
        return PassResult(count)
