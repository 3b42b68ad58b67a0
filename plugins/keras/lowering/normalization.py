"""BatchNormalization (inference: moving statistics), Layer-, Group- and UnitNormalization.

Batch norm becomes ``x · m + s`` with per-channel constants folded in float64 from the file's
statistics, which the ``fold_batchnorm`` pass then folds into a conv or matmul before it. Layer norm
is computed as Keras does: mean and variance over the normalized axes, then scale and offset.
Keras 3's Layer-, Group- and RMSNormalization of integers cast their float32 result back to the input's dtype
(:func:`_keras3_cast_back`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import is_narrow

from ..configs import dtype_name
from .batch_norm_training import batch_statistics_call, tf_moments, training_batch_norm
from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes
from .float_widths import note_unit_norm
from .registry import Unsupported, lowers


def norm_axes(ctx: LayerContext, axis: Any, rank: int) -> list[int]:
    axes = [axis] if isinstance(axis, int) else list(axis)
    positive = sorted({a + rank if a < 0 else a for a in axes})
    if not positive or any(not 1 <= a < rank for a in positive):
        raise ctx.error(f"normalizes axis {axis} of a rank-{rank} input")
    return positive


def param_shape(shape: Sequence[int | None], axes: list[int]) -> list[int]:
    """The broadcast shape of a per-axis parameter (batch dimension dropped): sizes on ``axes``, 1 elsewhere."""
    dims = [int(shape[i]) if i in axes else 1 for i in range(1, len(shape))]
    while len(dims) > 1 and dims[0] == 1 and 0 not in axes:  # leading ones broadcast anyway
        dims.pop(0)
    return dims


def _static_axes(ctx: LayerContext, shape: Sequence[int | None], axes: list[int]) -> None:
    if any(shape[a] is None for a in axes):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): normalized axes of unknown size")


#: The weights ``renorm=True`` adds after the moving statistics, read only in training (Keras 3 and tf_keras alike).
_RENORM_WEIGHTS = ("moving_stddev", "renorm_mean", "renorm_stddev")


@lowers("BatchNormalization", "BatchNormalizationV1", "BatchNormalizationV2", "SyncBatchNormalization")
def batch_norm(ctx: LayerContext) -> Value:
    """``x·multiplier + shift`` from the moving statistics; ``renorm`` changes training only (its corrections and
    extra weights), inference reads ``moving_mean``/``moving_variance`` as without it. A tf_keras call site's
    ``training=True`` uses the batch's statistics (:mod:`.batch_norm_training`)."""
    config = ctx.config
    shape = ctx.shape()
    if config.get("virtual_batch_size") is not None:  # tf_keras's build shifted the saved axis past the ghost axis
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) with virtual_batch_size="
                          f"{config['virtual_batch_size']!r} (ghost batches; its saved axis and weights have the "
                          "extra axis tf_keras's build adds: not lowered)")
    axes = norm_axes(ctx, config.get("axis", -1), len(shape))
    _static_axes(ctx, shape, axes)
    names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    renorm = _RENORM_WEIGHTS if config.get("renorm") else ()
    weights = ctx.expect_weights(*names, "moving_mean", "moving_variance", *renorm)[:len(names) + 2]
    size = int(np.prod([shape[a] for a in axes]))
    for name, array in zip([*names, "moving_mean", "moving_variance"], weights):
        if int(np.prod(array.shape)) != size:
            raise ctx.error(f"has a {name} of shape {list(array.shape)} for {size} channels")
    values = dict(zip([*names, "moving_mean", "moving_variance"], (ctx.small(w).reshape(-1) for w in weights)))
    if batch_statistics_call(ctx):  # tf_keras's call site training=True: the batch's own statistics
        extra = dict(zip(_RENORM_WEIGHTS, (ctx.small(w).reshape(-1) for w in ctx.weights[len(names) + 2:])))
        renorm_stats = {k: extra[k] for k in ("renorm_mean", "renorm_stddev")} if renorm else {}
        return training_batch_norm(ctx, axes, {k: values[k] for k in names}, renorm_stats, param_shape(shape, axes))
    gamma = values.get("gamma", np.ones(size))
    beta = values.get("beta", np.zeros(size))
    multiplier = gamma / np.sqrt(values["moving_variance"] + float(config.get("epsilon", 1e-3)))
    shift = beta - values["moving_mean"] * multiplier
    dims = param_shape(shape, axes)
    scaled = ctx.binary("Mul", ctx.x, ctx.floats(multiplier.reshape(dims), "multiplier"))
    return ctx.binary("AddV2", scaled, ctx.floats(shift.reshape(dims), "shift"))


def _moments(ctx: LayerContext, x: Value, axes: list[int], shape: Sequence[int | None]) -> tuple[Value, Value]:
    """``(x - mean, 1 / sqrt(variance + epsilon))`` over ``axes``, as Keras's normalization layers compute them."""
    reduce = ctx.ints(axes, "axes")
    stats = tuple(1 if i in axes else d for i, d in enumerate(shape))
    mean = ctx.op("Mean", [x, reduce], {"keep_dims": True, "Tidx": DType.INT32}, shape=stats, label="mean")
    centered = ctx.binary("Sub", x, mean, label="centered")
    variance = ctx.op("Mean", [ctx.unary("Square", centered, label="squared"), reduce],
                      {"keep_dims": True, "Tidx": DType.INT32}, shape=stats, label="variance")
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, float(ctx.config.get("epsilon", 1e-3)), "var_eps"),
                        label="inverse_std")
    return centered, inverse


#: The integer dtypes whose cast back from float32 the lowering makes exactly as TensorFlow's CPU kernel: int32/int64
#: truncated toward zero (out of range and NaN: INT_MIN), bool ``x != 0``. Not 8/16-bit: TF's cast of a float outside
#: their range wraps in small tensors and saturates in large ones (``tf.cast([-1.2], tf.uint8)`` is 255, of a
#: thousand -1.2 it is 0).
CAST_BACK_DTYPES = (DType.INT32, DType.INT64, DType.BOOL)
#: The conversion's note for a normalization of integers (session 21's review; 8/16-bit ones since session 28): a
#: result within an ulp of a whole number (a row ``[a, -a, a, -a]`` normalizes to about ±1) truncates to either side
#: by TF's or TF.js's rounding of rsqrt (cpu rounds once, wasm twice; Keras's own result changes with the batch).
INTEGER_NORMALIZATION_NOTE = (
    "Layer/Group/RMSNormalization of integer inputs (int8, int16, uint8, uint16, int32, int64): Keras truncates the "
    "float32 result back to integers, so a value within a float32 rounding of a whole number (a row like "
    "[a, -a, a, -a]) may come out one unit off in TF.js, as in Keras itself from one batch to another")
#: The float32 magnitude from which TF's CPU cast to int64 gives INT64_MIN.
_INT64_LIMIT = float(2**63)


def _keras3_cast_back(ctx: LayerContext, y: Value, keeps_dtype: bool) -> Value:
    """Keras 3 computes Layer-, Group- and RMSNormalization of integers in float32 and casts the result back to the
    input's dtype (``ops.layer_normalization``/``rms_normalization``: ``cast(outputs, original_dtype)``;
    GroupNormalization's ``_apply_normalization``: to ``inputs_dtype``); Layer- and GroupNormalization then cast that
    to float32 (their compute dtype), RMSNormalization returns it (``keeps_dtype``; the walk tracks int64 held as
    int32's low bits). tf_keras's LayerNormalization casts integers to float32 first (its floats are the result)."""
    dtype = ctx.keras_dtypes[0] if ctx.keras3 and ctx.keras_dtypes else None
    if dtype is None:
        return y
    from .narrow_normalization import epsilon_gap, proved_in_range  # 8/16-bit: where the result stays in range

    zero_rows = epsilon_gap(ctx, dtype) if dtype in CAST_BACK_DTYPES or is_narrow(dtype) else None
    if zero_rows is not None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on {dtype.numpy} integers with {zero_rows}")
    narrow_in_range = is_narrow(dtype) and proved_in_range(ctx, dtype)
    if dtype not in CAST_BACK_DTYPES and not narrow_in_range:
        held = getattr(dtype, "numpy", "untracked")
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on {held} integers (Keras casts its float32 result "
                          f"back to them; TensorFlow's cast of floats outside {held}'s range depends on the tensor's "
                          "size: lowered for int32, int64 and bool, and for 8/16-bit integers where the weights and "
                          "sizes keep every result in range)" if held != "untracked" else
                          f"layer {ctx.name!r} ({ctx.class_name}) on integers whose Keras dtype the lowering does not "
                          "follow (Keras casts its float32 result back to it)")
    from .op_layers import float_to_int32, float_to_int64_low_bits

    if dtype != DType.BOOL:
        from .core import warn_once

        warn_once(ctx, INTEGER_NORMALIZATION_NOTE)
    if dtype == DType.BOOL:  # TF's cast to bool: x != 0 (NaN too)
        cast = ctx.op("NotEqual", [y, ctx.floats(0.0, "zero")], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                      shape=y.shape, label="as_bool")
    elif keeps_dtype:
        cast = (float_to_int32 if dtype == DType.INT32 or narrow_in_range else float_to_int64_low_bits)(
            ctx, y, "as_integer")
    else:
        return _truncated_float(ctx, y, DType.INT32 if narrow_in_range else dtype)
    if keeps_dtype:
        ctx.output_keras_dtype = dtype
        return cast
    return ctx.op("Cast", [cast], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                  dtype=DType.FLOAT32, shape=y.shape, label="as_float")


def _truncated_float(ctx: LayerContext, y: Value, dtype: DType) -> Value:
    """``float32(int(y))`` as TF casts float32 to int32/int64 and back: truncated toward zero; NaN and magnitudes from
    2^31 give INT32_MIN (int32), from 2^63 INT64_MIN (int64; between, every float32 is a whole number: ``y``)."""
    from .op_layers import float_to_int32

    truncated = ctx.exact_cast(float_to_int32(ctx, y, "as_integer"), DType.FLOAT32, "truncated")
    if dtype == DType.INT32:
        return truncated  # INT32_MIN and the truncated values are all float32 numbers

    def select(condition: Value, a: Value, b: Value, label: str) -> Value:
        return ctx.op("SelectV2", [condition, a, b], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=y.shape,
                      label=label)

    def below(limit: float, label: str) -> Value:  # NaN compares False
        return ctx.op("Less", [magnitude, ctx.floats(limit, f"{label}_limit")], dtype=DType.BOOL, shape=y.shape,
                      label=label)

    magnitude = ctx.unary("Abs", y, label="magnitude")
    wide = select(below(_INT64_LIMIT, "in_int64_range"), y, ctx.floats(-_INT64_LIMIT, "int64_min"), "as_int64")
    return select(below(float(2**31), "in_int32_range"), truncated, wide, "truncated_int64")


@lowers("LayerNormalization")
def layer_norm(ctx: LayerContext) -> Value:
    """Keras's LayerNormalization; of Keras 3 integers cast back to them, then to float32 (:func:`_keras3_cast_back`)."""
    y = _rms_scaled_layer_norm(ctx) if ctx.config.get("rms_scaling") else _layer_norm(ctx)
    return _keras3_cast_back(ctx, y, keeps_dtype=False)


def _keras3_order(ctx: LayerContext, x: Value, axes: list[int], shape: Sequence[int | None],
                  gamma: Value | None, beta: Value | None, weighted: bool = False) -> Value:
    """Keras 3's own formula (``ops.layer_normalization``, GroupNormalization's ``_apply_normalization``), which is
    ``tf.nn.batch_normalization``'s too (tf_keras's LayerNormalization off its fused path):
    ``inv = rsqrt(var + eps) · gamma``, ``x · inv + (-mean · inv + beta)`` (a constant row gives ``beta`` rounded
    beside a large ``mean · inv``, as Keras has it: 1.7e-4 of the output range from ``(x − mean)·inv·γ + β``).
    ``weighted``: the moments of ``tf.nn.weighted_moments`` with weights of one (tf_keras's GroupNormalization: the
    sum times ``1/n``)."""
    if weighted:
        mean, variance = tf_moments(ctx, x, axes, shape, ctx.floats(1.0, "group_weights"))
        inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, float(ctx.config.get("epsilon", 1e-3)),
                                                   "var_eps"), label="inverse_std")
        return keras_affine(ctx, x, mean, inverse, gamma, beta, "normalized")
    reduce = ctx.ints(axes, "axes")
    stats = tuple(1 if i in axes else d for i, d in enumerate(shape))
    mean = ctx.op("Mean", [x, reduce], {"keep_dims": True, "Tidx": DType.INT32}, shape=stats, label="mean")
    deviations = ctx.unary("Square", ctx.binary("Sub", x, mean, label="centered"), label="squared")
    variance = ctx.op("Mean", [deviations, reduce], {"keep_dims": True, "Tidx": DType.INT32}, shape=stats,
                      label="variance")
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, float(ctx.config.get("epsilon", 1e-3)), "var_eps"),
                        label="inverse_std")
    return keras_affine(ctx, x, mean, inverse, gamma, beta, "normalized")


def keras_affine(ctx: LayerContext, x: Value, mean: Value, inverse: Value, gamma: Value | None, beta: Value | None,
                 label: str) -> Value:
    """Keras's ``batch_normalization`` tail in its own float32 order: ``x·inv + (−mean·inv + beta)`` with
    ``inv = inverse·gamma`` (the order decides a result truncated back to integers, or a value at a rounding edge)."""
    if gamma is not None:
        inverse = ctx.binary("Mul", inverse, gamma, label="scaled_inverse")
    shift = ctx.binary("Mul", ctx.unary("Neg", mean, label="negated_mean"), inverse, label="shift")
    if beta is not None:
        shift = ctx.binary("AddV2", shift, beta, label="shift_beta")
    return ctx.binary("AddV2", ctx.binary("Mul", x, inverse, label="x_scaled"), shift, label=label)


#: tf_keras's LayerNormalization policies whose variables are float32, which its fused path requires.
_FLOAT32_VARIABLES = (None, "float32", "mixed_float16", "mixed_bfloat16")


def _batch_normalization_order(ctx: LayerContext, axes: list[int], rank: int) -> bool:
    """Whether Keras computes this LayerNormalization as ``tf.nn.batch_normalization`` (:func:`_keras3_order`):
    Keras 3 always; tf_keras's float32 variables where ``_fused_can_be_used`` says no (axes not the trailing ones,
    ``epsilon`` below 1.001e-5). Its fused path (FusedBatchNormV3, then ``·γ + β``) is ``(x − mean)·inv·γ + β``.
    tf_keras's ``float16`` and ``float64`` policies keep that form (float16: each op rounded by the walk)."""
    if ctx.keras3:
        return True
    trailing = axes[-1] == rank - 1 and axes[-1] - axes[0] == len(axes) - 1
    policy = dtype_name(ctx.config.get("dtype"))
    small_epsilon = float(ctx.config.get("epsilon", 1e-3)) < 1.001e-5
    return policy in _FLOAT32_VARIABLES and (not trailing or small_epsilon)


def _layer_norm(ctx: LayerContext) -> Value:
    config = ctx.config
    shape = ctx.shape()
    axes = norm_axes(ctx, config.get("axis", -1), len(shape))
    names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    keras_order = _batch_normalization_order(ctx, axes, len(shape))
    if not names and keras_order:
        return _keras3_order(ctx, ctx.x, axes, shape, None, None)
    if not names:  # no weights to shape: Keras normalizes over axes of unknown size too
        centered, inverse = _moments(ctx, ctx.x, axes, shape)
        return ctx.binary("Mul", centered, inverse, label="normalized")
    _static_axes(ctx, shape, axes)
    weights = dict(zip(names, ctx.expect_weights(*names)))
    dims = param_shape(shape, axes)
    for name, array in weights.items():
        if int(np.prod(array.shape)) != int(np.prod(dims)):
            raise ctx.error(f"has a {name} of shape {list(array.shape)}, expected {dims}")
    if keras_order:
        consts = {name: ctx.floats(ctx.small(array).reshape(dims), name) for name, array in weights.items()}
        return _keras3_order(ctx, ctx.x, axes, shape, consts.get("gamma"), consts.get("beta"))
    centered, inverse = _moments(ctx, ctx.x, axes, shape)
    y = ctx.binary("Mul", centered, inverse, label="normalized")
    for name, op in (("gamma", "Mul"), ("beta", "AddV2")):
        if name in weights:
            y = ctx.binary(op, y, ctx.floats(ctx.small(weights[name]).reshape(dims), name), label=name)
    return y


def _rms_scaled_layer_norm(ctx: LayerContext) -> Value:
    """Keras 3's ``rms_scaling=True``: ``x · rsqrt(var(x) + epsilon) · gamma`` — the variance (centred), not the
    mean square, and ``x`` itself is not centred; gamma always exists, beta never (Keras's own formula)."""
    config = ctx.config
    shape = ctx.shape()
    axes = norm_axes(ctx, config.get("axis", -1), len(shape))
    _static_axes(ctx, shape, axes)
    (gamma,) = ctx.expect_weights("gamma")
    dims = param_shape(shape, axes)
    if int(np.prod(gamma.shape)) != int(np.prod(dims)):
        raise ctx.error(f"has a gamma of shape {list(gamma.shape)}, expected {dims}")
    x = ctx.x
    _, inverse = _moments(ctx, x, axes, shape)
    y = ctx.binary("Mul", x, inverse, label="scaled")
    return ctx.binary("Mul", y, ctx.floats(ctx.small(gamma).reshape(dims), "gamma"), label="gamma")


def _group_check(config: dict[str, Any]) -> str | None:
    axis = config.get("axis", -1)
    return None if isinstance(axis, int) and not isinstance(axis, bool) else f"axis={axis!r}"


@lowers("GroupNormalization", check=_group_check)
def group_norm(ctx: LayerContext) -> Value:
    """Keras's GroupNormalization; of Keras 3 integers cast back to them, then to float32 (:func:`_keras3_cast_back`)."""
    return _keras3_cast_back(ctx, _group_norm(ctx), keeps_dtype=False)


def _tf_keras_float32_groups(ctx: LayerContext) -> bool:
    """tf_keras's GroupNormalization under a float32 policy: ``tf.nn.weighted_moments`` (weights of one without a
    mask), then ``tf.nn.batch_normalization``, built in that order (a constant group gave 1e-4 of the output range
    off in the other one). Its float16 policies keep the walk's per-op rounding of the plain form."""
    return not ctx.keras3 and dtype_name(ctx.config.get("dtype")) in (None, "float32")


def _group_norm(ctx: LayerContext) -> Value:
    """Channels split into ``groups``; each group normalized over its channels and every spatial axis."""
    config = ctx.config
    shape = ctx.shape()
    (axis,) = norm_axes(ctx, config.get("axis", -1), len(shape))
    if axis != len(shape) - 1:
        return _group_norm_on_axis(ctx, axis)
    channels, groups = shape[-1], int(config.get("groups", 32))
    if channels is None:
        raise Unsupported(f"layer {ctx.name!r} (GroupNormalization) on an input of unknown channels")
    if groups < 1 or channels % groups:
        raise ctx.error(f"has {groups} groups for {channels} channels")
    names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    weights = dict(zip(names, ctx.expect_weights(*names)))
    for name, array in weights.items():
        ctx.check_shape(array, [channels], name)
    # Keras 3's order and tf_keras's float32 one: gamma and beta applied per group (:func:`_keras3_order`)
    weighted = _tf_keras_float32_groups(ctx)
    affine = {name: ctx.floats(ctx.small(array).reshape(groups, channels // groups), f"{name}_grouped")
              for name, array in weights.items()} if ctx.keras3 or weighted else None
    if any(d is None for d in shape[1:]):
        y = _group_normalized_over_unknown_sizes(ctx, groups, channels // groups, affine, weighted)
    else:
        grouped_shape = (None, *shape[1:-1], groups, channels // groups)
        x = ctx.reshape(ctx.x, grouped_shape, "grouped")
        axes = [i for i in range(1, len(grouped_shape)) if i != len(grouped_shape) - 2]
        if affine is not None:
            y = _keras3_order(ctx, x, axes, grouped_shape, affine.get("gamma"), affine.get("beta"), weighted)
        else:
            centered, inverse = _moments(ctx, x, axes, grouped_shape)
            y = ctx.binary("Mul", centered, inverse, label="normalized")
        y = ctx.reshape(y, shape, "ungrouped")
    if affine is not None:
        return y
    for name, op in (("gamma", "Mul"), ("beta", "AddV2")):
        if name in weights:
            y = ctx.binary(op, y, ctx.floats(ctx.small(weights[name]), name), label=name)
    return y


def _group_norm_on_axis(ctx: LayerContext, axis: int) -> Value:
    """GroupNormalization over another axis than the last (``axis=1`` of channels_first images): Keras splits that
    axis into groups and reduces every other non-batch axis, which is the channels-last lowering with the axis moved
    last by a Transpose and back (gamma and beta hold one value per channel of that axis in either layout)."""
    rank = len(ctx.shape())
    to_last = [a for a in range(rank) if a != axis] + [axis]
    ctx.inputs = [ctx.transpose(ctx.x, to_last, "axis_last")]
    ctx.config = {**ctx.config, "axis": -1}
    y = _group_norm(ctx)
    return ctx.transpose(y, [to_last.index(a) for a in range(rank)], "axis_back")


def _group_normalized_over_unknown_sizes(ctx: LayerContext, groups: int, per_group: int,
                                         affine: dict[str, Value] | None = None, weighted: bool = False) -> Value:
    """Each group's moments over its channels and every spatial axis, the spatial sizes read at run time: the
    rank-4 view ``[batch, -1, groups, per_group]`` holds the same elements per group (webgl reduces no rank 5),
    and the result takes ``x``'s run-time shape back. ``affine``: gamma and beta per group, applied in Keras 3's
    order (:func:`_keras3_order`)."""
    x = ctx.x
    grouped_shape = (ctx.shape()[0], None, groups, per_group)
    grouped = reshape_to(ctx, x, [runtime_sizes(ctx, x, 0, 1, "batch"), [-1, groups, per_group]], grouped_shape,
                         "grouped")
    if affine is not None:
        normalized = _keras3_order(ctx, grouped, [1, 3], grouped_shape, affine.get("gamma"), affine.get("beta"),
                                   weighted)
    else:
        centered, inverse = _moments(ctx, grouped, [1, 3], grouped_shape)
        normalized = ctx.binary("Mul", centered, inverse, label="normalized")
    return ctx.op("Reshape", [normalized, ctx.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32,
                                                 shape=(len(ctx.shape()),), label="input_shape")],
                  {"Tshape": DType.INT32}, shape=ctx.shape(), label="ungrouped")


@lowers("UnitNormalization")
def unit_norm(ctx: LayerContext) -> Value:
    """``x / ‖x‖₂`` over ``axis``: Keras 3 caps ``1/‖x‖`` at 1e12, tf_keras floors ``‖x‖²`` at 1e-12."""
    shape = ctx.shape()
    axes = norm_axes(ctx, ctx.config.get("axis", -1), len(shape))
    note_unit_norm(ctx.name, shape, axes)  # in float16 TF sums its squares in float16 steps: the notice's bound
    x = ctx.x
    square_sum = ctx.op("Sum", [ctx.unary("Square", x, label="squared"), ctx.ints(axes, "axes")],
                        {"keep_dims": True, "Tidx": DType.INT32},
                        shape=tuple(1 if i in axes else d for i, d in enumerate(shape)), label="square_sum")
    if ctx.keras3:
        inverse = ctx.scalar_op("Minimum", ctx.unary("Rsqrt", square_sum, label="inverse_norm"), 1e12, "capped")
    else:
        inverse = ctx.unary("Rsqrt", ctx.scalar_op("Maximum", square_sum, 1e-12, "floored"), label="inverse_norm")
    return ctx.binary("Mul", x, inverse, label="normalized")


@lowers("RMSNormalization")
def rms_norm(ctx: LayerContext) -> Value:
    """Keras 3: ``x · rsqrt(mean(x², axis) + epsilon) · scale`` (scale broadcast from the right, as Keras does); of
    integers cast back to their dtype, which Keras returns (:func:`_keras3_cast_back`)."""
    shape = ctx.shape()
    axes = norm_axes(ctx, ctx.config.get("axis", -1), len(shape))
    _static_axes(ctx, shape, axes)
    (scale,) = ctx.expect_weights("scale")
    ctx.check_shape(scale, [shape[a] for a in axes], "scale")
    x = ctx.x
    mean_square = ctx.op("Mean", [ctx.unary("Square", x, label="squared"), ctx.ints(axes, "axes")],
                         {"keep_dims": True, "Tidx": DType.INT32},
                         shape=tuple(1 if i in axes else d for i, d in enumerate(shape)), label="mean_square")
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", mean_square, float(ctx.config.get("epsilon", 1e-6)), "eps"),
                        label="inverse_rms")
    y = ctx.binary("Mul", x, inverse, label="normalized")
    return _keras3_cast_back(ctx, ctx.binary("Mul", y, ctx.weight(scale, "scale"), label="scaled"), keeps_dtype=True)
