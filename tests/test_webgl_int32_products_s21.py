"""int32 products of small values on webgl (session 21): ``int32_product`` split both operands into an unsigned low
half, ``-5 = -1 · 2^16 + 65531``, so a product of small negatives summed partial products past 2^24, which webgl (int32
held in float32) cannot hold: ``-5 · -5`` gave 0, ``square(-1)`` 0, ``-300 · -300`` 90112, while the special-values
line spoke only of int32 past 2^24. Now one operand is split into signed halves (``|l| <= |b|``): a product below 2^24
is exact on webgl, every int32 product on cpu and wasm.

Keras 3 ``a * b``, ``Multiply``, ``square`` and ``x ** 3`` (the ``int32_power`` pass, same split) and tf_keras
``tf.math.squared_difference`` of int32 inputs, against Keras's ``model(x)``: webgl in Chromium for small values,
cpu and wasm for the whole int32 range.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402

pytestmark = pytest.mark.node
SMALL_A = np.int32([[-5, -1, 3, -300, 7, 0, -2, 100, -4095, 4096, -1, 1]])
SMALL_B = np.int32([[-5, 4, -3, -300, -7, 9, -2, -100, 4095, -4096, -16777215, 16777215]])
WIDE_A = np.int32([[2**31 - 1, -2**31, 123456789, -98765, 46341, -46341, 65536, -65535, 3, -7, 0, 1]])
WIDE_B = np.int32([[2**31 - 1, -2**31, -987654321, 98765, 46341, 46341, 65536, -65537, -2**31, 2**30 + 5, 5, -1]])


def _keras3(tmp_path):
    import keras

    a, b = keras.Input((12,), dtype="int32", name="a"), keras.Input((12,), dtype="int32", name="b")
    model = keras.Model([a, b], [a * b, keras.layers.Multiply()([a, b]), keras.ops.square(a), a ** 3])
    model.save(tmp_path / "k3.keras")
    return model, tmp_path / "k3.keras"


def _tf_keras(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    a, b = tf_keras.Input((12,), dtype="int32", name="a"), tf_keras.Input((12,), dtype="int32", name="b")
    model = tf_keras.Model([a, b], [tf.math.squared_difference(a, b), tf.math.multiply(a, b)])
    model.save(tmp_path / "tfk.h5")
    return model, tmp_path / "tfk.h5"


def _converted(tmp_path, build):
    model, path = build(tmp_path)
    out = tmp_path / f"{path.stem}_out"
    tfjsconv.convert(path, out, output_format="tfjs_graph_model")
    signature = json.loads((out / "model.json").read_text())["signature"]
    return model, out, list(signature["inputs"]), list(signature["outputs"])


def _expected(model, a, b) -> list[np.ndarray]:
    outputs = model([a, b])
    return [np.asarray(o).astype(np.int32) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@pytest.mark.parametrize("build", [_keras3, _tf_keras], ids=["keras3", "tf_keras"])
def test_small_int32_products_are_exact_on_webgl(tmp_path, browser, build):
    from tfjsconv.serve.browser import run_backends_in_browser

    model, out, inputs, outputs = _converted(tmp_path, build)
    expected = _expected(model, SMALL_A, SMALL_B)
    run = run_backends_in_browser(out, dict(zip(inputs, [SMALL_A, SMALL_B])), backends=["webgl"],
                                  session=browser)[0]["webgl"]
    assert run.ok, run.error
    for name, want in zip(outputs, expected):
        got = np.asarray(run.outputs[name]).reshape(want.shape)
        small = np.abs(want.astype(np.int64)) < 2**24
        assert small.sum() >= 8 and np.array_equal(got[small], want[small]), (name, got.tolist(), want.tolist())


@pytest.mark.parametrize("build", [_keras3, _tf_keras], ids=["keras3", "tf_keras"])
def test_every_int32_product_wraps_as_tensorflow_on_cpu_and_wasm(tmp_path, tfjs_runtime, build):
    from tfjsconv.verify.run import run_model

    model, out, inputs, outputs = _converted(tmp_path, build)
    for a, b in ((SMALL_A, SMALL_B), (WIDE_A, WIDE_B)):
        expected = _expected(model, a, b)
        runs = run_model(out, dict(zip(inputs, [a, b])), backends=["cpu", "wasm"], quiet=True)
        for backend, run in runs.backends.items():
            assert run.ok, run.error
            for name, want in zip(outputs, expected):
                got = np.asarray(run.outputs[name]).reshape(want.shape)
                assert np.array_equal(got, want), (backend, name, got.tolist(), want.tolist())
