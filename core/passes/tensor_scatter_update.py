"""``TensorScatterUpdate`` as ``ScatterNd``, ``GatherV2`` and ``SelectV2``: TF.js's cpu kernel writes in place.

tfjs-backend-cpu 4.22's ``TensorScatterUpdate`` takes its ``tensor`` input's buffer (``bufferSync`` wraps the
backend's array without copying), writes the updates into it and returns a tensor over that same array. So every
other reader of ``tensor`` (a second update of it, an ``Add`` of it, a slice or reshape sharing its storage, the
caller's input tensor) sees the updates, and two updates of one tensor return one array holding both. A single
update whose input nobody else reads is right, which is why the one-op probe saw nothing. Measured (session 19,
``tests/test_tensor_scatter_update_s19.py``): two updates of one float32 tensor off by 7.8 on cpu, an update plus a
reader of its input off by 5.2; int32 alike; wasm and webgl right.

With constant indices (what Keras and most exporters record) the op is written so it reads ``tensor`` and never
writes it: ``ScatterNd(indices, 1…n)`` says which update element lands where (0: none), the updates are gathered
there and ``SelectV2`` keeps ``tensor`` elsewhere (over flat views, so any rank runs on webgl, whose own kernel also
turns a NaN or ±Inf it overwrites into NaN). Gathered, an update keeps every bit, -0 included (session 20 scattered the
updates themselves: ``ScatterNd`` adds them to 0, so -0 came out +0). An index given twice keeps its last update, as
TF's serial CPU kernel does: the earlier ones are dropped at conversion time.

A constant index outside the tensor is refused for every dtype and whatever the targets (TF raises on it for every
input; TF.js's cpu throws, wasm writes out of bounds, webgl ignores it). Indices computed at run time are not checked:
TF raises on an out-of-range one, TF.js's cpu throws, wasm writes out of its buffer and webgl drops the update.

With indices computed at run time, and for bool tensors, the op stays and its ``tensor`` input becomes a private copy
(``tensor · 1``, or ``tensor ∧ true``: bit for bit, -0 and NaN included), so the kernel's write lands in a buffer
nothing else reads; duplicate indices then behave as the kernel's serial loop (the last wins). :mod:`.cse` never
merges such copies. The pass runs when cpu is a ``--target_backends`` backend (wasm and webgl write a new tensor).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import const_array, rewrite

DTYPES = (DType.FLOAT32, DType.INT32)


def _dtype(node: Node) -> DType | None:
    dtype = node.attrs.get("T") or node.inputs[0].dtype or node.output(0).dtype
    return dtype if isinstance(dtype, DType) else None


def _check_bounds(node: Node, rows: np.ndarray) -> None:
    """TF raises on an index outside the tensor for every input; TF.js's cpu throws and wasm writes out of bounds:
    a constant one is refused here."""
    from ..errors import InputError

    shape = node.inputs[0].shape
    if shape is None or rows.shape[1] > len(shape):
        return
    for axis in range(rows.shape[1]):
        size = shape[axis]
        if isinstance(size, int) and size >= 0 and rows.size and (rows[:, axis].min() < 0 or rows[:, axis].max() >= size):
            raise InputError(f"TensorScatterUpdate {node.name!r}: a constant index outside the tensor's axis {axis} "
                             f"of size {size} (TensorFlow raises on it for every input)")


def last_updates(graph: Graph, node: Node, indices: np.ndarray) -> tuple[Value, Value]:
    """Constant ``indices`` and the node's updates with every index given twice reduced to its last update.

    TF's CPU kernel applies updates in order, so the last one stays; ``ScatterNd`` would add them up."""
    updates = node.inputs[2]
    depth = indices.shape[-1] if indices.ndim else 0
    rows = indices.reshape(-1, depth)
    _check_bounds(node, rows)
    last = {tuple(row): position for position, row in enumerate(rows.tolist())}
    if len(last) == len(rows):
        return node.inputs[1], updates
    kept = np.array(sorted(last.values()), np.int32)
    batch = indices.ndim - 1
    flat_shape = graph.const(np.array([len(rows), -1], np.int32), name=f"{node.name}/updates_rows")
    flat = graph.add_op("Reshape", [updates, flat_shape], {"T": updates.dtype, "Tshape": DType.INT32},
                        name=f"{node.name}/updates_flat", dtype=updates.dtype, shape=(len(rows), None))
    picked = graph.add_op("GatherV2", [flat, graph.const(kept, name=f"{node.name}/last_updates"),
                                       graph.const(np.array(0, np.int32), name=f"{node.name}/rows_axis")],
                          {"Tparams": updates.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                          name=f"{node.name}/updates_last", dtype=updates.dtype, shape=(len(kept), None))
    slice_shape = None if updates.shape is None else tuple(updates.shape[batch:])
    if slice_shape is not None and all(isinstance(d, int) and d >= 0 for d in slice_shape):
        shape = graph.const(np.array((len(kept), *slice_shape), np.int32), name=f"{node.name}/updates_shape")
    else:
        whole = graph.add_op("Shape", [updates], {"T": updates.dtype, "out_type": DType.INT32},
                             name=f"{node.name}/updates_sizes", dtype=DType.INT32, shape=None)
        tail = graph.add_op("StridedSlice", [whole, graph.const(np.array([batch], np.int32), name=f"{node.name}/b"),
                                             graph.const(np.array([0], np.int32), name=f"{node.name}/e"),
                                             graph.const(np.array([1], np.int32), name=f"{node.name}/s")],
                            {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": 1,
                             "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0},
                            name=f"{node.name}/slice_sizes", dtype=DType.INT32, shape=None)
        shape = graph.add_op("ConcatV2", [graph.const(np.array([len(kept)], np.int32), name=f"{node.name}/kept"),
                                          tail, graph.const(np.array(0, np.int32), name=f"{node.name}/concat_axis")],
                             {"T": DType.INT32, "N": 2, "Tidx": DType.INT32}, name=f"{node.name}/updates_shape",
                             dtype=DType.INT32, shape=None)
    reshaped = graph.add_op("Reshape", [picked, shape], {"T": updates.dtype, "Tshape": DType.INT32},
                            name=f"{node.name}/updates_kept", dtype=updates.dtype,
                            shape=None if slice_shape is None else (len(kept), *slice_shape))
    index_dtype = DType.from_any(indices.dtype)
    return graph.const(rows[kept], name=f"{node.name}/indices_kept", dtype=index_dtype), reshaped


def _is_private_copy(value: Value, readers: dict[Value, list[Node]]) -> bool:
    """``value`` is ``x · 1`` or ``x ∧ true`` read by one node only (what :func:`private_copy` makes)."""
    producer = value.producer
    if producer.op not in ("Mul", "LogicalAnd") or len(producer.inputs) != 2 or len(readers.get(value, ())) != 1:
        return False
    one = const_array(producer.inputs[1])
    return one is not None and one.size == 1 and bool(one.reshape(()) == 1)


def private_copy(graph: Graph, node: Node, dtype: DType) -> None:
    """Feed ``node`` a copy of its tensor that nothing else reads, so the cpu kernel's write harms nobody."""
    tensor = node.inputs[0]
    if dtype == DType.BOOL:
        op, one = "LogicalAnd", np.array(True)
        attrs: dict[str, Any] = {}
    else:
        op, one = "Mul", np.ones((), dtype.numpy)
        attrs = {"T": dtype}
    copy = graph.add_op(op, [tensor, graph.const(one, name=f"{node.name}/copy_by", dtype=dtype)], attrs,
                        name=f"{node.name}/private_copy", dtype=dtype, shape=tensor.shape)
    node.inputs[0] = copy


def _update_numbers(graph: Graph, node: Node, updates: Value) -> Value:
    """``1 … n`` shaped as ``updates`` (int32): each update element's position in the flat updates, plus one."""
    shape = updates.shape
    if shape is not None and all(isinstance(d, int) and d >= 0 for d in shape):
        count = int(np.prod(shape, dtype=np.int64))
        return graph.const(np.arange(1, count + 1, dtype=np.int32).reshape(shape), name=f"{node.name}/update_numbers")
    i32 = DType.INT32
    size = graph.add_op("Size", [updates], {"T": updates.dtype, "out_type": i32}, name=f"{node.name}/update_count",
                        dtype=i32, shape=())
    one = graph.const(np.array(1, np.int32), name=f"{node.name}/one")
    end = graph.add_op("AddV2", [size, one], {"T": i32}, name=f"{node.name}/update_end", dtype=i32, shape=())
    numbers = graph.add_op("Range", [one, end, one], {"Tidx": i32}, name=f"{node.name}/update_range", dtype=i32,
                           shape=(None,))
    sizes = graph.add_op("Shape", [updates], {"T": updates.dtype, "out_type": i32}, name=f"{node.name}/update_sizes",
                         dtype=i32, shape=None)
    return graph.add_op("Reshape", [numbers, sizes], {"T": i32, "Tshape": i32}, name=f"{node.name}/update_numbers",
                        dtype=i32, shape=shape)


def select_scatter(graph: Graph, node: Node, dtype: DType) -> None:
    """``node`` (TensorScatterUpdate) → each element the update written there, or the tensor's where none is.

    ``ScatterNd`` of the update elements' numbers (1…n, 0 where none is written) says which update lands where; the
    updates are then *gathered* (behind a 0 for the unwritten places), so every bit is kept, -0 included (a
    ``ScatterNd`` of the updates themselves adds them to 0: -0 became +0). The select runs on flat views (``Reshape``
    to ``[-1]`` and back): webgl's ``SelectV2`` throws from rank 5."""
    i32 = DType.INT32
    tensor = node.inputs[0]
    indices, updates = last_updates(graph, node, const_array(node.inputs[1]))
    index_type = node.attrs.get("Tindices") or indices.dtype or i32
    known = tensor.shape is not None and all(isinstance(d, int) and d >= 0 for d in tensor.shape)
    size = (int(np.prod(tensor.shape, dtype=np.int64)),) if known else (None,)
    minus_one = graph.const(np.array([-1], np.int32), name=f"{node.name}/flat_shape", dtype=i32)

    def flat(value: Value, label: str, out: DType = dtype, length: tuple = size) -> Value:
        return graph.add_op("Reshape", [value, minus_one], {"T": out, "Tshape": i32}, name=f"{node.name}/{label}",
                            dtype=out, shape=length)

    sizes = graph.add_op("Shape", [tensor], {"T": dtype, "out_type": index_type}, name=f"{node.name}/shape",
                         dtype=index_type, shape=None if tensor.shape is None else (len(tensor.shape),))
    numbers = graph.add_op("ScatterNd", [indices, _update_numbers(graph, node, updates), sizes],
                           {"T": i32, "Tindices": index_type}, name=f"{node.name}/update_at", dtype=i32,
                           shape=tensor.shape)
    numbers = flat(numbers, "flat_update_at", i32)
    zero = graph.const(np.zeros((), np.int32), name=f"{node.name}/none", dtype=i32)
    where = graph.add_op("NotEqual", [numbers, zero], {"T": i32, "incompatible_shape_error": True},
                         name=f"{node.name}/is_updated", dtype=DType.BOOL, shape=size)
    filler = graph.const(np.zeros((1,), dtype.numpy), name=f"{node.name}/filler", dtype=dtype)
    axis = graph.const(np.array(0, np.int32), name=f"{node.name}/axis", dtype=i32)
    values = graph.add_op("ConcatV2", [filler, flat(updates, "flat_updates", length=(None,)), axis],
                          {"T": dtype, "N": 2, "Tidx": i32}, name=f"{node.name}/numbered_updates", dtype=dtype,
                          shape=(None,))
    written = graph.add_op("GatherV2", [values, numbers, axis],
                           {"Tparams": dtype, "Tindices": i32, "Taxis": i32, "batch_dims": 0},
                           name=f"{node.name}/written", dtype=dtype, shape=size)
    picked = graph.add_op("SelectV2", [where, written, flat(tensor, "flat_tensor")], {"T": dtype},
                          name=f"{node.name}/picked", dtype=dtype, shape=size)
    rewrite(node, "Reshape", [picked, sizes], {"T": dtype, "Tshape": index_type})


class TensorScatterUpdateAsSelect(Pass):
    """With cpu a target: float32/int32 ``TensorScatterUpdate`` with constant indices → ``SelectV2`` of two
    ``ScatterNd``; any other one reads a private copy of its tensor."""

    name = "tensor_scatter_update"
    level = 0
    after = ("lower_einsum",)
    #: The conversion's ``--target_backends`` (empty: the defaults); set on the copy :meth:`configured` makes.
    targets: tuple[str, ...] = ()

    def configured(self, options: Any) -> "TensorScatterUpdateAsSelect":
        import copy

        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        run = copy.copy(self)
        run.targets = tuple(getattr(options, "target_backends", None) or DEFAULT_TARGET_BACKENDS)
        return run

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        scatters = [n for n in graph.nodes if n.op == "TensorScatterUpdate" and len(n.inputs) >= 3]
        for node in scatters:  # every dtype, every target: TF raises on them, TF.js ignores, throws or overwrites
            indices = const_array(node.inputs[1])
            if indices is not None:
                _check_bounds(node, indices.reshape(-1, indices.shape[-1] if indices.ndim else 0))
        if "cpu" not in (self.targets or DEFAULT_TARGET_BACKENDS):
            return PassResult(0)
        count = 0
        readers = graph.consumers()
        for node in scatters:
            dtype = _dtype(node)
            if dtype is None or dtype not in (*DTYPES, DType.BOOL):
                continue
            if dtype in DTYPES and const_array(node.inputs[1]) is not None:
                select_scatter(graph, node, dtype)
            elif _is_private_copy(node.inputs[0], readers) and node.inputs[0] not in graph.outputs.values():
                continue
            else:
                private_copy(graph, node, dtype)
            count += 1
        return PassResult(count)
