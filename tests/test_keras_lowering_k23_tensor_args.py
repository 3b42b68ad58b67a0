"""tf_keras op-layer arguments given as tensors, which the h5py lowering refused where ``--loader=tensorflow`` converted
them (session 23, issue 16): ``tf.pad`` paddings ("argument 'paddings' is a tensor"), ``tf.math.top_k``'s ``k``
("argument 'k' is a tensor") and ``tf.split`` sizes ("argument 'num_or_size_splits' is a tensor").

- ``tf.pad(x, [[0, 0], [0, 12 - n], [0, 0]])`` (padding to a window multiple), ``constant_values``, REFLECT,
  SYMMETRIC, a whole paddings tensor (``tf.stack``), int64 entries (``tf.shape(x, out_type=tf.int64)``).
- ``tf.math.top_k(v, k=n // 2)``, ``k`` the whole length, an int64 ``k``.
- ``tf.split(x, [2, n - 2], axis=1)``, a -1 beside a tensor size, three pieces.

Keras 3 has no counterpart to check: ``ops.pad`` with tensor widths cannot be saved (``Pad`` "was created by passing
non-serializable argument values") and ``ops.top_k`` refuses a tensor ``k`` when the model is built.

One converted model per family (TensorFlow, Keras and tf_keras poisoned) at three lengths, against Keras's
``model(x)`` in TF.js cpu and wasm. Where TF raises (a negative padding, ``k`` past the axis, sizes not summing to
the axis), the TF.js run fails on cpu and wasm too: TF.js's Pad would crop silently, so the lowering checks the
paddings; TopKV2 and SplitV check their own.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

RUNS = [(2, 6), (3, 3), (1, 11)]  # (batch, length) of each run


def tensor_paddings(k: Any) -> Any:
    """Paddings computed from the length ``n`` (6, 3, 11), each mode, then a Dense (the channels stay known)."""
    x = k.Input((None, 8), name="x")
    n = tf.shape(x)[1]
    wide = tf.shape(x, out_type=tf.int64)[1]
    padded = tf.pad(x, [[0, 0], [0, 12 - n], [0, 0]])
    return k.Model(x, [
        padded,
        k.layers.Dense(3)(padded),
        tf.pad(x, [[0, 0], [n // 2, 1], [1, 0]], constant_values=1.5),
        tf.pad(x, tf.stack([tf.zeros(2, tf.int32), tf.stack([n - 2, n // 3]), tf.constant([2, 0])])),
        tf.pad(x, [[0, 0], [n // 2, n - 1], [0, 0]], mode="REFLECT"),
        tf.pad(x, [[1, 0], [n, 1], [0, 0]], mode="SYMMETRIC"),
        tf.pad(x, [[0, 0], [wide - 3, wide // 2], [0, 0]]),  # int64 entries
        tf.pad(tf.cast(x > 0.0, tf.int32), [[0, 0], [n - 3, 2], [0, 0]], constant_values=7),
    ])


def tensor_k(k: Any) -> Any:
    """``top_k`` of the first channel with ``k`` from the length ``n``: values and indices."""
    x = k.Input((None, 8), name="x")
    n = tf.shape(x)[1]
    half = tf.math.top_k(x[:, :, 0], k=n // 2)
    whole = tf.math.top_k(tf.transpose(x, [0, 2, 1]), k=n)
    wide = tf.math.top_k(x[:, :, 1], k=tf.shape(x, out_type=tf.int64)[1] - 1)
    ints = tf.math.top_k(tf.cast(x[:, :, 2] * 3.0, tf.int32), k=n - 2)
    return k.Model(x, [half.values, half.indices, whole.values, whole.indices, wide.values, ints.values, ints.indices])


def tensor_sizes(k: Any) -> Any:
    """``tf.split`` along the length with sizes from ``n``, with a -1 and three pieces."""
    x = k.Input((None, 8), name="x")
    n = tf.shape(x)[1]
    head, tail = tf.split(x, [2, n - 2], axis=1)
    first, rest = tf.split(x, [n - 1, -1], axis=1)
    a, b, c = tf.split(x, [1, n // 3, n - 1 - n // 3], axis=1)
    return k.Model(x, [head, k.layers.Dense(2)(tail), first, rest, a, b, c])


FAMILIES = {"tensor_paddings": tensor_paddings, "tensor_k": tensor_k, "tensor_sizes": tensor_sizes}


def _inputs(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    return {"x": rng.standard_normal((batch, length, 8)).astype(np.float32)}


CASES = [(family, "tf_keras.h5") for family in FAMILIES]
converted = converted_fixture("k23_tensor_args", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=237))


@pytest.mark.node
@each_case(CASES)
def test_tensor_arguments_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def _fails_in_tfjs_where_keras_raises(tmp_path, model: Any, length: int) -> str:
    """Keras raises for an input of ``length``; the lowered model fails on TF.js cpu and wasm. Returns the report."""
    from test_keras_lowering import convert_poisoned
    from tfjsconv.verify.compare import format_report, verify_model

    inputs = {"x": np.ones((2, length, 3), np.float32)}
    with pytest.raises(tf.errors.InvalidArgumentError):
        model(inputs["x"])
    model.save(tmp_path / "m.h5")
    convert_poisoned([tmp_path / "m.h5"])
    name = model.output_names[0]
    report = verify_model(tmp_path / "m.h5.out", inputs, {name: np.zeros((2, length, 3), np.float32)},
                          backends=("cpu", "wasm"), quiet=True)
    text = format_report(report)
    assert not report.passed
    assert "cpu backend failed to run the model" in text and "wasm backend failed to run the model" in text, text
    return text


@pytest.mark.node
def test_a_negative_padding_fails_in_tfjs_as_keras_raises(tmp_path, tfjs_runtime):
    """``tf.pad(x, [[0, 0], [0, 4 - n], [0, 0]])`` at length 5: TF raises; TF.js's Pad alone would crop to 4."""
    import tf_keras as k

    x = k.Input((None, 3), name="x")
    model = k.Model(x, tf.pad(x, [[0, 0], [0, 4 - tf.shape(x)[1]], [0, 0]]))
    assert "GatherV2" in _fails_in_tfjs_where_keras_raises(tmp_path, model, 5)


@pytest.mark.node
def test_k_past_the_axis_fails_in_tfjs_as_keras_raises(tmp_path, tfjs_runtime):
    """``top_k(v, k=n + 1)``: TF raises (fewer than k columns); so does TF.js's TopKV2."""
    import tf_keras as k

    x = k.Input((None, 3), name="x")
    model = k.Model(x, tf.math.top_k(x[:, :, 0], k=tf.shape(x)[1] + 1).values)
    _fails_in_tfjs_where_keras_raises(tmp_path, model, 2)


@pytest.mark.node
def test_sizes_not_summing_to_the_axis_fail_in_tfjs_as_keras_raises(tmp_path, tfjs_runtime):
    """``split(x, [2, n - 3])``: TF raises (sizes sum to n - 1); so does TF.js's SplitV."""
    import tf_keras as k

    x = k.Input((None, 3), name="x")
    model = k.Model(x, tf.split(x, [2, tf.shape(x)[1] - 3], axis=1)[0])
    _fails_in_tfjs_where_keras_raises(tmp_path, model, 6)
