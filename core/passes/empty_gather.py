"""``GatherV2`` from params that may be empty at run time keeps TF's output shape on wasm.

Measured in TF.js 4.22 against TF (``bench/conformance/empty_tensors.py``, ``tests/test_t3_empty_tensors.py``):
wasm's ``GatherV2`` returns, for params with no elements, its internal flattened shape
``[batch, outer, indices, slice]`` (``tf.gather(p, [1, 4], axis=1)`` of a ``(0, 5)`` tensor gives a
``(1, 0, 2, 1)`` tensor; TF: ``(0, 2)``), so the model goes on with a wrong shape and no error. cpu and webgl
give TF's shape. A gather whose params are computed (not a weight) and have a size unknown at conversion time
becomes ``Reshape(gather, shape)`` with TF's output shape read at run time (``params.shape[:axis] +
indices.shape + params.shape[axis + 1:]``; known parts are constants): a view of the same data on every backend.
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


def may_need(node: Node, shapes: dict, targets: tuple[str, ...]) -> tuple[tuple, int] | None:
    """(params shape, axis) when ``node`` is a ``GatherV2`` a target backend would shape wrongly over empty
    params, else None."""
    if node.op != "GatherV2" or len(node.inputs) != 3 or node.name.endswith(SUFFIX):
        return None
    if not WRONG_SHAPE_WHEN_EMPTY & set(targets) or int(node.attrs.get("batch_dims", 0) or 0) != 0:
        return None
    params = node.inputs[0]
    if params.producer is not None and params.producer.op == "Const":
        return None
    shape, axis = shapes.get(params), const_array(node.inputs[2])
    if shape is None or axis is None or np.asarray(axis).size != 1 or not shape:
        return None
    if all(d is not None and d > 0 for d in shape):
        return None
    return tuple(shape), int(np.asarray(axis).reshape(-1)[0]) % len(shape)


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


def reshape_to_tf_shape(graph: Graph, node: Node, params_shape: tuple, axis: int, shapes: dict) -> bool:
    """Rewrite ``node`` as ``Reshape(its gather, TF's output shape)``; False when the indices' rank is unknown."""
    indices = node.inputs[1]
    indices_shape = shapes.get(indices)
    if indices_shape is None:
        return False
    name, rank = f"{node.name}/nonempty", len(params_shape)
    params_dtype = node.attrs.get("Tparams") or node.inputs[0].dtype or node.output(0).dtype
    pieces = [p for p in (
        _piece(graph, node.inputs[0], params_shape, list(range(axis)), f"{name}/before"),
        _piece(graph, indices, tuple(indices_shape), list(range(len(indices_shape))), f"{name}/indices"),
        _piece(graph, node.inputs[0], params_shape, list(range(axis + 1, rank)), f"{name}/after")) if p is not None]
    out_shape = tuple(params_shape[:axis]) + tuple(indices_shape) + tuple(params_shape[axis + 1:])
    if not pieces:  # a scalar result: nothing to reshape
        return False
    if len(pieces) == 1:
        target = pieces[0]
    else:
        target = graph.add_op("ConcatV2", [*pieces, graph.const(np.int32(0), name=f"{name}/axis")],
                              {"T": DType.INT32, "N": len(pieces), "Tidx": DType.INT32}, name=f"{name}/shape",
                              dtype=DType.INT32, shape=(len(out_shape),))
    inner = graph.add_node(node.op, node.inputs, dict(node.attrs), name=node.name + SUFFIX)
    inner.output(0).dtype, inner.output(0).shape = node.output(0).dtype, node.output(0).shape
    rewrite(node, "Reshape", [inner.output(0), target], {"T": params_dtype, "Tshape": DType.INT32})
    return True
