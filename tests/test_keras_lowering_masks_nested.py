"""Keras masks into nested models, TimeDistributed, Softmax(mask=) and RNN(cell), and masks that Keras drops (issue 16).

As in ``test_keras_lowering_masks.py``: small models with random weights saved by Keras 3 (``.keras``) and tf_keras
(``.h5``), converted in one subprocess with TensorFlow, Keras and tf_keras poisoned, run in real TF.js (cpu and
wasm) and compared with Keras's own ``model(x, training=False)``. Ids are padded with zeros at the start, at the end,
every other step and over a whole row; float sequences have all-zero steps for ``Masking``; explicit Softmax masks
have a fully masked row and a fully masked batch item, so every mask changes the numbers downstream.
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


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def nested(k):
    """A masked sequence into nested Functional and Sequential models (which pass, read or merge the mask); their
    outputs' masks read outside by RNNs and a masked pool."""
    L = k.layers
    ids, other = k.Input((6,), dtype="int32", name="ids"), k.Input((6,), dtype="int32", name="other")
    a = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    b = L.Embedding(9, 4, mask_zero=True, name="emb_other")(other)
    inner_in = k.Input((6, 4), name="inner_in")
    passing = k.Model(inner_in, L.LayerNormalization(name="norm")(L.Dense(3, name="inner_dense")(inner_in)),
                      name="passing")
    stack = k.Sequential([k.Input((6, 4)), L.Dense(5, name="seq_dense"), L.Activation("tanh", name="seq_tanh")],
                         name="stack")
    read_in = k.Input((6, 4), name="read_in")
    reading = k.Model(read_in, L.GRU(3, return_sequences=True, name="inner_gru")(read_in), name="reading")
    left, right = k.Input((6, 4), name="left"), k.Input((6, 4), name="right")
    merging = k.Model([left, right], L.Add(name="inner_add")([left, right]), name="merging")
    return k.Model([ids, other], [
        L.LSTM(2, name="lstm_passing")(passing(a)), L.GlobalAveragePooling1D(name="gap_stack")(stack(a)),
        L.SimpleRNN(2, name="rnn_reading")(reading(a)), L.GRU(2, name="gru_merging")(merging([a, b])),
        L.LSTM(2, name="lstm_again")(passing(b))])  # the same nested model called again, on another mask


def time_distributed(k):
    """TimeDistributed over masked sequences (the mask handed on to an RNN); Keras 3 hands it on even around
    layers without mask support; tf_keras's TimeDistributed(Masking) makes a mask per step."""
    L = k.layers
    ids, steps = k.Input((6,), dtype="int32", name="ids"), k.Input((6, 3), name="steps")
    a = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    outputs = [L.LSTM(2, name="lstm_dense")(L.TimeDistributed(L.Dense(3), name="td_dense")(a)),
               L.GlobalAveragePooling1D(name="gap_norm")(L.TimeDistributed(L.LayerNormalization(),
                                                                           name="td_norm")(a)),
               L.GRU(2, name="gru_masking")(L.TimeDistributed(L.Masking(), name="td_masking")(steps))]
    if k is keras:  # tf_keras raises: RepeatVector and Flatten do not support masking
        repeated = L.TimeDistributed(L.RepeatVector(2), name="td_repeat")(a)
        outputs.append(L.SimpleRNN(2, name="rnn_flat")(L.TimeDistributed(L.Flatten(), name="td_flat")(repeated)))
    return k.Model([ids, steps], outputs)


def softmax(k):
    """Softmax given ``mask=``: bool (full and broadcast), float, over another axis; tf_keras's robust_masking."""
    L = k.layers
    x = k.Input((4, 5), name="scores")
    full, rows = k.Input((4, 5), dtype="bool", name="full"), k.Input((1, 5), dtype="bool", name="rows")
    weights = k.Input((4, 5), name="weights")
    outputs = [L.Softmax(name="sm_full")(x, mask=full), L.Softmax(name="sm_rows")(x, mask=rows),
               L.Softmax(name="sm_float")(x, mask=weights), L.Softmax(axis=1, name="sm_axis")(x, mask=full)]
    if k is not keras:
        outputs.append(L.Softmax(robust_masking=True, name="sm_robust")(x, mask=full))
    return k.Model([x, full, rows, weights], outputs)


def rnn_cells(k):
    """``RNN(cell)`` and stacked cells over a masked sequence: go_backwards, zero_output_for_mask, states, mask=."""
    L = k.layers
    ids, m = k.Input((6,), dtype="int32", name="ids"), k.Input((6,), dtype="bool", name="m")
    x = k.Input((6, 3), name="x")
    a = L.Embedding(9, 3, mask_zero=True, name="emb")(ids)
    backwards = L.RNN([L.LSTMCell(3), L.GRUCell(2)], go_backwards=True, return_sequences=True, name="stacked_back")(a)
    zeroed = L.RNN([L.SimpleRNNCell(2), L.LSTMCell(3)], return_sequences=True, zero_output_for_mask=True,
                   name="stacked_zero")(a)
    last, h, c = L.RNN(L.LSTMCell(2), return_state=True, name="one_cell")(a)
    return k.Model([ids, m, x], [
        L.GlobalAveragePooling1D(name="gap_back")(backwards), zeroed, L.Concatenate(name="states")([last, h, c]),
        L.RNN(L.GRUCell(2), name="given")(x, mask=m)])


def dropped(k):
    """Masks into layers without mask support and into op layers: Keras computes them unmasked and their outputs
    carry no mask (Rescaling and Normalization hand it on in Keras 3 only, GroupNormalization too)."""
    L = k.layers
    ids = k.Input((6,), dtype="int32", name="ids")
    a = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    flat = L.Flatten(name="flat")(a)
    outputs = [
        L.LSTM(2, name="lstm_conv")(L.Conv1D(3, 2, padding="same", name="conv")(a)),
        L.GRU(2, name="gru_pool")(L.MaxPooling1D(1, name="pool")(a)), L.GlobalMaxPooling1D(name="gmp")(a),
        L.Dense(2, name="dense_flat")(flat), L.SimpleRNN(2, name="rnn_rescaled")(L.Rescaling(0.5, name="rescale")(a)),
        L.LSTM(2, name="lstm_normalized")(L.Normalization(mean=0.1, variance=2.0, name="normalize")(a)),
        L.GRU(2, name="gru_op")(a * 2.0)]  # an op layer (TFOpLambda, a Keras 3 operation)
    if k is keras:  # tf_keras's GroupNormalization weighs its moments by the mask (a gap)
        outputs.append(L.LSTM(2, name="lstm_grouped")(L.GroupNormalization(2, name="grouped")(a)))
    return k.Model(ids, outputs)


FAMILIES = {"nested": nested, "time_distributed": time_distributed, "softmax": softmax, "rnn_cells": rnn_cells,
            "dropped": dropped}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")] + [
    ("nested", "keras3.h5"), ("softmax", "keras3.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for i, t in enumerate(model.inputs):
        shape, name = (4, *tuple(t.shape)[1:]), t.name.split(":")[0]
        dtype = str(getattr(t.dtype, "name", t.dtype))
        if "int" in dtype:
            inputs[name] = _padded_ids(rng, shape, i)
        elif dtype == "bool":  # a fully masked batch item, a fully masked row, a kept one
            value = rng.random(shape) > 0.4
            value[1] = False
            value[0, 0] = False
            value[2, 0] = True
            inputs[name] = value
        elif name == "weights":  # a float mask: Keras 3 keeps > 0.5, tf_keras weighs by 1 - m
            inputs[name] = rng.choice(np.float32([0.0, 0.3, 0.7, 1.0]), shape)
        else:  # Masking's all-zero steps: in the middle, at the end, a whole item
            value = rng.standard_normal(shape).astype("float32")
            value[0, 2] = value[0, -1] = value[1] = value[3, 1:3] = 0.0
            inputs[name] = value
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=5)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "masks_nested", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_masks_lower_without_tensorflow_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


# -- what stays refused, named ---------------------------------------------------------------------------------
_gaps = layer_gaps_of


def test_a_propagated_mask_into_softmax_and_mask_readers_inside_time_distributed_are_gaps():
    """Keras 3 cannot broadcast a ``[batch, steps]`` mask to Softmax's ``[batch, steps, features]`` input, and
    hands TimeDistributed's mask to an inner layer that reads it per step: neither is lowered."""
    L = keras.layers
    ids = keras.Input((5,), dtype="int32", name="ids")
    x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    model = keras.Model(ids, [L.Softmax(name="softmax")(x), L.TimeDistributed(L.Softmax(), name="td_softmax")(x)])
    gaps = _gaps(model)
    assert gaps[0] == SOFTMAX_MASK_GAP and len(gaps) == 2, gaps
    assert gaps[1].startswith("'td_softmax' (mask into TimeDistributed(Softmax)"), gaps


def test_an_explicit_mask_none_in_tf_keras_is_a_gap():
    """tf_keras records ``layer(x, mask=None)`` and passes None instead of ``x``'s mask (a nested model also sets None
    on its input), so the layer runs unmasked; Keras 3 fills the input's mask in. The lowering read it as not given."""
    tk = pytest.importorskip("tf_keras")
    for k in (keras, tk):
        L = k.layers
        x, inner_in = k.Input((5, 3), name="x"), k.Input((5, 3), name="inner_in")
        masked = L.Masking(name="masking")(x)
        inner = k.Model(inner_in, L.LSTM(2, name="inner_lstm")(inner_in), name="inner")
        model = k.Model(x, [inner(masked, mask=None), L.GRU(2, name="gru")(masked, mask=None)])
        expected = [] if k is keras else [
            "'inner' (Functional: mask=None given explicitly, which drops the mask its input carries in tf_keras)",
            "'gru' (GRU: mask=None given explicitly, which drops the mask its input carries in tf_keras)"]
        assert layer_gaps_of(model) == expected, k.__name__


def test_one_tensor_given_twice_to_a_nested_model_with_different_masks_is_a_gap():
    """``inner([y, y], mask=[m, None])``: Keras sets the masks on the one tensor in turn (tf_keras ends with None,
    Keras 3 with ``m``), so neither input reads its own entry."""
    for k in (keras, pytest.importorskip("tf_keras")):
        L = k.layers
        y, m = k.Input((5, 3), name="y"), k.Input((5,), dtype="bool", name="m")
        left, right = k.Input((5, 3), name="left"), k.Input((5, 3), name="right")
        inner = k.Model([left, right], [L.LSTM(2, name="l")(left), L.GRU(2, name="g")(right)], name="inner")
        masked = L.Masking(name="masking")(y)
        model = k.Model([y, m], inner([masked, masked], mask=[m, None]))
        assert layer_gaps_of(model) == ["'inner' (Functional: one tensor given as several inputs with a mask list; "
                                        "Keras sets the masks on that tensor in turn)"], k.__name__
