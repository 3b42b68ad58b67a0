"""SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss as plain TF.js ops.

Both pick, for every sample (and spatial position), the log-probability of its label out of the
class axis (axis 1). The scores become rows [N * d1..dk, C], so the pick is a one-hot row of the
labels (``Equal`` against the class numbers; TF.js-wasm's float ``OneHot`` is wrong) times the
log-probabilities, summed over the row: no gather with batch dims. An ignored label
(``ignore_index``, which may be negative or beyond the classes) is replaced by class 0 and then
weighted 0, so no index is ever out of range. Class weights are picked by the same one-hot rows. ``mean`` divides by the sum of the picked weights (the count of non-ignored labels
without weights), as the spec says.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op
from .common import reshape_to

_REDUCTIONS = ("none", "sum", "mean")


def _rows(ctx: NodeContext) -> tuple[Value, list[int | None]]:
    """Input 0 ([N, C, d1..dk]) as rows [N * d1..dk, C], in the labels' element order.

    Through [N, C, D] and a rank-3 Transpose: TF.js-wasm computes rank-7 Transposes and broadcasts wrong.
    Returns the rows and the [N, D, C] shape they came from.
    """
    shape = ctx.shape(0)
    n, c, rest = shape[0], shape[1], shape[2:]
    if c is None:
        raise ctx.error("the number of classes (dimension 1 of the scores) must be static")
    if not rest:
        return ctx.input(0), [n, 1, c]
    d = int(np.prod(rest)) if all(r is not None for r in rest) else None
    x = reshape_to(ctx, ctx.input_for_reshape(0), [n, c, d], label="ncd")
    x = ctx.op("Transpose", [x, ctx.ints([0, 2, 1], label="ndc_perm")], {"Tperm": DType.INT32}, label="ndc")
    return reshape_to(ctx, x, [None, c], label="rows"), [n, d, c]


def _unrows(ctx: NodeContext, rows: Value, ndc: list[int | None]) -> Value:
    """Rows [N * D, C] back to ONNX's [N, C, d1..dk]."""
    shape = ctx.shape(0)
    if len(shape) == 2:
        return rows
    x = reshape_to(ctx, rows, ndc, label="back_ndc")
    x = ctx.op("Transpose", [x, ctx.ints([0, 2, 1], label="ncd_perm")], {"Tperm": DType.INT32}, label="back_ncd")
    return reshape_to(ctx, x, shape, label="back")


def _loss(ctx: NodeContext, log_prob: Value) -> Value:
    """The reduced loss from ``log_prob`` laid out [N, d1..dk, C] and the labels (input 1), weights (input 2)."""
    reduction = ctx.attr("reduction", "mean")
    if reduction not in _REDUCTIONS:
        raise ctx.error(f"reduction {reduction!r} is not one of {', '.join(_REDUCTIONS)}")
    classes = ctx.shape(0)[1]
    labels = ctx.input(1)
    if len(ctx.shape(1)) != 1:
        labels = ctx.reshape(labels, [-1], label="labels_flat")
    labels = ctx.cast(labels, DType.INT32, label="labels_int")
    valid = None
    ignore = ctx.attr("ignore_index")
    if ignore is not None:
        ignored = ctx.int32(ignore, label="ignore_index")
        valid = ctx.op("NotEqual", [labels, ignored], {"T": DType.INT32}, dtype=DType.BOOL, label="valid")
        labels = ctx.op("SelectV2", [valid, labels, ctx.int32(0, label="class0")],
                        {"T": DType.INT32}, dtype=DType.INT32, label="safe_labels")
    # Equal against the class numbers, not OneHot: TF.js-wasm's float OneHot is wrong.
    expanded = ctx.op("ExpandDims", [labels, ctx.int32(-1, label="label_axis")],
                      {"Tdim": DType.INT32}, dtype=DType.INT32, label="labels_column")
    hit = ctx.op("Equal", [expanded, ctx.make_const(np.arange(classes, dtype=np.int32), label="classes")],
                 {"T": DType.INT32}, dtype=DType.BOOL, label="is_label")
    one_hot = ctx.cast(hit, DType.FLOAT32, label="one_hot")
    last = ctx.ints([-1], label="class_axis")
    picked = ctx.op("Sum", [ctx.op("Mul", [one_hot, log_prob], label="picked_all"), last],
                    {"keep_dims": False, "Tidx": DType.INT32}, label="picked")
    weight: Value | None = None
    if ctx.has_input(2):
        weight = ctx.op("Sum", [ctx.op("Mul", [one_hot, ctx.input(2)], label="weights_all"), last],
                        {"keep_dims": False, "Tidx": DType.INT32}, label="weight")
    if valid is not None:
        keep = ctx.cast(valid, DType.FLOAT32, label="keep")
        weight = keep if weight is None else ctx.op("Mul", [weight, keep], label="weight_kept")
    loss = ctx.op("Neg", [picked], label="nll")
    if weight is not None:
        loss = ctx.op("Mul", [loss, weight], label="weighted")
    if reduction == "none":
        return loss if len(ctx.shape(1)) == 1 else reshape_to(ctx, loss, ctx.shape(1), label="loss_shape")
    every = ctx.ints([0], label="all_axes")
    total = ctx.op("Sum", [loss, every], {"keep_dims": False, "Tidx": DType.INT32}, label="total")
    if reduction == "sum":
        return total
    if weight is None:
        count = float(np.prod(ctx.shape(1))) if all(d is not None for d in ctx.shape(1)) else None
        if count is None:
            size = ctx.op("Size", [loss], {"out_type": DType.INT32}, dtype=DType.INT32, label="count_int")
            denom = ctx.cast(size, DType.FLOAT32, label="count")
        else:
            denom = ctx.make_const(np.float32(count), label="count")
    else:
        denom = ctx.op("Sum", [weight, every], {"keep_dims": False, "Tidx": DType.INT32}, label="weight_total")
    return ctx.op("RealDiv", [total, denom], label="mean")


def _check_float(ctx: NodeContext) -> None:
    if ctx.dtype(0) != DType.FLOAT32:
        raise ctx.error(f"the scores must be floats, got {ctx.dtype(0)}")
    if ctx.has_input(2) and ctx.dtype(2) != DType.FLOAT32:
        raise ctx.error("the class weights must be floats")


def _wants(ctx: NodeContext, j: int) -> bool:
    return len(ctx.node.output) > j and bool(ctx.node.output[j])


@onnx_op("SoftmaxCrossEntropyLoss", since=12)
def softmax_cross_entropy(ctx: NodeContext) -> list[Value | None]:
    _check_float(ctx)
    rows, ndc = _rows(ctx)
    log_prob = ctx.op("LogSoftmax", [rows], label="log_prob")
    return [_loss(ctx, log_prob), _unrows(ctx, log_prob, ndc) if _wants(ctx, 1) else None]


@onnx_op("NegativeLogLikelihoodLoss", since=12)
def negative_log_likelihood(ctx: NodeContext) -> Value:
    _check_float(ctx)
    rows, _ = _rows(ctx)
    return _loss(ctx, rows)
