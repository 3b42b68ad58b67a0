"""Scatter and ``GatherNd`` indices checked as TF checks them: one outside the tensor fails the TF.js run.

TF raises on a scatter or ``GatherNd`` index outside the tensor (negative ones too). TF.js 4.22 does not check them
alike (measured sessions 21 and 22, ``ScatterNd``/``TensorScatterUpdate``/``GatherNd`` with placeholder indices into
``[4, 3]``): cpu checks only the flattened index (``[0, 5]`` lands on ``[1, 2]``, silently; ``GatherNd`` reads it
there); wasm checks nothing (a scatter's ``[4, 0]``, ``[-1, 0]``, ``[400, 0]`` write elsewhere in wasm's memory, which
can corrupt other tensors, and ``[4]`` into 4 rows ends in "memory access out of bounds"; ``GatherNd`` returns
whatever lies there, e.g. 7.8e-44); webgl drops the update and reads 0. TF.js's ``GatherV2`` asserts every index on
cpu and wasm ("GatherV2: the index value … is not in [0, n-1]"); webgl's only under TF.js's ``DEBUG`` flag (else it
reads 0), so there an update outside is still dropped and a read outside is 0, never garbage.

So each run-time ``indices`` (last axis: one component per indexed axis, ``upper`` = that axis's size - 1) becomes
``indices + GatherV2([0], Minimum(indices, 0) + (Maximum(indices, upper) - upper))``: the gathered position is 0
exactly when every component is inside its axis (the first term is negative only below 0, the second positive only
past ``upper``, so they never cancel), a valid index is unchanged bit for bit and any other fails the run on cpu and
wasm. Sizes come from the tensor's static shape, or at run time from ``Shape`` (``ScatterNd``: its ``shape``
input). An index depth (the indices' last size) unknown to the converter is read at run time too.

Constant indices stay constant. Into axes of known size they are checked here (one outside is refused: TF raises
for every input). Into an axis whose size is known only at run time, the sizes themselves are checked: the
``shape`` of a ``ScatterNd`` (or the tensor of a ``TensorScatterUpdate``/the params of a ``GatherNd``, through a
``Reshape`` to its own checked ``Shape``) becomes ``sizes + GatherV2([0], Maximum(limit - sizes, 0))`` with
``limit`` each indexed axis's largest constant index + 1 (0 elsewhere), which fails the run exactly when an index
reaches its axis's size, and is the sizes themselves otherwise.

A ``GatherNd`` a lowering builds with indices in range by construction (CLAHE's tables) may carry the attr
:data:`IN_RANGE_ATTR` (true): it is left alone.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import const_array

#: op → (input holding the indices, input whose sizes they index, whether that input is a shape vector)
GUARDED = {"ScatterNd": (0, 2, True), "TensorScatterUpdate": (1, 0, False), "GatherNd": (1, 0, False)}
#: A node attr a lowering sets (true) on a ``GatherNd`` whose run-time indices are in range by construction.
IN_RANGE_ATTR = "_indices_in_range"


def _index_type(node: Node, indices: Value) -> DType:
    dtype = node.attrs.get("Tindices") or indices.dtype
    return dtype if isinstance(dtype, DType) else DType.INT32


def is_guarded(indices: Value) -> bool:
    """``indices`` is already ``x + GatherV2([0], …)`` (what :func:`guard` makes): the pass runs to a fixed point."""
    add = indices.producer
    if add.op != "AddV2" or len(add.inputs) != 2 or add.inputs[1].producer.op != "GatherV2":
        return False
    table = const_array(add.inputs[1].producer.inputs[0])
    return table is not None and table.shape == (1,) and not table.any()


def _reshaped_to_checked(value: Value) -> bool:
    """``value`` is ``Reshape(t, checked sizes)`` (what :func:`check_sizes` makes of a tensor)."""
    node = value.producer
    return node.op == "Reshape" and len(node.inputs) == 2 and is_guarded(node.inputs[1])


def _sizes_checked(node: Node) -> bool:
    """The sizes ``node``'s constant indices index are checked already: a checked ``Reshape`` (or the ``Shape`` of
    one, e.g. the ``ScatterNd`` that ``tensor_scatter_update`` builds from a checked ``TensorScatterUpdate``)."""
    _, source, is_shape = GUARDED[node.op]
    sizes = node.inputs[source]
    if not is_shape:
        return _reshaped_to_checked(sizes)
    if is_guarded(sizes):
        return True
    return sizes.producer.op == "Shape" and bool(sizes.producer.inputs) and _reshaped_to_checked(
        sizes.producer.inputs[0])


def _known(value: Value, shapes: dict) -> tuple | None:
    shape = value.shape if value.shape is not None else shapes.get(value)
    return None if shape is None else tuple(shape)


def _static_sizes(node: Node, shapes: dict) -> list | None:
    """The sizes of the tensor ``node`` indexes as far as the converter knows them (None: not even the rank)."""
    _, source, is_shape = GUARDED[node.op]
    sizes = node.inputs[source]
    if is_shape:
        known = const_array(sizes)
        if known is not None:
            return [int(d) for d in known.reshape(-1)]
        if sizes.producer.op == "Shape" and sizes.producer.inputs:  # the sizes of a tensor, maybe known here
            return _static_sizes_of(sizes.producer.inputs[0], shapes)
        length = _known(sizes, shapes)
        return [None] * length[0] if length and len(length) == 1 and isinstance(length[0], int) else None
    return _static_sizes_of(sizes, shapes)


def _static_sizes_of(tensor: Value, shapes: dict) -> list | None:
    shape = _known(tensor, shapes)
    return None if shape is None else [d if isinstance(d, int) and d >= 0 else None for d in shape]


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


def _raising_zeros(graph: Graph, name: str, outside: Value, dtype: DType, shape) -> Value:
    """``GatherV2([0], outside)``: zeros shaped as ``outside`` where it is all 0, a failed run (cpu, wasm) else."""
    table = graph.const(np.zeros((1,), dtype.numpy), name=f"{name}/index_check_table", dtype=dtype)
    axis = graph.const(np.array(0, np.int32), name=f"{name}/index_check_axis", dtype=DType.INT32)
    return graph.add_op("GatherV2", [table, outside, axis],
                        {"Tparams": dtype, "Tindices": dtype, "Taxis": DType.INT32, "batch_dims": 0},
                        name=f"{name}/index_check", dtype=dtype, shape=shape)


def _indices_shape(indices: Value, shapes: dict, ranks: dict | None) -> tuple | None:
    """The indices' shape as far as known; from their rank and depth (``shape_rank``: e.g. a ``Pack`` on the last
    axis) when shape inference has none, so the guarded indices keep telling ``GatherNd``'s rank rule its depth."""
    shape = _known(indices, shapes)
    if (shape and isinstance(shape[-1], int) and shape[-1] >= 0) or ranks is None:
        return shape
    from ..shape_rank import RankContext

    rank, depth = ranks.get(indices), RankContext(ranks).last_size(indices)
    if not rank or depth is None:
        return shape
    return (*(shape[:-1] if shape and len(shape) == rank else (None,) * (rank - 1)), depth)


def guard(graph: Graph, node: Node, shapes: dict, ranks: dict | None = None) -> None:
    """Route ``node``'s run-time indices through the raising ``GatherV2``."""
    position = GUARDED[node.op][0]
    indices = node.inputs[position]
    shape = _indices_shape(indices, shapes, ranks)
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
    checked = _raising_zeros(graph, name, outside, dtype, shape)
    node.inputs[position] = op("AddV2", [indices, checked], "checked_indices")


def _refuse(node: Node, axis: int, index: int, size: int | None) -> None:
    from ..errors import InputError

    where = f"axis {axis} of size {size}" if size is not None else f"axis {axis}"
    raise InputError(f"{node.op} {node.name!r}: the constant index {index} is outside the tensor's {where} "
                     f"(TensorFlow raises on it for every input)")


def constant_limits(node: Node, indices: np.ndarray, sizes: list | None) -> list[int] | None:
    """Each indexed axis's largest constant index + 1 where its size is known only at run time (0 elsewhere), over
    every axis of the tensor; None when every one is checked here. A negative index, or one past a known size, is
    refused."""
    depth = indices.shape[-1] if indices.ndim else 0
    rows = indices.reshape(-1, depth) if depth else np.zeros((0, 0), np.int64)
    if not rows.size:
        return None
    lowest, highest = rows.min(axis=0), rows.max(axis=0)
    limits = [0] * (len(sizes) if sizes is not None else depth)
    for axis in range(depth):
        size = sizes[axis] if sizes is not None and axis < len(sizes) else None
        if lowest[axis] < 0:
            _refuse(node, axis, int(lowest[axis]), size)
        if size is not None and highest[axis] >= size:
            _refuse(node, axis, int(highest[axis]), size)
        if size is None:
            limits[axis] = int(highest[axis]) + 1
    return limits if any(limits) else None


def check_sizes(graph: Graph, node: Node, limits: list[int]) -> None:
    """``node``'s run-time sizes (rank ``len(limits)``) checked against its constant indices' ``limits``."""
    _, source, is_shape = GUARDED[node.op]
    name, i32 = node.name, DType.INT32
    target = node.inputs[source]
    if is_shape:
        dtype = target.dtype if isinstance(target.dtype, DType) else i32
        sizes = target
    else:
        dtype = i32
        sizes = graph.add_op("Shape", [target], {"T": target.dtype, "out_type": i32}, name=f"{name}/checked_sizes_of",
                             dtype=i32, shape=(len(limits),))
    shape = (len(limits),)
    limit = graph.const(np.array(limits, dtype.numpy), name=f"{name}/index_limits", dtype=dtype)
    zero = graph.const(np.zeros((), dtype.numpy), name=f"{name}/index_zero", dtype=dtype)
    short = graph.add_op("Sub", [limit, sizes], {"T": dtype}, name=f"{name}/index_short", dtype=dtype, shape=shape)
    outside = graph.add_op("Maximum", [short, zero], {"T": dtype}, name=f"{name}/index_outside", dtype=dtype,
                           shape=shape)
    checked = graph.add_op("AddV2", [sizes, _raising_zeros(graph, name, outside, dtype, shape)], {"T": dtype},
                           name=f"{name}/checked_sizes", dtype=dtype, shape=shape)
    if is_shape:
        node.inputs[source] = checked
        return
    node.inputs[source] = graph.add_op("Reshape", [target, checked], {"T": target.dtype, "Tshape": i32},
                                       name=f"{name}/checked_tensor", dtype=target.dtype, shape=target.shape)


def _guard_constant(graph: Graph, node: Node, indices: np.ndarray, shapes: dict, ranks: dict) -> bool:
    """Constant indices: checked here against known sizes, at run time (through the sizes) against the others."""
    if _sizes_checked(node):
        return False
    sizes = _static_sizes(node, shapes)
    limits = constant_limits(node, np.asarray(indices).astype(np.int64), sizes)
    if limits is None:
        return False
    if sizes is None:  # the rank is unknown: the indices are checked as run-time ones
        guard(graph, node, shapes, ranks)
    else:
        check_sizes(graph, node, limits)
    return True


class ScatterIndexGuard(Pass):
    """``ScatterNd``/``TensorScatterUpdate``/``GatherNd``: an index outside the tensor makes TF.js raise (cpu, wasm;
    webgl drops that update, reads 0) as TF does, instead of wasm writing or reading outside its buffer."""

    name = "scatter_index_guard"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        from ..shape_rank import infer_ranks
        from .shapes import infer_shapes

        count, shapes, ranks = 0, None, None
        for node in graph.nodes:
            spec = GUARDED.get(node.op)
            if spec is None or len(node.inputs) <= max(spec[:2]) or node.attrs.get(IN_RANGE_ATTR):
                continue
            indices = node.inputs[spec[0]]
            constant = const_array(indices)
            if constant is None and is_guarded(indices):
                continue
            if shapes is None:
                shapes, ranks = infer_shapes(graph), infer_ranks(graph)
            if constant is not None:
                count += _guard_constant(graph, node, constant, shapes, ranks)
                continue
            guard(graph, node, shapes, ranks)
            count += 1
        return PassResult(count)
