"""tf_keras op layers the lowering refused while ``--loader=tensorflow`` converted them (session 19, helper H1's
per-function probe): ``tf.repeat`` with a count per entry (a GatherV2 of constant positions, 0 drops an entry),
``tf.round`` of integers (TF returns them as they are), and ``tf.concat`` of a list holding tensors and constants (a
shape built from ``tf.shape(x)[:1]`` and constant sizes, read by a reshape; tf_keras records such a list entry by
entry, which the converter read as a corrupt file until session 19). One converted model at two batch sizes, TF.js
cpu and wasm against tf_keras's ``model(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf_keras = pytest.importorskip("tf_keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

SIZES = [(3,), (2,)]  # batch of each run


def ops_family(k: Any) -> Any:
    import tensorflow as tf

    x = k.Input((3, 4), name="x")
    ids = k.Input((5,), name="ids", dtype="int32")
    repeated = tf.repeat(x, [1, 0, 2], axis=1)
    repeated_last = tf.repeat(x, [2, 1, 1, 3], axis=-1)
    rounded = tf.round(ids)
    target = tf.concat([tf.shape(x)[:1], [2, 6]], axis=0)  # a list of a tensor and constants
    reshaped = tf.reshape(x, target)
    joined = tf.concat([x, np.float32([[[0.5], [1.5], [-2.0]]]) * tf.ones_like(x[:, :, :1])], axis=-1)
    return k.Model([x, ids], [repeated, repeated_last, rounded, reshaped, joined])


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    return {"x": rng.standard_normal((batch, 3, 4)).astype("float32"),
            "ids": rng.integers(-2**31, 2**31, (batch, 5), dtype=np.int64).astype("int32")}


CASES = [("ops", "tf_keras.h5")]
converted = converted_fixture("tf_ops_s19", CASES, two_size_saver({"ops": ops_family}, at_runs(_inputs, SIZES), seed=195))


@pytest.mark.node
@each_case(CASES)
def test_tf_ops_the_traced_path_converted_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
