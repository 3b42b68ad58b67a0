"""Issue 16 (session 33): float64 functions of values the lowering holds rounded as the traced path computes them.

Session 32 computed some float64 values as ``--loader=tensorflow`` computes them, in float32 under its float64
notice (sin/cos of values of unknown magnitude, a tanh result times a tensor, and ``+ - · /`` of such values). Any
other float64 function of them stayed refused by name: tanh and sigmoid ("held rounded to float32 with an error of
its own"), the reductions ("a float64 tensor held rounded to float32"), exp, log, logsumexp, softmax and norm ("a
float64 tensor"), while the traced path converts every one within 1e-7 of Keras's range here. They are now the traced
path's float32 function of the held float32 values, named in the same notice; moves and relu of such values keep
them so. A constant divisor of such a value is Grappler's product by its reciprocal, as in the traced graph.

Converted with TensorFlow, Keras and tf_keras poisoned and, again, with ``--loader=tensorflow``; run in TF.js cpu and
wasm: the lowered numbers equal the traced conversion's within 1e-7 of each output's range (``sin(d)/3`` bit for
bit), and both are within 1e-5 of the range of Keras's ``model(x)``.

Then (h2b) the float64 functions still refused while the traced path converts them: tanh/sigmoid of tanh, sigmoid
and logsumexp results, arithmetic and reductions of exp results, softmax/square/norm/maximum of plain casts, and
argmax/argmin/top_k of pairs and of traced values (float32's order, named): lowered as traced, compared the same
way. What the traced path gets wrong stays refused by name (sqrt after a cancellation, argmax of exp results,
constants past float32's range, floor of a pair).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from test_keras_lowering import LOWERED, POISONED, convert_poisoned  # noqa: E402

#: ``d``: large arguments (tanh saturates, sin of 3e7 keeps no digit past float32), moderate ones; ``dy`` moderate,
#: so the products of 8 values and the exponentials stay in range and no sum cancels.
_X = np.array([[0.5, -1.2, 8.0, -9.5, 20.0, 1e5, 3.0e7, 0.05],
               [0.3, -1.2, 2.5, -0.05, 11.0, -30.0, 0.9, 1.7]], np.float32)
_Y = np.array([[1.5, -3.0, 2.5, 0.7, -1.1, 0.25, 1.2, -4.0],
               [1.5, 2.0, -3.0, 4.0, 0.5, -0.7, 1.0, 0.9]], np.float32)


def _tf_keras_readers(k: Any) -> Any:
    """tf_keras float64 functions of ``p = tanh(d)·dy`` and ``s = sin(d)`` (both computed as traced)."""
    import tensorflow as tf

    x, y = k.Input((8,), name="x"), k.Input((8,), name="y")
    d, dy = tf.cast(x, tf.float64), tf.cast(y, tf.float64)
    p, s = tf.math.tanh(d) * dy, tf.math.sin(d)
    return k.Model([x, y], [
        tf.math.tanh(p), tf.math.sigmoid(p), tf.reduce_sum(p, axis=1), tf.reduce_mean(p, axis=1),
        tf.reduce_max(p, axis=1), tf.reduce_min(p, axis=1), tf.reduce_prod(p, axis=1),
        tf.reduce_logsumexp(p, axis=1), tf.nn.softmax(p), tf.norm(p, axis=1), tf.exp(s),
        tf.math.log(tf.abs(p) + 1.0), tf.math.tanh(tf.reshape(p, (-1, 2, 4))), tf.reduce_sum(tf.nn.relu(s), axis=1),
        s / 3.0])


def _keras3_readers(k: Any) -> Any:
    """Keras 3's float64 operations of the same kinds (:func:`_tf_keras_readers`)."""
    ops = k.ops
    x, y = k.Input((8,), name="x"), k.Input((8,), name="y")
    d, dy = ops.cast(x, "float64"), ops.cast(y, "float64")
    p, s = ops.tanh(d) * dy, ops.sin(d)
    return k.Model([x, y], [
        ops.tanh(p), ops.sigmoid(p), ops.sum(p, axis=1), ops.mean(p, axis=1), ops.max(p, axis=1),
        ops.min(p, axis=1), ops.prod(p, axis=1), ops.logsumexp(p, axis=1), ops.softmax(p), ops.norm(p, axis=1),
        ops.exp(s), ops.log(ops.abs(p) + 1.0), ops.tanh(ops.reshape(p, (-1, 2, 4))), ops.sum(ops.relu(s), axis=1),
        s / 3.0])


def _saved(tmp_path: Path, flavor: str) -> tuple[Any, Path]:
    import tf_keras

    import keras

    model = _tf_keras_readers(tf_keras) if flavor == "tf_keras" else _keras3_readers(keras)
    path = tmp_path / ("m.h5" if flavor == "tf_keras" else "m.keras")
    model.save(path)
    return model, path


def _outputs(folder: Path, inputs: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Each output of the converted model in ``folder``, in the signature's order, on TF.js cpu and wasm."""
    from tfjsconv.verify.run import run_model

    names = list(json.loads((folder / "model.json").read_text())["signature"]["outputs"])
    runs = run_model(str(folder), inputs, backends=["cpu", "wasm"], quiet=True)
    return {backend: [np.asarray(runs[backend].outputs[name], np.float64) for name in names]
            for backend in ("cpu", "wasm")}


def _assert_traced_numbers(lowered: dict, traced: dict, expected: list) -> None:
    """Each output of the lowered conversion within 1e-7 of its range of the traced one's and within 1e-5 of
    Keras's, on cpu and wasm."""
    for backend in ("cpu", "wasm"):
        for i, want in enumerate(expected):
            scale = np.abs(want).max()
            got, theirs = lowered[backend][i].reshape(want.shape), traced[backend][i].reshape(want.shape)
            assert np.abs(got - theirs).max() <= 1e-7 * scale, (backend, i, got, theirs)
            assert np.abs(got - want).max() <= 1e-5 * scale, (backend, i, got, want)


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras", "keras3"])
def test_float64_functions_of_traced_values_compute_as_the_traced_path(tmp_path, tfjs_runtime, flavor):
    """tanh, sigmoid, sum, mean, max, min, prod, logsumexp, softmax, norm, exp, log of values computed as the traced
    path computes them (and tanh of a reshape, a sum of a relu of them) were refused by name; now lowered as the
    traced path computes them: its numbers (within 1e-7 of the range, ``sin(d)/3`` exactly), Keras's within 1e-5,
    each op counted in the float64 notice."""
    import tfjsconv

    model, path = _saved(tmp_path, flavor)
    convert_poisoned([path])
    details = tfjsconv.convert(path, tmp_path / "again", output_format="tfjs_graph_model").details
    [line] = [d for d in details if d.startswith("float64: TF.js has no float64")]
    assert "19 float64 op(s)" in line, line  # p, s, 16 functions and steps of them (moves and relu not counted)
    tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    inputs = {"x": _X, "y": _Y}
    expected = [np.asarray(v, np.float64) for v in model(inputs)]
    lowered, traced = _outputs(Path(f"{path}.out"), inputs), _outputs(tmp_path / "traced", inputs)
    _assert_traced_numbers(lowered, traced, expected)
    for backend in ("cpu", "wasm"):
        assert np.array_equal(lowered[backend][-1], traced[backend][-1]), (backend, lowered[backend][-1])


#: Moderate arguments (exp(d/10), squares and norms in range; no two of ``d·0.1`` or ``tanh(d)·dy`` tie in float32).
_X2 = np.array([[0.5, -1.2, 8.0, -9.5, 20.0, 3.0, 0.05, -0.7],
                [0.3, -1.1, 2.5, -0.05, 11.0, -30.0, 0.9, 1.7]], np.float32)
_Y2 = np.array([[1.5, -3.0, 2.5, 0.7, -1.1, 0.25, 1.2, -4.0],
                [1.4, 2.0, -3.0, 4.0, 0.5, -0.6, 1.0, 0.8]], np.float32)


def _tf_keras_rest(k: Any) -> Any:
    """tf_keras float64 functions that session 33's h2 left refused while the traced path converts them: of values
    held rounded with an error of their own (tanh, sigmoid, logsumexp results), arithmetic and reductions of exp
    results, functions of plain casts no path covered (softmax, square, norm, maximum), and the orders (argmax,
    argmin, top_k) of pairs and of values computed as traced; floor and sign of plain casts (exact)."""
    import tensorflow as tf

    x, y = k.Input((8,), name="x"), k.Input((8,), name="y")
    d, dy = tf.cast(x, tf.float64), tf.cast(y, tf.float64)
    p = tf.math.tanh(d) * dy
    return k.Model([x, y], [
        tf.math.tanh(tf.math.tanh(d)), tf.math.sigmoid(tf.math.sigmoid(d)),
        tf.math.tanh(tf.reduce_logsumexp(d, axis=1)), tf.exp(d / 10.0) * 2.0,
        tf.math.log(tf.reduce_sum(tf.exp(d / 10.0), axis=1)), tf.nn.softmax(d), tf.math.square(d),
        tf.norm(d, axis=1), tf.maximum(d, dy), tf.reduce_sum(tf.math.tanh(d), axis=1),
        tf.math.tanh(d) + tf.exp(d / 10.0), tf.math.top_k(d * 0.1, k=3).values, tf.math.top_k(p, k=3).values,
        tf.math.argmax(d * 0.1, axis=1), tf.math.argmin(p, axis=1), tf.math.floor(d), tf.math.sign(d)])


def _keras3_rest(k: Any) -> Any:
    """Keras 3's operations of the same kinds (:func:`_tf_keras_rest`) but argmax/argmin (Keras 3's traced
    conversion of a float64 argmax holds an op TF.js lacks, so there is no traced model to compare with)."""
    ops = k.ops
    x, y = k.Input((8,), name="x"), k.Input((8,), name="y")
    d, dy = ops.cast(x, "float64"), ops.cast(y, "float64")
    p = ops.tanh(d) * dy
    return k.Model([x, y], [
        ops.tanh(ops.tanh(d)), ops.sigmoid(ops.sigmoid(d)), ops.tanh(ops.logsumexp(d, axis=1)),
        ops.exp(d / 10.0) * 2.0, ops.log(ops.sum(ops.exp(d / 10.0), axis=1)), ops.softmax(d), ops.square(d),
        ops.norm(d, axis=1), ops.maximum(d, dy), ops.sum(ops.tanh(d), axis=1), ops.tanh(d) + ops.exp(d / 10.0),
        ops.top_k(d * 0.1, 3)[0], ops.top_k(p, 3)[0], ops.floor(d), ops.round(d)])


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras", "keras3"])
def test_float64_functions_refused_by_h2_compute_as_the_traced_path(tmp_path, tfjs_runtime, flavor):
    """Each output was refused by name before ("tanh or sigmoid of a float64 tensor held rounded ...", "a float64
    tensor held rounded to float32", "a float64 tensor", "a top_k of a float64 tensor not held exactly", "an
    argmax/argmin of float64 values computed on pairs"); now the traced path's float32 computation: its numbers
    within 1e-7 of each output's range (its indices exactly), Keras's within 1e-5, orders named in the notice."""
    import tf_keras

    import keras
    import tfjsconv

    model = _tf_keras_rest(tf_keras) if flavor == "tf_keras" else _keras3_rest(keras)
    path = tmp_path / ("m.h5" if flavor == "tf_keras" else "m.keras")
    model.save(path)
    convert_poisoned([path])
    details = tfjsconv.convert(path, tmp_path / "again", output_format="tfjs_graph_model").details
    [line] = [d for d in details if d.startswith("float64: TF.js has no float64")]
    assert "TopKV2 " in line and "order float32 values" in line, line
    assert flavor != "tf_keras" or ("ArgMax " in line and "ArgMin " in line), line
    tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    inputs = {"x": _X2, "y": _Y2}
    expected = [np.asarray(v, np.float64) for v in model(inputs)]
    lowered, traced = _outputs(Path(f"{path}.out"), inputs), _outputs(tmp_path / "traced", inputs)
    _assert_traced_numbers(lowered, traced, expected)


@pytest.mark.parametrize("flavor", ["tf_keras", "keras3"])
def test_float64_results_past_float32s_range_stay_refused_by_name(tmp_path, flavor):
    """What the traced path gets wrong stays refused: sqrt of ``tanh(d) + 1`` (7.5e-5 of the range off after the
    cancellation near -1), an exp result's argmax (exp(-200) and exp(-150) both 0 in float32) and a product of a value
    computed as traced by 1e40 (Inf where Keras's float64 is finite: converted before, Inf), a floor of a pair (one
    float32 rounding from the other side of a whole number)."""
    import subprocess
    import sys

    import tf_keras

    import keras

    cases = {"sqrt": "sqrt of a float64 tanh/sigmoid result", "argmax": "argmax/argmin of float64 values held rounded",
             "huge": "outside float32's normal range", "jump": "its result jumps where the argument crosses"}
    for case, text in cases.items():
        if flavor == "tf_keras":
            import tensorflow as tf

            x = tf_keras.Input((8,), name="x")
            d = tf.cast(x, tf.float64)
            out = {"sqrt": lambda: tf.sqrt(tf.math.tanh(d) + 1.0), "argmax": lambda: tf.math.argmax(tf.exp(d), axis=1),
                   "huge": lambda: tf.math.sin(d) * 1e40,
                   "jump": lambda: tf.math.floor(d * 0.1)}[case]()
            model, suffix = tf_keras.Model(x, out), ".h5"
        else:
            ops = keras.ops
            x = keras.Input((8,), name="x")
            d = ops.cast(x, "float64")
            out = {"sqrt": lambda: ops.sqrt(ops.tanh(d) + 1.0), "argmax": lambda: ops.argmax(ops.exp(d), axis=1),
                   "huge": lambda: ops.sin(d) * 1e40,
                   "jump": lambda: ops.floor(d * 0.1)}[case]()
            model, suffix = keras.Model(x, out), ".keras"
        path = tmp_path / f"{case}{suffix}"
        model.save(path)
        out = subprocess.run([sys.executable, "-c", POISONED, str(path)], capture_output=True, text=True)
        assert LOWERED not in out.stdout, (case, out.stdout)
        assert text in out.stderr, (case, out.stderr[-2000:])


def _near_ties(rows: int) -> np.ndarray:
    """Rows ``[a, nextafter(a)]``: float32 neighbours whose float64 products by 0.1 (or quotients by 3) may round to
    one float32, or round apart in the other order (review R2's F1)."""
    a = np.random.RandomState(0).uniform(0.5, 4.0, rows).astype(np.float32)
    return np.stack([a, np.nextafter(a, np.float32(np.inf))], 1)


@pytest.mark.node
def test_argmax_and_argmin_of_float64_pairs_order_as_keras_on_near_ties(tmp_path, tfjs_runtime):
    """tf_keras argmax/argmin of pairs ordered the pairs' ``hi`` only, so on rows of float32 neighbours (m/ties_in.npz
    of review R2) their indices differed from Keras's (and the traced path's) on about 15% of rows; ordered by ``hi``
    then ``lo`` they are Keras's float64 order: equal indices on TF.js cpu and wasm."""
    import tensorflow as tf
    import tf_keras

    x = tf_keras.Input((2,), name="x")
    d = tf.cast(x, tf.float64)
    model = tf_keras.Model(x, [tf.math.argmax(d * 0.1, axis=1), tf.math.argmin(d * -0.7, axis=1),
                               tf.math.argmax(d / 3.0, axis=1)])
    path = tmp_path / "m.h5"
    model.save(path)
    convert_poisoned([path])
    inputs = {"x": _near_ties(300)}
    expected = [np.asarray(v) for v in model(inputs)]
    lowered = _outputs(Path(f"{path}.out"), inputs)
    for backend in ("cpu", "wasm"):
        for want, got in zip(expected, lowered[backend]):
            assert np.array_equal(got.reshape(want.shape), want), (backend, np.flatnonzero(got.ravel() != want))


def test_trunc_of_a_value_held_rounded_is_refused_by_name(tmp_path):
    """Keras 3's ``ops.trunc`` of a value computed as traced converted (review R2's M1: ``trunc(tanh(-9.5)·7)`` is
    -7 in float32, -6 in Keras): like floor, its result jumps, so it is refused by name."""
    import subprocess
    import sys

    import keras

    x = keras.Input((8,), name="x")
    d = keras.ops.cast(x, "float64")
    path = tmp_path / "trunc.keras"
    keras.Model(x, keras.ops.trunc(keras.ops.tanh(d) * 7.0)).save(path)
    out = subprocess.run([sys.executable, "-c", POISONED, str(path)], capture_output=True, text=True)
    assert LOWERED not in out.stdout, out.stdout
    assert "its result jumps where the argument crosses" in out.stderr, out.stderr[-2000:]


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras", "keras3"])
def test_maximum_and_minimum_of_exact_values_stay_exact(tmp_path, tfjs_runtime, flavor):
    """maximum/minimum of float64 values held exactly were held as traced (review R2's M2): a floor of them was
    refused and a product of them by 0.1 was float32's. Their result is one operand, so it is held exactly: the floor
    is Keras's exactly and the product is float64's rounded to float32 (pairs), on TF.js cpu and wasm."""
    import tensorflow as tf
    import tf_keras

    import keras

    ns = keras.ops if flavor == "keras3" else tf
    k = keras if flavor == "keras3" else tf_keras
    x, y = k.Input((8,), name="x"), k.Input((8,), name="y")
    d, dy = ns.cast(x, "float64"), ns.cast(y, "float64")
    model = k.Model([x, y], [ns.floor(ns.maximum(d, dy)), ns.minimum(d, dy) * 0.1 + ns.maximum(d, dy) * 0.3])
    path = tmp_path / ("m.h5" if flavor == "tf_keras" else "m.keras")
    model.save(path)
    convert_poisoned([path])
    inputs = {"x": _X2 * np.float32(1.37), "y": _Y2 * np.float32(0.71)}
    expected = [np.asarray(v, np.float64) for v in model(inputs)]
    lowered = _outputs(Path(f"{path}.out"), inputs)
    for backend in ("cpu", "wasm"):
        for want, got in zip(expected, lowered[backend]):
            assert np.array_equal(got.reshape(want.shape), want.astype(np.float32)), (backend, got, want)


def test_the_float64_notice_is_logged_once_per_conversion(tmp_path, caplog):
    """The float64 notice was logged again for each layer it names (review R2's M3: the CLI showed 1, 2, 3 copies,
    each longer); it is logged once, and the conversion's details hold the full line naming all three."""
    import logging

    import keras
    import tfjsconv

    x = keras.Input((8,), name="x")
    d = keras.ops.cast(x, "float64")
    path = tmp_path / "m.keras"
    keras.Model(x, [keras.ops.square(d), keras.ops.softmax(d), keras.ops.norm(d, axis=1)]).save(path)
    with caplog.at_level(logging.WARNING):
        details = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model").details
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("float64: TF.js has no float64")]
    assert len(logged) == 1, logged
    [line] = [d for d in details if d.startswith("float64: TF.js has no float64")]
    assert "3 float64 op(s)" in line, line
