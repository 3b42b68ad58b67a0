"""The last Keras lowering gaps: Softmax on any axis, LayerNormalization(rms_scaling), adaptive pooling, RNN(cell),
GroupQueryAttention, Keras 3's Pipeline.

As in ``test_keras_lowering_attention.py``: small models with random weights, saved by Keras, converted through
the lowering with TensorFlow, Keras and tf_keras poisoned (one subprocess converts every file), then run in real
TF.js (cpu and wasm); expected values are Keras's own ``model(x, training=False)``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
import tfjsconv  # noqa: E402
import tfjsconv.errors  # noqa: E402

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import POISONED, _module, _verify, case_file, saved_and_converted  # noqa: E402


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def softmax_axes(k):
    L = k.layers
    x = k.Input((3, 4, 5), name="x")
    outputs = [L.Softmax(axis=1, name="axis1")(x), L.Softmax(axis=-2, name="axis_minus2")(x),
               L.Softmax(axis=[1, 3], name="axes13")(x), L.Softmax(axis=[-1], name="last_list")(x)]
    return k.Model(x, outputs)


def rms_layer_norm(k):
    L = k.layers
    x = k.Input((4, 6), name="x")
    return k.Model(x, [L.LayerNormalization(rms_scaling=True, epsilon=0.1, name="rms_last")(x),
                       L.LayerNormalization(axis=[1, 2], rms_scaling=True, name="rms_both")(x),
                       L.LayerNormalization(rms_scaling=True, scale=False, center=False, name="rms_bare")(x)])


def adaptive_pooling(k):
    L = k.layers
    seq = k.Input((7, 3), name="seq")
    image = k.Input((5, 6, 2), name="image")
    volume = k.Input((4, 5, 3, 2), name="volume")
    return k.Model([seq, image, volume], [
        L.AdaptiveAveragePooling1D(3, name="avg1d")(seq), L.AdaptiveMaxPooling1D(4, name="max1d")(seq),
        L.AdaptiveMaxPooling1D(9, name="max1d_up")(seq),
        L.AdaptiveAveragePooling2D((3, 4), name="avg2d")(image), L.AdaptiveMaxPooling2D(2, name="max2d")(image),
        L.AdaptiveAveragePooling3D((2, 3, 2), name="avg3d")(volume),
        L.AdaptiveMaxPooling3D((3, 2, 2), name="max3d")(volume),
        L.AdaptiveAveragePooling2D((2, 4), data_format="channels_first", name="avg2d_cf")(image)])


def rnn_cells(k):
    L = k.layers
    seq = k.Input((5, 3), name="seq")
    simple = L.RNN(L.SimpleRNNCell(4, activation="relu"), return_sequences=True, name="simple")(seq)
    lstm, h, c = L.RNN(L.LSTMCell(3), return_state=True, go_backwards=True, name="lstm")(simple)
    gru = L.RNN(L.GRUCell(4, reset_after=False), name="gru")(seq)
    return k.Model(seq, [L.Concatenate(name="last")([lstm, h, c, gru])])


def grouped_query_attention(k):
    L = k.layers
    q = k.Input((4, 6), name="query")
    v = k.Input((5, 6), name="value")
    key = k.Input((5, 6), name="key")
    grouped = L.GroupQueryAttention(3, 4, 2, name="grouped")(q, v)
    single, scores = L.GroupQueryAttention(2, 3, 1, use_bias=False, name="single_kv")(
        q, v, key, return_attention_scores=True)
    per_head = L.GroupQueryAttention(2, 2, 2, name="per_head")(q, q)
    return k.Model([q, v, key], [L.Concatenate(name="out")([grouped, single, per_head]), scores])


def pipelines(k):
    """Keras 3's Pipeline: inner layers with weights (Dense, LayerNormalization, Conv2D, BatchNormalization's moving
    statistics),
    one without (Rescaling), random augmentations (identity at inference), integer ids into an Embedding, and a
    Pipeline called twice."""
    L = k.layers
    x = k.Input((4,), name="x")
    image = k.Input((6, 6, 2), name="image")
    ids = k.Input((5,), dtype="int32", name="ids")
    norm = L.LayerNormalization(name="norm")
    dense_pipe = L.Pipeline([L.Rescaling(2.0, name="double"), norm, L.Dense(3, activation="tanh", name="inner_dense"),
                             L.Rescaling(0.5, offset=1.0, name="halve")], name="dense_pipe")
    image_pipe = L.Pipeline([L.RandomFlip(name="flip"), L.Conv2D(3, 3, padding="same", name="conv"),
                             L.BatchNormalization(name="bn"), L.GlobalAveragePooling2D(name="gap")], name="image_pipe")
    id_pipe = L.Pipeline([L.Embedding(12, 3, name="embed"), L.Flatten(name="flat"), L.Dense(2, name="ids_dense")],
                         name="id_pipe")
    shared = L.Pipeline([L.Dense(4, name="shared_dense"), L.Activation("relu", name="shared_relu")], name="shared")
    return k.Model([x, image, ids], [L.Dense(3, name="after")(dense_pipe(x)), image_pipe(image), id_pipe(ids),
                                     shared(shared(x))])


def glu_activation(k):
    """Keras 3's ``glu`` halves the last axis (Keras's symbolic shapes miss it, so no layer with weights can follow); in a cell of 2 units its
    ``[batch, 1]`` output broadcasts against the ``[batch, 2]`` states, as Keras computes it."""
    L = k.layers
    seq = k.Input((5, 4), name="seq")
    dense = L.Dense(6, activation="glu", name="dense_glu")(seq)
    conv = L.Conv1D(4, 2, activation="glu", name="conv_glu")(seq)
    gru = L.RNN(L.GRUCell(2, activation="glu"), return_sequences=True, name="gru_glu")(seq)
    lstm = L.RNN(L.LSTMCell(2, activation="glu"), name="lstm_glu")(seq)
    gru_layer = L.GRU(2, activation="glu", recurrent_activation="glu", reset_after=False, name="gru_layer_glu")(seq)
    frames = k.Input((3, 4, 4, 2), name="frames")
    clstm = L.ConvLSTM2D(2, 2, activation="glu", name="clstm_glu")(frames)
    return k.Model([seq, frames], [dense, conv, gru, L.Concatenate(name="states")([lstm, gru_layer]), clstm,
                         L.Activation("glu", name="act_glu")(seq),
                         L.TimeDistributed(L.Dense(4, activation="glu"), name="td_glu")(seq)])


def shared_cell(k):
    """One cell object twice in a stack (its weights saved once), plain and walking backwards with its states."""
    L = k.layers
    seq = k.Input((5, 3), name="seq")
    gru = L.GRUCell(3, name="shared_gru")
    lstm = L.LSTMCell(3, name="shared_lstm")
    simple = L.SimpleRNNCell(3, name="first")
    stacked = L.RNN([gru, simple, gru], return_sequences=True, name="gru_twice")(seq)
    out, *states = L.RNN([lstm, lstm], return_state=True, go_backwards=True, name="lstm_twice")(seq)
    flat = [t for s in states for t in (s if isinstance(s, (list, tuple)) else [s])]  # each cell's [h, c]
    return k.Model(seq, [stacked, L.Concatenate(name="last")([out, *flat])])


FAMILIES = {"glu": glu_activation, "shared_cell": shared_cell, "softmax_axes": softmax_axes, "rms_layer_norm": rms_layer_norm, "adaptive_pooling": adaptive_pooling,
            "rnn_cells": rnn_cells, "grouped_query_attention": grouped_query_attention, "pipelines": pipelines}
CASES = [(family, "keras3.keras") for family in FAMILIES] + [("pipelines", "keras3.h5"),
    ("softmax_axes", "tf_keras.h5"), ("rnn_cells", "tf_keras.h5"), ("rms_layer_norm", "keras3.h5"),
    ("grouped_query_attention", "keras3.h5"), ("glu", "keras3.h5"), ("shared_cell", "keras3.h5"),
    ("shared_cell", "tf_keras.h5")]


def _save(family: str, flavor: str, folder: Path, seed: int = 11):
    model = FAMILIES[family](_module(flavor))
    randomize(model, seed)
    rng = np.random.default_rng(seed + 1)
    inputs = {t.name.split(":")[0]: (3 * rng.standard_normal((2, *tuple(t.shape)[1:]))).astype("float32")
              if "int" not in str(t.dtype) else rng.integers(0, 12, (2, *tuple(t.shape)[1:])).astype("int32")
              for t in model.inputs}
    return save_with_outputs(model, inputs, case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "gaps", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_gap_lowers_without_tensorflow_and_matches_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_softmax_off_the_last_axis_never_emits_a_non_last_axis_softmax(converted):
    """TF.js's Softmax is last-axis only: every Softmax node must see its axis last (or be a composition)."""
    path = converted[("softmax_axes", "keras3.keras")][0]
    nodes = json.loads((Path(f"{path}.out") / "model.json").read_text())["modelTopology"]["node"]
    ops = [n["op"] for n in nodes]
    assert ops.count("Softmax") == 3 and "Transpose" in ops and "Exp" in ops, ops


def test_what_the_lowering_still_leaves_to_tensorflow_is_named():
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    seq = keras.Input((5, 3), name="seq")
    image = keras.Input((None, 6, 2), name="image")

    class Cell(L.SimpleRNNCell):
        pass

    outputs = [L.RNN(L.SimpleRNNCell(2), stateful=False, unroll=True, name="fine")(seq),
               L.RNN(L.GRUCell(2, activation="glu"), name="glu_cell")(seq),  # lowered (the glu family)
               L.RNN([L.SimpleRNNCell(2), Cell(2)], name="custom_cell")(seq),
               L.RNN([L.GRUCell(2), L.LSTMCell(2)], name="stacked")(seq),  # lowered (test_keras_lowering_lookups)
               # lowered (test_keras_lowering_attention's gated_windowed_attention)
               L.GroupQueryAttention(2, 2, 1, use_gate=True, sliding_window=2, name="gated")(seq, seq),
               L.MultiHeadAttention(2, 2, use_gate=True, sliding_window=3, name="mha_gated")(seq, seq),
               L.Pipeline([L.Dense(2, name="piped")], name="pipe")(seq),  # lowered (the pipelines family)
               L.AdaptiveAveragePooling2D(2, data_format="channels_first", name="cf")(image)]
    gaps = layer_gaps(json.loads(keras.Model([seq, image], outputs).to_json()))
    assert gaps == ["'custom_cell' (RNN: a Cell cell)"], gaps


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_pipeline_layer_is_named_by_class_not_a_corrupt_model_where_it_is_refused(tmp_path, suffix):
    """Keras 3's Pipeline lists layers under ``layers`` like a model does, but it is a layer: it was read
    as a functional model without outputs and called corrupt. TF.js's layers API has no Pipeline."""
    L = keras.layers
    x = keras.Input((4,), name="x")
    pipe = L.Pipeline([L.Rescaling(2.0), L.Rescaling(0.5, offset=1.0)], name="pipe")
    keras.Model(x, L.Dense(3, name="d")(pipe(x))).save(tmp_path / f"m{suffix}")
    with pytest.raises(tfjsconv.errors.TfjsconvError) as why:
        tfjsconv.convert(tmp_path / f"m{suffix}", tmp_path / "layers", output_format="tfjs_layers_model")
    assert "'pipe' (Pipeline)" in str(why.value) and "corrupt" not in str(why.value)


def test_a_pipeline_inner_layer_the_lowering_does_not_cover_is_named():
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    x = keras.Input((4,), name="x")
    ids = keras.Input((4,), dtype="int32", name="ids")
    outputs = [L.Pipeline([L.Rescaling(2.0), L.Dense(2, lora_rank=1, name="lora_dense")], name="lora_pipe")(x),
               L.Pipeline([L.Embedding(5, 2, mask_zero=True, name="masking_embed"), L.Flatten()], name="mask_pipe")(ids),
               L.Pipeline([L.Pipeline([L.Dense(2, lora_rank=1, name="inner_lora")], name="inner")],
                          name="nested_pipe")(x)]  # a nested Pipeline is lowered (test_keras_lowering_pipeline.py)
    text = keras.Model([x, ids], outputs).to_json()
    # a LoRA Dense is lowered; one whose lora_alpha is not its rank (enable_lora on a built layer) is not, from a .h5
    gaps = layer_gaps(json.loads(text.replace('"lora_alpha": 1', '"lora_alpha": 5')), "m.h5")
    # the walk goes through a Pipeline as through a Sequential model, masks too (mask_pipe: Flatten drops it)
    assert [gap.split(":")[0] for gap in gaps] == ["'lora_pipe/lora_dense' (Dense", "'nested_pipe/inner/inner_lora' (Dense"
                                                   ] and all("lora_alpha 5" in gap for gap in gaps), gaps


def test_adaptive_pooling_of_an_unknown_size_lowers(tmp_path):
    """An edited file can say so: the bins are computed at run time as Keras computes them for each concrete size
    (matched against Keras in tests/test_keras_lowering_dynamic_sizes_more.py)."""
    from test_keras_lowering import _edit_config

    L = keras.layers
    image = keras.Input((5, 6, 2), name="image")
    keras.Model(image, L.AdaptiveMaxPooling2D(2, name="adaptive")(image)).save(tmp_path / "m.h5")

    def unknown_height(layers):
        config = layers["image"]
        config["batch_shape" if "batch_shape" in config else "batch_input_shape"][1] = None
    _edit_config(tmp_path / "m.h5", unknown_height)
    code = POISONED.split("for path")[0] + "tfjsconv.convert(sys.argv[1], sys.argv[1] + '.out', " \
                                            "output_format='tfjs_graph_model')\n"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.h5")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-1500:]
    assert Path(f"{tmp_path / 'm.h5'}.out", "model.json").exists()


@pytest.mark.node
def test_a_pipeline_of_lookups_reads_strings_and_ids_as_keras_does(tmp_path, tfjs_runtime):
    """Keras does not convert a Pipeline's input: strings reach StringLookup and ids IntegerLookup as they are
    (the walk would cast ids to float for any other layer), and a lookup table inside a Pipeline is filled."""
    from test_keras_lowering import convert_poisoned

    L = keras.layers
    s = keras.Input((3,), dtype="string", name="s")
    ids = keras.Input((4,), dtype="int32", name="ids")
    words = L.Pipeline([L.StringLookup(vocabulary=["a", "bb", "c"], name="words"),
                        L.CategoryEncoding(5, output_mode="count", name="word_counts")], name="word_pipe")
    numbers = L.Pipeline([L.IntegerLookup(vocabulary=[1, 2, 4], name="numbers"),
                          L.CategoryEncoding(5, output_mode="multi_hot", name="number_hot")], name="number_pipe")
    model = keras.Model([s, ids], [words(s), numbers(ids)])
    inputs = {"s": np.array([["a", "bb", "x"], ["c", "a", "q"]], dtype=object),
              "ids": np.array([[1, 2, 3, 4], [5, 0, 7, 4]], dtype="int32")}
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / "lookups.keras")
    convert_poisoned([path])
    _verify(Path(f"{path}.out"), inputs, outputs)
