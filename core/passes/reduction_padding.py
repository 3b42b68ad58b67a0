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
0 at run time (TF: zeros; wasm: garbage, webgl: throws) gets one zero along it on both operands the same way, as
does one of another dtype TF.js computes (float16 and float64 held as float32: wasm 445 where TF gives 0; int32).
"""
from __future__ import annotations

import re

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
    name = node.inputs[0].producer.name if node.inputs and node.inputs[0].producer is not None else ""
    return MARK + "/" in name and re.search(r"/input(_\d+)?$", name) is not None  # (a name made unique: "_12")


#: Backends whose matmul over a run-time-empty inner dimension is not TF's zeros (measured: wasm leaves
#: uninitialised memory, 3.6e-41 in the first element; webgl throws "Cannot read properties of undefined").
MATMUL_WRONG_WHEN_EMPTY = frozenset({"wasm", "webgl"})


def pad_empty_inner_dimension(graph: Graph, node: Node, a: tuple, b: tuple, targets: tuple[str, ...],
                              dtypes: tuple[DType, DType] = (DType.FLOAT32, DType.FLOAT32)) -> bool:
    """A ``MatMul``/``BatchMatMul{,V2,V3}`` whose inner dimension is unknown gets one zero (of each operand's
    ``dtypes``) along it on both operands exactly when it is 0 at run time (its product is then TF's zeros).
    Whether it rewrote the node."""
    if not (MATMUL_WRONG_WHEN_EMPTY | _UNPROBED) & set(targets) or is_padded(node):
        return False
    flip_a = bool(node.attrs.get("transpose_a", node.attrs.get("adj_x", False)))
    flip_b = bool(node.attrs.get("transpose_b", node.attrs.get("adj_y", False)))
    inner_a = len(a) - 2 if flip_a else len(a) - 1
    inner_b = len(b) - 1 if flip_b else len(b) - 2
    if a[inner_a] is not None or b[inner_b] is not None:
        return False
    inner = smallest_size(graph, node.inputs[0], dtypes[0], len(a), [inner_a], f"{node.name}{MARK}")
    pad_axes(graph, node, b, [inner_b], np.zeros((), dtypes[1].numpy), dtypes[1], index=1, label="/b", count=inner)
    pad_axes(graph, node, a, [inner_a], np.zeros((), dtypes[0].numpy), dtypes[0], index=0, count=inner)
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


def pad_axes_any_rank(graph: Graph, node: Node, axes: list[int], fill: np.ndarray, dtype: DType) -> Value:
    """:func:`pad_axes` for an input whose rank is unknown here (an unranked input, a loop variable a lowered loop
    does not shape): each axis (a negative one counts from the run-time ``Rank``) is found at run time by
    ``Equal(Range(rank), axis)``, and the block's sizes are chosen from that with int32 ``SelectV2``/``Cast``,
    as :func:`_block` chooses them from constant masks. Returns the smallest reduced size (for :func:`guard`)."""
    x, name, i32 = node.inputs[0], f"{node.name}{MARK}", DType.INT32

    def op(kind: str, inputs: list[Value], attrs: dict, label: str, out: DType = i32, shape: tuple | None = (None,)
           ) -> Value:
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{label}", dtype=out, shape=shape)

    dims = op("Shape", [x], {"T": dtype, "out_type": i32}, "dims")
    rank = op("Rank", [x], {"T": dtype}, "rank", shape=())
    positions = op("Range", [_int_const(graph, 0, f"{name}/first"), rank, _int_const(graph, 1, f"{name}/step")],
                   {"Tidx": i32}, "positions")
    nothing = op("ZerosLike", [dims], {"T": i32}, "nothing")
    places, count = [], None
    for k, axis in enumerate(axes):
        at = _int_const(graph, axis, f"{name}/axis_{k}")
        if axis < 0:
            at = op("AddV2", [at, rank], {"T": i32}, f"axis_{k}/from_end", shape=())
        places.append(op("Equal", [positions, at], {"T": i32}, f"axis_{k}/at", out=DType.BOOL))
        size = op("GatherV2", [dims, at, _int_const(graph, 0, f"{name}/axis_{k}/gather_axis")],
                  {"Tparams": i32, "Tindices": i32, "Taxis": i32, "batch_dims": 0}, f"padded_size_{k}", shape=())
        count = size if count is None else op("Minimum", [count, size], {"T": i32}, f"smallest_{k}", shape=())
    value = graph.const(fill, name=f"{name}/identity")
    current, mask = x, None
    for k, (axis, place) in enumerate(zip(axes, places)):
        one = op("Cast", [place], {"SrcT": DType.BOOL, "DstT": i32, "Truncate": False}, f"block_{k}/mask_here")
        mask = one if mask is None else op("AddV2", [mask, one], {"T": i32}, f"block_{k}/mask")
        kept = op("SelectV2", [place, nothing, dims], {"T": i32}, f"block_{k}/kept")
        capped = op("Minimum", [count, mask], {"T": i32}, f"block_{k}/capped")
        amounts = op("Sub", [mask, capped], {"T": i32}, f"block_{k}/amounts")
        grown = op("AddV2", [kept, amounts], {"T": i32}, f"block_{k}/dims")
        block = op("Fill", [grown, value], {"T": dtype, "index_type": i32}, f"block_{k}", out=dtype, shape=None)
        suffix = "input" if k == len(axes) - 1 else f"padded_{k}"
        current = op("ConcatV2", [current, block, _int_const(graph, axis, f"{name}/concat_axis_{k}")],
                     {"T": dtype, "N": 2, "Tidx": i32}, suffix, out=dtype, shape=None)
    node.inputs = [current, *node.inputs[1:]]
    return count


def pad_run_time_axes(graph: Graph, node: Node, axes: Value, fill: np.ndarray, dtype: DType, *, index: int = 0,
                      count: Value | None = None, label: str = "") -> Value:
    """``node``'s input ``index`` with each axis in ``axes`` (a value read at run time, of any length, negative
    axes counted from the run-time rank) grown to 1 element ``fill`` exactly when ``count`` is 0 at run time
    (default: the input's ``Size``), for an input whose rank or reduced axes are unknown here, so that neither
    :func:`pad_axes` (one ``Concat`` per known axis) nor :func:`pad_axes_any_rank` applies. Returns ``count``.

    When ``count`` is 0 the input holds no element, so ``Reshape(Concat(flat input, flat block), grown shape)``
    is the block alone: a ``Fill`` of the input's shape with 1 along ``axes`` (a reduction then sees only
    identity elements, and its output shape is TF's: the reduced axes are dropped or kept as 1 anyway). Otherwise
    the block has a leading axis of 0 (no element) and the ``Reshape`` gives the input its own shape back. A
    ``Size`` of 0 from an empty axis that is not reduced is sound: the block is then empty too (a 0 stays)."""
    x, name, i32 = node.inputs[index], f"{node.name}{MARK}{label}", DType.INT32

    def op(kind: str, inputs: list[Value], attrs: dict, part: str, out: DType = i32, shape: tuple | None = (None,)
           ) -> Value:
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{part}", dtype=out, shape=shape)

    dims = op("Shape", [x], {"T": dtype, "out_type": i32}, "dims")
    rank = op("Rank", [x], {"T": dtype}, "rank", shape=())
    if count is None:
        count = op("Size", [x], {"T": dtype, "out_type": i32}, "size", shape=())
    if axes.dtype not in (None, i32):
        axes = op("Cast", [axes], {"SrcT": axes.dtype, "DstT": i32, "Truncate": False}, "axes_int32")
    listed = op("Reshape", [axes, _int_const(graph, [-1], f"{name}/as_list")], {"T": i32, "Tshape": i32}, "axes_list")
    negative = op("Less", [listed, _int_const(graph, 0, f"{name}/zero")], {"T": i32}, "axes_negative",
                  out=DType.BOOL)
    # a vector of the rank as long as the axes, not a broadcast scalar: TF.js broadcasts a scalar with an empty
    # vector to shape [1] in places (an empty list of axes is allowed)
    ranks = op("Fill", [op("Shape", [listed], {"T": i32, "out_type": i32}, "axes_count", shape=(1,)), rank],
               {"T": i32, "index_type": i32}, "ranks")
    from_end = op("AddV2", [listed, ranks], {"T": i32}, "axes_from_end")
    counted = op("SelectV2", [negative, from_end, listed], {"T": i32}, "axes_counted")
    # one axis that is no position, so that the Any below never reduces over nothing (axis=[] is allowed)
    padded = op("ConcatV2", [counted, _int_const(graph, [-1], f"{name}/no_axis"), _int_const(graph, 0, f"{name}/at")],
                {"T": i32, "N": 2, "Tidx": i32}, "axes_or_none")
    positions = op("Range", [_int_const(graph, 0, f"{name}/first"), rank, _int_const(graph, 1, f"{name}/step")],
                   {"Tidx": i32}, "positions")
    column = op("Reshape", [positions, _int_const(graph, [-1, 1], f"{name}/column")], {"T": i32, "Tshape": i32},
                "positions_column", shape=(None, 1))
    row = op("Reshape", [padded, _int_const(graph, [1, -1], f"{name}/row")], {"T": i32, "Tshape": i32}, "axes_row",
             shape=(1, None))
    matches = op("Equal", [column, row], {"T": i32}, "matches", out=DType.BOOL, shape=(None, None))
    reduced = op("Any", [matches, _int_const(graph, 1, f"{name}/per_position")], {"Tidx": i32, "keep_dims": False},
                 "reduced", out=DType.BOOL)
    empty = op("Equal", [count, _int_const(graph, 0, f"{name}/none")], {"T": i32}, "is_empty", out=DType.BOOL,
               shape=())
    counts = op("Fill", [op("Shape", [dims], {"T": i32, "out_type": i32}, "rank_vector", shape=(1,)), count],
                {"T": i32, "index_type": i32}, "counts")  # as long as dims (no scalar broadcast, as above)
    zeros = op("ZerosLike", [dims], {"T": i32}, "zeros")
    grow = op("LogicalAnd", [reduced, op("Equal", [counts, zeros], {"T": i32}, "empty_here", out=DType.BOOL)], {},
              "grow", out=DType.BOOL)
    grown = op("SelectV2", [grow, op("OnesLike", [dims], {"T": i32}, "ones"), dims], {"T": i32}, "grown_dims")
    lead = op("Reshape", [op("Cast", [empty], {"SrcT": DType.BOOL, "DstT": i32, "Truncate": False}, "e", shape=()),
                          _int_const(graph, [1], f"{name}/one_long")], {"T": i32, "Tshape": i32}, "e_vector", shape=(1,))
    block_dims = op("ConcatV2", [lead, grown, _int_const(graph, 0, f"{name}/block_at")],
                    {"T": i32, "N": 2, "Tidx": i32}, "block_dims")
    block = op("Fill", [block_dims, graph.const(fill, name=f"{name}/identity")], {"T": dtype, "index_type": i32},
               "block", out=dtype, shape=None)
    flat = _int_const(graph, [-1], f"{name}/flat")
    pieces = [op("Reshape", [v, flat], {"T": dtype, "Tshape": i32}, f"{part}_flat", out=dtype)
              for v, part in ((x, "values"), (block, "block"))]
    joined = op("ConcatV2", [*pieces, _int_const(graph, 0, f"{name}/join_at")], {"T": dtype, "N": 2, "Tidx": i32},
                "joined", out=dtype)
    current = op("Reshape", [joined, grown], {"T": dtype, "Tshape": i32}, "input", out=dtype, shape=None)
    node.inputs = [*node.inputs[:index], current, *node.inputs[index + 1:]]
    return count


def pad_inner_dimension_any_rank(graph: Graph, node: Node, targets: tuple[str, ...],
                                 dtypes: tuple[DType, DType] = (DType.FLOAT32, DType.FLOAT32)) -> bool:
    """:func:`pad_empty_inner_dimension` for a float ``BatchMatMul``/``BatchMatMulV2`` with an operand of unknown
    rank (an unranked input, a loop variable): the inner axes are counted from the end (-1 or -2 by
    ``adj_*``), placed at run time by :func:`pad_run_time_axes`, and both operands grow to 1 zero along them
    exactly when ``a``'s inner size is 0. Whether it rewrote the node."""
    if not (MATMUL_WRONG_WHEN_EMPTY | _UNPROBED) & set(targets) or is_padded(node):
        return False
    inner_a = -2 if node.attrs.get("transpose_a", node.attrs.get("adj_x", False)) else -1
    inner_b = -1 if node.attrs.get("transpose_b", node.attrs.get("adj_y", False)) else -2
    name, i32, a = f"{node.name}{MARK}", DType.INT32, node.inputs[0]
    dims = graph.add_op("Shape", [a], {"T": dtypes[0], "out_type": i32}, name=f"{name}/a_dims", dtype=i32,
                        shape=(None,))
    bounds = [_int_const(graph, [v], f"{name}/inner_{part}")
              for part, v in (("begin", inner_a), ("end", inner_a + 1), ("stride", 1))]
    inner = graph.add_op("StridedSlice", [dims, *bounds],
                         {"T": i32, "Index": i32, "begin_mask": 0, "end_mask": int(inner_a == -1), "ellipsis_mask": 0,
                          "new_axis_mask": 0, "shrink_axis_mask": 1}, name=f"{name}/inner_size", dtype=i32, shape=())
    pad_run_time_axes(graph, node, _int_const(graph, [inner_b], f"{name}/b_inner"), np.zeros((), dtypes[1].numpy),
                      dtypes[1], index=1, count=inner, label="/b")
    pad_run_time_axes(graph, node, _int_const(graph, [inner_a], f"{name}/a_inner"), np.zeros((), dtypes[0].numpy),
                      dtypes[0], count=inner)
    return True
