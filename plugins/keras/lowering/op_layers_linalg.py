"""Op layers: products, statistics and nan-aware reductions.

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`). Each lowering emits the ops
Keras 3's TensorFlow backend (``keras/src/backend/tensorflow/numpy.py``, ``linalg.py``) or TensorFlow's own function
(tf_keras ``TFOpLambda``) runs, in the same order where the order changes float32 results. Matrix products are
MatMul between Keras's reshapes (TF.js's Einsum does not run on every backend); integer products are exact (TF's
int32 products wrap modulo 2^32: :func:`tfjsconv.narrow_ints.int32_product`, summed in int32).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import exact_floor_div, int32_product

from ..op_calls import KERAS_OP_PREFIX, TensorArg
from .dynamic_shape import reshape_to, runtime_sizes
from .op_layers import (OpCall, OpSpec, _axis, _ints, _prod, _select, _sort_keys, _top_k_all, float_to_int32,
                        register_op_layers)

F32, I32, BOOL = DType.FLOAT32, DType.INT32, DType.BOOL
#: The most int32 terms one exact integer product sums with TF.js's int32 Sum (cpu adds in float64: exact below
#: 2^53, i.e. up to 2^22 terms of magnitude below 2^31; wasm adds in int32, wrapping as TF does).
_EXACT_INT32_TERMS = 1 << 22


# -- shared helpers ---------------------------------------------------------------------------------------
def _probabilities(c: OpCall, q: Any) -> np.ndarray:
    """A quantile's ``q`` (a number or a 1-D list in [0, 1]) as Keras gives it to TF: a float32 tensor, which TF's
    ``_quantile`` casts to float64."""
    try:
        probabilities = np.asarray(q, dtype=np.float32).astype(np.float64)
    except (TypeError, ValueError):
        raise c.gap(f"q={q!r}") from None
    if probabilities.ndim > 1 or probabilities.size == 0 or not np.all((probabilities >= 0) & (probabilities <= 1)):
        raise c.gap(f"q={q!r}")
    return probabilities


def _keras3(c: OpCall) -> bool:
    return c.ctx.class_name.startswith(KERAS_OP_PREFIX)


def _reduced_axes(c: OpCall, x: Value, key: str = "axis") -> list[int]:
    """The axes an ``axis`` argument names (an int, a list, or None: every axis, the batch's too), sorted."""
    rank = len(c.ctx.shape(x))
    axes = _ints(c, key, None)
    if axes == []:  # TF's reductions over no axis hand the tensor on as it is (EuclideanNorm's too)
        raise c.gap(f"{key}=[]")
    return list(range(rank)) if axes is None else sorted({_axis(c, a, rank) for a in axes})


def _reduce(c: OpCall, op: str, x: Value, axes: list[int], keep: bool, label: str,
            dtype: DType | None = None) -> Value:
    """One reduction op (Sum, Max, All ...) of ``x`` over ``axes``."""
    shape = c.ctx.shape(x)
    out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    return c.ctx.op(op, [x, c.ctx.ints(axes, f"{label}_axes")], {"keep_dims": keep, "Tidx": I32}, shape=out,
                    dtype=dtype or x.dtype, label=label)


def _bool(c: OpCall, op: str, inputs: list[Value], label: str) -> Value:
    """A comparison or logical op (bool result) of broadcast operands."""
    from .context import broadcast_shape

    shape = inputs[0].shape
    for value in inputs[1:]:
        shape = broadcast_shape(shape, value.shape)
    attrs = {"incompatible_shape_error": True} if op in ("Equal", "NotEqual") else {}
    return c.ctx.op(op, inputs, attrs, dtype=BOOL, shape=shape, label=label)


def _is_nan(c: OpCall, x: Value, label: str = "is_nan") -> Value:
    return c.ctx.op("IsNan", [x], dtype=BOOL, shape=x.shape, label=label)


def _cast(c: OpCall, x: Value, dtype: DType, label: str) -> Value:
    """A Cast (int32 or bool to float32, bool to int32: exact as TF casts them; float32 to int32 goes through
    :func:`float_to_int32`)."""
    if x.dtype == dtype:
        return x
    if x.dtype == F32 and dtype == I32:
        return float_to_int32(c.ctx, x, label)
    return c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, dtype=dtype, shape=x.shape,
                    label=label)


def _as_float(c: OpCall, x: Value, label: str = "to_float") -> Value:
    """``x`` in float32, as Keras 3 casts int32 and bool to its float dtype first (``result_type(x, float)``)."""
    if x.dtype not in (F32, I32, BOOL):
        raise c.gap(f"a {x.dtype.numpy} tensor (lowered for float32, int32 and bool)")
    return _cast(c, x, F32, label)


def _float_only(c: OpCall, x: Value) -> Value:
    if x.dtype != F32:
        raise c.gap(f"a {x.dtype.numpy} tensor (lowered for float32)")
    return x


def _keep(c: OpCall, key: str = "keepdims") -> bool:
    value = c.value(key, False)
    if not isinstance(value, bool) and value is not None:
        raise c.gap(f"{key}={value!r}")
    return bool(value)


# -- nan-aware reductions (Keras 3) -----------------------------------------------------------------------
def _nan_extreme(op: str) -> Callable[[OpCall], Value]:
    """``nanmax``/``nanmin``: floats as ``where(all(isnan), NaN, max(where(isnan, -inf, x)))`` (min: +inf);
    integers the plain Max/Min, bools Any/All (Keras's own branches)."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        axes, keep = _reduced_axes(c, x), _keep(c)
        if x.dtype == BOOL:
            return _reduce(c, "Any" if op == "Max" else "All", x, axes, keep, op)
        if x.dtype == I32:
            return _reduce(c, op, x, axes, keep, op)
        x = _float_only(c, x)
        nan = _is_nan(c, x)
        clean = _select(c, nan, c.ctx.floats(-np.inf if op == "Max" else np.inf, "fill"), x, "clean")
        extreme = _reduce(c, op, clean, axes, keep, op)
        all_nan = _reduce(c, "All", nan, axes, keep, "all_nan")
        return _select(c, all_nan, c.ctx.floats(np.nan, "nan"), extreme, "nan_extreme")
    return lower


def _nan_clean(c: OpCall, x: Value, fill: float) -> Value:
    """``where(isnan(x), fill, x)`` of floats; integers as they are (never NaN)."""
    if x.dtype == I32:
        return x
    x = _float_only(c, x)
    return _select(c, _is_nan(c, x), c.ctx.floats(fill, "fill"), x, "clean")


def _nansum(c: OpCall) -> Value:
    """``nansum``: the Sum of ``where(isnan, 0, x)`` (int32: TF.js's int32 Sum, exact modulo 2^32 as TF's for up to
    2^22 terms; bools summed as int32)."""
    x = c.tensor("x")
    if x.dtype == BOOL:
        x = _cast(c, x, I32, "to_int32")
    axes = _reduced_axes(c, x)
    if x.dtype == I32:
        _check_int32_count(c, x, axes)
    return _reduce(c, "Sum", _nan_clean(c, x, 0.0), axes, _keep(c), "nansum")


def _check_int32_count(c: OpCall, x: Value, axes: list[int]) -> None:
    sizes = [c.ctx.shape(x)[a] for a in axes]
    if None in sizes or math.prod(sizes) > _EXACT_INT32_TERMS:
        raise c.gap(f"an int32 sum over axes of sizes {sizes} (lowered for known counts up to {_EXACT_INT32_TERMS}, "
                    "which TF.js sums exactly modulo 2^32)")


def _nan_count(c: OpCall, x: Value, axes: list[int], keep: bool) -> Value:
    """The number of non-NaN values over ``axes``, as float32 (Keras sums ``cast(~isnan(x), float32)``)."""
    valid = c.ctx.op("LogicalNot", [_is_nan(c, x)], dtype=BOOL, shape=x.shape, label="valid")
    return _reduce(c, "Sum", _cast(c, valid, F32, "valid_float"), axes, keep, "count")


def _nanmean(c: OpCall) -> Value:
    """``nanmean``: ``nansum / count(non-NaN)`` of floats (0/0 is NaN, as in Keras), the Mean of integers cast to
    float32; ``axis=()`` hands ``x`` back."""
    x = c.tensor("x")
    if c.value("axis", None) == []:
        return c.ctx.unary("Identity", x)
    axes, keep = _reduced_axes(c, x), _keep(c)
    if x.dtype in (I32, BOOL):
        return _reduce(c, "Mean", _as_float(c, x), axes, keep, "mean")
    x = _float_only(c, x)
    total = _reduce(c, "Sum", _nan_clean(c, x, 0.0), axes, keep, "nansum")
    return c.ctx.binary("RealDiv", total, _nan_count(c, x, axes, keep), label="nanmean")


def _nanvar(std: bool) -> Callable[[OpCall], Value]:
    """``nanvar``/``nanstd``: the nanmean kept, ``where(valid, x - mean, 0)`` squared and summed, divided by the
    count of non-NaN values (integers cast to float32 first); std its square root."""
    def lower(c: OpCall) -> Value:
        x = _as_float(c, c.tensor("x"))
        axes, keep = _reduced_axes(c, x), _keep(c)
        nan = _is_nan(c, x)
        valid = c.ctx.op("LogicalNot", [nan], dtype=BOOL, shape=x.shape, label="valid")
        total = _reduce(c, "Sum", _select(c, nan, c.ctx.floats(0.0, "zero"), x, "clean"), axes, True, "mean_sum")
        counts = _reduce(c, "Sum", _cast(c, valid, F32, "valid_float"), axes, True, "mean_count")
        mean = c.ctx.binary("RealDiv", total, counts, label="mean")
        centered = _select(c, valid, c.ctx.binary("Sub", x, mean, label="deviations"),
                           c.ctx.floats(0.0, "centered_zero"), "centered")
        squares = c.ctx.unary("Square", centered, label="squares")
        count = _reduce(c, "Sum", _cast(c, valid, F32, "valid_count_float"), axes, keep, "count")
        var = c.ctx.binary("RealDiv", _reduce(c, "Sum", squares, axes, keep, "square_sum"), count, label="var")
        return c.ctx.unary("Sqrt", var, label="std") if std else var
    return lower


def _nanprod(c: OpCall) -> Value:
    """``nanprod``: Keras 3's ``prod`` of ``where(isnan, 1, x)`` (of int32, ``prod`` itself: exact products)."""
    x = c.tensor("x")
    if x.dtype == I32:
        return _prod(c)
    axes = _reduced_axes(c, x)
    return _reduce(c, "Prod", _nan_clean(c, x, 1.0), axes, _keep(c), "nanprod")


# -- counts ---------------------------------------------------------------------------------------------------
def _nonzero(c: OpCall, x: Value, label: str = "nonzero") -> Value:
    """``x != 0`` as TF compares (NaN is non-zero); a bool tensor as it is."""
    if x.dtype == BOOL:
        return x
    if x.dtype not in (F32, I32):
        raise c.gap(f"a {x.dtype.numpy} tensor")
    return _bool(c, "NotEqual", [x, c.ctx.const(np.zeros((), x.dtype.numpy), f"{label}_zero")], label)


def _count_nonzero(c: OpCall) -> Value:
    """``count_nonzero``: the int32 Sum of ``cast(x != 0)`` (TF's int64 count, which TF.js holds as int32; tf's
    ``dtype`` float32 casts the count after)."""
    x = _int64_as_int32(c, c.tensor("x"))
    axes = _reduced_axes(c, x)
    keep = _keep(c) if not _keras3(c) else False
    dtype = str(c.value("dtype", "int32" if _keras3(c) else "int64"))
    if dtype not in ("int32", "int64", "float32"):
        raise c.gap(f"dtype={dtype!r}")
    count = _reduce(c, "Sum", _cast(c, _nonzero(c, x), I32, "nonzero_int32"), axes, keep, "count_nonzero")
    return _cast(c, count, F32, "count_float") if dtype == "float32" else count


def _int64_as_int32(c: OpCall, x: Value) -> Value:
    """An int64 tensor (a model input) as int32, which TF.js holds for it (its values too)."""
    if x.dtype != DType.INT64:
        return x
    return c.ctx.op("Cast", [x], {"SrcT": DType.INT64, "DstT": I32, "Truncate": False}, dtype=I32, shape=x.shape,
                    label="x_int32")


def _zero_fraction(c: OpCall) -> Value:
    """``tf.math.zero_fraction``: ``float32(size - count_nonzero) / float32(size)`` over the whole tensor (batch
    included): the zeros counted in int32, exact, and the size as the int32 count of every element."""
    x = _int64_as_int32(c, c.tensor("x"))
    axes = list(range(len(c.ctx.shape(x))))
    zero = _bool(c, "Equal", [x, c.ctx.const(np.zeros((), x.dtype.numpy), "zero")], "is_zero") \
        if x.dtype != BOOL else c.ctx.op("LogicalNot", [x], dtype=BOOL, shape=x.shape, label="is_zero")
    zeros = _reduce(c, "Sum", _cast(c, zero, I32, "zero_int32"), axes, False, "zeros")
    size = _reduce(c, "Sum", c.ctx.op("OnesLike", [_cast(c, zero, I32, "all_int32")], shape=x.shape,
                                      label="ones"), axes, False, "size")
    return c.ctx.binary("RealDiv", _cast(c, zeros, F32, "zeros_float"), _cast(c, size, F32, "size_float"),
                        label="fraction")


# -- norms ------------------------------------------------------------------------------------------------
def _square_sum(c: OpCall, x: Value, axes: list[int], keep: bool, label: str = "square_sum") -> Value:
    """``Σ x · conj(x)`` of real ``x`` (a Mul, as TF runs it)."""
    return _reduce(c, "Sum", c.ctx.binary("Mul", x, x, label=f"{label}_squares"), axes, keep, label)


def _vector_norm(c: OpCall, x: Value, order: Any, axes: list[int], keep: bool) -> Value:
    """Keras 3's vector norms (jax's): 2 (None), ±inf (max/min of ``|x|``), 0 (the count of non-zeros, float) and
    any other order ``p`` as ``pow(Σ pow(|x|, p), 1/p)`` with ``1/p`` in float32."""
    if order is None or order == 2:
        return c.ctx.unary("Sqrt", _square_sum(c, x, axes, keep), label="norm")
    if order in (math.inf, -math.inf):
        return _reduce(c, "Max" if order > 0 else "Min", c.ctx.unary("Abs", x, label="magnitudes"), axes, keep,
                       "norm")
    if order == 0:
        return _reduce(c, "Sum", _cast(c, _nonzero(c, x), F32, "nonzero_float"), axes, keep, "norm")
    p = np.float32(order)
    powers = c.ctx.binary("Pow", c.ctx.unary("Abs", x, label="magnitudes"), c.ctx.floats(p, "order"), label="powers")
    total = _reduce(c, "Sum", powers, axes, keep, "power_sum")
    return c.ctx.binary("Pow", total, c.ctx.floats(np.float32(1.0) / p, "inverse_order"), label="norm")


def _matrix_norm(c: OpCall, x: Value, order: Any, row: int, col: int, keep: bool) -> Value:
    """Keras 3's matrix norms: Frobenius (None, 'fro'), 1/-1 (max/min over columns of the column sums of ``|x|``),
    ±inf (over rows of the row sums); the singular-value ones ('nuc', ±2) need an SVD, which TF.js lacks: a gap."""
    if order is None or order == "fro":
        return c.ctx.unary("Sqrt", _square_sum(c, x, sorted([row, col]), keep), label="norm")
    if order in ("nuc", 2, -2):
        raise c.gap(f"ord={order!r} over two axes (an SVD, which TF.js does not have)")
    if order not in (1, -1, math.inf, -math.inf):
        raise c.gap(f"ord={order!r} over two axes")
    first, second = (row, col) if order in (1, -1) else (col, row)
    if not keep and second > first:
        second -= 1
    sums = _reduce(c, "Sum", c.ctx.unary("Abs", x, label="magnitudes"), [first], keep, "sums")
    return _reduce(c, "Max" if order > 0 else "Min", sums, [second], keep, "norm")


def _order(c: OpCall, default: Any) -> Any:
    order = c.value("ord", default)
    if isinstance(order, bool) or not (order is None or isinstance(order, (int, float, str))):
        raise c.gap(f"ord={order!r}")
    return order


def _keras_norm(c: OpCall) -> Value:
    """Keras 3 ``linalg.norm(x, ord, axis, keepdims)``: integers cast to float32 first; one axis a vector norm, two
    a matrix norm (no axis: every axis of the tensor, the batch's too)."""
    x = _as_float(c, c.tensor("x"))
    rank = len(c.ctx.shape(x))
    raw = _ints(c, "axis", None)
    axes = list(range(rank)) if raw is None else [_axis(c, a, rank) for a in raw]
    order, keep = _order(c, None), _keep(c)
    if len(axes) == 1:
        if isinstance(order, str):
            raise c.gap(f"ord={order!r} for a vector norm")
        return _vector_norm(c, x, order, axes, keep)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise c.gap(f"axis={raw!r}")
    return _matrix_norm(c, x, order, axes[0], axes[1], keep)


def _tf_norm(c: OpCall) -> Value:
    """``tf.norm``/``tf.linalg.norm`` (recorded as ``compat.v1.norm``): 'euclidean' (2, 'fro'): ``sqrt(Σ x·x)``,
    1 and inf (vector: ``Σ|x|``, ``max|x|``; matrix: the max over the other axis of those), other positive orders
    ``pow(Σ pow(|x|, p), 1/p)``; no axis: the flattened tensor (batch included). Float32 only; the matrix 2-norm
    (an SVD) is a gap."""
    x = _float_only(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    keep = bool(c.value("keepdims", None) or c.value("keep_dims", None))
    order = _order(c, "euclidean")
    raw = c.value("axis", None)
    if raw is None:
        axes = list(range(len(shape)))
        matrix = False
    elif isinstance(raw, list) and len(raw) == 2:
        axes, matrix = [_axis(c, a, len(shape)) for a in raw], True
        if axes[0] == axes[1]:
            raise c.gap(f"axis={raw!r}")
    elif isinstance(raw, int) and not isinstance(raw, bool):
        axes, matrix = [_axis(c, raw, len(shape))], False
    else:
        raise c.gap(f"axis={raw!r}")
    magnitudes = None if order in ("euclidean", "fro", 2) else c.ctx.unary("Abs", x, label="magnitudes")
    if matrix and order == 2:
        raise c.gap("ord=2 over two axes (an SVD, which TF.js does not have)")
    if order in ("euclidean", 2) or order == "fro" and matrix:
        out = c.ctx.unary("Sqrt", _square_sum(c, x, sorted(axes), True), label="norm_kept")
    elif order == 1 and matrix:
        out = _reduce(c, "Max", _reduce(c, "Sum", magnitudes, [axes[0]], True, "sums"), [axes[1]], True, "norm_kept")
    elif order == math.inf and matrix:
        out = _reduce(c, "Max", _reduce(c, "Sum", magnitudes, [axes[1]], True, "sums"), [axes[0]], True, "norm_kept")
    elif order == 1:
        out = _reduce(c, "Sum", magnitudes, axes, True, "norm_kept")
    elif order == math.inf:
        out = _reduce(c, "Max", magnitudes, axes, True, "norm_kept")
    elif not matrix and isinstance(order, (int, float)) and not isinstance(order, bool) and order > 0:
        p = np.float32(order)
        powers = c.ctx.binary("Pow", magnitudes, c.ctx.floats(p, "order"), label="powers")
        total = _reduce(c, "Sum", powers, axes, True, "power_sum")
        out = c.ctx.binary("Pow", total, c.ctx.floats(np.float32(1.0 / float(order)), "inverse_order"),
                           label="norm_kept")
    else:
        raise c.gap(f"ord={order!r} {'over two axes' if matrix else 'for a vector norm'}")
    if keep:
        return out
    if raw is None:  # TF squeezes every size-1 axis: a scalar
        return c.ctx.reshape(out, [], "norm")
    squeezed = tuple(d for i, d in enumerate(out.shape) if i not in axes)
    return c.ctx.op("Squeeze", [out], {"squeeze_dims": sorted(axes)}, shape=squeezed, label="norm")


def _euclidean_norm(c: OpCall) -> Value:
    """``tf.math.reduce_euclidean_norm``: TF's EuclideanNorm, ``sqrt(Σ x·x)`` (float32; of integers TF takes an
    integer square root: a gap)."""
    x = _float_only(c, c.tensor("x"))
    return c.ctx.unary("Sqrt", _square_sum(c, x, _reduced_axes(c, x), _keep(c)), label="norm")


def _clip_by_norm(c: OpCall) -> Value:
    """``tf.clip_by_norm(t, clip_norm, axes)``: ``t · clip / max(‖t‖, clip)``, the norm ``sqrt(Σ t·t)`` where that
    sum is positive (else the sum itself), a constant ``clip_norm`` below 0 read as 0 (TF's own steps)."""
    x = _float_only(c, c.tensor("x"))
    clip = c.value("clip_norm")
    if isinstance(clip, bool) or not isinstance(clip, (int, float)):
        raise c.gap(f"clip_norm={clip!r} (lowered for a number)")
    clip_value = c.ctx.floats(max(float(clip), 0.0), "clip_norm")
    sums = _square_sum(c, x, _reduced_axes(c, x, "axes"), True, "l2sum")
    positive = _bool(c, "Greater", [sums, c.ctx.floats(0.0, "zero")], "positive")
    safe = _select(c, positive, sums, c.ctx.op("OnesLike", [sums], shape=sums.shape, label="ones"), "l2sum_safe")
    norm = _select(c, positive, c.ctx.unary("Sqrt", safe, label="sqrt"), sums, "l2norm")
    scaled = c.ctx.binary("Mul", x, clip_value, label="intermediate")
    return c.ctx.binary("RealDiv", scaled, c.ctx.binary("Maximum", norm, clip_value, label="divisor"),
                        label="clipped")


# -- averages -------------------------------------------------------------------------------------------------
def _average(c: OpCall) -> Value:
    """Keras 3 ``average(x, axis, weights)``: the Mean of ``x`` in float32 without weights; with weights of ``x``'s
    rank ``Σ x·w / Σ w`` over the axis (every axis when None), with 1-D weights along the axis the tensordot of ``x``
    and ``w`` (a MatMul) over ``Σ w``."""
    x = _as_float(c, c.tensor("x"))
    rank = len(c.ctx.shape(x))
    axis = c.value("axis", None)
    axes = list(range(rank)) if axis is None else [_axis(c, axis, rank)]
    if not c.has("weights"):
        return _reduce(c, "Mean", x, axes, False, "average")
    weights = c.tensor("weights", like=x)
    weights = _as_float(c, weights, "weights_float")
    if axis is None or len(c.ctx.shape(weights)) == rank:
        total = _reduce(c, "Sum", c.ctx.binary("Mul", x, weights, label="weighted"), axes, False, "weighted_sum")
        return c.ctx.binary("RealDiv", total, _reduce(c, "Sum", weights, axes, False, "weights_sum"), label="average")
    if len(c.ctx.shape(weights)) != 1:
        raise c.gap(f"weights of rank {len(c.ctx.shape(weights))} for a rank-{rank} tensor")
    dot = _tensordot(c, x, weights, axes, [0])
    return c.ctx.binary("RealDiv", dot, _reduce(c, "Sum", weights, [0], False, "weights_sum"), label="average")


def _trapezoid(c: OpCall) -> Value:
    """Keras 3 ``trapezoid(y, x, dx, axis)``: ``Σ 0.5·(y[1:] + y[:-1]) · dx`` along the axis (moved last), ``dx`` a
    number or the float32 differences of a constant 1-D ``x`` along the last axis. An axis of unknown size (the
    batch's too) is sliced at run time (a length below 2 sums nothing: 0, as Keras)."""
    y = _as_float(c, c.tensor("y"))
    shape = c.ctx.shape(y)
    rank = len(shape)
    axis = _axis(c, c.value("axis", -1), rank)
    if axis != rank - 1:
        perm = [i for i in range(rank) if i != axis] + [axis]
        y = c.ctx.transpose(y, perm, "axis_last")
        shape = c.ctx.shape(y)
    size = shape[-1]
    if size is not None and size < 2:
        raise c.gap(f"an axis of size {size} (lowered for sizes of 2 or more)")
    if c.value("x", None) is not None:
        try:
            points = np.asarray(c.value("x"), dtype=np.float32)
        except (TypeError, ValueError):
            raise c.gap(f"x={c.value('x')!r}") from None
        if points.shape != (size,) or c.value("axis", -1) != -1:
            raise c.gap(f"x of shape {list(points.shape)} along axis {c.value('axis', -1)} of size {size} (lowered "
                        "for a 1-D x along the last axis, of its size known in the config)")
        step = c.ctx.floats(points[1:] - points[:-1], "dx")
    else:
        dx = c.value("dx", 1.0)
        if isinstance(dx, bool) or not isinstance(dx, (int, float)):
            raise c.gap(f"dx={dx!r}")
        step = c.ctx.floats(np.float32(dx), "dx")
    upper = _slice_last(c, y, 1, None if size is None else size - 1, "upper")
    lower = _slice_last(c, y, 0, size - 1, "lower") if size is not None else _drop_last(c, y, "lower")
    heights = c.ctx.scalar_op("Mul", c.ctx.binary("AddV2", upper, lower, label="pair_sums"), 0.5, "heights")
    areas = c.ctx.binary("Mul", heights, step, label="areas")
    return _reduce(c, "Sum", areas, [rank - 1], False, "trapezoid")


def _slice_last(c: OpCall, x: Value, begin: int, size: int | None, label: str) -> Value:
    """``x[..., begin:begin + size]`` (a Slice; ``size`` None: to the end)."""
    shape = c.ctx.shape(x)
    rank = len(shape)
    return c.ctx.op("Slice", [x, c.ctx.ints([0] * (rank - 1) + [begin], f"{label}_begin"),
                              c.ctx.ints([-1] * (rank - 1) + [-1 if size is None else size], f"{label}_size")],
                    {"Index": I32}, shape=(*shape[:-1], size), label=label)


def _drop_last(c: OpCall, x: Value, label: str) -> Value:
    """``x[..., :-1]`` of a last axis of unknown size (a StridedSlice; empty for a length of 0 or 1, as TF's)."""
    shape = c.ctx.shape(x)
    rank = len(shape)
    whole = (1 << rank) - 1
    return c.ctx.op("StridedSlice", [x, c.ctx.ints([0] * rank, f"{label}_begin"),
                                     c.ctx.ints([0] * (rank - 1) + [-1], f"{label}_end"),
                                     c.ctx.ints([1] * rank, f"{label}_strides")],
                    {"Index": I32, "begin_mask": whole, "end_mask": whole >> 1 if rank > 1 else 0,
                     "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}, shape=(*shape[:-1], None),
                    label=label)


# -- products -------------------------------------------------------------------------------------------------
def _tensordot(c: OpCall, a: Value, b: Value, axes_a: list[int], axes_b: list[int]) -> Value:
    """``tf.tensordot`` as TF computes it: ``a``'s free axes then its contracted ones, ``b``'s contracted axes then
    its free ones, each reshaped to a matrix around one MatMul, the product reshaped to ``a``'s free sizes then
    ``b``'s. Of int32 (TF's int32 matmul wraps modulo 2^32): the products wrapped as TF's int32 Mul
    (:func:`int32_product`) and summed in int32, exact; a float32 MatMul otherwise."""
    sa, sb = c.ctx.shape(a), c.ctx.shape(b)
    if len(axes_a) != len(axes_b) or len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise c.gap(f"axes {axes_a} and {axes_b}")
    sizes = [sa[i] if sa[i] is not None else sb[j] for i, j in zip(axes_a, axes_b)]
    if any(sa[i] is not None and sb[j] is not None and sa[i] != sb[j] for i, j in zip(axes_a, axes_b)):
        raise c.gap(f"contracting sizes {[sa[i] for i in axes_a]} and {[sb[j] for j in axes_b]}")
    if a.dtype != b.dtype or a.dtype not in (F32, I32):
        raise c.gap(f"a product of {a.dtype.numpy} and {b.dtype.numpy} tensors")
    count = None if None in sizes else math.prod(sizes)
    free_a = [i for i in range(len(sa)) if i not in axes_a]
    free_b = [j for j in range(len(sb)) if j not in axes_b]
    rows = _matrix(c, a, free_a + axes_a, len(free_a), "a")
    cols = _matrix(c, b, axes_b + free_b, len(axes_b), "b")
    m, n = c.ctx.shape(rows)[0], c.ctx.shape(cols)[1]
    if a.dtype == I32:
        if count is None or count > _EXACT_INT32_TERMS:
            raise c.gap(f"an int32 product summing {count} terms (lowered up to {_EXACT_INT32_TERMS})")
        left, right = c.ctx.expand_dims(rows, 2, "a_expanded"), c.ctx.expand_dims(cols, 0, "b_expanded")
        terms = int32_product(c.ctx.graph, left, right, f"{c.ctx.name}/products", (m, count, n))
        product = _reduce(c, "Sum", terms, [1], False, "matmul")
    else:
        product = c.ctx.op("MatMul", [rows, cols], {"transpose_a": False, "transpose_b": False}, shape=(m, n),
                           label="matmul")
    target = (*(sa[i] for i in free_a), *(sb[j] for j in free_b))
    if target == (m, n):
        return product
    if sum(d is None for d in target) <= 1:
        return c.ctx.reshape(product, target, "tensordot")
    parts = [_sizes(c, a, free_a, "a_free"), _sizes(c, b, free_b, "b_free")]
    return reshape_to(c.ctx, product, parts, target, "tensordot")


def _sizes(c: OpCall, x: Value, axes: list[int], label: str) -> Value | list[int]:
    """The sizes of ``x``'s ``axes``: constants where known, else read at run time (a Gather of its Shape)."""
    shape = c.ctx.shape(x)
    if all(shape[i] is not None for i in axes):
        return [int(shape[i]) for i in axes]
    full = runtime_sizes(c.ctx, x, 0, len(shape), label)
    return c.ctx.op("GatherV2", [full, c.ctx.ints(axes, f"{label}_axes"), c.ctx.ints(0, f"{label}_axis")],
                    {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32, shape=(len(axes),),
                    label=f"{label}_sizes")


def _matrix(c: OpCall, x: Value, perm: list[int], split: int, label: str) -> Value:
    """``x`` transposed by ``perm`` and reshaped to ``[Π first split sizes, Π the rest]`` (one unknown size: -1)."""
    shape = c.ctx.shape(x)
    moved = x if perm == list(range(len(shape))) else c.ctx.transpose(x, perm, f"{label}_moved")
    sizes = [shape[p] for p in perm]
    dims = [None if None in part else math.prod(part) for part in (sizes[:split], sizes[split:])]
    if None in dims and dims.count(None) > 1:
        raise c.gap(f"a product of shape {list(shape)} (two sizes unknown in the config)")
    return c.ctx.reshape(moved, dims, f"{label}_matrix")


def _operands(c: OpCall) -> tuple[Value, Value]:
    """``x1``, ``x2`` of a Keras 3 product (a constant takes the tensor's dtype)."""
    x, y = c.pair("x1", "x2")
    for value in (x, y):
        if value.dtype not in (F32, I32):
            raise c.gap(f"a {value.dtype.numpy} operand (lowered for float32 and int32)")
    return x, y


def _float_product(build: Callable[[OpCall, Value, Value], Value]) -> Callable[[OpCall], Value]:
    """Keras 3's ``dot``/``inner``/``vdot``: both operands cast to float32 (``result_type(..., float)``), the product,
    then cast to the operands' result dtype: int32 of two int32 operands, as TF casts float32 to int32
    (:func:`float_to_int32`; exact while the sums stay within float32's 2^24, as Keras's own float32 sums)."""
    def lower(c: OpCall) -> Value:
        x, y = _operands(c)
        out = build(c, _as_float(c, x, "x1_float"), _as_float(c, y, "x2_float"))
        return _cast(c, out, I32, "to_int32") if x.dtype == y.dtype == I32 else out
    return lower


def _dot(c: OpCall, x: Value, y: Value) -> Value:
    """``dot``: over ``x``'s last axis and ``y``'s last (``y`` 1-D) or second-to-last axis."""
    rx, ry = len(c.ctx.shape(x)), len(c.ctx.shape(y))
    if rx == 0 or ry == 0:
        return c.ctx.binary("Mul", x, y, label="dot")
    return _tensordot(c, x, y, [rx - 1], [0 if ry == 1 else ry - 2])


def _inner(c: OpCall, x: Value, y: Value) -> Value:
    rx, ry = len(c.ctx.shape(x)), len(c.ctx.shape(y))
    if rx == 0 or ry == 0:
        return c.ctx.binary("Mul", x, y, label="inner")
    return _tensordot(c, x, y, [rx - 1], [ry - 1])


def _vdot(c: OpCall, x: Value, y: Value) -> Value:
    """``vdot``: both flattened (the batch included), then their dot (a scalar)."""
    flat = [c.ctx.reshape(v, [_flat_size(c, v)], f"{label}_flat") for v, label in ((x, "x1"), (y, "x2"))]
    return _tensordot(c, flat[0], flat[1], [0], [0])


def _flat_size(c: OpCall, x: Value) -> int | None:
    shape = c.ctx.shape(x)
    return None if None in shape else math.prod(shape)


def _outer(c: OpCall) -> Value:
    """``outer``: ``reshape(x1, [-1, 1]) * reshape(x2, [-1])`` (both flattened, the batch included) in their result
    dtype; of int32 TF's int32 Mul, wrapped (:func:`int32_product`)."""
    x, y = _operands(c)
    if x.dtype != y.dtype:
        x, y = _as_float(c, x, "x1_float"), _as_float(c, y, "x2_float")
    column = c.ctx.reshape(x, [_flat_size(c, x), 1], "x1_column")
    row = c.ctx.reshape(y, [_flat_size(c, y)], "x2_row")
    shape = (c.ctx.shape(column)[0], c.ctx.shape(row)[0])
    if x.dtype == I32:
        return int32_product(c.ctx.graph, column, row, f"{c.ctx.name}/outer", shape)
    return c.ctx.binary("Mul", column, row, label="outer")


def _tensordot_axes(c: OpCall, a: Value, b: Value) -> tuple[list[int], list[int]]:
    """The contracted axes of ``tensordot``'s ``axes``: an int ``n`` (``a``'s last ``n`` with ``b``'s first ``n``)
    or a pair of axes or lists of axes."""
    ra, rb = len(c.ctx.shape(a)), len(c.ctx.shape(b))
    axes = c.value("axes", 2)
    if isinstance(axes, int) and not isinstance(axes, bool):
        if not 0 <= axes <= min(ra, rb):
            raise c.gap(f"axes={axes!r}")
        return list(range(ra - axes, ra)), list(range(axes))
    if not isinstance(axes, (list, tuple)) or len(axes) != 2:
        raise c.gap(f"axes={axes!r}")
    pair = [item if isinstance(item, (list, tuple)) else [item] for item in axes]
    if not all(isinstance(i, int) and not isinstance(i, bool) for item in pair for i in item):
        raise c.gap(f"axes={axes!r}")
    return [_axis(c, i, ra) for i in pair[0]], [_axis(c, j, rb) for j in pair[1]]


def _keras_tensordot(c: OpCall) -> Value:
    """Keras 3 ``tensordot``: computed in the operands' result dtype (int32 of two int32 operands: exact wrapped
    products), a float32 one for mixed operands."""
    x, y = _operands(c)
    if x.dtype != y.dtype:
        x, y = _as_float(c, x, "x1_float"), _as_float(c, y, "x2_float")
    return _tensordot(c, x, y, *_tensordot_axes(c, x, y))


def _tf_tensordot(c: OpCall) -> Value:
    """``tf.tensordot(a, b, axes)`` of float32 or int32 tensors of one dtype (TF refuses mixed ones)."""
    a, b = c.pair("a", "b")
    return _tensordot(c, a, b, *_tensordot_axes(c, a, b))


# -- quantiles ------------------------------------------------------------------------------------------------
def _picks(n: int, q: np.ndarray, method: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Which sorted elements TF's ``_quantile`` picks along an axis of ``n`` and how it weighs them: the index
    ``(n - 1)·q`` in float64, floored (lower), ceiled (higher), rounded half to even (nearest), both of the first two
    (midpoint, averaged), or for linear the ceiled index ``hi`` (kept within the axis) and the one before it, ``lo``,
    weighed ``1 - f`` and ``f`` with ``f = hi - (n - 1)·q`` (float32)."""
    exact = (float(n) - 1.0) * q

    def index(rounding: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        return np.clip(rounding(exact).astype(np.int64), 0, n - 1)

    if method in ("lower", "higher", "nearest"):
        return [index({"lower": np.floor, "higher": np.ceil, "nearest": np.round}[method])], []
    if method == "midpoint":
        return [index(np.floor), index(np.ceil)], []
    larger = index(np.ceil)
    smaller = np.maximum(larger - 1, 0)
    larger = np.minimum(smaller + 1, n - 1)
    fraction = (larger.astype(np.float64) - exact).astype(np.float32)
    return [larger, smaller], [np.float32(1) - fraction, fraction]


def _mix(c: OpCall, picked: list[Value], weights: list[Value], method: str) -> Value:
    """The quantile from the picked elements as TF computes it in float32: the element itself, ``0.5·(lo + hi)``
    (midpoint), or ``hi · (1 - f) + lo · f`` (linear)."""
    if method in ("lower", "higher", "nearest"):
        return picked[0]
    if method == "midpoint":
        return c.ctx.scalar_op("Mul", c.ctx.binary("AddV2", picked[0], picked[1], label="pair_sum"), 0.5, "midpoint")
    return c.ctx.binary("AddV2", c.ctx.binary("Mul", picked[0], weights[0], label="larger_part"),
                        c.ctx.binary("Mul", picked[1], weights[1], label="smaller_part"), label="interpolated")


def _interpolated(c: OpCall, ascending: Value, n: int, q: np.ndarray, method: str) -> Value:
    """The quantiles ``q`` of the sorted last axis (of ``n`` elements): :func:`_picks` gathered and :func:`_mix`-ed."""
    indices, weights = _picks(n, q, method)
    picked = [_gather_last(c, ascending, i, f"pick_{k}") for k, i in enumerate(indices)]
    return _mix(c, picked, [c.ctx.floats(w, f"weight_{k}") for k, w in enumerate(weights)], method)


def _quantile(c: OpCall, q: Any, method: str = "linear") -> Value:
    """Keras 3's ``quantile`` (``tfp.stats.percentile``'s linear interpolation; Keras's saved operation does not hand
    ``method`` on, so every method computes this): integers cast to float32, the axes moved last and flattened,
    sorted ascending (TF's sort: TopKV2 of ``-x``, :func:`.op_layers._sort`), the two neighbours of ``(n - 1)·q``
    gathered (indices and fraction computed here in float64 as TF does) and mixed in float32 as
    ``hi · (1 - f) + lo · f``; a slice holding NaN gives NaN; the ``q`` axis (a list of ``q``) first. Over axes
    of sizes unknown in the config (the batch's too) the picks are computed at run time (:func:`_runtime_picks`)."""
    x = _as_float(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    rank = len(shape)
    raw = _ints(c, "axis", None)
    axes = list(range(rank)) if raw is None else [_axis(c, a, rank) for a in raw]
    keep = _keep(c)
    if len(set(axes)) != len(axes) or not axes:
        raise c.gap(f"axis={raw!r}")
    sizes = [shape[a] for a in axes]
    probabilities = _probabilities(c, q)
    n = None if None in sizes else math.prod(sizes)
    other = [i for i in range(rank) if i not in axes]
    perm = other + axes
    moved = x if perm == list(range(rank)) else c.ctx.transpose(x, perm, "axes_last")
    flat = moved if len(axes) == 1 else _flattened_last(c, moved, len(other), n)
    ascending = _sort_keys(c, _top_k_all(c, _sort_keys(c, flat))[0], "sorted")
    if n is None:
        indices, weights = _runtime_picks(c, flat, probabilities, method)
        picked = [_gather_last(c, ascending, i, f"pick_{k}") for k, i in enumerate(indices)]
        mixed = _mix(c, picked, weights, method)
    else:
        mixed = _interpolated(c, ascending, n, probabilities, method)
    nan = _reduce(c, "Any", _is_nan(c, x), sorted(axes), False, "has_nan")
    if probabilities.ndim:
        nan = c.ctx.expand_dims(nan, len(c.ctx.shape(nan)), "has_nan_column")
    out = _select(c, nan, c.ctx.floats(np.nan, "nan"), mixed, "quantile")
    if keep:
        for i in sorted(axes):
            out = c.ctx.expand_dims(out, i, f"kept_{i}")
    if probabilities.ndim and len(c.ctx.shape(out)) >= 2:
        last = len(c.ctx.shape(out)) - 1
        out = c.ctx.transpose(out, [last, *range(last)], "q_first")
    return out


def _flattened_last(c: OpCall, x: Value, kept: int, n: int | None) -> Value:
    """``x`` reshaped to its first ``kept`` sizes and the product of the rest (``n``; None: unknown in the config),
    as Keras's ``_quantile`` reshapes the moved axes; sizes unknown in the config are read at run time."""
    shape = c.ctx.shape(x)
    target = (*shape[:kept], n)
    if sum(d is None for d in target) <= 1:
        return c.ctx.reshape(x, target, "flattened")
    return reshape_to(c.ctx, x, [_sizes(c, x, list(range(kept)), "kept"), [-1]], target, "flattened")


#: The most bits a quantile's ``q = M · 2^-s`` may take after the point for :func:`_runtime_picks` (its rest
#: ``(n - 1)·q mod 1``, times 2^s, is held in int32).
_RUNTIME_Q_BITS = 30


def _q_digits(c: OpCall, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each ``q`` (a float32 value) as ``M · 2^-s``: the odd (or zero) integer ``M < 2^24`` and ``s >= 0``; a ``q``
    needing more than :data:`_RUNTIME_Q_BITS` bits after the point is a gap."""
    mantissa, exponent = np.frexp(probabilities.reshape(-1))
    whole = (mantissa * 2.0**24).astype(np.int64)
    shift = (24 - exponent).astype(np.int64)
    for i in range(whole.size):
        while whole[i] and shift[i] > 0 and whole[i] % 2 == 0:
            whole[i] //= 2
            shift[i] -= 1
        if whole[i] == 0:
            shift[i] = 0
    if np.any(shift > _RUNTIME_Q_BITS):
        raise c.gap(f"q={probabilities.tolist()} over a size unknown in the config (lowered for q with at most "
                    f"{_RUNTIME_Q_BITS} bits after the point)")
    return whole.reshape(probabilities.shape), shift.reshape(probabilities.shape)


def _runtime_picks(c: OpCall, flat: Value, probabilities: np.ndarray,
                   method: str) -> tuple[list[Value], list[Value]]:
    """:func:`_picks` for a last axis of run-time length ``n``, exactly as TF's float64 ``(n - 1)·q``: with
    ``q = M · 2^-s`` (:func:`_q_digits`) the product ``(n - 1)·M`` (below 2^55) is built from 12-bit digits in int32
    (each partial product below 2^31), split into ``F = floor((n - 1)·q)`` and ``R = (n - 1)·M mod 2^s``; the floor,
    ceiling (``F + (R > 0)``) and half-to-even rounding follow, and the linear fraction ``larger - (n - 1)·q`` is
    ``(larger - F)·2^s - R`` cast to float32 (one rounding, as TF's cast of its exact float64 difference) times
    ``2^-s``. Indices int32 Values of ``q``'s shape; weights (linear) ``[1 - f, f]`` float32."""
    from .dynamic_shape import runtime_size

    ctx = c.ctx
    whole, shift = _q_digits(c, probabilities)
    qshape = probabilities.shape

    def const(values: Any, label: str) -> Value:
        return ctx.ints(np.broadcast_to(np.asarray(values, np.int64), qshape).astype(np.int32), label)

    def op(kind: str, a: Value, b: Value, label: str) -> Value:
        return ctx.op(kind, [a, b], dtype=I32, shape=qshape, label=label)

    def div_mod(x: Value, divisor: Any, label: str) -> tuple[Value, Value]:
        """``floor(x / d)`` and ``x mod d`` of non-negative int32 by powers of two ``d``, the quotient below 2^24:
        exact (TF.js's FloorMod is; the multiple ``x - x mod d`` and its quotient are held exactly in float32)."""
        d = const(divisor, f"{label}_divisor")
        rest = op("FloorMod", x, d, f"{label}_mod")
        multiple = ctx.exact_cast(op("Sub", x, rest, f"{label}_multiple"), F32, f"{label}_multiple_float")
        scale = ctx.floats(np.broadcast_to(1.0 / np.asarray(divisor, np.float64), qshape).astype(np.float32),
                           f"{label}_scale")
        quotient = ctx.op("Mul", [multiple, scale], dtype=F32, shape=qshape, label=f"{label}_quotient_float")
        return ctx.exact_cast(quotient, I32, f"{label}_quotient"), rest

    size = runtime_size(ctx, flat, len(ctx.shape(flat)) - 1, "n")
    last = op("AddV2", op("Sub", size, ctx.ints(1, "one"), "n_minus_one"), const(0, "q_zeros"), "last")
    m_high, m_low = div_mod(last, 4096, "m")
    q_high, q_low = const(whole >> 12, "q_high"), const(whole & 4095, "q_low")
    top = op("Mul", m_high, q_high, "product_top")
    cross = [div_mod(op("Mul", a, b, f"product_{k}"), 4096, f"cross_{k}")
             for k, (a, b) in enumerate(((m_high, q_low), (m_low, q_high)))]
    bottom = op("Mul", m_low, q_low, "product_bottom")
    low_raw = op("AddV2", op("Mul", op("AddV2", cross[0][1], cross[1][1], "cross_rest"), const(4096, "digit"),
                             "cross_low"), bottom, "low_raw")
    carry, low = div_mod(low_raw, 1 << 24, "low")
    high = op("AddV2", op("AddV2", op("AddV2", top, cross[0][0], "high_0"), cross[1][0], "high_1"), carry, "high")
    a, b = np.minimum(shift, 24), np.maximum(shift - 24, 0)
    high_d = const(2 ** b, "high_divisor")  # high may reach 2^31: TF.js's exact floor division
    high_q = exact_floor_div(ctx.graph, high, high_d, f"{ctx.name}/high_quotient")
    high_r = op("FloorMod", high, high_d, "high_rest")
    low_q, low_r = div_mod(low, 2 ** a, "low_split")
    floor = op("AddV2", op("Mul", high_q, const(2 ** (24 - a), "high_scale"), "floor_high"), low_q, "floor")
    rest = op("AddV2", op("Mul", high_r, const(1 << 24, "rest_scale"), "rest_high"), low_r, "rest")
    positive = ctx.exact_cast(ctx.op("Greater", [rest, ctx.ints(0, "zero")], dtype=BOOL, shape=qshape,
                                     label="has_rest"), I32, "has_rest_int32")
    ceil = op("AddV2", floor, positive, "ceil")
    if method in ("lower", "higher", "midpoint"):
        return {"lower": [floor], "higher": [ceil], "midpoint": [floor, ceil]}[method], []
    if method == "nearest":
        half = const(np.where(shift > 0, 2 ** np.maximum(shift - 1, 0), 1 << 30), "half")
        above = ctx.op("Greater", [rest, half], dtype=BOOL, shape=qshape, label="above_half")
        odd = op("FloorMod", floor, ctx.ints(2, "two"), "floor_parity")
        tie = ctx.op("LogicalAnd", [ctx.op("Equal", [rest, half], {"incompatible_shape_error": True}, dtype=BOOL,
                                           shape=qshape, label="at_half"),
                                    ctx.op("Equal", [odd, ctx.ints(1, "odd")], {"incompatible_shape_error": True},
                                           dtype=BOOL, shape=qshape, label="floor_odd")],
                     dtype=BOOL, shape=qshape, label="tie_up")
        up = ctx.op("LogicalOr", [above, tie], dtype=BOOL, shape=qshape, label="round_up")
        return [op("AddV2", floor, ctx.exact_cast(up, I32, "round_up_int32"), "nearest")], []
    smaller = op("Maximum", op("Sub", ceil, ctx.ints(1, "one_below"), "ceil_minus_one"), ctx.ints(0, "first"),
                 "smaller")
    larger = op("Minimum", op("AddV2", smaller, ctx.ints(1, "one_above"), "smaller_plus_one"), last, "larger")
    numerator = op("Sub", op("Mul", op("Sub", larger, floor, "larger_step"), const(2 ** shift, "unit"),
                             "larger_units"), rest, "fraction_units")
    unit = ctx.floats(np.broadcast_to(2.0 ** -shift.astype(np.float64), qshape).astype(np.float32), "unit_inverse")
    # below 2^31: cast to float32 it rounds once (TF.js's cpu keeps it unrounded until the Mul by 2^-s is stored,
    # the same one rounding), as TF's cast of its exact float64 fraction does
    fraction = ctx.op("Mul", [ctx.exact_cast(numerator, F32, "fraction_units_float"), unit], dtype=F32,
                      shape=qshape, label="fraction")
    complement = ctx.op("Sub", [ctx.floats(np.float32(1), "one_float"), fraction], dtype=F32, shape=qshape,
                        label="one_minus_fraction")
    return [larger, smaller], [complement, fraction]


def _gather_last(c: OpCall, x: Value, index: np.ndarray | Value, label: str) -> Value:
    """``x``'s elements at ``index`` (a constant or an int32 Value, a scalar or a vector) along its last axis."""
    shape = c.ctx.shape(x)
    index_shape = c.ctx.shape(index) if isinstance(index, Value) else index.shape
    out = (*shape[:-1], *index_shape)
    index = index if isinstance(index, Value) else c.ctx.ints(index.astype(np.int32), f"{label}_index")
    return c.ctx.op("GatherV2", [x, index, c.ctx.ints(len(shape) - 1, f"{label}_axis")],
                    {"Tparams": F32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=F32, shape=out,
                    label=label)


def _q_and_method(c: OpCall, percent: bool) -> tuple[Any, str]:
    """A constant ``q`` (a percentile's divided by 100 in float32, as Keras does) and the recorded ``method``."""
    if isinstance(c.arguments.get("q"), TensorArg):
        raise c.gap("q is a tensor (lowered for constant q)")
    method = c.value("method", "linear")
    if method not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise c.gap(f"method={method!r}")
    q = c.value("q")
    if percent:
        try:
            q = np.asarray(q, dtype=np.float32) / np.float32(100)
        except (TypeError, ValueError):
            raise c.gap(f"q={q!r}") from None
    return q, method


def _keras_quantile(percent: bool) -> Callable[[OpCall], Value]:
    """Keras 3 ``quantile(x, q)`` (its saved operation computes the linear method whatever ``method`` it records) and
    ``percentile(x, q)`` (which hands ``method`` on; ``q`` divided by 100 in float32), for a constant ``q``."""
    def lower(c: OpCall) -> Value:
        q, method = _q_and_method(c, percent)
        return _quantile(c, np.asarray(q).astype(np.float64), method) if percent else _quantile(c, q)
    return lower


def _nan_quantile(c: OpCall, q: Any, method: str) -> Value:
    """Keras 3's ``nanquantile``/``nanpercentile``/``nanmedian``: per slice (the axes moved last and flattened) the
    quantile of its non-NaN values, NaN where it has none. Its ``k`` valid values are the first ``k`` of the slice
    sorted with NaN read as +Inf (TopKV2 of the negated keys); TF's picks for each possible ``k`` (:func:`_picks`
    with ``n = k``, float64 as TF computes them) are tables gathered by the slice's count, then the picked elements
    gathered from the flattened slices and mixed as TF does. For float32 tensors and sizes known in the config."""
    x = _float_only(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    rank = len(shape)
    raw = _ints(c, "axis", None)
    if raw is None:  # over the flattened tensor, batch included
        from .op_layers_k3_gaps import flattened_nan_quantile

        return flattened_nan_quantile(c, q, method)
    axes = [_axis(c, a, rank) for a in raw]
    sizes = [shape[a] for a in axes]
    other = [i for i in range(rank) if i not in axes]
    if not axes or len(set(axes)) != len(axes) or None in sizes or \
            sum(shape[i] is None for i in other) > 1:
        raise c.gap(f"a quantile over axes of sizes {sizes} of a tensor of shape {list(shape)} (lowered for reduced "
                    "sizes known in the config)")
    probabilities = _probabilities(c, q)
    n = math.prod(sizes)
    perm = other + axes
    moved = x if perm == list(range(rank)) else c.ctx.transpose(x, perm, "axes_last")
    outer = [shape[i] for i in other]
    rows = c.ctx.reshape(moved, [None if None in outer else math.prod(outer), n], "rows")
    nan = _is_nan(c, rows)
    valid = c.ctx.op("LogicalNot", [nan], dtype=BOOL, shape=rows.shape, label="valid")
    counts = _reduce(c, "Sum", _cast(c, valid, I32, "valid_int32"), [1], False, "counts")
    filled = _select(c, nan, c.ctx.floats(np.inf, "inf"), rows, "nan_last")
    ascending = _sort_keys(c, _top_k_all(c, _sort_keys(c, filled))[0], "sorted")
    tables = [_picks(max(k, 1), probabilities, method) for k in range(n + 1)]
    starts = c.ctx.binary("Mul", _row_range(c, rows), c.ctx.ints(n, "row_size"), label="row_starts")
    if probabilities.ndim:
        starts = c.ctx.expand_dims(starts, 1, "row_starts_column")
    flat = c.ctx.reshape(ascending, [None], "flat_sorted")
    picked, weights = [], []
    for k in range(len(tables[0][0])):
        index = _gather_rows(c, c.ctx.ints(np.stack([t[0][k] for t in tables]).astype(np.int32), f"table_{k}"),
                             counts, f"index_{k}")
        position = c.ctx.binary("AddV2", index, starts, label=f"position_{k}")
        picked.append(c.ctx.op("GatherV2", [flat, position, c.ctx.ints(0, f"pick_axis_{k}")],
                               {"Tparams": F32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=F32,
                               shape=position.shape, label=f"pick_{k}"))
    for k in range(len(tables[0][1])):
        weights.append(_gather_rows(c, c.ctx.floats(np.stack([t[1][k] for t in tables]), f"weights_{k}"), counts,
                                    f"weight_{k}"))
    mixed = _mix(c, picked, weights, method)
    empty = _bool(c, "Equal", [counts, c.ctx.ints(0, "none")], "empty")
    if probabilities.ndim:
        empty = c.ctx.expand_dims(empty, 1, "empty_column")
    out = _select(c, empty, c.ctx.floats(np.nan, "nan"), mixed, "quantiles")
    if probabilities.ndim:
        out = c.ctx.reshape(c.ctx.transpose(out, [1, 0], "q_first"), [probabilities.size, *outer], "quantile")
    else:
        out = c.ctx.reshape(out, outer, "quantile")
    if _keep(c):
        for i in sorted(axes):
            out = c.ctx.expand_dims(out, i + probabilities.ndim, f"kept_{i}")
    return out


def _row_range(c: OpCall, rows: Value) -> Value:
    from .dynamic_shape import runtime_range

    return runtime_range(c.ctx, rows, 0, "row")


def _gather_rows(c: OpCall, table: Value, counts: Value, label: str) -> Value:
    """``table[counts]``: each slice's row of a per-count table."""
    shape = (*c.ctx.shape(counts), *c.ctx.shape(table)[1:])
    return c.ctx.op("GatherV2", [table, counts, c.ctx.ints(0, f"{label}_axis")],
                    {"Tparams": table.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=table.dtype,
                    shape=shape, label=label)


def _keras_nan_quantile(kind: str) -> Callable[[OpCall], Value]:
    """``nanquantile(x, q)``, ``nanpercentile(x, q)`` (``q / 100`` in float32) and ``nanmedian(x)`` (``axis=()``
    hands ``x`` back), each handing ``method`` on."""
    def lower(c: OpCall) -> Value:
        if kind == "median":
            if c.value("axis", None) == []:
                return c.ctx.unary("Identity", c.tensor("x"))
            return _nan_quantile(c, 0.5, "linear")
        return _nan_quantile(c, *_q_and_method(c, kind == "percentile"))
    return lower


class _Given(OpCall):
    """``c`` with tensor arguments replaced by Values computed here (a shared lowering reads them by name)."""

    def __init__(self, c: OpCall, **values: Value) -> None:
        super().__init__(c.ctx, c.function, c.arguments)
        self.given = values

    def tensor(self, name: str, like: Value | None = None) -> Value:
        return self.given[name] if name in self.given else super().tensor(name, like)


def _nan_cumulative(op: str) -> Callable[[OpCall], Value]:
    """``nancumsum``/``nancumprod``: Keras's ``nan_to_num`` (NaN to 0, or 1 for products; ±Inf to ±FLT_MAX) of floats,
    then ``cumsum``/``cumprod`` (:func:`.op_layers._cumulative`); integers as they are."""
    from .op_layers import _cumulative

    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if x.dtype == F32:
            big = float(np.finfo(np.float32).max)
            x = _select(c, _is_nan(c, x), c.ctx.floats(0.0 if op == "Cumsum" else 1.0, "nan_value"), x, "no_nan")
            infinite = c.ctx.op("IsInf", [x], dtype=BOOL, shape=x.shape, label="is_inf")
            for sign, test in ((1.0, "Greater"), (-1.0, "Less")):
                side = c.ctx.op("LogicalAnd", [infinite, _bool(c, test, [x, c.ctx.floats(0.0, f"zero_{test}")],
                                                               f"{test.lower()}_zero")],
                                dtype=BOOL, shape=x.shape, label=f"inf_{test.lower()}")
                x = _select(c, side, c.ctx.floats(sign * big, f"limit_{test}"), x, f"finite_{test.lower()}")
        return _cumulative(op)(_Given(c, x=x))
    return lower


def _nan_arg_extreme(op: str) -> Callable[[OpCall], Value]:
    """``nanargmax``/``nanargmin``: Keras 3's ``argmax`` (:func:`.op_layers._arg_extreme`, ties to the first index,
    -0.0 below +0.0) of ``where(isnan, -inf, x)`` (argmin: +inf), -1 where the slice is all NaN; of int32 the plain
    argmax/argmin."""
    from .op_layers import _arg_extreme

    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if x.dtype == I32:
            return _arg_extreme(op)(c)
        x = _float_only(c, x)
        if c.value("axis", None) is None:
            raise c.gap("axis=None (Keras 3 picks over the flattened tensor, batch included)")
        nan = _is_nan(c, x)
        clean = _select(c, nan, c.ctx.floats(-np.inf if op == "ArgMax" else np.inf, "fill"), x, "clean")
        picked = _arg_extreme(op)(_Given(c, x=clean))
        all_nan = _reduce(c, "All", nan, [_axis(c, c.value("axis"), len(c.ctx.shape(x)))], _keep(c), "all_nan")
        return _select(c, all_nan, c.ctx.ints(-1, "none"), picked, "nan_arg")
    return lower


def _correlate(c: OpCall) -> Value:
    """Keras 3 ``correlate(x1, x2, mode)`` of 1-D tensors of known lengths (float32; integers cast to it, as Keras
    does): TF's conv1d, as windows of ``x1`` (zero-padded by ``m - 1`` both sides for 'full', 'same' the middle
    ``max(n, m)`` of 'full') gathered into rows, multiplied by ``x2`` and summed."""
    x, y = c.pair("x1", "x2")
    x, y = _as_float(c, x, "x1_float"), _as_float(c, y, "x2_float")
    (n,), (m,) = c.ctx.shape(x), c.ctx.shape(y)
    mode = c.value("mode", "valid")
    if None in (n, m) or not 0 < m <= _MAX_CORRELATED or not 0 < n <= _MAX_CORRELATED or \
            mode not in ("valid", "full", "same") or mode == "valid" and n < m:
        raise c.gap(f"mode={mode!r} of lengths {n} and {m} (lowered for known lengths, the first at least as long "
                    "in 'valid' mode)")
    if mode == "valid":
        padded, length, start = x, n - m + 1, 0
    else:
        paddings = c.ctx.ints([[m - 1, m - 1]], "paddings")
        padded = c.ctx.op("Pad", [x, paddings], {"Tpaddings": I32}, shape=(n + 2 * m - 2,), label="padded")
        length, start = n + m - 1, 0
        if mode == "same":
            start, length = (n + m - 1 - max(n, m)) // 2, max(n, m)
    windows = np.arange(start, start + length)[:, None] + np.arange(m)[None, :]
    rows = c.ctx.op("GatherV2", [padded, c.ctx.ints(windows.astype(np.int32), "windows"), c.ctx.ints(0, "axis")],
                    {"Tparams": F32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=F32, shape=(length, m),
                    label="rows")
    return _reduce(c, "Sum", c.ctx.binary("Mul", rows, y, label="products"), [1], False, "correlate")


#: The longest operands :func:`_correlate` takes (its windows are a constant of ``n · m`` indices).
_MAX_CORRELATED = 1 << 12


# -- searches and counts of values ------------------------------------------------------------------------
def _searchsorted(c: OpCall) -> Value:
    """``searchsorted(sorted_sequence, values, side)``: TF's kernel runs ``std::lower_bound`` (left) or
    ``std::upper_bound`` (right) per value, a binary search whose result on an unsorted sequence or NaN is its own;
    emulated step by step (``floor(log2 n) + 1`` steps of the libstdc++ loop: ``half = len // 2``, look at
    ``first + half``, go right past it or keep the left half), so every sequence gives TF's indices. The sequence's
    last axis (of known size) is searched; its leading axes must match the values' (a 1-D sequence serves every
    value). int32 indices (tf_keras's int64 ones are held as int32)."""
    keras3 = _keras3(c)
    pair = c.pair("sorted_sequence", "values")
    sequence, values = (_int64_as_int32(c, v) for v in pair)
    given = values
    side = c.value("side", "left")
    out_type = str(c.value("out_type", "int32"))
    if side not in ("left", "right") or out_type not in ("int32", "int64"):
        raise c.gap(f"side={side!r}, out_type={out_type!r}")
    if sequence.dtype != values.dtype or sequence.dtype not in (F32, I32):
        raise c.gap(f"a {sequence.dtype.numpy} sequence and {values.dtype.numpy} values")
    seq_shape, value_shape = c.ctx.shape(sequence), c.ctx.shape(values)
    n = seq_shape[-1] if seq_shape else None
    if n is None or not 0 < n < _MAX_SEARCHED:
        raise c.gap(f"a sequence of {n} elements (lowered for known sizes of 1 to {_MAX_SEARCHED - 1})")
    if len(seq_shape) == 1:
        flat, offsets = sequence, None
    else:
        if keras3 or len(value_shape) != len(seq_shape) or any(
                a is not None and b is not None and a != b for a, b in zip(seq_shape[:-1], value_shape[:-1])):
            raise c.gap(f"a sequence of shape {list(seq_shape)} for values of shape {list(value_shape)}")
        flat = c.ctx.reshape(sequence, [None], "flat_sequence")
        if len(value_shape) != 2:
            if value_shape[-1] is None:
                raise c.gap(f"values of shape {list(value_shape)} (the last size unknown in the config)")
            values = c.ctx.reshape(values, [None, value_shape[-1]], "value_rows")
        offsets = _row_offsets(c, values, n)
    searched = c.ctx.shape(values)
    first = c.ctx.op("ZerosLike", [values], shape=searched, dtype=values.dtype, label="zeros")
    first = c.ctx.exact_cast(first, I32, "first") if values.dtype != I32 else first  # zeros: exact
    length = c.ctx.binary("AddV2", first, c.ctx.ints(n, "n"), label="length")
    last = c.ctx.ints(n - 1, "last")
    for step in range(n.bit_length()):
        half = c.ctx.binary("FloorDiv", length, c.ctx.ints(2, f"two_{step}"), label=f"half_{step}")
        middle = c.ctx.binary("AddV2", first, half, label=f"middle_{step}")
        position = c.ctx.binary("Minimum", middle, last, label=f"position_{step}")
        if offsets is not None:
            position = c.ctx.binary("AddV2", position, offsets, label=f"flat_position_{step}")
        probe = c.ctx.op("GatherV2", [flat, position, c.ctx.ints(0, f"axis_{step}")],
                         {"Tparams": flat.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=flat.dtype,
                         shape=searched, label=f"probe_{step}")
        if side == "left":
            right = _bool(c, "Less", [probe, values], f"below_{step}")
        else:
            right = c.ctx.op("LogicalNot", [_bool(c, "Less", [values, probe], f"above_{step}")], dtype=BOOL,
                             shape=searched, label=f"not_above_{step}")
        active = _bool(c, "Greater", [length, c.ctx.ints(0, f"zero_{step}")], f"active_{step}")
        right = c.ctx.op("LogicalAnd", [right, active], dtype=BOOL, shape=searched, label=f"right_{step}")
        after = c.ctx.binary("AddV2", middle, c.ctx.ints(1, f"one_{step}"), label=f"after_{step}")
        rest = c.ctx.binary("Sub", c.ctx.binary("Sub", length, half, label=f"upper_{step}"),
                            c.ctx.ints(1, f"one_less_{step}"), label=f"rest_{step}")
        first = _select(c, right, after, first, f"first_{step}")
        length = _select(c, right, rest, half, f"length_{step}")
    if searched == value_shape:
        return first
    original = c.ctx.op("Shape", [given], {"out_type": I32}, dtype=I32,
                        shape=(len(value_shape),), label="values_shape")
    return c.ctx.op("Reshape", [first, original], {"Tshape": I32}, shape=value_shape, dtype=I32, label="indices")


#: The longest sequence :func:`_searchsorted` searches (its steps grow with log2 of it).
_MAX_SEARCHED = 1 << 24


def _row_offsets(c: OpCall, rows: Value, n: int) -> Value:
    """Where each row of a batched sequence starts in its flattened form: the row index times ``n``, a column
    beside the ``[rows, values]`` it is added to."""
    from .dynamic_shape import runtime_range

    starts = c.ctx.binary("Mul", runtime_range(c.ctx, rows, 0, "row"), c.ctx.ints(n, "row_size"), label="row_starts")
    return c.ctx.expand_dims(starts, 1, "row_starts_column")


def _bincount(c: OpCall) -> Value:
    """Keras 3 ``bincount(x, minlength)`` (``tf.math.bincount(x, minlength=..., axis=-1)``) of int32 values: weights
    (a constant in the config) and sparse outputs are gaps."""
    if c.value("weights", None) is not None or c.value("sparse", False):
        raise c.gap("weights or sparse=True")
    return _dense_bincount(c, None, rows=True, dtype=I32)


def _tf_bincount(c: OpCall) -> Value:
    """``tf.math.bincount(arr, weights, minlength, maxlength, dtype, axis, binary_output)`` of int32 values: over the
    flattened tensor (``axis=None``, batch included) or each row (``axis=-1``); int32 or float32 counts, or sums of
    a weights tensor of ``arr``'s shape."""
    c.arguments.setdefault("x", c.arguments.pop("arr", None))
    axis = c.value("axis", None)
    if axis not in (None, 0, -1):
        raise c.gap(f"axis={axis!r}")
    dtype = str(c.value("dtype", "int32"))
    if dtype not in ("int32", "int64", "float32"):
        raise c.gap(f"dtype={dtype!r}")
    weights = _int64_as_int32(c, c.tensor("weights")) if c.has("weights") else None
    if weights is not None and (weights.dtype not in (F32, I32) or c.value("binary_output", False)):
        raise c.gap(f"{weights.dtype.numpy} weights (with binary_output={c.value('binary_output', False)!r})")
    return _dense_bincount(c, weights, rows=axis == -1, dtype=F32 if dtype == "float32" else I32)


def _dense_bincount(c: OpCall, weights: Value | None, *, rows: bool, dtype: DType) -> Value:
    """TF's ``DenseBincount`` as ``tf.math.bincount`` calls it: ``size = max(minlength, max(x) + 1)`` (capped at
    ``maxlength``: larger values are not counted) read at run time, over the flattened values or each row of a 2-D
    tensor (a negative value fails there, as in TF)."""
    x = _int64_as_int32(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    limits = [c.value(key, None) for key in ("minlength", "maxlength")]
    if x.dtype != I32 or rows and len(shape) not in (1, 2) or any(
            v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**31) for v in limits):
        raise c.gap(f"a {x.dtype.numpy} tensor of rank {len(shape)}, minlength={limits[0]!r}, maxlength={limits[1]!r}")
    if weights is not None and c.ctx.shape(weights) != shape:
        raise c.gap(f"weights of shape {list(c.ctx.shape(weights))} for values of shape {list(shape)}")
    if not rows and len(shape) != 1:
        x = c.ctx.reshape(x, [_flat_size(c, x)], "flat_values")
        weights = None if weights is None else c.ctx.reshape(weights, [_flat_size(c, weights)], "flat_weights")
    largest = _reduce(c, "Max", x, list(range(len(c.ctx.shape(x)))), False, "largest")
    size = c.ctx.binary("AddV2", largest, c.ctx.ints(1, "one"), label="bins")
    if limits[0] is not None:
        size = c.ctx.binary("Maximum", c.ctx.ints(limits[0], "minlength"), size, label="at_least")
    if limits[1] is not None:
        size = c.ctx.binary("Minimum", c.ctx.ints(limits[1], "maxlength"), size, label="at_most")
    if weights is None:
        weights, out = c.ctx.const(np.zeros((0,), dtype.numpy), "no_weights"), dtype
    else:
        out = weights.dtype
    counts = c.ctx.op("DenseBincount", [x, size, weights],
                      {"Tidx": I32, "T": out, "binary_output": bool(c.value("binary_output", False))}, dtype=out,
                      shape=(*c.ctx.shape(x)[:-1], None), label="bincount")
    return counts


register_op_layers(
    keras_ops={
        ("Nanmax",): OpSpec(("x",), _nan_extreme("Max"), ("axis", "keepdims")),
        ("Nanmin",): OpSpec(("x",), _nan_extreme("Min"), ("axis", "keepdims")),
        ("Nansum",): OpSpec(("x",), _nansum, ("axis", "keepdims")),
        ("Nanmean",): OpSpec(("x",), _nanmean, ("axis", "keepdims")),
        ("Nanvar",): OpSpec(("x",), _nanvar(std=False), ("axis", "keepdims")),
        ("Nanstd",): OpSpec(("x",), _nanvar(std=True), ("axis", "keepdims")),
        ("Nanprod",): OpSpec(("x",), _nanprod, ("axis", "keepdims")),
        ("CountNonzero",): OpSpec(("x",), _count_nonzero, ("axis",)),
        ("Norm",): OpSpec(("x",), _keras_norm, ("ord", "axis", "keepdims")),
        ("Average",): OpSpec(("x", "weights"), _average, ("axis",)),
        ("Trapezoid",): OpSpec(("y",), _trapezoid, ("x", "dx", "axis")),
        ("Dot",): OpSpec(("x1", "x2"), _float_product(_dot)),
        ("Inner",): OpSpec(("x1", "x2"), _float_product(_inner)),
        ("Vdot",): OpSpec(("x1", "x2"), _float_product(_vdot)),
        ("Outer",): OpSpec(("x1", "x2"), _outer),
        ("Tensordot",): OpSpec(("x1", "x2"), _keras_tensordot, ("axes",)),
        ("Quantile",): OpSpec(("x", "q"), _keras_quantile(percent=False), ("axis", "method", "keepdims")),
        ("Percentile",): OpSpec(("x", "q"), _keras_quantile(percent=True), ("axis", "method", "keepdims")),
        ("SearchSorted",): OpSpec(("sorted_sequence", "values"), _searchsorted, ("side",)),
        ("Bincount",): OpSpec(("x",), _bincount, ("weights", "minlength", "sparse")),
        ("Nanquantile",): OpSpec(("x", "q"), _keras_nan_quantile("quantile"), ("axis", "method", "keepdims")),
        ("Nanpercentile",): OpSpec(("x", "q"), _keras_nan_quantile("percentile"), ("axis", "method", "keepdims")),
        ("Nanmedian",): OpSpec(("x",), _keras_nan_quantile("median"), ("axis", "keepdims")),
        ("Nancumsum",): OpSpec(("x",), _nan_cumulative("Cumsum"), ("axis", "dtype")),
        ("Nancumprod",): OpSpec(("x",), _nan_cumulative("Cumprod"), ("axis", "dtype")),
        ("Correlate",): OpSpec(("x1", "x2"), _correlate, ("mode",)),
        ("Nanargmax",): OpSpec(("x",), _nan_arg_extreme("ArgMax"), ("axis", "keepdims")),
        ("Nanargmin",): OpSpec(("x",), _nan_arg_extreme("ArgMin"), ("axis", "keepdims")),
        ("Median",): OpSpec(("x",), lambda c: _quantile(c, 0.5), ("axis", "keepdims")),
    },
    tf_functions={
        ("math.reduce_euclidean_norm", "reduce_euclidean_norm"): OpSpec(("x", "axis", "keepdims"), _euclidean_norm),
        ("compat.v1.norm", "norm", "linalg.norm", "compat.v1.linalg.norm"): OpSpec(
            ("x", "ord", "axis", "keepdims", "name", "keep_dims"), _tf_norm),
        ("math.count_nonzero",): OpSpec(("x", "axis", "keepdims", "dtype"), _count_nonzero),
        ("clip_by_norm",): OpSpec(("x", "clip_norm", "axes"), _clip_by_norm),
        ("math.zero_fraction", "nn.zero_fraction"): OpSpec(("x",), _zero_fraction),
        ("tensordot", "linalg.tensordot"): OpSpec(("a", "b", "axes"), _tf_tensordot),
        ("searchsorted",): OpSpec(("sorted_sequence", "values", "side", "out_type"), _searchsorted),
        ("math.bincount",): OpSpec(("arr", "weights", "minlength", "maxlength", "dtype", "name", "axis",
                                    "binary_output"), _tf_bincount),
    },
)
