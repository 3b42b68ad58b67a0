"""Ops other than reductions fed tensors that are empty only at run time (``bench/conformance/empty_tensors.py``).

wasm's ``GatherV2`` over params with no elements returns its internal flattened shape (``(1, 0, 2, 1)`` for TF's
``(0, 2)``), silently; ``empty_reductions`` reshapes such gathers to TF's output shape read at run time
(``core/passes/empty_gather.py``). Expected values and shapes are TensorFlow's own outputs for the same SavedModel;
the converted model runs in real TF.js on cpu and wasm.
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

TABLE = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)


class Gathers(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="p"),
                                  tf.TensorSpec([None], tf.int32, name="i"),
                                  tf.TensorSpec([None, None, 2], tf.float32, name="v")])
    def __call__(self, p, i, v):
        return {"columns": tf.gather(p, i, axis=1), "rows": tf.gather(p, tf.range(tf.shape(p)[0] - 1, -1, -1), axis=0) * 2.0,
                "middle": tf.gather(v, [1, 0], axis=1) + 1.0,
                # a weight table: never empty, left alone
                "embedded": tf.gather(tf.constant(TABLE), i, axis=0)}


FEEDS = {
    "empty_params": {"p": np.zeros((0, 5), np.float32), "i": np.array([1, 4], np.int32),
                     "v": np.zeros((0, 3, 2), np.float32)},
    "empty_everything": {"p": np.zeros((0, 0), np.float32), "i": np.zeros((0,), np.int32),
                         "v": np.zeros((0, 2, 2), np.float32)},
    "full": {"p": np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32),
             "i": np.array([1, 4], np.int32), "v": np.random.default_rng(2).standard_normal((2, 3, 2)).astype(np.float32)},
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("gathers") / "saved"
    tf.saved_model.save(Gathers(), str(path))
    return path


@pytest.fixture(scope="module")
def converted(saved, tmp_path_factory, tfjs_runtime):
    out = tmp_path_factory.mktemp("web") / "model"
    return tfjsconv.convert(saved, out), out


def tf_outputs(saved, result, out, feeds: dict) -> dict:
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    return get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds, options)


@pytest.mark.parametrize("case", sorted(FEEDS))
def test_gathers_from_run_time_empty_params_match_tf(case, saved, converted):
    result, out = converted
    expected = tf_outputs(saved, result, out, FEEDS[case])
    if case == "empty_params":  # the case is what it claims: an empty result TF shapes from params and indices
        assert expected["columns"].shape == (0, 2) and expected["middle"].shape == (0, 2, 2)
    report = verify_model(out, FEEDS[case], expected, backends=("cpu", "wasm"), rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def test_only_computed_params_get_the_reshape(converted):
    _, out = converted
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    kept = {n["name"] for n in nodes if n["name"].endswith("/nonempty/gathered")}
    assert len(kept) == 3, kept  # columns, rows, middle; not the weight table's gather
    gathers = [n for n in nodes if n["op"] == "GatherV2" and not n["name"].startswith(tuple(kept))]
    assert any(n["input"][0].split(":")[0] not in {g.split("/nonempty")[0] for g in kept} for n in gathers)


def test_the_rewrite_is_what_makes_them_right(saved, tmp_path, tfjs_runtime, monkeypatch):
    """Without the reshape wasm gives its flattened shape: the test above can fail."""
    from tfjsconv.passes import empty_gather

    monkeypatch.setattr(empty_gather, "WRONG_SHAPE_WHEN_EMPTY", frozenset())
    result = tfjsconv.convert(saved, tmp_path / "bare")
    expected = tf_outputs(saved, result, tmp_path / "bare", FEEDS["empty_params"])
    report = verify_model(tmp_path / "bare", FEEDS["empty_params"], expected, backends=("wasm",), rtol=1e-5, atol=0.0)
    assert not report.passed
    assert {c.name for c in report.comparisons if not c.passed} >= {"columns", "middle"}, format_report(report)


def test_a_cpu_only_conversion_keeps_the_bare_gathers(saved, tmp_path, tfjs_runtime):
    tfjsconv.convert(saved, tmp_path / "cpu", target_backends=["cpu", "webgl"])
    nodes = json.loads((tmp_path / "cpu" / "model.json").read_text())["modelTopology"]["node"]
    assert not any("/nonempty/" in n["name"] for n in nodes if n["op"] in ("GatherV2", "Reshape"))


class RankFive(tf.Module):
    """Rank-5 reductions over unknown axes: their padding blocks are ``Fill``s (the contract refuses a rank-5 ``Pad``
    on webgl and wasm), so the default targets still convert them."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 2, 3], tf.float32, name="x")])
    def __call__(self, x):
        return {"max": tf.reduce_max(x, axis=[1, 2]), "mean": tf.reduce_mean(x, axis=[1, 2], keepdims=True),
                "sum": tf.reduce_sum(x, axis=[1, 2, 4])}


@pytest.fixture(scope="module")
def rank_five(tmp_path_factory, tfjs_runtime):
    base = tmp_path_factory.mktemp("rank5")
    tf.saved_model.save(RankFive(), str(base / "saved"))
    return base / "saved", tfjsconv.convert(base / "saved", base / "web"), base / "web"


# (an empty batch is left out: wasm's reductions over inner axes transpose first, and its Transpose throws
# "divide by zero" for an empty tensor whose first axis stays first: bench/results/empty_tensors.md)
@pytest.mark.parametrize("shape", [(2, 0, 3, 2, 3), (2, 3, 0, 2, 3), (2, 0, 0, 2, 3), (2, 3, 4, 2, 3)])
def test_rank_five_reductions_over_run_time_empty_axes_match_tf(shape, rank_five):
    saved, result, out = rank_five
    feeds = {"x": np.random.default_rng(3).standard_normal(shape).astype(np.float32)}
    expected = tf_outputs(saved, result, out, feeds)
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    assert not any(n["op"] == "PadV2" for n in nodes) and any(n["op"] == "Fill" and "/nonempty/" in n["name"]
                                                              for n in nodes)
    report = verify_model(out, feeds, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)
