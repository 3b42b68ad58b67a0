"""A ``Reshape`` to ``[leading sizes of x, constants with one -1]``: the -1 written from ``x``'s other sizes.

TF.js (every backend, 4.22) cannot infer a -1 when the tensor has no elements: ``Reshape(x, [0, -1, 3])`` of a
``(0, 4, 6)`` tensor throws "Cannot infer the missing size in [0,-1,3] when there are 0 elements". TF's own
``Reshape`` answers ``(0, 8, 3)``: when the target has a 0, TF leaves the zeros out of both products (the input's
sizes and the target's known ones; ``reshape_op.h``), so ``(0, 0, 6)`` to ``[0, -1, 3]`` is ``(0, 2, 3)``. The TF
frontend, tf_keras's ``Flatten``/``Reshape`` (``tf.reshape(x, (tf.shape(x)[0], ...))``) and ONNX (where onnxruntime
raises instead) get that rule. Keras 3's ``Flatten``/``Reshape`` work the -1 out from the eager shape, zeros
included (``(0, 0, 3)``), and so do the Keras lowering's own reshapes: those Reshapes carry
:data:`ZEROS_COUNT_ATTR`. When the target is a ``ConcatV2`` of a prefix of ``x``'s own run-time ``Shape``
(``[0:k]``, ``k`` up to its rank) and constants with one -1, the -1 becomes ``prod(Shape(x)[k:]) // others``
(TF: each 0 of the tail counted as 1 when the prefix has a 0): what TF.js infers whenever there are elements. A constant 0 beside the -1,
another prefix or an unknown rank is left as it was.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .graph_edit import const_array

_I32 = {"T": DType.INT32}
#: A node attr (true) a frontend sets on a ``Reshape`` whose -1 counts the input's zero sizes (Keras 3's rule).
ZEROS_COUNT_ATTR = "_missing_size_counts_zeros"


def _leading_sizes_of(piece: Value, x: Value, rank: int) -> int | None:
    """k when ``piece`` is ``Shape(x)[0:k]`` (a ``StridedSlice`` or ``Slice`` from 0; a ``StridedSlice``'s end may
    count from the end, ``[:-1]``) or ``Shape(x)`` itself (``k`` = rank), else None."""
    node = piece.producer
    if node is not None and node.op == "Shape" and node.inputs and node.inputs[0] is x:
        return rank  # the whole Shape(x)
    if node is None or node.op not in ("StridedSlice", "Slice") or len(node.inputs) < 3:
        return None
    shape = node.inputs[0].producer
    if shape is None or shape.op != "Shape" or not shape.inputs or shape.inputs[0] is not x:
        return None
    begin, end = (const_array(v) for v in node.inputs[1:3])
    if begin is None or end is None or begin.reshape(-1).tolist() != [0] or end.size != 1:
        return None
    stop = int(end.reshape(-1)[0])
    if stop < 0 and node.op == "StridedSlice":
        stop += rank
    if stop < 0:
        return None
    if node.op == "StridedSlice":
        strides = const_array(node.inputs[3]) if len(node.inputs) > 3 else None
        masks = [int(node.attrs.get(m, 0) or 0) for m in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                                           "shrink_axis_mask")]
        if strides is None or strides.reshape(-1).tolist() != [1] or any(masks[1:]):
            return None
    return stop


def write_missing_size(graph: Graph, node: Node, rank: int | None, x_shape: tuple | None = None) -> bool:
    """Rewrite ``node``'s target (see the module docstring); ``rank`` is ``x``'s, None when unknown; ``x_shape`` its
    static shape if known (sizes after the prefix all known: the -1 is written as a constant)."""
    if node.op != "Reshape":
        return False
    zeros_count = bool(node.attrs.pop(ZEROS_COUNT_ATTR, False))  # read here only: never written to model.json
    if len(node.inputs) != 2 or rank is None:
        return False
    x, target = node.inputs
    concat = target.producer
    if concat is None or concat.op != "ConcatV2" or len(concat.inputs) != 3 or \
            concat.attrs.get("T") not in (None, DType.INT32):
        return False
    axis = const_array(concat.inputs[2])
    if axis is None or axis.size != 1 or int(axis.reshape(-1)[0]) != 0:
        return False
    k = _leading_sizes_of(concat.inputs[0], x, rank)
    tail = const_array(concat.inputs[1])
    if k is None or tail is None or not 0 < k <= rank or tail.ndim != 1 or (tail == -1).sum() != 1:
        return False
    others = int(np.prod(tail[tail != -1], dtype=np.int64))
    if others <= 0 or k == rank and others != 1:  # [Shape(x), -1, 2]: TF raises, a written 0 would not
        return False
    at = int(np.flatnonzero(tail == -1)[0])
    name = f"{node.name}/missing_size"
    known = x_shape[k:] if x_shape is not None and len(x_shape) == rank else () if k == rank else (None,)
    if None not in known and (zeros_count or 0 not in known):
        size = graph.const(np.int32([int(np.prod(known)) // others]), name=name)
    else:
        prefix_zero = None if zeros_count else _one_if_a_zero(graph, concat.inputs[0], name)
        size = _size_at_run_time(graph, x, k, rank, others, name, prefix_zero)
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


def _one_if_a_zero(graph: Graph, prefix: Value, name: str) -> Value:
    """``[1]`` when the int32 size vector ``prefix`` holds a 0, else ``[0]`` (TF's "target has a zero")."""
    least = graph.add_op("Min", [prefix, graph.const(np.int32([0]), name=f"{name}/prefix_axis")],
                         {**_I32, "Tidx": DType.INT32, "keep_dims": True}, name=f"{name}/prefix_least",
                         dtype=DType.INT32, shape=(1,))
    nonzero = graph.add_op("Minimum", [least, graph.const(np.int32([1]), name=f"{name}/one")], _I32,
                           name=f"{name}/prefix_nonzero", dtype=DType.INT32, shape=(1,))
    return graph.add_op("Sub", [graph.const(np.int32([1]), name=f"{name}/one_again"), nonzero], _I32,
                        name=f"{name}/prefix_zero", dtype=DType.INT32, shape=(1,))


def _size_at_run_time(graph: Graph, x: Value, k: int, rank: int, others: int, name: str,
                      prefix_zero: Value | None) -> Value:
    """``prod(Shape(x)[k:]) // others`` as a one-element int32 vector (``Shape`` merged by ``cse``); with
    ``prefix_zero`` (TF's rule) the tail's zeros count as 1 when it is 1."""
    dims = graph.add_op("Shape", [x], {"T": x.dtype or DType.FLOAT32, "out_type": DType.INT32}, name=f"{name}/dims",
                        dtype=DType.INT32, shape=(rank,))
    rest = graph.add_op("StridedSlice", [dims, *(graph.const(np.int32([v]), name=f"{name}/{label}") for label, v in
                                                  (("begin", k), ("end", rank), ("stride", 1)))],
                        {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
                         "new_axis_mask": 0, "shrink_axis_mask": 0}, name=f"{name}/rest", dtype=DType.INT32,
                        shape=(rank - k,))
    if prefix_zero is not None:
        rest = graph.add_op("Maximum", [rest, prefix_zero], _I32, name=f"{name}/rest_nonzero", dtype=DType.INT32,
                            shape=(rank - k,))
    count = graph.add_op("Prod", [rest, graph.const(np.int32([0]), name=f"{name}/axis")],
                         {**_I32, "Tidx": DType.INT32, "keep_dims": True}, name=f"{name}/rest_count",
                         dtype=DType.INT32, shape=(1,))
    return graph.add_op("FloorDiv", [count, graph.const(np.int32([others]), name=f"{name}/others")], _I32,
                        name=name, dtype=DType.INT32, shape=(1,))
