"""tf_keras ``tf.cast`` of a masked tensor: whether TensorFlow hands the tensor itself back (its run-time mask with
it) depends on the tensor's real dtype, which a Masking of int32 ids does not save (its config says float32).

Found in session 16: ``Masking(0)`` of int32 ids, then ``tf.cast(m, tf.int32)``, then GlobalAveragePooling1D: Keras
averages the unmasked steps (the cast returns the masked tensor), the lowering read the Masking's float32 and
averaged every step, off by 0.8 on cpu and wasm, unnamed. The walk now follows the dtype back through the layers
that keep their input's (``call_facts.saved_output_dtype``): the same-dtype cast is a named gap, as any other.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")

from test_keras_lowering import _verify, convert_poisoned, layer_gaps_of  # noqa: E402

GAP = "TensorFlow returns the masked input tensor itself"


def _masked(dtype: str, *between):
    import tensorflow as tf

    x = tf_keras.Input((6, 2), dtype=dtype, name="x")
    m = tf_keras.layers.Masking(0)(x)
    for layer in between:
        m = layer(m)
    return tf, x, m


def test_a_same_dtype_cast_of_masked_int32_ids_is_no_gap():
    """The walk follows int32 through the Dropout, so the cast is known to return its input (mask and all): lowered
    (session 17; its numbers are checked in TF.js in ``test_keras_lowering_s17_tf_keras_masked_ops.py``)."""
    tf, x, m = _masked("int32", tf_keras.layers.Dropout(0.5))  # followed through the Dropout, which keeps dtype and mask
    model = tf_keras.Model(x, tf_keras.layers.GlobalAveragePooling1D()(tf.cast(m, tf.int32)))
    data = np.int32([[[1, 2], [3, 4], [0, 0], [0, 0], [0, 0], [0, 0]]])
    assert np.asarray(model(data))[0].tolist() == [2, 3]  # Keras averages the two unmasked steps only
    assert GAP not in json.dumps(layer_gaps_of(model))


def test_casts_that_make_a_new_tensor_still_lower(tmp_path, tfjs_runtime):
    """int32 ids cast to float32 and float32 values cast to int32 are new tensors (the mask dropped): not gaps, and
    the converted model gives Keras's numbers."""
    tf, x, m = _masked("int32")
    to_float = tf_keras.layers.GlobalAveragePooling1D()(tf.cast(m, tf.float32))
    y = tf_keras.Input((6, 2), name="y")
    to_int = tf.cast(tf_keras.layers.Masking(0.0)(y), tf.int32)
    model = tf_keras.Model([x, y], [to_float, tf_keras.layers.GlobalMaxPooling1D()(to_int)])
    assert GAP not in json.dumps(layer_gaps_of(model))
    rng = np.random.default_rng(3)
    ids = rng.integers(-5, 6, (3, 6, 2)).astype(np.int32)
    ids[0, 4:] = 0
    values = (rng.standard_normal((3, 6, 2)) * 4).astype(np.float32)
    values[1, :3] = 0.0
    expected = [np.asarray(o) for o in model([ids, values])]
    model.save(tmp_path / "m.h5")
    convert_poisoned([tmp_path / "m.h5"])
    _verify(tmp_path / "m.h5.out", {"x": ids, "y": values}, expected)
