"""CausalConvWithState (opset 27): a causal depthwise 1-D convolution that carries its last k-1 inputs.

[B, C, L] runs as [B, L, C] (channels last, like 1-D Conv): the past state (or k-1 zeros) is
concatenated in front along L, a VALID DepthwiseConv2dNative over a height of 1 convolves it, and
the present state is the last k-1 positions of that padded input. The weight may be computed at
run time (node tests feed it): it is laid out as a [1, k, C, 1] filter in the graph then.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import SLICE_ATTRS

NLC = (0, 2, 1)
F32 = DType.FLOAT32


def _filter(ctx: NodeContext, channels: int, k: int) -> Value:
    """The (C, 1, k) weight as a DepthwiseConv2dNative [1, k, C, 1] filter."""
    weight = ctx.const(1)
    if weight is not None:
        array = np.asarray(weight, np.float32).reshape(channels, k).T.reshape(1, k, channels, 1)
        return ctx.make_const(array, label="filter")
    w = ctx.reshape(ctx.input(1), [channels, k], label="weight_2d")
    w = ctx.op("Transpose", [w, ctx.ints([1, 0], label="weight_kc/perm")], {"Tperm": DType.INT32}, label="weight_kc")
    return ctx.reshape(w, [1, k, channels, 1], label="filter")


@onnx_op("CausalConvWithState", since=27)
def causal_conv_with_state(ctx: NodeContext) -> list[Laid]:
    shape, wshape = ctx.shape(0), ctx.shape(1)
    if shape is None or len(shape) != 3 or wshape is None or len(wshape) != 3 or None in wshape[::2]:
        raise ctx.error("needs a rank-3 input and a (channels, 1, k) weight of static size")
    channels, k = int(wshape[0]), int(wshape[2])
    if shape[1] not in (None, channels) or wshape[1] != 1:
        raise ctx.error(f"the weight {list(wshape)} is not depthwise for {shape[1]} channels")
    activation = str(ctx.attr("activation", "none")).lower()
    if activation not in ("none", "silu", "swish"):
        raise ctx.error(f"activation {activation!r} is not none, silu or swish")
    x = ctx.input_as(0, NLC)
    if ctx.has_input(3):
        padded = ctx.op("ConcatV2", [ctx.input_as(3, NLC), x, ctx.int32(1, label="time_axis")],
                        {"N": 2, "Tidx": DType.INT32}, label="padded")
    else:
        padded = ctx.pad(x, [[0, 0], [k - 1, 0], [0, 0]], label="padded")
    image = ctx.expand_dims(padded, 1, label="as_2d")
    attrs = {"strides": [1, 1, 1, 1], "dilations": [1, 1, 1, 1], "data_format": "NHWC", "padding": "VALID"}
    y = ctx.op("DepthwiseConv2dNative", [image, _filter(ctx, channels, k)], attrs, label="conv")
    y = ctx.op("Squeeze", [y], {"squeeze_dims": [1]}, label="as_1d")
    if ctx.has_input(2):
        y = ctx.op("BiasAdd", [y, ctx.input(2)], {"data_format": "NHWC"}, label="bias")
    if activation != "none":
        y = ctx.op("Mul", [y, ctx.op("Sigmoid", [y], label="gate")], label="silu")
    return [ctx.laid(y, NLC), ctx.laid(_last_positions(ctx, padded, shape[2], k), NLC)]


def _last_positions(ctx: NodeContext, padded: Value, length: int | None, k: int) -> Value:
    """padded[:, L:, :] (its last k-1 positions along the time axis)."""
    if length is None and k == 1:
        raise ctx.error("kernel size 1 with a dynamic length: the empty present_state needs a static length")
    begin = length if length is not None else -(k - 1)
    return ctx.op("StridedSlice", [padded, ctx.ints([0, begin, 0], label="state/begin"),
                                   ctx.ints([0, 0, 0], label="state/end"), ctx.ints([1, 1, 1], label="state/strides")],
                  {**SLICE_ATTRS, "begin_mask": 0b101, "end_mask": 0b111}, label="present_state")
