"""A loop whose body reads a value computed after an earlier loop, on the TF-free SavedModel path (session 23).

Two stacked masked RNNs in a tf_keras SavedModel folder converted (exit 0) to a model TF.js could not run:
"Cannot compute the outputs". The second loop starts from constants (an empty TensorList, a zero counter and
state), while its body reads the list made from the first loop's output, loop-invariant, so read from outside
the frame (``bypass_constant_enters``). TF.js runs a node in the frame of its last input: the loop ran before
that list existed and its body reader never ran. ``lower_control_flow`` now makes the loop's Enters wait for
every non-constant invariant value. Converted with TensorFlow, Keras and tf_keras poisoned; run in TF.js
(cpu, wasm) against Keras ``model(x)`` and ``tf.function`` at two input sizes.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")

from test_savedmodel_tf_free import convert_without_tf  # noqa: E402

pytestmark = pytest.mark.node

RTOL, ATOL = 1e-5, 1e-6
IDS = [np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]], np.int32),
       np.array([[3, 1, 0, 0], [0, 0, 0, 0], [11, 10, 9, 8]], np.int32)]
X = [np.random.default_rng(1).normal(size=(2, 3)).astype(np.float32),
     np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)]
X = X + [-np.abs(X[0]), np.abs(X[1])]  # both sides of the tf.cond


def _stacked_simple_rnn(K):
    """SimpleRNN(return_state) over SimpleRNN(return_sequences) over a masking Embedding (H6's m6 recipe)."""
    ids = K.Input((None,), dtype="int32", name="in0")
    seq = K.layers.SimpleRNN(3, return_sequences=True)(K.layers.Embedding(12, 4, mask_zero=True)(ids))
    return K.Model(ids, K.layers.SimpleRNN(3, return_state=True)(seq))


def _stacked_lstm_dropouts(K):
    """LSTM over LSTM(return_sequences) with (inference-time inert) dropouts, masked (H6's m5 recipe)."""
    ids = K.Input((None,), dtype="int32", name="in0")
    seq = K.layers.LSTM(4, return_sequences=True, dropout=0.2, recurrent_dropout=0.2)(
        K.layers.Embedding(12, 4, mask_zero=True)(ids))
    return K.Model(ids, K.layers.LSTM(3, dropout=0.3, recurrent_dropout=0.3)(seq))


KERAS_MODELS = {"stacked_simple_rnn": _stacked_simple_rnn, "stacked_lstm_dropouts": _stacked_lstm_dropouts}


def _two_loops_module(path: Path) -> Path:
    """A tf.function: loop 1 over the batch rows; loop 2 starts from constants and reads, unchanged in its
    body, a sum of loop 1's result (a captured value: a loop-invariant loop variable)."""
    import tensorflow as tf

    class TwoLoops(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.random.default_rng(3).normal(size=(3, 3)).astype(np.float32) * 0.5)

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            n = tf.shape(x)[0]
            _, a = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, tf.tanh(tf.matmul(a, self.w) + 0.1)),
                                 [tf.constant(0), x])
            s = tf.reduce_sum(a, axis=0)
            _, acc = tf.while_loop(lambda j, acc: j < 3, lambda j, acc: (j + 1, acc * 0.5 + s),
                                   [tf.constant(0), tf.zeros([3])])
            # a loop in a tf.cond branch: ``s`` reaches it through the branch's Switch
            branch = tf.cond(tf.reduce_sum(x) > 0.0,
                             lambda: tf.while_loop(lambda j, b: j < 2, lambda j, b: (j + 1, b - s),
                                                   [tf.constant(0), tf.ones([3])])[1],
                             lambda: s * 2.0)
            return {"acc": acc, "a": a, "branch": branch}

    module = TwoLoops()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


@pytest.fixture(scope="module")
def keras_folders(tmp_path_factory):
    """name -> (SavedModel folder, Keras model)."""
    root = tmp_path_factory.mktemp("tf_free_loops_s23")
    out = {}
    for name, build in KERAS_MODELS.items():
        tf_keras.utils.set_random_seed(3)
        model = build(tf_keras)
        model.save(root / name)
        out[name] = (root / name, model)
    return out


def _converted(source: Path, out: Path) -> dict:
    run = convert_without_tf(str(source), str(out))
    assert run.returncode == 0, run.stderr
    return json.loads((out / "model.json").read_text())


def _keras_by_key(folder: Path, model, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Keras ``model(ids)`` keyed by the ``serving_default`` output names (each key matched to the Keras
    output its signature value equals)."""
    import tensorflow as tf

    want = model(ids, training=False)
    want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
    served = tf.saved_model.load(str(folder)).signatures["serving_default"](in0=tf.constant(ids))
    keyed = {}
    for key, value in served.items():
        match = [w for w in want if w.shape == value.shape and np.allclose(w, value.numpy(), rtol=0, atol=1e-6)]
        assert match, key
        keyed[key] = match[0]
    assert len(keyed) == len(want)
    return keyed


def _verify(out: Path, inputs: dict, expected: dict) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL, quiet=True)
    assert report.passed, format_report(report)
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}


@pytest.mark.parametrize("name", sorted(KERAS_MODELS))
def test_stacked_masked_rnns_run_and_match_keras(name, keras_folders, tmp_path, tfjs_runtime):
    folder, model = keras_folders[name]
    _converted(folder, tmp_path / "web")
    for ids in IDS:
        _verify(tmp_path / "web", {"in0": ids}, _keras_by_key(folder, model, ids))


def test_second_loop_reading_the_first_loops_result(tmp_path, tfjs_runtime):
    """The minimal graph: the second loop's body reads ``s`` (after loop 1's Exit) from outside its frame; its
    Enters wait for ``s``'s producer, so TF.js starts loop 2 once ``s`` exists. A loop in a ``tf.cond`` branch
    reads ``s`` through the branch's ``Switch``: its Enters wait for an ``Identity`` of it (``^switch`` would be
    read as the Switch's output 0, dead when the branch is taken). Both sides of the cond run."""
    import tensorflow as tf

    source = _two_loops_module(tmp_path / "sm")
    doc = _converted(source, tmp_path / "web")
    fn = tf.saved_model.load(str(source)).signatures["serving_default"]
    for x in X:
        expected = {k: v.numpy() for k, v in fn(x=tf.constant(x)).items()}
        _verify(tmp_path / "web", {"x": x}, expected)
    nodes = {n["name"]: n for n in doc["modelTopology"]["node"]}
    gated = [n for n in nodes.values() if n["op"] == "Enter" and any(
        i.startswith("^") and nodes[i[1:]]["op"] not in ("Const", "Placeholder", "Identity") for i in n["input"])]
    assert gated, "the second loop's Enters should wait for the value its body reads from outside"
