"""float64 op layers that move values, and float64 ``tanh`` and ``sigmoid``, without float64.

TF.js has no float64: a float64 tensor of an op layer is held as float32 in one of three ways
(:mod:`.op_layers_tf_gaps`): exactly (a float32 tensor cast up), as a pair ``hi + lo`` of float32 (float64
arithmetic), or rounded (``exp``, ``log``: the float32 result of a float64 function). Session 28:

- Functions that only move values (``reshape``, slices, ``concat``, ``stack``, ``tile``, ``transpose``...) move the
  float32 values of each kind as they are, a pair's ``hi`` and ``lo`` alike (the ``lo`` of an exactly held operand
  being 0), so the result is held as its inputs were: exactly when they all were, as a pair when none was rounded,
  else rounded (refused before: "a float64 tensor (TF.js has none ...)", also after an ``exp``, whose float64
  result the traced path computes in float32 too).
- ``tanh`` and ``sigmoid`` of a float64 tensor are computed in float32 on the ``hi`` of its pair, plus the
  first-order term of ``lo`` (``f(hi + lo) = f(hi) + f'(hi)·lo``; ``|lo| <= 2^-24·|hi|``), held rounded, and named
  in one notice with their measured bound (of an exp or log result too: their slope keeps the argument's rounding
  within the bound). Of a value held rounded with a larger error of its own (a logsumexp, tanh or sigmoid
  result, a float64 layer's float32 result: not in ``WITHIN_ULPS``) they are refused by name (review R2: tanh of a
  logsumexp of 10 000 values was 970 times the bound off on wasm). ``sin`` and ``cos`` of tensors of unknown
  magnitude were refused (TF.js's float32 Sin/Cos of a rounded argument keep no digit past 1e8).

Session 29: ``gather``/``gather_nd``/``take``/``take_along_axis`` move values as the moves above; ``where`` selects
each value from one branch (:func:`float64_selected`). tanh and sigmoid results are :class:`Bounded` (within
:data:`SMOOTH_ERROR`, magnitude 1): ``+ - · / neg abs`` of them with constants, exactly held tensors and each other
are computed on pairs with the error carried (:func:`bounded_step`), and ``sin``/``cos`` of such a value within
±:data:`PERIODIC_LIMIT` are lowered (:func:`float64_periodic`); every other reader sees them held rounded.

Session 32 (issue 16): what the traced path converts with its float64 notice and no bound holds for (sin/cos of
values of unknown magnitude, products of tanh/sigmoid results and tensors of unknown magnitude, divisions by
tensors) is computed in float32 as ``--loader=tensorflow`` computes it, held rounded, and named in that same notice
(:func:`name_in_float64_notice`) instead of refused; ``+ - · / sqrt neg abs`` of such values too (:func:`as_traced_step`).

Session 33 (issue 16): every other float64 function of such a value (tanh, sigmoid, the reductions, exp, log,
logsumexp, softmax, norm...) is its float32 lowering, as traced (:func:`read_as_traced`); moves, where and relu of it
stay such values (:func:`keep_traced`). Then (h2b) what pairs and bounds refused while the traced path converts it is
computed the same way: tanh/sigmoid of values held with an error of their own, ``+ - · /``, reductions, exp and log
of exp/log/tanh results (:func:`held_in_float32`), functions no path covers (softmax, square, norm, maximum...:
:func:`in_float32_as_traced`; floor, round, mod... refused by name: they jump), and argmax/argmin/top_k of pairs and
of tanh or traced values, ties of float32 values by index (:func:`ordered_as_traced`; of exp/log results refused:
float32's range ties exp(-200) and exp(-150); Keras 3's argmax refused, as its traced conversion is). A constant outside float32's range stays refused (1e40 would be Inf).
"""
from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import TensorArg
from .op_layers import _EXACTLY_HELD, KERAS_OP_PREFIX, OpCall, OpSpec, _select, finite_or_zero

F32, F64 = DType.FLOAT32, DType.FLOAT64
log = logging.getLogger(__name__)

#: tf_keras functions and Keras 3 operations that only move their float64 operands' values (a concat or stack of
#: float64 tensors, or of float32 ones standing for float64 values; integers among them are a gap).
FLOAT64_MOVES = frozenset({
    "reshape", "transpose", "compat.v1.transpose", "expand_dims", "squeeze", "compat.v1.squeeze",
    "__operators__.getitem", "tile", "identity", "concat", "stack",
    "Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Tile", "Concatenate", "Stack",
    *("gather", "compat.v1.gather", "gather_nd", "compat.v1.gather_nd", "Take", "TakeAlongAxis")})
#: The moves that pick values at integer indices (session 29): only their first operand is a float one.
_GATHERS = frozenset({"gather", "compat.v1.gather", "gather_nd", "compat.v1.gather_nd", "Take", "TakeAlongAxis"})
#: tf_keras's ``tf.where`` (three arguments) and Keras 3's ``where``: each value is one of its branches' (session 29).
FLOAT64_SELECTS = frozenset({"where", "where_v2", "Where"})
#: The moves that join their float operands (each must stand for a float64 value).
_JOINS = frozenset({"concat", "stack", "Concatenate", "Stack"})
_TANH = frozenset({"math.tanh", "nn.tanh", "Tanh"})
_SIGMOID = frozenset({"math.sigmoid", "nn.sigmoid", "sigmoid", "Sigmoid"})
#: Smooth float64 functions computed in float32 with the first-order term of a pair's ``lo``.
FLOAT64_SMOOTH = _TANH | _SIGMOID
#: The graphs whose smooth float64 functions were named (once per model).
_NOTICED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: float64 ``sin`` and ``cos``: lowered only of arguments whose magnitude is bounded (:func:`float64_periodic`).
FLOAT64_PERIODIC = frozenset({"math.sin", "math.cos", "Sin", "Cos", "math.tan", "Tan"})
_SIN = frozenset({"math.sin", "Sin"})
#: float64 ``tan``: never bounded (its poles), always as the traced path computes it (:func:`_periodic_in_float32`).
_TAN = frozenset({"math.tan", "Tan"})
#: tanh and sigmoid results are within this of Keras's float64 result (their notice). Measured (session 29, h1b:
#: 16M arguments each of 8 pair and cast arguments, cpu and wasm) up to 1.047e-7 on wasm for tanh of a pair argument
#: (5.4e-8 on cpu); 1e-7 before, which review R1 found exceeded (1.037e-7): about 20% of margin.
SMOOTH_ERROR = 1.25e-7
#: The largest argument magnitude of a lowered float64 sin/cos, and their error there: TF.js's float32 Sin and Cos
#: measured within 3.3e-7 of float64's up to |x| = 1000 (wasm; cpu 3e-8), 0.3 off at 3e38 (session 29).
PERIODIC_LIMIT, PERIODIC_ERROR = 100.0, 5e-7
#: Per graph, the float64 Values held with an absolute error bound of their own (:class:`Bounded`):
#: ``id(value) -> Bounded``. Every other reader sees them as held rounded (``loose``): refused or moved as such.
_BOUNDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: The graphs whose bounded float64 arithmetic was named (once per model).
_NOTICED_BOUNDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Bounded:
    """A float64 value computed from tanh/sigmoid results: ``hi`` (and ``lo``) within ``error`` of Keras's float64
    value, whose magnitude is at most ``magnitude`` (inf where unknown); ``value`` the Value itself, kept alive."""
    hi: Value
    lo: Value | None
    error: float
    magnitude: float
    value: Value


def _remember_bounded(c: OpCall, out: Value, hi: Value, lo: Value | None, error: float, magnitude: float) -> Value:
    _BOUNDED.setdefault(c.ctx.graph, {})[id(out)] = Bounded(hi, lo, error, magnitude, out)
    return out


def _held(c: OpCall, v: Value, name: str, bounded: bool = False) -> tuple[Value, Value | None, str]:
    """A float64 Value's float32 ``hi``, its ``lo`` (None but for pairs) and how it is held: ``exact``, ``pair``,
    ``rounded`` (within a few float32 ulps: exp, log) or ``loose`` (held rounded with a larger error of its own);
    where ``bounded`` (readers that carry a :class:`Bounded` value's bound: moves) ``bounded`` for those."""
    from .op_layers_tf_gaps import _PAIRS, WITHIN_ULPS

    known = _BOUNDED.get(c.ctx.graph, {}).get(id(v)) if bounded else None
    if known is not None:
        return known.hi, known.lo, "bounded"

    pair = _PAIRS.get(c.ctx.graph, {}).get(id(v))
    if pair is not None:
        return pair[0], pair[1], "pair"
    hi = c.ctx.op("Cast", [v], {"SrcT": F64, "DstT": F32, "Truncate": False}, dtype=F32, shape=v.shape,
                  label=f"held_float32_{name}")
    if id(v) in _EXACTLY_HELD.get(c.ctx.graph, {}):
        return hi, None, "exact"
    return hi, None, "rounded" if id(v) in WITHIN_ULPS.get(c.ctx.graph, {}) else "loose"


def _float32_held(c: OpCall, v: Value) -> tuple[Value, None, str]:
    """A float32 operand moved beside float64 ones, as the float64 value Keras gives it: computed in float32 for a
    float64 one (a float64 layer's result): held ``loose`` (its error is the layer's); a float64 model input held
    as float32 (or moved from one), or a
    Keras 3 float32 tensor (promoted to float64 exactly): exact; anything else (tf_keras raises on float32 beside
    float64, float16) a gap."""
    from .float64_compare import computed_in_float32, holds_float64_exactly

    keras3 = c.ctx.class_name.startswith(KERAS_OP_PREFIX)
    if v.dtype == F32 and computed_in_float32(c.ctx.graph, v):
        return v, None, "loose"
    if v.dtype == F32 and (keras3 or holds_float64_exactly(c.ctx.graph, v)):
        return v, None, "exact"
    raise c.gap(f"float64 values moved beside a {v.dtype.value} tensor")


def _lowered_on(c: OpCall, spec: OpSpec, replaced: dict[int, Value]) -> Value:
    """``spec``'s float32 lowering with the inputs at ``replaced``'s indices replaced (the call's inputs restored)."""
    original = list(c.ctx.inputs)
    c.ctx.inputs = [replaced.get(i, v) for i, v in enumerate(original)]
    try:
        out = spec.lower(c)
    finally:
        c.ctx.inputs = original
    if not isinstance(out, Value) or out.dtype != F32:
        raise c.gap("a float64 operation with several or non-float results")
    return out


def float64_moved(c: OpCall, spec: OpSpec) -> Value:
    """A function of :data:`FLOAT64_MOVES` on float64 tensors: moves each one's ``hi`` (and a pair's ``lo``, zeros
    for the others) as the float32 lowering moves values; held exactly, as a pair or rounded as its inputs were,
    the loosest kind winning (float32 operands beside them: :func:`_float32_held`)."""
    if c.function in _JOINS and any(v.dtype not in (F32, F64) for v in c.tensors("values")):
        raise c.gap("float64 values joined with integers, bools or float16 ones")
    if c.function in _GATHERS and any(v.dtype != F64 or i != c.arguments["x"].index
                                      for i, v in enumerate(c.ctx.inputs) if v.dtype in (F32, F64, DType.FLOAT16)):
        raise c.gap("a gather of float64 values at float indices, or of a float32 tensor beside float64 ones")
    if c.function in ("gather", "compat.v1.gather") and c.value("batch_dims", 0) != 0:
        # the float32 gather's gap would name its own dtype ("on a DT_FLOAT tensor"), not the model's float64
        raise c.gap(f"a gather of float64 values with batch_dims={c.value('batch_dims', 0)!r} (not lowered)")
    floats = {i: v for i, v in enumerate(c.ctx.inputs) if v.dtype in (F32, F64, DType.FLOAT16)}
    held = {i: _held(c, v, f"moved_{i}", bounded=True) if v.dtype == F64 else _float32_held(c, v)
            for i, v in floats.items()}
    hi = _lowered_on(c, spec, {i: h for i, (h, _, _) in held.items()})
    return _held_as(c, [(lo, kind, *_limits(c, floats[i])) for i, (_, lo, kind) in held.items()], hi,
                    lambda: _lowered_on(c, spec, {
                        i: lo if lo is not None else c.ctx.unary("ZerosLike", h, label=f"moved_lo_{i}")
                        for i, (h, lo, _) in held.items()}))


def _limits(c: OpCall, v: Value) -> tuple[float, float]:
    """A moved operand's error and magnitude: a :class:`Bounded` value's, else 0 and unknown (inf)."""
    known = _BOUNDED.get(c.ctx.graph, {}).get(id(v))
    return (known.error, known.magnitude) if known is not None else (0.0, np.inf)


def _held_as(c: OpCall, operands: list[tuple], hi: Value, moved_lo: Callable[[], Value]) -> Value:
    """The float64 result of moved values held as their ``operands`` were (each ``(lo, kind, error, magnitude)``):
    exactly when they all were, as a pair (``moved_lo()`` its ``lo``) when none was rounded, else rounded (within a
    few ulps where none was ``loose``); with a :class:`Bounded` operand and none rounded, Bounded (the largest error
    and magnitude of the operands)."""
    from .op_layers_tf_gaps import WITHIN_ULPS, _held_pair, as_float64

    kinds = {kind for _, kind, _, _ in operands}
    if "bounded" in kinds and not kinds & {"rounded", "loose"}:
        lo = moved_lo() if any(part[0] is not None for part in operands) else None
        error, magnitude = max(part[2] for part in operands), max(part[3] for part in operands)
        return _remember_bounded(c, as_float64(c, hi, exact=False), hi, lo, error, magnitude)
    kinds = {"loose" if kind == "bounded" else kind for kind in kinds}
    if "pair" not in kinds or kinds & {"rounded", "loose"}:
        out = as_float64(c, hi, exact=kinds == {"exact"})
        if "rounded" in kinds and "loose" not in kinds:
            WITHIN_ULPS.setdefault(c.ctx.graph, {})[id(out)] = out
        return out
    return _held_pair(c, hi, moved_lo())


def float64_selected(c: OpCall) -> Value:
    """``where(condition, x, y)`` of float64 branches (tf_keras's ``tf.where``, Keras 3's ``where``): each value is
    one of the branches', so the ``hi`` (and ``lo``) of each is selected as it is, held as the branches were
    (:func:`_held_as`). A constant branch is the float64 number TF converts it to (``0.1`` is float64's 0.1, a pair
    of float32 where float32 does not hold it). The condition is used as the float32 lowering uses it; a float64
    one only where held exactly (an exp result rounded to 0 would flip it)."""
    from .op_layers import _as_bool
    from .op_layers_tf_gaps import _operand

    names = ("x", "y") if "x" in c.arguments or "y" in c.arguments else ("x1", "x2")
    if not all(c.has(n) for n in names):
        raise c.gap("a condition without both branches (nonzero)")
    condition = c.tensor("condition")
    if condition.dtype == F64:
        hi, _, kind = _held(c, condition, "condition")
        if kind != "exact":
            raise c.gap(f"a float64 condition held {kind} (its zeros may not be Keras's)")
        condition = hi
    condition = _as_bool(c, condition, "condition")
    branches = [_branch(c, name, _operand) for name in names]

    def selected(parts: list[Value], label: str) -> Value:
        from .context import broadcast_shape

        shape = broadcast_shape(broadcast_shape(condition.shape, parts[0].shape), parts[1].shape)
        return c.ctx.op("SelectV2", [condition, *parts], {"T": F32}, dtype=F32, shape=shape, label=label)

    def lows() -> Value:
        return selected([lo if lo is not None else c.ctx.unary("ZerosLike", hi, label=f"selected_lo_{i}")
                         for i, (hi, lo, *_) in enumerate(branches)], "selected_lo")

    return _held_as(c, [part[1:] for part in branches], selected([part[0] for part in branches], "SelectV2"), lows)


def _branch(c: OpCall, name: str, operand: Callable) -> tuple[Value, Value | None, str, float, float]:
    """A float64 ``where`` branch ``(hi, lo, kind, error, magnitude)``: a float64 tensor held as it is
    (:func:`_held`, a :class:`Bounded` one with its bound), a float32 one as Keras gives it (:func:`_float32_held`),
    a constant as TF's float64 number (``operand``: a pair where float32 does not hold it)."""
    value = c.arguments.get(name)
    if not isinstance(value, TensorArg):
        hi, lo = operand(c, name)
        return hi, lo, "exact" if lo is None else "pair", 0.0, _constant_magnitude(value)
    v = c.ctx.inputs[value.index]
    if v.dtype == F64:
        return (*_held(c, v, name, bounded=True), *_limits(c, v))
    if v.dtype == F32:
        return (*_float32_held(c, v), 0.0, np.inf)
    raise c.gap(f"a where of a float64 branch and a branch of {v.dtype.numpy} (Keras 3 promotes it; not lowered)")


def float64_smooth(c: OpCall, spec: OpSpec) -> Value:
    """``tanh`` or ``sigmoid`` (:data:`FLOAT64_SMOOTH`) of a float64 tensor held exactly, as a pair or within a few
    ulps (exp, log): the float32 function of ``hi`` plus ``f'(hi)·lo`` (:func:`_with_lo_term`), held rounded; named
    in a notice with its bound. Of a value held with a larger error of its own (the bound would not cover it: tanh
    of a logsumexp of 10 000 values was 9.7e-5 off on wasm) as the traced path computes it
    (:func:`in_float32_as_traced`; a gap before session 33)."""
    from .op_layers_tf_gaps import as_float64

    x = c.tensor("x")
    if x.dtype != F64:
        raise c.gap(f"a float64 function of a {x.dtype.value} tensor")
    hi, lo, kind = _held(c, x, "x")
    if kind == "loose":  # an error of its own, which the notice's bound would not cover: the traced path's float32
        return in_float32_as_traced(c, spec)
    out = _lowered_on(c, spec, {c.arguments["x"].index: hi})
    if lo is not None:
        out = _with_lo_term(c, out, lo)
    _notice(c)
    return _remember_bounded(c, as_float64(c, out, exact=False), out, None, SMOOTH_ERROR, 1.0)


def _with_lo_term(c: OpCall, f: Value, lo: Value) -> Value:
    """``f(hi) + f'(hi)·lo`` (an Inf/NaN term dropped), ``f(hi)`` itself where the term is 0: ``-0.0 + 0.0`` is +0.0,
    and tanh of a pair holding -0.0 is -0.0 in float64 (``1/x`` -Inf), as :meth:`._Pairs.fast_two_sum` keeps it."""
    ctx = c.ctx
    term = finite_or_zero(c, ctx.binary("Mul", _slope(c, f), lo, label="lo_term"), "lo_kept")
    zero = ctx.op("Equal", [term, ctx.floats(0.0, "lo_zero")], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                  shape=term.shape, label="lo_term_is_zero")
    return _select(c, zero, f, ctx.binary("AddV2", f, term, label="with_lo"), "with_lo_kept")


def _slope(c: OpCall, f: Value) -> Value:
    """``f'(hi)`` from ``f = f(hi)``: ``(1 - f)(1 + f)`` for tanh, ``f(1 - f)`` for sigmoid."""
    ctx = c.ctx
    below = ctx.binary("Sub", ctx.floats(1.0, "one"), f, label="one_minus_f")
    other = ctx.binary("AddV2", ctx.floats(1.0, "one_plus"), f, label="one_plus_f") if c.function in _TANH else f
    return ctx.binary("Mul", below, other, label="slope")


def _notice(c: OpCall) -> None:
    """Once per model (notes and a warning), naming the first layer."""
    from .op_layers_tf_gaps import _once_per_model

    _once_per_model(c, _NOTICED, (
        f"float64 tanh and sigmoid (op layers from {c.ctx.name!r} on) computed in float32 (TF.js has no float64; "
        "--loader=tensorflow computes them in float32 too): of float32 values cast up, float64 arithmetic and exp or "
        f"log results, within {SMOOTH_ERROR:g} of Keras's float64 result (measured up to 1.05e-7 on wasm, 5.4e-8 "
        "on cpu), tanh "
        "also within 3 float32 ulps of it; of other values held rounded (logsumexp, tanh and sigmoid results) "
        "as --loader=tensorflow computes them, named in the float64 notice"))


# -- arithmetic on values computed as the traced path computes them (session 32, issue 16) ----------------------
#: Per graph, the ids of float64 Values computed in float32 as ``--loader=tensorflow`` computes them, with no bound
#: (named in the float64 notice): arithmetic reading one is computed the same way (:func:`as_traced_step`).
_AS_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _as_traced(c: OpCall, out: Value) -> Value:
    _AS_TRACED.setdefault(c.ctx.graph, set()).add(id(out))
    return out


def held_as_traced(c: OpCall, v: Value) -> Value:
    """The float64 Value of the float32 ``v`` computed as the traced path computes it (recorded as such)."""
    from .op_layers_tf_gaps import as_float64

    return _as_traced(c, as_float64(c, v, exact=False))


def as_traced_step(c: OpCall, names: list[str]) -> Value | None:
    """A float64 ``+ - · / sqrt neg abs`` reading a value computed as the traced path computes it (a sin/cos of
    unknown magnitude, a product of a tanh result and a tensor): no bound holds for that value, so neither pairs nor
    a bound would make the result Keras's (after a cancellation, ``tanh(d)·dy - dy``, the float32 rounding of the
    operand can be the whole result). It is computed as ``--loader=tensorflow`` computes it, one float32 op of the
    operands' float32 values (a constant rounded to float32 as TF.js holds it), held rounded and named in the same
    float64 notice (its text says small differences of large values keep only rounding noise). None when no operand is such a value
    (exact, paired and bounded operands keep their paths)."""
    traced = _AS_TRACED.get(c.ctx.graph, set())
    tensors = {n: c.ctx.inputs[a.index] for n in names if isinstance(a := c.arguments.get(n), TensorArg)}
    if not any(id(v) in traced for v in tensors.values()):
        return None
    return traced_step(c, names)


def traced_step(c: OpCall, names: list[str]) -> Value:
    """``c``'s ``+ - · / sqrt neg abs`` as ``--loader=tensorflow`` computes it: one float32 op of the operands'
    float32 values (:func:`as_traced_step`; session 33: also of values held rounded, exp results and tanh results
    beside them, whose pairs' step would refuse), held rounded, recorded as traced and named in the float64 notice."""
    from .op_layers_tf_gaps import _ABS, _ADD, _DIV, _MUL, _NEG, _SQRT, _SUB, as_float64

    tensors = {n: c.ctx.inputs[a.index] for n in names if isinstance(a := c.arguments.get(n), TensorArg)}
    operands = [_float32_operand(c, n, tensors) for n in names]
    op = next(o for fs, o in ((_ADD, "AddV2"), (_SUB, "Sub"), (_MUL, "Mul"), (_DIV, "RealDiv"), (_NEG, "Neg"),
                              (_ABS, "Abs"), (_SQRT, "Sqrt")) if c.function in fs)
    if op == "RealDiv" and names[1] not in tensors:
        op, operands[1] = "Mul", _reciprocal(c, names[1])
    out = (c.ctx.binary(op, *operands, label="in_float32") if len(operands) == 2 else
           c.ctx.unary(op, operands[0], label="in_float32"))
    name_in_float64_notice(c, op)
    return _as_traced(c, as_float64(c, out, exact=False))


#: The TF op the traced graph names for a reader of an as-traced value (:func:`read_as_traced`); any other function
#: is named by its own last word (``nn.softmax`` -> ``softmax``).
_TRACED_OP_NAMES = {
    **dict.fromkeys(("math.tanh", "nn.tanh", "Tanh"), "Tanh"), **dict.fromkeys(_SIGMOID, "Sigmoid"),
    **dict.fromkeys(("math.reduce_sum", "reduce_sum", "Sum"), "Sum"),
    **dict.fromkeys(("math.reduce_mean", "reduce_mean", "Mean"), "Mean"),
    **dict.fromkeys(("math.reduce_max", "reduce_max", "Max"), "Max"),
    **dict.fromkeys(("math.reduce_min", "reduce_min", "Min"), "Min"),
    **dict.fromkeys(("math.reduce_prod", "reduce_prod", "Prod"), "Prod"),
    **dict.fromkeys(("math.exp", "Exp"), "Exp"), **dict.fromkeys(("math.log", "Log"), "Log"),
    **dict.fromkeys(("nn.softmax", "Softmax"), "Softmax")}
#: Readers of as-traced values that keep their own paths: ``+ - · / sqrt neg abs`` (:func:`as_traced_step`),
#: sin/cos/tan (:func:`_periodic_in_float32`), moves, where and relu (values moved as they are,
#: :func:`keep_traced`), argmax/argmin and top_k (orders of float32 values, :func:`ordered_as_traced`).
_OWN_TRACED_PATHS = frozenset({"math.argmax", "argmax", "Argmax", "math.argmin", "argmin", "Argmin", "math.top_k",
                               "TopK"})


def read_as_traced(c: OpCall, spec: OpSpec) -> Value | None:
    """Any other float64 function (tanh, sigmoid, sum, mean, max, min, prod, exp, log, logsumexp, softmax, norm...)
    reading a value computed as the traced path computes it (session 33, issue 16: refused before, "held rounded to
    float32"): no bound holds for that value, so its reader is computed as ``--loader=tensorflow`` computes it too,
    the float32 lowering of every float64 operand's float32 value (a pair's or bounded value's ``hi``), held rounded,
    recorded as traced (its readers follow) and named in the float64 notice. None when no float64 operand is such a
    value (exact, paired, bounded and rounded operands keep their paths)."""

    traced = _AS_TRACED.get(c.ctx.graph, set())
    if c.function in _OWN_TRACED_PATHS or not any(v.dtype == F64 and id(v) in traced for v in c.ctx.inputs):
        return None
    return in_float32_as_traced(c, spec)


def in_float32_as_traced(c: OpCall, spec: OpSpec) -> Value:
    """``spec``'s float32 lowering of every float64 operand's float32 value (a pair's or bounded value's ``hi``), as
    ``--loader=tensorflow`` computes it: held rounded, recorded as traced (its readers follow) and named in the
    float64 notice. For functions that no path covers for how their operands are held (session 33, issue 16)."""
    from .op_layers_tf_gaps import as_float64

    if c.function.rsplit(".", 1)[-1].lower() in _JUMPS:
        exact = _exact_jump(c, spec)
        if exact is not None:
            return exact
        raise c.gap(f"a float64 {c.function} of values TF.js holds in float32 (its result jumps where the argument "
                    "crosses a whole number, or 0: one float32 rounding can land it on the other side, a whole step off)")
    picked = _exact_pick(c, spec)
    if picked is not None:
        return picked
    floats = {i: v for i, v in enumerate(c.ctx.inputs) if v.dtype == F64}
    out = _lowered_on(c, spec, {i: _held(c, v, f"traced_{i}", bounded=True)[0] for i, v in floats.items()})
    name_in_float64_notice(c, _TRACED_OP_NAMES.get(c.function, c.function.rsplit(".", 1)[-1]))
    return _as_traced(c, as_float64(c, out, exact=False))


#: Functions whose result jumps (by last word, lower case): of float64 values held in float32, refused by name.
_JUMPS = frozenset({"floor", "ceil", "round", "rint", "sign", "trunc", "floordiv", "floor_div", "floordivide", "floormod",
                    "mod", "fmod", "truncatemod", "truncatediv"})


def _exact_jump(c: OpCall, spec: OpSpec) -> Value | None:
    """floor, ceil, rint, sign or round (no decimals) of a float64 tensor held exactly: float32's result of the same
    value is Keras's (a whole number or ±1 of a float32 value, exactly), held exactly; None for anything else."""
    from .op_layers_tf_gaps import as_float64

    floats = [(i, v) for i, v in enumerate(c.ctx.inputs) if v.dtype == F64]
    exact = _EXACTLY_HELD.get(c.ctx.graph, {})
    if c.function.rsplit(".", 1)[-1].lower() not in _EXACT_JUMPS or c.value("decimals", 0) not in (0, None) or \
            len(floats) != 1 or id(floats[0][1]) not in exact:
        return None
    i, v = floats[0]
    return as_float64(c, _lowered_on(c, spec, {i: _held(c, v, "x")[0]}), exact=True)


def _exact_pick(c: OpCall, spec: OpSpec) -> Value | None:
    """maximum/minimum of float64 tensors held exactly (float32 ones and float32 constants beside them): the result
    is one of the operands, so float32's is Keras's exactly and is held exactly (review R2's M2: it was held as
    traced, so a floor of it was refused and pair arithmetic after it dropped to float32); None for anything else."""
    from .op_layers_tf_gaps import as_float64

    if c.function.rsplit(".", 1)[-1].lower() not in _PICKS:
        return None
    exact = _EXACTLY_HELD.get(c.ctx.graph, {})
    floats = {i: v for i, v in enumerate(c.ctx.inputs) if v.dtype == F64}
    constants = [v for v in c.arguments.values() if not isinstance(v, (TensorArg, str, bool, type(None)))]
    if not floats or any(id(v) not in exact for v in floats.values()) or not all(_float32_exact(v) for v in constants):
        return None
    out = _lowered_on(c, spec, {i: _held(c, v, f"x{i}")[0] for i, v in floats.items()})
    return as_float64(c, out, exact=True)


def _float32_exact(value: object) -> bool:
    """Whether a constant argument is numbers float32 holds exactly."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    with np.errstate(over="ignore"):
        return bool(np.all(array.astype(np.float32).astype(np.float64) == array) or np.all(np.isnan(array)))


#: Functions whose result is one of their operands (by last word, lower case).
_PICKS = frozenset({"maximum", "minimum"})
#: The jumps whose float32 result of a float32 value is float64's of it, exactly.
_EXACT_JUMPS = frozenset({"floor", "ceil", "rint", "sign", "round", "trunc"})


def held_in_float32(c: OpCall, v: Value, bounded: bool) -> bool:
    """Whether the float64 ``v`` is held rounded to float32 for its reader: neither exactly nor as a pair, nor (where
    the reader carries bounds: ``bounded``) a :class:`Bounded` value."""
    from .op_layers_tf_gaps import _PAIRS

    graph = c.ctx.graph
    return v.dtype == F64 and id(v) not in _EXACTLY_HELD.get(graph, {}) and id(v) not in _PAIRS.get(graph, {}) \
        and not (bounded and id(v) in _BOUNDED.get(graph, {}))


def orders_as_traced(c: OpCall, x: Value) -> bool:
    """Whether an argmax/argmin/top_k of the float64 ``x`` (not held exactly) orders float32 values as the traced
    path does: of a pair, a tanh/sigmoid result (:class:`Bounded`) or a value computed as traced, whose float32
    values tie only where they round to one. Not of exp, log and logsumexp results (review R3's F3: exp(-200) and
    exp(-150) are both 0 in float32, argmax 0 where Keras gives 3: float32's range, not its rounding)."""
    from .op_layers_tf_gaps import _PAIRS

    graph = c.ctx.graph
    return any(id(x) in held.get(graph, {}) for held in (_PAIRS, _BOUNDED)) or id(x) in _AS_TRACED.get(graph, set())


def ordered_as_traced(c: OpCall, lower: Callable[[OpCall], object], op: str) -> object:
    """argmax/argmin/top_k of float64 values held as pairs or rounded (session 33, issue 16; refused before): the
    order of their float32 values (a pair's ``hi``), as ``--loader=tensorflow`` orders its float32 values, ties of
    values that differ only in float64 resolved by index; named in the float64 notice with its ordering clause."""
    x = c.tensor("x")
    hi, lo, _ = _held(c, x, "x", bounded=True)
    if lo is not None and op in ("ArgMax", "ArgMin"):
        hi = _lo_at_extreme_hi(c, hi, lo, op)
    original = list(c.ctx.inputs)
    c.ctx.inputs = [hi if i == c.arguments["x"].index else v for i, v in enumerate(original)]
    try:
        out = lower(c)
    finally:
        c.ctx.inputs = original
    name_in_float64_notice(c, op)
    return out


def _lo_at_extreme_hi(c: OpCall, hi: Value, lo: Value, op: str) -> Value:
    """A pair's ``lo`` where its ``hi`` is the extreme along argmax's axis, -inf (argmin: +inf) elsewhere: its
    argmax is the pairs' (ordered by ``hi``, then ``lo``: Keras's float64 order, review R2 F1), ties by index."""
    from .op_layers import _axis

    shape = c.ctx.shape(hi)
    axis = _axis(c, c.value("axis", 0), len(shape))  # tf's None is axis 0 (Keras 3's argmax is a gap before)
    kept = tuple(1 if i == axis else d for i, d in enumerate(shape))
    extreme = c.ctx.op("Max" if op == "ArgMax" else "Min", [hi, c.ctx.ints([axis], "extreme_axis")],
                       {"keep_dims": True, "Tidx": DType.INT32}, shape=kept, label="extreme_hi")
    at = c.ctx.op("Equal", [hi, extreme], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=hi.shape,
                  label="at_extreme_hi")
    never = c.ctx.floats(-np.inf if op == "ArgMax" else np.inf, "not_at_extreme")
    return _select(c, at, lo, never, "lo_at_extreme_hi")


def keep_traced(c: OpCall, out: Value) -> Value:
    """``out`` (values moved, selected or picked by relu) recorded as traced where a float64 operand was: held
    rounded as the traced path computes it, so its readers are computed that way too (:func:`read_as_traced`)."""
    traced = _AS_TRACED.get(c.ctx.graph, set())
    if any(v.dtype == F64 and id(v) in traced for v in c.ctx.inputs):
        _as_traced(c, out)
    return out


def _reciprocal(c: OpCall, name: str) -> Value:
    """A constant divisor's float64 reciprocal rounded to float32: the traced graph's Grappler constant folding makes
    ``x / k`` a product ``x · (1/k)`` (session 33: ``p / 1000`` differed from the traced numbers by one float32 ulp,
    1.4e-7 of a softmax of it, on cpu)."""
    with np.errstate(divide="ignore", over="ignore"):
        inverse = np.reciprocal(np.asarray(c.arguments[name], np.float64)).astype(np.float32)
    return c.ctx.floats(inverse, f"{name}_reciprocal")


def _float32_operand(c: OpCall, name: str, tensors: dict[str, Value]) -> Value:
    """An operand's float32 value as the traced graph holds it: a float64 tensor's (a pair's or bounded value's
    ``hi``), a float32 tensor as it is (Keras 3 promotes it), a constant rounded to float32."""
    from .op_layers_tf_gaps import _operand

    v = tensors.get(name)
    if v is None:  # float32's rounding of it (``hi``); one outside float32's range refused (1e40 would be Inf)
        return _operand(c, name)[0]
    if v.dtype == F32:
        return v
    if v.dtype != F64:
        raise c.gap(f"a float64 operation on a {v.dtype.value} tensor")
    return _held(c, v, name, bounded=True)[0]


# -- arithmetic on tanh/sigmoid results, with a stated bound (session 29) ---------------------------------------
def bounded_step(c: OpCall, names: list[str]) -> Value | None:
    """A float64 ``+ - · / neg abs`` reading a :class:`Bounded` value (a tanh/sigmoid result or such a step's):
    computed on pairs as any float64 step, the bound carried: a sum adds its operands' errors, a product
    ``e1·M2 + e2·M1 + e1·e2`` (``M`` each operand's magnitude: a constant's largest, a tanh's 1), a quotient by a
    constant divides the error by its smallest magnitude. A product with a tensor of unknown magnitude and a division
    by a tensor (no bound) are computed in float32 as the traced path computes them, named in the float64 notice
    (:func:`_unbounded_in_float32`); ``sqrt`` (no bound near 0) is refused by name. None when no operand is Bounded."""
    from .op_layers_tf_gaps import _ABS, _DIV, _MUL, _NEG, _SQRT, _operand, as_float64

    known = _BOUNDED.get(c.ctx.graph, {})
    tensors = {n: c.ctx.inputs[a.index] for n in names if isinstance(a := c.arguments.get(n), TensorArg)}
    if not any(id(v) in known for v in tensors.values()):
        return None
    if c.function in _SQRT:
        raise c.gap("sqrt of a float64 tanh/sigmoid result (its slope has no bound near 0, so neither has its error)")
    parts = [_bounded_operand(c, n, known, tensors, _operand) for n in names]
    if c.function in _DIV and names[1] in tensors:
        return _unbounded_in_float32(c, [p[0] for p in parts], "RealDiv")
    if c.function in _MUL:
        (_, e1, m1), (_, e2, m2) = parts
        error, magnitude = _times(e1, m2) + _times(e2, m1) + e1 * e2, _times(m1, m2)
    elif c.function in _DIV:
        (_, e1, m1), (_, e2, _) = parts
        error, magnitude = e1 / _smallest_constant(c, names[1]), m1 / _smallest_constant(c, names[1])
    elif c.function in _NEG | _ABS:
        error, magnitude = parts[0][1], parts[0][2]
    else:
        error, magnitude = sum(p[1] for p in parts), sum(p[2] for p in parts)
    if not np.isfinite(error):
        if any(n not in tensors for n in names):
            raise c.gap(_unbounded_product(c, names, tensors))
        return _unbounded_in_float32(c, [p[0] for p in parts], "Mul")
    hi, lo = _pair_step(c, [p[0] for p in parts])
    _bounded_notice(c)
    return _remember_bounded(c, as_float64(c, hi, exact=False), hi, lo, float(error), float(magnitude))


def _unbounded_product(c: OpCall, names: list[str], tensors: dict) -> str:
    """Why a product of a :class:`Bounded` value and a constant has no bound: the constant holds Inf or NaN."""
    constants = [c.arguments[n] for n in names if n not in tensors]
    return (f"a product of a float64 tanh/sigmoid result and the constant {constants[0]!r} holding Inf or NaN "
            "(its error times Inf has no bound)")


def _unbounded_in_float32(c: OpCall, operands: list, op: str) -> Value:
    """A product of a :class:`Bounded` value and a tensor of unknown magnitude, or a division by a tensor (session
    32, issue 16): no bound holds (the error scales with a magnitude, or a divisor near 0, known only at run time),
    so it is computed as ``--loader=tensorflow`` computes it, in float32 (of the operands' pairs: as close or
    closer), held rounded with an error of its own (float64 readers after it follow it) and named in the float64
    notice, as the traced graph's ops are."""
    from .op_layers_tf_gaps import as_float64

    hi, _ = _pair_step(c, operands)
    name_in_float64_notice(c, op)
    return _as_traced(c, as_float64(c, hi, exact=False))


def _times(a: float, b: float) -> float:
    """``a·b`` with ``0·inf`` taken as 0 (an exact operand's 0 error times an unknown magnitude adds nothing)."""
    return 0.0 if a == 0.0 or b == 0.0 else a * b


def _bounded_operand(c: OpCall, name: str, known: dict, tensors: dict, operand: Callable) -> tuple:
    """An operand of :func:`bounded_step`: ``((hi, lo), error, magnitude)``; a Bounded value's, a constant's (0, its
    largest magnitude), an exactly held or paired tensor's (0, unknown: inf). A float32 tensor is read as Keras gives
    it (:func:`_float32_held`): a float64 layer's float32 result carries an error of its own, which no bound
    covers (review N1: ``(tanh(d) - Dense(d))·1e3`` was 1.1e-3 off on wasm against a stated 1e-4), so it is refused."""
    v = tensors.get(name)
    if v is not None and id(v) in known:
        b = known[id(v)]
        return (b.hi, b.lo), b.error, b.magnitude
    if v is not None and v.dtype == F32:
        held, _, kind = _float32_held(c, v)
        if kind != "exact":
            raise c.gap("float64 arithmetic on a tanh/sigmoid result and a float64 layer's result computed in float32 "
                        "(its error is the layer's, unknown at conversion: no bound would cover the result)")
        return (held, None), 0.0, np.inf
    pair = operand(c, name)
    return pair, 0.0, np.inf if v is not None else _constant_magnitude(c.arguments[name])


def _constant_magnitude(value: object) -> float:
    """A constant operand's largest magnitude (inf where it holds Inf or NaN)."""
    with np.errstate(invalid="ignore"):
        magnitude = float(np.max(np.abs(np.asarray(value, np.float64)), initial=0.0))
    return magnitude if np.isfinite(magnitude) else np.inf


def _smallest_constant(c: OpCall, name: str) -> float:
    """The smallest magnitude of a constant divisor (one holding 0, Inf or NaN: refused; tensor divisors are
    :func:`_unbounded_in_float32`'s)."""
    value = c.arguments.get(name)
    with np.errstate(invalid="ignore"):
        smallest = float(np.min(np.abs(np.asarray(value, np.float64))))
    if not np.isfinite(smallest) or smallest == 0.0 or not np.all(np.isfinite(np.asarray(value, np.float64))):
        raise c.gap(f"a float64 tanh/sigmoid result divided by {value!r}")
    return smallest


def _pair_step(c: OpCall, operands: list) -> tuple[Value, Value | None]:
    """The pair ``(hi, lo)`` of ``c``'s ``+ - · / neg abs`` of ``operands`` (:class:`.op_layers_tf_gaps._Pairs`)."""
    from .op_layers_tf_gaps import _ABS, _ADD, _DIV, _MUL, _NEG, _SUB, _Pairs

    build, f = _Pairs(c), c.function
    if f in _ADD | _SUB:
        return build.add(operands[0], build.neg(operands[1]) if f in _SUB else operands[1])
    if f in _MUL:
        return build.mul(*operands)
    if f in _DIV:
        return build.div(*operands)
    if f in _NEG:
        return build.neg(operands[0])
    assert f in _ABS, f
    return build.abs(operands[0])


def float64_periodic(c: OpCall, spec: OpSpec) -> Value:
    """``sin``/``cos`` of a float64 :class:`Bounded` value of magnitude at most :data:`PERIODIC_LIMIT` (a tanh or
    sigmoid result, or an affine map of one by constants): TF.js's float32 function of ``hi`` plus ``lo``'s
    first-order term, within the argument's error plus :data:`PERIODIC_ERROR` (both are 1-Lipschitz). Of any other
    float64 tensor (magnitude unknown at conversion; refused before session 32) as the traced path computes it, in
    float32, named in the float64 notice (:func:`_periodic_in_float32`)."""
    from .op_layers_tf_gaps import as_float64

    x = c.tensor("x")
    if x.dtype != F64:
        raise c.gap(f"a float64 sin/cos of a {x.dtype.value} tensor")
    b = _BOUNDED.get(c.ctx.graph, {}).get(id(x))
    if b is None or not b.magnitude <= PERIODIC_LIMIT or c.function in _TAN:
        return _periodic_in_float32(c, spec, x)

    out = _lowered_on(c, spec, {c.arguments["x"].index: b.hi})
    if b.lo is not None:
        out = _with_periodic_lo(c, out, b.hi, b.lo)
    _bounded_notice(c)
    return _remember_bounded(c, as_float64(c, out, exact=False), out, None, b.error + PERIODIC_ERROR, 1.0)


def _periodic_in_float32(c: OpCall, spec: OpSpec, x: Value) -> Value:
    """``sin``/``cos`` of a float64 value of unknown magnitude, and ``tan`` of any (session 32, issue 16): TF.js's float32 function of its
    float32 ``hi``, as ``--loader=tensorflow`` computes it (a pair's ``lo`` term would not help: past 2^24 it is
    radians), held rounded and named in the float64 notice with its periodic clause (|x|·6e-8 radians)."""
    from .op_layers_tf_gaps import as_float64

    hi, _, _ = _held(c, x, "x", bounded=True)
    out = _lowered_on(c, spec, {c.arguments["x"].index: hi})
    name_in_float64_notice(c, "Sin" if c.function in _SIN else "Tan" if c.function in _TAN else "Cos")
    return _as_traced(c, as_float64(c, out, exact=False))


#: The float64 notice's ops that order values (:func:`ordered_as_traced`), and their clause.
_ORDERING_OPS = frozenset({"ArgMax", "ArgMin", "TopKV2"})
_ORDERING_NOTICE = ("; {names} order float32 values: float64 values that round to one float32 tie, the tie resolved "
                    "by index where Keras may order them otherwise")
#: Per graph, the op layers computed in float32 without a bound (:func:`name_in_float64_notice`): their names and
#: the notice line as last written.
_IN_FLOAT32: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def name_in_float64_notice(c: OpCall, op: str) -> None:
    """Names ``c``'s layer (as ``op``) in the conversion's float64 notice, the traced path's text
    (:data:`tfjsconv.wide_dtypes.FLOAT64_NOTICE`, its periodic clause for Sin/Cos/Tan): one line per model,
    rewritten in place as layers are added, logged for the first."""
    from tfjsconv.wide_dtypes import FLOAT64_NOTICE, FLOAT64_PERIODIC_NOTICE, FLOAT64_PERIODIC_OPS, shown_names

    names, line = _IN_FLOAT32.setdefault(c.ctx.graph, ([], None))
    names.append(f"{op} {c.ctx.name}")
    periodic = [n for n in names if n.split(" ", 1)[0] in FLOAT64_PERIODIC_OPS]
    ordering = [n for n in names if n.split(" ", 1)[0] in _ORDERING_OPS]
    text = FLOAT64_NOTICE.format(count=len(names), names=shown_names(names), reference="Keras") + (
        FLOAT64_PERIODIC_NOTICE.format(names=shown_names(periodic)) if periodic else "") + (
        _ORDERING_NOTICE.format(names=shown_names(ordering)) if ordering else "")
    notes = getattr(c.ctx.graph, "notes", None)
    if notes is not None:
        if line in notes:
            notes[notes.index(line)] = text
        else:
            notes.append(text)
    _IN_FLOAT32[c.ctx.graph] = (names, text)
    if line is None:  # once per conversion (review R2's M3: the CLI showed 1, 2, 3... copies); the notes keep all
        log.warning("%s (the conversion's details name every such layer)", text)


def _with_periodic_lo(c: OpCall, f: Value, hi: Value, lo: Value) -> Value:
    """``sin(hi) + cos(hi)·lo`` or ``cos(hi) - sin(hi)·lo`` (``lo <= 2^-24·|hi|``: the second-order term is below
    float32's precision)."""
    ctx = c.ctx
    sin = c.function in _SIN
    slope = ctx.unary("Cos" if sin else "Sin", hi, label="periodic_slope")
    term = ctx.binary("Mul", slope, lo, label="periodic_lo_term")
    return ctx.binary("AddV2" if sin else "Sub", f, term, label="periodic_with_lo")


def _bounded_notice(c: OpCall) -> None:
    """Once per model (notes and a warning), naming the first layer."""
    from .op_layers_tf_gaps import _once_per_model

    _once_per_model(c, _NOTICED_BOUNDED, (
        f"float64 arithmetic on tanh/sigmoid results (op layers from {c.ctx.name!r} on) computed on pairs of float32 "
        f"from their float32 values, each within {SMOOTH_ERROR:g} of Keras's float64 one: a sum within the sum of "
        "its terms' errors, a product by a constant within |constant| times its error, a product of two such "
        "values within e1·M2 + e2·M1 + e1·e2 (M: each one's largest magnitude, 1 for tanh/sigmoid), sin/cos of "
        f"them (|x| <= {PERIODIC_LIMIT:g}) within their argument's error plus {PERIODIC_ERROR:g}, plus the pairs' "
        "2^-44 of each intermediate value and float32's rounding of the result; the bounds are absolute, so after a "
        "cancellation (tanh(a) - tanh(b) of nearby values, times a large constant) they can exceed the result itself; "
        "products with other tensors and divisions by tensors are computed in float32 without a bound (named in the "
        "float64 notice, as other functions of them are), sqrt of them is refused"))


# -- relu of float64 values (session 29, h1b) ----------------------------------------------------------------------
#: tf_keras's ``tf.nn.relu``/``relu6`` and Keras 3's ``ops.relu``/``relu6`` of float64 tensors (:func:`float64_relu`).
FLOAT64_RELUS = frozenset({"nn.relu", "Relu", "nn.relu6", "Relu6"})
_RELU6 = frozenset({"nn.relu6", "Relu6"})


def float64_relu(c: OpCall, cap: float | None = None) -> Value:
    """``max(x, 0)`` (then ``min(·, cap)``: relu6, ``max_value``) of a float64 tensor, exactly: it only picks values,
    so ``hi`` takes TF.js's Relu (and Minimum), ``lo`` is kept where ``hi > 0`` (and below the cap), and a ``hi`` of 0
    takes ``max(lo, 0)``. Held as ``x`` was: exactly, as a pair, :class:`Bounded` with its error (relu is
    1-Lipschitz), else ``loose`` (refused by later float64 readers)."""
    if c.function in _RELU6:
        cap = 6.0
    x = c.tensor("features" if "features" in c.arguments else "x")  # tf.nn.relu's argument is ``features``
    if x.dtype != F64:
        raise c.gap(f"a float64 relu of a {x.dtype.value} tensor")
    if cap is not None and not (np.isfinite(cap) and cap >= 0.0 and float(np.float32(cap)) == cap):
        raise c.gap(f"a float64 relu with max_value={cap!r} (not a non-negative float32 number: not lowered)")
    hi, lo, kind = _held(c, x, "x", bounded=True)
    hi, lo = _relu_pair(c, hi, lo, cap)
    from .op_layers_tf_gaps import _held_pair, as_float64

    if kind == "bounded":
        b = _BOUNDED[c.ctx.graph][id(x)]
        magnitude = b.magnitude if cap is None else min(b.magnitude, cap)
        return _remember_bounded(c, as_float64(c, hi, exact=False), hi, lo, b.error, magnitude)
    if kind == "pair":
        return _held_pair(c, hi, lo)
    return as_float64(c, hi, exact=kind == "exact")


def _relu_pair(c: OpCall, hi: Value, lo: Value | None, cap: float | None) -> tuple[Value, Value | None]:
    """The ``(hi, lo)`` of ``clip(hi + lo, 0, cap)`` (no cap: ``max(hi + lo, 0)``)."""
    ctx = c.ctx

    def compare(op: str, a: Value, b: Value, label: str) -> Value:
        attrs = {"incompatible_shape_error": True} if op == "Equal" else None
        from .context import broadcast_shape

        return ctx.op(op, [a, b], attrs, dtype=DType.BOOL, shape=broadcast_shape(a.shape, b.shape), label=label)

    out = ctx.unary("Relu", hi, label="relu_hi")
    if lo is not None:
        zero = ctx.floats(0.0, "relu_zero")
        zeros = ctx.unary("ZerosLike", lo, label="relu_lo_zeros")
        out = _select(c, compare("Equal", hi, zero, "hi_zero"), ctx.unary("Relu", lo, label="relu_lo"), out,
                      "relu_hi_or_lo")
        lo = _select(c, compare("Greater", hi, zero, "hi_positive"), lo, zeros, "relu_lo_kept")
    if cap is None:
        return out, lo
    limit = ctx.floats(cap, "relu_cap")
    if lo is not None:  # above the cap: hi past it, or at it with a positive lo
        at = ctx.op("LogicalAnd", [compare("Equal", out, limit, "at_cap"), compare("Greater", lo, zeros, "lo_up")],
                    dtype=DType.BOOL, shape=lo.shape, label="at_cap_up")
        over = ctx.op("LogicalOr", [compare("Greater", out, limit, "past_cap"), at], dtype=DType.BOOL, shape=lo.shape,
                      label="over_cap")
        lo = _select(c, over, zeros, lo, "relu_lo_capped")
    return ctx.binary("Minimum", out, limit, label="relu_capped"), lo


def relu_operation(ctx, float32_relu: Callable) -> Value:
    """The ReLU layer (``float32_relu``), or Keras 3's ``keras.activations.relu(x)``, which saves a ``ReLU``
    operation (module ``keras.src.activations``, no ``trainable`` in its config) that the walk lowers as that layer,
    its input cast to float32 as a layer's: a layer autocasts so, an operation keeps float64. Of a float64 value it
    is :func:`float64_relu` of the value before the cast (review F2: ``(relu(d·1e-9 + 1) - 1)·1e9`` was 0 for Keras's
    11, silently); with a negative slope or threshold refused by name (a threshold on a float64 model Input too:
    ``activations._refuse_float64_threshold``); of a float64 layer's float32 result its
    result is marked computed in float32 as that one is (later float64 readers see its error)."""
    from .float64_compare import computed_in_float32, mark_float64_computed

    operation = ctx.keras3 and "trainable" not in ctx.config and len(ctx.inputs) == 1
    x = ctx.inputs[0] if operation else None
    producer = x.producer if x is not None else None
    if producer is not None and producer.op == "Cast" and producer.name.endswith("/to_float") and producer.inputs \
            and producer.inputs[0].dtype == F64:
        return _float64_relu_operation(ctx, producer.inputs[0])
    out = float32_relu(ctx)
    if x is not None and computed_in_float32(ctx.graph, x):
        mark_float64_computed(ctx.graph, out)
    return out


def _float64_relu_operation(ctx, source: Value) -> Value:
    """Keras 3's ``activations.relu`` of the float64 ``source``: :func:`float64_relu` (``max_value`` its cap)."""
    c = OpCall(ctx, "ReLU", {"x": TensorArg(("", 0, 0), 0)})
    if float(ctx.config.get("negative_slope") or 0.0) or float(ctx.config.get("threshold") or 0.0):
        raise c.gap("keras.activations.relu of a float64 tensor with a negative_slope or threshold (Keras computes "
                    "it in float64; not lowered)")
    cap = ctx.config.get("max_value")
    original = ctx.inputs
    ctx.inputs = [source]
    try:
        return float64_relu(c, None if cap is None else float(cap))
    finally:
        ctx.inputs = original
