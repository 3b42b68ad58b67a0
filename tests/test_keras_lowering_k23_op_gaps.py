"""Op-layer arguments the h5py lowering refused while ``--loader=tensorflow`` converted them (session 23, issue 16).

- tf_keras ``tf.shape(x, out_type=tf.int64)`` (or ``"int64"``): refused "compat.v1.shape: out_type=DT_INT64" wherever
  it was used (a slice bound, arithmetic, ``tf.range``, ``tf.reshape``, ``tf.fill``, ``tf.zeros``, a model output).
  A shape is below 2^31, so the int32 TF.js holds is exact; the Value is int64 (a Cast), as the traced graph's is, so
  a model output keeps the signature's DT_INT64. ``tf.size(x, out_type=tf.int64)`` converted but its output's
  signature said DT_INT32 where the traced graph says DT_INT64 (so did ``tf.range`` of int64 bounds and ``//``/``%`` of
  int64 values, which now stay int64, so ``tf.range(n) < n // 2`` and ``n // 2 + n`` lower).
- tf_keras ``x[:, ::s]`` with a tensor step ``s``: refused "a tensor step's sign is known only at run time". Now
  read with TF's resolution for the run's sign (masked bounds, negative bounds, clamping, empty axes), at lengths
  where the step is positive at one and negative at another; a zero step raises in TF.js as in TF.
- Keras 3 ``ops.concatenate([ops.zeros((1,), "int32"), t, ...])`` (``ops.ones``, ``ops.full``, numpy arrays):
  Keras 3 saves those items as ``__tensor__``/``__numpy__`` dicts, and the lowering refused "item 0 of 'values' is
  neither a tensor nor a constant". Keras reloads the ``.keras`` file (its ``.h5`` of any Keras 3 op layer does not
  load back: "Unknown layer"), so only ``.keras`` is checked. An int64 array among int32 tensors (``np.array([3,
  4])``) makes the result int64, as Keras promotes it; an item of another dtype (a float among ints, ints among
  floats) stays a gap, named.

One converted model per family (TensorFlow, Keras and tf_keras poisoned) at three lengths, against Keras's
``model(x)`` in TF.js cpu and wasm.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

RUNS = [(2, 6), (3, 2), (1, 11)]  # (batch, length) of each run


def int64_shapes(k: Any) -> Any:
    """tf_keras int64 shapes and sizes where models use them: bounds, arithmetic, shape arguments, outputs."""
    x = k.Input((None, 8), name="x")
    shape = tf.shape(x, out_type=tf.int64)
    n = shape[1]
    m = tf.shape(x, out_type="int64")[1]
    size = tf.size(x, out_type=tf.int64)
    return k.Model(x, [
        x[:, :n - 1],  # an int64 slice bound
        x[:, m // 2:],  # out_type given as a string, floor division
        x[:, :size // 16],  # an int64 size as a bound (past the axis at batch 3: clamped)
        shape,  # an int64 output
        size,  # an int64 output
        tf.range(n),  # int64 range
        tf.reshape(x, tf.stack([shape[0], n * 8])),
        tf.fill(shape[:2], 2.0),
        tf.zeros(shape),
        x * tf.cast(n, tf.float32),
        tf.sequence_mask(tf.fill(shape[:1], n - 1), n),  # an int64 fill value, int64 lengths and maxlen
        tf.cast(tf.range(n) < n // 2, tf.float32) + tf.cast(n // 2 + n, tf.float32),  # int64 arithmetic
        tf.math.floormod(shape, 4),  # an int64 output of integer arithmetic
    ])


def tensor_steps(k: Any) -> Any:
    """Slices with a step computed from the length ``n`` (2, -2, 7 and -3, 1, -8 at lengths 6, 2, 11)."""
    x = k.Input((None, 8), name="x")
    n = tf.shape(x)[1]
    up, down = n - 4, 3 - n
    return k.Model(x, [
        x[:, ::up],  # masked bounds: the front or the back by the sign
        x[:, 1::down],
        x[:, -2:0:up],  # negative begin: empty forwards, n-2 down to 1 backwards
        x[:, n - 3::down],  # a tensor begin (negative at length 2)
        x[:, :1:up],
        x[:, 10:-20:down],  # clamped both ways
        x[::tf.shape(x)[0], ::up, ::-2],  # two tensor steps and a constant one
        x[:, ::up, 2],  # and an index
        x[None, ::down],  # and a new axis
        tf.cast(x > 0.0, tf.int32)[:, ::down],  # int32
    ])


def _keras3_length(k: Any, x: Any) -> Any:
    """The run's length as an int32 vector of one item, from Keras 3 ops only (``ops.shape`` is static)."""
    return k.ops.cast(k.ops.reshape(k.ops.max(k.ops.sum(k.ops.ones_like(x), axis=1)), (1,)), "int32")


def concatenated_constants(k: Any) -> Any:
    """Keras 3 concatenations of tensors with constants: an ``ops.slice`` start, and int and float vectors."""
    x = k.Input((None, 8), name="x")
    n = _keras3_length(k, x)
    start = k.ops.concatenate([k.ops.zeros((1,), "int32"), n - 2, k.ops.zeros((1,), "int32")])
    ints = k.ops.concatenate([k.ops.ones((2,), "int32"), n, k.ops.full((1,), 7, "int32"), np.array([3, 4], "int32")])
    floats = k.ops.concatenate([k.ops.zeros((1,), "float32"), k.ops.cast(n, "float32"), np.array([0.5], "float32")])
    wide = k.ops.concatenate([np.array([3, -4]), n, n])  # an int64 array: Keras gives int64
    return k.Model(x, [k.ops.slice(x, start, [1, 2, 8]), ints, x * k.ops.sum(floats), start, wide])


FAMILIES = {"int64_shapes": int64_shapes, "tensor_steps": tensor_steps, "concatenated_constants": concatenated_constants}


def _inputs(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    return {"x": rng.standard_normal((batch, length, 8)).astype(np.float32)}


CASES = [("int64_shapes", "tf_keras.h5"), ("tensor_steps", "tf_keras.h5"), ("concatenated_constants", "keras3.keras")]
converted = converted_fixture("k23_op_gaps", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=231))


@pytest.mark.node
@each_case(CASES)
def test_op_arguments_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@each_case(CASES)
def test_int64_outputs_keep_their_signature_dtype(converted, family, flavor):
    """Where Keras gives int64 (``tf.shape``/``tf.size`` with ``out_type=tf.int64``), the signature says DT_INT64,
    as the traced graph's does; the other outputs keep theirs."""
    path, runs, _ = converted[(family, flavor)]
    outputs = json.loads((path.parent / f"{path.name}.out" / "model.json").read_text())["signature"]["outputs"]
    expected = {np.dtype("int64"): "DT_INT64", np.dtype("int32"): "DT_INT32", np.dtype("float32"): "DT_FLOAT",
                np.dtype("bool"): "DT_BOOL"}
    assert [o["dtype"] for o in outputs.values()] == [expected[a.dtype] for a in runs[0][1]]


@pytest.mark.node
def test_a_zero_tensor_step_raises_in_tfjs_as_in_keras(tmp_path, tfjs_runtime):
    """``x[:, ::n - 4]`` at length 4: TF raises (a zero stride); TF.js's Range raises too, where a guess would not."""
    import tf_keras as k

    from test_keras_lowering import convert_poisoned
    from tfjsconv.verify.compare import format_report, verify_model

    x = k.Input((None, 3), name="x")
    model = k.Model(x, x[:, ::tf.shape(x)[1] - 4])
    inputs = {"x": np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)}
    with pytest.raises(tf.errors.InvalidArgumentError):
        model(inputs["x"])
    model.save(tmp_path / "m.h5")
    convert_poisoned([tmp_path / "m.h5"])
    report = verify_model(tmp_path / "m.h5.out", inputs, {"tf.__operators__.getitem": np.zeros((2, 4, 3), np.float32)},
                          backends=("cpu", "wasm"), quiet=True)
    text = format_report(report)
    assert not report.passed
    assert "cpu backend failed to run the model" in text and "wasm backend failed to run the model" in text, text
