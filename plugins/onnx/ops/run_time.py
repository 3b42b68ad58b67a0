"""Small graph builders for ONNX parameters (axes, pads, starts, K …) that are only known at run time.

TF.js's graph executor reads most such parameters from tensors while it runs (reductions' ``axis``,
``Cumsum``'s axis, ``SplitV``'s sizes, ``TopKV2``'s k, ``Range``, ``GatherV2``'s axis, ``Pad``'s
paddings, ``Reshape``'s shape), so a computed value can feed them directly once it is in TF's form:
negative axes counted from the front (TF.js's cumsum does not wrap them), and moved to the input's IR
layout by a GatherV2 on the inverse permutation (the frontend keeps 4-D activations NHWC).
"""
from __future__ import annotations

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import NodeContext
from ..layout import Perm

I32 = DType.INT32


def input_int32(ctx: NodeContext, i: int, label: str) -> Value:
    """Input ``i`` (an integer tensor such as axes or pads) as int32, in ONNX's layout."""
    return ctx.cast(ctx.input(i), I32, label=label)


def wrap(ctx: NodeContext, values: Value, size: Value | int, label: str) -> Value:
    """``values + size`` where ``values < 0``: ONNX's negative axes and indices counted from the front."""
    size_value = ctx.int32(size, label=f"{label}_size") if isinstance(size, int) else size
    negative = ctx.op("Less", [values, ctx.int32(0, label=f"{label}_zero")], dtype=DType.BOOL, label=f"{label}_negative")
    if values.shape is not None and len(values.shape) >= 5:
        # webgl's SelectV2 throws from rank 5 (transformers' vmapped masks gather with rank-5 indices):
        # add size × (values < 0) instead, exact in int32
        flags = ctx.cast(negative, I32, label=f"{label}_negative_int")
        offset = ctx.op("Mul", [flags, size_value], dtype=I32, label=f"{label}_offset")
        return ctx.op("AddV2", [values, offset], dtype=I32, label=label)
    shifted = ctx.op("AddV2", [values, size_value], dtype=I32, label=f"{label}_shifted")
    return ctx.op("SelectV2", [negative, shifted, values], {"T": I32}, dtype=I32, label=label)


def axes(ctx: NodeContext, i: int, rank: int, label: str = "axes") -> Value:
    """Input ``i`` (ONNX axes, any sign) as int32 axes in ``[0, rank)``, in ONNX's numbering."""
    return wrap(ctx, input_int32(ctx, i, f"{label}_int"), rank, label)


def to_ir_axes(ctx: NodeContext, onnx_axes: Value, perm: Perm, rank: int, label: str = "ir_axes") -> Value:
    """Non-negative ONNX axes moved to where they live in a tensor laid out as ``perm``."""
    if perm is None:
        return onnx_axes
    where = ctx.ints(layout.inverse(layout.full(perm, rank)), label=f"{label}_where")
    return ctx.gather(where, onnx_axes, label=label)


def scalar(ctx: NodeContext, vector: Value, k: int = 0, label: str = "scalar") -> Value:
    """``vector[k]`` as a scalar (TF.js reads a scalar for k, an axis, a Range bound)."""
    return ctx.gather(vector, ctx.int32(k, label=f"{label}_at"), label=label)



def length(ctx: NodeContext, i: int) -> int | None:
    """The static length of 1-D (or scalar) input ``i``, when ONNX shape inference knows it."""
    shape = ctx.shape(i)
    if shape is None:
        return None
    if len(shape) == 0:
        return 1
    return shape[0] if len(shape) == 1 else None


def member_mask(ctx: NodeContext, onnx_axes: Value, rank: int, label: str) -> Value:
    """A bool vector of length ``rank``: whether each position is one of ``onnx_axes`` (non-negative)."""
    column = ctx.op("Reshape", [onnx_axes, ctx.ints([-1, 1], label=f"{label}_column")], {"Tshape": I32}, dtype=I32,
                    label=f"{label}_column")
    hits = ctx.op("Equal", [column, ctx.ints(list(range(rank)), label=f"{label}_positions")], dtype=DType.BOOL,
                  label=f"{label}_hits")
    return ctx.op("Any", [hits, ctx.ints([0], label=f"{label}_reduce")], {"keep_dims": False, "Tidx": I32},
                  dtype=DType.BOOL, label=label)


def axis_size(ctx: NodeContext, x: Value, ir_axis: int, static: int | None) -> Value | int:
    """The size of ``x``'s IR axis ``ir_axis``: ``static`` when it is known (and ``x``'s own shape agrees
    it is not computed), else read from ``Shape(x)`` at run time."""
    if static is not None and (x.shape is None or x.shape[ir_axis] is not None):
        return int(static)
    return ctx.run_time_dim(x, ir_axis, label="axis_size")
