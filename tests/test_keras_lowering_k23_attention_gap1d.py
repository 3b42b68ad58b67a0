"""tf_keras MultiHeadAttention's non-bool ``attention_mask`` everywhere, and tf_keras's masked channels_first
GlobalAveragePooling1D of 8/16-bit integers (session 23, helper h3; issue 16: what ``--loader=tensorflow`` converts
must lower to the same numbers).

tf_keras hands an int32/float32 ``attention_mask`` with no Keras or causal mask beside it to its Softmax as it is:
``scores + (1 - float(mask)) · -1e9``, so 2 adds +1e9, -1 adds -2e9, 0.5 adds -5e8 and NaN makes the row NaN
(``softmax_robust_masking`` keeps ``mask > 0.5``). Session 22 lowered one attention axis over known sizes; here the
mask is laid out as a bool mask would be over sizes known only at run time, several attention axes (an
``attention_mask`` of rank 5 expanded at -5), a per-head ``[B, heads, T, S]`` mask and a ``[B, 1, S]`` one.

tf_keras's masked GlobalAveragePooling1D sums int8/int16/uint8/uint16 ``x · mask`` and the mask in their dtype
(wrapping: 300 kept uint8 steps count 44) and divides in float32; channels_first lines the ``[B, T]`` mask up with
the steps (axis 2) of ``[B, channels, steps]``.

tf_keras ``.h5`` files converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm at two sizes
against Keras's ``model(x, training=False)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tf_keras")

from keras_two_sizes import batched, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering import saved_and_converted  # noqa: E402

#: The weights tf_keras's Softmax adds as ``(1 - w) · -1e9``: each changes the numbers its own way.
FLOAT_WEIGHTS = np.array([0.0, 1.0, 2.0, -1.0, 0.5, np.nan], "float32")
INT_WEIGHTS = np.array([0, 1, 2, -1], "int32")


def _weights(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Mask values drawn from the weights above, one row all 0 (every logit -1e9 plus its score)."""
    values = rng.choice(INT_WEIGHTS if dtype == "int32" else FLOAT_WEIGHTS, shape).astype(dtype)
    values.reshape(shape[0], -1, shape[-1])[0, 0] = 0
    return values


# -- tf_keras MultiHeadAttention with a non-bool attention_mask ---------------------------------------------------
def runtime_family(k: Any) -> Any:
    """Query, value and mask lengths known only at run time (the default attention axis)."""
    L = k.layers
    x, value = k.Input((None, 4), name="x"), k.Input((None, 4), name="value")
    ints, floats = k.Input((None, None), dtype="int32", name="ints"), k.Input((None, None), name="floats")
    return k.Model([x, value, ints, floats], [L.MultiHeadAttention(2, 3, name="mha_int")(x, value, attention_mask=ints),
                                              L.MultiHeadAttention(2, 3, name="mha_float")(x, value,
                                                                                          attention_mask=floats)])


def _runtime_inputs(model: Any, rng: np.random.Generator, batch: int, t: int, s: int) -> dict[str, np.ndarray]:
    return {"x": rng.standard_normal((batch, t, 4)).astype("float32"),
            "value": rng.standard_normal((batch, s, 4)).astype("float32"),
            "ints": _weights(rng, (batch, t, s), "int32"), "floats": _weights(rng, (batch, t, s), "float32")}


def axes_family(k: Any) -> Any:
    """attention_axes=(1, 2): a ``[B, 3, 4, 3, 4]`` mask (expanded at -5 to the scores' heads axis), and the same
    over sizes known only at run time; attention_axes=(2,) of a grid of unknown sizes, its ``[B, H, W, W]`` mask
    expanded at -3 (session 22's refusal ``float_mask_w``)."""
    L = k.layers
    x, dyn = k.Input((3, 4, 5), name="x"), k.Input((None, None, 5), name="dyn")
    ints, floats = k.Input((3, 4, 3, 4), dtype="int32", name="ints"), k.Input((3, 4, 3, 4), name="floats")
    dyn_floats = k.Input((None, None, None, None), name="dyn_floats")
    grid_mask = k.Input((None, None, None), name="grid_mask")
    return k.Model([x, dyn, ints, floats, dyn_floats, grid_mask], [
        L.MultiHeadAttention(2, 3, attention_axes=(1, 2), name="mha_int")(x, x, attention_mask=ints),
        L.MultiHeadAttention(2, 3, attention_axes=(1, 2), name="mha_float")(x, x, attention_mask=floats),
        L.MultiHeadAttention(2, 3, attention_axes=(1, 2), name="mha_dyn")(dyn, dyn, attention_mask=dyn_floats),
        L.MultiHeadAttention(2, 3, attention_axes=(2,), name="mha_grid")(dyn, dyn, attention_mask=grid_mask)])


def _axes_inputs(model: Any, rng: np.random.Generator, batch: int, a: int, b: int) -> dict[str, np.ndarray]:
    return {"x": rng.standard_normal((batch, 3, 4, 5)).astype("float32"),
            "dyn": rng.standard_normal((batch, a, b, 5)).astype("float32"),
            "ints": _weights(rng, (batch, 3, 4, 3, 4), "int32"),
            "floats": _weights(rng, (batch, 3, 4, 3, 4), "float32"),
            "dyn_floats": _weights(rng, (batch, a, b, a, b), "float32"),
            "grid_mask": _weights(rng, (batch, a, b, b), "int32").astype("float32")}


def shapes_family(k: Any) -> Any:
    """A per-head ``[B, heads, T, S]`` int32 mask, a ``[B, 1, S]`` float one broadcast over the query steps, and a
    float mask with ``softmax_robust_masking`` (``mask > 0.5`` kept)."""
    L = k.layers
    x = k.Input((5, 4), name="x")
    heads, rows = k.Input((2, 5, 5), dtype="int32", name="heads"), k.Input((1, 5), name="rows")
    robust = k.Input((5, 5), name="robust")
    return k.Model([x, heads, rows, robust], [
        L.MultiHeadAttention(2, 3, name="mha_heads")(x, x, attention_mask=heads),
        L.MultiHeadAttention(2, 3, name="mha_rows")(x, x, attention_mask=rows),
        L.MultiHeadAttention(2, 3, softmax_robust_masking=True, name="mha_robust")(x, x, attention_mask=robust)])


def _shapes_inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    return {"x": rng.standard_normal((batch, 5, 4)).astype("float32"),
            "heads": _weights(rng, (batch, 2, 5, 5), "int32"), "rows": _weights(rng, (batch, 1, 5), "float32"),
            "robust": _weights(rng, (batch, 5, 5), "float32")}


# -- tf_keras GlobalAveragePooling1D(channels_first) of masked 8/16-bit integers --------------------------------
NARROW = {"int8": (-128, 128), "uint8": (0, 256), "int16": (-32768, 32768), "uint16": (0, 65536)}


def gap_family(k: Any) -> Any:
    """Each 8/16-bit dtype ``[B, 3, steps]`` (steps known at run time), masked by one ``[B, steps]`` bool input, with
    and without keepdims."""
    L = k.layers
    xs = [k.Input((3, None), dtype=dtype, name=dtype) for dtype in NARROW]
    mask = k.Input((None,), dtype="bool", name="mask")
    return k.Model([*xs, mask], [L.GlobalAveragePooling1D(data_format="channels_first", keepdims=keep,
                                                          name=f"gap_{x.name}_{int(keep)}")(x, mask=mask)
                                 for x in xs for keep in (False, True)])


def _mask_rows(rng: np.random.Generator, batch: int, steps: int) -> np.ndarray:
    """Steps mostly kept; row 0 all kept (a count that wraps past 127 / 255 steps), the last row none (0 / 0)."""
    mask = rng.random((batch, steps)) < 0.8
    mask[0], mask[-1] = True, False
    return mask


def _gap_inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    inputs = {dtype: rng.integers(lo, hi, (batch, 3, steps)).astype(dtype) for dtype, (lo, hi) in NARROW.items()}
    return {**inputs, "mask": _mask_rows(rng, batch, steps)}


def broadcast_family(k: Any) -> Any:
    """Keras's ``x · mask`` broadcasts a one-step input against a 6-step mask and a one-step mask against 6 steps."""
    L = k.layers
    x, y = k.Input((3, 1), dtype="int8", name="x"), k.Input((3, 6), dtype="uint16", name="y")
    long, short = k.Input((6,), dtype="bool", name="long"), k.Input((1,), dtype="bool", name="short")
    return k.Model([x, y, long, short], [
        L.GlobalAveragePooling1D(data_format="channels_first", keepdims=True, name="one_step")(x, mask=long),
        L.GlobalAveragePooling1D(data_format="channels_first", name="one_mask_step")(y, mask=short)])


def _broadcast_inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    short = rng.random((batch, 1)) < 0.5
    short[0], short[-1] = True, False
    return {"x": rng.integers(-128, 128, (batch, 3, 1)).astype("int8"),
            "y": rng.integers(0, 65536, (batch, 3, 6)).astype("uint16"),
            "long": _mask_rows(rng, batch, 6), "short": short}


INPUTS = {"runtime": (_runtime_inputs, [(3, 5, 6), (2, 3, 2)]), "axes": (_axes_inputs, [(3, 3, 4), (1, 2, 3)]),
          "shapes": (_shapes_inputs, [(3,), (1,)]), "gap": (_gap_inputs, [(3, 5), (2, 300)]),
          "broadcast": (_broadcast_inputs, [(3,), (2,)])}
FAMILIES = {"runtime": runtime_family, "axes": axes_family, "shapes": shapes_family, "gap": gap_family,
            "broadcast": broadcast_family}
MHA_CASES = [(family, "tf_keras.h5") for family in ("runtime", "axes", "shapes")]
GAP_CASES = [(family, "tf_keras.h5") for family in ("gap", "broadcast")]


def _inputs_of(model: Any, family: str, rng: np.random.Generator):
    make, runs = INPUTS[family]
    return (make(model, rng, *run) for run in runs)


def _converted(label: str, cases: list[tuple[str, str]]):
    """A module-scoped fixture: ``cases`` saved once and converted once, TensorFlow poisoned (one per kind, so a
    failure of one kind does not hide the other)."""
    @pytest.fixture(scope="module")
    def converted(tmp_path_factory: pytest.TempPathFactory) -> dict:
        return batched(saved_and_converted(tmp_path_factory, label, cases,
                                           two_size_saver(FAMILIES, _inputs_of, seed=231)))

    return converted


converted_mha = _converted("k23_mha", MHA_CASES)
converted_gap = _converted("k23_gap1d", GAP_CASES)


@pytest.mark.node
@each_case(MHA_CASES)
def test_tf_keras_attention_mask_weights_lower_everywhere(converted_mha, tfjs_runtime, family, flavor):
    path, runs, _ = converted_mha[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(GAP_CASES)
def test_tf_keras_channels_first_masked_narrow_mean_wraps(converted_gap, tfjs_runtime, family, flavor):
    path, runs, _ = converted_gap[(family, flavor)]
    verify_runs(path, runs)
