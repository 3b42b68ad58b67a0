"""BatchNormalization (inference: moving statistics) and LayerNormalization.

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


@lowers("LayerNormalization", check=lambda c: "rms_scaling" if c.get("rms_scaling") else None)
def layer_norm(ctx: LayerContext) -> Value:
    config = ctx.config
    shape = ctx.shape()
    axes = norm_axes(ctx, config.get("axis", -1), len(shape))
    _static_axes(ctx, shape, axes)
    names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    weights = dict(zip(names, ctx.expect_weights(*names)))
    dims = param_shape(shape, axes)
    x = ctx.x
    reduce = ctx.ints(axes, "axes")
    mean = ctx.op("Mean", [x, reduce], {"keep_dims": True, "Tidx": DType.INT32},
                  shape=tuple(1 if i in axes else d for i, d in enumerate(shape)), label="mean")
    centered = ctx.binary("Sub", x, mean, label="centered")
    variance = ctx.op("Mean", [ctx.unary("Square", centered, label="squared"), reduce],
                      {"keep_dims": True, "Tidx": DType.INT32}, shape=mean.shape, label="variance")
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, float(config.get("epsilon", 1e-3)), "var_eps"),
                        label="inverse_std")
    y = ctx.binary("Mul", centered, inverse, label="normalized")
    for name, op in (("gamma", "Mul"), ("beta", "AddV2")):
        if name in weights:
            array = weights[name]
            if int(np.prod(array.shape)) != int(np.prod(dims)):
                raise ctx.error(f"has a {name} of shape {list(array.shape)}, expected {dims}")
            y = ctx.binary(op, y, ctx.floats(ctx.small(array).reshape(dims), name), label=name)
    return y
