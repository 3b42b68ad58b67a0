"""Masks given to tf_keras nested models that the lowering did not follow (issue 16, session 24, helper h5).

- ``inner(x, mask=m)`` with ``m`` a float32 or int32 model input, or a computed float tensor: tf_keras sets ``m`` on
  the inner inputs as it is, and its GlobalAveragePooling1D weighs the steps by it (``sum(x·m) / sum(m)``, subnormal
  weights 0 as TensorFlow flushes them, ``0 / 0`` NaN, ``t / 0`` ±Inf); layers that hand a mask on (Dense) pass it
  through. Other readers that would use it otherwise (a SimpleRNN hands the weights on as its output's mask) are
  refused naming the inner layer; MultiHeadAttention, which casts it to bool, lowers since session 25
  (``tests/test_keras_lowering_k25_masks.py``).
- ``inner([Masking(x), y], mask=[computed, None])``: tf_keras records only mask lists it was given, so the computed
  mask replaces the one ``Masking`` made; lowered. In Keras 3 too since session 28 (a mask it fills in itself is
  recorded as the input's own mask's ops, which the lowering matches).
``--loader=tensorflow`` converted and matched each of the lowered ones; the lowering refused them ("a mask the
lowering does not track"). Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm at two
sizes against tf_keras's ``model(x, training=False)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering import layer_gaps_of  # noqa: E402

WEIGHTS = np.array([0.0, 0.5, 2.0, -0.25, 1.0, 1e-40, -0.0], "float32")


def weighed_family(k: Any) -> Any:
    """Float, int and computed float masks given to nested models whose pools weigh by them (through a Dense)."""
    import tensorflow as tf

    L = k.layers
    x = k.Input((None, 3), name="x")
    floats, ints = k.Input((None,), name="floats"), k.Input((None,), dtype="int32", name="ints")
    a, b, c = k.Input((None, 3)), k.Input((None, 3)), k.Input((None, 3))
    pooling = k.Model(a, L.GlobalAveragePooling1D(name="inner_gap")(a), name="pooling")
    dense_pooling = k.Model(b, L.GlobalAveragePooling1D(name="inner_gap_d")(L.Dense(3, name="inner_dense")(b)),
                            name="dense_pooling")
    kept = k.Model(c, L.GlobalAveragePooling1D(keepdims=True, name="inner_gap_k")(c), name="kept")
    weights = tf.math.abs(L.Dense(1, name="weigher")(x)[:, :, 0])  # a computed float mask
    return k.Model([x, floats, ints], [
        pooling(L.Dense(3, name="dense_a")(x), mask=floats),
        dense_pooling(L.Dense(3, name="dense_b")(x), mask=ints),
        kept(L.Dense(3, name="dense_c")(x), mask=weights)])


def beside_family(k: Any) -> Any:
    """A computed mask given for an input that carries Masking's mask, read by a GRU and a pool."""
    import tensorflow as tf

    L = k.layers
    x, y, ids = k.Input((None, 3), name="x"), k.Input((None, 3), name="y"), k.Input((None,), dtype="int32", name="ids")
    a, b, c, d = (k.Input((None, 3)) for _ in range(4))
    gru = k.Model([a, b], L.GRU(2, name="inner_gru")(L.Add(name="add")([a, b])), name="gru_model")
    pool = k.Model([c, d], L.GlobalAveragePooling1D(name="inner_gap")(L.Add(name="add_p")([c, d])), name="pool")
    given = tf.math.not_equal(ids, 0)
    return k.Model([x, y, ids], [
        gru([L.Masking(name="masking")(x), L.Dense(3, name="dense_y")(y)], mask=[given, None]),
        pool([L.Masking(name="masking_p")(x), L.Dense(3, name="dense_yp")(y)], mask=[given, None])])


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    inputs: dict[str, np.ndarray] = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        if name in ("x", "y"):
            v = rng.standard_normal((batch, steps, 3)).astype("float32")
            v[0, -2:] = 0.0  # masked by Masking
            inputs[name] = v
        elif name == "floats":
            m = rng.choice(WEIGHTS, (batch, steps)).astype("float32")
            m[0, :] = 0.0  # 0 / 0: NaN
            m[1, :] = 0.0
            m[1, :2] = [1.0, -1.0]  # weights summing to 0: ±Inf
            m[2:, 0] = 1.5
            inputs[name] = m
        elif name == "ints":
            m = rng.choice(np.int32([0, 1, 2, 3, -1]), (batch, steps)).astype("int32")
            m[:, 0] = 2
            inputs[name] = m
        else:  # ids: 0 masked
            m = rng.integers(0, 3, (batch, steps)).astype("int32")
            m[:, 0] = 1
            inputs[name] = m
    return inputs


RUNS = [(4, 6), (3, 5)]
FAMILIES = {"weighed": weighed_family, "beside": beside_family}
CASES = [("weighed", "tf_keras.h5"), ("beside", "tf_keras.h5")]


def _inputs_of(model: Any, family: str, rng: np.random.Generator):
    return (_inputs(model, rng, *run) for run in RUNS)


converted = converted_fixture("k24_nested_given_masks", CASES, two_size_saver(FAMILIES, _inputs_of, seed=242))


@pytest.mark.node
@each_case(CASES)
def test_masks_given_to_tf_keras_nested_models_lower_as_tf_keras_reads_them(converted, tfjs_runtime, family,
                                                                            flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_a_float_mask_into_a_tf_keras_reader_needing_bool_names_it(tmp_path):
    """tf_keras's SimpleRNN casts the mask to bool for its loop but hands the weights on as its output's mask; a
    weights mask handed to it is refused, named."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    tk = tf_keras
    x, floats, inner_in = tk.Input((5, 3), name="x"), tk.Input((5,), name="floats"), tk.Input((5, 3))
    inner = tk.Model(inner_in, tk.layers.SimpleRNN(2, name="rnn")(inner_in), name="inner")
    tk.Model([x, floats], inner(x, mask=floats)).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert "'inner/rnn' (SimpleRNN: a float32 mask given to a nested model, which tf_keras hands on as it " \
           "is)" in str(info.value), str(info.value)


def test_keras3_computed_mask_for_a_masked_input_lowers():
    """Refused as ambiguous until session 28: Keras 3 records a mask it fills in as the input's own mask's ops,
    which the lowering matches, so a recorded mask that is not those was given (lowered and checked against Keras in
    ``tests/test_keras_lowering_k28_nested_masks.py``)."""
    L = keras.layers
    x, y, ids = keras.Input((5, 3), name="x"), keras.Input((5, 3), name="y"), keras.Input((5,), dtype="int32")
    a, b = keras.Input((5, 3)), keras.Input((5, 3))
    inner = keras.Model([a, b], L.GRU(2, name="inner_gru")(L.Add(name="add")([a, b])), name="inner")
    model = keras.Model([x, y, ids], inner([L.Masking(name="masking")(x), y], mask=[keras.ops.not_equal(ids, 0), None]))
    assert layer_gaps_of(model) == []
