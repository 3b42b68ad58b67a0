"""tf_keras SavedModel folders (``model.save(dir)``) converted with ``input_format="keras_saved_model"`` and
TensorFlow, Keras and tf_keras poisoned (session 23, H5's bugs 2 and 3).

- Nested models whose inner layers share names (``member_a/dense``, ``member_b/dense``, a top-level ``dense``
  beside them) read each layer's own weights: the checkpoint's variables are assigned to layers by its object
  graph, not by their names (which repeat). Checked against Keras ``model(x)`` in TF.js cpu+wasm at two sizes,
  with outputs that tell the members apart (a swap of their weights changes them).
- A model the lowering does not cover is refused naming every uncovered layer, as its ``.h5`` twin is, with the
  --loader=tensorflow hint (it was "loading this file with Keras needs tf_keras"); the message says how the folder
  was read (keras_metadata.pb and the checkpoint, not h5py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from keras_models import randomize  # noqa: E402
from keras_two_sizes import keras_outputs  # noqa: E402
from test_keras_lowering import POISONED, _verify  # noqa: E402
from test_keras_lowering_structure import SAVED_MODEL_POISONED  # noqa: E402

#: The ``tfjsconv convert`` command with TensorFlow, Keras and tf_keras poisoned.
CLI_POISONED = POISONED.split("import tfjsconv")[0] + "from tfjsconv.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _tf_keras():
    return pytest.importorskip("tf_keras")


# -- models ------------------------------------------------------------------------------------------
def functional_members(k):
    """Two functional members with the same layer names, a top-level ``dense`` after them, and outputs that change
    when the members' weights are swapped (their difference; their concatenation through ``dense``)."""
    L = k.layers

    def member(tag: str, act: str):
        i = k.Input((6,), name=f"in_{tag}")
        h = L.Dense(5, activation=act, name="dense")(i)
        return k.Model(i, L.Dense(3, name="head")(h), name=f"member_{tag}")
    x = k.Input((6,), name="x")
    a, b = member("a", "relu")(x), member("b", "tanh")(x)
    both = L.Dense(4, name="dense")(L.Concatenate(name="cat")([a, b]))
    return k.Model(x, [both, L.Subtract(name="diff")([a, b])])


def sequential_members(k):
    """A teacher and a student (Sequential) of the same layer names, Conv1D, BatchNormalization (non-trainable
    statistics after the trainable weights) and Dense, each an output, over sequences of any length."""
    L = k.layers

    def member(name: str, filters: int):
        return k.Sequential([k.Input((None, 3)), L.Conv1D(filters, 3, padding="same", name="conv"),
                             L.BatchNormalization(name="bn"), L.GlobalAveragePooling1D(name="gap"),
                             L.Dense(2, name="fc")], name=name)
    x = k.Input((None, 3), name="seq")
    return k.Model(x, [member("teacher", 4)(x), member("student", 4)(x)])


#: name: (builder, input shapes, whether Keras's outputs show the members differ: read with each other's weights,
#: the converted model's outputs would be off)
MODELS = {"functional_members": (functional_members, [(2, 6), (3, 6)], lambda outs: np.abs(outs[1]).max() > 0.1),
          "sequential_members": (sequential_members, [(2, 5, 3), (3, 8, 3)],
                                 lambda outs: np.abs(outs[0] - outs[1]).max() > 0.1)}


def _convert_poisoned(folder: Path, out: Path) -> None:
    """Lower ``folder`` with TensorFlow, Keras and tf_keras poisoned: from the metadata, nothing loaded."""
    from tfjsconv.plugins.keras.keras_saved_model import SAVED_MODEL_LOWERED

    proc = subprocess.run([sys.executable, "-c", SAVED_MODEL_POISONED, str(folder), str(out)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [str([SAVED_MODEL_LOWERED]), "LOADED:"], proc.stdout


@pytest.mark.node
@pytest.mark.parametrize("name", sorted(MODELS))
def test_nested_models_sharing_layer_names_read_their_own_weights(tmp_path, tfjs_runtime, name):
    k = _tf_keras()
    build, shapes, members_differ = MODELS[name]
    model = build(k)
    randomize(model, 23)
    rng = np.random.default_rng(24)
    runs = []
    for shape in shapes:
        inputs = {model.input_names[0]: rng.standard_normal(shape).astype("float32")}
        runs.append((inputs, keras_outputs(model, inputs)))
    assert all(members_differ(outputs) for _, outputs in runs)
    model.save(tmp_path / "sm", save_format="tf")
    _convert_poisoned(tmp_path / "sm", tmp_path / "out")
    assert list(json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["outputs"]) == \
        list(model.output_names)
    for inputs, outputs in runs:
        _verify(tmp_path / "out", inputs, outputs)


def training_and_batched_gather(k):
    """Two layers the lowering does not cover, on two branches (past a gap the walk cannot judge the layers that
    read its output): Dropout(0.5) called with training=True, a gather with ``batch_dims=1`` over floats (a
    BatchNormalization called with training=True is lowered since session 24)."""
    import tensorflow as tf

    L = k.layers
    table, ids = k.Input((5, 4), name="table"), k.Input((3,), dtype="int32", name="ids")
    rows = L.Dense(4, name="proj")(table)
    return k.Model([table, ids], [L.Dropout(0.5, name="drop_train")(rows, training=True),
                                  L.Dense(2, name="out")(tf.gather(rows, ids, batch_dims=1))])


def _refused(path: Path, *flags: str) -> str:
    """The CLI's refusal of ``path`` (TensorFlow poisoned): exit 2, nothing written, the hint to the tracer; the
    message after the path, on one line."""
    proc = subprocess.run([sys.executable, "-c", CLI_POISONED, "convert", str(path), f"{path}.out",
                           "--output_format=tfjs_graph_model", *flags], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert not Path(f"{path}.out").exists()
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "--loader=tensorflow" in proc.stderr, proc.stderr
    message = " ".join(proc.stderr.split())
    return message[message.index(str(path)) + len(str(path)):]


def test_a_lowering_gap_is_refused_by_name_without_tensorflow_as_the_h5_file_is(tmp_path):
    k = _tf_keras()
    model = training_and_batched_gather(k)
    model.save(tmp_path / "sm", save_format="tf")
    model.save(tmp_path / "model.h5")
    from_folder = _refused(tmp_path / "sm", "--input_format=keras_saved_model")
    assert "needs tf_keras" not in from_folder
    assert "'drop_train' (Dropout) called with training=True" in from_folder, from_folder
    assert "batch_dims=1" in from_folder and "2 layers" in from_folder, from_folder
    assert "pip install tensorflow tf_keras" in from_folder, from_folder
    # the same gaps and hint; only how the source was read differs (session 24: it said "h5py" for folders too)
    from tfjsconv.plugins.keras.frontends import H5PY_READER, SAVED_MODEL_READER

    assert f"({SAVED_MODEL_READER})" in from_folder, from_folder
    assert from_folder.replace(SAVED_MODEL_READER, H5PY_READER) == _refused(tmp_path / "model.h5")


def test_one_name_twice_inside_a_nested_model_is_refused_by_name_not_as_a_corrupt_file(tmp_path):
    """``mid`` holds a ``dense`` and a nested ``core`` with its own ``dense`` (tf_keras cannot write this as ``.h5``):
    the variables of one nested model are told apart by name, so the walk refuses the layer by name (a lowering gap,
    with the tracer hint), never reading one layer's weights for another."""
    k = _tf_keras()
    L = k.layers
    core_in, mid_in, x = k.Input((4,), name="core_in"), k.Input((4,), name="mid_in"), k.Input((4,), name="x")
    core = k.Model(core_in, L.Dense(3, name="dense")(core_in), name="core")
    mid = k.Model(mid_in, L.Dense(2, name="dense")(core(mid_in)), name="mid")
    k.Model(x, mid(L.Dense(4, name="dense")(x))).save(tmp_path / "sm", save_format="tf")
    message = _refused(tmp_path / "sm", "--input_format=keras_saved_model")
    assert "does not cover 1 layer: 'mid/core/dense'" in message and "several layers of one name" in message, message
