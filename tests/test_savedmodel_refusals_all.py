"""A SavedModel refused for several features names all of them in one error (exit 2), not the first met.

Each model reads a table the TF-free reader cannot bind (a ``MutableHashTable``: TF.js holds only static
tables) and writes a variable (TF.js has none to write): a TF2 ``tf.Module`` and a TF1 graph saved by
``simple_save``. The conversions run in a subprocess where importing TensorFlow fails.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from test_savedmodel_tf_free import convert_without_tf  # noqa: E402


def tf2_table_and_write(path: Path) -> Path:
    import tensorflow as tf

    class TableAndCounter(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1)
            self.table.insert(tf.constant(["a", "b"]), tf.constant([1, 2], tf.int64))
            self.count = tf.Variable(0.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([None], tf.float32, name="x")])
        def __call__(self, words, x):
            self.count.assign_add(1.0, name="bump")
            return {"ids": self.table.lookup(words), "y": x * self.count}

    module = TableAndCounter()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def tf1_table_and_write(path: Path) -> Path:
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
        words = v1.placeholder(tf.string, [None], name="words")
        x = v1.placeholder(tf.float32, [None], name="x")
        table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1, name="vocab")
        count = v1.get_variable("count", initializer=np.float32(0), use_resource=False)
        y = x * v1.assign_add(count, 1.0, name="bump")
        session.run(v1.global_variables_initializer())
        v1.saved_model.simple_save(session, str(path), {"words": words, "x": x},
                                   {"ids": table.lookup(words), "y": y})
    return path


def _first_lines(run) -> tuple[str, str]:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].strip().startswith("hint:"), run.stderr  # one line, and the way out
    return lines[0], lines[1]


def test_a_tf2_signature_with_an_unbindable_table_and_a_variable_write_names_both(tmp_path):
    run = convert_without_tf(str(tf2_table_and_write(tmp_path / "tf2")), str(tmp_path / "out"))
    first, hint = _first_lines(run)
    assert "2 feature(s)" in first
    assert "hash table (the signature reads a MutableHashTableV2" in first
    assert "variable write (AssignAddVariableOp at " in first and "/bump" in first
    assert "cannot write variables" in hint and "--loader=tensorflow" in hint
    assert not (tmp_path / "out").exists()


def test_a_tf1_signature_running_a_table_op_and_a_variable_write_names_both(tmp_path):
    run = convert_without_tf(str(tf1_table_and_write(tmp_path / "tf1")), str(tmp_path / "out"))
    first, hint = _first_lines(run)
    assert "2 feature(s)" in first
    assert "hash table (the signature runs " in first and "MutableHashTableV2 (vocab" in first
    assert "variable write (the signature runs AssignAdd (bump))" in first
    assert "--loader=tensorflow" in hint


def test_the_tensorflow_loader_names_every_write_before_tensorflow_freezes(tmp_path):
    """TF's freezing failed on the first write in its own words; the TF path now refuses first, like the
    TF-free reader, every write named (the table it can export)."""
    import tfjsconv
    from tfjsconv.plugins.savedmodel.tf_free_control_flow import VariableWriteError

    with pytest.raises(VariableWriteError, match=r"AssignAddVariableOp at \S+/bump") as caught:
        tfjsconv.convert(tf2_table_and_write(tmp_path / "tf2"), tmp_path / "out", loader="tensorflow")
    assert caught.value.exit_code == 2 and "\n" not in caught.value.message
    assert not (tmp_path / "out").exists()


def test_a_frozen_graph_names_every_table_it_holds(tmp_path):
    """A frozen ``.pb`` cannot carry table contents; each table node is named, not the first one."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph:
        words = v1.placeholder(tf.string, [None], name="words")
        ids = []
        for name, keys in (("colours", ["red", "blue"]), ("shapes", ["square", "disc"])):
            table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, [1, 2], tf.string, tf.int32),
                                              -1, name=name)
            ids.append(table.lookup(words))
        tf.add(ids[0], ids[1], name="both")
    (tmp_path / "tables.pb").write_bytes(graph.as_graph_def().SerializeToString())
    run = convert_without_tf(str(tmp_path / "tables.pb"), str(tmp_path / "out"), "--output_node_names=both")
    first, hint = _first_lines(run)
    assert "hash table (the graph uses HashTableV2 (colours" in first and "HashTableV2 (shapes" in first, first
    assert "--loader=tensorflow" in hint
