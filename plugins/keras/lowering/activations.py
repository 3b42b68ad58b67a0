"""Keras activation functions and activation layers as TF.js ops.

``hard_sigmoid`` differs between Keras versions (tf_keras: ``clip(0.2x + 0.5, 0, 1)``; Keras 3:
``relu6(x + 3) / 6``), so the file's Keras version picks the formula. An activation not listed here
makes the layer unsupported, and the model goes through TensorFlow instead.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import is_relu_operation
from ..tfjs_support import activation_name
from .context import LayerContext, broadcast_shape
from .registry import Unsupported, lowers

Act = Callable[[LayerContext, Value, str], Value]


def _op(name: str) -> Act:
    return lambda ctx, x, label: ctx.unary(name, x, label=label)


def _swish(ctx: LayerContext, x: Value, label: str) -> Value:
    return ctx.binary("Mul", x, ctx.unary("Sigmoid", x, label=f"{label}_sigmoid"), label=label)


def _gelu(ctx: LayerContext, x: Value, label: str) -> Value:
    erf = ctx.unary("Erf", ctx.scalar_op("Mul", x, 1 / math.sqrt(2.0), f"{label}_scaled"), label=f"{label}_erf")
    half = ctx.scalar_op("Mul", ctx.scalar_op("AddV2", erf, 1.0, f"{label}_one_plus"), 0.5, f"{label}_half")
    return ctx.binary("Mul", x, half, label=label)


def _gelu_tanh(ctx: LayerContext, x: Value, label: str) -> Value:
    cube = ctx.scalar_op("Mul", ctx.binary("Mul", ctx.unary("Square", x, label=f"{label}_sq"), x, f"{label}_cube"),
                         0.044715, f"{label}_cube_scaled")
    inner = ctx.scalar_op("Mul", ctx.binary("AddV2", x, cube, f"{label}_sum"), math.sqrt(2 / math.pi), f"{label}_in")
    half = ctx.scalar_op("Mul", ctx.scalar_op("AddV2", ctx.unary("Tanh", inner, label=f"{label}_tanh"), 1.0,
                                              f"{label}_one_plus"), 0.5, f"{label}_half")
    return ctx.binary("Mul", x, half, label=label)


def _hard_sigmoid_v3(ctx: LayerContext, x: Value, label: str) -> Value:
    return ctx.scalar_op("Mul", ctx.unary("Relu6", ctx.scalar_op("AddV2", x, 3.0, f"{label}_plus3"),
                                          label=f"{label}_relu6"), 1 / 6, label)


def _hard_sigmoid_v2(ctx: LayerContext, x: Value, label: str) -> Value:
    y = ctx.scalar_op("AddV2", ctx.scalar_op("Mul", x, 0.2, f"{label}_scaled"), 0.5, f"{label}_shifted")
    return _clip(ctx, y, 0.0, 1.0, label)


def _clip(ctx: LayerContext, x: Value, low: float, high: float, label: str) -> Value:
    return ctx.scalar_op("Minimum", ctx.scalar_op("Maximum", x, low, f"{label}_low"), high, label)


def _hard_swish(ctx: LayerContext, x: Value, label: str) -> Value:
    return ctx.binary("Mul", x, _hard_sigmoid_v3(ctx, x, f"{label}_gate"), label=label)


def _softsign(ctx: LayerContext, x: Value, label: str) -> Value:
    denominator = ctx.scalar_op("AddV2", ctx.unary("Abs", x, label=f"{label}_abs"), 1.0, f"{label}_den")
    return ctx.binary("RealDiv", x, denominator, label=label)


def _mish(ctx: LayerContext, x: Value, label: str) -> Value:
    soft = ctx.unary("Softplus", x, label=f"{label}_softplus")
    return ctx.binary("Mul", x, ctx.unary("Tanh", soft, label=f"{label}_tanh"), label=label)


def _log_sigmoid(ctx: LayerContext, x: Value, label: str) -> Value:
    soft = ctx.unary("Softplus", ctx.unary("Neg", x, label=f"{label}_neg"), label=f"{label}_softplus")
    return ctx.unary("Neg", soft, label=label)


def _tanh_shrink(ctx: LayerContext, x: Value, label: str) -> Value:
    return ctx.binary("Sub", x, ctx.unary("Tanh", x, label=f"{label}_tanh"), label=label)


def _where(ctx: LayerContext, condition: Value, then: Value, other: Value, label: str) -> Value:
    return ctx.op("SelectV2", [condition, then, other], {"T": DType.FLOAT32}, dtype=DType.FLOAT32,
                  shape=broadcast_shape(condition.shape, broadcast_shape(then.shape, other.shape)), label=label)


def _compare(ctx: LayerContext, op: str, x: Value, bound: float, label: str) -> Value:
    result = ctx.scalar_op(op, x, bound, label)
    result.dtype = DType.BOOL
    return result


def _soft_shrink(ctx: LayerContext, x: Value, label: str) -> Value:
    """Keras's ``where(x > 0.5, x - 0.5, where(x < -0.5, x + 0.5, 0))``: NaN gives 0 (both tests false)."""
    inner = _where(ctx, _compare(ctx, "Less", x, -0.5, f"{label}_below"), ctx.scalar_op("AddV2", x, 0.5,
                   f"{label}_raised"), ctx.floats(0.0, f"{label}_zero"), f"{label}_inner")
    return _where(ctx, _compare(ctx, "Greater", x, 0.5, f"{label}_above"), ctx.scalar_op("Sub", x, 0.5,
                  f"{label}_lowered"), inner, label)


def _hard_shrink(ctx: LayerContext, x: Value, label: str) -> Value:
    """Keras's ``where(|x| > 0.5, x, 0)``: NaN gives 0 (a ``x · mask`` product would give NaN)."""
    keep = _compare(ctx, "Greater", ctx.unary("Abs", x, label=f"{label}_abs"), 0.5, f"{label}_keep")
    return _where(ctx, keep, x, ctx.floats(0.0, f"{label}_zero"), label)


def _squareplus(ctx: LayerContext, x: Value, label: str) -> Value:
    root = ctx.unary("Sqrt", ctx.scalar_op("AddV2", ctx.unary("Square", x, label=f"{label}_sq"), 4.0,
                                           f"{label}_plus_b"), label=f"{label}_sqrt")
    return ctx.scalar_op("Mul", ctx.binary("AddV2", x, root, f"{label}_sum"), 0.5, label)


def _sparse_plus(ctx: LayerContext, x: Value, label: str) -> Value:
    """``relu(x - 1) + (clip(x, -1, 1) + 1)² / 4``: 0 below -1, x above 1, the parabola between."""
    clipped = _clip(ctx, x, -1.0, 1.0, f"{label}_clip")
    parabola = ctx.scalar_op("Mul", ctx.unary("Square", ctx.scalar_op("AddV2", clipped, 1.0, f"{label}_plus1"),
                                              label=f"{label}_sq"), 0.25, f"{label}_quarter")
    tail = ctx.unary("Relu", ctx.scalar_op("Sub", x, 1.0, f"{label}_minus1"), label=f"{label}_tail")
    return ctx.binary("AddV2", tail, parabola, label=label)


def _sparse_sigmoid(ctx: LayerContext, x: Value, label: str) -> Value:
    """``clip((x + 1) / 2, 0, 1)``."""
    return _clip(ctx, ctx.scalar_op("Mul", ctx.scalar_op("AddV2", x, 1.0, f"{label}_plus1"), 0.5, f"{label}_half"),
                 0.0, 1.0, label)


def _glu(ctx: LayerContext, x: Value, label: str) -> Value:
    """``a · sigmoid(b)`` of the last axis's halves (Keras 3's ``glu``): the output's last axis is halved, and
    the ops after it broadcast as Keras's do (an RNN cell's ``[batch, 1]`` gate against ``[batch, 2]`` states). A last
    axis of unknown size is split in two at run time (TF.js's Split raises on an odd size, as Keras does)."""
    shape = ctx.shape(x)
    size = shape[-1] if shape else None
    if not shape or size is not None and size % 2:
        raise Unsupported(f"layer {ctx.name!r}: activation 'glu' of a last axis of size {size}")
    if size is None:
        return _glu_split(ctx, x, label)
    half, rank = size // 2, len(shape)
    keep = (1 << (rank - 1)) - 1  # every axis but the last taken whole

    def part(start: int, name: str) -> Value:
        return ctx.op("StridedSlice", [x, ctx.ints([0] * (rank - 1) + [start], f"{label}_{name}_begin"),
                                       ctx.ints([0] * (rank - 1) + [start + half], f"{label}_{name}_end"),
                                       ctx.ints([1] * rank, f"{label}_{name}_strides")],
                      {"Index": DType.INT32, "begin_mask": keep, "end_mask": keep, "ellipsis_mask": 0,
                       "new_axis_mask": 0, "shrink_axis_mask": 0}, shape=(*shape[:-1], half), label=f"{label}_{name}")

    gate = part(half, "b")
    return ctx.binary("Mul", part(0, "a"), ctx.unary("Sigmoid", gate, label=f"{label}_sigmoid"), label=label)


def _glu_split(ctx: LayerContext, x: Value, label: str) -> Value:
    """:func:`_glu` of a last axis of unknown size: TF's ``split(x, 2, axis=-1)`` (one Split, two outputs)."""
    shape = ctx.shape(x)
    rank = len(shape)
    node = ctx.graph.add_node("Split", [ctx.ints(rank - 1, f"{label}_split_axis"), x], {"num_split": 2, "T": x.dtype},
                              name=f"{ctx.name}/{label}_split", num_outputs=2)
    for half in node.outputs:
        half.dtype, half.shape = x.dtype, shape
    first, second = node.outputs
    return ctx.binary("Mul", first, ctx.unary("Sigmoid", second, label=f"{label}_sigmoid"), label=label)


def _sparsemax(ctx: LayerContext, x: Value, label: str) -> Value:
    """Keras 3's ``sparsemax`` activation: ``ops.sparsemax`` along the last axis (known or run-time size), float32."""
    from .op_layers import OpCall
    from .op_layers_nn import sparsemax_along

    if x.dtype != DType.FLOAT32:
        raise Unsupported(f"layer {ctx.name!r}: activation 'sparsemax' of a {x.dtype.value} tensor")
    return sparsemax_along(OpCall(ctx, f"activation {label}", {}), x, len(ctx.shape(x)) - 1)


def _leaky(alpha: float) -> Act:
    return lambda ctx, x, label: ctx.unary("LeakyRelu", x, {"alpha": float(alpha)}, label=label)


def _last_axis(op: str) -> Act:
    return lambda ctx, x, label: ctx.unary(op, x, label=label)


ACTIVATIONS: dict[str, Act] = {
    "relu": _op("Relu"), "relu6": _op("Relu6"), "elu": _op("Elu"), "celu": _op("Elu"), "selu": _op("Selu"),
    "softplus": _op("Softplus"), "softsign": _softsign, "sigmoid": _op("Sigmoid"), "tanh": _op("Tanh"),
    "exponential": _op("Exp"), "swish": _swish, "silu": _swish, "gelu": _gelu, "hard_silu": _hard_swish,
    "hard_swish": _hard_swish, "softmax": _last_axis("Softmax"), "log_softmax": _last_axis("LogSoftmax"),
    "leaky_relu": _leaky(0.2), "mish": _mish, "log_sigmoid": _log_sigmoid, "tanh_shrink": _tanh_shrink,
    "hard_tanh": lambda ctx, x, label: _clip(ctx, x, -1.0, 1.0, label), "soft_shrink": _soft_shrink,
    "hard_shrink": _hard_shrink, "squareplus": _squareplus, "sparse_plus": _sparse_plus,
    "sparse_sigmoid": _sparse_sigmoid, "glu": _glu, "sparsemax": _sparsemax,
}


def activation_gap(value: Any) -> str | None:
    """Why the activation ``value`` (a name or a serialized function) cannot be lowered, or None."""
    name = activation_name(value) if value is not None else "linear"
    if name is None:
        return f"activation {str(value)[:60]}"
    if name in ("linear", "hard_sigmoid") or name in ACTIVATIONS:
        return None
    return f"activation {name!r}"


def apply_activation(ctx: LayerContext, x: Value, value: Any, *, keras3: bool, label: str = "activation") -> Value:
    """``x`` through the Keras activation ``value`` (None and ``linear`` leave it as is)."""
    name = activation_name(value) if value is not None else "linear"
    if name == "linear":
        return x
    if name == "hard_sigmoid":
        return (_hard_sigmoid_v3 if keras3 else _hard_sigmoid_v2)(ctx, x, label)
    if name not in ACTIVATIONS:
        raise Unsupported(f"layer {ctx.name!r}: activation {name!r}")
    return ACTIVATIONS[name](ctx, x, label)


def activation_check(config: dict[str, Any]) -> str | None:
    return activation_gap(config.get("activation"))


# -- activation layers --------------------------------------------------------------------------------
@lowers("Activation", check=activation_check)
def activation_layer(ctx: LayerContext) -> Value:
    if ctx.x.dtype == DType.INT32:  # int32/int64 ids (.model_walk hands them to linear and relu only)
        return _integer_relu(ctx) if activation_name(ctx.config.get("activation")) == "relu" else ctx.x
    return apply_activation(ctx, ctx.x, ctx.config.get("activation"), keras3=ctx.keras3, label="act")


@lowers("ReLU")
def relu_layer(ctx: LayerContext) -> Value:
    """Keras's ReLU layer, and Keras 3's ``activations.relu`` operation (saved as ``ReLU`` too: of float64 values see
    :func:`.float64_functions.relu_operation`)."""
    from .float64_functions import relu_operation

    return relu_operation(ctx, _relu_options)


def _relu_options(ctx: LayerContext) -> Value:
    """``x`` from ``threshold`` up to ``max_value``, ``negative_slope · (x - threshold)`` below."""
    config = ctx.config
    max_value = config.get("max_value")
    slope = float(config.get("negative_slope") or 0.0)
    threshold = float(config.get("threshold") or 0.0)
    x = ctx.x
    dtype = ctx.keras_dtypes[0] if ctx.keras_dtypes else None
    if not is_relu_operation(ctx.class_name, config, ctx.keras3):
        _refuse_negative_layer_options(ctx, slope, threshold, max_value)
    if not slope and isinstance(dtype, DType) and dtype.numpy.kind in "iu":  # .model_walk: int32 ids as they are
        return _integer_options_relu(ctx, dtype, config.get("threshold"), max_value)
    if x.dtype == DType.INT32:
        raise Unsupported(f"layer {ctx.name!r} (ReLU) with a negative slope on int32 integers")
    if is_relu_operation(ctx.class_name, config, ctx.keras3):
        return _relu_function_steps(ctx, slope, threshold, None if max_value is None else float(max_value))
    if threshold == 0.0 and slope == 0.0 and max_value is not None and float(max_value) == 6.0:
        return ctx.unary("Relu6", x)
    if threshold == 0.0:
        y = ctx.unary("LeakyRelu", x, {"alpha": slope}) if slope else ctx.unary("Relu", x)
    else:  # Keras keeps x above the threshold only (x == threshold gives 0)
        keep = ctx.scalar_op("Greater", x, threshold, "keep")
        keep.dtype = DType.BOOL
        below = ctx.scalar_op("Mul", ctx.scalar_op("Sub", x, threshold, "shifted"), slope, "below")
        y = ctx.op("SelectV2", [keep, x, below], shape=x.shape, dtype=x.dtype, attrs={"T": x.dtype})
    if max_value is not None:
        y = ctx.scalar_op("Minimum", y, float(max_value), "max_value")
    return y


def _relu_function_steps(ctx: LayerContext, slope: float, threshold: float, max_value: float | None) -> Value:
    """Keras 3's ``keras.activations.relu`` operation as its ``static_call`` computes it, step by step: it takes options
    the layer refuses (a negative threshold or max_value, a negative slope), under which the layer's shortcut
    (``where(x > t, x, slope·(x - t))`` capped) differs: Keras caps before it subtracts the slope's part and clips at 0
    (``clip(where(x > t, x, 0), 0, max_value) - slope·relu(t - x)``; a negative threshold's ``(t, 0)`` gives 0 under a
    cap, a negative cap 0 everywhere; 0.91 and 1.0 off before, silently)."""
    from .float_widths import is_half, mark_half_as

    x = ctx.x
    _refuse_float64_threshold(ctx, threshold)
    options = bool(slope or threshold or max_value is not None)
    if options and _cast_from_half(x):  # an op layer's cast to float16 (session 32: computed in float32 before)
        return _half_relu_function_steps(ctx, slope, threshold, max_value)
    if _cast_from_half(x):  # float16 in Keras, exact: ops on it compute in float16 (session 32, h3b: in float32)
        return _relu_of_cast_to_half(ctx)
    if is_half(ctx.graph, x):  # Keras keeps float16: relu's values are float16's, its options rounded to it
        if options:
            return _half_relu_function_steps(ctx, slope, threshold, max_value)
        out = ctx.unary("Relu", x, label="relu")
        mark_half_as(ctx.graph, x, out)
        return out
    if slope and max_value is None and not threshold:
        return ctx.unary("LeakyRelu", x, {"alpha": slope}, label="leaky")
    y = _kept_and_capped(ctx, x, bool(threshold), threshold, max_value, max_value == 6.0)
    if not slope:
        return y
    below = ctx.unary("Relu", ctx.binary("Sub", ctx.floats(threshold, "threshold"), x, label="from_threshold"),
                      label="below")
    return ctx.binary("Sub", y, ctx.scalar_op("Mul", below, slope, "sloped"), label="relu_sloped")


def _kept_and_capped(ctx: LayerContext, x: Value, thresholded: bool, threshold: float, cap: float | None,
                     six: bool) -> Value:
    """relu's part before its slope: ``x > threshold`` kept (a value equal to it gives 0) when ``thresholded`` (Keras
    branches on the unrounded option, compares with ``threshold``), else Relu (Relu6 for a cap of 6 without a
    threshold); a cap as TF's clip_by_value, ``maximum(minimum(y, cap), 0)``."""
    if thresholded:
        keep = ctx.scalar_op("Greater", x, threshold, "keep")
        keep.dtype = DType.BOOL
        zeros = ctx.unary("ZerosLike", x, label="zeros")
        y = ctx.op("SelectV2", [keep, x, zeros], shape=x.shape, dtype=x.dtype, attrs={"T": x.dtype}, label="kept")
    elif six:
        y, cap = ctx.unary("Relu6", x, label="relu6"), None
    else:
        y = ctx.unary("Relu", x, label="relu")
    if cap is not None:
        y = ctx.scalar_op("Maximum", ctx.scalar_op("Minimum", y, cap, "capped"), 0.0, "clipped")
    return y


def _relu_of_cast_to_half(ctx: LayerContext) -> Value:
    """``keras.activations.relu`` of a ``keras.ops.cast`` to float16, no options: exact, and float16 in Keras, so
    the result is marked so (:func:`.float_widths.mark_half`) and op layers after it round each step as Keras does;
    unmarked, ``relu(cast(x, "float16")) * 0.37`` was computed in float32, half a float16 step off, unnamed."""
    from .float_widths import mark_half

    out = ctx.unary("Relu", ctx.x, label="relu")
    mark_half(ctx.graph, [out])
    return out


def _cast_from_half(x: Value) -> bool:
    """Whether ``x`` is the walk's float32 view of a float16 tensor (an op layer's cast to float16, which the walk
    holds as a float16 Value and casts to float32 for a layer: ``ModelLowering._as_float``): Keras's is float16."""
    producer = x.producer
    return producer is not None and producer.op == "Cast" and producer.name.endswith("/to_float") and \
        bool(producer.inputs) and producer.inputs[0].dtype == DType.FLOAT16


def _half_relu_function_steps(ctx: LayerContext, slope: float, threshold: float, max_value: float | None) -> Value:
    """Keras 3's ``keras.activations.relu`` operation of a float16 tensor with options: ``static_call``'s steps in
    float16, its options rounded to float16 (``ops.cast``, TF's scalar conversion) and each arithmetic result rounded
    as TF's half arithmetic rounds it (computed in float32, then rounded: refused by name until session 32, where the
    traced path matches Keras). Keras chooses its branches by the unrounded options."""
    from .float_widths import held_half_inputs, mark_half, rounded_to_half

    x = held_half_inputs(ctx.graph, ctx.name, [ctx.x])[0]  # Keras's float16 tensor, on float16's grid
    t, s = float(np.float16(threshold)), float(np.float16(slope))

    def half(value: Value, label: str) -> Value:
        return rounded_to_half(ctx.graph, value, f"{ctx.name}/{label}")

    if slope and max_value is None and not threshold:  # TF's float16 LeakyRelu: x·float16(alpha), rounded
        out = half(ctx.unary("LeakyRelu", x, {"alpha": s}, label="leaky"), "leaky_to_float16")
        mark_half(ctx.graph, [out])
        return out
    with np.errstate(over="ignore"):  # a cap past 65504 is inf in float16, as in Keras
        cap = None if max_value is None else float(np.float16(max_value))
    y = _kept_and_capped(ctx, x, bool(threshold), t, cap, max_value == 6)  # exact on float16's grid
    if slope:
        below = ctx.unary("Neg", x, label="negated")
        if threshold:
            below = half(ctx.scalar_op("AddV2", below, t, "from_threshold"), "from_threshold_to_float16")
        sloped = half(ctx.scalar_op("Mul", ctx.unary("Relu", below, label="below"), s, "sloped"), "sloped_to_float16")
        y = half(ctx.binary("Sub", y, sloped, label="relu_sloped"), "relu_sloped_to_float16")
    mark_half(ctx.graph, [y])
    return y


def _refuse_negative_layer_options(ctx: LayerContext, slope: float, threshold: float, max_value: Any) -> None:
    """Keras's ReLU layer refuses negative options when built: a Keras 3 ``.h5`` saving ``keras.activations.relu``
    with them (read back as that layer, :func:`..op_calls.is_saved_relu_operation`) cannot be loaded by Keras."""
    if slope < 0 or threshold < 0 or max_value is not None and float(max_value) < 0:
        raise Unsupported(f"layer {ctx.name!r} (ReLU) with a negative threshold, max_value or negative_slope: Keras "
                          "cannot load it (keras.saving.load_model builds a ReLU layer of a saved "
                          "keras.activations.relu, which refuses them; save the model as .keras)")


def _refuse_float64_threshold(ctx: LayerContext, threshold: float) -> None:
    """Keras 3's relu operation keeps a float64 input float64 and compares it with float32(threshold) widened; the
    graph holds the value rounded to float32, so a value just above the threshold that rounds onto it gives 0 where
    Keras keeps it (review F1: 0.1 off, silently). A cap or slope is continuous (within the input's rounding)."""
    from .float_widths import is_float64_input

    if threshold and is_float64_input(ctx.graph, ctx.x):
        raise Unsupported(f"layer {ctx.name!r} (keras.activations.relu) of a float64 tensor with a threshold (Keras "
                          "compares the float64 values, the graph their float32 rounding; not lowered)")


def _integer_relu(ctx: LayerContext) -> Value:
    """``max(x, 0)`` of int32 ``x``, as Keras's relu of integers (TF.js's Relu is a float kernel)."""
    return ctx.binary("Maximum", ctx.x, ctx.const(np.zeros((), np.int32), "zero"), label="relu")


def _integer_options_relu(ctx: LayerContext, dtype: DType, threshold: Any, max_value: Any) -> Value:
    """Keras's ReLU without a negative slope of integers, in their dtype (Keras 3 and tf_keras alike): ``x`` where
    ``x > int(threshold)`` else 0 (a threshold of 0: ``max(x, 0)``), then ``clip(x, 0, int(max_value))``, TF's
    ``clip_by_value`` ``max(min(x, hi), 0)``. Exact for every int32 (int32 ids: int32 ops; 8/16-bit integers, held as
    float32, float ops on the same whole numbers); :func:`_integer_bound` gives the bounds Keras casts."""
    x = ctx.x

    def const(value: int, label: str) -> Value:
        return ctx.ints(value, label) if x.dtype == DType.INT32 else ctx.floats(float(value), label)

    zero = const(0, "zero")
    bound = _integer_bound(ctx, "threshold", threshold, dtype) if threshold else 0
    if bound:
        keep = ctx.op("Greater", [x, const(bound, "threshold")], dtype=DType.BOOL, shape=x.shape, label="keep")
        y = ctx.op("SelectV2", [keep, x, zero], {"T": x.dtype}, dtype=x.dtype, shape=x.shape, label="thresholded")
    else:
        y = ctx.binary("Maximum", x, zero, label="relu")
    if max_value is None:
        return y
    high = const(_integer_bound(ctx, "max_value", max_value, dtype), "max_value")
    return ctx.binary("Maximum", ctx.binary("Minimum", y, high, label="clipped_high"), zero, label="clipped")


def _integer_bound(ctx: LayerContext, option: str, value: Any, dtype: DType) -> int:
    """The integer Keras compares with for a ReLU ``option`` on ``dtype`` integers: the Python float as float32 (both
    Keras 3's ``ops.cast`` and tf_keras's conversion go through it: 16777217.0 is 16777216), truncated toward zero.
    Beyond int64's int32 range it is clamped (TF.js holds int64 ids as int32: the comparison comes out the same);
    beyond the dtype's range (float32's 2147483647.0 is 2^31) TF's cast is platform-dependent: refused."""
    rounded = float(np.float32(value))
    info = np.iinfo(dtype.numpy)
    if not math.isfinite(rounded) or not info.min <= math.trunc(rounded) <= info.max:
        raise Unsupported(f"layer {ctx.name!r} (ReLU) on {dtype.numpy} integers with {option}={value!r} (Keras casts "
                          f"it to {dtype.numpy} as the float32 {rounded!r}, out of range: a platform-dependent cast)")
    bound = math.trunc(rounded)
    return int(np.clip(bound, np.iinfo(np.int32).min, np.iinfo(np.int32).max))


@lowers("LeakyReLU")
def leaky_relu_layer(ctx: LayerContext) -> Value:
    alpha = ctx.config.get("negative_slope", ctx.config.get("alpha", 0.3))
    return ctx.unary("LeakyRelu", ctx.x, {"alpha": float(alpha)})


@lowers("ELU")
def elu_layer(ctx: LayerContext) -> Value:
    alpha = float(ctx.config.get("alpha", 1.0))
    elu = ctx.unary("Elu", ctx.x, label="Elu" if alpha == 1.0 else "elu_unit")
    if alpha == 1.0:
        return elu
    negative = ctx.scalar_op("Mul", ctx.scalar_op("Minimum", elu, 0.0, "negative_part"), alpha, "scaled")
    return ctx.binary("AddV2", ctx.unary("Relu", ctx.x, label="positive_part"), negative)


def _softmax_check(config: dict[str, Any]) -> str | None:
    axis = config.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else axis
    ok = isinstance(axes, (list, tuple)) and axes and all(isinstance(a, int) for a in axes)
    return None if ok else f"Softmax axis={axis!r}"


#: The logit Keras gives masked positions before a softmax (float32; Keras 3's ``_large_negative_number``,
#: tf_keras's ``_large_compatible_negative``).
MASKED_LOGIT = -1e9
#: Their float16 ones (a float16-computing layer: -1e9 would round to -inf, and ``0 · -inf`` is NaN): tf_keras's
#: ``float16.min / 2``, Keras 3's ``-3e4``, both float16 values.
HALF_MASKED_LOGIT = {False: -32752.0, True: -30000.0}


def _masked_logit(ctx: LayerContext) -> float:
    """The large negative logit this Softmax's flavour and dtype policy give masked positions."""
    from .float_widths import computes_in_half

    return HALF_MASKED_LOGIT[ctx.keras3] if computes_in_half(ctx.class_name, ctx.config) else MASKED_LOGIT


@lowers("Softmax", check=_softmax_check)
def softmax_layer(ctx: LayerContext) -> Value:
    """TF.js's Softmax is last-axis only: another single axis is swapped to the end and back; several axes
    are ``exp(x - max) / sum(exp(x - max))`` over them (as Keras 3 and tf_keras compute a multi-axis softmax).
    A mask (``ctx.mask``: the ``mask=`` the call was given) is applied as the saving flavour does."""
    if ctx.mask is not None:
        return _masked_softmax(ctx, ctx.mask)
    return _softmax(ctx, ctx.x)


def _softmax(ctx: LayerContext, x: Value) -> Value:
    axis = ctx.config.get("axis", -1)
    shape = ctx.shape(x)
    rank = len(shape)
    given = [axis] if isinstance(axis, int) else list(axis)
    if any(not -rank <= a < rank for a in given):
        raise ctx.error(f"applies softmax over axis {axis} of a rank-{rank} input")
    axes = sorted({a % rank for a in given})
    if axes == [rank - 1]:
        return ctx.unary("Softmax", x)
    if len(axes) == 1:
        perm = list(range(rank))
        perm[axes[0]], perm[-1] = rank - 1, axes[0]
        moved = ctx.transpose(x, perm, "axis_last")
        return ctx.transpose(ctx.unary("Softmax", moved), perm, "axis_back")
    return stable_softmax(ctx, x, axes, "softmax")


def _masked_softmax(ctx: LayerContext, mask: Value) -> Value:
    """Keras 3: ``where(mask, softmax(where(mask, x, -1e9)), 0)`` (a float mask is ``mask > 0.5``, an integer one
    ``mask > int(0.5)``, i.e. ``> 0``: negative ids mask too; 8/16-bit ones come as exact float32, where ``> 0.5`` is
    the same; a fully masked row gives zeros). tf_keras: ``softmax(x + (1 - float(mask)) * -1e9)`` (a fully masked
    row comes out near uniform, as in TF), or with ``robust_masking`` ``softmax(where(mask > 0.5, x, -1e9))``.
    A float16-computing layer uses its flavour's float16 number (:data:`HALF_MASKED_LOGIT`), each op rounded."""
    x, shape, mask_shape = ctx.x, ctx.shape(), ctx.shape(mask)
    pairs = list(zip(reversed(mask_shape), reversed(shape)))
    if len(mask_shape) > len(shape) or any(m != 1 and m != d for m, d in pairs if m is not None or d is not None):
        raise Unsupported(f"layer {ctx.name!r} (Softmax): a mask of shape {list(mask_shape)} for an input of shape "
                          f"{list(shape)} (Keras broadcasts it only where the sizes match or are 1)")
    large_negative = _masked_logit(ctx)
    if ctx.keras3 or ctx.config.get("robust_masking"):
        keep = mask if mask.dtype == DType.BOOL else ctx.op(
            "Greater", [mask, ctx.ints(0, "mask_half") if mask.dtype == DType.INT32 else ctx.floats(0.5, "mask_half")],
            dtype=DType.BOOL, shape=mask.shape, label="mask_kept")
        logits = ctx.op("SelectV2", [keep, x, ctx.floats(large_negative, "masked_logit")], {"T": DType.FLOAT32},
                        dtype=DType.FLOAT32, shape=shape, label="masked_logits")
        out = _softmax(ctx, logits)
        if not ctx.keras3:
            return out
        return ctx.op("SelectV2", [keep, out, ctx.floats(0.0, "masked_zero")], {"T": DType.FLOAT32},
                      dtype=DType.FLOAT32, shape=shape, label="masked_out")
    weight = mask if mask.dtype == DType.FLOAT32 else ctx.op(
        "Cast", [mask], {"SrcT": mask.dtype, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32,
        shape=mask.shape, label="mask_float")
    if mask.dtype == DType.FLOAT32 and large_negative != MASKED_LOGIT:  # ``tf.cast(mask, float16)``: 1.0001 is 1
        weight = ctx.scalar_op("Mul", weight, 1.0, "mask_float16")  # (a computing op: round_each_op rounds it)
    dropped = ctx.op("Sub", [ctx.floats(1.0, "mask_one"), weight], shape=mask.shape, label="mask_dropped")
    adder = ctx.scalar_op("Mul", dropped, large_negative, "mask_adder")
    return _softmax(ctx, ctx.binary("AddV2", x, adder, label="masked_logits"))


def stable_softmax(ctx: LayerContext, x: Value, axes: list[int], label: str) -> Value:
    """``exp(x - max) / sum(exp(x - max))`` over ``axes`` (kept dims), from ops every TF.js backend runs."""
    shape = ctx.shape(x)
    reduced = tuple(1 if i in axes else d for i, d in enumerate(shape))
    attrs = {"keep_dims": True, "Tidx": DType.INT32}
    reduce = ctx.ints(axes, f"{label}_axes")
    peak = ctx.op("Max", [x, reduce], attrs, shape=reduced, label=f"{label}_max")
    exp = ctx.unary("Exp", ctx.binary("Sub", x, peak, label=f"{label}_shifted"), label=f"{label}_exp")
    total = ctx.op("Sum", [exp, reduce], attrs, shape=reduced, label=f"{label}_sum")
    return ctx.binary("RealDiv", exp, total, label=label)


@lowers("ThresholdedReLU")
def thresholded_relu_layer(ctx: LayerContext) -> Value:
    x = ctx.x
    keep = ctx.scalar_op("Greater", x, float(ctx.config.get("theta", 1.0)), "keep")
    keep.dtype = DType.BOOL
    mask = ctx.op("Cast", [keep], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                  shape=x.shape, dtype=DType.FLOAT32, label="mask")
    return ctx.binary("Mul", x, mask)


@lowers("PReLU")
def prelu_layer(ctx: LayerContext) -> Value:
    """``relu(x) + alpha · min(x, 0)``; alpha has the input's shape without the batch (1 on shared axes)."""
    (alpha,) = ctx.expect_weights("alpha")
    shape = ctx.shape()
    if len(alpha.shape) != len(shape) - 1:
        raise ctx.error(f"has an alpha of shape {list(alpha.shape)} for an input of rank {len(shape)}")
    negative = ctx.binary("Mul", ctx.weight(alpha, "alpha"), ctx.scalar_op("Minimum", ctx.x, 0.0, "negative_part"),
                          label="scaled")
    return ctx.binary("AddV2", ctx.unary("Relu", ctx.x, label="positive_part"), negative)

