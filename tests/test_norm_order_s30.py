"""Keras's normalization layers lowered in Keras's own order of float32 operations (session 30, helper h3b).

Over a constant channel or row (variance 0) Keras's result is decided by its formula's order: tf_keras's fused
BatchNormalization in training (FusedBatchNormV3, ``(x − mean)·scale + offset``) gives β exactly, Keras 3's
Layer- and GroupNormalization (``x·inv + (−mean·inv + β)``) round β beside a large ``mean·inv``. The lowering
computed the other way round in each case: up to 1.7e-4 of the output range off on TF.js cpu and wasm. Expected
values from Keras; conversion with TensorFlow poisoned; TF.js cpu and wasm within 1e-5 of the output range.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

pytestmark = pytest.mark.node


def bn_fused_training_family(k: Any) -> Any:
    """tf_keras BatchNormalization with ``training=True`` on rank-4 inputs (the fused kernel): channels last and
    first, with β and γ, without β, without γ."""
    L = k.layers
    img, first = k.Input((None, 5, 2), name="img"), k.Input((2, 3, None), name="first")
    return k.Model([img, first], [L.BatchNormalization(name="bn")(img, training=True),
                                  L.BatchNormalization(scale=False, name="bn_no_gamma")(img, training=True),
                                  L.BatchNormalization(center=False, name="bn_no_beta")(img, training=True),
                                  L.BatchNormalization(axis=1, name="bn_first")(first, training=True)])


def layer_norm_family(k: Any) -> Any:
    """Keras 3 Layer- and GroupNormalization with β (over one axis and two), γ off, both off."""
    L = k.layers
    x, grid = k.Input((7,), name="x"), k.Input((3, 4), name="grid")
    return k.Model([x, grid], [L.LayerNormalization(name="ln")(x),
                               L.LayerNormalization(scale=False, name="ln_no_gamma")(x),
                               L.LayerNormalization(scale=False, center=False, name="ln_plain")(x),
                               L.LayerNormalization(axis=[1, 2], name="ln2")(grid),
                               L.GroupNormalization(groups=2, name="gn")(grid),
                               L.GroupNormalization(groups=2, scale=False, name="gn_no_gamma")(grid)])


def tf_keras_norms_family(k: Any) -> Any:
    """tf_keras LayerNormalization off its fused path (``epsilon`` below 1.001e-5, a leading axis: both
    ``tf.nn.batch_normalization``) and on it, and GroupNormalization (``tf.nn.weighted_moments`` then
    ``tf.nn.batch_normalization``)."""
    L = k.layers
    x, grid = k.Input((7,), name="x"), k.Input((3, 4), name="grid")
    return k.Model([x, grid], [L.LayerNormalization(epsilon=1e-6, name="ln_small_eps")(x),
                               L.LayerNormalization(name="ln_fused")(x),
                               L.LayerNormalization(axis=1, name="ln_leading")(grid),
                               L.GroupNormalization(groups=2, name="gn")(grid),
                               L.GroupNormalization(groups=2, center=False, name="gn_no_beta")(grid)])


FAMILIES = {"bn_fused_training": bn_fused_training_family, "layer_norm": layer_norm_family,
            "tf_keras_norms": tf_keras_norms_family}
CASES = [("bn_fused_training", "tf_keras.h5"), ("layer_norm", "keras3.keras"), ("tf_keras_norms", "tf_keras.h5")]
#: Per run: the batch, a free size, and the constant of the constant channel or row.
RUNS = {"bn_fused_training": [(7, 1, 103.0), (3, 4, 37.5)], "layer_norm": [(3, 0, 114.0), (4, 0, 125.0)],
        "tf_keras_norms": [(3, 0, 114.0), (4, 0, 125.0)]}


def _inputs(family: str, rng: np.random.Generator, batch: int, size: int, constant: float) -> dict:
    """Random inputs with a constant channel (the batch norms) or row and group (the layer and group norms)."""
    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 2).astype(np.float32)

    if family == "bn_fused_training":
        img, first = normal(batch, size, 5, 2), normal(batch, 2, 3, size)
        img[..., 0], first[:, 1] = constant, constant
        return {"img": img, "first": first}
    x, grid = normal(batch, 7), normal(batch, 3, 4)
    x[0], grid[1], grid[2, :, :2] = constant, constant, constant
    return {"x": x, "grid": grid}


def _runs(model: Any, family: str, rng: np.random.Generator) -> Iterator[dict]:
    """The family's runs: :func:`_inputs` at each of its ``RUNS``."""
    return (_inputs(family, rng, *spec) for spec in RUNS[family])


_save = two_size_saver(FAMILIES, _runs, 40)


converted = converted_fixture("norm_order", CASES, _save)


@each_case(CASES)
def test_normalizations_follow_keras_order(converted, tfjs_runtime, family, flavor):
    """A constant channel or row gives Keras's own rounding of β (tf_keras's fused training: β exactly; Keras 3's
    layer and group norms: β rounded beside ``mean·inv``); before, 3.7e-5 and 1.7e-4 of the output range off."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
