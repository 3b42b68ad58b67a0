"""CenterCrop and Resizing(crop_to_aspect_ratio / pad_to_aspect_ratio) over a height or width known only at run
time: one converted model, fed inputs larger, equal, smaller on one side and smaller on both (odd margins, batch 1
and more), matches eager Keras at every size, in TF.js cpu and wasm. Keras crops an input at least as large as
the target and otherwise aspect-crops and resizes it (``smart_resize``); the converted model chooses at run time."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, normal_inputs_at, two_size_saver, verify_runs  # noqa: E402


def crops(k):
    """CenterCrop and Resizing's aspect crop over an unknown height and width (odd margins, both centrings), with
    a Conv2D after a crop (its static output shape feeds the next layer); Keras 3 also pads to the aspect ratio."""
    L = k.layers
    inp = k.Input((None, None, 2), name="image")
    outs = [L.CenterCrop(4, 5, name="center")(inp),
            L.Conv2D(3, 2, name="conv")(L.CenterCrop(3, 2, name="center_odd")(inp)),
            L.Resizing(4, 5, crop_to_aspect_ratio=True, name="aspect")(inp),
            L.Resizing(3, 3, crop_to_aspect_ratio=True, interpolation="nearest", name="aspect_nearest")(inp)]
    if k is keras:
        outs.append(L.Resizing(4, 5, pad_to_aspect_ratio=True, fill_value=0.5, name="padded")(inp))
        outs.append(L.Resizing(2, 6, pad_to_aspect_ratio=True, interpolation="nearest", name="padded_wide")(inp))
    return k.Model(inp, outs)


def channels_first(k):
    """The same over channels_first images (Keras 3: tf_keras's CenterCrop has no data_format)."""
    L = k.layers
    inp = k.Input((2, None, None), name="image")
    return k.Model(inp, [L.CenterCrop(4, 5, data_format="channels_first", name="center")(inp),
                         L.Resizing(3, 5, crop_to_aspect_ratio=True, data_format="channels_first", name="aspect")(inp),
                         L.Resizing(5, 3, pad_to_aspect_ratio=True, data_format="channels_first", name="padded")(inp)])


def one_side_known(k):
    """Only the height unknown: a known width as large as the target (the run-time height chooses), and a known
    width smaller than the target (always resized)."""
    L = k.layers
    wide = k.Input((None, 6, 2), name="wide")
    narrow = k.Input((None, 3, 2), name="narrow")
    return k.Model([wide, narrow], [L.CenterCrop(4, 5, name="center_wide")(wide),
                                    L.CenterCrop(4, 5, name="center_narrow")(narrow)])


def center_special(k):
    """CenterCrop alone, fed NaN, ±Inf and -0: the crop Keras takes is a plain slice, which a resize to the same
    size would not be (TF.js's bilinear resize spreads NaN to neighbours and turns -0 into 0)."""
    inp = k.Input((None, None, 1), name="image")
    return k.Model(inp, k.layers.CenterCrop(4, 5, name="center")(inp))


FAMILIES = {"crops": crops, "channels_first": channels_first, "one_side_known": one_side_known,
            "center_special": center_special}
#: (height, width) pairs around the target 4 × 5: larger by odd and even margins, equal, smaller on one side,
#: smaller on both, and extreme aspect ratios.
IMAGE_SIZES = [(9, 8), (4, 5), (3, 7), (6, 3), (2, 2), (2, 11), (12, 2)]
#: Keras 3 also at aspect boxes its ``max(..., 1)`` keeps one pixel wide (tf_keras fails there: a box of size 0).
KERAS3_SIZES = [(1, 11), (12, 1)]
BATCHES = [2, 1, 3, 2, 1, 1, 2, 2, 1]
#: This file's cases; the other families run in tests/test_keras_lowering_k22_runtime_crop_more.py.
CASES = [("crops", "keras3.keras"), ("crops", "keras3.h5"), ("crops", "tf_keras.h5")]


def _input_sets(family: str, flavor: str) -> list[list[tuple[int, ...]]]:
    """The input shapes of each run; the .h5 copy of the Keras 3 family and channels_first take fewer sizes."""
    if family == "one_side_known":
        return [[(b, h, 6, 2), (b, h, 3, 2)] for b, h in zip(BATCHES, (9, 4, 3, 1, 6), strict=False)]
    if family == "center_special":
        return [[(1, 4, 5, 1)], [(2, 7, 6, 1)]]
    sizes = IMAGE_SIZES + (KERAS3_SIZES if flavor.startswith("keras3") else [])
    if flavor == "keras3.h5":
        sizes = [sizes[i] for i in (0, 2, 4, 7)]
    if family == "channels_first":
        return [[(b, 2, h, w)] for b, (h, w) in zip(BATCHES, [sizes[i] for i in (0, 1, 3, 4, 8)], strict=False)]
    return [[(b, h, w, 2)] for b, (h, w) in zip(BATCHES, sizes, strict=False)]


def _special(x: np.ndarray) -> np.ndarray:
    """``x`` with NaN, ±Inf and -0 spread over it (every third element is one)."""
    flat = x.reshape(-1)
    flat[::3] = np.resize(np.array([np.nan, np.inf, -0.0, -np.inf], dtype=np.float32), flat[::3].shape)
    return x


def _inputs_for(flavor: str):
    """The ``inputs_of`` of :func:`keras_two_sizes.two_size_saver` for one flavour (its sizes depend on it)."""
    def inputs_of(model, family: str, rng: np.random.Generator):
        for inputs in normal_inputs_at({family: _input_sets(family, flavor)})(model, family, rng):
            yield {name: _special(x) for name, x in inputs.items()} if family == "center_special" else inputs

    return inputs_of


def save_case(family: str, flavor: str, folder: Path):
    """The case saved with eager Keras's outputs at each of its sizes (``(path, runs, None)``)."""
    return two_size_saver(FAMILIES, _inputs_for(flavor), seed=21)(family, flavor, folder)


converted = converted_fixture("k22_runtime_crop", CASES, save_case)


@pytest.mark.node
@each_case(CASES)
def test_crops_over_unknown_sizes_match_eager_keras_at_every_size(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_keras_resizes_what_is_smaller_than_the_crop(converted):
    """The reference is eager Keras's choice: every output has the target size, cropped or resized."""
    _, runs, _ = converted[("crops", "keras3.keras")]
    for inputs, outputs in runs:
        batch = inputs["image"].shape[0]
        assert [o.shape for o in outputs] == [(batch, 4, 5, 2), (batch, 2, 1, 3), (batch, 4, 5, 2), (batch, 3, 3, 2),
                                              (batch, 4, 5, 2), (batch, 2, 6, 2)]
