"""ConvLSTM masks and Bidirectional over ConvLSTMs in the Keras lowering (issue 16).

- ConvLSTM1D/2D/3D given ``mask=`` (a bool ``[batch, T]`` or ``[batch, T, *positions]`` model input, or computed).
- Bidirectional over ConvLSTM1D/2D: every merge mode, return_sequences, return_state, with and without a mask
  (Keras 3 zeroes the masked outputs of a direction that returns sequences; tf_keras's ConvRNN never passes
  ``zero_output_for_mask`` to its ``rnn``, so there they repeat the previous output).

Each model is saved by Keras 3 (``.keras``; ``.h5`` for the unmasked Bidirectional's weights) and tf_keras (``.h5``),
converted in one subprocess with TensorFlow, Keras and tf_keras poisoned, and run in real TF.js (cpu and wasm; the
masked Bidirectional on webgl too) against Keras's own ``model(x, training=False)``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402
from test_keras_lowering_rnn_masks import FLAVORS, _any_not_zero, _inputs  # noqa: E402


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------------
def conv_lstm_given(k):
    """ConvLSTM1D/2D/3D given ``mask=``: a ``[batch, T]`` bool input (broadcast over positions, also past ``valid``
    padding that shrinks them), a ``[batch, T, H, W]`` one, one computed by layers, and one replacing a Masking mask;
    the mask handed on to the next ConvLSTM; ``zero_output_for_mask``."""
    L = k.layers
    x, x1 = k.Input((5, 3, 3, 2), name="x"), k.Input((5, 4, 2), name="x1")
    x3 = k.Input((4, 2, 2, 3, 2), name="x3")
    m, m4 = k.Input((5,), dtype="bool", name="m"), k.Input((4,), dtype="bool", name="m4")
    grid_mask = k.Input((5, 3, 3), dtype="bool", name="grid_mask")
    seq = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="seq2d")(x, mask=m)
    after = L.ConvLSTM2D(2, 2, padding="same", name="after2d")(seq)
    shrunk = L.ConvLSTM2D(2, 2, strides=2, go_backwards=True, name="shrunk2d")(x, mask=m)
    grid = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="grid2d")(x, mask=grid_mask)
    computed = L.ConvLSTM2D(2, 3, padding="same", return_state=True, name="computed2d")(
        x, mask=_any_not_zero(k, x, (2, 3, 4)))
    replaced = L.ConvLSTM2D(2, 1, return_sequences=True, name="replaced2d")(L.Masking(name="masking")(x), mask=m)
    # Keras 3 zeroes the masked outputs; tf_keras's ConvRNN never passes the option to its rnn
    zeroed = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, zero_output_for_mask=True, name="zeroed2d")(
        x, mask=grid_mask)
    one = L.ConvLSTM1D(2, 3, return_sequences=True, go_backwards=True, name="seq1d")(x1, mask=m)
    three = L.ConvLSTM3D(2, 2, padding="same", name="last3d")(x3, mask=m4)
    return k.Model([x, x1, x3, m, m4, grid_mask], [seq, after, shrunk, grid, *computed, replaced, zeroed, one, three])


def bi_conv_lstm(k):
    """Bidirectional(ConvLSTM1D/2D) without a mask: every merge mode, return_sequences, return_state."""
    L = k.layers
    x, x1 = k.Input((4, 3, 3, 2), name="x"), k.Input((5, 4, 2), name="x1")
    concat = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), name="concat")(x)
    summed = L.Bidirectional(L.ConvLSTM2D(2, 2), merge_mode="sum", name="summed")(x)
    ave = L.Bidirectional(L.ConvLSTM1D(2, 3, return_sequences=True), merge_mode="ave", name="ave")(x1)
    mul = L.Bidirectional(L.ConvLSTM1D(3, 2, padding="same", return_state=True), merge_mode="mul", name="mul")(x1)
    pair = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), merge_mode=None,
                           name="pair")(x)
    return k.Model([x, x1], [concat, summed, ave, *mul, *pair])


def bi_conv_lstm_masked(k):
    """Bidirectional(ConvLSTM1D/2D) with a Masking mask (per step and position) and a given ``[batch, T]`` one: a
    masked position keeps each direction's states, and its outputs are zeros when the layer returns sequences
    (Keras 3 forces ``zero_output_for_mask``); the merged sequence hands the mask on. A forward layer that walks
    backwards beside a time-ordered backward one (Keras flips the backward sequence whichever way it walks).
    TimeDistributed over ConvLSTM2D and Bidirectional(ConvLSTM2D) on masked clips reads each clip's mask."""
    L = k.layers
    x, x1, m = k.Input((5, 3, 3, 2), name="x"), k.Input((5, 4, 2), name="x1"), k.Input((5,), dtype="bool", name="m")
    clips = k.Input((3, 3, 2, 2, 2), name="clips")  # [batch, T, inner T, H, W, C]
    masked = L.Masking(name="masking")(x)
    seq = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), name="seq")(masked)
    after = L.ConvLSTM2D(2, 1, name="after")(seq)
    last = L.Bidirectional(L.ConvLSTM2D(2, 2, padding="same", return_state=True), merge_mode="sum", name="last")(
        masked)
    given = L.Bidirectional(L.ConvLSTM1D(2, 3, return_sequences=True), merge_mode="mul", name="given")(x1, mask=m)
    pair = L.Bidirectional(L.ConvLSTM1D(2, 3, padding="same", return_sequences=True), merge_mode=None,
                           name="pair")(L.Masking(name="masking1d")(x1))
    # a forward layer that walks backwards: Keras flips the backward layer's (time-ordered) sequence all the same
    flipped = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, go_backwards=True),
                              backward_layer=L.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
                              name="flipped")(masked)
    masked_clips = L.Masking(name="masking_clips")(clips)  # TimeDistributed hands each clip its own mask
    td_bi = L.TimeDistributed(L.Bidirectional(L.ConvLSTM2D(2, 2, padding="same")), name="td_bi")(masked_clips)
    td_seq = L.TimeDistributed(L.ConvLSTM2D(2, 2, padding="same", return_sequences=True), name="td_seq")(masked_clips)
    return k.Model([x, x1, m, clips], [seq, after, *last, given, *pair, flipped, td_bi, td_seq])


FAMILIES = {"conv_lstm_given": conv_lstm_given, "bi_conv_lstm": bi_conv_lstm, "bi_conv_lstm_masked": bi_conv_lstm_masked}
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS
         if flavor != "keras3.h5" or family == "bi_conv_lstm"]

_save = family_saver(FAMILIES, _inputs, seed=37)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "rnn_masks_conv", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_conv_lstm_masks_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


# -- what stays refused, by name -----------------------------------------------------------------------------------
def test_bidirectional_conv_lstm_mask_of_other_positions_is_refused_by_name(tmp_path):
    """``valid`` padding shrinks the positions below the Masking mask's: Keras fails to run it; named instead."""
    from tfjsconv.errors import UsageError

    L = keras.layers
    x = keras.Input((5, 4, 2), name="x")
    keras.Model(x, L.Bidirectional(L.ConvLSTM1D(2, 3), name="bi")(L.Masking(name="mask")(x))).save(
        tmp_path / "bi.keras")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "bi.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "'bi' (Bidirectional): a mask of shape [None, 5, 4] for outputs of positions [2] (Keras fails on it)" \
        in str(info.value), str(info.value)


@pytest.mark.parametrize("wrapped", [False, True])
def test_conv_lstm_unrolled_over_a_mask_per_position_is_refused_by_name(tmp_path, wrapped):
    """Keras's unrolled rnn tiles a ``[batch, T, H, W]`` mask past the positions and fails to run: named."""
    from tfjsconv.errors import UsageError

    L = keras.layers
    x = keras.Input((4, 3, 3, 2), name="x")
    layer = L.ConvLSTM2D(2, 3, padding="same", unroll=True, name="conv")
    if wrapped:
        layer = L.Bidirectional(layer, name="conv")
    keras.Model(x, layer(L.Masking(name="mask")(x))).save(tmp_path / "unrolled.keras")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "unrolled.keras", tmp_path / "out", output_format="tfjs_graph_model")
    kind = "Bidirectional" if wrapped else "ConvLSTM2D"
    assert f"'conv' ({kind}): a mask of shape [None, 4, 3, 3] per position with unroll=True (Keras fails on it)" \
        in str(info.value), str(info.value)


@pytest.mark.parametrize("inner", ["ConvLSTM2D", "LSTM"])
def test_bidirectional_directions_walking_the_same_way_are_refused(tmp_path, inner):
    """An edited config whose backward layer walks forwards too (Keras refuses to build it): named, not converted."""
    import zipfile

    from tfjsconv.errors import InputError

    L = keras.layers
    x = keras.Input((4, 3, 3, 2) if inner == "ConvLSTM2D" else (4, 3), name="x")
    layer = L.ConvLSTM2D(2, 3, padding="same") if inner == "ConvLSTM2D" else L.LSTM(2)
    keras.Model(x, L.Bidirectional(layer, name="bi")(x)).save(tmp_path / "bi.keras")
    with zipfile.ZipFile(tmp_path / "bi.keras") as src, zipfile.ZipFile(tmp_path / "edited.keras", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                bi = next(la for la in config["config"]["layers"] if la["name"] == "bi")
                assert bi["config"]["backward_layer"]["config"]["go_backwards"] is True
                bi["config"]["backward_layer"]["config"]["go_backwards"] = False
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises(InputError) as info:
        tfjsconv.convert(tmp_path / "edited.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "layer 'bi' (Bidirectional) has forward and backward layers that walk the same way (go_backwards)" in \
        str(info.value), str(info.value)
    assert not (tmp_path / "out").exists()


# -- webgl ------------------------------------------------------------------------------------------------------------
@pytest.mark.node
def test_masked_bidirectional_conv_lstm_on_webgl(converted, browser):
    """The masked Bidirectional(ConvLSTM2D/1D) model on webgl too: rank-4 views for the selects, no rank-5
    ReverseV2 (the backward sequence is packed in time order)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[("bi_conv_lstm_masked", "keras3.keras")]
    out = Path(f"{path}.out")
    graph = json.loads((out / "model.json").read_text())
    assert not any(node["op"] == "ReverseV2" for node in graph["modelTopology"]["node"])
    names = list(graph["signature"]["outputs"])
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("cpu", "wasm", "webgl"),
                          rtol=1e-5, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)
