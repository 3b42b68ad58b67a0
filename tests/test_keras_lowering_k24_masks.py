"""Float masks holding subnormals (issue 16, session 24, helper h5; session 23's review, R1 F2).

TensorFlow's CPU kernels flush float32 subnormals (``0 < |m| < 1.17549435e-38``) to 0: ``cast(1e-40, bool)`` and
``not_equal(1e-40, 0)`` are False there, so Keras on TensorFlow masks such an entry. TF.js keeps subnormals (cpu,
wasm, and webgl on SwiftShader), so the lowering's ``m != 0`` kept them: 1.23 off on a pooled output. The lowering
now reads a float mask as ``not(|m| < FLT_MIN)`` (NaN kept) wherever Keras casts one to bool
(:func:`.masking.tf_kept`):

- Keras 3 masks given as ``mask=`` (a float model input) to GlobalAveragePooling1D, a nested model (its pooling and
  LSTM), and Attention (``mask=[q, v]``);
- a float ``attention_mask`` of MultiHeadAttention (Keras 3 casts it; tf_keras casts it where it meets the causal
  mask);
- Masking's ``any(x != 0)``: a step whose features are all subnormal (or -0.0) is masked, as TensorFlow compares.

tf_keras: a float32 or int32 mask computed by layers and given to a nested model (``inner(x, mask=w)``) is set on
the inner inputs as it is, and GlobalAveragePooling1D weighs the steps by it (``sum(x·w) / sum(w)``, subnormal
weights 0); lowered so (it was refused: "it lowers bool masks only"), and any reader needing a bool mask refused by
name (:func:`.masking.weighed_mask_gap`).

Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm at two sizes against Keras's
``model(x, training=False)``. Each case fails on the code before (``!= 0``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

#: float32 values a mask holds: subnormals (masked by TensorFlow), -0.0, FLT_MIN and larger, NaN (kept).
SUBNORMALS = np.array([1e-40, -1e-44, 1e-39, 1.1754942e-38, -3e-39], "float32")
KEPT = np.array([1.0, 0.5, -2.0, 1.17549435e-38, np.nan], "float32")


# -- models (``k`` is keras or tf_keras) -------------------------------------------------------------------
def given_family(k: Any) -> Any:
    """Keras 3: a float model input given as ``mask=`` to a pooling layer, nested models and Attention, and a float
    ``attention_mask``; a Masking over steps of subnormal features. (Each nested model gets a tensor of its own:
    Keras 3 sets the given mask on the caller's tensor.)"""
    L = k.layers
    x, y = k.Input((None, 3), name="x"), k.Input((None, 3), name="y")
    floats, pairs = k.Input((None,), name="floats"), k.Input((None, None), name="pairs")
    pool_in, seq_in = k.Input((None, 3)), k.Input((None, 3))
    pooling = k.Model(pool_in, L.GlobalAveragePooling1D(name="inner_gap")(pool_in), name="pooling")
    reading = k.Model(seq_in, L.LSTM(2, name="inner_lstm")(L.Dense(3, name="inner_dense")(seq_in)), name="reading")
    h = L.Dense(3, name="dense")(x)
    attended = L.Attention(name="attention")([h, x], mask=[floats, floats])
    return k.Model([x, y, floats, pairs], [
        L.GlobalAveragePooling1D(name="gap")(h, mask=floats),
        pooling(L.Dense(3, name="dense_p")(x), mask=floats),  # Keras sets the mask on the tensor: one of its own
        reading(L.Dense(3, name="dense_r")(x), mask=floats),
        L.GlobalAveragePooling1D(name="gap_attended")(attended),
        L.MultiHeadAttention(2, 3, name="mha")(h, x, attention_mask=pairs),
        L.GRU(2, name="gru")(L.Masking(name="masking")(y))])


def tf_keras_family(k: Any) -> Any:
    """tf_keras: Masking over steps of subnormal features (into an LSTM and a pool), and a float ``attention_mask``
    beside the causal mask (tf_keras casts it to bool to AND the two)."""
    L = k.layers
    x, y, pairs = k.Input((None, 3), name="x"), k.Input((None, 3), name="y"), k.Input((None, None), name="pairs")
    masked = L.Masking(name="masking")(y)
    h = L.Dense(3, name="dense")(x)
    return k.Model([x, y, pairs], [
        L.LSTM(2, name="lstm")(masked), L.GlobalAveragePooling1D(name="gap")(masked),
        L.MultiHeadAttention(2, 3, name="mha")(h, x, attention_mask=pairs, use_causal_mask=True)])


def computed_weights_family(k: Any) -> Any:
    """tf_keras: a float and an int32 mask computed by layers, given to nested models whose pools weigh the steps
    by them (through a Dense), as tf_keras sets them on the inner inputs as they are."""
    import tensorflow as tf

    L = k.layers
    x, ids = k.Input((None, 3), name="x"), k.Input((None,), dtype="int32", name="ids")
    a, b = k.Input((None, 3)), k.Input((None, 3))
    pooling = k.Model(a, L.GlobalAveragePooling1D(name="inner_gap")(L.Dense(3, name="inner_dense")(a)),
                      name="pooling")
    kept = k.Model(b, L.GlobalAveragePooling1D(keepdims=True, name="inner_gap_k")(b), name="kept")
    weights = tf.math.abs(L.Dense(1, name="weigher")(x)[:, :, 0])
    return k.Model([x, ids], [pooling(L.Dense(3, name="dense_a")(x), mask=weights),
                              kept(L.Dense(3, name="dense_b")(x), mask=tf.math.floormod(ids, 3))])


def _mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Subnormals, zeros and kept values, at least one kept entry per row (the first)."""
    m = rng.choice(np.concatenate([SUBNORMALS, SUBNORMALS, KEPT, np.float32([0.0, -0.0])]), shape).astype("float32")
    m[..., 0] = rng.choice(KEPT, shape[:-1])
    return m


def _padded(rng: np.random.Generator, batch: int, steps: int) -> np.ndarray:
    """Masking's input: steps of subnormal features (and -0.0, 0) that TensorFlow masks, one mixed with a normal
    value that it keeps."""
    y = rng.standard_normal((batch, steps, 3)).astype("float32")
    y[0, -2:] = SUBNORMALS[:3]
    y[1, 1] = [-0.0, 1e-40, 0.0]
    y[-1, 2] = [1e-40, 0.25, -1e-39]  # kept: one normal feature
    y[-1, -1] = [1e-45, -1e-45, 1e-41]
    return y


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    names = [t.name.split(":")[0] for t in model.inputs]
    inputs: dict[str, np.ndarray] = {}
    for name in names:
        if name == "x":
            inputs[name] = rng.standard_normal((batch, steps, 3)).astype("float32")
        elif name == "y":
            inputs[name] = _padded(rng, batch, steps)
        elif name == "ids":  # int32 weights (ids % 3): a row of zeros gives 0 / 0, NaN
            ids = rng.integers(-4, 5, (batch, steps)).astype("int32")
            ids[0] = 3
            inputs[name] = ids
        elif name == "floats":
            inputs[name] = _mask(rng, (batch, steps))
        else:  # pairs: [batch, query, key], the first key kept in each row
            inputs[name] = _mask(rng, (batch, steps, steps))
    return inputs


RUNS = [(4, 6), (3, 5)]
FAMILIES = {"given": given_family, "tf_keras": tf_keras_family, "computed_weights": computed_weights_family}
CASES = [("given", "keras3.keras"), ("given", "keras3.h5"), ("tf_keras", "tf_keras.h5")]
WEIGHTS_CASES = [("computed_weights", "tf_keras.h5")]


converted = converted_fixture("k24_masks", CASES + WEIGHTS_CASES,
                              two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=241))


def test_the_reference_flushes_subnormals():
    """The premise: TensorFlow (Keras's backend here) reads subnormals as 0 when it casts or compares them."""
    import tensorflow as tf

    assert not tf.cast(tf.constant(SUBNORMALS), tf.bool).numpy().any()
    assert not tf.not_equal(tf.constant(SUBNORMALS), 0.0).numpy().any()
    assert tf.cast(tf.constant(KEPT), tf.bool).numpy().all()


@pytest.mark.node
@each_case(CASES)
def test_float_masks_with_subnormals_are_read_as_keras_on_tensorflow_reads_them(converted, tfjs_runtime, family,
                                                                                flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(WEIGHTS_CASES)
def test_tf_keras_computed_masks_given_to_nested_models_weigh_the_pool(converted, tfjs_runtime, family, flavor):
    """Refused before ("a mask the lowering computes as float32 (it lowers bool masks only)")."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_a_tf_keras_weights_mask_into_a_reader_needing_bool_is_refused_by_name(tmp_path):
    """tf_keras's merges read a mask as bool (``all``) into their output's mask: a weights mask reaching one is
    refused naming the inner layer (MultiHeadAttention, which casts it, lowers since session 25:
    ``tests/test_keras_lowering_k25_masks.py``)."""
    import tensorflow as tf
    import tf_keras as tk

    import tfjsconv
    from tfjsconv.errors import UsageError

    L = tk.layers
    x, b = tk.Input((5, 3), name="x"), tk.Input((5, 3))
    merging = tk.Model(b, L.GlobalAveragePooling1D(name="gap")(L.Add(name="add")([b, b])), name="merging")
    weights = tf.math.abs(L.Dense(1, name="weigher")(x)[:, :, 0])
    tk.Model(x, merging(L.Dense(3, name="d2")(x), mask=weights)).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(info.value)
    assert "'merging/add' (Add: a float32 mask given to a nested model, which tf_keras hands on as it is)" in \
        message, message
