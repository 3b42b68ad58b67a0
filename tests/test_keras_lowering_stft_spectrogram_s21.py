"""Keras 3's STFTSpectrogram layer lowered without TensorFlow (session 21): every ``mode`` (log, magnitude, psd, real,
imag, angle, stft), windows (hann, hamming, periodic, none, a list, scipy's blackman), ``scaling`` (density,
spectrum, None), valid and same padding, ``expand_dims``, channels_last and channels_first, mono and multi-channel
signals of a length known only at run time (and one fixed), the default options, an odd ``fft_length``, frozen
kernels (``trainable=False``) and kernels trained away from the DFT (the lowering reads the saved kernels, never recomputes them). Saved as ``.keras``
and ``.h5``, converted with TensorFlow, Keras and tf_keras poisoned, checked against ``model(x)`` on TF.js cpu and
wasm at two sizes; two of them also through ``--loader=tensorflow``. Keras needs scipy to build the layer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402
from keras_two_sizes import (converted_fixture, each_case, keras_outputs, verify_last_run_on_webgl,  # noqa: E402
                             verify_runs)
from test_keras_lowering import _verify, case_file, layer_gaps_of  # noqa: E402

FLAVORS = ["keras3.keras", "keras3.h5"]


def _stft(**options: Any) -> Any:
    return keras.layers.STFTSpectrogram(**options)


def modes_family(k: Any) -> Any:
    """Each mode once, over a stereo signal of unknown length, with the window and scaling options spread over them."""
    x = k.Input((None, 2), name="x")
    layers = [
        _stft(mode="log", frame_length=16, frame_step=6, fft_length=16, padding="same"),
        _stft(mode="magnitude", frame_length=12, frame_step=5, fft_length=21, window="hamming", scaling="spectrum"),
        _stft(mode="psd", frame_length=10, frame_step=3, fft_length=16, window=None, scaling=None, padding="same"),
        _stft(mode="real", frame_length=16, periodic=True),
        _stft(mode="imag", frame_length=5, frame_step=2, fft_length=8, window=[0.1, 0.6, 1.0, 0.4, 0.2],
              padding="same"),
        _stft(mode="angle", frame_length=9, frame_step=4, fft_length=16, window="hamming", periodic=True,
              trainable=False),
        _stft(mode="stft", frame_length=8, frame_step=8, fft_length=8, window="blackman", padding="same",
              expand_dims=True),
    ]
    return k.Model(x, [layer(x) for layer in layers])


def mono_family(k: Any) -> Any:
    """One channel: every option at its default (frames of 256, hann, log), psd over 2 bins (no inner bin), stft."""
    x = k.Input((None, 1), name="x")
    layers = [_stft(), _stft(mode="psd", frame_length=2, frame_step=1, window=None),
              _stft(mode="stft", frame_length=3, frame_step=1, fft_length=4, expand_dims=True, padding="same")]
    return k.Model(x, [layer(x) for layer in layers])


def channels_first_family(k: Any) -> Any:
    x = k.Input((3, None), name="x")
    layers = [
        _stft(mode="log", frame_length=12, frame_step=5, data_format="channels_first", expand_dims=True),
        _stft(mode="psd", frame_length=12, frame_step=4, fft_length=16, data_format="channels_first", padding="same"),
        _stft(mode="stft", frame_length=8, frame_step=3, data_format="channels_first"),
        _stft(mode="angle", frame_length=8, frame_step=3, data_format="channels_first", expand_dims=True,
              padding="same"),
        _stft(mode="magnitude", frame_length=7, frame_step=7, fft_length=8, window="hamming",
              data_format="channels_first"),
    ]
    return k.Model(x, [layer(x) for layer in layers])


def fixed_family(k: Any) -> Any:
    """A length known when saved, the spectrogram feeding a Dense."""
    x = k.Input((40, 2), name="x")
    log = _stft(mode="log", frame_length=10, frame_step=4, padding="same")(x)
    real = _stft(mode="real", frame_length=8, frame_step=8, fft_length=8, expand_dims=True)(x)
    return k.Model(x, [k.layers.Dense(3)(log), real])


def trained_family(k: Any) -> Any:
    """Kernels moved away from the DFT (randomized, as training would): the saved values are what counts."""
    x = k.Input((None, 2), name="x")
    layers = [_stft(mode="log", frame_length=8, frame_step=3, padding="same"), _stft(mode="psd", frame_length=8),
              _stft(mode="stft", frame_length=6, frame_step=2, fft_length=8, data_format="channels_last")]
    return k.Model(x, [layer(x) for layer in layers])


FAMILIES = {"modes": modes_family, "mono": mono_family, "channels_first": channels_first_family,
            "fixed": fixed_family, "trained": trained_family}
#: Each run's input shape (batch, then the layout's signal axes), by family.
SHAPES = {"modes": [(2, 50, 2), (1, 37, 2)], "mono": [(2, 300, 1), (1, 517, 1)],
          "channels_first": [(2, 3, 50), (1, 3, 33)], "fixed": [(2, 40, 2), (3, 40, 2)],
          "trained": [(2, 45, 2), (1, 29, 2)]}


def _signal(rng: np.random.Generator, shape: tuple[int, ...], family: str) -> np.ndarray:
    """Normal samples with a silent stretch in the first example (power 0: the log and magnitude floors)."""
    x = rng.standard_normal(shape).astype("float32")
    if family == "channels_first":
        x[0, :, :24] = 0.0
    else:
        x[0, :24] = 0.0
    return x


def save(family: str, flavor: str, folder: Path) -> tuple[Path, list, None]:
    """The family's model (random kernels for ``trained`` only: the others keep Keras's DFT kernels), Keras's
    outputs at each run's size, then the file."""
    model = FAMILIES[family](keras)
    if family == "trained":
        randomize(model, 211)
    rng = np.random.default_rng(212)
    runs = []
    for shape in SHAPES[family]:
        inputs = {"x": _signal(rng, shape, family)}
        runs.append((inputs, keras_outputs(model, inputs)))
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, runs, None


CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS]
converted = converted_fixture("stft_spectrogram_s21", CASES, save)


@pytest.mark.node
@each_case(CASES)
def test_stft_spectrogram_lowers_and_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case([(family, "keras3.keras") for family in FAMILIES])
def test_stft_spectrogram_matches_keras_on_webgl(converted, browser, family, flavor):
    """The same models on webgl (headless Chromium): Conv2D, Atan2, Log and the reshapes run there too."""
    path, runs, _ = converted[(family, flavor)]
    verify_last_run_on_webgl(path, runs, browser)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", [("modes", "keras3.keras"), ("channels_first", "keras3.h5")])
def test_stft_spectrogram_through_tensorflow_matches_keras(converted, tfjs_runtime, tmp_path, family, flavor):
    """The traced path (``--loader=tensorflow``) converts the same files, and matches Keras too."""
    import tfjsconv

    path, runs, _ = converted[(family, flavor)]
    tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    for inputs, outputs in runs:
        _verify(tmp_path / "traced", inputs, outputs)


@pytest.mark.parametrize("options,gap", [
    ({"dtype": "mixed_bfloat16"}, "dtype mixed_bfloat16"),  # float16 lowers since session 23; bfloat16 stays a gap
    ({"mode": "psd", "frame_length": 1, "frame_step": 1, "window": None},
     "mode='psd' with one frequency bin (Keras's run gives 2, its declared shape 1)"),
], ids=["mixed_bfloat16", "psd_one_bin"])
def test_stft_spectrogram_options_not_lowered_are_named(options, gap):
    x = keras.Input((None, 1), name="x")
    model = keras.Model(x, keras.layers.STFTSpectrogram(name="spec", **{"frame_length": 8, **options})(x))
    assert layer_gaps_of(model) == [f"'spec' (STFTSpectrogram: {gap})"]
