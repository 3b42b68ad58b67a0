"""Masks given to nested models, ``training=True`` on tf_keras nested models, and frozen BatchNormalization (issue 16,
session 23, helper h2). ``--loader=tensorflow`` converted each of these and matched Keras; the lowering refused them.

- Keras 3 ``inner(x, mask=m)`` with a float or integer model input ``m``: Keras 3's Functional sets ``m`` on the
  inner input (a Pipeline hands it to its first layer) and its readers (LSTM, GRU, GlobalAveragePooling1D) read it
  as ``!= 0``; lowered so. tf_keras's readers use it as it is (its LSTM fails on an int or float mask, its pooling
  weighs the steps by it): still a gap.
- ``inner([x, Masking()(y)], mask=[ops.not_equal(ids, 0), None])``: a computed mask for an input that carries none,
  beside a tracked one. Keras 3 records a mask it fills in as None for an unmasked input, so the computed entry was
  given; it sets it on ``x`` and keeps ``y``'s own mask; tf_keras sets None on ``y``.
- tf_keras ``inner(x, training=True)``: tf_keras hands ``training`` to each inner layer (its
  ``model(x, training=False)`` keeps it); lowered when each computes as at inference (Dropout(0), GaussianNoise(0),
  a frozen BatchNormalization, layers that do not read it), refused naming the inner layer otherwise.
- tf_keras RNNs without dropout (LSTM, Bidirectional(GRU)) called with ``training=True``: the same as at inference
  (``.context.differs_in_training``, the rule the nested models follow), lowered.
- tf_keras ``BatchNormalization(trainable=False)(x, training=True)``: tf_keras sets ``training = False`` for a frozen
  BN (``batch_normalization.py``), so it uses the moving statistics: lowered as inference, alone, inside a nested
  model called with ``training=True``, and in a nested model made ``trainable=False``.

Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm at two sizes against Keras's
``model(x, training=False)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_masks import _padded_ids  # noqa: E402


def _not_equal(k: Any, ids: Any) -> Any:
    if k is keras:
        return keras.ops.not_equal(ids, 0)
    import tensorflow as tf

    return tf.math.not_equal(ids, 0)


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def given_family(k: Any) -> Any:
    """Keras 3: an int32 and a float32 model input given as masks to nested models (an LSTM and a masked pool read
    them) and to a Pipeline (its first layer, a GRU, reads it), and a computed mask given beside a tracked one (each on a tensor no other layer reads: Keras sets the
    mask on the caller's tensor)."""
    L = k.layers
    x, y = k.Input((None, 3), name="x"), k.Input((None, 3), name="y")
    ids, ints, floats = (k.Input((None,), dtype="int32", name="ids"), k.Input((None,), dtype="int32", name="ints"),
                         k.Input((None,), name="floats"))
    seq_in, pool_in = k.Input((None, 3)), k.Input((None, 3))
    reading = k.Model(seq_in, L.LSTM(2, name="inner_lstm")(L.Dense(3, name="inner_dense")(seq_in)), name="reading")
    pooling = k.Model(pool_in, L.GlobalAveragePooling1D(name="inner_gap")(pool_in), name="pooling")
    left, right = k.Input((None, 3), name="left"), k.Input((None, 3), name="right")
    merging = k.Model([left, right], L.GRU(2, name="inner_gru")(L.Add(name="add")([left, right])), name="merging")
    return k.Model([x, y, ids, ints, floats], [
        reading(L.Dense(3, name="dense_r")(x), mask=ints), pooling(L.Dense(3, name="dense")(x), mask=floats),
        merging([L.Dense(3, name="dense_x")(x), L.Masking(name="masking")(y)], mask=[_not_equal(k, ids), None]),
        L.Pipeline([L.GRU(2, name="pipe_gru")], name="pipe")(L.Dense(3, name="dense_p")(x), mask=ints)])


def beside_family(k: Any) -> Any:
    """tf_keras: a computed bool mask given beside a tracked one (tf_keras sets None on the masked input)."""
    L = k.layers
    x, y, ids = k.Input((None, 3), name="x"), k.Input((None, 3), name="y"), k.Input((None,), dtype="int32", name="ids")
    left, right = k.Input((None, 3), name="left"), k.Input((None, 3), name="right")
    merging = k.Model([left, right], L.GRU(2, name="inner_gru")(L.Add(name="add")([left, right])), name="merging")
    return k.Model([x, y, ids], merging([x, L.Masking(name="masking")(y)], mask=[_not_equal(k, ids), None]))


def training_family(k: Any) -> Any:
    """tf_keras nested models called with training=True whose layers compute as at inference (attention without
    dropout included), frozen BNs, and RNNs without dropout called with training=True."""
    L = k.layers
    x = k.Input((None, 4), name="x")
    body_in = k.Input((None, 4))
    frozen = L.BatchNormalization(trainable=False, name="inner_frozen_bn")
    body = k.Model(body_in, L.LayerNormalization(name="inner_norm")(frozen(L.GaussianNoise(0.0, name="noise0")(
        L.Dropout(0.0, name="drop0")(L.Dense(4, name="inner_dense")(body_in))))), name="body")
    stack = k.Sequential([k.Input((None, 4)), L.Dense(3, name="seq_dense"), L.SpatialDropout1D(0.0, name="sdrop0"),
                          L.Activation("tanh", name="seq_tanh")], name="stack")
    frozen_in = k.Input((None, 4))
    frozen_model = k.Model(frozen_in, L.BatchNormalization(name="bn_of_frozen_model")(
        L.Dense(4, name="frozen_dense")(frozen_in)), name="frozen_model")
    frozen_model.trainable = False  # tf_keras sets each layer's trainable (saved so)
    attending_in = k.Input((None, 4))
    attending = k.Model(attending_in, L.Attention(name="inner_attention")([
        L.MultiHeadAttention(2, 3, name="inner_mha")(attending_in, attending_in), attending_in]), name="attending")
    h = L.Dense(4, name="dense")(x)
    return k.Model(x, [body(h, training=True), stack(h, training=True), frozen_model(h, training=True),
                       attending(h, training=True),
                       L.BatchNormalization(trainable=False, name="frozen_bn")(h, training=True),
                       L.LSTM(3, name="lstm")(h, training=True),
                       L.Bidirectional(L.GRU(2, recurrent_dropout=0.0), name="bigru")(h, training=True)])


def _sequences(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    names = [t.name.split(":")[0] for t in model.inputs]
    inputs: dict[str, np.ndarray] = {}
    for name in names:
        if name == "x":
            inputs[name] = (rng.standard_normal((batch, steps, model.inputs[0].shape[-1])) * 2).astype("float32")
        elif name == "y":  # Masking: all-zero steps
            y = rng.standard_normal((batch, steps, 3)).astype("float32")
            y[0, -2:] = 0.0
            y[-1, :1] = 0.0
            inputs[name] = y
        elif name == "ids":
            inputs[name] = _padded_ids(rng, (batch, steps), 1)
        elif name == "ints":  # 0 masked; 1, 2 and -1 kept (read as != 0)
            inputs[name] = rng.choice(np.array([0, 1, 2, -1], "int32"), (batch, steps))
            inputs[name][0, 0] = 0
        else:  # floats: 0 masked; 1, 2 and 0.5 kept, not weighed
            inputs[name] = rng.choice(np.array([0.0, 1.0, 2.0, 0.5], "float32"), (batch, steps))
            inputs[name][-1, 1:] = 0.0
    return inputs


RUNS = [(4, 6), (3, 4)]
FAMILIES = {"given": given_family, "beside": beside_family, "training": training_family}
MASK_CASES = [("given", "keras3.keras"), ("given", "keras3.h5"), ("beside", "tf_keras.h5")]
TRAINING_CASES = [("training", "tf_keras.h5")]


def _inputs_of(model: Any, family: str, rng: np.random.Generator):
    return (_sequences(model, rng, *run) for run in RUNS)


converted = converted_fixture("k23_nested_masks_training", MASK_CASES + TRAINING_CASES,
                              two_size_saver(FAMILIES, _inputs_of, seed=231))


@pytest.mark.node
@each_case(MASK_CASES)
def test_masks_given_to_nested_models_lower_as_keras_sets_them(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(TRAINING_CASES)
def test_tf_keras_training_true_into_nested_models_and_frozen_bn_lowers(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


# -- what stays refused, named ---------------------------------------------------------------------------------
def test_tf_keras_nested_training_true_that_changes_the_numbers_names_the_inner_layer(tmp_path):
    """An inner Dropout(0.5): tf_keras computes it in training. A trainable BatchNormalization one model deeper is
    lowered with the batch's statistics since session 24 (tests/test_keras_lowering_bn_training_nested.py)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    tk = pytest.importorskip("tf_keras")
    L = tk.layers
    x, a, b = tk.Input((4,), name="x"), tk.Input((4,)), tk.Input((4,))
    dropping = tk.Model(a, L.Dropout(0.5, name="drop")(L.Dense(4, name="d1")(a)), name="dropping")
    deep = tk.Model(b, L.BatchNormalization(name="bn")(b), name="deep")
    outer_in = tk.Input((4,))
    outer = tk.Model(outer_in, deep(L.Dense(4, name="d2")(outer_in)), name="outer")
    tk.Model(x, [dropping(x, training=True), outer(x, training=True)]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(info.value)
    assert "'dropping' (Functional) called with training=True, which tf_keras hands to its layer " \
           "'dropping/drop' (Dropout)" in message, message
    assert "outer/deep/bn" not in message and "'outer'" not in message, message
