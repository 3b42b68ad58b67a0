"""Activations and softmax: all layout-agnostic except softmax's axis, which is remapped."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import binary, norm_axis, reshape_to, unary

_SIMPLE = {"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softplus": "Softplus"}


@onnx_op(*_SIMPLE)
def simple_activation(ctx: NodeContext) -> Laid:
    return unary(ctx, _SIMPLE[ctx.op_type])


@onnx_op("LeakyRelu")
def leaky_relu(ctx: NodeContext) -> Laid:
    return unary(ctx, "LeakyRelu", {"alpha": float(ctx.attr("alpha", 0.01))})


@onnx_op("Elu")
def elu(ctx: NodeContext) -> Laid:
    alpha = float(ctx.attr("alpha", 1.0))
    if alpha == 1.0:
        return unary(ctx, "Elu")
    x, perm = ctx.input_laid(0)  # alpha * (exp(x) - 1) below zero: scale Elu's negative part
    elu = ctx.op("Elu", [x], label="elu")
    neg = ctx.op("Minimum", [elu, ctx.scalar_like(0.0, x, label="zero")], label="negative")
    scaled = ctx.op("Mul", [neg, ctx.scalar_like(alpha - 1.0, x, label="alpha_minus_1")], label="scaled")
    return ctx.laid(ctx.op("AddV2", [elu, scaled]), perm)


@onnx_op("PRelu")
def prelu(ctx: NodeContext) -> Laid:
    return binary(ctx, "Prelu")


def _clip_bounds(ctx: NodeContext) -> tuple[float | None, float | None]:
    lowest, highest = float(np.finfo(np.float32).min), float(np.finfo(np.float32).max)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
    else:
        lo = ctx.require_const(1, "the minimum").item() if ctx.has_input(1) else None
        hi = ctx.require_const(2, "the maximum").item() if ctx.has_input(2) else None
    lo = None if lo is None or lo <= lowest else lo
    hi = None if hi is None or hi >= highest else hi
    return lo, hi


@onnx_op("Clip")
def clip(ctx: NodeContext) -> Laid:
    """Relu6 for [0, 6], Relu for [0, inf), ClipByValue, or one-sided Maximum/Minimum."""
    lo, hi = _clip_bounds(ctx)
    x, perm = ctx.input_laid(0)
    if lo == 0 and hi == 6:
        return ctx.laid(ctx.op("Relu6", [x]), perm)
    if lo == 0 and hi is None and x.dtype == DType.FLOAT32:
        return ctx.laid(ctx.op("Relu", [x]), perm)
    if lo is not None and hi is not None:
        out = ctx.op("ClipByValue", [x, ctx.scalar_like(lo, x, label="min"), ctx.scalar_like(hi, x, label="max")])
    elif lo is not None:
        out = ctx.op("Maximum", [x, ctx.scalar_like(lo, x, label="min")])
    elif hi is not None:
        out = ctx.op("Minimum", [x, ctx.scalar_like(hi, x, label="max")])
    else:
        return ctx.laid(x, perm)
    return ctx.laid(out, perm)


@onnx_op("HardSigmoid")
def hard_sigmoid(ctx: NodeContext) -> Laid:
    """max(0, min(1, alpha * x + beta))."""
    alpha, beta = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    x, perm = ctx.input_laid(0)
    y = ctx.op("Mul", [x, ctx.scalar_like(alpha, x, label="alpha")], label="scale")
    y = ctx.op("AddV2", [y, ctx.scalar_like(beta, x, label="beta")], label="shift")
    y = ctx.op("ClipByValue", [y, ctx.scalar_like(0.0, x, label="zero"), ctx.scalar_like(1.0, x, label="one")])
    return ctx.laid(y, perm)


@onnx_op("HardSwish", since=14)
def hard_swish(ctx: NodeContext) -> Laid:
    """x * relu6(x + 3) / 6."""
    x, perm = ctx.input_laid(0)
    y = ctx.op("AddV2", [x, ctx.scalar_like(3.0, x, label="three")], label="plus3")
    y = ctx.op("Relu6", [y], label="relu6")
    y = ctx.op("Mul", [x, y], label="gate")
    return ctx.laid(ctx.op("Mul", [y, ctx.scalar_like(1.0 / 6.0, x, label="sixth")]), perm)


def _softmax_last(ctx: NodeContext, tf_op: str, axis: int) -> Laid:
    """Softmax over one ONNX axis: TF.js reduces the last IR axis, so lay the tensor out with ``axis`` last."""
    rank = ctx.rank(0)
    t = ctx.tensor(0)
    current = layout.full(t.perm, rank) if t.value is not None else tuple(range(rank))
    if current[-1] == axis:
        x, perm = ctx.input_laid(0)
    else:
        perm = layout.normalize([a for a in current if a != axis] + [axis])
        x = ctx.input_as(0, perm)
    return ctx.laid(ctx.op(tf_op, [x]), perm)


def _softmax_2d(ctx: NodeContext, tf_op: str, axis: int) -> Laid:
    """Opsets < 13: softmax over the input flattened to 2-D at ``axis``."""
    shape = ctx.shape(0)
    inner = shape[axis:] if shape is not None else None
    if inner is None or any(d is None for d in inner):
        raise ctx.error("the dimensions from the softmax axis on must be static")
    x = ctx.input_for_reshape(0)
    flat = reshape_to(ctx, x, [None, int(np.prod(inner))], label="flatten")
    y = ctx.op(tf_op, [flat], label="softmax")
    return ctx.laid(reshape_to(ctx, y, shape), None)


@onnx_op("Softmax", "LogSoftmax", since=1)
def softmax_v1(ctx: NodeContext) -> Laid:
    tf_op = "Softmax" if ctx.op_type == "Softmax" else "LogSoftmax"
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", 1)), rank)
    if axis == rank - 1:
        return _softmax_last(ctx, tf_op, axis)
    return _softmax_2d(ctx, tf_op, axis)


@onnx_op("Softmax", "LogSoftmax", since=13)
def softmax_v13(ctx: NodeContext) -> Laid:
    tf_op = "Softmax" if ctx.op_type == "Softmax" else "LogSoftmax"
    return _softmax_last(ctx, tf_op, norm_axis(ctx, int(ctx.attr("axis", -1)), ctx.rank(0)))


