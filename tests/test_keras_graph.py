"""Keras files -> TF.js graph models (``--output_format=tfjs_graph_model``), checked in real TF.js.

The layers path refuses what TF.js's layer classes lack (GRU ``reset_after=True``, Normalization,
Keras 3 ``hard_sigmoid``, ``keepdims`` pooling ...) and points here; these tests convert exactly
such models as graph models and compare them with Keras on the cpu and wasm backends. Keras loads
the files in safe mode: code in a file is refused unless ``--allow_unsafe_deserialization``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError, UnsafeInputError

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")
pytest.importorskip("keras")
pytest.importorskip("tf_keras")

from keras_models import build_gru, keras_module, make_inputs, randomize, saved_model  # noqa: E402

RTOL = 1e-5
GRAPH = {"output_format": "tfjs_graph_model"}


def _signature_inputs(out: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A single input under the graph's own input name (Keras renames Sequential inputs when loading)."""
    signature = json.loads((out / "model.json").read_text()).get("signature")
    if not signature or len(inputs) != 1:
        return inputs
    names = list(signature["inputs"])
    return dict(zip(names, inputs.values(), strict=True))


def _verify(out: Path, inputs: dict[str, np.ndarray], expected: dict[str, np.ndarray],
            backends: tuple[str, ...] = ("cpu", "wasm")) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    report = verify_model(out, _signature_inputs(out, inputs), expected, backends=backends, rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


def _save(model, path: Path, seed: int = 5) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    randomize(model, seed)
    inputs = make_inputs(model, seed + 1)
    outputs = model.predict(list(inputs.values()) if len(inputs) > 1 else next(iter(inputs.values())), verbose=0)
    model.save(path)
    return inputs, {"output": np.asarray(outputs)}


def _gaps_model(k):
    """Layers and options TF.js's layers API lacks, each of which a graph model runs fine."""
    L = k.layers
    inp = k.Input((8, 8, 3), name="image")
    x = L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0], name="norm")(inp)
    x = L.Conv2D(4, 3, activation="hard_sigmoid", name="hard")(x)
    x = L.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    return k.Model(inp, L.Flatten()(x))


def _assert_refused_as_layers(path: Path, tmp_path: Path, *needles: str) -> None:
    with pytest.raises(InputError) as err:
        tfjsconv.convert(path, tmp_path / "layers")
    message = str(err.value)
    assert "use --output_format=tfjs_graph_model" in message, message
    for needle in needles:
        assert needle in message, message
    assert not (tmp_path / "layers").exists()


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.keras", "keras3.h5"])
def test_gru_reset_after_refused_as_layers_converts_as_graph(tmp_path, tfjs_runtime, flavor):
    path = tmp_path / f"gru{flavor[flavor.index('.'):]}"
    inputs, expected = _save(build_gru(keras_module(flavor), reset_after=True), path)
    _assert_refused_as_layers(path, tmp_path, "'gru' (GRU)", "reset_after=True")
    result = tfjsconv.convert(path, tmp_path / "graph", **GRAPH)
    assert result.model_format == "graph-model"
    _verify(tmp_path / "graph", inputs, expected)


@pytest.mark.node
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_gaps_refused_as_layers_convert_as_graph(tmp_path, tfjs_runtime, suffix):
    path = tmp_path / f"gaps{suffix}"
    inputs, expected = _save(_gaps_model(keras_module("keras3" + suffix)), path)
    _assert_refused_as_layers(path, tmp_path, "'norm' (Normalization)", "hard_sigmoid", "keepdims=True")
    tfjsconv.convert(path, tmp_path / "graph", **GRAPH)
    _verify(tmp_path / "graph", inputs, expected)


@pytest.mark.node
@pytest.mark.parametrize("builder, flavor", [("cnn", "keras3.keras"), ("cnn", "tf_keras.h5"), ("lstm", "keras3.h5"),
                                             ("nested", "keras3.keras"), ("mlp", "tf_keras.keras")])
def test_models_that_also_convert_as_layers_convert_as_graph(tmp_path, tfjs_runtime, builder, flavor):
    saved = saved_model(builder, flavor)
    tfjsconv.convert(saved.path, tmp_path / "graph", **GRAPH)
    _verify(tmp_path / "graph", saved.inputs, saved.expected)


def _lambda_model(k, canary: Path):
    """A real ``lambda`` (saved as bytecode by both Kerases) that leaves a file behind when it runs."""
    body = eval(f"lambda x: (__import__('pathlib').Path({str(canary)!r}).write_text('executed'), x * 2.0 + 1.0)[1]")
    inp = k.Input((4,), name="x")
    x = k.layers.Lambda(body, name="canary_lambda")(k.layers.Dense(3)(inp))
    return k.Model(inp, k.layers.Dense(2)(x))


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_lambda_needs_allow_unsafe_deserialization_for_graphs(tmp_path, tfjs_runtime, flavor):
    k = keras_module(flavor)
    canary = tmp_path / "canary.txt"
    path = tmp_path / f"lambda{flavor[flavor.index('.'):]}"
    inputs, expected = _save(_lambda_model(k, canary), path)
    canary.unlink()
    with pytest.raises(UnsafeInputError) as err:
        tfjsconv.convert(path, tmp_path / "refused", **GRAPH)
    assert "'canary_lambda' (Lambda)" in str(err.value) and "--allow_unsafe_deserialization" in str(err.value)
    assert not canary.exists() and not (tmp_path / "refused").exists()
    tfjsconv.convert(path, tmp_path / "graph", allow_unsafe_deserialization=True, loader="tensorflow", **GRAPH)
    assert canary.exists()  # Keras traced the function: that is what the flag allows
    _verify(tmp_path / "graph", inputs, expected, backends=("cpu",))


def test_reference_works_for_models_with_tfjs_layer_gaps(tmp_path):
    """``tfjsconv verify gaps.keras graph_model/`` gets Keras's outputs although layers would be refused."""
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugins.keras.frontends import KerasV3Frontend

    path = tmp_path / "gaps.keras"
    inputs, expected = _save(_gaps_model(keras_module("keras3.keras")), path)
    outputs = KerasV3Frontend().reference(path, inputs, ConvertOptions())
    np.testing.assert_allclose(next(iter(outputs.values())), expected["output"], rtol=1e-6, atol=1e-6)


# --- Keras SavedModel folders (tf_keras model.save(dir, save_format="tf")) -------------------------


@pytest.fixture(scope="module")
def keras_saved_model(tmp_path_factory):
    """The multi-input/multi-output model as a tf_keras SavedModel folder, with its reference."""
    saved = saved_model("multi", "tf_keras.h5")
    k = keras_module("tf_keras.h5")
    folder = tmp_path_factory.mktemp("ksm") / "multi_saved_model"
    k.models.load_model(saved.path, compile=False).save(folder, save_format="tf")
    return folder, saved


@pytest.mark.node
@pytest.mark.parametrize("output_format", ["tfjs_layers_model", "tfjs_graph_model"])
def test_keras_saved_model_converts_to_both_formats(keras_saved_model, tmp_path, tfjs_runtime, output_format):
    folder, saved = keras_saved_model
    result = tfjsconv.convert(folder, tmp_path / "out", input_format="keras_saved_model", output_format=output_format)
    assert result.model_format == output_format.removeprefix("tfjs_").replace("_", "-")
    _verify(tmp_path / "out", saved.inputs, saved.expected)


def test_keras_saved_model_refuses_lambdas_before_loading(tmp_path):
    k = keras_module("tf_keras.h5")
    canary = tmp_path / "canary.txt"
    folder = tmp_path / "lambda_sm"
    _lambda_model(k, canary).save(folder, save_format="tf")
    canary.unlink(missing_ok=True)
    for output_format in ("tfjs_layers_model", "tfjs_graph_model"):
        with pytest.raises(UnsafeInputError, match="'canary_lambda' \\(Lambda\\)"):
            tfjsconv.convert(folder, tmp_path / "out", input_format="keras_saved_model", output_format=output_format)
    assert not canary.exists() and not (tmp_path / "out").exists()


def test_plain_saved_models_are_not_keras_saved_models(keras_saved_model, tmp_path):
    folder, _ = keras_saved_model
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "saved_model.pb").write_bytes((folder / "saved_model.pb").read_bytes())
    with pytest.raises(InputError, match="not a Keras one"):
        tfjsconv.convert(plain, tmp_path / "out", input_format="keras_saved_model")
