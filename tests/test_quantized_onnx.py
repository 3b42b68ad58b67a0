"""Quantized ONNX models (onnxruntime.quantization of torch models built here) keep their 8-bit weights
at one byte each in the shards, and run in real TF.js (cpu, wasm) within 2 quantization steps of
onnxruntime (the rule: docs/quantization.md#quantized-onnx-models).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
quantization = pytest.importorskip("onnxruntime.quantization")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import onnx_model, onnxruntime_outputs  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

BACKENDS = ("cpu", "wasm")


class _Cnn(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2)
        self.depthwise = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.fc = torch.nn.Linear(16 * 3 * 3, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.depthwise(x))
        return self.fc(torch.flatten(x, 1))


class _Mlp(torch.nn.Module):
    """Rank-3 activations: torch exports MatMul (not Gemm), which the QOperator format turns into QLinearMatMul."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.randn(16, 32) * 0.3)
        self.w2 = torch.nn.Parameter(torch.randn(32, 8) * 0.3)

    def forward(self, x):
        return torch.relu(x @ self.w1) @ self.w2


def _export(module_type: type[torch.nn.Module], shape: tuple[int, ...], path: Path) -> Path:
    torch.manual_seed(0)  # before building: the weights are random
    module = module_type().eval()
    torch.onnx.export(module, (torch.randn(*shape),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    return path


class _Calibration(quantization.CalibrationDataReader):
    def __init__(self, shape: tuple[int, ...]) -> None:
        rng = np.random.default_rng(1)
        self.items = iter([{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(8)])

    def get_next(self):
        return next(self.items, None)


def _quantize_static(float_path: Path, out: Path, shape: tuple[int, ...], **kwargs) -> Path:
    quantization.quantize_static(str(float_path), str(out), _Calibration(shape), **kwargs)
    return out


def _steps(path: Path, expected: dict[str, np.ndarray]) -> dict[str, float]:
    """Each output's quantization step: the scale of the DequantizeLinear producing it; for a float output
    (dynamic quantization), one step of the uint8 range DynamicQuantizeLinear would give it."""
    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    steps = {}
    for name, y in expected.items():
        node = producers.get(name)
        if node is not None and node.op_type == "DequantizeLinear":
            steps[name] = float(np.max(inits[node.input[1]]))
        else:
            steps[name] = float(max(y.max(), 0) - min(y.min(), 0)) / 255
    return steps


#: A float output (dynamic quantization: integer products, then float ops) against onnxruntime, relative to
#: max |output| (measured: ~4e-5 of a uint8 step, i.e. ~2e-7).
FLOAT_OUTPUT_RTOL = 1e-5
#: A quantized output (DequantizeLinear of integers): off by one step at most, and this share exactly equal.
EXACT_SHARE = 0.99


def _within_two_steps(path: Path, out: Path, shape: tuple[int, ...], **options) -> dict:
    """Convert, run on cpu and wasm, hold each output to onnxruntime (docs/quantization.md's rule, tightened
    to what TF.js achieves): a quantized output within 1 step and >= 99 % exactly equal, a float output
    within :data:`FLOAT_OUTPUT_RTOL`; model.json."""
    feeds = {"x": np.random.default_rng(2).standard_normal(shape).astype(np.float32)}
    expected = onnxruntime_outputs(path, feeds)
    tfjsconv.convert(path, out, **options)
    (name, step), = _steps(path, expected).items()
    if _quantized_output(path, name):
        report = verify_model(out, feeds, expected, backends=BACKENDS, rtol=0.0, atol=step, elem_rtol=None,
                              quiet=True)
        assert report.passed, format_report(report)
        for backend, run in report.runs.items():
            equal = float(np.mean(np.asarray(run.outputs[name]) == expected[name]))
            assert equal >= EXACT_SHARE, (backend, equal)
    else:
        report = verify_model(out, feeds, expected, backends=BACKENDS, rtol=FLOAT_OUTPUT_RTOL, elem_rtol=None,
                              quiet=True)
        assert report.passed, format_report(report)
    return json.loads((out / "model.json").read_text())


def _quantized_output(path: Path, name: str) -> bool:
    producers = {out: node for node in onnx.load(str(path)).graph.node for out in node.output}
    return name in producers and producers[name].op_type == "DequantizeLinear"


def _one_byte_weights(doc: dict, out: Path, min_size: int = 64, left_float: str = "-") -> list[dict]:
    """Every weight of ``min_size`` elements or more (but those named ``left_float*``) is stored 1 byte each
    (uint8, scale 1, integer min); the shards hold exactly the manifest's bytes."""
    entries = [w for group in doc["weightsManifest"] for w in group["weights"]]
    big = [w for w in entries if int(np.prod(w["shape"])) >= min_size and not w["name"].startswith(left_float)]
    assert big
    for w in big:
        q = w.get("quantization")
        assert q and q["dtype"] == "uint8" and q["scale"] == 1 and float(q["min"]).is_integer(), w
    expected_bytes = sum(int(np.prod(w["shape"])) * (1 if "quantization" in w else 4) for w in entries)
    shards = sum(p.stat().st_size for p in out.glob("*.bin"))
    assert shards == expected_bytes
    return big


@pytest.mark.node
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_static_qdq_cnn_keeps_int8_weights_one_byte(tmp_path, tfjs_runtime, per_channel):
    shape = (1, 3, 8, 8)
    float_path = _export(_Cnn, shape, tmp_path / "f.onnx")
    path = _quantize_static(float_path, tmp_path / "q.onnx", shape, quant_format=quantization.QuantFormat.QDQ,
                            per_channel=per_channel)
    doc = _within_two_steps(path, tmp_path / "out", shape)
    big = _one_byte_weights(doc, tmp_path / "out")
    assert sum(int(np.prod(w["shape"])) for w in big) == 3 * 8 * 9 + 8 * 16 * 9 + 16 * 9 + 144 * 10
    names = [n["name"] for n in doc["modelTopology"]["node"]]
    assert sum(name.endswith("/dequantized") for name in names) == 4  # one Mul by the scale per weight
    _reshard_keeps_one_byte(tmp_path / "out", tmp_path / "again", shape)


def _reshard_keeps_one_byte(out: Path, again: Path, shape: tuple[int, ...]) -> None:
    """Reading the output back with no flag (a plain re-shard) keeps its integer weights one byte each, and
    the copy computes what the first model computes in TF.js."""
    feeds = {"x": np.random.default_rng(2).standard_normal(shape).astype(np.float32)}
    first = run_model(out, feeds, backends=("cpu",), quiet=True).outputs()
    tfjsconv.convert(out, again, weight_shard_size_bytes=1024)
    report = verify_model(again, feeds, first, backends=BACKENDS, rtol=1e-6, elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)
    _one_byte_weights(json.loads((again / "model.json").read_text()), again)


@pytest.mark.node
@pytest.mark.parametrize("module,shape,op,sizes", [
    (_Mlp, (2, 5, 16), "MatMulInteger", [32 * 8, 16 * 32]),
    (_Cnn, (1, 3, 8, 8), "ConvInteger", [16 * 9, 3 * 8 * 9, 8 * 16 * 9, 144 * 10])], ids=["matmul", "conv"])
def test_dynamic_quantization_integer_product_weights_one_byte(tmp_path, tfjs_runtime, module, shape, op, sizes):
    float_path = _export(module, shape, tmp_path / "f.onnx")
    path = tmp_path / "q.onnx"
    quantization.quantize_dynamic(str(float_path), str(path), op_types_to_quantize=["MatMul", "Gemm", "Conv"])
    assert op in {n.op_type for n in onnx.load(str(path)).graph.node}
    doc = _within_two_steps(path, tmp_path / "out", shape)
    big = _one_byte_weights(doc, tmp_path / "out")
    assert sorted(int(np.prod(w["shape"])) for w in big) == sorted(sizes)
    names = [n["name"] for n in doc["modelTopology"]["node"]]
    assert not any(name.endswith("/dequantized") for name in names)  # integer products read q - zp directly
    _reshard_keeps_one_byte(tmp_path / "out", tmp_path / "again", shape)


@pytest.mark.node
@pytest.mark.parametrize("format_", ["dynamic", "qdq"])
def test_quantize_int8_leaves_a_quantized_sources_weights_alone(tmp_path, tfjs_runtime, format_):
    """--quantize_int8 on an already quantized model: the source's integers are not re-quantized (that would
    lose exactness, and a rescale after an integer product would break it); the float rest may be."""
    shape = (1, 3, 8, 8)
    float_path = _export(_Cnn, shape, tmp_path / "f.onnx")
    path = tmp_path / "q.onnx"
    if format_ == "dynamic":  # ConvInteger and a 2-D MatMulInteger: kernels --quantize_int8 would pick
        quantization.quantize_dynamic(str(float_path), str(path), op_types_to_quantize=["MatMul", "Gemm", "Conv"])
    else:
        _quantize_static(float_path, path, shape, quant_format=quantization.QuantFormat.QDQ)
    doc = _within_two_steps(path, tmp_path / "out", shape, quantize_int8=True)
    _one_byte_weights(doc, tmp_path / "out")
    assert not any(n["name"].endswith("/int8_rescale") for n in doc["modelTopology"]["node"])


@pytest.mark.node
@pytest.mark.parametrize("module,shape,ops", [(_Cnn, (1, 3, 8, 8), ["Conv"]), (_Mlp, (2, 5, 16), ["MatMul"])],
                         ids=["qlinear_conv", "qlinear_matmul"])
def test_qoperator_format_qlinear_weights_one_byte(tmp_path, tfjs_runtime, module, shape, ops):
    float_path = _export(module, shape, tmp_path / "f.onnx")
    path = _quantize_static(float_path, tmp_path / "q.onnx", shape, quant_format=quantization.QuantFormat.QOperator,
                            op_types_to_quantize=ops, per_channel=True)
    assert f"QLinear{ops[0]}" in {n.op_type for n in onnx.load(str(path)).graph.node}
    doc = _within_two_steps(path, tmp_path / "out", shape)
    big = _one_byte_weights(doc, tmp_path / "out", left_float="fc/")  # the Gemm is not in op_types_to_quantize
    assert len(big) == (3 if module is _Cnn else 2)


def _dq_model(tmp_path: Path, nodes: list, initializers: list) -> Path:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, None) for n in nodes
                               if n.op_type != "Constant"],
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "hostile.onnx"
    onnx.save(model, str(path))
    return path


def _wide_zero_point():
    """A uint8 scalar of 300: ONNX holds 8-bit values in int32_data, so a file can (onnx's helper cannot)."""
    tensor = onnx.TensorProto(name="wide_zp", data_type=TensorProto.UINT8)
    tensor.int32_data.append(300)
    return tensor


def test_bad_quantization_parameters_are_refused_all_at_once(tmp_path):
    """Scale 0, a NaN scale, a uint8 zero point of 300 (held in int32_data) and axis 5 on a rank-2 weight:
    one error naming each node."""
    w = numpy_helper.from_array(np.arange(8, dtype=np.int8).reshape(4, 2), "w")
    inits = [w,
             numpy_helper.from_array(np.array(0.0, np.float32), "zero_scale"),
             numpy_helper.from_array(np.array(np.nan, np.float32), "nan_scale"),
             numpy_helper.from_array(np.array(0.5, np.float32), "scale"),
             _wide_zero_point(),
             numpy_helper.from_array(np.array([0.5, 0.25], np.float32), "axis_scale"),
             numpy_helper.from_array(np.arange(8, dtype=np.uint8).reshape(4, 2), "wu")]
    nodes = [helper.make_node("DequantizeLinear", ["w", "zero_scale"], ["a"], name="dq_zero"),
             helper.make_node("DequantizeLinear", ["w", "nan_scale"], ["b"], name="dq_nan"),
             helper.make_node("DequantizeLinear", ["wu", "scale", "wide_zp"], ["c"], name="dq_zp"),
             helper.make_node("DequantizeLinear", ["w", "axis_scale"], ["d"], name="dq_axis", axis=5)]
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(_dq_model(tmp_path, nodes, inits), tmp_path / "out")
    message = str(caught.value)
    for expected in ("'dq_zero'", "scale 'zero_scale' holds 0.0", "'dq_nan'", "holds nan", "'dq_zp'",
                     "300, outside uint8's 0..255", "'dq_axis'", "axis 5 is out of range for an input of rank 2"):
        assert expected in message, message
    assert caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_bad_parameters_held_in_constant_nodes_are_refused_all_at_once(tmp_path):
    """The same checks reach Constant nodes: an inf scale (value attribute), a 0 scale (value_float) and a
    uint8 zero point of 300, each in a Constant, are named in one error."""
    w = numpy_helper.from_array(np.arange(8, dtype=np.uint8).reshape(4, 2), "w")
    nodes = [helper.make_node("Constant", [], ["inf_scale"],
                              value=numpy_helper.from_array(np.array(np.inf, np.float32))),
             helper.make_node("Constant", [], ["zero_scale"], value_float=0.0),
             helper.make_node("Constant", [], ["half"], value_float=0.5),
             helper.make_node("Constant", [], ["wide_zp"], value=_wide_zero_point()),
             helper.make_node("DequantizeLinear", ["w", "inf_scale"], ["a"], name="dq_inf"),
             helper.make_node("DequantizeLinear", ["w", "zero_scale"], ["b"], name="dq_zero"),
             helper.make_node("DequantizeLinear", ["w", "half", "wide_zp"], ["c"], name="dq_zp")]
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(_dq_model(tmp_path, nodes, [w]), tmp_path / "out")
    message = str(caught.value)
    for expected in ("'dq_inf'", "scale 'inf_scale' holds inf", "'dq_zero'", "scale 'zero_scale' holds 0.0",
                     "'dq_zp'", "300, outside uint8's 0..255"):
        assert expected in message, message
    assert caught.value.exit_code == 2


def test_a_computed_constant_scale_is_checked_too(tmp_path):
    """A NaN scale behind an Identity (folded to a constant, not seen by the up-front scan): refused, with the
    other bad node in the same error."""
    nodes = [helper.make_node("Constant", [], ["nan_scale"], value_float=float("nan")),
             helper.make_node("Identity", ["nan_scale"], ["scale"]),
             helper.make_node("Constant", [], ["zero_scale"], value_float=0.0),
             helper.make_node("Identity", ["zero_scale"], ["scale0"]),
             helper.make_node("DequantizeLinear", ["w", "scale"], ["a"], name="dq_nan"),
             helper.make_node("DequantizeLinear", ["w", "scale0"], ["b"], name="dq_zero")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("w", TensorProto.UINT8, [4, 2])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("a", "b")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(path, tmp_path / "out")
    message = str(caught.value)
    for expected in ("'dq_nan'", "holds nan", "'dq_zero'", "holds 0.0"):
        assert expected in message, message


def test_per_axis_parameters_of_the_wrong_length_are_refused(tmp_path):
    inits = [numpy_helper.from_array(np.arange(8, dtype=np.int8).reshape(4, 2), "w"),
             numpy_helper.from_array(np.array([0.5, 0.25, 0.125], np.float32), "scale"),
             numpy_helper.from_array(np.array([0.5, 0.25], np.float32), "scale2"),
             numpy_helper.from_array(np.array([1, 2, 3], np.int8), "zp3")]
    nodes = [helper.make_node("DequantizeLinear", ["w", "scale"], ["y"], name="dq", axis=0),
             helper.make_node("DequantizeLinear", ["w", "scale2", "zp3"], ["z"], name="dq_zp", axis=1)]
    with pytest.raises(InputError, match=r"'dq'.*the scale has 3 values for the 4 indices along axis 0.*"
                                         r"'dq_zp'.*the zero point has 3 values for the scale's 2"):
        tfjsconv.convert(_dq_model(tmp_path, nodes, inits), tmp_path / "out")


def test_a_weight_a_pass_changes_stays_float32_with_a_note(tmp_path):
    """DequantizeLinear then Mul by a constant folds into one float weight that is no longer q·scale:
    it is written float32 and the report says so (exactness is the test, never a guess)."""
    inits = {"w": np.array([[3, -7], [127, -128]], np.int8), "scale": np.array(0.1, np.float32),
             "factor": np.array([[1.0, 3.0]], np.float32)}
    nodes = [helper.make_node("DequantizeLinear", ["w", "scale"], ["dq"]),
             helper.make_node("Mul", ["dq", "factor"], ["wf"]),
             helper.make_node("MatMul", ["x2", "wf"], ["y"])]
    path = onnx_model(tmp_path / "m.onnx", nodes, {"x2": (TensorProto.FLOAT, [3, 2])}, ["y"], opset=13,
                      initializers=inits)
    result = tfjsconv.convert(path, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert not any("quantization" in w for g in doc["weightsManifest"] for w in g["weights"])
    assert any("quantized weight(s) of the source stay float32" in note for note in result.facts["weights"].notes)
