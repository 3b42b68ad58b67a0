"""Pooling: Max/AveragePooling 1D/2D/3D (1-D as 2-D over a height of 1) and the global pools.

3-D pools are ``MaxPool3D``/``AvgPool3D``; the ``pool_3d`` pass splits them where a backend gets them wrong, and
over unknown spatial sizes the lowering splits them itself (``dynamic_pool_3d``).
"""
from __future__ import annotations

from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .conv import _ints, out_size
from .dynamic_pool_3d import split_pool_3d
from .registry import Unsupported, channels_last_only, lowers


def pool_check(config: dict[str, Any]) -> str | None:
    gap = channels_last_only(config)
    if gap:
        return gap
    return None if config.get("padding", "valid") in ("valid", "same") else f"padding={config.get('padding')!r}"


@lowers("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "MaxPool1D", "MaxPool2D",
        "AvgPool1D", "AvgPool2D", check=pool_check, channels_first=True)
def pool(ctx: LayerContext) -> Value:
    one_d = ctx.class_name.endswith("1D")
    n = 1 if one_d else 2
    config = ctx.config
    kernel = _ints(config.get("pool_size", 2), n)
    strides = _ints(config.get("strides") or kernel, n)
    padding = config.get("padding", "valid")
    shape = ctx.shape()
    if len(shape) != n + 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    x = ctx.x
    if one_d:
        x = ctx.expand_dims(x, 1, "as_2d")
        kernel, strides = [1, *kernel], [1, *strides]
    _, h, w, c = ctx.shape(x)
    out = (None, out_size(h, kernel[0], strides[0], 1, padding), out_size(w, kernel[1], strides[1], 1, padding), c)
    op = "MaxPool" if "Max" in ctx.class_name else "AvgPool"
    y = ctx.op(op, [x], {"ksize": [1, *kernel, 1], "strides": [1, *strides, 1], "padding": padding.upper(),
                         "data_format": "NHWC"}, shape=out)
    return ctx.squeeze(y, 1, "as_1d") if one_d else y


@lowers("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
        "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D",
        "GlobalMaxPool2D", "GlobalAvgPool3D", "GlobalMaxPool3D", check=channels_last_only, channels_first=True)
def global_pool(ctx: LayerContext) -> Value:
    n = int(ctx.class_name[-2])
    shape = ctx.shape()
    if len(shape) != n + 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    keep = bool(ctx.config.get("keepdims", False))
    axes = list(range(1, n + 1))
    out = (shape[0], *([1] * n), shape[-1]) if keep else (shape[0], shape[-1])
    op = "Max" if "Max" in ctx.class_name else "Mean"
    return ctx.op(op, [ctx.x, ctx.ints(axes, "axes")], {"keep_dims": keep, "Tidx": DType.INT32}, shape=out)


@lowers("MaxPooling3D", "AveragePooling3D", "MaxPool3D", "AvgPool3D", check=pool_check, channels_first=True)
def pool3d(ctx: LayerContext) -> Value:
    config = ctx.config
    kernel = _ints(config.get("pool_size", 2), 3)
    strides = _ints(config.get("strides") or kernel, 3)
    padding = config.get("padding", "valid")
    shape = ctx.shape()
    if len(shape) != 5:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    out = (None, *(out_size(s, k, st, 1, padding) for s, k, st in zip(shape[1:4], kernel, strides)), shape[-1])
    if None in shape[1:4] and shape[-1] is not None:  # the ``pool_3d`` pass needs static sizes: split here
        return split_pool_3d(ctx, "MaxPool" if "Max" in ctx.class_name else "AvgPool", kernel, strides, padding, out)
    op = "MaxPool3D" if "Max" in ctx.class_name else "AvgPool3D"
    return ctx.op(op, [ctx.x], {"ksize": [1, *kernel, 1], "strides": [1, *strides, 1], "padding": padding.upper(),
                                "data_format": "NDHWC"}, shape=out)
