"""Session 31 (h8): the sorted segment ops in a SavedModel, built on TF.js's ``SparseSegmentSum``/``Mean``.

TF.js 4.22 has ``SparseSegmentSum`` and ``SparseSegmentMean`` (without ``num_segments``) and none of ``SegmentSum``,
``SegmentMean``, ``SparseSegmentSqrtN`` or the ``WithNumSegments`` forms: those were refused by name. Its two kernels
check ids and indices as TF does (unsorted or negative ids, indices outside ``data``: TF raises, TF.js throws), so
``tf_op_rewrites`` builds the others on them. Expected values come from the SavedModel run by TF; it is converted by
the TF-free reader with TensorFlow poisoned, and run in TF.js cpu and wasm. int32 sums, and ``Segment*`` over the 3
columns here, are exact (over 8 or more columns TF's ``SegmentSum`` adds in another order: not bit for bit, see
docs/savedmodel.md); the float ``SparseSegment*`` results are within 1e-5 of the output range (TF's kernel adds in
blocks of 8 rows, TF.js's in order; its means are not ``sum / n``). Both sum a segment from +0, but TF copies a
``Segment*`` segment of one row and gives a ``SparseSegment*`` segment of -0.0 rows only -0.0: the rebuilt ops, and
TF.js's own two, give TF's signed zeros (r8 session 31: rows that cancel stay +0). wasm's kernel does not check
that there are as many ids as indices: the rewrite's guard fails the run there as TF raises.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from test_savedmodel_tf_free import convert_without_tf  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

NAN, INF = np.nan, np.inf
REBUILT = {"SegmentSum", "SegmentMean", "SparseSegmentSqrtN", "SparseSegmentSumWithNumSegments",
           "SparseSegmentMeanWithNumSegments", "SparseSegmentSqrtNWithNumSegments"}


class _Segments(tf.Module):
    """Every rebuilt op on run-time ids, indices and data (float32, and int32 for the sums)."""

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="d"),
                                  tf.TensorSpec((None,), tf.int32, name="ids"),
                                  tf.TensorSpec((None,), tf.int32, name="rows"),
                                  tf.TensorSpec((None,), tf.int64, name="sids"),
                                  tf.TensorSpec((None, 2), tf.int32, name="di")])
    def f(self, d, ids, rows, sids, di):
        raw = tf.raw_ops
        return {"seg_sum": raw.SegmentSum(data=d, segment_ids=ids),
                "seg_mean": raw.SegmentMean(data=d, segment_ids=ids),
                "seg_sum_int": raw.SegmentSum(data=di, segment_ids=ids),
                "sqrtn": raw.SparseSegmentSqrtN(data=d, indices=rows, segment_ids=sids),
                "sparse_sum": raw.SparseSegmentSum(data=d, indices=rows, segment_ids=sids),
                "sparse_mean": raw.SparseSegmentMean(data=d, indices=rows, segment_ids=sids),
                "sum_n": raw.SparseSegmentSumWithNumSegments(data=d, indices=rows, segment_ids=sids, num_segments=6),
                "mean_n": raw.SparseSegmentMeanWithNumSegments(data=d, indices=rows, segment_ids=sids,
                                                               num_segments=tf.constant(7, tf.int64)),
                "sqrtn_n": raw.SparseSegmentSqrtNWithNumSegments(data=d, indices=rows, segment_ids=sids,
                                                                 num_segments=6),
                "sum_n_int": raw.SparseSegmentSumWithNumSegments(data=di, indices=rows, segment_ids=sids,
                                                                 num_segments=5)}


#: Empty segments (1, 3 and those past the last id), repeated and unordered indices, NaN, ±Inf, int32 wrap and a
#: segment of -0.0 alone.
FEEDS = {"d": np.float32([[1, 2, NAN], [-0.0, 4, 5], [6, -0.0, 7], [1e30, 1, INF], [-1e30, -0.0, 4]]),
         "ids": np.int32([0, 0, 2, 2, 4]),
         "rows": np.int32([4, 0, 4, 4, 1, 2]),
         "sids": np.int64([0, 0, 0, 2, 4, 4]),
         "di": np.int32([[1, 2**31 - 1], [5, 1], [-7, 3], [2**31 - 1, 2**31 - 1], [0, -2**31]])}


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    folder = tmp_path_factory.mktemp("segments")
    module = _Segments()
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    done = convert_without_tf(str(folder / "sm"), str(folder / "out"))  # the TF-free reader, TF poisoned
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / "out", module


def _ops(folder) -> set[str]:
    return {n["op"] for n in json.loads((folder / "model.json").read_text())["modelTopology"]["node"]}


def _tfjs_feeds(feeds: dict) -> dict:
    return {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in feeds.items()}


def _assert_like_tf(have: np.ndarray, want: np.ndarray, what: str) -> None:
    """Same shape, NaN and infinities where TF has them; ints and the ``Segment*`` ops (over < 8 columns TF adds
    their rows in order, as TF.js does) exact; the ``SparseSegment*`` ones (TF adds in blocks of 8 rows) within
    1e-5 of the finite range."""
    assert have.shape == want.shape, (what, have.shape, want.shape)
    if want.dtype.kind == "i" or what.split()[-1].startswith("seg_"):
        np.testing.assert_array_equal(have, want, err_msg=what)
        np.testing.assert_array_equal(np.signbit(have), np.signbit(want), err_msg=what)
        return
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isnan(have), np.isnan(want), err_msg=what)
    np.testing.assert_array_equal(have[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)], err_msg=what)
    zeros = (want == 0) & (have == 0)  # TF: a segment of -0.0 rows only stays -0.0
    np.testing.assert_array_equal(np.signbit(have[zeros]), np.signbit(want[zeros]), err_msg=what)
    scale = float(np.abs(want[finite]).max()) if finite.any() else 1.0
    np.testing.assert_allclose(have[finite], want[finite], rtol=0, atol=1e-5 * max(scale, 1e-30), err_msg=what)


def _run_like_tf(out, module, feeds: dict, backends: tuple[str, ...] = ("cpu", "wasm")) -> None:
    expected = {k: v.numpy() for k, v in module.f(**feeds).items()}
    runs = run_model(out, _tfjs_feeds(feeds), backends=list(backends), quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            have = np.asarray(run.outputs[key]).astype(want.dtype).reshape(want.shape)
            _assert_like_tf(have, want, f"{backend} {key}")


@pytest.mark.node
def test_sorted_segment_ops_run_like_tf(segments, tfjs_runtime):
    """Refused before ("SegmentSum, SegmentMean, SparseSegmentSqrtN, ...WithNumSegments: not supported by TF.js");
    TF.js's own ``SparseSegmentSum``/``Mean`` gave +0 for a segment of -0.0 alone."""
    out, module = segments
    assert not _ops(out) & REBUILT
    _run_like_tf(out, module, FEEDS)


@pytest.mark.node
def test_sorted_segment_sums_of_many_rows_stay_within_the_bound(segments, tfjs_runtime):
    """2000 rows of magnitudes 1e-3..1e3 into sorted segments (some empty): the in-order float32 sums stay within
    1e-5 of the output range of TF's blocked ones."""
    out, module = segments
    rng = np.random.default_rng(31)
    n = 2000
    feeds = dict(FEEDS, d=(rng.standard_normal((n, 3)) * 10.0 ** rng.integers(-3, 4, (n, 3))).astype(np.float32),
                 ids=np.sort(rng.integers(0, 40, n)).astype(np.int32),
                 di=rng.integers(-2**31, 2**31 - 1, (n, 2)).astype(np.int32),
                 rows=rng.integers(0, n, 900).astype(np.int32), sids=np.sort(rng.integers(0, 5, 900)))
    _run_like_tf(out, module, feeds)


@pytest.mark.node
def test_empty_ids_give_tf_shapes(segments, tfjs_runtime):
    """No ids: zero rows without ``num_segments``, ``num_segments`` zero rows with it, on cpu and wasm (wasm's
    ``SparseSegmentSum``/``Mean`` kernels threw "divide by zero" on a ``data`` of zero rows until session 33:
    ``empty_segments`` gives them one row then)."""
    out, module = segments
    feeds = dict(FEEDS, d=FEEDS["d"][:0], ids=FEEDS["ids"][:0], di=FEEDS["di"][:0], rows=FEEDS["rows"][:0],
                 sids=FEEDS["sids"][:0])
    _run_like_tf(out, module, feeds, backends=("cpu", "wasm"))


BAD_FEEDS = {  # what TF raises on: each must fail the TF.js run too, never give numbers
    "unsorted_ids": {"ids": np.int32([0, 2, 1, 2, 4])},
    "negative_id": {"ids": np.int32([-1, 0, 2, 2, 4])},
    "fewer_ids_than_rows": {"ids": np.int32([0, 0, 2, 2])},
    "unsorted_sparse_ids": {"sids": np.int64([0, 2, 0, 2, 4, 4])},
    "negative_sparse_id": {"sids": np.int64([-1, 0, 0, 2, 4, 4])},
    "index_past_data": {"rows": np.int32([4, 0, 5, 3, 1, 2])},
    "negative_index": {"rows": np.int32([4, 0, -1, 3, 1, 2])},
    "id_past_num_segments": {"sids": np.int64([0, 0, 0, 2, 4, 5])},
}


@pytest.mark.node
@pytest.mark.parametrize("bad", sorted(BAD_FEEDS))
def test_ids_tf_raises_on_fail_the_run(segments, tfjs_runtime, bad):
    """TF raises (unsorted or negative ids, indices outside ``data``, ids past ``num_segments``); so does TF.js."""
    out, module = segments
    feeds = dict(FEEDS, **BAD_FEEDS[bad])
    with pytest.raises(tf.errors.InvalidArgumentError):
        module.f(**feeds)
    runs = run_model(out, _tfjs_feeds(feeds), backends=["cpu", "wasm"], quiet=True)
    assert all(not run.ok for run in runs.backends.values()), {k: v.ok for k, v in runs.backends.items()}


class _InverseSegments(tf.Module):
    """``1 / op`` for every float op TF.js runs here (its own ``SparseSegmentSum``/``Mean`` too): a zero's sign shows
    as ±Inf. ``data`` has a run-time column count (zero columns too)."""

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.float32, name="d"),
                                  tf.TensorSpec((None,), tf.int32, name="ids"),
                                  tf.TensorSpec((None,), tf.int32, name="rows"),
                                  tf.TensorSpec((None,), tf.int32, name="sids")])
    def f(self, d, ids, rows, sids):
        raw = tf.raw_ops
        sparse = {"data": d, "indices": rows, "segment_ids": sids}
        ops = {"seg_sum": raw.SegmentSum(data=d, segment_ids=ids),
               "seg_mean": raw.SegmentMean(data=d, segment_ids=ids),
               "sparse_sum": raw.SparseSegmentSum(**sparse), "sparse_mean": raw.SparseSegmentMean(**sparse),
               "sqrtn": raw.SparseSegmentSqrtN(**sparse),
               "sum_n": raw.SparseSegmentSumWithNumSegments(**sparse, num_segments=6),
               "mean_n": raw.SparseSegmentMeanWithNumSegments(**sparse, num_segments=6),
               "sqrtn_n": raw.SparseSegmentSqrtNWithNumSegments(**sparse, num_segments=6)}
        return {key: 1.0 / value for key, value in ops.items()}


#: Per column, segments 0..4 over rows [0,1], [2,3], [4], [5], [6, 7]: rows that cancel exactly (TF: +0), two -0.0
#: rows (``Segment*``: +0, ``SparseSegment*``: -0.0), one -0.0 row (-0.0), one +0 row (+0), -0.0 and +0 (+0).
SIGNED_ZEROS = {"d": np.float32([[1, -2, 0], [-1, 2, -0.0], [-0.0, -0.0, 4], [-0.0, -0.0, -4], [-0.0, 0, -0.0],
                                 [0, -0.0, 0.5], [-0.0, 0, 1], [0, -0.0, -1]]),
                "ids": np.int32([0, 0, 1, 1, 2, 3, 4, 4]), "rows": np.int32([0, 1, 2, 3, 4, 5, 6, 7]),
                "sids": np.int32([0, 0, 1, 1, 2, 3, 4, 4])}


@pytest.fixture(scope="module")
def inverse_segments(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inverse_segments")
    module = _InverseSegments()
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    done = convert_without_tf(str(folder / "sm"), str(folder / "out"))
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / "out", module


def _run_exactly_like_tf(out, module, feeds: dict) -> None:
    """Every output's infinities (a zero's sign) exactly TF's, on cpu and wasm; the rest within 1e-6 (TF's
    ``1 / x`` is not always rounded to nearest: 1/5 is 0.19999999)."""
    expected = {k: v.numpy() for k, v in module.f(**feeds).items()}
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            have = np.asarray(run.outputs[key], np.float32).reshape(want.shape)
            np.testing.assert_allclose(have, want, rtol=1e-6, atol=0, err_msg=f"{backend} {key}")


@pytest.mark.node
def test_zero_signs_are_tf_s_where_rows_cancel_or_are_minus_zero(inverse_segments, tfjs_runtime):
    """Failed before (h8's negated sums): rows that cancel gave -0 (1/x -Inf, TF +Inf), also for TF.js's own
    ``SparseSegmentSum``/``Mean``, and a ``Segment*`` segment of two -0.0 rows gave -0 (TF +0)."""
    out, module = inverse_segments
    _run_exactly_like_tf(out, module, SIGNED_ZEROS)


@pytest.mark.node
def test_random_signed_zeros_are_tf_s(inverse_segments, tfjs_runtime):
    """Random rows of ±0, ±1, ±2 in random sorted segments (failed before: cancelling segments)."""
    out, module = inverse_segments
    rng = np.random.default_rng(3108)
    values = np.float32([0.0, -0.0, 1, -1, 2, -2, -0.0, -0.0])
    d = values[rng.integers(0, len(values), (40, 8))]
    feeds = {"d": d, "ids": np.sort(rng.integers(0, 12, 40)).astype(np.int32),
             "rows": rng.integers(0, 40, 30).astype(np.int32), "sids": np.sort(rng.integers(0, 6, 30)).astype(np.int32)}
    _run_exactly_like_tf(out, module, feeds)


@pytest.mark.node
def test_data_without_columns_runs(inverse_segments, tfjs_runtime):
    """``data`` of shape (3, 0): TF gives zero-column results; before, cpu failed ("Error in slice2D": the row
    counts sliced a column of ``data``)."""
    out, module = inverse_segments
    feeds = {"d": np.zeros((3, 0), np.float32), "ids": np.int32([0, 0, 2]), "rows": np.int32([2, 0, 1]),
             "sids": np.int32([0, 1, 1])}
    _run_exactly_like_tf(out, module, feeds)


COUNT_MISMATCHES = {  # TF raises; TF.js's wasm kernel does not check the counts (before: numbers on wasm)
    "more_ids_than_rows": {"d": SIGNED_ZEROS["d"][:5], "rows": np.int32([0, 1, 2, 3, 4, 4]),
                           "ids": np.int32([0, 0, 1, 1, 2, 3]), "sids": np.int32([0, 0, 1, 1, 2, 3])},
    "more_ids_than_indices": {"d": SIGNED_ZEROS["d"], "ids": SIGNED_ZEROS["ids"], "rows": np.int32([0, 1, 2, 3]),
                              "sids": np.int32([0, 0, 1, 1, 2, 3])},
}


@pytest.mark.node
@pytest.mark.parametrize("case", sorted(COUNT_MISMATCHES))
def test_id_count_mismatches_fail_the_run_on_wasm(inverse_segments, tfjs_runtime, case):
    """TF raises ("segment_ids should be the same size as dimension 0 of input", "... indices should have same
    size"); every TF.js backend fails the run, never gives numbers."""
    out, module = inverse_segments
    feeds = COUNT_MISMATCHES[case]
    with pytest.raises(tf.errors.InvalidArgumentError):
        module.f(**feeds)
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True)
    assert all(not run.ok for run in runs.backends.values()), {k: (v.ok, v.outputs) for k, v in runs.backends.items()}
