"""Session 30 (h6, found by ``bench/tf_random_graphs.py --wide``): ``Unique`` of float data holding NaN.

TF keeps every NaN apart (NaN != NaN): ``unique([0, NaN, 1, NaN])`` is ``[0, NaN, 1, NaN]``. TF.js 4.22 (cpu, wasm)
keys the values by their text, so every NaN is one element: ``[0, NaN, 1]``, and the indices differ. No rewrite gives
TF's answer, so the conversion names it in its special-values line (a contract deviation row), where it said nothing
before. Expected values come from the SavedModel run by TF; the model runs in TF.js cpu and wasm.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node

NAN = float("nan")
WITH_NAN = np.float32([0.0, NAN, 1.0, NAN, -0.0, 1.0, NAN])
WITHOUT_NAN = np.float32([3.0, -0.0, 1.0, 3.0, 0.0, 2.5, 1.0])


def _unique(x):
    y, idx = tf.unique(x)
    return {"y": y, "idx": idx}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unique_nan")
    module = tf.Module()
    module.f = tf.function(_unique, input_signature=[tf.TensorSpec((None,), tf.float32, name="x")])
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    result = tfjsconv.convert(folder / "sm", folder / "out", output_format="tfjs_graph_model")
    return folder, module, result


def _runs(folder, feed):
    runs = run_model(folder / "out", {"x": feed}, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
    return runs.backends


def test_the_special_values_line_names_unique(converted):
    """Said nothing before: TF.js's merged NaN was a silent difference."""
    _, _, result = converted
    line = [n for n in result.notices if "special values" in n]
    assert line and "Unique (cpu, wasm, webgl)" in line[0], result.notices


def test_tfjs_merges_nan_where_tf_keeps_each(converted):
    """The row's claim, measured: TF has three NaN elements, TF.js one (so the line is needed)."""
    folder, module, _ = converted
    want = {k: v.numpy() for k, v in module.f(tf.constant(WITH_NAN)).items()}
    assert int(np.isnan(want["y"]).sum()) == 3
    for backend, run in _runs(folder, WITH_NAN).items():
        have = np.asarray(run.outputs["y"])
        assert int(np.isnan(have).sum()) == 1 and have.shape[0] == want["y"].shape[0] - 2, (backend, have)


def test_unique_without_nan_matches_tf(converted):
    """-0 and 0 are one value in both (TF compares, TF.js prints '0' for both)."""
    folder, module, _ = converted
    want = {k: v.numpy() for k, v in module.f(tf.constant(WITHOUT_NAN)).items()}
    for backend, run in _runs(folder, WITHOUT_NAN).items():
        for key, value in want.items():
            np.testing.assert_array_equal(np.asarray(run.outputs[key]), value, err_msg=f"{backend} {key}")


def test_listdiff_with_nan_is_named(tmp_path):
    """ListDiff (``--loader=tensorflow``; the TF-free reader refuses it): TF.js drops a NaN of x that y holds, TF
    keeps it. Said nothing before; measured here so the line stays needed."""
    module = tf.Module()
    module.f = tf.function(lambda x: {"out": tf.raw_ops.ListDiff(x=x, y=tf.constant([NAN, 1.0]), out_idx=tf.int32)[0]},
                           input_signature=[tf.TensorSpec((None,), tf.float32, name="x")])
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.f)
    result = tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model", loader="tensorflow")
    line = [n for n in result.notices if "special values" in n]
    assert line and "ListDiff (cpu, wasm, webgl)" in line[0], result.notices
    feed = np.float32([NAN, 1.0, 2.0, -0.0, NAN])
    want = module.f(tf.constant(feed))["out"].numpy()
    assert int(np.isnan(want).sum()) == 2
    runs = run_model(tmp_path / "out", {"x": feed}, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        np.testing.assert_array_equal(np.asarray(run.outputs["out"]), np.float32([2.0, -0.0]), err_msg=backend)
