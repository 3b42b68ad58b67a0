"""``OneHot`` of depth 0 or 1 (review R4, session 23): TF returns the one-hot (``[2, 4, 0]`` for depth 0), TF.js's
``oneHot`` throws "depth must be >=2". The ``one_hot`` pass rewrote a constant depth 1 only, so a constant depth 0
or a depth known only at run time converted and then failed in TF.js. Such depths are now ``SelectV2(indices ==
Range(depth), on, off)``. Against ``tf.raw_ops`` in TF.js cpu and wasm.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

INDICES = np.array([[0, 2, -1, 5], [1, 1, 0, 3]], np.int32)


def _graph(path, depth: int | None, floats: bool, feeds: dict):
    def build(tf):
        ids = tf.compat.v1.placeholder(tf.int32, (None, 4), "ids")
        d = tf.compat.v1.placeholder(tf.int32, (), "depth") if depth is None else tf.constant(depth)
        on, off = (tf.constant(2.5), tf.constant(-0.5)) if floats else (tf.constant(7), tf.constant(-1))
        tf.identity(tf.raw_ops.OneHot(indices=ids, depth=d, on_value=on, off_value=off), name="y")
    return raw_ops_graph(path, build, feeds, ["y"])


@pytest.mark.node
@pytest.mark.parametrize("floats", [False, True], ids=["int32", "float32"])
def test_run_time_depths_of_every_size_give_tf(tmp_path, floats):
    out = None
    for depth in (0, 1, 3):
        feeds = {"ids": INDICES, "depth": np.int32(depth)}
        source, want = _graph(tmp_path / f"m{depth}.pb", None, floats, feeds)
        if out is None:
            out = tmp_path / "out"
            tfjsconv.convert(source, out, output_node_names=["y"])
        for backend, run in run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends.items():
            assert run.ok, (depth, backend, run.error)
            got = np.asarray(run.outputs["y"]).reshape(want["y"].shape)
            np.testing.assert_array_equal(got, want["y"], err_msg=f"{depth} {backend}")


@pytest.mark.node
def test_a_constant_depth_of_zero_gives_an_empty_one_hot(tmp_path):
    feeds = {"ids": INDICES}
    source, want = _graph(tmp_path / "m.pb", 0, True, feeds)
    tfjsconv.convert(source, tmp_path / "out", output_node_names=["y"])
    assert want["y"].shape == (2, 4, 0)
    for backend, run in run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True).backends.items():
        assert run.ok, (backend, run.error)
        assert np.asarray(run.outputs["y"]).size == 0, backend
