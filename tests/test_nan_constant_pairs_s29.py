"""Session 29 (h7's random models): ``maximum``/``minimum`` of a NaN the model itself holds.

TF gives NaN; TF.js 4.22's wasm kernels drop the NaN and give ``x`` on every input. The special-values line named
``Minimum (wasm)`` as for NaN in the data, so a Keras 3 ``ops.minimum(x, nan)`` converted to a model wrong on wasm
everywhere. The ``nan_constant_pairs`` pass spells those positions out as ``x + NaN``. Expected values are TF's (a
``tf.function`` SavedModel) and Keras 3's ``model(x)``; the models run in TF.js cpu and wasm.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node

NAN = float("nan")
FEED = np.float32([[-2.0, -0.0, 0.0, 1.5], [np.inf, -np.inf, NAN, 3.0]])


def _pairs(x):
    return {"min_all": tf.minimum(x, NAN), "max_all": tf.maximum(tf.constant(NAN), x),
            "min_some": tf.minimum(x, tf.constant([NAN, 1.0, NAN, 0.5])),
            "max_some": tf.maximum(x, tf.constant([[0.0, NAN, 2.0, NAN]]))}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nan_pairs")
    module = tf.Module()
    module.f = tf.function(_pairs, input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")])
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    expected = {k: v.numpy() for k, v in module.f(tf.constant(FEED)).items()}
    return folder, expected


def _assert_same(runs, expected: dict[str, np.ndarray]) -> None:
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            np.testing.assert_array_equal(np.asarray(run.outputs[key]), want, err_msg=f"{backend} {key}")


def test_nan_constants_give_tf_nan_on_cpu_and_wasm(saved, tfjs_runtime):
    """Failed before on wasm: x where TF gives NaN (all four outputs)."""
    folder, expected = saved
    result = tfjsconv.convert(folder / "sm", folder / "out", output_format="tfjs_graph_model")
    _assert_same(run_model(folder / "out", {"x": FEED}, backends=["cpu", "wasm"], quiet=True), expected)
    nodes = json.loads((folder / "out" / "model.json").read_text())["modelTopology"]["node"]
    ops = {n["name"]: n["op"] for n in nodes}
    # all NaN (min_all, max_all): no kernel left; some NaN: the kernel over the constant without its NaN
    kept = sorted((op, name.rsplit("/", 1)[-1]) for name, op in ops.items() if op in ("Maximum", "Minimum"))
    assert kept == [("Maximum", "nan_free"), ("Minimum", "nan_free")], ops
    # the kept ops still meet the data's NaN: the special-values line keeps naming them
    assert any("Maximum, Minimum (wasm)" in n for n in result.notices), result.notices


def test_a_cpu_only_conversion_keeps_the_kernels(saved):
    folder, _ = saved
    tfjsconv.convert(folder / "sm", folder / "cpu", output_format="tfjs_graph_model", target_backends=["cpu"])
    nodes = json.loads((folder / "cpu" / "model.json").read_text())["modelTopology"]["node"]
    assert sum(n["op"] in ("Maximum", "Minimum") for n in nodes) == 4


KERAS3 = """
import sys, numpy as np, keras
x = keras.Input((None, 4), name="x")
model = keras.Model(x, [keras.ops.minimum(x, float("nan")), keras.ops.maximum(x, float("nan"))])
model.save(sys.argv[1])
feed = np.float32([[[-2.0, 0.0, 1.5, 3.0], [np.inf, -np.inf, 7.0, 1e-30]]])
np.savez(sys.argv[2], feed=feed, *[np.asarray(o) for o in model(feed)])
"""


def test_keras3_minimum_of_nan_matches_keras_on_wasm(tmp_path, tfjs_runtime):
    """h7's seed 2906 model minimized: Keras 3 ``ops.minimum(x, nan)`` lowered without TensorFlow."""
    model, ref = tmp_path / "m.keras", tmp_path / "ref.npz"
    subprocess.run([sys.executable, "-c", KERAS3, str(model), str(ref)], check=True, capture_output=True)
    tfjsconv.convert(model, tmp_path / "out", output_format="tfjs_graph_model")
    saved = np.load(ref)
    runs = run_model(tmp_path / "out", {"x": saved["feed"]}, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        got = [np.asarray(v) for v in run.outputs.values()]
        assert len(got) == 2 and all(np.isnan(g).all() for g in got), (backend, got)
    assert np.isnan(saved["arr_0"]).all() and np.isnan(saved["arr_1"]).all()
