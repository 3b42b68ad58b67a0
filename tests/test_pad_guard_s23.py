"""Run-time paddings checked as TF checks them (the core pass ``pad_guard``, session 23; found by helper H7).

TF's ``Pad``/``PadV2`` raise on a negative padding for every input; TF.js 4.22 crops silently by it on cpu and wasm
(``[0, -1]`` on an axis of 5 gives 4). A graph with computed paddings (a raw TF graph fed its paddings, a tf_keras
``tf.pad(x, [[0, 0], [0, 12 - n], [0, 0]])`` traced with ``--loader=tensorflow``) gave another shape where TF raises.
The pass routes such paddings through a ``GatherV2`` that fails the run on a negative entry; valid paddings give TF's
values bit for bit. Expected values from ``tf.raw_ops``/Keras; TF.js cpu and wasm.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

X = (np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3) - 7.5) * np.float32(0.75)


def _graph(v2: bool) -> "tf.Graph":
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (None, None, 3), "x")
        p = tf.compat.v1.placeholder(tf.int32, (3, 2), "p")
        padded = tf.raw_ops.PadV2(input=x, paddings=p, constant_values=tf.constant(-2.5)) if v2 else \
            tf.raw_ops.Pad(input=x, paddings=p)
        tf.identity(padded, name="y")
    return graph


def _tf(v2: bool, feeds: dict) -> np.ndarray:
    with tf.compat.v1.Session(graph=_graph(v2)) as session:
        return session.run("y:0", {f"{k}:0": v for k, v in feeds.items()})


@pytest.fixture(scope="module", params=[False, True], ids=["Pad", "PadV2"])
def converted(request, tmp_path_factory) -> tuple[bool, Path]:
    folder = tmp_path_factory.mktemp("pad_guard")
    (folder / "m.pb").write_bytes(_graph(request.param).as_graph_def().SerializeToString())
    tfjsconv.convert(folder / "m.pb", folder / "out", output_node_names=["y"])
    return request.param, folder / "out"


@pytest.mark.node
def test_valid_run_time_paddings_give_tf_exactly(converted):
    v2, out = converted
    for paddings in ([[0, 0], [1, 2], [0, 3]], [[1, 0], [0, 0], [0, 0]], [[0, 0], [0, 0], [0, 0]]):
        feeds = {"x": X, "p": np.array(paddings, np.int32)}
        want = _tf(v2, feeds)
        for backend, run in run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends.items():
            assert run.ok, (backend, run.error)
            got = np.asarray(run.outputs["y"], np.float32).reshape(want.shape)
            assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), (backend, paddings)


@pytest.mark.node
def test_a_negative_run_time_padding_fails_the_run_as_tf_raises(converted):
    v2, out = converted
    for paddings in ([[0, 0], [0, -1], [0, 0]], [[-1, 0], [0, 0], [0, 0]], [[0, 0], [2, 0], [0, -3]]):
        feeds = {"x": X, "p": np.array(paddings, np.int32)}
        with pytest.raises(tf.errors.InvalidArgumentError):
            _tf(v2, feeds)
        runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends
        seen = {backend: "ok" if run.ok else str(run.error)[:90] for backend, run in runs.items()}
        assert all("GatherV2" in error for error in seen.values()), (paddings, seen)


def test_constant_and_non_negative_paddings_are_left_alone(tmp_path):
    """Constant paddings, and ``Maximum(p, 0)`` (the ONNX frontend's run-time pads), get no check."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (None, 5, 3), "x")
        p = tf.compat.v1.placeholder(tf.int32, (3, 2), "p")
        tf.identity(tf.raw_ops.Pad(input=x, paddings=tf.constant([[0, 0], [1, 1], [0, 0]])), name="a")
        tf.identity(tf.raw_ops.Pad(input=x, paddings=tf.maximum(p, 0)), name="b")
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    tfjsconv.convert(tmp_path / "m.pb", tmp_path / "out", output_node_names=["a", "b"])
    ops = [n["op"] for n in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]]
    assert "GatherV2" not in ops, ops


@pytest.mark.node
def test_traced_tf_keras_pad_to_a_window_raises_where_keras_does(tmp_path):
    """``tf.pad(x, [[0, 0], [0, 12 - n], [0, 0]])`` traced: n = 13 crops in TF.js without the guard; Keras raises."""
    import tf_keras as k

    x = k.Input((None, 3), name="x")
    model = k.Model(x, tf.pad(x, [[0, 0], [0, 12 - tf.shape(x)[1]], [0, 0]]))
    model.save(tmp_path / "m.h5")
    tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model", loader="tensorflow")
    short = np.linspace(-3, 3, 2 * 7 * 3, dtype=np.float32).reshape(2, 7, 3)
    want = np.asarray(model(short))
    for backend, run in run_model(tmp_path / "out", {"x": short}, backends=["cpu", "wasm"], quiet=True).backends.items():
        assert run.ok, (backend, run.error)
        (got,) = run.outputs.values()
        np.testing.assert_array_equal(np.asarray(got, np.float32).reshape(want.shape), want, err_msg=backend)
    long = np.ones((2, 13, 3), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        model(long)
    runs = run_model(tmp_path / "out", {"x": long}, backends=["cpu", "wasm"], quiet=True).backends
    seen = {backend: "ok" if run.ok else str(run.error)[:90] for backend, run in runs.items()}
    assert all("GatherV2" in error for error in seen.values()), seen
