"""Keras 3 ``ops.image.resize`` with ``crop_to_aspect_ratio``, ``pad_to_aspect_ratio`` (``fill_value``) and
``data_format="channels_first"``: refused by the lowering until session 19 while ``--loader=tensorflow`` converted
them (helper H2's probe). Keras's TensorFlow backend crops or pads with the Resizing layer's arithmetic (float32
quotients truncated, an odd margin padding one row less), over static and unknown sizes; channels_first is resized
channels_last between two transposes. Bilinear and nearest, wide and tall images, odd margins, an image already of
the target's aspect ratio; Keras 3 ``.keras`` and ``.h5``, TF.js cpu and wasm against ``model(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "keras3.h5"]


def _resize(k: Any, x: Any, size: tuple[int, int], **options: Any) -> Any:
    return k.ops.image.resize(x, size, **options)


def static_family(k: Any) -> Any:
    """Wide (7×10) and tall (9×4) images, cropped and padded to wider and taller targets, both methods."""
    wide, tall = k.Input((7, 10, 3), name="wide"), k.Input((9, 4, 2), name="tall")
    outputs = []
    for x in (wide, tall):
        outputs += [_resize(k, x, (4, 3), crop_to_aspect_ratio=True),
                    _resize(k, x, (5, 8), crop_to_aspect_ratio=True, interpolation="nearest"),
                    _resize(k, x, (3, 5), pad_to_aspect_ratio=True),
                    _resize(k, x, (6, 2), pad_to_aspect_ratio=True, fill_value=0.5, interpolation="nearest"),
                    _resize(k, x, (8, 8), pad_to_aspect_ratio=True, fill_value=-2.0)]
    outputs += [_resize(k, wide, (7, 10), crop_to_aspect_ratio=True),  # already the target: left as it is
                _resize(k, wide, (14, 20), pad_to_aspect_ratio=True)]  # same aspect ratio: nothing padded
    return k.Model([wide, tall], outputs)


def channels_first_family(k: Any) -> Any:
    """channels_first images (3 channels, 6×9 and 8×5): plain, cropped and padded."""
    a, b = k.Input((3, 6, 9), name="a"), k.Input((3, 8, 5), name="b")
    cf = {"data_format": "channels_first"}
    outputs = []
    for x in (a, b):
        outputs += [_resize(k, x, (9, 4), **cf), _resize(k, x, (4, 7), interpolation="nearest", **cf),
                    _resize(k, x, (4, 3), crop_to_aspect_ratio=True, **cf),
                    _resize(k, x, (5, 5), pad_to_aspect_ratio=True, fill_value=1.5, interpolation="nearest", **cf)]
    return k.Model([a, b], outputs)


def runtime_family(k: Any) -> Any:
    """Images of unknown height and width: the box and the padding computed at run time."""
    x = k.Input((None, None, 2), name="x")
    outputs = [_resize(k, x, (4, 3), crop_to_aspect_ratio=True),
               _resize(k, x, (5, 8), crop_to_aspect_ratio=True, interpolation="nearest"),
               _resize(k, x, (3, 5), pad_to_aspect_ratio=True, fill_value=0.25),
               _resize(k, x, (6, 2), pad_to_aspect_ratio=True, interpolation="nearest")]
    return k.Model(x, outputs)


def runtime_channels_first_family(k: Any) -> Any:
    """channels_first images of unknown height and width, cropped and padded at run time."""
    x = k.Input((2, None, None), name="x")
    cf = {"data_format": "channels_first"}
    return k.Model(x, [_resize(k, x, (4, 3), crop_to_aspect_ratio=True, **cf),
                       _resize(k, x, (3, 5), pad_to_aspect_ratio=True, fill_value=-1.0, interpolation="nearest", **cf),
                       _resize(k, x, (5, 5), **cf)])


def same_size_family(k: Any) -> Any:
    """Images of unknown size that are (or crop or pad to) the target's size: left as they are, Inf and NaN kept
    in place, where TF.js's same-size bilinear resize would spread NaN beside an Inf."""
    x = k.Input((None, None, 2), name="x")
    return k.Model(x, [_resize(k, x, (4, 3), crop_to_aspect_ratio=True),
                       _resize(k, x, (4, 3), pad_to_aspect_ratio=True)], name="same_size")


def _inputs(model: Any, rng: np.random.Generator, batch: int, *sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
    names = [t.name.split(":")[0] for t in model.inputs]
    shapes = sizes or [tuple(t.shape[1:]) for t in model.inputs]
    inputs = {name: rng.standard_normal((batch, *shape)).astype("float32")
              for name, shape in zip(names, shapes, strict=True)}
    if model.name == "same_size":
        inputs["x"][0, 1, 1] = [np.inf, np.nan]
    return inputs


RUNS = {"static": [(3,), (1,)], "channels_first": [(2,), (1,)],
        # wide, tall, odd margins, the target's own size and aspect ratio
        "runtime": [(2, (7, 10, 2)), (1, (9, 4, 2)), (2, (4, 3, 2)), (1, (10, 16, 2)), (3, (5, 13, 2))],
        "runtime_channels_first": [(2, (2, 7, 10)), (1, (2, 9, 4)), (2, (2, 5, 5))],
        "same_size": [(2, (4, 3, 2)), (1, (4, 3, 2))]}
FAMILIES = {"static": static_family, "channels_first": channels_first_family, "runtime": runtime_family,
            "runtime_channels_first": runtime_channels_first_family, "same_size": same_size_family}
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS]
converted = converted_fixture("k3_resize_s19", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=1912))


@pytest.mark.node
@each_case(CASES)
def test_keras3_aspect_and_channels_first_resize_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
