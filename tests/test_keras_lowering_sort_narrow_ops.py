"""Op layers lowered in session 13: ``sort``/``argsort`` (tf_keras ``tf.sort``/``tf.argsort``, Keras 3
``ops.sort``/``ops.argsort``), Keras 3 ``ops.sum`` of uint8/uint16, 8/16-bit ``prod``/``cumsum``/``cumprod`` and
``floor_divide`` of int64 ids.

As in ``test_keras_lowering_op_layers_more.py``: functional models saved by tf_keras (``.h5``) and Keras 3
(``.keras``), converted to graph models in a process where TensorFlow, Keras and tf_keras cannot be imported, run in
real TF.js (cpu and wasm; webgl for sort) and compared with Keras's own ``model(x)``: integers exactly, floats
within 1e-5. The sort inputs hold ties (their indices' order), -0.0 beside +0.0, ±Inf, ±FLT_MAX, int32 extremes
(INT32_MIN, whose negation overflows), int64 ids, 8-bit integers and an axis of unknown length (k from Shape). NaN,
whose order is TF's kernel's own (TF.js's TopK ranks it otherwise), is named by the conversion's special-values line.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

INF, BIG = np.inf, float(np.finfo(np.float32).max)
I32_MIN, I32_MAX = -2**31, 2**31 - 1
#: Rows of 6 floats: ties, -0.0 beside +0.0 both ways, ±Inf, ±FLT_MAX.
FLOAT_ROWS = np.array([[1, 0.5, 1, -2, 0.5, 1], [-0.0, 0.0, -0.0, 0.0, 1, -1], [0.0, -0.0, INF, -INF, BIG, -BIG],
                       [INF, INF, -INF, -INF, 3, 3], [-BIG, BIG, -BIG, BIG, 0, -0.0], [7, 6, 5, 4, 3, 2]], np.float32)
#: int32 ids: the extremes (INT32_MIN's negation wraps), ties, values past 2^24.
INT_ROWS = np.array([[I32_MIN, I32_MAX, 0, -1, I32_MIN, 5], [3, 3, -3, 2**24 + 1, 2**24, -(2**24) - 1],
                     [0, 0, 0, 0, 0, 0]], np.int32)
#: uint8/int8 values (as int32 here; cast to the input's dtype): ties, 0, 255 / -128, 127.
NARROW_ROWS = np.array([[255, 0, 7, 255, 128, 1], [3, 3, 3, 0, 200, 127]], np.int32)


def _tf():
    pytest.importorskip("tf_keras")
    return pytest.importorskip("tensorflow")


def tf_sort_model():
    """``tf.sort``/``tf.argsort`` on tf_keras tensors (each a TFOpLambda), ascending and descending, every axis."""
    tf = _tf()
    import tf_keras as k

    x, ids = k.Input((6, 6), name="x"), k.Input((3, 6), name="ids", dtype="int32")
    big, var = k.Input((6,), name="big", dtype="int64"), k.Input((None,), name="var")
    floats = [tf.sort(x), tf.sort(x, direction="DESCENDING"), tf.sort(x, axis=1),
              tf.sort(x, axis=1, direction="DESCENDING"), tf.sort(var), tf.sort(var, direction="DESCENDING")]
    integers = [tf.argsort(x), tf.argsort(x, direction="DESCENDING"), tf.argsort(x, axis=1, stable=True),
                tf.argsort(x, axis=-2, direction="DESCENDING"), tf.sort(ids), tf.sort(ids, axis=1),
                tf.sort(ids, direction="DESCENDING"), tf.argsort(ids), tf.argsort(ids, axis=1, direction="DESCENDING"),
                tf.sort(big), tf.argsort(big), tf.argsort(var), tf.argsort(var, direction="DESCENDING")]
    return k.Model([x, ids, big, var], floats + integers)


def keras3_sort_model():
    """``keras.ops.sort``/``argsort`` (ascending only), on floats, int32, 8-bit integers, over the flattened tensor
    (``axis=None``: batch included, k from Shape) and along an axis of unknown length."""
    o = keras.ops
    x, ids = keras.Input((6, 6), name="x"), keras.Input((3, 6), name="ids", dtype="int32")
    u8, i8 = keras.Input((2, 6), name="u8", dtype="uint8"), keras.Input((2, 6), name="i8", dtype="int8")
    var = keras.Input((None,), name="var")
    outputs = [o.sort(x), o.sort(x, axis=1), o.sort(x, axis=None), o.sort(var), o.argsort(x), o.argsort(x, axis=-2),
               o.argsort(x, axis=None), o.argsort(var), o.sort(ids), o.sort(ids, axis=1), o.argsort(ids),
               o.argsort(ids, axis=1), o.sort(u8), o.argsort(u8, axis=1), o.sort(i8, axis=1), o.argsort(i8),
               o.sort(u8) + o.sort(u8, axis=1),  # the sorted uint8 values stay uint8: their sum wraps
               o.argsort(keras.layers.Cropping1D((0, 1))(i8))]  # integers the walk holds as float32 (exactly)
    return keras.Model([x, ids, u8, i8, var], outputs)


SORT_MODELS = {"tf_sort": (tf_sort_model, ".h5"), "keras3_sort": (keras3_sort_model, ".keras"),
               "keras3_sort_h5": (keras3_sort_model, ".h5")}


def _sort_inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.stack([FLOAT_ROWS, FLOAT_ROWS[::-1, ::-1].T])
    noisy = np.round(rng.standard_normal((2, 5)) * 2) / 2  # ties
    return {"x": x, "ids": np.stack([INT_ROWS, -INT_ROWS[::-1] - 1]), "big": INT_ROWS[:2], "var": noisy,
            "u8": np.stack([NARROW_ROWS, NARROW_ROWS[::-1]]), "i8": np.stack([NARROW_ROWS - 128, 127 - NARROW_ROWS])}


def _save(models: dict, case: str, inputs_of, folder: Path):
    build, suffix = models[case]
    model = build()
    dtypes = {t.name.split(":")[0]: getattr(t.dtype, "name", t.dtype) for t in model.inputs}  # tf.DType or str
    inputs = {name: inputs_of(1)[name].astype(dtypes[name]) for name in dtypes}
    return save_with_outputs(model, inputs, folder / f"{case}{suffix}")


@pytest.fixture(scope="module")
def sorted_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sort")
    saved = {case: _save(SORT_MODELS, case, _sort_inputs, folder) for case in SORT_MODELS}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(SORT_MODELS))
def test_sort_and_argsort_lower_and_match_keras(sorted_models, tfjs_runtime, case):
    path, inputs, outputs = sorted_models[case]
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
@pytest.mark.parametrize("case", ["tf_sort", "keras3_sort"])
def test_sort_and_argsort_match_keras_on_webgl(sorted_models, browser, case):
    """The same on webgl (headless Chromium), every output, int32 extremes included (these small int32 tensors stay
    on the cpu there; webgl's int32 Sub, whose shaders hold int32 as float32, is on the special-values line)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = sorted_models[case]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    expected = dict(zip(names, outputs, strict=True))
    report = verify_model(out, inputs, expected, backends=("webgl",), rtol=1e-5, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


def test_sort_of_nan_is_named_by_the_special_values_line(tmp_path):
    """TF's order of NaN is its TopK kernel's own; TF.js's differs (the contract's TopKV2 deviation on cpu, wasm and
    webgl): a float sort's conversion names it, an integer one's does not."""
    import tfjsconv

    tf = _tf()
    import tf_keras as k

    x, ids = k.Input((6,), name="x"), k.Input((6,), name="ids", dtype="int32")
    k.Model(x, tf.sort(x)).save(tmp_path / "floats.h5")
    k.Model(ids, tf.argsort(ids)).save(tmp_path / "ints.h5")
    result = tfjsconv.convert(tmp_path / "floats.h5", tmp_path / "floats", output_format="tfjs_graph_model")
    assert any("TopKV2 (cpu, wasm, webgl)" in n for n in result.notices), result.notices
    result = tfjsconv.convert(tmp_path / "ints.h5", tmp_path / "ints", output_format="tfjs_graph_model")
    assert not any("TopKV2" in n for n in result.notices), result.notices


def _refusal(tmp_path: Path, model, name: str = "model") -> str:
    """The lowering's message for a model it must refuse (a gap names the layer and why)."""
    import tfjsconv
    from tfjsconv.errors import InputError, UsageError

    model.save(tmp_path / f"{name}.keras")
    with pytest.raises((UsageError, InputError)) as err:
        tfjsconv.convert(tmp_path / f"{name}.keras", tmp_path / f"{name}_out", output_format="tfjs_graph_model")
    return " ".join(str(err.value).split())


# -- Keras 3 sum of uint8/uint16 (uint32 in Keras) ------------------------------------------------------------------
def keras3_unsigned_sum_model():
    """``ops.sum`` of uint8/uint16 over axes of known sizes (Keras 3 sums in uint32), then the ops that read the
    uint32 sums exactly: casts, comparisons, reshapes."""
    o = keras.ops
    u8, u16 = keras.Input((3, 6), name="u8", dtype="uint8"), keras.Input((4,), name="u16", dtype="uint16")
    rows = o.sum(u8, axis=-1)
    return keras.Model([u8, u16], [rows, o.sum(u8, axis=(1, 2), keepdims=True), o.sum(u16, axis=1),
                                   o.cast(rows, "float32") * 0.5, o.greater(o.sum(u16, axis=-1), 100000),
                                   o.reshape(rows, (-1, 3, 1)), o.sum(keras.layers.Cropping1D(1)(u8), axis=1)])


def _unsigned_inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    u8 = rng.integers(0, 256, (2, 3, 6))
    u8[0] = 255  # the largest sums
    u16 = rng.integers(0, 65536, (2, 4))
    u16[1] = 65535
    return {"u8": u8, "u16": u16}


UNSIGNED_MODELS = {"keras3_unsigned_sum": (keras3_unsigned_sum_model, ".keras"),
                   "keras3_unsigned_sum_h5": (keras3_unsigned_sum_model, ".h5")}


@pytest.mark.node
def test_keras3_sum_of_uint8_and_uint16_lowers_and_matches_keras(tmp_path, tfjs_runtime):
    saved = {case: _save(UNSIGNED_MODELS, case, _unsigned_inputs, tmp_path) for case in UNSIGNED_MODELS}
    convert_poisoned([path for path, _, _ in saved.values()])
    for path, inputs, outputs in saved.values():
        assert outputs[0].dtype == np.uint32 and outputs[0].max() == 6 * 255
        _verify(Path(f"{path}.out"), inputs, outputs)


def test_keras3_uint32_sums_that_may_not_fit_or_wrap_stay_refused_by_name(tmp_path):
    """A sum over the batch (``axis=None``: a count unknown in the config) or of more values than 2^24 / max holds,
    and uint32 arithmetic after a lowered sum (it wraps otherwise than int32), stay gaps naming the layer."""
    o = keras.ops
    u8, u16 = keras.Input((3, 6), name="u8", dtype="uint8"), keras.Input((300,), name="u16", dtype="uint16")
    assert re.search(r"'sum\w*' \(Sum\): a uint32 sum of uint8 integers over axes of sizes \[None, 3, 6\]",
                     _refusal(tmp_path, keras.Model(u8, o.sum(u8)), "all"))
    assert "a uint32 sum of uint16 integers over axes of sizes [300]" in \
        _refusal(tmp_path, keras.Model(u16, o.sum(u16, axis=1)), "big")
    rows = o.sum(u8, axis=-1)
    assert re.search(r"'subtract\w*' \(keras\.ops\.Subtract\) on integers whose Keras dtype the lowering does not "
                     r"follow", _refusal(tmp_path, keras.Model(u8, o.subtract(rows, 1)), "minus"))
    assert "on integers that went through a layer whose Keras result dtype the lowering does not follow" in \
        _refusal(tmp_path, keras.Model(u8, keras.layers.Subtract()([rows, rows[:, :1]])), "layer")


# -- 8/16-bit prod, cumsum, cumprod; floor_divide of int64 ids ------------------------------------------------------
def keras3_narrow_model():
    """Keras 3 ``cumsum``/``cumprod`` (in the 8/16-bit dtype, wrapping), ``prod`` of int8/int16 (in int32, wrapping
    modulo 2^32), then an add of the wrapped results (in uint8 again); ``prod``/``cumprod`` of int32 past 2^53;
    ``floor_divide`` of int64 ids."""
    o = keras.ops
    u8, i8 = keras.Input((2, 6), name="u8", dtype="uint8"), keras.Input((2, 6), name="i8", dtype="int8")
    i16, u16 = keras.Input((3, 4), name="i16", dtype="int16"), keras.Input((2, 6), name="u16", dtype="uint16")
    ids, by = keras.Input((6,), name="ids", dtype="int64"), keras.Input((6,), name="by", dtype="int64")
    wide = keras.Input((6,), name="wide", dtype="int32")
    outputs = [o.prod(wide, axis=-1), o.cumprod(wide, axis=1), o.cumsum(u8, axis=-1), o.cumsum(i8, axis=1),
               o.cumsum(i16, axis=2), o.cumprod(u8, axis=-1),
               o.cumprod(i8, axis=1), o.cumprod(i16, axis=-1), o.cumprod(u16, axis=2), o.prod(i8, axis=-1),
               o.prod(i16, axis=(1, 2)), o.prod(i8, axis=1, keepdims=True), o.prod(i16, axis=-2),
               o.cumsum(u8, axis=-1) + o.cumprod(u8, axis=-1), o.floor_divide(ids, 7), o.floor_divide(ids, by),
               o.floor_divide(-5, by), o.cumprod(keras.layers.Cropping1D((1, 0))(i8), axis=-1),
               o.prod(keras.layers.Cropping1D((1, 0))(i16), axis=1)]  # integers held as float32 (exactly)
    return keras.Model([u8, i8, i16, u16, ids, by, wide], outputs)


def tf_narrow_model():
    """tf_keras ``tf.math.reduce_prod``/``cumsum``/``cumprod`` of 8/16-bit integers (in their dtype, wrapping) and
    ``floordiv`` of int64 ids."""
    tf = _tf()
    import tf_keras as k

    u8, i8 = k.Input((2, 6), name="u8", dtype="uint8"), k.Input((2, 6), name="i8", dtype="int8")
    i16, u16 = k.Input((3, 4), name="i16", dtype="int16"), k.Input((2, 6), name="u16", dtype="uint16")
    ids, by = k.Input((6,), name="ids", dtype="int64"), k.Input((6,), name="by", dtype="int64")
    wide = k.Input((6,), name="wide", dtype="int32")
    outputs = [tf.math.reduce_prod(wide, axis=1), tf.math.cumprod(wide, axis=-1), tf.math.reduce_prod(u8, axis=-1),
               tf.math.reduce_prod(i16, axis=[1, 2], keepdims=True),
               tf.math.reduce_prod(i8, axis=1), tf.math.cumsum(u8, axis=2), tf.math.cumsum(i16, axis=-1),
               tf.math.cumprod(i8, axis=-1), tf.math.cumprod(u16, axis=1), tf.math.cumprod(u8, axis=2),
               tf.math.floordiv(ids, 7), tf.math.floordiv(ids, by), ids // -3]
    return k.Model([u8, i8, i16, u16, ids, by, wide], outputs)


def _narrow_inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, dtype, shape in (("u8", np.uint8, (2, 6)), ("i8", np.int8, (2, 6)), ("i16", np.int16, (3, 4)),
                               ("u16", np.uint16, (2, 6))):
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max + 1, (2, *shape))
        values[0, 0, :2] = [info.max, info.min if info.min else info.max]  # the extremes
        values[1, 1, :3] = [3, 5, 7]  # small products
        out[name] = values
    out["ids"] = np.array([[I32_MIN, I32_MAX, -7, 7, 2**24 + 3, -(2**30) - 1],
                           [-1, 0, 1, I32_MAX - 2, I32_MIN + 5, 123456789]])
    out["by"] = np.array([[7, -2, 3, -3, 5, 1], [-(2**31) + 1, I32_MAX, -7, 2**20, -1, 2]])
    # int32 products past 2^53 (TF.js's cpu Prod and Cumprod multiply in float64, TF wraps modulo 2^32)
    out["wide"] = np.array([[99991, 99989, 99971, 99961, 99929, 99923], [I32_MIN, -1, 3, I32_MAX, 65537, -65535]])
    return out


NARROW_MODELS = {"keras3_narrow": (keras3_narrow_model, ".keras"), "keras3_narrow_h5": (keras3_narrow_model, ".h5"),
                 "tf_narrow": (tf_narrow_model, ".h5")}


@pytest.fixture(scope="module")
def narrow_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("narrow")
    saved = {case: _save(NARROW_MODELS, case, _narrow_inputs, folder) for case in NARROW_MODELS}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(NARROW_MODELS))
def test_narrow_prod_cumsum_cumprod_and_int64_floor_divide_match_keras(narrow_models, tfjs_runtime, case):
    path, inputs, outputs = narrow_models[case]
    assert any(o.dtype == np.uint8 for o in outputs) and any(o.dtype == np.int64 for o in outputs)
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_narrow_ops_that_may_not_fit_stay_refused_by_name(tmp_path):
    """Keras 3's ``prod`` of uint8 (a uint32 product), a running sum over the flattened batch or one whose partial
    sums may pass 2^24, and a product of more factors than the lowering unrolls stay gaps naming the layer."""
    o = keras.ops
    u8, u16 = keras.Input((2, 6), name="u8", dtype="uint8"), keras.Input((300,), name="u16", dtype="uint16")
    assert "a uint32 product of uint8 integers" in _refusal(tmp_path, keras.Model(u8, o.prod(u8, axis=-1)), "prod")
    assert re.search(r"'cumsum\w*' \(Cumsum\): a cumsum of uint8 integers along an axis of size None",
                     _refusal(tmp_path, keras.Model(u8, o.cumsum(u8)), "flat"))
    assert "a cumsum of uint16 integers along an axis of size 300" in \
        _refusal(tmp_path, keras.Model(u16, o.cumsum(u16, axis=-1)), "long")
    assert "a cumprod of uint16 integers along an axis of size 300" in \
        _refusal(tmp_path, keras.Model(u16, o.cumprod(u16, axis=-1)), "longprod")


@pytest.mark.parametrize("op,value", [("sort", 5), ("sort", "a"), ("argsort", True), ("argsort", -4), ("sort", [1])])
def test_hostile_sort_axes_are_refused_by_name(tmp_path, op, value):
    """An edited ``axis`` (out of range, not an int) is a gap naming the operation and the axis, never a crash or
    another sort (the file as saved converts)."""
    import tfjsconv
    from keras_models import edit_layer_config
    from tfjsconv.errors import InputError, UsageError

    o = keras.ops
    x = keras.Input((4, 6), name="x")
    keras.Model(x, getattr(o, op)(x, axis=1)).save(tmp_path / "op.h5")
    tfjsconv.convert(tmp_path / "op.h5", tmp_path / "saved", output_format="tfjs_graph_model")
    edit_layer_config(tmp_path / "op.h5", op, "axis", value)
    with pytest.raises((UsageError, InputError)) as err:
        tfjsconv.convert(tmp_path / "op.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert re.search(rf"does not cover 1 layer: '{op}\w*' \(\w+\): axis ", str(err.value)), err.value


def test_sort_of_bools_is_refused_by_name(tmp_path):
    """Keras 3 sorts bools as int8 (and argsorts them as uint8): not lowered, a gap naming the layer."""
    o = keras.ops
    flags = keras.Input((6,), name="flags", dtype="bool")
    assert re.search(r"'sort\w*' \(Sort\): a bool tensor \(lowered for float32 and integers\)",
                     _refusal(tmp_path, keras.Model(flags, o.sort(flags)), "bools"))
