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
    """Rows known only at run time: the conversion says what the rewrite costs (it said nothing before)."""
    done = _convert_module(_RunTimeRows(), tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "[segments, rows + 1, columns] masks (3 × ? × 4 here)" in done.stderr, done.stderr[-1500:]


def test_conformance_table_credits_what_the_case_s_conversion_names(tmp_path):
    """A webgl case rewritten into other ops (Softsign → RealDiv) was "wrong" in docs/conformance/tf_ops.md although
    its conversion names RealDiv's webgl deviation: the table now reads the conversion's own special-values line.
    A wrong outcome whose conversion named nothing stays wrong."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "conformance"))
    from cases_tf import CASES
    from harness_tf import CaseResult, Outcome, _convert, converted_graph
    from tf_ops import deviates, named_ops

    case = next(c for c in CASES if c.key == "Softsign/special")
    graph, _ = converted_graph([case], [0])
    line = _convert(graph, tmp_path / "model", ["webgl"])
    assert named_ops(Outcome("wrong", named=line)) == "RealDiv (webgl)", line
    assert deviates(CaseResult(case, tfjs={"webgl": Outcome("wrong", "Inf/Inf is 1", named=line)}), "webgl")
    assert not deviates(CaseResult(case, tfjs={"webgl": Outcome("wrong", "Inf/Inf is 1")}), "webgl")
    assert not deviates(CaseResult(case, tfjs={"webgl": Outcome("pass", named=line)}), "webgl")
