"""int32 ``Pow``, ``SquaredDifference`` and matmuls past 2^31 / 2^53: TF wraps modulo 2^32, TF.js does not.

Found by session 19's tf_keras TFOpLambda probe (``tf.math.pow`` / ``x ** y`` and ``tf.math.squared_difference`` of
int32 tensors), but any SavedModel, GraphDef or ONNX conversion holding such a node meets it: TF.js's cpu ``Pow`` is
JS ``Math.pow`` (float64: low bits lost past 2^53, 46341^4 gives 21465088 where TF gives 21464689), its wasm ``Pow``
saturates to INT32_MIN past 2^31 (50000^2: TF -1794967296), and its cpu ``SquaredDifference``, ``MatMul`` and
``BatchMatMulV2`` multiply (and add) in float64 (100000001^2: TF 2074919425, cpu 2074919424); webgl holds int32 as
float32. None was named. They are now contract deviations (conformance cases ``Pow/i32_overflow``,
``SquaredDifference/i32_overflow``, ``MatMul/i32_wide``, ``BatchMatMulV2/i32_wide``): the special-values line names
them, and ``--exact_special_values`` cannot rewrite them (as the other int32 rows). Session 21: the ``int32_power``
pass rewrites every int32 Pow of a TF graph into exact int32 ops (tests/test_int32_power_s21.py); the Pow rows stay for
the Pow nodes left (the ONNX frontend's, or with the pass skipped), which is how they are measured here.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
#: Bases and exponents: past 2^53 (46341^4, 3^40), past 2^31 (50000^2, -50000^3, 2^31), past 2^24 only (301^3), small.
BASES = np.int32([[46341, 3, 50000, -50000, 2, 301, 3, -7]])
EXPONENTS = np.int32([[4, 40, 2, 3, 31, 3, 5, 3]])
#: Squared differences past 2^53 (100000001^2, 94906267^2), past 2^24 only (5001^2 = 25010001), small.
X = np.int32([[100000001, 94906267, 5000, 7, 1 << 30, 0, -3, 12]])
Y = np.int32([[0, 0, -1, 3, -(1 << 30), 5, 4, 12]])
FEEDS = {"base": BASES, "exponent": EXPONENTS, "x": X, "y": Y}
OUTPUTS = ["pow", "squared_difference"]
#: TF.js's own int32 Pow kernel, as the Pow rows describe it (the int32_power pass would rewrite it away)
KERNEL = {"skip_passes": ["int32_power"]}
PAST_2_53 = {"pow": [0, 1], "squared_difference": [0, 1]}  # columns a float64 product rounds
SMALL = {"pow": [6, 7], "squared_difference": [3, 5, 6, 7]}  # columns every backend gets right
#: A matmul whose first sum passes 2^53 (134217729 · 67108865 + 2), as the conformance case ``MatMul/i32_wide``.
A = np.int32([[134217729, 2, 0], [3, 4, 5]])
B = np.int32([[67108865, 1], [1, 2], [7, 3]])


def _wrapped(value: int) -> int:
    """``value`` modulo 2^32 as an int32 (TF's int32 arithmetic)."""
    return (value + 2**31) % 2**32 - 2**31


def _build(tf) -> None:
    placeholders = {name: tf.compat.v1.placeholder(tf.int32, value.shape, name=name) for name, value in FEEDS.items()}
    tf.raw_ops.Pow(x=placeholders["base"], y=placeholders["exponent"], name="pow")
    tf.raw_ops.SquaredDifference(x=placeholders["x"], y=placeholders["y"], name="squared_difference")


def _build_matmul(tf) -> None:
    a = tf.compat.v1.placeholder(tf.int32, A.shape, name="a")
    b = tf.compat.v1.placeholder(tf.int32, B.shape, name="b")
    tf.raw_ops.MatMul(a=a, b=b, name="matmul")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """``pow = Pow(base, exponent)`` and ``squared_difference = SquaredDifference(x, y)`` (int32) as a GraphDef."""
    return raw_ops_graph(tmp_path_factory.mktemp("int32_pow") / "pow.pb", _build, FEEDS, OUTPUTS)


@pytest.fixture(scope="module")
def frozen_matmul(tmp_path_factory):
    return raw_ops_graph(tmp_path_factory.mktemp("int32_matmul") / "matmul.pb", _build_matmul, {"a": A, "b": B},
                         ["matmul"])


def test_tf_wraps_modulo_2_32(frozen, frozen_matmul):
    _, expected = frozen
    pows = [_wrapped(int(b) ** int(e)) for b, e in zip(BASES[0], EXPONENTS[0])]
    squares = [_wrapped((int(a) - int(b)) ** 2) for a, b in zip(X[0], Y[0])]
    assert expected["pow"][0].tolist() == pows and expected["squared_difference"][0].tolist() == squares
    assert pows[:3] == [21464689, 689956897, -1794967296] and squares[0] == 2074919425
    product = [[_wrapped(sum(int(A[i, k]) * int(B[k, j]) for k in range(3))) for j in range(2)] for i in range(2)]
    assert frozen_matmul[1]["matmul"].tolist() == product


def test_the_notice_names_them_on_the_backends_that_deviate(frozen, frozen_matmul, tmp_path):
    source, _ = frozen
    cpu = tfjsconv.convert(source, tmp_path / "cpu", output_node_names=OUTPUTS, target_backends=["cpu"], **KERNEL)
    assert len(cpu.notices) == 1 and "in Pow, SquaredDifference (cpu);" in cpu.notices[0], cpu.notices
    wasm = tfjsconv.convert(source, tmp_path / "wasm", output_node_names=OUTPUTS, target_backends=["wasm"], **KERNEL)
    assert len(wasm.notices) == 1 and "in Pow (wasm);" in wasm.notices[0], wasm.notices  # wasm squares exactly
    every = tfjsconv.convert(source, tmp_path / "all", output_node_names=OUTPUTS, exact_special_values=True,
                             **KERNEL)
    line = every.notices[0]  # no rewrite makes them exact: named under the flag too
    assert "Pow (cpu, wasm, webgl)" in line and "SquaredDifference (cpu, webgl)" in line, every.notices
    matmul = tfjsconv.convert(frozen_matmul[0], tmp_path / "matmul", output_node_names=["matmul"],
                              target_backends=["cpu", "webgl"])
    assert "MatMul (cpu, webgl)" in matmul.notices[0], matmul.notices


def test_a_float_pow_is_not_named_for_int32(tmp_path):
    """The new rows are int32 rows: a float32 Pow keeps only its NaN rows (cpu: exact under the flag)."""
    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.float32, (3,), name="x")
        tf.raw_ops.Pow(x=x, y=x, name="pow")

    source, _ = raw_ops_graph(tmp_path / "f32.pb", build, {"x": np.float32([1, 2, 3])}, ["pow"])
    wasm = tfjsconv.convert(source, tmp_path / "wasm", output_node_names=["pow"], target_backends=["wasm"])
    assert wasm.notices == [], wasm.notices


def test_cpu_and_wasm_differ_from_tf_where_the_rows_say(frozen, tmp_path, tfjs_runtime):
    """The deviations the line names (fails if a TF.js update computes int32 powers or squares exactly)."""
    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", FEEDS, OUTPUTS, **KERNEL)
    for name in OUTPUTS:
        want = expected[name][0]
        for columns in (SMALL[name],):
            assert np.array_equal(cpu[name][0][columns], want[columns]), (name, cpu[name], want)
            assert np.array_equal(wasm[name][0][columns], want[columns]), (name, wasm[name], want)
        past = PAST_2_53[name]
        assert (cpu[name][0][past] != want[past]).all(), (name, cpu[name], want)
    assert cpu["pow"][0][[2, 3, 4]].tolist() == expected["pow"][0][[2, 3, 4]].tolist()  # below 2^53: wrapped right
    assert (wasm["pow"][0][[0, 1, 2, 3]] == -2**31).all(), wasm["pow"]  # saturated where TF wraps
    assert np.array_equal(wasm["squared_difference"], expected["squared_difference"])  # wasm: exact


def test_cpu_matmul_rounds_past_2_53(frozen_matmul, tmp_path, tfjs_runtime):
    from tfjsconv.verify.run import run_model

    source, expected = frozen_matmul
    tfjsconv.convert(source, tmp_path / "out", output_node_names=["matmul"], target_backends=["cpu"])
    run = run_model(tmp_path / "out", {"a": A, "b": B}, backends=["cpu"], quiet=True).backends["cpu"]
    assert run.ok, run.error
    got, want = np.asarray(run.outputs["matmul"]), expected["matmul"]
    assert got[0, 0] != want[0, 0] and np.array_equal(got[1], want[1]), (got, want)


def test_webgl_loses_their_low_bits_past_2_24(frozen, tmp_path, browser):
    """On the shaders (WEBGL_CPU_FORWARD off, as a real model's tensors are), for inputs below 2^24 (so the "int32
    inputs" row is not what shows): 301^3 and 5001^2 are odd numbers past 2^24."""
    from tfjsconv.serve.browser import run_backends_in_browser

    source, expected = frozen
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS, target_backends=["webgl"], **KERNEL)
    run = run_backends_in_browser(tmp_path / "out", FEEDS, backends=["webgl"], session=browser,
                                  flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
    assert run.ok, run.error
    got = {name: np.asarray(run.outputs[name]).reshape(expected[name].shape)[0] for name in OUTPUTS}
    assert got["pow"][5] != expected["pow"][0][5] and got["squared_difference"][2] != expected["squared_difference"][0][2]
    assert np.array_equal(got["pow"][[6, 7]], expected["pow"][0][[6, 7]]), got


#: int32 sums past 2^24 of values below it (so the "int32 inputs" row is not what shows): 2 · 8388609 + 8388611 =
#: 25165829, 16777215 + 2, and the running sum 8388609 + 16777215 + 8388609 = 33554433, numbers float32 cannot hold.
SUMMANDS = {"a": np.int32([[8388609, 16777215, 8388609, 5]]), "b": np.int32([[8388611, 2, 8388611, 7]])}
BIAS = np.int32([2, 2, 1, 3])
SUMS = ["add_n", "bias_add", "cumsum"]


def _build_sums(tf) -> None:
    a = tf.compat.v1.placeholder(tf.int32, (1, 4), name="a")
    b = tf.compat.v1.placeholder(tf.int32, (1, 4), name="b")
    tf.raw_ops.AddN(inputs=[a, b, a], name="add_n")
    tf.raw_ops.BiasAdd(value=a, bias=tf.constant(BIAS), name="bias_add")
    tf.raw_ops.Cumsum(x=a, axis=tf.constant(1), name="cumsum")


def test_webgl_int32_sums_past_2_24(tmp_path, browser):
    """webgl's ``AddN``, ``BiasAdd`` and ``Cumsum`` rows (int32): sums of values below 2^24 that pass it differ on the
    shaders, small ones do not; cpu and wasm wrap as TF does. The line names them for webgl only."""
    from tfjsconv.serve.browser import run_backends_in_browser
    from tfjsconv.verify.run import run_model

    source, expected = raw_ops_graph(tmp_path / "sums.pb", _build_sums, SUMMANDS, SUMS)
    assert expected["add_n"][0, 0] == 25165829 and expected["bias_add"][0, 1] == 16777217
    result = tfjsconv.convert(source, tmp_path / "out", output_node_names=SUMS)
    assert "AddN, BiasAdd, Cumsum" in result.notices[0] and "(webgl)" in result.notices[0], result.notices
    node = tfjsconv.convert(source, tmp_path / "node", output_node_names=SUMS, target_backends=["cpu", "wasm"])
    assert not any(op in n for n in node.notices for op in ("AddN", "BiasAdd", "Cumsum")), node.notices
    for backend, run in run_model(tmp_path / "node", SUMMANDS, backends=["cpu", "wasm"], quiet=True).backends.items():
        assert run.ok and all(np.array_equal(np.asarray(run.outputs[n]), expected[n]) for n in SUMS), backend
    run = run_backends_in_browser(tmp_path / "out", SUMMANDS, backends=["webgl"], session=browser,
                                  flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
    assert run.ok, run.error
    for name, past, small in (("add_n", 0, 3), ("bias_add", 1, 3), ("cumsum", 2, 0)):
        got = np.asarray(run.outputs[name]).reshape(expected[name].shape)[0]
        assert got[past] != expected[name][0][past] and got[small] == expected[name][0][small], (name, got)
