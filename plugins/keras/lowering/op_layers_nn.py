"""Op layers: neural-network activations and normalizations of keras.ops.nn (Keras 3) and tf.nn (tf_keras).

Each is written as Keras's TensorFlow backend computes it (its ``tf.where`` chains, ``clip_by_value``'s order, the
moments of ``tf.nn.moments`` or, ``synchronized``, of the sums), so that NaN, ±Inf and values exactly at a threshold
come out as in Keras's own ``model(x)``: ``hard_shrink(NaN)`` is 0 (``NaN > t`` is false), not ``NaN · 0``.
Float32 tensors only: integer ones are gaps (the TF backend either refuses them or computes in their dtype).

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .activations import _tanh_shrink
from .normalization import keras_affine
from .op_layers import (OpCall, OpSpec, _axis, _one_hot, _outputs, _select, _softmax_of, _top_k_all,
                        register_op_layers)

F32 = DType.FLOAT32
#: Keras 3's ``backend.epsilon()``, the default of ``layer_normalization``/``rms_normalization``/``normalize``.
_KERAS_EPSILON = 1e-7


# -- arguments --------------------------------------------------------------------------------------------
def _floats(c: OpCall, key: str = "x") -> Value:
    """A float32 tensor argument (an integer one is a gap: Keras's TF backend refuses or keeps its dtype)."""
    x = c.tensor(key)
    if x.dtype != F32:
        raise c.gap(f"a tensor of dtype {x.dtype.numpy.name} (lowered for float32)")
    return x


def _number(c: OpCall, key: str, default: Any = None) -> float:
    """A constant float option (``threshold``, ``alpha`` ...): a bool, string or list is a gap."""
    value = c.value(key) if default is None else c.value(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise c.gap(f"{key}={value!r}")
    return float(value)


def _axes(c: OpCall, key: str, rank: int, default: Any = -1) -> list[int]:
    """One axis or several (sorted, each once), batch allowed; None, duplicates or out of range are gaps."""
    value = c.value(key, default)
    items = value if isinstance(value, list) else [value]
    axes = sorted({_axis(c, a, rank) for a in items})
    if not items or len(axes) != len(items):
        raise c.gap(f"{key}={value!r}")
    return axes


# -- small builders ---------------------------------------------------------------------------------------
def _compare(c: OpCall, op: str, x: Value, bound: float, label: str) -> Value:
    """``x <op> bound`` as a bool tensor: the conditions of Keras's ``tf.where`` chains (NaN compares false)."""
    return c.ctx.op(op, [x, c.ctx.floats(bound, f"{label}_bound")], dtype=DType.BOOL, shape=x.shape, label=label)


def _reduce(c: OpCall, op: str, x: Value, axes: list[int], label: str, keep: bool = True) -> Value:
    """A reduction (``Sum``, ``Mean``, ``Max``, ``Any`` ...) over sorted ``axes``, kept as 1s by default (TF's moments
    and normalizations reduce with ``keepdims=True`` and squeeze after)."""
    shape = c.ctx.shape(x)
    out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    return c.ctx.op(op, [x, c.ctx.ints(axes, f"{label}_axes")], {"keep_dims": keep, "Tidx": DType.INT32},
                    shape=out, label=label)


def _squeezed(c: OpCall, x: Value, axes: list[int], label: str) -> Value:
    """``x`` without the (size-1) ``axes``, as ``tf.squeeze(x, axes)`` after a kept reduction."""
    shape = c.ctx.shape(x)
    return c.ctx.op("Squeeze", [x], {"squeeze_dims": axes}, shape=tuple(d for i, d in enumerate(shape)
                                                                         if i not in axes), label=label)


def _zero(c: OpCall, label: str = "zero") -> Value:
    """A float32 scalar 0 (``tf.zeros_like(x)`` of a ``tf.where``: +0.0, broadcast by SelectV2)."""
    return c.ctx.floats(0.0, label)


# -- activations ------------------------------------------------------------------------------------------
def _celu(c: OpCall) -> Value:
    """``max(x, 0) + alpha · expm1(min(x, 0) / alpha)``."""
    x, alpha = _floats(c), _number(c, "alpha", 1.0)
    ctx = c.ctx
    negative = ctx.scalar_op("RealDiv", ctx.scalar_op("Minimum", x, 0.0, "negative_part"), alpha, "scaled")
    tail = ctx.scalar_op("Mul", ctx.unary("Expm1", negative, label="expm1"), alpha, "tail")
    return ctx.binary("AddV2", ctx.scalar_op("Maximum", x, 0.0, "positive_part"), tail, label="celu")


def _glu(c: OpCall) -> Value:
    """``a · sigmoid(b)`` of the axis's two halves (TF's Split into 2; an odd size is a gap, as Keras raises on it). An
    axis of unknown size (the batch's too) is split at run time: TF.js's Split raises on an odd one, as Keras does."""
    x = _floats(c)
    shape = c.ctx.shape(x)
    axis = _axis(c, c.value("axis", -1), len(shape))
    if shape[axis] is not None and shape[axis] % 2:
        raise c.gap(f"axis {axis} of size {shape[axis]} (split into two halves)")
    half = tuple((None if d is None else d // 2) if i == axis else d for i, d in enumerate(shape))
    first, second = _outputs(c, "Split", [c.ctx.ints(axis, "axis"), x], {"num_split": 2, "T": F32},
                             [(F32, half)] * 2)
    return c.ctx.binary("Mul", first, c.ctx.unary("Sigmoid", second, label="gate"), label="glu")


def _hard_shrink(c: OpCall) -> Value:
    """``where(|x| > threshold, x, 0)``."""
    from .float64_jumps import greater_bound  # a float64 model input: compared with the float64 threshold

    x, threshold = _floats(c), greater_bound(c, _number(c, "threshold", 0.5))
    keep = _compare(c, "Greater", c.ctx.unary("Abs", x, label="abs"), threshold, "keep")
    return _select(c, keep, x, _zero(c), "hard_shrink")


def _hard_tanh(c: OpCall) -> Value:
    """``clip_by_value(x, -1, 1)``: TF's ``maximum(minimum(x, 1), -1)``."""
    x = _floats(c)
    return c.ctx.scalar_op("Maximum", c.ctx.scalar_op("Minimum", x, 1.0, "below_one"), -1.0, "hard_tanh")


def _soft_shrink(c: OpCall) -> Value:
    """``where(x > t, x - t, where(x < -t, x + t, 0))``."""
    x, threshold = _floats(c), _number(c, "threshold", 0.5)
    ctx = c.ctx
    inner = _select(c, _compare(c, "Less", x, -threshold, "below"), ctx.scalar_op("AddV2", x, threshold, "raised"),
                    _zero(c), "inner")
    return _select(c, _compare(c, "Greater", x, threshold, "above"), ctx.scalar_op("Sub", x, threshold, "lowered"),
                   inner, "soft_shrink")


def _sparse_plus(c: OpCall) -> Value:
    """``where(x <= -1, 0, where(x < 1, (x + 1)² / 4, x))``."""
    x = _floats(c)
    ctx = c.ctx
    parabola = ctx.scalar_op("Mul", ctx.unary("Square", ctx.scalar_op("AddV2", x, 1.0, "plus_one"), label="squared"),
                             0.25, "parabola")
    inner = _select(c, _compare(c, "Less", x, 1.0, "below_one"), parabola, x, "inner")
    return _select(c, _compare(c, "LessEqual", x, -1.0, "flat"), _zero(c), inner, "sparse_plus")


def _sparse_sigmoid(c: OpCall) -> Value:
    """``where(x <= -1, 0, where(x >= 1, 1, (x + 1) / 2))``."""
    x = _floats(c)
    ctx = c.ctx
    line = ctx.scalar_op("Mul", ctx.scalar_op("AddV2", x, 1.0, "plus_one"), 0.5, "line")
    inner = _select(c, _compare(c, "GreaterEqual", x, 1.0, "high"), ctx.floats(1.0, "one"), line, "inner")
    return _select(c, _compare(c, "LessEqual", x, -1.0, "low"), _zero(c), inner, "sparse_sigmoid")


def _squareplus(c: OpCall) -> Value:
    """``(x + sqrt(x² + b)) / 2``."""
    x, b = _floats(c), _number(c, "b", 4)
    ctx = c.ctx
    root = ctx.unary("Sqrt", ctx.scalar_op("AddV2", ctx.unary("Square", x, label="squared"), b, "plus_b"),
                     label="root")
    return ctx.scalar_op("RealDiv", ctx.binary("AddV2", x, root, label="sum"), 2.0, "squareplus")


def _threshold(c: OpCall) -> Value:
    """``where(x > threshold, x, default_value)``."""
    from .float64_jumps import greater_bound  # a float64 model input: compared with the float64 threshold

    x, threshold, default = _floats(c), greater_bound(c, _number(c, "threshold")), _number(c, "default_value")
    return _select(c, _compare(c, "Greater", x, threshold, "keep"), x, c.ctx.floats(default, "default_value"),
                   "threshold")


def _sparsemax(c: OpCall) -> Value:
    """Keras's TF sparsemax along one axis (moved last and back): the values sorted descending (TopKV2), their running
    sums, the support ``sorted - (cumsum - 1) / r > 0`` (r = 1..n), ``tau = (Σ cumsum over the support - 1) /
    |support|``, ``max(x - tau, 0)``. An axis of unknown size (the batch's too) is sorted and ranked at run time."""
    x = _floats(c)
    return sparsemax_along(c, x, _axis(c, c.value("axis", -1), len(c.ctx.shape(x))))


def sparsemax_along(c: OpCall, x: Value, axis: int) -> Value:
    """:func:`_sparsemax` of a float32 ``x`` along its non-negative ``axis`` (the ``sparsemax`` activation's too)."""
    ctx = c.ctx
    rank = len(ctx.shape(x))
    perm = list(range(rank))
    perm[axis], perm[-1] = rank - 1, axis
    moved = x if axis == rank - 1 else ctx.transpose(x, perm, "axis_last")
    ordered = _top_k_all(c, moved)[0]
    sums = ctx.op("Cumsum", [ordered, ctx.ints(rank - 1, "cumsum_axis")],
                  {"exclusive": False, "reverse": False, "Tidx": DType.INT32}, shape=ordered.shape, label="cumsum")
    ranks = _ranks(c, moved)
    bound = ctx.binary("RealDiv", ctx.scalar_op("Sub", sums, 1.0, "cumsum_minus_one"), ranks, label="bound")
    support = _compare(c, "Greater", ctx.binary("Sub", ordered, bound, label="margin"), 0.0, "support")
    safe = _select(c, support, sums, _zero(c), "support_sums")
    count = _reduce(c, "Sum", ctx.op("Cast", [support], {"SrcT": DType.BOOL, "DstT": F32, "Truncate": False},
                                      dtype=F32, shape=support.shape, label="support_float"), [rank - 1], "count")
    total = ctx.scalar_op("Sub", _reduce(c, "Sum", safe, [rank - 1], "support_total"), 1.0, "total_minus_one")
    tau = ctx.binary("RealDiv", total, count, label="tau")
    out = ctx.scalar_op("Maximum", ctx.binary("Sub", moved, tau, label="shifted"), 0.0, "sparsemax")
    return out if axis == rank - 1 else ctx.transpose(out, perm, "axis_back")


def _ranks(c: OpCall, x: Value) -> Value:
    """``1, 2, ..., n`` in float32 along ``x``'s last axis (TF's float Range, exact below 2^24): a constant for a size
    known in the config, else ``Range(1, n + 1)`` of the run-time size cast to float32."""
    size = c.ctx.shape(x)[-1]
    if size is not None:
        return c.ctx.floats(np.arange(1, size + 1, dtype=np.float32), "ranks")
    from .dynamic_shape import runtime_size

    stop = c.ctx.binary("AddV2", runtime_size(c.ctx, x, len(c.ctx.shape(x)) - 1, "ranks"), c.ctx.ints(1, "one"),
                        label="ranks_stop")
    ranks = c.ctx.op("Range", [c.ctx.ints(1, "ranks_start"), stop, c.ctx.ints(1, "ranks_delta")], {"Tidx": DType.INT32},
                     dtype=DType.INT32, shape=(None,), label="ranks_int32")
    return c.ctx.exact_cast(ranks, F32, "ranks")


# -- normalizations ---------------------------------------------------------------------------------------
def _moments(c: OpCall) -> list[Value]:
    """``moments(x, axes, keepdims, synchronized)`` as Keras's TF backend: ``tf.nn.moments`` (mean, then the mean
    squared difference from it), or with ``synchronized`` (outside a distribution strategy too: the default replica
    context) ``Σx / n`` and ``max(Σx² / n - mean², 0)``; the axes squeezed unless ``keepdims``."""
    x = _floats(c)
    ctx = c.ctx
    shape = ctx.shape(x)
    axes = _axes(c, "axes", len(shape), None)
    keep = c.value("keepdims", False)
    synchronized = c.value("synchronized", False)
    if not isinstance(keep, bool) or not isinstance(synchronized, bool):
        raise c.gap(f"keepdims={keep!r}, synchronized={synchronized!r}")
    if synchronized:
        count = _reduce(c, "Sum", ctx.unary("OnesLike", x, label="ones"), axes, "count")
        mean = _divide_no_nan(c, _reduce(c, "Sum", x, axes, "sum"), count, "mean")
        square_mean = _divide_no_nan(c, _reduce(c, "Sum", ctx.unary("Square", x, label="squared"), axes,
                                                "square_sum"), count, "square_mean")
        difference = ctx.binary("Sub", square_mean, ctx.unary("Square", mean, label="mean_squared"), label="difference")
        variance = ctx.scalar_op("Maximum", difference, 0.0, "variance")
    else:
        mean = _reduce(c, "Mean", x, axes, "mean")
        variance = _reduce(c, "Mean", ctx.binary("SquaredDifference", x, mean, label="squared_difference"), axes,
                           "variance")
    from .float_widths import is_half, rounded_to_half

    if is_half(ctx.graph, x):  # Keras 3 computes float16 moments in float32, clipped to float16's range, rounded once
        mean, variance = (rounded_to_half(ctx.graph, ctx.scalar_op(
            "Maximum", ctx.scalar_op("Minimum", v, 65504.0, f"{label}_below_max"), -65504.0, f"{label}_clipped"),
            f"{ctx.name}/{label}_half") for v, label in ((mean, "mean"), (variance, "variance")))
    if keep:
        return [mean, variance]
    return [_squeezed(c, mean, axes, "mean_squeezed"), _squeezed(c, variance, axes, "variance_squeezed")]


def _divide_no_nan(c: OpCall, x: Value, y: Value, label: str) -> Value:
    """``divide_no_nan(x, y)``: 0 where ``y`` is 0 (an empty axis), else ``x / y``."""
    zero = c.ctx.op("Equal", [y, _zero(c, f"{label}_zero")], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                    shape=y.shape, label=f"{label}_empty")
    return _select(c, zero, _zero(c, f"{label}_none"), c.ctx.binary("RealDiv", x, y, label=f"{label}_quotient"),
                   label)


def _batch_norm(c: OpCall) -> Value:
    """``batch_normalization(x, mean, variance, axis, offset, scale, epsilon)``: ``tf.nn.batch_normalization``'s
    ``x · inv + (offset - mean · inv)``, ``inv = rsqrt(variance + epsilon) · scale``; an axis other than -1 reshapes
    the (vector) parameters onto it first, as Keras does; with -1 they broadcast as given."""
    x = _floats(c)
    ctx = c.ctx
    rank = len(ctx.shape(x))
    raw_axis = c.value("axis")
    axis = _axis(c, raw_axis, rank)
    epsilon = _number(c, "epsilon", 1e-3)
    params = {key: _param(c, key, x) for key in ("mean", "variance", "offset", "scale")}
    if params["mean"] is None or params["variance"] is None:
        raise c.gap("no mean or variance")
    if raw_axis != -1:
        size = ctx.shape(params["mean"])
        if len(size) != 1 or size[0] is None:
            raise c.gap(f"a mean of shape {list(size)} for axis {raw_axis}")
        dims = [size[0] if i == axis else 1 for i in range(rank)]
        params = {key: None if v is None else ctx.reshape(v, dims, f"{key}_on_axis") for key, v in params.items()}
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", params["variance"], epsilon, "variance_epsilon"),
                        label="inverse")
    if params["scale"] is not None:
        inverse = ctx.binary("Mul", inverse, params["scale"], label="scaled_inverse")
    shifted = ctx.binary("Mul", params["mean"], inverse, label="mean_scaled")
    shift = ctx.unary("Neg", shifted, label="shift") if params["offset"] is None else \
        ctx.binary("Sub", params["offset"], shifted, label="shift")
    return ctx.binary("AddV2", ctx.binary("Mul", x, inverse, label="x_scaled"), shift, label="batch_norm")


def _param(c: OpCall, key: str, like: Value) -> Value | None:
    """A float32 parameter given as a tensor or a constant (None when not given); Keras 3 saves a numpy array as
    ``{"class_name": "__numpy__", "config": {"value", "dtype"}}``; a float64 one (which :meth:`.OpCall.tensor` refuses)
    Keras computes with in float32 (rounded to nearest, as numpy rounds it here)."""
    if not c.has(key):
        return None
    saved = c.arguments[key]
    if isinstance(saved, dict) and saved.get("class_name") == "__numpy__":  # a numpy array the call was given
        config = saved.get("config") or {}
        if config.get("dtype") not in ("float16", "float32", "float64"):
            raise c.gap(f"argument {key!r} is a saved numpy array of dtype {config.get('dtype')!r}")
        try:
            return c.ctx.floats(np.asarray(config.get("value"), dtype=np.float64).astype(np.float32), f"{key}_value")
        except (TypeError, ValueError):
            raise c.gap(f"argument {key!r} is a saved numpy array that is not a float32 array") from None
    value = c.tensor(key, like=like)
    if value.dtype != F32:
        raise c.gap(f"argument {key!r} is a {value.dtype.numpy.name} tensor")
    return value


def _epsilon(c: OpCall) -> float:
    """The ``epsilon`` option, Keras's ``backend.epsilon()`` (1e-7) when None."""
    return _KERAS_EPSILON if c.value("epsilon", None) is None else _number(c, "epsilon")


def _layer_norm(c: OpCall) -> Value:
    """Keras 3's ``layer_normalization`` (TF backend): ``x · inv + (-mean · inv + beta)``, ``inv = rsqrt(var + eps) ·
    gamma`` over the sorted axes, the moments of ``tf.nn.moments``; ``rms_scaling`` (deprecated): ``x · rsqrt(var +
    eps) · gamma``. A gamma/beta of a rank other than x's, for axes other than the last, is reshaped onto them."""
    x = _floats(c)
    ctx = c.ctx
    shape = ctx.shape(x)
    rank = len(shape)
    axes = _axes(c, "axis", rank)
    epsilon = _epsilon(c)
    gamma, beta = _param(c, "gamma", x), _param(c, "beta", x)
    rms = c.value("rms_scaling", False)
    if not isinstance(rms, bool):
        raise c.gap(f"rms_scaling={rms!r}")

    def spread(v: Value | None, key: str) -> Value | None:
        if v is None or len(ctx.shape(v)) == rank or axes == [rank - 1]:
            return v
        if any(shape[a] is None for a in axes):
            raise c.gap(f"a {key} for axes {axes} of unknown size")
        return ctx.reshape(v, [shape[i] if i in axes else 1 for i in range(rank)], f"{key}_on_axes")

    gamma, beta = spread(gamma, "gamma"), spread(beta, "beta")
    if rms:
        mean = _reduce(c, "Mean", x, axes, "mean")
        deviations = ctx.unary("Square", ctx.binary("Sub", x, mean, label="diff"), label="squared_deviations")
        variance = _reduce(c, "Mean", deviations, axes, "variance")
        inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, epsilon, "variance_epsilon"), label="inverse")
        out = ctx.binary("Mul", x, inverse, label="scaled")
        return out if gamma is None else ctx.binary("Mul", out, gamma, label="layer_norm")
    mean = _reduce(c, "Mean", x, axes, "mean")
    variance = _reduce(c, "Mean", ctx.binary("SquaredDifference", x, mean, label="squared_difference"), axes,
                       "variance")
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, epsilon, "variance_epsilon"), label="inverse")
    return keras_affine(ctx, x, mean, inverse, gamma, beta, "layer_norm")


def _rms_norm(c: OpCall) -> Value:
    """``rms_normalization``: ``x · rsqrt(mean(x², axes) + eps) · scale`` (scale broadcast as given)."""
    x = _floats(c)
    ctx = c.ctx
    axes = _axes(c, "axis", len(ctx.shape(x)))
    epsilon = _epsilon(c)
    scale = _param(c, "scale", x)
    mean_square = _reduce(c, "Mean", ctx.unary("Square", x, label="squared"), axes, "mean_square")
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", mean_square, epsilon, "epsilon"), label="inverse_rms")
    out = ctx.binary("Mul", x, inverse, label="normalized")
    return out if scale is None else ctx.binary("Mul", out, scale, label="rms_norm")


def _normalize(c: OpCall) -> Value:
    """``normalize(x, axis, order, epsilon)``: order 2 is ``x · min(rsqrt(Σx²), 1/eps)`` over the axes; another
    order over one axis ``x / max((Σ|x|^p)^(1/p), eps)`` (order 1: ``Σ|x|``), over two axes (order 1 only: Keras's
    matrix norm) ``x / max(max over columns of Σ|x| over rows, eps)``. axis=None (over the batch too) is a gap."""
    x = _floats(c)
    ctx = c.ctx
    rank = len(ctx.shape(x))
    if "axis" in c.arguments and c.arguments["axis"] is None:
        raise c.gap("axis=None (normalizes over the batch too)")
    raw = c.value("axis", -1)
    axes = _axes(c, "axis", rank)
    order = c.value("order", 2)
    if isinstance(order, bool) or not isinstance(order, int) or order < 1 or order > 64:
        raise c.gap(f"order={order!r}")
    epsilon = _epsilon(c)
    if order == 2:
        square_sum = _reduce(c, "Sum", ctx.unary("Square", x, label="squared"), axes, "square_sum")
        inverse = ctx.scalar_op("Minimum", ctx.unary("Rsqrt", square_sum, label="inverse_norm"),
                                float(np.float32(1.0 / epsilon)), "capped")
        return ctx.binary("Mul", x, inverse, label="normalize")
    magnitude = ctx.unary("Abs", x, label="abs")
    if len(axes) == 1:
        powered = magnitude if order == 1 else ctx.scalar_op("Pow", magnitude, float(order), "powered")
        norm = _reduce(c, "Sum", powered, axes, "sum")
        if order != 1:
            norm = ctx.scalar_op("Pow", norm, float(np.float32(1.0) / np.float32(order)), "norm")
    elif len(axes) == 2 and order == 1:
        rows, columns = (_axis(c, a, rank) for a in raw)
        norm = _reduce(c, "Max", _reduce(c, "Sum", magnitude, [rows], "column_sums"), [columns], "norm")
    else:
        raise c.gap(f"order={order} over axes {raw!r} (a matrix norm)")
    return ctx.binary("RealDiv", x, ctx.scalar_op("Maximum", norm, epsilon, "floored"), label="normalize")


def _binary_crossentropy(c: OpCall) -> Value:
    """``binary_crossentropy(target, output, from_logits)`` as Keras's TF backend: an ``output`` made by Keras's sigmoid
    op or Activation layer is read through its logits (Keras keeps them on the tensor, from_logits or not); logits go
    through ``sigmoid_cross_entropy_with_logits``; probabilities are clipped to ``[1e-7, 1 - 1e-7]`` and give
    ``-(t · log(p) + (1 - t) · log(1 - p))``. Another output made by a sigmoid is a gap
    (:func:`_keras_logits`)."""
    target, output = _floats(c, "target"), _floats(c, "output")
    ctx = c.ctx
    if len(ctx.shape(target)) != len(ctx.shape(output)) or any(
            a is not None and b is not None and a != b for a, b in zip(ctx.shape(target), ctx.shape(output))):
        raise c.gap(f"shapes {list(ctx.shape(target))} and {list(ctx.shape(output))}")
    from_logits = c.value("from_logits", False)
    if not isinstance(from_logits, bool):
        raise c.gap(f"from_logits={from_logits!r}")
    logits = _keras_logits(c, output, "Sigmoid")
    if logits is not None:
        return _sigmoid_xent(c, target, logits)
    if from_logits:
        return _sigmoid_xent(c, target, output)
    epsilon = _KERAS_EPSILON
    clipped = ctx.scalar_op("Maximum", ctx.scalar_op("Minimum", output, 1.0 - epsilon, "clip_high"), epsilon,
                            "clipped")
    hits = ctx.binary("Mul", target, ctx.unary("Log", clipped, label="log_p"), label="hits")
    one = ctx.floats(1.0, "one")
    misses = ctx.binary("Mul", ctx.binary("Sub", one, target, label="one_minus_t"),
                        ctx.unary("Log", ctx.binary("Sub", one, clipped, label="one_minus_p"), label="log_q"),
                        label="misses")
    return ctx.unary("Neg", ctx.binary("AddV2", hits, misses, label="sum"), label="binary_crossentropy")


def _multi_hot(c: OpCall) -> Value:
    """``multi_hot(inputs, num_classes, axis, dtype)``: Keras's ``one_hot`` (:func:`.op_layers._one_hot`: indices
    outside ``[0, num_classes)`` give no class) reduced over axis 1 by ``Max`` (``Any`` for bools). Indices of rank 1,
    which Keras reduces over the batch, and ``sparse`` are gaps."""
    c.arguments["indices"] = c.arguments.pop("inputs", None)
    rank = len(c.ctx.shape(c.tensor("indices")))
    dtype = c.value("dtype", "float32")
    if rank < 2 or dtype not in ("float32", "int32", "bool"):
        raise c.gap(f"indices of rank {rank} (Keras reduces rank-1 ones over the batch), dtype={dtype!r}")
    hot = _one_hot(c, "num_classes")
    return _reduce(c, "Any" if dtype == "bool" else "Max", hot, [1], "multi_hot", keep=False)


#: The labels of the Sigmoid/Softmax nodes that are a Keras tensor made by Keras's sigmoid/softmax itself, which keeps
#: its logits on it: the op layer's (``{layer}/Sigmoid``, ``{layer}/Softmax``: the last axis), the Activation layer's
#: (``{layer}/act``) and, for softmax, the Softmax layer's unmasked (``{layer}/Softmax``). A Dense or conv's activation
#: (``{layer}/activation``) shares its label with a recurrent layer's step, whose output Keras makes anew.
_KERAS_LOGITS_LABELS = ("Sigmoid", "Softmax", "act")
#: Ops the lowering may put after an activation whose Keras tensor is the activation's own (a same-dtype cast's
#: Identity, a channels_first conv's Transpose back) or that make a new tensor of the same values.
_VALUE_MOVING = ("Identity", "Transpose", "Reshape", "ExpandDims", "Squeeze")


def _keras_logits(c: OpCall, output: Value, op: str) -> Value | None:
    """The logits Keras's ``_get_logits`` reads from ``output`` (the ``op``'s input: ``Sigmoid`` or ``Softmax``),
    None when it reads none; an ``op`` it may or may not read them from (another label, or behind ops that move
    values) is a gap."""
    node = output.producer
    behind = node
    while behind.op in _VALUE_MOVING:
        behind = behind.inputs[0].producer
    made = behind.op == op or (op == "Softmax" and behind.op == "RealDiv" and behind.name.endswith("/softmax"))
    if not made:
        return None
    if node is behind and node.op == op and len(node.provenance) == 1 and node.name in (
            f"{node.provenance[0]}/{label}" for label in _KERAS_LOGITS_LABELS):
        return node.inputs[0]
    raise c.gap(f"a {op.lower()}'s output Keras may read the logits of (lowered for its {op.lower()} op and "
                "Activation layer)")


def _categorical_crossentropy(c: OpCall) -> Value:
    """``categorical_crossentropy(target, output, from_logits, axis)`` as Keras's TF backend: probabilities are
    divided by their sum over the axis, clipped to ``[1e-7, 1 - 1e-7]`` and give ``-Σ t · log(p)``; logits (and the
    output of Keras's softmax op or Activation layer, read through its logits as Keras does) go through TF's
    ``softmax_cross_entropy_with_logits`` kernel, ``Σ t · (log Σ exp(z - max z) - (z - max z))``."""
    target, output = _floats(c, "target"), _floats(c, "output")
    ctx = c.ctx
    shape = ctx.shape(output)
    if len(ctx.shape(target)) != len(shape) or any(
            a is not None and b is not None and a != b for a, b in zip(ctx.shape(target), shape)):
        raise c.gap(f"shapes {list(ctx.shape(target))} and {list(shape)}")
    axis = [_axis(c, c.value("axis", -1), len(shape))]
    from_logits = c.value("from_logits", False)
    if not isinstance(from_logits, bool):
        raise c.gap(f"from_logits={from_logits!r}")
    logits = _keras_logits(c, output, "Softmax")
    if logits is not None or from_logits:
        z = output if logits is None else logits
        shifted = ctx.binary("Sub", z, _reduce(c, "Max", z, axis, "max_logit"), label="shifted")
        log_sum = ctx.unary("Log", _reduce(c, "Sum", ctx.unary("Exp", shifted, label="exp"), axis, "sum_exp"),
                            label="log_sum_exp")
        terms = ctx.binary("Mul", target, ctx.binary("Sub", log_sum, shifted, label="neg_log_softmax"), label="terms")
        return _reduce(c, "Sum", terms, axis, "categorical_crossentropy", keep=False)
    scaled = ctx.binary("RealDiv", output, _reduce(c, "Sum", output, axis, "total"), label="scaled")
    clipped = ctx.scalar_op("Maximum", ctx.scalar_op("Minimum", scaled, 1.0 - _KERAS_EPSILON, "clip_high"),
                            _KERAS_EPSILON, "clipped")
    hits = ctx.binary("Mul", target, ctx.unary("Log", clipped, label="log_p"), label="hits")
    return ctx.unary("Neg", _reduce(c, "Sum", hits, axis, "sum", keep=False), label="categorical_crossentropy")


def _psnr(c: OpCall) -> Value:
    """``psnr(x1, x2, max_val)``: ``20 · log10(max_val) - 10 · log10(mean((x1 - x2)²))``, the mean over every axis
    (the batch too: one number), ``log10`` as Keras's ``log(x) / log(10)``."""
    x1, x2 = _floats(c, "x1"), _floats(c, "x2")
    ctx = c.ctx
    max_val = _number(c, "max_val")
    rank = len(ctx.shape(x1))
    if ctx.shape(x1) != ctx.shape(x2):
        raise c.gap(f"shapes {list(ctx.shape(x1))} and {list(ctx.shape(x2))}")
    mse = _reduce(c, "Mean", ctx.unary("Square", ctx.binary("Sub", x1, x2, label="diff"), label="squared"),
                  list(range(rank)), "mse", keep=False)
    log_ten = ctx.unary("Log", ctx.floats(10.0, "ten"), label="log_ten")

    def log10(v: Value, label: str) -> Value:
        return ctx.binary("RealDiv", ctx.unary("Log", v, label=f"{label}_log"), log_ten, label=label)

    peak = ctx.scalar_op("Mul", log10(ctx.floats(max_val, "max_val"), "log10_max"), 20.0, "peak")
    return ctx.binary("Sub", peak, ctx.scalar_op("Mul", log10(mse, "log10_mse"), 10.0, "noise"), label="psnr")


# -- tf.nn functions (tf_keras) -----------------------------------------------------------------------------
def _keep_dims(c: OpCall) -> bool:
    """v1's ``keep_dims`` or ``keepdims`` (TF refuses both), False when neither."""
    given = [c.value(k) for k in ("keep_dims", "keepdims") if c.has(k)]
    if len(given) > 1 or not all(isinstance(v, bool) for v in given):
        raise c.gap(f"keep_dims/keepdims {given!r}")
    return bool(given and given[0])


def _sufficient_statistics(c: OpCall) -> list[Value]:
    """``tf.nn.sufficient_statistics(x, axes, shift, keepdims)``: the count of elements over the axes (a constant
    where their sizes are known, else their product read at run time), ``Σ(x - shift)`` and ``Σ(x - shift)²`` (no
    shift: ``Σx``, ``Σx²``), and the shift itself."""
    x = _floats(c)
    ctx = c.ctx
    shape = ctx.shape(x)
    axes = sorted({_axis(c, a, len(shape)) for a in (_listed(c, "axes"))})
    keep = _keep_dims(c)
    if all(shape[a] is not None for a in axes):
        count = ctx.floats(float(np.prod([shape[a] for a in axes])), "count")
    else:
        sizes = ctx.op("Cast", [ctx.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32,
                                       shape=(len(shape),), label="shape")],
                       {"SrcT": DType.INT32, "DstT": F32, "Truncate": False}, dtype=F32, shape=(len(shape),),
                       label="sizes")
        picked = ctx.op("GatherV2", [sizes, ctx.ints(axes, "axes_picked"), ctx.ints(0, "gather_axis")],
                        {"Tparams": F32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                        dtype=F32, shape=(len(axes),), label="axis_sizes")
        count = ctx.op("Prod", [picked, ctx.ints([0], "count_axes")], {"keep_dims": False, "Tidx": DType.INT32},
                       shape=(), label="count")
    shift = _param(c, "shift", x)
    if shift is None:
        centred, squared = x, ctx.unary("Square", x, label="squared")
    else:
        centred = ctx.binary("Sub", x, shift, label="shifted")
        squared = ctx.binary("SquaredDifference", x, shift, label="squared")
    sums = [count, _reduce(c, "Sum", centred, axes, "mean_ss", keep), _reduce(c, "Sum", squared, axes, "var_ss", keep)]
    return sums if shift is None else [*sums, shift]


def _listed(c: OpCall, key: str) -> list[Any]:
    """An argument that TF takes as one value or a list, as a list."""
    value = c.value(key)
    return value if isinstance(value, list) else [value]


def _weighted_moments(c: OpCall) -> list[Value]:
    """``tf.nn.weighted_moments(x, axes, frequency_weights, keepdims)``: ``mean = Σwx / Σw`` and ``variance =
    Σw(x - mean)² / Σw`` (``div_no_nan``: 0 where the weights sum to 0), with ``Σw`` of the weights broadcast to
    x's shape (``w + zeros_like(x)``)."""
    x = _floats(c)
    ctx = c.ctx
    shape = ctx.shape(x)
    axes = sorted({_axis(c, a, len(shape)) for a in _listed(c, "axes")})
    keep = _keep_dims(c)
    weights = _param(c, "frequency_weights", x)
    weighted_sum = _reduce(c, "Sum", ctx.binary("Mul", weights, x, label="weighted"), axes, "weighted_input_sum")
    spread = ctx.binary("AddV2", weights, ctx.unary("ZerosLike", x, label="zeros"), label="broadcasted_weights")
    total = _reduce(c, "Sum", spread, axes, "sum_of_weights")
    mean = _divide_no_nan(c, weighted_sum, total, "weighted_mean")
    distances = ctx.binary("Mul", weights, ctx.binary("SquaredDifference", x, mean, label="squared_difference"),
                           label="weighted_distances")
    variance = _divide_no_nan(c, _reduce(c, "Sum", distances, axes, "weighted_distsq"), total, "weighted_variance")
    if keep:
        return [mean, variance]
    return [_squeezed(c, mean, axes, "mean_squeezed"), _squeezed(c, variance, axes, "variance_squeezed")]


def _compute_average_loss(c: OpCall) -> Value:
    """``tf.nn.compute_average_loss(per_example_loss, global_batch_size)``: ``div_no_nan(Σ losses, global batch)``,
    the global batch the losses' own first size (read at run time unless known; one replica outside a distribution
    strategy, as Keras replays the layer) or the given whole number; ``sample_weight`` is a gap."""
    losses = _floats(c, "per_example_loss")
    ctx = c.ctx
    shape = ctx.shape(losses)
    if not shape or c.has("sample_weight"):
        raise c.gap(f"a rank-{len(shape)} loss or sample_weight (lowered for rank >= 1 losses without weights)")
    total = _reduce(c, "Sum", losses, list(range(len(shape))), "loss", keep=False)
    batch = c.value("global_batch_size", None)
    if batch is not None:
        if isinstance(batch, bool) or not isinstance(batch, int) or not 0 <= batch < 2**31:
            raise c.gap(f"global_batch_size={batch!r}")
        size = ctx.floats(float(batch), "global_batch_size")
    elif shape[0] is not None:
        size = ctx.floats(float(shape[0]), "global_batch_size")
    else:
        sizes = ctx.op("Shape", [losses], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(len(shape),),
                       label="shape")
        first = ctx.op("GatherV2", [sizes, ctx.ints(0, "first"), ctx.ints(0, "gather_axis")],
                       {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                       dtype=DType.INT32, shape=(), label="batch_size")
        size = ctx.op("Cast", [first], {"SrcT": DType.INT32, "DstT": F32, "Truncate": False}, dtype=F32, shape=(),
                      label="global_batch_size")
    return _divide_no_nan(c, total, size, "average_loss")


def _crelu(c: OpCall) -> Value:
    """``tf.nn.crelu``: ``relu(concat([x, -x], axis))``."""
    x = _floats(c, "features")
    ctx = c.ctx
    shape = ctx.shape(x)
    axis = _axis(c, c.value("axis", -1), len(shape))
    out = tuple(None if d is None else 2 * d if i == axis else d for i, d in enumerate(shape))
    joined = ctx.op("ConcatV2", [x, ctx.unary("Neg", x, label="negated"), ctx.ints(axis, "axis")],
                    {"N": 2, "Tidx": DType.INT32}, shape=out, label="concat")
    return ctx.unary("Relu", joined, label="crelu")


def _v1_softmax(op: str) -> Callable[[OpCall], Value]:
    """``tf.compat.v1.nn.softmax``/``log_softmax(logits, axis, name, dim)``: ``dim`` is the old name of ``axis``
    (None: the last axis)."""
    def lower(c: OpCall) -> Value:
        if c.has("dim"):
            if c.has("axis"):
                raise c.gap("both axis and dim")
            c.arguments["axis"] = c.arguments.pop("dim")
        return _softmax_of(c, "logits", op)
    return lower


def _sigmoid_cross_entropy(c: OpCall) -> Value:
    """``sigmoid_cross_entropy_with_logits(labels, logits)`` as TF writes it: ``where(z >= 0, z, 0) - z · labels +
    log1p(exp(where(z >= 0, -z, z)))``."""
    logits = _floats(c, "logits")
    labels = c.tensor("labels", like=logits)
    if labels.dtype != F32:
        raise c.gap(f"{labels.dtype.numpy.name} labels")
    return _sigmoid_xent(c, labels, logits)


def _sigmoid_xent(c: OpCall, labels: Value, logits: Value) -> Value:
    """TF's ``sigmoid_cross_entropy_with_logits`` of two float32 tensors."""
    ctx = c.ctx
    positive = _compare(c, "GreaterEqual", logits, 0.0, "positive")
    relu = _select(c, positive, logits, ctx.unary("ZerosLike", logits, label="zeros"), "relu_logits")
    negative_abs = _select(c, positive, ctx.unary("Neg", logits, label="negated"), logits, "neg_abs_logits")
    first = ctx.binary("Sub", relu, ctx.binary("Mul", logits, labels, label="logits_labels"), label="linear")
    soft = ctx.unary("Log1p", ctx.unary("Exp", negative_abs, label="exp"), label="log1p")
    return ctx.binary("AddV2", first, soft, label="cross_entropy")


def _local_response_normalization(c: OpCall) -> Value:
    """``tf.nn.local_response_normalization``: TF's LRN op of a 4-D float32 tensor (TF.js runs it as TF does)."""
    x = _floats(c)
    if len(c.ctx.shape(x)) != 4:
        raise c.gap(f"a rank-{len(c.ctx.shape(x))} tensor (LRN takes 4-D ones)")
    radius = c.value("depth_radius", 5)
    if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius < 2**16:
        raise c.gap(f"depth_radius={radius!r}")
    attrs = {"depth_radius": radius, "bias": _number(c, "bias", 1.0), "alpha": _number(c, "alpha", 1.0),
             "beta": _number(c, "beta", 0.5), "T": F32}
    return c.ctx.op("LRN", [x], attrs, shape=x.shape, label="LRN")


_X = ("x",)


_SOFTMAX_V1 = ("logits", "axis", "name", "dim")
register_op_layers(
    keras_ops={
        ("Celu",): OpSpec(_X, _celu, ("alpha",)),
        ("Glu",): OpSpec(_X, _glu, ("axis",)),
        ("HardShrink",): OpSpec(_X, _hard_shrink, ("threshold",)),
        ("HardTanh",): OpSpec(_X, _hard_tanh),
        ("SoftShrink",): OpSpec(_X, _soft_shrink, ("threshold",)),
        ("SparsePlus",): OpSpec(_X, _sparse_plus),
        ("SparseSigmoid",): OpSpec(_X, _sparse_sigmoid),
        ("Sparsemax",): OpSpec(_X, _sparsemax, ("axis",)),
        ("Squareplus",): OpSpec(_X, _squareplus, ("b",)),
        ("TanhShrink",): OpSpec(_X, lambda c: _tanh_shrink(c.ctx, _floats(c), "tanh_shrink")),
        ("Threshold",): OpSpec(_X, _threshold, ("threshold", "default_value")),
        ("BatchNorm",): OpSpec(("x", "mean", "variance", "offset", "scale"), _batch_norm, ("axis", "epsilon")),
        ("LayerNorm",): OpSpec(("x", "gamma", "beta"), _layer_norm, ("axis", "epsilon", "rms_scaling")),
        ("RMSNorm",): OpSpec(("x", "scale"), _rms_norm, ("axis", "epsilon")),
        ("Moments",): OpSpec(_X, _moments, ("axes", "keepdims", "synchronized")),
        ("Normalize",): OpSpec(_X, _normalize, ("axis", "order", "epsilon")),
        ("PSNR",): OpSpec(("x1", "x2"), _psnr, ("max_val",)),
        ("MultiHot",): OpSpec(("inputs",), _multi_hot, ("num_classes", "axis", "dtype", "sparse")),
        ("BinaryCrossentropy",): OpSpec(("target", "output"), _binary_crossentropy, ("from_logits",)),
        ("CategoricalCrossentropy",): OpSpec(("target", "output"), _categorical_crossentropy, ("from_logits", "axis")),
    },
    tf_functions={
        ("compat.v1.nn.crelu",): OpSpec(("features", "name", "axis"), _crelu),
        ("nn.crelu",): OpSpec(("features", "axis", "name"), _crelu),
        ("compat.v1.nn.softmax", "compat.v1.math.softmax"): OpSpec(_SOFTMAX_V1, _v1_softmax("Softmax")),
        ("compat.v1.nn.log_softmax", "compat.v1.math.log_softmax"): OpSpec(_SOFTMAX_V1,
                                                                           _v1_softmax("LogSoftmax")),
        ("compat.v1.nn.sigmoid_cross_entropy_with_logits", "nn.sigmoid_cross_entropy_with_logits"): OpSpec(
            ("labels", "logits", "name"), _sigmoid_cross_entropy),
        ("nn.local_response_normalization", "nn.lrn"): OpSpec(
            ("x", "depth_radius", "bias", "alpha", "beta", "name"), _local_response_normalization),
        ("compat.v1.nn.sufficient_statistics",): OpSpec(("x", "axes", "shift", "keep_dims", "name", "keepdims"),
                                                        _sufficient_statistics),
        ("nn.sufficient_statistics",): OpSpec(("x", "axes", "shift", "keepdims", "name"), _sufficient_statistics),
        ("compat.v1.nn.weighted_moments",): OpSpec(("x", "axes", "frequency_weights", "name", "keep_dims", "keepdims"),
                                                   _weighted_moments),
        ("nn.weighted_moments",): OpSpec(("x", "axes", "frequency_weights", "keepdims", "name"), _weighted_moments),
        ("nn.compute_average_loss",): OpSpec(("per_example_loss", "sample_weight", "global_batch_size"),
                                             _compute_average_loss),
    },
)
