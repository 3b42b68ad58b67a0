"""NonZero, Compress and Unique: ops whose output length is only known at run time (TF.js Where / Unique).

TF.js's Where (one input) is asynchronous, so a model using NonZero or Compress runs with
``executeAsync``. Unique returns its values in first-occurrence order; ONNX's ``sorted=1`` order
(ascending, lexicographic for slices) is built from pairwise comparisons, and the first-occurrence
indices and counts from the inverse indices.
"""
from __future__ import annotations

from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import norm_axis
from .composing import BOOL, F32, I32, Builder


def _where(b: Builder, x: Value) -> Value:
    """Coordinates [count, rank] (int32) of the non-zero elements of ``x``."""
    return b.op("Where", [x], {"T": x.dtype}, dtype=I32, label="where")


@onnx_op("NonZero", since=9)
def non_zero(ctx: NodeContext) -> Value:
    b = Builder(ctx)
    coords = _where(b, ctx.input(0))  # ONNX's layout, so coordinates are in ONNX's axis order
    return ctx.op("Transpose", [coords, ctx.ints([1, 0], label="perm")], {"Tperm": I32}, dtype=I32)


@onnx_op("Compress", since=9)
def compress(ctx: NodeContext) -> Laid | Value:
    b = Builder(ctx)
    picked = b.reshape(_where(b, ctx.input(1)), [-1])
    axis = ctx.attr("axis")
    if axis is None:
        flat = b.reshape(ctx.input_for_reshape(0), [-1])
        return ctx.gather(flat, picked, 0, label=None)
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(axis), rank)
    x, perm = ctx.input_laid(0)
    out = ctx.gather(x, picked, layout.ir_axis(perm, axis), label=None)
    return ctx.laid(out, perm)


def _sorted_positions(b: Builder, rows: Value) -> Value:
    """Each row's position (float32) in the ascending lexicographic order of the distinct rows [u, m]."""
    a, c = b.expand_dims(rows, 1), b.expand_dims(rows, 0)  # [u, 1, m], [1, u, m]
    less = b.compare("Less", a, c)
    differs = b.cast(b.compare("NotEqual", a, c), F32)
    before = b.op("Cumsum", [differs, b.i32(2, "axis")], {"exclusive": True, "reverse": False, "Tidx": I32},
                  label="differs_before")
    decides = b.op("LogicalAnd", [b.compare("Equal", before, b.f32(0.0)), less], dtype=BOOL, label="decides")
    row_less = b.op("Max", [b.cast(decides, F32), b.i32(2, "axis")], {"keep_dims": False, "Tidx": I32},
                    label="row_less")  # [i, j]: row i sorts before row j
    return b.op("Sum", [row_less, b.i32(0, "axis")], {"keep_dims": False, "Tidx": I32}, label="position")


@onnx_op("Unique", since=11)
def unique(ctx: NodeContext) -> list[Value | None]:
    b = Builder(ctx)
    axis = ctx.attr("axis")
    if axis is None:
        x = b.reshape(ctx.input_for_reshape(0), [-1])
        axis, rank = 0, 1
        values, inverse = ctx.multi_op("Unique", [x], {"T": x.dtype, "out_idx": I32}, 2, dtypes=[x.dtype, I32],
                                       label="unique")
    else:
        rank = ctx.rank(0)
        axis = norm_axis(ctx, int(axis), rank)
        x = ctx.input(0)
        values, inverse = ctx.multi_op("UniqueV2", [x, ctx.ints([axis], label="unique_axis")],
                                       {"T": x.dtype, "out_idx": I32, "Taxis": I32}, 2, dtypes=[x.dtype, I32],
                                       label="unique")
    count = b.take(b.shape(values), axis, 0)  # u
    slots = b.op("Range", [b.i32(0, "start"), count, b.i32(1, "delta")], {"Tidx": I32}, dtype=I32, label="slots")
    hits = b.compare("Equal", b.expand_dims(inverse, 1), b.expand_dims(slots, 0))  # [n, u]
    counts = b.op("Sum", [b.cast(hits, I32), b.i32(0, "axis")], {"keep_dims": False, "Tidx": I32}, dtype=I32,
                  label="counts")
    first = b.op("ArgMax", [b.cast(hits, F32), b.i32(0, "axis")], {"output_type": I32, "Tidx": I32}, dtype=I32,
                 label="first")
    if not int(ctx.attr("sorted", 1)):
        return [values, first, inverse, counts]
    dims = ctx.shape(0)
    if rank == 1:
        rows = b.reshape(values, [-1, 1])
    else:
        others = [d for k, d in enumerate(dims) if k != axis] if dims is not None else [None]
        if None in others:
            raise ctx.error("sorted Unique along an axis needs the other axes' sizes at conversion time")
        width = 1
        for d in others:
            width *= int(d)
        moved = [axis] + [k for k in range(rank) if k != axis]
        rows = b.reshape(b.op("Transpose", [values, b.i32(moved, "perm")], {"Tperm": I32}, dtype=values.dtype,
                              label="axis_first"), [-1, width])
    position = _sorted_positions(b, rows)
    order = ctx.multi_op("TopKV2", [b.op("Neg", [position], label="neg_position"), count], {"sorted": True}, 2,
                         dtypes=[F32, I32], label="order")[1]
    rank_of = b.cast(position, I32)
    return [b.take(values, order, axis), b.take(first, order, 0), b.take(rank_of, inverse, 0),
            b.take(counts, order, 0)]
