"""CenterCrop and Resizing's aspect-ratio crop and pad over a height or width known only at run time.

Keras computes the box from ``tf.shape(x)`` (tf_keras, and Keras 3's Resizing: ``int32(float32(w·th) / tw)``) or
from the eager shape (Keras 3's CenterCrop: ``int(float(w·th) / tw)``, float64). While ``w·th`` and ``h·tw`` stay
below 2^24 both are the floor division ``w·th // tw`` (a float32 quotient of such integers never rounds across an
integer), so the box is built with int32 ``FloorDiv``, exact on every backend at such sizes, where webgl's float32
``RealDiv`` need not be correctly rounded. Beyond 2^24 Keras's float32 box may differ by a pixel.

CenterCrop's choice between the centred crop and ``smart_resize`` depends on the run-time sizes. Both results are
built and one is selected (``SelectV2`` on a scalar): the crop branch slices at most the input's size and pads
that window up to the target (so it is valid when it is not the one selected, and copies no more than the
target), the resize branch slices the aspect box and resizes it. The crop branch is therefore the plain slice
Keras takes, bit for bit (±Inf, NaN and -0 included), which a resize to the same size would not be (TF.js's
bilinear ``top + (bottom - top) · 0`` is NaN beside an Inf, and +0 for -0). Resizing's bilinear resize over an
unknown size selects the image itself the same way where it already has the target size, as eager Keras leaves it.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext

I32 = DType.INT32


def _gather_ints(ctx: LayerContext, values: Value, index: list, label: str) -> Value:
    """``tf.gather(values, index)`` of an int32 vector; the result has ``index``'s shape."""
    return ctx.op("GatherV2", [values, ctx.ints(index, f"{label}_index"), ctx.ints(0, f"{label}_axis")],
                  {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32,
                  shape=np.shape(index), label=label)


def _concat_ints(ctx: LayerContext, parts: list[Value | list[int]], size: int, label: str) -> Value:
    values = [p if isinstance(p, Value) else ctx.ints(p, f"{label}_part{i}") for i, p in enumerate(parts)]
    return ctx.op("ConcatV2", [*values, ctx.ints(0, f"{label}_axis")], {"N": len(values), "Tidx": I32},
                  dtype=I32, shape=(size,), label=label)


def _sizes_at(ctx: LayerContext, x: Value, axes: list[int], label: str) -> Value:
    """``tf.gather(tf.shape(x), axes)``: the run-time sizes of some axes of ``x``, int32, in the order given."""
    shape = ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(len(ctx.shape(x)),), label=f"{label}_shape")
    return _gather_ints(ctx, shape, axes, label)


def _image_sizes(ctx: LayerContext, x: Value, label: str) -> tuple[Value, Value]:
    """``[h, w]`` and ``[w, h]`` of a rank-4 channels_last ``x``, read at run time."""
    return _sizes_at(ctx, x, [1, 2], f"{label}_hw"), _sizes_at(ctx, x, [2, 1], f"{label}_wh")


def _fitted(ctx: LayerContext, x: Value, target: tuple[int, int], label: str) -> tuple[Value, Value]:
    """``[h, w]`` and the sizes of the target's aspect ratio that fit the other side: ``[w·th // tw, h·tw // th]``."""
    sizes, swapped = _image_sizes(ctx, x, label)
    th, tw = target
    scaled = ctx.binary("Mul", swapped, ctx.ints([th, tw], f"{label}_target"), label=f"{label}_scaled")
    return sizes, ctx.binary("FloorDiv", scaled, ctx.ints([tw, th], f"{label}_target_swapped"),
                             label=f"{label}_fitted")


def _slice(ctx: LayerContext, x: Value, begin: Value | list[int], size: Value | list[int], shape: tuple,
           label: str) -> Value:
    """``x[:, top:top+height, left:left+width, :]`` with ``begin = [top, left]`` and ``size = [height, width]``."""
    begin4 = _concat_ints(ctx, [[0], begin, [0]], 4, f"{label}_begin")
    size4 = ctx.ints([-1, *size, -1], f"{label}_size") if isinstance(size, list) else \
        _concat_ints(ctx, [[-1], size, [-1]], 4, f"{label}_size")
    return ctx.op("Slice", [x, begin4, size4], {"Index": I32}, shape=shape, label=label)


def _halves(ctx: LayerContext, sizes: Value, label: str) -> Value:
    """Non-negative int32 sizes halved and floored (Keras's ``int(d / 2)`` and ``d // 2`` on ``d ≥ 0``)."""
    return ctx.binary("FloorDiv", sizes, ctx.ints([2, 2], f"{label}_two"), label=label)


def runtime_aspect_crop(ctx: LayerContext, x: Value, target: tuple[int, int], label: str = "aspect") -> Value:
    """The largest centred box of the target's aspect ratio (``smart_resize``'s crop), sized at run time."""
    sizes, fitted = _fitted(ctx, x, target, label)
    box = ctx.binary("Minimum", sizes, fitted, label=f"{label}_box_capped")
    box = ctx.binary("Maximum", box, ctx.ints([1, 1], f"{label}_one"), label=f"{label}_box")
    start = _halves(ctx, ctx.binary("Sub", sizes, box, label=f"{label}_margin"), f"{label}_start")
    shape = ctx.shape(x)
    return _slice(ctx, x, start, box, (shape[0], None, None, shape[3]), label)


def runtime_aspect_pad(ctx: LayerContext, x: Value, target: tuple[int, int], fill: float,
                       label: str = "aspect_pad") -> Value:
    """Keras 3's ``pad_to_aspect_ratio``: ``start = (max(h, w·th // tw) - h) // 2`` rows of ``fill`` above *and*
    below (so an odd margin pads one row less than the aspect box), the same across the width."""
    sizes, fitted = _fitted(ctx, x, target, label)
    padded = ctx.binary("Maximum", sizes, fitted, label=f"{label}_padded")
    start = _halves(ctx, ctx.binary("Sub", padded, sizes, label=f"{label}_margin"), f"{label}_start")
    paddings = _gather_ints(ctx, _concat_ints(ctx, [[0], start], 3, f"{label}_starts"),
                            [[0, 0], [1, 1], [2, 2], [0, 0]], f"{label}_paddings")
    shape = ctx.shape(x)
    return ctx.op("PadV2", [x, paddings, ctx.floats(fill, f"{label}_fill")], {"Tpaddings": I32},
                  shape=(shape[0], None, None, shape[3]), label=label)


def runtime_center_crop(ctx: LayerContext, x: Value, target: tuple[int, int], resized: Value) -> Value:
    """The centred ``target`` window where the input is at least that large on both sides, else ``resized``
    (Keras's ``smart_resize`` of the input, built by the caller)."""
    shape = ctx.shape(x)
    sizes = _sizes_at(ctx, x, [1, 2], "center_hw")
    surplus = ctx.binary("Sub", sizes, ctx.ints(list(target), "center_target"), label="center_surplus")
    zero = ctx.ints([0, 0], "center_zero")
    start = _halves(ctx, ctx.binary("Maximum", surplus, zero, label="center_margin"), "center_start")
    # the crop branch must be valid even when it is not selected: it slices at most the input's size and pads
    # that window up to the target (nothing to pad where it is selected, so it is Keras's slice as it is)
    window = _slice(ctx, x, start, ctx.binary("Minimum", sizes, ctx.ints(list(target), "center_target_sizes"),
                                              label="center_window_sizes"), (shape[0], None, None, shape[3]),
                    "center_window")
    deficit = ctx.binary("Maximum", ctx.unary("Neg", surplus, label="center_shortfall"), zero, label="center_deficit")
    paddings = _gather_ints(ctx, _concat_ints(ctx, [[0], deficit], 3, "center_deficits"),
                            [[0, 0], [0, 1], [0, 2], [0, 0]], "center_paddings")
    out = (shape[0], *target, shape[3])
    cropped = ctx.op("Pad", [window, paddings], {"Tpaddings": I32}, shape=out, label="center")
    smallest = ctx.op("Min", [surplus, ctx.ints(0, "center_min_axis")], {"keep_dims": False, "Tidx": I32},
                      dtype=I32, shape=(), label="center_smallest_surplus")
    fits = ctx.op("GreaterEqual", [smallest, ctx.ints(0, "center_no_surplus")], dtype=DType.BOOL, shape=(),
                  label="center_fits")
    return ctx.op("SelectV2", [fits, cropped, resized], {"T": cropped.dtype}, dtype=cropped.dtype, shape=out,
                  label="center_or_resized")


def runtime_unresized(ctx: LayerContext, x: Value, target: tuple[int, int], resized: Value) -> Value:
    """``x`` itself where its run-time size is the target, else ``resized`` (its bilinear resize): eager Keras's
    ``tf.image.resize`` returns an image of the target size as it is, while TF.js's bilinear resize to the same size
    computes ``top + (bottom - top) · 0``, NaN beside an Inf (and +0 for -0). ``x`` is sliced to at most the
    target and padded up to it, so that it has the target's shape at every size (it is only selected at that one)."""
    shape = ctx.shape(x)
    sizes = _sizes_at(ctx, x, [1, 2], "same_hw")
    goal = ctx.ints(list(target), "same_target")
    window = _slice(ctx, x, [0, 0], ctx.binary("Minimum", sizes, goal, label="same_window_sizes"),
                    (shape[0], None, None, shape[3]), "same_window")
    deficit = ctx.binary("Maximum", ctx.binary("Sub", goal, sizes, label="same_shortfall"),
                         ctx.ints([0, 0], "same_zero"), label="same_deficit")
    paddings = _gather_ints(ctx, _concat_ints(ctx, [[0], deficit], 3, "same_deficits"),
                            [[0, 0], [0, 1], [0, 2], [0, 0]], "same_paddings")
    out = (shape[0], *target, shape[3])
    unresized = ctx.op("Pad", [window, paddings], {"Tpaddings": I32}, shape=out, label="same")
    equal = ctx.op("Equal", [sizes, goal], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=(2,),
                   label="same_equal")
    same = ctx.op("All", [equal, ctx.ints(0, "same_all_axis")], {"keep_dims": False, "Tidx": I32},
                  dtype=DType.BOOL, shape=(), label="same_size")
    return ctx.op("SelectV2", [same, unresized, resized], {"T": resized.dtype}, dtype=resized.dtype, shape=out,
                  label="same_or_resized")
