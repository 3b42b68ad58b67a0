"""ONNX ``OneHot`` as ``Equal`` against the class numbers and a ``SelectV2`` of [off, on].

Not TF.js's ``OneHot``: its wasm kernel is wrong for float (and bool) values and every backend
ignores ``axis`` (docs/backends.md). Indices, depth and values may all be run-time tensors. A
negative index counts from ``depth`` (ONNX); one outside [-depth, depth-1] matches no class, so its
row is all ``off``. Float indices and depth are truncated to integers, as onnxruntime casts them.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op
from .common import SLICE_ATTRS, norm_axis

I32 = DType.INT32


def _depth(ctx: NodeContext) -> tuple[Value, int | None]:
    """The depth as an int32 scalar value, and its value when known now."""
    known = ctx.const(1)
    if known is not None:
        if known.size != 1:
            raise ctx.error(f"depth must hold one value, got shape {list(known.shape)}")
        depth = int(np.asarray(known).reshape(()).astype(np.int64))
        if depth < 1:
            raise ctx.error(f"depth must be positive, got {depth}")
        return ctx.int32(depth, label="depth"), depth
    depth = ctx.reshape(ctx.input(1), [], label="depth_scalar")
    return ctx.cast(depth, I32, label="depth"), None


def _bfloat16(array: np.ndarray | None) -> bool:
    """A constant bfloat16 array (onnx's ml_dtypes type): its values convert to float32 exactly."""
    return array is not None and "bfloat16" in str(np.asarray(array).dtype)


def _value(ctx: NodeContext, index: int, label: str) -> Value:
    """``values[index]`` (off is 0, on is 1) as a scalar."""
    known = ctx.const(2)
    if known is not None:
        known = np.asarray(known, np.float32) if _bfloat16(known) else np.asarray(known)
        return ctx.make_const(known.reshape(-1)[index], label=label)
    flat = ctx.reshape(ctx.input(2), [-1], label=f"{label}_flat")
    return ctx.op("StridedSlice", [flat, ctx.ints([index], label=f"{label}_begin"),
                                   ctx.ints([index + 1], label=f"{label}_end"), ctx.ints([1], label=f"{label}_stride")],
                  {**SLICE_ATTRS, "shrink_axis_mask": 1}, label=label)


@onnx_op("OneHot", since=9)
def one_hot(ctx: NodeContext) -> Value:
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", -1)), rank + 1)
    if ctx.dtype(2) not in (DType.FLOAT32, I32) and not _bfloat16(ctx.const(2)):
        raise ctx.error(f"values of type {ctx.tensor(2).dtype} are not supported (float or integer values are)")
    depth, depth_now = _depth(ctx)
    indices = ctx.cast(ctx.input(0), I32, label="indices_int")
    zero = ctx.int32(0, label="zero")
    negative = ctx.op("Less", [indices, zero], dtype=DType.BOOL, label="negative")
    indices = ctx.op("SelectV2", [negative, ctx.op("AddV2", [indices, depth], label="from_end"), indices],
                     {"T": I32}, dtype=I32, label="indices_wrapped")
    if depth_now is not None:
        classes = ctx.make_const(np.arange(depth_now, dtype=np.int32), label="classes")
    else:
        classes = ctx.op("Range", [zero, depth, ctx.int32(1, label="one")], {"Tidx": I32},
                         dtype=I32, label="classes")
    trailing = rank - axis  # the class axis broadcasts against the index dims after it
    if trailing:
        classes = ctx.reshape(classes, [-1] + [1] * trailing, label="classes_column")
    expanded = ctx.expand_dims(indices, axis, label="indices_expanded")
    hit = ctx.op("Equal", [expanded, classes], {"T": I32}, dtype=DType.BOOL, label="is_class")
    on, off = _value(ctx, 1, "on"), _value(ctx, 0, "off")
    return ctx.op("SelectV2", [hit, on, off], {"T": on.dtype}, dtype=on.dtype)
