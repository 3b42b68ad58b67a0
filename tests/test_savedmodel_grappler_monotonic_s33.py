"""Session 33 (h8b): a SavedModel or frozen GraphDef converts to what TF's graph run gives, Grappler's swap of a
max/min reduction and a monotonic function included (``plugins/savedmodel/grappler_monotonic.py``).

TF runs ``ArgMax(Relu(x))`` of a signature as ``ArgMax(x)`` (arithmetic optimizer), eager TF does not: they differ
where ``f`` makes ties, NaN or signed zeros. The reference is the loaded SavedModel's signature (what serving
returns); each feed is checked to tell the graph run from eager TF for the outputs Grappler rewrites, and the
outputs it leaves (``f`` read twice, fetched, or a Relu of a BiasAdd) stay eager. Converted by the TF-free reader
with TensorFlow poisoned and by ``--loader=tensorflow``, run in TF.js cpu and wasm, bit for bit (indices; values within 1e-6).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from test_savedmodel_tf_free import convert_without_tf  # noqa: E402
from test_tf_breadth_s32 import _tfjs_feeds  # noqa: E402
from tfjsconv.cli import main  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node

NAN = np.float32(np.nan)
#: Outputs Grappler rewrites: the feeds must make the graph run differ from eager TF on each.
SWAPPED = ("argmax_relu", "argmin_relu", "argmax_sigmoid", "argmin_tanh", "argmin_log1p", "argmin_neg",
           "argmax_relu6", "argmax_floor", "argmax_rsqrt", "argmax_relu_of_sigmoid", "max_log", "min_rsqrt",
           "argmax_erfc")
#: Outputs where a condition of Grappler's fails: eager semantics, as the graph run keeps them. The two Relu(x*4)
#: are one node after Grappler's common subgraph elimination, read twice.
KEPT = ("argmax_relu_read_twice", "relu_read_twice", "argmax_fetched_relu", "fetched_relu", "argmax_relu_of_bias",
        "argmax_relu_shared", "relu_shared", "unsorted_segment_max_sigmoid", "segment_min_neg", "max_pool_relu")


def _pairs(x: tf.Tensor, b: tf.Tensor) -> dict:
    """Reductions of monotonic functions, each ``f`` read once (swapped) or not (kept)."""
    am = lambda y: tf.raw_ops.ArgMax(input=y, dimension=1, output_type=tf.int32)  # noqa: E731
    an = lambda y: tf.raw_ops.ArgMin(input=y, dimension=1, output_type=tf.int32)  # noqa: E731
    relu = lambda y: tf.raw_ops.Relu(features=y)  # noqa: E731
    twice, fetched = relu(x * 2.0), relu(x * 3.0)
    return {"argmax_relu": am(relu(x)), "argmin_relu": an(relu(-x)),
            "argmax_sigmoid": am(tf.raw_ops.Sigmoid(x=x)), "argmin_tanh": an(tf.raw_ops.Tanh(x=x)),
            "argmin_log1p": an(tf.raw_ops.Log1p(x=x)), "argmin_neg": an(tf.raw_ops.Neg(x=relu(x - 1.0))),
            "argmax_relu6": am(tf.raw_ops.Relu6(features=x)), "argmax_floor": am(tf.raw_ops.Floor(x=x * 0.01)),
            "argmax_rsqrt": am(tf.raw_ops.Rsqrt(x=x)), "argmax_erfc": am(tf.raw_ops.Erfc(x=x)),
            "argmax_relu_of_sigmoid": am(relu(tf.raw_ops.Sigmoid(x=x * 0.5) - 0.5)),
            "max_log": tf.raw_ops.Max(input=tf.raw_ops.Log(x=x), axis=[1]),
            "min_rsqrt": tf.raw_ops.Min(input=tf.raw_ops.Rsqrt(x=x * 0.5), axis=[1]),
            "argmax_relu_read_twice": am(twice), "relu_read_twice": twice * 2.0,
            "argmax_fetched_relu": am(fetched), "fetched_relu": fetched,
            "argmax_relu_of_bias": am(relu(tf.raw_ops.BiasAdd(value=x, bias=b))),
            "argmax_relu_shared": am(relu(x * 4.0)), "relu_shared": relu(x * 4.0) + 1.0, **_not_swapped(x)}


def _not_swapped(x: tf.Tensor) -> dict:
    """Reductions Grappler's list names that TF 2.21's signature run does not swap (segment max/min: an empty
    segment stays the lowest float, not ``f`` of it), and a max pooling, left as it is."""
    ids = tf.constant([0, 0, 1, 1, 3, 3])
    rows = tf.transpose(x)
    return {"unsorted_segment_max_sigmoid": tf.raw_ops.UnsortedSegmentMax(data=tf.raw_ops.Sigmoid(x=rows * 1.5),
                                                                          segment_ids=ids, num_segments=4),
            "segment_min_neg": tf.raw_ops.SegmentMin(data=tf.raw_ops.Neg(x=rows * 2.5), segment_ids=ids),
            "max_pool_relu": tf.raw_ops.MaxPool(input=tf.raw_ops.Relu(features=tf.reshape(x * 3.5, [-1, 2, 3, 1])),
                                                ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1], padding="VALID")}


class _Monotonic(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None, 6), tf.float32, name="x"),
                                  tf.TensorSpec((6,), tf.float32, name="b")])
    def f(self, x, b):
        return _pairs(x, b)


def _feeds() -> dict:
    """Rows where relu/relu6/floor tie (all negative, all above 6), sigmoid and tanh saturate (20..30), log1p and
    log and sqrt make NaN (below -1, below 0), rsqrt and erfc tie (+0 and -0 give Inf; erfc of 10.. is 0)."""
    x = np.float32([[-2, -1, -3, -0.5, -4, -1.5], [20, 25, 30, 9, 7, 8], [-3, -2, 0.5, -4, 0.2, -1.5],
                    [0.0, -0.0, 3, 0.0, 2, 1], [12, 11, 15, 10, 13, 14], [-0.5, -2, 1, -3, NAN, 2]])
    return {"x": x, "b": np.zeros(6, np.float32)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monotonic")
    tf.saved_model.save(_Monotonic(), str(folder / "sm"), signatures=_Monotonic().f)
    return folder


def _serving(folder, feeds: dict) -> dict:
    """The reference: the loaded SavedModel's signature, as TF serving runs it."""
    fn = tf.saved_model.load(str(folder / "sm")).signatures["serving_default"]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feeds.items()}).items()}


def _eager(feeds: dict) -> dict:
    return {k: v.numpy() for k, v in _pairs(*(tf.constant(feeds[k]) for k in ("x", "b"))).items()}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def _assert_feeds_tell_the_graph_run_from_eager_tf(graph: dict, eager: dict) -> None:
    """The premise: Grappler changes every SWAPPED output on these feeds and none of the KEPT ones."""
    assert [k for k in SWAPPED if _same(graph[k], eager[k])] == []
    assert [k for k in KEPT if not _same(graph[k], eager[k])] == []


def _assert_runs_like_serving(out, folder, feeds: dict | None = None) -> None:
    feeds = feeds or _feeds()
    expected = _serving(folder, feeds)
    runs = run_model(out, _tfjs_feeds(feeds), backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            have = np.asarray(run.outputs[key]).astype(want.dtype).reshape(want.shape)
            if want.dtype.kind == "f":  # TF.js's rsqrt/log may round the last bit otherwise; NaN where TF's
                np.testing.assert_allclose(have, want, rtol=1e-6, atol=0, err_msg=f"{backend} {key}")
            else:  # indices: exactly
                np.testing.assert_array_equal(have, want, err_msg=f"{backend} {key}")


def test_tf_free_reader_runs_like_the_saved_models_signature(saved, tfjs_runtime):
    """Before: TF.js gave eager TF's indices (argmax_relu 0 for the all-negative row, serving 3)."""
    _assert_feeds_tell_the_graph_run_from_eager_tf(_serving(saved, _feeds()), _eager(_feeds()))
    done = convert_without_tf(str(saved / "sm"), str(saved / "out_free"), "--overwrite")
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_runs_like_serving(saved / "out_free", saved)


def test_tensorflow_loader_runs_like_the_saved_models_signature(saved, tfjs_runtime):
    assert main(["convert", str(saved / "sm"), str(saved / "out_tf"), "--loader=tensorflow", "--overwrite",
                 "--quiet"]) == 0
    _assert_runs_like_serving(saved / "out_tf", saved)


class _Bodies(tf.Module):
    """``ArgMax(Relu(.))`` in a while body and a cond branch: Grappler optimizes the functions a run calls too."""

    @tf.function(input_signature=[tf.TensorSpec((None, 6), tf.float32, name="x"),
                                  tf.TensorSpec((), tf.int32, name="n")])
    def f(self, x, n):
        def body(i, acc):
            shifted = tf.raw_ops.Relu(features=x - tf.cast(i, tf.float32) * 100.0)
            return i + 1, acc + tf.raw_ops.ArgMax(input=shifted, dimension=1, output_type=tf.int32)

        _, acc = tf.while_loop(lambda i, a: i < n, body, (tf.constant(0), tf.zeros_like(x[:, 0], tf.int32)))
        branch = tf.cond(n > 0, lambda: tf.raw_ops.ArgMax(input=tf.raw_ops.Relu(features=x * 2.0), dimension=1,
                                                          output_type=tf.int32),
                         lambda: tf.raw_ops.ArgMin(input=x, dimension=1, output_type=tf.int32))
        return {"loop": acc, "cond": branch}


@pytest.mark.parametrize("flag", ["", "--control_flow_v2", "--loader=tensorflow"])
def test_loop_body_and_branch_run_like_the_signature(tmp_path, tfjs_runtime, flag):
    """Before, the TF-free reader kept eager TF's indices in the bodies (loop [0, 4] for serving's [6, 4] on
    the first two rows); the TensorFlow loader freezes them inlined, where the main graph's rewrite sees them."""
    tf.saved_model.save(_Bodies(), str(tmp_path / "sm"), signatures=_Bodies().f)
    feeds = {"x": _feeds()["x"][:2], "n": np.int32(2)}
    assert _serving(tmp_path, feeds)["loop"].tolist() == [6, 4]  # the premise: eager TF gives [0, 4]
    if flag == "--loader=tensorflow":
        assert main(["convert", str(tmp_path / "sm"), str(tmp_path / "out"), flag, "--quiet"]) == 0
    else:
        done = convert_without_tf(str(tmp_path / "sm"), str(tmp_path / "out"), *filter(None, [flag]))
        assert done.returncode == 0, done.stderr[-2000:]
    _assert_runs_like_serving(tmp_path / "out", tmp_path, feeds)


def test_tensorflow_loader_keeping_functions_refuses_the_swapped_bodies_by_name(tmp_path, capsys):
    """``--loader=tensorflow --control_flow_v2`` writes TF's FunctionDefs as they are: before, the bodies kept
    eager TF's indices silently; now each pair TF's run swaps is named, with the way out."""
    tf.saved_model.save(_Bodies(), str(tmp_path / "sm"), signatures=_Bodies().f)
    code = main(["convert", str(tmp_path / "sm"), str(tmp_path / "out"), "--loader=tensorflow", "--control_flow_v2",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "while/ArgMax (of Relu while/Relu)" in err and "cond/ArgMax (of Relu cond/Relu)" in err
    assert "without --control_flow_v2" in err


class _OtherPort(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None, 8), tf.float32, name="x")])
    def f(self, x):
        _, right = tf.split(x, 2, axis=1)
        return {"y": tf.raw_ops.ArgMax(input=tf.raw_ops.Relu(features=right), dimension=1, output_type=tf.int32)}


def test_reduction_of_a_second_output_is_refused_by_name(tmp_path):
    """TF's run of ``ArgMax(Relu(split:1))`` reduces ``split:0`` (Grappler keeps the node name, not the port):
    before, the conversion gave eager TF's index silently; now it is refused, naming the node."""
    tf.saved_model.save(_OtherPort(), str(tmp_path / "sm"), signatures=_OtherPort().f)
    x = np.float32([[5, 1, 9, 2, -2, -1, -3, -0.5]])
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"](x=tf.constant(x))["y"]
    assert served.numpy().tolist() == [2]  # argmax of the left half: the premise
    done = convert_without_tf(str(tmp_path / "sm"), str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "reduces output 0 of the node instead of output 1" in done.stderr and "ArgMax" in done.stderr


def test_frozen_graph_def_runs_like_a_session(tmp_path, tfjs_runtime):
    """A frozen GraphDef run in a TF1 session gets the same Grappler rewrite; a fetched ArgMax is in Grappler's
    preserve set, so only the one behind an Identity is swapped."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (None, 6), name="x")
        tf.identity(tf.raw_ops.ArgMax(input=tf.raw_ops.Relu(features=x), dimension=1), name="swapped")
        tf.raw_ops.ArgMax(input=tf.raw_ops.Relu(features=x * 2.0), dimension=1, name="fetched")
    graph_def = graph.as_graph_def()
    tf.io.write_graph(graph_def, str(tmp_path), "frozen.pb", as_text=False)
    feeds = {"x": _feeds()["x"]}
    with tf.compat.v1.Session(graph=graph) as session:
        expected = dict(zip(("swapped", "fetched"), session.run(["swapped:0", "fetched:0"], {"x:0": feeds["x"]})))
    assert expected["swapped"][0] == 3 and expected["fetched"][0] == 0  # the session's Grappler, and its fetch rule
    for flag in ((), ("--loader=tensorflow",)):
        out = tmp_path / f"out{len(flag)}"
        argv = (str(tmp_path / "frozen.pb"), str(out), "--input_format=tf_frozen_model",
                "--output_node_names=swapped,fetched", *flag)
        if flag:  # the TensorFlow loader imports TensorFlow
            assert main(["convert", *argv, "--quiet"]) == 0
        else:
            done = convert_without_tf(*argv)
            assert done.returncode == 0, done.stderr[-2000:]
        runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True)
        for backend, run in runs.backends.items():
            assert run.ok, (backend, run.error)
            for key, want in expected.items():
                np.testing.assert_array_equal(np.asarray(run.outputs[key]).reshape(want.shape), want,
                                              err_msg=f"{flag} {backend} {key}")
