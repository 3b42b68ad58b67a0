"""Keras 3's ContrastLimitedAdaptiveHistogramEqualization (CLAHE) lowered without TensorFlow (session 20; session 19's
probe found it converted through ``--loader=tensorflow`` only with ``--target_backends=cpu``). Every config option:
``value_range`` (the default, [0, 1], an offset one), ``clip_limit`` (the default, 0: no clipping, a float32 one and
one that is not), ``tile_grid_size`` (tiles that divide the image, ones that need symmetric padding on either side, a
single tile) and ``data_format``; static sizes, and unknown height and width read at run time. Inputs with ties (whole
numbers, repeated values), flat tiles (every pixel equal: at 0, at 255, between bins), values at the range's ends and
beyond it (-3, 300, ±Inf, 1e10, whose bin TensorFlow's cast makes 0 while its lookup reads entry 255). Keras 3
``.keras`` and ``.h5``, converted with TensorFlow, Keras and tf_keras poisoned, TF.js cpu and wasm against
``model(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import (at_runs, converted_fixture, each_case, two_size_saver, verify_last_run_on_webgl,  # noqa: E402
                             verify_runs)

FLAVORS = ["keras3.keras", "keras3.h5"]


def _clahe(k: Any, **options: Any) -> Any:
    return k.layers.ContrastLimitedAdaptiveHistogramEqualization(**options)


def static_family(k: Any) -> Any:
    """10×13 images: grids that pad rows and columns, one that divides neither, a single tile; every clip_limit kind
    and value range (each range has an input of its own, drawn in that range)."""
    x = k.Input((10, 13, 3), name="x")
    unit = k.Input((10, 13, 3), name="unit")
    offset = k.Input((10, 13, 2), name="offset")
    tiny = k.Input((4, 5, 2), name="tiny")  # one pixel per tile: padded by as many rows as the image has
    outputs = [_clahe(k, tile_grid_size=(3, 4))(x), _clahe(k)(x), _clahe(k, tile_grid_size=(1, 1))(x),
               _clahe(k, tile_grid_size=(5, 6), clip_limit=0)(x), _clahe(k, tile_grid_size=(2, 3), clip_limit=1.7)(x),
               _clahe(k, tile_grid_size=(4, 2), value_range=(0, 1), clip_limit=2.5)(unit),
               _clahe(k, tile_grid_size=(3, 3), value_range=(-1.5, 2.25), clip_limit=1.1)(offset),
               _clahe(k, tile_grid_size=(8, 8))(tiny)]
    return k.Model([x, unit, offset, tiny], outputs)


def channels_first_family(k: Any) -> Any:
    x = k.Input((3, 9, 7), name="x")
    cf = {"data_format": "channels_first"}
    return k.Model(x, [_clahe(k, tile_grid_size=(2, 3), **cf)(x), _clahe(k, tile_grid_size=(4, 4), clip_limit=0.3,
                                                                         **cf)(x)])


def runtime_family(k: Any) -> Any:
    """Unknown height and width (and a channels_first input of unknown sizes): tiles, padding, limit and weights
    computed at run time."""
    x = k.Input((None, None, 3), name="x")
    cf = k.Input((2, None, None), name="cf")
    return k.Model([x, cf], [_clahe(k, tile_grid_size=(3, 4))(x), _clahe(k, tile_grid_size=(2, 2), clip_limit=0)(x),
                             _clahe(k, tile_grid_size=(3, 2), clip_limit=2.5, value_range=(0, 1))(x),
                             _clahe(k, tile_grid_size=(2, 3), data_format="channels_first")(cf)])


def flat_family(k: Any) -> Any:
    x = k.Input((8, 8, 1), name="x")
    return k.Model(x, [_clahe(k, tile_grid_size=(2, 2))(x), _clahe(k, tile_grid_size=(2, 2), clip_limit=0)(x)])


def integer_family(k: Any) -> Any:
    """Integer images: Keras computes on them as given (cast to float32 for another value range) and casts the result
    back to their dtype, truncated; a uint8 result summed with itself wraps as uint8 does."""
    u8, i8 = k.Input((10, 13, 3), name="u8", dtype="uint8"), k.Input((10, 13, 3), name="i8", dtype="int8")
    u16, i32 = k.Input((10, 13, 3), name="u16", dtype="uint16"), k.Input((None, None, 3), name="i32", dtype="int32")
    equalized = _clahe(k, tile_grid_size=(3, 4))(u8)
    return k.Model([u8, i8, u16, i32], [equalized, k.ops.add(equalized, equalized),
                                        _clahe(k, tile_grid_size=(2, 3), value_range=(-100, 100))(i8),
                                        _clahe(k, tile_grid_size=(3, 3), value_range=(0, 1000), clip_limit=2.0)(u16),
                                        _clahe(k, tile_grid_size=(2, 2))(i32)])


def _integers(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    shape = (batch, 10, 13, 3)
    i32 = rng.integers(-5, 300, shape).astype("int32")
    i32[0, 0, 0] = 2 ** 30
    return {"u8": rng.integers(0, 256, shape).astype("uint8"), "i8": rng.integers(-128, 128, shape).astype("int8"),
            "u16": rng.integers(0, 1200, shape).astype("uint16"), "i32": i32}


def _images(rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    """Uniform in [low, high], a third of them whole numbers (ties), a repeated block, rows at both ends, values
    beyond the range."""
    x = rng.uniform(low, high, shape).astype("float32")
    x = np.where(rng.uniform(size=shape) < 0.3, np.round(x), x).astype("float32")
    x[0, :3, :3] = low + (high - low) * 0.25
    x[-1, 0] = high
    x[-1, 1] = low
    return x


def _beyond(x: np.ndarray, channels_last: bool = True) -> np.ndarray:
    """Values past the range in the first image: -3, 300, +Inf, -Inf, 1e10 (at or past 2^31: bin 0, entry 255)."""
    x = x.copy()
    for value, (row, col) in zip((-3.0, 300.0, np.inf, -np.inf, 1e10), ((4, 4), (5, 5), (6, 1), (2, 6), (7, 2))):
        if channels_last:
            x[0, row, col, 0] = value
        else:
            x[0, 0, row, col] = value
    return x


def _inputs(model: Any, rng: np.random.Generator, batch: int, height: int = 0, width: int = 0) -> dict[str, Any]:
    names = [t.name.split(":")[0] for t in model.inputs]
    if names[0] == "u8":
        return _integers(rng, batch)
    if names == ["x", "unit", "offset", "tiny"]:  # static
        return {"x": _beyond(_images(rng, (batch, 10, 13, 3), 0, 255)),
                "unit": _images(rng, (batch, 10, 13, 3), 0, 1), "offset": _images(rng, (batch, 10, 13, 2), -1.5, 2.25),
                "tiny": _images(rng, (batch, 4, 5, 2), 0, 255)}
    if names == ["x", "cf"]:  # runtime
        return {"x": _beyond(_images(rng, (batch, height, width, 3), 0, 255)),
                "cf": _beyond(_images(rng, (batch, 2, height + 1, width), 0, 255), channels_last=False)}
    shape = tuple(model.inputs[0].shape)[1:]
    if shape == (8, 8, 1):  # flat tiles
        x = _images(rng, (batch, 8, 8, 1), 0, 255)
        x[0, :4, :4], x[0, :4, 4:], x[0, 4:, :4] = 0.0, 255.0, 100.5
        x[-1, :4, :4] = 7.0
        x[-1, 4:, 4:] = np.where(np.arange(16).reshape(4, 4, 1) % 2, 3.0, 250.0)
        return {"x": x}
    return {"x": _beyond(np.transpose(_images(rng, (batch, 9, 7, 3), 0, 255), (0, 3, 1, 2)), channels_last=False)}


FAMILIES = {"static": static_family, "channels_first": channels_first_family, "runtime": runtime_family,
            "flat": flat_family, "integer": integer_family}
RUNS = {"static": [(2,), (1,)], "channels_first": [(2,), (1,)], "flat": [(2,), (3,)], "integer": [(2,), (1,)],
        "runtime": [(2, 10, 13), (1, 17, 9)]}
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS]
converted = converted_fixture("clahe_s20", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=203))


@pytest.mark.node
@each_case(CASES)
def test_clahe_lowers_and_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def _refusal(tmp_path, model: Any) -> str:
    import tfjsconv
    from tfjsconv.errors import UsageError

    path = tmp_path / "clahe.keras"
    model.save(path)
    with pytest.raises(UsageError) as error:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    return str(error.value)


def test_float64_clip_limit_over_unknown_sizes_is_refused_by_name(tmp_path):
    """Keras's limit ``clip_limit · area / 256.0`` is a float64 product rounded to float32: over unknown sizes the
    lowering computes it in float32, exact only for a float32 clip_limit, so another is refused, the layer named."""
    x = keras.Input((None, None, 3), name="x")
    model = keras.Model(x, _clahe(keras, clip_limit=1.7, name="eq")(x))
    assert "'eq' (ContrastLimitedAdaptiveHistogramEqualization) with clip_limit=1.7" in _refusal(tmp_path, model)


def test_integer_images_past_their_dtype_are_refused_by_name(tmp_path):
    """Keras casts the result back to the images' integer dtype; a value range past it (uint8 in [0, 1000]) would
    wrap, which the lowering does not compute: refused, the layer named."""
    x = keras.Input((8, 8, 3), name="x", dtype="uint8")
    model = keras.Model(x, _clahe(keras, tile_grid_size=(2, 2), value_range=(0, 1000), name="eq")(x))
    assert "'eq' (ContrastLimitedAdaptiveHistogramEqualization) on uint8 images with value_range=[0, 1000]" in \
        _refusal(tmp_path, model)


WEBGL_CASES = [("static", "keras3.keras"), ("runtime", "keras3.keras"), ("flat", "keras3.keras")]


@pytest.mark.node
@each_case(WEBGL_CASES)
def test_clahe_matches_keras_on_webgl(converted, browser, family, flavor):
    """The same models on webgl (headless Chromium): DenseBincount, Cumsum, MirrorPad and the gathers run there."""
    path, runs, _ = converted[(family, flavor)]
    verify_last_run_on_webgl(path, runs, browser)


def test_image_smaller_than_its_padding_is_refused_by_name(tmp_path):
    """A 3x5 image in an 8x8 grid needs 5 rows of symmetric padding from 3: TensorFlow's MirrorPad raises (so does
    TF.js's over unknown sizes); of static sizes the lowering refuses it, the layer named."""
    x = keras.Input((3, 5, 2), name="x")
    model = keras.Model(x, _clahe(keras, name="eq")(x))
    assert "'eq' (ContrastLimitedAdaptiveHistogramEqualization): a 3x5 image in a 8x8 grid" in _refusal(tmp_path, model)
