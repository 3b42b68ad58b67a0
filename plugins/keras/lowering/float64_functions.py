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
  within 1e-7 of the result). Of a value held rounded with a larger error of its own (a logsumexp, tanh or sigmoid
  result, a float64 layer's float32 result: not in ``WITHIN_ULPS``) they are refused by name (review R2: tanh of a
  logsumexp of 10 000 values was 970 times the bound off on wasm). ``sin`` and ``cos`` stay refused: TF.js's wasm Sin and Cos of float32 are 0.3 off at
  3e38 (2.5e-7 below 1e5), which no conversion can see coming, and of a pair past float32's range (an overflowed
  ``hi``) NaN where Keras's float64 value is a number.
"""
from __future__ import annotations

import weakref

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .op_layers import _EXACTLY_HELD, KERAS_OP_PREFIX, OpCall, OpSpec, _select, finite_or_zero

F32, F64 = DType.FLOAT32, DType.FLOAT64

#: tf_keras functions and Keras 3 operations that only move their float64 operands' values (a concat or stack of
#: float64 tensors, or of float32 ones standing for float64 values; integers among them are a gap).
FLOAT64_MOVES = frozenset({
    "reshape", "transpose", "compat.v1.transpose", "expand_dims", "squeeze", "compat.v1.squeeze",
    "__operators__.getitem", "tile", "identity", "concat", "stack",
    "Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Tile", "Concatenate", "Stack"})
#: The moves that join their float operands (each must stand for a float64 value).
_JOINS = frozenset({"concat", "stack", "Concatenate", "Stack"})
_TANH = frozenset({"math.tanh", "nn.tanh", "Tanh"})
_SIGMOID = frozenset({"math.sigmoid", "nn.sigmoid", "sigmoid", "Sigmoid"})
#: Smooth float64 functions computed in float32 with the first-order term of a pair's ``lo``.
FLOAT64_SMOOTH = _TANH | _SIGMOID
#: The graphs whose smooth float64 functions were named (once per model).
_NOTICED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _held(c: OpCall, v: Value, name: str) -> tuple[Value, Value | None, str]:
    """A float64 Value's float32 ``hi``, its ``lo`` (None but for pairs) and how it is held: ``exact``, ``pair``,
    ``rounded`` (within a few float32 ulps: exp, log) or ``loose`` (held rounded with a larger error of its own)."""
    from .op_layers_tf_gaps import _PAIRS, WITHIN_ULPS

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
    float64 one (a float64 layer's result): held ``loose`` (its error is the layer's); a float64 model input held as float32 (or moved from one), or a
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
    from .op_layers_tf_gaps import WITHIN_ULPS, _held_pair, as_float64

    if c.function in _JOINS and any(v.dtype not in (F32, F64) for v in c.tensors("values")):
        raise c.gap("float64 values joined with integers, bools or float16 ones")
    floats = {i: v for i, v in enumerate(c.ctx.inputs) if v.dtype in (F32, F64, DType.FLOAT16)}
    held = {i: _held(c, v, f"moved_{i}") if v.dtype == F64 else _float32_held(c, v) for i, v in floats.items()}
    kinds = {kind for _, _, kind in held.values()}
    hi = _lowered_on(c, spec, {i: h for i, (h, _, _) in held.items()})
    if "pair" not in kinds or kinds & {"rounded", "loose"}:
        out = as_float64(c, hi, exact=kinds == {"exact"})
        if "rounded" in kinds and "loose" not in kinds:
            WITHIN_ULPS.setdefault(c.ctx.graph, {})[id(out)] = out
        return out
    lows = {i: lo if lo is not None else c.ctx.unary("ZerosLike", h, label=f"moved_lo_{i}")
            for i, (h, lo, _) in held.items()}
    return _held_pair(c, hi, _lowered_on(c, spec, lows))


def float64_smooth(c: OpCall, spec: OpSpec) -> Value:
    """``tanh`` or ``sigmoid`` (:data:`FLOAT64_SMOOTH`) of a float64 tensor held exactly, as a pair or within a few
    ulps (exp, log): the float32 function of ``hi`` plus ``f'(hi)·lo`` (:func:`_with_lo_term`), held rounded; named
    in a notice with its bound. Of a value held with a larger error of its own a gap (the bound would not cover it:
    tanh of a logsumexp of 10 000 values was 9.7e-5 off on wasm)."""
    from .op_layers_tf_gaps import as_float64

    x = c.tensor("x")
    if x.dtype != F64:
        raise c.gap(f"a float64 function of a {x.dtype.value} tensor")
    hi, lo, kind = _held(c, x, "x")
    if kind == "loose":
        raise c.gap("tanh or sigmoid of a float64 tensor held rounded to float32 with an error of its own (a "
                    "logsumexp, tanh or sigmoid result, or a float64 layer's float32 result): their notice's 1e-7 "
                    "would not cover it")
    out = _lowered_on(c, spec, {c.arguments["x"].index: hi})
    if lo is not None:
        out = _with_lo_term(c, out, lo)
    _notice(c)
    return as_float64(c, out, exact=False)


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
        "log results, within 1e-7 of Keras's float64 result (measured up to 9.9e-8 on wasm, 5.8e-8 on cpu), tanh "
        "also within 3 float32 ulps of it; of other values held rounded (logsumexp, tanh and sigmoid results), and "
        "float64 arithmetic on their results, refused"))
