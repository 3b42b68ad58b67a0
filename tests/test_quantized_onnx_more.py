"""Quantized ONNX weights beyond 8-bit per tensor/axis keep their integers in the shards: blocked
quantization (opset 21 ``block_size``, 1 byte each, block scales applied in the graph), 16-bit QDQ
weights (2 bytes each) and scales/zero points held in external data files. Each model runs in real
TF.js (cpu, wasm) against onnxruntime by docs/quantization.md's rule.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
quantization = pytest.importorskip("onnxruntime.quantization")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import onnx_model, onnxruntime_outputs  # noqa: E402
from test_quantized_onnx import _Cnn, _export, _quantize_static, _within_two_steps  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

BACKENDS = ("cpu", "wasm")
#: A float output (the blocked weights feed float MatMul/Conv) against onnxruntime, relative to max |y|.
FLOAT_OUTPUT_RTOL = 1e-5


def _entries(doc: dict) -> list[dict]:
    return [w for group in doc["weightsManifest"] for w in group["weights"]]


def _stored_bytes(entry: dict) -> int:
    q = entry.get("quantization")
    width = {"uint8": 1, "uint16": 2}[q["dtype"]] if q else 4
    return int(np.prod(entry["shape"])) * width


def _integer_weights(doc: dict, out: Path, dtype: str, min_size: int) -> list[dict]:
    """Every weight of ``min_size`` elements or more is stored as ``dtype`` with scale 1 and an integer min (each
    stored value decodes to an exact integer); the shards hold exactly the manifest's bytes."""
    entries = _entries(doc)
    big = [w for w in entries if int(np.prod(w["shape"])) >= min_size]
    assert big
    for w in big:
        q = w.get("quantization")
        assert q and q["dtype"] == dtype and q["scale"] == 1 and float(q["min"]).is_integer(), w
    assert sum(p.stat().st_size for p in out.glob("*.bin")) == sum(_stored_bytes(w) for w in entries)
    return big


# -- blocked quantization -------------------------------------------------------------------------
def _blocked_model(path: Path, kind: str, size: int, block: int, *, zero_point: bool,
                   scale_blocks: int | None = None) -> Path:
    """``DequantizeLinear(w, scale, zp, axis, block_size)`` (opset 21) feeding a MatMul (blocks along K,
    axis 0) or a Conv (blocks along the input channels, axis 1: the TF kernel is transposed to HWIO)."""
    rng = np.random.default_rng(3)
    if kind == "matmul":
        shape, axis, x_shape, op = (size, 12), 0, [3, size], "MatMul"
    else:
        shape, axis, x_shape, op = (8, size, 3, 3), 1, [1, size, 6, 6], "Conv"
    blocks = scale_blocks if scale_blocks is not None else -(-size // block)
    param_shape = list(shape)
    param_shape[axis] = blocks
    inits = {"w": rng.integers(-128, 128, shape).astype(np.int8),
             "scale": (rng.random(param_shape) * 0.02 + 0.001).astype(np.float32)}
    inputs = ["w", "scale"]
    if zero_point:
        inits["zp"] = rng.integers(-6, 6, param_shape).astype(np.int8)
        inputs.append("zp")
    nodes = [helper.make_node("DequantizeLinear", inputs, ["wf"], name="dq_blocked", axis=axis, block_size=block),
             helper.make_node(op, ["x", "wf"], ["y"])]
    return onnx_model(path, nodes, {"x": (TensorProto.FLOAT, x_shape)}, ["y"], opset=21, initializers=inits)


@pytest.mark.node
@pytest.mark.parametrize("kind,size,block,zero_point", [
    ("matmul", 32, 8, False), ("matmul", 30, 8, True), ("conv", 6, 4, True)],
    ids=["matmul_blocks_divide", "matmul_short_last_block_zero_points", "conv_input_channel_blocks"])
def test_blocked_weights_stay_one_byte_with_block_scales_in_the_graph(tmp_path, tfjs_runtime, kind, size, block,
                                                                       zero_point):
    path = _blocked_model(tmp_path / "m.onnx", kind, size, block, zero_point=zero_point)
    feeds = {"x": np.random.default_rng(4).standard_normal(
        [3, size] if kind == "matmul" else [1, size, 6, 6]).astype(np.float32)}
    expected = onnxruntime_outputs(path, feeds)
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, rtol=FLOAT_OUTPUT_RTOL,
                          elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    weight_size = size * 12 if kind == "matmul" else 8 * size * 9
    padded = -(-size // block) * block * weight_size // size
    big = _integer_weights(doc, tmp_path / "out", "uint8", min_size=weight_size)
    assert [int(np.prod(w["shape"])) for w in big] == [padded]  # padded to whole blocks (edge values)
    floats = [w for w in _entries(doc) if "quantization" not in w and w["dtype"] == "float32"]
    per_block = -(-size // block) * weight_size // size  # one value per block
    assert all(int(np.prod(w["shape"])) <= per_block for w in floats), floats  # no full-size float constant
    ops = {n["name"]: n["op"] for n in doc["modelTopology"]["node"]}
    assert ops[f"{big[0]['name']}/dequantized_blocks"] == "Mul"
    assert ops[f"{big[0]['name']}/dequantized"] == ("Reshape" if size % block == 0 else "Slice")


@pytest.mark.node
@pytest.mark.parametrize("block,zero_point", [(16, False), (32, True)], ids=["int8_block16", "int8_block32_zp"])
def test_blocked_weights_along_k_match_the_reference_not_int8_activations(tmp_path, tfjs_runtime, block, zero_point):
    """Blocks of 16+ along K of a MatMul are what onnxruntime fuses into ``MatMulNBits``, which by default
    quantizes the activations to int8 (≈ 0.5 % off the model's float product). The reference (what
    ``verify`` runs) asks for float32 activations: it then computes the model, and TF.js matches it."""
    import onnxruntime as ort

    from tfjsconv.plugins.onnx.reference import run_onnxruntime

    path = _blocked_model(tmp_path / "m.onnx", "matmul", 64, block, zero_point=zero_point)
    feeds = {"x": np.random.default_rng(4).standard_normal([3, 64]).astype(np.float32)}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # no fusion: the spec's maths
    unfused = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    expected = run_onnxruntime(path, feeds)
    np.testing.assert_allclose(expected["y"], unfused, rtol=0, atol=FLOAT_OUTPUT_RTOL * np.abs(unfused).max())
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, rtol=FLOAT_OUTPUT_RTOL,
                          elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("kind,size,block", [("matmul", 30, 8), ("conv", 6, 4)], ids=["matmul", "conv"])
def test_blocked_weights_stay_blocked_when_a_written_model_is_read_back(tmp_path, tfjs_runtime, kind, size, block):
    """Read back (tfjs_graph_model input) and re-sharded, a blocked weight (short last block, zero point
    subtracted in the graph) keeps its integers and block scales: constant folding merges the chain into one
    float32 weight, which the writer splits back (it used to stay float32, 4 bytes per value)."""
    path = _blocked_model(tmp_path / "m.onnx", kind, size, block, zero_point=True)
    feeds = {"x": np.random.default_rng(4).standard_normal(
        [3, size] if kind == "matmul" else [1, size, 6, 6]).astype(np.float32)}
    tfjsconv.convert(path, tmp_path / "out")
    first = run_model(tmp_path / "out", feeds, backends=("cpu",), quiet=True).outputs()
    tfjsconv.convert(tmp_path / "out", tmp_path / "again", weight_shard_size_bytes=1024)
    report = verify_model(tmp_path / "again", feeds, first, backends=BACKENDS, rtol=1e-6, elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)
    weight_size = size * 12 if kind == "matmul" else 8 * size * 9
    docs = [json.loads((tmp_path / d / "model.json").read_text()) for d in ("out", "again")]
    big = [_integer_weights(doc, tmp_path / d, "uint8", min_size=weight_size) for doc, d in zip(docs, ("out", "again"))]
    assert [w["shape"] for w in big[1]] == [w["shape"] for w in big[0]]
    assert sum(map(_stored_bytes, _entries(docs[1]))) == sum(map(_stored_bytes, _entries(docs[0])))


def test_a_blocked_scale_of_the_wrong_shape_is_refused(tmp_path):
    """block_size 8 on an axis of 30 needs 4 blocks (ceil: onnxruntime allows a short last block); a scale
    with 3 is refused up front, naming the node and the shapes."""
    path = _blocked_model(tmp_path / "m.onnx", "matmul", 30, 8, zero_point=False, scale_blocks=3)
    with pytest.raises(InputError, match=r"'dq_blocked'.*block_size 8 along axis 0 of an input of shape \[30, 12\] "
                                         r"needs a scale of shape \[4, 12\], got \[3, 12\]") as caught:
        tfjsconv.convert(path, tmp_path / "out")
    assert caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_bad_quantization_parameters_and_unmapped_ops_are_named_in_one_refusal(tmp_path):
    """The parameters are checked before translating; the refusal still lists the op types with no mapping."""
    path = _blocked_model(tmp_path / "m.onnx", "matmul", 30, 8, zero_point=False, scale_blocks=3)
    model = onnx.load(str(path))
    model.graph.node.append(helper.make_node("NoSuchOp", ["y"], ["z"], name="mystery"))
    model.graph.output[0].name = "z"
    onnx.save(model, str(path))
    with pytest.raises(Exception, match=r"(?s)NoSuchOp: mystery.*'dq_blocked'.*needs a scale of shape") as caught:
        tfjsconv.convert(path, tmp_path / "out")
    assert caught.value.exit_code == 2 and str(caught.value).count("'dq_blocked'") == 1  # not again as a failure
    assert not (tmp_path / "out").exists()


# -- 16-bit weights ---------------------------------------------------------------------------------
@pytest.mark.node
@pytest.mark.parametrize("weight_type,per_channel", [("QInt16", True), ("QUInt16", False)],
                         ids=["int16_per_channel", "uint16_per_tensor"])
def test_16_bit_qdq_weights_stay_two_bytes(tmp_path, tfjs_runtime, weight_type, per_channel):
    shape = (1, 3, 8, 8)
    float_path = _export(_Cnn, shape, tmp_path / "f.onnx")
    path = _quantize_static(float_path, tmp_path / "q.onnx", shape, quant_format=quantization.QuantFormat.QDQ,
                            per_channel=per_channel, weight_type=getattr(quantization.QuantType, weight_type),
                            activation_type=quantization.QuantType.QUInt8)
    types = {t.data_type for t in onnx.load(str(path)).graph.initializer}
    assert (TensorProto.INT16 if weight_type == "QInt16" else TensorProto.UINT16) in types
    doc = _within_two_steps(path, tmp_path / "out", shape)
    big = _integer_weights(doc, tmp_path / "out", "uint16", min_size=64)
    assert sum(int(np.prod(w["shape"])) for w in big) == 3 * 8 * 9 + 8 * 16 * 9 + 16 * 9 + 144 * 10
    from tfjsconv.inspect import inspect_model

    rows = inspect_model(tmp_path / "out")["weights"]["quantized"]  # 2 bytes each, and said so
    assert rows and all(r["scheme"].startswith("integers: uint16 value ") and r["bytes"] * 2 == r["unquantized_bytes"]
                        for r in rows if r["name"] in {w["name"] for w in big}), rows
    if per_channel:  # read back (tfjs_graph_model input) and re-sharded: still 2 bytes each, same outputs
        feeds = {"x": np.random.default_rng(2).standard_normal(shape).astype(np.float32)}
        first = run_model(tmp_path / "out", feeds, backends=("cpu",), quiet=True).outputs()
        tfjsconv.convert(tmp_path / "out", tmp_path / "again", weight_shard_size_bytes=1024)
        report = verify_model(tmp_path / "again", feeds, first, backends=BACKENDS, rtol=1e-6, elem_rtol=None,
                              quiet=True)
        assert report.passed, format_report(report)
        _integer_weights(json.loads((tmp_path / "again" / "model.json").read_text()), tmp_path / "again", "uint16",
                         min_size=64)


# -- external data ----------------------------------------------------------------------------------
def _external(path: Path, folder: Path, *, one_file: bool) -> Path:
    """``path`` saved with every tensor (scales and zero points too) in external data files."""
    folder.mkdir()
    model = onnx.load(str(path))
    for tensor in model.graph.initializer:  # onnx moves only raw_data out; quantize_static writes float_data scales
        tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name))
    out = folder / "model.onnx"
    onnx.save_model(model, str(out), save_as_external_data=True, all_tensors_to_one_file=one_file,
                    location="model.data" if one_file else None, size_threshold=0)
    return out


@pytest.mark.node
def test_scales_in_external_data_count_like_inline_ones(tmp_path, tfjs_runtime):
    shape = (1, 3, 8, 8)
    float_path = _export(_Cnn, shape, tmp_path / "f.onnx")
    path = _quantize_static(float_path, tmp_path / "q.onnx", shape, quant_format=quantization.QuantFormat.QDQ,
                            per_channel=True)
    external = _external(path, tmp_path / "ext", one_file=True)
    scales = [t for t in onnx.load(str(external), load_external_data=False).graph.initializer if "scale" in t.name]
    assert scales and all(t.data_location == TensorProto.EXTERNAL for t in scales)
    doc = _within_two_steps(external, tmp_path / "out", shape)
    big = _integer_weights(doc, tmp_path / "out", "uint8", min_size=64)
    assert len(big) == 4


def test_a_missing_external_scale_file_is_refused(tmp_path):
    shape = (1, 3, 8, 8)
    float_path = _export(_Cnn, shape, tmp_path / "f.onnx")
    path = _quantize_static(float_path, tmp_path / "q.onnx", shape, quant_format=quantization.QuantFormat.QDQ,
                            per_channel=True)
    external = _external(path, tmp_path / "ext", one_file=False)
    model = onnx.load(str(external), load_external_data=False)
    scale = next(t for t in model.graph.initializer if t.name.endswith("_scale") and len(t.dims) == 1)
    location = next(e.value for e in scale.external_data if e.key == "location")
    (tmp_path / "ext" / location).unlink()
    with pytest.raises(InputError, match=rf"initializer '{scale.name}' needs external data file .*{location}.*"
                                         "does not exist") as caught:
        tfjsconv.convert(external, tmp_path / "out")
    assert caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()


# -- DynamicQuantizeLSTM --------------------------------------------------------------------------------
class _Lstm(torch.nn.Module):
    def __init__(self, bidirectional: bool) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(12, 24, num_layers=2, batch_first=True, bidirectional=bidirectional)
        self.fc = torch.nn.Linear(48 if bidirectional else 24, 4)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


def _single_threaded_onnxruntime(path: Path, feeds: dict) -> dict:
    """onnxruntime with one intra-op thread: with several, its LSTM splits the batch among the threads and
    quantizes each part's hidden state with that part's own range (results then depend on the machine). Its
    int8 weights are given as uint8 (``exact_products``): on a CPU without VNNI onnxruntime saturates uint8·int8."""
    import onnxruntime as ort

    from tfjsconv.plugins.onnx.exact_products import exact_integer_products

    model = onnx.load(str(path))
    exact_integer_products(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


@pytest.mark.node
@pytest.mark.parametrize("bidirectional,per_channel,weight_type", [(True, True, "QInt8"), (False, False, "QUInt8")],
                         ids=["bidirectional_per_channel_int8", "forward_per_tensor_uint8"])
def test_dynamic_quantize_lstm_matches_onnxruntime_with_one_byte_weights(tmp_path, tfjs_runtime, bidirectional,
                                                                          per_channel, weight_type):
    torch.manual_seed(0)
    module = _Lstm(bidirectional).eval()
    float_path = tmp_path / "f.onnx"
    torch.onnx.export(module, (torch.randn(3, 7, 12),), str(float_path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    path = tmp_path / "q.onnx"
    quantization.quantize_dynamic(str(float_path), str(path), per_channel=per_channel,
                                  weight_type=getattr(quantization.QuantType, weight_type))
    assert "DynamicQuantizeLSTM" in {n.op_type for n in onnx.load(str(path)).graph.node}
    feeds = {"x": np.random.default_rng(2).standard_normal((3, 7, 12)).astype(np.float32)}
    expected = _single_threaded_onnxruntime(path, feeds)
    from tfjsconv.plugins.onnx.reference import run_onnxruntime

    reference = run_onnxruntime(path, feeds)  # what `tfjsconv verify` compares with: the same, whatever the machine
    assert np.array_equal(reference["y"], expected["y"])
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, rtol=FLOAT_OUTPUT_RTOL,
                          elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    matrices = [w for w in _entries(doc) if w["name"].endswith(("/W", "/R"))]
    assert len(matrices) == 2 * 2 * (2 if bidirectional else 1)  # W and R per layer and direction
    for w in matrices:
        q = w.get("quantization")
        assert q and q["dtype"] == "uint8" and q["scale"] == 1, w


# -- tfjs_graph_model input with a function library -----------------------------------------------------
def _ints(values: list[int]) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def _loop_model(folder: Path, *, drop_weight: str | None = None) -> Path:
    """A hand-built graph model (the layout tfjsconv's ``--control_flow_v2`` writes): ``y`` = ``a ← tanh(a @ w + b)``
    run ``n`` times from ``a = x``, as a ``While`` whose body and cond are library functions; the body holds
    Consts of its own (``body/b``, ``body/one``), stored in the manifest under their node names."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    weights = {"i0": np.array(0, np.int32), "w": (rng.standard_normal((16, 16)) * 0.3).astype(np.float32),
               "body/one": np.array(1, np.int32), "body/b": rng.standard_normal(16).astype(np.float32)}
    dtype = {np.dtype(np.int32): "DT_INT32", np.dtype(np.float32): "DT_FLOAT"}
    const = {name: {"name": name, "op": "Const", "attr": {"dtype": {"type": dtype[v.dtype]}, "value": {
        "tensor": {"dtype": dtype[v.dtype], "tensorShape": {"dim": [{"size": str(d)} for d in v.shape]}}}}}
        for name, v in weights.items()}
    f32, i32 = {"type": "DT_FLOAT"}, {"type": "DT_INT32"}
    args = [{"name": "i", "type": "DT_INT32"}, {"name": "a", "type": "DT_FLOAT"}, {"name": "n", "type": "DT_INT32"},
            {"name": "w", "type": "DT_FLOAT"}]
    body = {"signature": {"name": "body", "inputArg": args,
                          "outputArg": [dict(a, name=f"{a['name']}_out") for a in args]},
            "nodeDef": [const["body/one"], const["body/b"],
                        {"name": "next_i", "op": "AddV2", "input": ["i", "body/one"], "attr": {"T": i32}},
                        {"name": "product", "op": "MatMul", "input": ["a", "w"],
                         "attr": {"T": f32, "transpose_a": {"b": False}, "transpose_b": {"b": False}}},
                        {"name": "biased", "op": "AddV2", "input": ["product", "body/b"], "attr": {"T": f32}},
                        {"name": "next_a", "op": "Tanh", "input": ["biased"], "attr": {"T": f32}}],
            "ret": {"i_out": "next_i", "a_out": "next_a", "n_out": "n", "w_out": "w"}}
    cond = {"signature": {"name": "cond", "inputArg": args, "outputArg": [{"name": "more", "type": "DT_BOOL"}]},
            "nodeDef": [{"name": "less", "op": "Less", "input": ["i", "n"], "attr": {"T": i32}}],
            "ret": {"more": "less"}}
    types = {"list": {"type": ["DT_INT32", "DT_FLOAT", "DT_INT32", "DT_FLOAT"]}}
    nodes = [{"name": "x", "op": "Placeholder", "attr": {"dtype": f32, "shape": {"shape": {
                 "dim": [{"size": "2"}, {"size": "16"}]}}}},
             {"name": "n", "op": "Placeholder", "attr": {"dtype": i32, "shape": {"shape": {}}}},
             const["i0"], const["w"],
             {"name": "loop", "op": "While", "input": ["i0", "x", "n", "w"],
              "attr": {"T": types, "body": {"func": {"name": "body"}}, "cond": {"func": {"name": "cond"}},
                       "parallel_iterations": {"i": "10"}}},
             {"name": "y", "op": "Identity", "input": ["loop:1"], "attr": {"T": f32}}]
    kept = {k: v for k, v in weights.items() if k != drop_weight}
    (folder / "group1-shard1of1.bin").write_bytes(b"".join(v.tobytes() for v in kept.values()))
    manifest = [{"paths": ["group1-shard1of1.bin"], "weights": [
        {"name": k, "shape": list(v.shape), "dtype": "int32" if v.dtype == np.int32 else "float32"}
        for k, v in kept.items()]}]
    doc = {"format": "graph-model", "generatedBy": "hand", "convertedBy": "hand",
           "modelTopology": {"node": nodes, "library": {"function": [body, cond]}, "versions": {"producer": 1395}},
           "weightsManifest": manifest,
           "signature": {"inputs": {"x": {"name": "x:0", "dtype": "DT_FLOAT"}, "n": {"name": "n:0", "dtype": "DT_INT32"}},
                         "outputs": {"y": {"name": "y:0", "dtype": "DT_FLOAT"}}}}
    (folder / "model.json").write_text(json.dumps(doc))
    return folder


@pytest.mark.node
def test_graph_model_with_a_function_library_is_resharded_and_requantized(tmp_path, tfjs_runtime):
    source = _loop_model(tmp_path / "source")
    feeds = {"x": np.random.default_rng(6).standard_normal((2, 16)).astype(np.float32), "n": np.array(3, np.int32)}
    expected = run_model(source, feeds, backends=("cpu",), quiet=True).outputs()
    tfjsconv.convert(source, tmp_path / "same", weight_shard_size_bytes=256)  # a plain re-shard: same outputs
    report = verify_model(tmp_path / "same", feeds, expected, backends=BACKENDS, rtol=1e-6, elem_rtol=None,
                          quiet=True)
    assert report.passed, format_report(report)
    tfjsconv.convert(source, tmp_path / "half", quantize_float16=True)  # the body's own weights too
    report = verify_model(tmp_path / "half", feeds, expected, backends=BACKENDS, rtol=2e-3, elem_rtol=None,
                          quiet=True)
    assert report.passed, format_report(report)
    doc = json.loads((tmp_path / "half" / "model.json").read_text())
    stored = {w["name"]: w.get("quantization", {}).get("dtype") for w in _entries(doc)}
    assert stored["w"] == stored["body/b"] == "float16" and stored["body/one"] is None
    assert [f["signature"]["name"] for f in doc["modelTopology"]["library"]["function"]] == ["body", "cond"]
    assert any(n["op"] == "While" for n in doc["modelTopology"]["node"])


def test_a_library_const_without_a_weight_is_refused(tmp_path):
    source = _loop_model(tmp_path / "source", drop_weight="body/b")
    with pytest.raises(InputError, match=r"no weight for the library's Const node\(s\) body/b") as caught:
        tfjsconv.convert(source, tmp_path / "out")
    assert caught.value.exit_code == 2


def test_dynamic_quantize_lstm_with_a_zero_weight_scale_is_refused(tmp_path):
    torch.manual_seed(0)
    float_path = tmp_path / "f.onnx"
    torch.onnx.export(_Lstm(False).eval(), (torch.randn(1, 4, 12),), str(float_path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    path = tmp_path / "q.onnx"
    quantization.quantize_dynamic(str(float_path), str(path))
    model = onnx.load(str(path))
    lstm = next(n for n in model.graph.node if n.op_type == "DynamicQuantizeLSTM")
    scale = next(t for t in model.graph.initializer if t.name == lstm.input[8])
    scale.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(scale)), scale.name))
    onnx.save(model, str(path))
    with pytest.raises(InputError, match=rf"{lstm.name}.*W's scale holds 0, NaN or infinity") as caught:
        tfjsconv.convert(path, tmp_path / "out")
    assert caught.value.exit_code == 2
