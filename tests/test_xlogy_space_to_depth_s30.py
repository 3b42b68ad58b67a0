"""Session 30 (h6b): ``Xlogy``, ``Xdivy`` and ``SpaceToDepth`` in a SavedModel, rewritten into ops TF.js has.

TF.js 4.22 has none of the three, so such SavedModels were refused by name (found by bench/tf_random_graphs.py
``--wide``). ``tf_op_rewrites`` now spells them out: ``Xlogy``/``Xdivy`` as ``SelectV2(x == 0, x, x·log(y) or x/y)``
(TF gives ``x`` itself where ``x == 0``: -0 stays -0, and 0 also where ``y`` is 0, ±Inf or NaN), ``SpaceToDepth``
(NHWC) as Reshape/Transpose/Reshape. Expected values come from the SavedModel run by TF; the converted models run
in TF.js cpu and wasm (default flags).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.errors import UnsupportedOpsError  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

NAN, INF = np.nan, np.inf
#: Every special pairing of x with y, plus ordinary values.
X_EDGE = np.float32([0, -0.0, 0, 0, 0, -0.0, 1, NAN, NAN, 2, -1, 1, 0, 3.5, -2.25, 1e-30, INF, -INF])
Y_EDGE = np.float32([NAN, NAN, INF, -INF, 0, -0.0, 0, 0, 1, -1, 2, NAN, -1, 0.75, 1e30, 7, 2, 0.5])


def _save(folder, fn, specs) -> object:
    module = tf.Module()
    module.f = tf.function(fn, input_signature=specs)
    tf.saved_model.save(module, str(folder), signatures=module.f)
    return tf.saved_model.load(str(folder)).signatures["serving_default"]


def _ops(folder) -> set[str]:
    return {n["op"] for n in json.loads((folder / "model.json").read_text())["modelTopology"]["node"]}


def _assert_like_tf(have: np.ndarray, want: np.ndarray, what: str) -> None:
    """Same shape, NaN where TF has NaN, the same sign on zeros and infinities; values within float32 Log rounding."""
    assert have.shape == want.shape, (what, have.shape, want.shape)
    np.testing.assert_array_equal(np.isnan(have), np.isnan(want), err_msg=what)
    numbers = ~np.isnan(want)  # a NaN's sign bit is no part of its value
    np.testing.assert_array_equal(np.signbit(have[numbers]), np.signbit(want[numbers]), err_msg=what)
    np.testing.assert_allclose(have, want, rtol=1e-6, atol=0, err_msg=what)


def _x_ops(x, y):
    return {"xlogy": tf.raw_ops.Xlogy(x=x, y=y), "xdivy": tf.raw_ops.Xdivy(x=x, y=y),
            "xlogy_bcast": tf.raw_ops.Xlogy(x=x[:1], y=y), "xdivy_bcast": tf.raw_ops.Xdivy(x=x, y=y[:, :1])}


@pytest.mark.node
def test_xlogy_xdivy_run_like_tf(tmp_path, tfjs_runtime):
    """Refused before ("Xlogy: ...", "Xdivy: ..." not supported by TF.js)."""
    spec = tf.TensorSpec((None, X_EDGE.size), tf.float32)
    loaded = _save(tmp_path / "sm", _x_ops, [spec, spec])
    x = np.stack([X_EDGE, np.roll(X_EDGE, 5)])
    y = np.stack([Y_EDGE, np.roll(Y_EDGE, 3)])
    names = [s.name for s in loaded.structured_input_signature[1].values()]
    feeds = dict(zip(sorted(names), (x, y)))
    expected = {k: v.numpy() for k, v in loaded(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model")
    assert not _ops(tmp_path / "out") & {"Xlogy", "Xdivy"}
    runs = run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            _assert_like_tf(np.asarray(run.outputs[key], np.float32).reshape(want.shape), want, f"{backend} {key}")


def _space_to_depth(block: int):
    def fn(x):
        return {"y": tf.raw_ops.SpaceToDepth(input=x, block_size=block)}
    return fn


CASES = [  # (static shape of the input, block, fed shape, dtype)
    ((None, 4, 6, 3), 2, (2, 4, 6, 3), np.float32),
    ((2, None, 6, 2), 3, (2, 9, 6, 2), np.float32),
    ((1, 6, 4, 5), 2, (1, 6, 4, 5), np.int32),
    ((None, 2, 2, 1), 2, (3, 2, 2, 1), np.int32),
]


@pytest.mark.node
@pytest.mark.parametrize("static, block, fed, dtype", CASES, ids=lambda v: str(v))
def test_space_to_depth_runs_like_tf(tmp_path, tfjs_runtime, static, block, fed, dtype):
    """Refused before ("SpaceToDepth: ... not supported by TF.js"). Exact: only values move."""
    loaded = _save(tmp_path / "sm", _space_to_depth(block), [tf.TensorSpec(static, tf.as_dtype(dtype), name="x")])
    x = np.arange(np.prod(fed)).reshape(fed).astype(dtype)
    if dtype == np.float32:
        x.ravel()[:4] = [NAN, -0.0, INF, -INF]
    want = loaded(x=tf.constant(x))["y"].numpy()
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model")
    assert "SpaceToDepth" not in _ops(tmp_path / "out")
    runs = run_model(tmp_path / "out", {"x": x}, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        have = np.asarray(run.outputs["y"]).astype(dtype).reshape(want.shape)
        np.testing.assert_array_equal(have, want, err_msg=backend)
        np.testing.assert_array_equal(np.signbit(have), np.signbit(want), err_msg=backend)


def test_space_to_depth_of_unknown_width_converts(tmp_path):
    """Refused by name until session 32 (the Reshapes needed W and C known); their shapes now come from ``Shape(x)``
    at run time (``tests/test_tf_breadth_s32.py`` runs such models against TF)."""
    _save(tmp_path / "sm", _space_to_depth(2), [tf.TensorSpec((None, None, None, 3), tf.float32, name="x")])
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model")
    assert "SpaceToDepth" not in _ops(tmp_path / "out")


class _Segments(tf.Module):
    """float32 ids over rows and int32 ids over a matrix (int64 ``num_segments``), ids at run time."""

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="d"), tf.TensorSpec((None,), tf.int32,
                 name="ids"), tf.TensorSpec((2, None), tf.int32, name="di"), tf.TensorSpec((2, None), tf.int32,
                                                                                        name="ids2")])
    def f(self, d, ids, di, ids2):
        return {"a": tf.math.unsorted_segment_sum(d, ids, 5),
                "b": tf.raw_ops.UnsortedSegmentSum(data=di, segment_ids=ids2, num_segments=tf.constant(4, tf.int64))}


#: Duplicate ids, a negative id (TF drops its values), empty segments, NaN, -0.0 and int32 wrap-around.
SEGMENT_FEEDS = {"d": np.float32([[1, 2, NAN], [-0.0, 4, 5], [6, -0.0, 7], [1e30, 1, -0.0], [-1e30, 3, 4]]),
                 "ids": np.int32([2, 0, -1, 2, 2]),
                 "di": np.int32([[1, 2, 2**31 - 1, 5], [7, 1, 1, -3]]),
                 "ids2": np.int32([[0, 3, 3, -2], [3, 0, -1, 0]])}


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    folder = tmp_path_factory.mktemp("segments")
    module = _Segments()
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    tfjsconv.convert(folder / "sm", folder / "out", output_format="tfjs_graph_model")
    return folder / "out", module


@pytest.mark.node
def test_unsorted_segment_sum_runs_like_tf(segments, tfjs_runtime):
    """Refused before ("UnsortedSegmentSum: ... not supported by TF.js")."""
    out, module = segments
    assert "UnsortedSegmentSum" not in _ops(out)
    expected = {k: v.numpy() for k, v in module.f(**SEGMENT_FEEDS).items()}
    runs = run_model(out, SEGMENT_FEEDS, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            have = np.asarray(run.outputs[key]).astype(want.dtype).reshape(want.shape)
            np.testing.assert_array_equal(have, want, err_msg=f"{backend} {key}")
            np.testing.assert_array_equal(np.signbit(have), np.signbit(want), err_msg=f"{backend} {key}")


@pytest.mark.node
def test_unsorted_segment_sum_adds_in_tf_order(segments, tfjs_runtime):
    """3000 rows of magnitudes 1e-5..1e5 into 5 segments: TF adds the rows in order, and so does the ScatterNd,
    so the float32 sums are bit for bit TF's (a tree or pairwise sum would round otherwise)."""
    out, module = segments
    rng = np.random.default_rng(30)
    feeds = dict(SEGMENT_FEEDS, d=(rng.standard_normal((3000, 3)) * 10.0 ** rng.integers(-5, 6, (3000, 3)))
                 .astype(np.float32), ids=rng.integers(-1, 5, 3000).astype(np.int32))
    want = module.f(**feeds)["a"].numpy()
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        np.testing.assert_array_equal(np.asarray(run.outputs["a"]).reshape(want.shape), want, err_msg=backend)


@pytest.mark.node
def test_unsorted_segment_id_past_the_end_fails_the_run_as_tf_raises(segments, tfjs_runtime):
    """TF raises on an id >= num_segments; the converted model must not drop it silently."""
    out, module = segments
    feeds = dict(SEGMENT_FEEDS, ids=np.int32([2, 0, 5, 2, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        module.f(**feeds)
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True)
    assert all(not run.ok for run in runs.backends.values()), runs.backends


class _Scatters(tf.Module):
    """int32 TensorScatterAdd/Sub with run-time indices (rows and single elements), and a float32 one."""

    @tf.function(input_signature=[tf.TensorSpec((4, 3), tf.int32, name="t"), tf.TensorSpec((None, 1), tf.int32,
                 name="rows"), tf.TensorSpec((None, 3), tf.int32, name="u"), tf.TensorSpec((None, 2), tf.int32,
                                                                                        name="cells")])
    def f(self, t, rows, u, cells):
        ones = tf.ones_like(cells[:, 0]) * (2**31 - 1)
        return {"add": tf.raw_ops.TensorScatterAdd(tensor=t, indices=rows, updates=u),
                "sub": tf.raw_ops.TensorScatterSub(tensor=t, indices=rows, updates=u),
                "add_cells": tf.raw_ops.TensorScatterAdd(tensor=t, indices=cells, updates=ones)}


#: Duplicate rows and cells, int32 wrap-around.
SCATTER_FEEDS = {"t": np.int32([[1, -2, 3], [2**31 - 1, 0, -2**31], [7, 8, 9], [0, 0, 0]]),
                 "rows": np.int32([[1], [2], [1], [3]]),
                 "u": np.int32([[1, -1, 5], [2**31 - 1, 3, 3], [4, 4, -4], [0, 0, 0]]),
                 "cells": np.int32([[0, 0], [1, 2], [0, 0], [3, 1]])}


@pytest.mark.node
def test_int_tensor_scatter_add_sub_run_like_tf(tmp_path, tfjs_runtime):
    """Refused before ("TensorScatterAdd/TensorScatterSub: ... not supported by TF.js"). Exact."""
    module = _Scatters()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.f)
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model")
    assert not _ops(tmp_path / "out") & {"TensorScatterAdd", "TensorScatterSub"}
    expected = {k: v.numpy() for k, v in module.f(**SCATTER_FEEDS).items()}
    runs = run_model(tmp_path / "out", SCATTER_FEEDS, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            have = np.asarray(run.outputs[key]).astype(np.int32).reshape(want.shape)
            np.testing.assert_array_equal(have, want, err_msg=f"{backend} {key}")


def test_float_tensor_scatter_add_stays_refused_by_name(tmp_path):
    """float32: TF adds duplicate updates one by one into the tensor, which a ScatterNd sum cannot reproduce."""
    spec = [tf.TensorSpec((4, 3), tf.float32, name="t"), tf.TensorSpec((None, 1), tf.int32, name="rows"),
            tf.TensorSpec((None, 3), tf.float32, name="u")]
    _save(tmp_path / "sm", lambda t, rows, u: {"y": tf.raw_ops.TensorScatterAdd(tensor=t, indices=rows, updates=u)},
          spec)
    with pytest.raises(UnsupportedOpsError, match="TensorScatterAdd"):
        tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model")


class _Int64Segments(tf.Module):
    """int64 ids over a matrix of rows, a run-time ``num_segments``, and ``unsorted_segment_mean`` (built by TF from
    ``UnsortedSegmentSum``s)."""

    @tf.function(input_signature=[tf.TensorSpec((None, 2, 2), tf.float32, name="d"),
                                  tf.TensorSpec((None, 2), tf.int64, name="ids"), tf.TensorSpec((), tf.int32, name="n")])
    def f(self, d, ids, n):
        return {"sum": tf.math.unsorted_segment_sum(d, ids, n), "mean": tf.math.unsorted_segment_mean(d, ids, n)}


@pytest.mark.node
def test_unsorted_segment_sum_of_int64_ids_runs_like_tf_without_an_int64_notice(tmp_path, tfjs_runtime, caplog):
    """The id arithmetic the rewrite adds is int32 (the ids are cast once), so the int64 notice names nothing of it."""
    module = _Int64Segments()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.f)
    feeds = {"d": np.arange(12, dtype=np.float32).reshape(3, 2, 2) - 5, "ids": np.int64([[0, 3], [3, -1], [1, 1]]),
             "n": np.int32(5)}
    expected = {k: v.numpy() for k, v in module.f(**feeds).items()}
    with caplog.at_level("WARNING"):
        tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model")
    assert "UnsortedSegmentSum" not in caplog.text
    runs = run_model(tmp_path / "out", dict(feeds, ids=feeds["ids"].astype(np.int32)), backends=["cpu", "wasm"],
                     quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            np.testing.assert_array_equal(np.asarray(run.outputs[key]).reshape(want.shape), want, err_msg=backend)
