"""Keras's Masking of ±inf mask values, and float16 ``mod`` results (session 30, h2).

Keras 3's ``Masking`` sets a masked step to 0 with ``where(keep, x, 0)``; the lowering computed tf_keras's
``x * cast(keep)``, which is ``inf · 0 = NaN`` for a step of ``mask_value=inf`` (and -0 for a negative mask_value).
tf_keras does multiply, so its NaN stays. Both flavours, float32 and float16 (``mixed_float16``) Masking, ``inf`` and
``-inf`` mask values; a Dense reads the masked values.

``mod`` (Keras 3's ``ops.mod``, tf_keras's ``tf.math.floormod``) of float16 tensors: TF rounds ``fmod(x, y) + y``
(signs differing) to float16, the lowering left the float32 sum as it was (FloorMod was taken for an op whose
results are its operands' values). ``mod(-1e-3, 3)`` is 2.999 in float32, 2.99805 in float16.

Expected values are ``model(x)``; converted with TensorFlow, Keras and tf_keras poisoned; run in TF.js cpu and wasm.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, keras_outputs, under_policy, verify_runs  # noqa: E402
from test_keras_lowering import _module, case_file  # noqa: E402

STEPS, FEATURES = 5, 3


def _masking(mask_value: float, policy: str) -> Any:
    def build(k: Any) -> Any:
        def layers() -> Any:
            x = k.Input((STEPS, FEATURES), name="x")
            masked = k.layers.Masking(mask_value, name="masking")(x)
            dense = k.layers.Dense(2, name="dense")(masked)
            return x, [masked, dense]
        return k.Model(*under_policy(k, policy, layers))
    return build


def _masking_inputs(mask_value: float) -> dict[str, np.ndarray]:
    """Steps all ``mask_value`` (masked), steps holding it beside numbers (kept), and plain steps."""
    x = np.arange(2 * STEPS * FEATURES, dtype=np.float32).reshape(2, STEPS, FEATURES) / 7 - 2
    x[0, 1] = mask_value
    x[1, 3] = mask_value
    x[0, 2, 0] = mask_value  # kept: the step's other features differ
    x[1, 0, 1] = -mask_value
    return {"x": x}


def _half_mod(k: Any) -> Any:
    """``mod`` of a float16 tensor by a float16 tensor and by a Python int (float16 too), both flavours."""
    x = k.Input((8,), dtype="float16", name="x")
    y = k.Input((8,), dtype="float16", name="y")
    if k.__name__ == "keras":
        out = [k.ops.mod(x, y), k.ops.mod(x, 3)]
        return k.Model([x, y], k.ops.concatenate(out, axis=-1))
    import tensorflow as tf

    return k.Model([x, y], tf.concat([tf.math.floormod(x, y), tf.math.floormod(x, 3.0)], axis=-1))


def _mod_inputs() -> dict[str, np.ndarray]:
    """Remainders whose sign differs from the divisor's: ``fmod + y`` needs more than float16's 11 bits."""
    x = np.array([[-1e-3, 1e-3, -0.1, 0.1, -2.5, 7.3, -1000.0, 5.0],
                  [-3e-4, 2e-3, -0.7, 0.37, -11.0, -7.3, 1000.0, -5.0]], np.float16).astype(np.float32)
    y = np.array([[3.0, -3.0, 1.7, -1.7, 3.3, -2.1, 7.0, 3.0],
                  [100.0, -50.0, 3.0, -9.0, 3.1, 2.1, -7.0, 3.0]], np.float16).astype(np.float32)
    return {"x": x, "y": y}


FAMILIES = {"masking_inf": (_masking(np.inf, "float32"), lambda: _masking_inputs(np.inf)),
            "masking_minus_inf": (_masking(-np.inf, "float32"), lambda: _masking_inputs(-np.inf)),
            "masking_inf_half": (_masking(np.inf, "mixed_float16"), lambda: _masking_inputs(np.inf)),
            "masking_minus_two_half": (_masking(-2.0, "mixed_float16"), lambda: _masking_inputs(-2.0)),
            "half_mod": (_half_mod, _mod_inputs)}
MASKING_CASES = [(family, flavor) for family in ("masking_inf", "masking_minus_inf", "masking_inf_half",
                                                 "masking_minus_two_half")
                 for flavor in ("keras3.keras", "keras3.h5", "tf_keras.h5")]
MOD_CASES = [("half_mod", flavor) for flavor in ("keras3.keras", "keras3.h5", "tf_keras.h5")]


def _save(family: str, flavor: str, folder: Any) -> tuple[Any, list, None]:
    build, inputs_of = FAMILIES[family]
    model = build(_module(flavor))
    inputs = inputs_of()
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, [(inputs, keras_outputs(model, inputs))], None


converted = converted_fixture("masking_inf_half_mod_s30", MASKING_CASES + MOD_CASES, _save)


@pytest.mark.node
@each_case(MASKING_CASES)
def test_masking_of_infinite_values_matches_keras(converted, tfjs_runtime, family, flavor):
    """Keras 3's masked inf steps are 0 (NaN before, and the Dense's NaN); tf_keras's NaN (guards: passed before)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(MOD_CASES)
def test_half_mod_is_rounded_to_half(converted, tfjs_runtime, family, flavor):
    """Before: the float32 remainders, up to 1e-3 off (3e-4 of the output range)."""
    path, runs, _ = converted[(family, flavor)]
    (inputs, outputs), = runs
    unrounded = np.mod(inputs["x"], inputs["y"])  # float32, as the lowering gave it
    assert np.abs(unrounded - np.asarray(outputs[0], np.float32)[:, :8]).max() > 1e-4  # the inputs show it
    verify_runs(path, runs)
