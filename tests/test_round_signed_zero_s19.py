"""TF.js's cpu and webgl ``Round`` give +0 for -0.5, where TF's half to even keeps the sign (-0).

Found by session 19's keras.ops probe (helper H2: ``1 / round(x)`` was +Inf where Keras gives -Inf). The Keras
lowering works around it for ``round``, but a SavedModel, GraphDef or ONNX ``Round`` (and ``Rint``, which the TF
frontend writes as ``Round``) met it silently. Measured against ``tf.raw_ops.Round``: cpu gives +0 for -0.5 (its tie
branch computes ``floor(x) + 1``), webgl for -0.5 and -0.49999997 (SwiftShader), wasm keeps the sign; ``Floor``,
``Ceil`` and ``Sign`` match TF's signed zeros on every backend. One op alone cannot show it in the conformance table
(its comparison reads -0 and +0 as the same number), so the contract rows have no case: this file measures them.
The rows are exact: ``--exact_special_values`` writes ``SelectV2(x < 0, -Abs(Round(x)), Round(x))``.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
X = np.float32([-0.0, 0.0, -0.5, -0.49999997, -0.3, -1e-30, -1.5, -2.5, 0.5, 2.5, -3.5, np.nan, -np.inf, np.inf])
OUTPUTS = ["round", "rint", "floor", "ceil", "recip_round"]
#: What TF.js gives +0 for where TF gives -0.
CPU_PLUS_ZERO, WEBGL_PLUS_ZERO = [2], [2, 3]


def _build(shape: tuple[int, ...]):
    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.float32, shape, name="x")
        rounded = tf.raw_ops.Round(x=x, name="round")
        tf.raw_ops.Rint(x=x, name="rint")
        tf.raw_ops.Floor(x=x, name="floor")
        tf.raw_ops.Ceil(x=x, name="ceil")
        tf.raw_ops.RealDiv(x=tf.constant(1.0), y=rounded, name="recip_round")  # the sign, readable as ±Inf
    return build


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """Round, Rint, Floor, Ceil and ``1 / Round(x)`` of ``x`` as a GraphDef, and TF's outputs."""
    return raw_ops_graph(tmp_path_factory.mktemp("round") / "round.pb", _build(X.shape), {"x": X}, OUTPUTS)


def _same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal values, NaNs and signs of zero."""
    got, want = np.asarray(got, np.float32).ravel(), np.asarray(want, np.float32).ravel()
    return np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))


def test_tf_keeps_the_sign_of_zero(frozen):
    _, expected = frozen
    assert np.signbit(expected["round"][[0, 2, 3, 4, 5]]).all() and not np.signbit(expected["round"][[1, 8]]).any()
    assert _same_bits(expected["rint"], expected["round"])
    assert np.isneginf(expected["recip_round"][2]) and np.isposinf(expected["recip_round"][8])


def test_the_notice_names_round_on_cpu_and_webgl(frozen, tmp_path):
    source, _ = frozen
    cpu = tfjsconv.convert(source, tmp_path / "cpu", output_node_names=OUTPUTS, target_backends=["cpu"])
    assert len(cpu.notices) == 1 and "the sign of zero in Round (cpu);" in cpu.notices[0], cpu.notices
    assert "NaN/Inf" not in cpu.notices[0], cpu.notices  # Round's only row is the sign of zero
    wasm = tfjsconv.convert(source, tmp_path / "wasm", output_node_names=OUTPUTS, target_backends=["wasm"])
    assert wasm.notices == [], wasm.notices
    every = tfjsconv.convert(source, tmp_path / "all", output_node_names=OUTPUTS)
    assert "Round (cpu, webgl)" in every.notices[0] and "rewrites Round" in every.notices[0], every.notices
    exact = tfjsconv.convert(source, tmp_path / "exact", output_node_names=OUTPUTS, exact_special_values=True)
    assert not any("Round" in n for n in exact.notices), exact.notices  # Rint included: it is a Round
    assert {s.name: s.changes for s in exact.pass_report.stats}["exact_special_values"] == 2


def test_cpu_gives_plus_zero_for_minus_one_half(frozen, tmp_path, tfjs_runtime):
    """The deviation the line names (fails if a TF.js update keeps the sign on cpu); wasm, Floor and Ceil keep it."""
    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"x": X}, OUTPUTS)
    for name in ("round", "rint"):
        assert np.array_equal(cpu[name], expected[name], equal_nan=True)  # the same numbers...
        wrong = np.flatnonzero(np.signbit(cpu[name]) != np.signbit(expected[name]))
        assert wrong.tolist() == CPU_PLUS_ZERO, (name, cpu[name])  # ...but +0 for -0.5
        assert _same_bits(wasm[name], expected[name]), (name, wasm[name])
    assert np.isposinf(cpu["recip_round"][2]) and np.isneginf(expected["recip_round"][2])
    for name in ("floor", "ceil"):
        assert _same_bits(cpu[name], expected[name]) and _same_bits(wasm[name], expected[name]), name


def test_webgl_gives_plus_zero_near_minus_one_half(frozen, tmp_path, browser):
    """On the shaders (the page returns JSON, which drops -0: the sign is read from ``1 / Round(x)``)."""
    from tfjsconv.serve.browser import run_backends_in_browser

    source, expected = frozen
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS, target_backends=["webgl"])
    run = run_backends_in_browser(tmp_path / "out", {"x": X}, backends=["webgl"], session=browser,
                                  flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
    assert run.ok, run.error
    got, want = np.asarray(run.outputs["recip_round"], np.float32), expected["recip_round"]
    wrong = np.flatnonzero(~((got == want) | (np.isnan(got) & np.isnan(want))))
    assert wrong.tolist() == WEBGL_PLUS_ZERO and np.isposinf(got[WEBGL_PLUS_ZERO]).all(), got


@pytest.mark.parametrize("shape", [X.shape, (1, 2, 1, 7, 1)], ids=["rank1", "rank5"])
def test_the_exact_rewrite_keeps_tf_signs(shape, tmp_path, browser):
    """With ``--exact_special_values`` cpu, wasm and webgl give TF's signed zeros; rank 5 selects over the flattened
    tensors (webgl's select stops at rank 4), so the default targets convert it."""
    from tfjsconv.serve.browser import run_backends_in_browser

    x = X.reshape(shape)
    source, expected = raw_ops_graph(tmp_path / "round.pb", _build(shape), {"x": x}, OUTPUTS)
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"x": x}, OUTPUTS, exact_special_values=True)
    for name in OUTPUTS:
        assert _same_bits(cpu[name], expected[name]) and _same_bits(wasm[name], expected[name]), (name, cpu[name])
    run = run_backends_in_browser(tmp_path / "out", {"x": x}, backends=["webgl"], session=browser,
                                  flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
    assert run.ok, run.error
    got = np.asarray(run.outputs["recip_round"], np.float32).ravel()
    assert np.array_equal(got, expected["recip_round"].ravel(), equal_nan=True), got


def _build_blind(tf) -> None:
    """Rounds whose -0 nothing shows (an int32 cast after a clip, the sign-restoring select the Keras lowering writes
    for ``round``)."""
    x = tf.compat.v1.placeholder(tf.float32, FINITE.shape, name="x")
    clipped = tf.raw_ops.Maximum(x=tf.raw_ops.Round(x=x), y=tf.constant(-100.0))
    tf.raw_ops.Cast(x=clipped, DstT=tf.int32, name="as_int")
    rounded = tf.raw_ops.Round(x=x)
    negative = tf.raw_ops.Less(x=x, y=tf.constant(0.0))
    tf.raw_ops.SelectV2(condition=negative, t=tf.raw_ops.Neg(x=tf.raw_ops.Abs(x=rounded)), e=rounded, name="restored")


FINITE = X[:11]
BLIND = ["as_int", "restored"]


def test_a_round_whose_zero_sign_nothing_shows_is_not_named(tmp_path):
    """The contract names a Round only where its -0 can show: not before an integer cast or inside the select that
    restores the sign (ONNX quantizers, ``narrow_ints``' quotients, the Keras lowering's ``round``); the flag leaves
    those Rounds alone. A Round whose product is a divisor is named."""
    import json

    source, _ = raw_ops_graph(tmp_path / "blind.pb", _build_blind, {"x": FINITE}, BLIND)
    quiet = tfjsconv.convert(source, tmp_path / "quiet", output_node_names=BLIND)
    assert not any("Round" in n for n in quiet.notices), quiet.notices
    tfjsconv.convert(source, tmp_path / "flag", output_node_names=BLIND, exact_special_values=True)
    nodes = json.loads((tmp_path / "flag" / "model.json").read_text())["modelTopology"]["node"]
    rounds = [n["name"] for n in nodes if n["op"] == "Round"]  # one: the two Rounds of x merge
    assert rounds and not any(name.endswith("_kept") for name in rounds), rounds

    def build_shown(tf) -> None:
        x = tf.compat.v1.placeholder(tf.float32, X.shape, name="x")
        scaled = tf.raw_ops.Mul(x=tf.raw_ops.Round(x=x), y=tf.constant(2.0))
        tf.raw_ops.RealDiv(x=tf.constant(1.0), y=scaled, name="shown")

    shown, _ = raw_ops_graph(tmp_path / "shown.pb", build_shown, {"x": X}, ["shown"])
    named = tfjsconv.convert(shown, tmp_path / "named", output_node_names=["shown"], target_backends=["cpu"])
    assert len(named.notices) == 1 and "Round (cpu)" in named.notices[0], named.notices


def test_the_restoring_select_is_right_on_cpu_and_wasm(tmp_path, tfjs_runtime):
    """What leaves that Round unnamed: the select gives TF's signed zeros on cpu and wasm, the cast TF's integers."""
    source, expected = raw_ops_graph(tmp_path / "blind.pb", _build_blind, {"x": FINITE}, BLIND)
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"x": FINITE}, BLIND)
    assert _same_bits(cpu["restored"], expected["restored"]) and _same_bits(wasm["restored"], expected["restored"])
    assert np.array_equal(cpu["as_int"], expected["as_int"]) and np.array_equal(wasm["as_int"], expected["as_int"])
