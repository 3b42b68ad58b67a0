"""``--loader=tensorflow`` on resources it once crashed on, each checked in real TF.js (cpu, wasm) against TF.

- a TF1 SavedModel whose v1 loop reads and writes ``TensorArrayV3``s (as ``tf.compat.v1.nn.dynamic_rnn``),
  converted in a process where v1 control flow is on: TensorFlow's loader (``lift_to_graph``) leaves an
  unread ``unused_control_flow_input`` Placeholder per patched loop edge, resource ones among them, which
  the table binding took for unbound tables ("resource input ... is not bound to any table or variable");
- a hash-table lookup inside ``tf.cond``: the lowered cond hands the table handle through a ``Switch``,
  which the table binding did not follow ("resource input ... is used by Switch"). A lookup inside a
  ``tf.while_loop`` (the handle reaches it with no ``Enter`` left) is checked beside it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from test_tf_free_tf1 import tf1_session_outputs, tf1_tensor_array_rnn  # noqa: E402

pytestmark = pytest.mark.node

RTOL, ATOL = 1e-5, 1e-6


def cond_table_module(path: Path) -> Path:
    """A static string -> int64 table looked up in one branch of a ``tf.cond`` on a scalar input."""
    import tensorflow as tf

    class CondLookup(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(["a", "b", "tf.js"]), tf.constant([10, 20, 30], tf.int64)), -1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([], tf.float32, name="x")])
        def __call__(self, words, x):
            ids = tf.cond(x > 0, lambda: self.table.lookup(words) * 2,
                          lambda: tf.zeros_like(words, tf.int64) - 7)
            return {"ids": ids}

    module = CondLookup()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def loop_table_module(path: Path) -> Path:
    """The same table looked up ``n`` times in a ``tf.while_loop`` body, the results summed."""
    import tensorflow as tf

    class LoopLookup(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(["a", "b", "tf.js"]), tf.constant([10, 20, 30], tf.int64)), -1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([], tf.int32, name="n")])
        def __call__(self, words, n):
            _, total = tf.while_loop(lambda i, acc: i < n, lambda i, acc: (i + 1, acc + self.table.lookup(words)),
                                     [tf.constant(0), tf.zeros_like(words, tf.int64)])
            return {"ids": total}

    module = LoopLookup()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def _ops(out: Path) -> list[str]:
    return [n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]]


def test_a_tf1_tensor_array_rnn_converts_with_tensorflow_while_v1_control_flow_is_on(tmp_path, tfjs_runtime):
    import tensorflow as tf

    from tfjsconv.verify.compare import format_report, verify_model

    source = tf1_tensor_array_rnn(tmp_path / "rnn")
    v1 = tf.compat.v1
    was_v2 = v1.control_flow_v2_enabled()
    v1.disable_control_flow_v2()  # as a script that built TF1 graphs does before converting them
    try:
        tfjsconv.convert(source, tmp_path / "out", loader="tensorflow")
    finally:
        if was_v2:
            v1.enable_control_flow_v2()
    ops = _ops(tmp_path / "out")
    assert "Placeholder" in ops and ops.count("Placeholder") == 1  # x only: no unread leftovers
    assert {"TensorArrayV3", "TensorArrayReadV3", "TensorArrayWriteV3", "TensorArrayGatherV3"} <= set(ops)
    inputs = {"x": np.random.default_rng(4).normal(size=(3, 5, 3)).astype(np.float32)}
    inputs["x"][1, 2:] = -np.abs(inputs["x"][1, 2:])  # rows the Select holds back
    expected = tf1_session_outputs(source, ["serve"], "serving_default", inputs)
    report = verify_model(tmp_path / "out", inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL,
                          quiet=True)
    assert report.passed, format_report(report)


def test_a_table_lookup_inside_tf_cond_converts_with_tensorflow(tmp_path, tfjs_runtime):
    import tensorflow as tf

    from tfjsconv.verify.compare import format_report, verify_model

    source = cond_table_module(tmp_path / "cond_table")
    tfjsconv.convert(source, tmp_path / "out", loader="tensorflow")
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert [n["op"] for n in doc["modelInitializer"]["node"]].count("HashTableV2") == 1
    assert "Switch" in _ops(tmp_path / "out")
    signature = tf.saved_model.load(str(source)).signatures["serving_default"]
    words = np.array(["a", "tf.js", "missing", "", "b"], dtype=object)
    for x in (1.5, -2.0):  # both branches
        inputs = {"words": words, "x": np.float32(x)}
        expected = {k: v.numpy() for k, v in signature(words=tf.constant(words.astype(bytes)),
                                                        x=tf.constant(np.float32(x))).items()}
        assert list(expected["ids"]) == ([20, 60, -2, -2, 40] if x > 0 else [-7] * 5)
        report = verify_model(tmp_path / "out", inputs, expected, backends=("cpu", "wasm"), rtol=0, atol=0,
                              quiet=True)
        assert report.passed, format_report(report)


def test_a_table_lookup_inside_a_while_loop_converts_with_tensorflow(tmp_path, tfjs_runtime):
    import tensorflow as tf

    from tfjsconv.verify.compare import format_report, verify_model

    source = loop_table_module(tmp_path / "loop_table")
    tfjsconv.convert(source, tmp_path / "out", loader="tensorflow")
    assert {"Enter", "LookupTableFindV2"} <= set(_ops(tmp_path / "out"))
    words = np.array(["a", "tf.js", "zz"], dtype=object)
    signature = tf.saved_model.load(str(source)).signatures["serving_default"]
    expected = {k: v.numpy() for k, v in signature(words=tf.constant(words.astype(bytes)), n=tf.constant(3)).items()}
    assert list(expected["ids"]) == [30, 90, -3]
    report = verify_model(tmp_path / "out", {"words": words, "n": np.int32(3)}, expected, backends=("cpu", "wasm"),
                          rtol=0, atol=0, quiet=True)
    assert report.passed, format_report(report)
