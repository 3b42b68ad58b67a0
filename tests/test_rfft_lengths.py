"""RFFT/IRFFT with an ``fft_length`` other than the signal's length (session 27, h11; h9's probe finding 1).

TF.js's converter drops ``fft_length``: ``rfft(x, [4])`` of 8 samples came out as the 8-point transform ([1, 5] bins
for TF's [1, 3]) and ``irfft(bins, [6])`` returned 8 values, silently. The core pass ``fft_length`` crops or
zero-pads the input to what TF reads; what TF.js cannot return (an odd IRFFT length, a length known only at run
time) is refused by name. Expected values are TF's own (the SavedModel's ``tf.function``); the converted models run in
real TF.js on cpu (wasm has no complex kernels, so they are converted for cpu alone), with both loaders.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.errors import UnsupportedOpsError  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

LOADERS = ("savedmodel", "tensorflow")
#: models TF's kernels raise on for every input (an input shorter than fft_length reads)
RAISING_IN_TF = {"raw_short", "raw_short_bins"}
SIGNAL = (np.arange(16, dtype=np.float32)[None] ** 2 / 10 - np.float32([[3.0], [-1.5]])).astype(np.float32)


def _save(path: Path, fn: Callable[[Any], dict], shape: tuple = (None, 16), evaluate: bool = True) -> dict:
    """A SavedModel of ``fn`` over a float32 signal; TF's own outputs for SIGNAL (when TF computes them)."""
    module = tf.Module()
    module.f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name="x")])
    tf.saved_model.save(module, str(path), signatures=module.f)
    return {k: v.numpy() for k, v in module.f(tf.constant(SIGNAL)).items()} if evaluate else {}


def _convert(source: Path, out: Path, loader: str) -> None:
    options = {"loader": "tensorflow"} if loader == "tensorflow" else {}
    tfjsconv.convert(source, out, output_format="tfjs_graph_model", target_backends=["cpu"], **options)


def _assert_as_tf(out: Path, expected: dict[str, np.ndarray]) -> None:
    run = run_model(out, {"x": SIGNAL}, backends=["cpu"], quiet=True)["cpu"]
    assert run.ok, run.error
    for key, want in expected.items():
        got = np.asarray(run.outputs[key])
        assert got.shape == want.shape, f"{key}: shape {got.shape} != TF's {want.shape}"
        bound = 1e-5 * max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() <= bound, f"{key}: {got.ravel()[:6]} != TF's {want.ravel()[:6]}"


def cropped_and_padded(x: Any) -> dict:
    """RFFT cropped (9, 4, 11) and padded (20, 21: odd ones too); IRFFT of cropped and padded bins (even lengths);
    a rank-3 signal."""
    bins = tf.signal.rfft(x)  # 9 bins
    return {"crop9": tf.signal.rfft(x, fft_length=[9]), "crop4": tf.math.real(tf.signal.rfft(x, fft_length=[4])),
            "pad20": tf.signal.rfft(x, fft_length=[20]), "pad21": tf.math.imag(tf.signal.rfft(x, fft_length=[21])),
            "inv6": tf.signal.irfft(bins, fft_length=[6]),
            "inv16": tf.signal.irfft(bins, fft_length=[16]),
            # the raw ops (tf.signal pads a short input itself; the kernels only crop)
            "raw_crop11": tf.raw_ops.RFFT(input=x, fft_length=[11]),
            "raw_inv4": tf.raw_ops.IRFFT(input=bins, fft_length=[4], Treal=tf.float32),
            "rank3": tf.signal.rfft(tf.reshape(x, [-1, 2, 8]), fft_length=[5])}


@pytest.mark.node
@pytest.mark.parametrize("loader", LOADERS)
def test_cropped_and_padded_lengths_compute_tf_transforms(tmp_path, tfjs_runtime, loader):
    expected = _save(tmp_path / "sm", cropped_and_padded)
    assert expected["crop4"].shape == (2, 3) and expected["inv6"].shape == (2, 6)  # what TF.js got wrong before
    _convert(tmp_path / "sm", tmp_path / "out", loader)
    _assert_as_tf(tmp_path / "out", expected)


def run_time_lengths(x: Any) -> dict:
    """RFFTs of a signal whose length is known only at run time: the whole signal (``fft_length`` read from its
    shape), a crop to 8 and a pad to 20 (``tf.signal`` pads at run time, the kernel crops): sliced at run time."""
    return {"whole": tf.signal.rfft(x), "crop8": tf.signal.rfft(x, fft_length=[8]),
            "pad20": tf.math.imag(tf.signal.rfft(x, fft_length=[20]))}


@pytest.mark.node
@pytest.mark.parametrize("loader", LOADERS)
def test_run_time_lengths_are_sliced_at_run_time(tmp_path, tfjs_runtime, loader):
    """Refused by the pass's first version (the lead relaxed it: ``tf.signal.rfft`` of a signal of unknown length is
    common); TF.js's Slice to ``fft_length`` at run time gives TF's transforms."""
    expected = _save(tmp_path / "sm", run_time_lengths, (None, None))
    assert expected["crop8"].shape == (2, 5) and expected["whole"].shape == (2, 9)
    _convert(tmp_path / "sm", tmp_path / "out", loader)
    _assert_as_tf(tmp_path / "out", expected)


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("name, fn, shape, why", [
    ("odd", lambda x: {"y": tf.signal.irfft(tf.signal.rfft(x), fft_length=[15])}, (None, 16), "fft_length 15 is odd"),
    ("odd_same_bins", lambda x: {"y": tf.signal.irfft(tf.signal.rfft(x), fft_length=[17])}, (None, 16),
     "fft_length 17 is odd"),
    ("raw_short", lambda x: {"y": tf.raw_ops.RFFT(input=x, fft_length=[20])}, (None, 16), "below the 20 TF reads"),
    ("raw_short_bins", lambda x: {"y": tf.raw_ops.IRFFT(input=tf.signal.rfft(x), fft_length=[30], Treal=tf.float32)},
     (None, 16), "below the 16 TF reads"),
    ("runtime_bins", lambda x: {"y": tf.signal.irfft(tf.signal.rfft(x), fft_length=[8])}, (None, None),
     "known only at run time"),
])
def test_what_tfjs_cannot_return_is_refused_by_name(tmp_path, loader, name, fn, shape, why):
    """An odd IRFFT length (TF.js returns 2 * (bins - 1) values, 16 for 9 bins where TF returns 17), an input shorter
    than TF's kernel reads (TF raises; TF.js would transform it) and a signal whose length is known only at run time
    are refused, naming the node and the reason."""
    _save(tmp_path / "sm", fn, shape, evaluate=name not in RAISING_IN_TF)
    with pytest.raises(UnsupportedOpsError) as refused:
        _convert(tmp_path / "sm", tmp_path / "out", loader)
    text = str(refused.value)
    assert "fft_length" in text and why in text and "rfft" in text.lower(), text
