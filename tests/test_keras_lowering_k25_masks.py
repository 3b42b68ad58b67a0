"""Float and integer masks given directly to tf_keras mask readers, and weights masks into MultiHeadAttention
(issue 16, session 25, helper h4).

tf_keras hands a ``mask=`` to a layer's call as it is. GlobalAveragePooling1D weighs the steps by it
(``sum(x·cast(m)) / sum(cast(m))``) and Softmax adds ``(1 - cast(m))·-1e9``, so a float32 or int32 mask computed
by layers and given to them directly is lowered as weights (it was refused: "it lowers bool masks only").
MultiHeadAttention casts its inputs' Keras masks to bool (``tf.cast``: subnormals masked, NaN kept); a weights mask
given to a nested model that reaches one is lowered so (it was refused by name), and the attention output carries
the query's weights on to the next reader (a pool here, which weighs by them).

Keras 3 casts such masks to bool in every reader; the same models (a direct GlobalAveragePooling1D given an int32
input and a computed float mask, MultiHeadAttention given float/int ``query_mask``/``value_mask``) convert and match.

Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm at two sizes against Keras's
``model(x, training=False)``. Mask values: 0, -0.0, 1, 0.5, negative, subnormal (1e-40), NaN, FLT_MIN.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

#: float32 mask values: masked by TensorFlow (0, -0.0, subnormals) and kept (the rest, NaN included).
VALUES = np.array([0.0, -0.0, 1.0, 0.5, -2.0, 1e-40, -1e-44, np.nan, 1.17549435e-38, 3.0], "float32")
#: Values a weights mask takes (no NaN: a NaN weight makes a pooled row NaN, a Softmax logit NaN).
FINITE = VALUES[~np.isnan(VALUES)]


# -- models ------------------------------------------------------------------------------------------------------
def tf_keras_direct(k: Any) -> Any:
    """tf_keras: a float32 and an int32 mask computed by layers given to GlobalAveragePooling1D directly (one with
    keepdims), a float32 one to Softmax."""
    import tensorflow as tf

    L = k.layers
    x, floats = k.Input((None, 3), name="x"), k.Input((None,), name="floats")
    ids, feats = k.Input((None,), dtype="int32", name="ids"), k.Input((None, 3), name="feats")
    h = L.Dense(3, name="dense")(x)
    return k.Model([x, floats, ids, feats], [
        L.GlobalAveragePooling1D(name="gap_w")(h, mask=tf.identity(floats)),
        L.GlobalAveragePooling1D(keepdims=True, name="gap_i")(h, mask=tf.math.subtract(ids, 1)),
        L.Softmax(name="softmax")(h, mask=tf.identity(feats))])


def tf_keras_mha(k: Any) -> Any:
    """tf_keras: float32 and int32 weights masks given to nested models holding MultiHeadAttention (self-attention,
    a query/value pair given ``mask=[w, ids]``, and one with a float ``attention_mask``, which tf_keras then casts to
    bool to AND it with the query's: alone it would weigh the scores), the first one's output pooled outside
    (weighed by the query's mask it carries)."""
    import tensorflow as tf

    L = k.layers
    x, floats, ids = k.Input((None, 3), name="x"), k.Input((None,), name="floats"), \
        k.Input((None,), dtype="int32", name="ids")
    nans, pairs = k.Input((None,), name="nans"), k.Input((None, None), name="pairs")
    a, q, v, s, p = k.Input((None, 3)), k.Input((None, 3)), k.Input((None, 3)), k.Input((None, 3)), \
        k.Input((None, None))
    attending = k.Model(a, L.MultiHeadAttention(2, 3, name="inner_mha")(a, a), name="attending")
    pair = k.Model([q, v], L.MultiHeadAttention(2, 2, name="pair_mha")(q, v), name="pair")
    masked = k.Model([s, p], L.MultiHeadAttention(2, 2, name="masked_mha")(s, s, attention_mask=p), name="masked")
    attended = attending(L.Dense(3, name="dense_a")(x), mask=tf.identity(floats))
    return k.Model([x, floats, ids, nans, pairs], [
        attended, L.GlobalAveragePooling1D(name="gap_after")(attended),
        pair([L.Dense(3, name="dense_q")(x), L.Dense(3, name="dense_v")(x)],
             mask=[tf.identity(nans), tf.math.subtract(ids, 1)]),
        masked([L.Dense(3, name="dense_s")(x), pairs], mask=[tf.identity(floats), None])])


def keras3_family(k: Any) -> Any:
    """Keras 3: the same masks (cast to bool by every reader): an int32 model input and a computed float mask into
    GlobalAveragePooling1D, float/int ``query_mask``/``value_mask`` into MultiHeadAttention. (A mask given to a nested
    model's MultiHeadAttention is refused by name: Keras 3 deletes the input's mask there, which the caller reads.)"""
    L, ops = k.layers, k.ops
    x, floats, ids = k.Input((None, 3), name="x"), k.Input((None,), name="floats"), \
        k.Input((None,), dtype="int32", name="ids")
    nans = k.Input((None,), name="nans")
    h = L.Dense(3, name="dense")(x)
    return k.Model([x, floats, ids, nans], [
        L.GlobalAveragePooling1D(name="gap_i")(h, mask=ids),
        L.GlobalAveragePooling1D(name="gap_w")(h, mask=ops.abs(floats)),
        L.MultiHeadAttention(2, 3, name="mha")(h, x, query_mask=nans, value_mask=ids)])


def _mask(rng: np.random.Generator, shape: tuple[int, ...], values: np.ndarray) -> np.ndarray:
    """Mask values, the first entry of each row 1 (a row keeps a step)."""
    m = rng.choice(values, shape).astype("float32")
    m[..., 0] = 1.0
    return m


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    names = [t.name.split(":")[0] for t in model.inputs]
    inputs: dict[str, np.ndarray] = {}
    for name in names:
        if name == "x":
            inputs[name] = rng.standard_normal((batch, steps, 3)).astype("float32")
        elif name == "ids":  # ids - 1 from -3..3: negative, 0 and positive weights; one row summing to 0
            ids = rng.integers(-2, 5, (batch, steps)).astype("int32")
            ids[0] = 1
            ids[-1, :2] = [3, -1]
            inputs[name] = ids
        elif name == "pairs":  # a float attention_mask beside a weights query mask: tf_keras casts both to bool
            inputs[name] = _mask(rng, (batch, steps, steps), VALUES)
        elif name == "feats":  # (a NaN weight makes a NaN logit, which TF's Softmax kernel and TF.js's differ on)
            inputs[name] = _mask(rng, (batch, steps, 3), FINITE)
        else:  # floats (pooled: finite), nans (attention only: NaN kept as TF's cast keeps it)
            inputs[name] = _mask(rng, (batch, steps), VALUES if name == "nans" else FINITE)
    return inputs


RUNS = [(4, 6), (3, 5)]
FAMILIES = {"tf_keras_direct": tf_keras_direct, "tf_keras_mha": tf_keras_mha, "keras3": keras3_family}
CASES = [("tf_keras_direct", "tf_keras.h5"), ("tf_keras_mha", "tf_keras.h5"), ("keras3", "keras3.keras"),
         ("keras3", "keras3.h5")]


converted = converted_fixture("k25_masks", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=251))


@pytest.mark.node
@each_case(CASES)
def test_float_and_int_masks_given_directly_or_into_attention_match_keras(converted, tfjs_runtime, family, flavor):
    """tf_keras's were refused before: "'gap_w' (GlobalAveragePooling1D) is given a mask the lowering computes as
    float32 (it lowers bool masks only)", "'attending/inner_mha' (MultiHeadAttention: a float32 mask given to a
    nested model, which tf_keras hands on as it is)"."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_tf_keras_weights_masks_into_a_simple_rnn_are_refused_by_name(tmp_path):
    """A SimpleRNN given a float mask, directly or inside a nested model, is refused naming it: tf_keras's RNN
    loop casts it to bool but the layer hands the weights on as its output's mask. (tf_keras's LSTM, GRU and
    Attention raise on a float mask: ``tf.equal`` with bool, ``logical_not`` of a float; no file holds one.)"""
    import tensorflow as tf
    import tf_keras as tk

    import tfjsconv
    from tfjsconv.errors import UsageError

    L = tk.layers
    x, floats, b = tk.Input((5, 3), name="x"), tk.Input((5,), name="floats"), tk.Input((5, 3))
    reading = tk.Model(b, L.SimpleRNN(2, name="inner_rnn")(b), name="reading")
    h = L.Dense(3, name="dense")(x)
    tk.Model([x, floats], [L.SimpleRNN(2, return_sequences=True, name="rnn")(h, mask=tf.identity(floats)),
                           reading(L.Dense(3, name="dense_r")(x), mask=tf.identity(floats))]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(info.value)
    assert "'rnn' (SimpleRNN) is given a mask the lowering computes as float32" in message, message
    assert "'reading/inner_rnn' (SimpleRNN: a float32 mask given to a nested model, which tf_keras hands on as it " \
        "is)" in message, message


def test_a_tf_keras_weights_mask_over_integers_is_refused_by_name(tmp_path):
    """tf_keras casts the weights to the input's dtype (int8: truncated) before it sums: not lowered (the pool of
    8/16-bit integers reads a bool mask), refused naming the layer."""
    import tensorflow as tf
    import tf_keras as tk

    import tfjsconv
    from tfjsconv.errors import UsageError

    L = tk.layers
    x, floats = tk.Input((5, 3), dtype="int8", name="x"), tk.Input((5,), name="floats")
    tk.Model([x, floats], L.GlobalAveragePooling1D(name="gap")(x, mask=tf.identity(floats))).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert "'gap' (GlobalAveragePooling1D: a float32 mask weighing a non-float32 input)" in str(info.value), \
        str(info.value)
