"""float16/float64 layers inside Bidirectional and TimeDistributed, float16/float64 spectrograms (session 23, H4).

The lowering refused a TimeDistributed over a float16/float64 layer by name, lowered a Bidirectional's float16 or
float64 LSTM silently in float32 (no notice; a float16 Bidirectional around a float32 LSTM had its weights rounded,
1.2e-4 off), rounded each op of tf_keras's float16 TimeDistributed around a float32 Dense (Keras computes it in
float32: 2.2e-4 off), and refused Keras 3's float16 STFTSpectrogram/MelSpectrogram and float64 STFTSpectrogram.
The policy Keras computes a wrapped layer in (:func:`tfjsconv.plugins.keras.lowering.float_widths.width_view`):

- Keras 3's TimeDistributed runs ``layer.call`` in its own autocast scope: the wrapper's policy (a float32 wrapper
  around a mixed_float16 Dense computes in float32), but for RNNs, whose cells autocast themselves;
- Bidirectional and tf_keras's TimeDistributed call the layer: its own policy, on inputs the wrapper cast first
  (a float16 wrapper around a float32 layer: float32 on float16 inputs, Keras 3's Bidirectional casting the result).

Dense/Conv2D wrapped, float16 wrappers around float32 layers and the spectrograms give Keras's numbers; wrapped
float16 RNNs are as far from Keras as the traced path (float16's precision, named in the notice). float16 Elu/Selu
follow TF's kernels' float16 steps (R2's session 22 finding: tiny negatives gave x where Keras gives 0).

Keras 3 (``.keras``, ``.h5``) and tf_keras (``.h5``), converted with TensorFlow, Keras and tf_keras poisoned, run in
TF.js cpu and wasm against ``model(x)``.
"""
from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import keras_module  # noqa: E402
from keras_two_sizes import (converted_fixture, each_case, scaled_saver, signature_dtypes, under_policy,  # noqa: E402
                             verify_runs, verify_runs_within)
from test_keras_lowering import case_file  # noqa: E402

ALL_FLAVORS = ["keras3.keras", "keras3.h5", "tf_keras.h5"]
KERAS3 = ["keras3.keras", "keras3.h5"]


def wrapped_dense_conv(k: Any) -> Any:
    """TimeDistributed over float16/mixed_float16/float64 Dense and Conv2D, a float16 TimeDistributed over a float32
    Dense, and both under the global policies."""
    L = k.layers
    seq, clips = k.Input((4, 6), name="seq"), k.Input((3, 6, 6, 2), name="clips")
    outputs = [L.TimeDistributed(L.Dense(5, dtype="mixed_float16"), name="td_mixed")(seq),
               L.TimeDistributed(L.Dense(4, activation="relu", dtype="float16"), name="td_half")(seq),
               L.TimeDistributed(L.Conv2D(3, 3, dtype="mixed_float16"), name="td_conv")(clips),
               L.TimeDistributed(L.Dense(5), dtype="mixed_float16", name="td_outer")(seq),
               L.TimeDistributed(L.Dense(3, dtype="float64"), name="td_wide")(seq)]
    outputs.append(under_policy(k, "mixed_float16", lambda: L.TimeDistributed(L.Dense(3), name="g_td")(seq)))
    outputs.append(under_policy(k, "float64", lambda: L.TimeDistributed(L.Dense(3), name="g_wide")(seq)))
    return k.Model([seq, clips], outputs)


def wrapped_norms(k: Any) -> Any:
    """Normalizations in TimeDistributed: Keras 3's float32 wrapper around a mixed_float16 one computes in float32 and
    casts the result (inputs as given); a float16 wrapper casts the inputs, a LayerNormalization's too."""
    L = k.layers
    seq = k.Input((4, 6), name="seq")
    outputs = [L.TimeDistributed(L.LayerNormalization(dtype="mixed_float16"), name="td_ln")(seq),
               L.TimeDistributed(L.BatchNormalization(dtype="mixed_float16"), name="td_bn")(seq),
               L.TimeDistributed(L.LayerNormalization(), dtype="mixed_float16", name="td_outer_ln")(seq)]
    outputs.append(under_policy(k, "mixed_float16", lambda: L.TimeDistributed(L.LayerNormalization(),
                                                                                       name="g_ln")(seq)))
    return k.Model(seq, outputs)


def float16_bidirectional_of_float32(k: Any) -> Any:
    """A mixed_float16 Bidirectional around a float32 LSTM: float32 on float16 inputs (Keras 3 casts the result)."""
    seq = k.Input((4, 3), name="seq")
    return k.Model(seq, k.layers.Bidirectional(k.layers.LSTM(3), dtype="mixed_float16", name="bi_outer")(seq))


def wrapped_rnns(k: Any) -> Any:
    """float16/float64 RNNs in Bidirectional and TimeDistributed: float16's within its precision, as traced."""
    L = k.layers
    seq, seqs = k.Input((4, 3), name="seq"), k.Input((3, 4, 6), name="seqs")
    outputs = [L.Bidirectional(L.LSTM(3, dtype="mixed_float16"), name="bi_lstm")(seq),
               L.Bidirectional(L.GRU(3, return_sequences=True, dtype="float16"), name="bi_gru")(seq),
               L.Bidirectional(L.LSTM(3, dtype="float64"), name="bi_wide")(seq),
               L.TimeDistributed(L.LSTM(3, dtype="mixed_float16"), name="td_lstm")(seqs)]
    outputs.append(under_policy(k, "mixed_float16", lambda: L.Bidirectional(L.LSTM(3), name="g_bi")(seq)))
    return k.Model([seq, seqs], outputs)


def spectrograms(k: Any) -> Any:
    """Keras 3's STFTSpectrogram (float16, mixed_float16, float64) and MelSpectrogram (float16, mixed_float16)."""
    L = k.layers
    audio, mono = k.Input((64, 1), name="audio"), k.Input((128,), name="mono")
    stft = dict(frame_length=16, frame_step=8, fft_length=16)
    mel = dict(fft_length=32, sequence_stride=8, sequence_length=32, num_mel_bins=8, sampling_rate=8000)
    return k.Model([audio, mono], [
        L.STFTSpectrogram(mode="log", dtype="float16", name="stft_half", **stft)(audio),
        L.STFTSpectrogram(mode="psd", dtype="mixed_float16", name="stft_mixed", **stft)(audio),
        L.STFTSpectrogram(mode="magnitude", dtype="float64", name="stft_wide", **stft)(audio),
        L.MelSpectrogram(dtype="float16", name="mel_half", **mel)(mono),
        L.MelSpectrogram(power_to_db=False, dtype="mixed_float16", name="mel_mixed", **mel)(mono)])


def elu_selu(k: Any) -> Any:
    """float16 Elu/Selu: TF's kernels round exp(x) before subtracting 1 (a tiny negative x gives 0, not x) and hold
    Selu's constants in float16 (R2's session 22 finding: 2.4x the range off at 1e-5 inputs)."""
    L = k.layers
    x = k.Input((8,), name="x")
    return k.Model(x, [L.Dense(6, activation="elu", dtype="mixed_float16", name="elu")(x),
                       L.Dense(6, activation="selu", dtype="float16", name="selu")(x),
                       L.ELU(dtype="mixed_float16", name="elu_layer")(x)])


FAMILIES = {"wrapped_dense_conv": wrapped_dense_conv, "bi_outer": float16_bidirectional_of_float32,
            "wrapped_rnns": wrapped_rnns, "spectrograms": spectrograms, "elu_selu": elu_selu,
            "wrapped_norms": wrapped_norms}
#: Each family's input scales (standard normal times these); tiny ones reach Elu's rounded exp(x).
SCALES = {family: (1e-5, 1.0) if family == "elu_selu" else (1.0, 8.0) for family in FAMILIES}


EXACT_CASES = [(f, v) for f in ("wrapped_dense_conv", "bi_outer", "elu_selu") for v in ALL_FLAVORS] + \
    [(f, v) for f in ("spectrograms", "wrapped_norms") for v in KERAS3]
#: tf_keras's float16 LayerNormalization rounds in other steps (as unwrapped: session 22's tests)
APPROXIMATE_CASES = [("wrapped_rnns", v) for v in ALL_FLAVORS] + [("wrapped_norms", "tf_keras.h5")]
converted = converted_fixture("float_wrappers_k23", EXACT_CASES + APPROXIMATE_CASES,
                              scaled_saver(FAMILIES, 231, SCALES.__getitem__))


@pytest.mark.node
@each_case(EXACT_CASES)
def test_wrapped_float16_and_float64_layers_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
    assert signature_dtypes(path) == {"DT_FLOAT"}


@pytest.mark.node
@each_case(APPROXIMATE_CASES)
def test_wrapped_float16_rnns_are_within_float16_precision(converted, tfjs_runtime, family, flavor):
    """Within 1e-2 of the largest value, elements below 1e-2 of it not held to the relative rule (the traced path is
    as far: 1.1e-3 for the TimeDistributed LSTM, 4e-4 for the Bidirectional GRU)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs_within(path, runs)


def test_wrapped_widths_are_named_by_the_policy_keras_computes_them_in(tmp_path):
    """The notice names each wrapper with its wrapped class, under the width Keras computes it in: Keras 3's float32
    TimeDistributed over a mixed_float16 Dense computes in float32 (not named)."""
    import tfjsconv

    L = keras.layers
    seq = keras.Input((4, 3), name="seq")
    keras.Model(seq, [L.Bidirectional(L.LSTM(2, dtype="mixed_float16"), name="bi_lstm")(seq),
                      L.Bidirectional(L.LSTM(2, dtype="float64"), name="bi_wide")(seq),
                      L.TimeDistributed(L.Dense(2, dtype="mixed_float16"), name="td_f32")(seq),
                      L.TimeDistributed(L.Dense(2), dtype="mixed_float16", name="td_half")(seq)]
                ).save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    wide = [n for n in result.details if "Keras computes in float64" in n]
    half = [n for n in result.details if "Keras computes in float16" in n]
    assert len(wide) == 1 and wide[0].endswith(": bi_wide (Bidirectional of LSTM)"), result.details
    assert len(half) == 1 and half[0].endswith(": bi_lstm (Bidirectional of LSTM), td_half (TimeDistributed of Dense)"), \
        result.details


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_wrapped_bfloat16_layers_stay_gaps_by_name(tmp_path, flavor):
    """A Bidirectional's bfloat16 LSTM was lowered in float32 without a word; now named beside the TimeDistributed's."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    k = keras_module(flavor)
    L = k.layers
    seq = k.Input((4, 3), name="seq")
    model = k.Model(seq, [L.Bidirectional(L.LSTM(3, dtype="mixed_bfloat16"), name="bi")(seq),
                          L.TimeDistributed(L.Dense(2, dtype="bfloat16"), name="td")(seq)])
    path = case_file(tmp_path, "bf16", flavor)
    model.save(path)
    with pytest.raises(UsageError) as caught:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    message = str(caught.value)
    assert "'td' (TimeDistributed: a wrapped Dense of dtype bfloat16)" in message, message
    assert "'bi' (Bidirectional: a wrapped LSTM of dtype mixed_bfloat16)" in message, message
