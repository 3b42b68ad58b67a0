"""Op layers: elementwise math of Keras 3 numpy ops and tf functions.

Each lowering follows the TensorFlow backend's own composition (``keras/src/backend/tensorflow/numpy.py``, TF's
``math_ops``), op for op where float rounding could differ, with the dtypes Keras gives: Keras 3 casts integers to
float32 first for the float functions (``exp2``, ``hypot``, ``sinc``...), keeps them for ``fmax``/``fmod``/``trunc``/
``nan_to_num``/``ptp``. These models hold real tensors only: ``conj``/``real`` are the tensor itself, ``imag`` zeros,
``isreal`` all True, ``angle`` pi below zero and 0 elsewhere (NaN and -0.0 included), as TF computes them for real
inputs. Special values are guarded so that every backend gives TF's: NaN through Maximum/Minimum (wasm drops it),
Sign (0 for NaN in TF.js) is not used.

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import int32_product, is_narrow

from ..op_calls import KERAS_OP_PREFIX, TensorArg
from .op_layers import (OpCall, OpSpec, _broadcast, _cast, _cast_int64, _identity, _int32_sign_op, _reduce, _round,
                        _select, float_to_int32, register_op_layers)

F32, I32, I64, BOOL = DType.FLOAT32, DType.INT32, DType.INT64, DType.BOOL
_X, _K2 = ("x",), ("x1", "x2")


# -- dtypes ------------------------------------------------------------------------------------------------
def _named(dtype: DType) -> str:
    """A dtype as Keras names it (``uint8``), for messages."""
    try:
        return dtype.numpy.name
    except TypeError:
        return dtype.value


def _a(dtype: DType) -> str:
    """``an int32`` / ``a float32``, for messages."""
    name = _named(dtype)
    return f"{'an' if name.startswith('int') else 'a'} {name}"


def _keras3(c: OpCall) -> bool:
    return c.ctx.class_name.startswith(KERAS_OP_PREFIX)


def _to_float(c: OpCall, x: Value, label: str) -> Value:
    """``x`` in float32, as Keras 3 casts integers (and bools) before a float function; int64 ones too (Keras gives
    float64 there, TF.js computes float32: int64 ids are held as int32, so within float32's rounding)."""
    if x.dtype == F32:
        return x
    if x.dtype in (I32, I64, BOOL) or is_narrow(x.dtype):
        return c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": F32, "Truncate": False}, dtype=F32, shape=x.shape,
                        label=f"{label}_float")
    raise c.gap(f"{_a(x.dtype)} tensor")


def _int32_operand(c: OpCall, x: Value, label: str) -> Value:
    """An integer operand in int32 (int64 ids cast: TF.js holds them as int32); other dtypes are a gap (8/16-bit
    integers wrap in their own dtype in Keras)."""
    x = _cast_int64(c, x, f"{label}_int32")
    if x.dtype != I32:
        raise c.gap(f"{_a(x.dtype)} tensor (lowered for float32 and int32/int64)")
    return x


def _operands(c: OpCall, a: str, b: str, *, floats: bool) -> tuple[Value, Value]:
    """Two operands in the dtype Keras 3's ``result_type`` gives them: float32 when ``floats`` (the function computes
    in floats) or when one is a float tensor or a Python float; else int32 (int32/int64 tensors, Python ints)."""
    raw = {name: c.arguments.get(name) for name in (a, b)}
    if not any(isinstance(v, TensorArg) for v in raw.values()):
        raise c.gap("no tensor operand")
    tensors = {name: c.tensor(name) for name, v in raw.items() if isinstance(v, TensorArg) or isinstance(v, dict)}
    constants = {name: np.asarray(c.value(name)) for name in raw if name not in tensors}
    if any(v.dtype.kind not in "iuf" or v.ndim for v in constants.values()):
        raise c.gap(f"constant operands {[c.value(n) for n in constants]!r} (lowered for numbers)")
    floats = floats or any(v.dtype == F32 for v in tensors.values()) or any(v.dtype.kind == "f"
                                                                            for v in constants.values())
    out = []
    for name in (a, b):
        if name in tensors:
            out.append(_to_float(c, tensors[name], name) if floats else _int32_operand(c, tensors[name], name))
        elif floats:
            out.append(c.ctx.floats(float(constants[name]), f"{name}_value"))
        else:
            value = int(constants[name])
            if not -2**31 <= value < 2**31:
                raise c.gap(f"{name}={value} (outside int32)")
            out.append(c.ctx.ints(value, f"{name}_value"))
    return out[0], out[1]


def _bool_op(c: OpCall, op: str, inputs: list[Value], label: str) -> Value:
    shape = inputs[0].shape if len(inputs) == 1 else _broadcast(inputs[0], inputs[1])
    attrs = {"incompatible_shape_error": True} if op in ("Equal", "NotEqual") else {}
    return c.ctx.op(op, inputs, attrs, dtype=BOOL, shape=shape, label=label)


def _compare(c: OpCall, op: str, x: Value, value: float, label: str) -> Value:
    """``x op value`` (bool), the constant in ``x``'s dtype."""
    const = c.ctx.const(np.asarray(value, x.dtype.numpy), f"{label}_value")
    return _bool_op(c, op, [x, const], label)


def _is_nan(c: OpCall, x: Value, label: str) -> Value:
    return _bool_op(c, "IsNan", [x], label)


# -- identity, zeros, all True/False -------------------------------------------------------------------------
def _filled_bool(value: bool) -> Callable[[OpCall], Value]:
    """A bool tensor of ``x``'s shape, all ``value`` (``isreal`` of real tensors: True; ``isneginf``/``isposinf`` of
    integers: False): ``ZerosLike(x) == 0`` (a NaN in ``x`` does not show)."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if x.dtype == BOOL or is_narrow(x.dtype):
            x = c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": I32, "Truncate": False}, dtype=I32, shape=x.shape,
                         label="x_int32")
        x = _cast_int64(c, x, "x_int32")
        if x.dtype not in (F32, I32):
            raise c.gap(f"{_a(x.dtype)} tensor")
        zeros = c.ctx.unary("ZerosLike", x, label="zeros")
        return _compare(c, "Equal" if value else "NotEqual", zeros, 0, "filled")
    return lower


def _real_part(c: OpCall) -> Value:
    """``conj``/``real``/``copy`` of a real tensor: the tensor itself (Identity). ``conj``/``real`` hand TF's input
    back, its run-time mask with it, which the walk hands on (masking.returns_its_input); ``copy`` makes a new one."""
    x = c.tensor("x")
    if x.dtype == DType.STRING:
        raise c.gap("a string tensor")
    return _identity(c)


def _same(c: OpCall) -> Value:
    """``convert_to_tensor`` to its own dtype, ``trunc``/``nan_to_num`` of integers: the tensor itself, which TF hands
    back (a masked one is a gap: see :func:`_refuse_masked_input`)."""
    _refuse_masked_input(c)
    return _real_part(c)


def _refuse_masked_input(c: OpCall) -> None:
    """A function that TensorFlow may answer with its input tensor itself (``convert_to_tensor`` to its own dtype,
    ``trunc``/``nan_to_num`` of integers, ``add_n`` of one tensor): the Keras mask on that object then reaches the
    later layers at run time, although the saved graph says the op drops it; so a masked input is a gap (``conj``
    and ``real``, which always do, hand the mask on: masking.returns_its_input, as do Keras 3's ``convert_to_tensor``
    of a tensor of the dtype it names, or of none)."""
    from .masking import returns_its_input

    if any(m is not None for m in c.ctx.masks) and not returns_its_input(c.ctx.class_name, c.ctx.config):
        raise c.gap("TensorFlow returns the masked input tensor itself, so at run time its output keeps the mask "
                    "that Keras's saved graph says it drops")


def _imag(c: OpCall) -> Value:
    """``imag`` of a real tensor: ``zeros_like(x)`` (0 where ``x`` is NaN too), in ``x``'s dtype."""
    x = c.tensor("x")
    if is_narrow(x.dtype):  # zeros in int32, tracked as the 8/16-bit dtype Keras keeps
        c.ctx.output_keras_dtype = x.dtype
        x = c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": I32, "Truncate": False}, dtype=I32, shape=x.shape,
                     label="x_int32")
    x = _cast_int64(c, x, "x_int32")
    if x.dtype not in (F32, I32):
        raise c.gap(f"{_a(x.dtype)} tensor (lowered for float32 and integers)")
    return c.ctx.unary("ZerosLike", x, label="imag")


def _convert_to_tensor(c: OpCall) -> Value:
    """Keras 3 ``convert_to_tensor`` of a tensor: itself, or ``cast`` to the dtype asked for (``sparse``/``ragged``
    change nothing for a dense tensor)."""
    for key in ("sparse", "ragged"):
        if c.value(key, None) not in (None, True, False):
            raise c.gap(f"{key}={c.value(key)!r}")
    dtype = c.value("dtype", None)
    if dtype is None or dtype == c.tensor("x").dtype.numpy.name:
        return _same(c)
    return _cast(c)


# -- unary float functions -----------------------------------------------------------------------------------
def _float_input(c: OpCall) -> Value:
    """``x`` for a float function: float32 as is; integers cast as Keras 3 does (tf_keras's TF functions refuse
    them, so a saved tf_keras model never has them here but for ``angle``, which TF fails on too)."""
    x = c.tensor("x")
    if x.dtype != F32 and not _keras3(c):
        raise c.gap(f"{_a(x.dtype)} tensor (TensorFlow's function takes floats)")
    return _to_float(c, x, "x")


def _angle(c: OpCall) -> Value:
    """``angle`` of a real tensor (TF's ``math.angle``: ``where(x < 0, pi, 0)``): 0 for NaN and -0.0."""
    x = _float_input(c)
    return _select(c, _compare(c, "Less", x, 0.0, "negative"), c.ctx.floats(np.float32(math.pi), "pi"),
                   c.ctx.floats(0.0, "zero"), "angle")


def _cbrt(c: OpCall) -> Value:
    """``sign(x) · |x|^(1/3)`` in float32 (the exponent the float32 1/3), the sign by a select (TF.js's Sign of NaN
    is 0; a NaN stays NaN either way)."""
    x = _float_input(c)
    root = c.ctx.binary("Pow", c.ctx.unary("Abs", x, label="magnitude"),
                        c.ctx.floats(np.float32(1.0 / 3.0), "third"), label="root")
    return _select(c, _compare(c, "Less", x, 0.0, "negative"), c.ctx.unary("Neg", root, label="negated"), root, "cbrt")


def _scaled(factor: Callable[[], np.float32]) -> Callable[[OpCall], Value]:
    """``deg2rad``/``rad2deg``: ``x · (pi / 180)`` (or ``180 / pi``), the factor divided in float32 as Keras does."""
    def lower(c: OpCall) -> Value:
        return c.ctx.binary("Mul", _float_input(c), c.ctx.floats(factor(), "factor"))
    return lower


def _exp2(c: OpCall) -> Value:
    """``pow(2, x)`` in float32."""
    return c.ctx.binary("Pow", c.ctx.floats(2.0, "two"), _float_input(c), label="exp2")


def _fabs(c: OpCall) -> Value:
    return c.ctx.unary("Abs", _float_input(c), label="fabs")


def _sinc(c: OpCall) -> Value:
    """``sin(pi·x) / (pi·x)``, 1 where ``x == 0`` (pi·x in float32 as Keras multiplies). Where ``|pi·x| < 1/4``
    its Taylor series ``1 - t²/6 + t⁴/120 - t⁶/5040`` (off by under 5e-11 there): TF.js's wasm Sin is off by up to
    1.75e-7 near 0 (``sin(-5.6e-15)`` gives 1.748e-7), which the division would blow up."""
    x = _float_input(c)
    ctx = c.ctx
    scaled = ctx.binary("Mul", x, ctx.floats(np.float32(np.pi), "pi"), label="pi_x")
    ratio = ctx.binary("RealDiv", ctx.unary("Sin", scaled, label="sin"), scaled, label="ratio")
    square = ctx.binary("Mul", scaled, scaled, label="pi_x_sq")
    series = ctx.floats(-1.0 / 5040.0, "c6")
    for i, coefficient in ((4, 1.0 / 120.0), (2, -1.0 / 6.0), (0, 1.0)):
        product = ctx.binary("Mul", square, series, label=f"t_c{i}")
        series = ctx.binary("AddV2", ctx.floats(coefficient, f"c{i}"), product, label=f"series{i}")
    small = _compare(c, "Less", ctx.unary("Abs", scaled, label="abs_pi_x"), 0.25, "small")
    return _select(c, small, series, ratio, "sinc")


def _trunc(c: OpCall) -> Value:
    """``trunc``: integers (and bools) as they are; floats ``ceil`` below zero, ``floor`` elsewhere (NaN stays)."""
    x = c.tensor("x")
    if x.dtype != F32:
        return _same(c)
    return _select(c, _compare(c, "Less", x, 0.0, "negative"), c.ctx.unary("Ceil", x, label="ceil"),
                   c.ctx.unary("Floor", x, label="floor"), "trunc")


def _rint(c: OpCall) -> Value:
    """``tf.math.rint``: half to even, as ``Round``."""
    return _round(c)


#: Chebyshev coefficients of the complementary error function's ``t · exp(-z² + P(t))`` form, ``t = 1 / (1 + z/2)``
#: (Press et al., Numerical Recipes, section 6.2, ``erfcc``: fractional error below 1.2e-7 for every z >= 0).
_ERFC_COEFFICIENTS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
                      1.48851587, -0.82215223, 0.17087277)
#: erfc(z) is below float32's smallest denormal from about z = 10.06: z is clamped here (Inf then gives 0, not NaN).
_ERFC_CLAMP = 16.0


def _erfc(c: OpCall) -> Value:
    """``erfc(x)`` (TF.js has no Erfc; ``1 - erf(x)`` loses every digit for large x): ``t · exp(-z²) · exp(P(t))``
    for ``z = |x|`` (within 1e-6 of TF's float32 erfc, relative, measured over [-12, 12]); ``exp(-z²)`` split as
    ``exp(-h²) · exp(-l · (z + h))``, ``h`` being z rounded to 1/16 (h² exact), so that z²'s float32 rounding does
    not show; ``2 - erfc(|x|)`` below zero. NaN stays NaN; ±Inf give 0 and 2."""
    x = c.tensor("x")
    if x.dtype != F32:
        raise c.gap(f"{_a(x.dtype)} tensor (TensorFlow's erfc takes floats)")
    ctx = c.ctx
    magnitude = ctx.unary("Abs", x, label="magnitude")
    z = _select(c, _compare(c, "Greater", magnitude, _ERFC_CLAMP, "huge"), ctx.floats(_ERFC_CLAMP, "clamp"),
                magnitude, "z")
    t = ctx.binary("RealDiv", ctx.floats(1.0, "one"),
                   ctx.binary("AddV2", ctx.floats(1.0, "one_"), ctx.scalar_op("Mul", z, 0.5, "half_z"), label="den"),
                   label="t")
    poly = ctx.floats(_ERFC_COEFFICIENTS[-1], "c9")
    for i in range(len(_ERFC_COEFFICIENTS) - 2, -1, -1):
        scaled = ctx.binary("Mul", t, poly, label=f"t_p{i}")
        poly = ctx.binary("AddV2", ctx.floats(_ERFC_COEFFICIENTS[i], f"c{i}"), scaled, label=f"p{i}")
    high = ctx.scalar_op("Mul", ctx.unary("Round", ctx.scalar_op("Mul", z, 16.0, "z16"), label="z16_round"), 1 / 16,
                         "high")
    low = ctx.binary("Sub", z, high, label="low")
    high_sq = ctx.binary("Mul", high, high, label="high_sq")
    gauss_high = ctx.unary("Exp", ctx.unary("Neg", high_sq, label="neg_high_sq"), label="exp_high")
    rest = ctx.binary("Sub", poly, ctx.binary("Mul", low, ctx.binary("AddV2", z, high, label="z_plus_high"),
                                              label="low_term"), label="rest_exponent")
    tail = ctx.binary("Mul", t, ctx.binary("Mul", gauss_high, ctx.unary("Exp", rest, label="exp_rest"),
                                           label="gauss"), label="tail")
    below = ctx.binary("Sub", ctx.floats(2.0, "two"), tail, label="two_minus_tail")
    return _select(c, _compare(c, "Less", x, 0.0, "negative"), below, tail, "erfc")


# -- binary functions ----------------------------------------------------------------------------------------
def _nan_free_extreme(op: str) -> Callable[[OpCall], Value]:
    """``fmax``/``fmin``: of integers Maximum/Minimum; of floats the other operand where one is NaN (NaN only where
    both are), by selects, so that no backend's NaN rule for Maximum shows."""
    def lower(c: OpCall) -> Value:
        x1, x2 = _operands(c, "x1", "x2", floats=False)
        extreme = c.ctx.binary(op, x1, x2, label=op.lower())
        if x1.dtype != F32:
            return extreme
        inner = _select(c, _is_nan(c, x2, "x2_nan"), x1, extreme, "x2_nan_picked")
        return _select(c, _is_nan(c, x1, "x1_nan"), x2, inner, op.lower() + "_nan_free")
    return lower


def _negated_where_negative(c: OpCall, sign_of: Value, value: Value, label: str) -> Value:
    """``value``, negated where ``sign_of < 0`` (``sign(x) · value``, value being 0 at x == 0); int32 by ``0 - v``."""
    if value.dtype == I32:
        negated = c.ctx.binary("Sub", c.ctx.ints(0, f"{label}_zero"), value, label=f"{label}_negated")
    else:
        negated = c.ctx.unary("Neg", value, label=f"{label}_negated")
    return _select(c, _compare(c, "Less", sign_of, 0, f"{label}_negative"), negated, value, label)


def _fmod(c: OpCall) -> Value:
    """``sign(x1) · floormod(|x1|, |x2|)`` as Keras 3 computes it (the remainder of truncated division): of int32 with
    TF's wrapping ``|INT32_MIN|`` (INT32_MIN itself); of floats the FloorMod the core ``float_floor_division`` pass
    makes exact (NaN for x2 == 0 or an infinite x1, x1 for an infinite x2). Of int64 a gap: Keras's ``|-2^31|`` is
    2^31 there, which TF.js's int32 cannot hold."""
    if any(isinstance(c.arguments.get(n), TensorArg) and c.tensor(n).dtype == I64 for n in ("x1", "x2")):
        raise c.gap("int64 integers (Keras's |-2^31| is 2^31 there, beyond TF.js's int32)")
    x1, x2 = _operands(c, "x1", "x2", floats=False)
    if x1.dtype == I32:
        a1, a2 = _int32_sign_op(c.ctx, x1, "Abs"), _int32_sign_op(c.ctx, x2, "Abs")
    else:
        a1, a2 = c.ctx.unary("Abs", x1, label="abs_x1"), c.ctx.unary("Abs", x2, label="abs_x2")
    remainder = c.ctx.binary("FloorMod", a1, a2, label="remainder")
    return _negated_where_negative(c, x1, remainder, "fmod")


def _heaviside(c: OpCall) -> Value:
    """``where(x1 < 0, 0, where(x1 > 0, 1, x2))`` in float32 (x2 where x1 is 0 or NaN)."""
    x1, x2 = _operands(c, "x1", "x2", floats=True)
    inner = _select(c, _compare(c, "Greater", x1, 0.0, "positive"), c.ctx.floats(1.0, "one"), x2, "at_or_above")
    return _select(c, _compare(c, "Less", x1, 0.0, "negative"), c.ctx.floats(0.0, "zero"), inner, "heaviside")


def _hypot(c: OpCall) -> Value:
    """Keras 3's ``max · sqrt(1 + (min / max)²)`` of the magnitudes (``divide_no_nan``: 0 where max is 0); NaN where
    either is NaN (TF's Maximum propagates it; wasm's drops it: selected explicitly)."""
    x1, x2 = _operands(c, "x1", "x2", floats=True)
    ctx = c.ctx
    a1, a2 = ctx.unary("Abs", x1, label="abs_x1"), ctx.unary("Abs", x2, label="abs_x2")
    high, low = ctx.binary("Maximum", a1, a2, label="high"), ctx.binary("Minimum", a1, a2, label="low")
    ratio = _select(c, _compare(c, "Equal", high, 0.0, "high_zero"), ctx.floats(0.0, "zero"),
                    ctx.binary("RealDiv", low, high, label="quotient"), "ratio")
    root = ctx.unary("Sqrt", ctx.binary("AddV2", ctx.floats(1.0, "one"), ctx.unary("Square", ratio, label="ratio_sq"),
                                        label="one_plus"), label="root")
    out = ctx.binary("Mul", high, root, label="product")
    either = ctx.binary("AddV2", a1, a2, label="magnitudes")  # NaN exactly where x1 or x2 is
    return _select(c, _is_nan(c, either, "any_nan"), either, out, "hypot")


def _isclose(c: OpCall) -> Value:
    """``|x1 - x2| <= atol + rtol · |x2|`` of floats (float32 constants; ``equal_nan``: or both NaN), ``x1 == x2`` of
    integers."""
    x1, x2 = _operands(c, "x1", "x2", floats=False)
    if x1.dtype == I32:
        return _bool_op(c, "Equal", [x1, x2], "isclose")
    ctx = c.ctx
    rtol, atol = (float(c.value(key, default)) for key, default in (("rtol", 1e-5), ("atol", 1e-8)))
    distance = ctx.unary("Abs", ctx.binary("Sub", x1, x2, label="difference"), label="distance")
    bound = ctx.binary("AddV2", ctx.floats(atol, "atol"), ctx.binary(
        "Mul", ctx.floats(rtol, "rtol"), ctx.unary("Abs", x2, label="abs_x2"), label="relative"), label="bound")
    close = _bool_op(c, "LessEqual", [distance, bound], "close")
    equal_nan = c.value("equal_nan", False)
    if equal_nan not in (True, False):
        raise c.gap(f"equal_nan={equal_nan!r}")
    if not equal_nan:
        return close
    both = _bool_op(c, "LogicalAnd", [_is_nan(c, x1, "x1_nan"), _is_nan(c, x2, "x2_nan")], "both_nan")
    return _bool_op(c, "LogicalOr", [close, both], "isclose")


def _infinity(sign: float) -> Callable[[OpCall], Value]:
    """``isposinf``/``isneginf``: ``x == ±inf`` of floats, all False for integers and bools."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if x.dtype != F32:
            return _filled_bool(False)(c)
        return _compare(c, "Equal", x, sign * np.inf, "is_inf")
    return lower


def _ldexp(c: OpCall) -> Value:
    """``x1 · 2^x2`` in float32 (x2 integers, cast to float32), ``x1`` itself where it is 0 or ±Inf."""
    exponent = c.arguments.get("x2")
    if isinstance(exponent, TensorArg) and c.tensor("x2").dtype not in (I32, I64) and not is_narrow(
            c.tensor("x2").dtype):
        raise c.gap(f"an exponent of dtype {_named(c.tensor('x2').dtype)} (Keras takes integers)")
    if not isinstance(exponent, TensorArg) and np.asarray(c.value("x2")).dtype.kind not in "iu":
        raise c.gap(f"exponent {c.value('x2')!r} (Keras takes integers)")
    x1, x2 = _operands(c, "x1", "x2", floats=True)
    ctx = c.ctx
    result = ctx.binary("Mul", x1, ctx.binary("Pow", ctx.floats(2.0, "two"), x2, label="power"), label="scaled")
    kept = _bool_op(c, "LogicalOr", [_bool_op(c, "IsInf", [x1], "x1_inf"), _compare(c, "Equal", x1, 0.0, "x1_zero")],
                    "kept")
    return _select(c, kept, x1, result, "ldexp")


def _logaddexp(base2: bool) -> Callable[[OpCall], Value]:
    """``max(x1, x2) + log1p(exp(-|x1 - x2|))`` (base 2: the exponent times log 2, the log1p divided by it, log 2 the
    float32 TF computes), ``x1 + x2`` where the difference is NaN (equal infinities, NaN): Maximum sees no NaN."""
    def lower(c: OpCall) -> Value:
        x1, x2 = _operands(c, "x1", "x2", floats=True)
        ctx = c.ctx
        delta = ctx.binary("Sub", x1, x2, label="delta")
        exponent = ctx.unary("Neg", ctx.unary("Abs", delta, label="abs_delta"), label="exponent")
        log2 = ctx.floats(np.float32(np.log(2.0)), "log2")
        if base2:
            exponent = ctx.binary("Mul", exponent, log2, label="exponent_log2")
        step = ctx.unary("Log1p", ctx.unary("Exp", exponent, label="exp"), label="log1p")
        if base2:
            step = ctx.binary("RealDiv", step, log2, label="log1p_base2")
        out = ctx.binary("AddV2", ctx.binary("Maximum", x1, x2, label="larger"), step, label="sum")
        return _select(c, _is_nan(c, delta, "delta_nan"), ctx.binary("AddV2", x1, x2, label="plain_sum"), out,
                       "logaddexp")
    return lower


def _nan_to_num(c: OpCall) -> Value:
    """Keras 3 ``nan_to_num``: integers as they are; floats with NaN, +Inf and -Inf replaced in that order (each
    replacement seen by the next, as Keras's three ``where``), +Inf by float32's max and -Inf by its lowest unless
    given."""
    x = c.tensor("x")
    if x.dtype != F32:
        return _same(c)
    info = np.finfo(np.float32)
    values = []
    for key, default in (("nan", 0.0), ("posinf", float(info.max)), ("neginf", float(info.min))):
        value = c.value(key, None)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise c.gap(f"{key}={value!r}")
        values.append(np.float32(value))
    y = _select(c, _is_nan(c, x, "is_nan"), c.ctx.floats(values[0], "nan_value"), x, "nan_replaced")
    y = _select(c, _compare(c, "Equal", y, np.inf, "is_posinf"), c.ctx.floats(values[1], "posinf_value"), y,
                "posinf_replaced")
    return _select(c, _compare(c, "Equal", y, -np.inf, "is_neginf"), c.ctx.floats(values[2], "neginf_value"), y,
                   "neginf_replaced")


# -- reductions ----------------------------------------------------------------------------------------------
def _extreme(op: str) -> Callable[[OpCall], Value]:
    """``amax``/``amin``: Max/Min (of bools Keras reduces with any/all)."""
    def lower(c: OpCall) -> Value:
        if c.tensor("x").dtype == BOOL:
            return _reduce("Any" if op == "Max" else "All", dtype=BOOL)(c)
        return _reduce(op)(c)
    return lower


def _ptp(c: OpCall) -> Value:
    """``max - min`` over the axes (int32: wrapping as TF's Sub: the full int32 range gives -1)."""
    x = c.tensor("x")
    if x.dtype not in (F32, I32):
        raise c.gap(f"{_a(x.dtype)} tensor (lowered for float32 and int32)")
    return c.ctx.binary("Sub", _reduce("Max")(c), _reduce("Min")(c), label="ptp")


# -- tf_keras functions --------------------------------------------------------------------------------------
def _scalar_mul(c: OpCall) -> Value:
    """``tf.math.scalar_mul(scalar, x)``: the scalar in ``x``'s dtype, then Mul (int32 wrapped as TF's)."""
    x = c.tensor("x")
    if np.ndim(c.value("scalar")) != 0:  # a tensor is a gap in c.value
        raise c.gap(f"scalar={c.value('scalar')!r} (TF takes a 0-D value)")
    scalar = c.tensor("scalar", like=x)
    if x.dtype == I32:
        return int32_product(c.ctx.graph, scalar, x, f"{c.ctx.name}/Mul", x.shape)
    if x.dtype != F32:
        raise c.gap(f"{_a(x.dtype)} tensor")
    return c.ctx.binary("Mul", scalar, x)


def _add_n(c: OpCall) -> Value:
    """``tf.math.add_n``: the tensors (of one shape and dtype) summed left to right (int32 wrapping as TF's)."""
    values = c.tensors("inputs")
    if not values or len({v.dtype for v in values}) != 1 or values[0].dtype not in (F32, I32):
        raise c.gap(f"inputs of dtypes {[_named(v.dtype) for v in values]}")
    total = values[0]
    if len(values) == 1:
        _refuse_masked_input(c)
        return c.ctx.unary("Identity", total)
    for i, value in enumerate(values[1:], 1):
        total = c.ctx.binary("AddV2", total, value, label=f"sum_{i}")
    return total


def _polyval(c: OpCall) -> Value:
    """``tf.math.polyval(coeffs, x)``: Horner's ``p = c0; p = c + p · x`` step by step as TF computes it, constant
    coefficients in ``x``'s dtype (int32 products wrapped as TF's)."""
    x = c.tensor("x")
    coeffs = c.arguments.get("coeffs")
    if x.dtype not in (F32, I32) or not isinstance(coeffs, list) or len(coeffs) < 2:
        raise c.gap(f"coeffs of length {len(coeffs) if isinstance(coeffs, list) else '?'} on {_a(x.dtype)} "
                    "tensor (lowered for two or more coefficients on float32/int32)")
    values = []
    for i, coeff in enumerate(coeffs):
        if isinstance(coeff, TensorArg):
            value = c.ctx.inputs[coeff.index]
        else:
            array = np.asarray(coeff)
            if array.dtype.kind not in "iuf" or (array.dtype.kind == "f") != (x.dtype == F32):
                raise c.gap(f"coefficient {coeff!r} for {_a(x.dtype)} tensor")
            value = c.ctx.const(array.astype(x.dtype.numpy), f"coeff_{i}")
        if value.dtype != x.dtype:
            raise c.gap(f"{_a(value.dtype)} coefficient for {_a(x.dtype)} tensor")
        values.append(value)
    total = values[0]
    for i, value in enumerate(values[1:], 1):
        if x.dtype == I32:
            product = int32_product(c.ctx.graph, total, x, f"{c.ctx.name}/product_{i}", _broadcast(total, x))
        else:
            product = c.ctx.binary("Mul", total, x, label=f"product_{i}")
        total = c.ctx.binary("AddV2", value, product, label=f"step_{i}")
    return total


# -- saturate_cast -------------------------------------------------------------------------------------------
#: The dtypes a saturating cast is lowered to (Keras's dtype names); TF.js holds the 8/16-bit ones as int32.
_SATURATE_TARGETS = {"float32": F32, "int32": I32, "uint8": DType.UINT8, "uint16": DType.UINT16, "int8": DType.INT8,
                     "int16": DType.INT16, "bool": BOOL}


def _range(dtype: np.dtype) -> tuple[Any, Any]:
    if dtype == np.bool_:
        return 0, 1
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    return info.min, info.max


def _saturation_limits(c: OpCall, source: np.dtype, target: np.dtype) -> tuple[Any, Any]:
    """The clip bounds, in the source dtype, as the flavour computes them: Keras 3's ``_saturate_cast`` compares the
    bounds with the target's range in numpy's rules (a float32 2^31 is not above int32's max there: not nudged, so
    2^31 clips to 2^31 and casts to INT32_MIN), TF's ``saturate_cast`` in the promoted dtype (nudged to 2147483520)."""
    in_min, in_max = _range(source)
    out_min, out_max = _range(target)
    if _keras3(c):
        low = np.maximum(in_min, out_min).astype(source)
        if low < out_min:
            low = np.nextafter(low, 0, dtype=source)
        high = np.minimum(in_max, out_max).astype(source)
        if high > out_max:
            high = np.nextafter(high, 0, dtype=source)
        return low, high
    promoted = np.promote_types(source, target)
    low = source.type(np.maximum(in_min, out_min))
    if np.array([low, out_min], dtype=promoted)[0] < np.array([low, out_min], dtype=promoted)[1]:
        low = np.nextafter(low, source.type(0), dtype=source)
    high = source.type(np.minimum(float(in_max), float(out_max)))
    if np.array([high, out_max], dtype=promoted)[0] > np.array([high, out_max], dtype=promoted)[1]:
        high = np.nextafter(high, source.type(0), dtype=source)
    return low, high


def _saturate_cast(c: OpCall) -> Value:
    """``saturate_cast(x, dtype)``: clip to the target's range (bounds as :func:`_saturation_limits`), then cast as
    TF does (floats to integers truncated; NaN to INT32_MIN for int32, 0 for uint8/uint16, True for bool). From floats
    to int8/int16 is a gap: TF casts NaN to 0 or to the lowest value depending on its place in the tensor (its
    vectorized loop's body or tail)."""
    x = c.tensor("x")
    name = str(c.value("dtype"))
    target = _SATURATE_TARGETS.get(name)
    if target is None:
        raise c.gap(f"dtype={name!r} (lowered to {', '.join(_SATURATE_TARGETS)})")
    source = x.dtype.numpy if x.dtype != I64 else np.dtype(np.int64)
    if x.dtype not in (F32, I32, I64, BOOL) and not is_narrow(x.dtype):
        raise c.gap(f"{_a(x.dtype)} tensor")
    if target == BOOL and not _keras3(c):
        raise c.gap("dtype='bool' (TensorFlow's saturate_cast fails on it)")
    if x.dtype == F32 and target in (DType.INT8, DType.INT16):
        raise c.gap(f"a float32 tensor to {name} (TensorFlow casts NaN to 0 or to {name}'s lowest by its place in "
                    "the tensor)")
    try:
        with np.errstate(invalid="raise", over="raise"):
            low, high = _saturation_limits(c, source, target.numpy)
    except FloatingPointError:  # int32 to float32 in Keras 3 (float32(2^31) back to int32), int64 to float32 in both
        raise c.gap(f"{_a(x.dtype)} tensor to {name} (the clip bound Keras computes overflows numpy's cast "
                    f"back to {_named(x.dtype)}: a platform-dependent value)") from None
    if x.dtype == BOOL:  # within every target's range
        clipped = x
    else:
        work = x if x.dtype == F32 else c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": I32, "Truncate": False},
                                                 dtype=I32, shape=x.shape, label="x_int32")
        bounds = [max(min(int(b), 2**31 - 1), -2**31) if work.dtype == I32 else float(b) for b in (low, high)]
        low_value = c.ctx.const(np.asarray(bounds[0], work.dtype.numpy), "clip_low")
        high_value = c.ctx.const(np.asarray(bounds[1], work.dtype.numpy), "clip_high")
        clipped = c.ctx.binary("Minimum", c.ctx.binary("Maximum", work, low_value, label="clip_low_bound"),
                               high_value, label="clipped")
        if work.dtype == F32:  # wasm's Maximum/Minimum drop NaN: TF's clip keeps it, its cast to uint8/16 gives 0
            nan = c.ctx.floats(0.0, "nan_value") if is_narrow(target) else work
            clipped = _select(c, _is_nan(c, work, "x_nan"), nan, clipped, "clipped_nan")
    if target == clipped.dtype:
        return c.ctx.unary("Identity", clipped, label="saturated")
    if target == BOOL:
        return _compare(c, "NotEqual", clipped, 0, "to_bool")
    if target == F32:
        return c.ctx.op("Cast", [clipped], {"SrcT": clipped.dtype, "DstT": F32, "Truncate": False}, dtype=F32,
                        shape=clipped.shape, label="to_float")
    if clipped.dtype == F32:
        clipped = float_to_int32(c.ctx, clipped, "to_int32")
    elif clipped.dtype == BOOL:
        clipped = c.ctx.op("Cast", [clipped], {"SrcT": BOOL, "DstT": I32, "Truncate": False}, dtype=I32,
                           shape=clipped.shape, label="to_int32")
    if is_narrow(target):
        c.ctx.output_keras_dtype = target
    return clipped


def _factor(numerator: float, denominator: float) -> np.float32:
    return np.float32(np.float32(numerator) / np.float32(denominator))


register_op_layers(
    keras_ops={
        ("Amax",): OpSpec(_X, _extreme("Max"), ("axis", "keepdims")),
        ("Amin",): OpSpec(_X, _extreme("Min"), ("axis", "keepdims")),
        ("Ptp",): OpSpec(_X, _ptp, ("axis", "keepdims")),
        ("Angle",): OpSpec(_X, _angle),
        ("Cbrt",): OpSpec(_X, _cbrt),
        ("Conjugate", "Conj", "Real", "Copy"): OpSpec(_X, _real_part),  # Conj: Keras 3's subclass of Conjugate
        ("Imag",): OpSpec(_X, _imag),
        ("Isreal",): OpSpec(_X, _filled_bool(True)),
        ("ConvertToTensor",): OpSpec(_X, _convert_to_tensor, ("dtype", "sparse", "ragged")),
        ("Deg2rad",): OpSpec(_X, _scaled(lambda: _factor(math.pi, 180.0))),
        ("Rad2deg",): OpSpec(_X, _scaled(lambda: _factor(180.0, math.pi))),
        ("Exp2",): OpSpec(_X, _exp2),
        ("Fabs",): OpSpec(_X, _fabs),
        ("Fmax",): OpSpec(_K2, _nan_free_extreme("Maximum")),
        ("Fmin",): OpSpec(_K2, _nan_free_extreme("Minimum")),
        ("Fmod",): OpSpec(_K2, _fmod),
        ("Heaviside",): OpSpec(_K2, _heaviside),
        ("Hypot",): OpSpec(_K2, _hypot),
        ("Isclose",): OpSpec(("x1", "x2", "rtol", "atol"), _isclose, ("equal_nan",)),
        ("Isneginf",): OpSpec(_X, _infinity(-1.0)),
        ("Isposinf",): OpSpec(_X, _infinity(1.0)),
        ("Ldexp",): OpSpec(_K2, _ldexp),
        ("Logaddexp",): OpSpec(_K2, _logaddexp(base2=False)),
        ("Logaddexp2",): OpSpec(_K2, _logaddexp(base2=True)),
        ("NanToNum",): OpSpec(_X, _nan_to_num, ("nan", "posinf", "neginf")),
        ("Sinc",): OpSpec(_X, _sinc),
        ("Trunc",): OpSpec(_X, _trunc),
        ("Erfc",): OpSpec(_X, _erfc),
        ("SaturateCast",): OpSpec(_X, _saturate_cast, ("dtype",)),
    },
    tf_functions={
        ("math.erfc", "erfc"): OpSpec(_X, _erfc),
        ("math.rint", "rint"): OpSpec(_X, _rint),
        ("math.conj", "conj"): OpSpec(_X, _real_part),
        ("math.real", "real"): OpSpec(_X, _real_part),
        ("math.imag", "imag"): OpSpec(_X, _imag),
        ("math.angle", "angle"): OpSpec(_X, _angle),
        ("compat.v1.math.scalar_mul", "math.scalar_mul", "scalar_mul", "compat.v1.scalar_mul"):
            OpSpec(("scalar", "x"), _scalar_mul),
        ("math.add_n", "add_n"): OpSpec(("inputs",), _add_n),
        ("math.polyval",): OpSpec(("coeffs", "x"), _polyval),
        ("dtypes.saturate_cast", "saturate_cast"): OpSpec(("x", "dtype"), _saturate_cast),
    })
