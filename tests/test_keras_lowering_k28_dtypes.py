"""float64 op layers that move values, float64 ``tanh``/``sigmoid``, 8/16-bit normalizations (session 28, issue 16).

Refused before ("a float64 tensor (TF.js has none ...)"), converted by ``--loader=tensorflow`` in float32:

- ``reshape``, slices, ``concat``, ``stack``, ``tile``, ``transpose``, ``expand_dims`` of float64 tensors (an ``exp``
  result, a float32 tensor cast up, float64 arithmetic held as pairs of float32): their float32 values moved as they
  are, a pair's ``lo`` with its ``hi``, so arithmetic after a move keeps the pair's precision
  (``reshape(d·1e-6 + 1) - 1`` is ``d·1e-6`` to float32's precision, where float32 leaves 1e-7 steps) and an argmax
  of a tiled cast is exact.
- ``tanh`` and ``sigmoid`` of float64 tensors: float32's function of the pair's ``hi`` plus ``f'(hi)·lo``, within
  the notice's 1e-7 of Keras's float64 result (measured 9.9e-8 on wasm over 180 000 values, tanh within 2.9 ulps).

- Keras 3's Layer-, Group- and RMSNormalization of int8/int16/uint8 inputs whose weights and sizes keep the float32
  result within the dtype's range (refused before: "TensorFlow's cast of floats outside int8's range depends on the
  tensor's size"; the traced path refuses them too): truncated as for int32. Others stay refused by name.

Each family converted once (TensorFlow, Keras and tf_keras poisoned), two sizes, TF.js cpu and wasm against Keras's
``model(x)``; the bound checked apart on a sweep of values. Float64 moved beside float32 stays refused by name
(session 29 lowers arithmetic on tanh results, and sin/cos of them, with a stated bound:
``test_keras_lowering_float64_s29.py``; session 32 computes sin/cos of values of unknown magnitude and products of
tanh results with tensors in float32 as the traced path does, named: ``test_issue16_gaps_a_s32.py``).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from keras_two_sizes import converted_fixture, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_k25_float64 import _refused  # noqa: E402  (saved, refused by pattern, nothing written)

#: Rows of ±Inf, ±0, large, tiny and exp-overflowing-in-float32-only values are avoided where Keras's float64 output is
#: finite past FLT_MAX (exp of x > 88.72: the exp notice's stated Inf); these stay within float32's range.
_SPECIAL = np.array([[np.inf, -np.inf, -0.0, 0.0, 30.0, -30.0], [1e-30, -1e-30, 80.0, -80.0, 0.5, -1e3]], np.float32)


def tf_moves(k: Any) -> Any:
    """tf_keras: float64 tanh/sigmoid (of a cast, of a pair, of an exp and a log), and moves of exact, paired and
    rounded float64 tensors, with arithmetic after the pair's moves; a float64 Input joined with its exp and a float64
    Dense's result (float32 values standing for float64 ones)."""
    x, w = k.Input((4, 6), name="x"), k.Input((4, 6), name="w", dtype=tf.float64)
    d = tf.cast(x, tf.float64)
    e = d * 1e-6 + 1.0  # a pair: float32 alone holds it to 1.2e-7
    r = tf.exp(d * 0.01)  # held rounded
    wide = k.layers.Dense(6, dtype="float64", name="wide")(w)  # computed in float32 for float64
    return k.Model([x, w], [tf.concat([tf.exp(w), w, wide], axis=-1), tf.stack([w, tf.reshape(d, (-1, 4, 6))], 1),
        tf.tanh(d), tf.math.sigmoid(d * 3.0 + d * 1e-3), tf.cast(tf.tanh(tf.exp(d * 0.5)), tf.float32),
        tf.math.sigmoid(tf.math.log(tf.abs(d))), tf.reshape(r, (-1, 24)), r[:, 1:3, ::2], tf.concat([r, d], axis=1),
        tf.cast(tf.reshape(e, (-1, 24)) - 1.0, tf.float32), tf.transpose(e, [0, 2, 1])[:, :2] * 1e6 - 1e6,
        tf.stack([e, e * 2.0], axis=1) - 1.0, tf.math.argmax(tf.tile(d, [1, 2, 1]), axis=-1, output_type=tf.int32),
        tf.expand_dims(tf.math.sigmoid(d), 1)], name="tf_moves")


def k3_moves(k: Any) -> Any:
    """Keras 3: the same through ``keras.ops``; float32 tensors joined with float64 ones (promoted exactly)."""
    ops = k.ops
    x, w = k.Input((4, 6), name="x"), k.Input((4, 6), name="w", dtype="float64")
    d = ops.cast(x, "float64")
    e = d * 1e-6 + 1.0
    r = ops.exp(d * 0.01)
    wide = k.layers.Dense(6, dtype="float64", name="wide")(w)  # computed in float32 for float64
    return k.Model([x, w], [ops.concatenate([x, ops.exp(w), w, wide, e], axis=-1), ops.stack([x, d], 1),
        ops.tanh(d), ops.sigmoid(d * 3.0 + d * 1e-3), ops.cast(ops.tanh(ops.exp(d * 0.5)), "float32"),
        ops.sigmoid(ops.log(ops.abs(d))), ops.reshape(r, (-1, 24)), r[:, 1:3, ::2], ops.concatenate([r, d], axis=1),
        ops.cast(ops.reshape(e, (-1, 24)) - 1.0, "float32"), ops.transpose(e, (0, 2, 1))[:, :2] * 1e6 - 1e6,
        ops.stack([e, e * 2.0], axis=1) - 1.0, ops.argmax(ops.tile(d, (1, 2, 1)), axis=-1),
        ops.expand_dims(ops.sigmoid(d), 1)], name="k3_moves")


def _inputs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Normal draws times 3 at two batch sizes, the special rows first."""
    runs = []
    for batch in (2, 5):
        values = (rng.standard_normal((batch, 4, 6)) * 3).astype(np.float32)
        values[0, :2] = _SPECIAL
        runs.append({"x": values, "w": values[::-1].astype(np.float64)})
    return runs


def k3_narrow_norms(k: Any) -> Any:
    """Keras 3 Layer-, Group- and RMSNormalization of int8, int16 and uint8 inputs whose weights keep the float32
    result within the dtype's range (``beta ± sqrt(n - 1)·|gamma|``; an RMSNormalization of uint8 with positive
    scales from 0 up): Keras casts it back, truncating."""
    a, b, u = (k.Input((4, 6), dtype=dtype, name=name) for dtype, name in (("int8", "a"), ("int16", "b"),
                                                                            ("uint8", "u")))
    layers = k.layers
    return k.Model([a, b, u], [layers.LayerNormalization(name="a_ln")(a), layers.GroupNormalization(2, name="a_gn")(a),
                               layers.RMSNormalization(name="a_rms")(a), layers.LayerNormalization(axis=[1, 2])(b),
                               layers.RMSNormalization(name="u_rms")(u)], name="k3_narrow_norms")


def _narrow_inputs(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """Integers over each dtype's whole range, a row of extremes first."""
    inputs = {}
    for name, dtype in (("a", np.int8), ("b", np.int16), ("u", np.uint8)):
        info = np.iinfo(dtype)
        values = rng.integers(info.min, int(info.max) + 1, (batch, 4, 6)).astype(dtype)
        values[0, 0] = [info.min, info.max, info.min, 0, info.max, 1]
        inputs[name] = values
    return inputs


def _save(family: str, flavor: str, folder: Any) -> tuple[Any, list, None]:
    """The float64 families through :func:`two_size_saver`; the narrow normalizations with random weights whose
    RMS scale for uint8 is made positive (Keras's result then lies from 0 up)."""
    if family != "k3_narrow_norms":
        return _FLOAT64_SAVE(family, flavor, folder)
    from keras_models import randomize
    from keras_two_sizes import keras_outputs
    from test_keras_lowering import case_file

    model = k3_narrow_norms(keras)
    randomize(model, 282)
    rms = model.get_layer("u_rms")
    rms.set_weights([np.abs(w) for w in rms.get_weights()])
    rng = np.random.default_rng(283)
    runs = [(inputs, keras_outputs(model, inputs)) for inputs in (_narrow_inputs(rng, n) for n in (2, 5))]
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, runs, None


FAMILIES = {"tf_moves": tf_moves, "k3_moves": k3_moves}
_FLOAT64_SAVE = two_size_saver(FAMILIES, _inputs, seed=281)
CASES = [("tf_moves", "tf_keras.h5"), ("k3_moves", "keras3.keras"), ("k3_moves", "keras3.h5"),
         ("k3_narrow_norms", "keras3.keras"), ("k3_narrow_norms", "keras3.h5")]
converted = converted_fixture("k28_dtypes", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_float64_moves_tanh_sigmoid_and_narrow_normalizations_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_float64_tanh_and_sigmoid_are_named_with_their_bound(converted):
    for case in CASES[:2]:
        path = converted[case][0]
        details = tfjsconv.convert(path, path.parent / f"{path.name}.again", output_format="tfjs_graph_model").details
        assert any(d.startswith("float64 tanh and sigmoid (op layers from") and "within 1.25e-07 of Keras's float64" in d
                   for d in details), details


@pytest.mark.node
def test_float64_tanh_and_sigmoid_within_the_stated_bound(tmp_path, tfjs_runtime):
    """The notice's bound on a sweep (normal draws from 1e-3 to 1e4 wide, a grid over ±20, specials): tanh and
    sigmoid of a cast, a pair and an exp/log result within 1e-7 of tf_keras's float64 result, tanh within 3 ulps."""
    import tf_keras as k

    from tfjsconv.verify.run import run_model

    x = k.Input((None,), name="x")
    d = tf.cast(x, tf.float64)
    pair, rounded, logged = d * 1000.0 + d * 1e-3, tf.exp(d * 0.01), tf.math.log(tf.abs(d))
    tanh = [tf.tanh(v) for v in (d, pair, rounded, logged)]
    model = k.Model(x, [*tanh, *[tf.math.sigmoid(v) for v in (d, pair, rounded, logged)]])
    model.save(tmp_path / "m.h5")
    tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    rng = np.random.default_rng(28)
    values = np.concatenate([rng.standard_normal(4000) * s for s in (1e-3, 0.3, 3, 30, 1e4)] +
                            [np.linspace(-20, 20, 4001), [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-30, 88.8, -105.0]])
    values = values.astype(np.float32)[None]
    want = [np.asarray(t, np.float64)[0] for t in model(values)]
    names = list(json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["outputs"])
    result = run_model(str(tmp_path / "out"), {"x": values}, backends=("cpu", "wasm"), quiet=True)
    for backend in ("cpu", "wasm"):
        for i, name in enumerate(names):
            got = np.asarray(result[backend].outputs[name], np.float64)[0]
            assert np.array_equal(np.isnan(got), np.isnan(want[i])), (backend, i)
            finite = ~np.isnan(want[i])
            error = np.abs(got[finite] - want[i][finite])
            assert error.max() <= 1e-7, (backend, i, error.max())
            if i < len(tanh):
                scale = np.maximum(np.abs(want[i][finite]), np.finfo(np.float32).tiny).astype(np.float32)
                assert (error / np.spacing(scale)).max() <= 3, (backend, i)


def test_arithmetic_on_a_float64_tanh_or_a_moved_exp_and_mixed_moves_are_refused_by_name(tmp_path):
    """Arithmetic on a stack holding an exp result (held rounded: since session 33 computed as the traced path
    computes it, named in the float64 notice), and a float64 tensor joined with an integer one (Keras 3 promotes it
    to float64; the move is refused by name). (A product of a tanh result and a tensor: computed
    in float32 as the traced path computes it since session 32, tests/test_issue16_gaps_a_s32.py.)"""
    x = keras.Input((4,), name="x")
    d = keras.ops.cast(x, "float64")
    import tf_keras as k

    y = k.Input((4,), name="y")
    model = k.Model(y, tf.stack([tf.cast(y, tf.float64), tf.exp(tf.cast(y, tf.float64))], 0) * 2.0)
    model.save(tmp_path / "stack.h5")  # since session 33 computed as the traced path computes it: named, not refused
    details = tfjsconv.convert(tmp_path / "stack.h5", tmp_path / "stack", output_format="tfjs_graph_model").details
    assert any(d.startswith("float64: TF.js has no float64") and "Mul " in d for d in details), details
    i = keras.Input((4,), name="i", dtype="int32")
    _refused(tmp_path, keras.Model([x, i], keras.ops.concatenate([d, i])), ".keras",
             r"'concatenate(_\d+)?'.*float64 values joined with integers")


def test_narrow_normalizations_are_named_in_the_integer_note(converted):
    """Review R2 (session 28): the one-unit truncation note names the 8/16-bit dtypes it now also applies to."""
    path = converted[("k3_narrow_norms", "keras3.keras")][0]
    details = tfjsconv.convert(path, path.parent / f"{path.name}.again", output_format="tfjs_graph_model").details
    notes = [d for d in details if d.startswith("Layer/Group/RMSNormalization of ")]
    assert len(notes) == 1 and all(name in notes[0] for name in ("int8", "int16", "uint8", "uint16")), details


def test_floats_into_an_8_bit_nested_input_stay_refused_by_name(tmp_path):
    """Keras casts floats to a nested int8/uint8 Input as TF's CPU cast does, by tensor size: 821770112.0 into int8
    is -128 among 16 values and 127 among 64 (measured, both flavours); ``--loader=tensorflow`` refuses it too."""
    y = keras.Input((4,), dtype="int8", name="y")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.Model(y, y, name="inner")(x))
    big = np.full((4, 4), 821770112.0, np.float32)
    assert np.asarray(model(big))[0, 0] != np.asarray(model(np.full((16, 4), 821770112.0, np.float32)))[0, 0]
    _refused(tmp_path, model, ".keras", r"'inner' \(Functional: Keras 3 casts the float32 tensor to the dtype of its "
                                        r"input 'y', int8")



def test_narrow_normalizations_not_proved_in_range_stay_refused_by_name(tmp_path):
    """An int8 LayerNormalization whose gamma of 100 can carry its result past 127 (``sqrt(5)·100``), and one of uint8
    (its default weights give negative results), stay refused: TensorFlow's cast of such floats depends on the
    tensor's size (``--loader=tensorflow`` refuses both too)."""
    a, u = keras.Input((6,), dtype="int8", name="a"), keras.Input((6,), dtype="uint8", name="u")
    wide = keras.layers.LayerNormalization(gamma_initializer=keras.initializers.Constant(100.0), name="wide")
    model = keras.Model([a, u], [wide(a), keras.layers.LayerNormalization(name="unsigned")(u)])
    _refused(tmp_path, model, ".keras", r"'wide' \(LayerNormalization\) on int8 integers .*'unsigned' "
                                        r"\(LayerNormalization\) on uint8 integers")


def test_rms_normalizations_with_a_zero_or_subnormal_epsilon_are_refused_by_name(tmp_path):
    """Review R2 (session 28): a row of zeros gives ``0 · rsqrt(0 + epsilon)``, NaN where epsilon is 0 or a subnormal
    TensorFlow flushes to 0 (TF.js keeps 1e-40: 0), and Keras's cast of NaN to int8 depends on the tensor's size
    (-128 among 32 rows, 0 among 2; TF.js gave INT32_MIN); of int32 Keras gives INT32_MIN where TF.js gave 0."""
    layers = keras.layers
    rows = np.array([[0] * 6, [1, 2, 3, 4, 5, 6]] + [[0] * 6] * 30, np.int8)
    zero = keras.Model(a := keras.Input((6,), dtype="int8", name="a"), layers.RMSNormalization(epsilon=0.0)(a))
    assert np.asarray(zero(rows))[0, 0] != np.asarray(zero(rows[:2]))[0, 0]  # Keras itself: by the tensor's size
    for dtype, epsilon in (("int8", 0.0), ("int16", 1e-40), ("int32", 1e-40)):
        x = keras.Input((6,), dtype=dtype, name="x")
        model = keras.Model(x, layers.RMSNormalization(epsilon=epsilon, name="rms")(x))
        (tmp_path / dtype).mkdir()
        _refused(tmp_path / dtype, model, ".keras", rf"'rms' \(RMSNormalization\) on {dtype} integers.*epsilon")


@pytest.mark.node
def test_float64_tanh_of_a_negative_zero_pair_keeps_its_sign(tmp_path, tfjs_runtime):
    """Review R2 (session 28): ``tanh(-0.0 · 0.1)`` is -0.0 in float64, so ``1 / cast(it)`` is -Inf; the pair's
    ``lo`` term (+0.0) added to -0.0 made it +0.0 (+Inf)."""
    from tfjsconv.verify.run import run_model

    x = keras.Input((4,), name="x")
    d = keras.ops.cast(x, "float64")
    model = keras.Model(x, [1.0 / keras.ops.cast(keras.ops.tanh(d * 0.1), "float32"),
                            1.0 / keras.ops.cast(keras.ops.tanh(d * 1e-30 + d), "float32")])
    model.save(tmp_path / "m.keras")
    tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    values = np.array([[-0.0, 0.0, -1.0, 1.0]], np.float32)
    want = [np.asarray(t) for t in model(values)]
    assert np.array_equal(want[0][0, :2], [-np.inf, np.inf])
    names = list(json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["outputs"])
    result = run_model(str(tmp_path / "out"), {"x": values}, backends=("cpu", "wasm"), quiet=True)
    for backend in ("cpu", "wasm"):
        for i, name in enumerate(names):
            got = np.asarray(result[backend].outputs[name])
            np.testing.assert_allclose(got, want[i], rtol=1e-6, err_msg=f"{backend} {name}")


def test_tanh_and_sigmoid_of_values_held_with_a_larger_error_are_named_as_traced(tmp_path):
    """Review R2 (session 28): the notice's 1e-7 holds for tanh/sigmoid of values held exactly, as pairs or as exp/log
    results (within 2 float32 ulps); a logsumexp result (within 1.2e-7·(n + max|x|): tanh of one was 9.7e-5 off on
    wasm over 10 000 values), a tanh or sigmoid result or a float64 layer's float32 result carries its own error,
    which the bound would not cover: refused by name until session 33, since then (h2b) computed as the traced path
    computes it and named in the float64 notice, not in the bounded one (numbers:
    tests/test_issue16_float64_rounded_s33.py)."""
    import tf_keras as k

    x = k.Input((6,), name="x")
    d = tf.cast(x, tf.float64)
    w, v = keras.Input((6,), name="w", dtype="float64"), keras.Input((6,), name="v")
    wide = keras.layers.Dense(6, dtype="float64", name="wide")(w)  # computed in float32 for float64
    cases = {"lse.h5": (k.Model(x, tf.tanh(tf.reduce_logsumexp(d, axis=-1))), "Tanh tf.math.tanh"),
             "twice.h5": (k.Model(x, tf.math.sigmoid(tf.tanh(d))), "Sigmoid tf.math.sigmoid"),
             "layer.keras": (keras.Model([w, v], keras.ops.tanh(keras.ops.concatenate([keras.ops.cast(v, "float64"),
                                                                                       wide]))), "Tanh tanh")}
    for name, (model, named) in cases.items():
        model.save(tmp_path / name)
        details = tfjsconv.convert(tmp_path / name, tmp_path / f"{name}.out", output_format="tfjs_graph_model").details
        assert any(d.startswith("float64: TF.js has no float64") and named in d for d in details), (name, details)
