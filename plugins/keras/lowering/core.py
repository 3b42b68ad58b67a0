"""Core layers: Dense, and the layers that are the identity at inference (dropout and noise)."""
from __future__ import annotations


from tfjsconv.ir import Value

from .activations import activation_check, apply_activation
from .context import LayerContext
from .registry import Unsupported, lowers

#: Active only in training: ``model(x, training=False)`` passes the input through.
INFERENCE_IDENTITY = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                      "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity")


@lowers(*INFERENCE_IDENTITY)
def identity(ctx: LayerContext) -> Value:
    return ctx.unary("Identity", ctx.x)


@lowers("Dense", check=activation_check)
def dense(ctx: LayerContext) -> Value:
    """``x @ kernel + bias`` over the last axis; higher ranks are flattened to 2-D around the MatMul."""
    use_bias = ctx.config.get("use_bias", True)
    weights = ctx.expect_weights("kernel", *(["bias"] if use_bias else []))
    shape = ctx.shape()
    units = int(ctx.config["units"])
    ctx.check_shape(weights[0], [shape[-1], units], "kernel")
    x = ctx.x
    if len(shape) < 2:
        raise Unsupported(f"layer {ctx.name!r} (Dense) on a rank-{len(shape)} input")
    outer = shape[:-1]
    if len(shape) > 2:
        if any(d is None for d in outer[1:]):
            raise Unsupported(f"layer {ctx.name!r} (Dense) on a rank-{len(shape)} input with unknown sizes")
        x = ctx.reshape(x, [None, shape[-1]], "flatten")
    y = ctx.op("MatMul", [x, ctx.weight(weights[0], "kernel")], {"transpose_a": False, "transpose_b": False},
               shape=(None, units))
    if use_bias:
        ctx.check_shape(weights[1], [units], "bias")
        y = ctx.op("BiasAdd", [y, ctx.weight(weights[1], "bias")], {"data_format": "NHWC"}, shape=y.shape)
    if len(shape) > 2:
        y = ctx.reshape(y, [None, *outer[1:], units], "unflatten")
    return apply_activation(ctx, y, ctx.config.get("activation"), keras3=ctx.keras3)


