"""tf_keras masks through a cast or a nested model whose input dtype the saved config tells otherwise (session 21).

tf_keras does not cast integer inputs to a layer's float32 policy: a relu/linear ``Activation``, a ``ReLU`` without
slope keep int32 ids int32 although their configs say float32. ``tf.cast(a, tf.int32)`` then returns ``a`` itself,
its mask riding on to the pooling after it, and a nested model with an int32 Input reads the mask; a cast to float32,
or a float32 Input, makes a new tensor without it. The lowering refused the first two ("whose saved config tells
another dtype"); it now decides from the dtype Keras's rules give (the one it computes with). Converted with
TensorFlow, Keras and tf_keras poisoned, compared with Keras's ``model(x)`` in TF.js cpu and wasm, at two batches.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned, layer_gaps_of  # noqa: E402


def _steps(batch: int, seed: int) -> np.ndarray:
    """int32 steps with zero steps (masked) at the end, inside, and one row all zero."""
    steps = np.random.default_rng(seed).integers(-3, 4, (batch, 5, 2)).astype(np.int32)
    steps[:, 3:] = 0
    steps[0, 1] = 0
    steps[-1] = 0
    return steps


def _model():
    import tf_keras as k

    steps = k.Input((5, 2), dtype="int32", name="steps")
    masked = k.layers.Masking(0, name="masking")(steps)
    relu = k.layers.Activation("relu", name="relu")(k.layers.Dropout(0.1, name="dropout")(masked))
    plain = k.layers.ReLU(name="plain_relu")(masked)
    linear = k.layers.Activation("linear", name="linear")(masked)

    def inner(name: str, dtype: str) -> k.Model:
        given = k.Input((5, 2), dtype=dtype, name=f"{name}_in")
        return k.Model(given, k.layers.GlobalAveragePooling1D(name=f"{name}_pool")(given), name=name)

    def pool(t, name: str):
        return k.layers.GlobalAveragePooling1D(name=name)(t)

    return k.Model(steps, [
        pool(tf.cast(relu, tf.int32), "pool_int"),  # the tensor itself: masked average
        pool(tf.cast(plain, tf.int32), "pool_plain"),
        k.layers.LSTM(3, name="lstm_linear")(tf.cast(tf.cast(linear, tf.int32), tf.float32)),
        pool(tf.cast(relu, tf.float32), "pool_float"),  # a new tensor: every step averaged
        inner("same", "int32")(relu),  # read as it is, its mask inside
        inner("other", "float32")(plain),  # cast to float32: a new tensor, no mask inside
    ])


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s21_held_dtype")
    model = _model()
    randomize(model, 21)
    assert layer_gaps_of(model) == []
    runs = [save_with_outputs(model, {"steps": _steps(batch, batch)}, folder / f"m{batch}.h5") for batch in (3, 1)]
    convert_poisoned([runs[0][0]])
    return runs


@pytest.mark.node
def test_a_cast_or_nested_model_reads_the_mask_keras_reads(converted, tfjs_runtime):
    first = converted[0]
    expected_means = first[2][0]
    assert not np.allclose(expected_means, first[2][3])  # the mask matters: masked and unmasked means differ
    for _, inputs, outputs in converted:
        _verify(Path(f"{first[0]}.out"), inputs, outputs)
