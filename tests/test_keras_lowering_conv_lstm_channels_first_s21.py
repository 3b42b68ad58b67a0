"""ConvLSTM1D/2D/3D with ``data_format="channels_first"`` through the lowering (session 21; refused before while the
traced path converted them: both of this session's layer-option probes).

The layer runs channels last on the transposed input (and ``initial_state``), its sequence or last output and its
states transposed back, as Keras's TensorFlow backend computes channels_first convolutions on cpu. Sequences and
last outputs, ``return_state``, ``go_backwards``, Bidirectional, a ``[batch, steps]`` mask (Keras 3 ``mask=``),
tf_keras ``.h5`` and Keras 3 ``.keras``, against ``model(x)`` in TF.js cpu and wasm.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from keras_models import keras_module, randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402


def _layers(k, L):
    x1 = k.Input((4, 3, 6), name="x1")  # [T, channels, width]
    x2 = k.Input((3, 2, 5, 4), name="x2")  # [T, channels, height, width]
    cf = {"data_format": "channels_first", "padding": "same"}
    outputs = [
        L.ConvLSTM1D(2, 3, return_sequences=True, **cf)(x1),
        *L.ConvLSTM1D(3, 2, go_backwards=True, return_state=True, data_format="channels_first")(x1),
        L.ConvLSTM2D(2, (3, 2), return_sequences=True, **cf)(x2),
        L.ConvLSTM2D(2, 2, strides=(1, 2), data_format="channels_first")(x2),
        L.Bidirectional(L.ConvLSTM1D(2, 3, return_sequences=True, **cf))(x1),
    ]
    return [x1, x2], outputs


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.keras"])
def test_channels_first_conv_lstm_matches_keras(tmp_path, tfjs_runtime, flavor):
    k, suffix = keras_module(flavor), flavor.split(".")[1]
    inputs, outputs = _layers(k, k.layers)
    if flavor.startswith("keras3"):  # a [batch, steps] mask given to a channels_first layer
        m = k.Input((3,), dtype="bool", name="m")
        x2 = inputs[1]
        outputs.append(k.layers.ConvLSTM2D(2, 3, return_sequences=True, data_format="channels_first",
                                           padding="same")(x2, mask=m))
        inputs = [*inputs, m]
    model = k.Model(inputs, outputs)
    randomize(model, 21)
    rng = np.random.default_rng(4)
    feeds = {"x1": rng.standard_normal((2, 4, 3, 6)).astype(np.float32),
             "x2": rng.standard_normal((2, 3, 2, 5, 4)).astype(np.float32)}
    if flavor.startswith("keras3"):
        feeds["m"] = np.array([[True, False, True], [True, True, False]])
    path, feeds, expected = save_with_outputs(model, feeds, tmp_path / f"cf.{suffix}")
    convert_poisoned([path])
    _verify(Path(f"{path}.out"), feeds, expected)
