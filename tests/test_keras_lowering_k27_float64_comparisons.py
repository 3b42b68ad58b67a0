"""tf_keras comparisons of float64 tensors with constants (session 27, trust).

tf_keras converts ``tf.math.greater(w, 0.1)``'s constant to ``w``'s float64, and a float64 model Input fed float32
values holds them exactly: float32's 0.1 fed is 0.100000001490116, greater than float64's 0.1. The lowering rounded the
constant to float32's 0.1 and answered False (every such element 1 off, no warning beyond "within float32's precision
of each step"). Now compared on float32 bounds (:mod:`tfjsconv.plugins.keras.lowering.float64_compare`), exactly: Keras's
``model(x)`` against TF.js cpu and wasm at two batch sizes, TensorFlow, Keras and tf_keras poisoned. Keras 3 converts
a Python scalar to float32 first: its comparisons stay float32 ones (checked too).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

RUNS = [(1,), (3,)]  # the batch beyond the edge rows
_BIG_INT = 2.0**30 + 1  # float32 holds neither it nor 0.1, 0.2, 0.3


def _as_float32(t: Any) -> Any:
    return tf.cast(t, tf.float32)


def tf_input_comparisons(k: Any) -> Any:
    """Every comparison of a float64 Input with constants float32 does and does not hold, through exact op layers
    (``relu``, ``reshape``) too; a float64 Dense after it keeps computing in float32 (named)."""
    w = k.Input((6,), dtype="float64", name="w")
    r = tf.nn.relu(w)
    return k.Model(w, [
        _as_float32(tf.math.greater(w, 0.1)), _as_float32(tf.math.less_equal(w, 0.1)),
        _as_float32(tf.math.greater_equal(r, 0.3)), _as_float32(tf.math.less(w, 0.2)),
        _as_float32(tf.math.equal(w, 0.2)), _as_float32(tf.math.equal(w, 0.5)), _as_float32(w > 0.3),
        _as_float32(tf.math.not_equal(tf.reshape(w, (-1, 2, 3)), [0.1, 0.5, _BIG_INT])),
        _as_float32(tf.math.less(w, 1e39)), _as_float32(tf.math.greater(w, -1e-50)),
        _as_float32(tf.math.greater(w, _BIG_INT)),
    ], name="tf_input_comparisons")


def tf_nested_comparisons(k: Any) -> Any:
    """A nested model's float64 Input (tf_keras casts the caller's float32 tensor up, exactly) compared inside."""
    inner_w = k.Input((6,), dtype="float64", name="inner_w")
    inner = k.Model(inner_w, _as_float32(tf.math.greater(inner_w, 0.1)), name="inner")
    w = k.Input((6,), name="w")
    return k.Model(w, inner(w), name="tf_nested_comparisons")


def tf_nested_computed(k: Any) -> Any:
    """A float64 op layer's result (``maximum(minimum(w, -1), 0.1)``: float64's 0.1 itself, computed in float32 as
    float32's 0.1) into a nested float64 Input compared with 0.1: Keras gives False. The nested Input once marked any
    float32 value exact and compared on the bound below 0.1: True everywhere (review R1, F1). Values computed in
    float32 keep nearest rounding (right here; a fed float32 0.1 through ``maximum(w, 0.1)`` is the other way: the
    float64 notice names such layers)."""
    inner_w = k.Input((6,), dtype="float64", name="inner_w")
    inner = k.Model(inner_w, _as_float32(tf.math.greater(inner_w, 0.1)), name="inner")
    w = k.Input((6,), dtype="float64", name="w")
    return k.Model(w, inner(tf.maximum(tf.minimum(w, -1.0), 0.1)), name="tf_nested_computed")


def keras3_comparisons(k: Any) -> Any:
    """Keras 3 converts a Python scalar to float32 before promoting it: ``w > 0.1`` compares with float32's 0.1."""
    w = k.Input((6,), dtype="float64", name="w")
    return k.Model(w, [k.ops.cast(k.ops.greater(w, 0.1), "float32"), k.ops.cast(w <= 0.2, "float32"),
                       k.ops.cast(k.ops.not_equal(w, 0.3), "float32")], name="keras3_comparisons")


FAMILIES = {"tf_input_comparisons": tf_input_comparisons, "tf_nested_comparisons": tf_nested_comparisons,
            "tf_nested_computed": tf_nested_computed, "keras3_comparisons": keras3_comparisons}
_F32 = np.float32
#: Rows that sit on the constants' float32 roundings and their neighbours, signed zeros, infinities, a subnormal.
_EDGES = np.array([
    [0.1, 0.2, 0.3, 0.5, _BIG_INT, -0.1],
    [np.nextafter(_F32(0.1), _F32(0)), np.nextafter(_F32(0.2), _F32(1)), np.nextafter(_F32(0.3), _F32(0)), 0.0, -0.0,
     np.nextafter(_F32(_BIG_INT), _F32(0))],
    [np.inf, -np.inf, 1e-45, -1e-45, 0.09999, np.nextafter(_F32(_BIG_INT), _F32(np.inf))],
    [1.0, -1.0, 1.0, 2.0, 0.0, 1.0],
], np.float32)


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """The edge rows, then ``batch`` rows drawn from the constants' roundings and normal values (float32 values,
    float64 where the Input is float64: fed exactly)."""
    pool = np.concatenate([_EDGES.ravel(), rng.standard_normal(12).astype(np.float32)])
    values = np.concatenate([_EDGES, rng.choice(pool, (batch, 6))]).astype(np.float32)
    return {"w": values.astype(np.float64) if "float64" in str(model.inputs[0].dtype) else values}


CASES = [("tf_input_comparisons", "tf_keras.h5"), ("tf_nested_comparisons", "tf_keras.h5"),
         ("tf_nested_computed", "tf_keras.h5"), ("keras3_comparisons", "keras3.keras")]
converted = converted_fixture("k27_float64_comparisons", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS),
                                                                                seed=271))


@pytest.mark.node
@each_case(CASES)
def test_float64_comparisons_with_constants_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_float32_bounds_compare_as_float64():
    """The bounds against float64's own comparisons, for constants float32 does and does not hold (halfway ones,
    past float32's range, subnormal and infinite ones) and every float32 neighbour of them."""
    from tfjsconv.plugins.keras.lowering.float64_compare import float32_bound

    rng = np.random.default_rng(0)
    constants = np.concatenate([rng.standard_normal(200) * 10.0 ** rng.integers(-40, 40, 200),
                                [0.1, -0.1, 1e39, -1e39, 1e-50, -1e-50, 0.0, -0.0, np.inf, -np.inf, 2.0**30 + 1,
                                 1.0 + 2.0**-24, 3.4028235677973366e38]])
    tests = {"Greater": np.greater, "GreaterEqual": np.greater_equal, "Less": np.less, "LessEqual": np.less_equal}
    for c in constants:
        with np.errstate(over="ignore"):
            near = np.float32(c)
        xs = np.array([near, np.nextafter(near, _F32(-np.inf)), np.nextafter(near, _F32(np.inf)), np.inf, -np.inf,
                       0.0, -0.0], np.float32)
        for op, test in tests.items():
            bound = float32_bound(np.asarray(c, np.float64), op)
            assert bound.dtype == np.float32
            np.testing.assert_array_equal(test(xs, bound), test(xs.astype(np.float64), c), err_msg=f"{op} {c!r}")
