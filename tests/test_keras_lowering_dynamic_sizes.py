"""Layers over inputs whose sizes besides the batch are unknown (``keras.Input((None, None, 3))``) lower with
shapes read at run time: one converted model, fed inputs of two different sizes, matches Keras on both."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402
from test_keras_lowering import _module, _verify, case_file, saved_and_converted  # noqa: E402


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


def _save(family: str, flavor: str, folder: Path):
    """The model saved as ``flavor``, with Keras's outputs for inputs of each of the family's two sizes."""
    model = FAMILIES[family](_module(flavor))
    randomize(model, 11)
    rng = np.random.default_rng(12)
    names = [t.name.split(":")[0] for t in model.inputs]
    runs = []
    for sizes in SIZES[family]:
        xs = [rng.standard_normal(size).astype("float32") for size in sizes]
        outputs = model(xs if len(xs) > 1 else xs[0], training=False)
        runs.append((dict(zip(names, xs, strict=True)),
                     [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]))
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, runs, None


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "dynamic_sizes", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_unknown_sizes_lower_and_match_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    for inputs, outputs in runs:
        assert outputs[0].shape[0] == next(iter(inputs.values())).shape[0]
        _verify(Path(f"{path}.out"), inputs, outputs)


def test_center_crop_over_unknown_sizes_stays_refused_by_name(tmp_path):
    """CenterCrop crops or resizes depending on the size it is given, which it needs known: refused by name, with
    the TensorFlow hint (Cropping3D, once refused here, lowers: tests/test_keras_lowering_dynamic_sizes_more.py)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    image = keras.Input((None, None, 2), name="image")
    keras.Model(image, L.CenterCrop(2, 3, name="crop")(image)).save(tmp_path / "crop.keras")
    with pytest.raises(UsageError, match=r"'crop' \(CenterCrop\) needs a rank-4 input of static height") as err:
        tfjsconv.convert(tmp_path / "crop.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
