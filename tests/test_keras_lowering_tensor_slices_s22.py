"""tf_keras slices whose bounds are tensors, and ``x[None]`` (session 22, issue 16: the h5py lowering refused them
while ``--loader=tensorflow`` converted them).

- The TF Transformer tutorial's positional encoding, ``emb + tf.constant(pe)[:, :tf.shape(emb)[1], :]`` (tf_keras
  records it as ``tf.strided_slice`` of the constant with an ``end`` tensor), and ``x[:, :n - 1]`` with ``n`` from
  ``tf.shape``: refused "argument 'end'/'key' is a tensor".
- Bounds TF resolves at run time: negative (counted from the end), past the size (clamped), an end before the begin
  (empty), an index (``x[:, n - 1]``), a new axis with an index, negative strides with tensor bounds, an ellipsis,
  ``tf.strided_slice`` with an ``end`` vector tensor, and the decoder's look-ahead mask ``1 - band_part(ones((n, n)),
  -1, 0)``.
- ``tf.cos(x)[None]``, saved as ``slice_spec: null``: refused "argument 'key' is missing".

One converted model (TensorFlow, Keras and tf_keras poisoned) at three lengths (2, 6, 11: the bounds land before,
inside and past the axis), against tf_keras's ``model(x)`` in TF.js cpu and wasm. Keras 3 has no equivalent to
convert: its ``x[:, :n]`` with a tensor ``n`` saves but does not load back in Keras ("A KerasTensor cannot be used as
input to a TensorFlow function"), ``x[None]`` is refused when built, and ``ops.slice`` with tensor starts was
already lowered.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering import convert_poisoned  # noqa: E402

RUNS = [(2, 6), (3, 2), (1, 11)]  # (batch, length) of each run


def positional_encoding(k: Any) -> Any:
    """The tutorial's encoder input: ids embedded, plus a constant table sliced to the run's length; an int table
    sliced so, and ids sliced by int64 bounds."""
    ids = k.Input((None,), name="ids", dtype="int32")
    emb = k.layers.Embedding(20, 8)(ids)
    table = np.sin(np.arange(50 * 8, dtype=np.float32).reshape(1, 50, 8) / 7.0)
    positions = tf.constant(np.arange(40, dtype=np.int32) * 3 - 7)  # an int table: int32 as in TF, not float32
    steps = tf.cast(tf.shape(ids)[1], tf.int64)  # an int64 bound
    return k.Model(ids, [emb + tf.constant(table)[:, :tf.shape(emb)[1], :], ids[:, :tf.shape(ids)[1] - 1],
                         ids + positions[:tf.shape(ids)[1]], ids[:, steps - 1:steps + 3]])


def tensor_bounds(k: Any) -> Any:
    """Slices of ``x`` by bounds computed from its length ``n``, with TF's resolution of each."""
    x = k.Input((None, 8), name="x")
    n = tf.shape(x)[1]
    return k.Model(x, [
        x[:, n - 3:],  # negative at length 2: from the end
        x[:, 1:n + 5],  # past the size: clamped
        tf.concat([x[:, 3:n - 5], x], axis=1),  # an end before the begin: empty
        x[:, n - 1],  # an index
        x[None, :, n - 2],  # a new axis and an index
        x[:, n - 2::-1],  # a negative stride from a tensor begin to the front
        x[:, :n - 4:-1],  # a negative stride to a tensor end
        x[:, 1:n:2, ::-3],  # strides on two axes
        x[..., :n],  # an ellipsis, the last axis (8) clamped
        x[..., n - 9],  # an index after an ellipsis, negative at lengths 2 and 6
        x[:, None, n - 1:],  # a new axis between sliced ones
        (x > 0.0)[:, :n - 1],  # bools
        tf.strided_slice(x, [0, 1, 0], tf.stack([2, n, 8])),  # an end vector tensor (batch 3 clamped to 2)
        1.0 - tf.linalg.band_part(tf.ones((n, n)), -1, 0),  # the decoder's look-ahead mask
        tf.cos(x)[None],  # saved as slice_spec null
    ])


FAMILIES = {"positional_encoding": positional_encoding, "tensor_bounds": tensor_bounds}


def _inputs(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    if model.inputs[0].dtype == "int32":
        return {"ids": rng.integers(0, 20, (batch, length)).astype(np.int32)}
    return {"x": rng.standard_normal((batch, length, 8)).astype(np.float32)}


CASES = [(family, "tf_keras.h5") for family in FAMILIES]
converted = converted_fixture("tensor_slices_s22", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=221))


@pytest.mark.node
@each_case(CASES)
def test_slices_with_tensor_bounds_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@pytest.mark.parametrize("where", ["past_the_end", "before_the_front"])
def test_an_index_outside_the_axis_raises_in_tfjs_as_in_keras(tmp_path, tfjs_runtime, where):
    """``x[:, n]`` and ``x[:, -n - 1]`` raise in TensorFlow; a clamped slice would give the last or first row."""
    import tf_keras as k

    from tfjsconv.verify.compare import format_report, verify_model

    x = k.Input((None, 3), name="x")
    n = tf.shape(x)[1]
    model = k.Model(x, x[:, n] if where == "past_the_end" else x[:, -n - 1])
    inputs = {"x": np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)}
    with pytest.raises(tf.errors.InvalidArgumentError):
        model(inputs["x"])
    model.save(tmp_path / "m.h5")
    convert_poisoned([tmp_path / "m.h5"])
    report = verify_model(tmp_path / "m.h5.out", inputs, {"tf.__operators__.getitem": np.zeros((2, 3), np.float32)},
                          backends=("cpu", "wasm"), quiet=True)
    text = format_report(report)
    assert not report.passed
    assert "cpu backend failed to run the model" in text and "wasm backend failed to run the model" in text, text
