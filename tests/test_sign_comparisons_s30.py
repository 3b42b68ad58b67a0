"""Session 30: TF.js 4.22's wasm ``Sign`` is 0 for every ``|x| <= 1.2e-7``; the ``sign_comparisons`` pass.

Found by bench/keras_random_models.py (h5): a Keras 3 ``sign(x - tanh(x))`` was 0 on wasm where Keras gives ±1.
The pass rewrites every float ``Sign`` into comparisons where wasm is a target (any graph: a SavedModel here).
Expected values come from the SavedModel run by TF; the converted model runs in TF.js cpu and wasm.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

#: Magnitudes from FLT_MIN up to 1 (wasm's kernel is 0 up to about 1.2e-7; TF flushes subnormals, docs/backends.md),
#: both signs, and the special values.
X = np.concatenate([np.logspace(-37, 0, 200), -np.logspace(-37, 0, 60),
                    [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1.19e-7, -1.2e-7]]).astype(np.float32)


def _program(x, y):
    return {"sign": tf.sign(x), "sign_of_small_products": tf.sign(y * 1e-6), "sign_5d": tf.sign(tf.reshape(x, [-1, 1, 1, 1, 1])),
            "truncate_mod": tf.truncatemod(x, tf.constant(3e-8))}


def _save(folder):
    module = tf.Module()
    module.f = tf.function(_program, input_signature=[tf.TensorSpec((None,), tf.float32, name="x"),
                                                      tf.TensorSpec((None,), tf.float32, name="y")])
    tf.saved_model.save(module, str(folder), signatures=module.f)
    return tf.saved_model.load(str(folder)).signatures["serving_default"]


def _assert_same(have: np.ndarray, want: np.ndarray, what: str) -> None:
    assert have.shape == want.shape, (what, have.shape, want.shape)
    np.testing.assert_array_equal(np.isnan(have), np.isnan(want), err_msg=what)
    numbers = ~np.isnan(want)
    np.testing.assert_allclose(have[numbers], want[numbers], rtol=1e-6, atol=1.2e-38, err_msg=what)  # TF flushes subnormals


@pytest.mark.node
@pytest.mark.parametrize("targets", [None, ["wasm", "webgl"]], ids=["default", "wasm_webgl"])
def test_sign_of_small_values_is_tfs_on_wasm(tmp_path, tfjs_runtime, targets):
    """Before: wasm gave 0 for the 168 values of ``X`` in ``(0, 1.2e-7]`` in magnitude (and NaN for NaN's 0)."""
    loaded = _save(tmp_path / "sm")
    y = np.linspace(-0.01, 0.01, X.size).astype(np.float32)
    feeds = {"x": X, "y": y}
    expected = {k: v.numpy() for k, v in loaded(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
    assert (expected["sign"][np.abs(X) < 1.2e-7] != 0).sum() > 100  # the values wasm's kernel got wrong
    options = {} if targets is None else {"target_backends": targets}
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model", **options)
    ops = [n["op"] for n in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]]
    assert "Sign" not in ops
    runs = run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            _assert_same(np.asarray(run.outputs[key], np.float32).reshape(want.shape), want, f"{backend} {key}")


def test_sign_is_left_to_the_kernel_without_wasm(tmp_path):
    """cpu's kernel is right but for NaN (the special-values line names that): no rewrite for a cpu target."""
    _save(tmp_path / "sm")
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model", target_backends=["cpu"])
    ops = [n["op"] for n in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]]
    assert "Sign" in ops
