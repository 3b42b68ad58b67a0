"""TF.js layers models as input (``tfjs_layers_model``): re-sharding, re-quantizing, splitting by layer.

A Keras model is converted once, then converted again from the TF.js folder with other flags; the
result is loaded with ``tf.loadLayersModel`` in real TF.js (cpu and wasm) and compared with Keras.
Quantized models are compared with Keras running the *dequantized* weights (what TF.js computes
with), and must stay near the float model.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError, WeightsError
from tfjsconv.weights import load_manifest_weights

pytest.importorskip("h5py")
pytest.importorskip("keras")
pytest.importorskip("tf_keras")

from keras_models import Saved, keras_module, saved_model  # noqa: E402

RTOL = 1e-5


def _verify(out: Path, inputs: dict[str, np.ndarray], expected: dict[str, np.ndarray], *,
            backends: tuple[str, ...] = ("cpu", "wasm"), rtol: float = RTOL) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    report = verify_model(out, inputs, expected, backends=backends, rtol=rtol, quiet=True)
    assert report.passed, format_report(report)


def _manifest(folder: Path) -> list[dict]:
    return json.loads((folder / "model.json").read_text())["weightsManifest"]


@pytest.fixture(scope="module")
def cnn_tfjs(tmp_path_factory) -> tuple[Saved, Path]:
    """The CNN as a tf_keras ``.h5`` and its TF.js layers model."""
    saved = saved_model("cnn", "tf_keras.h5")
    out = tmp_path_factory.mktemp("cnn") / "web_model"
    tfjsconv.convert(saved.path, out)
    return saved, out


@pytest.mark.node
def test_reshard_keeps_the_model_and_cuts_the_shards(cnn_tfjs, tmp_path, tfjs_runtime):
    saved, web = cnn_tfjs
    result = tfjsconv.convert(web, tmp_path / "out", weight_shard_size_bytes=1000)
    assert result.input_format == "tfjs_layers_model" and result.model_format == "layers-model"
    before, after = (json.loads((d / "model.json").read_text()) for d in (web, tmp_path / "out"))
    assert after["modelTopology"] == before["modelTopology"]
    assert [w["name"] for g in after["weightsManifest"] for w in g["weights"]] == \
           [w["name"] for g in before["weightsManifest"] for w in g["weights"]]
    shards = after["weightsManifest"][0]["paths"]
    sizes = [(tmp_path / "out" / p).stat().st_size for p in shards]
    assert len(shards) > 1 and max(sizes) == 1000 and sizes[-1] <= 1000
    assert load_manifest_weights(after["weightsManifest"], tmp_path / "out").keys() == \
           load_manifest_weights(before["weightsManifest"], web).keys()
    _verify(tmp_path / "out", saved.inputs, saved.expected)


@pytest.mark.node
def test_split_by_layer_from_a_tfjs_model(cnn_tfjs, tmp_path, tfjs_runtime):
    saved, web = cnn_tfjs
    tfjsconv.convert(web / "model.json", tmp_path / "out", split_weights_by_layer=True)
    manifest = _manifest(tmp_path / "out")
    layers = [sorted({w["name"].split("/")[0] for w in g["weights"]}) for g in manifest]
    assert all(len(names) == 1 for names in layers) and len(layers) == 5
    assert [g["paths"] for g in manifest] == [[f"group{i}-shard1of1.bin"] for i in range(1, 6)]
    _verify(tmp_path / "out", saved.inputs, saved.expected, backends=("cpu",))


def _keras_with_weights(saved: Saved, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras's outputs with ``weights`` (TF.js names) loaded into the saved model."""
    k = keras_module("tf_keras.h5")
    model = k.models.load_model(saved.path, compile=False)
    model.set_weights([weights[w.name.removesuffix(":0")] for w in model.weights])
    return {"output": model.predict(next(iter(saved.inputs.values())), verbose=0)}


@pytest.mark.node
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float16"])
def test_requantize_matches_keras_with_the_dequantized_weights(cnn_tfjs, tmp_path, tfjs_runtime, dtype):
    saved, web = cnn_tfjs
    result = tfjsconv.convert(web, tmp_path / "q", **{f"quantize_{dtype}": True})
    assert result.facts["weights"].quantized
    manifest = _manifest(tmp_path / "q")
    assert {w["quantization"]["dtype"] for g in manifest for w in g["weights"]} == {dtype}
    dequantized = _keras_with_weights(saved, load_manifest_weights(manifest, tmp_path / "q"))
    _verify(tmp_path / "q", saved.inputs, dequantized)
    exact = saved.expected["output"]
    assert np.abs(dequantized["output"] - exact).max() < 0.1 * np.abs(exact).max()


@pytest.mark.node
def test_quantized_input_is_dequantized_then_requantized_by_pattern(cnn_tfjs, tmp_path, tfjs_runtime):
    """uint8 model -> float32 everywhere but conv kernels at float16: TF.js still sees the uint8 values."""
    saved, web = cnn_tfjs
    tfjsconv.convert(web, tmp_path / "q8", quantize_uint8=True)
    q8 = load_manifest_weights(_manifest(tmp_path / "q8"), tmp_path / "q8")
    tfjsconv.convert(tmp_path / "q8", tmp_path / "back", quantize_float16=["conv2d*/kernel"])
    manifest = _manifest(tmp_path / "back")
    quantized = {w["name"]: w.get("quantization", {}).get("dtype") for g in manifest for w in g["weights"]}
    assert {n for n, q in quantized.items() if q} == {n for n in quantized if n.startswith("conv2d")
                                                      and n.endswith("/kernel")}
    back = load_manifest_weights(manifest, tmp_path / "back")
    for name, value in back.items():
        tolerance = 1e-3 * np.abs(q8[name]).max() if quantized[name] else 0
        np.testing.assert_allclose(value, q8[name], atol=tolerance, rtol=0)
    _verify(tmp_path / "back", saved.inputs, _keras_with_weights(saved, back))


@pytest.mark.node
def test_verify_against_the_source_tfjs_model(cnn_tfjs, tmp_path, tfjs_runtime):
    """``tfjsconv verify web_model/ resharded/`` uses the source TF.js model as the reference."""
    _, web = cnn_tfjs
    tfjsconv.convert(web, tmp_path / "out", weight_shard_size_bytes=2048)
    proc = subprocess.run([sys.executable, "-m", "tfjsconv", "verify", str(web), str(tmp_path / "out"),
                           "--backend", "wasm"], check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout


def test_keras3_and_multi_output_models_round_trip_their_weights(tmp_path):
    """Every weight comes back bit for bit, whatever the grouping (no TF.js needed)."""
    saved = saved_model("multi", "keras3.keras")
    tfjsconv.convert(saved.path, tmp_path / "a", split_weights_by_layer=True)
    tfjsconv.convert(tmp_path / "a", tmp_path / "b", weight_shard_size_bytes=300)
    a = load_manifest_weights(_manifest(tmp_path / "a"), tmp_path / "a")
    b = load_manifest_weights(_manifest(tmp_path / "b"), tmp_path / "b")
    assert list(a) == list(b) and len(_manifest(tmp_path / "b")) == 1
    for name in a:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name


def test_in_order_reads_stream_the_shards_once(cnn_tfjs, monkeypatch, tmp_path):
    """The weights are read in one pass over the shards, not once per weight."""
    from tfjsconv.weights import reader

    _, web = cnn_tfjs
    calls = []
    original = reader.read_weights
    monkeypatch.setattr(reader, "read_weights", lambda *a, **k: calls.append(k) or original(*a, **k))
    tfjsconv.convert(web, tmp_path / "out")
    assert calls == [{}]


# --- refusals ---------------------------------------------------------------------------------------


def _copy_model(src: Path, dst: Path, edit=None) -> Path:
    dst.mkdir()
    doc = json.loads((src / "model.json").read_text())
    for group in doc["weightsManifest"]:
        for shard in group["paths"]:
            (dst / shard).write_bytes((src / shard).read_bytes())
    if edit:
        edit(doc)
    (dst / "model.json").write_text(json.dumps(doc))
    return dst


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *args], check=False, capture_output=True, text=True,
                          timeout=300)


def test_manifest_paths_cannot_leave_the_model_folder(cnn_tfjs, tmp_path):
    _, web = cnn_tfjs
    outside = tmp_path / "secret.bin"
    outside.write_bytes((web / "group1-shard1of1.bin").read_bytes())

    def escape(doc):
        doc["weightsManifest"][0]["paths"] = ["../secret.bin"]

    bad = _copy_model(web, tmp_path / "bad", escape)
    with pytest.raises(WeightsError, match="leaves the model folder"):
        tfjsconv.convert(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    proc = _cli("convert", str(bad), str(tmp_path / "out"), "--input_format", "tfjs_layers_model")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_missing_and_short_shards_are_refused_without_output(cnn_tfjs, tmp_path):
    _, web = cnn_tfjs
    missing = _copy_model(web, tmp_path / "missing")
    (missing / "group1-shard1of1.bin").unlink()
    with pytest.raises(InputError, match="missing"):
        tfjsconv.convert(missing, tmp_path / "out1")
    short = _copy_model(web, tmp_path / "short")
    shard = short / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-8])
    with pytest.raises(WeightsError, match="bytes"):
        tfjsconv.convert(short, tmp_path / "out2")
    assert not (tmp_path / "out1").exists() and not (tmp_path / "out2").exists()


def test_graph_models_and_non_models_are_refused(tmp_path):
    graph = tmp_path / "graph"
    graph.mkdir()
    (graph / "model.json").write_text(json.dumps({"format": "graph-model", "modelTopology": {"node": []},
                                                  "weightsManifest": []}))
    with pytest.raises(InputError, match="graph model"):
        tfjsconv.convert(graph, tmp_path / "out", input_format="tfjs_layers_model")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "model.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable model.json"):
        tfjsconv.convert(junk, tmp_path / "out", input_format="tfjs_layers_model")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no model.json"):
        tfjsconv.convert(empty, tmp_path / "out", input_format="tfjs_layers_model")
    assert not (tmp_path / "out").exists()


def test_detection(cnn_tfjs, tmp_path):
    from tfjsconv.plugins.keras.tfjs_layers import TfjsLayersFrontend

    saved, web = cnn_tfjs
    frontend = TfjsLayersFrontend()
    assert frontend.detect(web) and frontend.detect(web / "model.json") and frontend.detect(str(web))
    assert not frontend.detect(saved.path) and not frontend.detect(tmp_path) and not frontend.detect(object())



def _official_layers_model(folder: Path, *, quantize_uint8: bool) -> tuple[object, dict[str, np.ndarray]]:
    """A model.json + shards hand-built in the layout tensorflowjs_converter 4.22 writes for a tf_keras model
    (the converter itself is not installed in the test environment; ``bench/setup_official_converter.sh``).

    Its ``modelTopology`` is Keras's own JSON config (``keras_version``/``backend``/``model_config``/
    ``training_config``), weights are named ``layer/kernel`` (no ``:0``), one group's bytes are cut
    into ``group1-shardNof2.bin`` files, and ``--quantize_uint8`` stores ``{"dtype": "uint8", "scale",
    "min"}`` per weight (the converter also nudges ``min`` so that 0 is exact; a reader only applies
    ``q * scale + min``, which is what this checks). Returns the tf_keras model holding the weights TF.js
    computes with.
    """
    import tf_keras

    rng = np.random.default_rng(3)
    model = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(8, activation="relu", name="hidden"),
                                 tf_keras.layers.Dense(3, activation="softmax", name="probs")])
    entries, blobs, used = [], [], []
    for weight in model.weights:
        value = rng.standard_normal(weight.shape).astype(np.float32)
        entry = {"name": weight.name.split(":")[0], "shape": list(weight.shape), "dtype": "float32"}
        if quantize_uint8:
            low, high = float(value.min()), float(value.max())
            scale = (high - low) / 255
            q = np.round((value - low) / scale).astype(np.uint8)
            entry["quantization"] = {"dtype": "uint8", "scale": scale, "min": low}
            blobs.append(q.tobytes())
            value = (q.astype(np.float32) * np.float32(scale) + np.float32(low)).astype(np.float32)
        else:
            blobs.append(value.tobytes())
        entries.append(entry)
        used.append(value)
    model.set_weights(used)
    data = b"".join(blobs)
    half = len(data) // 2
    folder.mkdir(parents=True)
    (folder / "group1-shard1of2.bin").write_bytes(data[:half])
    (folder / "group1-shard2of2.bin").write_bytes(data[half:])
    doc = {"format": "layers-model", "generatedBy": "keras v2.21.0", "convertedBy": "TensorFlow.js Converter v4.22.0",
           "modelTopology": {"keras_version": "2.21.0", "backend": "tensorflow",
                             "model_config": json.loads(model.to_json()),
                             "training_config": {"loss": "categorical_crossentropy", "metrics": [],
                                                 "weighted_metrics": None, "loss_weights": None,
                                                 "optimizer_config": {"class_name": "Adam", "config": {}}}},
           "weightsManifest": [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": entries}]}
    (folder / "model.json").write_text(json.dumps(doc))
    x = rng.standard_normal((5, 6)).astype(np.float32)
    return model, {"x": x}


@pytest.mark.node
@pytest.mark.parametrize("quantize_uint8", [False, True], ids=["float32", "uint8"])
def test_a_model_json_in_the_official_converters_layout_is_accepted(tmp_path, tfjs_runtime, quantize_uint8):
    model, inputs = _official_layers_model(tmp_path / "official", quantize_uint8=quantize_uint8)
    result = tfjsconv.convert(tmp_path / "official", tmp_path / "out")
    assert result.input_format == "tfjs_layers_model"
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    weights = [w for g in doc["weightsManifest"] for w in g["weights"]]
    assert [w["name"] for w in weights] == ["hidden/kernel", "hidden/bias", "probs/kernel", "probs/bias"]
    assert all("quantization" not in w for w in weights)  # dequantized once when read, written as float32
    from tfjsconv.verify.inputs import input_specs

    [input_name] = list(input_specs(tmp_path / "out"))
    _verify(tmp_path / "out", {input_name: inputs["x"]}, {"probs": model.predict(inputs["x"], verbose=0)})
