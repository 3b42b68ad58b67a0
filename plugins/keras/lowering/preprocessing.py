"""Preprocessing layers that run at inference: Rescaling, Normalization, Resizing and CenterCrop."""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .normalization import norm_axes, param_shape
from .registry import Unsupported, channels_last_only, lowers

#: ``keras.backend.epsilon()``: Keras's floor on the standard deviation.
EPSILON = 1e-7


@lowers("Rescaling")
def rescaling(ctx: LayerContext) -> Value:
    """``x · scale + offset`` (either may be a per-channel list). A single scale of 1 or offset of 0 is left
    out (``x · 1`` is ``x``; ``x + 0`` too but for -0), as Grappler does in the traced graph: EfficientNet's
    ``Rescaling(1/255)`` is then one op."""
    scale = np.asarray(ctx.config.get("scale", 1.0), dtype=np.float32)
    offset = np.asarray(ctx.config.get("offset", 0.0), dtype=np.float32)
    floats = ctx.x.dtype in (None, DType.FLOAT32)
    no_scale, no_offset = (floats and a.size == 1 and a.item() == v for a, v in ((scale, 1), (offset, 0)))
    if no_scale and no_offset:
        return ctx.unary("Identity", ctx.x)
    y = ctx.x if no_scale else ctx.binary("Mul", ctx.x, ctx.floats(scale, "scale"))
    return y if no_offset else ctx.binary("AddV2", y, ctx.floats(offset, "offset"))


def _normalization_check(config: dict[str, Any]) -> str | None:
    return "invert=True" if config.get("invert") else None


@lowers("Normalization", check=_normalization_check)
def normalization(ctx: LayerContext) -> Value:
    """``(x - mean) / max(sqrt(variance), epsilon)``, statistics from the config or the adapted weights."""
    config = ctx.config
    shape = ctx.shape()
    axis = config.get("axis", -1)
    axes = [] if axis is None else norm_axes(ctx, axis, len(shape))
    if any(shape[a] is None for a in axes):
        raise Unsupported(f"layer {ctx.name!r} (Normalization): normalized axes of unknown size")
    dims = param_shape(shape, axes) if axes else [1]
    size = int(np.prod(dims))
    if config.get("mean") is not None and config.get("variance") is not None:
        mean, variance = (np.asarray(config[k], dtype=np.float64) for k in ("mean", "variance"))
    elif len(ctx.weights) in (2, 3):  # adapted: mean, variance (and tf_keras's count)
        mean, variance = (ctx.small(w) for w in ctx.weights[:2])
    else:
        raise ctx.error(f"has neither mean and variance in its config nor 2-3 weights (it has {len(ctx.weights)})")
    stats = []
    for name, value in (("mean", mean), ("variance", variance)):
        if value.size == 1:
            value = np.full(size, float(value.reshape(-1)[0]))
        if value.size != size:
            raise ctx.error(f"has a {name} of {value.size} values for {size} normalized elements")
        stats.append(value.reshape(dims))
    denominator = np.maximum(np.sqrt(stats[1]), EPSILON)
    centered = ctx.binary("Sub", ctx.x, ctx.floats(stats[0], "mean"), label="centered")
    return ctx.binary("RealDiv", centered, ctx.floats(denominator, "std"))


def _resizing_check(config: dict[str, Any]) -> str | None:
    gap = channels_last_only(config)
    if gap:
        return gap
    if config.get("interpolation", "bilinear") not in ("bilinear", "nearest"):
        return f"interpolation={config.get('interpolation')!r}"
    for option in ("pad_to_aspect_ratio", "antialias"):
        if config.get(option):
            return f"{option}=True"
    return None


def _crop(ctx: LayerContext, x: Value, top: int, left: int, height: int, width: int) -> Value:
    shape = ctx.shape(x)
    if (top, left, height, width) == (0, 0, shape[1], shape[2]):
        return x
    return ctx.op("Slice", [x, ctx.ints([0, top, left, 0], "crop_begin"), ctx.ints([-1, height, width, -1], "crop_size")],
                  {"Index": DType.INT32}, shape=(shape[0], height, width, shape[3]), label="crop")


def _image_size(ctx: LayerContext) -> tuple[int, int]:
    shape = ctx.shape()
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs a rank-4 input of static height and width")
    return int(shape[1]), int(shape[2])


def _aspect_crop(ctx: LayerContext, x: Value, target: tuple[int, int]) -> Value:
    """The centred crop to the target's aspect ratio, with Keras's float32 arithmetic and truncation."""
    h, w = _image_size(ctx)
    th, tw = target
    crop_h = max(min(h, int(np.float32(w * th) / np.float32(tw))), 1)
    crop_w = max(min(w, int(np.float32(h * tw) / np.float32(th))), 1)
    return _crop(ctx, x, int(np.float32(h - crop_h) / 2), int(np.float32(w - crop_w) / 2), crop_h, crop_w)


def _resize(ctx: LayerContext, x: Value, target: tuple[int, int], method: str) -> Value:
    """``tf.image.resize`` (v2): half-pixel centres for both methods, no antialiasing."""
    shape = ctx.shape(x)
    if (shape[1], shape[2]) == target:
        return x
    op = "ResizeBilinear" if method == "bilinear" else "ResizeNearestNeighbor"
    return ctx.op(op, [x, ctx.ints(list(target), "size")], {"align_corners": False, "half_pixel_centers": True},
                  shape=(shape[0], *target, shape[3]))


@lowers("Resizing", check=_resizing_check, channels_first=True)
def resizing(ctx: LayerContext) -> Value:
    target = (int(ctx.config["height"]), int(ctx.config["width"]))
    x = ctx.x
    if ctx.config.get("crop_to_aspect_ratio"):
        x = _aspect_crop(ctx, x, target)
    elif len(ctx.shape()) != 4:  # the target is static whatever the input's size
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(ctx.shape())} input")
    return _resize(ctx, x, target, ctx.config.get("interpolation", "bilinear"))


@lowers("CenterCrop", check=channels_last_only, channels_first=True)
def center_crop(ctx: LayerContext) -> Value:
    """The centred ``height × width`` window; a smaller input is aspect-cropped and resized (bilinear) as Keras does."""
    target = (int(ctx.config["height"]), int(ctx.config["width"]))
    h, w = _image_size(ctx)
    if h >= target[0] and w >= target[1]:
        return _crop(ctx, ctx.x, (h - target[0]) // 2, (w - target[1]) // 2, *target)
    return _resize(ctx, _aspect_crop(ctx, ctx.x, target), target, "bilinear")
