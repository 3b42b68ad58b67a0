"""tf_keras op layers the h5py lowering refused while ``--loader=tensorflow`` converted them (session 19, issue 16).

Each family is one TFOpLambda the probe of session 19 found refused by the lowering only: ``tf.nn.conv2d`` with an
explicit padding (a Pad, then the convolution unpadded), ``tf.nn.atrous_conv2d_transpose``, ``tf.gather_nd`` with
``batch_dims=1``, and over images of sizes unknown in the config ``tf.image.central_crop``, ``pad_to_bounding_box``,
``resize_with_crop_or_pad`` and ``resize_with_pad`` (their offsets computed at run time as TensorFlow computes them),
``tf.image.convert_image_dtype`` of int32 images to float32 and of float32 images to int32 (``saturate=True``), and
``tf.signal.frame(pad_end=True)`` / ``tf.signal.overlap_and_add`` over unknown lengths. Each model is saved once as a
tf_keras ``.h5``, converted with TensorFlow, Keras and tf_keras poisoned, and run in TF.js cpu and wasm against
tf_keras's own ``model(x)`` at two input sizes where sizes are unknown (odd and even margins).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_two_sizes import (at_runs, converted_fixture, each_case, two_size_saver,  # noqa: E402
                             verify_last_run_on_webgl, verify_runs)

FLAVOR = "tf_keras.h5"


def _const(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _images(k: Any, name: str = "images", channels: int = 3, dtype: str = "float32") -> Any:
    return k.Input((None, None, channels), name=name, dtype=dtype)


def conv_explicit(k: Any) -> Any:
    """``tf.nn.conv2d`` padded explicitly ``[[0, 0], [1, 0], [0, 2], [0, 0]]``, also with stride 2 and dilation."""
    x = _images(k)
    a = tf.nn.conv2d(x, _const(2, 2, 3, 4), 1, [[0, 0], [1, 0], [0, 2], [0, 0]])
    b = tf.nn.conv2d(x, _const(3, 3, 3, 2, seed=1), 2, [[0, 0], [2, 1], [1, 1], [0, 0]])
    d = tf.nn.conv2d(x, _const(3, 2, 3, 2, seed=2), 1, [[0, 0], [0, 3], [2, 0], [0, 0]], dilations=2)
    return k.Model(x, [a, b, d])


def atrous_transpose(k: Any) -> Any:
    """``tf.nn.atrous_conv2d_transpose`` at rates 2 (SAME) and 3 (VALID)."""
    x = k.Input((6, 8, 3), batch_size=2, name="images")
    same = tf.nn.atrous_conv2d_transpose(x, _const(3, 3, 4, 3), [2, 6, 8, 4], 2, "SAME")
    valid = tf.nn.atrous_conv2d_transpose(x, _const(2, 3, 2, 3, seed=1), [2, 9, 14, 2], 3, "VALID")
    return k.Model(x, [same, valid])


def gather_nd_batch(k: Any) -> Any:
    """``tf.gather_nd(x, i, batch_dims=1)``: indices of one and two entries, several per batch row or one (rank-2
    indices), and constant ones (a batch of 3)."""
    x = k.Input((3, 4), name="x")
    one = k.Input((2, 1), name="one", dtype="int32")
    two = k.Input((2, 2), name="two", dtype="int32")
    row = k.Input((1,), name="row", dtype="int32")
    return k.Model([x, one, two, row], [tf.gather_nd(x, one, batch_dims=1),
                                        tf.gather_nd(tf.reshape(x, [-1, 3, 2, 2]), two, batch_dims=1),
                                        tf.gather_nd(x, row, batch_dims=1),
                                        tf.gather_nd(x, [[[2, 3], [0, 0]], [[1, 1], [2, 0]], [[0, 3], [0, 2]]],
                                                     batch_dims=1)])


def image_boxes(k: Any) -> Any:
    """The tf.image crops and pads over images of unknown height and width."""
    x = _images(k)
    return k.Model(x, [tf.image.central_crop(x, 0.5), tf.image.central_crop(x, 0.8),
                       tf.image.central_crop(x, 0.33), tf.image.pad_to_bounding_box(x, 1, 2, 14, 16),
                       tf.image.resize_with_crop_or_pad(x, 4, 11), tf.image.resize_with_crop_or_pad(x, 9, 5)])


def single_image_boxes(k: Any) -> Any:
    """The same of a single image (rank 3) of unknown size, as the batch of one TensorFlow makes of it."""
    x = _images(k)
    one = tf.squeeze(x[:1], 0)
    return k.Model(x, [tf.image.central_crop(one, 0.75), tf.image.pad_to_bounding_box(one, 0, 3, 12, 15),
                       tf.image.resize_with_crop_or_pad(one, 7, 6)])


def resize_with_pad(k: Any) -> Any:
    """``tf.image.resize_with_pad`` (bilinear and nearest) of images of unknown size."""
    x = _images(k)
    return k.Model(x, [tf.image.resize_with_pad(x, 10, 6), tf.image.resize_with_pad(x, 7, 13, method="nearest")])


def convert_dtype(k: Any) -> Any:
    """``tf.image.convert_image_dtype``: int32 and uint8 images to float32, float32 images (NaN, ±Inf, past [-1, 1]
    included) to int32, saturating and not."""
    ids = _images(k, "ids", dtype="int32")
    pixels = _images(k, "pixels", dtype="uint8")
    x = _images(k, "reals")
    return k.Model([ids, pixels, x], [tf.image.convert_image_dtype(ids, tf.float32),
                                      tf.image.convert_image_dtype(pixels, tf.float32),
                                      tf.image.convert_image_dtype(x, tf.int32, saturate=True),
                                      tf.image.convert_image_dtype(x, tf.int32)])


def signal_unknown(k: Any) -> Any:
    """``tf.signal.frame(pad_end=True)`` and ``overlap_and_add`` over lengths unknown in the config."""
    x = k.Input((None,), name="x")
    frames = k.Input((None, 6), name="frames")
    return k.Model([x, frames], [tf.signal.frame(x, 5, 3, pad_end=True), tf.signal.frame(x, 4, 4, pad_end=True,
                                                                                         pad_value=2.5),
                                 tf.signal.overlap_and_add(frames, 2), tf.signal.overlap_and_add(frames, 6),
                                 tf.signal.overlap_and_add(frames, 4),
                                 tf.signal.overlap_and_add(tf.reshape(frames, [-1, 6]), 5)])


def ssim_unknown(k: Any) -> Any:
    """``tf.image.ssim`` of images of unknown size: a 5×5 window with another max_val and constants, and the
    default 11×11 one; of a batch and of a single image."""
    a, b = _images(k, "first"), _images(k, "second")
    single = tf.image.ssim(tf.squeeze(a[:1], 0), tf.squeeze(b[:1], 0), 1.0, filter_size=7, filter_sigma=1.2)
    return k.Model([a, b], [tf.image.ssim(a, b, 2.0, filter_size=5, k1=0.02, k2=0.05), tf.image.ssim(a, b, 1.0),
                            single])


FAMILIES = {"conv_explicit": conv_explicit, "atrous_transpose": atrous_transpose, "gather_nd_batch": gather_nd_batch,
            "image_boxes": image_boxes, "single_image_boxes": single_image_boxes, "resize_with_pad": resize_with_pad,
            "convert_dtype": convert_dtype, "signal_unknown": signal_unknown, "ssim_unknown": ssim_unknown}


def _inputs(model: Any, rng: np.random.Generator, *sizes: int) -> dict[str, np.ndarray]:
    """Inputs of each run: images ``sizes = (height, width)``, int32 images with 0, the extremes and values past
    2^24, floats past [0, 1] and NaN-free halves for the saturating cast, gather indices in range, signals of
    ``sizes[0]`` samples and ``sizes[1]`` frames."""
    out = {}
    for t in model.inputs:
        name, shape = t.name.split(":")[0], tuple(t.shape)
        if name == "images":
            full = (2, *sizes, 3) if shape[1] is None else (2, *shape[1:])
            out[name] = rng.uniform(0, 1, full).astype("float32")
            out[name].flat[:6] = [-0.5, 1.5, 1.0, 0.0, 0.999, 0.5]
        elif name == "ids":
            ids = rng.integers(-2**31, 2**31, (2, *sizes, 3), dtype=np.int64).astype("int32")
            ids.flat[:8] = [0, 2**31 - 1, -2**31, 1, -1, 2**24 + 1, 255, 2**30]
            out[name] = ids
        elif name in ("first", "second"):  # similar images: SSIM well away from 0, whose cancellation TF.js and
            # TensorFlow's convolutions round apart (the traced path too)
            base = np.random.default_rng(sizes[0]).uniform(0, 1, (2, *sizes, 3))
            out[name] = (base + (0.1 * rng.standard_normal(base.shape) if name == "second" else 0)).astype("float32")
        elif name == "pixels":
            out[name] = rng.integers(0, 256, (2, *sizes, 3)).astype("uint8")
            out[name].flat[:2] = [0, 255]
        elif name == "reals":
            out[name] = rng.uniform(-1.2, 1.2, (2, *sizes, 3)).astype("float32")
            out[name].flat[:9] = [np.nan, np.inf, -np.inf, 1.0, -1.0, 0.5, 0.99999994, 1e-10, -0.7]
        elif name == "row":
            out[name] = rng.integers(0, 3, (3, 1)).astype("int32")
        elif name in ("one", "two"):
            limits = (3,) if name == "one" else (3, 2)
            out[name] = np.stack([rng.integers(0, lim, (3, 2)) for lim in limits], -1).astype("int32")
        elif name == "x" and len(shape) == 2 and shape[1] is None:
            out[name] = rng.standard_normal((2, sizes[0])).astype("float32")
        elif name == "x":
            out[name] = rng.standard_normal((3, *shape[1:])).astype("float32")
        elif name == "frames":
            out[name] = rng.standard_normal((2, sizes[1], 6)).astype("float32")
    return out


#: Two runs per family: odd and even sizes, larger and smaller than the targets.
RUNS = {"conv_explicit": [(5, 7), (8, 4)], "atrous_transpose": [(6, 8)], "gather_nd_batch": [(0, 0), (1, 1)],
        "image_boxes": [(6, 8), (13, 3)], "single_image_boxes": [(5, 9), (12, 4)],
        "resize_with_pad": [(6, 8), (11, 3)], "convert_dtype": [(3, 4), (2, 5)],
        "signal_unknown": [(16, 4), (9, 1)], "ssim_unknown": [(16, 16), (13, 20)]}

CASES = [(family, FLAVOR) for family in FAMILIES]
converted = converted_fixture("tf_image_gaps_s19", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=191))


@pytest.mark.node
@each_case(CASES)
def test_tf_op_layer_lowers_and_matches_tf_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


#: The families run on webgl too (headless Chromium): every run-time box, pad and frame table, in float32.
WEBGL = [case for case in CASES if case[0] != "convert_dtype"]


@pytest.mark.node
@each_case(WEBGL)
def test_tf_op_layer_matches_tf_keras_on_webgl(converted, browser, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    for i in range(len(runs)):
        verify_last_run_on_webgl(path, runs[: i + 1], browser)


@pytest.mark.node
def test_resize_preserving_aspect_ratio_lowers(tmp_path, tfjs_runtime):
    """``tf.image.resize(..., preserve_aspect_ratio=True)``: resized to the size TensorFlow computes (both sides
    scaled by the smaller float32 factor, rounded half to even), bilinear and nearest, wide and tall, of static sizes
    and of sizes unknown in the config (computed at run time; at three sizes, one already of the target size)."""
    import tf_keras as k
    from keras_two_sizes import keras_outputs
    from test_keras_lowering import convert_poisoned

    x, y, z = k.Input((6, 8, 3), name="images"), k.Input((5, 4, 2), name="tall"), _images(k, "free")
    model = k.Model([x, y, z], [tf.image.resize(x, [12, 12], preserve_aspect_ratio=True),
                                tf.image.resize(x, [5, 100], preserve_aspect_ratio=True, method="nearest"),
                                tf.image.resize(y, [7, 3], preserve_aspect_ratio=True),
                                tf.image.resize(y, [10, 8], preserve_aspect_ratio=True),
                                tf.image.resize(z, [12, 12], preserve_aspect_ratio=True),
                                tf.image.resize(z, [7, 20], preserve_aspect_ratio=True, method="nearest")])
    rng = np.random.default_rng(192)
    runs = []
    for size in ((6, 8), (13, 5), (12, 12)):
        inputs = {"images": rng.uniform(size=(2, 6, 8, 3)).astype("float32"),
                  "tall": rng.uniform(size=(2, 5, 4, 2)).astype("float32"),
                  "free": rng.uniform(size=(2, *size, 3)).astype("float32")}
        runs.append((inputs, keras_outputs(model, inputs)))
    path = tmp_path / "resize_aspect.h5"
    model.save(path)
    convert_poisoned([path])
    verify_runs(path, runs)
