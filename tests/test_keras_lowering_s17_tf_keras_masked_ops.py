"""tf_keras op layers that TensorFlow answers with their masked input tensor itself (session 17).

tf_keras's ``TFOpLambda`` supports no masking, so its output carries no mask in the graph Keras saves; but at run time
``tf.cast(x, x.dtype)`` (``if x.dtype == dtype: return x``), ``add_n([x])``, ``accumulate_n([x])``,
``convert_to_tensor(x)``, ``nn.dropout(x, rate=0)`` and ``image.central_crop(x, 1.0)`` hand back the very object
``x``, and with it the mask tf_keras set on it (``x._keras_mask``): the LSTM or masked GlobalAveragePooling1D after
them reads that mask. The lowering hands it on where the saved config says the dtype stays
(``call_facts.returns_input_itself``), checked again on the dtypes it tracks. Converted with TensorFlow, Keras and
tf_keras poisoned, run in TF.js (cpu, wasm) and compared with Keras's own ``model(x)``: the ids hold padded, unpadded
and fully padded rows (GlobalAveragePooling1D's NaN), the Masking inputs zero steps, the int32 steps ids that Keras
sums exactly. (A cast whose saved config tells another dtype than the one Keras computes in, an Activation of int32
ids staying int32, was refused by name until session 21: test_keras_lowering_held_dtype_masks_s21.) A cast of a nested
Sequential model's output
(whose dtype the walk does not read from it) and ``image.rot90(x, k=0)``, which returns ``x`` in Keras's eager
``model(x)`` but a new tensor when traced, stay refused by name.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_models import lowering_refusal, randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402


def _inputs() -> dict[str, np.ndarray]:
    """ids with padding at the end, at the start, none, and everywhere; Masking inputs with zero steps; int32 steps
    (their zero steps masked) with large values whose sum Keras takes in int32."""
    ids = np.array([[3, 1, 4, 0, 0, 0], [0, 0, 5, 9, 2, 6], [5, 3, 5, 8, 9, 7], [0, 0, 0, 0, 0, 0]], np.int32)
    rng = np.random.default_rng(17)
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    x[0, 1], x[1, 3:], x[3] = 0.0, 0.0, 0.0
    x[2, 2] = [0.0, -0.0, 0.0]
    steps = rng.integers(-9, 10, (4, 5, 2)).astype(np.int32)
    steps[0, 0], steps[1, 2:], steps[2, 4] = 0, 0, 0
    steps[2, 1] = [2**31 - 1, -2**31]
    steps[3] = 0
    return {"ids": ids, "x": x, "steps": steps}


def _model():
    import tf_keras as k

    ids, x, steps = k.Input((6,), dtype="int32", name="ids"), k.Input((5, 3), name="x"), \
        k.Input((5, 2), dtype="int32", name="steps")
    e = k.layers.Embedding(10, 4, mask_zero=True, name="embed")(ids)
    inner_ids = k.Input((6,), dtype="int32", name="inner_ids")
    inner = k.Model(inner_ids, k.layers.Embedding(10, 4, mask_zero=True, name="inner_embed")(inner_ids), name="inner")
    m = k.layers.Masking(0.0, name="masking")(x)
    s = k.layers.Masking(0, name="masking_ids")(steps)
    lstm = lambda t, n: k.layers.LSTM(3, name=n)(t)  # noqa: E731
    pool = lambda t, n: k.layers.GlobalAveragePooling1D(name=n)(t)  # noqa: E731
    same = tf.cast(m, tf.float32)
    outputs = [
        lstm(tf.cast(e, tf.float32), "lstm_cast"), pool(tf.cast(e, "float32"), "pool_cast"),
        pool(tf.dtypes.cast(e, tf.float32), "pool_dtypes_cast"), lstm(tf.math.add_n([e]), "lstm_add_n"),
        pool(tf.math.add_n([e]), "pool_add_n"), pool(tf.math.accumulate_n([e]), "pool_accumulate_n"),
        pool(tf.convert_to_tensor(e), "pool_convert"), lstm(tf.convert_to_tensor(e, dtype=tf.float32), "lstm_convert"),
        lstm(tf.nn.dropout(e, rate=0.0), "lstm_dropout"),
        lstm(tf.cast(tf.cast(e, tf.float32), tf.float32), "lstm_cast_twice"),  # a cast's output: the dtype it names
        pool(tf.cast(tf.math.add_n([tf.convert_to_tensor(e)]), tf.float32), "pool_chain"),
        lstm(tf.image.central_crop(e, 1.0), "lstm_central_crop"),  # ``return image`` (a rank-3 tensor: one image)
        lstm(tf.cast(inner(ids), tf.float32), "lstm_nested_cast"),  # the dtype read inside the nested model
        pool(tf.math.add_n([e, e]), "pool_add_n_two"),  # a new tensor: unmasked, as in Keras
        pool(same, "pool_masking_cast"), k.layers.LSTM(2, return_sequences=True, name="lstm_seq")(same),
        pool(tf.cast(s, tf.int32), "pool_ids_cast"),  # int32 kept: Keras's masked int32 mean
        pool(tf.cast(s, tf.float32), "pool_ids_float"),  # a new float32 tensor: unmasked
    ]
    return k.Model([ids, x, steps], outputs)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s17_masked_ops")
    model = _model()
    randomize(model, 17)
    saved = save_with_outputs(model, _inputs(), folder / "masked_ops.h5")
    convert_poisoned([saved[0]])
    return saved


@pytest.mark.node
def test_tf_keras_ops_returning_their_masked_input_hand_the_mask_on(converted, tfjs_runtime):
    path, inputs, outputs = converted
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_casts_the_saved_dtypes_cannot_decide_stay_refused_by_name(tmp_path):
    """A cast of a nested Sequential model's masked output (its dtype not read from it) stays refused, and so does
    ``rot90`` by a multiple of 4 (Keras's eager call keeps the mask, a traced graph not). (``tf.cast(a, tf.int32)`` of
    an int32 Activation was named here from session 17 and lowers since session 21.)
    (A nested model whose Input has another dtype than the masked tensor, and v1 ``resize`` of masked images to their
    own size, are lowered since session 18: tests/test_keras_lowering_masks_s18.py.)"""
    import tf_keras as k

    inner = k.Sequential([k.layers.Embedding(10, 4, mask_zero=True)], name="inner")
    ids = k.Input((6,), dtype="int32", name="ids")
    k.Model(ids, k.layers.LSTM(3)(tf.cast(inner(ids), tf.float32))).save(tmp_path / "nested.h5")
    message = lowering_refusal(tmp_path / "nested.h5")
    assert re.search(r"'tf\.cast(_\d+)?' \(TFOpLambda: TensorFlow returns the masked input tensor itself", message), \
        message

    e = k.layers.Embedding(10, 4, mask_zero=True)(ids)
    k.Model(ids, [k.layers.LSTM(3)(tf.image.rot90(e, k=0)), k.layers.GlobalAveragePooling1D()(tf.image.rot90(e, 4))]
            ).save(tmp_path / "rot90.h5")
    message = lowering_refusal(tmp_path / "rot90.h5")
    assert re.search(r"does not cover 2 layers: 'tf\.image\.rot90(_\d+)?' \(TFOpLambda: TensorFlow returns the masked "
                     r"input tensor itself.*'tf\.image\.rot90_\d+' \(TFOpLambda: TensorFlow returns", message), message
