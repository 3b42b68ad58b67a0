"""Preprocessing layers that run at inference: Rescaling, Normalization, Resizing, CenterCrop and AutoContrast."""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .integer_layer_dtypes import integer_layer_dtype, integer_rescaling
from .integer_resize import RESIZED_INTEGERS, SMALL_INTEGERS, exact_float32, integer_bilinear
from .normalization import norm_axes, param_shape
from .registry import Unsupported, channels_last_only, lowers
from .runtime_crop import runtime_aspect_crop, runtime_aspect_pad, runtime_center_crop, runtime_unresized

#: ``keras.backend.epsilon()``: Keras's floor on the standard deviation.
EPSILON = 1e-7


def _saved_floats(ctx: LayerContext, key: str, default: float) -> np.ndarray:
    """A config number or list as Keras casts it (float32); Keras 3 saves a numpy array given to the layer as
    ``{"class_name": "__numpy__", "config": {"value", "dtype"}}`` (or ``__tensor__``)."""
    value = ctx.config.get(key, default)
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        value = (value.get("config") or {}).get("value")
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ctx.error(f"has a {key} that is not numbers: {str(value)[:60]}")


@lowers("Rescaling")
def rescaling(ctx: LayerContext) -> Value:
    """``x · scale + offset`` (either may be a per-channel list). A single scale of 1 or offset of 0 is left
    out (``x · 1`` is ``x``; ``x + 0`` too but for -0), as Grappler does in the traced graph: EfficientNet's
    ``Rescaling(1/255)`` is then one op."""
    dtype = integer_layer_dtype("Rescaling", ctx.config, ctx.keras3)
    if dtype is not None:  # Keras 3's Rescaling(dtype="int32"): in that dtype, its constants cast from the saved ones
        return integer_rescaling(ctx, dtype, ctx.config.get("scale", 1.0), ctx.config.get("offset", 0.0))
    scale, offset = (_saved_floats(ctx, key, default) for key, default in (("scale", 1.0), ("offset", 0.0)))
    floats = ctx.x.dtype in (None, DType.FLOAT32)
    no_scale, no_offset = (floats and a.size == 1 and a.item() == v for a, v in ((scale, 1), (offset, 0)))
    if no_scale and no_offset:
        return ctx.unary("Identity", ctx.x)
    y = ctx.x if no_scale else ctx.binary("Mul", ctx.x, ctx.floats(scale, "scale"))
    return y if no_offset else ctx.binary("AddV2", y, ctx.floats(offset, "offset"))


@lowers("Normalization")
def normalization(ctx: LayerContext) -> Value:
    """``(x - mean) / max(sqrt(variance), epsilon)``, statistics from the config or the adapted weights; with
    ``invert=True`` its inverse as Keras computes it, ``mean + x · max(sqrt(variance), epsilon)``. ``axis=None``
    (one mean for everything) is saved as None by Keras 3 and as ``[]`` by tf_keras."""
    config = ctx.config
    shape = ctx.shape()
    axis = config.get("axis", -1)
    axes = [] if axis is None or axis == [] else norm_axes(ctx, axis, len(shape))
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
    if config.get("invert"):
        scaled = ctx.binary("Mul", ctx.x, ctx.floats(denominator, "std"), label="scaled")
        return ctx.binary("AddV2", ctx.floats(stats[0], "mean"), scaled)
    centered = ctx.binary("Sub", ctx.x, ctx.floats(stats[0], "mean"), label="centered")
    return ctx.binary("RealDiv", centered, ctx.floats(denominator, "std"))


def _resizing_check(config: dict[str, Any]) -> str | None:
    gap = channels_last_only(config)
    if gap:
        return gap
    if config.get("interpolation", "bilinear") not in ("bilinear", "nearest"):
        return f"interpolation={config.get('interpolation')!r}"
    if config.get("antialias"):
        return "antialias=True"
    if config.get("pad_to_aspect_ratio"):
        if config.get("crop_to_aspect_ratio"):  # Keras refuses both at once
            return "crop_to_aspect_ratio and pad_to_aspect_ratio"
        if config.get("fill_mode", "constant") != "constant":  # Keras refuses any other
            return f"fill_mode={config.get('fill_mode')!r}"
    return None


def _crop(ctx: LayerContext, x: Value, top: int, left: int, height: int, width: int) -> Value:
    shape = ctx.shape(x)
    if (top, left, height, width) == (0, 0, shape[1], shape[2]):
        return x
    return ctx.op("Slice", [x, ctx.ints([0, top, left, 0], "crop_begin"), ctx.ints([-1, height, width, -1], "crop_size")],
                  {"Index": DType.INT32}, shape=(shape[0], height, width, shape[3]), label="crop")


def _rank4(ctx: LayerContext) -> tuple[int | None, int | None]:
    shape = ctx.shape()
    if len(shape) != 4:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    return shape[1], shape[2]


def _target(ctx: LayerContext) -> tuple[int, int]:
    """The config's ``(height, width)``: positive int32 sizes, as the ops that use them need."""
    size = ctx.config["height"], ctx.config["width"]
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s < 2 ** 31 for s in size):
        raise ctx.error(f"has height {size[0]!r} and width {size[1]!r}, expected sizes from 1 to 2^31 - 1")
    return int(size[0]), int(size[1])


def _quotient(a: int, b: int, float64: bool) -> int:
    """Keras's ``int(a / b)``: in float64 where it divides Python ints (Keras 3's CenterCrop on eager shapes),
    else in float32 as ``tf.cast(tf.cast(a, float32) / b, int32)`` does."""
    return int(float(a) / b) if float64 else int(np.float32(a) / np.float32(b))


def _aspect_box(h: int, w: int, target: tuple[int, int], float64: bool) -> tuple[int, int, int, int]:
    """``smart_resize``'s centred box of the target's aspect ratio: ``(top, left, height, width)``."""
    th, tw = target
    crop_h = max(min(h, _quotient(w * th, tw, float64)), 1)
    crop_w = max(min(w, _quotient(h * tw, th, float64)), 1)
    return _quotient(h - crop_h, 2, float64), _quotient(w - crop_w, 2, float64), crop_h, crop_w


def aspect_crop(ctx: LayerContext, x: Value, target: tuple[int, int], float64: bool = False) -> Value:
    """The centred crop to the target's aspect ratio, with Keras's arithmetic and truncation; over an unknown
    height or width the box is computed at run time (:mod:`.runtime_crop`)."""
    h, w = ctx.shape(x)[1:3]
    if h is None or w is None:
        return runtime_aspect_crop(ctx, x, target)
    return _crop(ctx, x, *_aspect_box(h, w, target, float64))


def _aspect_pad(ctx: LayerContext, x: Value, target: tuple[int, int]) -> Value:
    """Resizing's ``pad_to_aspect_ratio`` with its config's ``fill_value``."""
    try:
        fill = float(np.float32(ctx.config.get("fill_value", 0.0)))
    except (TypeError, ValueError):
        raise ctx.error(f"has fill_value {ctx.config.get('fill_value')!r}, expected a number") from None
    return aspect_pad(ctx, x, target, fill)


def aspect_pad(ctx: LayerContext, x: Value, target: tuple[int, int], fill: float) -> Value:
    """Keras 3's ``pad_to_aspect_ratio`` (Resizing and ``ops.image.resize``): ``fill`` rows (or columns) on both
    sides, ``(max(h, w·th/tw) - h) / 2`` each (float32, truncated)."""
    h, w = ctx.shape(x)[1:3]
    if h is None or w is None:
        return runtime_aspect_pad(ctx, x, target, fill)
    th, tw = target
    top = _quotient(max(h, _quotient(w * th, tw, False)) - h, 2, False)
    left = _quotient(max(w, _quotient(h * tw, th, False)) - w, 2, False)
    if top == left == 0:
        return x
    shape = ctx.shape(x)
    return ctx.op("PadV2", [x, ctx.ints([[0, 0], [top, top], [left, left], [0, 0]], "aspect_paddings"),
                            ctx.floats(fill, "fill_value")], {"Tpaddings": DType.INT32},
                  shape=(shape[0], h + 2 * top, w + 2 * left, shape[3]), label="aspect_pad")


def _resize(ctx: LayerContext, x: Value, target: tuple[int, int], method: str) -> Value:
    """``tf.image.resize`` (v2): half-pixel centres for both methods, no antialiasing."""
    shape = ctx.shape(x)
    if (shape[1], shape[2]) == target:
        return x
    op = "ResizeBilinear" if method == "bilinear" else "ResizeNearestNeighbor"
    return ctx.op(op, [x, ctx.ints(list(target), "size")], {"align_corners": False, "half_pixel_centers": True},
                  shape=(shape[0], *target, shape[3]))




def resized_as_keras(ctx: LayerContext, x: Value, target: tuple[int, int], method: str) -> Value:
    """Eager Keras's ``tf.image.resize`` (Resizing, Keras 3's ``ops.image.resize``): an image already of the target
    size is left as it is, over unknown sizes too for bilinear (TF.js's same-size bilinear resize would spread NaN
    beside an Inf; its nearest one copies)."""
    y = _resize(ctx, x, target, method)
    sizes = ctx.shape(x)[1:3]
    if method == "bilinear" and None in sizes and all(s in (None, t) for s, t in zip(sizes, target, strict=True)):
        y = runtime_unresized(ctx, x, target, y)  # Keras leaves an image of the target size as it is
    return y


def _integer_images(ctx: LayerContext) -> DType | None:
    """The integer dtype of the images the layer was given: the walk casts them to float32 for it, or for the
    TimeDistributed around it (``<layer>/to_float``), before the wrapper's fold and the channels_first transpose."""
    parts = ctx.name.split("/")
    owners = tuple("/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1))  # "td/r": "td/", "td/r/"
    value = ctx.x
    while value.producer.op in ("Transpose", "Reshape") and value.producer.name.startswith(owners):
        value = value.producer.inputs[0]
    node = value.producer
    if node.op == "Cast" and any(re.fullmatch(re.escape(owner) + r"to_float(_\d+)?", node.name) for owner in owners):
        return node.attrs.get("SrcT")
    return None


def _keras3_integer_result(ctx: LayerContext, y: Value, dtype: DType) -> Value:
    """Keras 3's Resizing casts its result back to the integer dtype of its images. A nearest resize of 8/16-bit
    integers is those integers (exact in float32), as are images left as they are; a bilinear one is rounded (of
    static sizes, :mod:`.integer_resize` computes it as TensorFlow does; over unknown sizes TF.js's bilinear result,
    a rounding error away from TensorFlow's, can round to the other integer at a tie: refused), as are integers
    float32 does not hold exactly (Keras resizes them as they are)."""
    resized = y is not ctx.x  # else Keras returns the images as they are
    if dtype not in SMALL_INTEGERS or resized and ctx.config.get("interpolation", "bilinear") != "nearest":
        raise Unsupported(f"layer {ctx.name!r} (Resizing) on {dtype.numpy} images (Keras 3 casts its result back "
                          "to their dtype; lowered exactly for a bilinear resize of static sizes and a nearest one "
                          "of 8/16-bit integers; --loader=tensorflow refuses a bilinear one over unknown sizes too: "
                          "give the model's inputs a fixed height and width)")
    return ctx.exact_cast(y, DType.INT32, "to_integer")  # 8/16-bit integers, exact in float32


@lowers("Resizing", check=_resizing_check, channels_first=True)
def resizing(ctx: LayerContext) -> Value:
    target = _target(ctx)
    _rank4(ctx)  # the target is static whatever the input's size
    x = ctx.x
    if x.dtype == DType.INT32:  # Keras 3's int32/int64 images, handed over as they are (bilinear only): rounded to
        x = exact_float32(ctx, x)  # float32 as Keras's cast to it rounds them, then cropped or padded as floats
    if ctx.config.get("crop_to_aspect_ratio"):
        x = aspect_crop(ctx, x, target)
    elif ctx.config.get("pad_to_aspect_ratio"):
        x = _aspect_pad(ctx, x, target)
    method = ctx.config.get("interpolation", "bilinear")
    integer = ctx.integer_dtype() or _integer_images(ctx) if ctx.keras3 else None
    sizes = ctx.shape(x)[1:3]
    wide = ctx.x.dtype == DType.INT32  # Keras casts them to float32 even at the target size (rounded past 2^24)
    if integer in RESIZED_INTEGERS and method == "bilinear" and None not in sizes and (tuple(sizes) != target or wide):
        return integer_bilinear(ctx, x, target, integer)  # rounded as TensorFlow's float32 kernel gives it
    if wide:  # over unknown sizes: refused by name
        _keras3_integer_result(ctx, ctx.x, integer or DType.INT32)
    y = resized_as_keras(ctx, x, target, method)
    # tf_keras returns floats; Keras 3's images are integers given directly (the walk tracks their dtype through the
    # layers that keep it) or inside a TimeDistributed (the wrapper's cast)
    return y if integer is None else _keras3_integer_result(ctx, y, integer)


@lowers("RandomCrop")
def random_crop(ctx: LayerContext) -> Value:
    """At inference Keras 3's RandomCrop returns its images as given (its crop is inside ``if training``);
    tf_keras's resizes them to ``(height, width)`` with ``smart_resize``: the centred crop of that aspect ratio
    (float32 arithmetic), then a bilinear resize, as CenterCrop's resize branch (the traced path cannot freeze it)."""
    if ctx.keras3:
        return ctx.unary("Identity", ctx.x)
    target = _target(ctx)
    _rank4(ctx)
    if ctx.x.dtype != DType.FLOAT32 or any(d is not None for d in ctx.keras_dtypes):
        raise Unsupported(f"layer {ctx.name!r} (RandomCrop) of tf_keras on integer images")
    return _resize(ctx, aspect_crop(ctx, ctx.x, target), target, "bilinear")


@lowers("CenterCrop", check=channels_last_only, channels_first=True)
def center_crop(ctx: LayerContext) -> Value:
    """The centred ``height × width`` window; an input smaller on either side is aspect-cropped and resized
    (bilinear) as Keras does. Over an unknown height or width, both are built and the run-time sizes choose
    (:func:`.runtime_crop.runtime_center_crop`)."""
    target = _target(ctx)
    h, w = _rank4(ctx)
    keras3 = ctx.keras3  # Keras 3 divides the eager shape's Python ints; tf_keras divides tf.shape in float32
    if h is not None and w is not None and h >= target[0] and w >= target[1]:
        return _crop(ctx, ctx.x, (h - target[0]) // 2, (w - target[1]) // 2, *target)
    resized = _resize(ctx, aspect_crop(ctx, ctx.x, target, float64=keras3), target, "bilinear")
    if (h is not None and h < target[0]) or (w is not None and w < target[1]):
        return resized  # smaller on a known side: always resized
    return runtime_center_crop(ctx, ctx.x, target, resized)


def _value_range(ctx: LayerContext) -> tuple[float, float]:
    bounds = ctx.config.get("value_range", (0, 255))
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): value_range={bounds!r}")
    low, high = sorted(float(b) for b in bounds)
    return low, high


def _rescaled(ctx: LayerContext, x: Value, source: tuple[float, float], target: tuple[float, float],
              label: str) -> Value:
    """Keras 3's ``_transform_value_range``: ``(x - a) / (b - a) · (d - c) + c`` in float32, nothing when equal."""
    if source == target:
        return x
    x = ctx.binary("Sub", x, ctx.floats(source[0], f"{label}_from_low"), label=f"{label}_shifted")
    x = ctx.binary("RealDiv", x, ctx.floats(source[1] - source[0], f"{label}_from_span"), label=f"{label}_unit")
    x = ctx.binary("Mul", x, ctx.floats(target[1] - target[0], f"{label}_to_span"), label=f"{label}_scaled")
    return ctx.binary("AddV2", x, ctx.floats(target[0], f"{label}_to_low"), label=label)


@lowers("AutoContrast")
def auto_contrast(ctx: LayerContext) -> Value:
    """Keras 3's AutoContrast (deterministic, so it runs at inference): each image's channels stretched from their
    own [min, max] over axes 1 and 2 to the value range, clipped; where that gives NaN (a flat channel: 0 · inf, or
    NaN input) the input is kept. Computed as Keras computes it, in the range [0, 255] (axes 1 and 2 whatever the
    data format, as Keras takes them)."""
    shape = ctx.shape()
    if len(shape) != 4:
        raise Unsupported(f"layer {ctx.name!r} (AutoContrast) on a rank-{len(shape)} input")
    value_range = _value_range(ctx)
    original = ctx.x
    x = _rescaled(ctx, original, value_range, (0.0, 255.0), "to_255")
    axes = ctx.ints([1, 2], "axes")
    reduced = (shape[0], 1, 1, shape[3])
    attrs = {"keep_dims": True, "Tidx": DType.INT32}
    low = ctx.op("Min", [x, axes], attrs, shape=reduced, label="low")
    high = ctx.op("Max", [x, axes], attrs, shape=reduced, label="high")
    scale = ctx.binary("RealDiv", ctx.floats(255.0, "full"), ctx.binary("Sub", high, low, label="span"), label="scale")
    offset = ctx.binary("Mul", ctx.unary("Neg", low, label="neg_low"), scale, label="offset")
    y = ctx.binary("AddV2", ctx.binary("Mul", x, scale, label="stretched"), offset, label="shifted")
    # NaN before the clip is NaN after it in TF (and the rescaling keeps finite values finite); testing it here keeps
    # the result off TF.js wasm's Maximum/Minimum of NaN
    nan = ctx.op("IsNan", [y], dtype=DType.BOOL, shape=y.shape, label="flat")
    y = ctx.binary("Maximum", ctx.binary("Minimum", y, ctx.floats(255.0, "clip_high"), label="clip_upper"),
                   ctx.floats(0.0, "clip_low"), label="clipped")
    y = _rescaled(ctx, y, (0.0, 255.0), value_range, "from_255")
    return ctx.op("SelectV2", [nan, original, y], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=y.shape,
                  label="AutoContrast")
