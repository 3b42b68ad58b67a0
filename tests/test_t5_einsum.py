"""Einsum batch labels over unknown sizes: TF's einsum needs no run-time broadcast, ONNX's may.

TF requires a named label to have one size in both operands (only ``...`` broadcasts), so the TF einsum
lowering marks its BatchMatMul handled (``core/passes/einsum.py``, ``labels_match``) and
``batch_matmul_broadcast`` adds nothing. ONNX's Einsum (onnxruntime) broadcasts a label of size 1, so the ONNX
frontend's lowering keeps that pass's exact criterion. Expected values come from TF and onnxruntime; the
converted models run in real TF.js on cpu and wasm.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.plugin_manager import get_plugin_manager  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

pytestmark = pytest.mark.node


class Attention(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 4], tf.float32, name="q"),
                                  tf.TensorSpec([None, None, None, 4], tf.float32, name="k"),
                                  tf.TensorSpec([None, None, 3, 4], tf.float32, name="x"),
                                  tf.TensorSpec([None, None, 5, 4], tf.float32, name="y")])
    def __call__(self, q, k, x, y):
        return {"scores": tf.einsum("bhqd,bhkd->bhqk", q, k),
                # an ellipsis may broadcast (TF does): kept exact
                "ellipsis": tf.einsum("...qd,...kd->...qk", x, y)}


def _randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


TF_CASES = {"ones": ((1, 1, 2), (1, 1, 3), (1, 1), (1, 1)), "empty_batch": ((0, 2, 2), (0, 2, 3), (0, 2), (0, 2)),
            "empty_heads": ((2, 0, 2), (2, 0, 3), (2, 0), (2, 0)), "full": ((2, 3, 2), (2, 3, 3), (2, 3), (2, 3)),
            # only the ellipsis broadcasts: (2, 1) against (2, 3) and (1, 3)
            "ellipsis_ones": ((2, 3, 2), (2, 3, 3), (2, 1), (1, 3)),
            "ellipsis_empty": ((1, 1, 1), (1, 1, 1), (2, 1), (2, 0))}


def _tf_feeds(case: str) -> dict:
    rng = np.random.default_rng(len(case))
    q, k, x, y = TF_CASES[case]
    return {"q": _randn(rng, *q, 4), "k": _randn(rng, *k, 4), "x": _randn(rng, *x, 3, 4), "y": _randn(rng, *y, 5, 4)}


@pytest.fixture(scope="module")
def tf_einsum(tmp_path_factory, tfjs_runtime):
    folder = tmp_path_factory.mktemp("einsum")
    tf.saved_model.save(Attention(), str(folder / "saved"))
    return folder / "saved", tfjsconv.convert(folder / "saved", folder / "web"), folder / "web"


@pytest.mark.parametrize("case", sorted(TF_CASES))
def test_tf_einsums_match_tf(case, tf_einsum):
    saved, result, out = tf_einsum
    feeds = _tf_feeds(case)
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds, options)
    # wasm's Transpose of an empty tensor traps ("divide by zero", an error, not a wrong value): cpu only there
    backends = ("cpu",) if "empty" in case else ("cpu", "wasm")
    report = verify_model(out, feeds, expected, backends=backends, rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def test_named_labels_get_no_run_time_broadcast(tf_einsum):
    """Only the ellipsis einsum's operands are broadcast (once, both operands)."""
    _, result, out = tf_einsum
    assert {s.name: s.changes for s in result.pass_report.stats}["batch_matmul_broadcast"] == 1
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    broadcasts = [n["name"] for n in nodes if n["name"].endswith(("a_broadcast", "b_broadcast"))]
    assert broadcasts and all("scores" not in name and "bhqd" not in name for name in broadcasts), broadcasts


ONNX_CASES = {"heads_1_against_3": ((2, 1), (2, 3)), "batch_1_against_2": ((1, 2), (2, 2)),
              "empty_against_1": ((2, 0), (2, 1)), "ones": ((1, 1), (1, 1)), "equal": ((2, 3), (2, 3))}


@pytest.fixture(scope="module")
def onnx_einsum(tmp_path_factory, tfjs_runtime):
    pytest.importorskip("onnxruntime")
    helper = pytest.importorskip("onnx.helper")
    from onnx import TensorProto
    from onnx_models import onnx_model

    folder = tmp_path_factory.mktemp("onnx_einsum")
    inputs = {"a": (TensorProto.FLOAT, ["a0", "a1", 3, 4]), "b": (TensorProto.FLOAT, ["b0", "b1", 5, 4])}
    path = onnx_model(folder / "model.onnx", [helper.make_node("Einsum", ["a", "b"], ["y"], equation="bhqd,bhkd->bhqk")],
                      inputs, ["y"], opset=13, name="t5")
    return path, tfjsconv.convert(path, folder / "web"), folder / "web"


@pytest.mark.parametrize("case", sorted(ONNX_CASES))
def test_onnx_einsum_broadcasting_labels_matches_onnxruntime(case, onnx_einsum):
    from onnx_models import matches_onnxruntime

    path, _, out = onnx_einsum
    rng = np.random.default_rng(7)
    a, b = ONNX_CASES[case]
    matches_onnxruntime(path, {"a": _randn(rng, *a, 3, 4), "b": _randn(rng, *b, 5, 4)}, out, convert=False,
                        backends=("cpu", "wasm"))


def test_onnx_einsum_keeps_the_exact_criterion(onnx_einsum):
    _, result, _ = onnx_einsum
    assert {s.name: s.changes for s in result.pass_report.stats}["batch_matmul_broadcast"] == 1
