"""Keras 3's Layer-, Group- and RMSNormalization of 8/16-bit integers whose result is proved within their range.

Keras 3 computes these layers of integers in float32 and casts the result back to the input's dtype
(:func:`.normalization._keras3_cast_back`). TensorFlow's CPU cast of a float *outside* an 8/16-bit range depends on
the tensor's size (it wraps in small tensors and saturates in large ones), so no lowering can match it there and the
traced path (``--loader=tensorflow``) refuses these layers too. Inside the range the cast truncates toward zero, as
for int32. The weights and the config bound the result before any input is seen: a value normalized over ``n``
values lies within ``sqrt(n - 1)`` standard deviations of their mean (``x · rsqrt(mean(x²))`` within ``sqrt(n)``),
so each channel's result lies within ``beta ± sqrt(n - 1)·|gamma|`` (RMS: ``±sqrt(n)·|scale|``), plus float32's
rounding of Keras's own steps (:func:`_rounding_margin`). Where that whole interval truncates into the dtype's range
the layer is lowered as for int32 (session 28); elsewhere it stays refused by name.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.narrow_ints import NARROW_INTS

from .context import LayerContext

#: float32's smallest normal: an epsilon below it (0 or a subnormal) leaves 0·rsqrt(0) = NaN in Keras.
_FLT_MIN = float(np.finfo(np.float32).tiny)
#: The largest magnitude of each 8/16-bit integer dtype (its values, held as float32 inputs, are exact).
_LARGEST = {dtype: max(abs(lowest), lowest + (1 << bits) - 1) for dtype, (lowest, bits) in NARROW_INTS.items()}


def proved_in_range(ctx: LayerContext, dtype: DType) -> bool:
    """Whether every float32 result of this Keras 3 normalization of ``dtype`` integers truncates into ``dtype``'s
    range (a float in ``(lowest - 1, highest + 1)``), from its config, its weights and the sizes it normalizes over;
    False where a size is unknown, epsilon is below float32's smallest normal (a row of zeros gives NaN:
    :func:`epsilon_gap`) or the layer is another (``rms_scaling``: ``x`` is not centred, so unbounded)."""
    if not epsilon(ctx) >= _FLT_MIN:
        return False
    lowest, bits = NARROW_INTS[dtype]
    bounds = _result_bounds(ctx, _LARGEST[dtype], unsigned=lowest == 0)
    if bounds is None:
        return False
    low, high = bounds
    return low > lowest - 1 and high < lowest + (1 << bits)


def epsilon(ctx: LayerContext) -> float:
    """The layer's epsilon (Keras's defaults: 1e-6 for RMSNormalization, 1e-3 for the others)."""
    return float(ctx.config.get("epsilon", 1e-6 if ctx.class_name == "RMSNormalization" else 1e-3))


def epsilon_gap(ctx: LayerContext, dtype: DType) -> str | None:
    """Why an epsilon below float32's smallest normal is refused for integers cast back to ``dtype``, or None: a row
    of zeros (of one value, centred) normalizes to ``0 · rsqrt(0 + epsilon)``, NaN in Keras where epsilon is 0 or a
    subnormal (TensorFlow's CPU flushes it to 0; TF.js keeps it: 0). Keras's cast of NaN to an 8/16-bit dtype
    depends on the tensor's size; to int32/int64/bool TF.js gives Keras's INT_MIN/True only for an epsilon of 0."""
    value = epsilon(ctx)
    if value >= _FLT_MIN or (value == 0.0 and dtype not in NARROW_INTS):
        return None
    return (f"epsilon={value!r}: a row of zeros normalizes to 0·rsqrt(0) = NaN in Keras (TensorFlow flushes an "
            "epsilon below float32's smallest normal to 0, TF.js does not), and Keras's cast of NaN back to "
            f"{dtype.numpy} " + ("depends on the tensor's size" if dtype in NARROW_INTS else "differs from TF.js's 0 cast back"))


def _result_bounds(ctx: LayerContext, largest: int, unsigned: bool) -> tuple[float, float] | None:
    """The smallest and largest float32 result the layer can give for inputs of magnitude up to ``largest``
    (``unsigned``: inputs from 0 up, so an RMSNormalization's result has its scale's sign)."""
    spread, names = _spread_and_weights(ctx)
    if spread is None:
        return None
    weights = dict(zip(names, (ctx.small(w).reshape(-1) for w in ctx.weights)))
    signed_scale = weights.get("gamma", weights.get("scale", np.ones(1)))
    gamma, beta = np.abs(signed_scale), weights.get("beta", np.zeros(1))
    if not (np.all(np.isfinite(gamma)) and np.all(np.isfinite(beta))):
        return None
    margin = _rounding_margin(ctx, largest, spread, float(np.max(gamma)), float(np.max(np.abs(beta))))
    if unsigned and ctx.class_name == "RMSNormalization":  # x·inv ≥ 0: between 0 and spread·scale (a product of
        ends = spread * signed_scale  # values ≥ 0 is ≥ 0 in float32 too: no margin below 0 then)
        low = float(np.min(ends))
        return (low - margin if low < 0.0 else 0.0), float(max(np.max(ends), 0.0)) + margin
    low = float(np.min(beta - spread * gamma)) if gamma.size == beta.size or beta.size == 1 else \
        float(np.min(beta) - spread * np.max(gamma))
    high = float(np.max(beta + spread * gamma)) if gamma.size == beta.size or beta.size == 1 else \
        float(np.max(beta) + spread * np.max(gamma))
    return low - margin, high + margin


def _spread_and_weights(ctx: LayerContext) -> tuple[float | None, list[str]]:
    """How many standard deviations (RMS: root mean squares) a normalized value can lie from 0 before gamma and
    beta, and the names of the layer's weights in order; None where it is not bounded or a size is unknown."""
    config = ctx.config
    affine = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    shape = ctx.shape()
    if ctx.class_name == "RMSNormalization":
        count = _count(shape, _axes(config.get("axis", -1), len(shape)))
        return (None if count is None else math.sqrt(count)), ["scale"]
    if ctx.class_name == "LayerNormalization" and not config.get("rms_scaling"):
        count = _count(shape, _axes(config.get("axis", -1), len(shape)))
    elif ctx.class_name == "GroupNormalization":
        axis = _axes(config.get("axis", -1), len(shape))[0]
        groups, channels = int(config.get("groups", 32)), shape[axis]
        others = _count(shape, [a for a in range(1, len(shape)) if a != axis])
        count = None if channels is None or others is None or groups < 1 else channels // groups * others
    else:
        return None, affine
    return (None if count is None else math.sqrt(max(count - 1, 0))), affine


def _axes(axis: int | Sequence[int], rank: int) -> list[int]:
    return [a % rank for a in ([axis] if isinstance(axis, int) else axis)]


def _count(shape: Sequence[int | None], axes: list[int]) -> int | None:
    sizes = [shape[a] for a in axes]
    return None if any(s is None for s in sizes) else int(np.prod(sizes))


def _rounding_margin(ctx: LayerContext, largest: int, spread: float, gamma: float, beta: float) -> float:
    """A bound on float32's rounding of Keras's steps, ``n`` values normalized (``spread² + 1``): the mean, summed in
    float32, errs by up to ``n`` ulps of its terms, and ``x · inv + (-mean · inv + beta)`` with ``inv`` up to
    ``gamma / sqrt(epsilon)`` cancels terms up to ``largest · inv``, so ``(n + 64)`` ulps of those; the variance's
    own rounding moves the result by up to ``n + 4`` ulps of its bound ``spread · gamma`` (RMSNormalization's only
    error: it subtracts nothing)."""
    count = spread * spread + 1.0
    scaled = (count + 4.0) * 2.0**-22 * spread * gamma
    if ctx.class_name == "RMSNormalization":  # ``x · rsqrt(mean(x²) + eps) · scale``: no cancellation
        return scaled
    epsilon = float(ctx.config.get("epsilon", 1e-3))
    if epsilon <= 0.0:
        return math.inf
    # Not fewer ulps where the mean's sum is exact: Keras's own float32 result then carries about
    # 2^-24·largest·gamma/sqrt(epsilon) of error (~123 units for uint16, gamma 1000, over 8 values), and TF.js's other
    # op order landed 16-32 units from Keras's model(x) (review R5, session 29): refused as before.
    return (count + 64.0) * 2.0**-23 * (largest * gamma / math.sqrt(epsilon) + beta + 1.0) + scaled
