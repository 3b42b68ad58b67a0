"""float64 op-layer leftovers (session 26, issue 16).

- ``exp``, ``log`` and ``logsumexp`` of float64 tensors (refused before: "a float64 tensor (TF.js has none ...)"):
  computed in float32 on the pair's ``hi`` (exp and log with the first-order term of ``lo``), named in their own
  notice with their bound; tf_keras and Keras 3, over casts and pair chains, rows of ±Inf and -0.0 first.
- A known float64 chain through a float32 round trip (refused before: "a cast to DT_INT32 of DT_DOUBLE values TF.js
  holds only approximately"): ``tf.cast(tf.cast(tf.cast(c / 3, tf.float32), tf.float64) * 3, tf.int32)`` is 9 in
  TF (float32's 3.3333333 times 3), where ``c / 3 * 3`` is 10: a padding and a tensor axis read it.
- float64 Inputs of nested models (silently wrong before): a float32 tensor given to a nested model's float64 Input
  is float64 inside (argmax of ``[-inf, -FLT_MAX, ...]`` 1, the sum of ``[2^24, 1, 1, -2^24]`` 2), a float64 model
  input given to a nested float32 Input float32 inside (argmax 0).

Each family converted once (TensorFlow, Keras and tf_keras poisoned), two sizes, TF.js cpu and wasm against Keras's
``model(x)``.
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
from keras_two_sizes import at_runs, converted_fixture, two_size_saver, verify_runs  # noqa: E402

RUNS = [(2, 7), (3, 4)]  # (batch, length) of each run
_BIG = float(np.finfo(np.float32).max)


def tf_functions(k: Any) -> Any:
    """tf_keras's ``reduce_logsumexp``, ``exp`` and ``log`` of ``tf.cast(x, tf.float64)`` and of pair chains; the log
    of ``1 + d·1e-6`` needs the pair's ``lo`` (its ``hi`` alone errs by up to 2^-24 where the result is ~1e-6), and
    so does the exp of ``d·15 + d·1e-3`` (its ``hi`` alone errs by up to 2^-25·|x| relative, ~10 ulps at 40)."""
    x = k.Input((None, 6), name="x")
    d = tf.cast(x, tf.float64)
    e = d * 0.1 + d
    return k.Model(x, [
        tf.math.reduce_logsumexp(d, axis=2), tf.math.reduce_logsumexp(e, axis=[1, 2], keepdims=True),
        tf.cast(tf.exp(e), tf.float32), tf.math.log(tf.abs(e)), tf.exp(d), tf.math.log(d * 1e-6 + 1.0),
        tf.cast(tf.exp(d * 15.0 + d * 1e-3), tf.float32),
    ], name="tf_functions")


def keras3_functions(k: Any) -> Any:
    """Keras 3's ``logsumexp`` (over the channels, and over every axis), ``exp`` and ``log`` of float64 tensors."""
    x = k.Input((None, 6), name="x")
    d = k.ops.cast(x, "float64")
    e = d * 0.1 + d
    return k.Model(x, [k.ops.logsumexp(d, axis=-1), k.ops.logsumexp(e), k.ops.exp(e), k.ops.log(k.ops.abs(d)),
                       k.ops.cast(k.ops.exp(d), "float32"), k.ops.log(d * 1e-6 + 1.0)], name="keras3_functions")


def known_round_trip(k: Any) -> Any:
    """``c = tf.shape(x)[2]`` (10): ``(float64(float32(c / 3))) * 3`` truncated is 9, a padding and an axis."""
    x = k.Input((None, 10), name="x")
    c = tf.shape(x)[2]
    nine = tf.cast(tf.cast(tf.cast(c / 3, tf.float32), tf.float64) * 3, tf.int32)
    ten = tf.cast(tf.cast(tf.cast(c, tf.float32) * 0.5, tf.float64) * 2.0, tf.int32)
    return k.Model(x, [tf.pad(x, [[0, 0], [0, 0], [0, nine]]), tf.reduce_sum(x, axis=nine - 8),
                       tf.reduce_max(x, axis=ten - 9)], name="known_round_trip")


def nested(k: Any) -> Any:
    """A float32 input into a nested float64 Input, a float64 input into a nested float32 one and a float64 one; a
    TimeDistributed model with a float64 Input over float32 steps; a float16 model input into a float64 Input (review
    R3's F1 and F2)."""
    keras3 = hasattr(k, "ops")
    f32, f64 = ("float32", "float64") if keras3 else (tf.float32, tf.float64)

    def inner(dtype: Any, tag: str, count: int = 3) -> Any:
        y = k.Input((4,), name=f"y_{tag}", dtype=dtype)
        if keras3:
            outs = [k.ops.argmax(y, axis=-1), k.ops.sum(y, axis=-1), k.ops.argmin(y, axis=-1)][:count]
        else:
            outs = [tf.math.argmax(y, axis=-1, output_type=tf.int32), tf.reduce_sum(y, axis=-1)][:count]
        return k.Model(y, outs if count > 1 else outs[0], name=f"inner_{tag}")

    x = k.Input((4,), name="x", dtype=f32)
    w = k.Input((4,), name="w", dtype=f64)
    up, down, same = inner(f64, "up")(x), inner(f32, "down")(w), inner(f64, "same")(w)
    # (the float32 sum inside ``down`` left out: TF.js's cpu Sum of float32 differs from TF's there, as anywhere)
    s, h = k.Input((2, 4), name="s", dtype=f32), k.Input((4,), name="h", dtype="float16" if keras3 else tf.float16)
    steps = k.layers.TimeDistributed(inner(f64, "td", 1), name="td")(s)  # its Input float64 too (review R3's F1)
    return k.Model([x, w, s, h], [*up, *down[::2], *same, steps, *inner(f64, "half")(h)], name="nested")


FAMILIES = {"tf_functions": tf_functions, "keras3_functions": keras3_functions,
            "known_round_trip": known_round_trip, "nested": nested}
#: Rows float32 gets wrong where Keras computes in float64 (argmax 1: TF's float64 kernel starts from -DBL_MAX;
#: Keras 3's -0.0 read as -DBL_MIN; sums whose large items cancel), then ±Inf and -0.0 rows for the functions.
_FLOAT64_ROWS = np.array([[16777216.0, 1.0, 1.0, -16777216.0], [-np.inf, -_BIG, -np.inf, -_BIG],
                          [-1.17549435e-38, -0.0, -1.0, -2.0], [1e8, 3.0, -1e8, 0.5]], np.float32)
#: float16 values whose float32 sum drops the small ones (Keras's float64 sum of them keeps them), for ``h``.
_HALF_ROWS = np.array([[60000.0, 2.0**-10, -60000.0, 0.0], [-65504.0, 2.0**-14, 65504.0, 2.0**-14]], np.float32)
_FUNCTION_ROWS = np.array([[-np.inf] * 6, [np.inf, 1.0, -np.inf, 0.0, -0.0, 2.0], [-0.0, 0.0, -0.0, 80.0, -80.0, 1e-3],
                           [30.0, 29.5, -1e3, 1e-30, -1e-30, 0.25]], np.float32)


def _inputs(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """Normal floats of the run's batch and length, special rows first (:data:`_FUNCTION_ROWS`); the nested models'
    inputs R2's float64 rows (:data:`_FLOAT64_ROWS`) then draws, the float32 one the same values."""
    if model.name == "nested":
        values = np.concatenate([_FLOAT64_ROWS, rng.standard_normal((batch, 4)).astype(np.float32)])
        half = np.concatenate([_HALF_ROWS, rng.standard_normal((batch + 2, 4)).astype(np.float32)])
        return {"x": values, "w": values.astype(np.float64), "s": np.stack([values, values[::-1]], axis=1), "h": half}
    t = model.inputs[0]
    values = rng.standard_normal((batch, length, t.shape[-1])).astype(np.float32)
    if model.name.endswith("functions"):
        rows = values.reshape(-1, 6)
        rows[:len(_FUNCTION_ROWS)] = _FUNCTION_ROWS[:len(rows)]
    return {t.name.split(":")[0]: values}


CASES = [("tf_functions", "tf_keras.h5"), ("keras3_functions", "keras3.keras"), ("known_round_trip", "tf_keras.h5"),
         ("nested", "keras3.keras"), ("nested", "tf_keras.h5")]
converted = converted_fixture("k26_float64", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=261))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES,
                         ids=[f"{f}-{v}" for f, v in CASES])
def test_float64_leftovers_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def _assert_within_2_ulps(converted: Any, index: int, floor: float) -> None:
    """tf_functions' output ``index`` within 2 float32 ulps of Keras's float64 value (of ``floor`` at least) on cpu
    and wasm: the pairs' ``lo`` term matters below the two-size rule's 1e-5 relative."""
    import json
    from pathlib import Path

    from tfjsconv.verify.run import run_model

    path, runs, _ = converted[("tf_functions", "tf_keras.h5")]
    out = Path(f"{path}.out")
    name = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])[index]
    for inputs, outputs in runs:
        result = run_model(str(out), inputs, backends=("cpu", "wasm"), quiet=True)
        want = np.asarray(outputs[index], np.float64)
        finite = np.isfinite(want)
        for backend in ("cpu", "wasm"):
            got = np.asarray(result[backend].outputs[name], np.float64)
            assert np.array_equal(np.isfinite(got), finite), backend
            scale = np.maximum(np.abs(want[finite]), floor).astype(np.float32)
            ulps = np.abs(got[finite] - want[finite]) / np.spacing(scale)
            assert ulps.max() <= 2, (backend, ulps.max())


@pytest.mark.node
def test_float64_log_of_a_pair_keeps_its_lo(converted, tfjs_runtime):
    """``log(1 + d·1e-6)`` within 2 float32 ulps of Keras's float64 value (of 2^-40 at least: the pair holds
    ``1 + 1e-36``, which float64 rounds to 1) on cpu and wasm; its ``hi`` alone errs by millions of ulps there,
    below the two-size rule's 1e-6 floor."""
    _assert_within_2_ulps(converted, 5, 2.0**-40)


@pytest.mark.node
def test_float64_exp_of_a_pair_keeps_its_lo(converted, tfjs_runtime):
    """``exp(d·15 + d·1e-3)`` cast to float32 within 2 float32 ulps of Keras's value (review R3's F5: without the
    ``e^hi·lo`` term it errs by ~10 ulps, under the two-size rule's 1e-5 relative)."""
    _assert_within_2_ulps(converted, 6, float(np.finfo(np.float32).tiny))


def test_float64_functions_are_named_with_their_bound(converted):
    """The float32 computation has its own notice (the pairs' 2^-44 notice does not claim it)."""
    for case in (("tf_functions", "tf_keras.h5"), ("keras3_functions", "keras3.keras")):
        path = converted[case][0]
        details = tfjsconv.convert(path, path.parent / f"{path.name}.again", output_format="tfjs_graph_model").details
        named = [d for d in details if d.startswith("float64 exp, log and logsumexp (op layers from")]
        assert named and "exp of x > 88.72" in named[0], details  # float64 outputs past FLT_MAX (review R3's F4)


def test_argmax_of_a_float64_exp_is_refused_by_name(tmp_path):
    """(Arithmetic on a float64 exp result: computed as the traced path computes it since session 33,
    tests/test_issue16_float64_rounded_s33.py.)"""
    import tf_keras as k

    from tfjsconv.errors import UsageError

    # the exp of a float64 Input, outer or nested, as of a cast (review R3's F3: float64's exp(-200) and exp(-150)
    # are ordered, float32's both 0; this converted, argmax 0 where Keras gives 3)
    w, v = k.Input((4,), name="w", dtype=tf.float64), k.Input((4,), name="v")
    y = k.Input((4,), name="y", dtype=tf.float64)
    inner = k.Model(y, tf.math.argmax(tf.exp(y), axis=-1), name="inner")
    for tag, model in (("outer", k.Model(w, tf.math.argmax(tf.exp(w), axis=-1))), ("nested", k.Model(v, inner(v)))):
        model.save(tmp_path / f"{tag}.h5")
        with pytest.raises(UsageError, match=r"argmax.*float64 values held rounded to float32"):
            tfjsconv.convert(tmp_path / f"{tag}.h5", tmp_path / f"out_{tag}", output_format="tfjs_graph_model")


