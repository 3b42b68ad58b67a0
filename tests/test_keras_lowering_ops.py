"""Op layers lowered with h5py: tf_keras ``TFOpLambda``/``SlicingOpLambda`` (TF functions called on Keras
tensors) and Keras 3 operations (``keras.ops.*`` on symbolic tensors), translated from the recorded function
name and arguments, never executed.

As in ``test_keras_lowering.py``: small real models with random weights, saved by Keras, converted through
the lowering and run in real TF.js (cpu and wasm) against Keras's ``model(x, training=False)``. MobileNetV3
(tf_keras, hard-swish as op layers) is built both ways (``minimalistic``). Unknown functions and arguments
are gaps named by function.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfjsconv

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import LOWERED, POISONED, _verify  # noqa: E402


def _tf():
    pytest.importorskip("tf_keras")
    return pytest.importorskip("tensorflow")


def tf_ops_model():
    """Many TF functions on Keras tensors (tf_keras records each as a TFOpLambda / SlicingOpLambda)."""
    tf = _tf()
    import tf_keras as k

    L = k.layers
    inp = k.Input((4, 6), name="x")
    other = k.Input((4, 6), name="other")
    h = L.Dense(6, name="dense")(inp)
    a = tf.nn.relu6(tf.math.add(h, 1.5) * (1.0 / 6.0)) - other / 2.0
    b = tf.math.maximum(tf.math.minimum(a, other), -0.5) + tf.math.square(h) - tf.math.abs(other)
    c = tf.concat([a, b], axis=-1)
    d = tf.reshape(c, (-1, 48))
    e = tf.transpose(tf.stack([a, b], axis=1), perm=[0, 2, 1, 3])
    parts = [
        tf.math.reduce_mean(c, axis=[1], keepdims=True)[:, 0, :],
        tf.math.reduce_max(e, axis=-1)[:, :, 1],
        tf.math.reduce_sum(b, axis=1) + tf.math.reduce_min(a, axis=1),
        tf.math.reduce_prod(tf.clip_by_value(b, 0.5, 1.5), axis=2),
        d[:, ::-3],
        c[:, ::-1, tf.newaxis, ..., 1:9:2][:, -2, 0, :],
        tf.squeeze(tf.expand_dims(a, 1), axis=[1])[..., -1],
        tf.nn.sigmoid(a[:, 1]) * tf.math.tanh(b[:, 2]) + tf.nn.silu(a[:, 3]),
        tf.nn.gelu(b[:, 0]) + tf.nn.elu(a[:, 0]) + tf.nn.leaky_relu(b[:, 1], alpha=0.1),
        tf.nn.softmax(tf.math.exp(-tf.math.abs(a[:, 2])), axis=-1) + tf.math.sqrt(tf.math.abs(b[:, 3]) + 1.0),
        tf.reshape(tf.linalg.matmul(a, b, transpose_b=True), (-1, 16)),
        tf.cast(tf.cast(b * 3.0, tf.int32), tf.float32)[:, 0],
        tf.cast(tf.math.greater(a[:, 0], b[:, 0]), tf.float32) + tf.math.pow(tf.math.abs(a[:, 1]), 1.5),
    ]
    img = tf.expand_dims(c, -1)
    up = tf.image.resize(img, (6, 20), method="bilinear")
    near = tf.image.resize(img, (7, 9), method="nearest")
    padded = tf.pad(c, [[0, 0], [1, 2], [0, 1]], constant_values=0.5)
    shuffled = tf.nn.depth_to_space(tf.reshape(c, (-1, 2, 2, 12)), 2)
    pooled = [tf.reshape(up, (-1, 120)), tf.reshape(near, (-1, 63)), tf.tile(parts[0], [1, 2]),
              tf.reshape(padded, (-1, 91)), tf.reshape(shuffled, (-1, 48)), tf.pad(a[:, 0], [[0, 0], [2, 0]])]
    return k.Model([inp, other], [tf.concat(parts, axis=1), tf.concat(pooled, axis=1)])


def keras3_ops_model():
    """``keras.ops`` on symbolic tensors: Keras 3 records each call as an operation node."""
    from keras import ops

    L = keras.layers
    inp = keras.Input((4, 6), name="x")
    other = keras.Input((4, 6), name="other")
    h = L.Dense(6, name="dense")(inp)
    a = ops.relu6(ops.add(h, 1.5)) - other / 2.0
    b = ops.maximum(ops.minimum(a, other), -0.5) + ops.square(h) - ops.abs(other)
    c = ops.concatenate([a, b], axis=-1)
    e = ops.transpose(ops.stack([a, b], axis=1), (0, 2, 1, 3))
    parts = [
        ops.mean(c, axis=[1], keepdims=True)[:, 0, :],
        ops.max(e, axis=-1)[:, :, 1],
        ops.sum(b, axis=1) + ops.min(a, axis=1),
        ops.prod(ops.clip(b, 0.5, 1.5), axis=2),
        ops.reshape(c, (-1, 48))[:, ::-3],
        c[:, ::-1, None, ..., 1:9:2][:, -2, 0, :],
        ops.squeeze(ops.expand_dims(a, 1), axis=1)[..., -1],
        ops.sigmoid(a[:, 1]) * ops.tanh(b[:, 2]) + ops.silu(a[:, 3]) + ops.hard_silu(b[:, 3]),
        ops.gelu(b[:, 0]) + ops.elu(a[:, 0]) + ops.leaky_relu(b[:, 1], negative_slope=0.1),
        ops.softmax(ops.exp(-ops.abs(a[:, 2]))) + ops.sqrt(ops.abs(b[:, 3]) + 1.0),
        ops.reshape(ops.matmul(a, ops.transpose(b, (0, 2, 1))), (-1, 16)),
        ops.cast(ops.cast(b * 3.0, "int32"), "float32")[:, 0],
        ops.cast(ops.greater(a[:, 0], b[:, 0]), "float32") + ops.power(ops.abs(a[:, 1]), 1.5),
    ]
    img = ops.expand_dims(c, -1)
    up = ops.image.resize(img, (6, 20), interpolation="bilinear")
    near = ops.image.resize(img, (7, 9), interpolation="nearest")
    padded = ops.pad(c, [[0, 0], [1, 2], [0, 1]], constant_values=0.5)
    pooled = [ops.reshape(up, (-1, 120)), ops.reshape(near, (-1, 63)), ops.tile(parts[0], (1, 2)),
              ops.reshape(padded, (-1, 91)), ops.pad(a[:, 0], [[0, 0], [2, 0]]), ops.elu(a[:, 1], alpha=0.5)]
    return keras.Model([inp, other], [ops.concatenate(parts, axis=1), ops.concatenate(pooled, axis=1)])


def mobilenet_v3(minimalistic: bool):
    _tf()
    import tf_keras as k

    return k.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, minimalistic=minimalistic,
                                           classes=7, classifier_activation=None, dropout_rate=0.0)


MODELS = {"tf_ops": (tf_ops_model, ".h5"), "keras3_ops": (keras3_ops_model, ".keras"),
          "keras3_ops_h5": (keras3_ops_model, ".h5"),
          "mobilenet_v3": (lambda: mobilenet_v3(False), ".h5"),
          "mobilenet_v3_minimalistic": (lambda: mobilenet_v3(True), ".keras")}


def _save(case: str, folder: Path, seed: int = 5):
    build, suffix = MODELS[case]
    model = build()
    if not case.startswith("mobilenet"):  # deep nets keep their initial weights (random, well scaled)
        randomize(model, seed)
    rng = np.random.default_rng(seed)
    inputs = {t.name.split(":")[0]: rng.standard_normal((2, *tuple(t.shape)[1:])).astype("float32")
              for t in model.inputs}
    if case.startswith("mobilenet"):
        inputs = {k: (v * 50 + 128).astype("float32") for k, v in inputs.items()}
    return save_with_outputs(model, inputs, folder / f"{case}{suffix}")


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_op_layers_lower_and_match_keras(tmp_path, tfjs_runtime, case):
    path, inputs, outputs = _save(case, tmp_path)
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details[-1] == LOWERED, result.details  # after warnings (a computed float cast to int32 is named)
    _verify(tmp_path / "out", inputs, outputs)


def test_op_layer_files_convert_without_tensorflow_or_keras(tmp_path):
    paths = [_save(case, tmp_path)[0] for case in ("tf_ops", "keras3_ops")]
    out = subprocess.run([sys.executable, "-c", POISONED, *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count(LOWERED) == 2, out.stdout
    assert out.stdout.rstrip().endswith("LOADED:"), out.stdout


def test_unknown_functions_and_arguments_are_gaps_named_by_function():
    from tfjsconv.plugins.keras.lowering import layer_gaps

    tf = _tf()
    import tf_keras as k

    inp = k.Input((4, 6), name="x")  # functions TF.js has no kernel for (lgamma, a bitwise not)
    y = tf.math.lgamma(inp)
    z = tf.bitwise.invert(tf.cast(inp, tf.int32))
    config = json.loads(k.Model(inp, [y, z]).to_json())
    assert layer_gaps(config) == ["'tf.math.lgamma' (TFOpLambda: function 'math.lgamma')",
                                  "'tf.bitwise.invert' (TFOpLambda: function 'bitwise.invert')"]

    from keras import ops

    inp3 = keras.Input((4, 6), name="x")
    config3 = json.loads(keras.Model(inp3, ops.bitwise_not(ops.erfinv(inp3) > 0)).to_json())
    gaps3 = layer_gaps(config3)  # Keras 3 numbers a name taken earlier in the process: 'erfinv_1'
    assert len(gaps3) == 2 and re.fullmatch(r"'erfinv(_\d+)?' \(keras\.ops\.Erfinv\)", gaps3[0]) and \
        re.fullmatch(r"'bitwise_not(_\d+)?' \(keras\.ops\.BitwiseNot\)", gaps3[1]), gaps3


def test_tensor_valued_arguments_are_refused_by_name(tmp_path):
    """``tf.roll(x, 1, axis)`` with ``axis`` known only at run time (shape arithmetic): the lowering refuses (a shape
    built from ``tf.shape`` lowers: tests/test_keras_lowering_s15_op_gaps.py; an axis the graph fixes,
    ``tf.rank(x) - 1``: tests/test_keras_lowering_k24_op_args.py; a run-time scalar axis of ``expand_dims``:
    tests/test_keras_lowering_k28_op_args.py; a run-time transpose perm, this test's example until session 29:
    tests/test_keras_lowering_run_time_args_s29.py)."""
    tf = _tf()
    import tf_keras as k

    inp = k.Input((None, 6), name="x")
    k.Model(inp, tf.roll(inp, 1, axis=tf.shape(inp)[1] % 2 + 1)).save(tmp_path / "dyn.h5")
    code = POISONED.split("for path")[0] + "tfjsconv.convert(sys.argv[1], sys.argv[1] + '.out', " \
                                            "output_format='tfjs_graph_model')\n"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "dyn.h5")], capture_output=True, text=True)
    assert out.returncode != 0
    assert re.search(r"'tf\.roll(_\d+)?' \(roll\): argument 'axis' is a "
                     r"tensor whose value is known only at run time", out.stderr), out.stderr[-1500:]


# -- issue 16 item 3: the lowering as the only graph path (frontends.LOWERING_ONLY) ----------------------
def _uncovered_model(tmp_path: Path) -> Path:
    """Two gaps: calls of a TF function the lowering does not translate (TF.js runs it, so the tracer converts it)."""
    tf = _tf()
    import tf_keras as k

    inp = k.Input((6, 3), name="seq")
    x = tf.compat.v1.clip_by_average_norm(k.layers.Dense(3, name="dense")(inp), 0.5)
    # a second call of it (stateless_random_crop, the second gap until session 20, lowers)
    again = tf.compat.v1.clip_by_average_norm(k.layers.Reshape((6, 3), name="flat")(x), 0.25)
    model = k.Model(inp, [x, again])
    randomize(model, 1)
    model.save(tmp_path / "uncovered.h5")
    return tmp_path / "uncovered.h5"


def test_lowering_only_refuses_every_gap_in_one_line(tmp_path, monkeypatch):
    from tfjsconv.errors import UsageError
    from tfjsconv.plugins.keras import frontends

    path = _uncovered_model(tmp_path)
    monkeypatch.setattr(frontends, "LOWERING_ONLY", True)
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    message = str(err.value)
    assert err.value.exit_code == 2
    assert re.search(r"does not cover 2 layers: 'tf\.compat\.v1\.clip_by_average_norm(_\d+)?' \(TFOpLambda: "
                     r"function 'compat\.v1\.clip_by_average_norm'\), 'tf\.compat\.v1\.clip_by_average_norm_1' "
                     r"\(TFOpLambda: function 'compat\.v1\.clip_by_average_norm'\)", message), message
    assert "\n" not in message.split("hint")[0].strip()
    assert "--loader=tensorflow" in err.value.hint
    assert not (tmp_path / "out").exists()
    result = tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    assert result.details == ["keras: loaded with Keras and traced through TensorFlow: --loader=tensorflow"]


def test_lowering_only_without_tensorflow_says_what_to_install(tmp_path):
    path = _uncovered_model(tmp_path)
    code = POISONED.split("for path")[0] + (
        "from tfjsconv.plugins.keras import frontends\nfrontends.LOWERING_ONLY = True\n"
        "tfjsconv.convert(sys.argv[1], sys.argv[1] + '.out', output_format='tfjs_graph_model')\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "does not cover 2 layers: " in out.stderr, out.stderr[-1500:]
    assert "pip install tensorflow tf_keras, then use --loader=tensorflow" in out.stderr, out.stderr[-1500:]


def test_lowering_only_still_lowers_covered_models(tmp_path, monkeypatch):
    from tfjsconv.plugins.keras import frontends

    monkeypatch.setattr(frontends, "LOWERING_ONLY", True)
    path = _save("keras3_ops", tmp_path)[0]
    assert tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model").details[-1] == LOWERED


def test_layers_model_refusal_hint_points_to_a_path_without_tensorflow(tmp_path):
    """A layers model TF.js cannot express (GRU reset_after=True, MobileNetV3's op layers) is refused with the
    graph-model hint, and that path converts the file with TensorFlow and Keras poisoned."""
    from tfjsconv.errors import TfjsconvError

    paths = [_save("mobilenet_v3_minimalistic", tmp_path)[0]]
    L = keras.layers
    inp = keras.Input((5, 3), name="seq")
    gru = keras.Model(inp, L.GRU(4, reset_after=True, name="gru")(inp))
    randomize(gru, 2)
    gru.save(tmp_path / "gru.h5")
    paths.append(tmp_path / "gru.h5")
    for path in paths:
        with pytest.raises(TfjsconvError) as err:
            tfjsconv.convert(path, tmp_path / f"{path.stem}_layers")
        assert "use --output_format=tfjs_graph_model" in str(err.value.hint), err.value
        assert "no TensorFlow or Keras needed" in str(err.value.hint)
    out = subprocess.run([sys.executable, "-c", POISONED, *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count(LOWERED) == 2, out.stdout


def test_docs_table_of_lowered_layers_is_current():
    """docs/keras.md's generated table is current (rerun scripts/generate_keras_support.py after adding a lowering)."""
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "scripts" / "generate_keras_support.py"
    spec = importlib.util.spec_from_file_location("generate_keras_support", script)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0, "run scripts/generate_keras_support.py"


def _edit_op_nodes(path: Path, edit) -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        edit({layer["config"]["name"]: layer for layer in config["config"]["layers"]})
        f.attrs["model_config"] = json.dumps(config)


@pytest.mark.parametrize("edit,needle", [
    (lambda layers: layers["sum"]["inbound_nodes"][0].__setitem__(3, {"y": ["nope", 0, 0]}),
     "layer 'sum' refers to layer 'nope', which the model does not have"),
    (lambda layers: layers["sum"]["inbound_nodes"][0].__setitem__(3, {"y": ["head", 0, 0]}),
     "form a cycle"),
    (lambda layers: layers["sum"].__setitem__("inbound_nodes", [["x", 0, "zero", {}]]),
     "layer 'sum' has an unreadable inbound node"),
], ids=["dangling_kwarg_tensor", "cycle_through_kwargs", "unreadable_call"])
def test_hostile_op_layer_calls_are_refused(tmp_path, edit, needle):
    """Tensors in an op layer's recorded arguments are checked like any inbound reference."""
    from tfjsconv.errors import InputError

    _tf()
    import tf_keras as k

    inp = k.Input((3,), name="x")
    scaled = k.layers.Dense(3, name="scaled")(inp)
    out = k.layers.Dense(2, name="head")(scaled + inp)
    model = k.Model(inp, out)
    config = json.loads(model.to_json())
    op_name = next(layer["config"]["name"] for layer in config["config"]["layers"]
                   if layer["class_name"] == "TFOpLambda")
    model.save(tmp_path / "ops.h5")

    def rename_then(layers):
        layers[op_name]["config"]["name"] = "sum"
        layers[op_name]["name"] = "sum"
        layers["head"]["inbound_nodes"] = [[["sum", 0, 0, {}]]]
        edit({**layers, "sum": layers[op_name]})
    _edit_op_nodes(tmp_path / "ops.h5", rename_then)
    with pytest.raises(InputError) as err:
        tfjsconv.convert(tmp_path / "ops.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert needle in str(err.value), err.value
