"""Keras frontend, end to end: models built here, saved three ways, converted, run in real TF.js.

Each model is built once per module with Keras 3 and once with tf_keras (random weights, fixed
seeds, random BatchNorm statistics), saved as ``.keras`` and ``.h5`` by each, and its
``model.predict`` outputs kept as the reference. TF.js (cpu and wasm) must match
them to 1e-5 x max|reference|.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError

pytest.importorskip("h5py")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras3 = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

RTOL = 1e-5
FLAVORS = ("keras3.keras", "keras3.h5", "tf_keras.h5", "tf_keras.keras")
BATCH = 3


def _leaky(k: Any, slope: float) -> Any:
    if k is keras3:
        return k.layers.LeakyReLU(negative_slope=slope)
    return k.layers.LeakyReLU(alpha=slope)


def build_mlp(k: Any) -> Any:
    """Sequential without an Input: the input shape only comes from build()."""
    model = k.Sequential([k.layers.Dense(16, activation="relu"), k.layers.Dropout(0.2),
                          k.layers.Dense(8, activation="tanh"), k.layers.Dense(3, activation="softmax")])
    model.build((None, 10))
    return model


def build_cnn(k: Any) -> Any:
    L = k.layers
    inp = k.Input((16, 16, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = L.BatchNormalization()(x)
    x = L.MaxPooling2D()(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.BatchNormalization(center=False)(x)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(5, activation="softmax")(x)
    return k.Model(inp, out)


def build_lstm(k: Any) -> Any:
    L = k.layers
    inp = k.Input((12,), dtype="int32", name="tokens")
    x = L.Embedding(50, 8)(inp)
    x = L.LSTM(16, return_sequences=True)(x)
    x = L.LSTM(8)(x)
    return k.Model(inp, L.Dense(4, activation="softmax")(x))


def build_gru(k: Any, reset_after: bool = False) -> Any:
    L = k.layers
    inp = k.Input((12,), dtype="int32", name="tokens")
    x = L.Embedding(50, 8)(inp)
    x = L.GRU(16, reset_after=reset_after, name="gru")(x)
    return k.Model(inp, L.Dense(3)(x))


def build_wrappers(k: Any) -> Any:
    """Bidirectional and TimeDistributed over recurrent and dense layers."""
    L = k.layers
    inp = k.Input((10,), dtype="int32", name="tokens")
    x = L.Embedding(50, 6)(inp)
    x = L.Bidirectional(L.LSTM(5, return_sequences=True), name="bidi_lstm")(x)
    x = L.TimeDistributed(L.Dense(4, activation="relu"), name="per_step")(x)
    x = L.Bidirectional(L.GRU(3, reset_after=False), merge_mode="sum", name="bidi_gru")(x)
    return k.Model(inp, L.Dense(2)(x))


def build_misc(k: Any) -> Any:
    """The other weighted layers of the name table, and shape-only layers."""
    L = k.layers
    inp = k.Input((8, 8, 3), name="image")
    x = L.Rescaling(1 / 4.0, offset=-0.5)(inp)
    x = L.ZeroPadding2D(1)(x)
    x = L.SeparableConv2D(6, 3, activation="relu6")(x)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = L.AveragePooling2D(2)(x)
    x = L.UpSampling2D()(x)
    x = L.ReLU(max_value=6.0)(x)
    x = L.Conv2D(4, 3, dilation_rate=2, padding="same", use_bias=False)(x)
    x = L.PReLU()(x)
    x = L.Reshape((256, 4))(x)
    x = L.Conv1D(3, 3, strides=2)(x)
    x = L.LayerNormalization()(x)
    x = L.SimpleRNN(5, return_sequences=True)(x)
    x = L.Permute((2, 1))(x)
    x = L.Flatten()(x)
    x = L.RepeatVector(2)(L.Dense(4)(x))
    return k.Model(inp, L.Softmax()(L.Flatten()(x)))


def build_multi(k: Any) -> Any:
    """Two inputs, three outputs, and most activations TF.js has."""
    L = k.layers
    a, b = k.Input((6,), name="a"), k.Input((4,), name="b")
    x = L.Dense(8, activation="relu")(a)
    y = L.Dense(8, activation="tanh")(b)
    c = L.Concatenate()([x, y])
    d = L.Dense(8, activation="elu")(c)
    e = L.Dense(8, activation="selu")(d)
    f = L.Add()([d, e])
    g = L.Dense(8, activation="gelu")(L.Multiply()([f, d]))
    h = _leaky(k, 0.2)(g)
    probs = L.Dense(3, activation="softmax", name="probs")(h)
    score = L.Dense(1, activation="sigmoid", name="score")(h)
    emb = L.Dense(4, activation="swish", name="emb")(L.Dense(6, activation="softplus")(e))
    return k.Model([a, b], [probs, score, emb])


def build_nested(k: Any) -> Any:
    """A Sequential and a Functional model used as layers, the Functional one called twice."""
    L = k.layers
    inner = k.Sequential([k.Input((5,)), L.Dense(4, activation="relu", name="inner_dense"),
                          L.BatchNormalization(name="inner_bn")], name="inner")
    i2 = k.Input((4,))
    shared = k.Model(i2, L.Dense(3, activation="tanh", name="f_dense")(i2), name="shared")
    inp = k.Input((5,), name="x")
    first, second = shared(inner(inp)), shared(L.Dense(4, name="side")(inp))
    return k.Model(inp, [L.Dense(2, name="head")(L.Add()([first, second])), second])


def build_transfer(k: Any) -> Any:
    """The transfer-learning shape: a functional base model inside a Sequential."""
    L = k.layers
    i = k.Input((8, 8, 3))
    base = k.Model(i, L.Conv2D(4, 3, activation="relu", name="base_conv")(i), name="base")
    return k.Sequential([k.Input((8, 8, 3)), base, L.GlobalAveragePooling2D(), L.Dense(2, name="top")])


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "mlp": build_mlp, "cnn": build_cnn, "lstm": build_lstm, "gru": build_gru, "multi": build_multi,
    "wrappers": build_wrappers, "misc": build_misc, "nested": build_nested, "transfer": build_transfer,
}


def randomize(model: Any, seed: int) -> None:
    """Random weights everywhere, including BatchNorm statistics (variances kept positive)."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        name = getattr(w, "path", None) or w.name
        shape = tuple(w.shape)
        if "moving_variance" in name:
            values.append(rng.uniform(0.5, 2.0, shape))
        elif "gamma" in name:
            values.append(1.0 + 0.2 * rng.standard_normal(shape))
        else:
            values.append(0.4 * rng.standard_normal(shape))
    model.set_weights([v.astype("float32") for v in values])


def make_inputs(model: Any, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape = (BATCH, *tuple(t.shape)[1:])
        name = t.name.split(":")[0]
        if "int" in str(t.dtype):
            inputs[name] = rng.integers(0, 50, shape).astype("int32")
        else:
            inputs[name] = rng.standard_normal(shape).astype("float32")
    return inputs


def output_names(model: Any) -> list[str]:
    return [name.split("/")[0] for name in model.output_names] if len(model.outputs) > 1 else ["output"]


class Saved:
    """One saved model file with its reference inputs and outputs."""

    def __init__(self, path: Path, inputs: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
        self.path, self.inputs, self.expected = path, inputs, expected


def _save(k: Any, builder: str, folder: Path, seed: int) -> dict[str, Saved]:
    k.utils.set_random_seed(seed)
    model = BUILDERS[builder](k)
    randomize(model, seed)
    inputs = make_inputs(model, seed + 1)
    predicted = model.predict(list(inputs.values()) if len(inputs) > 1 else next(iter(inputs.values())), verbose=0)
    predicted = predicted if isinstance(predicted, list) else [predicted]
    expected = dict(zip(output_names(model), (np.asarray(p) for p in predicted), strict=True))
    saved = {}
    flavor = "keras3" if k is keras3 else "tf_keras"
    for suffix in (".keras", ".h5"):
        path = folder / f"{builder}_{flavor}{suffix}"
        model.save(path)
        saved[f"{flavor}{suffix}"] = Saved(path, inputs, expected)
    return saved


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Saved]:
    folder = tmp_path_factory.mktemp("keras_models")
    result: dict[tuple[str, str], Saved] = {}
    for i, builder in enumerate(BUILDERS):
        for k in (keras3, tf_keras):
            for flavor, saved in _save(k, builder, folder, seed=10 * i).items():
                result[builder, flavor] = saved
    return result


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
