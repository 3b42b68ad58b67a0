"""Reductions (and matmuls) over an axis that is empty only at run time give TF's answer on cpu, wasm and webgl.

A TF SavedModel with ``None`` sizes reduces ``Sum``/``Prod``/``Max``/``Min``/``Mean``/``All``/``Any``/
``EuclideanNorm`` (float32, int32, bool; one and two unknown axes; ``keepdims``). Fed empty inputs, TF.js 4.22
answers garbage on wasm, NaN/0/False on cpu and throws on webgl (``core/passes/reduction_padding.py``);
``empty_reductions`` feeds those reductions one identity element exactly when the axis is empty. Expected
values are TF's own outputs for the same SavedModel; the converted model runs in real TF.js. A ``MatMul`` or
``BatchMatMulV2`` over an inner dimension that is 0 at run time (TF: zeros) gives garbage on wasm and throws on
webgl: both operands get one zero along it then.
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


class RunTimeEmpty(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="x"),
                                  tf.TensorSpec([None, None], tf.int32, name="n"),
                                  tf.TensorSpec([None, None], tf.bool, name="b"),
                                  tf.TensorSpec([2, None, None], tf.float32, name="v"),
                                  tf.TensorSpec([None, None], tf.float32, name="a"),
                                  tf.TensorSpec([None, 3], tf.float32, name="w")])
    def __call__(self, x, n, b, v, a, w):
        raw = tf.raw_ops
        return {
            "sum": tf.reduce_sum(x, axis=1), "prod": tf.reduce_prod(x, axis=1),
            "max": tf.reduce_max(x, axis=1), "min": tf.reduce_min(x, axis=1, keepdims=True),
            "mean": tf.reduce_mean(x, axis=1), "norm": raw.EuclideanNorm(input=x, axis=[1], keep_dims=False),
            "int_sum": tf.reduce_sum(n, axis=1), "int_prod": tf.reduce_prod(n, axis=1),
            "int_max": tf.reduce_max(n, axis=1), "int_min": tf.reduce_min(n, axis=1),
            "all": tf.reduce_all(b, axis=1), "any": tf.reduce_any(b, axis=1),
            # two unknown reduced axes: empty when either is
            "max_2d": tf.reduce_max(v, axis=[1, 2]), "mean_2d": tf.reduce_mean(v, axis=[1, 2], keepdims=True),
            "sum_2d": tf.reduce_sum(v, axis=[1, 2]),
            # a matmul over an inner dimension that is 0: a sum of nothing, TF's zeros
            "matmul": tf.matmul(a, w), "batch_matmul": tf.matmul(a[None], w[None]),
        }


#: The int32 Min over nothing is INT32_MAX: webgl holds int32 as float32 and gives INT32_MIN (a deviation).
WEBGL_INT32_MAX_LOST = ("int_min",)

FEEDS = {
    "empty": {"x": np.zeros((3, 0), np.float32), "n": np.zeros((3, 0), np.int32), "b": np.zeros((3, 0), bool),
              "v": np.zeros((2, 0, 4), np.float32), "a": np.ones((2, 0), np.float32), "w": np.ones((0, 3), np.float32)},
    "other_axis_empty": {"x": np.zeros((0, 5), np.float32), "n": np.zeros((0, 2), np.int32),
                         "b": np.zeros((0, 3), bool), "v": np.zeros((2, 3, 0), np.float32),
                         "a": np.ones((0, 4), np.float32), "w": np.ones((4, 3), np.float32)},
    "full": {"x": np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32) - 0.5,
             "n": np.random.default_rng(2).integers(-4, 5, (3, 4)).astype(np.int32),
             "b": np.random.default_rng(3).random((3, 4)) > 0.3,
             "v": np.random.default_rng(4).standard_normal((2, 3, 4)).astype(np.float32) - 3,
             "a": np.random.default_rng(5).standard_normal((2, 4)).astype(np.float32),
             "w": np.random.default_rng(6).standard_normal((4, 3)).astype(np.float32)},
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("empty") / "saved"
    tf.saved_model.save(RunTimeEmpty(), str(path))
    return path


@pytest.fixture(scope="module")
def converted(saved, tmp_path_factory, tfjs_runtime):
    out = tmp_path_factory.mktemp("web") / "model"
    result = tfjsconv.convert(saved, out)
    return result, out


def tf_outputs(saved, result, out, feeds: dict) -> dict:
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    return get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds, options)


@pytest.mark.parametrize("case", sorted(FEEDS))
def test_reductions_over_run_time_empty_axes_match_tf(case, saved, converted):
    result, out = converted
    expected = tf_outputs(saved, result, out, FEEDS[case])
    if case == "empty":  # the case is what it claims: TF's identity elements
        assert np.all(np.isneginf(expected["max"])) and np.all(np.isnan(expected["mean"]))
        assert np.all(expected["all"]) and not np.any(expected["any"])
        nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
        padded = [n for n in nodes if n["op"] in ("MatMul", "BatchMatMulV2")
                  and n["input"][0].endswith("/nonempty/input")]
        assert len(padded) == 2 and all(n["input"][1].endswith("/nonempty/b/input") for n in padded)
    report = verify_model(out, FEEDS[case], expected, backends=("cpu", "wasm"), rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def test_the_rewrite_is_what_makes_them_right(saved, tmp_path, tfjs_runtime, monkeypatch):
    """Without the padding (the contract claiming no backend is wrong) wasm answers garbage: the test above can fail."""
    from tfjsconv.passes import reduction_padding

    monkeypatch.setattr(reduction_padding, "WRONG_WHEN_EMPTY", {})
    result = tfjsconv.convert(saved, tmp_path / "bare", skip_op_check=True)
    expected = tf_outputs(saved, result, tmp_path / "bare", FEEDS["empty"])
    report = verify_model(tmp_path / "bare", FEEDS["empty"], expected, backends=("wasm",), rtol=1e-5, atol=0.0)
    assert not report.passed


def test_only_the_targets_that_need_it_get_the_padding(saved, tmp_path, tfjs_runtime):
    """cpu gives TF's Sum/Prod/Any/EuclideanNorm over nothing: a cpu-only conversion leaves them alone."""
    tfjsconv.convert(saved, tmp_path / "cpu", target_backends=["cpu"])
    nodes = json.loads((tmp_path / "cpu" / "model.json").read_text())["modelTopology"]["node"]
    padded = {n["name"].split("/")[0] for n in nodes if n["name"].endswith("/nonempty/input")}
    assert padded and not padded & {"Sum", "Prod", "Any", "EuclideanNorm"}
    by_name = {n["name"]: n for n in nodes}
    reductions = [n for n in nodes if n["op"] in ("Sum", "Prod", "Max", "Min", "Mean", "All", "Any", "EuclideanNorm")]
    fed = {n["op"] for n in reductions if by_name[n["input"][0].split(":")[0]]["name"].endswith("/nonempty/input")}
    assert fed == {"Max", "Min", "Sum", "All"}  # the Mean's Sum: mean_as_sum divides it after the padding (cpu)
    assert not any(n["op"] in ("MatMul", "BatchMatMulV2") and "nonempty" in n["input"][0] for n in nodes)


def test_reductions_over_run_time_empty_axes_on_webgl(saved, converted, browser):
    result, out = converted
    for case in ("empty", "full"):
        expected = tf_outputs(saved, result, out, FEEDS[case])
        report = verify_model(out, FEEDS[case], expected, backends=("webgl",), rtol=1e-5, atol=1e-6,
                              browser_session=browser)
        failed = {row.name for row in report.comparisons if not row.passed}
        assert failed <= set(WEBGL_INT32_MAX_LOST if case == "empty" else ()), format_report(report)


class SharedPaddings(tf.Module):
    """Paddings ``cse`` merges (``a @ a^T`` pads both operands alike; ``Sum`` pads ``a`` with the same zeros), and
    int64 reductions whose Max/Min identity TF.js cannot hold."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="a"),
                                  tf.TensorSpec([None, None], tf.int64, name="n")])
    def __call__(self, a, n):
        return {"gram": tf.matmul(a, a, transpose_b=True), "sum": tf.reduce_sum(a, axis=1),
                "int64_max": tf.reduce_max(n, axis=1), "int64_sum": tf.reduce_sum(n, axis=1)}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    base = tmp_path_factory.mktemp("shared")
    tf.saved_model.save(SharedPaddings(), str(base / "saved"))
    return base / "saved", tfjsconv.convert(base / "saved", base / "web"), base / "web"


def test_paddings_merged_by_cse_are_not_padded_again(shared):
    """One padding of ``a`` serves the matmul's operands and the Sum; the passes converge (a padding cse renamed
    to ``.../nonempty/b/input`` was padded again every sweep, up to the sweep limit)."""
    _, result, out = shared
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    assert result.pass_report.sweeps < 10
    assert sum(n["op"] == "ConcatV2" and n["name"].endswith("/input") for n in nodes) == 2  # a's, n's int64 Sum


def test_the_padding_adds_no_special_values_notice(shared):
    """The padding's own int32 arithmetic (no int32 Min, no Mul) names no op the model does not have."""
    _, result, _ = shared
    assert not any("Mul" in n or "Min" in n for n in result.notices), result.notices


def test_shared_paddings_match_tf(shared, tfjs_runtime):
    saved, result, out = shared
    rng = np.random.default_rng(7)
    for a, n in ((np.zeros((2, 0), np.float32), np.array([[3, -9]], np.int64)),
                 (rng.standard_normal((3, 4)).astype(np.float32), rng.integers(-9, 9, (2, 3)).astype(np.int64))):
        feeds = {"a": a, "n": n}
        expected = tf_outputs(saved, result, out, feeds)
        report = verify_model(out, feeds, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=0.0)
        assert report.passed, format_report(report)
