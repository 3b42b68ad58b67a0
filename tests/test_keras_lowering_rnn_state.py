"""RNN ``initial_state`` and other call arguments in the Keras lowering (issue 16).

An RNN called with ``initial_state`` (tf_keras: extra inputs after the sequence; Keras 3: keyword tensors, or a
constant saved as ``__numpy__``) starts from those states: seq2seq encoders/decoders, model-input states, masks
(the states hold through masked steps), stacked cells and Bidirectional (the states split in halves) lower and
run in real TF.js (cpu and wasm) against Keras's ``model(x, training=False)``, converted with TensorFlow, Keras and
tf_keras poisoned. States the lowering cannot take as Keras does are refused by name, never dropped; tf_keras's
``Dropout(x, training=True)`` runs at inference, so it is refused too.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from keras_models import randomize, save_with_outputs  # noqa: E402
from tfjsconv.errors import InputError, UsageError  # noqa: E402
from test_keras_lowering import LOWERED, _module, _verify, family_saver, saved_and_converted  # noqa: E402
from test_keras_lowering_masks import _inputs  # noqa: E402

FLAVORS = {"keras3.keras": ".keras", "keras3.h5": ".h5", "tf_keras.h5": ".h5"}


# -- models with initial states (``k`` is keras or tf_keras) ---------------------------------------------------
def seq2seq(k):
    """Encoders' ``return_state`` outputs start decoders; model inputs start others (go_backwards, return_state)."""
    L = k.layers
    enc_x, dec_x = k.Input((5, 3), name="enc_x"), k.Input((4, 2), name="dec_x")
    h, c = k.Input((3,), name="h"), k.Input((3,), name="c")
    _, eh, ec = L.LSTM(3, return_state=True, name="encoder_lstm")(enc_x)
    decoded = L.LSTM(3, return_sequences=True, name="decoder_lstm")(dec_x, initial_state=[eh, ec])
    _, gh = L.GRU(4, return_state=True, go_backwards=True, name="encoder_gru")(enc_x)
    gru = L.GRU(4, return_sequences=True, go_backwards=True, name="decoder_gru")(dec_x, initial_state=gh)
    v1 = L.GRU(3, reset_after=False, return_state=True, name="gru_v1")(dec_x, initial_state=[h])
    simple = L.SimpleRNN(3, return_state=True, go_backwards=True, name="simple")(enc_x, initial_state=c)
    lstm_in = L.LSTM(3, return_state=True, name="lstm_inputs")(enc_x, initial_state=[c, h])
    return k.Model([enc_x, dec_x, h, c], [decoded, gru, *v1, *simple, *lstm_in])


def masked(k):
    """Masked steps (leading, trailing, alternate, a whole row) keep the given states and output zeros before any
    step (tf_keras); Keras 3 runs a call with initial_state unmasked unless given ``mask=``, and hands the mask on."""
    L = k.layers
    ids, h, c = k.Input((6,), dtype="int32", name="ids"), k.Input((3,), name="h"), k.Input((3,), name="c")
    keep = k.Input((6,), dtype="bool", name="keep")
    x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    given = L.GRU(3, name="given_mask")(x, initial_state=[h], mask=keep)  # Keras 3 too runs with a mask= given
    seq, sh, sc = L.LSTM(3, return_sequences=True, return_state=True, name="lstm")(x, initial_state=[h, c])
    gru, gh = L.GRU(3, return_state=True, go_backwards=True, name="gru")(x, initial_state=[c])
    simple = L.SimpleRNN(3, return_sequences=True, name="simple")(x, initial_state=h)
    pooled = L.GlobalAveragePooling1D(name="gap")(simple)  # the sequence keeps its mask
    bi = L.Bidirectional(L.GRU(3, return_sequences=True, reset_after=False), name="bi")(x, initial_state=[h, c])
    return k.Model([ids, h, c, keep], [seq, sh, sc, gru, gh, pooled, L.LSTM(2, name="after_bi")(bi), given])


def stacked(k):
    """RNN over stacked cells (nested states per cell, read flat), and Bidirectional with states."""
    L = k.layers
    x, h, c, g = k.Input((5, 3), name="x"), k.Input((3,), name="h"), k.Input((3,), name="c"), k.Input((2,), name="g")
    cells = L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_sequences=True, return_state=True, name="cells")(
        x, initial_state=[[h, c], g])
    single = L.RNN(L.SimpleRNNCell(3), go_backwards=True, name="single")(x, initial_state=[c])
    _, eh, eg = L.RNN([L.GRUCell(3), L.SimpleRNNCell(2)], return_state=True, name="encoder")(x)
    decoded = L.RNN([L.GRUCell(3), L.SimpleRNNCell(2)], name="decoder")(x, initial_state=[eh, eg])  # flat
    bi = L.Bidirectional(L.LSTM(3, return_state=True), merge_mode="sum", name="bi")(x, initial_state=[h, c, c, h])
    bi_seq = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), name="bi_seq")(x, initial_state=[g, g])
    return k.Model([x, h, c, g], [*_flat(cells), single, *bi, bi_seq, decoded])


def _flat(tensors) -> list:
    """Keras 3 returns a stacked RNN's states nested per cell (``[h, c], g``); its outputs, flat."""
    return [t for item in tensors for t in (_flat(item) if isinstance(item, (list, tuple)) else [item])]


FAMILIES = {"seq2seq": seq2seq, "masked": masked, "stacked": stacked}
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS]


_save = family_saver(FAMILIES, _inputs, seed=17)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "rnn_state", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_initial_states_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_constant_initial_state_is_a_graph_constant(tmp_path, tfjs_runtime, suffix):
    """Keras 3 saves a constant initial state as ``__numpy__``; one row broadcasts over the batch, as in Keras."""
    L = keras.layers
    x = keras.Input((5, 3), name="x")
    gru = L.GRU(2, name="gru")(x, initial_state=[np.array([[0.5, -1.0]], "float32")])
    lstm = L.LSTM(2, return_state=True, name="lstm")(x, initial_state=[np.ones((1, 2), "float32"),
                                                                        np.full((1, 2), -0.5, "float32")])
    model = keras.Model(x, [gru, *lstm])
    randomize(model, 3)
    path, inputs, outputs = save_with_outputs(model, _inputs(model, 4), tmp_path / f"constant{suffix}")
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details == [LOWERED]
    graph = json.loads((tmp_path / "out" / "model.json").read_text())
    assert not any("initial_state" in n["name"] and n["op"] == "Placeholder"
                   for n in graph["modelTopology"]["node"]), "the constant state must be a Const"
    _verify(tmp_path / "out", inputs, outputs)


# -- what stays refused, by name ---------------------------------------------------------------------------------
def _refusal(model, path: Path) -> str:
    model.save(path)
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(path, path.with_suffix(".out"), output_format="tfjs_graph_model")
    return str(info.value)


def test_keras3_initial_state_keras_broadcasts_oddly_is_refused_by_name(tmp_path):
    """A rank-1 constant state: Keras broadcasts ``h·U`` against the batch; the lowering refuses, never drops it."""
    x = keras.Input((5, 3), name="x")
    model = keras.Model(x, keras.layers.GRU(2, name="gru")(x, initial_state=[np.ones((2,), "float32")]))
    message = _refusal(model, tmp_path / "rank1.keras")
    assert "does not cover 1 layer: 'gru' (GRU) called with an initial_state of shape [2]" in message, \
        message


def test_keras3_initial_state_mixing_tensors_and_constants_is_refused_by_name(tmp_path):
    """Keras 3 keeps only the tensors as references; the constant beside them must not be lost."""
    x, h = keras.Input((5, 3), name="x"), keras.Input((2,), name="h")
    model = keras.Model([x, h], keras.layers.LSTM(2, name="lstm")(x, initial_state=[h, np.ones((1, 2), "float32")]))
    message = _refusal(model, tmp_path / "mixed.keras")
    assert "does not cover 1 layer: 'lstm' is called with initial_state mixing tensors and constants" in message, message


# -- the layers path: TF.js's RNN layers take tf_keras's state inputs; what they would run wrongly is refused ------
def _layers_states(k):
    """State inputs TF.js's layers run as Keras does: no mask, one state list per layer."""
    L = k.layers
    x, h, c = k.Input((5, 3), name="x"), k.Input((3,), name="h"), k.Input((3,), name="c")
    _, eh, ec = L.LSTM(3, return_state=True, name="encoder")(x)
    return k.Model([x, h, c], [L.LSTM(3, return_sequences=True, name="decoder")(x, initial_state=[eh, ec]),
                               L.GRU(3, reset_after=False, go_backwards=True, name="gru")(x, initial_state=[h]),
                               L.Bidirectional(L.SimpleRNN(3), name="bi")(x, initial_state=[h, c]),
                               L.RNN(L.LSTMCell(3), name="cell")(x, initial_state=[c, h])])


@pytest.mark.node
def test_tf_keras_state_inputs_convert_to_a_layers_model_that_matches_keras(tmp_path, tfjs_runtime):
    model = _layers_states(pytest.importorskip("tf_keras"))
    randomize(model, 8)
    path, inputs, outputs = save_with_outputs(model, _inputs(model, 9), tmp_path / "states.h5")
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_layers_model")
    from tfjsconv.verify.compare import format_report, verify_model

    expected = dict(zip(["decoder", "gru", "bi", "cell"], outputs, strict=True))
    report = verify_model(tmp_path / "out", inputs, expected, backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


def _layers_refused(k):
    L = k.layers
    x, h, c = k.Input((5, 3), name="x"), k.Input((3,), name="h"), k.Input((3,), name="c")
    if k is keras:  # saved as __numpy__ in the call's kwargs: TF.js fails to load the model
        return keras.Model(x, L.LSTM(3, name="rnn")(x, initial_state=[np.ones((1, 3), "float32")] * 2)), "constants"
    masked = L.GRU(3, reset_after=False, return_sequences=True, name="rnn")(L.Masking(name="mask")(x),
                                                                             initial_state=[h])
    stacked = L.RNN([L.LSTMCell(3), L.SimpleRNNCell(3)], name="stacked")(x, initial_state=[[h, c], h])
    return k.Model([x, h, c], [masked, stacked]), "on a masked sequence"


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_layers_model_refuses_states_tfjs_would_run_wrongly(tmp_path, flavor):
    """Measured in TF.js 4.22: masked steps after given states differ from Keras's, states nested per cell never
    finish running, Keras 3's constant states crash the load. Each is named, with the graph model as the way."""
    model, why = _layers_refused(_module(flavor))
    path = tmp_path / f"refused{FLAVORS[flavor]}"
    model.save(path)
    with pytest.raises(InputError) as info:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_layers_model")
    message = str(info.value)
    assert f"layer 'rnn' ({'LSTM' if flavor.startswith('keras3') else 'GRU'}): called with initial_state {why}" \
        in message, message
    if not flavor.startswith("keras3"):
        assert "layer 'stacked' (RNN): called with initial_state nested per cell" in message, message
    assert "tfjs_graph_model" in message, message


def test_tf_keras_tensor_keyword_arguments_in_a_layers_model_are_refused_by_name(tmp_path):
    """tf_keras saves ``mask=keep`` as ``[layer, node, tensor]`` in the node's kwargs; TF.js 4.22 passes that on
    unresolved and runs the RNN unmasked (measured: silently different numbers, with or without initial states)."""
    k = pytest.importorskip("tf_keras")
    L = k.layers
    x, h, keep = k.Input((5, 3), name="x"), k.Input((3,), name="h"), k.Input((5,), dtype="bool", name="keep")
    model = k.Model([x, h, keep], [L.GRU(3, reset_after=False, name="gru")(x, mask=keep),
                                   L.SimpleRNN(3, name="rnn")(x, initial_state=[h], mask=keep),
                                   L.SimpleRNN(3, name="plain")(x)])
    model.save(tmp_path / "mask.h5")
    with pytest.raises(InputError) as info:
        tfjsconv.convert(tmp_path / "mask.h5", tmp_path / "out", output_format="tfjs_layers_model")
    message = str(info.value)
    assert "uses 2 layer features" in message, message
    for named in ("layer 'gru' (GRU)", "layer 'rnn' (SimpleRNN)"):
        assert f"{named}: called with a tensor as keyword argument 'mask'" in message, message
    assert "tfjs_graph_model" in message, message


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_layers_model_refuses_unmasked_rnns_beside_a_mask(tmp_path, flavor):
    """Measured in TF.js 4.22: with ``y -> Masking -> LSTM`` in the model, a GRU on another input (plain or started
    from state inputs) gave every value off once ``y`` had masked steps; the LSTM the mask reaches matched."""
    k = _module(flavor)
    L = k.layers
    x, y, h = k.Input((5, 3), name="x"), k.Input((5, 3), name="y"), k.Input((3,), name="h")
    model = k.Model([x, y, h], [L.LSTM(3, name="masked")(L.Masking(name="mask")(y)),
                                L.GRU(3, reset_after=False, name="plain")(x),
                                L.SimpleRNN(3, name="started")(x, initial_state=h) if k is not keras else
                                L.SimpleRNN(3, name="started")(L.Dense(3, name="dense")(x))])
    path = tmp_path / f"leak{FLAVORS[flavor]}"
    model.save(path)
    with pytest.raises(InputError) as info:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_layers_model")
    message = str(info.value)
    assert "'masked' (LSTM)" not in message, message
    for named in ("layer 'plain' (GRU)", "layer 'started' (SimpleRNN)"):
        assert f"{named}: runs on an unmasked sequence in a model with a Masking/Embedding mask" in message, message
    assert "tfjs_graph_model" in message, message


def test_keras3_state_tensors_in_a_layers_model_are_refused_with_the_graph_model_hint(tmp_path):
    """Keras 3 keeps state tensors in the call's keywords, which a TF.js layers topology cannot hold."""
    x, h = keras.Input((5, 3), name="x"), keras.Input((3,), name="h")
    keras.Model([x, h], keras.layers.SimpleRNN(3, name="rnn")(x, initial_state=[h])).save(tmp_path / "tensor.keras")
    with pytest.raises(InputError) as info:
        tfjsconv.convert(tmp_path / "tensor.keras", tmp_path / "out", output_format="tfjs_layers_model")
    assert "layer 'rnn' is called with a tensor as keyword argument 'initial_state'" in str(info.value)
    assert "use --output_format=tfjs_graph_model" in str(info.value)


def _dropout_in_training(k):
    x = k.Input((4,), name="x")
    return k.Model(x, k.layers.Dropout(0.5, name="drop")(k.layers.Dense(8, name="dense")(x), training=True))


@pytest.mark.parametrize("called", ["layer", "nested model"])
def test_tf_keras_dropout_called_in_training_is_refused(tmp_path, called):
    """tf_keras keeps a call's ``training=True`` under ``model(x, training=False)``: dropout runs at inference."""
    k = pytest.importorskip("tf_keras")
    if called == "layer":
        model, named = _dropout_in_training(k), "'drop' (Dropout)"
    else:
        x, inner = k.Input((4,), name="x"), _dropout_in_training(k)
        inner = k.Model(inner.input, k.layers.Dropout(0.5, name="drop")(inner.get_layer("dense").output), name="inner")
        model, named = k.Model(x, inner(x, training=True)), "'inner' (Functional)"
    message = _refusal(model, tmp_path / "drop.h5")
    assert f"does not cover 1 layer: {named} called with training=True" in message, message


def _bidirectional_unmerged(k):
    """Both directions of a masked Bidirectional(merge_mode=None), each read by a mask reader."""
    L = k.layers
    a_ids, b_ids = k.Input((6,), dtype="int32", name="a_ids"), k.Input((6,), dtype="int32", name="b_ids")
    a = L.Embedding(9, 4, mask_zero=True, name="emb_a")(a_ids)
    b = L.Embedding(9, 4, mask_zero=True, name="emb_b")(b_ids)
    forward, backward = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode=None, name="bi")(
        L.Multiply(name="mul")([a, b]))
    return k.Model([a_ids, b_ids], [L.GlobalAveragePooling1D(name="gap")(forward), L.LSTM(2, name="lstm")(backward)])


@pytest.mark.node
@pytest.mark.parametrize("case", ["bidirectional-keras3.keras", "bidirectional-tf_keras.h5", "dropout-keras3.keras"])
def test_calls_keras_computes_alike_lower_and_match_keras(tmp_path, tfjs_runtime, case):
    """Bidirectional(merge_mode=None) has two outputs (the graph check used to call the file invalid); Keras 3's
    ``model(x, training=False)`` and ``predict()`` override a saved ``training=True`` (a bare ``model(x)`` applies it)."""
    family, flavor = case.split("-")
    model = (_bidirectional_unmerged if family == "bidirectional" else _dropout_in_training)(_module(flavor))
    randomize(model, 5)
    inputs = _inputs(model, 6)
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / f"{family}{FLAVORS[flavor]}")
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details[-1] == LOWERED  # the Dropout's saved training=True is named too (a bare model(x) applies it)
    _verify(tmp_path / "out", inputs, outputs)
