"""TimeDistributed(TimeDistributed(layer)) through the lowering (session 21; refused before while the traced path
converted it: helper H1's probe). The outer wrapper folds its time axis into the batch and lowers the inner wrapper
there, which folds its own. Masks are not followed through two wrappers: a mask reaching the inner wrapper, or one a
Masking / ``Embedding(mask_zero=True)`` under two wrappers makes (Keras hands it to a masked LSTM after them: the
lowering gave other numbers there before it was refused), is refused by name. tf_keras ``.h5`` and Keras 3
``.keras``: Dense, Conv2D under one wrapper beside it, an Embedding under two; against ``model(x)`` in TF.js cpu and
wasm, with TensorFlow, Keras and tf_keras poisoned.
"""
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
def test_nested_time_distributed_matches_keras(tmp_path, tfjs_runtime, flavor):
    k, suffix = keras_module(flavor), flavor.split(".")[1]
    L = k.layers
    x, ids = k.Input((3, 4, 5, 2), name="x"), k.Input((2, 3, 4), dtype="int32", name="ids")
    embedded = L.TimeDistributed(L.TimeDistributed(L.Embedding(7, 3)))(ids)
    model = k.Model([x, ids], [L.TimeDistributed(L.TimeDistributed(L.Dense(3)))(x),
                               L.TimeDistributed(L.Conv2D(2, 2))(x),
                               L.TimeDistributed(L.TimeDistributed(L.Dense(2)))(embedded)])
    randomize(model, 5)
    inputs = {"x": np.random.default_rng(1).standard_normal((2, 3, 4, 5, 2)).astype("float32"),
              "ids": np.random.default_rng(2).integers(0, 7, (2, 2, 3, 4)).astype("int32")}
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / f"td.{suffix}")
    convert_poisoned([path])
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_a_mask_made_under_two_wrappers_is_refused(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    from keras_models import lowering_refusal

    L = tf_keras.layers
    ids = tf_keras.Input((2, 3, 4), dtype="int32", name="ids")
    embedded = L.TimeDistributed(L.TimeDistributed(L.Embedding(7, 3, mask_zero=True)))(ids)
    tf_keras.Model(ids, L.TimeDistributed(L.TimeDistributed(L.LSTM(2)))(embedded)).save(tmp_path / "m.h5")
    message = lowering_refusal(tmp_path / "m.h5")
    assert "a wrapped TimeDistributed over a mask-making Embedding" in message, message
