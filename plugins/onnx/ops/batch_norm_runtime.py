"""BatchNormalization whose parameters are computed at run time, and its training mode, as plain ops.

Inference: ``y = x * m + (B - mean * m)`` with ``m = scale * rsqrt(var + eps)``, the per-channel
vectors reshaped to broadcast against the channel axis wherever the layout puts it. Training mode
(opset 14+) normalizes with the batch's own mean and (population) variance over every axis but the
channels, and also returns the running statistics ``input * momentum + batch * (1 - momentum)``.
"""
from __future__ import annotations


from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext


def batch_norm_composed(ctx: NodeContext) -> Laid | list[Laid | None]:
    training = bool(ctx.attr("training_mode", 0))
    outputs = [o for o in ctx.node.output[1:] if o]
    if outputs and (not training or ctx.opset < 14):
        raise ctx.error("the running mean/var outputs are only supported with training_mode=1 (opset 14+)")
    eps = float(ctx.attr("epsilon", 1e-5))
    rank = ctx.rank(0)
    x, perm = ctx.input_laid(0)
    axis = layout.ir_axis(perm, 1) if rank > 1 else 0
    trailing = rank - 1 - axis

    def per_channel(i: int, label: str) -> Value:
        v = ctx.input(i)
        if trailing == 0:
            return v
        return ctx.reshape(v, [-1, *[1] * trailing], label=label)

    scale, bias = per_channel(1, "scale"), per_channel(2, "bias")
    if training:
        reduce_axes = ctx.ints([a for a in range(rank) if a != axis], label="batch_axes")
        mean = ctx.op("Mean", [x, reduce_axes], {"keep_dims": True, "Tidx": DType.INT32}, label="batch_mean")
        var = ctx.op("Mean", [ctx.op("SquaredDifference", [x, mean], label="deviation2"), reduce_axes],
                     {"keep_dims": True, "Tidx": DType.INT32}, label="batch_var")
    else:
        mean, var = per_channel(3, "mean"), per_channel(4, "var")
    eps_value = ctx.scalar_like(eps, x, label="epsilon")
    mult = ctx.op("Mul", [scale, ctx.op("Rsqrt", [ctx.op("AddV2", [var, eps_value], label="var_eps")],
                                        label="inv_std")], label="mult")
    shift = ctx.op("Sub", [bias, ctx.op("Mul", [mean, mult], label="mean_mult")], label="shift")
    y = ctx.op("AddV2", [ctx.op("Mul", [x, mult], label="scaled"), shift])
    if not training:
        return ctx.laid(y, perm)
    momentum = float(ctx.attr("momentum", 0.9))
    results: list[Laid | None] = [ctx.laid(y, perm)]
    for j, (batch, i, name) in enumerate(((mean, 3, "running_mean"), (var, 4, "running_var")), 1):
        if j >= len(ctx.node.output) or not ctx.node.output[j]:
            results.append(None)
            continue
        flat = ctx.reshape(batch, [-1], label=f"{name}_batch")
        kept = ctx.op("Mul", [ctx.input(i), ctx.scalar_like(momentum, flat, label=f"{name}_momentum")],
                      label=f"{name}_kept")
        new = ctx.op("Mul", [flat, ctx.scalar_like(1.0 - momentum, flat, label=f"{name}_rate")], label=f"{name}_new")
        results.append(ctx.laid(ctx.op("AddV2", [kept, new], label=name), None))
    return results
