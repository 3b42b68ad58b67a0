"""int32 ids beyond 2^24 through merges, op layers and casts, exact as Keras (review RK28 of K28).

float32 holds integers exactly only up to 2^24: int32 ids handed to Concatenate / Add / Maximum / Multiply /
UpSampling1D / GlobalMaxPooling1D as float32 came back with other digits (and 2^31 - 1 as -2^31). These now get the
int32 tensors as they are; int32 products wrap as TF's (TF.js's cpu Mul is float64), Abs / Neg of int32 (float32 in
TF.js's Abs and wasm's Neg) are ``0 - x``, tf_keras ``reduce_mean`` of int32 is the exact mean truncated toward zero (TF.js's Mean
divides a float sum), a float cast to int32 gives INT_MIN for NaN, infinities and magnitudes from 2^31 as TF's CPU
does. Layers whose TF.js kernels take float32 only (MaxPooling, Masking...) refuse int32 ids by name; a float cast to
an 8/16-bit integer is refused (TF's CPU wraps or saturates out-of-range values depending on the tensor's size).
Python ints beside 8-bit tensors in Keras 3 op layers are converted to their dtype first, as Keras does.
Expected values from eager Keras 3 / tf_keras, run in TF.js (cpu, wasm), compared exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import graph_model_refusal as _refusal  # noqa: E402
from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402

N = 7
#: int32 values float32 does not hold, and the extremes (sums, products and negations wrap).
EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341]
#: Floats TF's CPU casts to int32 specially (INT_MIN) and ones it truncates.
FLOATS = [np.nan, np.inf, -np.inf, 2.0**31, -2.0**31, 3e9, -1.5]


def ids(k):
    """Two int32 id tensors into the merges, repeats and op layers that compute in int32."""
    L = k.layers
    a = k.Input((N,), name="a", dtype="int32")
    b = k.Input((N,), name="b", dtype="int32")
    floats = k.Input((N,), name="floats")
    merges = [L.Concatenate(name="joined")([a, b]), L.Add(name="sum")([a, b, a]), L.Subtract(name="diff")([a, b]),
              L.Maximum(name="top")([a, b]), L.Minimum(name="low")([a, b]), L.Multiply(name="product")([a, b, a]),
              L.UpSampling1D(2, name="repeated")(L.Reshape((N, 1), name="steps")(a)),
              L.GlobalMaxPooling1D(name="pooled")(L.Reshape((N, 1), name="column")(b))]
    if k is keras:
        ops = keras.ops
        outs = [ops.multiply(a, b), ops.square(a), ops.abs(a), ops.negative(b), ops.multiply(a, 65537),
                ops.cast(floats, "int32")]
    else:
        import tensorflow as tf

        grid = L.Reshape((1, N), name="grid")(a)
        outs = [a * b, tf.math.square(a), tf.math.abs(a), tf.math.negative(b), tf.math.multiply(a, 65537),
                tf.cast(floats, tf.int32), tf.math.reduce_mean(a, axis=-1), tf.reduce_mean(grid, axis=[1, 2]),
                tf.math.reduce_mean(tf.concat([a, b], axis=-1), axis=-1, keepdims=True)]
    return k.Model([a, b, floats], [*merges, *outs])


def narrow_scalars(k):
    """Keras 3 converts a Python int beside a uint8 / int8 tensor to that dtype (300 is 44 in uint8, -1 is 255):
    clip / maximum / where bounds out of range, and the 8-bit dtype kept through clip / where / ones_like for the
    add after them to wrap in it."""
    ops = keras.ops
    u8 = k.Input((N,), name="u8", dtype="uint8")
    i8 = k.Input((N,), name="i8", dtype="int8")
    return k.Model([u8, i8], [
        ops.clip(u8, 10, 300), ops.maximum(u8, 300), ops.minimum(i8, 200), ops.where(ops.greater(u8, 100), u8, 300),
        ops.add(ops.clip(u8, 10, 300), 250), ops.add(ops.where(ops.greater(u8, 100), u8, i8), 32700),
        ops.add(ops.ones_like(u8), 255)])


FAMILIES = {"ids": ids, "narrow_scalars": narrow_scalars}
CASES = [("ids", "keras3.keras"), ("ids", "tf_keras.h5"), ("narrow_scalars", "keras3.keras")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if len(model.inputs) == 2:  # narrow_scalars
        return {"u8": np.array([[0, 1, 43, 44, 45, 200, 255]] * 2, np.uint8),
                "i8": np.array([[-128, -1, 0, 1, 100, 127, -57]] * 2, np.int8)}
    wide = rng.integers(-2**31, 2**31, (6, N))
    small = rng.integers(-9, 10, (6, N))  # truncated means of negative sums
    a = np.concatenate([[EDGES], [EDGES[::-1]], wide, small]).astype("int32")
    b = np.concatenate([[EDGES[::-1]], [EDGES], rng.integers(-2**31, 2**31, (6, N)), small[::-1]]).astype("int32")
    floats = np.concatenate([[FLOATS], rng.uniform(-3e9, 3e9, (13, N))]).astype("float32")
    return {"a": a, "b": b, "floats": floats}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "rk28", CASES, family_saver(FAMILIES, _inputs, 28))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_int32_ids_beyond_float32_match_keras_exactly(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    assert all(o.dtype.kind in "iu" for o in outputs), [o.dtype for o in outputs]
    _verify(path.parent / f"{path.name}.out", inputs, outputs)


def test_int32_ids_into_dot_lower_as_keras_float32_matmul(tmp_path):
    """Keras 3's Dot of int32 ids is a float32 matmul cast back to int32: ids beyond 2^24 came out with other digits,
    silently (as a float32 Dot); refused by name since, and since S14 lowered as Keras computes it, cast, matmul and
    cast back (tests/test_keras_lowering_s14_prod_dot.py checks the numbers)."""
    import tfjsconv
    from test_keras_lowering import LOWERED

    a = keras.Input((N, 2), name="a", dtype="int32")
    keras.Model(a, keras.layers.Dot(2, name="layer")([a, a])).save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details == [LOWERED], result.details


@pytest.mark.parametrize("dtype", ["uint8", "int16"])
def test_float_cast_to_small_integers_is_refused_by_name(tmp_path, dtype):
    """TF's CPU cast of 821770112.0 to uint8 is 128 in a tensor of 16 values, 255 in one of 64 (its vectorized path
    saturates): no lowering matches both, refused by name."""
    x = keras.Input((N,), name="x")
    assert f"a cast of float32 to {dtype} (TensorFlow's result for values outside" in \
        _refusal(tmp_path, keras.Model(x, keras.ops.cast(x, dtype)))
