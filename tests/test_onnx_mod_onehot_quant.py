"""ONNX Mod, OneHot, ReverseSequence and the linear quantization ops, in real TF.js against onnxruntime.

Each model runs on cpu and wasm; integer outputs (the quantized values) must match exactly.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402
from tfjsconv.errors import TfjsconvError  # noqa: E402

BACKENDS = ("cpu", "wasm")
F, I32, I64, U8, I8 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8, TensorProto.INT8


def _model(tmp_path: Path, nodes: list, inputs: dict, outputs: list[str], *, opset: int = 13,
           initializers: dict | None = None) -> Path:
    """A graph of ``nodes`` with typed inputs (name -> (elem type, shape)); output types left to inference."""
    return onnx_model(tmp_path / "model.onnx", nodes, inputs, outputs, opset=opset, initializers=initializers,
                      name="g")


def _matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], tmp_path: Path, **options) -> dict:
    """Convert, run on cpu and wasm, compare with onnxruntime; returns onnxruntime's outputs."""
    return matches_onnxruntime(path, feeds, tmp_path / "out", **options)


@pytest.mark.node
def test_mod_floors_or_truncates_exactly_on_ints_and_floats(tmp_path, tfjs_runtime):
    """fmod=0 takes the divisor's sign (FloorMod), fmod=1 the dividend's (C fmod), with negative operands,
    zero dividends, broadcasting, ±Inf dividends and a zero float divisor (NaN)."""
    nodes = [helper.make_node("Mod", ["a", "b"], ["floor_int"]),
             helper.make_node("Mod", ["a", "b"], ["trunc_int"], fmod=1),
             helper.make_node("Mod", ["x", "y"], ["trunc_float"], fmod=1),
             helper.make_node("Mod", ["a", "c"], ["floor_broadcast"])]
    path = _model(tmp_path, nodes, {"a": (I32, [2, 6]), "b": (I32, [2, 6]), "c": (I32, [6]),
                                    "x": (F, [10]), "y": (F, [10])},
                  ["floor_int", "trunc_int", "trunc_float", "floor_broadcast"])
    feeds = {"a": np.array([[-7, 7, -7, 7, 0, -2147483647], [13, -13, 5, -5, 6, 2147483647]], np.int32),
             "b": np.array([[2, 2, -2, -2, -3, 10], [-4, 4, 5, -5, 4, -3]], np.int32),
             "c": np.array([3, -3, 5, -5, 7, 2], np.int32),
             "x": np.array([-7.5, 7.5, -6, 0, -0.0, np.inf, 5.25, -1e-30, 3.3, 1], np.float32),
             "y": np.array([2, -2, 3, -3, 2, 2, 0, 1, 1.1, np.inf], np.float32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["trunc_int"][0, 0] == -1 and expected["floor_int"][0, 0] == 1


@pytest.mark.node
def test_onehot_with_run_time_depth_values_negative_indices_and_axis(tmp_path, tfjs_runtime):
    """Indices, depth and values all computed at run time; negative indices count from depth, out-of-range
    ones give a row of ``off``; the class axis inserted in the middle (not TF.js's OneHot, which ignores it)."""
    nodes = [helper.make_node("OneHot", ["idx", "depth", "values"], ["middle"], axis=1),
             helper.make_node("OneHot", ["fidx", "depth_float", "values"], ["last"]),
             helper.make_node("OneHot", ["idx", "depth_const", "int_values"], ["first_int"], axis=0)]
    path = _model(tmp_path, nodes, {"idx": (I64, [2, 3]), "depth": (I64, []), "values": (F, [2]),
                                    "fidx": (F, [4])}, ["middle", "last", "first_int"], opset=11,
                  initializers={"depth_const": np.array([4], np.int64), "depth_float": np.array([4.0], np.float32),
                                "int_values": np.array([-1, 7], np.int64)})
    feeds = {"idx": np.array([[0, -1, 3], [-4, 4, -5]], np.int64), "depth": np.array(4, np.int64),
             "values": np.array([0.25, -3.5], np.float32), "fidx": np.array([1.7, -1.2, 3.0, 9.0], np.float32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["middle"].shape == (2, 4, 3) and expected["first_int"].shape == (4, 2, 3)


@pytest.mark.node
@pytest.mark.parametrize("batch_axis,time_axis", [(0, 1), (1, 0)])
def test_reverse_sequence_with_run_time_lengths(tmp_path, tfjs_runtime, batch_axis, time_axis):
    shape = [3, 5, 2] if batch_axis == 0 else [5, 3, 2]
    nodes = [helper.make_node("ReverseSequence", ["x", "lens"], ["y"], batch_axis=batch_axis, time_axis=time_axis)]
    path = _model(tmp_path, nodes, {"x": (F, shape), "lens": (I64, [3])}, ["y"], opset=10)
    feeds = {"x": np.random.default_rng(1).standard_normal(shape).astype(np.float32),
             "lens": np.array([5, 1, 3], np.int64)}
    _matches_onnxruntime(path, feeds, tmp_path)


@pytest.mark.node
def test_quantize_dequantize_round_half_even_saturate_per_tensor_axis_and_block(tmp_path, tfjs_runtime):
    """Ties round to even (2.5 → 2, 3.5 → 4), out-of-range values saturate; per-axis parameters on a conv
    output (held NHWC inside), blocked parameters, int8, int16 and int32 dequantization."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Conv", ["img", "w"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["conv", "ch_scale", "ch_zp"], ["q_axis"], axis=1),
             helper.make_node("DequantizeLinear", ["q_axis", "ch_scale", "ch_zp"], ["dq_axis"], axis=1),
             helper.make_node("QuantizeLinear", ["x", "scale", "zp_u8"], ["q_u8"]),
             helper.make_node("QuantizeLinear", ["x", "scale", "zp_i16"], ["q_i16"]),
             helper.make_node("QuantizeLinear", ["x", "run_scale"], ["q_default"]),
             helper.make_node("DequantizeLinear", ["q_u8", "scale", "zp_u8"], ["dq_u8"]),
             helper.make_node("DequantizeLinear", ["i32", "scale"], ["dq_i32"]),
             helper.make_node("QuantizeLinear", ["m", "blk_scale", "blk_zp"], ["q_blk"], axis=1, block_size=2),
             helper.make_node("DequantizeLinear", ["q_blk", "blk_scale", "blk_zp"], ["dq_blk"], axis=1, block_size=2)]
    inits = {"w": rng.standard_normal((3, 2, 3, 3)).astype(np.float32),
             "ch_scale": np.array([0.05, 0.1, 0.02], np.float32), "ch_zp": np.array([-3, 0, 10], np.int8),
             "scale": np.array(0.5, np.float32), "zp_u8": np.array(128, np.uint8),
             "zp_i16": np.array(-300, np.int16),
             "blk_scale": np.array([[0.1, 0.25, 1.0], [0.5, 0.02, 0.3]], np.float32),
             "blk_zp": np.array([[0, 5, -5], [100, -100, 1]], np.int8)}
    path = _model(tmp_path, nodes, {"img": (F, [1, 2, 5, 5]), "x": (F, [12]), "run_scale": (F, []),
                                    "i32": (I32, [4]), "m": (F, [2, 5])},
                  ["q_axis", "dq_axis", "q_u8", "q_i16", "q_default", "dq_u8", "dq_i32", "q_blk", "dq_blk"],
                  opset=21, initializers=inits)
    feeds = {"img": rng.standard_normal((1, 2, 5, 5)).astype(np.float32),
             "x": np.array([1.25, 1.75, -1.25, -1.75, 0.25, 0.75, 100, -100, 1e9, -1e9, 0, 63.75], np.float32),
             "run_scale": np.array(0.5, np.float32), "i32": np.array([-5, 0, 7, 1 << 20], np.int32),
             "m": (rng.standard_normal((2, 5)) * 4).astype(np.float32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert list(expected["q_u8"][:6]) == [130, 132, 126, 124, 128, 130]  # ties to even around 128
    assert expected["q_u8"][8] == 255 and expected["q_u8"][9] == 0


@pytest.mark.node
def test_dynamic_quantize_linear_including_an_all_zero_input(tmp_path, tfjs_runtime):
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"]),
             helper.make_node("DynamicQuantizeLinear", ["zeros"], ["y0", "s0", "z0"])]
    path = _model(tmp_path, nodes, {"x": (F, [3, 4]), "zeros": (F, [3])}, ["y", "s", "z", "y0", "s0", "z0"],
                  opset=11)
    feeds = {"x": np.random.default_rng(3).uniform(-2, 5, (3, 4)).astype(np.float32),
             "zeros": np.zeros(3, np.float32)}
    _matches_onnxruntime(path, feeds, tmp_path)


@pytest.mark.node
def test_integer_products_exact_beyond_float32_single_sums(tmp_path, tfjs_runtime):
    """MatMulInteger with K=600 (its sums of |a'|·|b'| can pass 2^24: computed as 16·hi + lo; refused for webgl), QLinearMatMul with per-column
    scales and zero points, QLinearConv with per-channel weight scales, a bias, padding and groups."""
    rng = np.random.default_rng(4)
    k = 600
    nodes = [helper.make_node("MatMulInteger", ["a", "b", "a_zp", "b_zp"], ["mmi"]),
             helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zp", "bq", "bq_scale", "bq_zp", "y_scale", "y_zp"],
                              ["qmm"]),
             helper.make_node("QLinearConv", ["img", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp",
                                              "bias"], ["qconv"], pads=[1, 0, 1, 2], group=2, strides=[1, 2])]
    inits = {"b": rng.integers(-128, 128, (k, 3)).astype(np.int8), "b_zp": np.array(-128, np.int8),
             "a_scale": np.array(0.02, np.float32), "a_zp": np.array(3, np.uint8),
             "bq": rng.integers(0, 256, (k, 4)).astype(np.uint8),
             "bq_scale": np.array([0.001, 0.002, 0.0015, 0.003], np.float32),
             "bq_zp": np.array([0, 128, 255, 7], np.uint8),
             "y_scale": np.array(0.7, np.float32), "y_zp": np.array(120, np.uint8),
             "x_scale": np.array(0.03, np.float32), "x_zp": np.array(17, np.uint8),
             "w": rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8),
             "w_scale": np.array([0.01, 0.02, 0.005, 0.04], np.float32), "w_zp": np.zeros(4, np.int8),
             "bias": rng.integers(-2000, 2000, 4).astype(np.int32)}
    inits["b"][:, 0] = 125  # row 0 of a times column 0 of b: 600 odd products of 251·253, summing past 2^24
    path = _model(tmp_path, nodes, {"a": (U8, [2, k]), "img": (U8, [1, 4, 6, 7])}, ["mmi", "qmm", "qconv"],
                  opset=13, initializers=inits)
    feeds = {"a": np.concatenate([np.full((1, k), 254), rng.integers(0, 256, (1, k))]).astype(np.uint8),
             "img": rng.integers(0, 256, (1, 4, 6, 7)).astype(np.uint8)}
    with pytest.raises(TfjsconvError, match=r"MatMulInteger.*past 2\^24: webgl computes int32 in float32"):
        tfjsconv.convert(path, tmp_path / "refused")  # webgl is a default target
    expected = _matches_onnxruntime(path, feeds, tmp_path, target_backends=["cpu", "wasm"])
    assert expected["mmi"][0, 0] == k * 251 * 253
    names = [n["name"] for n in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]]
    assert any(name.endswith("/a_hi") for name in names)  # the split was needed and taken


@pytest.mark.node
def test_onnxruntime_quantized_models_static_qdq_and_dynamic(tmp_path, tfjs_runtime):
    """The real-world case: a small float model quantized by onnxruntime.quantization (QDQ, static
    calibration; and dynamic, which emits DynamicQuantizeLinear + MatMulInteger)."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], strides=[2, 2]),
             helper.make_node("Flatten", ["c2"], ["f"]),
             helper.make_node("MatMul", ["f", "fc"], ["y"])]
    inits = {"w1": (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32),
             "b1": rng.standard_normal(4).astype(np.float32),
             "w2": (rng.standard_normal((6, 4, 3, 3)) * 0.3).astype(np.float32),
             "fc": (rng.standard_normal((6 * 3 * 3, 5)) * 0.3).astype(np.float32)}
    float_path = _model(tmp_path, nodes, {"x": (F, [1, 3, 7, 7])}, ["y"], opset=13, initializers=inits)
    samples = [rng.standard_normal((1, 3, 7, 7)).astype(np.float32) for _ in range(4)]

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"x": s} for s in samples])

        def get_next(self):
            return next(self.items, None)

    feeds = {"x": rng.standard_normal((1, 3, 7, 7)).astype(np.float32)}
    static = tmp_path / "static"
    static.mkdir()
    quantization.quantize_static(str(float_path), str(static / "q.onnx"), Reader(),
                                 quant_format=quantization.QuantFormat.QDQ, per_channel=True)
    _matches_onnxruntime(static / "q.onnx", feeds, static)
    dynamic = tmp_path / "dynamic"
    dynamic.mkdir()
    quantization.quantize_dynamic(str(float_path), str(dynamic / "q.onnx"))
    ops = {n.op_type for n in onnx.load(str(dynamic / "q.onnx")).graph.node}
    assert "DynamicQuantizeLinear" in ops
    _matches_onnxruntime(dynamic / "q.onnx", feeds, dynamic)


def test_quantizing_to_4_bits_is_refused(tmp_path):
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale"], ["q"], output_dtype=TensorProto.INT4)]
    path = _model(tmp_path, nodes, {"x": (F, [4])}, ["q"], opset=21,
                  initializers={"scale": np.array(0.5, np.float32)})
    with pytest.raises(TfjsconvError, match=r"QuantizeLinear.*int4.*not supported"):
        tfjsconv.convert(path, tmp_path / "out")
