"""Regressions found by ``bench/keras_random_models.py`` drawing the new op layers (argmax/argmin, one_hot, take,
split, unstack, top_k ...), each as its minimized model: converted in a process where TensorFlow, Keras and tf_keras
cannot be imported, run in real TF.js (cpu and wasm) and compared with Keras's own ``model(x)`` (integers exactly).

- ``top_k`` of an int64 tensor (a tf_keras / Keras 3 model input of int64 ids, read by ``tf.math.top_k`` /
  ``keras.ops.top_k``) was refused ("k=5, sorted=True of a DT_INT64 tensor"), while argmax, one_hot and gather of the
  same ids lower: it is now cast to int32 first, as TF.js holds every int64 (seed 401 of the bench,
  ``tf_keras_h5-40100053``).
- ``mod`` of int64 ids by a constant (``keras.ops.mod``, ``tf.math.floormod``; the bench's ``take`` ids) was refused
  the same way; the remainder of int32-held ids is exact in int32, negatives floored as TF floors them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

#: int64 ids with ties (top_k takes equal values by index), negatives and a constant row.
IDS = np.array([[3, 1, 3, 0, -2, 7], [5, 5, 5, 5, 5, 5], [0, 11, -4, 11, 2, 2]], np.int64)


def tf_top_k_int64_model():
    """tf_keras: ``tf.math.top_k`` of int64 ids, its values cast to float and as they are, and its indices."""
    tf = pytest.importorskip("tensorflow")
    k = pytest.importorskip("tf_keras")

    ids = k.Input((6,), dtype="int64", name="ids")
    top = tf.math.top_k(ids, 5)
    return k.Model(ids, [tf.cast(top.values, tf.float32) * 0.5, top.values, top.indices])


def keras3_top_k_int64_model():
    """Keras 3: ``keras.ops.top_k`` of int64 ids (values cast to float, values, indices)."""
    o = keras.ops
    ids = keras.Input((6,), dtype="int64", name="ids")
    values, indices = o.top_k(ids, 3)
    return keras.Model(ids, [o.cast(values, "float32") * 0.5, values, indices])


def tf_mod_int64_model():
    """tf_keras: ``tf.math.floormod`` of int64 ids by a constant and by the ids themselves plus a constant."""
    tf = pytest.importorskip("tensorflow")
    k = pytest.importorskip("tf_keras")

    ids = k.Input((6,), dtype="int64", name="ids")
    return k.Model(ids, [tf.math.floormod(ids, 4), tf.math.floormod(ids * 3, ids + 13)])


def keras3_mod_int64_model():
    """Keras 3: ``keras.ops.mod`` of int64 ids by a constant (negative ids floored) and by a negative one."""
    o = keras.ops
    ids = keras.Input((6,), dtype="int64", name="ids")
    return keras.Model(ids, [o.mod(ids, 4), o.mod(ids, -3)])


MODELS = {"tf_top_k_int64": (tf_top_k_int64_model, ".h5"), "keras3_top_k_int64": (keras3_top_k_int64_model, ".keras"),
          "keras3_top_k_int64_h5": (keras3_top_k_int64_model, ".h5"), "tf_mod_int64": (tf_mod_int64_model, ".h5"),
          "keras3_mod_int64": (keras3_mod_int64_model, ".keras")}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("op_layers_random")
    saved = {case: save_with_outputs(build(), {"ids": IDS}, folder / f"{case}{suffix}")
             for case, (build, suffix) in MODELS.items()}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_int64_ids_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)
