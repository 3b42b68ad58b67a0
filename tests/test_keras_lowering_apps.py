"""Keras applications through the lowering: no more nodes than the TF-traced path, and Keras's numbers.

Issue 16 asks that a lowered graph model have at most the nodes of the TF-traced one
(``--loader=tensorflow``) on every Keras application. MobileNetV3Small (hard-swish and hard-sigmoid as
op layers, squeeze-excite blocks, BatchNorm with random statistics) is built at 32x32 with random
weights, saved as tf_keras ``.h5`` and Keras 3 ``.keras``, converted through the lowering with TensorFlow
and Keras poisoned, and through the tracer here; the written model.json files are compared node by
node (after the passes), and the lowered model runs in TF.js cpu and wasm against Keras's
``model(x, training=False)``. ``bench/keras_applications.py`` does the same for fifteen applications.
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfjsconv

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import LOWERED, POISONED, _verify  # noqa: E402

TRACED = "keras: loaded with Keras and traced through TensorFlow: --loader=tensorflow"
FLAVORS = ("tf_keras.h5", "keras3.keras")


def _keras(flavor: str):
    if flavor.startswith("keras3"):
        return keras
    pytest.importorskip("tensorflow")
    return pytest.importorskip("tf_keras")


def _randomize_statistics(model, seed: int) -> None:
    """Random BatchNorm statistics and scales (kernels keep their well-scaled initial values), so that
    folding BatchNorm into the convolutions is checked against numbers that are not 0 and 1."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        name, value = getattr(w, "path", None) or w.name, np.asarray(w)
        if "moving_variance" in name:
            value = rng.uniform(0.5, 1.5, value.shape)
        elif "moving_mean" in name or "beta" in name:
            value = 0.1 * rng.standard_normal(value.shape)
        elif "gamma" in name:
            value = 1.0 + 0.1 * rng.standard_normal(value.shape)
        values.append(value.astype(np.asarray(w).dtype))
    model.set_weights(values)


def _mobilenet_v3(flavor: str, folder: Path):
    k = _keras(flavor)
    k.utils.set_random_seed(3)
    model = k.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=7, dropout_rate=0.0)
    _randomize_statistics(model, 3)
    x = np.random.default_rng(4).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    return save_with_outputs(model, {"input": x}, folder / f"mobilenet_v3_small.{flavor}")


def _nodes_by_op(model_dir: Path) -> collections.Counter:
    nodes = json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]
    return collections.Counter(node["op"] for node in nodes)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each flavor's file, inputs and Keras outputs; the lowered conversions, made with TensorFlow and Keras
    poisoned (one process for both files)."""
    folder = tmp_path_factory.mktemp("apps")
    files = {flavor: _mobilenet_v3(flavor, folder) for flavor in FLAVORS}
    out = subprocess.run([sys.executable, "-c", POISONED, *(str(f[0]) for f in files.values())],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count(LOWERED) == len(FLAVORS), out.stdout
    assert out.stdout.rstrip().endswith("LOADED:"), out.stdout
    return files


@pytest.mark.node
@pytest.mark.parametrize("flavor", FLAVORS)
def test_mobilenet_v3_lowered_has_no_more_nodes_than_traced_and_matches_keras(saved, tmp_path, tfjs_runtime,
                                                                                flavor):
    path, inputs, outputs = saved[flavor]
    lowered_dir = Path(str(path) + ".out")
    traced = tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    assert traced.details == [TRACED]
    lowered, by_tracer = _nodes_by_op(lowered_dir), _nodes_by_op(tmp_path / "traced")
    more = {op: (n, by_tracer[op]) for op, n in lowered.items() if n > by_tracer[op]}
    assert lowered.total() <= by_tracer.total(), f"lowered {lowered.total()} > traced {by_tracer.total()}: {more}"
    compute = sum(n for op, n in lowered.items() if op not in ("Const", "Placeholder"))
    assert compute <= sum(n for op, n in by_tracer.items() if op not in ("Const", "Placeholder")), more
    assert lowered["FusedBatchNormV3"] == lowered["BatchNormalization"] == 0, lowered  # folded into the convs
    _verify(lowered_dir, inputs, outputs)


def test_keras_archive_layer_groups_are_scanned_once_per_model(saved, monkeypatch, tmp_path):
    """Finding a layer's group in a ``.keras`` archive reads every group's recorded name; doing that once
    per layer made MobileNetV3Small's lowering take seconds (quadratic in the layers)."""
    from tfjsconv.plugins.keras import v3_weights
    from tfjsconv.plugins.keras.lowering import weights

    calls = []
    real = v3_weights._layer_keys
    monkeypatch.setattr(weights, "_layer_keys", lambda *a, **kw: calls.append(a[1]) or real(*a, **kw))
    path = saved["keras3.keras"][0]
    assert tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model").details == [LOWERED]
    assert calls == ["layers"], calls


@pytest.mark.node
def test_no_op_rescaling_and_zero_biases_leave_no_nodes(tmp_path, tfjs_runtime):
    """What Grappler drops in the traced graph the lowered one drops too: ``Rescaling``'s zero offset (and a
    scale of 1), and the zero biases Keras initializes (a conv fused with an activation keeps its bias)."""
    L = keras.layers
    inp = keras.Input((6, 6, 3), name="image")
    x = L.Rescaling(1 / 255, name="scale_only")(inp)
    x = L.Rescaling(1.0, name="nothing")(x)
    x = L.Conv2D(4, 3, name="zero_bias")(x)
    x = L.Conv2D(4, 1, activation="relu", name="zero_bias_relu")(x)
    model = keras.Model(inp, L.Dense(2, name="dense_zero_bias")(L.Flatten(name="flat")(x)))
    x_in = np.random.default_rng(0).uniform(0, 255, (2, 6, 6, 3)).astype("float32")
    path, inputs, outputs = save_with_outputs(model, {"image": x_in}, tmp_path / "plain.keras")
    assert tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model").details == [LOWERED]
    ops = _nodes_by_op(tmp_path / "out")
    assert ops == {"Placeholder": 1, "Mul": 1, "Conv2D": 1, "_FusedConv2D": 1, "Reshape": 1, "MatMul": 1,
                   "Const": 6}, ops  # scale, 3 kernels, the relu conv's bias, the reshape's shape
    _verify(tmp_path / "out", inputs, outputs)


@pytest.mark.node
def test_nested_concatenations_are_flattened(tmp_path, tfjs_runtime):
    """Inception's ``Concatenate`` of ``Concatenate``s is one ``ConcatV2`` (``concat_chains``), as in the traced
    graph; a concat that is also an output, or joins along another axis, stays."""
    L = keras.layers
    inp = keras.Input((4, 4, 2), name="image")
    a, b, c, d = (L.Conv2D(2, 1, name=f"branch_{i}")(inp) for i in range(4))
    inner = L.Concatenate(name="inner")([b, c])
    shown = L.Concatenate(axis=3, name="shown")([c, d])  # also an output: kept
    across = L.Concatenate(axis=1, name="across")([a, d])  # another axis: kept
    flat = L.Concatenate(axis=-1, name="outer")([a, inner, L.Concatenate(name="deeper")([d, shown]), d])
    model = keras.Model(inp, [flat, shown, L.Concatenate(axis=2, name="rows")([across, across])])
    x_in = np.random.default_rng(1).standard_normal((2, 4, 4, 2)).astype("float32")
    path, inputs, outputs = save_with_outputs(model, {"image": x_in}, tmp_path / "concat.keras")
    assert tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model").details == [LOWERED]
    nodes = json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]
    concats = {n["name"].split("/")[0]: len(n["input"]) - 1 for n in nodes if n["op"] == "ConcatV2"}
    assert concats == {"outer": 6, "shown": 2, "across": 2, "rows": 2}, concats
    _verify(tmp_path / "out", inputs, outputs)


@pytest.mark.node
def test_convnext_layer_scale_lowers_and_matches_keras(tmp_path, tfjs_runtime):
    """ConvNeXt's ``LayerScale`` (``keras.applications.convnext``, the one layer of the Keras 3 ConvNeXt
    models the lowering lacked): ``x · gamma`` over the last axis, here with a gamma that is not constant."""
    from keras.src.applications.convnext import LayerScale

    L = keras.layers
    inp = keras.Input((5, 5, 4), name="image")
    x = LayerScale(1e-6, 4, name="layer_scale")(L.Conv2D(4, 3, padding="same", name="conv")(inp))
    model = keras.Model(inp, L.Add(name="residual")([inp, x]))
    model.get_layer("layer_scale").gamma.assign(np.linspace(-2.0, 3.0, 4).astype("float32"))
    x_in = np.random.default_rng(1).standard_normal((2, 5, 5, 4)).astype("float32")
    path, inputs, outputs = save_with_outputs(model, {"image": x_in}, tmp_path / "layer_scale.keras")
    assert tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model").details == [LOWERED]
    _verify(tmp_path / "out", inputs, outputs)
