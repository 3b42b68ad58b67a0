"""The remaining Keras mask cases of the lowering (issue 16): Masking of a masked tensor, explicit masks computed by
layers, ``mask=`` into nested models, TimeDistributed over mask readers and mask makers; what stays refused.

As in ``test_keras_lowering_masks_nested.py``: small models with random weights saved by Keras 3 (``.keras``) and
tf_keras (``.h5``), converted in one subprocess with TensorFlow, Keras and tf_keras poisoned, run in real TF.js (cpu
and wasm) and compared with Keras's own ``model(x, training=False)``. Ids are padded with zeros at the start, at the
end, every other step and over a whole row; float sequences have all-zero steps (in the middle, at the end, a whole
batch item, a whole inner sequence of a rank-4 input) and all-one steps for a ``Masking(mask_value=1.0)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfjsconv.plugins.keras.lowering.masking import mask_gap

SOFTMAX_MASK_GAP = mask_gap("softmax", "Softmax")

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_lowering import layer_gaps_of, _verify, family_saver, saved_and_converted  # noqa: E402
from test_keras_lowering_masks import _padded_ids  # noqa: E402


def _not_equal(k, ids):
    """``ids != 0`` as the flavour records it: a Keras 3 operation, or tf_keras's TFOpLambda."""
    if k is keras:
        return keras.ops.not_equal(ids, 0)
    import tensorflow as tf

    return tf.math.not_equal(ids, 0)


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def remasked(k):
    """Masking of an already-masked tensor: its own mask replaces the input's in both flavours (``compute_mask``
    reads only the values), so zeroed steps that the first Masking dropped count again after Masking(1.0)."""
    L = k.layers
    seq = k.Input((6, 3), name="seq")
    zeroed = L.Masking(name="mask_zero")(seq)
    ones = L.Masking(mask_value=1.0, name="mask_ones")(zeroed)
    both = L.Masking(name="mask_zero_again")(L.Masking(mask_value=1.0, name="mask_ones_first")(seq))
    return k.Model(seq, [L.LSTM(2, name="lstm_ones")(ones), L.GRU(2, return_sequences=True, name="gru_both")(both),
                         L.GlobalAveragePooling1D(name="gap_ones")(L.Dense(2, name="dense_ones")(ones))])


def computed(k):
    """A mask computed by a layer (``ids != 0``, also by a nested model) given to RNNs, a masked pool and Softmax by
    ``mask=``; a sequence-returning RNN hands it on to the next reader."""
    L = k.layers
    ids, seq = k.Input((6,), dtype="int32", name="ids"), k.Input((6, 3), name="seq")
    scores = k.Input((6,), name="scores")
    keep = _not_equal(k, ids)
    gru = L.GRU(3, return_sequences=True, name="gru_given")(seq, mask=keep)
    maker_in = k.Input((6,), dtype="int32", name="maker_in")  # a nested model computing the mask
    maker = k.Model(maker_in, _not_equal(k, maker_in), name="maker")
    return k.Model([ids, seq, scores], [
        L.LSTM(2, name="lstm_given")(seq, mask=keep), L.SimpleRNN(2, name="rnn_after")(gru),
        L.GlobalAveragePooling1D(name="gap_given")(seq, mask=keep), L.Softmax(name="sm_given")(scores, mask=keep),
        L.GRU(2, go_backwards=True, name="gru_nested_mask")(seq, mask=maker(ids))])


def nested_given(k):
    """``inner(x, mask=m)``: Keras sets ``m`` on the nested model's input (a bool model input, or computed); the
    nested model reads it and hands its output's mask on to a reader outside."""
    L = k.layers
    ids, m = k.Input((6,), dtype="int32", name="ids"), k.Input((6,), dtype="bool", name="m")
    left, right = k.Input((6, 3), name="left"), k.Input((6, 3), name="right")
    passing_in = k.Input((6, 3), name="passing_in")
    passing = k.Model(passing_in, L.Dense(4, name="inner_dense")(passing_in), name="passing")
    reading_in = k.Input((6, 3), name="reading_in")
    reading = k.Model(reading_in, L.GRU(2, return_sequences=True, name="inner_gru")(reading_in), name="reading")
    return k.Model([ids, m, left, right], [L.LSTM(2, name="lstm_outside")(passing(left, mask=m)),
                                           L.GlobalAveragePooling1D(name="gap_outside")(
                                               reading(right, mask=_not_equal(k, ids)))])


def td_masking(k):
    """TimeDistributed(Masking) on a masked input: Keras 3 hands the input's mask on (the inner call takes none),
    tf_keras's inner ``compute_mask`` replaces it per step."""
    L = k.layers
    seq = k.Input((6, 3), name="seq")
    ones = L.Masking(mask_value=1.0, name="mask_ones")(seq)
    again = L.TimeDistributed(L.Masking(), name="td_masking")(ones)
    return k.Model(seq, [L.LSTM(2, name="lstm_after")(again),
                         L.GlobalAveragePooling1D(name="gap_after")(L.Dense(2, name="dense_after")(again))])


def td_readers(k):
    """TimeDistributed over RNNs and GlobalAveragePooling1D on a rank-4 masked input: each step's ``[batch, inner
    steps]`` mask is read; tf_keras reduces the output's mask to ``[batch, steps]`` (``any``) for a reader after it
    (Keras 3 hands the rank-3 mask on, which no ``[batch, steps]`` reader takes)."""
    L = k.layers
    grid = k.Input((4, 5, 3), name="grid")
    masked = L.Masking(name="mask_grid")(grid)
    lstm = L.TimeDistributed(L.LSTM(2), name="td_lstm")(masked)
    pooled = L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_gap")(masked)
    outputs = [lstm, pooled, L.TimeDistributed(L.GRU(2, return_sequences=True), name="td_gru")(masked),
               L.Dense(2, name="dense_lstm")(lstm)]
    if k is not keras:
        outputs += [L.GRU(2, name="gru_after_lstm")(lstm), L.LSTM(2, name="lstm_after_gap")(pooled)]
    return k.Model(grid, outputs)


FAMILIES = {"remasked": remasked, "computed": computed, "nested_given": nested_given, "td_masking": td_masking,
            "td_readers": td_readers}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")] + [
    ("computed", "keras3.h5"), ("nested_given", "keras3.h5")]  # .h5 keeps Keras 3's NotEqual without its module


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for i, t in enumerate(model.inputs):
        shape, name = (4, *tuple(t.shape)[1:]), t.name.split(":")[0]
        dtype = str(getattr(t.dtype, "name", t.dtype))
        if "int" in dtype:
            inputs[name] = _padded_ids(rng, shape, i)
        elif dtype == "bool":  # a fully masked batch item, a masked first step, kept ones
            value = rng.random(shape) > 0.4
            value[1] = False
            value[0, 0] = False
            value[2, 0] = True
            inputs[name] = value
        else:  # all-zero steps in the middle, at the end, a whole item; all-one steps for Masking(1.0)
            value = rng.standard_normal(shape).astype("float32")
            value[0, 2] = value[0, -1] = value[1] = value[3, 1:3] = 0.0
            value[2, 1] = value[0, 3] = 1.0
            if len(shape) == 4:  # inner steps too: a masked one in the middle, at the end, a whole inner sequence
                value[2, 0, 1] = value[2, 2, -1] = value[3, 3, 2] = 0.0
                value[2, 3] = 0.0
            inputs[name] = value
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=11)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "masks_more", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_masks_lower_without_tensorflow_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


# -- what stays refused, named ---------------------------------------------------------------------------------
_gaps = layer_gaps_of


def test_masks_keras_cannot_apply_stay_gaps():
    """Keras raises on a propagated ``[batch, steps]`` mask into Softmax (Keras 3 and tf_keras cannot broadcast
    it to ``[batch, steps, features]``) and into tf_keras's GroupNormalization (``broadcast_to`` the input's
    shape); a model with equal steps and features still builds, and both stay named gaps."""
    for k in (keras, pytest.importorskip("tf_keras")):
        L = k.layers
        ids = k.Input((4,), dtype="int32", name="ids")
        x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
        outputs = [L.Softmax(name="softmax")(x)]
        if k is not keras:
            outputs.append(L.GroupNormalization(2, name="grouped")(x))
        assert _gaps(k.Model(ids, outputs)) == [SOFTMAX_MASK_GAP] + (
            [] if k is keras else ["'grouped' (mask into GroupNormalization)"])


def test_a_mask_given_to_a_nested_model_whose_input_another_layer_reads_is_a_gap():
    """Keras sets the given mask on the caller's tensor itself: a second reader's view depends on run order."""
    k = pytest.importorskip("tf_keras")
    L = k.layers
    x, m = k.Input((5, 3), name="x"), k.Input((5,), dtype="bool", name="m")
    inner_in = k.Input((5, 3), name="inner_in")
    inner = k.Model(inner_in, L.LSTM(2, name="inner_lstm")(inner_in), name="inner")
    model = k.Model([x, m], [inner(x, mask=m), L.GRU(2, name="other")(x)])
    assert _gaps(model) == ["'inner' (Functional: Keras sets the mask it is given on 'x', which 'other' reads too)"]


def test_a_mask_into_time_distributed_around_other_readers_is_a_gap():
    L = keras.layers
    grid = keras.Input((4, 5, 3), name="grid")
    masked = L.Masking(name="mask_grid")(grid)
    model = keras.Model(grid, [L.TimeDistributed(L.Softmax(), name="td_softmax")(masked),
                               L.TimeDistributed(L.Bidirectional(L.LSTM(2)), name="td_bi")(masked)])
    gaps = _gaps(model)  # TimeDistributed(Bidirectional) reads it (test_keras_lowering_rnn_masks.py)
    assert len(gaps) == 1 and gaps[0].startswith("'td_softmax' (mask into TimeDistributed(Softmax)"), gaps


def test_layers_model_refuses_masks_time_distributed_cannot_hand_on(tmp_path):
    """Measured in TF.js 4.22: its TimeDistributed hands the unfolded ``[batch, steps, inner steps]`` mask to a
    wrapped LSTM (the run fails on a broadcast) or GlobalAveragePooling1D (every inner step averaged, NaN for a fully
    masked one), and makes no mask from a wrapped Masking, which tf_keras does (an LSTM after it ran unmasked)."""
    import tfjsconv
    from tfjsconv.errors import InputError

    k = pytest.importorskip("tf_keras")
    L = k.layers
    grid, seq = k.Input((4, 5, 3), name="grid"), k.Input((6, 3), name="seq")
    masked = L.Masking(name="mask_grid")(grid)
    remasked = L.TimeDistributed(L.Masking(), name="td_masking")(seq)
    model = k.Model([grid, seq], [L.TimeDistributed(L.LSTM(2), name="td_lstm")(masked),
                                  L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_gap")(masked),
                                  L.TimeDistributed(L.Dense(2), name="td_dense")(masked),
                                  L.LSTM(2, name="lstm")(remasked)])
    model.save(tmp_path / "td.h5")
    with pytest.raises(InputError) as info:
        tfjsconv.convert(tmp_path / "td.h5", tmp_path / "out", output_format="tfjs_layers_model")
    message = str(info.value)
    for name, inner in (("td_lstm", "LSTM"), ("td_gap", "GlobalAveragePooling1D")):
        assert f"layer '{name}' (TimeDistributed): wraps a {inner} that a Masking/Embedding mask reaches" in message
    assert "'td_dense'" not in message, message
    assert "layer 'lstm' (LSTM): reads the mask tf_keras makes in 'td_masking' (TimeDistributed over Masking)" \
        in message, message
    assert "tfjs_graph_model" in message, message
