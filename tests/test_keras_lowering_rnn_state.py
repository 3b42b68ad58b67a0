"""Call arguments the Keras lowering does not implement are refused by name, never dropped (issue 16 review).

An RNN called with ``initial_state`` (tensors, or a constant Keras 3 saves as ``__numpy__``) would start from
zeros if the lowering ignored it; tf_keras runs a ``Dropout(x, training=True)`` call at inference too. Each such
file must be refused, naming the layer. Models Keras computes the same way are lowered and run in real TF.js
(cpu and wasm) against Keras's ``model(x, training=False)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from keras_models import randomize, save_with_outputs  # noqa: E402
from tfjsconv.errors import UsageError  # noqa: E402
from test_keras_lowering import LOWERED, _module, _verify  # noqa: E402
from test_keras_lowering_masks import _inputs  # noqa: E402

FLAVORS = {"keras3.keras": ".keras", "tf_keras.h5": ".h5"}


def _with_state(k, kind: str):
    L = k.layers
    x, h, c = k.Input((5, 3), name="x"), k.Input((2,), name="h"), k.Input((2,), name="c")
    if kind == "GRU":
        return k.Model([x, h], L.GRU(2, name="rnn")(x, initial_state=h))
    if kind == "LSTM":
        return k.Model([x, h, c], L.LSTM(2, name="rnn")(x, initial_state=[h, c]))
    if kind == "Bidirectional":
        return k.Model([x, h, c], L.Bidirectional(L.SimpleRNN(2), name="rnn")(x, initial_state=[h, c]))
    return k.Model([x, h], L.RNN(L.GRUCell(2), name="rnn")(x, initial_state=[h]))


def _refusal(model, path: Path) -> str:
    model.save(path)
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(path, path.with_suffix(".out"), output_format="tfjs_graph_model")
    return str(info.value)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("kind", ["GRU", "LSTM", "Bidirectional", "RNN"])
def test_initial_state_tensors_are_refused_by_name(tmp_path, flavor, kind):
    message = _refusal(_with_state(_module(flavor), kind), tmp_path / f"state{FLAVORS[flavor]}")
    assert "does not cover 1 layer(s): layer 'rnn'" in message, message
    assert "initial_state" in message or "tensors as keyword arguments" in message, message


def test_keras3_constant_initial_state_is_refused_not_dropped(tmp_path):
    """Keras 3 saves a constant initial state as a ``__numpy__`` keyword value, which the lowering used to drop."""
    x = keras.Input((5, 3), name="x")
    model = keras.Model(x, keras.layers.GRU(2, name="gru")(x, initial_state=[np.ones((1, 2), "float32")]))
    message = _refusal(model, tmp_path / "constant.keras")
    assert "layer 'gru' (GRU) called with initial_state=" in message, message


def _dropout_in_training(k):
    x = k.Input((4,), name="x")
    return k.Model(x, k.layers.Dropout(0.5, name="drop")(k.layers.Dense(8, name="dense")(x), training=True))


@pytest.mark.parametrize("called", ["layer", "nested model"])
def test_tf_keras_dropout_called_in_training_is_refused(tmp_path, called):
    """tf_keras keeps a call's ``training=True`` under ``model(x, training=False)``: dropout runs at inference."""
    k = pytest.importorskip("tf_keras")
    if called == "layer":
        model, named = _dropout_in_training(k), "layer 'drop' (Dropout)"
    else:
        x, inner = k.Input((4,), name="x"), _dropout_in_training(k)
        inner = k.Model(inner.input, k.layers.Dropout(0.5, name="drop")(inner.get_layer("dense").output), name="inner")
        model, named = k.Model(x, inner(x, training=True)), "layer 'inner' (Functional)"
    message = _refusal(model, tmp_path / "drop.h5")
    assert f"{named} called with training=True" in message, message


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
    """Bidirectional(merge_mode=None) has two outputs (the graph check used to call the file invalid); Keras 3
    overrides a saved ``training=True`` with the model call's ``training=False``."""
    family, flavor = case.split("-")
    model = (_bidirectional_unmerged if family == "bidirectional" else _dropout_in_training)(_module(flavor))
    randomize(model, 5)
    inputs = _inputs(model, 6)
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / f"{family}{FLAVORS[flavor]}")
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details == [LOWERED]
    _verify(tmp_path / "out", inputs, outputs)
