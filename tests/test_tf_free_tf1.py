"""TF1 SavedModels and TF1 Hub modules convert with no TensorFlow (issue 15), like the TF path.

The models are built here with ``tf.compat.v1`` in graph mode: ref variables (``VariableV2``) and v1
control flow (``tf.while_loop``/``tf.cond`` as Switch/Merge/Enter frames) saved by ``simple_save``;
resource variables saved by the ``Builder``; a partitioned variable in both; ref variables with TF2
behaviour's functional ``While``/``If`` (lowered by the reader); the hub-format module of
``tf_models.hub_v1`` and one as the ``tensorflow_hub`` library writes it (no SaverDef); the TF1 table models
of ``test_savedmodel_control_flow`` (three tables read, or none); a static hash table beside a ref
variable (the table through :class:`.tf_free_tables.TableSource`); and a ref variable read through
``RefIdentity``/``RefEnter``/``RefSwitch`` (which TensorFlow's own freezing refuses). Each conversion runs in a
subprocess where importing ``tensorflow``, ``keras`` or ``tf_keras`` fails; the result runs in real TF.js
(cpu, wasm) against a TF1 session running the SavedModel's signature, and has the op histogram of
``--loader=tensorflow``.
"""
from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tf_models  # noqa: E402

import tfjsconv  # noqa: E402
from test_savedmodel_control_flow import tf1_tables  # noqa: E402
from test_savedmodel_tf_free import convert_without_tf  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

RTOL, ATOL = 1e-5, 1e-6


def tf1_graph_model(path: Path, *, resource: bool, v1_control_flow: bool = True) -> Path:
    """Conv, a dense layer over a 2-way partitioned weight, a v1 ``tf.while_loop`` reading a variable,
    a ``tf.cond``; a second output reads one partition alone. Ref variables, row partitions and
    ``simple_save``, or resource variables, column partitions and the ``Builder`` (``serve`` tag).
    ``v1_control_flow=False``: TF2 behaviour, functional ``While``/``If`` whose bodies have no ``_output_shapes``."""
    import tensorflow as tf

    v1 = tf.compat.v1
    was_v2 = v1.control_flow_v2_enabled()
    if v1_control_flow:
        v1.disable_control_flow_v2()  # TF1's own loops: frames in the graph
    try:
        rng = np.random.default_rng(11 + resource)
        with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
            image = v1.placeholder(tf.float32, [None, 4, 4, 2], name="image")
            kernel = v1.get_variable("conv/kernel", initializer=rng.normal(size=(3, 3, 2, 4)).astype(np.float32),
                                     use_resource=resource)
            weight = v1.get_variable("dense/w", shape=(16, 5), partitioner=v1.fixed_size_partitioner(2, axis=resource),
                                     initializer=v1.random_normal_initializer(seed=3), use_resource=resource)
            bias = v1.Variable(rng.normal(size=(5,)).astype(np.float32), name="dense/b", use_resource=resource)
            gain = v1.get_variable("gain", initializer=rng.uniform(0.5, 1.5, (5,)).astype(np.float32),
                                   use_resource=resource)
            hidden = tf.reshape(tf.nn.relu(tf.nn.conv2d(image, kernel, 2, "SAME")), [-1, 16])
            logits = tf.matmul(hidden, weight) + bias
            _, looped = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, tf.tanh(a * gain + 0.25)),
                                      [tf.constant(0), logits])
            y = tf.cond(tf.reduce_sum(looped) > 0, lambda: looped * 2.0, lambda: looped - 1.0)
            part = tf.matmul(hidden if resource else hidden[:, 8:], list(weight)[1])  # the second partition, alone
            session.run(v1.global_variables_initializer())
            if resource:
                builder = v1.saved_model.Builder(str(path))
                signature = v1.saved_model.predict_signature_def({"image": image}, {"y": y, "part": part})
                builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature})
                builder.save()
            else:
                v1.saved_model.simple_save(session, str(path), {"image": image}, {"y": y, "part": part})
    finally:
        if was_v2:
            v1.enable_control_flow_v2()
    return path


def tf1_ref_forwarding(path: Path) -> Path:
    """A ref variable read through ``RefIdentity``, ``RefEnter`` (a v1 loop body) and ``RefSwitch`` (both
    ``tf.cond`` branches). TensorFlow's own freezing refuses this graph (RefEnter of a frozen value)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    was_v2 = v1.control_flow_v2_enabled()
    v1.disable_control_flow_v2()
    try:
        with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
            x = v1.placeholder(tf.float32, [None, 5], name="x")
            gain = v1.get_variable("gain", initializer=np.random.default_rng(5).normal(size=(5,)).astype(np.float32),
                                   use_resource=False)
            ident = tf.raw_ops.RefIdentity(input=gain._ref())
            _, acc = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, tf.tanh(a * gain._ref())),
                                   [tf.constant(0), x])
            y = tf.cond(tf.reduce_sum(acc) > 0, lambda: acc + gain._ref(), lambda: acc - ident)
            session.run(v1.global_variables_initializer())
            v1.saved_model.simple_save(session, str(path), {"x": x}, {"y": y})
    finally:
        if was_v2:
            v1.enable_control_flow_v2()
    return path


def tf1_tensor_array_rnn(path: Path) -> Path:
    """A recurrent cell over time as ``tf.compat.v1.nn.dynamic_rnn`` builds it: a v1 loop reading the input
    through a ``TensorArrayV3`` (unstacked) and writing each step into another, stacked after the loop;
    ``TensorArrayV3`` has two outputs (handle, flow), which the reader once refused to lay out; a ``Select``
    of rows by a vector condition and a zero state shaped by ``ExpandDims`` of the batch size."""
    import tensorflow as tf

    v1 = tf.compat.v1
    was_v2 = v1.control_flow_v2_enabled()
    v1.disable_control_flow_v2()
    try:
        rng = np.random.default_rng(9)
        with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
            x = v1.placeholder(tf.float32, [None, 5, 3], name="x")
            kernel = v1.get_variable("rnn/kernel", initializer=rng.normal(size=(7, 4)).astype(np.float32) * 0.5,
                                     use_resource=False)
            steps = tf.shape(x)[1]
            inputs = v1.TensorArray(tf.float32, size=steps).unstack(tf.transpose(x, [1, 0, 2]))
            outputs = v1.TensorArray(tf.float32, size=steps)

            def body(t, h, out):
                step = inputs.read(t)
                new = tf.tanh(tf.matmul(tf.concat([step, h], 1), kernel))
                h = v1.where(tf.reduce_sum(step, 1) > 0.0, new, h)  # v1 Select: a row mask (as with sequence_length)
                return t + 1, h, out.write(t, h)

            zeros = tf.zeros(tf.concat([tf.expand_dims(tf.shape(x)[0], 0), [4]], 0))  # as an RNN cell's zero_state
            _, last, outputs = tf.while_loop(lambda t, h, out: t < steps, body, [tf.constant(0), zeros, outputs])
            session.run(v1.global_variables_initializer())
            v1.saved_model.simple_save(session, str(path), {"x": x},
                                       {"out": tf.transpose(outputs.stack(), [1, 0, 2]), "last": last})
    finally:
        if was_v2:
            v1.enable_control_flow_v2()
    return path


def tf1_table_and_variable(path: Path) -> Path:
    """A ``StaticHashTable`` of constants (filled by ``legacy_init_op``) beside a ref variable, ``simple_save``."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
        words = v1.placeholder(tf.string, [None], name="words")
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(["a", "b", "tf.js"]), tf.constant([1, 2, 3], tf.int64)), default_value=-1)
        w = v1.get_variable("w", initializer=np.random.default_rng(2).normal(size=(3, 2)).astype(np.float32),
                            use_resource=False)
        session.run(v1.global_variables_initializer())
        session.run(v1.tables_initializer())
        v1.saved_model.simple_save(session, str(path), {"words": words, "x": x},
                                   {"id": table.lookup(words) * 10, "y": tf.matmul(x, w)},
                                   legacy_init_op=v1.tables_initializer())
    return path


def tf1_hub_module(path: Path) -> Path:
    """A TF1 hub module as the ``tensorflow_hub`` library writes one: the module's graph exported with no
    Saver in it (hence no SaverDef), its variables saved by a Saver built afterwards, under their own
    names (a 3-way partitioned weight as slices of one key); empty tag-set, signature ``default``."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    v1 = tf.compat.v1
    (path / "variables").mkdir(parents=True)
    with tf.Graph().as_default() as graph:
        x = v1.placeholder(tf.float32, [None, 6], name="x")
        w = v1.get_variable("embed/w", shape=(6, 4), partitioner=v1.fixed_size_partitioner(3),
                            initializer=v1.random_normal_initializer(seed=1))
        b = v1.get_variable("embed/b", initializer=np.random.default_rng(4).normal(size=(4,)).astype(np.float32))
        y = tf.tanh(tf.matmul(x, w) + b)
        meta_graph = v1.train.export_meta_graph(graph=graph, clear_devices=True)
        meta_graph.signature_def["default"].CopyFrom(v1.saved_model.predict_signature_def({"x": x}, {"default": y}))
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            v1.train.Saver(sharded=True).save(session, str(path / "variables" / "variables"), write_meta_graph=False,
                                              write_state=False)
    model = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    model.meta_graphs.add().CopyFrom(meta_graph)
    (path / "saved_model.pb").write_bytes(model.SerializeToString())
    (path / "tfhub_module.pb").write_bytes(b"\x08\x03")  # ModuleDef{format: FORMAT_V3}
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf1_models")
    return {
        "ref_v1_control_flow": tf1_graph_model(root / "ref", resource=False),
        "resource_builder": tf1_graph_model(root / "resource", resource=True),
        "ref_functional_control_flow": tf1_graph_model(root / "functional", resource=False, v1_control_flow=False),
        "hub_v1": tf_models.hub_v1(root / "hub_v1"),
        "hub_v1_without_saver": tf1_hub_module(root / "hub_v1_without_saver"),
        "unused_tables": tf1_tables(root / "unused_tables", used=False, saver="builder"),
        "used_tables": tf1_tables(root / "used_tables", used=True, saver="simple_save"),
        "ref_forwarding": tf1_ref_forwarding(root / "ref_forwarding"),
        "table_and_variable": tf1_table_and_variable(root / "table_and_variable"),
        "ref_tensor_array_rnn": tf1_tensor_array_rnn(root / "ref_tensor_array_rnn"),
    }


#: model -> (tags, signature, inputs)
CASES = {
    "ref_v1_control_flow": (["serve"], "serving_default", {"image": (3, 4, 4, 2)}),
    "resource_builder": (["serve"], "serving_default", {"image": (2, 4, 4, 2)}),
    "ref_functional_control_flow": (["serve"], "serving_default", {"image": (3, 4, 4, 2)}),
    "hub_v1": ([], "default", {"images": (3, 4)}),
    "hub_v1_without_saver": ([], "default", {"x": (3, 6)}),
    "unused_tables": (["serve"], "serving_default", {"ids": None}),
    "used_tables": (["serve"], "serving_default", {}),
    "ref_forwarding": (["serve"], "serving_default", {"x": (4, 5)}),
    "table_and_variable": (["serve"], "serving_default", {"x": (4, 3)}),
    "ref_tensor_array_rnn": (["serve"], "serving_default", {"x": (2, 5, 3)}),
}


def tf1_session_outputs(path: Path, tags: list[str], signature: str,
                        inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The signature run by a TF1 session on the SavedModel (the reference)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
        meta_graph = v1.saved_model.loader.load(session, tags, str(path))
        sig = meta_graph.signature_def[signature]
        feed = {sig.inputs[key].name: value for key, value in inputs.items()}
        return session.run({key: info.name for key, info in sig.outputs.items()}, feed)


def _histogram(out: Path) -> collections.Counter:
    doc = json.loads((out / "model.json").read_text())
    # "/nonempty/": what empty_reductions adds where one loader knows a reduced size and the other does not
    return collections.Counter(n["op"] for n in doc["modelTopology"]["node"] if "/nonempty/" not in n["name"])


def _inputs(name: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(len(name))
    if name.endswith("_tables"):
        ids = {"ids": np.array([3, 4, 5, 7, -1], np.int32)}
        return ids if name == "unused_tables" else {**ids, "words": np.array(["a", "b", "tf.js", "x", "?"], object)}
    inputs = {key: rng.normal(size=shape).astype(np.float32) for key, shape in CASES[name][2].items()}
    if name == "table_and_variable":
        inputs["words"] = np.array(["a", "tf.js", "missing", "", "b"], dtype=object)[:4]
    return inputs


@pytest.mark.parametrize("name", list(CASES))
def test_tf1_saved_models_convert_without_tensorflow_like_tf(name, models, tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import format_report, verify_model

    source, out = models[name], tmp_path / "free"
    tags, signature, _ = CASES[name]
    run = convert_without_tf(str(source), str(out))
    assert run.returncode == 0, run.stderr
    doc = json.loads((out / "model.json").read_text())
    assert doc["userDefinedMetadata"]["signatureName"] == signature
    inputs = _inputs(name)
    expected = tf1_session_outputs(source, tags, signature, inputs)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL, quiet=True)
    assert report.passed, format_report(report)
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
    ops = _histogram(out)
    if name.startswith("ref_"):
        assert {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond"} <= ops.keys()
        assert not any(op.startswith("Ref") for op in ops)
    if name == "table_and_variable":
        assert [n["op"] for n in doc["modelInitializer"]["node"]].count("HashTableV2") == 1
        assert list(expected["id"]) == [10, 30, -10, -10]
    if name == "ref_forwarding":
        return  # TensorFlow's freezing refuses RefEnter: no TF path to compare with
    if name == "ref_tensor_array_rnn":  # the TF path once crashed on it (tests/test_savedmodel_tf_loader_resources.py)
        assert {"TensorArrayV3", "TensorArrayScatterV3", "TensorArrayReadV3", "TensorArrayWriteV3",
                "TensorArrayGatherV3"} <= ops.keys()
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow")
    theirs = _histogram(tmp_path / "tf")
    if name == "ref_functional_control_flow":  # our lowering computes nothing for the unread loop counter
        assert sum(ops.values()) < sum(theirs.values()) and ops["LoopCond"] == theirs["LoopCond"]
    else:
        assert ops == theirs


#: model -> (the keys read whole, the partitions read alone: (key, rows, columns))
LAZY_CASES = {
    "ref_v1_control_flow": ({"conv/kernel", "dense/w", "dense/b", "gain"}, [("dense/w", slice(8, 16), slice(0, 5))]),
    "resource_builder": ({"conv/kernel", "dense/w", "dense/b", "gain"}, [("dense/w", slice(0, 16), slice(3, 5))]),
    "hub_v1_without_saver": ({"embed/w", "embed/b"}, []),
}


@pytest.mark.parametrize("name", list(LAZY_CASES))
def test_variables_are_lazy_checkpoint_reads_and_partitions_are_exact(name, models):
    """Whole variables, each partitioned weight joined (its ConcatV2 folded) and a lone partition a slice,
    each equal to TensorFlow's own read of the checkpoint."""
    import tensorflow as tf

    from tfjsconv.plugins.savedmodel.direct import CheckpointTensor
    from tfjsconv.plugins.savedmodel.tf_free import saved_model_graph
    from tfjsconv.plugins.savedmodel.tf_free_tf1 import SlicedCheckpointTensor

    source = models[name]
    whole_keys, parts = LAZY_CASES[name]
    graph = saved_model_graph(source, ConvertOptions(), hub=name.startswith("hub"))
    lazy = [n.attrs["value"] for n in graph if n.op == "Const" and isinstance(n.attrs["value"], CheckpointTensor)]
    reader = tf.train.load_checkpoint(str(source / "variables" / "variables"))
    assert {t.key for t in lazy if not isinstance(t, SlicedCheckpointTensor)} == whole_keys
    sliced = [t for t in lazy if isinstance(t, SlicedCheckpointTensor)]
    assert [(t.key, *t.region) for t in sliced] == parts
    for tensor in lazy:
        expected = reader.get_tensor(tensor.key)[getattr(tensor, "region", ())]
        assert tensor.shape == expected.shape
        np.testing.assert_array_equal(tensor.load(), expected)
    assert not {"ConcatV2", "VariableV2", "VarHandleOp"} & {n.op for n in graph}


def _rewrite_restore_names(source: Path, old: str, new: str) -> None:
    from tfjsconv.plugins.savedmodel import schema

    model = schema.SavedModel.FromString((source / "saved_model.pb").read_bytes())
    for node in model.meta_graphs[0].graph_def.node:
        if node.op == "Const" and node.name.endswith("RestoreV2/tensor_names"):
            values = node.attr["value"].tensor.string_val
            values[:] = [new.encode() if v == old.encode() else v for v in values]
    (source / "saved_model.pb").write_bytes(model.SerializeToString())


@pytest.mark.parametrize("fault", ["missing_key", "crc_mismatch"])
def test_a_bad_checkpoint_is_a_one_line_error(fault, models, tmp_path):
    from tfjsconv.plugins.savedmodel.tensor_bundle import BundleReader

    source = Path(shutil.copytree(models["ref_v1_control_flow"], tmp_path / "bad"))
    if fault == "missing_key":
        _rewrite_restore_names(source, "dense/b", "dense/bias_renamed")
        wanted = ["dense/bias_renamed", "dense/b"]
    else:
        entry = BundleReader(source / "variables" / "variables").entries["gain"]
        shard = next((source / "variables").glob("variables.data-*"))
        data = bytearray(shard.read_bytes())
        data[entry.offset + 2] ^= 0x10
        shard.write_bytes(bytes(data))
        wanted = ["corrupt checkpoint", "CRC-32C", "gain"]
    run = convert_without_tf(str(source), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    message = run.stderr.strip().splitlines()[0]
    assert all(word in message for word in wanted), run.stderr
    assert not (tmp_path / "out").exists()


def test_a_saver_the_reader_cannot_follow_is_named(models, tmp_path):
    """No restore op for the variables: the feature is named (``tf1_saver``), never a guess."""
    from tfjsconv.plugins.savedmodel import schema
    from tfjsconv.plugins.savedmodel.graphdef_ir import NotTfFree
    from tfjsconv.plugins.savedmodel.tf_free import saved_model_graph

    source = Path(shutil.copytree(models["resource_builder"], tmp_path / "odd"))
    model = schema.SavedModel.FromString((source / "saved_model.pb").read_bytes())
    model.meta_graphs[0].saver_def.restore_op_name = "save/not_there"
    (source / "saved_model.pb").write_bytes(model.SerializeToString())
    with pytest.raises(NotTfFree) as why:
        saved_model_graph(source, ConvertOptions())
    assert why.value.feature == "tf1_saver" and "save/not_there" in why.value.detail


def test_a_frozen_tf1_rnn_with_tensor_arrays_converts_without_tensorflow(models, tmp_path, tfjs_runtime):
    """The TensorArray RNN frozen by TF1's ``convert_variables_to_constants`` (no ``_output_shapes``): the
    ranks inside the v1 loop come from the rules (the scattered input, the zero state's shape), so the row
    ``Select`` is rewritten and no op is refused for an unknown rank; TF.js gives TF's numbers."""
    import tensorflow as tf

    from tfjsconv.verify.compare import format_report, verify_model

    v1 = tf.compat.v1
    inputs = {"x": np.random.default_rng(3).normal(size=(3, 5, 3)).astype(np.float32)}
    inputs["x"][1, 2:] = -np.abs(inputs["x"][1, 2:])  # rows the mask holds back
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
        sig = v1.saved_model.loader.load(session, ["serve"], str(models["ref_tensor_array_rnn"])).signature_def
        outputs = {key: info.name for key, info in sig["serving_default"].outputs.items()}
        frozen = v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(),
                                                              [name.split(":")[0] for name in outputs.values()])
        expected = session.run(outputs, {sig["serving_default"].inputs["x"].name: inputs["x"]})
    assert not any("_output_shapes" in node.attr for node in frozen.node)
    (tmp_path / "rnn.pb").write_bytes(frozen.SerializeToString())
    names = {key: name.split(":")[0] for key, name in outputs.items()}
    run = convert_without_tf(str(tmp_path / "rnn.pb"), str(tmp_path / "out"), "--output_node_names=" + ",".join(names.values()))
    assert run.returncode == 0, run.stderr
    ops = _histogram(tmp_path / "out")
    assert ops["SelectV2"] == 1 and "Select" not in ops and ops["TensorArrayV3"] == 2
    report = verify_model(tmp_path / "out", {"x": inputs["x"]}, {names[k]: v for k, v in expected.items()},
                          backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL, quiet=True)
    assert report.passed, format_report(report)


def test_a_tf1_signature_writing_variables_is_refused_naming_each_write(tmp_path):
    """Refused in one line naming the feature, every write and ``--loader=tensorflow`` (never a crash, even
    where an import hook blocks TensorFlow, as in this subprocess)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        count = v1.get_variable("count", initializer=np.float32(0), use_resource=False)
        total = v1.get_variable("total", initializer=np.zeros(3, np.float32), use_resource=True)
        y = x * v1.assign_add(count, 1.0, name="bump") + total.assign_sub(tf.reduce_mean(x, 0), name="drain")
        session.run(v1.global_variables_initializer())
        v1.saved_model.simple_save(session, str(tmp_path / "writes"), {"x": x}, {"y": y})
    run = convert_without_tf(str(tmp_path / "writes"), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    first, hint = run.stderr.strip().splitlines()[:2]
    assert "variable write" in first and "AssignAdd (bump)" in first and "AssignSubVariableOp (drain)" in first
    assert "--loader=tensorflow" in hint and not (tmp_path / "out").exists()


def test_control_flow_v2_keeps_a_tf1_graphs_functional_loops(models, tmp_path, tfjs_runtime):
    """``--control_flow_v2`` on a TF1 graph with functional ``While``/``If``: kept as functions in model.json's
    library, as the TF path keeps them (the TF1 reader once lowered them to v1 frames whatever the flag)."""
    from tfjsconv.verify.compare import format_report, verify_model

    source, out = models["ref_functional_control_flow"], tmp_path / "free"
    run = convert_without_tf(str(source), str(out), "--control_flow_v2")
    assert run.returncode == 0, run.stderr
    inputs = _inputs("ref_functional_control_flow")
    expected = tf1_session_outputs(source, ["serve"], "serving_default", inputs)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL, quiet=True)
    assert report.passed, format_report(report)
    ops = _histogram(out)
    assert ops["While"] + ops["StatelessWhile"] == 1 and not {"Merge", "Switch", "Enter"} & ops.keys()
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", control_flow_v2=True)
    assert ops == _histogram(tmp_path / "tf")
    functions = [json.loads((d / "model.json").read_text())["modelTopology"]["library"]["function"] for d in (out, tmp_path / "tf")]
    assert len(functions[0]) == len(functions[1]) == 4
