"""Float64 comparisons with constants float32 cannot hold, on the traced/TF paths (session 27, h5).

TF.js has no float64: a float64 ``Const`` is written as float32 (nearest) and a float64 input is fed float32 values.
``Greater(w, 0.1)`` then compared float32's 0.1 with a fed 0.1 (``0.100000001490116``) that TF finds greater: 12 of
18 checks of a tf_keras model converted with ``--loader=tensorflow`` were 0/1 off, silently. The core pass
``float64_comparisons`` compares on float32 bounds instead (exact for operands holding float32 values: inputs and
data movement or exact maps of them). Expected values are TF's (tf_keras ``model(x)``, the SavedModel's signature);
the converted models run in real TF.js on cpu and wasm and must agree element for element.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.passes.float64_comparisons import float32_bound  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node

BACKENDS = ("cpu", "wasm")
F64 = tf.float64
_BIG_INT = 2.0**30 + 1  # float32 holds neither it nor 0.1, 0.2, 0.3
_TENTH_BELOW = float(np.nextafter(np.float32(0.1), np.float32(0)))
#: float32 values (fed as float64 to TF): float32's 0.1 is above float64's, its predecessor below
W = np.array([[0.1, _TENTH_BELOW, 0.2, 0.3, 0.5, 2.0**30], [0, -0.0, np.inf, -np.inf, 1e-45, 0.09999]], np.float32)
Y = np.array([0.1, 0.2, -0.3, 7.0, 0.1, 1e-45], np.float32)
Z = np.array([np.nan, 0.1, 0.2, np.inf], np.float32)


def assert_same_booleans(model_dir: Path, feeds: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """Every output equal to TF's on cpu and wasm (TF.js reads the float64 inputs as float32)."""
    result = run_model(model_dir, {k: v.astype(np.float32) for k, v in feeds.items()}, backends=BACKENDS, quiet=True)
    wrong = []
    for backend in BACKENDS:
        outputs = result.outputs(backend)
        for key, want in expected.items():
            got = np.asarray(outputs[key])
            if got.shape != want.shape or not np.array_equal(got.astype(np.float64), want.astype(np.float64)):
                wrong.append(f"{backend} {key}: {got.ravel().tolist()} != TF's {want.ravel().tolist()}")
    assert not wrong, "\n".join(wrong)


def float32_sign(t: Any) -> Any:
    return tf.cast(t, tf.float32)


# -- tf_keras through --loader=tensorflow ---------------------------------------------------------------------------
def tf_keras_comparisons(k: Any) -> Any:
    """A float64 Input compared with constants float32 does and does not hold, directly and through ``relu``,
    ``reshape``; a nested model's float64 Input (a float32 tensor cast up, exactly) compared inside."""
    w = k.Input((6,), dtype="float64", name="w")
    inner_w = k.Input((6,), dtype="float64", name="inner_w")
    inner = k.Model(inner_w, float32_sign(tf.math.greater(inner_w, 0.1)), name="inner")
    r = tf.nn.relu(w)
    outputs = [
        tf.math.greater(w, 0.1), tf.math.less_equal(w, 0.1), tf.math.equal(w, 0.2), w > 0.3,
        tf.math.greater_equal(r, 0.1), tf.math.not_equal(tf.reshape(w, (-1, 2, 3)), [0.1, 0.5, _BIG_INT]),
        tf.math.less(w, 1e39), tf.math.greater(w, -1e-50), tf.math.equal(w, 0.5), tf.math.less(w, 0.2)]
    return k.Model(w, [float32_sign(o) for o in outputs] + [inner(tf.cast(w, tf.float32))])


def test_tf_keras_float64_comparisons_through_tf_loader_match_keras(tmp_path, tfjs_runtime):
    """12 of 18 checks 0/1 off before (the lead's repro, same model plus a nested float64 Input): now exact."""
    k = pytest.importorskip("tf_keras")
    model = tf_keras_comparisons(k)
    path = tmp_path / "f64.h5"
    model.save(path)
    out = tmp_path / "web"
    tfjsconv.convert(path, out, loader="tensorflow", output_format="tfjs_graph_model")
    found = dict(zip(model.output_names, model(W.astype(np.float64))))
    signature = json.loads((out / "model.json").read_text())["signature"]
    assert sorted(signature["outputs"]) == sorted(found)
    expected = {key: np.asarray(value) for key, value in found.items()}
    assert expected[model.output_names[0]][0, 0] == 1.0  # float32's 0.1 is greater than float64's 0.1 in Keras
    assert_same_booleans(out, {next(iter(signature["inputs"])): W}, expected)


# -- a raw TF graph: tf.function over float64 TensorSpecs, saved with tf.saved_model.save -----------------------------
def _c(value: Any) -> Any:
    return tf.constant(value, F64)


def raw_comparisons(w, y, z):
    """Comparisons of float64 operands holding float32 values with float64 constants, the constant on either side,
    through each kind of exact op (data movement, exact maps, ``Maximum`` of two exact ones, a cast up from float32)."""
    R = tf.raw_ops
    up = R.Cast(x=y, DstT=F64)
    gathered = R.GatherV2(params=w, indices=[1, 0], axis=1)
    joined = R.ConcatV2(values=[w, R.Neg(x=w)], axis=1)
    tiled = R.Tile(input=R.ExpandDims(input=up, axis=0), multiples=[2, 1])
    return {
        "greater": R.Greater(x=w, y=_c(0.1)), "greater_left": R.Greater(x=_c(0.1), y=w),
        "greater_equal_left": R.GreaterEqual(x=_c(0.3), y=w), "less_left": R.Less(x=_c(0.2), y=w),
        "less_equal": R.LessEqual(x=w, y=_c(0.1)), "less_big": R.Less(x=w, y=_c(1e39)),
        "equal_left": R.Equal(x=_c(0.2), y=w), "equal_row": R.Equal(x=w, y=_c([0.1, 0.5, 0.2, 0.3, 0.5, _BIG_INT])),
        "not_equal": R.NotEqual(x=R.Reshape(tensor=w, shape=[-1, 2, 3]), y=_c([0.1, 0.5, _BIG_INT])),
        "gather": R.Greater(x=gathered, y=_c(0.1)), "concat": R.LessEqual(x=joined, y=_c(-0.1)),
        "transposed_abs": R.Less(x=R.Abs(x=R.Transpose(x=w, perm=[1, 0])), y=_c(0.3)),
        "sliced_relu": R.GreaterEqual(x=R.Relu(features=w[:, 1:4]), y=_c(0.3)),
        "floor": R.GreaterEqual(x=R.Floor(x=w), y=_c(-1e-50)),
        "cast_up": R.Equal(x=up, y=_c(0.1)), "cast_up_not": R.NotEqual(x=_c(0.1), y=up),
        "maximum": R.Greater(x=R.Maximum(x=w, y=tiled), y=_c(0.2)),
        "nan_equal": R.Equal(x=z, y=_c(0.1)), "nan_not_equal": R.NotEqual(x=z, y=_c(0.2)),
        "nan_greater": R.Greater(x=_c(0.1), y=z),
    }


RAW_SIGNATURE = [tf.TensorSpec([2, 6], F64, name="w"), tf.TensorSpec([6], tf.float32, name="y"),
                 tf.TensorSpec([4], F64, name="z")]
RAW_FEEDS = {"w": W, "y": Y, "z": Z}


@pytest.fixture(scope="module")
def raw_saved_model(tmp_path_factory):
    module = tf.Module()
    module.f = tf.function(raw_comparisons, input_signature=RAW_SIGNATURE)
    path = tmp_path_factory.mktemp("float64_comparisons") / "model"
    tf.saved_model.save(module, str(path), signatures=module.f)
    loaded = tf.saved_model.load(str(path)).signatures["serving_default"]
    feeds = {k: tf.constant(v.astype(np.float64) if k != "y" else v) for k, v in RAW_FEEDS.items()}
    return path, {key: value.numpy() for key, value in loaded(**feeds).items()}


@pytest.mark.parametrize("loader", ["auto", "tensorflow"])
def test_raw_float64_comparisons_match_tf(raw_saved_model, tmp_path, tfjs_runtime, loader):
    """TF-free and through TF's loader (Grappler): every output equal to TF's on cpu and wasm."""
    path, expected = raw_saved_model
    assert expected["greater"][0, 0] and not expected["greater_left"][0, 0] and not expected["cast_up"][0]
    out = tmp_path / "web"
    tfjsconv.convert(path, out, loader=loader)
    assert_same_booleans(out, RAW_FEEDS, expected)


def test_comparisons_of_float64_arithmetic_and_held_constants_are_left(tmp_path):
    """Only exact operands get bounds: ``maximum(w, 0.1) > 0.1`` (float64 arithmetic) and a constant float32 holds
    keep TF's nodes; the pass finds nothing the second time (its bounds are held by float32)."""
    def left(w):
        return {"arith": tf.raw_ops.Greater(x=tf.raw_ops.Maximum(x=w, y=_c(0.1)), y=_c(0.1)),
                "held": tf.raw_ops.Equal(x=w, y=_c(0.5)), "exact": tf.raw_ops.Greater(x=w, y=_c(0.3))}

    module = tf.Module()
    module.f = tf.function(left, input_signature=RAW_SIGNATURE[:1])
    path = tmp_path / "model"
    tf.saved_model.save(module, str(path), signatures=module.f)
    result = tfjsconv.convert(path, tmp_path / "web", optimization_level=0)
    nodes = json.loads((tmp_path / "web" / "model.json").read_text())["modelTopology"]["node"]
    ops = sorted(n["op"] for n in nodes if n["op"] not in ("Const", "Placeholder", "Identity"))
    assert ops == ["Equal", "Greater", "Greater", "Maximum"], ops
    assert sum("float64_bound" in n["name"] for n in nodes) == 1  # the exact one only
    stats = {s.name: s for s in result.pass_report.stats}["float64_comparisons"]
    assert stats.changes == 1 and stats.runs >= 2


def test_float32_bounds_decide_like_float64():
    """For float32 ``x`` and float64 ``c``, ``x op bound(c)`` in float32 is ``x op c`` in float64 (edges included)."""
    rng = np.random.default_rng(27)
    cs = np.concatenate([[0.1, -0.1, 1e39, -1e39, 1e-50, -1e-50, _BIG_INT, np.inf, -np.inf, 0.5, 0.0],
                         rng.standard_normal(40) * 10.0 ** rng.integers(-40, 39, 40)])
    for c in cs:
        near = np.float32(c) if abs(c) < 3.4e38 else np.float32(np.sign(c) * np.finfo(np.float32).max)
        with np.errstate(over="ignore"):
            xs = np.array([near, np.nextafter(near, np.float32(np.inf)), np.nextafter(near, np.float32(-np.inf)),
                           np.inf, -np.inf, 0.0], np.float32)
        for op, compare in (("Greater", np.greater), ("GreaterEqual", np.greater_equal), ("Less", np.less),
                            ("LessEqual", np.less_equal)):
            bound = float32_bound(np.asarray(c), op)
            assert bound.dtype == np.float32
            np.testing.assert_array_equal(compare(xs, bound), compare(xs.astype(np.float64), c), err_msg=f"{c} {op}")
