"""Pooling: Max/AveragePooling 1D/2D/3D (1-D as 2-D over a height of 1) and the global pools.

3-D pools are ``MaxPool3D``/``AvgPool3D``; the ``pool_3d`` pass splits them where a backend gets them wrong, and
over unknown spatial sizes the lowering splits them itself (``dynamic_pool_3d``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import EXACT_MEAN_COUNT_LIMIT

from .context import LayerContext
from .conv import _ints, out_size
from .dynamic_pool_3d import split_pool_3d
from .dynamic_shape import runtime_size
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
    if x.dtype == DType.INT32 and op == "MaxPool":  # int32/int64 ids (.model_walk): TF.js's MaxPool is float32 only
        y = integer_max_pool(ctx, x, kernel, strides, padding)
        return ctx.squeeze(y, 1, "as_1d") if one_d else y
    y = ctx.op(op, [x], {"ksize": [1, *kernel, 1], "strides": [1, *strides, 1], "padding": padding.upper(),
                         "data_format": "NHWC"}, shape=out)
    return ctx.squeeze(y, 1, "as_1d") if one_d else y


#: The most window positions an integer max pool is unrolled into (one Slice and one Maximum each); larger windows
#: are maxed by doubling (:func:`_sliding_max`).
MAX_INTEGER_WINDOW = 64
INT32_MIN = np.iinfo(np.int32).min


def integer_max_pool(ctx: LayerContext, x: Value, kernel: list[int], strides: list[int], padding: str) -> Value:
    """MaxPool of int32 NHWC ``x`` as Keras computes it on integers, exactly: axis by axis (a max over a window is
    the max over its rows of the max over its columns), each the ``Maximum`` of the window's unit-stride ``Slice``s,
    then every ``stride``-th position picked by a ``GatherV2`` (wasm's strided StridedSlice of int32 is wrong).
    Padding "same" pads with INT32_MIN as TensorFlow ignores the padding (every window holds an input value). Over a
    size unknown in the config, the slices end counted from the end and the positions are a Range of the run-time
    size; "same" there pads by amounts computed at run time (:func:`_runtime_same_padding`). Windows past
    :data:`MAX_INTEGER_WINDOW` take the max by doubling (:func:`_sliding_max`)."""
    for axis, (k, s) in enumerate(zip(kernel, strides), start=1):
        x = _integer_max_pool_axis(ctx, x, axis, k, s, padding)
    return x


def _integer_max_pool_axis(ctx: LayerContext, x: Value, axis: int, k: int, s: int, padding: str) -> Value:
    """One spatial axis of :func:`integer_max_pool`."""
    shape = list(ctx.shape(x))
    n = shape[axis]
    if n is None:
        if padding == "same":
            x = _runtime_same_padding(ctx, x, axis, k, s)
        return _runtime_max_pool_axis(ctx, x, axis, k, s)
    out = out_size(n, k, s, 1, padding)
    if out is None or out < 1:
        raise ctx.error(f"pools a size of {n} with a window of {k}")
    if padding == "same":
        total = max((out - 1) * s + k - n, 0)
        if total:
            pads = np.zeros((len(shape), 2), np.int32)
            pads[axis] = (total // 2, total - total // 2)
            n += total
            shape[axis] = n
            x = ctx.op("PadV2", [x, ctx.ints(pads, f"pads_{axis}"), ctx.const(np.int32(INT32_MIN), f"lowest_{axis}")],
                       {"Tpaddings": DType.INT32}, shape=tuple(shape), label=f"padded_{axis}")
    positions = n - k + 1
    shape[axis] = positions
    y = _sliding_max(ctx, x, axis, k) if k > MAX_INTEGER_WINDOW else None
    for j in range(k if y is None else 0):
        begin, size = [0] * len(shape), [-1] * len(shape)
        begin[axis], size[axis] = j, positions
        window = x if k == 1 else ctx.op("Slice", [x, ctx.ints(begin, f"begin_{axis}_{j}"),
                                                   ctx.ints(size, f"size_{axis}_{j}")],
                                         {"Index": DType.INT32}, shape=tuple(shape), label=f"window_{axis}_{j}")
        y = window if y is None else ctx.binary("Maximum", y, window, label=f"max_{axis}_{j}")
    if s == 1 and positions == out:
        return y
    shape[axis] = out
    picked = ctx.ints(np.arange(out, dtype=np.int32) * s, f"picked_{axis}")
    return ctx.op("GatherV2", [y, picked, ctx.ints(axis, f"axis_{axis}")], {"Tparams": DType.INT32,
                                                                           "Tindices": DType.INT32,
                                                                           "Taxis": DType.INT32, "batch_dims": 0},
                  shape=tuple(shape), label=f"strided_{axis}")


def _runtime_max_pool_axis(ctx: LayerContext, x: Value, axis: int, k: int, s: int) -> Value:
    """:func:`_integer_max_pool_axis` with padding "valid" over a size unknown in the config: window ``j`` is the
    unit-stride ``StridedSlice`` from ``j`` to ``k - 1 - j`` before the end, the picked positions
    ``Range(0, positions, stride)`` of the run-time size."""
    shape = list(ctx.shape(x))
    rank = len(shape)
    others = sum(1 << i for i in range(rank) if i != axis)
    y = _sliding_max(ctx, x, axis, k) if k > MAX_INTEGER_WINDOW else None
    for j in range(k if y is None else 0):
        begin, end = [0] * rank, [0] * rank
        begin[axis], end[axis] = j, -(k - 1 - j)
        attrs = {"Index": DType.INT32, "begin_mask": others, "end_mask": others | (1 << axis if j == k - 1 else 0),
                 "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}
        window = x if k == 1 else ctx.op("StridedSlice", [x, ctx.ints(begin, f"begin_{axis}_{j}"),
                                                          ctx.ints(end, f"end_{axis}_{j}"),
                                                          ctx.ints([1] * rank, f"strides_{axis}_{j}")],
                                         attrs, shape=tuple(shape), label=f"window_{axis}_{j}")
        y = window if y is None else ctx.binary("Maximum", y, window, label=f"max_{axis}_{j}")
    if s == 1:
        return y
    picked = ctx.op("Range", [ctx.ints(0, f"first_{axis}"), runtime_size(ctx, y, axis, f"positions_{axis}"),
                              ctx.ints(s, f"stride_{axis}")], {"Tidx": DType.INT32}, dtype=DType.INT32,
                    shape=(None,), label=f"picked_{axis}")
    return ctx.op("GatherV2", [y, picked, ctx.ints(axis, f"axis_{axis}")], {"Tparams": DType.INT32,
                                                                           "Tindices": DType.INT32,
                                                                           "Taxis": DType.INT32, "batch_dims": 0},
                  shape=tuple(shape), label=f"strided_{axis}")


def _shifted(ctx: LayerContext, x: Value, axis: int, start: int, drop: int, label: str) -> Value:
    """``x`` along ``axis`` from ``start`` to ``drop`` before the end: a unit-stride ``StridedSlice`` (exact on int32
    on every backend), over a known or a run-time size."""
    shape = list(ctx.shape(x))
    rank = len(shape)
    others = sum(1 << i for i in range(rank) if i != axis)
    begin, end = [0] * rank, [0] * rank
    begin[axis], end[axis] = start, -drop
    if shape[axis] is not None:
        shape[axis] -= start + drop
    attrs = {"Index": DType.INT32, "begin_mask": others, "end_mask": others | (1 << axis if drop == 0 else 0),
             "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}
    return ctx.op("StridedSlice", [x, ctx.ints(begin, f"{label}_begin"), ctx.ints(end, f"{label}_end"),
                                   ctx.ints([1] * rank, f"{label}_strides")], attrs, shape=tuple(shape), label=label)


def _sliding_max(ctx: LayerContext, x: Value, axis: int, k: int) -> Value:
    """The max over every window of ``k`` consecutive positions along ``axis`` (unit stride, ``n - k + 1`` of them)
    for windows past :data:`MAX_INTEGER_WINDOW`, by doubling: the max over windows of ``2p`` is the max of those of
    ``p`` at ``i`` and ``i + p``; then windows of ``k`` are the max of those of the largest ``p <= k`` at ``i`` and
    ``i + k - p`` (they overlap, which a max does not mind). About ``2·log2(k)`` Slices and Maximums, exact on
    int32."""
    y, p = x, 1
    while 2 * p <= k:
        y = ctx.binary("Maximum", _shifted(ctx, y, axis, 0, p, f"doubled_{axis}_{p}_head"),
                       _shifted(ctx, y, axis, p, 0, f"doubled_{axis}_{p}_tail"), label=f"window_{axis}_{2 * p}")
        p *= 2
    if p == k:
        return y
    return ctx.binary("Maximum", _shifted(ctx, y, axis, 0, k - p, f"window_{axis}_{k}_head"),
                      _shifted(ctx, y, axis, k - p, 0, f"window_{axis}_{k}_tail"), label=f"window_{axis}_{k}")


def _runtime_same_padding(ctx: LayerContext, x: Value, axis: int, k: int, s: int) -> Value:
    """``x`` padded with INT32_MIN along an axis of run-time size ``n`` as TensorFlow pads "same": ``out =
    ceil(n / s)``, ``max((out - 1)·s + k - n, 0)`` in all, half of it (rounded down) before; sizes are small whole
    numbers, so the int32 FloorDiv is exact on every backend (named guarded: the special-values line does not name
    it)."""
    from tfjsconv.ops.special_values import GUARDED_SUFFIX

    n = runtime_size(ctx, x, axis, f"same_{axis}")
    out = ctx.binary("FloorDiv", ctx.binary("AddV2", n, ctx.ints(s - 1, f"same_{axis}_round_up"),
                                            label=f"same_{axis}_rounded"), ctx.ints(s, f"same_{axis}_stride"),
                     label=f"same_{axis}_positions{GUARDED_SUFFIX}")
    covered = ctx.binary("AddV2", ctx.binary("Mul", ctx.binary("Sub", out, ctx.ints(1, f"same_{axis}_one"),
                                                               label=f"same_{axis}_last"),
                                             ctx.ints(s, f"same_{axis}_step"), label=f"same_{axis}_last_start"),
                         ctx.ints(k, f"same_{axis}_window"), label=f"same_{axis}_covered")
    total = ctx.binary("Maximum", ctx.binary("Sub", covered, n, label=f"same_{axis}_missing"),
                       ctx.ints(0, f"same_{axis}_none"), label=f"same_{axis}_total")
    before = ctx.binary("FloorDiv", total, ctx.ints(2, f"same_{axis}_halves"),
                        label=f"same_{axis}_before{GUARDED_SUFFIX}")
    after = ctx.binary("Sub", total, before, label=f"same_{axis}_after")
    rank = len(ctx.shape(x))
    pair = ctx.op("Pack", [before, after], {"N": 2, "axis": 0}, dtype=DType.INT32, shape=(2,),
                  label=f"same_{axis}_pair")
    rows = [pair if i == axis else ctx.ints([0, 0], f"same_{axis}_row_{i}") for i in range(rank)]
    pads = ctx.op("Pack", rows, {"N": rank, "axis": 0}, dtype=DType.INT32, shape=(rank, 2), label=f"same_{axis}_pads")
    return ctx.op("PadV2", [x, pads, ctx.const(np.int32(INT32_MIN), f"same_{axis}_lowest")], {"Tpaddings": DType.INT32},
                  shape=ctx.shape(x), label=f"same_{axis}_padded")


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
    if op == "Mean" and not ctx.keras3 and (ctx.x.dtype == DType.INT32 or ctx.keras_dtypes[0] is not None):
        return _tf_keras_integer_mean(ctx, axes, keep, out)
    return ctx.op(op, [ctx.x, ctx.ints(axes, "axes")], {"keep_dims": keep, "Tidx": DType.INT32}, shape=out)


def _tf_keras_integer_mean(ctx: LayerContext, axes: list[int], keep: bool, out: tuple) -> Value:
    """tf_keras's global average pool of integers: TF's Mean in their dtype (int32/int64 ids handed over as int32 by
    .model_walk; 8/16-bit ones held as float32, whole numbers cast exactly to int32), kept in that dtype."""
    dtype, x = ctx.keras_dtypes[0], ctx.x
    if not isinstance(dtype, DType) or dtype.numpy.kind not in "iu":
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on integers whose Keras dtype the lowering does not "
                          "follow (tf_keras averages them in that dtype, truncating)")
    if x.dtype == DType.FLOAT32:
        x = ctx.exact_cast(x, DType.INT32, "as_int32")
    ctx.output_keras_dtype = dtype
    return integer_mean(ctx, x, axes, keep, out)


def integer_mean(ctx: LayerContext, x: Value, axes: list[int], keep: bool, out: tuple) -> Value:
    """TF's Mean of int32 (tf_keras's ``backend.mean``): the exact mean, truncated toward zero, from the sums of the
    values' 16-bit halves (:func:`tfjsconv.narrow_ints.truncated_mean`), for counts below
    :data:`INTEGER_MEAN_COUNT_LIMIT` known in the config; larger counts and counts known only at run time from the
    sums of their bytes (:func:`.integer_means.byte_mean`, up to 4 202 512 values)."""
    from tfjsconv.narrow_ints import int32_halves, truncated_mean

    from .integer_means import byte_mean

    sizes = [ctx.shape(x)[a] for a in axes]
    if None in sizes or not 0 < int(np.prod(sizes)) < INTEGER_MEAN_COUNT_LIMIT:
        return byte_mean(ctx, x, axes, keep, out)
    attrs = {"keep_dims": keep, "Tidx": DType.INT32}
    high, low = int32_halves(ctx.graph, x, f"{ctx.name}/halves")
    high_sum, low_sum = (ctx.op("Sum", [v, ctx.ints(axes, f"{label}_axes")], attrs, dtype=DType.INT32, shape=out,
                                label=f"{label}_sum") for v, label in ((high, "high"), (low, "low")))
    return truncated_mean(ctx.graph, high_sum, low_sum, int(np.prod(sizes)), ctx.name)


#: :func:`integer_mean` keeps its partial sums within int32 for counts below this.
INTEGER_MEAN_COUNT_LIMIT = EXACT_MEAN_COUNT_LIMIT


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
