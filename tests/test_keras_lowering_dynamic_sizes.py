"""Layers over inputs whose sizes besides the batch are unknown (``keras.Input((None, None, 3))``) lower with
shapes read at run time: one converted model, fed inputs of two different sizes, matches Keras on both."""
from __future__ import annotations

import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, normal_inputs_at, two_size_saver, verify_runs  # noqa: E402


def image_dense(k):
    """A Dense on a rank-4 image of unknown height and width."""
    L = k.layers
    inp = k.Input((None, None, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="conv")(inp)
    return k.Model(inp, L.Dense(5, activation="tanh", name="dense")(x))


def sequence_dense(k):
    """A Dense on a rank-3 sequence of unknown length, then a pool over the steps."""
    L = k.layers
    inp = k.Input((None, 5), name="sequence")
    x = L.Dense(4, name="dense")(inp)
    y = L.Dense(3, use_bias=False, activation="relu", name="dense_no_bias")(x)
    return k.Model(inp, [L.GlobalAveragePooling1D(name="pool")(x), y])


def image_flatten(k):
    """A Flatten of unknown size (Keras cannot build a Dense after it, so it is an output), and a Reshape with
    a -1 over unknown sizes."""
    L = k.layers
    inp = k.Input((None, None, 1), name="image")
    x = L.Conv2D(2, 3, padding="same", name="conv")(inp)
    return k.Model(inp, [L.Flatten(name="flat")(x), L.Reshape((-1, 2, 1), name="pairs")(x)])


def crop_upsample(k):
    """Cropping and UpSampling 1-3D over unknown steps, heights, widths and depths."""
    L = k.layers
    seq = k.Input((None, 4), name="sequence")
    image = k.Input((None, None, 2), name="image")
    volume = k.Input((None, None, None, 2), name="volume")
    a = L.UpSampling1D(3, name="up1d")(L.Cropping1D((1, 2), name="crop1d")(seq))
    b = L.Cropping2D(((1, 0), (2, 1)), name="crop2d")(image)
    c = L.UpSampling2D((2, 3), name="up2d_nearest")(b)
    d = L.UpSampling2D(2, interpolation="bilinear", name="up2d_bilinear")(b)
    e = L.UpSampling3D((2, 1, 3), name="up3d")(volume)
    return k.Model([seq, image, volume], [a, c, d, e])


FAMILIES = {"image_dense": image_dense, "sequence_dense": sequence_dense, "image_flatten": image_flatten,
            "crop_upsample": crop_upsample}
#: Two input sizes (batch included) per input, fed to the same converted model.
SIZES = {"image_dense": [[(2, 5, 7, 3)], [(3, 8, 3, 3)]], "sequence_dense": [[(2, 6, 5)], [(1, 11, 5)]],
         "image_flatten": [[(2, 5, 7, 1)], [(3, 8, 3, 1)]],
         "crop_upsample": [[(2, 6, 4), (2, 5, 7, 2), (2, 2, 3, 4, 2)], [(1, 9, 4), (1, 4, 4, 2), (1, 3, 1, 2, 2)]]}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]


converted = converted_fixture("dynamic_sizes", CASES, two_size_saver(FAMILIES, normal_inputs_at(SIZES), seed=11))


@pytest.mark.node
@each_case(CASES)
def test_unknown_sizes_lower_and_match_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    assert all(outputs[0].shape[0] == next(iter(inputs.values())).shape[0] for inputs, outputs in runs)
    verify_runs(path, runs)

