"""BatchNormalization (inference: moving statistics), Layer-, Group- and UnitNormalization.

Batch norm becomes ``x · m + s`` with per-channel constants folded in float64 from the file's
statistics, which the ``fold_batchnorm`` pass then folds into a conv or matmul before it. Layer norm
is computed as Keras does: mean and variance over the normalized axes, then scale and offset.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes
from .registry import Unsupported, lowers


def norm_axes(ctx: LayerContext, axis: Any, rank: int) -> list[int]:
    axes = [axis] if isinstance(axis, int) else list(axis)
    positive = sorted({a + rank if a < 0 else a for a in axes})
    if not positive or any(not 1 <= a < rank for a in positive):
        raise ctx.error(f"normalizes axis {axis} of a rank-{rank} input")
    return positive


def param_shape(shape: Sequence[int | None], axes: list[int]) -> list[int]:
    """The broadcast shape of a per-axis parameter (batch dimension dropped): sizes on ``axes``, 1 elsewhere."""
    dims = [int(shape[i]) if i in axes else 1 for i in range(1, len(shape))]
    while len(dims) > 1 and dims[0] == 1 and 0 not in axes:  # leading ones broadcast anyway
        dims.pop(0)
    return dims


def _static_axes(ctx: LayerContext, shape: Sequence[int | None], axes: list[int]) -> None:
    if any(shape[a] is None for a in axes):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): normalized axes of unknown size")


@lowers("BatchNormalization", "BatchNormalizationV1", "BatchNormalizationV2",
        check=lambda c: "renorm" if c.get("renorm") else None)
def batch_norm(ctx: LayerContext) -> Value:
    config = ctx.config
    shape = ctx.shape()
    axes = norm_axes(ctx, config.get("axis", -1), len(shape))
    _static_axes(ctx, shape, axes)
    names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    weights = ctx.expect_weights(*names, "moving_mean", "moving_variance")
    size = int(np.prod([shape[a] for a in axes]))
    for name, array in zip([*names, "moving_mean", "moving_variance"], weights):
        if int(np.prod(array.shape)) != size:
            raise ctx.error(f"has a {name} of shape {list(array.shape)} for {size} channels")
    values = dict(zip([*names, "moving_mean", "moving_variance"], (ctx.small(w).reshape(-1) for w in weights)))
    gamma = values.get("gamma", np.ones(size))
    beta = values.get("beta", np.zeros(size))
    multiplier = gamma / np.sqrt(values["moving_variance"] + float(config.get("epsilon", 1e-3)))
    shift = beta - values["moving_mean"] * multiplier
    dims = param_shape(shape, axes)
    scaled = ctx.binary("Mul", ctx.x, ctx.floats(multiplier.reshape(dims), "multiplier"))
    return ctx.binary("AddV2", scaled, ctx.floats(shift.reshape(dims), "shift"))


def _moments(ctx: LayerContext, x: Value, axes: list[int], shape: Sequence[int | None]) -> tuple[Value, Value]:
    """``(x - mean, 1 / sqrt(variance + epsilon))`` over ``axes``, as Keras's normalization layers compute them."""
    reduce = ctx.ints(axes, "axes")
    stats = tuple(1 if i in axes else d for i, d in enumerate(shape))
    mean = ctx.op("Mean", [x, reduce], {"keep_dims": True, "Tidx": DType.INT32}, shape=stats, label="mean")
    centered = ctx.binary("Sub", x, mean, label="centered")
    variance = ctx.op("Mean", [ctx.unary("Square", centered, label="squared"), reduce],
                      {"keep_dims": True, "Tidx": DType.INT32}, shape=stats, label="variance")
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, float(ctx.config.get("epsilon", 1e-3)), "var_eps"),
                        label="inverse_std")
    return centered, inverse


@lowers("LayerNormalization")
def layer_norm(ctx: LayerContext) -> Value:
    config = ctx.config
    if config.get("rms_scaling"):
        return _rms_scaled_layer_norm(ctx)
    shape = ctx.shape()
    axes = norm_axes(ctx, config.get("axis", -1), len(shape))
    names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    if not names:  # no weights to shape: Keras normalizes over axes of unknown size too
        centered, inverse = _moments(ctx, ctx.x, axes, shape)
        return ctx.binary("Mul", centered, inverse, label="normalized")
    _static_axes(ctx, shape, axes)
    weights = dict(zip(names, ctx.expect_weights(*names)))
    dims = param_shape(shape, axes)
    centered, inverse = _moments(ctx, ctx.x, axes, shape)
    y = ctx.binary("Mul", centered, inverse, label="normalized")
    for name, op in (("gamma", "Mul"), ("beta", "AddV2")):
        if name in weights:
            array = weights[name]
            if int(np.prod(array.shape)) != int(np.prod(dims)):
                raise ctx.error(f"has a {name} of shape {list(array.shape)}, expected {dims}")
            y = ctx.binary(op, y, ctx.floats(ctx.small(array).reshape(dims), name), label=name)
    return y


def _rms_scaled_layer_norm(ctx: LayerContext) -> Value:
    """Keras 3's ``rms_scaling=True``: ``x · rsqrt(var(x) + epsilon) · gamma`` — the variance (centred), not the
    mean square, and ``x`` itself is not centred; gamma always exists, beta never (Keras's own formula)."""
    config = ctx.config
    shape = ctx.shape()
    axes = norm_axes(ctx, config.get("axis", -1), len(shape))
    _static_axes(ctx, shape, axes)
    (gamma,) = ctx.expect_weights("gamma")
    dims = param_shape(shape, axes)
    if int(np.prod(gamma.shape)) != int(np.prod(dims)):
        raise ctx.error(f"has a gamma of shape {list(gamma.shape)}, expected {dims}")
    x = ctx.x
    _, inverse = _moments(ctx, x, axes, shape)
    y = ctx.binary("Mul", x, inverse, label="scaled")
    return ctx.binary("Mul", y, ctx.floats(ctx.small(gamma).reshape(dims), "gamma"), label="gamma")


def _group_check(config: dict[str, Any]) -> str | None:
    axis = config.get("axis", -1)
    return None if isinstance(axis, int) and not isinstance(axis, bool) else f"axis={axis!r}"


@lowers("GroupNormalization", check=_group_check)
def group_norm(ctx: LayerContext) -> Value:
    """Channels split into ``groups``; each group normalized over its channels and every spatial axis."""
    config = ctx.config
    shape = ctx.shape()
    (axis,) = norm_axes(ctx, config.get("axis", -1), len(shape))
    if axis != len(shape) - 1:
        return _group_norm_on_axis(ctx, axis)
    channels, groups = shape[-1], int(config.get("groups", 32))
    if channels is None:
        raise Unsupported(f"layer {ctx.name!r} (GroupNormalization) on an input of unknown channels")
    if groups < 1 or channels % groups:
        raise ctx.error(f"has {groups} groups for {channels} channels")
    names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    weights = dict(zip(names, ctx.expect_weights(*names)))
    if any(d is None for d in shape[1:]):
        y = _group_normalized_over_unknown_sizes(ctx, groups, channels // groups)
    else:
        grouped_shape = (None, *shape[1:-1], groups, channels // groups)
        x = ctx.reshape(ctx.x, grouped_shape, "grouped")
        axes = [i for i in range(1, len(grouped_shape)) if i != len(grouped_shape) - 2]
        centered, inverse = _moments(ctx, x, axes, grouped_shape)
        y = ctx.reshape(ctx.binary("Mul", centered, inverse, label="normalized"), shape, "ungrouped")
    for name, op in (("gamma", "Mul"), ("beta", "AddV2")):
        if name in weights:
            ctx.check_shape(weights[name], [channels], name)
            y = ctx.binary(op, y, ctx.floats(ctx.small(weights[name]), name), label=name)
    return y


def _group_norm_on_axis(ctx: LayerContext, axis: int) -> Value:
    """GroupNormalization over another axis than the last (``axis=1`` of channels_first images): Keras splits that
    axis into groups and reduces every other non-batch axis, which is the channels-last lowering with the axis moved
    last by a Transpose and back (gamma and beta hold one value per channel of that axis in either layout)."""
    rank = len(ctx.shape())
    to_last = [a for a in range(rank) if a != axis] + [axis]
    ctx.inputs = [ctx.transpose(ctx.x, to_last, "axis_last")]
    ctx.config = {**ctx.config, "axis": -1}
    y = group_norm(ctx)
    return ctx.transpose(y, [to_last.index(a) for a in range(rank)], "axis_back")


def _group_normalized_over_unknown_sizes(ctx: LayerContext, groups: int, per_group: int) -> Value:
    """Each group's moments over its channels and every spatial axis, the spatial sizes read at run time: the
    rank-4 view ``[batch, -1, groups, per_group]`` holds the same elements per group (webgl reduces no rank 5),
    and the result takes ``x``'s run-time shape back."""
    x = ctx.x
    grouped_shape = (ctx.shape()[0], None, groups, per_group)
    grouped = reshape_to(ctx, x, [runtime_sizes(ctx, x, 0, 1, "batch"), [-1, groups, per_group]], grouped_shape,
                         "grouped")
    centered, inverse = _moments(ctx, grouped, [1, 3], grouped_shape)
    normalized = ctx.binary("Mul", centered, inverse, label="normalized")
    return ctx.op("Reshape", [normalized, ctx.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32,
                                                 shape=(len(ctx.shape()),), label="input_shape")],
                  {"Tshape": DType.INT32}, shape=ctx.shape(), label="ungrouped")


@lowers("UnitNormalization")
def unit_norm(ctx: LayerContext) -> Value:
    """``x / ‖x‖₂`` over ``axis``: Keras 3 caps ``1/‖x‖`` at 1e12, tf_keras floors ``‖x‖²`` at 1e-12."""
    shape = ctx.shape()
    axes = norm_axes(ctx, ctx.config.get("axis", -1), len(shape))
    x = ctx.x
    square_sum = ctx.op("Sum", [ctx.unary("Square", x, label="squared"), ctx.ints(axes, "axes")],
                        {"keep_dims": True, "Tidx": DType.INT32},
                        shape=tuple(1 if i in axes else d for i, d in enumerate(shape)), label="square_sum")
    if ctx.keras3:
        inverse = ctx.scalar_op("Minimum", ctx.unary("Rsqrt", square_sum, label="inverse_norm"), 1e12, "capped")
    else:
        inverse = ctx.unary("Rsqrt", ctx.scalar_op("Maximum", square_sum, 1e-12, "floored"), label="inverse_norm")
    return ctx.binary("Mul", x, inverse, label="normalized")


@lowers("RMSNormalization")
def rms_norm(ctx: LayerContext) -> Value:
    """Keras 3: ``x · rsqrt(mean(x², axis) + epsilon) · scale`` (scale broadcast from the right, as Keras does)."""
    shape = ctx.shape()
    axes = norm_axes(ctx, ctx.config.get("axis", -1), len(shape))
    _static_axes(ctx, shape, axes)
    (scale,) = ctx.expect_weights("scale")
    ctx.check_shape(scale, [shape[a] for a in axes], "scale")
    x = ctx.x
    mean_square = ctx.op("Mean", [ctx.unary("Square", x, label="squared"), ctx.ints(axes, "axes")],
                         {"keep_dims": True, "Tidx": DType.INT32},
                         shape=tuple(1 if i in axes else d for i, d in enumerate(shape)), label="mean_square")
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", mean_square, float(ctx.config.get("epsilon", 1e-6)), "eps"),
                        label="inverse_rms")
    y = ctx.binary("Mul", x, inverse, label="normalized")
    return ctx.binary("Mul", y, ctx.weight(scale, "scale"), label="scaled")
