"""int32 ``Pow`` with a run-time exponent as TensorFlow computes it (session 21, the core ``int32_power`` pass).

TF computes an int32 power by repeated squaring, each product wrapped modulo 2^32 (3^40 is 689956897). TF.js's int32
``Pow`` goes through a float power: cpu rounds past 2^53 (689956864), wasm saturates to INT32_MIN past 2^31, webgl
loses bits past 2^24 (10^7 gives 9999996). The pass rewrites every int32 Pow into square-and-multiply over the
exponent's bits in ops exact on every backend. Expected values: ``tf.raw_ops.Pow`` (a GraphDef through the TF-free
reader), Keras 3 ``ops.power`` / ``**`` and tf_keras ``tf.math.pow`` / ``**`` through the Keras lowering (TF
poisoned), onnxruntime for the ONNX frontend's Pow (left alone: onnxruntime saturates); run in TF.js cpu and wasm,
and on webgl in headless Chromium for the powers below 2^24.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import tfjsconv
from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph
from tfjsconv.passes.int32_power import Int32Power

#: (base, exponent): wrapped past 2^31 and 2^53, 0 ** 0, ±1 to huge powers, exponents up to 2^31 - 1.
EDGES = [(3, 40), (7, 25), (-5, 17), (2, 31), (2, 32), (0, 0), (1, 2**30 + 5), (-1, 2**30 + 1), (-1, 2**30),
         (-1, 7), (-1, 8), (50000, 2), (46341, 4), (301, 3), (3, 2**30 + 3), (5, 2**30 + 2), (2, 2**30),
         (-2**31, 1), (-2**31, 2), (2**31 - 1, 2), (2**31 - 1, 2**31 - 1), (-7, 2**31 - 1), (0, 5), (0, 2**31 - 1),
         (10, 7), (7, 7), (15, 6), (6, 9), (-3, 13), (-7, 8), (12345, 0), (-2**31, 0), (3, 2**30 + 2**29 + 11)]
#: Powers below 2^24 (base and exponent too) that TF.js's webgl Pow gets wrong (measured: 10^7 gives 9999996).
WEBGL_SMALL = [(10, 7), (7, 7), (15, 6), (6, 9), (-3, 13), (-7, 8), (-5, 9), (2, 23), (-2, 23), (-4095, 2),
               (255, 3), (-1, 99999), (0, 0), (1, 12345), (-17, 5), (3, 15), (4093, 2), (-13, 6)]
OUTPUTS = ["power", "power_of_three", "table", "power_13", "power_const"]
N = 128


def _pairs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The edge cases, random int32 bases to random exponents, small bases to exponents up to 40."""
    bases, exponents = (np.int64([p[i] for p in EDGES]) for i in (0, 1))
    rest = N - len(EDGES)
    wide = rest // 2
    bases = np.concatenate([bases, rng.integers(-2**31, 2**31, wide), rng.integers(-20, 21, rest - wide)])
    exponents = np.concatenate([exponents, rng.integers(0, 2**31, wide), rng.integers(0, 41, rest - wide)])
    return bases.astype(np.int32), exponents.astype(np.int32)


X, E = _pairs(np.random.default_rng(2112))
COL = np.int32([[3], [-5], [7], [2], [-1], [50000], [0], [46341]])
ROW = np.int32([[0, 1, 17, 40, 2**30 + 1]])
CONST_EXPONENTS = np.random.default_rng(5).integers(0, 2**31, N).astype(np.int32)


def _build(tf: Any) -> None:
    x = tf.compat.v1.placeholder(tf.int32, [N], name="x")
    e = tf.compat.v1.placeholder(tf.int32, [N], name="e")
    col = tf.compat.v1.placeholder(tf.int32, COL.shape, name="col")
    row = tf.compat.v1.placeholder(tf.int32, ROW.shape, name="row")
    tf.raw_ops.Pow(x=x, y=e, name="power")
    tf.raw_ops.Pow(x=tf.constant(3), y=e, name="power_of_three")  # a constant base
    tf.raw_ops.Pow(x=col, y=row, name="table")  # broadcast to (8, 5)
    tf.raw_ops.Pow(x=x, y=tf.constant(13), name="power_13")
    tf.raw_ops.Pow(x=x, y=tf.constant(CONST_EXPONENTS), name="power_const")


FEEDS = {"x": X, "e": E, "col": COL, "row": ROW}


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """The raw-ops GraphDef and TensorFlow's outputs."""
    pytest.importorskip("tensorflow")
    from tf_models import raw_ops_graph

    return raw_ops_graph(tmp_path_factory.mktemp("int32_power") / "pow.pb", _build, FEEDS, OUTPUTS)


def _ops(folder) -> list[tuple[str, str]]:
    """(op, T) of every node of a converted model."""
    nodes = json.loads((folder / "model.json").read_text())["modelTopology"]["node"]
    return [(n["op"], n.get("attr", {}).get("T", {}).get("type", "")) for n in nodes]


def test_the_expected_values_are_tensorflows_wrap_around(frozen):
    _, expected = frozen
    got = dict(zip([(int(b), int(e)) for b, e in zip(X, E)], expected["power"].tolist()))
    assert got[(3, 40)] == 689956897 and got[(50000, 2)] == -1794967296 and got[(46341, 4)] == 21464689
    assert got[(2, 31)] == -2**31 and got[(2, 32)] == 0 and got[(0, 0)] == 1 and got[(-1, 2**30 + 1)] == -1
    assert got[(7, 25)] == pow(7, 25, 2**32) - 2**32 * (pow(7, 25, 2**32) >= 2**31)


@pytest.mark.node
def test_tensorflow_powers_are_exact_on_cpu_and_wasm(frozen, tmp_path, tfjs_runtime):
    from tf_models import cpu_and_wasm_outputs

    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", FEEDS, OUTPUTS)
    for backend, outputs in (("cpu", cpu), ("wasm", wasm)):
        for name in OUTPUTS:
            wrong = np.flatnonzero(outputs[name].reshape(-1) != expected[name].reshape(-1))
            assert not wrong.size, (backend, name, wrong[:5], outputs[name].reshape(-1)[wrong[:5]])
    assert not [op for op in _ops(tmp_path / "out") if op[0] == "Pow"]


@pytest.mark.node
def test_tfjs_pow_differs_without_the_pass(frozen, tmp_path, tfjs_runtime):
    """The deviation the pass removes (fails if TF.js's int32 Pow becomes exact: the pass could then go)."""
    from tf_models import cpu_and_wasm_outputs

    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"x": X, "e": E}, ["power"],
                                     skip_passes=["int32_power"])
    assert (cpu["power"] != expected["power"]).sum() > 10 and (wasm["power"] != expected["power"]).sum() > 10


def test_the_special_values_line_no_longer_names_pow(frozen, tmp_path):
    source, _ = frozen
    node_only = tfjsconv.convert(source, tmp_path / "node", output_node_names=OUTPUTS, target_backends=["cpu", "wasm"])
    assert not node_only.notices, node_only.notices
    skipped = tfjsconv.convert(source, tmp_path / "skip", output_node_names=OUTPUTS, target_backends=["cpu", "wasm"],
                               skip_passes=["int32_power"])
    assert any("Pow (cpu, wasm)" in n for n in skipped.notices), skipped.notices
    webgl = tfjsconv.convert(source, tmp_path / "all", output_node_names=OUTPUTS)
    assert len(webgl.notices) == 1 and "Pow" not in webgl.notices[0], webgl.notices
    assert "AddV2, Sub, int32 inputs (webgl)" in webgl.notices[0]  # webgl: int32 past 2^24


@pytest.mark.node
def test_a_power_inside_a_while_loop(tmp_path, tfjs_runtime):
    """A Pow in a loop body (lowered to v1 frames): the rewrite's constants live outside the frame."""
    pytest.importorskip("tensorflow")
    from tf_models import cpu_and_wasm_outputs, raw_ops_graph

    feeds = {"x": np.int32([3, -5, 7, 46341, 2, 50000]), "e": np.int32([3, 2, 5, 2, 7, 3])}

    def build(tf: Any) -> None:
        x = tf.compat.v1.placeholder(tf.int32, [6], name="x")
        e = tf.compat.v1.placeholder(tf.int32, [6], name="e")
        _, out = tf.while_loop(lambda i, acc: i < 3, lambda i, acc: (i + 1, tf.raw_ops.Pow(x=acc, y=e) + i),
                               [tf.constant(0), x])
        tf.identity(out, name="out")

    source, expected = raw_ops_graph(tmp_path / "loop.pb", build, feeds, ["out"])
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", feeds, ["out"])
    assert np.array_equal(cpu["out"], expected["out"]) and np.array_equal(wasm["out"], expected["out"])


def _single_pow(exponent: np.ndarray | None = None, dtype: DType = DType.INT32) -> Graph:
    """``Pow(x, e)`` of two inputs (or of ``x`` and the constant ``exponent``), of ``dtype``."""
    graph = Graph()
    x = graph.add_op("Placeholder", [], {"dtype": dtype}, name="x", dtype=dtype, shape=(N,))
    graph.inputs["x"] = x
    if exponent is None:
        e = graph.add_op("Placeholder", [], {"dtype": dtype}, name="e", dtype=dtype, shape=(N,))
        graph.inputs["e"] = e
    else:
        e = graph.const(exponent, name="e")
    graph.outputs["power"] = graph.add_op("Pow", [x, e], {"T": dtype}, name="power", dtype=dtype, shape=(N,))
    return graph


def _truncated_powers(bases: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """The documented values for negative exponents (TF raises): 1 for base 1, ±1 for -1 by parity, else 0."""
    odd = exponents % 2 == 1
    return np.where(bases == 1, 1, np.where(bases == -1, np.where(odd, -1, 1), 0)).astype(np.int32)


@pytest.mark.node
def test_negative_exponents_give_the_truncated_power(tmp_path, tfjs_runtime):
    tf = pytest.importorskip("tensorflow")
    from tfjsconv.verify.run import run_model

    with pytest.raises(tf.errors.InvalidArgumentError, match="negative integer powers"):
        tf.raw_ops.Pow(x=tf.constant([2]), y=tf.constant([-1]))
    bases = np.resize(np.int32([1, -1, -1, 0, 2, -2, 3, 2**31 - 1, -2**31, 7]), N)
    exponents = np.resize(np.int32([-1, -1, -2, -1, -1, -3, -2**31, -7, -1, -2**31 + 1, -2**30, -4]), N)
    tfjsconv.convert(_single_pow(), tmp_path / "out")
    runs = run_model(tmp_path / "out", {"x": bases, "e": exponents}, backends=["cpu", "wasm"], quiet=True)
    want = _truncated_powers(bases, exponents)
    for backend, run in runs.backends.items():
        assert run.ok, run.error
        assert np.array_equal(np.asarray(run.outputs["power"]).reshape(-1), want), backend


def test_node_count_of_one_run_time_power(tmp_path):
    """Documented cost (docs/passes.md): about 560 nodes for one Pow of a run-time exponent, 31 exponent bits; a
    constant exponent only its own bits (x ** 13: under 50)."""
    tfjsconv.convert(_single_pow(), tmp_path / "tensor")
    tfjsconv.convert(_single_pow(np.int32(13)), tmp_path / "thirteen")
    assert 450 < len(_ops(tmp_path / "tensor")) <= 580
    assert len(_ops(tmp_path / "thirteen")) <= 50


def test_float_and_onnx_powers_are_left_alone():
    graph = _single_pow(dtype=DType.FLOAT32)
    assert not Int32Power().run(graph) and [n.op for n in graph.nodes].count("Pow") == 1
    graph = _single_pow()
    graph.metadata["onnx"] = {}
    assert not Int32Power().run(graph) and [n.op for n in graph.nodes].count("Pow") == 1
    assert Int32Power().run(_single_pow())


@pytest.mark.node
def test_onnx_int32_pow_keeps_onnxruntimes_values(tmp_path, tfjs_runtime):
    """onnxruntime's int32 Pow computes in double and casts (INT32_MIN past 2^31, as TF.js's wasm Pow): the ONNX
    frontend's Pow is not rewritten to TF's wrap-around, and the powers within int32 stay exact."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper

    from onnx_models import onnx_model
    from tfjsconv.verify.run import run_model

    path = onnx_model(tmp_path / "pow.onnx", [helper.make_node("Pow", ["x", "e"], ["power"])],
                      {"x": (TP.INT32, [8]), "e": (TP.INT32, [8])}, ["power"], opset=15)
    feeds = {"x": np.int32([3, -5, 2, 0, 1, -1, 46340, 50000]), "e": np.int32([19, 13, 30, 0, 2**30, 2**30 + 1, 2, 2])}
    want = ort.InferenceSession(str(path)).run(None, feeds)[0]
    assert want[-1] == -2**31  # saturated where TF wraps
    tfjsconv.convert(path, tmp_path / "out")
    assert ("Pow", "DT_INT32") in _ops(tmp_path / "out")
    runs = run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, run.error
        assert np.array_equal(np.asarray(run.outputs["power"])[:-1], want[:-1]), backend
    assert np.array_equal(np.asarray(runs.backends["wasm"].outputs["power"]), want)


def test_webgl_powers_below_2_24_are_exact(tmp_path, browser):
    """webgl holds int32 as float32: powers below 2^24 come out exact (TF.js's own Pow: 10^7 is 9999996)."""
    tf = pytest.importorskip("tensorflow")
    from tfjsconv.serve.browser import run_backends_in_browser

    bases, exponents = (np.resize(np.int32([p[i] for p in WEBGL_SMALL]), N) for i in (0, 1))
    want = tf.raw_ops.Pow(x=tf.constant(bases), y=tf.constant(exponents)).numpy()
    assert np.abs(want.astype(np.int64)).max() < 2**24
    tfjsconv.convert(_single_pow(), tmp_path / "out")
    run = run_backends_in_browser(tmp_path / "out", {"x": bases, "e": exponents}, backends=["webgl"],
                                  session=browser)[0]["webgl"]
    assert run.ok, run.error
    assert np.array_equal(np.asarray(run.outputs["power"]).reshape(-1), want)


# --- Keras: tensor powers through the lowering (TF, Keras and tf_keras poisoned while converting) ---------------

keras = pytest.importorskip("keras")
from keras_models import _is_keras3  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "tf_keras.h5"]


def tensor_powers(k: Any) -> Any:
    x = k.Input((8,), name="x", dtype="int32")
    y = k.Input((8,), name="y", dtype="int32")
    if _is_keras3(k):
        outputs = [k.ops.power(x, y), x ** y, k.ops.power(x, 13)]
    else:
        import tensorflow as tf

        outputs = [tf.math.pow(x, y), x ** y, tf.math.pow(x, 13)]
    return k.Model([x, y], outputs)


def _keras_inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    x = np.resize(X, (batch, 8))
    y = np.resize(E, (batch, 8))
    x[-1] = rng.integers(-2**31, 2**31, 8, dtype=np.int64).astype(np.int32)
    y[-1] = rng.integers(0, 2**31, 8, dtype=np.int64).astype(np.int32)
    return {"x": x, "y": y}


KERAS_CASES = [("tensor_powers", flavor) for flavor in FLAVORS]
converted = converted_fixture("int32_power_s21", KERAS_CASES,
                              two_size_saver({"tensor_powers": tensor_powers}, at_runs(_keras_inputs, [(5,), (3,)]),
                                             seed=2121))


@pytest.mark.node
@each_case(KERAS_CASES)
def test_keras_tensor_powers_wrap_as_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    inputs, outputs = runs[0]
    assert outputs[0][0, 0] == 689956897 and (outputs[0] == outputs[1]).all()  # 3 ** 40, wrapped by Keras too
    verify_runs(path, runs)
