"""Keras 3's AdaptiveAverage/MaxPooling 1D/2D/3D: each output bin pools its own window of a static input.

Keras's bins along an axis of length ``L`` pooled to ``n`` are ``[floor(i·L/n), ceil((i+1)·L/n))`` (its
small/big window gather computes exactly these). A box window is the product of one interval per axis,
so the pool runs one axis at a time: every bin is a ``StridedSlice`` reduced by ``Mean``/``Max`` (kept
dims), and the bins are concatenated back. An axis that divides evenly is one ``Reshape`` and one
reduction instead. Over an axis of unknown size (Keras computes it for each concrete input; its traced graph
refuses), the same bin edges are computed at run time from the input's shape in int32 (exact, as Keras's float32
arithmetic is for sizes below 2^24 / bins) and each bin is a ``StridedSlice`` with those run-time edges.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.limits import DEFAULT_LIMITS

from .context import LayerContext
from .dynamic_shape import runtime_sizes
from .registry import Unsupported, channels_last_only, lowers


#: Graph nodes one bin may take (the run-time path: two edge rows, a window, a reduction and their constants).
NODES_PER_BIN = 12


def adaptive_bins(length: int, bins: int) -> list[tuple[int, int]]:
    """Keras's ``(start, end)`` window of each of the ``bins`` outputs along an axis of ``length``."""
    return [(min(i * length // bins, length - 1), min(-(-(i + 1) * length // bins), length)) for i in range(bins)]


def _output_size(ctx: LayerContext, n: int) -> list[int]:
    size = ctx.config.get("output_size")
    sizes = [size] * n if isinstance(size, int) else list(size or [])
    if len(sizes) != n or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ctx.error(f"has output_size {size!r}, expected {n} positive sizes")
    # each bin is a few nodes: bound them before building (a hostile file could ask for millions)
    if NODES_PER_BIN * sum(sizes) > DEFAULT_LIMITS.max_nodes:
        raise ctx.error(f"has output_size {size!r}: more bins than a graph of {DEFAULT_LIMITS.max_nodes:,} nodes holds")
    return sizes


def _pool_axis(ctx: LayerContext, x: Value, axis: int, bins: int, op: str) -> Value:
    shape = list(ctx.shape(x))
    length = int(shape[axis])
    if length == bins:
        return x
    attrs = {"keep_dims": False, "Tidx": DType.INT32}
    out_shape = tuple(bins if i == axis else d for i, d in enumerate(shape))
    if length % bins == 0:  # equal windows: split the axis and reduce the inner part
        split = [*shape[:axis], bins, length // bins, *shape[axis + 1:]]
        grouped = ctx.reshape(x, split, f"axis{axis}_grouped")
        return ctx.op(op, [grouped, ctx.ints(axis + 1, f"axis{axis}_inner")], attrs, shape=out_shape,
                      label=f"axis{axis}_pooled")
    rank = len(shape)
    mask = (1 << rank) - 1 - (1 << axis)  # every other axis is taken whole
    parts = []
    for i, (start, end) in enumerate(adaptive_bins(length, bins)):
        begin, stop = [0] * rank, [0] * rank
        begin[axis], stop[axis] = start, end
        window = ctx.op("StridedSlice", [x, ctx.ints(begin, f"axis{axis}_begin_{i}"),
                                         ctx.ints(stop, f"axis{axis}_end_{i}"), ctx.ints([1] * rank, f"axis{axis}_stride")],
                        {"Index": DType.INT32, "begin_mask": mask, "end_mask": mask, "ellipsis_mask": 0,
                         "new_axis_mask": 0, "shrink_axis_mask": 0},
                        shape=tuple(end - start if j == axis else d for j, d in enumerate(shape)),
                        label=f"axis{axis}_window_{i}")
        parts.append(ctx.op(op, [window, ctx.ints(axis, f"axis{axis}_axis")], {**attrs, "keep_dims": True},
                            shape=tuple(1 if j == axis else d for j, d in enumerate(shape)), label=f"axis{axis}_bin_{i}"))
    return ctx.op("ConcatV2", [*parts, ctx.ints(axis, f"axis{axis}_concat")], {"N": bins, "Tidx": DType.INT32},
                  shape=out_shape, label=f"axis{axis}_pooled")


@lowers(*(f"Adaptive{kind}Pooling{n}D" for kind in ("Average", "Max") for n in (1, 2, 3)),
        check=channels_last_only, channels_first=True)
def adaptive_pool(ctx: LayerContext) -> Value:
    n = int(ctx.class_name[-2])
    shape = ctx.shape()
    if len(shape) != n + 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    if shape[-1] is None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on an input of unknown channels")
    op = "Max" if "Max" in ctx.class_name else "Mean"
    x = ctx.x
    for axis, bins in enumerate(_output_size(ctx, n), start=1):
        x = _pool_axis(ctx, x, axis, bins, op) if ctx.shape(x)[axis] is not None else \
            _pool_unknown_axis(ctx, x, axis, bins, op)
    return x


def _pool_unknown_axis(ctx: LayerContext, x: Value, axis: int, bins: int, op: str) -> Value:
    """:func:`adaptive_bins` over a length read at run time: the ``bins × rank`` begin and end rows are built
    once, and each bin slices its window with its own row."""
    shape = list(ctx.shape(x))
    rank, label = len(shape), f"axis{axis}"
    length = runtime_sizes(ctx, x, axis, axis + 1, label)
    positions = ctx.ints(list(range(bins)), f"{label}_bins")
    last = ctx.binary("Sub", length, ctx.ints([1], f"{label}_one"), label=f"{label}_last")
    starts = ctx.binary("Minimum", _floor_div(ctx, ctx.binary("Mul", length, positions, label=f"{label}_start_num"),
                                              bins, f"{label}_start"), last, label=f"{label}_starts")
    ends_num = ctx.binary("AddV2", ctx.binary("Mul", length, ctx.ints(list(range(1, bins + 1)), f"{label}_next"),
                                              label=f"{label}_end_num"), ctx.ints([bins - 1], f"{label}_round_up"),
                          label=f"{label}_end_ceil")
    ends = ctx.binary("Minimum", _floor_div(ctx, ends_num, bins, f"{label}_end"), length, label=f"{label}_ends")
    rows = [_edge_rows(ctx, edges, axis, rank, bins, f"{label}_{name}") for edges, name in
            ((starts, "begin"), (ends, "end"))]
    mask = (1 << rank) - 1 - (1 << axis)  # every other axis is taken whole
    row_attrs = {"Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                 "shrink_axis_mask": 1}
    parts = []
    for i in range(bins):
        edges = [ctx.op("StridedSlice", [r, ctx.ints([i, 0], f"{label}_row_{i}"),
                                         ctx.ints([i + 1, rank], f"{label}_row_end_{i}"),
                                         ctx.ints([1, 1], f"{label}_row_stride")], row_attrs, dtype=DType.INT32,
                        shape=(rank,), label=f"{label}_{name}_{i}") for r, name in zip(rows, ("begin", "end"))]
        window = ctx.op("StridedSlice", [x, *edges, ctx.ints([1] * rank, f"{label}_stride")],
                        {"Index": DType.INT32, "begin_mask": mask, "end_mask": mask, "ellipsis_mask": 0,
                         "new_axis_mask": 0, "shrink_axis_mask": 0}, shape=tuple(shape), label=f"{label}_window_{i}")
        parts.append(ctx.op(op, [window, ctx.ints(axis, f"{label}_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                            shape=tuple(1 if j == axis else d for j, d in enumerate(shape)), label=f"{label}_bin_{i}"))
    if bins == 1:
        return parts[0]
    return ctx.op("ConcatV2", [*parts, ctx.ints(axis, f"{label}_concat")], {"N": bins, "Tidx": DType.INT32},
                  shape=tuple(bins if j == axis else d for j, d in enumerate(shape)), label=f"{label}_pooled")


def _floor_div(ctx: LayerContext, numerators: Value, divisor: int, label: str) -> Value:
    """Non-negative int32 numerators floor-divided by a positive constant."""
    return ctx.binary("FloorDiv", numerators, ctx.ints([divisor], f"{label}_divisor"), label=f"{label}_div")


def _edge_rows(ctx: LayerContext, edges: Value, axis: int, rank: int, bins: int, label: str) -> Value:
    """The ``bins`` edges along ``axis`` as ``bins × rank`` rows of slice bounds (0 on every other axis, which the
    slice's masks take whole)."""
    column = ctx.op("ExpandDims", [edges, ctx.ints(1, f"{label}_column_axis")], {"Tdim": DType.INT32},
                    dtype=DType.INT32, shape=(bins, 1), label=f"{label}_column")
    parts = [ctx.ints(np.zeros((bins, axis), np.int32), f"{label}_before"), column,
             ctx.ints(np.zeros((bins, rank - axis - 1), np.int32), f"{label}_after")]
    return ctx.op("ConcatV2", [*parts, ctx.ints(1, f"{label}_concat_axis")], {"N": 3, "Tidx": DType.INT32},
                  dtype=DType.INT32, shape=(bins, rank), label=f"{label}_rows")
