"""float16 Inputs and float16/mixed_float16 layers in the default layers output (session 30, helper h9).

TF.js has no float16: a layers model computed them in float32 on unrounded values, where Keras rounds the Input, the
weights and each float16 layer's results to float16 (measured: 3e-5..5e-4 of the output range off on cpu and wasm, a
value past 65504 finite where Keras gives inf), with no notice. The layers path now refuses them by name with the
graph-model hint; the graph model (lowered with TensorFlow, Keras and tf_keras poisoned) matches Keras's ``model(x)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_two_sizes import under_policy
from test_keras_lowering import _module, _verify, case_file, convert_poisoned
from tfjsconv.cli import main

#: Values float16 cannot hold (0.1, 1e-5, 1/3...), so an unrounded input shows.
INPUTS = np.array([[0.1, 1e-5, 7.0001, -0.3], [1.0 / 3, 2.0001, -1e-4, 1.2345678]], np.float32)


def half_input(k):
    """h8b's repro: a float16 Input, relu, then a float32 Dense (Keras casts the input to float16 first)."""
    x = k.Input((4,), name="x", dtype="float16")
    return k.Model(x, k.layers.Dense(3, name="d", dtype="float32")(k.layers.ReLU(name="r")(x)))


def mixed_dense(k):
    """A mixed_float16 Dense (float32 Input and variables, float16 compute) with a float32 output layer."""
    def build():
        x = k.Input((4,), name="x")
        return k.Model(x, k.layers.Activation("linear", dtype="float32", name="o")(k.layers.Dense(3, name="d")(x)))
    return under_policy(k, "mixed_float16", build)


def half_dense(k):
    """A float32 Input into a float16 Dense."""
    x = k.Input((4,), name="x")
    return k.Model(x, k.layers.Dense(3, name="d", dtype="float16")(x))


FAMILIES = {"half_input": (half_input, "x", "float16"), "mixed_dense": (mixed_dense, "d", "mixed_float16"),
            "half_dense": (half_dense, "d", "float16")}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]


def _save(family: str, flavor: str, folder: Path) -> tuple[Path, dict[str, np.ndarray], list[np.ndarray]]:
    """The model with random weights saved as ``flavor``, and Keras's own outputs for ``INPUTS``."""
    model = FAMILIES[family][0](_module(flavor))
    rng = np.random.default_rng(3)
    for weight in model.weights:
        weight.assign((rng.standard_normal(tuple(weight.shape)) * 0.5).astype(np.dtype(getattr(weight.dtype, "name", weight.dtype))))
    outputs = [np.asarray(model(INPUTS, training=False)).astype(np.float32)]
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, {"x": INPUTS}, outputs


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("half_layers")
    cases = {case: _save(*case, folder) for case in CASES}
    convert_poisoned([path for path, _, _ in cases.values()])
    return cases


@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_layers_output_refuses_float16_by_name(saved, tmp_path, capsys, family, flavor):
    path, _, _ = saved[(family, flavor)]
    assert main(["convert", str(path), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    _, layer, dtype = FAMILIES[family]
    assert f"layer {layer!r}" in error and f"dtype {dtype!r}" in error, error
    assert "--output_format=tfjs_graph_model" in error, error
    assert not (tmp_path / "out" / "model.json").exists()


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_graph_model_matches_keras(saved, tfjs_runtime, family, flavor):
    path, inputs, outputs = saved[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_layers_output_refuses_bfloat16_by_name(tmp_path, capsys):
    """A mixed_bfloat16 Dense converted to a layers model was 5.9e-3 of the range off Keras, silently; the graph path
    refuses bfloat16 (TF.js computes none), so the layers path names it too."""
    keras = _module("keras3.keras")
    x = keras.Input((4,), name="x")
    keras.Model(x, keras.layers.Dense(3, dtype="mixed_bfloat16", name="brain")(x)).save(tmp_path / "m.keras")
    assert main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "layer 'brain'" in error and "dtype 'mixed_bfloat16'" in error and "to bfloat16" in error, error
    assert not (tmp_path / "out").exists()
