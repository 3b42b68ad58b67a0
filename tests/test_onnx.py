"""The ONNX frontend: real ONNX models built here, converted, run in TF.js and compared with onnxruntime."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfjsconv  # noqa: E402
from tfjsconv.errors import InputError, PluginError, UnsupportedOpsError  # noqa: E402
from tfjsconv.hookspecs import hookimpl  # noqa: E402

RTOL = 1e-5  # max abs err <= 1e-5 x max|reference|, per output and backend


# -- building models -----------------------------------------------------------------------------
class Builder:
    """A small ONNX graph builder: random weights from one seed, auto-named node outputs."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.initializers: list = []
        self.inputs: list = []
        self._n = 0

    def input(self, name: str, shape: list, dtype: int = TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, shape))
        return name

    def const(self, array: np.ndarray, name: str | None = None) -> str:
        name = name or f"w{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, *shape: int, scale: float = 0.5) -> str:
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, op_type: str, inputs: list[str], *, outputs: int = 1, domain: str = "", **attrs) -> str:
        self._n += 1
        names = [f"{op_type.lower()}{self._n}" + (f"_{i}" if i else "") for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=f"{op_type}_{self._n}", domain=domain,
                                           **attrs))
        return names[0]

    def conv(self, x: str, cin: int, cout: int, k: int = 3, *, group: int = 1, bias: bool = True, **attrs) -> str:
        inputs = [x, self.weight(cout, cin // group, k, k)] + ([self.weight(cout, scale=0.1)] if bias else [])
        return self.op("Conv", inputs, kernel_shape=[k, k], group=group, **attrs)

    def batch_norm(self, x: str, c: int) -> str:
        rng = self.rng
        scale = self.const((rng.random(c) + 0.5).astype(np.float32))
        bias = self.const((rng.standard_normal(c) * 0.1).astype(np.float32))
        mean = self.const((rng.standard_normal(c) * 0.1).astype(np.float32))
        var = self.const((rng.random(c) + 0.5).astype(np.float32))
        return self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def model(self, outputs: list[str], *, opset: int = 13, extra_opsets: dict | None = None,
              shapes: dict | None = None, dtype: int = TensorProto.FLOAT) -> onnx.ModelProto:
        """``shapes``: output shapes ONNX shape inference cannot work out by itself."""
        outs = [helper.make_tensor_value_info(o, dtype, (shapes or {}).get(o)) for o in outputs]
        graph = helper.make_graph(self.nodes, "test_graph", self.inputs, outs, initializer=self.initializers)
        opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
        model = helper.make_model(graph, opset_imports=opsets, ir_version=8 if opset <= 17 else 10,
                                  producer_name="tfjsconv-tests")
        return onnx.shape_inference.infer_shapes(model, data_prop=True)  # fills in the outputs' types


def mlp() -> onnx.ModelProto:
    b = Builder(1)
    x = b.input("x", [4, 16])
    h = b.op("Gemm", [x, b.weight(32, 16), b.weight(32, scale=0.1)], transB=1)
    h = b.op("Relu", [h])
    h = b.op("Gemm", [h, b.weight(32, 10), b.weight(10, scale=0.1)], alpha=0.5)
    return b.model([b.op("Softmax", [h], axis=-1)])


def plain_cnn() -> onnx.ModelProto:
    b = Builder(2)
    x = b.input("image", [2, 3, 16, 16])
    h = b.op("Relu", [b.batch_norm(b.conv(x, 3, 8, pads=[1, 1, 1, 1]), 8)])
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = b.conv(h, 8, 16, strides=[2, 2], pads=[1, 1, 0, 0])  # asymmetric: EXPLICIT padding
    h = b.op("Relu", [b.batch_norm(h, 16)])
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])])
    return b.model([b.op("Gemm", [h, b.weight(10, 16), b.weight(10, scale=0.1)], transB=1)])


def separable_block() -> onnx.ModelProto:
    """MobileNetV2-style: expand 1x1, depthwise 3x3, project 1x1, residual add; ReLU6 as Clip(0, 6)."""
    b = Builder(3)
    x = b.input("x", [1, 8, 12, 12])
    zero, six = b.const(np.float32(0), "zero"), b.const(np.float32(6), "six")
    h = b.op("Clip", [b.batch_norm(b.conv(x, 8, 24, 1, bias=False), 24), zero, six])
    h = b.op("Clip", [b.batch_norm(b.conv(h, 24, 24, 3, group=24, bias=False, pads=[1, 1, 1, 1]), 24), zero, six])
    h = b.batch_norm(b.conv(h, 24, 8, 1, bias=False), 8)
    y = b.op("Add", [x, h])
    return b.model([b.op("HardSwish", [y])], opset=14)


def reshape_transpose_concat() -> onnx.ModelProto:
    """Conv features reshaped to a sequence through a foldable Shape/Gather/Unsqueeze/Concat chain."""
    b = Builder(4)
    x = b.input("x", [2, 4, 6, 6])
    c = b.op("Relu", [b.conv(x, 4, 8, pads=[1, 1, 1, 1])])
    batch = b.op("Unsqueeze", [b.op("Gather", [b.op("Shape", [c]), b.const(np.int64(0), "zero_idx")], axis=0),
                               b.const(np.array([0], np.int64), "axes0")])
    target = b.op("Concat", [batch, b.const(np.array([8, -1], np.int64), "rest")], axis=0)
    seq = b.op("Transpose", [b.op("Reshape", [c, target])], perm=[0, 2, 1])  # [2, 36, 8]
    proj = b.op("MatMul", [seq, b.weight(8, 5)])  # [2, 36, 5]
    joined = b.op("Concat", [proj, seq], axis=2)  # [2, 36, 13]
    pooled = b.op("ReduceMean", [joined], axes=[1], keepdims=0)
    nhwc = b.op("Transpose", [c], perm=[0, 2, 3, 1])  # an NHWC output: costs nothing
    gram = b.op("MatMul", [seq, b.op("Transpose", [seq], perm=[0, 2, 1])])  # MatMul's adj_y, no Transpose
    peak = b.op("ReduceMax", [gram], axes=[-1], keepdims=0)
    return b.model([joined, pooled, nhwc, peak], shapes={joined: [2, 36, 13], pooled: [2, 13], peak: [2, 36]})


def dynamic_batch() -> onnx.ModelProto:
    """A dynamic batch and torch's ``x.view(x.size(0), -1)``: the shape chain is computed in the model."""
    b = Builder(7)
    x = b.input("x", ["batch", 3, 8, 8])
    h = b.op("Relu", [b.batch_norm(b.conv(x, 3, 4, pads=[1, 1, 1, 1]), 4)])
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    n = b.op("Unsqueeze", [b.op("Gather", [b.op("Shape", [h]), b.const(np.int64(0), "zero_idx")], axis=0),
                           b.const(np.array([0], np.int64), "axes0")])
    flat = b.op("Reshape", [h, b.op("Concat", [n, b.const(np.array([-1], np.int64), "minus1")], axis=0)])
    return b.model([b.op("Gemm", [flat, b.weight(5, 64), b.weight(5, scale=0.1)], transB=1)],
                   shapes={})


def op_zoo() -> onnx.ModelProto:
    """Many ops at once (one TF.js run): pools with odd padding, grouped/dilated convs, activations."""
    b = Builder(5)
    x = b.input("x", [1, 6, 9, 9])
    outs = []
    g = b.conv(x, 6, 4, group=2, pads=[1, 1, 1, 1])  # grouped: Split + Conv2D + Concat
    s = b.conv(x, 6, 4, strides=[2, 2], auto_pad="SAME_UPPER")
    d = b.conv(x, 6, 4, dilations=[2, 2], pads=[2, 2, 2, 2])
    lower = b.conv(x, 6, 4, 2, strides=[2, 2], auto_pad="SAME_LOWER")  # pads 1 before, 0 after
    outs.append(b.op("Concat", [g, d], axis=1))
    outs.append(b.op("LeakyRelu", [b.op("Add", [s, lower])], alpha=0.1))
    outs.append(b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1))
    outs.append(b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 0], ceil_mode=1))
    outs.append(b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1))
    outs.append(b.op("MaxPool", [x], kernel_shape=[3, 3], pads=[0, 1, 2, 1]))
    a = b.op("Add", [b.op("Mul", [x, b.weight(6, 1, 1)]), b.const(np.float32(0.25), "quarter")])
    outs.append(b.op("HardSigmoid", [a]))
    outs.append(b.op("Tanh", [b.op("Sigmoid", [a])]))
    outs.append(b.op("Erf", [b.op("Div", [a, b.const(np.float32(1.5), "c15")])]))
    outs.append(b.op("Sqrt", [b.op("Exp", [b.op("Neg", [a])])]))
    outs.append(b.op("Log", [b.op("Pow", [b.op("Sigmoid", [a]), b.const(np.float32(2.0), "two")])]))
    outs.append(b.op("Pad", [a, b.const(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "pads"),
                             b.const(np.float32(-1.0), "padv")]))
    outs.append(b.op("Pad", [a, b.const(np.array([0, 0, 2, 1, 0, 0, 1, 2], np.int64), "rpads")], mode="reflect"))
    outs.append(b.op("Softmax", [a], axis=1))  # channel softmax: runs on NHWC's last axis
    outs.append(b.op("ReduceSum", [a, b.const(np.array([2, 3], np.int64), "sp")], keepdims=0))
    outs.append(b.op("Squeeze", [b.op("GlobalMaxPool", [a]), b.const(np.array([2, 3], np.int64), "sq")]))
    outs.append(b.op("Sub", [b.op("Clip", [a, b.const(np.float32(-0.5), "lo"), b.const(np.float32(0.5), "hi")]),
                             b.weight(9)]))
    return b.model(outs, opset=13)


def op_zoo_2() -> onnx.ModelProto:
    """More ops in an NHWC-tracked stretch: gathers, selects, casts, variadic ops, softmax variants."""
    b = Builder(8)
    x = b.input("x", [2, 4, 5, 5])
    a = b.conv(x, 4, 6, 1)
    outs = [b.op("Gather", [a, b.const(np.array([0, 5, -1], np.int64), "chans")], axis=1),
            b.op("Gather", [a, b.const(np.int64(2), "row")], axis=2),
            b.op("Where", [b.op("Greater", [a, b.const(np.float32(0), "f0")]), a,
                           b.op("Mul", [a, b.const(np.float32(0.1), "f01")])]),
            # (not the graph output itself: TF.js-cpu's int32->float32 Cast keeps an Int32Array buffer,
            # which core's Node runner currently reads as raw float32 bytes)
            b.op("Mul", [b.op("Cast", [b.op("Cast", [b.op("Mul", [a, b.const(np.float32(4), "f4")])],
                                             to=TensorProto.INT32)], to=TensorProto.FLOAT),
                         b.const(np.float32(0.25), "f025")]),
            b.op("Max", [a, b.weight(6, 1, 1), b.const(np.float32(-0.2), "fm")]),
            b.op("Mean", [a, b.op("Abs", [a])]),
            b.op("Elu", [a], alpha=0.7),
            b.op("PRelu", [a, b.const(np.linspace(0.1, 0.6, 6, dtype=np.float32).reshape(6, 1, 1), "slope")]),
            b.op("Softplus", [b.op("Reciprocal", [b.op("Add", [b.op("Abs", [a]), b.const(np.float32(1), "f1")])])]),
            b.op("LogSoftmax", [a], axis=1),
            # Range and ConstantOfShape have no mapping: with constant inputs they fold away
            b.op("Mul", [a, b.op("Reshape", [
                b.op("Cast", [b.op("Range", [b.const(np.int64(0), "r0"), b.const(np.int64(6), "r6"),
                                             b.const(np.int64(1), "r1")])], to=TensorProto.FLOAT),
                b.op("Concat", [b.const(np.array([6], np.int64), "six_dims"),
                                b.op("ConstantOfShape", [b.const(np.array([2], np.int64), "two_dims")],
                                     value=numpy_helper.from_array(np.array([1], np.int64)))], axis=0),
            ])]),  # [6, 1, 1]
            b.op("Gemm", [b.op("Flatten", [a], axis=1), b.weight(150, 3), b.const(np.float32(0.5), "c")],
                 beta=2.0)]
    return b.model(outs, opset=13)


def legacy_opset() -> onnx.ModelProto:
    """Opset 10 forms: Clip/Unsqueeze/Squeeze/ReduceMean attributes, 2-D-coerced Softmax, Dropout."""
    b = Builder(6)
    x = b.input("x", [2, 3, 4])
    h = b.op("Clip", [b.op("Dropout", [x], ratio=0.3)], min=-1.0, max=1.5)
    sm = b.op("Softmax", [h], axis=1)  # softmax over the flattened [3, 4]
    u = b.op("Unsqueeze", [sm], axes=[1])
    r = b.op("ReduceMean", [u], axes=[3], keepdims=1)
    return b.model([sm, b.op("Squeeze", [r], axes=[1, 3])], opset=10)


MODELS = {"mlp": mlp, "plain_cnn": plain_cnn, "separable_block": separable_block,
          "reshape_transpose_concat": reshape_transpose_concat, "dynamic_batch": dynamic_batch, "op_zoo": op_zoo,
          "op_zoo_2": op_zoo_2, "legacy_opset": legacy_opset}


# -- helpers -------------------------------------------------------------------------------------
def save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    path = folder / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def random_inputs(path: Path, seed: int = 7, *, nhwc: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in info.shape]  # dynamic dims: 2
        if nhwc and len(shape) == 4:
            shape = [shape[0], shape[2], shape[3], shape[1]]
        feeds[info.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def model_json(out: Path) -> dict:
    return json.loads((out / "model.json").read_text())


def ops_of(out: Path) -> list[str]:
    return [n["op"] for n in model_json(out)["modelTopology"]["node"]]


def convert_and_verify(path: Path, out: Path, **options) -> list[str]:
    from tfjsconv.plugins.onnx.frontend import OnnxFrontend
    from tfjsconv.options import ConvertOptions
    from tfjsconv.verify.compare import format_report, verify_model

    tfjsconv.convert(path, out, **options)
    nhwc = options.get("input_layout") == "nhwc"
    inputs = random_inputs(path, nhwc=nhwc)
    expected = OnnxFrontend().reference(path, inputs, ConvertOptions.from_kwargs(**options))
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)
    return ops_of(out)


# -- conversions in TF.js -----------------------------------------------------------------------
#: Most Transposes each model may have: at most one per 4-D input/output; the op zoos (many 4-D
#: outputs, a Flatten of NHWC features) pin today's counts so that regressions show.
MAX_TRANSPOSES = {"mlp": 0, "plain_cnn": 1, "separable_block": 2, "reshape_transpose_concat": 2,
                  "dynamic_batch": 2, "op_zoo": 9, "op_zoo_2": 13, "legacy_opset": 0}


@pytest.mark.node
@pytest.mark.parametrize("name", list(MODELS))
def test_model_matches_onnxruntime_in_tfjs(name, tmp_path, tfjs_runtime):
    path = save(MODELS[name](), tmp_path, name)
    ops = convert_and_verify(path, tmp_path / "out")
    limit = MAX_TRANSPOSES[name]
    if limit is not None:
        assert ops.count("Transpose") <= limit, ops


@pytest.mark.node
@pytest.mark.parametrize("name", ["plain_cnn", "separable_block"])
def test_nhwc_interface_has_no_transposes(name, tmp_path, tfjs_runtime):
    path = save(MODELS[name](), tmp_path, name)
    ops = convert_and_verify(path, tmp_path / "out", input_layout="nhwc")
    assert "Transpose" not in ops
    doc = model_json(tmp_path / "out")
    x = next(iter(doc["signature"]["inputs"].values()))
    assert [int(d["size"]) for d in x["tensorShape"]["dim"]][-1] in (3, 8)  # channels last
    assert set(doc["userDefinedMetadata"]["onnx"]["layout"]["inputs"].values()) == {"NHWC"}


def test_layout_tracking_keeps_cnn_ops_in_nhwc(tmp_path):
    """One boundary Transpose; convs, BN, pools and the global pool all run NHWC; weights are HWIO."""
    path = save(plain_cnn(), tmp_path, "cnn")
    tfjsconv.convert(path, tmp_path / "out", skip_passes=["fuse_ops"])  # the frontend's own output, unfused
    doc = model_json(tmp_path / "out")
    nodes = doc["modelTopology"]["node"]
    assert [n["op"] for n in nodes].count("Transpose") == 1
    convs = [n for n in nodes if n["op"] == "Conv2D"]

    def text(node, attr):
        return base64.b64decode(node["attr"][attr]["s"]).decode()

    assert sorted(text(n, "padding") for n in convs) == ["EXPLICIT", "SAME"]
    assert {text(n, "data_format") for n in convs} == {"NHWC"}
    ops = [n["op"] for n in nodes]
    assert "Mul" not in ops and "AddV2" not in ops and ops.count("BiasAdd") == 3  # BN folded into the convs
    weights = {w["name"]: w["shape"] for group in doc["weightsManifest"] for w in group["weights"]}
    assert [3, 3, 3, 8] in weights.values()  # OIHW [8, 3, 3, 3] -> HWIO
    assert doc["signature"]["inputs"]["image"]["tensorShape"]["dim"][1]["size"] == "3"  # NCHW interface


@pytest.mark.node
def test_external_data_and_the_verify_cli(tmp_path, tfjs_runtime):
    """Weights in a separate file are memory-mapped, not read twice; `tfjsconv verify x.onnx out/` works."""
    path = tmp_path / "ext.onnx"
    onnx.save(plain_cnn(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.weights", size_threshold=0)
    assert (tmp_path / "ext.weights").stat().st_size > 1000
    tfjsconv.convert(path, tmp_path / "out", input_layout="nhwc")
    out = cli("verify", str(path), str(tmp_path / "out"), "--rtol", str(RTOL))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout
    (tmp_path / "ext.weights").write_bytes(b"short")
    with pytest.raises(InputError, match="shorter than"):
        tfjsconv.convert(path, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


# -- bad input -----------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *args], capture_output=True, text=True,
                          env={**os.environ})


def test_random_bytes_via_cli(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out = cli("convert", str(path), str(tmp_path / "out"))
    assert out.returncode == 2, out.stderr
    assert "not a valid ONNX model" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_truncated_file_via_cli(tmp_path):
    path = save(plain_cnn(), tmp_path, "cnn")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    out = cli("convert", str(path), str(tmp_path / "out"))
    assert out.returncode == 2, out.stderr
    assert "truncated" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_opset_too_new_is_named(tmp_path):
    b = Builder()
    model = b.model([b.op("Relu", [b.input("x", [2])])], opset=13)
    model.opset_import[0].version = 99
    path = tmp_path / "future.onnx"
    onnx.save(model, str(path))
    from tfjsconv.plugins.onnx.reading import MAX_OPSET, MIN_OPSET

    with pytest.raises(InputError, match=rf"opset 99.*\({MIN_OPSET}\.\.{MAX_OPSET}\)"):
        tfjsconv.convert(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_ops_are_all_listed_with_node_names(tmp_path):
    b = Builder()
    x = b.input("x", [1, 4])
    h = b.op("Relu", [b.op("Frobnicate", [x])])
    h = b.op("Frobnicate", [b.op("Twiddle", [h], domain="com.example")])
    path = tmp_path / "unknown.onnx"
    onnx.save(b.model([h], extra_opsets={"com.example": 1}), str(path))
    with pytest.raises(UnsupportedOpsError) as info:
        tfjsconv.convert(path, tmp_path / "out")
    message = str(info.value)
    assert "2 ONNX op type(s)" in message
    assert "Frobnicate: Frobnicate_1, Frobnicate_4" in message
    assert "com.example:Twiddle: Twiddle_3" in message
    assert not (tmp_path / "out").exists()
    out = cli("convert", str(path), str(tmp_path / "out"))
    assert out.returncode == 2 and "Frobnicate" in out.stderr and "Twiddle" in out.stderr
    assert "Traceback" not in out.stderr


def test_all_problems_are_reported_at_once(tmp_path):
    b = Builder()
    x, _ = b.input("x", [1, 2, 4, 4]), b.input("seq", [1, 2, 8])
    padded = b.op("Dropout", [x, b.const(np.array(0.5, np.float32), "ratio"), b.const(np.array(True), "training")])
    resized = b.op("Resize", [x, b.const(np.zeros(0, np.float32), "roi"),
                              b.const(np.array([1, 1, 1.5, 1.5], np.float32), "sc")],
                   coordinate_transformation_mode="tf_crop_and_resize")  # with an empty roi
    path = save(b.model([b.op("Relu", [padded]), resized, b.op("Frobnicate", [x])], opset=18), tmp_path, "problems")
    with pytest.raises(UnsupportedOpsError) as info:
        tfjsconv.convert(path, tmp_path / "out")
    message = str(info.value)
    assert "Frobnicate: Frobnicate_4" in message
    assert "'Dropout_1' (Dropout, opset 18): training mode is not supported" in message
    assert "'Resize_2' (Resize, opset 18): tf_crop_and_resize needs the roi" in message


def test_int64_weight_outside_int32_is_an_error(tmp_path):
    b = Builder()
    x = b.input("x", [3], TensorProto.INT64)
    y = b.op("Add", [x, b.const(np.array([1, 2, 2**40], np.int64), "huge")])
    path = save(b.model([y], dtype=TensorProto.INT64), tmp_path, "int64")
    with pytest.raises(InputError, match=r"'huge'.*outside the int32 range"):
        tfjsconv.convert(path, tmp_path / "out")


# -- plugins -------------------------------------------------------------------------------------
def scale_by_model(tmp_path: Path) -> Path:
    b = Builder()
    x = b.input("x", [2, 3, 4, 4])
    c = b.conv(x, 3, 4, pads=[1, 1, 1, 1])
    y = b.op("ScaleBy", [c], domain="com.example", factor=2.5)
    path = tmp_path / "custom.onnx"
    onnx.save(b.model([b.op("Relu", [y])], extra_opsets={"com.example": 1}), str(path))
    return path


class ScaleByPlugin:
    """The docs/onnx.md example: a mapping for the custom-domain op com.example:ScaleBy."""

    @hookimpl
    def register_op_mappings(self, register):
        def scale_by(ctx):
            x, layout = ctx.input_laid(0)  # elementwise: keep whatever layout the input has
            factor = ctx.scalar_like(ctx.attr("factor", 1.0), x, label="factor")
            return ctx.laid(ctx.op("Mul", [x, factor]), layout)

        register("onnx", "ScaleBy", scale_by, domain="com.example")


@pytest.mark.node
def test_third_party_op_mapping_is_used(tmp_path, tfjs_runtime):
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import format_report, verify_model

    path = scale_by_model(tmp_path)
    with pytest.raises(UnsupportedOpsError, match="com.example:ScaleBy"):
        tfjsconv.convert(path, tmp_path / "refused")
    get_plugin_manager().register(ScaleByPlugin(), name="scale-by")
    tfjsconv.convert(path, tmp_path / "out", skip_passes=["fold_batchnorm"])  # keep the Mul (else folded into the conv)
    ops = ops_of(tmp_path / "out")
    assert ops.count("Transpose") == 2 and "Mul" in ops  # NHWC all the way from the conv to the output

    # the reference: the same model with ScaleBy spelled as a standard Mul, run by onnxruntime
    model = onnx.load(str(path))
    node = next(n for n in model.graph.node if n.op_type == "ScaleBy")
    model.graph.initializer.append(numpy_helper.from_array(np.float32(2.5), "factor"))
    node.op_type, node.domain, node.input[:] = "Mul", "", [node.input[0], "factor"]
    del node.attribute[:]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = {"x": np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)}
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))
    report = verify_model(tmp_path / "out", inputs, expected, rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


def test_builtin_mapping_can_be_overridden(tmp_path):
    """A plugin registering ("onnx", "Relu") with override=True replaces ours, looked up at load time."""
    from tfjsconv.plugin_manager import get_plugin_manager, reset_plugin_manager

    def relu6_plugin(override):
        class Relu6Everywhere:
            @hookimpl
            def register_op_mappings(self, register):
                register("onnx", "Relu", lambda ctx: ctx.op("Relu6", [ctx.input(0)]), override=override)
        return Relu6Everywhere()

    b = Builder()
    path = save(b.model([b.op("Relu", [b.input("x", [2, 3])])]), tmp_path, "relu")
    get_plugin_manager().register(relu6_plugin(False), name="relu6")
    with pytest.raises(PluginError, match="'relu6'.*'onnx'|'onnx'.*'relu6'"):
        tfjsconv.convert(path, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    reset_plugin_manager()
    get_plugin_manager().register(relu6_plugin(True), name="relu6")
    tfjsconv.convert(path, tmp_path / "out")
    assert "Relu6" in ops_of(tmp_path / "out")


def test_importing_the_plugin_imports_no_onnx():
    code = ("import sys; import tfjsconv.plugins.onnx; from tfjsconv.plugin_manager import get_plugin_manager; "
            "r = get_plugin_manager().registry; assert ('onnx', 'Conv') in r.op_mappings; "
            "print(sorted(m for m in sys.modules if m == 'onnx' or m.startswith(('onnx.', 'onnxruntime'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_detection_and_option(tmp_path):
    from tfjsconv.plugins.onnx.frontend import OnnxFrontend

    path = save(mlp(), tmp_path, "mlp")
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(path.read_bytes())
    assert OnnxFrontend().detect(path) and OnnxFrontend().detect(renamed)
    assert not OnnxFrontend().detect(tmp_path / "saved_model.pb")
    help_text = cli("convert", "--help").stdout
    assert "--input_layout" in help_text


# -- layout algebra and mapping lookup (no onnx needed, but kept with the frontend's tests) -------
def test_reshape_in_layout():
    from tfjsconv.plugins.onnx.layout import reshape_in_layout

    nhwc = (0, 2, 3, 1)
    # NCHW [N,C,H,W] -> [N,C,H*W] on an NHWC tensor: merge H,W in place, channels stay last
    assert reshape_in_layout(nhwc, [2, 8, 6, 6], [2, 8, 36]) == ((2, 36, 8), (0, 2, 1))
    # after a global pool the spatial dims are 1: any flatten is free, even with a dynamic batch
    assert reshape_in_layout(nhwc, [None, 8, 1, 1], [None, 8]) == ((None, 8), None)
    # C and H*W merged together: the order differs between layouts, a Transpose is needed
    assert reshape_in_layout(nhwc, [2, 8, 6, 6], [2, 288]) is None
    assert reshape_in_layout(None, [2, 8, 6, 6], [2, 288]) == ((2, 288), None)


def test_mapping_lookup_by_domain():
    from tfjsconv.plugin_manager import OpMapping
    from tfjsconv.plugins.onnx.mapping import lookup

    def mapping(op, **options):
        return OpMapping("onnx", op, print, options, "test")

    table = {("onnx", "Relu"): mapping("Relu", domain=""), ("onnx", "Any"): mapping("Any"),
             ("onnx", "com.x:Relu"): mapping("com.x:Relu")}
    assert lookup(table, "", "Relu") is table[("onnx", "Relu")]
    assert lookup(table, "ai.onnx", "Relu") is table[("onnx", "Relu")]
    assert lookup(table, "com.x", "Relu") is table[("onnx", "com.x:Relu")]
    assert lookup(table, "com.y", "Relu") is None  # ours is for the standard domain only
    assert lookup(table, "com.y", "Any") is table[("onnx", "Any")]  # no domain option: any domain
