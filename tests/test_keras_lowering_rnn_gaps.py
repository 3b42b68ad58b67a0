"""Bidirectional(RNN(cell)) in the Keras lowering (issue 16).

``Bidirectional`` over ``RNN`` with a built-in cell (SimpleRNNCell, LSTMCell, GRUCell) or stacked cells runs each
direction as the RNN lowering does: every merge_mode, return_sequences, return_state, go_backwards on the wrapped
layer, masks (Embedding ``mask_zero`` and Masking, with padding at the start, in the middle, at the end and a fully
masked row) and ``initial_state``. Each model, saved by Keras 3 (``.keras``, ``.h5``) and tf_keras (``.h5``), is
converted with TensorFlow, Keras and tf_keras poisoned and runs in real TF.js (cpu and wasm) against Keras's
``model(x, training=False)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402
from test_keras_lowering_masks import _padded_ids  # noqa: E402

FLAVORS = ("keras3.keras", "keras3.h5", "tf_keras.h5")


def _flat(tensors) -> list:
    """Keras 3 nests a stacked RNN's states per cell; the model's outputs are flat."""
    return [t for item in tensors for t in (_flat(item) if isinstance(item, (list, tuple)) else [item])]


def _backwards(k) -> bool:
    """go_backwards on the wrapped layer: tf_keras flips it for the backward copy; Keras 3 rejects it (its backward
    copy always walks backwards, so both would)."""
    return k is not keras


# -- models (``k`` is keras or tf_keras) --------------------------------------------------------------------------
def merges(k):
    """Every merge_mode, single and stacked cells, return_state, go_backwards on the wrapped RNN; no mask."""
    L, back = k.layers, _backwards(k)
    x = k.Input((5, 3), name="x")
    concat = L.Bidirectional(L.RNN(L.SimpleRNNCell(3), return_sequences=True), name="concat")(x)
    summed = L.Bidirectional(L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_state=True), merge_mode="sum",
                             name="summed")(x)
    ave = L.Bidirectional(L.RNN(L.GRUCell(3, reset_after=False), go_backwards=back, return_sequences=True),
                          merge_mode="ave", name="ave")(x)
    mul = L.Bidirectional(L.RNN(L.LSTMCell(2)), merge_mode="mul", name="mul")(x)
    pair = L.Bidirectional(L.RNN([L.GRUCell(2), L.SimpleRNNCell(3)], return_sequences=True, go_backwards=back),
                           merge_mode=None, name="pair")(x)
    return k.Model(x, [concat, *_flat(summed), ave, mul, *pair])


def masked_ids(k):
    """Embedding(mask_zero): both directions keep their states over masked steps and zero those outputs; the
    merged sequence keeps the mask for the layers after it."""
    L, back = k.layers, _backwards(k)
    ids = k.Input((6,), dtype="int32", name="ids")
    x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    seq = L.Bidirectional(L.RNN(L.LSTMCell(3), return_sequences=True), name="seq")(x)
    pooled = L.GlobalAveragePooling1D(name="pooled")(seq)
    after = L.LSTM(2, name="after")(seq)  # reads the mask the Bidirectional hands on
    stacked = L.Bidirectional(L.RNN([L.GRUCell(3), L.SimpleRNNCell(2)], return_sequences=True, go_backwards=back),
                              merge_mode=None, name="stacked")(x)
    last = L.Bidirectional(L.RNN([L.SimpleRNNCell(2), L.LSTMCell(3)], return_state=True), merge_mode="ave",
                           name="last")(x)
    return k.Model(ids, [seq, pooled, after, *stacked, *_flat(last)])


def masked_floats(k):
    """Masking on float steps (zero steps at the start, middle, end, a whole row)."""
    L, back = k.layers, _backwards(k)
    x = k.Input((6, 3), name="steps")
    masked = L.Masking(name="masking")(x)
    seq = L.Bidirectional(L.RNN(L.GRUCell(3), return_sequences=True), merge_mode="mul", name="seq")(masked)
    state = L.Bidirectional(L.RNN(L.SimpleRNNCell(2), go_backwards=back, return_state=True), name="state")(masked)
    return k.Model(x, [seq, *state, L.GlobalAveragePooling1D(name="pooled")(seq)])


def states(k):
    """``initial_state``, split in halves between the directions (and per cell of stacked cells), masked too."""
    L = k.layers
    x, ids = k.Input((5, 3), name="x"), k.Input((5,), dtype="int32", name="ids")
    h, c, g = k.Input((3,), name="h"), k.Input((3,), name="c"), k.Input((2,), name="g")
    lstm = L.Bidirectional(L.RNN(L.LSTMCell(3), return_sequences=True), name="lstm")(x, initial_state=[h, c, c, h])
    gru = L.Bidirectional(L.RNN(L.GRUCell(2), return_state=True), merge_mode="sum", name="gru")(x, initial_state=[g, g])
    embedded = L.Embedding(9, 3, mask_zero=True, name="emb")(ids)
    masked = L.Bidirectional(L.RNN(L.SimpleRNNCell(3), return_sequences=True), name="masked")(
        embedded, initial_state=[h, c])
    return k.Model([x, ids, h, c, g], [lstm, *gru, masked])


def stacked_states(k):
    """Stacked cells started from given states, nested per cell (Keras fails on a flat list with an LSTMCell)."""
    L = k.layers
    x, h, c, g = k.Input((5, 3), name="x"), k.Input((3,), name="h"), k.Input((3,), name="c"), k.Input((2,), name="g")
    out = L.Bidirectional(L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_sequences=True), name="stacked")(
        x, initial_state=[[h, c], g, [c, h], g])
    return k.Model([x, h, c, g], out)


def shared_cell(k):
    """``RNN([cell, cell])``: one cell object run twice per step; Keras 3's Bidirectional rebuilds both directions
    from the config, so each keeps two cells of one name, saved apart (Keras cannot save this as ``.h5``)."""
    L = k.layers
    ids = k.Input((6,), dtype="int32", name="ids")
    cell = L.GRUCell(4)
    x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    out = L.Bidirectional(L.RNN([cell, cell], return_sequences=True, return_state=True), name="shared")(x)
    return k.Model(ids, _flat(out))


def conv_lstm_masked(k):
    """Masking before ConvLSTM1D/2D/3D: Keras masks per step and position (``any`` over the channels), each
    masked position keeping its states; go_backwards, return_state, and the mask handed on to the next one."""
    L = k.layers
    x1, x2, x3 = k.Input((5, 4, 2), name="x1"), k.Input((5, 3, 3, 2), name="x2"), k.Input((4, 2, 2, 3, 2), name="x3")
    seq1 = L.ConvLSTM1D(2, 3, padding="same", return_sequences=True, name="lstm1d")(L.Masking(name="mask1")(x1))
    point1 = L.ConvLSTM1D(3, 1, go_backwards=True, name="point1d")(seq1)  # valid padding over a kernel of 1
    masked2 = L.Masking(name="mask2")(x2)
    seq2 = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, go_backwards=True, name="lstm2d")(masked2)
    state2 = L.ConvLSTM2D(2, 2, padding="same", return_state=True, name="state2d")(seq2)
    seq3 = L.ConvLSTM3D(2, 2, padding="same", return_sequences=True, name="lstm3d")(L.Masking(name="mask3")(x3))
    return k.Model([x1, x2, x3], [seq1, point1, seq2, *state2, seq3])


FAMILIES = {"merges": merges, "masked_ids": masked_ids, "masked_floats": masked_floats, "states": states,
            "stacked_states": stacked_states, "shared_cell": shared_cell, "conv_lstm_masked": conv_lstm_masked}
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS
         if family != "shared_cell" or flavor == "keras3.keras"]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    """Ids padded at the start, in the middle, at the end and a whole row (zeros); float steps zeroed likewise."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for i, t in enumerate(model.inputs):
        shape, name = (4, *tuple(t.shape)[1:]), t.name.split(":")[0]
        if "int" in str(getattr(t.dtype, "name", t.dtype)):
            inputs[name] = _padded_ids(rng, shape, i)
            continue
        value = rng.standard_normal(shape).astype("float32")
        if len(shape) >= 3:  # a sequence: masked steps where Masking looks
            value[0, :2] = 0
            value[1, 2:4] = 0
            value[2, -2:] = 0
            value[3] = 0
        if len(shape) >= 4:  # ConvLSTM: single positions masked too
            value[0, 2, 0] = 0
            value[1, 1, -1] = 0
        inputs[name] = value
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=23)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "rnn_gaps", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_rnn_gaps_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


# -- what stays refused, by name ---------------------------------------------------------------------------------
def test_conv_lstm_mask_of_other_positions_is_refused_by_name(tmp_path):
    """``valid`` padding shrinks the positions below the mask's: Keras builds and saves the model but fails to run
    it (its ``where`` cannot broadcast the mask), so the lowering names it instead of guessing."""
    from tfjsconv.errors import UsageError

    L = keras.layers
    x = keras.Input((5, 4, 2), name="x")
    keras.Model(x, L.ConvLSTM1D(2, 3, return_sequences=True, name="valid")(L.Masking(name="mask")(x))).save(
        tmp_path / "valid.keras")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "valid.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "does not cover 1 layer: 'valid' (ConvLSTM1D): a mask of shape [None, 5, 4] for outputs of positions [2] (Keras fails on " \
           "it)" in str(info.value), str(info.value)
    assert "--loader=tensorflow" in str(info.value.hint)
    assert not (tmp_path / "out").exists()


def test_bidirectional_rnn_of_a_custom_cell_stays_a_gap():
    """Only the built-in cells are lowered; a custom cell (code) inside Bidirectional is named."""
    import json

    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    x = keras.Input((5, 3), name="x")
    config = json.loads(keras.Model(x, L.Bidirectional(L.RNN(L.SimpleRNNCell(2)), name="bi")(x)).to_json())
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Bidirectional":
            for key in ("layer", "backward_layer"):
                layer["config"][key]["config"]["cell"]["class_name"] = "MinimalRNNCell"
    assert layer_gaps(config) == ["'bi' (Bidirectional: a MinimalRNNCell cell)"]


# -- webgl ----------------------------------------------------------------------------------------------------------
@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_fully_masked_mean_is_nan_on_webgl_too(flavor, browser, tmp_path, caplog):
    """GlobalAveragePooling1D over a fully masked row is ``0 / 0``, NaN in Keras; webgl's division shader returned 1
    when both sides are equal, so the lowering selects that row's NaN itself (a NaN in a kept step stays NaN too),
    and no special-values notice names the guarded division."""
    import json

    from test_keras_lowering import _module
    from tfjsconv.verify.compare import format_report, verify_model

    k = _module(flavor)
    L = k.layers
    x = k.Input((5, 3), name="x")
    masked = L.Masking(name="mask")(x)
    model = k.Model(x, [L.GlobalAveragePooling1D(name="gap")(masked),
                        L.GlobalAveragePooling1D(keepdims=True, name="kept")(masked)])
    value = np.random.default_rng(5).standard_normal((4, 5, 3)).astype("float32")
    value[1] = 0  # fully masked
    value[2, 3:] = 0
    value[3, :4] = 0
    value[3, 4] = [np.nan, 1.0, np.inf]  # one kept step: NaN / 1, 1 / 1, Inf / 1
    expected = [np.asarray(t) for t in model(value, training=False)]
    assert np.isnan(expected[0][1]).all()
    model.save(tmp_path / f"gap{flavor[flavor.index('.'):]}")
    with caplog.at_level("WARNING"):
        result = tfjsconv.convert(tmp_path / f"gap{flavor[flavor.index('.'):]}", tmp_path / "out",
                                  output_format="tfjs_graph_model")
    assert not any("RealDiv" in notice for notice in result.notices), result.notices
    assert "NaN value" not in caplog.text  # the NaN is computed, not a weight the writer warns about
    names = list(json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(tmp_path / "out", {"x": value}, dict(zip(names, expected, strict=True)),
                          backends=("cpu", "wasm", "webgl"), rtol=1e-5, atol=1e-6, browser_session=browser)
    assert report.passed, format_report(report)
