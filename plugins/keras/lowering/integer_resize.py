"""Keras 3's bilinear resize of 8/16-bit integer images, exactly: TensorFlow's kernel in float32, rounded back.

Keras 3 (Resizing, bilinear UpSampling2D) resizes integer images with ``tf.image.resize`` (float32 results), then
rounds half to even and casts back, saturating. TF.js's ResizeBilinear computes its weights and sums differently
(float64 on cpu), a rounding error away: at a tie (x.5, common with integers) the rounded result can differ. So the
kernel of TensorFlow's CPU ``ResizeBilinear`` (half-pixel centres) is rebuilt from ops that round as TensorFlow's
float32 does: each output position's two source rows / columns and its weight computed here in float32 as
``compute_interpolation_weights`` does, the pixels gathered, and ``top = tl + (tr - tl)·x``, ``bottom = bl + (br -
bl)·x``, ``top + (bottom - top)·y`` evaluated in that order (TF.js's float32 Sub / Mul / Add round each result to
float32 on cpu and wasm alike). Sizes must be static (the weights are constants).

int32/int64 images (handed over as int32 by the walk) are first rounded to float32 as TensorFlow's Cast rounds them
(half to even past 2^24), from two exact halves (TF.js's cpu Cast alone keeps them unrounded); Keras 3's saturating
cast back clips to ``[-2^31, 2^31]`` in float32 (numpy 2 finds float32(2^31 - 1) = 2^31 no larger than 2^31 - 1, so
the bound is not nudged), and TensorFlow's CPU cast of 2^31 to int32 is INT32_MIN on x86 (aarch64 saturates: only ids
from 2^31 - 64 reach it); for int64 Keras keeps 2^31, which wraps to INT32_MIN in TF.js's int32 as an int64 sum past
int32's range does.
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
#: Integer image dtypes the walk hands over as int32 tensors (float32 holds them exactly only up to 2^24).
WIDE_INTEGERS = (DType.INT32, DType.INT64)
#: Every integer image dtype whose bilinear resize of static sizes lowers exactly.
RESIZED_INTEGERS = (*SMALL_INTEGERS, *WIDE_INTEGERS)
#: The float32 from which TensorFlow's CPU cast to int32 gives INT32_MIN (and below which every integral float32 is
#: an int32: the largest is 2^31 - 128).
_INT32_LIMIT = float(2**31)
#: The low part :func:`exact_float32` splits off: the rest, a multiple of it, is exact in float32 (|x| <= 2^31).
_LOW_PART = 256


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


def exact_float32(ctx: LayerContext, x: Value, label: str = "exact") -> Value:
    """int32 ``x`` rounded to float32 as TensorFlow's Cast rounds it (half to even past 2^24). TF.js's cpu Cast of
    int32 to float32 keeps the integers unrounded (the next op would see 16777217), so ``x`` is split into ``low =
    x mod 256`` and ``x - low`` (a multiple of 256 of magnitude at most 2^31, exact in float32, as ``low`` is): the
    Casts are exact on every backend and the one float32 AddV2 of the two halves rounds their exact sum once, on cpu
    (a float64 sum stored into a Float32Array) and wasm (a float32 add) alike."""
    low = ctx.binary("FloorMod", x, ctx.ints(_LOW_PART, f"{label}_low_modulus"), label=f"{label}_low")
    high = ctx.binary("Sub", x, low, label=f"{label}_high")  # no overflow: between -2^31 and x

    def as_float(value: Value, name: str) -> Value:
        return ctx.exact_cast(value, DType.FLOAT32, f"{label}_{name}_as_float")

    return ctx.binary("AddV2", as_float(high, "high"), as_float(low, "low"), label=f"{label}_as_float")


def _wide_integer_result(ctx: LayerContext, rounded: Value, label: str) -> Value:
    """Keras 3's saturating cast of the rounded float32 result back to int32/int64, as int32. The result lies
    between the images' extremes, in ``[-2^31, 2^31]``: Keras's clip bounds (-2^31, 2^31) leave it as it is, and its
    cast gives INT32_MIN for 2^31 (TensorFlow's CPU cast to int32; int64's 2^31 wraps to it in TF.js's int32). The
    Cast gets the result clipped below 2^31 (TF.js's cast of 2^31 is not TensorFlow's) and a SelectV2 puts
    INT32_MIN where it reached 2^31."""
    below = ctx.scalar_op("Minimum", rounded, _INT32_LIMIT - 128, f"{label}_below_2_31")
    cast = ctx.exact_cast(below, DType.INT32, f"{label}_to_integer")
    in_range = ctx.op("Less", [rounded, ctx.floats(_INT32_LIMIT, f"{label}_int32_limit")], dtype=DType.BOOL,
                      shape=rounded.shape, label=f"{label}_in_int32_range")
    return ctx.op("SelectV2", [in_range, cast, ctx.ints(-2**31, f"{label}_int32_min")], {"T": DType.INT32},
                  dtype=DType.INT32, shape=rounded.shape, label=f"{label}_saturated")


def integer_bilinear(ctx: LayerContext, x: Value, target: tuple[int, int], dtype: DType, label: str = "exact") -> Value:
    """``round(resize_bilinear(x))`` saturated into ``dtype`` (an integer type of :data:`RESIZED_INTEGERS`), as
    int32; ``x`` is the [batch, height, width, channels] integer images, of static height and width: a float32 Value
    (8/16-bit integers, exact) or an int32 one (int32/int64 ones, rounded to float32 here as Keras's cast does)."""
    if x.dtype == DType.INT32:
        x = exact_float32(ctx, x, label)
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
    rounded = ctx.unary("Round", resized, label=f"{label}_rounded")  # half to even, as tf.round
    if dtype in WIDE_INTEGERS:
        return _wide_integer_result(ctx, rounded, label)
    info = np.iinfo(dtype.numpy)
    low = ctx.scalar_op("Maximum", rounded, float(info.min), f"{label}_saturate_low")
    high = ctx.scalar_op("Minimum", low, float(info.max), f"{label}_saturate_high")
    return ctx.exact_cast(high, DType.INT32, f"{label}_to_integer")
