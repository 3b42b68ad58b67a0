"""Preprocessing layers that run at inference: Rescaling and Normalization."""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.ir import Value

from .context import LayerContext
from .normalization import norm_axes, param_shape
from .registry import Unsupported, lowers

#: ``keras.backend.epsilon()``: Keras's floor on the standard deviation.
EPSILON = 1e-7


@lowers("Rescaling")
def rescaling(ctx: LayerContext) -> Value:
    """``x · scale + offset`` (either may be a per-channel list)."""
    scale = np.asarray(ctx.config.get("scale", 1.0), dtype=np.float32)
    offset = np.asarray(ctx.config.get("offset", 0.0), dtype=np.float32)
    y = ctx.binary("Mul", ctx.x, ctx.floats(scale, "scale"))
    return ctx.binary("AddV2", y, ctx.floats(offset, "offset"))


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
