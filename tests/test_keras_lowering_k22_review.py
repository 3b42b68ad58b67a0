"""Review of CenterCrop/Resizing over unknown sizes (K22): integer images, an image already of the target size, and
verify's Keras reference at two sizes.

Keras 3's Resizing casts its result back to the integer dtype of its images (rounded, saturated); the walk hands
the lowering those images cast to float32. A nearest resize of 8/16-bit integers is exact and lowers (int32 in
TF.js); a bilinear one is refused by name: TF.js's bilinear result is a rounding error away from TensorFlow's and
rounds to the other integer at a tie. tf_keras returns floats. Keras 3's CenterCrop casts to float32 itself.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def integer_images(k):
    """Resizing and CenterCrop on uint8 and int16 images of unknown size (Keras 3: nearest resizes, aspect crop
    and pad included, channels_first, a static resize to the same size; tf_keras: bilinear, floats out)."""
    L = k.layers
    images = k.Input((None, None, 2), name="images", dtype="uint8")
    wide = k.Input((6, 8, 2), name="wide", dtype="int16")
    outs = [L.CenterCrop(4, 5, name="center")(images)]
    if k is keras:
        first = k.Input((2, None, None), name="first", dtype="uint8")
        clips = k.Input((3, None, None, 2), name="clips", dtype="uint8")
        outs += [L.Resizing(3, 4, interpolation="nearest", name="nearest")(images),
                 L.Resizing(4, 5, crop_to_aspect_ratio=True, interpolation="nearest", name="aspect")(images),
                 L.Resizing(4, 5, pad_to_aspect_ratio=True, fill_value=0, interpolation="nearest", name="padded")(images),
                 L.Rescaling(0.5, name="after")(L.Resizing(3, 3, interpolation="nearest", name="mid")(images)),
                 L.Resizing(6, 8, name="same")(wide),
                 L.Resizing(3, 4, interpolation="nearest", data_format="channels_first", name="first_nearest")(first),
                 L.TimeDistributed(L.Resizing(2, 3, interpolation="nearest", name="frame"), name="frames")(clips)]
        return k.Model([images, wide, first, clips], outs)
    outs += [L.Resizing(3, 4, name="bilinear")(images),
             L.Resizing(4, 5, crop_to_aspect_ratio=True, name="aspect")(images), L.Resizing(3, 5, name="wide_bilinear")(wide)]
    return k.Model([images, wide], outs)


def same_size_special(k):
    """Bilinear Resizing over unknown sizes fed an image of the target size holding NaN, ±Inf and -0: eager Keras
    returns it as it is (``tf.image.resize`` skips a resize to the same size), TF.js's resize would spread them."""
    L = k.layers
    inp = k.Input((None, None, 1), name="image")
    outs = [L.Resizing(4, 5, name="plain")(inp), L.Resizing(4, 5, crop_to_aspect_ratio=True, name="aspect")(inp)]
    if k is keras:
        outs.append(L.Resizing(4, 5, pad_to_aspect_ratio=True, name="padded")(inp))
    return k.Model(inp, outs)


SIZES = [(9, 8), (3, 7), (4, 5)]
#: The target size (special values), then sizes cropped, padded or resized to it (finite values).
SPECIAL_SIZES = [(4, 5), (8, 10), (3, 7), (2, 5)]


def _inputs(model, family: str, rng: np.random.Generator):
    if family == "same_size_special":
        for i, (h, w) in enumerate(SPECIAL_SIZES):
            x = rng.standard_normal((1 + i % 2, h, w, 1)).astype("float32")
            if i == 0:
                flat = x.reshape(-1)
                flat[::3] = np.resize(np.array([np.nan, np.inf, -0.0, -np.inf], dtype=np.float32), flat[::3].shape)
            yield {"image": x}
        return
    for i, (h, w) in enumerate(SIZES):
        batch = 1 + i % 2
        shapes = {"images": (batch, h, w, 2), "wide": (batch, 6, 8, 2), "first": (batch, 2, w, h),
                  "clips": (batch, 3, h, w, 2)}
        dtypes = {t.name.split(":")[0]: str(getattr(t.dtype, "name", t.dtype)) for t in model.inputs}
        yield {name: rng.integers(0, 256 if dtype == "uint8" else 3000, shapes[name]).astype(dtype)
               for name, dtype in dtypes.items()}


CASES = [("integer_images", "keras3.keras"), ("integer_images", "tf_keras.h5"), ("same_size_special", "keras3.keras"),
         ("same_size_special", "tf_keras.h5")]
converted = converted_fixture("k22_review", CASES, two_size_saver(
    {"integer_images": integer_images, "same_size_special": same_size_special}, _inputs, 5))


@pytest.mark.node
@each_case(CASES)
def test_integer_images_and_same_sizes_match_keras_at_every_size(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    if family == "same_size_special":  # Keras passes the special values through
        assert all(np.isinf(o).any() and np.isnan(o).any() for o in runs[0][1])
    elif flavor.startswith("keras3"):  # the reference keeps the images' integer dtype
        assert {str(o.dtype) for o in runs[0][1]} == {"float32", "uint8", "int16"}
    verify_runs(path, runs)


@pytest.mark.parametrize("dtype,interpolation", [("uint8", "bilinear"), ("int16", "bilinear"),
                                                 ("int32", "nearest"), ("int64", "nearest")])
def test_keras3_resizing_that_rounds_integers_is_refused_by_name(tmp_path, dtype, interpolation):
    import tfjsconv
    from tfjsconv.errors import UsageError

    inp = keras.Input((None, 5, 2), name="images", dtype=dtype)
    keras.Model(inp, keras.layers.Resizing(3, 4, interpolation=interpolation, name="resize")(inp)).save(
        tmp_path / "m.keras")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    if dtype in ("int32", "int64"):  # held as float32 by the walk: refused before the resize's own rounding rule
        assert f"'resize' (Resizing) on {dtype} integers (Keras keeps them exact" in str(err.value)
    else:
        assert f"'resize' (Resizing) on {dtype} images (Keras 3 casts its result back" in str(err.value)


def test_keras3_time_distributed_resizing_of_integers_is_refused_by_name(tmp_path):
    """The walk casts the TimeDistributed's integer input; the Resizing it wraps gets it folded (``td/r``)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    inp = keras.Input((3, None, 5, 2), name="clips", dtype="uint8")
    resize = keras.layers.Resizing(3, 4, name="frame")
    keras.Model(inp, keras.layers.TimeDistributed(resize, name="frames")(inp)).save(tmp_path / "m.keras")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "'frames/frame' (Resizing) on uint8 images (Keras 3 casts its result back" in str(err.value)


def test_verify_reference_is_eager_keras_at_each_size(converted):
    """verify's Keras reference (``model.predict``) at a second size must still be eager Keras 3's: a predict
    function traced again at another size has unknown sizes, and Keras 3's CenterCrop then always slices."""
    from tfjsconv.verify.source_check import source_reference

    path, runs, _ = converted[("integer_images", "keras3.keras")]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    for inputs, outputs in runs[:2]:  # larger, then smaller than the crop
        got = source_reference(path, out, inputs, None)
        np.testing.assert_array_equal(got[names[0]], outputs[0])


@pytest.mark.node
def test_same_size_special_values_pass_through_on_webgl(converted, browser):
    """The run-time same-size choice (``Equal``, ``All``, ``SelectV2``) on webgl, special values included."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[("same_size_special", "keras3.keras")]
    out = Path(f"{path}.out")
    signature = json.loads((out / "model.json").read_text())["signature"]
    for inputs, outputs in runs[:2]:
        report = verify_model(out, dict(zip(signature["inputs"], inputs.values(), strict=True)),
                              dict(zip(signature["outputs"], outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                              atol=1e-6, browser_session=browser, quiet=True)
        assert report.passed, format_report(report)
