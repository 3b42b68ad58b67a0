"""`tfjsconv verify SOURCE MODEL_DIR --trace`: node-by-node comparison with the source framework.

Models are made wrong on purpose here (a monkeypatched op mapping, lowering or rewrite that flips the
sign of one node; a corrupted layer weight) and the trace must name exactly that node and its source.
References come from onnxruntime, TensorFlow and Keras; the converted models run in real TF.js.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.cli import main
from tfjsconv.verify.compare import DEFAULT_RTOL

pytestmark = pytest.mark.node

BACKENDS = ["cpu", "wasm"]


def trace_cli(capsys, source: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    """``verify SOURCE OUT --trace`` in-process, as text and as --json; returns (exit code, JSON, text)."""
    capsys.readouterr()
    code = main(["verify", str(source), str(out), "--trace", *extra])
    text = capsys.readouterr().out
    assert main(["verify", str(source), str(out), "--trace", "--json", *extra]) == code
    return code, json.loads(capsys.readouterr().out), text


def trace(source: Path, out: Path, **options) -> tuple[int, dict, str]:
    """The same through the Python API (one trace instead of two): (exit code the CLI gives, JSON, text)."""
    from tfjsconv.verify.trace import trace_model
    from tfjsconv.verify.trace_format import format_trace

    report = trace_model(source, out, **options)
    return (0 if report.passed else 3), report.to_json(), format_trace(report)


def failing_row(doc: dict) -> dict:
    return next(r for r in doc["rows"] if r["node"] == doc["first_failure"])


# -- ONNX ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def onnx_cnn(tmp_path_factory) -> Path:
    """Conv+Relu (fused by the passes), Conv+Sigmoid, pooling, Gemm; random weights."""
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper
    from onnx_models import onnx_model

    rng = np.random.default_rng(0)
    inits = {"w1": rng.standard_normal((4, 3, 3, 3)), "b1": rng.standard_normal(4),
             "w2": rng.standard_normal((4, 4, 3, 3)), "b2": rng.standard_normal(4),
             "wf": rng.standard_normal((4, 5)), "bf": rng.standard_normal(5)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c2"], ["s2"], name="gate"),
             helper.make_node("GlobalAveragePool", ["s2"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc")]
    folder = tmp_path_factory.mktemp("onnx_cnn")
    return onnx_model(folder / "cnn.onnx", nodes, {"x": (TensorProto.FLOAT, [1, 3, 8, 8])}, ["y"],
                      initializers={k: v.astype(np.float32) for k, v in inits.items()})


def flip_onnx_op(monkeypatch, op_type: str) -> None:
    """Make the ONNX mapping of ``op_type`` negate its result (a Neg node after the real op)."""
    from tfjsconv.plugin_manager import get_plugin_manager

    mappings = get_plugin_manager().registry.op_mappings
    entry = mappings[("onnx", op_type)]

    def flipped(ctx):
        out = entry.function(ctx)
        value, perm = (out.value, out.perm) if hasattr(out, "perm") else (out, None)
        return ctx.laid(ctx.op("Neg", [value], label="flipped"), perm)

    monkeypatch.setitem(mappings, ("onnx", op_type), dataclasses.replace(entry, function=flipped))


def test_onnx_sign_flip_is_named_with_its_source(onnx_cnn, tmp_path, monkeypatch, capsys, tfjs_runtime):
    flip_onnx_op(monkeypatch, "Sigmoid")
    tfjsconv.convert(onnx_cnn, tmp_path / "out", keep_provenance=True)
    code, doc, text = trace_cli(capsys, onnx_cnn, tmp_path / "out")
    assert code == 3 and doc["status"] == "FAIL"
    bad = failing_row(doc)
    assert (bad["node"], bad["op"], bad["sources"]) == ("gate/flipped", "Neg", ["gate"])
    assert set(bad["backends"]) == set(BACKENDS) and not any(c["passed"] for c in bad["backends"].values())
    # its input is the fused Conv+Relu node, within tolerance; the error grows from there
    assert bad["inputs"] == ["relu1"] and doc["rows"][0]["passed"]
    assert [p["node"] for p in doc["path"]] == ["relu1", "gate/flipped"]
    assert "first difference: TF.js node 'gate/flipped' (op Neg), from source node gate" in text
    assert "its inputs: relu1" in text and "(all within tolerance)" in text


def test_correct_model_traces_clean_on_cpu_and_wasm(onnx_cnn, tmp_path, capsys, tfjs_runtime):
    tfjsconv.convert(onnx_cnn, tmp_path / "out", keep_provenance=True)
    code, doc, text = trace(onnx_cnn, tmp_path / "out")
    assert code == 0 and doc["passed"], text
    compared = [r for r in doc["rows"] if r["compared"]]
    # every ONNX node with a value of its own in TF.js: conv1 and conv2 are fused into their activations
    assert [r["source"] for r in compared] == ["relu1", "gate", "pool", "flat", "fc"]
    for row in compared:
        assert set(row["backends"]) == set(BACKENDS) and all(c["passed"] for c in row["backends"].values())
    assert any(r["layout"] == [0, 2, 3, 1] for r in compared)  # NCHW source values compared as NHWC
    assert text.rstrip().endswith("PASS: every compared node matches the source on cpu, wasm")


def test_bisection_under_a_small_trace_limit_finds_the_same_node(onnx_cnn, tmp_path, monkeypatch, capsys,
                                                                  tfjs_runtime):
    flip_onnx_op(monkeypatch, "Sigmoid")
    tfjsconv.convert(onnx_cnn, tmp_path / "out", keep_provenance=True)
    code, doc, _ = trace(onnx_cnn, tmp_path / "out", limit=2, backends=("cpu",))
    assert code == 3 and doc["first_failure"] == "gate/flipped"
    assert doc["rounds"] >= 2 and doc["fetched"] < len(doc["rows"])
    assert not any(r["compared"] for r in doc["rows"] if r["node"] in ("pool", "flat"))  # skipped by bisection


def test_trace_needs_provenance(onnx_cnn, tmp_path, capsys):
    tfjsconv.convert(onnx_cnn, tmp_path / "out")
    assert main(["verify", str(onnx_cnn), str(tmp_path / "out"), "--trace"]) == 2
    assert "--keep_provenance" in capsys.readouterr().err


# -- TF SavedModel --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_cnn(tmp_path_factory) -> Path:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(1)
    w1, b1 = rng.standard_normal((3, 3, 2, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    w2, wf = rng.standard_normal((3, 3, 4, 4)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 2), tf.float32)])
    def f(x):
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w1, 1, "SAME", name="conv"), b1, name="bias"), name="act")
        y = tf.math.tanh(tf.nn.conv2d(y, w2, 1, "SAME", name="conv2"), name="gate")
        return tf.matmul(tf.reduce_mean(y, axis=[1, 2], name="pool"), wf, name="fc")

    module = tf.Module()
    module.f = f
    path = tmp_path_factory.mktemp("saved_cnn") / "sm"
    tf.saved_model.save(module, str(path), signatures=f)
    return path


def _convert_saved(source: Path, out: Path) -> None:
    # loader=tensorflow: the frozen graph TensorFlow makes, as the trace's source side runs it
    tfjsconv.convert(source, out, keep_provenance=True, loader="tensorflow")


def test_savedmodel_sign_flip_is_named_with_its_source(saved_cnn, tmp_path, monkeypatch, capsys, tfjs_runtime):
    from tfjsconv.plugins.savedmodel import op_rewrites

    def flip(graph, node):
        out = node.output(0)
        neg = graph.add_node("Neg", [out], {"T": node.attrs.get("T")}, name=f"{node.name}/flipped")
        graph.replace_all_uses(out, neg.output(0))
        neg.inputs = [out]
        return True

    monkeypatch.setitem(op_rewrites.REWRITES, "Tanh", flip)
    _convert_saved(saved_cnn, tmp_path / "out")
    code, doc, text = trace(saved_cnn, tmp_path / "out")
    assert code == 3
    bad = failing_row(doc)
    assert bad["node"].endswith("/gate/flipped") and bad["op"] == "Neg"
    assert [s.rsplit("/", 1)[-1] for s in bad["sources"]] == ["gate"]
    assert [n.rsplit("/", 1)[-1] for n in bad["inputs"]] == ["conv2"]
    assert f"from source node {bad['sources'][0]}" in text


def test_fused_node_is_reported_with_all_its_sources(saved_cnn, tmp_path, monkeypatch, capsys, tfjs_runtime):
    """Relu made Elu: the passes still fuse Conv2D+BiasAdd+activation, and the trace names that fused node."""
    from tfjsconv.plugins.savedmodel import op_rewrites

    def relu_to_elu(graph, node):
        node.op = "Elu"
        return True

    monkeypatch.setitem(op_rewrites.REWRITES, "Relu", relu_to_elu)
    _convert_saved(saved_cnn, tmp_path / "out")
    code, doc, text = trace(saved_cnn, tmp_path / "out")
    assert code == 3
    bad = failing_row(doc)
    assert bad["op"] == "_FusedConv2D"
    assert [s.rsplit("/", 1)[-1] for s in bad["sources"]] == ["conv", "bias", "act"]
    assert bad["inputs"] == [] and "its inputs: the model's inputs" in text
    assert f"from source nodes {', '.join(bad['sources'])}" in text


# -- Keras ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_cnn(tmp_path_factory) -> Path:
    keras = pytest.importorskip("keras")
    inp = keras.Input((8, 8, 2), name="img")
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv2")(y)
    y = keras.layers.Activation("tanh", name="gate")(y)
    y = keras.layers.GlobalAveragePooling2D(name="pool")(y)
    model = keras.Model(inp, keras.layers.Dense(3, name="fc")(y))
    rng = np.random.default_rng(2)
    for weight in model.weights:
        weight.assign(rng.standard_normal(weight.shape).astype(np.float32) * 0.5)
    path = tmp_path_factory.mktemp("keras_cnn") / "cnn.keras"
    model.save(path)
    return path


def test_keras_graph_model_sign_flip_is_named_with_its_layer(keras_cnn, tmp_path, monkeypatch, capsys,
                                                             tfjs_runtime):
    from tfjsconv.plugins.keras.lowering.registry import LOWERINGS, loaded_lowerings

    loaded_lowerings()
    entry = LOWERINGS["Activation"]

    def flipped(ctx):
        value = entry.lower(ctx)
        return ctx.graph.add_op("Neg", [value], {"T": value.dtype}, name=f"{ctx.name}/flipped", dtype=value.dtype,
                                shape=value.shape)

    monkeypatch.setitem(LOWERINGS, "Activation", dataclasses.replace(entry, lower=flipped))
    tfjsconv.convert(keras_cnn, tmp_path / "out", keep_provenance=True, output_format="tfjs_graph_model")
    code, doc, text = trace(keras_cnn, tmp_path / "out")
    assert code == 3
    bad = failing_row(doc)
    assert (bad["node"], bad["op"], bad["sources"]) == ("gate/flipped", "Neg", ["gate"])
    assert [doc_row["source"] for doc_row in doc["rows"] if doc_row["compared"]][:2] == ["conv", "conv2"]


def test_layers_model_is_traced_layer_by_layer(keras_cnn, tmp_path, capsys, tfjs_runtime):
    """Per layer: TF.js sub-models against Keras sub-models. Clean as converted; with conv2's kernel
    negated in the weight file, conv2 is the first layer named."""
    out = tmp_path / "out"
    tfjsconv.convert(keras_cnn, out, output_format="tfjs_layers_model")
    code, doc, _ = trace(keras_cnn, out)
    assert code == 0 and doc["kind"] == "layers"
    assert [r["node"] for r in doc["rows"] if r["compared"]] == ["conv", "conv2", "gate", "pool", "fc"]

    manifest = json.loads((out / "model.json").read_text())["weightsManifest"]
    offset = 0
    for group in manifest:
        assert len(group["paths"]) == 1
        for weight in group["weights"]:
            size = int(np.prod(weight["shape"])) * 4
            if weight["name"].endswith("conv2/kernel"):
                shard = out / group["paths"][0]
                data = bytearray(shard.read_bytes())
                values = np.frombuffer(bytes(data[offset:offset + size]), np.float32)
                data[offset:offset + size] = (-values).tobytes()
                shard.write_bytes(bytes(data))
            offset += size
    code, doc, text = trace(keras_cnn, out)
    assert code == 3 and doc["first_failure"] == "conv2"
    assert failing_row(doc)["inputs"] == ["conv"] and "from source layer conv2" in text


# -- PyTorch (through its ONNX export) -------------------------------------------------------------------------

def test_torch_module_traced_through_its_onnx_export(tmp_path, monkeypatch, tfjs_runtime):
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.head = torch.nn.Linear(4, 5)

        def forward(self, x):
            return self.head(torch.sigmoid(torch.relu(self.conv(x))).mean(dim=(2, 3)))

    torch.manual_seed(0)
    net, example = Net().eval(), (torch.randn(1, 3, 8, 8),)
    flip_onnx_op(monkeypatch, "Sigmoid")
    export = {"example_inputs": example, "exporter": "legacy"}  # the faster exporter; the trace re-exports alike
    tfjsconv.convert(net, tmp_path / "out", keep_provenance=True, **export)
    code, doc, text = trace(net, tmp_path / "out", convert_options=export)
    assert code == 3
    bad = failing_row(doc)
    assert bad["op"] == "Neg" and len(bad["sources"]) == 1 and "sigmoid" in bad["sources"][0].lower()
    assert all(r["passed"] for r in doc["rows"] if r["compared"] and r["position"] < bad["position"])
    assert "a Net object" in text


def test_savedmodel_with_a_loop_traces_the_nodes_outside_it(tmp_path, tfjs_runtime):
    """A Session cannot fetch a tensor inside a while frame: those nodes are left out, not a crash."""
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec((2, 3), tf.float32, name="x")])
    def f(x):
        y = tf.math.tanh(x * 2.0, name="before")
        _, y = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, tf.sin(a) + 0.5), [tf.constant(0), y])
        return tf.math.sigmoid(y, name="after")

    module = tf.Module()
    module.f = f
    source = tmp_path / "sm"
    tf.saved_model.save(module, str(source), signatures=f)
    _convert_saved(source, tmp_path / "out")
    code, doc, text = trace(source, tmp_path / "out", inputs={"x": np.full((2, 3), 0.3, np.float32)})
    assert code == 0, text
    compared = [r["node"] for r in doc["rows"] if r["compared"]]
    assert any(n.endswith("/before") for n in compared) and any(n.endswith("/after") for n in compared)
    assert not any("/while/" in n and "/exit" not in n for n in compared)  # the loop's inside is left out


def test_a_trace_that_pairs_nothing_does_not_pass():
    from tfjsconv.verify.trace import TraceReport, TraceRow

    fields = {f.name for f in dataclasses.fields(TraceRow)}
    row = TraceRow(**{k: v for k, v in {"position": 0, "node": "n", "op": "Relu", "sources": ("s",), "source": "s",
                                         "inputs": [], "problem": "no source value"}.items() if k in fields})
    report = TraceReport(**{f.name: None for f in dataclasses.fields(TraceReport)
                            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
                         | {"rows": [row], "backends": ["cpu"]})
    assert report.first_failure is None and not report.passed


def test_quantized_onnx_source_is_traced_at_the_float_tolerance(onnx_cnn, tmp_path, capsys, tfjs_runtime):
    """A QDQ model's integers are the source's own: its nodes are held to the float tolerance, as plain verify
    holds it; weights quantized by a flag are held to the quantized tolerance."""
    pytest.importorskip("onnxruntime.quantization")
    from onnx_models import quantize_static_qdq

    quantized = quantize_static_qdq(onnx_cnn, tmp_path / "qdq.onnx", {"x": (1, 3, 8, 8)})
    tfjsconv.convert(quantized, tmp_path / "q", keep_provenance=True)
    capsys.readouterr()
    assert main(["verify", str(quantized), str(tmp_path / "q"), "--trace", "--json", "--backend", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "the source's own" in captured.err
    assert json.loads(captured.out)["rtol"] == DEFAULT_RTOL
    tfjsconv.convert(onnx_cnn, tmp_path / "u8", quantize_uint8=["*"], keep_provenance=True)
    main(["verify", str(onnx_cnn), str(tmp_path / "u8"), "--trace", "--json", "--backend", "cpu"])
    captured = capsys.readouterr()
    assert "held to rtol" in captured.err and json.loads(captured.out)["rtol"] >= 1e-2
