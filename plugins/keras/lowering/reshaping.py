"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, ZeroPadding/Cropping/UpSampling 1-3D.

Over sizes the config does not record (``Input((None, None, 3))``), Flatten, Reshape, Cropping1D/2D/3D and
UpSampling1D/2D/3D read the sizes they need at run time (``dynamic_shape``) or slice with ends counted from the
end, as Keras does.
"""
from __future__ import annotations

import math
from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .integer_resize import RESIZED_INTEGERS, integer_bilinear
from .dynamic_shape import reshape_to, runtime_sizes
from .registry import Unsupported, channels_last_only, lowers


@lowers("Flatten", check=channels_last_only, channels_first=True)
def flatten(ctx: LayerContext) -> Value:
    """``[batch, -1]``; over unknown sizes the batch is read at run time, as Keras reshapes to
    ``(shape(x)[0], -1)`` then."""
    inner = ctx.shape()[1:]
    if None in inner:
        return reshape_to(ctx, ctx.x, [runtime_sizes(ctx, ctx.x, 0, 1, "batch"), [-1]], (ctx.shape()[0], None),
                          "Reshape", zeros_count=ctx.keras3)  # tf_keras: tf.reshape's -1, Keras 3: the eager size
    return ctx.reshape(ctx.x, [None, math.prod(inner)])


@lowers("Reshape")
def reshape(ctx: LayerContext) -> Value:
    target = [int(d) for d in ctx.config["target_shape"]]
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise ctx.error(f"has target_shape {target}")
    if -1 in target and None in ctx.shape()[1:]:  # Keras reshapes to ``(shape(x)[0], *target_shape)`` too
        return reshape_to(ctx, ctx.x, [runtime_sizes(ctx, ctx.x, 0, 1, "batch"), target],
                          (ctx.shape()[0], *(None if d == -1 else d for d in target)), "Reshape",
                          zeros_count=ctx.keras3)
    if -1 in target:
        total = math.prod(ctx.shape()[1:])
        known = math.prod(d for d in target if d != -1)
        if known == 0 or total % known:
            raise ctx.error(f"cannot reshape {list(ctx.shape()[1:])} to {target}")
        target[target.index(-1)] = total // known
    elif None not in ctx.shape()[1:] and math.prod(ctx.shape()[1:]) != math.prod(target):
        raise ctx.error(f"cannot reshape {list(ctx.shape()[1:])} to {target}")
    return ctx.reshape(ctx.x, [None, *target])


@lowers("Permute")
def permute(ctx: LayerContext) -> Value:
    dims = [int(d) for d in ctx.config["dims"]]
    if sorted(dims) != list(range(1, len(ctx.shape()))):
        raise ctx.error(f"has dims {dims} for a rank-{len(ctx.shape())} input")
    return ctx.transpose(ctx.x, [0, *dims])


def _pairs(value: Any, n: int) -> list[tuple[int, int]]:
    """Keras's padding/cropping spec (an int, one int per dim, or (before, after) per dim)."""
    if isinstance(value, int):
        return [(value, value)] * n
    items = list(value)
    if n == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(int(items[0]), int(items[1]))]
    if len(items) != n:
        raise ValueError(f"expected {n} entries, got {value!r}")
    return [(int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in items]


def _spatial_rank(ctx: LayerContext) -> int:
    n = int(ctx.class_name[-2])
    if len(ctx.shape()) != n + 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(ctx.shape())} input")
    return n


@lowers("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", check=channels_last_only, channels_first=True)
def zero_padding(ctx: LayerContext) -> Value:
    n = _spatial_rank(ctx)
    pads = _pairs(ctx.config.get("padding", 1), n)
    shape = ctx.shape()
    out = (shape[0], *[None if s is None else s + a + b for s, (a, b) in zip(shape[1:-1], pads)], shape[-1])
    return ctx.op("Pad", [ctx.x, ctx.ints([[0, 0], *pads, [0, 0]], "paddings")], {"Tpaddings": DType.INT32},
                  shape=out)


@lowers("Cropping1D", "Cropping2D", "Cropping3D", check=channels_last_only, channels_first=True)
def cropping(ctx: LayerContext) -> Value:
    n = _spatial_rank(ctx)
    crops = _pairs(ctx.config.get("cropping", 1 if n == 1 else 0), n)
    if any(not 0 <= c < 2 ** 31 for pair in crops for c in pair):  # Keras refuses negative crops
        raise ctx.error(f"has cropping {crops}, expected sizes from 0 to 2^31 - 1")
    shape = ctx.shape()
    # 1-D and 2-D (and 3-D over unknown sizes) slice with ends counted from the end, which holds for sizes known
    # only at run time
    sizes = list(shape[1:-1])
    kept = [None if s is None else s - a - b for s, (a, b) in zip(sizes, crops)]
    if any(k is not None and k <= 0 for k in kept):
        raise ctx.error(f"crops {crops} from sizes {sizes}, leaving nothing")
    begin = [0, *(a for a, _ in crops), 0]
    out = (shape[0], *kept, shape[-1])
    if n == 3 and None not in sizes:
        return ctx.op("Slice", [ctx.x, ctx.ints(begin, "begin"), ctx.ints([-1, *kept, -1], "size")],
                      {"Index": DType.INT32}, shape=out)
    # ends counted from the end, as Keras and the traced graph do: equal crops share their constants
    # whatever the sizes (NASNet crops four tensors alike)
    rank = n + 2
    outer = 1 | 1 << (rank - 1)  # the batch and channel axes: whole
    end_mask = outer | sum(1 << (i + 1) for i, (_, b) in enumerate(crops) if b == 0)
    attrs = {"Index": DType.INT32, "begin_mask": outer, "end_mask": end_mask, "ellipsis_mask": 0,
             "new_axis_mask": 0, "shrink_axis_mask": 0}
    end = [0, *(-b for _, b in crops), 0]
    return ctx.op("StridedSlice", [ctx.x, ctx.ints(begin, "begin"), ctx.ints(end, "end"),
                                   ctx.ints([1] * rank, "strides")], attrs, shape=out)


def _upsampling_check(config: dict[str, Any]) -> str | None:
    gap = channels_last_only(config)
    if gap:
        return gap
    method = config.get("interpolation", "nearest")
    return None if method in ("nearest", "bilinear") else f"interpolation={method!r}"


@lowers("UpSampling2D", check=_upsampling_check, channels_first=True)
def upsampling(ctx: LayerContext) -> Value:
    """Nearest (pixel repetition) or bilinear with half-pixel centres, as ``tf.image.resize`` does. Integers (the
    int32/int64 ids the walk hands over as they are) are repeated along each axis, as Keras 3 does: TF.js's wasm
    ResizeNearestNeighbor returns float32 for int32 (the backend contract), exact only up to 2^24. Keras 3's bilinear
    one of integer images (int32/int64 ones handed over as int32 too) rounds back to their dtype
    (:mod:`.integer_resize`)."""
    _spatial_rank(ctx)
    factors = ctx.config.get("size", 2)
    fh, fw = (factors, factors) if isinstance(factors, int) else (int(factors[0]), int(factors[1]))
    if ctx.x.dtype != DType.FLOAT32 and ctx.config.get("interpolation", "nearest") == "nearest":
        return repeat_axis(ctx, repeat_axis(ctx, ctx.x, 1, fh), 2, fw)
    shape = ctx.shape()
    h, w = shape[1:3]
    if h is None or w is None:  # the sizes read at run time, as tf_keras's ``resize_images`` reads them
        size = ctx.binary("Mul", runtime_sizes(ctx, ctx.x, 1, 3, "size"), ctx.ints([fh, fw], "factors"),
                          label="size")
    else:
        size = ctx.ints([h * fh, w * fw], "size")
    out = (shape[0], None if h is None else h * fh, None if w is None else w * fw, shape[-1])
    if ctx.config.get("interpolation", "nearest") == "bilinear":
        if ctx.keras3 and (dtype := ctx.integer_dtype()) is not None:  # Keras 3 rounds its result back to it
            if dtype not in RESIZED_INTEGERS or h is None or w is None:
                raise Unsupported(f"layer {ctx.name!r} (UpSampling2D) bilinear on {dtype.numpy} images (Keras 3 casts "
                                  "its result back to their dtype; lowered for integers of static sizes)")
            return integer_bilinear(ctx, ctx.x, (h * fh, w * fw), dtype)
        return ctx.op("ResizeBilinear", [ctx.x, size], {"align_corners": False, "half_pixel_centers": True},
                      shape=out)
    return ctx.op("ResizeNearestNeighbor", [ctx.x, size], {"align_corners": False, "half_pixel_centers": False},
                  shape=out)


@lowers("RepeatVector")
def repeat_vector(ctx: LayerContext) -> Value:
    """``(batch, features)`` → ``(batch, n, features)``: ExpandDims, then Tile."""
    shape = ctx.shape()
    if len(shape) != 2:
        raise ctx.error(f"expects a rank-2 input, got rank {len(shape)}")
    n = int(ctx.config["n"])
    y = ctx.expand_dims(ctx.x, 1, "as_rows")
    return ctx.op("Tile", [y, ctx.ints([1, n, 1], "multiples")], {"Tmultiples": DType.INT32},
                  shape=(shape[0], n, shape[1]))


def repeat_axis(ctx: LayerContext, x: Value, axis: int, times: int) -> Value:
    """Each element repeated ``times`` along ``axis`` (``np.repeat``): ExpandDims, Tile, Reshape."""
    if times == 1:
        return x
    shape = ctx.shape(x)
    y = ctx.expand_dims(x, axis + 1, f"repeat{axis}_expand")
    multiples = [1] * (len(shape) + 1)
    multiples[axis + 1] = times
    tiled_shape = list(ctx.shape(y))
    tiled_shape[axis + 1] = times
    y = ctx.op("Tile", [y, ctx.ints(multiples, f"repeat{axis}_multiples")], {"Tmultiples": DType.INT32},
               shape=tuple(tiled_shape), label=f"repeat{axis}_tile")
    out = list(shape)
    out[axis] = None if shape[axis] is None else shape[axis] * times
    if None in shape[1:]:  # the target is x's run-time shape with the axis ``times`` longer
        scale = [1] * len(shape)
        scale[axis] = times
        target = ctx.binary("Mul", runtime_sizes(ctx, x, 0, len(shape), f"repeat{axis}"),
                            ctx.ints(scale, f"repeat{axis}_scale"), label=f"repeat{axis}_target")
        return ctx.op("Reshape", [y, target], {"Tshape": DType.INT32}, shape=tuple(out), label=f"repeat{axis}")
    return ctx.reshape(y, out, f"repeat{axis}")


@lowers("UpSampling1D", "UpSampling3D", check=channels_last_only, channels_first=True)
def upsampling_repeat(ctx: LayerContext) -> Value:
    """Nearest upsampling as Keras does it: ``repeat`` along each spatial axis."""
    n = _spatial_rank(ctx)
    factors = ctx.config.get("size", 2)
    factors = [int(factors)] * n if isinstance(factors, int) else [int(f) for f in factors]
    if len(factors) != n:
        raise ctx.error(f"has size {ctx.config.get('size')!r}")
    x = ctx.x
    for axis, times in enumerate(factors, start=1):
        x = repeat_axis(ctx, x, axis, times)
    return x
