"""Integer op layers and merges as Keras computes them: 8/16-bit integers wrap around, int32 divisions floor.

TF (and Keras 3 and tf_keras on it) computes uint8 200 + 100 as 44; TF.js holds every integer as int32, so the
lowering computes in int32 and wraps back into the dtype after each step (Add / Subtract / Multiply / Average
layers, op layers add, subtract, multiply, negative, abs, square; casts of integers to 8/16-bit integers; casts of
floats to int32: truncated toward zero, NaN and huge values INT_MIN as TF's CPU gives them; Keras 3's int8/int16 sums are int32). int32 ids
keep their dtype through the value-moving layers (not via float32, exact to 2^24 only), floor_divide / mod floor like
Python. Expected values from eager Keras, run in TF.js (cpu, wasm): exact equality (integer outputs, compared in
their dtype).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import graph_model_refusal as _refusal  # noqa: E402
from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402

N = 12
#: Values TF's float-to-integer casts treat specially: halves, negatives, beyond 2^31, NaN.
FLOATS = [300.7, -1.5, -129.5, 70000.2, 1e10, -1e10, np.nan, 2.0**31, 255.9, 0.2, -0.7, 2147483520.0]


def _tf():
    import tensorflow as tf

    return tf


def narrow_arithmetic(k):
    """uint8 / int8 / int16 inputs, directly and through shape layers, into op layers and merges that wrap."""
    L = k.layers
    u8 = k.Input((N,), name="u8", dtype="uint8")
    i8 = k.Input((N,), name="i8", dtype="int8")
    i16 = k.Input((N,), name="i16", dtype="int16")
    floats = k.Input((N,), name="floats")

    def moved(x, name):  # held as float32 by the walk, tracked as the integer dtype
        return L.Reshape((N,), name=f"{name}_moved")(L.Reshape((3, N // 3), name=f"{name}_grid")(x))

    u8m, i8m, i16m = moved(u8, "u8"), moved(i8, "i8"), moved(i16, "i16")
    merges = [L.Add(name="add3")([u8, u8m, u8]), L.Subtract(name="sub")([i8, i8m]),
              L.Multiply(name="mul")([i16m, i16]), L.Average(name="mean")([u8m, u8, u8])]  # wrapped sum / 3
    if k is keras:  # tf_keras does not promote uint8 and int8
        merges.append(L.Multiply(name="mul_mixed")([u8m, i8]))  # in int16
    if k is keras:
        ops = keras.ops
        outs = [ops.add(u8m, u8), ops.subtract(ops.multiply(i16m, i16), 5), ops.negative(i8), ops.abs(i8m),
                ops.square(i16), ops.maximum(u8m, 200), ops.add(u8, i8m), ops.add(ops.multiply(u8m, 3), 7),
                ops.cast(floats, "int32"), ops.add(ops.cast(i16m, "int8"), 100),
                ops.cast(ops.add(u8, u8), "float32"), ops.sum(i16m, axis=-1), ops.sum(i8, axis=-1)]  # int32 sums
    else:
        tf = _tf()
        outs = [u8m + u8 + 7, tf.math.multiply(i16m, i16) - 5, -i8, tf.math.abs(i8m), tf.math.square(i16),
                tf.math.maximum(u8m, 200), tf.cast(floats, tf.int32),
                tf.cast(i16m, tf.int8) + 100, tf.cast(u8 + u8, tf.float32)]
    return k.Model([u8, i8, i16, floats], [*merges, *outs])


def int32_ids(k):
    """int32 ids beyond float32's exact range through shape layers, and floor divisions / modulos of them."""
    L = k.layers
    ids = k.Input((2, 6), name="ids", dtype="int32")
    flat = L.Flatten(name="flat")(L.Permute((2, 1), name="swap")(ids))
    divisor = L.Reshape((N,), name="divisor_flat")(L.Cropping1D((0, 0), name="crop")(ids))
    if k is keras:
        ops = keras.ops
        outs = [flat, ops.add(flat, 1), ops.floor_divide(flat, -7), ops.mod(flat, 5),
                ops.mod(flat, ops.add(ops.abs(ops.floor_divide(divisor, 1000)), 3)),
                ops.floor_divide(ids, 3)]
    else:
        tf = _tf()
        outs = [flat, flat + 1, flat // -7, flat % 5, tf.math.floormod(flat, tf.math.abs(divisor // 1000) + 3),
                tf.math.floordiv(ids, 3)]
    return k.Model(ids, outs)


def unknown_sizes(k):
    """The same over a length known only at run time: uint8 / int8 steps through Cropping1D, int32 ids through
    Permute, floats cast to int32."""
    L = k.layers
    u8 = k.Input((None, 2), name="u8", dtype="uint8")
    ids = k.Input((None, 2), name="ids", dtype="int32")
    floats = k.Input((None, 2), name="floats")
    u8c = L.Cropping1D((1, 0), name="crop")(u8)
    swapped = L.Permute((2, 1), name="swap")(ids)
    if k is keras:
        ops = keras.ops
        outs = [ops.multiply(ops.add(u8c, 100), u8c), ops.cast(floats, "int32"), ops.floor_divide(swapped, 9),
                ops.mod(swapped, -9)]
    else:
        tf = _tf()
        outs = [(u8c + 100) * u8c, tf.cast(floats, tf.int32), swapped // 9, swapped % -9]
    return k.Model([u8, ids, floats], [L.Add(name="sum")([u8c, u8c]), *outs])


FAMILIES = {"narrow_arithmetic": narrow_arithmetic, "int32_ids": int32_ids, "unknown_sizes": unknown_sizes}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        dtype = str(getattr(t.dtype, "name", t.dtype))
        if t.shape[1] is None:  # unknown_sizes: 5 steps of 2
            out[name] = (rng.uniform(-300, 300, (2, 5, 2)) if dtype == "float32" else
                         rng.integers(0, 256, (2, 5, 2)) if dtype == "uint8" else
                         rng.integers(-2**31, 2**31, (2, 5, 2))).astype(dtype)
        elif dtype == "float32":
            out[name] = np.array([FLOATS, rng.uniform(-300, 300, N)], np.float32)
        elif dtype == "int32":
            out[name] = rng.integers(-2**30, 2**30, (2, 2, 6)).astype("int32")
            out[name][0, 0, :3] = [2**30 + 1, -(2**30) - 1, 16777217]  # not held exactly by float32
        else:
            info = np.iinfo(dtype)
            out[name] = rng.integers(info.min, info.max + 1, (2, N)).astype(dtype)
            out[name][0, :2] = [info.min, info.max]
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "k28", CASES, family_saver(FAMILIES, _inputs, 28))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_integer_arithmetic_matches_keras_exactly(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    assert any(o.dtype.kind in "iu" for o in outputs)
    _verify(path.parent / f"{path.name}.out", inputs, outputs)


@pytest.mark.parametrize("op,dtype", [("power", "int16"), ("mod", "int8")])
def test_small_integer_ops_not_lowered_are_refused_by_name(tmp_path, op, dtype):
    """Power wraps, mod takes int32 in Keras 3: not lowered on 8/16-bit integers, refused by name (they converted
    silently wrong before when given a model input directly). Sums and cumsums of them lower where provably exact,
    and are refused by name beyond that: tests/test_keras_lowering_sort_narrow_ops.py."""
    x = keras.Input((N,), name="x", dtype=dtype)
    out = {"power": lambda: keras.ops.power(x, 3), "mod": lambda: keras.ops.mod(x, 7)}[op]()
    assert f"on {dtype} integers (Keras computes in that dtype, wrapping around or changing it; not lowered)" in \
        _refusal(tmp_path, keras.Model(x, out))


def test_float_operand_of_small_integers_is_refused_by_name(tmp_path):
    """uint8 + a float tensor is float32 in Keras 3: not an integer wrap, refused by name rather than guessed."""
    x = keras.Input((N,), name="x", dtype="uint8")
    f = keras.Input((N,), name="f")
    assert "on uint8 integers and a float, bool or untracked tensor" in \
        _refusal(tmp_path, keras.Model([x, f], keras.ops.maximum(x, f)))
