"""Complex tensors in tf_keras op layers: ``tf.signal.stft`` spectrogram front ends read by ``tf.abs``,
``tf.math.real``/``imag``/``angle``/``conj``, ``tf.square``, ``tf.cast`` and value-moving functions.

The lowering holds a complex64 tensor as (real, imag) float32 parts (plugins/keras/lowering/op_layers_complex.py):
TF.js's wasm has no complex kernels, so these models converted on neither path with the default backends. Converted
with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm against tf_keras's own ``model(x)`` at two
batch sizes (and two signal lengths where the length is unknown); a complex output, an unsupported reader and a Keras
layer given a complex tensor are refused by name.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_op_layers_more import _refused  # noqa: E402

FLAVOR = "tf_keras.h5"


def spectrogram(k: Any) -> Any:
    """Speech front ends: ``abs`` (magnitude), its square (power) and log, real/imag/angle, the float32 cast (the real
    part); the default window and power-of-2 ``fft_length``, ``pad_end``, a given ``fft_length`` above and below the
    frame length, no window."""
    x = k.Input((300,), name="x")
    s = tf.signal.stft(x, 64, 32)
    padded = tf.signal.stft(x, frame_length=50, frame_step=20, fft_length=None, pad_end=True)
    wide = tf.signal.stft(x, 40, 16, fft_length=64, window_fn=None)
    cropped = tf.signal.stft(x, 48, 24, fft_length=32)
    return k.Model(x, [tf.abs(s), tf.square(tf.abs(s)), tf.math.log(tf.square(tf.abs(padded)) + 1.0), tf.math.real(s),
                       tf.math.imag(padded), tf.math.angle(s), tf.cast(s, tf.float32), tf.math.abs(wide),
                       tf.math.angle(cropped)])


def moved(k: Any) -> Any:
    """Functions that move a complex tensor's values (transpose, also conjugating; slicing; reshape; expand_dims),
    ``conj``, the complex ``square``, a cast to complex64, each read by real/imag/abs."""
    x = k.Input((200,), name="x")
    s = tf.signal.stft(x, 32, 16, fft_length=32)
    flipped = tf.transpose(s, [0, 2, 1])
    conjugated = tf.transpose(s, [0, 2, 1], conjugate=True)
    sliced = s[:, 1:4, ::2]
    reshaped = tf.reshape(s, [-1, 11 * 17])
    squared = tf.square(s)
    return k.Model(x, [tf.math.real(flipped), tf.math.imag(conjugated), tf.math.imag(sliced), tf.abs(reshaped),
                       tf.math.imag(tf.math.conj(s)), tf.math.real(squared), tf.math.imag(squared),
                       tf.math.real(tf.expand_dims(tf.cast(s, tf.complex64), 1))])


def channels(k: Any) -> Any:
    """A ``(batch, channels, samples)`` signal of unknown length: frames counted at run time, channels kept."""
    x = k.Input((2, None), name="x")
    return k.Model(x, [tf.abs(tf.signal.stft(x, 32, 8)), tf.math.imag(tf.signal.stft(x, 24, 10, pad_end=True))])


def extremes(k: Any) -> Any:
    """Magnitudes whose squares overflow (past 1.8e19) or underflow (below 1e-19) float32: TF's hypot keeps them."""
    x = k.Input((128,), name="x")
    return k.Model(x, tf.abs(tf.signal.stft(x, 32, 16)))


def made(k: Any) -> Any:
    """Complex tensors made by ``tf.complex(re, im)`` and a cast of floats to complex64, read by abs/angle/real."""
    x = k.Input((6,), name="x")
    z = tf.complex(x, x * 2.0 - 1.0)
    return k.Model(x, [tf.abs(z), tf.math.angle(z), tf.math.real(tf.square(z)), tf.math.imag(tf.cast(x, tf.complex64)),
                       tf.math.angle(tf.cast(x, tf.complex64))])


def arithmetic(k: Any) -> Any:
    """Complex sums, differences and products (with complex tensors and numbers), the power spectrum as
    ``real(s · conj(s))``, and ``inverse_stft`` (default hann window, ``fft_length`` given above the frame length, and
    frames hopping past each other) of a filtered spectrum."""
    x = k.Input((256,), name="x")
    g = k.Input((1, 33), name="g")
    s = tf.signal.stft(x, 64, 16)
    filtered = s * tf.cast(g, tf.complex64)  # a gain per bin (broadcast)
    power = tf.math.real(s * tf.math.conj(s))
    mixed = tf.math.imag((s + 2.0) - tf.math.conj(s) * 0.5)
    wide = tf.signal.stft(x, 30, 40, fft_length=64)
    return k.Model([x, g], [power, mixed, tf.signal.inverse_stft(filtered, 64, 16),
                            tf.signal.inverse_stft(wide, 30, 40, fft_length=64), tf.math.real(filtered + s)])


def keras3_views(keras: Any) -> Any:
    """Keras 3 (whose TensorFlow backend makes complex tensors only by casts: ``view_as_complex`` raises there):
    ``view_as_real`` of a float tensor cast to complex64, of its conjugate and of a sum, ``abs``/``real``/``imag`` of
    it, a product, ``view_as_real`` of a float tensor."""
    o = keras.ops
    x = keras.Input((5,), name="x")
    c = o.cast(x, "complex64")
    return keras.Model(x, [o.view_as_real(c), o.abs(c), o.real(c), o.imag(c), o.view_as_real(o.conj(c)),
                           o.view_as_real(x), o.real(o.multiply(c, o.conj(c))), o.view_as_real(o.add(c, c)),
                           o.log(o.abs(c) + 1.0)])


def ignored(k: Any) -> Any:
    """Inf/NaN where TF never reads them: in the imaginary parts of bins 0 and n/2 of ``inverse_stft``'s input (its
    irfft ignores them), also with ``fft_length`` below and above ``frame_length``; in the samples ``stft`` crops off
    a frame longer than ``fft_length`` (``_inputs`` puts them there). TF's outputs are finite: a zero kernel row or
    column multiplying them would give NaN. ``pad_end`` with a cropped frame, on a finite signal. The imaginary parts
    of bins 0 and n/2 of ``stft``, which TF gives as +0 whatever the samples, of a signal holding Inf and NaN (its
    other bins differ: TF's FFT keeps some finite where a direct DFT does not)."""
    re, im, x = k.Input((9, 17), name="re"), k.Input((9, 17), name="im"), k.Input((96,), name="x")
    w, v = k.Input((96,), name="w"), k.Input((64,), name="v")
    z = tf.complex(re, im)
    cropped = tf.signal.stft(x, 48, 24, fft_length=32)
    return k.Model([re, im, x, w, v], [tf.signal.inverse_stft(z, 32, 16),
                                       tf.signal.inverse_stft(z, 40, 16, fft_length=32),
                                       tf.signal.inverse_stft(z, 24, 8, fft_length=32, window_fn=None),
                                       tf.math.real(cropped), tf.abs(cropped),
                                       tf.abs(tf.signal.stft(w, 48, 24, fft_length=32, pad_end=True)),
                                       tf.math.imag(tf.signal.stft(v, 32, 16))[..., ::16],
                                       tf.math.imag(tf.signal.stft(v, 24, 8, fft_length=16))[..., ::8]])


def short(k: Any) -> Any:
    """Signals of unknown length that at run time are shorter than a frame (TF gives 0 frames; TF.js's cpu threw,
    wasm overran its heap), also with a frame cropped to ``fft_length``; ``pad_end`` always has frames; inverse_stft
    of 0 frames is ``frame_length - frame_step`` zeros (a reshape to -1 of 0 elements threw)."""
    x = k.Input((None,), name="x")
    s = tf.signal.stft(x, 32, 8)
    return k.Model(x, [tf.abs(s), tf.math.real(tf.signal.stft(x, 48, 24, fft_length=32)),
                       tf.math.imag(tf.signal.stft(x, 24, 10, pad_end=True)), tf.signal.inverse_stft(s, 32, 8)])


FAMILIES = {"ignored": ignored, "short": short, "spectrogram": spectrogram, "moved": moved, "channels": channels, "extremes": extremes, "made": made, "arithmetic": arithmetic,
            "keras3_views": keras3_views}
#: Each run's (batch, samples); the extremes' scale of the signal.
RUNS = {"ignored": [(2, 0, 1.0), (3, 0, 1.0)], "short": [(2, 20, 1.0), (1, 47, 1.0), (3, 53, 1.0)], "spectrogram": [(2, 0, 1.0), (3, 0, 1.0)], "moved": [(2, 0, 1.0), (3, 0, 1.0)],
        "channels": [(2, 77, 1.0), (3, 130, 1.0)], "extremes": [(2, 0, 1e19), (3, 0, 1e-25)],
        "made": [(2, 0, 1.0), (3, 0, 1.0)], "arithmetic": [(2, 0, 1.0), (3, 0, 1.0)], "keras3_views": [(2, 0, 1.0), (3, 0, 1.0)]}


def _inputs(model: Any, rng: np.random.Generator, batch: int, samples: int, scale: float) -> dict[str, np.ndarray]:
    out = {}
    for t in model.inputs:
        shape = tuple(t.shape)[1:]
        shape = (*shape[:-1], samples or shape[-1])
        out[t.name.split(":")[0]] = (rng.standard_normal((batch, *shape)) * scale).astype("float32")
    if "im" in out:  # see ignored(): bin 0's and bin 16's (n/2's) imaginary parts; a sample no frame reads in full
        out["im"][:, 1, 0], out["im"][:, 2, 16], out["im"][:, 4, 0], out["im"][:, 6, 16] = np.inf, np.nan, np.nan, -np.inf
        out["x"][:, 85] = np.inf  # frame 2 covers samples 48..95 and reads 48..79; frames 0 and 1 end before 85
        out["v"][:, 20], out["v"][:, 40] = np.inf, np.nan
        out["re"][:, 7, 0] = np.nan  # read (the DC bin): NaN over frame 7's samples, TF's zero padding kept 0
    return out


CASES = [(family, "keras3.keras" if family.startswith("keras3") else FLAVOR) for family in FAMILIES]
converted = converted_fixture("complex", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=201))


@pytest.mark.node
@each_case(CASES)
def test_complex_op_layers_lower_and_match_tf_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_extremes_need_the_scaled_magnitude(converted):
    """The runs' magnitudes are where ``sqrt(re² + im²)`` in float32 gives Inf or 0 (so the test can fail)."""
    _, runs, _ = converted[("extremes", FLAVOR)]
    for _, (expected,) in runs:
        peak = float(np.max(expected))
        assert np.isfinite(peak) and peak > 0
        assert not np.isfinite(np.float32(peak) ** 2) or np.float32(peak) ** 2 == 0, peak


def test_special_and_short_runs_are_what_the_fixes_need(converted):
    """The unread parts hold Inf/NaN while tf_keras's outputs are finite (but for a read NaN's frame); the short
    runs have 0 frames."""
    _, runs, _ = converted[("ignored", FLAVOR)]
    for inputs, outputs in runs:
        assert np.isinf(inputs["im"]).any() and np.isnan(inputs["im"]).any() and np.isinf(inputs["x"]).any()
        assert np.isnan(inputs["v"]).any()
        assert all(np.isfinite(out).all() for out in outputs[3:])
        assert not any(np.signbit(out).any() or out.any() for out in outputs[-2:])  # +0
        # a read NaN: over frame 7's samples only (fft_length 32, cropped to 24 by the last), not TF's zero padding
        assert [int(np.isnan(out).sum()) // len(out) for out in outputs[:3]] == [32, 32, 24]
    _, runs, _ = converted[("short", FLAVOR)]
    assert [out.shape[1] for out in runs[0][1]] == [0, 0, 2, 24]
    assert [out.shape[1] for out in runs[1][1]] == [2, 0, 5, 40]


def test_complex_outputs_and_other_readers_are_refused_by_name(tmp_path):
    """A complex model output (TF.js's wasm has none), a function that does not read complex parts
    (``math.exp``), a Keras layer given a complex tensor, saved window functions (tf_keras keeps their names only),
    a complex model input: gaps naming each."""
    import tf_keras as k

    x = k.Input((128,), name="x")
    s = tf.signal.stft(x, 32, 16)
    k.Model(x, [s, tf.abs(s)]).save(tmp_path / "output.h5")
    k.Model(x, [tf.math.real(tf.math.exp(s)), k.layers.Flatten()(s)]).save(tmp_path / "readers.h5")
    k.Model(x, [tf.abs(tf.signal.stft(x, 32, 16, window_fn=tf.signal.hamming_window)),
                tf.signal.inverse_stft(s, 32, 16, window_fn=tf.signal.inverse_stft_window_fn(16))]).save(
        tmp_path / "window.h5")
    z = k.Input((4,), name="z", dtype="complex64")
    k.Model(z, tf.abs(z)).save(tmp_path / "input.h5")
    message = " ".join(_refused(tmp_path / name) for name in ("output.h5", "readers.h5", "window.h5", "input.h5"))
    for needle in (r"output 'tf\.signal\.stft(_\d+)?' \(a complex64 tensor",
                   r"'tf\.math\.exp(_\d+)?' \(math\.exp\): a complex64 tensor",
                   r"'flatten(_\d+)?' \(Flatten\) on a complex64 tensor",
                   r"\(signal\.stft\): window_fn='hamming_window'",
                   r"\(signal\.inverse_stft\): window_fn='inverse_stft_window_fn",
                   r"'tf\.math\.abs(_\d+)?' \(math\.abs\): a complex64 tensor the lowering does not hold"):
        assert re.search(needle, message), (needle, message)
