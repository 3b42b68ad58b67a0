"""Session 32 (h6): ``[Unsorted]Segment{Max,Min}`` and ``SpaceToDepth`` over run-time H/W in SavedModels.

Both were refused by name before (TF.js 4.22 has no segment max/min; the ``SpaceToDepth`` rewrite needed W, C and
N or H known). Expected values come from the SavedModel run by TF; it is converted by the TF-free reader with
TensorFlow poisoned and run in TF.js cpu and wasm. Every result is exact, bit for bit (zero signs and NaN included):
TF folds a segment's rows in order with a later row winning ties and NaN, except its sorted kernel's 8-wide column
blocks (x86-64 Eigen packets, h6b), which the rewrite reproduces (``plugins/savedmodel/segment_extremes.py``).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from test_savedmodel_tf_free import convert_without_tf  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

NAN, INF = np.float32(np.nan), np.float32(np.inf)
KINDS = ("Max", "Min")


class _Extremes(tf.Module):
    """Every segment max/min on run-time data and ids: 7 and 9 columns (past one 8-float packet), rank-3 data, 2-D
    unsorted ids, int32 data and int64 ids."""

    @tf.function(input_signature=[tf.TensorSpec((None, 9), tf.float32, name="d"),
                                  tf.TensorSpec((None,), tf.int32, name="ids"),
                                  tf.TensorSpec((None,), tf.int32, name="uids"),
                                  tf.TensorSpec((None, 2, 3), tf.float32, name="cube"),
                                  tf.TensorSpec((None, 2), tf.int64, name="uids2"),
                                  tf.TensorSpec((None, 2), tf.int32, name="di")])
    def f(self, d, ids, uids, cube, uids2, di):
        out = {}
        for kind in KINDS:
            sorted_op, unsorted_op = getattr(tf.raw_ops, f"Segment{kind}"), getattr(tf.raw_ops, f"UnsortedSegment{kind}")
            out[f"seg_{kind}"] = sorted_op(data=d[:, :7], segment_ids=ids)
            out[f"seg_{kind}_wide"] = sorted_op(data=d, segment_ids=ids)
            out[f"seg_{kind}_int"] = sorted_op(data=di, segment_ids=ids)
            out[f"seg_{kind}_cube"] = sorted_op(data=cube, segment_ids=ids)
            out[f"u_{kind}"] = unsorted_op(data=d, segment_ids=uids, num_segments=7)
            out[f"u_{kind}_int"] = unsorted_op(data=di, segment_ids=uids, num_segments=tf.constant(7, tf.int64))
            out[f"u_{kind}_ids2"] = unsorted_op(data=cube, segment_ids=uids2, num_segments=5)
        return out


def _save_and_convert(module: tf.Module, folder):
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    done = convert_without_tf(str(folder / "sm"), str(folder / "out"))  # the TF-free reader, TF poisoned
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / "out", module


@pytest.fixture(scope="module")
def extremes(tmp_path_factory):
    return _save_and_convert(_Extremes(), tmp_path_factory.mktemp("extremes"))


def _tf_outputs(module, feeds: dict) -> dict:
    return {k: v.numpy() for k, v in module.f(**{k: tf.constant(v) for k, v in feeds.items()}).items()}


def _tfjs_feeds(feeds: dict) -> dict:
    return {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in feeds.items()}


def _run_exactly_like_tf(out, module, feeds: dict, backends: tuple[str, ...] = ("cpu", "wasm")) -> None:
    """Every output bit for bit TF's on each backend: values, NaN positions and zero signs."""
    expected = _tf_outputs(module, feeds)
    runs = run_model(out, _tfjs_feeds(feeds), backends=list(backends), quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            have = np.asarray(run.outputs[key]).astype(want.dtype).reshape(want.shape)
            np.testing.assert_array_equal(have, want, err_msg=f"{backend} {key}")
            signed = ~np.isnan(want) if want.dtype.kind == "f" else np.ones(want.shape, bool)  # a NaN's sign: no meaning
            np.testing.assert_array_equal(np.signbit(have[signed]), np.signbit(want[signed]),
                                          err_msg=f"{backend} {key} zero signs")


def _special_feeds() -> dict:
    """NaN first, last and alone; ±Inf alone (unsorted max keeps lowest() over -Inf); ±0 ties both ways; empty
    segments (sorted 1, 6; unsorted 2, 5), a dropped negative id; int32 extremes."""
    rows = np.float32([[NAN, 1, 0], [2, NAN, -0.0], [3, 4, -INF], [-INF, -INF, INF], [-0.0, 0.0, NAN],
                       [0.0, -0.0, 5], [INF, -0.0, -0.0], [NAN, NAN, 0.0]])
    d = np.concatenate([rows, -rows[:, ::-1], rows[:, :3]], axis=1)
    return {"d": d, "ids": np.int32([0, 0, 2, 3, 4, 4, 5, 7]), "uids": np.int32([1, 1, 3, 4, 0, 0, -1, 6]),
            "cube": d[:, :6].reshape(8, 2, 3), "uids2": np.int64([[0, 0], [1, -1], [4, 4], [1, 0], [0, 3], [3, 4],
                                                                  [0, 1], [4, -3]]),
            "di": np.int32([[5, -7], [2**31 - 1, -2**31], [3, 3], [0, 0], [-1, 1], [9, 9], [1, 2], [3, 4]])}


@pytest.mark.node
def test_segment_extremes_of_special_values_are_tf_s(extremes, tfjs_runtime):
    """Refused before ("SegmentMax, SegmentMin, UnsortedSegmentMax, UnsortedSegmentMin: not supported by TF.js").
    The sorted ops over 9 columns included (TF's 8-wide packet rule in the first 8: h6b)."""
    out, module = extremes
    _run_exactly_like_tf(out, module, _special_feeds())


@pytest.mark.node
@pytest.mark.parametrize("seed", [0, 1])
def test_segment_extremes_of_random_special_rows_are_tf_s(extremes, tfjs_runtime, seed):
    """300 rows drawn from NaN, ±0, ±1, ±Inf into 40 sorted segments (some empty, some of 20+ rows) and 7 unsorted
    ones: TF's order-dependent NaN and zero-sign results, exactly."""
    rng = np.random.default_rng(seed)
    values = np.float32([NAN, 0.0, -0.0, 1, -1, INF, -INF, 2.5])
    d = rng.choice(values, size=(300, 9))
    feeds = {"d": d, "ids": np.sort(rng.integers(0, 40, 300)).astype(np.int32),
             "uids": rng.integers(-2, 7, 300).astype(np.int32), "cube": d[:, :6].reshape(300, 2, 3),
             "uids2": rng.integers(-1, 5, (300, 2)).astype(np.int64),
             "di": rng.integers(-2**31, 2**31 - 1, (300, 2), dtype=np.int32)}
    out, module = extremes
    _run_exactly_like_tf(out, module, feeds)


@pytest.mark.node
def test_wide_sorted_extremes_without_nan_or_zero_ties_are_tf_s(extremes, tfjs_runtime):
    """Over 9 columns without NaN or ±0 ties, where TF's packet path and its fold agree: finite and ±Inf values."""
    rng = np.random.default_rng(5)
    d = rng.choice(np.float32([-INF, -3, -1.5, 1, 2.5, 7, INF]), size=(300, 9)) * rng.uniform(0.5, 2, (300, 9))
    feeds = {**{k: v[:300] for k, v in _special_feeds().items()}, "d": d.astype(np.float32),
             "ids": np.sort(rng.integers(0, 40, 300)).astype(np.int32), "uids": rng.integers(-2, 7, 300).astype(np.int32),
             "cube": d[:, :6].reshape(300, 2, 3).astype(np.float32),
             "uids2": rng.integers(-1, 5, (300, 2)).astype(np.int64),
             "di": rng.integers(-9, 9, (300, 2), dtype=np.int32)}
    out, module = extremes
    _run_exactly_like_tf(out, module, feeds)


@pytest.mark.node
@pytest.mark.parametrize("bad", ["unsorted_id_past_num", "sorted_ids_unsorted", "sorted_id_negative"])
def test_ids_tf_raises_on_fail_the_run(extremes, tfjs_runtime, bad):
    """TF raises on an unsorted id >= num_segments and on unsorted or negative sorted ids; TF.js must fail the run
    too (a checked gather, TF.js's own SparseSegmentSum checks), never give numbers."""
    out, module = extremes
    feeds = _special_feeds()
    if bad == "unsorted_id_past_num":
        feeds["uids"] = np.int32([1, 1, 3, 7, 0, 0, -1, 6])
    elif bad == "sorted_ids_unsorted":
        feeds["ids"] = np.int32([0, 2, 0, 3, 4, 4, 5, 7])
    else:
        feeds["ids"] = np.int32([-1, 0, 2, 3, 4, 4, 5, 7])
    with pytest.raises(Exception):
        _tf_outputs(module, feeds)
    runs = run_model(out, _tfjs_feeds(feeds), backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert not run.ok, (backend, bad)


class _SortedAnyWidth(tf.Module):
    """Sorted max/min over a run-time column count (``d``, also as rank 3) and a known one (``k``, 17 columns)."""

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.float32, name="d"),
                                  tf.TensorSpec((None,), tf.int32, name="ids"),
                                  tf.TensorSpec((None, 17), tf.float32, name="k")])
    def f(self, d, ids, k):
        out = {}
        for kind in KINDS:
            sorted_op = getattr(tf.raw_ops, f"Segment{kind}")
            out[f"any_{kind}"] = sorted_op(data=d, segment_ids=ids)
            out[f"cube_{kind}"] = sorted_op(data=tf.reshape(d, [tf.shape(d)[0], -1, 1]), segment_ids=ids)
            out[f"known_{kind}"] = sorted_op(data=k, segment_ids=ids)
        return out


@pytest.fixture(scope="module")
def sorted_any_width(tmp_path_factory):
    return _save_and_convert(_SortedAnyWidth(), tmp_path_factory.mktemp("sorted_any_width"))


def _segment_ids_of_lengths(rng: np.random.Generator, segments: int) -> np.ndarray:
    """Sorted ids of segments 1, 2, 3 or 6 rows long, with gaps (empty segments) between some."""
    lengths = rng.choice([1, 2, 3, 6], segments)
    starts = np.cumsum(rng.choice([1, 1, 2], segments)) - 1
    return np.repeat(starts, lengths).astype(np.int32)


@pytest.mark.node
@pytest.mark.parametrize("columns", [1, 7, 8, 9, 16, 17])
def test_sorted_extremes_follow_tf_s_8_wide_packets(sorted_any_width, tfjs_runtime, columns):
    """TF's x86-64 sorted kernel takes the first ``8 * floor(C / 8)`` columns of a 2+ row segment through Eigen
    packets (NaN rows skipped, all NaN gives ∓Inf, the first zero's sign) and the rest through the in-order fold:
    ``[1, NaN, 2]`` has min 1 there, not 2 (review r6 F1: before, every column was folded)."""
    rng = np.random.default_rng(columns)
    ids = _segment_ids_of_lengths(rng, 40)
    values = np.float32([NAN, NAN, 0.0, -0.0, 1, -1, 2, INF, -INF])
    feeds = {"d": rng.choice(values, (ids.size, columns)), "ids": ids, "k": rng.choice(values, (ids.size, 17))}
    out, module = sorted_any_width
    _run_exactly_like_tf(out, module, feeds)


class _HalfExtremes(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.float16, name="h"),
                                  tf.TensorSpec((None,), tf.int32, name="ids"),
                                  tf.TensorSpec((None,), tf.int32, name="uids")])
    def f(self, h, ids, uids):
        out = {}
        for kind in KINDS:
            out[f"seg_{kind}"] = getattr(tf.raw_ops, f"Segment{kind}")(data=h, segment_ids=ids)
            out[f"u_{kind}"] = getattr(tf.raw_ops, f"UnsortedSegment{kind}")(data=h, segment_ids=uids, num_segments=6)
        return out


@pytest.mark.node
@pytest.mark.parametrize("columns", [3, 9, 16])
def test_float16_segment_extremes_through_float32_are_tf_s(tmp_path, tfjs_runtime, columns):
    """float16 was refused by name (review r6 M2); through float32 casts it is exact: max/min pick one of the values,
    and an empty or ∓Inf-only unsorted segment keeps float16's lowest()/highest() (±65504)."""
    out, module = _save_and_convert(_HalfExtremes(), tmp_path)
    rng = np.random.default_rng(columns)
    ids = _segment_ids_of_lengths(rng, 12)
    values = np.float16([np.nan, 0.0, -0.0, 1, -1, np.inf, -np.inf, -65504, 65504, 2.5])
    feeds = {"h": rng.choice(values, (ids.size, columns)), "ids": ids,
             "uids": rng.integers(-1, 5, ids.size).astype(np.int32)}
    _run_exactly_like_tf(out, module, feeds)


class _UnsortedOnly(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="d"),
                                  tf.TensorSpec((None,), tf.int32, name="uids")])
    def f(self, d, uids):
        return {kind: getattr(tf.raw_ops, f"UnsortedSegment{kind}")(data=d, segment_ids=uids, num_segments=4)
                for kind in KINDS}


@pytest.mark.node
def test_unsorted_extremes_of_no_rows_are_lowest_and_highest(tmp_path, tfjs_runtime):
    """No rows at all: every segment is empty, TF gives lowest()/highest() (the mask's extra row keeps every
    reduction off an empty axis)."""
    out, module = _save_and_convert(_UnsortedOnly(), tmp_path)
    _run_exactly_like_tf(out, module, {"d": np.zeros((0, 3), np.float32), "uids": np.zeros((0,), np.int32)})


@pytest.mark.node
def test_unsorted_extremes_of_an_empty_segment_are_tf_s_on_webgl(tmp_path, browser):
    """Ordinary data, segment 1 empty: webgl's max/min reduce starts from ∓1e20, so it gave ∓1e20 for TF's
    lowest()/highest() (review r6 N2); the rewrite now sets empty segments after the reduction."""
    from tfjsconv.serve.browser import run_backends_in_browser

    out, module = _save_and_convert(_UnsortedOnly(), tmp_path)
    feeds = {"d": np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32), "uids": np.int32([0, 0, 2, 3, 2])}
    want = _tf_outputs(module, feeds)
    run = run_backends_in_browser(out, feeds, backends=["webgl"], session=browser)[0]["webgl"]
    assert run.ok, run.error
    for key, value in want.items():
        np.testing.assert_array_equal(np.asarray(run.outputs[key]).reshape(value.shape), value, err_msg=key)


class _SpaceToDepth(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None, None, None, None), tf.float32, name="x"),
                                  tf.TensorSpec((None, None, None, 3), tf.int32, name="y")])
    def f(self, x, y):
        return {"float": tf.raw_ops.SpaceToDepth(input=x, block_size=2),
                "int": tf.raw_ops.SpaceToDepth(input=y, block_size=3)}


@pytest.fixture(scope="module")
def space_to_depth(tmp_path_factory):
    return _save_and_convert(_SpaceToDepth(), tmp_path_factory.mktemp("space_to_depth"))


def _space_feeds(x_shape: tuple, y_shape: tuple, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape).astype(np.float32)
    if x.size:
        x.flat[: min(4, x.size)] = [NAN, -0.0, INF, -INF][: min(4, x.size)]
    return {"x": x, "y": rng.integers(-2**31, 2**31 - 1, y_shape, dtype=np.int32)}


@pytest.mark.node
@pytest.mark.parametrize("x_shape,y_shape", [((2, 4, 6, 3), (1, 6, 3, 3)), ((1, 2, 2, 1), (2, 3, 9, 3)),
                                             ((3, 6, 2, 8), (1, 3, 3, 3)), ((2, 4, 0, 5), (1, 3, 0, 3))])
def test_space_to_depth_over_run_time_shapes_is_tf_s(space_to_depth, tfjs_runtime, x_shape, y_shape):
    """Refused before ("SpaceToDepth: not supported by TF.js": W and C unknown); now two Reshapes and a Transpose
    whose shapes come from ``Shape(x)``: a pure data movement, exact."""
    out, module = space_to_depth
    _run_exactly_like_tf(out, module, _space_feeds(x_shape, y_shape))


@pytest.mark.node
def test_space_to_depth_of_an_empty_batch_runs_on_cpu(space_to_depth, tfjs_runtime):
    """An empty batch: cpu gives TF's empty result; wasm's Transpose of an empty leading axis throws "divide by zero"
    (docs/backends.md, left loud for every such Transpose), an error, not a wrong value."""
    out, module = space_to_depth
    feeds = _space_feeds((0, 4, 4, 2), (0, 3, 3, 3))
    _run_exactly_like_tf(out, module, feeds, backends=("cpu",))
    wasm = run_model(out, feeds, backends=["wasm"], quiet=True).backends["wasm"]
    assert not wasm.ok and "divide by zero" in wasm.error, (wasm.ok, wasm.error)


@pytest.mark.node
@pytest.mark.parametrize("x_shape", [(1, 3, 4, 2), (1, 4, 5, 2)])
def test_space_to_depth_of_sizes_the_block_does_not_divide_fails_the_run(space_to_depth, tfjs_runtime, x_shape):
    """TF raises when H or W is not a multiple of the block; the rewrite's checked gather fails the run."""
    out, module = space_to_depth
    feeds = _space_feeds(x_shape, (1, 3, 3, 3))
    with pytest.raises(Exception):
        _tf_outputs(module, feeds)
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert not run.ok, backend



class _MultiOutput(tf.Module):
    """TF.js registry ops with several outputs, which the TF-free reader refused ("op output layout") until the
    conformance harness converted its cases through it (session 32)."""

    @tf.function(input_signature=[tf.TensorSpec((None, 2), tf.int64, name="indices"),
                                  tf.TensorSpec((None,), tf.float32, name="values"),
                                  tf.TensorSpec((2,), tf.int64, name="dense_shape"),
                                  tf.TensorSpec((None,), tf.int32, name="x"),
                                  tf.TensorSpec((None,), tf.int32, name="y")])
    def f(self, indices, values, dense_shape, x, y):
        filled = tf.raw_ops.SparseFillEmptyRows(indices=indices, values=values, dense_shape=dense_shape,
                                                default_value=tf.constant(-1.5))
        reshaped = tf.raw_ops.SparseReshape(input_indices=indices, input_shape=dense_shape,
                                            new_shape=tf.constant([-1, 2], tf.int64))
        kept, where = tf.raw_ops.ListDiff(x=x, y=y)
        return {"fill_indices": filled[0], "fill_values": filled[1], "fill_empty": filled[2],
                "fill_reverse": filled[3], "reshape_indices": reshaped[0], "reshape_shape": reshaped[1],
                "kept": kept, "where": where}


@pytest.mark.node
def test_multi_output_sparse_ops_and_list_diff_convert_without_tf(tmp_path, tfjs_runtime):
    """Refused before by the TF-free reader (SparseFillEmptyRows, SparseReshape: "does not cover op output layout";
    ListDiff's ``idx``: "the graph has no tensor"); now every output is TF's, exactly."""
    out, module = _save_and_convert(_MultiOutput(), tmp_path)
    feeds = {"indices": np.int64([[0, 1], [2, 0], [2, 3]]), "values": np.float32([1, -0.0, 3]),
             "dense_shape": np.int64([4, 4]), "x": np.int32([5, 1, 7, 1, 9]), "y": np.int32([1, 9])}
    _run_exactly_like_tf(out, module, feeds)
