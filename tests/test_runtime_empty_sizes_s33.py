"""Models that threw in TF.js at run time over a size that is 0 only at run time, and verify's fed-input check in the
Python API (session 33, h5).

Expected values come from the source framework (TF for a SavedModel, onnxruntime for ONNX); the converted model runs
in real TF.js 4.22 on cpu and wasm, fed the empty size and a normal one:

- an integer mean (TF ``Mean``, ONNX ``ReduceMean``) over an axis of run-time size 0 divided its sum by a count of 0
  (wasm: "remainder by zero"); TF and onnxruntime give 0 (``truncating_division.integer_mean``);
- ``TopKV2`` over a last axis of run-time size 0 (k = 0) threw "divide by zero" on wasm (``empty_top_k``);
- ``verify_model`` / ``verify_against_source`` fed inputs the model cannot take ran them anyway (the CLI alone
  refused them): they raise the CLI's ``InputError`` now.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.plugin_manager import get_plugin_manager  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

pytestmark = pytest.mark.node

F, I32, I64 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64
BACKENDS = ("cpu", "wasm")


class RunTimeEmpty(tf.Module):
    """An int32 mean over an unknown axis, and a top-k whose k follows the last axis (0 when it is empty)."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="n"),
                                  tf.TensorSpec([None, None], tf.float32, name="x")])
    def __call__(self, n, x):
        top = tf.math.top_k(x, k=tf.minimum(2, tf.shape(x)[-1]))
        return {"mean": tf.reduce_mean(n, axis=1), "mean_all": tf.reduce_mean(n),
                "values": top.values, "indices": top.indices}


FEEDS = {
    "empty_axis": {"n": np.zeros((3, 0), np.int32), "x": np.zeros((3, 0), np.float32)},
    "empty_batch": {"n": np.zeros((0, 4), np.int32), "x": np.zeros((0, 5), np.float32)},
    "full": {"n": np.random.default_rng(1).integers(-9, 10, (3, 4)).astype(np.int32),
             "x": np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)},
}


@pytest.fixture(scope="module")
def saved_and_converted(tmp_path_factory, tfjs_runtime):
    path = tmp_path_factory.mktemp("empty33") / "saved"
    tf.saved_model.save(RunTimeEmpty(), str(path))
    out = path.parent / "web"
    result = tfjsconv.convert(path, out)
    return path, result, out


def _tf_outputs(saved, result, out, feeds: dict) -> dict:
    """TF's own outputs for the SavedModel (the frontend's reference, keyed as the TF.js signature)."""
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    return get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds, options)


@pytest.mark.parametrize("case", sorted(FEEDS))
def test_tf_int_mean_and_top_k_over_run_time_empty_sizes(case, saved_and_converted):
    """Matches TF on cpu and wasm; before, wasm threw on the empty axis ("remainder by zero", "divide by zero")."""
    saved, result, out = saved_and_converted
    expected = _tf_outputs(saved, result, out, FEEDS[case])
    if case == "empty_axis":  # the case is what it claims: TF's mean over nothing is 0, top-k of nothing empty
        assert expected["mean"].tolist() == [0, 0, 0] and expected["values"].shape == (3, 0)
    if case == "full":  # a truncating mean of negative sums (TF.js floors): the numbers stay TF's
        assert (np.sum(FEEDS[case]["n"], axis=1) < 0).any()
    report = verify_model(out, FEEDS[case], expected, backends=BACKENDS, rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def _onnx_top_k_and_mean(path):
    """ONNX TopK with K = min(2, last size) and an int32 ReduceMean over an unknown axis."""
    nodes = [helper.make_node("Shape", ["x"], ["last"], start=-1),
             helper.make_node("Min", ["last", "two"], ["k"]),
             helper.make_node("TopK", ["x", "k"], ["values", "indices"], axis=-1),
             helper.make_node("ReduceMean", ["n", "axes"], ["mean"], keepdims=0)]
    return onnx_model(path, nodes, {"x": (F, ["a", "b"]), "n": (I32, ["c", "d"])}, ["values", "indices", "mean"],
                      initializers={"two": np.array([2], np.int64), "axes": np.array([1], np.int64)})


@pytest.mark.parametrize("case", sorted(FEEDS))
def test_onnx_int_mean_and_top_k_over_run_time_empty_sizes(case, tmp_path, tfjs_runtime):
    """Matches onnxruntime on cpu and wasm (wasm threw on the empty axis before)."""
    path = _onnx_top_k_and_mean(tmp_path / "m.onnx")
    expected = matches_onnxruntime(path, FEEDS[case], tmp_path / "out", backends=BACKENDS)
    if case == "empty_axis":
        assert expected["mean"].tolist() == [0, 0, 0] and expected["values"].shape == (3, 0)


def test_top_k_padding_only_for_wasm(tmp_path, tfjs_runtime):
    """A cpu-only conversion leaves TopKV2 alone (cpu runs an empty last axis)."""
    import json

    path = _onnx_top_k_and_mean(tmp_path / "m.onnx")
    tfjsconv.convert(path, tmp_path / "cpu", target_backends=["cpu"])
    tfjsconv.convert(path, tmp_path / "wasm", target_backends=["wasm"])

    def top_k_input(folder):
        nodes = json.loads((folder / "model.json").read_text())["modelTopology"]["node"]
        return [n["input"][0] for n in nodes if n["op"] == "TopKV2"]

    assert not any("/nonempty/" in name for name in top_k_input(tmp_path / "cpu"))
    assert all("/nonempty/" in name for name in top_k_input(tmp_path / "wasm"))


@pytest.mark.parametrize("feeds,words", [
    ({"n": np.zeros((3, 2, 1), np.int32), "x": np.zeros((3, 5), np.float32)}, "rank"),
    ({"n": np.zeros((3, 2), np.int32), "x": np.zeros((3, 5), np.float32), "y": np.zeros(2)}, "does not take"),
    ({"n": np.full((3, 2), 0.5, np.float32), "x": np.zeros((3, 5), np.float32)}, "int"),
], ids=["rank", "extra_name", "fractions_into_int"])
def test_api_verify_model_checks_the_fed_inputs(feeds, words, saved_and_converted):
    """The Python API refuses as the CLI does (before: TF.js ran them, or cast 0.5 into an int32 input silently)."""
    _, _, out = saved_and_converted
    expected = {"mean": np.zeros(3, np.int32)}
    with pytest.raises(InputError, match=words):
        verify_model(out, feeds, expected, backends=BACKENDS)


def test_api_verify_against_source_checks_the_fed_inputs(saved_and_converted):
    """Before the source runs: a rank the model does not have is named as the CLI names it."""
    from tfjsconv.verify.source_check import verify_against_source

    saved, _, out = saved_and_converted
    with pytest.raises(InputError, match="rank"):
        verify_against_source(saved, out, inputs={"n": np.zeros((3, 2, 1), np.int32),
                                                  "x": np.zeros((3, 5), np.float32)}, backends=BACKENDS)


class Segments(tf.Module):
    """The sorted segment ops, all built on TF.js's ``SparseSegmentSum``/``Mean`` (wasm threw for data without rows)."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="d"),
                                  tf.TensorSpec([None], tf.int32, name="i"),
                                  tf.TensorSpec([None], tf.int32, name="rows"),
                                  tf.TensorSpec([], tf.int32, name="num")])
    def __call__(self, d, i, rows, num):
        return {"sum": tf.math.segment_sum(d, i), "mean": tf.math.segment_mean(d, i),
                "max": tf.math.segment_max(d, i),
                "sparse_sum": tf.sparse.segment_sum(d, rows, i, num_segments=num),
                "sparse_mean": tf.sparse.segment_mean(d, rows, i),
                "sparse_sqrt_n": tf.sparse.segment_sqrt_n(d, rows, i),
                "unsorted_sum": tf.math.unsorted_segment_sum(d, i, num)}


def _segment_feed(rows: int, num: int) -> dict:
    data = np.random.default_rng(rows).standard_normal((rows, 3)).astype(np.float32)
    ids = np.sort(np.random.default_rng(7).integers(0, max(num, 1), rows)).astype(np.int32)
    return {"d": data, "i": ids, "rows": np.arange(rows, dtype=np.int32), "num": np.int32(num)}


SEGMENT_FEEDS = {"no_rows_no_segments": _segment_feed(0, 0), "no_rows_three_segments": _segment_feed(0, 3),
                 "full": _segment_feed(6, 3)}


@pytest.fixture(scope="module")
def segments_converted(tmp_path_factory, tfjs_runtime):
    path = tmp_path_factory.mktemp("segments33") / "saved"
    tf.saved_model.save(Segments(), str(path))
    out = path.parent / "web"
    result = tfjsconv.convert(path, out)
    return path, result, out


@pytest.mark.parametrize("case", sorted(SEGMENT_FEEDS))
def test_segment_ops_over_data_without_rows(case, segments_converted):
    """Matches TF on cpu and wasm (wasm threw "divide by zero" for data without rows)."""
    saved, result, out = segments_converted
    expected = _tf_outputs(saved, result, out, SEGMENT_FEEDS[case])
    if case == "no_rows_three_segments":  # the case is what it claims: 3 empty segments of 0
        assert expected["unsorted_sum"].shape == (3, 3) and expected["sum"].shape == (0, 3)
    report = verify_model(out, SEGMENT_FEEDS[case], expected, backends=BACKENDS, rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def test_an_index_into_no_rows_still_fails_the_run(segments_converted):
    """TF raises for a row index into data without rows; the padding row must not make TF.js answer instead."""
    from tfjsconv.verify.run import run_model

    saved, _, out = segments_converted
    feed = {"d": np.zeros((0, 3), np.float32), "i": np.zeros(1, np.int32), "rows": np.zeros(1, np.int32),
            "num": np.int32(1)}
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.saved_model.load(str(saved))(**feed)
    runs = run_model(out, feed, backends=BACKENDS, quiet=True).backends
    assert not any(run.ok for run in runs.values()), {b: run.outputs for b, run in runs.items()}


def _reshaping_models():
    """Keras 3 layers whose lowering reshapes to ``[batch sizes, constants with a -1]`` (TF.js threw at batch 0)."""
    from test_keras_lowering import keras

    L = keras.layers
    flat = keras.Input((None, 6), name="x")
    rows = keras.Input((None, 6), name="x")
    grid = keras.Input((None, None, 4), name="x")
    volume = keras.Input((None, None, None, 2), name="x")
    return {"flatten": (keras.Model(flat, L.Flatten()(flat)), (4, 6)),
            "reshape": (keras.Model(rows, L.Reshape((-1, 3))(rows)), (4, 6)),
            "reshape_grid": (keras.Model(grid, L.Reshape((-1, 4))(grid)), (3, 2, 4)),
            "conv3d_transpose": (keras.Model(volume, L.Conv3DTranspose(3, 3, strides=2, padding="same")(volume)),
                                 (3, 4, 5, 2))}


@pytest.fixture(scope="module")
def reshaping_converted(tmp_path_factory, tfjs_runtime):
    """Each model saved with Keras's outputs at batch 0 and 2, converted with TF, Keras and tf_keras poisoned."""
    from test_keras_lowering import convert_poisoned

    folder = tmp_path_factory.mktemp("reshape33")
    saved = {}
    for name, (model, inner) in _reshaping_models().items():
        rng = np.random.default_rng(3)
        feeds = [rng.standard_normal((batch, *inner)).astype(np.float32) for batch in (0, 2)]
        saved[name] = (folder / f"{name}.keras", [(x, np.asarray(model(x))) for x in feeds])
        model.save(saved[name][0])
    convert_poisoned([path for path, _ in saved.values()])
    return saved


@pytest.mark.parametrize("name", ["flatten", "reshape", "reshape_grid", "conv3d_transpose"])
def test_reshape_to_batch_and_minus_one_at_batch_0(name, reshaping_converted):
    """Matches Keras at batch 0 and 2 on cpu and wasm (batch 0 threw "Cannot infer the missing size in [0,-1,3] when
    there are 0 elements" on both before)."""
    from test_keras_lowering import _verify

    path, runs = reshaping_converted[name]
    assert runs[0][1].size == 0 and runs[0][1].ndim > 1  # the case is what it claims: Keras gives an empty batch
    for x, y in runs:
        _verify(Path(f"{path}.out"), {"x": x}, [y])


# -- session 33, h5b: TF's -1 next to a run-time 0, node-name feeds ----------------------------------------------

class ReshapeBesideZeros(tf.Module):
    """``tf.reshape`` to ``[tf.shape(x)[:1], -1, 3]`` (and a sum over the batch axis after it): TF leaves zeros out
    of its products when the target has a 0, so ``(0, 0, 6)`` becomes ``(0, 2, 3)`` and the sum ``(2, 3)``."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, 6], tf.float32, name="x")])
    def __call__(self, x):
        rows = tf.reshape(x, tf.concat([tf.shape(x)[:1], [-1, 3]], 0))
        flat = tf.reshape(x, tf.concat([tf.shape(x)[:1], [-1]], 0))
        return {"rows": rows, "flat": flat, "summed": tf.reduce_sum(rows, axis=0)}


RESHAPE_FEEDS = {"batch_and_steps_0": (0, 0), "batch_0": (0, 4), "steps_0": (2, 0), "full": (2, 4)}


@pytest.fixture(scope="module")
def reshape_saved_and_converted(tmp_path_factory, tfjs_runtime):
    path = tmp_path_factory.mktemp("reshape_tf33") / "saved"
    tf.saved_model.save(ReshapeBesideZeros(), str(path))
    out = path.parent / "web"
    return path, tfjsconv.convert(path, out), out


@pytest.mark.parametrize("case", sorted(RESHAPE_FEEDS))
def test_tf_reshape_minus_one_beside_a_run_time_zero(case, reshape_saved_and_converted):
    """Matches TF's shapes on cpu and wasm; before, ``(0, 0, 6)`` gave ``(0, 0, 3)`` and a sum of shape ``(0, 3)``
    where TF gives ``(2, 3)`` (zeros counted in the -1)."""
    saved, result, out = reshape_saved_and_converted
    feed = {"x": np.random.default_rng(4).standard_normal((*RESHAPE_FEEDS[case], 6)).astype(np.float32)}
    expected = _tf_outputs(saved, result, out, feed)
    if case == "batch_and_steps_0":  # the case is what it claims: TF's rule differs from counting the zeros
        assert expected["rows"].shape == (0, 2, 3) and expected["summed"].shape == (2, 3)
    report = verify_model(out, feed, expected, backends=BACKENDS, rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def _flatten_and_reshape(k, width: int = 6):
    """A model with a Flatten and a Reshape((-1, 3)) + Dense over an unknown number of steps."""
    x = k.Input((None, width), name="x")
    rows = k.layers.Reshape((-1, 3))(x)
    return k.Model(x, [k.layers.Flatten()(x), k.layers.Dense(2, name="dense")(rows)])


@pytest.fixture(scope="module")
def flavours_converted(tmp_path_factory, tfjs_runtime):
    """tf_keras (.h5) and Keras 3 (.keras) with each one's outputs for x of shape (0, 0, 6) and (2, 4, 6),
    converted with TF, Keras and tf_keras poisoned."""
    from test_keras_lowering import convert_poisoned, keras

    tf_keras = pytest.importorskip("tf_keras")
    folder = tmp_path_factory.mktemp("reshape_flavours33")
    feeds = [np.random.default_rng(5).standard_normal(shape).astype(np.float32) for shape in ((0, 0, 6), (2, 4, 6))]
    saved = {}
    for name, k, suffix in (("tf_keras", tf_keras, "h5"), ("keras3", keras, "keras")):
        model = _flatten_and_reshape(k)
        saved[name] = (folder / f"{name}.{suffix}", [(x, [np.asarray(y) for y in model(x)]) for x in feeds])
        model.save(saved[name][0])
    convert_poisoned([path for path, _ in saved.values()])
    return saved


@pytest.mark.parametrize("flavour,flat_width", [("tf_keras", 6), ("keras3", 0)])
def test_keras_flatten_and_reshape_beside_a_zero_batch(flavour, flat_width, flavours_converted):
    """tf_keras reshapes with ``tf.reshape``'s rule ((0, 0, 6) flattens to (0, 6)), Keras 3 from the eager shape
    ((0, 0)): each flavour matches its own framework on cpu and wasm. Before, tf_keras got Keras 3's (0, 0)."""
    from test_keras_lowering import _verify

    path, runs = flavours_converted[flavour]
    assert runs[0][1][0].shape == (0, flat_width)  # the case is what it claims
    for x, outputs in runs:
        _verify(Path(f"{path}.out"), {"x": x}, outputs)


@pytest.mark.parametrize("suffix", ["", ":0"])
def test_api_verify_model_takes_node_names(suffix, saved_and_converted):
    """TF.js takes a graph model's input by its node's name (``serving_default_n``), as ``verify_model`` did before
    the input check: it still does (the check refused these as names the model does not take)."""
    saved, result, out = saved_and_converted
    expected = _tf_outputs(saved, result, out, FEEDS["full"])
    feeds = {f"serving_default_{name}{suffix}": array for name, array in FEEDS["full"].items()}
    report = verify_model(out, feeds, expected, backends=BACKENDS, rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)
    with pytest.raises(InputError, match="rank"):  # and still checks them
        verify_model(out, {**feeds, f"serving_default_n{suffix}": np.zeros((3, 2, 1), np.int32)}, expected,
                     backends=BACKENDS)


class NarrowMeans(tf.Module):
    """int8/uint8/int16 means over sizes known only at run time (TF's sum does not wrap into the narrow type)."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int8, name="a"),
                                  tf.TensorSpec([None, None], tf.uint8, name="b"),
                                  tf.TensorSpec([None, None], tf.int16, name="c")])
    def __call__(self, a, b, c):
        return {"a": tf.reduce_mean(a, axis=1), "b": tf.reduce_mean(b, axis=1), "c": tf.reduce_mean(c, axis=1),
                "a_all": tf.reduce_mean(a)}


def _narrow_feed(rows: int, cols: int) -> dict:
    """Extremes of each type at random, and (3 rows and more) a first row of maxima and a second of minima."""
    rng = np.random.default_rng(rows + cols)
    feed = {}
    for name, dtype, info in (("a", np.int8, np.iinfo(np.int8)), ("b", np.uint8, np.iinfo(np.uint8)),
                              ("c", np.int16, np.iinfo(np.int16))):
        feed[name] = rng.choice([info.min, info.max, info.max - 1, info.min + 1, 3], (rows, cols)).astype(dtype)
        if rows >= 3:
            feed[name][0], feed[name][1] = info.max, info.min
    return feed


@pytest.mark.parametrize("shape", [(3, 20), (3, 0), (0, 4), (1, 1)], ids=["extremes", "empty_axis", "empty_batch",
                                                                          "one"])
def test_narrow_int_means_over_run_time_sizes(shape, tmp_path, tfjs_runtime):
    """Matches TF on cpu and wasm; before, conversion refused the int8 mean ("int8 result of an op not checked")."""
    path = tmp_path / "saved"
    tf.saved_model.save(NarrowMeans(), str(path))
    result = tfjsconv.convert(path, tmp_path / "web")
    feed = _narrow_feed(*shape)
    expected = _tf_outputs(path, result, tmp_path / "web", feed)
    if shape == (3, 20):  # the case is what it claims: the sums leave the narrow types
        assert (np.abs(feed["a"].astype(np.int64).sum(axis=1)[:2]) > 127).all() and expected["a"][0] == 127
    report = verify_model(tmp_path / "web", feed, expected, backends=BACKENDS, rtol=0.0, atol=0.0)
    assert report.passed, format_report(report)


class StaticNarrowMeans(tf.Module):
    """The same means over static shapes (the count a constant)."""

    @tf.function(input_signature=[tf.TensorSpec([3, 20], tf.int8, name="a"),
                                  tf.TensorSpec([3, 20], tf.uint8, name="b"),
                                  tf.TensorSpec([3, 20], tf.int16, name="c")])
    def __call__(self, a, b, c):
        return {"a": tf.reduce_mean(a, axis=1), "b": tf.reduce_mean(b, axis=1), "c": tf.reduce_mean(c, axis=1)}


def test_narrow_int_means_of_static_shapes(tmp_path, tfjs_runtime):
    """Matches TF on cpu and wasm; before, the sum wrapped into the narrow type and uint8 truncated as if signed:
    uint8 means of 78, 91, 52 came out 1, 1, 1 and int8 44 came out 6, silently."""
    path = tmp_path / "saved"
    tf.saved_model.save(StaticNarrowMeans(), str(path))
    result = tfjsconv.convert(path, tmp_path / "web")
    feed = _narrow_feed(3, 20)
    expected = _tf_outputs(path, result, tmp_path / "web", feed)
    report = verify_model(tmp_path / "web", feed, expected, backends=BACKENDS, rtol=0.0, atol=0.0)
    assert report.passed, format_report(report)


class ReshapeOtherPrefixes(tf.Module):
    """Targets ``[tf.shape(x)[:-1], -1]`` and ``[tf.shape(x), -1]`` (TF.js threw "Cannot infer" at batch 0)."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, 6], tf.float32, name="x")])
    def __call__(self, x):
        return {"all_but_last": tf.reshape(x, tf.concat([tf.shape(x)[:-1], [-1]], 0)),
                "whole": tf.reshape(x, tf.concat([tf.shape(x), [-1]], 0))}


@pytest.mark.parametrize("case", sorted(RESHAPE_FEEDS))
def test_tf_reshape_prefix_to_the_end_or_the_rank(case, tmp_path, tfjs_runtime):
    """Matches TF's shapes on cpu and wasm; before, every feed with a 0 batch threw "Cannot infer the missing size"."""
    path = tmp_path / "saved"
    tf.saved_model.save(ReshapeOtherPrefixes(), str(path))
    result = tfjsconv.convert(path, tmp_path / "web")
    feed = {"x": np.random.default_rng(6).standard_normal((*RESHAPE_FEEDS[case], 6)).astype(np.float32)}
    expected = _tf_outputs(path, result, tmp_path / "web", feed)
    report = verify_model(tmp_path / "web", feed, expected, backends=BACKENDS, rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)
