"""webgl keeps int32 tensors in float32 textures: an int32 constant past 2^24 that a shader reads loses its low bits.

Session 13 named int32 model inputs (tests/test_webgl_int32_inputs.py); a constant read by a shader is the same loss
with no input to name it: a lookup table of large ids gathered by a float model's own indices came back from webgl
rounded while TF, TF.js cpu and wasm keep it. A graph holding such a constant (read as data, not as a size, axis or
slice bound) now names "int32 constants (webgl)" on its special-values line when webgl is a target.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
TABLE = np.int32([2**31 - 1, -2**31, 2**24 + 1, 2**24 + 3, 123, -5, 0, 7])
POSITIONS = np.float32([[0, 1, 2, 3], [4, 5, 6, 7]])
OUTPUTS = ["ids", "last"]


def _build(tf) -> None:
    x = tf.compat.v1.placeholder(tf.float32, POSITIONS.shape, name="x")
    table = tf.constant(TABLE)
    ids = tf.raw_ops.GatherV2(params=table, indices=tf.cast(x, tf.int32), axis=0)
    tf.identity(ids + 0, name="ids")
    # a bound past 2^24 that TF.js reads on the host (a slice to INT32_MAX): no shader sees it
    tf.identity(tf.raw_ops.StridedSlice(input=x, begin=tf.constant([1]), end=tf.constant([2**31 - 1]),
                                        strides=tf.constant([1])), name="last")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return raw_ops_graph(tmp_path_factory.mktemp("int32_constants") / "table.pb", _build, {"x": POSITIONS}, OUTPUTS)


def test_the_notice_names_int32_constants_for_webgl_only(frozen, tmp_path):
    source, expected = frozen
    assert (expected["ids"] == TABLE[POSITIONS.astype(int)]).all()
    result = tfjsconv.convert(source, tmp_path / "all", output_node_names=OUTPUTS)
    assert any("int32 constants (webgl)" in n for n in result.notices), result.notices
    assert not any("int32 inputs" in n for n in result.notices), result.notices
    node_only = tfjsconv.convert(source, tmp_path / "node", output_node_names=OUTPUTS, target_backends=["cpu", "wasm"])
    assert not any("int32 constants" in n for n in node_only.notices), node_only.notices


def test_a_host_read_bound_is_not_named(tmp_path):
    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.float32, POSITIONS.shape, name="x")
        tf.identity(tf.raw_ops.StridedSlice(input=x, begin=tf.constant([1]), end=tf.constant([2**31 - 1]),
                                            strides=tf.constant([1])), name="last")

    source, _ = raw_ops_graph(tmp_path / "slice.pb", build, {"x": POSITIONS}, ["last"])
    result = tfjsconv.convert(source, tmp_path / "out", output_node_names=["last"])
    assert not any("int32 constants" in n for n in result.notices), result.notices


def test_cpu_and_wasm_keep_the_table(frozen, tmp_path, tfjs_runtime):
    from tfjsconv.verify.run import run_model

    source, expected = frozen
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS)
    runs = run_model(tmp_path / "out", {"x": POSITIONS}, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, run.error
        for name in OUTPUTS:
            assert np.array_equal(np.asarray(run.outputs[name]).reshape(expected[name].shape), expected[name]), \
                (backend, name)


def test_webgl_loses_int32_constants_past_2_24(frozen, tmp_path, browser):
    """The deviation the line names (fails if a TF.js update keeps int32 exact on webgl)."""
    from tfjsconv.serve.browser import run_backends_in_browser

    source, expected = frozen
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS)
    run = run_backends_in_browser(tmp_path / "out", {"x": POSITIONS}, backends=["webgl"], session=browser,
                                 flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
    assert run.ok, run.error
    got = np.asarray(run.outputs["ids"]).reshape(POSITIONS.shape)
    small = np.abs(expected["ids"].astype(np.int64)) < 2**24
    assert (got[small] == expected["ids"][small]).all()
    assert (got != expected["ids"]).any()


def test_data_read_by_pad_and_one_hot_is_named(tmp_path):
    """PadV2's constant_values and OneHot's on/off values are data a shader writes (review R2: 2^30 + 1 came back
    from webgl as 2^30 through both, unnamed): only their sizes and depth are read on the host."""
    for name, make in (("pad", lambda tf, x: tf.raw_ops.PadV2(input=tf.cast(x, tf.int32), paddings=[[1, 1], [0, 0]],
                                                               constant_values=tf.constant(2**30 + 1))),
                       ("one_hot", lambda tf, x: tf.raw_ops.OneHot(indices=tf.cast(x, tf.int32), depth=3,
                                                                   on_value=tf.constant(2**30 + 1),
                                                                   off_value=tf.constant(0)))):
        def build(tf, make=make) -> None:
            x = tf.compat.v1.placeholder(tf.float32, POSITIONS.shape, name="x")
            tf.identity(make(tf, x), name="y")

        source, _ = raw_ops_graph(tmp_path / f"{name}.pb", build, {"x": POSITIONS}, ["y"])
        result = tfjsconv.convert(source, tmp_path / name, output_node_names=["y"])
        assert any("int32 constants (webgl)" in n for n in result.notices), (name, result.notices)
