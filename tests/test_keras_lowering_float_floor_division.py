"""Float ``floor_divide`` / ``mod`` op layers (Keras 3 ``ops``, tf_keras ``//``, ``%``, ``tf.math.floordiv``/``floormod``).

Lowered to FloorDiv / FloorMod, which the core ``float_floor_division`` pass writes so that TF.js gives TF's float
results (``floor(x / y)``, the divisor's sign for the remainder, a zero divisor's ±Inf / NaN). Expected values from
eager Keras; the converted model runs in TF.js cpu and wasm, once at the saved sizes and over a run-time length.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402


def divisions(k):
    """Tensor by scalar, scalar by tensor and tensor by tensor (zeros and negatives in the divisor)."""
    x = k.Input((None, 4), name="x")
    y = k.Input((None, 4), name="y")
    shifted = k.layers.Cropping1D((1, 0), name="crop")(x)
    if k is keras:
        ops = keras.ops
        outs = [ops.floor_divide(x, 0.7), ops.mod(x, -0.7), ops.floor_divide(x, y), ops.mod(x, y),
                ops.mod(2.5, y), ops.floor_divide(shifted, 3.0)]
    else:
        import tensorflow as tf

        outs = [x // 0.7, x % -0.7, tf.math.floordiv(x, y), tf.math.floormod(x, y), 2.5 % y,
                tf.math.floordiv(shifted, 3.0)]
    return k.Model([x, y], outs)


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, (2, 5, 4)).astype(np.float32)
    x[0, 0] = [2.1, -2.1, 0.0, 1e30]  # exact multiples of 0.7 in float32 round either way
    y = rng.uniform(-3, 3, (2, 5, 4)).astype(np.float32)
    y[1, 0] = [0.0, -0.5, 1e-30, 3.0]
    return {"x": x, "y": y}


CASES = [("divisions", flavor) for flavor in ("keras3.keras", "tf_keras.h5")]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "float_floor_division", CASES,
                               family_saver({"divisions": divisions}, _inputs, 41))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[v for _, v in CASES])
def test_float_floor_division_matches_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(path.parent / f"{path.name}.out", inputs, outputs)
