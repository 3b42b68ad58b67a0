"""RT6: casts to float16 round as TensorFlow rounds them (TF.js reads DT_HALF as float32 and kept every bit).

``core/passes/half_rounding.py`` rounds in float32 ops; here a SavedModel of casts to float16 (from float32 and
int32, back to float32, and a mixed-precision-like chain) is compared bit for bit with TF's own call on TF.js
cpu and wasm, over the edge cases (ties to even, 65504/65520 and overflow, subnormals, signed zeros, NaN/inf)
and values spread over every binade. Arithmetic TF computes in float16 is rounded as TF rounds it; that which
TF rounds in several steps is named in a warning.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from test_t6_narrow_ints import BACKENDS, assert_exact, reference, saved  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402
from tfjsconv.errors import UnsupportedOpsError  # noqa: E402

S = tf.TensorSpec
EDGES = [0.0, -0.0, 1.0, 2049.0, 2051.0, -2049.0, 1 / 3, 0.1, 65504.0, 65519.0, 65520.0, -65520.0, 65536.0,
         1e30, np.inf, -np.inf, np.nan, 2.0 ** -14, 2.0 ** -14 * (1 - 2.0 ** -12), 2.0 ** -24, 2.0 ** -25,
         -(2.0 ** -25), 1.5 * 2.0 ** -25, 3e-5, -3e-5, 1e-9, -1e-9, 6.1e-5, 1.0009765625, 1.00048828125,
         1.00146484375]


def _floats(n: int) -> np.ndarray:
    rng = np.random.default_rng(6)
    spread = rng.uniform(-1, 1, n) * np.exp2(rng.uniform(-30, 18, n))
    return np.concatenate([np.asarray(EDGES), spread]).astype(np.float32)


FEEDS = {"f": _floats(2000), "i": np.array([2049, 2051, -70000, 65519, 65520, 7, -3, 123457], np.int32)}


def half_ops(f, i):
    half = tf.cast(f, tf.float16)
    return {"f_half": tf.cast(half, tf.float32), "i_half": tf.cast(tf.cast(i, tf.float16), tf.float32),
            "half_out": half, "half_abs": tf.cast(tf.abs(half), tf.float32)}


@pytest.fixture(scope="module")
def half_model(tmp_path_factory):
    path = saved(tmp_path_factory, "half", half_ops, [S([None], tf.float32, name="f"), S([8], tf.int32, name="i")])
    out = tmp_path_factory.mktemp("half_out") / "web"
    tfjsconv.convert(path, out)
    return path, out


@pytest.mark.node
def test_casts_to_float16_round_as_tf_does(half_model, tfjs_runtime):
    path, out = half_model
    expected = reference(path, FEEDS)
    assert expected["f_half"][3] == 2048.0 and np.isinf(expected["f_half"][10])  # TF did round (ties to even, inf)
    expected["half_out"] = expected["half_out"].astype(np.float32)  # TF.js holds float16 as float32
    assert_exact(out, FEEDS, expected)
    result = run_model(out, FEEDS, backends=BACKENDS, quiet=True)
    for backend in BACKENDS:  # bit for bit: signed zeros too
        got, want = result.outputs(backend)["f_half"], expected["f_half"]
        same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
        assert same.all(), (backend, FEEDS["f"][~same][:5], got[~same][:5], want[~same][:5])


def half_sum_of_sum(f: tf.Tensor) -> dict[str, tf.Tensor]:
    """A float16 add (TF rounds it once, so TF.js's rounding gives TF's value) and a float16 sum (TF rounds it in
    several steps): only the sum is named."""
    h_add = tf.add(tf.cast(f, tf.float16), 1, name="h_add")
    return {"y": tf.cast(tf.reduce_sum(h_add, name="h_sum"), tf.float32)}


def test_float16_arithmetic_is_named_in_a_warning(tmp_path_factory, caplog):
    path = saved(tmp_path_factory, "half_sum", half_sum_of_sum, [S([3], tf.float32, name="f")])
    with caplog.at_level(logging.WARNING):
        tfjsconv.convert(path, tmp_path_factory.mktemp("half_sum_out") / "web")
    named = [r.getMessage() for r in caplog.records if "float16" in r.getMessage() and "h_sum" in r.getMessage()]
    assert len(named) == 1, caplog.text
    assert "h_add" not in named[0], named[0]


@pytest.mark.node
def test_float16_casts_in_loops_round_or_are_refused_in_kept_functions(tmp_path_factory, tfjs_runtime):
    """Lowered to v1 frames the body's cast is rounded like the rest; a kept function would lose it: refused."""
    def loop(f, n):
        _, y = tf.while_loop(lambda k, y: k < n, lambda k, y: (k + 1, tf.cast(tf.cast(y * 1.1, tf.float16),
                                                                                tf.float32)), [0, f])
        return {"y": y}
    path = saved(tmp_path_factory, "half_loop", loop, [S([3], tf.float32, name="f"), S([], tf.int32, name="n")])
    out = tmp_path_factory.mktemp("half_loop_lowered") / "web"
    tfjsconv.convert(path, out)
    feeds = {"f": np.array([1.0, -3.3, 1000.1], np.float32), "n": np.array(7, np.int32)}
    expected = reference(path, feeds)
    assert not np.array_equal(expected["y"], feeds["f"] * np.float32(1.1) ** 7)
    assert_exact(out, feeds, expected)
    with pytest.raises(UnsupportedOpsError, match="float16"):
        tfjsconv.convert(path, tmp_path_factory.mktemp("half_loop_out") / "web", control_flow_v2=True)


@pytest.mark.node
def test_onnx_casts_to_float16_round_as_onnxruntime_does(tmp_path, tfjs_runtime):
    """The ONNX frontend held float16 as float32 and dropped the rounding (2049 stayed 2049, 65520 finite)."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper

    from onnx_models import onnx_model

    N = helper.make_node
    nodes = [N("Cast", ["x"], ["h"], to=TP.FLOAT16), N("Cast", ["h"], ["y"], to=TP.FLOAT),
             N("Cast", ["i"], ["ih"], to=TP.FLOAT16), N("Cast", ["ih"], ["iy"], to=TP.FLOAT)]
    path = onnx_model(tmp_path / "h.onnx", nodes, {"x": (TP.FLOAT, [len(FEEDS["f"])]), "i": (TP.INT32, [8])},
                      ["y", "iy", "h"], opset=18, name="rt6_half")
    feeds = {"x": FEEDS["f"], "i": FEEDS["i"]}
    expected = dict(zip(["y", "iy", "h"], ort.InferenceSession(str(path)).run(None, feeds)))
    assert expected["y"][3] == 2048.0  # onnxruntime did round
    expected["h"] = expected["h"].astype(np.float32)
    tfjsconv.convert(path, tmp_path / "out")
    assert_exact(tmp_path / "out", feeds, expected)


@pytest.mark.node
def test_rank_5_casts_to_float16_pass_the_webgl_contract(tmp_path_factory, tfjs_runtime):
    """webgl has no rank-5 SelectV2: a rank-5 (or unknown-rank) value is rounded flat and reshaped back."""
    path = saved(tmp_path_factory, "half_r5", lambda f: {"y": tf.cast(tf.cast(f, tf.float16), tf.float32) * 2.0},
                 [S([None, 2, 3, 4, 5], tf.float32, name="f")])
    out = tmp_path_factory.mktemp("half_r5_out") / "web"
    tfjsconv.convert(path, out)  # default targets: cpu, wasm and webgl
    feeds = {"f": (np.random.default_rng(5).standard_normal((2, 2, 3, 4, 5)) * 3000).astype(np.float32)}
    expected = reference(path, feeds)
    assert not np.array_equal(expected["y"], feeds["f"] * 2)  # TF did round
    assert_exact(out, feeds, expected)
