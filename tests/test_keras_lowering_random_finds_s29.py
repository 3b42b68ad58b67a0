"""Findings of the random-model bench's session-29 runs (``bench/keras_random_models.py --wide``), reduced.

- A clip whose lower bound is above its upper bound (Keras 3 ``ops.clip(x, 0.8, -0.5)``, tf_keras
  ``tf.clip_by_value(x, 0.8, -0.5)``): TensorFlow computes ``maximum(minimum(x, high), low)``, every value the lower
  bound; the lowering took the maximum first, every value the upper bound (seed 2906, ``keras3_keras-290600047``:
  1.62 of the range off, silently). Equal bounds and the usual order give the same numbers either way.

Converted once (TensorFlow, Keras and tf_keras poisoned), TF.js cpu and wasm against Keras's ``model(x)`` at two
batch sizes and lengths.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

#: (lower, upper) bounds: inverted, inverted around zero, equal, the usual order.
BOUNDS = [(0.8, -0.5), (0.25, -0.25), (0.3, 0.3), (-0.5, 0.8)]


def k3_clips(k: Any) -> Any:
    """Keras 3 ``ops.clip`` of a sequence of unknown length, each pair of bounds (a Dense before, so that the clip is
    no input's)."""
    x = k.Input((None, 4), name="x")
    h = k.layers.Dense(4, name="dense")(x)
    return k.Model(x, [k.ops.clip(h, low, high) for low, high in BOUNDS], name="k3_clips")


def tf_clips(k: Any) -> Any:
    """tf_keras ``tf.clip_by_value`` (TFOpLambda) of a sequence of unknown length, each pair of bounds."""
    x = k.Input((None, 4), name="x")
    h = k.layers.Dense(4, name="dense")(x)
    return k.Model(x, [tf.clip_by_value(h, low, high) for low, high in BOUNDS], name="tf_clips")


def _inputs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    return [{"x": rng.standard_normal((batch, length, 4)).astype(np.float32)} for batch, length in ((3, 5), (2, 7))]


FAMILIES = {"k3_clips": k3_clips, "tf_clips": tf_clips}
CLIP_CASES = [("k3_clips", "keras3.keras"), ("k3_clips", "keras3.h5"), ("tf_clips", "tf_keras.h5")]
converted = converted_fixture("random_finds_s29", CLIP_CASES, two_size_saver(FAMILIES, _inputs, seed=291))


@pytest.mark.node
@each_case(CLIP_CASES)
def test_clip_of_inverted_bounds_gives_the_lower_bound_as_tensorflow(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
