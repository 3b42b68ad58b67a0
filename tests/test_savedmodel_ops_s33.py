"""Session 33 (h6): ``TensorScatterMax``/``Min`` (float32, int32) and non-float32 ``DepthToSpace`` in SavedModels.

All were refused by name before (TF.js 4.22 has no tensor scatter max/min; its ``depthToSpace`` takes float32 only).
Expected values come from the SavedModel run by TF; it is converted by the TF-free reader with TensorFlow poisoned
and run in TF.js cpu and wasm, bit for bit (NaN positions and zero signs included).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from test_tf_breadth_s32 import _run_exactly_like_tf, _save_and_convert, _tfjs_feeds  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

NAN, INF = np.float32(np.nan), np.float32(np.inf)
KINDS = ("Max", "Min")


class _Scatters(tf.Module):
    """Tensor scatter max/min: float32 rows (index depth 1), float32 cells of a rank-3 tensor (depth 2, int64
    indices), int32 rows."""

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="t"),
                                  tf.TensorSpec((None, 1), tf.int32, name="i"),
                                  tf.TensorSpec((None, 3), tf.float32, name="u"),
                                  tf.TensorSpec((None, 3, 2), tf.float32, name="cube"),
                                  tf.TensorSpec((None, 2), tf.int64, name="i2"),
                                  tf.TensorSpec((None, 2), tf.float32, name="u2"),
                                  tf.TensorSpec((None, 3), tf.int32, name="ti"),
                                  tf.TensorSpec((None, 3), tf.int32, name="ui")])
    def f(self, t, i, u, cube, i2, u2, ti, ui):
        out = {}
        for kind in KINDS:
            op = getattr(tf.raw_ops, f"TensorScatter{kind}")
            out[f"rows_{kind}"] = op(tensor=t, indices=i, updates=u)
            out[f"cells_{kind}"] = op(tensor=cube, indices=i2, updates=u2)
            out[f"int_{kind}"] = op(tensor=ti, indices=i, updates=ui)
        return out


@pytest.fixture(scope="module")
def scatters(tmp_path_factory):
    return _save_and_convert(_Scatters(), tmp_path_factory.mktemp("scatters"))


def _scatter_feeds(t: np.ndarray, i: np.ndarray, u: np.ndarray, rng: np.random.Generator) -> dict:
    """The row feeds as given; the cube and int32 feeds drawn from them (same index rows)."""
    cube = rng.permutation(np.concatenate([t.ravel(), t.ravel()]))[: t.shape[0] * 6].reshape(-1, 3, 2)
    i2 = np.stack([i[:, 0], rng.integers(0, 3, len(i))], axis=1).astype(np.int64)
    u2 = np.concatenate([u[:, :2], u[:, 1:]], axis=0)[: len(i)]
    ti = rng.integers(-2**31, 2**31 - 1, t.shape, dtype=np.int32)
    ui = rng.integers(-2**31, 2**31 - 1, u.shape, dtype=np.int32)
    return {"t": t, "i": i, "u": u, "cube": cube, "i2": i2, "u2": u2, "ti": ti, "ui": ui}


@pytest.mark.node
def test_tensor_scatter_extremes_of_special_values_are_tf_s(scatters, tfjs_runtime):
    """Refused before ("TensorScatterMax, TensorScatterMin: not supported by TensorFlow.js"). A NaN update is
    dropped, a NaN in the tensor stays, ties keep the tensor's zero, then the first zero update's sign; a row no
    update reaches is the tensor's; ±Inf and repeated rows."""
    t = np.float32([[1, NAN, 0.0], [-0.0, -1, -INF], [INF, 2, -0.0], [5, 5, 5], [-1, -1, -1]])
    i = np.int32([[0], [0], [1], [1], [2], [0], [1], [4], [4]])
    u = np.float32([[NAN, 3, -0.0], [0, NAN, NAN], [0.0, -0.0, -INF], [-0.0, -2, INF], [NAN, NAN, 0.0],
                    [-5, 4, 0.0], [-INF, -1, 1], [-0.0, -1, 0.0], [0.0, -0.0, -0.0]])
    _run_exactly_like_tf(*scatters, _scatter_feeds(t, i, u, np.random.default_rng(0)))


@pytest.mark.node
@pytest.mark.parametrize("seed", [0, 1])
def test_tensor_scatter_extremes_of_random_special_rows_are_tf_s(scatters, tfjs_runtime, seed):
    """60 updates into 9 rows, values drawn from NaN, ±0, ±1, ±Inf, 2.5: TF's in-order results, exactly."""
    rng = np.random.default_rng(seed)
    values = np.float32([NAN, 0.0, -0.0, 1, -1, INF, -INF, 2.5])
    feeds = _scatter_feeds(rng.choice(values, (9, 3)), rng.integers(0, 9, (60, 1)).astype(np.int32),
                           rng.choice(values, (60, 3)), rng)
    _run_exactly_like_tf(*scatters, feeds)


@pytest.mark.node
def test_tensor_scatter_extremes_with_no_update_are_the_tensor(scatters, tfjs_runtime):
    rng = np.random.default_rng(3)
    feeds = _scatter_feeds(np.float32([[NAN, -INF, -0.0], [INF, 1, 0.0]]), np.zeros((0, 1), np.int32),
                           np.zeros((0, 3), np.float32), rng)
    _run_exactly_like_tf(*scatters, feeds)


@pytest.mark.node
@pytest.mark.parametrize("bad", [-1, 5])
def test_tensor_scatter_index_outside_the_tensor_fails_the_run(scatters, tfjs_runtime, bad):
    """TF raises ("does not index into shape"); the converted model fails the run on cpu and wasm."""
    out, module = scatters
    rng = np.random.default_rng(4)
    feeds = _scatter_feeds(np.ones((5, 3), np.float32), np.int32([[0], [bad]]), np.ones((2, 3), np.float32), rng)
    with pytest.raises(tf.errors.InvalidArgumentError):
        module.f(**{k: tf.constant(v) for k, v in feeds.items()})
    runs = run_model(out, _tfjs_feeds(feeds), backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert not run.ok, backend


class _DepthToSpace(tf.Module):
    """int32 (channels known and not), uint8 and bool ``DepthToSpace``, blocks 2 and 3."""

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 12), tf.int32, name="x"),
                                  tf.TensorSpec((None, None, None, None), tf.int32, name="y"),
                                  tf.TensorSpec((None, 2, 3, 18), tf.int32, name="z")])
    def f(self, x, y, z):
        return {"int_2": tf.raw_ops.DepthToSpace(input=x, block_size=2),
                "int_any_channels": tf.raw_ops.DepthToSpace(input=y, block_size=2),
                "int_3": tf.raw_ops.DepthToSpace(input=z, block_size=3),
                "uint8": tf.raw_ops.DepthToSpace(input=tf.cast(tf.math.floormod(x, 256), tf.uint8), block_size=2),
                "bool": tf.raw_ops.DepthToSpace(input=x > 0, block_size=2)}


@pytest.fixture(scope="module")
def depth_to_space(tmp_path_factory):
    return _save_and_convert(_DepthToSpace(), tmp_path_factory.mktemp("depth_to_space"))


def _depth_feeds(batch: int, h: int, w: int, channels: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    draw = lambda *shape: rng.integers(-2**31, 2**31 - 1, shape, dtype=np.int32)  # noqa: E731
    return {"x": draw(batch, h, w, 12), "y": draw(batch, h + 1, w, channels), "z": draw(batch, 2, 3, 18)}


@pytest.mark.node
@pytest.mark.parametrize("sizes", [(2, 3, 4, 8), (1, 1, 1, 4), (3, 2, 0, 12)])
def test_depth_to_space_of_non_float32_values_is_tf_s(depth_to_space, tfjs_runtime, sizes):
    """Refused before ("DepthToSpace on cpu/wasm/webgl (input:0=int32 throws)"). int32 extremes, empty batch and
    width."""
    out, module = depth_to_space
    _run_exactly_like_tf(out, module, _depth_feeds(*sizes))


@pytest.mark.node
def test_depth_to_space_of_an_empty_batch_runs_on_cpu(depth_to_space, tfjs_runtime):
    """As SpaceToDepth's (session 32): cpu gives TF's empty result; wasm's Transpose of an empty leading axis throws
    "divide by zero" (docs/backends.md), an error, not a wrong value."""
    out, module = depth_to_space
    feeds = _depth_feeds(0, 2, 2, 4)
    _run_exactly_like_tf(out, module, feeds, backends=("cpu",))
    wasm = run_model(out, feeds, backends=["wasm"], quiet=True).backends["wasm"]
    assert not wasm.ok and "divide by zero" in wasm.error, (wasm.ok, wasm.error)


@pytest.mark.node
def test_depth_to_space_of_channels_the_block_does_not_divide_fails_the_run(depth_to_space, tfjs_runtime):
    out, module = depth_to_space
    feeds = _depth_feeds(1, 2, 2, 6)
    with pytest.raises(tf.errors.InvalidArgumentError):
        module.f(**{k: tf.constant(v) for k, v in feeds.items()})
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert not run.ok, backend


def _convert_module(module: tf.Module, folder):
    """Save ``module`` and convert it with the TF-free reader (TF poisoned); the finished process."""
    from test_savedmodel_tf_free import convert_without_tf

    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    return convert_without_tf(str(folder / "sm"), str(folder / "out"))


class _GraphNodeMax(tf.Module):
    """A GNN-sized aggregation: 1e5 edges' 64 features into 1e4 nodes (sizes known at conversion)."""

    @tf.function(input_signature=[tf.TensorSpec((100000, 64), tf.float32, name="edges"),
                                  tf.TensorSpec((100000,), tf.int32, name="targets")])
    def f(self, edges, targets):
        return {"nodes": tf.raw_ops.UnsortedSegmentMax(data=edges, segment_ids=targets, num_segments=10000)}


def test_segment_max_too_large_for_the_masks_is_refused_by_name(tmp_path):
    """Converted before, with no word: its [1e4, 1e5 + 1, 64] masks (6.4e10 elements) cannot be allocated in TF.js.
    Now refused, naming the node and the size."""
    done = _convert_module(_GraphNodeMax(), tmp_path)
    assert done.returncode != 0
    assert "UnsortedSegmentMax" in done.stderr and "10000 × 100001 × 64" in done.stderr, done.stderr[-1500:]


class _RunTimeRows(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="d"),
                                  tf.TensorSpec((None,), tf.int32, name="ids")])
    def f(self, d, ids):
        return {"y": tf.raw_ops.UnsortedSegmentMin(data=d, segment_ids=ids, num_segments=3)}


def test_segment_extremes_of_run_time_size_warn_about_the_masks(tmp_path):
    """Rows known only at run time: the conversion says what the rewrite costs (it said nothing before), in the
    summary's notices (review r6 N3: one line for every such op)."""
    text = _convert_module_verbosely(_RunTimeRows(), tmp_path)
    assert "run time, [segments, rows + 1, columns] elements" in text and "UnsortedSegmentMin (3 × ? × 4)" in text, \
        text[-1500:]


def _conformance_modules():
    """``cases_tf``, ``harness_tf`` and ``tf_ops`` of bench/conformance."""
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "conformance"))
    return (importlib.import_module(name) for name in ("cases_tf", "harness_tf", "tf_ops"))


def _webgl_outcome(key: str, folder, want: list, got: list):
    """The case's real webgl conversion (its special-values line) and the table's judgement of ``got``."""
    cases_tf, harness, tf_ops = _conformance_modules()
    case = next(c for c in cases_tf.CASES if c.key == key)
    graph, _ = harness.converted_graph([case], [0])
    line = harness._convert(graph, folder / "model", ["webgl"])
    outcome = harness._compare_all([np.asarray(w) for w in want], [np.asarray(g) for g in got], tfjs=True,
                                   abs_tol=case.abs_tol)
    outcome.named = line
    return harness.CaseResult(case, tfjs={"webgl": outcome}), tf_ops


def test_conformance_table_credits_what_the_case_s_conversion_names(tmp_path):
    """A webgl case rewritten into other ops (Softsign → RealDiv) was "wrong" in docs/conformance/tf_ops.md although
    its conversion names RealDiv's webgl deviation: the table now reads the conversion's own special-values line.
    A wrong outcome whose conversion named nothing stays wrong."""
    result, tf_ops = _webgl_outcome("Softsign/special", tmp_path, [[0.5, np.nan]], [[0.5, 1.0]])
    assert tf_ops.named_ops(result.tfjs["webgl"]) == "RealDiv (webgl)", result.tfjs["webgl"].named
    assert tf_ops.deviates(result, "webgl")
    result.tfjs["webgl"].named = ""
    assert not tf_ops.deviates(result, "webgl")
    result.tfjs["webgl"].status, result.tfjs["webgl"].named = "pass", "x"
    assert not tf_ops.deviates(result, "webgl")


def test_conformance_table_credits_only_the_named_kind_of_an_op_the_case_holds(tmp_path):
    """Review r6 N1: any wrong or throwing webgl cell was credited when its conversion named anything, e.g. a GatherV2
    gathering 1.0 for 5.0 because "int32 inputs (webgl)" was named. Now a throwing cell never is, and a wrong one only
    where special values alone differ and the line names an op of the case's graph."""
    gather, tf_ops = _webgl_outcome("GatherV2/axis2", tmp_path / "g", [[5.0, 2.0]], [[1.0, 2.0]])
    assert "int32 inputs (webgl)" in tf_ops.named_ops(gather.tfjs["webgl"])
    assert not tf_ops.deviates(gather, "webgl")
    gather.tfjs["webgl"].status, gather.tfjs["webgl"].special_only = "error", True
    assert not tf_ops.deviates(gather, "webgl")
    softsign, _ = _webgl_outcome("Softsign/special", tmp_path / "s", [[0.5, 0.25]], [[0.5, 0.75]])
    assert not tf_ops.deviates(softsign, "webgl")  # RealDiv named, but a finite value is off
    softsign.tfjs["webgl"].status = "error"
    assert not tf_ops.deviates(softsign, "webgl")
    past, _ = _webgl_outcome("Softsign/special", tmp_path / "p", [[0.5, 3e30, np.inf]], [[0.5, 1e20, 1e20]])
    assert tf_ops.deviates(past, "webgl")


class _WiderScatters(tf.Module):
    """Review r6 M2: float16 tensors (through float32), and index depth 2 into a ``(None, None)`` tensor (strides
    from the run-time shape); both were refused ("not supported by TensorFlow.js 4.22")."""

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float16, name="h"),
                                  tf.TensorSpec((None, 1), tf.int32, name="i"),
                                  tf.TensorSpec((None, 3), tf.float16, name="hu"),
                                  tf.TensorSpec((None, None), tf.float32, name="grid"),
                                  tf.TensorSpec((None, 2), tf.int32, name="i2"),
                                  tf.TensorSpec((None,), tf.float32, name="gu")])
    def f(self, h, i, hu, grid, i2, gu):
        out = {}
        for kind in KINDS:
            op = getattr(tf.raw_ops, f"TensorScatter{kind}")
            out[f"half_{kind}"] = op(tensor=h, indices=i, updates=hu)
            out[f"grid_{kind}"] = op(tensor=grid, indices=i2, updates=gu)
        return out


@pytest.fixture(scope="module")
def wider_scatters(tmp_path_factory):
    return _save_and_convert(_WiderScatters(), tmp_path_factory.mktemp("wider_scatters"))


@pytest.mark.node
@pytest.mark.parametrize("seed", [0, 1])
def test_tensor_scatter_extremes_of_float16_and_run_time_strides_are_tf_s(wider_scatters, tfjs_runtime, seed):
    """float16 max/min only pick a value, so float32 gives TF's bits; a 4 × 5 grid's strides come from its shape."""
    rng = np.random.default_rng(seed)
    values = np.float32([NAN, 0.0, -0.0, 1, -1, INF, -INF, 2.5, 65504, -3e38, 3e38])
    grid = rng.choice(values, (4, 5))
    feeds = {"h": rng.choice(values[:9], (6, 3)).astype(np.float16), "i": rng.integers(0, 6, (30, 1)).astype(np.int32),
             "hu": rng.choice(values[:9], (30, 3)).astype(np.float16), "grid": grid,
             "i2": np.stack([rng.integers(0, 4, 40), rng.integers(0, 5, 40)], axis=1).astype(np.int32),
             "gu": rng.choice(values, 40)}
    _run_exactly_like_tf(*wider_scatters, feeds)


@pytest.mark.node
def test_tensor_scatter_extremes_keep_special_cells_no_update_reaches_on_webgl(tmp_path, browser):
    """Review r6 N2: webgl's max/min reduce starts from ∓1e20, so a cell no (non-NaN) update reaches came back
    ∓1e20 where it held ±Inf or a value past ±1e20. Now only a cell with an update can change."""
    from tfjsconv.serve.browser import run_backends_in_browser

    out, module = _save_and_convert(_Scatters(), tmp_path)
    t = np.float32([[-3e38, -INF, 1], [3e38, INF, -1e30], [2, 2, 2]])
    feeds = _scatter_feeds(t, np.int32([[2], [0]]), np.float32([[1, 5, 3], [NAN, NAN, NAN]]),
                           np.random.default_rng(5))
    feeds["cube"] = np.float32([[[-INF, 3e38], [-2e30, INF], [NAN, 1]]] * 3)
    expected = {k: v.numpy() for k, v in module.f(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
    run = run_backends_in_browser(out, _tfjs_feeds(feeds), backends=["webgl"], session=browser)[0]["webgl"]
    assert run.ok, run.error
    for key in ("rows_Max", "rows_Min", "cells_Max", "cells_Min"):
        have = np.asarray(run.outputs[key]).reshape(expected[key].shape)
        untouched = np.ones(have.shape, bool)
        if key.startswith("rows"):
            untouched[2] = False  # row 2's updates: webgl's reduce may name ±1e20 there (named: Max, Min webgl)
        else:
            untouched[tuple(feeds["i2"].T)] = False
        np.testing.assert_array_equal(have[untouched], expected[key][untouched], err_msg=key)


def _convert_module_verbosely(module: tf.Module, folder):
    """As :func:`_convert_module`, without ``--quiet``: the summary's notices are printed."""
    from test_savedmodel_tf_free import run_without_tf

    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    done = run_without_tf("convert", str(folder / "sm"), str(folder / "out"))
    assert done.returncode == 0, done.stderr[-1500:]
    return done.stdout + done.stderr


class _SmallSorted(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((6, 3), tf.float32, name="d"), tf.TensorSpec((6,), tf.int32, name="ids")])
    def f(self, d, ids):
        return {"y": tf.math.segment_max(d, ids)}


def test_a_small_static_segment_max_converts_without_a_word_on_its_masks(tmp_path):
    """Review r6 N3: every sorted segment max/min warned (its segment count is known only at run time), a 6-row one
    too. The masks cost rows + 1 times TF's own output, known here: nothing to say."""
    assert "masks" not in _convert_module_verbosely(_SmallSorted(), tmp_path)


class _GraphSorted(tf.Module):
    """A GNN-sized sorted aggregation: 1e5 edges' 64 features (segment count known only at run time)."""

    @tf.function(input_signature=[tf.TensorSpec((100000, 64), tf.float32, name="edges"),
                                  tf.TensorSpec((100000,), tf.int32, name="targets")])
    def f(self, edges, targets):
        return {"nodes": tf.math.segment_max(edges, targets)}


def test_a_gnn_sized_sorted_segment_max_warns_by_name_that_it_may_not_finish(tmp_path):
    """Review r6 N3: it warned as every sorted op did, then hung at run time. One segment's masks are 6.4e6
    elements: the warning names the node, the measured times and that it may not finish."""
    text = _convert_module_verbosely(_GraphSorted(), tmp_path)
    assert "SegmentMax" in text and "? × 100001 × 64 here, 6.4e+06 elements per segment" in text, text[-1500:]
    assert "gave no answer in 600 s" in text and "it may not finish" in text, text[-1500:]


class _RunTimeScatters(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="t"),
                                  tf.TensorSpec((None, 1), tf.int32, name="i"),
                                  tf.TensorSpec((None, 3), tf.float32, name="u")])
    def f(self, t, i, u):
        return {kind: getattr(tf.raw_ops, f"TensorScatter{kind}")(tensor=t, indices=i, updates=u) for kind in KINDS}


def test_run_time_sized_scatters_are_noted_once_and_name_no_helper_op(tmp_path):
    """Review r6 N3, M1, M2: one log line per node said "segments/rows" for scatters and never reached the result's
    notices; the rewrite's int32 Mul/Prod made the cpu line name ops the model does not have. Now one notice lists
    both nodes with the updates/cells formula, and the cpu line names neither Mul nor Prod."""
    import tfjsconv

    tf.saved_model.save(_RunTimeScatters(), str(tmp_path / "sm"), signatures=_RunTimeScatters().f)
    result = tfjsconv.convert(str(tmp_path / "sm"), tmp_path / "out", target_backends=["cpu"])
    masks = [line for line in result.notices if "masks" in line]
    assert len(masks) == 1 and "TensorScatterMax (? × ? × 3)" in masks[0] and "TensorScatterMin" in masks[0], masks
    assert "[cells, updates + 1, columns]" in masks[0], masks
    special = " ".join(line for line in result.notices if line.startswith("special values"))
    assert "Mul" not in special and "Prod" not in special, special
