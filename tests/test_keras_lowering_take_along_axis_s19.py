"""Keras 3 ``take_along_axis`` over sizes known only at run time, and indices Keras broadcasts (session 19).

The lowering took along an axis only where ``x`` and the indices had the same known sizes besides the axis and the
batch; the random-model bench's only recurring refusal was ``take_along_axis(x, top_k(x)[1], axis=-1)`` over unknown
steps, which ``--loader=tensorflow`` converts for cpu and webgl (its ``batch_dims=1`` GatherV2 is refused on wasm).
Keras's TensorFlow backend broadcasts ``x`` and the indices to each other's sizes on every axis but ``axis``, wraps
negative indices by the axis's size and gathers row by row: the lowering now does the same at run time
(``BroadcastArgs`` of the two shapes, ``BroadcastTo``, one flat GatherV2). Cases: top_k and argsort indices over
unknown steps (along the last axis and along the steps), indices from an int32 model input broadcast against ``x``
(negative ones too) and ``x`` broadcast against the indices. One converted model at two sizes, Keras 3 ``.keras``
and ``.h5``, TF.js cpu and wasm against Keras's ``model(x)``. (Sizes Keras cannot broadcast never reach a saved
model: Keras refuses to build the call.)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "keras3.h5"]
SIZES = [(3, 5), (2, 1)]  # (batch, steps) of each run


def gathers_family(k: Any) -> Any:
    ops = k.ops
    seq = k.Input((None, 4), name="seq")
    ids = k.Input((1, 3), name="ids", dtype="int32")  # broadcast against seq's steps
    row = k.Input((1, 4), name="row")  # broadcast against the indices' steps
    largest = ops.take_along_axis(seq, ops.top_k(seq, k=2)[1], axis=-1)
    along_steps = ops.take_along_axis(seq, ops.argsort(seq, axis=1), axis=1)
    picked = ops.take_along_axis(seq, ids, axis=2)
    spread = ops.take_along_axis(row, ops.argsort(seq, axis=-1), axis=-1)
    return k.Model([seq, ids, row], [largest, along_steps, picked, spread])


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    values = {"seq": rng.standard_normal((batch, steps, 4)).astype("float32"),
              "ids": rng.integers(-4, 4, (batch, 1, 3)).astype("int32"),
              "row": rng.standard_normal((batch, 1, 4)).astype("float32")}
    values["ids"][0, 0] = [-1, -4, 3]
    return {t.name.split(":")[0]: values[t.name.split(":")[0]] for t in model.inputs}


CASES = [("gathers", flavor) for flavor in FLAVORS]
converted = converted_fixture("take_along_axis_s19", CASES,
                              two_size_saver({"gathers": gathers_family}, at_runs(_inputs, SIZES), seed=193))


@pytest.mark.node
@each_case(CASES)
def test_take_along_axis_over_unknown_and_broadcast_sizes_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)

