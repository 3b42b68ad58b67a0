"""Reductions over an axis that is statically empty become their identity element, as TF computes it.

Measured in TF.js 4.22 against TF (``tests/test_tf_rewrites.py``): over zero elements ``Max``/``Min``
give NaN on cpu and ±inf of the wrong sign on wasm (TF: -inf/+inf for floats, the dtype's lowest /
highest for integers), wasm's ``Prod`` gives 0 (TF: 1), float ``Mean`` gives 0 on cpu and uninitialised
memory on wasm (TF: NaN, 0/0); webgl throws for ``EuclideanNorm`` over zero elements (TF: 0) and for a
``MatMul`` whose inner dimension is 0 (TF: zeros; ``tf_ops.py --webgl``; wasm returns uninitialised memory, 3.6e-41).
The result there does not depend on the data, so the node becomes a Const of its (static) shape, or a ``Fill`` of
the reduction's run-time shape; a ``MatMul``/``BatchMatMul{,V2,V3}`` (an ``Einsum`` after ``lower_einsum``) over a
known-empty inner dimension with an unknown batch (Keras ``Input((0,)) -> Dense``) a ``Fill`` of zeros shaped from
its operands' run-time shapes (batch dims through ``BroadcastArgs``).

An axis whose size is unknown here may still be empty at run time, and then TF.js answers wrongly too
(garbage on wasm for every reduction, and for a matmul over an empty inner dimension): such a node gets one
identity element along its reduced axes exactly when they hold nothing (``reduction_padding``), on the target
backends that need it; where the input's rank or the reduced axes are known only at run time (axes fed or
computed, ``keepdims`` over every axis of an unknown rank), and for a matmul with an operand of unknown rank, the
input instead becomes its block of identity elements exactly when it holds none (``pad_run_time_axes``). A ``GatherV2``
whose params may be empty at run time gets TF's output shape back on wasm (``empty_gather``), and a
``BroadcastTo`` that may turn a 1 into 0 at run time gets its empty result back on every backend
(``empty_broadcast``).
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from ..shape_rank import infer_ranks
from . import PassResult
from .backend_gated import BackendGatedPass
from .empty_broadcast import broadcast_keeping_zeros, may_keep_a_one
from .empty_gather import may_need, reshape_to_tf_shape
from .empty_segments import SEGMENT_OPS, pad_empty_segment_data
from .empty_top_k import pad_empty_top_k
from .reshape_missing_size import write_missing_size
from .graph_edit import const_array, rewrite
from .reduction_padding import (guard, is_padded, pad_axes, pad_axes_any_rank, pad_empty_inner_dimension,
                                pad_inner_dimension_any_rank, pad_run_time_axes, wrong_on)
from .shapes import infer_shapes, is_static

REDUCTIONS = ("Max", "Min", "Prod", "Sum", "Mean", "All", "Any", "EuclideanNorm")
_INT32 = np.iinfo(np.int32)


def identity(op: str, dtype: DType) -> np.ndarray | None:
    """What TF's ``op`` gives over no elements, in ``dtype``; None for a dtype it does not reduce."""
    if dtype == DType.BOOL:
        return np.asarray(op == "All") if op in ("All", "Any") else None
    np_dtype = dtype.numpy
    if op in ("Max", "Min"):
        if np.issubdtype(np_dtype, np.integer):
            info = np.iinfo(np_dtype)
            return np.asarray(info.min if op == "Max" else info.max, np_dtype)
        if np.issubdtype(np_dtype, np.floating):
            return np.asarray(-np.inf if op == "Max" else np.inf, np_dtype)
        return None
    if op in ("Prod", "Sum", "EuclideanNorm"):
        return np.asarray(1 if op == "Prod" else 0, np_dtype)
    if op == "Mean" and np.issubdtype(np_dtype, np.floating):  # 0/0; an integer mean over nothing is left alone
        return np.asarray(np.nan, np_dtype)
    return None


def _reduces_nothing(node: Node, shapes: dict) -> bool:
    """Whether some axis ``node`` reduces over has size 0 (known at conversion time)."""
    in_shape = shapes.get(node.inputs[0])
    axes = const_array(node.inputs[1]) if len(node.inputs) > 1 else None
    if in_shape is None or axes is None or not in_shape:
        return False
    return any(in_shape[int(a) % len(in_shape)] == 0 for a in np.asarray(axes).reshape(-1))


MATMULS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")


def _matmul_dtype(node: Node) -> DType | None:
    """The matmul's result dtype (V3 names it ``Tout``); None for bool or an unknown one."""
    dtype = node.attrs.get("Tout" if node.op == "BatchMatMulV3" else "T")
    return dtype if isinstance(dtype, DType) and dtype != DType.BOOL else None


#: Operand dtypes a padded matmul may have: the floats TF.js computes in float32 and the integers in int32 (a
#: float16/float64 product over a run-time-empty inner size was wasm's garbage, 445 where TF gives 0).
_PADDED_DTYPES = frozenset({DType.FLOAT32, DType.FLOAT16, DType.FLOAT64, DType.INT32, DType.INT64})


def _operand_dtypes(node: Node) -> tuple[DType, DType] | None:
    """The dtypes of a matmul's two operands (V3 names them ``Ta``/``Tb``), if both can be padded with zeros."""
    found = (node.attrs.get("Ta"), node.attrs.get("Tb")) if node.op == "BatchMatMulV3" else (node.attrs.get("T"),) * 2
    return found if all(d in _PADDED_DTYPES for d in found) else None  # type: ignore[return-value]


def _inner_axes(node: Node, a: tuple, b: tuple) -> tuple[int, int]:
    """The contracted axis of each operand (``transpose_*``/``adj_*`` swap a matrix's two axes)."""
    flip_a = bool(node.attrs.get("transpose_a", node.attrs.get("adj_x", False)))
    flip_b = bool(node.attrs.get("transpose_b", node.attrs.get("adj_y", False)))
    return (len(a) - 2 if flip_a else len(a) - 1), (len(b) - 1 if flip_b else len(b) - 2)


#: Elementwise ops whose result's size along an axis is an operand's size there when that is 2 or more.
_BROADCASTING = ("Add", "AddV2", "Sub", "Mul")


def _operand_shape(x: Value, shapes: dict, ranks: Callable[[], dict]) -> tuple | None:
    """``x``'s shape, else as many sizes as its inferred rank (None: rank unknown), known where ``x`` broadcasts an
    operand of that rank whose size there is 2 or more (a matmul operand broadcast to its batch by adding zeros of
    a run-time shape: its matrix sizes stay known, so no padding is made for them)."""
    shape = shapes.get(x)
    if shape is not None:
        return tuple(shape)
    rank = ranks().get(x)
    if rank is None:
        return None
    sizes: list[int | None] = [None] * rank
    if x.producer is not None and x.producer.op in _BROADCASTING:
        for operand in x.producer.inputs:
            known = shapes.get(operand)
            if known is not None and len(known) == rank:
                sizes = [s if s is not None else (k if k is not None and k >= 2 else None)
                         for s, k in zip(sizes, known)]
    return tuple(sizes)


def _empty_matmul(node: Node, shapes: dict, ranks: Callable[[], dict]) -> tuple[tuple, tuple] | None:
    """Both operand shapes of a matmul whose inner dimension is known to be 0 (a sum of nothing: TF's zeros,
    wasm's uninitialised memory, webgl throws), else None. Either operand's 0 decides: TF requires equal sizes."""
    a, b = (_operand_shape(v, shapes, ranks) for v in node.inputs[:2])
    if a is None or b is None or len(a) < 2 or len(b) < 2 or (node.op == "MatMul" and (len(a), len(b)) != (2, 2)):
        return None
    inner_a, inner_b = _inner_axes(node, tuple(a), tuple(b))
    return (tuple(a), tuple(b)) if 0 in (a[inner_a], b[inner_b]) else None


def _sizes(graph: Graph, x: Value, axes: list[int], name: str) -> Value:
    """``x``'s run-time sizes along ``axes`` (int32 vector; ``Shape`` reads no data)."""
    dims = graph.add_op("Shape", [x], {"T": x.dtype, "out_type": DType.INT32}, name=f"{name}_shape",
                        dtype=DType.INT32)
    return graph.add_op("GatherV2", [dims, graph.const(np.asarray(axes, np.int32), name=f"{name}_axes"),
                                     graph.const(np.int32(0), name=f"{name}_gather_axis")],
                        {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                        name=name, dtype=DType.INT32, shape=(len(axes),))


def _product_shape(graph: Graph, node: Node, a: tuple, b: tuple) -> Value:
    """The matmul's output shape from its operands' run-time shapes: the broadcast batch dims
    (``BroadcastArgs`` when both operands have some), a's rows, b's columns."""
    (x, y), name = node.inputs[:2], f"{node.name}/empty_product"
    inner_a, inner_b = _inner_axes(node, a, b)
    rows = _sizes(graph, x, [2 * len(a) - 3 - inner_a], f"{name}/rows")
    cols = _sizes(graph, y, [2 * len(b) - 3 - inner_b], f"{name}/cols")
    batches = [_sizes(graph, v, list(range(len(s) - 2)), f"{name}/batch_{k}")
               for k, (v, s) in enumerate(((x, a), (y, b))) if len(s) > 2]
    if len(batches) == 2:
        batches = [graph.add_op("BroadcastArgs", batches, {"T": DType.INT32}, name=f"{name}/batch",
                                dtype=DType.INT32)]
    pieces = [*batches, rows, cols]
    return graph.add_op("ConcatV2", [*pieces, graph.const(np.int32(0), name=f"{name}/axis")],
                        {"T": DType.INT32, "N": len(pieces), "Tidx": DType.INT32}, name=f"{name}/shape",
                        dtype=DType.INT32)


def _static_product_shape(node: Node, a: tuple, b: tuple) -> tuple | None:
    """The matmul's output shape when both operands' shapes are static (batch dims broadcast), else None."""
    if not (is_static(a) and is_static(b)):
        return None
    inner_a, inner_b = _inner_axes(node, a, b)
    batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    return (*batch, a[2 * len(a) - 3 - inner_a], b[2 * len(b) - 3 - inner_b])


def _zero_product(graph: Graph, node: Node, shapes: dict, a: tuple, b: tuple, dtype: DType) -> None:
    """Rewrite a matmul over a known-empty inner dimension as TF's zeros: a Const of a static output shape,
    else a ``Fill`` of the shape read from the operands at run time (the matmul never runs)."""
    out = _static_product_shape(node, a, b) or shapes.get(node.output(0))
    if is_static(out):
        rewrite(node, "Const", [], {"dtype": dtype, "value": np.zeros(out, dtype.numpy)})
        node.output(0).shape = tuple(out)
    else:
        dims = _product_shape(graph, node, a, b)
        rewrite(node, "Fill", [dims, graph.const(np.zeros((), dtype.numpy), name=f"{node.name}/zero")],
                {"T": dtype, "index_type": DType.INT32})
    node.output(0).dtype = dtype


def _run_time_shape(graph: Graph, node: Node, shapes: dict) -> Value:
    """The reduction's output shape from its input's run-time shape (not from the reduction itself, which
    this pass would rewrite again): reduced axes become 1 (keep_dims) or are gathered away."""
    x = node.inputs[0]
    rank = len(shapes[x])
    axes = {int(a) % rank for a in np.asarray(const_array(node.inputs[1])).reshape(-1)}
    dims = graph.add_op("Shape", [x], {"T": x.dtype, "out_type": DType.INT32}, name=f"{node.name}/input_shape",
                        dtype=DType.INT32)
    if node.attrs.get("keep_dims", False):
        kept = graph.const(np.asarray([a not in axes for a in range(rank)], np.int32), name=f"{node.name}/kept")
        ones = graph.const(np.asarray([a in axes for a in range(rank)], np.int32), name=f"{node.name}/reduced")
        scaled = graph.add_op("Mul", [dims, kept], {"T": DType.INT32}, name=f"{node.name}/kept_dims",
                              dtype=DType.INT32)
        return graph.add_op("AddV2", [scaled, ones], {"T": DType.INT32}, name=f"{node.name}/output_shape",
                            dtype=DType.INT32)
    kept = graph.const(np.asarray([a for a in range(rank) if a not in axes], np.int32), name=f"{node.name}/kept")
    return graph.add_op("GatherV2", [dims, kept, graph.const(np.int32(0), name=f"{node.name}/gather_axis")],
                        {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                        name=f"{node.name}/output_shape", dtype=DType.INT32)


def _input_shape(node: Node, shapes: dict, ranks: dict) -> tuple | None:
    """The reduction's input shape, else as many unknown sizes as its inferred rank (None: rank unknown)."""
    shape = shapes.get(node.inputs[0])
    if shape is not None:
        return tuple(shape)
    rank = ranks.get(node.inputs[0])
    return (None,) * rank if rank is not None else None


def _axes_to_pad(node: Node, in_shape: tuple | None) -> list[int] | None:
    """Every reduced axis when one of them has a size unknown at conversion time, else [] (None: the rank or
    the axes are unknown). All of them, not only the unknown ones, so that readers that know different sizes
    (the TF-free and TensorFlow loaders) emit the same graph."""
    axes = const_array(node.inputs[1])
    if in_shape is None or axes is None:
        return None
    if not in_shape:
        return []
    reduced = sorted({int(a) % len(in_shape) for a in np.asarray(axes).reshape(-1)})
    return reduced if any(in_shape[a] is None for a in reduced) else []


def _every_axis(x: Value, axes: Value) -> bool:
    """Whether ``axes`` is ``Range(0, Rank(x), 1)``: TF's ``reduce_*(x)`` of an ``x`` of unknown rank."""
    node = axes.producer
    if node is None or node.op != "Range" or len(node.inputs) != 3:
        return False
    start, delta, rank = const_array(node.inputs[0]), const_array(node.inputs[2]), node.inputs[1].producer
    return start is not None and delta is not None and int(np.asarray(start).reshape(-1)[0]) == 0 \
        and int(np.asarray(delta).reshape(-1)[0]) == 1 and rank is not None and rank.op == "Rank" and rank.inputs[0] is x


def flatten_all_axes(graph: Graph, node: Node) -> bool:
    """A reduction over every axis of an input of unknown rank (axes read at run time, so nothing to pad by)
    reduces its ``Reshape`` to ``[-1]`` over axis 0 instead: the same answer, and a rank the padding knows."""
    if len(node.inputs) != 2 or node.attrs.get("keep_dims") or not _every_axis(node.inputs[0], node.inputs[1]):
        return False
    x, dtype = node.inputs[0], node.attrs.get("T") or node.inputs[0].dtype or DType.FLOAT32
    flat = graph.add_op("Reshape", [x, graph.const(np.asarray([-1], np.int32), name=f"{node.name}/every_axis/flat")],
                        {"T": dtype, "Tshape": DType.INT32}, name=f"{node.name}/every_axis/values", dtype=dtype,
                        shape=(None,))
    node.inputs = [flat, graph.const(np.asarray([0], np.int32), name=f"{node.name}/every_axis/axis")]
    node.attrs["Tidx"] = DType.INT32
    return True


class EmptyReductions(BackendGatedPass):
    """``Max``/``Min``/``Prod``/``Sum``/``Mean``/``All``/``Any``/``EuclideanNorm`` over a statically empty axis,
    and a matmul over a statically empty inner dimension → what TF gives; over an axis that may be empty at run time →
    the same, through one identity element fed exactly when it is empty."""

    name = "empty_reductions"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        shapes: dict | None = None
        count = 0
        ranks = functools.cache(lambda: infer_ranks(graph))  # only for inputs whose shape is unknown
        for node in list(graph.nodes):
            if node.op in MATMULS and _matmul_dtype(node) is not None:
                shapes = shapes if shapes is not None else infer_shapes(graph)
                empty = _empty_matmul(node, shapes, ranks)
                if empty is not None:
                    _zero_product(graph, node, shapes, *empty, _matmul_dtype(node))
                    count += 1
                else:
                    count += self._pad_inner_dimension(graph, node, shapes, ranks)
                continue
            if node.op == "GatherV2":
                shapes = shapes if shapes is not None else infer_shapes(graph)
                count += self._keep_gather_shape(graph, node, shapes, ranks)
                continue
            if node.op == "BroadcastTo":
                shapes = shapes if shapes is not None else infer_shapes(graph)
                count += int(may_keep_a_one(node, shapes) and broadcast_keeping_zeros(graph, node, shapes))
                continue
            if node.op == "Reshape" and len(node.inputs) == 2:  # TF.js cannot infer a -1 over no elements
                shapes = shapes if shapes is not None else infer_shapes(graph)
                x_shape = shapes.get(node.inputs[0])
                rank = len(x_shape) if x_shape is not None else ranks().get(node.inputs[0])
                count += int(write_missing_size(graph, node, rank, x_shape))
                continue
            if node.op in SEGMENT_OPS:
                shapes = shapes if shapes is not None else infer_shapes(graph)
                count += int(pad_empty_segment_data(graph, node, shapes, self._targets()))
                continue
            if node.op == "TopKV2":
                shapes = shapes if shapes is not None else infer_shapes(graph)
                count += int(pad_empty_top_k(graph, node, shapes, self._targets()))
                continue
            if node.op not in REDUCTIONS or len(node.inputs) < 2:
                continue
            dtype = DType.BOOL if node.op in ("All", "Any") else node.attrs.get("T") or node.output(0).dtype
            value = identity(node.op, dtype) if isinstance(dtype, DType) else None
            if value is None:
                continue
            shapes = shapes if shapes is not None else infer_shapes(graph)
            if not _reduces_nothing(node, shapes):
                count += self._pad_if_empty_at_run_time(graph, node, shapes, ranks, dtype, value)
                continue
            out_shape = shapes.get(node.output(0))
            if is_static(out_shape):
                rewrite(node, "Const", [], {"dtype": dtype, "value": np.full(out_shape, value)})
                node.output(0).shape = tuple(out_shape)
            else:
                dims = _run_time_shape(graph, node, shapes)
                fill = graph.const(value, name=f"{node.name}/identity")
                rewrite(node, "Fill", [dims, fill], {"T": dtype, "index_type": DType.INT32})
            node.output(0).dtype = dtype
            count += 1
        return PassResult(count)

    def _targets(self) -> tuple[str, ...]:
        """The target backends (the default ones when none were given)."""
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        return tuple(self.targets or DEFAULT_TARGET_BACKENDS)

    def _pad_inner_dimension(self, graph: Graph, node: Node, shapes: dict, ranks: Callable[[], dict]) -> int:
        """A matmul whose inner dimension may be 0 at run time: see ``reduction_padding``. An operand of
        unknown shape counts by its inferred rank (a ``MatMul``'s is 2): a loop variable of a lowered loop has none."""
        dtypes = _operand_dtypes(node)
        a, b = ((None, None) if node.op == "MatMul" and shapes.get(v) is None else _operand_shape(v, shapes, ranks)
                for v in node.inputs[:2])
        targets = self._targets()
        if dtypes is not None and (a is None or b is None) and node.op != "MatMul":
            return int(pad_inner_dimension_any_rank(graph, node, targets, dtypes))  # axes placed at run time
        if dtypes is None or a is None or b is None or len(a) < 2 or len(b) < 2:
            return 0
        return int(pad_empty_inner_dimension(graph, node, tuple(a), tuple(b), targets, dtypes))

    def _keep_gather_shape(self, graph: Graph, node: Node, shapes: dict, ranks: Callable[[], dict]) -> int:
        """A ``GatherV2`` over params that may be empty at run time: see ``empty_gather``. A run-time axis
        leaves the result's rank to the inferred ranks (a loop variable of a lowered loop has no shape)."""
        found = may_need(node, shapes, self._targets())
        if found is None:
            return 0
        out_rank = ranks().get(node.output(0)) if found[1] is None else None
        return int(reshape_to_tf_shape(graph, node, *found, shapes, out_rank=out_rank))

    def _pad_if_empty_at_run_time(self, graph: Graph, node: Node, shapes: dict, ranks: Callable[[], dict],
                                  dtype: DType, value: np.ndarray) -> int:
        """Pad a reduction whose reduced size is unknown (1 if rewritten): see ``reduction_padding``."""
        if is_padded(node) or not wrong_on(node.op, dtype, self._targets()):
            return 0
        if np.issubdtype(dtype.numpy, np.integer) and not _INT32.min <= int(value) <= _INT32.max:
            return 0  # an int64/uint32 Max/Min: TF.js holds it as int32, the identity is no weight it can store
        if flatten_all_axes(graph, node):  # a rank-1 input now (the cached ranks do not know the new value)
            in_shape: tuple | None = (None,)
        else:
            in_shape = _input_shape(node, shapes, ranks() if shapes.get(node.inputs[0]) is None else {})
        axes = _axes_to_pad(node, in_shape)
        written = const_array(node.inputs[1])
        if in_shape is None and written is not None:  # rank unknown: every axis as written, placed at run time
            axes = [int(a) for a in np.asarray(written).reshape(-1)]
        run_time_axes = written is None and not (in_shape is not None and all(d for d in in_shape))
        if not axes and not run_time_axes:
            return 0
        floating = np.issubdtype(dtype.numpy, np.floating)
        selects = floating and node.op in ("Max", "Min", "Mean")  # webgl's ∓1e20 window padding; Mean's 0/0
        fill = np.zeros((), dtype.numpy) if selects else np.asarray(value, dtype.numpy)
        if run_time_axes:  # axes fed or computed (keep_dims over every axis of an unknown rank, too)
            empty = pad_run_time_axes(graph, node, node.inputs[1], fill, dtype)
        elif in_shape is None:
            empty = pad_axes_any_rank(graph, node, axes, fill, dtype)
        else:
            empty = pad_axes(graph, node, in_shape, axes, fill, dtype)
        if selects:
            guard(graph, node, empty, np.asarray(value, dtype.numpy), dtype)
        return 1
