"""channels_first layers as their channels_last lowering between two transposes.

The input goes ``NC…`` → ``N…C``, the channels_last lowering runs on it, and an output of the input's
rank comes back ``N…C`` → ``NC…`` (a Flatten or a global pool without ``keepdims`` has no channel
axis left to move). A chain of channels_first layers thus reads ``T⁻¹ · T``, which the transpose
passes cancel, so only the model's edges keep a transpose.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfjsconv.ir import Value

    from .context import LayerContext
    from .registry import Check

CHANNELS_FIRST = "channels_first"


def with_channels_last(check: "Check | None") -> "Check":
    """``check`` applied to the config as if it were channels_last (channels_first is covered)."""
    def gate(config: dict[str, Any]) -> str | None:
        if config.get("data_format") == CHANNELS_FIRST:
            config = {**config, "data_format": "channels_last"}
        return check(config) if check else None
    return gate


def through_channels_last(lower: Callable[["LayerContext"], "Value"]) -> Callable[["LayerContext"], "Value"]:
    @functools.wraps(lower)
    def lowering(ctx: "LayerContext") -> "Value":
        if ctx.config.get("data_format") != CHANNELS_FIRST:
            return lower(ctx)
        rank = len(ctx.shape())
        if rank < 3:
            return lower(ctx)
        to_last = [0, *range(2, rank), 1]
        ctx.inputs = [ctx.transpose(x, to_last, f"to_channels_last{i or ''}") for i, x in enumerate(ctx.inputs)]
        activation = ctx.config.get("activation")
        moved = _reads_an_axis(activation)  # Keras applies it to the channels_first output: after the transpose
        ctx.config = {**ctx.config, "data_format": "channels_last", **({"activation": "linear"} if moved else {})}
        y = lower(ctx)
        has_bias = ctx.config.get("use_bias", "kernel_size" in ctx.config)  # a conv's default (conv.py), not a pool's
        if has_bias and y.shape is not None and len(y.shape) == rank and y.shape[-1] is not None:
            from .core import keras3_bias_add_gap  # Keras 3 may add a channels_first bias on the last axis

            filters = int(y.shape[-1])
            keras3_bias_add_gap(ctx, (y.shape[0], filters, *y.shape[1:-1]), 1, filters)
        if y.shape is not None and len(y.shape) == rank:
            y = ctx.transpose(y, [0, rank - 1, *range(1, rank - 1)], "to_channels_first")
        if moved:
            from .activations import apply_activation

            y = apply_activation(ctx, y, activation, keras3=ctx.keras3)
        return y
    return lowering


#: Activations over the last axis, not element by element: a channels_first layer's runs over its last spatial axis.
AXIS_ACTIVATIONS = ("softmax", "log_softmax", "glu")


def _reads_an_axis(activation: Any) -> bool:
    from .activations import activation_name

    return activation is not None and activation_name(activation) in AXIS_ACTIVATIONS
