"""SavedModel, frozen GraphDef and TF Hub folders convert to graph models that real TF.js runs like TF.

Every model is built here (random weights, random BatchNorm statistics), converted, run in TF.js on
the cpu and wasm backends and compared with TensorFlow itself: max abs err <= 1e-5 x max|reference|.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tf_models  # noqa: E402

import tfjsconv  # noqa: E402
from tfjsconv.cli import main  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

RTOL, ATOL = 1e-5, 0.0


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Build each SavedModel once per session, on first use."""
    root = tmp_path_factory.mktemp("tf_models")
    built: dict[str, object] = {}

    def get(name: str):
        if name not in built:
            kind, _, flavour = name.partition(":")
            path = root / name.replace(":", "_")
            builders = {
                "cnn": lambda: tf_models.cnn(path, flavour),
                "lstm": lambda: tf_models.text_rnn(path, flavour, "lstm"),
                "gru": lambda: tf_models.text_rnn(path, flavour, "gru"),
                "multi_io": lambda: tf_models.multi_io(path, flavour),
                "control_flow": lambda: tf_models.control_flow(path),
                "hash_table": lambda: tf_models.hash_table(path),
                "frozen": lambda: tf_models.frozen_graph(path.with_suffix(".pb")),
                "hub_v1": lambda: tf_models.hub_v1(path),
                "hub_v2": lambda: tf_models.hub_v2(path),
            }
            built[name] = builders[kind]()
        return built[name]

    return get


def frontend(name: str):
    from tfjsconv.plugin_manager import get_plugin_manager

    return get_plugin_manager().registry.frontends[name]


def convert_and_verify(source, out, inputs=None, **flags):
    """Convert, then compare TF.js (cpu, wasm) with the frontend's own TF reference on ``inputs``."""
    from tfjsconv.verify.compare import verify_model
    from tfjsconv.verify.inputs import input_specs, random_inputs

    result = tfjsconv.convert(source, out, **flags)
    inputs = inputs if inputs is not None else random_inputs(input_specs(out), seed=3, dim=2)
    options = ConvertOptions.from_kwargs(**{k: v for k, v in flags.items() if k != "input_format"})
    options.extra["model_dir"] = str(out)
    expected = frontend(result.input_format).reference(source, inputs, options)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
    return result, json.loads((out / "model.json").read_text())


@pytest.mark.parametrize("flavour", ["tf_keras", "keras3"])
@pytest.mark.parametrize("kind", ["cnn", "lstm", "gru", "multi_io"])
def test_keras_saved_models_match_tf(kind, flavour, models, tmp_path, tfjs_runtime):
    source = models(f"{kind}:{flavour}")
    result, doc = convert_and_verify(source, tmp_path / "web")
    assert result.input_format == "tf_saved_model"
    nodes = doc["modelTopology"]["node"]
    ops = {n["op"] for n in nodes}
    assert not ops & {"StatefulPartitionedCall", "PartitionedCall", "ReadVariableOp", "VarHandleOp", "NoOp"}
    # TF.js sees a loop-invariant Enter's value in the first iteration only
    assert not [n for n in nodes if n["op"] == "Enter" and n.get("attr", {}).get("is_constant", {}).get("b")]
    if kind == "multi_io":
        assert len(doc["signature"]["inputs"]) == 2 and len(doc["signature"]["outputs"]) == 2


@pytest.mark.parametrize("v2", [False, True], ids=["v1_lowered", "control_flow_v2"])
def test_while_and_cond(v2, models, tmp_path, tfjs_runtime):
    source = models("control_flow")
    # Row 0 drives the cond one way, row 1 the other (both branches run in TF.js).
    for sign, name in ((1.0, "pos"), (-1.0, "neg")):
        x = np.full((2, 3), sign * 2.0, np.float32) + np.random.default_rng(0).normal(0, 0.1, (2, 3)).astype(np.float32)
        _, doc = convert_and_verify(source, tmp_path / name, {"x": x}, control_flow_v2=v2)
    ops = {n["op"] for n in doc["modelTopology"]["node"]}
    if v2:
        assert ops & {"While", "StatelessWhile"} and ops & {"If", "StatelessIf"}
        assert doc["modelTopology"]["library"]["function"]
    else:
        assert {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond"} <= ops
        assert "library" not in doc["modelTopology"]


def test_hash_table_goes_to_the_model_initializer(models, tmp_path, tfjs_runtime):
    source = models("hash_table")
    words = np.array(["a", "hello", "nope", "tf.js", ""], dtype=object)
    _, doc = convert_and_verify(source, tmp_path / "web", {"words": words})
    init_ops = {n["op"] for n in doc["modelInitializer"]["node"]}
    assert {"HashTableV2", "LookupTableImportV2"} <= init_ops
    resource_inputs = {k: v["resourceId"] for k, v in doc["signature"]["inputs"].items() if "resourceId" in v}
    init_outputs = {v["resourceId"] for v in doc["initializerSignature"]["outputs"].values()}
    assert len(resource_inputs) == 2 and set(resource_inputs.values()) == init_outputs


def test_frozen_graph_with_output_node_names(models, tmp_path, tfjs_runtime):
    source = models("frozen")
    result, doc = convert_and_verify(source, tmp_path / "web", output_node_names=["logits", "probs"])
    assert result.input_format == "tf_frozen_model"
    assert list(doc["signature"]["inputs"]) == ["features"]
    assert set(doc["signature"]["outputs"]) == {"logits", "probs"}
    assert "unused" not in {n["name"] for n in doc["modelTopology"]["node"]}


@pytest.mark.parametrize("kind", ["hub_v1", "hub_v2"])
def test_hub_module_folders(kind, models, tmp_path, tfjs_runtime):
    source = models(kind)
    flags = {} if kind == "hub_v1" else {"input_format": "tf_hub"}
    result, doc = convert_and_verify(source, tmp_path / "web", **flags)
    assert result.input_format == "tf_hub"
    assert "default" in doc["signature"]["outputs"]


def test_verify_cli_runs_the_saved_model_as_reference(models, tmp_path, tfjs_runtime, capsys):
    source = models("multi_io:keras3")
    assert main(["convert", str(source), str(tmp_path / "web")]) == 0
    assert main(["verify", str(source), str(tmp_path / "web"), "--rtol", "1e-5", "--atol", "0"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_verify_uses_the_recorded_tags_and_signature(models, tmp_path, tfjs_runtime, capsys):
    source = models("hub_v2")  # a plain SavedModel whose only signature is 'default'
    assert main(["convert", str(source), str(tmp_path / "web"), "--signature_name=default"]) == 0
    doc = json.loads((tmp_path / "web" / "model.json").read_text())
    assert doc["userDefinedMetadata"]["signatureName"] == "default"
    assert doc["userDefinedMetadata"]["savedModelTags"] == ["serve"]
    capsys.readouterr()
    assert main(["verify", str(source), str(tmp_path / "web"), "--rtol", "1e-5", "--atol", "0"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_keras_saved_models_are_read_from_the_files(models):
    """The direct path: no TF object loading; variables are read from the checkpoint when needed."""
    from tfjsconv.plugins.savedmodel.direct import CheckpointTensor
    from tfjsconv.plugins.savedmodel.pipeline import graph_from_saved_model_dir

    graph = graph_from_saved_model_dir(models("cnn:tf_keras"), ConvertOptions())
    lazy = {n.attrs["value"].key for n in graph if n.op == "Const" and isinstance(n.attrs["value"], CheckpointTensor)}
    assert len(lazy) == 16  # 4 kernels, 4 biases, 2 x 4 BatchNorm weights and statistics
    assert not {n.op for n in graph} & {"VarHandleOp", "ReadVariableOp", "StatefulPartitionedCall"}


def test_hash_tables_fall_back_to_loading_with_tf(models, caplog):
    """With --loader=tensorflow, the direct path leaves tables to TF's loader (TF-free: test_tf_free_tables.py)."""
    from tfjsconv.plugins.savedmodel.pipeline import graph_from_saved_model_dir

    options = ConvertOptions()
    options.extra["loader"] = "tensorflow"
    with caplog.at_level("INFO", logger="tfjsconv.plugins.savedmodel.pipeline"):
        graph = graph_from_saved_model_dir(models("hash_table"), options)
    assert "HashTableV2" in caplog.text
    assert sum(n.op == "LookupTableFindV2" for n in graph) == 2


def test_structured_output_names(models, tmp_path):
    source = models("hash_table")
    tfjsconv.convert(source, tmp_path / "web", use_structured_outputs_names=True)
    doc = json.loads((tmp_path / "web" / "model.json").read_text())
    assert doc["userDefinedMetadata"]["structuredOutputKeys"] == ["id", "label"]
    assert list(doc["signature"]["outputs"]) == ["id", "label"]


def test_describe_lists_tags_and_signatures(models):
    info = frontend("tf_saved_model").describe(models("multi_io:tf_keras"), ConvertOptions())
    (meta,) = info["meta_graphs"]
    assert meta["tags"] == ["serve"]
    sig = meta["signatures"]["serving_default"]
    assert set(sig["inputs"]) == {"a", "b"}
    assert sig["inputs"]["a"]["dtype"] == "float32" and sig["inputs"]["a"]["shape"] == [None, 4]


@pytest.mark.parametrize("flavour", ["tf_keras", "keras3"])
def test_python_api_converts_live_keras_models(flavour, tmp_path, tfjs_runtime):
    from tfjsconv.plugins.savedmodel.api import graph_from_keras_model
    from tfjsconv.verify.compare import verify_model

    model = tf_models.multi_io_model(flavour)
    graph = graph_from_keras_model(model, ConvertOptions())
    assert list(graph.inputs) == ["a", "b"]
    tfjsconv.convert(graph, tmp_path / "web")
    rng = np.random.default_rng(7)
    inputs = {"a": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=(3, 6)).astype(np.float32)}
    expected = [np.asarray(y) for y in model([inputs["a"], inputs["b"]], training=False)]
    report = verify_model(tmp_path / "web", inputs, dict(zip(graph.outputs, expected)),
                          backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL)
    assert report.passed, report.failures
