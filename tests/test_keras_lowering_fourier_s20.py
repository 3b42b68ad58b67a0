"""Keras 3's Fourier ops and MelSpectrogram lowered as real DFT matrix products (session 20).

Session 19's probe: ``--loader=tensorflow`` converted ``fft``, ``rfft``, ``irfft``, ``stft``, ``istft`` and
``MelSpectrogram`` for TF.js cpu only (wasm has no FFT/Complex kernels) and ``fft2``/``ifft2`` not at all, while the
lowering refused them. They now lower to MatMul, Conv2D and Conv2DBackpropInput with constant cos/sin matrices, so
they run on wasm too: each model is converted with TensorFlow, Keras and tf_keras poisoned and checked against Keras
(its TensorFlow backend's FFTs) on TF.js cpu and wasm within 1e-5 of each output's range, at two signal lengths
where the time axis is unknown. Covered: odd and even lengths, ``fft_length`` cropping and padding, every window
(hann, hamming, None, a list) with and without ``center``, ``istft``'s ``length``, a multi-channel signal, and
realistic sizes (fft_length 256/512 over 1 s at 16 kHz, MelSpectrogram's defaults).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import (at_runs, converted_fixture, each_case, two_size_saver,  # noqa: E402
                             verify_last_run_on_webgl, verify_runs)


def spectra_family(k: Any) -> Any:
    """rfft/irfft/fft/fft2/ifft2 over known lengths, odd and even; rfft/irfft with cropped and padded
    ``fft_length``."""
    o = k.ops
    x = k.Input((24,), name="x")
    a, b = k.Input((3, 9), name="a"), k.Input((3, 9), name="b")
    c, d = k.Input((4, 8), name="c"), k.Input((4, 8), name="d")
    outputs = [*o.rfft(x), *o.rfft(x, 17), *o.rfft(x, 32), o.irfft((a, b)), o.irfft((a, b), 15), o.irfft((a, b), 20),
               o.irfft((a, b), 9), *o.fft((a, b)), *o.fft2((a, b)), *o.ifft2((a, b)), *o.fft((c, d)), *o.fft2((c, d)),
               *o.ifft2((c, d))]
    return k.Model([x, a, b, c, d], outputs)


def unknown_length_family(k: Any) -> Any:
    """rfft/irfft with an ``fft_length`` over a last axis of unknown size (cropped or padded at run time)."""
    o = k.ops
    x = k.Input((None,), name="x")
    re, im = o.rfft(x, 16)
    return k.Model(x, [re, im, o.irfft((x, x * 0.5), 10)])


def stft_family(k: Any) -> Any:
    """stft/istft over an unknown signal length: each window kind, center or not, a window list, ``length``, a
    two-channel signal (rank 3), and frames that do not overlap."""
    o = k.ops
    x = k.Input((None,), name="x")
    pair = k.Input((2, None), name="pair")
    hann = o.stft(x, 16, 8, 32)
    hamming = o.stft(x, 15, 5, 16, window="hamming", center=False)
    plain = o.stft(x, 16, 4, 16, window=None)
    listed = o.stft(x, 8, 3, 11, window=[0.1 * i + 0.2 for i in range(8)])
    channels = o.stft(pair, 12, 6, 16, window="hamming")
    apart = o.stft(x, 8, 8, 8, center=False)  # hann frames that do not overlap: TF's inverse window is 0 where hann is
    outputs = [*hann, *hamming, *plain, *listed, *channels,
               o.istft(hann, 16, 8, 32), o.istft(hamming, 15, 5, 16, window="hamming", center=False),
               o.istft(plain, 16, 4, 16, window=None, length=30), o.istft(listed, 8, 3, 11,
                                                                        window=[0.1 * i + 0.2 for i in range(8)]),
               o.istft(channels, 12, 6, 16, window="hamming", length=40), o.istft(apart, 8, 8, 8, center=False)]
    return k.Model([x, pair], outputs)


def realistic_family(k: Any) -> Any:
    """1 s at 16 kHz: stft with fft_length 512 (hop 160) and its istft, rfft of 256- and 512-sample blocks."""
    o = k.ops
    x = k.Input((16000,), name="x")
    spectrum = o.stft(x, 400, 160, 512)
    blocks = k.layers.Reshape((125, 128))(x)
    return k.Model(x, [*spectrum, o.istft(spectrum, 400, 160, 512, length=16000), *o.rfft(blocks, 256),
                       *o.rfft(blocks, 512)])


def mel_family(k: Any) -> Any:
    """MelSpectrogram: Keras's defaults over 1 s at 16 kHz, and small layers with other options."""
    L = k.layers
    x = k.Input((None,), name="x")
    small = L.MelSpectrogram(fft_length=64, sequence_stride=32, sequence_length=48, num_mel_bins=8,
                             sampling_rate=800, window="hamming", power_to_db=False, mag_exp=1.0)(x)
    scaled = L.MelSpectrogram(fft_length=128, sequence_stride=40, num_mel_bins=16, sampling_rate=8000, min_freq=60.0,
                              max_freq=3000.0, window=None, top_db=30.0, ref_power=2.0, min_power=1e-4,
                              mag_exp=1.5)(x)
    return k.Model(x, [small, scaled, L.MelSpectrogram()(x)])


def ignored_family(k: Any) -> Any:
    """irfft/istft given Inf/NaN in the parts TF's irfft ignores (the imaginary parts of bin 0 and, for an even
    length, bin n/2; bins past n//2+1): TF's output stays finite, so none may be multiplied by a zero kernel row
    (``_inputs`` puts them there). n = 16 and 14 (even, bins 9 and 8), 15 (odd, bins cropped to 8). And rfft/stft's
    imaginary parts of bins 0 and n/2, which TF gives as +0 whatever the samples, of a signal holding Inf and NaN
    (the other bins of such a signal differ: TF's FFT keeps some finite, a direct DFT does not)."""
    o = k.ops
    re, im = k.Input((5, 9), name="re"), k.Input((5, 9), name="im")
    re2, im2 = k.Input((5, 8), name="re2"), k.Input((5, 8), name="im2")
    x = k.Input((32,), name="x")
    return k.Model([re, im, re2, im2, x], [o.irfft((re, im)), o.irfft((re, im), 15), o.istft((re, im), 16, 8, 16),
                                           o.istft((re, im), 12, 4, 16, window="hamming", center=False),
                                           o.irfft((re2, im2), 14), o.istft((re2, im2), 14, 7, 14, window=None),
                                           o.rfft(x, 16)[1][:, ::8], o.stft(x, 16, 8, 16, center=False)[1][..., ::8]])


def short_family(k: Any) -> Any:
    """stft without ``center`` over a signal of unknown length, which at run time may be shorter than a frame: TF
    gives 0 frames (a VALID conv over it crashed TF.js's cpu and overran wasm's heap)."""
    o = k.ops
    x = k.Input((None,), name="x")
    return k.Model(x, [*o.stft(x, 16, 8, 16, center=False), *o.stft(x, 12, 4, 12, window="hamming", center=False)])


def short_inverse_family(k: Any) -> Any:
    """istft of the 0 frames of a short signal's stft: ``fft_length - sequence_stride`` zeros, as TF gives (a reshape
    to -1 of 0 elements threw; webgl's Conv2DBackpropInput of 0 frames threw)."""
    o = k.ops
    x = k.Input((None,), name="x")
    return k.Model(x, o.istft(o.stft(x, 16, 8, 16, center=False), 16, 8, 16, center=False))


FAMILIES = {"spectra": spectra_family, "unknown_length": unknown_length_family, "stft": stft_family,
            "realistic": realistic_family, "mel": mel_family, "ignored": ignored_family, "short": short_family,
            "short_inverse": short_inverse_family}


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Standard normal inputs, an unknown time axis ``steps`` long (MelSpectrogram's defaults need 1025 samples)."""
    inputs = {}
    for tensor in model.inputs:
        shape = [batch, *[steps if d is None else d for d in tensor.shape[1:]]]
        inputs[tensor.name.split(":")[0]] = rng.standard_normal(shape).astype("float32")
    if "mel_spectrogram" in [layer.name for layer in model.layers] and batch > 1:
        x = inputs["x"]  # a loud tone over noise, then a signal 40 dB quieter: top_db floors at the batch's peak
        x[0] += 20.0 * np.sin(2 * np.pi * 440.0 / 16000.0 * np.arange(steps)).astype("float32")
        x[-1] *= 0.01
    if "im" in inputs:  # the parts TF's irfft ignores (see ignored_family)
        inputs["im"][:, 1, 0], inputs["im"][:, 2, 8], inputs["im"][:, 3, 0] = np.inf, np.nan, -np.inf
        inputs["im2"][:, 1, 0], inputs["im2"][:, 2, 7] = np.nan, np.inf
        inputs["x"][:, 3], inputs["x"][:, 20] = np.inf, np.nan
    return inputs


RUNS = {"spectra": [(2, 0)], "unknown_length": [(2, 13), (1, 21)], "stft": [(2, 50), (1, 77)],
        "realistic": [(2, 0)], "mel": [(2, 16000), (1, 12345)], "ignored": [(2, 0), (1, 0)],
        "short": [(2, 10), (1, 14), (3, 30)], "short_inverse": [(2, 10), (1, 14), (3, 30)]}
CASES = [(family, "keras3.keras") for family in FAMILIES] + [("spectra", "keras3.h5"), ("mel", "keras3.h5")]
converted = converted_fixture("fourier_s20", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=203))


@pytest.mark.node
@each_case(CASES)
def test_fourier_ops_lower_to_real_products_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


#: On webgl too (headless Chromium): the products, convolutions and transposed convolutions in float32 textures.
WEBGL = [(family, "keras3.keras") for family in ("spectra", "unknown_length", "stft", "realistic", "mel", "short",
                                                  "short_inverse")]


@pytest.mark.node
@each_case(WEBGL)
def test_fourier_ops_match_keras_on_webgl(converted, browser, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    for i in range(len(runs)):
        verify_last_run_on_webgl(path, runs[: i + 1], browser)


def test_special_and_short_runs_are_what_the_fixes_need(converted):
    """The ignored parts hold Inf/NaN while Keras's outputs are finite, and the short runs have 0 frames."""
    path, runs, _ = converted[("ignored", "keras3.keras")]
    for inputs, outputs in runs:
        assert np.isinf(inputs["im"]).any() and np.isnan(inputs["im2"]).any() and np.isnan(inputs["x"]).any()
        assert all(np.isfinite(out).all() for out in outputs)
        assert not np.signbit(outputs[-1]).any() and not outputs[-1].any()  # +0
    _, runs, _ = converted[("short", "keras3.keras")]
    assert [out.shape[1] for out in runs[0][1]] == [0, 0, 0, 0]
    assert [out.shape[1] for out in runs[1][1]] == [0, 0, 1, 1]
    _, runs, _ = converted[("short_inverse", "keras3.keras")]
    assert [out.shape for out in runs[0][1]] == [(2, 8)] and not runs[0][1][0].any()


def test_uncovered_fourier_options_are_refused_by_name(tmp_path):
    """A DFT past 4096 points (a 128 MiB matrix) and a bfloat16 MelSpectrogram are refused in one line naming both
    (float16 lowers since session 23)."""
    from tfjsconv.errors import UsageError

    x = keras.Input((64,), name="x")
    big = keras.ops.rfft(x, 8192)[0]
    half = keras.layers.MelSpectrogram(fft_length=32, sequence_stride=16, num_mel_bins=4, dtype="mixed_bfloat16",
                                       name="half_mel")(x)
    keras.Model(x, [big, half]).save(tmp_path / "m.keras")
    with pytest.raises(UsageError) as caught:
        import tfjsconv

        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(caught.value)
    assert "does not cover 2 layers" in message, message
    assert "fft_length=8192 (lowered for integers 1 to 4096)" in message, message
    assert "'half_mel' (MelSpectrogram: dtype mixed_bfloat16)" in message, message
