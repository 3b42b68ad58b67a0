"""Keras 3's bilinear resize of 8/16-bit integer images, rounded back to their dtype exactly as Keras does.

Keras 3's Resizing and bilinear UpSampling2D resize integer images with ``tf.image.resize`` (float32), then round
half to even and cast back (saturating). The lowering rebuilds TensorFlow's bilinear kernel in float32 ops
(``integer_resize``), so ties round alike; images given directly, through shape layers (tracked by the walk) and
inside a TimeDistributed. Small values make ties frequent. Expected values from eager Keras 3, run in TF.js (cpu,
wasm), compared exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402

SHAPE = (7, 9, 3)


def images(k):
    """uint8 and int16 images, directly and through Reshape / Cropping2D, into bilinear Resizing (up, down and
    uneven ratios, an aspect crop) and bilinear UpSampling2D."""
    L = k.layers
    u8 = k.Input(SHAPE, name="u8", dtype="uint8")
    i16 = k.Input(SHAPE, name="i16", dtype="int16")
    u8m = L.Reshape(SHAPE, name="u8_moved")(u8)
    i16m = L.Cropping2D(((1, 0), (0, 2)), name="i16_cropped")(i16)
    return k.Model([u8, i16], [
        L.Resizing(3, 5, name="down")(u8), L.Resizing(14, 18, name="up")(u8m), L.Resizing(5, 13, name="uneven")(i16),
        L.Resizing(10, 4, name="mixed")(i16m), L.Resizing(4, 4, crop_to_aspect_ratio=True, name="aspect")(u8m),
        L.UpSampling2D(2, interpolation="bilinear", name="up2")(u8m),
        L.UpSampling2D((3, 2), interpolation="bilinear", name="up32")(i16m)])


def clips(k):
    """A TimeDistributed Resizing / bilinear UpSampling2D of uint8 frames, directly and after a Reshape."""
    L = k.layers
    frames = k.Input((3, *SHAPE), name="frames", dtype="uint8")
    moved = L.Reshape((3, *SHAPE), name="moved")(frames)
    return k.Model(frames, [
        L.TimeDistributed(L.Resizing(5, 4, name="resize"), name="td_resize")(frames),
        L.TimeDistributed(L.Resizing(4, 11, name="resize_moved"), name="td_resize_moved")(moved),
        L.TimeDistributed(L.UpSampling2D(2, interpolation="bilinear", name="up"), name="td_up")(moved)])


FAMILIES = {"images": images, "clips": clips}
CASES = [(family, "keras3.keras") for family in FAMILIES]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        dtype = str(getattr(t.dtype, "name", t.dtype))
        shape = (2, *t.shape[1:])
        small = rng.integers(0, 4, shape)  # halves and quarters: ties
        wide = rng.integers(-32768, 32768, shape) if dtype == "int16" else rng.integers(0, 256, shape)
        out[t.name.split(":")[0]] = np.where(rng.random(shape) < 0.5, small, wide).astype(dtype)
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "k28_resize", CASES, family_saver(FAMILIES, _inputs, 28))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_bilinear_resize_of_integer_images_matches_keras3_exactly(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    assert {str(o.dtype) for o in outputs} <= {"uint8", "int16"}
    _verify(path.parent / f"{path.name}.out", inputs, outputs)


def test_weights_are_tensorflows():
    """The kernel's source rows and weights are TensorFlow's (``tf.image.resize`` of a one-hot ramp reads them)."""
    tf = pytest.importorskip("tensorflow")
    from tfjsconv.plugins.keras.lowering.integer_resize import tf_bilinear_weights

    for in_size, out_size in [(7, 3), (9, 18), (6, 4), (9, 13), (5, 20)]:
        lower, upper, lerp = tf_bilinear_weights(in_size, out_size)
        eye = np.eye(in_size, dtype=np.float32).reshape(1, in_size, in_size, 1)  # row i of the result: weights
        weights = tf.image.resize(eye, (out_size, in_size), method="bilinear").numpy()[0, :, :, 0]
        ours = np.zeros((out_size, in_size), np.float32)
        for i in range(out_size):
            ours[i, lower[i]] += 1 - lerp[i]
            ours[i, upper[i]] += lerp[i]
        np.testing.assert_allclose(ours, weights, atol=1e-6)


@pytest.mark.parametrize("layer", ["Resizing", "UpSampling2D"])
def test_bilinear_resize_of_integer_images_of_unknown_sizes_is_refused_by_name(tmp_path, layer):
    """The kernel's weights depend on the input's size: over sizes known only at run time, TF.js's own bilinear
    result could round to the other integer at a tie, so it stays a gap."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    x = keras.Input((None, None, 3), name="x", dtype="uint8")
    resize = keras.layers.Resizing(4, 5, name="resize") if layer == "Resizing" else \
        keras.layers.UpSampling2D(2, interpolation="bilinear", name="resize")
    keras.Model(x, resize(x)).save(tmp_path / "m.keras")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(err.value)
    assert f"'resize' ({layer})" in message and "on uint8 images (Keras 3 casts its result back" in message
