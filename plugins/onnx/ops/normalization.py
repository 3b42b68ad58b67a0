"""Layer and instance normalization as plain TF.js ops, in whatever layout the input has."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import laid_const, norm_axis


def normalize(ctx: NodeContext, x: Value, ir_axes: Sequence[int], eps: float) -> Value:
    """(x - mean) / sqrt(var + eps) over ``ir_axes``, the variance from the centred values (as ONNX does)."""
    axes = ctx.ints(sorted(ir_axes), label="axes")
    attrs = {"keep_dims": True, "Tidx": DType.INT32}
    mean = ctx.op("Mean", [x, axes], attrs, label="mean")
    centred = ctx.op("Sub", [x, mean], label="centred")
    var = ctx.op("Mean", [ctx.op("Square", [centred], label="squared"), axes], attrs, label="variance")
    inv = ctx.op("Rsqrt", [ctx.op("AddV2", [var, ctx.scalar_like(eps, x, label="epsilon")], label="var_eps")],
                 label="inv_std")
    return ctx.op("Mul", [centred, inv], label="normalized")


def _affine(ctx: NodeContext, y: Value, scale: Value | None, bias: Value | None) -> Value:
    if scale is not None:
        y = ctx.op("Mul", [y, scale], label="scaled" if bias is not None else None)
    if bias is not None:
        y = ctx.op("AddV2", [y, bias])
    return y


@onnx_op("LayerNormalization", since=17)
def layer_norm(ctx: NodeContext) -> list[Laid | None]:
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", -1)), rank)
    eps = float(ctx.attr("epsilon", 1e-5))
    consts = [ctx.const(i) if ctx.has_input(i) else None for i in (1, 2)]
    computed = any(ctx.has_input(i) and c is None for i, c in zip((1, 2), consts))
    if computed:
        x, perm = ctx.input(0), None
    else:
        x, perm = ctx.input_laid(0)
    ir_axes = [layout.ir_axis(perm, a) for a in range(axis, rank)]
    y = normalize(ctx, x, ir_axes, eps)
    params: list[Value | None] = []
    for i, c in zip((1, 2), consts):
        if not ctx.has_input(i):
            params.append(None)
        elif c is not None:
            params.append(ctx.make_const(laid_const(c, rank, perm).astype(np.float32), label="scale" if i == 1 else "bias"))
        else:
            params.append(ctx.input(i))
    return [ctx.laid(_affine(ctx, y, *params), perm), None, None]


@onnx_op("InstanceNormalization", since=6)
def instance_norm(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    eps = float(ctx.attr("epsilon", 1e-5))
    scale, bias = ctx.require_const(1, "scale"), ctx.require_const(2, "B")
    x, perm = ctx.input_laid(0)
    y = normalize(ctx, x, [layout.ir_axis(perm, a) for a in range(2, rank)], eps)
    shape = (-1,) + (1,) * (rank - 2)
    s = ctx.make_const(laid_const(np.asarray(scale).reshape(shape), rank, perm).astype(np.float32), label="scale")
    b = ctx.make_const(laid_const(np.asarray(bias).reshape(shape), rank, perm).astype(np.float32), label="bias")
    return ctx.laid(_affine(ctx, y, s, b), perm)
