"""Op layers the h5py lowering refused while ``--loader=tensorflow`` converted them (session 19's tf_keras probe):

- ``tf.math.divide_no_nan`` of integer tensors (:func:`integer_divide_no_nan`): TF casts both to float64 (float32 for
  8/16-bit integers) and divides, 0 where the divisor is 0; there is no integer DivNoNan kernel. Integers cast to
  float64 (:func:`integer_float64_cast`) and tf_keras's integer ``truediv`` (:func:`integer_true_division`) are held
  the same way, as exact pairs and their quotient.
- float64 arithmetic beyond one step (:func:`float64_step`): TF.js has no float64, so ``+ - · / sqrt neg abs`` of
  float64 tensors are computed on pairs ``hi + lo`` of float32 values (about 44 significant bits; "double-float"
  arithmetic built from error-free transformations), where the traced graph computes them in float32. Reductions
  (:func:`float64_reduction`): sums, means and products as trees of such steps (over sizes the config gives or
  known only at run time), max/min exactly, argmax/argmin of values held exactly.
- ``tf.image.stateless_random_crop`` (:func:`_stateless_random_crop`): TF's offsets are Philox bits of the seed
  (:mod:`.philox`, computed here) modulo ``shape - size + 1``, the modulo at run time where a size is unknown.
"""
from __future__ import annotations

import logging
import weakref

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import TensorArg
from .op_layers import (_EXACTLY_HELD, KERAS_OP_PREFIX, OpCall, OpSpec, _cast_int64, _narrow_dtype, _select,
                        finite_or_zero, reduced_axes, register_op_layers)
from .philox import uniform_int32

log = logging.getLogger(__name__)
F32, F64 = DType.FLOAT32, DType.FLOAT64


# -- divide_no_nan of integers ------------------------------------------------------------------------------
def integer_divide_no_nan(c: OpCall, x: Value, y: Value) -> Value:
    """``tf.math.divide_no_nan(x, y)`` of int32/int64 tensors: TF casts both to float64 and divides, 0 where
    ``y == 0`` (``INT32_MIN / -1`` is 2^31, no wrap; there is no integer DivNoNan kernel). The operands become exact
    pairs of float32 (:func:`int32_pair`) divided as pairs (:meth:`_Pairs.div`): a float64 held as a pair, whose
    float32 cast is Keras's quotient rounded, past 2^24 too (the traced graph rounds the operands first). Of
    8/16-bit integers TF divides in float32 (exact operands): that quotient, exactly."""
    x, y = _cast_int64(c, x, "x_int32"), _cast_int64(c, y, "y_int32")
    if x.dtype != DType.INT32 or y.dtype != DType.INT32:
        raise c.gap(f"operands of dtypes {x.dtype.value} and {y.dtype.value}")
    ctx = c.ctx
    hit = ctx.op("Equal", [y, ctx.ints(0, "int_zero")], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                 shape=y.shape, label="divisor_zero")
    zero = ctx.floats(0.0, "zero")
    if _narrow_dtype(c) is not None:
        xf, yf = (ctx.op("Cast", [v], {"SrcT": DType.INT32, "DstT": F32, "Truncate": False}, dtype=F32, shape=v.shape,
                         label=f"{label}_float") for v, label in ((x, "x"), (y, "y")))
        return _select(c, hit, zero, ctx.binary("RealDiv", xf, yf, label="quotient"), "no_nan")
    build = _Pairs(c)
    hi, lo = build.div(int32_pair(build, x), int32_pair(build, y))
    assert lo is not None
    return _held_pair(c, _select(c, hit, zero, hi, "no_nan_hi"), _select(c, hit, zero, lo, "no_nan_lo"))


def integer_true_division(c: OpCall, x: Value, y: Value) -> Value:
    """tf_keras's ``truediv`` of int32/int64 tensors (``i / 7``): TF's float64 quotient of the operands cast to
    float64, as a pair (:func:`integer_divide_no_nan` without the zero guard: ``x / 0`` is ±Inf or NaN)."""
    x, y = _cast_int64(c, x, "x_int32"), _cast_int64(c, y, "y_int32")
    build = _Pairs(c)
    hi, lo = build.div(int32_pair(build, x), int32_pair(build, y))
    assert lo is not None
    return _held_pair(c, hi, lo)


def integer_float64_cast(c: OpCall, x: Value) -> Value:
    """A cast of int32/int64 ``x`` to float64 (exact in TF): held as an exact pair, so its float32 cast rounds
    once and float64 arithmetic on it starts from Keras's values past 2^24 too."""
    x = _cast_int64(c, x, "x_int32")
    build = _Pairs(c)
    out = _held_pair(c, *int32_pair(build, x))
    _CASTABLE.setdefault(c.ctx.graph, {})[id(out)] = out  # the integers themselves: truncating them is exact
    _INTEGERS.setdefault(c.ctx.graph, {})[id(out)] = x  # their order is the int32's (argmax, :func:`_exact_arg_extreme`)
    return out


def int32_pair(build: "_Pairs", x: Value) -> Pair:
    """An int32 tensor as an exact pair of float32 (the float64 value TF casts it to): ``x mod 2^16`` and the rest,
    each exact in float32, summed by TwoSum (``hi`` is ``x`` rounded to float32 once, ``lo`` the remainder)."""
    ctx = build.ctx
    low = ctx.binary("FloorMod", x, ctx.ints(1 << 16, build._label("int_base")), label=build._label("int_low"))
    high = ctx.binary("Sub", x, low, label=build._label("int_high"))  # a multiple of 2^16: 16 significant bits
    as_float = [ctx.exact_cast(v, F32, build._label("int_float")) for v in (high, low)]  # each exact in float32
    return build.two_sum(*as_float)


def as_float64(c: OpCall, v: Value, exact: bool, label: str = "as_float64") -> Value:
    """The float64 Value TF.js holds as the float32 ``v`` (a Cast it reads as float32), remembered as held exactly
    (:data:`.op_layers._EXACTLY_HELD`) where ``exact``: Keras's float64 values are ``v``'s."""
    out = c.ctx.op("Cast", [v], {"SrcT": F32, "DstT": F64, "Truncate": False}, dtype=F64, shape=v.shape, label=label)
    if exact:
        _EXACTLY_HELD.setdefault(c.ctx.graph, {})[id(out)] = out
    return out


def _held_pair(c: OpCall, hi: Value, lo: Value) -> Value:
    """The float64 Value of a pair: ``hi`` cast (what TF.js holds), ``lo`` kept for the next float64 step."""
    out = as_float64(c, hi, exact=False)
    _PAIRS.setdefault(c.ctx.graph, {})[id(out)] = (hi, lo, out)  # ``out`` kept alive: its id stays its own
    return out


def tf_integer_operands(c: OpCall, x: Value, y: Value) -> bool:
    """Integer operands of tf_keras's ``divide_no_nan`` (Keras 3 converts integers to floats itself)."""
    ints = (DType.INT32, DType.INT64)
    return x.dtype in ints and y.dtype in ints and not c.ctx.class_name.startswith(KERAS_OP_PREFIX)


# -- float64 arithmetic on pairs of float32 -----------------------------------------------------------------
#: Per graph, each float64 Value computed on pairs: ``id(value) -> (hi, lo, value)`` (float32 hi and lo).
_PAIRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Per graph, the float64 Values held rounded within a few float32 ulps of Keras's value (exp and log results and
#: moves of them, :func:`float64_in_float32`), whose tanh/sigmoid keep their notice's bound; other values held rounded
#: (logsumexp, tanh and sigmoid results, a float64 layer's float32 result) carry a larger error of their own.
WITHIN_ULPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Per graph, the pairs that hold Keras's float64 value exactly (integers cast to float64), which alone may be cast
#: to int32 or bool: any other pair is within 2^-44 of it, on the other side of an integer or of 0 now and then
#: (``x·0.1·10`` truncated to 8 where Keras gives 9), so such a cast stays a gap.
_CASTABLE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Per graph, the int32 tensor each integer pair was cast from (:func:`integer_float64_cast`): ``id(value) -> int32``.
_INTEGERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Veltkamp's splitter for float32 (2^12 + 1): ``a·s - (a·s - a)`` keeps a's upper 12 bits.
_SPLITTER = 4097.0
#: Past this magnitude a value is split scaled down by 2^30 (``a · 4097`` overflows float32 past ~2^115).
_SPLIT_LIMIT = 2.0**100
_ADD = {"math.add", "__operators__.add", "math.add_v2", "Add"}
_SUB = {"math.subtract", "__operators__.sub", "Subtract"}
_MUL = {"math.multiply", "__operators__.mul", "Multiply"}
_DIV = {"math.truediv", "math.divide", "__operators__.truediv", "Divide", "TrueDivide"}
_NEG = {"math.negative", "Negative"}
_ABS = {"math.abs", "Absolute", "Abs"}
_SQRT = {"math.sqrt", "Sqrt"}
_SUM = {"math.reduce_sum", "reduce_sum", "Sum"}
_MEAN = {"math.reduce_mean", "reduce_mean", "Mean"}
_PROD = {"math.reduce_prod", "reduce_prod", "Prod"}
_MAX = {"math.reduce_max", "reduce_max", "Max"}
_MIN = {"math.reduce_min", "reduce_min", "Min"}
_ARG = {"math.argmax": "ArgMax", "argmax": "ArgMax", "Argmax": "ArgMax", "math.argmin": "ArgMin",
        "argmin": "ArgMin", "Argmin": "ArgMin"}
#: ``top_k`` (tf_keras's ``tf.math.top_k``, Keras 3's ``ops.top_k``): of float64 values held exactly, float32's.
_TOP_K = {"math.top_k", "TopK"}
#: Reductions of float64 tensors: sums, means and products (a tree of pair steps, over axes of sizes the config
#: gives or known only at run time), max/min (the largest pair: one of the values, exactly) and argmax/argmin of
#: values held exactly.
FLOAT64_REDUCTIONS = frozenset(_SUM | _MEAN | _PROD | _MAX | _MIN | set(_ARG))
#: The float64 operations computed on pairs (every other reader of a float64 tensor but a cast is a gap).
FLOAT64_PAIR_STEPS = frozenset(_ADD | _SUB | _MUL | _DIV | _NEG | _ABS | _SQRT)
_EXP = {"math.exp", "Exp"}
_LOG = {"math.log", "Log"}
_LOGSUMEXP = {"math.reduce_logsumexp", "reduce_logsumexp", "Logsumexp"}
#: float64 functions computed in float32 (pairs have no exp or log), named in their own notice with their bound.
FLOAT64_IN_FLOAT32 = frozenset(_EXP | _LOG | _LOGSUMEXP)
#: numpy's float64 step of each, for values the graph fixes when it is built (:func:`_known_result`).
_NUMPY_STEPS = {**{f: np.add for f in _ADD}, **{f: np.subtract for f in _SUB}, **{f: np.multiply for f in _MUL},
                **{f: np.true_divide for f in _DIV}, **{f: np.negative for f in _NEG}, **{f: np.abs for f in _ABS},
                **{f: np.sqrt for f in _SQRT}}
Pair = tuple[Value, "Value | None"]
#: The graphs whose float64 chains were named in a notice (once per model).
_NOTICED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Pairs:
    """Builds double-float32 arithmetic in one layer: every op a plain float32 op of TF.js (``+ - · /`` rounded to
    nearest on cpu, wasm and webgl), so the error-free transformations hold."""

    def __init__(self, c: OpCall) -> None:
        self.c, self.ctx, self.n = c, c.ctx, 0

    def _label(self, what: str) -> str:
        self.n += 1
        return f"f64_{what}_{self.n}"

    def bin(self, op: str, a: Value, b: Value, what: str) -> Value:
        return self.ctx.binary(op, a, b, label=self._label(what))

    def scaled(self, a: Value, scalar: float, what: str) -> Value:
        return self.ctx.scalar_op("Mul", a, scalar, self._label(what))

    def finite_or_zero(self, v: Value) -> Value:
        """``v`` where finite, else 0: an error term of an Inf/NaN result (or of a split that overflowed, past
        ~2^115) is dropped, leaving the plain float32 result."""
        return finite_or_zero(self.c, v, self._label("kept"))

    def two_sum(self, a: Value, b: Value) -> Pair:
        """Knuth's TwoSum: ``s = fl(a + b)`` and its exact error."""
        s = self.bin("AddV2", a, b, "sum")
        bv = self.bin("Sub", s, a, "bv")
        av = self.bin("Sub", s, bv, "av")
        err = self.bin("AddV2", self.bin("Sub", a, av, "ar"), self.bin("Sub", b, bv, "br"), "sum_err")
        return s, err

    def fast_two_sum(self, a: Value, b: Value) -> Pair:
        """Renormalized ``a + b`` (|a| >= |b|): ``hi = fl(a + b)`` and the rest; Inf/NaN rests dropped. A zero rest
        keeps ``a`` itself: ``-0.0 + 0.0`` is +0.0, and a -0.0 product or quotient would lose its sign (``1/x``
        +Inf where Keras gives -Inf; a sum's +0.0 start is :meth:`summed_from_zero`'s)."""
        b = self.finite_or_zero(b)
        zero = self.ctx.op("Equal", [b, self.ctx.floats(0.0, self._label("rest_zero"))],
                           {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=b.shape,
                           label=self._label("rest_is_zero"))
        s = _select(self.c, zero, a, self.bin("AddV2", a, b, "norm_sum"), self._label("norm"))
        return s, self.finite_or_zero(self.bin("Sub", b, self.bin("Sub", s, a, "norm_d"), "norm_err"))

    def split(self, a: Value) -> Pair:
        """Veltkamp's split of ``a`` into two halves of 12 significant bits (their products are exact); past 2^100
        it splits ``a · 2^-30`` (exact) and scales back, where ``a · 4097`` would overflow."""
        big = self.ctx.op("Greater", [self.ctx.unary("Abs", a, label=self._label("split_mag")),
                                      self.ctx.floats(_SPLIT_LIMIT, self._label("split_limit"))],
                          dtype=DType.BOOL, shape=a.shape, label=self._label("split_big"))
        scaled = _select(self.c, big, self.scaled(a, 2.0**-30, "split_down"), a, self._label("split_in"))
        t = self.scaled(scaled, _SPLITTER, "split")
        hi = self.bin("Sub", t, self.bin("Sub", t, scaled, "split_d"), "split_hi")
        hi = _select(self.c, big, self.scaled(hi, 2.0**30, "split_up"), hi, self._label("split_out"))
        return hi, self.bin("Sub", a, hi, "split_lo")

    def two_prod(self, a: Value, b: Value) -> Pair:
        """Dekker's TwoProduct: ``p = fl(a · b)`` and its exact error (no fused multiply-add needed)."""
        p = self.bin("Mul", a, b, "prod")
        (ah, al), (bh, bl) = self.split(a), self.split(b)
        err = self.bin("Sub", self.bin("Mul", ah, bh, "hh"), p, "e1")
        err = self.bin("AddV2", err, self.bin("Mul", ah, bl, "hl"), "e2")
        err = self.bin("AddV2", err, self.bin("Mul", al, bh, "lh"), "e3")
        return p, self.bin("AddV2", err, self.bin("Mul", al, bl, "ll"), "prod_err")

    def add(self, a: Pair, b: Pair) -> Pair:
        s, e = self.two_sum(a[0], b[0])
        if a[1] is None and b[1] is None:
            return s, self.finite_or_zero(e)
        if a[1] is not None and b[1] is not None:  # the accurate sum of two pairs (cancellation kept)
            t, f = self.two_sum(a[1], b[1])
            s, e = self.fast_two_sum(s, self.bin("AddV2", e, t, "lo_sum"))
            return self.fast_two_sum(s, self.bin("AddV2", e, self.finite_or_zero(f), "lo_rest"))
        return self.fast_two_sum(s, self.bin("AddV2", e, a[1] if a[1] is not None else b[1], "lo_add"))

    def neg(self, a: Pair) -> Pair:
        return (self.ctx.unary("Neg", a[0], label=self._label("neg_hi")),
                None if a[1] is None else self.ctx.unary("Neg", a[1], label=self._label("neg_lo")))

    def mul(self, a: Pair, b: Pair) -> Pair:
        p, e = self.two_prod(a[0], b[0])
        for x, y in ((a[0], b[1]), (a[1], b[0])):
            if x is not None and y is not None:
                e = self.bin("AddV2", e, self.bin("Mul", x, y, "cross"), "prod_lo")
        if a[1] is None and b[1] is None:
            return p, self.finite_or_zero(e)
        return self.fast_two_sum(p, e)

    def div(self, a: Pair, b: Pair) -> Pair:
        """Dekker's division: ``q = fl(ah / bh)``, then the rest ``(a - q·b) / bh`` (``a - q·b`` exact in part)."""
        q = self.bin("RealDiv", a[0], b[0], "quot")
        p, e = self.two_prod(q, b[0])
        rest = self.bin("Sub", self.bin("Sub", a[0], p, "r1"), e, "r2")
        if a[1] is not None:
            rest = self.bin("AddV2", rest, a[1], "r3")
        if b[1] is not None:
            rest = self.bin("Sub", rest, self.bin("Mul", q, b[1], "qbl"), "r4")
        lo = self.bin("RealDiv", rest, b[0], "quot_lo")
        if a[1] is None and b[1] is None:  # q is the quotient rounded once, as TF's cast of it: keep it
            return q, self.finite_or_zero(lo)
        return self.fast_two_sum(q, lo)

    def sqrt(self, a: Pair) -> Pair:
        """``s = fl(sqrt(ah))``, then ``(a - s²) / 2s`` (0 where ``s`` is 0)."""
        s = self.ctx.unary("Sqrt", a[0], label=self._label("sqrt"))
        p, e = self.two_prod(s, s)
        rest = self.bin("Sub", self.bin("Sub", a[0], p, "s1"), e, "s2")
        if a[1] is not None:
            rest = self.bin("AddV2", rest, a[1], "s3")
        lo = self.bin("RealDiv", rest, self.bin("AddV2", s, s, "twice"), "sqrt_lo")
        if a[1] is None:
            return s, self.finite_or_zero(lo)
        return self.fast_two_sum(s, lo)

    def abs(self, a: Pair) -> Pair:
        """``|hi|`` (+0.0 of -0.0, as float64's abs) and ``lo`` negated where ``hi`` is negative."""
        magnitude = self.ctx.unary("Abs", a[0], label=self._label("abs"))
        if a[1] is None:
            return magnitude, None
        negative = self.ctx.op("Less", [a[0], self.ctx.floats(0.0, self._label("zero"))], dtype=DType.BOOL,
                               shape=a[0].shape, label=self._label("negative"))
        flipped = self.ctx.unary("Neg", a[1], label=self._label("neg_lo"))
        return magnitude, _select(self.c, negative, flipped, a[1], self._label("abs_lo"))

    def summed_from_zero(self, a: Pair) -> Pair:
        """``hi + 0.0``: TF's float64 sum of two or more values starts from +0.0, so a sum of -0.0s is +0.0."""
        return self.ctx.scalar_op("AddV2", a[0], 0.0, self._label("from_zero")), a[1]


def float64_step(c: OpCall, spec: OpSpec) -> Value:
    """One float64 ``+ - · / sqrt neg abs`` (:data:`FLOAT64_PAIR_STEPS`) on pairs of float32: a float64 Value held
    as its ``hi`` (rounded to float32 as Keras's cast rounds its float64 value, but within about 2^-44 of a
    rounding point), its ``lo`` kept aside for the next step. Operands: float64 tensors held exactly (float32 ones
    cast up) or as pairs, and constants (split into two float32). A chain (an operand held as a pair) is named in
    a notice: each step errs by about 2^-44 of its operands where Keras's float64 errs by 2^-53 (the traced graph
    computes every step in float32, 2^-24), so a float32 cast differs from Keras's only after a cancellation or
    where a value lies that close to a float32 rounding point. Reductions: :func:`float64_reduction`."""
    from .float64_functions import (FLOAT64_MOVES, FLOAT64_PERIODIC, FLOAT64_RELUS, FLOAT64_SELECTS, FLOAT64_SMOOTH,
                                    as_traced_step, bounded_step, float64_moved, float64_periodic, float64_relu,
                                    float64_selected, float64_smooth, in_float32_as_traced, keep_traced,
                                    read_as_traced, traced_step)

    if c.function not in FLOAT64_PAIR_STEPS | FLOAT64_PERIODIC | FLOAT64_MOVES | FLOAT64_SELECTS | FLOAT64_RELUS:
        traced = read_as_traced(c, spec)  # of values computed as the traced path computes them: that path's float32
        if traced is not None:
            return traced
    names = [p for p in spec.params if p in c.arguments][:1 if c.function in _NEG | _ABS | _SQRT else 2]
    if _reads_held_in_float32(c):  # exp, log, tanh results... where pairs would refuse: the traced path's float32
        return traced_step(c, names) if c.function in FLOAT64_PAIR_STEPS else in_float32_as_traced(c, spec)
    if c.function in FLOAT64_REDUCTIONS:
        return float64_reduction(c)
    if c.function in FLOAT64_IN_FLOAT32:
        return float64_in_float32(c, spec)
    if c.function in FLOAT64_MOVES:  # reshape, slices, concat, gather... of float64 values, held as they were
        return keep_traced(c, float64_moved(c, spec))
    if c.function in FLOAT64_SELECTS:  # where(condition, x, y): each value one of the branches'
        return keep_traced(c, float64_selected(c))
    if c.function in _TOP_K:
        return _exact_top_k(c)
    if c.function in FLOAT64_SMOOTH:  # tanh, sigmoid in float32 with the pair's lo term
        return float64_smooth(c, spec)
    if c.function in FLOAT64_PERIODIC:  # sin, cos of tanh/sigmoid results and affine maps of them
        return float64_periodic(c, spec)
    if c.function in FLOAT64_RELUS:  # relu, relu6: values picked, exactly
        return keep_traced(c, float64_relu(c))
    if c.function not in FLOAT64_PAIR_STEPS:  # softmax, square, norm, maximum...: the traced path's float32
        return in_float32_as_traced(c, spec)
    traced = as_traced_step(c, names)  # on values computed as the traced path computes them: the same float32 op
    if traced is not None:
        return traced
    bounded = bounded_step(c, names)  # on tanh/sigmoid results: their error carried as a stated bound
    if bounded is not None:
        return bounded
    operands = [_operand(c, name) for name in names]
    if not any(isinstance(c.arguments.get(n), TensorArg) for n in names):
        raise c.gap("no tensor operand")
    known = _known_result(c, names)
    if known is not None:
        return _known_pair(c, known)
    unit = _unit_product(c, names, operands) if c.function in _MUL else None
    if unit is not None:
        return unit
    build = _Pairs(c)
    f = c.function
    if f in _ADD | _SUB:
        second = build.neg(operands[1]) if f in _SUB else operands[1]
        hi, lo = build.add(operands[0], second)
    elif f in _MUL:
        hi, lo = build.mul(*operands)
    elif f in _DIV:
        hi, lo = build.div(*operands)
    elif f in _NEG:
        hi, lo = build.neg(operands[0])
    elif f in _ABS:
        hi, lo = build.abs(operands[0])
    else:
        hi, lo = build.sqrt(operands[0])
    out = as_float64(c, hi, exact=True) if lo is None else _held_pair(c, hi, lo)
    if any(p[1] is not None for p in operands if p is not None):
        _notice(c)
    return out


def _reads_held_in_float32(c: OpCall) -> bool:
    """Whether ``c`` (a function with no path of its own for values held rounded: not a move, where, relu, sin/cos,
    tanh/sigmoid, argmax or top_k) reads a float64 value held rounded to float32 (an exp, log or tanh result...),
    which pairs refuse; ``+ - · /`` carry a tanh result's bound (:func:`.float64_functions.bounded_step`)."""
    from .float64_functions import (FLOAT64_MOVES, FLOAT64_PERIODIC, FLOAT64_RELUS, FLOAT64_SELECTS, FLOAT64_SMOOTH,
                                    held_in_float32)

    own = FLOAT64_PERIODIC | FLOAT64_MOVES | FLOAT64_SELECTS | FLOAT64_RELUS | FLOAT64_SMOOTH | _TOP_K | set(_ARG)
    steps = c.function in FLOAT64_PAIR_STEPS
    return c.function not in own and any(held_in_float32(c, v, bounded=steps) for v in c.ctx.inputs)


def _unit_product(c: OpCall, names: list[str], operands: list[Pair]) -> Value | None:
    """``x · k`` of a float64 ``x`` held exactly and a constant ``k`` of ±0 or ±1 (every element): float32's product
    is float64's (±x, a signed zero, NaN of ±Inf·0), so the result is held exactly, as a negation is, and a top_k or
    argmax of ``x * 0.0`` orders Keras's values (session 28: held as a pair, its top_k was refused). None otherwise."""
    constants = [n for n in names if not isinstance(c.arguments.get(n), TensorArg)]
    if len(names) != 2 or len(constants) != 1 or any(p[1] is not None for p in operands):
        return None
    with np.errstate(invalid="ignore"):
        k = np.abs(np.asarray(c.arguments[constants[0]], dtype=np.float64))  # _operand read it as a number
    if not np.all((k == 0.0) | (k == 1.0)):
        return None
    return as_float64(c, c.ctx.binary("Mul", operands[0][0], operands[1][0], label="unit_product"), exact=True)


def _known_result(c: OpCall, names: list[str]) -> np.ndarray | None:
    """Keras's float64 result where the graph fixes every operand when it is built (``(c / 5) * 2`` of a size the
    config gives): numpy's float64 step of their exact values (:mod:`.known_values`); None for any other, or a
    result outside float32's normal range (which a pair does not hold)."""
    from .known_values import known_array

    arrays = []
    for name in names:
        value = c.arguments.get(name)
        if isinstance(value, TensorArg):
            value = known_array(c.ctx.inputs[value.index])
            if value is None:
                return None
        try:
            arrays.append(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            return None
    with np.errstate(all="ignore"):
        result = np.asarray(_NUMPY_STEPS[c.function](*arrays), dtype=np.float64)
    magnitude = np.abs(result)
    if not np.all(np.isfinite(result)) or np.any(magnitude > np.finfo(np.float32).max) or \
            np.any((magnitude != 0) & (magnitude < np.finfo(np.float32).tiny)):
        return None
    return result


def _known_pair(c: OpCall, result: np.ndarray) -> Value:
    """A float64 result the graph fixes as constants: its nearest pair of float32 (``hi`` Keras's float32 cast of
    it), Keras's value itself remembered, so a cast of it to int32 folds to TF's integer where the pair (within
    2^-48) could lie on the other side of one (:func:`.op_layers._folded_cast`)."""
    from .known_values import remember_exact

    hi = result.astype(np.float32)
    lo = (result - hi.astype(np.float64)).astype(np.float32)
    hi_value = c.ctx.floats(hi, "known_hi")
    out = _held_pair(c, hi_value, c.ctx.floats(lo, "known_lo")) if np.any(lo) else as_float64(c, hi_value, exact=True)
    remember_exact(out, result)
    return out


# -- float64 exp, log and logsumexp in float32 ------------------------------------------------------------------
#: The graphs whose float64 functions computed in float32 were named (once per model).
_NOTICED_FLOAT32: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def float64_in_float32(c: OpCall, spec: OpSpec) -> Value:
    """``exp``, ``log`` and ``logsumexp`` of a float64 tensor (:data:`FLOAT64_IN_FLOAT32`), which pairs of float32
    cannot compute: the float32 lowering of its ``hi``, then for exp and log the first-order term of ``lo``
    (``e^(hi+lo) = e^hi·(1 + lo)``, ``log(hi + lo) = log(hi) + lo/hi``, exact to float32's precision since
    ``|lo| <= 2^-24·|hi|``). The result is held rounded (neither exact nor a pair): a float32 cast reads it, float64
    arithmetic on it is computed as the traced path computes it (the pairs' 2^-44 would not hold; session 33,
    :func:`.float64_functions.in_float32_as_traced`). Named in its own notice, with its bound."""
    x = c.tensor("x")
    if x.dtype != F64:
        raise c.gap(f"a float64 function of a {x.dtype.value} tensor")
    hi, lo = _operand(c, "x")
    inputs = list(c.ctx.inputs)
    inputs[c.arguments["x"].index] = hi
    c.ctx.inputs = inputs
    out = spec.lower(c)
    if lo is not None and c.function in _EXP | _LOG:
        ctx = c.ctx
        term = ctx.binary("Mul", out, lo, label="lo_term") if c.function in _EXP else \
            ctx.binary("RealDiv", lo, hi, label="lo_term")
        out = ctx.binary("AddV2", out, finite_or_zero(c, term, "lo_kept"), label="with_lo")
    _float32_notice(c)
    held = as_float64(c, out, exact=False)
    if c.function in _EXP | _LOG:  # within about 2 float32 ulps of Keras's value (logsumexp: 1.2e-7·(n + max|x|))
        WITHIN_ULPS.setdefault(c.ctx.graph, {})[id(held)] = held
    return held


def _float32_notice(c: OpCall) -> None:
    """Once per model (notes and a warning), naming the first layer: float64 exp/log/logsumexp computed in float32,
    with what that costs against Keras's float64 result."""
    _once_per_model(c, _NOTICED_FLOAT32, (
        f"float64 exp, log and logsumexp (op layers from {c.ctx.name!r} on) computed in float32 (TF.js has no "
        "float64; --loader=tensorflow computes them in float32 too): exp and log within about 2 float32 ulps of "
        "Keras's float64 result (cpu and wasm), logsumexp within about 1.2e-7·(n + max|x|) of it for n values "
        "reduced; past float32's range a float64 output is Inf or 0 where Keras's is finite (exp of x > 88.72 "
        "Inf, as Keras's float32 cast of it; below 1.2e-38 within float32's smallest step); float64 arithmetic "
        "on their results is computed as --loader=tensorflow computes it, named in the float64 notice"))


# -- float64 reductions ---------------------------------------------------------------------------------------
def float64_reduction(c: OpCall) -> Value:
    """A reduction of a float64 tensor (:data:`FLOAT64_REDUCTIONS`). ``sum``/``mean``/``prod``: a tree of pair
    steps along each reduced axis (:func:`_tree_reduced` over a size the config gives, :func:`_runtime_tree_reduced`
    over one known only at run time, up to 2^16); each level errs by about 2^-44 of its operands, as the chains'
    steps do, named by the same notice.
    ``max``/``min``: the largest (smallest) pair, one of the values exactly. ``argmax``/``argmin`` of values held
    exactly (float32 ones cast up): float32's, the same order; of pairs a gap (Keras's order of values within 2^-44
    of each other could differ)."""
    x = c.tensor("x")
    if x.dtype != F64:
        raise c.gap(f"a float64 reduction of a {x.dtype.value} tensor")
    if c.function in _ARG:
        return _exact_arg_extreme(c, x)
    for option in ("initial", "dtype"):
        if c.value(option, None) is not None:
            raise c.gap(f"{option}={c.value(option)!r} of a float64 reduction")
    shape = c.ctx.shape(x)
    axes = reduced_axes(c, len(shape), "a float64 reduction")
    keep = bool(c.value("keepdims", False))
    pair = _operand(c, "x")
    build = _Pairs(c)
    if c.function in _MAX | _MIN:
        hi, lo = _extreme_pair(build, pair, axes, "Max" if c.function in _MAX else "Min")
    else:
        hi, lo = _summed_pair(c, build, pair, shape, axes)
    if not keep:
        out_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
        hi, lo = (None if v is None else c.ctx.op("Squeeze", [v], {"squeeze_dims": axes}, shape=out_shape,
                                                  label=build._label("squeezed")) for v in (hi, lo))
    if lo is None:
        return as_float64(c, hi, exact=True)
    integers = c.function in _MAX | _MIN and id(x) in _CASTABLE.get(c.ctx.graph, {})  # one of them, exactly
    if not integers and (pair[1] is not None or c.function not in _MAX | _MIN):
        _notice(c)
    out = _held_pair(c, hi, lo)
    if integers:
        _CASTABLE.setdefault(c.ctx.graph, {})[id(out)] = out
    return out


def _summed_pair(c: OpCall, build: _Pairs, pair: Pair, shape: tuple, axes: list[int]) -> Pair:
    """``sum``/``mean``/``prod`` over ``axes`` (kept, of size 1): pair steps along each (:func:`_tree_reduced` where
    the config gives the size, :func:`_runtime_tree_reduced` where only the run does), the mean's sum divided by
    the count (exact in float32 below 2^24; a run-time count as an exact pair)."""
    what = "sum" if c.function in _SUM else "mean" if c.function in _MEAN else "product"
    sizes = [shape[a] for a in axes]
    count = int(np.prod([s for s in sizes if s is not None]))
    if count == 0 or count >= 1 << 24:
        raise c.gap(f"a float64 {what} over axes {axes} of sizes {sizes} (computed on pairs of float32 over 1 to "
                    "2^24 values the config gives, or up to 2^16 along each axis known only at run time)")
    if None in sizes:
        return _runtime_summed_pair(c, build, pair, shape, axes, count)
    hi, lo = pair
    for axis in axes:
        hi, lo = _tree_reduced(build, (hi, lo), axis, shape[axis], c.function in _PROD)
    if c.function not in _PROD and count > 1:  # (one value: TF returns it, -0.0 kept)
        hi, lo = build.summed_from_zero((hi, lo))
    if c.function in _MEAN and count > 1:
        hi, lo = build.div((hi, lo), (c.ctx.floats(float(count), build._label("count")), None))
    return hi, lo


#: Levels of the pair tree along an axis known only at run time (:func:`_runtime_tree_reduced`): up to 2^16 values
#: along it; a longer axis raises in TF.js (a Squeeze of the axis left longer than 1) rather than give a wrong sum.
RUNTIME_LEVELS = 16


def _runtime_summed_pair(c: OpCall, build: _Pairs, pair: Pair, shape: tuple, axes: list[int],
                         known_count: int) -> Pair:
    """:func:`_summed_pair` where some reduced sizes are known only at run time: those axes reduced by
    :func:`_runtime_tree_reduced`, the count read from ``Shape``. As TF, a sum of one value is that value (-0.0
    kept), of more starts from +0.0; the mean divides by the count as an exact pair (:func:`int32_pair`)."""
    ctx, product = c.ctx, c.function in _PROD
    hi, lo = pair
    runtime = [a for a in axes if shape[a] is None]
    from .core import warn_once

    warn_once(ctx, f"layer {ctx.name!r} reduces float64 values along axes known only at run time ({runtime}) on "
                   f"pairs of float32, up to {1 << RUNTIME_LEVELS} values along each: TF.js raises on longer "
                   "inputs")
    dims = ctx.op("Shape", [hi], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(len(shape),),
                  label=build._label("reduced_shape"))
    count = ctx.ints([known_count], build._label("known_count"))
    for axis in runtime:
        count = ctx.binary("Mul", count, _dim(build, dims, axis), label=build._label("count"))
    for axis in sorted(axes, key=lambda a: shape[a] is None):  # config-sized first: TF.js cpu's Slice of an empty
        reduce = _tree_reduced if shape[axis] is not None else _runtime_reduced_along  # run-time result crashed (R6)
        hi, lo = reduce(build, (hi, lo), axis, shape[axis], product)
    if product:
        return hi, lo
    one = ctx.op("Equal", [count, ctx.ints(1, build._label("one"))], {"incompatible_shape_error": True},
                 dtype=DType.BOOL, shape=(1,), label=build._label("one_value"))
    hi = _select(c, one, hi, build.summed_from_zero((hi, lo))[0], build._label("sum_start"))
    if c.function in _MEAN:  # NaN over no values, as TF (webgl's division gives 1 for 0/0: review R6)
        hi, lo = build.div((hi, lo), int32_pair(build, count))
        none = ctx.op("Equal", [count, ctx.ints(0, build._label("zero"))], {"incompatible_shape_error": True},
                      dtype=DType.BOOL, shape=(1,), label=build._label("no_values"))
        factor = _select(c, none, ctx.floats([np.nan], build._label("nan")), ctx.floats([1.0], build._label("one")),
                         build._label("mean_of_none"))  # a [1] factor: a Select would grow an empty result to [1]
        hi = ctx.binary("Mul", hi, factor, label=build._label("mean_nan"))
    return hi, lo


def _runtime_reduced_along(build: _Pairs, pair: Pair, axis: int, _size: None, product: bool) -> Pair:
    """:func:`_runtime_tree_reduced`, with :func:`_tree_reduced`'s arguments."""
    return _runtime_tree_reduced(build, pair, axis, product)


def _dim(build: _Pairs, dims: Value, axis: int) -> Value:
    """The run-time size of ``axis`` (int32, shape [1]) from a ``Shape``."""
    return build.ctx.op("Slice", [dims, build.ctx.ints([axis], build._label("dim_at")),
                                  build.ctx.ints([1], build._label("dim_size"))], {"Index": DType.INT32},
                        dtype=DType.INT32, shape=(1,), label=build._label("dim"))


def _runtime_tree_reduced(build: _Pairs, pair: Pair, axis: int, product: bool) -> Pair:
    """``pair`` summed (multiplied) along ``axis`` of a size known only at run time, in :data:`RUNTIME_LEVELS`
    levels: each pads the axis to an even size with the identity (``-0.0``, whose sum with any value is that value,
    -0.0 too; ``1``), its first level an empty axis to 2, then adds (multiplies) its even items and its odd ones as
    pairs (:meth:`_Pairs.add`), halving it. A length up to 2^levels ends at 1; a longer one fails the last
    ``Squeeze`` in TF.js (it raises) rather than give a partial sum."""
    ctx = build.ctx
    hi, lo = pair
    identity = 1.0 if product else -0.0
    for level in range(RUNTIME_LEVELS):
        paddings = _even_paddings(build, hi, axis, level == 0)
        hi = _padded(build, hi, axis, paddings, identity)
        lo = None if lo is None else _padded(build, lo, axis, paddings, 0.0)
        first = (_strided(build, hi, axis, 0), None if lo is None else _strided(build, lo, axis, 0))
        second = (_strided(build, hi, axis, 1), None if lo is None else _strided(build, lo, axis, 1))
        hi, lo = build.mul(first, second) if product else build.add(first, second)
    return tuple(None if v is None else ctx.expand_dims(ctx.squeeze(v, axis, build._label("at_most_one")), axis,
                                                        build._label("reduced_axis")) for v in (hi, lo))


def _even_paddings(build: _Pairs, v: Value, axis: int, first: bool) -> Value:
    """``Pad`` paddings (int32 ``[rank, 2]``) that make ``axis`` of ``v`` even at run time: ``n mod 2`` items at its
    end, on the first level 2 for an empty axis (``max(n mod 2, 2 - 2n)``)."""
    ctx, rank = build.ctx, len(build.ctx.shape(v))
    dims = ctx.op("Shape", [v], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(rank,),
                  label=build._label("shape"))
    n = _dim(build, dims, axis)
    amount = ctx.binary("FloorMod", n, ctx.ints(2, build._label("two")), label=build._label("odd"))
    if first:
        twice = ctx.binary("AddV2", n, n, label=build._label("twice"))
        empty = ctx.binary("Sub", ctx.ints(2, build._label("two")), twice, label=build._label("empty"))
        amount = ctx.binary("Maximum", amount, empty, label=build._label("pad_amount"))
    at_end = np.zeros((rank, 2), np.int32)
    at_end[axis, 1] = 1
    return ctx.op("Mul", [ctx.ints(at_end, build._label("pad_at_end")), amount], dtype=DType.INT32, shape=(rank, 2),
                  label=build._label("paddings"))


def _padded(build: _Pairs, v: Value, axis: int, paddings: Value, value: float) -> Value:
    """``v`` padded at the end of ``axis`` with ``value`` as ``paddings`` (run-time) say. TF.js's cpu PadV2 fills
    with +0.0 for ``-0.0`` (it fills only a value ``!== 0``), so a -0.0 pad is ``-Pad(-v, 0.0)`` (exact)."""
    shape = tuple(None if i == axis else d for i, d in enumerate(v.shape))
    negated = value == 0.0 and np.signbit(value)
    if negated:
        v = build.ctx.unary("Neg", v, label=build._label("negated"))
    out = build.ctx.op("PadV2", [v, paddings, build.ctx.floats(abs(value), build._label("pad_value"))],
                       {"Tpaddings": DType.INT32}, shape=shape, label=build._label("padded"))
    return build.ctx.op("Neg", [out], shape=shape, label=build._label("pad_negated")) if negated else out


def _strided(build: _Pairs, v: Value, axis: int, start: int) -> Value:
    """Every other item of ``v`` along ``axis`` from ``start`` (0 or 1), every other axis whole."""
    rank = len(v.shape)
    whole = ((1 << rank) - 1) & ~(1 << axis)
    return build.ctx.op("StridedSlice", [v, build.ctx.ints([start if i == axis else 0 for i in range(rank)],
                                                           build._label("begin")),
                                         build.ctx.ints([0] * rank, build._label("end")),
                                         build.ctx.ints([2 if i == axis else 1 for i in range(rank)],
                                                        build._label("stride"))],
                        {"Index": DType.INT32, "begin_mask": whole, "end_mask": (1 << rank) - 1, "ellipsis_mask": 0,
                         "new_axis_mask": 0, "shrink_axis_mask": 0},
                        shape=tuple(None if i == axis else d for i, d in enumerate(v.shape)),
                        label=build._label("every_other"))


def _tree_reduced(build: _Pairs, pair: Pair, axis: int, n: int, product: bool) -> Pair:
    """``pair`` summed (multiplied) along ``axis`` of static size ``n`` down to size 1: each level adds the first
    half to the second as pairs (:meth:`_Pairs.add`), an odd last item carried to the next level."""
    hi, lo = pair
    while n > 1:
        half, odd = n // 2, n % 2
        first = (_along(build, hi, axis, 0, half), None if lo is None else _along(build, lo, axis, 0, half))
        second = (_along(build, hi, axis, half, half), None if lo is None else _along(build, lo, axis, half, half))
        step = build.mul(first, second) if product else build.add(first, second)
        if odd:
            last = (_along(build, hi, axis, 2 * half, 1), None if lo is None else _along(build, lo, axis, 2 * half, 1))
            rest = last[1] if last[1] is not None else build.ctx.unary("ZerosLike", last[0],
                                                                        label=build._label("carried_lo"))
            step = (_joined(build, step[0], last[0], axis), _joined(build, step[1], rest, axis))
        hi, lo = step
        n = half + odd
    return hi, lo


def _along(build: _Pairs, v: Value, axis: int, start: int, size: int) -> Value:
    """``size`` items of ``v`` from ``start`` along ``axis``, every other axis whole."""
    shape = build.ctx.shape(v)
    begin = [start if i == axis else 0 for i in range(len(shape))]
    sizes = [size if i == axis else -1 for i in range(len(shape))]
    return build.ctx.op("Slice", [v, build.ctx.ints(begin, build._label("begin")),
                                  build.ctx.ints(sizes, build._label("size"))], {"Index": DType.INT32},
                        shape=tuple(size if i == axis else d for i, d in enumerate(shape)), label=build._label("part"))


def _joined(build: _Pairs, a: Value, b: Value, axis: int) -> Value:
    shape = build.ctx.shape(a)
    n = None if shape[axis] is None or build.ctx.shape(b)[axis] is None else shape[axis] + build.ctx.shape(b)[axis]
    return build.ctx.op("ConcatV2", [a, b, build.ctx.ints(axis, build._label("join_axis"))],
                        {"N": 2, "Tidx": DType.INT32}, shape=tuple(n if i == axis else d for i, d in enumerate(shape)),
                        label=build._label("joined"))


def _extreme_pair(build: _Pairs, pair: Pair, axes: list[int], op: str) -> Pair:
    """The largest (``Max``) or smallest pair over ``axes`` (kept): the extreme ``hi``, then the extreme ``lo`` among
    the items of that ``hi`` (normalized pairs order as their values), so one of the values exactly."""
    ctx = build.ctx
    hi, lo = pair
    kept = tuple(1 if i in axes else d for i, d in enumerate(ctx.shape(hi)))
    top = ctx.op(op, [hi, ctx.ints(axes, build._label("axes"))], {"keep_dims": True, "Tidx": DType.INT32},
                 shape=kept, label=build._label("extreme_hi"))
    if lo is None:
        return top, None
    at = ctx.op("Equal", [hi, top], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=hi.shape,
                label=build._label("at_extreme"))
    beyond = ctx.floats(-np.inf if op == "Max" else np.inf, build._label("beyond"))
    candidates = _select(build.c, at, lo, beyond, build._label("lo_candidates"))
    return top, ctx.op(op, [candidates, ctx.ints(axes, build._label("lo_axes"))],
                       {"keep_dims": True, "Tidx": DType.INT32}, shape=kept, label=build._label("extreme_lo"))


def _exact_arg_extreme(c: OpCall, x: Value) -> Value:
    """``argmax``/``argmin`` of float64 values held exactly (float32 ones cast up): the float32 lowering of the
    same values (their order is Keras's); of pairs a gap."""
    from .op_layers import _arg_extreme

    integers = _INTEGERS.get(c.ctx.graph, {}).get(id(x))
    if integers is not None:  # integers cast to float64: ordered as the int32 values themselves
        inputs = list(c.ctx.inputs)
        inputs[c.arguments["x"].index] = integers
        c.ctx.inputs = inputs
        return _arg_extreme(_ARG[c.function], float64=True)(c)
    if id(x) not in _EXACTLY_HELD.get(c.ctx.graph, {}):  # pairs, tanh results...: float32's order, as traced
        from .float64_functions import ordered_as_traced, orders_as_traced

        if not orders_as_traced(c, x):  # exp, log, logsumexp results (:func:`float64_in_float32`)
            raise c.gap("an argmax/argmin of float64 values held rounded to float32 (Keras orders its own values; "
                        "distinct ones may round to one float32, exp(-200) and exp(-150) both to 0)")
        if c.ctx.class_name.startswith(KERAS_OP_PREFIX):  # Keras 3's traced argmax holds an op TF.js lacks
            raise c.gap(f"an argmax/argmin of float64 values {_held_how(c, x)} (Keras orders its own values, "
                        "which may tie in float32; --loader=tensorflow does not convert Keras 3's either)")
        return ordered_as_traced(c, _arg_extreme(_ARG[c.function], float64=True), _ARG[c.function])
    index = c.arguments["x"].index
    inputs = list(c.ctx.inputs)
    inputs[index] = c.ctx.op("Cast", [x], {"SrcT": F64, "DstT": F32, "Truncate": False}, dtype=F32, shape=x.shape,
                             label="held_float32_x")
    c.ctx.inputs = inputs
    return _arg_extreme(_ARG[c.function], float64=True)(c)


def _held_how(c: OpCall, x: Value) -> str:
    """How a float64 value not held exactly is held, for a gap's text."""
    return "computed on pairs of float32" if id(x) in _PAIRS.get(c.ctx.graph, {}) else "held rounded to float32"


def _exact_top_k(c: OpCall) -> list[Value]:
    """``top_k`` of float64 values held exactly (float32 ones cast up, ``x * 0.0`` of a float64 model input): the
    float32 lowering of the same values (their order, ties by index, is Keras's), the values cast back up and held
    exactly, the indices as they are; of pairs or values held rounded a gap (session 28: every float64 top_k was
    one, where ``--loader=tensorflow`` converts)."""
    from .op_layers import _top_k

    x = c.tensor("x")
    if x.dtype != F64:
        raise c.gap(_gap_text(f"a top_k of a {x.dtype.value} tensor beside float64 ones"))
    if id(x) not in _EXACTLY_HELD.get(c.ctx.graph, {}):  # pairs, tanh results...: float32's order, as traced
        from .float64_functions import held_as_traced, ordered_as_traced, orders_as_traced

        if not orders_as_traced(c, x):  # exp, log, logsumexp: 0 or Inf for values Keras orders
            raise c.gap(_gap_text("a top_k of float64 values held rounded to float32 (exp, log or logsumexp "
                                  "results: distinct ones may round to one float32, exp(-200) and exp(-150) to 0)"))
        values, indices = ordered_as_traced(c, _top_k, "TopKV2")
        return [held_as_traced(c, values), indices]
    inputs = list(c.ctx.inputs)
    inputs[c.arguments["x"].index] = c.ctx.op("Cast", [x], {"SrcT": F64, "DstT": F32, "Truncate": False}, dtype=F32,
                                              shape=x.shape, label="held_float32_x")
    c.ctx.inputs = inputs
    values, indices = _top_k(c)
    return [as_float64(c, values, exact=True, label="values_float64"), indices]


def _operand(c: OpCall, name: str) -> Pair:
    """An operand as a pair: a float64 tensor held exactly (lo None) or computed on pairs, or a constant split."""
    value = c.arguments.get(name)
    if isinstance(value, TensorArg):
        v = c.ctx.inputs[value.index]
        if v.dtype == F32:  # Keras 3 promotes a float32 operand of a float64 one: cast up exactly
            return v, None
        if v.dtype != F64:
            raise c.gap(f"a float64 operation on a {v.dtype.value} tensor")
        if id(v) in _EXACTLY_HELD.get(c.ctx.graph, {}):
            return c.ctx.op("Cast", [v], {"SrcT": F64, "DstT": F32, "Truncate": False}, dtype=F32, shape=v.shape,
                            label=f"held_float32_{name}"), None
        held = _PAIRS.get(c.ctx.graph, {}).get(id(v))
        if held is None:
            raise c.gap(_gap_text("a float64 tensor held rounded to float32"))
        return held[0], held[1]
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise c.gap(f"argument {name!r} ({value!r}) is not a number") from None
    tiny = np.finfo(np.float32).tiny
    finite = array[np.isfinite(array)]
    if np.any(np.abs(finite) > np.finfo(np.float32).max) or np.any((finite != 0) & (np.abs(finite) < tiny)):
        # a pair of float32 holds neither (1e40 became Inf, and x·1e40/1e40 NaN where Keras gives x)
        raise c.gap(f"a float64 constant {name}={value!r} outside float32's normal range")
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        hi = array.astype(np.float32)
        lo = np.where(np.isfinite(hi), array - hi.astype(np.float64), 0.0).astype(np.float32)
    return c.ctx.floats(hi, f"{name}_hi"), (c.ctx.floats(lo, f"{name}_lo") if np.any(lo) else None)


def pair_cast(c: OpCall, x: Value, dtype: DType) -> Value | None:
    """A cast to int32 or bool of a float64 ``x`` held as a pair of Keras's exact value (:data:`_CASTABLE`; None for
    any other, which the caller names as a gap): TF truncates that value, so the pair decides
    (:func:`_pair_to_int32`); to bool ``hi != 0 or lo != 0``."""
    held = _PAIRS.get(c.ctx.graph, {}).get(id(x))
    if held is None or dtype not in (DType.INT32, DType.BOOL) or id(x) not in _CASTABLE.get(c.ctx.graph, {}):
        return None
    hi, lo = held[0], held[1]
    ctx = c.ctx
    nonzero = [ctx.op("NotEqual", [v, ctx.floats(0.0, f"{part}_zero")], {"incompatible_shape_error": True},
                      dtype=DType.BOOL, shape=v.shape, label=f"{part}_nonzero") for v, part in ((hi, "hi"), (lo, "lo"))]
    if dtype == DType.BOOL:
        return ctx.op("LogicalOr", nonzero, dtype=DType.BOOL, shape=hi.shape, label="Cast")
    return _pair_to_int32(c, hi, lo)


def _pair_to_int32(c: OpCall, hi: Value, lo: Value) -> Value:
    """TF's cast of the float64 ``hi + lo`` (a normalized pair: ``|lo| <= ulp(hi)/2``) to int32: truncated toward
    zero, INT_MIN for NaN, ±Inf and values past int32. A ``hi`` with a fraction truncates alone (``lo`` cannot cross
    an integer); a whole ``hi`` (all from 2^23) adds ``floor(lo)`` (``ceil(lo)`` below 0), up to ±128 past 2^24. In
    int32: ``hi`` cast (2^31 as 2^31 - 256, the rest added in the sum), exact on cpu and wasm."""
    from .op_layers import float_to_int32

    ctx = c.ctx
    shape = hi.shape

    def where(cond: Value, a: Value, b: Value, label: str) -> Value:
        return _select(c, cond, a, b, label)

    def compare(op: str, a: Value, value: float, label: str) -> Value:
        attrs = {"incompatible_shape_error": True} if op == "Equal" else None
        return ctx.op(op, [a, ctx.floats(value, f"{label}_value")], attrs, dtype=DType.BOOL, shape=shape, label=label)

    def both(a: Value, b: Value, label: str) -> Value:
        return ctx.op("LogicalAnd", [a, b], dtype=DType.BOOL, shape=shape, label=label)

    negative = compare("Less", hi, 0.0, "hi_negative")
    whole_hi = where(negative, ctx.unary("Ceil", hi, label="hi_ceil"), ctx.unary("Floor", hi, label="hi_floor"),
                     "hi_truncated")
    is_whole = ctx.op("Equal", [whole_hi, hi], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=shape,
                      label="hi_whole")
    lo_part = where(negative, ctx.unary("Ceil", lo, label="lo_ceil"), ctx.unary("Floor", lo, label="lo_floor"),
                    "lo_truncated")
    zero = ctx.floats(0.0, "adjust_zero")
    adjust = where(is_whole, lo_part, zero, "adjust")
    top = compare("GreaterEqual", whole_hi, 2.0**31, "hi_top")
    shift = where(top, ctx.floats(256.0, "top_shift"), zero, "shift")
    base = float_to_int32(ctx, ctx.binary("Sub", whole_hi, shift, label="hi_shifted"), "hi_int")
    rest = ctx.exact_cast(ctx.binary("AddV2", adjust, shift, label="rest"), DType.INT32, "rest_int")  # |rest| <= 384
    total = ctx.binary("AddV2", base, rest, label="total")
    past = [compare("Greater", whole_hi, 2.0**31, "past_top"), compare("Less", whole_hi, -2.0**31, "past_bottom"),
            both(compare("Equal", whole_hi, 2.0**31, "at_top"), compare("GreaterEqual", adjust, 0.0, "up"), "top_up"),
            both(compare("Equal", whole_hi, -2.0**31, "at_bottom"), compare("Less", adjust, 0.0, "down"),
                 "bottom_down"),
            ctx.op("NotEqual", [hi, hi], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=shape,
                   label="hi_nan")]
    outside = past[0]
    for i, flag in enumerate(past[1:]):
        outside = ctx.op("LogicalOr", [outside, flag], dtype=DType.BOOL, shape=shape, label=f"outside_{i}")
    return ctx.op("SelectV2", [outside, ctx.ints(-2**31, "int32_min"), total], {"T": DType.INT32}, dtype=DType.INT32,
                  shape=shape, label="Cast")


def _gap_text(what: str) -> str:
    return (f"{what} (TF.js has none: float64 values are held as float32 pairs, read by casts and +, -, ·, /, "
            "sqrt, neg or abs of them, moved, gathered, selected by where, sin/cos (in float32 past a bound); "
            "other float64 arithmetic would round otherwise)")


def _notice(c: OpCall) -> None:
    """Once per model (the conversion's notes, and a warning), naming the first layer: float64 chains are computed
    on pairs of float32."""
    _once_per_model(c, _NOTICED, (
        f"float64 arithmetic (op layers from {c.ctx.name!r} on) computed on pairs of float32 (44 significant "
        "bits where float64 has 53; TF.js has no float64): within about 2^-44 of the intermediate values of "
        "Keras's, so their float32 casts are Keras's but after a cancellation or near a rounding point, or "
        "past float32's range, also where only a partial sum or product of a reduction leaves it (past ±3.4e38: "
        "±Inf or NaN there; a product below 1.2e-38 loses digits or becomes 0; --loader=tensorflow computes each "
        "step in float32)"))


def _once_per_model(c: OpCall, seen: weakref.WeakKeyDictionary, text: str) -> None:
    """``text`` logged and added to the conversion's notes the first time a model's walk asks (``seen``)."""
    graph = c.ctx.graph
    if graph in seen:
        return
    seen[graph] = True
    log.warning("%s", text)
    notes = getattr(graph, "notes", None)
    if notes is not None:
        notes.append(text)


# -- stateless_random_crop ----------------------------------------------------------------------------------
#: Horner digits of the random words: base 2^8, four digits (words < 2^31).
_DIGIT_BITS, _DIGITS = 8, 4


def _stateless_random_crop(c: OpCall) -> Value:
    """``tf.image.stateless_random_crop(value, size, seed)``: ``Slice(value, offset, size)`` with TF's
    ``offset = stateless_random_uniform([rank], seed, maxval=INT32_MAX, int32) % (shape - size + 1)``. The words
    depend only on the seed and the rank (:func:`.philox.uniform_int32`); with every size known the offsets are
    constants, else the modulo runs in the graph (:func:`_runtime_offsets`)."""
    x = c.tensor("value")
    shape = c.ctx.shape(x)
    size = c.value("size")
    seed = c.value("seed")
    if not isinstance(size, (list, tuple)) or not all(isinstance(s, int) and not isinstance(s, bool) for s in size):
        raise c.gap(f"size={size!r} (not a list of integers)")
    if not isinstance(seed, (list, tuple)) or len(seed) != 2 or not all(isinstance(s, int) for s in seed):
        raise c.gap(f"seed={seed!r} (not two integers)")
    if len(size) != len(shape):
        raise c.gap(f"size={list(size)} for a tensor of rank {len(shape)}")
    if any(s < 0 or (d is not None and s > d) for s, d in zip(size, shape)):
        raise c.gap(f"size={list(size)} larger than the tensor's shape {list(shape)} (TensorFlow raises)")
    words = uniform_int32(seed, len(shape), 0, 2**31 - 1) if shape else []
    if all(d is not None for d in shape):
        offsets = [w % (d - s + 1) for w, d, s in zip(words, shape, size)]
        begin = c.ctx.ints(offsets, "offsets")
    else:
        begin = _runtime_offsets(c, x, words, size)
    return c.ctx.op("Slice", [x, begin, c.ctx.ints(list(size), "size_value")], {"Index": DType.INT32},
                    shape=tuple(size), label="Slice")


def _runtime_offsets(c: OpCall, x: Value, words: list[int], size: list[int]) -> Value:
    """``words % (shape - size + 1)`` at run time, by Horner's rule over base-2^8 digits of the words: each step
    ``(acc · 2^8 + digit) mod limit`` stays below ``2^8 · limit``, so int32 FloorMod is exact on cpu and wasm while
    ``limit < 2^23``, and webgl (which holds int32 in float32) exact while ``limit < 2^16``."""
    ctx, rank = c.ctx, len(size)
    dims = ctx.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(rank,), label="shape")
    limit = ctx.binary("Sub", dims, ctx.ints([s - 1 for s in size], "size_less_one"), label="limit")
    acc = None
    for k in reversed(range(_DIGITS)):
        digit = ctx.ints([(w >> (_DIGIT_BITS * k)) & ((1 << _DIGIT_BITS) - 1) for w in words], f"digit_{k}")
        total = digit if acc is None else ctx.binary(
            "AddV2", ctx.binary("Mul", acc, ctx.ints(1 << _DIGIT_BITS, f"base_{k}"), label=f"shifted_{k}"), digit,
            label=f"total_{k}")
        acc = ctx.binary("FloorMod", total, limit, label=f"offset_{k}")
    assert acc is not None
    return acc


register_op_layers(tf_functions={
    ("image.stateless_random_crop",): OpSpec(("value", "size", "seed"), _stateless_random_crop),
})
