"""Concatenate(axis=0): the batches one after the other (session 21; refused before while the traced path converted
it: helper H2's probe). Keras 3 ``.keras`` and tf_keras ``.h5``, against ``model(x)`` in TF.js cpu and wasm, with
TensorFlow, Keras and tf_keras poisoned."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from keras_models import keras_module, randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.keras"])
def test_concatenate_on_the_batch_axis(tmp_path, tfjs_runtime, flavor):
    k, suffix = keras_module(flavor), flavor.split(".")[1]
    a, b = k.Input((3, 2), name="a"), k.Input((3, 2), name="b")
    joined = k.layers.Concatenate(axis=0)([a, k.layers.Dense(2)(b)])
    model = k.Model([a, b], [joined, k.layers.Dense(4)(joined)])
    randomize(model, 3)
    rng = np.random.default_rng(0)
    inputs = {"a": rng.standard_normal((2, 3, 2)).astype(np.float32),
              "b": rng.standard_normal((3, 3, 2)).astype(np.float32)}
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / f"c.{suffix}")
    assert outputs[0].shape == (5, 3, 2)
    convert_poisoned([path])
    _verify(Path(f"{path}.out"), inputs, outputs)
