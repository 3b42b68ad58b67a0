"""webgl's ``Log`` of a zero that reaches its shader is -88.03 (log(2^-127) on SwiftShader), not -Inf.

The conformance case ``Log/special`` (0.0 and -0.0 fed as a graph input) passed on webgl only because webgl runs
its CPU kernel for a small CPU-resident input (``WEBGL_CPU_FORWARD``, under 128 elements; the conformance page now
turns that off, and the case deviates there as here). A zero a shader made
(here ``Sum(Exp(-Inf))``, the zero of a ``logsumexp`` of an all -Inf row or of ``x * Log(0)`` in ``xlogy``) or a
zero in an input of 128 elements or more reaches the shader, whose GLSL ``log(0)`` is undefined. ``Exp(-Inf)``
(exactly 0), ``Sum`` of zeros (0) and ``Mul`` of 0 by -Inf (NaN) are right there; the ``Log`` is what deviates.
So the contract names ``Log`` on webgl in the special-values line, and ``--exact_special_values`` makes it exact
(``SelectV2(x == 0, -Inf, Log(x))``). cpu and wasm give TF's answers bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
INF = np.float32(np.inf)
#: An all -Inf row (logsumexp's case: Exp gives 0, the Sum 0, the Log must be -Inf), a normal row, one exp(0).
ROWS = np.float32([[-INF, -INF, -INF, -INF], [0, 1, 2, 3], [-INF, -INF, -INF, 0]])
#: 256 elements, so webgl runs the Log shader on the input itself: +0, -0, 1, NaN, +Inf, a negative.
BIG = np.tile(np.float32([0.0, -0.0, 1.0, np.nan, INF, -2.0, 0.5, 3.0]), 32)
FEEDS = {"x": ROWS, "z": BIG}
OUTPUTS = ["log_sum_exp", "log_big"]


def _build(tf) -> None:
    x = tf.compat.v1.placeholder(tf.float32, ROWS.shape, name="x")
    z = tf.compat.v1.placeholder(tf.float32, BIG.shape, name="z")
    summed = tf.raw_ops.Sum(input=tf.raw_ops.Exp(x=x), axis=tf.constant([1]))
    tf.raw_ops.Log(x=summed, name="log_sum_exp")
    tf.raw_ops.Log(x=z, name="log_big")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """``log_sum_exp = Log(Sum(Exp(x), 1))`` and ``log_big = Log(z)`` as a GraphDef, and TF's outputs."""
    return raw_ops_graph(tmp_path_factory.mktemp("log0") / "log0.pb", _build, FEEDS, OUTPUTS)


def same(got, want) -> bool:
    """Bit-for-bit equal as float32 values (NaN where NaN, ±Inf where ±Inf)."""
    got = np.asarray(got, np.float32)
    return got.shape == want.shape and np.array_equal(got, want, equal_nan=True)


def test_tf_gives_minus_inf_for_log_of_zero(frozen):
    _, expected = frozen
    assert expected["log_sum_exp"][0] == -INF and expected["log_sum_exp"][2] == 0
    assert np.isclose(expected["log_sum_exp"][1], np.log(np.exp(np.arange(4.0)).sum()), rtol=1e-6)
    assert (expected["log_big"][:2] == -INF).all() and np.isnan(expected["log_big"][[3, 5]]).all()


def test_the_notice_names_log_for_webgl_only(frozen, tmp_path):
    source, _ = frozen
    result = tfjsconv.convert(source, tmp_path / "all", output_node_names=OUTPUTS)
    assert len(result.notices) == 1 and "Log (webgl)" in result.notices[0], result.notices
    assert "--exact_special_values rewrites Log" in result.notices[0], result.notices
    node_only = tfjsconv.convert(source, tmp_path / "node", output_node_names=OUTPUTS, target_backends=["cpu", "wasm"])
    assert not any("Log" in n for n in node_only.notices), node_only.notices
    exact = tfjsconv.convert(source, tmp_path / "exact", output_node_names=OUTPUTS, exact_special_values=True)
    # the Log it keeps is guarded; the float Sum is named for sums past FLT_MAX only (test_special_values_reductions.py)
    assert not any("Log" in n or "NaN/Inf" in n for n in exact.notices), exact.notices
    assert {s.name: s.changes for s in exact.pass_report.stats}["exact_special_values"] == 2


def test_cpu_and_wasm_match_tf_exactly(frozen, tmp_path, tfjs_runtime):
    from tfjsconv.verify.run import run_model

    source, expected = frozen
    for flavour, exact in (("plain", False), ("exact", True)):
        tfjsconv.convert(source, tmp_path / flavour, output_node_names=OUTPUTS, exact_special_values=exact)
        runs = run_model(tmp_path / flavour, FEEDS, backends=["cpu", "wasm"], quiet=True)
        for backend, run in runs.backends.items():
            assert run.ok, run.error
            for name in OUTPUTS:
                assert same(run.outputs[name], expected[name]), (flavour, backend, name, run.outputs[name])


def test_webgl_log_of_a_zero_on_the_gpu_is_minus_88_unless_rewritten(frozen, tmp_path, browser):
    from tfjsconv.serve.browser import run_backends_in_browser

    source, expected = frozen
    tfjsconv.convert(source, tmp_path / "plain", output_node_names=OUTPUTS)
    tfjsconv.convert(source, tmp_path / "exact", output_node_names=OUTPUTS, exact_special_values=True)
    plain = run_backends_in_browser(tmp_path / "plain", FEEDS, backends=["webgl"], session=browser)[0]["webgl"]
    assert plain.ok, plain.error
    lse, big = (np.asarray(plain.outputs[n], np.float32) for n in OUTPUTS)
    # the deviation (fails if a TF.js or SwiftShader update fixes it): log(2^-127), where TF gives -Inf
    log_2_m127 = np.float32(-127 * np.log(2.0))
    assert np.isclose(lse[0], log_2_m127, rtol=1e-5), lse
    assert np.allclose(big[:2], log_2_m127, rtol=1e-5) and np.allclose(big[8:10], log_2_m127, rtol=1e-5), big[:10]
    # ... and nothing else: the other rows and elements are TF's (NaN for NaN and negatives, +Inf, 0 for 1)
    assert lse[2] == 0 and np.isclose(lse[1], expected["log_sum_exp"][1], rtol=1e-6)
    rest = np.ones(BIG.size, bool)
    rest[BIG == 0] = False
    assert np.allclose(big[rest], expected["log_big"][rest], rtol=1e-6, equal_nan=True)

    exact = run_backends_in_browser(tmp_path / "exact", FEEDS, backends=["webgl"], session=browser)[0]["webgl"]
    assert exact.ok, exact.error
    assert same(exact.outputs["log_sum_exp"][[0, 2]], expected["log_sum_exp"][[0, 2]])
    assert np.isclose(exact.outputs["log_sum_exp"][1], expected["log_sum_exp"][1], rtol=1e-6)
    assert np.allclose(np.asarray(exact.outputs["log_big"], np.float32), expected["log_big"], rtol=1e-6,
                       equal_nan=True)
    assert (np.asarray(exact.outputs["log_big"])[BIG == 0] == -INF).all()
