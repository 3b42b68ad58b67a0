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
        has_bias = ctx.config.get("use_bias", "kernel_size" in ctx.config)  # a conv's default (conv.py), not a pool's
        bias = ctx.weights[-1] if ctx.keras3 and has_bias and ctx.weights else None  # Keras's order: bias last
        # Keras applies the activation to the channels_first output (after the bias, added here when it is Keras 3's)
        moved = bias is not None or _reads_an_axis(activation)
        ctx.config = {**ctx.config, "data_format": "channels_last", **({"activation": "linear"} if moved else {}),
                      **({"use_bias": False} if bias is not None else {})}
        if bias is not None:
            ctx.weights = ctx.weights[:-1]
        y = lower(ctx)
        if bias is not None:
            if y.shape is None or len(y.shape) != rank:
                raise ctx.error(f"has a bias, but its output has rank {len(y.shape or ())}, not {rank}")
            y = _keras3_bias_to_channels_first(ctx, y, bias, rank)
        elif y.shape is not None and len(y.shape) == rank:
            y = ctx.transpose(y, [0, rank - 1, *range(1, rank - 1)], "to_channels_first")
        if moved:
            from .activations import apply_activation

            y = apply_activation(ctx, y, activation, keras3=ctx.keras3)
        return y
    return lowering


#: Keras 3's TensorFlow backend runs these channels_first through ``tf.nn.convolution`` (no XLA), whose Conv2D
#: TensorFlow's graph optimizer fuses with the bias that follows, on the channels, whatever axis that bias names.
FUSED_BY_GRAPPLER = ("Conv1D", "Conv2D", "Convolution1D", "Convolution2D")


def _keras3_bias_to_channels_first(ctx: "LayerContext", y: "Value", bias: Any, rank: int) -> "Value":
    """The channels_last output ``y`` with its bias, as channels_first: on the channels, or where Keras 3's
    TensorFlow backend's traced graph adds it (:func:`.core.keras3_traced_bias_axis`: on the last axis when that
    one is as long as the filters)."""
    from .core import keras3_traced_bias_axis

    filters = int(bias.shape[0]) if len(bias.shape) == 1 else None
    if filters is None or y.shape[-1] not in (None, filters):
        raise ctx.error(f"has a bias of shape {list(bias.shape)} for {y.shape[-1]} output channels")
    fused = ctx.class_name in FUSED_BY_GRAPPLER and int(ctx.config.get("groups", 1) or 1) == 1
    also = ("; TensorFlow's own runs of that graph (model.predict, a model.export() served by TensorFlow) add it "
            "on axis 1 (its graph optimizer fuses it into the channels_first convolution)") if fused else ""
    where = keras3_traced_bias_axis(ctx, (y.shape[0], filters, *y.shape[1:-1]), 1, filters, also=also,
                                    predict_retraces=not fused, value=y)
    to_first = [0, rank - 1, *range(1, rank - 1)]
    if where == 1:
        y = ctx.op("BiasAdd", [y, ctx.weight(bias, "bias")], {"data_format": "NHWC"}, shape=y.shape)
        return ctx.transpose(y, to_first, "to_channels_first")
    y = ctx.transpose(y, to_first, "to_channels_first")
    return ctx.op("BiasAdd", [y, ctx.weight(bias, "bias")], {"data_format": "NHWC"}, shape=y.shape,
                  label="BiasAdd_on_last_axis")


#: Activations over the last axis, not element by element: a channels_first layer's runs over its last spatial axis.
AXIS_ACTIVATIONS = ("softmax", "log_softmax", "glu", "sparsemax")


def _reads_an_axis(activation: Any) -> bool:
    from .activations import activation_name

    return activation is not None and activation_name(activation) in AXIS_ACTIVATIONS
