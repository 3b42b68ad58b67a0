"""--keep_provenance: every TF.js node names the source nodes (TF nodes, ONNX nodes, Keras layers) it came from."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfjsconv import convert
from tfjsconv.inspect import inspect_model
from tfjsconv.inspect.text import format_inspection
from tfjsconv.provenance import PROVENANCE_JSON, read_provenance


def _converted(source, out: Path, **options) -> tuple[dict, dict]:
    convert(source, out, keep_provenance=True, **options)
    model = json.loads((out / "model.json").read_text())
    provenance = read_provenance(out)
    assert provenance is not None
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
    assert set(provenance["nodes"]) == set(nodes)
    assert all(provenance["nodes"][name] for name in nodes), "a node without provenance"
    return nodes, provenance


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)

    class Net(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
            self.b = tf.Variable(rng.standard_normal(4).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 3), tf.float32)])
        def __call__(self, x):
            y = tf.nn.conv2d(x, self.w, 1, "SAME", name="conv")
            return tf.nn.relu(tf.nn.bias_add(y, self.b, name="bias"), name="act")

    path = tmp_path_factory.mktemp("sm") / "model"
    tf.saved_model.save(Net(), str(path))
    return path


def test_saved_model_fused_conv_lists_all_sources(saved_model, tmp_path):
    nodes, provenance = _converted(saved_model, tmp_path / "out")
    fused = [name for name, n in nodes.items() if n["op"] == "_FusedConv2D"]
    assert len(fused) == 1
    sources = provenance["nodes"][fused[0]]
    assert [s.rsplit("/", 1)[-1] for s in sources] == ["conv", "bias", "act"]
    assert provenance["frontend"] == "tf_saved_model"
    text = format_inspection(inspect_model(tmp_path / "out"))
    assert "provenance (tf_saved_model" in text and sources[0] in text


def test_default_output_unchanged_and_has_no_side_file(saved_model, tmp_path):
    convert(saved_model, tmp_path / "plain")
    convert(saved_model, tmp_path / "kept", keep_provenance=True)
    plain, kept = _folder_bytes(tmp_path / "plain"), _folder_bytes(tmp_path / "kept")
    assert PROVENANCE_JSON not in plain and PROVENANCE_JSON in kept
    kept.pop(PROVENANCE_JSON)
    assert plain == kept
    assert "provenance" not in inspect_model(tmp_path / "plain")


def test_keras_nodes_name_their_layers(tmp_path):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    path = tmp_path / "m.keras"
    keras.Model(inputs, outputs).save(path)
    nodes, provenance = _converted(path, tmp_path / "out", output_format="tfjs_graph_model")
    layers = {"image", "conv_a", "norm", "pool", "head"}
    sources = {s for group in provenance["nodes"].values() for s in group}
    assert sources <= layers and {"conv_a", "head"} <= sources
    fused = [name for name, n in nodes.items() if n["op"] == "_FusedConv2D"]
    assert fused and all("conv_a" in provenance["nodes"][name] for name in fused)


def test_onnx_fusion_and_folded_constant(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"),
             numpy_helper.from_array(np.full((1, 4, 1, 1), 0.5, np.float32), "c1"),
             numpy_helper.from_array(np.full((1, 4, 1, 1), 1.5, np.float32), "c2")]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="the_conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["y"], ["r"], name="the_relu"),
         helper.make_node("Add", ["c1", "c2"], ["s"], name="const_add"),
         helper.make_node("Mul", ["r", "s"], ["z"], name="the_mul")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    nodes, provenance = _converted(path, tmp_path / "out")
    fused = [name for name, n in nodes.items() if n["op"] == "_FusedConv2D"]
    assert len(fused) == 1 and provenance["nodes"][fused[0]] == ["the_conv", "the_relu"]
    consts = [name for name, n in nodes.items() if n["op"] == "Const"]
    folded = [name for name in consts if "the_mul" in provenance["nodes"][name]]
    assert folded, "the folded Add(c1, c2) should belong to the Mul that reads it"
    assert "const_add" not in {s for group in provenance["nodes"].values() for s in group}


def test_torch_records_module_paths(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 2)).eval()
    nodes, provenance = _converted(net, tmp_path / "out", example_inputs=(torch.randn(1, 3, 8, 8),))
    modules = provenance.get("modules") or {}
    assert {"0", "1", "3"} <= set(modules.values())
    fused = [name for name, n in nodes.items() if n["op"] == "_FusedConv2D"]
    assert len(fused) == 1
    assert [modules.get(s) for s in provenance["nodes"][fused[0]]] == ["0", "1"]


def test_frozen_graph_nodes_name_their_tf_nodes(tmp_path):
    pytest.importorskip("tensorflow")
    from tf_models import frozen_graph

    path = frozen_graph(tmp_path / "frozen.pb")
    nodes, provenance = _converted(path, tmp_path / "out", output_node_names=["logits", "probs"])
    sources = {s for group in provenance["nodes"].values() for s in group}
    assert {"logits", "probs", "features"} <= sources
    assert "unused" not in sources
    fused = [name for name, n in nodes.items() if n["op"] == "_FusedMatMul"]
    assert len(fused) == 1 and "logits" in provenance["nodes"][fused[0]]


def test_tfjs_intermediates_match_the_source_tensors(tmp_path, tfjs_runtime):
    """Every traced node of a SavedModel is fetched from real TF.js (cpu, wasm); the last node naming a source (the
    node ``verify --trace`` pairs it with) equals TF's tensor of that source, with ``mean_as_sum`` on: the Mean that
    ``mean_as_sum`` rewrites keeps its name and its value on its node, and the Mul it reads stays its own source."""
    tf = pytest.importorskip("tensorflow")
    from tfjsconv.verify.tfjs_trace import tfjs_intermediates, traceable_nodes

    rng = np.random.default_rng(2)
    weights = rng.standard_normal((3, 3, 2, 3)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec((1, 6, 6, 2), tf.float32)])
    def f(x):
        y = tf.nn.conv2d(x, tf.constant(weights), 1, "SAME", name="conv")
        return tf.reduce_mean(tf.nn.relu(y, name="act") * 3.0, axis=[1, 2], name="pool")

    module = tf.Module()
    module.f = f
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=f)
    _, provenance = _converted(tmp_path / "sm", tmp_path / "out", optimization_level=0)
    x = rng.standard_normal((1, 6, 6, 2)).astype(np.float32)
    names = traceable_nodes(tmp_path / "out")
    assert {provenance["nodes"][n][0].rsplit("/", 1)[-1] for n in names} >= {"conv", "act", "pool"}
    fetched = tfjs_intermediates(tmp_path / "out", {"x": x}, names)
    concrete = f.get_concrete_function()
    graph = concrete.graph
    last = {source: name for name in names for source in provenance["nodes"][name]}
    assert {s.rsplit("/", 1)[-1] for s in last} >= {"conv", "act", "mul", "pool"}
    assert last["PartitionedCall/PartitionedCall/pool"] == "PartitionedCall/PartitionedCall/pool"
    for backend, values in fetched.items():
        assert set(values) == set(names), backend
        for source, name in last.items():
            assert provenance["nodes"][name][-1] == source, name  # not absorbed into a later node
            op = graph.get_operation_by_name(source.rsplit("/", 1)[-1])  # the frozen graph nests it in calls
            tensor = _tf_tensor(tf, concrete, op.outputs[0].name, x)
            np.testing.assert_allclose(values[name], tensor, rtol=1e-4, atol=1e-4, err_msg=f"{backend} {name}")
    with pytest.raises(Exception, match="no node"):
        tfjs_intermediates(tmp_path / "out", {"x": x}, ["not_a_node"])


def _tf_tensor(tf, concrete, tensor_name: str, x: np.ndarray) -> np.ndarray:
    """The value TF computes for one tensor of ``concrete``'s graph (a pruned function fetching it)."""
    graph_def = concrete.graph.as_graph_def()
    placeholder = concrete.inputs[0].name

    def body(v):
        return tf.graph_util.import_graph_def(graph_def, input_map={placeholder: v}, return_elements=[tensor_name])

    fn = tf.compat.v1.wrap_function(body, [tf.TensorSpec(x.shape, tf.float32)])
    return fn(tf.constant(x))[0].numpy()


def test_cli_flag_and_inspect(saved_model, tmp_path, capsys):
    from tfjsconv.cli import main

    assert main(["convert", str(saved_model), str(tmp_path / "out"), "--keep_provenance", "--quiet"]) == 0
    assert (tmp_path / "out" / PROVENANCE_JSON).is_file()
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "out")]) == 0
    assert "provenance (tf_saved_model" in capsys.readouterr().out
