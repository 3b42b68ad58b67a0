"""Normalizations as plain TF.js ops (``Mean``, ``Sub``, ``Square``, ``Rsqrt``, ``Mul``, ``AddV2``), in
whatever layout the input has, so a normalization between convolutions needs no Transpose.

Group normalization (and torch's spelling of it: ``Reshape`` to [N, groups, -1] →
``InstanceNormalization`` → ``Reshape`` back) is computed channels-last, as [N, H·W, groups, C/groups]:
the channel axis of an NHWC tensor splits into groups in place, so no Transpose is needed around it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import DEFAULT_DOMAINS, onnx_op
from .common import laid_const, norm_axis

_KEEP = {"keep_dims": True, "Tidx": DType.INT32}


def moments(ctx: NodeContext, x: Value, ir_axes: Sequence[int], eps: float) -> tuple[Value, Value, Value]:
    """(x - mean) / sqrt(var + eps) over ``ir_axes`` (the variance from the centred values, as ONNX does),
    with the mean and 1 / sqrt(var + eps) kept (reduced axes of size 1)."""
    axes = ctx.ints(sorted(ir_axes), label="axes")
    mean = ctx.op("Mean", [x, axes], _KEEP, label="mean")
    centred = ctx.op("Sub", [x, mean], label="centred")
    var = ctx.op("Mean", [ctx.op("Square", [centred], label="squared"), axes], _KEEP, label="variance")
    inv = ctx.op("Rsqrt", [ctx.op("AddV2", [var, ctx.scalar_like(eps, x, label="epsilon")], label="var_eps")],
                 label="inv_std")
    return ctx.op("Mul", [centred, inv], label="normalized"), mean, inv


def normalize(ctx: NodeContext, x: Value, ir_axes: Sequence[int], eps: float) -> Value:
    """(x - mean) / sqrt(var + eps) over ``ir_axes``."""
    return moments(ctx, x, ir_axes, eps)[0]


def _affine(ctx: NodeContext, y: Value, scale: Value | None, bias: Value | None) -> Value:
    if scale is not None:
        y = ctx.op("Mul", [y, scale], label="scaled" if bias is not None else None)
    if bias is not None:
        y = ctx.op("AddV2", [y, bias])
    return y


def _check_stash(ctx: NodeContext) -> None:
    """stash_type names the precision of the statistics; TF.js computes in float32 whatever it says."""
    stash = int(ctx.attr("stash_type", 1))
    if stash not in (1, 10, 11, 16):  # float, float16, double, bfloat16: float32 is at least as precise
        raise ctx.error(f"stash_type {stash} is not supported")


def _params(ctx: NodeContext, indices: Sequence[int], rank: int, perm: layout.Perm) -> list[Value | None]:
    """Scale/bias inputs broadcasting against an ONNX rank-``rank`` tensor laid out as ``perm``
    (constants permuted in numpy; computed ones only when ``perm`` is None)."""
    params: list[Value | None] = []
    for i in indices:
        if not ctx.has_input(i):
            params.append(None)
            continue
        c = ctx.const(i)
        if c is not None:
            params.append(ctx.make_const(laid_const(c, rank, perm).astype(np.float32), label=f"param{i}"))
        else:
            params.append(ctx.input(i))
    return params


def _trailing(ctx: NodeContext, indices: Sequence[int]) -> tuple[Value, layout.Perm]:
    """Input 0 in its own layout, or ONNX's when a parameter is computed at run time."""
    if any(ctx.has_input(i) and ctx.const(i) is None for i in indices):
        return ctx.input(0), None
    return ctx.input_laid(0)


@onnx_op("LayerNormalization", since=17)
def layer_norm(ctx: NodeContext) -> list[Laid | None]:
    _check_stash(ctx)
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", -1)), rank)
    eps = float(ctx.attr("epsilon", 1e-5))
    x, perm = _trailing(ctx, (1, 2))
    ir_axes = [layout.ir_axis(perm, a) for a in range(axis, rank)]
    y, mean, inv = moments(ctx, x, ir_axes, eps)
    return [ctx.laid(_affine(ctx, y, *_params(ctx, (1, 2), rank, perm)), perm), ctx.laid(mean, perm),
            ctx.laid(inv, perm)]


@onnx_op("RMSNormalization", since=23)
def rms_norm(ctx: NodeContext) -> Laid:
    """x / sqrt(mean(x²) + eps) · scale over the axes from ``axis`` on."""
    _check_stash(ctx)
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", -1)), rank)
    eps = float(ctx.attr("epsilon", 1e-5))
    x, perm = _trailing(ctx, (1,))
    axes = ctx.ints(sorted(layout.ir_axis(perm, a) for a in range(axis, rank)), label="axes")
    ms = ctx.op("Mean", [ctx.op("Square", [x], label="squared"), axes], _KEEP, label="mean_square")
    inv = ctx.op("Rsqrt", [ctx.op("AddV2", [ms, ctx.scalar_like(eps, x, label="epsilon")], label="ms_eps")],
                 label="inv_rms")
    y = ctx.op("Mul", [x, inv], label="normalized")
    return ctx.laid(_affine(ctx, y, _params(ctx, (1,), rank, perm)[0], None), perm)


def _channel_param(ctx: NodeContext, i: int, rank: int, perm: layout.Perm, name: str) -> Value:
    """A per-channel [C] parameter broadcasting against a rank-``rank`` [N, C, ...] tensor laid out as ``perm``."""
    c = ctx.const(i)
    if c is not None:
        return ctx.make_const(laid_const(np.asarray(c).reshape((-1,) + (1,) * (rank - 2)), rank, perm)
                              .astype(np.float32), label=name)
    value = ctx.input(i)
    axis = layout.ir_axis(perm, 1)
    if axis == rank - 1:
        return value
    shape = [-1] + [1] * (rank - 1 - axis)
    return ctx.reshape(value, shape, label=f"{name}_column")


@onnx_op("InstanceNormalization", since=6)
def instance_norm(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    eps = float(ctx.attr("epsilon", 1e-5))
    grouped = _torch_group_norm(ctx, eps)
    if grouped is not None:
        return grouped
    x, perm = ctx.input_laid(0)
    y = normalize(ctx, x, [layout.ir_axis(perm, a) for a in range(2, rank)], eps)
    s = _channel_param(ctx, 1, rank, perm, "scale")
    b = _channel_param(ctx, 2, rank, perm, "bias")
    return ctx.laid(_affine(ctx, y, s, b), perm)


# -- group normalization, channels-last ---------------------------------------------------------------
def _group_norm_cl(ctx: NodeContext, x: Value, shape: Sequence[int | None], groups: int, eps: float,
                   group_scale: Value | None = None, group_bias: Value | None = None) -> Value:
    """Group norm of ``x`` = the ONNX [N, C, s1..sk] tensor laid out channels-last ([N, s1..sk, C]).

    Normalized as [N, s1·…·sk, groups, C/groups] over axes 1 and 3; ``group_scale``/``group_bias``
    ([groups, 1]) apply per group before the reshape back.
    """
    channels = shape[1]
    per = channels // groups
    spatial = shape[2:]
    size = int(np.prod(spatial)) if all(d is not None for d in spatial) else None
    if size is not None:
        target: Value = ctx.ints([-1, size, groups, per], label="grouped_shape")
    else:
        batch = ctx.run_time_dims(x, 0, 1, label="batch")
        target = ctx.concat_shape([batch, [-1, groups, per]], label="grouped_shape")
    g = ctx.reshape(x, target, label="grouped")
    g.shape = (shape[0], size, groups, per)  # the rank, also when the target is computed at run time
    y = _affine(ctx, normalize(ctx, g, [1, 3], eps), group_scale, group_bias)
    if size is not None:
        back: Value = ctx.ints([-1, *spatial, channels], label="back_shape")
    else:
        back = ctx.shape_of(x, label="back_shape")
    out = ctx.reshape(y, back, label="ungrouped")
    out.shape = (shape[0], *spatial, channels)
    return out


def _group_param(ctx: NodeContext, i: int, groups: int, name: str) -> Value | None:
    """A per-group [groups] parameter as [groups, 1] (against [..., groups, C/groups])."""
    if not ctx.has_input(i):
        return None
    c = ctx.const(i)
    if c is not None:
        return ctx.make_const(np.asarray(c, np.float32).reshape(groups, 1), label=name)
    return ctx.reshape(ctx.input(i), [groups, 1], label=f"{name}_column")


def _channels_last_input(ctx: NodeContext, rank: int) -> Value:
    cl = layout.channels_last(rank)
    return ctx.input_as(0, cl)


@onnx_op("GroupNormalization", since=18)
def group_norm(ctx: NodeContext) -> Laid:
    """Opset 18: scale and bias per group; opset 21: per channel."""
    _check_stash(ctx)
    rank = ctx.rank(0)
    shape = ctx.shape(0)
    groups = int(ctx.attr("num_groups"))
    eps = float(ctx.attr("epsilon", 1e-5))
    if rank < 3 or shape[1] is None:
        raise ctx.error("group normalization needs a [N, C, ...] input with a static channel count")
    if shape[1] % groups:
        raise ctx.error(f"{shape[1]} channels do not split into {groups} groups")
    x = _channels_last_input(ctx, rank)
    if ctx.opset < 21:
        y = _group_norm_cl(ctx, x, shape, groups, eps, _group_param(ctx, 1, groups, "scale"),
                           _group_param(ctx, 2, groups, "bias"))
    else:
        y = _group_norm_cl(ctx, x, shape, groups, eps)
        y = _affine(ctx, y, ctx.input(1), ctx.input(2))  # [C]: broadcasts against the last axis
    return ctx.laid(y, layout.channels_last(rank))


def _torch_group_norm(ctx: NodeContext, eps: float) -> Laid | None:
    """torch's GroupNorm export, ``InstanceNormalization(Reshape(x, [N, G, -1]))`` of a channels-last
    ``x``: computed channels-last from ``x`` itself (the Transpose the Reshape needed is then unused),
    and given back in ONNX's [N, G, L] order, which the ``Reshape`` back to x's shape undoes (the
    graph passes cancel Reshape pairs and Transpose pairs). None when the pattern does not hold."""
    source = ctx.producer(0)
    if source is None or source.op_type != "Reshape" or source.domain not in DEFAULT_DOMAINS:
        return None
    t = ctx.tensor_named(source.input[0])
    here = ctx.shape(0)
    if t is None or t.value is None or t.shape is None or here is None or len(here) != 3:
        return None
    rank = len(t.shape)
    if rank < 3 or t.perm != layout.channels_last(rank) or t.shape[1] is None:
        return None
    channels, groups = t.shape[1], here[1]
    if groups is None or channels % groups:
        return None
    if all(d is not None for d in t.shape[2:]):
        if here[2] is None or here[2] * groups != int(np.prod(t.shape[1:])) or here[0] != t.shape[0]:
            return None
    elif not _splits_into_groups(ctx, source, groups, t.shape[0]):
        return None
    scale = _group_param(ctx, 1, groups, "scale")
    bias = _group_param(ctx, 2, groups, "bias")
    y = _group_norm_cl(ctx, t.value, t.shape, groups, eps, scale, bias)
    nchw = ctx.op("Transpose", [y, ctx.ints(layout.inverse(layout.channels_last(rank)), label="to_onnx_perm")],
                  {"Tperm": DType.INT32}, label="to_onnx_layout")
    if here[2] is not None:
        target: Value | list[int] = [-1, groups, here[2]]
    elif here[0] is not None:
        target = [here[0], groups, -1]
    else:  # a dynamic batch and image size: the batch read from y
        target = ctx.concat_shape([ctx.run_time_dims(y, 0, 1, label="batch"), [groups, -1]], label="groups_shape")
    out = ctx.reshape(nchw, target, label="groups")
    out.shape = tuple(here)
    return ctx.laid(out, None)


def _splits_into_groups(ctx: NodeContext, reshape, groups: int, batch: int | None) -> bool:  # noqa: ANN001 - a NodeProto
    """The ``Reshape`` (ONNX node) targets the constant [0, G, -1] (0 copies the batch) or [N, G, -1]:
    what torch exports, and the only check possible when the image size is unknown."""
    target = ctx.tensor_named(reshape.input[1]) if len(reshape.input) > 1 else None
    if target is None or target.const is None:
        return False
    allowzero = any(a.name == "allowzero" and a.i for a in reshape.attribute)
    first, *rest = [int(v) for v in np.ravel(target.const)] or [None]
    copies_batch = (first == 0 and not allowzero) or (batch is not None and first == batch)
    return copies_batch and rest == [groups, -1]


# -- other normalizations -----------------------------------------------------------------------------
@onnx_op("LpNormalization", since=1)
def lp_norm(ctx: NodeContext) -> Laid:
    """x / ||x||_p along one axis (p = 1 or 2), in the input's layout."""
    p = int(ctx.attr("p", 2))
    if p not in (1, 2):
        raise ctx.error(f"p={p} is not supported (1 and 2 are)")
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", -1)), rank)
    x, perm = ctx.input_laid(0)
    axes = ctx.ints([layout.ir_axis(perm, axis)], label="axis")
    if p == 1:
        norm = ctx.op("Sum", [ctx.op("Abs", [x], label="abs"), axes], _KEEP, label="norm")
    else:
        norm = ctx.op("Sqrt", [ctx.op("Sum", [ctx.op("Square", [x], label="squared"), axes], _KEEP,
                                      label="sum_squares")], label="norm")
    # onnxruntime gives 0 for an all-zero vector (0/0): divide by 1 there.
    zero = ctx.op("Equal", [norm, ctx.scalar_like(0.0, x, label="zero")], dtype=DType.BOOL, label="norm_is_zero")
    safe = ctx.op("SelectV2", [zero, ctx.scalar_like(1.0, x, label="one"), norm], {"T": norm.dtype},
                  dtype=norm.dtype, label="safe_norm")
    return ctx.laid(ctx.op("RealDiv", [x, safe], label="normalized"), perm)


@onnx_op("MeanVarianceNormalization", since=9)
def mean_variance_norm(ctx: NodeContext) -> Laid:
    """(x - mean) / (sqrt(var) + 1e-9) over ``axes`` (default N, H, W), as ONNX's function body."""
    rank = ctx.rank(0)
    axes = [norm_axis(ctx, int(a), rank) for a in ctx.attr("axes", [0, 2, 3])]
    x, perm = ctx.input_laid(0)
    ir = ctx.ints(sorted(layout.ir_axis(perm, a) for a in axes), label="axes")
    mean = ctx.op("Mean", [x, ir], _KEEP, label="mean")
    var = ctx.op("Sub", [ctx.op("Mean", [ctx.op("Square", [x], label="squared"), ir], _KEEP, label="mean_square"),
                         ctx.op("Square", [mean], label="square_mean")], label="variance")
    std = ctx.op("AddV2", [ctx.op("Sqrt", [var], label="std"), ctx.scalar_like(1e-9, x, label="epsilon")],
                 label="std_eps")
    return ctx.laid(ctx.op("RealDiv", [ctx.op("Sub", [x, mean], label="centred"), std], label="normalized"), perm)


@onnx_op("LRN", since=1)
def lrn(ctx: NodeContext) -> Laid:
    """x / (bias + alpha / size · Σ x² over ``size`` neighbouring channels) ^ beta.

    The channel window sum is an ``AvgPool`` over [N, H·W, C, 1] (the channels as the pool's height),
    times ``size``: TF.js's own ``LRN`` kernel centres an even window differently from ONNX.
    """
    size = int(ctx.attr("size"))
    alpha, beta, bias = float(ctx.attr("alpha", 1e-4)), float(ctx.attr("beta", 0.75)), float(ctx.attr("bias", 1.0))
    rank = ctx.rank(0)
    shape = ctx.shape(0)
    if rank < 3 or shape[1] is None:
        raise ctx.error("LRN needs a [N, C, ...] input with a static channel count")
    x = _channels_last_input(ctx, rank)
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2  # ONNX: channels c - floor((size-1)/2) .. c + ceil((size-1)/2)
    columns = ctx.reshape(ctx.op("Square", [x], label="squared"), [-1, 1, shape[1], 1], label="columns")
    padded = ctx.pad(columns, [[0, 0], [0, 0], [lo, hi], [0, 0]], label="padded")
    window = ctx.op("AvgPool", [padded], {"ksize": [1, 1, size, 1], "strides": [1, 1, 1, 1], "padding": "VALID",
                                          "data_format": "NHWC"}, label="window_mean")
    dims = ctx.shape_of(x, label="input_shape")
    window = ctx.reshape(window, dims, label="window")
    scaled = ctx.op("AddV2", [ctx.op("Mul", [window, ctx.scalar_like(alpha, x, label="alpha")], label="alpha_sum"),
                              ctx.scalar_like(bias, x, label="bias")], label="base")
    denom = ctx.op("Pow", [scaled, ctx.scalar_like(beta, x, label="beta")], label="denominator")
    return ctx.laid(ctx.op("RealDiv", [x, denom], label="normalized"), layout.channels_last(rank))
