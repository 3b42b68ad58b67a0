"""Review fixes of session 15 in the op layers' common code (``op_layers.py``), each against Keras's own ``model(x)``
in TF.js cpu and wasm, converted with TensorFlow, Keras and tf_keras poisoned:

- Keras 3's ``matmul`` of int32 multiplies in float32 and casts the product back (its TensorFlow backend's
  ``result_type(.., float)``): the lowering emitted an int32 BatchMatMulV2, which TF.js's wasm refuses and which, on
  cpu, keeps low bits Keras rounds away past 2^24;
- ``zeros_like``/``ones_like`` with a ``dtype`` (Keras 3 records ``"int32"``, tf_keras a TF dtype) were refused: the
  recorded name was compared with the IR's enum name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402


def keras3_model():
    o = keras.ops
    a, b = keras.Input((3, 4), name="a", dtype="int32"), keras.Input((4, 2), name="b", dtype="int32")
    x = keras.Input((3, 4), name="x")
    return keras.Model([a, b, x], [o.matmul(a, b), o.matmul(a[:, 0], b[:, :, 0:1]), o.zeros_like(x, dtype="int32"),
                                   o.ones_like(x, dtype="float32") + x, o.ones_like(a, "float32")])


def tf_keras_model():
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    import tf_keras as k

    x = k.Input((3, 4), name="x")
    return k.Model(x, [tf.zeros_like(x, dtype=tf.int32), tf.ones_like(x, dtype=tf.float32) * x])


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s15_review")
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    saved = {"keras3": save_with_outputs(keras3_model(), {
        "a": rng.integers(-3000, 3000, (2, 3, 4)).astype(np.int32),
        "b": rng.integers(-3000, 3000, (2, 4, 2)).astype(np.int32), "x": x}, folder / "keras3.keras"),
        "tf_keras": save_with_outputs(tf_keras_model(), {"x": x}, folder / "tf_keras.h5")}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", ["keras3", "tf_keras"])
def test_op_layer_fixes_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)
