"""``pad_rank``: webgl cannot pad rank-5+ tensors, so such pads are lowered to rank ≤ 4, or refused for webgl.

TF.js webgl's pad shader does not compile for rank 5 and up (found by the Keras conformance run with
``--webgl``: ZeroPadding3D, Conv3DTranspose's zero-stuffing); the backend contract refuses it for webgl
and the pass rewrites what it can (merging each padded axis with the unpadded axes inside it). Real TF
graphs, expected values from a TF Session, run in TF.js cpu and wasm (Node) and webgl (headless Chromium;
skipped without it, failed with TFJSCONV_REQUIRE_BROWSER=1).
"""
from __future__ import annotations

import json

import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError  # noqa: E402
from test_backend_rewrites_3d import frozen, randn  # noqa: E402

pytestmark = pytest.mark.node
RTOL = 1e-5


def _pads(x, xv):
    return {"zero_pad_3d": tf.pad(x, [[0, 0], [1, 2], [2, 1], [1, 1], [0, 0]]),  # Keras ZeroPadding3D
            "padv2_6d": tf.raw_ops.PadV2(input=tf.expand_dims(x, 5), paddings=[[0, 0], [0, 0], [1, 0], [0, 0],
                                                                             [0, 0], [0, 2]],
                                         constant_values=1.5),
            "batch_and_channels": tf.pad(xv, [[1, 0], [0, 0], [0, 0], [0, 0], [2, 1]])}


def test_rank5_and_6_pads_are_lowered_and_match_tf_on_cpu_wasm_and_webgl(tmp_path, browser):
    from tfjsconv.verify.compare import format_report, verify_model

    feeds = {"x": randn(2, 3, 2, 4, 3), "xv": randn(2, 2, 3, 2, 2)}
    source, expected = frozen(tmp_path, "pads", _pads, feeds, unknown_batch=("x",))
    result = tfjsconv.convert(source, tmp_path / "web", output_node_names=list(expected))
    assert {s.name: s.changes for s in result.pass_report.stats}["pad_rank"] == 3
    nodes = json.loads((tmp_path / "web" / "model.json").read_text())["modelTopology"]["node"]
    assert {n["op"] for n in nodes} >= {"Pad", "PadV2", "Reshape"}
    for backends, session in ((("cpu", "wasm"), None), (("webgl",), browser)):
        report = verify_model(tmp_path / "web", feeds, expected, backends=backends, rtol=RTOL, atol=0.0,
                              browser_session=session)
        assert report.passed, format_report(report)
        assert {c.backend for c in report.comparisons} == set(backends)


def test_pads_stay_without_webgl_and_an_unlowerable_one_is_refused_for_webgl(tmp_path):
    feeds = {"x": randn(2, 3, 2, 4, 3), "xv": randn(2, 2, 3, 2, 2)}
    source, expected = frozen(tmp_path, "pads", _pads, feeds)
    result = tfjsconv.convert(source, tmp_path / "web", output_node_names=list(expected),
                              target_backends=["cpu", "wasm"])
    assert {s.name: s.changes for s in result.pass_report.stats}["pad_rank"] == 0

    def every_axis(x):  # five padded axes cannot merge below rank 5
        return {"y": tf.pad(x, [[1, 0], [0, 1], [1, 1], [1, 0], [0, 1]])}

    source, _ = frozen(tmp_path, "all", every_axis, {"x": randn(1, 2, 2, 2, 2)})
    with pytest.raises(BackendUnsupportedError) as err:
        tfjsconv.convert(source, tmp_path / "all", output_node_names=["y"])
    assert {(p.op, p.backend) for p in err.value.problems} == {("Pad", "webgl")}
    assert "rank:0=5" in str(err.value) and not (tmp_path / "all").exists()
