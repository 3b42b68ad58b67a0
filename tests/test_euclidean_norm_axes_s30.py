"""Session 30: a SavedModel's ``EuclideanNorm`` over more than two axes ran into TF.js's ``tf.norm``.

TF.js 4.22's graph runtime computes ``EuclideanNorm`` with ``tf.euclideanNorm``, i.e. ``tf.norm``, which accepts one
or two axes only: over three (``tf.norm(x, axis=[0, 1, 2])``, found by bench/tf_random_graphs.py ``--wide``, h6b) the
converted model loaded and then threw "Error in norm: invalid axis" on every backend. ``tf_op_rewrites`` spells it
as TF computes it, ``Sqrt(Sum(Square(x)))``; one or two axes stay ``EuclideanNorm``. Expected values come from the
SavedModel run by TF; the converted model runs in TF.js cpu and wasm with default flags.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402


def _norms(x, axes):
    return {"three": tf.raw_ops.EuclideanNorm(input=x, axis=[0, 1, 2], keep_dims=False),
            "three_kept": tf.raw_ops.EuclideanNorm(input=x, axis=[-1, 0, 2], keep_dims=True),
            "four": tf.norm(x, axis=None),
            "run_time": tf.raw_ops.EuclideanNorm(input=x, axis=axes, keep_dims=False),
            "two": tf.raw_ops.EuclideanNorm(input=x, axis=[1, 3], keep_dims=False)}


def _ops(folder) -> list[str]:
    return [n["op"] for n in json.loads((folder / "model.json").read_text())["modelTopology"]["node"]]


@pytest.mark.node
def test_euclidean_norm_over_three_axes_runs_like_tf(tmp_path, tfjs_runtime):
    """Before: converted, then TF.js threw "Error in norm: invalid axis: 0,1,2" on cpu and wasm."""
    module = tf.Module()
    module.f = tf.function(_norms, input_signature=[tf.TensorSpec((None, 3, 4, 5), tf.float32, name="x"),
                                                    tf.TensorSpec((None,), tf.int32, name="axes")])
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.f)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)
    x[0, 0, 0, :2] = [np.inf, -0.0]
    x[1, 1] = 1e20  # squares past float32's range: Inf, as in TF
    feeds = {"x": x, "axes": np.int32([2, 0, 1])}
    loaded = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    expected = {k: v.numpy() for k, v in loaded(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model")
    assert _ops(tmp_path / "out").count("EuclideanNorm") == 1  # the two-axis norm is TF.js's own
    runs = run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            have = np.asarray(run.outputs[key], np.float32).reshape(want.shape)
            np.testing.assert_allclose(have, want, rtol=2e-7, atol=0, err_msg=f"{backend} {key}")
