"""``unroll=True`` RNNs with a mask whose masked outputs are zeroed (Bidirectional returning sequences sets
``zero_output_for_mask``), found by session 21's layer-option probe (helper H1).

Keras's unrolled ``rnn`` (tf_keras ``backend.rnn``, Keras 3's TensorFlow backend alike) repeats the previous output at
a masked step, stacks the outputs in the order walked, then zeroes them with the mask in the input's order: walking
backwards, the output of input step ``T - 1 - i`` is zeroed by input step ``i``'s mask. Its while loop
(``unroll=False``) zeroes each step by its own mask, which the lowering computed for both, so every
``Bidirectional(GRU/LSTM/SimpleRNN(unroll=True, return_sequences=True))`` over a mask differed from ``model(x)``
by 40-130% of the range on the masked rows, silently. Checked against Keras's ``model(x)`` in TF.js cpu and wasm:
Bidirectional over each layer kind, a layer walking backwards alone, stacked cells, Keras 3 ConvLSTM1D, tf_keras ``.h5`` and Keras 3
``.keras``; and that ``unroll=False`` (zeroed step by step) still matches.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from keras_models import keras_module, randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

IDS = np.array([[2, 4, 0, 4, 0, 0], [1, 2, 1, 3, 0, 0], [0, 0, 3, 1, 2, 4], [3, 0, 0, 0, 0, 1]], np.int32)


def _model(k, unroll: bool):
    L = k.layers
    ids = k.Input((6,), dtype="int32", name="ids")
    e = L.Embedding(5, 3, mask_zero=True, name="embed")(ids)
    outputs = [L.Bidirectional(getattr(L, kind)(3, unroll=unroll, return_sequences=True, name=f"{kind.lower()}"),
                               merge_mode=merge, name=f"bidi_{kind.lower()}")(e)
               for kind, merge in (("GRU", "concat"), ("LSTM", "sum"), ("SimpleRNN", "mul"))]
    outputs.append(L.GRU(2, unroll=unroll, go_backwards=True, return_sequences=True, zero_output_for_mask=True,
                         name="backwards_gru")(e))
    outputs.append(L.RNN([L.GRUCell(2), L.LSTMCell(3)], unroll=unroll, go_backwards=True, return_sequences=True,
                         zero_output_for_mask=True, name="stacked")(e))
    return k.Model(ids, outputs)


@pytest.mark.node
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "looped"])
@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.keras"])
def test_masked_outputs_zeroed_as_keras_zeroes_them(tmp_path, tfjs_runtime, flavor, unroll):
    k, suffix = keras_module(flavor), flavor.split(".")[1]
    model = _model(k, unroll)
    randomize(model, 21)
    path, inputs, outputs = save_with_outputs(model, {"ids": IDS}, tmp_path / f"m.{suffix}")
    if unroll:  # the quirk shows: the backward half differs from the looped form's
        looped = _model(k, False)
        looped.set_weights(model.get_weights())
        assert not np.allclose(np.asarray(looped(IDS)[0]), outputs[0], atol=1e-3)
    convert_poisoned([path])
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
def test_keras3_conv_lstm_unrolled_zeroes_as_keras(tmp_path, tfjs_runtime):
    """Keras 3's ConvLSTM passes ``zero_output_for_mask`` to the same ``rnn`` (tf_keras's ConvRNN does not): a
    Bidirectional and a backwards ConvLSTM1D given a ``[batch, steps]`` mask."""
    import keras

    L = keras.layers
    x, m = keras.Input((5, 4, 2), name="x"), keras.Input((5,), dtype="bool", name="m")
    model = keras.Model([x, m], [
        L.Bidirectional(L.ConvLSTM1D(2, 3, padding="same", unroll=True, return_sequences=True))(x, mask=m),
        L.ConvLSTM1D(2, 3, padding="same", unroll=True, go_backwards=True, return_sequences=True,
                     zero_output_for_mask=True)(x, mask=m)])
    randomize(model, 3)
    inputs = {"x": np.random.default_rng(1).standard_normal((3, 5, 4, 2)).astype("float32"),
              "m": np.array([[1, 1, 0, 1, 0], [1, 1, 1, 0, 0], [0, 1, 1, 1, 1]], bool)}
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / "conv.keras")
    convert_poisoned([path])
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_unrolled_zeroing_over_a_run_time_length_is_refused(tmp_path):
    """Review R1: a tf_keras time_major layer unrolls over the Input's fixed first axis, which the lowering reads at
    run time, where its while loop zeroes each step by its own mask (0.82 off on the masked rows): refused by name."""
    tf_keras = pytest.importorskip("tf_keras")
    from keras_models import lowering_refusal

    L = tf_keras.layers
    ids = tf_keras.Input(batch_shape=(6, None), dtype="int32", name="ids")
    e = L.Embedding(5, 3, mask_zero=True)(ids)
    y = L.SimpleRNN(2, time_major=True, unroll=True, go_backwards=True, return_sequences=True,
                    zero_output_for_mask=True, name="rnn")(e)
    tf_keras.Model(ids, y).save(tmp_path / "m.h5")
    assert "'rnn' (SimpleRNN): unroll=True with zero_output_for_mask and a mask over a length the lowering reads " \
           "only at run time" in lowering_refusal(tmp_path / "m.h5")
