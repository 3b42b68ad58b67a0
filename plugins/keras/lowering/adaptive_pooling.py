"""Keras 3's AdaptiveAverage/MaxPooling 1D/2D/3D: each output bin pools its own window of a static input.

Keras's bins along an axis of length ``L`` pooled to ``n`` are ``[floor(i·L/n), ceil((i+1)·L/n))`` (its
small/big window gather computes exactly these). A box window is the product of one interval per axis,
so the pool runs one axis at a time: every bin is a ``StridedSlice`` reduced by ``Mean``/``Max`` (kept
dims), and the bins are concatenated back. An axis that divides evenly is one ``Reshape`` and one
reduction instead. Inputs of unknown spatial size are refused by name (Keras needs them static too).
"""
from __future__ import annotations

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .registry import Unsupported, channels_last_only, lowers


def adaptive_bins(length: int, bins: int) -> list[tuple[int, int]]:
    """Keras's ``(start, end)`` window of each of the ``bins`` outputs along an axis of ``length``."""
    return [(min(i * length // bins, length - 1), min(-(-(i + 1) * length // bins), length)) for i in range(bins)]


def _output_size(ctx: LayerContext, n: int) -> list[int]:
    size = ctx.config.get("output_size")
    sizes = [size] * n if isinstance(size, int) else list(size or [])
    if len(sizes) != n or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ctx.error(f"has output_size {size!r}, expected {n} positive sizes")
    return sizes


def _pool_axis(ctx: LayerContext, x: Value, axis: int, bins: int, op: str) -> Value:
    shape = list(ctx.shape(x))
    length = int(shape[axis])
    if length == bins:
        return x
    attrs = {"keep_dims": False, "Tidx": DType.INT32}
    out_shape = tuple(bins if i == axis else d for i, d in enumerate(shape))
    if length % bins == 0:  # equal windows: split the axis and reduce the inner part
        split = [*shape[:axis], bins, length // bins, *shape[axis + 1:]]
        grouped = ctx.reshape(x, split, f"axis{axis}_grouped")
        return ctx.op(op, [grouped, ctx.ints(axis + 1, f"axis{axis}_inner")], attrs, shape=out_shape,
                      label=f"axis{axis}_pooled")
    rank = len(shape)
    mask = (1 << rank) - 1 - (1 << axis)  # every other axis is taken whole
    parts = []
    for i, (start, end) in enumerate(adaptive_bins(length, bins)):
        begin, stop = [0] * rank, [0] * rank
        begin[axis], stop[axis] = start, end
        window = ctx.op("StridedSlice", [x, ctx.ints(begin, f"axis{axis}_begin_{i}"),
                                         ctx.ints(stop, f"axis{axis}_end_{i}"), ctx.ints([1] * rank, f"axis{axis}_stride")],
                        {"Index": DType.INT32, "begin_mask": mask, "end_mask": mask, "ellipsis_mask": 0,
                         "new_axis_mask": 0, "shrink_axis_mask": 0},
                        shape=tuple(end - start if j == axis else d for j, d in enumerate(shape)),
                        label=f"axis{axis}_window_{i}")
        parts.append(ctx.op(op, [window, ctx.ints(axis, f"axis{axis}_axis")], {**attrs, "keep_dims": True},
                            shape=tuple(1 if j == axis else d for j, d in enumerate(shape)), label=f"axis{axis}_bin_{i}"))
    return ctx.op("ConcatV2", [*parts, ctx.ints(axis, f"axis{axis}_concat")], {"N": bins, "Tidx": DType.INT32},
                  shape=out_shape, label=f"axis{axis}_pooled")


@lowers(*(f"Adaptive{kind}Pooling{n}D" for kind in ("Average", "Max") for n in (1, 2, 3)),
        check=channels_last_only, channels_first=True)
def adaptive_pool(ctx: LayerContext) -> Value:
    n = int(ctx.class_name[-2])
    shape = ctx.shape()
    if len(shape) != n + 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    if any(d is None for d in shape[1:]):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs static spatial sizes, got {list(shape)}")
    op = "Max" if "Max" in ctx.class_name else "Mean"
    x = ctx.x
    for axis, bins in enumerate(_output_size(ctx, n), start=1):
        x = _pool_axis(ctx, x, axis, bins, op)
    return x
