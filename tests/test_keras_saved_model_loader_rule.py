"""tf_keras SavedModel folders (``--input_format=keras_saved_model``) follow the rule of ``.h5`` and ``.keras``
files (issue 16): a graph model comes from the lowering alone, and the TensorFlow tracer runs only with
``--loader=tensorflow``. With TensorFlow and tf_keras installed, a folder the lowering does not cover used to fall
back to the tracer without a word; it is now refused naming every uncovered layer, saying how the folder was read
(its own decoding of keras_metadata.pb and the checkpoint, not h5py), with the hint to ``--loader=tensorflow``,
under which it converts and matches Keras in TF.js (cpu and wasm). A folder the lowering covers is lowered as
before, with TensorFlow installed too.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from keras_models import randomize  # noqa: E402
from keras_two_sizes import keras_outputs  # noqa: E402
from test_keras_lowering import _verify  # noqa: E402

import tfjsconv  # noqa: E402
from tfjsconv.errors import UsageError  # noqa: E402

GRAPH = {"input_format": "keras_saved_model", "output_format": "tfjs_graph_model"}


def _tf_keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("tf_keras")


def _uncovered_folder(folder: Path):
    """Two layers the lowering refuses, on two branches: a Lambda (code: read only with
    --allow_unsafe_deserialization) and a TF function it does not translate (clip_by_average_norm)."""
    k = _tf_keras()
    import tensorflow as tf

    L = k.layers
    x = k.Input((6,), name="x")
    h = L.Dense(4, name="proj")(x)
    squashed = L.Lambda(lambda t: t * t * 0.5 + t, name="square_lambda")(h)
    clipped = tf.compat.v1.clip_by_average_norm(L.Dense(3, name="side")(x), 0.5)
    model = k.Model(x, [L.Dense(2, name="head")(squashed), clipped])
    randomize(model, 241)
    model.save(folder, save_format="tf")
    return model


def _covered_folder(folder: Path):
    k = _tf_keras()
    L = k.layers
    x = k.Input((5, 3), name="seq")
    h = L.Conv1D(4, 3, padding="same", activation="relu", name="conv")(x)
    h = L.BatchNormalization(name="bn")(h)
    model = k.Model(x, L.Dense(2, activation="tanh", name="head")(L.GlobalAveragePooling1D(name="gap")(h)))
    randomize(model, 242)
    model.save(folder, save_format="tf")
    return model


def _runs(model, shape: tuple[int, ...]) -> list[tuple[dict[str, np.ndarray], list[np.ndarray]]]:
    rng = np.random.default_rng(243)
    runs = []
    for batch in (2, 3):
        inputs = {model.input_names[0]: rng.standard_normal((batch, *shape)).astype(np.float32)}
        runs.append((inputs, keras_outputs(model, inputs)))
    return runs


def test_an_uncovered_folder_is_refused_by_name_with_tensorflow_installed(tmp_path):
    _uncovered_folder(tmp_path / "sm")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "sm", tmp_path / "out", allow_unsafe_deserialization=True, **GRAPH)
    message = str(err.value)
    assert err.value.exit_code == 2
    assert "does not cover 2 layers: " in message, message
    assert "'square_lambda' (Lambda" in message and "clip_by_average_norm" in message, message
    assert "(keras_metadata.pb and the variables checkpoint decoded without TensorFlow)" in message, message
    assert "h5py" not in message, message
    assert "\n" not in message.split("hint")[0].strip()
    assert err.value.hint == "convert it with --loader=tensorflow (Keras loads the folder and TensorFlow traces it)"
    assert not (tmp_path / "out").exists()


def test_the_fallback_switch_still_traces_an_uncovered_folder(tmp_path, monkeypatch):
    """``frontends.LOWERING_ONLY`` off restores the silent fallback for folders too (as for files)."""
    from tfjsconv.plugins.keras import frontends

    _uncovered_folder(tmp_path / "sm")
    monkeypatch.setattr(frontends, "LOWERING_ONLY", False)
    result = tfjsconv.convert(tmp_path / "sm", tmp_path / "out", allow_unsafe_deserialization=True, **GRAPH)
    assert (tmp_path / "out" / "model.json").is_file()
    assert not any("lowered the model config" in d for d in result.details), result.details


@pytest.mark.node
def test_the_tracer_converts_an_uncovered_folder_under_loader_tensorflow(tmp_path, tfjs_runtime):
    model = _uncovered_folder(tmp_path / "sm")
    runs = _runs(model, (6,))
    result = tfjsconv.convert(tmp_path / "sm", tmp_path / "out", allow_unsafe_deserialization=True,
                              loader="tensorflow", **GRAPH)
    assert not any("lowered the model config" in d for d in result.details), result.details
    for inputs, outputs in runs:
        _verify(tmp_path / "out", inputs, outputs)


@pytest.mark.node
def test_a_covered_folder_is_lowered_with_tensorflow_installed(tmp_path, tfjs_runtime):
    from tfjsconv.plugins.keras.keras_saved_model import SAVED_MODEL_LOWERED

    model = _covered_folder(tmp_path / "sm")
    runs = _runs(model, (5, 3))
    result = tfjsconv.convert(tmp_path / "sm", tmp_path / "out", **GRAPH)
    assert result.details == [SAVED_MODEL_LOWERED]
    for inputs, outputs in runs:
        _verify(tmp_path / "out", inputs, outputs)
