"""Keras 3's legacy ``.h5`` files: the cases where they behave unlike Keras 3's ``.keras`` (issue 13).

Keras 3 still writes ``model.save("m.h5")``, with a Keras 3 config in an HDF5 file (its own path in
:mod:`tfjsconv.plugins.keras`). The conformance run (``bench/conformance/keras_layers.py``, flavor
``keras3_h5``) found no model that converts to something else; the differences are files Keras 3
cannot load back itself. The layers route (h5py only) does not need Keras to load them and must still
match Keras — the model that saved the file — in TF.js; so must the graph route's h5py-only lowering,
while its TensorFlow route loads the file in Keras and must refuse with Keras's reason, never write a model.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError

pytest.importorskip("h5py")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402

RTOL = 1e-5


def _layer_norm_over_two_axes(path):
    keras.utils.set_random_seed(1)
    inp = keras.Input((4, 6), name="x")
    model = keras.Model(inp, keras.layers.LayerNormalization(axis=[1, 2], epsilon=1e-3)(inp))
    randomize(model, 5)
    model.save(path)
    return model


@pytest.mark.node
def test_layer_norm_over_two_axes_converts_although_keras3_cannot_reload_its_h5(tmp_path, tfjs_runtime):
    """Keras 3 saves gamma/beta with shape (4, 6) and then rejects them on load; TF.js takes them as they are."""
    from tfjsconv.verify.compare import format_report, verify_model

    model = _layer_norm_over_two_axes(tmp_path / "ln.h5")
    x = np.random.default_rng(2).standard_normal((2, 4, 6)).astype("float32")
    expected = {"output_0": np.asarray(model(x, training=False))}
    result = tfjsconv.convert(tmp_path / "ln.h5", tmp_path / "out", target_backends=["cpu", "wasm"])
    assert (result.input_format, result.model_format) == ("keras", "layers-model")
    report = verify_model(tmp_path / "out", {"x": x}, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)
    # the per-position gamma matters: a (6,)-shaped reading would not reproduce Keras
    assert np.ptp(model.layers[-1].gamma.numpy(), axis=0).max() > 0.1


@pytest.mark.node
def test_graph_model_of_a_keras3_h5_keras_cannot_load(tmp_path, tfjs_runtime):
    """The h5py-only lowering (the default graph route) reads the file Keras 3 rejects and matches the model
    that saved it; the TensorFlow route (``loader="tensorflow"``) needs Keras to load it and refuses."""
    from tfjsconv.verify.compare import format_report, verify_model

    model = _layer_norm_over_two_axes(tmp_path / "ln.h5")
    with pytest.raises(InputError) as err:
        tfjsconv.convert(tmp_path / "ln.h5", tmp_path / "traced", output_format="tfjs_graph_model",
                         loader="tensorflow")
    assert "Keras 3 could not load" in str(err.value) and "ln.h5" in str(err.value)
    assert not (tmp_path / "traced").exists()
    x = np.random.default_rng(3).standard_normal((2, 4, 6)).astype("float32")
    expected = {"output_0": np.asarray(model(x, training=False))}
    tfjsconv.convert(tmp_path / "ln.h5", tmp_path / "lowered", output_format="tfjs_graph_model",
                     target_backends=["cpu", "wasm"])
    report = verify_model(tmp_path / "lowered", {"x": x}, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_keras3_h5_mask_layers_are_refused_as_layers_and_lowered_as_graph(tmp_path, tfjs_runtime):
    """Keras 3 writes Masking's mask as NotEqual/Any operations into the .h5, which Keras 3 then cannot read;
    the lowering reads them (operations without ``module``) and matches the model that saved the file."""
    from tfjsconv.verify.compare import format_report, verify_model

    inp = keras.Input((5, 3), name="x")
    model = keras.Model(inp, keras.layers.LSTM(3)(keras.layers.Masking(0.0)(inp)))
    randomize(model, 4)
    model.save(tmp_path / "masked.h5")
    with pytest.raises(InputError) as layers_err:
        tfjsconv.convert(tmp_path / "masked.h5", tmp_path / "layers")
    assert "NotEqual" in str(layers_err.value)
    assert "tfjs_graph_model" in f"{layers_err.value} {layers_err.value.hint or ''}"
    assert not (tmp_path / "layers").exists()
    x = np.random.default_rng(5).standard_normal((2, 5, 3)).astype("float32")
    x[0, 3:] = 0.0  # masked steps
    expected = {"output": np.asarray(model(x, training=False))}
    tfjsconv.convert(tmp_path / "masked.h5", tmp_path / "graph", output_format="tfjs_graph_model")
    report = verify_model(tmp_path / "graph", {"x": x}, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)
