"""A ``mask=`` given beside a mask the input carries, and ``training=True`` at a call site (session 22, helper h8).

``LSTM(Embedding(mask_zero=True)(ids), mask=ops.not_equal(other, 0))``: Keras replaces the input's mask with the
given one (tf_keras's ``Layer.__call__`` takes a passed ``mask`` over ``_keras_mask``; Keras 3 fills ``mask`` in from
the input only when none was passed). The lowering refused it ("a mask the lowering does not track") where
``--loader=tensorflow`` converted it; now it lowers the given mask for the RNNs, Bidirectional,
GlobalAveragePooling1D and Softmax, and the output carries the given mask on (an LSTM after a GRU reads it);
Attention/AdditiveAttention's ``mask=[...]`` with computed entries beside masked inputs likewise.

tf_keras's ``Dropout(0.0)(x, training=True)`` (and the other noise layers of amount 0) computes its input whatever
``training`` says: lowered, where a rate above 0 stays refused (tf_keras's ``model(x, training=False)`` keeps the
call's ``training=True``; BatchNormalization's batch statistics are lowered since session 24,
``test_keras_lowering_bn_training.py``). Keras 3's bare ``model(x)`` applies a saved
``training=True`` (``predict()`` and ``model(x, training=False)`` override it): the lowering computes inference and
names the layers it changes in a warning.

Keras 3 ``.keras``/``.h5`` and tf_keras ``.h5``, converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js
cpu and wasm at two sizes against Keras's ``model(x, training=False)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering import layer_gaps_of  # noqa: E402
from test_keras_lowering_masks import _padded_ids  # noqa: E402

FLAVORS = ["tf_keras.h5", "keras3.keras", "keras3.h5"]


def _not_equal(k: Any, t: Any) -> Any:
    """A computed bool mask: Keras 3's ``ops.not_equal``, tf_keras's ``tf.math.not_equal`` (a TFOpLambda)."""
    if k is keras:
        return keras.ops.not_equal(t, 0)
    return __import__("tensorflow").math.not_equal(t, 0)


def readers_family(k: Any) -> Any:
    """Every mask reader given another mask than the Embedding's: LSTM, GRU (whose sequence carries the given mask
    on to an LSTM), SimpleRNN backwards, Bidirectional, GlobalAveragePooling1D."""
    L = k.layers
    ids = k.Input((None,), dtype="int32", name="ids")
    other = k.Input((None,), dtype="int32", name="other")
    emb = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    keep = _not_equal(k, other)
    seq = L.GRU(3, return_sequences=True, name="gru")(emb, mask=keep)
    return k.Model([ids, other], [
        L.LSTM(3, name="lstm")(emb, mask=keep),
        L.LSTM(2, name="lstm_after")(seq),
        L.SimpleRNN(2, go_backwards=True, name="rnn")(emb, mask=keep),
        L.Bidirectional(L.LSTM(2), name="bidi")(emb, mask=keep),
        L.GlobalAveragePooling1D(name="gap")(emb, mask=keep)])


def attention_family(k: Any) -> Any:
    """Attention / AdditiveAttention over masked query and value given ``mask=[...]`` with computed entries: the list
    replaces both inputs' masks (a None entry leaves that side unmasked); an LSTM reads the output's (query) mask."""
    L = k.layers
    ids = k.Input((None,), dtype="int32", name="ids")
    other = k.Input((None,), dtype="int32", name="other")
    query = L.Embedding(9, 4, mask_zero=True, name="emb_q")(ids)
    value = L.Masking(name="masking")(L.Embedding(9, 4, name="emb_v")(other))
    keep = _not_equal(k, other)
    attended = L.Attention(name="att")([query, value], mask=[keep, None])
    return k.Model([ids, other], [L.LSTM(2, name="lstm")(attended),
                                  L.AdditiveAttention(name="add_att")([query, value], mask=[None, keep])])


def softmax_family(k: Any) -> Any:
    """Softmax over a Masking'd sequence (its `[batch, steps]` mask would not broadcast) given a full-shape mask."""
    L = k.layers
    x = k.Input((None, 3), name="x")
    other = k.Input((None, 3), dtype="int32", name="other")
    masked = L.Masking(name="masking")(x)
    return k.Model([x, other], L.Softmax(name="softmax")(masked, mask=_not_equal(k, other)))


def lookalike_family(k: Any) -> Any:
    """Keras 3: a given mask built like the tracked one but comparing with another value (token 1 as padding beside
    ``Embedding(mask_zero)``; 5.0 beside ``Masking()``'s 0.0). Keras 3 records the tracked mask's own ops, and the
    lowering took such a look-alike for them (same op, same tensor) and used the tracked mask: off by up to 1.7 of
    the range (review R4)."""
    L, ops = k.layers, k.ops
    ids = k.Input((None,), dtype="int32", name="ids")
    x = k.Input((None, 3), name="x")
    emb = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    keep = ops.not_equal(ids, 1)
    masked = L.Masking(name="masking")(x)
    kept = ops.any(ops.not_equal(x, 5.0), axis=-1)
    return k.Model([ids, x], [L.LSTM(3, name="lstm")(emb, mask=keep), L.GlobalAveragePooling1D(name="gap")(emb, mask=keep),
                              L.GRU(3, name="gru")(masked, mask=kept),
                              L.GlobalAveragePooling1D(name="gap_x")(masked, mask=kept)])


def _lookalike_inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Ids padded by 0 and by 1 in other places (each row keeping its last step, 2), and steps of 0 and of 5.0."""
    ids = rng.integers(0, 9, (batch, steps)).astype("int32")
    ids[:, 0], ids[0, 2:], ids[1, 3:], ids[:, -1] = 1, 1, 0, 2
    x = rng.standard_normal((batch, steps, 3)).astype("float32")
    x[0, 1], x[1, 2], x[-1, :2] = 0.0, 5.0, 5.0
    return {"ids": ids, "x": x}


def _ids_inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Padded ids (a whole row padded too) and another mask that keeps steps the ids pad and drops ones they keep,
    each row keeping its last step (a fully masked mean is 0/0 in Keras)."""
    other = (rng.random((batch, steps)) > 0.45).astype("int32")
    other[:, -1] = 1
    return {"ids": _padded_ids(rng, (batch, steps), 0), "other": other}


def _softmax_inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    x = rng.standard_normal((batch, steps, 3)).astype("float32")
    x[0, 1] = 0.0  # a step Masking drops (its mask is replaced)
    other = (rng.random((batch, steps, 3)) > 0.4).astype("int32")
    other[-1, 0] = 0  # a fully masked row: tf_keras's adder leaves it uniform, Keras 3 gives zeros
    return {"x": x, "other": other}


def test_the_given_mask_is_no_gap():
    """The config-level walk takes the computed bool mask in place of the Embedding's, in both flavours."""
    for k in (keras, pytest.importorskip("tf_keras")):
        assert layer_gaps_of(readers_family(k)) == [], k.__name__
        assert layer_gaps_of(softmax_family(k)) == [], k.__name__
        assert layer_gaps_of(attention_family(k)) == [], k.__name__


# -- tf_keras MultiHeadAttention with a non-bool attention_mask ----------------------------------------------
def mha_weights_family(k: Any) -> Any:
    """tf_keras adds ``(1 - float(mask)) · -1e9`` to the scores for an int32 or float32 ``attention_mask`` (no Keras
    masks beside it): weights 0, 0.5, 1 and 2 (which adds +1e9) each change the numbers."""
    L = k.layers
    x = k.Input((5, 4), name="x")
    ints, floats = k.Input((5, 6), dtype="int32", name="ints"), k.Input((5, 6), name="floats")
    value = k.Input((6, 4), name="value")
    return k.Model([x, ints, floats, value], [
        L.MultiHeadAttention(2, 3, name="mha_int")(x, value, attention_mask=ints),
        L.MultiHeadAttention(2, 3, name="mha_float")(x, value, attention_mask=floats)])


def _weights_inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    ints = rng.integers(0, 3, (batch, 5, 6)).astype("int32")
    floats = rng.choice(np.array([0.0, 0.5, 1.0, 2.0], "float32"), (batch, 5, 6))
    ints[0, 1] = 0  # a row of weights 0: every logit -1e9
    floats[-1, 2] = 0.0
    return {"x": rng.standard_normal((batch, 5, 4)).astype("float32"), "ints": ints, "floats": floats,
            "value": rng.standard_normal((batch, 6, 4)).astype("float32")}


# -- training=True at a call site ----------------------------------------------------------------------------
def noise0_family(k: Any) -> Any:
    """tf_keras noise layers of amount 0 called with training=True: each is its input."""
    L = k.layers
    x = k.Input((5, 4), name="x")
    h = L.Dense(4, name="dense")(x)
    return k.Model(x, [L.Dropout(0.0, name="drop")(h, training=True),
                       L.SpatialDropout1D(0.0, name="spatial")(h, training=True),
                       L.GaussianNoise(0.0, name="noise")(h, training=True),
                       L.GaussianDropout(0.0, name="gdrop")(h, training=True),
                       L.AlphaDropout(0.0, name="adrop")(h, training=True)])


def training_k3_family(k: Any) -> Any:
    """Keras 3 calls saved with training=True: computed at inference (predict, model(x, training=False))."""
    L = k.layers
    x = k.Input((4,), name="x")
    h = L.Dense(4, name="dense")(x)
    return k.Model(x, [L.BatchNormalization(name="bn")(h, training=True), L.Dropout(0.5, name="drop")(h, training=True),
                       L.Dropout(0.0, name="drop0")(h, training=True)])


def _x_inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    shape = tuple(model.inputs[0].shape)[1:]
    return {"x": (rng.standard_normal((batch, *shape)) * 3).astype("float32")}


INPUTS = {"readers": (_ids_inputs, [(4, 6), (3, 4)]), "attention": (_ids_inputs, [(4, 6), (3, 4)]),
          "softmax": (_softmax_inputs, [(4, 6), (3, 4)]), "mha_weights": (_weights_inputs, [(3,), (1,)]),
          "noise0": (_x_inputs, [(3,), (1,)]), "training_k3": (_x_inputs, [(3,), (1,)]),
          "lookalike": (_lookalike_inputs, [(4, 6), (3, 5)])}
FAMILIES = {"readers": readers_family, "attention": attention_family, "mha_weights": mha_weights_family,
            "softmax": softmax_family, "noise0": noise0_family, "training_k3": training_k3_family,
            "lookalike": lookalike_family}
MASK_CASES = [(family, flavor) for family in ("readers", "attention", "softmax") for flavor in FLAVORS] + \
    [("lookalike", "keras3.keras"), ("lookalike", "keras3.h5")]
WEIGHTS_CASES = [("mha_weights", "tf_keras.h5")]
TRAINING_CASES = [("noise0", "tf_keras.h5"), ("training_k3", "keras3.keras"), ("training_k3", "keras3.h5")]


def _inputs_of(model: Any, family: str, rng: np.random.Generator):
    make, runs = INPUTS[family]
    return (make(model, rng, *run) for run in runs)


converted = converted_fixture("mask_override_s22", MASK_CASES + WEIGHTS_CASES + TRAINING_CASES,
                              two_size_saver(FAMILIES, _inputs_of, seed=221))


@pytest.mark.node
@each_case(MASK_CASES)
def test_a_mask_given_beside_a_tracked_one_replaces_it(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(WEIGHTS_CASES)
def test_tf_keras_attention_weights_lower_as_its_softmax_adds_them(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(TRAINING_CASES)
def test_training_true_that_changes_nothing_or_keras3s_lowers(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_tf_keras_training_true_that_changes_the_numbers_stays_refused(tmp_path):
    """tf_keras's model(x, training=False) keeps a call's training=True: a Dropout of rate 0.1 drops, still refused
    by name (BatchNormalization's batch statistics are lowered since session 24: not named)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    tk = pytest.importorskip("tf_keras")
    x = tk.Input((4,), name="x")
    h = tk.layers.Dense(4, name="dense")(x)
    tk.Model(x, [tk.layers.BatchNormalization(name="bn")(h, training=True),
                 tk.layers.Dropout(0.1, name="drop")(h, training=True),
                 tk.layers.Dropout(0.0, name="drop0")(h, training=True)]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(info.value)
    assert "'bn'" not in message, message
    assert "'drop' (Dropout) called with training=True" in message, message
    assert "drop0" not in message, message


def test_keras3_training_true_is_named_in_a_warning(tmp_path, caplog):
    """A bare Keras 3 model(x) applies the saved training=True: the layers it changes are named (not drop0)."""
    import tfjsconv

    training_k3_family(keras).save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    notes = [n for n in result.details if "training=True" in n]
    assert len(notes) == 1, result.details
    assert notes[0].startswith("2 layer call(s) saved with training=True are computed at inference"), notes[0]
    assert notes[0].endswith(": bn (BatchNormalization), drop (Dropout)"), notes[0]
    assert notes[0] in caplog.text


def test_keras3_training_true_names_rnn_cells_and_augmentations(tmp_path):
    """The warning looks into an RNN's cell and stacked cells (a cell's dropout applies in training) and names the
    augmentation layers whose names do not start with Random (review R4: a bare model(x) differed by 0.23-0.36 there,
    unnamed)."""
    import tfjsconv

    L = keras.layers
    seq = keras.Input((5, 3), name="seq")
    img = keras.Input((8, 8, 3), name="img")
    model = keras.Model([seq, img], [
        L.RNN(L.LSTMCell(2, dropout=0.5), name="rnn_cell")(seq, training=True),
        L.RNN(L.StackedRNNCells([L.GRUCell(2, recurrent_dropout=0.5)]), name="rnn_stack")(seq, training=True),
        L.RNN(L.LSTMCell(2), name="rnn_plain")(seq, training=True),
        L.Solarization(0.5, name="sol")(img, training=True)])
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    notes = [n for n in result.details if "training=True" in n]
    assert len(notes) == 1 and notes[0].endswith(": rnn_cell (RNN), rnn_stack (RNN), sol (Solarization)"), notes
