"""Small graph builders for ONNX parameters (axes, pads, starts, K …) that are only known at run time.

TF.js's graph executor reads most such parameters from tensors while it runs (reductions' ``axis``,
``Cumsum``'s axis, ``SplitV``'s sizes, ``TopKV2``'s k, ``Range``, ``GatherV2``'s axis, ``Pad``'s
paddings, ``Reshape``'s shape), so a computed value can feed them directly once it is in TF's form:
negative axes counted from the front (TF.js's cumsum does not wrap them), and moved to the input's IR
layout by a GatherV2 on the inverse permutation (the frontend keeps 4-D activations NHWC).
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import NodeContext
from ..layout import Perm

I32 = DType.INT32
_GATHER = {"batch_dims": 0, "Tindices": I32, "Taxis": I32}


def i32(ctx: NodeContext, value: int, label: str) -> Value:
    return ctx.make_const(np.int32(value), label=label)


def gather(ctx: NodeContext, params: Value, indices: Value, axis: int | Value = 0, *, label: str | None) -> Value:
    axis_value = i32(ctx, axis, f"{label or 'gather'}_axis") if isinstance(axis, int) else axis
    return ctx.op("GatherV2", [params, indices, axis_value], {**_GATHER, "Tparams": params.dtype},
                  dtype=params.dtype, label=label)


def as_int32(ctx: NodeContext, value: Value, label: str) -> Value:
    if value.dtype == I32:
        return value
    return ctx.op("Cast", [value], {"SrcT": value.dtype, "DstT": I32, "Truncate": False}, dtype=I32, label=label)


def input_int32(ctx: NodeContext, i: int, label: str) -> Value:
    """Input ``i`` (an integer tensor such as axes or pads) as int32, in ONNX's layout."""
    return as_int32(ctx, ctx.input(i), label)


def wrap(ctx: NodeContext, values: Value, size: Value | int, label: str) -> Value:
    """``values + size`` where ``values < 0``: ONNX's negative axes and indices counted from the front."""
    size_value = i32(ctx, size, f"{label}_size") if isinstance(size, int) else size
    negative = ctx.op("Less", [values, i32(ctx, 0, f"{label}_zero")], dtype=DType.BOOL, label=f"{label}_negative")
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
    return gather(ctx, where, onnx_axes, label=label)


def scalar(ctx: NodeContext, vector: Value, k: int = 0, label: str = "scalar") -> Value:
    """``vector[k]`` as a scalar (TF.js reads a scalar for k, an axis, a Range bound)."""
    return gather(ctx, vector, i32(ctx, k, f"{label}_at"), label=label)


def shape_of(ctx: NodeContext, x: Value, label: str = "shape") -> Value:
    return ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, label=label)


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
    return scalar(ctx, shape_of(ctx, x, "data_shape"), ir_axis, label="axis_size")
