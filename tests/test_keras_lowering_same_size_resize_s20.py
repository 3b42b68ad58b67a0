"""``image.resize`` (tf_keras ``tf.image.resize``, Keras 3 ``ops.image.resize``) to the image's own size, bilinear.

TF's ResizeBilinear kernel copies an image already of the target size; TF.js's computes ``top + (bottom - top)·0``,
so an Inf made NaN of its neighbours (the contract names it on cpu and webgl). The Resizing layer returned such an
image as it is since session 17; the op layers now do too: the image itself where its known size is the target,
and a run-time choice where a size is known only then. Inf in the images, known and unknown sizes, run at the target
size and another one.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from test_keras_lowering import _verify  # noqa: E402


def _images(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Images with an Inf and a -Inf at the target size (at others wasm's own resize row, named, would show)."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    if shape[1:3] == (6, 6):
        x[0, 1, 2, 0], x[-1, 3, 3, 1] = np.inf, -np.inf
    return x


def _model(flavor: str, known: bool):
    if flavor == "keras3":
        import keras as k

        resize = k.ops.image.resize
    else:
        import tf_keras as k

        resize = tf.image.resize
    x = k.Input((6, 6, 2) if known else (None, None, 2), name="x")
    return k.Model(x, [resize(x, (6, 6)), resize(x, (6, 6), method="nearest") if flavor == "tf_keras" else
                       resize(x, (6, 6), interpolation="nearest")])


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_a_resize_to_the_images_own_size_keeps_infinities(tmp_path, tfjs_runtime, flavor, known):
    if flavor == "tf_keras":
        pytest.importorskip("tf_keras")
    model = _model(flavor, known)
    path = tmp_path / ("m.keras" if flavor == "keras3" else "m.h5")
    model.save(path)
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    for shape in [(2, 6, 6, 2)] + ([] if known else [(1, 4, 5, 2)]):
        x = _images(shape, len(shape) + shape[0])
        expected = [np.asarray(y) for y in model(x)]
        if shape[1:3] == (6, 6):
            assert np.isinf(expected[0]).sum() == 2  # TF copies the image
        _verify(tmp_path / "out", {"x": x}, expected)
