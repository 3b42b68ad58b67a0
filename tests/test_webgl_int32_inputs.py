"""webgl keeps int32 tensors in float32 textures: an int32 model input past 2^24 loses its low bits there.

Found by the wide-integer layer work (session 13): ids of 2^31 - 1 fed through a plain ``Reshape`` beside an op that
runs a shader on them came back from webgl as -2^31, while TF, TF.js cpu and wasm keep them. No single op deviates, so
the contract's per-op rows (int32 ``Add``/``Sub``/``Mul``/``Sum``... on webgl) did not name it: a graph with an
int32 (or int64) input now names "int32 inputs (webgl)" on its special-values line when webgl is a target.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
#: 256 ids (a shader runs on the input itself): int32's ends, odd values past 2^24, small ones.
IDS = np.tile(np.int32([2**31 - 1, -2**31, 2**24 + 1, 2**24 + 3, 123, -5, 0, 7]), 32).reshape(2, 128)
OUTPUTS = ["flat", "clipped"]


def _build(tf) -> None:
    ids = tf.compat.v1.placeholder(tf.int32, IDS.shape, name="ids")
    tf.raw_ops.Reshape(tensor=ids, shape=tf.constant([-1]), name="flat")
    tf.raw_ops.Maximum(x=ids, y=tf.constant(-7), name="clipped")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """``flat = Reshape(ids, [-1])`` and ``clipped = Maximum(ids, -7)`` as a GraphDef, and TF's outputs."""
    return raw_ops_graph(tmp_path_factory.mktemp("int32_inputs") / "ids.pb", _build, {"ids": IDS}, OUTPUTS)


def test_the_notice_names_int32_inputs_for_webgl_only(frozen, tmp_path):
    source, expected = frozen
    assert (expected["flat"] == IDS.reshape(-1)).all() and (expected["clipped"] == np.maximum(IDS, -7)).all()
    result = tfjsconv.convert(source, tmp_path / "all", output_node_names=OUTPUTS)
    assert len(result.notices) == 1 and "int32 inputs (webgl)" in result.notices[0], result.notices
    node_only = tfjsconv.convert(source, tmp_path / "node", output_node_names=OUTPUTS, target_backends=["cpu", "wasm"])
    assert not any("int32 inputs" in n for n in node_only.notices), node_only.notices
    exact = tfjsconv.convert(source, tmp_path / "exact", output_node_names=OUTPUTS, exact_special_values=True)
    assert any("int32 inputs (webgl)" in n for n in exact.notices), exact.notices  # no rewrite can fix it


def test_cpu_and_wasm_keep_every_int32(frozen, tmp_path, tfjs_runtime):
    from tfjsconv.verify.run import run_model

    source, expected = frozen
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS)
    runs = run_model(tmp_path / "out", {"ids": IDS}, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, run.error
        for name in OUTPUTS:
            assert np.array_equal(np.asarray(run.outputs[name]), expected[name]), (backend, name)


def test_webgl_loses_int32_past_2_24(frozen, tmp_path, browser):
    """The deviation the line names (fails if a TF.js update keeps int32 exact on webgl): the ids past 2^24 differ,
    the small ones do not."""
    from tfjsconv.serve.browser import run_backends_in_browser

    source, expected = frozen
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS)
    run = run_backends_in_browser(tmp_path / "out", {"ids": IDS}, backends=["webgl"], session=browser)[0]["webgl"]
    assert run.ok, run.error
    small = np.abs(IDS.astype(np.int64)) < 2**24
    wrong = {}
    for name in OUTPUTS:
        got = np.asarray(run.outputs[name]).reshape(IDS.shape)
        want = expected[name].reshape(IDS.shape)
        assert (got[small] == want[small]).all(), name
        wrong[name] = int((got != want).sum())
    assert any(wrong.values()), wrong
