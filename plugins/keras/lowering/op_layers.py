"""Op layers: tf_keras ``TFOpLambda``/``SlicingOpLambda`` and Keras 3 operations (``keras.ops.*`` on
symbolic tensors), lowered from the recorded function name and arguments to TF ops.

Nothing is executed: the function name picks an entry of :data:`TF_FUNCTIONS` (tf_keras, e.g.
``math.add``, ``__operators__.getitem``) or :data:`KERAS_OPS` (Keras 3 class names, e.g. ``Add``,
``GetItem``); an unknown name is a gap named by function. Each entry lists the function's positional
parameters, so recorded positional arguments, keyword arguments and (Keras 3) the operation's config
bind to names the same way. :func:`~tfjsconv.plugins.keras.op_calls.with_plain_op_nodes` has kept the
recorded call in the config, and the walker hands the call's tensors as ``ctx.inputs`` in
:func:`~tfjsconv.plugins.keras.op_calls.call_refs` order.
"""
from __future__ import annotations

import dataclasses
import math
import string
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import (EXACT_MEAN_COUNT_LIMIT, NARROW_INTS, exact_floor_div, int32_halves, int32_product,
                                  is_narrow, truncated_mean, wrapped)
from tfjsconv.ops.special_values import GUARDED_SUFFIX
from tfjsconv.passes.graph_edit import const_array

from ..op_calls import (CALLS_KEY, KERAS_OP_PREFIX, OP_ARGUMENTS_KEY, TF_OP_LAYERS, TensorArg,
                        first_argument_is_constant, parse_call)
from .activations import ACTIVATIONS, _gelu_tanh, _hard_sigmoid_v3, _hard_swish
from .context import UNTRACKED, LayerContext
from .integer_dtypes import INTEGER_KEEPING_OPS
from .registry import Unsupported, lowers

#: Keras 3 operation config keys that are not arguments of the call.
_KERAS_OP_BOOKKEEPING = ("name",)
_REQUIRED = object()
#: Arguments read as axes (or ints TF's graph folds: a permutation, band_part's bounds): a tensor there is the value
#: the graph fixes when it is built (every reader alike).
_AXIS_ARGUMENTS = frozenset({"axis", "axes", "perm", "num_lower", "num_upper"})


class OpCall:
    """One recorded call: arguments bound to parameter names, tensors as the call's input Values."""

    def __init__(self, ctx: LayerContext, function: str, arguments: dict[str, Any]) -> None:
        self.ctx = ctx
        self.function = function
        self.arguments = arguments

    def gap(self, why: str) -> Unsupported:
        return Unsupported(f"layer {self.ctx.name!r} ({self.function}): {why}")

    def has(self, name: str) -> bool:
        return self.arguments.get(name) is not None

    def value(self, name: str, default: Any = _REQUIRED) -> Any:
        """A constant argument (a tensor there is a gap: its value is known only at run time)."""
        if name not in self.arguments or self.arguments[name] is None:
            if default is _REQUIRED:
                raise self.gap(f"argument {name!r} is missing")
            return default
        value = self.arguments[name]
        if _holds_tensor(value) and name in _AXIS_ARGUMENTS:  # ``axis=tf.rank(x) - 1``: its value, or a gap
            from .op_layers_tensor_args import known_argument  # that module imports this one's helpers

            known_argument(self, name)
            return self.arguments[name]
        if _holds_tensor(value):
            raise self.gap(f"argument {name!r} is a tensor")
        return value

    def tensor(self, name: str, like: Value | None = None) -> Value:
        """A tensor argument; a constant becomes a Const of ``like``'s dtype (float32 when none)."""
        value = self.arguments.get(name)
        if isinstance(value, TensorArg):
            return self.ctx.inputs[value.index]
        if value is None or _holds_tensor(value):
            raise self.gap(f"argument {name!r} is {'missing' if value is None else 'a nested tensor'}")
        if isinstance(value, dict):  # Keras 3's serialized tensor constant (``o.ones(...)`` as an argument)
            return self._saved_constant(name, value, like)
        dtype = like.dtype if like is not None else DType.FLOAT32
        array = np.asarray(value)
        if array.dtype.kind == "f" and dtype.numpy.kind != "f":
            raise self.gap(f"argument {name!r} ({value!r}) is a float for a {dtype.value} tensor")
        narrow = next((d for v, d in zip(self.ctx.inputs, self.ctx.keras_dtypes) if v is like and is_narrow(d)), None)
        if narrow is not None and array.dtype.kind in "iu":  # Keras converts it to that dtype: 300 is 44 in uint8
            array = array.astype(np.int64).astype(narrow.numpy)
        return self.ctx.const(array.astype(dtype.numpy), f"{name}_value")

    def _saved_constant(self, name: str, value: dict[str, Any], like: Value | None) -> Value:
        """Keras 3's ``{"class_name": "__tensor__" or "__numpy__", "config": {"value", "dtype"}}``: a constant (tensor
        or numpy array) the call was given, taken in its saved dtype where TF.js holds that dtype as is (float32,
        int32, bool), else a gap."""
        config = value.get("config") if value.get("class_name") in ("__tensor__", "__numpy__") else None
        dtype = {"float32": DType.FLOAT32, "int32": DType.INT32, "bool": DType.BOOL}.get(
            str((config or {}).get("dtype")))
        if not isinstance(config, dict) or dtype is None:
            raise self.gap(f"argument {name!r} is a saved tensor constant of dtype {(config or {}).get('dtype')!r}")
        if like is not None and like.dtype != dtype:
            raise self.gap(f"argument {name!r} is a saved {dtype.numpy} constant for a {like.dtype.numpy} tensor")
        try:
            array = np.asarray(config.get("value"), dtype=dtype.numpy)
        except (TypeError, ValueError):
            raise self.gap(f"argument {name!r} is a saved tensor constant that is not a {dtype.numpy} array") from None
        return self.ctx.const(array, f"{name}_value")

    def tensors(self, name: str) -> list[Value]:
        value = self.arguments.get(name)
        if not isinstance(value, list) or not all(isinstance(v, TensorArg) for v in value):
            raise self.gap(f"argument {name!r} is not a list of tensors")
        return [self.ctx.inputs[v.index] for v in value]

    def pair(self, a: str, b: str) -> tuple[Value, Value]:
        """Two operands of a binary op; a constant one takes the other's dtype."""
        first, second = self.arguments.get(a), self.arguments.get(b)
        if isinstance(first, TensorArg):
            x = self.tensor(a)
            return x, self.tensor(b, like=x)
        if isinstance(second, TensorArg):
            y = self.tensor(b)
            return self.tensor(a, like=y), y
        raise self.gap("no tensor operand")


def _holds_tensor(value: Any) -> bool:
    if isinstance(value, TensorArg):
        return True
    if isinstance(value, dict):
        return any(_holds_tensor(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_tensor(v) for v in value)
    if isinstance(value, slice):
        return _holds_tensor([value.start, value.stop, value.step])
    return False


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """A function's positional parameters, keyword options the lowering reads, and its lowering (a list of Values
    for a function with several outputs: ``split``, ``unstack``, ``top_k``)."""

    params: tuple[str, ...]
    lower: Callable[[OpCall], Value | list[Value]]
    options: tuple[str, ...] = ()


# -- elementwise ------------------------------------------------------------------------------------------
def _unary(op: str) -> Callable[[OpCall], Value]:
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if op == "Abs":
            _refuse_masked_unsigned(c, x)
            if x.dtype == DType.BOOL:  # Keras 3 returns it (TF has no bool Abs); TF.js wasm's Abs reads bool bytes
                return c.ctx.unary("Identity", x)
        if op in ("Neg", "Abs") and x.dtype == DType.INT32:
            return _int32_sign_op(c.ctx, x, op)
        return c.ctx.unary(op, x)
    return lower


def _refuse_masked_unsigned(c: OpCall, x: Value) -> None:
    """Keras 3's ``absolute`` of an unsigned tensor is that tensor itself (``if "uint" in dtype or dtype == "bool":
    return x``), its run-time mask with it, where the saved graph (which may even call it float32) drops the mask:
    a masked one is a gap (lowered unmasked before, 1.0 where Keras gives 2.5, H5b session 28). A masked bool is
    none: Keras 3's Masking makes int32 of bools."""
    held = c.ctx.keras_dtypes[0] if c.ctx.keras_dtypes and isinstance(c.ctx.keras_dtypes[0], DType) else x.dtype
    if held.name.startswith("UINT") and c.ctx.class_name.startswith(KERAS_OP_PREFIX) and \
            any(m is not None for m in c.ctx.masks):
        raise c.gap(f"absolute of a masked {held.name.lower()} tensor: Keras 3 returns that tensor itself, so its "
                    "mask reaches the later layers at run time, which Keras's saved graph says it drops")


def _int32_sign_op(ctx: LayerContext, x: Value, op: str) -> Value:
    """``-x`` / ``|x|`` of int32 as TF gives them (``-(-2^31)`` wraps to itself): ``0 - x`` in int32, exact on every
    backend, where TF.js's Abs (cpu, wasm) and wasm's Neg of int32 go through float32 (wrong past 2^24)."""
    negated = ctx.binary("Sub", ctx.ints(0, f"{op}_zero"), x, label=f"{op}_negated")
    if op == "Neg":
        return negated
    negative = ctx.op("Less", [x, ctx.ints(0, "abs_bound")], dtype=DType.BOOL, shape=x.shape, label="abs_negative")
    return ctx.op("SelectV2", [negative, negated, x], {"T": DType.INT32}, dtype=DType.INT32, shape=x.shape,
                  label="Abs")


def _activation(name: str) -> Callable[[OpCall], Value]:
    return lambda c: ACTIVATIONS[name](c.ctx, c.tensor("x"), "act")


def _binary(op: str, *, boolean: bool = False) -> Callable[[OpCall], Value]:
    def lower(c: OpCall) -> Value:
        if boolean:  # tf_keras's float64 constant beside a float64 tensor held as float32 (.float64_compare)
            from .float64_compare import float64_comparison

            if (exact := float64_comparison(c, op)) is not None:
                return exact
        x, y = c.pair("x", "y")
        if x.dtype != y.dtype:
            raise c.gap(f"operands of dtypes {x.dtype.value} and {y.dtype.value}")
        if op == "Mul" and x.dtype == DType.INT32:  # wrapped as TF's int32 Mul, on cpu too
            return int32_product(c.ctx.graph, x, y, f"{c.ctx.name}/Mul", _broadcast(x, y))
        if op == "Mul" and x.dtype == DType.INT64:  # its low 32 bits, as TF.js holds int64 (review R3, F5)
            from .integer_layer_dtypes import warn_int64_low_bits

            warn_int64_low_bits(c.ctx, f"layer {c.ctx.name!r} multiplies int64 values")
            low = [_cast_int64(c, v, f"{k}_low_bits") for k, v in (("x", x), ("y", y))]
            return held_int64(c.ctx, int32_product(c.ctx.graph, *low, f"{c.ctx.name}/Mul", _broadcast(x, y)))
        out = c.ctx.binary(op, x, y)
        if boolean:
            out.dtype = DType.BOOL
        return out
    return lower


def _divide(c: OpCall) -> Value:
    x, y = c.pair("x", "y")
    if x.dtype in (DType.INT32, DType.INT64) and y.dtype in (DType.INT32, DType.INT64) and \
            not c.ctx.class_name.startswith(KERAS_OP_PREFIX):
        return _integer_true_division(c, x, y)
    if x.dtype.numpy.kind != "f":
        raise c.gap(f"division of {x.dtype.value} tensors")
    return c.ctx.binary("RealDiv", x, y)


def _integer_true_division(c: OpCall, x: Value, y: Value) -> Value:
    """TF's ``truediv`` of int32/int64 tensors (``i / 7``): both cast to float64 and divided, a float64 result, which
    TF.js holds as a pair of float32 (:func:`.op_layers_tf_gaps.integer_true_division`): its float32 cast is Keras's
    quotient rounded, past 2^24 too; casts and float64 arithmetic read it (truncating it to integers stays a gap: it
    could differ). Of 8/16-bit integers TF's float32 quotient, exactly."""
    if _narrow_dtype(c) is None:  # TF's float64 quotient: computed on pairs of float32
        from .known_values import known_array, remember_exact
        from .op_layers_tf_gaps import integer_true_division

        out = integer_true_division(c, x, y)
        known = [known_array(v) for v in (x, y)]
        if None not in known:  # ``c / 5`` of a size the config gives: Keras's quotient, for a cast of it (_cast)
            with np.errstate(all="ignore"):
                remember_exact(out, np.asarray(known[0], np.float64) / np.asarray(known[1], np.float64))
        return out
    x, y = (c.ctx.op("Cast", [v], {"SrcT": v.dtype, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32,
                     shape=v.shape, label=f"{label}_float") for v, label in ((x, "x"), (y, "y")))
    return c.ctx.binary("RealDiv", x, y, label="quotient")  # TF divides 8/16-bit integers in float32: one rounding


def _integer_division(op: str) -> Callable[[OpCall], Value]:
    """``floor_divide``/``mod`` (``tf.math.floordiv``/``floormod``): of int32 tensors FloorDiv/FloorMod, which floor
    like Python on negative integers in TF and TF.js alike; of float32 tensors (every input a float in Keras, not
    integers the walk holds as float32) the same ops, which the core ``float_floor_division`` pass writes so that
    TF.js gives TF's float results (``floor(x / y)``, TF's ``FloorMod`` signs, ±Inf and NaN)."""
    def lower(c: OpCall) -> Value:
        if c.ctx.class_name.startswith(KERAS_OP_PREFIX):
            c.arguments.setdefault("x", c.arguments.pop("x1", None))
            c.arguments.setdefault("y", c.arguments.pop("x2", None))
        x, y = c.pair("x", "y")
        if x.dtype == y.dtype == DType.FLOAT32 and all(d is None for d in c.ctx.keras_dtypes):
            return c.ctx.binary(op, x, y)
        wide = DType.INT64 in (x.dtype, y.dtype)  # Keras's result is int64: held_int64 keeps that dtype
        if {x.dtype, y.dtype} <= {DType.INT32, DType.INT64}:
            # int64 ids (a model input, held as int32 in TF.js with their values): the remainder is no larger than
            # the divisor, so int32 computes it exactly; so is every quotient but INT32_MIN // -1 = 2^31, which wraps
            # to INT32_MIN as an int64 sum past int32's range does in TF.js (docs/keras.md, "Integer inputs")
            x, y = (_cast_int64(c, v, label) for v, label in ((x, "x_int32"), (y, "y_int32")))
        if x.dtype != DType.INT32 or y.dtype != DType.INT32:
            raise c.gap(f"{op} of {x.dtype.value} and {y.dtype.value} tensors")
        out = c.ctx.binary(op, x, y) if op == "FloorMod" else _exact_floor_div(c.ctx, x, y)
        return held_int64(c.ctx, out, f"{op}_int64") if wide else out
    return lower


def _exact_floor_div(ctx: LayerContext, x: Value, y: Value) -> Value:
    """``x // y`` of int32 tensors, exact over all of int32 (:func:`tfjsconv.narrow_ints.exact_floor_div`)."""
    return exact_floor_div(ctx.graph, x, y, f"{ctx.name}/FloorDiv")


def _square(c: OpCall) -> Value:
    """``square``: ``x · x`` on integers (TF.js's cpu Square of int32 loses the products beyond 2^24), wrapped as
    TF's int32 product (:func:`int32_product`)."""
    x = c.tensor("x")
    if x.dtype == DType.INT32:
        return int32_product(c.ctx.graph, x, x, f"{c.ctx.name}/Square", x.shape)
    return c.ctx.unary("Square", x)


def _squared_difference(c: OpCall) -> Value:
    """``squared_difference``: of int32 tensors ``d · d`` with ``d = x - y``, wrapped as TF's int32 product
    (:func:`int32_product`; TF.js's cpu SquaredDifference multiplies in float64, inexact past 2^53)."""
    x, y = c.pair("x", "y")
    if x.dtype != y.dtype:
        raise c.gap(f"operands of dtypes {x.dtype.value} and {y.dtype.value}")
    if x.dtype != DType.INT32:
        return c.ctx.binary("SquaredDifference", x, y)
    difference = c.ctx.binary("Sub", x, y, label="difference")
    return int32_product(c.ctx.graph, difference, difference, f"{c.ctx.name}/Square", difference.shape)


def _pow(c: OpCall) -> Value:
    """``pow``: TF.js's Pow. An int32 one (a constant or a tensor power) becomes TF's int32 power wrapped modulo 2^32
    (its repeated squaring) in the core ``int32_power`` pass (TF.js's Pow of int32 saturates on wasm past 2^31 and
    rounds on cpu past 2^53); a constant negative int32 power is a gap (TensorFlow raises)."""
    x, y = c.pair("x", "y")
    if x.dtype != y.dtype:
        raise c.gap(f"operands of dtypes {x.dtype.value} and {y.dtype.value}")
    power = c.arguments.get("y")
    if x.dtype == DType.INT32 and not isinstance(power, TensorArg):
        exponents = np.asarray(power)
        if exponents.dtype.kind in "iu" and exponents.size and int(exponents.min()) < 0:
            raise c.gap(f"an int32 tensor to the power {int(exponents.min())} (TensorFlow raises on negative "
                        "integer powers)")
    return c.ctx.binary("Pow", x, y)


def _clip(c: OpCall, low: str, high: str) -> Value:
    """TF's ``clip_by_value`` order, ``maximum(minimum(x, high), low)``: bounds inverted give the lower one."""
    x = c.tensor("x")
    y = c.ctx.binary("Minimum", x, c.tensor(high, like=x), label="clip_high")
    return c.ctx.binary("Maximum", y, c.tensor(low, like=x), label="clip_low")


def _elu(c: OpCall) -> Value:
    """``elu(x)`` for x > 0, ``alpha · (exp(x) - 1)`` below: ``relu(x) + alpha · min(elu(x), 0)``."""
    x = c.tensor("x")
    alpha = float(c.value("alpha", 1.0))
    elu = c.ctx.unary("Elu", x, label="Elu" if alpha == 1.0 else "elu_unit")
    if alpha == 1.0:
        return elu
    negative = c.ctx.scalar_op("Mul", c.ctx.scalar_op("Minimum", elu, 0.0, "negative_part"), alpha, "scaled")
    return c.ctx.binary("AddV2", c.ctx.unary("Relu", x, label="positive_part"), negative)


def _pad(c: OpCall, key: str, mode_key: str, value_key: str) -> Value:
    if _holds_tensor(c.arguments.get(key)):
        from .op_layers_tensor_args import pad_at_run_time  # that module imports this one's helpers
        return pad_at_run_time(c, key, mode_key, value_key)
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    pads = c.value(key)
    if not (isinstance(pads, list) and len(pads) == len(shape) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                        for v in p) for p in pads)):
        raise c.gap(f"{key}={pads!r}")
    mode = str(c.value(mode_key, "constant")).upper()
    out = tuple(None if d is None else d + a + b for d, (a, b) in zip(shape, pads))
    if mode in ("REFLECT", "SYMMETRIC"):  # TF's MirrorPad (constant values are not read); TF raises past the edges
        edge = 0 if mode == "SYMMETRIC" else 1
        if any(d is not None and max(p) > d - edge for d, p in zip(shape, pads)):
            raise c.gap(f"{mode} paddings {pads} of shape {list(shape)} (TensorFlow raises)")
        if c.ctx.class_name.startswith(KERAS_OP_PREFIX) and c.value(value_key, None) is not None:
            raise c.gap(f"constant_values with mode={mode.lower()!r} (Keras raises)")
        return c.ctx.op("MirrorPad", [x, c.ctx.ints(pads, "paddings")], {"Tpaddings": DType.INT32, "mode": mode},
                        shape=out)
    if mode != "CONSTANT":
        raise c.gap(f"mode={c.value(mode_key)!r}")
    fill = c.value(value_key, 0) or 0
    paddings = c.ctx.ints(pads, "paddings")
    if fill == 0:
        return c.ctx.op("Pad", [x, paddings], {"Tpaddings": DType.INT32}, shape=out)
    return c.ctx.op("PadV2", [x, paddings, c.tensor(value_key, like=x)], {"Tpaddings": DType.INT32}, shape=out)


def _depth_to_space(c: OpCall) -> Value:
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    block = int(c.value("block_size"))
    if len(shape) != 4 or c.value("data_format", "NHWC") != "NHWC" or block < 2 or \
            (shape[3] is not None and shape[3] % (block * block)):
        raise c.gap(f"block_size={block} on shape {list(shape)}")
    out = (shape[0], *(None if d is None else d * block for d in shape[1:3]),
           None if shape[3] is None else shape[3] // (block * block))
    return c.ctx.op("DepthToSpace", [x], {"block_size": block, "data_format": "NHWC"}, shape=out)


# -- shapes -----------------------------------------------------------------------------------------------
def _axis(c: OpCall, axis: Any, rank: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank:
        raise c.gap(f"axis {axis!r} for a rank-{rank} tensor")
    return axis + rank if axis < 0 else axis


def _ints(c: OpCall, name: str, default: Any = _REQUIRED) -> list[int] | None:
    value = c.value(name, default)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) and -2**31 <= v < 2**31 for v in items):
        raise c.gap(f"argument {name!r} = {value!r}")
    return [int(v) for v in items]


def _reshape(c: OpCall, key: str) -> Value:
    x = c.tensor("x")
    if _holds_tensor(c.arguments.get(key)):
        return _reshape_at_run_time(c, x, key)
    target = _ints(c, key)
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise c.gap(f"shape {target}")
    shape = c.ctx.shape(x)
    dims: list[int | None] = [None if d == -1 else d for d in target]
    if -1 in target and None not in shape:
        known = math.prod(d for d in target if d != -1)
        dims[target.index(-1)] = math.prod(shape) // known if known else None
    return c.ctx.op("Reshape", [x, c.ctx.ints(target, "shape")], {"Tshape": DType.INT32}, shape=tuple(dims))


def _reshape_at_run_time(c: OpCall, x: Value, key: str) -> Value:
    """``tf.reshape(x, shape)`` with a tensor in ``shape`` (``tf.shape(y)``, ``[tf.shape(x)[0], -1]``): Reshape to the
    shape built at run time, as TF does; the static sizes are those the shape's entries give when the graph is built
    (:func:`_known_entries`), a -1 resolved where every other size is known."""
    target = _size_vector(c, key)
    entries = _known_entries(target)
    if entries is None:
        raise c.gap(f"argument {key!r} is a tensor of a length unknown in the config")
    if any(e is not None and e < -1 for e in entries) or entries.count(-1) > 1:
        raise c.gap(f"shape {entries} (TensorFlow raises)")
    shape = c.ctx.shape(x)
    dims: list[int | None] = [None if e is None or e == -1 else e for e in entries]
    if -1 in entries and None not in entries and None not in shape:
        known = math.prod(e for e in entries if e != -1)
        dims[entries.index(-1)] = math.prod(shape) // known if known else None
    return c.ctx.op("Reshape", [x, target], {"Tshape": DType.INT32}, shape=tuple(dims))


def _size_vector(c: OpCall, key: str) -> Value:
    """Argument ``key`` (sizes or multiples holding a tensor) as an int32 vector: a 1-D integer tensor as it is (int64
    cast, as TF.js holds it), or a list of int constants and scalar integer tensors stacked as TF packs it."""
    value = c.arguments.get(key)
    if isinstance(value, TensorArg):
        vector = _cast_int64(c, c.tensor(key), f"{key}_int32")
        shape = c.ctx.shape(vector)
        if vector.dtype != DType.INT32 or len(shape) != 1:
            raise c.gap(f"argument {key!r} is a {vector.dtype.value} tensor of shape {list(shape)} (a vector of sizes "
                        "is lowered)")
        return vector
    c.arguments[key] = value if isinstance(value, list) else [value]
    return _stacked(c, key, 0, f"{key}_vector")


def _mixed_values(c: OpCall, key: str) -> list[Value]:
    """A list argument of tensors and constants (``tf.stack([1, tf.shape(x)[1], 1])``): the constants as Consts of the
    tensors' dtype and shape, as TF converts them (tensors of one dtype and known shape; a float for an integer
    tensor is a gap)."""
    items = c.arguments.get(key)
    if not isinstance(items, list) or not items or not any(isinstance(v, TensorArg) for v in items) or any(
            _holds_tensor(v) and not isinstance(v, TensorArg) for v in items):
        raise c.gap(f"argument {key!r} is not a list of tensors and constants")
    tensors = [_cast_int64(c, c.ctx.inputs[v.index], f"{key}_{i}_int32") if isinstance(v, TensorArg) else None
               for i, v in enumerate(items)]
    given = [t for t in tensors if t is not None]
    dtype, shape = given[0].dtype, c.ctx.shape(given[0])
    if any(t.dtype != dtype for t in given):
        raise c.gap(f"argument {key!r} holds tensors of dtypes {sorted({t.dtype.value for t in given})}")
    out = []
    for i, (item, tensor) in enumerate(zip(items, tensors)):
        if tensor is None:
            array = np.asarray(item)
            kinds = {"b": "b", "i": "iu", "f": "iuf"}.get(dtype.numpy.kind, "")
            if array.dtype.kind not in kinds or array.shape != shape or array.dtype.kind in "iu" and array.size and (
                    array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
                raise c.gap(f"argument {key!r} mixes {item!r} with {dtype.value} tensors of shape {list(shape)}")
            tensor = c.ctx.const(array.astype(dtype.numpy), f"{key}_{i}")
        out.append(tensor)
    return out


def _stacked(c: OpCall, key: str, axis: int, label: str = "Pack") -> Value:
    """``tf.stack`` of the tensors (and constants, :func:`_mixed_values`) in argument ``key`` along ``axis``."""
    values = _mixed_values(c, key)
    shape = list(c.ctx.shape(values[0]))
    for value in values[1:]:
        shape = [a if a is not None else b for a, b in zip(shape, c.ctx.shape(value))]
    axis = _axis(c, axis, len(shape) + 1)
    shape.insert(axis, len(values))
    return c.ctx.op("Pack", values, {"N": len(values), "axis": axis}, dtype=values[0].dtype, shape=tuple(shape),
                    label=label)


def _known_entries(value: Value) -> list[int | None] | None:
    """The entries of an integer scalar or vector (a shape being built: ``tf.shape(x)``, a slice of it, a stack of
    sizes and constants) known when the graph is built, None where known only at run time; None for a tensor of
    unknown length. TensorFlow infers a reshape's or tile's static shape from the same (``tf.shape(x)[1]`` of a
    ``[None, 4, 6]`` tensor is 4)."""
    shape = value.shape
    if shape is None or len(shape) > 1 or (shape and shape[0] is None):
        return None
    unknown: list[int | None] = [None] * (shape[0] if shape else 1)
    node = value.producer
    array = const_array(value)
    if array is not None:
        return [int(a) for a in np.asarray(array).reshape(-1)]
    if node.op == "Shape" and node.inputs[0].shape is not None:
        return list(node.inputs[0].shape)
    if node.op in ("Identity", "Cast") and node.inputs[0].dtype in (DType.INT32, DType.INT64):
        return _known_entries(node.inputs[0]) or unknown
    if node.op == "Pack" and all(v.shape == () for v in node.inputs):
        return [(_known_entries(v) or [None])[0] for v in node.inputs]
    if node.op == "ConcatV2":
        parts = [_known_entries(v) for v in node.inputs[:-1]]
        axis = const_array(node.inputs[-1])
        if all(p is not None and v.shape and len(v.shape) == 1 for p, v in zip(parts, node.inputs[:-1])) and \
                axis is not None and int(axis) in (0, -1):
            return [e for part in parts for e in part]
    if node.op == "StridedSlice":
        return _sliced_entries(node) or _folded_entries(value) or unknown
    return _folded_entries(value) or unknown


def _folded_entries(value: Value) -> list[int | None] | None:
    """Shape arithmetic on sizes the config gives (``tf.shape(x)[2] // 5``), evaluated as TF's shape inference
    does (:mod:`.known_values`); None where an operand is known only at run time."""
    from .known_values import known_ints

    return known_ints(value)


def _sliced_entries(node: Any) -> list[int | None] | None:
    """:func:`_known_entries` of a StridedSlice of a vector (``tf.shape(x)[0]``, ``tf.shape(x)[1:]``) with constant
    bounds; None where it does not apply."""
    source = _known_entries(node.inputs[0])
    bounds = [const_array(v) for v in node.inputs[1:4]]
    attrs = node.attrs
    if source is None or len(node.inputs[0].shape or ()) != 1 or any(b is None or b.size != 1 for b in bounds) or \
            attrs.get("ellipsis_mask", 0) or attrs.get("new_axis_mask", 0):
        return None
    begin, end, stride = (int(np.asarray(b).reshape(-1)[0]) for b in bounds)
    if attrs.get("shrink_axis_mask", 0) & 1:
        return [source[begin]] if -len(source) <= begin < len(source) else None
    if stride == 0:
        return None
    return source[slice(None if attrs.get("begin_mask", 0) & 1 else begin,
                        None if attrs.get("end_mask", 0) & 1 else end, stride)]


def _transpose(c: OpCall, key: str) -> Value:
    x = c.tensor("x")
    rank = len(c.ctx.shape(x))
    perm = _ints(c, key, None)
    perm = list(range(rank))[::-1] if perm is None else [_axis(c, p, rank) for p in perm]
    if sorted(perm) != list(range(rank)):
        raise c.gap(f"permutation {perm} of a rank-{rank} tensor")
    return c.ctx.transpose(x, perm)


def _concat(c: OpCall) -> Value:
    """``concat(values, axis)``; constants among the tensors (``tf.concat([x, np.ones(...)], -1)``) become Consts of
    the tensors' dtype (a float constant for integer tensors is a gap)."""
    items = c.arguments.get("values")
    if c.ctx.class_name.startswith(KERAS_OP_PREFIX) and isinstance(items, list) and items:
        from .concat_promotion import promoted_concat  # int32 among float32 items, float64 arrays: Keras promotes

        promoted = promoted_concat(c, items, lambda values: _concatenated(c, values))
        if promoted is not None:
            return promoted
    if isinstance(items, list) and any(isinstance(v, TensorArg) for v in items) and \
            not all(isinstance(v, TensorArg) for v in items):
        tensors = [c.ctx.inputs[v.index] for v in items if isinstance(v, TensorArg)]
        values = [c.ctx.inputs[v.index] if isinstance(v, TensorArg) else _constant_like(c, v, tensors[0], i)
                  for i, v in enumerate(items)]
    else:
        values = c.tensors("values")
    if c.ctx.class_name.startswith(KERAS_OP_PREFIX) and {v.dtype for v in values} == {DType.INT32, DType.INT64}:
        # Keras 3 promotes int32 with int64 to int64 (held as int32 by TF.js: the values as they are)
        values = [held_int64(c.ctx, v, f"values{i}_int64") if v.dtype == DType.INT32 else v
                  for i, v in enumerate(values)]
    return _concatenated(c, values)


def _concatenated(c: OpCall, values: list[Value]) -> Value:
    """ConcatV2 of ``values`` (one dtype and rank) along argument ``axis``, the static sizes known kept."""
    shapes = [c.ctx.shape(v) for v in values]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes) or len({v.dtype for v in values}) != 1:
        raise c.gap("tensors of different ranks or dtypes")
    axis = _axis(c, c.value("axis", 0), rank)
    out = list(shapes[0])
    sizes = [s[axis] for s in shapes]
    out[axis] = None if None in sizes else sum(sizes)
    for d in range(rank):
        if d != axis and out[d] is None:
            out[d] = next((s[d] for s in shapes if s[d] is not None), None)
    return c.ctx.op("ConcatV2", [*values, c.ctx.ints(axis, "axis")], {"N": len(values), "Tidx": DType.INT32},
                    shape=tuple(out))


def _constant_like(c: OpCall, value: Any, like: Value, index: int) -> Value:
    """A constant list item as a Const of ``like``'s dtype (a float for integer tensors, or a nested tensor, is a
    gap). Keras 3 saves a tensor or array item (``ops.zeros((1,), "int32")``, ``np.array(..)``) as a ``__tensor__``
    or ``__numpy__`` dict: taken where its dtype is the tensors' (Keras promotes mixed ones: a gap)."""
    if isinstance(value, dict) and value.get("class_name") in ("__tensor__", "__numpy__"):
        config = value.get("config") or {}
        if config.get("dtype") == "int64" and like.dtype in (DType.INT32, DType.INT64):
            return _saved_int64(c, config.get("value"), index)
        return c._saved_constant(f"values[{index}]", value, like)
    if _holds_tensor(value) or isinstance(value, dict):
        raise c.gap(f"item {index} of 'values' is neither a tensor nor a constant")
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or array.dtype.kind == "f" and like.dtype.numpy.kind != "f":
        raise c.gap(f"item {index} of 'values' ({array.dtype} constant) for {like.dtype.value} tensors")
    return c.ctx.const(array.astype(like.dtype.numpy), f"values_{index}")


def _saved_int64(c: OpCall, value: Any, index: int) -> Value:
    """A saved int64 item (``np.array([3, 4])``) among integer tensors: Keras 3 concatenates them as int64; exact as
    the int32 TF.js holds where every value fits int32, else a gap."""
    try:
        array = np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise c.gap(f"item {index} of 'values' is a saved int64 constant that is not an int64 array") from None
    if array.size and not (array.min() >= -2**31 and array.max() < 2**31):
        raise c.gap(f"item {index} of 'values' holds int64 values past int32's range")
    return held_int64(c.ctx, c.ctx.const(array.astype(np.int32), f"values_{index}"), f"values_{index}_int64")


def _stack(c: OpCall) -> Value:
    items = c.arguments.get("values")
    if isinstance(items, TensorArg) and c.value("axis", 0) == 0:  # ``tf.stack(x)``: TF's convert_to_tensor(x), x
        return c.tensor("values")  # itself (the mask tf_keras set on it rides on: call_facts.returns_input_itself)
    if isinstance(items, list) and any(isinstance(v, TensorArg) for v in items) and \
            not all(isinstance(v, TensorArg) for v in items):  # ``tf.stack([1, tf.shape(x)[1], 1])``
        return _stacked(c, "values", c.value("axis", 0))
    values = c.tensors("values")
    shape = list(c.ctx.shape(values[0]))
    axis = _axis(c, c.value("axis", 0), len(shape) + 1)
    shape.insert(axis, len(values))
    return c.ctx.op("Pack", values, {"N": len(values), "axis": axis}, shape=tuple(shape))


def _expand_dims(c: OpCall) -> Value:
    x = c.tensor("x")
    return c.ctx.expand_dims(x, _axis(c, c.value("axis"), len(c.ctx.shape(x)) + 1), "expand")


def _squeeze(c: OpCall) -> Value:
    if c.has("squeeze_dims"):  # TF 1's name of the axes (TF raises when both are given)
        c.arguments["axis"] = c.arguments.pop("squeeze_dims")
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    axes = _ints(c, "axis", None)
    if axes is None:
        if None in shape:  # which axes go is known only at run time: TF's and TF.js's Squeeze without axes drop
            return c.ctx.op("Squeeze", [x], {"squeeze_dims": []}, shape=None)  # every size-1 axis alike (rank unknown)
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = sorted(_axis(c, a, len(shape)) for a in axes)
    if any(shape[a] not in (1, None) for a in axes):
        raise c.gap(f"squeeze of axes {axes} of shape {list(shape)}")
    return c.ctx.op("Squeeze", [x], {"squeeze_dims": axes},
                    shape=tuple(d for i, d in enumerate(shape) if i not in axes))


def _reduce(op: str, key: str = "axis", keep_key: str = "keepdims", *,
            operand: Callable[[OpCall, Value], Value] | None = None,
            dtype: DType | None = None) -> Callable[[OpCall], Value]:
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        x = operand(c, x) if operand is not None else x
        shape = c.ctx.shape(x)
        axes = _ints(c, key, None)
        axes = list(range(len(shape))) if axes is None else sorted({_axis(c, a, len(shape)) for a in axes})
        keep = bool(c.value(keep_key, False))
        initial = c.value("initial", None)
        bound = _initial_bound(c, op, x, initial) if initial is not None else None
        if c.value("dtype", None) is not None:  # Keras 3 Max/Min/Prod record it; set, it changes the result
            raise c.gap(f"dtype={c.value('dtype')!r}")
        out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep else \
            tuple(d for i, d in enumerate(shape) if i not in axes)
        reduced = c.ctx.op(op, [x, c.ctx.ints(axes, "axes")], {"keep_dims": keep, "Tidx": DType.INT32}, shape=out,
                           dtype=dtype)
        if bound is None:
            return reduced
        return c.ctx.binary("Maximum" if op == "Max" else "Minimum", reduced, bound, label="with_initial")
    return lower


def _initial_bound(c: OpCall, op: str, x: Value, initial: Any) -> Value:
    """Keras 3 ``max``/``min`` with ``initial``: its TensorFlow backend's ``maximum``/``minimum`` of the reduction
    and ``initial`` (a number of ``x``'s kind: float32, or a whole number for int32); otherwise a gap."""
    number = isinstance(initial, (int, float)) and not isinstance(initial, bool)
    if op not in ("Max", "Min") or not number or x.dtype not in (DType.FLOAT32, DType.INT32) or \
            x.dtype == DType.INT32 and (not isinstance(initial, int) or not -2**31 <= initial < 2**31):
        raise c.gap(f"initial={initial!r} on a {x.dtype.value} tensor")
    return c.ctx.const(np.asarray(initial, x.dtype.numpy), "initial")


def _keras_sum(c: OpCall) -> Value:
    """Keras 3 ``sum``: of uint8/uint16 Keras sums in uint32 (jax's rule), which TF.js's int32 Sum gives exactly while
    the sum stays small: lowered where the reduced count (known in the config) times the dtype's max is below 2^24,
    so that every later float32 path holds it exactly too; its result is untracked (uint32 arithmetic after it, which
    wraps otherwise than int32, is refused by the walk)."""
    unsigned = next((d for d in c.ctx.keras_dtypes if is_narrow(d) and d.numpy.kind == "u"), None)
    if unsigned is not None:
        shape = c.ctx.shape(c.tensor("x"))
        axes = _ints(c, "axis", None)
        axes = list(range(len(shape))) if axes is None else sorted({_axis(c, a, len(shape)) for a in axes})
        sizes = [shape[a] for a in axes]
        if None in sizes or int(np.prod(sizes)) * int(np.iinfo(unsigned.numpy).max) >= _UINT_SUM_LIMIT:
            raise c.gap(f"a uint32 sum of {unsigned.numpy} integers over axes of sizes {sizes} (lowered where the "
                        "count is known and the sum stays below 2^24)")
        c.ctx.output_keras_dtype = UNTRACKED
    return _reduce("Sum")(c)


#: :func:`_keras_sum` of uint8/uint16 is lowered when its largest possible sum is below this.
_UINT_SUM_LIMIT = 1 << 24


def _reduce_mean(c: OpCall) -> Value:
    """``tf.math.reduce_mean``: of int32 tensors TF gives the exact mean truncated toward zero (its sum does not wrap);
    TF.js's Mean of int32 divides a float sum. Lowered exactly (counts below 2^14): each value split into 16-bit
    halves ``h · 2^16 + l``, ``Σh = qh·n + rh`` (exact floor division), then ``mean = qh · 2^16 + floor((rh · 2^16 +
    Σl) / n)``, every sum within int32, plus one where the sum is negative and not a multiple of ``n``. Larger counts
    and counts known only at run time (the batch among the axes): from the sums of the values' bytes
    (:func:`.integer_means.byte_mean`, up to 4 202 512 values; a larger run-time count fails in TF.js)."""
    x = c.tensor("x")
    if x.dtype == DType.FLOAT32:
        return _reduce("Mean")(c)
    if x.dtype != DType.INT32:
        raise c.gap(f"a mean of {x.dtype.value} integers (TF sums them in that dtype, wrapping)")
    shape = c.ctx.shape(x)
    axes = _ints(c, "axis", None)
    axes = list(range(len(shape))) if axes is None else sorted({_axis(c, a, len(shape)) for a in axes})
    sizes = [shape[a] for a in axes]
    if None in sizes or not 0 < int(np.prod(sizes)) < EXACT_MEAN_COUNT_LIMIT:
        return _byte_mean(c, x, axes)
    ctx, n = c.ctx, int(np.prod(sizes))
    high, low = int32_halves(ctx.graph, x, f"{ctx.name}/halves")
    summed = [_reduce("Sum", operand=lambda _c, _x, v=v: v)(c) for v in (high, low)]
    return truncated_mean(ctx.graph, summed[0], summed[1], n, ctx.name)




def _byte_mean(c: OpCall, x: Value, axes: list[int]) -> Value:
    """:func:`_reduce_mean` of int32 over a count of 2^14 values or more, or known only at run time: TF's exact
    truncated mean from byte sums (:func:`.integer_means.byte_mean`, which refuses a known count of 0 or past its
    limit by name), its shape as :func:`_reduce` gives it."""
    from .integer_means import byte_mean

    shape, keep = c.ctx.shape(x), bool(c.value("keepdims", False))
    out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    return byte_mean(c.ctx, x, axes, keep, out)


def _as_bool(c: OpCall, x: Value, label: str) -> Value:
    """``x`` as bool: Keras 3's logical ops and ``any``/``all`` cast their operands first (``tf.cast``: non-zero is
    True, NaN too: ``x != 0``); tf_keras's ``tf.math.logical_*``/``reduce_any`` take bool tensors only (TF raises
    otherwise)."""
    if x.dtype == DType.BOOL:
        return x
    if not c.ctx.class_name.startswith(KERAS_OP_PREFIX):
        raise c.gap(f"a {x.dtype.value} operand (TF takes bool tensors only)")
    return _not_zero(c, x, label)


def _not_zero(c: OpCall, x: Value, label: str) -> Value:
    """``x != 0``: TF's cast of a number to bool (NaN is True), without wasm's Cast to bool (wrong on floats)."""
    zero = c.ctx.const(np.zeros((), x.dtype.numpy), f"{label}_zero")
    return c.ctx.op("NotEqual", [x, zero], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=x.shape,
                    label=f"{label}_bool")


def _logical(op: str) -> Callable[[OpCall], Value]:
    """``logical_and``/``logical_or``/``logical_xor`` of two tensors (or a tensor and a constant), as bool."""
    def lower(c: OpCall) -> Value:
        x, y = c.pair("x", "y")
        x, y = _as_bool(c, x, "x"), _as_bool(c, y, "y")
        if op != "LogicalXor":
            return c.ctx.op(op, [x, y], dtype=DType.BOOL, shape=_broadcast(x, y), label=op)
        either = c.ctx.op("LogicalOr", [x, y], dtype=DType.BOOL, shape=_broadcast(x, y), label="either")
        both = c.ctx.op("LogicalAnd", [x, y], dtype=DType.BOOL, shape=either.shape, label="both")
        not_both = c.ctx.op("LogicalNot", [both], dtype=DType.BOOL, shape=both.shape, label="not_both")
        return c.ctx.op("LogicalAnd", [either, not_both], dtype=DType.BOOL, shape=both.shape, label="xor")
    return lower


def _broadcast(x: Value, y: Value) -> Any:
    from .context import broadcast_shape

    return broadcast_shape(x.shape, y.shape)


def _logical_not(c: OpCall) -> Value:
    x = _as_bool(c, c.tensor("x"), "x")
    return c.ctx.op("LogicalNot", [x], dtype=DType.BOOL, shape=x.shape, label="LogicalNot")


def _bool_reduce(op: str) -> Callable[[OpCall], Value]:
    """``any``/``all`` (``reduce_any``/``reduce_all``) over the operand cast to bool, as Keras computes them."""
    return _reduce(op, operand=lambda c, x: _as_bool(c, x, "x"), dtype=DType.BOOL)


def _cast(c: OpCall) -> Value:
    x = c.tensor("x")
    try:
        dtype = DType.from_any(str(c.value("dtype")))
    except TypeError:
        raise c.gap(f"dtype {c.value('dtype')!r}") from None
    exact = True
    if x.dtype in HELD_FLOATS:
        folded = _folded_cast(c, x, dtype)
        if folded is not None:
            return folded
        exact = id(x) in _EXACTLY_HELD.get(c.ctx.graph, {})
        from .op_layers_tf_gaps import pair_cast

        truncated = None if exact else pair_cast(c, x, dtype)  # integers held as a pair, to int32/bool: exact
        if truncated is not None:
            return truncated
        x = _held_float_values(c, x, dtype)
    if dtype in HELD_FLOATS:
        return _held_float_cast(c, x, dtype, exact)
    if dtype == DType.COMPLEX64:  # held as (real, imag) parts: only a few op layers read it (.op_layers_complex)
        from .op_layers_complex import as_complex

        return as_complex(c, x)
    if is_narrow(dtype):
        return _narrowing_cast(c, x, dtype)
    if dtype == DType.INT64:
        return _int64_cast(c, x)
    if dtype not in (DType.FLOAT32, DType.INT32, DType.BOOL):
        raise c.gap(f"a cast to {dtype.value}")
    if dtype == x.dtype:
        return c.ctx.unary("Identity", x)
    if dtype == DType.BOOL:  # TF's cast to bool is x != 0 (NaN too); wasm's Cast of floats to bool is wrong
        return _not_zero(c, x, "x")
    if x.dtype == DType.FLOAT32 and dtype == DType.INT32:
        from .integer_layer_dtypes import warn_truncation

        warn_truncation(c.ctx, f"layer {c.ctx.name!r} (cast to int32)", x)
        return float_to_int32(c.ctx, x)
    return c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, dtype=dtype, shape=x.shape)


def _folded_cast(c: OpCall, x: Value, dtype: DType) -> Value | None:
    """A cast to int32 or bool of float64/float16 values the graph fixes when it is built (``tf.cast(c / 5,
    tf.int32)`` of a size the config gives): TF's result, a constant; None for any other (TF.js holds such values only
    approximately)."""
    from .known_values import known_array

    array = None if dtype not in (DType.INT32, DType.BOOL) else known_array(x)
    if array is None or not np.all(np.isfinite(array)):
        return None
    if dtype == DType.BOOL:
        return c.ctx.const(array != 0, "folded_bool")
    truncated = np.trunc(array)
    if np.any(truncated < -2**31) or np.any(truncated >= 2**31):  # TF's cast is undefined there
        return None
    return c.ctx.ints(truncated.astype(np.int32), "folded_int32")


#: Float dtypes TF.js lacks: a Keras tensor of one is held as float32 (:func:`_held_float_cast`), and only casts of
#: it, ``shape`` and float64 ``+ - · / sqrt neg abs`` (on pairs of float32, :func:`_float64_step`) are lowered;
#: other float64 arithmetic, which would round otherwise, is a gap. float16 ones: an op layer reading them alone
#: computes in float16, each op rounded (:func:`.float_widths.held_half_inputs`; Keras 3 beside float32: float32).
HELD_FLOATS = (DType.FLOAT64, DType.FLOAT16)
#: Per graph, the float64/float16 Values whose float32 values are exactly Keras's (a float32 or bool tensor cast up);
#: the float64 ones computed from integers or by arithmetic are pairs of float32 (``op_layers_tf_gaps._PAIRS``).
_EXACTLY_HELD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: The op layers that read a float64/float16 tensor: casts (:func:`_cast`) and ``shape`` (its sizes); float64
#: arithmetic too (:func:`_float64_step`).
_HELD_FLOAT_READERS = frozenset({"cast", "dtypes.cast", "Cast", "shape", "compat.v1.shape"})


def _held_float_cast(c: OpCall, x: Value, dtype: DType, exact: bool = True) -> Value:
    """A cast to float64 or float16, which TF.js lacks: a Value of that dtype that TF.js holds as float32 (its Cast
    reads both as float32). To float64: float32 and bool values as they are (exactly Keras's), integers as exact
    pairs of float32 (:func:`.op_layers_tf_gaps.integer_float64_cast`). To float16: float32 values (integers and
    bools through float32) rounded to float16 as TF's cast rounds (:func:`_float16_rounded`), exactly. Only casts
    (and float64 arithmetic, :func:`_float64_step`) read the result (:func:`lower_op_layer`). ``exact``: whether ``x``'s values are Keras's (not a float64 one held rounded)."""
    exact = exact and x.dtype in (DType.FLOAT32, DType.BOOL)
    if dtype == DType.FLOAT16:
        if x.dtype in (DType.INT32, DType.INT64, DType.BOOL):  # float32 holds them exactly up to 2^24, and from
            exact = True  # 65520 on both give Inf: rounding them through float32 is TF's one rounding
            x = c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": DType.FLOAT32, "Truncate": False},
                         dtype=DType.FLOAT32, shape=x.shape, label="as_float32")
        if x.dtype != DType.FLOAT32:
            raise c.gap(f"a cast of a {x.dtype.value} tensor to float16")
        x = _float16_rounded(c, x)
    elif x.dtype not in (DType.FLOAT32, DType.BOOL, DType.INT32, DType.INT64):
        raise c.gap(f"a cast of a {x.dtype.value} tensor to {dtype.value}")
    elif x.dtype in (DType.INT32, DType.INT64):  # exact in float64: an exact pair of float32
        from .op_layers_tf_gaps import integer_float64_cast

        return integer_float64_cast(c, x)
    out = c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, dtype=dtype, shape=x.shape,
                   label=f"to_{dtype.numpy}")
    if exact:
        _EXACTLY_HELD.setdefault(c.ctx.graph, {})[id(out)] = out
        if dtype == DType.FLOAT64:
            _known_widened(x, out)
    return out


def _known_widened(x: Value, out: Value) -> None:
    """A float64 cast of float32 values the graph fixes when it is built (``tf.cast(tf.cast(c, tf.float32) * 0.1,
    tf.float64)``): their float64 values remembered, so float64 steps and int32 casts after it fold to TF's
    (:func:`.known_values.known_array` evaluates no held float itself)."""
    from .known_values import known_array, remember_exact

    known = known_array(x)
    if known is not None:
        remember_exact(out, np.asarray(known, np.float32).astype(np.float64))


def _held_float_values(c: OpCall, x: Value, dtype: DType) -> Value:
    """The float32 values TF.js holds for a float64/float16 tensor ``x``, for a cast of it to ``dtype``: to a float
    dtype any (float32 rounds Keras's float64 value: the held one, rounded the same up to float32's last place where
    Keras's was not a float32 already), to integers and bools only values held exactly (truncating a rounded
    quotient could cross an integer)."""
    exact = id(x) in _EXACTLY_HELD.get(c.ctx.graph, {})
    if dtype not in (DType.FLOAT32, *HELD_FLOATS) and not exact:
        raise c.gap(f"a cast to {dtype.value} of {x.dtype.value} values TF.js holds only approximately (as float32, "
                    "or float64 as a pair of float32: Keras truncates or compares its own values, which may lie on the "
                    "other side of an integer)")
    if dtype == DType.FLOAT16 and x.dtype == DType.FLOAT64 and not exact:
        raise c.gap("a cast to float16 of float64 values TF.js holds only approximately (rounding twice)")
    return c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32,
                    shape=x.shape, label="held_float32")


def _float16_rounded(c: OpCall, x: Value) -> Value:
    """float32 ``x`` rounded to the nearest float16 (ties to even; from 65520 on ±Inf; NaN kept), in float32: each
    value's float16 spacing ``q`` (2^-24 below 2^-14, else 2^(e - 10) for ``2^e <= |x|``, picked from a table by
    counting the powers of two ``|x|`` reaches), then ``(x + 1.5·2^23·q) - 1.5·2^23·q``, whose float32 sum rounds to
    a multiple of ``q`` to even (exact in float32: the sum is computed exactly before its one rounding); a zero
    result keeps ``x``'s sign (``x · 0``)."""
    ctx = c.ctx
    magnitude = ctx.unary("Abs", x, label="f16_magnitude")
    powers = ctx.floats([2.0**k for k in range(-14, 16)], "f16_powers")
    reached = ctx.op("GreaterEqual", [ctx.expand_dims(magnitude, len(ctx.shape(x)), "f16_each"), powers],
                     dtype=DType.BOOL, shape=(*x.shape, 30), label="f16_reached")
    count = ctx.op("Sum", [ctx.exact_cast(reached, DType.INT32, "f16_reached_int"), ctx.ints(-1, "f16_count_axis")],
                   {"keep_dims": False, "Tidx": DType.INT32}, dtype=DType.INT32, shape=x.shape, label="f16_count")
    spacings = ctx.floats([2.0**-24] + [2.0**(k - 10) for k in range(-14, 16)], "f16_spacings")
    spacing = ctx.op("GatherV2", [spacings, count, ctx.ints(0, "f16_gather_axis")],
                     {"Tparams": DType.FLOAT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                     dtype=DType.FLOAT32, shape=x.shape, label="f16_spacing")
    shift = ctx.scalar_op("Mul", spacing, 1.5 * 2.0**23, "f16_shift")
    rounded = ctx.binary("Sub", ctx.binary("AddV2", x, shift, label="f16_shifted"), shift, label="f16_rounded")
    overflow = ctx.op("Greater", [ctx.unary("Abs", rounded, label="f16_rounded_magnitude"),
                                  ctx.floats(65504.0, "f16_max")], dtype=DType.BOOL, shape=x.shape,
                      label="f16_overflow")
    infinite = ctx.scalar_op("Mul", x, float("inf"), "f16_infinity")
    rounded = _select(c, overflow, infinite, rounded, "f16_saturated")
    zero = ctx.op("Equal", [rounded, ctx.floats(0.0, "f16_zero")], {"incompatible_shape_error": True},
                  dtype=DType.BOOL, shape=x.shape, label="f16_is_zero")
    return _select(c, zero, ctx.scalar_op("Mul", x, 0.0, "f16_signed_zero"), rounded, "f16_value")


def float_to_int32(ctx: LayerContext, x: Value, label: str = "Cast") -> Value:
    """TF's cast of float32 ``x`` to int32: truncated toward zero, and INT_MIN for NaN, infinities and magnitudes of
    2^31 or more (TF's CPU kernel, in tensors of any size), where TF.js's Cast gives 0 or wraps."""
    cast = ctx.exact_cast(x, DType.INT32, label)  # guarded by the SelectV2 below
    magnitude = ctx.unary("Abs", x, label=f"{label}_magnitude")
    in_range = ctx.op("Less", [magnitude, ctx.floats(_INT32_LIMIT, f"{label}_int32_limit")], dtype=DType.BOOL,
                      shape=x.shape, label=f"{label}_in_int32_range")  # NaN compares False
    return ctx.op("SelectV2", [in_range, cast, ctx.ints(-2**31, f"{label}_int32_min")], {"T": DType.INT32},
                  dtype=DType.INT32, shape=x.shape, label=f"{label}_truncated")


#: The float32 magnitude from which TF's CPU cast of a float to int32 gives INT_MIN.
_INT32_LIMIT = float(2**31)


def _int64_cast(c: OpCall, x: Value) -> Value:
    """A cast to int64 (``tf.cast(x, tf.int64)``, ``compat.v1.to_int64``), an int64 Value as a model input's is
    (TF.js holds both as int32; later layers treat it as they treat int64 ids). Of int32 and bools exact; of float32
    TF's CPU cast (truncated toward zero; NaN and magnitudes of 2^63 or more give INT64_MIN), exact within int32's
    range and beyond it the int64's low 32 bits (:func:`float_to_int64_low_bits`), the wrap-around every int64 value
    past int32's range takes in TF.js: named in a warning unless only an Embedding's lookup reads the result or the
    floats are small whole numbers (:func:`_int64_cast_noted`); computed floats are named for their truncation."""
    if x.dtype == DType.INT64:
        return c.ctx.unary("Identity", x)
    noted = x.dtype == DType.FLOAT32 and _int64_cast_noted(x)
    if x.dtype == DType.FLOAT32:
        from .integer_layer_dtypes import warn_truncation

        warn_truncation(c.ctx, f"layer {c.ctx.name!r} (cast to int64)", x)  # as a cast to int32 is
        x = float_to_int64_low_bits(c.ctx, x)
    if x.dtype not in (DType.INT32, DType.BOOL):
        raise c.gap(f"a cast of a {x.dtype.value} tensor to int64")
    out = c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": DType.INT64, "Truncate": False}, dtype=DType.INT64,
                   shape=x.shape, label="to_int64")
    if noted:
        from .integer_layer_dtypes import defer_int64_cast_note

        defer_int64_cast_note(c.ctx, out, f"layer {c.ctx.name!r} casts floats to int64")
    return out


def _int64_cast_noted(x: Value) -> bool:
    """Whether a cast of float32 ``x`` to int64 may reach 2^31 (then named, unless an Embedding alone reads it:
    :func:`.integer_layer_dtypes.defer_int64_cast_note`): not for whole numbers below 2^24 counted from bools
    (:func:`.integer_layer_dtypes.whole_number_bound`)."""
    from .integer_layer_dtypes import whole_number_bound

    return whole_number_bound(x) is None


def float_to_int64_low_bits(ctx: LayerContext, x: Value, label: str = "int64") -> Value:
    """The low 32 bits (as int32) of TF's float32-to-int64 cast: :func:`float_to_int32` below 2^31 in magnitude;
    from 2^31 to 2^63, where every float32 is a whole number, ``x - floor(x / 2^32)·2^32`` (exact in float32) moved
    into int32's range; 0 (INT64_MIN's low bits) for NaN and from 2^63 on."""
    def select(condition: Value, a: Value, b: Value, name: str) -> Value:
        return ctx.op("SelectV2", [condition, a, b], {"T": a.dtype}, dtype=a.dtype, shape=x.shape,
                      label=f"{label}_{name}")

    truncated = float_to_int32(ctx, x, f"{label}_small")
    turns = ctx.unary("Floor", ctx.scalar_op("Mul", x, 2.0**-32, f"{label}_turns"), label=f"{label}_whole_turns")
    low = ctx.binary("Sub", x, ctx.scalar_op("Mul", turns, 2.0**32, f"{label}_turned"), label=f"{label}_low_bits")
    high = ctx.op("GreaterEqual", [low, ctx.floats(2.0**31, f"{label}_sign_bit")], dtype=DType.BOOL, shape=x.shape,
                  label=f"{label}_sign_bit_set")
    signed = select(high, ctx.scalar_op("Sub", low, 2.0**32, f"{label}_wrapped"), low, "signed_low_bits")
    magnitude = ctx.unary("Abs", x, label=f"{label}_magnitude")
    small = ctx.op("Less", [magnitude, ctx.floats(_INT32_LIMIT, f"{label}_int32_limit")], dtype=DType.BOOL,
                   shape=x.shape, label=f"{label}_within_int32")  # NaN compares False
    within = ctx.op("Less", [magnitude, ctx.floats(2.0**63, f"{label}_int64_limit")], dtype=DType.BOOL, shape=x.shape,
                    label=f"{label}_within_int64")
    large = select(within, signed, ctx.floats(0.0, f"{label}_int64_min_low_bits"), "low_bits_or_zero")
    as_int = ctx.exact_cast(select(small, ctx.floats(0.0, f"{label}_small_placeholder"), large, "large_part"),
                            DType.INT32, f"{label}_large_int32")
    return select(small, truncated, as_int, "low_bits")


def _narrowing_cast(c: OpCall, x: Value, dtype: DType) -> Value:
    """A cast of integers or bools to an 8/16-bit integer, as TF gives it: wrapped around into ``dtype``'s range;
    computed in int32 (TF.js's integers) and tracked as ``dtype`` by the walk (``output_keras_dtype``). A cast of
    floats is refused: TF's CPU kernel wraps the values outside ``dtype``'s range in small tensors but saturates them
    in large ones (its vectorized path), so no lowering matches it."""
    tracked = next((d for v, d in zip(c.ctx.inputs, c.ctx.keras_dtypes) if v is x), None)
    if x.dtype == DType.FLOAT32 and isinstance(tracked, DType):  # integers the walk holds as float32 (exactly)
        x = c.ctx.exact_cast(x, DType.INT32, "integers")
    if x.dtype == DType.FLOAT32:
        raise c.gap(f"a cast of float32 to {dtype.numpy} (TensorFlow's result for values outside {dtype.numpy}'s range "
                    "depends on the tensor's size)")
    if x.dtype not in (DType.INT32, DType.BOOL, *NARROW_INTS):
        raise c.gap(f"a cast of a {x.dtype.value} tensor to {dtype.value}")
    as_int = c.ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32,
                      shape=x.shape, label="to_int32") if x.dtype != DType.INT32 else x
    c.ctx.output_keras_dtype = dtype
    return wrapped(c.ctx.graph, as_int, dtype, f"{c.ctx.name}/wrap")


def _matmul(c: OpCall, ta: str | None = None, tb: str | None = None,
            operands: tuple[Value, Value] | None = None) -> Value:
    a, b = operands or c.pair("a", "b")
    flip_a = bool(c.value(ta, False)) if ta else False
    flip_b = bool(c.value(tb, False)) if tb else False
    if a.dtype in (DType.FLOAT32, DType.INT32) and ta and tb:  # real tensors: the adjoint is the transpose
        flip_a = flip_a or bool(c.value("adjoint_a", False))
        flip_b = flip_b or bool(c.value("adjoint_b", False))
        c.arguments.pop("adjoint_a", None), c.arguments.pop("adjoint_b", None)
    for flag in ("adjoint_a", "adjoint_b", "a_is_sparse", "b_is_sparse", "output_type"):
        if c.value(flag, None):
            raise c.gap(f"{flag}={c.value(flag)!r}")
    sa, sb = c.ctx.shape(a), c.ctx.shape(b)
    if len(sa) < 2 or len(sb) < 2:
        raise c.gap(f"matmul of ranks {len(sa)} and {len(sb)}")
    m = sa[-1] if flip_a else sa[-2]
    n = sb[-2] if flip_b else sb[-1]
    if len(sa) == len(sb) == 2:
        return c.ctx.op("MatMul", [a, b], {"transpose_a": flip_a, "transpose_b": flip_b}, shape=(m, n))
    from .context import broadcast_shape

    outer = broadcast_shape(sa[:-2], sb[:-2])
    return c.ctx.op("BatchMatMulV2", [a, b], {"adj_x": flip_a, "adj_y": flip_b},
                    shape=None if outer is None else (*outer, m, n))


def _keras3_matmul(c: OpCall) -> Value:
    """Keras 3's ``matmul``: its TensorFlow backend multiplies integers in float32 (``result_type(.., float)``) and
    casts the product back to their dtype (as TF casts float32 to int32, :func:`float_to_int32`), where tf_keras's
    ``tf.matmul`` multiplies int32 as int32."""
    a, b = c.pair("a", "b")
    if a.dtype != DType.INT32 and b.dtype != DType.INT32:
        return _matmul(c)
    if a.dtype != b.dtype:
        raise c.gap(f"operands of dtypes {a.dtype.value} and {b.dtype.value}")
    floats = tuple(c.ctx.op("Cast", [v], {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False},
                            dtype=DType.FLOAT32, shape=v.shape, label=f"{name}_float") for name, v in (("a", a), ("b", b)))
    return float_to_int32(c.ctx, _matmul(c, operands=floats), "product_int32")


def _shape(c: OpCall) -> Value:
    """``tf.shape(x, out_type)``: int32, or int64 (a shape is below 2^31: exact as the int32 TF.js holds it)."""
    x = c.tensor("x")
    dtype = DType.from_any(str(c.value("out_type", "int32")))
    if dtype not in (DType.INT32, DType.INT64):
        raise c.gap(f"out_type={dtype.value}")
    shape = c.ctx.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(len(c.ctx.shape(x)),))
    return shape if dtype == DType.INT32 else held_int64(c.ctx, shape)


def held_int64(ctx: LayerContext, x: Value, label: str = "to_int64") -> Value:
    """An int32 result (a shape, a size, a quotient of int64 values) as the int64 Value Keras gives: a Cast, which
    TF.js keeps as int32 (a count is below 2^31: exact), so later ops and the signature see the traced graph's
    int64."""
    return ctx.op("Cast", [x], {"SrcT": DType.INT32, "DstT": DType.INT64, "Truncate": False}, dtype=DType.INT64,
                  shape=x.shape, label=label)


def _resize(c: OpCall, method_key: str, nearest_half_pixel: bool) -> Value:
    """``tf.image.resize``/Keras 3 ``image.resize``: bilinear or nearest with half-pixel centres. tf_keras's size may
    hold tensors (``tf.shape(skip)[1:3]``, read at run time: :func:`_size_vector`)."""
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    if len(shape) == 3:  # one image: resized as a batch of one, as TensorFlow's backend does
        from .op_layers_k3_gaps import one_image_resize

        return one_image_resize(c, lambda given: _resize(given, method_key, nearest_half_pixel))
    sizes: Value | None = _size_vector(c, "size") if _holds_tensor(c.arguments.get("size")) else None
    size = _ints(c, "size") if sizes is None else _known_entries(sizes) or []
    method = c.value(method_key, "bilinear")
    if len(shape) != 4 or len(size) != 2 or method not in ("bilinear", "nearest"):
        raise c.gap(f"a {method!r} resize of a rank-{len(shape)} tensor to {size}")
    if "antialias" in c.arguments and c.value("antialias", False):
        raise c.gap("antialias=True")
    if "preserve_aspect_ratio" in c.arguments and c.value("preserve_aspect_ratio", False):
        from .op_layers_image import aspect_preserving_size  # imports this module: read at call time

        if sizes is not None:
            raise c.gap("preserve_aspect_ratio=True with a size read at run time")
        aspect = aspect_preserving_size(c, x, (size[0], size[1]))  # TF's float32 arithmetic, at run time if need be
        if isinstance(aspect, tuple):
            size = list(aspect)
        else:
            sizes, size = aspect, [None, None]
    channels_first = c.value("data_format", "channels_last") == "channels_first"
    if c.value("data_format", "channels_last") not in ("channels_last", "channels_first", None):
        raise c.gap(f"data_format={c.value('data_format')!r}")
    if c.ctx.class_name.startswith(KERAS_OP_PREFIX) and x.dtype != DType.FLOAT32:
        raise c.gap(f"a resize of {x.dtype.value} images (Keras 3 rounds the result back to their dtype)")
    if any(d is not None and d < 0 for d in size):
        raise c.gap(f"size {size} (TensorFlow raises)")
    if channels_first:  # Keras 3's backend: transposed to channels_last, resized, transposed back
        y = _keras3_aspect_resize(c, c.ctx.transpose(x, [0, 2, 3, 1], "to_channels_last"), size, sizes, method)
        return c.ctx.transpose(y, [0, 3, 1, 2], "to_channels_first")
    if c.value("crop_to_aspect_ratio", False) or c.value("pad_to_aspect_ratio", False):
        return _keras3_aspect_resize(c, x, size, sizes, method)
    op = "ResizeBilinear" if method == "bilinear" else "ResizeNearestNeighbor"
    half = True if method == "bilinear" else nearest_half_pixel
    y = c.ctx.op(op, [x, c.ctx.ints(size, "size") if sizes is None else sizes],
                 {"align_corners": False, "half_pixel_centers": half}, shape=(shape[0], size[0], size[1], shape[3]))
    if method != "bilinear" or sizes is not None or x.dtype != DType.FLOAT32:
        return y
    # TF's kernel copies an image already of the target size; TF.js's bilinear one computes top + (bottom - top)·0,
    # NaN beside an Inf
    if tuple(shape[1:3]) == tuple(size):
        return x
    if None in shape[1:3] and all(s in (None, t) for s, t in zip(shape[1:3], size)):
        from .runtime_crop import runtime_unresized

        return runtime_unresized(c.ctx, x, (size[0], size[1]), y)
    return y


def _keras3_aspect_resize(c: OpCall, x: Value, size: list, sizes: Value | None, method: str) -> Value:
    """Keras 3's ``image.resize`` of channels_last images with ``crop_to_aspect_ratio`` or ``pad_to_aspect_ratio``:
    its TensorFlow backend crops or pads with the Resizing layer's arithmetic (shared: :func:`.preprocessing.aspect_crop`,
    :func:`.preprocessing.aspect_pad`, at run time over unknown sizes), then resizes with half-pixel centres. An image
    already of the target size is left as it is, as ``tf.image.resize`` leaves it (TF.js's same-size bilinear resize
    would spread NaN beside an Inf)."""
    from .preprocessing import aspect_crop, aspect_pad, resized_as_keras  # preprocessing imports this module's peers

    crop, pad = bool(c.value("crop_to_aspect_ratio", False)), bool(c.value("pad_to_aspect_ratio", False))
    if crop and pad:
        raise c.gap("crop_to_aspect_ratio and pad_to_aspect_ratio (Keras raises)")
    if c.value("fill_mode", "constant") != "constant":
        raise c.gap(f"fill_mode={c.value('fill_mode')!r} (Keras raises)")
    if sizes is not None or not all(isinstance(d, int) and 0 < d < 2 ** 31 for d in size):
        raise c.gap(f"a Keras 3 resize to {size} (crop/pad to the aspect ratio, or channels_first)")
    target = (int(size[0]), int(size[1]))
    if crop:
        x = aspect_crop(c.ctx, x, target)
    elif pad:
        fill = c.value("fill_value", 0.0)
        if isinstance(fill, bool) or not isinstance(fill, (int, float)):
            raise c.gap(f"fill_value={fill!r}")
        x = aspect_pad(c.ctx, x, target, float(np.float32(fill)))
    return resized_as_keras(c.ctx, x, target, method)


def _tile(c: OpCall, key: str) -> Value:
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    if _holds_tensor(c.arguments.get(key)):  # ``tf.tile(x, tf.stack([1, tf.shape(x)[1], 1]))``: read at run time
        multiples = _size_vector(c, key)
        entries = _known_entries(multiples)
        if entries is None or len(entries) != len(shape) or any(e is not None and e < 0 for e in entries):
            raise c.gap(f"multiples {entries} for a rank-{len(shape)} tensor")
        out = tuple(None if d is None or e is None else d * e for d, e in zip(shape, entries))
        return c.ctx.op("Tile", [x, multiples], {"Tmultiples": DType.INT32}, shape=out)
    multiples = _ints(c, key)
    if len(multiples) != len(shape):
        raise c.gap(f"multiples {multiples} for a rank-{len(shape)} tensor")
    out = tuple(None if d is None else d * m for d, m in zip(shape, multiples))
    return c.ctx.op("Tile", [x, c.ctx.ints(multiples, "multiples")], {"Tmultiples": DType.INT32}, shape=out)


def _bias_add(c: OpCall) -> Value:
    """``tf.nn.bias_add``: BiasAdd over the last axis; with a channels-first ``data_format`` (TF reads any "NC..." as
    NCHW) the bias runs along axis 1 (the last of a rank-2 tensor), ``x + reshape(bias, [C, 1, ...])`` as TF adds."""
    x = c.tensor("x")
    data_format = c.value("data_format", "NHWC")
    bias = c.tensor("bias", like=x)
    if data_format is None or isinstance(data_format, str) and data_format.startswith("N") and \
            data_format.endswith("C"):
        return c.ctx.op("BiasAdd", [x, bias], {"data_format": "NHWC"}, shape=x.shape)
    shape = c.ctx.shape(x)
    if not isinstance(data_format, str) or not data_format.startswith("NC") or len(shape) < 2 or \
            len(c.ctx.shape(bias)) != 1:
        raise c.gap(f"data_format={data_format!r} for a rank-{len(shape)} tensor")
    channels, size = shape[1], c.ctx.shape(bias)[0]
    if channels is not None and size is not None and channels != size:
        raise c.gap(f"a bias of {size} values for {channels} channels (TensorFlow raises)")
    along = c.ctx.reshape(bias, [size, *([1] * (len(shape) - 2))], "bias_along_channels")
    return c.ctx.binary("AddV2", x, along, label="BiasAdd")


# -- axes: swap, move, flip, repeat, cumulate --------------------------------------------------------------
def _swapaxes(c: OpCall) -> Value:
    """``swapaxes(x, axis1, axis2)``: one Transpose (Keras 3's TensorFlow backend builds the same permutation)."""
    x = c.tensor("x")
    rank = len(c.ctx.shape(x))
    first, second = _axis(c, c.value("axis1"), rank), _axis(c, c.value("axis2"), rank)
    perm = list(range(rank))
    perm[first], perm[second] = second, first
    return c.ctx.transpose(x, perm) if first != second else c.ctx.unary("Identity", x)


def _moveaxis(c: OpCall) -> Value:
    """``moveaxis(x, source, destination)``: the permutation Keras 3's TensorFlow backend builds."""
    x = c.tensor("x")
    rank = len(c.ctx.shape(x))
    source = [_axis(c, a, rank) for a in _ints(c, "source")]
    destination = [_axis(c, a, rank) for a in _ints(c, "destination")]
    if len(source) != len(destination) or len(set(source)) != len(source) or \
            len(set(destination)) != len(destination):
        raise c.gap(f"source={source} and destination={destination}")
    perm = [i for i in range(rank) if i not in source]
    for dest, src in sorted(zip(destination, source)):
        perm.insert(dest, src)
    return c.ctx.transpose(x, perm) if perm != list(range(rank)) else c.ctx.unary("Identity", x)


def _matrix_transpose(c: OpCall) -> Value:
    """``tf.linalg.matrix_transpose``: the last two axes swapped."""
    x = c.tensor("x")
    rank = len(c.ctx.shape(x))
    if rank < 2:
        raise c.gap(f"a rank-{rank} tensor")
    if c.value("conjugate", False):
        raise c.gap("conjugate=True")
    return c.ctx.transpose(x, [*range(rank - 2), rank - 1, rank - 2])


def _flip(c: OpCall) -> Value:
    """``flip``/``tf.reverse``: ReverseV2 over the given axes (every axis when none is given)."""
    x = c.tensor("x")
    rank = len(c.ctx.shape(x))
    axes = _ints(c, "axis", None)
    axes = list(range(rank)) if axes is None else [_axis(c, a, rank) for a in axes]
    if len(set(axes)) != len(axes):  # TF's ReverseV2 fails on an axis given twice
        raise c.gap(f"axis={c.value('axis')!r} (an axis given twice)")
    return c.ctx.op("ReverseV2", [x, c.ctx.ints(axes, "axes")], {"Tidx": DType.INT32}, shape=x.shape)


def _repeat(c: OpCall) -> Value:
    """``repeat(x, n, axis)``: each entry ``n`` times in a row along ``axis`` (ExpandDims, Tile, then the axis and
    its copies merged); one count for all entries only, and an axis (without one, Keras flattens the batch too)."""
    from .runtime_fold import merge_axes

    x = c.tensor("x")
    shape = c.ctx.shape(x)
    counts = _ints(c, "repeats")
    if c.value("axis", None) is not None and len(counts) > 1:
        return _repeat_each(c, x, counts, _axis(c, c.value("axis"), len(shape)))
    if len(counts) != 1 or counts[0] < 1 or c.value("axis", None) is None:
        raise c.gap(f"repeats={c.value('repeats')!r} along axis={c.value('axis', None)!r}")
    axis = _axis(c, c.value("axis"), len(shape))
    if (shape[axis] or 1) * counts[0] >= 2**31:
        raise c.gap(f"repeats={counts[0]} of an axis of size {shape[axis]}")
    expanded = c.ctx.expand_dims(x, axis + 1, "copies_axis")
    multiples = [1] * (len(shape) + 1)
    multiples[axis + 1] = counts[0]
    tiled = c.ctx.op("Tile", [expanded, c.ctx.ints(multiples, "multiples")], {"Tmultiples": DType.INT32},
                     shape=tuple(counts[0] if i == axis + 1 else d for i, d in enumerate(c.ctx.shape(expanded))),
                     label="copies")
    return merge_axes(c.ctx, tiled, axis, axis + 2, "repeated")


#: The most entries a ``repeat`` with a count per entry gathers (a larger one is a gap, not a huge Const).
_MAX_REPEATED = 1 << 20


def _repeat_each(c: OpCall, x: Value, counts: list[int], axis: int) -> Value:
    """``repeat(x, [n0, n1, ...], axis)``: entry ``i`` of ``axis`` ``n_i`` times in a row (0 drops it), one GatherV2
    of the constant positions ``[0]·n0 + [1]·n1 + ...``; the axis's size must be known and equal the number of
    counts (TensorFlow raises otherwise)."""
    size = c.ctx.shape(x)[axis]
    total = sum(counts)
    if size != len(counts) or min(counts) < 0 or not 0 < total <= _MAX_REPEATED:
        raise c.gap(f"repeats={counts!r} along axis {axis} of size {size}")
    positions = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    shape = tuple(total if i == axis else d for i, d in enumerate(c.ctx.shape(x)))
    return c.ctx.op("GatherV2", [x, c.ctx.ints(positions, "positions"), c.ctx.ints(axis, "axis")],
                    {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                    dtype=x.dtype, shape=shape, label="repeated")


def _cumulative(op: str) -> Callable[[OpCall], Value]:
    """``cumsum``/``cumprod`` along an axis. Without one, Keras 3 runs over the flattened tensor (batch included);
    TF's ``tf.math.cumsum``/``cumprod`` default to axis 0, the batch. Of 8/16-bit integers, and ``cumprod`` of int32
    along known sizes up to :data:`_MAX_STEPS` (:func:`_stepwise_size`), see :func:`_integer_cumulative`."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        narrow = _narrow_dtype(c)
        if narrow is not None or op == "Cumprod" and x.dtype == DType.INT32 and _stepwise_size(c, x):
            return _integer_cumulative(c, _as_int32(c, x), narrow, op)
        if x.dtype not in (DType.FLOAT32, DType.INT32):
            raise c.gap(f"a {x.dtype.value} tensor")
        if c.value("dtype", None) not in (None, x.dtype.value):
            raise c.gap(f"dtype={c.value('dtype')!r}")
        shape = c.ctx.shape(x)
        axis = c.value("axis", None if c.ctx.class_name.startswith(KERAS_OP_PREFIX) else 0)
        if axis is None:
            x = c.ctx.reshape(x, [None], "flattened")
            axis, shape = 0, (None,)
        axis = _axis(c, axis, len(shape))
        flags = {flag: bool(c.value(flag, False)) for flag in ("exclusive", "reverse")}  # TF's own attributes
        return c.ctx.op(op, [x, c.ctx.ints(axis, "axis")], {**flags, "Tidx": DType.INT32}, shape=shape)
    return lower


def _stepwise_size(c: OpCall, x: Value) -> bool:
    """Whether an int32 ``cumprod`` runs along an axis of known size up to :data:`_MAX_STEPS`, which
    :func:`_integer_cumulative` multiplies step by step, exact on every backend. Along others (unknown in the config,
    the batch, the flattened tensor, longer) TF's own int32 Cumprod, as TF computes it: exact on wasm, while TF.js's
    cpu multiplies each step in float64 (a deviation the contract names, "Cumprod (cpu)")."""
    shape = c.ctx.shape(x)
    axis = c.value("axis", None if c.ctx.class_name.startswith(KERAS_OP_PREFIX) else 0)
    size = None if axis is None else shape[_axis(c, axis, len(shape))]
    return size is not None and 0 < size <= _MAX_STEPS


def _narrow_dtype(c: OpCall) -> DType | None:
    """The 8/16-bit integer dtype Keras gives the op's tensor (None for any other dtype)."""
    return next((d for d in c.ctx.keras_dtypes if is_narrow(d)), None)


def _as_int32(c: OpCall, x: Value) -> Value:
    """8/16-bit integers in int32 (the walk may hand them as float32, exactly, or in their own dtype)."""
    if x.dtype == DType.INT32:
        return x
    return c.ctx.exact_cast(x, DType.INT32, "to_int32")


def _integer_cumulative(c: OpCall, x: Value, narrow: DType | None, op: str) -> Value:
    """``cumsum``/``cumprod`` of 8/16-bit integers (``narrow``), which Keras (both flavours) computes in their dtype,
    wrapping around, and ``cumprod`` of int32 (``narrow`` None), along an axis of known size. ``cumsum``: an int32
    Cumsum whose partial sums stay within 2^24 (exact on every backend), wrapped into the dtype after (the same as
    after each step: wrapping is modular). ``cumprod``: step by step (:func:`_products`), wrapped after each one:
    TF.js's int32 Cumprod multiplies in float64 on cpu (inexact past 2^53) and float32 on webgl."""
    dtype = (narrow or DType.INT32).numpy
    if c.value("dtype", None) not in (None, dtype.name):
        raise c.gap(f"dtype={c.value('dtype')!r} of {dtype} integers")
    exclusive, reverse = (bool(c.value(flag, False)) for flag in ("exclusive", "reverse"))
    shape = c.ctx.shape(x)
    axis = c.value("axis", None if c.ctx.class_name.startswith(KERAS_OP_PREFIX) else 0)
    axis = None if axis is None else _axis(c, axis, len(shape))
    size = None if axis is None else shape[axis]
    largest = max(abs(int(np.iinfo(dtype).min)), int(np.iinfo(dtype).max))
    limit = _MAX_STEPS if op == "Cumprod" else _NARROW_SUM_LIMIT // largest
    if size is None or not 0 < size <= limit:
        raise c.gap(f"a {op.lower()} of {dtype} integers along an axis of size {size} (Keras wraps in {dtype}; "
                    f"lowered along axes of known sizes up to {limit})")
    if op == "Cumsum":
        sums = c.ctx.op(op, [x, c.ctx.ints(axis, "axis")], {"exclusive": exclusive, "reverse": reverse,
                                                             "Tidx": DType.INT32}, shape=shape)
        return wrapped(c.ctx.graph, sums, narrow, f"{c.ctx.name}/wrap")
    rank = len(shape)
    perm = list(range(rank))
    perm[axis], perm[-1] = rank - 1, axis
    moved = x if axis == rank - 1 else c.ctx.transpose(x, perm, "axis_last")
    if reverse:  # TF multiplies from the end: the steps run over the reversed axis, reversed back after
        moved = c.ctx.op("ReverseV2", [moved, c.ctx.ints([rank - 1], "reverse_axis")], {"Tidx": DType.INT32},
                         shape=moved.shape, label="reversed")
    if exclusive:  # each product of the entries before it: a leading 1, the last entry dropped
        moved = _shifted_in(c, moved, size, 1)
    out = _products(c, moved, narrow, cumulative=True, wide=narrow is None)
    if reverse:
        out = c.ctx.op("ReverseV2", [out, c.ctx.ints([rank - 1], "reverse_back_axis")], {"Tidx": DType.INT32},
                       shape=out.shape, label="reversed_back")
    return out if axis == rank - 1 else c.ctx.transpose(out, perm, "axis_back")


def _shifted_in(c: OpCall, x: Value, size: int, fill: int) -> Value:
    """``x`` (int32, last axis of known ``size``) moved one step along its last axis: ``fill`` first, the last entry
    dropped (an exclusive running product multiplies the entries before each one)."""
    rank = len(c.ctx.shape(x))
    padded = c.ctx.op("PadV2", [x, c.ctx.ints([[0, 0]] * (rank - 1) + [[1, 0]], "shift_paddings"),
                                c.ctx.ints(fill, "shift_fill")], {"Tpaddings": DType.INT32},
                      shape=(*x.shape[:-1], size + 1), label="shifted")
    return c.ctx.op("Slice", [padded, c.ctx.ints([0] * rank, "shift_begin"), c.ctx.ints([-1] * (rank - 1) + [size],
                                                                                         "shift_size")],
                    {"Index": DType.INT32}, shape=x.shape, label="shifted_in")


def _products(c: OpCall, x: Value, narrow: DType | None, *, cumulative: bool, wide: bool = False) -> Value:
    """The running products of int32 ``x`` along its last axis (of known size), one Mul a step, each wrapped into
    ``narrow`` when given: TF's int32 products. Exact modulo 2^32 on cpu and wasm: of 8/16-bit factors with the
    running product within int32 every product is below 2^47, exact in cpu's float64 Mul; of ``wide`` (int32)
    factors each step is :func:`int32_product`. webgl's int32 Mul is named by the contract. The last product, or all
    of them stacked back (``cumulative``)."""
    shape = c.ctx.shape(x)
    size, rank = shape[-1], len(shape)
    pieces = _outputs(c, "Unpack", [x], {"num": size, "axis": rank - 1, "T": DType.INT32},
                      [(DType.INT32, shape[:-1])] * size)
    steps = [pieces[0]]
    for i, piece in enumerate(pieces[1:], start=1):
        product = int32_product(c.ctx.graph, steps[-1], piece, f"{c.ctx.name}/product_{i}", piece.shape) if wide \
            else c.ctx.binary("Mul", steps[-1], piece, label=f"product_{i}")
        steps.append(product if narrow is None else wrapped(c.ctx.graph, product, narrow, f"{c.ctx.name}/wrap_{i}"))
    if not cumulative:
        return steps[-1]
    return c.ctx.op("Pack", steps, {"N": size, "axis": rank - 1, "T": DType.INT32}, dtype=DType.INT32, shape=shape,
                    label="products")


def _prod(c: OpCall) -> Value:
    """``prod`` (Keras 3) / ``tf.math.reduce_prod``: of 8/16-bit integers tf_keras multiplies in their dtype, wrapping
    around, and Keras 3 casts int8/int16 to int32 first (wrapping modulo 2^32; uint8/uint16 to uint32, beyond TF.js's
    int32: a gap); of int32 both wrap modulo 2^32, where TF.js's cpu Prod multiplies in float64 (inexact past 2^53):
    the reduced axes (of known sizes) moved last and multiplied step by step (:func:`_products`). Over axes of sizes
    unknown in the config (the batch's too) or more than :data:`_MAX_STEPS` factors, TF's own int32 ``Prod``: exact
    on wasm, while TF.js's cpu multiplies in float64 (a deviation the contract names, "Prod (cpu)"). Floats: Prod."""
    narrow = _narrow_dtype(c)
    if narrow is None and c.tensor("x").dtype != DType.INT32:
        return _reduce("Prod")(c)
    keras3 = c.ctx.class_name.startswith(KERAS_OP_PREFIX)
    if keras3 and narrow is not None and narrow.numpy.kind == "u":
        raise c.gap(f"a uint32 product of {narrow.numpy} integers (Keras 3's dtype; it wraps beyond TF.js's int32)")
    for unused in ("initial", "dtype"):
        if c.value(unused, None) is not None:
            raise c.gap(f"{unused}={c.value(unused)!r}")
    x = _as_int32(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    axes = _ints(c, "axis", None)
    axes = list(range(len(shape))) if axes is None else sorted({_axis(c, a, len(shape)) for a in axes})
    sizes = [shape[a] for a in axes]
    count = None if None in sizes else int(np.prod(sizes))
    if count is None or not 0 < count <= _MAX_STEPS:
        if narrow is not None and not keras3:
            raise c.gap(f"a product of {narrow.numpy} integers over axes of sizes {sizes} (tf_keras wraps in "
                        f"{narrow.numpy}; lowered for known counts of 1 to {_MAX_STEPS})")
        return _reduce("Prod", operand=_as_int32)(c)  # TF's int32 Prod, as TF computes it (cpu: named)
    kept = [i for i in range(len(shape)) if i not in axes]
    perm = kept + axes
    moved = x if perm == list(range(len(shape))) else c.ctx.transpose(x, perm, "axes_last")
    flat = moved if len(axes) == 1 else c.ctx.reshape(moved, [*(shape[i] for i in kept), count], "flattened")
    out = _products(c, flat, None if keras3 else narrow, cumulative=False, wide=narrow is None)
    if bool(c.value("keepdims", False)):
        out = c.ctx.reshape(out, [1 if i in axes else d for i, d in enumerate(shape)], "kept")
    return out


#: The most steps :func:`_products` is built with (a graph of a few ops per step).
_MAX_STEPS = 256
#: :func:`_integer_cumulative`'s int32 Cumsum keeps its partial sums below this (exact in webgl's float32 too).
_NARROW_SUM_LIMIT = 1 << 24


def _where(c: OpCall) -> Value:
    """``where(condition, x1, x2)``: SelectV2 (broadcasting all three) on the condition cast to bool (non-zero is
    True, as Keras's ``tf.cast`` and TF's ``where`` of bools read it). Both branches are needed (without them it is
    ``nonzero``, of a size known only at run time)."""
    if not c.has("x1") or not c.has("x2"):
        raise c.gap("a condition without both branches (nonzero)")
    condition = _as_bool(c, c.tensor("condition"), "condition")
    x, y = c.pair("x1", "x2")
    if x.dtype != y.dtype or x.dtype not in (DType.FLOAT32, DType.INT32, DType.BOOL):
        raise c.gap(f"branches of dtypes {x.dtype.value} and {y.dtype.value}")
    from .context import broadcast_shape

    shape = broadcast_shape(broadcast_shape(condition.shape, x.shape), y.shape)
    return c.ctx.op("SelectV2", [condition, x, y], {"T": x.dtype}, dtype=x.dtype, shape=shape)


def _tf_where(c: OpCall) -> Value:
    """``tf.where(condition, x, y)`` (TF's takes a bool condition only). Without ``x`` and ``y``: the coordinates of
    the condition's non-zero entries (NaN is non-zero), as ``compat.v1.where`` gives them (``_coordinates``)."""
    if not c.has("x") and not c.has("y"):
        from .op_layers_tf_more import _coordinates

        condition = _cast_int64(c, c.tensor("condition"), "condition_int32")
        return _coordinates(c, condition if condition.dtype == DType.BOOL else _not_zero(c, condition, "condition"))
    c.arguments["x1"], c.arguments["x2"] = c.arguments.pop("x", None), c.arguments.pop("y", None)
    return _where(c)


# -- statistics, constants like a tensor, einsum ----------------------------------------------------------
def _variance(std: bool) -> Callable[[OpCall], Value]:
    """``var``/``std`` (``tf.math.reduce_variance``/``reduce_std``): ``mean((x - mean(x, keepdims))², axis)``, square
    rooted for std, the ops TensorFlow runs."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if x.dtype != DType.FLOAT32:
            raise c.gap(f"a {x.dtype.value} tensor")
        shape = c.ctx.shape(x)
        axes = _ints(c, "axis", None)
        axes = list(range(len(shape))) if axes is None else sorted({_axis(c, a, len(shape)) for a in axes})
        keep = bool(c.value("keepdims", False))
        kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
        means = c.ctx.op("Mean", [x, c.ctx.ints(axes, "mean_axes")], {"keep_dims": True, "Tidx": DType.INT32},
                         shape=kept, label="means")
        deviations = c.ctx.unary("Square", c.ctx.binary("Sub", x, means, label="diff"), label="squared_deviations")
        out = kept if keep else tuple(d for i, d in enumerate(shape) if i not in axes)
        variance = c.ctx.op("Mean", [deviations, c.ctx.ints(axes, "axes")], {"keep_dims": keep, "Tidx": DType.INT32},
                            shape=out, label="variance")
        return c.ctx.unary("Sqrt", variance, label="std") if std else variance
    return lower


def _l2_normalize(c: OpCall) -> Value:
    """``tf.math.l2_normalize``: ``x · rsqrt(max(Σx², epsilon))`` over the axes, as TensorFlow computes it (no axis
    normalizes over the batch too: a gap)."""
    x = c.tensor("x")
    if c.has("dim"):  # TF 1's name of the axis (TF raises when both are given)
        c.arguments["axis"] = c.arguments.pop("dim")
    if x.dtype != DType.FLOAT32:
        raise c.gap(f"a {x.dtype.value} tensor")
    shape = c.ctx.shape(x)
    axes = _ints(c, "axis", None)
    if axes is None:
        raise c.gap("axis=None (over the batch too)")
    axes = sorted({_axis(c, a, len(shape)) for a in axes})
    epsilon = c.value("epsilon", 1e-12)
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise c.gap(f"epsilon={epsilon!r}")
    square_sum = c.ctx.op("Sum", [c.ctx.unary("Square", x, label="squared"), c.ctx.ints(axes, "axes")],
                          {"keep_dims": True, "Tidx": DType.INT32},
                          shape=tuple(1 if i in axes else d for i, d in enumerate(shape)), label="square_sum")
    floored = c.ctx.scalar_op("Maximum", square_sum, float(epsilon), "floored")
    return c.ctx.binary("Mul", x, c.ctx.unary("Rsqrt", floored, label="inverse_norm"))


def _log_base(base: int) -> Callable[[OpCall], Value]:
    """Keras 3's ``log2``/``log10``: ``log(x) / log(base)`` in float32, as its TensorFlow backend divides."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if x.dtype != DType.FLOAT32:
            raise c.gap(f"a {x.dtype.value} tensor")
        return c.ctx.binary("RealDiv", c.ctx.unary("Log", x, label="log"),
                            c.ctx.floats(np.log(np.float32(base)), "log_base"))
    return lower


def _round(c: OpCall) -> Value:
    """``round(x)``: half to even, as ``tf.round`` (:func:`round_half_even`); ``tf.round`` of integers is ``x``
    itself (TF returns its input). Keras 3's ``round(x, decimals)`` of float32 is its TensorFlow backend's
    ``round(x · 10^d) / 10^d`` in float32; other decimals, and integers, stay a gap."""
    x = c.tensor("x")
    decimals = c.value("decimals", 0)
    if x.dtype in (DType.INT32, DType.INT64) and c.ctx.class_name == "TFOpLambda" and decimals == 0:
        return c.ctx.unary("Identity", x, label="integers_as_they_are")
    if x.dtype != DType.FLOAT32 or not isinstance(decimals, int) or isinstance(decimals, bool) or \
            not -30 <= decimals <= 30 or decimals and not c.ctx.class_name.startswith(KERAS_OP_PREFIX):
        raise c.gap(f"decimals={decimals!r} on a {x.dtype.value} tensor")
    if decimals == 0:
        return round_half_even(c.ctx, x)
    factor = float(np.float32(10.0 ** decimals))
    scaled = c.ctx.scalar_op("Mul", x, factor, "scaled")
    return c.ctx.binary("RealDiv", round_half_even(c.ctx, scaled), c.ctx.floats(factor, "factor"), label="rounded")


def round_half_even(ctx: LayerContext, x: Value) -> Value:
    """TF's ``Round`` of float32 ``x``, signed zeros included: TF.js's cpu Round gives +0 for ``-0.5 <= x < 0``
    where TF gives -0 (``1 / round(x)`` is then +Inf, not -Inf), so a negative ``x`` takes ``-|Round(x)|`` (up to
    rank 4: webgl's SelectV2 stops there; beyond, the plain Round)."""
    rounded = ctx.unary("Round", x)
    if len(ctx.shape(x)) > 4:
        return rounded
    negative = ctx.op("Less", [x, ctx.floats(0.0, "zero")], dtype=DType.BOOL, shape=x.shape, label="negative")
    signed = ctx.unary("Neg", ctx.unary("Abs", rounded, label="magnitude"), label="negative_rounded")
    return ctx.op("SelectV2", [negative, signed, rounded], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=x.shape,
                  label="signed_round")


def _filled_like(value: int) -> Callable[[OpCall], Value]:
    """``zeros_like``/``ones_like``: ZerosLike/OnesLike of ``x``'s shape and dtype (NaN in ``x`` does not show)."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        dtype = c.value("dtype", None)
        try:
            target = x.dtype if dtype is None else DType.from_any(str(dtype))
        except (KeyError, ValueError, TypeError):
            raise c.gap(f"dtype={dtype!r}") from None
        if x.dtype in (DType.FLOAT32, DType.INT32) and target == DType.BOOL:  # Keras 3's Concatenate masks
            return _bool_filled_like(c, x, value)
        if x.dtype not in (DType.FLOAT32, DType.INT32) or target not in (DType.FLOAT32, DType.INT32):
            raise c.gap(f"dtype={dtype!r} for a {x.dtype.value} tensor")
        filled = c.ctx.unary("ZerosLike" if value == 0 else "OnesLike", x)
        return filled if target == x.dtype else c.ctx.exact_cast(filled, target, "filled_dtype")  # 0 and 1: exact
    return lower


def _bool_filled_like(c: OpCall, x: Value, value: int) -> Value:
    """``ones_like(x, dtype="bool")`` (all True) or ``zeros_like`` (all False) of ``x``'s run-time shape: Keras 3's
    Concatenate makes an unmasked input's mask so, beside a masked one (its recorded op layers)."""
    zeros = c.ctx.unary("ZerosLike", x, label="like_zeros")
    zero = c.ctx.const(np.zeros((), np.int32 if x.dtype == DType.INT32 else np.float32), "like_zero")
    return c.ctx.op("Equal" if value else "NotEqual", [zeros, zero], {"incompatible_shape_error": True},
                    dtype=DType.BOOL, shape=x.shape, label="like_bool")


def _einsum(c: OpCall) -> Value:
    """Keras 3's ``einsum`` of one or two tensors: an Einsum node the ``lower_einsum`` pass rewrites as
    Transpose/Reshape/BatchMatMul, for what that pass lowers exactly: each label once per operand, and a label
    both operands share of the same size in both, or unknown in both (else a size-1 broadcast could hide); for an
    ellipsis axis, where TF's einsum broadcasts, unknown in both only as the batch of both."""
    from tfjsconv.passes.einsum import parse_equation

    names = [name for name in ("operand_0", "operand_1") if name in c.arguments]
    tensor = next((name for name in names if isinstance(c.arguments[name], TensorArg)), None)
    if tensor is None:
        raise c.gap("no tensor operand")
    values = [c.tensor(name, like=c.tensor(tensor)) for name in names]
    subscripts = c.value("subscripts")
    shapes = [c.ctx.shape(v) for v in values]
    plain = isinstance(subscripts, str) and subscripts.isascii()  # TF's labels are ASCII letters
    normalized = _first_seen_labels(subscripts) if plain else ""
    parsed = parse_equation(normalized, [len(s) for s in shapes]) if plain else None
    if parsed is None or len({v.dtype for v in values}) != 1 or values[0].dtype != DType.FLOAT32:
        raise c.gap(f"subscripts {subscripts!r}")
    terms, out = parsed
    if any(len(set(term)) != len(term) for term in terms):  # a repeated label: its diagonal, gathered exactly
        from .op_layers_k3_gaps import take_diagonals

        values, terms = take_diagonals(c, values, terms)
        shapes = [c.ctx.shape(v) for v in values]
    sizes: dict[str, int | None] = {}
    axes: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        if len(set(term)) != len(term):
            raise c.gap(f"subscripts {subscripts!r} (a repeated label)")
        for axis, (label, size) in enumerate(zip(term, shape)):
            # An ellipsis axis both operands share may broadcast (size 1 against n) where TF's einsum does and
            # the pass does not: a shared unknown size is kept for the batch (axis 0 of both) only.
            broadcasting = label not in normalized and size is None and axes.get(label, 0) + axis > 0
            if label in sizes and (sizes[label] != size or broadcasting):
                raise c.gap(f"subscripts {subscripts!r} on shapes {[list(s) for s in shapes]}")
            sizes[label], axes[label] = size, axis
    equation = f"{','.join(terms)}->{out}"
    return c.ctx.op("Einsum", values, {"equation": equation, "N": len(values)},
                    shape=tuple(sizes[label] for label in out))


def _first_seen_labels(subscripts: str) -> str:
    """The subscripts relabelled ``a``, ``b``, ... in order of first appearance, as Keras 3's TensorFlow backend
    hands them to ``tf.einsum`` (``_normalize_einsum_subscripts``): the same result with an explicit output, but
    without one the output's labels are sorted after this relabelling (``'bca'`` is the identity there)."""
    mapping: dict[str, str] = {}
    out = []
    for char in subscripts:
        if char in string.ascii_letters and char not in mapping:
            mapping[char] = string.ascii_letters[len(mapping)]
        out.append(mapping.get(char, char))
    return "".join(out)


# -- getitem: basic indexing as one StridedSlice ----------------------------------------------------------
def _getitem(c: OpCall) -> Value:
    x = c.tensor("x")
    # tf_keras saves ``x[None]`` as ``slice_spec: null`` and reloads it as ``x[None]``: a new axis in front
    if "key" not in c.arguments:
        raise c.gap("argument 'key' is missing")
    key = c.arguments["key"]
    # Keras 3's GetItem makes a list key a tuple: ``x[[0, 0]]`` is ``x[0, 0]`` on every backend (both save [0, 0])
    spec = key if isinstance(key, list) else [key]
    if _holds_tensor(spec):  # bounds known at run time (``x[:, :tf.shape(y)[1]]``)
        from .op_layers_tensor_slices import getitem_entries, tensor_strided_slice

        return tensor_strided_slice(c, x, getitem_entries(c, spec))
    shape = c.ctx.shape(x)
    if spec.count(Ellipsis) > 1:
        raise c.gap("several ellipses")
    consumed = sum(1 for item in spec if item is not None and item is not Ellipsis)
    if consumed > len(shape):
        raise c.gap(f"{consumed} indices for a rank-{len(shape)} tensor")
    begin, end, strides = [], [], []
    masks = {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}
    out: list[int | None] = []
    dim = 0
    for i, item in enumerate(spec):
        bit = 1 << i
        if item is Ellipsis:
            masks["ellipsis_mask"] |= bit
            skipped = len(shape) - consumed
            out += shape[dim:dim + skipped]
            dim += skipped
            begin.append(0), end.append(0), strides.append(1)
        elif item is None:
            masks["new_axis_mask"] |= bit
            out.append(1)
            begin.append(0), end.append(0), strides.append(1)
        elif isinstance(item, bool) or not isinstance(item, (int, slice)):
            raise c.gap(f"index {item!r}")
        elif isinstance(item, int):
            size = shape[dim]
            if size is not None and not -size <= item < size:
                raise c.gap(f"index {item} out of range for size {size}")
            masks["shrink_axis_mask"] |= bit
            begin.append(item), end.append(item + 1 if item != -1 else 0), strides.append(1)
            dim += 1
        else:
            start, stop, step = item.start, item.stop, item.step
            if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (start, stop, step)):
                raise c.gap(f"slice {start}:{stop}:{step}")
            if step == 0:
                raise c.gap("a slice step of 0")
            if start is None:
                masks["begin_mask"] |= bit
            if stop is None:
                masks["end_mask"] |= bit
            begin.append(start or 0), end.append(stop or 0), strides.append(step or 1)
            size = shape[dim]
            out.append(None if size is None else len(range(*slice(start, stop, step).indices(size))))
            dim += 1
    out += shape[dim:]
    if x.dtype not in (DType.FLOAT32, DType.INT32, DType.INT64, DType.BOOL):  # int64: ids TF.js holds as int32
        raise c.gap(f"slicing a {x.dtype.value} tensor")
    return c.ctx.op("StridedSlice", [x, c.ctx.ints(begin, "begin"), c.ctx.ints(end, "end"),
                                     c.ctx.ints(strides, "strides")], {"Index": DType.INT32, **masks},
                    shape=tuple(out))


# -- more math: float-only unary ops, NaN-free divisions, logsumexp ----------------------------------------
def _float_op(op: str, *names: str) -> Callable[[OpCall], Value]:
    """An op of float32 tensors (``tan``, ``asin`` ..., ``atan2``; Keras 3 casts integers to float32 first, which the
    walk does for it, :data:`.integer_dtypes.FLOAT_COMPUTING_OPS`; TF refuses them)."""
    def lower(c: OpCall) -> Value:
        values = c.pair(*names) if len(names) == 2 else (c.tensor(names[0]),)
        if any(v.dtype != DType.FLOAT32 for v in values):
            raise c.gap(f"a {'/'.join(v.dtype.value for v in values)} tensor")
        return c.ctx.binary(op, *values) if len(values) == 2 else c.ctx.unary(op, values[0])
    return lower


def _is_special(op: str) -> Callable[[OpCall], Value]:
    """``is_nan``/``is_inf``/``is_finite`` (bool); Keras 3's of integers are all False (``isfinite``: True), TF's
    refuse them: ``x != x`` / ``x == x`` of int32."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if x.dtype == DType.FLOAT32:
            return c.ctx.op(op, [x], dtype=DType.BOOL, shape=x.shape)
        if x.dtype != DType.INT32 or not c.ctx.class_name.startswith(KERAS_OP_PREFIX):
            raise c.gap(f"a {x.dtype.value} tensor")
        return c.ctx.op("Equal" if op == "IsFinite" else "NotEqual", [x, x], {"incompatible_shape_error": True},
                        dtype=DType.BOOL, shape=x.shape, label=op)
    return lower


def _select(c: OpCall, condition: Value, x: Value, y: Value, label: str) -> Value:
    """``SelectV2(condition, x, y)``, the three broadcast against each other."""
    from .context import broadcast_shape

    shape = broadcast_shape(broadcast_shape(condition.shape, x.shape), y.shape)
    return c.ctx.op("SelectV2", [condition, x, y], {"T": x.dtype}, dtype=x.dtype, shape=shape, label=label)


def _zero_where_zero(c: OpCall, guard: Value, value: Value) -> Value:
    """``value``, with 0 where ``guard`` is 0 (``divide_no_nan``, ``reciprocal_no_nan``, ``xlogy``: TF gives 0 there
    whatever the other operand, NaN included)."""
    zero = c.ctx.floats(0.0, "zero")
    hit = c.ctx.op("Equal", [guard, zero], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=guard.shape,
                   label="is_zero")
    return _select(c, hit, zero, value, "no_nan")


def _floats(c: OpCall, *values: Value) -> None:
    if any(v.dtype != DType.FLOAT32 for v in values):
        raise c.gap(f"a {'/'.join(v.dtype.value for v in values)} tensor (lowered for float32)")


def _int32(c: OpCall, name: str) -> Value:
    """An integer tensor argument in int32: an int64 one (a model input) cast, as TF.js holds every int64."""
    return _cast_int64(c, c.tensor(name), f"{name}_int32")


def _cast_int64(c: OpCall, value: Value, label: str) -> Value:
    if value.dtype != DType.INT64:
        return value
    return c.ctx.op("Cast", [value], {"SrcT": DType.INT64, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32,
                    shape=value.shape, label=label)


def _divide_no_nan(c: OpCall) -> Value:
    """``divide_no_nan(x, y)``: ``x / y``, 0 where ``y == 0``."""
    x, y = c.pair("x", "y")
    from .op_layers_tf_gaps import integer_divide_no_nan, tf_integer_operands

    if tf_integer_operands(c, x, y):  # TF divides them as float64
        return integer_divide_no_nan(c, x, y)
    _floats(c, x, y)
    return _zero_where_zero(c, y, c.ctx.binary("RealDiv", x, y, label="quotient"))


def _reciprocal_no_nan(c: OpCall) -> Value:
    x = c.tensor("x")
    _floats(c, x)
    return _zero_where_zero(c, x, c.ctx.unary("Reciprocal", x))


def _xlogy(c: OpCall) -> Value:
    """``xlogy(x, y)``: ``x · log(y)``, 0 where ``x == 0`` (TF's kernel)."""
    x, y = c.pair("x", "y")
    _floats(c, x, y)
    return _zero_where_zero(c, x, c.ctx.binary("Mul", x, c.ctx.unary("Log", y), label="x_log_y"))


def _logsumexp(c: OpCall) -> Value:
    """``reduce_logsumexp`` (Keras 3 ``logsumexp`` calls it) as TF computes it: ``m = max(x)`` kept where finite
    (else 0), then ``log(sum(exp(x - m))) + m``."""
    x = c.tensor("x")
    _floats(c, x)
    shape = c.ctx.shape(x)
    axes = reduced_axes(c, len(shape), "a logsumexp")
    keep = bool(c.value("keepdims", False))
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    axes_value = c.ctx.ints(axes, "axes")
    raw_max = c.ctx.op("Max", [x, axes_value], {"keep_dims": True, "Tidx": DType.INT32}, shape=kept, label="raw_max")
    shift = finite_or_zero(c, raw_max, "shift")
    exps = c.ctx.unary("Exp", c.ctx.binary("Sub", x, shift, label="shifted"), label="exp")
    out = kept if keep else tuple(d for i, d in enumerate(shape) if i not in axes)
    total = c.ctx.op("Sum", [exps, axes_value], {"keep_dims": keep, "Tidx": DType.INT32}, shape=out, label="sum")
    if not keep:
        shift = c.ctx.op("Squeeze", [shift], {"squeeze_dims": axes}, shape=out, label="shift_squeezed")
    return c.ctx.binary("AddV2", c.ctx.unary("Log", total, label="log"), shift)


def reduced_axes(c: OpCall, rank: int, what: str) -> list[int]:
    """The axes a reduction's ``axis`` names (None: every one), normalised, sorted and each once, for the reductions
    lowered by hand (logsumexp, float64 ones); ``axis=[]`` (TF hands the input back) a gap naming ``what``."""
    axes = _ints(c, "axis", None)
    axes = list(range(rank)) if axes is None else sorted({_axis(c, a, rank) for a in axes})
    if not axes:
        raise c.gap(f"{what} over axis=[]")
    return axes


def finite_or_zero(c: OpCall, v: Value, label: str) -> Value:
    """``v`` where finite, else 0 (NaN and ±Inf): logsumexp's shift (TF's kernel), the error terms of float64 pairs
    (an Inf/NaN result keeps its plain float32 value)."""
    ctx = c.ctx
    finite = ctx.op("Less", [ctx.unary("Abs", v, label=f"{label}_magnitude"), ctx.floats(np.inf, f"{label}_inf")],
                    dtype=DType.BOOL, shape=v.shape, label=f"{label}_finite")
    return _select(c, finite, v, ctx.floats(0.0, f"{label}_zero"), label)


# -- indices: argmax/argmin, one_hot, gather/take -----------------------------------------------------------
#: TF's CPU ArgMax/ArgMin start from these and take only a strictly greater/smaller element.
_LOWEST, _HIGHEST = float(np.finfo(np.float32).min), float(np.finfo(np.float32).max)
#: Keras 3's argmax/argmin read -0.0 as minus the smallest normal float32, below +0.0.
_TINY = float(np.finfo(np.float32).tiny)


def _arg_extreme(op: str, float64: bool = False) -> Callable[[OpCall], Value]:
    """``argmax``/``argmin`` in int32 (Keras 3's dtype; tf_keras's int64, which TF.js holds as int32) as TF's CPU
    kernel picks: from (index 0, lowest float) it takes an element only when strictly greater (argmin: smaller), so
    ties go to the first index and NaN, -Inf and -FLT_MAX are never taken: the op on ``SelectV2(x > lowest, x, -Inf)``,
    whose ties TF.js resolves to the first index too (named as ``--exact_special_values`` names what it guards).
    Keras 3 first replaces -0.0 by ``-tiny`` (its ``signbit`` fix), so +0.0 wins over it: ``x == 0 and 1/x < 0``.
    ``float64``: float32 values of a float64 tensor, whose kernel starts from -DBL_MAX (-FLT_MAX is taken)."""
    def lower(c: OpCall) -> Value:
        x = _int32(c, "x")
        keras3 = c.ctx.class_name.startswith(KERAS_OP_PREFIX)
        shape = c.ctx.shape(x)
        flat_rank = None
        if keras3 and c.value("axis", None) is None:  # over the flattened tensor, batch included, as Keras 3
            flat_rank, x = len(shape), c.ctx.reshape(x, [None], "flattened")
            shape = c.ctx.shape(x)
        axis = _axis(c, c.value("axis", 0) if flat_rank is None else 0, len(shape))  # tf's None is axis 0
        if str(c.value("output_type", "int64")) not in ("int64", "int32") or \
                x.dtype not in (DType.FLOAT32, DType.INT32):
            raise c.gap(f"output_type={c.value('output_type', 'int64')!r} of a {x.dtype.value} tensor")
        if x.dtype == DType.FLOAT32:
            if keras3:
                zero = c.ctx.op("Equal", [x, c.ctx.floats(0.0, "zero")], {"incompatible_shape_error": True},
                                dtype=DType.BOOL, shape=x.shape, label="is_zero")
                negative = c.ctx.op("Less", [c.ctx.unary("Reciprocal", x, label="inverse"),
                                             c.ctx.floats(0.0, "inverse_zero")], dtype=DType.BOOL, shape=x.shape,
                                    label="inverse_negative")
                negative_zero = c.ctx.op("LogicalAnd", [zero, negative], dtype=DType.BOOL, shape=x.shape,
                                         label="negative_zero")
                if float64:  # -DBL_MIN: between -0.0 and every negative float32, no float32 value
                    preferred = negative_zero if op == "ArgMin" else c.ctx.op(
                        "LogicalAnd", [zero, c.ctx.op("LogicalNot", [negative], dtype=DType.BOOL, shape=x.shape,
                                                      label="not_negative")],
                        dtype=DType.BOOL, shape=x.shape, label="positive_zero")
                else:
                    x = _select(c, negative_zero, c.ctx.floats(-_TINY, "tiny"), x, "signed_zeros")
            bound, never, test = (_LOWEST, -np.inf, "Greater") if op == "ArgMax" else (_HIGHEST, np.inf, "Less")
            bound = never if float64 else bound
            taken = c.ctx.op(test, [x, c.ctx.floats(bound, "bound")], dtype=DType.BOOL, shape=x.shape, label="taken")
            x = _select(c, taken, x, c.ctx.floats(never, "never"), "candidates")
        out = tuple(d for i, d in enumerate(shape) if i != axis)
        picked = c.ctx.op(op, [x, c.ctx.ints(axis, "axis")], {"T": x.dtype, "Tidx": DType.INT32,
                                                             "output_type": DType.INT32},
                          dtype=DType.INT32, shape=out, label=op + GUARDED_SUFFIX)
        if float64 and keras3 and x.dtype == DType.FLOAT32:
            picked = _signed_zero_picked(c, op, x, preferred, axis, picked)
        if not c.value("keepdims", False):
            return picked
        if flat_rank is not None:  # Keras 3: one index, as many axes of 1 as x has
            return c.ctx.reshape(picked, [1] * flat_rank, "keepdims")
        return c.ctx.expand_dims(picked, axis, "keepdims")
    return lower


def _signed_zero_picked(c: OpCall, op: str, x: Value, preferred: Value, axis: int, picked: Value) -> Value:
    """Keras 3's float64 argmax/argmin, whose ``signbit`` fix makes -0.0 ``-DBL_MIN``: where the extreme of ``x``
    (the candidates) is a zero, the first zero of the preferred sign (+0.0 for argmax, -0.0 for argmin) if any, else
    ``picked`` (the first zero); elsewhere ``picked``."""
    ctx, out = c.ctx, picked.shape
    axis_value = ctx.ints(axis, "zero_axis")
    extreme = ctx.op("Max" if op == "ArgMax" else "Min", [x, axis_value], {"keep_dims": False, "Tidx": DType.INT32},
                     shape=out, label="extreme")
    flags = ctx.exact_cast(preferred, DType.FLOAT32, "preferred_zero")
    first = ctx.op("ArgMax", [flags, axis_value], {"T": DType.FLOAT32, "Tidx": DType.INT32, "output_type": DType.INT32},
                   dtype=DType.INT32, shape=out, label="first_preferred" + GUARDED_SUFFIX)
    found = ctx.op("Greater", [ctx.op("Max", [flags, axis_value], {"keep_dims": False, "Tidx": DType.INT32}, shape=out,
                                      label="any_preferred"), ctx.floats(0.0, "none")],
                   dtype=DType.BOOL, shape=out, label="found")
    at_zero = ctx.op("Equal", [extreme, ctx.floats(0.0, "extreme_zero")], {"incompatible_shape_error": True},
                     dtype=DType.BOOL, shape=out, label="extreme_zero")
    use = ctx.op("LogicalAnd", [at_zero, found], dtype=DType.BOOL, shape=out, label="use_preferred")
    return ctx.op("SelectV2", [use, first, picked], {"T": DType.INT32}, dtype=DType.INT32, shape=out,
                  label="signed_zero_picked")


#: The deepest one_hot lowered (its classes are a constant of that many int32s).
_ONE_HOT_DEPTH = 1 << 24


def _one_hot(c: OpCall, depth_key: str) -> Value:
    """``one_hot``: ``indices == [0, depth)`` lined up on ``axis`` (an index outside, negative ones too, gives a row
    of ``off_value`` as TF's OneHot), then the on/off values (TF.js's OneHot takes the last axis only, and wasm's
    reads float on/off values wrongly). The dtype is TF's: ``dtype``, else the on/off values' (Python ints: int32)."""
    ids = _int32(c, "indices")
    if ids.dtype != DType.INT32:
        raise c.gap(f"{ids.dtype.value} indices (lowered for int32 and int64)")
    depth = c.value(depth_key)
    rank = len(c.ctx.shape(ids)) + 1
    axis = _axis(c, c.value("axis", -1), rank)
    on, off = c.value("on_value", None), c.value("off_value", None)
    given = [v for v in (on, off) if v is not None]
    dtype = c.value("dtype", None) or ("bool" if given and all(isinstance(v, bool) for v in given) else "int32"
                                       if given and all(isinstance(v, int) for v in given) else "float32")
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 < depth <= _ONE_HOT_DEPTH or \
            c.value("sparse", False) or \
            dtype not in ("float32", "int32", "bool") or not all(isinstance(v, (int, float)) for v in given):
        raise c.gap(f"depth={depth!r}, dtype={dtype!r}, on_value={on!r}, off_value={off!r}")
    if dtype == "bool" and (on, off) not in ((None, None), (True, False)) or dtype == "int32" and not all(
            float(v).is_integer() and abs(v) < 2**31 for v in given):
        raise c.gap(f"on_value={on!r}, off_value={off!r} of a {dtype} one_hot")
    classes = c.ctx.ints(np.arange(depth, dtype=np.int32).reshape([depth if i == axis else 1 for i in range(rank)]), "classes")
    expanded = c.ctx.expand_dims(ids, axis, "indices")
    hits = c.ctx.op("Equal", [expanded, classes], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                    shape=_broadcast(expanded, classes), label="hits")
    out = DType.from_any(dtype)
    on, off = 1 if on is None else on, 0 if off is None else off
    if dtype == "bool":
        return hits
    if (on, off) == (1, 0):
        return c.ctx.op("Cast", [hits], {"SrcT": DType.BOOL, "DstT": out, "Truncate": False}, dtype=out,
                        shape=hits.shape, label="one_hot")
    values = [c.ctx.const(np.asarray(v, out.numpy), label) for v, label in ((on, "on_value"), (off, "off_value"))]
    return _select(c, hits, *values, "one_hot")


def _gather(c: OpCall) -> Value:
    """``tf.gather(params, indices, axis)`` / Keras 3 ``take(x, indices, axis)``: GatherV2 along one axis. Keras 3
    reads an index ``-size <= i < 0`` as ``i + size``; TF raises on indices outside ``[0, size)``, so such constant
    indices are a gap (tensor ones fail in TF.js too, as in TensorFlow)."""
    from .core import _wrap_negative_ids

    x = _int32(c, "x")
    shape = c.ctx.shape(x)
    keras3 = c.ctx.class_name.startswith(KERAS_OP_PREFIX)
    if keras3 and c.value("axis", None) is None:  # the flattened tensor, batch included
        from .op_layers_k3_more import take_flattened
        return take_flattened(c)
    axis = _axis(c, c.value("axis", 0), len(shape))
    size = shape[axis]
    if c.value("batch_dims", 0) != 0 or x.dtype not in (DType.FLOAT32, DType.INT32, DType.BOOL):
        raise c.gap(f"batch_dims={c.value('batch_dims', 0)!r} on a {x.dtype.value} tensor")
    if isinstance(c.arguments.get("indices"), TensorArg):
        ids = _int32(c, "indices")
        if ids.dtype != DType.INT32:
            raise c.gap(f"{ids.dtype.value} indices")
        if keras3:
            if size is None:
                raise c.gap(f"tensor indices into axis {axis} of unknown size (Keras 3 wraps negative ones)")
            ids = _wrap_negative_ids(c.ctx, ids, size)
    else:
        array = np.asarray(c.value("indices"))
        if array.dtype.kind not in "iu" or array.size == 0:
            raise c.gap(f"indices {c.value('indices')!r}")
        if keras3 and size is not None:
            array = np.where(array < 0, array + size, array)
        outside = (array < 0) | (array >= (2**31 if size is None else size))
        if outside.any():
            raise c.gap(f"index {int(array[outside].flat[0])} outside [0, {size}) (TensorFlow's gather raises)")
        ids = c.ctx.ints(array, "indices")
    return c.ctx.op("GatherV2", [x, ids, c.ctx.ints(axis, "axis")],
                    {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                    dtype=x.dtype, shape=(*shape[:axis], *c.ctx.shape(ids), *shape[axis + 1:]))


def _take_along_axis(c: OpCall) -> Value:
    """Keras 3 ``take_along_axis(x, indices, axis)``, negative indices wrapped as Keras does. Keras gathers with
    ``batch_dims=1``, which TF.js's wasm computes wrongly: rows flattened and one GatherV2 at ``row · size + index``
    (an index outside ``[0, size)`` made -1, so that TF.js raises where TensorFlow does). Where a size besides the
    axis is unknown, or ``x`` and the indices differ in one (1 against n), both are first broadcast to each other's
    sizes at run time as Keras does (:func:`_take_along_axis_runtime`)."""
    from .core import _wrap_negative_ids
    from .dynamic_shape import runtime_range

    x, ids = _int32(c, "x"), _int32(c, "indices")
    shape, index_shape = c.ctx.shape(x), c.ctx.shape(ids)
    if c.value("axis", None) is None:
        raise c.gap("axis=None (Keras 3 takes from the flattened tensor, batch included)")
    axis = _axis(c, c.value("axis"), len(shape))
    if not isinstance(c.arguments.get("indices"), TensorArg) or ids.dtype != DType.INT32 or \
            len(index_shape) != len(shape) or any(i != axis and a is not None and b is not None and a != b and
                                                  1 not in (a, b) for i, (a, b) in enumerate(zip(shape, index_shape))):
        raise c.gap(f"{ids.dtype.value} indices of shape {list(index_shape)} into shape {list(shape)} along axis {axis}"
                    " (Keras cannot broadcast them against each other)")
    size, count = shape[axis], index_shape[axis]
    if size is None or count is None or any(i != axis and (a != b or (a is None and i)) for i, (a, b) in
                                            enumerate(zip(shape, index_shape))):
        return _take_along_axis_runtime(c, x, ids, axis)
    ids = _wrap_negative_ids(c.ctx, ids, size)
    perm = [i for i in range(len(shape)) if i != axis] + [axis]
    moved = [c.ctx.transpose(v, perm, f"{label}_axis_last") if axis != len(shape) - 1 else v
             for v, label in ((x, "x"), (ids, "indices"))]
    values = c.ctx.reshape(moved[0], [None], "values")
    rows = c.ctx.reshape(moved[1], [None, count], "rows")
    starts = c.ctx.op("Mul", [runtime_range(c.ctx, rows, 0, "row"), c.ctx.ints(size, "size")], shape=(None,),
                      label="row_starts")
    out = c.ctx.reshape(_gather_rows(c, values, rows, starts, c.ctx.ints(size, "size_bound")),
                        [*(shape[i] for i in perm[:-1]), count], "taken_rows")
    if axis == len(shape) - 1:
        return out
    return c.ctx.transpose(out, [perm.index(i) for i in range(len(shape))], "axis_back")


def _gather_rows(c: OpCall, values: Value, rows: Value, starts: Value, size: Value) -> Value:
    """``values[starts[r] + rows[r, j]]`` (``values`` flat, ``rows`` the ``[rows, count]`` indices into rows of
    ``size``): a position outside ``[0, size)`` becomes -1, which TF.js's GatherV2 raises on as TensorFlow's does."""
    positions = c.ctx.binary("AddV2", rows, c.ctx.expand_dims(starts, 1, "row_starts_column"), label="positions")
    bounds = [c.ctx.op("GreaterEqual", [rows, c.ctx.ints(0, "from_first_bound")], dtype=DType.BOOL, shape=rows.shape,
                       label="from_first"),
              c.ctx.op("Less", [rows, size], dtype=DType.BOOL, shape=rows.shape, label="before_end")]
    inside = c.ctx.op("LogicalAnd", bounds, dtype=DType.BOOL, shape=rows.shape, label="inside")
    positions = _select(c, inside, positions, c.ctx.ints(-1, "outside"), "checked_positions")
    return c.ctx.op("GatherV2", [values, positions, c.ctx.ints(0, "axis")],
                    {"Tparams": values.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                    dtype=values.dtype, shape=rows.shape, label="taken")


def _take_along_axis_runtime(c: OpCall, x: Value, ids: Value, axis: int) -> Value:
    """``take_along_axis`` where sizes are known only at run time or broadcast: as Keras's TensorFlow backend, ``x``
    and the indices are broadcast to each other's sizes on every axis but ``axis`` (``BroadcastArgs`` of their run-time
    shapes: Keras's ``maximum`` of them, the same for every pair Keras can broadcast, and both fail on the others),
    negative indices wrapped by the run-time size, then the rows gathered as :func:`_take_along_axis` does."""
    from .core import _wrap_negative_ids
    from .dynamic_shape import reshape_to, runtime_range, runtime_sizes, runtime_size

    ctx = c.ctx
    rank = len(ctx.shape(x))
    perm = [i for i in range(rank) if i != axis] + [axis]
    x, ids = (ctx.transpose(v, perm, f"{label}_axis_last") if axis != rank - 1 else v
              for v, label in ((x, "x"), (ids, "indices")))
    shape, index_shape = ctx.shape(x), ctx.shape(ids)
    lead = tuple(a if b == 1 else b if a == 1 else a if a is not None else b
                 for a, b in zip(shape[:-1], index_shape[:-1]))
    sizes = ctx.op("BroadcastArgs", [runtime_sizes(ctx, x, 0, -1, "x_lead"), runtime_sizes(ctx, ids, 0, -1, "ids_lead")],
                   dtype=DType.INT32, shape=(rank - 1,), label="broadcast_sizes")
    x_last, count = runtime_sizes(ctx, x, rank - 1, rank, "x_axis"), runtime_sizes(ctx, ids, rank - 1, rank, "ids_axis")

    def broadcast(value: Value, last: Value, static_last: int | None, label: str) -> Value:
        target = ctx.op("ConcatV2", [sizes, last, ctx.ints(0, f"{label}_target_axis")], {"N": 2, "Tidx": DType.INT32},
                        dtype=DType.INT32, shape=(rank,), label=f"{label}_target")
        return ctx.op("BroadcastTo", [value, target], {"Tidx": DType.INT32}, shape=(*lead, static_last),
                      label=f"{label}_broadcast")

    x = broadcast(x, x_last, shape[-1], "x")
    ids = broadcast(ids, count, index_shape[-1], "indices")
    size = ctx.ints(shape[-1], "size") if shape[-1] is not None else runtime_size(ctx, x, rank - 1, "size")
    ids = _wrap_negative_ids(ctx, ids, size)
    values = ctx.reshape(x, [None], "values")
    rows = reshape_to(ctx, ids, [[-1], count], (None, index_shape[-1]), "rows")
    starts = ctx.op("Mul", [runtime_range(ctx, rows, 0, "row"), size], shape=(None,), label="row_starts")
    out = reshape_to(ctx, _gather_rows(c, values, rows, starts, size), [sizes, count], (*lead, index_shape[-1]),
                     "taken_rows")
    if axis == rank - 1:
        return out
    return ctx.transpose(out, [perm.index(i) for i in range(rank)], "axis_back")


def _identity(c: OpCall) -> Value:
    return c.ctx.unary("Identity", c.tensor("x"))


def _ensure_shape(c: OpCall) -> Value:
    """``tf.ensure_shape``: the tensor itself where the lowering knows every size it asserts (a size known only at
    run time, which TF checks and raises on, is a gap)."""
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    asserted = c.value("shape")
    if not isinstance(asserted, list) or len(asserted) != len(shape) or any(
            a is not None and a != d for a, d in zip(asserted, shape)):
        raise c.gap(f"shape={asserted!r} of a tensor of shape {list(shape)} (a size checked only at run time)")
    return _identity(c)


# -- several outputs: split, unstack, top_k ----------------------------------------------------------------
def _outputs(c: OpCall, op: str, inputs: list[Value], attrs: dict[str, Any],
             specs: list[tuple[DType, tuple[int | None, ...]]]) -> list[Value]:
    """One node with an output per ``(dtype, shape)``; the walk wires ``(layer, node, i)`` to output ``i``."""
    node = c.ctx.graph.add_node(op, inputs, attrs, name=f"{c.ctx.name}/{op}", num_outputs=len(specs))
    for value, (dtype, shape) in zip(node.outputs, specs):
        value.dtype, value.shape = dtype, shape
    return list(node.outputs)


#: The most outputs a split/unstack is lowered with (a config asking for more is a gap, not a huge graph).
_MAX_PIECES = 1 << 12


def _split(key: str) -> Callable[[OpCall], list[Value]]:
    """``tf.split(x, n or sizes, axis)`` / Keras 3 ``split(x, n or indices, axis)``: Split into equal pieces or SplitV
    by sizes (one -1 in TF's, Keras 3's indices as the sizes between them); a piece of size 0 is a gap."""
    def lower(c: OpCall) -> list[Value]:
        if _holds_tensor(c.arguments.get(key)):
            from .op_layers_tensor_args import split_at_run_time  # that module imports this one's helpers
            return split_at_run_time(c, key)
        x = c.tensor("x")
        shape = c.ctx.shape(x)
        axis = _axis(c, c.value("axis", 0), len(shape))
        size, spec = shape[axis], c.value(key)
        if isinstance(spec, int) and not isinstance(spec, bool):
            if not 0 < spec <= _MAX_PIECES or (size is not None and (size % spec or size < spec)):
                raise c.gap(f"{key}={spec} along an axis of size {size}")
            pieces = [None if size is None else size // spec] * spec
            attrs = {"num_split": spec, "T": x.dtype}
            node_inputs = [c.ctx.ints(axis, "axis"), x]
            op = "Split"
        else:
            sizes = _ints(c, key)
            if c.ctx.class_name.startswith(KERAS_OP_PREFIX):  # indices where each piece starts
                sizes = None if size is None else [b - a for a, b in zip([0, *sizes], [*sizes, size])]
            elif size is not None and sizes.count(-1) == 1:
                sizes[sizes.index(-1)] = size - sum(s for s in sizes if s != -1)
            if sizes is None or size is None or any(s < 1 for s in sizes) or sum(sizes) != size:
                raise c.gap(f"{key}={c.value(key)!r} along an axis of size {size}")
            pieces = sizes
            attrs = {"num_split": len(sizes), "T": x.dtype, "Tlen": DType.INT32}
            node_inputs = [x, c.ctx.ints(sizes, "sizes"), c.ctx.ints(axis, "axis")]
            op = "SplitV"
        if c.value("num", None) not in (None, len(pieces)) or len(pieces) > _MAX_PIECES:
            raise c.gap(f"num={c.value('num', None)!r} for {len(pieces)} pieces")
        return _outputs(c, op, node_inputs, attrs, [
            (x.dtype, tuple(p if i == axis else d for i, d in enumerate(shape))) for p in pieces])
    return lower


def _unstack(c: OpCall) -> list[Value]:
    """``unstack(x, axis)``: Unpack into the axis's known number of tensors."""
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    axis = _axis(c, c.value("axis", 0), len(shape))
    if shape[axis] is None or c.value("num", None) not in (None, shape[axis]) or shape[axis] > _MAX_PIECES:
        raise c.gap(f"num={c.value('num', None)!r} along an axis of size {shape[axis]}")
    out = tuple(d for i, d in enumerate(shape) if i != axis)
    return _outputs(c, "Unpack", [x], {"num": shape[axis], "axis": axis, "T": x.dtype},
                    [(x.dtype, out)] * shape[axis])


def _top_k(c: OpCall) -> list[Value]:
    """``top_k(x, k)``: TopKV2's values and int32 indices (tf_keras's ``index_type`` int64 held as int32), sorted,
    equal values by index as TF; ``sorted=False``, whose order is TF's kernel's own, is a gap. An int64 tensor (a model
    input) is cast to int32 first, as TF.js holds every int64 (its values too)."""
    if _holds_tensor(c.arguments.get("k")):
        from .op_layers_tensor_args import top_k_at_run_time  # that module imports this one's helpers
        return top_k_at_run_time(c)
    x = _int32(c, "x")
    shape = c.ctx.shape(x)
    k = c.value("k", 1)
    if not shape or isinstance(k, bool) or not isinstance(k, int) or not 0 < k <= (shape[-1] or 2**31 - 1) or \
            not c.value("sorted", True) or str(c.value("index_type", "int32")) not in ("int32", "int64") or \
            x.dtype not in (DType.FLOAT32, DType.INT32):
        raise c.gap(f"k={k!r}, sorted={c.value('sorted', True)!r} of a {x.dtype.value} tensor of shape {list(shape)}")
    out = (*shape[:-1], k)
    attrs = {"sorted": True, "T": x.dtype, "Tk": DType.INT32, "index_type": DType.INT32}
    return _outputs(c, "TopKV2", [x, c.ctx.ints(k, "k")], attrs, [(x.dtype, out), (DType.INT32, out)])


def _sort(indices: bool) -> Callable[[OpCall], Value]:
    """``sort``/``argsort`` (``tf.sort``/``tf.argsort``, Keras 3's ``ops.sort``/``ops.argsort``, which call them):
    the ops TF runs. TF sorts descending as TopKV2 with k the axis length, the axis swapped with the last one; it
    sorts ascending as that of a decreasing key, ``-x`` for floats and ``-x - 1`` for integers (``-1 - x`` here: no
    int32 overflow, INT32_MIN included), the sorted keys mapped back the same way. TopKV2 orders equal keys by index
    in TF and TF.js alike (ties, -0.0 beside +0.0); its NaN order differs, which the contract's TopKV2 line names.
    An int64 tensor (a model input) is cast to int32 first, as TF.js holds every int64."""
    def lower(c: OpCall) -> Value:
        keras3 = c.ctx.class_name.startswith(KERAS_OP_PREFIX)
        key = "x" if keras3 else "values"
        x = _int32(c, key)
        direction = "ASCENDING" if keras3 else str(c.value("direction", "ASCENDING"))
        if direction not in ("ASCENDING", "DESCENDING"):
            raise c.gap(f"direction={direction!r}")
        if x.dtype not in (DType.FLOAT32, DType.INT32):
            raise c.gap(f"a {x.dtype.numpy} tensor (lowered for float32 and integers)")
        axis = c.value("axis", -1)
        if keras3 and "axis" in c.arguments and c.arguments["axis"] is None:  # the flattened tensor, batch included
            x, axis = c.ctx.reshape(x, [None], "flattened"), 0
        rank = len(c.ctx.shape(x))
        axis = _axis(c, axis, rank)
        perm = list(range(rank))
        perm[axis], perm[-1] = rank - 1, axis  # TF's transposition: the axis swapped with the last (its own inverse)
        moved = x if axis == rank - 1 else c.ctx.transpose(x, perm, "axis_last")
        ascending = direction == "ASCENDING"
        keys = _sort_keys(c, moved) if ascending else moved
        top = _top_k_all(c, keys)
        out = top[1] if indices else (_sort_keys(c, top[0], "sorted") if ascending else top[0])
        return out if axis == rank - 1 else c.ctx.transpose(out, perm, "axis_back")
    return lower


def _sort_keys(c: OpCall, x: Value, label: str = "keys") -> Value:
    """TF's decreasing key of an ascending sort (its own inverse): ``-x`` of floats, ``-1 - x`` of int32."""
    if x.dtype == DType.FLOAT32:
        return c.ctx.unary("Neg", x, label=f"{label}_negated")
    return c.ctx.binary("Sub", c.ctx.ints(-1, f"{label}_minus_one"), x, label=f"{label}_inverted")


def _top_k_all(c: OpCall, x: Value) -> list[Value]:
    """TopKV2 of every element along the last axis, sorted: k its length, read from Shape when unknown."""
    shape = c.ctx.shape(x)
    size = shape[-1]
    if size is None:
        from .dynamic_shape import runtime_size

        k = runtime_size(c.ctx, x, len(shape) - 1, "k")
    else:
        k = c.ctx.ints(size, "k")
    attrs = {"sorted": True, "T": x.dtype, "Tk": DType.INT32, "index_type": DType.INT32}
    return _outputs(c, "TopKV2", [x, k], attrs, [(x.dtype, shape), (DType.INT32, shape)])


# -- the tables -------------------------------------------------------------------------------------------
def _table(entries: dict[tuple[str, ...], OpSpec]) -> dict[str, OpSpec]:
    return {name: spec for names, spec in entries.items() for name in names}


_X, _XY = ("x",), ("x", "y")
_REDUCE_OPTIONS = ("axis", "keepdims", "initial", "dtype")
TF_FUNCTIONS: dict[str, OpSpec] = _table({
    ("math.add", "__operators__.add", "math.add_v2"): OpSpec(_XY, _binary("AddV2")),
    ("math.subtract", "__operators__.sub"): OpSpec(_XY, _binary("Sub")),
    ("math.multiply", "__operators__.mul"): OpSpec(_XY, _binary("Mul")),
    ("math.truediv", "math.divide", "__operators__.truediv"): OpSpec(_XY, _divide),
    ("math.maximum",): OpSpec(_XY, _binary("Maximum")), ("math.minimum",): OpSpec(_XY, _binary("Minimum")),
    ("math.pow",): OpSpec(_XY, _pow),
    ("math.floordiv", "floordiv", "compat.v1.floor_div"): OpSpec(_XY, _integer_division("FloorDiv")),
    ("math.floormod", "floormod", "math.mod", "mod"): OpSpec(_XY, _integer_division("FloorMod")),
    ("math.squared_difference",): OpSpec(_XY, _squared_difference),
    ("math.greater",): OpSpec(_XY, _binary("Greater", boolean=True)),
    ("math.greater_equal",): OpSpec(_XY, _binary("GreaterEqual", boolean=True)),
    ("math.less",): OpSpec(_XY, _binary("Less", boolean=True)),
    ("math.less_equal",): OpSpec(_XY, _binary("LessEqual", boolean=True)),
    ("math.equal", "__operators__.eq"): OpSpec(_XY, _binary("Equal", boolean=True)),
    ("math.not_equal", "__operators__.ne"): OpSpec(_XY, _binary("NotEqual", boolean=True)),
    ("math.negative",): OpSpec(_X, _unary("Neg")), ("math.abs",): OpSpec(_X, _unary("Abs")),
    ("math.exp",): OpSpec(_X, _unary("Exp")), ("math.log",): OpSpec(_X, _unary("Log")),
    ("math.sqrt",): OpSpec(_X, _unary("Sqrt")), ("math.rsqrt",): OpSpec(_X, _unary("Rsqrt")),
    ("math.square",): OpSpec(_X, _square), ("math.reciprocal",): OpSpec(_X, _unary("Reciprocal")),
    ("math.floor",): OpSpec(_X, _unary("Floor")), ("math.ceil",): OpSpec(_X, _unary("Ceil")),
    ("math.sin",): OpSpec(_X, _unary("Sin")), ("math.cos",): OpSpec(_X, _unary("Cos")),
    ("math.erf",): OpSpec(_X, _unary("Erf")), ("math.sign",): OpSpec(_X, _unary("Sign")),
    ("math.log1p",): OpSpec(_X, _unary("Log1p")),
    ("math.sigmoid", "nn.sigmoid", "sigmoid"): OpSpec(_X, _unary("Sigmoid")),
    ("math.tanh", "nn.tanh"): OpSpec(_X, _unary("Tanh")),
    ("nn.relu",): OpSpec(("features",), lambda c: c.ctx.unary("Relu", c.tensor("features"))),
    ("nn.relu6",): OpSpec(("features",), lambda c: c.ctx.unary("Relu6", c.tensor("features"))),
    ("nn.elu",): OpSpec(("features",), lambda c: c.ctx.unary("Elu", c.tensor("features"))),
    ("nn.selu",): OpSpec(("features",), lambda c: c.ctx.unary("Selu", c.tensor("features"))),
    ("math.softplus", "nn.softplus"): OpSpec(("features",), lambda c: c.ctx.unary("Softplus", c.tensor("features"))),
    ("nn.softsign", "math.softsign"): OpSpec(("features",),
                                             lambda c: ACTIVATIONS["softsign"](c.ctx, c.tensor("features"), "act")),
    ("nn.silu", "nn.swish"): OpSpec(("features", "beta"), lambda c: _silu(c, "features")),
    ("nn.gelu",): OpSpec(("features", "approximate"), lambda c: _gelu_of(c, "features")),
    ("nn.leaky_relu",): OpSpec(("features", "alpha"), lambda c: _leaky_of(c, "features", "alpha", 0.2)),
    ("nn.softmax", "math.softmax"): OpSpec(("logits", "axis"), lambda c: _softmax_of(c, "logits", "Softmax")),
    ("nn.log_softmax", "math.log_softmax"): OpSpec(("logits", "axis"),
                                                   lambda c: _softmax_of(c, "logits", "LogSoftmax")),
    ("nn.bias_add",): OpSpec(("x", "bias", "data_format"), _bias_add),
    ("reshape",): OpSpec(("x", "shape"), lambda c: _reshape(c, "shape")),
    ("transpose", "compat.v1.transpose"): OpSpec(("x", "perm", "conjugate"), lambda c: _transpose(c, "perm")),
    ("concat",): OpSpec(("values", "axis"), _concat),
    ("stack",): OpSpec(("values", "axis"), _stack),
    ("expand_dims",): OpSpec(("x", "axis"), _expand_dims),
    ("squeeze", "compat.v1.squeeze"): OpSpec(("x", "axis", "name", "squeeze_dims"), _squeeze),
    ("cast", "dtypes.cast"): OpSpec(("x", "dtype"), _cast),
    ("clip_by_value",): OpSpec(("x", "clip_value_min", "clip_value_max"),
                               lambda c: _clip(c, "clip_value_min", "clip_value_max")),
    ("linalg.matmul", "matmul"): OpSpec(("a", "b", "transpose_a", "transpose_b", "adjoint_a", "adjoint_b",
                                         "a_is_sparse", "b_is_sparse", "output_type"),
                                        lambda c: _matmul(c, "transpose_a", "transpose_b")),
    ("shape", "compat.v1.shape"): OpSpec(("x", "out_type"), _shape),
    ("image.resize",): OpSpec(("x", "size", "method", "preserve_aspect_ratio", "antialias"),
                              lambda c: _resize(c, "method", nearest_half_pixel=True)),
    ("tile",): OpSpec(("x", "multiples"), lambda c: _tile(c, "multiples")),
    ("pad", "compat.v1.pad"): OpSpec(("x", "paddings", "mode", "constant_values"),
                     lambda c: _pad(c, "paddings", "mode", "constant_values")),
    ("nn.depth_to_space",): OpSpec(("x", "block_size", "data_format"), _depth_to_space),
    ("__operators__.getitem",): OpSpec(("x", "key"), _getitem),
    ("math.expm1",): OpSpec(_X, _unary("Expm1")),
    ("math.reduce_variance", "reduce_variance"): OpSpec(("x", "axis", "keepdims"), _variance(std=False)),
    ("math.reduce_std", "reduce_std"): OpSpec(("x", "axis", "keepdims"), _variance(std=True)),
    ("math.round", "round"): OpSpec(_X, _round),
    ("math.l2_normalize", "nn.l2_normalize", "linalg.l2_normalize"): OpSpec(("x", "axis", "epsilon", "name", "dim"),
                                                                            _l2_normalize),
    ("zeros_like",): OpSpec(("x", "dtype"), _filled_like(0)),
    ("ones_like",): OpSpec(("x", "dtype"), _filled_like(1)),
    ("reverse", "reverse_v2"): OpSpec(("x", "axis"), _flip),
    ("repeat",): OpSpec(("x", "repeats", "axis"), _repeat),
    ("math.cumsum", "cumsum"): OpSpec(("x", "axis", "exclusive", "reverse"), _cumulative("Cumsum")),
    ("math.cumprod", "cumprod"): OpSpec(("x", "axis", "exclusive", "reverse"), _cumulative("Cumprod")),
    ("where", "where_v2"): OpSpec(("condition", "x", "y"), _tf_where),
    ("linalg.matrix_transpose",): OpSpec(("x", "conjugate"), _matrix_transpose),
    ("math.logical_and",): OpSpec(_XY, _logical("LogicalAnd")),
    ("math.logical_or",): OpSpec(_XY, _logical("LogicalOr")),
    ("math.logical_xor",): OpSpec(_XY, _logical("LogicalXor")),
    ("math.logical_not",): OpSpec(_X, _logical_not),
    ("math.reduce_any", "reduce_any"): OpSpec(("x", "axis", "keepdims"), _bool_reduce("Any")),
    ("math.reduce_all", "reduce_all"): OpSpec(("x", "axis", "keepdims"), _bool_reduce("All")),
    **{(f"math.reduce_{r}", f"reduce_{r}"): OpSpec(("x", "axis", "keepdims"), _reduce(op))
       for r, op in (("sum", "Sum"), ("max", "Max"), ("min", "Min"))},
    ("math.reduce_prod", "reduce_prod"): OpSpec(("x", "axis", "keepdims"), _prod),
    ("math.reduce_mean", "reduce_mean"): OpSpec(("x", "axis", "keepdims"), _reduce_mean),
    **{(f"math.{name}",): OpSpec(_X, _float_op(op, "x")) for name, op in (
        ("tan", "Tan"), ("asin", "Asin"), ("acos", "Acos"), ("atan", "Atan"), ("sinh", "Sinh"), ("cosh", "Cosh"),
        ("asinh", "Asinh"), ("acosh", "Acosh"), ("atanh", "Atanh"))},
    ("math.atan2",): OpSpec(("y", "x"), _float_op("Atan2", "y", "x")),
    ("math.is_nan",): OpSpec(_X, _is_special("IsNan")), ("math.is_inf",): OpSpec(_X, _is_special("IsInf")),
    ("math.is_finite",): OpSpec(_X, _is_special("IsFinite")),
    ("math.log_sigmoid",): OpSpec(_X, _activation("log_sigmoid")),
    ("math.divide_no_nan",): OpSpec(_XY, _divide_no_nan),
    ("math.reciprocal_no_nan",): OpSpec(_X, _reciprocal_no_nan),
    ("math.xlogy",): OpSpec(_XY, _xlogy),
    ("math.reduce_logsumexp", "reduce_logsumexp"): OpSpec(("x", "axis", "keepdims"), _logsumexp),
    ("math.argmax", "argmax"): OpSpec(("x", "axis", "output_type"), _arg_extreme("ArgMax")),
    ("math.argmin", "argmin"): OpSpec(("x", "axis", "output_type"), _arg_extreme("ArgMin")),
    ("one_hot",): OpSpec(("indices", "depth", "on_value", "off_value", "axis", "dtype"),
                         lambda c: _one_hot(c, "depth")),
    ("compat.v1.gather", "gather"): OpSpec(("x", "indices", "validate_indices", "axis", "batch_dims"), _gather),
    ("identity", "stop_gradient"): OpSpec(_X, _identity),
    ("ensure_shape",): OpSpec(("x", "shape"), _ensure_shape),
    ("split",): OpSpec(("x", "num_or_size_splits", "axis", "num"), _split("num_or_size_splits")),
    ("unstack",): OpSpec(("x", "num", "axis"), _unstack),
    ("math.top_k",): OpSpec(("x", "k", "sorted", "index_type"), _top_k),
    ("sort",): OpSpec(("values", "axis", "direction"), _sort(indices=False)),
    ("argsort",): OpSpec(("values", "axis", "direction", "stable"), _sort(indices=True)),
})
#: tf_keras records some parameters under TF's own names; these are the lowering's names for them.
_TF_RENAMES = {"input": "x", "input_tensor": "x", "tensor": "x", "a": "a", "t": "x", "images": "x",
               "slice_spec": "key", "features": "features", "value": "x", "params": "x"}


def _silu(c: OpCall, key: str) -> Value:
    """``tf.nn.silu``/``swish``: ``x · sigmoid(beta · x)``, TF's formula (beta cast to ``x``'s float32)."""
    beta = c.value("beta", 1.0)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise c.gap(f"beta={beta!r}")
    x = c.tensor(key)
    if float(beta) == 1.0:
        return ACTIVATIONS["silu"](c.ctx, x, "act")
    _floats(c, x)
    scaled = c.ctx.scalar_op("Mul", x, float(np.float32(beta)), "beta_x")
    return c.ctx.binary("Mul", x, c.ctx.unary("Sigmoid", scaled, label="sigmoid"), label="silu")


def _gelu_of(c: OpCall, key: str) -> Value:
    fn = _gelu_tanh if c.value("approximate", False) else ACTIVATIONS["gelu"]
    return fn(c.ctx, c.tensor(key), "gelu")


def _leaky_of(c: OpCall, key: str, alpha: str, default: float) -> Value:
    return c.ctx.unary("LeakyRelu", c.tensor(key), {"alpha": float(c.value(alpha, default))})


def _softmax_of(c: OpCall, key: str, op: str) -> Value:
    """Softmax/LogSoftmax over one axis (TF.js's run over the last one: another is swapped there and back). Several
    axes stay a gap: the saved Keras 3 operation hands them to ``tf.nn.softmax``, which fails on them."""
    x = c.tensor(key)
    if "axis" in c.arguments and c.arguments["axis"] is None and c.ctx.class_name.startswith(KERAS_OP_PREFIX):
        raise c.gap("axis=None (Keras 3 normalizes over the flattened tensor, batch included)")
    axis = c.value("axis", -1)
    rank = len(c.ctx.shape(x))
    axes = sorted({_axis(c, a, rank) for a in (axis if isinstance(axis, list) else [axis])})
    if len(axes) != 1:
        raise c.gap(f"axis={axis}")
    if axes[0] == rank - 1:
        return c.ctx.unary(op, x)
    perm = list(range(rank))
    perm[axes[0]], perm[-1] = rank - 1, axes[0]
    moved = c.ctx.unary(op, c.ctx.transpose(x, perm, "axis_last"))
    return c.ctx.transpose(moved, perm, "axis_back")


_K2 = ("x1", "x2")
#: Keras 3 Resize records every option; fill_mode/fill_value only matter with pad_to_aspect_ratio (refused).
_RESIZE_OPTIONS = ("size", "interpolation", "antialias", "crop_to_aspect_ratio", "pad_to_aspect_ratio", "fill_mode",
                   "fill_value", "data_format")
KERAS_OPS: dict[str, OpSpec] = _table({
    ("Add",): OpSpec(_K2, lambda c: _k3_binary(c, "AddV2")),
    ("Subtract",): OpSpec(_K2, lambda c: _k3_binary(c, "Sub")),
    ("Multiply",): OpSpec(_K2, lambda c: _k3_binary(c, "Mul")),
    ("Divide", "TrueDivide"): OpSpec(_K2, lambda c: _k3_binary(c, "RealDiv")),
    ("Maximum",): OpSpec(_K2, lambda c: _k3_binary(c, "Maximum")),
    ("Minimum",): OpSpec(_K2, lambda c: _k3_binary(c, "Minimum")),
    ("Power",): OpSpec(_K2, lambda c: _k3_binary(c, "Pow")),
    ("FloorDivide",): OpSpec(_K2, _integer_division("FloorDiv")),
    ("Mod",): OpSpec(_K2, _integer_division("FloorMod")),
    ("Greater",): OpSpec(_K2, lambda c: _k3_binary(c, "Greater", boolean=True)),
    ("GreaterEqual",): OpSpec(_K2, lambda c: _k3_binary(c, "GreaterEqual", boolean=True)),
    ("Less",): OpSpec(_K2, lambda c: _k3_binary(c, "Less", boolean=True)),
    ("LessEqual",): OpSpec(_K2, lambda c: _k3_binary(c, "LessEqual", boolean=True)),
    ("Equal",): OpSpec(_K2, lambda c: _k3_binary(c, "Equal", boolean=True)),
    ("NotEqual",): OpSpec(_K2, lambda c: _k3_binary(c, "NotEqual", boolean=True)),
    ("Negative",): OpSpec(_X, _unary("Neg")), ("Absolute", "Abs"): OpSpec(_X, _unary("Abs")),
    ("Exp",): OpSpec(_X, _unary("Exp")), ("Log",): OpSpec(_X, _unary("Log")),
    ("Sqrt",): OpSpec(_X, _unary("Sqrt")), ("Rsqrt",): OpSpec(_X, _unary("Rsqrt")),
    ("Square",): OpSpec(_X, _square), ("Reciprocal",): OpSpec(_X, _unary("Reciprocal")),
    ("Floor",): OpSpec(_X, _unary("Floor")), ("Ceil",): OpSpec(_X, _unary("Ceil")),
    ("Sin",): OpSpec(_X, _unary("Sin")), ("Cos",): OpSpec(_X, _unary("Cos")),
    ("Erf",): OpSpec(_X, _unary("Erf")), ("Sign",): OpSpec(_X, _unary("Sign")),
    ("Log1p",): OpSpec(_X, _unary("Log1p")),
    ("Tanh",): OpSpec(_X, _unary("Tanh")), ("Sigmoid",): OpSpec(_X, _unary("Sigmoid")),
    ("Relu",): OpSpec(_X, _unary("Relu")), ("Relu6",): OpSpec(_X, _unary("Relu6")),
    ("Selu",): OpSpec(_X, _unary("Selu")), ("Softplus",): OpSpec(_X, _unary("Softplus")),
    ("Softsign",): OpSpec(_X, _activation("softsign")), ("Silu", "Swish"): OpSpec(_X, _activation("silu")),
    ("HardSigmoid",): OpSpec(_X, lambda c: _hard_sigmoid_v3(c.ctx, c.tensor("x"), "act")),
    ("HardSilu", "HardSwish"): OpSpec(_X, lambda c: _hard_swish(c.ctx, c.tensor("x"), "act")),
    ("Mish",): OpSpec(_X, _activation("mish")), ("LogSigmoid",): OpSpec(_X, _activation("log_sigmoid")),
    ("LeakyRelu",): OpSpec(_X, lambda c: _leaky_of(c, "x", "negative_slope", 0.2), ("negative_slope",)),
    ("Elu",): OpSpec(_X, _elu, ("alpha",)),
    ("Gelu",): OpSpec(_X, lambda c: _gelu_of(c, "x"), ("approximate",)),
    ("Softmax",): OpSpec(_X, lambda c: _softmax_of(c, "x", "Softmax"), ("axis",)),
    ("LogSoftmax",): OpSpec(_X, lambda c: _softmax_of(c, "x", "LogSoftmax"), ("axis",)),
    ("Reshape",): OpSpec(_X, lambda c: _reshape(c, "newshape"), ("newshape",)),
    ("Transpose",): OpSpec(_X, lambda c: _transpose(c, "axes"), ("axes",)),
    ("Concatenate",): OpSpec(("values",), _concat, ("axis",)),
    ("Stack",): OpSpec(("values",), _stack, ("axis",)),
    ("ExpandDims",): OpSpec(_X, _expand_dims, ("axis",)),
    ("Squeeze",): OpSpec(_X, _squeeze, ("axis",)),
    ("Cast",): OpSpec(_X, _cast, ("dtype",)),
    ("Clip",): OpSpec(_X, lambda c: _clip(c, "x_min", "x_max"), ("x_min", "x_max")),
    ("Matmul",): OpSpec(("a", "b"), _keras3_matmul),
    ("Resize",): OpSpec(_X, lambda c: _resize(c, "interpolation", nearest_half_pixel=True), _RESIZE_OPTIONS),
    ("Tile",): OpSpec(_X, lambda c: _tile(c, "repeats"), ("repeats",)),
    ("Pad",): OpSpec(("x", "constant_values"), lambda c: _pad(c, "pad_width", "mode", "constant_values"),
                     ("pad_width", "mode")),
    ("GetItem",): OpSpec(("x", "key"), _getitem),
    ("Expm1",): OpSpec(_X, _unary("Expm1")),
    ("Log2",): OpSpec(_X, _log_base(2)), ("Log10",): OpSpec(_X, _log_base(10)),
    ("Round",): OpSpec(_X, _round, ("decimals",)),
    ("Var",): OpSpec(_X, _variance(std=False), ("axis", "keepdims")),
    ("Std",): OpSpec(_X, _variance(std=True), ("axis", "keepdims")),
    ("ZerosLike",): OpSpec(_X, _filled_like(0), ("dtype",)),
    ("OnesLike",): OpSpec(_X, _filled_like(1), ("dtype",)),
    ("Einsum",): OpSpec(("operand_0", "operand_1"), _einsum, ("subscripts",)),
    ("Swapaxes",): OpSpec(_X, _swapaxes, ("axis1", "axis2")),
    ("Moveaxis",): OpSpec(_X, _moveaxis, ("source", "destination")),
    ("Flip",): OpSpec(_X, _flip, ("axis",)),
    ("Repeat",): OpSpec(_X, _repeat, ("repeats", "axis")),
    ("Cumsum",): OpSpec(_X, _cumulative("Cumsum"), ("axis", "dtype")),
    ("Cumprod",): OpSpec(_X, _cumulative("Cumprod"), ("axis", "dtype")),
    ("Where",): OpSpec(("condition", "x1", "x2"), _where),
    ("LogicalAnd",): OpSpec(_K2, lambda c: _k3_logical(c, "LogicalAnd")),
    ("LogicalOr",): OpSpec(_K2, lambda c: _k3_logical(c, "LogicalOr")),
    ("LogicalXor",): OpSpec(_K2, lambda c: _k3_logical(c, "LogicalXor")),
    ("LogicalNot",): OpSpec(_X, _logical_not),
    ("Any",): OpSpec(_X, _bool_reduce("Any"), ("axis", "keepdims")),
    ("All",): OpSpec(_X, _bool_reduce("All"), ("axis", "keepdims")),
    **{(name,): OpSpec(_X, _reduce(op), _REDUCE_OPTIONS) for name, op in (("Mean", "Mean"), ("Max", "Max"),
                                                          ("Min", "Min"))},
    ("Prod",): OpSpec(_X, _prod, _REDUCE_OPTIONS),
    ("Sum",): OpSpec(_X, _keras_sum, _REDUCE_OPTIONS),
    **{(name,): OpSpec(_X, _float_op(op, "x")) for name, op in (
        ("Tan", "Tan"), ("Arcsin", "Asin"), ("Arccos", "Acos"), ("Arctan", "Atan"), ("Sinh", "Sinh"), ("Cosh", "Cosh"),
        ("Arcsinh", "Asinh"), ("Arccosh", "Acosh"), ("Arctanh", "Atanh"))},
    ("Arctan2",): OpSpec(_K2, _float_op("Atan2", "x1", "x2")),
    ("Isnan",): OpSpec(_X, _is_special("IsNan")), ("Isinf",): OpSpec(_X, _is_special("IsInf")),
    ("Isfinite",): OpSpec(_X, _is_special("IsFinite")),
    ("DivideNoNan",): OpSpec(_K2, lambda c: _divide_no_nan(_renamed(c, x1="x", x2="y"))),
    ("Logsumexp",): OpSpec(_X, _logsumexp, ("axis", "keepdims")),
    ("Argmax",): OpSpec(_X, _arg_extreme("ArgMax"), ("axis", "keepdims")),
    ("Argmin",): OpSpec(_X, _arg_extreme("ArgMin"), ("axis", "keepdims")),
    ("OneHot",): OpSpec(("indices",), lambda c: _one_hot(c, "num_classes"), ("num_classes", "axis", "dtype", "sparse")),
    ("Take",): OpSpec(("x", "indices"), _gather, ("axis",)),
    ("TakeAlongAxis",): OpSpec(("x", "indices"), _take_along_axis, ("axis",)),
    ("StopGradient",): OpSpec(_X, _identity),
    ("Split",): OpSpec(_X, _split("indices_or_sections"), ("indices_or_sections", "axis")),
    ("Unstack",): OpSpec(_X, _unstack, ("num", "axis")),
    ("TopK",): OpSpec(_X, _top_k, ("k", "sorted")),
    ("Sort",): OpSpec(_X, _sort(indices=False), ("axis",)),
    ("Argsort",): OpSpec(_X, _sort(indices=True), ("axis",)),
})


def _renamed(c: OpCall, **names: str) -> OpCall:
    """``c`` with arguments renamed (Keras 3's ``x1``/``x2`` to a shared lowering's ``x``/``y``)."""
    for old, new in names.items():
        c.arguments.setdefault(new, c.arguments.pop(old, None))
    return c


def _k3_binary(c: OpCall, op: str, *, boolean: bool = False) -> Value:
    c.arguments.setdefault("x", c.arguments.pop("x1", None))
    c.arguments.setdefault("y", c.arguments.pop("x2", None))
    if op == "RealDiv":
        return _divide(c)
    if op == "Pow":
        return _pow(c)
    return _binary(op, boolean=boolean)(c)


def _k3_logical(c: OpCall, op: str) -> Value:
    c.arguments.setdefault("x", c.arguments.pop("x1", None))
    c.arguments.setdefault("y", c.arguments.pop("x2", None))
    return _logical(op)(c)


# -- registration -----------------------------------------------------------------------------------------
def _spec(class_name: str, config: dict[str, Any]) -> tuple[str, OpSpec | None]:
    """The function an op layer records, and its lowering (None when there is none)."""
    if class_name.startswith(KERAS_OP_PREFIX):
        name = class_name[len(KERAS_OP_PREFIX):]
        return name, KERAS_OPS.get(name)
    function = str(config.get("function") or "")
    return function, TF_FUNCTIONS.get(function)


def reads_held_floats(class_name: str, config: dict[str, Any]) -> bool:
    """Whether an op layer is a cast or ``shape`` (:data:`_HELD_FLOAT_READERS`): it reads float16/float64 tensors as
    Keras holds them, its result of the dtype it names (never float16 arithmetic, :func:`.float_widths.op_layer_in_half`)."""
    return _spec(class_name, config)[0] in _HELD_FLOAT_READERS


#: Op layers whose result has the dtype their ``dtype`` argument names, whatever they read (besides the casts):
#: ``saturate_cast``, lowered to float32 and integer targets only.
_DTYPE_NAMING = frozenset({"SaturateCast", "saturate_cast", "dtypes.saturate_cast"})


#: tf_keras functions whose result is float32 of float16 inputs, whatever their arguments (measured one by one in TF
#: 2.21 for every function :data:`TF_FUNCTIONS` lowers, session 33: they convert the images to float32 first):
#: taken for float16, ``(per_image_standardization(h) + 1000) - 1000`` was 0.12 of the range off, psnr's 0.086,
#: ``zero_fraction``'s 0.013, ssim's 0.005, silently.
_FLOAT32_OF_HALF_FUNCTIONS = frozenset({
    "image.per_image_standardization", "compat.v1.image.per_image_standardization", "image.psnr",
    "compat.v1.image.psnr", "image.ssim", "math.zero_fraction", "nn.zero_fraction"})


def names_a_wider_result(class_name: str, config: dict[str, Any]) -> bool:
    """Whether an op layer's result is of a dtype other than float16 that it names (``saturate_cast(h, "float32")``
    of a float16 ``h``): it does not compute in float16 (H12, session 28: a Keras 3 ``saturate_cast`` of a mixed
    Dense's result times 30000 rounded to inf where Keras gives 85019); nor does a tf_keras function that gives
    float32 (:data:`_FLOAT32_OF_HALF_FUNCTIONS`) or a resize whose kernel does (:func:`resize_gives_float32`)."""
    function = _spec(class_name, config)[0]  # (float16 is not among saturate_cast's lowered targets)
    return function in _DTYPE_NAMING or class_name == "TFOpLambda" and (
        function in _FLOAT32_OF_HALF_FUNCTIONS or resize_gives_float32(function, config))


#: tf_keras resizes that make a new tensor of every image: TF's ``ResizeBilinear`` kernel gives float32 whatever it
#: reads, ``ResizeNearestNeighbor`` the images' dtype (measured, TF 2.21). Not v1 ``resize``/``resize_images``, which
#: hand images of the target size back themselves (:data:`.call_facts.V1_RESIZES`).
_NEW_TENSOR_RESIZES = frozenset({"image.resize", "compat.v1.image.resize_bilinear", "image.resize_with_pad",
                                 "compat.v1.image.resize_image_with_pad"})


def resize_gives_float32(function: Any, config: dict[str, Any]) -> bool:
    """Whether every recorded call of a tf_keras resize of :data:`_NEW_TENSOR_RESIZES` is bilinear, so gives float32
    of float16 images (session 33: taken for float16, ``(resize(h) + 1000) - 1000`` was rounded to float16's 0.5
    steps, 0.48 of the range off, and the mask a nested float16 model's cast drops was kept, refused by name)."""
    if function not in _NEW_TENSOR_RESIZES:
        return False
    return function == "compat.v1.image.resize_bilinear" or not _recorded_methods(config) & _DTYPE_KEEPING_METHODS


#: Resize methods whose kernel keeps the images' dtype (``ResizeNearestNeighbor``); every other one (bilinear,
#: bicubic, area, lanczos..., antialiased or not) gives float32 of float16 (measured, TF 2.21). None: not read.
_DTYPE_KEEPING_METHODS = frozenset({"nearest", 1, None})


def v1_resize_gives_float32(function: Any, config: dict[str, Any], height_width: Sequence[Any] | None) -> bool:
    """Whether a tf_keras v1 ``resize``/``resize_images`` (:data:`.call_facts.V1_RESIZES`) of images of static
    ``height_width`` resizes them with a float32-giving kernel: to another size (the same one hands the images
    back, float16), by a method not :data:`_DTYPE_KEEPING_METHODS` (session 33: taken for float16, ``(resize(h) +
    1000) - 1000`` was 0.084 of the range off, silently)."""
    if function not in ("compat.v1.image.resize", "compat.v1.image.resize_images"):
        return False
    if _recorded_methods(config) & _DTYPE_KEEPING_METHODS:
        return False
    sizes = {tuple(node[3].get("size") or ()) if isinstance(node, list) and len(node) > 3 and
             isinstance(node[3], dict) else None for node in config.get(CALLS_KEY) or [None]}
    return height_width is not None and None not in height_width and tuple(height_width) not in sizes


def resize_keeps_dtype(function: Any, config: dict[str, Any]) -> bool:
    """Whether every recorded call of tf_keras's ``image.resize`` (or v1 ``resize_nearest_neighbor``) is nearest:
    ``ResizeNearestNeighbor`` gives the images' dtype, float16 of float16 (measured, TF 2.21)."""
    if function == "compat.v1.image.resize_nearest_neighbor":
        return True
    return function == "image.resize" and _recorded_methods(config) == {"nearest"}


def _recorded_methods(config: dict[str, Any]) -> set[Any]:
    """The ``method`` of each call a tf_keras TFOpLambda config records (``bilinear`` where not given; a call not
    read as None, so the set is never taken for a known one)."""
    nodes = config.get(CALLS_KEY)
    if not isinstance(nodes, list) or not nodes:
        return {None}
    return {node[3].get("method", "bilinear") if isinstance(node, list) and len(node) > 3 and
            isinstance(node[3], dict) else None for node in nodes}


def op_layer_check(config: dict[str, Any], class_name: str = "TFOpLambda") -> str | None:
    function, spec = _spec(class_name, config)
    return None if spec is not None else f"function {function!r}"


def _bind(c_name: str, spec: OpSpec, args: Sequence[Any], kwargs: dict[str, Any], extra: dict[str, Any],
          renames: dict[str, str]) -> dict[str, Any]:
    """Arguments by parameter name; an argument the lowering does not read is a gap (it may matter)."""
    if len(args) > len(spec.params):
        raise Unsupported(f"{c_name}: {len(args)} positional arguments")
    bound = dict(zip(spec.params, args))
    for key, value in [*extra.items(), *kwargs.items()]:
        if key == "name":
            continue
        key = renames.get(key, key)
        if key not in spec.params and key not in spec.options:
            raise Unsupported(f"{c_name}: argument {key!r}")
        bound[key] = value
    return bound


def lower_op_layer(ctx: LayerContext) -> Value:
    function, spec = _spec(ctx.class_name, ctx.config)
    if spec is None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): function {function!r}")
    calls = ctx.config.get(CALLS_KEY)
    if not isinstance(calls, list) or len(calls) != 1:
        raise Unsupported(f"layer {ctx.name!r} ({function}): {len(calls or [])} recorded calls (op layers have one)")
    try:
        args, kwargs = parse_call(calls[0])
    except ValueError as err:
        raise ctx.error(f"has {err}") from None
    keras3 = ctx.class_name.startswith(KERAS_OP_PREFIX)
    extra = dict(ctx.config.get(OP_ARGUMENTS_KEY) or {}) if keras3 else {}
    extra = {k: v for k, v in extra.items() if k not in _KERAS_OP_BOOKKEEPING}
    label = f"layer {ctx.name!r} ({function})"
    call = OpCall(ctx, function, _bind(label, spec, args, kwargs, extra, {} if keras3 else _TF_RENAMES))
    if function in INTEGER_KEEPING_OPS and first_argument_is_constant(ctx.config):
        constant_moved(call, spec.params[0])
    if any(v.dtype in (DType.COMPLEX64, DType.COMPLEX128) for v in ctx.inputs):  # held as (real, imag) parts
        from .op_layers_complex import complex_step

        return complex_step(call, spec)
    from .float64_jumps import refuse_float64_jumps  # x // 0.1 of a float64 model input: float32 jumps

    refuse_float64_jumps(call)
    _float64_inputs_held(ctx, function)
    if function not in _HELD_FLOAT_READERS:
        _float16_promoted(ctx, keras3)
    if any(v.dtype in HELD_FLOATS for v in ctx.inputs) and function not in _HELD_FLOAT_READERS:
        return _float64_step(call, spec)
    from .op_layers_tensor_args import lower_at_run_time  # ``axis=tf.shape(y)[0] - 1``, a run-time ``perm``...

    out = lower_at_run_time(call, spec.lower)
    out = spec.lower(call) if out is None else out
    from .float64_compare import mark_op_results  # float64 values held exactly or not, for comparisons later

    mark_op_results(ctx.graph, function, list(ctx.inputs), out, function in _HELD_FLOAT_READERS)
    return out


def _float64_inputs_held(ctx: LayerContext, function: str) -> None:
    """A float64 model input (fed as float32, exactly Keras's float64 values of it) read by float64 arithmetic, a
    reduction or exp/log/logsumexp: held as a float64 Value held exactly, so the float64 rules apply (TF's float64
    argmax of ``[-inf, -FLT_MAX]`` is 1, a float64 sum of ``[2^24, 1, 1, -2^24]`` 2, where float32 gives 0; exp's
    result held rounded, its float64 readers named, as of ``tf.cast(x, tf.float64)``: an argmax of ``exp(x)`` is 0
    where float64's ``exp(-200)`` is not); other readers compute in float32, as float64 layers do (the float widths
    warning names them)."""
    from .float_widths import is_float64_input
    from .op_layers_tf_gaps import FLOAT64_IN_FLOAT32, FLOAT64_PAIR_STEPS, FLOAT64_REDUCTIONS

    read = [i for i, v in enumerate(ctx.inputs) if is_float64_input(ctx.graph, v)]
    if not read:
        return
    if function not in FLOAT64_PAIR_STEPS | FLOAT64_REDUCTIONS | FLOAT64_IN_FLOAT32:  # exp: as of a float64 cast
        if function not in _HELD_FLOAT_READERS:
            _float64_input_notice(ctx)
        return
    inputs = list(ctx.inputs)
    for i in read:
        v = inputs[i]
        inputs[i] = ctx.op("Cast", [v], {"SrcT": DType.FLOAT32, "DstT": DType.FLOAT64, "Truncate": False},
                           dtype=DType.FLOAT64, shape=v.shape, label=f"float64_input_{i}")
        _EXACTLY_HELD.setdefault(ctx.graph, {})[id(inputs[i])] = inputs[i]
    ctx.inputs = inputs


#: The graphs whose op layers computing a float64 model input in float32 were named (once per model).
_FLOAT64_INPUT_NOTICED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _float64_input_notice(ctx: LayerContext) -> None:
    """Once per model, naming the first layer: an op layer other than a cast, float64 arithmetic or a reduction
    computes a float64 model input in float32 (``exp``, ``where``...), where Keras computes in float64."""
    if ctx.graph in _FLOAT64_INPUT_NOTICED:
        return
    _FLOAT64_INPUT_NOTICED[ctx.graph] = True
    from .core import warn_once

    warn_once(ctx, f"float64 model inputs read by op layers (from {ctx.name!r} on) other than casts, float64 + - · / "
                   "sqrt neg abs and reductions are computed in float32 by TF.js, which has no float64 (within "
                   "float32's precision of each step, about 1e-7 of the range; more after a cancellation)")


def constant_moved(c: OpCall, first: str) -> None:
    """A function that only moves its first argument's values (``tile``, ``reshape`` ...), called on a constant:
    the constant made a tensor input of TensorFlow's dtype for it (bools bool, integers int32, floats float32), so the
    result carries that dtype, not the sizes' (:func:`.integer_dtypes.keras_result_dtype` then tracks none)."""
    value = c.value(first)
    array = np.asarray(value)
    if array.dtype.kind == "b":
        dtype = DType.BOOL
    elif array.dtype.kind in "iu" and array.size and (array.min() < -2**31 or array.max() >= 2**31):
        raise c.gap(f"a constant {first} past int32")
    elif array.dtype.kind in "iuf":
        dtype = DType.FLOAT32 if array.dtype.kind == "f" else DType.INT32
    else:
        raise c.gap(f"a constant {first} {str(value)[:40]}")
    c.ctx.inputs = [*c.ctx.inputs, c.ctx.const(array.astype(dtype.numpy), f"{first}_constant")]
    c.arguments[first] = TensorArg(("", -1, 0), len(c.ctx.inputs) - 1)


def _float16_promoted(ctx: LayerContext, keras3: bool) -> None:
    """Keras 3 promotes a float16 tensor read beside a float32 one to float32 (an exact cast): the float16 tensors
    of an op layer not computing in float16 (:func:`.float_widths.op_layer_in_half`, which hands the walk's float16
    ones in as marked float32 Values) read as float32, unmarked: the layer computes in float32, as Keras's does.
    tf_keras (no promotion) only beside the float16 results of layers computed in float32 (an LSTM's,
    :func:`.float_widths.mark_half_held`), as ops on those are computed (the float16 notice says so)."""
    from .float_widths import held_half_promoted, is_half, saved_float_constant

    floats = [(v, ctx.keras_dtypes[i] if i < len(ctx.keras_dtypes) else None) for i, v in enumerate(ctx.inputs)
              if v.dtype in (DType.FLOAT32, DType.FLOAT64)]
    saved = keras3 and saved_float_constant(ctx.class_name, ctx.config)  # a float32 array argument promotes too
    if saved:  # an LSTM's float16 result, held unrounded: Keras casts its float16 values up
        ctx.inputs = held_half_promoted(ctx.graph, ctx.name, list(ctx.inputs))
    if not any(v.dtype == DType.FLOAT16 for v in ctx.inputs) or not (floats or saved) or \
            any(v.dtype == DType.FLOAT64 or held is not None for v, held in floats) or \
            not (keras3 or all(is_half(ctx.graph, v) for v, _ in floats)):
        return  # (integers held as float32 beside float16: Keras gives float16, not lowered)
    ctx.inputs = [ctx.op("Cast", [v], {"SrcT": DType.FLOAT16, "DstT": DType.FLOAT32, "Truncate": False},
                         dtype=DType.FLOAT32, shape=v.shape, label=f"float16_as_float32_{i}")
                  if v.dtype == DType.FLOAT16 else v for i, v in enumerate(ctx.inputs)]


def _float64_step(c: OpCall, spec: OpSpec) -> Value:
    """A reader of a float64/float16 tensor other than a cast: ``+ - · / sqrt neg abs`` of float64 tensors are
    computed on pairs of float32 (:func:`.op_layers_tf_gaps.float64_step`); any other float64 reader is a gap (it
    would round otherwise). float16 tensors read alone are the walk's (:func:`.float_widths.held_half_inputs`), beside
    float32 ones Keras 3's promotion (:func:`_float16_promoted`): what reaches here (tf_keras, float64) is a gap."""
    from .op_layers_tf_gaps import float64_step

    if any(v.dtype == DType.FLOAT16 for v in c.ctx.inputs):
        other = sorted({str(v.dtype.numpy) for v in c.ctx.inputs if v.dtype in (DType.FLOAT32, DType.FLOAT64)})
        beside = f" beside a {' and a '.join(other)} one" if other else ""
        raise c.gap(f"a float16 tensor{beside} (TF.js has no float16: held as float32; float16 arithmetic on float16 "
                    "tensors alone is rounded as TF rounds it)")
    return float64_step(c, spec)


@lowers(*TF_OP_LAYERS, check=op_layer_check)
def tf_op_layer(ctx: LayerContext) -> Value:
    return lower_op_layer(ctx)


def register_op_layers(*, keras_ops: dict[tuple[str, ...], OpSpec] | None = None,
                       tf_functions: dict[tuple[str, ...], OpSpec] | None = None) -> None:
    """Adds a family module's entries (``op_layers_*.py``) to the tables; one function per name, never two."""
    for table, entries in ((KERAS_OPS, _table(keras_ops or {})), (TF_FUNCTIONS, _table(tf_functions or {}))):
        taken = sorted(set(entries) & set(table))
        if taken:
            raise ValueError(f"op layer lowerings registered twice: {taken}")
        table.update(entries)
        if table is KERAS_OPS:
            for name in entries:
                lowers(KERAS_OP_PREFIX + name, check=lambda config, _cls=KERAS_OP_PREFIX + name: op_layer_check(
                    config, _cls))(lower_op_layer)


for _name in KERAS_OPS:
    lowers(KERAS_OP_PREFIX + _name, check=lambda config, _cls=KERAS_OP_PREFIX + _name: op_layer_check(
        config, _cls))(lower_op_layer)
