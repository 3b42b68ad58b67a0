"""``GatherV2`` from params that may be empty at run time keeps TF's output shape on wasm.

Measured in TF.js 4.22 against TF (``bench/conformance/empty_tensors.py``, ``tests/test_t3_empty_tensors.py``):
wasm's ``GatherV2`` returns, for params with no elements, its internal flattened shape
``[batch, outer, indices, slice]`` (``tf.gather(p, [1, 4], axis=1)`` of a ``(0, 5)`` tensor gives a
``(1, 0, 2, 1)`` tensor; TF: ``(0, 2)``), so the model goes on with a wrong shape and no error. cpu and webgl
give TF's shape. A gather whose params are computed (not a weight) and have a size unknown at conversion time
becomes ``Reshape(gather, shape)`` with TF's output shape read at run time (``params.shape[:axis] +
indices.shape + params.shape[axis + 1:]``; known parts are constants): a view of the same data on every backend.
Params of unknown rank (a loop variable through a lowered loop's ``Merge``, an unranked input) take the pieces
before and after the axis from ``StridedSlice``s of their run-time ``Shape`` (a negative axis counts from the end
there as in TF); indices of unknown rank give their whole ``Shape``. An axis known only at run time (a
``tf.gather`` fed its axis) is counted from the end by ``SelectV2`` when negative, and the pieces are ``Slice``s.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .graph_edit import const_array, rewrite

#: Backends whose GatherV2 over empty params gives another shape than TF's (webgpu: not probed, assumed so).
WRONG_SHAPE_WHEN_EMPTY = frozenset({"wasm", "webgpu"})
#: Name suffix of the gather kept inside the rewrite (never rewritten again).
SUFFIX = "/nonempty/gathered"


def may_need(node: Node, shapes: dict, targets: tuple[str, ...]) -> tuple[tuple | None, int | None] | None:
    """(params shape, axis) when ``node`` is a ``GatherV2`` a target backend would shape wrongly over empty
    params, else None. The shape is None when the params' rank is unknown; the axis is then as written (it may
    be negative), else counted from 0; None when it is known only at run time (a known shape then only fixes the
    result's rank)."""
    if node.op != "GatherV2" or len(node.inputs) != 3 or node.name.endswith(SUFFIX):
        return None
    if not WRONG_SHAPE_WHEN_EMPTY & set(targets) or int(node.attrs.get("batch_dims", 0) or 0) != 0:
        return None
    params = node.inputs[0]
    shape, axis = shapes.get(params), const_array(node.inputs[2])
    if params.producer is not None and params.producer.op == "Const" and shape is not None and 0 not in shape:
        return None  # a weight: its shape is known and holds elements (an empty one goes on: indices fed)
    if (axis is not None and np.asarray(axis).size != 1) or (shape is not None and not shape):
        return None
    if shape is not None and all(d is not None and d > 0 for d in shape):
        return None
    if axis is None:  # the known shape still fixes the result's rank
        return (None if shape is None else tuple(shape)), None
    written = int(np.asarray(axis).reshape(-1)[0])
    return (None, written) if shape is None else (tuple(shape), written % len(shape))


def _piece(graph: Graph, value: Value, known: tuple, picked: list[int], name: str) -> Value | None:
    """``value``'s sizes along ``picked`` as an int32 vector: a constant when known here."""
    if not picked:
        return None
    sizes = [known[a] for a in picked]
    if all(s is not None for s in sizes):
        return graph.const(np.asarray(sizes, np.int32), name=f"{name}/known")
    dims = graph.add_op("Shape", [value], {"T": value.dtype or DType.FLOAT32, "out_type": DType.INT32},
                        name=f"{name}/dims", dtype=DType.INT32, shape=(len(known),))
    if picked == list(range(len(known))):
        return dims
    return graph.add_op("GatherV2", [dims, graph.const(np.asarray(picked, np.int32), name=f"{name}/axes"),
                                     graph.const(np.int32(0), name=f"{name}/gather_axis")],
                        {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                        name=name, dtype=DType.INT32, shape=(len(picked),))


def _whole_shape(graph: Graph, value: Value, name: str) -> Value:
    """``Shape(value)`` as int32, for a value whose rank is unknown here."""
    return graph.add_op("Shape", [value], {"T": value.dtype or DType.FLOAT32, "out_type": DType.INT32},
                        name=name, dtype=DType.INT32, shape=(None,))


def _run_time_pieces(graph: Graph, params: Value, axis: int, name: str) -> tuple[Value | None, Value | None]:
    """``Shape(params)[:axis]`` and ``[axis + 1:]`` for params of unknown rank (None: statically empty).

    ``StridedSlice`` counts a negative bound from the end, so a negative axis needs no rank: ``[:-2]`` and
    ``[-1:]`` around axis -2; axis -1 has nothing after it."""
    dims = _whole_shape(graph, params, f"{name}/params_dims")

    def sliced(begin: int, end: int, end_mask: int, label: str) -> Value:
        bounds = [graph.const(np.asarray([v], np.int32), name=f"{name}/{label}/{part}")
                  for part, v in (("begin", begin), ("end", end), ("stride", 1))]
        return graph.add_op("StridedSlice", [dims, *bounds],
                            {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": end_mask,
                             "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0},
                            name=f"{name}/{label}", dtype=DType.INT32, shape=(None,))

    before = sliced(0, axis, 0, "before") if axis != 0 else None
    after = sliced(axis + 1, 0, 1, "after") if axis != -1 else None
    return before, after


def _run_time_axis_pieces(graph: Graph, params: Value, axis: Value, name: str) -> tuple[Value, Value]:
    """``Shape(params)[:axis]`` and ``[axis + 1:]`` for an axis known only at run time (a negative one counts
    from the end: ``SelectV2`` of scalars, no broadcast)."""
    i32 = DType.INT32
    dims = _whole_shape(graph, params, f"{name}/params_dims")

    def op(kind: str, inputs: list[Value], attrs: dict, label: str, shape: tuple | None = ()) -> Value:
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{label}", dtype=i32 if kind != "Less" else DType.BOOL,
                            shape=shape)

    def ints(values: list[int] | int, label: str) -> Value:
        return graph.const(np.asarray(values, np.int32), name=f"{name}/{label}")

    if axis.dtype not in (None, i32):
        axis = op("Cast", [axis], {"SrcT": axis.dtype, "DstT": i32, "Truncate": False}, "axis_int32")
    axis = op("Reshape", [axis, ints([], "scalar")], {"T": i32, "Tshape": i32}, "axis_scalar")
    rank = op("Rank", [params], {"T": params.dtype or DType.FLOAT32}, "params_rank")
    negative = op("Less", [axis, ints(0, "zero")], {"T": i32}, "axis_negative")
    counted = op("SelectV2", [negative, op("AddV2", [axis, rank], {"T": i32}, "axis_from_end"), axis], {"T": i32},
                 "axis_counted")
    ends = op("Reshape", [counted, ints([1], "one_long")], {"T": i32, "Tshape": i32}, "axis_vector", (1,))
    starts = op("AddV2", [ends, ints([1], "next")], {"T": i32}, "after_start", (1,))
    before = op("Slice", [dims, ints([0], "before_start"), ends], {"T": i32, "Index": i32}, "before", (None,))
    after = op("Slice", [dims, starts, ints([-1], "to_the_end")], {"T": i32, "Index": i32}, "after", (None,))
    return before, after


def reshape_to_tf_shape(graph: Graph, node: Node, params_shape: tuple | None, axis: int | None, shapes: dict,
                        out_rank: int | None = None) -> bool:
    """Rewrite ``node`` as ``Reshape(its gather, TF's output shape)`` (``params_shape`` None: rank unknown, the
    shape read at run time; ``axis`` None: known only at run time, the result's rank then ``out_rank`` where the
    inferred ranks know it); False for a result known to be a scalar."""
    indices = node.inputs[1]
    indices_shape = shapes.get(indices)
    name = f"{node.name}/nonempty"
    params_dtype = node.attrs.get("Tparams") or node.inputs[0].dtype or node.output(0).dtype
    if indices_shape is None:
        middle = _whole_shape(graph, indices, f"{name}/indices/dims")
    else:
        middle = _piece(graph, indices, tuple(indices_shape), list(range(len(indices_shape))), f"{name}/indices")
    if axis is None:
        before, after = _run_time_axis_pieces(graph, node.inputs[0], node.inputs[2], name)
        if params_shape is not None and indices_shape is not None:
            out_rank = len(params_shape) + len(indices_shape) - 1
        out_shape = None if out_rank is None else (None,) * out_rank
    elif params_shape is None:
        before, after = _run_time_pieces(graph, node.inputs[0], axis, name)
        out_shape = None
    else:
        rank = len(params_shape)
        before = _piece(graph, node.inputs[0], params_shape, list(range(axis)), f"{name}/before")
        after = _piece(graph, node.inputs[0], params_shape, list(range(axis + 1, rank)), f"{name}/after")
        out_shape = (tuple(params_shape[:axis]) + tuple(indices_shape) + tuple(params_shape[axis + 1:])
                     if indices_shape is not None else None)
    pieces = [p for p in (before, middle, after) if p is not None]
    if not pieces:  # a scalar result: nothing to reshape
        return False
    if len(pieces) == 1:
        target = pieces[0]
    else:
        target = graph.add_op("ConcatV2", [*pieces, graph.const(np.int32(0), name=f"{name}/axis")],
                              {"T": DType.INT32, "N": len(pieces), "Tidx": DType.INT32}, name=f"{name}/shape",
                              dtype=DType.INT32, shape=(len(out_shape) if out_shape is not None else None,))
    inner = graph.add_node(node.op, node.inputs, dict(node.attrs), name=node.name + SUFFIX)
    inner.output(0).dtype, inner.output(0).shape = node.output(0).dtype, node.output(0).shape
    rewrite(node, "Reshape", [inner.output(0), target], {"T": params_dtype, "Tshape": DType.INT32})
    return True
