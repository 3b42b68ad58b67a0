"""tf_keras float32 and int32 model inputs given directly as ``mask=`` to GlobalAveragePooling1D (issue 16, session 25,
helper h4; needs ``call_facts_direct.patch``: without it they are refused as "a mask the lowering does not track").

tf_keras hands the mask to the call as it is and GlobalAveragePooling1D weighs the steps by it
(``sum(x·cast(m)) / sum(cast(m))``, subnormal weights 0 as TensorFlow flushes them, ``0/0`` NaN, ``t/0`` ±Inf),
channels_last and channels_first (the mask expanded on axis 1), with keepdims. Converted with TensorFlow, Keras and
tf_keras poisoned, run in TF.js cpu and wasm at two sizes against Keras's ``model(x, training=False)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

#: Weights: 0, -0.0, 1, 0.5, negative, subnormals (0 in TF), FLT_MIN.
WEIGHTS = np.array([0.0, -0.0, 1.0, 0.5, -2.0, 1e-40, -1e-44, 1.17549435e-38, 3.0], "float32")


def tf_keras_inputs(k: Any) -> Any:
    L = k.layers
    x, floats = k.Input((None, 3), name="x"), k.Input((None,), name="floats")
    ids = k.Input((None,), dtype="int32", name="ids")
    h = L.Dense(3, name="dense")(x)
    return k.Model([x, floats, ids], [
        L.GlobalAveragePooling1D(name="gap_f")(h, mask=floats),
        L.GlobalAveragePooling1D(keepdims=True, name="gap_i")(h, mask=ids),
        L.GlobalAveragePooling1D(data_format="channels_first", name="gap_cf")(
            L.Permute((2, 1), name="permute")(h), mask=floats)])


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    floats = rng.choice(WEIGHTS, (batch, steps)).astype("float32")
    floats[0] = [1e-40] + [0.0] * (steps - 1)  # all weights 0 in TF: 0 / 0, NaN
    ids = rng.integers(-2, 3, (batch, steps)).astype("int32")
    ids[-1, :2] = [2, -2]
    ids[-1, 2:] = 0  # weights summing to 0: t / 0, ±Inf
    return {"x": rng.standard_normal((batch, steps, 3)).astype("float32"), "floats": floats, "ids": ids}


RUNS = [(4, 6), (3, 5)]
FAMILIES = {"tf_keras_inputs": tf_keras_inputs}
CASES = [("tf_keras_inputs", "tf_keras.h5")]


converted = converted_fixture("k25_given_inputs", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=252))


@pytest.mark.node
@each_case(CASES)
def test_tf_keras_model_inputs_given_as_masks_weigh_the_pool(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
