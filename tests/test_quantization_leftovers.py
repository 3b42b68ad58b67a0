"""Quantization leftovers: 4-bit ONNX weights kept one byte each (exact), integer weights inside a graph
model's function library kept integer on a re-shard / re-quantization, and a ``DynamicQuantizeLSTM`` that
onnxruntime refuses to run refused here too. Each converted model runs in real TF.js (cpu, wasm) against
onnxruntime, TensorFlow or the source graph model's own TF.js outputs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfjsconv  # noqa: E402
from test_quantized_onnx_more import _entries, _loop_model, _stored_bytes  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

BACKENDS = ("cpu", "wasm")
#: A float output computed from exact weights, against onnxruntime / TensorFlow, relative to max |y|.
FLOAT_OUTPUT_RTOL = 1e-5


# -- 4-bit weights --------------------------------------------------------------------------------
def _four_bit_model(path: Path, case: str) -> Path:
    """``DequantizeLinear`` of an int4/uint4 initializer (opset 21) feeding a MatMul (``wf`` is an output too, so
    the dequantized weight itself is compared), per channel, per tensor or blocked along K (short last block)."""
    rng = np.random.default_rng(11)
    signed = case != "uint4_per_tensor_conv"
    elem, low, high = (TensorProto.INT4, -8, 8) if signed else (TensorProto.UINT4, 0, 16)
    if case == "uint4_per_tensor_conv":
        shape, param_shape, attrs, x_shape, op = (6, 5, 3, 3), [], {}, [1, 5, 7, 7], "Conv"
    elif case == "int4_per_channel_matmul":
        shape, param_shape, attrs, x_shape, op = (20, 12), [12], {"axis": 1}, [3, 20], "MatMul"
    else:  # blocks of 8 along K = 30: the last block holds 6
        shape, param_shape, attrs, x_shape, op = (30, 12), [4, 12], {"axis": 0, "block_size": 8}, [3, 30], "MatMul"
    weight = helper.make_tensor("w", elem, list(shape), rng.integers(low, high, shape).reshape(-1).tolist())
    scale = (rng.random(param_shape) * 0.05 + 0.002).astype(np.float32)
    zero_point = helper.make_tensor("zp", elem, param_shape,
                                    rng.integers(low // 4, high // 4, param_shape).reshape(-1).tolist())
    nodes = [helper.make_node("DequantizeLinear", ["w", "scale", "zp"], ["wf"], name="dq_4bit", **attrs),
             helper.make_node(op, ["x", "wf"], ["y"])]
    graph = helper.make_graph(nodes, "four_bit", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("wf", TensorProto.FLOAT, list(shape))],
                              [weight, numpy_helper.from_array(scale, "scale"), zero_point])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


@pytest.mark.node
@pytest.mark.parametrize("case", ["int4_per_channel_matmul", "uint4_per_tensor_conv", "int4_blocked_matmul"])
def test_four_bit_weights_stay_one_byte_and_dequantize_bit_exactly(tmp_path, tfjs_runtime, case):
    from tfjsconv.plugins.onnx.reference import run_onnxruntime

    path = _four_bit_model(tmp_path / "m.onnx", case)
    x_shape = [int(d.dim_value) for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    feeds = {"x": np.random.default_rng(12).standard_normal(x_shape).astype(np.float32)}
    expected = run_onnxruntime(path, feeds)
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, rtol=FLOAT_OUTPUT_RTOL,
                          elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)
    run = run_model(tmp_path / "out", feeds, backends=BACKENDS, quiet=True)
    weight = expected["wf"]
    for backend in BACKENDS:  # the dequantized weight TF.js computes is onnxruntime's, bit for bit
        got = run.outputs(backend)["wf"]
        assert got.shape == weight.shape and np.array_equal(got.view(np.uint32), weight.view(np.uint32)), backend
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    size = weight.size
    stored = [w for w in _entries(doc) if int(np.prod(w["shape"])) >= size]
    assert stored  # (the conv's HWIO kernel and the OIHW output ``wf`` are two weights: two layouts)
    for entry in stored:
        q = entry["quantization"]
        assert q["dtype"] == "uint8" and q["scale"] == 1 and float(q["min"]).is_integer(), entry
    shards = sum(p.stat().st_size for p in (tmp_path / "out").glob("*.bin"))
    assert shards == sum(_stored_bytes(w) for w in _entries(doc))
    assert shards < len(stored) * size * 4 // 2  # one byte per value (plus the scales), not four


@pytest.mark.node
@pytest.mark.parametrize("symmetric,accuracy_level", [(True, None), (False, None), (False, 4)],
                         ids=["symmetric", "zero_points", "accuracy_level_4"])
def test_matmul_nbits_weights_stay_one_byte_and_match_onnxruntime(tmp_path, tfjs_runtime, symmetric, accuracy_level):
    """``com.microsoft:MatMulNBits`` as onnxruntime's own 4-bit quantizer writes it (blocks of 32 along K = 72:
    the last block is short; with packed zero points or the default 8). With ``accuracy_level`` 4 onnxruntime
    quantizes the activations to int8; the reference (what ``verify`` runs) asks for float32 activations."""
    from onnx_models import onnx_model
    from tfjsconv.plugins.onnx.reference import run_onnxruntime

    nbits = pytest.importorskip("onnxruntime.quantization.matmul_nbits_quantizer")
    weight = np.random.default_rng(18).standard_normal((72, 40)).astype(np.float32)
    float_path = onnx_model(tmp_path / "f.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                            {"x": (TensorProto.FLOAT, [2, 3, 72])}, ["y"], opset=17, initializers={"w": weight})
    quantizer = nbits.MatMulNBitsQuantizer(onnx.load(str(float_path)), block_size=32, is_symmetric=symmetric,
                                           accuracy_level=accuracy_level)
    quantizer.process()
    path = tmp_path / "q.onnx"
    quantizer.model.save_model_to_file(str(path))
    node = onnx.load(str(path)).graph.node[0]
    assert node.op_type == "MatMulNBits" and (len(node.input) == 4) != symmetric
    feeds = {"x": np.random.default_rng(19).standard_normal((2, 3, 72)).astype(np.float32)}
    expected = run_onnxruntime(path, feeds)
    if accuracy_level:
        import onnxruntime as ort

        default = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        assert np.abs(default - expected["y"]).max() > 1e-3 * np.abs(expected["y"]).max()  # int8 activations
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, rtol=FLOAT_OUTPUT_RTOL,
                          elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    stored = [w for w in _entries(doc) if int(np.prod(w["shape"])) >= 72 * 40]
    assert len(stored) == 1 and stored[0]["shape"] == [1, 96, 40]  # padded to whole blocks
    q = stored[0]["quantization"]
    assert q["dtype"] == "uint8" and q["scale"] == 1 and float(q["min"]).is_integer()
    shards = sum(p.stat().st_size for p in (tmp_path / "out").glob("*.bin"))
    assert shards == sum(_stored_bytes(w) for w in _entries(doc)) and shards < 72 * 40 * 2


def test_matmul_nbits_with_g_idx_is_refused(tmp_path):
    from onnx_models import onnx_model

    rng = np.random.default_rng(21)
    inits = {"b": rng.integers(0, 256, (8, 2, 8)).astype(np.uint8), "scales": np.full(16, 0.1, np.float32),
             "g_idx": (np.arange(32) // 16).astype(np.int32)}
    node = helper.make_node("MatMulNBits", ["x", "b", "scales", "", "g_idx"], ["y"], name="nbits_act_order",
                            domain="com.microsoft", K=32, N=8, bits=4, block_size=16)
    path = onnx_model(tmp_path / "m.onnx", [node], {"x": (TensorProto.FLOAT, [2, 32])}, ["y"], opset=17,
                      initializers=inits, extra_opsets=(("com.microsoft", 1),))
    with pytest.raises(InputError, match=r"'nbits_act_order'.*g_idx") as caught:
        tfjsconv.convert(path, tmp_path / "out")
    assert caught.value.exit_code == 2


# -- integer weights inside a function library ---------------------------------------------------
def _integer_library_model(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """:func:`_loop_model` with the body's bias ``body/b`` stored as integers (uint8, scale 1, min -128: how
    tfjsconv stores int8 values) and scaled in the body by ``body/b_scale``, and its int32 step ``body/one``
    stored quantized with ``original_dtype`` int32 (TF.js rounds it back to an int32). Returns the folder and
    the weights as TF.js decodes them."""
    _loop_model(folder)
    doc = json.loads((folder / "model.json").read_text())
    rng = np.random.default_rng(13)
    values = {"i0": np.array(0, np.int32), "w": (rng.standard_normal((16, 16)) * 0.3).astype(np.float32),
              "body/one": np.array(1, np.int32), "body/b": rng.integers(-128, 128, 16).astype(np.float32),
              "body/b_scale": np.array(1 / 64, np.float32)}
    stored = {"i0": values["i0"].tobytes(), "w": values["w"].tobytes(), "body/one": np.uint8(1).tobytes(),
              "body/b": (values["body/b"] + 128).astype(np.uint8).tobytes(),
              "body/b_scale": values["body/b_scale"].tobytes()}
    entries = doc["weightsManifest"][0]["weights"]
    entries.append({"name": "body/b_scale", "shape": [], "dtype": "float32"})
    for entry in entries:
        if entry["name"] == "body/one":
            entry["quantization"] = {"dtype": "uint8", "min": 0, "scale": 1, "original_dtype": "int32"}
        elif entry["name"] == "body/b":
            entry["quantization"] = {"dtype": "uint8", "min": -128, "scale": 1, "original_dtype": "float32"}
    body = next(f for f in doc["modelTopology"]["library"]["function"] if f["signature"]["name"] == "body")
    body["nodeDef"].insert(0, {"name": "body/b_scale", "op": "Const", "attr": {
        "dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": {}}}}})
    body["nodeDef"].append({"name": "b_scaled", "op": "Mul", "input": ["body/b", "body/b_scale"],
                            "attr": {"T": {"type": "DT_FLOAT"}}})
    next(n for n in body["nodeDef"] if n["name"] == "biased")["input"] = ["product", "b_scaled"]
    (folder / "group1-shard1of1.bin").write_bytes(b"".join(stored[e["name"]] for e in entries))
    (folder / "model.json").write_text(json.dumps(doc))
    return folder, values


def _tensorflow_loop(values: dict[str, np.ndarray], x: np.ndarray, n: int) -> np.ndarray:
    """The source framework's answer for the loop model: ``a ← tanh(a @ w + b)`` ``n`` times, in TF ops."""
    tf = pytest.importorskip("tensorflow")
    a, i = tf.constant(x), tf.constant(0)
    while bool(tf.raw_ops.Less(x=i, y=tf.constant(n))):
        a = tf.raw_ops.Tanh(x=tf.raw_ops.AddV2(x=tf.raw_ops.MatMul(a=a, b=values["w"]), y=tf.raw_ops.Mul(x=values["body/b"], y=values["body/b_scale"])))
        i = tf.raw_ops.AddV2(x=i, y=values["body/one"])
    return a.numpy()


@pytest.mark.node
@pytest.mark.parametrize("flags", [{}, {"quantize_uint8": True}, {"quantize_float16": True}],
                         ids=["reshard", "quantize_uint8", "quantize_float16"])
def test_integer_weights_in_a_function_library_stay_integers(tmp_path, tfjs_runtime, flags):
    """A library Const stored as integers keeps its integer storage (1 byte, exact) on a re-shard, and no
    --quantize_* flag re-quantizes it lossily (as for the main graph's); an int32 one stays int32, the dtype
    TF.js's ``AddV2`` needs. Held to the source's TF.js outputs and to TensorFlow."""
    source, values = _integer_library_model(tmp_path / "source")
    x = np.random.default_rng(14).standard_normal((2, 16)).astype(np.float32)
    feeds = {"x": x, "n": np.array(3, np.int32)}
    original = run_model(source, feeds, backends=("cpu",), quiet=True).outputs()
    expected = {"y": _tensorflow_loop(values, x, 3)}
    np.testing.assert_allclose(original["y"], expected["y"], rtol=0, atol=1e-5)
    tfjsconv.convert(source, tmp_path / "out", **flags)
    # float16 / uint8 quantize the float kernel w (per-tensor uint8: ≈ 1e-2 of max|y| here)
    tolerance = {"quantize_uint8": 3e-2, "quantize_float16": 2e-3}.get(next(iter(flags), ""), FLOAT_OUTPUT_RTOL)
    for reference in (original, expected):
        report = verify_model(tmp_path / "out", feeds, reference, backends=BACKENDS, rtol=tolerance,
                              elem_rtol=None, quiet=True)
        assert report.passed, format_report(report)
    stored = {w["name"]: w for w in _entries(json.loads((tmp_path / "out" / "model.json").read_text()))}
    assert stored["body/b"]["quantization"] == {"dtype": "uint8", "min": -128.0, "scale": 1.0,
                                                "original_dtype": "float32"}
    assert stored["body/b"]["dtype"] == "float32" and stored["body/one"]["dtype"] == "int32"


# -- DynamicQuantizeLSTM --------------------------------------------------------------------------
def test_dynamic_quantize_lstm_with_nonzero_per_channel_zero_points_is_refused(tmp_path):
    """onnxruntime refuses to run such a model (``InputWeight zero point must be zero``): there is no reference
    to match, so the conversion is refused, naming the node and both offending inputs at once."""
    import onnxruntime as ort

    rng = np.random.default_rng(15)
    hidden, inputs = 4, 3
    inits = {"W": rng.integers(-20, 20, (1, inputs, 4 * hidden)).astype(np.int8),
             "R": rng.integers(-20, 20, (1, hidden, 4 * hidden)).astype(np.int8),
             "W_scale": np.full((1, 4 * hidden), 0.01, np.float32), "R_scale": np.full((1, 4 * hidden), 0.01, np.float32),
             "W_zp": np.zeros((1, 4 * hidden), np.int8), "R_zp": np.zeros((1, 4 * hidden), np.int8)}
    inits["W_zp"][0, 3] = 2
    inits["R_zp"][0, 0] = -1
    node = helper.make_node("DynamicQuantizeLSTM", ["x", "W", "R", "", "", "", "", "", "W_scale", "W_zp", "R_scale",
                                                    "R_zp"], ["y"], name="qlstm", domain="com.microsoft",
                            hidden_size=hidden)
    graph = helper.make_graph([node], "qlstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, inputs])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    path = tmp_path / "q.onnx"
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="zero point must be zero"):
        session.run(None, {"x": np.ones((5, 1, inputs), np.float32)})
    with pytest.raises(InputError, match=r"'qlstm' \(DynamicQuantizeLSTM\): W's per-channel zero point 'W_zp' .*"
                                         r"'qlstm' \(DynamicQuantizeLSTM\): R's per-channel zero point 'R_zp'") as caught:
        tfjsconv.convert(path, tmp_path / "out")
    assert caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()


# -- weights held twice ---------------------------------------------------------------------------
def _tied_model(path: Path) -> Path:
    """A torch model whose output head is tied to its embedding, exported by the TorchScript exporter, which
    writes the head's weight as a second, transposed initializer (``onnx::MatMul_…`` = ``emb.weight``ᵀ)."""
    torch = pytest.importorskip("torch")

    class Tied(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(500, 32)
            self.mix = torch.nn.Linear(32, 32)
            self.head = torch.nn.Linear(32, 500, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, ids):
            return self.head(torch.tanh(self.mix(self.emb(ids))))

    torch.manual_seed(0)
    torch.onnx.export(Tied().eval(), (torch.randint(0, 500, (2, 6)),), str(path), dynamo=False, opset_version=17,
                      input_names=["ids"], output_names=["logits"])
    return path


@pytest.mark.node
def test_a_tied_embedding_and_its_transposed_copy_are_stored_once(tmp_path, tfjs_runtime):
    from tfjsconv.plugins.onnx.reference import run_onnxruntime

    path = _tied_model(tmp_path / "tied.onnx")
    model = onnx.load(str(path))
    assert sum(int(np.prod(t.dims)) == 500 * 32 for t in model.graph.initializer) == 2  # the exporter's two copies
    feeds = {"ids": np.random.default_rng(16).integers(0, 500, (2, 6)).astype(np.int64)}
    expected = run_onnxruntime(path, feeds)
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, rtol=FLOAT_OUTPUT_RTOL,
                          elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    tables = [w for w in _entries(doc) if int(np.prod(w["shape"])) == 500 * 32]
    assert [w["shape"] for w in tables] == [[500, 32]]  # the embedding, read by the Gather and the head's matmul
    head = [n for n in doc["modelTopology"]["node"] if tables[0]["name"] in n.get("input", []) and "Gather" not in n["op"]]
    assert len(head) == 1 and head[0]["op"] in ("MatMul", "BatchMatMulV2")
    assert any(v.get("b") for k, v in head[0]["attr"].items() if k in ("transpose_b", "adj_y"))
    shards = sum(p.stat().st_size for p in (tmp_path / "out").glob("*.bin"))
    assert shards < 500 * 32 * 4 + 40 * 32 * 4  # one table (+ the small Linear), not two


@pytest.mark.node
def test_equal_initializers_are_stored_once(tmp_path, tfjs_runtime):
    """Two initializers with the same values (one a Gather's table, one a MatMul's weight) become one weight."""
    from tfjsconv.plugins.onnx.reference import run_onnxruntime

    from onnx_models import onnx_model

    table = np.random.default_rng(17).standard_normal((64, 64)).astype(np.float32)
    nodes = [helper.make_node("Gather", ["table", "ids"], ["rows"]), helper.make_node("MatMul", ["rows", "copy"], ["y"])]
    path = onnx_model(tmp_path / "m.onnx", nodes, {"ids": (TensorProto.INT64, [3])}, ["y"],
                      initializers={"table": table, "copy": table.copy()})
    feeds = {"ids": np.array([0, 5, 63], np.int64)}
    expected = run_onnxruntime(path, feeds)
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, rtol=FLOAT_OUTPUT_RTOL,
                          elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert [w["shape"] for w in _entries(doc) if int(np.prod(w["shape"])) == 64 * 64] == [[64, 64]]


def test_only_plain_matmuls_read_a_transposed_copy_through_a_flag():
    """A transposed copy read by plain matmuls only is dropped and their flags flip; one read by a ``_FusedMatMul``
    (wasm mis-computes its transposed operands) stays. Checked on the IR (the flags' meaning in TF.js is what
    the tied-embedding test above runs)."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.writers.shared_weights import share_weights

    table = np.random.default_rng(20).standard_normal((64, 32)).astype(np.float32)
    f32 = {"T": DType.FLOAT32}
    results = {}
    for reader in ("MatMul", "_FusedMatMul"):
        graph = Graph()
        x = graph.placeholder("x", DType.FLOAT32, (2, 32))
        kept = graph.const(table, name="table")
        graph.outputs["rows"] = graph.add_op("Relu", [kept], f32, name="rows", dtype=DType.FLOAT32)  # not a matmul
        copy = graph.const(table.T.copy(), name="copy")
        inputs = [x, copy] + ([graph.const(np.zeros(64, np.float32), name="bias")] if reader != "MatMul" else [])
        extra = {"fused_ops": ["BiasAdd"], "num_args": 1} if reader != "MatMul" else {}
        graph.outputs["y"] = graph.add_op(reader, inputs, {**f32, "transpose_a": False, "transpose_b": False, **extra},
                                          name="product", dtype=DType.FLOAT32)
        results[reader] = (share_weights(graph), graph.node("product"), kept)
    shared, product, kept = results["MatMul"]
    assert shared.dropped == {"copy": "table"} and shared.bytes_saved == table.nbytes
    assert product.inputs[1] is kept and product.attrs["transpose_b"] is True
    shared, product, _ = results["_FusedMatMul"]
    assert not shared.dropped and product.inputs[1].producer.name == "copy" and not product.attrs["transpose_b"]
