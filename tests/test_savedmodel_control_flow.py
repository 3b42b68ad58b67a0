"""Nested v1 loops and TF1 hash tables from SavedModels run in real TF.js (cpu, wasm) like in TF.

Nested ``tf.while_loop``s: every ``Enter`` inside a loop body must run once per iteration of that
body (:mod:`tfjsconv.plugins.savedmodel.frames`); without it TF.js fails with "Cannot read
properties of undefined (reading 'id')". TF1 SavedModels with ``StaticHashTable`` /
``index_table_from_tensor`` and a table-initializing ``main_op``/``legacy_init_op`` are frozen in a
TF1 session (:mod:`tfjsconv.plugins.savedmodel.freeze_v1`). Expected values come from TensorFlow
running the SavedModel's signature.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

import tf_models  # noqa: E402

pytestmark = pytest.mark.node

RTOL, ATOL = 1e-5, 0.0


def nested_loops(path: Path) -> Path:
    """Two- and three-level loops over a variable, an inner bound set by the outer counter, a loop
    variable the body sets to a constant, and an inner loop inside a ``tf.cond`` branch."""
    import tensorflow as tf

    class Nested(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((3, 3), seed=(4, 2)) * 0.5)

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            def two_outer(i, acc):
                def inner(j, a):
                    return j + 1, tf.tanh(tf.matmul(a, self.w) + x * tf.cast(j, tf.float32))
                _, acc = tf.while_loop(lambda j, a: j < 3, inner, [tf.constant(0), acc])
                return i + 1, acc + 1.0

            def three_outer(i, a1):
                def middle(j, a2):
                    def innermost(k, a3):
                        return k + 1, a3 * 0.9 + tf.cast(i + j * k, tf.float32) * 0.1
                    _, a2 = tf.while_loop(lambda k, a: k < 2, innermost, [tf.constant(0), a2])
                    return j + 1, tf.matmul(a2, self.w)
                _, a1 = tf.while_loop(lambda j, a: j < 3, middle, [tf.constant(0), a1])
                return i + 1, tf.tanh(a1 + x)

            def bound_outer(i, acc, count):  # the inner loop runs i times
                def inner(j, a, c):
                    return j + 1, a + x * tf.cast(j + 1, tf.float32), c + 1
                _, acc, count = tf.while_loop(lambda j, a, c: j < i, inner, [tf.constant(0), acc, count])
                return i + 1, acc, count

            _, two = tf.while_loop(lambda i, a: i < 2, two_outer, [tf.constant(0), x])
            _, three = tf.while_loop(lambda i, a: i < 2, three_outer, [tf.constant(0), x])
            n = tf.shape(x)[0] + 2  # a bound only known at run time
            _, bounded, count = tf.while_loop(lambda i, a, c: i < n, bound_outer,
                                              [tf.constant(0), x, tf.constant(0)])
            # a loop variable set to a constant by the body: its NextIteration reads a Const
            _, stepped, _ = tf.while_loop(lambda i, a, b: i < 3, lambda i, a, b: (i + 1, a + b, tf.constant(3.0)),
                                          [tf.constant(0), x, tf.constant(0.5)])
            def cond_outer(i, acc):  # an inner loop in one tf.cond branch, taken every other iteration
                def looped():
                    step = lambda j, a: (j + 1, a * 0.5 + 1.0)  # noqa: E731
                    return tf.while_loop(lambda j, a: j < 3, step, [tf.constant(0), acc])[1]
                return i + 1, tf.cond(i % 2 == 0, looped, lambda: acc - 1.0)

            _, branchy = tf.while_loop(lambda i, a: i < 3, cond_outer, [tf.constant(0), x])
            return {"two": two, "three": three, "bounded": bounded, "count": count, "stepped": stepped,
                    "branchy": branchy}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def tensor_array(self, x):
            """A growing TensorArray created in the outer body, written 3 - i times by the inner loop:
            one list shared by all outer iterations would keep rows of the previous ones."""
            return {"y": tf_models.nested_tensor_array_loops(x)}

    module = Nested()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__,
                                                       "tensor_array": module.tensor_array})
    return path


def tf1_tables(path: Path, *, used: bool, saver: str) -> Path:
    """A tf.compat.v1 graph with three tables (string and int keys, ``index_table_from_tensor``).

    ``saver``: ``builder`` (``main_op`` fills the tables), ``simple_save`` (``legacy_init_op``), or
    ``builder_no_init_op`` (only the graph's ``table_initializer`` collection does).
    """
    import tensorflow as tf
    from tensorflow.python.ops import lookup_ops

    tf1 = tf.compat.v1
    with tf.Graph().as_default(), tf1.Session() as session:
        words = tf1.placeholder(tf.string, [None], name="words")
        ids = tf1.placeholder(tf.int32, [None], name="ids")
        by_word = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(["a", "b", "tf.js"]), tf.constant([1, 2, 3], tf.int64)), default_value=-1)
        by_id = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant([3, 5, 7], tf.int32), tf.constant(["three", "five", "seven"])), default_value="none")
        vocabulary = lookup_ops.index_table_from_tensor(tf.constant(["x", "b", "z"]))
        scale = tf1.get_variable("scale", initializer=tf.constant(2.5))
        if used:
            inputs = {"words": words, "ids": ids}
            outputs = {"id": by_word.lookup(words) * 10, "name": by_id.lookup(ids),
                       "index": vocabulary.lookup(words), "scaled": tf.cast(ids, tf.float32) * scale}
        else:  # the tables exist and are initialized, but no output reads them
            inputs, outputs = {"ids": ids}, {"scaled": tf.cast(ids, tf.float32) * scale}
        session.run(tf1.global_variables_initializer())
        session.run(tf1.tables_initializer())
        if saver == "simple_save":
            tf1.saved_model.simple_save(session, str(path), inputs, outputs,
                                        legacy_init_op=tf1.tables_initializer())
        else:
            builder = tf1.saved_model.Builder(str(path))
            signature = tf1.saved_model.predict_signature_def(inputs=inputs, outputs=outputs)
            init = {"main_op": tf1.tables_initializer()} if saver == "builder" else {}
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature},
                                                 **init)
            builder.save()
    return path


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("control_flow_models")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            path = root / name
            if name == "nested":
                built[name] = nested_loops(path)
            else:
                used, _, saver = name.partition("_")
                built[name] = tf1_tables(path, used=used == "used", saver=saver)
        return built[name]

    return get


def convert_and_verify(source, out, inputs, **flags):
    """Convert, then compare TF.js (cpu, wasm) with TensorFlow running the signature on ``inputs``."""
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    tfjsconv.convert(source, out, **flags)
    options = ConvertOptions.from_kwargs(**flags)
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(source, inputs, options)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
    return expected, json.loads((out / "model.json").read_text())


@pytest.mark.parametrize("v2", [False, True], ids=["v1_lowered", "control_flow_v2"])
def test_nested_while_loops_match_tf(v2, saved_models, tmp_path, tfjs_runtime):
    x = np.random.default_rng(5).normal(size=(2, 3)).astype(np.float32)
    expected, doc = convert_and_verify(saved_models("nested"), tmp_path / "web", {"x": x},
                                       control_flow_v2=v2)
    assert int(expected["count"]) == 0 + 1 + 2 + 3  # the inner loop ran i times in outer iteration i
    nodes = doc["modelTopology"]["node"]
    if v2:
        assert {n["op"] for n in nodes} & {"While", "StatelessWhile"}
        return
    names = {n["name"]: n for n in nodes}
    enters = [n for n in nodes if n["op"] == "Enter"]
    # an Enter inside a loop body waits for that body's pivot, an Identity of a loop Switch's body side
    inner = [n for n in enters if any(i.startswith("^") for i in n["input"])]
    assert len(inner) >= 3
    for enter in inner:
        for pivot in [names[i[1:]] for i in enter["input"] if i.startswith("^")]:
            assert pivot["op"] == "Identity" and names[pivot["input"][0].split(":")[0]]["op"] == "Switch"


def test_tensor_array_in_an_inner_loop(saved_models, tmp_path, tfjs_runtime):
    x = np.random.default_rng(6).normal(size=(3, 3)).astype(np.float32)
    convert_and_verify(saved_models("nested"), tmp_path / "web", {"x": x}, signature_name="tensor_array")


def test_anchoring_keeps_tf_frames(saved_models):
    """The IR: each anchored node sits in the frame of its pivot, as TF placed it (Grappler's lowering: the
    TF-free reader lowers loops itself, tests/test_savedmodel_tf_free_control_flow.py)."""
    from tfjsconv.plugins.savedmodel.frames import loop_frames
    from tfjsconv.plugins.savedmodel.pipeline import graph_from_saved_model_dir

    graph = graph_from_saved_model_dir(saved_models("nested"), ConvertOptions.from_kwargs(loader="tensorflow"))
    frames = loop_frames(graph)  # control edges now: only the anchors (and tf.cond constants' gates)
    gates = [n for n in graph if n.name.endswith("/branch_gate")]
    assert all(n.op == "Identity" and n.inputs[0].producer.op == "Const" for n in gates)
    anchored = [n for n in graph if n.control_inputs and n not in gates]
    assert anchored and {n.op for n in anchored} <= {"Enter", "NextIteration"}
    for node in anchored:
        run_frame = frames[node][:-1] if node.op == "Enter" else frames[node]
        assert len(run_frame) >= 1
        assert all(frames[pivot] == run_frame for pivot in node.control_inputs)
    assert max(len(f) for f in frames.values()) == 3


WORDS = np.array(["a", "b", "tf.js", "x", "z", "missing", ""], dtype=object)
IDS = np.array([3, 4, 5, 7, -1, 0, 7], np.int32)


@pytest.mark.parametrize("name", ["used_builder", "used_simple_save", "used_builder_no_init_op"])
def test_tf1_hash_tables_go_to_the_model_initializer(name, saved_models, tmp_path, tfjs_runtime):
    expected, doc = convert_and_verify(saved_models(name), tmp_path / "web", {"words": WORDS, "ids": IDS})
    # hits and the default value for a missing key, for each table
    assert list(expected["id"]) == [10, 20, 30, -10, -10, -10, -10]
    assert [v.decode() for v in expected["name"]] == ["three", "none", "five", "seven", "none", "none", "seven"]
    assert list(expected["index"]) == [-1, 1, -1, 0, 2, -1, -1]
    init_ops = [n["op"] for n in doc["modelInitializer"]["node"]]
    assert init_ops.count("HashTableV2") == 3 and init_ops.count("LookupTableImportV2") == 3
    resource_ids = {v["resourceId"] for v in doc["signature"]["inputs"].values() if "resourceId" in v}
    assert resource_ids == {v["resourceId"] for v in doc["initializerSignature"]["outputs"].values()}
    assert len(resource_ids) == 3


@pytest.mark.parametrize("name", ["unused_builder", "unused_simple_save"])
def test_tf1_unused_hash_tables_are_dropped(name, saved_models, tmp_path, tfjs_runtime):
    _, doc = convert_and_verify(saved_models(name), tmp_path / "web", {"ids": IDS})
    assert "modelInitializer" not in doc
    assert list(doc["signature"]["inputs"]) == ["ids"]
    assert not {n["op"] for n in doc["modelTopology"]["node"]} & {"HashTableV2", "LookupTableFindV2"}
