"""Keras 3 comparisons of float16 tensors with Python floats, and the float16 arithmetic beside them (session 29, H5b).

Keras 3's ``greater``/``greater_equal``/``less``/``less_equal``/``equal``/``not_equal`` (and ``dot``, ``isin``... R7)
convert a Python float to a float32 tensor (``convert_to_tensor`` without a dtype; a numpy float64 scalar is saved as
the same JSON number) and promote: a float16 tensor is cast to float32 and compared with ``float32(c)``. Its ``add``, ``maximum``, ``where``,
``clip``... treat a Python number as weak and compute in float16 with ``float16(c)``; a Python int in a comparison is
an int32 tensor, float16 with it (``equal(x, 2049)`` is True at 2048). The lowering compared with ``float16(c)``:
``greater_equal(float16(0.1), 0.1)`` gave 1 where Keras gives 0, silently (H5's repro, ``probe29/h5/c7.py``).

Values sit at the float16 roundings of the constants (``float16(c)`` below 0.1 and above 0.3, its neighbours, the
float32 tie between two float16 steps, ``float32(c)`` itself) for a float16 Input, a ``mixed_float16`` layer's
result and an op-layer float16 cast. Expected values are ``model(x)``; converted with TensorFlow, Keras and tf_keras
poisoned; run in TF.js cpu and wasm, exact (0/1 results). tf_keras compares with ``float16(c)`` (TF converts the
constant to the tensor's dtype): guarded by its own case, which also passed before.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, keras_outputs, under_policy, verify_runs  # noqa: E402
from test_keras_lowering import _module, case_file  # noqa: E402

CONSTANTS = (0.1, 0.3)  # float16 rounds 0.1 down (0.0999755859375), 0.3 up (0.300048828125)
COMPARISONS = ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal")


def _around(c: float) -> list[float]:
    """float16(c), its two neighbours, the float32 ties halfway to them, float32(c), and a float32 step either side
    of float16(c) (rounded to it by a float16 tensor, not by a float32 one)."""
    half = np.float16(c)
    up, down = np.nextafter(half, np.float16(1)), np.nextafter(half, np.float16(0))
    ties = [(np.float32(half) + np.float32(v)) / np.float32(2) for v in (up, down)]
    f32 = np.float32(half)
    return [float(v) for v in (half, up, down, *ties, np.float32(c), np.nextafter(f32, np.float32(1)),
                               np.nextafter(f32, np.float32(0)))]


def _row() -> np.ndarray:
    return np.array([v for c in CONSTANTS for v in _around(c)] + [2048.0, 2050.0, 0.0], np.float32)


def _compared(k: Any, tensor: Any) -> list[Any]:
    """Each comparison with each constant (as float32 0/1), one with the constant first, one with a Python int."""
    ops = k.ops
    out = [ops.cast(getattr(ops, name)(tensor, c), "float32") for name in COMPARISONS for c in CONSTANTS]
    out.append(ops.cast(ops.less(0.1, tensor), "float32"))
    out.append(ops.cast(ops.equal(tensor, 2049), "float32"))  # int32 beside float16: float16, 2049 is 2048
    return [ops.concatenate(out, axis=-1)]


def k3_half_input(k: Any) -> Any:
    """A float16 Input compared directly."""
    x = k.Input((len(_row()),), dtype="float16", name="x")
    return k.Model(x, _compared(k, x))


def k3_mixed_layer(k: Any) -> Any:
    """A mixed_float16 layer's float16 result (its autocast rounds the float32 input) compared."""
    def build() -> Any:
        x = k.Input((len(_row()),), name="x")
        return x, _compared(k, k.layers.Activation("linear", name="linear")(x))
    return k.Model(*under_policy(k, "mixed_float16", build))


def k3_cast_half(k: Any) -> Any:
    """An op-layer cast to float16 (a float16 tensor the lowering holds as dtype float16) compared."""
    x = k.Input((len(_row()),), name="x")
    return k.Model(x, _compared(k, k.ops.cast(x, "float16")))


def k3_promoting_math(k: Any) -> Any:
    """``mod``, ``arctan2``, ``logaddexp`` and ``isclose`` of a float16 Input with a Python float: float32
    results in Keras (the float converted to float32 first), which the lowering rounded to float16 at each op."""
    ops = k.ops
    x = k.Input((len(_row()),), dtype="float16", name="x")
    out = [ops.mod(x, 0.3), ops.arctan2(x, 0.3), ops.logaddexp(x, 0.1),
           ops.cast(ops.isclose(x, 0.1, rtol=0.0, atol=0.0), "float32")]
    return k.Model(x, ops.concatenate(out, axis=-1))


def k3_promoting_products(k: Any) -> Any:
    """``dot``, ``inner``, ``tensordot`` and ``isin`` with a Python float promote too (R7's F1: Keras converts the
    float without a dtype): float32 in Keras, rounded to float16 by the lowering before (``isin(float16(0.1),
    [0.1, 0.3])`` was 1, ``(dot(x, 0.1) + 1000) - 1000`` was 0 where Keras keeps x·0.1)."""
    ops = k.ops
    x = k.Input((len(_row()),), dtype="float16", name="x")
    out = [ops.dot(x, 0.1), ops.inner(x, 0.1), ops.tensordot(x, 0.1, axes=0),
           ops.subtract(ops.add(ops.dot(x, 0.1), 1000.0), 1000.0),
           ops.cast(ops.isin(x, [0.1, 0.3]), "float32"), ops.cast(ops.isin(x, 0.1), "float32")]
    return k.Model(x, ops.concatenate(out, axis=-1))


def tf_keras_half_input(k: Any) -> Any:
    """tf_keras ``tf.math.greater`` etc. of a float16 Input: TF converts ``c`` to float16 and compares in float16."""
    import tensorflow as tf

    x = k.Input((len(_row()),), dtype="float16", name="x")
    out = [tf.cast(getattr(tf.math, name)(x, c), tf.float32) for name in COMPARISONS for c in CONSTANTS]
    return k.Model(x, tf.concat(out, axis=-1))


FAMILIES = {"k3_half_input": k3_half_input, "k3_mixed_layer": k3_mixed_layer, "k3_cast_half": k3_cast_half,
            "k3_promoting_math": k3_promoting_math, "k3_promoting_products": k3_promoting_products,
            "tf_keras_half_input": tf_keras_half_input}
KERAS3_CASES = [(family, flavor) for family in ("k3_half_input", "k3_mixed_layer", "k3_cast_half", "k3_promoting_math",
                                                "k3_promoting_products")
                for flavor in ("keras3.keras", "keras3.h5")]
TF_KERAS_CASES = [("tf_keras_half_input", "tf_keras.h5")]


def _save(family: str, flavor: str, folder: Any) -> tuple[Any, list, None]:
    model = FAMILIES[family](_module(flavor))
    row = _row()
    inputs = {"x": np.stack([row, -row, row[::-1].copy()])}
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, [(inputs, keras_outputs(model, inputs))], None


converted = converted_fixture("half_scalars_s29", KERAS3_CASES + TF_KERAS_CASES, _save)


@pytest.mark.node
@each_case(KERAS3_CASES)
def test_keras3_half_comparisons_match_keras(converted, tfjs_runtime, family, flavor):
    """Exact on cpu and wasm. Before: each compared with float16(c) (1 where Keras gives 0 at float16(0.1))."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(TF_KERAS_CASES)
def test_tf_keras_half_comparisons_match_keras(converted, tfjs_runtime, family, flavor):
    """tf_keras compares in float16 with float16(c): exact on cpu and wasm (a guard: it passed before too)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
