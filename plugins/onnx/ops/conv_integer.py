"""ConvInteger: an integer convolution, computed exactly in float32 where the sums stay below 2^24."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value, materialize

from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .filters import Filter
from .nn import NHWC, _spatial, conv2d_nhwc, conv_steps, onnx_pads

#: float32 holds every integer up to 2^24 exactly, so a sum that stays below it is exact in any order.
EXACT = 1 << 24


@onnx_op("ConvInteger", since=10)
def conv_integer(ctx: NodeContext) -> Laid:
    """(x - x_zero_point) conv (w - w_zero_point) as a float32 Conv2D, cast to int32.

    8-bit operands differ from their zero points by at most 255, so every product and partial sum is
    an integer; the model is refused when (C / group) · kh · kw · 255² could reach 2^24.
    """
    if ctx.rank(0) != 4:
        raise ctx.error(f"only 2-D ConvInteger (rank-4 input) is supported, got rank {ctx.rank(0)}")
    w_shape = ctx.shape(1)
    if w_shape is None or None in w_shape:
        raise ctx.error("ConvInteger needs a static weight shape")
    out_ch, per_group, kh, kw = (int(d) for d in w_shape)
    if per_group * kh * kw * 255 * 255 >= EXACT:
        raise ctx.error(f"{per_group}·{kh}·{kw} products of 8-bit values could exceed 2^24, beyond float32's exact "
                        "integers (TF.js convolves in float32 only)")
    group = int(ctx.attr("group", 1))
    strides, dilations = conv_steps(ctx, 2)
    sizes = _spatial(ctx)
    begin, end = onnx_pads(ctx, sizes, [kh, kw], strides, dilations)
    x = _centred(ctx, ctx.input_as(0, NHWC), 2, "x")
    y = conv2d_nhwc(ctx, x, _weight(ctx, out_ch), group, strides, dilations, begin, end, sizes, label="conv")
    return ctx.laid(ctx.cast(y, DType.INT32), NHWC)


def _as_float(ctx: NodeContext, v: Value, label: str) -> Value:
    return ctx.cast(v, DType.FLOAT32, label=label)


def _centred(ctx: NodeContext, x: Value, zp_index: int, name: str) -> Value:
    """``x`` as float32 minus its (scalar) zero point."""
    x = _as_float(ctx, x, f"{name}_float")
    if not ctx.has_input(zp_index):
        return x
    const = ctx.const(zp_index)
    if const is not None:
        if np.asarray(const).size != 1:
            raise ctx.error(f"{name}_zero_point must be a scalar, got shape {list(np.shape(const))}")
        zp = ctx.make_const(np.asarray(const, np.float32).reshape(()), label=f"{name}_zero_point")
    else:
        zp = _as_float(ctx, ctx.input(zp_index), f"{name}_zero_point")
    return ctx.op("Sub", [x, zp], label=f"{name}_centred")


def _weight(ctx: NodeContext, out_ch: int) -> Filter:
    """w - w_zero_point (scalar or one per output channel), in ONNX's OIHW order."""
    w, zp = ctx.const(1), ctx.const(3) if ctx.has_input(3) else np.zeros(())
    if w is not None and zp is not None:
        zp = np.asarray(zp, np.float32)
        if zp.size not in (1, out_ch):
            raise ctx.error(f"w_zero_point has {zp.size} values; it needs 1 or one per output channel ({out_ch})")
        zp = zp.reshape(-1, 1, 1, 1) if zp.size == out_ch and zp.size != 1 else zp.reshape(())
        return Filter(ctx, array=materialize(w).astype(np.float32) - zp)
    value = _as_float(ctx, ctx.input(1), "w_float")
    if ctx.has_input(3):
        zp_value = _as_float(ctx, ctx.input(3), "w_zero_point")
        zp_shape = ctx.shape(3)
        if zp_shape and int(np.prod([d or 0 for d in zp_shape])) == out_ch and out_ch != 1:
            zp_value = ctx.reshape(zp_value, [-1, 1, 1, 1], label="w_zero_point_per_channel")
        value = ctx.op("Sub", [value, zp_value], label="w_centred")
    return Filter(ctx, value=value, shape=ctx.shape(1))
