"""float64 sums, means and products over axes known only at run time (session 27, issue 16).

``tf.reduce_sum(tf.cast(x, tf.float64), axis=1)`` of ``Input((None, 3))`` was refused ("float64 sum over axes [1] of
sizes [None]") where ``--loader=tensorflow`` converts it (each step in float32). The lowering now reduces such an axis
as a tree of double-float32 pair steps of a fixed depth (each level pads the axis to an even size at run time with
the identity, -0.0 or 1, and adds its even and odd items), up to 2^16 values along it; the mean divides by the
run-time count as an exact pair. Checked against Keras's ``model(x)`` (tf_keras ``tf.reduce_*`` and Keras 3
``ops.sum/mean/prod`` of casts, of chains held as pairs, of float64 model Inputs) at lengths 1, 7 and 300, with rows
whose large items cancel (``1e7, 3, -1e7``: float32 loses the 3) and signed zeros (a sum of one -0.0 is -0.0, of
more +0.0, as TF's), in TF.js cpu and wasm, TensorFlow, Keras and tf_keras poisoned during conversion.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

RUNS = [(2, 1), (3, 7), (2, 300)]  # (batch, length) of each run


def _positive(k: Any, v: Any) -> Any:
    """Whether float64 ``v`` is +0.0 or above (``1/v > 0``, int32): the sign of a zero sum."""
    if hasattr(k, "ops"):
        return k.ops.cast(k.ops.cast(1.0 / v, "float32") > 0, "int32")
    return tf.cast(tf.cast(1.0 / v, tf.float32) > 0, tf.int32)


def tf_runtime_sums(k: Any) -> Any:
    """tf_keras's ``tf.reduce_sum``/``reduce_mean`` of ``tf.cast(x, tf.float64)`` and of chains (pairs) over the
    run-time length, alone and with the channels, cast back to float32 or not; the sign of a sum."""
    x = k.Input((None, 3), name="x")
    d = tf.cast(x, tf.float64)
    e = d * 0.1 + d
    total = tf.reduce_sum(d, axis=1)
    return k.Model(x, [
        total, tf.reduce_mean(d, axis=1, keepdims=True), tf.reduce_sum(d, axis=[1, 2]),
        tf.cast(tf.reduce_mean(e * e - 1.0, axis=-2), tf.float32), tf.reduce_sum(e, axis=[2, 1], keepdims=True),
        tf.reduce_mean(d, axis=[1, 2]), _positive(k, total), tf.cast(total, tf.float32) * 2.0,
    ], name="tf_runtime_sums")


def keras3_runtime_sums(k: Any) -> Any:
    """Keras 3's ``ops.sum``/``ops.mean`` of a float64 cast and of chains over the run-time length."""
    x = k.Input((None, 3), name="x")
    d = k.ops.cast(x, "float64")
    e = d * 0.1 + d
    total = k.ops.sum(d, axis=1)
    return k.Model(x, [
        total, k.ops.mean(d, axis=1, keepdims=True), k.ops.sum(e, axis=(1, 2)),
        k.ops.cast(k.ops.mean(e * e - 1.0, axis=1), "float32"), k.ops.mean(e, axis=(-1, -2)), _positive(k, total),
    ], name="keras3_runtime_sums")


def float64_input_sums(k: Any) -> Any:
    """A float64 model Input (fed as float32) summed and averaged over its run-time length, then a Dense."""
    keras3 = hasattr(k, "ops")
    x = k.Input((None, 3), name="x", dtype="float64" if keras3 else tf.float64)
    if keras3:
        total = k.ops.sum(x, axis=1)
        outputs = [total, k.ops.mean(x, axis=1), k.ops.sum(x * 0.1, axis=(1, 2))]
    else:
        total = tf.reduce_sum(x, axis=1)
        outputs = [total, tf.reduce_mean(x, axis=1), tf.reduce_sum(x * 0.1, axis=[1, 2])]
    return k.Model(x, [*outputs, k.layers.Dense(2, name="after_sum")(total)], name="float64_input_sums")


def runtime_products(k: Any) -> Any:
    """Products over the run-time length of values near 1 (:func:`_inputs`), of a cast and of a chain."""
    x = k.Input((None, 3), name="x")
    if hasattr(k, "ops"):
        d = k.ops.cast(x, "float64")
        return k.Model(x, [k.ops.prod(d, axis=1), k.ops.prod(d * 1.1, axis=(1, 2))], name="runtime_products")
    d = tf.cast(x, tf.float64)
    return k.Model(x, [tf.reduce_prod(d, axis=1), tf.cast(tf.reduce_prod(d / 3.0, axis=[1, 2]), tf.float32)],
                   name="runtime_products")


FAMILIES = {"tf_runtime_sums": tf_runtime_sums, "keras3_runtime_sums": keras3_runtime_sums,
            "float64_input_sums": float64_input_sums, "runtime_products": runtime_products}


def _inputs(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """Normal floats; channel 0 cancels: ``1e7·z, y, -1e7·z`` triples (products: values near 1). Length 1: signed
    zeros (``-0.0`` rows). The float64 Input is fed float64 values float32 holds."""
    t = model.inputs[0]
    name = t.name.split(":")[0]
    values = rng.standard_normal((batch, length, 3)).astype(np.float32)
    if model.name == "runtime_products":
        values = (1.0 + 0.05 * values).astype(np.float32)
        values[0, :, 1] = -values[0, :, 1]
        values[-1, 0, 2] = -0.0
        return {name: values}
    if length == 1:
        values[0] = -0.0
        values[1, :, 1:] = -0.0
    else:
        triples = length // 3  # ``1e7·z, y, -1e7·z``: float32 adding them one by one loses most of ``y``
        big = (1e7 * rng.standard_normal((batch, triples))).astype(np.float32)
        values[:, 0:3 * triples:3, 0] = big
        values[:, 2:3 * triples:3, 0] = -big
        values[0, :, 2] = -0.0
    dtype = np.float64 if model.name == "float64_input_sums" else np.float32
    return {name: values.astype(dtype)}


CASES = [("tf_runtime_sums", "tf_keras.h5"), ("keras3_runtime_sums", "keras3.keras"),
         ("float64_input_sums", "tf_keras.h5"), ("float64_input_sums", "keras3.keras"),
         ("runtime_products", "tf_keras.h5"), ("runtime_products", "keras3.keras")]
converted = converted_fixture("k27_float64_runtime", CASES,
                             two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=271))


@pytest.mark.node
@each_case(CASES)
def test_float64_reductions_over_run_time_axes_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_cancelling_rows_are_kept(converted):
    """The cancellation rows are real: float32 adding channel 0 one by one is far from Keras's float64 sum."""
    path, runs, _ = converted[("tf_runtime_sums", "tf_keras.h5")]
    for inputs, outputs in runs[1:]:
        values = next(iter(inputs.values()))
        one_by_one = np.cumsum(values[..., 0], axis=1, dtype=np.float32)[:, -1]
        assert np.all(np.abs(one_by_one - outputs[0][:, 0]) > 1e-3 * np.ptp(outputs[0])), (one_by_one, outputs[0])


@pytest.mark.node
def test_past_2_16_values_along_a_run_time_axis_tfjs_raises(tmp_path, tfjs_runtime):
    """2^16 + 1 values along a run-time axis: the tree's 16 levels leave 2, and the converted model raises on cpu
    and wasm (its last Squeeze) rather than give a partial sum; 2^16 values match Keras."""
    import tf_keras as k

    from test_keras_lowering import convert_poisoned
    from tfjsconv.verify.compare import format_report, verify_model

    x = k.Input((None, 1), name="x")
    model = k.Model(x, tf.reduce_sum(tf.cast(x, tf.float64), axis=1))
    model.save(tmp_path / "m.h5")
    convert_poisoned([tmp_path / "m.h5"])
    import tfjsconv

    details = tfjsconv.convert(tmp_path / "m.h5", tmp_path / "again", output_format="tfjs_graph_model").details
    assert [d for d in details if "up to 65536 values along each: TF.js raises on longer inputs" in d], details
    rng = np.random.default_rng(2716)
    for length, passes in ((1 << 16, True), ((1 << 16) + 1, False)):
        inputs = {"x": rng.standard_normal((1, length, 1)).astype(np.float32)}
        expected = np.asarray(model(inputs["x"])).astype(np.float32)
        report = verify_model(tmp_path / "m.h5.out", inputs, {"tf.math.reduce_sum": expected},
                              backends=("cpu", "wasm"), quiet=True)
        text = format_report(report)
        assert report.passed == passes, text
        if not passes:
            for backend in ("cpu", "wasm"):
                assert f"{backend} backend failed to run the model: Can't squeeze axis 1 since its dim '2'" in text


def test_empty_run_time_axes_match_keras(tmp_path, tfjs_runtime):
    """An empty run-time length (review R6): the mean over it is NaN (webgl's 0/0 gave 2.0), and sums over the batch
    and the channels of an input whose kept axis is empty gave a TF.js cpu crash ("vals.subarray is not a
    function", the run-time axis reduced first) and, after a first fix, a [1] NaN where Keras gives an empty
    result; lengths 0 and 4 against Keras's ``model(x)`` on cpu and wasm."""
    from test_keras_lowering import convert_poisoned
    from tfjsconv.verify.compare import format_report, verify_model

    x = keras.Input((None, 3), name="x")
    d = keras.ops.cast(x, "float64")
    model = keras.Model(x, [keras.ops.mean(d, axis=1), keras.ops.sum(d, axis=(0, 2)), keras.ops.mean(d, axis=(2, 0)),
                            keras.ops.sum(d, axis=1)])
    model.save(tmp_path / "m.keras")
    convert_poisoned([tmp_path / "m.keras"])
    out = tmp_path / "m.keras.out"
    import json

    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    rng = np.random.default_rng(2717)
    for length in (0, 4):
        inputs = {"x": rng.standard_normal((2, length, 3)).astype(np.float32)}
        expected = [np.asarray(o).astype(np.float32) for o in model(inputs["x"])]
        report = verify_model(out, inputs, dict(zip(names, expected, strict=True)), backends=("cpu", "wasm"),
                              rtol=1e-5, atol=1e-6, quiet=True)
        assert report.passed, format_report(report)
