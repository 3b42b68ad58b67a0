"""tf_keras BatchNormalization called with ``training=True``: normalized with the batch's own statistics.

tf_keras keeps a call site's ``training=True`` under ``model(x, training=False)`` and ``predict()`` (the traced path
traces it so), so a trainable BatchNormalization there (or TF 1's ``BatchNormalizationV1``, even frozen) normalizes
each batch by its own mean and biased variance over every axis but the channel ones. The converted model computes
that one forward pass; the moving statistics it would update in training are not read. Keras 3's
``model(x, training=False)`` overrides the call site (moving statistics, :func:`.normalization.batch_norm`).

Both tf_keras paths give the same numbers up to rounding: the fused one (FusedBatchNormV3 ``is_training=True``,
ranks 4 and 5 with the channels first or last) normalizes with the biased batch variance, the other one
(``tf.nn.moments`` then ``tf.nn.batch_normalization``) computes ``x·inv + (beta − mean·inv)``; each is built in its
own order. Lowered as well: a rank-3 input's mask (the non-fused path weighs the moments by it,
``tf.nn.weighted_moments``; the fused one ignores it), ``renorm`` (its ``r``/``d`` corrections from the batch and
the renorm weights, clipped as configured). A mask one rank below the input is weighed on the non-fused path
(``"fused": false`` in the config included). ``training=1`` is True (tf_keras's ``bool()`` of an int;
``BatchNormalizationV1``: 1 and 0, as its ``constant_value`` reads them). Under a float16 or mixed_float16
policy tf_keras computes it in float32 on the float16 input (float32 weights; FusedBatchNormV3 of a float16 ``x``,
or the non-fused path's cast to float32) and rounds the result once, as at inference: the walk rounds it so
(session 29). The fused path computes FusedBatchNormV3's ``(x − mean)·scale + offset`` (a constant channel gives
``β`` exactly, where ``x·inv + (β − mean·inv)`` rounded it: 3.7e-5 of the output range, session 30); its float16
moments follow the Eigen kernel (:func:`_fused_moments`), float32's kernel (oneDNN on x86) divides the sum, as
``Mean``. Up to the sums' order, whose rounding a channel near-constant at a large value shows. Refused by name:
``synchronized`` (and tf_keras's ``SyncBatchNormalization``; its ``E[x²] − mean²`` variance), other masks, and a
layer called more than once where a call uses batch statistics: tf_keras updates the moving (and renorm)
statistics during that call, and its other calls read them in an order the lowering does not follow
(``virtual_batch_size``: refused for inference too, :func:`.normalization.batch_norm`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext, differs_in_training
from .registry import Unsupported


#: tf_keras's classes whose ``_get_training_value`` turns an int ``training`` into a bool (``_USE_V2_BEHAVIOR``);
#: ``BatchNormalizationV1`` keeps the int, which ``constant_value`` and ``smart_cond`` read as a bool for 1 and 0 only.
_INT_TRAINING_CLASSES = ("BatchNormalization", "BatchNormalizationV2", "SyncBatchNormalization")

#: The key of the per-layer record (in the Consts its calls share) of whether each call used batch statistics.
_CALLS_KEY = ("batch_norm_training:calls", 0)


def batch_statistics_call(ctx: LayerContext) -> bool:
    """Whether tf_keras computes this call with the batch's statistics: the call site says ``training=True`` (or
    ``1``) and the layer is trainable (``BatchNormalizationV1``: whatever its ``trainable``). Reads ``training``
    then (and for an int 0, which tf_keras makes False), so the walk does not refuse it. Refuses a layer whose calls
    read statistics another call updates (:func:`_refuse_shared`)."""
    if ctx.keras3:
        return False
    training = dict.get(ctx.call_kwargs, "training")
    if type(training) is int and (ctx.class_name in _INT_TRAINING_CLASSES or training in (0, 1)):
        ctx.call_kwargs.get("training")  # read: 1 computed below, 0 as at inference
        training = bool(training)  # tf_keras: bool(); V1's constant_value/smart_cond take 1/0 as True/False
    batch = training is True and differs_in_training(ctx.class_name, ctx.config)
    _refuse_shared(ctx, batch)
    if batch:
        ctx.call_kwargs.get("training")  # read: this lowering computes it
    return batch


def _refuse_shared(ctx: LayerContext, batch: bool) -> None:
    """A layer called more than once, one call with batch statistics: tf_keras updates the moving statistics in
    that call (and the renorm ones, which its other training calls read), and runs the calls in an order that is
    not the call sites'. Exact only when every call uses batch statistics without renorm."""
    seen = cast(list[bool], ctx.weight_consts.setdefault(_CALLS_KEY, cast(Value, [])))
    seen.append(batch)
    if len(seen) > 1 and any(seen) and (not all(seen) or ctx.config.get("renorm")):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called more than once, with training=True in a "
                          "call (tf_keras updates its moving and renorm statistics in that call, which its other "
                          "calls read in an order the lowering does not follow: not lowered)")


def _refuse(ctx: LayerContext, why: str) -> Unsupported:
    return Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with training=True {why}")


def _fused(config: dict[str, Any], rank: int, axes: list[int]) -> bool:
    """tf_keras's choice of FusedBatchNormV3 (``_fused_can_be_used`` and ``build``): rank 4 or 5, one channel axis
    first or last, no renorm or virtual batches, not ``"fused": false``. It ignores a mask."""
    if config.get("fused") is False:
        return False
    raw = config.get("axis", -1)
    raw = raw[0] if isinstance(raw, (list, tuple)) and len(raw) == 1 else raw
    return rank in (4, 5) and raw in (-4, -3, -1, 1, 3, 4) and axes in ([1], [rank - 1]) and not config.get("renorm")


def training_batch_norm(ctx: LayerContext, axes: list[int], params: dict[str, np.ndarray],
                        renorm: dict[str, np.ndarray], dims: list[int]) -> Value:
    """``(x − mean)·rsqrt(var + ε)·γ + β`` with the batch's mean and biased variance over the non-channel axes
    (``params``: gamma/beta present in the config, float64; ``renorm``: renorm_mean/renorm_stddev when
    ``renorm=True``; ``dims``: their broadcast shape)."""
    config = ctx.config
    shape = ctx.shape()
    rank = len(shape)
    if config.get("synchronized") or ctx.class_name == "SyncBatchNormalization":  # the latter saves no key
        raise _refuse(ctx, "and synchronized=True (its variance is E[x²] − mean²: not lowered)")
    reduce = [a for a in range(rank) if a not in axes]
    from .float_widths import computes_in_half

    fused = _fused(config, rank, axes)
    eigen = fused and computes_in_half(ctx.class_name, config)  # float32's fused kernel is oneDNN's: sum/n there
    weights = None if ctx.mask is None or fused else _mask_weights(ctx, shape)
    mean, variance = _fused_moments(ctx, reduce, shape) if eigen else tf_moments(ctx, ctx.x, reduce, shape, weights)
    epsilon = float(config.get("epsilon", 1e-3))
    gamma = ctx.floats(params["gamma"].reshape(dims), "gamma") if "gamma" in params else None
    beta = ctx.floats(params["beta"].reshape(dims), "beta") if "beta" in params else None
    if renorm:
        gamma, beta = _renorm_corrections(ctx, mean, variance, renorm, dims, gamma, beta, epsilon)
    inverse = ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, epsilon, "batch_var_eps"), label="batch_inverse_std")
    if gamma is not None:
        inverse = ctx.binary("Mul", inverse, gamma, label="batch_scale")
    if fused:  # FusedBatchNormV3 (Eigen's and oneDNN's kernels alike): (x − mean)·scale + offset
        scaled = ctx.binary("Mul", ctx.binary("Sub", ctx.x, mean, label="batch_centered"), inverse,
                            label="batch_x_scaled")
        return scaled if beta is None else ctx.binary("AddV2", scaled, beta, label="batch_normalized")
    shift = ctx.binary("Mul", mean, inverse, label="batch_mean_scaled")
    shift = ctx.binary("Sub", beta, shift, label="batch_shift") if beta is not None else \
        ctx.unary("Neg", shift, label="batch_shift")
    return ctx.binary("AddV2", ctx.binary("Mul", ctx.x, inverse, label="batch_x_scaled"), shift,
                      label="batch_normalized")


def _stats_shape(shape: Sequence[int | None], reduce: list[int]) -> tuple[int | None, ...]:
    return tuple(1 if i in reduce else d for i, d in enumerate(shape))


def _fused_moments(ctx: LayerContext, reduce: list[int], shape: Sequence[int | None]) -> tuple[Value, Value]:
    """FusedBatchNormV3's Eigen CPU kernel, which TF runs for float16 inputs: ``sum(x)·float32(1/n)``, then
    ``sum((x − mean)²)·float32(1/n)``. Its mean is not ``sum/n``: a channel of 60 values of 60000 has mean 60000.0039
    there, normalized to -0.12 where ``Mean`` gave 0 (review R5, session 29). ``n`` is a float32 sum of ones (exact
    up to 2^24 values per channel)."""
    axes = ctx.ints(reduce, "batch_axes")
    stats = _stats_shape(shape, reduce)
    attrs = {"keep_dims": True, "Tidx": DType.INT32}
    ones = ctx.op("OnesLike", [ctx.x], dtype=DType.FLOAT32, shape=ctx.x.shape, label="batch_ones")
    count = ctx.op("Sum", [ones, axes], attrs, shape=stats, label="batch_count")
    inverse_count = ctx.binary("RealDiv", ctx.floats(1.0, "one"), count, label="batch_inverse_count")
    total = ctx.op("Sum", [ctx.x, axes], attrs, shape=stats, label="batch_sum")
    mean = ctx.binary("Mul", total, inverse_count, label="batch_mean")
    squared = ctx.op("Square", [ctx.binary("Sub", ctx.x, mean, label="batch_deviation")], dtype=DType.FLOAT32,
                     shape=ctx.x.shape, label="batch_squared")
    spread = ctx.op("Sum", [squared, axes], attrs, shape=stats, label="batch_squared_sum")
    return mean, ctx.binary("Mul", spread, inverse_count, label="batch_variance")


def tf_moments(ctx: LayerContext, x: Value, reduce: list[int], shape: Sequence[int | None],
             weights: Value | None) -> tuple[Value, Value]:
    """``tf.nn.moments`` (mean, then the mean of squared differences from it), or ``tf.nn.weighted_moments`` with
    the mask's 0/1 ``weights``: sums weighted, divided by the kept count (``reciprocal_no_nan``: 0 for none kept;
    tf_keras's GroupNormalization weighs by ones without a mask, :func:`.normalization.group_norm`)."""
    axes = ctx.ints(reduce, "batch_axes")
    stats = _stats_shape(shape, reduce)
    attrs = {"keep_dims": True, "Tidx": DType.INT32}
    if weights is None:
        mean = ctx.op("Mean", [x, axes], attrs, shape=stats, label="batch_mean")
        squared = ctx.binary("SquaredDifference", x, mean, label="batch_squared")
        return mean, ctx.op("Mean", [squared, axes], attrs, shape=stats, label="batch_variance")
    weighted = ctx.binary("Mul", weights, x, label="weighted_x")
    total = ctx.op("Sum", [weighted, axes], attrs, shape=stats, label="weighted_sum")
    spread = ctx.binary("AddV2", weights, ctx.unary("ZerosLike", x, label="zeros"), label="weights_broadcast")
    count = ctx.op("Sum", [spread, axes], attrs, shape=stats, label="weight_sum")
    divisor = ctx.binary("DivNoNan", ctx.floats(1.0, "one"), count, label="divisor")
    mean = ctx.binary("Mul", total, divisor, label="batch_mean")
    squared = ctx.binary("Mul", weights, ctx.binary("SquaredDifference", x, mean, label="batch_squared"),
                         label="weighted_squared")
    spread_sum = ctx.op("Sum", [squared, axes], attrs, shape=stats, label="weighted_squared_sum")
    return mean, ctx.binary("Mul", spread_sum, divisor, label="batch_variance")


def _mask_weights(ctx: LayerContext, shape: Sequence[int | None]) -> Value:
    """The non-fused path's ``expand_dims(cast(mask, float32), -1)``: lowered for a bool mask one rank below the
    input (Masking's of any rank; another one broadcasts otherwise: refused)."""
    mask = ctx.mask
    assert mask is not None
    if mask.dtype != DType.BOOL or mask.shape is None or len(mask.shape) != len(shape) - 1:
        raise _refuse(ctx, f"on a rank-{len(shape)} input with a mask of shape {mask.shape} (tf_keras weighs the "
                           "batch statistics by it: lowered for bool masks one rank below the input)")
    floats = ctx.op("Cast", [mask], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                    dtype=DType.FLOAT32, shape=mask.shape, label="mask_weights")
    return ctx.expand_dims(floats, len(mask.shape), "mask_weights_broadcasted")


def _renorm_corrections(ctx: LayerContext, mean: Value, variance: Value, renorm: dict[str, np.ndarray],
                        dims: list[int], gamma: Value | None, beta: Value | None, epsilon: float
                        ) -> tuple[Value | None, Value]:
    """tf_keras's batch renormalization in training (``_renorm_correction_and_moments``): ``r = σ_B / σ_R`` and
    ``d = (μ_B − μ_R) / σ_R`` with ``σ_R = max(renorm_stddev, √ε)``, clipped by ``renorm_clipping``, then
    ``γ' = r·γ``, ``β' = d·γ + β`` (``_compose_transforms``)."""
    clipping = ctx.config.get("renorm_clipping") or {}
    stddev = ctx.unary("Sqrt", ctx.scalar_op("AddV2", variance, epsilon, "renorm_var_eps"), label="batch_stddev")
    floor = float(np.sqrt(np.float32(epsilon)))
    renorm_stddev = np.maximum(renorm["renorm_stddev"], floor).reshape(dims)
    held = ctx.floats(renorm_stddev, "renorm_stddev")
    r = ctx.binary("RealDiv", stddev, held, label="renorm_r")
    d = ctx.binary("RealDiv", ctx.binary("Sub", mean, ctx.floats(renorm["renorm_mean"].reshape(dims), "renorm_mean"),
                                         label="renorm_mean_offset"), held, label="renorm_d")
    for key, op in (("rmin", "Maximum"), ("rmax", "Minimum")):
        if clipping.get(key) is not None:
            r = ctx.scalar_op(op, r, float(clipping[key]), f"renorm_{key}")
    if clipping.get("dmax") is not None:
        dmax = float(clipping["dmax"])
        d = ctx.scalar_op("Minimum", ctx.scalar_op("Maximum", d, -dmax, "renorm_dmin"), dmax, "renorm_dmax")
    if gamma is not None:
        r, d = ctx.binary("Mul", r, gamma, label="renorm_scale"), ctx.binary("Mul", d, gamma, label="renorm_offset")
    if beta is not None:
        d = ctx.binary("AddV2", d, beta, label="renorm_shift")
    return r, d
