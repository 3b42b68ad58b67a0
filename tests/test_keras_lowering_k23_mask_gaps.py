"""Mask cases Keras itself does not define stay refused by name, with why (issue 16).

TimeDistributed hands the wrapped layer's ``call`` each step's mask: Keras 3 ``mask[:, t]``, tf_keras the mask folded
to ``[batch·steps, ...]``. A wrapped Softmax lines that mask (one axis short of its input) up with its input's last
axes, so Keras fails at most batch sizes and mixes positions at the others: the lowering names it instead of picking
one of Keras's accidents. A Keras 3 model whose MultiHeadAttention deletes the mask of a nested model's output stays a
gap (the caller's readers would miss the deletion); of its input (the caller's tensor) it is followed (session 26).
"""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from test_keras_lowering import _module, layer_gaps_of  # noqa: E402


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_a_mask_into_time_distributed_softmax_is_refused_with_why(flavor):
    k = _module(flavor)
    L = k.layers
    ids = k.Input((5,), dtype="int32", name="ids")
    x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    model = k.Model(ids, L.TimeDistributed(L.Softmax(), name="td_softmax")(x))
    gaps = layer_gaps_of(model)
    assert len(gaps) == 1 and gaps[0].startswith("'td_softmax' (mask into TimeDistributed(Softmax): Keras hands the "
                                                 "wrapped Softmax each step's mask"), gaps
    ids_batch = np.array([[1, 2, 0, 0, 0], [3, 0, 0, 0, 0]], "int32")
    with pytest.raises(Exception):  # Keras's own model fails on a batch of two: nothing defined to match
        model(ids_batch, training=False)


def test_a_nested_models_input_mask_deleted_by_its_attention_is_followed():
    """Keras 3 deletes the mask on the tensor the caller passed in: the caller's readers that run later miss it, which
    the walk follows since session 26 (a gap before; numbers against Keras:
    ``test_keras_lowering_k26_nested_deleted_masks.py``)."""
    L = keras.layers
    inner_in = keras.Input((6, 8), name="inner_in")
    inner = keras.Model(inner_in, L.MultiHeadAttention(2, 4, name="mha")(inner_in, inner_in), name="inner")
    ids = keras.Input((6,), dtype="int32", name="ids")
    x = L.Embedding(9, 8, mask_zero=True, name="emb")(ids)
    model = keras.Model(ids, L.Add(name="residual")([x, inner(x)]))
    assert layer_gaps_of(model) == []


def test_a_run_time_mask_other_than_the_tracked_one_read_without_a_recorded_mask_is_lowered():
    """Concatenate after the attention: Keras 3 concatenates an all-True mask for the embedding whose mask the
    attention deleted, where the walk tracks the embedding's. An LSTM reads its recorded mask (lowered,
    ``test_keras_lowering_k23_mha_deleted_masks.py``); another attention reads the run-time one, which the walk
    works out in Keras 3's run order since session 25 (a gap before; its numbers against Keras:
    ``test_keras_lowering_k25_deleted_masks.py``, ``late_attention``)."""
    L = keras.layers
    ids = keras.Input((6,), dtype="int32", name="ids")
    x = L.Embedding(9, 8, mask_zero=True, name="emb")(ids)
    cat = L.Concatenate(name="cat")([x, L.MultiHeadAttention(2, 4, name="mha")(x, x)])
    model = keras.Model(ids, [L.LSTM(3, name="lstm")(cat), L.MultiHeadAttention(2, 4, name="late")(cat, cat)])
    assert layer_gaps_of(model) == []
