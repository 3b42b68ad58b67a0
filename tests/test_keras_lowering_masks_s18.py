"""tf_keras masks the lowering once refused (session 18, issue 16): nested models cast, ``tf.stack`` of one tensor,
v1 resize to the image's own size.

- A tf_keras nested Functional model sets the masks it is given on the caller's tensors, then casts each to its
  Input's dtype (``Functional._conform_to_reference_input``): a masked tensor of another dtype becomes a new tensor
  without the mask, so the inner layers read none, and the nested model's outputs carry the masks its layers make from
  none (a Masking inside makes one, a GlobalAveragePooling1D averages every step). Lowered so (once refused).
  The values are cast so too (floats truncated to int32, NaN and Inf to INT_MIN, as TF's CPU kernel): a float32 tensor
  given to a nested model with an int32 Input was once read uncast, silently off from Keras.
- ``tf.stack(x)`` of one tensor (not a list) is TF's ``convert_to_tensor(x)``: ``x`` itself, its mask riding on to
  the LSTM / GlobalAveragePooling1D after it (once refused: "not a list of tensors").
- ``tf.compat.v1.image.resize``/``resize_images`` of a batch of images to their own static size returns the images
  themselves (eagerly and traced), their mask riding on (once refused).

Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js (cpu, wasm), compared with Keras's own
``model(x)``. What stays refused is named: ``image.rot90`` by a multiple of 4 (Keras's eager ``model(x)`` keeps the
mask, ``model.predict`` and a traced graph drop it).
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
    """int32 steps (zero steps masked; one row all zero: no step kept), float steps with zero steps and values that
    truncate to zero as int32 (a masked float32 tensor cast into an int32 Input), ids padded at the end, start, none
    and everywhere, and frames (images) with zero pixels masked per (frame, row)."""
    rng = np.random.default_rng(18)
    steps = rng.integers(-9, 10, (4, 5, 2)).astype(np.int32)
    steps[0, 0], steps[1, 2:], steps[2, 4], steps[3] = 0, 0, 0, 0
    steps[2, 1] = [2**31 - 1, -2**31]
    x = (rng.standard_normal((4, 5, 3)) * 3).astype(np.float32)
    x[0, 1], x[1, 3:], x[3] = 0.0, 0.0, 0.0
    x[2, 2] = [0.4, -0.7, 0.0]  # not masked as float32, all zero once cast to int32
    x[2, 3] = [np.nan, np.inf, -2.5]  # TF casts NaN and Inf to INT_MIN, -2.5 to -2
    ids = np.array([[3, 1, 4, 0, 0, 0], [0, 0, 5, 9, 2, 6], [5, 3, 5, 8, 9, 7], [0, 0, 0, 0, 0, 0]], np.int32)
    frames = rng.standard_normal((4, 5, 3, 2)).astype(np.float32)
    frames[0, 1, 2], frames[1, :, 1:], frames[3] = 0.0, 0.0, 0.0
    return {"steps": steps, "x": x, "ids": ids, "frames": frames}


def _model():
    import tf_keras as k

    steps, x = k.Input((5, 2), dtype="int32", name="steps"), k.Input((5, 3), name="x")
    ids, frames = k.Input((6,), dtype="int32", name="ids"), k.Input((5, 3, 2), name="frames")
    s = k.layers.Masking(0, name="masking_ids")(steps)  # int32, masked
    m = k.layers.Masking(0.0, name="masking")(x)  # float32, masked
    e = k.layers.Embedding(10, 4, mask_zero=True, name="embed")(ids)
    f = k.layers.Masking(0.0, name="masking_frames")(frames)

    def inner(name: str, dtype: str, shape: tuple[int, ...], body) -> k.Model:
        given = k.Input(shape, dtype=dtype, name=f"{name}_in")
        return k.Model(given, body(given), name=name)

    pool = inner("pool", "float32", (5, 2), lambda t: k.layers.GlobalAveragePooling1D(name="inner_pool")(t))
    remask = inner("remask", "float32", (5, 2), lambda t: k.layers.LSTM(
        3, name="inner_lstm")(k.layers.Masking(-2.0, name="inner_masking")(t)))  # its own mask, from none
    seq = inner("seq", "float32", (5, 2), lambda t: k.layers.Dense(3, name="inner_dense")(
        k.layers.Masking(1.0, name="inner_masking_seq")(t)))  # its output carries the inner Masking's mask
    ints = inner("ints", "int32", (5, 3), lambda t: k.layers.LSTM(2, name="inner_lstm_ints")(
        k.layers.Dense(3, name="inner_dense_ints")(t)))  # the float32 masked tensor cast to int32
    same = inner("same", "int32", (5, 2), lambda t: k.layers.GlobalAveragePooling1D(name="inner_pool_same")(t))
    truncated = inner("truncated", "int32", (5, 3), lambda t: k.layers.Dense(2, name="inner_dense_truncated")(t))
    outputs = [
        pool(s), remask(s), k.layers.GlobalAveragePooling1D(name="pool_seq")(seq(s)), ints(m),
        truncated(x),  # unmasked: tf_keras truncates the floats to int32 first (once read as they were)
        same(s),  # the same dtype: the tensor itself, its mask read inside (as before)
        k.layers.LSTM(3, name="lstm_stack")(tf.stack(e)), k.layers.GlobalAveragePooling1D(name="pool_stack")(
            tf.stack(e, axis=0)),
        k.layers.GlobalAveragePooling1D(name="pool_stack_list")(tf.stack([e])[0]),  # a new tensor: unmasked
        k.layers.TimeDistributed(k.layers.LSTM(2, name="lstm"), name="td_resize")(
            tf.compat.v1.image.resize(f, [5, 3])),
        k.layers.TimeDistributed(k.layers.LSTM(2, name="lstm"), name="td_resize_images")(
            tf.compat.v1.image.resize_images(f, (5, 3))),
        k.layers.TimeDistributed(k.layers.LSTM(2, name="lstm"), name="td_resize_other")(
            tf.compat.v1.image.resize(f, [5, 2])),  # another size: a new tensor, unmasked
    ]
    return k.Model([steps, x, ids, frames], outputs)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s18_masks")
    model = _model()
    randomize(model, 18)
    saved = save_with_outputs(model, _inputs(), folder / "masks.h5")
    convert_poisoned([saved[0]])
    return saved


@pytest.mark.node
def test_tf_keras_nested_casts_stack_and_v1_resize_masks_match_keras(converted, tfjs_runtime):
    path, inputs, outputs = converted
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_what_stays_refused_is_named_by_conversion(tmp_path):
    """rot90 by a multiple of 4 on a masked tensor: named. (A cast to int32 of an int32 Activation, or a nested
    model with an int32 Input called on it, were refused until session 21: test_keras_lowering_held_dtype_masks_s21.)"""
    import tf_keras as k

    ids = k.Input((6,), dtype="int32", name="ids")
    e = k.layers.Embedding(10, 4, mask_zero=True)(ids)
    model = k.Model(ids, [k.layers.LSTM(3)(tf.image.rot90(e, k=0)),
                          k.layers.GlobalAveragePooling1D()(tf.image.rot90(e, 4))])
    model.save(tmp_path / "rot90.h5")
    message = lowering_refusal(tmp_path / "rot90.h5")
    assert re.search(r"'tf\.image\.rot90(_\d+)?' \(TFOpLambda: TensorFlow returns the masked input tensor itself "
                     r"when Keras runs eagerly \(model\(x\) keeps its mask\), but a new tensor when traced", message), \
        message
    assert "--loader=tensorflow" in message
