"""``BroadcastTo`` whose target may turn a dim of 1 into 0 keeps TF's (empty) result.

TF.js 4.22's ``broadcastTo`` (tfjs-core ``ops/broadcast_to.js``, used by the graph executor on cpu, wasm and
webgl alike) computes Tile repetitions ``reps[i] = target[i]`` where the input's dim is 1, and returns the input
*unchanged* when no repetition is larger than 1: a target that only turns 1s into 0s (``(1, 3)`` to ``[0, 3]``)
gives the ``(1, 3)`` input back, no error (TF: a ``(0, 3)`` tensor). When some other dim does grow, its Tile
also repeats the 1s zero times and the result is right. A ``BroadcastTo`` where some target dim may be 0 (unknown
or 0 here) while the input's dim there may be 1 (unknown, 1, or a leading dim the input lacks) becomes an
elementwise op against a ``Fill`` of the target, which broadcasts to every shape, 0s included, and gives each
value back bit for bit: ``x * 1`` for numbers (``-0``, NaN and ±inf stay as they are, unlike ``x + 0``),
``x | false`` for booleans. Other dtypes (strings, complex) become ``Tile(x, target - x.shape + 1)`` over the
input reshaped to the target's rank (a repetition of 0 on a dim of 1 empties it; a dim equal to the target's
gets 1). Left alone: inputs whose dims are static and not 1 wherever the target may be 0, target dims read from
the input's own ``Shape`` (through ``ExpandDims``: ONNX grouped-query attention's head repeat), and a broadcast every
reader of which combines it with an operand whose size the target reads there (a mask or PRelu slope broadcast to
``Shape(x)`` and multiplied with ``x``: a kept 1 meets ``x``'s 0 and the result is TF's).
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .graph_edit import const_array, rewrite
from .narrow_ints import tfjs_dtype

_BOOL = DType.BOOL


def _int(d: object) -> bool:
    return isinstance(d, (int, np.integer)) and not isinstance(d, bool)


def _ints(value: Value) -> list[int] | None:
    array = const_array(value)
    return None if array is None else [int(v) for v in np.asarray(array).reshape(-1)]


def _entries(vector: Value, shapes: dict, depth: int = 0) -> list | None:
    """What each entry of an int vector (a shape being built) is: an int, ``(value, axis)`` for a dim read
    from ``Shape(value)``, or None (unknown); None when even its length is unknown here."""
    known = _ints(vector)
    if known is not None:
        return known
    node = vector.producer
    length = shapes.get(vector)
    fallback = [None] * int(length[0]) if length is not None and len(length) == 1 and _int(length[0]) else None
    if node is None or depth > 8:
        return fallback
    if node.op == "Identity":
        return _entries(node.inputs[0], shapes, depth + 1)
    if node.op == "Shape":
        rank = shapes.get(node.inputs[0])
        return [(node.inputs[0], k) for k in range(len(rank))] if rank is not None else fallback
    if node.op == "ConcatV2":
        pieces = [_entries(v, shapes, depth + 1) for v in node.inputs[:-1]]
        return fallback if any(p is None for p in pieces) else [e for p in pieces for e in p]
    if node.op == "Pack":
        pieces = [_entries(v, shapes, depth + 1) for v in node.inputs]
        return [p[0] if p is not None and len(p) == 1 else None for p in pieces]
    if node.op in ("StridedSlice", "Slice"):
        picked = _sliced(node, _entries(node.inputs[0], shapes, depth + 1))
        return fallback if picked is None else picked
    if node.op == "GatherV2":
        picked = _gathered(node, _entries(node.inputs[0], shapes, depth + 1))
        return fallback if picked is None else picked
    return fallback


def shape_entries(vector: Value, shapes: dict) -> list | None:
    """What each entry of an int vector is (see ``_entries``): shared with ``dim_sources``."""
    return _entries(vector, shapes)


def _gathered(node: Node, whole: list | None) -> list | None:
    """``whole[indices]`` for a gather along axis 0 of a vector with constant indices (a scalar index: one item)."""
    indices, axis = _ints(node.inputs[1]), _ints(node.inputs[2]) if len(node.inputs) > 2 else None
    if not whole or indices is None or axis != [0] or node.attrs.get("batch_dims"):
        return None
    if any(not -len(whole) <= i < len(whole) for i in indices):
        return None
    return [whole[i] for i in indices]


def _sliced(node: Node, whole: list | None) -> list | None:
    """``whole[begin:end]`` for a stride-1 slice of a vector with constant bounds (a shrunk entry: one item)."""
    if not whole or len(node.inputs) < 3:
        return None
    begin = _ints(node.inputs[1])
    if begin is None or len(begin) != 1:
        return None
    start = begin[0] + len(whole) if begin[0] < 0 else begin[0]
    if node.op == "Slice":
        size = _ints(node.inputs[2])
        if size is None or len(size) != 1:
            return None
        return whole[start:] if size[0] < 0 else whole[start:start + size[0]]
    if len(node.inputs) < 4:
        return None
    end, strides = _ints(node.inputs[2]), _ints(node.inputs[3])
    masks = {k: int(node.attrs.get(k, 0) or 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                                          "new_axis_mask", "shrink_axis_mask")}
    if end is None or len(end) != 1 or strides != [1] or masks["ellipsis_mask"] or masks["new_axis_mask"] \
            or masks["begin_mask"]:
        return None
    if masks["shrink_axis_mask"] & 1:
        return whole[start:start + 1]
    stop = len(whole) if masks["end_mask"] & 1 else (end[0] + len(whole) if end[0] < 0 else end[0])
    return whole[start:stop]


def _own_dim(x: Value, axis: int, entry: object, shapes: dict) -> bool:
    """Whether ``entry`` (see ``_entries``) is ``x``'s own size along ``axis`` (through ExpandDims/Identity)."""
    for _ in range(8):
        if isinstance(entry, tuple) and entry[0] is x and entry[1] == axis:
            return True
        node = x.producer
        if node is None or node.op not in ("ExpandDims", "Identity"):
            return False
        if node.op == "ExpandDims":
            where, rank = _ints(node.inputs[1]), shapes.get(x)
            if where is None or len(where) != 1 or rank is None:
                return False
            at = where[0] + len(rank) if where[0] < 0 else where[0]
            if axis == at:
                return False
            axis = axis if axis < at else axis - 1
        x = node.inputs[0]
    return False


def _target_dims(node: Node, shapes: dict) -> list | None:
    """The target's entries (see ``_entries``), with the sizes the output's shape knows filled in."""
    entries = _entries(node.inputs[1], shapes)
    out = shapes.get(node.output(0))
    if out is not None and (entries is None or len(entries) == len(out)):
        entries = [d if _int(d) else (entries[i] if entries is not None else None) for i, d in enumerate(out)]
    return entries


def may_keep_a_one(node: Node, shapes: dict) -> bool:
    """Whether TF.js's ``broadcastTo`` could leave a 1 that should become 0 (see the module docstring): some
    target dim may be 0 where the input's may be 1, that target dim is not read from the input's own, and
    not every reader broadcasts the result against a tensor of that very size (``_absorbed``)."""
    if node.op != "BroadcastTo" or len(node.inputs) != 2:
        return False
    x = node.inputs[0]
    in_shape, target = shapes.get(x), _target_dims(node, shapes)
    if in_shape is None or target is None:
        return True
    lead = len(target) - len(in_shape)
    if lead < 0:
        return False  # TF refuses it too
    exposed = []
    for i, t in enumerate(target):
        d = 1 if i < lead else in_shape[i - lead]
        entry = t
        if isinstance(t, tuple):
            if i >= lead and _own_dim(x, i - lead, t, shapes):
                continue  # the input's own size: the target cannot differ from it
            source_shape = shapes.get(t[0])
            t = source_shape[t[1]] if source_shape is not None and t[1] < len(source_shape) else None
        t = t if _int(t) else None
        if (not _int(d) or d == 1) and (t is None or t == 0):
            exposed.append((i, entry))
    return bool(exposed) and not _absorbed(node, len(target), exposed, shapes)


#: Ops that broadcast their two operands against each other (a wrongly kept 1 meets the other's size).
BROADCASTING_BINARY = frozenset({
    "Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "FloorDiv", "FloorMod", "Maximum", "Minimum", "Pow",
    "SquaredDifference", "Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd",
    "LogicalOr", "Prelu", "Atan2"})


def _absorbed(node: Node, rank: int, exposed: list, shapes: dict) -> bool:
    """Whether every reader of the broadcast is a broadcasting binary op whose other operand has, along each
    exposed dim, the target's size read from that operand itself (PRelu's slope or a mask broadcast to
    ``Shape(x)`` and combined with ``x``): a 1 kept there is broadcast to the right size, 0 included."""
    out = node.output(0)
    graph = node.graph
    if any(v is out for v in graph.outputs.values()):
        return False
    readers = graph.consumers().get(out, [])
    if not readers:
        return False
    for reader in readers:
        if reader.op not in BROADCASTING_BINARY or len(reader.inputs) != 2 or reader.inputs[0] is reader.inputs[1]:
            return False
        if reader.op == "Prelu" and reader.inputs[0] is out:
            return False  # wasm's Prelu has the shape of its ``x``, whatever the slope's
        other = reader.inputs[1] if reader.inputs[0] is out else reader.inputs[0]
        other_shape = shapes.get(other)
        if other_shape is None:
            return False
        for i, entry in exposed:
            axis = i - (rank - len(other_shape))
            if axis < 0:
                return False
            if not (other_shape[axis] == 0 or isinstance(entry, tuple) and _own_dim(other, axis, entry, shapes)):
                return False
    return True


def _numpy(dtype: DType) -> np.dtype | None:
    try:
        return dtype.numpy
    except (KeyError, TypeError, ValueError):
        return None


def _fill(graph: Graph, node: Node, value: np.ndarray, dtype: DType) -> Value:
    # dtypes TF.js's graph loader does not parse in an op's ``T`` (its ``Fill`` would make float32 and the ``Mul``
    # upcast an int16 ``x`` to float32): the Fill is of the dtype TF.js holds them in (narrow_ints)
    dtype = tfjs_dtype(dtype)
    scalar = graph.const(np.asarray(value, dtype.numpy), name=f"{node.name}/unit")
    return graph.add_op("Fill", [node.inputs[1], scalar], {"T": dtype, "index_type": node.inputs[1].dtype
                                                            or DType.INT32}, name=f"{node.name}/units", dtype=dtype)


def _tile(graph: Graph, node: Node, dtype: DType, in_rank: int | None, out_rank: int | None) -> bool:
    """``Tile(reshape(x, rank of target), target - x.shape + 1)``; False when a rank is unknown here."""
    if in_rank is None or out_rank is None or out_rank < in_rank:
        return False
    x, target = node.inputs
    if target.dtype not in (None, DType.INT32):
        target = graph.add_op("Cast", [target], {"SrcT": target.dtype, "DstT": DType.INT32, "Truncate": False},
                              name=f"{node.name}/target32", dtype=DType.INT32)
    dims = graph.add_op("Shape", [x], {"T": dtype, "out_type": DType.INT32}, name=f"{node.name}/input_dims",
                        dtype=DType.INT32, shape=(in_rank,))
    if out_rank > in_rank:
        ones = graph.const(np.ones(out_rank - in_rank, np.int32), name=f"{node.name}/leading_ones")
        dims = graph.add_op("ConcatV2", [ones, dims, graph.const(np.int32(0), name=f"{node.name}/axis")],
                            {"T": DType.INT32, "N": 2, "Tidx": DType.INT32}, name=f"{node.name}/aligned_dims",
                            dtype=DType.INT32, shape=(out_rank,))
        x = graph.add_op("Reshape", [x, dims], {"T": dtype, "Tshape": DType.INT32}, name=f"{node.name}/aligned",
                         dtype=dtype)
    grown = graph.add_op("Sub", [target, dims], {"T": DType.INT32}, name=f"{node.name}/growth", dtype=DType.INT32)
    reps = graph.add_op("AddV2", [grown, graph.const(np.int32(1), name=f"{node.name}/one")], {"T": DType.INT32},
                        name=f"{node.name}/reps", dtype=DType.INT32)
    rewrite(node, "Tile", [x, reps], {"T": dtype, "Tmultiples": DType.INT32})
    return True


def broadcast_keeping_zeros(graph: Graph, node: Node, shapes: dict) -> bool:
    """Rewrite ``node`` (see the module docstring); False when it is left as it is."""
    dtype = node.attrs.get("T") or node.inputs[0].dtype or node.output(0).dtype
    if not isinstance(dtype, DType):
        return False
    if dtype == _BOOL:
        rewrite(node, "LogicalOr", [node.inputs[0], _fill(graph, node, np.asarray(False), dtype)], {})
        return True
    np_dtype = _numpy(dtype)
    if np_dtype is not None and (np.issubdtype(np_dtype, np.floating) or np.issubdtype(np_dtype, np.integer)):
        rewrite(node, "Mul", [node.inputs[0], _fill(graph, node, np.ones((), np_dtype), dtype)], {"T": dtype})
        return True
    in_shape, target = shapes.get(node.inputs[0]), _target_dims(node, shapes)
    return _tile(graph, node, dtype, None if in_shape is None else len(in_shape),
                 None if target is None else len(target))
