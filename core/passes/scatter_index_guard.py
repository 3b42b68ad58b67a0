"""Run-time scatter indices routed through a ``GatherV2`` that raises, as TF does, on one outside the tensor.

TF raises on a scatter index outside the tensor (negative ones too). TF.js 4.22 does not check them alike (measured
session 21, ``ScatterNd`` and ``TensorScatterUpdate`` with placeholder indices into ``[4, 3]``): cpu checks only the
flattened index (``[0, 5]`` lands on ``[1, 2]``, silently); wasm checks nothing (``[4, 0]``, ``[-1, 0]`` and
``[400, 0]`` return as if the update were absent, the write gone elsewhere in wasm's memory, which can corrupt other
tensors; ``[4]`` into 4 rows ends in "memory access out of bounds"); webgl drops the update. TF.js's ``GatherV2``
asserts every index on cpu and wasm ("GatherV2: the index value … is not in [0, n-1]"); webgl's only under TF.js's
``DEBUG`` flag (else it reads 0), so there an update outside is still dropped, never written elsewhere.

So each run-time ``indices`` (last axis: one component per indexed axis, ``upper`` = that axis's size - 1) becomes
``indices + GatherV2([0], Minimum(indices, 0) + (Maximum(indices, upper) - upper))``: the gathered position is 0
exactly when every component is inside its axis (the first term is negative only below 0, the second positive only
past ``upper``, so they never cancel), a valid index is unchanged bit for bit and any other fails the run on cpu and
wasm. Sizes come from the
tensor's static shape, or at run time from ``Shape`` (``ScatterNd``: its ``shape`` input). Constant indices are left
alone (``tensor_scatter_update`` checks and rewrites them). An index depth (the indices' last size) unknown to the
converter is read at run time too.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import const_array

#: op → (input holding the indices, input whose sizes they index, whether that input is a shape vector)
GUARDED = {"ScatterNd": (0, 2, True), "TensorScatterUpdate": (1, 0, False)}


def _index_type(node: Node, indices: Value) -> DType:
    dtype = node.attrs.get("Tindices") or indices.dtype
    return dtype if isinstance(dtype, DType) else DType.INT32


def _is_guarded(indices: Value) -> bool:
    """``indices`` is already ``x + GatherV2([0], …)`` (what :func:`guard` makes): the pass runs to a fixed point."""
    add = indices.producer
    if add.op != "AddV2" or len(add.inputs) != 2 or add.inputs[1].producer.op != "GatherV2":
        return False
    table = const_array(add.inputs[1].producer.inputs[0])
    return table is not None and table.shape == (1,) and not table.any()


def _known(value: Value, shapes: dict) -> tuple | None:
    shape = value.shape if value.shape is not None else shapes.get(value)
    return None if shape is None else tuple(shape)


def _uppers(graph: Graph, node: Node, depth: int | None, dtype: DType, shapes: dict) -> Value:
    """The largest valid index per indexed axis, ``[depth]``: a constant when the sizes and the depth are known,
    else sliced at run time from the sizes (``Shape`` of the tensor, or ``ScatterNd``'s shape input)."""
    indices_at, source, is_shape = GUARDED[node.op]
    sizes = node.inputs[source]
    known = const_array(sizes) if is_shape else None
    if known is not None:
        dims: list = [int(d) for d in known.reshape(-1)]
    else:
        dims = list(_known(sizes, shapes) or [None]) if not is_shape else [None]
    if depth is not None and all(isinstance(d, int) and d >= 0 for d in dims[:depth]) and len(dims) >= depth:
        return graph.const(np.array(dims[:depth], dtype.numpy) - 1, name=f"{node.name}/index_upper", dtype=dtype)

    def ints(values: list[int], label: str) -> Value:
        return graph.const(np.array(values, np.int32), name=f"{node.name}/{label}", dtype=DType.INT32)

    def head(vector: Value, begin: list[int], end: Value, label: str, end_mask: int = 0) -> Value:
        return graph.add_op("StridedSlice", [vector, ints(begin, f"{label}_begin"), end, ints([1], f"{label}_stride")],
                            {"T": dtype, "Index": DType.INT32, "begin_mask": 0, "end_mask": end_mask,
                             "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0},
                            name=f"{node.name}/{label}", dtype=dtype, shape=(depth,))

    if all(isinstance(d, int) and d >= 0 for d in dims):
        sizes = graph.const(np.array(dims, dtype.numpy), name=f"{node.name}/index_sizes", dtype=dtype)
    elif not is_shape:
        sizes = graph.add_op("Shape", [sizes], {"T": sizes.dtype, "out_type": dtype}, name=f"{node.name}/index_sizes",
                             dtype=dtype, shape=None)
    if depth is None:  # the index depth at run time: the indices' last size
        indices = node.inputs[indices_at]
        whole = graph.add_op("Shape", [indices], {"T": dtype, "out_type": DType.INT32},
                             name=f"{node.name}/indices_sizes", dtype=DType.INT32, shape=None)
        end = graph.add_op("StridedSlice", [whole, ints([-1], "depth_begin"), ints([0], "depth_end"),
                                            ints([1], "depth_stride")],
                           {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": 1,
                            "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0},
                           name=f"{node.name}/index_depth", dtype=DType.INT32, shape=(1,))
    else:
        end = ints([depth], "sizes_end")
    one = graph.const(np.ones((), dtype.numpy), name=f"{node.name}/index_one", dtype=dtype)
    return graph.add_op("Sub", [head(sizes, [0], end, "indexed_sizes"), one], {"T": dtype},
                        name=f"{node.name}/index_upper", dtype=dtype, shape=(depth,))


def guard(graph: Graph, node: Node, shapes: dict) -> None:
    """Route ``node``'s run-time indices through the raising ``GatherV2``."""
    position = GUARDED[node.op][0]
    indices = node.inputs[position]
    shape = _known(indices, shapes)
    depth = shape[-1] if shape and isinstance(shape[-1], int) and shape[-1] >= 0 else None
    dtype = _index_type(node, indices)
    upper = _uppers(graph, node, depth, dtype, shapes)
    name = node.name

    def op(kind: str, inputs: list[Value], label: str, attrs: dict | None = None) -> Value:
        return graph.add_op(kind, inputs, attrs or {"T": dtype}, name=f"{name}/{label}", dtype=dtype, shape=shape)

    zero = graph.const(np.zeros((), dtype.numpy), name=f"{name}/index_zero", dtype=dtype)
    below = op("Minimum", [indices, zero], "index_below")  # < 0 exactly where a component is negative
    above = op("Sub", [op("Maximum", [indices, upper], "index_capped"), upper], "index_above")  # > 0 past the axis
    outside = op("AddV2", [below, above], "index_outside")
    table = graph.const(np.zeros((1,), dtype.numpy), name=f"{name}/index_check_table", dtype=dtype)
    axis = graph.const(np.array(0, np.int32), name=f"{name}/index_check_axis", dtype=DType.INT32)
    checked = op("GatherV2", [table, outside, axis], "index_check",
                 {"Tparams": dtype, "Tindices": dtype, "Taxis": DType.INT32, "batch_dims": 0})
    node.inputs[position] = op("AddV2", [indices, checked], "checked_indices")


class ScatterIndexGuard(Pass):
    """``ScatterNd``/``TensorScatterUpdate`` with run-time indices: an index outside the tensor makes TF.js raise
    (cpu, wasm; webgl drops that update) as TF does, instead of wasm writing outside its buffer."""

    name = "scatter_index_guard"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        from .shapes import infer_shapes

        count, shapes = 0, None
        for node in graph.nodes:
            spec = GUARDED.get(node.op)
            if spec is None or len(node.inputs) <= max(spec[:2]):
                continue
            indices = node.inputs[spec[0]]
            if const_array(indices) is not None or _is_guarded(indices):
                continue
            if shapes is None:
                shapes = infer_shapes(graph)
            guard(graph, node, shapes)
            count += 1
        return PassResult(count)
