"""Findings of the random-model bench's session-31 runs (``bench/keras_random_models.py``), reduced.

- Keras 3's LayerNormalization and GroupNormalization do not autocast their inputs: given a float16 tensor, a
  float32 one normalizes it in float32, casts the result back to float16 (the input's dtype: ``ops.layer_normalization``,
  ``_apply_normalization``) and then to float32. The lowering kept the float32 result: a float32 GroupNormalization
  after a float16 one was 1.2e-3 of 6.45 off, silently but for the float16 notice naming the other layer (seed 3112,
  ``--dynamic --policies 0.3 --args``, ``keras3_keras-311200008``), where ``--loader=tensorflow`` is exact.

Converted once (TensorFlow, Keras and tf_keras poisoned), TF.js cpu and wasm against Keras's ``model(x)`` at two
batch sizes and lengths.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def half_into_float32_norms(k: Any) -> Any:
    """float16 layers' results into float32 Layer- and GroupNormalizations (the bench's find: a float32
    GroupNormalization after a float16 one), over steps of unknown length."""
    L = k.layers
    x = k.Input((None, 4), name="x")
    h = L.Dense(4, dtype="float16", name="dense_half")(x)
    g = L.GroupNormalization(groups=1, dtype="float16", name="group_half")(h)
    return k.Model(x, [L.GroupNormalization(groups=2, name="group_after_group")(g),
                       L.GroupNormalization(groups=4, center=False, name="group_after_dense")(h),
                       L.LayerNormalization(name="layer_after_dense")(h),
                       L.LayerNormalization(rms_scaling=True, name="rms_layer_after_group")(g)],
                   name="half_into_float32_norms")


def _inputs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    return [{"x": (rng.standard_normal((batch, length, 4)) * 3).astype(np.float32)}
            for batch, length in ((3, 5), (2, 7))]


FAMILIES = {"half_into_float32_norms": half_into_float32_norms}
CASES = [("half_into_float32_norms", "keras3.keras"), ("half_into_float32_norms", "keras3.h5")]
converted = converted_fixture("random_s31", CASES, two_size_saver(FAMILIES, _inputs, seed=311))


@pytest.mark.node
@each_case(CASES)
def test_float32_normalization_of_float16_tensor_rounds_as_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
