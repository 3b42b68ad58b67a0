"""``SplitV`` sizes with their ``-1`` resolved before TF.js reads them, and sizes TF refuses made to fail the run.

TF.js 4.22's ``prepareSplitSize`` (tfjs-core, shared by the cpu, wasm and webgl ``SplitV`` kernels) sums the sizes
besides a ``-1`` with ``reduce((a, b) => b > 0 ? a + b : a)`` and no start value, so the sum starts from the first
entry: a ``-1`` first is counted, and every such split fails ("The sum of sizes must match the size of the axis
dimension": ``tf.split(x, [-1, 2], axis=1)`` over 6 columns, ``[-1]`` alone, run-time sizes ``[-1, 0]``; measured
session 29, h2b). A ``-1`` elsewhere is resolved right, but a leftover of exactly ``-1`` (sizes ``[1, -1, 6]`` over 6,
where TF raises) passes the sum check and ``slice`` reads it as "to the end": other pieces, silently.

The sizes TF.js gets hold no ``-1`` any more: a constant ``-1`` over an axis of known size is resolved here, as TF
resolves it; other sizes holding or maybe holding a ``-1`` (constant sizes over an axis of unknown size, sizes read at
run time) are resolved when the model runs, ``SelectV2(s == -1, n - Sum(s) - 1, s)`` with ``n`` the axis's size.
A negative result (only where TF raises: an entry below -1, a negative leftover, two -1s) is doubled, so no -1
reaches TF.js: its ``SplitV`` then fails the sum check or ``slice``'s "Negative size values should be exactly -1", on
every backend. Node names and outputs stay as they were: only the sizes input changes.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from ..shape_rank import infer_ranks
from . import Pass, PassResult
from .graph_edit import const_array
from .shapes import infer_shapes


class ResolvedSplitSizes(Pass):
    """``SplitV`` whose sizes hold or may hold a ``-1``: sizes without one (see the module docstring)."""

    name = "split_sizes"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        nodes = [n for n in graph.nodes if n.op == "SplitV" and len(n.inputs) == 3 and _may_hold_minus_one(n)]
        if not nodes:
            return PassResult(0)
        shapes, ranks, resolved, at_run_time = infer_shapes(graph), infer_ranks(graph), 0, 0
        for node in nodes:
            sizes, length = const_array(node.inputs[1]), _axis_size(node, shapes)
            if sizes is not None and length is not None:
                resolved += _resolve_constant(graph, node, sizes, length)
            else:
                node.inputs[1] = _resolved_at_run_time(graph, node, length, ranks.get(node.inputs[0]))
                at_run_time += 1
        return PassResult.from_counts(resolved=resolved, at_run_time=at_run_time)


def _may_hold_minus_one(node: Node) -> bool:
    """Constant sizes with a ``-1``, or sizes read at run time this pass has not resolved yet."""
    sizes = const_array(node.inputs[1])
    return bool((sizes == -1).any()) if sizes is not None else not _is_resolved(node.inputs[1])


def _axis_size(node: Node, shapes: dict) -> int | None:
    """The split axis's size where the graph fixes it (a constant axis over a known size), else None."""
    shape, axis = shapes.get(node.inputs[0]), const_array(node.inputs[2])
    if shape is None or axis is None or axis.size != 1 or not -len(shape) <= int(axis.reshape(-1)[0]) < len(shape):
        return None
    return shape[int(axis.reshape(-1)[0])]


def _failing(sizes: np.ndarray) -> np.ndarray:
    """A negative size doubled: never ``-1``, which TF.js would read as "the rest"; the run fails as TF's does."""
    return sizes + np.minimum(sizes, 0)


def _resolve_constant(graph: Graph, node: Node, sizes: np.ndarray, length: int) -> int:
    """The ``-1`` of constant sizes over an axis of known size replaced by what it stands for (one -1 only: two are
    TF.js's own refusal, as TF's)."""
    if int((sizes == -1).sum()) != 1:
        return 0
    flat = sizes.reshape(-1).astype(np.int64)
    flat = np.where(flat == -1, length - (flat.sum() + 1), flat)
    dtype = _sizes_dtype(node)
    node.inputs[1] = graph.const(_failing(flat).astype(dtype.numpy), name=f"{node.name}/split_sizes/resolved",
                                 dtype=dtype)
    return 1


def _sizes_dtype(node: Node) -> DType:
    raw = node.attrs.get("Tlen") or node.inputs[1].dtype
    return DType.from_any(raw) if raw is not None else DType.INT32


def _is_resolved(sizes: Value) -> bool:
    """Sizes this pass already resolved at run time: ``AddV2(r, Minimum(r, 0))``."""
    node = sizes.producer
    if node is None or node.op != "AddV2" or len(node.inputs) != 2:
        return False
    minimum = node.inputs[1].producer
    return minimum is not None and minimum.op == "Minimum" and minimum.inputs[0] is node.inputs[0]


def _resolved_at_run_time(graph: Graph, node: Node, length: int | None, rank: int | None) -> Value:
    """``r + Minimum(r, 0)`` with ``r = SelectV2(s == -1, n - Sum(s) - 1, s)``, ``n`` the axis's size."""
    sizes, dtype, prefix = node.inputs[1], _sizes_dtype(node), f"{node.name}/split_sizes"
    count = sizes.shape

    def op(kind: str, inputs: list[Value], label: str, shape: tuple | None = count, out: DType = dtype) -> Value:
        attrs = {"T": dtype, **({"incompatible_shape_error": True} if kind == "Equal" else {})}
        return graph.add_op(kind, inputs, attrs, name=f"{prefix}/{label}", dtype=out, shape=shape)

    def scalar(value: int, label: str) -> Value:
        return graph.const(np.asarray(value, dtype.numpy), name=f"{prefix}/{label}", dtype=dtype)

    n = scalar(length, "axis_size") if length is not None else _run_time_axis_size(graph, node, dtype, prefix, rank)
    total = graph.add_op("Sum", [sizes, graph.const(np.int32(0), name=f"{prefix}/sum_axis", dtype=DType.INT32)],
                         {"T": dtype, "Tidx": DType.INT32, "keep_dims": False}, name=f"{prefix}/sum", dtype=dtype,
                         shape=())
    rest = op("Sub", [n, op("AddV2", [total, scalar(1, "one")], "sum_plus_one", ())], "rest", ())
    is_rest = op("Equal", [sizes, scalar(-1, "minus_one")], "is_rest", out=DType.BOOL)
    resolved = op("SelectV2", [is_rest, rest, sizes], "resolved")
    return op("AddV2", [resolved, op("Minimum", [resolved, scalar(0, "zero")], "negative")], "checked")


def _run_time_axis_size(graph: Graph, node: Node, dtype: DType, prefix: str, rank: int | None) -> Value:
    """``Shape(x)[axis mod Rank(x)]`` at run time (TF accepts a negative axis; TF.js's GatherV2 does not)."""
    x, axis, int32 = node.inputs[0], node.inputs[2], DType.INT32
    kind = node.attrs.get("T") or x.dtype or DType.FLOAT32
    dims = graph.add_op("Shape", [x], {"T": kind, "out_type": dtype}, name=f"{prefix}/dims", dtype=dtype)
    known = const_array(axis)
    if known is not None and known.size == 1 and rank is not None and -rank <= int(known.reshape(-1)[0]) < rank:
        where = graph.const(np.int32(int(known.reshape(-1)[0]) % rank), name=f"{prefix}/axis", dtype=int32)
    else:
        rank_value = graph.add_op("Rank", [x], {"T": kind}, name=f"{prefix}/rank", dtype=int32, shape=())
        where = graph.add_op("FloorMod", [axis, rank_value], {"T": int32}, name=f"{prefix}/axis", dtype=int32,
                             shape=())
    return graph.add_op("GatherV2", [dims, where, graph.const(np.int32(0), name=f"{prefix}/gather_axis")],
                        {"Tparams": dtype, "Tindices": int32, "Taxis": int32, "batch_dims": 0},
                        name=f"{prefix}/axis_size", dtype=dtype, shape=())
