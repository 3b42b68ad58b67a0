"""Masks computed by op layers other than ``not_equal`` (issue 16): ``logical_and/or/not/xor``, ``any``/``all``
(tf_keras's ``reduce_any``/``reduce_all``), comparisons and casts to bool, given as ``mask=`` to RNNs, a masked pool,
Softmax, Bidirectional and Attention (``mask=[query_mask, value_mask]``); and ``mask=[m, None]`` into a nested model,
on unmasked inputs and beside an input's own mask (which Keras 3 keeps for the None entry and tf_keras drops).

As in ``test_keras_lowering_masks_more.py``: small models with random weights saved by Keras 3 (``.keras``, ``.h5``)
and tf_keras (``.h5``), converted in one subprocess with TensorFlow, Keras and tf_keras poisoned, run in real TF.js
(cpu and wasm) and compared with Keras's own ``model(x, training=False)``. Ids are padded with zeros (leading,
trailing, every other step, a whole row); float sequences have all-zero steps, so every mask drops some steps.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402
from test_keras_lowering_masks import _padded_ids  # noqa: E402


def _ops(k):
    """The mask-making functions as the flavour records them: Keras 3 operations, or tf_keras's TFOpLambdas."""
    if k is keras:
        o = keras.ops
        return dict(ne=o.not_equal, eq=o.equal, gt=o.greater, le=o.less_equal, land=o.logical_and, lor=o.logical_or,
                    lnot=o.logical_not, any=o.any, all=o.all, cast=lambda x: o.cast(x, "bool"),
                    sum=lambda x: o.sum(x, axis=-1))
    import tensorflow as tf

    m = tf.math
    return dict(ne=m.not_equal, eq=m.equal, gt=m.greater, le=m.less_equal, land=m.logical_and, lor=m.logical_or,
                lnot=m.logical_not, any=lambda x, axis: tf.reduce_any(x, axis=axis),
                all=lambda x, axis: tf.reduce_all(x, axis=axis), cast=lambda x: tf.cast(x, tf.bool),
                sum=lambda x: tf.reduce_sum(x, axis=-1))


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def logical(k):
    """Masks combined by logical ops, reduced by any/all over the features, compared and cast, each given by
    ``mask=`` to a reader; one mask read by two layers, and one sequence-returning RNN handing its mask on."""
    L, o = k.layers, _ops(k)
    ids, other = k.Input((6,), dtype="int32", name="ids"), k.Input((6,), dtype="int32", name="other")
    seq, scores = k.Input((6, 3), name="seq"), k.Input((6,), name="scores")
    kept, big = o["ne"](ids, 0), o["gt"](other, 4)
    both, either = o["land"](kept, big), o["lor"](kept, big)
    flipped = o["lnot"](o["eq"](other, 0))
    steps = o["any"](o["ne"](seq, 0.0), axis=-1)
    positive = o["all"](o["gt"](seq, -1.0), axis=-1)
    cast = o["cast"](ids)
    gru = L.GRU(3, return_sequences=True, name="gru_either")(seq, mask=either)
    outputs = [L.LSTM(2, name="lstm_both")(seq, mask=both), L.SimpleRNN(2, name="rnn_after")(gru),
               L.GRU(2, go_backwards=True, name="gru_flipped")(seq, mask=flipped),
               L.GlobalAveragePooling1D(name="gap_steps")(seq, mask=steps),
               L.Softmax(name="sm_positive")(scores, mask=positive), L.LSTM(2, name="lstm_cast")(seq, mask=cast),
               L.Bidirectional(L.LSTM(2), name="bi_steps")(seq, mask=steps),
               L.Softmax(name="sm_both")(scores, mask=o["lor"](both, o["le"](scores, 0.0)))]
    outputs.append(L.SimpleRNN(2, name="rnn_float_cast")(seq, mask=o["cast"](o["sum"](seq))))  # 0.0 is False
    attended = L.Attention(name="att")([seq, seq], mask=[flipped, both])  # its output keeps the query's mask
    outputs += [L.LSTM(2, name="lstm_after_att")(attended),
                L.AdditiveAttention(name="additive")([seq, seq], mask=[None, steps])]
    if k is keras:  # Keras 3 casts non-bool operands of its logical ops and any/all to bool first
        outputs += [L.GRU(2, name="gru_int_and")(seq, mask=keras.ops.logical_and(ids, other)),
                    L.LSTM(2, name="lstm_xor")(seq, mask=keras.ops.logical_xor(kept, big)),
                    L.GlobalAveragePooling1D(name="gap_float_any")(seq, mask=keras.ops.any(seq, axis=-1))]
    return k.Model([ids, other, seq, scores], outputs)


def given_some(k):
    """``inner([x, y], mask=[m, None])`` and ``mask=[None, ids != 0]``: Keras sets each tensor on its input (a bool
    model input, or computed) and leaves the other input unmasked; the inner layers read, merge and hand the masks
    on, and an inner output's mask reaches a reader outside."""
    L, o = k.layers, _ops(k)
    x, y = k.Input((6, 3), name="x"), k.Input((6, 3), name="y")
    m, ids = k.Input((6,), dtype="bool", name="m"), k.Input((6,), dtype="int32", name="ids")
    left, right = k.Input((6, 3), name="left"), k.Input((6, 3), name="right")
    inner = k.Model([left, right], [L.LSTM(2, name="lstm_left")(left), L.GRU(2, name="gru_right")(right),
                                    L.SimpleRNN(2, name="rnn_sum")(L.Add(name="add")([left, right])),
                                    L.Dense(3, name="dense_left")(left)], name="inner")
    p, q = k.Input((6, 3), name="p"), k.Input((6, 3), name="q")  # Keras sets the masks on the caller's tensors
    first, second = inner([x, y], mask=[m, None]), inner([p, q], mask=[None, o["ne"](ids, 0)])
    return k.Model([x, y, p, q, m, ids], [*first[:3], L.LSTM(2, name="lstm_outside")(first[3]), *second[:3],
                                          L.GlobalAveragePooling1D(name="gap_outside")(second[3])])


def given_beside(k):
    """``inner([x, masked], mask=[m, None])`` where ``masked`` carries Masking's mask: Keras 3 keeps that mask for
    the None entry (``Functional.call`` sets only the given ones), tf_keras sets None on it (its input is unmasked);
    ``mask=[None, None]`` likewise (no tensor recorded: tf_keras drops both masks, Keras 3 keeps them)."""
    L = k.layers
    x, y, m = k.Input((6, 3), name="x"), k.Input((6, 3), name="y"), k.Input((6,), dtype="bool", name="m")
    p, q = k.Input((6, 3), name="p"), k.Input((6, 3), name="q")
    left, right = k.Input((6, 3), name="left"), k.Input((6, 3), name="right")
    inner = k.Model([left, right], [L.LSTM(2, name="lstm_left")(left), L.GRU(2, name="gru_right")(right),
                                    L.SimpleRNN(2, name="rnn_sum")(L.Add(name="add")([left, right]))], name="inner")
    nones = inner([L.Masking(name="masking_p")(p), L.Masking(name="masking_q")(q)], mask=[None, None])
    return k.Model([x, y, m, p, q], [*inner([x, L.Masking(name="masking")(y)], mask=[m, None]), *nones])


FAMILIES = {"logical": logical, "given_some": given_some, "given_beside": given_beside}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")] + [
    ("logical", "keras3.h5")]  # .h5 keeps Keras 3's operations without their module


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
            value[1], value[0, 0], value[2, 0] = False, False, True
            inputs[name] = value
        else:  # all-zero steps in the middle, at the end, a whole item; steps below -1 for all(seq > -1)
            value = rng.standard_normal(shape).astype("float32")
            if len(shape) == 3:
                value[0, 2] = value[0, -1] = value[1] = value[3, 1:3] = 0.0
            inputs[name] = value
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=21)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "masks_ops", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_masks_computed_by_op_layers_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)
