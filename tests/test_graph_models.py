"""Hand-built IR graphs become TF.js graph models that real TF.js runs like numpy does."""
from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

import tfjsconv
from graphs import ALL, complex_parts, conv_pool_softmax, dense_relu, example_inputs, mixed_dtypes
from tfjsconv.dtypes import DType
from tfjsconv.errors import GraphError, OutputError, UnsupportedOpsError
from tf_reference import reference as tf_reference
from tfjsconv.ir import Graph
from tfjsconv.weights import read_weights

pytestmark = pytest.mark.node


def reference(graph: Graph) -> tuple[dict, dict]:
    inputs = example_inputs(graph)
    return inputs, tf_reference(graph, inputs)


@pytest.mark.parametrize("name", sorted(ALL))
def test_graph_runs_in_tfjs_like_numpy(name, tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import verify_model

    graph = ALL[name]()
    inputs, expected = reference(graph)
    result = tfjsconv.convert(graph, tmp_path / "model")
    assert result.model_format == "graph-model"
    report = verify_model(tmp_path / "model", inputs, expected, backends=("cpu", "wasm"), rtol=1e-6, atol=1e-6)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}


def test_complex64_weights_run_on_the_cpu_backend(tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import verify_model

    graph = complex_parts()
    inputs, expected = reference(graph)
    tfjsconv.convert(graph, tmp_path / "model")
    report = verify_model(tmp_path / "model", inputs, expected, backends=("cpu",), rtol=1e-6, atol=1e-6)
    assert report.passed, report.failures


def test_model_json_follows_the_protobuf_json_conventions(tmp_path):
    tfjsconv.convert(conv_pool_softmax(), tmp_path / "m", metadata={"labels": {"names": ["a"]}})
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert list(doc)[:4] == ["format", "generatedBy", "convertedBy", "modelTopology"]
    nodes = {n["name"]: n for n in doc["modelTopology"]["node"]}
    conv = nodes["conv/Conv2D"]
    assert conv["input"] == ["image", "conv/filter"]
    assert conv["attr"]["strides"] == {"list": {"i": ["1", "1", "1", "1"]}}
    assert conv["attr"]["padding"] == {"s": "U0FNRQ=="}  # base64("SAME")
    assert conv["attr"]["T"] == {"type": "DT_FLOAT"}
    const = nodes["conv/filter"]["attr"]["value"]["tensor"]
    assert const == {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "3"}, {"size": "3"}, {"size": "3"}, {"size": "4"}]}}
    assert nodes["image"]["attr"]["shape"] == {"shape": {"dim": [{"size": "1"}, {"size": "8"}, {"size": "8"}, {"size": "3"}]}}
    assert doc["signature"]["inputs"]["image"]["name"] == "image:0"
    assert doc["signature"]["outputs"]["probs"] == {
        "name": "probs:0", "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "1"}, {"size": "64"}]}}
    assert doc["userDefinedMetadata"] == {"labels": {"names": ["a"]}}
    assert [w["name"] for w in doc["weightsManifest"][0]["weights"]] == ["conv/filter", "flatten/shape"]


def test_write_then_read_gives_identical_weights(tmp_path):
    graph = mixed_dtypes()
    tfjsconv.convert(graph, tmp_path / "m", weight_shard_size_bytes=7)
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    back = dict(read_weights(doc["weightsManifest"], tmp_path / "m"))
    for name, array in graph.weights():
        assert back[name].shape == array.shape
        assert back[name].tolist() == array.tolist()
    assert len(doc["weightsManifest"][0]["paths"]) > 3  # the tiny shard size forced straddling


#: Max error of one quantized weight relative to max |w|: half a step of the affine grid (the
#: zero-point nudge can move the grid by up to one more half step), or float16's rounding.
QUANT_BOUND = {"float16": 2.0 ** -11, "uint8": 1.0 / 255, "uint16": 1.0 / 65535}


@pytest.mark.parametrize("dtype", sorted(QUANT_BOUND))
@pytest.mark.parametrize("name", sorted(ALL))
def test_quantized_graphs_load_and_stay_within_the_quantization_error(name, dtype, tmp_path, tfjs_runtime):
    """TF.js must compute exactly what the dequantized weights give, and those must be close to the originals."""
    from tfjsconv.verify.compare import verify_model
    from tfjsconv.weights import load_manifest_weights

    graph = ALL[name]()
    inputs, exact = reference(graph)
    result = tfjsconv.convert(graph, tmp_path / "q", **{f"quantize_{dtype}": True})
    quantized = {q.name: q for q in result.facts["weights"].quantized}
    float_weights = {n for n, w in graph.weights() if w.dtype == np.float32}
    assert set(quantized) == float_weights  # only float32 weights are quantized
    assert all(q.max_rel_error <= QUANT_BOUND[dtype] for q in quantized.values())

    doc = json.loads((tmp_path / "q" / "model.json").read_text())
    dequantized = load_manifest_weights(doc["weightsManifest"], tmp_path / "q")
    as_loaded = graph.copy()
    for node in as_loaded:
        if node.op == "Const":
            node.attrs["value"] = dequantized[node.name]
    expected = tf_reference(as_loaded, inputs)
    report = verify_model(tmp_path / "q", inputs, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=1e-6)
    assert report.passed, report.failures
    for key in exact:
        if quantized and exact[key].dtype == np.float32:
            assert not np.array_equal(expected[key], exact[key])  # quantization really happened
        else:
            assert np.array_equal(expected[key], exact[key])


def test_quantization_patterns_choose_weights(tmp_path):
    result = tfjsconv.convert(dense_relu(), tmp_path / "q", quantize_uint8=["*/kernel"], quantize_float16=["*/bias"])
    chosen = {q.name: q.dtype for q in result.facts["weights"].quantized}
    assert chosen == {"dense/kernel": "uint8", "dense/bias": "float16"}
    doc = json.loads((tmp_path / "q" / "model.json").read_text())
    entries = {w["name"]: w for w in doc["weightsManifest"][0]["weights"]}
    assert entries["dense/kernel"]["quantization"]["dtype"] == "uint8"
    assert entries["dense/kernel"]["dtype"] == "float32"


def test_dangling_input_is_named_and_nothing_is_written(tmp_path):
    graph = dense_relu()
    stray = Graph().const(np.ones(4, np.float32), name="elsewhere")
    graph.node("dense/Relu").inputs.append(stray)
    with pytest.raises(GraphError, match="dense/Relu .* reads 'elsewhere'"):
        tfjsconv.convert(graph, tmp_path / "out")
    assert os.listdir(tmp_path) == []


def test_every_unsupported_op_is_named_at_once(tmp_path):
    g = Graph()
    x = g.placeholder("x", DType.FLOAT32, (2,))
    a = g.add_op("FancyOp", [x], name="fancy_1")
    b = g.add_op("FancyOp", [a], name="fancy_2")
    c = g.add_op("WeirdOp", [b], name="weird")
    g.set_output("y", g.add_op("Relu", [c], name="relu"))
    with pytest.raises(UnsupportedOpsError) as err:
        tfjsconv.convert(g, tmp_path / "out")
    message = str(err.value)
    for expected in ("2 op type(s)", "FancyOp: fancy_1, fancy_2", "WeirdOp: weird"):
        assert expected in message
    assert os.listdir(tmp_path) == []


def test_existing_output_folder_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.json").write_text("old")
    with pytest.raises(OutputError, match="already exists"):
        tfjsconv.convert(dense_relu(), out)
    assert (out / "model.json").read_text() == "old"


@pytest.mark.parametrize("fail_at", ["weights", "model_json"])
def test_failing_write_leaves_previous_output_and_no_temp_folder(fail_at, tmp_path, monkeypatch):
    import tfjsconv.writers.model_json as gm

    out = tmp_path / "out"
    tfjsconv.convert(dense_relu(seed=1), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail_at == "weights":
        real_open = open

        class FullDisk:
            """A shard file whose writes fail as on a full disk."""

            def __init__(self, f):
                self.f = f

            def write(self, data):
                raise OSError(errno.ENOSPC, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.f, name)

        def failing_open(path, mode="r", *a, **k):
            f = real_open(path, mode, *a, **k)
            return FullDisk(f) if "w" in mode and str(path).endswith((".tmp", ".bin")) else f

        monkeypatch.setattr("builtins.open", failing_open)
    else:
        monkeypatch.setattr(gm, "write_model_json", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        tfjsconv.convert(dense_relu(seed=2), out, overwrite=True)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_interrupt_during_write_leaves_nothing(tmp_path, monkeypatch):
    import tfjsconv.writers.model_json as gm

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gm, "write_model_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tfjsconv.convert(dense_relu(), tmp_path / "out")
    assert os.listdir(tmp_path) == []


def test_conversion_does_not_modify_the_callers_graph(tmp_path):
    graph = dense_relu()
    graph.add_op("CheckNumerics", [graph.outputs["y"]], {"message": "x"}, name="check")
    before = [n.name for n in graph]
    tfjsconv.convert(graph, tmp_path / "m")
    assert [n.name for n in graph] == before


def test_int64_and_float64_weights_are_converted_and_reported(tmp_path):
    g = Graph()
    x = g.placeholder("x", DType.INT32, (2,))
    big = g.const(np.array([1, 2], dtype=np.int64), name="offsets64")
    g.set_output("y", g.add_op("AddV2", [x, big], name="add"))
    result = tfjsconv.convert(g, tmp_path / "m")
    assert [(c.name, c.from_dtype, c.to_dtype) for c in result.facts["weights"].conversions] == [
        ("offsets64", "int64", "int32")]
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    node = next(n for n in doc["modelTopology"]["node"] if n["name"] == "offsets64")
    assert node["attr"]["dtype"] == {"type": "DT_INT32"}

    g2 = Graph()
    x = g2.placeholder("x", DType.INT32, (1,))
    g2.set_output("y", g2.add_op("AddV2", [x, g2.const(np.array([2**40]), name="huge")], name="add"))
    with pytest.raises(Exception, match="huge"):
        tfjsconv.convert(g2, tmp_path / "m2")
    assert not (tmp_path / "m2").exists()
