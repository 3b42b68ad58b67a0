"""Keras layers the conformance table found silently wrong as graph models, checked against Keras in real TF.js.

Each model is built with random weights, saved, converted with ``output_format=tfjs_graph_model`` and run on
TF.js cpu and wasm; the oracle is the Keras model's own output.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfjsconv

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402

GRAPH = {"output_format": "tfjs_graph_model"}


def _verify(out: Path, inputs: dict[str, np.ndarray], expected: np.ndarray) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    report = verify_model(out, inputs, {"output": expected}, backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


def _convert_and_verify(model, path: Path, out: Path, x: np.ndarray) -> dict:
    """Save ``model``, convert it as a graph model and compare its single output with Keras's on cpu and wasm."""
    expected = np.asarray(model.predict(x, verbose=0))
    model.save(path)
    tfjsconv.convert(path, out, **GRAPH)
    topology = json.loads((out / "model.json").read_text())
    _verify(out, {next(iter(topology["signature"]["inputs"])): x}, expected)
    return topology


@pytest.mark.node
@pytest.mark.parametrize("strides, padding, rate", [(1, "valid", 2), (1, "same", (2, 3))])
def test_dilated_conv2d_transpose_becomes_an_undilated_one(tmp_path, tfjs_runtime, strides, padding, rate):
    """Keras 3 emits a dilated Conv2DBackpropInput, which TF.js ignores the dilations of (cpu NaN)."""
    L = keras.layers
    model = keras.Sequential([keras.Input((4, 5, 3)), L.Conv2DTranspose(2, 3, strides=strides, padding=padding,
                                                                         dilation_rate=rate)])
    randomize(model, 3)
    x = np.random.default_rng(4).standard_normal((2, 4, 5, 3)).astype("float32")
    topology = _convert_and_verify(model, tmp_path / "ct.keras", tmp_path / "graph", x)
    convs = [n for n in topology["modelTopology"]["node"] if n["op"] == "Conv2DBackpropInput"]
    assert convs and all(n["attr"]["dilations"]["list"]["i"] == ["1", "1", "1", "1"] for n in convs)


@pytest.mark.node
def test_integer_lookup_keeps_its_input_shape(tmp_path, tfjs_runtime):
    """TF.js's LookupTableFindV2 returns the looked-up values flat; TF keeps the keys' shape."""
    model = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.IntegerLookup(vocabulary=[1, 3, 5, 7])])
    x = np.array([[1, 2, 3, 7], [5, 0, 9, 3]], np.int32)
    _convert_and_verify(model, tmp_path / "lookup.keras", tmp_path / "graph", x)


@pytest.mark.node
def test_tf_keras_causal_attention_h5(tmp_path, tfjs_runtime):
    """tf_keras builds the causal mask with Cumsum along negative axes, which TF.js does not wrap."""
    k = pytest.importorskip("tf_keras")
    query, value = k.Input((4, 3)), k.Input((4, 3))
    model = k.Model([query, value], k.layers.Attention(use_scale=True)([query, value], use_causal_mask=True))
    randomize(model, 7)
    rng = np.random.default_rng(8)
    q, v = (rng.standard_normal((2, 4, 3)).astype("float32") for _ in range(2))
    expected = np.asarray(model.predict([q, v], verbose=0))
    model.save(tmp_path / "attention.h5")
    tfjsconv.convert(tmp_path / "attention.h5", tmp_path / "graph", **GRAPH)
    names = list(json.loads((tmp_path / "graph" / "model.json").read_text())["signature"]["inputs"])
    _verify(tmp_path / "graph", dict(zip(names, (q, v), strict=True)), expected)


def _transposed_conv_graph(constant_filter: bool):
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph

    g = Graph("dilated_transposed_conv")
    grad = g.placeholder("grad", DType.FLOAT32, (1, 4, 3, 3))
    kernel = np.random.default_rng(9).standard_normal((3, 2, 2, 3)).astype("float32")
    filt = g.const(kernel, name="filter") if constant_filter else g.placeholder("filter", DType.FLOAT32, kernel.shape)
    sizes = g.const(np.array([1, 8, 5, 2], np.int32), name="input_sizes")
    g.set_output("y", g.add_op("Conv2DBackpropInput", [sizes, filt, grad], {
        "T": DType.FLOAT32, "strides": [1, 1, 1, 1], "dilations": [1, 2, 2, 1], "padding": "VALID",
        "data_format": "NHWC"}, name="deconv"))
    return g


def test_dilated_transposed_conv_with_a_computed_filter_is_refused(tmp_path):
    """The contract (probed: TF.js ignores the dilations) refuses what the rewrite cannot undilate."""
    from tfjsconv.errors import BackendUnsupportedError

    with pytest.raises(BackendUnsupportedError) as info:
        tfjsconv.convert(_transposed_conv_graph(constant_filter=False), tmp_path / "refused")
    found = {(p.op, p.node, p.backend) for p in info.value.problems}
    assert {("Conv2DBackpropInput", "deconv", "cpu"), ("Conv2DBackpropInput", "deconv", "wasm")} <= found
    assert not (tmp_path / "refused").exists()
    tfjsconv.convert(_transposed_conv_graph(constant_filter=True), tmp_path / "rewritten")
