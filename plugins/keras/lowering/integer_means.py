"""TF's exact int32 mean (tf_keras's ``backend.mean``, ``GlobalAveragePooling`` of int32) over counts the 16-bit
halves of :func:`tfjsconv.narrow_ints.truncated_mean` cannot hold: counts of 2^14 values or more, and counts known
only at run time.

TensorFlow's int32 Mean is exact (its sum does not wrap) and truncated toward zero; TF.js's Mean of int32 is not
(the traced path's result is wrong from a few thousand values of int32 extremes on). Here each value is
split into bytes ``x = a·2^24 + b·2^16 + c·2^8 + d`` (``a`` signed, the others in ``[0, 256)``); the four byte sums
stay within int32 for up to 2^23 values; a long division by the count in base 256 then gives the exact floored mean,
every partial remainder ``r·256 + byte sum`` below ``511·n``, within int32 for counts up to
:data:`BYTE_MEAN_COUNT_LIMIT` (4 202 512 values, a 2048×2048 image among them). Over a count known only at run time
a larger count makes the converted model fail (the mean reshaped to twice its sizes, which TF.js raises on)
rather than return a wrong mean.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import exact_floor_div, int32_halves
from tfjsconv.ops.special_values import GUARDED_SUFFIX

from .context import LayerContext
from .dynamic_shape import runtime_size
from .registry import Unsupported

#: The largest count whose base-256 long division stays within int32: ``256·(n - 1) + 255·n < 2^31``.
BYTE_MEAN_COUNT_LIMIT = (2**31 - 1 + 256) // 511
#: Names of the four byte sums, most significant first.
_BYTES = ("byte_3", "byte_2", "byte_1", "byte_0")


def byte_mean(ctx: LayerContext, x: Value, axes: list[int], keep: bool, out: tuple) -> Value:
    """TF's exact int32 mean of ``x`` over ``axes`` (truncated toward zero), for any count up to
    :data:`BYTE_MEAN_COUNT_LIMIT`, known in the config or at run time (then checked there). A count known to be 0 or
    beyond the limit is refused by name."""
    sizes = [ctx.shape(x)[a] for a in axes]
    if None not in sizes and not 0 < int(np.prod(sizes)) <= BYTE_MEAN_COUNT_LIMIT:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on int32 integers over sizes {sizes} (TF's exact "
                          f"integer mean is lowered for 1 to {BYTE_MEAN_COUNT_LIMIT} values)")
    count = _count(ctx, x, axes, sizes)
    sums = [ctx.op("Sum", [piece, ctx.ints(axes, f"{label}_axes")], {"keep_dims": keep, "Tidx": DType.INT32},
                   dtype=DType.INT32, shape=out, label=f"{label}_sum")
            for piece, label in zip(_bytes(ctx, x), _BYTES)]
    mean = _long_division(ctx, sums, count)
    return mean if None not in sizes else _checked(ctx, mean, count)


def _count(ctx: LayerContext, x: Value, axes: list[int], sizes: list[int | None]) -> Value:
    """The number of values each mean divides by: a constant, or the product of the run-time sizes (int32: a tensor
    of 2^31 values or more does not exist in TF.js)."""
    if None not in sizes:
        return ctx.ints(int(np.prod(sizes)), "count")
    count = None
    for axis, size in zip(axes, sizes):
        factor = ctx.ints(size, f"size_{axis}") if size is not None else runtime_size(ctx, x, axis, f"count_{axis}")
        count = factor if count is None else ctx.binary("Mul", count, factor, label=f"count_{axis}")
    return count


def _bytes(ctx: LayerContext, x: Value) -> list[Value]:
    """``[a, b, c, d]`` with ``x = a·2^24 + b·2^16 + c·2^8 + d``: the exact 16-bit halves of
    :func:`int32_halves`, each split at 2^8 with FloorMod (exact) and a FloorDiv of a multiple of 256 below 2^16
    (exact in float32, as wasm divides; named guarded so the special-values line does not name FloorDiv for it)."""
    high, low = int32_halves(ctx.graph, x, f"{ctx.name}/halves")
    byte = ctx.ints(256, "byte")
    pieces = []
    for half, label in ((high, "high"), (low, "low")):
        below = ctx.binary("FloorMod", half, byte, label=f"{label}_low_byte")
        above = ctx.binary("FloorDiv", ctx.binary("Sub", half, below, label=f"{label}_multiple"), byte,
                           label=f"{label}_high_byte{GUARDED_SUFFIX}")
        pieces += [above, below]
    return pieces


def _long_division(ctx: LayerContext, sums: list[Value], count: Value) -> Value:
    """``trunc((A·2^24 + B·2^16 + C·2^8 + D) / n)`` from the byte sums ``[A, B, C, D]``: ``A = q·n + r`` (exact
    floor division), then ``r·256 + B`` and so on, each below ``511·n``; the quotients shifted into place (the
    result is a mean of int32 values, within int32; the partial products wrap alike on every backend), plus one
    where the floored mean is negative and the division not exact."""
    quotient, rest = None, None
    for i, (total, label) in enumerate(zip(sums, _BYTES)):
        numerator = total if rest is None else ctx.binary(
            "AddV2", ctx.binary("Mul", rest, ctx.ints(256, f"{label}_base"), label=f"{label}_carried"), total,
            label=f"{label}_numerator")
        digit = exact_floor_div(ctx.graph, numerator, count, f"{ctx.name}/{label}_quotient")
        rest = ctx.binary("FloorMod", numerator, count, label=f"{label}_rest")
        shifted = digit if i == 3 else ctx.binary("Mul", digit, ctx.ints(1 << (8 * (3 - i)), f"{label}_place"),
                                                  label=f"{label}_shifted")
        quotient = shifted if quotient is None else ctx.binary("AddV2", quotient, shifted, label=f"{label}_sum_so_far")
    inexact = ctx.op("NotEqual", [rest, ctx.ints(0, "zero")], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                     shape=rest.shape, label="inexact")
    negative = ctx.op("Less", [quotient, ctx.ints(0, "zero_bound")], dtype=DType.BOOL, shape=quotient.shape,
                      label="negative")
    rounds_up = ctx.op("LogicalAnd", [inexact, negative], dtype=DType.BOOL, shape=quotient.shape, label="rounds_up")
    up = ctx.binary("AddV2", quotient, ctx.ints(1, "one"), label="up")
    return ctx.op("SelectV2", [rounds_up, up, quotient], {"T": DType.INT32}, dtype=DType.INT32, shape=quotient.shape,
                  label="truncated_mean")


def _checked(ctx: LayerContext, mean: Value, count: Value) -> Value:
    """``mean`` reshaped to its own run-time shape where the run-time count is 1 to :data:`BYTE_MEAN_COUNT_LIMIT`,
    and to twice each size otherwise, which TF.js's Reshape raises on (cpu and wasm): a count the long division
    cannot hold fails instead of giving a wrong mean (and an empty one, which TF's integer Mean divides by zero).
    Checks of constants (a ``GatherV2`` at -1 of a Const, a Reshape of one) are folded away before TF.js runs them."""
    in_range = ctx.op("LogicalAnd", [
        ctx.op("GreaterEqual", [count, ctx.ints(1, "least_count")], dtype=DType.BOOL, shape=(), label="some_values"),
        ctx.op("LessEqual", [count, ctx.ints(BYTE_MEAN_COUNT_LIMIT, "most_count")], dtype=DType.BOOL, shape=(),
               label="not_too_many")], dtype=DType.BOOL, shape=(), label="count_in_range")
    rank = len(ctx.shape(mean))
    shape = ctx.op("Shape", [mean], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(rank,), label="mean_shape")
    wrong = ctx.binary("Mul", shape, ctx.ints(2, "wrong_factor"), label="wrong_shape")
    target = ctx.op("SelectV2", [in_range, shape, wrong], {"T": DType.INT32}, dtype=DType.INT32, shape=(rank,),
                    label="checked_shape")
    return ctx.op("Reshape", [mean, target], {"Tshape": DType.INT32}, dtype=DType.INT32, shape=mean.shape,
                  label="checked_mean")


def narrow_masked_mean(ctx: LayerContext, mask: Value, dtype: DType) -> Value:
    """tf_keras's masked GlobalAveragePooling1D of 8/16-bit integers: it casts the mask to their dtype, sums
    ``x · mask`` and the mask over the steps in that dtype, both wrapping (a count of 128 kept int8 steps is -128, of
    256 is 0), and ``/`` divides them in float32 (TF's ``truediv`` of 8/16-bit integers). Here: the kept values (held
    as float32, whole numbers) and the mask summed in int32 (wrapping mod 2^32 at worst, which the wrap into
    ``dtype`` does not see), wrapped into ``dtype`` (:func:`tfjsconv.narrow_ints.wrapped`), cast exactly to float32
    and divided; where the wrapped count is 0 the quotient is ``sum · Inf`` (NaN for 0, ±Inf otherwise, as IEEE's
    ``x / +0``), selected explicitly since webgl's division of equal operands gives 1. channels_first: tf_keras
    expands the ``[batch, T]`` mask on axis 1, against the steps (the last axis) of ``[batch, channels, steps]``,
    and sums over axis 2; the mask and the steps broadcast as Keras's ``x · mask`` does (equal, or either 1)."""
    from tfjsconv.narrow_ints import wrapped

    from .context import broadcast_shape

    shape, keep = ctx.shape(), bool(ctx.config.get("keepdims"))
    first = ctx.config.get("data_format") == "channels_first"
    steps, mask_axis, channels = (2, 1, shape[1]) if first else (1, 2, shape[2])
    values = ctx.x if ctx.x.dtype == DType.INT32 else ctx.exact_cast(ctx.x, DType.INT32, "as_int32")
    kept_mask = ctx.expand_dims(mask, mask_axis, "mask_steps_kept")
    kept = ctx.op("SelectV2", [kept_mask, values, ctx.ints(0, "masked_zero")], {"T": DType.INT32}, dtype=DType.INT32,
                  shape=broadcast_shape(values.shape, kept_mask.shape), label="masked")
    ones = ctx.op("Cast", [mask], {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32,
                  shape=mask.shape, label="mask_int")
    summed = ((shape[0], channels, 1) if first else (shape[0], 1, channels)) if keep else (shape[0], channels)
    sums = {"sum": (kept, steps, keep, summed),
            "count": (ones, 1, True, (shape[0], 1))}  # [batch, 1]: one count for every channel
    total, count = (ctx.exact_cast(wrapped(ctx.graph, ctx.op(
        "Sum", [v, ctx.ints(axis, f"{label}_axis")], {"keep_dims": keep_dims, "Tidx": DType.INT32}, dtype=DType.INT32,
        shape=out, label=f"{label}_int32"), dtype, f"{ctx.name}/{label}_wrapped"), DType.FLOAT32, label)
        for label, (v, axis, keep_dims, out) in sums.items())
    if keep:
        count = ctx.expand_dims(count, 2, "count_per_channel")
    mean = ctx.binary("RealDiv", total, count, label="mean" + GUARDED_SUFFIX)
    empty = ctx.op("Equal", [count, ctx.floats(0.0, "no_steps")], {"incompatible_shape_error": True},
                   dtype=DType.BOOL, shape=count.shape, label="empty")
    by_zero = ctx.scalar_op("Mul", total, np.inf, "by_zero")
    return ctx.op("SelectV2", [empty, by_zero, mean], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=mean.shape,
                  label="mean")
