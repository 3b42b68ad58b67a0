"""Findings of the random-model bench's session-31 runs (``bench/keras_random_models.py``), reduced.

- Keras 3's LayerNormalization and GroupNormalization do not autocast their inputs: given a float16 tensor, a float32
  one normalizes it in float32, casts the result back to float16 (the input's dtype: ``ops.layer_normalization``,
  ``_apply_normalization``) and then to float32. The lowering kept the float32 result: a float32 GroupNormalization
  after a float16 one was 1.2e-3 of 6.45 off, silently but for the float16 notice naming the other layer (seed 3112,
  ``--dynamic --policies 0.3 --args``, ``keras3_keras-311200008``), where ``--loader=tensorflow`` is exact.
- Review r5 of that fix: it followed the Value's float16 mark, which layers that cast to float32 in Keras but lower
  to the same Value keep (a nested model's float32 Input, a float32 ``Activation("linear")``): LN/GN after them were
  rounded, 3.5e-4 of the range off (F1); and a float16 tensor made by ``keras.ops.cast`` was not rounded, 3.8e-4 off
  (F2). The rule now reads the dtype Keras records for the layer's input tensor.

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


def half_through_float32_boundaries(k: Any) -> Any:
    """A float16 Dense's result cast to float32 by Keras before a Layer- or GroupNormalization, where the lowering
    hands the same Value on (r5's F1: must not round): a nested Functional of a float32 Input, a nested Sequential,
    a float32 ``Activation("linear")``."""
    L = k.layers
    x = k.Input((None, 4), name="x")
    h = L.Dense(4, dtype="float16", name="dense_half")(x)
    i = k.Input((None, 4))
    inner = k.Model(i, L.LayerNormalization(name="inner_layer_norm")(i), name="inner_float32")
    seq = k.Sequential([L.GroupNormalization(groups=2, name="seq_group_norm")], name="seq_float32")
    linear = L.Activation("linear", name="linear")(h)
    return k.Model(x, [inner(h), seq(h), L.LayerNormalization(name="layer_after_linear")(linear),
                       L.GroupNormalization(groups=2, name="group_after_linear")(linear)],
                   name="half_through_float32_boundaries")


def half_kept_into_float32_norms(k: Any) -> Any:
    """float16 tensors Keras hands a float32 Layer- or GroupNormalization as they are (must round): a
    ``keras.ops.cast`` to float16 (r5's F2), a nested Functional of a float16 Input, a float16 Dense before a
    LayerNormalization in a nested Sequential (which records no input dtypes)."""
    L = k.layers
    x = k.Input((None, 4), name="x")
    cast = k.ops.cast(x, "float16")
    i = k.Input((None, 4), dtype="float16")
    inner = k.Model(i, L.LayerNormalization(name="inner_layer_norm")(i), name="inner_float16")
    seq = k.Sequential([L.Dense(4, dtype="float16", name="seq_dense_half"), L.LayerNormalization(name="seq_norm")],
                       name="seq_half_then_float32")
    return k.Model(x, [L.LayerNormalization(name="layer_after_cast")(cast),
                       L.GroupNormalization(groups=2, name="group_after_cast")(cast), inner(x), seq(x)],
                   name="half_kept_into_float32_norms")


def _inputs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    return [{"x": (rng.standard_normal((batch, length, 4)) * 3).astype(np.float32)}
            for batch, length in ((3, 5), (2, 7))]


FAMILIES = {"half_into_float32_norms": half_into_float32_norms,
            "half_through_float32_boundaries": half_through_float32_boundaries,
            "half_kept_into_float32_norms": half_kept_into_float32_norms}
CASES = [("half_into_float32_norms", "keras3.keras"), ("half_into_float32_norms", "keras3.h5")]
BOUNDARY_CASES = [("half_through_float32_boundaries", "keras3.keras"),
                  ("half_through_float32_boundaries", "keras3.h5"), ("half_kept_into_float32_norms", "keras3.keras"),
                  ("half_kept_into_float32_norms", "keras3.h5")]
converted = converted_fixture("random_s31", CASES + BOUNDARY_CASES, two_size_saver(FAMILIES, _inputs, seed=311))


@pytest.mark.node
@each_case(CASES)
def test_float32_normalization_of_float16_tensor_rounds_as_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(BOUNDARY_CASES)
def test_float32_normalization_rounds_where_keras_tensor_is_float16(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
