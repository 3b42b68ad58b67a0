"""A nested model whose Input is an 8/16-bit or int64 integer, given a tensor of another dtype (session 19).

Both Keras flavours cast what a nested model is given to its Input's dtype (Keras 3's
``Functional._convert_inputs_to_tensors``, tf_keras's ``_conform_to_reference_input``; see
``test_keras_lowering_nested_casts_s18.py``). Session 18 made the casts into float32, int32 and bool Inputs; these
were refused by name: int32 into an int16 or uint8 Input (TF's cast wraps: 40000 is -25536 as int16, 300 is 44 as
uint8) and floats into an int64 Input (truncated toward zero; TF.js holds int64 as int32, so values stay within int32's
range here, as for an op layer's cast). Cases: int32 ids wrapped into a uint8 Input feeding an Embedding, int32 values
into an int16 Input handed back (an int16 output) and into a Dense, floats (negative halves, large whole numbers) into
an int64 Input handed back and feeding an Embedding, and the same casts of the steps a TimeDistributed folds. Converted with TensorFlow, Keras and tf_keras poisoned, run in
TF.js cpu and wasm against Keras's own ``model(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "keras3.h5", "tf_keras.h5"]
SIZES = [(3,), (4,)]  # batch of each run


def casts_family(k: Any) -> Any:
    """Nested models whose 8/16-bit or int64 Input differs in dtype from the tensor each is called on."""
    L = k.layers
    wide = k.Input((4,), name="wide", dtype="int32")
    reals = k.Input((4,), name="reals")
    ids = k.Input((4,), name="ids")

    short_in = k.Input((4,), dtype="int16")
    short = k.Model(short_in, L.Reshape((2, 2))(short_in), name="short")  # int16 out, as Keras casts
    short_dense_in = k.Input((4,), dtype="int16")
    short_dense = k.Model(short_dense_in, L.Dense(3, name="on_int16")(short_dense_in), name="short_dense")
    byte_ids = k.Sequential([k.Input((4,), dtype="uint8"), L.Embedding(256, 2), L.Flatten()], name="byte_ids")
    long_in = k.Input((4,), dtype="int64")
    long = k.Model(long_in, L.Reshape((4, 1))(long_in), name="long")
    long_ids = k.Sequential([k.Input((4,), dtype="int64"), L.Embedding(40, 2), L.Flatten()], name="long_ids")
    # the same casts where a TimeDistributed folds steps into the batch (Keras casts the folded tensor)
    wide_steps = k.Input((None, 4), name="wide_steps", dtype="int32")
    id_steps = k.Input((None, 4), name="id_steps")
    step_short = k.Sequential([k.Input((4,), dtype="int16"), L.Dense(2, name="step_on_int16")], name="step_short")
    step_bytes = k.Sequential([k.Input((4,), dtype="uint8"), L.Embedding(256, 2), L.Flatten()], name="step_bytes")
    step_long = k.Sequential([k.Input((4,), dtype="int64"), L.Embedding(40, 2), L.Flatten()], name="step_long")
    outputs = [short(wide), short_dense(wide), byte_ids(wide), long(reals), long_ids(ids),
               L.TimeDistributed(step_short, name="td_short")(wide_steps),
               L.TimeDistributed(step_bytes, name="td_bytes")(wide_steps),
               L.TimeDistributed(step_long, name="td_long")(id_steps)]
    return k.Model([wide, reals, ids, wide_steps, id_steps], outputs)


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """int32 values past int16's and uint8's ranges, negative ones and the int32 extremes; floats with negative halves
    and whole numbers up to 2^30 (within int32, where TF.js's int64 holds them); ids as floats in [0, 40)."""
    wide = rng.integers(-70000, 70000, (batch, 4)).astype("int32")
    wide[0] = [40000, -40000, 300, -1]
    wide[-1] = [2**31 - 1, -2**31, 65535, 256]
    reals = (rng.standard_normal((batch, 4)) * 1000).astype("float32")
    reals[0] = [-0.5, -1.5, 2.0**30, -(2.0**30) - 0.0]
    reals[-1] = [0.99, -0.99, 123456.75, -7.25]
    ids = rng.uniform(0, 39.99, (batch, 4)).astype("float32")
    steps = 2 + batch % 2  # another number of steps at each run
    wide_steps = rng.integers(-70000, 70000, (batch, steps, 4)).astype("int32")
    wide_steps[0, 0] = [40000, -40000, 300, -1]
    id_steps = rng.uniform(0, 39.99, (batch, steps, 4)).astype("float32")
    values = {"wide": wide, "reals": reals, "ids": ids, "wide_steps": wide_steps, "id_steps": id_steps}
    return {t.name.split(":")[0]: values[t.name.split(":")[0]] for t in model.inputs}


CASES = [("casts", flavor) for flavor in FLAVORS]
converted = converted_fixture("nested_casts_s19", CASES,
                              two_size_saver({"casts": casts_family}, at_runs(_inputs, SIZES), seed=191))


@pytest.mark.node
@each_case(CASES)
def test_nested_models_cast_into_narrow_and_int64_inputs_as_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
