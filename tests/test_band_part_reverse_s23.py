"""``band_part`` and ``bool_reverse``: TF.js's MatrixBandPart and wasm's bool ReverseV2 rewritten as TF computes them.

TF.js 4.22 keeps elements outside a band on every backend (constant bounds: refused by the contract; run-time
bounds: not named by it, and a (1, 0) band came out as (1, 1) on cpu and wasm, silently), and wasm reverses bools
wrongly. tf_keras causal attention and masked Bidirectional / go_backwards RNNs saved as SavedModel folders were
therefore refused on the default (TF-free) path (session 23, H5), where the Keras lowering converts them. Each case is
checked against TF (``tf.raw_ops`` in a TF1 graph, or the Keras model) in TF.js cpu and wasm, one band in webgl.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node

RNG = np.random.default_rng(23)
#: float input with NaN and ±Inf outside and inside the band: TF writes 0 outside whatever the value
X = RNG.standard_normal((2, 3, 5, 4)).astype(np.float32)
X[0, 0, 4, 0], X[0, 0, 0, 3], X[1, 2, 2, 2] = np.nan, np.inf, -np.inf
XI = RNG.integers(-50, 50, (3, 6, 6)).astype(np.int32)
XB = RNG.random((2, 6, 5)) > 0.3
X5 = RNG.standard_normal((2, 2, 3, 4, 5)).astype(np.float32)
#: name → (input, num_lower, num_upper); None bounds are run-time placeholders fed (lower, upper) from BOUNDS
CONST_BANDS = {"causal": ("x", -1, 0), "tri_up": ("x", 0, -1), "band_1_2": ("x", 1, 2), "diag": ("x", 0, 0),
               "int_band": ("xi", 2, 1), "bool_causal": ("xb", -1, 0), "rank5": ("x5", 1, 0)}
RUNTIME_BANDS = {"rt_float": ("x", "lo", "up"), "rt_bool": ("xb", "lo", "up"), "rt_int": ("xi", "lo", "up")}
FEEDS = {"x": X, "xi": XI, "xb": XB, "x5": X5, "lo": np.array(1, np.int32), "up": np.array(0, np.int32)}


def band_graph(path, bands: dict, static_sizes: bool = False):
    """A TF1 graph of MatrixBandPart nodes (each output named as its band); TF's outputs for ``FEEDS``."""
    def build(tf) -> None:
        dtypes = {"x": tf.float32, "xi": tf.int32, "xb": tf.bool, "x5": tf.float32}
        ph = {k: tf.compat.v1.placeholder(d, FEEDS[k].shape if static_sizes else (None,) * FEEDS[k].ndim, k)
              for k, d in dtypes.items()}
        ph["lo"] = tf.compat.v1.placeholder(tf.int32, (), "lo")
        ph["up"] = tf.compat.v1.placeholder(tf.int32, (), "up")
        for name, (x, lower, upper) in bands.items():
            lo = ph[lower] if isinstance(lower, str) else np.int32(lower)
            up = ph[upper] if isinstance(upper, str) else np.int32(upper)
            tf.identity(tf.raw_ops.MatrixBandPart(input=ph[x], num_lower=lo, num_upper=up), name=name)

    return raw_ops_graph(path, build, FEEDS, list(bands))


def _used_feeds(bands: dict) -> dict:
    used = {v for spec in bands.values() for v in spec if isinstance(v, str)}
    return {k: v for k, v in FEEDS.items() if k in used}


def mismatches(outputs: dict, expected: dict) -> list[str]:
    bad = []
    for name, want in expected.items():
        got = np.asarray(outputs[name]).reshape(want.shape)
        if not np.array_equal(got.astype(np.float64), want.astype(np.float64), equal_nan=True):
            bad.append(name)
    return bad


def _ops(out) -> list[str]:
    return [n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]]


def _cpu_and_wasm(out, feeds, expected) -> None:
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        assert mismatches(run.outputs, expected) == [], backend


# -- MatrixBandPart ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("static_sizes", [True, False], ids=["static_sizes", "runtime_sizes"])
def test_constant_bands_match_tf(tmp_path, tfjs_runtime, static_sizes):
    """Constant bounds (causal, upper, (1, 2), diagonal; float with NaN/±Inf, int32, bool, rank 5): refused before
    (every backend computes them wrongly); now a table mask (static sizes) or a Range mask (run-time sizes)."""
    source, expected = band_graph(tmp_path / "m.pb", CONST_BANDS, static_sizes)
    with pytest.raises(BackendUnsupportedError, match="MatrixBandPart"):
        tfjsconv.convert(source, tmp_path / "before", output_node_names=list(expected), skip_passes=["band_part"])
    out = tmp_path / "out"
    tfjsconv.convert(source, out, output_node_names=list(expected))
    assert "MatrixBandPart" not in _ops(out)
    assert ("Range" in _ops(out)) is not static_sizes
    _cpu_and_wasm(out, _used_feeds(CONST_BANDS), expected)


def test_runtime_bounds_match_tf(tmp_path, tfjs_runtime):
    """Run-time bounds, incl. -1 (all): before the pass TF.js's cpu and wasm were silently wrong (not refused)."""
    source, expected = band_graph(tmp_path / "m.pb", RUNTIME_BANDS)
    before = tmp_path / "before"
    tfjsconv.convert(source, before, output_node_names=list(expected), skip_passes=["band_part"])
    runs = run_model(before, _used_feeds(RUNTIME_BANDS), backends=["cpu", "wasm"], quiet=True).backends
    # the bug the pass avoids, not a refusal: cpu wrong numbers, wasm a fault ("memory access out of bounds")
    assert runs["cpu"].ok and mismatches(runs["cpu"].outputs, expected) == list(expected)
    assert not runs["wasm"].ok or mismatches(runs["wasm"].outputs, expected)
    out = tmp_path / "out"
    tfjsconv.convert(source, out, output_node_names=list(expected))
    assert "MatrixBandPart" not in _ops(out)
    for lo, up in ((1, 0), (-1, 0), (0, -1), (-1, -1), (2, 3), (5, 4)):
        feeds = {**_used_feeds(RUNTIME_BANDS), "lo": np.array(lo, np.int32), "up": np.array(up, np.int32)}
        _cpu_and_wasm(out, feeds, _tf_bands(feeds))


def _tf_bands(feeds: dict) -> dict:
    """TF's RUNTIME_BANDS outputs for ``feeds`` (eager raw ops)."""
    return {name: tf.raw_ops.MatrixBandPart(input=feeds[x], num_lower=feeds[lo], num_upper=feeds[up]).numpy()
            for name, (x, lo, up) in RUNTIME_BANDS.items()}


def test_runtime_bound_past_the_matrix_fails_the_run(tmp_path, tfjs_runtime):
    """TF raises on ``num_lower > rows``; the guarded bound fails the TF.js run on cpu and wasm instead."""
    bands = {"rt_float": RUNTIME_BANDS["rt_float"]}
    source, expected = band_graph(tmp_path / "m.pb", bands)
    out = tmp_path / "out"
    tfjsconv.convert(source, out, output_node_names=list(expected))
    feeds = {"x": X, "lo": np.array(X.shape[-2] + 1, np.int32), "up": np.array(0, np.int32)}
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.raw_ops.MatrixBandPart(input=X, num_lower=feeds["lo"], num_upper=feeds["up"])
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends
    assert not any(run.ok for run in runs.values()), {b: r.ok for b, r in runs.items()}


def test_a_band_of_unknown_rank_is_refused_by_name(tmp_path):
    """Review R4: an input of unknown rank with run-time bounds matched no contract row and went out as TF.js's band
    (a (1, 0) band came out (1, 1) on cpu and wasm, silently); the pass cannot build the mask without the rank."""
    def build(tf):
        x = tf.compat.v1.placeholder(tf.float32, None, "x")
        lower, upper = (tf.compat.v1.placeholder(tf.int32, (), name) for name in ("lower", "upper"))
        tf.identity(tf.raw_ops.MatrixBandPart(input=x, num_lower=lower, num_upper=upper), name="y")

    feeds = {"x": np.arange(20, dtype=np.float32).reshape(1, 5, 4), "lower": np.int32(1), "upper": np.int32(0)}
    source, _ = raw_ops_graph(tmp_path / "m.pb", build, feeds, ["y"])
    with pytest.raises(BackendUnsupportedError, match="MatrixBandPart on cpu/wasm/webgl .a band of unknown rank"):
        tfjsconv.convert(source, tmp_path / "out", output_node_names=["y"])
    assert not (tmp_path / "out").exists()


def test_gated_by_the_contract(tmp_path):
    """The identity band (-1, -1) at rank ≤ 4 is right everywhere: kept as it is."""
    source, expected = band_graph(tmp_path / "m.pb", {"all": ("x", -1, -1)})
    result = tfjsconv.convert(source, tmp_path / "out", output_node_names=list(expected))
    assert {s.name: s.changes for s in result.pass_report.stats}["band_part"] == 0


def test_band_matches_tf_on_webgl(tmp_path, browser):
    from tfjsconv.serve.browser import run_backends_in_browser

    bands = {k: CONST_BANDS[k] for k in ("causal", "band_1_2", "bool_causal", "rank5")}
    source, expected = band_graph(tmp_path / "m.pb", bands)
    out = tmp_path / "out"
    tfjsconv.convert(source, out, output_node_names=list(expected))
    run = run_backends_in_browser(out, _used_feeds(bands), backends=["webgl"], session=browser,
                                  flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
    assert run.ok, run.error
    assert mismatches(run.outputs, expected) == []


# -- bool ReverseV2 ----------------------------------------------------------------------------------------------
REVERSES = {"rev_1": [1], "rev_0_2": [0, 2], "rev_last": [-1]}


def reverse_graph(path):
    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.bool, (None, None, None), "xb")
        for name, axes in REVERSES.items():
            r = tf.raw_ops.ReverseV2(tensor=x, axis=np.array(axes, np.int32))
            tf.identity(r, name=name)
            tf.identity(tf.raw_ops.Cast(x=r, DstT=tf.float32), name=f"{name}_float")

    outputs = [n for name in REVERSES for n in (name, f"{name}_float")]
    return raw_ops_graph(path, build, {"xb": XB}, outputs)


def test_bool_reverse_matches_tf(tmp_path, tfjs_runtime):
    """Refused on wasm before (its bool reverse writes bytes 255/40); now reversed as int32, read back as != 0."""
    source, expected = reverse_graph(tmp_path / "m.pb")
    with pytest.raises(BackendUnsupportedError, match="ReverseV2 on wasm"):
        tfjsconv.convert(source, tmp_path / "before", output_node_names=list(expected), skip_passes=["bool_reverse"])
    out = tmp_path / "out"
    result = tfjsconv.convert(source, out, output_node_names=list(expected))
    assert {s.name: s.changes for s in result.pass_report.stats}["bool_reverse"] == len(REVERSES)
    _cpu_and_wasm(out, {"xb": XB}, expected)


def test_bool_reverse_gated_by_the_targets(tmp_path):
    source, expected = reverse_graph(tmp_path / "m.pb")
    result = tfjsconv.convert(source, tmp_path / "out", output_node_names=list(expected),
                              target_backends=["cpu", "webgl"])
    assert {s.name: s.changes for s in result.pass_report.stats}["bool_reverse"] == 0


# -- tf_keras SavedModel folders, default (TF-free) path ---------------------------------------------------------
IDS = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]], np.int32)


def _causal_mha(K):
    t = K.Input((None,), dtype="int32", name="in0")
    x = K.layers.Embedding(12, 8, mask_zero=True)(t)
    return K.Model(t, K.layers.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True))


def _bidi_mask(K):
    t = K.Input((None,), dtype="int32", name="in0")
    return K.Model(t, K.layers.Bidirectional(K.layers.LSTM(3))(K.layers.Embedding(12, 4, mask_zero=True)(t)))


@pytest.mark.parametrize("build, refused", [(_causal_mha, "MatrixBandPart"), (_bidi_mask, "ReverseV2 on wasm")],
                         ids=["causal_mha", "bidi_mask"])
def test_tf_keras_savedmodel_converts_without_tf(tmp_path, tfjs_runtime, build, refused):
    """``model.save(dir)`` from tf_keras, converted by the default path with TF poisoned (exit 2 before: a
    MatrixBandPart / wasm bool ReverseV2 refusal), run in TF.js cpu+wasm against Keras."""
    K = pytest.importorskip("tf_keras")
    from test_savedmodel_tf_free import convert_without_tf
    from tfjsconv.verify.compare import verify_model

    K.utils.set_random_seed(3)
    model = build(K)
    want = np.asarray(model(IDS, training=False))
    folder = tmp_path / "sm"
    model.save(folder)
    before = convert_without_tf(str(folder), str(tmp_path / "before"), "--skip_passes", "band_part,bool_reverse")
    assert before.returncode == 2 and refused in before.stderr, before.stderr[-2000:]
    out = tmp_path / "out"
    done = convert_without_tf(str(folder), str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    sig = json.loads((out / "model.json").read_text())["signature"]
    report = verify_model(out, {next(iter(sig["inputs"])): IDS}, {next(iter(sig["outputs"])): want},
                          backends=("cpu", "wasm"), quiet=True)
    assert report.passed


# -- DivNoNan (webgl, rank ≥ 5) and OneHot's float values (wasm) -------------------------------------------------------
DIV_X = RNG.standard_normal((2, 3, 2, 4, 3)).astype(np.float32)
DIV_X[0, 0, 0, 0, :2] = [np.nan, np.inf]
DIV_Y = RNG.standard_normal((2, 3, 2, 4, 3)).astype(np.float32)
DIV_Y[0, 0, 0, 0, :2] = 0.0  # NaN / 0 and Inf / 0: TF gives 0
DIV_Y[1, :, 1] = 0.0
DIV_Y[1, 0, 0, 0, 0] = -0.0
IDS_ONE_HOT = np.array([[0, 3, -1], [4, 5, 2]], np.int32)  # -1 and 5 (= depth) are outside: all off


def div_one_hot_graph(path):
    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.float32, (None,) * 5, "dx")
        y = tf.compat.v1.placeholder(tf.float32, (None,) * 5, "dy")
        tf.identity(tf.raw_ops.DivNoNan(x=x, y=y), name="div")
        tf.identity(tf.raw_ops.DivNoNan(x=x, y=y[:1, :1, :1, :1, :1]), name="div_broadcast")
        ids = tf.compat.v1.placeholder(tf.int32, (None, None), "ids")
        tf.identity(tf.raw_ops.OneHot(indices=ids, depth=5, on_value=np.float32(2.5), off_value=np.float32(-0.0)),
                    name="one_hot")
        tf.identity(tf.raw_ops.OneHot(indices=ids, depth=5, on_value=np.float32(np.nan), off_value=np.float32(1e-3)),
                    name="one_hot_nan")

    return raw_ops_graph(path, build, {"dx": DIV_X, "dy": DIV_Y, "ids": IDS_ONE_HOT},
                         ["div", "div_broadcast", "one_hot", "one_hot_nan"])


def test_div_no_nan_and_one_hot_values_match_tf(tmp_path, tfjs_runtime):
    """Refused before (DivNoNan at rank 5 on webgl; OneHot with float32 values on wasm); now cpu and wasm match TF,
    bit for bit (the signs of zeros included)."""
    source, expected = div_one_hot_graph(tmp_path / "m.pb")
    feeds = {"dx": DIV_X, "dy": DIV_Y, "ids": IDS_ONE_HOT}
    with pytest.raises(BackendUnsupportedError) as err:
        tfjsconv.convert(source, tmp_path / "before", output_node_names=list(expected),
                         skip_passes=["div_no_nan", "one_hot_values"])
    assert "DivNoNan on webgl" in str(err.value) and "OneHot on wasm" in str(err.value), str(err.value)
    out = tmp_path / "out"
    result = tfjsconv.convert(source, out, output_node_names=list(expected))
    changes = {s.name: s.changes for s in result.pass_report.stats}
    assert (changes["div_no_nan"], changes["one_hot_values"]) == (2, 2)
    _cpu_and_wasm(out, feeds, expected)
    runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends
    for run in runs.values():  # +0 where TF writes 0 for a zero denominator, -0 off values kept
        assert np.array_equal(np.signbit(np.asarray(run.outputs["one_hot"]).reshape(expected["one_hot"].shape)),
                              np.signbit(expected["one_hot"]))


def test_div_no_nan_matches_tf_on_webgl(tmp_path, browser):
    from tfjsconv.serve.browser import run_backends_in_browser

    source, expected = div_one_hot_graph(tmp_path / "m.pb")
    out = tmp_path / "out"
    tfjsconv.convert(source, out, output_node_names=list(expected))
    feeds = {"dx": DIV_X, "dy": DIV_Y, "ids": IDS_ONE_HOT}
    run = run_backends_in_browser(out, feeds, backends=["webgl"], session=browser,
                                  flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
    assert run.ok, run.error
    # webgl's division of finite values is IEEE on SwiftShader; NaN/Inf over a non-zero are not in DIV_X
    assert mismatches(run.outputs, expected) == []
