"""RNN wrappers with masks in the Keras lowering (issue 16): TimeDistributed over RNNs (ConvLSTMs: ``_conv.py``).

- TimeDistributed over Bidirectional and ``RNN(cell)`` with a mask reaching it: Keras 3 hands step ``t``'s
  ``mask[:, t]`` to the wrapped call, tf_keras the mask reshaped to ``[batch·T, ...]``; both read one
  ``[batch, inner steps]`` mask per outer step, which the lowering folds as the input.
- tf_keras's TimeDistributed(Embedding(mask_zero=True)) makes its output's mask (the inner ``compute_mask``, ids != 0,
  reshaped back); Keras 3's makes none (its ``compute_mask`` is the default).

Each model is saved by Keras 3 (``.keras``; ``.h5`` for the nested wrappers' weights) and tf_keras (``.h5``),
converted in one subprocess with TensorFlow, Keras and tf_keras poisoned, and run in real TF.js (cpu and wasm) against
Keras's own ``model(x, training=False)``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402

FLAVORS = ("keras3.keras", "keras3.h5", "tf_keras.h5")


def _any_not_zero(k, x, axes):
    """``any(x != 0)`` over ``axes`` as the flavour records it: Keras 3 operations, or tf_keras's TFOpLambdas."""
    if k is keras:
        return keras.ops.any(keras.ops.not_equal(x, 0.0), axis=axes)
    import tensorflow as tf

    return tf.reduce_any(tf.not_equal(x, 0.0), axis=axes)


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------------
def td_rnns(k):
    """TimeDistributed over Bidirectional (every merge mode) and ``RNN(cell)`` (stacked too) on a Masking mask of a
    ``[batch, T, S, F]`` grid: each outer step's inner sequence is masked per inner step. A masked TimeDistributed's
    output mask reaches a masked mean after it (``[batch, T, S]`` both flavours when the inner layer returns
    sequences; tf_keras reduces it to ``[batch, T]`` otherwise, which an RNN after it reads)."""
    L = k.layers
    grid = k.Input((4, 5, 3), name="grid")
    masked = L.Masking(name="mask_grid")(grid)
    concat = L.TimeDistributed(L.Bidirectional(L.LSTM(2)), name="td_concat")(masked)
    summed = L.TimeDistributed(L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode="sum"), name="td_sum")(
        masked)
    ave = L.TimeDistributed(L.Bidirectional(L.RNN([L.LSTMCell(2), L.GRUCell(3)]), merge_mode="ave"), name="td_ave")(
        masked)
    mul = L.TimeDistributed(L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode="mul"),
                            name="td_mul")(masked)
    cell = L.TimeDistributed(L.RNN(L.SimpleRNNCell(3), return_sequences=True), name="td_cell")(masked)
    stacked = L.TimeDistributed(L.RNN([L.GRUCell(2), L.LSTMCell(2)]), name="td_stacked")(masked)
    outputs = [concat, summed, ave, mul, cell, stacked,
               L.TimeDistributed(L.GlobalAveragePooling1D(), name="mean_after_sum")(summed)]
    if k is not keras:  # Keras 3 hands the [batch, T, S] mask on, which no [batch, steps] reader takes
        outputs.append(L.GRU(2, name="gru_after_concat")(concat))
    return k.Model(grid, outputs)


def td_ids(k):
    """Embedding(mask_zero) on ``[batch, T, S]`` ids, then TimeDistributed(Bidirectional) and TimeDistributed(RNN(cell))
    with the inner steps padded; TimeDistributed(Bidirectional) of an unmasked grid."""
    L = k.layers
    ids, grid = k.Input((3, 6), dtype="int32", name="ids"), k.Input((3, 4, 2), name="grid")
    embedded = L.Embedding(9, 3, mask_zero=True, name="emb")(ids)
    bi = L.TimeDistributed(L.Bidirectional(L.GRU(2, go_backwards=k is not keras, return_sequences=True)),
                           name="td_bi")(embedded)
    cells = L.TimeDistributed(L.RNN(L.LSTMCell(2), go_backwards=True), name="td_cells")(embedded)
    plain = L.TimeDistributed(L.Bidirectional(L.LSTM(2, return_sequences=True), merge_mode="ave"), name="td_plain")(
        grid)
    return k.Model([ids, grid], [bi, cells, plain])


def td_mask_makers(k):
    """TimeDistributed(Embedding(mask_zero)) and TimeDistributed(Masking) of rank-3/4 inputs: tf_keras's make their
    output's mask per step (the inner ``compute_mask``, reshaped back), which the readers after them use; Keras 3's
    make none (the readers after them run unmasked, or on the input's mask)."""
    L = k.layers
    ids, seq = k.Input((3, 6), dtype="int32", name="ids"), k.Input((4, 5, 3), name="seq")
    embedded = L.TimeDistributed(L.Embedding(9, 3, mask_zero=True), name="td_emb")(ids)
    remasked = L.TimeDistributed(L.Masking(), name="td_masking")(seq)
    return k.Model([ids, seq], [
        embedded, L.TimeDistributed(L.LSTM(2), name="td_lstm")(embedded),
        L.TimeDistributed(L.Bidirectional(L.GRU(2, return_sequences=True)), name="td_bi")(embedded),
        L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_mean")(embedded),
        L.TimeDistributed(L.GRU(2), name="td_gru")(remasked)])


FAMILIES = {"td_rnns": td_rnns, "td_ids": td_ids, "td_mask_makers": td_mask_makers}
#: Keras 3's ``.h5`` where it keeps weights apart (the nested wrappers' groups); the rest as ``.keras`` and tf_keras's
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS if flavor != "keras3.h5" or family == "td_rnns"]


def _padded(rng: np.random.Generator, ids: np.ndarray) -> np.ndarray:
    """Zeros (padding) in the inner steps: leading, trailing, every other one, a whole inner sequence, by row."""
    patterns = [lambda r: r.__setitem__(slice(0, 2), 0), lambda r: r.__setitem__(slice(-2, None), 0),
                lambda r: r.__setitem__(slice(1, None, 2), 0), lambda r: r.__setitem__(slice(None), 0)]
    for index in np.ndindex(*ids.shape[:-1]):
        if rng.random() < 0.8:
            patterns[int(rng.integers(len(patterns)))](ids[index])
    return ids


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    """Ids padded per inner sequence; bool masks with a fully masked row and a masked first step; float steps zeroed
    at the start, in the middle, at the end, a whole row and (grids) single inner steps and positions."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape, name = (4, *tuple(t.shape)[1:]), t.name.split(":")[0]
        dtype = str(getattr(t.dtype, "name", t.dtype))
        if "int" in dtype:
            inputs[name] = _padded(rng, rng.integers(1, 9, shape).astype("int32"))
        elif dtype == "bool":
            value = rng.random(shape) > 0.35
            value[1] = False
            value[0, 0] = False
            value[2, 0] = True
            inputs[name] = value
        else:
            value = rng.standard_normal(shape).astype("float32")
            value[0, :2] = 0
            value[1, 2:4] = 0
            value[2, -1] = 0
            value[3] = 0
            if len(shape) >= 4:  # inner steps / positions
                value[0, 2, 0] = 0
                value[1, 1, -1] = 0
                value[2, 0, 1:3] = 0
            if len(shape) >= 6:  # clips of grids, 3-D grids: single positions
                value[1, 0, 1, 0] = 0
                value[2, 1, -1, -1, -1] = 0
            inputs[name] = value
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=31)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "rnn_masks", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_rnn_wrappers_with_masks_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


# -- what stays refused, by name -----------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["merge_mode", "return_state"])
def test_time_distributed_over_several_outputs_is_a_gap(option):
    """Keras fails to build TimeDistributed over a layer that returns a list (Bidirectional's merge_mode=None,
    return_state): a config saying so is named, not guessed."""
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    grid = keras.Input((4, 5, 3), name="grid")
    config = json.loads(keras.Model(grid, L.TimeDistributed(L.Bidirectional(L.LSTM(2)), name="td_pair")(grid)).to_json())
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "TimeDistributed":
            wrapped = layer["config"]["layer"]["config"]
            if option == "merge_mode":
                wrapped["merge_mode"] = None
            else:
                for key in ("layer", "backward_layer"):
                    wrapped[key]["config"]["return_state"] = True
    assert layer_gaps(config) == ["'td_pair' (TimeDistributed: a wrapped Bidirectional that returns several tensors)"]
