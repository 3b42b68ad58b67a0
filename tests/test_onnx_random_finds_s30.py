"""What the random ONNX graph hunter (``bench/onnx_random_graphs.py``, session 30) found, each now exact in TF.js
(cpu and wasm) against onnxruntime, or refused by name."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402


@pytest.mark.node
def test_constant_negative_indices_into_a_dynamic_axis_wrap_at_run_time(tmp_path, tfjs_runtime):
    """ScatterND/GatherND/GatherElements/ScatterElements with constant negative indices into an axis of unknown
    size were refused; they count from that axis' run-time size (graphs 3002/36, 3002/93 of the hunter)."""
    f = TensorProto.FLOAT
    init = {"nd": np.array([[-1, 2], [0, -3]], np.int64), "upd": np.array([5.0, -7.0], np.float32),
            "el": np.array([[-1, 0, -2, 1]], np.int64), "el_upd": np.array([[9.0, 8.0, 7.0, 6.0]], np.float32),
            "rows": np.array([[-2], [0]], np.int64)}
    nodes = [helper.make_node("ScatterND", ["x", "nd", "upd"], ["scattered"]),
             helper.make_node("GatherND", ["x", "rows"], ["gathered_rows"]),
             helper.make_node("GatherElements", ["x", "el"], ["elements"], axis=0),
             helper.make_node("ScatterElements", ["x", "el", "el_upd"], ["scattered_elements"], axis=0)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (f, ["n", 4])},
                      ["scattered", "gathered_rows", "elements", "scattered_elements"], opset=16, initializers=init)
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(3)
    for n in (3, 5):
        feeds = {"x": rng.standard_normal((n, 4)).astype(np.float32)}
        expected = matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)
        assert expected["scattered"][n - 1, 2] == 5.0 and expected["elements"][0, 0] == feeds["x"][n - 1, 0]


@pytest.mark.node
def test_conv_with_both_strides_and_dilations_subsamples_a_stride_one_convolution(tmp_path, tfjs_runtime):
    """Conv with strides and dilations both above 1 was refused (TF.js takes one or the other): it is the
    stride-1 dilated convolution with the same pads, every stride-th output kept (graphs 3001/28, 3002/4)."""
    f = TensorProto.FLOAT
    rng = np.random.default_rng(30)
    init = {"w": rng.standard_normal((4, 3, 3, 2)).astype(np.float32),
            "wg": rng.standard_normal((3, 1, 2, 3)).astype(np.float32), "b": np.array([1.0, -2.0, 0.5], np.float32),
            "w1": rng.standard_normal((2, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["plain"], strides=[2, 2], dilations=[2, 1], pads=[1, 0, 2, 1]),
             helper.make_node("Conv", ["x", "wg", "b"], ["depthwise"], group=3, strides=[2, 3], dilations=[1, 2],
                              pads=[0, 1, 1, 2]),
             helper.make_node("Reshape", ["x", "flat_shape"], ["x1"]),
             helper.make_node("Conv", ["x1", "w1"], ["one_d"], strides=[2], dilations=[2], pads=[2, 1])]
    init["flat_shape"] = np.array([0, 3, -1], np.int64)
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (f, ["n", 3, 7, 8])}, ["plain", "depthwise", "one_d"],
                      opset=13, initializers=init)
    tfjsconv.convert(path, tmp_path / "out")
    for n in (1, 2):
        feeds = {"x": rng.standard_normal((n, 3, 7, 8)).astype(np.float32)}
        expected = matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)
        assert expected["plain"].shape == (n, 4, 3, 4) and expected["one_d"].shape == (n, 2, 28)


@pytest.mark.node
def test_float16_cast_pairs_onnxruntime_drops_stay_unrounded(tmp_path, tfjs_runtime):
    """onnxruntime removes a Cast float32 -> float16 read only by float32 nodes with the Cast back it inserts before
    them (and the Cast to float16 it inserts after a float32 node read only by a Cast to float32): x -> Cast(half)
    -> Tanh -> Cast(float) is tanh(x) unrounded. Rounding there was 3e-4 off (Exp: 4e-3; graph 3004/9 of the
    hunter). A Cast also read by another Cast (or a twin Cast of the same tensor that is) keeps its rounding."""
    f, half = TensorProto.FLOAT, TensorProto.FLOAT16

    def cast(src: str, dst: str, to: int):
        return helper.make_node("Cast", [src], [dst], to=to)

    nodes = [cast("x", "h1", half), helper.make_node("Tanh", ["h1"], ["t1"]), cast("t1", "tanh", f),
             helper.make_node("Exp", ["h1"], ["e1"]), cast("e1", "exp", f),
             helper.make_node("Tanh", ["e1"], ["t2"]), helper.make_node("Neg", ["t2"], ["n2"]), cast("t2", "shared", f),
             cast("n2", "shared_neg", f),
             cast("y", "h3", half), helper.make_node("Tanh", ["h3"], ["t3"]), cast("t3", "twin_tanh", f),
             cast("y", "h4", half), helper.make_node("Neg", ["h4"], ["n4"]), cast("n4", "neg", f),
             cast("h4", "back", f)]
    outputs = ["tanh", "exp", "shared", "shared_neg", "twin_tanh", "neg", "back"]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (f, [2, 6]), "y": (f, [2, 6])}, outputs, opset=17)
    x = np.array([[1.2554005, 0.1234567, 3.3333333, 7.61, 2.5002, -5.4725628],
                  [0.8497, -1.0001, 6.1536975, -2.71828, 4.0009, 0.3333]], np.float32)
    expected = matches_onnxruntime(path, {"x": x, "y": x[::-1].copy()}, tmp_path / "out")
    rounded = x.astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(expected["tanh"], np.tanh(x), rtol=1e-6)
    assert np.abs(expected["tanh"] - np.tanh(rounded)).max() > 1e-4
    np.testing.assert_allclose(expected["twin_tanh"], np.tanh(rounded[::-1]), rtol=1e-6)
    assert np.array_equal(expected["back"], rounded[::-1])
