"""A float16-computing Softmax given a mask (session 25, review R3's F1, helper h4b).

tf_keras's Softmax masks with ``_large_compatible_negative(dtype)``: -1e9 in float32, ``float16.min / 2`` (-32752)
in float16; Keras 3's with ``_large_negative_number``: -3e4 in float16. The lowering used -1e9 at every width, and
a float16 layer's ops each round to float16 (``round_each_op``): -1e9 became -inf and ``(1 - 1)·-inf`` NaN, so a
tf_keras ``mixed_float16`` or ``float16`` Softmax given any mask (a bool or float model input, a computed float
mask, ``robust_masking``) gave NaN in TF.js wherever Keras gave probabilities, silently. It now uses the flavour's
float16 number and rounds a float mask to float16 first (``tf.cast(mask, float16)``: 0.99999 is 1 there).

Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm against ``model(x)`` at two
lengths, a fully masked row in each batch, within float16's precision (1e-2 of the largest value, as the other
float16 tests). Before the fix the tf_keras cases gave NaN.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, under_policy, verify_runs_within  # noqa: E402

#: Float mask values: kept (1), dropped (0, -0.0), weighed (0.5, 0.25), and ones float16 rounds to 1.
MASK_VALUES = np.array([0.0, -0.0, 1.0, 1.0, 0.5, 0.25, 1.0001, 0.99999], "float32")


def _inputs(k: Any) -> tuple[Any, Any, Any]:
    return (k.Input((None, 3), name="x"), k.Input((None, 3), dtype="bool", name="bmask"),
            k.Input((None, 3), name="fmask"))


def mixed(k: Any) -> Any:
    """Under ``mixed_float16``: Softmax given a bool and a float model-input mask, a computed float mask, and with
    ``robust_masking`` (tf_keras; Keras 3 has no such option, its Softmax takes the computed mask instead)."""
    def build() -> Any:
        L = k.layers
        x, bmask, fmask = _inputs(k)
        h = L.Dense(3, name="dense")(x)
        outs = [L.Softmax(name="sm_bool")(h, mask=bmask), L.Softmax(name="sm_float")(h, mask=fmask)]
        if k.__name__ == "keras":
            outs.append(L.Softmax(name="sm_computed")(h, mask=k.ops.abs(fmask)))
        else:
            import tensorflow as tf

            outs += [L.Softmax(name="sm_computed")(h, mask=tf.identity(fmask)),
                     L.Softmax(robust_masking=True, name="sm_robust")(h, mask=tf.identity(fmask))]
        return k.Model([x, bmask, fmask], outs)

    return under_policy(k, "mixed_float16", build)


def per_layer(k: Any) -> Any:
    """A ``float16`` Softmax in a float32 model, given a bool and a float model-input mask."""
    L = k.layers
    x, bmask, fmask = _inputs(k)
    h = L.Dense(3, name="dense")(x)
    return k.Model([x, bmask, fmask], [L.Softmax(dtype="float16", name="sm_bool")(h, mask=bmask),
                                       L.Softmax(dtype="float16", name="sm_float")(h, mask=fmask)])


FAMILIES = {"mixed": mixed, "per_layer": per_layer}
CASES = [("mixed", "tf_keras.h5"), ("per_layer", "tf_keras.h5"), ("mixed", "keras3.keras")]


def _run_inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Logits' inputs and masks, each row's first feature kept, row 1's every feature masked at every step."""
    fmask = rng.choice(MASK_VALUES, (batch, steps, 3)).astype("float32")
    fmask[..., 0] = 1.0
    fmask[1] = 0.0
    bmask = fmask > 0.5
    return {"x": rng.standard_normal((batch, steps, 3)).astype("float32"), "bmask": bmask, "fmask": fmask}




@pytest.mark.node
@each_case(CASES)
def test_half_softmax_with_a_mask_matches_keras(converted, tfjs_runtime, family, flavor):
    """Was NaN in TF.js wherever tf_keras gave probabilities (its -1e9 rounded to -inf, times 0)."""
    path, runs, _ = converted[(family, flavor)]
    # (Keras's fully masked rows: uniform or zeros)
    assert all(np.isfinite(o).all() for _, outputs in runs for o in outputs)
    verify_runs_within(path, runs)


# -- R3's F2 and F3: tf_keras's GlobalAveragePooling1D given weights -----------------------------------------------
def weights_half(k: Any) -> Any:
    """Under ``mixed_float16``: GlobalAveragePooling1D given a computed float mask directly and through a nested
    model's float16 Input; tf_keras casts the weights to float16 (``tf.cast(mask, inputs[0].dtype)``)."""
    def build() -> Any:
        import tensorflow as tf

        L = k.layers
        x, floats = k.Input((None, 3), name="x"), k.Input((None,), name="floats")
        c = k.Input((None, 3), dtype="float16")
        inner = k.Model(c, L.GlobalAveragePooling1D(name="in_gap")(c), name="inner")
        return k.Model([x, floats], [L.GlobalAveragePooling1D(name="gap")(L.Dense(3, name="dense")(x),
                                                                          mask=tf.identity(floats)),
                                     inner(L.Dense(3, name="dense2")(x), mask=tf.identity(floats))])

    return under_policy(k, "mixed_float16", build)


def weights_tiny(k: Any) -> Any:
    """float32: GlobalAveragePooling1D of small values given normal weights whose products are subnormal."""
    import tensorflow as tf

    L = k.layers
    x, floats = k.Input((None, 3), name="x"), k.Input((None,), name="floats")
    return k.Model([x, floats], [L.GlobalAveragePooling1D(name="gap")(x, mask=tf.identity(floats)),
                                 L.GlobalAveragePooling1D(keepdims=True, name="gap_kept")(x, mask=tf.identity(floats))])


def attention_half(k: Any) -> Any:
    """Under ``mixed_float16``: Attention (with and without a causal mask) and AdditiveAttention given a value mask;
    Keras subtracts ``65504·mask`` from the float16 scores (1e9 in float32)."""
    def build() -> Any:
        L = k.layers
        q, v, vm = k.Input((None, 4), name="q"), k.Input((None, 4), name="v"), k.Input((None,), dtype="bool", name="vm")
        return k.Model([q, v, vm], [L.Attention(name="att")([q, v], mask=[None, vm]),
                                    L.AdditiveAttention(name="add")([q, v], mask=[None, vm]),
                                    L.Attention(name="att_causal")([q, v], mask=[None, vm], use_causal_mask=True)])

    return under_policy(k, "mixed_float16", build)


WEIGHTS_FAMILIES = {"weights_half": weights_half, "weights_tiny": weights_tiny, "attention_half": attention_half}
WEIGHTS_CASES = [("weights_half", "tf_keras.h5"), ("weights_tiny", "tf_keras.h5")]
ATTENTION_CASES = [("attention_half", "tf_keras.h5"), ("attention_half", "keras3.keras")]


def _weights_inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Row 0: weights below float16's smallest step (0 there: Keras's 0 / 0); row 1: float16 subnormal ones; row 2:
    normal float32 ones whose products with ``|x| < 0.55`` are subnormal (TF flushes them); the rest 0 or 1."""
    w = rng.choice(np.array([0.0, 1.0, 0.5], "float32"), (batch, steps)).astype("float32")
    w[:, 0] = 1.0
    w[0] = 1e-8
    w[1] = 0.0
    w[1, :3] = [3e-5, 2e-5, 5e-6]
    w[2] = [2e-38, 0.0, 3e-38, 0.0, 2e-38, 0.0, 2e-38][:steps]
    x = np.clip(rng.standard_normal((batch, steps, 3)) * 0.3, -0.55, 0.55).astype("float32")
    return {"x": x, "floats": w}


def _attention_inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Queries and values scaled by 3 (dot scores up to about 40: past float16's step of 32 near 65504), row 1's
    value steps all masked."""
    keep = rng.random((batch, steps)) > 0.3
    keep[:, 0] = True
    keep[1] = False
    return {"q": (rng.standard_normal((batch, steps, 4)) * 3).astype("float32"),
            "v": (rng.standard_normal((batch, steps, 4)) * 3).astype("float32"), "vm": keep}


def _inputs_of(model: Any, family: str, rng: np.random.Generator):
    if family == "attention_half":
        return (_attention_inputs(model, rng, *run) for run in [(3, 5), (2, 7)])
    make = _weights_inputs if family in WEIGHTS_FAMILIES else _run_inputs
    return (make(model, rng, *run) for run in ([(4, 6), (3, 7)] if family in WEIGHTS_FAMILIES else [(4, 6), (3, 5)]))


converted = converted_fixture("k25_half_softmax_masks", CASES + WEIGHTS_CASES + ATTENTION_CASES,
                              two_size_saver({**FAMILIES, **WEIGHTS_FAMILIES}, _inputs_of, seed=2541))


@pytest.mark.node
@each_case(WEIGHTS_CASES)
def test_gap1d_weights_round_to_half_and_flush_subnormal_products(converted, tfjs_runtime, family, flavor):
    """float16: weights below 2.98e-8 are 0 (the row NaN, as Keras; TF.js gave 0), subnormal float16 ones rounded
    (1.1e-3 off before). float32: products below FLT_MIN are 0 (TF.js gave x's weighted mean, 0.166 off)."""
    path, runs, _ = converted[(family, flavor)]
    half = family == "weights_half"
    if half:  # (the tiny weights' row is 0 / 0 in Keras)
        assert all(np.isnan(o[0]).all() for _, outputs in runs for o in outputs)
    verify_runs_within(path, runs, rtol=1e-2 if half else 1e-5, elem_floor=1e-2 if half else 1e-5)


@pytest.mark.node
@each_case(ATTENTION_CASES)
def test_half_attention_fully_masked_row_matches_keras(converted, tfjs_runtime, family, flavor):
    """A fully masked row weighs the steps as Keras's float16 ``scores - 65504`` does (tf_keras: 1.16, 17% of the
    range, off before, with ``- 1e9`` in float32)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs_within(path, runs)
