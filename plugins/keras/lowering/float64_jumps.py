"""Op layers whose result jumps, on float64 model inputs TF.js holds as float32 (exactly Keras's values).

The float widths notice says an op layer computing a float64 model input in float32 lands within float32's
precision of each step. That holds for continuous functions, not for those that jump: a floor division or modulo
rounds its quotient once to float32 where Keras rounds it to float64, and Keras 3's ``round(x, decimals)`` scales
by ``10^decimals`` first, so the result lands on the other side of a jump (tf_keras ``float32(0.7) // 0.1`` is 6,
float32's quotient 7; ``float32(0.35)`` rounded to one decimal 0.3 in Keras, 0.4 in float32). Exact, and lowered as
before, where the quotient cannot round: a divisor that is a power of two no larger than 1 (``x // 0.5``, ``x % 1``;
larger ones could underflow a subnormal quotient to -0 where float64's floor is -1) and ``decimals=0``. Everything
else is refused by name. Beyond float32's range (``3e38 // 0.5`` is inf in TF.js) and for float32 subnormals (TF.js
keeps ``floormod(-1e-39, 0.5)`` at -1e-39 where float64 gives 0.5; review R2) they differ as float32 arithmetic does
(the float widths notice). (Comparisons are :mod:`.float64_compare`'s; pairs of float32 reach no such reader: their
floor division is a gap already.)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..op_calls import TensorArg

#: tf_keras (``tf.math.floordiv``, ``x // c``) and Keras 3 (``ops.floor_divide``) floor divisions.
FLOOR_DIVISIONS = frozenset({"math.floordiv", "floordiv", "compat.v1.floor_div", "FloorDivide"})
#: Modulos: floor (``tf.math.floormod``, ``x % c``, Keras 3's ``ops.mod``) and truncated (``truncatemod``, ``fmod``).
MODULOS = frozenset({"math.floormod", "floormod", "math.mod", "mod", "Mod", "Fmod", "truncatemod",
                     "math.truncatemod"})
#: Keras 3's ``ops.round`` (``decimals`` scales by a power of ten first).
ROUNDS = frozenset({"Round"})
#: Where each function's divisor is (tf_keras's names, Keras 3's).
_DIVISOR_NAMES = ("y", "x2")


def refuse_float64_jumps(call: Any) -> None:
    """Refuse a floor division, modulo or rounding to decimals of a float64 model input that float32 could put on
    the other side of a jump (module docstring); anything else passes untouched. ``call``: the op layer's OpCall."""
    from .float_widths import is_float64_input

    if not any(is_float64_input(call.ctx.graph, v) for v in call.ctx.inputs):
        return
    if call.function in ROUNDS and _decimals(call) != 0:
        raise call.gap("a float64 model input rounded to decimals, which TF.js computes in float32 (no float64): "
                       "its value times 10^decimals rounds once more than Keras's float64 product and can land on "
                       "the other side of a half (Keras rounds float32(0.35) to 0.3, float32 to 0.4)")
    if call.function in FLOOR_DIVISIONS | MODULOS and not _exact_divisor(call):
        raise call.gap("a floor division or modulo of a float64 model input, which TF.js computes in float32 (no "
                       "float64): its quotient rounds once more than Keras's float64 one and can land on the other "
                       "side of a whole number (float32(0.7) // 0.1 is 6 in Keras, 7 in float32); exact only for a "
                       "constant divisor that is a power of two no larger than 1")


def _decimals(call: Any) -> int:
    value = call.arguments.get("decimals")
    return 0 if value is None else int(value) if not isinstance(value, TensorArg) else 1


def _exact_divisor(call: Any) -> bool:
    """Whether the divisor is a constant whose every value is a power of two no larger than 1 (``2^k``, ``k <= 0``,
    either sign): then ``x / c`` is exact in float32 as in float64 (within float32's normal range), so floor and
    remainder are Keras's."""
    name = next((n for n in _DIVISOR_NAMES if n in call.arguments), None)
    value = call.arguments.get(name) if name is not None else None
    if value is None or isinstance(value, (TensorArg, dict)):
        return False
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array == 0):
        return False
    mantissa, exponent = np.frexp(np.abs(array))
    return bool(np.all(mantissa == 0.5) and np.all(exponent <= 1))


def greater_bound(call: Any, threshold: float) -> float:
    """The float32 bound ``b`` with ``x > b`` exactly when Keras's float64 ``x > threshold`` (Keras 3's
    ``hard_shrink`` and ``threshold`` of a float64 model input compare in float64): float32 values ``x`` exceed
    ``threshold`` exactly when they exceed its float32 rounding down (``float32(0.1)`` exceeds 0.1, so it is kept; a
    float32 comparison with ``float32(0.1)`` dropped it). Other inputs: ``threshold`` as it is."""
    from .float_widths import is_float64_input

    if not any(is_float64_input(call.ctx.graph, v) for v in call.ctx.inputs) or not np.isfinite(threshold):
        return threshold
    from tfjsconv.passes.float64_comparisons import float32_bound  # the comparisons' rounding down

    return float(float32_bound(np.asarray(threshold, np.float64), "Greater"))
