"""onnxruntime's references for uint8·int8 products are exact on every x86 CPU (``plugins/onnx/exact_products.py``).

On a CPU without VNNI onnxruntime sums adjacent uint8·int8 products in saturating int16; the reference
(``tfjsconv verify``, and the tests' ``onnxruntime_outputs``) hands it the same model with the int8 operands as
uint8 (+128, zero points +128). Checked against the ONNX definitions: ``MatMulInteger`` is integer arithmetic
(int64 here), and a DequantizeLinear → Conv pair is what onnxruntime computes without graph optimizations.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto as TP  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

from onnx_models import onnx_model  # noqa: E402

from tfjsconv.plugins.onnx.exact_products import exact_integer_products  # noqa: E402
from tfjsconv.plugins.onnx.reference import reference_session  # noqa: E402

K = 600


def _products_model(tmp_path: Path) -> Path:
    """``a`` (uint8) times an int8 weight, and times an int8 tensor the graph computes (QuantizeLinear)."""
    rng = np.random.default_rng(7)
    weight = rng.integers(-128, 128, (K, 3)).astype(np.int8)
    weight[:, 0] = 125  # 254·125 pairs: 63 500, past int16
    nodes = [helper.make_node("MatMulInteger", ["a", "w", "a_zp", "w_zp"], ["by_weight"]),
             helper.make_node("QuantizeLinear", ["f", "f_scale", "f_zp"], ["f_q"]),
             helper.make_node("MatMulInteger", ["a", "f_q", "a_zp"], ["by_computed"])]
    inits = {"w": weight, "w_zp": np.array(-3, np.int8), "a_zp": np.array(3, np.uint8),
             "f_scale": np.array(0.01, np.float32), "f_zp": np.array(0, np.int8)}
    return onnx_model(tmp_path / "products.onnx", nodes, {"a": (TP.UINT8, [2, K]), "f": (TP.FLOAT, [K, 2])},
                      ["by_weight", "by_computed"], opset=13, initializers=inits)


def test_uint8_int8_products_match_the_integer_definition(tmp_path):
    path = _products_model(tmp_path)
    rng = np.random.default_rng(8)
    feeds = {"a": np.concatenate([np.full((1, K), 254), rng.integers(0, 256, (1, K))]).astype(np.uint8),
             "f": np.where(rng.random((K, 2)) < 0.5, 1.26, -1.27).astype(np.float32)}
    weight = numpy_helper.to_array(next(t for t in onnx.load(str(path)).graph.initializer if t.name == "w"))
    a = feeds["a"].astype(np.int64) - 3
    f_q = np.clip(np.rint(feeds["f"] / np.float32(0.01)), -128, 127).astype(np.int64)
    session = reference_session(path)
    by_weight, by_computed = session.run(["by_weight", "by_computed"], feeds)
    np.testing.assert_array_equal(by_weight, a @ (weight.astype(np.int64) + 3))
    np.testing.assert_array_equal(by_computed, a @ f_q)
    assert abs(int(by_weight[0, 0])) > 2 ** 24  # past float32's integers: the sums are big


def test_dequantized_int8_weights_match_the_unfused_definition(tmp_path):
    """Per-channel int8 weights of a DequantizeLinear, with no zero point: made uint8 with a per-channel zero point
    of 128 (the shape of the scales, as ONNX requires), the model still means what it meant: the reference equals
    the unfused float computation. (The static QDQ models of ``test_quantized_onnx.py``, which onnxruntime fuses
    into its uint8·int8 QLinearConv, differ by a percent on a CPU without VNNI when this rewrite is left out.)"""
    rng = np.random.default_rng(9)
    weight = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"]),
             helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zp"], ["x_dq"]),
             helper.make_node("DequantizeLinear", ["w", "w_scale"], ["w_dq"], axis=0),
             helper.make_node("Conv", ["x_dq", "w_dq"], ["y"], pads=[1, 1, 1, 1])]
    inits = {"x_scale": np.array(0.02, np.float32), "x_zp": np.array(0, np.uint8), "w": weight,
             "w_scale": np.array([0.01, 0.02, 0.005, 0.03], np.float32)}
    path = onnx_model(tmp_path / "qdq.onnx", nodes, {"x": (TP.FLOAT, [1, 3, 8, 8])}, ["y"], opset=13,
                      initializers=inits)
    feeds = {"x": rng.uniform(0, 5, (1, 3, 8, 8)).astype(np.float32)}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    unfused = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    model = onnx.load(str(path))
    assert exact_integer_products(model)
    zero_point = next(t for t in model.graph.initializer if t.name.endswith("__zero_point2__as_uint8"))
    assert list(zero_point.dims) == [4] and numpy_helper.to_array(zero_point).tolist() == [128] * 4
    reference = reference_session(path).run(None, feeds)[0]
    np.testing.assert_allclose(reference, unfused, rtol=0, atol=1e-5 * np.abs(unfused).max())


def test_exact_pairs_are_left_alone():
    """uint8·uint8 and int8·int8 products (exact in onnxruntime) and float models are not rewritten."""
    for a_type, b in ((TP.UINT8, np.ones((4, 2), np.uint8)), (TP.INT8, np.ones((4, 2), np.int8))):
        graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "g",
                                  [helper.make_tensor_value_info("a", a_type, [1, 4])],
                                  [helper.make_tensor_value_info("y", TP.INT32, [1, 2])],
                                  [numpy_helper.from_array(b, "b")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        before = model.SerializeToString()
        assert exact_integer_products(model) is False
        assert model.SerializeToString() == before
