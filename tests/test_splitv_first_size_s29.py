"""``SplitV`` sizes holding a -1 run in TF.js as in TF (the core pass ``split_sizes``, session 29; found by h2).

TF.js 4.22's ``prepareSplitSize`` sums the sizes besides a -1 starting from the first entry, so every split whose first
size is -1 failed ("The sum of sizes must match the size of the axis dimension"): ``tf.split(x, [-1, 2], axis=1)``
over an axis of unknown size, ``[-1]`` alone, sizes fed at run time. A leftover of exactly -1 (``[1, -1, 6]`` over 6,
where TF raises) passed its check and gave other pieces, silently. Expected values from TF's ``tf.function`` or
Session; converted by ``tfjsconv convert``; run in TF.js cpu and wasm.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.cli import main  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

X = (np.arange(2 * 6, dtype=np.float32).reshape(2, 6) - 5.5) * np.float32(0.75)
BACKENDS = ["cpu", "wasm"]


class Splits(tf.Module):
    """Constant sizes led by -1 over an axis of unknown size, and sizes fed at run time (two and three pieces)."""

    @tf.function(input_signature=[tf.TensorSpec([2, None], tf.float32, name="x")])
    def constant(self, x):
        a, b = tf.split(x, [-1, 2], axis=1)
        (whole,) = tf.split(x, [-1], axis=-1)
        c, d, e = tf.split(x, [1, -1, 2], axis=1)
        return {"a": a, "b": b * 2.0, "whole": whole, "c": c, "d": d, "e": e}

    @tf.function(input_signature=[tf.TensorSpec([2, None], tf.float32, name="x"),
                                  tf.TensorSpec([2], tf.int32, name="s"), tf.TensorSpec([3], tf.int32, name="t")])
    def fed(self, x, s, t):
        a, b = tf.split(x, s, axis=1, num=2)
        c, d, e = tf.split(x, t, axis=-1, num=3)
        return {"a": a, "b": b + 1.0, "c": c, "d": d, "e": e}


def _convert(tmp: Path, module: tf.Module, signature: str) -> Path:
    tf.saved_model.save(module, tmp / "sm", signatures=getattr(module, signature))
    assert main(["convert", str(tmp / "sm"), str(tmp / "out"), "--quiet"]) == 0
    return tmp / "out"


def _assert_runs_as_tf(out: Path, function, feeds: dict) -> None:
    want = {key: value.numpy() for key, value in function(**feeds).items()}
    for backend, run in run_model(out, feeds, backends=BACKENDS, quiet=True).backends.items():
        assert run.ok, (backend, {k: v.tolist() for k, v in feeds.items() if k != "x"}, str(run.error)[:200])
        for key, value in want.items():
            got = np.asarray(run.outputs[key], np.float32).reshape(value.shape)
            np.testing.assert_array_equal(got, value, err_msg=f"{backend} {key}")


def _assert_fails_as_tf_raises(out: Path, function, feeds: dict) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError):
        function(**feeds)
    runs = run_model(out, feeds, backends=BACKENDS, quiet=True).backends
    assert not any(run.ok for run in runs.values()), (feeds, {b: r.outputs for b, r in runs.items()})


@pytest.fixture(scope="module")
def splits() -> Splits:
    return Splits()


@pytest.fixture(scope="module")
def fed_model(splits, tmp_path_factory) -> Path:
    return _convert(tmp_path_factory.mktemp("fed"), splits, "fed")


@pytest.mark.node
def test_constant_sizes_led_by_minus_one_over_an_unknown_axis_run_as_in_tf(splits, tmp_path):
    out = _convert(tmp_path, splits, "constant")
    for columns in (6, 4, 3):
        _assert_runs_as_tf(out, splits.constant, {"x": np.ascontiguousarray(X[:, :columns])})


@pytest.mark.node
def test_sizes_fed_at_run_time_run_as_in_tf_wherever_the_minus_one_is(splits, fed_model):
    for s, t in (([-1, 2], [-1, 2, 1]), ([-1, 0], [1, -1, 2]), ([-1, 6], [1, 2, -1]), ([0, -1], [-1, 0, 0]),
                 ([2, 4], [3, 3, 0])):
        _assert_runs_as_tf(fed_model, splits.fed, {"x": X, "s": np.array(s, np.int32), "t": np.array(t, np.int32)})


@pytest.mark.node
def test_sizes_tf_refuses_fail_the_run_instead_of_giving_other_pieces(splits, fed_model):
    """``[1, -1, 6]`` over 6 leaves -1 for the -1, which TF.js read as "the rest" before (pieces of 1, 5 and 6)."""
    valid = np.array([2, 4], np.int32)
    for t in ([1, -1, 6], [3, -1, 4], [-1, 5, 2], [-2, 4, 4], [-1, -1, 6], [1, 1, 1]):
        _assert_fails_as_tf_raises(fed_model, splits.fed, {"x": X, "s": valid, "t": np.array(t, np.int32)})


@pytest.mark.node
def test_a_frozen_graph_of_unknown_rank_and_one_of_known_sizes_split_as_in_tf(tmp_path):
    """A placeholder of unknown rank split on axis -1 (the axis's size read at run time, the axis modulo the rank),
    and a static ``[2, 6]`` one whose -1 first is resolved when converting."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, None, "x")
        fixed = tf.compat.v1.placeholder(tf.float32, (2, 6), "fixed")
        a, b = tf.split(x, [-1, 2], axis=-1)
        c, d = tf.split(fixed, [-1, 4], axis=1)
        for name, value in (("a", a), ("b", b), ("c", c), ("d", d)):
            tf.identity(value, name=name)
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    assert main(["convert", str(tmp_path / "m.pb"), str(tmp_path / "out"), "--output_node_names=a,b,c,d",
                 "--quiet"]) == 0
    for shape in ((2, 6), (3, 2, 5), (4,)):
        feeds = {"x": np.arange(np.prod(shape), dtype=np.float32).reshape(shape), "fixed": X}
        with tf.compat.v1.Session(graph=graph) as session:
            want = dict(zip("abcd", session.run(["a:0", "b:0", "c:0", "d:0"], {f"{k}:0": v for k, v in feeds.items()})))
        for backend, run in run_model(tmp_path / "out", feeds, backends=BACKENDS, quiet=True).backends.items():
            assert run.ok, (backend, shape, str(run.error)[:200])
            for key, value in want.items():
                np.testing.assert_array_equal(np.asarray(run.outputs[key], np.float32).reshape(value.shape), value,
                                              err_msg=f"{backend} {key} {shape}")


class SplitInBranch(tf.Module):
    """A tf.cond branch splitting by ``[-1, 2]`` (the default conversion lowers it, so the pass reaches it)."""

    @tf.function(input_signature=[tf.TensorSpec([2, None], tf.float32, name="x")])
    def serve(self, x):
        return {"out": tf.cond(tf.reduce_min(x) > -1e9, lambda: tf.split(x, [-1, 2], axis=1)[0] * 2.0,
                               lambda: x[:, 2:] + 1.0)}


@pytest.mark.node
@pytest.mark.parametrize("loader", ("tensorflow", "auto"))
def test_a_split_in_a_kept_branch_is_refused_by_name_and_converts_lowered(loader, tmp_path):
    """``--control_flow_v2`` keeps the branch as a FunctionDef the pass does not reach: refused, naming it and the
    pass; without the flag the branch is inlined and runs as in TF."""
    module = SplitInBranch()
    tf.saved_model.save(module, tmp_path / "sm", signatures=module.serve)
    with pytest.raises(BackendUnsupportedError) as raised:
        tfjsconv.convert(tmp_path / "sm", tmp_path / "kept", control_flow_v2=True, loader=loader)
    problems = raised.value.problems
    assert {p.op for p in problems} == {"SplitV"}, problems
    assert all("split_sizes pass does not reach" in p.reason for p in problems), problems
    assert main(["convert", str(tmp_path / "sm"), str(tmp_path / "out"), f"--loader={loader}", "--quiet"]) == 0
    _assert_runs_as_tf(tmp_path / "out", module.serve, {"x": X})


def test_fed_sizes_on_webgl_as_in_tf_and_refused_sizes_fail(splits, fed_model, browser):
    """webgl's SplitV reads its sizes through the same tfjs-core function: TF's pieces, and a failed run where TF
    raises (the leftover -1 of ``[1, -1, 6]`` too)."""
    from tfjsconv.serve.browser import run_backends_in_browser

    def webgl(feeds: dict):
        return run_backends_in_browser(fed_model, feeds, backends=["webgl"], session=browser,
                                       flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]

    feeds = {"x": X, "s": np.array([-1, 2], np.int32), "t": np.array([1, -1, 2], np.int32)}
    run, want = webgl(feeds), {key: value.numpy() for key, value in splits.fed(**feeds).items()}
    assert run.ok, run.error
    for key, value in want.items():
        np.testing.assert_array_equal(np.asarray(run.outputs[key], np.float32).reshape(value.shape), value, key)
    assert not webgl({**feeds, "t": np.array([1, -1, 6], np.int32)}).ok


class LeftoverInBranch(tf.Module):
    """A tf.cond branch splitting by ``[2, -1]`` (tf_keras's GRUCell splits by ``[units, units, -1]`` in its body)."""

    @tf.function(input_signature=[tf.TensorSpec([2, None], tf.float32, name="x")])
    def serve(self, x):
        return {"out": tf.cond(tf.reduce_min(x) > -1e9, lambda: tf.split(x, [2, -1], axis=1)[1] * 2.0,
                               lambda: x[:, 2:] + 1.0)}


@pytest.mark.node
def test_a_constant_minus_one_not_first_in_a_kept_branch_converts_and_runs_as_in_tf(tmp_path):
    """A -1 that is not first ran right in TF.js (its leftover is -1 only where TF raises): ``--control_flow_v2``
    keeps it (refused by the guard's first version, which refused every -1: h6b, session 29)."""
    module = LeftoverInBranch()
    tf.saved_model.save(module, tmp_path / "sm", signatures=module.serve)
    tfjsconv.convert(tmp_path / "sm", tmp_path / "kept", control_flow_v2=True)
    _assert_runs_as_tf(tmp_path / "kept", module.serve, {"x": X})
