"""Masked merges of 8/16-bit integers, wrapping as Keras computes them (S14 H2).

Keras (3 and tf_keras) adds, subtracts and multiplies uint8/int8/uint16/int16 in their promoted dtype, wrapping
around (int8 100 + 100 is -56); Keras 3 promotes mixed dtypes left to right (uint8 with int8 is int16, ``[int8, int8,
int32]`` adds the int8 ones in int8 first) and its Multiply, Maximum and Minimum read their inputs' masks (Multiply:
``where(mask, x, 1)``, then zeros where every input is masked and no mask keeps the step). The lowering refused Keras
3's masked merges of such integers by name; it now wraps them as the unmasked ones, the masks Multiply reads selected
in int32 around the wrapped product. Masks come from Masking(0) (steps whose features are all 0; tf_keras's Masking
takes integers with an integer mask_value). The output mask (Keras 3 ORs the inputs' masks, tf_keras ANDs them) is
checked by masked recurrent layers after the merges. Expected values from eager Keras 3 / tf_keras over the whole
8/16-bit ranges (the sums and products wrap), converted with TensorFlow and Keras poisoned, run in TF.js (cpu, wasm),
integers compared exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import batched, verify_runs  # noqa: E402
from test_keras_lowering import family_saver, saved_and_converted  # noqa: E402

STEPS, FEATURES, BATCH = 6, 4, 3
#: The 8/16-bit inputs (and an int32 one, Keras 3's mixed merges).
DTYPES = {"a": "int8", "b": "int8", "u": "uint8", "v": "uint16", "w": "int16", "i": "int32"}


def _narrow_inputs(k) -> tuple[list, dict]:
    """The 8/16-bit model inputs and each one masked by ``Masking(0)``."""
    inputs = [k.Input((STEPS, FEATURES), name=n, dtype=d) for n, d in DTYPES.items() if d != "int32"]
    return inputs, {x.name.split(":")[0]: k.layers.Masking(0, name=f"m{x.name[0]}")(x) for x in inputs}


def masked_merges(k):
    """Each merge of same-dtype 8/16-bit integers with masks on some or all inputs (both flavours)."""
    L = k.layers
    inputs, m = _narrow_inputs(k)
    a, b, u, v, w = inputs
    outs = [L.Add(name="add_one_masked")([m["a"], b]), L.Add(name="add3")([m["a"], m["b"], a]),
            L.Subtract(name="sub_u8")([m["u"], u]), L.Subtract(name="sub_i16")([w, m["w"]]),
            L.Multiply(name="mul_one_masked")([m["a"], b]), L.Multiply(name="mul_all_masked")([m["a"], m["b"]]),
            L.Multiply(name="mul_i16")([m["w"], w, m["w"]]), L.Multiply(name="mul_u16")([m["v"], v]),
            L.Multiply(name="mul_u8_all3")([m["u"], m["u"], m["u"]]),
            L.Average(name="mean_i8")([m["a"], m["b"]]), L.Average(name="mean_u8")([m["u"], u, m["u"]]),
            L.Maximum(name="max_i8")([m["a"], m["b"]]), L.Minimum(name="min_i16")([m["w"], w]),
            L.Concatenate(axis=1, name="concat_steps")([m["a"], m["b"]]), L.Concatenate(name="concat")([m["u"], u])]
    return k.Model(inputs, outs)


def mixed_masked_merges(k):
    """Keras 3's masked merges of mixed dtypes, promoted left to right (tf_keras cannot build them), and a masked
    int8 Multiply with a rank-2 int8 input (expanded at axis 1: only the rank-3 input's mask is read)."""
    L = k.layers
    inputs, m = _narrow_inputs(k)
    a, b, u, v, w = inputs
    i = k.Input((STEPS, FEATURES), name="i", dtype="int32")
    mi = L.Masking(0, name="mi")(i)
    outs = [L.Add(name="u8_i8")([m["u"], a]), L.Multiply(name="i8_u8")([m["a"], m["u"]]),  # int16
            L.Multiply(name="u8_u16")([m["u"], m["v"]]), L.Subtract(name="i8_i16")([m["a"], w]),
            L.Add(name="i8_i8_i32")([m["a"], m["b"], mi]), L.Multiply(name="i8_i8_i32_mul")([m["a"], b, mi]),
            L.Multiply(name="i16_i16_i32_mul")([m["w"], m["w"], i]), L.Average(name="mean_i8_i8_i32")([m["a"], b, i]),
            L.Maximum(name="max_i8_i8_i32")([m["a"], m["b"], mi]), L.Concatenate(name="concat_i8_i32")([m["a"], mi]),
            L.Multiply(name="mul_ranks")([m["a"], L.GlobalMaxPooling1D(name="peak")(b)])]  # [B, F] at axis 1
    return k.Model([*inputs, i], outs)


def output_masks(k):
    """The merges' output masks, read by a masked LSTM after a Dense (Keras casts the integers to float32 there);
    Keras 3's LSTM also straight on the int8 merge."""
    L = k.layers
    inputs, m = _narrow_inputs(k)
    a, b, u, v, w = inputs
    merged = {"add": L.Add(name="add")([m["a"], m["b"]]), "mul": L.Multiply(name="mul")([m["a"], m["b"]]),
              "sub": L.Subtract(name="sub")([m["w"], m["w"]]), "mean": L.Average(name="mean")([m["u"], m["u"]]),
              "max": L.Maximum(name="max")([m["v"], m["v"]]), "one": L.Add(name="one")([m["a"], b]),
              "concat": L.Concatenate(name="concat")([m["a"], m["b"]])}
    outs = [L.LSTM(2, name=f"lstm_{n}")(L.Dense(3, name=f"dense_{n}")(x)) for n, x in merged.items()]
    if k is keras:
        outs += [L.LSTM(2, name="lstm_int8")(merged["add"]), L.GRU(2, name="gru_int8")(merged["mul"])]
    return k.Model(inputs, [merged["add"], merged["mul"], *outs])


FAMILIES = {"masked_merges": masked_merges, "mixed_masked_merges": mixed_masked_merges, "output_masks": output_masks}
CASES = [("masked_merges", "keras3.keras"), ("masked_merges", "keras3.h5"), ("masked_merges", "tf_keras.h5"),
         ("mixed_masked_merges", "keras3.keras"), ("output_masks", "keras3.keras"), ("output_masks", "tf_keras.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    """Values over each dtype's whole range (its extremes included), and steps all 0 (masked by Masking(0)): some in
    one input, some in every input, some in none."""
    rng = np.random.default_rng(seed)
    out = {}
    for j, t in enumerate(model.inputs):
        name = t.name.split(":")[0]
        info = np.iinfo(DTYPES[name])
        x = rng.integers(info.min, info.max, (BATCH, STEPS, FEATURES), endpoint=True)
        x[0, 0, :2] = info.min, info.max
        x[:, 1] = 0  # masked in every input
        x[j % BATCH, 2 + j % 3] = 0  # masked in this input only
        x[1, 5, 1:] = 0  # one feature not 0: kept
        out[name] = x.astype(DTYPES[name])
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(
        saved_and_converted(tmp_path_factory, "s14_masked_narrow", CASES, family_saver(FAMILIES, _inputs, 14)))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_masked_narrow_merges_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    integers = [o for o in outputs if o.dtype.kind in "iu"]
    assert integers and all(o.dtype.itemsize <= 4 for o in integers), [o.dtype for o in outputs]
    verify_runs(path, [(inputs, outputs)])

