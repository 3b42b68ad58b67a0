"""`tfjsconv inspect`: TF.js model folders and every landed source format, text and --json."""
from __future__ import annotations

import json
import os
from collections import Counter
import subprocess
import sys

import pytest

import tfjsconv
from graphs import conv_pool_softmax, dense_relu
from tfjsconv.inspect import SCHEMA, inspect_model


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", "inspect", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    tfjsconv.convert(conv_pool_softmax(), root / "cnn")
    tfjsconv.convert(dense_relu(), root / "dense q8", quantize_uint8=["dense/kernel"], weight_shard_size_bytes=16)
    return root


def test_graph_model_document(models):
    doc = inspect_model(models / "cnn")
    assert doc["schema"] == SCHEMA and doc["kind"] == "tfjs" and doc["format"] == "tfjs_graph_model"
    assert doc["signature"]["inputs"] == [{"name": "image", "dtype": "float32", "shape": [1, 8, 8, 3]}]
    assert doc["signature"]["outputs"] == [{"name": "probs", "dtype": "float32", "shape": [1, 64]}]
    nodes = json.loads((models / "cnn" / "model.json").read_text())["modelTopology"]["node"]
    assert doc["ops"]["histogram"] == dict(sorted(Counter(n["op"] for n in nodes).items()))
    assert doc["ops"]["nodes"] == len(nodes) and doc["ops"]["histogram"]["MaxPool"] == 1
    assert doc["ops"]["unsupported"] == {}
    w = doc["weights"]
    assert (w["count"], w["parameters"], w["bytes"]) == (2, 3 * 3 * 3 * 4 + 2, (108 + 2) * 4)
    assert [(r["prefix"], r["bytes"]) for r in w["by_prefix"]] == [("conv", 432), ("flatten", 8)]
    assert doc["shards"] == [{"group": 1, "path": "group1-shard1of1.bin", "bytes": 440}]


def test_quantization_and_shards_are_listed(models):
    doc = inspect_model(models / "dense q8" / "model.json")  # model.json itself works too
    by_dtype = {(r["dtype"], r["stored_as"]): r for r in doc["weights"]["by_dtype"]}
    assert by_dtype[("float32", "uint8")]["bytes"] == 32  # the 8x4 kernel, one byte each
    assert by_dtype[("float32", "float32")]["bytes"] == 16  # the bias, not matched by the pattern
    assert doc["weights"]["by_prefix"][0]["quantized_as"] == ["uint8"]
    assert [s["path"] for s in doc["shards"]] == [f"group1-shard{i}of3.bin" for i in (1, 2, 3)]
    assert sum(s["bytes"] for s in doc["shards"]) == 48


def test_text_output(models):
    out = cli(str(models / "dense q8"))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for expected in ("inputs (1):", "x     float32  [?, 8]", "ops: ", "all ops are supported",
                     "weights: 2 tensors, 36 parameters, 48 B", "uint8", "shards (3, 48 B):"):
        assert expected in text, (expected, text)


def test_json_output_is_the_document(models):
    out = cli(str(models / "cnn"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(json.dumps(inspect_model(models / "cnn")))


def test_onnx_source(tmp_path):
    pytest.importorskip("onnx")
    from graphs import save_tiny_onnx_cnn

    save_tiny_onnx_cnn(tmp_path / "tiny.onnx")
    doc = inspect_model(tmp_path / "tiny.onnx")
    assert doc["kind"] == "source" and doc["format"] == "onnx" and doc["model_type"] == "graph-model"
    assert doc["signature"]["inputs"] == [{"name": "x", "dtype": "float32", "shape": [1, 3, 6, 6], "layout": "NCHW"}]
    assert "_FusedConv2D" in doc["ops"]["histogram"] or "Conv2D" in doc["ops"]["histogram"]
    assert doc["weights"]["parameters"] >= 4 * 3 * 3 * 3 + 4
    assert doc["shards"] == []


def test_keras_source(tmp_path):
    pytest.importorskip("h5py")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pytest.importorskip("keras")
    from keras_models import saved_model

    saved = saved_model("multi", "keras3.keras")
    doc = inspect_model(saved.path)
    assert doc["format"] == "keras_keras" and doc["model_type"] == "layers-model"
    assert [e["name"] for e in doc["signature"]["inputs"]] == ["a", "b"]
    assert doc["signature"]["inputs"][0]["shape"] == [None, 6]
    assert {"probs", "score", "emb"} <= {e["name"] for e in doc["signature"]["outputs"]}
    assert doc["layers"]["histogram"]["Dense"] >= 8
    assert doc["weights"]["by_prefix"] and doc["details"]["keras_version"].startswith("3")
    text = cli(str(saved.path)).stdout
    assert "layers:" in text and "Dense" in text


@pytest.mark.parametrize("damage, message", [
    ("delete shard", "is missing"),
    ("truncate shard", "need 440 bytes"),
    ("bad json", "not a readable JSON file"),
    ("escape path", "leaves the model folder"),
])
def test_broken_models_give_one_clear_message(models, tmp_path, damage, message):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(models / "cnn", folder)
    shard = folder / "group1-shard1of1.bin"
    if damage == "delete shard":
        shard.unlink()
    elif damage == "truncate shard":
        shard.write_bytes(shard.read_bytes()[:100])
    elif damage == "bad json":
        (folder / "model.json").write_text("{not json")
    else:
        doc = json.loads((folder / "model.json").read_text())
        doc["weightsManifest"][0]["paths"] = ["../../etc/passwd"]
        (folder / "model.json").write_text(json.dumps(doc))
    out = cli(str(folder))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    out = cli(str(tmp_path / "notes.txt"))
    assert out.returncode == 2 and "cannot tell what kind of model" in out.stderr
    out = cli(str(tmp_path / "missing"))
    assert out.returncode == 2 and "does not exist" in out.stderr
