"""Keras layer classes lowered in session 15 (issue 16): ones the traced path (``--loader=tensorflow``) converted and
the lowering did not know.

- Keras 3's image augmentation layers at inference: AutoContrast (deterministic: each image's channels stretched to
  the value range, a flat channel kept), and the random ones, which return their images at inference (cast to
  float32, or as given: integers stay integers); the traced path cannot freeze RandomGrayscale, RandomHue,
  RandomSaturation, RandomPosterization, RandomColorDegeneration and MixUp (their seed variables);
- Keras 3's ReversibleEmbedding, forward and ``reverse=True`` (tied or not, soft-capped logits);
- Keras 3's SpectralNormalization (the wrapped layer as saved);
- tf_keras's LocallyConnected1D/2D (``implementation=1``, both data formats), and tf_keras's RandomCrop, which at
  inference resizes its images to its size (``smart_resize``; the traced path cannot freeze it);
- and a fix: Keras 3's hard_shrink / soft_shrink activations gave NaN for NaN (``x · mask``), Keras 0.

Each model is converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js (cpu and wasm) and compared with
Keras's own ``model(x, training=False)``: integers exactly, floats within 1e-5 of each output's range.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

#: Cast to float32 at inference, then returned.
AUGMENTATIONS_CAST = ("Solarization", "CutMix", "RandomErasing", "RandomGaussianBlur", "RandomPerspective",
                      "RandomElasticTransform", "AugMix", "RandAugment", "RandomSharpness")
#: Returned as given at inference (integers stay integers).
AUGMENTATIONS_RAW = ("RandomInvert", "RandomColorJitter", "RandomCrop", "RandomGrayscale", "RandomHue",
                     "RandomSaturation", "RandomPosterization", "RandomColorDegeneration", "MixUp")
AUGMENTATIONS_AT_INFERENCE = AUGMENTATIONS_CAST + AUGMENTATIONS_RAW


def _augmentation(name: str):
    L, full = keras.layers, {"value_range": (0, 255)}
    options = {"Solarization": {"addition_factor": 0.0, "threshold_factor": 0.5, **full}, "RandomCrop": {"height": 5,
               "width": 6}, "RandomColorJitter": {"brightness_factor": 0.2, **full}, "CutMix": {},
               "RandomPerspective": {}, "RandomGrayscale": {"factor": 0.5}, "MixUp": {},
               "RandomHue": {"factor": 0.2, **full}, "RandomSaturation": {"factor": 0.2, **full},
               "RandomPosterization": {"factor": (2, 4), **full}, "RandomColorDegeneration": {"factor": 0.5, **full},
               "RandomSharpness": {"factor": 0.2, **full}}
    return getattr(L, name)(**options.get(name, full))


def images_model(dtype: str):
    """AutoContrast over two value ranges and every augmentation layer that returns its images at inference."""
    x = keras.Input((8, 10, 3), name="x", dtype=dtype)
    contrast = [keras.layers.AutoContrast(value_range=(0, 255), name="contrast")(x),
                keras.layers.AutoContrast(value_range=(-1, 1), name="contrast_unit")(x)]
    return keras.Model(x, contrast + [_augmentation(name)(x) for name in AUGMENTATIONS_AT_INFERENCE])


def _images(dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "int32":  # ints past 2^24 too: the layers that keep them must not round them through float32
        data = rng.integers(0, 256, (3, 8, 10, 3)).astype(np.int32)
        data[2, 0, :4, 0] = [2**31 - 1, -2**31, 16777217, -3]
        return data
    data = rng.uniform(0, 255, (3, 8, 10, 3)).astype(np.float32)
    data[1, :, :, 1] = 7.0  # a flat channel: AutoContrast keeps it (its stretch is 0 · inf)
    data[2, :, :, 2] = 0.0
    return data


def reversible_model():
    x = keras.Input((5,), name="ids", dtype="int32")
    tied = keras.layers.ReversibleEmbedding(10, 4, name="tied")
    untied = keras.layers.ReversibleEmbedding(10, 4, tie_weights=False, logit_soft_cap=0.05, name="untied")
    hidden, other = tied(x), untied(x)
    return keras.Model(x, [hidden, tied(hidden * 3.0, reverse=True), untied(other, reverse=True),
                           tied(keras.layers.Dense(4, name="dense")(hidden), reverse=True)])


def spectral_model():
    x = keras.Input((6, 6, 3), name="x")
    y = keras.layers.SpectralNormalization(keras.layers.Conv2D(4, 3, activation="relu"), name="sn_conv")(x)
    y = keras.layers.SpectralNormalization(keras.layers.Dense(5), name="sn_dense")(keras.layers.Flatten()(y))
    return keras.Model(x, y)


def tf_keras_crops_model():
    """tf_keras's RandomCrop at inference: ``smart_resize`` to its size (the traced path cannot freeze it)."""
    import tf_keras as k

    x = k.Input((8, 10, 3), name="x")
    return k.Model(x, [k.layers.RandomCrop(5, 6, name="smaller")(x), k.layers.RandomCrop(12, 4, name="taller")(x),
                       k.layers.RandomCrop(8, 10, name="same")(x)])


def locally_connected_model():
    import tf_keras as k

    x1, x2, x3 = k.Input((7, 3), name="x1"), k.Input((6, 5, 3), name="x2"), k.Input((3, 6, 5), name="x3")
    return k.Model([x1, x2, x3], [
        k.layers.LocallyConnected1D(4, 3, strides=2, activation="tanh", name="lc1")(x1),
        k.layers.LocallyConnected1D(2, 2, data_format="channels_first", use_bias=False, name="lc1_cf")(x1),
        k.layers.LocallyConnected2D(4, (3, 2), strides=(1, 2), name="lc2")(x2),
        k.layers.LocallyConnected2D(4, (3, 2), data_format="channels_first", name="lc2_cf")(x3)])


def shrink_model():
    """Activation layers hard_shrink / soft_shrink: NaN gives 0 in Keras (``where`` of false tests)."""
    x = keras.Input((10,), name="x")
    return keras.Model(x, [keras.layers.Activation("hard_shrink", name="hard")(x),
                           keras.layers.Activation("soft_shrink", name="soft")(x)])


SPECIAL = np.float32([[np.nan, np.inf, -np.inf, 0.5, -0.5, 0.0, -0.0, 0.75, -3.0, 1e30]])


def _save(case: str, folder: Path):
    rng = np.random.default_rng(15)
    if case == "shrink":
        return save_with_outputs(shrink_model(), {"x": np.concatenate([SPECIAL, SPECIAL[:, ::-1]])},
                                 folder / "shrink.keras")
    if case.startswith("images"):
        dtype = case.split("_")[1]
        model, inputs, suffix = images_model(dtype), {"x": _images(dtype, 3)}, ".keras"
    elif case == "reversible":
        model, inputs, suffix = reversible_model(), {"ids": rng.integers(-10, 10, (2, 5)).astype(np.int32)}, ".keras"
    elif case == "tf_keras_crops":
        pytest.importorskip("tf_keras")
        model, inputs, suffix = tf_keras_crops_model(), {"x": _images("float32", 4)}, ".h5"
    elif case == "spectral":
        model, inputs, suffix = spectral_model(), {"x": rng.standard_normal((2, 6, 6, 3)).astype(np.float32)}, ".keras"
    else:
        pytest.importorskip("tf_keras")
        model, suffix = locally_connected_model(), ".h5"
        inputs = {name: rng.standard_normal((2, *shape)).astype(np.float32)
                  for name, shape in (("x1", (7, 3)), ("x2", (6, 5, 3)), ("x3", (3, 6, 5)))}
    randomize(model, 7)
    return save_with_outputs(model, inputs, folder / f"{case}{suffix}")


CASES = ["images_float32", "images_int32", "reversible", "spectral", "locally_connected", "shrink", "tf_keras_crops"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s15_layers")
    saved = {case: _save(case, folder) for case in CASES}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", CASES)
def test_layers_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    if case == "images_int32":  # the layers that return integer images as given keep them exactly
        assert [o.dtype for o in outputs[2:]].count(np.dtype("int32")) == len(AUGMENTATIONS_RAW), outputs
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_what_stays_refused_is_named(tmp_path):
    """tf_keras's LocallyConnected of implementation 2 (a masked dense kernel: TF.js has no SparseMatMul, so the traced
    path fails too) and tf_keras's RandomCrop of integer images stay gaps named by layer."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    k = pytest.importorskip("tf_keras")
    x = k.Input((7, 3), name="x")
    k.Model(x, [k.layers.LocallyConnected1D(4, 3, implementation=2, name="lc")(x)]).save(tmp_path / "lc.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "lc.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert re.search(r"'lc' \(LocallyConnected1D: implementation=2\)", str(err.value)), str(err.value)

    img = k.Input((8, 8, 3), name="img", dtype="int32")
    k.Model(img, k.layers.RandomCrop(4, 4, name="crop")(img)).save(tmp_path / "crop.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "crop.h5", tmp_path / "out2", output_format="tfjs_graph_model")
    assert re.search(r"'crop' \(RandomCrop\) of tf_keras on integer images", str(err.value)), str(err.value)
