"""Issue 16 gap audit, part A (session 32): a case the lowering refused where ``--loader=tensorflow`` converts.

A mask into tf_keras's TimeDistributed(TimeDistributed(model)) whose model has a float64 or float16 Input and reads
the mask (GlobalAveragePooling1D): tf_keras's wrappers hand the folded mask to the model, whose cast of the float32
steps to its Input's dtype makes a new tensor without it, so the layers inside compute unmasked; each wrapper then
reduces the input's mask to one entry per step of its own with ``any`` (the model's output carries none). The
lowering refused it by name ("mask into TimeDistributed(TimeDistributed(...)) around a nested model whose 'gap' ...
reads it, where tf_keras's cast to the model's Input dtype drops it"), and a mask of more axes than the wrappers'
("a mask of rank 4 over 2 time axes"); the traced path matched Keras (7.5e-8 float64, one float16 step float16).
A second TimeDistributed(GlobalAveragePooling1D) reads the reduced mask (steps whose rows are all padding dropped).
Also session 28's and 29's cases named as refused then (``cells_dense``, ``cells_pooled``; their refusal tests in
``test_keras_lowering_k28_td_masks.py`` and ``test_keras_lowering_masks_s29.py`` are gone).

Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm against Keras's ``model(x)``:
float64 within 1e-5 of the range, float16 within float16's precision (1e-2, as the other float16 tests; measured
5.7e-4, one float16 step). Before this change both conversions were refused (the fixture fails).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs, verify_runs_within  # noqa: E402

FEATURES, ROWS = 4, 3


def _wrapped_pooling(k: Any, dtype: str) -> Any:
    """Masking -> TD(TD(model: ``dtype`` Input, Dense, GlobalAveragePooling1D)) -> TD(GlobalAveragePooling1D)."""
    L = k.layers
    i = k.Input((ROWS, FEATURES), dtype=dtype, name="inner_in")
    inner = k.Model(i, L.GlobalAveragePooling1D(dtype=dtype, name="gap")(L.Dense(2, dtype=dtype, name="d")(i)),
                    name=f"inner_{dtype}")
    x = k.Input((None, 3, ROWS, FEATURES), name="x")
    steps = L.TimeDistributed(L.TimeDistributed(inner), name="td2")(L.Masking(0.0, name="mask")(x))
    return k.Model(x, [steps, L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_pool")(steps)])


def wrapped_float64(k: Any) -> Any:
    return _wrapped_pooling(k, "float64")


def wrapped_float16(k: Any) -> Any:
    return _wrapped_pooling(k, "float16")


def _inputs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Padding rows inside steps (dropped by no layer: the model reads no mask) and steps of padding only (dropped by
    the outer pooling); two batch sizes and lengths. ``half_sum``: ids padded at the ends of rows, two lengths."""
    if family in ("half_sum", "half_saturated"):
        return [_padded_ids(rng, steps) for steps in (5, 7)]
    runs = []
    for batch, length in ((2, 2), (3, 4)):
        shape = [batch, length] + [d or ROWS for d in model.inputs[0].shape[2:]]
        values = rng.standard_normal(shape).astype(np.float32)
        values[0, :, :, 1] = 0.0
        values[-1, 0, 1] = 0.0
        values[0, -1, 0] = 0.0
        runs.append({model.inputs[0].name.split(":")[0]: values})
    return runs


def cells_dense(k: Any) -> Any:
    """Session 28's refused case: a Dense model (no reader inside) under a mask of rank 4 over 2 time axes."""
    L = k.layers
    cells = k.Input((5, FEATURES), dtype="float64", name="cells")
    inner = k.Model(cells, L.Dense(2, dtype="float64", name="d")(cells), name="cell_model")
    grid = k.Input((None, None, 5, FEATURES), name="grid")
    return k.Model(grid, L.TimeDistributed(L.TimeDistributed(inner, name="td_in"), name="td_out")(
        L.Masking(0.0, name="masking")(grid)))


def cells_pooled(k: Any) -> Any:
    """Session 29's refused case: a GlobalAveragePooling1D model over rows of a length known at run time."""
    L = k.layers
    cells = k.Input((None, FEATURES), dtype="float64", name="cells")
    inner = k.Model(cells, L.GlobalAveragePooling1D(name="gap", dtype="float64")(cells), name="cell_model")
    grid = k.Input((None, None, None, FEATURES), name="grid")
    return k.Model(grid, L.TimeDistributed(L.TimeDistributed(inner, name="td_in"), name="td_out")(
        L.Masking(0.0, name="m")(grid)))


def half_sum(k: Any) -> Any:
    """h2's case 5: ``inner16(h + h, mask=m)`` of a mixed_float16 LSTM's float16 ``h`` (session 28's refused
    ``sum_given_mask``): TF's sum of two float16 tensors is float16, so tf_keras's cast to the float16 Input returns
    the tensor itself and the layers inside read the mask."""
    from test_keras_lowering_k28_float16 import sum_given_mask

    return sum_given_mask(k)


def half_saturated(k: Any) -> Any:
    """h2's case 5: ``inner16(saturate_cast(h, float32)·3, mask=m)`` (session 28's refused ``saturate_given_mask``):
    the result is float32, the dtype saturate_cast names, so tf_keras's cast to the float16 Input makes a new tensor
    without the mask and the layers inside read none."""
    from test_keras_lowering_k28_float16 import saturate_given_mask

    return saturate_given_mask(k)


def _padded_ids(rng: np.random.Generator, steps: int) -> dict[str, np.ndarray]:
    """Ids (1..11) padded with 0 at the ends of two of three rows."""
    ids = rng.integers(1, 12, (3, steps)).astype("int32")
    ids[0, 2:] = 0
    ids[2, steps - 1:] = 0
    return {"ids": ids}


FAMILIES = {"wrapped_float64": wrapped_float64, "wrapped_float16": wrapped_float16, "cells_dense": cells_dense,
            "cells_pooled": cells_pooled, "half_sum": half_sum, "half_saturated": half_saturated}
HALF_CASES = [("half_sum", "tf_keras.h5"), ("half_saturated", "tf_keras.h5")]
CASES = [(family, "tf_keras.h5") for family in FAMILIES if (family, "tf_keras.h5") not in HALF_CASES]
converted = converted_fixture("issue16_gaps_a_s32", [*CASES, *HALF_CASES], two_size_saver(FAMILIES, _inputs, seed=3201))


@pytest.mark.node
@each_case(CASES)
def test_masked_wrapped_models_of_other_input_dtypes_compute_unmasked_as_tf_keras(converted, tfjs_runtime, family,
                                                                                    flavor):
    path, runs, _ = converted[(family, flavor)]
    if family == "wrapped_float16":
        verify_runs_within(path, runs)
    else:
        verify_runs(path, runs)


@pytest.mark.node
@each_case(HALF_CASES)
def test_masked_float16_op_results_given_to_a_float16_model_read_the_mask_keras_gives(converted, tfjs_runtime, family,
                                                                                       flavor):
    """h2's case 5 (session 32): the lowering refused ``inner16(h + h, mask=m)`` and ``inner16(saturate_cast(h,
    float32)·3, mask=m)`` ("whether that is a new tensor without the mask is not known": the config tells no dtype of
    an op layer), which ``--loader=tensorflow`` converts within one float16 step. TF does not promote, so the sum of
    two float16 tensors is float16, and saturate_cast's result has the dtype it names (:func:`.call_facts.
    saved_output_dtype`): tf_keras's cast to the float16 Input is the sum itself (the mask read inside: a dropped
    mask is 12% off) and a new tensor of the saturated one (no mask read). Lowered with TensorFlow poisoned, TF.js
    cpu and wasm within float16's precision of Keras."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs_within(path, runs)


#: float32 arguments whose float32 product by 3 rounds (|3x| up to 3e10) and one exact product (3·0.5).
_PERIODIC_X = np.array([[0.5, 123456.79, -1e10, 7.0, 1e5, -2e7]], np.float32)


@pytest.mark.node
def test_traced_float64_sine_of_rounded_arguments_is_named_with_its_bound(tmp_path, tfjs_runtime):
    """``--loader=tensorflow`` converts tf_keras ``sin(cast(x, float64)·3)``, which the lowering refuses by name, and
    computes the product in float32: ``sin(3·-1e10)`` is 0.9933 in TF.js, 0.9991 in Keras (6e-3 of the range), where
    its float64 notice said only "about 7 significant digits". The notice now names the Sin and the bound
    (|x|·6e-8 radians), which the TF.js cpu and wasm results keep."""
    import tf_keras
    import tensorflow as tf

    import tfjsconv
    from tfjsconv.verify.run import run_model

    x = tf_keras.Input((6,), name="x")
    model = tf_keras.Model(x, tf.sin(tf.cast(x, tf.float64) * 3.0))
    model.save(tmp_path / "sine.h5")
    result = tfjsconv.convert(tmp_path / "sine.h5", tmp_path / "out", output_format="tfjs_graph_model",
                              loader="tensorflow")
    [line] = [d for d in result.details if d.startswith("float64: TF.js has no float64")]
    assert "of these, Sin " in line and "up to |x|·6e-8 radians" in line, line
    expected = np.asarray(model(_PERIODIC_X), np.float64)
    runs = run_model(tmp_path / "out", {"x": _PERIODIC_X}, backends=["cpu", "wasm"], quiet=True)
    bound = np.abs(3.0 * _PERIODIC_X.astype(np.float64)) * 6e-8 + 1e-6
    for backend in ("cpu", "wasm"):
        got = np.asarray(next(iter(runs[backend].outputs.values())), np.float64)
        assert (np.abs(got - expected) <= bound).all(), (backend, got, expected)
        assert np.abs(got - expected).max() > 1e-5, (backend, got, expected)  # the rounding the notice names


@pytest.mark.node
def test_traced_float16_unit_normalization_near_overflow_is_named(tmp_path, tfjs_runtime):
    """``--loader=tensorflow`` converts a float16 UnitNormalization over steps known at run time, which the lowering
    refuses by name, stating "n at run time: 0.13 at n = 256" of the sum. Near float16's overflow that does not hold:
    256 values near 16 sum to about 65500, TF's running float16 sum reaches inf (Keras 0) where TF.js's float32 sum
    stays finite (0.0626, the whole output range). The notice now says where its bounds end."""
    import tf_keras
    from test_keras_lowering_k28_float16 import unit_steps

    import tfjsconv
    from tfjsconv.verify.run import run_model

    model = unit_steps(tf_keras)
    model.save(tmp_path / "unit.h5")
    result = tfjsconv.convert(tmp_path / "unit.h5", tmp_path / "out", output_format="tfjs_graph_model",
                              loader="tensorflow")
    assert [d for d in result.details if "in several rounded steps" in d and
            "these bounds hold while a sum stays below 32768" in d], result.details
    rng = np.random.default_rng(32)
    x = (np.linspace(15.88, 16.0, 8, dtype=np.float32)[:, None, None] *
         (1 + 0.002 * rng.standard_normal((8, 256, 3)))).astype(np.float32)
    expected = np.asarray(model(x)[0], np.float64)
    got = np.asarray(next(iter(run_model(tmp_path / "out", {"x": x}, backends=["cpu"], quiet=True)["cpu"]
                               .outputs.values())), np.float64)
    assert np.abs(got - expected).max() > 0.5 * np.abs(expected).max(), (got, expected)  # the edge it names


def _unbounded_tf_keras(k: Any) -> Any:
    """tf_keras float64 op layers the lowering refused (no bound holds) where the traced path converts: sin/cos of
    casts of unknown magnitude and of ``1000·sigmoid`` (past ±100), a tanh result times a tensor, divided by one,
    and a tensor divided by a tanh result."""
    import tensorflow as tf

    x = k.Input((8,), name="x")
    d = tf.cast(x, tf.float64)
    return k.Model(x, [tf.sin(d * 3.0), tf.cos(d), tf.cos(tf.math.sigmoid(d) * 1000.0), tf.tanh(d) * d,
                       tf.tanh(d) / (d + 1.5), (d + 2.0) / tf.tanh(d)])


def _unbounded_keras3(k: Any) -> Any:
    """Keras 3's float64 ops of the same kinds (:func:`_unbounded_tf_keras`)."""
    x = k.Input((8,), name="x")
    d = k.ops.cast(x, "float64")
    return k.Model(x, [k.ops.sin(d * 3.0), k.ops.cos(d), k.ops.tanh(d) * d, k.ops.tanh(d) / (d + 1.5)])


#: Arguments whose float32 products by 3 round (up to 3e10), small ones and a normal row; none where a divisor is 0.
_UNBOUNDED_X = np.array([[0.5, 123456.79, -1e10, 7.0, 1e5, -2e7, 3.25, -0.7],
                         [0.3, -1.2, 2.5, -0.05, 11.0, -30.0, 0.9, 1.7]], np.float32)


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras", "keras3"])
def test_unbounded_float64_ops_compute_as_the_traced_path_and_are_named(tmp_path, tfjs_runtime, flavor):
    """Session 32 (lead's decision on h2's cases 1a/1b): float64 sin/cos of values of unknown magnitude, products of
    tanh results and tensors, divisions by tensors were refused by name ("sin and cos only of values known to lie
    within ±100", "a tensor of unknown magnitude", "divided by a tensor"), where ``--loader=tensorflow`` converts
    them in float32 with its float64 notice. They are now computed as the traced path computes them and named in that
    notice (the Sin/Cos clause too). Lowered with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm:
    sin/cos equal the traced conversion's numbers (the same float32 arguments) and keep its notice's |x|·6e-8 bound
    against Keras's float64; the tanh products and quotients within 1e-5 of the range (as the traced path's)."""
    import json

    import tf_keras
    from test_keras_lowering import convert_poisoned

    import keras
    import tfjsconv
    from tfjsconv.verify.run import run_model

    model = _unbounded_tf_keras(tf_keras) if flavor == "tf_keras" else _unbounded_keras3(keras)
    path = tmp_path / ("m.h5" if flavor == "tf_keras" else "m.keras")
    model.save(path)
    convert_poisoned([path])
    details = tfjsconv.convert(path, tmp_path / "again", output_format="tfjs_graph_model").details
    [line] = [d for d in details if d.startswith("float64: TF.js has no float64")]
    assert "where Keras computes them in float64" in line and "of these, Sin " in line and "Mul " in line \
        and "RealDiv " in line and "up to |x|·6e-8 radians" in line, line
    tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    expected = [np.asarray(v, np.float64) for v in model(_UNBOUNDED_X)]
    periodic = 3 if flavor == "tf_keras" else 2
    arguments = [3.0 * _UNBOUNDED_X, _UNBOUNDED_X, np.full(_UNBOUNDED_X.shape, 1000.0)][:periodic]
    results = {}
    for kind, folder in (("lowered", Path(f"{path}.out")), ("traced", tmp_path / "traced")):
        names = list(json.loads((folder / "model.json").read_text())["signature"]["outputs"])
        runs = run_model(str(folder), {"x": _UNBOUNDED_X}, backends=["cpu", "wasm"], quiet=True)
        for backend in ("cpu", "wasm"):
            results[kind, backend] = [np.asarray(runs[backend].outputs[name], np.float64) for name in names]
    for (kind, backend), got in results.items():
        for i, (g, want) in enumerate(zip(got, expected)):
            error = np.abs(g - want)
            if i < periodic:
                assert (error <= np.abs(arguments[i].astype(np.float64)) * 6e-8 + 1e-6).all(), (kind, backend, i, g)
                if kind == "lowered":  # the traced conversion's float32 arguments, so its numbers
                    assert np.abs(g - results["traced", backend][i]).max() <= 1e-7, (backend, i, g)
            else:
                assert error.max() <= 1e-5 * np.abs(want).max(), (kind, backend, i, error.max())


_TAN_X = np.array([[0.5, -1.2, 1e5, -3.0e7, 0.05, 1.0, -0.7, 2.5]], np.float32)


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras", "keras3"])
def test_float64_tan_computes_as_the_traced_path_and_is_named(tmp_path, tfjs_runtime, flavor):
    """Session 32 (lead, after h2b): float64 ``tan`` was refused by name where ``--loader=tensorflow`` converts it in
    float32 under its Sin/Cos/Tan clause. It is now the traced path's float32 Tan of the float32 argument, named in
    the same notice: equal to the traced conversion's numbers in TF.js cpu and wasm, and within the clause's bound of
    Keras's float64 (|x|·6e-8 radians, times tan's slope 1 + tan²)."""
    import json

    import tf_keras
    from test_keras_lowering import convert_poisoned

    import keras
    import tfjsconv
    from tfjsconv.verify.run import run_model

    if flavor == "tf_keras":
        import tensorflow as tf

        x = tf_keras.Input((8,), name="x")
        model = tf_keras.Model(x, tf.math.tan(tf.cast(x, tf.float64)))
    else:
        x = keras.Input((8,), name="x")
        model = keras.Model(x, keras.ops.tan(keras.ops.cast(x, "float64")))
    path = tmp_path / ("m.h5" if flavor == "tf_keras" else "m.keras")
    model.save(path)
    convert_poisoned([path])
    details = tfjsconv.convert(path, tmp_path / "again", output_format="tfjs_graph_model").details
    [line] = [d for d in details if d.startswith("float64: TF.js has no float64")]
    assert "of these, Tan " in line, line
    tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    want = np.asarray(model(_TAN_X), np.float64)
    slope = 1.0 + np.square(want)
    bound = np.abs(_TAN_X.astype(np.float64)) * 6e-8 * slope + 1e-6 * np.maximum(1.0, np.abs(want))
    got = {}
    for kind, folder in (("lowered", Path(f"{path}.out")), ("traced", tmp_path / "traced")):
        [name] = list(json.loads((folder / "model.json").read_text())["signature"]["outputs"])
        runs = run_model(str(folder), {"x": _TAN_X}, backends=["cpu", "wasm"], quiet=True)
        for backend in ("cpu", "wasm"):
            got[kind, backend] = np.asarray(runs[backend].outputs[name], np.float64).reshape(want.shape)
    for backend in ("cpu", "wasm"):
        assert np.abs(got["lowered", backend] - got["traced", backend]).max() <= 1e-7 * np.abs(want).max(), backend
        assert (np.abs(got["lowered", backend] - want) <= bound).all(), (backend, got["lowered", backend], want)


_ROUNDED_X = np.array([[0.5, -1.2, 8.0, -9.5, 20.0, 1e5, 3.0e7, 0.05]], np.float32)
_ROUNDED_Y = np.array([[1e4, -3.0, 2.5e3, 7.0, -1e6, 0.25, 12.0, -4e2]], np.float32)


def _on_rounded(k: Any, flavor: str) -> Any:
    """``tanh(d)·dy - dy`` and ``sin(d)·2`` of ``d, dy`` float64 casts of two inputs: arithmetic on values the
    lowering computes as the traced path computes them (a tanh result times a tensor, a sine of unknown magnitude)."""
    x, y = k.Input((8,), name="x"), k.Input((8,), name="y")
    if flavor == "tf_keras":
        import tensorflow as tf

        d, dy = tf.cast(x, tf.float64), tf.cast(y, tf.float64)
        return k.Model([x, y], [tf.math.tanh(d) * dy - dy, tf.math.sin(d) * 2.0])
    ops = k.ops
    d, dy = ops.cast(x, "float64"), ops.cast(y, "float64")
    return k.Model([x, y], [ops.tanh(d) * dy - dy, ops.sin(d) * 2.0])


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras", "keras3"])
def test_float64_arithmetic_on_traced_float32_values_computes_as_the_traced_path(tmp_path, tfjs_runtime, flavor):
    """Session 32 (h9): float64 arithmetic on a value the lowering held rounded to float32 as the traced path computes
    it (``tanh(d)·dy - dy``, ``sin(d)·2``) was refused ("a float64 tensor held rounded to float32"), where
    ``--loader=tensorflow`` converts it in float32 under its float64 notice. It is now the traced path's float32 op,
    named in the same notice: the lowered numbers (TensorFlow, Keras and tf_keras poisoned) equal the traced
    conversion's within 1e-7 of the output's range in TF.js cpu and wasm, cancellation included."""
    import json

    import tf_keras
    from test_keras_lowering import convert_poisoned

    import keras
    import tfjsconv
    from tfjsconv.verify.run import run_model

    model = _on_rounded(tf_keras if flavor == "tf_keras" else keras, flavor)
    path = tmp_path / ("m.h5" if flavor == "tf_keras" else "m.keras")
    model.save(path)
    convert_poisoned([path])
    details = tfjsconv.convert(path, tmp_path / "again", output_format="tfjs_graph_model").details
    [line] = [d for d in details if d.startswith("float64: TF.js has no float64")]
    assert "Sub " in line and line.count("Mul ") == 2 and "of these, Sin " in line, line
    tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    inputs = {"x": _ROUNDED_X, "y": _ROUNDED_Y}
    ranges = [np.abs(np.asarray(v, np.float64)).max() for v in model(inputs)]
    got = {}
    for kind, folder in (("lowered", Path(f"{path}.out")), ("traced", tmp_path / "traced")):
        names = list(json.loads((folder / "model.json").read_text())["signature"]["outputs"])
        runs = run_model(str(folder), inputs, backends=["cpu", "wasm"], quiet=True)
        for backend in ("cpu", "wasm"):
            got[kind, backend] = [np.asarray(runs[backend].outputs[name], np.float64) for name in names]
    for backend in ("cpu", "wasm"):
        for i, (lowered, traced) in enumerate(zip(got["lowered", backend], got["traced", backend])):
            assert np.abs(lowered - traced).max() <= 1e-7 * ranges[i], (backend, i, lowered, traced)
