"""Layer options the session-16 combination probe (/work/notes/probe16/h5_probe.py) found the lowering refusing
where ``--loader=tensorflow`` converts them to Keras's numbers (issue 16).

tf_keras's ``time_major=True`` SimpleRNN/LSTM/GRU: the input is ``[T, batch, features]``; the lowering transposes it
(and its ``[T, batch]`` mask) to batch-major, walks the steps as for any RNN layer (unrolled over a static T, a loop
over a run-time one) and transposes a returned sequence back; the states are ``[batch, units]`` either way. Each case
is converted with TensorFlow, Keras and tf_keras poisoned and run in TF.js (cpu, wasm) against tf_keras's own
``model(x)``: go_backwards, return_state, initial_state, stacked time-major layers, unroll and masks whose zero steps
sit inside, at the end and at the start of a row. What stays refused (a Bidirectional over a time-major layer, which
reverses axis 0) is named.

Normalization with ``invert=True`` (``mean + x · max(sqrt(variance), epsilon)``, Keras 3 and tf_keras), and tf_keras's
``axis=None``, which it saves as ``axis: []`` (the lowering took that for a malformed file). Keras 3's Rescaling with
a numpy array for ``scale`` or ``offset`` (saved as a ``__numpy__`` dict, which the lowering failed on). Keras 3's
MultiHeadAttention and GroupQueryAttention called with ``query_mask``/``value_mask``/``key_mask`` tensors (refused as
keyword tensors).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402
from test_keras_lowering_op_layers_more import _refused  # noqa: E402


def _tf_keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("tf_keras")


def time_major_model():
    """Time-major RNN layers over a run-time T (``x``) and a static one (``xs``, batch unknown)."""
    k = _tf_keras()
    x, xs, h0 = k.Input((2, 3), name="x"), k.Input(batch_shape=(4, None, 3), name="xs"), k.Input((3,), name="h0")
    L = k.layers
    seq, h, c = L.LSTM(4, time_major=True, return_sequences=True, return_state=True, name="lstm_tm")(x)
    masked = L.Masking(0.0, name="masking")(xs)
    stacked = L.LSTM(3, time_major=True, return_sequences=True, name="lstm_stack")(xs)
    outputs = [
        seq, h, c,
        L.GRU(3, time_major=True, go_backwards=True, reset_after=False, name="gru_back")(x),
        L.SimpleRNN(3, activation="relu", time_major=True, return_sequences=True, go_backwards=True,
                    name="rnn_back")(xs),
        L.GRU(2, time_major=True, return_sequences=True, name="gru_stack")(stacked),
        L.GRU(3, time_major=True, return_sequences=True, name="gru_init")(x, initial_state=[h0]),
        L.LSTM(3, time_major=True, return_sequences=True, name="lstm_masked")(masked),
        L.GRU(3, time_major=True, go_backwards=True, name="gru_masked")(masked),
        L.LSTM(3, time_major=True, unroll=True, return_sequences=True, name="lstm_unrolled")(xs),
        L.SimpleRNN(2, time_major=True, unroll=True, go_backwards=True, name="rnn_unrolled_masked")(masked),
        # RNN(cell) with time_major (session 21; refused before, the traced path converted it)
        L.RNN(L.GRUCell(3), time_major=True, return_sequences=True, name="rnn_cell_tm")(x),
        L.RNN([L.GRUCell(2), L.LSTMCell(3)], time_major=True, go_backwards=True, name="rnn_cells_tm_masked")(masked),
    ]
    return k.Model([x, xs, h0], outputs)


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((4, 3, 3)).astype("float32")
    xs[3, 0] = 0.0  # row 0: its last step masked
    xs[1, 1] = 0.0  # row 1: an inner step
    xs[0, 2] = 0.0  # row 2: its first step
    return {"x": rng.standard_normal((5, 2, 3)).astype("float32"), "xs": xs,
            "h0": rng.standard_normal((2, 3)).astype("float32")}


def normalization_model(k):
    """Normalization with ``invert=True`` (adapted, and given a mean and a variance with a zero, where the floor
    ``epsilon`` scales), over the last axis, two axes and ``axis=None`` (tf_keras saves that as ``[]``)."""
    L = k.layers
    x = k.Input((4, 3), name="img")
    data = np.random.default_rng(4).standard_normal((8, 4, 3)).astype("float32") * 2 + 1
    layers = [L.Normalization(axis=-1, invert=True, name="inv_last"), L.Normalization(axis=None, name="all"),
              L.Normalization(axis=None, invert=True, name="inv_all"),
              L.Normalization(axis=(1, 2), invert=True, name="inv_two")]
    for layer in layers:
        layer.adapt(data)
    given = L.Normalization(axis=-1, mean=[0.5, -1.0, 2.0], variance=[0.0, 4.0, 1.5], invert=True, name="inv_given")
    plain = L.Normalization(axis=-1, mean=[0.5, -1.0, 2.0], variance=[0.0, 4.0, 1.5], name="given")
    outputs = [layer(x) for layer in layers] + [given(x), plain(x)]
    # per-channel arrays (Keras 3 saves a numpy array as a ``__numpy__`` dict, tf_keras as a list)
    outputs += [L.Rescaling(np.array([0.5, -1.0, 3.0], "float32"), np.array([1.0, 0.0, -2.5], "float32"),
                            name="rescale_arrays")(x),
                L.Rescaling(np.array([2.0, 0.25, -1.0], "float32"), name="rescale_array")(x),
                L.Rescaling(0.5, np.array([0.0, -1.0, 7.0], "float32"), name="offset_array")(x)]
    return k.Model(x, outputs)


def _norm_inputs() -> dict[str, np.ndarray]:
    x = np.random.default_rng(5).standard_normal((3, 4, 3)).astype("float32") * 3
    x[0, 0] = 0.0
    x[1, 1] = [-1e30, 1e30, -0.0]
    return {"img": x}


def mha_mask_keywords_model():
    """Keras 3 MultiHeadAttention given ``query_mask``/``value_mask``/``key_mask`` tensors (bool model inputs): a
    given value or key mask replaces the one Keras fills in from the tensor (a Masking on the value), a given
    query_mask is dropped for the query's own mask (``call`` reads ``get_keras_mask(query)``)."""
    import keras as k

    L = k.layers
    q, v, kk = k.Input((4, 3), name="q"), k.Input((5, 3), name="v"), k.Input((5, 3), name="kk")
    qm, vm, am = k.Input((4,), name="qm", dtype="bool"), k.Input((5,), name="vm", dtype="bool"), \
        k.Input((4, 5), name="am", dtype="bool")
    masked_q, masked_v = L.Masking(0.0, name="mask_q")(q), L.Masking(0.0, name="mask_v")(v)
    scores = L.MultiHeadAttention(2, 2, name="scores")(q, v, value_mask=vm, return_attention_scores=True)
    outputs = [
        L.MultiHeadAttention(2, 2, name="value_mask")(q, v, value_mask=vm),
        L.MultiHeadAttention(1, 3, name="key_mask")(q, v, key=kk, key_mask=vm, attention_mask=am),
        L.MultiHeadAttention(2, 2, name="key_mask_no_key")(q, v, key_mask=vm, use_causal_mask=True),
        L.MultiHeadAttention(2, 2, name="query_mask_dropped")(q, v, query_mask=qm, value_mask=vm),
        L.MultiHeadAttention(2, 2, name="own_query_mask")(masked_q, v, query_mask=qm, use_causal_mask=True),
        L.MultiHeadAttention(2, 2, name="replaces_value_mask")(q, masked_v, value_mask=vm),
        *scores,
        # GroupQueryAttention reads a given query_mask over the query's own (Keras fills one in only when none is given)
        L.GroupQueryAttention(2, 4, 2, name="gqa_query_mask")(masked_q, v, query_mask=qm, use_causal_mask=True),
        L.GroupQueryAttention(2, 2, 1, name="gqa_value_key")(q, masked_v, key=kk, value_mask=vm, key_mask=vm,
                                                             attention_mask=am),
    ]
    return k.Model([q, v, kk, qm, vm, am], outputs)


def _mha_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(6)
    q, v = rng.standard_normal((3, 4, 3)).astype("float32"), rng.standard_normal((3, 5, 3)).astype("float32")
    q[0, 2] = 0.0
    v[1, 0] = v[2, 4] = 0.0
    am = np.ones((3, 4, 5), bool)
    am[0, :, 1] = False
    vm = np.array([[True, False, True, True, True], [False] * 5, [True, True, True, True, False]])  # row 1 all masked
    return {"q": q, "v": v, "kk": rng.standard_normal((3, 5, 3)).astype("float32"),
            "qm": np.array([[True, False, True, True], [False, True, True, True], [True] * 4]), "vm": vm, "am": am}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s16_rnn_options")
    model = time_major_model()
    randomize(model, 16)
    saved = {"time_major": save_with_outputs(model, _inputs(17), folder / "time_major.h5")}
    import keras

    saved["norm_tf_keras"] = save_with_outputs(normalization_model(_tf_keras()), _norm_inputs(), folder / "norm.h5")
    saved["norm_keras3"] = save_with_outputs(normalization_model(keras), _norm_inputs(), folder / "norm.keras")
    model = mha_mask_keywords_model()
    randomize(model, 18)
    saved["mha_mask_keywords"] = save_with_outputs(model, _mha_inputs(), folder / "mha_masks.keras")
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", ["time_major", "norm_tf_keras", "norm_keras3", "mha_mask_keywords"])
def test_layer_options_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_bidirectional_over_a_time_major_layer_stays_refused_by_name(tmp_path):
    k = _tf_keras()
    x = k.Input((2, 3), name="x")
    model = k.Model(x, k.layers.Bidirectional(k.layers.LSTM(3, time_major=True), name="bidi_tm")(x))
    model.save(tmp_path / "bidi.h5")
    message = _refused(tmp_path / "bidi.h5")
    assert "'bidi_tm' (Bidirectional: wrapped" in message or "bidi_tm" in message, message
    assert "time_major=True" in message, message
