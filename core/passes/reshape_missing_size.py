"""A ``Reshape`` to ``[leading sizes of x, constants with one -1]``: the -1 written from ``x``'s other sizes.

TF.js (every backend, 4.22) cannot infer a -1 when the tensor has no elements: ``Reshape(x, [0, -1, 3])`` of a
``(0, 4, 6)`` tensor throws "Cannot infer the missing size in [0,-1,3] when there are 0 elements" (so does TF's own
``Reshape``). The Keras lowering writes such targets for an empty batch's ``Flatten``, ``Reshape((-1, 3))`` and the
layers that keep their leading sizes from ``Shape(x)`` (``batch_sizes`` + a constant tail), where Keras itself
computes the -1 from ``x``'s sizes and returns ``(0, 8, 3)``. When the target is a ``ConcatV2`` of a prefix of
``x``'s own run-time ``Shape`` (``[0:k]``) and constants with one -1, the -1 is ``prod(Shape(x)[k:])`` divided by
the other constants' product: what TF.js infers whenever there are elements, and Keras's size when there are none.
A constant 0 beside the -1 (TF raises there too), another prefix or an unknown rank is left as it was.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .graph_edit import const_array

_I32 = {"T": DType.INT32}


def _leading_sizes_of(piece: Value, x: Value) -> int | None:
    """k when ``piece`` is ``Shape(x)[0:k]`` (a ``StridedSlice`` or ``Slice`` from 0), else None."""
    node = piece.producer
    if node is None or node.op not in ("StridedSlice", "Slice") or len(node.inputs) < 3:
        return None
    shape = node.inputs[0].producer
    if shape is None or shape.op != "Shape" or not shape.inputs or shape.inputs[0] is not x:
        return None
    begin, end = (const_array(v) for v in node.inputs[1:3])
    if begin is None or end is None or begin.reshape(-1).tolist() != [0] or end.size != 1 or int(end[0]) < 0:
        return None
    if node.op == "StridedSlice":
        strides = const_array(node.inputs[3]) if len(node.inputs) > 3 else None
        masks = [int(node.attrs.get(m, 0) or 0) for m in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                                           "shrink_axis_mask")]
        if strides is None or strides.reshape(-1).tolist() != [1] or any(masks[1:]):
            return None
    return int(end.reshape(-1)[0])


def write_missing_size(graph: Graph, node: Node, rank: int | None, x_shape: tuple | None = None) -> bool:
    """Rewrite ``node``'s target (see the module docstring); ``rank`` is ``x``'s, None when unknown; ``x_shape`` its
    static shape if known (sizes after the prefix all known: the -1 is written as a constant)."""
    if node.op != "Reshape" or len(node.inputs) != 2 or rank is None:
        return False
    x, target = node.inputs
    concat = target.producer
    if concat is None or concat.op != "ConcatV2" or len(concat.inputs) != 3 or \
            concat.attrs.get("T") not in (None, DType.INT32):
        return False
    axis = const_array(concat.inputs[2])
    if axis is None or axis.size != 1 or int(axis.reshape(-1)[0]) != 0:
        return False
    k = _leading_sizes_of(concat.inputs[0], x)
    tail = const_array(concat.inputs[1])
    if k is None or tail is None or not 0 < k < rank or tail.ndim != 1 or (tail == -1).sum() != 1:
        return False
    others = int(np.prod(tail[tail != -1], dtype=np.int64))
    if others <= 0:
        return False
    at = int(np.flatnonzero(tail == -1)[0])
    name = f"{node.name}/missing_size"
    known = x_shape[k:] if x_shape is not None and len(x_shape) == rank else (None,)
    size = graph.const(np.int32([int(np.prod(known)) // others]), name=name) if None not in known else \
        _size_at_run_time(graph, x, k, rank, others, name)
    pieces = [concat.inputs[0]]
    if at:
        pieces.append(graph.const(tail[:at].astype(np.int32), name=f"{name}/before"))
    pieces.append(size)
    if at + 1 < tail.size:
        pieces.append(graph.const(tail[at + 1:].astype(np.int32), name=f"{name}/after"))
    written = graph.add_op("ConcatV2", [*pieces, graph.const(np.int32(0), name=f"{name}/concat_axis")],
                           {"T": DType.INT32, "N": len(pieces), "Tidx": DType.INT32}, name=f"{name}/target",
                           dtype=DType.INT32, shape=(k + tail.size,))
    node.inputs = [x, written]
    return True


def _size_at_run_time(graph: Graph, x: Value, k: int, rank: int, others: int, name: str) -> Value:
    """``prod(Shape(x)[k:]) // others`` as a one-element int32 vector (``Shape`` merged by ``cse``)."""
    dims = graph.add_op("Shape", [x], {"T": x.dtype or DType.FLOAT32, "out_type": DType.INT32}, name=f"{name}/dims",
                        dtype=DType.INT32, shape=(rank,))
    rest = graph.add_op("StridedSlice", [dims, *(graph.const(np.int32([v]), name=f"{name}/{label}") for label, v in
                                                  (("begin", k), ("end", rank), ("stride", 1)))],
                        {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
                         "new_axis_mask": 0, "shrink_axis_mask": 0}, name=f"{name}/rest", dtype=DType.INT32,
                        shape=(rank - k,))
    count = graph.add_op("Prod", [rest, graph.const(np.int32([0]), name=f"{name}/axis")],
                         {**_I32, "Tidx": DType.INT32, "keep_dims": True}, name=f"{name}/rest_count",
                         dtype=DType.INT32, shape=(1,))
    return graph.add_op("FloorDiv", [count, graph.const(np.int32([others]), name=f"{name}/others")], _I32,
                        name=name, dtype=DType.INT32, shape=(1,))
