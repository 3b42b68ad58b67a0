"""Keras masks into merge layers and attention, lowered to TF.js ops with h5py (issue 16).

As in ``test_keras_lowering.py``: small models with random weights, saved by Keras 3 (``.keras``) and tf_keras
(``.h5``), converted through the lowering with TensorFlow, Keras and tf_keras poisoned (one subprocess converts
every file), then run in real TF.js (cpu and wasm); expected values are Keras's own ``model(x, training=False)``.
Ids have padding zeros in different places per batch row, one row all padding, so each merged or attention mask
matters downstream (an RNN, a masked pool, softmax rows that are fully masked).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfjsconv.plugins.keras.lowering.masking import mask_gap

SOFTMAX_MASK_GAP = mask_gap("softmax", "Softmax")

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_lowering import layer_gaps_of, _module, _verify, family_saver, saved_and_converted  # noqa: E402


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def merges(k):
    """Two masked embeddings and an unmasked branch through every merge layer into mask readers."""
    L = k.layers
    ids_a, ids_b = k.Input((6,), dtype="int32", name="ids_a"), k.Input((6,), dtype="int32", name="ids_b")
    feats = k.Input((6, 4), name="feats")
    a = L.Embedding(9, 4, mask_zero=True, name="emb_a")(ids_a)
    b = L.Embedding(9, 4, mask_zero=True, name="emb_b")(ids_b)
    f = L.Dense(4, name="dense_f")(feats)
    both = [L.LSTM(2, name="lstm_add")(L.Add(name="add")([a, b])),
            L.GRU(2, name="gru_avg")(L.Average(name="avg")([a, L.Dense(4, name="dense_b")(b)])),
            L.GlobalAveragePooling1D(name="gap_mul")(L.Multiply(name="mul")([a, b])),
            L.SimpleRNN(2, name="rnn_max")(L.Maximum(name="max")([a, b])),
            L.SimpleRNN(2, name="rnn_min")(L.Minimum(name="min")([b, a, b])),
            L.GlobalAveragePooling1D(name="gap_sub")(L.Subtract(name="sub")([a, b])),
            L.LSTM(2, name="lstm_cat")(L.Concatenate(name="cat")([a, b]))]
    partial = [L.GlobalAveragePooling1D(name="gap_cat_partial")(L.Concatenate(name="cat_partial")([a, f])),
               L.GlobalAveragePooling1D(name="gap_add_partial")(L.Add(name="add_partial")([f, b]))]
    # tf_keras cannot concatenate the masks of masked and unmasked inputs on the steps axis (its own error)
    steps_inputs = [a, f, b] if k is keras else [a, b]
    steps = L.GlobalAveragePooling1D(name="gap_steps")(L.Concatenate(axis=1, name="cat_steps")(steps_inputs))
    values = [L.Multiply(name="mul_partial")([a, f]), L.Maximum(name="max_partial")([f, a]),
              L.Minimum(name="min_partial")([b, f, a])]
    # layers that hand the mask on (a flavour's own ones too), and Dot, whose output has none
    passed = L.ActivityRegularization(name="reg")(L.UnitNormalization(name="unit")(
        L.BatchNormalization(name="bn")(a)))
    passed = L.Rescaling(0.5, name="rescale")(L.Identity(name="same")(passed)) if k is keras else \
        L.ThresholdedReLU(0.01, name="thresholded")(passed)
    more = [L.LSTM(2, name="lstm_passed")(passed), L.SimpleRNN(2, name="rnn_dot")(L.Dot(axes=2, name="dot")([a, b]))]
    return k.Model([ids_a, ids_b, feats], [L.Concatenate(name="both")(both + partial + [steps] + more),
                                            L.Concatenate(name="values")(values)])


def attention(k):
    """Attention / AdditiveAttention with propagated and explicit masks; MultiHeadAttention with propagated ones."""
    L = k.layers
    q_ids, v_ids = k.Input((5,), dtype="int32", name="q_ids"), k.Input((6,), dtype="int32", name="v_ids")
    query_mask, value_mask = k.Input((5,), dtype="bool", name="query_mask"), k.Input((6,), dtype="bool",
                                                                                       name="value_mask")
    q = L.Embedding(9, 4, mask_zero=True, name="emb_q")(q_ids)
    v = L.Embedding(9, 4, mask_zero=True, name="emb_v")(v_ids)
    att = L.Attention(name="att")([q, v])
    additive = L.AdditiveAttention(name="additive")([q, v, v])
    explicit = L.Attention(use_scale=True, name="explicit")([q, v], mask=[query_mask, value_mask])
    value_only = L.AdditiveAttention(name="value_only")([q, v], mask=[None, value_mask])
    causal = L.Attention(name="causal")([q, q], use_causal_mask=True)
    scored, scores = L.Attention(name="scored")([q, v], return_attention_scores=True)
    # Keras 3's MultiHeadAttention deletes its inputs' masks: each gets tensors no other layer reads
    mq, mv = L.Embedding(9, 4, mask_zero=True, name="emb_mq")(q_ids), L.Embedding(9, 3, mask_zero=True,
                                                                                   name="emb_mv")(v_ids)
    mha = L.MultiHeadAttention(2, 3, name="mha")(mq, mv)
    ms = L.Embedding(9, 4, mask_zero=True, name="emb_ms")(q_ids)
    mha_causal = L.MultiHeadAttention(2, 2, dropout=0.3, name="mha_causal")(ms, ms, use_causal_mask=True)
    return k.Model([q_ids, v_ids, query_mask, value_mask], [
        L.LSTM(3, name="lstm_att")(att), L.GlobalAveragePooling1D(name="gap_additive")(additive),
        L.Concatenate(name="plain")([explicit, value_only, causal, scored]), scores,
        L.GlobalAveragePooling1D(name="gap_mha")(mha), L.SimpleRNN(2, name="rnn_mha")(mha_causal)])


def grouped(k):
    """Keras 3's GroupQueryAttention with propagated masks, a causal mask and an attention_mask."""
    L = k.layers
    q_ids, v_ids = k.Input((5,), dtype="int32", name="q_ids"), k.Input((6,), dtype="int32", name="v_ids")
    attention_mask = k.Input((5, 6), dtype="bool", name="attention_mask")
    q = L.Embedding(9, 4, mask_zero=True, name="emb_q")(q_ids)
    v = L.Embedding(9, 4, mask_zero=True, name="emb_v")(v_ids)
    gqa = L.GroupQueryAttention(2, 4, 2, name="gqa")(q, v)
    gqa_causal = L.GroupQueryAttention(3, 2, 1, name="gqa_causal")(q, q, use_causal_mask=True)
    explicit, scores = L.GroupQueryAttention(2, 2, 2, name="gqa_mask")(
        q, v, attention_mask=attention_mask, return_attention_scores=True)
    plain = k.Input((6, 4), name="plain")
    gqa_plain = L.GroupQueryAttention(2, 2, 1, dropout=0.2, name="gqa_plain")(plain, plain, use_causal_mask=True)
    return k.Model([q_ids, v_ids, attention_mask, plain], [
        L.GlobalAveragePooling1D(name="gap_gqa")(gqa), L.LSTM(2, name="lstm_causal")(gqa_causal), explicit, scores,
        gqa_plain])


def given(k):
    """``mask=m`` given to mask readers from a bool model input (replacing a propagated mask, too)."""
    L = k.layers
    x, ids, m = k.Input((5, 3), name="x"), k.Input((5,), dtype="int32", name="ids"), k.Input((5,), dtype="bool",
                                                                                           name="m")
    seq = L.LSTM(3, return_sequences=True, name="lstm_seq")(x, mask=m)
    e = L.Embedding(9, 3, mask_zero=True, name="emb")(ids)
    return k.Model([x, ids, m], [L.GlobalAveragePooling1D(name="gap_seq")(seq), L.GRU(2, name="gru")(e, mask=m),
                                 L.Bidirectional(L.SimpleRNN(2), name="bi")(x, mask=m),
                                 L.GlobalAveragePooling1D(name="gap")(x, mask=m)])


FAMILIES = {"merges": merges, "attention": attention, "grouped": grouped, "given": given}
CASES = [("merges", "keras3.keras"), ("merges", "tf_keras.h5"), ("merges", "keras3.h5"),
         ("attention", "keras3.keras"), ("attention", "tf_keras.h5"), ("grouped", "keras3.keras"),
         ("given", "keras3.keras"), ("given", "tf_keras.h5")]


def _padded_ids(rng: np.random.Generator, shape: tuple[int, ...], shift: int) -> np.ndarray:
    """Ids 1..8 with zeros (padding): leading, trailing, every other step, a whole row; rows rolled by ``shift``."""
    ids = rng.integers(1, 9, shape)
    patterns = [lambda r: r.__setitem__(slice(0, 2), 0), lambda r: r.__setitem__(slice(-2, None), 0),
                lambda r: r.__setitem__(slice(1, None, 2), 0), lambda r: r.__setitem__(slice(None), 0)]
    for row in range(shape[0]):
        patterns[(row + shift) % len(patterns)](ids[row])
    return ids.astype("int32")


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for i, t in enumerate(model.inputs):
        shape, name = (4, *tuple(t.shape)[1:]), t.name.split(":")[0]
        dtype = str(getattr(t.dtype, "name", t.dtype))
        if "int" in dtype:
            inputs[name] = _padded_ids(rng, shape, i)
        elif dtype == "bool":  # explicit masks: random, with one row all False
            value = rng.random(shape) > 0.4
            value[1] = False
            inputs[name] = value
        else:
            inputs[name] = rng.standard_normal(shape).astype("float32")
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=11)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "masks", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_masks_lower_without_tensorflow_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


# -- gaps: what Keras computes in a way the lowering does not follow is refused, named ------------------------
_gaps = layer_gaps_of


@pytest.mark.parametrize("flavor", ["tf_keras.h5"])  # Keras 3 casts it to bool: lowered (masks_s22)
def test_explicit_attention_masks_the_lowering_computes_as_floats_are_gaps(flavor, tmp_path):
    """Computed bool masks are lowered (``test_keras_lowering_masks_ops.py``); one the lowering computes as float32
    (its Identity/Activation lowerings cast their inputs to float32, Keras keeps them bool) is refused by name in
    tf_keras, whose readers would weigh by the float; Keras 3 casts a given mask to bool, which the lowering does too."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    k = _module(flavor)
    L = k.layers
    q, v = k.Input((3, 2), name="query"), k.Input((4, 2), name="value")
    value_mask = k.Input((4,), dtype="bool", name="value_mask")
    kept = L.Identity(name="kept")(value_mask) if k is keras else L.Activation("linear", name="kept")(value_mask)
    model = k.Model([q, v, value_mask], L.Attention(name="att")([q, v], mask=[None, kept]))
    path = tmp_path / f"att{flavor[flavor.index('.'):]}"
    model.save(path)
    with pytest.raises(UsageError, match=r"does not cover 1 layer: 'att' \(Attention\) is given a mask the lowering "
                                         r"computes as float32"):
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")


def test_keras3_multi_head_attention_deleting_a_read_mask_is_no_gap():
    """Keras 3's MultiHeadAttention deletes its inputs' masks; a residual Add reading the same tensor sees a mask
    or none by Keras's run order, which the lowering follows (numbers: test_keras_lowering_k23_mha_deleted_masks.py)."""
    L = keras.layers
    ids = keras.Input((5,), dtype="int32", name="ids")
    x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    y = L.Add(name="residual")([x, L.MultiHeadAttention(2, 2, name="mha")(x, x)])
    assert _gaps(keras.Model(ids, L.LSTM(2, name="lstm")(y))) == []


def test_masks_into_layers_that_do_not_take_them_stay_gaps():
    """A propagated mask into Softmax is a gap (Keras cannot broadcast it); Reshape drops it, as Keras does."""
    L = keras.layers
    ids = keras.Input((5,), dtype="int32", name="ids")
    x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    flat = L.Embedding(9, 4, mask_zero=True, name="emb_flat")(ids)
    model = keras.Model(ids, [L.Softmax(name="softmax")(x), L.Concatenate(name="cat")([x, L.Dense(4)(x)]),
                              L.Add(name="add")([L.Reshape((20,), name="flat")(flat), L.Dense(20)(ids)])])
    assert sorted(_gaps(model)) == [SOFTMAX_MASK_GAP]


@pytest.mark.parametrize("flavor", ["tf_keras.h5"])  # Keras 3 casts it to bool: lowered (masks_s22)
def test_a_mask_given_by_a_layer_that_is_not_bool_in_the_lowering_is_refused(flavor, tmp_path):
    """``LSTM(x, mask=m)`` with ``m`` computed by a layer: Keras 3 records the tensor, tf_keras the
    ``[layer, node, tensor]`` in the call's kwargs. The lowering reads it (``test_keras_lowering_masks_more.py``)
    when it is bool; a float layer on the bool input (cast to float32 in the lowering) is refused by name."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    k = _module(flavor)
    x, m = k.Input((5, 3), name="x"), k.Input((5,), dtype="bool", name="m")
    kept = k.layers.Identity(name="kept")(m) if k is keras else k.layers.Activation("linear", name="kept")(m)
    model = k.Model([x, m], k.layers.LSTM(2, name="lstm")(x, mask=kept))
    assert _gaps(model) == []
    path = tmp_path / ("model.keras" if k is keras else "model.h5")
    model.save(path)
    with pytest.raises(UsageError, match=r"'lstm' \(LSTM\) is given a mask the lowering computes as float32"):
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
