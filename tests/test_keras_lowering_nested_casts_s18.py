"""A nested model given a tensor of another dtype than its Input's, lowered with h5py (session 18).

Both Keras flavours cast what a nested Functional or Sequential model is given to its Input's dtype before its layers
run: Keras 3's ``Functional._convert_inputs_to_tensors`` (a ``tf.cast`` on the TensorFlow backend; the masks it was
given are set on the cast tensors afterwards, so they reach the inner layers), tf_keras's
``_conform_to_reference_input`` (a new tensor without the mask, so the inner layers read none). The lowering once
handed Keras 3's nested models the tensor uncast: floats into an int32 Input went in untruncated, silently off. Cases:
floats (NaN, ±Inf, ±2^31, negative halves) into an int32 Input, int32 values past 2^24 into a float Input and back
(Keras's cast rounds them), uint8 into an int32 Input feeding an Embedding, and a masked float sequence into an int32
Input whose GRU reads the mask (Keras 3) or none (tf_keras). Converted with TensorFlow, Keras and tf_keras poisoned,
run in TF.js cpu and wasm against Keras's own ``model(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import _is_keras3  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "keras3.h5", "tf_keras.h5"]
SIZES = [(3,), (4,)]  # batch of each run


def casts_family(k: Any) -> Any:
    """Nested models whose Input dtype differs from the tensor each is called on (see the module docstring)."""
    L = k.layers
    reals = k.Input((4,), name="reals")
    wide = k.Input((4,), name="wide", dtype="int32")
    pixels = k.Input((6,), name="pixels", dtype="uint8")
    steps = k.Input((5, 3), name="steps")

    truncate_in = k.Input((4,), dtype="int32")
    truncate = k.Model(truncate_in, L.Reshape((2, 2))(truncate_in), name="truncate")  # int32 out, as Keras casts
    dense_in = k.Input((4,), dtype="int32")
    dense = k.Model(dense_in, L.Dense(3, name="on_ints")(dense_in), name="dense")
    floats = k.Input((4,), name="floats")
    if _is_keras3(k):
        back = k.ops.cast(floats, "int32")
    else:
        import tensorflow as tf

        back = tf.cast(floats, tf.int32)
    round_trip = k.Model(floats, back, name="round_trip")
    embed = k.Sequential([k.Input((6,), dtype="int32"), L.Embedding(256, 2), L.Flatten()], name="embed")
    masked_in = k.Input((5, 3), dtype="int32")
    recurrent = k.Model(masked_in, L.GRU(2, name="gru")(L.Dense(3, name="step_dense")(masked_in)), name="recurrent")
    outputs = [truncate(reals), dense(L.Dense(4, name="before")(reals)), round_trip(wide), embed(pixels),
               recurrent(L.Masking(0.0, name="masking")(steps))]
    return k.Model([reals, wide, pixels, steps], outputs)


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """Floats with NaN, ±Inf, ±2^31, 2^31 - 128 and negative halves; int32 values past 2^24 at and between
    float32's steps and the extremes; uint8 with 0 and 255; steps scaled by 3 (truncated to several integers) with a
    whole zero step and trailing zero steps (masked)."""
    reals = (rng.standard_normal((batch, 4)) * 10).astype("float32")
    reals[0] = [np.nan, np.inf, -np.inf, 2.0**31]
    reals[-1] = [-0.5, -1.5, 2.0**31 - 128, -(2.0**31)]
    wide = np.array([2**24 + 1, 2**24 + 3, -(2**25 + 2), 2**30 + 65], np.int32) + \
        rng.integers(-8, 8, (batch, 1)).astype("int32")
    wide[-1] = [2**31 - 1, -2**31, 2**24, 2**31 - 129]
    pixels = rng.integers(0, 256, (batch, 6)).astype("uint8")
    pixels[0] = [0, 255, 0, 255, 1, 128]
    steps = (rng.standard_normal((batch, 5, 3)) * 3).astype("float32")
    steps[0, 1] = 0.0
    steps[1, 3:] = 0.0
    values = {"reals": reals, "wide": wide, "pixels": pixels, "steps": steps}
    return {t.name.split(":")[0]: values[t.name.split(":")[0]] for t in model.inputs}


CASES = [("casts", flavor) for flavor in FLAVORS]
converted = converted_fixture("nested_casts", CASES,
                              two_size_saver({"casts": casts_family}, at_runs(_inputs, SIZES), seed=181))


@pytest.mark.node
@each_case(CASES)
def test_nested_models_cast_their_inputs_as_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
