"""TF.js differences the contract now knows from its data, not only from the passes that avoid them.

- wasm's ``Prelu`` reads ``alpha[i % alpha.size]`` (probe limit ``tiles:1,0``): a model holding a ``Prelu`` whose
  alpha does not tile x's trailing axes is refused on wasm by name, and converts for cpu, where it matches TF.
- webgl's ``Max``/``Min`` reduce shader starts at ∓1e20, so rows beyond that reduce to ∓1e20 and webgl's
  ``Softmax`` of such a row is all ones (probe quirks ``beyond_1e20``): special-value deviations every conversion
  targeting webgl names. The browser test shows webgl still does it (if a TF.js update fixes it, it fails).
Expected values come from TF (``tf.nn.relu``, ``tf.reduce_max``, ``tf.nn.softmax``).
"""
from __future__ import annotations

import numpy as np
import pytest

import tfjsconv
from tfjsconv.dtypes import DType
from tfjsconv.errors import BackendUnsupportedError
from tfjsconv.ir import Graph
from tfjsconv.ops.backends import BackendContract, tiles_trailing
from tfjsconv.ops.special_values import found_in

tf = pytest.importorskip("tensorflow")

X = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32)


@pytest.mark.parametrize("alpha, x, tiles", [((4,), (2, 3, 4), True), ((3, 4), (2, 3, 4), True),
                                             ((1, 1, 4), (2, 3, 4), True), ((1,), (2, 3, 4), True), ((), (5,), True),
                                             ((3, 1), (2, 3, 4), False), ((1, 3, 1), (2, 3, 4), False),
                                             ((2, 3, 4, 1), (3, 4), False), ((None,), (2, None), None)])
def test_tiles_trailing(alpha, x, tiles):
    assert tiles_trailing(alpha, x) is tiles


def prelu_graph(alpha: np.ndarray) -> Graph:
    g = Graph("prelu")
    x = g.placeholder("x", DType.FLOAT32, X.shape)
    node = g.add_node("Prelu", [x, g.const(alpha, name="alpha")], {"T": DType.FLOAT32}, name="prelu")
    g.set_output("y", node.output(0))
    return g


def test_a_prelu_whose_alpha_does_not_tile_is_refused_on_wasm_only(tmp_path):
    contract = BackendContract.load()
    wrong = prelu_graph(np.full((3, 1), 0.2, np.float32))
    problems = contract.unsupported(wrong, ["cpu", "wasm", "webgl"])
    assert [(p.op, p.node, p.backend) for p in problems] == [("Prelu", "prelu", "wasm")], problems
    assert "tiles:1,0=false" in problems[0].reason
    with pytest.raises(BackendUnsupportedError, match=r"Prelu on wasm \(input:0=float32, tiles:1,0=false gives a wrong answer\): prelu"):
        tfjsconv.convert(wrong, tmp_path / "refused")
    assert contract.unsupported(prelu_graph(np.full((4,), 0.2, np.float32)), ["wasm"]) == []


@pytest.mark.node
def test_the_refused_prelu_is_right_on_cpu_and_wrong_on_wasm(tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import verify_model

    alpha = np.asarray([[0.1], [0.5], [2.0]], np.float32)
    expected = {"y": (tf.nn.relu(X) - alpha * tf.nn.relu(-X)).numpy()}  # Keras's PReLU
    tfjsconv.convert(prelu_graph(alpha), tmp_path / "cpu", target_backends=["cpu"])
    report = verify_model(tmp_path / "cpu", {"x": X}, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=0.0)
    assert {c.backend: c.passed for c in report.comparisons} == {"cpu": True, "wasm": False}


def reduce_graph() -> Graph:
    g = Graph("beyond")
    x = g.placeholder("x", DType.FLOAT32, BEYOND.shape)
    axis = g.const(np.asarray([1], np.int32), name="axis")
    attrs = {"T": DType.FLOAT32, "Tidx": DType.INT32, "keep_dims": False}
    for op, value in (("Max", x), ("Min", g.add_op("Neg", [x], {"T": DType.FLOAT32}, name="negated"))):
        g.set_output(op.lower(), g.add_node(op, [value, axis], attrs, name=op.lower()).output(0))
    g.set_output("softmax", g.add_node("Softmax", [x], {"T": DType.FLOAT32}, name="softmax").output(0))
    return g


#: Rows all below -1e20 (and a normal one); 64 rows, so that webgl runs its shaders, not its CPU kernels.
BEYOND = np.tile(np.asarray([[-1e30, -2e30, -3e30], [-3e38] * 3, [-np.inf, -1e25, -np.inf], [1, 2, 3]], np.float32),
                 (16, 1))


def test_webgl_reductions_beyond_1e20_are_named_deviations(tmp_path):
    found = {(d.op, d.backend) for d in found_in(reduce_graph(), ["cpu", "wasm", "webgl"])}
    assert {("Max", "webgl"), ("Min", "webgl"), ("Softmax", "webgl")} <= found
    assert not {("Max", "cpu"), ("Max", "wasm"), ("Min", "cpu"), ("Min", "wasm")} & found
    result = tfjsconv.convert(reduce_graph(), tmp_path / "m")
    assert len(result.notices) == 1 and "Max, Min (webgl)" in result.notices[0], result.notices
    assert "Softmax (cpu, wasm, webgl)" in result.notices[0] and "values past ±1e20 or int32" in result.notices[0]
    cpu_only = tfjsconv.convert(reduce_graph(), tmp_path / "cpu", target_backends=["cpu", "wasm"])
    assert not any("Max" in n or "Min" in n for n in cpu_only.notices), cpu_only.notices


def test_webgl_still_reduces_rows_beyond_1e20_wrongly(tmp_path, browser):
    from tfjsconv.verify.compare import verify_model

    expected = {"max": tf.reduce_max(BEYOND, axis=1).numpy(), "min": tf.reduce_min(-BEYOND, axis=1).numpy(),
                "softmax": tf.nn.softmax(BEYOND).numpy()}
    tfjsconv.convert(reduce_graph(), tmp_path / "m")
    report = verify_model(tmp_path / "m", {"x": BEYOND}, expected, backends=("webgl",), rtol=1e-5, atol=1e-6,
                          browser_session=browser)
    assert {c.name for c in report.comparisons if not c.passed} == {"max", "min", "softmax"}
    max_row = report.runs["webgl"].outputs["max"]
    assert np.allclose(max_row[:3], -1e20, rtol=1e-6) and max_row[3] == 3  # the shader's start value
