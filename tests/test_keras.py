"""Keras frontend, end to end: models built here, saved four ways, converted, run in real TF.js.

Each model (``tests/keras_models.py``) is built once per session with Keras 3 and once with
tf_keras (random weights, fixed seeds, random BatchNorm statistics), saved as ``.keras`` and
``.h5`` by each, and its ``model.predict`` outputs kept as the reference. TF.js (cpu and wasm)
must match them to 1e-5 x max|reference|.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError

pytest.importorskip("h5py")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras3 = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

from keras_models import BUILDERS, FLAVORS, Saved, build_cnn, build_gru, make_inputs, randomize, saved_model

RTOL = 1e-5


class _SavedModels:
    def __getitem__(self, key: tuple[str, str]) -> Saved:
        return saved_model(*key)


@pytest.fixture
def models() -> _SavedModels:
    """``models[builder, flavor]``: the session's saved model (built on first use)."""
    return _SavedModels()


def _verify(out: Path, saved: Saved, *, rtol: float = RTOL, backends: tuple[str, ...] = ("cpu", "wasm"),
            expected: dict[str, np.ndarray] | None = None) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    report = verify_model(out, saved.inputs, expected or saved.expected, backends=backends, rtol=rtol, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("builder", list(BUILDERS))
def test_converts_and_matches_keras(models, tmp_path, tfjs_runtime, builder, flavor):
    saved = models[builder, flavor]
    result = tfjsconv.convert(saved.path, tmp_path / "out")
    assert result.input_format == ("keras_keras" if flavor.endswith(".keras") else "keras")
    assert result.model_format == "layers-model"
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    text = json.dumps(doc["modelTopology"])
    assert '"module"' not in text and "__keras_tensor__" not in text and '"batch_shape"' not in text
    _verify(tmp_path / "out", saved)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_gru_reset_after_is_refused_with_a_clear_error(tmp_path, flavor):
    k = keras3 if flavor.startswith("keras3") else tf_keras
    path = tmp_path / f"gru{flavor[flavor.index('.'):]}"
    build_gru(k, reset_after=True).save(path)
    with pytest.raises(InputError) as err:
        tfjsconv.convert(path, tmp_path / "out")
    message = str(err.value)
    assert "'gru' (GRU)" in message and "reset_after=True" in message
    assert "--output_format=tfjs_graph_model" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.node
def test_split_weights_by_layer(models, tmp_path, tfjs_runtime):
    saved = models["cnn", "keras3.keras"]
    tfjsconv.convert(saved.path, tmp_path / "out", split_weights_by_layer=True)
    manifest = json.loads((tmp_path / "out" / "model.json").read_text())["weightsManifest"]
    layers = [{w["name"].split("/")[0] for w in group["weights"]} for group in manifest]
    assert [len(names) for names in layers] == [1] * len(layers)
    prefixes = [names.pop().rstrip("_0123456789") for names in layers]
    assert prefixes == ["conv2d", "batch_normalization", "depthwise_conv2d", "batch_normalization", "dense"]
    assert [g["paths"][0] for g in manifest] == [f"group{i}-shard1of1.bin" for i in range(1, 6)]
    _verify(tmp_path / "out", saved, backends=("cpu",))


@pytest.mark.node
def test_quantize_uint8_matches_the_dequantized_model(tmp_path, tfjs_runtime):
    """TF.js equals Keras run with the dequantized weights, and stays near the float model."""
    from tfjsconv.weights import load_manifest_weights

    model = build_cnn(tf_keras)
    randomize(model, 7)
    inputs = make_inputs(model, 8)
    x = next(iter(inputs.values()))
    exact = model.predict(x, verbose=0)
    model.save(tmp_path / "cnn.h5")
    result = tfjsconv.convert(tmp_path / "cnn.h5", tmp_path / "out", quantize_uint8=True)
    assert result.facts["weights"].quantized
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert {w["quantization"]["dtype"] for g in doc["weightsManifest"] for w in g["weights"]} == {"uint8"}
    weights = load_manifest_weights(doc["weightsManifest"], tmp_path / "out")
    model.set_weights([weights[w.name.removesuffix(":0")] for w in model.weights])
    dequantized = model.predict(x, verbose=0)
    _verify(tmp_path / "out", Saved(tmp_path, inputs, {"output": dequantized}), backends=("cpu",))
    assert np.abs(dequantized - exact).max() < 0.1 * np.abs(exact).max()


def test_keras_archive_is_never_unpacked_next_to_the_input(models, tmp_path):
    saved = models["cnn", "keras3.keras"]
    before = sorted(os.listdir(saved.path.parent))
    tfjsconv.convert(saved.path, tmp_path / "out")
    assert sorted(os.listdir(saved.path.parent)) == before


@pytest.mark.node
def test_tfjs_support_lists_match_the_runtime(tfjs_runtime, tmp_path):
    """Every layer class and activation we let through is registered in the installed TF.js."""
    import subprocess

    from tfjsconv.plugins.keras.tfjs_support import TFJS_ACTIVATIONS, TFJS_LAYER_CLASSES
    from tfjsconv.verify.runtime import find_node

    script = tmp_path / "classes.mjs"
    script.write_text(
        "import { createRequire } from 'node:module';\n"
        f"const require = createRequire({json.dumps(str(Path(tfjs_runtime) / 'node_modules') + '/')});\n"
        "const tf = require('@tensorflow/tfjs');\n"
        "console.log(JSON.stringify(Object.keys(tf.serialization.SerializationMap.getMap().classNameMap)));\n")
    proc = subprocess.run([find_node(), str(script)], check=False, capture_output=True, text=True, timeout=120)
    registered = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert TFJS_LAYER_CLASSES <= registered
    camel = {"".join(p if i == 0 else p.capitalize() for i, p in enumerate(a.split("_"))) for a in TFJS_ACTIVATIONS}
    assert camel <= registered


@pytest.mark.parametrize("flavor", FLAVORS)
def test_reference_runs_the_file_in_keras(models, flavor):
    """``tfjsconv verify model.h5 web_model/`` gets its reference from the frontend."""
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugin_manager import get_plugin_manager

    saved = models["multi", flavor]
    frontend = get_plugin_manager().registry.frontends["keras_keras" if flavor.endswith(".keras") else "keras"]
    outputs = frontend.reference(saved.path, saved.inputs, ConvertOptions())
    assert list(outputs) == list(saved.expected)
    for name, value in saved.expected.items():
        np.testing.assert_allclose(outputs[name], value, rtol=1e-6, atol=1e-6)


@pytest.mark.node
def test_demo_converts_and_verifies_the_bundled_model(tfjs_runtime):
    """``make demo`` (examples/demo.py) on the committed examples/demo_cnn.keras."""
    import subprocess
    import sys

    demo = Path(__file__).parent.parent / "examples" / "demo.py"
    proc = subprocess.run([sys.executable, str(demo)], check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "keras_keras -> tfjs_layers_model" in proc.stdout
    assert proc.stdout.count("PASS") == 3 and "FAIL" not in proc.stdout


@pytest.mark.node
def test_custom_initializers_are_dropped_and_the_model_still_loads(tmp_path, tfjs_runtime):
    """Initializers only make the first weights, which TF.js replaces with the loaded ones (docs/keras.md)."""

    @keras3.saving.register_keras_serializable(package="tfjsconv_test")
    class HalfOnes(keras3.initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return keras3.ops.ones(shape, dtype=dtype) * 0.5

    inp = keras3.Input((4,), name="x")
    model = keras3.Model(inp, keras3.layers.Dense(3, kernel_initializer=HalfOnes(), bias_initializer=HalfOnes(),
                                                  kernel_regularizer=keras3.regularizers.L2(0.1))(inp))
    randomize(model, 11)
    inputs = make_inputs(model, 12)
    expected = {"output": model.predict(inputs["x"], verbose=0)}
    model.save(tmp_path / "init.keras")
    tfjsconv.convert(tmp_path / "init.keras", tmp_path / "out")
    config = json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["model_config"]
    dense = config["config"]["layers"][1]["config"]
    assert dense["kernel_initializer"] is None and dense["bias_initializer"] is None
    assert dense["kernel_regularizer"] == {"class_name": "L1L2", "config": {"l1": 0.0, "l2": pytest.approx(0.1)}}
    _verify(tmp_path / "out", Saved(tmp_path, inputs, expected))
