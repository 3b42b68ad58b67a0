"""int32 powers and squared differences as TensorFlow wraps them (session 19, helper H1's probe).

TF computes an int32 ``pow`` by repeated squaring and ``squared_difference`` as ``(x - y)·(x - y)``, each product
wrapped modulo 2^32 (50000² is -1794967296). TF.js's int32 ``Pow`` saturates to INT32_MIN on wasm past 2^31 and
rounds on cpu past 2^53 (46341⁴), and its cpu ``SquaredDifference`` multiplies in float64: both were lowered as
those ops, silently off. An int32 tensor to a constant whole power now lowers to exact int32 products, and an int32
squared difference to a difference and one exact square. Keras 3 ``ops.power`` and tf_keras ``tf.math.pow`` / ``**``
/ ``tf.math.squared_difference`` on int32 values up to the extremes, TF.js cpu and wasm against ``model(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import _is_keras3  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "tf_keras.h5"]
SIZES = [(3,), (2,)]  # batch of each run


def powers_family(k: Any) -> Any:
    x = k.Input((6,), name="x", dtype="int32")
    y = k.Input((6,), name="y", dtype="int32")
    if _is_keras3(k):
        o = k.ops
        outputs = [o.power(x, 2), o.power(x, 3), o.power(x, 0), o.power(x, 1), o.power(x, 13), o.square(x - y)]
    else:
        import tensorflow as tf

        outputs = [tf.math.pow(x, 2), x ** 3, tf.math.pow(x, 0), tf.math.pow(x, 1), tf.math.pow(x, 13),
                   tf.math.squared_difference(x, y)]
    return k.Model([x, y], outputs)


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    x = rng.integers(-2**31, 2**31, (batch, 6), dtype=np.int64).astype("int32")
    x[0] = [50000, 46341, 301, -7, 0, 2**31 - 1]
    x[-1, :3] = [-2**31, 3, -1]
    y = rng.integers(-2**31, 2**31, (batch, 6), dtype=np.int64).astype("int32")
    y[0] = [0, 3, -1073741824, 0, 100000001, -1]
    return {"x": x, "y": y}


CASES = [("powers", flavor) for flavor in FLAVORS]
converted = converted_fixture("int32_pow_s19", CASES,
                              two_size_saver({"powers": powers_family}, at_runs(_inputs, SIZES), seed=194))


@pytest.mark.node
@each_case(CASES)
def test_int32_powers_and_squared_differences_wrap_as_tensorflow(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
