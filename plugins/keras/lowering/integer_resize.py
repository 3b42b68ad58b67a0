"""Keras 3's bilinear resize of 8/16-bit integer images, exactly: TensorFlow's kernel in float32, rounded back.

Keras 3 (Resizing, bilinear UpSampling2D) resizes integer images with ``tf.image.resize`` (float32 results), then
rounds half to even and casts back, saturating. TF.js's ResizeBilinear computes its weights and sums differently
(float64 on cpu), a rounding error away: at a tie (x.5, common with integers) the rounded result can differ. So the
kernel of TensorFlow's CPU ``ResizeBilinear`` (half-pixel centres) is rebuilt from ops that round as TensorFlow's
float32 does: each output position's two source rows / columns and its weight computed here in float32 as
``compute_interpolation_weights`` does, the pixels gathered, and ``top = tl + (tr - tl)·x``, ``bottom = bl + (br -
bl)·x``, ``top + (bottom - top)·y`` evaluated in that order (TF.js's float32 Sub / Mul / Add round each result to
float32 on cpu and wasm alike). Sizes must be static (the weights are constants).
"""
from __future__ import annotations

import math

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext

#: Integer image dtypes whose every value float32 holds exactly (the walk hands a float layer its integer input
#: cast to float32).
SMALL_INTEGERS = (DType.UINT8, DType.INT8, DType.UINT16, DType.INT16)


def tf_bilinear_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TensorFlow's (lower index, upper index, float32 lerp) per output position, half-pixel centres: ``in =
    (i + 0.5) · (in_size / out_size) - 0.5`` in float32, ``lower = max(floor(in), 0)``, ``upper = min(ceil(in),
    in_size - 1)``, ``lerp = in - floor(in)``."""
    f32 = np.float32
    scale = f32(in_size) / f32(out_size)
    lower, upper, lerp = [], [], []
    for i in range(out_size):
        position = (f32(i) + f32(0.5)) * scale - f32(0.5)
        floor = f32(math.floor(position))
        lower.append(max(int(floor), 0))
        upper.append(min(int(math.ceil(position)), in_size - 1))
        lerp.append(f32(position - floor))
    return np.asarray(lower, np.int32), np.asarray(upper, np.int32), np.asarray(lerp, np.float32)


def integer_bilinear(ctx: LayerContext, x: Value, target: tuple[int, int], dtype: DType, label: str = "exact") -> Value:
    """``round(resize_bilinear(x))`` saturated into ``dtype`` (an 8/16-bit integer type), as int32; ``x`` is the
    float32 Value of the [batch, height, width, channels] integer images, of static height and width."""
    shape = ctx.shape(x)
    height, width = shape[1], shape[2]
    if height is None or width is None:
        raise ValueError("integer_bilinear needs static sizes")
    (out_h, out_w), channels = target, shape[3]

    def gather(value: Value, indices: np.ndarray, axis: int, name: str) -> Value:
        out = list(ctx.shape(value))
        out[axis] = len(indices)
        return ctx.op("GatherV2", [value, ctx.ints(indices, f"{label}_{name}_indices"),
                                   ctx.ints(axis, f"{label}_{name}_axis")],
                      {"Tparams": DType.FLOAT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                      dtype=DType.FLOAT32, shape=tuple(out), label=f"{label}_{name}")

    def lerp(a: Value, b: Value, weight: Value, name: str) -> Value:
        step = ctx.binary("Mul", ctx.binary("Sub", b, a, label=f"{label}_{name}_delta"), weight,
                          label=f"{label}_{name}_scaled")
        return ctx.binary("AddV2", a, step, label=f"{label}_{name}")

    y_lower, y_upper, y_lerp = tf_bilinear_weights(height, out_h)
    x_lower, x_upper, x_lerp = tf_bilinear_weights(width, out_w)
    top_rows, bottom_rows = gather(x, y_lower, 1, "top_rows"), gather(x, y_upper, 1, "bottom_rows")
    x_weight = ctx.floats(x_lerp.reshape(1, 1, out_w, 1), f"{label}_x_lerp")
    y_weight = ctx.floats(y_lerp.reshape(1, out_h, 1, 1), f"{label}_y_lerp")
    top = lerp(gather(top_rows, x_lower, 2, "top_left"), gather(top_rows, x_upper, 2, "top_right"), x_weight, "top")
    bottom = lerp(gather(bottom_rows, x_lower, 2, "bottom_left"), gather(bottom_rows, x_upper, 2, "bottom_right"),
                  x_weight, "bottom")
    resized = lerp(top, bottom, y_weight, "resized")
    resized.shape = (shape[0], out_h, out_w, channels)
    info = np.iinfo(dtype.numpy)
    rounded = ctx.unary("Round", resized, label=f"{label}_rounded")  # half to even, as tf.round
    low = ctx.scalar_op("Maximum", rounded, float(info.min), f"{label}_saturate_low")
    high = ctx.scalar_op("Minimum", low, float(info.max), f"{label}_saturate_high")
    return ctx.op("Cast", [high], {"SrcT": DType.FLOAT32, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32,
                  shape=high.shape, label=f"{label}_to_integer")
