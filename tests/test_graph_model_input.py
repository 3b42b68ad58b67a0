"""TF.js graph models as input (``--input_format=tfjs_graph_model``): re-shard, re-quantize, new metadata,
passes again; from a model tfjsconv wrote and from a hand-built model.json in the official converter's
layout. Each result runs in TF.js cpu and wasm against the source framework (onnxruntime / TensorFlow).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import TfjsconvError
from tfjsconv.verify.compare import format_report, verify_model
from tfjsconv.verify.run import run_model

BACKENDS = ("cpu", "wasm")
#: Output tolerance (x max|reference|) per re-quantization, against the float source.
RTOL = {"float16": 1e-2, "uint16": 1e-3, "uint8": 5e-2, "int8": 5e-2}


def _onnx_cnn(tmp_path: Path) -> tuple[Path, dict, dict]:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper
    from onnx_models import onnx_model, onnxruntime_outputs

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2]),
             helper.make_node("Flatten", ["c2"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fb"], ["y"])]
    inits = {"w1": (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32),
             "b1": rng.standard_normal(8).astype(np.float32),
             "w2": (rng.standard_normal((6, 8, 3, 3)) * 0.3).astype(np.float32),
             "b2": rng.standard_normal(6).astype(np.float32),
             "fc": (rng.standard_normal((6 * 3 * 3, 5)) * 0.3).astype(np.float32),
             "fb": rng.standard_normal(5).astype(np.float32)}
    del onnx
    path = onnx_model(tmp_path / "cnn.onnx", nodes, {"x": (TensorProto.FLOAT, [1, 3, 8, 8])}, ["y"], opset=13,
                      initializers=inits)
    feeds = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)}
    return path, feeds, onnxruntime_outputs(path, feeds)


def _manifest(folder: Path) -> list[dict]:
    return [w for g in json.loads((folder / "model.json").read_text())["weightsManifest"] for w in g["weights"]]


def _check(folder: Path, feeds: dict, expected: dict, rtol: float) -> None:
    report = verify_model(folder, feeds, expected, backends=BACKENDS, rtol=rtol, elem_rtol=None, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("dtype", ["float16", "uint16", "uint8", "int8"])
def test_requantize_a_model_tfjsconv_wrote(tmp_path, tfjs_runtime, dtype, caplog):
    source, feeds, expected = _onnx_cnn(tmp_path)
    tfjsconv.convert(source, tmp_path / "float")
    result = tfjsconv.convert(tmp_path / "float", tmp_path / "q", **{f"quantize_{dtype}": True},
                              weight_shard_size_bytes=256, metadata={"note": "requantized"})
    assert result.input_format == "tfjs_graph_model"
    _check(tmp_path / "q", feeds, expected, RTOL[dtype])
    doc = json.loads((tmp_path / "q" / "model.json").read_text())
    assert doc["userDefinedMetadata"]["note"] == "requantized"  # added; the source's (ONNX layouts) kept
    assert doc["userDefinedMetadata"]["onnx"]["layout"]["inputs"] == {"x": "NCHW"}
    assert len(doc["weightsManifest"][0]["paths"]) > 1  # re-sharded at 256 bytes
    kernels = [w for w in _manifest(tmp_path / "q") if int(np.prod(w["shape"])) >= 64]  # the three kernels
    assert len(kernels) == 3
    for w in kernels:
        assert w["quantization"]["dtype"] == ("uint8" if dtype == "int8" else dtype), w
        if dtype == "int8":
            assert w["quantization"]["min"] == -128 and w["quantization"]["scale"] == 1, w
        else:
            assert not (w["quantization"].get("min") == -128 and w["quantization"].get("scale") == 1), w
    names = [n["name"] for n in doc["modelTopology"]["node"]]
    assert (dtype == "int8") == (sum(name.endswith("/int8_rescale") for name in names) == 3), names
    # Reading a quantized model back (plain re-shard) dequantizes once, with a warning naming the scheme;
    # int8's integers stay one byte each, and the copy computes what the first model computes in TF.js.
    with caplog.at_level(logging.WARNING):
        tfjsconv.convert(tmp_path / "q", tmp_path / "again", weight_shard_size_bytes=512)
    assert f"were quantized ({dtype})" in caplog.text and "quantizing them again compounds" in caplog.text
    first = run_model(tmp_path / "q", feeds, backends=("cpu",), quiet=True).outputs()
    _check(tmp_path / "again", feeds, first, 1e-6)
    again = [w for w in _manifest(tmp_path / "again") if int(np.prod(w["shape"])) >= 64]
    if dtype == "int8":
        assert [(w["quantization"]["dtype"], w["quantization"]["min"], w["quantization"]["scale"])
                for w in again] == [("uint8", -128, 1)] * 3, again
        entries = _manifest(tmp_path / "again")
        stored = sum(int(np.prod(w["shape"])) * (1 if "quantization" in w else 4) for w in entries)
        assert sum(p.stat().st_size for p in (tmp_path / "again").glob("*.bin")) == stored


def _official_layout(folder: Path, w: np.ndarray, b: np.ndarray, *, shard_path: str = "group1-shard1of1.bin") -> Path:
    """Dense + ReLU the way tensorflowjs_converter writes a SavedModel: protobuf JSON with string sizes,
    DT_* enums, ``_output_shapes``-free nodes, a signature, weights named after their Const nodes."""
    folder.mkdir(parents=True, exist_ok=True)

    def shape(*dims: int) -> dict:
        return {"dim": [{"size": str(d)} for d in dims]}

    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": shape(-1, 4)}}},
        {"name": "StatefulPartitionedCall/dense/MatMul/ReadVariableOp", "op": "Const",
         "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": shape(4, 3)}}}},
        {"name": "StatefulPartitionedCall/dense/BiasAdd/ReadVariableOp", "op": "Const",
         "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": shape(3)}}}},
        {"name": "StatefulPartitionedCall/dense/Relu", "op": "_FusedMatMul",
         "input": ["x", "StatefulPartitionedCall/dense/MatMul/ReadVariableOp",
                   "StatefulPartitionedCall/dense/BiasAdd/ReadVariableOp"],
         "device": "/device:CPU:0",
         "attr": {"T": {"type": "DT_FLOAT"}, "transpose_a": {"b": False}, "transpose_b": {"b": False},
                  "num_args": {"i": "1"}, "epsilon": {"f": 0.0}, "leakyrelu_alpha": {"f": 0.2},
                  "fused_ops": {"list": {"s": ["Qmlhc0FkZA==", "UmVsdQ=="]}}}},
        {"name": "Identity", "op": "Identity", "input": ["StatefulPartitionedCall/dense/Relu"],
         "attr": {"T": {"type": "DT_FLOAT"}}},
    ]
    doc = {
        "format": "graph-model", "generatedBy": "2.15.0", "convertedBy": "TensorFlow.js Converter v4.22.0",
        "signature": {"inputs": {"x:0": {"name": "x:0", "dtype": "DT_FLOAT", "tensorShape": shape(-1, 4)}},
                      "outputs": {"Identity:0": {"name": "Identity:0", "dtype": "DT_FLOAT",
                                                 "tensorShape": shape(-1, 3)}}},
        "modelTopology": {"node": nodes, "library": {}, "versions": {"producer": 1645}},
        "weightsManifest": [{"paths": [shard_path], "weights": [
            {"name": "StatefulPartitionedCall/dense/MatMul/ReadVariableOp", "shape": [4, 3], "dtype": "float32"},
            {"name": "StatefulPartitionedCall/dense/BiasAdd/ReadVariableOp", "shape": [3], "dtype": "float32"}]}],
    }
    (folder / "model.json").write_text(json.dumps(doc))
    (folder / "group1-shard1of1.bin").write_bytes(w.astype("<f4").tobytes() + b.astype("<f4").tobytes())
    return folder


@pytest.mark.node
@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_requantize_a_hand_built_official_converter_model(tmp_path, tfjs_runtime, dtype):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    source = _official_layout(tmp_path / "official", w, b)
    result = tfjsconv.convert(source, tmp_path / "q", **{f"quantize_{dtype}": True})
    assert result.input_format == "tfjs_graph_model"
    feeds = {"x:0": rng.standard_normal((5, 4)).astype(np.float32)}
    expected = {"Identity:0": tf.nn.relu(tf.raw_ops.BiasAdd(value=tf.raw_ops.MatMul(a=feeds["x:0"], b=w), bias=b))
                .numpy()}
    _check(source, feeds, expected, 1e-5)  # the hand-built source itself is right
    _check(tmp_path / "q", feeds, expected, RTOL[dtype])
    kernel = {w["name"]: w for w in _manifest(tmp_path / "q")}["StatefulPartitionedCall/dense/MatMul/ReadVariableOp"]
    assert kernel["quantization"]["dtype"] == "uint8"


@pytest.mark.parametrize("shard_path", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_shard_paths_leaving_the_folder_are_refused(tmp_path, shard_path):
    source = _official_layout(tmp_path / "official", np.zeros((4, 3), np.float32), np.zeros(3, np.float32),
                              shard_path=shard_path)
    (tmp_path / "outside.bin").write_bytes(bytes(60))
    with pytest.raises(TfjsconvError, match="shard path") as caught:
        tfjsconv.convert(source, tmp_path / "q", input_format="tfjs_graph_model")
    assert caught.value.exit_code == 2
    assert not (tmp_path / "q").exists()


def test_a_shard_symlinked_out_of_the_folder_is_refused(tmp_path):
    source = _official_layout(tmp_path / "official", np.zeros((4, 3), np.float32), np.zeros(3, np.float32),
                              shard_path="link.bin")
    (tmp_path / "outside.bin").write_bytes(bytes(60))
    (source / "link.bin").symlink_to(tmp_path / "outside.bin")
    with pytest.raises(TfjsconvError, match="outside the model folder"):
        tfjsconv.convert(source, tmp_path / "q")


def test_a_const_without_a_weight_is_refused(tmp_path):
    source = _official_layout(tmp_path / "official", np.zeros((4, 3), np.float32), np.zeros(3, np.float32))
    doc = json.loads((source / "model.json").read_text())
    doc["weightsManifest"][0]["weights"].pop()
    (source / "model.json").write_text(json.dumps(doc))
    (source / "group1-shard1of1.bin").write_bytes(bytes(48))
    with pytest.raises(TfjsconvError, match=r"no weight for Const node\(s\) StatefulPartitionedCall/dense/BiasAdd"):
        tfjsconv.convert(source, tmp_path / "q")


def _hostile_library(doc: dict) -> None:
    doc["modelTopology"]["library"] = []


def _hostile_signature_entry(doc: dict) -> None:
    doc["signature"]["inputs"]["x:0"] = "x:0"


def _hostile_signature(doc: dict) -> None:
    doc["signature"] = ["x:0"]


def _hostile_metadata(doc: dict) -> None:
    doc["userDefinedMetadata"] = [1, 2]


def _hostile_output_index(doc: dict) -> None:
    doc["signature"]["outputs"]["Identity:0"]["name"] = "Identity:first"


@pytest.mark.parametrize("mutate,message", [
    (_hostile_library, "library must be an object, got list"),
    (_hostile_signature_entry, "signature entry 'x:0' must be an object"),
    (_hostile_signature, "signature must be an object, got list"),
    (_hostile_metadata, "userDefinedMetadata must be an object, got list"),
    (_hostile_output_index, "the signature names 'Identity:first', which is not a node")],
    ids=["library_list", "signature_entry_string", "signature_list", "metadata_list", "output_index"])
def test_hostile_model_json_fields_are_refused_with_exit_2(tmp_path, mutate, message):
    source = _official_layout(tmp_path / "official", np.zeros((4, 3), np.float32), np.zeros(3, np.float32))
    doc = json.loads((source / "model.json").read_text())
    mutate(doc)
    (source / "model.json").write_text(json.dumps(doc))
    with pytest.raises(TfjsconvError, match=message) as caught:
        tfjsconv.convert(source, tmp_path / "q", input_format="tfjs_graph_model")
    assert caught.value.exit_code == 2
    assert not (tmp_path / "q").exists()


def test_reference_of_a_non_folder_is_a_usage_error(tmp_path):
    from tfjsconv.errors import UsageError
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugins.savedmodel.tfjs_graph_model import TfjsGraphModelFrontend

    with pytest.raises(UsageError, match="reads a model folder or its model.json"):
        TfjsGraphModelFrontend().reference(tmp_path / "weights.bin", {}, ConvertOptions())


def test_detection_reads_what_the_reader_accepts():
    from tfjsconv.plugins.savedmodel.detect import _MODEL_JSON_DETECT_LIMIT
    from tfjsconv.weights.reader import MAX_MODEL_JSON_BYTES

    assert _MODEL_JSON_DETECT_LIMIT == MAX_MODEL_JSON_BYTES


def test_cli_requantizes_a_graph_model_and_warns_about_compounding(tmp_path, capsys, caplog):
    """From the command line: the format is detected, the re-quantized weights are reported, and reading
    already-quantized weights logs a warning (stderr in a terminal)."""
    from tfjsconv.cli import main

    rng = np.random.default_rng(5)
    source = _official_layout(tmp_path / "official", rng.standard_normal((4, 3)).astype(np.float32),
                              rng.standard_normal(3).astype(np.float32))
    assert main(["convert", str(source), str(tmp_path / "q8"), "--quantize_uint8"]) == 0
    out = capsys.readouterr()
    assert "tfjs_graph_model -> tfjs_graph_model" in out.out and "quantized 2 weight(s)" in out.out
    assert "compounds" not in caplog.text  # the source was float32
    with caplog.at_level(logging.WARNING):
        assert main(["convert", str(tmp_path / "q8"), str(tmp_path / "f16"), "--quantize_float16"]) == 0
    assert "(uint8) and are dequantized once when read; quantizing them again compounds the error" in caplog.text
    stored = {w["name"]: w["quantization"]["dtype"] for w in _manifest(tmp_path / "f16")}
    assert set(stored.values()) == {"float16"}
