"""float64 op-layer reductions and float64 chains of known values (session 25, issue 16).

- Reductions of float64 tensors (refused before: "a float64 tensor (TF.js has none ...)"): ``sum``/``mean``/``prod``
  over axes the config sizes, as trees of double-float32 steps (about 2^-44 per level, the chains' notice);
  ``max``/``min`` exactly (one of the values), over run-time axes too; ``argmax``/``argmin`` of values held exactly.
  Keras 3 (``ops.sum`` of a float64 concatenation, casts, chains) and tf_keras (``tf.reduce_sum(tf.cast(x,
  tf.float64), axis=2)`` ...), at two lengths against Keras's ``model(x)`` in TF.js cpu and wasm.
- Chains of known float64 values (refused before, "a cast to int32 of float64 values TF.js holds only
  approximately"): ``tf.cast((c / 5) * 2, tf.int32)`` of a size the config gives folds to TF's integer (a padding,
  tensor axes); ``c / 3 * 3`` is 10 in float64, which a pair of float32 could truncate to 9.
- Refused by name: a float64 mean over 2^24 values the config gives, argmax of pairs, ``tanh`` (a sum over an
  axis known only at run time lowers since session 27).

Each family converted once (TensorFlow, Keras and tf_keras poisoned).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from tfjsconv.errors import UsageError  # noqa: E402

RUNS = [(2, 7), (3, 4)]  # (batch, length) of each run


def keras3_reductions(k: Any) -> Any:
    """Keras 3 reductions of float64 tensors: held exactly (a cast), pairs (``d · 0.1 + d``), a concatenation with a
    float64 array; over the channels (config-sized) and, for max/min, the run-time length."""
    x = k.Input((None, 6), name="x")
    d = k.ops.cast(x, "float64")
    e = d * 0.1 + d
    n = k.ops.reshape(k.ops.max(k.ops.sum(k.ops.ones_like(x), axis=1)), (1,))  # the length, float32
    doubles = k.ops.concatenate([n, np.array([0.1, -2.5])])
    return k.Model(x, [
        k.ops.sum(d, axis=-1), k.ops.mean(e, axis=-1, keepdims=True), k.ops.prod(d, axis=2),
        k.ops.max(e, axis=1), k.ops.min(d, axis=(1, 2)), k.ops.argmax(d, axis=-1), k.ops.argmin(d, axis=1),
        k.ops.sum(doubles), k.ops.cast(k.ops.sum(e * e, axis=-1), "float32"), x * k.ops.mean(doubles),
    ])


def tf_reductions(k: Any) -> Any:
    """tf_keras's ``tf.reduce_*`` of ``tf.cast(x, tf.float64)`` and of a chain, cast back to float32 or not."""
    x = k.Input((None, 6), name="x")
    d = tf.cast(x, tf.float64)
    return k.Model(x, [
        tf.reduce_sum(d, axis=2), tf.reduce_mean(d * 3.0 - 1.0, axis=-1), tf.reduce_max(d * 0.1, axis=1),
        tf.reduce_min(d, axis=[1, 2], keepdims=True), tf.reduce_prod(d / 3.0, axis=2),
        tf.math.argmax(d, axis=2, output_type=tf.int32), tf.cast(tf.reduce_sum(d * d, axis=-1), tf.float32),
    ])


def tf_flat_sum(k: Any) -> Any:
    """The issue's ``tf.reduce_sum(tf.cast(x, tf.float64), axis=1)`` of a ``[None, 6]`` input."""
    x = k.Input((6,), name="x")
    return k.Model(x, tf.cast(tf.reduce_sum(tf.cast(x, tf.float64), axis=1), tf.float32))


def known_chain(k: Any) -> Any:
    """float64 chains of ``c = tf.shape(x)[2]`` (10 in the config) cast to int32: a padding and tensor axes, which
    the graph must fix (an axis known only at run time is refused). ``c / 3 * 3`` is 10 in float64 (axis 1)."""
    x = k.Input((None, 10), name="x")
    c = tf.shape(x)[2]
    return k.Model(x, [
        tf.pad(x, [[0, 0], [0, 0], [0, tf.cast((c / 5) * 2, tf.int32)]]),
        tf.reduce_sum(x, axis=tf.cast(c / 3 * 3, tf.int32) - 9),
        tf.reduce_max(x, axis=tf.cast((c - 1) / 2 - 2.5, tf.int32)),
    ])


def special_extremes(k: Any) -> Any:
    """argmax/argmin of float64 values among ±0.0, ±2e-38, -FLT_MIN, ±FLT_MAX, ±Inf and NaN: TF's float64 kernel
    takes -FLT_MAX (it starts from -DBL_MAX), and Keras 3 reads -0.0 as -DBL_MIN (between +0.0 and -FLT_MIN). No subnormals:
    TensorFlow's CPU kernels flush them to zero, TF.js does not (as for float32)."""
    x = k.Input((None, 4), name="x")
    d = k.ops.cast(x, "float64") if hasattr(k, "ops") else tf.cast(x, tf.float64)
    if hasattr(k, "ops"):
        return k.Model(x, [k.ops.argmax(d, axis=-1), k.ops.argmin(d, axis=-1), k.ops.argmax(d, axis=1)],
                       name="special_extremes")
    return k.Model(x, [tf.math.argmax(d, axis=2, output_type=tf.int32), tf.math.argmin(d, axis=-1)],
                   name="special_extremes")


def cancelling(k: Any) -> Any:
    """Sums whose large items cancel (``a + b - a`` with ``|a|`` near 1e7, inputs of :func:`_inputs`): float32 would
    err by about 0.5 where Keras's float64 sum is ``b``-sized; the pairs keep it."""
    x = k.Input((None, 6), name="x")
    d = tf.cast(x, tf.float64)
    return k.Model(x, [tf.reduce_sum(d, axis=2), tf.cast(tf.reduce_mean(d * d - 1.0, axis=2), tf.float32)],
                   name="cancelling")


def signed_zeros(k: Any) -> Any:
    """The sign of float64 zeros, read as ``1/v > 0`` (int32): a product or a chain ``d·1.5·2`` of -0.0 is -0.0, its
    ``abs`` +0.0, a sum of two or more -0.0 +0.0 (TF's sum starts from +0.0). Session 25 (review R2's F1): the pairs'
    renormalization ``-0.0 + 0.0`` gave +0.0 (``1/prod`` +Inf where Keras gives -Inf)."""
    x = k.Input((None, 4), name="x")
    keras3 = hasattr(k, "ops")
    ops = k.ops if keras3 else None
    to64 = (lambda v: ops.cast(v, "float64")) if keras3 else (lambda v: tf.cast(v, tf.float64))
    d, two = to64(x), to64(k.layers.Reshape((-1, 2), name="in_twos")(x))

    def positive(v: Any) -> Any:
        inverse = ops.cast(1.0 / v, "float32") if keras3 else tf.cast(1.0 / v, tf.float32)
        return ops.cast(inverse > 0, "int32") if keras3 else tf.cast(inverse > 0, tf.int32)

    if keras3:
        chain = d * 1.5 * 2.0
        return k.Model(x, [positive(ops.prod(d, axis=-1)), positive(chain), positive(ops.abs(chain)),
                           positive(ops.sum(two, axis=-1)), positive(ops.sum(d, axis=-1)),
                           positive(chain / 3.0 * 0.5)], name="signed_zeros")
    chain = d * 1.5 * 2.0
    return k.Model(x, [positive(tf.reduce_prod(d, axis=2)), positive(chain), positive(tf.abs(chain)),
                       positive(tf.reduce_sum(two, axis=-1)), positive(tf.reduce_mean(two, axis=-1)),
                       positive(tf.sqrt(chain)), positive(tf.reduce_prod(d * 0.1, axis=-1))], name="signed_zeros")


def float64_input(k: Any) -> Any:
    """A float64 model Input read by op layers: argmax, sum, mean, arithmetic (held as float64, the pair rules; they
    were float32 ops: argmax of ``[-inf, -FLT_MAX, ...]`` 0 where TF's float64 kernel gives 1, the sum of
    ``[2^24, 1, 1, -2^24]`` 0 on wasm where Keras gives 2; review R2's F2), a Dense after a float64 sum."""
    dtype = "float64" if hasattr(k, "ops") else tf.float64
    x = k.Input((4,), name="x", dtype=dtype)
    if hasattr(k, "ops"):
        total = k.ops.sum(x, axis=-1, keepdims=True)
        return k.Model(x, [k.ops.argmax(x, axis=-1), k.ops.argmin(x, axis=-1), total, k.ops.mean(x * 0.1, axis=-1),
                           k.layers.Dense(2, name="after_sum")(total)], name="float64_input")
    total = tf.reduce_sum(x, axis=-1, keepdims=True)
    return k.Model(x, [tf.math.argmax(x, axis=-1, output_type=tf.int32), total, tf.reduce_max(x - 1.0, axis=-1),
                       k.layers.Dense(2, name="after_sum")(total)], name="float64_input")


def integer_extremes(k: Any) -> Any:
    """argmax/argmin and max/min of int32 values cast to float64, cast back to int32: exact pairs of the integers
    (refused before: "argmax/argmin of float64 values computed on pairs", a cast to int32 of the max "held only
    approximately"; review R2's F4). Past 2^24 neighbours round to one float32, which the pairs tell apart."""
    x = k.Input((5,), name="x", dtype="int32")
    d = tf.cast(x, tf.float64)
    return k.Model(x, [tf.math.argmax(d, axis=-1, output_type=tf.int32), tf.math.argmin(d, axis=-1),
                       tf.cast(tf.reduce_max(d, axis=-1), tf.int32), tf.cast(tf.reduce_min(d, axis=-1), tf.int32)],
                   name="integer_extremes")


FAMILIES = {"keras3_reductions": keras3_reductions, "tf_reductions": tf_reductions, "tf_flat_sum": tf_flat_sum,
            "known_chain": known_chain, "special_extremes": special_extremes, "cancelling": cancelling,
            "signed_zeros": signed_zeros, "float64_input": float64_input, "integer_extremes": integer_extremes}
_BIG = float(np.finfo(np.float32).max)
#: Values the special rows draw from, and rows each run starts with (ties of signed zeros, -FLT_MAX after -Inf).
_TINY = float(np.finfo(np.float32).tiny)
_SPECIAL = np.array([0.0, -0.0, -2e-38, 2e-38, -_TINY, -_BIG, _BIG, -np.inf, np.inf, np.nan, -1.0], np.float32)
_ROWS = np.array([[-0.0, 0.0, -1.0, -0.0], [0.0, -0.0, 1.0, -0.0], [-0.0, -2e-38, -0.0, -1.0], [-2e-38, -0.0, 0.0, 2e-38],
                  [-np.inf, -_BIG, -np.inf, -_BIG], [np.nan, -_BIG, np.nan, _BIG], [np.nan, np.nan, -np.inf, np.inf],
                  [_BIG, np.inf, np.nan, -0.0], [-_TINY, -0.0, -1.0, -1.0], [-0.0, -_TINY, 1.0, 1.0]], np.float32)

_ZERO_ROWS = np.array([[-0.0, -0.0, -0.0, -0.0], [0.0, -0.0, -1.0, -2.0], [-0.0, 2.0, 0.0, 2.0],
                       [-0.0, 0.0, -0.0, -0.0], [-1.0, -0.0, 2.0, 0.0]], np.float32)
#: Rows float32 gets wrong where Keras computes in float64 (review R2's F2): argmax 1 (TF starts from -DBL_MAX),
#: Keras 3's -0.0 read as -DBL_MIN, sums whose large items cancel.
_FLOAT64_ROWS = np.array([[16777216.0, 1.0, 1.0, -16777216.0], [-np.inf, -_BIG, -np.inf, -_BIG],
                          [-_TINY, -0.0, -1.0, -2.0], [1e8, 3.0, -1e8, 0.5]], np.float32)


def _inputs(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """Normal floats of the run's batch and length (a ``[None, 6]`` input: the batch only); for argmax/argmin
    (``special_extremes``) the special rows, then draws from :data:`_SPECIAL`; for ``cancelling`` large items that
    cancel."""
    t = model.inputs[0]
    shape = (batch, *((length,) if len(t.shape) == 3 else ()), t.shape[-1])
    if model.name.startswith("special"):
        values = rng.choice(_SPECIAL, shape)
        values.reshape(-1, 4)[:len(_ROWS)] = _ROWS
        return {t.name.split(":")[0]: values}
    values = rng.standard_normal(shape).astype(np.float32)
    if model.name == "signed_zeros":  # rows of signed zeros (products of -0.0), then draws
        values = rng.choice(np.array([0.0, -0.0, -0.0, -1.0, 2.0], np.float32), shape)
        values.reshape(-1, 4)[:len(_ZERO_ROWS)] = _ZERO_ROWS
        return {t.name.split(":")[0]: values}
    if model.name == "float64_input":  # float32 values (fed exactly), R2's rows first
        values = np.concatenate([_FLOAT64_ROWS, rng.standard_normal(shape).astype(np.float32)])
        return {t.name.split(":")[0]: values.astype(np.float64)}
    if model.name == "integer_extremes":  # neighbours past 2^24 (one float32 apiece), ties, then draws
        base = 2**30
        rows = np.array([[base + 1, base + 3, base + 2, -5, base + 3], [-base - 1, -base - 2, -base - 2, 7, -base],
                         [2**31 - 1, 2**31 - 2, -2**31, -2**31 + 1, 0]], np.int64)
        draws = rng.integers(-2**31, 2**31, (batch, 5))
        return {t.name.split(":")[0]: np.concatenate([rows, draws]).astype(np.int32)}
    if model.name == "cancelling":  # channel 1 cancels channel 0, channel 5 nearly cancels channel 2
        values[..., 0] *= 1e7
        values[..., 1] = -values[..., 0]
        values[..., 2] = 3e3 + values[..., 2]
        values[..., 5] = -3e3
        return {t.name.split(":")[0]: values}
    return {t.name.split(":")[0]: rng.standard_normal(shape).astype(np.float32)}


CASES = [("keras3_reductions", "keras3.keras"), ("tf_reductions", "tf_keras.h5"), ("tf_flat_sum", "tf_keras.h5"),
         ("known_chain", "tf_keras.h5"), ("special_extremes", "keras3.keras"), ("special_extremes", "tf_keras.h5"),
         ("cancelling", "tf_keras.h5"), ("signed_zeros", "keras3.keras"), ("signed_zeros", "tf_keras.h5"),
         ("float64_input", "keras3.keras"), ("float64_input", "tf_keras.h5"), ("integer_extremes", "tf_keras.h5")]
converted = converted_fixture("k25_float64", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=251))


@pytest.mark.node
@each_case(CASES)
def test_float64_reductions_and_chains_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def _refused(tmp_path, model: Any, suffix: str, pattern: str) -> None:
    model.save(tmp_path / f"m{suffix}")
    with pytest.raises(UsageError, match=pattern):
        tfjsconv.convert(tmp_path / f"m{suffix}", tmp_path / "out", output_format="tfjs_graph_model")
    assert not (tmp_path / "out").exists()


def test_a_float64_sum_over_2_24_values_the_config_gives_is_refused_by_name(tmp_path):
    """A sum over an axis known only at run time lowers since session 27
    (``tests/test_keras_lowering_k27_float64_runtime_sums.py``); 2^24 values the config gives stay refused (the
    mean's float32 count is exact below 2^24)."""
    import tf_keras as k

    x = k.Input((4096, 4096), name="x")
    _refused(tmp_path, k.Model(x, tf.reduce_mean(tf.cast(x, tf.float64), axis=[1, 2])), ".h5",
             r"reduce_mean.*float64 mean over axes \[1, 2\] of sizes \[4096, 4096\]")


def test_argmax_of_float64_pairs_is_refused_by_name(tmp_path):
    x = keras.Input((None, 3), name="x")
    d = keras.ops.cast(x, "float64")
    _refused(tmp_path, keras.Model(x, keras.ops.argmax(d * 0.1 + d, axis=-1)), ".keras",
             r"argmax.*argmax/argmin of float64 values computed on pairs")


def test_a_float64_input_computed_in_float32_is_named(tmp_path):
    """An op layer other than a cast, float64 arithmetic, a reduction or exp/log/logsumexp (``tanh``; exp is held as
    of a float64 cast since session 26) computes a float64 model input in float32: a warning names it (there was
    none, review R2's F2); a float64 sum of it names no such layer."""
    import tf_keras as k

    x = k.Input((4,), name="x", dtype=tf.float64)
    k.Model(x, [tf.math.tanh(x), tf.reduce_sum(x, axis=-1)]).save(tmp_path / "m.h5")
    details = tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model").details
    assert [d for d in details if d.startswith("float64 model inputs read by op layers (from 'tf.math.tanh")], details
    x = k.Input((4,), name="x", dtype=tf.float64)
    k.Model(x, tf.reduce_sum(x, axis=-1)).save(tmp_path / "s.h5")
    details = tfjsconv.convert(tmp_path / "s.h5", tmp_path / "out_s", output_format="tfjs_graph_model").details
    assert not [d for d in details if d.startswith("float64 model inputs")], details
