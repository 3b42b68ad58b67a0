"""Keras layers models that loaded in TF.js but computed something else (found by the conformance table).

A layers model runs TF.js's own kernels, so it is checked against ``--target_backends`` like a graph
model (``MaxPooling3D`` and ``Conv3DTranspose`` are wrong on wasm); masks TF.js ignores, TF.js's
``CategoryEncoding`` and Keras 3 ``RNN(LSTMCell)`` are refused, pointing at the graph model.
Refusals: exit 2, one message line naming the layers (and backend). What converts: compared with Keras
in TF.js cpu (and wasm when targeted).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tfjsconv.cli import main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras3 = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

from keras_models import randomize  # noqa: E402


def _save(k, tmp_path: Path, name: str, shape: tuple, *layers, zero_tail: int = 0, int_high: int = 0):
    """A seeded functional model (input ``in0``), saved as .keras (Keras 3) or .h5 (tf_keras), with Keras's outputs."""
    k.utils.set_random_seed(3)
    inp = k.Input(shape, name="in0")
    x = inp
    for layer in layers:
        x = layer(x)
    model = k.Model(inp, x)
    randomize(model, 3)
    rng = np.random.default_rng(4)
    data = (rng.integers(0, int_high, (2, *shape)) if int_high else rng.standard_normal((2, *shape))).astype("float32")
    if zero_tail:
        data[:, -zero_tail:] = 0.0
    expected = np.asarray(model(data, training=False))
    path = tmp_path / (f"{name}.keras" if k is keras3 else f"{name}.h5")
    model.save(path)
    return path, {"in0": data}, {"output": expected}


def _refused(capsys, args: list[str], *, one_line: bool = True) -> str:
    """stderr of a refused conversion: backend refusals are one line, layer-feature refusals one per layer."""
    assert main(["convert", *args]) == 2
    err = capsys.readouterr().err
    message = [line for line in err.splitlines() if line.strip() and not line.strip().startswith("hint:")]
    if one_line:
        assert len(message) == 1, err
    else:
        assert all(line.startswith("  - ") for line in message[1:]), err
    return err


def _matches(out: Path, inputs, expected, backends) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    report = verify_model(out, inputs, expected, backends=backends, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("k", [keras3, tf_keras], ids=["keras3", "tf_keras"])
def test_wasm_wrong_3d_layers_are_refused_for_wasm_and_run_elsewhere(k, tmp_path, capsys, tfjs_runtime):
    pool, pool_in, pool_ref = _save(k, tmp_path, "pool", (5, 5, 5, 2), k.layers.MaxPooling3D(2, padding="same"))
    tconv, tconv_in, tconv_ref = _save(k, tmp_path, "tconv", (3, 3, 3, 2),
                                       k.layers.Conv3DTranspose(2, 3, strides=2, padding="same"))
    for path, cls, op in ((pool, "MaxPooling3D", "MaxPool3D"), (tconv, "Conv3DTranspose", "Conv3DBackpropInputV2")):
        err = _refused(capsys, [str(path), str(tmp_path / f"out_{cls}")])
        assert f"{cls} ({op}) on wasm" in err and "layer(s)" in err, err
        assert "--target_backends=cpu,webgl" in err, err
        assert not (tmp_path / f"out_{cls}" / "model.json").exists()
    for path, inputs, ref in ((pool, pool_in, pool_ref), (tconv, tconv_in, tconv_ref)):
        out = tmp_path / f"ok_{path.stem}"
        assert main(["convert", str(path), str(out), "--target_backends=cpu,webgl"]) == 0
        _matches(out, inputs, ref, ("cpu",))


def test_every_refused_3d_layer_is_named_at_once(tmp_path, capsys):
    k = tf_keras
    path, _, _ = _save(k, tmp_path, "both", (4, 4, 4, 2), k.layers.Conv3DTranspose(2, 3, strides=2, padding="same", name="up"),
                       k.layers.MaxPooling3D(2, padding="same", name="pool"))
    err = _refused(capsys, [str(path), str(tmp_path / "out")])
    assert "): up" in err and "): pool" in err and "2 layer(s)" in err, err


@pytest.mark.node
def test_a_mask_reaching_global_average_pooling_is_refused_but_one_reaching_an_lstm_runs(tmp_path, capsys,
                                                                                          tfjs_runtime):
    k = tf_keras
    path, _, _ = _save(k, tmp_path, "gap", (5, 3), k.layers.Masking(0.0), k.layers.Dense(4),
                       k.layers.GlobalAveragePooling1D(name="gap"), zero_tail=2)
    err = _refused(capsys, [str(path), str(tmp_path / "out")], one_line=False)
    assert "'gap' (GlobalAveragePooling1D)" in err and "mask" in err, err
    assert "--output_format=tfjs_graph_model" in err
    # the mask stops at an LSTM that returns one step: the pooling after it is fine, and TF.js uses the mask
    path, inputs, ref = _save(k, tmp_path, "lstm", (5, 3), k.layers.Masking(0.0),
                              k.layers.LSTM(3, return_sequences=True), k.layers.LSTM(2), zero_tail=2)
    out = tmp_path / "lstm_out"
    assert main(["convert", str(path), str(out)]) == 0
    _matches(out, inputs, ref, ("cpu", "wasm"))


@pytest.mark.node
def test_a_mask_made_inside_a_nested_model_and_read_after_it_is_refused(tmp_path, capsys, tfjs_runtime):
    """TF.js takes a nested model's output mask to be the one that went in: an LSTM after a nested model that
    makes (or drops) a mask ran unmasked (masked): every number off. A mask made and read inside, or made outside
    and handed on through a nested model, runs as in Keras."""
    k, L = tf_keras, tf_keras.layers
    path, _, _ = _save(k, tmp_path, "made", (5, 3), k.Sequential([L.Masking(0.0), L.Dense(4)], name="inner"),
                       L.LSTM(2, name="lstm"), zero_tail=2)
    err = _refused(capsys, [str(path), str(tmp_path / "out")], one_line=False)
    assert "'lstm' (LSTM)" in err and "nested model 'inner'" in err and "--output_format=tfjs_graph_model" in err, err
    # a Conv1D inside drops the outer mask in Keras; TF.js kept it after the nested model (every number off)
    path, _, _ = _save(k, tmp_path, "dropped", (5, 3), L.Masking(0.0),
                       k.Sequential([L.Conv1D(4, 2, padding="same")], name="conv"), L.LSTM(2, name="after"), zero_tail=2)
    err = _refused(capsys, [str(path), str(tmp_path / "out2")], one_line=False)
    assert "'after' (LSTM)" in err and "nested model 'conv'" in err, err
    for name, layers in (("inside", (k.Sequential([L.Masking(0.0), L.LSTM(3)], name="reads"), L.Dense(2))),
                         ("through", (L.Masking(0.0), k.Sequential([L.Dense(4)], name="passes"), L.LSTM(2)))):
        path, inputs, ref = _save(k, tmp_path, name, (5, 3), *layers, zero_tail=2)
        assert main(["convert", str(path), str(tmp_path / f"{name}_out")]) == 0
        _matches(tmp_path / f"{name}_out", inputs, ref, ("cpu", "wasm"))


@pytest.mark.parametrize("k", [keras3, tf_keras], ids=["keras3", "tf_keras"])
def test_category_encoding_is_refused_with_the_graph_model_hint(k, tmp_path, capsys):
    path, _, _ = _save(k, tmp_path, "ce", (3,), k.layers.CategoryEncoding(5, output_mode="multi_hot", name="enc"),
                       int_high=5)
    err = _refused(capsys, [str(path), str(tmp_path / "out")], one_line=False)
    assert "'enc' (CategoryEncoding)" in err and "--output_format=tfjs_graph_model" in err, err


def test_keras3_rnn_of_an_lstm_cell_points_at_the_graph_model(tmp_path, capsys):
    path, _, _ = _save(keras3, tmp_path, "rnn", (5, 3), keras3.layers.RNN(keras3.layers.LSTMCell(4), name="rnn"))
    err = _refused(capsys, [str(path), str(tmp_path / "out")])
    assert "'rnn' (RNN)" in err and "--output_format=tfjs_graph_model" in err, err


@pytest.mark.node
def test_layers_model_names_special_value_deviations_of_its_kernels(tmp_path, tfjs_runtime):
    """A layers model runs TF.js's kernels as a graph model does, so it gets the special-values line too:
    Dense(relu) runs wasm's fused matmul+relu, which turns NaN into 0 where Keras keeps NaN (measured here)."""
    import tfjsconv
    from tfjsconv.verify.run import run_model

    path, inputs, _ = _save(keras3, tmp_path, "dense_relu", (3,), keras3.layers.Dense(4, activation="relu", name="hidden"))
    result = tfjsconv.convert(path, tmp_path / "m", target_backends=["cpu", "wasm"])
    assert result.model_format == "layers-model" and len(result.notices) == 1, result.notices
    assert "_FusedMatMul (wasm)" in result.notices[0] and "hidden" in result.notices[0], result.notices[0]
    assert "--output_format=tfjs_graph_model" in result.notices[0]
    assert tfjsconv.convert(path, tmp_path / "cpu", target_backends=["cpu"]).notices == []  # cpu keeps NaN
    data = np.array([[np.nan, 1.0, -2.0], [0.5, -1.0, 2.0]], np.float32)
    model = keras3.models.load_model(path)
    expected = np.asarray(model(data, training=False))
    runs = run_model(tmp_path / "m", {"in0": data}, backends=["cpu", "wasm"], quiet=True)
    got = {b: next(iter(runs[b].outputs.values())) for b in ("cpu", "wasm")}
    assert np.isnan(expected[0]).all() and np.isnan(got["cpu"][0]).all()  # NaN through Dense: NaN everywhere
    assert not np.isnan(got["wasm"][0]).all()  # the deviation the notice names is real
