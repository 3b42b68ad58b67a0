"""More tf_keras TFOpLambda functions lowered with h5py (session 15, family "tf_more"): ``truncatediv``/``truncatemod``
(int32, int64 and float32), TF1 spellings (``compat.v1.div``/``where``, ``nn.xw_plus_b``/``relu_layer``,
``nn.fused_batch_norm``, ``batch_gather``, ``nn.weighted_cross_entropy_with_logits(targets=)``),
``convert_to_tensor`` (which ``tf.experimental.numpy`` records first), ``identity_n``, ``accumulate_n``,
``space_to_batch``/``batch_to_space``, ``linalg.normalize``, ``nn.weighted_cross_entropy_with_logits``,
``nn.log_poisson_loss``, ``is_non_decreasing``/``is_strictly_increasing``, ``compat.v1.nn.depth_to_space``,
``boolean_mask``, ``debugging.check_numerics`` (stripped as a debug op), ``nn.dropout(rate=0)`` and
``signal.overlap_and_add``.

As in ``test_keras_lowering_op_layers_more.py``: functional models saved as ``.h5``, converted in a process where
TensorFlow, Keras and tf_keras cannot be imported, run in real TF.js (cpu and wasm) and compared with Keras's own
``model(x)``: integers and bools exactly, floats within 1e-5 of each output's range. The inputs hold the edges:
integer division of int32 extremes (``INT32_MIN / -1`` wraps as TF's), signs mixed both ways, float division by
±0 and ±Inf (``fmod(x, Inf) = x``), NaN, batch_gather indices past their row (TF reads the next row), Poisson targets
of 0, inside [0, 1] and above, masks and conditions with NaN (False). ``compat.v1.where(condition)`` and
``boolean_mask`` by a tensor give counts known only at run time (TF.js's Where). What stays refused is named.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402
from test_keras_lowering_op_layers_more import _refused  # noqa: E402

INT_MIN, INT_MAX = -2**31, 2**31 - 1
#: Dividends and divisors (never 0: TF's integer division raises there): extremes, both signs, exact and not.
NUMERATORS = np.array([[INT_MIN, INT_MIN, INT_MAX, INT_MAX, 7, -7], [7, -7, 0, -1, 46341, -16777219],
                       [1, -1, 5, -5, 100, -100], [INT_MIN + 1, 3, -3, 12, -12, 999]], np.int32)
DIVISORS = np.array([[-1, 3, -1, 2, 2, 2], [-2, -2, 5, 3, 7, -3], [INT_MAX, INT_MIN, -5, 5, 3, 3],
                     [INT_MIN, 1, 2, -4, 4, -7]], np.int32)
INF, NAN = np.inf, np.nan


def _tf():
    pytest.importorskip("tf_keras")
    return pytest.importorskip("tensorflow")


def tf_more_model():
    """The session-15 "tf_more" functions on tf_keras tensors (each a TFOpLambda)."""
    tf = _tf()
    import tf_keras as k

    x, y = k.Input((4, 6), name="x"), k.Input((4, 6), name="y")
    a, b = k.Input((4, 6), name="a", dtype="int32"), k.Input((4, 6), name="b", dtype="int32")
    ids, rows, image = k.Input((5,), name="ids", dtype="int64"), k.Input((3,), name="rows", dtype="int32"), \
        k.Input((6, 4, 3), name="image")
    h = k.layers.Dense(6, name="dense")(x)
    tnp = tf.experimental.numpy
    weights, biases = np.linspace(-1.0, 1.0, 30, dtype="float32").reshape(6, 5), np.arange(5, dtype="float32") - 2.0
    blocks = tf.space_to_batch(image, [2, 2], [[0, 0], [1, 1]])  # 6x6 padded into 4 blocks of 3x3
    normalized, norm = tf.linalg.normalize(h, axis=-1)
    floats = [
        tf.truncatediv(x * 10.0, y), tf.truncatemod(x * 10.0, y), tf.truncatediv(h, 0.25), tf.truncatemod(h, -0.3),
        tf.compat.v1.div(x, y), tf.compat.v1.where(x > 0, x, y), tf.compat.v1.where(h[:, 0, 0] > 0, h, y),
        tf.compat.v1.nn.xw_plus_b(h[:, 1], weights, biases), tf.compat.v1.nn.relu_layer(h[:, 2], weights, biases),
        tf.compat.v1.nn.xw_plus_b(h, weights, biases),
        tf.convert_to_tensor(h) * 2.0, tnp.sum(h, axis=1), tnp.mean(x, axis=-1), tnp.square(h),
        tf.identity_n([h, y])[1], tf.math.accumulate_n([h, x, y]),
        blocks, tf.batch_to_space(blocks, [2, 2], [[0, 0], [1, 1]]), tf.batch_to_space(blocks, [2, 1], [[1, 2], [0, 0]]),
        tf.compat.v1.nn.fused_batch_norm(image, [1.0, -2.0, 0.5], [0.0, 1.0, -1.0], [0.1, 0.5, -1.0], [1.0, 2.0, 0.25],
                                         epsilon=0.01, is_training=False)[0],
        tf.compat.v1.nn.fused_batch_norm(tf.transpose(image, [0, 3, 1, 2]), [1.0, 2.0, 3.0], [0.0, 1.0, 2.0],
                                         [0.0, 0.5, 1.0], [1.0, 2.0, 3.0], data_format="NCHW", is_training=False)[0],
        normalized, norm, tf.linalg.normalize(h, ord=1, axis=[1, 2])[0], tf.linalg.normalize(x, ord=np.inf, axis=1)[1],
        tf.linalg.normalize(h, ord=3, axis=-1)[0], tf.linalg.normalize(x, ord="fro", axis=[-1, 1])[1],
        tf.linalg.normalize(x, ord=np.inf, axis=[2, 1])[0],
        tf.nn.weighted_cross_entropy_with_logits(tf.sigmoid(y), h * 20.0, 2.0),
        tf.compat.v1.nn.weighted_cross_entropy_with_logits(targets=tf.sigmoid(y), logits=x, pos_weight=tf.abs(y)),
        tf.nn.log_poisson_loss(tf.abs(y) * 2.0, h), tf.nn.log_poisson_loss(tf.abs(y) * 2.0, x, compute_full_loss=True),
        tf.compat.v1.batch_gather(h, rows), tf.compat.v1.batch_gather(image, tf.math.floormod(rows, 6)),
        tf.compat.v1.nn.depth_to_space(tf.tile(image, [1, 1, 1, 4]), 2), tf.debugging.check_numerics(h, "finite"),
        tf.nn.dropout(h, rate=0.0), tf.compat.v1.nn.dropout(x, keep_prob=1.0),
        tf.signal.overlap_and_add(h, 2), tf.signal.overlap_and_add(h, 6), tf.signal.overlap_and_add(x, 8),
        tnp.concatenate([h, x], axis=1), tnp.where(h > 0, h, y), tnp.max(x, axis=-1),
        tf.boolean_mask(h, y > 0), tf.boolean_mask(x, [True, False, True, True], axis=1),
    ]
    integers = [tf.truncatediv(a, b), tf.truncatemod(a, b), tf.compat.v1.div(a, b), tf.truncatediv(ids, 3),
                tf.truncatemod(-7, b), tf.compat.v1.where(a > b, a, b), tf.compat.v1.batch_gather(a, tf.math.floormod(rows, 4)),
                tf.compat.v1.where(x > 0), tf.boolean_mask(a, b[:, :, 0] > 0)]
    bools = [tf.math.is_non_decreasing(rows), tf.math.is_strictly_increasing(rows[:, :2]),
             tf.math.is_non_decreasing(tf.sort(h, axis=-1)[:1, 0])]
    return k.Model([x, y, a, b, ids, rows, image], floats + integers + bools)


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((2, 4, 6)).astype("float32") * 1.5
    y[0, 0] = [0.0, -0.0, INF, -INF, NAN, 0.25]  # division by ±0 and ±Inf, NaN; Poisson targets 0 and inside [0, 1]
    y[1, 0] = [0.5, -0.5, 3.0, -3.0, 1e-3, 0.1]
    x = rng.standard_normal((2, 4, 6)).astype("float32")
    x[0, 0] = [1.0, -1.0, 2.5, -2.5, 1.0, 0.0]
    x[1, 1] = [2.0, -2.0, 7.0, -7.0, 0.0, -0.0]  # exact and inexact multiples beside the edges above
    rows = np.array([[0, 5, 7], [3, 1, 2]], np.int32)  # 5 and 7 are past the first row: TF reads the second one
    return {"x": x, "y": y, "a": np.stack([NUMERATORS, DIVISORS[::-1]]), "b": np.stack([DIVISORS, -DIVISORS]),
            "ids": np.array([[-7, 7, 0, INT_MAX, -1], [3, -3, 5, INT_MIN, 1]], np.int64), "rows": rows,
            "image": rng.standard_normal((2, 6, 4, 3)).astype("float32")}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s15_tf_more")
    model = tf_more_model()
    randomize(model, 7)
    saved = save_with_outputs(model, _inputs(8), folder / "tf_more.h5")
    convert_poisoned([saved[0]])
    return saved


@pytest.mark.node
def test_tf_more_functions_lower_and_match_keras(converted, tfjs_runtime):
    path, inputs, outputs = converted
    _verify(Path(f"{path}.out"), inputs, outputs)




def test_what_tf_more_leaves_refused_is_named(tmp_path):
    """A constant boolean mask over the batch (TF checks it against the batch's size at run time), training-mode batch
    norm (batch statistics), the spectral norm (an SVD) and dropout at a rate above 0 (random at inference too) stay
    gaps named by function and reason (at rate 0 of a masked tensor TF returns the tensor itself, mask included: the
    walk hands the mask on since session 17, ``test_keras_lowering_s17_tf_keras_masked_ops.py``)."""
    tf = _tf()
    import tf_keras as k

    x, image = k.Input((4, 6), name="x"), k.Input((6, 4, 3), name="image")
    k.Model([x, image], [
        tf.boolean_mask(x, [True, False]),
        tf.compat.v1.nn.fused_batch_norm(image, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], is_training=True)[0],
        tf.linalg.normalize(x, ord=2, axis=[1, 2])[0], tf.nn.dropout(x, rate=0.5)]).save(tmp_path / "tf.h5")
    message = _refused(tmp_path / "tf.h5")
    assert re.search(r"does not cover 4 layers: 'tf\.compat\.v1\.boolean_mask\w*' \(compat\.v1\.boolean_mask\): a mask "
                     r"of shape \[2\] on axis 0 of shape \[None, 4, 6\].*'tf\.compat\.v1\.nn\.fused_batch_norm\w*' "
                     r"\(compat\.v1\.nn\.fused_batch_norm\): is_training=True.*'tf\.linalg\.normalize\w*' "
                     r"\(linalg\.normalize\): ord=2, axis=\[1, 2\].*'tf\.nn\.dropout\w*' \(nn\.dropout\): rate=0\.5 ",
                     message), message

