"""``TensorScatterUpdate``: TF.js 4.22's cpu kernel writes the updates into its input tensor's buffer.

Found by session 19's Keras probe (helper H7): a tf_keras model with two ``tf.tensor_scatter_nd_update`` of one
tensor, converted with ``--loader=tensorflow``, was off by 7.58 on cpu. tfjs-backend-cpu's kernel wraps the input's
array without copying and writes into it, so a second update, or any other reader of the input (here an ``Add``),
sees the first update's values. One update whose input nobody else reads is right, so the one-op probe saw nothing.
The ``tensor_scatter_update`` pass writes every float32/int32 node as ``SelectV2(ScatterNd(indices, ones) != 0,
ScatterNd(indices, updates), tensor)`` when cpu is a target: exact on cpu, wasm and webgl.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node
OUTPUTS = ["elements", "rows", "reader"]
RNG = np.random.default_rng(19)


def _feeds(dtype) -> dict[str, np.ndarray]:
    x = RNG.standard_normal((3, 4)) * 4
    u = RNG.standard_normal((2,)) * 4
    if dtype == np.int32:
        return {"x": np.round(x).astype(np.int32), "u": np.round(u).astype(np.int32)}
    x[0, 0], x[1, 2], u[1] = np.nan, -np.inf, np.inf  # special values survive the select
    return {"x": x.astype(np.float32), "u": u.astype(np.float32)}


def _graph(path, feeds):
    """Two updates of one tensor (elements, then rows copied from it) and an ``Add`` reading it beside them."""
    dtype = tf.as_dtype(feeds["x"].dtype)

    def build(tf) -> None:
        x = tf.compat.v1.placeholder(dtype, (3, 4), "x")
        u = tf.compat.v1.placeholder(dtype, (2,), "u")
        elements = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[0, 1], [2, 3]]), updates=u)
        rows = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[1], [0]]), updates=tf.stack([x[2], x[1]]))
        tf.identity(elements, name="elements")
        tf.identity(rows, name="rows")
        tf.identity(x + elements, name="reader")

    return raw_ops_graph(path, build, feeds, OUTPUTS)


def _ops(out) -> set[str]:
    return {n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}


def _check(runs, expected) -> None:
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        for name in OUTPUTS:
            got = np.asarray(run.outputs[name]).reshape(expected[name].shape)
            np.testing.assert_array_equal(got, expected[name], err_msg=f"{backend} {name}")


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_updates_of_one_tensor_match_tf_on_cpu_and_wasm(tmp_path, dtype):
    feeds = _feeds(dtype)
    source, expected = _graph(tmp_path / "m.pb", feeds)
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS)
    assert "TensorScatterUpdate" not in _ops(tmp_path / "out")
    _check(dict(run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True).backends), expected)


def test_webgl_matches_tf(tmp_path, browser):
    from tfjsconv.serve.browser import run_backends_in_browser

    feeds = _feeds(np.float32)
    source, expected = _graph(tmp_path / "m.pb", feeds)
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS)
    _check(run_backends_in_browser(tmp_path / "out", feeds, backends=["webgl"], session=browser,
                                   flags={"WEBGL_CPU_FORWARD": False})[0], expected)


def _rank5(path):
    """Two updates of one rank-5 tensor: the rewrite selects over flat views (webgl's SelectV2 stops at rank 4)."""
    feeds = {"x": RNG.standard_normal((2, 2, 3, 2, 2)).astype(np.float32), "u": np.float32([[5, -6], [7, 0]]),
             "r": RNG.standard_normal((1, 3, 2, 2)).astype(np.float32)}

    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.float32, (2, 2, 3, 2, 2), "x")
        u = tf.compat.v1.placeholder(tf.float32, (2, 2), "u")
        # index depth 4: webgl's scatter shader does not compile for depth 5 (TensorScatterUpdate and ScatterNd alike)
        elements = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[0, 1, 2, 1], [1, 0, 0, 1]]),
                                                  updates=u)
        r = tf.compat.v1.placeholder(tf.float32, (1, 3, 2, 2), "r")
        rows = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[1, 1]]), updates=r)
        tf.identity(elements, name="elements")
        tf.identity(rows, name="rows")
        tf.identity(x + elements, name="reader")

    return (*raw_ops_graph(path, build, feeds, OUTPUTS), feeds)


def test_rank_5_matches_tf_on_every_backend(tmp_path, browser):
    from tfjsconv.serve.browser import run_backends_in_browser

    source, expected, feeds = _rank5(tmp_path / "m.pb")
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS)
    assert "TensorScatterUpdate" not in _ops(tmp_path / "out")
    runs = dict(run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True).backends)
    runs.update(run_backends_in_browser(tmp_path / "out", feeds, backends=["webgl"], session=browser,
                                        flags={"WEBGL_CPU_FORWARD": False})[0])
    _check(runs, expected)


def test_without_cpu_the_op_is_kept_and_runs_on_wasm(tmp_path):
    feeds = _feeds(np.int32)
    source, expected = _graph(tmp_path / "m.pb", feeds)
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS, target_backends=["wasm", "webgl"])
    assert "TensorScatterUpdate" in _ops(tmp_path / "out")
    _check(dict(run_model(tmp_path / "out", feeds, backends=["wasm"], quiet=True).backends), expected)


def test_cpu_kernel_writes_into_its_input(tmp_path):
    """Why the pass exists: with it skipped, cpu's answers are not TF's. Fails if a TF.js update fixes the kernel."""
    feeds = _feeds(np.int32)
    source, expected = _graph(tmp_path / "m.pb", feeds)
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS, skip_passes=["tensor_scatter_update"])
    assert "TensorScatterUpdate" in _ops(tmp_path / "out")
    run = run_model(tmp_path / "out", feeds, backends=["cpu"], quiet=True).backends["cpu"]
    assert run.ok, run.error
    wrong = [n for n in OUTPUTS if not np.array_equal(np.asarray(run.outputs[n]).reshape(expected[n].shape),
                                                      expected[n])]
    assert wrong, "cpu's TensorScatterUpdate now matches TF: the pass may be dropped"
