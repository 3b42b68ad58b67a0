"""Activations and softmax: all layout-agnostic except softmax's axis, which is remapped."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.ops.special_values import KEPT_SUFFIX
from tfjsconv.passes.prelu import tiles_trailing_axes

from .. import layout
from ..context import Laid, NodeContext
from ..layout import Perm
from ..mapping import onnx_op
from .common import axis_last, common_layout, laid_const, norm_axis, reshape_to, unary

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


def _laid_slope_shape(ctx: NodeContext, perm: Perm) -> tuple[int, ...] | None:
    """The slope's shape as broadcast against X in X's layout ``perm`` (None while a size is unknown); refuses a
    slope that does not broadcast to X one way, as ONNX says."""
    rank = ctx.rank(0)
    x_shape = layout.permute(ctx.shape(0), perm)
    constant = ctx.const(1)
    slope_shape = constant.shape if constant is not None else ctx.shape(1)
    if slope_shape is not None and len(slope_shape) > rank:
        raise ctx.error(f"the slope has more dimensions ({len(slope_shape)}) than X ({rank}); ONNX broadcasts it "
                        "to X's shape only")
    if slope_shape is None or None in slope_shape or x_shape is None:
        return None
    known = layout.permute((1,) * (rank - len(slope_shape)) + tuple(slope_shape), perm)
    if any(a != 1 and d is not None and a != d for a, d in zip(known, x_shape)):
        raise ctx.error(f"the slope's shape {list(slope_shape)} does not broadcast to X's {list(ctx.shape(0))}")
    return known


def _slope_tiling_x(ctx: NodeContext, x: Value, alpha: Value, perm: Perm) -> Value:
    """The slope as TF.js's wasm ``Prelu`` needs it: that kernel reads ``alpha[i % alpha.size]`` without
    broadcasting, so a constant slope that is neither one value nor ``x``'s trailing axes (``[C, 1, 1]`` on an NCHW
    ``x``, ``[H, 1]``) is broadcast to ``x``'s axes from its first non-1 axis on (constant folding stores it when
    small)."""
    rank = ctx.rank(0)
    x_shape = layout.permute(ctx.shape(0), perm)
    known = _laid_slope_shape(ctx, perm)
    if known is not None and tiles_trailing_axes(known, x_shape):
        return alpha
    if known is None:  # a constant slope's shape is known; only X's may not be
        return ctx.op("BroadcastTo", [alpha, ctx.shape_of(x, label="slope_shape")], {"Tidx": DType.INT32},
                      label="slope_broadcast")
    first = next(k for k, d in enumerate(known) if d != 1)
    tail = x_shape[first:]
    slope = ctx.make_const(laid_const(ctx.const(1), rank, perm).reshape(known[first:]), label="slope")
    target = ctx.ints(tail, label="slope_shape") if None not in tail else \
        ctx.run_time_dims(x, first, label="slope_shape")
    return ctx.op("BroadcastTo", [slope, target], {"Tidx": DType.INT32}, label="slope_broadcast")


@onnx_op("PRelu")
def prelu(ctx: NodeContext) -> Laid:
    """onnxruntime's ``x < 0 ? slope·x : x``. TF.js's ``Prelu`` computes that for a float32 X and a finite constant
    slope (with the slope tiled as its wasm kernel reads it); otherwise it does not (wasm gives NaN for x >= 0 where
    the slope is NaN or ±Inf; it answers float32 for integers), so every other PRelu — a NaN/±Inf slope, a slope
    computed at run time (it may hold them), integer X — is that select, which broadcasts the slope itself."""
    (x, alpha), perm = common_layout(ctx, [0, 1])
    constant = ctx.const(1)
    if x.dtype == DType.FLOAT32 and constant is not None and np.isfinite(constant).all():
        return ctx.laid(ctx.op("Prelu", [x, _slope_tiling_x(ctx, x, alpha, perm)]), perm)
    _laid_slope_shape(ctx, perm)  # the same refusals
    return ctx.laid(_select_prelu(ctx, x, ctx.op("Mul", [x, alpha], label="scaled")), perm)


def _select_prelu(ctx: NodeContext, x: Value, scaled: Value) -> Value:
    """``SelectV2(x < 0, scaled, x)``; of rank 5 or more over the flattened tensors, reshaped back (webgl's select
    runs up to rank 4)."""
    shape = None
    if ctx.rank(0) >= 5:
        shape = ctx.shape_of(x, label="x_shape")
        x = ctx.reshape(x, [-1], label="x_flat")
        scaled = ctx.reshape(scaled, [-1], label="scaled_flat")
    negative = ctx.op("Less", [x, ctx.scalar_like(0, x, label="zero")], dtype=DType.BOOL, label="negative")
    if shape is None:
        return ctx.op("SelectV2", [negative, scaled, x], {"T": x.dtype}, dtype=x.dtype)
    y = ctx.op("SelectV2", [negative, scaled, x], {"T": x.dtype}, dtype=x.dtype, label="selected")
    return ctx.reshape(y, shape, label=None)


def _clip_bounds(ctx: NodeContext) -> tuple[float | None, float | None]:
    lowest, highest = float(np.finfo(np.float32).min), float(np.finfo(np.float32).max)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
    else:
        lo = ctx.const(1).item() if ctx.has_input(1) else None
        hi = ctx.const(2).item() if ctx.has_input(2) else None
    # a NaN bound clips nothing, as in onnxruntime (TF.js's Maximum/Minimum would make every output NaN)
    lo = None if lo is None or np.isnan(lo) or lo <= lowest else lo
    hi = None if hi is None or np.isnan(hi) or hi >= highest else hi
    return lo, hi


def _float_clip_bounds(ctx: NodeContext) -> tuple[float | None, float | None]:
    """(lo, hi) of a float Clip as onnxruntime applies them: a missing bound is the type's lowest/highest
    finite value (ONNX's default), so ±Inf comes out ∓FLT_MAX; an infinite bound clips nothing, nor a NaN
    one (onnxruntime's max(x, NaN) is x). None: no clipping on that side."""
    highest = float(np.finfo(np.float32).max)
    if ctx.opset < 11:
        raw = (ctx.attr("min"), ctx.attr("max"))
    else:
        raw = tuple(ctx.const(i).item() if ctx.has_input(i) else None for i in (1, 2))
    bounds = [default if value is None else (None if np.isnan(value) or np.isinf(value) else float(value))
              for value, default in zip(raw, (-highest, highest))]
    return bounds[0], bounds[1]


def _clip_at_run_time(ctx: NodeContext) -> Laid:
    """min(max(x, lo), hi) with bounds computed at run time (a bound above the other gives ``hi``, as
    ONNX says; TF.js's ClipByValue would throw there)."""
    x, perm = ctx.input_laid(0)
    out = x
    is_float = x.dtype is not None and np.issubdtype(x.dtype.numpy, np.floating)
    for i, op, label in ((1, "Maximum", "at_least_min"), (2, "Minimum", None)):
        if ctx.has_input(i):
            bound = ctx.input(i)
            bound = ctx.cast(bound, x.dtype, label=f"bound{i}")
        elif is_float:  # a missing float bound is ∓FLT_MAX in onnxruntime: ±Inf comes out ±FLT_MAX
            bound = ctx.scalar_like(float(np.finfo(np.float32).max) * (1 if i == 2 else -1), x, label=f"default{i}")
        else:
            continue
        out = ctx.op(op, [out, bound], label=label if ctx.has_input(2) or is_float else None)
    return ctx.laid(out, perm)


def _int_bounds(ctx: NodeContext, lo: float | None, hi: float | None, x: Value) -> tuple[int | None, int | None]:
    """(lo, hi) for integer ``x`` (int32 in TF.js, int64 too): a bound past the type's end it guards clips
    nothing (None); one past the other end makes every output that bound, so it must still fit (a lower bound
    above the range is exact as the range's top only when ``hi`` brings the outputs back into it)."""
    if x.dtype is None:
        return lo, hi
    info = np.iinfo(x.dtype.numpy)
    if (hi is not None and hi < info.min) or (lo is not None and lo > info.max and (hi is None or hi > info.max)):
        raise ctx.error(f"Clip bounds [{lo}, {hi}] make outputs outside the {x.dtype.short_name} range TF.js holds",
                        hint="TF.js has no int64; change the model so the bounds fit in int32")
    lo = None if lo is None or lo <= info.min else min(lo, info.max)
    hi = None if hi is None or hi >= info.max else hi
    return lo, hi


@onnx_op("Clip")
def clip(ctx: NodeContext) -> Laid:
    """Relu6 for [0, 6], Relu for [0, inf), ClipByValue, or one-sided Maximum/Minimum."""
    if ctx.opset >= 11 and any(ctx.has_input(i) and ctx.const(i) is None for i in (1, 2)):
        return _clip_at_run_time(ctx)
    x, perm = ctx.input_laid(0)
    is_float = x.dtype is None or np.issubdtype(x.dtype.numpy, np.floating)
    lo, hi = _float_clip_bounds(ctx) if is_float else _clip_bounds(ctx)
    if not is_float:  # integer data (TF.js holds int64 as int32): a bound past the range clips nothing or refuses
        lo, hi = _int_bounds(ctx, lo, hi, x)
    if lo == 0 and hi == 6 and is_float:
        return ctx.laid(ctx.op("Relu6", [x]), perm)
    if lo == 0 and hi is None and x.dtype == DType.FLOAT32:
        return ctx.laid(ctx.op("Relu", [x]), perm)
    if lo is not None and hi is not None and lo <= hi and is_float:  # wasm's int32 ClipByValue is wrong
        out = ctx.op("ClipByValue", [x, ctx.scalar_like(lo, x, label="min"), ctx.scalar_like(hi, x, label="max")])
    elif lo is not None and hi is not None:  # min > max: every value becomes max (ClipByValue would throw);
        # integers: Maximum then Minimum, which every backend runs on int32
        out = ctx.op("Minimum", [ctx.op("Maximum", [x, ctx.scalar_like(lo, x, label="min")], label="at_least_min"),
                                 ctx.scalar_like(hi, x, label="max")])
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
    """x * (relu6(x + 3) / 6): the gate scaled before it multiplies x, as onnxruntime's x * clip(x / 6 + 0.5, 0, 1),
    so that x past FLT_MAX / 6 stays finite (x * 6 / 6 overflowed to Inf)."""
    x, perm = ctx.input_laid(0)
    y = ctx.op("AddV2", [x, ctx.scalar_like(3.0, x, label="three")], label="plus3")
    y = ctx.op("Relu6", [y], label="relu6")
    y = ctx.op("Mul", [y, ctx.scalar_like(1.0 / 6.0, x, label="sixth")], label="gate")
    return ctx.laid(ctx.op("Mul", [x, y]), perm)


def _softmax_last(ctx: NodeContext, tf_op: str, axis: int) -> Laid:
    """Softmax over one ONNX axis: TF.js reduces the last IR axis, so lay the tensor out with ``axis`` last."""
    x, perm = axis_last(ctx, axis)
    return ctx.laid(ctx.op(tf_op, [x], label=_softmax_label(tf_op)), perm)


def _softmax_label(tf_op: str) -> str | None:
    """The TF.js Softmax is onnxruntime's on every value: a row holding NaN or +Inf is all NaN in both (TF makes
    it NaN only there). Named as an op ``--exact_special_values`` keeps, so that flag leaves it alone and the
    special-values line names only webgl's ±1e20 rows, the deviation from onnxruntime too
    (tests/test_onnx_special_values.py)."""
    return f"softmax{KEPT_SUFFIX}" if tf_op == "Softmax" else None


def _softmax_2d(ctx: NodeContext, tf_op: str, axis: int) -> Laid:
    """Opsets < 13: softmax over the input flattened to 2-D at ``axis``."""
    shape = ctx.shape(0)
    inner = shape[axis:] if shape is not None else None
    if inner is None or any(d is None for d in inner):
        raise ctx.error("the dimensions from the softmax axis on must be static")
    x = ctx.input_for_reshape(0)
    flat = reshape_to(ctx, x, [None, int(np.prod(inner))], label="flatten")
    y = ctx.op(tf_op, [flat], label=_softmax_label(tf_op) or "softmax")
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


@onnx_op("Gelu", since=20)
def gelu(ctx: NodeContext) -> Laid:
    """0.5 x (1 + erf(x / sqrt 2)), or with approximate="tanh" 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x, perm = ctx.input_laid(0)
    if ctx.attr("approximate", "none") == "tanh":
        cube = ctx.op("Mul", [ctx.op("Square", [x], label="square"), x], label="cube")
        inner = ctx.op("AddV2", [x, ctx.op("Mul", [cube, ctx.scalar_like(0.044715, x, label="c")], label="cube_c")],
                       label="inner")
        inner = ctx.op("Mul", [inner, ctx.scalar_like(float(np.sqrt(2.0 / np.pi)), x, label="k")], label="scaled")
        core = ctx.op("Tanh", [inner], label="tanh")
    else:
        core = ctx.op("Erf", [ctx.op("Mul", [x, ctx.scalar_like(float(1.0 / np.sqrt(2.0)), x, label="rsqrt2")],
                                     label="scaled")], label="erf")
    one_plus = ctx.op("AddV2", [core, ctx.scalar_like(1.0, x, label="one")], label="one_plus")
    half_x = ctx.op("Mul", [x, ctx.scalar_like(0.5, x, label="half")], label="half_x")
    return ctx.laid(ctx.op("Mul", [half_x, one_plus]), perm)


@onnx_op("Selu", since=6)
def selu(ctx: NodeContext) -> Laid:
    alpha, gamma = float(ctx.attr("alpha", 1.67326319217681884765625)), float(ctx.attr("gamma", 1.05070102214813232421875))
    if abs(alpha - 1.6732632423543772) < 1e-6 and abs(gamma - 1.0507009873554805) < 1e-6:
        return unary(ctx, "Selu")
    x, perm = ctx.input_laid(0)  # gamma * (alpha * elu(x) below zero, x above)
    elu = ctx.op("Elu", [x], label="elu")
    neg = ctx.op("Mul", [ctx.op("Minimum", [elu, ctx.scalar_like(0.0, x, label="zero")], label="negative"),
                         ctx.scalar_like(alpha, x, label="alpha")], label="scaled_negative")
    pos = ctx.op("Relu", [x], label="positive")
    return ctx.laid(ctx.op("Mul", [ctx.op("AddV2", [pos, neg], label="sum"), ctx.scalar_like(gamma, x, label="gamma")]),
                    perm)


@onnx_op("Mish", since=18)
def mish(ctx: NodeContext) -> Laid:
    x, perm = ctx.input_laid(0)
    return ctx.laid(ctx.op("Mul", [x, ctx.op("Tanh", [ctx.op("Softplus", [x], label="softplus")], label="tanh")]), perm)


@onnx_op("Softsign")
def softsign(ctx: NodeContext) -> Laid:
    x, perm = ctx.input_laid(0)
    denom = ctx.op("AddV2", [ctx.op("Abs", [x], label="abs"), ctx.scalar_like(1.0, x, label="one")], label="denom")
    return ctx.laid(ctx.op("RealDiv", [x, denom]), perm)


@onnx_op("ThresholdedRelu", since=10)
def thresholded_relu(ctx: NodeContext) -> Laid:
    x, perm = ctx.input_laid(0)
    above = ctx.op("Greater", [x, ctx.scalar_like(float(ctx.attr("alpha", 1.0)), x, label="alpha")], dtype=DType.BOOL,
                   label="above")
    zeros = ctx.op("ZerosLike", [x], label="zeros")
    return ctx.laid(ctx.op("SelectV2", [above, x, zeros], {"T": x.dtype}, dtype=x.dtype), perm)


@onnx_op("Celu", since=12)
def celu(ctx: NodeContext) -> Laid:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) = alpha * elu(x / alpha) for alpha > 0."""
    alpha = float(ctx.attr("alpha", 1.0))
    x, perm = ctx.input_laid(0)
    y = ctx.op("Elu", [ctx.op("Mul", [x, ctx.scalar_like(1.0 / alpha, x, label="inv_alpha")], label="scaled")],
               label="elu")
    return ctx.laid(ctx.op("Mul", [y, ctx.scalar_like(alpha, x, label="alpha")]), perm)


def _swish(ctx: NodeContext, x: Value, alpha: float) -> Value:
    """x * sigmoid(alpha * x)."""
    scaled = x if alpha == 1.0 else ctx.op("Mul", [x, ctx.scalar_like(alpha, x, label="alpha")], label="alpha_x")
    return ctx.op("Mul", [x, ctx.op("Sigmoid", [scaled], label="sigmoid")], label="swish")


@onnx_op("Swish", since=24)
def swish(ctx: NodeContext) -> Laid:
    x, perm = ctx.input_laid(0)
    return ctx.laid(_swish(ctx, x, float(ctx.attr("alpha", 1.0))), perm)


@onnx_op("SwiGLU", since=28)
def swiglu(ctx: NodeContext) -> Laid:
    """Swish(A) * B; A and B have one shape (no broadcasting), so any common layout will do."""
    (a, b), perm = common_layout(ctx, [0, 1])
    return ctx.laid(ctx.op("Mul", [_swish(ctx, a, float(ctx.attr("alpha", 1.0))), b]), perm)


@onnx_op("Shrink", since=9)
def shrink(ctx: NodeContext) -> Laid:
    """x + bias below -lambd, x - bias above lambd, else 0; integers are computed in float32,
    truncated back and (8/16-bit ones, held as int32) wrapped into their type's range, as
    onnxruntime's conversion does (uint8 2 - 3 is 255)."""
    from .bitwise import wrap_to_width

    lambd, bias = float(ctx.attr("lambd", 0.5)), float(ctx.attr("bias", 0.0))
    x, perm = ctx.input_laid(0)
    dtype = x.dtype
    x = ctx.cast(x, DType.FLOAT32, label="as_float")
    below = ctx.op("Less", [x, ctx.scalar_like(-lambd, x, label="minus_lambd")], dtype=DType.BOOL, label="below")
    above = ctx.op("Greater", [x, ctx.scalar_like(lambd, x, label="lambd")], dtype=DType.BOOL, label="above")
    zeros = ctx.op("ZerosLike", [x], label="zeros")
    plus = ctx.op("AddV2", [x, ctx.scalar_like(bias, x, label="bias")], label="plus_bias")
    minus = ctx.op("Sub", [x, ctx.scalar_like(bias, x, label="bias2")], label="minus_bias")
    attrs = {"T": DType.FLOAT32}
    y = ctx.op("SelectV2", [above, minus, zeros], attrs, dtype=DType.FLOAT32, label="upper")
    last = dtype == DType.FLOAT32
    y = ctx.op("SelectV2", [below, plus, y], attrs, dtype=DType.FLOAT32, label=None if last else "shrunk")
    if not last:
        y = ctx.cast(y, dtype, label="truncated")
        y = wrap_to_width(ctx, y, ctx.tensor(0).dtype)
    return ctx.laid(y, perm)


def _hardmax_last(ctx: NodeContext, x: Value, rank: int) -> Value:
    """One-hot of the first maximum along the last axis: (x == max) and a running count of 1."""
    last = ctx.ints([rank - 1], label="last_axis")
    peak = ctx.op("Max", [x, last], {"keep_dims": True, "Tidx": DType.INT32}, label="max")
    hits = ctx.cast(ctx.op("Equal", [x, peak], dtype=DType.BOOL, label="is_max"), DType.FLOAT32, label="hits")
    seen = ctx.op("Cumsum", [hits, ctx.int32(rank - 1, label="cumsum_axis")],
                  {"exclusive": False, "reverse": False, "Tidx": DType.INT32}, label="hits_so_far")
    first = ctx.op("Equal", [seen, ctx.scalar_like(1.0, seen, label="one")], dtype=DType.BOOL, label="first")
    return ctx.op("Mul", [hits, ctx.cast(first, DType.FLOAT32, label="first_f")])


@onnx_op("Hardmax", since=1)
def hardmax_v1(ctx: NodeContext) -> Laid:
    """Opsets < 13: over the input flattened to 2-D at ``axis`` (default 1)."""
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", 1)), rank)
    if axis == rank - 1:
        x, perm = axis_last(ctx, axis)
        return ctx.laid(_hardmax_last(ctx, x, rank), perm)
    shape = ctx.shape(0)
    inner = shape[axis:] if shape is not None else None
    if inner is None or any(d is None for d in inner):
        raise ctx.error("the dimensions from the hardmax axis on must be static")
    flat = reshape_to(ctx, ctx.input_for_reshape(0), [None, int(np.prod(inner))], label="flatten")
    return ctx.laid(reshape_to(ctx, _hardmax_last(ctx, flat, 2), shape), None)


@onnx_op("Hardmax", since=13)
def hardmax_v13(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    x, perm = axis_last(ctx, norm_axis(ctx, int(ctx.attr("axis", -1)), rank))
    return ctx.laid(_hardmax_last(ctx, x, rank), perm)
