"""Normalization layers and Dot on integer inputs, as Keras computes them (session 21, probe h2's W1 and W3).

Keras 3's Layer-, Group- and RMSNormalization compute integers in float32 and cast the result back to the input's
dtype (int32/int64 truncated toward zero, bool ``!= 0``); Layer- and GroupNormalization then cast it to float32,
RMSNormalization returns the integers. The lowering returned the untruncated float normalization (off by up to 1,
and a Dense after it off too). 8/16-bit inputs are refused by name: TensorFlow's cast of a float outside their
range depends on the tensor's size. tf_keras's LayerNormalization casts integers to float32 first: floats, as before.

Keras 3's Dot of int8 with int8 is an int32 matmul; of bool with bool a float32 dot cast back to bool; of other
8/16-bit integers a float32 dot cast back to their dtype (wrapping or saturating by tensor size): the lowering
returned the exact float32 dot (uint8: 81109 where Keras gives 213); now int8 and bool lower exactly, the others
are refused by name. Converted with TensorFlow, Keras and tf_keras poisoned, compared with Keras's ``model(x)`` in
TF.js cpu and wasm at two batch sizes (integers exact, dtypes too; float outputs holding whole numbers exact too).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import poisoned_refusals  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

#: Keras integer values the tests draw (a second row of large ones: the normalization of big ids).
SMALL, LARGE = 40, 10**6


def _norms(k, dtype: str):
    """Every integer normalization of one ``dtype`` input, on every axis form the lowering has (and a Dense after
    one: its floats carry the truncation)."""
    L = k.layers
    x = k.Input((6,), name="x", dtype=dtype)
    grid = L.Reshape((2, 3), name="grid")(x)  # integers moved: still ``dtype``
    outs = [L.LayerNormalization(name="ln")(x), L.LayerNormalization(rms_scaling=True, name="ln_rms")(x),
            L.LayerNormalization(center=False, scale=False, name="ln_plain")(grid),
            L.LayerNormalization(axis=1, name="ln_axis1")(grid), L.GroupNormalization(groups=2, name="gn")(x),
            L.GroupNormalization(groups=2, axis=1, name="gn_axis1")(L.Reshape((2, 3), name="grid2")(x)),
            L.RMSNormalization(name="rms")(x), L.RMSNormalization(name="rms_grid")(grid),
            L.TimeDistributed(L.RMSNormalization(name="rms_step"), name="td_rms")(grid),
            L.Dense(3, name="dense")(L.LayerNormalization(name="ln_dense")(x))]
    if dtype != "bool":  # Keras keeps RMSNormalization's integers: an integer merge after it
        outs.append(L.Add(name="add_rms")([L.RMSNormalization(name="rms_add")(x), x]))
    return k.Model(x, outs)


def _tf_keras_norms(k):
    """tf_keras's LayerNormalization casts integers to float32 first: its floats, unchanged."""
    x = k.Input((6,), name="x", dtype="int32")
    ln = k.layers.LayerNormalization(name="ln")(x)
    return k.Model(x, [ln, k.layers.Dense(3, name="dense")(ln)])


def _unknown_sizes(k):
    """Normalizations over sizes known only at run time (GroupNormalization's run-time view, LayerNormalization
    without weights) of int32 steps."""
    L = k.layers
    x = k.Input((None, 4), name="x", dtype="int32")
    return k.Model(x, [L.GroupNormalization(groups=2, name="gn")(x),
                       L.LayerNormalization(axis=1, center=False, scale=False, name="ln_steps")(x),
                       L.RMSNormalization(name="rms")(x)])


def _int8_dots(k):
    """int8 Dot over every rank pair and size the lowering distinguishes: Keras's int32 results."""
    L = k.layers
    i8 = {name: k.Input(shape, name=name, dtype="int8") for name, shape in (
        ("a", (6,)), ("b", (6,)), ("c", (4, 3)), ("d", (4, 5)), ("e", (1100,)), ("f", (None, 3)), ("g", (None, 2)),
        ("h", (6, 2)))}
    return k.Model(list(i8.values()), [
        L.Dot(axes=1, name="rank2")([i8["a"], i8["b"]]), L.Dot(axes=1, name="rank3")([i8["c"], i8["d"]]),
        L.Dot(axes=2, name="rank3_last")([i8["c"], i8["c"]]), L.Dot(axes=1, name="many_terms")([i8["e"], i8["e"]]),
        L.Dot(axes=1, name="unknown_terms")([i8["f"], i8["g"]]), L.Dot(axes=1, name="ranks_2_3")([i8["a"], i8["h"]])])


def _bool_dots(k):
    p, q = k.Input((6,), name="p", dtype="bool"), k.Input((6,), name="q", dtype="bool")
    r = k.Input((4, 3), name="r", dtype="bool")
    return k.Model([p, q, r], [k.layers.Dot(axes=1, name="dot")([p, q]),
                               k.layers.Dot(axes=2, name="dot3")([r, r])])


FAMILIES = {"int32_norms": lambda k: _norms(k, "int32"), "int64_norms": lambda k: _norms(k, "int64"),
            "bool_norms": lambda k: _norms(k, "bool"), "tf_keras_norms": _tf_keras_norms, "unknown_sizes": _unknown_sizes,
            "int8_dots": _int8_dots, "bool_dots": _bool_dots}
CASES = [(family, flavor) for family in FAMILIES for flavor in (
    ("tf_keras.h5",) if family == "tf_keras_norms" else ("keras3.keras", "keras3.h5"))]


def _values(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Small integers, a row of large ones (int32/int64), int8 rows at the extremes (a dot past 2^24), bools."""
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype == "int8":
        out = rng.integers(-128, 128, shape)
        if shape[0] > 1:  # all -128 but one: the dot of this row with itself is 1099 · 2^14 + 1, past 2^24
            out[0] = -128
            out[0].reshape(-1)[0] = 1
        return out.astype(dtype)
    out = rng.integers(-SMALL, SMALL + 1, shape)
    if shape[0] > 1:
        out[0] = rng.integers(-LARGE, LARGE + 1, shape[1:])
    return out.astype(dtype)


def _inputs(model, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """Each model input at ``batch``, its unknown sizes at ``length``."""
    out = {}
    for t in model.inputs:
        shape = (batch, *(length if d is None else d for d in tuple(t.shape)[1:]))
        out[t.name.split(":")[0]] = _values(rng, str(getattr(t.dtype, "name", t.dtype)), shape)
    return out


converted = converted_fixture("s21_int_norms_dot", CASES, two_size_saver(FAMILIES, at_runs(_inputs, [(3, 5), (1, 2)]),
                                                                        seed=21))


def _whole_floats_exact(path: Path, runs: list) -> None:
    """Float outputs Keras gives as whole numbers (a truncated normalization) are exactly those numbers in TF.js,
    where float32 has fractions to truncate (below 2^23; beyond, the tolerance of :func:`verify_runs` holds)."""
    from tfjsconv.verify.run import run_model

    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    for inputs, outputs in runs:
        result = run_model(out, inputs, backends=("cpu", "wasm"), quiet=True)
        for backend in ("cpu", "wasm"):
            got = result.outputs(backend)
            for name, want in zip(names, outputs, strict=True):
                if want.dtype.kind == "f" and np.array_equal(want, np.trunc(want)):
                    small = np.abs(want) < 2**23
                    np.testing.assert_array_equal(got[name][small], want[small], err_msg=f"{name} on {backend}")


@pytest.mark.node
@each_case(CASES)
def test_integer_normalizations_and_dots_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    outputs = runs[0][1]
    if family.endswith("norms") and family != "tf_keras_norms":
        assert any(o.dtype.kind == "f" and np.array_equal(o, np.trunc(o)) for o in outputs)  # Keras truncates
        assert any(o.dtype.kind in "iub" for o in outputs)  # RMSNormalization keeps the dtype
    if family.endswith("dots"):
        assert all(o.dtype.kind in ("i" if family == "int8_dots" else "b") for o in outputs)
    verify_runs(path, runs)
    _whole_floats_exact(path, runs)


def _special_values_model(dtype: str):
    """epsilon=0 (a constant row normalizes to NaN: INT_MIN) and a gamma of 1e12 (past int32's range: INT32_MIN in
    int32, the whole float in int64) on ``dtype`` integers."""
    L = keras.layers
    x = keras.Input((6,), name="x", dtype=dtype)
    model = keras.Model(x, [L.LayerNormalization(epsilon=0.0, name="ln_eps0")(x),
                            L.RMSNormalization(epsilon=0.0, name="rms_eps0")(x),
                            L.LayerNormalization(name="ln_huge")(x), L.GroupNormalization(3, name="gn_huge")(x)])
    for layer in model.layers[1:]:
        weights = [np.full(w.shape, 1e12 if "huge" in layer.name and i == 0 else 0.5 + i, np.float32)
                   for i, w in enumerate(layer.get_weights())]
        layer.set_weights(weights)
    return model


@pytest.mark.node
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_nan_and_out_of_range_results_cast_as_tensorflow_casts(tmp_path, tfjs_runtime, dtype):
    """TF's CPU casts: NaN and magnitudes from 2^31 to int32 are INT32_MIN; to int64 NaN is INT64_MIN and a float32
    within int64's range its own whole value (Keras then casts Layer- and GroupNormalization's back to float32)."""
    from keras_models import save_with_outputs
    from test_keras_lowering import _verify, convert_poisoned

    model = _special_values_model(dtype)
    x = np.array([[5, 5, 5, 5, 5, 5], [0, 0, 0, 0, 0, 0], [3, -7, 2, 40, -1, 9]], dtype)
    saved = [save_with_outputs(model, {"x": x}, tmp_path / f"m{suffix}") for suffix in (".keras", ".h5")]
    outputs = saved[0][2]
    assert np.isin(outputs[0], [-2.0**31, -2.0**63]).any() and outputs[1].min() == np.iinfo(dtype).min
    assert np.abs(outputs[2]).max() >= 2**31
    convert_poisoned([path for path, _, _ in saved])
    for path, inputs, outs in saved:
        outs = [o.astype(np.int32) if o.dtype == np.int64 else o for o in outs]  # TF.js holds int64's low 32 bits
        _verify(Path(f"{path}.out"), inputs, outs)
        _whole_floats_exact(path, [(inputs, outs)])


def _one_layer(dtype: str, layer, shape: tuple[int, ...] = (6,)):
    x = keras.Input(shape, name="x", dtype=dtype)
    return keras.Model(x, layer(x))


def _dot(dtypes: tuple[str, str]):
    a, b = keras.Input((4,), name="a", dtype=dtypes[0]), keras.Input((4,), name="b", dtype=dtypes[1])
    return keras.Model([a, b], keras.layers.Dot(axes=1, name="dot")([a, b]))


def test_small_integer_normalizations_and_dots_are_refused_by_name(tmp_path):
    """8/16-bit integers into the normalizations, and Dots Keras casts back to an 8/16-bit dtype: refused by name
    (TensorFlow's cast of an out-of-range float to them wraps in small tensors and saturates in large ones); since
    session 28 the normalizations whose weights and sizes keep the result in range lower
    (``tests/test_keras_lowering_k28_dtypes.py``), so these can leave it: a gamma of 200, sqrt(20000) > 127."""
    L = keras.layers
    wide = keras.initializers.Constant(200.0)
    messages = poisoned_refusals(tmp_path, [
        _one_layer("uint8", L.LayerNormalization(name="ln")),
        _one_layer("int8", L.GroupNormalization(2, gamma_initializer=wide, name="gn")),
        _one_layer("int8", L.RMSNormalization(name="rms"), (20000,)), _one_layer("uint16", L.LayerNormalization(name="ln")),
        _dot(("uint8", "uint8")), _dot(("int16", "int16")), _dot(("uint16", "uint16")), _dot(("int8", "uint8"))])
    for message, (layer, cls, dtype) in zip(messages, [
            ("ln", "LayerNormalization", "uint8"), ("gn", "GroupNormalization", "int8"),
            ("rms", "RMSNormalization", "int8"), ("ln", "LayerNormalization", "uint16")]):
        assert f"'{layer}' ({cls}) on {dtype} integers (Keras casts its float32 result back to them" in message
    for message, names in zip(messages[4:], ["uint8", "int16", "uint16", "int8/uint8"]):
        assert f"'dot' (Dot) on {names} integers (Keras 3 casts the float32 dot back to their dtype" in message


def test_integer_normalizations_are_named_in_the_warnings(tmp_path, caplog):
    """Review R1 (session 21): a row ``[a, -a, a, -a]`` normalizes to within a float32 rounding of ±1, which
    truncates to 0 or ±1 by TF's or TF.js's rounding of rsqrt (34 to 61 of 400 such rows differed on cpu/wasm, and
    Keras's own result changes with the batch): the conversion says so; bool inputs (``!= 0``) do not need it."""
    import keras

    import tfjsconv
    from tfjsconv.plugins.keras.lowering.normalization import INTEGER_NORMALIZATION_NOTE

    for dtype, named in (("int32", True), ("bool", False)):
        x = keras.Input((4,), name="x", dtype=dtype)
        keras.Model(x, keras.layers.LayerNormalization()(x)).save(tmp_path / f"{dtype}.keras")
        caplog.clear()
        with caplog.at_level("WARNING"):
            tfjsconv.convert(tmp_path / f"{dtype}.keras", tmp_path / f"{dtype}_out", output_format="tfjs_graph_model")
        assert (INTEGER_NORMALIZATION_NOTE in caplog.text) is named, caplog.text
