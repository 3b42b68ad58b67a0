"""The common SavedModel and frozen graph convert with no TensorFlow (issue 15), like the TF path.

TensorFlow builds the models and computes the references in this process; each conversion runs in
a subprocess where importing ``tensorflow``, ``keras`` or ``tf_keras`` fails. The converted models
run in real TF.js (cpu, wasm) against TensorFlow's outputs, and give the same op histogram as the
``--loader=tensorflow`` path.
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tf_models  # noqa: E402

import tfjsconv  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

RTOL, ATOL = 1e-5, 0.0

#: Run first in the conversion subprocess: any import of these packages fails.
POISON = """
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError("poisoned for this test: " + name)
sys.meta_path.insert(0, _NoTensorFlow())
from tfjsconv.cli import main
code = main(sys.argv[1:])
assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")]
sys.exit(code)
"""


def run_without_tf(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", POISON, *argv], capture_output=True, text=True, timeout=120)


def convert_without_tf(*argv: str) -> subprocess.CompletedProcess:
    return run_without_tf("convert", *argv, "--quiet")


def tf_module(path: Path) -> Path:
    """A plain tf.Module with a tf.function: matmul, bias, a split into two outputs, tanh/softplus."""
    import tensorflow as tf

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(7)
            self.w = tf.Variable(rng.normal(size=(6, 8)).astype(np.float32))
            self.b = tf.Variable(rng.normal(size=(8,)).astype(np.float32))
            self.scale = tf.Variable(np.float32(0.75))

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x")])
        def __call__(self, x):
            h = tf.matmul(x, self.w) + self.b
            left, right = tf.split(h, 2, axis=1)
            top = tf.math.top_k(right, k=2).values
            return {"a": tf.tanh(left) * self.scale, "b": tf.nn.softplus(top) / 3.0}

    module = Net()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf_free_models")
    return {
        "cnn:tf_keras": tf_models.cnn(root / "cnn_tf_keras", "tf_keras"),
        "multi_io:keras3": tf_models.multi_io(root / "multi_io_keras3", "keras3"),
        "tf_module": tf_module(root / "tf_module"),
        "frozen": tf_models.frozen_graph(root / "frozen.pb"),
        "text_rnn:gru": tf_models.text_rnn(root / "text_gru", "tf_keras", "gru"),
        "hub_v2": tf_models.hub_v2(root / "hub_v2"),
    }


def _histogram(out: Path) -> dict[str, int]:
    doc = json.loads((out / "model.json").read_text())
    return dict(collections.Counter(n["op"] for n in doc["modelTopology"]["node"]))


@pytest.mark.parametrize("name", ["cnn:tf_keras", "multi_io:keras3", "tf_module", "frozen", "text_rnn:gru", "hub_v2"])
def test_converts_without_tensorflow_like_tf(name, models, tmp_path, tfjs_runtime):
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model
    from tfjsconv.verify.inputs import input_specs, random_inputs

    source = models[name]
    flags = {"frozen": ["--output_node_names=logits,probs"], "hub_v2": ["--input_format=tf_hub"]}.get(name, [])
    out = tmp_path / "free"
    run = convert_without_tf(str(source), str(out), *flags)
    assert run.returncode == 0, run.stderr
    options = ConvertOptions.from_kwargs(output_node_names=["logits", "probs"] if name == "frozen" else None)
    options.extra["model_dir"] = str(out)
    fmt = {"frozen": "tf_frozen_model", "hub_v2": "tf_hub"}.get(name, "tf_saved_model")
    inputs = random_inputs(input_specs(out), seed=5, dim=3)
    expected = get_plugin_manager().registry.frontends[fmt].reference(source, inputs, options)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
    # parity: the TensorFlow path gives the same graph
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", input_format=fmt,
                     **({"output_node_names": ["logits", "probs"]} if name == "frozen" else {}))
    if name.startswith("text_rnn"):  # a loop: the TF-free lowering keeps fewer frame nodes than Grappler, and its
        # loop-invariant weights are plain constants, so MatMul+BiasAdd fuse inside the body too
        ours, theirs = _histogram(out), _histogram(tmp_path / "tf")
        assert sum(ours.values()) < sum(theirs.values()), str((ours, theirs))
        assert set(ours) - FRAME_OPS <= set(theirs) | {"_FusedMatMul"}, str((ours, theirs))
    else:
        assert _histogram(out) == _histogram(tmp_path / "tf")


#: What a v1 loop is made of besides its computation (counts differ between the two lowerings).
FRAME_OPS = {"Const", "Identity", "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond"}


def test_hash_tables_stay_on_the_tf_free_path(tmp_path):
    """(Nor does control flow: tests/test_savedmodel_tf_free_control_flow.py; tables in TF.js:
    tests/test_tf_free_tables.py.)"""
    from tfjsconv.plugins.savedmodel.tf_free import saved_model_graph

    graph = saved_model_graph(tf_models.hash_table(tmp_path / "table"), ConvertOptions())
    assert sum(n.op == "HashTableV2" for n in graph.initializer) == 2
    assert not any(n.startswith("loaded with TensorFlow") for n in graph.notes)


def _copy(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def test_crc_mismatch_is_a_corrupt_checkpoint_naming_the_variable(models, tmp_path):
    source = _copy(models["tf_module"], tmp_path / "bad")
    from tfjsconv.plugins.savedmodel.tensor_bundle import BundleReader

    entry = BundleReader(source / "variables" / "variables").entries["w/.ATTRIBUTES/VARIABLE_VALUE"]
    shard = next((source / "variables").glob("variables.data-*"))
    data = bytearray(shard.read_bytes())
    data[entry.offset + 5] ^= 0x40  # one bit of the weight matrix w
    shard.write_bytes(bytes(data))
    run = convert_without_tf(str(source), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    message = run.stderr.strip().splitlines()[0]
    assert "corrupt checkpoint" in message and "CRC-32C" in message and "w/.ATTRIBUTES/VARIABLE_VALUE" in message
    assert not (tmp_path / "out").exists()


def test_missing_shard_is_a_clear_error(models, tmp_path):
    source = _copy(models["tf_module"], tmp_path / "bad")
    for shard in (source / "variables").glob("variables.data-*"):
        shard.unlink()
    run = convert_without_tf(str(source), str(tmp_path / "out"))
    assert run.returncode == 2 and "variables.data" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_function_that_calls_itself_is_refused(models, tmp_path):
    from tfjsconv.plugins.savedmodel import schema

    source = _copy(models["tf_module"], tmp_path / "bad")
    model = schema.SavedModel.FromString((source / "saved_model.pb").read_bytes())
    graph_def = model.meta_graphs[0].graph_def
    call = next(n for n in graph_def.node if n.op == "StatefulPartitionedCall"
                and "signature_wrapper" in n.attr["f"].func.name)
    wrapper = next(f for f in graph_def.library.function if f.signature.name == call.attr["f"].func.name)
    inner = next(n for n in wrapper.node_def if n.op == "StatefulPartitionedCall")
    inner.attr["f"].func.name = wrapper.signature.name  # the wrapper now calls itself
    (source / "saved_model.pb").write_bytes(model.SerializeToString())
    run = convert_without_tf(str(source), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    assert "recursive" in run.stderr and wrapper.signature.name in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["cnn:tf_keras", "multi_io:keras3", "tf_module"])
def test_function_bodies_get_tf_dtypes_and_output_counts(name, models):
    """The output-arg table and dtype rules agree with TF's own import of every function body."""
    from tensorflow.core.framework import function_pb2
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph

    from tfjsconv.plugins.savedmodel import schema
    from tfjsconv.plugins.savedmodel.graphdef_ir import dtype_from_enum, function_body

    model = schema.SavedModel.FromString((models[name] / "saved_model.pb").read_bytes())
    functions = {f.signature.name: f for f in model.meta_graphs[0].graph_def.library.function}
    compared = 0
    for fname, fdef in functions.items():
        if "_traced_" in fname or any(n.op in functions or n.op.endswith("PartitionedCall") for n in fdef.node_def):
            continue  # checkpoint save/restore (never converted); callees TF's importer would need registered
        body = function_body(fdef, functions)
        ops = {op.name: op for op in function_def_to_graph(
            function_pb2.FunctionDef.FromString(fdef.SerializeToString())).get_operations()}
        for node in body:
            op = ops.get(node.name)
            if op is None or node.op == "Placeholder":
                continue
            assert len(node.outputs) == len(op.outputs), (fname, node.name)
            expected = [dtype_from_enum(t.dtype.as_datatype_enum) for t in op.outputs]
            assert [v.dtype for v in node.outputs] == expected, (fname, node.name, node.op)
            compared += 1
    assert compared > 5


def test_inspect_describes_signatures_without_tensorflow(models):
    run = run_without_tf("inspect", str(models["tf_module"]), "--json")
    assert run.returncode == 0, run.stderr
    details = json.loads(run.stdout)["details"]
    signature = details["meta_graphs"][0]["signatures"]["serving_default"]
    assert signature["inputs"]["x"] == {"name": "serving_default_x:0", "dtype": "float32", "shape": [None, 6]}


def _value_protos():
    """TensorProtos in both encodings (tensor_content and the repeated fields, padded or not)."""
    import ml_dtypes
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    arrays = [np.float16([1.5, -2, 3]), np.int64([[1, 2], [3, 4]]), np.array([True, False]), np.float32(3.0),
              np.array([1, 2], dtype=ml_dtypes.bfloat16), np.complex64([1 + 2j, 3]), np.uint8([1, 2, 255]),
              np.int8([-1, 5]), np.float64([1e300]), np.array([b"ab", b"", "é".encode()], dtype=object)]
    for array in arrays:
        proto = tensor_util.make_tensor_proto(array)  # tensor_content, or the repeated field for some dtypes
        yield proto
        if proto.tensor_content:  # the same values in the repeated field of the dtype
            proto = tensor_util.make_tensor_proto(array)
            proto.ClearField("tensor_content")
            flat = array.reshape(-1)
            dtype = tf.as_dtype(array.dtype)
            if array.dtype in (np.float16, ml_dtypes.bfloat16):
                proto.half_val.extend(int(v) for v in flat.view(np.uint16))
            elif array.dtype == np.complex64:
                proto.scomplex_val.extend(x for v in flat for x in (v.real, v.imag))
            else:
                getattr(proto, {tf.float32: "float_val", tf.float64: "double_val", tf.int64: "int64_val",
                                tf.bool: "bool_val"}.get(dtype, "int_val")).extend(flat.tolist())
            yield proto
    yield tensor_util.make_tensor_proto(7.0, shape=[2, 3])  # one value repeated
    yield tensor_util.make_tensor_proto("s", shape=[3])
    yield tensor_util.make_tensor_proto(np.float16(2.5), shape=[2])


def test_constants_decode_like_tf():
    from tensorflow.python.framework import tensor_util

    from tfjsconv.plugins.savedmodel import schema
    from tfjsconv.plugins.savedmodel.graphdef_ir import tensor_from_proto

    count = 0
    for proto in _value_protos():
        ours = tensor_from_proto(schema.TensorProto.FromString(proto.SerializeToString()))
        theirs = tensor_util.MakeNdarray(proto)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, proto
        assert ours.tobytes() == theirs.tobytes() if ours.dtype != object else list(ours.flat) == list(theirs.flat)
        count += 1
    assert count > 15
