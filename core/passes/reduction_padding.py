"""Reductions over an axis that may be empty only at run time: feed them one identity element then.

Measured in TF.js 4.22 against TF (``tests/test_backend_contract_empty_reductions.py``), a reduction whose
input is empty at run time (a ``(3, 0)`` tensor fed to a ``(None, None)`` input) answers uninitialised memory
on wasm for every reduction (``Sum`` 3.6e-41, an int32 ``Sum`` 25520, ``All``/``Any`` True), NaN or 0 for
``Max``/``Min``, 0 for a float ``Mean`` and False for ``All`` on cpu, and on webgl throws ("The new shape
(NaN,0) has NaN elements") or gives NaN/0. No static check can see it, so every reduction with a reduced axis
of a size unknown at conversion time gets, at run time, ``e = 1`` when the reduced size is 0 (else 0) and,
along each reduced axis, a block of ``e`` identity elements concatenated to its input (a ``Fill`` shaped from
the input's run-time shape: no data read). When ``e`` is 0 the blocks are empty and every
backend's ``Concat`` returns its input itself (no copy: the kernels drop empty inputs); when it is 1 the
reduction sees only identity elements and gives TF's answer. Where a backend
mishandles that answer (webgl's max/min start at ∓1e20, a float ``Mean`` of nothing is NaN) the node
subtracts a scalar that is ``-answer`` exactly when ``e`` is 1. A float matmul over an inner dimension that is
0 at run time (TF: zeros; wasm: garbage, webgl: throws) gets one zero along it on both operands the same way.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .graph_edit import rewrite

#: Name part of every node the rewrites here add (``<node>/nonempty/...``); the padded input ends in ``/input``.
MARK = "/nonempty"
PADDED_INPUT = MARK + "/input"
#: (op, float?) -> the backends that give another answer than TF over a run-time-empty axis (measured above).
WRONG_WHEN_EMPTY: dict[tuple[str, bool], frozenset[str]] = {
    ("Sum", True): frozenset({"wasm", "webgl"}), ("Sum", False): frozenset({"wasm", "webgl"}),
    ("Prod", True): frozenset({"wasm"}), ("Prod", False): frozenset({"wasm"}),
    ("Max", True): frozenset({"cpu", "wasm", "webgl"}), ("Max", False): frozenset({"cpu", "wasm", "webgl"}),
    ("Min", True): frozenset({"cpu", "wasm", "webgl"}), ("Min", False): frozenset({"cpu", "wasm", "webgl"}),
    ("Mean", True): frozenset({"cpu", "wasm", "webgl"}),
    ("All", False): frozenset({"cpu", "wasm", "webgl"}), ("Any", False): frozenset({"wasm", "webgl"}),
    ("EuclideanNorm", True): frozenset({"wasm", "webgl"}),
}
#: Targets never run here (webgpu): assumed wrong wherever a probed backend is.
_UNPROBED = frozenset({"webgpu"})


def wrong_on(op: str, dtype: DType, targets: tuple[str, ...]) -> bool:
    """Whether some target backend gives another answer than TF for ``op`` over a run-time-empty axis."""
    floating = dtype in (DType.FLOAT32, DType.FLOAT16, DType.FLOAT64, DType.BFLOAT16)
    wrong = WRONG_WHEN_EMPTY.get((op, floating), frozenset())
    return bool((wrong | _UNPROBED) & set(targets)) if wrong else False


def is_padded(node: Node) -> bool:
    """Whether ``node``'s input already went through :func:`pad_axes` (a later sweep sees it again). Any padded
    input counts, ``.../nonempty/input`` or ``.../nonempty/b/input``: ``cse`` merges identical paddings (both
    operands of ``a @ a^T``, a matmul's and a ``Sum``'s zeros along one axis) under either name."""
    name = node.inputs[0].producer.name if node.inputs else ""
    return MARK + "/" in name and name.endswith("/input")


#: Backends whose matmul over a run-time-empty inner dimension is not TF's zeros (measured: wasm leaves
#: uninitialised memory, 3.6e-41 in the first element; webgl throws "Cannot read properties of undefined").
MATMUL_WRONG_WHEN_EMPTY = frozenset({"wasm", "webgl"})


def pad_empty_inner_dimension(graph: Graph, node: Node, a: tuple, b: tuple, targets: tuple[str, ...]) -> bool:
    """A float ``MatMul``/``BatchMatMulV2`` whose inner dimension is unknown gets one zero along it on both
    operands exactly when it is 0 at run time (its product is then TF's zeros). Whether it rewrote the node."""
    if not (MATMUL_WRONG_WHEN_EMPTY | _UNPROBED) & set(targets) or is_padded(node):
        return False
    flip_a = bool(node.attrs.get("transpose_a", node.attrs.get("adj_x", False)))
    flip_b = bool(node.attrs.get("transpose_b", node.attrs.get("adj_y", False)))
    inner_a = len(a) - 2 if flip_a else len(a) - 1
    inner_b = len(b) - 1 if flip_b else len(b) - 2
    if a[inner_a] is not None or b[inner_b] is not None:
        return False
    zero = np.zeros((), np.float32)
    inner = smallest_size(graph, node.inputs[0], DType.FLOAT32, len(a), [inner_a], f"{node.name}{MARK}")
    pad_axes(graph, node, b, [inner_b], zero, DType.FLOAT32, index=1, label="/b", count=inner)
    pad_axes(graph, node, a, [inner_a], zero, DType.FLOAT32, index=0, count=inner)
    return True


def _int_const(graph: Graph, values, name: str) -> Value:
    return graph.const(np.asarray(values, np.int32), name=name)


def _dims(graph: Graph, x: Value, dtype: DType, rank: int, name: str) -> Value:
    """``x``'s run-time shape (int32). ``Shape`` reads no data: ``cse`` merges the copies made for one tensor."""
    return graph.add_op("Shape", [x], {"T": dtype, "out_type": DType.INT32}, name=f"{name}/dims", dtype=DType.INT32,
                        shape=(rank,))


def smallest_size(graph: Graph, x: Value, dtype: DType, rank: int, axes: list[int], name: str) -> Value:
    """The smallest run-time size of ``x`` along ``axes``: an int32 scalar that is 0 exactly when the region
    they span is empty. Not ``Size(x)``: an empty axis elsewhere must not pad (cpu's ``Concat`` with an empty
    output hands the next kernel a plain array: "vals.subarray is not a function")."""
    dims = _dims(graph, x, dtype, rank, name)
    gather = {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0}
    smallest = None
    for k, axis in enumerate(axes):
        size = graph.add_op("GatherV2", [dims, _int_const(graph, axis, f"{name}/padded_axis_{k}"),
                                         _int_const(graph, 0, f"{name}/gather_axis")], gather,
                            name=f"{name}/padded_size_{k}", dtype=DType.INT32, shape=())
        smallest = size if smallest is None else graph.add_op(
            "Minimum", [smallest, size], {"T": DType.INT32}, name=f"{name}/smallest_{k}", dtype=DType.INT32, shape=())
    return smallest


def pad_axes(graph: Graph, node: Node, shape: tuple, axes: list[int], fill: np.ndarray, dtype: DType, *,
             index: int = 0, label: str = "", count: Value | None = None) -> Value:
    """``node``'s input ``index`` with ``e`` elements ``fill`` appended along each axis in ``axes`` (some of them
    of a size unknown here), where ``e`` is 1 when ``count`` is 0 at run time and 0 otherwise; ``count`` is the
    smallest size along ``axes`` unless given (:func:`smallest_size`; a matmul passes its inner size). Rewires
    the node and returns ``count`` (for :func:`guard`). ``dtype`` is the input's (its Value may not say);
    ``label`` tells two padded inputs' nodes apart.

    Along each axis the input is concatenated with a block: a ``Fill`` of the input's shape with ``e`` along that
    axis and ``+ e`` along the axes padded before (:func:`_block`). When ``e`` is 0 the block is empty and every
    backend's ``Concat`` returns its input itself (no copy: the kernels drop empty inputs), so a non-empty run
    pays for a few int32 scalars and no copy of the data. The block is made from the input's shape, never from
    its data: a ``Slice`` of it (one node less) throws on cpu when the input is an empty ``Concat`` or
    ``GatherNd`` output (cpu holds those as plain arrays: "vals.subarray is not a function")."""
    x, rank, name = node.inputs[index], len(shape), f"{node.name}{MARK}{label}"
    if count is None:
        count = smallest_size(graph, x, dtype, rank, axes, name)
    dims = _dims(graph, x, dtype, rank, name)
    value = graph.const(fill, name=f"{name}/identity")
    current, grown = x, list(shape)
    for k, axis in enumerate(axes):
        block_shape = tuple(None if a == axis else grown[a] for a in range(rank))
        block = _block(graph, dims, count, axis, axes[:k + 1], value, dtype, f"{name}/block_{k}", block_shape)
        grown[axis] = None
        suffix = "/input" if k == len(axes) - 1 else f"/padded_{k}"
        current = graph.add_op("ConcatV2", [current, block, graph.const(np.int32(axis), name=f"{name}/axis_{k}")],
                               {"T": dtype, "N": 2, "Tidx": DType.INT32}, name=f"{name}{suffix}", dtype=dtype,
                               shape=tuple(grown))
    node.inputs = [*node.inputs[:index], current, *node.inputs[index + 1:]]
    return count


def _block(graph: Graph, dims: Value, count: Value, axis: int, padded: list[int], value: Value, dtype: DType,
           name: str, shape: tuple) -> Value:
    """A ``Fill`` of ``dims`` with 0 along ``axis``, grown by ``e = 1 - min(count, 1)`` along each of ``padded``
    (``axis`` and the axes padded before): ``mask - min(count, mask)`` is ``e`` where the mask is 1 and 0
    elsewhere (int32 ``Minimum``/``Sub``/``AddV2`` only: int32 ``Min`` and ``Mul`` carry special-values deviations
    (webgl, cpu) that would name ops the model does not have). A ``Fill``, not a ``Pad``, at every rank: the
    contract refuses a rank-5+ ``Pad`` on webgl and wasm."""
    rank, i32 = len(shape), {"T": DType.INT32}
    keep = np.full((rank,), np.iinfo(np.int32).max, np.int32)
    keep[axis] = 0
    mask = np.zeros((rank,), np.int32)
    mask[padded] = 1
    mask_value = _int_const(graph, mask, f"{name}/mask")
    kept = graph.add_op("Minimum", [dims, _int_const(graph, keep, f"{name}/keep")], i32, name=f"{name}/kept",
                        dtype=DType.INT32, shape=(rank,))
    capped = graph.add_op("Minimum", [count, mask_value], i32, name=f"{name}/capped", dtype=DType.INT32,
                          shape=(rank,))
    amounts = graph.add_op("Sub", [mask_value, capped], i32, name=f"{name}/amounts", dtype=DType.INT32,
                           shape=(rank,))
    grown = graph.add_op("AddV2", [kept, amounts], i32, name=f"{name}/dims", dtype=DType.INT32, shape=(rank,))
    return graph.add_op("Fill", [grown, value], {"T": dtype, "index_type": DType.INT32}, name=name, dtype=dtype,
                        shape=shape)


def _offset(graph: Graph, name: str, count: Value, answer: np.ndarray, dtype: DType) -> Value:
    """A scalar that is ``-answer`` when ``count`` is 0 and 0 otherwise. A NaN is made at run time
    (``t - t`` for ``t`` Inf when empty, 0 otherwise), never stored as a weight, which the weight writer would
    report as corrupt."""
    is_empty = graph.add_op("Equal", [count, graph.const(np.int32(0), name=f"{name}/none")], {"T": DType.INT32},
                            name=f"{name}/is_empty", dtype=DType.BOOL, shape=())
    nan = bool(np.isnan(answer))
    when_empty = graph.const(np.asarray(np.inf if nan else -answer, dtype.numpy), name=f"{name}/when_empty")
    chosen = graph.add_op("SelectV2", [is_empty, when_empty, graph.const(np.zeros((), dtype.numpy), name=f"{name}/zero")],
                          {"T": dtype}, name=f"{name}/empty_offset" if not nan else f"{name}/inf_if_empty",
                          dtype=dtype, shape=())
    if not nan:
        return chosen
    return graph.add_op("Sub", [chosen, chosen], {"T": dtype}, name=f"{name}/empty_offset", dtype=dtype, shape=())


def guard(graph: Graph, node: Node, count: Value, answer: np.ndarray, dtype: DType) -> None:
    """Make ``node`` give ``answer`` (TF's float result over nothing: ∓Inf, NaN) when ``count`` is 0, its own
    result otherwise. The reduction (over the padded zeros: 0 when empty) moves to a new node and ``node``
    (name, output Value) becomes ``reduced - offset``: ``0 - (-answer)`` when empty, ``reduced - 0`` (exact,
    ``-0`` kept) otherwise. A subtraction, not a SelectV2 of a scalar and the reduction, whose broadcast TF.js
    gets wrong for an empty output (shape [1] for [0])."""
    inner = graph.add_node(node.op, node.inputs, dict(node.attrs), name=f"{node.name}{MARK}/reduced")
    inner.output(0).dtype, inner.output(0).shape = node.output(0).dtype, node.output(0).shape
    rewrite(node, "Sub", [inner.output(0), _offset(graph, node.name + MARK, count, answer, dtype)], {"T": dtype})
